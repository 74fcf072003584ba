//! The viewer-bot engine: many simulated viewers, each a real SDK viewer
//! session (token, heartbeats, rejoin, token refresh, leave), from one
//! process. The `viewer-bot` example turns its flags into a [`Plan`], calls
//! [`run`] and prints the [`Report`].
//!
//! Bots join spread evenly over the ramp, stay until the duration has passed
//! since the start (or Ctrl-C), then every session is stopped, which sends
//! `leave`. A live display on stderr (only when asked for and stderr is a
//! terminal) shows joined / active / failed / rejoined and how the bots are
//! spread over stages.
//!
//! # Design for 10,000 bots
//!
//! - One shared [`Client`] (one connection pool, [`http_client`]) with a
//!   request timeout; idle connections kept per host up to the joins in
//!   flight.
//! - Joins and leaves go through a semaphore ([`Plan::max_in_flight`]), so a
//!   burst never opens more sockets than that.
//! - Per bot: the SDK session (its task and a small event buffer, 4 events)
//!   and one task reading its events; a few instants of state.
//! - Latencies go into fixed-size, lock-free log-linear histograms
//!   (1.6 % resolution), not per-sample vectors.
//!
//! # Heartbeat latency
//!
//! Each `Heartbeat` event carries the beat's round trip as the SDK measured
//! it: from sending the request to the answer, its retries included — the
//! latency as the viewer experiences it. The bots keep the SDK's random
//! start offset off (`jitter_start(false)`) so that the ramp alone decides
//! how the beats spread.

mod histogram;
mod progress;
mod report;

pub use report::{Counts, Latency, Report};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ivs_client::model::{IdError, TokenRequest, UserId};
use ivs_client::{Client, SessionEvent, ViewerSession};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::process::{raise_fd_limit, ProcessUsage};
use histogram::Histogram;
use progress::Progress;

/// What a run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Simulated viewers.
    pub viewers: u32,
    /// From the start until every bot leaves, the ramp included.
    pub duration: Duration,
    /// The joins are spread evenly over this (zero: all at once).
    pub ramp: Duration,
    /// Between a bot's heartbeats.
    pub heartbeat_interval: Duration,
    /// Joins and leaves in flight at once (also the idle connections kept).
    pub max_in_flight: u32,
    /// The bots' user ids are `<prefix>-<run id>-<n>`.
    pub user_prefix: String,
    /// Draw the live display on stderr (never when stderr is not a terminal).
    pub live_display: bool,
}

/// A plan that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the number of viewers must be more than 0")]
    NoViewers,
    #[error("the heartbeat interval must be more than 0")]
    NoHeartbeatInterval,
    #[error("the joins in flight must be more than 0")]
    NothingInFlight,
    #[error("the ramp ({ramp:?}) must not be longer than the duration ({duration:?})")]
    RampLongerThanDuration { ramp: Duration, duration: Duration },
    // The id's fault is the whole message, not a cause behind it: the
    // reason is shown, not kept as a source that a plain `{e}` would drop.
    #[error("the user prefix {prefix:?} makes unusable user ids: {reason}")]
    UserPrefix { prefix: String, reason: IdError },
}

impl Plan {
    fn check(&self) -> Result<(), PlanError> {
        if self.viewers == 0 {
            return Err(PlanError::NoViewers);
        }
        if self.heartbeat_interval.is_zero() {
            return Err(PlanError::NoHeartbeatInterval);
        }
        if self.max_in_flight == 0 {
            return Err(PlanError::NothingInFlight);
        }
        if self.ramp > self.duration {
            return Err(PlanError::RampLongerThanDuration {
                ramp: self.ramp,
                duration: self.duration,
            });
        }
        Ok(())
    }

    /// Every bot's id, made before the first bot starts: an id refused
    /// half-way (a longer `n`) would otherwise end a run already under way.
    fn user_ids(&self, run_id: &str) -> Result<Vec<UserId>, PlanError> {
        (0..self.viewers)
            .map(|n| {
                UserId::new(format!("{}-{run_id}-{n}", self.user_prefix)).map_err(|reason| {
                    PlanError::UserPrefix {
                        prefix: self.user_prefix.clone(),
                        reason,
                    }
                })
            })
            .collect()
    }
}

