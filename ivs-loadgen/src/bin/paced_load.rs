//! An open-loop, fixed-rate HTTP load generator for `scripts/bench.sh`
//! (wrk cannot pace requests, and wrk2 is not packaged here).
//!
//! Requests are scheduled at `start + i / rate`, whether or not earlier ones
//! have finished, and a request's latency is measured from its *scheduled*
//! start, so a stalled server is not hidden by the generator waiting for it
//! (no coordinated omission). Connections are kept alive in a pool (HTTP/1.1).
//!
//! ```text
//! paced_load --url http://127.0.0.1:3000/api/viewer/heartbeat --rate 2000 \
//!     --duration 20 --header 'x-api-key: bench-key-000' --pairs pairs.tsv
//! ```
//!
//! Bodies: `--pairs FILE` (lines `userId<TAB>stageArn`) sends a heartbeat body
//! for a random pair; `--join-prefix P` sends a viewer-token body with a
//! unique `userId` `P-<n>`; otherwise a GET. The last line printed is
//! machine-readable: `RESULT name=value ...` (latencies in milliseconds).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Parser;
use ivs_loadgen::{parse_duration, percentile};
use rand::Rng;

#[derive(Debug, Parser)]
#[command(about = "Open-loop HTTP load at a fixed rate, latency from the scheduled start")]
struct Args {
    /// The URL every request goes to.
    #[arg(long)]
    url: String,
    /// Requests per second.
    #[arg(long, value_parser = parse_rate)]
    rate: f64,
    /// Time measured, after the warm-up (`10s`, `2m`; a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Time sent at the same rate before measuring.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// A request header `name: value`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// POST heartbeat bodies for random lines `userId<TAB>stageArn` of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "join_prefix")]
    pairs: Option<String>,
    /// POST viewer-token bodies with the unique user ids `P-<n>`.
    #[arg(long, value_name = "P")]
    join_prefix: Option<String>,
    /// Requests in flight at most; a request due beyond that is not sent
    /// (and counted).
    #[arg(long, default_value_t = 2048)]
    max_in_flight: u64,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(format!("not a rate above 0: {s:?}")),
    }
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("expected 'name: value', got {s:?}"))?;
    Ok((k.trim().to_owned(), v.trim().to_owned()))
}

/// The `(userId, stageArn)` lines of a pairs file.
fn read_pairs(path: &str) -> Result<Vec<(String, String)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the pairs file: {e}"))?;
    let pairs: Vec<_> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(u, s)| (u.to_owned(), s.to_owned()))
        .collect();
    if pairs.is_empty() {
        return Err(format!(
            "the pairs file {path} has no userId<TAB>stageArn line"
        ));
    }
    Ok(pairs)
}

/// The `p` percentile of microseconds, in milliseconds (NaN when empty).
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    percentile(sorted, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
}

/// The body of each request.
enum Body {
    Heartbeat(Vec<(String, String)>),
    Join(String),
    Get,
}

/// What the requests record, shared with their tasks.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    in_flight: AtomicU64,
    /// Microseconds from the scheduled start, measured requests only.
    latencies: Mutex<Vec<u64>>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let body = match (&args.pairs, &args.join_prefix) {
        (Some(path), _) => match read_pairs(path) {
            Ok(pairs) => Body::Heartbeat(pairs),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        (None, Some(prefix)) => Body::Join(prefix.clone()),
        (None, None) => Body::Get,
    };
    let client = match reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.max_in_flight as usize)
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args = Arc::new(args);
    let tally = Arc::new(Tally {
        latencies: Mutex::new(Vec::with_capacity(
            (args.rate * args.duration.as_secs_f64()) as usize + 16,
        )),
        ..Tally::default()
    });
    // The schedule runs on its own OS thread: Tokio's timer has a 1 ms
    // granularity, which would add up to a millisecond of generator lag to
    // every latency; `std::thread::sleep` overshoots by tens of microseconds.
    let dispatcher = {
        let (args, tally, handle) = (
            args.clone(),
            tally.clone(),
            tokio::runtime::Handle::current(),
        );
        std::thread::spawn(move || dispatch(&args, &body, &client, &tally, &handle))
    };
    let lags = match tokio::task::spawn_blocking(move || dispatcher.join()).await {
        Ok(Ok(lags)) => lags,
        Ok(Err(_)) | Err(_) => {
            eprintln!("error: the dispatcher thread failed");
            return ExitCode::FAILURE;
        }
    };
    // Wait for the requests still in flight (each has a 10 s timeout).
    while tally.in_flight.load(Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    report(&args, &tally, lags);
    ExitCode::SUCCESS
}

