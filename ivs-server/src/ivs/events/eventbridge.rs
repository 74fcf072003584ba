//! EventBridge's envelope around IVS's "IVS Stage Update" events, as the
//! IVS Real-Time User Guide ("Using Amazon EventBridge with IVS Real-Time
//! Streaming") shows them:
//!
//! ```json
//! {"version": "0", "id": "…", "detail-type": "IVS Stage Update",
//!  "source": "aws.ivs", "account": "…", "time": "2020-06-23T20:12:36Z",
//!  "region": "us-west-2", "resources": ["arn:aws:ivs:…:stage/…"],
//!  "detail": {"session_id": "st-…", "event_name": "Participant Published",
//!             "user_id": "…", "participant_id": "…"}}
//! ```
//!
//! An SQS target receives that JSON as the message body. The parser reads
//! only what the server uses and ignores every other field, so fields IVS
//! adds later do not break it. Replication events name the destination
//! stage in `detail.destination_stage_arn` (the stage in `resources` is the
//! source); the parser falls back to the last ARN of `resources` when the
//! detail does not name it. The local emulator writes the same JSON
//! ([`stage_update`]), so both go through one parser.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use super::{IvsEvent, IvsEventKind};
use crate::store::Millis;

/// EventBridge's `source` for IVS.
pub const SOURCE: &str = "aws.ivs";
/// The `detail-type` of stage events.
pub const STAGE_UPDATE: &str = "IVS Stage Update";
/// `detail.event_name` values the server acts on.
pub const PUBLISHED: &str = "Participant Published";
/// See [`PUBLISHED`].
pub const UNPUBLISHED: &str = "Participant Unpublished";
/// See [`PUBLISHED`].
pub const REPLICATION_STARTED: &str = "Participant Replication Started";
/// See [`PUBLISHED`].
pub const REPLICATION_ENDED: &str = "Participant Replication Ended";

/// What a message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An event the server acts on.
    Event(IvsEvent),
    /// A well-formed event the server has no use for (another source or
    /// detail type, Token Exchanged, Publish Error, …), with what it was.
    Foreign(String),
}

/// Why a message is not a readable EventBridge event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not JSON, or not an object of the envelope's shape.
    #[error("not an EventBridge event: {0}")]
    Json(#[from] serde_json::Error),
    /// `time` is not an RFC 3339 timestamp.
    #[error("the event's time {0:?} is not an RFC 3339 timestamp")]
    Time(String),
    /// A field the event needs is missing or empty.
    #[error("{event} without {field}")]
    Missing {
        /// The event name.
        event: String,
        /// The missing field.
        field: &'static str,
    },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    time: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    detail: Option<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(default)]
    event_name: String,
    #[serde(default)]
    participant_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    source_stage_arn: Option<String>,
    #[serde(default)]
    destination_stage_arn: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Reads one message body.
pub fn parse(body: &str) -> Result<Parsed, ParseError> {
    let env: Envelope = serde_json::from_str(body)?;
    if env.source != SOURCE || env.detail_type != STAGE_UPDATE {
        return Ok(Parsed::Foreign(format!(
            "{} / {}",
            env.source, env.detail_type
        )));
    }
    let detail = env.detail.ok_or_else(|| ParseError::Missing {
        event: STAGE_UPDATE.into(),
        field: "detail",
    })?;
    let name = detail.event_name.as_str();
    let publish = match name {
        PUBLISHED => Some(true),
        UNPUBLISHED => Some(false),
        _ => None,
    };
    let replication = match name {
        REPLICATION_STARTED => Some(true),
        REPLICATION_ENDED => Some(false),
        _ => None,
    };
    if publish.is_none() && replication.is_none() {
        return Ok(Parsed::Foreign(format!("{STAGE_UPDATE} / {name}")));
    }
    let at = event_millis(&env.time)?;
    let missing = |field| ParseError::Missing {
        event: name.to_string(),
        field,
    };
    let participant_id =
        non_empty(detail.participant_id).ok_or_else(|| missing("participant_id"))?;
    let kind = if let Some(live) = publish {
        IvsEventKind::Publishing {
            stage_arn: env
                .resources
                .into_iter()
                .find(|r| !r.is_empty())
                .ok_or_else(|| missing("resources"))?,
            live,
            participant_id,
            user_id: non_empty(detail.user_id),
        }
    } else {
        let source = non_empty(detail.source_stage_arn);
        let destination = non_empty(detail.destination_stage_arn)
            .or_else(|| {
                env.resources
                    .iter()
                    .rev()
                    .find(|r| !r.is_empty() && Some(*r) != source.as_ref())
                    .cloned()
            })
            .ok_or_else(|| missing("destination_stage_arn"))?;
        IvsEventKind::Replication {
            source_stage_arn: source,
            destination_stage_arn: destination,
            active: replication == Some(true),
            participant_id,
        }
    };
    Ok(Parsed::Event(IvsEvent {
        id: env.id,
        at,
        kind,
    }))
}

