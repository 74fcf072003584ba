//! The AWS IVS Real-time backend (`IVS_BACKEND=aws`), on `aws-sdk-ivsrealtime`.
//!
//! - Credentials and region come from the standard AWS chains unless the
//!   settings name them; `IVS_ENDPOINT_URL` points the client elsewhere (the
//!   tests use a wiremock IVS).
//! - Every call first takes a turn from a client-side budget per operation
//!   (`aws/budget.rs`), so the server stays under IVS's per-account rates, and the
//!   SDK's standard retry mode retries throttling, 5xx and network failures
//!   with jittered exponential backoff; each attempt has a timeout.
//! - Participant tokens are self-signed (ES384, no API call) when a key file
//!   and its imported public-key ARN are configured, else minted by
//!   CreateParticipantToken.
//! - Publisher liveness is GetStage's `activeSessionId` plus ListParticipants,
//!   cached briefly and shared by concurrent callers.
//! - The publisher is replicated from the master into auto-scaled stages
//!   (`aws/replication.rs`).
//! - `health()` answers from a cached probe.
//!
//! SDK failures are mapped in `aws/errors.rs`; the paginated listings are
//! read by one loop in `aws/pages.rs`.

mod budget;
mod errors;
mod pages;
mod replication;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ivsrealtime::config::retry::RetryConfig;
use aws_sdk_ivsrealtime::config::timeout::TimeoutConfig;
use aws_sdk_ivsrealtime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ivsrealtime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ivsrealtime::types::{ParticipantState, ParticipantTokenCapability, ReplicationType};
use aws_sdk_ivsrealtime::Client;
use chrono::Utc;
use ivs_api::{Capability, Tags, Timestamp};
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

pub use budget::{BudgetExhausted, CallBudget, Permit};

use super::rules::{self, has_tag, AUTO_SCALED, MANAGED_BY, MAX_PAGE_SIZE, ROLE_MASTER};
use super::token::TokenSigner;
use super::{
    BackendHealth, IvsBackend, IvsError, IvsStage, ParticipantToken, StageEndpoints, TokenSpec,
};
use crate::config::Settings;
use errors::classify;
use pages::{for_each_page, MAX_PAGES};
use replication::Replication;

/// Publisher liveness is reused this long: `/api/stats` polled by many
/// dashboards must not turn into GetStage + ListParticipants each time.
const LIVENESS_TTL: Duration = Duration::from_secs(3);
/// The health probe's answer is reused this long.
const HEALTH_TTL: Duration = Duration::from_secs(10);
/// The first `/health` waits this long for the first probe.
const FIRST_PROBE_WAIT: Duration = Duration::from_millis(600);
/// Retry backoff: full jitter from this base, doubling, capped.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the AWS backend could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsSetupError {
    /// No region from the settings or the standard chain.
    #[error("no AWS region: set AWS_REGION (or IVS_AWS_REGION / --aws-region)")]
    NoRegion,
    /// Only one of the two self-signed token settings is set.
    #[error("self-signed tokens need both IVS_TOKEN_KEY_FILE and IVS_PUBLIC_KEY_ARN (or neither, to use CreateParticipantToken)")]
    PartialKey,
    /// The token key could not be loaded.
    #[error(transparent)]
    Key(#[from] super::token::KeyError),
}

/// The IVS operations the server calls: each has its own budget and its own
/// IAM action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    CreateStage,
    GetStage,
    ListStages,
    UpdateStage,
    DeleteStage,
    CreateParticipantToken,
    ListParticipants,
    StartParticipantReplication,
    StopParticipantReplication,
    ListParticipantReplicas,
    DisconnectParticipant,
}

