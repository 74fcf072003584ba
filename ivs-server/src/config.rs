//! Settings: every option is a command-line flag and an environment variable,
//! and every limit of the spec is a setting with the spec's value as default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::store::redis::{ClusterMode, RedisOptions};

/// The development key used when no key is configured on a loopback bind.
pub const DEV_API_KEY: &str = "dev-api-key";
/// The development key's allowance: enough for hundreds of local viewer bots.
pub const DEV_KEY_RATE_PER_MINUTE: u32 = 100_000;

/// Which IVS backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum BackendKind {
    /// The embedded emulator.
    Local,
    /// AWS IVS Real-time through the AWS SDK.
    Aws,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// One accepted API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The secret.
    pub secret: String,
    /// Its own requests-per-minute limit, if not the default.
    pub rate_per_minute: Option<u32>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("secret", &"<redacted>")
            .field("rate_per_minute", &self.rate_per_minute)
            .finish()
    }
}

/// Parses `IVS_API_KEYS`: comma-separated `key` or `key:limit` entries.
pub fn parse_api_keys(s: &str) -> Result<Vec<ApiKey>, String> {
    let mut keys = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (secret, limit) = match entry.rsplit_once(':') {
            Some((secret, limit)) if limit.bytes().all(|b| b.is_ascii_digit()) => {
                let n: u32 = limit
                    .parse()
                    .map_err(|_| "a key's rate limit must be a number".to_string())?;
                if n == 0 {
                    return Err("a key's rate limit must be at least 1".into());
                }
                (secret, Some(n))
            }
            _ => (entry, None),
        };
        if secret.len() < 8 {
            return Err("API keys must be at least 8 characters".into());
        }
        keys.push(ApiKey {
            secret: secret.to_string(),
            rate_per_minute: limit,
        });
    }
    Ok(keys)
}

