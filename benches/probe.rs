//! Runs one scenario N times, for instruction counting under callgrind
//! (repeatable whatever else the machine is doing), see BENCHMARKS.md:
//!
//! ```text
//! cargo bench -p bearer-guard-bench --bench probe --no-run
//! valgrind --tool=callgrind target/release/deps/probe-* cold RS256 1000
//! ```
//!
//! Scenarios: `floor ALG N`, `cold ALG N`, `warm ALG N`, `stack-bare N`,
//! `stack-cold N`, `stack-warm N`; for DPoP (the token and the proof key
//! both of ALG): `dpop-floor ALG N` (minting, and the proof's signature
//! check alone),
//! `dpop-mint ALG N` (minting proofs), `dpop ALG N` (minting and
//! validating with a cached bound token). `dpop-floor` mints too, so that
//! both are measured over fresh proofs (a signature check's steps vary
//! with the signature): subtract `dpop-mint` from each. Without arguments (as `cargo
//! bench` runs it) it does nothing.

mod common;

use std::hint::black_box;

use axum::body::Body;
use axum::routing::get;
use bearer_guard::{BearerLayer, Claims, keys::Algorithm};
use common::{Fixture, now};
use http::{Request, header::AUTHORIZATION};
use tower::ServiceExt;

fn alg(name: &str) -> Algorithm {
    match name {
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        "HS256" => Algorithm::HS256,
        _ => Algorithm::RS256,
    }
}

async fn ours(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(scenario) = args.first().map(String::as_str) else {
        return;
    };
    let (f, n) = if scenario.starts_with("stack") {
        (Fixture::new("RS256", Algorithm::RS256), args.get(1))
    } else {
        let name = args.get(1).map_or("RS256", String::as_str);
        (Fixture::new("probe", alg(name)), args.get(2))
    };
    let n: usize = n.and_then(|n| n.parse().ok()).unwrap_or(1000);
    match scenario {
        "floor" => {
            let (key, validation) = f.floor();
            for _ in 0..n {
                black_box(
                    jsonwebtoken::decode::<serde_json::Value>(
                        black_box(&f.token),
                        &key,
                        &validation,
                    )
                    .expect("valid"),
                );
            }
        }
        "cold" | "warm" => {
            let v = if scenario == "cold" {
                f.cold()
            } else {
                f.warm()
            };
            for _ in 0..n {
                black_box(now(v.validate(black_box(&f.token))).expect("valid"));
            }
        }
        "dpop-floor" | "dpop-mint" | "dpop" => dpop(scenario, &f, n),
        stack => {
            let app = match stack {
                "stack-bare" => axum::Router::new().route("/me", get(|| async { "test-subject" })),
                "stack-cold" => axum::Router::new()
                    .route("/me", get(ours))
                    .layer(BearerLayer::new(f.cold())),
                _ => axum::Router::new()
                    .route("/me", get(ours))
                    .layer(BearerLayer::new(f.warm())),
            };
            let auth = format!("Bearer {}", f.token);
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            rt.block_on(async {
                for _ in 0..n {
                    let req = Request::builder()
                        .uri("/me")
                        .header(AUTHORIZATION, &auth)
                        .body(Body::empty())
                        .expect("request");
                    black_box(app.clone().oneshot(req).await.expect("response"));
                }
            });
        }
    }
}

/// The DPoP scenarios: a validator accepting DPoP, a client key of the
/// fixture's algorithm, a bound token verified once (so cached).
fn dpop(scenario: &str, f: &Fixture, n: usize) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use bearer_guard::dpop::DpopOptions;
    use bearer_guard::testing::DpopKey;

    const URI: &str = "https://api.example.com/orders";
    let validator = f
        .issuer
        .validator_builder()
        .audience(common::AUDIENCE)
        .dpop(DpopOptions::new())
        .build()
        .expect("validator");
    let client = DpopKey::generate(f.alg);
    let token = f
        .issuer
        .token()
        .dpop_bound(&client)
        .scope("charge:customer orders:read")
        .expires_in(24 * 3600)
        .sign();
    let first = client.proof("GET", URI, &token).sign();
    now(validator.validate_dpop(&token, &first, "GET", URI)).expect("valid");
    match scenario {
        "dpop-floor" => {
            let key = common::dpop_floor_key(&client, f.alg);
            // Fresh proofs, as `dpop` checks: signature checks take a
            // different number of steps for each signature.
            for _ in 0..n {
                let proof = client.proof("GET", URI, &token).sign();
                let (input, sig) = proof.rsplit_once('.').expect("a JWS");
                let sig = URL_SAFE_NO_PAD.decode(sig).expect("signature");
                key.verify_sig(black_box(input.as_bytes()), black_box(&sig))
                    .expect("verifies");
            }
        }
        "dpop-mint" => {
            for _ in 0..n {
                black_box(client.proof("GET", URI, &token).sign());
            }
        }
        _ => {
            for _ in 0..n {
                let proof = client.proof("GET", URI, &token).sign();
                black_box(
                    now(validator.validate_dpop(&token, black_box(&proof), "GET", URI))
                        .expect("valid"),
                );
            }
        }
    }
}
