//! oidc-provider (a real, certified OpenID provider, npm) on 127.0.0.1: the
//! harness of the root package's tests/interop.rs (tests/interop/server.mjs),
//! started the same way. Copied rather than shared: tests/interop.rs is a
//! module of the root package's test suite, with helpers this package has
//! not (`crate::common`).
//!
//! Needs Node.js >= 20; the harness's npm dependencies are installed from
//! its lockfile when missing. Without Node the test fails and says what to
//! install (it never passes silently).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The client-credentials client the harness registers.
pub const CLIENT_ID: &str = "order-service";
pub const CLIENT_SECRET: &str = "order-secret";

fn harness_dir() -> String {
    format!("{}/../tests/interop", env!("CARGO_MANIFEST_DIR"))
}

/// Checks Node.js and installs the harness's dependencies from the lockfile
/// if they are missing (once per test run).
fn prepare() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let version = Command::new("node")
            .arg("--version")
            .output()
            .map_err(|e| {
                format!(
                    "the oidc-provider test needs Node.js >= 20 (`node` not found: {e}). \
                     Install it (Debian: `apt-get install nodejs npm`, or from nodejs.org) \
                     and run again."
                )
            })?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let major: u32 = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major < 20 {
            return Err(format!(
                "the oidc-provider test needs Node.js >= 20, found {version:?}; install a newer Node.js"
            ));
        }
        let dir = harness_dir();
        if !std::path::Path::new(&format!("{dir}/node_modules/oidc-provider/package.json")).exists()
        {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .map_err(|e| format!("`npm ci` in {dir} could not run: {e}; install npm"))?;
            if !status.success() {
                return Err(format!("`npm ci` in {dir} failed ({status})"));
            }
        }
        Ok(())
    });
    if let Err(message) = ready {
        panic!("{message}");
    }
}

/// A running oidc-provider; killed when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Provider {
    /// How long the harness may take to say it listens (well under a
    /// second; a Node.js process has been seen to deadlock at start-up, and
    /// is then replaced rather than waited on forever).
    const START_TIMEOUT: Duration = Duration::from_secs(30);
    const START_ATTEMPTS: usize = 3;

    /// Starts the harness and waits for its `ISSUER http://127.0.0.1:PORT`
    /// line (printed once it accepts connections).
    pub fn start() -> Provider {
        prepare();
        for attempt in 1..=Self::START_ATTEMPTS {
            let mut child = Command::new("node")
                .arg("server.mjs")
                .current_dir(harness_dir())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start node server.mjs");
            let stdout = child.stdout.take().expect("stdout");
            let (first_line, line_read) = std::sync::mpsc::channel();
            // Reads the first line, then keeps draining the output: a closed
            // pipe would kill the harness (EPIPE) when it next writes.
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                let _ = first_line.send(reader.read_line(&mut line).map(|_| line));
                let mut sink = String::new();
                while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                    sink.clear();
                }
            });
            let line = match line_read.recv_timeout(Self::START_TIMEOUT) {
                Ok(line) => line.expect("read the harness output"),
                Err(_) => {
                    eprintln!(
                        "oidc-provider harness printed nothing in {:?} (attempt {attempt} of {}): \
                         killed, starting another",
                        Self::START_TIMEOUT,
                        Self::START_ATTEMPTS
                    );
                    let _ = child.kill();
                    let _ = child.wait();
                    continue;
                }
            };
            let issuer = line
                .trim()
                .strip_prefix("ISSUER ")
                .unwrap_or_else(|| panic!("the harness did not start: {line:?}"))
                .to_owned();
            return Provider { child, issuer };
        }
        panic!(
            "the oidc-provider harness (node tests/interop/server.mjs) did not start in {} \
             attempts of {:?}",
            Self::START_ATTEMPTS,
            Self::START_TIMEOUT
        );
    }

    /// A client-credentials access token for [`CLIENT_ID`], for `resource`
    /// (RFC 8707) with `scope`.
    pub async fn token(&self, scope: &str, resource: &str) -> String {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", resource),
            ])
            .finish();
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("the token endpoint");
        let status = response.status();
        let text = response.text().await.expect("the token response");
        assert!(status.is_success(), "token endpoint: {status} {text}");
        let body: serde_json::Value = serde_json::from_str(&text).expect("a JSON token response");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