/// Command-line and environment configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ivs-server",
    version,
    about = "AWS IVS Real-time token and viewer server"
)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "IVS_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// Accepted API keys, comma-separated, each at least 8 characters; `key:limit` gives a key its own requests/minute. Unset: the development key `dev-api-key` on a loopback bind; on any other bind the server refuses to start.
    #[arg(long, env = "IVS_API_KEYS", value_parser = parse_api_keys, hide_env_values = true)]
    pub api_keys: Option<std::vec::Vec<ApiKey>>,
    /// Requests per minute per API key (keys without their own limit).
    #[arg(long, env = "IVS_RATE_LIMIT_PER_MINUTE", default_value_t = 100)]
    pub rate_limit_per_minute: u32,
    /// Redis URL (`redis://[user:password@]host:port`, `rediss://`, `redis+unix://`, `unix://`); comma-separated: cluster seed nodes; unset → in-process store.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Redis Cluster protocol: `auto` asks the first reachable URL (`CLUSTER INFO`), `on`/`off` force it.
    #[arg(long, env = "REDIS_CLUSTER", value_enum, default_value_t = ClusterMode::Auto)]
    pub redis_cluster: ClusterMode,
    /// PEM file of the CA(s) to trust for `rediss://` instead of the built-in roots (a private CA).
    #[arg(long, env = "REDIS_CA_CERT")]
    pub redis_ca_cert: Option<PathBuf>,
    /// Prefix of every Redis key; it becomes a Redis Cluster hash tag (`ivs:` → `{ivs}:`), so one deployment's keys share one slot.
    #[arg(long, env = "IVS_REDIS_PREFIX", default_value = "ivs:")]
    pub redis_prefix: String,
    /// IVS backend: the embedded emulator, or AWS IVS Real-time (docs/aws.md).
    #[arg(long, env = "IVS_BACKEND", value_enum, default_value_t = BackendKind::Local)]
    pub ivs_backend: BackendKind,
    /// IVS control-plane endpoint override (AWS backend; tests point it at a mock).
    #[arg(long, env = "IVS_ENDPOINT_URL")]
    pub ivs_endpoint_url: Option<String>,
    /// AWS region of the IVS backend; unset → the standard AWS region chain (AWS_REGION, profile, IMDS).
    #[arg(long, env = "IVS_AWS_REGION")]
    pub aws_region: Option<String>,
    /// Static AWS access key id for the IVS backend; unset → the standard credential chain.
    #[arg(
        long,
        env = "IVS_AWS_ACCESS_KEY_ID",
        requires = "aws_secret_access_key"
    )]
    pub aws_access_key_id: Option<String>,
    /// The secret access key that goes with `--aws-access-key-id`.
    #[arg(
        long,
        env = "IVS_AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        value_parser = parse_secret,
        requires = "aws_access_key_id"
    )]
    pub aws_secret_access_key: Option<Secret>,
    /// Attempts per IVS call, the first included; throttling, 5xx and network errors are retried.
    #[arg(long, env = "IVS_AWS_MAX_ATTEMPTS", default_value_t = 4)]
    pub aws_max_attempts: u32,
    /// Timeout of one IVS call attempt (milliseconds).
    #[arg(long, env = "IVS_AWS_TIMEOUT_MS", default_value_t = 5_000)]
    pub aws_timeout_ms: u64,
    /// CreateParticipantToken calls per second this instance allows itself (IVS: 50 per account and region).
    #[arg(long, env = "IVS_TOKEN_CALLS_PER_SEC", default_value_t = 50)]
    pub ivs_token_calls_per_sec: u32,
    /// Calls per second of each other IVS operation this instance allows itself (IVS: 5 per account and region).
    #[arg(long, env = "IVS_STAGE_CALLS_PER_SEC", default_value_t = 5)]
    pub ivs_stage_calls_per_sec: u32,
    /// Region of the local emulator's ARNs (the AWS backend uses the standard AWS region chain).
    #[arg(long, env = "IVS_LOCAL_REGION", default_value = "ap-northeast-1")]
    pub local_region: String,
    /// Account id of the local emulator's ARNs.
    #[arg(long, env = "IVS_LOCAL_ACCOUNT", default_value = "123456789012")]
    pub local_account: String,
    /// P-384 private key (PEM) for participant tokens; unset → a key generated at start.
    #[arg(long, env = "IVS_TOKEN_KEY_FILE")]
    pub token_key_file: Option<PathBuf>,
    /// ARN of the public key imported into IVS (the tokens' `kid`).
    #[arg(long, env = "IVS_PUBLIC_KEY_ARN")]
    pub public_key_arn: Option<String>,
    /// Use this existing stage as the master stage; unset → the one the store recorded, or a new one created at start.
    #[arg(long, env = "MASTER_STAGE_ARN")]
    pub master_stage_arn: Option<String>,
    /// Name of the master stage when the server creates it.
    #[arg(long, env = "IVS_MASTER_STAGE_NAME", default_value = "master-stage")]
    pub master_stage_name: String,
    /// Value of the `Environment` tag on stages the server creates.
    #[arg(long, env = "IVS_ENVIRONMENT", default_value = "development")]
    pub environment: String,
    /// This deployment's identity, put in the `Deployment` tag of every stage
    /// it creates; only stages carrying it are ever adopted or deleted as
    /// leftovers. Default: the Redis prefix without its trailing colon.
    #[arg(long, env = "IVS_DEPLOYMENT_ID")]
    pub deployment_id: Option<String>,
    /// Maximum managed stages (master included).
    #[arg(long, env = "IVS_MAX_STAGES", default_value_t = 20)]
    pub max_stages: u32,
    /// Maximum viewers on one stage.
    #[arg(long, env = "IVS_VIEWERS_PER_STAGE", default_value_t = 50)]
    pub viewers_per_stage: u32,
    /// A stage reaching this many viewers makes a new one.
    #[arg(long, env = "IVS_SCALE_UP_THRESHOLD", default_value_t = 45)]
    pub scale_up_threshold: u32,
    /// An auto-scaled stage under this many viewers is drained.
    #[arg(long, env = "IVS_SCALE_DOWN_THRESHOLD", default_value_t = 5)]
    pub scale_down_threshold: u32,
    /// An auto-scaled stage under the scale-down threshold is drained only once it is at least this old (seconds).
    #[arg(long, env = "IVS_SCALE_DOWN_MIN_AGE_SECS", default_value_t = 300)]
    pub scale_down_min_age_secs: u64,
    /// Publisher token lifetime (seconds).
    #[arg(long, env = "IVS_PUBLISHER_TOKEN_TTL_SECS", default_value_t = 14_400)]
    pub publisher_token_ttl_secs: u64,
    /// Viewer token lifetime (seconds).
    #[arg(long, env = "IVS_VIEWER_TOKEN_TTL_SECS", default_value_t = 3_600)]
    pub viewer_token_ttl_secs: u64,
    /// A viewer silent this long is removed (seconds).
    #[arg(long, env = "IVS_HEARTBEAT_TIMEOUT_SECS", default_value_t = 60)]
    pub heartbeat_timeout_secs: u64,
    /// How often expired viewers are swept (milliseconds).
    #[arg(long, env = "IVS_SWEEP_INTERVAL_MS", default_value_t = 5_000)]
    pub sweep_interval_ms: u64,
    /// How often `/ws` subscribers get statistics (milliseconds).
    #[arg(long, env = "IVS_STATS_INTERVAL_MS", default_value_t = 5_000)]
    pub stats_interval_ms: u64,
    /// How long a finished viewer's watch time stays queryable (seconds).
    #[arg(long, env = "IVS_DURATION_RETENTION_SECS", default_value_t = 86_400)]
    pub duration_retention_secs: u64,
    /// Largest accepted request body (bytes).
    #[arg(long, env = "IVS_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: u64,
    /// Open `/ws` connections allowed per API key on one instance.
    #[arg(long, env = "IVS_WS_MAX_CONNECTIONS_PER_KEY", default_value_t = 10_000)]
    pub ws_max_connections_per_key: usize,
    /// How often `/ws` clients are pinged; one that answers none for two intervals is dropped (milliseconds).
    #[arg(long, env = "IVS_WS_PING_INTERVAL_MS", default_value_t = 15_000)]
    pub ws_ping_interval_ms: u64,
    /// Serve `/metrics` without an API key (for a scraper on a private network).
    #[arg(long, env = "IVS_METRICS_PUBLIC", default_value_t = false)]
    pub metrics_public: bool,
    /// Longest a client may take to send a request body (milliseconds).
    #[arg(long, env = "IVS_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,
    /// Longest a client may take to send a request's headers, from its first byte (a new connection: from accept); slower → connection closed (milliseconds).
    #[arg(long, env = "IVS_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// A keep-alive connection idle this long between requests is closed; keep it above the load balancer's idle timeout (milliseconds).
    #[arg(long, env = "IVS_IDLE_TIMEOUT_MS", default_value_t = 75_000)]
    pub idle_timeout_ms: u64,
    /// Open connections (`/ws` sessions included); at the cap new connections wait in the listen backlog.
    #[arg(long, env = "IVS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// On shutdown, how long requests under way may take before their connections are closed (milliseconds).
    #[arg(long, env = "IVS_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// Log format; `RUST_LOG` filters the lines.
    #[arg(long, env = "IVS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The resolved settings the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Accepted keys (never empty once resolved).
    pub api_keys: Vec<ApiKey>,
    /// Default requests per minute per key.
    pub rate_limit_per_minute: u32,
    /// Redis URL, if any (a comma-separated list: cluster seeds).
    pub redis_url: Option<String>,
    /// Cluster protocol: detected, on or off.
    pub redis_cluster: ClusterMode,
    /// CA bundle for `rediss://`.
    pub redis_ca_cert: Option<PathBuf>,
    /// Redis key prefix.
    pub redis_prefix: String,
    /// IVS backend.
    pub ivs_backend: BackendKind,
    /// IVS endpoint override.
    pub ivs_endpoint_url: Option<String>,
    /// AWS backend settings.
    pub aws: AwsSettings,
    /// Local emulator region.
    pub local_region: String,
    /// Local emulator account.
    pub local_account: String,
    /// Token key file.
    pub token_key_file: Option<PathBuf>,
    /// Imported public key ARN.
    pub public_key_arn: Option<String>,
    /// Existing master stage.
    pub master_stage_arn: Option<String>,
    /// Master stage name.
    pub master_stage_name: String,
    /// `Environment` tag value.
    pub environment: String,
    /// `Deployment` tag value; `None` derives it from the Redis prefix.
    pub deployment_id: Option<String>,
    /// Limits and timings.
    pub limits: Limits,
    /// `/metrics` needs no API key.
    pub metrics_public: bool,
    /// Open `/ws` connections per key on one instance.
    pub ws_max_connections_per_key: usize,
    /// The HTTP server's connection limits.
    pub connections: ConnectionLimits,
}

