//! A stateful fake of the IVS Real-time control plane on wiremock, so the
//! real `aws-sdk-ivsrealtime` client (and the server's AWS backend) can be
//! tested on the wire without AWS.
//!
//! It speaks IVS's REST-JSON protocol as the service model describes it:
//! every operation is `POST /<Operation>` with a JSON body; errors carry
//! their type in the `x-amzn-ErrorType` header and their text in
//! `exceptionMessage`, with the model's status codes (ServiceQuotaExceeded is
//! 402). Throttling is not in IVS's model; the fake sends what AWS front ends
//! send: HTTP 429 `ThrottlingException` with `{"message": "Rate exceeded"}`.
//!
//! Every request is recorded (operation, JSON body, arrival time, SigV4
//! `Authorization` header) for assertions, and knobs inject faults, delays
//! and small page sizes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ivs_server::config::{AwsSettings, AwsStaticCredentials, BackendKind, IvsSettings, Secret};
use ivs_server::Settings;
use serde_json::{json, Map, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The region of the fake's ARNs (and of [`aws_settings`]).
pub const REGION: &str = "us-west-2";
/// The account of the fake's ARNs.
pub const ACCOUNT: &str = "123456789012";

/// An error the fake can be told to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 404 `ResourceNotFoundException`.
    ResourceNotFound,
    /// 400 `ValidationException`.
    Validation,
    /// 402 `ServiceQuotaExceededException`.
    ServiceQuotaExceeded,
    /// 409 `ConflictException`.
    Conflict,
    /// 403 `AccessDeniedException`.
    AccessDenied,
    /// 500 `InternalServerException`.
    InternalServer,
    /// 429 `ThrottlingException` (retried by the SDK).
    Throttling,
    /// 503 without a modelled type (retried by the SDK).
    ServiceUnavailable,
}

impl Fault {
    fn status_and_type(self) -> (u16, &'static str) {
        match self {
            Fault::ResourceNotFound => (404, "ResourceNotFoundException"),
            Fault::Validation => (400, "ValidationException"),
            Fault::ServiceQuotaExceeded => (402, "ServiceQuotaExceededException"),
            Fault::Conflict => (409, "ConflictException"),
            Fault::AccessDenied => (403, "AccessDeniedException"),
            Fault::InternalServer => (500, "InternalServerException"),
            Fault::Throttling => (429, "ThrottlingException"),
            Fault::ServiceUnavailable => (503, "ServiceUnavailableException"),
        }
    }

    /// The response IVS would send.
    fn response(self, message: &str) -> ResponseTemplate {
        let (status, kind) = self.status_and_type();
        let body = match self {
            // Front-end errors use `message`; IVS's own use `exceptionMessage`.
            Fault::Throttling | Fault::ServiceUnavailable => json!({ "message": message }),
            _ => json!({ "exceptionMessage": message }),
        };
        ResponseTemplate::new(status)
            .insert_header("x-amzn-ErrorType", kind)
            .insert_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
            .set_body_json(body)
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The operation (`CreateStage`, ...).
    pub op: String,
    /// The JSON body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
    /// The `Authorization` header (SigV4).
    pub authorization: Option<String>,
}

/// A stage in the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeStage {
    /// ARN.
    pub arn: String,
    /// Name.
    pub name: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The running session.
    pub active_session_id: Option<String>,
}

/// A participant of a stage session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeParticipant {
    /// Participant id.
    pub participant_id: String,
    /// User id.
    pub user_id: String,
    /// `CONNECTED` or `DISCONNECTED`.
    pub state: String,
    /// Ever published.
    pub published: bool,
}

/// A replication of a participant into another stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeReplica {
    /// Source stage.
    pub source_stage_arn: String,
    /// The replicated participant.
    pub participant_id: String,
    /// Destination stage.
    pub destination_stage_arn: String,
    /// Reconnect window asked for.
    pub reconnect_window_seconds: i64,
}

struct FaultRule {
    op: Option<String>,
    remaining: u32,
    fault: Fault,
    message: String,
}

