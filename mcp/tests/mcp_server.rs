//! examples/mcp_server.rs, run for real on 127.0.0.1 and driven by rmcp's
//! own Streamable HTTP client: tokens from the example's `--demo`
//! authorization server (bearer-guard's `TestIssuer`), and from
//! oidc-provider (tests/interop's harness).
//!
//! The example's source is compiled into this test as a module (`#[path]`),
//! so the tests start the very server `main` starts (`Args::parse`,
//! `Server::bind`, `Server::run`) on a free port, in-process: no binary to
//! find, no output to parse, and each test waits on the listener it bound
//! (nothing sleeps).

#[allow(dead_code)] // `main` and the help text are the example's own.
#[path = "../../examples/mcp_server.rs"]
mod mcp_server;
mod oidc_provider;

use std::error::Error;
use std::net::SocketAddr;

use bearer_guard::testing::TestAuthorizationServer;
use mcp_server::{Args, DEMO_CLIENT_ID, Server, TOOL_SCOPES, demo_token};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientConfig, JsonObject, ProtocolVersion,
};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, StreamableHttpClientTransportConfig,
};
use rmcp::{ClientLifecycleMode, ClientServiceExt as _, RoleClient, ServiceError, ServiceExt as _};
use serde_json::{Value, json};

/// The example, serving on a free port of 127.0.0.1.
struct Running {
    addr: SocketAddr,
    /// Where the MCP client connects: `http://ADDR/mcp`.
    endpoint: String,
    /// The canonical URL of the MCP endpoint (`{public_url}/mcp`).
    resource: String,
    /// With `--demo`: its authorization server.
    demo: Option<TestAuthorizationServer>,
}

impl Running {
    /// The example started with these options (and `--listen 127.0.0.1:0`).
    async fn start(options: &[&str]) -> Running {
        let argv = ["--listen", "127.0.0.1:0"].iter().chain(options);
        let args = Args::parse(argv.map(|a| a.to_string()))
            .expect("valid options")
            .expect("not --help");
        let mut server = Server::bind(&args).await.expect("the example starts");
        let addr = server.addr();
        let demo = server.demo.take();
        let resource = server.resource.clone();
        tokio::spawn(server.run());
        Running {
            addr,
            endpoint: format!("http://{addr}/mcp"),
            resource,
            demo,
        }
    }

    async fn demo() -> Running {
        Running::start(&["--demo"]).await
    }

    /// A client-credentials token from the demo authorization server, for
    /// this MCP server.
    async fn token(&self, scope: &str) -> String {
        self.token_for(&self.resource, scope).await
    }

    /// A client-credentials token from the demo authorization server, for
    /// `resource`.
    async fn token_for(&self, resource: &str, scope: &str) -> String {
        let auth = self.demo.as_ref().expect("started with --demo");
        demo_token(auth, resource, scope)
            .await
            .expect("a demo token")
    }

    /// The `resource_metadata` attribute every challenge must carry.
    fn resource_metadata(&self) -> String {
        format!(
            r#"resource_metadata="http://{}/.well-known/oauth-protected-resource/mcp""#,
            self.addr
        )
    }
}

type Client = RunningService<RoleClient, ClientConfig>;

/// rmcp's Streamable HTTP client transport, sending `token` (if any) as
/// `Authorization: Bearer`.
fn transport(
    endpoint: &str,
    token: Option<&str>,
) -> StreamableHttpClientTransport<reqwest::Client> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(endpoint.to_owned());
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    StreamableHttpClientTransport::from_config(config)
}

/// A client after the 2025-11-25 handshake (`initialize`, `initialized`).
async fn connect(endpoint: &str, token: Option<&str>) -> Result<Client, ClientInitializeError> {
    ClientConfig::default()
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
        .serve(transport(endpoint, token))
        .await
}

/// A client of the 2026-07-28 revision: `server/discover`, then stateless
/// requests mirroring the method and the tool in `Mcp-Method` / `Mcp-Name`.
async fn discover(endpoint: &str, token: &str) -> Result<Client, ClientInitializeError> {
    ClientConfig::default()
        .serve_with_lifecycle(
            transport(endpoint, Some(token)),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::LATEST],
            },
        )
        .await
}

