//! examples/mcp_client.rs against examples/mcp_server.rs, both for real on
//! 127.0.0.1 (each compiled into this test as a module, as
//! tests/mcp_server.rs does): the client knows only the server's URL and
//! its credentials; the server's `--demo` authorization server issues the
//! tokens, and counts the token requests.

#[allow(dead_code)] // `main` and the help text are the example's own.
#[path = "../../examples/mcp_client.rs"]
mod mcp_client;
#[allow(dead_code)]
#[path = "../../examples/mcp_server.rs"]
mod mcp_server;
#[allow(dead_code)] // Some helpers serve tests/mcp_server.rs only.
mod oidc_provider;

use bearer_guard::testing::{Endpoint, TestAuthorizationServer};
use mcp_server::{Args, DEMO_CLIENT_ID, Server};

/// The server example with `--demo`, on a free port; its MCP URL and its
/// authorization server.
async fn server() -> (String, TestAuthorizationServer) {
    let args = Args::parse(["--demo", "--listen", "127.0.0.1:0"].map(String::from))
        .expect("valid options")
        .expect("not --help");
    let mut server = Server::bind(&args).await.expect("the example starts");
    let demo = server.demo.take().expect("--demo");
    let url = format!("http://{}/mcp", server.addr());
    tokio::spawn(server.run());
    (url, demo)
}

/// Both scopes allowed, and a call to each tool: the charge needs a step-up.
fn read_then_charge(amount_cents: u32) -> Vec<String> {
    let charge = format!(r#"charge={{"amount_cents": {amount_cents}}}"#);
    [
        "--scope",
        "payments:read",
        "--scope",
        "payments:write",
        "--call",
        "get_balance",
        "--call",
        &charge,
    ]
    .map(String::from)
    .to_vec()
}

fn options(url: &str, extra: &[&str]) -> mcp_client::Options {
    let mut argv: Vec<String> = [
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        mcp_server::DEMO_CLIENT_SECRET,
        "--allow-http",
    ]
    .map(String::from)
    .to_vec();
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv.push(url.to_owned());
    mcp_client::parse(argv).expect("valid options")
}

#[tokio::test]
async fn the_client_finds_its_way_in_and_steps_up_for_the_tool_that_needs_more() {
    let (url, authorization) = server().await;
    let steps = read_then_charge(500);
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let outcome = mcp_client::run(options(&url, &steps))
        .await
        .expect("the client succeeds");
    assert_eq!(outcome.resource.as_deref(), Some(url.as_str()));
    assert_eq!(outcome.issuer.as_deref(), Some(authorization.issuer()));
    assert_eq!(outcome.tools.len(), 2, "{:?}", outcome.tools);
    let [
        (read, read_failed, balance),
        (charge, charge_failed, charged),
    ] = outcome.calls.as_slice()
    else {
        panic!("{:?}", outcome.calls)
    };
    assert_eq!((read.as_str(), *read_failed), ("get_balance", false));
    assert!(balance.contains(DEMO_CLIENT_ID), "{balance}");
    assert_eq!(
        (charge.as_str(), *charge_failed),
        ("charge", false),
        "{charged}"
    );
    assert!(charged.contains("500"), "{charged}");
    // First only what the 401 named (the metadata's minimal scope), then
    // the union after charge's 403: two token requests in all.
    assert_eq!(outcome.scope, "payments:read payments:write");
    assert_eq!(authorization.requests(Endpoint::Token), 2);
    let requests = authorization.recorded_requests(Endpoint::Token);
    let scopes: Vec<_> = requests.iter().map(|r| r.param("scope")).collect();
    assert_eq!(
        scopes,
        [Some("payments:read"), Some("payments:read payments:write")]
    );
    for request in &requests {
        assert_eq!(request.param("resource"), Some(url.as_str()));
    }
}

#[tokio::test]
async fn a_step_up_beyond_the_scopes_the_client_may_ask_for_fails_cleanly() {
    let (url, authorization) = server().await;
    let error = mcp_client::run(options(
        &url,
        &[
            "--scope",
            "payments:read",
            "--call",
            r#"charge={"amount_cents": 1}"#,
        ],
    ))
    .await
    .expect_err("charge needs payments:write");
    let text = error_chain(&*error);
    assert!(text.contains("payments:write"), "{text}");
    // One token, for reading; no request for what the client may not ask.
    assert_eq!(authorization.requests(Endpoint::Token), 1);
}

#[tokio::test]
async fn a_server_whose_metadata_names_another_resource_gets_no_credentials() {
    let (url, authorization) = server().await;
    // The same server reached under another name: its metadata describes
    // http://127.0.0.1:PORT/mcp, not the URL called.
    let other = url.replace("127.0.0.1", "localhost");
    let error = mcp_client::run(options(&other, &[]))
        .await
        .expect_err("the metadata describes another URL");
    let text = error_chain(&*error);
    assert!(text.contains("RFC 9728 §3.3"), "{text}");
    assert_eq!(authorization.requests(Endpoint::Token), 0);
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The same client and server with a real authorization server,
/// oidc-provider (tests/interop's harness): the client is given the MCP
/// URL and the credentials oidc-provider knows, follows the 401 to the
/// metadata naming the provider, and steps up for `charge`.
#[tokio::test]
async fn against_oidc_provider_the_client_finds_its_way_in_and_steps_up() {
    let op = oidc_provider::Provider::start();
    let args = Args::parse(
        [
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            &op.issuer,
            "--discover",
            "--allow-http",
        ]
        .map(String::from),
    )
    .expect("valid options")
    .expect("not --help");
    let server = Server::bind(&args).await.expect("the example starts");
    let url = format!("http://{}/mcp", server.addr());
    tokio::spawn(server.run());
    let mut argv = [
        "--client-id",
        oidc_provider::CLIENT_ID,
        "--client-secret",
        oidc_provider::CLIENT_SECRET,
        "--issuer",
        &op.issuer,
        "--allow-http",
    ]
    .map(String::from)
    .to_vec();
    argv.extend(read_then_charge(700));
    argv.push(url.clone());
    let outcome = mcp_client::run(mcp_client::parse(argv).expect("valid options"))
        .await
        .expect("the client succeeds");
    assert_eq!(outcome.issuer.as_deref(), Some(op.issuer.as_str()));
    assert_eq!(outcome.scope, "payments:read payments:write");
    let [(_, false, balance), (_, false, charged)] = outcome.calls.as_slice() else {
        panic!("{:?}", outcome.calls)
    };
    assert!(balance.contains(oidc_provider::CLIENT_ID), "{balance}");
    assert!(charged.contains("700"), "{charged}");
}
