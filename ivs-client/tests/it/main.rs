//! The client's integration tests, as one test binary (one link instead of
//! one per file): each module drives the client against mock servers.

mod common;
mod contract;
mod heartbeat;
mod limits;
mod model;
mod retry;
mod session;
mod stats_stream;
