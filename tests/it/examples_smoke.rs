//! Runs every example binary (`examples/`) as a child process against a real
//! server on embedded defaults, and checks exit status and output.
//!
//! The binaries are the ones cargo built for this package: `cargo test`
//! builds the examples of the package it tests (to check they compile) and
//! puts them in `target/<profile>/examples/`, next to `target/<profile>/deps/`
//! where this test binary lives. No cargo command runs from inside the test
//! (it would wait on the build lock that the outer `cargo test` holds).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ivs_test_support::harness::{enc, sample, test_settings, wait_for_sample, TestServer};
use tokio::process::Command;

/// What a finished example printed.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `target/<profile>/examples/<name>`, found from this test binary's path
/// (`target/<profile>/deps/it-<hash>`).
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    const HOW: &str = "`cargo test -p ivs-suite` builds the examples before running this test; \
         a target filter (`cargo test --test it examples_smoke`) does not, so run \
         `cargo build -p ivs-suite --examples` first in that case";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("example binary {} is missing. {HOW}", path.display()));
    // A filtered run would otherwise test an old build of an edited example.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("examples");
    let mut sources = vec![
        dir.join(format!("{name}.rs")),
        dir.join("common").join("mod.rs"),
    ];
    // viewer-bot is a command line over the ivs-loadgen library.
    if name == "viewer-bot" {
        let lib = root.join("ivs-loadgen").join("src");
        for d in [lib.clone(), lib.join("viewer_bot")] {
            let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            sources.extend(
                entries
                    .filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.is_file()),
            );
        }
    }
    for source in sources {
        let edited = std::fs::metadata(&source).and_then(|m| m.modified());
        if let Ok(edited) = edited {
            assert!(
                edited <= built,
                "example binary {} is older than {}. {HOW}",
                path.display(),
                source.display()
            );
        }
    }
    path
}

/// Runs an example with `args` against `server` (flags, not environment).
async fn run(name: &str, server: &TestServer, args: &[&str]) -> Output {
    let mut all = vec!["--server", server.base.as_str(), "--api-key", &server.key];
    all.extend_from_slice(args);
    run_with(name, &all, &[]).await
}

async fn run_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(example_binary(name));
    cmd.args(args)
        .env_remove("IVS_SERVER")
        .env_remove("IVS_API_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("the example starts");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} {args:?} did not finish within 60 s"))
        .expect("the example's output");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `  label   value` rows of a report: label → value (first occurrence).
fn rows(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        if let Some((label, value)) = line.trim().split_once("  ") {
            map.entry(label.trim().to_owned())
                .or_insert_with(|| value.trim().to_owned());
        }
    }
    map
}

#[track_caller]
fn row<'a>(rows: &'a HashMap<String, String>, label: &str, out: &Output) -> &'a str {
    rows.get(label)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no {label:?} row in the output:\n{out:?}"))
}

fn num(value: &str) -> u64 {
    value
        .parse()
        .unwrap_or_else(|_| panic!("{value:?} is not a number"))
}

/// The `count p50 p90 p99 max` numbers of a latency row.
#[track_caller]
fn latency(rows: &HashMap<String, String>, label: &str, out: &Output) -> (u64, Vec<f64>) {
    let cells: Vec<&str> = row(rows, label, out).split_whitespace().collect();
    assert_eq!(cells.len(), 5, "latency row {label:?}: {out:?}");
    let values = cells[1..]
        .iter()
        .map(|c| c.parse::<f64>().expect("a latency"))
        .collect();
    (num(cells[0]), values)
}

