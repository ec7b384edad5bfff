//! Runs one scenario N times, for instruction counting under callgrind
//! (repeatable whatever else the machine is doing), see BENCHMARKS.md:
//!
//! ```text
//! cargo bench --bench probe --no-run
//! valgrind --tool=callgrind target/release/deps/probe-* cold RS256 1000
//! ```
//!
//! Scenarios: `floor ALG N`, `cold ALG N`, `warm ALG N`, `stack-bare N`,
//! `stack-cold N`, `stack-warm N`. Without arguments (as `cargo bench` runs
//! it) it does nothing.

mod common;

use std::hint::black_box;

use axum::body::Body;
use axum::routing::get;
use bearer_guard::{Algorithm, BearerLayer, Claims};
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
