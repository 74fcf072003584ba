//! What a test knows about its viewers (the ones it got a 200 for), the
//! joins it sends, and the heartbeats that keep its viewers alive.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::{Api, Reply};

/// What the test knows about its viewers: those it got a 200 for and still
/// keeps alive, and those whose fate it cannot know (their stage was deleted
/// behind the servers' back): they may or may not still be counted.
#[derive(Debug, Default, Clone)]
pub struct Viewers {
    alive: BTreeMap<String, String>,
    unknown: BTreeSet<String>,
}

impl Viewers {
    /// A join answered 200 for `user` on `arn`.
    pub fn accept(&mut self, user: &str, arn: &str) {
        self.unknown.remove(user);
        self.alive.insert(user.to_string(), arn.to_string());
    }

    /// Every viewer on `arn` becomes "unknown"; returns how many.
    pub fn forget_stage(&mut self, arn: &str) -> usize {
        let gone: Vec<String> = self
            .alive
            .iter()
            .filter(|(_, a)| *a == arn)
            .map(|(u, _)| u.clone())
            .collect();
        for u in &gone {
            self.alive.remove(u);
            self.unknown.insert(u.clone());
        }
        gone.len()
    }

    /// User → stage of the viewers that must be counted.
    pub fn alive(&self) -> &BTreeMap<String, String> {
        &self.alive
    }

    /// Whether `user` is alive on `arn`.
    pub fn is_alive_on(&self, user: &str, arn: &str) -> bool {
        self.alive.get(user).is_some_and(|a| a == arn)
    }

    /// Viewers that may or may not be counted.
    pub fn unknown(&self) -> &BTreeSet<String> {
        &self.unknown
    }
}

/// One join the test sent.
#[derive(Debug, Clone)]
pub struct Join {
    /// The user id.
    pub user: String,
    /// The process slot it was sent to.
    pub slot: usize,
    /// When it was sent.
    pub sent_at: Instant,
    /// The answer.
    pub reply: Reply,
}

impl Join {
    /// The stage a 200 put the viewer on.
    pub fn stage(&self) -> Option<&str> {
        (self.reply.status == Some(200))
            .then(|| self.reply.data()["stageArn"].as_str())
            .flatten()
    }
}

/// The part of a fleet that tasks can share: the API, the live processes'
/// addresses (by slot; `None` while a slot is down) and the viewers.
#[derive(Debug, Clone)]
pub struct FleetClient {
    /// The HTTP client.
    pub api: Api,
    pub(super) bases: Arc<RwLock<Vec<Option<String>>>>,
    pub(super) viewers: Arc<Mutex<Viewers>>,
}

impl FleetClient {
    /// The live processes: (slot, base URL).
    pub fn live(&self) -> Vec<(usize, String)> {
        self.bases
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.clone().map(|b| (i, b)))
            .collect()
    }

    /// The base URL of a slot, if it is up.
    pub fn base(&self, slot: usize) -> Option<String> {
        self.bases
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slot)
            .cloned()
            .flatten()
    }

    /// The viewers (locked).
    pub fn viewers(&self) -> std::sync::MutexGuard<'_, Viewers> {
        self.viewers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins `users`, `concurrency` at a time, user `i` on the `i`-th live
    /// process (round-robin), and records every 200 as an alive viewer.
    pub async fn join_all(&self, users: Vec<String>, concurrency: usize) -> Vec<Join> {
        let live = self.live();
        assert!(!live.is_empty(), "no live process to join on");
        let calls = users.into_iter().enumerate().map(|(i, user)| {
            let (slot, base) = live[i % live.len()].clone();
            let api = self.api.clone();
            async move {
                let sent_at = Instant::now();
                let reply = api.join(&base, &user).await;
                Join {
                    user,
                    slot,
                    sent_at,
                    reply,
                }
            }
        });
        let joins: Vec<Join> = futures_util::stream::iter(calls)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        self.record(&joins);
        joins
    }

    /// Records the 200s among `joins` as alive viewers.
    pub fn record(&self, joins: &[Join]) {
        let mut viewers = self.viewers();
        for j in joins {
            if let Some(arn) = j.stage() {
                viewers.accept(&j.user, arn);
            }
        }
    }

    /// Starts heartbeating every alive viewer every `interval`, each time
    /// through another live process.
    pub fn heartbeats(&self, interval: Duration) -> Heartbeats {
        let stop = Arc::new(AtomicBool::new(false));
        let client = self.clone();
        let flag = stop.clone();
        let task = tokio::spawn(async move { client.heartbeat_loop(interval, flag).await });
        Heartbeats { stop, task }
    }

    async fn heartbeat_loop(self, interval: Duration, stop: Arc<AtomicBool>) -> HeartbeatReport {
        let mut report = HeartbeatReport::default();
        let mut round = 0usize;
        while !stop.load(Ordering::Acquire) {
            let started = tokio::time::Instant::now();
            let live = self.live();
            let targets: Vec<(String, String)> = self
                .viewers()
                .alive()
                .iter()
                .map(|(u, a)| (u.clone(), a.clone()))
                .collect();
            if !live.is_empty() {
                let calls = targets.into_iter().enumerate().map(|(k, (user, arn))| {
                    let (_, base) = live[(k + round) % live.len()].clone();
                    let api = self.api.clone();
                    async move {
                        let reply = api.heartbeat(&base, &user, &arn).await;
                        (user, arn, base, reply)
                    }
                });
                let replies: Vec<_> = futures_util::stream::iter(calls)
                    .buffer_unordered(32)
                    .collect()
                    .await;
                for (user, arn, base, reply) in replies {
                    report.sent += 1;
                    report.slowest = report.slowest.max(reply.elapsed);
                    match reply.status {
                        Some(200) => report.ok += 1,
                        // Only a viewer the test still counts on that stage is
                        // lost; one whose stage the test deleted may be gone.
                        Some(404) if self.viewers().is_alive_on(&user, &arn) => {
                            report.lost.insert(format!("{user} on {arn}"));
                            *report.other.entry(format!("404 via {base}")).or_default() += 1;
                        }
                        _ => *report.other.entry(reply.outcome()).or_default() += 1,
                    }
                }
            }
            round += 1;
            tokio::time::sleep_until(started + interval).await;
        }
        report
    }
}

/// The background heartbeat task.
pub struct Heartbeats {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<HeartbeatReport>,
}

impl Heartbeats {
    /// Stops after the current round and returns what happened.
    pub async fn stop(self) -> HeartbeatReport {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("the heartbeat task")
    }
}

/// What the heartbeats were answered.
#[derive(Debug, Default, Clone)]
pub struct HeartbeatReport {
    /// Heartbeats sent.
    pub sent: usize,
    /// Answered 200.
    pub ok: usize,
    /// Viewers the test still counted alive on a stage whose heartbeat
    /// there was answered 404 (each once).
    pub lost: BTreeSet<String>,
    /// Other outcomes (`"503 SERVICE_UNAVAILABLE"`, `"no answer"`, the
    /// lost viewers' `"404 via <instance>"`) and their counts.
    pub other: BTreeMap<String, usize>,
    /// The slowest answer.
    pub slowest: Duration,
}
