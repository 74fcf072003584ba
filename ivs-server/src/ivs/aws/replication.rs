//! Replicating the publisher from the master stage into the auto-scaled
//! (overflow) stages, so viewers assigned there see it too.
//!
//! The backend learns the master and the overflow stages from the tags the
//! service puts on the stages it creates, from `MASTER_STAGE_ARN`, and from
//! the service's registry after each reconciliation (`sync_stages`), so it
//! also knows stages created before a restart or by another instance.
//!
//! A loop (woken when an overflow stage appears, else every
//! [`ROUND_INTERVAL`]) finds the live publisher on the master, asks IVS which
//! replicas it already has (ListParticipantReplicas), and starts the missing
//! ones. So a publisher that goes live after the stage was created, or a
//! replication that failed, is picked up by a later round. IVS allows
//! [`MAX_REPLICAS`] replications per participant: beyond that a stage gets a
//! note (logged once, and available through `replication_note`) saying the
//! publisher must join it directly with a publisher token for that stage.
//!
//! Before a stage is deleted its replication is stopped
//! (StopParticipantReplication), then the stage is forgotten.
//!
//! IVS's "Participant Replication Started / Ended" events (SQS, see
//! `ivs/events`) are recorded per stage with their time: an ended
//! replication shows in the stage's note and wakes the loop at once, so it is
//! started again without waiting for the next round. An event older than
//! what a round last saw through ListParticipantReplicas is ignored, and a
//! round clears what older events said.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::{for_each_page, lock, Inner, Op, MAX_PAGES};
use crate::ivs::rules::MAX_REPLICAS;
use crate::ivs::IvsError;

/// How long IVS keeps a replica while the publisher reconnects.
pub const RECONNECT_WINDOW_SECS: i32 = 60;
/// A replication round runs at least this often while there are overflow stages.
const ROUND_INTERVAL: Duration = Duration::from_secs(5);

/// One overflow stage the publisher should be replicated into.
#[derive(Debug, Clone)]
pub(super) struct Target {
    arn: String,
    /// The participant last seen replicated here.
    active_for: Option<String>,
    /// Why the publisher is not here, for operators.
    note: Option<String>,
    /// When a round last saw the replication active here (ms).
    observed_at: i64,
    /// What IVS's events last said, if newer than `observed_at`.
    reported: Option<Reported>,
}

/// A replication change IVS reported.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reported {
    active: bool,
    participant_id: String,
    at: i64,
}

impl Target {
    fn new(arn: &str) -> Self {
        Target {
            arn: arn.to_string(),
            active_for: None,
            note: None,
            observed_at: 0,
            reported: None,
        }
    }

