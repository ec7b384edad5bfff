//! The public MCP conformance suite (`@modelcontextprotocol/conformance`
//! 0.1.16, client mode) runs examples/mcp_client.rs through its
//! client-credentials scenarios: a mock MCP server and authorization server
//! on localhost, the credentials in `MCP_CONFORMANCE_CONTEXT`, the server's
//! URL as the last argument. `mcp/conformance/run.sh` installs the suite
//! and its own Node.js 22 from the npm registry (`npm ci`) when missing,
//! and fails saying what to install when it cannot.
//!
//! The client is the example binary `cargo test` builds beside this test
//! (`target/debug/examples/mcp_client`).

use std::path::PathBuf;
use std::process::Command;

/// The example binary, built by `cargo test -p bearer-guard-mcp` before
/// any test runs.
fn client() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/debug/deps/conformance-HASH -> target/debug/examples/mcp_client
    let examples = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug")
        .join("examples");
    let client = examples.join(format!("mcp_client{}", std::env::consts::EXE_SUFFIX));
    assert!(
        client.exists(),
        "{} is missing: run `cargo test -p bearer-guard-mcp` (it builds the examples), \
         or `cargo build -p bearer-guard-mcp --example mcp_client` first",
        client.display()
    );
    client
}

/// Runs `scenario`; returns the suite's `Passed: N/M …` line.
fn scenario(scenario: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/run.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg(scenario)
        .arg("--")
        .arg(client())
        .arg("--allow-http")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the conformance suite failed {scenario} ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let passed = stdout
        .lines()
        .find(|l| l.contains("Passed:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    println!("{scenario}: {passed}");
    passed
}

#[test]
fn client_credentials_with_a_client_secret() {
    let passed = scenario("auth/client-credentials-basic");
    assert!(passed.contains(", 0 failed, 0 warnings"), "{passed}");
}

#[test]
fn client_credentials_with_a_private_key_jwt() {
    let passed = scenario("auth/client-credentials-jwt");
    assert!(passed.contains(", 0 failed, 0 warnings"), "{passed}");
}
