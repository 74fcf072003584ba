//! A background task that keeps one viewer counted.
//!
//! Start one with [`Client::start_heartbeat`] or [`Client::heartbeat_builder`].
//! The [`HeartbeatHandle`] owns the task:
//!
//! - [`HeartbeatHandle::stop`] ends the task, then sends `leave` and returns
//!   the watch duration (`None` when the server no longer knew the viewer).
//! - Dropping the handle ends the task at once, without `leave`: the server
//!   drops the viewer after 60 s without a heartbeat.
//!
//! The task outlives server outages: a failed heartbeat (after the client's
//! own retries) is reported as [`HeartbeatEvent::Failed`] and the next one
//! is sent at the next interval, however many fail. Every error but
//! `NOT_FOUND` is treated this way, `UNAUTHORIZED` included, so the
//! application decides when to give up. `NOT_FOUND` means the server has
//! removed the viewer; the task reports [`HeartbeatEvent::Expired`] and ends
//! (get a new token to be counted again, or use a
//! [`ViewerSession`](crate::ViewerSession), which does that by itself).
//! Only the API's own answer counts as `NOT_FOUND` (a 404 with its JSON
//! error body, [`Error::is_not_found`]): a 404 from something in between —
//! a proxy's or load balancer's HTML page during a deployment, say — says
//! nothing about the viewer and is a [`HeartbeatEvent::Failed`] like any
//! other.
//!
//! Events never hold the task up: see [`EventStream`] — a reader that falls
//! more than the channel capacity (64 by default) behind loses the oldest.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use crate::events::{self, DEFAULT_EVENT_CAPACITY, EventSender, EventStream};
use crate::model::{StageArn, Timestamp, UserId, WatchDuration};
use crate::{Client, Error};

/// The heartbeat period the API asks for.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// What happened in a heartbeat task.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HeartbeatEvent {
    /// The server recorded a heartbeat.
    Beat {
        /// When the server recorded it.
        last_heartbeat: Timestamp,
        /// From sending the request to the answer, the client's retries included.
        round_trip: std::time::Duration,
    },
    /// A heartbeat failed after the client's retries; the next one goes at
    /// the next interval.
    Failed {
        /// Why.
        error: Arc<Error>,
        /// Failures in a row, this one included.
        consecutive_failures: u32,
    },
    /// A heartbeat succeeded after failures (a [`Beat`](Self::Beat) follows).
    Recovered {
        /// How many failed in a row before.
        after_failures: u32,
    },
    /// The server answered `NOT_FOUND` with the API's error body: it no
    /// longer counts this viewer. The task stops beating. (A 404 without
    /// the API's body is [`Failed`](Self::Failed).)
    Expired,
}

/// Configures a heartbeat task; get one with [`Client::heartbeat_builder`].
#[derive(Debug, Clone)]
pub struct HeartbeatBuilder {
    client: Client,
    user_id: UserId,
    stage_arn: StageArn,
    pacing: Pacing,
}

/// When a task's heartbeats go and how many events it keeps: what a
/// heartbeat task and a viewer session are configured alike with.
#[derive(Debug, Clone)]
pub(crate) struct Pacing {
    pub(crate) interval: Duration,
    pub(crate) jitter_start: bool,
    pub(crate) event_capacity: usize,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            interval: DEFAULT_HEARTBEAT_INTERVAL,
            jitter_start: true,
            event_capacity: DEFAULT_EVENT_CAPACITY,
        }
    }
}

impl Pacing {
    /// The period to beat at and the wait before the first beat.
    pub(crate) fn schedule(&self) -> (Duration, Duration) {
        // A zero period would make tokio's interval panic.
        let interval = self.interval.max(Duration::from_millis(1));
        let first_delay = if self.jitter_start {
            random_offset(interval)
        } else {
            Duration::ZERO
        };
        (interval, first_delay)
    }

    /// The task's event channel.
    pub(crate) fn channel<T: Clone>(&self) -> (EventSender<T>, broadcast::Receiver<T>) {
        events::channel(self.event_capacity)
    }
}

