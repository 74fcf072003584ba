//! The viewer store seam: all state the server shares between requests and
//! between instances (viewer sessions, per-stage counts, the stage registry,
//! watch durations, rate-limit counters and leases).
//!
//! Every method is one atomic step. Implementations must never expose a
//! half-done operation: the in-process store holds one lock per call, the
//! Redis store runs one script per call. The same behaviour suite
//! (`tests/store_behaviour.rs`) runs against every implementation.

pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use ivs_client::model::Tags;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: the store's only notion of time, passed
/// in by the caller so that every instance and every test agrees on it.
pub type Millis = i64;

/// A stage the server manages. Registry entries never expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Stage ARN.
    pub arn: String,
    /// Stage name (kept in step with IVS on rename).
    pub name: String,
    /// Tags as created.
    pub tags: Tags,
    /// Created by the server to absorb viewers.
    pub auto_scaled: bool,
    /// The master stage.
    pub master: bool,
    /// Receives automatically assigned viewers (the master and auto-scaled stages).
    pub assignable: bool,
    /// Creation time.
    pub created_at: Millis,
    /// Scale-down has chosen it: it gets no new viewers and goes when empty.
    pub draining: bool,
    /// When it was last put back in service after draining.
    #[serde(default)]
    pub revived_at: Option<Millis>,
}

/// A stage with its current viewer count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageLoad {
    /// The registry entry.
    pub record: StageRecord,
    /// Viewers counted on it now.
    pub viewers: u32,
}

/// A viewer counted on a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerRecord {
    /// The viewer's id (as the API caller sent it).
    pub user_id: String,
    /// The participant id of its latest token.
    pub participant_id: String,
    /// When it joined.
    pub joined_at: Millis,
    /// Its latest heartbeat.
    pub last_heartbeat: Millis,
}

/// A viewer that left or expired, to be disconnected in IVS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    /// Its stage.
    pub stage_arn: String,
    /// The participant id of its latest token.
    pub participant_id: String,
}

/// Most departures the store keeps waiting (the oldest are dropped beyond).
pub const MAX_DEPARTURES: u32 = 100_000;

/// A join to perform.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The viewer.
    pub user_id: String,
    /// The participant id of the token about to be minted.
    pub participant_id: String,
    /// Now.
    pub now: Millis,
    /// No stage may hold more viewers than this.
    pub capacity: u32,
    /// When every assignable stage holds at least this many, a new stage is wanted.
    pub scale_up_at: u32,
}

/// What a join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The viewer is counted on `stage_arn`.
    Joined {
        /// Its stage.
        stage_arn: String,
        /// Viewers on that stage now, this one included.
        viewers: u32,
        /// It was already counted (same stage, counted once).
        rejoined: bool,
        /// The least-loaded assignable stage has reached the scale-up threshold.
        needs_stage: bool,
    },
    /// No assignable stage has room.
    Full,
}

/// What a leave did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// The viewer was counted and is now removed; its watch time in seconds.
    Left(u64),
    /// The viewer had already left or expired; the recorded watch time.
    AlreadyGone(u64),
    /// No such viewer on that stage.
    Unknown,
}

/// What removing a stage from the registry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoveOutcome {
    /// Removed.
    Removed,
    /// Not removed: it still has this many viewers.
    NotEmpty(u32),
    /// It was not in the registry.
    Unknown,
    /// Not removed: it is not draining (revived since it was chosen).
    NotDraining,
    /// Not removed: the caller's lease is gone.
    Fenced,
}

/// A lease held, with the fencing token that writes made under it carry:
/// the store refuses such a write once the lease has expired or passed to
/// another holder, so a holder that stalled past its lease cannot undo what
/// the next holder did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name.
    pub lease: String,
    /// Who holds it.
    pub holder: String,
    /// Grows by one each time the lease is taken (not when it is renewed).
    pub token: u64,
}

/// What an [`Intent`] is about to do in IVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IntentAction {
    /// CreateStage, then register the stage.
    Create,
    /// DeleteStage of a stage already taken out of the registry.
    Delete,
}

/// A stage operation recorded in the store before IVS is called, so that a
/// crash between IVS's answer and the registry's update is finished or
/// undone by maintenance, and so that stages being created or deleted count
/// toward the stage limit (the limit then holds in IVS, not only in the
/// registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// What it does.
    pub action: IntentAction,
    /// Creation: the new stage's name (unique: it carries a random part).
    /// Deletion: the stage's ARN.
    pub target: String,
    /// The stage is (to be) the master.
    #[serde(default)]
    pub master: bool,
    /// When it was recorded.
    pub at: Millis,
    /// The instance that recorded it.
    #[serde(default)]
    pub owner: String,
}

