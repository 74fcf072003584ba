//! A load-test tool: simulate many viewers, each a real SDK viewer session
//! (token, heartbeats, rejoin, token refresh, leave), from one process.
//!
//! ```text
//! cargo run --release --example viewer-bot -- --viewers 1000 --duration 60 --ramp 10
//! ```
//!
//! Bots join spread evenly over `--ramp` seconds, stay until `--duration`
//! seconds after the start (or Ctrl-C), then every session is stopped, which
//! sends `leave`. A live display on stderr (hidden when stderr is not a
//! terminal, or with `--quiet`) shows joined / active / failed / rejoined and
//! how the bots are spread over stages. The summary on stdout has joins/s,
//! join and heartbeat latency percentiles, errors by code, viewers per
//! stage, and the process's peak memory and CPU time. The exit code is 1
//! when any join, heartbeat, token refresh or leave failed.
//!
//! # Design for 10,000 bots
//!
//! - One shared [`Client`] (one connection pool) with a request timeout;
//!   idle connections kept per host up to `--max-in-flight`.
//! - Joins and leaves go through a semaphore (`--max-in-flight`), so a
//!   burst never opens more sockets than that.
//! - Per bot: the SDK session (its task and a small event buffer, 4 events)
//!   and one task reading its events; a few instants of state.
//! - Latencies go into fixed-size, lock-free log-linear histograms
//!   (1.6 % resolution), not per-sample vectors.
//!
//! # Heartbeat latency
//!
//! Each `Heartbeat` event carries the beat's round trip as the SDK measured
//! it: from sending the request to the answer, its retries included — the
//! latency as the viewer experiences it. The bots keep the SDK's random
//! start offset off (`jitter_start(false)`) so that `--ramp` alone decides
//! how the beats spread.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ivs_client::model::{TokenRequest, UserId};
use ivs_client::{Client, SessionEvent, ViewerSession};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(about = "Simulate many viewers against ivs-server and report latencies")]
struct Args {
    #[command(flatten)]
    connection: common::Connection,
    /// Number of simulated viewers.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    viewers: u32,
    /// Seconds from the start until every bot leaves (the ramp included).
    #[arg(long, default_value = "60", value_parser = parse_secs)]
    duration: Duration,
    /// Seconds over which the joins are spread evenly (0: all at once).
    #[arg(long, default_value = "10", value_parser = parse_secs)]
    ramp: Duration,
    /// Seconds between a bot's heartbeats.
    #[arg(long, default_value = "30", value_parser = parse_secs)]
    heartbeat_interval: Duration,
    /// Timeout of one HTTP request attempt, seconds.
    #[arg(long, default_value = "10", value_parser = parse_secs)]
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

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("not a number: {s:?}"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a duration in seconds: {s:?}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.heartbeat_interval.is_zero() {
        eprintln!("error: --heartbeat-interval must be more than 0");
        return ExitCode::from(2);
    }
    if args.ramp > args.duration {
        eprintln!("error: --ramp must not be longer than --duration");
        return ExitCode::from(2);
    }
    raise_fd_limit(args.max_in_flight);

    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(args.max_in_flight as usize)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build();
    let http = match http {
        Ok(h) => h,
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
        Ok(c) => c,
        Err(e) => return common::fail(&e),
    };

    let run = RunState::new(client.clone(), &args);
    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let run_id = run_id();
    let mut bots = JoinSet::new();
    for n in 0..args.viewers {
        let offset = args.ramp.mul_f64(f64::from(n) / f64::from(args.viewers));
        let user_id = match UserId::new(format!("{}-{run_id}-{n}", args.user_prefix)) {
            Ok(id) => id,
            Err(e) => {
                eprintln!("error: --user-prefix makes unusable user ids: {e}");
                return ExitCode::from(2);
            }
        };
        bots.spawn(bot(run.clone(), user_id, started + offset, stop_rx.clone()));
    }
    drop(stop_rx);

    let progress = Progress::new(&args, run.clone());
    let end = tokio::time::sleep_until(started + args.duration);
    tokio::pin!(end);
    let mut redraw = tokio::time::interval(Duration::from_millis(200));
    let mut interrupted = false;
    loop {
        tokio::select! {
            _ = &mut end => break,
            r = tokio::signal::ctrl_c() => {
                interrupted = r.is_ok();
                break;
            }
            _ = redraw.tick() => progress.update("running"),
        }
    }
    let ran_for = started.elapsed();

    // What the server counts now, before the bots leave (other viewers included).
    let server_view = client.stats().overall().await;
    let placement = run.placement();
    let _ = stop_tx.send(true);
    loop {
        tokio::select! {
            done = bots.join_next() => match done {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    run.error("bot", "PANIC".into());
                    eprintln!("error: a bot task failed: {e}");
                }
                None => break,
            },
            _ = redraw.tick() => progress.update("leaving"),
        }
    }
    progress.finish();

