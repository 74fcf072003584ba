//! Rust client SDK for ivs-server.
#![deny(missing_docs)]

pub mod model;
