//! API-key authentication and the per-key rate limit.
//!
//! Keys are compared as SHA-256 digests in constant time, against every
//! configured key without an early exit, so neither the position of a
//! mismatch nor the key's length shows in the timing. Keys are never logged;
//! a key is known to the store and the logs only by a short digest.
//!
//! The rate limit is the store's (shared by every instance), but a busy
//! instance does not ask the store on every request: it reserves a small
//! batch of its key's allowance at once and spends it locally for at most
//! [`BATCH_TTL`], which keeps a heartbeat at about one Redis command instead
//! of two. The batch follows the instance's own traffic for that key (about
//! half a second of it, see [`batch_size`]), so an idle instance reserves
//! only the request at hand and holds back nothing the rest of the fleet
//! could use; and it is at most a 500th of a minute's allowance (1 to 100),
//! so small limits such as the default 100/min are checked on every request.
//! What lapses unspent is handed back to the store with the instance's next
//! call for that key (no extra round trip); the store takes back only what
//! is still counted (`store::gcra`). docs/decisions.md bounds what the fleet
//! can let through.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{digest, SHA256};
use subtle::ConstantTimeEq;
use warp::Filter;

use crate::config::ApiKey;
use crate::http::error::ApiError;
use crate::service::{now_ms, App};
use crate::store::{RateDecision, RateReceipt, RateRefund};

pub mod ticket;

const RATE_PERIOD: Duration = Duration::from_secs(60);
/// How long a locally held reservation may be spent.
pub const BATCH_TTL: Duration = Duration::from_secs(1);
/// The largest batch, whatever the limit.
pub const MAX_BATCH: u32 = 100;
/// The window over which an instance measures its own traffic for a key.
const RECENT_WINDOW: Duration = Duration::from_millis(250);

/// The largest batch for a key of `per_minute`: a 500th of its minute, 1 to
/// [`MAX_BATCH`]. Keys under 1,000/min are never batched.
pub fn max_batch(per_minute: u32) -> u32 {
    (per_minute / 500).clamp(1, MAX_BATCH)
}

/// How many requests to reserve when the instance asks the store: the one at
/// hand plus twice what it served for the key in the last
/// [`RECENT_WINDOW`], so that at a steady rate a batch lasts about two
/// windows (half a second, well inside [`BATCH_TTL`]), a quiet instance
/// reserves just the request at hand, and a burst grows the batch about
/// threefold per store call.
pub fn batch_size(recent: f64, max: u32) -> u32 {
    let want = (1.0 + 2.0 * recent.max(0.0)).floor();
    if want >= f64::from(max) {
        max
    } else {
        (want as u32).max(1)
    }
}

/// Requests an instance handled for one key lately: two fixed windows, the
/// older weighted by how much of it still overlaps the last
/// [`RECENT_WINDOW`] (the usual sliding-window estimate).
#[derive(Debug, Clone, Copy)]
struct RecentRate {
    window_start: Instant,
    current: u32,
    previous: u32,
}

impl RecentRate {
    fn new(now: Instant) -> Self {
        RecentRate {
            window_start: now,
            current: 0,
            previous: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= 2 * RECENT_WINDOW {
            *self = RecentRate::new(now);
        } else if elapsed >= RECENT_WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.window_start += RECENT_WINDOW;
        }
    }

    /// About how many requests came in the last window before `now`.
    fn estimate(&mut self, now: Instant) -> f64 {
        self.roll(now);
        let into = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64()
            / RECENT_WINDOW.as_secs_f64();
        f64::from(self.current) + f64::from(self.previous) * (1.0 - into).max(0.0)
    }

    fn note(&mut self, now: Instant) {
        self.roll(now);
        self.current = self.current.saturating_add(1);
    }
}