/// The moment an event's `time` stands for, in milliseconds.
///
/// EventBridge writes whole seconds, so the change happened somewhere in that
/// second. A poll's observation is timed to the millisecond; were the event
/// placed at the start of its second, a poll a few hundred milliseconds
/// *before* the change would outrank it and hide it until the next poll (a
/// minute with events on). Taken as the end of its second, the event loses
/// to a poll only when a second change came in the same second, and that
/// change's own event follows. A time with a fraction (the emulator's) is
/// exact and kept as it is.
fn event_millis(time: &str) -> Result<Millis, ParseError> {
    let at = DateTime::parse_from_rfc3339(time)
        .map_err(|_| ParseError::Time(time.to_string()))?
        .timestamp_millis();
    let whole_seconds = !time.contains('.');
    Ok(if whole_seconds { at + 999 } else { at })
}

/// A "Participant Published" / "Unpublished" event in EventBridge's shape,
/// as the local emulator publishes it (and as tests send it).
pub fn stage_update(
    id: &str,
    stage_arn: &str,
    live: bool,
    participant_id: &str,
    user_id: &str,
    at: Millis,
) -> String {
    let time = DateTime::<Utc>::from_timestamp_millis(at)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    // Region and account as the ARN has them (`arn:aws:ivs:REGION:ACCOUNT:stage/ID`).
    let mut parts = stage_arn.split(':').skip(3);
    let (region, account) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": STAGE_UPDATE,
        "source": SOURCE,
        "account": account,
        "time": time,
        "region": region,
        "resources": [stage_arn],
        "detail": {
            "event_name": if live { PUBLISHED } else { UNPUBLISHED },
            "participant_id": participant_id,
            "user_id": user_id,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGE: &str = "arn:aws:ivs:us-west-2:123456789012:stage/AbCdef1G2hij";
    const OVERFLOW: &str = "arn:aws:ivs:us-west-2:123456789012:stage/ZyXwvu9T8srq";

    fn event(body: &str) -> IvsEvent {
        match parse(body) {
            Ok(Parsed::Event(e)) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn the_guides_published_example() {
        let e = event(include_str!("fixtures/participant_published.json"));
        assert_eq!(e.id, "12345678-1a23-4567-a1bc-1a2b34567890");
        assert_eq!(e.at, 1_592_943_156_999); // 2020-06-23T20:12:36Z: the end of that second
        assert_eq!(
            e.kind,
            IvsEventKind::Publishing {
                stage_arn: STAGE.into(),
                live: true,
                participant_id: "xYz1c2d3e4f".into(),
                user_id: Some("Your UserId".into()),
            }
        );
    }

    #[test]
    fn a_time_with_a_fraction_is_exact() {
        let body = stage_update("e", STAGE, true, "p", "u", 1_592_943_156_250);
        assert!(body.contains("20:12:36.250Z"), "{body}");
        assert_eq!(event(&body).at, 1_592_943_156_250);
        let whole = body.replace("20:12:36.250Z", "20:12:37Z");
        assert_eq!(event(&whole).at, 1_592_943_157_999);
    }

    #[test]
    fn unpublished() {
        let e = event(include_str!("fixtures/participant_unpublished.json"));
        assert!(matches!(
            e.kind,
            IvsEventKind::Publishing { live: false, .. }
        ));
    }

    #[test]
    fn replication_started_and_ended() {
        let started = event(include_str!(
            "fixtures/participant_replication_started.json"
        ));
        assert_eq!(
            started.kind,
            IvsEventKind::Replication {
                source_stage_arn: Some(STAGE.into()),
                destination_stage_arn: OVERFLOW.into(),
                active: true,
                participant_id: "xYz1c2d3e4f".into(),
            }
        );
        let ended = event(include_str!("fixtures/participant_replication_ended.json"));
        assert!(matches!(
            ended.kind,
            IvsEventKind::Replication { active: false, ref destination_stage_arn, .. } if destination_stage_arn == OVERFLOW
        ));
    }

    #[test]
    fn replication_destination_from_resources_when_the_detail_lacks_it() {
        let body = include_str!("fixtures/participant_replication_started.json")
            .replace("\"destination_stage_arn\"", "\"unused\"")
            .replace(
                &format!("\"resources\": [\"{STAGE}\"]"),
                &format!("\"resources\": [\"{STAGE}\", \"{OVERFLOW}\"]"),
            );
        let e = event(&body);
        assert!(matches!(
            e.kind,
            IvsEventKind::Replication { ref destination_stage_arn, .. } if destination_stage_arn == OVERFLOW
        ));
    }

    #[test]
    fn other_events_are_foreign() {
        let token = include_str!("fixtures/participant_published.json")
            .replace(PUBLISHED, "Token Exchanged");
        assert!(matches!(parse(&token), Ok(Parsed::Foreign(_))));
        let other = include_str!("fixtures/participant_published.json")
            .replace(STAGE_UPDATE, "IVS Composition State Change");
        assert!(matches!(parse(&other), Ok(Parsed::Foreign(_))));
        let s3 =
            r#"{"source":"aws.s3","detail-type":"Object Created","time":"2024-01-01T00:00:00Z"}"#;
        assert!(matches!(parse(s3), Ok(Parsed::Foreign(_))));
    }

    #[test]
    fn malformed_messages_are_errors() {
        for body in [
            "",
            "not json",
            "[]",
            r#"{"source":"aws.ivs"}"#,
            r#"{"source":"aws.ivs","detail-type":"IVS Stage Update","time":"yesterday","detail":{"event_name":"Participant Published","participant_id":"p"},"resources":["x"]}"#,
            r#"{"source":"aws.ivs","detail-type":"IVS Stage Update","time":"2024-01-01T00:00:00Z","detail":{"event_name":"Participant Published"},"resources":["x"]}"#,
            r#"{"source":"aws.ivs","detail-type":"IVS Stage Update","time":"2024-01-01T00:00:00Z","detail":{"event_name":"Participant Published","participant_id":"p"},"resources":[]}"#,
            r#"{"source":"aws.ivs","detail-type":"IVS Stage Update","time":"2024-01-01T00:00:00Z"}"#,
        ] {
            assert!(parse(body).is_err(), "{body:?} parsed");
        }
    }

    #[test]
    fn the_emulators_events_read_back() {
        let body = stage_update(
            "ev-1",
            STAGE,
            true,
            "p1",
            "broadcaster-host",
            1_700_000_000_123,
        );
        let e = event(&body);
        assert_eq!(e.at, 1_700_000_000_123);
        assert_eq!(
            e.kind,
            IvsEventKind::Publishing {
                stage_arn: STAGE.into(),
                live: true,
                participant_id: "p1".into(),
                user_id: Some("broadcaster-host".into()),
            }
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["region"], "us-west-2");
        assert_eq!(v["account"], "123456789012");
        let off = stage_update("ev-2", STAGE, false, "p1", "broadcaster-host", 1);
        assert!(matches!(
            event(&off).kind,
            IvsEventKind::Publishing { live: false, .. }
        ));
    }
}