/// The status and the `WWW-Authenticate` of the refusal behind an rmcp
/// error: rmcp's client reports a 401 with a challenge as
/// `AuthRequiredError`, a 403 with one as `InsufficientScopeError`.
fn refusal(error: &(dyn Error + 'static)) -> Option<(u16, String)> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(e) = error.downcast_ref::<AuthRequiredError>() {
            return Some((401, e.www_authenticate_header.clone()));
        }
        if let Some(e) = error.downcast_ref::<InsufficientScopeError>() {
            return Some((403, e.www_authenticate_header.clone()));
        }
        next = error.source();
    }
    None
}

/// The refusal of a request made after the handshake.
fn call_refusal(error: &ServiceError) -> (u16, String) {
    refusal(error).unwrap_or_else(|| panic!("not a 401/403 with a challenge: {error:?}"))
}

/// The refusal of the handshake.
fn handshake_refusal(error: &ClientInitializeError) -> (u16, String) {
    let found = match error {
        ClientInitializeError::TransportError { error, .. } => refusal(error),
        _ => None,
    };
    found.unwrap_or_else(|| panic!("not a 401/403 with a challenge: {error:?}"))
}

async fn call(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    let arguments: JsonObject = arguments.as_object().cloned().unwrap_or_default();
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
}

/// The tool's structured answer.
fn output(result: CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{result:?}");
    result.structured_content.expect("structured content")
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    let text = response.text().await.expect("the body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A JSON-RPC message POSTed to `/mcp` without rmcp's client (for what it
/// cannot send: no token, another `Host`, a message out of the lifecycle).
async fn post(
    addr: SocketAddr,
    host: Option<&str>,
    token: Option<&str>,
    message: Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(message.to_string());
    if let Some(host) = host {
        request = request.header("host", host);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST /mcp")
}

async fn raw_post(addr: SocketAddr, token: &str, message: Value) -> reqwest::Response {
    post(addr, None, Some(token), message).await
}

/// A 2025-11-25 `initialize`, POSTed without rmcp's client.
async fn raw_initialize(
    addr: SocketAddr,
    host: Option<&str>,
    token: Option<&str>,
) -> reqwest::Response {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}
        }
    });
    post(addr, host, token, initialize).await
}

fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------
// Tokens from the example's --demo authorization server (TestIssuer).
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_read_token_initializes_lists_every_tool_of_the_policy_and_gets_the_balance() {
    let server = Running::demo().await;
    let token = server.token("payments:read").await;
    let client = connect(&server.endpoint, Some(&token))
        .await
        .expect("initialize");
    let info = client.peer_info().expect("the initialize result");
    assert_eq!(
        info.protocol_version,
        ProtocolVersion::LATEST_WITH_INITIALIZE
    );
    let server_info = info.server_info.as_ref().expect("serverInfo");
    assert_eq!(server_info.name, "bearer-guard-mcp-example");

    // The tools rmcp serves are exactly those the policy has a rule for
    // (a tool without one would be refused to everyone).
    let mut listed: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|tool| tool.name.into_owned())
        .collect();
    listed.sort();
    let mut ruled: Vec<&str> = TOOL_SCOPES.iter().map(|(tool, _)| *tool).collect();
    ruled.sort();
    assert_eq!(listed, ruled);

    // The handler saw the verified claims of this token.
    let balance = output(
        call(&client, "get_balance", json!({}))
            .await
            .expect("get_balance"),
    );
    assert_eq!(balance["account"], DEMO_CLIENT_ID);
    assert_eq!(
        balance["caller"],
        json!({"sub": DEMO_CLIENT_ID, "client_id": DEMO_CLIENT_ID, "scopes": ["payments:read"]})
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn charge_with_a_read_token_is_403_insufficient_scope_naming_payments_write() {
    let server = Running::demo().await;
    let token = server.token("payments:read").await;
    let client = connect(&server.endpoint, Some(&token))
        .await
        .expect("initialize");

    let error = call(&client, "charge", json!({"amount_cents": 500}))
        .await
        .expect_err("payments:write is missing");
    let (status, challenge) = call_refusal(&error);
    assert_eq!(status, 403, "{challenge}");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="payments:write""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&server.resource_metadata()),
        "{challenge}"
    );

    // The refusal is of that call only: the read tool still answers.
    output(
        call(&client, "get_balance", json!({}))
            .await
            .expect("get_balance"),
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_token_with_payments_write_charges() {
    let server = Running::demo().await;
    let token = server.token("payments:read payments:write").await;
    let client = connect(&server.endpoint, Some(&token))
        .await
        .expect("initialize");
    let charged = output(
        call(&client, "charge", json!({"amount_cents": 500}))
            .await
            .expect("charge"),
    );
    assert_eq!(charged["status"], "charged");
    assert_eq!(charged["amount_cents"], 500);
    assert_eq!(charged["account"], DEMO_CLIENT_ID);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_tool_without_a_rule_is_refused_with_403_even_to_a_token_with_every_scope() {
    let server = Running::demo().await;
    let token = server.token("payments:read payments:write").await;
    let client = connect(&server.endpoint, Some(&token))
        .await
        .expect("initialize");
    let error = call(&client, "delete_account", json!({}))
        .await
        .expect_err("no rule: refused");
    // A plain 403 (src/mcp.rs): no challenge, since no scope would help;
    // rmcp's client reports it as an unexpected response.
    assert!(refusal(&error).is_none(), "{error:?}");
    assert!(error.to_string().contains("403 Forbidden"), "{error}");
    client.cancel().await.expect("close");

    // On the wire: refused by the layer, whatever rmcp would have said.
    let response = raw_post(
        server.addr,
        &token,
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "delete_account", "arguments": {}}
        }),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(www_authenticate(&response), "");
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused_with_401_invalid_token() {
    let server = Running::demo().await;
    // Same issuer, same client, same scope: only `aud` differs (RFC 8707).
    let elsewhere = server
        .token_for("https://other.example.test/mcp", "payments:read")
        .await;
    let error = connect(&server.endpoint, Some(&elsewhere))
        .await
        .expect_err("not for this server");
    let (status, challenge) = handshake_refusal(&error);
    assert_eq!(status, 401, "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&server.resource_metadata()),
        "{challenge}"
    );
}

#[tokio::test]
async fn no_token_is_401_pointing_to_the_resource_metadata() {
    let server = Running::demo().await;
    let error = connect(&server.endpoint, None).await.expect_err("no token");
    let (status, challenge) = handshake_refusal(&error);
    assert_eq!(status, 401);
    // RFC 6750 §3.1: no error code for a request without credentials;
    // the scope to ask for first (MCP's scope selection strategy).
    assert_eq!(
        challenge,
        format!(
            r#"Bearer scope="payments:read", {}"#,
            server.resource_metadata()
        )
    );

    // The same seen on the wire, without rmcp.
    let response = raw_initialize(server.addr, None, None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(www_authenticate(&response), challenge);
}

#[tokio::test]
async fn the_metadata_is_public_at_the_path_suffixed_and_at_the_root_well_known_url() {
    let server = Running::demo().await;
    let issuer = server.demo.as_ref().expect("demo").issuer().to_owned();
    let expected = json!({
        "resource": format!("http://{}/mcp", server.addr),
        "authorization_servers": [issuer],
        "scopes_supported": ["payments:read"],
        "bearer_methods_supported": ["header"],
        "resource_name": "bearer-guard MCP example",
    });
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let (status, document) = get(&format!("http://{}{path}", server.addr)).await;
        assert_eq!((status, &document), (200, &expected), "{path}");
    }
}

#[tokio::test]
async fn the_2026_stateless_revision_is_authorized_per_tool_too() {
    // Every request names its method and tool in headers as well as in the
    // body: the layer and rmcp both compare them, and agree.
    let server = Running::demo().await;
    let token = server.token("payments:read").await;
    let client = discover(&server.endpoint, &token)
        .await
        .expect("server/discover");
    let info = client.peer_info().expect("the server/discover result");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2026_07_28);
    let balance = output(
        call(&client, "get_balance", json!({}))
            .await
            .expect("get_balance"),
    );
    assert_eq!(balance["account"], DEMO_CLIENT_ID);
    let error = call(&client, "charge", json!({"amount_cents": 1}))
        .await
        .expect_err("payments:write is missing");
    let (status, challenge) = call_refusal(&error);
    assert_eq!(status, 403, "{challenge}");
    assert!(
        challenge.contains(r#"scope="payments:write""#),
        "{challenge}"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_public_url_is_the_resource_and_its_host_the_only_other_one_rmcp_lets_in() {
    let server = Running::start(&["--demo", "--public-url", "https://mcp.example.test/"]).await;
    assert_eq!(server.resource, "https://mcp.example.test/mcp");
    let token = server.token("payments:read").await;

    // Behind a proxy, the request names the public host.
    let response = raw_initialize(server.addr, Some("mcp.example.test"), Some(&token)).await;
    assert_eq!(response.status(), 200);
    // Another host is refused by rmcp (DNS rebinding), after the token
    // was checked.
    let response = raw_initialize(server.addr, Some("evil.example.test"), Some(&token)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(www_authenticate(&response), "");

    // Challenges and the metadata name the public URL.
    let response = raw_initialize(server.addr, Some("mcp.example.test"), None).await;
    assert_eq!(
        www_authenticate(&response),
        r#"Bearer scope="payments:read", resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp""#
    );
    let (_, document) = get(&format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        server.addr
    ))
    .await;
    assert_eq!(document["resource"], "https://mcp.example.test/mcp");
}

#[tokio::test]
async fn options_that_do_not_fit_are_refused_before_anything_is_served() {
    let parse = |argv: &[&str]| Args::parse(argv.iter().map(|a| a.to_string()));
    assert!(matches!(parse(&["--help"]), Ok(None)));
    assert!(parse(&["--audience", "x"]).is_err());
    assert!(parse(&["--issuer"]).is_err());
    for argv in [
        &["--listen", "127.0.0.1:0"][..],
        &[
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            "https://as.example.test",
        ],
        &[
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            "https://as.example.test",
            "--discover",
            "--jwks-url",
            "https://as.example.test/jwks",
        ],
        &[
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--issuer",
            "https://as.example.test",
        ],
        &[
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--public-url",
            "mcp.example.test",
        ],
    ] {
        let args = parse(argv).expect("parsed").expect("not --help");
        assert!(Server::bind(&args).await.is_err(), "{argv:?}");
    }
}

// ---------------------------------------------------------------------------
// Tokens from a real authorization server: oidc-provider.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn oidc_provider_tokens_for_the_mcp_url_are_accepted_and_for_another_resource_refused() {
    let op = oidc_provider::Provider::start();
    let server = Running::start(&["--issuer", &op.issuer, "--discover", "--allow-http"]).await;

    // The client-credentials grant with resource = the MCP endpoint.
    let read = op.token("payments:read", &server.resource).await;
    let client = connect(&server.endpoint, Some(&read))
        .await
        .expect("initialize");
    let balance = output(
        call(&client, "get_balance", json!({}))
            .await
            .expect("get_balance"),
    );
    assert_eq!(balance["account"], oidc_provider::CLIENT_ID);
    assert_eq!(balance["caller"]["scopes"], json!(["payments:read"]));
    let error = call(&client, "charge", json!({"amount_cents": 500}))
        .await
        .expect_err("payments:write is missing");
    let (status, challenge) = call_refusal(&error);
    assert_eq!(status, 403, "{challenge}");
    assert!(
        challenge.contains(r#"scope="payments:write""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&server.resource_metadata()),
        "{challenge}"
    );
    client.cancel().await.expect("close");

    let write = op.token("payments:write", &server.resource).await;
    let client = connect(&server.endpoint, Some(&write))
        .await
        .expect("initialize");
    let charged = output(
        call(&client, "charge", json!({"amount_cents": 500}))
            .await
            .expect("charge"),
    );
    assert_eq!(charged["account"], oidc_provider::CLIENT_ID);
    client.cancel().await.expect("close");

    // A token the same provider issued to the same client for another
    // resource (the harness's default API).
    let elsewhere = op
        .token("payments:read", "https://rs.example.test/jwt")
        .await;
    let error = connect(&server.endpoint, Some(&elsewhere))
        .await
        .expect_err("not for this server");
    let (status, challenge) = handshake_refusal(&error);
    assert_eq!(status, 401, "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );

    // The metadata names the provider.
    let (_, document) = get(&format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        server.addr
    ))
    .await;
    assert_eq!(document["authorization_servers"], json!([op.issuer]));
}
