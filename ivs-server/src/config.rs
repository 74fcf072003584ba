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

/// Command-line and environment configuration: one group of flags per
/// subsystem, each a struct of its own.
///
/// A setting's flag, environment variable, default and help text are written
/// once, on its field; the `Default` of each settings struct is that struct
/// parsed from an empty command line (`defaults` below), so a default cannot
/// be written twice and drift.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ivs-server",
    version,
    about = "AWS IVS Real-time token and viewer server",
    long_about = None,
    mut_args(placeholder_from_flag)
)]
pub struct Args {
    /// Listening, API keys and logging.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The Redis store.
    #[command(flatten)]
    pub redis: RedisSettings,
    /// The IVS backend, the token key and the stages the server owns.
    #[command(flatten)]
    pub ivs: IvsSettings,
    /// The AWS IVS backend's client.
    #[command(flatten)]
    pub aws: AwsSettings,
    /// The embedded emulator.
    #[command(flatten)]
    pub local: LocalSettings,
    /// The spec's limits and timings.
    #[command(flatten)]
    pub limits: Limits,
    /// The HTTP server's connections.
    #[command(flatten)]
    pub connections: ConnectionLimits,
    /// IVS events in (SQS) and the publisher-liveness poll.
    #[command(flatten)]
    pub ivs_events: IvsEventsSettings,
    /// Webhooks out (docs/webhooks.md).
    #[command(flatten)]
    pub webhooks: WebhookSettings,
}

/// Listening, API keys and logging: the settings [`Args::into_settings`]
/// resolves (the development key, the floor of the rate limit) before they
/// become fields of [`Settings`].
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "IVS_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// Accepted API keys, comma-separated, each at least 8 characters; `key:limit` gives a key its own requests/minute. Unset: the development key `dev-api-key` on a loopback bind; on any other bind the server refuses to start.
    #[arg(long, env = "IVS_API_KEYS", value_parser = parse_api_keys, hide_env_values = true)]
    pub api_keys: Option<std::vec::Vec<ApiKey>>,
    /// Requests per minute per API key (keys without their own limit).
    #[arg(long, env = "IVS_RATE_LIMIT_PER_MINUTE", default_value_t = 100)]
    pub rate_limit_per_minute: u32,
    /// Open `/ws` connections allowed per API key on one instance.
    #[arg(long, env = "IVS_WS_MAX_CONNECTIONS_PER_KEY", default_value_t = 10_000)]
    pub ws_max_connections_per_key: usize,
    /// Serve `/metrics` without an API key (for a scraper on a private network).
    #[arg(long, env = "IVS_METRICS_PUBLIC", default_value_t = false)]
    pub metrics_public: bool,
    /// Log format; `RUST_LOG` filters the lines.
    #[arg(long, env = "IVS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The Redis store (`REDIS_URL` unset: the in-process store).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RedisSettings {
    /// Redis URL (`redis://[user:password@]host:port`, `rediss://`, `redis+unix://`, `unix://`); comma-separated: cluster seed nodes; unset → in-process store.
    #[arg(long = "redis-url", env = "REDIS_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// Redis Cluster protocol: `auto` asks the first reachable URL (`CLUSTER INFO`), `on`/`off` force it.
    // The default is `ClusterMode`'s own (its `#[default]` variant).
    #[arg(
        long = "redis-cluster",
        env = "REDIS_CLUSTER",
        value_enum,
        default_value_t
    )]
    pub cluster: ClusterMode,
    /// PEM file of the CA(s) to trust for `rediss://` instead of the built-in roots (a private CA).
    #[arg(long = "redis-ca-cert", env = "REDIS_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Prefix of every Redis key; it becomes a Redis Cluster hash tag (`ivs:` → `{ivs}:`), so one deployment's keys share one slot.
    #[arg(
        long = "redis-prefix",
        env = "IVS_REDIS_PREFIX",
        default_value = "ivs:"
    )]
    pub prefix: String,
    /// Fleet events the store keeps for webhook delivery and the `/ws` events channel (either store; Redis trims a little above it); beyond it the oldest are dropped, delivered or not (docs/redis.md, "The event log").
    #[arg(
        long = "event-log-max",
        env = "IVS_EVENT_LOG_MAX",
        default_value_t = crate::store::events::DEFAULT_EVENT_LOG_MAX,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub event_log_max: u64,
}

