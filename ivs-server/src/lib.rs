//! `ivs-server`: hands out AWS IVS Real-time participant tokens, spreads
//! viewers over stages, counts them by heartbeat, and serves statistics.
//!
//! The binary is a thin shell over [`server::ServerBuilder`]; see
//! `docs/architecture.md` for how the pieces fit.

// `ApiError` is about 200 bytes. It is built at most once per failed request
// and returned straight to the HTTP layer, so boxing it would add an
// allocation and indirection to every handler for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod conn;
pub mod http;
pub mod ivs;
pub mod metrics;
pub mod server;
pub mod service;
pub mod store;
pub mod webhooks;

pub use config::Settings;
pub use server::{RunningServer, Server, ServerBuilder};