    let report = Report {
        args: &args,
        run: &run,
        ran_for,
        total: started.elapsed(),
        interrupted,
        placement,
        server_view,
    };
    report.print()
}

/// A short id telling this process's bots apart from another run's.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:x}",
        (nanos ^ std::process::id().rotate_left(16)) & 0xff_ffff
    )
}

/// Everything the bots share: the client, the join/leave limiter, counters
/// and histograms.
struct RunState {
    client: Client,
    interval: Duration,
    permits: Semaphore,
    started: Instant,
    joined: AtomicU64,
    active: AtomicU64,
    join_failed: AtomicU64,
    rejoined: AtomicU64,
    refreshed: AtomicU64,
    refresh_failed: AtomicU64,
    beats: AtomicU64,
    beats_failed: AtomicU64,
    left: AtomicU64,
    left_gone: AtomicU64,
    leave_failed: AtomicU64,
    /// Microseconds since `started`: first join sent, last join answered.
    first_join_us: AtomicU64,
    last_join_us: AtomicU64,
    join_latency: Histogram,
    beat_latency: Histogram,
    /// `(phase, code)` → count.
    errors: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Stage ARN → bots on it now.
    stages: Mutex<HashMap<Arc<str>, u32>>,
}

type Run = Arc<RunState>;

impl RunState {
    fn new(client: Client, args: &Args) -> Run {
        Arc::new(RunState {
            client,
            interval: args.heartbeat_interval,
            permits: Semaphore::new(args.max_in_flight as usize),
            started: Instant::now(),
            joined: AtomicU64::new(0),
            active: AtomicU64::new(0),
            join_failed: AtomicU64::new(0),
            rejoined: AtomicU64::new(0),
            refreshed: AtomicU64::new(0),
            refresh_failed: AtomicU64::new(0),
            beats: AtomicU64::new(0),
            beats_failed: AtomicU64::new(0),
            left: AtomicU64::new(0),
            left_gone: AtomicU64::new(0),
            leave_failed: AtomicU64::new(0),
            first_join_us: AtomicU64::new(u64::MAX),
            last_join_us: AtomicU64::new(0),
            join_latency: Histogram::new(),
            beat_latency: Histogram::new(),
            errors: Mutex::new(BTreeMap::new()),
            stages: Mutex::new(HashMap::new()),
        })
    }

    fn since_start_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_micros() as u64
    }

    fn error(&self, phase: &'static str, code: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        *errors.entry((phase, code)).or_default() += 1;
    }

    /// Moves one bot from stage `from` (if any) to stage `to` (if any).
    fn place(&self, from: Option<&str>, to: Option<&str>) -> Option<Arc<str>> {
        let mut stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(from) = from {
            if let Some(n) = stages.get_mut(from) {
                *n -= 1;
                if *n == 0 {
                    stages.remove(from);
                }
            }
        }
        let to = to?;
        if let Some((key, n)) = stages.get_key_value(to).map(|(k, n)| (k.clone(), *n)) {
            stages.insert(key.clone(), n + 1);
            Some(key)
        } else {
            let key: Arc<str> = Arc::from(to);
            stages.insert(key.clone(), 1);
            Some(key)
        }
    }

    /// Stage ARN → bots, sorted by ARN.
    fn placement(&self) -> Vec<(Arc<str>, u32)> {
        let stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = stages.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort();
        v
    }
}

