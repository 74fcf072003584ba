//! The in-process event log: a Redis stream with consumer groups, kept in
//! the store's own state so that an event is recorded under the same lock
//! as the change it describes. Same positions (`<ms>-<seq>`), same group
//! rules, same bound (exact here; Redis trims by whole nodes).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::time::Duration;

use serde_json::Value;

use crate::store::events::{logged_event, Claimed, LoggedEvent, PendingEvent, Position};
use crate::store::{Millis, StoreResult};

struct Entry {
    position: Position,
    event_type: &'static str,
    timestamp: Millis,
    /// As JSON text, as Redis keeps it: a third of the size of a parsed
    /// `Value`, and every entry waits until the bound drops it.
    data: Box<str>,
}

struct Pending {
    consumer: String,
    /// When it was last handed to a consumer (store clock, ms).
    since: Millis,
    deliveries: u32,
}

struct Group {
    /// The last position handed to any consumer (`>` reads after it).
    delivered: Position,
    pending: BTreeMap<Position, Pending>,
    /// Each consumer the group knows and when it last read an event (store
    /// clock, ms); a claim makes an unknown consumer known, as `XCLAIM` does.
    consumers: HashMap<String, Millis>,
}

pub(super) struct EventBuffer {
    tag: u32,
    cap: usize,
    entries: VecDeque<Entry>,
    last: Position,
    groups: HashMap<String, Group>,
}

fn idle(since: Millis, now: Millis) -> Duration {
    Duration::from_millis(u64::try_from(now.saturating_sub(since)).unwrap_or(0))
}

impl EventBuffer {
    pub(super) fn new(tag: u32, cap: u64) -> Self {
        EventBuffer {
            tag,
            cap: usize::try_from(cap.max(1)).unwrap_or(usize::MAX),
            entries: VecDeque::new(),
            last: Position::default(),
            groups: HashMap::new(),
        }
    }

    /// Appends an event recorded at `now` (store clock) that happened at
    /// `timestamp`, dropping the oldest beyond the bound.
    pub(super) fn record(
        &mut self,
        now: Millis,
        event_type: &'static str,
        timestamp: Millis,
        data: Value,
    ) {
        self.last = self.last.next(now);
        self.entries.push_back(Entry {
            position: self.last,
            event_type,
            timestamp,
            data: data.to_string().into_boxed_str(),
        });
        while self.entries.len() > self.cap {
            self.entries.pop_front();
        }
    }

    fn logged(tag: u32, e: &Entry) -> LoggedEvent {
        let data = serde_json::from_str(&e.data).unwrap_or(Value::Null);
        logged_event(tag, e.position.to_string(), e.event_type, e.timestamp, data)
    }

    /// Index of the first entry after `after`.
    fn first_after(&self, after: Position) -> usize {
        self.entries.partition_point(|e| e.position <= after)
    }

    fn holds(&self, position: Position) -> bool {
        self.entries
            .binary_search_by(|e| e.position.cmp(&position))
            .is_ok()
    }

    pub(super) fn create_group(&mut self, group: &str) {
        let last = self.last;
        self.groups.entry(group.to_string()).or_insert(Group {
            delivered: last,
            pending: BTreeMap::new(),
            consumers: HashMap::new(),
        });
    }

    pub(super) fn read_new(
        &mut self,
        group: &str,
        consumer: &str,
        max: u32,
        now: Millis,
    ) -> Vec<LoggedEvent> {
        // A missing group is created (at the end) as Redis' store does after
        // losing its data: delivery goes on with what comes next.
        self.create_group(group);
        let Some(g) = self.groups.get_mut(group) else {
            return Vec::new();
        };
        let start = self.entries.partition_point(|e| e.position <= g.delivered);
        let mut out = Vec::new();
        for e in self.entries.range(start..).take(max.max(1) as usize) {
            g.delivered = e.position;
            g.pending.insert(
                e.position,
                Pending {
                    consumer: consumer.to_string(),
                    since: now,
                    deliveries: 1,
                },
            );
            out.push(Self::logged(self.tag, e));
        }
        // As on Redis 7.0: a read that hands out nothing neither makes nor
        // refreshes a consumer (7.2 refreshes; nothing here depends on it).
        if !out.is_empty() {
            g.consumers.insert(consumer.to_string(), now);
        }
        out
    }

