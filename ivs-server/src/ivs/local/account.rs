//! Where the emulator keeps its account: in this process, or in Redis so
//! that every local-mode instance of a fleet sees one account, as instances
//! on AWS see one IVS account.
//!
//! The emulator's rules (names, tags, token limits) live in the emulator;
//! an account only stores and returns state, each method one atomic step.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use ivs_api::Tags;
use serde::{Deserialize, Serialize};

use crate::ivs::IvsError;

/// A stage as the account keeps it; endpoints are derived from the ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStage {
    /// Stage name.
    pub name: String,
    /// Tags.
    pub tags: Tags,
}

/// A publisher session: live until `until` (ms), with its session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Live until this time (ms since the epoch).
    pub until: i64,
    /// The `st-…` id.
    pub id: String,
}

/// A stage with its session, if one was ever started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageState {
    /// The ARN.
    pub arn: String,
    /// The stage.
    pub stage: StoredStage,
    /// The latest publisher session.
    pub session: Option<Session>,
}

/// The emulated account's state.
#[async_trait]
pub trait AccountState: Send + Sync + 'static {
    /// Where the state lives, for logs.
    fn kind(&self) -> &'static str;
    /// Adds a stage.
    async fn insert(&self, arn: &str, stage: &StoredStage) -> Result<(), IvsError>;
    /// One stage.
    async fn get(&self, arn: &str) -> Result<Option<StageState>, IvsError>;
    /// Every stage.
    async fn list(&self) -> Result<Vec<StageState>, IvsError>;
    /// Renames a stage; `None` when it does not exist.
    async fn rename(&self, arn: &str, name: &str) -> Result<Option<StageState>, IvsError>;
    /// Removes a stage; false when it did not exist.
    async fn remove(&self, arn: &str) -> Result<bool, IvsError>;
    /// A publisher token valid until `until` was minted at `now`: extends the
    /// stage's session, starting a new one (`new_id`) if none is running.
    /// False when the stage does not exist.
    async fn publish(
        &self,
        arn: &str,
        until: i64,
        now: i64,
        new_id: &str,
    ) -> Result<bool, IvsError>;
    /// Records that a participant was disconnected; false when the stage
    /// does not exist.
    async fn disconnect(&self, arn: &str, participant_id: &str, now: i64)
        -> Result<bool, IvsError>;
    /// Participants disconnected from a stage within the last hour.
    async fn disconnected(&self, arn: &str, now: i64) -> Result<Vec<String>, IvsError>;
}

/// How long disconnections are remembered (for operators and tests).
pub(crate) const DISCONNECT_MEMORY_MS: i64 = 3_600_000;

#[derive(Default)]
struct State {
    stages: HashMap<String, StoredStage>,
    sessions: HashMap<String, Session>,
    /// (stage ARN, participant id) → when.
    disconnected: HashMap<(String, String), i64>,
}

/// The account in this process (no Redis): it dies with the process.
#[derive(Default)]
pub struct MemoryAccount {
    state: Mutex<State>,
}

impl MemoryAccount {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation is a single insert or remove, so a panic elsewhere
        // cannot leave the maps half-changed: poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn state_of(state: &State, arn: &str) -> Option<StageState> {
    state.stages.get(arn).map(|stage| StageState {
        arn: arn.to_string(),
        stage: stage.clone(),
        session: state.sessions.get(arn).cloned(),
    })
}

#[async_trait]
impl AccountState for MemoryAccount {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn insert(&self, arn: &str, stage: &StoredStage) -> Result<(), IvsError> {
        self.lock().stages.insert(arn.to_string(), stage.clone());
        Ok(())
    }

    async fn get(&self, arn: &str) -> Result<Option<StageState>, IvsError> {
        Ok(state_of(&self.lock(), arn))
    }

    async fn list(&self) -> Result<Vec<StageState>, IvsError> {
        let state = self.lock();
        Ok(state
            .stages
            .keys()
            .filter_map(|arn| state_of(&state, arn))
            .collect())
    }

    async fn rename(&self, arn: &str, name: &str) -> Result<Option<StageState>, IvsError> {
        let mut state = self.lock();
        match state.stages.get_mut(arn) {
            Some(stage) => stage.name = name.to_string(),
            None => return Ok(None),
        }
        Ok(state_of(&state, arn))
    }

    async fn remove(&self, arn: &str) -> Result<bool, IvsError> {
        let mut state = self.lock();
        state.sessions.remove(arn);
        state.disconnected.retain(|(a, _), _| a != arn);
        Ok(state.stages.remove(arn).is_some())
    }

    async fn publish(
        &self,
        arn: &str,
        until: i64,
        now: i64,
        new_id: &str,
    ) -> Result<bool, IvsError> {
        let mut state = self.lock();
        if !state.stages.contains_key(arn) {
            return Ok(false);
        }
        let session = state.sessions.entry(arn.to_string()).or_insert(Session {
            until: 0,
            id: String::new(),
        });
        if session.until <= now {
            session.id = new_id.to_string();
        }
        session.until = session.until.max(until);
        Ok(true)
    }

    async fn disconnect(
        &self,
        arn: &str,
        participant_id: &str,
        now: i64,
    ) -> Result<bool, IvsError> {
        let mut state = self.lock();
        if !state.stages.contains_key(arn) {
            return Ok(false);
        }
        state
            .disconnected
            .retain(|_, at| *at > now - DISCONNECT_MEMORY_MS);
        state
            .disconnected
            .insert((arn.to_string(), participant_id.to_string()), now);
        Ok(true)
    }

    async fn disconnected(&self, arn: &str, now: i64) -> Result<Vec<String>, IvsError> {
        let state = self.lock();
        let mut out: Vec<String> = state
            .disconnected
            .iter()
            .filter(|((a, _), at)| a == arn && **at > now - DISCONNECT_MEMORY_MS)
            .map(|((_, p), _)| p.clone())
            .collect();
        out.sort();
        Ok(out)
    }
}
