//! A load-test tool: simulate many viewers, each a real SDK viewer session
//! (token, heartbeats, rejoin, token refresh, leave), from one process.
//!
//! ```text
//! cargo run --release --example viewer-bot -- --viewers 1000 --duration 60 --ramp 10
//! ```
//!
//! This example is the command line; the engine (bots, histograms, live
//! display, report) is `ivs_loadgen::viewer_bot`. The summary goes to stdout;
//! the exit code is 1 when any join, heartbeat, token refresh or leave
//! failed, 2 for a plan that cannot run.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ivs_loadgen::parse_duration;
use ivs_loadgen::viewer_bot::{self, Plan};

#[derive(Debug, Parser)]
#[command(about = "Simulate many viewers against ivs-server and report latencies")]
struct Args {
    #[command(flatten)]
    connection: common::Connection,
    /// Number of simulated viewers.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    viewers: u32,
    /// From the start until every bot leaves (the ramp included): `90s`,
    /// `2m`, `1h`, `1m30s`, or a bare number of seconds.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Over how long the joins are spread evenly (0: all at once).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    ramp: Duration,
    /// Time between a bot's heartbeats.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    heartbeat_interval: Duration,
    /// Timeout of one HTTP request attempt.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Joins and leaves in flight at once (also the idle connections kept).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,
    /// Prefix of the bots' user ids (`<prefix>-<run>-<n>`).
    #[arg(long, default_value = "bot")]
    user_prefix: String,
    /// No live display.
    #[arg(long, short)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let plan = Plan {
        viewers: args.viewers,
        duration: args.duration,
        ramp: args.ramp,
        heartbeat_interval: args.heartbeat_interval,
        max_in_flight: args.max_in_flight,
        user_prefix: args.user_prefix,
        live_display: !args.quiet,
    };
    let http = match viewer_bot::http_client(&plan) {
        Ok(http) => http,
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = match args
        .connection
        .builder()
        .request_timeout(args.request_timeout)
        .user_agent(concat!("ivs-viewer-bot/", env!("CARGO_PKG_VERSION")))
        .http_client(http)
        .build()
    {
        Ok(client) => client,
        Err(e) => return common::fail(&e),
    };
    match viewer_bot::run(client, &plan).await {
        Ok(report) => {
            print!("{report}");
            if report.failures() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
