//! Assembling and running the server: seams chosen from the settings, the
//! master stage ensured, background tasks started, and graceful shutdown.
//!
//! `main.rs` only parses arguments and calls into here, so tests run exactly
//! what the binary runs (`ServerBuilder::new(settings).build().await?.spawn(listener)`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{BackendKind, Settings};
use crate::http::auth::KeyRing;
use crate::http::ws::StatsHub;
use crate::ivs::local::redis_account::RedisAccount;
use crate::ivs::local::LocalIvs;
use crate::ivs::token::{KeyError, TokenSigner};
use crate::ivs::{IvsBackend, IvsError};
use crate::service::{App, StartError};
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::{StoreError, ViewerStore};

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The token key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The application could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The viewer store could not be set up.
    #[error("viewer store")]
    Store(#[source] StoreError),
    /// The emulator's account could not be set up in Redis.
    #[error("IVS emulator")]
    Emulator(#[source] IvsError),
    /// The AWS backend could not be set up.
    #[error("AWS IVS backend")]
    Aws(#[source] crate::ivs::aws::AwsSetupError),
}

/// Builds a [`Server`], optionally with injected seams (tests share one
/// store and one emulated IVS account between several instances this way).
pub struct ServerBuilder {
    settings: Settings,
    store: Option<Arc<dyn ViewerStore>>,
    ivs: Option<Arc<dyn IvsBackend>>,
}

impl ServerBuilder {
    /// A builder for these settings.
    pub fn new(settings: Settings) -> Self {
        ServerBuilder {
            settings,
            store: None,
            ivs: None,
        }
    }

    /// Uses this store instead of the one the settings select.
    pub fn store(mut self, store: Arc<dyn ViewerStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses this IVS backend instead of the one the settings select.
    pub fn ivs(mut self, ivs: Arc<dyn IvsBackend>) -> Self {
        self.ivs = Some(ivs);
        self
    }

    /// Connects the seams and ensures the master stage.
    pub async fn build(self) -> Result<Server, BuildError> {
        let (store, redis) = match self.store {
            Some(store) => (store, None),
            None => make_store(&self.settings).await?,
        };
        let ivs = match self.ivs {
            Some(ivs) => ivs,
            None => make_backend(&self.settings, redis).await?,
        };
        let app = App::new(self.settings, store, ivs);
        // Webhooks: the consumer groups exist before the first event.
        crate::webhooks::create_groups(&app)
            .await
            .map_err(BuildError::Store)?;
        app.ensure_master().await?;
        let keys = Arc::new(KeyRing::new(
            &app.settings().api_keys,
            app.settings().rate_limit_per_minute,
        ));
        Ok(Server { app, keys })
    }
}

/// The store the settings select, and the Redis store itself when it is one
/// (the local emulator keeps its account beside it).
async fn make_store(
    settings: &Settings,
) -> Result<(Arc<dyn ViewerStore>, Option<Arc<RedisStore>>), BuildError> {
    match settings.redis.options() {
        None => Ok((
            Arc::new(MemoryStore::with_event_log_max(
                settings.redis.event_log_max,
            )),
            None,
        )),
        // Unreachable at start-up is an error (the server refuses to start);
        // later outages are survived by the store itself.
        Some(options) => {
            let store = RedisStore::connect_with(&options, &settings.redis.prefix)
                .await
                .map_err(BuildError::Store)?
                .with_event_log_max(settings.redis.event_log_max);
            let store = Arc::new(store);
            Ok((store.clone(), Some(store)))
        }
    }
}

async fn make_backend(
    settings: &Settings,
    redis: Option<Arc<RedisStore>>,
) -> Result<Arc<dyn IvsBackend>, BuildError> {
    match settings.ivs.backend {
        BackendKind::Local => {
            let kid = settings.ivs.public_key_arn.clone().unwrap_or_else(|| {
                crate::ivs::rules::public_key_arn(
                    &settings.local.region,
                    &settings.local.account,
                    "local",
                )
            });
            let (region, account) = (&settings.local.region, &settings.local.account);
            // With Redis, the emulated account (stages, sessions, signing key)
            // is shared by every local-mode instance on it: one account, as
            // on AWS. Without, it lives and dies with this process.
            let Some(redis) = redis else {
                let signer = match &settings.ivs.token_key_file {
                    Some(path) => TokenSigner::from_pem_file(path, kid)?,
                    None => TokenSigner::generate(kid)?,
                };
                return Ok(Arc::new(LocalIvs::new(region, account, signer)));
            };
            let state = RedisAccount::new(redis, account, region);
            let signer = match &settings.ivs.token_key_file {
                Some(path) => TokenSigner::from_pem_file(path, kid)?,
                None => {
                    let key = state
                        .signing_key(&TokenSigner::generate_pkcs8()?)
                        .await
                        .map_err(BuildError::Emulator)?;
                    TokenSigner::from_pkcs8(&key, kid)?
                }
            };
            tracing::info!(
                account,
                region,
                "local IVS emulator keeps its account in Redis"
            );
            Ok(Arc::new(LocalIvs::with_state(
                region,
                account,
                signer,
                Box::new(state),
            )))
        }
        BackendKind::Aws => crate::ivs::aws::AwsIvs::new(settings)
            .await
            .map(|ivs| Arc::new(ivs) as Arc<dyn IvsBackend>)
            .map_err(BuildError::Aws),
    }
}

/// A built server, ready to serve.
pub struct Server {
    app: Arc<App>,
    keys: Arc<KeyRing>,
}

impl Server {
    /// The application.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting,
    /// closes idle connections and WebSocket subscribers (with a close
    /// frame), lets in-flight requests finish within the shutdown grace
    /// period and stops the background tasks. Connections are handled by
    /// [`crate::conn`] (timeouts, cap).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (stats_tx, stats_rx) = watch::channel(None);
        let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
        let hub = StatsHub::new(stats_rx, stop_rx.clone(), alive_tx);
        let events = tokio::spawn(crate::http::ws::events::run_follower(
            self.app.store().clone(),
            hub.events().clone(),
            stop_rx.clone(),
        ));
        let routes = crate::http::routes(self.app.clone(), self.keys.clone(), hub);
        let maintenance = tokio::spawn(self.app.clone().run_maintenance(stop_rx.clone()));
        let broadcaster = tokio::spawn(crate::http::ws::run_broadcaster(
            self.app.clone(),
            stats_tx,
            stop_rx.clone(),
        ));
        let sampled_logs = tokio::spawn(flush_sampled_logs(self.app.clone(), stop_rx.clone()));
        let ivs_events = tokio::spawn(crate::service::run_ivs_events(
            self.app.clone(),
            stop_rx.clone(),
        ));
        let webhooks = crate::webhooks::start(self.app.clone(), stop_rx.clone());
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        };
        let service = hyper_util::service::TowerToHyperService::new(warp::service(routes));
        crate::conn::serve(listener, service, self.app.clone(), signal).await;
        // Upgraded WebSocket connections end on their own once told to stop
        // (above, their slots were awaited within the grace period): make
        // sure every session has sent its close frame before returning.
        // `recv` returns `None` once all senders are gone.
        let _ = tokio::time::timeout(Duration::from_secs(3), alive_rx.recv()).await;
        let _ = tokio::join!(
            maintenance,
            broadcaster,
            sampled_logs,
            events,
            ivs_events,
            webhooks
        );
        // Scale-ups that requests started finish (or time out) before exit.
        self.app.drain_tasks(Duration::from_secs(10)).await;
        self.app.metrics().refusals.drain();
        self.app.metrics().connections.flush(true);
    }

    /// Serves in a background task; the returned handle stops it.
    pub fn spawn(self, listener: TcpListener) -> std::io::Result<RunningServer> {
        let addr = listener.local_addr()?;
        let app = self.app.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(listener, async move {
            let _ = rx.await;
        }));
        Ok(RunningServer {
            addr,
            app,
            stop: Some(tx),
            task: Some(task),
        })
    }
}

/// Writes the sampled log lines that are due, so the tail of a flood is
/// reported even when no further refusal comes (`metrics::sampled`).
async fn flush_sampled_logs(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                app.metrics().refusals.flush();
                app.metrics().connections.flush(false);
            }
            _ = stop.changed() => break,
        }
    }
}

/// A server running in a background task. Dropping it stops the server.
pub struct RunningServer {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The application (tests inspect state through it).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
