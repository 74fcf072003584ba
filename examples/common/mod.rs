//! Shared by the example binaries: the `--server` / `--api-key` options and
//! readable API errors.
// Each example uses a different subset of this module.
#![allow(dead_code)]

use std::process::ExitCode;

use clap::Args;
use ivs_client::{Client, ClientBuilder};

/// Where the server is and the key to use; defaults match `cargo run -p ivs-server`.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Base URL of ivs-server.
    #[arg(long, env = "IVS_SERVER", default_value = "http://127.0.0.1:3000")]
    pub server: String,
    /// API key sent as `x-api-key` (the server's development key by default).
    #[arg(
        long,
        env = "IVS_API_KEY",
        default_value = "dev-api-key",
        hide_env_values = true
    )]
    pub api_key: String,
}

impl Connection {
    /// A client builder for this server and key.
    pub fn builder(&self) -> ClientBuilder {
        Client::builder()
            .base_url(self.server.clone())
            .api_key(self.api_key.clone())
    }

    /// A client with the SDK's defaults, or a printed error.
    pub fn client(&self) -> Result<Client, ExitCode> {
        self.builder().build().map_err(|e| fail(&e))
    }
}

/// `error: NOT_FOUND (404): <message> — <details>` for API errors, a plain
/// `error: ...` line for the rest.
pub fn describe(error: &ivs_client::Error) -> String {
    match error {
        ivs_client::Error::Api(e) => {
            let mut line = format!(
                "error: {} ({}): {}",
                e.code().as_str(),
                e.status(),
                e.message()
            );
            if !e.details().is_empty() && e.details() != e.message() {
                line.push_str(" — ");
                line.push_str(e.details());
            }
            line
        }
        other => {
            let mut line = format!("error: {other}");
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                line.push_str(": ");
                line.push_str(&s.to_string());
                source = s.source();
            }
            line
        }
    }
}

/// Prints the error to stderr and gives exit code 1.
pub fn fail(error: &ivs_client::Error) -> ExitCode {
    eprintln!("{}", describe(error));
    ExitCode::FAILURE
}

/// Parses `KEY=VALUE` (for `--tag` and `--attribute`).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// `1h 02m`, `4m 10s`, `12s`.
pub fn human_duration(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h {m:02}m")
    } else if m > 0 {
        format!("{sign}{m}m {s:02}s")
    } else {
        format!("{sign}{s}s")
    }
}
