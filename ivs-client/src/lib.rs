//! Async Rust client SDK for [ivs-server](https://github.com/ivs-realtime-rs/ivs-realtime):
//! viewer and publisher tokens for AWS IVS Real-time stages, viewer
//! heartbeats, stage management and live statistics.
//!
//! # Quick start
//!
//! ```
//! use std::time::Duration;
//! use ivs_client::{Client, SessionEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (base_url, api_key) = ivs_test_support::doc::server().await;
//! // Or Client::from_env() for IVS_SERVER and IVS_API_KEY.
//! let client = Client::new(base_url, api_key)?;
//!
//! // A viewer: token + heartbeats + rejoin + token refresh, in one task.
//! let mut session = client.join("viewer-001".parse()?).await?;
//! let token = session.token();
//! println!("play stage {} with token {}…", token.stage_arn, &token.token[..8]);
//!
//! // Watch for ten minutes (or until the session's task ends).
//! let until = tokio::time::Instant::now() + Duration::from_secs(600);
//! # // A moment is enough for the example.
//! # let until = tokio::time::Instant::now() + Duration::from_millis(300);
//! while let Ok(Some(event)) = tokio::time::timeout_at(until, session.next_event()).await {
//!     if let SessionEvent::Rejoined { token } | SessionEvent::TokenRefreshed { token } = event {
//!         // Give the IVS player the new token (and stage).
//!         # let _ = token;
//!     }
//! }
//! let watched = session.stop().await?; // sends leave
//! # let _ = watched;
//!
//! // Plain calls, one module per API area.
//! let stats = client.stats().overall().await?;
//! println!("{} viewers", stats.total_viewers);
//! # Ok(()) }
//! ```
//!
//! # Ids
//!
//! Calls take a [`UserId`] and a [`StageArn`], not strings, so the two
//! cannot be swapped. Both parse with [`FromStr`](std::str::FromStr), which
//! checks the API's rules (an [`IdError`] says which is broken); a parsed id
//! is not checked again:
//!
//! ```
//! use ivs_client::{IdError, StageArn, UserId};
//!
//! let user: UserId = "viewer-001".parse()?;
//! let stage: StageArn = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8".parse()?;
//! assert_eq!(stage.id(), "sWyAydfRqqF8");
//! assert!("".parse::<UserId>().is_err());
//! assert!("not-an-arn".parse::<StageArn>().is_err());
//! # let _ = user;
//! # Ok::<(), IdError>(())
//! ```
//!
//! # Streams
//!
//! [`StatsStream`], [`StageListStream`](api::StageListStream) and
//! [`EventStream`] have an inherent `next().await`, so a `while let` loop
//! needs no other crate. They are also [`Stream`]s; [`StreamExt`] is
//! re-exported here for its combinators (`filter_map`, `take`, ...).
//!
//! # Layout
//!
//! - [`Client`] / [`ClientBuilder`]: configuration, one per server; cheap to
//!   clone. [`Client::from_env`] reads `IVS_SERVER` and `IVS_API_KEY`.
//! - [`api`]: `client.tokens()`, `client.stages()`, `client.viewers()`,
//!   `client.stats()` — one typed async method per endpoint; plus
//!   [`Client::health`].
//! - [`model`]: the wire types, shared with the server.
//! - [`heartbeat`]: [`Client::start_heartbeat`], a task that keeps a viewer counted.
//! - [`session`]: [`Client::join`], a viewer that rejoins and refreshes its token by itself.
//! - [`stream`]: [`Client::stats_stream`], live statistics over WebSocket with reconnects.
//! - [`webhook`]: verifies the server's signed webhook deliveries and reads
//!   their [`Event`](model::Event)s (`webhook` feature, on by default).
//! - [`Error`]: typed errors with the API's [`ErrorCode`];
//!   [`ApiError`] for the server's answers (English details, request id,
//!   rate-limit state), [`TransportError`] for requests that got no answer.
//!
//! # Retries
//!
//! Requests are retried per [`RetryPolicy`]: exponential backoff with
//! jitter, 3 attempts and 30 s in all by default, `Retry-After` honoured.
//! Idempotent calls retry on transport failures, timeouts, 429 and
//! 502/503/504; token requests and stage creation only where the server
//! cannot have acted. The [`retry`] module has the full table and the reasons
//! (including why `backon` and not `backoff`).
//!
//! # Authentication and logging
//!
//! The API key goes in `x-api-key` on every request except `GET /health`
//! (public; a secret not sent cannot leak) and on the WebSocket upgrade.
//! Every request runs in a `tracing` span `ivs_client.request` with method
//! and path; the API key and tokens are never logged, and `Debug` output
//! redacts the key. Every attempt carries an `x-request-id` (see
//! [`retry`](crate::retry#request-ids)); errors carry the id the server
//! answered with, so a failure can be found in the server's logs.
//! [`Client::rate_limit`] gives the `RateLimit-*` state of the last answer.
//!
//! # Features
//!
//! - `rustls` (default): TLS through rustls for HTTP and WebSocket; no OpenSSL.
//! - `native-tls`: the platform's TLS (OpenSSL on Linux) for both.
//! - `webhook` (default): the [`webhook`] module and its HMAC dependencies
//!   (`hmac`, `sha2`, `base64`, `subtle`).
#![deny(missing_docs)]

pub mod api;
mod client;
mod error;
mod events;
pub mod heartbeat;
pub mod model;
pub mod retry;
pub mod session;
pub mod stream;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use client::{Client, ClientBuilder};
pub use error::{ApiError, Error, RateLimit, TransportError, WebSocketError};
pub use events::EventStream;
pub use heartbeat::{HeartbeatBuilder, HeartbeatEvent, HeartbeatHandle};
pub use model::{ErrorCode, IdError, StageArn, UserId};
pub use retry::RetryPolicy;
pub use session::{SessionEvent, TokenUpdates, ViewerSession, ViewerSessionBuilder};
pub use stream::{StatsStream, StatsStreamBuilder};

/// The `Stream` trait the streams of this crate implement, and its
/// combinators: `use ivs_client::StreamExt;` instead of a dependency on
/// `futures-util` of your own.
pub use futures_util::stream::{Stream, StreamExt};

/// The HTTP client crate this one is built on, at the version it uses: for
/// [`ClientBuilder::http_client`], name `ivs_client::reqwest::Client` and
/// the two cannot disagree on the version.
pub use reqwest;

// Compiles the README's examples as doc tests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
