//! The AWS IVS backend on the wire: the real `aws-sdk-ivsrealtime` client,
//! driven by `AwsIvs` and by a whole server with `IVS_BACKEND=aws`, against
//! a stateful fake of the IVS control plane (`ivs_test_support::fake_ivs`).

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
use ivs_client::model::{Capability, Tags};
use ivs_server::config::DEV_API_KEY;
use ivs_server::ivs::aws::AwsIvs;
use ivs_server::ivs::token::{CapabilityClaims, Claims, TokenSigner};
use ivs_server::ivs::{BackendHealth, IvsBackend, IvsError, TokenSpec};
use ivs_server::{RunningServer, ServerBuilder, Settings};
use ivs_test_support::fake_ivs::{aws_settings, FakeIvs, FakeParticipant, Fault, ACCOUNT, REGION};
use ivs_test_support::harness::logged_events;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn Error>>;

const SECOND: Duration = Duration::from_secs(1);

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn managed(extra: &[(&str, &str)]) -> Tags {
    let mut t = tags(&[("ManagedBy", "api-server"), ("Environment", "test")]);
    t.extend(tags(extra));
    t
}

/// Settings against the fake with few, quick retries.
fn quick(fake: &FakeIvs) -> Settings {
    let mut s = aws_settings(fake);
    s.aws.max_attempts = 2;
    s.aws.attempt_timeout = Duration::from_millis(800);
    s
}

async fn backend(settings: &Settings) -> Result<AwsIvs, Box<dyn Error>> {
    Ok(AwsIvs::new(settings).await?)
}

fn viewer_spec(stage: &str, user: &str, duration: Duration) -> TokenSpec {
    TokenSpec {
        stage_arn: stage.to_string(),
        user_id: format!("viewer-{user}"),
        participant_id: "serverChosenId1".into(),
        attributes: tags(&[("displayName", "Ann")]),
        capabilities: vec![Capability::Subscribe],
        duration,
    }
}

// ---------------------------------------------------------------- HTTP

struct Api {
    server: RunningServer,
    http: reqwest::Client,
}

