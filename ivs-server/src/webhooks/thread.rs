//! Delivery runs on an OS thread of its own, at a lower CPU priority
//! (`IVS_WEBHOOK_NICE`), with a single-threaded Tokio runtime.
//!
//! Each event costs the server a signature, a request and a response
//! (20 to 75 µs of CPU depending on the machine, docs/performance.md
//! "Webhooks"). On the request
//! runtime those tasks queue between joins and heartbeats and lengthen their
//! tail whenever the cores are busy. On a thread the kernel schedules below
//! the request workers, delivery takes the CPU they leave: requests come
//! first, and delivery catches up once the burst is over (its backlog is the
//! durable log, so waiting loses nothing).
//!
//! The store's connection stays where it was made: calls from this thread go
//! through its handle, and a replacement connection is made on the runtime
//! that made the first one (`store::redis::link`), never on this thread.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::deliver;
use crate::service::App;

/// The thread's name, as `top -H` and `/proc/<pid>/task/*/comm` show it.
pub const THREAD_NAME: &str = "ivs-webhooks";

/// Starts delivery on its own thread (nothing when no endpoint is
/// configured). The returned task completes once delivery has stopped after
/// `stop` turned true.
///
/// Should the thread or its runtime fail to start, delivery runs on the
/// calling runtime instead: slower requests under load are better than no
/// webhooks.
pub fn start(app: Arc<App>, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    if deliver::endpoints(&app).is_empty() {
        return tokio::spawn(async {});
    }
    let nice = app.settings().webhooks.nice;
    let requests = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let (thread_app, thread_stop) = (app.clone(), stop.clone());
    let spawned = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            lower_priority(nice);
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(deliver::run(thread_app, thread_stop)),
                Err(e) => {
                    tracing::error!(error = %e, "webhooks: no runtime for the delivery thread; delivering on the request runtime");
                    let task = requests.spawn(deliver::run(thread_app, thread_stop));
                    let _ = requests.block_on(task);
                }
            }
            let _ = done_tx.send(());
        });
    match spawned {
        // An error from `done_rx` means the thread ended without a word (a
        // panic, already reported by the panic hook): delivery has stopped.
        Ok(_) => tokio::spawn(async move {
            let _ = done_rx.await;
        }),
        Err(e) => {
            tracing::error!(error = %e, "webhooks: the delivery thread could not start; delivering on the request runtime");
            tokio::spawn(deliver::run(app, stop))
        }
    }
}

/// Lowers the calling thread's CPU priority to nice `nice` (Linux: the nice
/// value is per thread). A server already started at that nice value or
/// above (`nice -n 15 ivs-server`, systemd's `Nice=`) keeps its own: raising
/// a priority needs a privilege, and requests would then no longer come
/// first. A refusal (a seccomp profile) only costs the priority, so it is
/// logged and delivery goes on.
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    let tid = rustix::thread::gettid();
    let current = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
    if nice <= current {
        return;
    }
    match rustix::process::setpriority_process(Some(tid), nice) {
        Ok(()) => tracing::debug!(nice, "webhooks: delivery thread priority lowered"),
        Err(e) => {
            tracing::warn!(nice, error = %e, "webhooks: could not lower the delivery thread's priority")
        }
    }
}

/// Elsewhere the nice value belongs to the whole process: left alone.
#[cfg(not(target_os = "linux"))]
fn lower_priority(nice: i32) {
    if nice != 0 {
        tracing::debug!(
            nice,
            "webhooks: IVS_WEBHOOK_NICE applies on Linux only; delivery runs at the server's priority"
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::lower_priority;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(-100)
    }

    #[test]
    fn lowers_a_thread_and_never_raises_it() {
        // On a thread of its own: nice values are per thread, and a raised
        // one cannot be taken back without a privilege.
        let seen = std::thread::spawn(|| {
            let start = own_nice();
            lower_priority(start + 3);
            let lowered = own_nice();
            lower_priority(start + 1);
            (start, lowered, own_nice())
        })
        .join()
        .expect("the thread ran");
        let (start, lowered, after) = seen;
        assert_eq!(lowered, start + 3, "lowered to the value asked for");
        assert_eq!(after, start + 3, "a smaller value leaves it where it is");
    }
}