/// This instance's share of a key's allowance.
struct Reserved {
    /// Requests reserved and not yet spent.
    tokens: u32,
    /// Until when they may be spent; afterwards they are handed back.
    until: Option<Instant>,
    /// The store's receipt for them.
    receipt: RateReceipt,
    /// A batch is being reserved: concurrent misses ask for one request
    /// each, so the instance never holds more than one batch.
    reserving: bool,
    recent: RecentRate,
    /// The store's last word, to report `RateLimit-*` headers.
    last: Option<RateDecision>,
}

/// What one request does about the rate limit.
enum Plan {
    /// Spent a locally reserved request.
    Spent(RateDecision),
    /// Another request of this instance is reserving a batch: wait for it
    /// (it settles within one store call) and plan again, instead of asking
    /// the store for this one request. Without this, every request arriving
    /// during a reservation's round trip cost a script call of its own: at
    /// saturation that was a quarter of all requests (docs/performance.md).
    Wait(tokio::sync::watch::Receiver<()>),
    /// Ask the store.
    Ask {
        want: u32,
        refund: Option<RateRefund>,
    },
}

struct Entry {
    digest: [u8; 32],
    id: String,
    per_minute: u32,
    max_batch: u32,
    reserved: Mutex<Reserved>,
    /// Signalled whenever a batch reservation ends (granted, refused or
    /// failed), to wake the requests that waited for it.
    settled: tokio::sync::watch::Sender<()>,
    /// Signs and verifies this key's `/ws` tickets.
    ticket_key: aws_lc_rs::hmac::Key,
}

impl Entry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Reserved> {
        self.reserved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends a locally reserved request if one is left; otherwise waits
    /// for a reservation in flight (once: `may_wait`), or says what to ask
    /// the store for, handing back a lapsed reservation's rest. `first` is
    /// the request's first plan (it counts toward the recent rate once).
    fn plan(&self, now: Instant, first: bool, may_wait: bool) -> Plan {
        let mut r = self.lock();
        let recent = r.recent.estimate(now);
        if first {
            r.recent.note(now);
        }
        let fresh = r.until.is_some_and(|t| t > now);
        if fresh && r.tokens > 0 {
            if let Some(mut d) = r.last {
                r.tokens -= 1;
                d.granted = 1;
                d.remaining = d.remaining.saturating_add(r.tokens);
                return Plan::Spent(d);
            }
        }
        if r.reserving && may_wait {
            // Subscribed under the lock: the reservation's end, which
            // takes the lock first, cannot be missed.
            return Plan::Wait(self.settled.subscribe());
        }
        let refund = (r.tokens > 0).then_some(RateRefund {
            unspent: r.tokens,
            receipt: r.receipt,
        });
        r.tokens = 0;
        r.until = None;
        let want = if r.reserving {
            1
        } else {
            batch_size(recent, self.max_batch)
        };
        if want > 1 {
            r.reserving = true;
        }
        Plan::Ask { want, refund }
    }

    /// Keeps what the store granted beyond this request.
    fn keep(&self, decision: &RateDecision, now: Instant) -> RateDecision {
        let mut r = self.lock();
        let extra = decision.granted.saturating_sub(1);
        if extra > 0 {
            r.tokens = extra;
            r.until = Some(now + BATCH_TTL);
            r.receipt = decision.receipt;
        }
        r.last = Some(*decision);
        let mut d = *decision;
        d.remaining = d.remaining.saturating_add(r.tokens);
        d
    }
}

/// Clears [`Reserved::reserving`] when a batch call ends, however it ends
/// (a request future dropped mid-call included).
struct Reserving<'a>(Option<&'a Entry>);

impl Drop for Reserving<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.0 {
            entry.lock().reserving = false;
            entry.settled.send_replace(());
        }
    }
}

/// The accepted keys.
pub struct KeyRing {
    entries: Vec<Entry>,
    /// `/ws` tickets spent on this instance (with the in-process store).
    redeemed: ticket::Redeemed,
}

fn sha256(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, s.as_bytes()).as_ref());
    out
}

