//! The workspace's integration tests, as one test binary: one module per
//! area, all linked once against ivs-server, ivs-client and
//! ivs-test-support (instead of one binary, and one link, per file).
//!
//! Run one area with a filter on its module path, e.g.
//! `cargo test --test it fleet::` or `cargo test --test it openapi`.

mod api;
mod aws_backend;
mod client_contract;
mod cluster_fleet;
mod docs;
mod emulator_accounts;
mod examples_smoke;
mod fleet;
mod fleet_rules;
mod hardening;
mod http_defence;
mod model_fleet;
mod openapi;
mod rate_limit_fleet;
mod redis_cluster;
mod redis_connection;
mod redis_harness;
mod redis_store;
mod request_ids;
mod store_behaviour;
mod webhooks;
mod webhooks_fleet;

/// One fleet scenario at a time, across `fleet` and `cluster_fleet`: each
/// starts several server processes (and, in `cluster_fleet`, six Redis
/// nodes) on two cores, and their deadlines are real time. When these were
/// test binaries of their own, cargo ran them one after the other; in one
/// binary the test threads would otherwise overlap them.
static FLEET_SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
