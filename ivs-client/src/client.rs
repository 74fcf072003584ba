//! [`Client`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, USER_AGENT};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use crate::Error;
use crate::api::{StagesApi, StatsApi, TokensApi, ViewersApi};
use crate::error::{ApiError, RateLimit};
use crate::model::Health;
use crate::retry::{self, Idempotency, RetryPolicy};
use ivs_api::Envelope;

/// The header that carries the API key.
pub(crate) const API_KEY_HEADER: &str = "x-api-key";
/// The header that carries the request id, both ways.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_USER_AGENT: &str = concat!("ivs-client/", env!("CARGO_PKG_VERSION"));
/// The environment variables [`ClientBuilder::from_env`] reads (the names
/// the workspace's examples use too).
const SERVER_ENV: &str = "IVS_SERVER";
const API_KEY_ENV: &str = "IVS_API_KEY";

/// A client for one ivs-server deployment.
///
/// Cloning is cheap (one `Arc`), and clones share the connection pool: make
/// one client and hand clones to as many tasks as you like.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// use ivs_client::{Client, model::TokenRequest};
///
/// // e.g. "http://localhost:3000" and your API key
/// let client = Client::new(base_url, api_key)?;
/// let token = client.tokens().viewer(&TokenRequest::new("viewer-001".parse()?)).await?;
/// println!("watch {} with {}", token.stage_arn, token.participant_id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    /// The base URL without a trailing slash, so paths can be appended.
    base: String,
    api_key: HeaderValue,
    user_agent: HeaderValue,
    request_timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    /// The last `RateLimit-*` state any answer carried.
    rate_limit: std::sync::Mutex<Option<RateLimit>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .field("api_key", &"<redacted>")
            .field("request_timeout", &self.inner.request_timeout)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]; get one with [`Client::builder`].
///
/// ```
/// use std::time::Duration;
/// use ivs_client::{Client, RetryPolicy};
///
/// let client = Client::builder()
///     .base_url("https://ivs.example.com")
///     .api_key("your-api-key")
///     .request_timeout(Duration::from_secs(5))
///     .retry_policy(RetryPolicy::default().with_max_attempts(4))
///     .build()?;
/// assert!(!format!("{client:?}").contains("your-api-key"));
/// # Ok::<(), ivs_client::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    base_url: Setting,
    api_key: Setting,
    request_timeout: Duration,
    connect_timeout: Duration,
    user_agent: Option<String>,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url.value)
            .field(
                "api_key",
                &self.api_key.value.as_ref().map(|_| "<redacted>"),
            )
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("http_client", &self.http.is_some())
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: Setting::new("base_url"),
            api_key: Setting::new("api_key"),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: None,
            retry: RetryPolicy::default(),
            http: None,
        }
    }
}

/// A required setting, and where it was to come from (for the error when
/// it is missing or unusable).
#[derive(Clone)]
struct Setting {
    value: Option<String>,
    /// The builder method's name, or the environment variable's.
    source: &'static str,
    from_env: bool,
}

impl Setting {
    fn new(method: &'static str) -> Self {
        Setting {
            value: None,
            source: method,
            from_env: false,
        }
    }

    fn given(&mut self, method: &'static str, value: String) {
        *self = Setting {
            value: Some(value),
            source: method,
            from_env: false,
        };
    }

    fn from_env(name: &'static str, lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        Setting {
            value: lookup(name),
            source: name,
            from_env: true,
        }
    }

    /// The value, or why there is none, naming the method or variable.
    fn required(self) -> Result<String, Error> {
        match self.value {
            Some(v) if !(self.from_env && v.trim().is_empty()) => Ok(v),
            Some(_) => Err(Error::InvalidConfig(format!("{} is empty", self.source))),
            None if self.from_env => Err(Error::InvalidConfig(format!(
                "{} is not set (or not valid UTF-8)",
                self.source
            ))),
            None => Err(Error::InvalidConfig(format!("{} is required", self.source))),
        }
    }
}