#[tokio::test]
async fn viewer_bot_runs_120_viewers_on_3_stages_without_failures() {
    let s = TestServer::start(test_settings()).await;
    let out = run(
        "viewer-bot",
        &s,
        &[
            "--viewers",
            "120",
            // Durations as wrk and k6 write them, and a bare number of seconds.
            "--duration",
            "3s",
            "--ramp",
            "1",
            "--heartbeat-interval",
            "1000ms",
            "--quiet",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let r = rows(&out.stdout);
    assert_eq!(num(row(&r, "joined", &out)), 120, "{out:?}");
    for label in [
        "join failed",
        "not started",
        "heartbeat failed",
        "refresh failed",
        "leave failed",
        "rejoined",
    ] {
        assert_eq!(num(row(&r, label, &out)), 0, "{label}: {out:?}");
    }
    assert_eq!(num(row(&r, "left", &out)), 120, "{out:?}");
    assert_eq!(row(&r, "errors by code", &out), "none", "{out:?}");
    assert_eq!(num(row(&r, "stages used", &out)), 3, "{out:?}");
    assert_eq!(
        row(&r, "server counted", &out),
        "120 viewers on 3 stages (before leaving; all clients)",
        "{out:?}"
    );
    assert_eq!(row(&r, "result", &out), "OK", "{out:?}");
    // Every bot is in for at least 2 s with a beat at once and every second.
    let beats = num(row(&r, "heartbeats", &out));
    assert!((240..=480).contains(&beats), "heartbeats {beats}: {out:?}");

    let (joins, join) = latency(&r, "join", &out);
    assert_eq!(joins, 120, "{out:?}");
    let (beat_count, beat) = latency(&r, "heartbeat", &out);
    assert_eq!(beat_count, beats, "{out:?}");
    for values in [&join, &beat] {
        assert!(values[0] > 0.0, "{out:?}");
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{out:?}");
    }
    let joins_per_s: f64 = row(&r, "joins/s", &out).parse().expect("joins/s");
    assert!(joins_per_s > 30.0, "{out:?}");
    assert!(
        row(&r, "peak RSS", &out).ends_with("per viewer)"),
        "{out:?}"
    );
    assert!(
        row(&r, "CPU time", &out).contains("% of one core"),
        "{out:?}"
    );

    // The placement the bots saw: 3 stages, none above the per-stage limit.
    let stage_rows: Vec<u64> = out
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("arn:aws:ivs:"))
        .map(|l| num(l.split_whitespace().nth(1).expect("a count")))
        .collect();
    assert_eq!(stage_rows.len(), 3, "{out:?}");
    assert_eq!(stage_rows.iter().sum::<u64>(), 120, "{out:?}");
    assert!(stage_rows.iter().all(|n| *n <= 50), "{out:?}");

    // Everybody left.
    let stats = s.get("/api/stats").await;
    assert_eq!(stats.data()["totalViewers"], 0, "{}", stats.text);
}

#[tokio::test]
async fn viewer_bot_reports_join_failures_and_exits_1() {
    let s = TestServer::start(test_settings()).await;
    let out = run_with(
        "viewer-bot",
        &[
            "--server",
            &s.base,
            "--api-key",
            "not-a-key",
            "--viewers",
            "5",
            "--duration",
            "1",
            "--ramp",
            "0",
            "--quiet",
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let r = rows(&out.stdout);
    assert_eq!(num(row(&r, "joined", &out)), 0, "{out:?}");
    assert_eq!(num(row(&r, "join failed", &out)), 5, "{out:?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["join", "UNAUTHORIZED", "5"]),
        "{out:?}"
    );
    assert_eq!(row(&r, "result", &out), "FAILED (5 failures)", "{out:?}");
}

#[tokio::test]
async fn stage_admin_creates_lists_renames_and_deletes() {
    let s = TestServer::start(test_settings()).await;

    let out = run(
        "stage-admin",
        &s,
        &["create", "smoke-stage", "--tag", "Team=smoke"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with("created stage smoke-stage\n"),
        "{out:?}"
    );
    let r = rows(&out.stdout);
    let arn = row(&r, "arn", &out).to_owned();
    assert!(arn.starts_with("arn:aws:ivs:"), "{out:?}");
    assert!(row(&r, "tags", &out).contains("Team=smoke"), "{out:?}");
    let got = s.get(&format!("/api/stage/{}", enc(&arn))).await;
    assert_eq!(got.data()["stage"]["name"], "smoke-stage", "{}", got.text);

    let out = run("stage-admin", &s, &["list"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&arn))
        .unwrap_or_else(|| panic!("{arn} not listed: {out:?}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[1], "smoke-stage", "{out:?}");
    assert_eq!(cells[2], "0", "{out:?}");
    assert!(line.contains("Team=smoke"), "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with(&s.master())),
        "{out:?}"
    );
    assert!(
        out.stdout.trim_end().ends_with("2 stages, 0 viewers"),
        "{out:?}"
    );

    let out = run("stage-admin", &s, &["rename", &arn, "renamed-stage"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(row(&rows(&out.stdout), "name", &out), "renamed-stage");
    let out = run("stage-admin", &s, &["get", &arn]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("stage renamed-stage\n"), "{out:?}");

    let out = run("stage-admin", &s, &["delete", &arn]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with(&format!("deleted stage {arn}\n")),
        "{out:?}"
    );
    let gone = s.get(&format!("/api/stage/{}", enc(&arn))).await;
    gone.expect_error(404, "NOT_FOUND");

    // Deleting it again: a readable API error and exit code 1.
    let out = run("stage-admin", &s, &["delete", &arn]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let line = out.stderr.trim_end();
    assert!(!line.contains('\n'), "{out:?}");
    let rest = line
        .strip_prefix("error: NOT_FOUND (404): ")
        .unwrap_or_else(|| panic!("{out:?}"));
    let (message, details) = rest.split_once(" — ").unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(message, gone.json["message"], "{out:?}");
    assert!(details.contains(&arn), "{out:?}");

    // The master stage cannot be deleted.
    let out = run("stage-admin", &s, &["delete", &s.master()]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.starts_with("error: FORBIDDEN (403): "),
        "{out:?}"
    );
}

#[tokio::test]
async fn stats_watch_once_shows_the_current_total() {
    let s = TestServer::start(test_settings()).await;
    for n in 0..7 {
        s.join(&format!("watch-{n}")).await.data();
    }
    // The stream sends the latest snapshot, taken every 200 ms in tests.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let out = run("stats-watch", &s, &["--once"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let r = rows(&out.stdout);
    assert_eq!(row(&r, "total viewers", &out), "7", "{out:?}");
    assert_eq!(row(&r, "active stages", &out), "1", "{out:?}");
    assert_eq!(row(&r, "publisher", &out), "offline", "{out:?}");
    let master = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&s.master()))
        .unwrap_or_else(|| panic!("no master row: {out:?}"));
    assert_eq!(
        master.split_whitespace().collect::<Vec<_>>()[1..],
        ["master-stage", "7", "no"],
        "{out:?}"
    );
    assert_eq!(out.stdout.matches("total viewers").count(), 1, "{out:?}");

    let out = run("stats-watch", &s, &["--updates", "2"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.matches("total viewers  7\n").count(),
        2,
        "{out:?}"
    );

    // A refused key is reported and ends the program.
    let out = run_with(
        "stats-watch",
        &["--server", &s.base, "--api-key", "not-a-key", "--once"],
        &[],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.starts_with("error: UNAUTHORIZED (401)"),
        "{out:?}"
    );
}

#[tokio::test]
async fn stats_watch_survives_a_server_restart() {
    let first = TestServer::start(test_settings()).await;
    let addr = first.server.addr();
    for n in 0..3 {
        first.join(&format!("before-{n}")).await.data();
    }
    let (base, key) = (first.base.clone(), first.key.clone());
    let watcher = tokio::spawn(async move {
        run_with(
            "stats-watch",
            &["--server", &base, "--api-key", &key, "--updates", "8"],
            &[],
        )
        .await
    });
    // The watcher is a process of its own and may start slowly (CI's
    // machine is busy): wait until the first server serves its stream, then
    // for a few updates (200 ms apart) before taking the server away.
    let text = wait_for_sample(&first, "ivs_ws_connections", 1.0, Duration::from_secs(20)).await;
    assert_eq!(
        sample(&text, "ivs_ws_connections"),
        Some(1.0),
        "the watcher never opened its stream"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.server.shutdown().await;
    // The same address, a new server with other numbers.
    let second = TestServer::start_at(ivs_server::ServerBuilder::new(test_settings()), addr).await;
    for n in 0..5 {
        second.join(&format!("after-{n}")).await.data();
    }
    let out = watcher.await.unwrap();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("total viewers  3\n"), "{out:?}");
    assert!(out.stdout.contains("total viewers  5\n"), "{out:?}");
}

#[tokio::test]
async fn publisher_prints_the_stage_and_whip_url() {
    let s = TestServer::start(test_settings()).await;
    // Through the environment this time, as on a laptop with IVS_SERVER set.
    let out = run_with(
        "publisher",
        &["--user-id", "smoke"],
        &[("IVS_SERVER", &s.base), ("IVS_API_KEY", &s.key)],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .starts_with("publisher token for broadcaster-smoke\n"),
        "{out:?}"
    );
    let r = rows(&out.stdout);
    let master = s.master();
    assert_eq!(row(&r, "stage", &out), master, "{out:?}");
    let stage_id = master.rsplit('/').next().expect("a stage id");
    let whip = row(&r, "WHIP URL", &out);
    assert!(whip.starts_with("https://"), "{out:?}");
    assert!(whip.ends_with(stage_id), "{out:?}");
    // The OBS block repeats it as the server URL.
    assert_eq!(row(&r, "Server", &out), whip, "{out:?}");
    assert_eq!(row(&r, "Service", &out), "WHIP", "{out:?}");
    assert_eq!(row(&r, "token", &out).split('.').count(), 3, "{out:?}");
    // Publisher tokens live 4 hours.
    let expires = row(&r, "expires", &out);
    assert!(
        expires.ends_with("(in 3h 59m)") || expires.ends_with("(in 4h 00m)"),
        "{out:?}"
    );

    let live = s.get("/api/stats/publisher").await;
    assert_eq!(live.data()["isLive"], true, "{}", live.text);
}

/// The webhook-receiver example, started on a free port with `secret`.
struct WebhookReceiver {
    child: tokio::process::Child,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// Where it listens, from its first line.
    url: String,
}

impl WebhookReceiver {
    async fn start(secret: &str, args: &[&str]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = Command::new(example_binary("webhook-receiver"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .env("IVS_WEBHOOK_SECRET", secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the example starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut receiver = WebhookReceiver {
            child,
            stdout: tokio::io::BufReader::new(stdout).lines(),
            url: String::new(),
        };
        let first = receiver.next_line().await;
        receiver.url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {first:?}"))
            .to_owned();
        receiver
    }

    async fn next_line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line())
            .await
            .expect("a line from the receiver within 30 s")
            .expect("stdout")
            .expect("the receiver is still running")
    }

    /// Waits for it to exit (`stop`: kills it first); its exit code, the
    /// rest of its stdout's lines and its stderr.
    async fn finish(mut self, stop: bool) -> (Output, Vec<String>) {
        use tokio::io::AsyncReadExt;
        if stop {
            self.child.start_kill().expect("stop the receiver");
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the receiver exits within 30 s")
            .expect("its status");
        let mut rest = Vec::new();
        while let Ok(Some(line)) = self.stdout.next_line().await {
            rest.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut stderr).await.expect("stderr");
        }
        let out = Output {
            code: status.code(),
            stdout: rest.join("\n"),
            stderr,
        };
        (out, rest)
    }
}

/// The webhook receiver, fed deliveries signed here as the server signs
/// them: events printed once, a retry acknowledged without printing again,
/// forgeries and replays answered 401, a signed non-event 400.
#[tokio::test]
async fn webhook_receiver_verifies_deduplicates_and_refuses_forgeries() {
    use ivs_client::webhook::Verifier;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ARN: &str = "arn:aws:ivs:us-east-1:123456789012:stage/abcdEFGH1234";
    let receiver = WebhookReceiver::start(SECRET, &["--events", "2"]).await;
    let url = receiver.url.clone();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let joined = format!(
        r#"{{"id":"evt_1","type":"viewer.joined","timestamp":"2025-10-19T12:00:00.000Z","data":{{"userId":"viewer-001","stageArn":"{ARN}","participantId":"p1"}}}}"#
    );
    let live = format!(
        r#"{{"id":"evt_2","type":"publisher.live","timestamp":"2025-10-19T12:00:01.000Z","data":{{"stageArn":"{ARN}"}}}}"#
    );
    let server = Verifier::new(SECRET).expect("the secret");
    let other = Verifier::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("a secret");
    let http = reqwest::Client::new();
    let post = |signer: &Verifier, id: &str, timestamp: i64, body: &str| {
        let signature = signer.sign(id, timestamp, body.as_bytes());
        http.post(url.as_str())
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let status = |r: reqwest::Result<reqwest::Response>| r.expect("an answer").status().as_u16();

    assert_eq!(status(post(&server, "evt_1", now, &joined).await), 204);
    // The retry of a delivery whose answer got lost: acknowledged, not handled again.
    assert_eq!(status(post(&server, "evt_1", now + 5, &joined).await), 204);
    assert_eq!(status(post(&other, "evt_2", now, &live).await), 401);
    assert_eq!(status(post(&server, "evt_2", now - 3600, &live).await), 401);
    assert_eq!(status(post(&server, "evt_3", now, "{}").await), 400);
    let unsigned = http.post(url.as_str()).body(live.clone()).send().await;
    assert_eq!(status(unsigned), 401);
    assert_eq!(status(post(&server, "evt_2", now, &live).await), 204);

    // Two events handled: the receiver exits by itself.
    let (out, rest) = receiver.finish(false).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        rest,
        [
            format!(
                r#"evt_1 viewer.joined {{"participantId":"p1","stageArn":"{ARN}","userId":"viewer-001"}}"#
            ),
            format!(r#"evt_2 publisher.live {{"stageArn":"{ARN}"}}"#),
        ],
        "{out:?}"
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 5, "{out:?}");
    assert_eq!(lines[0], "duplicate evt_1 (already handled)", "{out:?}");
    assert_eq!(
        lines[1], "rejected (401): no webhook signature matches",
        "{out:?}"
    );
    // The receiver's clock may have ticked past `now` by a second or two.
    let age = lines[2]
        .strip_prefix("rejected (401): webhook timestamp is ")
        .and_then(|rest| rest.split_once("s old"))
        .and_then(|(secs, _)| secs.parse::<u64>().ok());
    assert!(matches!(age, Some(3600..=3602)), "{out:?}");
    assert!(
        lines[3].starts_with("rejected (400): webhook body is not an event"),
        "{out:?}"
    );
    assert_eq!(
        lines[4], "rejected (401): missing header `webhook-id`",
        "{out:?}"
    );
}

/// The webhook receiver against a real server sending webhooks to it: what
/// the server signs, the SDK's verifier accepts (two implementations of the
/// scheme, checked against each other end to end).
#[tokio::test]
async fn webhook_receiver_verifies_a_real_servers_deliveries() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJ4cXn0bV1sE=";
    let mut receiver = WebhookReceiver::start(SECRET, &[]).await;
    let url = receiver.url.clone();

    let mut settings = test_settings();
    settings.webhooks.urls =
        Some(ivs_server::webhooks::settings::parse_urls(&url).expect("the receiver's URL"));
    settings.webhooks.secret =
        Some(ivs_server::webhooks::settings::parse_secret(SECRET).expect("the secret"));
    let s = TestServer::start(settings).await;
    let token = s.join("hooked-1").await;
    let stage = token.data()["stageArn"].clone();
    s.post(
        "/api/viewer/leave",
        serde_json::json!({ "userId": "hooked-1", "stageArn": stage }),
    )
    .await
    .data();

    // Other events (the master stage's) come too, and deliveries need not
    // arrive in order: wait for both.
    let mut seen: Vec<String> = Vec::new();
    let find = |seen: &[String], kind: &str| seen.iter().find(|l| l.contains(kind)).cloned();
    while find(&seen, " viewer.joined ").is_none() || find(&seen, " viewer.left ").is_none() {
        seen.push(receiver.next_line().await);
    }
    let joined = find(&seen, " viewer.joined ").unwrap_or_default();
    assert!(joined.contains(r#""userId":"hooked-1""#), "{seen:?}");
    let left = find(&seen, " viewer.left ").unwrap_or_default();
    assert!(left.contains(r#""userId":"hooked-1""#), "{seen:?}");
    assert!(left.contains(r#""watchDuration":"#), "{seen:?}");

    let (out, _) = receiver.finish(true).await;
    assert!(!out.stderr.contains("rejected"), "{out:?}\n{seen:?}");
}
