//! The server crate's integration tests, one binary (link once): each runs
//! the built `ivs-server` binary as users do.

mod common;
mod request_spans;
mod shutdown;
