//! Receive ivs-server's webhooks: verify each delivery's signature with
//! `ivs_client::webhook`, print its event, and acknowledge it.
//!
//! ```text
//! IVS_WEBHOOK_SECRET=whsec_… cargo run --example webhook-receiver              # on 127.0.0.1:8080
//! IVS_WEBHOOK_SECRET=whsec_… IVS_WEBHOOK_URLS=http://127.0.0.1:8080/ cargo run -p ivs-server
//! ```
//!
//! One line per event on stdout (`<id> <type> <data as JSON>`). Answers:
//!
//! - `204` to a verified event, and to a retry of one already handled:
//!   delivery is at least once, and a retry carries the same `webhook-id`,
//!   so ids are remembered (the last `--remember` of them, in memory) and a
//!   repeat is acknowledged without being handled again;
//! - `401` when the signature, the timestamp (5 minutes of tolerance) or the
//!   headers do not verify: the request did not come from the server, or
//!   was replayed;
//! - `400` to a signed body that is not an event.
//!
//! A real receiver keeps the ids where its effects are stored (the same
//! database transaction), so that a restart between the two loses neither.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use ivs_client::webhook::{Verifier, WebhookError};
use warp::http::{HeaderMap, StatusCode};
use warp::hyper::body::Bytes;
use warp::Filter;

#[derive(Debug, Parser)]
#[command(about = "Receive, verify and print ivs-server's webhooks")]
struct Args {
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The server's webhook secret (`whsec_…`).
    #[arg(long, env = "IVS_WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
    /// Seconds `webhook-timestamp` may be from this machine's clock.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    tolerance: u64,
    /// How many delivery ids to remember for de-duplication.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    remember: usize,
    /// Exit after this many events (duplicates not counted).
    #[arg(long, value_name = "N")]
    events: Option<u64>,
}

/// The last `capacity` delivery ids, oldest evicted first.
struct SeenIds {
    ids: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl SeenIds {
    fn new(capacity: usize) -> Self {
        SeenIds {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Whether `id` is new; remembers it.
    fn insert(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        self.ids.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

struct Receiver {
    verifier: Verifier,
    seen: Mutex<SeenIds>,
    /// Events still to handle before exiting (`--events`).
    remaining: Mutex<Option<u64>>,
    done: tokio::sync::Notify,
}

impl Receiver {
    fn handle(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let event = match self.verifier.verify(headers, body) {
            Ok(event) => event,
            Err(error @ WebhookError::InvalidBody(_)) => {
                eprintln!("rejected (400): {error}");
                return StatusCode::BAD_REQUEST;
            }
            Err(error) => {
                eprintln!("rejected (401): {error}");
                return StatusCode::UNAUTHORIZED;
            }
        };
        // A poisoned lock only means another request panicked mid-insert;
        // the set is still usable.
        let new = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(&event.id);
        if !new {
            eprintln!("duplicate {} (already handled)", event.id);
            return StatusCode::NO_CONTENT;
        }
        let data = serde_json::to_value(&event.kind)
            .ok()
            .and_then(|kind| kind.get("data").cloned())
            .unwrap_or(serde_json::Value::Null);
        println!("{} {} {data}", event.id, event.event_type());
        let mut remaining = self.remaining.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.done.notify_one();
            }
        }
        StatusCode::NO_CONTENT
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let verifier = match Verifier::new(&args.secret) {
        Ok(v) => v.with_tolerance(Duration::from_secs(args.tolerance)),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let receiver = Arc::new(Receiver {
        verifier,
        seen: Mutex::new(SeenIds::new(args.remember)),
        remaining: Mutex::new(args.events),
        done: tokio::sync::Notify::new(),
    });
    let listener = match tokio::net::TcpListener::bind(args.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.bind);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}/"),
        Err(e) => eprintln!("listening (address unknown: {e})"),
    }

    let handler = receiver.clone();
    // Any path: the server posts to the URL it was given.
    let route = warp::post()
        .and(warp::header::headers_cloned())
        .and(warp::body::content_length_limit(1024 * 1024))
        .and(warp::body::bytes())
        .map(move |headers: HeaderMap, body: Bytes| {
            warp::reply::with_status(warp::reply(), handler.handle(&headers, &body))
        });
    let done = receiver.clone();
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = done.done.notified(), if args.events.is_some() => {}
        }
    };
    warp::serve(route)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    ExitCode::SUCCESS
}
