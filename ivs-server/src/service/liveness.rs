//! Publisher liveness, recorded in the store: the instance holding the
//! maintenance lease polls IVS every `IVS_PUBLISHER_POLL_MS` (every
//! `IVS_PUBLISHER_POLL_WITH_EVENTS_MS` when IVS events come in through SQS)
//! and records what it saw with the time it asked; IVS events record changes
//! as they come (`service/ivs_events.rs`). Readers (`/api/stats`,
//! `/api/stats/publisher`, `/metrics`) take the recorded state, one store
//! read, and ask IVS themselves only when nothing recent is recorded (no
//! maintenance instance yet, or a dead one).

use std::time::Duration;

use super::{now_ms, App, ServiceError};

impl App {
    /// How old a recorded state may be before a reader asks IVS itself: two
    /// poll periods and a maintenance round.
    fn liveness_max_age(&self) -> Duration {
        self.settings.ivs_events.poll_interval() * 2 + self.settings.limits.sweep_interval
    }

    /// The master stage, as the store records it.
    async fn master_for_liveness(&self) -> String {
        match self.current_master().await {
            Ok(arn) => arn,
            Err(_) => self.master_arn(),
        }
    }

    /// Asks IVS whether the publisher is live on `stage` and records the
    /// answer as of the moment before the question (so an event recorded
    /// while the call ran, newer, wins). Returns the state recorded now.
    async fn poll_publisher(&self, stage: &str) -> Result<bool, ServiceError> {
        let asked_at = now_ms();
        let live = self.ivs.publisher_live(stage).await?;
        if self.store.record_publisher(stage, live, asked_at).await? {
            tracing::info!(stage, live, "publisher state from a poll");
            return Ok(live);
        }
        // Unchanged, or an event newer than the question is recorded.
        Ok(self
            .store
            .publisher(stage)
            .await?
            .map_or(live, |(recorded, _)| recorded))
    }

    /// The maintenance round's part: polls when the recorded state is older
    /// than the poll period. Not in an instance's first period: a reader
    /// that finds nothing recent asks IVS itself, and IVS is not asked in
    /// the background by every instance that (re)starts.
    pub(crate) async fn poll_publisher_if_due(&self) -> Result<(), ServiceError> {
        let period = self.settings.ivs_events.poll_interval();
        if self.started.elapsed() < period {
            return Ok(());
        }
        let master = self.master_for_liveness().await;
        let due = match self.store.publisher(&master).await? {
            Some((_, as_of)) => now_ms() - as_of >= period.as_millis() as i64,
            None => true,
        };
        if due {
            self.poll_publisher(&master).await?;
        }
        Ok(())
    }

    /// Whether the publisher is live on the master stage: the recorded
    /// state, or IVS's answer when none is recent. A failure reads as "not
    /// live" rather than failing the statistics.
    pub async fn publisher_live(&self) -> bool {
        let master = self.master_for_liveness().await;
        match self.store.publisher(&master).await {
            Ok(Some((live, as_of)))
                if now_ms() - as_of <= self.liveness_max_age().as_millis() as i64 =>
            {
                return live
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recorded publisher state unreadable; asking IVS"),
        }
        match self.poll_publisher(&master).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "publisher liveness unknown");
                false
            }
        }
    }
}
