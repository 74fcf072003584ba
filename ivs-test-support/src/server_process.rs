//! The built `ivs-server` binary as a separate OS process, as users deploy it.
//!
//! Fleet tests start several of these against one private `redis-server` and
//! an IVS fake reachable over HTTP: nothing is shared in memory, so each
//! instance has its own runtime, its own emulator or AWS client, and dies
//! for real when it is sent `SIGKILL`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a process may take to print its listening line.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// `target/<profile>/ivs-server`, found from this test binary's path
/// (`target/<profile>/deps/<test>-<hash>`).
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("IVS_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir.join(format!("ivs-server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "the ivs-server binary {} is missing: `cargo test --workspace` builds it; \
         with a target filter run `cargo build -p ivs-server` first",
        path.display()
    );
    path
}

/// A running `ivs-server` process. Dropping it kills the process.
pub struct ServerProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bound address.
    pub addr: std::net::SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    env: HashMap<String, String>,
}

impl ServerProcess {
    /// Starts the binary on `127.0.0.1:0` with JSON logs and these extra
    /// variables, and waits until it listens. Panics with its output when it
    /// does not come up.
    pub fn start(env: &[(&str, &str)]) -> ServerProcess {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_env(env)
    }

    fn start_env(env: HashMap<String, String>) -> ServerProcess {
        Self::try_start_env(env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`ServerProcess::start`], but returns the process output when it
    /// exits or does not come up instead of panicking.
    pub fn try_start(env: &[(&str, &str)]) -> Result<ServerProcess, String> {
        Self::try_start_env(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn try_start_env(env: HashMap<String, String>) -> Result<ServerProcess, String> {
        let mut cmd = Command::new(server_binary());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("IVS_BIND", "127.0.0.1:0")
            .env("IVS_LOG_FORMAT", "json")
            .env("RUST_LOG", "info,warp::filters::trace=warn")
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start ivs-server: {e}"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let found = lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find_map(|l| listening_addr(l));
            if let Some(addr) = found {
                return Ok(ServerProcess {
                    child: Some(child),
                    base: format!("http://{addr}"),
                    addr,
                    lines,
                    env,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "ivs-server exited with {status} before listening:\n{}",
                    lines.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "ivs-server did not listen within {READY_WITHIN:?}:\n{}",
                    lines.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts another process with the same environment (a restart after a crash).
    pub fn start_again(&self) -> ServerProcess {
        Self::start_env(self.env.clone())
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Everything the process printed so far (JSON log lines).
    pub fn logs(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Log lines containing `needle`.
    pub fn log_lines_with(&self, needle: &str) -> Vec<String> {
        self.logs()
            .into_iter()
            .filter(|l| l.contains(needle))
            .collect()
    }

    /// `SIGKILL`: the process dies where it stands (no shutdown, no lease release).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `SIGTERM` and waits up to `within` for the exit.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The address of the binary's "ivs-server listening" JSON log line.
fn listening_addr(line: &str) -> Option<std::net::SocketAddr> {
    if !line.contains("ivs-server listening") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value["fields"]["addr"].as_str()?.parse().ok()
}