impl KeyRing {
    /// The ring for the configured keys; `default_limit` applies to keys without their own.
    pub fn new(keys: &[ApiKey], default_limit: u32) -> Self {
        let entries = keys
            .iter()
            .map(|k| {
                let digest = sha256(&k.secret);
                let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
                let per_minute = k.rate_per_minute.unwrap_or(default_limit);
                Entry {
                    digest,
                    id,
                    per_minute,
                    max_batch: max_batch(per_minute),
                    reserved: Mutex::new(Reserved {
                        tokens: 0,
                        until: None,
                        receipt: RateReceipt::default(),
                        reserving: false,
                        recent: RecentRate::new(Instant::now()),
                        last: None,
                    }),
                    settled: tokio::sync::watch::Sender::new(()),
                    ticket_key: ticket::ticket_key(&k.secret),
                }
            })
            .collect();
        KeyRing {
            entries,
            redeemed: ticket::Redeemed::default(),
        }
    }

    /// The entry of a presented key and its position, if it is accepted.
    fn check(&self, presented: &str) -> Option<(usize, &Entry)> {
        let d = sha256(presented);
        let mut found = None;
        for (i, e) in self.entries.iter().enumerate() {
            if bool::from(e.digest.ct_eq(&d)) {
                found = Some((i, e));
            }
        }
        found
    }
}

impl KeyRing {
    /// Checks a presented key without touching the rate limit.
    pub fn verify(&self, presented: Option<&str>) -> Result<(), ApiError> {
        match presented.filter(|k| !k.is_empty()) {
            None => Err(ApiError::unauthorized("missing x-api-key header")),
            Some(k) if self.check(k).is_some() => Ok(()),
            Some(_) => Err(ApiError::unauthorized("invalid API key")),
        }
    }
}

/// An authenticated caller and its rate-limit state.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Short digest naming the key.
    pub key_id: String,
    /// The rate-limit decision for this request.
    pub rate: RateDecision,
    /// The key's position in the ring, to charge later requests of the same
    /// caller (`/ws` messages) without the key itself.
    entry: usize,
}

/// Authenticates and rate-limits one request.
pub async fn admit(app: &App, keys: &KeyRing, presented: Option<&str>) -> Result<Caller, ApiError> {
    let Some(presented) = presented.filter(|k| !k.is_empty()) else {
        return Err(ApiError::unauthorized("missing x-api-key header"));
    };
    let Some((index, entry)) = keys.check(presented) else {
        return Err(ApiError::unauthorized("invalid API key"));
    };
    let rate = charge_entry(app, entry).await?;
    Ok(Caller {
        key_id: entry.id.clone(),
        rate,
        entry: index,
    })
}

/// Counts one more request of an admitted caller against its key (a `/ws`
/// client message), through the same reservation as its HTTP requests.
pub async fn charge(app: &App, keys: &KeyRing, caller: &Caller) -> Result<RateDecision, ApiError> {
    let entry = keys
        .entries
        .get(caller.entry)
        .ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
    charge_entry(app, entry).await
}

/// The longest a request waits for another's batch reservation; the store
/// call it waits for is itself bounded (about a second when Redis is away).
const RESERVATION_WAIT: Duration = Duration::from_secs(2);

