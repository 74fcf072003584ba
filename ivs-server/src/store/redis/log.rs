//! The event log's read side on Redis: the deployment's `events` stream and
//! its consumer groups (`XREADGROUP`, `XPENDING`, `XCLAIM`, `XACK`, `XRANGE`).
//! The write side is `emit()` in `prelude.lua`, inside each store step's
//! script. No read blocks (`BLOCK`): the connection is shared by every
//! request, so followers poll.

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use super::reply::{corrupt, int_value, integer, non_negative, text};
use super::scripts::millis;
use super::{Arg, RedisStore};
use crate::store::events::{
    logged_event, recorded_at, Claimed, EventLog, LoggedEvent, PendingEvent,
};
use crate::store::StoreResult;

fn array(v: Value) -> StoreResult<Vec<Value>> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(corrupt(format!(
            "event log: expected an array, got {other:?}"
        ))),
    }
}

impl RedisStore {
    /// One stream entry (`[id, [field, value, …]]`) as an event.
    fn entry(&self, v: Value) -> StoreResult<LoggedEvent> {
        let mut parts = array(v)?.into_iter();
        let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
            return Err(corrupt("event log: a short entry".into()));
        };
        let position = text(id)?;
        let (mut kind, mut data, mut at) = (None, None, None);
        let mut fields = array(fields)?.into_iter();
        while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
            match text(name)?.as_str() {
                "type" => kind = Some(text(value)?),
                "data" => data = Some(text(value)?),
                "at" => at = text(value)?.parse().ok(),
                _ => {}
            }
        }
        let kind = kind.ok_or_else(|| corrupt(format!("event {position} has no type")))?;
        let data = data
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or(serde_json::Value::Null);
        let at = at.or_else(|| recorded_at(&position)).unwrap_or(0);
        Ok(logged_event(self.tag, position, &kind, at, data))
    }

    fn entries(&self, v: Value) -> StoreResult<Vec<LoggedEvent>> {
        array(v)?
            .into_iter()
            // XCLAIM on Redis before 7 answers nil for a deleted entry.
            .filter(|e| !matches!(e, Value::Nil))
            .map(|e| self.entry(e))
            .collect()
    }

    async fn log_script(&self, script: &redis::Script, args: &[Arg<'_>]) -> StoreResult<Value> {
        self.eval(script, &[self.keys.events()], args).await
    }
}

#[async_trait]
impl EventLog for RedisStore {
    async fn create_group(&self, group: &str) -> StoreResult<()> {
        self.log_script(&self.scripts.events_group, &[group.into()])
            .await?;
        Ok(())
    }

    async fn read_new(
        &self,
        group: &str,
        consumer: &str,
        max: u32,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let reply = self
            .log_script(
                &self.scripts.events_read,
                &[group.into(), consumer.into(), i64::from(max.max(1)).into()],
            )
            .await?;
        self.entries(reply)
    }

    async fn pending(
        &self,
        group: &str,
        min_idle: Duration,
        after: Option<&str>,
        max: u32,
    ) -> StoreResult<Vec<PendingEvent>> {
        let start = after.map_or_else(|| "-".to_string(), |a| format!("({a}"));
        let reply = self
            .log_script(
                &self.scripts.events_pending,
                &[
                    group.into(),
                    millis(min_idle).into(),
                    start.as_str().into(),
                    i64::from(max.max(1)).into(),
                ],
            )
            .await?;
        let mut out = Vec::new();
        for item in array(reply)? {
            let mut f = array(item)?.into_iter();
            let (Some(id), Some(consumer), Some(idle), Some(n)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(corrupt("XPENDING: a short entry".into()));
            };
            out.push(PendingEvent {
                position: text(id)?,
                consumer: text(consumer)?,
                idle: Duration::from_millis(non_negative(int_value(Some(idle))?)),
                deliveries: u32::try_from(int_value(Some(n))?).unwrap_or(u32::MAX),
            });
        }
        Ok(out)
    }

    async fn claim(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        positions: &[String],
    ) -> StoreResult<Claimed> {
        if positions.is_empty() {
            return Ok(Claimed::default());
        }
        let mut args: Vec<Arg<'_>> = vec![group.into(), consumer.into(), millis(min_idle).into()];
        args.extend(positions.iter().map(|p| Arg::from(p.as_str())));
        let reply = self.log_script(&self.scripts.events_claim, &args).await?;
        let mut parts = array(reply)?.into_iter();
        let (Some(claimed), Some(trimmed)) = (parts.next(), parts.next()) else {
            return Err(corrupt("claim: a short reply".into()));
        };
        Ok(Claimed {
            events: self.entries(claimed)?,
            trimmed: array(trimmed)?
                .into_iter()
                .map(text)
                .collect::<StoreResult<_>>()?,
        })
    }

    async fn ack(&self, group: &str, positions: &[String]) -> StoreResult<()> {
        if positions.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("XACK");
        cmd.arg(self.keys.events()).arg(group).arg(positions);
        self.query(&cmd).await?;
        Ok(())
    }

    async fn tail(&self, after: Option<&str>, max: u32) -> StoreResult<(String, Vec<LoggedEvent>)> {
        let Some(after) = after else {
            let mut last = redis::cmd("XREVRANGE");
            last.arg(self.keys.events())
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1);
            let newest = self.entries(self.query(&last).await?)?;
            let at = newest
                .into_iter()
                .next()
                .map_or_else(|| "0-0".to_string(), |e| e.position);
            return Ok((at, Vec::new()));
        };
        let mut range = redis::cmd("XRANGE");
        range
            .arg(self.keys.events())
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(max.max(1));
        let events = self.entries(self.query(&range).await?)?;
        let next = events
            .last()
            .map_or_else(|| after.to_string(), |e| e.position.clone());
        Ok((next, events))
    }

    async fn forget_idle_consumers(&self, group: &str, min_idle: Duration) -> StoreResult<u32> {
        let reply = self
            .log_script(
                &self.scripts.events_forget_consumers,
                &[group.into(), millis(min_idle).into()],
            )
            .await?;
        Ok(u32::try_from(non_negative(integer(reply)?)).unwrap_or(u32::MAX))
    }

    async fn groups(&self) -> StoreResult<Vec<(String, u64)>> {
        let reply = self.log_script(&self.scripts.events_groups, &[]).await?;
        let mut out = Vec::new();
        for item in array(reply)? {
            let mut f = array(item)?.into_iter();
            let (Some(name), Some(pending)) = (f.next(), f.next()) else {
                return Err(corrupt("XINFO GROUPS: a short entry".into()));
            };
            out.push((text(name)?, non_negative(integer(pending)?)));
        }
        out.sort();
        Ok(out)
    }

    async fn backlog(&self) -> StoreResult<u64> {
        let mut xlen = redis::cmd("XLEN");
        xlen.arg(self.keys.events());
        Ok(non_negative(integer(self.query(&xlen).await?)?))
    }
}