impl ClientBuilder {
    /// A builder with the base URL from the environment variable
    /// `IVS_SERVER` and the API key from `IVS_API_KEY`, and the other
    /// defaults of [`Client::builder`]; change anything before
    /// [`build`](Self::build). A variable that is missing or empty makes
    /// `build` fail with [`Error::InvalidConfig`] naming it, unless its
    /// setting was given since ([`base_url`](Self::base_url), [`api_key`](Self::api_key)).
    ///
    /// ```standalone_crate
    /// # // A process of its own (standalone_crate): changing its environment
    /// # // races with no other example's thread.
    /// # // SAFETY: no other thread runs yet.
    /// # unsafe { std::env::set_var("IVS_SERVER", "https://ivs.example.com") };
    /// # // SAFETY: as above.
    /// # unsafe { std::env::set_var("IVS_API_KEY", "your-api-key") };
    /// use std::time::Duration;
    /// use ivs_client::ClientBuilder;
    ///
    /// let client = ClientBuilder::from_env()
    ///     .request_timeout(Duration::from_secs(3))
    ///     .build()?;
    /// # Ok::<(), ivs_client::Error>(())
    /// ```
    pub fn from_env() -> Self {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read through
    /// `lookup`, so tests need not change the process's environment (which
    /// other test threads read at the same time).
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        ClientBuilder {
            base_url: Setting::from_env(SERVER_ENV, lookup),
            api_key: Setting::from_env(API_KEY_ENV, lookup),
            ..ClientBuilder::default()
        }
    }

    /// The server's base URL, `http://` or `https://`, optionally with a path
    /// prefix (`https://example.com/ivs`). Required.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url.given("base_url", url.into());
        self
    }

    /// The API key sent as `x-api-key`. Required. Never printed by `Debug`
    /// and never logged.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key.given("api_key", key.into());
        self
    }

    /// The time one attempt may take, answer body included (default 10 s).
    /// Also bounds the statistics stream's WebSocket handshake.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The time to establish a connection (default 5 s). Not applied to a
    /// client given with [`http_client`](Self::http_client), which keeps its own.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Replaces the `User-Agent` (default `ivs-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// How failed requests are retried (see [`RetryPolicy`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Uses your [`reqwest::Client`] (proxies, custom roots, a shared pool).
    /// The request timeout and user agent are still set on every request.
    ///
    /// Make it with the `reqwest` this crate re-exports, so that its version
    /// is the one this crate was built with:
    ///
    /// ```
    /// use ivs_client::{reqwest, Client};
    ///
    /// let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    /// let client = Client::builder()
    ///     .base_url("https://ivs.example.com")
    ///     .api_key("your-api-key")
    ///     .http_client(http)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the configuration and makes the client.
    pub fn build(self) -> Result<Client, Error> {
        let url_source = self.base_url.source;
        let raw = self.base_url.required()?;
        let url = Url::parse(&raw)
            .map_err(|e| Error::InvalidConfig(format!("{url_source} {raw:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::InvalidConfig(format!(
                "{url_source} must be http:// or https://, not {}://",
                url.scheme()
            )));
        }
        if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
            return Err(Error::InvalidConfig(format!(
                "{url_source} must not carry a query or fragment"
            )));
        }
        let base = url.as_str().trim_end_matches('/').to_owned();

        let key_source = self.api_key.source;
        let key = self.api_key.required()?;
        let mut api_key = HeaderValue::from_str(&key).map_err(|_| {
            Error::InvalidConfig(format!(
                "{key_source} contains characters a header cannot carry"
            ))
        })?;
        // Sensitive values are left out of hyper's and reqwest's debug output.
        api_key.set_sensitive(true);

        let ua = self
            .user_agent
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned());
        let user_agent = HeaderValue::from_str(&ua).map_err(|_| {
            Error::InvalidConfig("user_agent contains characters a header cannot carry".into())
        })?;

        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .timeout(self.request_timeout)
                .user_agent(ua)
                .build()
                .map_err(|e| Error::InvalidConfig(format!("cannot build the HTTP client: {e}")))?,
        };

        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                api_key,
                user_agent,
                request_timeout: self.request_timeout,
                connect_timeout: self.connect_timeout,
                retry: self.retry,
                rate_limit: std::sync::Mutex::new(None),
            }),
        })
    }
}

