//! Parsing and checking the webhook settings (`config::WebhookSettings`):
//! endpoints, the signing secret and the event-type filter are refused at
//! start when they cannot work, never discovered broken at the first event.

use std::time::Duration;

use base64::Engine;
use ivs_api::EventKind;
use reqwest::Url;

use crate::config::{ConfigError, WebhookSettings};

/// The prefix of a Standard Webhooks symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The key lengths the Standard Webhooks specification allows (bytes).
pub const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// Most requests in flight per endpoint `IVS_WEBHOOK_CONCURRENCY` accepts.
pub const MAX_CONCURRENCY: u32 = 1024;

/// The endpoints, in the order configured.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrls(pub Vec<Url>);

impl std::fmt::Debug for WebhookUrls {
    // A URL may carry a token in its path or query: only hosts are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|u| u.host_str().unwrap_or("")))
            .finish()
    }
}

/// Parses `IVS_WEBHOOK_URLS`: comma-separated absolute `http`/`https` URLs.
pub fn parse_urls(s: &str) -> Result<WebhookUrls, String> {
    let mut urls = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        // The entry itself stays out of the message (it may hold a token).
        let url = Url::parse(entry).map_err(|e| format!("endpoint {}: {e}", urls.len() + 1))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "endpoint {}: only http:// and https:// URLs with a host",
                urls.len() + 1
            ));
        }
        if urls.contains(&url) {
            return Err(format!("endpoint {}: listed twice", urls.len() + 1));
        }
        urls.push(url);
    }
    Ok(WebhookUrls(urls))
}

/// The signing key, decoded from `whsec_<base64>`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// The key bytes HMAC-SHA256 is keyed with.
    pub fn key(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Parses `IVS_WEBHOOK_SECRET`; no message ever quotes the value.
pub fn parse_secret(s: &str) -> Result<WebhookSecret, String> {
    let encoded = s
        .trim()
        .strip_prefix(SECRET_PREFIX)
        .ok_or_else(|| format!("must start with `{SECRET_PREFIX}`"))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| format!("the part after `{SECRET_PREFIX}` must be standard base64"))?;
    if !SECRET_BYTES.contains(&key.len()) {
        return Err(format!(
            "the key must be {} to {} bytes, it is {}",
            SECRET_BYTES.start(),
            SECRET_BYTES.end(),
            key.len()
        ));
    }
    Ok(WebhookSecret(key))
}

/// Which event types are sent: patterns where `*` matches any characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Vec<String>);

impl EventFilter {
    /// Whether events of this type are sent.
    pub fn matches(&self, event_type: &str) -> bool {
        self.0
            .iter()
            .any(|p| glob(p.as_bytes(), event_type.as_bytes()))
    }

    /// The patterns, as configured.
    pub fn patterns(&self) -> &[String] {
        &self.0
    }
}

/// Parses `IVS_WEBHOOK_EVENTS`. A pattern that matches no type this version
/// knows is refused: a typo would otherwise silently send nothing.
pub fn parse_filter(s: &str) -> Result<EventFilter, String> {
    let mut patterns = Vec::new();
    for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !p
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._*".contains(&b))
        {
            return Err(format!("{p:?}: only a-z, 0-9, `.`, `_` and `*`"));
        }
        if !EventKind::TYPES
            .iter()
            .any(|t| glob(p.as_bytes(), t.as_bytes()))
        {
            return Err(format!(
                "{p:?} matches no event type (known: {})",
                EventKind::TYPES.join(", ")
            ));
        }
        patterns.push(p.to_string());
    }
    if patterns.is_empty() {
        return Err("no event type given (`*` sends all)".into());
    }
    Ok(EventFilter(patterns))
}

