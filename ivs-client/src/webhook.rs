//! Verifies the server's webhook deliveries (Standard Webhooks) and reads
//! their [`Event`].
//!
//! ivs-server signs every delivery the way the [Standard Webhooks
//! specification](https://www.standardwebhooks.com/) says: the headers
//! `webhook-id` (the event's id, the same on every retry),
//! `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{body}"`, keyed with the
//! base64 after `whsec_` in `IVS_WEBHOOK_SECRET`; several, space-separated,
//! while a secret is rotated). A receiver checks all three before it trusts
//! the body:
//!
//! ```
//! use ivs_client::model::EventKind;
//! use ivs_client::reqwest::header::HeaderMap;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! # let body = br#"{"id":"evt_1","type":"publisher.live","timestamp":"2025-10-19T12:00:00.000Z","data":{"stageArn":"arn:aws:ivs:us-east-1:123456789012:stage/abcdEFGH1234"}}"#;
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
//! # let signature = ivs_client::webhook::Verifier::new(secret)?.sign("evt_1", now, body);
//! # let mut headers = HeaderMap::new();
//! # headers.insert("webhook-id", "evt_1".parse()?);
//! # headers.insert("webhook-timestamp", now.to_string().parse()?);
//! # headers.insert("webhook-signature", signature.parse()?);
//! // `headers` and `body` as the HTTP server received them: the body's
//! // bytes exactly as sent (not parsed and written again).
//! let event = ivs_client::webhook::verify(secret, &headers, body)?;
//! if let EventKind::PublisherLive(live) = &event.kind {
//!     println!("live now on {}", live.stage_arn);
//! }
//! # assert_eq!(event.event_type(), "publisher.live");
//! # Ok(()) }
//! ```
//!
//! A receiver that verifies many deliveries makes one [`Verifier`], which
//! decodes the secret once and sets the timestamp tolerance (5 minutes by
//! default).
//!
//! # Headers
//!
//! [`verify`] takes the headers as anything implementing [`Headers`]:
//! `http::HeaderMap` (version 1, which axum, warp 0.4, hyper 1 and reqwest
//! use; here it is [`reqwest::header::HeaderMap`], so no dependency on `http`
//! of your own is needed), or `(name, value)` pairs for other frameworks
//! (`&[("webhook-id", "…"), …][..]`, names in any case).
//!
//! # After verifying
//!
//! Delivery is at least once: a retry (after a timeout, a non-2xx answer or
//! a crash on either side) carries the same `webhook-id`, which is also the
//! event's [`id`](Event::id). Remember the ids of the last few minutes and
//! answer 2xx to one seen before without acting on it again. Answer 2xx
//! quickly (within seconds); anything else is retried.
//!
//! # Feature
//!
//! The module is behind the `webhook` feature (on by default), which adds
//! `hmac`, `sha2`, `base64` and `subtle`; `default-features = false,
//! features = ["rustls"]` leaves it out.

use std::fmt;
use std::panic::RefUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub use crate::model::{Event, EventKind};

/// The header with the delivery's id (the event's id; the same on retries).
pub const ID_HEADER: &str = "webhook-id";
/// The header with the attempt's time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header with the signatures, space-separated `v1,<base64>`.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far the attempt's time may be from the receiver's clock, either way,
/// unless [`Verifier::with_tolerance`] sets another.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1";

