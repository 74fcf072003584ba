//! The HTTP server's connections: accept loop, per-connection timeouts, the
//! connection cap and graceful shutdown.
//!
//! warp 0.4's own server builds hyper without a timer, so hyper's header-read
//! timeout is off and a client sending its headers a byte at a time holds a
//! socket forever. Serving the warp filter ourselves fixes that, and lets us
//! keep two timeouts apart that hyper merges: since hyper 1.6 its header-read
//! timer also runs while a keep-alive connection waits for its next request,
//! so a 10 s header timeout would close idle connections after 10 s — sooner
//! than a load balancer's idle timeout (an AWS ALB's is 60 s), and then the
//! balancer sometimes sends a request into a socket being closed and answers
//! 502. Here:
//!
//! - **header-read timeout**: from the first byte of a request (of a new
//!   connection: from accept) until its headers are complete;
//! - **idle timeout**: on a keep-alive connection, from the end of a response
//!   until the first byte of the next request.
//!
//! Each connection has a small state machine ([`Activity`]): the stream
//! wrapper ([`ConnStream`]) sees request bytes arrive, the service wrapper
//! ([`Tracked`]) sees requests start and end, and the connection's task
//! closes the connection when the current phase's [`Deadline`] passes.
//! While a request is being served no deadline applies (the body has its own
//! timeout, see `http::body`); after a `101 Switching Protocols` the socket
//! belongs to the WebSocket, which has its own liveness checks (`ws.rs`).
//!
//! The cap is a semaphore taken before `accept`: at the cap the server stops
//! accepting, and new connections wait in the kernel's listen backlog until
//! one ends, rather than being accepted and reset. The permit lives in the
//! stream, so an upgraded `/ws` connection holds its slot until the
//! WebSocket is closed: it holds a socket like any other.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tracing::Instrument;
use warp::http::header::HeaderValue;
use warp::http::{Request, StatusCode};
use warp::reply::Response;

use crate::config::ConnectionLimits;
use crate::service::App;

/// Where a connection is between requests, as far as its timeouts care.
/// Every change happens while the connection's task polls hyper's
/// connection future (reads, the service), so [`Deadline`], polled right
/// after it, always sees the current phase.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No byte of a request yet: the first one (`fresh`) or the next one on a
    /// keep-alive connection.
    Waiting { since: Instant, fresh: bool },
    /// Part of a request head has arrived.
    Head { since: Instant },
    /// A request is being served.
    Busy,
    /// Switched protocols: the WebSocket's now.
    Upgraded,
}

/// Which timeout ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Header,
    Idle,
}

/// A connection's [`Phase`], shared by its stream and its service.
#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            phase: Mutex::new(Phase::Waiting {
                since: Instant::now(),
                fresh: true,
            }),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_arrived(&self) {
        let mut phase = self.phase();
        if let Phase::Waiting { since, fresh } = *phase {
            // A new connection's first request is timed from accept: waiting
            // to send anything at all is no better than sending slowly.
            let since = if fresh { since } else { Instant::now() };
            *phase = Phase::Head { since };
        }
    }

    fn request_started(&self) {
        *self.phase() = Phase::Busy;
    }

    fn request_finished(&self, upgraded: bool) {
        *self.phase() = if upgraded {
            Phase::Upgraded
        } else {
            Phase::Waiting {
                since: Instant::now(),
                fresh: false,
            }
        };
    }

    /// Whether no request is under way, not even partly received.
    fn is_waiting(&self) -> bool {
        matches!(*self.phase(), Phase::Waiting { .. })
    }

    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Expiry)> {
        match *self.phase() {
            Phase::Waiting { since, fresh: true } | Phase::Head { since } => {
                Some((since + limits.header_read_timeout, Expiry::Header))
            }
            Phase::Waiting {
                since,
                fresh: false,
            } => Some((since + limits.idle_timeout, Expiry::Idle)),
            Phase::Busy | Phase::Upgraded => None,
        }
    }
}

/// A connection's slot under the cap, counted in `ivs_http_connections`.
struct Slot {
    app: Arc<App>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn new(app: Arc<App>, permit: OwnedSemaphorePermit) -> Self {
        app.metrics()
            .connections
            .open
            .fetch_add(1, Ordering::Relaxed);
        Slot {
            app,
            _permit: permit,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let open = &self.app.metrics().connections.open;
        open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An accepted socket that tells its connection's [`Activity`] when request
/// bytes arrive, and holds the connection's slot for as long as the socket
/// lives (through a WebSocket upgrade).
pub struct ConnStream {
    io: TcpStream,
    activity: Arc<Activity>,
    _slot: Slot,
}

impl AsyncRead for ConnStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_arrived();
        }
        read
    }
}