impl RedisSettings {
    /// How to reach Redis, when a URL is set.
    pub fn options(&self) -> Option<RedisOptions> {
        let url = self.url.as_deref()?;
        Some(RedisOptions {
            cluster: self.cluster,
            ca_cert: self.ca_cert.clone(),
            ..RedisOptions::from_list(url)
        })
    }
}

/// Which IVS backend, how participant tokens are signed, and which stages
/// are this deployment's.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct IvsSettings {
    /// IVS backend: the embedded emulator, or AWS IVS Real-time (docs/aws.md).
    #[arg(
        long = "ivs-backend",
        env = "IVS_BACKEND",
        value_enum,
        default_value_t = BackendKind::Local
    )]
    pub backend: BackendKind,
    /// IVS control-plane endpoint override (AWS backend; tests point it at a mock).
    #[arg(long = "ivs-endpoint-url", env = "IVS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
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
}

/// The embedded emulator's ARNs.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct LocalSettings {
    /// Region of the local emulator's ARNs (the AWS backend uses the standard AWS region chain).
    #[arg(
        id = "local_region",
        long = "local-region",
        env = "IVS_LOCAL_REGION",
        default_value = "ap-northeast-1"
    )]
    pub region: String,
    /// Account id of the local emulator's ARNs.
    #[arg(
        long = "local-account",
        env = "IVS_LOCAL_ACCOUNT",
        default_value = "123456789012"
    )]
    pub account: String,
}

/// The resolved settings the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Accepted keys (never empty once resolved).
    pub api_keys: Vec<ApiKey>,
    /// Default requests per minute per key.
    pub rate_limit_per_minute: u32,
    /// Open `/ws` connections per key on one instance.
    pub ws_max_connections_per_key: usize,
    /// `/metrics` needs no API key.
    pub metrics_public: bool,
    /// The Redis store, if any.
    pub redis: RedisSettings,
    /// IVS backend, token key and stage identity.
    pub ivs: IvsSettings,
    /// AWS backend settings.
    pub aws: AwsSettings,
    /// The embedded emulator's ARNs.
    pub local: LocalSettings,
    /// Limits and timings.
    pub limits: Limits,
    /// The HTTP server's connection limits.
    pub connections: ConnectionLimits,
    /// IVS events in (SQS) and the publisher-liveness poll.
    pub ivs_events: IvsEventsSettings,
    /// Webhooks out.
    pub webhooks: WebhookSettings,
}

/// IVS events in through Amazon SQS, and the publisher-liveness poll that
/// stays as their fallback (docs/aws.md, "IVS events").
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct IvsEventsSettings {
    /// URL of the SQS queue an EventBridge rule fills with IVS "IVS Stage Update" events; every instance long-polls it. Unset: publisher liveness and replication by polling only.
    #[arg(
        id = "events_queue_url",
        long = "ivs-events-queue-url",
        env = "IVS_EVENTS_QUEUE_URL"
    )]
    pub queue_url: Option<String>,
    /// SQS endpoint override (tests point it at a local SQS); unset: AWS's, or AWS_ENDPOINT_URL_SQS.
    #[arg(
        id = "events_endpoint_url",
        long = "ivs-events-endpoint-url",
        env = "IVS_EVENTS_ENDPOINT_URL"
    )]
    pub endpoint_url: Option<String>,
    /// How often the maintenance instance polls IVS for the publisher's liveness without a queue (milliseconds).
    #[arg(
        long = "publisher-poll-ms",
        env = "IVS_PUBLISHER_POLL_MS",
        default_value = "5000",
        value_parser = millis
    )]
    pub publisher_poll: Duration,
    /// The same poll's period when IVS_EVENTS_QUEUE_URL is set: events bring changes at once, the poll only repairs missed ones (milliseconds).
    #[arg(
        long = "publisher-poll-with-events-ms",
        env = "IVS_PUBLISHER_POLL_WITH_EVENTS_MS",
        default_value = "60000",
        value_parser = millis
    )]
    pub publisher_poll_with_events: Duration,
}

