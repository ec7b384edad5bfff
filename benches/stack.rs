//! Through the stack: an axum router with the layer in front, against the
//! bare router plus a cold validation, and against the peer crates doing the
//! same RS256 job with their recommended local-key set-up:
//!
//! - `jwt-authorizer` 0.15 (axum 0.7, jsonwebtoken 9 / ring), `Authorizer`
//!   from an RSA PEM, layer + `JwtClaims` extractor;
//! - `axum-jwt-auth` 0.7 (axum 0.8, jsonwebtoken 10 / rust_crypto),
//!   `LocalDecoder` + `Claims` extractor.
//!
//! Each iteration builds a request and drives it through the router with
//! `oneshot` (no network: the HTTP cost is measured by the load test in
//! BENCHMARKS.md). Every handler reads `sub` from the verified claims.
//!
//! `cargo bench --bench stack` (add `-- --quick` for a short pass).

mod common;

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use bearer_guard::{BearerLayer, Claims, keys::Algorithm};
use common::{AUDIENCE, Fixture, gate, mean_ns, now};
use criterion::Criterion;
use http::{Request, StatusCode, header::AUTHORIZATION};
use tower::ServiceExt;

fn request<B: Default>(auth: &str) -> Request<B> {
    Request::builder()
        .uri("/me")
        .header(AUTHORIZATION, auth)
        .body(B::default())
        .expect("request")
}

async fn ours(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

#[derive(serde::Deserialize, Clone)]
struct PeerClaims {
    sub: String,
}

fn bench(c: &mut Criterion, f: &Fixture, rt: &tokio::runtime::Runtime) {
    let auth = format!("Bearer {}", f.token);
    let pem = f.issuer.keys()[0].public_pem().expect("pem");

    let bare = axum::Router::new().route("/me", get(|| async { "test-subject" }));
    let cold = axum::Router::new()
        .route("/me", get(ours))
        .layer(BearerLayer::new(f.cold()));
    let warm = axum::Router::new()
        .route("/me", get(ours))
        .layer(BearerLayer::new(f.warm()));

    // jwt-authorizer, as its README sets it up (axum 0.7).
    use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims, RegisteredClaims};
    let authorizer = rt
        .block_on(
            JwtAuthorizer::<RegisteredClaims>::from_rsa_pem_text(&pem)
                .validation(
                    jwt_authorizer::Validation::new()
                        .iss(&[f.issuer.issuer()])
                        .aud(&[AUDIENCE]),
                )
                .build(),
        )
        .expect("jwt-authorizer");
    let bare07 =
        axum07::Router::new().route("/me", axum07::routing::get(|| async { "test-subject" }));
    let jwt_authorizer = axum07::Router::new()
        .route(
            "/me",
            axum07::routing::get(|JwtClaims(c): JwtClaims<RegisteredClaims>| async move {
                c.sub.unwrap_or_default()
            }),
        )
        .layer(authorizer.into_layer());

    // axum-jwt-auth, as its README sets it up.
    let mut validation = jsonwebtoken10::Validation::new(jsonwebtoken10::Algorithm::RS256);
    validation.set_issuer(&[f.issuer.issuer()]);
    validation.set_audience(&[AUDIENCE]);
    let decoder: axum_jwt_auth::Decoder<PeerClaims> = Arc::new(
        axum_jwt_auth::LocalDecoder::builder()
            .keys(vec![
                jsonwebtoken10::DecodingKey::from_rsa_pem(pem.as_bytes()).expect("key"),
            ])
            .validation(validation)
            .build()
            .expect("axum-jwt-auth"),
    );
    let axum_jwt_auth = axum::Router::new()
        .route(
            "/me",
            get(|c: axum_jwt_auth::Claims<PeerClaims>| async move { c.claims.sub }),
        )
        .with_state(decoder);

    // Every router must answer 200 before anything is timed.
    rt.block_on(async {
        for (name, app) in [
            ("bare", &bare),
            ("cold", &cold),
            ("warm", &warm),
            ("axum-jwt-auth", &axum_jwt_auth),
        ] {
            let r = app
                .clone()
                .oneshot(request::<Body>(&auth))
                .await
                .expect("response");
            assert_eq!(r.status(), StatusCode::OK, "{name}");
        }
        for (name, app) in [("bare07", &bare07), ("jwt-authorizer", &jwt_authorizer)] {
            let r = app
                .clone()
                .oneshot(request::<axum07::body::Body>(&auth))
                .await
                .expect("response");
            assert_eq!(r.status(), StatusCode::OK, "{name}");
        }
    });

    let validator = f.cold();
    let mut group = c.benchmark_group("stack/RS256");
    group.bench_function("validate-cold", |b| {
        b.iter(|| now(validator.validate(black_box(&f.token))).expect("valid"))
    });
    for (name, app) in [
        ("bare", &bare),
        ("bearer-guard-cold", &cold),
        ("bearer-guard-warm", &warm),
        ("axum-jwt-auth", &axum_jwt_auth),
    ] {
        group.bench_function(name, |b| {
            b.to_async(rt)
                .iter(|| app.clone().oneshot(request::<Body>(&auth)))
        });
    }
    for (name, app) in [
        ("bare-axum07", &bare07),
        ("jwt-authorizer", &jwt_authorizer),
    ] {
        group.bench_function(name, |b| {
            b.to_async(rt)
                .iter(|| app.clone().oneshot(request::<axum07::body::Body>(&auth)))
        });
    }
    group.finish();
}

fn main() -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = Fixture::new("RS256", Algorithm::RS256);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &fixture, &rt);
    c.final_summary();

    let m = |name: &str| mean_ns("stack/RS256", name);
    let (Some(bare), Some(validate), Some(cold), Some(warm)) = (
        m("bare"),
        m("validate-cold"),
        m("bearer-guard-cold"),
        m("bearer-guard-warm"),
    ) else {
        println!("stack: not measured in this run");
        return ExitCode::SUCCESS;
    };
    println!("\nRS256 through an axum router; ratios measured in this run");
    println!("{:<34} {:>10}", "", "us");
    println!("{:<34} {:>10.2}", "bare router", bare / 1e3);
    println!(
        "{:<34} {:>10.2}",
        "validate (cold, no router)",
        validate / 1e3
    );
    println!(
        "{:<34} {:>10.2}   {:.2}x of bare + cold validation (goal <= 1.05)",
        "bearer-guard, cold",
        cold / 1e3,
        cold / (bare + validate)
    );
    println!(
        "{:<34} {:>10.2}   +{:.2} us over the bare router (goal <= 1)",
        "bearer-guard, cached token",
        warm / 1e3,
        (warm - bare) / 1e3
    );
    for (peer, label) in [
        ("jwt-authorizer", "jwt-authorizer 0.15"),
        ("axum-jwt-auth", "axum-jwt-auth 0.7"),
    ] {
        if let Some(p) = m(peer) {
            println!(
                "{:<34} {:>10.2}   {:.2}x of ours cold, {:.1}x of ours cached",
                label,
                p / 1e3,
                p / cold,
                p / warm
            );
        }
    }
    if let Some(b07) = m("bare-axum07") {
        println!("{:<34} {:>10.2}", "bare router (axum 0.7)", b07 / 1e3);
    }
    if gate() && (cold / (bare + validate) > 2.0 || warm > cold) {
        println!(
            "GROSS REGRESSION: the layer costs twice a validation, or a cached token costs more than a cold one"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
