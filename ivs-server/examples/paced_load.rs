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

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

struct Args {
    url: String,
    rate: f64,
    duration: Duration,
    warmup: Duration,
    headers: Vec<(String, String)>,
    pairs: Option<Vec<(String, String)>>,
    join_prefix: Option<String>,
    max_in_flight: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: paced_load --url URL --rate N [--duration S] [--warmup S] \
         [--header 'k: v']... [--pairs FILE | --join-prefix P] [--max-in-flight N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        url: String::new(),
        rate: 0.0,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        headers: Vec::new(),
        pairs: None,
        join_prefix: None,
        max_in_flight: 2048,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--url" => a.url = val(),
            "--rate" => a.rate = val().parse().unwrap_or_else(|_| usage()),
            "--duration" => {
                a.duration = Duration::from_secs_f64(val().parse().unwrap_or_else(|_| usage()))
            }
            "--warmup" => {
                a.warmup = Duration::from_secs_f64(val().parse().unwrap_or_else(|_| usage()))
            }
            "--max-in-flight" => a.max_in_flight = val().parse().unwrap_or_else(|_| usage()),
            "--header" => {
                let h = val();
                let (k, v) = h.split_once(':').unwrap_or_else(|| usage());
                a.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            "--pairs" => {
                let text = std::fs::read_to_string(val()).expect("cannot read the pairs file");
                let pairs: Vec<_> = text
                    .lines()
                    .filter_map(|l| l.split_once('\t'))
                    .map(|(u, s)| (u.to_string(), s.to_string()))
                    .collect();
                assert!(!pairs.is_empty(), "the pairs file is empty");
                a.pairs = Some(pairs);
            }
            "--join-prefix" => a.join_prefix = Some(val()),
            _ => usage(),
        }
    }
    if a.url.is_empty() || a.rate <= 0.0 {
        usage()
    }
    a
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = Arc::new(parse_args());
    let client = reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.max_in_flight as usize)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let latencies = Arc::new(Mutex::new(Vec::<u64>::with_capacity(
        (args.rate * args.duration.as_secs_f64()) as usize + 16,
    )));
    let (ok, failed, skipped, in_flight) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let period = Duration::from_secs_f64(1.0 / args.rate);
    // The schedule runs on its own OS thread: Tokio's timer has a 1 ms
    // granularity, which would add up to a millisecond of generator lag to
    // every latency; `std::thread::sleep` overshoots by tens of microseconds.
    let handle = tokio::runtime::Handle::current();
    let lags = Arc::new(Mutex::new(Vec::<u64>::new()));
    let dispatcher = {
        let (args, client, latencies, ok, failed, skipped, in_flight, lags) = (
            args.clone(),
            client.clone(),
            latencies.clone(),
            ok.clone(),
            failed.clone(),
            skipped.clone(),
            in_flight.clone(),
            lags.clone(),
        );
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let measure_from = start + args.warmup;
            let end = measure_from + args.duration;
            let mut next = start;
            let mut n: u64 = 0;
            let mut rng = rand::rng();
            let mut my_lags = Vec::new();
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
                        my_lags.push(now.duration_since(scheduled).as_micros() as u64);
                    }
                    if in_flight.load(Relaxed) >= args.max_in_flight {
                        if measured {
                            skipped.fetch_add(1, Relaxed);
                        }
                        continue;
                    }
                    let mut req = match (&args.pairs, &args.join_prefix) {
                        (Some(pairs), _) => {
                            let (u, s) = &pairs[rng.random_range(0..pairs.len())];
                            client
                                .post(&args.url)
                                .header("content-type", "application/json")
                                .body(format!(r#"{{"userId":"{u}","stageArn":"{s}"}}"#))
                        }
                        (None, Some(p)) => client
                            .post(&args.url)
                            .header("content-type", "application/json")
                            .body(format!(r#"{{"userId":"{p}-{n}"}}"#)),
                        (None, None) => client.get(&args.url),
                    };
                    for (k, v) in &args.headers {
                        req = req.header(k, v);
                    }
                    let (lat, ok, failed, in_flight) = (
                        latencies.clone(),
                        ok.clone(),
                        failed.clone(),
                        in_flight.clone(),
                    );
                    in_flight.fetch_add(1, Relaxed);
                    handle.spawn(async move {
                        let res = match req.send().await {
                            Ok(r) => {
                                let good = r.status().is_success();
                                r.bytes().await.is_ok() && good
                            }
                            Err(_) => false,
                        };
                        let took = scheduled.elapsed();
                        in_flight.fetch_sub(1, Relaxed);
                        if measured {
                            if res {
                                ok.fetch_add(1, Relaxed);
                            } else {
                                failed.fetch_add(1, Relaxed);
                            }
                            lat.lock().unwrap().push(took.as_micros() as u64);
                        }
                    });
                }
            }
            *lags.lock().unwrap() = my_lags;
        })
    };
    tokio::task::spawn_blocking(move || dispatcher.join())
        .await
        .expect("dispatcher")
        .expect("dispatcher thread");
    // Wait for the requests still in flight (each has a 10 s timeout).
    while in_flight.load(Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = args.duration.as_secs_f64();
    let mut l = std::mem::take(&mut *latencies.lock().unwrap());
    l.sort_unstable();
    let (ok, failed, skipped) = (
        ok.load(Relaxed),
        failed.load(Relaxed),
        skipped.load(Relaxed),
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
    println!(
        "  latency ms  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        percentile(&l, 50.0),
        percentile(&l, 90.0),
        percentile(&l, 99.0),
        percentile(&l, 99.9),
        percentile(&l, 100.0)
    );
    let mut lags = std::mem::take(&mut *lags.lock().unwrap());
    lags.sort_unstable();
    println!(
        "  generator lag ms (dispatch − schedule, included above)  p50 {:.3}  p99 {:.3}",
        percentile(&lags, 50.0),
        percentile(&lags, 99.0)
    );
    println!(
        "RESULT ok={ok} failed={failed} skipped={skipped} rate={:.1} p50={:.3} p90={:.3} p99={:.3} p999={:.3} max={:.3}",
        (ok + failed) as f64 / elapsed,
        percentile(&l, 50.0),
        percentile(&l, 90.0),
        percentile(&l, 99.0),
        percentile(&l, 99.9),
        percentile(&l, 100.0)
    );
}