/// Limits of the HTTP server's connections (docs/operations.md, "Abuse limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest from a request's first byte (a new connection: from accept)
    /// to the end of its headers.
    pub header_read_timeout: Duration,
    /// Longest a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Most open connections, upgraded `/ws` ones included.
    pub max_connections: usize,
    /// On shutdown, how long requests under way may take.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            // Above the 60 s idle timeout of an AWS ALB (and most proxies):
            // the side that closes an idle connection first must be the load
            // balancer, or it may send a request into a socket being closed
            // and answer 502.
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A secret string: kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(Secret::new(s))
}

/// Static AWS credentials (for hosts outside AWS, and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsStaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
}

/// Settings of the AWS IVS backend (`IVS_BACKEND=aws`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region; `None` → the standard region chain.
    pub region: Option<String>,
    /// Static credentials; `None` → the standard credential chain.
    pub credentials: Option<AwsStaticCredentials>,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
    /// CreateParticipantToken calls per second (client-side budget).
    pub token_calls_per_sec: u32,
    /// Calls per second of each other operation (client-side budget).
    pub stage_calls_per_sec: u32,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            credentials: None,
            max_attempts: 4,
            attempt_timeout: Duration::from_secs(5),
            token_calls_per_sec: 50,
            stage_calls_per_sec: 5,
        }
    }
}

