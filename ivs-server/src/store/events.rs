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
//! | `join` counting a viewer not yet counted | `viewer.joined` |
//! | `leave` (`LeaveOutcome::Left`) | `viewer.left` |
//! | `forget` of a counted viewer (a join undone) | `viewer.left`, `watchDuration` 0 |
//! | `sweep`, each expired viewer | `viewer.expired` |
//! | `register_stage` of a new stage, `finish_create` | `stage.created` |
//! | `set_draining(true)` that changed it, `drain_if_idle` that drained | `stage.draining` |
//! | `revive`, `set_draining(false)` that changed it | `stage.revived` |
//! | `remove_stage_if_empty`, `begin_delete`, `purge_stage` of a registered stage | `stage.removed` |
//! | `record_publisher` that changed the state | `publisher.live` / `publisher.offline` |
//! | `begin_create` refused at the limit (once a minute at most) | `fleet.stage_limit_reached` |

use std::time::Duration;

use async_trait::async_trait;

use super::{Millis, StoreResult};

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

    /// How many events the log holds now (for `/metrics`).
    async fn backlog(&self) -> StoreResult<u64>;
}

/// When an event at `position` was recorded (its first part), if it reads.
pub fn recorded_at(position: &str) -> Option<Millis> {
    position.split('-').next()?.parse().ok()
}