impl Op {
    const ALL: [Op; 11] = [
        Op::CreateStage,
        Op::GetStage,
        Op::ListStages,
        Op::UpdateStage,
        Op::DeleteStage,
        Op::CreateParticipantToken,
        Op::ListParticipants,
        Op::StartParticipantReplication,
        Op::StopParticipantReplication,
        Op::ListParticipantReplicas,
        Op::DisconnectParticipant,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::CreateStage => "CreateStage",
            Op::GetStage => "GetStage",
            Op::ListStages => "ListStages",
            Op::UpdateStage => "UpdateStage",
            Op::DeleteStage => "DeleteStage",
            Op::CreateParticipantToken => "CreateParticipantToken",
            Op::ListParticipants => "ListParticipants",
            Op::StartParticipantReplication => "StartParticipantReplication",
            Op::StopParticipantReplication => "StopParticipantReplication",
            Op::ListParticipantReplicas => "ListParticipantReplicas",
            Op::DisconnectParticipant => "DisconnectParticipant",
        }
    }

    /// The IAM action, as it appears in messages and in docs/aws.md.
    fn action(self) -> String {
        format!("ivs:{}", self.name())
    }
}

fn stage_from_sdk(s: &aws_sdk_ivsrealtime::types::Stage) -> IvsStage {
    let ep = s.endpoints();
    let field = |f: fn(&aws_sdk_ivsrealtime::types::StageEndpoints) -> Option<&str>| {
        ep.and_then(f).unwrap_or_default().to_string()
    };
    IvsStage {
        arn: s.arn().to_string(),
        name: s.name().unwrap_or_default().to_string(),
        active_session_id: s.active_session_id().map(str::to_string),
        tags: tags_from_sdk(s.tags()),
        endpoints: StageEndpoints {
            events: field(|e| e.events()),
            whip: field(|e| e.whip()),
            rtmp: field(|e| e.rtmp()),
            rtmps: field(|e| e.rtmps()),
        },
    }
}

fn tags_from_sdk(tags: Option<&HashMap<String, String>>) -> Tags {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// What liveness found on a stage.
#[derive(Debug, Clone, Default)]
struct Liveness {
    /// The connected publishing participant, if any.
    publisher: Option<String>,
}

type LivenessSlot = Arc<tokio::sync::Mutex<Option<(Instant, Result<Liveness, IvsError>)>>>;

/// The backend's shared state; background tasks hold it weakly, so they end
/// when the backend is dropped.
struct Inner {
    client: Client,
    signer: Option<TokenSigner>,
    /// One budget per operation, indexed like [`Op::ALL`].
    budgets: Vec<CallBudget>,
    /// Stage endpoints for self-signed tokens, fetched once per stage by one caller.
    endpoints: Mutex<HashMap<String, Arc<OnceCell<StageEndpoints>>>>,
    /// Publisher liveness per stage; the slot's lock makes concurrent callers share one fetch.
    liveness: Mutex<HashMap<String, LivenessSlot>>,
    /// Last outcome seen (any call or the probe): when, and what.
    health: Mutex<Option<(Instant, BackendHealth)>>,
    probing: AtomicBool,
    probed: Notify,
    replication: Replication,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps are only ever updated by single inserts/removes, so a
    // panic elsewhere cannot leave them half-written: poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The AWS IVS Real-time backend.
pub struct AwsIvs {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AwsIvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsIvs")
            .field("self_signed", &self.inner.signer.is_some())
            .finish_non_exhaustive()
    }
}

/// The AWS SDK configuration loader with the region and credentials of the
/// settings (else the standard chains): shared by IVS and the SQS consumer
/// of IVS events, each adding its own timeouts and endpoint.
pub(crate) fn sdk_loader(aws: &crate::config::AwsSettings) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &aws.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(c) = &aws.credentials {
        loader = loader.credentials_provider(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.expose().to_string(),
            None,
            None,
            "ivs-server-settings",
        ));
    }
    loader
}