/// Why a delivery was not accepted.
///
/// The variants up to [`NoMatchingSignature`](Self::NoMatchingSignature)
/// mean the request cannot be shown to come from the server: answer `401`.
/// None of them prints the secret or a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The secret is not `whsec_` followed by a non-empty base64 key.
    #[error("invalid webhook secret: {reason}")]
    InvalidSecret {
        /// What is wrong with it (never the secret itself).
        reason: &'static str,
    },
    /// A required header is absent.
    #[error("missing header `{name}`")]
    MissingHeader {
        /// The header's name.
        name: &'static str,
    },
    /// A header is present but not usable (not UTF-8, empty, or an id
    /// with a `.`, which would make the signed content ambiguous).
    #[error("invalid header `{name}`")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
    },
    /// `webhook-timestamp` is not a whole number of Unix seconds.
    #[error("`webhook-timestamp` is not a Unix time in seconds")]
    InvalidTimestamp,
    /// The attempt is older than the tolerance: possibly a replay.
    #[error("webhook timestamp is {age:?} old, more than the tolerance of {tolerance:?}")]
    TooOld {
        /// How far behind the receiver's clock the attempt's time is.
        age: Duration,
        /// The tolerance in force.
        tolerance: Duration,
    },
    /// The attempt's time is further ahead than the tolerance.
    #[error(
        "webhook timestamp is {ahead:?} in the future, more than the tolerance of {tolerance:?}"
    )]
    TooNew {
        /// How far ahead of the receiver's clock the attempt's time is.
        ahead: Duration,
        /// The tolerance in force.
        tolerance: Duration,
    },
    /// No `v1` signature of `webhook-signature` is the body's: another
    /// secret, or the id, timestamp or body were changed on the way.
    #[error("no webhook signature matches")]
    NoMatchingSignature,
    /// The signature is good but the body is not an [`Event`]. Not an
    /// attacker's doing; a server bug or a body changed before verifying.
    #[error("webhook body is not an event: {0}")]
    InvalidBody(#[source] serde_json::Error),
}

/// The headers of a delivery, however the receiver's HTTP server holds
/// them. Implemented for `http::HeaderMap` and for `(name, value)` pairs.
pub trait Headers {
    /// The first value of the header `name` (given in lower case), as
    /// bytes; `None` when absent.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl Headers for reqwest::header::HeaderMap {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for [(N, V)] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(N, V)> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>, const K: usize> Headers for [(N, V); K] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<H: Headers + ?Sized> Headers for &H {
    fn header(&self, name: &str) -> Option<&[u8]> {
        (**self).header(name)
    }
}

/// Verifies one delivery with `secret` (`whsec_…`, as in the server's
/// `IVS_WEBHOOK_SECRET`) and the default tolerance, and reads its event.
///
/// Decodes the secret on every call; a receiver keeps a [`Verifier`]
/// instead. See the [module docs](self) for an example.
pub fn verify<H: Headers + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
) -> Result<Event, WebhookError> {
    Verifier::new(secret)?.verify(headers, body)
}

// RefUnwindSafe keeps the Verifier unwind-safe, as a plain key would be.
type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync + RefUnwindSafe>;