impl HeartbeatBuilder {
    /// Time between heartbeats (default 30 s; the server drops a viewer
    /// after 60 s without one).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.pacing.interval = interval;
        self
    }

    /// Whether the first heartbeat waits a random time in `[0, interval)`
    /// (default `true`), so that thousands of viewers started together do
    /// not beat in lockstep. With `false` the first one goes at once.
    pub fn jitter_start(mut self, jitter: bool) -> Self {
        self.pacing.jitter_start = jitter;
        self
    }

    /// Events kept for a slow reader before the oldest are dropped (default 64).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.pacing.event_capacity = capacity;
        self
    }

    /// Starts the task on the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like [`tokio::spawn`].
    pub fn spawn(self) -> HeartbeatHandle {
        let (interval, first_delay) = self.pacing.schedule();
        let (events_tx, events_rx) = self.pacing.channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let span = tracing::info_span!("ivs_client.heartbeat", stage_arn = %self.stage_arn);
        let task = tokio::spawn(
            run(
                self.client.clone(),
                self.user_id.clone(),
                self.stage_arn.clone(),
                interval,
                first_delay,
                events_tx,
                stop_rx,
            )
            .instrument(span),
        );
        HeartbeatHandle {
            client: self.client,
            user_id: self.user_id,
            stage_arn: self.stage_arn,
            events: events_rx,
            stop: Some(stop_tx),
            task,
        }
    }
}

/// A random time in `[0, period)`.
pub(crate) fn random_offset(period: Duration) -> Duration {
    period.mul_f64(rand::random::<f64>())
}

/// Owns a running heartbeat task. Dropping it stops the task (without
/// sending `leave`); [`stop`](Self::stop) stops it and sends `leave`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// # let client = ivs_client::Client::new(base_url, api_key)?;
/// use ivs_client::{model::TokenRequest, HeartbeatEvent, UserId};
///
/// // A viewer token, then heartbeats for its user id and the stage it assigned.
/// let user: UserId = "viewer-001".parse()?;
/// let token = client.tokens().viewer(&TokenRequest::new(user.clone())).await?;
/// let mut beats = client.start_heartbeat(user, token.stage_arn);
/// # // The example's viewer would beat until it expires: a moment is enough here.
/// # let _ = tokio::time::timeout(std::time::Duration::from_millis(300), async {
/// while let Some(event) = beats.next_event().await {
///     match event {
///         HeartbeatEvent::Failed { consecutive_failures, .. } if consecutive_failures > 3 => break,
///         HeartbeatEvent::Expired => break,
///         _ => {}
///     }
/// }
/// # }).await;
/// if let Some(watched) = beats.stop().await? {
///     println!("watched {}", watched.watch_duration_formatted);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HeartbeatHandle {
    client: Client,
    user_id: UserId,
    stage_arn: StageArn,
    events: broadcast::Receiver<HeartbeatEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HeartbeatHandle {
    /// The next event; `None` once the task has ended (after
    /// [`Expired`](HeartbeatEvent::Expired)) and every event was read.
    pub async fn next_event(&mut self) -> Option<HeartbeatEvent> {
        events::recv(&mut self.events).await
    }

    /// A stream of the events from now on, independent of
    /// [`next_event`](Self::next_event) (each reader gets every event).
    pub fn events(&self) -> EventStream<HeartbeatEvent> {
        EventStream::new(self.events.resubscribe())
    }

    /// Whether the task has ended (it ends by itself only on `Expired`).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The viewer's user id.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The stage it beats for.
    pub fn stage_arn(&self) -> &StageArn {
        &self.stage_arn
    }

    /// Stops the task (abandoning a heartbeat in flight), then sends
    /// `leave` and returns how long the viewer watched. `Ok(None)` when the
    /// server answered `NOT_FOUND` because it had already dropped the viewer.
    pub async fn stop(mut self) -> Result<Option<WatchDuration>, Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The task ends at its next poll; waiting for it means no heartbeat
        // can reach the server after the leave.
        let _ = (&mut self.task).await;
        leave(&self.client, &self.user_id, &self.stage_arn).await
    }
}