impl AwsIvs {
    /// A backend configured from the settings: region and credentials from
    /// the settings or the standard chains, the endpoint override, retries,
    /// timeouts, call budgets and the optional self-signing key. Starts the
    /// replication loop (it ends when the backend is dropped).
    pub async fn new(settings: &Settings) -> Result<AwsIvs, AwsSetupError> {
        let aws = &settings.aws;
        let attempts = aws.max_attempts.max(1);
        let retry = RetryConfig::standard()
            .with_max_attempts(attempts)
            .with_initial_backoff(INITIAL_BACKOFF)
            .with_max_backoff(MAX_BACKOFF);
        // Every attempt is bounded, and so is the whole call with its backoffs.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(aws.attempt_timeout))
            .operation_attempt_timeout(aws.attempt_timeout)
            .operation_timeout(aws.attempt_timeout * attempts + MAX_BACKOFF * (attempts - 1))
            .build();
        let mut loader = sdk_loader(aws).retry_config(retry).timeout_config(timeouts);
        if let Some(url) = &settings.ivs.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(AwsSetupError::NoRegion);
        }
        let signer = match (&settings.ivs.token_key_file, &settings.ivs.public_key_arn) {
            (Some(path), Some(kid)) => Some(TokenSigner::from_pem_file(path, kid.clone())?),
            (None, None) => None,
            _ => return Err(AwsSetupError::PartialKey),
        };
        Ok(Self::with_client(Client::new(&sdk), signer, settings))
    }

    fn with_client(client: Client, signer: Option<TokenSigner>, settings: &Settings) -> AwsIvs {
        let aws = &settings.aws;
        let budgets = Op::ALL
            .iter()
            .map(|op| {
                let rate = match op {
                    Op::CreateParticipantToken => aws.token_calls_per_sec,
                    _ => aws.stage_calls_per_sec,
                };
                CallBudget::per_second(op.name(), rate)
            })
            .collect();
        let inner = Arc::new(Inner {
            client,
            signer,
            budgets,
            endpoints: Mutex::new(HashMap::new()),
            liveness: Mutex::new(HashMap::new()),
            health: Mutex::new(None),
            probing: AtomicBool::new(false),
            probed: Notify::new(),
            replication: Replication::new(settings.ivs.master_stage_arn.clone()),
        });
        tokio::spawn(replication::run(Arc::downgrade(&inner)));
        tracing::info!(
            self_signed_tokens = inner.signer.is_some(),
            token_calls_per_sec = aws.token_calls_per_sec,
            stage_calls_per_sec = aws.stage_calls_per_sec,
            "AWS IVS backend ready"
        );
        AwsIvs { inner }
    }

    /// The token signer, when tokens are self-signed.
    pub fn signer(&self) -> Option<&TokenSigner> {
        self.inner.signer.as_ref()
    }
}

impl Inner {
    fn budget(&self, op: Op) -> &CallBudget {
        let i = Op::ALL.iter().position(|o| *o == op).unwrap_or(0);
        &self.budgets[i]
    }

    fn record_health(&self, value: BackendHealth) {
        *lock(&self.health) = Some((Instant::now(), value));
    }

    /// One IVS call: a turn from the operation's budget, the SDK call (with
    /// its retries), the error mapped, the outcome noted for `health()`.
    async fn call<T, E, Fut>(&self, op: Op, send: impl FnOnce() -> Fut) -> Result<T, IvsError>
    where
        Fut: Future<Output = Result<T, SdkError<E>>>,
        E: Into<aws_sdk_ivsrealtime::Error> + ProvideErrorMetadata + std::error::Error + 'static,
    {
        let permit = self.budget(op).acquire().await.map_err(|e| {
            tracing::warn!(operation = op.name(), "IVS call budget exhausted");
            IvsError::Unavailable(e.to_string())
        })?;
        let result = send().await;
        // The call counts against the budget until a second after its answer.
        drop(permit);
        match result {
            Ok(out) => {
                self.record_health(BackendHealth::Ready);
                Ok(out)
            }
            Err(e) => {
                let f = classify(op, e);
                self.record_health(if f.reached {
                    BackendHealth::Ready
                } else {
                    BackendHealth::Unreachable
                });
                tracing::debug!(operation = op.name(), error = %f.error, "IVS call failed");
                Err(f.error)
            }
        }
    }

    /// Learns what a stage is from the tags the service gives it, and caches
    /// its endpoints.
    fn remember(&self, stage: &IvsStage) {
        if !stage.endpoints.events.is_empty() {
            let cell = OnceCell::new_with(Some(stage.endpoints.clone()));
            lock(&self.endpoints).insert(stage.arn.clone(), Arc::new(cell));
        }
        if has_tag(&stage.tags, MANAGED_BY) {
            if has_tag(&stage.tags, ROLE_MASTER) {
                self.replication.learn_master(&stage.arn);
            } else if has_tag(&stage.tags, AUTO_SCALED) {
                self.replication.add_target(&stage.arn);
            }
        }
    }