impl Api {
    async fn start(settings: Settings) -> Result<Api, Box<dyn Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let server = ServerBuilder::new(settings)
            .build()
            .await?
            .spawn(listener)?;
        Ok(Api {
            server,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    fn master(&self) -> String {
        self.server.app().master_arn()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), Box<dyn Error>> {
        let url = format!("{}{path}", self.server.base_url());
        let mut req = self
            .http
            .request(method, url)
            .header("x-api-key", DEV_API_KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> Result<(u16, Value), Box<dyn Error>> {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<(u16, Value), Box<dyn Error>> {
        self.call(Method::POST, path, Some(body)).await
    }
}

fn enc(arn: &str) -> String {
    utf8_percent_encode(arn, NON_ALPHANUMERIC).to_string()
}

#[track_caller]
fn expect_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
}

// ---------------------------------------------------------------- wire: stages

#[tokio::test]
async fn create_stage_sends_name_and_tags_signed_for_ivs() -> TestResult {
    let fake = FakeIvs::start().await;
    let ivs = backend(&aws_settings(&fake)).await?;
    let stage = ivs
        .create_stage("auto-stage-1", &managed(&[("AutoScaled", "true")]))
        .await?;

    let reqs = fake.requests_to("CreateStage");
    assert_eq!(reqs.len(), 1);
    let body = &reqs[0].body;
    assert_eq!(body["name"], "auto-stage-1");
    assert_eq!(
        body["tags"],
        json!({"ManagedBy": "api-server", "Environment": "test", "AutoScaled": "true"})
    );
    // SigV4 with the signing name `ivs` and the configured region.
    let auth = reqs[0].authorization.clone().unwrap_or_default();
    assert!(auth.starts_with("AWS4-HMAC-SHA256"), "{auth}");
    assert!(
        auth.contains(&format!("/{REGION}/ivs/aws4_request")),
        "{auth}"
    );

    // The response is parsed: ARN, name, tags and endpoints.
    let id = stage.arn.rsplit('/').next().unwrap_or_default().to_string();
    assert_eq!(
        stage.arn,
        format!("arn:aws:ivs:{REGION}:{ACCOUNT}:stage/{id}")
    );
    assert_eq!(stage.name, "auto-stage-1");
    assert_eq!(stage.tags, managed(&[("AutoScaled", "true")]));
    assert_eq!(stage.active_session_id, None);
    assert_eq!(stage.endpoints.events, "wss://global.events.live-video.net");
    assert_eq!(
        stage.endpoints.whip,
        format!("https://{id}.global-bm.whip.live-video.net")
    );
    assert!(stage.endpoints.rtmps.starts_with("rtmps://"));
    Ok(())
}

#[tokio::test]
async fn get_update_delete_stage_on_the_wire() -> TestResult {
    let fake = FakeIvs::start().await;
    let arn = fake.add_stage("console-made", &[("ManagedBy", "api-server")]);
    let session = fake
        .go_live(&arn, "pubParticipant1", "broadcaster-bob")
        .unwrap_or_default();
    let ivs = backend(&aws_settings(&fake)).await?;

    let stage = ivs.get_stage(&arn).await?;
    assert_eq!(fake.requests_to("GetStage")[0].body, json!({ "arn": arn }));
    assert_eq!(stage.name, "console-made");
    assert_eq!(stage.active_session_id.as_deref(), Some(session.as_str()));
    assert_eq!(session.len(), 16);

    let renamed = ivs.update_stage(&arn, "renamed_1").await?;
    assert_eq!(
        fake.requests_to("UpdateStage")[0].body,
        json!({ "arn": arn, "name": "renamed_1" })
    );
    assert_eq!(renamed.name, "renamed_1");

    ivs.delete_stage(&arn).await?;
    assert_eq!(
        fake.requests_to("DeleteStage")[0].body,
        json!({ "arn": arn })
    );
    assert!(fake.stage(&arn).is_none());

    // Gone: every stage operation says NotFound.
    let missing = ivs.get_stage(&arn).await;
    assert!(matches!(missing, Err(IvsError::NotFound(_))), "{missing:?}");
    let missing = ivs.update_stage(&arn, "x").await;
    assert!(matches!(missing, Err(IvsError::NotFound(_))), "{missing:?}");
    let missing = ivs.delete_stage(&arn).await;
    assert!(matches!(missing, Err(IvsError::NotFound(_))), "{missing:?}");
    Ok(())
}

#[tokio::test]
async fn list_stages_follows_next_token_and_keeps_tags() -> TestResult {
    let fake = FakeIvs::start().await;
    let mut mine = Vec::new();
    for i in 0..5 {
        let name = format!("managed-{i}");
        mine.push(fake.add_stage(&name, &[("ManagedBy", "api-server"), ("Index", "x")]));
        // Someone else's stages in the same account are not ours.
        fake.add_stage(&format!("other-{i}"), &[("Team", "video")]);
    }
    let master = fake.add_stage("their-master", &[]);
    fake.set_page_size(3);
    let mut settings = aws_settings(&fake);
    settings.ivs.master_stage_arn = Some(master.clone());
    let ivs = backend(&settings).await?;

    let stages = ivs.list_stages().await?;
    let reqs = fake.requests_to("ListStages");
    // 11 stages, 3 per page: 4 pages, each asking for 100 with the previous token.
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[0].body, json!({ "maxResults": 100 }));
    assert_eq!(
        reqs[1].body,
        json!({ "maxResults": 100, "nextToken": "p3" })
    );
    assert_eq!(reqs[3].body["nextToken"], "p9");
    let arns: Vec<&str> = stages.iter().map(|s| s.arn.as_str()).collect();
    assert_eq!(stages.len(), 6, "{arns:?}");
    for arn in &mine {
        assert!(arns.contains(&arn.as_str()));
    }
    assert!(
        arns.contains(&master.as_str()),
        "the configured master is kept"
    );
    let first = stages.iter().find(|s| s.arn == mine[0]).ok_or("missing")?;
    assert_eq!(first.name, "managed-0");
    assert_eq!(
        first.tags,
        tags(&[("ManagedBy", "api-server"), ("Index", "x")])
    );
    Ok(())
}

// ---------------------------------------------------------------- wire: tokens

#[tokio::test]
async fn create_participant_token_for_a_viewer() -> TestResult {
    let fake = FakeIvs::start().await;
    let arn = fake.add_stage("s", &[]);
    let ivs = backend(&aws_settings(&fake)).await?;
    let before = chrono::Utc::now().timestamp_millis();
    // 61 minutes and a second: rounded up to 62 minutes.
    let token = ivs
        .create_token(&viewer_spec(&arn, "ann", Duration::from_secs(61 * 60 + 1)))
        .await?;

    let reqs = fake.requests_to("CreateParticipantToken");
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].body,
        json!({
            "stageArn": arn,
            "duration": 62,
            "userId": "viewer-ann",
            "attributes": {"displayName": "Ann"},
            "capabilities": ["SUBSCRIBE"]
        })
    );
    // IVS chose the participant id; the backend returns IVS's.
    assert_ne!(token.participant_id, "serverChosenId1");
    assert_eq!(token.participant_id.len(), 12);
    assert!(token.token.ends_with(&token.participant_id));
    let expires = token.expires_at.millis();
    assert!(
        (before + 62 * 60_000 - 2_000..=before + 62 * 60_000 + 2_000).contains(&expires),
        "{expires}"
    );
    Ok(())
}

#[tokio::test]
async fn create_participant_token_for_the_publisher() -> TestResult {
    let fake = FakeIvs::start().await;
    let arn = fake.add_stage("s", &[]);
    let ivs = backend(&aws_settings(&fake)).await?;
    let spec = TokenSpec {
        stage_arn: arn.clone(),
        user_id: "broadcaster-bob".into(),
        participant_id: "x".into(),
        attributes: Tags::new(),
        capabilities: vec![Capability::Publish],
        duration: Duration::from_secs(4 * 3600),
    };
    ivs.create_token(&spec).await?;
    let body = &fake.requests_to("CreateParticipantToken")[0].body;
    assert_eq!(body["capabilities"], json!(["PUBLISH"]));
    assert_eq!(body["duration"], 240);
    assert_eq!(body["userId"], "broadcaster-bob");
    Ok(())
}

fn pem_private_key() -> Result<String, Box<dyn Error>> {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| "key generation failed")?;
    let b64 = base64(doc.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk)?);
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

/// Standard base64 with padding (the test's only need for it).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A key file in the temp directory, removed on drop.
struct KeyFile(std::path::PathBuf);

