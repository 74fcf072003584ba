//! The application: what each endpoint does, independent of HTTP.
//!
//! Handlers parse and validate, call one method here, and serialise what it
//! returns. Everything shared lives behind the two seams ([`ViewerStore`] and
//! [`IvsBackend`]), so several instances of this type (in one process or in
//! many) act as one service when they share a store and an IVS account.

mod error;
mod ivs_events;
mod lease;
mod liveness;
mod scaling;
mod stages;
mod stats;
mod tokens;
pub mod validate;
mod viewers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use ivs_api::{Health, HealthServices, RemovalReason, Tags, Timestamp};

use crate::config::Settings;
use crate::ivs::rules::{has_tag, DEPLOYMENT_TAG, ENVIRONMENT_TAG, ROLE_MASTER};
use crate::ivs::{BackendHealth, IvsBackend, IvsError};
use crate::metrics::Metrics;
use crate::store::{
    Fence, IntentAction, Millis, StageKind, StageLoad, StageRecord, StoreError, StoreKind,
    ViewerStore,
};

pub(crate) use error::held_arn;
pub use error::{Invalid, ServiceError};
pub use ivs_events::run_ivs_events;
use scaling::Created;
pub use scaling::ScaleResult;

/// How long `/health` waits for the store before calling it disconnected.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(800);
/// Defined with IVS's rules (`ivs::rules`); named here too for the HTTP
/// layer and the tests that reach them through the service.
pub use crate::ivs::rules::{random_id, MANAGED_BY};
/// The lease every stage creation runs under (scale-ups, the master, stages
/// created on request), so that the limit check and the creation are one
/// decision across the fleet.
pub(crate) const STAGE_LEASE: &str = "scale-up";
/// Longest a stage-operation lease lives without renewal.
pub(crate) const STAGE_LEASE_TTL: Duration = Duration::from_secs(30);

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configured master stage does not exist.
    #[error("MASTER_STAGE_ARN {0} does not exist in IVS")]
    MasterMissing(String),
    /// The configured master stage ARN does not parse.
    #[error("MASTER_STAGE_ARN is not usable")]
    MasterArn(#[source] ivs_api::IdError),
    /// IVS failed.
    #[error("IVS")]
    Ivs(#[from] IvsError),
    /// The store failed.
    #[error("viewer store")]
    Store(#[from] StoreError),
    /// Another instance is creating the master stage and did not finish in time.
    #[error("timed out waiting for another instance to create the master stage")]
    MasterTimeout,
}

/// The application state shared by every request.
pub struct App {
    settings: Settings,
    store: Arc<dyn ViewerStore>,
    ivs: Arc<dyn IvsBackend>,
    instance_id: String,
    started: Instant,
    master: RwLock<String>,
    me: Weak<App>,
    scale_in_flight: AtomicBool,
    master_repair: AtomicBool,
    /// Background work the server owns (scale-ups, master repair): drained
    /// on shutdown, never dropped with the request that started it.
    tasks: tokio_util::task::TaskTracker,
    /// Each finished scale-up's result, for joins waiting on one.
    scale_results: tokio::sync::watch::Sender<(u64, Option<ScaleResult>)>,
    metrics: Metrics,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("instance_id", &self.instance_id)
            .field("store", &self.store.kind())
            .finish_non_exhaustive()
    }
}

/// The registry entry for a stage IVS describes.
pub(crate) fn stage_record(
    stage: &crate::ivs::IvsStage,
    kind: StageKind,
    created_at: Millis,
) -> StageRecord {
    StageRecord {
        arn: stage.arn.clone(),
        name: stage.name.clone(),
        tags: stage.tags.clone(),
        kind,
        created_at,
        draining: false,
        revived_at: None,
    }
}

/// Now, in the store's unit.
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

impl App {
    /// An application over the given seams. Call [`App::ensure_master`] before serving.
    pub fn new(
        settings: Settings,
        store: Arc<dyn ViewerStore>,
        ivs: Arc<dyn IvsBackend>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| App {
            settings,
            store,
            ivs,
            instance_id: random_id(16),
            started: Instant::now(),
            master: RwLock::new(String::new()),
            me: me.clone(),
            scale_in_flight: AtomicBool::new(false),
            master_repair: AtomicBool::new(false),
            tasks: tokio_util::task::TaskTracker::new(),
            scale_results: tokio::sync::watch::channel((0, None)).0,
            metrics: Metrics::default(),
        })
    }

    pub(crate) fn self_arc(&self) -> Option<Arc<App>> {
        self.me.upgrade()
    }

    pub(crate) fn set_master(&self, arn: String) {
        *self.master.write().unwrap_or_else(|e| e.into_inner()) = arn;
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ViewerStore> {
        &self.store
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The IVS backend.
    pub fn ivs(&self) -> &Arc<dyn IvsBackend> {
        &self.ivs
    }

    /// This instance's id (lease holder name).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The master stage ARN (after [`App::ensure_master`]).
    pub fn master_arn(&self) -> String {
        self.master
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The tags every stage the server creates carries.
    pub fn managed_tags(&self) -> Tags {
        let mut tags = Tags::new();
        tags.insert(
            ENVIRONMENT_TAG.into(),
            self.settings.ivs.environment.clone(),
        );
        tags.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        tags.insert(DEPLOYMENT_TAG.into(), self.settings.deployment());
        tags
    }

    /// Whether a stage in IVS was created by this deployment.
    pub(crate) fn ours(&self, tags: &Tags) -> bool {
        has_tag(tags, MANAGED_BY) && tags.get(DEPLOYMENT_TAG) == Some(&self.settings.deployment())
    }

    /// Waits (boundedly) for the background work this instance owns, after
    /// the HTTP server stopped: a scale-up half done at shutdown would
    /// otherwise leave its intent for another instance to resolve.
    pub async fn drain_tasks(&self, within: Duration) {
        self.tasks.close();
        if tokio::time::timeout(within, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "background work still running at shutdown; its intents stay in the store"
            );
        }
    }

    /// The master stage as the store has it now (every instance agrees on
    /// it), also refreshing this instance's copy.
    pub async fn current_master(&self) -> Result<String, StoreError> {
        match self.store.master().await? {
            Some(arn) => {
                self.set_master(arn.clone());
                Ok(arn)
            }
            None => {
                // Being replaced: answer with the last known one meanwhile.
                self.spawn_master_repair();
                Ok(self.master_arn())
            }
        }
    }

    /// Finds or creates the master stage, once across all instances.
    pub async fn ensure_master(&self) -> Result<String, StartError> {
        let arn = self.resolve_master().await?;
        self.set_master(arn.clone());
        Ok(arn)
    }

    async fn resolve_master(&self) -> Result<String, StartError> {
        if let Some(arn) = &self.settings.ivs.master_stage_arn {
            arn.parse::<ivs_api::StageArn>()
                .map_err(StartError::MasterArn)?;
            let stage = match self.ivs.get_stage(arn).await {
                Ok(stage) => stage,
                Err(IvsError::NotFound(_)) => return Err(StartError::MasterMissing(arn.clone())),
                Err(e) => return Err(e.into()),
            };
            let existing = self.store.stage(arn).await?;
            let created_at = existing.map_or_else(now_ms, |s| s.record.created_at);
            let record = stage_record(&stage, StageKind::Master, created_at);
            self.store.register_stage(&record).await?;
            return Ok(stage.arn);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(arn) = self.store.master().await? {
                match self.ivs.get_stage(&arn).await {
                    Ok(_) => return Ok(arn),
                    Err(IvsError::NotFound(_)) => {
                        // The registry outlived the stage (emulator restart, or
                        // deleted in the console): forget it and make a new one.
                        tracing::warn!(stage = %arn, "registered master stage no longer exists; creating a new one");
                        self.store
                            .purge_stage(&arn, now_ms(), RemovalReason::Gone)
                            .await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(arn) = self.create_master().await? {
                return Ok(arn);
            }
            if Instant::now() > deadline {
                return Err(StartError::MasterTimeout);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes sure a master is registered, once across the fleet: under the
    /// stage lease, adopts an unregistered master of this deployment that
    /// IVS already has (left by a crash, or by a store that lost its data),
    /// else creates one through a creation intent. `None` when another
    /// instance holds the lease (try again shortly).
    pub(crate) async fn create_master(&self) -> Result<Option<String>, StartError> {
        let holder = self.lease_holder();
        let outcome = self
            .with_stage_lease(&holder, |fence| self.create_master_locked(fence))
            .await?;
        match outcome {
            Some(result) => result.map(Some),
            None => Ok(None),
        }
    }

    /// The ARN of every stage the store registers.
    pub(crate) async fn registered_arns(
        &self,
    ) -> Result<std::collections::HashSet<String>, crate::store::StoreError> {
        let stages = self.store.stages().await?;
        Ok(stages.into_iter().map(|s| s.record.arn).collect())
    }

    async fn create_master_locked(&self, fence: Fence) -> Result<String, StartError> {
        if let Some(arn) = self.store.master().await? {
            return Ok(arn);
        }
        let registered = self.registered_arns().await?;
        let mut leftovers: Vec<crate::ivs::IvsStage> = self
            .ivs
            .list_stages()
            .await?
            .into_iter()
            .filter(|s| {
                self.ours(&s.tags) && has_tag(&s.tags, ROLE_MASTER) && !registered.contains(&s.arn)
            })
            .collect();
        leftovers.sort_by(|a, b| a.arn.cmp(&b.arn));
        // Earlier attempts' intents: this holder has the lease, so their
        // owners are gone; the listing above tells what they left.
        for intent in self.store.intents().await? {
            if intent.master && intent.action == IntentAction::Create {
                self.store.drop_intent(&intent.id()).await?;
            }
        }
        if let Some(stage) = leftovers.first() {
            let record = stage_record(stage, StageKind::Master, now_ms());
            if self.store.finish_create(&record, &fence).await? {
                tracing::warn!(stage = %record.arn, "adopted an unregistered master stage of this deployment");
                return Ok(record.arn);
            }
            return Err(StartError::MasterTimeout);
        }
        let mut tags = self.managed_tags();
        tags.insert(ROLE_MASTER.0.into(), ROLE_MASTER.1.into());
        let name = self.settings.ivs.master_stage_name.clone();
        match self
            .create_managed(&name, &tags, StageKind::Master, &fence)
            .await
        {
            Ok(Created::Stage(record)) => {
                tracing::info!(stage = %record.arn, "created the master stage");
                Ok(record.arn)
            }
            Ok(Created::AtLimit) => Err(StartError::Ivs(IvsError::QuotaExceeded(
                "the stage limit is reached: no room for the master stage".into(),
            ))),
            Ok(Created::MasterExists | Created::Fenced) => Err(StartError::MasterTimeout),
            Err(scaling::ScaleError::Store(e)) => Err(e.into()),
            Err(scaling::ScaleError::Ivs(e)) => Err(e.into()),
        }
    }

    /// Re-creates (or adopts) the master in the background when it is gone,
    /// once per instance at a time.
    pub(crate) fn spawn_master_repair(&self) {
        if self.settings.ivs.master_stage_arn.is_some()
            || self.master_repair.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let Some(app) = self.self_arc() else {
            self.master_repair.store(false, Ordering::Release);
            return;
        };
        self.tasks.spawn(async move {
            match app.create_master().await {
                Ok(Some(arn)) => app.set_master(arn),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "could not recreate the master stage"),
            }
            app.master_repair.store(false, Ordering::Release);
        });
    }

    /// `GET /health`: answers within about a second whatever the dependencies do.
    pub async fn health(&self) -> (bool, Health) {
        let store_ok = matches!(
            tokio::time::timeout(HEALTH_TIMEOUT, self.store.ping()).await,
            Ok(Ok(()))
        );
        let ivs = tokio::time::timeout(HEALTH_TIMEOUT, self.ivs.health())
            .await
            .unwrap_or(BackendHealth::Unreachable);
        let redis = match (self.store.kind(), store_ok) {
            (StoreKind::Embedded, _) => "embedded",
            (_, true) => "connected",
            (_, false) => "disconnected",
        };
        let healthy = store_ok && ivs != BackendHealth::Unreachable;
        (
            healthy,
            Health::builder()
                .status(if healthy { "ok" } else { "degraded" })
                .timestamp(Timestamp::now())
                .uptime(self.started.elapsed().as_secs())
                .services(
                    HealthServices::builder()
                        .redis(redis)
                        .ivs(ivs.as_str())
                        .build(),
                )
                .build(),
        )
    }

    /// A registered stage, or 404.
    pub(crate) async fn registered(&self, arn: &str) -> Result<StageLoad, ServiceError> {
        self.store
            .stage(arn)
            .await?
            .ok_or_else(|| ServiceError::StageNotManaged { arn: arn.into() })
    }
}
