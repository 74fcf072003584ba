//! How the Redis store reaches Redis: one standalone server or a Redis Cluster
//! (ElastiCache Serverless included), over TCP, TLS or a unix socket, with an
//! ACL user from the URL.
//!
//! Both modes hold **one shared connection handle** that every call clones
//! (no pool checkout): a standalone `MultiplexedConnection` pipelines all
//! concurrent commands on one socket, and a `ClusterConnection` keeps one
//! multiplexed connection per node and routes each command by its first key.
//!
//! The handle is replaced, single-flight and in the background, when calls
//! on it fail in a way it cannot heal by itself:
//! - standalone: an I/O failure, a dropped connection, a timeout (a hung
//!   server never reports an error) or `READONLY` (a managed endpoint that
//!   failed over now points this socket at a replica). redis' own
//!   `ConnectionManager` reconnects only after a dropped connection, not after
//!   a timeout (its `reconnect_if_dropped` checks `is_unrecoverable_error`,
//!   false for `TimedOut`), so it would keep a hung socket for good.
//! - cluster: any connection-level failure or timeout. `cluster_async` already
//!   follows `MOVED`/`ASK`, reconnects a dropped node and refreshes its slot
//!   map after `MOVED`; but a node that hangs (or a failover it never hears of
//!   through a `MOVED`) leaves it sending to the old primary, so the whole
//!   cluster connection is rebuilt from the seeds (a fresh `CLUSTER SLOTS`)
//!   at most once per [`CLUSTER_REBUILD_INTERVAL`] while failures go on.
//!
//! A call never waits for a rebuild: it uses the current handle and fails
//! with `Unavailable` within [`COMMAND_TIMEOUT`] if that is still broken.
//!
//! This file sets connections up (options, TLS, mode detection);
//! `link/handle.rs` holds the shared handle: the deadline, the error
//! classification and the replacement, written once for both modes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use redis::aio::MultiplexedConnection;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, RedisError, Script, TlsCertificates, Value};

use super::super::{StoreError, StoreResult};

mod handle;

use handle::{cluster_needs_rebuild, standalone_needs_rebuild, Build, Conn, Holder, Policy};

/// How long connecting to a node may take (TCP or unix connect, TLS and the
/// handshake).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one command may take. A dead or hung Redis makes every call
/// fail within this (`Unavailable`), never hang.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_millis(800);
/// Fewest time between two reconnect attempts of a standalone connection:
/// failures while Redis is down cause about ten attempts a second, never one
/// per request.
const STANDALONE_REBUILD_INTERVAL: Duration = Duration::from_millis(100);
/// Fewest time between two rebuilds of a cluster connection (each one connects
/// to every node and reads the slot map).
const CLUSTER_REBUILD_INTERVAL: Duration = Duration::from_secs(1);
/// Longest a cluster connection may take to come up (seeds, `CLUSTER SLOTS`,
/// every node).
const CLUSTER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries inside `cluster_async` per command: enough to follow a `MOVED`
/// and then an `ASK` (or one reconnect), few enough that a dead primary
/// gives a fast 503 instead of a long wait (its default is 16 retries with
/// waits starting at 1.28 s).
const CLUSTER_RETRIES: u32 = 2;
const CLUSTER_MIN_RETRY_WAIT_MS: u64 = 10;
const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 100;

/// Whether to speak the Redis Cluster protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[non_exhaustive]
pub enum ClusterMode {
    /// Ask the first reachable URL (`CLUSTER INFO`, see [`RedisStore::connect_with`](super::RedisStore::connect_with)).
    #[default]
    Auto,
    /// Always a cluster (every URL is a seed node).
    On,
    /// Never: one standalone server (or a proxy/endpoint that hides the cluster).
    Off,
}

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]`, `rediss://…`,
    /// `redis+unix:///path` or `unix:///path`; several are cluster seeds.
    pub urls: Vec<String>,
    /// Cluster or standalone.
    pub cluster: ClusterMode,
    /// A PEM bundle of CAs to trust for `rediss://` instead of the built-in
    /// roots (a private CA).
    pub ca_cert: Option<PathBuf>,
}

