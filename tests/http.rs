//! The layer through a real axum server on 127.0.0.1, driven by a real HTTP
//! client: every RFC 6750 response byte for byte, scopes, anonymous mode, the
//! extractors, and a plain hyper service.

use crate::common;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use bearer_guard::{BearerLayer, Claims, RequireLayer, Requirement};
use common::{issuer, serve};
use reqwest::StatusCode;

const REALM: &str = "payments";

async fn me(claims: Claims) -> String {
    format!("hello {}", claims.subject().unwrap_or("?"))
}

async fn maybe(claims: Option<Claims>) -> String {
    match claims {
        Some(c) => format!("hello {}", c.subject().unwrap_or("?")),
        None => "hello anonymous".into(),
    }
}

/// The Payment Service of the examples: `/me` any token, `/charge` needs
/// `charge:customer`, `/report` needs `reports:read` or `admin`.
fn app(layer: BearerLayer) -> Router {
    let charge = Router::new()
        .route("/charge", post(|| async { "charged" }))
        .route_layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])));
    let report = Router::new()
        .route("/report", get(|| async { "report" }))
        .route_layer(RequireLayer::new(Requirement::scopes_any([
            "reports:read",
            "admin",
        ])));
    let refund = Router::new().route(
        "/refund",
        post(|claims: Claims| async move {
            Requirement::scopes_all(["refund"]).check(&claims)?;
            Ok::<_, bearer_guard::AuthError>("refunded")
        }),
    );
    Router::new()
        .route("/me", get(me))
        .merge(charge)
        .merge(report)
        .merge(refund)
        .layer(layer)
}

fn layer() -> BearerLayer {
    BearerLayer::new(issuer().validator()).realm(REALM)
}

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn send(
    addr: SocketAddr,
    method: reqwest::Method,
    path: &str,
    authorization: &[&str],
) -> Reply {
    let mut req = reqwest::Client::new().request(method, format!("http://{addr}{path}"));
    for value in authorization {
        req = req.header(reqwest::header::AUTHORIZATION, *value);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let challenge = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("ascii challenge").to_owned());
    let body = resp.text().await.expect("body");
    Reply {
        status,
        challenge,
        body,
    }
}

