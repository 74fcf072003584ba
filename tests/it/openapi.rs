//! The OpenAPI document (`docs/openapi.json`, served at `GET /openapi.json`)
//! against the real routes.
//!
//! Every documented operation is called on a real server, and every status
//! the document lists for it is provoked on purpose (a table of cases). Every
//! response the test gets — successes and errors — must be one the document
//! allows: a documented status, a documented `Content-Type`, the documented
//! headers, and a body valid against the documented schema (checked by the
//! small JSON-schema checker below). Finally every documented (operation,
//! status) pair must appear in the table, so a status the routes cannot
//! produce cannot stay documented, and an operation the routes do not serve
//! fails (it answers 404 "no such route" or 405).
//!
//! `scripts/schemathesis.sh` adds property-based testing against the same document.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use ivs_server::config::parse_api_keys;
use ivs_server::store::memory::MemoryStore;
use ivs_server::store::{
    BeginOutcome, Departure, Fence, Intent, JoinOutcome, JoinRequest, LeaveOutcome, Millis,
    RateDecision, RateRefund, RemoveOutcome, StageLoad, StageRecord, StoreError, StoreResult,
    ViewerRecord, ViewerStore,
};
use ivs_server::{ServerBuilder, Settings};
use ivs_test_support::fake_ivs::{aws_settings, FakeIvs, Fault};
use ivs_test_support::harness::{enc, test_settings, Resp, TestServer};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};

/// The document as kept in the repository.
const DOC_FILE: &str = include_str!("../../docs/openapi.json");

/// A stage ARN that is well formed but names no stage.
const UNKNOWN_ARN: &str = "arn:aws:ivs:ap-northeast-1:123456789012:stage/doesNotExist1";

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn doc() -> Value {
    serde_json::from_str(DOC_FILE).expect("docs/openapi.json is JSON")
}

// ---------------------------------------------------------------- schema checker

/// Validates JSON against the OpenAPI 3.0 schema subset the document uses:
/// `$ref`, `allOf`, `type`, `nullable`, `enum`, `properties`, `required`,
/// `additionalProperties`, `items`, `minimum`/`maximum`, `minLength`/`maxLength`,
/// `maxProperties` and `format: date-time`. `pattern` is not checked here
/// (Schemathesis checks it); any other keyword fails, so the checker cannot
/// silently ignore a constraint added to the document later.
struct Checker<'a> {
    root: &'a Value,
}

const ANNOTATIONS: [&str; 5] = ["description", "example", "default", "title", "pattern"];

