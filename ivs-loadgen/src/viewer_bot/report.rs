//! What a run did, and its summary as the `viewer-bot` example prints it
//! (`scripts/bench.sh` and `tests/it/examples_smoke.rs` read that text).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ivs_client::model::Stats;

use super::histogram::Histogram;
use super::Plan;
use crate::process::ProcessUsage;

/// Everything a run measured.
#[derive(Debug)]
pub struct Report {
    /// Base URL of the server.
    pub server: String,
    pub plan: Plan,
    /// From the start until the bots were told to leave.
    pub ran_for: Duration,
    /// From the start until the last bot had left.
    pub total: Duration,
    /// Ended by Ctrl-C before the plan's duration.
    pub interrupted: bool,
    pub counts: Counts,
    /// Successful joins divided by the time from the first token request to
    /// the last answer.
    pub joins_per_sec: f64,
    /// The `spawn()` of each session: the viewer-token request, retries
    /// included.
    pub join_latency: Latency,
    /// The round trip of each heartbeat, retries included.
    pub heartbeat_latency: Latency,
    /// `(phase, code)` → count; phases `join`, `heartbeat`, `token refresh`,
    /// `leave`, `bot` (a bot's task panicked).
    pub errors: BTreeMap<(&'static str, String), u64>,
    /// Stage ARN → this run's bots on it when the run ended, sorted by ARN.
    pub placement: Vec<(Arc<str>, u32)>,
    /// `GET /api/stats` at the same moment: every viewer on the server.
    pub server_view: Result<Stats, ivs_client::Error>,
    /// This process, after every bot left.
    pub usage: ProcessUsage,
}

/// How many of each thing happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub joined: u64,
    pub join_failed: u64,
    pub rejoined: u64,
    pub refreshed: u64,
    pub refresh_failed: u64,
    pub heartbeats: u64,
    pub heartbeats_failed: u64,
    pub left: u64,
    /// `leave` found the viewer already gone (the server had dropped it):
    /// not a failure.
    pub left_gone: u64,
    pub leave_failed: u64,
    /// Bots whose task panicked: a bug of the engine or the SDK.
    pub panicked: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    pub(super) fn of(h: &Histogram) -> Latency {
        Latency {
            count: h.count(),
            p50: h.quantile_ms(0.50),
            p90: h.quantile_ms(0.90),
            p99: h.quantile_ms(0.99),
            max: h.max_ms(),
        }
    }
}

/// Stages listed one by one in the summary; the rest are counted.
const STAGES_SHOWN: usize = 25;

impl Report {
    /// Joins, heartbeats (after the SDK's retries), token refreshes and
    /// leaves that failed, and bots that panicked.
    pub fn failures(&self) -> u64 {
        let c = &self.counts;
        c.join_failed + c.heartbeats_failed + c.refresh_failed + c.leave_failed + c.panicked
    }

    /// Bots that never sent their join (the run ended first).
    pub fn not_started(&self) -> u64 {
        let c = &self.counts;
        u64::from(self.plan.viewers).saturating_sub(c.joined + c.join_failed)
    }
}

/// The summary, one `label  value` row per line.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, p) = (&self.counts, &self.plan);
        writeln!(f, "viewer-bot summary")?;
        writeln!(f, "  server             {}", self.server)?;
        write!(
            f,
            "  plan               {} viewers, ramp {:.1}s, duration {:.1}s, heartbeat every {:.1}s",
            p.viewers,
            p.ramp.as_secs_f64(),
            p.duration.as_secs_f64(),
            p.heartbeat_interval.as_secs_f64(),
        )?;
        if self.interrupted {
            write!(f, " (interrupted after {:.1}s)", self.ran_for.as_secs_f64())?;
        }
        writeln!(f)?;
        for (label, n) in [
            ("joined", c.joined),
            ("join failed", c.join_failed),
            ("not started", self.not_started()),
            ("rejoined", c.rejoined),
            ("token refreshes", c.refreshed),
            ("refresh failed", c.refresh_failed),
            ("heartbeats", c.heartbeats),
            ("heartbeat failed", c.heartbeats_failed),
            ("left", c.left),
            ("left, was dropped", c.left_gone),
            ("leave failed", c.leave_failed),
        ] {
            writeln!(f, "  {label:<18} {n}")?;
        }
        if c.panicked > 0 {
            writeln!(f, "  bots panicked      {}", c.panicked)?;
        }
        writeln!(f, "  joins/s            {:.1}", self.joins_per_sec)?;
        writeln!(f)?;
        writeln!(
            f,
            "  latency (ms)       {:>8} {:>9} {:>9} {:>9} {:>9}",
            "count", "p50", "p90", "p99", "max"
        )?;
        for (name, l) in [
            ("join", &self.join_latency),
            ("heartbeat", &self.heartbeat_latency),
        ] {
            writeln!(
                f,
                "  {name:<18} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                l.count, l.p50, l.p90, l.p99, l.max
            )?;
        }
        writeln!(f)?;
        if self.errors.is_empty() {
            writeln!(f, "  errors by code     none")?;
        } else {
            writeln!(f, "  errors by code")?;
            for ((phase, code), n) in &self.errors {
                writeln!(f, "    {phase:<16} {code:<24} {n}")?;
            }
        }
        writeln!(f)?;
        self.fmt_stages(f)?;
        writeln!(f)?;
        self.fmt_usage(f)?;
        writeln!(f)?;
        match self.failures() {
            0 => writeln!(f, "  result             OK"),
            n => writeln!(f, "  result             FAILED ({n} failures)"),
        }
    }
}

