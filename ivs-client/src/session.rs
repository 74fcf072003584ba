//! A viewer that stays counted: token, heartbeats, rejoin and token refresh
//! in one background task.
//!
//! [`Client::join`] (or [`Client::viewer_session`] to configure it) asks for
//! a viewer token, then keeps the viewer counted:
//!
//! - a heartbeat every interval (30 s by default, first one at a random
//!   offset), failures reported and retried at the next interval;
//! - when a heartbeat answers `NOT_FOUND` (the server dropped the viewer,
//!   e.g. after a long network outage) it asks for a new viewer token and
//!   emits [`SessionEvent::Rejoined`]; if that fails too it emits
//!   [`SessionEvent::HeartbeatFailed`] and tries again at the next interval.
//!   Only the API's own `NOT_FOUND` body counts ([`Error::is_not_found`]): a
//!   404 page from a proxy is a [`SessionEvent::HeartbeatFailed`], not a
//!   reason to take a new token;
//! - a refresh lead (5 min by default) before the token expires it asks for a
//!   new token and emits [`SessionEvent::TokenRefreshed`]; a failed refresh
//!   emits [`SessionEvent::TokenRefreshFailed`] and is tried again one
//!   interval later. Refreshes are at least one interval apart, so a server
//!   handing out very short tokens cannot make the session spin.
//!
//! The server may place a refreshed or rejoined viewer on another stage: the
//! new [`ViewerToken`] says which, and the application must hand the new
//! token and stage to the IVS player. After a refresh that moved the viewer,
//! the session sends `leave` for the old stage so it is not counted twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::events::{self, EventSender, EventStream};
use crate::heartbeat::{self, FailureCount, Pacing};
use crate::model::{Heartbeat, Timestamp, TokenRequest, UserId, ViewerToken, WatchDuration};
use crate::{Client, Error};

/// How long before a token expires the session gets a new one, by default.
pub const DEFAULT_REFRESH_LEAD: Duration = Duration::from_secs(5 * 60);

const MAX_REFRESH_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);

/// What happened in a viewer session.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The server recorded a heartbeat.
    Heartbeat {
        /// When the server recorded it.
        last_heartbeat: Timestamp,
        /// From sending the request to the answer, the client's retries included.
        round_trip: std::time::Duration,
    },
    /// A heartbeat (or the rejoin after `NOT_FOUND`) failed after the
    /// client's retries; tried again at the next interval.
    HeartbeatFailed {
        /// Why.
        error: Arc<Error>,
        /// Failures in a row, this one included.
        consecutive_failures: u32,
    },
    /// A heartbeat or rejoin succeeded after failures.
    Recovered {
        /// How many failed in a row before.
        after_failures: u32,
    },
    /// The server had dropped the viewer; the session got a new token and is
    /// counted again. Hand `token` (and its `stage_arn`) to the player.
    Rejoined {
        /// The new token.
        token: ViewerToken,
    },
    /// The token was about to expire and has been replaced. Hand `token`
    /// (and its `stage_arn`, which may have changed) to the player.
    TokenRefreshed {
        /// The new token.
        token: ViewerToken,
    },
    /// Getting a fresh token failed; tried again one interval later, while
    /// the current token stays valid until it expires.
    TokenRefreshFailed {
        /// Why.
        error: Arc<Error>,
    },
}

/// Configures a viewer session; get one with [`Client::viewer_session`].
#[derive(Debug, Clone)]
pub struct ViewerSessionBuilder {
    client: Client,
    request: TokenRequest,
    pacing: Pacing,
    refresh_lead: Duration,
}

