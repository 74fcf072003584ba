//! Follow the live statistics stream and redraw a compact view: total
//! viewers, active stages, whether the publisher is live, and each stage's
//! viewer count — until Ctrl-C.
//!
//! ```text
//! cargo run --example stats-watch              # live view until Ctrl-C
//! cargo run --example stats-watch -- --once    # print one update and exit
//! cargo run --example stats-watch -- --updates 3
//! ```
//!
//! Totals come from the `/ws` stream (one update per server interval, 5 s
//! by default); the per-stage rows and the publisher state from a
//! `GET /api/stats` made at each update. The stream reconnects by itself
//! after a dropped connection or a server restart, so the view survives
//! both; on a terminal it also shows how old the numbers are while it waits.

mod common;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ivs_client::model::{Stats, StatsUpdate};
use ivs_client::Error;
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(about = "Watch ivs-server's live statistics")]
struct Args {
    #[command(flatten)]
    connection: common::Connection,
    /// Print the first update and exit.
    #[arg(long, conflicts_with = "updates")]
    once: bool,
    /// Exit after this many updates.
    #[arg(long, value_name = "N")]
    updates: Option<u64>,
    /// Never clear the screen; print each update below the previous one.
    #[arg(long)]
    no_clear: bool,
    /// Stage rows shown, busiest first (0: all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    max_rows: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let client = match args.connection.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let limit = if args.once { Some(1) } else { args.updates };
    let redraw = !args.no_clear && limit.is_none() && std::io::stdout().is_terminal();
    let server = args.connection.server.clone();

    let mut stream = client.stats_stream();
    let mut seen = 0u64;
    let mut last: Option<(Instant, String)> = None;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    if redraw {
        draw(&format!("ivs stats — {server}\nconnecting…\n"), true);
    }

    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                if redraw {
                    println!();
                }
                return ExitCode::SUCCESS;
            }
            // On a terminal, age the view while no update arrives (for
            // example while the stream reconnects to a restarted server).
            _ = clock.tick(), if redraw && last.is_some() => {
                if let Some((at, view)) = &last {
                    draw(&with_age(view, at.elapsed()), true);
                }
            }
            item = stream.next() => match item {
                Some(Ok(update)) => {
                    let stats = client.stats().overall().await;
                    let view = render(&server, &update, stats, args.max_rows);
                    seen += 1;
                    if redraw {
                        draw(&with_age(&view, Duration::ZERO), true);
                    } else {
                        if seen > 1 {
                            println!();
                        }
                        draw(&view, false);
                    }
                    last = Some((Instant::now(), view));
                    if limit.is_some_and(|n| seen >= n) {
                        return ExitCode::SUCCESS;
                    }
                }
                Some(Err(Error::ServerMessage { code, message })) => {
                    eprintln!("server message: {code}: {message}");
                }
                Some(Err(e)) => return common::fail(&e),
                None => {
                    eprintln!("error: the statistics stream ended");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
}

fn draw(text: &str, clear: bool) {
    let mut out = std::io::stdout().lock();
    let result = if clear {
        write!(out, "\x1b[2J\x1b[H{text}")
    } else {
        write!(out, "{text}")
    };
    // A closed stdout (`| head`) is not worth a panic.
    let _ = result.and_then(|()| out.flush());
}

fn with_age(view: &str, age: Duration) -> String {
    let note = if age < Duration::from_secs(15) {
        format!("updated {}s ago — Ctrl-C to quit\n", age.as_secs())
    } else {
        format!(
            "no update for {}s — waiting for the server (the stream reconnects by itself)\n",
            age.as_secs()
        )
    };
    format!("{view}{note}")
}

fn render(
    server: &str,
    update: &StatsUpdate,
    stats: Result<Stats, Error>,
    max_rows: usize,
) -> String {
    let mut s = String::new();
    let at = update.timestamp.0.format("%H:%M:%S");
    s.push_str(&format!("ivs stats — {server} — {at} UTC\n"));
    s.push_str(&format!("total viewers  {}\n", update.total_viewers));
    s.push_str(&format!("active stages  {}\n", update.total_stages));
    match stats {
        Ok(mut stats) => {
            // Busiest first; the master (oldest) first among equals.
            stats.stages.sort_by(|a, b| {
                b.viewer_count
                    .cmp(&a.viewer_count)
                    .then(a.created_at.0.cmp(&b.created_at.0))
            });
            let shown = if max_rows == 0 {
                stats.stages.len()
            } else {
                max_rows.min(stats.stages.len())
            };
            let hidden = &stats.stages[shown..];
            let live = if stats.is_publisher_live {
                "live"
            } else {
                "offline"
            };
            s.push_str(&format!("publisher      {live}\n"));
            let arn_width = stats
                .stages
                .iter()
                .map(|st| st.arn.as_str().len())
                .max()
                .unwrap_or(0)
                .max("STAGE".len());
            let name_width = stats
                .stages
                .iter()
                .map(|st| st.name.chars().count())
                .max()
                .unwrap_or(0)
                .max("NAME".len());
            s.push_str(&format!(
                "{:<arn_width$}  {:<name_width$}  {:>7}  AUTO\n",
                "STAGE", "NAME", "VIEWERS"
            ));
            for st in &stats.stages[..shown] {
                s.push_str(&format!(
                    "{:<arn_width$}  {:<name_width$}  {:>7}  {}\n",
                    st.arn,
                    st.name,
                    st.viewer_count,
                    if st.auto_scaled { "yes" } else { "no" }
                ));
            }
            if !hidden.is_empty() {
                let viewers: u64 = hidden.iter().map(|st| u64::from(st.viewer_count)).sum();
                s.push_str(&format!(
                    "… {} more stages with {viewers} viewers\n",
                    hidden.len()
                ));
            }
        }
        Err(e) => {
            s.push_str("publisher      ?\n");
            s.push_str(&format!(
                "(per-stage counts unavailable: {})\n",
                common::describe(&e)
            ));
        }
    }
    s
}