impl IvsEventsSettings {
    /// The liveness poll's period in force.
    pub fn poll_interval(&self) -> Duration {
        if self.queue_url.is_some() {
            self.publisher_poll_with_events
        } else {
            self.publisher_poll
        }
    }
}

/// Limits of the HTTP server's connections (docs/operations.md, "Abuse limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ConnectionLimits {
    /// Longest a client may take to send a request's headers, from its first byte (a new connection: from accept); slower → connection closed (milliseconds).
    #[arg(
        long = "header-read-timeout-ms",
        env = "IVS_HEADER_READ_TIMEOUT_MS",
        default_value = "10000",
        value_parser = millis
    )]
    pub header_read_timeout: Duration,
    /// A keep-alive connection idle this long between requests is closed; keep it above the load balancer's idle timeout (milliseconds).
    // Above the 60 s idle timeout of an AWS ALB (and most proxies): the side
    // that closes an idle connection first must be the load balancer, or it
    // may send a request into a socket being closed and answer 502.
    #[arg(
        long = "idle-timeout-ms",
        env = "IVS_IDLE_TIMEOUT_MS",
        default_value = "75000",
        value_parser = millis
    )]
    pub idle_timeout: Duration,
    /// Open connections (`/ws` sessions included); at the cap new connections wait in the listen backlog.
    #[arg(long, env = "IVS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// On shutdown, how long requests under way may take before their connections are closed (milliseconds).
    #[arg(
        long = "shutdown-grace-ms",
        env = "IVS_SHUTDOWN_GRACE_MS",
        default_value = "10000",
        value_parser = millis
    )]
    pub shutdown_grace: Duration,
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
///
/// Flattened as an `Option`, present when either flag is given. clap would
/// still demand both fields when neither is given, hence `required = false`;
/// `requires` makes them a pair instead.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AwsStaticCredentials {
    /// Static AWS access key id for the IVS backend; unset → the standard credential chain.
    #[arg(
        long = "aws-access-key-id",
        env = "IVS_AWS_ACCESS_KEY_ID",
        required = false,
        requires = "secret_access_key"
    )]
    pub access_key_id: String,
    /// The secret access key that goes with `--aws-access-key-id`.
    #[arg(
        long = "aws-secret-access-key",
        env = "IVS_AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        value_parser = parse_secret,
        required = false,
        requires = "access_key_id"
    )]
    pub secret_access_key: Secret,
}

/// Settings of the AWS IVS backend (`IVS_BACKEND=aws`).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AwsSettings {
    /// AWS region of the IVS backend; unset → the standard AWS region chain (AWS_REGION, profile, IMDS).
    #[arg(id = "aws_region", long = "aws-region", env = "IVS_AWS_REGION")]
    pub region: Option<String>,
    /// Static credentials; `None` → the standard credential chain.
    #[command(flatten)]
    pub credentials: Option<AwsStaticCredentials>,
    /// Attempts per IVS call, the first included; throttling, 5xx and network errors are retried.
    #[arg(
        long = "aws-max-attempts",
        env = "IVS_AWS_MAX_ATTEMPTS",
        default_value_t = 4
    )]
    pub max_attempts: u32,
    /// Timeout of one IVS call attempt (milliseconds).
    #[arg(
        long = "aws-timeout-ms",
        env = "IVS_AWS_TIMEOUT_MS",
        default_value = "5000",
        value_parser = millis
    )]
    pub attempt_timeout: Duration,
    /// CreateParticipantToken calls per second this instance allows itself (IVS: 50 per account and region).
    #[arg(
        long = "ivs-token-calls-per-sec",
        env = "IVS_TOKEN_CALLS_PER_SEC",
        default_value_t = 50
    )]
    pub token_calls_per_sec: u32,
    /// Calls per second of each other IVS operation this instance allows itself (IVS: 5 per account and region).
    #[arg(
        long = "ivs-stage-calls-per-sec",
        env = "IVS_STAGE_CALLS_PER_SEC",
        default_value_t = 5
    )]
    pub stage_calls_per_sec: u32,
}