    /// The operator's note: the round's own, else an ended replication IVS reported.
    fn note(&self) -> Option<String> {
        if self.note.is_some() {
            return self.note.clone();
        }
        let r = self.reported.as_ref().filter(|r| !r.active)?;
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(r.at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        Some(format!(
            "IVS reported at {at} that the publisher's replication (participant {}) into this stage ended; \
             the server starts it again while the publisher is live on the master stage",
            r.participant_id
        ))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the backend knows about the master, the overflow stages and their
/// replication.
#[derive(Debug)]
pub(super) struct Replication {
    configured_master: Option<String>,
    learned_master: Mutex<Option<String>>,
    targets: Mutex<Vec<Target>>,
    kick: Arc<Notify>,
}

impl Replication {
    pub(super) fn new(configured_master: Option<String>) -> Self {
        Replication {
            configured_master,
            learned_master: Mutex::new(None),
            targets: Mutex::new(Vec::new()),
            kick: Arc::new(Notify::new()),
        }
    }

    /// The master stage: `MASTER_STAGE_ARN`, else the one the service made.
    pub(super) fn master(&self) -> Option<String> {
        self.configured_master
            .clone()
            .or_else(|| lock(&self.learned_master).clone())
    }

    pub(super) fn learn_master(&self, arn: &str) {
        if self.configured_master.is_some() {
            return;
        }
        let mut m = lock(&self.learned_master);
        if m.as_deref() != Some(arn) {
            *m = Some(arn.to_string());
            lock(&self.targets).retain(|t| t.arn != arn);
            self.kick.notify_one();
        }
    }

    pub(super) fn add_target(&self, arn: &str) {
        if self.master().as_deref() == Some(arn) {
            return;
        }
        let mut targets = lock(&self.targets);
        if !targets.iter().any(|t| t.arn == arn) {
            targets.push(Target::new(arn));
            self.kick.notify_one();
        }
    }

    pub(super) fn remove_target(&self, arn: &str) -> Option<Target> {
        let mut targets = lock(&self.targets);
        let i = targets.iter().position(|t| t.arn == arn)?;
        Some(targets.remove(i))
    }

    /// Takes the registry's view: the master and exactly these overflow
    /// stages (in registry order, oldest first, which is the order in which
    /// they get the publisher when the replica limit bites).
    pub(super) fn sync(&self, master: &str, overflow: &[String]) {
        if !master.is_empty() {
            self.learn_master(master);
        }
        let master = self.master();
        let mut targets = lock(&self.targets);
        let mut kept: Vec<Target> = Vec::with_capacity(overflow.len());
        let mut added = false;
        for arn in overflow {
            if master.as_deref() == Some(arn.as_str()) || kept.iter().any(|t| &t.arn == arn) {
                continue;
            }
            match targets.iter().find(|t| &t.arn == arn) {
                Some(t) => kept.push(t.clone()),
                None => {
                    added = true;
                    kept.push(Target::new(arn));
                }
            }
        }
        *targets = kept;
        if added {
            self.kick.notify_one();
        }
    }

    pub(super) fn note(&self, arn: &str) -> Option<String> {
        lock(&self.targets)
            .iter()
            .find(|t| t.arn == arn)
            .and_then(Target::note)
    }

    /// Records a replication change IVS reported at `at`; returns whether it
    /// was newer than what is known (a round's observation or an event).
    pub(super) fn report(&self, arn: &str, participant_id: &str, active: bool, at: i64) -> bool {
        let mut targets = lock(&self.targets);
        let Some(t) = targets.iter_mut().find(|t| t.arn == arn) else {
            return false;
        };
        if at <= t.observed_at || t.reported.as_ref().is_some_and(|r| r.at >= at) {
            return false;
        }
        t.reported = Some(Reported {
            active,
            participant_id: participant_id.to_string(),
            at,
        });
        if active {
            t.active_for = Some(participant_id.to_string());
        } else {
            if t.active_for.as_deref() == Some(participant_id) {
                t.active_for = None;
            }
            // Start it again now rather than at the next round.
            self.kick.notify_one();
        }
        true
    }

    fn target_arns(&self) -> Vec<String> {
        lock(&self.targets).iter().map(|t| t.arn.clone()).collect()
    }

    /// Records a stage's state; returns whether the note changed.
    fn set(&self, arn: &str, active_for: Option<&str>, note: Option<String>) -> bool {
        let mut targets = lock(&self.targets);
        let Some(t) = targets.iter_mut().find(|t| t.arn == arn) else {
            return false;
        };
        t.active_for = active_for.map(str::to_string);
        if t.active_for.is_some() {
            // Seen active now: older events no longer say anything.
            let now = now_ms();
            t.observed_at = now;
            if t.reported.as_ref().is_some_and(|r| r.at <= now) {
                t.reported = None;
            }
        }
        let changed = t.note != note;
        t.note = note;
        changed
    }

    /// The stages we last saw replicating `publisher` (used when IVS cannot
    /// be asked).
    fn recorded_active(&self, publisher: &str) -> HashSet<String> {
        lock(&self.targets)
            .iter()
            .filter(|t| t.active_for.as_deref() == Some(publisher))
            .map(|t| t.arn.clone())
            .collect()
    }
}

/// Runs replication rounds until the backend is dropped.
pub(super) async fn run(inner: Weak<Inner>) {
    let Some(kick) = inner.upgrade().map(|i| i.replication.kick.clone()) else {
        return;
    };
    loop {
        // Woken early when a stage appears; the timeout is the retry period.
        let _ = tokio::time::timeout(ROUND_INTERVAL, kick.notified()).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.replicate_round().await;
    }
}

fn limit_note(publisher: &str) -> String {
    format!(
        "the publisher (participant {publisher}) is already replicated into {MAX_REPLICAS} stages, \
         IVS's limit per participant: viewers of this stage see it only if the publisher also \
         joins this stage with its own token (POST /api/token/publisher with this stageArn)"
    )
}

impl Inner {
    /// One round: replicate the live publisher into every overflow stage
    /// that lacks it, within IVS's limit.
    pub(super) async fn replicate_round(&self) {
        let targets = self.replication.target_arns();
        let Some(master) = self.replication.master() else {
            return;
        };
        if targets.is_empty() {
            return;
        }
        let publisher = match self.liveness(&master).await {
            Ok(l) => l.publisher,
            Err(e) => {
                tracing::debug!(error = %e, "replication: publisher liveness unknown; will retry");
                return;
            }
        };
        let Some(publisher) = publisher else {
            // Nothing to replicate until the publisher goes live.
            for arn in &targets {
                self.replication.set(arn, None, None);
            }
            return;
        };
        let active = match self.active_replicas(&master, &publisher).await {
            Ok(active) => active,
            Err(e) => {
                tracing::warn!(error = %e, "replication: cannot list the publisher's replicas; using what this instance started");
                self.replication.recorded_active(&publisher)
            }
        };
        let mut count = active.len();
        for arn in targets {
            if active.contains(&arn) {
                self.replication.set(&arn, Some(&publisher), None);
                continue;
            }
            if count >= MAX_REPLICAS {
                self.at_limit(&arn, &publisher);
                continue;
            }
            let started = self
                .call(Op::StartParticipantReplication, || {
                    self.client
                        .start_participant_replication()
                        .source_stage_arn(&master)
                        .destination_stage_arn(&arn)
                        .participant_id(&publisher)
                        .reconnect_window_seconds(RECONNECT_WINDOW_SECS)
                        .send()
                })
                .await;
            match started {
                Ok(_) => {
                    count += 1;
                    self.replication.set(&arn, Some(&publisher), None);
                    tracing::info!(stage = %arn, participant = %publisher, "replicating the publisher into an overflow stage");
                }
                // Another instance (or an earlier round whose answer was lost)
                // started it already.
                Err(IvsError::Conflict(_)) => {
                    count += 1;
                    self.replication.set(&arn, Some(&publisher), None);
                }
                Err(IvsError::QuotaExceeded(_)) => self.at_limit(&arn, &publisher),
                Err(e) => {
                    let note = format!("replicating the publisher failed, retrying: {e}");
                    if self.replication.set(&arn, None, Some(note)) {
                        tracing::warn!(stage = %arn, error = %e, "could not replicate the publisher into an overflow stage; will retry");
                    }
                }
            }
        }
    }

    fn at_limit(&self, arn: &str, publisher: &str) {
        if self.replication.set(arn, None, Some(limit_note(publisher))) {
            tracing::warn!(
                stage = %arn,
                participant = %publisher,
                limit = MAX_REPLICAS,
                "the publisher cannot be replicated into this stage: IVS allows {MAX_REPLICAS} replications per participant; the publisher must join it with a token for this stage"
            );
        }
    }

    /// The stages `publisher` is actively replicated into.
    async fn active_replicas(
        &self,
        master: &str,
        publisher: &str,
    ) -> Result<HashSet<String>, IvsError> {
        let mut active = HashSet::new();
        for_each_page(
            MAX_PAGES,
            |next| {
                self.call(Op::ListParticipantReplicas, move || {
                    self.client
                        .list_participant_replicas()
                        .source_stage_arn(master)
                        .participant_id(publisher)
                        .set_next_token(next)
                        .send()
                })
            },
            |page| {
                active.extend(
                    page.replicas()
                        .iter()
                        .filter(|r| {
                            *r.replication_state()
                                == aws_sdk_ivsrealtime::types::ReplicationState::Active
                        })
                        .map(|r| r.destination_stage_arn().to_string()),
                )
            },
        )
        .await?;
        Ok(active)
    }

    /// Stops the publisher's replication into `arn` before it is deleted and
    /// stops tracking the stage. Best effort: deleting the stage ends the
    /// replication anyway; stopping first lets the publisher's replica slot be
    /// freed at once and keeps IVS's view tidy.
    pub(super) async fn stop_replication_into(&self, arn: &str) {
        let recorded = self
            .replication
            .remove_target(arn)
            .and_then(|t| t.active_for);
        let Some(master) = self.replication.master() else {
            return;
        };
        if master == arn {
            return;
        }
        // Not started here? Another instance may have: ask about the live publisher.
        let participant = match recorded {
            Some(p) => Some(p),
            None => self.liveness(&master).await.ok().and_then(|l| l.publisher),
        };
        let Some(participant) = participant else {
            return;
        };
        let stopped = self
            .call(Op::StopParticipantReplication, || {
                self.client
                    .stop_participant_replication()
                    .source_stage_arn(&master)
                    .destination_stage_arn(arn)
                    .participant_id(&participant)
                    .send()
            })
            .await;
        match stopped {
            Ok(_) => {
                tracing::info!(stage = %arn, participant = %participant, "stopped replicating the publisher into a stage before deleting it")
            }
            // Nothing was replicated there.
            Err(IvsError::NotFound(_) | IvsError::Validation(_)) => {}
            Err(e) => {
                tracing::warn!(stage = %arn, error = %e, "could not stop the publisher's replication; deleting the stage anyway")
            }
        }
    }
}
