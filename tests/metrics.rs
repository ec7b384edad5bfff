//! Metrics through the `metrics` facade, rendered by a real Prometheus
//! recorder. One test in its own binary: the recorder is global to the
//! process.

#![cfg(feature = "metrics")]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::{DpopKey, TestIssuer};
use std::time::Duration;

use bearer_guard::{
    BearerLayer, RequireLayer, Requirement, Validator, dpop::DpopOptions, jwks::JwksOptions,
    keys::Algorithm,
};
use http::{Request, StatusCode, header};
use tower::ServiceExt;

mod common;
use common::as_server::Mode;
use common::serve_jwks as jwks_server;

use common::prometheus_sample as sample;

async fn call(app: &Router, token: Option<&str>) -> StatusCode {
    let mut request = Request::get("/charge");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    response.status()
}

// One test: the recorder is global to the process.
#[tokio::test]
async fn the_prometheus_recorder_sees_requests_validations_fetches_and_replays() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let issuer = TestIssuer::new();
    let addr = jwks_server(issuer.jwks_json()).await;
    let url = format!("http://{addr}/jwks");
    let validator = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_url(&url)
        .allow_insecure_http()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/charge", get(|| async { "charged" }))
        .route_layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])))
        .layer(BearerLayer::new(validator.clone()))
        // A second, outer layer: each request is still counted once.
        .layer(BearerLayer::new(validator).allow_anonymous());

    let good = issuer.token().scope("charge:customer").sign();
    let narrow = issuer.token().scope("read").sign();
    let expired = issuer
        .token()
        .scope("charge:customer")
        .expires_in(-600)
        .sign();
    assert_eq!(call(&app, Some(&good)).await, StatusCode::OK);
    assert_eq!(call(&app, Some(&good)).await, StatusCode::OK);
    assert_eq!(call(&app, Some(&narrow)).await, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, Some(&expired)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, None).await, StatusCode::UNAUTHORIZED);

    // A DPoP proof used twice.
    let dpop = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .jwks_json(issuer.jwks_json())
        .dpop(DpopOptions::new())
        .build()
        .unwrap();
    let client = DpopKey::generate(Algorithm::ES256);
    let bound = issuer.token().dpop_bound(&client).sign();
    let uri = "https://api.example.com/orders";
    let proof = client.proof("GET", uri, &bound).sign();
    dpop.validate_dpop(&bound, &proof, "GET", uri)
        .await
        .unwrap();
    dpop.validate_dpop(&bound, &proof, "GET", uri)
        .await
        .unwrap_err();

    let text = handle.render();
    let requests = "bearer_guard_requests_total";
    assert_eq!(
        sample(&text, requests, &[("outcome", "allowed"), ("reason", "ok")]),
        Some(2.0),
        "{text}"
    );
    for reason in ["insufficient_scope", "expired", "missing_token"] {
        assert_eq!(
            sample(
                &text,
                requests,
                &[("outcome", "denied"), ("reason", reason)]
            ),
            Some(1.0),
            "{reason}: {text}"
        );
    }
    // Hits: the inner layer finds what the outer one verified (3), the
    // second call with `good` at the outer layer, the DPoP token again.
    let cache = "bearer_guard_token_cache_lookups_total";
    assert_eq!(
        sample(&text, cache, &[("result", "hit")]),
        Some(5.0),
        "{text}"
    );
    let validations = "bearer_guard_validations_total";
    // Every hit was of a valid token (a series with a key of its own).
    assert_eq!(
        sample(
            &text,
            validations,
            &[("source", "cache"), ("result", "valid")]
        ),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            validations,
            &[("source", "jwt"), ("result", "valid")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            validations,
            &[("source", "jwt"), ("result", "expired")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            validations,
            &[("source", "dpop"), ("result", "dpop_replayed")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("bearer_guard_validation_duration_seconds"),
        "{text}"
    );
    let fetches = "bearer_guard_jwks_fetches_total";
    assert_eq!(
        sample(&text, fetches, &[("url", &url), ("outcome", "updated")]),
        Some(1.0),
        "{text}"
    );
    let fetched_at = sample(
        &text,
        "bearer_guard_jwks_last_success_timestamp_seconds",
        &[("url", &url)],
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - fetched_at).abs() < 600.0, "{fetched_at} vs {now}");
    let age = sample(&text, "bearer_guard_jwks_age_seconds", &[("url", &url)]).unwrap();
    assert!((0.0..60.0).contains(&age), "{age}");
    assert_eq!(
        sample(&text, "bearer_guard_jwks_keys", &[("url", &url)]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "bearer_guard_dpop_replays_total", &[]),
        Some(1.0),
        "{text}"
    );
    // Each request counted once.
    let all: f64 = text
        .lines()
        .filter(|l| l.starts_with("bearer_guard_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(all, 5.0, "{text}");
    // Nothing from a token in any label.
    for token in [&good, &narrow, &expired, &bound, &proof] {
        for part in token.split('.') {
            assert!(!text.contains(part), "{part} in {text}");
        }
    }

    // An outage: the key gauge keeps the set while it verifies, says 0
    // once it is older than max_stale, and comes back with the server.
    let outage = common::as_server::setup("payments").await;
    // With an ETag, so that recovery is a 304 (the set kept, confirmed).
    *outage.server.state.etag.lock().unwrap() = Some("\"v1\"".into());
    let url = outage.server.jwks_url();
    let remote = Validator::builder()
        .issuer(outage.issuer.issuer())
        .audience("payments")
        .clock(outage.clock.clone())
        .allow_insecure_http()
        .jwks_url(&url)
        .jwks_options(JwksOptions::default().max_stale(Duration::from_secs(60)))
        .build_and_fetch()
        .await
        .unwrap();
    let keys = |handle: &metrics_exporter_prometheus::PrometheusHandle| {
        sample(&handle.render(), "bearer_guard_jwks_keys", &[("url", &url)])
    };
    assert_eq!(keys(&handle), Some(1.0));
    outage.server.set_mode(Mode::Status(500));
    remote.refresh_keys().await.unwrap_err();
    assert_eq!(keys(&handle), Some(1.0), "still within max_stale");
    outage.clock.advance(61);
    remote.refresh_keys().await.unwrap_err();
    assert_eq!(keys(&handle), Some(0.0), "past max_stale");
    outage.server.set_mode(Mode::Serve);
    remote.refresh_keys().await.unwrap();
    assert_eq!(keys(&handle), Some(1.0), "after recovery");
    let not_modified = sample(
        &handle.render(),
        "bearer_guard_jwks_fetches_total",
        &[("url", &url), ("outcome", "not_modified")],
    );
    assert_eq!(not_modified, Some(1.0), "recovered by a 304");
}
