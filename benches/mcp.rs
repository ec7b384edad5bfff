//! The MCP layer's cost: a `tools/call` request through
//! `RequireToolLayer` (the body read, parsed strictly, the tool's rule
//! checked, the body passed on) against the same request through the
//! bearer layer alone, in the same run, with a cached token.
//!
//! `cargo bench --bench mcp` (add `-- --quick` for a short pass).

mod common;

use std::process::ExitCode;

use axum::body::Body;
use axum::routing::post;
use bearer_guard::mcp::{McpPolicy, RequireToolLayer};
use bearer_guard::{BearerLayer, Requirement, keys::Algorithm};
use common::{Fixture, gate, mean_ns};
use criterion::Criterion;
use http::{Request, StatusCode, header::AUTHORIZATION, header::CONTENT_TYPE};
use tower::ServiceExt;

/// A `tools/call` as an MCP client sends it (2025-11-25, with `_meta`).
const CALL: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"get_balance","arguments":{"account":"acct_1N4Hc2LkdIwHu7ix","currency":"eur"},"_meta":{"progressToken":7}}}"#;

fn request(auth: &str) -> Request<Body> {
    Request::post("/mcp")
        .header(AUTHORIZATION, auth)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(CALL))
        .expect("request")
}

/// The MCP server stands in as a handler that reads the body.
async fn server(body: axum::body::Bytes) -> String {
    body.len().to_string()
}

fn main() -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let f = Fixture::new("ES256", Algorithm::ES256);
    let auth = format!("Bearer {}", f.token);
    // The fixture's token carries no scope: the rule is one the claims
    // meet (a role-free predicate), so that the whole check runs.
    let policy = McpPolicy::new()
        .tool(
            "get_balance",
            Requirement::predicate("has a subject", |c| c.subject().is_some()),
        )
        .tool("charge", Requirement::scopes_all(["payments:write"]))
        .tool(
            "refund",
            Requirement::scopes_all(["payments:write", "refunds"]),
        );
    let warm = f.warm();
    let bearer = axum::Router::new()
        .route("/mcp", post(server))
        .layer(BearerLayer::new(warm.clone()));
    let mcp = axum::Router::new()
        .route("/mcp", post(server))
        .layer(RequireToolLayer::new(policy))
        .layer(BearerLayer::new(warm));
    rt.block_on(async {
        for (name, app) in [("bearer", &bearer), ("mcp", &mcp)] {
            let r = app.clone().oneshot(request(&auth)).await.expect("response");
            assert_eq!(r.status(), StatusCode::OK, "{name}");
        }
    });
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("mcp/tools-call");
    for (name, app) in [("bearer-only", &bearer), ("bearer+tool-rule", &mcp)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| app.clone().oneshot(request(&auth)))
        });
    }
    group.finish();
    c.final_summary();

    let m = |name: &str| mean_ns("mcp/tools-call", name);
    let (Some(plain), Some(tool)) = (m("bearer-only"), m("bearer+tool-rule")) else {
        println!("mcp: not measured in this run");
        return ExitCode::SUCCESS;
    };
    println!(
        "\nA tools/call ({} B body), cached token; ratios measured in this run",
        CALL.len()
    );
    println!("{:<34} {:>10.2} us", "bearer layer only", plain / 1e3);
    println!(
        "{:<34} {:>10.2} us   {:.2}x, +{:.2} us for the tool rule",
        "bearer + RequireToolLayer",
        tool / 1e3,
        tool / plain,
        (tool - plain) / 1e3
    );
    if gate() && tool / plain > 3.0 {
        println!("GROSS REGRESSION: bearer + tool rule costs more than 3x the bearer layer alone");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
