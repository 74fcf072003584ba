//! IVS events applied to the fleet's state: publisher published /
//! unpublished on a managed stage → the recorded publisher state (and
//! `publisher.live` / `publisher.offline` when it changes); replication
//! started / ended → the backend's replication status of the stage.
//!
//! Events are late, duplicated or out of order, so each is applied with the
//! time IVS gives it: the store ignores an observation older than the one it
//! holds, whether that one came from an event or from a poll
//! (`service/liveness.rs`), so a stale event never contradicts a newer poll.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{App, ServiceError};
use crate::ivs::events::eventbridge::{self, Parsed};
use crate::ivs::events::sqs::{EventSink, Handled, SqsEvents};
use crate::ivs::events::{IvsEvent, IvsEventKind};
use crate::ivs::rules::PUBLISHER_PREFIX;
use crate::metrics::ivs_events::EventOutcome;

/// A failed apply of an emulator event is tried again this often at most.
const LOCAL_RETRIES: u32 = 5;

impl App {
    /// Applies one event message (an SQS body, or the emulator's) and says
    /// whether it is done with. Malformed and foreign messages are done with
    /// too: they would never apply.
    pub async fn apply_ivs_message(&self, body: &str) -> Handled {
        let outcome = match eventbridge::parse(body) {
            Err(e) => {
                tracing::debug!(error = %e, "an IVS event message is not readable; deleted");
                EventOutcome::Malformed
            }
            Ok(Parsed::Foreign(what)) => {
                tracing::debug!(event = %what, "an event the server does not use; deleted");
                EventOutcome::Foreign
            }
            Ok(Parsed::Event(event)) => match self.apply_ivs_event(&event).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::warn!(error = %e, event = %event.id, "an IVS event could not be applied; it will be delivered again");
                    EventOutcome::Failed
                }
            },
        };
        self.metrics.ivs_events.count(outcome);
        match outcome {
            EventOutcome::Failed => Handled::Retry,
            _ => Handled::Done,
        }
    }

    /// Applies one event.
    pub async fn apply_ivs_event(&self, event: &IvsEvent) -> Result<EventOutcome, ServiceError> {
        match &event.kind {
            IvsEventKind::Publishing {
                stage_arn,
                live,
                user_id,
                ..
            } => {
                // Only this server's publisher tokens decide liveness, as in
                // the poll; other participants may publish too.
                let ours = user_id
                    .as_deref()
                    .is_some_and(|u| u.starts_with(PUBLISHER_PREFIX));
                if !ours || self.store.stage(stage_arn).await?.is_none() {
                    return Ok(EventOutcome::NotOurs);
                }
                let changed = self
                    .store
                    .record_publisher(stage_arn, *live, event.at)
                    .await?;
                if changed {
                    tracing::info!(stage = %stage_arn, live, "publisher state from an IVS event");
                    Ok(EventOutcome::Applied)
                } else {
                    Ok(EventOutcome::Unchanged)
                }
            }
            IvsEventKind::Replication {
                destination_stage_arn,
                active,
                participant_id,
                ..
            } => {
                if self.store.stage(destination_stage_arn).await?.is_none() {
                    return Ok(EventOutcome::NotOurs);
                }
                self.ivs.observe_replication(
                    destination_stage_arn,
                    participant_id,
                    *active,
                    event.at,
                );
                Ok(EventOutcome::Applied)
            }
        }
    }
}

#[async_trait]
impl EventSink for App {
    async fn handle(&self, body: &str) -> Handled {
        self.apply_ivs_message(body).await
    }
}

/// Reads IVS events until `stop`: from the SQS queue when one is
/// configured, and from the backend itself (the local emulator), through
/// [`App::apply_ivs_message`] both.
pub async fn run_ivs_events(app: Arc<App>, stop: watch::Receiver<bool>) {
    let sqs = SqsEvents::from_settings(app.settings()).await;
    let local = app.ivs.take_events();
    let from_sqs = async {
        if let Some(sqs) = sqs {
            sqs.run(app.clone(), stop.clone()).await;
        }
    };
    let from_backend = async {
        let Some(mut events) = local else { return };
        let mut stop = stop.clone();
        loop {
            let body = tokio::select! {
                b = events.recv() => match b { Some(b) => b, None => return },
                _ = stop.changed() => return,
            };
            for attempt in 1..=LOCAL_RETRIES {
                if app.apply_ivs_message(&body).await == Handled::Done {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200) * attempt).await;
            }
        }
    };
    tokio::join!(from_sqs, from_backend);
}
