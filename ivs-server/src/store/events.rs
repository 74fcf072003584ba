//! The event log: fleet events recorded by the store in the same step as the
//! change they describe, read by webhook delivery (consumer groups, durable
//! and shared by the fleet) and by the `/ws` `events` channel (a tail).
//!
//! The model is a Redis stream with consumer groups; `MemoryStore` keeps the
//! same structure in memory (lost with the process, documented in
//! `docs/webhooks.md`). Both run the same behaviour tests.
//!
//! Which store step records which event:
//!
//! | step | event |
//! |---|---|
//! | `join` counting a viewer not yet counted, with `announce` | `viewer.joined` |
//! | `set_participant` with `announce` (IVS chose the participant id) | `viewer.joined`, dated at the join |
//! | `leave` (`LeaveOutcome::Left`) | `viewer.left` |
//! | `forget` of a counted, announced viewer (a join undone) | `viewer.left`, `watchDuration` 0 |
//! | `sweep`, each expired viewer | `viewer.expired` |
//! | `register_stage` of a new stage, `finish_create` | `stage.created` |
//! | `set_draining(true)` that changed it, `drain_if_idle` that drained | `stage.draining` |
//! | `revive`, `set_draining(false)` that changed it | `stage.revived` |
//! | `remove_stage_if_empty`, `begin_delete`, `purge_stage` of a registered stage | `stage.removed` |
//! | `purge_stage`, each viewer it drops (before `stage.removed`) | `viewer.left`, watch time to the purge |
//! | `record_publisher` that changed the state | `publisher.live` / `publisher.offline` |
//! | `begin_create` refused at the limit (once a minute at most) | `fleet.stage_limit_reached` |

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use ivs_api::{Event, EventKind, RemovalReason, Timestamp};
use serde_json::{json, Value};

use super::{Millis, StageRecord, StoreError, StoreResult};

/// Events the log keeps by default (`IVS_EVENT_LOG_MAX`): the oldest are
/// trimmed beyond it, delivered or not. About 85 MB of Redis at 170 bytes an
/// entry; docs/redis.md ("The event log") has the measurement and the
/// reasoning.
pub const DEFAULT_EVENT_LOG_MAX: u64 = 500_000;

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Its position in the log (a Redis stream entry id, `<ms>-<seq>`),
    /// increasing in the order events were recorded.
    pub position: String,
    /// The event (its `id` is unique across deployments and stays the same
    /// on every delivery).
    pub event: ivs_api::Event,
}

/// An event handed to a consumer of a group and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Its position in the log.
    pub position: String,
    /// The consumer it was last handed to.
    pub consumer: String,
    /// Time since it was last handed to a consumer.
    pub idle: Duration,
    /// How many times it was handed to a consumer (the first read counts).
    pub deliveries: u32,
}

/// What a [`EventLog::claim`] took over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claimed {
    /// The events now pending for the caller (each claim counts as a delivery).
    pub events: Vec<LoggedEvent>,
    /// Positions that were pending but are no longer in the log (trimmed by
    /// the backlog bound): dropped from the group, never to be delivered.
    pub trimmed: Vec<String>,
}

/// The event log's read side (the write side is inside the store's steps).
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Creates consumer group `group` if it does not exist, starting after
    /// the last event recorded so far.
    async fn create_group(&self, group: &str) -> StoreResult<()>;

    /// Up to `max` events the group has not handed to any consumer yet,
    /// oldest first; each becomes pending for `consumer` with one delivery.
    async fn read_new(
        &self,
        group: &str,
        consumer: &str,
        max: u32,
    ) -> StoreResult<Vec<LoggedEvent>>;

    /// The group's pending events idle for at least `min_idle`, in log order,
    /// starting after position `after` (to page through), at most `max`.
    async fn pending(
        &self,
        group: &str,
        min_idle: Duration,
        after: Option<&str>,
        max: u32,
    ) -> StoreResult<Vec<PendingEvent>>;

    /// Takes the given pending events over for `consumer`, each only if it is
    /// still idle for at least `min_idle` (so two instances never both take
    /// one); a taken event's idle time restarts and its deliveries grow by one.
    async fn claim(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        positions: &[String],
    ) -> StoreResult<Claimed>;

    /// Acknowledges events (delivered, or given up): no longer pending.
    async fn ack(&self, group: &str, positions: &[String]) -> StoreResult<()>;

    /// For live followers: up to `max` events recorded after position
    /// `after`, oldest first, with the position to pass next time. With
    /// `after` `None`, no events and the position of the last one recorded
    /// (follow from now on).
    async fn tail(&self, after: Option<&str>, max: u32) -> StoreResult<(String, Vec<LoggedEvent>)>;

    /// Forgets the group's consumers that hold no pending event and have
    /// not read for at least `min_idle`: instances that stopped for good.
    /// (Whether a read that finds nothing counts depends on the Redis
    /// version, 7.2 and later yes; a live consumer forgotten in a quiet hour
    /// loses nothing, its next read makes it anew.) Returns how many were
    /// forgotten; none for a missing group.
    async fn forget_idle_consumers(&self, group: &str, min_idle: Duration) -> StoreResult<u32>;

    /// Every consumer group of the log with its pending events, by name.
    async fn groups(&self) -> StoreResult<Vec<(String, u64)>>;

    /// How many events the log holds now (for `/metrics`).
    async fn backlog(&self) -> StoreResult<u64>;
}

/// When an event at `position` was recorded (its first part), if it reads.
pub fn recorded_at(position: &str) -> Option<Millis> {
    position.split('-').next()?.parse().ok()
}

