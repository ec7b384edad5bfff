//! The HTTP client the validator and the token source use can be the
//! user's: a private root CA, and a client certificate towards the
//! authorization server (mTLS), over real TLS on loopback (rustls, the
//! throw-away PKI of `examples/mtls.rs`).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use axum::routing::{get, post};
use bearer_guard::client::TokenSource;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Validator, extract::ClientCertificate, introspection::ClientAuth};
use http::StatusCode;

use crate::common;

// The example's PKI and TLS server, loaded once by tests/mtls.rs.
use crate::mtls::example as mtls;

/// Serves `app` over TLS with the PKI's `localhost` certificate; returns
/// its address.
async fn tls_server(app: Router, pki: &mtls::Pki) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pki = pki.clone();
    tokio::spawn(async move { mtls::serve_tls(listener, app, &pki).await });
    addr
}

/// A client builder that reaches `localhost` at `addr`.
fn builder(addr: SocketAddr) -> reqwest::ClientBuilder {
    reqwest::Client::builder().resolve("localhost", addr)
}

fn validator(issuer: &TestIssuer, addr: SocketAddr, client: reqwest::ClientBuilder) -> Validator {
    Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_url(format!("https://localhost:{}/jwks", addr.port()))
        .http_client(client)
        .build()
        .unwrap()
}

#[tokio::test]
async fn keys_behind_a_private_root_are_fetched_with_a_client_that_trusts_it() {
    let pki = mtls::Pki::generate().unwrap();
    let issuer = TestIssuer::new();
    let jwks = issuer.jwks_json();
    let app = Router::new().route("/jwks", get(move || async move { jwks }));
    let addr = tls_server(app, &pki).await;
    let token = issuer.token().sign();

    // Without the private root the certificate is unknown: no keys.
    let plain = validator(&issuer, addr, builder(addr));
    let refused = plain.validate(&token).await.unwrap_err();
    assert!(refused.is_unavailable(), "{refused:?}");

    let root = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let trusting = builder(addr).add_root_certificate(root);
    let claims = validator(&issuer, addr, trusting)
        .validate(&token)
        .await
        .unwrap();
    assert_eq!(claims.issuer(), Some(issuer.issuer()));
}

#[tokio::test]
async fn keys_behind_mutual_tls_are_fetched_with_the_clients_certificate() {
    let pki = mtls::Pki::generate().unwrap();
    let issuer = TestIssuer::new();
    let jwks = issuer.jwks_json();
    // The authorization server hands its keys to authenticated clients only.
    let app = Router::new().route(
        "/jwks",
        get(move |req: Request| async move {
            match req.extensions().get::<ClientCertificate>() {
                Some(_) => (StatusCode::OK, jwks),
                None => (StatusCode::FORBIDDEN, String::new()),
            }
        }),
    );
    let addr = tls_server(app, &pki).await;
    let token = issuer.token().sign();
    let root = || reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();

    let anonymous = builder(addr).add_root_certificate(root());
    let refused = validator(&issuer, addr, anonymous)
        .validate(&token)
        .await
        .unwrap_err();
    assert!(refused.is_unavailable(), "{refused:?}");

    let identity = reqwest::Identity::from_pem(
        format!("{}{}", pki.client.cert_pem, pki.client.key_pem).as_bytes(),
    )
    .unwrap();
    let holder = builder(addr)
        .add_root_certificate(root())
        .identity(identity);
    validator(&issuer, addr, holder)
        .validate(&token)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_token_source_reaches_a_token_endpoint_behind_a_private_root() {
    let pki = mtls::Pki::generate().unwrap();
    let issuer = std::sync::Arc::new(TestIssuer::new());
    let minting = issuer.clone();
    let app = Router::new().route(
        "/token",
        post(move |headers: http::HeaderMap, body: String| async move {
            let authorization = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let (status, json) =
                minting.token_endpoint_answer(authorization, &body, &[("svc", "s3cret")]);
            (StatusCode::from_u16(status).unwrap(), axum::Json(json))
        }),
    );
    let addr = tls_server(app, &pki).await;
    let url = format!("https://localhost:{}/token", addr.port());
    let auth = || ClientAuth::basic("svc", "s3cret");

    let plain = TokenSource::client_credentials(auth())
        .token_url(&url)
        .http_client(builder(addr))
        .build()
        .unwrap();
    assert!(plain.token().await.is_err());

    let root = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let source = TokenSource::client_credentials(auth())
        .token_url(&url)
        .http_client(builder(addr).add_root_certificate(root))
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    let claims = issuer.validator().validate(token.secret()).await.unwrap();
    assert_eq!(claims.client_id(), Some("svc"));
}

#[tokio::test]
async fn a_users_client_follows_no_redirect_to_another_origin() {
    let issuer = TestIssuer::new();
    // The other origin counts what reaches it.
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = reached.clone();
    let jwks = issuer.jwks_json();
    let elsewhere = Router::new().route(
        "/jwks",
        get(move || {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let jwks = jwks.clone();
            async move { jwks }
        }),
    );
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(other, elsewhere).await });
    let redirecting = Router::new().route(
        "/jwks",
        get(move || async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(http::header::LOCATION, format!("http://{other_addr}/jwks"))],
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirecting).await });

    // reqwest's own default would follow up to 10 redirects anywhere.
    let validator = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_url(format!("http://{addr}/jwks"))
        .allow_insecure_http()
        .http_client(reqwest::Client::builder())
        .build()
        .unwrap();
    let refused = validator
        .validate(&issuer.token().sign())
        .await
        .unwrap_err();
    assert!(refused.is_unavailable(), "{refused:?}");
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0);
    let stats = validator.remote_keys()[0].stats();
    // The JWKS fetch failed (not discovery: there is none here).
    assert!(
        stats
            .last_error
            .as_ref()
            .is_some_and(|e| !e.is_discovery() && e.url().is_some()),
        "{:?}",
        stats.last_error
    );
}

#[tokio::test(start_paused = true)]
async fn a_users_client_without_timeouts_is_still_bounded_by_the_fetch_timeout() {
    let issuer = TestIssuer::new();
    // Accepts connections and never answers.
    let addr = common::as_server::silent_server().await;
    let validator = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_url(format!("http://{addr}/jwks"))
        .jwks_options(
            bearer_guard::jwks::JwksOptions::default()
                .fetch_timeout(std::time::Duration::from_secs(2)),
        )
        .allow_insecure_http()
        .http_client(reqwest::Client::builder())
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let refused = validator
        .validate(&issuer.token().sign())
        .await
        .unwrap_err();
    assert!(refused.is_unavailable(), "{refused:?}");
    // Paused time: the wait is the timeout, to the tick.
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(2) && waited < std::time::Duration::from_secs(3),
        "{waited:?}"
    );
}