impl KeyFile {
    fn new() -> Result<KeyFile, Box<dyn Error>> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ivs-aws-test-{}-{n}.pem", std::process::id()));
        std::fs::write(&path, pem_private_key()?)?;
        Ok(KeyFile(path))
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const KEY_ARN: &str = "arn:aws:ivs:us-west-2:123456789012:public-key/abcdEFGH1234";

fn decode(token: &str, signer: &TokenSigner) -> Result<Claims, Box<dyn Error>> {
    let header = jsonwebtoken::decode_header(token)?;
    assert_eq!(header.alg, Algorithm::ES384);
    assert_eq!(header.kid.as_deref(), Some(KEY_ARN));
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let key = DecodingKey::from_ec_der(&signer.public_key_point());
    let mut v = Validation::new(Algorithm::ES384);
    v.required_spec_claims.clear();
    v.validate_exp = true;
    Ok(jsonwebtoken::decode::<Claims>(token, &key, &v)?.claims)
}

#[tokio::test]
async fn self_signed_tokens_make_no_token_call_and_carry_ivs_claims() -> TestResult {
    let fake = FakeIvs::start().await;
    let arn = fake.add_stage("s", &[]);
    let key = KeyFile::new()?;
    let mut settings = aws_settings(&fake);
    settings.ivs.token_key_file = Some(key.0.clone());
    settings.ivs.public_key_arn = Some(KEY_ARN.into());
    let ivs = backend(&settings).await?;
    let signer = TokenSigner::from_pem_file(&key.0, KEY_ARN)?;
    assert_eq!(
        ivs.signer().map(|s| s.public_key_point()),
        Some(signer.public_key_point())
    );

    // A burst of joins on a fresh stage: one GetStage for the endpoints.
    let ivs = Arc::new(ivs);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let ivs = ivs.clone();
        let arn = arn.clone();
        tasks.push(tokio::spawn(async move {
            ivs.create_token(&viewer_spec(&arn, &format!("u{i}"), 3600 * SECOND))
                .await
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await??);
    }
    assert_eq!(fake.count("CreateParticipantToken"), 0);
    assert_eq!(fake.count("GetStage"), 1);

    let token = &tokens[0];
    assert_eq!(token.participant_id, "serverChosenId1");
    let claims = decode(&token.token, &signer)?;
    let id = arn.rsplit('/').next().unwrap_or_default();
    assert_eq!(claims.exp - claims.iat, 3600);
    assert!((claims.iat - chrono::Utc::now().timestamp()).abs() <= 5);
    assert_eq!(claims.exp * 1000, token.expires_at.millis());
    assert_eq!(claims.jti, "serverChosenId1");
    assert_eq!(claims.user_id, "viewer-u0");
    assert_eq!(claims.resource, arn);
    assert_eq!(claims.topic, id);
    assert_eq!(claims.events_url, "wss://global.events.live-video.net");
    assert_eq!(
        claims.whip_url,
        format!("https://{id}.global-bm.whip.live-video.net")
    );
    assert_eq!(
        claims.capabilities,
        CapabilityClaims {
            allow_publish: false,
            allow_subscribe: true
        }
    );
    assert_eq!(claims.attributes, tags(&[("displayName", "Ann")]));
    assert_eq!(claims.version, "1.0");

    // Another key does not verify it.
    let other = TokenSigner::generate(KEY_ARN)?;
    assert!(decode(&token.token, &other).is_err());

    // An unknown stage is NotFound, not a token failure.
    let missing = format!("arn:aws:ivs:{REGION}:{ACCOUNT}:stage/missing1");
    let err = ivs
        .create_token(&viewer_spec(&missing, "x", 3600 * SECOND))
        .await;
    assert!(matches!(err, Err(IvsError::NotFound(_))), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn half_a_key_configuration_is_refused() -> TestResult {
    let fake = FakeIvs::start().await;
    let mut settings = aws_settings(&fake);
    settings.ivs.public_key_arn = Some(KEY_ARN.into());
    assert!(AwsIvs::new(&settings).await.is_err());
    Ok(())
}

// ---------------------------------------------------------------- wire: liveness, health

#[tokio::test]
async fn publisher_liveness_from_session_and_participants() -> TestResult {
    let fake = FakeIvs::start().await;
    let idle = fake.add_stage("idle", &[]);
    let live = fake.add_stage("live", &[]);
    let session = fake
        .go_live(&live, "pubParticipant1", "broadcaster-bob")
        .unwrap_or_default();
    // `left` has a session whose publisher disconnected, and a connected
    // participant that never published.
    let left = fake.add_stage("left", &[]);
    fake.start_session(&left);
    fake.add_participant(
        &left,
        FakeParticipant {
            participant_id: "gonePublisher1".into(),
            user_id: "broadcaster-old".into(),
            state: "DISCONNECTED".into(),
            published: true,
        },
    );
    fake.add_participant(
        &left,
        FakeParticipant {
            participant_id: "viewerOnly1".into(),
            user_id: "viewer-x".into(),
            state: "CONNECTED".into(),
            published: false,
        },
    );
    let ivs = Arc::new(backend(&aws_settings(&fake)).await?);

    assert!(!ivs.publisher_live(&idle).await?);
    assert_eq!(fake.count("ListParticipants"), 0, "no session: no listing");

    assert!(ivs.publisher_live(&live).await?);
    let list = &fake.requests_to("ListParticipants")[0].body;
    assert_eq!(
        *list,
        json!({
            "stageArn": live,
            "sessionId": session,
            "filterByPublished": true,
            "maxResults": 100
        })
    );

    // Published but disconnected does not count, nor connected but unpublished.
    assert!(!ivs.publisher_live(&left).await?);
    assert_eq!(fake.count("ListParticipants"), 2);

    // Cached and shared: concurrent callers make no new calls.
    let gets = fake.count("GetStage");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let ivs = ivs.clone();
        let live = live.clone();
        tasks.push(tokio::spawn(async move { ivs.publisher_live(&live).await }));
    }
    for t in tasks {
        assert!(t.await??);
    }
    assert_eq!(fake.count("GetStage"), gets);

    // A stage that does not exist is NotFound.
    let missing = format!("arn:aws:ivs:{REGION}:{ACCOUNT}:stage/missing1");
    let err = ivs.publisher_live(&missing).await;
    assert!(matches!(err, Err(IvsError::NotFound(_))), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn health_is_ready_or_unreachable_and_cached() -> TestResult {
    let fake = FakeIvs::start().await;
    let ivs = backend(&aws_settings(&fake)).await?;
    assert_eq!(ivs.health().await, BackendHealth::Ready);
    let probe = fake.requests_to("ListStages");
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].body, json!({ "maxResults": 1 }));
    // Cached: no new probe.
    let started = Instant::now();
    assert_eq!(ivs.health().await, BackendHealth::Ready);
    assert!(started.elapsed() < Duration::from_millis(50));
    assert_eq!(fake.count("ListStages"), 1);

    // Nothing listening: unreachable, answered quickly.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = closed.local_addr()?.port();
    drop(closed);
    let mut settings = quick(&fake);
    settings.ivs.endpoint_url = Some(format!("http://127.0.0.1:{port}"));
    let down = backend(&settings).await?;
    let started = Instant::now();
    assert_eq!(down.health().await, BackendHealth::Unreachable);
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = down
        .get_stage(&format!("arn:aws:ivs:{REGION}:{ACCOUNT}:stage/abc"))
        .await;
    assert!(matches!(err, Err(IvsError::Unavailable(_))), "{err:?}");
    Ok(())
}

// ---------------------------------------------------------------- wire: errors

#[tokio::test]
async fn ivs_errors_map_to_backend_errors() -> TestResult {
    let fake = FakeIvs::start().await;
    let ivs = backend(&quick(&fake)).await?;
    let arn = fake.add_stage("s", &[]);
    let t = managed(&[]);

    type Check = fn(&IvsError) -> bool;
    let cases: [(Fault, Check); 8] = [
        (Fault::ResourceNotFound, |e| {
            matches!(e, IvsError::NotFound(_))
        }),
        (Fault::Validation, |e| matches!(e, IvsError::Validation(_))),
        (Fault::ServiceQuotaExceeded, |e| {
            matches!(e, IvsError::QuotaExceeded(_))
        }),
        (Fault::Conflict, |e| matches!(e, IvsError::Conflict(_))),
        (
            Fault::AccessDenied,
            |e| matches!(e, IvsError::AccessDenied(m) if m.contains("ivs:CreateStage")),
        ),
        (Fault::InternalServer, |e| {
            matches!(e, IvsError::Unavailable(_))
        }),
        (Fault::Throttling, |e| matches!(e, IvsError::Unavailable(_))),
        (Fault::ServiceUnavailable, |e| {
            matches!(e, IvsError::Unavailable(_))
        }),
    ];
    for (fault, check) in cases {
        // Enough failures to outlast the retries.
        fake.fail_next(Some("CreateStage"), 5, fault);
        let err = ivs.create_stage("s1", &t).await;
        fake.clear_faults();
        match err {
            Err(e) => assert!(check(&e), "{fault:?} gave {e:?}"),
            Ok(s) => panic!("{fault:?} gave a stage {s:?}"),
        }
    }
    // IVS's own text is carried (it is in `exceptionMessage`).
    fake.fail_next(Some("GetStage"), 1, Fault::ResourceNotFound);
    let err = ivs.get_stage(&arn).await;
    assert!(
        matches!(&err, Err(IvsError::NotFound(m)) if m.contains("Resource not found") && m.contains("ivs:GetStage")),
        "{err:?}"
    );

    // Retried errors are retried (2 attempts here), unmodelled 4xx are not.
    fake.clear_requests();
    fake.fail_next(Some("GetStage"), 5, Fault::Throttling);
    let _ = ivs.get_stage(&arn).await;
    assert_eq!(fake.count("GetStage"), 2);
    fake.clear_faults();
    fake.clear_requests();
    fake.fail_next(Some("GetStage"), 5, Fault::Validation);
    let _ = ivs.get_stage(&arn).await;
    assert_eq!(fake.count("GetStage"), 1);
    fake.clear_faults();

    // On the token path every failure but Unavailable / NotFound / AccessDenied is a token failure.
    fake.fail_next(Some("CreateParticipantToken"), 1, Fault::Validation);
    let err = ivs
        .create_token(&viewer_spec(&arn, "a", 3600 * SECOND))
        .await;
    assert!(matches!(err, Err(IvsError::Token(_))), "{err:?}");
    fake.fail_next(
        Some("CreateParticipantToken"),
        1,
        Fault::ServiceQuotaExceeded,
    );
    let err = ivs
        .create_token(&viewer_spec(&arn, "a", 3600 * SECOND))
        .await;
    assert!(matches!(err, Err(IvsError::Token(_))), "{err:?}");
    fake.fail_next(Some("CreateParticipantToken"), 5, Fault::Throttling);
    let err = ivs
        .create_token(&viewer_spec(&arn, "a", 3600 * SECOND))
        .await;
    assert!(matches!(err, Err(IvsError::Unavailable(_))), "{err:?}");
    fake.clear_faults();

    // A slow IVS times out instead of hanging.
    fake.set_delay("UpdateStage", Duration::from_secs(5));
    let started = Instant::now();
    let err = ivs.update_stage(&arn, "slow").await;
    assert!(matches!(err, Err(IvsError::Unavailable(_))), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    Ok(())
}

#[tokio::test]
async fn throttled_calls_are_retried_until_they_succeed() -> TestResult {
    let fake = FakeIvs::start().await;
    let ivs = backend(&aws_settings(&fake)).await?;
    fake.throttle_next(None, 2);
    let stage = ivs.create_stage("after-throttling", &managed(&[])).await?;
    assert_eq!(stage.name, "after-throttling");
    assert_eq!(
        fake.ops(),
        vec!["CreateStage", "CreateStage", "CreateStage"]
    );
    Ok(())
}

// ---------------------------------------------------------------- wire: replication

#[tokio::test]
async fn replication_into_overflow_stages_within_the_limit() -> TestResult {
    let fake = FakeIvs::start().await;
    let ivs = backend(&aws_settings(&fake)).await?;
    let master = ivs
        .create_stage("master-stage", &managed(&[("Role", "master")]))
        .await?
        .arn;
    fake.go_live(&master, "pubParticipant1", "broadcaster-bob");

    let first = ivs
        .create_stage("auto-1", &managed(&[("AutoScaled", "true")]))
        .await?
        .arn;
    assert!(
        fake.wait_for("StartParticipantReplication", 1, 5 * SECOND)
            .await
    );
    let start = &fake.requests_to("StartParticipantReplication")[0].body;
    assert_eq!(
        *start,
        json!({
            "sourceStageArn": master,
            "destinationStageArn": first,
            "participantId": "pubParticipant1",
            "reconnectWindowSeconds": 60
        })
    );
    assert_eq!(
        fake.requests_to("ListParticipantReplicas")[0].body,
        json!({ "sourceStageArn": master, "participantId": "pubParticipant1" })
    );
    assert_eq!(ivs.replication_note(&first), None);

    // Five more overflow stages: IVS allows five replications per participant.
    let mut more = Vec::new();
    for i in 2..=6 {
        more.push(
            ivs.create_stage(&format!("auto-{i}"), &managed(&[("AutoScaled", "true")]))
                .await?
                .arn,
        );
    }
    let deadline = Instant::now() + 15 * SECOND;
    while fake.replicas().len() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + 15 * SECOND;
    let sixth = more[4].clone();
    while ivs.replication_note(&sixth).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.replicas().len(), 5);
    let note = ivs.replication_note(&sixth).unwrap_or_default();
    assert!(note.contains("5 stages"), "{note}");
    assert!(note.contains("stageArn"), "{note}");
    assert!(!fake
        .replicas()
        .iter()
        .any(|r| r.destination_stage_arn == sixth));

    // Deleting a replicated stage stops the replication first.
    fake.clear_requests();
    ivs.delete_stage(&first).await?;
    assert_eq!(
        fake.ops()
            .into_iter()
            .filter(|o| o.starts_with("Stop") || o.starts_with("Delete"))
            .collect::<Vec<_>>(),
        vec!["StopParticipantReplication", "DeleteStage"]
    );
    assert_eq!(
        fake.requests_to("StopParticipantReplication")[0].body,
        json!({
            "sourceStageArn": master,
            "destinationStageArn": first,
            "participantId": "pubParticipant1"
        })
    );
    // The freed slot goes to the stage that had none.
    let deadline = Instant::now() + 15 * SECOND;
    while !fake
        .replicas()
        .iter()
        .any(|r| r.destination_stage_arn == sixth)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fake
        .replicas()
        .iter()
        .any(|r| r.destination_stage_arn == sixth));
    assert_eq!(ivs.replication_note(&sixth), None);
    Ok(())
}

#[tokio::test]
async fn replication_starts_when_the_publisher_goes_live_later() -> TestResult {
    let fake = FakeIvs::start().await;
    let mut settings = aws_settings(&fake);
    let master = fake.add_stage("configured-master", &[]);
    settings.ivs.master_stage_arn = Some(master.clone());
    let ivs = backend(&settings).await?;
    // A stage known from the registry (e.g. after a restart).
    let overflow = fake.add_stage(
        "auto-old",
        &[("ManagedBy", "api-server"), ("AutoScaled", "true")],
    );
    ivs.sync_stages(&master, std::slice::from_ref(&overflow))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.count("StartParticipantReplication"), 0, "not live yet");

    fake.go_live(&master, "latePublisher1", "broadcaster-bob");
    assert!(
        fake.wait_for("StartParticipantReplication", 1, 12 * SECOND)
            .await
    );
    let start = &fake.requests_to("StartParticipantReplication")[0].body;
    assert_eq!(start["destinationStageArn"], overflow.as_str());
    assert_eq!(start["participantId"], "latePublisher1");

    // A replication that fails is retried by a later round.
    let other = fake.add_stage("auto-2", &[]);
    fake.fail_next(
        Some("StartParticipantReplication"),
        1,
        Fault::InternalServer,
    );
    fake.fail_next(
        Some("StartParticipantReplication"),
        1,
        Fault::InternalServer,
    );
    fake.fail_next(
        Some("StartParticipantReplication"),
        2,
        Fault::InternalServer,
    );
    ivs.sync_stages(&master, &[overflow.clone(), other.clone()])
        .await;
    let deadline = Instant::now() + 15 * SECOND;
    while !fake
        .replicas()
        .iter()
        .any(|r| r.destination_stage_arn == other)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fake
        .replicas()
        .iter()
        .any(|r| r.destination_stage_arn == other));
    Ok(())
}