/// The HTTP client the engine is designed for, to give the [`Client`]
/// (`ClientBuilder::http_client`): one keep-alive pool that keeps up to
/// `max_in_flight` idle connections per host, so that the connections of a
/// burst of joins are reused by the heartbeats instead of reopened.
pub fn http_client(plan: &Plan) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(plan.max_in_flight as usize)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
}

/// Runs `plan` against the server of `client` until its duration has passed
/// or Ctrl-C, then stops every session (each sends `leave`) and reports.
/// Failures of joins, heartbeats, refreshes and leaves are in the report,
/// not errors: only a plan that cannot run is.
pub async fn run(client: Client, plan: &Plan) -> Result<Report, PlanError> {
    plan.check()?;
    let user_ids = plan.user_ids(&run_id())?;
    // Joins and leaves are capped at `max_in_flight`; heartbeats are spread
    // over the interval but can overlap them.
    let wanted = u64::from(plan.max_in_flight).saturating_mul(2) + 64;
    if let Some(allowed) = raise_fd_limit().filter(|allowed| *allowed < wanted) {
        eprintln!(
            "warning: only {allowed} open files allowed; lower --max-in-flight or raise `ulimit -n`"
        );
    }

    let run = RunState::new(client.clone(), plan);
    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut bots = JoinSet::new();
    for (n, user_id) in (0..plan.viewers).zip(user_ids) {
        let offset = plan.ramp.mul_f64(f64::from(n) / f64::from(plan.viewers));
        bots.spawn(bot(run.clone(), user_id, started + offset, stop_rx.clone()));
    }
    drop(stop_rx);

    let progress = Progress::new(plan, run.clone());
    let end = tokio::time::sleep_until(started + plan.duration);
    tokio::pin!(end);
    let mut redraw = tokio::time::interval(Duration::from_millis(200));
    let mut interrupted = false;
    loop {
        tokio::select! {
            _ = &mut end => break,
            r = tokio::signal::ctrl_c() => {
                interrupted = r.is_ok();
                break;
            }
            _ = redraw.tick() => progress.update("running"),
        }
    }
    let ran_for = started.elapsed();

    // What the server counts now, before the bots leave (other viewers included).
    let server_view = client.stats().overall().await;
    let placement = run.placement();
    // Every bot holds a receiver until it has left, so this cannot fail
    // while one is still running.
    let _ = stop_tx.send(true);
    loop {
        tokio::select! {
            done = bots.join_next() => match done {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    run.panicked.fetch_add(1, Relaxed);
                    run.error("bot", if e.is_panic() { "PANIC" } else { "CANCELLED" }.into());
                }
                None => break,
            },
            _ = redraw.tick() => progress.update("leaving"),
        }
    }
    progress.finish();

    let errors = std::mem::take(&mut *run.errors.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Report {
        server: client.base_url().to_owned(),
        plan: plan.clone(),
        ran_for,
        total: started.elapsed(),
        interrupted,
        counts: run.counts(),
        joins_per_sec: run.joins_per_sec(),
        join_latency: Latency::of(&run.join_latency),
        heartbeat_latency: Latency::of(&run.beat_latency),
        errors,
        placement,
        server_view,
        usage: ProcessUsage::now(),
    })
}

/// A short id telling this process's bots apart from another run's.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:x}",
        (nanos ^ std::process::id().rotate_left(16)) & 0xff_ffff
    )
}

/// A short machine-style name for an error: the API code, or the kind of
/// failure (`TIMEOUT`, `TRANSPORT`, ...).
pub fn error_code(error: &ivs_client::Error) -> String {
    match error {
        ivs_client::Error::Timeout => "TIMEOUT".into(),
        ivs_client::Error::Transport(_) => "TRANSPORT".into(),
        ivs_client::Error::WebSocket(_) => "WEBSOCKET".into(),
        ivs_client::Error::Decode { .. } => "DECODE".into(),
        ivs_client::Error::InvalidConfig(_) => "INVALID_CONFIG".into(),
        other => match other.code() {
            Some(code) => code.as_str().to_owned(),
            None => "OTHER".into(),
        },
    }
}