/// Every limit and timing of the spec, as settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum managed stages.
    pub max_stages: u32,
    /// Maximum viewers per stage.
    pub viewers_per_stage: u32,
    /// Scale-up threshold.
    pub scale_up_threshold: u32,
    /// Scale-down threshold.
    pub scale_down_threshold: u32,
    /// Minimum age before scale-down.
    pub scale_down_min_age: Duration,
    /// Publisher token lifetime.
    pub publisher_token_ttl: Duration,
    /// Viewer token lifetime.
    pub viewer_token_ttl: Duration,
    /// Heartbeat timeout.
    pub heartbeat_timeout: Duration,
    /// Sweep period.
    pub sweep_interval: Duration,
    /// Stats broadcast period.
    pub stats_interval: Duration,
    /// Watch-time retention.
    pub duration_retention: Duration,
    /// Body size bound.
    pub max_body_bytes: u64,
    /// Body upload time bound.
    pub body_timeout: Duration,
    /// `/ws` ping period.
    pub ws_ping_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stages: 20,
            viewers_per_stage: 50,
            scale_up_threshold: 45,
            scale_down_threshold: 5,
            scale_down_min_age: Duration::from_secs(300),
            publisher_token_ttl: Duration::from_secs(14_400),
            viewer_token_ttl: Duration::from_secs(3_600),
            heartbeat_timeout: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(5),
            stats_interval: Duration::from_secs(5),
            duration_retention: Duration::from_secs(86_400),
            max_body_bytes: 16 * 1024,
            body_timeout: Duration::from_secs(10),
            ws_ping_interval: Duration::from_secs(15),
        }
    }
}

impl Settings {
    /// How to reach Redis, when a URL is set.
    pub fn redis_options(&self) -> Option<RedisOptions> {
        let url = self.redis_url.as_deref()?;
        Some(RedisOptions {
            cluster: self.redis_cluster,
            ca_cert: self.redis_ca_cert.clone(),
            ..RedisOptions::from_list(url)
        })
    }

    /// The `Deployment` tag value: the configured one, else the Redis prefix
    /// without its trailing separator (stable across restarts, and distinct
    /// for two deployments sharing a Redis).
    pub fn deployment(&self) -> String {
        match &self.deployment_id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => {
                let p = self
                    .redis_prefix
                    .trim_end_matches([':', '/', '.', '-', '_']);
                if p.is_empty() {
                    "ivs".to_string()
                } else {
                    p.to_string()
                }
            }
        }
    }
}