/// `*` matches any run of characters, everything else itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// Checks that the webhook settings can work together.
pub fn validate(w: &WebhookSettings) -> Result<(), ConfigError> {
    let bad = |s: &str| Err(ConfigError::Webhooks(s.into()));
    let enabled = w.urls.as_ref().is_some_and(|u| !u.0.is_empty());
    if enabled && w.secret.is_none() {
        return bad("IVS_WEBHOOK_URLS is set but IVS_WEBHOOK_SECRET is not (`whsec_` + base64)");
    }
    if w.timeout.is_zero() || w.backoff.is_zero() || w.retry_window.is_zero() {
        return bad("IVS_WEBHOOK_TIMEOUT_MS, IVS_WEBHOOK_BACKOFF_MS and IVS_WEBHOOK_RETRY_WINDOW_SECS must be positive");
    }
    if w.backoff_max < w.backoff {
        return bad("IVS_WEBHOOK_BACKOFF_MAX_SECS must not be below IVS_WEBHOOK_BACKOFF_MS");
    }
    if !(1..=MAX_CONCURRENCY).contains(&w.concurrency) {
        return bad("IVS_WEBHOOK_CONCURRENCY must be between 1 and 1024");
    }
    if w.timeout > Duration::from_secs(300) {
        return bad("IVS_WEBHOOK_TIMEOUT_MS must be at most 300000 (5 minutes)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_with_a_host() {
        let urls = parse_urls("https://a.example/hook?t=1, http://127.0.0.1:9000/x,").unwrap();
        assert_eq!(urls.0.len(), 2);
        // Debug shows hosts, never paths or queries.
        assert_eq!(format!("{urls:?}"), r#"["a.example", "127.0.0.1"]"#);
        for bad in [
            "ftp://a.example/",
            "not a url",
            "https://a/,https://a/",
            "unix:/x",
        ] {
            assert!(parse_urls(bad).is_err(), "{bad} accepted");
        }
        let err = parse_urls("https://ok.example/,mailto:secret-token@x").unwrap_err();
        assert!(!err.contains("secret-token"), "{err}");
    }

    #[test]
    fn secrets_are_whsec_base64_of_24_to_64_bytes() {
        let key = parse_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(key.key().len(), 24);
        assert_eq!(format!("{key:?}"), "<redacted>");
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        assert!(parse_secret(&format!("whsec_{}", b64(64))).is_ok());
        for bad in [
            format!("whsec_{}", b64(23)),
            format!("whsec_{}", b64(65)),
            b64(32),
            "whsec_not*base64!".to_string(),
        ] {
            let err = parse_secret(&bad).unwrap_err();
            assert!(!err.contains(&bad), "the message quotes the secret: {err}");
        }
    }

    #[test]
    fn filters_match_with_wildcards_and_refuse_unknown_types() {
        let f = parse_filter("stage.*, publisher.*").unwrap();
        assert!(f.matches("stage.created") && f.matches("publisher.live"));
        assert!(!f.matches("viewer.joined") && !f.matches("fleet.stage_limit_reached"));
        let all = parse_filter("*").unwrap();
        assert!(EventKind::TYPES.iter().all(|t| all.matches(t)));
        let exact = parse_filter("viewer.left").unwrap();
        assert!(exact.matches("viewer.left") && !exact.matches("viewer.left2"));
        assert!(parse_filter("*.expired").unwrap().matches("viewer.expired"));
        for bad in [
            "viewer.joind",
            "stages.*",
            "",
            " , ",
            "Viewer.joined",
            "viewer.*;x",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn urls_without_a_secret_refuse_to_start() {
        use crate::config::Args;
        use clap::Parser;
        let start = |args: &[&str]| {
            let mut all = vec!["ivs-server"];
            all.extend_from_slice(args);
            Args::try_parse_from(all)
                .map_err(|e| e.to_string())
                .and_then(|a| a.into_settings().map_err(|e| e.to_string()))
        };
        let (off, _) = start(&[]).unwrap();
        assert_eq!(off.webhooks.urls, None);
        assert!(off.webhooks.events.matches("viewer.joined"));
        let err = start(&["--webhook-urls", "https://h.example/x"]).unwrap_err();
        assert!(err.contains("IVS_WEBHOOK_SECRET"), "{err}");
        let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let (on, _) = start(&[
            "--webhook-urls",
            "https://h.example/x",
            "--webhook-secret",
            secret,
            "--webhook-events",
            "stage.*",
        ])
        .unwrap();
        assert_eq!(on.webhooks.urls.as_ref().map(|u| u.0.len()), Some(1));
        assert!(!format!("{on:?}").contains("C2FVsBQIhrsc"));
        assert!(start(&["--webhook-events", "stage.craeted"]).is_err());
        assert!(start(&["--webhook-secret", "whsec_short"]).is_err());
        assert!(start(&["--webhook-concurrency", "0"]).is_err());
        assert!(start(&[
            "--webhook-backoff-ms",
            "5000",
            "--webhook-backoff-max-secs",
            "1"
        ])
        .is_err());
    }
}