// ---------------------------------------------------------------- server

#[tokio::test]
async fn server_endpoints_with_the_aws_backend() -> TestResult {
    let fake = FakeIvs::start().await;
    let api = Api::start(aws_settings(&fake)).await?;
    let master = api.master();

    // The master stage was created on start, tagged.
    let create = &fake.requests_to("CreateStage")[0].body;
    assert_eq!(create["name"], "master-stage");
    assert_eq!(create["tags"]["ManagedBy"], "api-server");
    assert_eq!(create["tags"]["Role"], "master");
    assert_eq!(create["tags"]["Environment"], "development");
    fake.go_live(&master, "pubParticipant1", "broadcaster-alice");

    // Publisher token: PUBLISH only, IVS's participant id.
    let (status, body) = api
        .post("/api/token/publisher", json!({"userId": "alice"}))
        .await?;
    assert_eq!(status, 200, "{body}");
    let call = fake.requests_to("CreateParticipantToken");
    assert_eq!(call[0].body["capabilities"], json!(["PUBLISH"]));
    assert_eq!(call[0].body["duration"], 240);
    assert_eq!(call[0].body["userId"], "broadcaster-alice");
    let data = &body["data"];
    assert_eq!(data["stageArn"], master.as_str());
    assert_eq!(data["capabilities"], json!(["PUBLISH"]));
    assert_eq!(data["userId"], "broadcaster-alice");
    let token = data["token"].as_str().unwrap_or_default();
    let pid = data["participantId"].as_str().unwrap_or_default();
    assert!(!pid.is_empty() && token.ends_with(pid), "{data}");

    // Viewer token: SUBSCRIBE only, 60 minutes, the participant id recorded.
    let (status, body) = api
        .post(
            "/api/token/viewer",
            json!({"userId": "ann", "attributes": {"displayName": "Ann"}}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let call = &fake.requests_to("CreateParticipantToken")[1].body;
    assert_eq!(call["capabilities"], json!(["SUBSCRIBE"]));
    assert_eq!(call["duration"], 60);
    assert_eq!(call["userId"], "viewer-ann");
    assert_eq!(call["attributes"], json!({"displayName": "Ann"}));
    let data = &body["data"];
    assert_eq!(data["capabilities"], json!(["SUBSCRIBE"]));
    assert_eq!(data["currentViewers"], 1);
    let viewer_pid = data["participantId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, list) = api
        .get(&format!("/api/viewer/list/{}", enc(&master)))
        .await?;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["data"]["viewers"][0]["participantId"],
        viewer_pid.as_str()
    );
    // viewer.joined names the participant id IVS chose, as the answer does.
    let joined: Vec<Value> = logged_events(&**api.server.app().store())
        .await
        .into_iter()
        .filter(|e| e["type"] == "viewer.joined")
        .collect();
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert_eq!(joined[0]["data"]["participantId"], viewer_pid.as_str());
    assert_eq!(joined[0]["data"]["userId"], "ann");

    // Stats and publisher status come from GetStage + ListParticipants.
    let (status, stats) = api.get("/api/stats").await?;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["data"]["isPublisherLive"], true);
    assert_eq!(stats["data"]["totalViewers"], 1);
    assert_eq!(stats["data"]["activeStages"], 1);
    let (status, publisher) = api.get("/api/stats/publisher").await?;
    assert_eq!(status, 200);
    assert_eq!(publisher["data"]["isLive"], true);
    assert!(fake.count("ListParticipants") >= 1);

    // Stage info carries IVS's session.
    let (status, info) = api.get(&format!("/api/stage/{}", enc(&master))).await?;
    assert_eq!(status, 200, "{info}");
    assert!(info["data"]["stage"]["activeSessionId"]
        .as_str()
        .is_some_and(|s| s.starts_with("st-")));

    // Create, list, rename, delete a stage.
    let (status, created) = api
        .post(
            "/api/stage",
            json!({"name": "manual-1", "tags": {"Team": "video"}}),
        )
        .await?;
    assert_eq!(status, 200, "{created}");
    let arn = created["data"]["stage"]["arn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sent = &fake.requests_to("CreateStage")[1].body;
    assert_eq!(sent["name"], "manual-1");
    assert_eq!(sent["tags"]["Team"], "video");
    assert_eq!(sent["tags"]["ManagedBy"], "api-server");
    assert!(fake.stage(&arn).is_some());

    let (status, list) = api.get("/api/stage/list").await?;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"]["totalStages"], 2);

    let (status, renamed) = api
        .call(
            Method::PUT,
            &format!("/api/stage/{}", enc(&arn)),
            Some(json!({"name": "manual-renamed"})),
        )
        .await?;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["data"]["stage"]["name"], "manual-renamed");
    assert_eq!(
        fake.requests_to("UpdateStage")[0].body,
        json!({"arn": arn, "name": "manual-renamed"})
    );

    let (status, deleted) = api
        .call(Method::DELETE, &format!("/api/stage/{}", enc(&arn)), None)
        .await?;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(fake.requests_to("DeleteStage")[0].body, json!({"arn": arn}));
    assert!(fake.stage(&arn).is_none());

    // Health: IVS ready.
    let res = reqwest::get(format!("{}/health", api.server.base_url())).await?;
    assert_eq!(res.status().as_u16(), 200);
    let health: Value = res.json().await?;
    assert_eq!(health["services"]["ivs"], "ready");
    Ok(())
}

#[tokio::test]
async fn server_maps_ivs_errors_to_api_errors() -> TestResult {
    let fake = FakeIvs::start().await;
    let api = Api::start(quick(&fake)).await?;
    let master = api.master();
    let stage_path = format!("/api/stage/{}", enc(&master));
    let create = |name: &str| json!({ "name": name });

    fake.fail_next(Some("GetStage"), 1, Fault::ResourceNotFound);
    expect_error(&api.get(&stage_path).await?, 404, "NOT_FOUND");

    fake.fail_next(Some("CreateStage"), 1, Fault::ServiceQuotaExceeded);
    expect_error(
        &api.post("/api/stage", create("q")).await?,
        503,
        "STAGE_LIMIT_REACHED",
    );

    fake.fail_next(Some("CreateStage"), 1, Fault::Validation);
    expect_error(
        &api.post("/api/stage", create("v")).await?,
        400,
        "VALIDATION_ERROR",
    );

    fake.fail_next(Some("CreateStage"), 5, Fault::Throttling);
    let got = api.post("/api/stage", create("t")).await?;
    expect_error(&got, 503, "SERVICE_UNAVAILABLE");
    fake.clear_faults();

    fake.fail_next(Some("GetStage"), 5, Fault::InternalServer);
    expect_error(&api.get(&stage_path).await?, 503, "SERVICE_UNAVAILABLE");
    fake.clear_faults();

    fake.fail_next(Some("GetStage"), 5, Fault::ServiceUnavailable);
    expect_error(&api.get(&stage_path).await?, 503, "SERVICE_UNAVAILABLE");
    fake.clear_faults();

    fake.fail_next(Some("CreateParticipantToken"), 1, Fault::Validation);
    expect_error(
        &api.post("/api/token/viewer", json!({"userId": "v1"}))
            .await?,
        500,
        "TOKEN_GENERATION_FAILED",
    );
    // The failed join was undone.
    let (_, stats) = api.get("/api/stats/viewers").await?;
    assert_eq!(stats["data"]["totalViewers"], 0);

    fake.fail_next(Some("CreateStage"), 1, Fault::AccessDenied);
    expect_error(
        &api.post("/api/stage", create("a")).await?,
        500,
        "INTERNAL_ERROR",
    );

    fake.fail_next(Some("CreateParticipantToken"), 5, Fault::Throttling);
    expect_error(
        &api.post("/api/token/publisher", json!({"userId": "p"}))
            .await?,
        503,
        "SERVICE_UNAVAILABLE",
    );
    fake.clear_faults();

    // And it works again.
    let (status, body) = api
        .post("/api/token/viewer", json!({"userId": "v2"}))
        .await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

#[tokio::test]
async fn server_retries_throttled_calls() -> TestResult {
    let fake = FakeIvs::start().await;
    let api = Api::start(aws_settings(&fake)).await?;
    fake.throttle_next(Some("CreateParticipantToken"), 2);
    let (status, body) = api
        .post("/api/token/viewer", json!({"userId": "v1"}))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.count("CreateParticipantToken"), 3);
    Ok(())
}

#[tokio::test]
async fn a_burst_of_viewer_joins_stays_within_the_call_budget() -> TestResult {
    const BUDGET: usize = 25;
    const VIEWERS: usize = 200;
    let fake = FakeIvs::start().await;
    let mut settings = aws_settings(&fake);
    settings.aws.token_calls_per_sec = BUDGET as u32;
    settings.limits.viewers_per_stage = 1_000;
    settings.limits.scale_up_threshold = 1_000;
    let api = Arc::new(Api::start(settings).await?);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..VIEWERS {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.post(
                "/api/token/viewer",
                json!({ "userId": format!("burst{i}") }),
            )
            .await
            .map(|(status, _)| status)
            .map_err(|e| e.to_string())
        }));
    }
    for t in tasks {
        assert_eq!(t.await??, 200);
    }
    let elapsed = started.elapsed();

    let times: Vec<Instant> = fake
        .requests_to("CreateParticipantToken")
        .iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(times.len(), VIEWERS);
    // No one-second window holds more than the budget.
    let mut worst = 0;
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < SECOND)
            .count();
        worst = worst.max(in_window);
    }
    assert!(worst <= BUDGET, "{worst} calls in one second");
    // ...and the burst queued rather than crawled: about 200/25 windows.
    assert!(elapsed < Duration::from_secs(25), "{elapsed:?}");
    assert!(elapsed >= Duration::from_secs(7), "{elapsed:?}");
    Ok(())
}

