//! The health snapshot for readiness probes (metrics: `tests/metrics.rs`;
//! traces: `tests/tracing.rs`).

use bearer_guard::testing::TestIssuer;
use bearer_guard::{Issuer, Validator, health::HealthStatus};

use crate::common;
use common::{closed_port, serve_jwks as jwks_server};

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

#[tokio::test]
async fn configured_keys_beside_an_unreachable_jwks_keep_the_validator_serving_degraded() {
    let issuer = TestIssuer::new();
    let dead = format!("http://{}/jwks", closed_port().await);
    let validator = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_json(issuer.jwks_json())
        .jwks_url(&dead)
        .allow_insecure_http()
        .build()
        .unwrap();
    validator.ready().await.unwrap_err();
    // The configured key still verifies.
    validator.validate(&issuer.token().sign()).await.unwrap();
    // A token for a key only the JWKS could bring cannot be checked: 503,
    // not a refusal (the first fetch failed and the cool-down holds).
    let remote_key = bearer_guard::testing::TestKey::generate(bearer_guard::keys::Algorithm::ES256)
        .with_kid("remote-only");
    let unknown = issuer.token().signing_key(&remote_key).sign();
    let refused = validator.validate(&unknown).await.unwrap_err();
    assert!(refused.is_unavailable(), "{refused:?}");
    let health = validator.health();
    assert_eq!(health.status, HealthStatus::Degraded, "{health:?}");
    assert_eq!(health.issuers[0].keys, 1);
    assert_eq!(health.http_status(), 200);
}

#[tokio::test]
async fn a_validator_that_introspects_every_token_is_ready_without_keys() {
    let validator = Validator::builder()
        .issuer("https://as.example.com")
        .audience("payments")
        .introspection(
            bearer_guard::introspection::Introspection::at(
                "https://as.example.com/introspect",
                bearer_guard::introspection::ClientAuth::basic("rs", "secret"),
            )
            .policy(bearer_guard::introspection::TokenPolicy::IntrospectAll),
        )
        .build()
        .unwrap();
    let health = validator.health();
    assert_eq!(health.status, HealthStatus::Ready, "{health:?}");
    assert_eq!(health.issuers[0].keys, 0);
}
