//! `/ws` fan-out measurement for `scripts/bench.sh`: opens N WebSocket
//! connections, subscribes each to `stats`, and for every broadcast tick
//! records when each subscriber received it. Per tick the spread is the
//! arrival time of each subscriber relative to the first one; the report gives
//! its p50 / p99 / max over all complete ticks (ticks every subscriber got),
//! plus the server's memory (`VmRSS`, `VmHWM`) when `--pid` is given.
//!
//! ```text
//! ws_fanout --url 'ws://127.0.0.1:3000/ws?apiKey=bench-key-000' --connections 1000 \
//!     --duration 15 --pid $(pgrep -n ivs-server)
//! ```
//!
//! The first message of a connection (the snapshot sent right after
//! `subscribe`) is its own, not a broadcast, and is not counted. The last
//! line printed is machine-readable: `RESULT name=value ...` (ms, KiB).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use ivs_loadgen::process::status_kib;
use ivs_loadgen::{parse_duration, percentile};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
#[command(about = "Spread of each /ws broadcast's arrival over N subscribers")]
struct Args {
    /// The `/ws` URL, with its `apiKey`.
    #[arg(long)]
    url: String,
    /// Subscribers.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Time measured once every subscriber has its first snapshot (`15s`,
    /// `1m`; a bare number is seconds).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    duration: Duration,
    /// The server's process id, to report its memory (`/proc/<pid>/status`).
    #[arg(long)]
    pid: Option<u32>,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    percentile(sorted, p).unwrap_or(f64::NAN)
}

type Arrivals = Arc<Mutex<HashMap<u64, Vec<Instant>>>>;

/// The arrivals so far, whoever panicked while holding them.
fn arrivals_of(a: &Arrivals) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<Instant>>> {
    a.lock().unwrap_or_else(PoisonError::into_inner)
}

#[tokio::main]
async fn main() -> ExitCode {
    let Args {
        url,
        connections,
        duration,
        pid,
    } = Args::parse();
    let n = connections as usize;
    let rss_before = pid.and_then(|p| status_kib(Some(p), "VmRSS"));
    let arrivals: Arrivals = Arc::default();
    let subscribed = Arc::new(tokio::sync::Semaphore::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let connect_gate = Arc::new(tokio::sync::Semaphore::new(64));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (url, arrivals, subscribed, stop, gate) = (
            url.clone(),
            arrivals.clone(),
            subscribed.clone(),
            stop.clone(),
            connect_gate.clone(),
        );
        tasks.spawn(async move {
            let mut permit = gate.acquire_owned().await.ok();
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .map_err(|e| format!("connect: {e}"))?;
            ws.send(Message::text(r#"{"type":"subscribe","channel":"stats"}"#))
                .await
                .map_err(|e| format!("subscribe: {e}"))?;
            let mut first = true;
            loop {
                tokio::select! {
                    msg = ws.next() => {
                        let at = Instant::now();
                        match msg {
                            Some(Ok(Message::Text(t))) => {
                                if first {
                                    first = false;
                                    drop(permit.take());
                                    subscribed.add_permits(1);
                                    continue;
                                }
                                let mut h = std::collections::hash_map::DefaultHasher::new();
                                t.as_str().hash(&mut h);
                                arrivals_of(&arrivals).entry(h.finish()).or_default().push(at);
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => return Err(format!("read: {e}")),
                            None => return Err("closed by the server".to_string()),
                        }
                    }
                    _ = stop.notified() => {
                        let _ = ws.close(None).await;
                        return Ok::<(), String>(());
                    }
                }
            }
        });
    }
    // Every connection has had its first snapshot.
    let all = tokio::time::timeout(
        Duration::from_secs(60),
        subscribed.acquire_many(connections),
    )
    .await;
    if all.is_err() {
        eprintln!("error: not every connection subscribed within 60 s");
        return ExitCode::FAILURE;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    arrivals_of(&arrivals).clear();
    let rss_subscribed = pid.and_then(|p| status_kib(Some(p), "VmRSS"));
    println!(
        "{n} subscribers connected in {connect_secs:.2} s; measuring for {} s",
        duration.as_secs_f64()
    );
    tokio::time::sleep(duration).await;
    let rss_end = pid.and_then(|p| status_kib(Some(p), "VmRSS"));
    let hwm = pid.and_then(|p| status_kib(Some(p), "VmHWM"));
    stop.notify_waiters();
    let ticks = std::mem::take(&mut *arrivals_of(&arrivals));
    let mut errors = 0;
    tasks.abort_all();
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            errors += 1;
            if errors <= 3 {
                eprintln!("connection error: {e}");
            }
        }
    }
    let mut spreads = Vec::new();
    let mut tick_max = Vec::new();
    let (mut complete, mut partial) = (0, 0);
    for (_, mut times) in ticks {
        if times.len() < n {
            partial += 1;
            continue;
        }
        complete += 1;
        times.sort();
        let Some(&first) = times.first() else {
            continue;
        };
        let mut last = 0.0;
        for t in &times {
            last = t.duration_since(first).as_secs_f64() * 1000.0;
            spreads.push(last);
        }
        tick_max.push(last);
    }
    spreads.sort_by(f64::total_cmp);
    tick_max.sort_by(f64::total_cmp);
    println!("ticks: {complete} complete, {partial} partial (started or ended mid-run); connection errors {errors}");
    println!(
        "arrival spread after the first subscriber (ms): p50 {:.2}  p99 {:.2}  max {:.2}  (median of per-tick max {:.2})",
        pct(&spreads, 50.0),
        pct(&spreads, 99.0),
        pct(&spreads, 100.0),
        pct(&tick_max, 50.0)
    );
    let kib = |v: Option<u64>| v.map_or("n/a".to_string(), |k| k.to_string());
    if pid.is_some() {
        println!(
            "server VmRSS KiB: before {}  subscribed {}  end {}  peak (VmHWM) {}",
            kib(rss_before),
            kib(rss_subscribed),
            kib(rss_end),
            kib(hwm)
        );
    }
    println!(
        "RESULT connections={n} ticks={complete} errors={errors} p50={:.3} p99={:.3} max={:.3} tickmax_median={:.3} rss_before_kib={} rss_subscribed_kib={} rss_end_kib={} hwm_kib={}",
        pct(&spreads, 50.0),
        pct(&spreads, 99.0),
        pct(&spreads, 100.0),
        pct(&tick_max, 50.0),
        kib(rss_before),
        kib(rss_subscribed),
        kib(rss_end),
        kib(hwm)
    );
    ExitCode::SUCCESS
}