/// A position in the log as numbers (`<ms>-<seq>`), ordered as Redis orders
/// stream entry ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Position {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl Position {
    /// Reads `<ms>-<seq>` (a bare `<ms>` is `<ms>-0`, as Redis reads it).
    pub(crate) fn parse(s: &str) -> StoreResult<Position> {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        match (ms.parse(), seq.parse()) {
            (Ok(ms), Ok(seq)) => Ok(Position { ms, seq }),
            _ => Err(StoreError::Corrupt(format!(
                "not an event log position: {s:?}"
            ))),
        }
    }

    /// The position of the next entry recorded at `now`: Redis' rule for
    /// `XADD *` (never backwards, even when the clock is).
    pub(crate) fn next(self, now: Millis) -> Position {
        let now = u64::try_from(now).unwrap_or(0);
        if now > self.ms {
            Position { ms: now, seq: 0 }
        } else {
            Position {
                ms: self.ms,
                seq: self.seq + 1,
            }
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A short, stable name for a deployment (32-bit FNV-1a of its key prefix),
/// the first part of its event ids.
pub fn deployment_tag(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The id of the event at `position` in the log of the deployment tagged
/// `tag`: unique across deployments that share a receiver (their prefixes
/// differ) and the same on every read, hence on every delivery.
pub fn event_id(tag: u32, position: &str) -> String {
    format!("evt_{tag:08x}-{position}")
}

/// An event from a log entry's parts. A type this version does not know, or
/// data that does not fit its type, reads as [`EventKind::Unknown`] rather
/// than failing the whole read.
pub(crate) fn logged_event(
    tag: u32,
    position: String,
    event_type: &str,
    timestamp: Millis,
    data: Value,
) -> LoggedEvent {
    let kind = serde_json::from_value(json!({ "type": event_type, "data": data })).unwrap_or(
        EventKind::Unknown {
            event_type: event_type.to_string(),
        },
    );
    LoggedEvent {
        event: Event::builder()
            .id(event_id(tag, &position))
            .timestamp(Timestamp::from_millis(timestamp))
            .kind(kind)
            .build(),
        position,
    }
}

/// The `data` of each event type, as the stores record it (the Redis
/// scripts build the same objects in Lua).
pub(crate) mod data {
    use super::*;

    pub(crate) fn viewer_joined(user: &str, arn: &str, participant: &str) -> Value {
        json!({ "userId": user, "stageArn": arn, "participantId": participant })
    }

    pub(crate) fn viewer_gone(user: &str, arn: &str, seconds: u64) -> Value {
        json!({ "userId": user, "stageArn": arn, "watchDuration": seconds })
    }

    pub(crate) fn stage_created(stage: &StageRecord) -> Value {
        json!({
            "stageArn": stage.arn,
            "name": stage.name,
            "autoScaled": stage.kind.is_auto_scaled(),
            "isMaster": stage.kind.is_master(),
        })
    }

    pub(crate) fn stage(arn: &str) -> Value {
        json!({ "stageArn": arn })
    }

    pub(crate) fn stage_removed(arn: &str, reason: RemovalReason) -> Value {
        json!({ "stageArn": arn, "reason": reason })
    }

    pub(crate) fn stage_limit(active: u32, max: u32) -> Value {
        json!({ "activeStages": active, "maxStages": max })
    }
}

/// `reason` of `stage.removed` as the wire writes it (`scaled_down`, …).
pub(crate) fn reason_str(reason: RemovalReason) -> String {
    match serde_json::to_value(reason) {
        Ok(Value::String(s)) => s,
        _ => "other".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_like_stream_ids_and_never_go_back() {
        let p = Position::parse("1700000000000-5").unwrap();
        assert_eq!(p.to_string(), "1700000000000-5");
        assert!(Position::parse("2-0").unwrap() > Position::parse("1-9").unwrap());
        assert_eq!(Position::parse("7").unwrap(), Position { ms: 7, seq: 0 });
        assert!(Position::parse("x-1").is_err());
        assert_eq!(p.next(1_700_000_000_001).to_string(), "1700000000001-0");
        // A clock that went back still moves forward.
        assert_eq!(p.next(5).to_string(), "1700000000000-6");
    }

    #[test]
    fn ids_name_the_deployment_and_the_position() {
        let a = deployment_tag("{ivs}:");
        assert_ne!(a, deployment_tag("{other}:"));
        assert_eq!(a, deployment_tag("{ivs}:"));
        let id = event_id(a, "1-0");
        assert!(id.starts_with("evt_") && id.ends_with("-1-0"), "{id}");
        assert_eq!(id.len(), "evt_".len() + 8 + "-1-0".len());
    }

    #[test]
    fn entries_read_as_typed_events_or_unknown() {
        let arn = "arn:aws:ivs:us-east-1:123456789012:stage/abcdEFGH1234";
        let e = logged_event(
            1,
            "5-0".into(),
            "viewer.left",
            5,
            data::viewer_gone("u1", arn, 9),
        );
        assert_eq!(e.event.event_type(), "viewer.left");
        assert!(matches!(e.event.kind, EventKind::ViewerLeft(ref g) if g.watch_duration == 9));
        assert_eq!(e.event.timestamp.millis(), 5);
        let bad = logged_event(1, "6-0".into(), "viewer.left", 6, json!({ "x": 1 }));
        assert!(matches!(bad.event.kind, EventKind::Unknown { .. }));
        assert_eq!(bad.event.event_type(), "viewer.left");
        assert_eq!(reason_str(RemovalReason::ScaledDown), "scaled_down");
        let removed = logged_event(
            1,
            "7-0".into(),
            "stage.removed",
            7,
            data::stage_removed(arn, RemovalReason::Gone),
        );
        assert!(matches!(removed.event.kind, EventKind::StageRemoved(_)));
    }
}
