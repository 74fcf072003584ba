//! The workspace's root package: it holds the integration tests of the whole
//! system (`tests/it/`, one test binary) and the example binaries
//! (`examples/`), so that `cargo run --example viewer-bot` works from the
//! checkout's top level. Their shared support is the `ivs-test-support` crate.

// Runs the README's Rust example as a doc test (against a server of its
// own, `ivs_test_support::doc`), so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