impl Intent {
    /// The intent's key in the store: one per target and action.
    pub fn id(&self) -> String {
        match self.action {
            IntentAction::Create => format!("create:{}", self.target),
            IntentAction::Delete => format!("delete:{}", self.target),
        }
    }
}

/// What recording a creation intent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BeginOutcome {
    /// Recorded: the caller may call CreateStage.
    Recorded,
    /// Registered stages and pending intents already reach the limit.
    AtLimit,
    /// A master is registered or being created already.
    MasterExists,
    /// The caller's lease is gone.
    Fenced,
}

/// A rate-limit decision (GCRA over a window of `period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// The request may go ahead.
    pub allowed: bool,
    /// How many requests were granted (up to the number asked for; 0 when refused).
    pub granted: u32,
    /// The limit per period.
    pub limit: u32,
    /// Requests left in the current burst.
    pub remaining: u32,
    /// Until the allowance is full again.
    pub reset_after: Duration,
    /// Until the next request is allowed (zero when allowed).
    pub retry_after: Duration,
}

/// Why a store call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backing service cannot be reached or timed out (answered as 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backing service returned something impossible.
    #[error("store returned unexpected data: {0}")]
    Corrupt(String),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The viewer store.
#[async_trait]
pub trait ViewerStore: Send + Sync + 'static {
    /// `"embedded"` or `"redis"`.
    fn kind(&self) -> &'static str;

    /// Checks that the store answers (for `/health`).
    async fn ping(&self) -> StoreResult<()>;

    // ---- stage registry

    /// Adds or replaces a stage in the registry.
    async fn register_stage(&self, stage: &StageRecord) -> StoreResult<()>;
    /// Every registered stage with its count, oldest first.
    async fn stages(&self) -> StoreResult<Vec<StageLoad>>;
    /// One registered stage with its count.
    async fn stage(&self, arn: &str) -> StoreResult<Option<StageLoad>>;
    /// Renames a registered stage; false when unknown.
    async fn rename_stage(&self, arn: &str, name: &str) -> StoreResult<bool>;
    /// Marks a stage draining (or not); false when unknown.
    async fn set_draining(&self, arn: &str, draining: bool) -> StoreResult<bool>;
    /// Removes a stage from the registry only if it has no viewers.
    async fn remove_stage_if_empty(&self, arn: &str) -> StoreResult<RemoveOutcome>;
    /// Removes a stage and its viewers unconditionally (the stage is gone from IVS).
    async fn purge_stage(&self, arn: &str, now: Millis) -> StoreResult<()>;
    /// The registered master's ARN.
    async fn master(&self) -> StoreResult<Option<String>>;

    // ---- crash-safe stage creation and deletion

    /// Records a creation intent under `fence` if registered stages plus
    /// pending intents stay within `max_stages` (and, for a master, no master
    /// is registered or being created).
    async fn begin_create(
        &self,
        intent: &Intent,
        fence: &Fence,
        max_stages: u32,
    ) -> StoreResult<BeginOutcome>;
    /// Registers the stage a creation intent made and drops the intent (named
    /// by the stage's name), in one step; false (nothing changed) when the
    /// fence is stale.
    async fn finish_create(&self, stage: &StageRecord, fence: &Fence) -> StoreResult<bool>;
    /// Every pending intent.
    async fn intents(&self) -> StoreResult<Vec<Intent>>;
    /// Drops an intent (finished or undone); false when there was none.
    async fn drop_intent(&self, id: &str) -> StoreResult<bool>;
    /// Marks an auto-scaled, assignable stage draining if it has fewer than
    /// `below` viewers and was created or last revived at least `min_age`
    /// ago, all checked in the same step; false otherwise or when `fence`
    /// is stale.
    async fn drain_if_idle(
        &self,
        arn: &str,
        below: u32,
        min_age: Duration,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<bool>;
    /// Puts a draining stage back in service, remembering when (scale-down
    /// leaves it alone for its minimum age again); false when unknown or
    /// not draining.
    async fn revive(&self, arn: &str, now: Millis) -> StoreResult<bool>;
    /// Takes a draining, empty stage out of the registry and records a
    /// deletion intent for it, in one step (it keeps counting toward the
    /// limit until IVS has deleted it).
    async fn begin_delete(
        &self,
        arn: &str,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<RemoveOutcome>;

    // ---- viewers

    /// Counts a viewer on the least-loaded assignable stage with room, or on
    /// the stage it already has (idempotent per user id).
    async fn join(&self, req: &JoinRequest) -> StoreResult<JoinOutcome>;
    /// Records the participant id IVS chose, when it differs from ours.
    async fn set_participant(
        &self,
        user_id: &str,
        stage_arn: &str,
        participant_id: &str,
    ) -> StoreResult<()>;
    /// Removes a viewer without recording a watch time (its join is undone).
    async fn forget(&self, user_id: &str, stage_arn: &str) -> StoreResult<()>;
    /// Refreshes a viewer counted on that stage; `None` when it is not counted there.
    async fn heartbeat(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<Millis>>;
    /// Removes a viewer, recording its watch time exactly once.
    async fn leave(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
        retention: Duration,
    ) -> StoreResult<LeaveOutcome>;
    /// Viewers of a stage.
    async fn viewers(&self, stage_arn: &str) -> StoreResult<Vec<ViewerRecord>>;
    /// Watch time in seconds: so far for a counted viewer, as recorded for one
    /// that left or expired within the retention; `None` otherwise.
    async fn watch_duration(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<u64>>;
    /// Removes every viewer whose last heartbeat is older than `now - timeout`
    /// (watch time: join to last heartbeat), and forgets watch times older than
    /// the retention. Returns how many viewers it removed.
    async fn sweep(&self, now: Millis, timeout: Duration, retention: Duration) -> StoreResult<u64>;

    /// Viewers that left or expired, oldest first (at most `max`), whose
    /// participant must still be disconnected in IVS: the queue is kept in
    /// the store, so a crash of the instance that works it loses nothing.
    async fn departures(&self, max: u32) -> StoreResult<Vec<Departure>>;
    /// Removes the first `n` departures (handled).
    async fn ack_departures(&self, n: u32) -> StoreResult<()>;

    // ---- coordination

    /// Up to `want` requests (at least one) against a key's allowance of
    /// `limit` per `period`; grants as many as fit, or refuses.
    async fn rate_limit(
        &self,
        key_id: &str,
        limit: u32,
        period: Duration,
        now: Millis,
        want: u32,
    ) -> StoreResult<RateDecision>;
    /// Takes the lease `name` for `holder`, or renews it if `holder` has it;
    /// the fencing token when held, `None` when another holder has it.
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Option<u64>>;
    /// Gives the lease up if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
}

/// The GCRA step shared by the stores, for up to `want` requests at once
/// (a caller may reserve a small batch and spend it locally). The theoretical
/// arrival time (`tat`) is kept in microseconds so that large limits
/// (100,000/min) keep their precision. Returns the decision and the `tat` to
/// store when anything was granted.
pub fn gcra(
    tat_us: Option<i64>,
    limit: u32,
    period: Duration,
    now: Millis,
    want: u32,
) -> (RateDecision, i64) {
    let limit = limit.max(1);
    let want = i64::from(want.max(1));
    let now = now.saturating_mul(1000);
    let period_us = (period.as_micros() as i64).max(1);
    let interval = (period_us / i64::from(limit)).max(1);
    let tat = tat_us.unwrap_or(now).max(now);
    // How many requests fit before `tat` runs more than a period ahead.
    let available = (now + period_us - tat) / interval;
    if available < 1 {
        let decision = RateDecision {
            allowed: false,
            granted: 0,
            limit,
            remaining: 0,
            reset_after: Duration::from_micros((tat - now) as u64),
            retry_after: Duration::from_micros((tat + interval - period_us - now) as u64),
        };
        return (decision, tat);
    }
    let granted = want.min(available);
    let new_tat = tat + granted * interval;
    let decision = RateDecision {
        allowed: true,
        granted: granted as u32,
        limit,
        remaining: (available - granted).min(i64::from(limit)) as u32,
        reset_after: Duration::from_micros((new_tat - now) as u64),
        retry_after: Duration::ZERO,
    };
    (decision, new_tat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_a_burst_of_limit_then_paces() {
        let period = Duration::from_secs(60);
        let mut tat = None;
        for i in 0..100 {
            let (d, t) = gcra(tat, 100, period, 1_000, 1);
            assert!(d.allowed, "request {i} refused");
            assert_eq!(d.remaining, 99 - i);
            tat = Some(t);
        }
        let (d, _) = gcra(tat, 100, period, 1_000, 1);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Duration::from_millis(600));
        let (d, _) = gcra(tat, 100, period, 1_600, 1);
        assert!(d.allowed);
        // Large limits keep their precision.
        let (d, _) = gcra(None, 100_000, period, 1_000, 1);
        assert_eq!(d.remaining, 99_999);
    }
}
