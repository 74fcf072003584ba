//! The embedded IVS emulator: stages in memory, real ES384 tokens.
//!
//! It answers every backend call the way IVS Real-time does (ARN format,
//! validation rules, `NotFound` for unknown stages), so the server behaves the
//! same on a laptop as against AWS. There is no media plane, so publisher
//! liveness is decided from tokens: a stage is "live" from the moment a
//! publish-capable token is minted for it until that token expires. Its
//! `activeSessionId` exists exactly while it is live.
//!
//! Like IVS, it reports those changes as EventBridge "IVS Stage Update"
//! events ("Participant Published" when a publisher token makes a stage
//! live, "Participant Unpublished" when the session it started ends), handed
//! to the server through [`IvsBackend::take_events`]: the same messages, and
//! the same code path, as events read from SQS on AWS.
//!
//! One account is one emulated AWS account. Without Redis it lives in this
//! process ([`account::MemoryAccount`]); with `REDIS_URL` set it lives in
//! Redis ([`redis_account::RedisAccount`]), so that every local-mode instance
//! of a fleet sees the same stages, sessions and signing key, as instances
//! on AWS see one IVS account.

pub mod account;
pub mod redis_account;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use ivs_api::{Capability, StageArn, Tags};
use tokio::sync::mpsc;

use self::account::{AccountState, MemoryAccount, StageState, StoredStage};
use super::rules::{
    self, random_id, valid_tag, ID_LEN, MAX_ATTRIBUTES_BYTES, MAX_TAGS, SESSION_ID_PREFIX,
};
use super::token::TokenSigner;
use super::{
    BackendHealth, IvsBackend, IvsError, IvsStage, ParticipantToken, StageEndpoints, TokenSpec,
};

/// Where request validation has always found the stage-name rule.
pub use super::rules::valid_stage_name;

/// The local IVS emulator.
pub struct LocalIvs {
    region: String,
    account: String,
    signer: TokenSigner,
    state: Arc<dyn AccountState>,
    events: mpsc::Sender<String>,
    /// The receiving end, until the server takes it.
    receiver: Mutex<Option<mpsc::Receiver<String>>>,
}

/// Events waiting for the server; past this, new ones are dropped (the
/// liveness poll still sees the change).
const EVENT_QUEUE: usize = 256;

impl std::fmt::Debug for LocalIvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIvs")
            .field("region", &self.region)
            .field("account", &self.account)
            .field("state", &self.state.kind())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn validate_tags(tags: &Tags) -> Result<(), IvsError> {
    if tags.len() > MAX_TAGS {
        return Err(IvsError::Validation(format!("at most {MAX_TAGS} tags")));
    }
    for (k, v) in tags {
        if !valid_tag(k, v) {
            return Err(IvsError::Validation(format!("invalid tag {k:?}")));
        }
    }
    Ok(())
}

/// The endpoints the emulator gives the stage with this id.
fn endpoints(id: &str) -> StageEndpoints {
    StageEndpoints {
        events: format!("wss://local.events.ivs.invalid/{id}"),
        whip: format!("https://local.whip.ivs.invalid/{id}"),
        rtmp: format!("rtmp://local.rtmp.ivs.invalid:1935/app/{id}"),
        rtmps: format!("rtmps://local.rtmp.ivs.invalid:443/app/{id}"),
    }
}

/// A stage as IVS describes it, at `now`.
fn describe(state: StageState, now: i64) -> IvsStage {
    let id = state
        .arn
        .parse::<StageArn>()
        .map(|a| a.id().to_string())
        .unwrap_or_default();
    IvsStage {
        active_session_id: state.session.filter(|s| s.until > now).map(|s| s.id),
        endpoints: endpoints(&id),
        arn: state.arn,
        name: state.stage.name,
        tags: state.stage.tags,
    }
}

impl LocalIvs {
    /// An emulated account in `region`, in this process, signing with `signer`.
    pub fn new(region: &str, account: &str, signer: TokenSigner) -> Self {
        Self::with_state(region, account, signer, Box::new(MemoryAccount::default()))
    }

