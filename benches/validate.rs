//! Cold-path validation cost against the crypto floor.
//!
//! For each algorithm, the same token is verified by `jsonwebtoken::decode`
//! (aws-lc-rs backend; the floor: signature plus the same `iss`/`aud`/`exp`
//! checks) and by `bearer_guard::Validator::validate`. After the run, a table
//! of ratios (ours / floor) measured in this same run is printed: absolute
//! times on a shared machine are noise, ratios are the result.
//!
//! `cargo bench --bench validate` (add `-- --quick` for a short pass).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{Algorithm, Validator};
use criterion::Criterion;

const AUDIENCE: &str = "bench-api";

/// Runs a future that completes without waiting (local keys never wait).
fn now<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("validation waited"),
    }
}

struct Case {
    name: &'static str,
    token: String,
    ours: Validator,
    floor_key: jsonwebtoken::DecodingKey,
    floor_validation: jsonwebtoken::Validation,
}

fn case(name: &'static str, alg: Algorithm) -> Case {
    let key = TestKey::generate(alg);
    let issuer = TestIssuer::with_keys(vec![key]).default_audience(AUDIENCE);
    let token = issuer
        .token()
        .scope("charge:customer orders:read")
        .expires_in(3600)
        .sign();
    let ours = issuer.validator(AUDIENCE);
    let jwt_alg: jsonwebtoken::Algorithm = alg.as_str().parse().expect("alg");
    let floor_key = match issuer.keys()[0].public_jwk() {
        Some(jwk) => {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).expect("jwk");
            jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key")
        }
        None => jsonwebtoken::DecodingKey::from_secret(issuer.keys()[0].secret().expect("secret")),
    };
    let mut floor_validation = jsonwebtoken::Validation::new(jwt_alg);
    floor_validation.set_issuer(&[issuer.issuer()]);
    floor_validation.set_audience(&[AUDIENCE]);
    floor_validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    // Both must accept the token before anything is timed.
    now(ours.validate(&token)).expect("bearer-guard accepts");
    jsonwebtoken::decode::<serde_json::Value>(&token, &floor_key, &floor_validation)
        .expect("jsonwebtoken accepts");
    Case {
        name,
        token,
        ours,
        floor_key,
        floor_validation,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("RS256", Algorithm::RS256),
        case("PS256", Algorithm::PS256),
        case("ES256", Algorithm::ES256),
        case("EdDSA", Algorithm::EdDSA),
        case("HS256", Algorithm::HS256),
    ]
}

fn bench(c: &mut Criterion, cases: &[Case]) {
    for case in cases {
        let mut group = c.benchmark_group(format!("cold/{}", case.name));
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(
                    black_box(&case.token),
                    &case.floor_key,
                    &case.floor_validation,
                )
                .expect("valid")
            })
        });
        group.bench_function("bearer-guard", |b| {
            b.iter(|| now(case.ours.validate(black_box(&case.token))).expect("valid"))
        });
        group.finish();
    }
}

/// Reads criterion's point estimate (mean, ns) for one benchmark.
fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!(
        "{dir}/criterion/{}/{function}/new/estimates.json",
        group.replace('/', "_")
    );
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn main() {
    let cases = cases();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &cases);
    c.final_summary();

    println!("\ncold-path validation, ratio to jsonwebtoken::decode measured in this run");
    println!(
        "{:<8} {:>14} {:>14} {:>8}",
        "alg", "floor (us)", "ours (us)", "ratio"
    );
    for case in &cases {
        let group = format!("cold/{}", case.name);
        match (
            mean_ns(&group, "jsonwebtoken"),
            mean_ns(&group, "bearer-guard"),
        ) {
            (Some(floor), Some(ours)) => println!(
                "{:<8} {:>14.2} {:>14.2} {:>8.2}",
                case.name,
                floor / 1000.0,
                ours / 1000.0,
                ours / floor
            ),
            _ => println!("{:<8} (not measured in this run)", case.name),
        }
    }
}