impl Checker<'_> {
    fn resolve<'b>(&'b self, v: &'b Value) -> &'b Value {
        let mut v = v;
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let pointer = r.strip_prefix('#').expect("only local $refs");
            v = self
                .root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
        }
        v
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let Some(s) = schema.as_object() else {
            errs.push(format!("{at}: schema is not an object"));
            return;
        };
        if v.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        for (k, kv) in s {
            match k.as_str() {
                "allOf" => {
                    for sub in kv.as_array().expect("allOf is an array") {
                        self.check(sub, v, at, errs);
                    }
                }
                "type" => {
                    let ok = match kv.as_str().expect("type is a string") {
                        "object" => v.is_object(),
                        "array" => v.is_array(),
                        "string" => v.is_string(),
                        "boolean" => v.is_boolean(),
                        "integer" => v.is_i64() || v.is_u64(),
                        "number" => v.is_number(),
                        other => panic!("unknown type {other}"),
                    };
                    if !ok {
                        errs.push(format!("{at}: expected {kv}, got {v}"));
                    }
                }
                "nullable" => {}
                "enum" => {
                    if !kv.as_array().expect("enum is an array").contains(v) {
                        errs.push(format!("{at}: {v} is not one of {kv}"));
                    }
                }
                "format" => {
                    if kv == "date-time" {
                        if let Some(t) = v.as_str() {
                            if chrono::DateTime::parse_from_rfc3339(t).is_err() {
                                errs.push(format!("{at}: {t:?} is not an RFC 3339 date-time"));
                            }
                        }
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(n), Some(bound)) = (v.as_f64(), kv.as_f64()) {
                        if (k == "minimum" && n < bound) || (k == "maximum" && n > bound) {
                            errs.push(format!("{at}: {n} violates {k} {bound}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let (Some(t), Some(bound)) = (v.as_str(), kv.as_u64()) {
                        let n = t.chars().count() as u64;
                        if (k == "minLength" && n < bound) || (k == "maxLength" && n > bound) {
                            errs.push(format!("{at}: length {n} violates {k} {bound}"));
                        }
                    }
                }
                "maxProperties" => {
                    if let (Some(o), Some(bound)) = (v.as_object(), kv.as_u64()) {
                        if o.len() as u64 > bound {
                            errs.push(format!("{at}: more than {bound} properties"));
                        }
                    }
                }
                "required" => {
                    if let Some(o) = v.as_object() {
                        for name in kv.as_array().expect("required is an array") {
                            let name = name.as_str().expect("required names are strings");
                            if !o.contains_key(name) {
                                errs.push(format!("{at}: missing required property {name}"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let Some(o) = v.as_object() {
                        for (name, sub) in kv.as_object().expect("properties is an object") {
                            if let Some(pv) = o.get(name) {
                                self.check(sub, pv, &format!("{at}.{name}"), errs);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(o) = v.as_object() {
                        let declared = s.get("properties").and_then(Value::as_object);
                        for (name, pv) in o {
                            if declared.is_some_and(|d| d.contains_key(name)) {
                                continue;
                            }
                            match kv {
                                Value::Bool(false) => {
                                    errs.push(format!("{at}: undocumented property {name}"))
                                }
                                Value::Bool(true) => {}
                                sub => self.check(sub, pv, &format!("{at}.{name}"), errs),
                            }
                        }
                    }
                }
                "items" => {
                    if let Some(items) = v.as_array() {
                        for (i, item) in items.iter().enumerate() {
                            self.check(kv, item, &format!("{at}[{i}]"), errs);
                        }
                    }
                }
                other if ANNOTATIONS.contains(&other) => {}
                other => errs.push(format!(
                    "{at}: the checker does not support the keyword {other:?}; extend tests/it/openapi.rs"
                )),
            }
        }
    }

    /// Panics with every violation of `v` against `schema`.
    #[track_caller]
    fn assert_valid(&self, schema: &Value, v: &Value, what: &str) {
        let mut errs = Vec::new();
        self.check(schema, v, "$", &mut errs);
        assert!(
            errs.is_empty(),
            "{what} does not match the document:\n  {}\nbody: {v}",
            errs.join("\n  ")
        );
    }
}

#[test]
fn the_schema_checker_rejects_what_it_should() {
    let root = json!({"components": {"schemas": {
        "T": {"type": "object", "required": ["a", "n"], "additionalProperties": false, "properties": {
            "a": {"type": "string", "format": "date-time"},
            "n": {"type": "integer", "minimum": 0, "nullable": true},
            "e": {"type": "string", "enum": ["X"]},
            "l": {"type": "array", "items": {"type": "boolean"}},
            "m": {"type": "object", "additionalProperties": {"type": "string"}}}}}}});
    let c = Checker { root: &root };
    let schema = json!({"$ref": "#/components/schemas/T"});
    let errors = |v: Value| {
        let mut errs = Vec::new();
        c.check(&schema, &v, "$", &mut errs);
        errs.len()
    };
    assert_eq!(
        errors(json!({"a": "2025-10-19T12:00:00.000Z", "n": null})),
        0
    );
    assert_eq!(
        errors(
            json!({"a": "2025-10-19T12:00:00.000Z", "n": 1, "e": "X", "l": [true], "m": {"k": "v"}})
        ),
        0
    );
    assert_eq!(errors(json!({"a": "yesterday", "n": 1})), 1);
    assert_eq!(errors(json!({"a": "2025-10-19T12:00:00.000Z"})), 1);
    assert_eq!(errors(json!({"a": "2025-10-19T12:00:00.000Z", "n": -1})), 1);
    assert_eq!(
        errors(json!({"a": "2025-10-19T12:00:00.000Z", "n": 1.5})),
        1
    );
    assert_eq!(
        errors(json!({"a": "2025-10-19T12:00:00.000Z", "n": 1, "x": 1})),
        1
    );
    assert_eq!(
        errors(json!({"a": "2025-10-19T12:00:00.000Z", "n": 1, "e": "Y"})),
        1
    );
    assert_eq!(
        errors(json!({"a": "2025-10-19T12:00:00.000Z", "n": 1, "l": [1]})),
        1
    );
    assert_eq!(
        errors(json!({"a": "2025-10-19T12:00:00.000Z", "n": 1, "m": {"k": 1}})),
        1
    );
    assert_eq!(errors(json!([])), 1);
}

// ---------------------------------------------------------------- the document itself

/// Every operation of the document: (method, path template).
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                ops.push((m.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn operation<'a>(doc: &'a Value, method: &str, template: &str) -> &'a Value {
    doc["paths"][template]
        .get(method.to_lowercase())
        .unwrap_or_else(|| panic!("{method} {template} is not in docs/openapi.json"))
}

#[test]
fn the_document_is_openapi_3_and_its_examples_match_its_schemas() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let c = Checker { root: &doc };
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ErrorBody",
        "ErrorCode",
        "Health",
        "PublisherTokenRequest",
        "ViewerTokenRequest",
        "CreateStageRequest",
        "UpdateStageRequest",
        "ViewerRef",
        "StageListResponse",
        "DeletedStage",
        "ClientMessage",
        "ServerMessage",
        "StatsUpdate",
    ] {
        assert!(
            schemas.contains_key(name),
            "components.schemas.{name} missing"
        );
    }
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for code in [
        "VALIDATION_ERROR",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "NOT_FOUND",
        "TOO_MANY_REQUESTS",
        "STAGE_FULL",
        "STAGE_LIMIT_REACHED",
        "TOKEN_GENERATION_FAILED",
        "INTERNAL_ERROR",
        "SERVICE_UNAVAILABLE",
    ] {
        assert!(codes.contains(&code), "ErrorCode lacks {code}");
    }
    let key_scheme = &doc["components"]["securitySchemes"]["ApiKeyHeader"];
    assert_eq!(key_scheme["in"], "header");
    assert_eq!(key_scheme["name"], "x-api-key");
    assert_eq!(doc["security"], json!([{"ApiKeyHeader": []}]));

    let mut examples = 0;
    for (method, template) in operations(&doc) {
        let op = operation(&doc, &method, &template);
        let public = ["/health", "/openapi.json"].contains(&template.as_str());
        assert_eq!(
            op.get("security") == Some(&json!([])),
            public,
            "{method} {template}: only /health and /openapi.json go without a key"
        );
        let mut media = Vec::new();
        if let Some(body) = op.get("requestBody") {
            media.push((
                "request body".to_string(),
                &body["content"]["application/json"],
            ));
        }
        for (status, resp) in op["responses"].as_object().unwrap() {
            let resp = c.resolve(resp);
            if let Some(content) = resp.get("content").and_then(Value::as_object) {
                for mt in content.values() {
                    media.push((format!("response {status}"), mt));
                }
            }
        }
        for (what, mt) in media {
            let mut values: Vec<&Value> = mt.get("example").into_iter().collect();
            if let Some(named) = mt.get("examples").and_then(Value::as_object) {
                values.extend(named.values().map(|e| &e["value"]));
            }
            for v in values {
                c.assert_valid(
                    &mt["schema"],
                    v,
                    &format!("the {what} example of {method} {template}"),
                );
                examples += 1;
            }
        }
    }
    assert!(examples >= 20, "the spec's examples are embedded");
}

// ---------------------------------------------------------------- a store that fails on demand

/// The in-process store, failing every call while `mode` is set
/// (1: unavailable → 503, 2: corrupt → 500).
struct FlakyStore {
    inner: MemoryStore,
    mode: AtomicU8,
}

impl FlakyStore {
    fn fault(&self) -> StoreResult<()> {
        match self.mode.load(Ordering::SeqCst) {
            0 => Ok(()),
            1 => Err(StoreError::Unavailable("injected".into())),
            _ => Err(StoreError::Corrupt("injected".into())),
        }
    }
}

#[async_trait]
impl ViewerStore for FlakyStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn ping(&self) -> StoreResult<()> {
        self.fault()?;
        self.inner.ping().await
    }
    async fn register_stage(&self, stage: &StageRecord) -> StoreResult<()> {
        self.fault()?;
        self.inner.register_stage(stage).await
    }
    async fn stages(&self) -> StoreResult<Vec<StageLoad>> {
        self.fault()?;
        self.inner.stages().await
    }
    async fn stage(&self, arn: &str) -> StoreResult<Option<StageLoad>> {
        self.fault()?;
        self.inner.stage(arn).await
    }
    async fn rename_stage(&self, arn: &str, name: &str) -> StoreResult<bool> {
        self.fault()?;
        self.inner.rename_stage(arn, name).await
    }
    async fn set_draining(&self, arn: &str, draining: bool) -> StoreResult<bool> {
        self.fault()?;
        self.inner.set_draining(arn, draining).await
    }
    async fn remove_stage_if_empty(&self, arn: &str) -> StoreResult<RemoveOutcome> {
        self.fault()?;
        self.inner.remove_stage_if_empty(arn).await
    }
    async fn purge_stage(&self, arn: &str, now: Millis) -> StoreResult<()> {
        self.fault()?;
        self.inner.purge_stage(arn, now).await
    }
    async fn join(&self, req: &JoinRequest) -> StoreResult<JoinOutcome> {
        self.fault()?;
        self.inner.join(req).await
    }
    async fn set_participant(
        &self,
        user_id: &str,
        stage_arn: &str,
        participant_id: &str,
    ) -> StoreResult<()> {
        self.fault()?;
        self.inner
            .set_participant(user_id, stage_arn, participant_id)
            .await
    }
    async fn forget(&self, user_id: &str, stage_arn: &str) -> StoreResult<()> {
        self.fault()?;
        self.inner.forget(user_id, stage_arn).await
    }
    async fn heartbeat(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<Millis>> {
        self.fault()?;
        self.inner.heartbeat(user_id, stage_arn, now).await
    }
    async fn leave(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
        retention: Duration,
    ) -> StoreResult<LeaveOutcome> {
        self.fault()?;
        self.inner.leave(user_id, stage_arn, now, retention).await
    }
    async fn viewers(&self, stage_arn: &str) -> StoreResult<Vec<ViewerRecord>> {
        self.fault()?;
        self.inner.viewers(stage_arn).await
    }
    async fn watch_duration(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<u64>> {
        self.fault()?;
        self.inner.watch_duration(user_id, stage_arn, now).await
    }
    async fn sweep(&self, now: Millis, timeout: Duration, retention: Duration) -> StoreResult<u64> {
        self.fault()?;
        self.inner.sweep(now, timeout, retention).await
    }
    async fn rate_limit(
        &self,
        key_id: &str,
        limit: u32,
        period: Duration,
        now: Millis,
        want: u32,
        refund: Option<RateRefund>,
    ) -> StoreResult<RateDecision> {
        self.fault()?;
        self.inner
            .rate_limit(key_id, limit, period, now, want, refund)
            .await
    }
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Option<u64>> {
        self.fault()?;
        self.inner.try_lease(name, holder, ttl).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        self.fault()?;
        self.inner.release_lease(name, holder).await
    }
    async fn departures(&self, max: u32) -> StoreResult<Vec<Departure>> {
        self.fault()?;
        self.inner.departures(max).await
    }
    async fn ack_departures(&self, n: u32) -> StoreResult<()> {
        self.fault()?;
        self.inner.ack_departures(n).await
    }
    async fn master(&self) -> StoreResult<Option<String>> {
        self.fault()?;
        self.inner.master().await
    }
    async fn begin_create(
        &self,
        intent: &Intent,
        fence: &Fence,
        max_stages: u32,
    ) -> StoreResult<BeginOutcome> {
        self.fault()?;
        self.inner.begin_create(intent, fence, max_stages).await
    }
    async fn finish_create(&self, stage: &StageRecord, fence: &Fence) -> StoreResult<bool> {
        self.fault()?;
        self.inner.finish_create(stage, fence).await
    }
    async fn intents(&self) -> StoreResult<Vec<Intent>> {
        self.fault()?;
        self.inner.intents().await
    }
    async fn drop_intent(&self, id: &str) -> StoreResult<bool> {
        self.fault()?;
        self.inner.drop_intent(id).await
    }
    async fn drain_if_idle(
        &self,
        arn: &str,
        below: u32,
        min_age: Duration,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<bool> {
        self.fault()?;
        self.inner
            .drain_if_idle(arn, below, min_age, now, fence)
            .await
    }
    async fn revive(&self, arn: &str, now: Millis) -> StoreResult<bool> {
        self.fault()?;
        self.inner.revive(arn, now).await
    }
    async fn begin_delete(
        &self,
        arn: &str,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<RemoveOutcome> {
        self.fault()?;
        self.inner.begin_delete(arn, now, fence).await
    }
}

// ---------------------------------------------------------------- the table of provoked cases

/// One response the test provoked on purpose.
struct Provoked {
    method: String,
    template: String,
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
    why: String,
}

#[derive(Default)]
struct Table {
    rows: Vec<Provoked>,
}

impl Table {
    /// Records a response after checking it has the expected status (and error code).
    #[track_caller]
    fn add(&mut self, method: &Method, template: &str, expect: (u16, &str), r: Resp, why: &str) {
        let (status, code) = expect;
        assert_eq!(
            r.status.as_u16(),
            status,
            "{why}: {method} {template} answered {}: {}",
            r.status,
            r.text
        );
        if !code.is_empty() {
            assert_eq!(r.code(), code, "{why}: {method} {template}: {}", r.text);
        }
        self.rows.push(Provoked {
            method: method.to_string(),
            template: template.to_string(),
            status,
            headers: r.headers,
            body: r.json,
            text: r.text,
            why: why.to_string(),
        });
    }
}

/// A plausible request for a documented operation, on a server whose master is `master`.
fn plausible(method: &str, template: &str, master: &str) -> (String, Option<Value>) {
    let arn = enc(master);
    let viewer = json!({"userId": "plausible-viewer", "stageArn": master});
    match (method, template) {
        ("GET", "/health" | "/openapi.json" | "/metrics" | "/ws") => (template.into(), None),
        ("POST", "/api/token/publisher" | "/api/token/viewer") => {
            (template.into(), Some(json!({"userId": "plausible-user"})))
        }
        ("GET", "/api/stage/list" | "/api/stage/master/info") => (template.into(), None),
        ("POST", "/api/stage") => (template.into(), Some(json!({"name": "plausible"}))),
        ("GET" | "DELETE", "/api/stage/{stageArn}") => (format!("/api/stage/{arn}"), None),
        ("PUT", "/api/stage/{stageArn}") => (
            format!("/api/stage/{arn}"),
            Some(json!({"name": "master-stage"})),
        ),
        ("POST", "/api/viewer/heartbeat" | "/api/viewer/leave") => (template.into(), Some(viewer)),
        ("GET", "/api/viewer/list/{stageArn}") => (format!("/api/viewer/list/{arn}"), None),
        ("GET", "/api/viewer/duration") => (
            format!("/api/viewer/duration?userId=plausible-viewer&stageArn={arn}"),
            None,
        ),
        ("GET", "/api/stats" | "/api/stats/viewers" | "/api/stats/stages")
        | ("GET", "/api/stats/publisher") => (template.into(), None),
        ("GET", "/api/stats/stages/{stageArn}") => (format!("/api/stats/stages/{arn}"), None),
        _ => panic!(
            "{method} {template} is documented but tests/it/openapi.rs has no plausible request for it: add one"
        ),
    }
}

fn documents(doc: &Value, method: &str, template: &str, status: u16) -> bool {
    operation(doc, method, template)["responses"]
        .get(status.to_string())
        .is_some()
}

fn is_public(template: &str) -> bool {
    ["/health", "/openapi.json"].contains(&template)
}

/// Sends the plausible request of every operation documenting `status`, with
/// `key` (or a raw bad header), expecting `status` and `code`.
async fn sweep(
    table: &mut Table,
    doc: &Value,
    s: &TestServer,
    key: Option<&str>,
    bad_header: bool,
    expect: (u16, &str),
    why: &str,
) {
    for (method, template) in operations(doc) {
        if is_public(&template) || !documents(doc, &method, &template, expect.0) {
            continue;
        }
        if template == "/metrics" && expect.0 == 429 {
            continue;
        }
        let (path, body) = plausible(&method, &template, &s.master());
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let r = if bad_header {
            let mut req = s
                .raw(m.clone(), &path)
                .header("x-api-key", HeaderValue::from_bytes(b"bad\xffkey").unwrap());
            if let Some(body) = body {
                req = req.json(&body);
            }
            TestServer::read(req.send().await.unwrap()).await
        } else {
            s.call_with_key(m.clone(), &path, body, key).await
        };
        table.add(&m, &template, expect, r, why);
    }
}

async fn ws_upgrade(s: &TestServer) -> Resp {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/ws", s.server.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-api-key", s.key.parse().unwrap());
    let (mut ws, res) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket upgrade");
    let _ = ws.close(None).await;
    Resp {
        status: reqwest::StatusCode::from_u16(res.status().as_u16()).unwrap(),
        headers: HeaderMap::new(),
        json: Value::Null,
        text: String::new(),
    }
}

fn small_limits(mut settings: Settings) -> Settings {
    settings.limits.max_stages = 2;
    settings.limits.viewers_per_stage = 2;
    settings.limits.scale_up_threshold = 2;
    settings.limits.scale_down_threshold = 1;
    settings
}

/// Every documented status of every operation, provoked.
async fn provoke_everything(doc: &Value) -> Table {
    let mut t = Table::default();
    let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);

    // ---- one server: every operation's success, and the request errors
    let s = TestServer::start(test_settings()).await;
    let master = s.master();
    let m = enc(&master);
    let unknown = enc(UNKNOWN_ARN);
    let fixture = ivs_test_support::shape::fixture;

    let r = s.call_with_key(get.clone(), "/health", None, None).await;
    t.add(&get, "/health", (200, ""), r, "healthy");
    let r = s
        .call_with_key(get.clone(), "/openapi.json", None, None)
        .await;
    assert_eq!(r.text, DOC_FILE, "the served document is docs/openapi.json");
    t.add(&get, "/openapi.json", (200, ""), r, "no key needed");
    let r = s.get("/metrics").await;
    t.add(&get, "/metrics", (200, ""), r, "with a key");

    let r = s
        .post(
            "/api/token/publisher",
            fixture("token-publisher.request.json"),
        )
        .await;
    t.add(&post, "/api/token/publisher", (200, ""), r, "spec example");
    let r = s
        .post("/api/token/viewer", fixture("token-viewer.request.json"))
        .await;
    t.add(&post, "/api/token/viewer", (200, ""), r, "spec example");

    let r = s
        .post("/api/stage", fixture("stage-create.request.json"))
        .await;
    let custom = r.json["data"]["stage"]["arn"].as_str().unwrap().to_string();
    t.add(&post, "/api/stage", (200, ""), r, "spec example");
    let c = enc(&custom);

    let r = s.get("/api/stage/list?maxResults=1").await;
    assert!(r.json["data"]["nextToken"].is_string(), "{}", r.text);
    let next = r.json["data"]["nextToken"].as_str().unwrap().to_string();
    t.add(&get, "/api/stage/list", (200, ""), r, "first page");
    let r = s
        .get(&format!("/api/stage/list?maxResults=1&nextToken={next}"))
        .await;
    assert!(r.json["data"]["nextToken"].is_null(), "{}", r.text);
    t.add(&get, "/api/stage/list", (200, ""), r, "last page");
    let r = s.get("/api/stage/master/info").await;
    t.add(&get, "/api/stage/master/info", (200, ""), r, "live master");
    let r = s.get(&format!("/api/stage/{m}")).await;
    t.add(&get, "/api/stage/{stageArn}", (200, ""), r, "master");
    let r = s.get(&format!("/api/stage/{custom}")).await;
    assert!(
        r.json["data"]["stage"]["activeSessionId"].is_null(),
        "{}",
        r.text
    );
    t.add(
        &get,
        "/api/stage/{stageArn}",
        (200, ""),
        r,
        "raw ARN, no session",
    );
    let r = s
        .put(
            &format!("/api/stage/{c}"),
            fixture("stage-update.request.json"),
        )
        .await;
    t.add(&put, "/api/stage/{stageArn}", (200, ""), r, "spec example");

    let hb = json!({"userId": "viewer-001", "stageArn": master});
    let r = s.post("/api/viewer/heartbeat", hb.clone()).await;
    t.add(&post, "/api/viewer/heartbeat", (200, ""), r, "counted");
    let r = s.get(&format!("/api/viewer/list/{m}")).await;
    t.add(&get, "/api/viewer/list/{stageArn}", (200, ""), r, "master");
    let duration = format!("/api/viewer/duration?userId=viewer-001&stageArn={m}");
    let r = s.get(&duration).await;
    t.add(&get, "/api/viewer/duration", (200, ""), r, "so far");
    for path in [
        "/api/stats",
        "/api/stats/viewers",
        "/api/stats/stages",
        "/api/stats/publisher",
    ] {
        let r = s.get(path).await;
        t.add(&get, path, (200, ""), r, "stats");
    }
    let r = s.get(&format!("/api/stats/stages/{m}")).await;
    t.add(&get, "/api/stats/stages/{stageArn}", (200, ""), r, "master");
    let r = s.post("/api/viewer/leave", hb.clone()).await;
    t.add(&post, "/api/viewer/leave", (200, ""), r, "counted");
    let r = s.post("/api/viewer/leave", hb.clone()).await;
    t.add(&post, "/api/viewer/leave", (200, ""), r, "idempotent");
    let r = s.get(&duration).await;
    t.add(&get, "/api/viewer/duration", (200, ""), r, "recorded");
    let r = ws_upgrade(&s).await;
    t.add(&get, "/ws", (101, ""), r, "upgrade");
    let r = s.delete(&format!("/api/stage/{c}")).await;
    t.add(
        &delete,
        "/api/stage/{stageArn}",
        (200, ""),
        r,
        "empty stage",
    );

    // 400: the request's own errors, where an operation has them...
    let bad = (400, "VALIDATION_ERROR");
    let cases: Vec<(&Method, &str, String, Option<Value>, &str)> = vec![
        (
            &post,
            "/api/token/publisher",
            "/api/token/publisher".into(),
            Some(json!({})),
            "no userId",
        ),
        (
            &post,
            "/api/token/publisher",
            "/api/token/publisher".into(),
            Some(json!({"userId": "a".repeat(117)})),
            "userId too long",
        ),
        (
            &post,
            "/api/token/viewer",
            "/api/token/viewer".into(),
            Some(json!({"userId": "v", "stageArn": master})),
            "a viewer names a stage",
        ),
        (
            &post,
            "/api/token/viewer",
            "/api/token/viewer".into(),
            Some(json!([1, 2])),
            "not an object",
        ),
        (
            &get,
            "/api/stage/list",
            "/api/stage/list?maxResults=0".into(),
            None,
            "maxResults 0",
        ),
        (
            &get,
            "/api/stage/list",
            "/api/stage/list?nextToken=forged".into(),
            None,
            "forged nextToken",
        ),
        (
            &get,
            "/api/stage/{stageArn}",
            "/api/stage/not-an-arn".into(),
            None,
            "bad ARN",
        ),
        (
            &post,
            "/api/stage",
            "/api/stage".into(),
            Some(json!({"name": "bad name!"})),
            "bad name",
        ),
        (
            &put,
            "/api/stage/{stageArn}",
            format!("/api/stage/{m}"),
            Some(json!({"name": ""})),
            "empty name",
        ),
        (
            &delete,
            "/api/stage/{stageArn}",
            "/api/stage/arn%3Aaws%3Aivs".into(),
            None,
            "bad ARN",
        ),
        (
            &post,
            "/api/viewer/heartbeat",
            "/api/viewer/heartbeat".into(),
            Some(json!({"userId": "a"})),
            "no stageArn",
        ),
        (
            &post,
            "/api/viewer/leave",
            "/api/viewer/leave".into(),
            Some(json!({"userId": "a", "stageArn": "x"})),
            "bad ARN",
        ),
        (
            &get,
            "/api/viewer/list/{stageArn}",
            "/api/viewer/list/x".into(),
            None,
            "bad ARN",
        ),
        (
            &get,
            "/api/viewer/duration",
            "/api/viewer/duration?userId=a".into(),
            None,
            "no stageArn",
        ),
        (
            &get,
            "/api/stats/stages/{stageArn}",
            "/api/stats/stages/x".into(),
            None,
            "bad ARN",
        ),
        (&get, "/ws", "/ws".into(), None, "not an upgrade"),
    ];
    for (method, template, path, body, why) in cases {
        let r = s.call(method.clone(), &path, body).await;
        t.add(method, template, bad, r, why);
    }
    // ... and a malformed header everywhere.
    sweep(&mut t, doc, &s, None, true, bad, "malformed x-api-key").await;
    let r = s
        .raw(post.clone(), "/api/stage")
        .header("x-api-key", &s.key)
        .header("content-type", "text/plain")
        .body("{\"name\":\"x\"}")
        .send()
        .await
        .unwrap();
    let r = TestServer::read(r).await;
    t.add(&post, "/api/stage", bad, r, "not JSON content type");

    // 401 everywhere a key is needed.
    sweep(
        &mut t,
        doc,
        &s,
        None,
        false,
        (401, "UNAUTHORIZED"),
        "no key",
    )
    .await;
    sweep(
        &mut t,
        doc,
        &s,
        Some("wrong-key-123"),
        false,
        (401, "UNAUTHORIZED"),
        "wrong key",
    )
    .await;

    // 403 and 404.
    let r = s.delete(&format!("/api/stage/{m}")).await;
    t.add(
        &delete,
        "/api/stage/{stageArn}",
        (403, "FORBIDDEN"),
        r,
        "master",
    );
    let nf = (404, "NOT_FOUND");
    let nobody = json!({"userId": "nobody", "stageArn": master});
    let cases: Vec<(&Method, &str, String, Option<Value>)> = vec![
        (
            &post,
            "/api/token/publisher",
            "/api/token/publisher".into(),
            Some(json!({"userId": "p", "stageArn": UNKNOWN_ARN})),
        ),
        (
            &get,
            "/api/stage/{stageArn}",
            format!("/api/stage/{unknown}"),
            None,
        ),
        (
            &put,
            "/api/stage/{stageArn}",
            format!("/api/stage/{unknown}"),
            Some(json!({"name": "n"})),
        ),
        (
            &delete,
            "/api/stage/{stageArn}",
            format!("/api/stage/{UNKNOWN_ARN}"),
            None,
        ),
        (
            &post,
            "/api/viewer/heartbeat",
            "/api/viewer/heartbeat".into(),
            Some(nobody.clone()),
        ),
        (
            &post,
            "/api/viewer/leave",
            "/api/viewer/leave".into(),
            Some(nobody),
        ),
        (
            &get,
            "/api/viewer/list/{stageArn}",
            format!("/api/viewer/list/{unknown}"),
            None,
        ),
        (
            &get,
            "/api/viewer/duration",
            format!("/api/viewer/duration?userId=nobody&stageArn={m}"),
            None,
        ),
        (
            &get,
            "/api/stats/stages/{stageArn}",
            format!("/api/stats/stages/{unknown}"),
            None,
        ),
    ];
    for (method, template, path, body) in cases {
        let r = s.call(method.clone(), &path, body).await;
        assert_ne!(
            r.json["details"], "no such route; see docs/openapi.json or README.md",
            "{method} {template} is not routed"
        );
        t.add(method, template, nf, r, "unknown");
    }

    // 413 for every operation with a body.
    for (method, template) in operations(doc) {
        if operation(doc, &method, &template)
            .get("requestBody")
            .is_none()
        {
            continue;
        }
        let (path, _) = plausible(&method, &template, &master);
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let big = json!({"userId": "x".repeat(20 * 1024), "name": "n", "stageArn": master});
        let r = s.call(m.clone(), &path, Some(big)).await;
        t.add(&m, &template, (413, "VALIDATION_ERROR"), r, "20 KiB body");
    }

    // 408 for every operation with a body: a body that stops half-way.
    let mut slow_settings = test_settings();
    slow_settings.limits.body_timeout = Duration::from_millis(300);
    let slow = TestServer::start(slow_settings).await;
    for (method, template) in operations(doc) {
        if operation(doc, &method, &template)
            .get("requestBody")
            .is_none()
        {
            continue;
        }
        let (path, _) = plausible(&method, &template, &slow.master());
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let stalled = futures_util::stream::once(async {
            Ok::<_, std::io::Error>(bytes_of(r#"{"userId":"#))
        })
        .chain(futures_util::stream::pending());
        let res = slow
            .raw(m.clone(), &path)
            .header("x-api-key", &slow.key)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stalled))
            .send()
            .await
            .expect("the server answers a stalled body");
        let r = TestServer::read(res).await;
        t.add(&m, &template, (408, "VALIDATION_ERROR"), r, "stalled body");
    }

    // ---- 503 STAGE_LIMIT_REACHED with small limits
    let s = TestServer::start(small_limits(test_settings())).await;
    for u in ["a", "b", "c", "d"] {
        s.join(u).await.data();
    }
    let r = s.join("e").await;
    t.add(
        &post,
        "/api/token/viewer",
        (503, "STAGE_LIMIT_REACHED"),
        r,
        "every stage full at the limit",
    );
    let r = s.post("/api/stage", json!({"name": "one-too-many"})).await;
    t.add(
        &post,
        "/api/stage",
        (503, "STAGE_LIMIT_REACHED"),
        r,
        "stage limit",
    );
    // The auto-scaled stage holds viewers: it cannot be deleted.
    let stages = s.get("/api/stage/list").await;
    let auto = stages.json["data"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["autoScaled"] == true)
        .expect("an auto-scaled stage")["stageArn"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.delete(&format!("/api/stage/{}", enc(&auto))).await;
    t.add(
        &delete,
        "/api/stage/{stageArn}",
        bad,
        r,
        "stage has viewers",
    );

    // ---- 429 for a key with a small limit
    let mut settings = test_settings();
    settings.api_keys = parse_api_keys("k1234567:3").unwrap();
    let mut s = TestServer::start(settings).await;
    s.key = "k1234567".into();
    for _ in 0..3 {
        s.get("/api/stats/publisher").await.data();
    }
    sweep(
        &mut t,
        doc,
        &s,
        Some("k1234567"),
        false,
        (429, "TOO_MANY_REQUESTS"),
        "limit exhausted",
    )
    .await;

    // ---- 409 when IVS answers ConflictException: the AWS backend, against the fake
    let fake = FakeIvs::start().await;
    let s = TestServer::start(aws_settings(&fake)).await;
    let created = s.post("/api/stage", json!({"name": "conflicted"})).await;
    let path = format!(
        "/api/stage/{}",
        enc(created.data()["stage"]["arn"].as_str().unwrap())
    );
    fake.fail_next(Some("UpdateStage"), 1, Fault::Conflict);
    let r = s.put(&path, json!({"name": "renamed"})).await;
    t.add(
        &put,
        "/api/stage/{stageArn}",
        (409, "VALIDATION_ERROR"),
        r,
        "IVS ConflictException",
    );
    fake.fail_next(Some("DeleteStage"), 1, Fault::Conflict);
    let r = s.delete(&path).await;
    t.add(
        &delete,
        "/api/stage/{stageArn}",
        (409, "VALIDATION_ERROR"),
        r,
        "IVS ConflictException",
    );

    // ---- 503 and 500 from a failing store
    let store = Arc::new(FlakyStore {
        inner: MemoryStore::new(),
        mode: AtomicU8::new(0),
    });
    let s =
        TestServer::start_builder(ServerBuilder::new(test_settings()).store(store.clone())).await;
    store.mode.store(1, Ordering::SeqCst);
    let r = s.call_with_key(get.clone(), "/health", None, None).await;
    assert_eq!(r.json["status"], "degraded", "{}", r.text);
    t.add(&get, "/health", (503, ""), r, "store down");
    let key = s.key.clone();
    sweep(
        &mut t,
        doc,
        &s,
        Some(&key),
        false,
        (503, "SERVICE_UNAVAILABLE"),
        "store down",
    )
    .await;
    store.mode.store(2, Ordering::SeqCst);
    sweep(
        &mut t,
        doc,
        &s,
        Some(&key),
        false,
        (500, "INTERNAL_ERROR"),
        "store corrupt",
    )
    .await;
    store.mode.store(0, Ordering::SeqCst);
    t
}

fn media_essence(headers: &HeaderMap) -> Option<String> {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

#[tokio::test]
async fn every_documented_status_is_provoked_and_every_response_matches_the_document() {
    let doc = doc();
    let c = Checker { root: &doc };
    let table = provoke_everything(&doc).await;

    // Every provoked response is one the document allows.
    let mut failures = Vec::new();
    for row in &table.rows {
        let what = format!(
            "{} {} → {} ({})",
            row.method, row.template, row.status, row.why
        );
        let op = operation(&doc, &row.method, &row.template);
        let Some(resp) = op["responses"].get(row.status.to_string()) else {
            failures.push(format!("{what}: status not documented"));
            continue;
        };
        let resp = c.resolve(resp);
        if let Some(headers) = resp.get("headers").and_then(Value::as_object) {
            for (name, h) in headers {
                let required = c.resolve(h).get("required") == Some(&Value::Bool(true));
                if required && !row.headers.contains_key(name.as_str()) {
                    failures.push(format!("{what}: documented header {name} missing"));
                }
            }
        }
        match (resp.get("content"), media_essence(&row.headers)) {
            (None, _) => {}
            (Some(_), None) => failures.push(format!("{what}: no Content-Type")),
            (Some(content), Some(essence)) => match content.get(&essence) {
                None => failures.push(format!("{what}: Content-Type {essence} is not documented")),
                Some(mt) if essence == "application/json" => {
                    if row.body.is_null() {
                        failures.push(format!("{what}: body is not JSON: {}", row.text));
                    }
                    let mut errs = Vec::new();
                    c.check(&mt["schema"], &row.body, "$", &mut errs);
                    failures.extend(
                        errs.into_iter()
                            .map(|e| format!("{what}: {e}; body {}", row.text)),
                    );
                }
                Some(_) => {}
            },
        }
    }
    assert!(
        failures.is_empty(),
        "responses the document does not allow:\n  {}",
        failures.join("\n  ")
    );

    // Every documented (operation, status) was provoked; every operation answered.
    let provoked: BTreeSet<(String, String, u16)> = table
        .rows
        .iter()
        .map(|r| (r.method.clone(), r.template.clone(), r.status))
        .collect();
    let mut missing = Vec::new();
    let mut by_op: HashMap<(String, String), Vec<u16>> = HashMap::new();
    for (method, template, status) in &provoked {
        by_op
            .entry((method.clone(), template.clone()))
            .or_default()
            .push(*status);
    }
    for (method, template) in operations(&doc) {
        let statuses = by_op
            .get(&(method.clone(), template.clone()))
            .cloned()
            .unwrap_or_default();
        assert!(
            statuses.iter().any(|s| (200..300).contains(s) || *s == 101),
            "{method} {template} never succeeded: is it routed? (got {statuses:?})"
        );
        assert!(!statuses.contains(&405), "{method} {template} answered 405");
        for status in operation(&doc, &method, &template)["responses"]
            .as_object()
            .unwrap()
            .keys()
        {
            let status: u16 = status.parse().expect("numeric status codes only");
            if !provoked.contains(&(method.clone(), template.clone(), status)) {
                missing.push(format!("{method} {template} {status}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "documented but never provoked (add a case to tests/it/openapi.rs, or drop it from docs/openapi.json):\n  {}",
        missing.join("\n  ")
    );
}

fn bytes_of(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}
