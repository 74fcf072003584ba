//! `/ws` tickets: short-lived, single-use credentials for a WebSocket, so
//! that a browser never puts the API key in a URL (browsers cannot set
//! headers on a WebSocket, and URLs end up in logs and proxies).
//!
//! `POST /api/ws-ticket` (with the key in the `x-api-key` header) answers a
//! ticket; the page opens `/ws?ticket=…` within [`TICKET_TTL`]. A ticket is
//! signed rather than stored: `<key id>.<expiry ms>.<nonce>.<HMAC-SHA256>`,
//! the MAC under a key derived from the API key itself, so every instance
//! configured with the same keys accepts it (behind a load balancer the
//! upgrade rarely reaches the instance that issued it) and a key removed from
//! the configuration takes its tickets with it. Single use is the store's:
//! the first redemption spends the ticket's nonce in one atomic step (the
//! rate-limit step with a limit of one per ticket lifetime, which expires
//! with the ticket in Redis); with the in-process store, in a set of this
//! process pruned as tickets expire. docs/dashboard.md, "Authentication".

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{charge_entry, Caller, KeyRing};
use crate::http::error::ApiError;
use crate::service::{now_ms, App};
use crate::store::{Millis, StoreKind};

/// How long a ticket may wait before it is used.
pub const TICKET_TTL: Duration = Duration::from_secs(30);
/// Clocks of a fleet's instances may differ this much.
const CLOCK_SLACK: Duration = Duration::from_secs(5);
/// What the MAC is taken over, before the ticket's own fields: a key used
/// for something else one day never produces a valid ticket.
const CONTEXT: &[u8] = b"ivs-server ws-ticket v1";

/// The key tickets of one API key are signed with.
pub(super) fn ticket_key(secret: &str) -> hmac::Key {
    let derived = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        CONTEXT,
    );
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

/// Nonces redeemed on this instance, with their tickets' expiry (the
/// in-process store's single-use record).
#[derive(Default)]
pub struct Redeemed {
    nonces: Mutex<HashMap<String, Millis>>,
}

impl Redeemed {
    /// Records `nonce`; false when it was recorded already.
    fn first_use(&self, nonce: &str, expires: Millis, now: Millis) -> bool {
        let mut nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        nonces.retain(|_, until| *until > now);
        nonces.insert(nonce.to_string(), expires).is_none()
    }
}

fn signed_part(key_id: &str, expires: Millis, nonce: &str) -> String {
    format!("{key_id}.{expires}.{nonce}")
}

/// The bytes a ticket's MAC covers.
fn covered(signed: &str) -> Vec<u8> {
    let mut bytes = CONTEXT.to_vec();
    bytes.extend_from_slice(signed.as_bytes());
    bytes
}

/// Whether `p` was signed with `key`.
fn signed_by(p: &Parsed<'_>, key: &hmac::Key) -> bool {
    hmac::verify(key, &covered(p.signed), &p.mac).is_ok()
}

/// A new ticket for an admitted caller, and its lifetime.
pub fn issue(keys: &KeyRing, caller: &Caller, now: Millis) -> Result<(String, Duration), ApiError> {
    let entry = keys
        .entries
        .get(caller.entry)
        .ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
    let expires = now + TICKET_TTL.as_millis() as Millis;
    let nonce = crate::ivs::rules::random_id(22);
    let signed = signed_part(&entry.id, expires, &nonce);
    let tag = hmac::sign(&entry.ticket_key, &covered(&signed));
    let ticket = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    Ok((ticket, TICKET_TTL))
}

/// The parts of a ticket that reads.
struct Parsed<'a> {
    key_id: &'a str,
    expires: Millis,
    nonce: &'a str,
    signed: &'a str,
    mac: Vec<u8>,
}

fn parse(ticket: &str) -> Option<Parsed<'_>> {
    let (signed, mac) = ticket.rsplit_once('.')?;
    let mut parts = signed.split('.');
    let (key_id, expires, nonce) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || nonce.is_empty() {
        return None;
    }
    Some(Parsed {
        key_id,
        expires: expires.parse().ok()?,
        nonce,
        signed,
        mac: URL_SAFE_NO_PAD.decode(mac).ok()?,
    })
}

