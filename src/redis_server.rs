//! A private `redis-server` for tests: its own port on 127.0.0.1 (and a unix
//! socket) and its own temporary directory, no persistence, killed on drop.
//!
//! Tests that need Redis must fail, not skip, when the binary is missing:
//! [`RedisServer::start`] panics with the command that installs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary to run; `REDIS_SERVER_BIN` overrides it.
fn binary() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".to_string())
}

/// How long a fresh server may take to answer `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running private Redis.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// Panics when `redis-server` is not installed (with the install
    /// command) or does not come up.
    pub fn start() -> RedisServer {
        // The free port is found by binding port 0 and releasing it; another
        // process can take it in between, so a failed start tries a new one.
        let mut last_error = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("ivs-redis-")
                .tempdir()
                .unwrap_or_else(|e| panic!("cannot create a temporary directory for Redis: {e}"));
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir,
            };
            match server.launch() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis+unix:///…/redis.sock`: the same server over its unix socket.
    pub fn unix_url(&self) -> String {
        format!("redis+unix://{}", self.socket_path().display())
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing was saved)
    /// and waits until it answers `PING`.
    pub fn restart(&mut self) {
        self.kill();
        // The port was just released by the killed process; retry briefly
        // in case the kernel has not let go of it yet.
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            match self.launch() {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("redis restart on port {} failed, retrying: {e}", self.port);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("redis-server did not restart on port {}: {e}", self.port),
            }
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing
    /// answers, like a hung host or a network partition.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self
            .child
            .as_ref()
            .map(|c| c.id())
            .unwrap_or_else(|| panic!("redis-server is not running"));
        let status = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    /// The `calls` count of a command in `INFO commandstats` (e.g.
    /// `"evalsha"`), 0 when it has not been called.
    pub fn command_stat(&self, cmd: &str) -> u64 {
        let info = self.command(&["INFO", "commandstats"]);
        let wanted = format!("cmdstat_{}:", cmd.to_ascii_lowercase());
        info.lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .and_then(|rest| {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Deletes every key (`FLUSHALL`).
    pub fn flush(&self) {
        self.command(&["FLUSHALL"]);
    }

    /// Runs one command and returns its reply as text (arrays one item a
    /// line; errors as `ERR …`). Panics when the server cannot be reached.
    pub fn command(&self, args: &[&str]) -> String {
        send(self.port, args).unwrap_or_else(|e| panic!("redis command {args:?} failed: {e}"))
    }

    fn socket_path(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let spawned = Command::new(binary())
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .arg("--unixsocket")
            .arg(self.socket_path())
            .args(["--unixsocketperm", "700"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`{}` is not installed; these tests need a real Redis: \
                 run `apt-get install -y redis-server` (or set REDIS_SERVER_BIN)",
                binary()
            ),
            Err(e) => panic!("cannot run `{}`: {e}", binary()),
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr);
                }
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("exited with {status}: {stderr}{log}"));
            }
            if send(self.port, &["PING"]).is_ok_and(|r| r == "PONG") {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no PONG within {READY_WITHIN:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Like [`RedisServer::command`] against the server on `port`, but an
/// unreachable, paused or killed server is an `Err`, not a panic: for
/// background samplers that may race a fault the test injected.
pub fn try_command_on(port: u16, args: &[&str]) -> Result<String, String> {
    send(port, args)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// One RESP request over a fresh TCP connection.
fn send(port: u16, args: &[&str]) -> Result<String, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let timeout = Some(Duration::from_secs(5));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| e.to_string())?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        request.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        request.extend_from_slice(a.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    read_reply(&mut reader)
}

fn read_line(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    if line.is_empty() {
        return Err("connection closed".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_reply(reader: &mut impl BufRead) -> Result<String, String> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    match kind {
        // Errors come back as their text ("ERR …"), like redis-cli prints them.
        "+" | ":" | "-" => Ok(rest.to_string()),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|_| format!("bad bulk length {rest}"))?;
            if len < 0 {
                return Ok(String::new());
            }
            let mut buf = vec![0; len as usize + 2];
            reader.read_exact(&mut buf).map_err(|e| e.to_string())?;
            buf.truncate(len as usize);
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        "*" => {
            let n: i64 = rest
                .parse()
                .map_err(|_| format!("bad array length {rest}"))?;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_reply(reader)?);
            }
            Ok(items.join("\n"))
        }
        _ => Err(format!("unexpected reply {line:?}")),
    }
}