struct State {
    seq: u64,
    /// Stages in creation order (ListStages pages through them in order).
    stages: Vec<FakeStage>,
    participants: HashMap<String, Vec<FakeParticipant>>,
    replicas: Vec<FakeReplica>,
    faults: VecDeque<FaultRule>,
    delays: HashMap<String, Duration>,
    page_size: usize,
    requests: Vec<Recorded>,
    /// (stage ARN, participant id) of every DisconnectParticipant.
    disconnected: Vec<(String, String)>,
    /// CreateStage answers 402 once the account holds this many stages.
    stage_quota: Option<usize>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fake IVS Real-time control plane.
pub struct FakeIvs {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FakeIvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeIvs")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

/// Settings for a server with `IVS_BACKEND=aws` against `fake`: static test
/// credentials and region (no process environment involved), quick retries
/// and timeouts, the development API key.
pub fn aws_settings(fake: &FakeIvs) -> Settings {
    Settings {
        ivs: IvsSettings {
            backend: BackendKind::Aws,
            endpoint_url: Some(fake.url()),
            ..IvsSettings::default()
        },
        aws: AwsSettings {
            region: Some(REGION.into()),
            credentials: Some(AwsStaticCredentials {
                access_key_id: "AKIDTESTFAKEIVS".into(),
                secret_access_key: Secret::new("fake-ivs-secret-key"),
            }),
            attempt_timeout: Duration::from_secs(2),
            ..AwsSettings::default()
        },
        ..Settings::default()
    }
}

impl FakeIvs {
    /// Starts the fake on a free local port.
    pub async fn start() -> FakeIvs {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            seq: 0,
            stages: Vec::new(),
            participants: HashMap::new(),
            replicas: Vec::new(),
            faults: VecDeque::new(),
            delays: HashMap::new(),
            page_size: 100,
            requests: Vec::new(),
            disconnected: Vec::new(),
            stage_quota: None,
        }));
        Mock::given(method("POST"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        FakeIvs { server, state }
    }

    /// Every (stage ARN, participant id) DisconnectParticipant was called
    /// with, in order.
    pub fn disconnected(&self) -> Vec<(String, String)> {
        lock(&self.state).disconnected.clone()
    }

    /// Makes CreateStage answer 402 `ServiceQuotaExceededException` while the
    /// account holds `n` stages or more, as IVS does at the account's quota.
    pub fn set_stage_quota(&self, n: usize) {
        lock(&self.state).stage_quota = Some(n);
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.server.uri()
    }

    // ------------------------------------------------------------ inspection

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The requests of one operation, in order.
    pub fn requests_to(&self, op: &str) -> Vec<Recorded> {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.op == op)
            .cloned()
            .collect()
    }

