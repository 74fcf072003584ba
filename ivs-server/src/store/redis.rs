//! The Redis viewer store: shared state for any number of instances.
//!
//! Every trait call is one round trip, atomic in Redis: a Lua script (one
//! `EVALSHA`), or for the heartbeat a single plain `ZADD`. So instances
//! behind a load balancer see the same counts, never exceed a
//! stage's capacity together, and never leave half-written state when Redis
//! dies mid-request. The scripts mirror [`MemoryStore`](super::memory::MemoryStore)
//! line for line; the behaviour suite (`tests/it/store_behaviour.rs`) runs the
//! same assertions against both. The key layout is documented in
//! `docs/redis.md`.
//!
//! The parts, each in its own file under `store/redis/`:
//! - [`link`]: how the store reaches Redis (standalone or cluster, TLS, ACL,
//!   one shared multiplexed connection, reconnects, deadlines, errors);
//! - `scripts.rs`: the Lua scripts and how their arguments are written;
//! - `reply.rs`: reading what Redis answers;
//! - `keys.rs`: the key layout.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::{Script, Value};

use ivs_api::RemovalReason;

use super::events::{deployment_tag, reason_str, EventLog, DEFAULT_EVENT_LOG_MAX};
use super::{
    BeginOutcome, Departure, Fence, Intent, IntentAction, JoinOutcome, JoinRequest, LeaveOutcome,
    Millis, RateDecision, RateReceipt, RateRefund, RemoveOutcome, StageLoad, StageRecord,
    StoreError, StoreKind, StoreResult, ViewerRecord, ViewerStore,
};

mod keys;
#[doc(hidden)]
pub mod link;
mod log;
mod reply;
mod scripts;

pub use keys::hash_tagged;
use keys::{pair, Keys};
use link::Link;
pub use link::{ClusterMode, RedisOptions};
use reply::{corrupt, count, int_value, integer, non_negative, Reply};
pub(crate) use scripts::Arg;
use scripts::{
    flag, intent_json, invocation, micros, millis, record_json, registration_args, Scripts,
};

/// `ZADD … GT` (the one-command heartbeat) arrived in Redis 6.2.
const MIN_REDIS_VERSION: (u32, u32) = (6, 2);

/// `(major, minor)` of `redis_version:` in an `INFO server` reply.
fn redis_version(info: &str) -> Option<(u32, u32)> {
    let v = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))?;
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The Redis store.
pub struct RedisStore {
    link: Link,
    prefix: String,
    keys: Keys,
    scripts: Scripts,
    /// The deployment's part of its event ids.
    tag: u32,
    /// The event log's bound, the last argument of every script call.
    event_log_max: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://`, `rediss://`, `redis+unix://`,
    /// `unix://`; a comma-separated list is a cluster's seed nodes), cluster
    /// mode detected, and keeps every key under `prefix`.
    ///
    /// Fails when Redis cannot be reached now, so that a misconfigured
    /// server refuses to start instead of answering 503 to everything; once
    /// running, the store survives outages and reconnects by itself.
    pub async fn connect(url: &str, prefix: &str) -> StoreResult<RedisStore> {
        Self::connect_with(&RedisOptions::from_list(url), prefix).await
    }

    /// Like [`connect`](Self::connect), with every connection option.
    pub async fn connect_with(options: &RedisOptions, prefix: &str) -> StoreResult<RedisStore> {
        let keys = Keys::new(prefix)?;
        let link = Link::connect(options).await?;
        let store = RedisStore {
            link,
            prefix: prefix.to_string(),
            tag: deployment_tag(keys.tagged()),
            keys,
            scripts: Scripts::new(),
            event_log_max: DEFAULT_EVENT_LOG_MAX.to_string(),
        };
        let shown = store.link.shown().to_string();
        store
            .load_scripts()
            .await
            .map_err(|e| StoreError::Unreachable {
                what: format!("cannot reach Redis at {shown}"),
                source: Arc::new(e),
            })?;
        store.check_version().await?;
        // The earlier layout named keys at run time: only where that is
        // allowed (see migrate_v1.lua); it never ran on a cluster otherwise.
        let migrated = if !store.link.is_cluster() || store.keys.tagged() == prefix {
            store
                .run_int(&store.scripts.migrate_v1, &[prefix.into()])
                .await?
        } else {
            0
        };
        if migrated > 0 {
            tracing::info!(
                stages = migrated,
                "moved the data of the earlier key layout to the hash-tagged one"
            );
        }
        let open = store.run_int(&store.scripts.rebuild_load, &[]).await?;
        tracing::info!(url = %shown, prefix, open_stages = open, "Redis store connected");
        Ok(store)
    }