impl AsyncWrite for ConnStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The warp service, telling the connection's [`Activity`] when a request
/// starts and ends, serving it in its request span, and answering its
/// request id (`x-request-id`, see [`crate::http::request_id`]).
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackedFuture<tracing::instrument::Instrumented<S::Future>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.activity.request_started();
        let request_id = crate::http::request_id(&req);
        let span = crate::http::request_span(&req, &request_id);
        TrackedFuture {
            inner: self.inner.call(req).instrument(span),
            activity: self.activity.clone(),
            request_id: Some(request_id),
        }
    }
}

pin_project_lite::pin_project! {
    /// A response future that marks the request finished when it is ready
    /// and puts the request id on the response.
    struct TrackedFuture<F> {
        #[pin]
        inner: F,
        activity: Arc<Activity>,
        request_id: Option<HeaderValue>,
    }
}

impl<F, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut out = ready!(this.inner.poll(cx));
        if let Ok(res) = &mut out {
            if let Some(id) = this.request_id.take() {
                res.headers_mut().insert(crate::http::REQUEST_ID_HEADER, id);
            }
            this.activity
                .request_finished(res.status() == StatusCode::SWITCHING_PROTOCOLS);
        }
        Poll::Ready(out)
    }
}

/// Ready when the deadline of the connection's current phase has passed.
struct Deadline {
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    timer: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl Deadline {
    fn new(activity: Arc<Activity>, limits: ConnectionLimits) -> Self {
        Deadline {
            activity,
            limits,
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
        }
    }
}

impl Future for Deadline {
    type Output = Expiry;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Expiry> {
        let this = self.get_mut();
        let Some((at, expiry)) = this.activity.deadline(&this.limits) else {
            // A request under way or an upgraded connection: no deadline.
            // The next phase change happens while hyper's future is polled,
            // and this one is polled again right after.
            return Poll::Pending;
        };
        if this.armed != Some(at) {
            this.timer.as_mut().reset(at);
            this.armed = Some(at);
        }
        ready!(this.timer.as_mut().poll(cx));
        Poll::Ready(expiry)
    }
}

/// Counts (and logs, sampled) a connection closed by a timeout.
fn expired(app: &App, expiry: Expiry) {
    let stats = &app.metrics().connections;
    match expiry {
        Expiry::Idle => {
            stats.idle_closed.fetch_add(1, Ordering::Relaxed);
        }
        Expiry::Header => stats.header_timed_out(),
    }
}

/// How far the server's shutdown has come, as the connections see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Closing {
    /// Serving.
    No,
    /// Finish the request under way, then close; close idle connections now.
    Graceful,
    /// The grace period is over: close now.
    Now,
}

async fn until(closing: &mut watch::Receiver<Closing>, at_least: Closing) {
    // An error means the accept loop is gone: nothing to wait for.
    let _ = closing.wait_for(|c| *c >= at_least).await;
}

/// Serves `service` on `listener` under `limits` until `shutdown` completes;
/// then stops accepting, closes connections between requests at once, lets
/// requests under way finish within the grace period, and returns once every
/// connection (WebSocket sessions included) has ended or the grace period
/// and one more second are over.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let limits = app.settings().connections;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing_tx, closing_rx) = watch::channel(Closing::No);
    let mut http = http1::Builder::new();
    // hyper's own header-read timer would also time the wait between
    // keep-alive requests (see the module docs): ConnStream keeps the two
    // apart, so hyper's stays off. (Without a timer it is off anyway; saying
    // so keeps a later `.timer(..)` from turning it on unnoticed.)
    http.header_read_timeout(None);
    let http = Arc::new(http);
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                app.metrics().connections.reached_capacity();
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let io = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((io, _)) => io,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Arc::new(Activity::new());
        let stream = ConnStream {
            io,
            activity: activity.clone(),
            _slot: Slot::new(app.clone(), permit),
        };
        let service = Tracked {
            inner: service.clone(),
            activity: activity.clone(),
        };
        tokio::spawn(serve_connection(
            http.clone(),
            stream,
            service,
            Deadline::new(activity.clone(), limits),
            closing_rx.clone(),
            app.clone(),
        ));
    }
    drop(listener);
    closing_tx.send_replace(Closing::Graceful);
    // Every slot back means every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = app.metrics().connections.open.load(Ordering::Relaxed),
            grace_ms = limits.shutdown_grace.as_millis(),
            "shutdown grace period over: closing the remaining connections"
        );
        closing_tx.send_replace(Closing::Now);
        let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
    }
}