/// Everything the bots share: the client, the join/leave limiter, counters
/// and histograms.
struct RunState {
    client: Client,
    interval: Duration,
    permits: Semaphore,
    started: Instant,
    joined: AtomicU64,
    active: AtomicU64,
    join_failed: AtomicU64,
    rejoined: AtomicU64,
    refreshed: AtomicU64,
    refresh_failed: AtomicU64,
    beats: AtomicU64,
    beats_failed: AtomicU64,
    left: AtomicU64,
    left_gone: AtomicU64,
    leave_failed: AtomicU64,
    panicked: AtomicU64,
    /// Microseconds since `started`: first join sent, last join answered.
    first_join_us: AtomicU64,
    last_join_us: AtomicU64,
    join_latency: Histogram,
    beat_latency: Histogram,
    /// `(phase, code)` → count.
    errors: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Stage ARN → bots on it now.
    stages: Mutex<HashMap<Arc<str>, u32>>,
}

type Run = Arc<RunState>;

impl RunState {
    fn new(client: Client, plan: &Plan) -> Run {
        Arc::new(RunState {
            client,
            interval: plan.heartbeat_interval,
            permits: Semaphore::new(plan.max_in_flight as usize),
            started: Instant::now(),
            joined: AtomicU64::new(0),
            active: AtomicU64::new(0),
            join_failed: AtomicU64::new(0),
            rejoined: AtomicU64::new(0),
            refreshed: AtomicU64::new(0),
            refresh_failed: AtomicU64::new(0),
            beats: AtomicU64::new(0),
            beats_failed: AtomicU64::new(0),
            left: AtomicU64::new(0),
            left_gone: AtomicU64::new(0),
            leave_failed: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            first_join_us: AtomicU64::new(u64::MAX),
            last_join_us: AtomicU64::new(0),
            join_latency: Histogram::new(),
            beat_latency: Histogram::new(),
            errors: Mutex::new(BTreeMap::new()),
            stages: Mutex::new(HashMap::new()),
        })
    }

    fn counts(&self) -> Counts {
        let load = |c: &AtomicU64| c.load(Relaxed);
        Counts {
            joined: load(&self.joined),
            join_failed: load(&self.join_failed),
            rejoined: load(&self.rejoined),
            refreshed: load(&self.refreshed),
            refresh_failed: load(&self.refresh_failed),
            heartbeats: load(&self.beats),
            heartbeats_failed: load(&self.beats_failed),
            left: load(&self.left),
            left_gone: load(&self.left_gone),
            leave_failed: load(&self.leave_failed),
            panicked: load(&self.panicked),
        }
    }

    /// Successful joins per second from the first join sent to the last
    /// answered.
    fn joins_per_sec(&self) -> f64 {
        let joined = self.joined.load(Relaxed);
        let first = self.first_join_us.load(Relaxed);
        let last = self.last_join_us.load(Relaxed);
        if joined > 0 && last > first {
            joined as f64 / ((last - first) as f64 / 1e6)
        } else {
            0.0
        }
    }

    fn since_start_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_micros() as u64
    }

    fn error(&self, phase: &'static str, code: String) {
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        *errors.entry((phase, code)).or_default() += 1;
    }

    /// Moves one bot from stage `from` (if any) to stage `to` (if any).
    fn place(&self, from: Option<&str>, to: Option<&str>) -> Option<Arc<str>> {
        let mut stages = self.stages.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(from) = from {
            if let Some(n) = stages.get_mut(from) {
                *n -= 1;
                if *n == 0 {
                    stages.remove(from);
                }
            }
        }
        let to = to?;
        if let Some((key, n)) = stages.get_key_value(to).map(|(k, n)| (k.clone(), *n)) {
            stages.insert(key.clone(), n + 1);
            Some(key)
        } else {
            let key: Arc<str> = Arc::from(to);
            stages.insert(key.clone(), 1);
            Some(key)
        }
    }

    /// Stage ARN → bots, sorted by ARN.
    fn placement(&self) -> Vec<(Arc<str>, u32)> {
        let stages = self.stages.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<_> = stages.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort();
        v
    }
}

