//! Per-tool requirements of an MCP endpoint, through a real axum router
//! behind the bearer layer: the tool is named in the JSON-RPC body, the body reaches the
//! handler unchanged, and every refusal is the one the MCP specification
//! gives (403 `insufficient_scope` with the scopes needed, 400 `-32020`
//! when a mirrored header disagrees with the body).

use crate::common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bearer_guard::mcp::{McpPolicy, RequireToolLayer};
use bearer_guard::{BearerLayer, Requirement};
use bytes::Bytes;
use common::issuer;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

fn policy() -> McpPolicy {
    McpPolicy::new()
        .tool("get_balance", Requirement::scopes_all(["payments:read"]))
        .tool("charge", Requirement::scopes_all(["payments:write"]))
        .tool(
            "refund",
            Requirement::scopes_all(["payments:write", "refunds"]),
        )
        .max_body(64 * 1024)
}

/// The MCP endpoint echoes the body it received.
fn app(policy: McpPolicy) -> Router {
    Router::new()
        .route("/mcp", post(|body: String| async move { body }))
        .layer(RequireToolLayer::new(policy))
        .layer(BearerLayer::new(issuer().validator()))
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
           "params": {"name": tool, "arguments": {"amount": 5}}})
}

struct Reply {
    status: StatusCode,
    challenge: String,
    body: String,
}

