//! A private `redis-server` for tests: its own port on 127.0.0.1 (and a unix
//! socket) and its own temporary directory, no persistence, killed on drop.
//!
//! Tests that need Redis must fail, not skip, when the binary is missing:
//! [`RedisServer::start`] panics with the command that installs it.
//!
//! [`RedisServer::start_with`] adds a TLS port (throwaway CA made with the
//! `openssl` CLI) and/or an ACL user. The plain port stays open on 127.0.0.1
//! so that the harness' own commands ([`RedisServer::command`]) need neither.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary to run; `REDIS_SERVER_BIN` overrides it.
pub(crate) fn binary() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".to_string())
}

/// How long a fresh server may take to answer `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// What [`RedisServer::start_with`] adds to a plain server.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// Also listen on a TLS port with a certificate for `127.0.0.1` and
    /// `localhost` signed by a throwaway CA ([`RedisServer::ca_cert_path`]).
    pub tls: bool,
    /// An ACL user `(name, password)` with every permission. The `default`
    /// user then needs a password only the harness knows, so a client that
    /// does not authenticate as this user is refused (`NOAUTH`).
    pub acl_user: Option<(String, String)>,
}

/// The password of the `default` user on a server with an ACL user: the
/// harness authenticates with it, the server under test does not know it.
const HARNESS_PASSWORD: &str = "ivs-harness-admin";

