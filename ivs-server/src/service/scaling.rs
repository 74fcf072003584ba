//! Stage scaling and the periodic maintenance (expiry sweep, scale-down,
//! reconciliation with IVS).
//!
//! Decisions that must happen once across all instances are taken under a
//! store lease: `scale-up` (held while one stage is created) and `maintenance`
//! (held, and renewed, by the one instance that sweeps).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{now_ms, stage_record, App, StageKind};
use crate::ivs::IvsError;
use crate::metrics::Metrics;
use crate::store::{RemoveOutcome, StoreError};

const SCALE_LEASE: &str = "scale-up";
const SCALE_LEASE_TTL: Duration = Duration::from_secs(30);
const MAINTENANCE_LEASE: &str = "maintenance";
/// Reconcile the registry with IVS every this many maintenance rounds.
const RECONCILE_EVERY: u64 = 12;

/// What a scale-up attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScaleResult {
    /// A new stage was created.
    Added,
    /// A draining stage was put back in service.
    Revived,
    /// The fleet has room; nothing done.
    NotNeeded,
    /// The stage limit is reached.
    AtLimit,
    /// Another instance (or task) is scaling right now.
    Busy,
}

/// Why a scale-up failed.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// IVS failed.
    #[error(transparent)]
    Ivs(#[from] IvsError),
}

impl App {
    /// Starts a scale-up in the background unless one is already running here.
    pub(crate) fn spawn_scale_up(&self) {
        if self.scale_in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        // `self` is not 'static; the handler holds an Arc<App>, reached again
        // through this weak handle so a shutting-down server is not kept alive.
        if let Some(app) = self.self_arc() {
            tokio::spawn(async move {
                if let Err(e) = app.scale_up_now().await {
                    tracing::warn!(error = %e, "background scale-up failed");
                }
                app.scale_in_flight.store(false, Ordering::Release);
            });
        } else {
            self.scale_in_flight.store(false, Ordering::Release);
        }
    }

    /// Adds capacity if every assignable stage has reached the threshold: revives
    /// a draining stage if there is one, else creates a stage. At most one
    /// instance does this at a time, and it re-checks under the lease, so each
    /// threshold crossing makes exactly one stage.
    pub async fn scale_up_now(&self) -> Result<ScaleResult, ScaleError> {
        // A holder per call, not per instance: the lease must also exclude the
        // other requests of this instance, and a holder may renew its own lease.
        let holder = format!("{}/{}", self.instance_id, super::random_id(8));
        if !self
            .store
            .try_lease(SCALE_LEASE, &holder, SCALE_LEASE_TTL)
            .await?
        {
            return Ok(ScaleResult::Busy);
        }
        let result = self.scale_up_locked().await;
        if let Err(e) = self.store.release_lease(SCALE_LEASE, &holder).await {
            tracing::warn!(error = %e, "could not release the scale-up lease; it will expire");
        }
        result
    }

    async fn scale_up_locked(&self) -> Result<ScaleResult, ScaleError> {
        let limits = self.settings.limits;
        let stages = self.store.stages().await?;
        let min_active = stages
            .iter()
            .filter(|s| s.record.assignable && !s.record.draining)
            .map(|s| s.viewers)
            .min();
        if min_active.is_some_and(|n| n < limits.scale_up_threshold) {
            return Ok(ScaleResult::NotNeeded);
        }
        if let Some(draining) = stages
            .iter()
            .filter(|s| s.record.assignable && s.record.draining)
            .max_by_key(|s| s.viewers)
        {
            self.store.set_draining(&draining.record.arn, false).await?;
            Metrics::inc(&self.metrics.scale_ups);
            tracing::info!(stage = %draining.record.arn, "revived a draining stage");
            return Ok(ScaleResult::Revived);
        }
        if stages.len() as u32 >= limits.max_stages {
            tracing::warn!(
                limit = limits.max_stages,
                "stage limit reached; cannot scale up"
            );
            return Ok(ScaleResult::AtLimit);
        }
        let now = now_ms();
        let name = format!("auto-stage-{now}");
        let mut tags = self.managed_tags();
        tags.insert("AutoScaled".into(), "true".into());
        let stage = self.ivs.create_stage(&name, &tags).await?;
        let record = stage_record(&stage, StageKind::AutoScaled, now);
        self.store.register_stage(&record).await?;
        Metrics::inc(&self.metrics.scale_ups);
        tracing::info!(stage = %record.arn, "scaled up: created a stage");
        Ok(ScaleResult::Added)
    }