    fn forget(&self, arn: &str) {
        lock(&self.endpoints).remove(arn);
        lock(&self.liveness).remove(arn);
        self.replication.remove_target(arn);
    }

    async fn get_stage(&self, arn: &str) -> Result<IvsStage, IvsError> {
        let out = self
            .call(Op::GetStage, || self.client.get_stage().arn(arn).send())
            .await?;
        let stage = out
            .stage()
            .map(stage_from_sdk)
            .ok_or_else(|| IvsError::Other("ivs:GetStage returned no stage".into()))?;
        self.remember(&stage);
        Ok(stage)
    }

    /// The stage's endpoints: cached, else one GetStage shared by every
    /// concurrent caller (a burst of joins on a new stage makes one call).
    async fn endpoints(&self, arn: &str) -> Result<StageEndpoints, IvsError> {
        let cell = lock(&self.endpoints)
            .entry(arn.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let stage = self.get_stage(arn).await?;
            Ok::<_, IvsError>(stage.endpoints)
        })
        .await
        .cloned()
    }

    /// Liveness of a stage, cached for [`LIVENESS_TTL`]; concurrent callers
    /// wait for the one fetch in flight instead of making their own.
    async fn liveness(&self, arn: &str) -> Result<Liveness, IvsError> {
        let slot = lock(&self.liveness)
            .entry(arn.to_string())
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        if let Some((at, value)) = cached.as_ref() {
            if at.elapsed() < LIVENESS_TTL {
                return value.clone();
            }
        }
        let value = self.fetch_liveness(arn).await;
        *cached = Some((Instant::now(), value.clone()));
        value
    }

    async fn fetch_liveness(&self, arn: &str) -> Result<Liveness, IvsError> {
        let stage = self.get_stage(arn).await?;
        let Some(session) = stage.active_session_id else {
            return Ok(Liveness::default());
        };
        // `filterByPublished` lists everyone who published during the session,
        // including those who have left: keep the connected ones. Participants
        // replicated in from elsewhere do not count as this stage's publisher.
        let mut publishers = Vec::new();
        let session = session.as_str();
        for_each_page(
            MAX_PAGES,
            |next| {
                self.call(Op::ListParticipants, move || {
                    self.client
                        .list_participants()
                        .stage_arn(arn)
                        .session_id(session)
                        .filter_by_published(true)
                        .max_results(MAX_PAGE_SIZE)
                        .set_next_token(next)
                        .send()
                })
            },
            |page| {
                for p in page.participants() {
                    let connected = p.state() == Some(&ParticipantState::Connected);
                    let replica = p.replication_type() == Some(&ReplicationType::Replica);
                    if p.published() && connected && !replica {
                        if let Some(id) = p.participant_id() {
                            let ours = p
                                .user_id()
                                .is_some_and(|u| u.starts_with(rules::PUBLISHER_PREFIX));
                            publishers.push((ours, id.to_string()));
                        }
                    }
                }
            },
        )
        .await?;
        // Prefer a participant that joined with one of our publisher tokens.
        publishers.sort_by_key(|(ours, _)| !*ours);
        Ok(Liveness {
            publisher: publishers.into_iter().next().map(|(_, id)| id),
        })
    }

    /// ListStages: every page, or only the first.
    async fn list_stages(&self, max: i32, all: bool) -> Result<Vec<IvsStage>, IvsError> {
        let mut stages = Vec::new();
        for_each_page(
            if all { MAX_PAGES } else { 1 },
            |next| {
                self.call(Op::ListStages, move || {
                    self.client
                        .list_stages()
                        .max_results(max)
                        .set_next_token(next)
                        .send()
                })
            },
            |page| {
                stages.extend(page.stages().iter().map(|s| IvsStage {
                    arn: s.arn().to_string(),
                    name: s.name().unwrap_or_default().to_string(),
                    active_session_id: s.active_session_id().map(str::to_string),
                    tags: tags_from_sdk(s.tags()),
                    // ListStages summaries carry no endpoints.
                    endpoints: StageEndpoints::default(),
                }))
            },
        )
        .await?;
        Ok(stages)
    }

    /// Starts a background probe unless one is running.
    fn spawn_probe(self: &Arc<Self>) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let Some(me) = me.upgrade() else { return };
            // `call` records the outcome; a service error still means IVS answered.
            let _ = me.list_stages(1, false).await;
            me.probing.store(false, Ordering::Release);
            me.probed.notify_waiters();
        });
    }

    async fn self_signed_token(
        &self,
        signer: &TokenSigner,
        spec: &TokenSpec,
    ) -> Result<ParticipantToken, IvsError> {
        let endpoints = self.endpoints(&spec.stage_arn).await?;
        signer.mint(spec, &endpoints)
    }

    async fn api_token(
        &self,
        spec: &TokenSpec,
        minutes: u64,
    ) -> Result<ParticipantToken, IvsError> {
        // The API's default is both capabilities: always send them explicitly.
        let caps = spec
            .capabilities
            .iter()
            .map(|c| match c {
                Capability::Publish => Ok(ParticipantTokenCapability::Publish),
                Capability::Subscribe => Ok(ParticipantTokenCapability::Subscribe),
                other => Err(IvsError::Token(format!(
                    "capability {other:?} has no IVS equivalent"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .call(Op::CreateParticipantToken, || {
                self.client
                    .create_participant_token()
                    .stage_arn(&spec.stage_arn)
                    .duration(minutes as i32)
                    .user_id(&spec.user_id)
                    .set_attributes(Some(
                        spec.attributes
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ))
                    .set_capabilities(Some(caps))
                    .send()
            })
            .await
            .map_err(|e| match e {
                // The service reports these as such; every other failure on
                // this path is a token failure.
                e @ (IvsError::Unavailable(_)
                | IvsError::NotFound(_)
                | IvsError::AccessDenied(_)) => e,
                other => IvsError::Token(other.to_string()),
            })?;
        let pt = out.participant_token().ok_or_else(|| {
            IvsError::Token("ivs:CreateParticipantToken returned no participantToken".into())
        })?;
        let token = pt.token().filter(|t| !t.is_empty()).ok_or_else(|| {
            IvsError::Token("ivs:CreateParticipantToken returned no token".into())
        })?;
        // IVS chooses the participant id; the service records the one returned.
        let participant_id = pt.participant_id().ok_or_else(|| {
            IvsError::Token("ivs:CreateParticipantToken returned no participantId".into())
        })?;
        let expires_ms = pt
            .expiration_time()
            .and_then(|t| t.to_millis().ok())
            .unwrap_or_else(|| Utc::now().timestamp_millis() + minutes as i64 * 60_000);
        Ok(ParticipantToken {
            token: token.to_string(),
            participant_id: participant_id.to_string(),
            expires_at: Timestamp::from_millis(expires_ms),
        })
    }
}

#[async_trait]
impl IvsBackend for AwsIvs {
    async fn create_stage(&self, name: &str, tags: &Tags) -> Result<IvsStage, IvsError> {
        let inner = &self.inner;
        let out = inner
            .call(Op::CreateStage, || {
                inner
                    .client
                    .create_stage()
                    .name(name)
                    .set_tags(Some(
                        tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    ))
                    .send()
            })
            .await?;
        let stage = out
            .stage()
            .map(stage_from_sdk)
            .ok_or_else(|| IvsError::Other("ivs:CreateStage returned no stage".into()))?;
        inner.remember(&stage);
        Ok(stage)
    }

    async fn get_stage(&self, arn: &str) -> Result<IvsStage, IvsError> {
        self.inner.get_stage(arn).await
    }

    /// The stages this server manages (tagged `ManagedBy: api-server`) and
    /// the master, from every page of ListStages, with their tags.
    async fn list_stages(&self) -> Result<Vec<IvsStage>, IvsError> {
        let master = self.inner.replication.master();
        let mut stages = self.inner.list_stages(MAX_PAGE_SIZE, true).await?;
        stages.retain(|s| has_tag(&s.tags, MANAGED_BY) || master.as_deref() == Some(&s.arn));
        Ok(stages)
    }

    async fn update_stage(&self, arn: &str, name: &str) -> Result<IvsStage, IvsError> {
        let inner = &self.inner;
        let out = inner
            .call(Op::UpdateStage, || {
                inner.client.update_stage().arn(arn).name(name).send()
            })
            .await?;
        let stage = out
            .stage()
            .map(stage_from_sdk)
            .ok_or_else(|| IvsError::Other("ivs:UpdateStage returned no stage".into()))?;
        inner.remember(&stage);
        Ok(stage)
    }

    /// Stops the publisher's replication into the stage first, then deletes it.
    async fn delete_stage(&self, arn: &str) -> Result<(), IvsError> {
        let inner = &self.inner;
        inner.stop_replication_into(arn).await;
        let result = inner
            .call(Op::DeleteStage, || {
                inner.client.delete_stage().arn(arn).send()
            })
            .await;
        match result {
            Ok(_) | Err(IvsError::NotFound(_)) => inner.forget(arn),
            Err(_) => {}
        }
        result.map(|_| ())
    }

    async fn create_token(&self, spec: &TokenSpec) -> Result<ParticipantToken, IvsError> {
        let minutes = rules::token_minutes(spec.duration)?;
        rules::check_user_id(&spec.user_id)?;
        if spec.capabilities.is_empty() {
            return Err(IvsError::Validation(
                "a participant token needs at least one capability".into(),
            ));
        }
        match &self.inner.signer {
            Some(signer) => self.inner.self_signed_token(signer, spec).await,
            None => self.inner.api_token(spec, minutes).await,
        }
    }

    fn keeps_participant_id(&self) -> bool {
        // Self-signed tokens carry the id the server chose; IVS picks its own.
        self.inner.signer.is_some()
    }

    async fn publisher_live(&self, stage_arn: &str) -> Result<bool, IvsError> {
        Ok(self.inner.liveness(stage_arn).await?.publisher.is_some())
    }

    async fn disconnect_participant(
        &self,
        stage_arn: &str,
        participant_id: &str,
    ) -> Result<(), IvsError> {
        let inner = &self.inner;
        inner
            .call(Op::DisconnectParticipant, || {
                inner
                    .client
                    .disconnect_participant()
                    .stage_arn(stage_arn)
                    .participant_id(participant_id)
                    .reason("removed by ivs-server: left, expired or moved")
                    .send()
            })
            .await
            .map(|_| ())
    }

    /// From the last outcome of any call, refreshed by a background
    /// ListStages(maxResults=1) probe when older than 10 s; never
    /// waits on IVS except briefly for the very first probe.
    async fn health(&self) -> BackendHealth {
        let inner = &self.inner;
        let last = *lock(&inner.health);
        if let Some((at, value)) = last {
            if at.elapsed() < HEALTH_TTL {
                return value;
            }
        }
        let probed = inner.probed.notified();
        tokio::pin!(probed);
        probed.as_mut().enable();
        inner.spawn_probe();
        if let Some((_, value)) = last {
            return value;
        }
        let _ = tokio::time::timeout(FIRST_PROBE_WAIT, probed).await;
        lock(&inner.health)
            .map(|(_, v)| v)
            .unwrap_or(BackendHealth::Unreachable)
    }

    async fn sync_stages(&self, master: &str, overflow: &[String]) {
        self.inner.replication.sync(master, overflow);
    }

    fn replication_note(&self, stage_arn: &str) -> Option<String> {
        self.inner.replication.note(stage_arn)
    }

    fn observe_replication(&self, destination: &str, participant_id: &str, active: bool, at: i64) {
        if self
            .inner
            .replication
            .report(destination, participant_id, active, at)
        {
            tracing::info!(stage = %destination, participant = %participant_id, active, "IVS reported a replication change");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_action() {
        for op in Op::ALL {
            assert_eq!(op.action(), format!("ivs:{}", op.name()));
        }
        assert_eq!(Op::CreateStage.action(), "ivs:CreateStage");
    }
}