impl Default for Settings {
    /// The embedded defaults, with the development key.
    fn default() -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            api_keys: vec![ApiKey {
                secret: DEV_API_KEY.into(),
                rate_per_minute: Some(DEV_KEY_RATE_PER_MINUTE),
            }],
            rate_limit_per_minute: 100,
            redis_url: None,
            redis_cluster: ClusterMode::Auto,
            redis_ca_cert: None,
            redis_prefix: "ivs:".into(),
            ivs_backend: BackendKind::Local,
            ivs_endpoint_url: None,
            aws: AwsSettings::default(),
            local_region: "ap-northeast-1".into(),
            local_account: "123456789012".into(),
            token_key_file: None,
            public_key_arn: None,
            master_stage_arn: None,
            master_stage_name: "master-stage".into(),
            environment: "development".into(),
            deployment_id: None,
            limits: Limits::default(),
            metrics_public: false,
            ws_max_connections_per_key: 10_000,
            connections: ConnectionLimits::default(),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No API key on a public bind.
    #[error("no API key configured and {0} is not a loopback address: set IVS_API_KEYS (or --api-keys) before exposing the server")]
    NoKeyOnPublicBind(SocketAddr),
    /// Inconsistent limits.
    #[error("invalid limits: {0}")]
    Limits(String),
}

impl Args {
    /// Resolves the arguments into settings. The second value says whether the
    /// development key was put in place (the caller warns about it).
    pub fn into_settings(self) -> Result<(Settings, bool), ConfigError> {
        let (api_keys, dev_key) = match self.api_keys.filter(|k| !k.is_empty()) {
            Some(keys) => (keys, false),
            None if self.bind.ip().is_loopback() => (Settings::default().api_keys, true),
            None => return Err(ConfigError::NoKeyOnPublicBind(self.bind)),
        };
        let limits = Limits {
            max_stages: self.max_stages,
            viewers_per_stage: self.viewers_per_stage,
            scale_up_threshold: self.scale_up_threshold,
            scale_down_threshold: self.scale_down_threshold,
            scale_down_min_age: Duration::from_secs(self.scale_down_min_age_secs),
            publisher_token_ttl: Duration::from_secs(self.publisher_token_ttl_secs),
            viewer_token_ttl: Duration::from_secs(self.viewer_token_ttl_secs),
            heartbeat_timeout: Duration::from_secs(self.heartbeat_timeout_secs),
            sweep_interval: Duration::from_millis(self.sweep_interval_ms),
            stats_interval: Duration::from_millis(self.stats_interval_ms),
            duration_retention: Duration::from_secs(self.duration_retention_secs),
            max_body_bytes: self.max_body_bytes,
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            ws_ping_interval: Duration::from_millis(self.ws_ping_interval_ms.max(100)),
        };
        validate_limits(&limits)?;
        let aws = AwsSettings {
            region: self.aws_region,
            credentials: match (self.aws_access_key_id, self.aws_secret_access_key) {
                (Some(access_key_id), Some(secret_access_key)) => Some(AwsStaticCredentials {
                    access_key_id,
                    secret_access_key,
                }),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::Limits(
                        "IVS_AWS_ACCESS_KEY_ID and IVS_AWS_SECRET_ACCESS_KEY go together".into(),
                    ))
                }
            },
            max_attempts: self.aws_max_attempts,
            attempt_timeout: Duration::from_millis(self.aws_timeout_ms),
            token_calls_per_sec: self.ivs_token_calls_per_sec,
            stage_calls_per_sec: self.ivs_stage_calls_per_sec,
        };
        validate_aws(&aws)?;
        let connections = ConnectionLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_connections: self.max_connections,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
        };
        validate_connections(&connections)?;
        Ok((
            Settings {
                bind: self.bind,
                api_keys,
                rate_limit_per_minute: self.rate_limit_per_minute.max(1),
                redis_url: self.redis_url,
                redis_cluster: self.redis_cluster,
                redis_ca_cert: self.redis_ca_cert,
                redis_prefix: self.redis_prefix,
                ivs_backend: self.ivs_backend,
                ivs_endpoint_url: self.ivs_endpoint_url,
                aws,
                local_region: self.local_region,
                local_account: self.local_account,
                token_key_file: self.token_key_file,
                public_key_arn: self.public_key_arn,
                master_stage_arn: self.master_stage_arn,
                master_stage_name: self.master_stage_name,
                environment: self.environment,
                deployment_id: self.deployment_id,
                limits,
                metrics_public: self.metrics_public,
                ws_max_connections_per_key: self.ws_max_connections_per_key,
                connections,
            },
            dev_key,
        ))
    }
}