/// One simulated viewer: join at `join_at`, follow the session's events,
/// leave when told to stop.
async fn bot(run: Run, user_id: UserId, join_at: Instant, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep_until(join_at) => {}
        _ = stop.wait_for(|s| *s) => return,
    }
    let session = {
        let Ok(_permit) = run.permits.acquire().await else {
            return;
        };
        let sent = Instant::now();
        run.first_join_us
            .fetch_min(run.since_start_us(sent), Relaxed);
        let result = run
            .client
            .viewer_session(TokenRequest::new(user_id))
            .heartbeat_interval(run.interval)
            .jitter_start(false)
            .event_capacity(4)
            .spawn()
            .await;
        let done = Instant::now();
        run.last_join_us
            .fetch_max(run.since_start_us(done), Relaxed);
        match result {
            Ok(session) => {
                run.join_latency.record(done - sent);
                run.joined.fetch_add(1, Relaxed);
                session
            }
            Err(e) => {
                run.join_failed.fetch_add(1, Relaxed);
                run.error("join", error_code(&e));
                return;
            }
        }
    };
    run.active.fetch_add(1, Relaxed);
    let mut stage = run.place(None, Some(session.token().stage_arn.as_str()));
    let session = follow(&run, session, &mut stage, &mut stop).await;

    let _permit = run.permits.acquire().await;
    match session.stop().await {
        Ok(Some(_)) => {
            run.left.fetch_add(1, Relaxed);
        }
        Ok(None) => {
            run.left_gone.fetch_add(1, Relaxed);
        }
        Err(e) => {
            run.leave_failed.fetch_add(1, Relaxed);
            run.error("leave", error_code(&e));
        }
    }
    run.place(stage.as_deref(), None);
    run.active.fetch_sub(1, Relaxed);
}

/// Reads the session's events until told to stop, recording each
/// heartbeat's round trip.
async fn follow(
    run: &RunState,
    mut session: ViewerSession,
    stage: &mut Option<Arc<str>>,
    stop: &mut watch::Receiver<bool>,
) -> ViewerSession {
    loop {
        let event = tokio::select! {
            _ = stop.wait_for(|s| *s) => return session,
            event = session.next_event() => event,
        };
        let Some(event) = event else {
            // The session's task ended by itself: nothing more to read.
            stop.wait_for(|s| *s).await.ok();
            return session;
        };
        match event {
            SessionEvent::Heartbeat { round_trip, .. } => {
                run.beats.fetch_add(1, Relaxed);
                run.beat_latency.record(round_trip);
            }
            SessionEvent::HeartbeatFailed { error, .. } => {
                run.beats_failed.fetch_add(1, Relaxed);
                run.error("heartbeat", error_code(&error));
            }
            SessionEvent::Rejoined { token } => {
                run.rejoined.fetch_add(1, Relaxed);
                *stage = run.place(stage.as_deref(), Some(token.stage_arn.as_str()));
            }
            SessionEvent::TokenRefreshed { token } => {
                run.refreshed.fetch_add(1, Relaxed);
                *stage = run.place(stage.as_deref(), Some(token.stage_arn.as_str()));
            }
            SessionEvent::TokenRefreshFailed { error } => {
                run.refresh_failed.fetch_add(1, Relaxed);
                run.error("token refresh", error_code(&error));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Plan, PlanError};
    use std::time::Duration;

    fn plan() -> Plan {
        Plan {
            viewers: 3,
            duration: Duration::from_secs(5),
            ramp: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(1),
            max_in_flight: 4,
            user_prefix: "bot".into(),
            live_display: false,
        }
    }

    #[test]
    fn a_plan_that_cannot_run_is_refused() {
        assert!(plan().check().is_ok());
        let with = |change: fn(&mut Plan)| {
            let mut p = plan();
            change(&mut p);
            p
        };
        for (refused, why) in [
            (
                with(|p| p.viewers = 0),
                "the number of viewers must be more than 0",
            ),
            (
                with(|p| p.heartbeat_interval = Duration::ZERO),
                "the heartbeat interval must be more than 0",
            ),
            (
                with(|p| p.max_in_flight = 0),
                "the joins in flight must be more than 0",
            ),
            (
                with(|p| p.ramp = Duration::from_secs(6)),
                "the ramp (6s) must not be longer than the duration (5s)",
            ),
        ] {
            let got = refused.check().map_err(|e| e.to_string());
            assert_eq!(got, Err(why.to_owned()), "{refused:?}");
        }
    }

    #[test]
    fn every_bot_gets_its_own_id_or_the_prefix_is_refused() {
        let ids = plan().user_ids("abc").expect("usable ids");
        let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        assert_eq!(ids, ["bot-abc-0", "bot-abc-1", "bot-abc-2"]);
        let refused = Plan {
            user_prefix: "x".repeat(10_000),
            ..plan()
        }
        .user_ids("abc");
        assert!(matches!(refused, Err(PlanError::UserPrefix { .. })));
    }
}