/// Every limit and timing of the spec, as settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Limits {
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
    #[arg(
        long = "scale-down-min-age-secs",
        env = "IVS_SCALE_DOWN_MIN_AGE_SECS",
        default_value = "300",
        value_parser = secs
    )]
    pub scale_down_min_age: Duration,
    /// Publisher token lifetime (seconds).
    #[arg(
        long = "publisher-token-ttl-secs",
        env = "IVS_PUBLISHER_TOKEN_TTL_SECS",
        default_value = "14400",
        value_parser = secs
    )]
    pub publisher_token_ttl: Duration,
    /// Viewer token lifetime (seconds).
    #[arg(
        long = "viewer-token-ttl-secs",
        env = "IVS_VIEWER_TOKEN_TTL_SECS",
        default_value = "3600",
        value_parser = secs
    )]
    pub viewer_token_ttl: Duration,
    /// A viewer silent this long is removed (seconds).
    #[arg(
        long = "heartbeat-timeout-secs",
        env = "IVS_HEARTBEAT_TIMEOUT_SECS",
        default_value = "60",
        value_parser = secs
    )]
    pub heartbeat_timeout: Duration,
    /// How often expired viewers are swept (milliseconds).
    #[arg(
        long = "sweep-interval-ms",
        env = "IVS_SWEEP_INTERVAL_MS",
        default_value = "5000",
        value_parser = millis
    )]
    pub sweep_interval: Duration,
    /// How often `/ws` subscribers get statistics (milliseconds).
    #[arg(
        long = "stats-interval-ms",
        env = "IVS_STATS_INTERVAL_MS",
        default_value = "5000",
        value_parser = millis
    )]
    pub stats_interval: Duration,
    /// How long a finished viewer's watch time stays queryable (seconds).
    #[arg(
        long = "duration-retention-secs",
        env = "IVS_DURATION_RETENTION_SECS",
        default_value = "86400",
        value_parser = secs
    )]
    pub duration_retention: Duration,
    /// Largest accepted request body (bytes).
    #[arg(long, env = "IVS_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: u64,
    /// Longest a client may take to send a request body (milliseconds).
    #[arg(
        long = "body-timeout-ms",
        env = "IVS_BODY_TIMEOUT_MS",
        default_value = "10000",
        value_parser = millis
    )]
    pub body_timeout: Duration,
    /// How often `/ws` clients are pinged; one that answers none for two intervals is dropped (milliseconds).
    #[arg(
        long = "ws-ping-interval-ms",
        env = "IVS_WS_PING_INTERVAL_MS",
        default_value = "15000",
        value_parser = millis
    )]
    pub ws_ping_interval: Duration,
}

/// The shortest `/ws` ping interval; a smaller setting is raised to it
/// (`tokio::time::interval` panics on a zero period, and a few milliseconds
/// would only flood the clients with pings).
const MIN_WS_PING_INTERVAL: Duration = Duration::from_millis(100);