impl ViewerSessionBuilder {
    /// Time between heartbeats (default 30 s).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.pacing.interval = interval;
        self
    }

    /// How long before the token expires a new one is fetched (default 5 min).
    pub fn refresh_lead(mut self, lead: Duration) -> Self {
        self.refresh_lead = lead;
        self
    }

    /// Whether the first heartbeat waits a random time (default `true`), as
    /// [`HeartbeatBuilder::jitter_start`](crate::HeartbeatBuilder::jitter_start).
    pub fn jitter_start(mut self, jitter: bool) -> Self {
        self.pacing.jitter_start = jitter;
        self
    }

    /// Events kept for a slow reader (default 64), as
    /// [`HeartbeatBuilder::event_capacity`](crate::HeartbeatBuilder::event_capacity).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.pacing.event_capacity = capacity;
        self
    }

    /// Gets the first viewer token, then starts the session's task on the
    /// current Tokio runtime. Fails if the first token cannot be had
    /// (`STAGE_FULL`, `UNAUTHORIZED`, ...).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like [`tokio::spawn`].
    pub async fn spawn(self) -> Result<ViewerSession, Error> {
        // Boxed, as every request below: a request future with its retries
        // is kilobytes, and an unboxed one would be part of this future (and
        // of the caller's) for as long as they live. A load test holds
        // thousands of sessions (docs/performance.md).
        let token = Box::pin(self.client.tokens().viewer(&self.request)).await?;
        let (interval, first_delay) = self.pacing.schedule();
        let (token_tx, token_rx) = watch::channel(token);
        let (events_tx, events_rx) = self.pacing.channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let user_id = self.request.user_id.clone();
        let task = SessionTask {
            client: self.client.clone(),
            request: self.request,
            interval,
            refresh_lead: self.refresh_lead,
            token: token_tx,
            events: events_tx,
            failures: FailureCount::default(),
        };
        let span = tracing::info_span!("ivs_client.viewer_session");
        let task = tokio::spawn(task.run(first_delay, stop_rx).instrument(span));
        Ok(ViewerSession {
            client: self.client,
            user_id,
            token: token_rx,
            events: events_rx,
            stop: Some(stop_tx),
            task,
        })
    }
}

/// A viewer kept counted by a background task. Dropping it stops the task
/// (without `leave`); [`stop`](Self::stop) stops it and sends `leave`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// # let client = ivs_client::Client::new(base_url, api_key)?;
/// use ivs_client::SessionEvent;
///
/// let mut session = client.join("viewer-001".parse()?).await?;
/// println!("play {} with token {}", session.token().stage_arn, session.token().participant_id);
/// # // The session would run until stopped: a moment is enough here.
/// # let _ = tokio::time::timeout(std::time::Duration::from_millis(300), async {
/// while let Some(event) = session.next_event().await {
///     match event {
///         SessionEvent::Rejoined { token } | SessionEvent::TokenRefreshed { token } => {
///             // hand token.token and token.stage_arn to the IVS player
///             # let _ = token;
///         }
///         _ => {}
///     }
/// }
/// # }).await;
/// let watched = session.stop().await?;
/// # assert!(watched.is_some());
/// # Ok(()) }
/// ```
pub struct ViewerSession {
    client: Client,
    user_id: UserId,
    token: watch::Receiver<ViewerToken>,
    events: broadcast::Receiver<SessionEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ViewerSession {
    /// The current token (it changes on rejoin and refresh).
    pub fn token(&self) -> ViewerToken {
        self.token.borrow().clone()
    }

    /// Every token change from now on, for code that only cares about the
    /// token (e.g. the player glue); independent of [`next_event`](Self::next_event).
    pub fn token_updates(&self) -> TokenUpdates {
        let mut rx = self.token.clone();
        // Only changes after this call count as news.
        rx.mark_unchanged();
        TokenUpdates { rx }
    }

    /// The viewer's user id, as sent in the token request.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The next event; `None` once the task has ended and every event was read.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        events::recv(&mut self.events).await
    }

    /// A stream of the events from now on, independent of
    /// [`next_event`](Self::next_event).
    pub fn events(&self) -> EventStream<SessionEvent> {
        EventStream::new(self.events.resubscribe())
    }

    /// Stops the task, then sends `leave` for the current stage and returns
    /// how long the viewer watched (`None` if the server had already dropped it).
    pub async fn stop(mut self) -> Result<Option<WatchDuration>, Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        let stage_arn = self.token.borrow().stage_arn.clone();
        Box::pin(heartbeat::leave(&self.client, &self.user_id, &stage_arn)).await
    }
}

/// The current token of a [`ViewerSession`] and its changes; get it with
/// [`ViewerSession::token_updates`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// # let client = ivs_client::Client::new(base_url, api_key)?;
/// let session = client.join("viewer-001".parse()?).await?;
/// let mut updates = session.token_updates();
/// tokio::spawn(async move {
///     // Ends when the session is stopped or dropped.
///     while let Some(token) = updates.changed().await {
///         println!("hand the player stage {} and its new token", token.stage_arn);
///     }
/// });
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenUpdates {
    rx: watch::Receiver<ViewerToken>,
}