async fn charge_entry(app: &App, entry: &Entry) -> Result<RateDecision, ApiError> {
    let (key_id, limit) = (entry.id.as_str(), entry.per_minute);
    let mut first = true;
    let (want, refund) = loop {
        match entry.plan(Instant::now(), first, first) {
            Plan::Spent(rate) => return Ok(rate),
            Plan::Ask { want, refund } => break (want, refund),
            Plan::Wait(mut settled) => {
                // Woken by the reservation's end (or its sender gone): plan
                // again, then ask the store ourselves if nothing is left.
                let _ = tokio::time::timeout(RESERVATION_WAIT, settled.changed()).await;
                first = false;
            }
        }
    };
    let _reserving = Reserving((want > 1).then_some(entry));
    let rate = app
        .store()
        .rate_limit(key_id, limit, RATE_PERIOD, now_ms(), want, refund)
        .await
        .map_err(|e| {
            crate::metrics::Metrics::inc(&app.metrics().store_errors);
            ApiError::from(e)
        })?;
    if !rate.allowed {
        tracing::debug!(key = key_id, "rate limited");
        crate::metrics::Metrics::inc(&app.metrics().rate_limited);
        let mut err = ApiError::new(
            warp::http::StatusCode::TOO_MANY_REQUESTS,
            ivs_api::ErrorCode::TooManyRequests,
            "請求過於頻繁",
            format!("rate limit of {limit} requests per minute exceeded for this API key"),
        )
        .retry_after(rate.retry_after);
        err.rate = Some(rate);
        return Err(err);
    }
    Ok(entry.keep(&rate, Instant::now()))
}

