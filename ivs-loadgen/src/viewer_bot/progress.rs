//! The live display on stderr.

use std::io::IsTerminal;
use std::sync::atomic::Ordering::Relaxed;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Plan, Run};

pub(super) struct Progress {
    bar: ProgressBar,
    run: Run,
}

impl Progress {
    pub(super) fn new(plan: &Plan, run: Run) -> Progress {
        let target = if plan.live_display && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr_with_hz(5)
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(u64::from(plan.viewers)), target);
        // The template is a constant: it parses, and indicatif's plain bar
        // would do if it ever did not.
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed:>4} [{bar:20}] {pos}/{len} joined | {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Progress { bar, run }
    }

    pub(super) fn update(&self, phase: &str) {
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

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
