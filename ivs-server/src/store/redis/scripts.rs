//! The Lua scripts the store runs (one per operation, hashed once) and how
//! their arguments are written.

use std::time::Duration;

use redis::{RedisWrite, Script, ScriptInvocation, ToRedisArgs};

use super::reply::corrupt;
use crate::store::{Intent, StageRecord, StoreResult};

/// One script: the shared prelude followed by the operation.
macro_rules! lua {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("prelude.lua"),
            "\n",
            include_str!($file)
        ))
    };
}

/// A script without the prelude: for the calls that touch only their own
/// keys (`KEYS[1..]`) and run often enough that the prelude's cost shows.
macro_rules! lua_alone {
    ($file:literal) => {
        Script::new(include_str!($file))
    };
}

/// The scripts, hashed once; `invoke_async` sends `EVALSHA` and falls back to
/// loading the script on `NOSCRIPT` (after a Redis restart or `SCRIPT FLUSH`).
pub(super) struct Scripts {
    pub(super) register_stage: Script,
    pub(super) stages: Script,
    pub(super) set_stage_field: Script,
    pub(super) remove_stage_if_empty: Script,
    pub(super) purge_stage: Script,
    pub(super) join: Script,
    pub(super) set_participant: Script,
    pub(super) forget: Script,
    pub(super) leave: Script,
    pub(super) viewers: Script,
    pub(super) watch_duration: Script,
    pub(super) sweep: Script,
    pub(super) rate_limit: Script,
    pub(super) try_lease: Script,
    pub(super) release_lease: Script,
    pub(super) rebuild_load: Script,
    pub(super) master: Script,
    pub(super) begin_create: Script,
    pub(super) finish_create: Script,
    pub(super) intents: Script,
    pub(super) drop_intent: Script,
    pub(super) drain_if_idle: Script,
    pub(super) revive: Script,
    pub(super) begin_delete: Script,
    pub(super) departures: Script,
    pub(super) ack_departures: Script,
    pub(super) migrate_v1: Script,
    pub(super) record_publisher: Script,
    pub(super) events_group: Script,
    pub(super) events_read: Script,
    pub(super) events_pending: Script,
    pub(super) events_claim: Script,
    pub(super) events_forget_consumers: Script,
    pub(super) events_groups: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            register_stage: lua!("register_stage.lua"),
            stages: lua!("stages.lua"),
            set_stage_field: lua!("set_stage_field.lua"),
            remove_stage_if_empty: lua!("remove_stage_if_empty.lua"),
            purge_stage: lua!("purge_stage.lua"),
            join: lua!("join.lua"),
            set_participant: lua!("set_participant.lua"),
            forget: lua!("forget.lua"),
            leave: lua!("leave.lua"),
            viewers: lua!("viewers.lua"),
            watch_duration: lua!("watch_duration.lua"),
            sweep: lua!("sweep.lua"),
            rate_limit: lua_alone!("rate_limit.lua"),
            try_lease: lua_alone!("try_lease.lua"),
            release_lease: lua_alone!("release_lease.lua"),
            rebuild_load: lua!("rebuild_load.lua"),
            master: lua!("master.lua"),
            begin_create: lua!("begin_create.lua"),
            finish_create: lua!("finish_create.lua"),
            intents: lua!("intents.lua"),
            drop_intent: lua!("drop_intent.lua"),
            drain_if_idle: lua!("drain_if_idle.lua"),
            revive: lua!("revive.lua"),
            begin_delete: lua!("begin_delete.lua"),
            departures: lua!("departures.lua"),
            ack_departures: lua!("ack_departures.lua"),
            migrate_v1: lua!("migrate_v1.lua"),
            record_publisher: lua!("publisher.lua"),
            events_group: lua_alone!("events_group.lua"),
            events_read: lua_alone!("events_read.lua"),
            events_pending: lua_alone!("events_pending.lua"),
            events_claim: lua_alone!("events_claim.lua"),
            events_forget_consumers: lua_alone!("events_forget_consumers.lua"),
            events_groups: lua_alone!("events_groups.lua"),
        }
    }

    pub(super) fn all(&self) -> [&Script; 34] {
        [
            &self.register_stage,
            &self.stages,
            &self.set_stage_field,
            &self.remove_stage_if_empty,
            &self.purge_stage,
            &self.join,
            &self.set_participant,
            &self.forget,
            &self.leave,
            &self.viewers,
            &self.watch_duration,
            &self.sweep,
            &self.rate_limit,
            &self.try_lease,
            &self.release_lease,
            &self.rebuild_load,
            &self.master,
            &self.begin_create,
            &self.finish_create,
            &self.intents,
            &self.drop_intent,
            &self.drain_if_idle,
            &self.revive,
            &self.begin_delete,
            &self.departures,
            &self.ack_departures,
            &self.migrate_v1,
            &self.record_publisher,
            &self.events_group,
            &self.events_read,
            &self.events_pending,
            &self.events_claim,
            &self.events_forget_consumers,
            &self.events_groups,
        ]
    }
}

/// A script argument.
pub(crate) enum Arg<'a> {
    Str(&'a str),
    Int(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Str(s)
    }
}

impl From<i64> for Arg<'_> {
    fn from(i: i64) -> Self {
        Arg::Int(i)
    }
}

impl ToRedisArgs for Arg<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        match self {
            Arg::Str(s) => s.write_redis_args(out),
            Arg::Int(i) => i.write_redis_args(out),
        }
    }
}

/// A call of `script` with these keys and arguments.
pub(super) fn invocation<'s, 'k>(
    script: &'s Script,
    keys: impl IntoIterator<Item = &'k str>,
    args: &[Arg<'_>],
) -> ScriptInvocation<'s> {
    let mut invocation = script.prepare_invoke();
    for k in keys {
        invocation.key(k);
    }
    for a in args {
        invocation.arg(a);
    }
    invocation
}

/// A duration in whole milliseconds, as the scripts take it.
pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A duration in whole microseconds (the rate limiter's unit).
pub(super) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A stage record as the scripts store it.
pub(super) fn record_json(stage: &StageRecord) -> StoreResult<String> {
    serde_json::to_string(stage).map_err(|e| corrupt(format!("stage record of {}: {e}", stage.arn)))
}

/// The arguments of the prelude's `register()`, in its order.
pub(super) fn registration_args<'a>(stage: &'a StageRecord, json: &'a str) -> Vec<Arg<'a>> {
    vec![
        stage.arn.as_str().into(),
        json.into(),
        stage.name.as_str().into(),
        flag(stage.kind.is_assignable()).into(),
        flag(stage.draining).into(),
        stage.created_at.into(),
        flag(stage.kind.is_master()).into(),
    ]
}

/// A boolean as the scripts store it.
pub(super) fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// An intent as its script stores it.
pub(super) fn intent_json(intent: &Intent) -> StoreResult<String> {
    serde_json::to_string(intent).map_err(|e| corrupt(format!("intent: {e}")))
}