/// One simulated viewer: join at `join_at`, follow the session's events,
/// leave when told to stop.
async fn bot(run: Run, user_id: UserId, join_at: Instant, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep_until(join_at) => {}
        _ = stop.wait_for(|s| *s) => return,
    }
    let session = {
        let Ok(_permit) = run.permits.acquire().await else {
            return;
        };
        let sent = Instant::now();
        run.first_join_us
            .fetch_min(run.since_start_us(sent), Relaxed);
        let result = run
            .client
            .viewer_session(TokenRequest::new(user_id))
            .heartbeat_interval(run.interval)
            .jitter_start(false)
            .event_capacity(4)
            .spawn()
            .await;
        let done = Instant::now();
        run.last_join_us
            .fetch_max(run.since_start_us(done), Relaxed);
        match result {
            Ok(session) => {
                run.join_latency.record(done - sent);
                run.joined.fetch_add(1, Relaxed);
                session
            }
            Err(e) => {
                run.join_failed.fetch_add(1, Relaxed);
                run.error("join", common::error_code(&e));
                return;
            }
        }
    };
    run.active.fetch_add(1, Relaxed);
    let mut stage = run.place(None, Some(&session.token().stage_arn));
    let session = follow(&run, session, &mut stage, &mut stop).await;

    let _permit = run.permits.acquire().await;
    match session.stop().await {
        Ok(Some(_)) => {
            run.left.fetch_add(1, Relaxed);
        }
        Ok(None) => {
            run.left_gone.fetch_add(1, Relaxed);
        }
        Err(e) => {
            run.leave_failed.fetch_add(1, Relaxed);
            run.error("leave", common::error_code(&e));
        }
    }
    run.place(stage.as_deref(), None);
    run.active.fetch_sub(1, Relaxed);
}

/// Reads the session's events until told to stop, recording each
/// heartbeat's round trip.
async fn follow(
    run: &RunState,
    mut session: ViewerSession,
    stage: &mut Option<Arc<str>>,
    stop: &mut watch::Receiver<bool>,
) -> ViewerSession {
    loop {
        let event = tokio::select! {
            _ = stop.wait_for(|s| *s) => return session,
            event = session.next_event() => event,
        };
        let Some(event) = event else {
            // The session's task ended by itself: nothing more to read.
            stop.wait_for(|s| *s).await.ok();
            return session;
        };
        match event {
            SessionEvent::Heartbeat { round_trip, .. } => {
                run.beats.fetch_add(1, Relaxed);
                run.beat_latency.record(round_trip);
            }
            SessionEvent::HeartbeatFailed { error, .. } => {
                run.beats_failed.fetch_add(1, Relaxed);
                run.error("heartbeat", common::error_code(&error));
            }
            SessionEvent::Rejoined { token } => {
                run.rejoined.fetch_add(1, Relaxed);
                *stage = run.place(stage.as_deref(), Some(&token.stage_arn));
            }
            SessionEvent::TokenRefreshed { token } => {
                run.refreshed.fetch_add(1, Relaxed);
                *stage = run.place(stage.as_deref(), Some(&token.stage_arn));
            }
            SessionEvent::TokenRefreshFailed { error } => {
                run.refresh_failed.fetch_add(1, Relaxed);
                run.error("token refresh", common::error_code(&error));
            }
            _ => {}
        }
    }
}

/// A fixed-size, lock-free latency histogram over microseconds:
/// exact below 128 µs, then 64 buckets per power of two (≤ 1.6 % error).
struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max_us: AtomicU64,
}

const SUB_BUCKETS: u64 = 64;
const LINEAR_LIMIT: u64 = 2 * SUB_BUCKETS;
/// Up to 2^40 µs (12 days): far beyond any request timeout.
const MAX_EXPONENT: u64 = 40;