impl Drop for HeartbeatHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn leave(
    client: &Client,
    user_id: &UserId,
    stage_arn: &StageArn,
) -> Result<Option<WatchDuration>, Error> {
    match client.viewers().leave(user_id, stage_arn).await {
        Ok(duration) => Ok(Some(duration)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Counts consecutive failures and turns outcomes into events.
#[derive(Debug, Default)]
pub(crate) struct FailureCount(u32);

impl FailureCount {
    /// Records a failure; returns the count in a row.
    pub(crate) fn failed(&mut self) -> u32 {
        self.0 = self.0.saturating_add(1);
        self.0
    }

    /// Records a success; returns how many failed before, if any.
    pub(crate) fn succeeded(&mut self) -> Option<u32> {
        let before = std::mem::take(&mut self.0);
        (before > 0).then_some(before)
    }
}

pub(crate) fn ticker(first_delay: Duration, interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval_at(Instant::now() + first_delay, interval);
    // After a long stall (a slow retry), beat once and keep the period from
    // there rather than firing a burst of catch-up heartbeats.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

async fn run(
    client: Client,
    user_id: UserId,
    stage_arn: StageArn,
    interval: Duration,
    first_delay: Duration,
    events: EventSender<HeartbeatEvent>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ticker = ticker(first_delay, interval);
    let mut failures = FailureCount::default();
    loop {
        // A dropped handle also resolves `stop` (with an error): either way, end.
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let sent = tokio::time::Instant::now();
        let result = tokio::select! {
            _ = &mut stop => return,
            r = client.viewers().heartbeat(&user_id, &stage_arn) => r,
        };
        let round_trip = sent.elapsed();
        match result {
            Ok(beat) => {
                if let Some(after_failures) = failures.succeeded() {
                    events.emit(HeartbeatEvent::Recovered { after_failures });
                }
                events.emit(HeartbeatEvent::Beat {
                    last_heartbeat: beat.last_heartbeat,
                    round_trip,
                });
            }
            Err(e) if e.is_not_found() => {
                tracing::info!("server no longer counts the viewer; heartbeat task ends");
                events.emit(HeartbeatEvent::Expired);
                return;
            }
            Err(e) => {
                let consecutive_failures = failures.failed();
                tracing::warn!(error = %e, consecutive_failures, "heartbeat failed");
                events.emit(HeartbeatEvent::Failed {
                    error: Arc::new(e),
                    consecutive_failures,
                });
            }
        }
    }
}

impl Client {
    /// Starts a task that sends `user_id`'s heartbeat for `stage_arn` every
    /// 30 s, the first after a random offset. See [`heartbeat_builder`](Self::heartbeat_builder)
    /// to change that, and the [`heartbeat`](crate::heartbeat) module for the behaviour.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like [`tokio::spawn`].
    pub fn start_heartbeat(&self, user_id: UserId, stage_arn: StageArn) -> HeartbeatHandle {
        self.heartbeat_builder(user_id, stage_arn).spawn()
    }

    /// Configures a heartbeat task for `user_id` on `stage_arn`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// use std::time::Duration;
    /// use ivs_client::{StageArn, UserId};
    ///
    /// let user: UserId = "viewer-001".parse()?;
    /// let stage: StageArn = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8".parse()?;
    /// let handle = client
    ///     .heartbeat_builder(user, stage)
    ///     .interval(Duration::from_secs(20))
    ///     .jitter_start(false)
    ///     .spawn();
    /// # drop(handle); Ok(()) }
    /// ```
    pub fn heartbeat_builder(&self, user_id: UserId, stage_arn: StageArn) -> HeartbeatBuilder {
        HeartbeatBuilder {
            client: self.clone(),
            user_id,
            stage_arn,
            pacing: Pacing::default(),
        }
    }
}
