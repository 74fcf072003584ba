//! The client's integration tests, as one test binary (one link instead of
//! one per file): each module drives the client against mock servers.

mod common;
mod contract;
mod errors;
mod heartbeat;
mod limits;
mod model;
mod readme;
mod retry;
mod session;
mod stage_list;
mod stats_stream;
#[cfg(feature = "webhook")]
mod webhook;
