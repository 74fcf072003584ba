//! The delivery loop of each endpoint: new events are read from the
//! endpoint's consumer group and POSTed with bounded concurrency, a 2xx
//! acknowledges, and events left unacknowledged are taken over (`claim`) by
//! whichever instance finds them due under the retry schedule.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use reqwest::Url;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::answer::{pause_after, PauseReason};
use super::schedule::Schedule;
use super::settings::EventFilter;
use super::sign::{Signer, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::metrics::webhooks::{DropReason, EndpointMetrics};
use crate::service::{now_ms, App};
use crate::store::events::{recorded_at, LoggedEvent};
use crate::store::{StoreError, ViewerStore};

/// How often each endpoint's loop looks for new and due events. Reads never
/// block in the store: a blocking read would hold a Redis connection.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Longest one poll keeps reading new events before it returns to retries
/// and gauges.
const READ_BUDGET: Duration = Duration::from_secs(1);
/// Most new events read at once; they wait in memory for a request slot.
const MAX_READ: u32 = 256;
/// Pending events looked at per page, and pages per poll.
const PENDING_PAGE: u32 = 256;
const PENDING_PAGES_PER_POLL: usize = 4;
/// How often the backlog gauges are read.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the group's consumers are looked at, and how long one must
/// have read nothing, holding no event, to be forgotten: every instance is a
/// consumer (its instance id), so without this each restart of a fleet
/// would leave one behind in every group, for good.
const CONSUMER_SWEEP_INTERVAL: Duration = Duration::from_secs(600);
const CONSUMER_MAX_IDLE: Duration = Duration::from_secs(3600);
/// Longest shutdown waits for attempts in flight; those cut short are
/// retried (by another instance, or after the restart).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What every endpoint's consumer group is named with, before its id.
pub const GROUP_PREFIX: &str = "webhook:";

/// One configured endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where events are POSTed.
    pub url: Url,
    /// A stable id: the first 12 hex digits of the URL's SHA-256. Names the
    /// consumer group and labels logs and metrics (the URL may hold a token).
    pub id: String,
}

impl Endpoint {
    /// The endpoint of a URL.
    pub fn new(url: Url) -> Self {
        let d = digest::digest(&digest::SHA256, url.as_str().as_bytes());
        let id = d.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Endpoint { url, id }
    }

    /// Its consumer group in the event log.
    pub fn group(&self) -> String {
        format!("{GROUP_PREFIX}{}", self.id)
    }
}

/// The endpoints the settings configure (none when webhooks are off).
pub fn endpoints(app: &App) -> Vec<Endpoint> {
    let w = &app.settings().webhooks;
    match (&w.urls, &w.secret) {
        (Some(urls), Some(_)) => urls.0.iter().cloned().map(Endpoint::new).collect(),
        _ => Vec::new(),
    }
}

/// Creates every endpoint's consumer group (a no-op for existing ones). Run
/// at start before anything records an event, so that a first start's
/// events (the master stage's `stage.created`) are delivered too.
pub async fn create_groups(app: &App) -> Result<(), StoreError> {
    let configured = endpoints(app);
    for e in &configured {
        app.store().event_log().create_group(&e.group()).await?;
    }
    warn_of_unconfigured_groups(app, &configured).await;
    Ok(())
}

/// Logs the webhook groups of endpoints this instance does not deliver to:
/// a URL removed from (or changed in) `IVS_WEBHOOK_URLS` leaves its group,
/// and whatever was pending in it, in the log for good. They are not
/// deleted here: during a rolling change of the settings, another instance
/// may still deliver to that endpoint. The operator deletes them once no
/// instance does (docs/webhooks.md, "Removing an endpoint").
async fn warn_of_unconfigured_groups(app: &App, configured: &[Endpoint]) {
    let groups = match app.store().event_log().groups().await {
        Ok(g) => g,
        Err(e) => {
            tracing::debug!(error = %e, "webhooks: the log's groups could not be listed");
            return;
        }
    };
    for (group, pending) in groups {
        let Some(id) = group.strip_prefix(GROUP_PREFIX) else {
            continue;
        };
        if configured.iter().any(|e| e.group() == group) {
            continue;
        }
        tracing::warn!(
            endpoint = id,
            pending,
            "webhooks: the event log keeps the group of an endpoint this instance does not deliver to (a URL removed or changed?); once no instance delivers to it, delete it with XGROUP DESTROY (docs/webhooks.md)"
        );
    }
}