/// A filter admitting requests that carry an accepted `x-api-key` header.
pub fn api_key(
    app: Arc<App>,
    keys: Arc<KeyRing>,
) -> impl Filter<Extract = (Caller,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("x-api-key").and_then(move |key: Option<String>| {
        let app = app.clone();
        let keys = keys.clone();
        async move {
            admit(&app, &keys, key.as_deref())
                .await
                .map_err(warp::reject::custom)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::gcra;

    fn ring(per_minute: u32) -> KeyRing {
        KeyRing::new(
            &[ApiKey {
                secret: "k".into(),
                rate_per_minute: Some(per_minute),
            }],
            100,
        )
    }

    fn ask(plan: Plan) -> (u32, Option<RateRefund>) {
        match plan {
            Plan::Ask { want, refund } => (want, refund),
            Plan::Spent(_) => panic!("spent locally"),
            Plan::Wait(_) => panic!("waits"),
        }
    }

    #[test]
    fn batches_follow_the_recent_rate_within_the_cap() {
        assert_eq!(max_batch(100), 1);
        assert_eq!(max_batch(999), 1);
        assert_eq!(max_batch(3_000), 6);
        assert_eq!(max_batch(100_000_000), MAX_BATCH);
        assert_eq!(batch_size(0.0, 6), 1);
        assert_eq!(batch_size(0.49, 6), 1);
        assert_eq!(batch_size(1.0, 6), 3);
        assert_eq!(batch_size(2.0, 6), 5);
        assert_eq!(batch_size(40.0, 6), 6);
        assert_eq!(batch_size(40.0, 100), 81);
        assert_eq!(batch_size(f64::INFINITY, 100), 100);
        assert_eq!(batch_size(5.0, 1), 1);
    }

    #[test]
    fn the_recent_rate_counts_the_last_quarter_second() {
        let t0 = Instant::now();
        let mut r = RecentRate::new(t0);
        // One request a second: nothing recent at any of them.
        for s in 0..5 {
            let at = t0 + Duration::from_secs(s);
            assert_eq!(r.estimate(at), 0.0, "at {s} s");
            r.note(at);
        }
        // Twenty in 100 ms.
        let t1 = t0 + Duration::from_secs(10);
        for i in 0..20 {
            r.note(t1 + Duration::from_millis(5 * i));
        }
        assert_eq!(r.estimate(t1 + Duration::from_millis(100)), 20.0);
        // Half a window into the next one, half of them still count.
        let later = r.estimate(t1 + Duration::from_millis(375));
        assert!((later - 10.0).abs() < 1e-9, "{later}");
        assert_eq!(r.estimate(t1 + Duration::from_millis(600)), 0.0);
    }

    #[test]
    fn an_idle_instance_reserves_only_the_request_at_hand() {
        let keys = ring(3_000);
        let e = &keys.entries[0];
        let t0 = Instant::now();
        for s in 0..10 {
            let (want, refund) = ask(e.plan(t0 + Duration::from_secs(s), true, false));
            assert_eq!((want, refund), (1, None), "request {s}");
        }
    }

    #[test]
    fn a_busy_instance_batches_and_hands_back_what_lapses() {
        let keys = ring(30_000);
        let e = &keys.entries[0];
        let t0 = Instant::now();
        let mut state = None;
        let mut now_ms = 1_000;
        let mut store = |want: u32, refund: Option<RateRefund>, now_ms: i64| {
            let (d, s) = gcra(state, 30_000, RATE_PERIOD, now_ms, want, refund);
            if s.is_some() {
                state = s;
            }
            d
        };
        // 20 requests 5 ms apart: batches grow from one request.
        let mut asked = Vec::new();
        let mut at = t0;
        for _ in 0..20 {
            match e.plan(at, true, false) {
                Plan::Spent(d) => assert_eq!(d.granted, 1),
                Plan::Ask { want, refund } => {
                    assert_eq!(refund, None);
                    asked.push(want);
                    let d = store(want, refund, now_ms);
                    assert_eq!(d.granted, want);
                    e.keep(&d, at);
                    // The call is over.
                    e.lock().reserving = false;
                }
                Plan::Wait(_) => panic!("no reservation is in flight"),
            }
            at += Duration::from_millis(5);
            now_ms += 5;
        }
        assert_eq!(asked[..3], [1, 3, 9], "{asked:?}");
        assert!(asked.len() <= 5, "{asked:?}");
        let held = e.lock().tokens;
        assert!(held > 0);
        // Traffic stops; the next request, past the batch's lifetime, hands
        // the rest back in the same call.
        let (want, refund) = ask(e.plan(at + BATCH_TTL, true, false));
        assert_eq!(want, 1);
        assert_eq!(refund.map(|r| r.unspent), Some(held));
        assert_eq!(e.lock().tokens, 0);
    }

    /// A key at 30,000 a minute that saw ten requests in the last 20 ms (so
    /// that a miss asks for a batch), and the time just after them.
    fn busy_ring() -> (KeyRing, Instant) {
        let keys = ring(30_000);
        let t0 = Instant::now();
        for i in 0..10 {
            keys.entries[0]
                .lock()
                .recent
                .note(t0 + Duration::from_millis(i));
        }
        (keys, t0 + Duration::from_millis(20))
    }

    #[test]
    fn concurrent_misses_reserve_one_batch() {
        let (keys, at) = busy_ring();
        let e = &keys.entries[0];
        let (first, _) = ask(e.plan(at, true, false));
        assert!(first > 1);
        let guard = Reserving(Some(e));
        // A second miss while the batch is on its way asks for itself only
        // (once it has waited for the batch already)...
        assert_eq!(ask(e.plan(at, true, false)).0, 1);
        // ...and first waits for it: the batch's end wakes it.
        let Plan::Wait(settled) = e.plan(at, true, true) else {
            panic!("a miss during a reservation must wait for it");
        };
        assert!(!settled.has_changed().unwrap());
        drop(guard);
        assert!(settled.has_changed().unwrap());
        assert!(ask(e.plan(at, true, true)).0 > 1);
    }

    #[tokio::test]
    async fn requests_during_a_reservation_spend_its_batch() {
        let (keys, at) = busy_ring();
        let e = &keys.entries[0];
        let (want, _) = ask(e.plan(at, true, true));
        let guard = Reserving(Some(e));
        let Plan::Wait(mut settled) = e.plan(at, true, true) else {
            panic!("no wait");
        };
        let waiter = tokio::spawn(async move { settled.changed().await.is_ok() });
        // The store grants the batch.
        let (granted, _) = gcra(None, 30_000, RATE_PERIOD, 0, want, None);
        assert!(granted.granted > 1);
        e.keep(&granted, at);
        drop(guard);
        assert!(waiter.await.unwrap());
        assert!(matches!(e.plan(at, false, true), Plan::Spent(_)));
    }
}