impl RedisOptions {
    /// Options for a comma-separated list of URLs, cluster mode detected,
    /// the built-in TLS roots.
    pub fn from_list(urls: &str) -> RedisOptions {
        RedisOptions {
            urls: split_urls(urls),
            cluster: ClusterMode::Auto,
            ca_cert: None,
        }
    }
}

/// The URLs of a comma-separated list, blanks dropped.
pub fn split_urls(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}

/// The connection the store sends everything through.
pub struct Link {
    holder: Arc<Holder>,
    cluster: bool,
    /// The redacted URLs, for messages.
    shown: String,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("urls", &self.shown)
            .field("cluster", &self.is_cluster())
            .finish()
    }
}

impl Link {
    /// Reaches Redis now (a wrong URL, CA file, password or an unreachable
    /// Redis is an error: the server refuses to start), in the mode the
    /// options select or detect.
    pub async fn connect(options: &RedisOptions) -> StoreResult<Link> {
        install_crypto_provider();
        let shown = options
            .urls
            .iter()
            .map(|u| redact(u))
            .collect::<Vec<_>>()
            .join(",");
        if options.urls.is_empty() {
            return Err(StoreError::Unavailable(
                "invalid Redis URL: no URL given".into(),
            ));
        }
        let certs = match &options.ca_cert {
            Some(path) => Some(read_ca(path)?),
            None => None,
        };
        let tls = options.urls.iter().any(|u| u.starts_with("rediss://"));
        if certs.is_some() && !tls {
            tracing::warn!(urls = %shown, "REDIS_CA_CERT is set but no Redis URL is rediss://");
        }
        let cluster = match options.cluster {
            ClusterMode::On => true,
            ClusterMode::Off => {
                if options.urls.len() > 1 {
                    return Err(StoreError::Unavailable(format!(
                        "invalid Redis URL {shown}: several URLs are cluster seeds, but cluster mode is off"
                    )));
                }
                false
            }
            ClusterMode::Auto => detect(&options.urls, certs.as_ref()).await?,
        };
        let holder = if cluster {
            connect_cluster(&options.urls, certs.as_ref(), &shown).await?
        } else {
            if options.urls.len() > 1 {
                return Err(StoreError::Unavailable(format!(
                    "Redis at {shown} is not a cluster: give one URL for a standalone Redis"
                )));
            }
            connect_standalone(&options.urls[0], certs.as_ref()).await?
        };
        tracing::info!(urls = %shown, cluster, tls, "Redis connection ready");
        Ok(Link {
            holder,
            cluster,
            shown,
        })
    }