async fn serve_connection<S>(
    http: Arc<http1::Builder>,
    stream: ConnStream,
    service: Tracked<S>,
    deadline: Deadline,
    mut closing: watch::Receiver<Closing>,
    app: Arc<App>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>,
{
    let activity = deadline.activity.clone();
    let conn = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = pin!(conn);
    let mut deadline = pin!(deadline);
    let mut graceful = false;
    let ended = loop {
        // Biased: hyper's future first, so the deadline sees the phase it left.
        tokio::select! {
            biased;
            ended = conn.as_mut() => break ended,
            expiry = deadline.as_mut() => {
                // Dropping the connection closes the socket.
                expired(&app, expiry);
                return;
            }
            () = until(&mut closing, if graceful { Closing::Now } else { Closing::Graceful }) => {
                if graceful || activity.is_waiting() {
                    // The grace period is over, or nothing is under way:
                    // close now rather than wait for a request that would
                    // find the server gone.
                    return;
                }
                // Finish this request (a partly received one within the
                // header timeout), answer it with `connection: close`, close.
                conn.as_mut().graceful_shutdown();
                graceful = true;
            }
        }
    };
    if let Err(e) = ended {
        // Clients cause these (resets, garbage): not the server's business
        // at INFO, and a flood of them must not flood the log.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// An `accept` that failed. Per-connection errors (the peer reset before we
/// accepted) are nothing; anything else — typically out of file descriptors —
/// is logged and waited out for a second rather than retried in a hot loop.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s (is the file descriptor limit below IVS_MAX_CONNECTIONS?)");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            ..ConnectionLimits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_own_deadline() {
        let l = limits();
        let accepted = Instant::now();
        let a = Activity::new();
        // A new connection: its first headers are due 10 s after accept,
        // however late the first byte comes.
        assert_eq!(
            a.deadline(&l),
            Some((accepted + l.header_read_timeout, Expiry::Header))
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        a.bytes_arrived();
        assert_eq!(
            a.deadline(&l),
            Some((accepted + l.header_read_timeout, Expiry::Header))
        );
        assert!(!a.is_waiting());
        // Serving: no deadline.
        a.request_started();
        assert_eq!(a.deadline(&l), None);
        // Between keep-alive requests: the idle timeout, from the response.
        tokio::time::advance(Duration::from_secs(1)).await;
        a.request_finished(false);
        let done = Instant::now();
        assert!(a.is_waiting());
        assert_eq!(a.deadline(&l), Some((done + l.idle_timeout, Expiry::Idle)));
        // The next request's headers: 10 s from its first byte.
        tokio::time::advance(Duration::from_secs(60)).await;
        a.bytes_arrived();
        let first_byte = Instant::now();
        assert_eq!(
            a.deadline(&l),
            Some((first_byte + l.header_read_timeout, Expiry::Header))
        );
        // More bytes of the same head do not extend it.
        tokio::time::advance(Duration::from_secs(5)).await;
        a.bytes_arrived();
        assert_eq!(
            a.deadline(&l),
            Some((first_byte + l.header_read_timeout, Expiry::Header))
        );
        // Upgraded: the WebSocket's own liveness checks apply.
        a.request_started();
        a.request_finished(true);
        assert_eq!(a.deadline(&l), None);
        a.bytes_arrived();
        assert_eq!(a.deadline(&l), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_future_follows_the_phase() {
        let l = limits();
        let a = Arc::new(Activity::new());
        let mut d = Box::pin(Deadline::new(a.clone(), l));
        a.request_started();
        // Serving for longer than both timeouts: no expiry.
        let waited = tokio::time::timeout(Duration::from_secs(100), d.as_mut()).await;
        assert!(waited.is_err());
        a.request_finished(false);
        let done = Instant::now();
        assert_eq!(d.as_mut().await, Expiry::Idle);
        assert_eq!(Instant::now(), done + l.idle_timeout);
    }
}