async fn get_with(addr: SocketAddr, path: &str, authorization: &[&str]) -> Reply {
    send(addr, reqwest::Method::GET, path, authorization).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

const BARE: &str = r#"Bearer realm="payments""#;

fn invalid_token(description: &str) -> String {
    format!(r#"Bearer realm="payments", error="invalid_token", error_description="{description}""#)
}

fn invalid_request(description: &str) -> String {
    format!(
        r#"Bearer realm="payments", error="invalid_request", error_description="{description}""#
    )
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let addr = serve(app(layer())).await;
    let token = issuer().token().subject("order-service").sign();
    let r = get_with(addr, "/me", &[&bearer(&token)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "hello order-service");
    assert_eq!(r.challenge, None);
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let addr = serve(app(layer())).await;
    let token = issuer().token().sign();
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let r = get_with(addr, "/me", &[&format!("{scheme} {token}")]).await;
        assert_eq!(r.status, StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn no_credentials_or_another_scheme_get_a_bare_challenge() {
    let addr = serve(app(layer())).await;
    for auth in [
        &[][..],
        &["Basic dXNlcjpwYXNz"],
        &["Negotiate abc"],
        &["DPoP eyJ.eyJ.sig"],
    ] {
        let r = get_with(addr, "/me", auth).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(r.challenge.as_deref(), Some(BARE), "{auth:?}");
        assert_eq!(r.body, "");
    }
}

#[tokio::test]
async fn malformed_requests_are_400_invalid_request() {
    let addr = serve(app(layer())).await;
    let token = issuer().token().sign();
    let two = get_with(addr, "/me", &[&bearer(&token), &bearer(&token)]).await;
    assert_eq!(two.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        two.challenge.unwrap(),
        invalid_request("The request has more than one Authorization header")
    );
    for bad in [
        "Bearer".to_owned(),
        format!("Bearer\t{token}"),
        format!("Bearer {token} extra"),
        format!("Bearer {token},x"),
    ] {
        let r = get_with(addr, "/me", &[&bad]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(
            r.challenge.unwrap(),
            invalid_request("The Bearer credentials are malformed")
        );
    }
}

#[tokio::test]
async fn refused_tokens_are_401_invalid_token_without_echoing_the_token() {
    let addr = serve(app(layer())).await;
    let cases = [
        (
            issuer().token().expires_in(-3600).sign(),
            "The access token expired",
        ),
        (
            issuer().token().audience("orders").sign(),
            "The access token is not meant for this resource",
        ),
        (
            issuer().token().claim("iss", "https://evil.test").sign(),
            "The access token was issued by an untrusted issuer",
        ),
        (
            issuer().token().tampered(),
            "The access token signature is invalid",
        ),
        (
            issuer().token().unsigned(),
            "The access token is signed with an algorithm that is not accepted",
        ),
        (
            issuer().token().header("kid", "unknown").sign(),
            "The access token is signed with an unknown key",
        ),
        ("not-a-jwt".to_owned(), "The access token is malformed"),
        (
            issuer().token().header("typ", "dpop+jwt").sign(),
            "The token is not an access token",
        ),
    ];
    for (token, description) in cases {
        let r = get_with(addr, "/me", &[&bearer(&token)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{description}");
        let challenge = r.challenge.unwrap();
        assert_eq!(challenge, invalid_token(description));
        assert_eq!(r.body, "");
        for part in token.split('.').filter(|p| p.len() > 4) {
            assert!(!challenge.contains(part), "token echoed in {challenge}");
        }
    }
}

#[tokio::test]
async fn oversize_tokens_are_refused_before_decoding() {
    let addr = serve(app(layer())).await;
    let huge = "a".repeat(16 * 1024 + 1);
    let r = get_with(addr, "/me", &[&bearer(&huge)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge.unwrap(),
        invalid_token("The access token is too large")
    );
}

#[tokio::test]
async fn scope_all_of_is_enforced_with_403_insufficient_scope() {
    let addr = serve(app(layer())).await;
    let with = issuer().token().scope("charge:customer orders:read").sign();
    let r = send(addr, reqwest::Method::POST, "/charge", &[&bearer(&with)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "charged");

    let without = issuer().token().scope("orders:read").sign();
    let r = send(addr, reqwest::Method::POST, "/charge", &[&bearer(&without)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.challenge.unwrap(),
        r#"Bearer realm="payments", error="insufficient_scope", error_description="The access token lacks the scope this request needs", scope="charge:customer""#
    );
    // A case variant of the scope is another scope.
    let upper = issuer().token().scope("CHARGE:CUSTOMER").sign();
    let r = send(addr, reqwest::Method::POST, "/charge", &[&bearer(&upper)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn scope_any_of_accepts_either_scope() {
    let addr = serve(app(layer())).await;
    for scope in ["reports:read", "admin", "x admin"] {
        let token = issuer().token().scope(scope).sign();
        let r = get_with(addr, "/report", &[&bearer(&token)]).await;
        assert_eq!(r.status, StatusCode::OK, "{scope}");
    }
    let token = issuer().token().scope("reports:write").sign();
    let r = get_with(addr, "/report", &[&bearer(&token)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.challenge
            .unwrap()
            .ends_with(r#"scope="reports:read admin""#)
    );
}

/// The handler returns an `AuthError`; the layer around it adds its realm
/// on the way out, so the challenge is the one the scope layer would send.
#[tokio::test]
async fn scope_checked_inside_a_handler_answers_403_with_the_layers_realm() {
    let addr = serve(app(layer())).await;
    let token = issuer().token().scope("charge:customer").sign();
    let r = send(addr, reqwest::Method::POST, "/refund", &[&bearer(&token)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.challenge.as_deref(),
        Some(
            r#"Bearer realm="payments", error="insufficient_scope", error_description="The access token lacks the scope this request needs", scope="refund""#
        )
    );
    let token = issuer().token().scope("refund").sign();
    let r = send(addr, reqwest::Method::POST, "/refund", &[&bearer(&token)]).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn anonymous_mode_lets_missing_tokens_through_but_not_bad_ones() {
    let router = Router::new()
        .route("/maybe", get(maybe))
        .route("/me", get(me))
        .route(
            "/charge",
            post(|| async { "charged" }).route_layer(RequireLayer::new(Requirement::scopes_all([
                "charge:customer",
            ]))),
        )
        .layer(layer().allow_anonymous());
    let addr = serve(router).await;

    let r = get_with(addr, "/maybe", &[]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "hello anonymous")
    );
    let token = issuer().token().subject("alice").sign();
    let r = get_with(addr, "/maybe", &[&bearer(&token)]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "hello alice"));

    // Present but bad: still refused.
    let expired = issuer().token().expires_in(-3600).sign();
    let r = get_with(addr, "/maybe", &[&bearer(&expired)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge.unwrap(),
        invalid_token("The access token expired")
    );
    let r = get_with(addr, "/maybe", &["Bearer"]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // A handler that needs claims, or a scope, answers 401 to anonymous;
    // a route requirement names the scopes to ask for (the MCP
    // specification's scope selection strategy reads them).
    let r = get_with(addr, "/me", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge.as_deref(), Some(BARE));
    let r = send(addr, reqwest::Method::POST, "/charge", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge.as_deref(),
        Some(r#"Bearer realm="payments", scope="charge:customer""#)
    );
}

/// The scopes a route's 401 names: all of an "all" list, the first of an
/// "any" list or of alternatives, each once; none for a role.
#[tokio::test]
async fn a_route_requirement_names_the_scopes_a_token_less_request_needs() {
    let cases = [
        (
            Requirement::scopes_all(["a", "b"]).and(Requirement::scopes_all(["b", "c"])),
            Some("a b c"),
        ),
        (Requirement::scopes_any(["x", "y"]), Some("x")),
        (
            Requirement::roles_any(["admin"]).or(Requirement::scopes_all(["ops"])),
            Some("ops"),
        ),
        (Requirement::roles_any(["admin"]), None),
    ];
    for (requirement, scope) in cases {
        let router = Router::new()
            .route("/r", get(|| async { "ok" }))
            .route_layer(RequireLayer::new(requirement))
            .layer(layer().allow_anonymous());
        let addr = serve(router).await;
        let r = get_with(addr, "/r", &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let expected = match scope {
            Some(s) => format!(r#"Bearer realm="payments", scope="{s}""#),
            None => BARE.to_owned(),
        };
        assert_eq!(r.challenge.as_deref(), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn the_extractor_without_the_layer_is_a_clear_500() {
    let router = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe));
    let addr = serve(router).await;
    for path in ["/me", "/maybe"] {
        let r = get_with(addr, path, &[]).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(r.body.contains("BearerLayer does not cover"), "{}", r.body);
    }
}

#[tokio::test]
async fn route_layer_protects_only_its_routes() {
    let router = Router::new()
        .route("/me", get(me))
        .route_layer(layer())
        .route("/health", get(|| async { "ok" }));
    let addr = serve(router).await;
    assert_eq!(get_with(addr, "/health", &[]).await.status, StatusCode::OK);
    assert_eq!(
        get_with(addr, "/me", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Unknown routes stay 404 rather than 401 with route_layer.
    assert_eq!(
        get_with(addr, "/nope", &[]).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn query_parameter_tokens_only_when_enabled() {
    let token = issuer().token().subject("q").sign();
    let off = serve(app(layer())).await;
    let r = get_with(off, &format!("/me?access_token={token}"), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge.as_deref(), Some(BARE));

    let on = serve(app(layer().allow_query_parameter())).await;
    let r = get_with(on, &format!("/me?access_token={token}"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "hello q"));
    // Header and query together: RFC 6750 §2 allows one method only.
    let r = get_with(on, &format!("/me?access_token={token}"), &[&bearer(&token)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.challenge.unwrap(),
        invalid_request("The request carries more than one access token")
    );
}

/// RFC 6750 §2.3: a success answered to a token sent in the URI SHOULD
/// carry `Cache-Control: private`; one sent in the header is left alone.
#[tokio::test]
async fn a_success_to_a_query_parameter_token_is_private() {
    let token = issuer().token().subject("q").sign();
    let on = serve(app(layer().allow_query_parameter())).await;
    let cache_control = |r: reqwest::Response| {
        r.headers()
            .get(reqwest::header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let r = reqwest::get(format!("http://{on}/me?access_token={token}"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(cache_control(r).as_deref(), Some("private"));
    let r = reqwest::Client::new()
        .get(format!("http://{on}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(cache_control(r), None);
}

#[tokio::test]
async fn without_a_realm_the_challenge_has_none() {
    let addr = serve(app(BearerLayer::new(issuer().validator()))).await;
    let r = get_with(addr, "/me", &[]).await;
    assert_eq!(r.challenge.as_deref(), Some("Bearer"));
    let expired = issuer().token().expires_in(-3600).sign();
    let r = get_with(addr, "/me", &[&bearer(&expired)]).await;
    assert_eq!(
        r.challenge.as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="The access token expired""#)
    );
}

#[tokio::test]
async fn a_realm_with_quotes_is_escaped() {
    let layer = BearerLayer::new(issuer().validator()).realm(r#"pay "ments" \ api"#);
    let addr = serve(app(layer)).await;
    let r = get_with(addr, "/me", &[]).await;
    assert_eq!(
        r.challenge.as_deref(),
        Some(r#"Bearer realm="pay \"ments\" \\ api""#)
    );
}

#[tokio::test]
async fn works_with_a_plain_hyper_service() {
    use std::convert::Infallible;

    use hyper::body::Incoming;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceBuilder;

    let service = ServiceBuilder::new()
        .layer(layer())
        .service(tower::service_fn(
            |req: http::Request<Incoming>| async move {
                let who = req
                    .extensions()
                    .get::<Claims>()
                    .and_then(|c| c.subject().map(str::to_owned))
                    .unwrap_or_default();
                Ok::<_, Infallible>(http::Response::new(format!("hyper says hello {who}")))
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let token = issuer().token().subject("hyper-client").sign();
    let r = get_with(addr, "/", &[&bearer(&token)]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "hyper says hello hyper-client")
    );
    let r = get_with(addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge.as_deref(), Some(BARE));
}

/// GET and POST on one path needing different scopes: each handler gets
/// its own requirement (`handler.layer(..)`), so GET needs the read scope
/// only and POST the write scope only. (`get(list).route_layer(read)
/// .post(create).route_layer(write)` would make GET need both: a
/// method router's `route_layer` wraps every method added before it.)
#[tokio::test]
async fn one_path_can_need_one_scope_for_reading_and_another_for_writing() {
    use axum::handler::Handler;
    let read = RequireLayer::new(Requirement::scopes_all(["orders:read"]));
    let write = RequireLayer::new(Requirement::scopes_all(["orders:write"]));
    let app = Router::new()
        .route(
            "/orders",
            get((|| async { "list" }).layer(read)).post((|| async { "created" }).layer(write)),
        )
        .layer(BearerLayer::new(issuer().validator()));
    let addr = serve(app).await;
    let token = |scope: &str| issuer().token().scope(scope).sign();
    for (method, scope, status) in [
        (reqwest::Method::GET, "orders:read", 200),
        (reqwest::Method::GET, "orders:write", 403),
        (reqwest::Method::POST, "orders:write", 200),
        (reqwest::Method::POST, "orders:read", 403),
    ] {
        let (got, _, _) = common::call(addr, method.clone(), "/orders", &token(scope)).await;
        assert_eq!(got, status, "{method} with {scope}");
    }
}