impl Report {
    fn fmt_stages(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<u32> = self.placement.iter().map(|(_, n)| *n).collect();
        writeln!(f, "  stages used        {}", counts.len())?;
        if let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) {
            let sum: u32 = counts.iter().sum();
            writeln!(
                f,
                "  viewers per stage  min {lo}, max {hi}, mean {:.1}",
                f64::from(sum) / counts.len() as f64
            )?;
        }
        for (arn, n) in self.placement.iter().take(STAGES_SHOWN) {
            writeln!(f, "    {arn}  {n}")?;
        }
        if self.placement.len() > STAGES_SHOWN {
            writeln!(
                f,
                "    … {} more stages",
                self.placement.len() - STAGES_SHOWN
            )?;
        }
        match &self.server_view {
            Ok(stats) => writeln!(
                f,
                "  server counted     {} viewers on {} stages (before leaving; all clients)",
                stats.total_viewers, stats.total_stages
            ),
            Err(e) => {
                write!(f, "  server counted     unknown (error: {e}")?;
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                writeln!(f, ")")
            }
        }
    }

    fn fmt_usage(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.usage.peak_rss_kib {
            Some(kib) => writeln!(
                f,
                "  peak RSS           {:.1} MiB ({:.1} KiB per viewer)",
                kib as f64 / 1024.0,
                kib as f64 / f64::from(self.plan.viewers)
            )?,
            None => writeln!(f, "  peak RSS           unknown")?,
        }
        match self.usage.cpu {
            Some((user, system)) => writeln!(
                f,
                "  CPU time           {:.2}s user + {:.2}s system = {:.1}% of one core over {:.1}s",
                user.as_secs_f64(),
                system.as_secs_f64(),
                100.0 * (user + system).as_secs_f64() / self.total.as_secs_f64().max(1e-9),
                self.total.as_secs_f64()
            ),
            None => writeln!(f, "  CPU time           unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(counts: Counts, placement: Vec<(Arc<str>, u32)>) -> Report {
        Report {
            server: "http://127.0.0.1:3000".into(),
            plan: Plan {
                viewers: 10,
                duration: Duration::from_secs(3),
                ramp: Duration::from_secs(1),
                heartbeat_interval: Duration::from_secs(1),
                max_in_flight: 4,
                user_prefix: "bot".into(),
                live_display: false,
            },
            ran_for: Duration::from_secs(3),
            total: Duration::from_secs(4),
            interrupted: false,
            counts,
            joins_per_sec: 9.5,
            join_latency: Latency::default(),
            heartbeat_latency: Latency::default(),
            errors: BTreeMap::new(),
            placement,
            server_view: Err(ivs_client::Error::Timeout),
            usage: ProcessUsage::default(),
        }
    }

    /// The value of the row labelled `label` (`  label   value`).
    fn row(text: &str, label: &str) -> Option<String> {
        text.lines().find_map(|l| {
            let rest = l.trim_start().strip_prefix(label)?;
            rest.starts_with("  ").then(|| rest.trim().to_owned())
        })
    }

    #[test]
    fn the_summary_counts_failures_and_bots_never_started() {
        let counts = Counts {
            joined: 7,
            join_failed: 1,
            heartbeats_failed: 2,
            leave_failed: 1,
            ..Counts::default()
        };
        let r = report(counts, vec![]);
        assert_eq!(r.failures(), 4);
        assert_eq!(r.not_started(), 2);
        let text = r.to_string();
        assert_eq!(row(&text, "joined").as_deref(), Some("7"));
        assert_eq!(row(&text, "not started").as_deref(), Some("2"));
        assert_eq!(row(&text, "joins/s").as_deref(), Some("9.5"));
        assert_eq!(row(&text, "stages used").as_deref(), Some("0"));
        assert_eq!(
            row(&text, "server counted").as_deref(),
            Some("unknown (error: request timed out)")
        );
        assert_eq!(row(&text, "peak RSS").as_deref(), Some("unknown"));
        assert_eq!(row(&text, "result").as_deref(), Some("FAILED (4 failures)"));
        assert_eq!(row(&text, "bots panicked"), None);
    }

    #[test]
    fn a_panicked_bot_is_a_failure_and_many_stages_are_cut_short() {
        let placement = (0..30)
            .map(|i| (Arc::from(format!("arn:aws:ivs:x:1:stage/{i:02}")), 2))
            .collect();
        let counts = Counts {
            joined: 10,
            panicked: 1,
            ..Counts::default()
        };
        let text = report(counts, placement).to_string();
        assert_eq!(row(&text, "bots panicked").as_deref(), Some("1"));
        assert_eq!(row(&text, "result").as_deref(), Some("FAILED (1 failures)"));
        assert_eq!(
            row(&text, "viewers per stage").as_deref(),
            Some("min 2, max 2, mean 2.0")
        );
        assert_eq!(
            text.lines().filter(|l| l.contains("stage/")).count(),
            STAGES_SHOWN
        );
        assert!(text.contains("    … 5 more stages\n"), "{text}");
    }
}
