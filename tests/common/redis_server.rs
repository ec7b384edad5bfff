//! A real `redis-server` on 127.0.0.1 for the fleet tests: installed with
//! apt-get when missing (as the interop tests install oidc-provider), or
//! the test fails and says what to install. Also a Redis Cluster of such
//! servers. No dependency but std: `benches/fleet_faults.rs` includes this
//! file too (TLS servers, which need a test CA, are in `redis_tls.rs`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// Finds `redis-server`, installing the Debian package when it is missing.
fn binary() -> String {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let find = || {
        [
            "redis-server",
            "/usr/bin/redis-server",
            "/usr/sbin/redis-server",
        ]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_owned)
    };
    if let Some(b) = find() {
        return b;
    }
    eprintln!("redis-server not found: installing the Debian package redis-server");
    let _ = Command::new("sh")
        .args([
            "-c",
            "(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1",
        ])
        .status();
    find().expect(
        "redis-server is needed by the fleet tests and could not be installed: \
         install it (Debian/Ubuntu: apt-get install redis-server)",
    )
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` process on a loopback port, stopped on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// The arguments it was started with, to start it again.
    args: Vec<String>,
    tls: bool,
    /// For a TLS server: the CA file redis-cli checks it with.
    pub ca_file: Option<std::path::PathBuf>,
    /// For a TLS server asking for client certificates: redis-cli's.
    pub cli_client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// How old a test Redis is before it is handed over. The DPoP replay
/// check refuses proofs made before its node started (plus twice the
/// leeway and a second): a server that has just started cannot vouch for
/// them. The fleet tests run with no DPoP leeway, so a proof minted in a
/// second after the one following the server's start is vouched for: a
/// server 2 s old (by its own whole-second uptime) vouches for proofs made
/// from then on.
pub const AGE_BEFORE_USE: u64 = 2;
/// The DPoP leeway the fleet tests run with (see [`AGE_BEFORE_USE`]).
pub const FLEET_LEEWAY: std::time::Duration = std::time::Duration::ZERO;

impl RedisServer {
    /// Starts a server on a free port and waits until it accepts
    /// connections (it says so on its standard output).
    pub fn start() -> RedisServer {
        let server = Self::start_on(free_port());
        server.wait_until_uptime(AGE_BEFORE_USE);
        server
    }

    /// Starts a server on `port` (again, after [`stop`](Self::stop)).
    pub fn start_on(port: u16) -> RedisServer {
        Self::spawn(port, vec!["--port".into(), port.to_string()], false)
    }

    /// Starts a server on a free port keeping its snapshot (`SAVE`'s
    /// `dump.rdb`) in `dir`, which it loads when started again, as a
    /// Redis with RDB persistence does after a crash.
    pub fn start_in(dir: &std::path::Path) -> RedisServer {
        let port = free_port();
        let args = vec![
            "--port".into(),
            port.to_string(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        let server = Self::spawn(port, args, false);
        server.wait_until_uptime(AGE_BEFORE_USE);
        server
    }

    /// Starts a cluster-enabled node on `port`, keeping its cluster state
    /// in `dir` (so that it rejoins when started again).
    pub fn start_cluster_node(port: u16, dir: &std::path::Path) -> RedisServer {
        let args = vec![
            "--port".into(),
            port.to_string(),
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            format!("nodes-{port}.conf"),
            "--cluster-node-timeout".into(),
            "1000".into(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        Self::spawn(port, args, false)
    }

    pub fn spawn(port: u16, args: Vec<String>, tls: bool) -> RedisServer {
        let mut server = RedisServer {
            port,
            child: None,
            args,
            tls,
            ca_file: None,
            cli_client: None,
        };
        server.restart();
        server
    }

    /// Starts the server again, with the arguments it was first given.
    pub fn restart(&mut self) {
        self.stop();
        let mut child = Command::new(binary())
            .args(&self.args)
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "notice",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let port = self.port;
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("Ready to accept connections") => break,
                Some(Ok(_)) => {}
                _ => panic!("redis-server on port {port} exited before accepting connections"),
            }
        }
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// Runs `redis-cli` against this server (over TLS for a TLS server);
    /// its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cli = Command::new("redis-cli");
        cli.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(ca) = &self.ca_file {
            cli.arg("--tls").arg("--cacert").arg(ca);
        }
        if let Some((cert, key)) = &self.cli_client {
            cli.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let out = cli
            .args(args)
            .output()
            .expect("redis-cli (Debian package redis-tools)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Seconds since the server started, by its own account.
    pub fn uptime(&self) -> Option<u64> {
        let info = self.cli(&["INFO", "server"]);
        info.lines()
            .find_map(|l| l.trim().strip_prefix("uptime_in_seconds:"))
            .and_then(|v| v.parse().ok())
    }

    /// Waits (polling the server's own uptime, at most 30 s) until it has
    /// run for `seconds`.
    pub fn wait_until_uptime(&self, seconds: u64) {
        for _ in 0..300 {
            if self.uptime().is_some_and(|u| u >= seconds) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "redis-server on port {} did not report an uptime of {seconds} s",
            self.port
        );
    }

    /// Stops the server (and waits for the process to end).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of `masters` nodes on loopback (no replicas), created
/// with `redis-cli --cluster create`, every node agreeing the cluster is
/// up before it is handed over.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    _dir: TempDir,
}

impl RedisCluster {
    pub fn start(masters: usize) -> RedisCluster {
        let dir = TempDir::new();
        let nodes: Vec<RedisServer> = (0..masters)
            .map(|_| RedisServer::start_cluster_node(free_port(), dir.path()))
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli (Debian package redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        cluster.wait_until_up();
        for n in &cluster.nodes {
            n.wait_until_uptime(AGE_BEFORE_USE);
        }
        cluster
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Whether every running node says `cluster_state:ok`.
    pub fn is_up(&self) -> bool {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    }

    /// Waits (polling the nodes' own state, at most 30 s) until every node
    /// says the cluster is up.
    pub fn wait_until_up(&self) {
        for _ in 0..300 {
            if self.is_up() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the Redis Cluster did not come up within 30 s");
    }

    /// Waits (at most 30 s) until the running nodes see the cluster down
    /// (a master lost, its slots uncovered).
    pub fn wait_until_down(&self) {
        for _ in 0..300 {
            if self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:fail"))
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the Redis Cluster did not notice its lost master within 30 s");
    }

    /// How many keys matching `pattern` each master holds.
    pub fn keys_per_node(&self, pattern: &str) -> Vec<usize> {
        self.nodes
            .iter()
            .map(|n| n.cli(&["--scan", "--pattern", pattern]).lines().count())
            .collect()
    }
}

/// A directory of its own under the system's temporary directory, removed
/// on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "bearer-guard-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
