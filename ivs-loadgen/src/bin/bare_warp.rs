//! The ceiling of the HTTP stack for `scripts/bench.sh`: a bare warp server
//! (same warp, hyper and Tokio versions and the same multi-threaded runtime as
//! `ivs-server`) that reads the request body and answers a constant JSON body
//! shaped like a heartbeat response. No authentication, no store, no logging.
//!
//! ```text
//! cargo run --release -p ivs-loadgen --bin bare_warp -- 127.0.0.1:3900
//! ```

use std::net::SocketAddr;

use clap::Parser;
use warp::Filter;

const BODY: &str = r#"{"success":true,"data":{"userId":"bench-0-1","stageArn":"arn:aws:ivs:ap-northeast-1:123456789012:stage/q1qfKtqLI9wg","lastHeartbeat":"2026-01-01T00:00:00.000Z"},"timestamp":"2026-01-01T00:00:00.000Z"}"#;

#[derive(Debug, Parser)]
#[command(about = "A warp server answering every request with a constant heartbeat body")]
struct Args {
    /// The address to listen on.
    #[arg(default_value = "127.0.0.1:3900")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() {
    let Args { addr } = Args::parse();
    let route = warp::body::content_length_limit(16 * 1024)
        .and(warp::body::bytes())
        .map(|_body: bytes::Bytes| {
            warp::reply::with_header(BODY, "content-type", "application/json")
        });
    eprintln!("bare_warp listening on {addr}");
    warp::serve(route).run(addr).await;
}
