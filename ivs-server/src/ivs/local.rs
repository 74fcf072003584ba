//! The embedded IVS emulator: stages in memory, real ES384 tokens.
//!
//! It answers every backend call the way IVS Real-time does (ARN format,
//! validation rules, `NotFound` for unknown stages), so the server behaves the
//! same on a laptop as against AWS. There is no media plane, so publisher
//! liveness is decided from tokens: a stage is "live" from the moment a
//! publish-capable token is minted for it until that token expires. Its
//! `activeSessionId` exists exactly while it is live.
//!
//! One `LocalIvs` is one emulated AWS account: several server instances that
//! should see the same stages must share one (tests do, through
//! `ServerBuilder::ivs`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;
use ivs_client::model::{Capability, Tags};
use rand::distr::{Alphanumeric, SampleString};

use super::arn::StageArn;
use super::token::TokenSigner;
use super::{
    BackendHealth, IvsBackend, IvsError, IvsStage, ParticipantToken, StageEndpoints, TokenSpec,
};

/// IVS limits enforced by the emulator as IVS enforces them.
const MAX_NAME_LEN: usize = 128;
const MAX_USER_ID_LEN: usize = 128;
const MAX_ATTRIBUTES_BYTES: usize = 1024;
const MAX_TOKEN_MINUTES: u64 = 20_160;
const MAX_TAGS: usize = 50;

#[derive(Default)]
struct State {
    stages: HashMap<String, IvsStage>,
    /// Stage ARN → (publisher token expiry in ms, session id).
    live: HashMap<String, (i64, String)>,
}

/// The local IVS emulator.
pub struct LocalIvs {
    region: String,
    account: String,
    signer: TokenSigner,
    state: Mutex<State>,
}

impl std::fmt::Debug for LocalIvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIvs")
            .field("region", &self.region)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

fn random_id(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// Validates a stage name as IVS does: up to 128 of `[a-zA-Z0-9-_]`.
pub fn valid_stage_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn validate_tags(tags: &Tags) -> Result<(), IvsError> {
    if tags.len() > MAX_TAGS {
        return Err(IvsError::Validation(format!("at most {MAX_TAGS} tags")));
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
            return Err(IvsError::Validation(format!("invalid tag {k:?}")));
        }
    }
    Ok(())
}

impl LocalIvs {
    /// An emulated account in `region`, signing with `signer`.
    pub fn new(region: &str, account: &str, signer: TokenSigner) -> Self {
        LocalIvs {
            region: region.into(),
            account: account.into(),
            signer,
            state: Mutex::new(State::default()),
        }
    }

    /// An emulated account with a fresh signing key.
    pub fn generate(region: &str, account: &str) -> Result<Self, super::token::KeyError> {
        let kid = format!(
            "arn:aws:ivs:{region}:{account}:public-key/{}",
            random_id(12)
        );
        Ok(Self::new(region, account, TokenSigner::generate(kid)?))
    }

    /// The token signer (tests verify tokens with its public key).
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps inconsistent
        // (every mutation is a single insert/remove), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn endpoints(&self, id: &str) -> StageEndpoints {
        StageEndpoints {
            events: format!("wss://local.events.ivs.invalid/{id}"),
            whip: format!("https://local.whip.ivs.invalid/{id}"),
            rtmp: format!("rtmp://local.rtmp.ivs.invalid:1935/app/{id}"),
            rtmps: format!("rtmps://local.rtmp.ivs.invalid:443/app/{id}"),
        }
    }

    fn snapshot(state: &State, arn: &str) -> Option<IvsStage> {
        let now = Utc::now().timestamp_millis();
        state.stages.get(arn).map(|s| {
            let mut s = s.clone();
            s.active_session_id = state
                .live
                .get(arn)
                .filter(|(until, _)| *until > now)
                .map(|(_, session)| session.clone());
            s
        })
    }
}

#[async_trait]
impl IvsBackend for LocalIvs {
    async fn create_stage(&self, name: &str, tags: &Tags) -> Result<IvsStage, IvsError> {
        if !valid_stage_name(name) {
            return Err(IvsError::Validation(format!("invalid stage name {name:?}")));
        }
        validate_tags(tags)?;
        let id = random_id(12);
        let arn = StageArn::new(&self.region, &self.account, &id).to_string();
        let stage = IvsStage {
            arn: arn.clone(),
            name: name.into(),
            active_session_id: None,
            tags: tags.clone(),
            endpoints: self.endpoints(&id),
        };
        self.lock().stages.insert(arn, stage.clone());
        Ok(stage)
    }

    async fn get_stage(&self, arn: &str) -> Result<IvsStage, IvsError> {
        Self::snapshot(&self.lock(), arn).ok_or_else(|| IvsError::NotFound(arn.into()))
    }

    async fn list_stages(&self) -> Result<Vec<IvsStage>, IvsError> {
        let state = self.lock();
        Ok(state
            .stages
            .keys()
            .filter_map(|arn| Self::snapshot(&state, arn))
            .collect())
    }

    async fn update_stage(&self, arn: &str, name: &str) -> Result<IvsStage, IvsError> {
        if !valid_stage_name(name) {
            return Err(IvsError::Validation(format!("invalid stage name {name:?}")));
        }
        let mut state = self.lock();
        let stage = state
            .stages
            .get_mut(arn)
            .ok_or_else(|| IvsError::NotFound(arn.into()))?;
        stage.name = name.into();
        Self::snapshot(&state, arn).ok_or_else(|| IvsError::NotFound(arn.into()))
    }

    async fn delete_stage(&self, arn: &str) -> Result<(), IvsError> {
        let mut state = self.lock();
        state.live.remove(arn);
        state
            .stages
            .remove(arn)
            .map(|_| ())
            .ok_or_else(|| IvsError::NotFound(arn.into()))
    }

    async fn create_token(&self, spec: &TokenSpec) -> Result<ParticipantToken, IvsError> {
        let minutes = spec.duration.as_secs().div_ceil(60);
        if !(1..=MAX_TOKEN_MINUTES).contains(&minutes) {
            return Err(IvsError::Validation(format!(
                "duration must be 1-{MAX_TOKEN_MINUTES} minutes"
            )));
        }
        if spec.user_id.len() > MAX_USER_ID_LEN {
            return Err(IvsError::Validation("userId longer than 128".into()));
        }
        let attr_bytes: usize = spec.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        if attr_bytes > MAX_ATTRIBUTES_BYTES {
            return Err(IvsError::Validation("attributes larger than 1 KB".into()));
        }
        let stage = self.get_stage(&spec.stage_arn).await?;
        let minted = self.signer.mint(spec, &stage.endpoints)?;
        if spec.capabilities.contains(&Capability::Publish) {
            let mut state = self.lock();
            let now_ms = Utc::now().timestamp_millis();
            let entry = state
                .live
                .entry(spec.stage_arn.clone())
                .or_insert_with(|| (0, String::new()));
            if entry.0 <= now_ms {
                entry.1 = format!("st-{}", random_id(12));
            }
            entry.0 = entry.0.max(minted.expires_at.millis());
        }
        Ok(minted)
    }

    async fn publisher_live(&self, stage_arn: &str) -> Result<bool, IvsError> {
        let now = Utc::now().timestamp_millis();
        Ok(self
            .lock()
            .live
            .get(stage_arn)
            .is_some_and(|(until, _)| *until > now))
    }

    async fn health(&self) -> BackendHealth {
        BackendHealth::Local
    }
}
