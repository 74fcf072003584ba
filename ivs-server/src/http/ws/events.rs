//! The `/ws` `events` channel: the fleet's events, read from the store's
//! event log so that every instance shows every instance's events.
//!
//! One task per instance follows the log while at least one connection is
//! subscribed: every [`POLL_INTERVAL`] it asks for what was recorded after the
//! position it holds (a plain read, never a blocking one, so a Redis
//! connection is never parked on it), serialises each event once and hands it
//! to the subscribers through a bounded broadcast channel. Nobody subscribed:
//! no reads at all, and the position is dropped, so the next subscriber
//! follows from then on instead of receiving a backlog.
//!
//! A subscriber that falls more than [`BUFFER`] events behind is told how
//! many it missed and closed (1013, try again later): it never silently skips
//! events, and it cannot hold the others back.

use std::sync::Arc;
use std::time::Duration;

use ivs_api::ServerMessage;
use tokio::sync::{broadcast, watch, Notify};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::store::events::EventLog;
use crate::store::{StoreResult, ViewerStore};

/// How often the follower asks the log for new events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Events a subscriber may be behind before it is closed.
pub const BUFFER: usize = 1024;
/// Most events read in one request to the log.
const BATCH: u32 = 256;

/// The channel's shared end: subscribers take a receiver from it.
#[derive(Clone)]
pub struct EventFeed {
    tx: broadcast::Sender<Utf8Bytes>,
    /// Wakes the follower when the first subscriber arrives, so that it
    /// anchors its position now rather than up to one interval later.
    wake: Arc<Notify>,
}

impl Default for EventFeed {
    fn default() -> Self {
        EventFeed {
            tx: broadcast::channel(BUFFER).0,
            wake: Arc::default(),
        }
    }
}

impl EventFeed {
    /// A receiver of every event serialised from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Utf8Bytes> {
        let rx = self.tx.subscribe();
        self.wake.notify_one();
        rx
    }

    /// Connections subscribed to the channel on this instance.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// Where the follower is in the log.
#[derive(Debug, Default)]
pub struct Follower {
    after: Option<String>,
}

impl Follower {
    /// One read: with subscribers, the events recorded since the last read
    /// are handed to them (the first read only anchors the position);
    /// without, the position is forgotten. Returns how many were sent.
    pub async fn step(&mut self, log: &dyn EventLog, feed: &EventFeed) -> StoreResult<usize> {
        if feed.subscribers() == 0 {
            self.after = None;
            return Ok(0);
        }
        let mut sent = 0;
        loop {
            let (next, events) = log.tail(self.after.as_deref(), BATCH).await?;
            let full = events.len() >= BATCH as usize;
            for logged in events {
                let msg = ServerMessage::Event { data: logged.event };
                match serde_json::to_string(&msg) {
                    // An error only means nobody is subscribed any more.
                    Ok(text) => {
                        let _ = feed.tx.send(Utf8Bytes::from(text));
                        sent += 1;
                    }
                    Err(e) => tracing::warn!(error = %e, "an event could not be serialised"),
                }
            }
            self.after = Some(next);
            if !full {
                return Ok(sent);
            }
        }
    }
}

