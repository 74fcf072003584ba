//! A server for the SDK's documentation examples, so that they run as
//! doctests instead of being only compiled (`no_run`).
//!
//! An example starts one with a hidden line and then reads as a user would
//! write it:
//!
//! ```text
//! /// # #[tokio::main(flavor = "current_thread")]
//! /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
//! /// let client = ivs_client::Client::new(base_url, api_key)?;
//! /// // ...
//! /// # Ok(()) }
//! ```
//!
//! The server runs on a thread and runtime of its own rather than on the
//! example's: it keeps serving (stats broadcasts, heartbeat sweeps) whatever
//! runtime flavour the example picks and even while the example blocks, and
//! when several examples share one process (edition 2024 merges doctests into
//! one binary) each still gets a fresh server with no state left by another.
//! It is never stopped: it lives until the process exits, which for a doctest
//! is right after the example returns.

use crate::harness::{test_settings, TestServer};

/// Starts a real `ivs-server` on `127.0.0.1:0` (embedded store, emulated IVS,
/// the test harness' fast background intervals: a stats update every 200 ms)
/// and returns its base URL and an API key it accepts.
///
/// Panics if the server cannot start: an example cannot run without it.
pub async fn server() -> (String, String) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("ivs-doc-server".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the doc server's runtime builds");
            runtime.block_on(async move {
                let server = TestServer::start(test_settings()).await;
                // The example may already have given up waiting; the server
                // then has no one to serve, which is harmless.
                let _ = tx.send((server.base.clone(), server.key.clone()));
                // Holding `server` here keeps it running: dropping it would
                // stop it.
                std::future::pending::<()>().await;
                drop(server);
            });
        })
        .expect("the doc server's thread starts");
    rx.await
        .expect("the doc server started (its thread panicked otherwise)")
}