/// The longest duration a setting takes. Durations are added to clocks
/// (`Instant`, Unix milliseconds), where an absurd value would overflow;
/// nothing the server waits for lasts longer than this.
pub(crate) const MAX_SETTING_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Why a duration setting was refused.
#[derive(Debug, thiserror::Error)]
enum DurationError {
    #[error(transparent)]
    NotANumber(#[from] std::num::ParseIntError),
    #[error("at most {0} (a year)")]
    TooLong(u64),
}

fn bounded(d: Duration, max_in_unit: u64) -> Result<Duration, DurationError> {
    if d > MAX_SETTING_DURATION {
        return Err(DurationError::TooLong(max_in_unit));
    }
    Ok(d)
}

fn secs(s: &str) -> Result<Duration, DurationError> {
    let d = Duration::from_secs(s.parse()?);
    bounded(d, MAX_SETTING_DURATION.as_secs())
}

fn millis(s: &str) -> Result<Duration, DurationError> {
    let d = Duration::from_millis(s.parse()?);
    bounded(d, MAX_SETTING_DURATION.as_secs() * 1000)
}

/// Names a setting's value in `--help` after its flag (`--sweep-interval-ms
/// <SWEEP_INTERVAL_MS>`), not after the field it fills (`sweep_interval`),
/// so that the unit a flag's name carries is shown with its value.
fn placeholder_from_flag(arg: clap::Arg) -> clap::Arg {
    match arg.get_long() {
        Some(long) if arg.get_action().takes_values() => {
            let name = long.to_uppercase().replace('-', "_");
            arg.value_name(name)
        }
        _ => arg,
    }
}

/// The command that parses `T` with no environment variable attached, so
/// that what it parses from an empty command line is the code's defaults,
/// whatever the process environment holds.
fn defaults_command<T: clap::Args>() -> clap::Command {
    T::augment_args(clap::Command::new("ivs-server").no_binary_name(true)).mut_args(|a| a.env(None))
}

/// `T` as an empty command line gives it: every setting at the default its
/// flag declares. This is every settings struct's `Default`.
fn defaults<T: clap::Args>() -> T {
    // Only a default value that does not parse fails here: a programming
    // error, which the tests below catch for every struct.
    defaults_command::<T>()
        .try_get_matches_from(std::iter::empty::<String>())
        .and_then(|m| T::from_arg_matches(&m))
        .unwrap_or_else(|e| panic!("the settings' defaults do not parse: {e}"))
}

// Every settings struct's `Default` is its flags' defaults.
macro_rules! default_from_flags {
    ($($settings:ty),+) => {$(
        impl Default for $settings {
            fn default() -> Self {
                defaults()
            }
        }
    )+};
}

default_from_flags!(
    RedisSettings,
    IvsSettings,
    AwsSettings,
    LocalSettings,
    Limits,
    ConnectionLimits,
    IvsEventsSettings,
    WebhookSettings
);

/// The development key, the only one when none is configured.
fn dev_api_keys() -> Vec<ApiKey> {
    vec![ApiKey {
        secret: DEV_API_KEY.into(),
        rate_per_minute: Some(DEV_KEY_RATE_PER_MINUTE),
    }]
}

impl Settings {
    /// The `Deployment` tag value: the configured one, else the Redis prefix
    /// without its trailing separator (stable across restarts, and distinct
    /// for two deployments sharing a Redis).
    pub fn deployment(&self) -> String {
        match &self.ivs.deployment_id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => {
                let p = self
                    .redis
                    .prefix
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
        defaults::<Args>().assemble(dev_api_keys())
    }
}

// ---- Webhooks out (docs/webhooks.md); parsing and checks in `webhooks::settings`.

pub use crate::webhooks::settings::{EventFilter, WebhookSecret, WebhookUrls};

/// Webhooks out: where events are POSTed, the signing secret, which types,
/// and how long and how hard delivery tries.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct WebhookSettings {
    /// Webhook endpoints (`http://` or `https://`), comma-separated; unset → no webhooks.
    #[arg(
        long = "webhook-urls",
        env = "IVS_WEBHOOK_URLS",
        value_parser = crate::webhooks::settings::parse_urls,
        hide_env_values = true
    )]
    pub urls: Option<WebhookUrls>,
    /// Signing secret of the Standard Webhooks scheme: `whsec_` + base64 of 24 to 64 random bytes; required with `IVS_WEBHOOK_URLS`.
    #[arg(
        long = "webhook-secret",
        env = "IVS_WEBHOOK_SECRET",
        value_parser = crate::webhooks::settings::parse_secret,
        hide_env_values = true
    )]
    pub secret: Option<WebhookSecret>,
    /// Event types to send, comma-separated, `*` matching any characters (`stage.*,publisher.*`); each must match a known type.
    #[arg(
        long = "webhook-events",
        env = "IVS_WEBHOOK_EVENTS",
        default_value = "*",
        value_parser = crate::webhooks::settings::parse_filter
    )]
    pub events: EventFilter,
    /// How long an event is retried before it is dropped and counted (seconds).
    #[arg(
        long = "webhook-retry-window-secs",
        env = "IVS_WEBHOOK_RETRY_WINDOW_SECS",
        default_value = "86400",
        value_parser = secs
    )]
    pub retry_window: Duration,
    /// Timeout of one delivery attempt, response included (milliseconds).
    #[arg(
        long = "webhook-timeout-ms",
        env = "IVS_WEBHOOK_TIMEOUT_MS",
        default_value = "15000",
        value_parser = millis
    )]
    pub timeout: Duration,
    /// Delay before the first retry; each further retry waits twice as long, with jitter (milliseconds).
    #[arg(
        long = "webhook-backoff-ms",
        env = "IVS_WEBHOOK_BACKOFF_MS",
        default_value = "5000",
        value_parser = millis
    )]
    pub backoff: Duration,
    /// Longest wait between two retries of one event (seconds).
    #[arg(
        long = "webhook-backoff-max-secs",
        env = "IVS_WEBHOOK_BACKOFF_MAX_SECS",
        default_value = "3600",
        value_parser = secs
    )]
    pub backoff_max: Duration,
    /// Requests in flight per endpoint on one instance.
    #[arg(
        long = "webhook-concurrency",
        env = "IVS_WEBHOOK_CONCURRENCY",
        default_value_t = 32
    )]
    pub concurrency: u32,
    /// Nice value (0 to 19) of the thread that delivers webhooks, so that joins and heartbeats come first when CPU is short (Linux; 0 = the server's own priority).
    #[arg(
        long = "webhook-nice",
        env = "IVS_WEBHOOK_NICE",
        default_value_t = 10,
        value_parser = clap::value_parser!(i32).range(0..=19)
    )]
    pub nice: i32,
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
    /// Webhook settings that cannot work.
    #[error("invalid webhook settings: {0}")]
    Webhooks(String),
}