impl TokenUpdates {
    /// Waits for a token newer than the last one this value returned (or
    /// than the one current when it was made) and returns it; `None` once
    /// the session has ended. Tokens replaced in quick succession are
    /// seen as one change: the newest.
    pub async fn changed(&mut self) -> Option<ViewerToken> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().clone())
    }

    /// The current token.
    pub fn current(&self) -> ViewerToken {
        self.rx.borrow().clone()
    }
}

// By hand: the token is a credential and must not end up in logs via `{:?}`.
impl std::fmt::Debug for TokenUpdates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenUpdates")
            .field("stage_arn", &self.rx.borrow().stage_arn)
            .finish_non_exhaustive()
    }
}

// By hand: the token is a credential and must not end up in logs via `{:?}`.
impl std::fmt::Debug for ViewerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerSession")
            .field("user_id", &self.user_id)
            .field("stage_arn", &self.token.borrow().stage_arn)
            .field("finished", &self.task.is_finished())
            .finish_non_exhaustive()
    }
}

impl Drop for ViewerSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct SessionTask {
    client: Client,
    request: TokenRequest,
    interval: Duration,
    refresh_lead: Duration,
    token: watch::Sender<ViewerToken>,
    events: EventSender<SessionEvent>,
    failures: FailureCount,
}

enum Wake {
    Beat,
    Refresh,
}

impl SessionTask {
    async fn run(mut self, first_delay: Duration, mut stop: oneshot::Receiver<()>) {
        let mut ticker = heartbeat::ticker(first_delay, self.interval);
        let mut refresh_at = self.refresh_deadline(Instant::now());
        let mut must_rejoin = false;
        loop {
            let wake = tokio::select! {
                _ = &mut stop => return,
                _ = ticker.tick() => Wake::Beat,
                _ = tokio::time::sleep_until(refresh_at) => Wake::Refresh,
            };
            match wake {
                Wake::Beat => {
                    // A viewer the server dropped, or whose rejoin failed last
                    // time, rejoins instead of beating.
                    let rejoin = must_rejoin || {
                        let sent = Instant::now();
                        let result = tokio::select! {
                            _ = &mut stop => return,
                            r = Box::pin(self.beat()) => r,
                        };
                        let round_trip = sent.elapsed();
                        match result {
                            Ok(beat) => {
                                self.recovered();
                                self.events.emit(SessionEvent::Heartbeat {
                                    last_heartbeat: beat.last_heartbeat,
                                    round_trip,
                                });
                                false
                            }
                            Err(e) if e.is_not_found() => {
                                tracing::info!("server dropped the viewer; rejoining");
                                true
                            }
                            Err(e) => {
                                self.failed(e);
                                false
                            }
                        }
                    };
                    if rejoin {
                        let ok = tokio::select! {
                            _ = &mut stop => return,
                            ok = self.rejoin() => ok,
                        };
                        must_rejoin = !ok;
                        if ok {
                            refresh_at = self.refresh_deadline(Instant::now() + self.interval);
                        }
                    }
                }
                Wake::Refresh => {
                    let result = tokio::select! {
                        _ = &mut stop => return,
                        r = Box::pin(self.client.tokens().viewer(&self.request)) => r,
                    };
                    match result {
                        Ok(token) => {
                            Box::pin(self.leave_previous_stage(&token)).await;
                            self.token.send_replace(token.clone());
                            self.events.emit(SessionEvent::TokenRefreshed { token });
                            refresh_at = self.refresh_deadline(Instant::now() + self.interval);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "token refresh failed");
                            self.events
                                .emit(SessionEvent::TokenRefreshFailed { error: Arc::new(e) });
                            refresh_at = Instant::now() + self.interval;
                        }
                    }
                }
            }
        }
    }

    /// When to refresh the current token: `refresh_lead` before it expires,
    /// but not before `not_before`.
    fn refresh_deadline(&self, not_before: Instant) -> Instant {
        let expires_at = self.token.borrow().expires_at;
        let remaining = (expires_at.0 - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        // Capped so that an absurd expiry cannot overflow the clock arithmetic.
        let wait = remaining
            .saturating_sub(self.refresh_lead)
            .min(MAX_REFRESH_WAIT);
        (Instant::now() + wait).max(not_before)
    }

    /// One heartbeat for the current token's stage.
    async fn beat(&self) -> Result<Heartbeat, Error> {
        let stage_arn = self.token.borrow().stage_arn.clone();
        self.client
            .viewers()
            .heartbeat(&self.request.user_id, &stage_arn)
            .await
    }

    /// Before the current token is replaced by `new`: if `new` moved the
    /// viewer to another stage, `leave` the current one. Best effort:
    /// otherwise the old stage counts the viewer for another 60 s.
    async fn leave_previous_stage(&self, new: &ViewerToken) {
        let old = self.token.borrow().stage_arn.clone();
        if new.stage_arn == old {
            return;
        }
        if let Err(e) = heartbeat::leave(&self.client, &self.request.user_id, &old).await {
            tracing::debug!(error = %e, "leave of the previous stage failed");
        }
    }

    /// Gets a new token after `NOT_FOUND`; whether it worked.
    async fn rejoin(&mut self) -> bool {
        match Box::pin(self.client.tokens().viewer(&self.request)).await {
            Ok(token) => {
                self.recovered();
                self.token.send_replace(token.clone());
                self.events.emit(SessionEvent::Rejoined { token });
                true
            }
            Err(e) => {
                self.failed(e);
                false
            }
        }
    }

    fn recovered(&mut self) {
        if let Some(after_failures) = self.failures.succeeded() {
            self.events.emit(SessionEvent::Recovered { after_failures });
        }
    }

    fn failed(&mut self, error: Error) {
        let consecutive_failures = self.failures.failed();
        tracing::warn!(error = %error, consecutive_failures, "viewer heartbeat failed");
        self.events.emit(SessionEvent::HeartbeatFailed {
            error: Arc::new(error),
            consecutive_failures,
        });
    }
}