async fn send(app: &Router, token: Option<&str>, headers: &[(&str, &str)], body: String) -> Reply {
    let mut request = Request::post("/mcp").header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn token(scope: &str) -> String {
    issuer().token().scope(scope).sign()
}

#[tokio::test]
async fn a_tool_runs_with_its_scope_and_its_body_arrives_unchanged() {
    let app = app(policy());
    let body = call("get_balance").to_string();
    let reply = send(&app, Some(&token("payments:read")), &[], body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, body);
    // Methods without a rule need only the token.
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let reply = send(&app, Some(&token("other")), &[], list).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_tool_without_its_scopes_answers_insufficient_scope_with_every_scope_it_needs() {
    let app = app(policy());
    let reply = send(
        &app,
        Some(&token("payments:write")),
        &[],
        call("refund").to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.challenge.contains(r#"error="insufficient_scope""#),
        "{}",
        reply.challenge
    );
    assert!(
        reply
            .challenge
            .contains(r#"scope="payments:write refunds""#),
        "{}",
        reply.challenge
    );
    // The same token may call the tool whose scope it holds.
    let reply = send(
        &app,
        Some(&token("payments:write")),
        &[],
        call("charge").to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // No token: the bearer layer's 401, before any body is read.
    let reply = send(&app, None, &[], call("charge").to_string()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_batch_needs_the_scopes_of_every_message() {
    let app = app(policy());
    let batch = json!([call("get_balance"), call("charge")]).to_string();
    let reply = send(&app, Some(&token("payments:read")), &[], batch.clone()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply
            .challenge
            .contains(r#"scope="payments:read payments:write""#),
        "{}",
        reply.challenge
    );
    let both = token("payments:read payments:write");
    assert_eq!(
        send(&app, Some(&both), &[], batch).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_tool_without_a_rule_follows_the_chosen_default() {
    let refused = send(
        &app(policy()),
        Some(&token("payments:read")),
        &[],
        call("drop_tables").to_string(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.challenge.contains("insufficient_scope"));
    let open = app(policy().allow_unknown_tools());
    let reply = send(
        &open,
        Some(&token("x")),
        &[],
        call("drop_tables").to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let guarded = app(policy().unknown_tools(Requirement::scopes_all(["admin"])));
    let reply = send(
        &guarded,
        Some(&token("x")),
        &[],
        call("drop_tables").to_string(),
    )
    .await;
    assert!(
        reply.challenge.contains(r#"scope="admin""#),
        "{}",
        reply.challenge
    );
}

/// A gateway that trusted `Mcp-Name` would let `charge` through as
/// `get_balance`: the header must agree with the body, or 400 `-32020`.
#[tokio::test]
async fn mirrored_headers_that_disagree_with_the_body_are_refused() {
    let app = app(policy());
    let read = token("payments:read");
    let body = call("charge").to_string();
    for headers in [
        vec![("mcp-name", "get_balance")],
        vec![("mcp-method", "tools/list")],
        vec![("mcp-name", "get_balance"), ("mcp-name", "charge")],
        vec![("mcp-name", "=?base64?not base64?=")],
    ] {
        let reply = send(&app, Some(&read), &headers, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{headers:?}");
        let error: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(error["error"]["code"], -32020, "{headers:?}");
        assert_eq!(error["id"], 7);
    }
    // Agreeing headers, plain or encoded, change nothing.
    let balance = call("get_balance").to_string();
    for name in ["get_balance", "=?base64?Z2V0X2JhbGFuY2U=?="] {
        let headers = [("mcp-method", "tools/call"), ("mcp-name", name)];
        let reply = send(&app, Some(&read), &headers, balance.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
    }
}

/// Two parsers that keep different duplicates would disagree on the tool.
#[tokio::test]
async fn bodies_that_are_not_strict_json_are_refused() {
    let app = app(policy());
    let read = token("payments:read");
    let duplicate = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","name":"charge"}}"#;
    for body in [
        duplicate,
        "{",
        "[]",
        "42",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
    ] {
        let reply = send(&app, Some(&read), &[], body.to_owned()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let error: Value = serde_json::from_str(&reply.body).unwrap();
        assert!(error["error"]["code"].as_i64().unwrap() <= -32600, "{body}");
    }
}

#[tokio::test]
async fn the_body_limit_holds_at_its_edge() {
    let limit = 1024;
    let app = app(policy().max_body(limit));
    let read = token("payments:read");
    let padded = |len: usize| {
        let body = call("get_balance").to_string();
        let pad = len - body.len();
        format!("{}{}", body, " ".repeat(pad))
    };
    assert_eq!(
        send(&app, Some(&read), &[], padded(limit)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, Some(&read), &[], padded(limit + 1)).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

/// A body that never ends.
struct Trickle;

impl http_body::Body for Trickle {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_ends_is_answered_408_after_the_timeout() {
    let app = app(policy().body_timeout(Duration::from_secs(3)));
    let request = Request::post("/mcp")
        .header(
            "authorization",
            format!("Bearer {}", token("payments:read")),
        )
        .body(Body::new(Trickle))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
}

/// rmcp sends (and checks) `Mcp-Name` also for `resources/subscribe`,
/// `resources/unsubscribe` (`params.uri`) and the tasks methods
/// (`params.taskId`): such a request is legitimate, and must not be
/// answered `-32020`; a disagreeing value still is.
#[tokio::test]
async fn mcp_name_of_a_subscription_or_a_task_is_compared_with_what_it_names() {
    let app = app(policy());
    let read = token("payments:read");
    for (method, member, value) in [
        ("resources/subscribe", "uri", "file:///ledger"),
        ("resources/unsubscribe", "uri", "file:///ledger"),
        ("tasks/get", "taskId", "task-1"),
        ("tasks/cancel", "taskId", "task-1"),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": method,
                          "params": {member: value}})
        .to_string();
        let headers = [("mcp-method", method), ("mcp-name", value)];
        let reply = send(&app, Some(&read), &headers, body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{method}: {}", reply.body);
        assert_eq!(reply.body, body);
        let headers = [("mcp-method", method), ("mcp-name", "other")];
        let reply = send(&app, Some(&read), &headers, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{method}");
        let error: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(error["error"]["code"], -32020, "{method}");
    }
}

/// What a message names needs its rule wherever it is named, and its
/// method's rule as well.
#[tokio::test]
async fn prompts_and_resources_are_guarded_wherever_they_are_named() {
    let app = app(policy()
        .prompt("payroll", Requirement::scopes_all(["hr"]))
        .resource("file:///secrets", Requirement::scopes_all(["secrets"]))
        .method("tools/call", Requirement::scopes_all(["mcp:tools"])));
    let t = token("payments:read");
    let message = |method: &str, params: Value| {
        json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params}).to_string()
    };
    for body in [
        message("prompts/get", json!({"name": "payroll"})),
        message(
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "payroll"}, "argument": {"name": "a", "value": "b"}}),
        ),
        message("resources/read", json!({"uri": "file:///secrets"})),
        message("resources/subscribe", json!({"uri": "file:///secrets"})),
        message(
            "completion/complete",
            json!({"ref": {"type": "ref/resource", "uri": "file:///secrets"}, "argument": {"name": "a", "value": "b"}}),
        ),
    ] {
        let reply = send(&app, Some(&t), &[], body.clone()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{body}");
        assert!(reply.challenge.contains("insufficient_scope"), "{body}");
    }
    // The tool's rule and the method's rule, both.
    let reply = send(&app, Some(&t), &[], call("get_balance").to_string()).await;
    assert!(
        reply
            .challenge
            .contains(r#"scope="payments:read mcp:tools""#),
        "{}",
        reply.challenge
    );
    let both = token("payments:read mcp:tools");
    assert_eq!(
        send(&app, Some(&both), &[], call("get_balance").to_string())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_last_unknown_tool_setting_holds() {
    let t = token("x");
    let allowed = app(policy()
        .unknown_tools(Requirement::scopes_all(["admin"]))
        .allow_unknown_tools());
    assert_eq!(
        send(&allowed, Some(&t), &[], call("other").to_string())
            .await
            .status,
        StatusCode::OK
    );
    let guarded = app(policy()
        .allow_unknown_tools()
        .unknown_tools(Requirement::scopes_all(["admin"])));
    assert_eq!(
        send(&guarded, Some(&t), &[], call("other").to_string())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

/// The decision is taken on the bytes the server reads: an encoded body,
/// or a body sent with another method, is not let through unread.
#[tokio::test]
async fn encoded_bodies_are_refused_and_every_method_with_a_body_is_read() {
    let app = Router::new()
        .route(
            "/mcp",
            axum::routing::any(|body: String| async move { body }),
        )
        .layer(RequireToolLayer::new(policy()))
        .layer(BearerLayer::new(issuer().validator()));
    let read = token("payments:read");
    let gzip = send(
        &app,
        Some(&read),
        &[("content-encoding", "gzip")],
        call("get_balance").to_string(),
    )
    .await;
    assert_eq!(gzip.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let request = Request::put("/mcp")
        .header("authorization", format!("Bearer {read}"))
        .body(Body::from(call("charge").to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// A batch that calls one tool many times is checked against that tool's
/// rule, and the challenge names each scope once, whatever its length.
#[tokio::test]
async fn a_long_batch_makes_one_short_challenge() {
    let app = app(policy().max_body(1024 * 1024));
    let batch = Value::Array((0..5_000).map(|_| call("charge")).collect()).to_string();
    let reply = send(&app, Some(&token("payments:read")), &[], batch).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.challenge.contains(r#"scope="payments:write""#),
        "{}",
        reply.challenge
    );
    assert!(
        reply.challenge.len() < 200,
        "{} bytes",
        reply.challenge.len()
    );
}

/// MCP's scope selection strategy: a 401 names the scopes to ask for. The
/// tool a token-less call names decides them (behind a layer that lets
/// such requests through); otherwise the resource's `scopes_supported`,
/// without `offline_access`.
#[tokio::test]
async fn a_401_names_the_scopes_the_called_tool_or_the_resource_needs() {
    use bearer_guard::metadata::ResourceMetadata;
    let validator = issuer().validator();
    let metadata = ResourceMetadata::new("https://mcp.example.com/mcp", &validator)
        .scopes_supported(["payments:read", "offline_access"]);
    let url = metadata.url();
    let layer = BearerLayer::new(validator).resource_metadata(&metadata);
    let anonymous = Router::new()
        .route("/mcp", post(|body: String| async move { body }))
        .layer(RequireToolLayer::new(policy()))
        .layer(layer.clone().allow_anonymous());
    let r = send(&anonymous, None, &[], call("refund").to_string()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge,
        format!(r#"Bearer scope="payments:write refunds", resource_metadata="{url}""#)
    );
    // A batch: the union of what its tools need, each scope once.
    let batch = json!([call("get_balance"), call("refund"), call("charge")]).to_string();
    let r = send(&anonymous, None, &[], batch).await;
    assert!(
        r.challenge
            .contains(r#"scope="payments:read payments:write refunds""#),
        "{}",
        r.challenge
    );
    // A method that names no tool, or a body that cannot be read: the
    // resource's scopes, and no detail about the body.
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    for body in [
        list,
        "{not json".to_owned(),
        call("drop_tables").to_string(),
    ] {
        let r = send(&anonymous, None, &[], body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.challenge,
            format!(r#"Bearer scope="payments:read", resource_metadata="{url}""#)
        );
        assert_eq!(r.body, "");
    }
    // Without anonymous requests the layer answers before any body is
    // read: the resource's scopes; an invalid token too.
    let guarded = Router::new()
        .route("/mcp", post(|body: String| async move { body }))
        .layer(RequireToolLayer::new(policy()))
        .layer(layer);
    let r = send(&guarded, None, &[], call("refund").to_string()).await;
    assert_eq!(
        r.challenge,
        format!(r#"Bearer scope="payments:read", resource_metadata="{url}""#)
    );
    let r = send(
        &guarded,
        Some("not.a.token"),
        &[],
        call("refund").to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.challenge.starts_with(r#"Bearer error="invalid_token""#)
            && r.challenge.contains(r#"scope="payments:read""#),
        "{}",
        r.challenge
    );
    // A 403 names what the tool needs, never the hint.
    let r = send(
        &guarded,
        Some(&token("payments:read")),
        &[],
        call("charge").to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.challenge.contains(r#"scope="payments:write""#),
        "{}",
        r.challenge
    );
    assert!(!r.challenge.contains("payments:read"), "{}", r.challenge);
}

/// Behind a layer that lets token-less requests through, such a request is
/// answered 401 (the challenge that starts an MCP client's discovery)
/// whatever its body: one that cannot be read for a scope hint gets the
/// resource's challenge, not 413, 415 or 408 (what a request with a token
/// would get), as it did before the body was read for the hint.
#[tokio::test(start_paused = true)]
async fn a_token_less_request_is_answered_401_whatever_its_body() {
    let anonymous = Router::new()
        .route("/mcp", post(|body: String| async move { body }))
        .layer(RequireToolLayer::new(
            policy().body_timeout(Duration::from_secs(3)),
        ))
        .layer(BearerLayer::new(issuer().validator()).allow_anonymous());
    let encoded = send(
        &anonymous,
        None,
        &[("content-encoding", "gzip")],
        call("charge").to_string(),
    )
    .await;
    let large = send(&anonymous, None, &[], "x".repeat(100 * 1024)).await;
    let request = Request::post("/mcp").body(Body::new(Trickle)).unwrap();
    let slow = anonymous.clone().oneshot(request).await.unwrap();
    let statuses = [encoded.status, large.status, slow.status()];
    assert_eq!(statuses, [StatusCode::UNAUTHORIZED; 3]);
    for challenge in [&encoded.challenge, &large.challenge] {
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
}