/// Checks the AWS backend settings.
pub fn validate_aws(a: &AwsSettings) -> Result<(), ConfigError> {
    let bad = |s: &str| Err(ConfigError::Limits(s.into()));
    if !(1..=10).contains(&a.max_attempts) {
        return bad("IVS_AWS_MAX_ATTEMPTS must be between 1 and 10");
    }
    if a.attempt_timeout.is_zero() {
        return bad("IVS_AWS_TIMEOUT_MS must be positive");
    }
    if a.token_calls_per_sec == 0 || a.stage_calls_per_sec == 0 {
        return bad("IVS_TOKEN_CALLS_PER_SEC and IVS_STAGE_CALLS_PER_SEC must be at least 1");
    }
    Ok(())
}

/// Most connections `IVS_MAX_CONNECTIONS` accepts (each needs a file descriptor).
pub const MAX_CONNECTIONS_CEILING: usize = 1_000_000;

/// Checks the connection limits.
pub fn validate_connections(c: &ConnectionLimits) -> Result<(), ConfigError> {
    let bad = |s: &str| Err(ConfigError::Limits(s.into()));
    if c.header_read_timeout.is_zero() || c.idle_timeout.is_zero() {
        return bad("IVS_HEADER_READ_TIMEOUT_MS and IVS_IDLE_TIMEOUT_MS must be positive");
    }
    if !(1..=MAX_CONNECTIONS_CEILING).contains(&c.max_connections) {
        return bad("IVS_MAX_CONNECTIONS must be between 1 and 1000000");
    }
    Ok(())
}

