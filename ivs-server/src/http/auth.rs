//! API-key authentication and the per-key rate limit.
//!
//! Keys are compared as SHA-256 digests in constant time, against every
//! configured key without an early exit, so neither the position of a
//! mismatch nor the key's length shows in the timing. Keys are never logged;
//! a key is known to the store and the logs only by a short digest.
//!
//! The rate limit is the store's (shared by every instance), but an instance
//! does not ask the store on every request: it reserves a small batch of its
//! key's allowance at once (about 0.2 % of a minute's, at most 100, and just
//! one for small limits such as the default 100/min) and spends it locally
//! for at most [`BATCH_TTL`]. Unspent reservations simply lapse, so the
//! fleet-wide limit is never exceeded; this keeps a heartbeat at about one
//! Redis command instead of two.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest::{digest, SHA256};
use subtle::ConstantTimeEq;
use warp::Filter;

use crate::config::ApiKey;
use crate::error::ApiError;
use crate::service::{now_ms, App};
use crate::store::RateDecision;

const RATE_PERIOD: Duration = Duration::from_secs(60);
/// How long a locally held reservation may be spent.
pub const BATCH_TTL: Duration = Duration::from_secs(1);

/// A reservation of a key's allowance held by this instance.
#[derive(Default)]
struct Reserved {
    tokens: u32,
    until: Option<std::time::Instant>,
    /// The store's last word, to report `RateLimit-*` headers.
    last: Option<RateDecision>,
}

struct Entry {
    digest: [u8; 32],
    id: String,
    per_minute: u32,
    batch: u32,
    reserved: Mutex<Reserved>,
}

impl Entry {
    /// Spends one locally reserved request, if one is left.
    fn spend(&self) -> Option<RateDecision> {
        let mut r = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = r.until.is_some_and(|t| t > std::time::Instant::now());
        if !fresh || r.tokens == 0 {
            return None;
        }
        r.tokens -= 1;
        let mut d = r.last?;
        d.granted = 1;
        d.remaining = d.remaining.saturating_add(r.tokens);
        Some(d)
    }

    /// Keeps what the store granted beyond this request.
    fn keep(&self, decision: &RateDecision) -> RateDecision {
        let mut r = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        let extra = decision.granted.saturating_sub(1);
        if extra > 0 {
            let fresh = r.until.is_some_and(|t| t > std::time::Instant::now());
            r.tokens = if fresh { r.tokens + extra } else { extra };
            r.until = Some(std::time::Instant::now() + BATCH_TTL);
        }
        r.last = Some(*decision);
        let mut d = *decision;
        d.remaining = d.remaining.saturating_add(r.tokens);
        d
    }
}

/// The accepted keys.
pub struct KeyRing {
    entries: Vec<Entry>,
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
                    batch: (per_minute / 500).clamp(1, 100),
                    reserved: Mutex::default(),
                }
            })
            .collect();
        KeyRing { entries }
    }

    /// The entry of a presented key, if it is accepted.
    fn check(&self, presented: &str) -> Option<&Entry> {
        let d = sha256(presented);
        let mut found = None;
        for e in &self.entries {
            if bool::from(e.digest.ct_eq(&d)) {
                found = Some(e);
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
}

/// Authenticates and rate-limits one request.
pub async fn admit(app: &App, keys: &KeyRing, presented: Option<&str>) -> Result<Caller, ApiError> {
    let Some(presented) = presented.filter(|k| !k.is_empty()) else {
        return Err(ApiError::unauthorized("missing x-api-key header"));
    };
    let Some(entry) = keys.check(presented) else {
        return Err(ApiError::unauthorized("invalid API key"));
    };
    let (key_id, limit) = (entry.id.as_str(), entry.per_minute);
    if let Some(rate) = entry.spend() {
        return Ok(Caller {
            key_id: key_id.to_string(),
            rate,
        });
    }
    let rate = app
        .store()
        .rate_limit(key_id, limit, RATE_PERIOD, now_ms(), entry.batch)
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
            ivs_client::model::ErrorCode::TooManyRequests,
            "請求過於頻繁",
            format!("rate limit of {limit} requests per minute exceeded for this API key"),
        )
        .retry_after(rate.retry_after);
        err.rate = Some(rate);
        return Err(err);
    }
    Ok(Caller {
        key_id: key_id.to_string(),
        rate: entry.keep(&rate),
    })
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