    /// How many requests of `op` arrived.
    pub fn count(&self, op: &str) -> usize {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.op == op)
            .count()
    }

    /// The operations received, in order.
    pub fn ops(&self) -> Vec<String> {
        lock(&self.state)
            .requests
            .iter()
            .map(|r| r.op.clone())
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }

    /// Waits until `op` has been received `n` times (or `timeout` passes).
    pub async fn wait_for(&self, op: &str, n: usize, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.count(op) >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.count(op) >= n
    }

    /// A stage.
    pub fn stage(&self, arn: &str) -> Option<FakeStage> {
        lock(&self.state)
            .stages
            .iter()
            .find(|s| s.arn == arn)
            .cloned()
    }

    /// Every stage.
    pub fn stages(&self) -> Vec<FakeStage> {
        lock(&self.state).stages.clone()
    }

    /// Every active replication.
    pub fn replicas(&self) -> Vec<FakeReplica> {
        lock(&self.state).replicas.clone()
    }

    // ------------------------------------------------------------ knobs

    /// The next `times` requests of `op` (any operation if `None`) fail with `fault`.
    pub fn fail_next(&self, op: Option<&str>, times: u32, fault: Fault) {
        let message = match fault {
            Fault::ResourceNotFound => "Resource not found".to_string(),
            Fault::Validation => "Invalid request parameters".to_string(),
            Fault::ServiceQuotaExceeded => "Request would exceed the service quota".to_string(),
            Fault::Conflict => "Conflicting operation".to_string(),
            Fault::AccessDenied => "User is not authorized to perform this action".to_string(),
            Fault::InternalServer => "Internal error".to_string(),
            Fault::Throttling => "Rate exceeded".to_string(),
            Fault::ServiceUnavailable => "Service unavailable".to_string(),
        };
        lock(&self.state).faults.push_back(FaultRule {
            op: op.map(str::to_string),
            remaining: times,
            fault,
            message,
        });
    }

    /// The next `times` requests of `op` (any if `None`) are throttled (429).
    pub fn throttle_next(&self, op: Option<&str>, times: u32) {
        self.fail_next(op, times, Fault::Throttling);
    }

    /// Drops every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Answers `op` after `delay`.
    pub fn set_delay(&self, op: &str, delay: Duration) {
        lock(&self.state).delays.insert(op.to_string(), delay);
    }

    /// Caps ListStages / ListParticipants / ListParticipantReplicas pages.
    pub fn set_page_size(&self, n: usize) {
        lock(&self.state).page_size = n.max(1);
    }

    /// Creates a stage as if through the console.
    pub fn add_stage(&self, name: &str, tags: &[(&str, &str)]) -> String {
        let mut st = lock(&self.state);
        let tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        st.new_stage(name, tags).arn
    }

    /// Deletes a stage behind the server's back.
    pub fn remove_stage(&self, arn: &str) {
        lock(&self.state).stages.retain(|s| s.arn != arn);
    }

    /// Renames a stage behind the server's back.
    pub fn rename_stage(&self, arn: &str, name: &str) {
        if let Some(s) = lock(&self.state).stages.iter_mut().find(|s| s.arn == arn) {
            s.name = name.to_string();
        }
    }

    /// Starts a session on the stage (if it has none); returns its id.
    pub fn start_session(&self, arn: &str) -> Option<String> {
        let mut st = lock(&self.state);
        let session = format!("st-{}", st.next_id(13));
        let stage = st.stages.iter_mut().find(|s| s.arn == arn)?;
        Some(stage.active_session_id.get_or_insert(session).clone())
    }

    /// A publisher joins the stage and publishes: the stage gets a session
    /// (if it has none) and a connected, published participant. Returns the
    /// session id.
    pub fn go_live(&self, arn: &str, participant_id: &str, user_id: &str) -> Option<String> {
        let session = self.start_session(arn)?;
        let mut st = lock(&self.state);
        st.participants
            .entry(arn.to_string())
            .or_default()
            .push(FakeParticipant {
                participant_id: participant_id.to_string(),
                user_id: user_id.to_string(),
                state: "CONNECTED".into(),
                published: true,
            });
        Some(session)
    }

    /// Adds any participant to the stage's session (which must exist).
    pub fn add_participant(&self, arn: &str, participant: FakeParticipant) {
        lock(&self.state)
            .participants
            .entry(arn.to_string())
            .or_default()
            .push(participant);
    }

    /// Ends the stage's session: no session, no participants, no replicas from it.
    pub fn end_session(&self, arn: &str) {
        let mut st = lock(&self.state);
        if let Some(s) = st.stages.iter_mut().find(|s| s.arn == arn) {
            s.active_session_id = None;
        }
        st.participants.remove(arn);
        st.replicas.retain(|r| r.source_stage_arn != arn);
    }

    /// Records an active replication directly (e.g. one started elsewhere).
    pub fn add_replica(&self, replica: FakeReplica) {
        lock(&self.state).replicas.push(replica);
    }
}

struct Handler(Arc<Mutex<State>>);

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let op = req.url.path().trim_start_matches('/').to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let mut st = lock(&self.0);
        st.requests.push(Recorded {
            op: op.clone(),
            body: body.clone(),
            at: Instant::now(),
            authorization: req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        });
        let response = match st.take_fault(&op) {
            Some(r) => r,
            None => st.answer(&op, &body),
        };
        match st.delays.get(&op) {
            Some(d) => response.set_delay(*d),
            None => response,
        }
    }
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        .set_body_json(body)
}

fn err(fault: Fault, message: impl AsRef<str>) -> ResponseTemplate {
    fault.response(message.as_ref())
}

fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

const REPLICATION_FIELDS_REQUIRED: &str =
    "sourceStageArn, destinationStageArn and participantId are required";

