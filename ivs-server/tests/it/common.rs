//! The real `ivs-server` binary on a free loopback port, for the tests that
//! need a process of their own (signals, log output).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running binary and its base URL.
pub struct Binary {
    pub child: Child,
    pub base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts the binary on embedded defaults plus `env`, with stdout and stderr
/// as given, and waits until `/health` answers 200.
pub async fn start(env: &[(&str, &str)], stdout: Stdio, stderr: Stdio) -> Binary {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ivs-server"));
    cmd.env("IVS_BIND", format!("127.0.0.1:{port}"))
        .env_remove("IVS_API_KEYS")
        .env_remove("REDIS_URL")
        .env_remove("IVS_BACKEND")
        .env_remove("RUST_LOG")
        .stdout(stdout)
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("the server binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let ready = async {
        loop {
            if let Ok(r) = http.get(format!("{base}/health")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), ready)
        .await
        .expect("server ready");
    Binary { child, base }
}