    /// One maintenance round: sweep expired viewers, drain and delete idle
    /// auto-scaled stages, and (every few rounds) reconcile with IVS. Only the
    /// holder of the maintenance lease runs it. Returns whether it ran.
    pub async fn maintenance_round(&self, round: u64) -> Result<bool, ScaleError> {
        let limits = self.settings.limits;
        // The lease outlives a few missed rounds, so a live holder keeps it and
        // a dead one is replaced within three intervals.
        let ttl = limits.sweep_interval * 3;
        if !self
            .store
            .try_lease(MAINTENANCE_LEASE, &self.instance_id, ttl)
            .await?
        {
            return Ok(false);
        }
        let now = now_ms();
        let expired = self
            .store
            .sweep(now, limits.heartbeat_timeout, limits.duration_retention)
            .await?;
        if expired > 0 {
            self.metrics
                .expirations
                .fetch_add(expired, Ordering::Relaxed);
            tracing::info!(expired, "removed viewers without a heartbeat");
        }
        self.scale_down(now).await?;
        if round % RECONCILE_EVERY == 1 {
            self.reconcile().await?;
        }
        Ok(true)
    }

    async fn scale_down(&self, now: i64) -> Result<(), ScaleError> {
        let limits = self.settings.limits;
        let min_age = limits.scale_down_min_age.as_millis() as i64;
        for stage in self.store.stages().await? {
            let r = &stage.record;
            if !r.auto_scaled {
                continue;
            }
            let mut draining = r.draining;
            if !draining
                && stage.viewers < limits.scale_down_threshold
                && now - r.created_at >= min_age
            {
                self.store.set_draining(&r.arn, true).await?;
                draining = true;
                tracing::info!(stage = %r.arn, viewers = stage.viewers, "draining an idle auto-scaled stage");
            }
            if draining && self.store.remove_stage_if_empty(&r.arn).await? == RemoveOutcome::Removed
            {
                match self.ivs.delete_stage(&r.arn).await {
                    Ok(()) | Err(IvsError::NotFound(_)) => {
                        Metrics::inc(&self.metrics.scale_downs);
                        tracing::info!(stage = %r.arn, "scaled down: deleted an empty stage");
                    }
                    Err(e) => {
                        // Keep it registered (draining) so the next round retries.
                        let mut back = r.clone();
                        back.draining = true;
                        self.store.register_stage(&back).await?;
                        tracing::warn!(stage = %r.arn, error = %e, "could not delete a drained stage; will retry");
                    }
                }
            }
        }
        Ok(())
    }

    /// Brings the registry in line with IVS: stages deleted outside the server
    /// are forgotten (their viewers removed), renamed ones take the new name.
    pub async fn reconcile(&self) -> Result<(), ScaleError> {
        let live: HashMap<String, String> = self
            .ivs
            .list_stages()
            .await?
            .into_iter()
            .map(|s| (s.arn, s.name))
            .collect();
        let registered = self.store.stages().await?;
        let master = self.master_arn();
        if !registered.iter().any(|s| s.record.master) && live.contains_key(&master) {
            // The registry was lost (Redis restarted without persistence):
            // the master still exists in IVS, so put it back.
            tracing::warn!(stage = %master, "master stage missing from the registry; re-registering it");
            if let Ok(stage) = self.ivs.get_stage(&master).await {
                let record = stage_record(&stage, StageKind::Master, now_ms());
                self.store.register_stage(&record).await?;
            }
        }
        for stage in registered {
            let r = &stage.record;
            match live.get(&r.arn) {
                None => {
                    tracing::warn!(stage = %r.arn, master = r.master, "stage was deleted outside the server; forgetting it");
                    self.store.purge_stage(&r.arn, now_ms()).await?;
                    if r.master && self.settings.master_stage_arn.is_none() {
                        match self.create_master_if_absent().await {
                            Ok(arn) => self.set_master(arn),
                            Err(e) => {
                                tracing::error!(error = %e, "could not recreate the master stage")
                            }
                        }
                    }
                }
                Some(name) if *name != r.name => {
                    self.store.rename_stage(&r.arn, name).await?;
                }
                Some(_) => {}
            }
        }
        // Let the backend follow the registry (the AWS backend replicates the
        // publisher into the auto-scaled stages).
        let overflow: Vec<String> = self
            .store
            .stages()
            .await?
            .into_iter()
            .filter(|s| s.record.auto_scaled)
            .map(|s| s.record.arn)
            .collect();
        self.ivs.sync_stages(&self.master_arn(), &overflow).await;
        Ok(())
    }

    /// Runs maintenance every sweep interval until `shutdown` fires.
    pub async fn run_maintenance(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(self.settings.limits.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            round += 1;
            if let Err(e) = self.maintenance_round(round).await {
                tracing::warn!(error = %e, "maintenance round failed");
            }
        }
        let _ = self
            .store
            .release_lease(MAINTENANCE_LEASE, &self.instance_id)
            .await;
    }
}