/// Follows the store's event log for the feed's subscribers until shutdown.
pub async fn run_follower(
    store: Arc<dyn ViewerStore>,
    feed: EventFeed,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut follower = Follower::default();
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = feed.wake.notified() => {}
            _ = shutdown.changed() => break,
        }
        match follower.step(store.event_log(), &feed).await {
            Ok(_) => failing = false,
            // Logged once per outage, not four times a second.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "reading the event log failed; retrying");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use ivs_api::{Event, EventKind};

    use super::*;
    use crate::store::events::{Claimed, LoggedEvent, PendingEvent};

    /// A log holding events in memory, with `tail`'s semantics only.
    #[derive(Default)]
    struct Tail {
        events: Mutex<Vec<LoggedEvent>>,
        reads: Mutex<u32>,
    }

    impl Tail {
        fn record(&self, n: usize) {
            let mut events = self.events.lock().unwrap();
            for _ in 0..n {
                let position = format!("1-{}", events.len() + 1);
                let event: Event = serde_json::from_value(serde_json::json!({
                    "id": format!("evt_{position}"),
                    "timestamp": "2026-01-01T00:00:00.000Z",
                    "type": "stage.draining",
                    "data": {"stageArn": "arn:aws:ivs:ap-northeast-1:123456789012:stage/abcdABCD1234"}
                }))
                .unwrap();
                events.push(LoggedEvent { position, event });
            }
        }
    }

    fn seq(position: &str) -> usize {
        position.rsplit('-').next().unwrap().parse().unwrap()
    }

    #[async_trait]
    impl EventLog for Tail {
        async fn create_group(&self, _: &str) -> StoreResult<()> {
            unimplemented!()
        }
        async fn read_new(&self, _: &str, _: &str, _: u32) -> StoreResult<Vec<LoggedEvent>> {
            unimplemented!()
        }
        async fn pending(
            &self,
            _: &str,
            _: Duration,
            _: Option<&str>,
            _: u32,
        ) -> StoreResult<Vec<PendingEvent>> {
            unimplemented!()
        }
        async fn claim(&self, _: &str, _: &str, _: Duration, _: &[String]) -> StoreResult<Claimed> {
            unimplemented!()
        }
        async fn ack(&self, _: &str, _: &[String]) -> StoreResult<()> {
            unimplemented!()
        }
        async fn forget_idle_consumers(&self, _: &str, _: Duration) -> StoreResult<u32> {
            unimplemented!()
        }
        async fn groups(&self) -> StoreResult<Vec<(String, u64)>> {
            unimplemented!()
        }
        async fn tail(
            &self,
            after: Option<&str>,
            max: u32,
        ) -> StoreResult<(String, Vec<LoggedEvent>)> {
            *self.reads.lock().unwrap() += 1;
            let events = self.events.lock().unwrap();
            let last = format!("1-{}", events.len());
            let Some(after) = after else {
                return Ok((last, Vec::new()));
            };
            let page: Vec<_> = events
                .iter()
                .filter(|e| seq(&e.position) > seq(after))
                .take(max as usize)
                .cloned()
                .collect();
            let next = page
                .last()
                .map_or(after.to_string(), |e| e.position.clone());
            Ok((next, page))
        }
        async fn backlog(&self) -> StoreResult<u64> {
            Ok(self.events.lock().unwrap().len() as u64)
        }
    }

    fn kind(text: &str) -> EventKind {
        match serde_json::from_str::<ServerMessage>(text).unwrap() {
            ServerMessage::Event { data } => data.kind,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[tokio::test]
    async fn without_subscribers_the_log_is_not_read() {
        let (log, feed) = (Tail::default(), EventFeed::default());
        let mut follower = Follower::default();
        log.record(3);
        assert_eq!(follower.step(&log, &feed).await.unwrap(), 0);
        assert_eq!(*log.reads.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn subscribers_get_what_is_recorded_after_they_came_in_order() {
        let (log, feed) = (Tail::default(), EventFeed::default());
        let mut follower = Follower::default();
        log.record(2);
        let mut rx = feed.subscribe();
        // The first read anchors: what was recorded before is not replayed.
        assert_eq!(follower.step(&log, &feed).await.unwrap(), 0);
        log.record(600);
        // More than one batch: read until caught up, in one step.
        assert_eq!(follower.step(&log, &feed).await.unwrap(), 600);
        let mut ids = Vec::new();
        while let Ok(text) = rx.try_recv() {
            assert!(matches!(kind(&text), EventKind::StageDraining(_)));
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            ids.push(v["data"]["id"].as_str().unwrap().to_string());
        }
        let want: Vec<_> = (3..=602).map(|i| format!("evt_1-{i}")).collect();
        assert_eq!(ids, want);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_learns_it() {
        let (log, feed) = (Tail::default(), EventFeed::default());
        let mut follower = Follower::default();
        let mut rx = feed.subscribe();
        follower.step(&log, &feed).await.unwrap();
        log.record(BUFFER + 10);
        follower.step(&log, &feed).await.unwrap();
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
    }

    #[tokio::test]
    async fn the_position_is_dropped_when_the_last_subscriber_leaves() {
        let (log, feed) = (Tail::default(), EventFeed::default());
        let mut follower = Follower::default();
        let rx = feed.subscribe();
        follower.step(&log, &feed).await.unwrap();
        drop(rx);
        follower.step(&log, &feed).await.unwrap();
        log.record(5);
        // Back: it follows from now on, without the five it was away for.
        let mut rx = feed.subscribe();
        assert_eq!(follower.step(&log, &feed).await.unwrap(), 0);
        log.record(1);
        assert_eq!(follower.step(&log, &feed).await.unwrap(), 1);
        assert!(rx.try_recv().is_ok());
    }
}
