//! The IVS backend seam: everything the server asks of AWS IVS Real-time.
//!
//! Handlers and the scaling logic only see [`IvsBackend`]. The embedded
//! [`local::LocalIvs`] emulator answers on a laptop; the AWS implementation
//! slots in behind the same trait.

pub mod aws;
pub mod events;
pub mod local;
pub mod rules;
pub mod token;

use std::time::Duration;

use async_trait::async_trait;
use ivs_api::{Attributes, Capability, Tags, Timestamp};

/// A stage as IVS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvsStage {
    /// Stage ARN.
    pub arn: String,
    /// Stage name.
    pub name: String,
    /// The running session, if any (`st-...`).
    pub active_session_id: Option<String>,
    /// Tags.
    pub tags: Tags,
    /// The stage's endpoints.
    pub endpoints: StageEndpoints,
}

/// The endpoints IVS gives a stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageEndpoints {
    /// Events (signalling) endpoint, put in tokens as `events_url`.
    pub events: String,
    /// WHIP ingest endpoint, put in tokens as `whip_url`.
    pub whip: String,
    /// RTMP ingest endpoint.
    pub rtmp: String,
    /// RTMPS ingest endpoint.
    pub rtmps: String,
}

/// What to put in a participant token.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// The stage.
    pub stage_arn: String,
    /// The IVS user id (already prefixed with `viewer-` / `broadcaster-`).
    pub user_id: String,
    /// A participant id chosen by the server; backends that let IVS choose may return another.
    pub participant_id: String,
    /// Attributes.
    pub attributes: Attributes,
    /// Capabilities: a viewer gets `[Subscribe]`, the publisher `[Publish]`.
    pub capabilities: Vec<Capability>,
    /// Lifetime.
    pub duration: Duration,
}

/// A minted participant token.
#[derive(Debug, Clone)]
pub struct ParticipantToken {
    /// The JWT.
    pub token: String,
    /// The participant id it carries.
    pub participant_id: String,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// What the backend reports about itself for `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendHealth {
    /// The embedded emulator: always available.
    Local,
    /// The remote service answers.
    Ready,
    /// The remote service does not answer.
    Unreachable,
}

impl BackendHealth {
    /// The word `/health` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendHealth::Local => "local",
            BackendHealth::Ready => "ready",
            BackendHealth::Unreachable => "unreachable",
        }
    }
}

/// A failed IVS operation, classified the way the API reports it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum IvsError {
    /// The stage (or other resource) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// IVS rejected a parameter.
    #[error("validation: {0}")]
    Validation(String),
    /// An IVS quota (stage count) is exhausted.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// A conflicting operation (e.g. deleting a stage with participants).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Throttled after retries, timed out, or a 5xx.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The server's credentials lack a permission.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// A participant token could not be made.
    #[error("token generation: {0}")]
    Token(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The IVS Real-time operations the server uses.
#[async_trait]
pub trait IvsBackend: Send + Sync + 'static {
    /// Creates a stage.
    async fn create_stage(&self, name: &str, tags: &Tags) -> Result<IvsStage, IvsError>;
    /// Describes a stage; `NotFound` when it does not exist.
    async fn get_stage(&self, arn: &str) -> Result<IvsStage, IvsError>;
    /// Every stage of the account (all pages).
    async fn list_stages(&self) -> Result<Vec<IvsStage>, IvsError>;
    /// Renames a stage.
    async fn update_stage(&self, arn: &str, name: &str) -> Result<IvsStage, IvsError>;
    /// Deletes a stage.
    async fn delete_stage(&self, arn: &str) -> Result<(), IvsError>;
    /// Mints a participant token.
    async fn create_token(&self, spec: &TokenSpec) -> Result<ParticipantToken, IvsError>;
    /// Whether a publisher is live on the stage.
    async fn publisher_live(&self, stage_arn: &str) -> Result<bool, IvsError>;
    /// Disconnects a participant from a stage (its token stops working there
    /// until it joins again). `NotFound` when the stage does not exist.
    async fn disconnect_participant(
        &self,
        stage_arn: &str,
        participant_id: &str,
    ) -> Result<(), IvsError>;
    /// A cheap, possibly cached, reachability report.
    async fn health(&self) -> BackendHealth;

    /// Whether a minted token always carries the participant id the server
    /// asked for (the local emulator, self-signed tokens). When IVS picks its
    /// own (`CreateParticipantToken`), the join's `viewer.joined` waits for
    /// the token, so that the event carries the id the viewer was given. The
    /// default is the safe answer: no.
    fn keeps_participant_id(&self) -> bool {
        false
    }

    /// Tells the backend which registered stages are the master and the
    /// auto-scaled overflow stages (the service calls it after each
    /// reconciliation), so work tied to them, such as replicating the
    /// publisher into overflow stages, survives a restart and follows stages
    /// created by other instances. The default does nothing.
    async fn sync_stages(&self, _master: &str, _overflow: &[String]) {}

    /// An operator-facing note about a stage, e.g. why the publisher is not
    /// replicated into it. The default has none.
    fn replication_note(&self, _stage_arn: &str) -> Option<String> {
        None
    }

    /// IVS reported (an EventBridge event) that `participant_id`'s
    /// replication into `destination` started (`active`) or ended at `at`
    /// (ms). Ignored when the backend has seen something newer itself. The
    /// default does nothing.
    fn observe_replication(
        &self,
        _destination: &str,
        _participant_id: &str,
        _active: bool,
        _at: i64,
    ) {
    }

    /// The events this backend publishes itself, in EventBridge's shape (the
    /// local emulator: its publisher tokens starting and ending a stage's
    /// session), handed out once. The default has none.
    fn take_events(&self) -> Option<tokio::sync::mpsc::Receiver<String>> {
        None
    }
}