#[tokio::test]
async fn server_self_signed_viewer_token_verifies() -> TestResult {
    let fake = FakeIvs::start().await;
    let key = KeyFile::new()?;
    let mut settings = aws_settings(&fake);
    settings.ivs.token_key_file = Some(key.0.clone());
    settings.ivs.public_key_arn = Some(KEY_ARN.into());
    let api = Api::start(settings).await?;
    let master = api.master();
    let signer = TokenSigner::from_pem_file(&key.0, KEY_ARN)?;

    let (status, body) = api
        .post("/api/token/viewer", json!({"userId": "ann"}))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.count("CreateParticipantToken"), 0);
    let data = &body["data"];
    let claims = decode(data["token"].as_str().unwrap_or_default(), &signer)?;
    assert_eq!(
        claims.jti,
        data["participantId"].as_str().unwrap_or_default()
    );
    assert_eq!(claims.user_id, "viewer-ann");
    assert_eq!(claims.resource, master);
    assert_eq!(claims.exp - claims.iat, 3600);
    assert!(claims.capabilities.allow_subscribe && !claims.capabilities.allow_publish);

    let (status, body) = api
        .post("/api/token/publisher", json!({"userId": "bob"}))
        .await?;
    assert_eq!(status, 200, "{body}");
    let claims = decode(body["data"]["token"].as_str().unwrap_or_default(), &signer)?;
    assert!(claims.capabilities.allow_publish && !claims.capabilities.allow_subscribe);
    assert_eq!(claims.exp - claims.iat, 14_400);
    assert_eq!(fake.count("CreateParticipantToken"), 0);
    Ok(())
}