/// A running private Redis.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    options: RedisOptions,
    tls: Option<TlsFiles>,
    tls_port: Option<u16>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// Panics when `redis-server` is not installed (with the install
    /// command) or does not come up.
    pub fn start() -> RedisServer {
        RedisServer::start_with(RedisOptions::default())
    }

    /// Like [`RedisServer::start`], with TLS and/or an ACL user.
    ///
    /// Panics also when TLS is asked for and `openssl` is not installed.
    pub fn start_with(options: RedisOptions) -> RedisServer {
        // The free port is found by binding port 0 and releasing it; another
        // process can take it in between, so a failed start tries a new one.
        let mut last_error = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("ivs-redis-")
                .tempdir()
                .unwrap_or_else(|e| panic!("cannot create a temporary directory for Redis: {e}"));
            let tls = options.tls.then(|| TlsFiles::generate(dir.path()));
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir,
                tls_port: tls.as_ref().map(|_| free_port()),
                tls,
                options: options.clone(),
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

    /// `rediss://127.0.0.1:TLS_PORT` (with the user's credentials when the
    /// server has an ACL user). Panics when the server was started without TLS.
    pub fn tls_url(&self) -> String {
        let port = self
            .tls_port
            .unwrap_or_else(|| panic!("this redis-server was started without TLS"));
        format!("rediss://{}127.0.0.1:{port}", self.userinfo())
    }

    /// The TLS port. Panics when the server was started without TLS.
    pub fn tls_port(&self) -> u16 {
        self.tls_port
            .unwrap_or_else(|| panic!("this redis-server was started without TLS"))
    }

    /// The PEM file of the CA that signed the server's certificate: what a
    /// client must trust for [`RedisServer::tls_url`].
    pub fn ca_cert_path(&self) -> PathBuf {
        self.tls
            .as_ref()
            .map(|t| t.ca_cert.clone())
            .unwrap_or_else(|| panic!("this redis-server was started without TLS"))
    }

    /// `redis://USER:PASSWORD@127.0.0.1:PORT`. Panics when the server was
    /// started without an ACL user.
    pub fn url_with_user(&self) -> String {
        assert!(
            self.options.acl_user.is_some(),
            "this redis-server was started without an ACL user"
        );
        format!("redis://{}127.0.0.1:{}", self.userinfo(), self.port)
    }

    /// `user:password@` percent-encoded, or nothing without an ACL user.
    fn userinfo(&self) -> String {
        match &self.options.acl_user {
            Some((user, password)) => format!(
                "{}:{}@",
                percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC),
                percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
            ),
            None => String::new(),
        }
    }

    /// The credentials the harness' own commands use, if the server needs any.
    fn harness_auth(&self) -> Option<(&'static str, &'static str)> {
        self.options
            .acl_user
            .as_ref()
            .map(|_| ("default", HARNESS_PASSWORD))
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
        send_as(self.port, self.harness_auth(), args)
            .unwrap_or_else(|e| panic!("redis command {args:?} failed: {e}"))
    }

    fn socket_path(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let mut command = Command::new(binary());
        command.arg("--port").arg(self.port.to_string());
        if let (Some(tls), Some(tls_port)) = (&self.tls, self.tls_port) {
            command.arg("--tls-port").arg(tls_port.to_string());
            tls.add_server_args(&mut command);
        }
        command
            .args(["--bind", "127.0.0.1"])
            .arg("--unixsocket")
            .arg(self.socket_path())
            .args(["--unixsocketperm", "700"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(["--daemonize", "no", "--protected-mode", "no"]);
        self.child = Some(spawn_until_pong(
            &mut command,
            self.port,
            &log,
            READY_WITHIN,
        )?);
        // Nothing is persisted, so a restart must set the users again.
        self.apply_acl()
    }
}

/// Spawns `command` (a `redis-server` logging to `log`) and waits until it
/// answers `PING` on `port`. Panics when the binary is not installed, with
/// the command that installs it; an `Err` (with its stderr and log) when it
/// exits, or stays silent for `within`.
pub(crate) fn spawn_until_pong(
    command: &mut Command,
    port: u16,
    log: &Path,
    within: Duration,
) -> Result<Child, String> {
    let spawned = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{}` is not installed; these tests need a real Redis: \
             run `apt-get install -y redis-server redis-tools` (or set REDIS_SERVER_BIN)",
            binary()
        ),
        Err(e) => panic!("cannot run `{}`: {e}", binary()),
    };
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("exited with {status}: {stderr}{log}"));
        }
        if send(port, &["PING"]).is_ok_and(|r| r == "PONG") {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no PONG within {within:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl RedisServer {
    /// Adds the ACL user, then gives `default` a password only the harness
    /// knows: from then on an unauthenticated client gets `NOAUTH`.
    fn apply_acl(&mut self) -> Result<(), String> {
        let Some((user, password)) = self.options.acl_user.clone() else {
            return Ok(());
        };
        let rule = format!(">{password}");
        let reply = send(
            self.port,
            &[
                "ACL", "SETUSER", &user, "reset", "on", &rule, "~*", "&*", "+@all",
            ],
        )?;
        if reply != "OK" {
            return Err(format!("ACL SETUSER {user}: {reply}"));
        }
        let admin = format!(">{HARNESS_PASSWORD}");
        let reply = send(
            self.port,
            &["ACL", "SETUSER", "default", "on", "resetpass", &admin],
        )?;
        if reply != "OK" {
            return Err(format!("ACL SETUSER default: {reply}"));
        }
        Ok(())
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

/// The certificates of a TLS server: a throwaway CA and a server certificate
/// for `127.0.0.1` and `localhost` signed by it, made with the `openssl` CLI.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate (PEM): what clients trust.
    pub ca_cert: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Writes `ca.crt`, `server.crt` and `server.key` into `dir`.
    ///
    /// Panics when `openssl` is missing (with the install command) or fails.
    pub fn generate(dir: &Path) -> TlsFiles {
        let files = TlsFiles {
            ca_cert: dir.join("ca.crt"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        let ca_key = dir.join("ca.key");
        let csr = dir.join("server.csr");
        let ext = dir.join("server.ext");
        // rustls (webpki) accepts only v3 certificates with a SAN for the
        // host it dialled, and only CAs marked as such.
        std::fs::write(
            &ext,
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", ext.display()));
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            &[
                &["req", "-x509", "-nodes"][..],
                &ec,
                &["-days", "2", "-subj", "/CN=ivs-test-ca"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
            &[("-keyout", &ca_key), ("-out", &files.ca_cert)],
        );
        openssl(
            &[&["req", "-nodes"][..], &ec, &["-subj", "/CN=localhost"]].concat(),
            &[("-keyout", &files.key), ("-out", &csr)],
        );
        openssl(
            &["x509", "-req", "-days", "2", "-set_serial", "2"],
            &[
                ("-in", &csr),
                ("-CA", &files.ca_cert),
                ("-CAkey", &ca_key),
                ("-extfile", &ext),
                ("-out", &files.cert),
            ],
        );
        files
    }

    /// The `redis-server` arguments that load these files. Clients need no
    /// certificate of their own.
    pub fn add_server_args(&self, command: &mut Command) {
        command
            .arg("--tls-cert-file")
            .arg(&self.cert)
            .arg("--tls-key-file")
            .arg(&self.key)
            .arg("--tls-ca-cert-file")
            .arg(&self.ca_cert)
            .args(["--tls-auth-clients", "no"]);
    }
}

fn openssl(args: &[&str], paths: &[(&str, &PathBuf)]) {
    let mut command = Command::new("openssl");
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = match command.stdin(Stdio::null()).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`openssl` is not installed; the TLS tests need it to make their certificates: \
             run `apt-get install -y openssl`"
        ),
        Err(e) => panic!("cannot run openssl: {e}"),
    };
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// One RESP request over a fresh plain TCP connection to `127.0.0.1:port`;
/// the reply as text (arrays one item a line, nested arrays flattened;
/// errors as their text, `ERR …`). `Err` only when the server cannot be
/// reached or answers garbage.
pub fn send(port: u16, args: &[&str]) -> Result<String, String> {
    send_as(port, None, args)
}

/// Like [`send`], after `AUTH user password` on the same connection when
/// `auth` is given (a refused `AUTH` is an `Err`).
pub fn send_as(port: u16, auth: Option<(&str, &str)>, args: &[&str]) -> Result<String, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let timeout = Some(Duration::from_secs(5));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    if let Some((user, password)) = auth {
        write_request(&mut stream, &["AUTH", user, password])?;
        let reply = read_reply(&mut reader)?;
        if reply != "OK" {
            return Err(format!("AUTH {user} refused: {reply}"));
        }
    }
    write_request(&mut stream, args)?;
    read_reply(&mut reader)
}

fn write_request(stream: &mut TcpStream, args: &[&str]) -> Result<(), String> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        request.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        request.extend_from_slice(a.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request).map_err(|e| e.to_string())
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