impl Args {
    /// Resolves the arguments into settings. The second value says whether the
    /// development key was put in place (the caller warns about it).
    pub fn into_settings(mut self) -> Result<(Settings, bool), ConfigError> {
        let (api_keys, dev_key) = match self.server.api_keys.take().filter(|k| !k.is_empty()) {
            Some(keys) => (keys, false),
            None if self.server.bind.ip().is_loopback() => (dev_api_keys(), true),
            None => return Err(ConfigError::NoKeyOnPublicBind(self.server.bind)),
        };
        let settings = self.assemble(api_keys);
        validate_limits(&settings.limits)?;
        validate_aws(&settings.aws)?;
        validate_connections(&settings.connections)?;
        validate_ivs_events(&settings.ivs_events)?;
        crate::webhooks::settings::validate(&settings.webhooks)?;
        Ok((settings, dev_key))
    }

    /// The settings these arguments give with these keys, not yet validated.
    fn assemble(self, api_keys: Vec<ApiKey>) -> Settings {
        let Args {
            server,
            redis,
            ivs,
            aws,
            local,
            mut limits,
            connections,
            ivs_events,
            webhooks,
        } = self;
        limits.ws_ping_interval = limits.ws_ping_interval.max(MIN_WS_PING_INTERVAL);
        Settings {
            bind: server.bind,
            api_keys,
            rate_limit_per_minute: server.rate_limit_per_minute.max(1),
            ws_max_connections_per_key: server.ws_max_connections_per_key,
            metrics_public: server.metrics_public,
            redis,
            ivs,
            aws,
            local,
            limits,
            connections,
            ivs_events,
            webhooks,
        }
    }
}

