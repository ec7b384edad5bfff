//! A real `redis-server` on 127.0.0.1 for the fleet tests: installed with
//! apt-get when missing (as the interop tests install oidc-provider), or
//! the test fails and says what to install.

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

/// A `redis-server` process on a free loopback port, stopped on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it accepts
    /// connections (it says so on its standard output).
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    /// Starts a server on `port` (again, after [`stop`](Self::stop)).
    pub fn start_on(port: u16) -> RedisServer {
        let mut child = Command::new(binary())
            .args([
                "--port",
                &port.to_string(),
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
        RedisServer { port, child }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs `redis-cli` against this server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (Debian package redis-tools)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the server (and waits for the process to end).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