    /// An emulated account whose state lives in `state` (e.g. Redis, shared
    /// by a fleet).
    pub fn with_state(
        region: &str,
        account: &str,
        signer: TokenSigner,
        state: Box<dyn AccountState>,
    ) -> Self {
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        LocalIvs {
            region: region.into(),
            account: account.into(),
            signer,
            state: Arc::from(state),
            events,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    /// An emulated account with a fresh signing key.
    pub fn generate(region: &str, account: &str) -> Result<Self, super::token::KeyError> {
        let kid = rules::public_key_arn(region, account, &random_id(ID_LEN));
        Ok(Self::new(region, account, TokenSigner::generate(kid)?))
    }

    /// The token signer (tests verify tokens with its public key).
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Publishes a stage event, as IVS does to EventBridge.
    fn publish_event(&self, body: String) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(body) {
            tracing::warn!("the emulator's event queue is full: an IVS event is dropped");
        }
    }

    /// Reports the publisher live now, and offline when its session ends
    /// (unless a later publisher token has extended it by then).
    fn publisher_events(&self, spec: &TokenSpec, participant_id: &str, until: i64) {
        let now = now_ms();
        self.publish_event(super::events::eventbridge::stage_update(
            &random_id(ID_LEN),
            &spec.stage_arn,
            true,
            participant_id,
            &spec.user_id,
            now,
        ));
        let (state, events) = (Arc::downgrade(&self.state), self.events.clone());
        let (arn, participant, user) = (
            spec.stage_arn.clone(),
            participant_id.to_string(),
            spec.user_id.clone(),
        );
        tokio::spawn(async move {
            let wait = u64::try_from(until - now).unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            let Some(state) = state.upgrade() else { return };
            let ended = match state.get(&arn).await {
                Ok(Some(s)) => s.session.is_none_or(|s| s.until <= now_ms()),
                // Deleted: nothing left to report.
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "emulator: the session's end cannot be checked");
                    return;
                }
            };
            if ended {
                let body = super::events::eventbridge::stage_update(
                    &random_id(ID_LEN),
                    &arn,
                    false,
                    &participant,
                    &user,
                    until,
                );
                let _ = events.try_send(body);
            }
        });
    }

    /// Participants disconnected from a stage within the last hour, sorted
    /// (operators and tests check that removed viewers were cut off).
    pub async fn disconnected(&self, stage_arn: &str) -> Result<Vec<String>, IvsError> {
        self.state.disconnected(stage_arn, now_ms()).await
    }
}

#[async_trait]
impl IvsBackend for LocalIvs {
    async fn create_stage(&self, name: &str, tags: &Tags) -> Result<IvsStage, IvsError> {
        if !valid_stage_name(name) {
            return Err(IvsError::Validation(format!("invalid stage name {name:?}")));
        }
        validate_tags(tags)?;
        let id = random_id(ID_LEN);
        let arn = StageArn::new(&self.region, &self.account, &id)
            .map_err(|e| {
                IvsError::Other(format!(
                    "the emulator's region and account make no stage ARN: {e}"
                ))
            })?
            .into_string();
        let stored = StoredStage {
            name: name.into(),
            tags: tags.clone(),
        };
        self.state.insert(&arn, &stored).await?;
        Ok(describe(
            StageState {
                arn,
                stage: stored,
                session: None,
            },
            now_ms(),
        ))
    }

    async fn get_stage(&self, arn: &str) -> Result<IvsStage, IvsError> {
        match self.state.get(arn).await? {
            Some(state) => Ok(describe(state, now_ms())),
            None => Err(IvsError::NotFound(arn.into())),
        }
    }

    async fn list_stages(&self) -> Result<Vec<IvsStage>, IvsError> {
        let now = now_ms();
        Ok(self
            .state
            .list()
            .await?
            .into_iter()
            .map(|s| describe(s, now))
            .collect())
    }

    async fn update_stage(&self, arn: &str, name: &str) -> Result<IvsStage, IvsError> {
        if !valid_stage_name(name) {
            return Err(IvsError::Validation(format!("invalid stage name {name:?}")));
        }
        match self.state.rename(arn, name).await? {
            Some(state) => Ok(describe(state, now_ms())),
            None => Err(IvsError::NotFound(arn.into())),
        }
    }

    async fn delete_stage(&self, arn: &str) -> Result<(), IvsError> {
        if self.state.remove(arn).await? {
            Ok(())
        } else {
            Err(IvsError::NotFound(arn.into()))
        }
    }

    async fn create_token(&self, spec: &TokenSpec) -> Result<ParticipantToken, IvsError> {
        rules::token_minutes(spec.duration)?;
        rules::check_user_id(&spec.user_id)?;
        let attr_bytes: usize = spec.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        if attr_bytes > MAX_ATTRIBUTES_BYTES {
            return Err(IvsError::Validation("attributes larger than 1 KB".into()));
        }
        let stage = self.get_stage(&spec.stage_arn).await?;
        let minted = self.signer.mint(spec, &stage.endpoints)?;
        if spec.capabilities.contains(&Capability::Publish) {
            let session = format!("{SESSION_ID_PREFIX}{}", random_id(ID_LEN));
            let published = self
                .state
                .publish(
                    &spec.stage_arn,
                    minted.expires_at.millis(),
                    now_ms(),
                    &session,
                )
                .await?;
            if !published {
                // Deleted between the lookup and now.
                return Err(IvsError::NotFound(spec.stage_arn.clone()));
            }
            self.publisher_events(spec, &minted.participant_id, minted.expires_at.millis());
        }
        Ok(minted)
    }

    async fn publisher_live(&self, stage_arn: &str) -> Result<bool, IvsError> {
        let now = now_ms();
        Ok(self
            .state
            .get(stage_arn)
            .await?
            .and_then(|s| s.session)
            .is_some_and(|s| s.until > now))
    }

    async fn disconnect_participant(
        &self,
        stage_arn: &str,
        participant_id: &str,
    ) -> Result<(), IvsError> {
        if self
            .state
            .disconnect(stage_arn, participant_id, now_ms())
            .await?
        {
            Ok(())
        } else {
            Err(IvsError::NotFound(stage_arn.into()))
        }
    }

    async fn health(&self) -> BackendHealth {
        BackendHealth::Local
    }

    fn keeps_participant_id(&self) -> bool {
        true
    }

    fn take_events(&self) -> Option<mpsc::Receiver<String>> {
        self.receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