#[tokio::test]
async fn configured_master_must_exist() -> TestResult {
    let fake = FakeIvs::start().await;
    let mut settings = aws_settings(&fake);
    settings.ivs.master_stage_arn =
        Some(format!("arn:aws:ivs:{REGION}:{ACCOUNT}:stage/doesNotExist"));
    let err = match ServerBuilder::new(settings).build().await {
        Err(e) => e.to_string(),
        Ok(_) => return Err("built without its master stage".into()),
    };
    assert!(err.contains("does not exist"), "{err}");

    let master = fake.add_stage("existing-master", &[]);
    let mut settings = aws_settings(&fake);
    settings.ivs.master_stage_arn = Some(master.clone());
    let api = Api::start(settings).await?;
    assert_eq!(api.master(), master);
    assert_eq!(fake.count("CreateStage"), 0);
    Ok(())
}

#[tokio::test]
async fn reconciliation_sees_stages_changed_outside_the_server() -> TestResult {
    let fake = FakeIvs::start().await;
    let api = Api::start(aws_settings(&fake)).await?;
    let (_, a) = api.post("/api/stage", json!({"name": "keep"})).await?;
    let (_, b) = api.post("/api/stage", json!({"name": "gone"})).await?;
    let a = a["data"]["stage"]["arn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let b = b["data"]["stage"]["arn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    fake.rename_stage(&a, "renamed-in-console");
    fake.remove_stage(&b);
    fake.set_page_size(1);

    api.server.app().reconcile().await?;
    let (_, list) = api.get("/api/stage/list").await?;
    let names: BTreeMap<String, String> = list["data"]["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["stageArn"].as_str().unwrap_or_default().to_string(),
                s["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        names.get(&a).map(String::as_str),
        Some("renamed-in-console")
    );
    assert!(!names.contains_key(&b));
    Ok(())
}

#[tokio::test]
async fn server_replicates_the_publisher_into_scaled_stages() -> TestResult {
    let fake = FakeIvs::start().await;
    let mut settings = aws_settings(&fake);
    settings.limits.viewers_per_stage = 3;
    settings.limits.scale_up_threshold = 2;
    settings.limits.scale_down_threshold = 1;
    settings.limits.scale_down_min_age = Duration::from_secs(2);
    settings.limits.sweep_interval = Duration::from_millis(100);
    let api = Api::start(settings).await?;
    let master = api.master();
    fake.go_live(&master, "pubParticipant1", "broadcaster-alice");

    // Two joins reach the threshold: a stage is created and the publisher replicated into it.
    for user in ["v1", "v2"] {
        let (status, body) = api
            .post("/api/token/viewer", json!({ "userId": user }))
            .await?;
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        fake.wait_for("StartParticipantReplication", 1, 5 * SECOND)
            .await
    );
    let overflow = fake
        .stages()
        .into_iter()
        .find(|s| s.tags.get("AutoScaled").map(String::as_str) == Some("true"))
        .ok_or("no auto-scaled stage")?
        .arn;
    assert_eq!(
        fake.requests_to("StartParticipantReplication")[0].body,
        json!({
            "sourceStageArn": master,
            "destinationStageArn": overflow,
            "participantId": "pubParticipant1",
            "reconnectWindowSeconds": 60
        })
    );

    // A third viewer lands on the new stage, then leaves: the idle stage is
    // drained and deleted, its replication stopped first.
    let (status, body) = api
        .post("/api/token/viewer", json!({ "userId": "v3" }))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["stageArn"], overflow.as_str());
    let (status, body) = api
        .post(
            "/api/viewer/leave",
            json!({ "userId": "v3", "stageArn": overflow }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert!(fake.wait_for("DeleteStage", 1, 10 * SECOND).await);
    let ops: Vec<String> = fake
        .ops()
        .into_iter()
        .filter(|o| o == "StopParticipantReplication" || o == "DeleteStage")
        .collect();
    assert_eq!(ops, vec!["StopParticipantReplication", "DeleteStage"]);
    assert_eq!(
        fake.requests_to("StopParticipantReplication")[0].body,
        json!({
            "sourceStageArn": master,
            "destinationStageArn": overflow,
            "participantId": "pubParticipant1"
        })
    );
    assert_eq!(
        fake.requests_to("DeleteStage")[0].body,
        json!({ "arn": overflow })
    );
    assert!(fake.replicas().is_empty());
    Ok(())
}