/// Checks that the limits make sense together.
pub fn validate_limits(l: &Limits) -> Result<(), ConfigError> {
    let bad = |s: &str| Err(ConfigError::Limits(s.into()));
    if l.max_stages == 0 {
        return bad("IVS_MAX_STAGES must be at least 1");
    }
    if l.viewers_per_stage == 0 {
        return bad("IVS_VIEWERS_PER_STAGE must be at least 1");
    }
    if l.scale_up_threshold == 0 || l.scale_up_threshold > l.viewers_per_stage {
        return bad("IVS_SCALE_UP_THRESHOLD must be between 1 and IVS_VIEWERS_PER_STAGE");
    }
    if l.scale_down_threshold >= l.scale_up_threshold {
        return bad("IVS_SCALE_DOWN_THRESHOLD must be below IVS_SCALE_UP_THRESHOLD");
    }
    if l.viewer_token_ttl < Duration::from_secs(60)
        || l.publisher_token_ttl < Duration::from_secs(60)
        || l.viewer_token_ttl > Duration::from_secs(20_160 * 60)
        || l.publisher_token_ttl > Duration::from_secs(20_160 * 60)
    {
        return bad("token lifetimes must be between 60 s and 14 days (IVS's range)");
    }
    if l.heartbeat_timeout.is_zero() || l.sweep_interval.is_zero() || l.stats_interval.is_zero() {
        return bad("timeouts and intervals must be positive");
    }
    if l.max_body_bytes < 1024 {
        return bad("IVS_MAX_BODY_BYTES must be at least 1024");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_and_without_limits() {
        let keys = parse_api_keys("app-key-1:5000, bots-key-22 ,").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].secret, "app-key-1");
        assert_eq!(keys[0].rate_per_minute, Some(5000));
        assert_eq!(keys[1].rate_per_minute, None);
        assert!(parse_api_keys("short").is_err());
        assert!(parse_api_keys("longenough:0").is_err());
        assert!(!format!("{:?}", keys[0]).contains("app-key-1"));
    }

    #[test]
    fn no_key_refused_on_public_bind_and_dev_key_on_loopback() {
        let args = Args::parse_from(["ivs-server", "--bind", "0.0.0.0:3000"]);
        assert!(matches!(
            args.into_settings(),
            Err(ConfigError::NoKeyOnPublicBind(_))
        ));
        let args = Args::parse_from(["ivs-server"]);
        let (settings, dev) = args.into_settings().unwrap();
        assert!(dev);
        assert_eq!(settings.api_keys[0].secret, DEV_API_KEY);
        assert_eq!(settings.limits, Limits::default());
    }

    #[test]
    fn api_keys_flag_parses_into_a_list() {
        // clap must treat the value as one comma-separated list, not one key per flag.
        let args = Args::parse_from(["ivs-server", "--api-keys", "first-key-1:10,second-key-2"]);
        let (settings, dev) = args.into_settings().unwrap();
        assert!(!dev);
        assert_eq!(settings.api_keys.len(), 2);
        assert_eq!(settings.api_keys[0].rate_per_minute, Some(10));
    }

    #[test]
    fn connection_limits_from_flags() {
        let (settings, _) = Args::parse_from(["ivs-server"]).into_settings().unwrap();
        assert_eq!(settings.connections, ConnectionLimits::default());
        // The idle timeout outlasts an AWS ALB's 60 s default (see ConnectionLimits).
        assert!(settings.connections.idle_timeout > Duration::from_secs(60));
        let args = Args::parse_from([
            "ivs-server",
            "--header-read-timeout-ms",
            "500",
            "--idle-timeout-ms",
            "1500",
            "--max-connections",
            "5",
            "--shutdown-grace-ms",
            "2000",
        ]);
        let (settings, _) = args.into_settings().unwrap();
        assert_eq!(
            settings.connections,
            ConnectionLimits {
                header_read_timeout: Duration::from_millis(500),
                idle_timeout: Duration::from_millis(1500),
                max_connections: 5,
                shutdown_grace: Duration::from_secs(2),
            }
        );
        for bad in [
            ["--max-connections", "0"],
            ["--idle-timeout-ms", "0"],
            ["--header-read-timeout-ms", "0"],
        ] {
            let args = Args::parse_from(["ivs-server", bad[0], bad[1]]);
            assert!(matches!(args.into_settings(), Err(ConfigError::Limits(_))));
        }
    }

    #[test]
    fn redis_options_from_flags() {
        let (settings, _) = Args::parse_from(["ivs-server"]).into_settings().unwrap();
        assert_eq!(settings.redis_options(), None);
        assert_eq!(settings.redis_cluster, ClusterMode::Auto);
        let args = Args::parse_from([
            "ivs-server",
            "--redis-url",
            "rediss://u:p@a:7000, rediss://u:p@b:7001",
            "--redis-cluster",
            "on",
            "--redis-ca-cert",
            "/etc/ca.pem",
        ]);
        let (settings, _) = args.into_settings().unwrap();
        let options = settings.redis_options().unwrap();
        assert_eq!(options.urls, ["rediss://u:p@a:7000", "rediss://u:p@b:7001"]);
        assert_eq!(options.cluster, ClusterMode::On);
        assert_eq!(options.ca_cert, Some(PathBuf::from("/etc/ca.pem")));
        for mode in ["auto", "on", "off"] {
            assert!(Args::try_parse_from(["ivs-server", "--redis-cluster", mode]).is_ok());
        }
        assert!(Args::try_parse_from(["ivs-server", "--redis-cluster", "maybe"]).is_err());
    }

    #[test]
    fn bad_limits_refused() {
        let args = Args::parse_from(["ivs-server", "--scale-up-threshold", "60"]);
        assert!(matches!(args.into_settings(), Err(ConfigError::Limits(_))));
    }

    #[test]
    fn aws_settings_from_flags() {
        let (settings, _) = Args::parse_from(["ivs-server"]).into_settings().unwrap();
        assert_eq!(settings.aws, AwsSettings::default());
        let args = Args::parse_from([
            "ivs-server",
            "--aws-region",
            "ap-northeast-1",
            "--aws-access-key-id",
            "AKIDEXAMPLE",
            "--aws-secret-access-key",
            "very-secret",
            "--aws-max-attempts",
            "3",
            "--ivs-token-calls-per-sec",
            "25",
        ]);
        let (settings, _) = args.into_settings().unwrap();
        assert_eq!(settings.aws.region.as_deref(), Some("ap-northeast-1"));
        assert_eq!(settings.aws.max_attempts, 3);
        assert_eq!(settings.aws.token_calls_per_sec, 25);
        assert_eq!(settings.aws.stage_calls_per_sec, 5);
        let creds = settings.aws.credentials.clone().unwrap();
        assert_eq!(creds.secret_access_key.expose(), "very-secret");
        assert!(!format!("{settings:?}").contains("very-secret"));
        // The key id needs its secret.
        assert!(Args::try_parse_from(["ivs-server", "--aws-access-key-id", "AKID"]).is_err());
        let args = Args::parse_from(["ivs-server", "--ivs-stage-calls-per-sec", "0"]);
        assert!(matches!(args.into_settings(), Err(ConfigError::Limits(_))));
    }
}
