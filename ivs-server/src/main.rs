//! The `ivs-server` binary: parse settings, set up logging, serve until
//! SIGTERM or Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use ivs_server::config::{Args, LogFormat};
use ivs_server::ServerBuilder;
use tracing_subscriber::EnvFilter;

// Faster than glibc's malloc for the many small, short-lived allocations of a
// request (docs/performance.md). `--no-default-features` builds with the
// system allocator, e.g. for heap profilers.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,warp::filters::trace=warn"));
    // Colours only for a terminal: escape codes do not belong in log files,
    // and formatting them was over half of the per-request span's cost in
    // the heartbeat profile (docs/performance.md).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        _ => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// An error and its chain of causes, as one line: `what: why: root cause`.
/// A cause whose text its error already ends with is not written again:
/// some libraries (redis' I/O errors) both print their source and return it.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.server.log_format);
    let (settings, dev_key) = match args.into_settings() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    if dev_key {
        tracing::warn!(
            "no API key configured: using the development key \"{}\" (loopback only; set IVS_API_KEYS for anything else)",
            ivs_server::config::DEV_API_KEY
        );
    }
    let bind = settings.bind;
    let server = match ServerBuilder::new(settings).build().await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("cannot start: {}", with_causes(&e));
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The bound address, not the configured one: with port 0 (tests, fleets
    // on one host) the caller learns the port from this line.
    let addr = listener.local_addr().unwrap_or(bind);
    tracing::info!(
        addr = %addr,
        store = %server.app().store().kind(),
        master = %server.app().master_arn(),
        "ivs-server listening"
    );
    server.serve(listener, shutdown_signal()).await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::with_causes;
    use ivs_server::server::BuildError;
    use ivs_server::store::StoreError;

    #[test]
    fn a_start_up_error_is_logged_with_its_causes() {
        let err = BuildError::Store(StoreError::Unavailable("connection refused".into()));
        assert_eq!(
            with_causes(&err),
            "viewer store: store unavailable: connection refused"
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = BuildError::Store(StoreError::Unreachable {
            what: "cannot reach Redis at redis://h:6379".into(),
            source: std::sync::Arc::new(io),
        });
        assert_eq!(
            with_causes(&err),
            "viewer store: store unavailable: cannot reach Redis at redis://h:6379: refused"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{what}")]
    struct Layer {
        what: String,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layer(what: &str, source: Option<Layer>) -> Layer {
        Layer {
            what: what.into(),
            source: source.map(Box::new),
        }
    }

    /// redis' I/O errors print their source and return it too.
    #[test]
    fn a_cause_its_error_already_ends_with_is_written_once() {
        let root = layer("Connection refused", None);
        let echoing = layer("io: Connection refused", Some(root));
        let top = layer("cannot reach Redis", Some(echoing));
        assert_eq!(
            with_causes(&top),
            "cannot reach Redis: io: Connection refused"
        );
        let plain = layer("a", Some(layer("b", Some(layer("c", None)))));
        assert_eq!(with_causes(&plain), "a: b: c");
    }
}
