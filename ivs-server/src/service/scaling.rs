//! Stage scaling and the periodic maintenance (expiry sweep, scale-down,
//! intents left by crashes, reconciliation with IVS).
//!
//! Decisions that must happen once across all instances are taken under a
//! store lease (`service/lease.rs`): the stage lease (held while one stage
//! is created) and `maintenance` (held, and renewed, by the one instance
//! that sweeps). Every creation and deletion goes through an intent recorded
//! in the store before IVS is called, so the stage limit counts stages in
//! flight and a crash in between is finished or undone by maintenance.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ivs_api::{RemovalReason, Tags};

use super::lease::AfterWork;
use super::{now_ms, stage_record, App};
use crate::ivs::rules::{has_tag, AUTO_SCALED, AUTO_STAGE_PREFIX, ROLE_MASTER};
use crate::ivs::IvsError;
use crate::metrics::Metrics;
use crate::store::StageKind;
use crate::store::{
    BeginOutcome, Fence, Intent, IntentAction, RemoveOutcome, StageRecord, StoreError,
};

const MAINTENANCE_LEASE: &str = "maintenance";
/// Reconcile the registry with IVS every this many maintenance rounds.
const RECONCILE_EVERY: u64 = 12;
/// Departed viewers disconnected in IVS per maintenance round.
const DISCONNECTS_PER_ROUND: u32 = 20;
/// How long a stage IVS created is retried into the registry through a
/// store outage (well under the stage lease's TTL).
const FINISH_PATIENCE: Duration = Duration::from_secs(15);

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
    /// The stage limit is reached (in our registry, or IVS's quota).
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

/// What a crash-safe creation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Created {
    /// Created and registered.
    Stage(StageRecord),
    /// No room: the limit (registered stages + intents) or IVS's quota.
    AtLimit,
    /// A master exists or is being created.
    MasterExists,
    /// The lease was lost; nothing registered.
    Fenced,
}

