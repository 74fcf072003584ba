//! `ivs_aws_events_total{outcome}`: IVS events this instance read (from SQS
//! or the local emulator) and what became of each.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// What became of one IVS event message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// It changed the recorded state.
    Applied,
    /// Nothing newer than what was recorded, or no change: a duplicate, a
    /// late event, or one a newer poll already covers.
    Unchanged,
    /// About a stage this deployment does not manage, or a participant that
    /// is not its publisher.
    NotOurs,
    /// An event the server has no use for (another type).
    Foreign,
    /// Not a readable event (deleted anyway).
    Malformed,
    /// Applying failed (the store): left for redelivery.
    Failed,
}

impl EventOutcome {
    fn label(self) -> &'static str {
        match self {
            EventOutcome::Applied => "applied",
            EventOutcome::Unchanged => "unchanged",
            EventOutcome::NotOurs => "not_ours",
            EventOutcome::Foreign => "foreign",
            EventOutcome::Malformed => "malformed",
            EventOutcome::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The counters, by outcome.
#[derive(Clone, Default)]
pub struct IvsEventCounts(Family<OutcomeLabels, Counter>);

impl IvsEventCounts {
    /// Registers `ivs_aws_events` (`_total` added by the encoder).
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "ivs_aws_events",
            "IVS events read (SQS or the local emulator), by outcome",
            self.0.clone(),
        );
    }

    /// Counts one message.
    pub fn count(&self, outcome: EventOutcome) {
        self.0
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }
}