/// One API request, described once and sent as often as the retry policy says.
pub(crate) struct Call {
    pub(crate) method: Method,
    /// Path with any parameter already percent-encoded.
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) idempotency: Idempotency,
    pub(crate) authenticated: bool,
}

impl Call {
    pub(crate) fn new(method: Method, path: impl Into<String>, idempotency: Idempotency) -> Self {
        Call {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            idempotency,
            authenticated: true,
        }
    }

    /// A `GET`: idempotent by definition.
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Call::new(Method::GET, path, Idempotency::Idempotent)
    }

    pub(crate) fn json<B: serde::Serialize + ?Sized>(mut self, body: &B) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidConfig(format!("request body cannot be serialised: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    pub(crate) fn query(mut self, name: &'static str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value));
        }
        self
    }
}

impl Client {
    /// A builder with the defaults: 10 s request timeout, 5 s connect
    /// timeout, [`RetryPolicy::default`], rustls.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for `base_url` with `api_key` and the defaults.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Result<Client, Error> {
        Client::builder()
            .base_url(base_url)
            .api_key(api_key)
            .build()
    }

    /// A client for the base URL in the environment variable `IVS_SERVER`
    /// with the API key in `IVS_API_KEY`, and the defaults. A variable that
    /// is missing or empty is an [`Error::InvalidConfig`] naming it. Use
    /// [`ClientBuilder::from_env`] to change more.
    ///
    /// ```standalone_crate
    /// # // A process of its own (standalone_crate): changing its environment
    /// # // races with no other example's thread.
    /// # // SAFETY: no other thread runs yet.
    /// # unsafe { std::env::set_var("IVS_SERVER", "https://ivs.example.com") };
    /// # // SAFETY: as above.
    /// # unsafe { std::env::set_var("IVS_API_KEY", "your-api-key") };
    /// // IVS_SERVER=https://ivs.example.com IVS_API_KEY=... cargo run
    /// let client = ivs_client::Client::from_env()?;
    /// # Ok::<(), ivs_client::Error>(())
    /// ```
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::from_env().build()
    }

    /// Token endpoints: `POST /api/token/*`.
    pub fn tokens(&self) -> TokensApi<'_> {
        TokensApi::new(self)
    }

    /// Stage endpoints: `/api/stage*`.
    pub fn stages(&self) -> StagesApi<'_> {
        StagesApi::new(self)
    }

    /// Viewer endpoints: `/api/viewer/*`.
    pub fn viewers(&self) -> ViewersApi<'_> {
        ViewersApi::new(self)
    }

    /// Statistics endpoints: `GET /api/stats*`.
    pub fn stats(&self) -> StatsApi<'_> {
        StatsApi::new(self)
    }

    /// `GET /health`: the server's and its dependencies' state.
    ///
    /// Sent without the API key: the endpoint is public, and a secret
    /// that is not sent cannot leak through a monitoring proxy's logs.
    pub async fn health(&self) -> Result<Health, Error> {
        let mut call = Call::get("/health");
        call.authenticated = false;
        self.send(call).await
    }

    /// The retry policy this client applies.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The rate-limit state of the last answer that carried one (every
    /// authenticated answer does, errors included), with when it arrived;
    /// `None` before the first. Shared by the client's clones.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// client.stats().overall().await?;
    /// if let Some(rate) = client.rate_limit() {
    ///     println!("{} of {} requests left", rate.remaining(), rate.limit());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *self
            .inner
            .rate_limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn observe_rate_limit(&self, rate: RateLimit) {
        let mut last = self
            .inner
            .rate_limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Answers to concurrent requests may arrive out of order: keep the
        // newest one.
        if last.is_none_or(|l| l.observed_at() <= rate.observed_at()) {
            *last = Some(rate);
        }
    }

    pub(crate) fn api_key_header(&self) -> &HeaderValue {
        &self.inner.api_key
    }

    pub(crate) fn user_agent_header(&self) -> &HeaderValue {
        &self.inner.user_agent
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Sends a call whose success body is `{"success": true, "data": T}`.
    pub(crate) async fn send_data<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        self.send::<Envelope<T>>(call).await.map(|e| e.data)
    }

    /// Sends a call whose success body is `T` itself, retrying per policy.
    pub(crate) async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let url = Url::parse(&format!("{}{}", self.inner.base, call.path))
            .map_err(|e| Error::InvalidConfig(format!("request URL: {e}")))?;
        let span =
            tracing::debug_span!("ivs_client.request", method = %call.method, path = %call.path);
        // One id per call, the attempt number after it: the server's logs
        // show the attempts of one call together, and each apart.
        let call_id = new_request_id();
        let mut attempt = 0u32;
        retry::run(&self.inner.retry, call.idempotency, || {
            attempt += 1;
            self.send_once::<T>(&call, &url, &call_id, attempt)
        })
        .instrument(span)
        .await
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        call: &Call,
        url: &Url,
        call_id: &str,
        attempt: u32,
    ) -> Result<T, Error> {
        let started = tokio::time::Instant::now();
        let request_id = format!("{call_id}-{attempt}");
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), url.clone())
            .timeout(self.inner.request_timeout)
            .header(USER_AGENT, self.inner.user_agent.clone())
            .header(ACCEPT, "application/json")
            .header(REQUEST_ID_HEADER, request_id.as_str());
        if call.authenticated {
            req = req.header(API_KEY_HEADER, self.inner.api_key.clone());
        }
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(body) = &call.body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }

        let result = async {
            let sent_id = Some(request_id.as_str());
            let resp = req
                .send()
                .await
                .map_err(|e| Error::from_reqwest(e, sent_id))?;
            let status = resp.status().as_u16();
            let headers = Answer::read(resp.headers(), &request_id);
            if let Some(rate) = headers.rate_limit {
                self.observe_rate_limit(rate);
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| Error::from_reqwest(e, sent_id))?;
            if (200..300).contains(&status) {
                serde_json::from_slice::<T>(&body).map_err(|source| Error::Decode {
                    status,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    source,
                })
            } else {
                Err(Error::Api(headers.error(status, &body)))
            }
        }
        .await;

        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(_) => {
                tracing::debug!(attempt, elapsed_ms, request_id = %request_id, "request succeeded")
            }
            Err(e) => {
                tracing::debug!(attempt, elapsed_ms, request_id = %request_id, status = e.status(), error = %e, "request failed")
            }
        }
        result
    }
}