/// Sends the requests on schedule until the end of the run; returns the
/// generator's lag (dispatch − schedule, µs) of each measured request.
fn dispatch(
    args: &Args,
    body: &Body,
    client: &reqwest::Client,
    tally: &Arc<Tally>,
    handle: &tokio::runtime::Handle,
) -> Vec<u64> {
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let start = std::time::Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let mut next = start;
    let mut n: u64 = 0;
    let mut rng = rand::rng();
    let mut lags = Vec::new();
    while next < end {
        let now = std::time::Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let now = std::time::Instant::now();
        while next <= now && next < end {
            let scheduled = next;
            next += period;
            n += 1;
            let measured = scheduled >= measure_from;
            if measured {
                lags.push(now.duration_since(scheduled).as_micros() as u64);
            }
            if tally.in_flight.load(Relaxed) >= args.max_in_flight {
                if measured {
                    tally.skipped.fetch_add(1, Relaxed);
                }
                continue;
            }
            let mut req = match body {
                Body::Heartbeat(pairs) => {
                    let (u, s) = &pairs[rng.random_range(0..pairs.len())];
                    client
                        .post(&args.url)
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"userId":"{u}","stageArn":"{s}"}}"#))
                }
                Body::Join(p) => client
                    .post(&args.url)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"userId":"{p}-{n}"}}"#)),
                Body::Get => client.get(&args.url),
            };
            for (k, v) in &args.headers {
                req = req.header(k, v);
            }
            let tally = tally.clone();
            tally.in_flight.fetch_add(1, Relaxed);
            handle.spawn(async move {
                let good = match req.send().await {
                    Ok(r) => {
                        let success = r.status().is_success();
                        r.bytes().await.is_ok() && success
                    }
                    Err(_) => false,
                };
                let took = scheduled.elapsed();
                tally.in_flight.fetch_sub(1, Relaxed);
                if measured {
                    let counter = if good { &tally.ok } else { &tally.failed };
                    counter.fetch_add(1, Relaxed);
                    tally
                        .latencies
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(took.as_micros() as u64);
                }
            });
        }
    }
    lags
}

fn report(args: &Args, tally: &Tally, mut lags: Vec<u64>) {
    let elapsed = args.duration.as_secs_f64();
    let mut l = std::mem::take(
        &mut *tally
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    l.sort_unstable();
    let (ok, failed, skipped) = (
        tally.ok.load(Relaxed),
        tally.failed.load(Relaxed),
        tally.skipped.load(Relaxed),
    );
    println!(
        "paced {} req/s for {:.0} s (+{:.0} s warm-up) → {}",
        args.rate,
        elapsed,
        args.warmup.as_secs_f64(),
        args.url
    );
    println!(
        "  ok {ok}  failed {failed}  not sent (>{} in flight) {skipped}  achieved {:.1} req/s",
        args.max_in_flight,
        (ok + failed) as f64 / elapsed
    );
    let [p50, p90, p99, p999, max] = [50.0, 90.0, 99.0, 99.9, 100.0].map(|p| percentile_ms(&l, p));
    println!(
        "  latency ms  p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}"
    );
    lags.sort_unstable();
    println!(
        "  generator lag ms (dispatch − schedule, included above)  p50 {:.3}  p99 {:.3}",
        percentile_ms(&lags, 50.0),
        percentile_ms(&lags, 99.0)
    );
    println!(
        "RESULT ok={ok} failed={failed} skipped={skipped} rate={:.1} p50={p50:.3} p90={p90:.3} p99={p99:.3} p999={p999:.3} max={max:.3}",
        (ok + failed) as f64 / elapsed,
    );
}
