//! A private Redis Cluster for tests: three primaries and three replicas,
//! each a `redis-server` on its own port of 127.0.0.1 with its own temporary
//! directory, no persistence, all killed on drop.
//!
//! Like [`crate::redis_server::RedisServer`], a missing binary is a panic
//! with the install command, never a skipped test.
//!
//! [`RedisCluster::start_tls`] runs the same cluster over TLS (client, bus
//! and replication links). Every node then also keeps a plain port on
//! 127.0.0.1 that only the harness' own commands use; the cluster announces
//! its TLS ports, so a client that follows the slot map talks TLS only.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::{binary, send, spawn_until_pong, TlsFiles};

/// Number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// Primaries and replicas of the test cluster.
const PRIMARIES: usize = 3;
const NODES: usize = 6;

/// How long a node may take to answer `PING`.
const NODE_READY_WITHIN: Duration = Duration::from_secs(10);
/// How long the cluster may take to agree on its slot map after `create`
/// or after a node restarts.
const STABLE_WITHIN: Duration = Duration::from_secs(30);
/// The cluster bus listens on the client port + 10000.
const BUS_OFFSET: u16 = 10000;

fn cli_binary() -> String {
    std::env::var("REDIS_CLI_BIN").unwrap_or_else(|_| "redis-cli".to_string())
}

/// The hash slot of a key, as Redis Cluster computes it: CRC16 (XMODEM) of
/// the key modulo 16384, where a key with a non-empty `{tag}` (the first
/// `{` and the first `}` after it) hashes only the tag.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(bytes);
    crc16_xmodem(hashed) % SLOTS
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// One node as a `CLUSTER NODES` line describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node id.
    pub id: String,
    /// The port it announces to clients (the TLS port in a TLS cluster).
    pub port: u16,
    /// `myself`, `master`, `slave`, `fail?`, `fail`, …
    pub flags: Vec<String>,
    /// The id of its primary, for a replica.
    pub primary_id: Option<String>,
    /// The slot ranges it serves (inclusive), for a primary.
    pub slots: Vec<(u16, u16)>,
}

impl NodeView {
    /// A primary that nobody (as far as this view knows) considers failing.
    pub fn is_healthy_primary(&self) -> bool {
        self.has_flag("master") && !self.is_failing()
    }

    /// Flagged `fail` or `fail?`.
    pub fn is_failing(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// Parses a `CLUSTER NODES` reply.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeView>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return Err(format!("short CLUSTER NODES line {line:?}"));
            }
            // 127.0.0.1:PORT@BUSPORT[,hostname]
            let port = fields[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("bad address in {line:?}"))?;
            let mut slots = Vec::new();
            for s in &fields[8..] {
                // `[slot->-id]` / `[slot-<-id]`: a migration in progress.
                if s.starts_with('[') {
                    continue;
                }
                let range = match s.split_once('-') {
                    Some((a, b)) => (a.parse(), b.parse()),
                    None => (s.parse(), s.parse()),
                };
                match range {
                    (Ok(a), Ok(b)) => slots.push((a, b)),
                    _ => return Err(format!("bad slot {s:?} in {line:?}")),
                }
            }
            Ok(NodeView {
                id: fields[0].to_string(),
                port,
                flags: fields[2].split(',').map(str::to_string).collect(),
                primary_id: (fields[3] != "-").then(|| fields[3].to_string()),
                slots,
            })
        })
        .collect()
}

struct Node {
    /// The port the cluster announces (TLS port in a TLS cluster).
    port: u16,
    /// The plain port the harness talks to (== `port` without TLS).
    plain_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A running private Redis Cluster of 3 primaries and 3 replicas.
pub struct RedisCluster {
    nodes: Vec<Node>,
    tls: Option<TlsFiles>,
    /// The slot ranges a primary served when [`RedisCluster::kill_node`]
    /// killed it: what [`RedisCluster::wait_for_failover`] waits for.
    killed_slots: HashMap<u16, Vec<(u16, u16)>>,
    // Last: removed after the processes are gone.
    dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts the six nodes, creates the cluster with `redis-cli --cluster
    /// create`, and waits until every node reports `cluster_state:ok`, every
    /// replica has synced, and all agree on a slot map covering every slot.
    ///
    /// Panics when `redis-server` or `redis-cli` is not installed (with the
    /// install command) or the cluster does not come up.
    pub fn start() -> RedisCluster {
        RedisCluster::start_inner(false)
    }