/// Why a ticket was refused (all are a 401 to the client, with this text).
fn refused(why: &str) -> ApiError {
    ApiError::unauthorized(format!(
        "{why}; get a new ticket from POST /api/ws-ticket and use it within {} s",
        TICKET_TTL.as_secs()
    ))
}

/// Authenticates a `/ws` upgrade by its ticket, spends the ticket, and
/// rate-limits the upgrade like any request of the key.
pub async fn redeem(app: &App, keys: &KeyRing, ticket: &str) -> Result<Caller, ApiError> {
    let parsed = parse(ticket).ok_or_else(|| refused("malformed ticket"))?;
    let found = keys
        .entries
        .iter()
        .enumerate()
        .find(|(_, e)| e.id == parsed.key_id && signed_by(&parsed, &e.ticket_key));
    let Some((index, entry)) = found else {
        return Err(refused("invalid ticket"));
    };
    let now = now_ms();
    let slack = CLOCK_SLACK.as_millis() as Millis;
    if parsed.expires <= now - slack
        || parsed.expires > now + (TICKET_TTL + CLOCK_SLACK).as_millis() as Millis
    {
        return Err(refused("expired ticket"));
    }
    let first = match app.store().kind() {
        StoreKind::Embedded => keys
            .redeemed
            .first_use(parsed.nonce, parsed.expires + slack, now),
        _ => {
            // One use per ticket lifetime: the first call is granted, any
            // other before the ticket expires refused. The state expires
            // with it.
            let lifetime = Duration::from_millis((parsed.expires + slack - now).max(1) as u64);
            app.store()
                .rate_limit(
                    &format!("ws-ticket:{}", parsed.nonce),
                    1,
                    lifetime,
                    now,
                    1,
                    None,
                )
                .await
                .map_err(ApiError::from)?
                .allowed
        }
    };
    if !first {
        return Err(refused("ticket already used"));
    }
    let rate = charge_entry(app, entry).await?;
    Ok(Caller {
        key_id: entry.id.clone(),
        rate,
        entry: index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKey;

    fn ring() -> KeyRing {
        KeyRing::new(
            &[
                ApiKey {
                    secret: "first".into(),
                    rate_per_minute: None,
                },
                ApiKey {
                    secret: "second".into(),
                    rate_per_minute: None,
                },
            ],
            100,
        )
    }

    fn caller(entry: usize) -> Caller {
        Caller {
            key_id: String::new(),
            rate: crate::store::gcra(None, 100, Duration::from_secs(60), 0, 1, None).0,
            entry,
        }
    }

    fn verifies(keys: &KeyRing, ticket: &str) -> Option<usize> {
        let p = parse(ticket)?;
        keys.entries
            .iter()
            .position(|e| e.id == p.key_id && signed_by(&p, &e.ticket_key))
    }

    #[test]
    fn a_ticket_names_its_key_and_nothing_else_verifies() {
        let keys = ring();
        let (ticket, ttl) = issue(&keys, &caller(1), 1_000).unwrap();
        assert_eq!(ttl, TICKET_TTL);
        assert_eq!(verifies(&keys, &ticket), Some(1));
        assert!(!ticket.contains("second"));
        // Another key's ring with the same ids, or any changed part: refused.
        let other = KeyRing::new(
            &[ApiKey {
                secret: "third".into(),
                rate_per_minute: None,
            }],
            100,
        );
        assert_eq!(verifies(&other, &ticket), None);
        let (signed, mac) = ticket.rsplit_once('.').unwrap();
        let later = signed.replace(".31000.", ".99999.");
        assert_ne!(later, signed);
        assert_eq!(verifies(&keys, &format!("{later}.{mac}")), None);
        for bad in ["", "a.b.c", "a.1.n.!!", &format!("{signed}.")] {
            assert_eq!(verifies(&keys, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_nonce_is_used_once_and_forgotten_after_expiry() {
        let r = Redeemed::default();
        assert!(r.first_use("n1", 2_000, 1_000));
        assert!(!r.first_use("n1", 2_000, 1_500));
        assert!(r.first_use("n2", 3_000, 2_500));
        assert_eq!(
            r.nonces.lock().unwrap().len(),
            1,
            "n1 expired and was pruned"
        );
    }
}