impl Histogram {
    fn new() -> Self {
        let len = LINEAR_LIMIT + (MAX_EXPONENT - 7 + 1) * SUB_BUCKETS;
        Histogram {
            buckets: (0..len).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    fn index(us: u64) -> usize {
        let us = us.min((1 << (MAX_EXPONENT + 1)) - 1);
        if us < LINEAR_LIMIT {
            return us as usize;
        }
        let exponent = 63 - u64::from(us.leading_zeros()); // ≥ 7
        let top = us >> (exponent - 6); // in [64, 128)
        (LINEAR_LIMIT + (exponent - 7) * SUB_BUCKETS + (top - SUB_BUCKETS)) as usize
    }

    /// The middle of bucket `index`, in microseconds.
    fn value(index: usize) -> f64 {
        let index = index as u64;
        if index < LINEAR_LIMIT {
            return index as f64;
        }
        let exponent = (index - LINEAR_LIMIT) / SUB_BUCKETS + 7;
        let top = (index - LINEAR_LIMIT) % SUB_BUCKETS + SUB_BUCKETS;
        let width = 1u64 << (exponent - 6);
        (top * width) as f64 + (width as f64 - 1.0) / 2.0
    }

    fn record(&self, latency: Duration) {
        let us = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        self.buckets[Self::index(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The `q` quantile (0..=1) in milliseconds, never above the exact maximum.
    fn quantile_ms(&self, q: f64) -> f64 {
        let count = self.count();
        if count == 0 {
            return 0.0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        let max = self.max_us.load(Relaxed) as f64;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return Self::value(i).min(max) / 1000.0;
            }
        }
        max / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.max_us.load(Relaxed) as f64 / 1000.0
    }
}

/// The live display on stderr.
struct Progress {
    bar: ProgressBar,
    run: Run,
}

impl Progress {
    fn new(args: &Args, run: Run) -> Progress {
        let target = if args.quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(5)
        };
        let bar = ProgressBar::with_draw_target(Some(u64::from(args.viewers)), target);
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed:>4} [{bar:20}] {pos}/{len} joined | {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Progress { bar, run }
    }

    fn update(&self, phase: &str) {
        if self.bar.is_hidden() {
            return;
        }
        let r = &self.run;
        let placement = r.placement();
        let spread = match (
            placement.iter().map(|(_, n)| *n).min(),
            placement.iter().map(|(_, n)| *n).max(),
        ) {
            (Some(lo), Some(hi)) => format!("stages {} ({lo}–{hi})", placement.len()),
            _ => "stages 0".into(),
        };
        self.bar.set_position(r.joined.load(Relaxed));
        self.bar.set_message(format!(
            "{phase} | active {} join-failed {} rejoined {} | beats {} failed {} | {spread}",
            r.active.load(Relaxed),
            r.join_failed.load(Relaxed),
            r.rejoined.load(Relaxed),
            r.beats.load(Relaxed),
            r.beats_failed.load(Relaxed),
        ));
        self.bar.tick();
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

struct Report<'a> {
    args: &'a Args,
    run: &'a RunState,
    ran_for: Duration,
    total: Duration,
    interrupted: bool,
    placement: Vec<(Arc<str>, u32)>,
    server_view: Result<ivs_client::model::Stats, ivs_client::Error>,
}

impl Report<'_> {
    fn print(&self) -> ExitCode {
        let r = self.run;
        let a = self.args;
        let load = |c: &AtomicU64| c.load(Relaxed);
        let joined = load(&r.joined);
        let join_failed = load(&r.join_failed);
        let beats_failed = load(&r.beats_failed);
        let refresh_failed = load(&r.refresh_failed);
        let leave_failed = load(&r.leave_failed);
        let failures = join_failed + beats_failed + refresh_failed + leave_failed;
        let attempted = joined + join_failed;

        println!("viewer-bot summary");
        println!("  server             {}", a.connection.server);
        println!(
            "  plan               {} viewers, ramp {:.1}s, duration {:.1}s, heartbeat every {:.1}s{}",
            a.viewers,
            a.ramp.as_secs_f64(),
            a.duration.as_secs_f64(),
            a.heartbeat_interval.as_secs_f64(),
            if self.interrupted {
                format!(
                    " (interrupted after {:.1}s)",
                    self.ran_for.as_secs_f64()
                )
            } else {
                String::new()
            }
        );
        println!("  joined             {joined}");
        println!("  join failed        {join_failed}");
        println!(
            "  not started        {}",
            u64::from(a.viewers).saturating_sub(attempted)
        );
        println!("  rejoined           {}", load(&r.rejoined));
        println!("  token refreshes    {}", load(&r.refreshed));
        println!("  refresh failed     {refresh_failed}");
        println!("  heartbeats         {}", load(&r.beats));
        println!("  heartbeat failed   {beats_failed}");
        println!("  left               {}", load(&r.left));
        println!("  left, was dropped  {}", load(&r.left_gone));
        println!("  leave failed       {leave_failed}");
        let first = load(&r.first_join_us);
        let last = load(&r.last_join_us);
        let join_rate = if joined > 0 && last > first {
            joined as f64 / ((last - first) as f64 / 1e6)
        } else {
            0.0
        };
        println!("  joins/s            {join_rate:.1}");
        println!();
        println!(
            "  latency (ms)       {:>8} {:>9} {:>9} {:>9} {:>9}",
            "count", "p50", "p90", "p99", "max"
        );
        for (name, h) in [("join", &r.join_latency), ("heartbeat", &r.beat_latency)] {
            println!(
                "  {name:<18} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                h.count(),
                h.quantile_ms(0.50),
                h.quantile_ms(0.90),
                h.quantile_ms(0.99),
                h.max_ms()
            );
        }
        println!();
        let errors = r.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.is_empty() {
            println!("  errors by code     none");
        } else {
            println!("  errors by code");
            for ((phase, code), n) in errors.iter() {
                println!("    {:<16} {code:<24} {n}", phase);
            }
        }
        drop(errors);
        println!();
        let counts: Vec<u32> = self.placement.iter().map(|(_, n)| *n).collect();
        println!("  stages used        {}", counts.len());
        if let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) {
            let sum: u32 = counts.iter().sum();
            println!(
                "  viewers per stage  min {lo}, max {hi}, mean {:.1}",
                f64::from(sum) / counts.len() as f64
            );
        }
        const SHOWN: usize = 25;
        for (arn, n) in self.placement.iter().take(SHOWN) {
            println!("    {arn}  {n}");
        }
        if self.placement.len() > SHOWN {
            println!("    … {} more stages", self.placement.len() - SHOWN);
        }
        match &self.server_view {
            Ok(stats) => println!(
                "  server counted     {} viewers on {} stages (before leaving; all clients)",
                stats.total_viewers, stats.active_stages
            ),
            Err(e) => println!("  server counted     unknown ({})", common::describe(e)),
        }
        println!();
        let usage = ProcessUsage::now();
        match usage.peak_rss_kib {
            Some(kib) => println!(
                "  peak RSS           {:.1} MiB ({:.1} KiB per viewer)",
                kib as f64 / 1024.0,
                kib as f64 / f64::from(a.viewers)
            ),
            None => println!("  peak RSS           unknown"),
        }
        match usage.cpu {
            Some((user, system)) => {
                let cpu = user + system;
                println!(
                    "  CPU time           {:.2}s user + {:.2}s system = {:.1}% of one core over {:.1}s",
                    user.as_secs_f64(),
                    system.as_secs_f64(),
                    100.0 * cpu.as_secs_f64() / self.total.as_secs_f64().max(1e-9),
                    self.total.as_secs_f64()
                );
            }
            None => println!("  CPU time           unknown"),
        }
        println!();
        if failures == 0 {
            println!("  result             OK");
            ExitCode::SUCCESS
        } else {
            println!("  result             FAILED ({failures} failures)");
            ExitCode::FAILURE
        }
    }
}

struct ProcessUsage {
    peak_rss_kib: Option<u64>,
    /// User and system CPU time.
    cpu: Option<(Duration, Duration)>,
}

impl ProcessUsage {
    fn now() -> ProcessUsage {
        let rusage = rusage_self();
        // VmHWM: the resident set's high-water mark (Linux).
        let hwm = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            });
        ProcessUsage {
            peak_rss_kib: hwm.or(rusage.map(|r| r.2)),
            cpu: rusage.map(|r| (r.0, r.1)),
        }
    }
}