/// The source stage, destination stage and participant a replication call names.
fn replication_fields(body: &Value) -> Option<(&str, &str, &str)> {
    Some((
        str_field(body, "sourceStageArn")?,
        str_field(body, "destinationStageArn")?,
        str_field(body, "participantId")?,
    ))
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn valid_name(name: &str) -> bool {
    name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An ISO 8601 time, as IVS writes timestamps.
fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl State {
    /// A pseudo-random alphanumeric id (splitmix64 over a counter: no `rand`
    /// needed, and ids differ between fakes through the start time).
    fn next_id(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        self.seq += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut x = self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ nanos;
        let mut out = String::with_capacity(len);
        for _ in 0..len {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            out.push(ALPHABET[(z % ALPHABET.len() as u64) as usize] as char);
        }
        out
    }

    fn new_stage(&mut self, name: &str, tags: BTreeMap<String, String>) -> FakeStage {
        let id = self.next_id(12);
        let stage = FakeStage {
            arn: format!("arn:aws:ivs:{REGION}:{ACCOUNT}:stage/{id}"),
            name: name.to_string(),
            tags,
            active_session_id: None,
        };
        self.stages.push(stage.clone());
        stage
    }

    fn take_fault(&mut self, op: &str) -> Option<ResponseTemplate> {
        let i = self
            .faults
            .iter()
            .position(|f| f.op.as_deref().is_none_or(|o| o == op))?;
        let rule = self.faults.get_mut(i)?;
        rule.remaining = rule.remaining.saturating_sub(1);
        let response = rule.fault.response(&rule.message);
        if rule.remaining == 0 {
            self.faults.remove(i);
        }
        Some(response)
    }

    fn stage_json(stage: &FakeStage) -> Value {
        let id = stage.arn.rsplit('/').next().unwrap_or_default();
        let mut v = json!({
            "arn": stage.arn,
            "name": stage.name,
            "tags": stage.tags,
            "autoParticipantRecordingConfiguration": {
                "storageConfigurationArn": "",
                "mediaTypes": ["AUDIO_VIDEO"],
                "thumbnailConfiguration": {"targetIntervalSeconds": 60, "storage": ["SEQUENTIAL"], "recordingMode": "DISABLED"},
                "recordingReconnectWindowSeconds": 0,
                "hlsConfiguration": {"targetSegmentDurationSeconds": 6},
                "recordParticipantReplicas": true
            },
            "endpoints": {
                "events": "wss://global.events.live-video.net",
                "whip": format!("https://{id}.global-bm.whip.live-video.net"),
                "rtmp": format!("rtmp://{id}.global-contribute-staging.live-video.net/app/"),
                "rtmps": format!("rtmps://{id}.global-contribute.live-video.net:443/app/")
            }
        });
        if let (Some(session), Some(o)) = (&stage.active_session_id, v.as_object_mut()) {
            o.insert("activeSessionId".into(), json!(session));
        }
        v
    }

    fn find(&self, arn: Option<&str>) -> Option<usize> {
        let arn = arn?;
        self.stages.iter().position(|s| s.arn == arn)
    }

    /// A page of `items` from the `nextToken` in `body` (tokens are `p<offset>`).
    fn page<T: Clone>(
        &self,
        body: &Value,
        items: &[T],
    ) -> Result<(Vec<T>, Option<String>), &'static str> {
        let max = body
            .get("maxResults")
            .and_then(Value::as_u64)
            .map_or(50, |m| m as usize);
        if !(1..=100).contains(&max) {
            return Err("maxResults must be between 1 and 100");
        }
        let max = max.min(self.page_size);
        let start = match str_field(body, "nextToken") {
            None | Some("") => 0,
            Some(t) => match t.strip_prefix('p').and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n,
                None => return Err("invalid nextToken"),
            },
        };
        let end = (start + max).min(items.len());
        let page = items.get(start.min(end)..end).unwrap_or_default().to_vec();
        Ok((page, (end < items.len()).then(|| format!("p{end}"))))
    }

    /// The list response `{key: [page], nextToken?}` for `body`'s paging.
    fn paged(&self, body: &Value, key: &str, items: &[Value]) -> ResponseTemplate {
        match self.page(body, items) {
            Ok((page, next)) => {
                let mut out = Map::new();
                out.insert(key.into(), Value::Array(page));
                if let Some(next) = next {
                    out.insert("nextToken".into(), json!(next));
                }
                ok(Value::Object(out))
            }
            Err(e) => err(Fault::Validation, e),
        }
    }

    fn answer(&mut self, op: &str, body: &Value) -> ResponseTemplate {
        match op {
            "CreateStage" => {
                let name = str_field(body, "name").unwrap_or("");
                if !valid_name(name) {
                    return err(Fault::Validation, "name must match [a-zA-Z0-9-_]*");
                }
                let tags = string_map(body.get("tags"));
                if tags.len() > 50 {
                    return err(Fault::Validation, "at most 50 tags");
                }
                if self.stage_quota.is_some_and(|q| self.stages.len() >= q) {
                    return err(
                        Fault::ServiceQuotaExceeded,
                        "Stage quota for this account and region is exceeded",
                    );
                }
                let stage = self.new_stage(name, tags);
                ok(json!({ "stage": Self::stage_json(&stage), "participantTokens": [] }))
            }
            "GetStage" => match self.find(str_field(body, "arn")) {
                Some(i) => ok(json!({ "stage": Self::stage_json(&self.stages[i]) })),
                None => err(Fault::ResourceNotFound, "Stage not found"),
            },
            "ListStages" => {
                let summaries: Vec<Value> = self
                    .stages
                    .iter()
                    .map(|s| {
                        let mut v = json!({ "arn": s.arn, "name": s.name, "tags": s.tags });
                        if let (Some(session), Some(o)) = (&s.active_session_id, v.as_object_mut())
                        {
                            o.insert("activeSessionId".into(), json!(session));
                        }
                        v
                    })
                    .collect();
                self.paged(body, "stages", &summaries)
            }
            "UpdateStage" => {
                let Some(i) = self.find(str_field(body, "arn")) else {
                    return err(Fault::ResourceNotFound, "Stage not found");
                };
                if let Some(name) = str_field(body, "name") {
                    if !valid_name(name) {
                        return err(Fault::Validation, "name must match [a-zA-Z0-9-_]*");
                    }
                    self.stages[i].name = name.to_string();
                }
                ok(json!({ "stage": Self::stage_json(&self.stages[i]) }))
            }
            "DeleteStage" => {
                let Some(i) = self.find(str_field(body, "arn")) else {
                    return err(Fault::ResourceNotFound, "Stage not found");
                };
                let arn = self.stages.remove(i).arn;
                self.participants.remove(&arn);
                self.replicas
                    .retain(|r| r.destination_stage_arn != arn && r.source_stage_arn != arn);
                ok(json!({}))
            }
            "CreateParticipantToken" => self.create_token(body),
            "ListParticipants" => {
                let Some(i) = self.find(str_field(body, "stageArn")) else {
                    return err(Fault::ResourceNotFound, "Stage not found");
                };
                let stage = &self.stages[i];
                let Some(session) = str_field(body, "sessionId") else {
                    return err(Fault::Validation, "sessionId is required");
                };
                let filters = [
                    "filterByUserId",
                    "filterByPublished",
                    "filterByState",
                    "filterByRecordingState",
                ]
                .iter()
                .filter(|f| body.get(**f).is_some())
                .count();
                if filters > 1 {
                    return err(Fault::Validation, "only one filter may be provided");
                }
                let participants: Vec<Value> = if stage.active_session_id.as_deref()
                    == Some(session)
                {
                    self.participants
                        .get(&stage.arn)
                        .map(|ps| {
                            ps.iter()
                                .filter(|p| {
                                    match body.get("filterByPublished").and_then(Value::as_bool) {
                                        Some(want) => p.published == want,
                                        None => true,
                                    }
                                })
                                .filter(|p| match str_field(body, "filterByState") {
                                    Some(want) => p.state == want,
                                    None => true,
                                })
                                .filter(|p| match str_field(body, "filterByUserId") {
                                    Some(want) => p.user_id == want,
                                    None => true,
                                })
                                .map(|p| {
                                    json!({
                                        "participantId": p.participant_id,
                                        "userId": p.user_id,
                                        "state": p.state,
                                        "firstJoinTime": iso(chrono::Utc::now()),
                                        "published": p.published,
                                        "recordingState": "DISABLED",
                                        "replicationType": "NONE",
                                        "redundantIngest": false
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                self.paged(body, "participants", &participants)
            }
            "StartParticipantReplication" => self.start_replication(body),
            "DisconnectParticipant" => {
                let (Some(arn), Some(pid)) = (
                    str_field(body, "stageArn"),
                    str_field(body, "participantId"),
                ) else {
                    return err(Fault::Validation, "stageArn and participantId are required");
                };
                if self.find(Some(arn)).is_none() {
                    return err(Fault::ResourceNotFound, "Stage not found");
                }
                self.disconnected.push((arn.to_string(), pid.to_string()));
                ok(json!({}))
            }
            "StopParticipantReplication" => {
                let Some((src, dst, pid)) = replication_fields(body) else {
                    return err(Fault::Validation, REPLICATION_FIELDS_REQUIRED);
                };
                let before = self.replicas.len();
                self.replicas.retain(|r| {
                    !(r.source_stage_arn == src
                        && r.destination_stage_arn == dst
                        && r.participant_id == pid)
                });
                if self.replicas.len() == before {
                    return err(Fault::ResourceNotFound, "Replication not found");
                }
                ok(json!({}))
            }
            "ListParticipantReplicas" => {
                let (Some(src), Some(pid)) = (
                    str_field(body, "sourceStageArn"),
                    str_field(body, "participantId"),
                ) else {
                    return err(
                        Fault::Validation,
                        "sourceStageArn and participantId are required",
                    );
                };
                let source_session = self
                    .find(Some(src))
                    .and_then(|i| self.stages[i].active_session_id.clone())
                    .unwrap_or_else(|| "st-0000000000000".into());
                let replicas: Vec<Value> = self
                    .replicas
                    .iter()
                    .filter(|r| r.source_stage_arn == src && r.participant_id == pid)
                    .map(|r| {
                        json!({
                            "sourceStageArn": r.source_stage_arn,
                            "participantId": r.participant_id,
                            "sourceSessionId": source_session,
                            "destinationStageArn": r.destination_stage_arn,
                            "destinationSessionId": "st-1111111111111",
                            "replicationState": "ACTIVE"
                        })
                    })
                    .collect();
                self.paged(body, "replicas", &replicas)
            }
            other => ResponseTemplate::new(404)
                .insert_header("x-amzn-ErrorType", "UnknownOperationException")
                .set_body_json(json!({ "message": format!("unknown operation {other}") })),
        }
    }

    fn create_token(&mut self, body: &Value) -> ResponseTemplate {
        if self.find(str_field(body, "stageArn")).is_none() {
            return err(Fault::ResourceNotFound, "Stage not found");
        }
        let duration = body.get("duration").and_then(Value::as_i64).unwrap_or(720);
        if !(1..=20_160).contains(&duration) {
            return err(Fault::Validation, "duration must be between 1 and 20160");
        }
        let attributes = string_map(body.get("attributes"));
        let size: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > 1024 {
            return err(Fault::Validation, "attributes exceed 1 KB");
        }
        let capabilities = match body.get("capabilities").and_then(Value::as_array) {
            Some(c) => c.clone(),
            None => vec![json!("PUBLISH"), json!("SUBSCRIBE")],
        };
        if capabilities
            .iter()
            .any(|c| !matches!(c.as_str(), Some("PUBLISH" | "SUBSCRIBE")))
        {
            return err(Fault::Validation, "unknown capability");
        }
        let participant_id = self.next_id(12);
        let token = format!(
            "eyJhbGciOiJLTVMiLCJ0eXAiOiJKV1QifQ.fake-{}.{participant_id}",
            self.next_id(24)
        );
        let expires = chrono::Utc::now() + chrono::Duration::minutes(duration);
        let mut pt = json!({
            "participantId": participant_id,
            "token": token,
            "attributes": attributes,
            "duration": duration,
            "capabilities": capabilities,
            "expirationTime": iso(expires),
        });
        if let (Some(user), Some(o)) = (str_field(body, "userId"), pt.as_object_mut()) {
            o.insert("userId".into(), json!(user));
        }
        ok(json!({ "participantToken": pt }))
    }

    fn start_replication(&mut self, body: &Value) -> ResponseTemplate {
        let Some((src, dst, pid)) = replication_fields(body) else {
            return err(Fault::Validation, REPLICATION_FIELDS_REQUIRED);
        };
        if self.find(Some(src)).is_none() || self.find(Some(dst)).is_none() {
            return err(Fault::ResourceNotFound, "Stage not found");
        }
        let window = body
            .get("reconnectWindowSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if !(0..=300).contains(&window) {
            return err(
                Fault::Validation,
                "reconnectWindowSeconds must be between 0 and 300",
            );
        }
        let connected = self.participants.get(src).is_some_and(|ps| {
            ps.iter()
                .any(|p| p.participant_id == pid && p.state == "CONNECTED" && p.published)
        });
        if !connected {
            return err(
                Fault::ResourceNotFound,
                "Participant not found or not publishing",
            );
        }
        let mine: Vec<&FakeReplica> = self
            .replicas
            .iter()
            .filter(|r| r.source_stage_arn == src && r.participant_id == pid)
            .collect();
        if mine.iter().any(|r| r.destination_stage_arn == dst) {
            return err(
                Fault::Conflict,
                "Participant is already replicated to the destination stage",
            );
        }
        if mine.len() >= 5 {
            return err(
                Fault::ServiceQuotaExceeded,
                "A participant can be replicated to at most 5 stages",
            );
        }
        self.replicas.push(FakeReplica {
            source_stage_arn: src.to_string(),
            participant_id: pid.to_string(),
            destination_stage_arn: dst.to_string(),
            reconnect_window_seconds: window,
        });
        ok(json!({}))
    }
}
