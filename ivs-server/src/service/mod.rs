//! The application: what each endpoint does, independent of HTTP.
//!
//! Handlers parse and validate, call one method here, and serialise what it
//! returns. Everything shared lives behind the two seams ([`ViewerStore`] and
//! [`IvsBackend`]), so several instances of this type (in one process or in
//! many) act as one service when they share a store and an IVS account.

mod scaling;
mod stages;
mod stats;
mod tokens;
mod viewers;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use ivs_client::model::{Health, HealthServices, Tags, Timestamp};
use rand::distr::{Alphanumeric, SampleString};

use crate::config::Settings;
use crate::error::ApiError;
use crate::ivs::{BackendHealth, IvsBackend, IvsError};
use crate::metrics::Metrics;
use crate::store::{Millis, StageLoad, StageRecord, StoreError, ViewerStore};

pub use scaling::ScaleResult;

/// How long `/health` waits for the store before calling it disconnected.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(800);
/// Tag marking stages this server manages.
pub const MANAGED_BY: (&str, &str) = ("ManagedBy", "api-server");

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configured master stage does not exist.
    #[error("MASTER_STAGE_ARN {0} does not exist in IVS")]
    MasterMissing(String),
    /// The configured master stage ARN does not parse.
    #[error("MASTER_STAGE_ARN is not a stage ARN: {0}")]
    MasterArn(String),
    /// IVS failed.
    #[error("IVS: {0}")]
    Ivs(#[from] IvsError),
    /// The store failed.
    #[error("viewer store: {0}")]
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

/// What a stage is to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageKind {
    /// The master stage: gets viewers, never deleted.
    Master,
    /// Created to absorb viewers: gets viewers, drained when idle.
    AutoScaled,
    /// Created on request: counts toward the limit, gets no assigned viewers.
    Custom,
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
        auto_scaled: kind == StageKind::AutoScaled,
        master: kind == StageKind::Master,
        assignable: kind != StageKind::Custom,
        created_at,
        draining: false,
    }
}

/// Now, in the store's unit.
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

pub fn random_id(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
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
        tags.insert("Environment".into(), self.settings.environment.clone());
        tags.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        tags
    }

    /// Finds or creates the master stage, once across all instances.
    pub async fn ensure_master(&self) -> Result<String, StartError> {
        let arn = self.resolve_master().await?;
        self.set_master(arn.clone());
        Ok(arn)
    }

    async fn resolve_master(&self) -> Result<String, StartError> {
        if let Some(arn) = &self.settings.master_stage_arn {
            arn.parse::<crate::ivs::arn::StageArn>()
                .map_err(|e| StartError::MasterArn(e.to_string()))?;
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
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(master) = self.registered_master().await? {
                match self.ivs.get_stage(&master.record.arn).await {
                    Ok(_) => return Ok(master.record.arn),
                    Err(IvsError::NotFound(_)) => {
                        // The registry outlived the stage (emulator restart, or
                        // deleted in the console): forget it and make a new one.
                        tracing::warn!(stage = %master.record.arn, "registered master stage no longer exists; creating a new one");
                        self.store.purge_stage(&master.record.arn, now_ms()).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if self
                .store
                .try_lease("master-init", &self.instance_id, Duration::from_secs(30))
                .await?
            {
                let result = self.create_master_if_absent().await;
                let _ = self
                    .store
                    .release_lease("master-init", &self.instance_id)
                    .await;
                return result;
            }
            if Instant::now() > deadline {
                return Err(StartError::MasterTimeout);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn registered_master(&self) -> Result<Option<StageLoad>, StoreError> {
        Ok(self
            .store
            .stages()
            .await?
            .into_iter()
            .find(|s| s.record.master))
    }

    pub(crate) async fn create_master_if_absent(&self) -> Result<String, StartError> {
        if let Some(master) = self.registered_master().await? {
            return Ok(master.record.arn);
        }
        let mut tags = self.managed_tags();
        tags.insert("Role".into(), "master".into());
        let stage = self
            .ivs
            .create_stage(&self.settings.master_stage_name, &tags)
            .await?;
        let record = stage_record(&stage, StageKind::Master, now_ms());
        self.store.register_stage(&record).await?;
        tracing::info!(stage = %record.arn, "created the master stage");
        Ok(record.arn)
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
            ("embedded", _) => "embedded",
            (_, true) => "connected",
            (_, false) => "disconnected",
        };
        let healthy = store_ok && ivs != BackendHealth::Unreachable;
        (
            healthy,
            Health {
                status: if healthy { "ok" } else { "degraded" }.into(),
                timestamp: Timestamp::now(),
                uptime: self.started.elapsed().as_secs(),
                services: HealthServices {
                    redis: redis.into(),
                    ivs: ivs.as_str().into(),
                },
            },
        )
    }

    /// A registered stage, or 404.
    pub(crate) async fn registered(&self, arn: &str) -> Result<StageLoad, ApiError> {
        self.store.stage(arn).await?.ok_or_else(|| {
            ApiError::not_found(
                "Stage 不存在",
                format!("stage {arn} is not managed by this server"),
            )
        })
    }
}
