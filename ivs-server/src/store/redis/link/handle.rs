//! The shared connection handle: every call runs on a clone of it under
//! [`COMMAND_TIMEOUT`], its error is classified once here, and a failure that
//! means the handle is broken starts its single-flight replacement in the
//! background (see the module above for when each mode rebuilds).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Value};

use super::COMMAND_TIMEOUT;
use crate::store::{StoreError, StoreResult};

/// Either kind of connection handle, so that each kind of call is written
/// once: both speak `ConnectionLike`, and a cluster one routes each command
/// itself.
#[derive(Clone)]
pub(super) enum Conn {
    Standalone(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A standalone connection cannot heal from these in place.
pub(super) fn standalone_needs_rebuild(e: &RedisError) -> bool {
    breaks_connection(e) || e.code() == Some("READONLY")
}

/// A cluster connection whose calls fail this way may be on a stale slot map
/// or a dead node.
pub(super) fn cluster_needs_rebuild(e: &RedisError) -> bool {
    breaks_connection(e)
        || e.kind() == ErrorKind::ClusterConnectionNotFound
        || matches!(
            e.code(),
            Some("MOVED" | "ASK" | "CLUSTERDOWN" | "TRYAGAIN" | "MASTERDOWN" | "READONLY")
        )
}

/// Makes a new connection of the same kind (same client, same options).
pub(super) type Build = Box<dyn Fn() -> BoxFuture<'static, Result<Conn, RedisError>> + Send + Sync>;

/// When and how often a mode replaces its handle.
pub(super) struct Policy {
    /// The mode, for logs.
    pub(super) label: &'static str,
    /// Fewest time between two replacement attempts.
    pub(super) min_interval: Duration,
    /// Whether a command error means the handle is broken.
    pub(super) rebuild_on: fn(&RedisError) -> bool,
}

/// The shared connection handle and its single-flight replacement.
pub(super) struct Holder {
    current: RwLock<Current>,
    rebuild: Mutex<RebuildState>,
    build: Build,
    policy: Policy,
    /// The runtime the first connection was made on. Replacements are made
    /// there too: a call from another runtime (the webhook thread's) would
    /// otherwise put the new connection's driver task on that runtime, where
    /// it would run at that thread's priority, or stop with it.
    runtime: Option<tokio::runtime::Handle>,
}

struct Current {
    /// Bumped on every replacement, so that failures seen on an old handle
    /// do not replace the new one.
    id: u64,
    conn: Conn,
}

#[derive(Default)]
struct RebuildState {
    running: bool,
    last_attempt: Option<Instant>,
    /// Failed attempts since the last success (only the first is a warning).
    failed: u32,
}

impl Holder {
    pub(super) fn new(conn: Conn, build: Build, policy: Policy) -> Arc<Self> {
        Arc::new(Holder {
            current: RwLock::new(Current { id: 0, conn }),
            rebuild: Mutex::new(RebuildState::default()),
            build,
            policy,
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    fn get(&self) -> (u64, Conn) {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        (current.id, current.conn.clone())
    }

    pub(super) fn rebuilds(&self) -> u64 {
        self.current.read().unwrap_or_else(|p| p.into_inner()).id
    }

    /// Runs `f` on a clone of the handle under [`COMMAND_TIMEOUT`], mapping
    /// the outcome; a failure that means the handle is broken starts its
    /// replacement.
    pub(super) async fn call<'a, T, F, Fut>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>> + 'a,
    {
        let (id, conn) = self.get();
        match tokio::time::timeout(COMMAND_TIMEOUT, f(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if (self.policy.rebuild_on)(&e) {
                    self.replace(id, "a command failed at the connection level");
                }
                Err(classify(&e))
            }
            Err(_) => {
                // A hung connection (Redis stopped, network gone) never
                // reports an error by itself.
                self.replace(id, "a command timed out");
                Err(StoreError::Unavailable(format!(
                    "redis: no answer within {} ms",
                    COMMAND_TIMEOUT.as_millis()
                )))
            }
        }
    }

    /// Starts replacing handle `id`, unless it was already replaced, a
    /// replacement is under way, or the last attempt is too recent.
    fn replace(self: &Arc<Self>, id: u64, why: &'static str) {
        if self.rebuilds() != id {
            return;
        }
        {
            let mut state = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
            let recent = state
                .last_attempt
                .is_some_and(|at| at.elapsed() < self.policy.min_interval);
            if state.running || recent {
                return;
            }
            state.running = true;
            state.last_attempt = Some(Instant::now());
            if state.failed == 0 {
                tracing::warn!(
                    mode = self.policy.label,
                    reason = why,
                    "replacing the Redis connection"
                );
            }
        }
        let this = Arc::clone(self);
        let replacement = async move {
            let result = (this.build)().await;
            let mut state = this.rebuild.lock().unwrap_or_else(|p| p.into_inner());
            state.running = false;
            match result {
                Ok(conn) => {
                    let mut current = this.current.write().unwrap_or_else(|p| p.into_inner());
                    current.id += 1;
                    current.conn = conn;
                    tracing::info!(
                        mode = this.policy.label,
                        failed_attempts = state.failed,
                        "Redis connection replaced"
                    );
                    state.failed = 0;
                }
                Err(e) => {
                    if state.failed == 0 {
                        tracing::warn!(mode = this.policy.label, error = %e, "Redis reconnect failed; retrying while calls fail");
                    } else {
                        tracing::debug!(mode = this.policy.label, error = %e, "Redis reconnect failed");
                    }
                    state.failed = state.failed.saturating_add(1);
                }
            }
        };
        match &self.runtime {
            Some(runtime) => drop(runtime.spawn(replacement)),
            None => drop(tokio::spawn(replacement)),
        }
    }
}

/// Whether the connection that produced this error should be replaced: I/O
/// failures and dropped connections (a restarted Redis) cannot heal in place.
fn breaks_connection(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

/// Maps a command error: a script failing on what it found (a key of another
/// type, a Lua runtime error) or an unreadable reply is a bug or foreign data
/// under our prefix (`Corrupt`); everything else (refused, timed out,
/// loading, out of memory, read-only replica, cluster redirections…) means
/// Redis cannot serve now.
fn classify(e: &RedisError) -> StoreError {
    let in_script = e.to_string().contains("user_script");
    match e.kind() {
        ErrorKind::UnexpectedReturnType | ErrorKind::Parse => StoreError::Corrupt(e.to_string()),
        _ if e.code() == Some("WRONGTYPE") => StoreError::Corrupt(e.to_string()),
        ErrorKind::Server(redis::ServerErrorKind::ResponseError) if in_script => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Unavailable(format!("redis: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_errors_rebuild_and_stay_unavailable() {
        let moved = RedisError::from((ErrorKind::Io, "connection dropped"));
        assert!(cluster_needs_rebuild(&moved));
        assert!(standalone_needs_rebuild(&moved));
        assert!(matches!(classify(&moved), StoreError::Unavailable(_)));
    }
}