    /// Whether this speaks the cluster protocol.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The redacted URLs.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// One command, routed by its first key in a cluster.
    pub async fn query(&self, cmd: &Cmd) -> StoreResult<Value> {
        self.holder
            .call(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    /// A keyless command on one node (any node in a cluster, where the crate
    /// would otherwise fan `INFO` out to every primary).
    pub async fn query_any_node(&self, cmd: &Cmd) -> StoreResult<Value> {
        self.holder
            .call(|c| async move {
                match c {
                    Conn::Standalone(mut c) => cmd.query_async(&mut c).await,
                    Conn::Cluster(mut c) => {
                        c.route_command(
                            cmd.clone(),
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                        )
                        .await
                    }
                }
            })
            .await
    }

    /// A script call: `EVALSHA`, and on `NOSCRIPT` a `SCRIPT LOAD` and the
    /// `EVALSHA` again (redis' `invoke_async`). In a cluster the `EVALSHA` goes
    /// to the primary of its first key (no key: any node), and the
    /// `SCRIPT LOAD` after `NOSCRIPT` to every node the client is connected to
    /// (every primary: a just-promoted replica gets the script this way).
    pub async fn invoke(&self, invocation: redis::ScriptInvocation<'_>) -> StoreResult<Value> {
        let invocation = &invocation;
        self.holder
            .call(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await
    }

    /// Loads the scripts so that steady-state calls are one `EVALSHA`. In a
    /// cluster the crate fans `SCRIPT LOAD` out to the nodes of its slot map
    /// it holds a connection to: every primary, replicas not reliably (a
    /// local test found one without). A replica promoted later, or a node
    /// that restarts empty, gets them through the `NOSCRIPT` fallback.
    pub async fn load_scripts(&self, scripts: &[&Script]) -> StoreResult<()> {
        for script in scripts {
            self.holder
                .call(|mut c| async move { script.load_async(&mut c).await })
                .await?;
        }
        Ok(())
    }

    /// Health: standalone, the server answers `PING`; cluster, every primary
    /// does (the crate sends `PING` to all of them): the store's keys are
    /// spread over every shard, so one unreachable shard fails part of the API.
    pub async fn ping(&self) -> StoreResult<()> {
        let ping = redis::cmd("PING");
        self.query(&ping).await.map(|_| ())
    }

    /// How many times the connection was replaced (test hook).
    pub fn rebuilds(&self) -> u64 {
        self.holder.rebuilds()
    }
}

/// Makes aws-lc-rs the process' rustls provider (redis builds its TLS config
/// from the process default). Another provider installed first is kept.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: some provider is set.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// Reads a PEM CA bundle, checking that it holds at least one certificate.
fn read_ca(path: &Path) -> StoreResult<TlsCertificates> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad =
        |why: String| StoreError::Unavailable(format!("REDIS_CA_CERT {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| bad(format!("not a PEM certificate bundle: {e}")))?;
        count += 1;
    }
    if count == 0 {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    })
}

/// A client for one standalone URL (with the CA for `rediss://`).
fn standalone_client(url: &str, certs: Option<&TlsCertificates>) -> StoreResult<redis::Client> {
    let shown = redact(url);
    let invalid =
        |e: RedisError| StoreError::Unavailable(format!("invalid Redis URL {shown}: {e}"));
    match certs {
        Some(certs) if url.starts_with("rediss://") => {
            redis::Client::build_with_tls(url, certs.clone()).map_err(invalid)
        }
        _ => redis::Client::open(url).map_err(invalid),
    }
}

fn standalone_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        // Each call has its own deadline (COMMAND_TIMEOUT), and a long sweep
        // must not be cut short by a shorter default.
        .set_response_timeout(None)
}

/// The error of a failed first connection, with the driver's as its source.
fn unreachable(shown: &str, e: RedisError) -> StoreError {
    // A cluster wraps the node's error in its own, so the text is checked too.
    let text = e.to_string();
    let what = if e.kind() == ErrorKind::AuthenticationFailed
        || ["WRONGPASS", "NOAUTH"].iter().any(|c| text.contains(c))
    {
        format!("cannot reach Redis at {shown}: the user or password was refused")
    } else {
        format!("cannot reach Redis at {shown}")
    };
    StoreError::Unreachable {
        what,
        source: Arc::new(e),
    }
}

async fn connect_multiplexed(client: &redis::Client) -> Result<MultiplexedConnection, RedisError> {
    let config = standalone_config();
    match tokio::time::timeout(
        CONNECT_TIMEOUT * 2,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no connection within the connect timeout",
        ))),
    }
}