    pub(super) fn pending(
        &self,
        group: &str,
        min_idle: Duration,
        after: Option<&str>,
        max: u32,
        now: Millis,
    ) -> StoreResult<Vec<PendingEvent>> {
        let Some(g) = self.groups.get(group) else {
            return Ok(Vec::new());
        };
        let from = match after {
            Some(a) => Bound::Excluded(Position::parse(a)?),
            None => Bound::Unbounded,
        };
        Ok(g.pending
            .range((from, Bound::Unbounded))
            .filter(|(_, p)| idle(p.since, now) >= min_idle)
            .take(max.max(1) as usize)
            .map(|(pos, p)| PendingEvent {
                position: pos.to_string(),
                consumer: p.consumer.clone(),
                idle: idle(p.since, now),
                deliveries: p.deliveries,
            })
            .collect())
    }

    pub(super) fn claim(
        &mut self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        positions: &[String],
        now: Millis,
    ) -> StoreResult<Claimed> {
        let mut claimed = Claimed::default();
        let parsed = positions
            .iter()
            .map(|p| Position::parse(p))
            .collect::<StoreResult<Vec<_>>>()?;
        let held: Vec<bool> = parsed.iter().map(|p| self.holds(*p)).collect();
        let Some(g) = self.groups.get_mut(group) else {
            return Ok(claimed);
        };
        g.consumers.entry(consumer.to_string()).or_insert(now);
        for (pos, in_log) in parsed.into_iter().zip(held) {
            let Some(p) = g.pending.get_mut(&pos) else {
                continue;
            };
            if idle(p.since, now) < min_idle {
                continue;
            }
            if !in_log {
                g.pending.remove(&pos);
                claimed.trimmed.push(pos.to_string());
                continue;
            }
            p.consumer = consumer.to_string();
            p.since = now;
            p.deliveries += 1;
            let i = self.entries.partition_point(|e| e.position < pos);
            if let Some(e) = self.entries.get(i) {
                claimed.events.push(Self::logged(self.tag, e));
            }
        }
        Ok(claimed)
    }

    pub(super) fn ack(&mut self, group: &str, positions: &[String]) -> StoreResult<()> {
        let parsed = positions
            .iter()
            .map(|p| Position::parse(p))
            .collect::<StoreResult<Vec<_>>>()?;
        if let Some(g) = self.groups.get_mut(group) {
            for pos in parsed {
                g.pending.remove(&pos);
            }
        }
        Ok(())
    }

    pub(super) fn forget_idle_consumers(
        &mut self,
        group: &str,
        min_idle: Duration,
        now: Millis,
    ) -> u32 {
        let Some(g) = self.groups.get_mut(group) else {
            return 0;
        };
        let holding: std::collections::HashSet<&str> =
            g.pending.values().map(|p| p.consumer.as_str()).collect();
        let gone: Vec<String> = g
            .consumers
            .iter()
            .filter(|(name, seen)| {
                !holding.contains(name.as_str()) && idle(**seen, now) >= min_idle
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in &gone {
            g.consumers.remove(name);
        }
        u32::try_from(gone.len()).unwrap_or(u32::MAX)
    }

    pub(super) fn groups(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .groups
            .iter()
            .map(|(name, g)| (name.clone(), g.pending.len() as u64))
            .collect();
        out.sort();
        out
    }

    pub(super) fn tail(
        &self,
        after: Option<&str>,
        max: u32,
    ) -> StoreResult<(String, Vec<LoggedEvent>)> {
        let Some(after) = after else {
            return Ok((self.last.to_string(), Vec::new()));
        };
        let from = Position::parse(after)?;
        let events: Vec<LoggedEvent> = self
            .entries
            .range(self.first_after(from)..)
            .take(max.max(1) as usize)
            .map(|e| Self::logged(self.tag, e))
            .collect();
        let next = events
            .last()
            .map_or_else(|| after.to_string(), |e| e.position.clone());
        Ok((next, events))
    }

    pub(super) fn len(&self) -> u64 {
        self.entries.len() as u64
    }
}