impl App {
    /// Starts a scale-up as a task the server owns (it survives the request
    /// that asked for it, and shutdown waits for it), unless one is already
    /// running here.
    pub(crate) fn spawn_scale_up(&self) {
        if self.scale_in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        // `self` is not 'static; the handler holds an Arc<App>, reached again
        // through this weak handle so a shutting-down server is not kept alive.
        let Some(app) = self.self_arc() else {
            self.scale_in_flight.store(false, Ordering::Release);
            return;
        };
        self.tasks.spawn(async move {
            let result = match app.scale_up_now().await {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(error = %e, "background scale-up failed");
                    None
                }
            };
            app.scale_in_flight.store(false, Ordering::Release);
            app.scale_results.send_modify(|(generation, last)| {
                *generation += 1;
                *last = result;
            });
        });
    }

    /// Starts a scale-up (or joins the running one) and waits until it ends
    /// or `until`; its result, `None` when it failed or is still running.
    pub(crate) async fn scale_up_and_wait(
        &self,
        until: tokio::time::Instant,
    ) -> Option<ScaleResult> {
        let mut results = self.scale_results.subscribe();
        results.mark_unchanged();
        self.spawn_scale_up();
        match tokio::time::timeout_at(until, results.changed()).await {
            Ok(Ok(())) => results.borrow().1,
            _ => None,
        }
    }

    /// Adds capacity if every assignable stage has reached the threshold: revives
    /// a draining stage if there is one, else creates a stage. At most one
    /// instance does this at a time, and it re-checks under the lease, so each
    /// threshold crossing makes exactly one stage.
    pub async fn scale_up_now(&self) -> Result<ScaleResult, ScaleError> {
        // A holder per call, not per instance: the lease must also exclude the
        // other requests of this instance, and a holder may renew its own lease.
        let holder = self.lease_holder();
        let outcome = self
            .with_stage_lease(&holder, |fence| async move {
                self.scale_up_locked(&fence).await
            })
            .await?;
        outcome.unwrap_or(Ok(ScaleResult::Busy))
    }

    async fn scale_up_locked(&self, fence: &Fence) -> Result<ScaleResult, ScaleError> {
        let limits = self.settings.limits;
        let stages = self.store.stages().await?;
        let min_active = stages
            .iter()
            .filter(|s| s.record.kind.is_assignable() && !s.record.draining)
            .map(|s| s.viewers)
            .min();
        if min_active.is_some_and(|n| n < limits.scale_up_threshold) {
            return Ok(ScaleResult::NotNeeded);
        }
        let mut draining: Vec<_> = stages
            .iter()
            .filter(|s| s.record.kind.is_assignable() && s.record.draining)
            .collect();
        draining.sort_by_key(|s| std::cmp::Reverse(s.viewers));
        for stage in draining {
            // Atomic in the store: a stage deleted meanwhile is not revived.
            if self.store.revive(&stage.record.arn, now_ms()).await? {
                Metrics::inc(&self.metrics.scale_ups);
                tracing::info!(stage = %stage.record.arn, "revived a draining stage");
                return Ok(ScaleResult::Revived);
            }
        }
        // A creation whose outcome is unknown (a timeout) holds a slot until
        // resolved; resolve it now rather than let failed attempts pile up
        // intents until they reach the limit.
        if self
            .store
            .intents()
            .await?
            .iter()
            .any(|i| i.action == IntentAction::Create && !i.master)
        {
            let listing = self.ivs.list_stages().await?;
            self.resolve_leftovers_locked(&listing).await?;
        }
        let name = format!("{AUTO_STAGE_PREFIX}{}", now_ms());
        let mut tags = self.managed_tags();
        tags.insert(AUTO_SCALED.0.into(), AUTO_SCALED.1.into());
        match self
            .create_managed(&name, &tags, StageKind::AutoScaled, fence)
            .await?
        {
            Created::Stage(record) => {
                Metrics::inc(&self.metrics.scale_ups);
                tracing::info!(stage = %record.arn, "scaled up: created a stage");
                Ok(ScaleResult::Added)
            }
            Created::AtLimit => {
                tracing::warn!(
                    limit = limits.max_stages,
                    "stage limit reached; cannot scale up"
                );
                Ok(ScaleResult::AtLimit)
            }
            Created::MasterExists | Created::Fenced => Ok(ScaleResult::Busy),
        }
    }

    /// Creates a stage crash-safely: a creation intent (checked against the
    /// limit, fenced by the caller's lease), CreateStage, then registration
    /// and the intent's removal in one store step. A crash anywhere leaves
    /// the intent, which maintenance resolves.
    pub(crate) async fn create_managed(
        &self,
        name: &str,
        tags: &Tags,
        kind: StageKind,
        fence: &Fence,
    ) -> Result<Created, ScaleError> {
        let intent = Intent {
            action: IntentAction::Create,
            target: name.to_string(),
            master: kind == StageKind::Master,
            at: now_ms(),
            owner: fence.holder.clone(),
        };
        match self
            .store
            .begin_create(&intent, fence, self.settings.limits.max_stages)
            .await?
        {
            BeginOutcome::Recorded => {}
            BeginOutcome::AtLimit => return Ok(Created::AtLimit),
            BeginOutcome::MasterExists => return Ok(Created::MasterExists),
            BeginOutcome::Fenced => return Ok(Created::Fenced),
        }
        let stage = match self.ivs.create_stage(name, tags).await {
            Ok(stage) => stage,
            Err(e) => {
                // A definite "no" from IVS created nothing: the intent goes.
                // Anything else (a timeout) may have created the stage, so
                // the intent stays for maintenance to look it up.
                let definite = matches!(
                    e,
                    IvsError::QuotaExceeded(_)
                        | IvsError::Validation(_)
                        | IvsError::AccessDenied(_)
                        | IvsError::Conflict(_)
                );
                if definite {
                    self.store.drop_intent(&intent.id()).await?;
                }
                if let IvsError::QuotaExceeded(msg) = &e {
                    tracing::warn!(error = %msg, "IVS refused a stage: the account's stage quota is reached");
                    return Ok(Created::AtLimit);
                }
                return Err(e.into());
            }
        };
        let record = stage_record(&stage, kind, now_ms());
        if self.finish_create_patiently(&record, fence).await? {
            return Ok(Created::Stage(record));
        }
        // The lease passed to another holder while IVS worked: this stage
        // is not ours to register. Undo it; if that fails, the intent stays
        // and maintenance deletes the stage.
        tracing::warn!(stage = %record.arn, "lost the stage lease during CreateStage; deleting the stage");
        match self.ivs.delete_stage(&record.arn).await {
            Ok(()) | Err(IvsError::NotFound(_)) => {
                self.store.drop_intent(&intent.id()).await?;
            }
            Err(e) => {
                tracing::warn!(stage = %record.arn, error = %e, "could not delete an unregistered stage; maintenance will")
            }
        }
        Ok(Created::Fenced)
    }

    /// Registers a stage IVS just created, retrying through a short store
    /// outage (a failover, a paused Redis) while the lease is renewed: the
    /// stage exists and should serve viewers, not wait for maintenance to
    /// delete it. Gives up after [`FINISH_PATIENCE`]; the intent then stays.
    async fn finish_create_patiently(
        &self,
        record: &StageRecord,
        fence: &Fence,
    ) -> Result<bool, StoreError> {
        let give_up = tokio::time::Instant::now() + FINISH_PATIENCE;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.store.finish_create(record, fence).await {
                Ok(done) => return Ok(done),
                Err(e) if tokio::time::Instant::now() + pause < give_up => {
                    tracing::warn!(stage = %record.arn, error = %e, "could not register a new stage yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One maintenance round: sweep expired viewers, drain and delete idle
    /// auto-scaled stages, finish deletions, and (every few rounds)
    /// reconcile with IVS. Only the holder of the maintenance lease runs it.
    /// Returns whether it ran.
    pub async fn maintenance_round(&self, round: u64) -> Result<bool, ScaleError> {
        // The lease outlives a few missed rounds, so a live holder keeps it and
        // a dead one is replaced within three intervals; it is renewed while
        // a long round (a slow ListStages) runs.
        let ttl = (self.settings.limits.sweep_interval * 3).max(Duration::from_secs(1));
        let instance = self.instance_id.clone();
        let ran = self
            .with_lease(
                MAINTENANCE_LEASE,
                &instance,
                ttl,
                AfterWork::Keep,
                |fence| async move { self.maintenance_locked(round, &fence).await },
            )
            .await?;
        match ran {
            Some(result) => result.map(|()| true),
            None => Ok(false),
        }
    }

    async fn maintenance_locked(&self, round: u64, fence: &Fence) -> Result<(), ScaleError> {
        let limits = self.settings.limits;
        let now = now_ms();
        let expired = self
            .store
            .sweep(now, limits.heartbeat_timeout, limits.duration_retention)
            .await?;
        if expired > 0 {
            self.metrics.expirations.inc_by(expired);
            tracing::info!(expired, "removed viewers without a heartbeat");
        }
        self.disconnect_departed().await?;
        self.scale_down(now, fence).await?;
        self.finish_deletions().await?;
        // A poll failure must not stop the rest of maintenance.
        if let Err(e) = self.poll_publisher_if_due().await {
            tracing::warn!(error = %e, "publisher liveness poll failed");
        }
        if round % RECONCILE_EVERY == 1 {
            self.reconcile().await?;
        }
        Ok(())
    }

    async fn scale_down(&self, now: i64, fence: &Fence) -> Result<(), ScaleError> {
        let limits = self.settings.limits;
        for stage in self.store.stages().await? {
            let r = &stage.record;
            if !r.kind.is_auto_scaled() {
                continue;
            }
            // Checked again in the store, in one step: a stage revived since
            // the listing above is left alone.
            if !r.draining
                && self
                    .store
                    .drain_if_idle(
                        &r.arn,
                        limits.scale_down_threshold,
                        limits.scale_down_min_age,
                        now,
                        fence,
                    )
                    .await?
            {
                tracing::info!(stage = %r.arn, viewers = stage.viewers, "draining an idle auto-scaled stage");
            }
            if let RemoveOutcome::Removed = self.store.begin_delete(&r.arn, now, fence).await? {
                self.delete_in_ivs(&r.arn).await?;
            }
        }
        Ok(())
    }

    /// Deletes a stage whose deletion intent is recorded; the intent goes
    /// once IVS confirms (or says it was gone already).
    async fn delete_in_ivs(&self, arn: &str) -> Result<bool, ScaleError> {
        let id = Intent::delete_id(arn);
        match self.ivs.delete_stage(arn).await {
            Ok(()) | Err(IvsError::NotFound(_)) => {
                self.store.drop_intent(&id).await?;
                Metrics::inc(&self.metrics.scale_downs);
                tracing::info!(stage = %arn, "scaled down: deleted an empty stage");
                Ok(true)
            }
            Err(e) => {
                // Still counted toward the limit by its intent; retried next round.
                tracing::warn!(stage = %arn, error = %e, "could not delete a drained stage; will retry");
                Ok(false)
            }
        }
    }

    /// Disconnects in IVS the viewers that left or expired, so that a
    /// removed viewer's token (valid for an hour, never revoked) does not keep
    /// watching from a seat its slot was given to. The queue is in the store;
    /// a few per round keep the calls within IVS's 5 TPS for
    /// DisconnectParticipant (the AWS backend's call budget paces them too).
    async fn disconnect_departed(&self) -> Result<(), ScaleError> {
        let batch = self.store.departures(DISCONNECTS_PER_ROUND).await?;
        let mut handled = 0u32;
        let (mut refused, mut last_refusal) = (0u32, None);
        for d in &batch {
            match self
                .ivs
                .disconnect_participant(&d.stage_arn, &d.participant_id)
                .await
            {
                // Gone with its stage: nothing left to cut off.
                Ok(()) | Err(IvsError::NotFound(_)) => {}
                Err(IvsError::Unavailable(e)) => {
                    // Throttled or out of budget: the rest waits for the next round.
                    tracing::debug!(error = %e, "disconnects deferred");
                    break;
                }
                Err(e) => {
                    // One line per round, not per viewer (a missing IAM
                    // permission would otherwise log every departure).
                    refused += 1;
                    last_refusal = Some(e);
                }
            }
            handled += 1;
        }
        if let Some(e) = last_refusal {
            tracing::warn!(refused, error = %e, "IVS refused to disconnect departed viewers; dropped them");
        }
        if handled > 0 {
            self.store.ack_departures(handled).await?;
            tracing::debug!(handled, "disconnected departed viewers in IVS");
        }
        Ok(())
    }

    /// Retries the deletions that earlier rounds (or crashed instances) left.
    async fn finish_deletions(&self) -> Result<(), ScaleError> {
        for intent in self.store.intents().await? {
            if intent.action == IntentAction::Delete {
                self.delete_in_ivs(&intent.target).await?;
            }
        }
        Ok(())
    }

    /// Brings the registry in line with IVS: stages deleted outside the server
    /// are forgotten (their viewers removed), renamed ones take the new name,
    /// stages this deployment left unregistered (crashes) are deleted, and
    /// creation intents whose owner is gone are resolved.
    ///
    /// Only stages registered *before* the listing started can be judged
    /// missing from it: the registry is read first, and a stage is purged
    /// only when it is still registered afterwards and IVS confirms it is
    /// gone, so a stage created while a slow listing runs is never purged.
    pub async fn reconcile(&self) -> Result<(), ScaleError> {
        let before: HashMap<String, i64> = self
            .store
            .stages()
            .await?
            .into_iter()
            .map(|s| (s.record.arn, s.record.created_at))
            .collect();
        let listing = self.ivs.list_stages().await?;
        let live: HashMap<&str, &crate::ivs::IvsStage> =
            listing.iter().map(|s| (s.arn.as_str(), s)).collect();
        let after = self.store.stages().await?;
        for stage in &after {
            let r = &stage.record;
            match live.get(r.arn.as_str()) {
                None if before.get(&r.arn) == Some(&r.created_at) => {
                    self.forget_if_gone(&r.arn, r.kind.is_master()).await?;
                }
                None => {}
                Some(s) if s.name != r.name => {
                    self.store.rename_stage(&r.arn, &s.name).await?;
                }
                Some(_) => {}
            }
        }
        self.clean_leftovers(&listing).await?;
        // Let the backend follow the registry (the AWS backend replicates the
        // publisher into the auto-scaled stages).
        let overflow: Vec<String> = self
            .store
            .stages()
            .await?
            .into_iter()
            .filter(|s| s.record.kind.is_auto_scaled())
            .map(|s| s.record.arn)
            .collect();
        let master = self.current_master().await?;
        self.ivs.sync_stages(&master, &overflow).await;
        Ok(())
    }

    /// Purges a registered stage if IVS confirms it no longer exists
    /// (deleted out of band); a purged master is replaced.
    pub(crate) async fn forget_if_gone(&self, arn: &str, master: bool) -> Result<bool, ScaleError> {
        match self.ivs.get_stage(arn).await {
            Err(IvsError::NotFound(_)) => {}
            Ok(_) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        tracing::warn!(stage = %arn, master, "stage was deleted outside the server; forgetting it");
        self.store
            .purge_stage(arn, now_ms(), RemovalReason::Gone)
            .await?;
        if master {
            self.spawn_master_repair();
        }
        Ok(true)
    }

    /// Deletes the stages of this deployment that nothing registers or
    /// intends (what a crash between CreateStage and registration left), and
    /// resolves creation intents whose owner is gone. Runs under the stage
    /// lease, so no creation is in flight while it judges.
    async fn clean_leftovers(&self, listing: &[crate::ivs::IvsStage]) -> Result<(), ScaleError> {
        let holder = self.lease_holder();
        self.with_stage_lease(&holder, |_fence| self.resolve_leftovers_locked(listing))
            .await?
            .unwrap_or(Ok(()))
    }

    /// The work of [`App::clean_leftovers`], for a holder of the stage lease
    /// and a listing of IVS taken before or under it.
    async fn resolve_leftovers_locked(
        &self,
        listing: &[crate::ivs::IvsStage],
    ) -> Result<(), ScaleError> {
        // Read under the lease: intents and registrations made before it was
        // taken are complete or abandoned.
        let intents = self.store.intents().await?;
        let registered = self.registered_arns().await?;
        let deleting: HashSet<&str> = intents
            .iter()
            .filter(|i| i.action == IntentAction::Delete)
            .map(|i| i.target.as_str())
            .collect();
        let has_master = self.store.master().await?.is_some();
        for stage in listing {
            if !self.ours(&stage.tags)
                || registered.contains(&stage.arn)
                || deleting.contains(stage.arn.as_str())
            {
                continue;
            }
            let is_master = has_tag(&stage.tags, ROLE_MASTER);
            if is_master && !has_master {
                // The master repair adopts it.
                self.spawn_master_repair();
                continue;
            }
            tracing::warn!(stage = %stage.arn, name = %stage.name, "deleting a stage of this deployment that nothing registers (left by a crash)");
            match self.ivs.delete_stage(&stage.arn).await {
                Ok(()) | Err(IvsError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(stage = %stage.arn, error = %e, "could not delete a leftover stage; will retry")
                }
            }
        }
        // The listing showed what every abandoned creation left, and those
        // stages were just deleted (or are adopted as the master).
        for intent in intents {
            if intent.action == IntentAction::Create && (!intent.master || has_master) {
                self.store.drop_intent(&intent.id()).await?;
            }
        }
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
