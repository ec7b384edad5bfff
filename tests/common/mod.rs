//! Shared test set-up: one issuer per test binary (RSA key generation is the
//! slow part), and a real axum server on 127.0.0.1.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::routing::{get, post};
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{BearerLayer, Claims, RequireLayer, Requirement, keys::Algorithm};

/// The audience the test APIs accept.
pub const AUDIENCE: &str = "payments";

/// An issuer with one key per asymmetric algorithm family: RS256 (default
/// signer, kid `rs256`), PS256, ES256, ES384, EdDSA.
pub fn issuer() -> &'static TestIssuer {
    static ISSUER: OnceLock<TestIssuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        TestIssuer::with_keys(vec![
            TestKey::generate(Algorithm::RS256),
            TestKey::generate(Algorithm::PS256),
            TestKey::generate(Algorithm::ES256),
            TestKey::generate(Algorithm::ES384),
            TestKey::generate(Algorithm::EdDSA),
        ])
        .default_audience(AUDIENCE)
    })
}

/// A validator of [`issuer`] for [`AUDIENCE`] whose verified-token cache
/// holds `units` (tokens of up to 1 KiB).
pub fn cache_of(units: u64) -> bearer_guard::Validator {
    issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .token_cache_capacity(units)
        .build()
        .unwrap()
}

/// A key the validators do not trust, with the same kid as the issuer's
/// default key.
pub fn stranger() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate(Algorithm::RS256))
}

/// Serves `jwks` at `/jwks` on 127.0.0.1; its address.
pub async fn serve_jwks(jwks: String) -> SocketAddr {
    serve(Router::new().route("/jwks", get(move || async move { jwks }))).await
}

/// A port on 127.0.0.1 that nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    listener.local_addr().expect("local addr")
}

/// Serves `app` on 127.0.0.1 on a free port.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server");
    });
    addr
}

/// The payments API of the interop tests: `POST /charge` needs
/// `charge:customer` and answers "charged for CLIENT"; `GET /me` returns
/// the claims; realm `payments`. Served on 127.0.0.1 and called by that
/// address: DPoP proofs are checked against the `Host` (the explicit
/// opt-in for such set-ups).
pub fn payments_app(validator: bearer_guard::Validator) -> Router {
    Router::new()
        .route(
            "/charge",
            post(
                |c: Claims| async move { format!("charged for {}", c.client_id().unwrap_or("?")) },
            ),
        )
        .route_layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])))
        .route("/me", get(|c: Claims| async move { axum::Json(c) }))
        .layer(
            BearerLayer::new(validator)
                .realm("payments")
                .trust_host_header(http::uri::Scheme::HTTP),
        )
}

/// Calls `path` on `addr` with a bearer token: the status, the
/// `WWW-Authenticate` challenge and the body.
pub async fn call(
    addr: std::net::SocketAddr,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> (u16, Option<String>, String) {
    let r = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), challenge, r.text().await.unwrap())
}

/// Whether `err` is the refusal of a DPoP proof because the fleet's replay
/// store cannot vouch for it (down, or its memory younger than the proof):
/// a 503, never a replay accepted.
#[cfg(feature = "redis")]
pub fn replay_store_unavailable(err: &bearer_guard::ValidationError) -> bool {
    matches!(
        err,
        bearer_guard::ValidationError::Dpop(bearer_guard::dpop::DpopError::ReplayStoreUnavailable(
            _
        ))
    ) && err.is_unavailable()
}

/// The sum of the Prometheus samples `name` (in the text format) whose
/// labels include `labels`; `None` when there is none.
pub fn prometheus_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .reduce(|a, b| a + b)
}

pub mod as_server;
pub mod redis_server;
pub mod redis_tls;