    /// Whether the store speaks the cluster protocol (test hook).
    #[doc(hidden)]
    pub fn is_cluster(&self) -> bool {
        self.link.is_cluster()
    }

    /// The connection layer (test hook).
    #[doc(hidden)]
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Keeps about `max` events in the log (at least one; Redis trims whole
    /// nodes of the stream, so a little more). Every instance of a
    /// deployment should use the same bound: each trims with its own.
    pub fn with_event_log_max(mut self, max: u64) -> Self {
        self.event_log_max = max.max(1).to_string();
        self
    }

    /// Refuses a Redis older than the commands the store sends need.
    async fn check_version(&self) -> StoreResult<()> {
        let info = match self
            .link
            .query_any_node(redis::cmd("INFO").arg("server"))
            .await?
        {
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::VerbatimString { text, .. } => text,
            other => return Err(corrupt(format!("INFO answered {other:?}"))),
        };
        match redis_version(&info) {
            Some(v) if v >= MIN_REDIS_VERSION => Ok(()),
            Some((major, minor)) => Err(StoreError::Unavailable(format!(
                "Redis {major}.{minor} is too old: the store needs {}.{} or later (ZADD GT)",
                MIN_REDIS_VERSION.0, MIN_REDIS_VERSION.1
            ))),
            // A proxy or a fork that hides its version: let the commands speak.
            None => Ok(()),
        }
    }

    /// Loads every script so that steady-state calls are a single `EVALSHA`.
    async fn load_scripts(&self) -> StoreResult<()> {
        self.link.load_scripts(&self.scripts.all()).await
    }

    /// Runs one script: one `EVALSHA` (plus a reload after `NOSCRIPT`).
    async fn run(&self, script: &Script, args: &[Arg<'_>]) -> StoreResult<Value> {
        self.run_with(script, &[], args).await
    }

    /// Runs one script with keys beyond the fixed ones (`KEYS[15..]`); the
    /// event log's bound goes last (`EVENT_LOG_MAX` in `prelude.lua`).
    async fn run_with(
        &self,
        script: &Script,
        extra_keys: &[&str],
        args: &[Arg<'_>],
    ) -> StoreResult<Value> {
        let keys = self.keys.fixed().chain(extra_keys.iter().copied());
        let mut call = invocation(script, keys, args);
        call.arg(&self.event_log_max);
        self.link.invoke(call).await
    }

    /// Runs one plain command (no script): for the calls that a single
    /// Redis command answers atomically by itself.
    async fn query(&self, cmd: &redis::Cmd) -> StoreResult<Value> {
        self.link.query(cmd).await
    }

    /// Runs a script that names every key it touches in `KEYS`: for state
    /// other components keep beside the store's (the local emulator's account).
    pub(crate) async fn eval(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[Arg<'_>],
    ) -> StoreResult<Value> {
        self.link
            .invoke(invocation(script, keys.iter().copied(), args))
            .await
    }

    async fn run_int_with(
        &self,
        script: &Script,
        extra_keys: &[&str],
        args: &[Arg<'_>],
    ) -> StoreResult<i64> {
        integer(self.run_with(script, extra_keys, args).await?)
    }

    async fn run_reply(&self, script: &Script, args: &[Arg<'_>]) -> StoreResult<Reply> {
        Reply::new(self.run(script, args).await?)
    }

    async fn run_int(&self, script: &Script, args: &[Arg<'_>]) -> StoreResult<i64> {
        self.run_int_with(script, &[], args).await
    }

    async fn load_stages(&self, arn: &str) -> StoreResult<Vec<StageLoad>> {
        let mut reply = self.run_reply(&self.scripts.stages, &[arn.into()]).await?;
        let mut out = Vec::with_capacity(reply.len() / 6);
        while reply.len() >= 6 {
            let arn = reply.string()?;
            let json = reply.string()?;
            let name = reply.string()?;
            let draining = reply.string()?;
            let viewers = count(reply.int()?);
            let revived = reply.string()?;
            let mut record: StageRecord = serde_json::from_str(&json)
                .map_err(|e| corrupt(format!("stage record of {arn}: {e}")))?;
            // The hash fields are the live values (renames, drain marks).
            record.arn = arn;
            record.name = name;
            record.draining = draining == "1";
            if let Ok(at) = revived.parse::<Millis>() {
                record.revived_at = Some(at);
            }
            out.push(StageLoad { record, viewers });
        }
        Ok(out)
    }

    async fn set_stage_field(&self, arn: &str, field: &str, value: &str) -> StoreResult<bool> {
        let n = self
            .run_int(
                &self.scripts.set_stage_field,
                &[arn.into(), field.into(), value.into()],
            )
            .await?;
        Ok(n == 1)
    }
}

#[async_trait]
impl ViewerStore for RedisStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Redis
    }

    async fn ping(&self) -> StoreResult<()> {
        if !self.link.is_cluster() {
            return self.link.ping().await;
        }
        // A keyless PING goes to every primary; the deployment lives on one
        // shard, so its health is that shard's.
        let mut exists = redis::cmd("EXISTS");
        exists.arg(self.keys.master());
        self.query(&exists).await.map(|_| ())
    }

    async fn register_stage(&self, stage: &StageRecord) -> StoreResult<()> {
        let json = record_json(stage)?;
        let mut args = registration_args(stage, &json);
        args.truncate(7);
        self.run(&self.scripts.register_stage, &args).await?;
        Ok(())
    }

    async fn departures(&self, max: u32) -> StoreResult<Vec<Departure>> {
        let mut reply = self
            .run_reply(&self.scripts.departures, &[i64::from(max.max(1)).into()])
            .await?;
        let mut out = Vec::with_capacity(reply.len());
        while reply.len() > 0 {
            let entry = reply.string()?;
            let (arn, pid) = entry
                .split_once(' ')
                .ok_or_else(|| corrupt(format!("departure {entry:?}")))?;
            out.push(Departure {
                stage_arn: arn.to_string(),
                participant_id: pid.to_string(),
            });
        }
        Ok(out)
    }

    async fn ack_departures(&self, n: u32) -> StoreResult<()> {
        self.run(&self.scripts.ack_departures, &[i64::from(n).into()])
            .await?;
        Ok(())
    }

    async fn master(&self) -> StoreResult<Option<String>> {
        match self.run(&self.scripts.master, &[]).await? {
            Value::Nil => Ok(None),
            Value::BulkString(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|e| corrupt(format!("master ARN: {e}"))),
            other => Err(corrupt(format!("master answered {other:?}"))),
        }
    }

    async fn begin_create(
        &self,
        intent: &Intent,
        fence: &Fence,
        max_stages: u32,
    ) -> StoreResult<BeginOutcome> {
        let json = intent_json(intent)?;
        let id = intent.id();
        let token = fence.token.to_string();
        let n = self
            .run_int_with(
                &self.scripts.begin_create,
                &[&self.keys.lease(&fence.lease)],
                &[
                    id.as_str().into(),
                    json.as_str().into(),
                    flag(intent.master).into(),
                    i64::from(max_stages).into(),
                    fence.holder.as_str().into(),
                    token.as_str().into(),
                ],
            )
            .await?;
        Ok(match n {
            1 => BeginOutcome::Recorded,
            0 => BeginOutcome::AtLimit,
            2 => BeginOutcome::MasterExists,
            _ => BeginOutcome::Fenced,
        })
    }

    async fn finish_create(&self, stage: &StageRecord, fence: &Fence) -> StoreResult<bool> {
        let json = record_json(stage)?;
        let token = fence.token.to_string();
        let id = Intent::create_id(&stage.name);
        let mut args = registration_args(stage, &json);
        args.extend([
            fence.holder.as_str().into(),
            token.as_str().into(),
            id.as_str().into(),
        ]);
        let lease = self.keys.lease(&fence.lease);
        Ok(self
            .run_int_with(&self.scripts.finish_create, &[&lease], &args)
            .await?
            == 1)
    }

    async fn intents(&self) -> StoreResult<Vec<Intent>> {
        let mut reply = self.run_reply(&self.scripts.intents, &[]).await?;
        let mut out = Vec::with_capacity(reply.len());
        while reply.len() > 0 {
            let json = reply.string()?;
            let intent: Intent =
                serde_json::from_str(&json).map_err(|e| corrupt(format!("intent: {e}")))?;
            out.push(intent);
        }
        out.sort_by_key(|i| (i.at, i.id()));
        Ok(out)
    }

    async fn drop_intent(&self, id: &str) -> StoreResult<bool> {
        Ok(self
            .run_int(&self.scripts.drop_intent, &[id.into()])
            .await?
            == 1)
    }

    async fn drain_if_idle(
        &self,
        arn: &str,
        below: u32,
        min_age: Duration,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<bool> {
        let token = fence.token.to_string();
        let n = self
            .run_int_with(
                &self.scripts.drain_if_idle,
                &[&self.keys.lease(&fence.lease)],
                &[
                    arn.into(),
                    i64::from(below).into(),
                    millis(min_age).into(),
                    now.into(),
                    fence.holder.as_str().into(),
                    token.as_str().into(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn revive(&self, arn: &str, now: Millis) -> StoreResult<bool> {
        Ok(self
            .run_int(&self.scripts.revive, &[arn.into(), now.into()])
            .await?
            == 1)
    }

    async fn begin_delete(
        &self,
        arn: &str,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<RemoveOutcome> {
        let intent = Intent {
            action: IntentAction::Delete,
            target: arn.to_string(),
            master: false,
            at: now,
            owner: fence.holder.clone(),
        };
        let json = intent_json(&intent)?;
        let id = intent.id();
        let token = fence.token.to_string();
        let n = self
            .run_int_with(
                &self.scripts.begin_delete,
                &[&self.keys.lease(&fence.lease)],
                &[
                    arn.into(),
                    id.as_str().into(),
                    json.as_str().into(),
                    fence.holder.as_str().into(),
                    token.as_str().into(),
                    now.into(),
                ],
            )
            .await?;
        Ok(match n {
            0 => RemoveOutcome::Removed,
            -1 => RemoveOutcome::Unknown,
            -2 => RemoveOutcome::NotDraining,
            n if n < 0 => RemoveOutcome::Fenced,
            n => RemoveOutcome::NotEmpty(count(n)),
        })
    }

    async fn stages(&self) -> StoreResult<Vec<StageLoad>> {
        let mut out = self.load_stages("").await?;
        // The registry set is already in this order; sorting again keeps the
        // contract independent of how Redis orders equal scores.
        out.sort_by(|a, b| {
            (a.record.created_at, &a.record.arn).cmp(&(b.record.created_at, &b.record.arn))
        });
        Ok(out)
    }

    async fn stage(&self, arn: &str) -> StoreResult<Option<StageLoad>> {
        if arn.is_empty() {
            // "" asks the script for every stage; no stage has an empty ARN.
            return Ok(None);
        }
        Ok(self.load_stages(arn).await?.into_iter().next())
    }

    async fn rename_stage(&self, arn: &str, name: &str) -> StoreResult<bool> {
        self.set_stage_field(arn, "name", name).await
    }

    async fn set_draining(&self, arn: &str, draining: bool) -> StoreResult<bool> {
        self.set_stage_field(arn, "draining", flag(draining)).await
    }

    async fn remove_stage_if_empty(
        &self,
        arn: &str,
        reason: RemovalReason,
    ) -> StoreResult<RemoveOutcome> {
        let reason = reason_str(reason);
        let n = self
            .run_int(
                &self.scripts.remove_stage_if_empty,
                &[arn.into(), reason.as_str().into()],
            )
            .await?;
        Ok(match n {
            0 => RemoveOutcome::Removed,
            n if n < 0 => RemoveOutcome::Unknown,
            n => RemoveOutcome::NotEmpty(count(n)),
        })
    }

    async fn purge_stage(&self, arn: &str, now: Millis, reason: RemovalReason) -> StoreResult<()> {
        let reason = reason_str(reason);
        self.run(
            &self.scripts.purge_stage,
            &[arn.into(), now.into(), reason.as_str().into()],
        )
        .await?;
        Ok(())
    }

    async fn join(&self, req: &JoinRequest) -> StoreResult<JoinOutcome> {
        let mut reply = self
            .run_reply(
                &self.scripts.join,
                &[
                    req.user_id.as_str().into(),
                    req.participant_id.as_str().into(),
                    req.now.into(),
                    i64::from(req.capacity).into(),
                    i64::from(req.scale_up_at).into(),
                    i64::from(req.announce).into(),
                ],
            )
            .await?;
        if reply.int()? == 0 {
            return Ok(JoinOutcome::Full);
        }
        Ok(JoinOutcome::Joined {
            stage_arn: reply.string()?,
            viewers: count(reply.int()?),
            rejoined: reply.int()? == 1,
            needs_stage: reply.int()? == 1,
        })
    }

    async fn set_participant(
        &self,
        user_id: &str,
        stage_arn: &str,
        participant_id: &str,
        announce: bool,
    ) -> StoreResult<()> {
        self.run(
            &self.scripts.set_participant,
            &[
                user_id.into(),
                stage_arn.into(),
                participant_id.into(),
                i64::from(announce).into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn forget(&self, user_id: &str, stage_arn: &str, announced: bool) -> StoreResult<()> {
        self.run(
            &self.scripts.forget,
            &[
                user_id.into(),
                stage_arn.into(),
                i64::from(announced).into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn heartbeat(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<Millis>> {
        // The hot path is one plain command: XX never adds a viewer (so a
        // removed one is not recreated), GT never moves a heartbeat
        // backwards, CH answers 1 when it moved. A 0 means "not counted
        // there" or "already at or past `now`" (two heartbeats in one
        // millisecond, an instance whose clock is behind): only then a
        // second command tells them apart.
        let key = self.keys.heartbeats();
        let member = pair(user_id, stage_arn);
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(key)
            .arg("XX")
            .arg("GT")
            .arg("CH")
            .arg(now)
            .arg(&member);
        match self.query(&zadd).await? {
            Value::Int(1) => return Ok(Some(now)),
            Value::Int(0) => {}
            other => return Err(corrupt(format!("ZADD answered {other:?}"))),
        }
        let mut zscore = redis::cmd("ZSCORE");
        zscore.arg(key).arg(&member);
        // Scores are whole milliseconds, which Redis prints as digits.
        match self.query(&zscore).await? {
            Value::Nil => Ok(None),
            score => int_value(Some(score)).map(Some),
        }
    }

    async fn leave(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
        _retention: Duration,
    ) -> StoreResult<LeaveOutcome> {
        let mut reply = self
            .run_reply(
                &self.scripts.leave,
                &[user_id.into(), stage_arn.into(), now.into()],
            )
            .await?;
        Ok(match reply.int()? {
            1 => LeaveOutcome::Left(non_negative(reply.int()?)),
            2 => LeaveOutcome::AlreadyGone(non_negative(reply.int()?)),
            _ => LeaveOutcome::Unknown,
        })
    }

    async fn viewers(&self, stage_arn: &str) -> StoreResult<Vec<ViewerRecord>> {
        let mut reply = self
            .run_reply(&self.scripts.viewers, &[stage_arn.into()])
            .await?;
        let mut out = Vec::with_capacity(reply.len() / 4);
        while reply.len() >= 4 {
            out.push(ViewerRecord {
                user_id: reply.string()?,
                participant_id: reply.string()?,
                joined_at: reply.int()?,
                last_heartbeat: reply.int()?,
            });
        }
        out.sort_by(|a, b| (a.joined_at, &a.user_id).cmp(&(b.joined_at, &b.user_id)));
        Ok(out)
    }

    async fn watch_duration(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<u64>> {
        let mut reply = self
            .run_reply(
                &self.scripts.watch_duration,
                &[user_id.into(), stage_arn.into(), now.into()],
            )
            .await?;
        if reply.int()? == 0 {
            return Ok(None);
        }
        Ok(Some(non_negative(reply.int()?)))
    }

    async fn sweep(&self, now: Millis, timeout: Duration, retention: Duration) -> StoreResult<u64> {
        let removed = self
            .run_int(
                &self.scripts.sweep,
                &[now.into(), millis(timeout).into(), millis(retention).into()],
            )
            .await?;
        Ok(non_negative(removed))
    }

    async fn rate_limit(
        &self,
        key_id: &str,
        limit: u32,
        period: Duration,
        now: Millis,
        want: u32,
        refund: Option<RateRefund>,
    ) -> StoreResult<RateDecision> {
        // Clamped exactly as `store::gcra` does, so both stores decide alike.
        let limit = limit.max(1);
        let want = want.max(1);
        let period_us = micros(period).max(1);
        let refund = refund.unwrap_or(RateRefund {
            unspent: 0,
            receipt: RateReceipt::default(),
        });
        let state = self.keys.key(&["gcra:", key_id]);
        let reply = self
            .eval(
                &self.scripts.rate_limit,
                &[&state],
                &[
                    i64::from(limit).into(),
                    period_us.into(),
                    now.saturating_mul(1000).into(),
                    i64::from(want).into(),
                    i64::from(refund.unspent).into(),
                    refund.receipt.since_us.into(),
                    refund.receipt.tat_us.into(),
                    refund.receipt.refunded_us.into(),
                ],
            )
            .await?;
        let mut reply = Reply::new(reply)?;
        let granted = count(reply.int()?);
        let allowed = granted > 0;
        let remaining = count(reply.int()?);
        let reset_after = Duration::from_micros(non_negative(reply.int()?));
        let retry_after = Duration::from_micros(non_negative(reply.int()?));
        let receipt = RateReceipt {
            since_us: reply.int()?,
            tat_us: reply.int()?,
            refunded_us: reply.int()?,
        };
        Ok(RateDecision {
            allowed,
            granted,
            limit,
            remaining,
            reset_after,
            retry_after,
            receipt,
        })
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Option<u64>> {
        // PX 0 is an error in Redis; a 1 ms lease is as good as expired.
        let ttl = millis(ttl).max(1);
        let (lease, fence) = (self.keys.lease(name), self.keys.key(&["fence:", name]));
        let n = integer(
            self.eval(
                &self.scripts.try_lease,
                &[&lease, &fence],
                &[holder.into(), ttl.into()],
            )
            .await?,
        )?;
        Ok((n > 0).then_some(n as u64))
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        self.eval(
            &self.scripts.release_lease,
            &[&self.keys.lease(name)],
            &[holder.into()],
        )
        .await?;
        Ok(())
    }

    fn event_log(&self) -> &dyn EventLog {
        self
    }

    async fn record_publisher(
        &self,
        stage_arn: &str,
        live: bool,
        as_of: Millis,
    ) -> StoreResult<bool> {
        let n = self
            .run_int(
                &self.scripts.record_publisher,
                &[stage_arn.into(), flag(live).into(), as_of.into()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn publisher(&self, stage_arn: &str) -> StoreResult<Option<(bool, Millis)>> {
        let mut hget = redis::cmd("HGET");
        hget.arg(self.keys.publisher()).arg(stage_arn);
        let state = match self.query(&hget).await? {
            Value::Nil => return Ok(None),
            v => reply::text(v)?,
        };
        let parsed = state
            .split_once(' ')
            .and_then(|(live, at)| Some((live == "1", at.parse::<Millis>().ok()?)));
        parsed
            .map(Some)
            .ok_or_else(|| corrupt(format!("publisher state of {stage_arn}: {state:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_from_info() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(redis_version(info), Some((7, 0)));
        assert_eq!(redis_version("redis_version:6.2.0"), Some((6, 2)));
        assert!(redis_version("redis_version:6.0.9").unwrap() < MIN_REDIS_VERSION);
        assert!(redis_version("redis_version:10.1.0").unwrap() >= MIN_REDIS_VERSION);
        assert_eq!(redis_version("# Server\r\nuptime:1\r\n"), None);
        assert_eq!(redis_version("redis_version:seven"), None);
    }
}