/// Auto mode: asks the seeds in order; the first that answers decides.
/// `CLUSTER INFO` answers on a cluster node and on ElastiCache Serverless
/// (one virtual shard), and is refused by a standalone server ("cluster
/// support disabled"). A server that refuses it otherwise (an ACL without
/// `+cluster`, a proxy) is asked `INFO cluster` (`cluster_enabled:1`).
async fn detect(urls: &[String], certs: Option<&TlsCertificates>) -> StoreResult<bool> {
    let mut last = None;
    for url in urls {
        let shown = redact(url);
        let client = standalone_client(url, certs)?;
        let mut conn = match connect_multiplexed(&client).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(url = %shown, error = %e, "seed unreachable");
                last = Some(unreachable(&shown, e));
                continue;
            }
        };
        let probe = tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async::<String>(&mut conn),
        )
        .await;
        let cluster = match probe {
            Ok(Ok(info)) => info.contains("cluster_state:"),
            Ok(Err(e)) if e.to_string().contains("cluster support disabled") => false,
            Ok(Err(e)) if e.kind() != ErrorKind::Io => {
                let info = tokio::time::timeout(
                    COMMAND_TIMEOUT,
                    redis::cmd("INFO")
                        .arg("cluster")
                        .query_async::<String>(&mut conn),
                )
                .await;
                match info {
                    Ok(Ok(info)) => info.contains("cluster_enabled:1"),
                    _ => false,
                }
            }
            Ok(Err(e)) => {
                last = Some(unreachable(&shown, e));
                continue;
            }
            Err(_) => {
                last = Some(StoreError::Unavailable(format!(
                    "cannot reach Redis at {shown}: no answer within {} ms",
                    COMMAND_TIMEOUT.as_millis()
                )));
                continue;
            }
        };
        tracing::info!(url = %shown, cluster, "detected the Redis mode");
        return Ok(cluster);
    }
    Err(last.unwrap_or_else(|| StoreError::Unavailable("cannot reach Redis".into())))
}

async fn connect_standalone(
    url: &str,
    certs: Option<&TlsCertificates>,
) -> StoreResult<Arc<Holder>> {
    let shown = redact(url);
    let client = standalone_client(url, certs)?;
    let conn = connect_multiplexed(&client)
        .await
        .map_err(|e| unreachable(&shown, e))?;
    let build: Build = Box::new(move || {
        let client = client.clone();
        async move { connect_multiplexed(&client).await.map(Conn::Standalone) }.boxed()
    });
    Ok(Holder::new(
        Conn::Standalone(conn),
        build,
        Policy {
            label: "standalone",
            min_interval: STANDALONE_REBUILD_INTERVAL,
            rebuild_on: standalone_needs_rebuild,
        },
    ))
}

fn cluster_client(
    urls: &[String],
    certs: Option<&TlsCertificates>,
    shown: &str,
) -> StoreResult<ClusterClient> {
    // Username and password come from the first URL and are used for every
    // node the slot map names (the crate refuses seeds that disagree).
    let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(COMMAND_TIMEOUT)
        .retries(CLUSTER_RETRIES)
        .min_retry_wait(CLUSTER_MIN_RETRY_WAIT_MS)
        .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS);
    if let Some(certs) = certs {
        if urls.iter().any(|u| u.starts_with("rediss://")) {
            builder = builder.certs(certs.clone());
        }
    }
    builder
        .build()
        .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL {shown}: {e}")))
}

async fn connect_cluster_once(client: &ClusterClient) -> Result<ClusterConnection, RedisError> {
    match tokio::time::timeout(CLUSTER_CONNECT_TIMEOUT, client.get_async_connection()).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the cluster did not answer within the connect timeout",
        ))),
    }
}

async fn connect_cluster(
    urls: &[String],
    certs: Option<&TlsCertificates>,
    shown: &str,
) -> StoreResult<Arc<Holder>> {
    let client = cluster_client(urls, certs, shown)?;
    let conn = connect_cluster_once(&client)
        .await
        .map_err(|e| unreachable(shown, e))?;
    let build: Build = Box::new(move || {
        let client = client.clone();
        async move { connect_cluster_once(&client).await.map(Conn::Cluster) }.boxed()
    });
    Ok(Holder::new(
        Conn::Cluster(conn),
        build,
        Policy {
            label: "cluster",
            min_interval: CLUSTER_REBUILD_INTERVAL,
            rebuild_on: cluster_needs_rebuild,
        },
    ))
}

/// The URL without its password, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_credentials() {
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
    }

    #[test]
    fn url_lists_split_on_commas() {
        assert_eq!(
            split_urls(" redis://a:1, redis://b:2 ,,"),
            vec!["redis://a:1".to_string(), "redis://b:2".to_string()]
        );
        assert!(split_urls(" ").is_empty());
        let o = RedisOptions::from_list("redis://a:1");
        assert_eq!(o.cluster, ClusterMode::Auto);
        assert_eq!(o.ca_cert, None);
    }
}