    /// Like [`RedisCluster::start`], with TLS on the client ports, the
    /// cluster bus and replication, certificates from a throwaway CA
    /// ([`RedisCluster::ca_cert_path`]). Panics also when `openssl` is
    /// missing.
    pub fn start_tls() -> RedisCluster {
        RedisCluster::start_inner(true)
    }

    fn start_inner(tls: bool) -> RedisCluster {
        check_cli_installed();
        let dir = tempfile::Builder::new()
            .prefix("ivs-redis-cluster-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory for Redis: {e}"));
        let tls = tls.then(|| TlsFiles::generate(dir.path()));
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            tls,
            killed_slots: HashMap::new(),
            dir,
        };
        let mut ports = PortPicker::new();
        for _ in 0..NODES {
            cluster.add_node(&mut ports);
        }
        cluster.create();
        cluster.wait_stable(STABLE_WITHIN);
        cluster
    }

    /// `redis://127.0.0.1:P` (`rediss://` with TLS) of every node.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        self.nodes
            .iter()
            .map(|n| format!("{scheme}://127.0.0.1:{}", n.port))
            .collect()
    }

    /// The URL of one node: enough for a cluster client to discover the rest.
    pub fn seed_url(&self) -> String {
        self.urls()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("the cluster has no nodes"))
    }

    /// The ports the cluster announces, one per node (TLS ports with TLS).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The CA that signed the nodes' certificates. Panics without TLS.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.tls
            .as_ref()
            .map(|t| t.ca_cert.clone())
            .unwrap_or_else(|| panic!("this cluster was started without TLS"))
    }

    /// Runs one command on the node of `port` (an announced port, see
    /// [`RedisCluster::ports`]); reply as text like
    /// [`crate::redis_server::RedisServer::command`]. Panics when the node
    /// cannot be reached.
    pub fn command(&self, port: u16, args: &[&str]) -> String {
        self.try_command(port, args)
            .unwrap_or_else(|e| panic!("redis command {args:?} on node {port} failed: {e}"))
    }

    /// Like [`RedisCluster::command`], an unreachable node being an `Err`.
    pub fn try_command(&self, port: u16, args: &[&str]) -> Result<String, String> {
        send(self.node(port).plain_port, args)
    }

    /// Waits until the replica of primary `port` has acknowledged everything
    /// the primary has written so far, or panics after `timeout`.
    ///
    /// `WAIT` cannot do this here: each command of this harness is a
    /// connection of its own, and `WAIT` on a connection that wrote nothing
    /// returns at once. So the offsets are compared: the primary's
    /// `master_repl_offset` now against the one its replica acknowledged.
    pub fn wait_for_replica_sync(&self, port: u16, timeout: Duration) {
        let info = self.command(port, &["INFO", "replication"]);
        let written = info_number(&info, "master_repl_offset:")
            .unwrap_or_else(|| panic!("no master_repl_offset on {port}:\n{info}"));
        let deadline = Instant::now() + timeout;
        loop {
            let info = self.command(port, &["INFO", "replication"]);
            let acked = info
                .lines()
                .find(|l| l.starts_with("slave0:"))
                .and_then(|l| l.split(',').find_map(|kv| kv.strip_prefix("offset=")))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if acked >= written {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replica of {port} never acknowledged offset {written}:\n{info}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a command on the primary that owns `key`'s slot (no `MOVED`
    /// following: the slot map is read first).
    pub fn cluster_command(&self, key: &str, args: &[&str]) -> String {
        let port = self.primary_for_slot(key_slot(key));
        self.command(port, args)
    }

    /// The cluster as a live node sees it (`CLUSTER NODES`).
    pub fn topology(&self) -> Vec<NodeView> {
        let mut last_error = String::from("no live node");
        for node in self.live_nodes() {
            match self
                .try_command(node.port, &["CLUSTER", "NODES"])
                .and_then(|t| parse_cluster_nodes(&t))
            {
                Ok(view) => return view,
                Err(e) => last_error = e,
            }
        }
        panic!("cannot read the cluster topology: {last_error}");
    }

    /// The announced ports of the healthy primaries.
    pub fn primaries(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .topology()
            .iter()
            .filter(|n| n.is_healthy_primary())
            .map(|n| n.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// The port of the healthy primary serving `slot`. Panics when none does.
    pub fn primary_for_slot(&self, slot: u16) -> u16 {
        self.topology()
            .iter()
            .find(|n| n.is_healthy_primary() && n.serves(slot))
            .map(|n| n.port)
            .unwrap_or_else(|| panic!("no healthy primary serves slot {slot}"))
    }

    /// The ports of the healthy replicas of the node on `port`.
    pub fn replicas_of(&self, port: u16) -> Vec<u16> {
        let view = self.topology();
        let Some(id) = view.iter().find(|n| n.port == port).map(|n| n.id.clone()) else {
            panic!("node {port} is not in the cluster");
        };
        let mut ports: Vec<u16> = view
            .iter()
            .filter(|n| n.primary_id.as_deref() == Some(id.as_str()) && !n.is_failing())
            .map(|n| n.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Kills the node (SIGKILL) and waits for the process to exit. Its
    /// config file stays, for [`RedisCluster::restart_node`].
    pub fn kill_node(&mut self, port: u16) {
        let served: Vec<(u16, u16)> = self
            .topology()
            .into_iter()
            .find(|n| n.port == port && n.has_flag("master"))
            .map(|n| n.slots)
            .unwrap_or_default();
        if !served.is_empty() {
            self.killed_slots.insert(port, served);
        }
        let node = self.node_mut(port);
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again from its config file: it rejoins the
    /// cluster (a former primary whose slots moved comes back as a
    /// replica). Waits until it answers and sees `cluster_state:ok`.
    pub fn restart_node(&mut self, port: u16) {
        assert!(
            self.node(port).child.is_none(),
            "node {port} is still running"
        );
        // The killed process has just released the port; retry briefly.
        let deadline = Instant::now() + NODE_READY_WITHIN;
        loop {
            match self.launch(port) {
                Ok(()) => break,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("redis cluster node {port} restart failed, retrying: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("redis cluster node {port} did not restart: {e}"),
            }
        }
        self.killed_slots.remove(&port);
        self.wait_stable(STABLE_WITHIN);
    }

    /// Waits until every live node reports `cluster_state:ok` and agrees
    /// that the slots the killed primary on `old_primary` served are served
    /// by one other healthy primary; returns that primary's port.
    pub fn wait_for_failover(&self, old_primary: u16, timeout: Duration) -> u16 {
        let slots = self.killed_slots.get(&old_primary).unwrap_or_else(|| {
            panic!("node {old_primary} was not a primary killed with kill_node")
        });
        let probe = slots[0].0;
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.failover_state(old_primary, probe) {
                Ok(port) => return port,
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "slot {probe} of the killed primary {old_primary} was not taken over \
                 within {timeout:?}: {last}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn failover_state(&self, old_primary: u16, slot: u16) -> Result<u16, String> {
        let mut owner = None;
        for node in self.live_nodes() {
            let info = self.try_command(node.port, &["CLUSTER", "INFO"])?;
            let nodes = self.try_command(node.port, &["CLUSTER", "NODES"])?;
            if !info.contains("cluster_state:ok") {
                return Err(format!(
                    "node {} is not cluster_state:ok; it sees:\n{nodes}",
                    node.port
                ));
            }
            let view = parse_cluster_nodes(&nodes)?;
            let seen = view
                .iter()
                .find(|n| n.is_healthy_primary() && n.serves(slot))
                .map(|n| n.port)
                .ok_or_else(|| format!("node {} sees no primary for slot {slot}", node.port))?;
            if seen == old_primary {
                return Err(format!("node {} still sees {old_primary}", node.port));
            }
            if owner.is_some_and(|o| o != seen) {
                return Err(format!("nodes disagree on slot {slot}"));
            }
            owner = Some(seen);
        }
        owner.ok_or_else(|| "no live node".to_string())
    }

    /// The keys matching `pattern` (`KEYS`) on every healthy primary.
    pub fn keys_matching(&self, pattern: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for port in self.primaries() {
            let reply = self.command(port, &["KEYS", pattern]);
            keys.extend(reply.lines().filter(|l| !l.is_empty()).map(str::to_string));
        }
        keys.sort();
        keys
    }

    /// The number of keys on all healthy primaries together (`DBSIZE`).
    pub fn dbsize_total(&self) -> u64 {
        self.primaries()
            .into_iter()
            .map(|port| {
                let reply = self.command(port, &["DBSIZE"]);
                reply
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("DBSIZE on {port}: {reply}"))
            })
            .sum()
    }

    /// Deletes every key on every primary (`FLUSHALL`; replicas follow).
    pub fn flush(&self) {
        for port in self.primaries() {
            self.command(port, &["FLUSHALL"]);
        }
    }

    fn node(&self, port: u16) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    fn node_mut(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    fn live_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.child.is_some())
    }

    /// Adds and starts one node; a port taken between the check and the
    /// start makes it try new ports.
    fn add_node(&mut self, ports: &mut PortPicker) {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = ports.cluster_port();
            let plain_port = if self.tls.is_some() {
                ports.plain_port()
            } else {
                port
            };
            let dir = self.dir.path().join(format!("node-{port}"));
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            self.nodes.push(Node {
                port,
                plain_port,
                dir,
                child: None,
            });
            match self.launch(port) {
                Ok(()) => return,
                Err(e) => {
                    last_error = e;
                    self.nodes.pop();
                }
            }
        }
        panic!("redis cluster node did not start: {last_error}");
    }

    fn launch(&mut self, port: u16) -> Result<(), String> {
        let tls = self.tls.clone();
        let node = self.node_mut(port);
        let log = node.dir.join("redis.log");
        let mut command = Command::new(binary());
        command.arg("--port").arg(node.plain_port.to_string());
        if let Some(tls) = &tls {
            command.arg("--tls-port").arg(node.port.to_string()).args([
                "--tls-cluster",
                "yes",
                "--tls-replication",
                "yes",
            ]);
            tls.add_server_args(&mut command);
        }
        command
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(node.dir.join(format!("nodes-{port}.conf")))
            .args(["--cluster-node-timeout", "2000"])
            // The default 5 s delay before a replica's first sync would hold
            // the start up, and a replica that never synced refuses to fail
            // over.
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&node.dir)
            .arg("--logfile")
            .arg(&log);
        let child = spawn_until_pong(&mut command, node.plain_port, &log, NODE_READY_WITHIN)
            .map_err(|e| format!("node {port}: {e}"))?;
        node.child = Some(child);
        Ok(())
    }

    fn create(&self) {
        let mut command = Command::new(cli_binary());
        if let Some(tls) = &self.tls {
            command.arg("--tls").arg("--cacert").arg(&tls.ca_cert);
        }
        command.args(["--cluster", "create"]);
        for node in &self.nodes {
            command.arg(format!("127.0.0.1:{}", node.port));
        }
        command.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let output = command
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", cli_binary()));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && !stdout.contains("[ERR]"),
            "redis-cli --cluster create failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Waits until every live node reports `cluster_state:ok`, sees
    /// 3 healthy primaries and their replicas, every replica has synced
    /// with its primary, and all agree on a slot map
    /// covering every slot.
    fn wait_stable(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let last = match self.stable_state() {
                Ok(()) => return,
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "the redis cluster did not become stable within {within:?}: {last}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stable_state(&self) -> Result<(), String> {
        let mut agreed: Option<BTreeSet<(u16, u16, u16)>> = None;
        let live = self.live_nodes().count();
        for node in self.live_nodes() {
            let info = self.try_command(node.port, &["CLUSTER", "INFO"])?;
            if !info.contains("cluster_state:ok") {
                return Err(format!("node {} is not cluster_state:ok", node.port));
            }
            let view = parse_cluster_nodes(&self.try_command(node.port, &["CLUSTER", "NODES"])?)?;
            let primaries = view.iter().filter(|n| n.is_healthy_primary()).count();
            let replicas = view
                .iter()
                .filter(|n| n.has_flag("slave") && !n.is_failing())
                .count();
            if view.len() != NODES || primaries != PRIMARIES || primaries + replicas != live {
                return Err(format!(
                    "node {} sees {} nodes, {primaries} healthy primaries, {replicas} replicas",
                    node.port,
                    view.len()
                ));
            }
            // A replica that has not synced yet would not take over.
            if view
                .iter()
                .any(|n| n.port == node.port && n.has_flag("slave"))
            {
                let replication = self.try_command(node.port, &["INFO", "replication"])?;
                if !replication.contains("master_link_status:up") {
                    return Err(format!("replica {} has not synced yet", node.port));
                }
            }
            let map: BTreeSet<(u16, u16, u16)> = view
                .iter()
                .filter(|n| n.is_healthy_primary())
                .flat_map(|n| n.slots.iter().map(move |&(a, b)| (a, b, n.port)))
                .collect();
            let covered: u32 = map.iter().map(|&(a, b, _)| u32::from(b - a) + 1).sum();
            if covered != u32::from(SLOTS) {
                return Err(format!("node {} sees {covered} slots served", node.port));
            }
            if agreed.as_ref().is_some_and(|m| *m != map) {
                return Err(format!("node {} disagrees on the slot map", node.port));
            }
            agreed = Some(map);
        }
        Ok(())
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn check_cli_installed() {
    match Command::new(cli_binary())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{}` is not installed; the cluster tests need it to create the cluster: \
             run `apt-get install -y redis-server redis-tools` (or set REDIS_CLI_BIN)",
            cli_binary()
        ),
        Err(e) => panic!("cannot run `{}`: {e}", cli_binary()),
    }
}

/// Random free ports; a cluster port needs its bus port (+10000) free too.
struct PortPicker {
    state: u64,
    taken: HashSet<u16>,
}

impl PortPicker {
    fn new() -> PortPicker {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        PortPicker {
            // Several test binaries start clusters at once: mix in the pid.
            state: (nanos ^ (u64::from(std::process::id()) << 32)) | 1,
            taken: HashSet::new(),
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64: good enough to spread ports, no dependency.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// A port P in 20000..=55535 with P and P + 10000 free and unused here.
    fn cluster_port(&mut self) -> u16 {
        for _ in 0..1000 {
            let port = 20000 + (self.next() % 35536) as u16;
            let bus = port + BUS_OFFSET;
            if [port, bus].iter().any(|p| self.taken.contains(p)) {
                continue;
            }
            if bindable(port) && bindable(bus) {
                self.taken.extend([port, bus]);
                return port;
            }
        }
        panic!("cannot find a free port pair for a redis cluster node");
    }

    /// Any free port for a node's plain (harness) port in a TLS cluster.
    fn plain_port(&mut self) -> u16 {
        for _ in 0..1000 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("cannot find a free port: {e}"));
            if self.taken.insert(port) {
                return port;
            }
        }
        panic!("cannot find a free port for a redis cluster node");
    }
}

fn bindable(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A number after `prefix` on a line of an `INFO` answer.
fn info_number(info: &str, prefix: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slot_known_values() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
        assert_ne!(key_slot("foo{}{bar}"), key_slot("bar"));
        assert_eq!(key_slot("foo{{bar}}zap"), key_slot("{bar"));
    }

    #[test]
    fn parses_cluster_nodes() {
        let text = "\
a1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5461->-b2]\n\
b2 127.0.0.1:30002@40002,host master,fail - 0 0 2 connected 5461-10922 16000\n\
c3 127.0.0.1:30003@40003 slave a1 0 0 1 connected\n";
        let view = parse_cluster_nodes(text).unwrap();
        assert_eq!(view.len(), 3);
        assert_eq!(view[0].slots, vec![(0, 5460)]);
        assert!(view[0].is_healthy_primary());
        assert_eq!(view[1].port, 30002);
        assert_eq!(view[1].slots, vec![(5461, 10922), (16000, 16000)]);
        assert!(!view[1].is_healthy_primary());
        assert_eq!(view[2].primary_id.as_deref(), Some("a1"));
    }
}
