//! Over HTTP on a real axum server: tokens in another header or a cookie
//! (identity-aware proxies), requirements beyond scopes (roles,
//! permissions, predicates) and the typed-claims extractor.

use crate::common;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BearerLayer, Claims, RequireLayer, Requirement, Validator, claims::RoleSource,
    extract::TypedClaims, keys::Algorithm,
};
use common::serve;
use http::HeaderName;
use reqwest::StatusCode;

const AUDIENCE: &str = "api";
const IAP: &str = "x-goog-iap-jwt-assertion";

fn issuer() -> &'static TestIssuer {
    static I: std::sync::OnceLock<TestIssuer> = std::sync::OnceLock::new();
    I.get_or_init(|| {
        TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256)]).default_audience(AUDIENCE)
    })
}

fn validator() -> Validator {
    issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .roles_from(RoleSource::KeycloakRealm)
        .permissions_from(RoleSource::Claim("permissions".into()))
        .build()
        .unwrap()
}

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn fetch(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    Reply {
        status: resp.status(),
        challenge: resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: resp.text().await.unwrap(),
    }
}

async fn me(c: Claims) -> String {
    c.subject().unwrap_or("?").to_owned()
}

/// Google IAP and Cloudflare Access hand the token over in a header of its
/// own, or a cookie; refusals still answer with RFC 6750 challenges.
#[tokio::test]
async fn tokens_arrive_in_a_configured_header_or_cookie() {
    let layer = BearerLayer::new(validator())
        .realm("api")
        .token_header(HeaderName::from_static(IAP))
        .token_cookie("CF_Authorization");
    let cached = || async { ([(http::header::CACHE_CONTROL, "max-age=300")], "cached") };
    let addr = serve(
        Router::new()
            .route("/me", get(me))
            .route("/cached", get(cached))
            .layer(layer),
    )
    .await;
    let token = issuer().token().subject("iap-user").sign();

    let r = fetch(addr, "/me", &[(IAP, &token)]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "iap-user"));
    let cookie = format!("theme=dark; CF_Authorization={token}");
    let r = fetch(addr, "/me", &[("cookie", &cookie)]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "iap-user"));
    // The bearer header still works.
    let r = fetch(
        addr,
        "/me",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // Not in `Authorization`: shared caches must not keep the answer.
    let r2 = reqwest::Client::new()
        .get(format!("http://{addr}/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r2.headers()["cache-control"], "private");
    // A handler's own caching directives get `private` added.
    let r2 = reqwest::Client::new()
        .get(format!("http://{addr}/cached"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r2.headers()["cache-control"], "max-age=300, private");
    // Cloudflare Access sends its header and its cookie with the same
    // token: one token, accepted.
    let r = fetch(addr, "/me", &[(IAP, &token), ("cookie", &cookie)]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "iap-user"));
    // A cookie header with other, non-ASCII cookies still yields the token.
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/me"))
        .header(
            "cookie",
            http::HeaderValue::from_bytes(
                &[
                    "pref=caf\u{e9}; CF_Authorization=".as_bytes(),
                    token.as_bytes(),
                    b"; x=\xff",
                ]
                .concat(),
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Two different tokens: refused, whichever ways they came.
    let other = issuer().token().subject("someone-else").sign();
    for headers in [
        vec![
            (IAP, token.clone()),
            ("authorization", format!("Bearer {other}")),
        ],
        vec![
            (IAP, token.clone()),
            ("cookie", format!("CF_Authorization={other}")),
        ],
        vec![(
            "cookie",
            format!("CF_Authorization={token}; CF_Authorization={other}"),
        )],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = fetch(addr, "/me", &headers).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{headers:?}");
    }
    let r = fetch(
        addr,
        "/me",
        &[(IAP, &token), ("authorization", &format!("Bearer {other}"))],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_request", error_description="The request carries more than one access token""#
        )
    );
    // Not a token at all.
    let r = fetch(addr, "/me", &[(IAP, "not a token")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.challenge
            .unwrap()
            .contains("The access token in the request is malformed")
    );
    // A refused token: invalid_token, as for the bearer header.
    let expired = issuer().token().expires_in(-3600).sign();
    let r = fetch(addr, "/me", &[(IAP, &expired)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="The access token expired""#
        )
    );
    // None: the bare challenge.
    let r = fetch(addr, "/me", &[]).await;
    assert_eq!(
        (r.status, r.challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some(r#"Bearer realm="api""#))
    );
}

/// Roles and permissions from where the issuer puts them; scopes answer
/// `insufficient_scope`, everything else a plain 403.
#[tokio::test]
async fn routes_require_roles_permissions_and_predicates() {
    let admin = RequireLayer::new(Requirement::roles_any(["admin"]));
    let write = RequireLayer::new(
        Requirement::permissions_all(["orders:write"]).and(Requirement::scopes_all(["orders"])),
    );
    let acme = RequireLayer::new(Requirement::predicate("tenant acme", |c| {
        c.get("tenant").and_then(|t| t.as_str()) == Some("acme")
    }));
    let app = Router::new()
        .route("/admin", get(me).route_layer(admin))
        .route("/orders", get(me).route_layer(write))
        .route("/acme", get(me).route_layer(acme))
        .layer(BearerLayer::new(validator()).realm("api"));
    let addr = serve(app).await;
    let call = |token: String, path: &'static str| async move {
        fetch(addr, path, &[("authorization", &format!("Bearer {token}"))]).await
    };
    let keycloak = |roles: &[&str]| {
        issuer()
            .token()
            .claim("realm_access", serde_json::json!({ "roles": roles }))
    };

    assert_eq!(
        call(keycloak(&["admin"]).sign(), "/admin").await.status,
        StatusCode::OK
    );
    let r = call(keycloak(&["user"]).sign(), "/admin").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.challenge, None, "a plain 403 for a role");

    let orders = || {
        issuer()
            .token()
            .scope("orders")
            .claim("permissions", serde_json::json!(["orders:write"]))
    };
    assert_eq!(
        call(orders().sign(), "/orders").await.status,
        StatusCode::OK
    );
    let r = call(orders().scope("other").sign(), "/orders").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the scope this request needs", scope="orders""#
        )
    );
    let r = call(
        orders()
            .claim("permissions", serde_json::json!(["orders:read"]))
            .sign(),
        "/orders",
    )
    .await;
    assert_eq!((r.status, r.challenge), (StatusCode::FORBIDDEN, None));

    let tenant = |t: &str| issuer().token().claim("tenant", t).sign();
    assert_eq!(call(tenant("acme"), "/acme").await.status, StatusCode::OK);
    assert_eq!(
        call(tenant("other"), "/acme").await.status,
        StatusCode::FORBIDDEN
    );
    // No token at all: 401 whatever the requirement.
    assert_eq!(
        fetch(addr, "/admin", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[derive(serde::Deserialize)]
struct Tenant {
    tenant: String,
}

/// The handler's own claims type is deserialized once per token: the second
/// request with the same token (served from the verified-token cache) gets
/// the very same value.
#[tokio::test]
async fn typed_claims_are_deserialized_once_per_token() {
    async fn typed(TypedClaims(t): TypedClaims<Tenant>) -> String {
        format!("{} {:p}", t.tenant, std::sync::Arc::as_ptr(&t))
    }
    let app = Router::new()
        .route("/typed", get(typed))
        .layer(BearerLayer::new(validator()).realm("api"));
    let addr = serve(app).await;
    let token = issuer().token().claim("tenant", "acme").sign();
    let auth = format!("Bearer {token}");
    let first = fetch(addr, "/typed", &[("authorization", &auth)]).await;
    let second = fetch(addr, "/typed", &[("authorization", &auth)]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.starts_with("acme "), "{}", first.body);
    assert_eq!(first.body, second.body, "the same Arc both times");
    // Claims that do not fit the type: a valid token that lacks what the
    // handler needs, a plain 403 (a new token would fare no better).
    let other = issuer().token().sign();
    let r = fetch(
        addr,
        "/typed",
        &[("authorization", &format!("Bearer {other}"))],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.challenge, None);
}
