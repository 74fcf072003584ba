//! The fleet's HTTP calls, with every answer kept (or its absence, when a
//! process died under the request).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::API_KEY;

/// One answer (or its absence) from a server.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status; `None` when no answer came (connection refused or
    /// reset, e.g. the process was killed, or the client's timeout).
    pub status: Option<u16>,
    /// The JSON body (`Null` when there was none).
    pub body: Value,
    /// From sending to the end of the body.
    pub elapsed: Duration,
    /// The transport error, when there was no answer.
    pub error: Option<String>,
}

impl Reply {
    /// The error code of an error body (`STAGE_FULL`, ...), or `""`.
    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// `data` of a success body.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `"200"`, `"503 STAGE_FULL"`, `"no answer"`: for tallies and messages.
    pub fn outcome(&self) -> String {
        match self.status {
            None => "no answer".into(),
            Some(200) => "200".into(),
            Some(s) => format!("{s} {}", self.code()).trim_end().to_string(),
        }
    }
}

/// An HTTP client for the fleet's API key.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}

impl Api {
    /// A client whose requests give up after 20 s: far beyond anything a
    /// healthy answer needs, so a request still open then is a hang.
    pub fn new() -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(64)
                .build()
                .expect("an HTTP client"),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let start = Instant::now();
        match req.header("x-api-key", API_KEY).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.json().await.unwrap_or(Value::Null);
                Reply {
                    status: Some(status),
                    body,
                    elapsed: start.elapsed(),
                    error: None,
                }
            }
            Err(e) => Reply {
                status: None,
                body: Value::Null,
                elapsed: start.elapsed(),
                error: Some(e.to_string()),
            },
        }
    }

    /// `GET base + path`.
    pub async fn get(&self, base: &str, path: &str) -> Reply {
        self.send(self.http.get(format!("{base}{path}"))).await
    }

    /// `POST base + path` with a JSON body.
    pub async fn post(&self, base: &str, path: &str, body: Value) -> Reply {
        self.send(self.http.post(format!("{base}{path}")).json(&body))
            .await
    }

    /// `POST /api/token/viewer`.
    pub async fn join(&self, base: &str, user: &str) -> Reply {
        self.post(base, "/api/token/viewer", json!({ "userId": user }))
            .await
    }

    /// `POST /api/viewer/heartbeat`.
    pub async fn heartbeat(&self, base: &str, user: &str, arn: &str) -> Reply {
        self.post(
            base,
            "/api/viewer/heartbeat",
            json!({ "userId": user, "stageArn": arn }),
        )
        .await
    }

    /// `POST /api/token/publisher`.
    pub async fn publisher_token(&self, base: &str, user: &str) -> Reply {
        self.post(base, "/api/token/publisher", json!({ "userId": user }))
            .await
    }

    /// `GET /api/stage/master/info`.
    pub async fn master_info(&self, base: &str) -> Reply {
        self.get(base, "/api/stage/master/info").await
    }

    /// Every page of `GET /api/stage/list`: ARN → viewer count, or what went wrong.
    pub async fn stage_list(&self, base: &str) -> Result<BTreeMap<String, u64>, String> {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        for _ in 0..100 {
            let path = match &token {
                Some(t) => format!("/api/stage/list?maxResults=100&nextToken={t}"),
                None => "/api/stage/list?maxResults=100".to_string(),
            };
            let reply = self.get(base, &path).await;
            if reply.status != Some(200) {
                return Err(format!("GET {path}: {}", reply.outcome()));
            }
            for s in reply.data()["stages"].as_array().into_iter().flatten() {
                let arn = s["stageArn"].as_str().unwrap_or_default().to_string();
                out.insert(arn, s["viewerCount"].as_u64().unwrap_or(u64::MAX));
            }
            match reply.data()["nextToken"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(out),
            }
        }
        Err("GET /api/stage/list never ended its pages".into())
    }
}