/// A random request id: 16 hex digits, unique enough to find one call in
/// the server's logs.
pub(crate) fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// What an answer's headers say beside the body.
pub(crate) struct Answer {
    pub(crate) retry_after: Option<Duration>,
    pub(crate) request_id: String,
    pub(crate) rate_limit: Option<RateLimit>,
}

impl Answer {
    /// Reads `headers`; the request id is the server's, else `sent`.
    pub(crate) fn read(headers: &reqwest::header::HeaderMap, sent: &str) -> Self {
        let request_id = headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or(sent)
            .to_owned();
        Answer {
            retry_after: parse_retry_after(headers),
            request_id,
            rate_limit: RateLimit::from_headers(headers),
        }
    }

    /// The error an answer with `status` and `body` stands for.
    pub(crate) fn error(self, status: u16, body: &[u8]) -> ApiError {
        ApiError::from_body(status, body)
            .with_retry_after(self.retry_after)
            .with_request_id(Some(self.request_id))
            .with_rate_limit(self.rate_limit)
    }
}

/// `Retry-After` as delta-seconds; other forms are ignored.
fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Percent-encodes a path segment: everything but RFC 3986's unreserved
/// characters, so an ARN's `:` and `/` become `%3A` and `%2F`.
pub(crate) fn encode_segment(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_is_fully_encoded() {
        assert_eq!(
            encode_segment("arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8"),
            "arn%3Aaws%3Aivs%3Aap-northeast-1%3A125371974421%3Astage%2FsWyAydfRqqF8"
        );
        assert_eq!(encode_segment("a b~c"), "a%20b~c");
    }

    #[test]
    fn builder_validates() {
        assert!(matches!(
            Client::builder().api_key("k").build(),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Client::new("ftp://x", "k"),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Client::new("not a url", "k"),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Client::new("http://x", "bad\nkey"),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Client::new("http://x?a=b", "k"),
            Err(Error::InvalidConfig(_))
        ));
        let c = Client::new("http://example.com/prefix/", "secret-key").unwrap();
        assert_eq!(c.base_url(), "http://example.com/prefix");
        let dbg = format!("{c:?} {:?}", Client::builder().api_key("secret-key"));
        assert!(!dbg.contains("secret-key"), "{dbg}");
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> reqwest::header::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    reqwest::header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn config_error(result: Result<Client, Error>) -> String {
        match result {
            Err(Error::InvalidConfig(why)) => why,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn from_env_reads_server_and_key() {
        let vars = [
            ("IVS_SERVER", "https://ivs.example.com/prefix/"),
            ("IVS_API_KEY", "secret-key"),
        ];
        let builder = ClientBuilder::from_lookup(&env(&vars));
        assert!(!format!("{builder:?}").contains("secret-key"));
        let c = builder.build().unwrap();
        assert_eq!(c.base_url(), "https://ivs.example.com/prefix");
        assert_eq!(c.api_key_header().as_bytes(), b"secret-key");
    }

    #[test]
    fn from_env_names_the_missing_or_empty_variable() {
        let why = config_error(ClientBuilder::from_lookup(&env(&[])).build());
        assert!(why.contains("IVS_SERVER is not set"), "{why}");
        let why =
            config_error(ClientBuilder::from_lookup(&env(&[("IVS_SERVER", "http://x")])).build());
        assert!(why.contains("IVS_API_KEY is not set"), "{why}");
        let vars = [("IVS_SERVER", "http://x"), ("IVS_API_KEY", " ")];
        let why = config_error(ClientBuilder::from_lookup(&env(&vars)).build());
        assert!(why.contains("IVS_API_KEY is empty"), "{why}");
        let vars = [("IVS_SERVER", "ftp://x"), ("IVS_API_KEY", "k")];
        let why = config_error(ClientBuilder::from_lookup(&env(&vars)).build());
        assert!(why.starts_with("IVS_SERVER must be http"), "{why}");
        let vars = [("IVS_SERVER", "http://x"), ("IVS_API_KEY", "bad\nkey")];
        let why = config_error(ClientBuilder::from_lookup(&env(&vars)).build());
        assert!(why.starts_with("IVS_API_KEY contains"), "{why}");
        assert!(!why.contains("bad"), "the key must not be shown: {why}");
    }

    #[test]
    fn settings_given_after_from_env_win() {
        let c = ClientBuilder::from_lookup(&env(&[("IVS_API_KEY", "k")]))
            .base_url("http://given.example.com")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "http://given.example.com");
        let why = config_error(
            ClientBuilder::from_lookup(&env(&[("IVS_API_KEY", "k")]))
                .base_url("")
                .build(),
        );
        assert!(why.starts_with("base_url"), "{why}");
        // Without from_env, the builder's own names.
        let why = config_error(Client::builder().base_url("http://x").build());
        assert_eq!(why, "api_key is required");
    }

    #[test]
    fn error_body_and_fallback() {
        let e = Answer::read(&headers(&[]), "sent-1").error(
            400,
            br#"{"error":"VALIDATION_ERROR","message":"m","details":"d"}"#,
        );
        assert_eq!(e.code(), &crate::model::ErrorCode::ValidationError);
        assert_eq!(e.request_id(), Some("sent-1"));
        let e = Answer::read(
            &headers(&[("retry-after", "3"), ("x-request-id", "server-7")]),
            "sent-2",
        )
        .error(502, b"<html>bad gateway</html>");
        assert_eq!(e.status(), 502);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(e.request_id(), Some("server-7"));
        assert!(e.to_string().contains("bad gateway"));
    }
}