/// Delivers events to every configured endpoint until `stop` turns true.
pub async fn run(app: Arc<App>, stop: watch::Receiver<bool>) {
    let endpoints = endpoints(&app);
    let w = &app.settings().webhooks;
    let (Some(secret), false) = (&w.secret, endpoints.is_empty()) else {
        return;
    };
    let client = match reqwest::Client::builder()
        .timeout(w.timeout)
        // Standard Webhooks: a redirect is a failure (update the URL instead).
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ivs-server-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: the HTTP client could not be built; no webhooks are sent");
            return;
        }
    };
    let signer = Arc::new(Signer::new(secret.key()));
    let mut workers = JoinSet::new();
    for endpoint in endpoints {
        tracing::info!(
            endpoint = %endpoint.id,
            host = endpoint.url.host_str().unwrap_or(""),
            events = ?w.events.patterns(),
            "webhooks: delivering"
        );
        let shared = Arc::new(Shared {
            store: app.store().clone(),
            group: endpoint.group(),
            metrics: app.metrics().webhooks.endpoint(&endpoint.id),
            endpoint,
            client: client.clone(),
            signer: signer.clone(),
            failing: AtomicBool::new(false),
            acks: Mutex::new(Vec::new()),
            schedule: Schedule::new(w),
            paused_until: Mutex::new(None),
        });
        let worker = Worker {
            consumer: app.instance_id().to_string(),
            filter: w.events.clone(),
            permits: Arc::new(Semaphore::new(w.concurrency as usize)),
            cursor: None,
            group_ready: false,
            store_failing: false,
            attempts: JoinSet::new(),
            shared,
        };
        workers.spawn(worker.run(stop.clone()));
    }
    while workers.join_next().await.is_some() {}
}

/// What an attempt needs, shared by the loop and its attempts.
struct Shared {
    store: Arc<dyn ViewerStore>,
    endpoint: Endpoint,
    group: String,
    client: reqwest::Client,
    signer: Arc<Signer>,
    metrics: EndpointMetrics,
    /// The last attempt failed: logged once when it starts and once when it
    /// ends, not per attempt (a dead receiver would flood the log).
    failing: AtomicBool,
    /// Events done with (delivered, filtered, given up), acknowledged in one
    /// store call per poll instead of one per event.
    acks: Mutex<Vec<String>>,
    /// The retry schedule: when failed events are due, and (its backoff) the
    /// pause of a throttling answer that names no delay.
    schedule: Schedule,
    /// Until when this instance sends the endpoint nothing (`answer`).
    paused_until: Mutex<Option<Instant>>,
}

struct Worker {
    shared: Arc<Shared>,
    consumer: String,
    filter: EventFilter,
    permits: Arc<Semaphore>,
    /// Where the next look at pending events starts.
    cursor: Option<String>,
    group_ready: bool,
    store_failing: bool,
    attempts: JoinSet<()>,
}

