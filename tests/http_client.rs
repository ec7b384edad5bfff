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
use bearer_guard::{ClientAuth, ClientCertificate, Validator, http_client_builder};
use http::StatusCode;

#[path = "../examples/mtls.rs"]
#[allow(dead_code, unreachable_pub)]
mod mtls;

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
    http_client_builder().resolve("localhost", addr)
}

fn validator(issuer: &TestIssuer, addr: SocketAddr, client: reqwest::Client) -> Validator {
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
    let plain = validator(&issuer, addr, builder(addr).build().unwrap());
    let refused = plain.validate(&token).await.unwrap_err();
    assert!(refused.is_unavailable(), "{refused:?}");

    let root = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let trusting = builder(addr).add_root_certificate(root).build().unwrap();
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

    let anonymous = builder(addr).add_root_certificate(root()).build().unwrap();
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
        .identity(identity)
        .build()
        .unwrap();
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
        .http_client(builder(addr).build().unwrap())
        .build()
        .unwrap();
    assert!(plain.token().await.is_err());

    let root = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let source = TokenSource::client_credentials(auth())
        .token_url(&url)
        .http_client(builder(addr).add_root_certificate(root).build().unwrap())
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    let claims = issuer.validator().validate(token.secret()).await.unwrap();
    assert_eq!(claims.client_id(), Some("svc"));
}