/// A webhook secret, decoded once, with the timestamp tolerance to apply.
///
/// Cheap to clone; `Debug` does not show the key.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use ivs_client::webhook::{Verifier, WebhookError};
///
/// let verifier = Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?
///     .with_tolerance(Duration::from_secs(60));
/// // The Standard Webhooks reference test vector.
/// let (id, timestamp, body) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
/// let signature = verifier.sign(id, timestamp, body);
/// assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
///
/// // Checked as if it arrived 30 s after it was sent.
/// let at = UNIX_EPOCH + Duration::from_secs(1614265330 + 30);
/// let verifier = verifier.with_clock(move || at);
/// let headers = [
///     ("webhook-id", id.to_owned()),
///     ("webhook-timestamp", timestamp.to_string()),
///     ("webhook-signature", signature),
/// ];
/// verifier.verify_signature(&headers, body)?;
/// # Ok::<(), WebhookError>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    /// Keyed once: each delivery clones the prepared state.
    mac: Hmac<Sha256>,
    tolerance: Duration,
    clock: Clock,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("key", &"<redacted>")
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Decodes `secret`: `whsec_` and the key in standard base64 (padding
    /// optional). The server's `IVS_WEBHOOK_SECRET` is such a secret.
    pub fn new(secret: &str) -> Result<Self, WebhookError> {
        let encoded =
            secret
                .trim()
                .strip_prefix(SECRET_PREFIX)
                .ok_or(WebhookError::InvalidSecret {
                    reason: "it does not start with `whsec_`",
                })?;
        // Padding is optional: a secret copied without its `=` is the same key.
        let key =
            STANDARD_PAD_INDIFFERENT
                .decode(encoded)
                .map_err(|_| WebhookError::InvalidSecret {
                    reason: "the part after `whsec_` is not base64",
                })?;
        if key.is_empty() {
            return Err(WebhookError::InvalidSecret {
                reason: "the key after `whsec_` is empty",
            });
        }
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).map_err(|_| {
            WebhookError::InvalidSecret {
                reason: "HMAC-SHA256 refused the key",
            }
        })?;
        Ok(Verifier {
            mac,
            tolerance: DEFAULT_TOLERANCE,
            clock: Arc::new(SystemTime::now),
        })
    }

    /// How far `webhook-timestamp` may be from now, either way (5 minutes
    /// by default). Smaller narrows the window for replaying a captured
    /// delivery; it must still cover the clocks' skew and the time a
    /// delivery takes.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The clock the timestamp is checked against (`SystemTime::now` by
    /// default): for tests that verify recorded deliveries.
    #[must_use]
    pub fn with_clock(
        mut self,
        now: impl Fn() -> SystemTime + Send + Sync + RefUnwindSafe + 'static,
    ) -> Self {
        self.clock = Arc::new(now);
        self
    }

    /// The tolerance in force.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Verifies the delivery (headers, timestamp, signature) and reads its
    /// body as an [`Event`]. A type this version does not know reads as
    /// [`EventKind::Unknown`], not as an error.
    pub fn verify<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Event, WebhookError> {
        self.verify_signature(headers, body)?;
        serde_json::from_slice(body).map_err(WebhookError::InvalidBody)
    }

    /// Verifies the delivery without reading the body: for a receiver that
    /// reads it into types of its own.
    pub fn verify_signature<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let id = header(headers, ID_HEADER)?;
        // With a `.` in the id, `{id}.{timestamp}.{body}` could be split
        // another way, moving signed bytes between the id and the rest.
        if id.contains('.') {
            return Err(WebhookError::InvalidHeader { name: ID_HEADER });
        }
        let timestamp = header(headers, TIMESTAMP_HEADER)?;
        let sent = parse_timestamp(timestamp)?;
        self.check_time(sent)?;
        let signatures = header(headers, SIGNATURE_HEADER)?;

        // The timestamp is signed as it was sent, so the header's text
        // (digits only, as checked above), not a re-formatted number.
        let expected = self.mac(id, timestamp, body).finalize().into_bytes();
        let matches = signatures
            .split(' ')
            .filter_map(|entry| entry.split_once(','))
            // Other schemes (`v1a`, asymmetric) are for other verifiers.
            .filter(|(version, _)| *version == SIGNATURE_VERSION)
            .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
            .any(|candidate| bool::from(candidate.as_slice().ct_eq(expected.as_slice())));
        if matches {
            Ok(())
        } else {
            Err(WebhookError::NoMatchingSignature)
        }
    }

    /// The `webhook-signature` value for a delivery: `v1,<base64>`. For
    /// tests of a receiver (the server signs the real deliveries).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mac = self.mac(id, &timestamp.to_string(), body);
        format!(
            "{SIGNATURE_VERSION},{}",
            STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    fn check_time(&self, sent: i64) -> Result<(), WebhookError> {
        let now = unix_seconds((self.clock)());
        let tolerance = self.tolerance;
        let diff = i128::from(now) - i128::from(sent);
        let secs =
            |d: i128| Duration::from_secs(u64::try_from(d.unsigned_abs()).unwrap_or(u64::MAX));
        if diff > 0 && secs(diff) > tolerance {
            Err(WebhookError::TooOld {
                age: secs(diff),
                tolerance,
            })
        } else if diff < 0 && secs(diff) > tolerance {
            Err(WebhookError::TooNew {
                ahead: secs(diff),
                tolerance,
            })
        } else {
            Ok(())
        }
    }
}

fn header<'a, H: Headers + ?Sized>(
    headers: &'a H,
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    let value = headers
        .header(name)
        .ok_or(WebhookError::MissingHeader { name })?;
    match std::str::from_utf8(value).map(str::trim) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(WebhookError::InvalidHeader { name }),
    }
}

/// Digits only (no sign, no fraction), as the specification's integer.
fn parse_timestamp(value: &str) -> Result<i64, WebhookError> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::InvalidTimestamp);
    }
    value.parse().map_err(|_| WebhookError::InvalidTimestamp)
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