impl Client {
    /// Joins as viewer `user_id`: gets a viewer token and keeps the viewer
    /// counted until the session is stopped or dropped. Same as
    /// `client.viewer_session(TokenRequest::new(user_id)).spawn().await`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// // Parsing checks the id's rules (1 to 121 bytes, no control characters).
    /// let session = client.join("viewer-001".parse()?).await?;
    /// # drop(session); Ok(()) }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like [`tokio::spawn`].
    pub async fn join(&self, user_id: UserId) -> Result<ViewerSession, Error> {
        self.viewer_session(TokenRequest::new(user_id))
            .spawn()
            .await
    }

    /// Configures a viewer session for `request` (user id and attributes).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// use std::time::Duration;
    /// use ivs_client::model::TokenRequest;
    /// let session = client
    ///     .viewer_session(TokenRequest::new("viewer-001".parse()?))
    ///     .refresh_lead(Duration::from_secs(120))
    ///     .spawn()
    ///     .await?;
    /// # drop(session); Ok(()) }
    /// ```
    pub fn viewer_session(&self, request: TokenRequest) -> ViewerSessionBuilder {
        ViewerSessionBuilder {
            client: self.clone(),
            request,
            pacing: Pacing::default(),
            refresh_lead: DEFAULT_REFRESH_LEAD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TokenRequest;

    /// A load test holds thousands of sessions: what a session keeps while
    /// it waits for the next beat must not include a request in flight.
    /// Requests are boxed; unboxed, each future below was over 2.4 KB.
    #[tokio::test]
    async fn a_waiting_session_is_small() {
        let client = Client::builder()
            .base_url("http://127.0.0.1:9")
            .api_key("k")
            .build()
            .unwrap();
        let spawn = client
            .viewer_session(TokenRequest::new("u".parse().unwrap()))
            .spawn();
        assert!(
            std::mem::size_of_val(&spawn) <= 1024,
            "{}",
            std::mem::size_of_val(&spawn)
        );
        let token: ViewerToken = serde_json::from_value(serde_json::json!({
            "token": "t", "participantId": "p", "userId": "u",
            "stageArn": "arn:aws:ivs:ap-northeast-1:123456789012:stage/abc",
            "expiresAt": "2025-10-19T13:00:00.000Z", "capabilities": ["SUBSCRIBE"],
            "currentViewers": 1, "attributes": {}
        }))
        .unwrap();
        let (token, _) = watch::channel(token);
        let task = SessionTask {
            client: client.clone(),
            request: TokenRequest::new("u".parse().unwrap()),
            interval: Duration::from_secs(30),
            refresh_lead: Duration::from_secs(60),
            token,
            events: events::channel(4).0,
            failures: FailureCount::default(),
        };
        let run = task.run(Duration::ZERO, oneshot::channel().1);
        assert!(
            std::mem::size_of_val(&run) <= 1024,
            "{}",
            std::mem::size_of_val(&run)
        );
    }
}
