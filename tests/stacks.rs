//! The layer in other stacks than axum, over real connections on
//! loopback: tonic (a real gRPC client and server, `examples/grpc.rs`) and
//! hyper 1 with `service_fn` (`examples/hyper.rs`); and the bodies of
//! refusals (RFC 9457 problem documents, a closure, `map_response`).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    AuthError, BearerLayer, RequireLayer, Requirement, Validator, response::ProblemJson,
};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use tonic::Code;
use tower::ServiceExt;

#[path = "../examples/grpc.rs"]
#[allow(dead_code, unreachable_pub)]
mod grpc;

#[path = "../examples/hyper.rs"]
#[allow(dead_code, unreachable_pub)]
mod hyper_example;

async fn grpc_server(validator: Validator) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(grpc::serve(listener, validator));
    addr
}

fn challenge(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_tonic_handler_reads_the_claims_of_a_valid_token() {
    let issuer = TestIssuer::new();
    let addr = grpc_server(issuer.validator()).await;
    let token = issuer
        .token()
        .subject("alice")
        .claim("client_id", "order-service")
        .scope("charge:customer")
        .sign();
    let reply = grpc::charge(addr, Some(&format!("Bearer {token}")), 1250)
        .await
        .unwrap();
    assert_eq!(reply.subject, "alice");
    assert_eq!(reply.client_id, "order-service");
    assert_eq!(reply.amount_cents, 1250);
}

#[tokio::test]
async fn a_grpc_call_without_a_token_is_unauthenticated_with_the_challenge_in_its_metadata() {
    let issuer = TestIssuer::new();
    let addr = grpc_server(issuer.validator()).await;
    let status = grpc::charge(addr, None, 1).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        challenge(&status).as_deref(),
        Some(r#"Bearer realm="payments""#)
    );
}

#[tokio::test]
async fn a_grpc_call_with_a_bad_token_is_unauthenticated_with_invalid_token() {
    let issuer = TestIssuer::new();
    let other = TestIssuer::new();
    let addr = grpc_server(issuer.validator()).await;
    let expired = issuer
        .token()
        .scope("charge:customer")
        .expires_in(-3600)
        .sign();
    let forged = other.token().scope("charge:customer").sign();
    for token in [expired, forged, "not.a.token".to_owned()] {
        let status = grpc::charge(addr, Some(&format!("Bearer {token}")), 1)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert!(
            status.message().starts_with("invalid_token: "),
            "{status:?}"
        );
        let challenge = challenge(&status).unwrap();
        assert!(
            challenge.starts_with(r#"Bearer realm="payments", error="invalid_token""#),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn a_grpc_call_without_the_required_scope_is_permission_denied() {
    let issuer = TestIssuer::new();
    let addr = grpc_server(issuer.validator()).await;
    let token = issuer.token().scope("read").sign();
    let status = grpc::charge(addr, Some(&format!("Bearer {token}")), 1)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let challenge = challenge(&status).unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="charge:customer""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_grpc_call_whose_token_cannot_be_checked_is_unavailable_without_a_challenge() {
    let issuer = TestIssuer::new();
    // Nothing listens on the JWKS URL's port: no keys can be had.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    let validator = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_url(jwks)
        .allow_insecure_http()
        .build()
        .unwrap();
    let addr = grpc_server(validator).await;
    let token = issuer.token().scope("charge:customer").sign();
    let status = grpc::charge(addr, Some(&format!("Bearer {token}")), 1)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    // Said by the layer (tonic's own mapping of an HTTP 503 has another text).
    assert_eq!(status.message(), "the access token could not be checked");
    assert_eq!(challenge(&status), None);
}

/// One raw HTTP/2 request to `addr`: status and headers.
async fn h2_post(addr: SocketAddr, content_type: &str) -> (u16, HeaderMap) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = Request::post(format!("http://{addr}{}", grpc::CHARGE))
        .header(header::CONTENT_TYPE, content_type)
        .header("te", "trailers")
        .body(http_body_util::Full::<bytes::Bytes>::default())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    (response.status().as_u16(), response.headers().clone())
}

#[tokio::test]
async fn a_grpc_refusal_is_a_trailers_only_response_and_grpc_web_keeps_its_http_status() {
    let issuer = TestIssuer::new();
    let addr = grpc_server(issuer.validator()).await;
    let (status, headers) = h2_post(addr, "application/grpc").await;
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "16");
    assert_eq!(headers["grpc-message"], "no access token");
    assert_eq!(headers[header::CONTENT_TYPE], "application/grpc");
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="payments""#
    );
    // grpc-web is answered as HTTP.
    let (status, headers) = h2_post(addr, "application/grpc-web+proto").await;
    assert_eq!(status, 401);
    assert!(headers.get("grpc-status").is_none());
}

#[tokio::test]
async fn an_http1_request_claiming_grpc_keeps_its_http_refusal() {
    let issuer = TestIssuer::new();
    let app = Router::new()
        .route("/charge", axum::routing::post(|| async { "charged" }))
        .layer(BearerLayer::new(issuer.validator()));
    let request = Request::post("/charge")
        .header(header::CONTENT_TYPE, "application/grpc")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("grpc-status").is_none());
}