/// User time, system time and peak RSS (KiB) of this process.
#[cfg(unix)]
fn rusage_self() -> Option<(Duration, Duration, u64)> {
    // SAFETY: `getrusage` only writes into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return None;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    // ru_maxrss is KiB on Linux, bytes on macOS.
    let maxrss = usage.ru_maxrss.max(0) as u64;
    let maxrss_kib = if cfg!(target_os = "macos") {
        maxrss / 1024
    } else {
        maxrss
    };
    Some((tv(usage.ru_utime), tv(usage.ru_stime), maxrss_kib))
}

#[cfg(not(unix))]
fn rusage_self() -> Option<(Duration, Duration, u64)> {
    None
}

/// Raises the soft open-file limit to the hard one: every request in flight
/// holds a socket, and 1024 (a common default) is too few for a big run.
#[cfg(unix)]
fn raise_fd_limit(in_flight: u32) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    // Joins and leaves are capped at `in_flight`; heartbeats are spread over
    // the interval but can overlap them.
    let wanted = (in_flight as libc::rlim_t).saturating_mul(2) + 64;
    if limit.rlim_cur < wanted {
        eprintln!(
            "warning: only {} open files allowed; lower --max-in-flight or raise `ulimit -n`",
            limit.rlim_cur
        );
    }
}

#[cfg(not(unix))]
fn raise_fd_limit(_in_flight: u32) {}

#[cfg(test)]
mod tests {
    use super::Histogram;
    use std::time::Duration;

    #[test]
    fn histogram_quantiles_are_close() {
        let h = Histogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        for (q, want) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = h.quantile_ms(q);
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max_ms(), 1000.0);
        for us in [0, 1, 127, 128, 129, 1 << 20, u64::MAX] {
            let i = Histogram::index(us);
            assert!(i < h.buckets.len());
        }
    }
}
