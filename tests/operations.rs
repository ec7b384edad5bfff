//! What an operator sees: one tracing span per validation, and the health
//! snapshot for readiness probes (metrics: `tests/metrics.rs`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{HealthStatus, Issuer, Validator};

/// Serves `jwks` at `/jwks` on loopback.
async fn jwks_server(jwks: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/jwks", get(move || async move { jwks }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A port nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_validation_has_a_debug_span_with_outcome_issuer_and_a_short_hash_never_the_token() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let issuer = TestIssuer::new();
    let validator = issuer.validator();
    let good = issuer.token().sign();
    let bad = issuer.token().audience("someone-else").sign();
    validator.validate(&good).await.unwrap();
    validator.validate(&bad).await.unwrap_err();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let short = |token: &str| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        digest.as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let accepted = text
        .lines()
        .find(|l| l.contains("token accepted"))
        .expect(&text);
    assert!(accepted.contains("bearer_guard.validate"), "{accepted}");
    assert!(
        accepted.contains(&format!("token={}", short(&good))),
        "{accepted}"
    );
    assert!(
        accepted.contains("outcome=\"valid\"") || accepted.contains("outcome=valid"),
        "{accepted}"
    );
    assert!(accepted.contains(issuer.issuer()), "{accepted}");
    let refused = text
        .lines()
        .find(|l| l.contains("token refused"))
        .expect(&text);
    assert!(
        refused.contains(&format!("token={}", short(&bad))),
        "{refused}"
    );
    assert!(refused.contains("invalid_audience"), "{refused}");
    for token in [&good, &bad] {
        for part in token.split('.') {
            assert!(!text.contains(part), "a token part was logged: {text}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn validations_log_nothing_at_info() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let issuer = TestIssuer::new();
    let validator = issuer.validator();
    validator.validate(&issuer.token().sign()).await.unwrap();
    validator.validate("not.a.token").await.unwrap_err();
    assert!(captured.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn health_is_ready_with_fresh_or_local_keys() {
    let issuer = TestIssuer::new();
    let local = issuer.validator().health();
    assert_eq!(local.status, HealthStatus::Ready);
    assert_eq!(local.issuers[0].keys_status, "local");
    assert_eq!(local.http_status(), 200);

    let addr = jwks_server(issuer.jwks_json()).await;
    let remote = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_url(format!("http://{addr}/jwks"))
        .allow_insecure_http()
        .build()
        .unwrap();
    remote.ready().await.unwrap();
    let health = remote.health();
    assert_eq!(health.status, HealthStatus::Ready);
    assert_eq!(health.issuers[0].keys_status, "fresh");
    assert_eq!(health.issuers[0].keys, 1);
    assert!(
        health.issuers[0]
            .key_age_seconds
            .is_some_and(|age| age < 60)
    );
    let json = serde_json::to_value(&health).unwrap();
    assert_eq!(json["status"], "ready");
}

#[tokio::test]
async fn health_is_not_ready_when_no_issuer_has_keys_and_degraded_when_one_of_two_lacks_them() {
    let issuer = TestIssuer::new();
    let dead = format!("http://{}/jwks", closed_port().await);
    let alone = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_url(&dead)
        .allow_insecure_http()
        .build()
        .unwrap();
    alone.ready().await.unwrap_err();
    let health = alone.health();
    assert_eq!(health.status, HealthStatus::NotReady);
    assert_eq!(health.http_status(), 503);
    assert!(health.issuers[0].last_error.is_some());
    assert!(health.issuers[0].consecutive_failures >= 1);

    let other = TestIssuer::new().issuer_url("https://other.test");
    let pair = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_json(issuer.jwks_json())
        .trust(
            Issuer::new(other.issuer())
                .audience(other.audience())
                .jwks_url(&dead),
        )
        .allow_insecure_http()
        .build()
        .unwrap();
    pair.ready().await.unwrap_err();
    let health = pair.health();
    assert_eq!(health.status, HealthStatus::Degraded);
    assert_eq!(health.http_status(), 200);
}

#[tokio::test]
async fn a_discovering_tenant_template_is_ready_before_its_first_tenant() {
    let validator = Validator::builder()
        .trust(
            Issuer::tenant_template("https://login.example.com/{tenant}/v2.0")
                .audience("api://orders")
                .discover(),
        )
        .build()
        .unwrap();
    let health = validator.health();
    assert_eq!(health.status, HealthStatus::Ready, "{health:?}");
    assert_eq!(health.issuers[0].keys_status, "per_tenant");
    assert_eq!(health.http_status(), 200);
}