#[tokio::test]
async fn a_body_closure_cannot_remove_the_challenge() {
    let issuer = TestIssuer::new();
    let app = Router::new()
        .route("/charge", get(|| async { "charged" }))
        .layer(
            BearerLayer::new(issuer.validator())
                .realm("api")
                .error_body(|_: &AuthError, headers: &mut HeaderMap| {
                    headers.remove(header::WWW_AUTHENTICATE);
                    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                    Body::from("no")
                }),
        );
    let (status, headers, body) = get_with(app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "no");
    let challenges: Vec<_> = headers.get_all(header::WWW_AUTHENTICATE).iter().collect();
    assert_eq!(challenges, [r#"Bearer realm="api""#]);
}

#[tokio::test]
async fn hyper_with_service_fn_answers_problem_documents() {
    let issuer = TestIssuer::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(hyper_example::serve(listener, issuer.validator()));

    let good = issuer
        .token()
        .subject("alice")
        .scope("charge:customer")
        .sign();
    let ok = hyper_example::call(addr, Some(&format!("Bearer {good}")))
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, "charged on behalf of alice\n");

    let missing = hyper_example::call(addr, None).await.unwrap();
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.content_type.as_deref(),
        Some(ProblemJson::CONTENT_TYPE)
    );
    assert_eq!(
        missing.challenge.as_deref(),
        Some(r#"Bearer realm="payments""#)
    );
    let doc: serde_json::Value = serde_json::from_str(&missing.body).unwrap();
    assert_eq!(doc["status"], 401);
    assert_eq!(doc["title"], "Unauthorized");
    assert!(
        doc.get("error").is_none(),
        "RFC 6750 §3.1: no error code without a token"
    );

    // A refusal from inside the layer (the scope requirement) gets its
    // document too, with the scope it needs.
    let narrow = issuer.token().scope("read").sign();
    let denied = hyper_example::call(addr, Some(&format!("Bearer {narrow}")))
        .await
        .unwrap();
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.content_type.as_deref(),
        Some(ProblemJson::CONTENT_TYPE)
    );
    let doc: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
    assert_eq!(doc["error"], "insufficient_scope");
    assert_eq!(doc["scope"], "charge:customer");
    assert_eq!(doc["status"], 403);
}

async fn get_with(app: Router, authorization: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get("/charge");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn an_error_body_closure_writes_every_refusal_and_leaves_successes_alone() {
    let issuer = TestIssuer::new();
    let app = Router::new()
        .route("/charge", get(|| async { "charged" }))
        .route_layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])))
        .layer(BearerLayer::new(issuer.validator()).error_body(
            |error: &AuthError, headers: &mut HeaderMap| {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                Body::from(format!("refused: {}", error.error_code().unwrap_or("none")))
            },
        ));
    let (status, headers, body) = get_with(app.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain");
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(body, "refused: none");

    let narrow = issuer.token().scope("read").sign();
    let (status, _, body) = get_with(app.clone(), Some(&format!("Bearer {narrow}"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "refused: insufficient_scope");

    let good = issuer.token().scope("charge:customer").sign();
    let (status, headers, body) = get_with(app, Some(&format!("Bearer {good}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "charged");
    assert_ne!(headers[header::CONTENT_TYPE], "text/plain");
}

#[tokio::test]
async fn a_map_response_outside_the_layer_reads_the_auth_error() {
    let issuer = TestIssuer::new();
    let app = Router::new()
        .route("/charge", get(|| async { "charged" }))
        .layer(BearerLayer::new(issuer.validator()).error_body(ProblemJson))
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                let code = response
                    .extensions()
                    .get::<AuthError>()
                    .map(|e| e.error_code().unwrap_or("none").to_owned());
                if let Some(code) = code {
                    response
                        .headers_mut()
                        .insert("x-auth-error", HeaderValue::try_from(code).unwrap());
                }
                response
            },
        ));
    let (status, headers, body) = get_with(app.clone(), Some("Bearer not.a.token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["x-auth-error"], "invalid_token");
    assert_eq!(headers[header::CONTENT_TYPE], ProblemJson::CONTENT_TYPE);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["detail"], "The access token is malformed");
    let good = issuer.token().sign();
    let (status, headers, _) = get_with(app, Some(&format!("Bearer {good}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("x-auth-error").is_none());
}
