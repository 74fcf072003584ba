//! IVS events in: what IVS reports to Amazon EventBridge about stages
//! ("IVS Stage Update"), read from an Amazon SQS queue that an EventBridge
//! rule feeds (`sqs.rs`), or published in-process by the local emulator, and
//! applied by the service (`service/ivs_events.rs`).
//!
//! AWS delivers these events best-effort: they can be missing, hours late,
//! duplicated or out of order. So each carries the time IVS gives it, and the
//! service applies it only if nothing newer (an event or a poll) is recorded;
//! polling stays as the fallback (docs/aws.md, "IVS events").

pub mod eventbridge;
pub mod sqs;

use crate::store::Millis;

/// An IVS event the server acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvsEvent {
    /// EventBridge's event id (for logs; duplicates carry the same one).
    pub id: String,
    /// When it happened, as IVS says (ms since the epoch).
    pub at: Millis,
    /// What happened.
    pub kind: IvsEventKind,
}

/// What happened on a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IvsEventKind {
    /// A participant started (`true`) or stopped (`false`) publishing to a stage.
    Publishing {
        /// The stage.
        stage_arn: String,
        /// Started or stopped.
        live: bool,
        /// IVS's participant id.
        participant_id: String,
        /// The token's user id (`broadcaster-…` for this server's publisher).
        user_id: Option<String>,
    },
    /// A participant's replication into another stage started (`true`) or ended.
    Replication {
        /// The stage it is replicated from, when the event names it.
        source_stage_arn: Option<String>,
        /// The stage it is replicated into.
        destination_stage_arn: String,
        /// Started or ended.
        active: bool,
        /// IVS's participant id (of the replicated publisher).
        participant_id: String,
    },
}