/// Checks the IVS-events settings.
pub fn validate_ivs_events(e: &IvsEventsSettings) -> Result<(), ConfigError> {
    if e.queue_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
        return Err(ConfigError::Limits(
            "IVS_EVENTS_QUEUE_URL must be a queue URL when set".into(),
        ));
    }
    if e.publisher_poll < Duration::from_millis(500)
        || e.publisher_poll_with_events < Duration::from_millis(500)
    {
        return Err(ConfigError::Limits(
            "IVS_PUBLISHER_POLL_MS and IVS_PUBLISHER_POLL_WITH_EVENTS_MS must be at least 500"
                .into(),
        ));
    }
    Ok(())
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
    let longest = Duration::from_secs(crate::ivs::rules::MAX_TOKEN_MINUTES * 60);
    if l.viewer_token_ttl < Duration::from_secs(60)
        || l.publisher_token_ttl < Duration::from_secs(60)
        || l.viewer_token_ttl > longest
        || l.publisher_token_ttl > longest
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
    use clap::{CommandFactory, FromArgMatches};

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
        assert_eq!(settings.redis.options(), None);
        assert_eq!(settings.redis.cluster, ClusterMode::Auto);
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
        let options = settings.redis.options().unwrap();
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
        // Each needs the other.
        assert!(Args::try_parse_from(["ivs-server", "--aws-access-key-id", "AKID"]).is_err());
        assert!(Args::try_parse_from(["ivs-server", "--aws-secret-access-key", "s"]).is_err());
        let args = Args::parse_from(["ivs-server", "--ivs-stage-calls-per-sec", "0"]);
        assert!(matches!(args.into_settings(), Err(ConfigError::Limits(_))));
    }

    /// Every settings struct's `Default` is what an empty command line
    /// parses to: nothing to keep in step by hand.
    #[test]
    fn defaults_are_what_an_empty_command_line_gives() {
        // Parsed the way the binary parses (the process environment is read:
        // this assumes no `IVS_*` setting is exported where tests run).
        let (parsed, dev_key) = Args::parse_from(["ivs-server"]).into_settings().unwrap();
        assert!(dev_key);
        let defaults = Settings::default();
        assert_eq!(defaults, parsed);
        // Each struct parsed on its own gives the same values as parsed
        // within the whole command line.
        assert_eq!(Limits::default(), parsed.limits);
        assert_eq!(ConnectionLimits::default(), parsed.connections);
        assert_eq!(AwsSettings::default(), parsed.aws);
        assert_eq!(RedisSettings::default(), parsed.redis);
        assert_eq!(IvsSettings::default(), parsed.ivs);
        assert_eq!(LocalSettings::default(), parsed.local);
        // A few spec values, so that a default changed by mistake shows here
        // as well as in docs/configuration.md.
        assert_eq!(defaults.limits.max_stages, 20);
        assert_eq!(defaults.limits.heartbeat_timeout, Duration::from_secs(60));
        assert_eq!(defaults.connections.idle_timeout, Duration::from_secs(75));
        assert_eq!(defaults.aws.attempt_timeout, Duration::from_secs(5));
        assert_eq!(defaults.redis.cluster, ClusterMode::default());
    }

    /// `Default` never reads the environment: the command it parses has no
    /// variable attached, while the binary's has one for every setting.
    #[test]
    fn defaults_ignore_the_environment() {
        let with_env = Args::command();
        let settings: Vec<_> = with_env
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .collect();
        assert!(settings.len() > 40);
        assert!(settings.iter().all(|a| a.get_env().is_some()));
        assert!(defaults_command::<Args>()
            .get_arguments()
            .all(|a| a.get_env().is_none()));
    }

    #[test]
    fn durations_from_their_units() {
        let args = Args::parse_from([
            "ivs-server",
            "--heartbeat-timeout-secs",
            "7",
            "--sweep-interval-ms",
            "250",
            "--aws-timeout-ms",
            "1500",
            "--ws-ping-interval-ms",
            "0",
        ]);
        let (settings, _) = args.into_settings().unwrap();
        assert_eq!(settings.limits.heartbeat_timeout, Duration::from_secs(7));
        assert_eq!(settings.limits.sweep_interval, Duration::from_millis(250));
        assert_eq!(settings.aws.attempt_timeout, Duration::from_millis(1500));
        // A zero ping interval would panic the `/ws` timer: raised to the floor.
        assert_eq!(settings.limits.ws_ping_interval, MIN_WS_PING_INTERVAL);
        for bad in ["-1", "5s", "", "1.5"] {
            let parsed = Args::try_parse_from(["ivs-server", "--sweep-interval-ms", bad]);
            assert!(parsed.is_err(), "{bad:?} accepted");
        }
        // Past a year, refused at start rather than overflowing a clock later.
        let year_ms = MAX_SETTING_DURATION.as_millis().to_string();
        assert!(Args::try_parse_from(["ivs-server", "--sweep-interval-ms", &year_ms]).is_ok());
        let err = Args::try_parse_from(["ivs-server", "--webhook-backoff-max-secs", "99999999999"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 31622400 (a year)"), "{err}");
        let err = Args::try_parse_from([
            "ivs-server",
            "--aws-timeout-ms",
            &(MAX_SETTING_DURATION.as_millis() + 1).to_string(),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("at most 31622400000 (a year)"), "{err}");
    }

    #[test]
    fn value_placeholders_carry_the_flags_unit() {
        let cmd = Args::command();
        let placeholder = |id: &str| {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_value_names().unwrap().join(" ")
        };
        assert_eq!(placeholder("sweep_interval"), "SWEEP_INTERVAL_MS");
        assert_eq!(placeholder("scale_down_min_age"), "SCALE_DOWN_MIN_AGE_SECS");
        assert_eq!(placeholder("url"), "REDIS_URL");
    }

    /// The credentials group is present when its values come from the
    /// environment only. The test points the two flags at variables the
    /// process already has instead of setting any (tests share one
    /// environment).
    #[test]
    fn aws_credentials_from_the_environment() {
        let vars: Vec<(String, String)> = std::env::vars()
            .filter(|(_, v)| !v.is_empty())
            .take(2)
            .collect();
        let [(id_var, id), (secret_var, secret)] = &vars[..] else {
            panic!("the test needs two non-empty environment variables");
        };
        let cmd = Args::command()
            .mut_arg("access_key_id", |a| a.env(id_var.clone()))
            .mut_arg("secret_access_key", |a| a.env(secret_var.clone()));
        let matches = cmd.clone().try_get_matches_from(["ivs-server"]).unwrap();
        let args = Args::from_arg_matches(&matches).unwrap();
        let creds = args.aws.credentials.unwrap();
        assert_eq!(&creds.access_key_id, id);
        assert_eq!(creds.secret_access_key.expose(), secret);
        // One of the pair from the environment, the other missing: refused.
        let cmd = cmd.mut_arg("secret_access_key", |a| a.env(None));
        assert!(cmd.try_get_matches_from(["ivs-server"]).is_err());
    }
}