impl Worker {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut gauges_read = Instant::now() - GAUGE_INTERVAL;
        let mut consumers_swept: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            while self.attempts.try_join_next().is_some() {}
            // Stopping may cut a poll short: events it read and did not send
            // stay pending and are taken over like a crashed instance's.
            let result = tokio::select! {
                r = self.poll() => r,
                _ = stop.changed() => break,
            };
            if gauges_read.elapsed() >= GAUGE_INTERVAL {
                gauges_read = Instant::now();
                self.read_gauges().await;
            }
            if result.is_ok()
                && consumers_swept.is_none_or(|t| t.elapsed() >= CONSUMER_SWEEP_INTERVAL)
            {
                consumers_swept = Some(Instant::now());
                self.forget_gone_consumers().await;
            }
            self.note_store(result);
        }
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, async {
            while self.attempts.join_next().await.is_some() {}
        })
        .await;
        self.shared.flush_acks().await;
    }

    /// Forgets the consumers of instances that stopped for good (see
    /// [`CONSUMER_MAX_IDLE`]); any instance may do it, and a consumer that
    /// reads again is simply made anew.
    async fn forget_gone_consumers(&self) {
        let log = self.shared.store.event_log();
        match log
            .forget_idle_consumers(&self.shared.group, CONSUMER_MAX_IDLE)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                endpoint = %self.shared.endpoint.id,
                consumers = n,
                "webhooks: forgot the consumers of instances idle for an hour"
            ),
            Err(e) => {
                tracing::debug!(endpoint = %self.shared.endpoint.id, error = %e, "webhooks: consumers not swept")
            }
        }
    }

    fn note_store(&mut self, result: Result<(), StoreError>) {
        match result {
            Ok(()) if self.store_failing => {
                self.store_failing = false;
                tracing::info!(endpoint = %self.shared.endpoint.id, "webhooks: the event log answers again");
            }
            Err(e) if !self.store_failing => {
                self.store_failing = true;
                tracing::warn!(endpoint = %self.shared.endpoint.id, error = %e, "webhooks: the event log cannot be read; delivery resumes when it can");
            }
            _ => {}
        }
    }

    /// One look at the log: due retries first (they are older), then new
    /// events, batch after batch as request slots free up, until the group
    /// has caught up or `READ_BUDGET` has passed (then the next poll
    /// follows at once: retries and gauges get their turn in between).
    async fn poll(&mut self) -> Result<(), StoreError> {
        let store = self.shared.store.clone();
        let log = store.event_log();
        if !self.group_ready {
            log.create_group(&self.shared.group).await?;
            self.group_ready = true;
        }
        self.shared.flush_acks().await;
        if self.shared.paused() {
            // The events wait in the log (new ones unread, failed ones
            // pending) until the pause is over.
            return Ok(());
        }
        self.retry_due().await?;
        let started = Instant::now();
        while started.elapsed() < READ_BUDGET {
            if self.permits.available_permits() == 0 {
                // Every slot is busy: wait for one, without taking it.
                match self.permits.acquire().await {
                    Ok(permit) => drop(permit),
                    Err(_) => return Ok(()),
                }
                while self.attempts.try_join_next().is_some() {}
            }
            let events = log
                .read_new(&self.shared.group, &self.consumer, MAX_READ)
                .await?;
            let caught_up = events.len() < MAX_READ as usize;
            for event in events {
                self.handle(event, 1).await;
            }
            self.shared.flush_acks().await;
            if caught_up {
                break;
            }
        }
        Ok(())
    }

    /// Takes over pending events whose retry is due (this instance's own
    /// failures and those of any other instance, dead or alive), as many as
    /// there are free request slots.
    async fn retry_due(&mut self) -> Result<(), StoreError> {
        let store = self.shared.store.clone();
        let log = store.event_log();
        let min_idle = self.shared.schedule.min_idle;
        for _ in 0..PENDING_PAGES_PER_POLL {
            let free = self.permits.available_permits();
            if free == 0 {
                break;
            }
            let page = log
                .pending(
                    &self.shared.group,
                    min_idle,
                    self.cursor.as_deref(),
                    PENDING_PAGE,
                )
                .await?;
            self.cursor = match page.last() {
                Some(last) if page.len() == PENDING_PAGE as usize => Some(last.position.clone()),
                _ => None,
            };
            let now = now_ms();
            let due: HashMap<String, u32> = page
                .iter()
                .filter(|p| {
                    let expired = recorded_at(&p.position)
                        .is_some_and(|at| self.shared.schedule.expired(at, now));
                    expired || p.idle >= self.shared.schedule.delay(&p.position, p.deliveries)
                })
                .take(free)
                .map(|p| (p.position.clone(), p.deliveries))
                .collect();
            if !due.is_empty() {
                let positions: Vec<String> = due.keys().cloned().collect();
                // Claimed only if still idle for `min_idle`: when two
                // instances see the same due event, one of them takes it.
                let claimed = log
                    .claim(&self.shared.group, &self.consumer, min_idle, &positions)
                    .await?;
                if !claimed.trimmed.is_empty() {
                    let n = claimed.trimmed.len() as u64;
                    self.shared.metrics.dropped(DropReason::Backlog, n);
                    tracing::warn!(
                        endpoint = %self.shared.endpoint.id,
                        dropped = n,
                        "webhooks: events trimmed from the event log before they were delivered"
                    );
                }
                for event in claimed.events {
                    let deliveries = due.get(&event.position).map_or(1, |d| d + 1);
                    self.handle(event, deliveries).await;
                }
            }
            if self.cursor.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// An event now pending for this instance: given up, skipped, or sent.
    async fn handle(&mut self, logged: LoggedEvent, deliveries: u32) {
        let expired = recorded_at(&logged.position)
            .is_some_and(|at| self.shared.schedule.expired(at, now_ms()));
        if expired {
            self.shared.metrics.dropped(DropReason::Expired, 1);
            tracing::warn!(
                endpoint = %self.shared.endpoint.id,
                event = %logged.event.id,
                r#type = logged.event.event_type(),
                attempts = deliveries.saturating_sub(1),
                "webhooks: event dropped, not delivered within the retry window"
            );
            self.shared.ack(logged.position);
            return;
        }
        if !self.filter.matches(logged.event.event_type()) {
            self.shared.metrics.filtered.inc();
            self.shared.ack(logged.position);
            return;
        }
        // Waits for a free request slot: this is what bounds the requests
        // in flight.
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        self.attempts
            .spawn(self.shared.clone().attempt(logged, deliveries, permit));
    }

    async fn read_gauges(&self) {
        let log = self.shared.store.event_log();
        if let Ok(n) = log.backlog().await {
            self.shared
                .metrics
                .outbox
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        if let Ok(oldest) = log
            .pending(&self.shared.group, Duration::ZERO, None, 1)
            .await
        {
            let age_ms = oldest
                .first()
                .and_then(|p| recorded_at(&p.position))
                .map_or(0, |at| (now_ms() - at).max(0));
            self.shared.metrics.oldest_pending.set(age_ms / 1000);
        }
    }
}

impl Shared {
    /// One POST of one event; a 2xx acknowledges it, anything else leaves it
    /// pending for a later attempt.
    async fn attempt(
        self: Arc<Self>,
        logged: LoggedEvent,
        deliveries: u32,
        _permit: OwnedSemaphorePermit,
    ) {
        if self.paused() {
            // Read before the pause began: left pending, retried after it.
            return;
        }
        let event = &logged.event;
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(event = %event.id, error = %e, "webhooks: event not serialisable");
                return;
            }
        };
        let timestamp = now_ms() / 1000;
        let signature = self.signer.sign(&event.id, timestamp, &body);
        self.metrics.in_flight.inc();
        let started = Instant::now();
        let sent = self
            .client
            .post(self.endpoint.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, event.id.as_str())
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        self.metrics
            .latency
            .observe(started.elapsed().as_secs_f64());
        self.metrics.in_flight.dec();
        let failure = match sent {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok());
                if let Some((pause, reason)) = pause_after(
                    status,
                    retry_after,
                    chrono::Utc::now(),
                    self.schedule.backoff,
                    self.schedule.backoff_max,
                ) {
                    self.pause(pause, reason, status);
                }
                Some((
                    match status {
                        400..=499 => "status_4xx",
                        500..=599 => "status_5xx",
                        _ => "status_other",
                    },
                    format!("answered {status}"),
                ))
            }
            Err(e) if e.is_timeout() => Some(("timeout", "timed out".to_string())),
            Err(e) if e.is_connect() => Some(("connect", "connection failed".to_string())),
            Err(_) => Some(("other", "request failed".to_string())),
        };
        match failure {
            None => {
                self.metrics.delivered.inc();
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.endpoint.id, "webhooks: the endpoint accepts events again");
                }
                self.ack(logged.position);
            }
            Some((reason, what)) => {
                self.metrics.failed(reason);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        endpoint = %self.endpoint.id,
                        event = %event.id,
                        attempt = deliveries,
                        "webhooks: delivery failed ({what}); events are retried with backoff"
                    );
                } else {
                    tracing::debug!(endpoint = %self.endpoint.id, event = %event.id, attempt = deliveries, "webhooks: delivery failed ({what})");
                }
            }
        }
    }

    /// Sends the endpoint nothing for `pause` (a longer pause under way is
    /// kept). The start of a pause is logged and counted, not each answer
    /// that extends it.
    fn pause(&self, pause: Duration, reason: PauseReason, status: u16) {
        let now = Instant::now();
        // The cap is the settings' longest backoff, which nothing bounds:
        // an absurd one must not overflow the clock (a year is for ever here).
        let until = now + pause.min(Duration::from_secs(365 * 24 * 3600));
        let started = {
            let mut current = self
                .paused_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let started = current.is_none_or(|u| u <= now);
            if current.is_none_or(|u| u < until) {
                *current = Some(until);
            }
            started
        };
        if !started {
            return;
        }
        self.metrics.paused.set(1);
        self.metrics.pause_started(reason.label());
        let secs = pause.as_secs_f64();
        match reason {
            PauseReason::Gone => tracing::error!(
                endpoint = %self.endpoint.id,
                pause_secs = secs,
                "webhooks: the endpoint answered 410 Gone (it wants no more webhooks): this instance sends it nothing for an hour; remove its URL from IVS_WEBHOOK_URLS to stop for good"
            ),
            PauseReason::Throttled => tracing::warn!(
                endpoint = %self.endpoint.id,
                status,
                pause_secs = secs,
                "webhooks: the endpoint asks to slow down; this instance pauses it"
            ),
        }
    }

    /// Whether deliveries to the endpoint are paused now; ends a pause that
    /// is over.
    fn paused(&self) -> bool {
        let mut current = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *current {
            Some(until) if until > Instant::now() => true,
            Some(_) => {
                *current = None;
                drop(current);
                self.metrics.paused.set(0);
                tracing::info!(endpoint = %self.endpoint.id, "webhooks: pause over; delivery resumes");
                false
            }
            None => false,
        }
    }

    /// Marks an event done; [`Shared::flush_acks`] acknowledges it.
    fn ack(&self, position: String) {
        self.acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(position);
    }

    /// Acknowledges the events marked done. If that fails (or the process
    /// dies first) they are delivered again later, with the same id: at
    /// least once.
    async fn flush_acks(&self) {
        let done = std::mem::take(&mut *self.acks.lock().unwrap_or_else(PoisonError::into_inner));
        if done.is_empty() {
            return;
        }
        if let Err(e) = self.store.event_log().ack(&self.group, &done).await {
            tracing::debug!(endpoint = %self.endpoint.id, error = %e, events = done.len(), "webhooks: acknowledgement failed; the events will be sent again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ids_are_stable_hashes_of_the_url() {
        let a = Endpoint::new(Url::parse("https://a.example/hook?token=s3cret").unwrap());
        let b = Endpoint::new(Url::parse("https://a.example/hook?token=s3cret").unwrap());
        let c = Endpoint::new(Url::parse("https://a.example/other").unwrap());
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.id.len(), 12);
        assert!(!a.group().contains("s3cret"));
        assert_eq!(a.group(), format!("webhook:{}", a.id));
    }
}
