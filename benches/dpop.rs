//! The cost of DPoP (RFC 9449) on top of a bearer validation: a request
//! with a DPoP-bound token (served from the verified-token cache) and a
//! fresh proof, against the same token path without a proof and the raw
//! signature check of the proof (aws-lc, the crypto floor).
//!
//! A proof is one more signature check; everything else DPoP does (the
//! header, its cached key, the claims, `htu`, `ath`, the binding, the
//! replay cache) should cost little beside it. The table prints
//! `(dpop - bearer) / floor`, measured in this run, for each proof
//! algorithm; the aim is at most 1.1. With `BEARER_GUARD_BENCH_GATE=1` the
//! run fails above 1.5 (the machines are shared and noisy).
//!
//! `cargo bench -p bearer-guard-bench --bench dpop` (add `-- --quick`).

mod common;

use std::hint::black_box;
use std::process::ExitCode;

use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::DpopKey;
use bearer_guard::{Validator, dpop::DpopOptions, keys::Algorithm};
use common::{AUDIENCE, Fixture, gate, mean_ns, now};
use criterion::{BatchSize, Criterion};

const URI: &str = "https://api.example.com/orders";

struct Case {
    name: &'static str,
    client: DpopKey,
    bound: String,
    /// The key that verifies its proofs, for the floor.
    floor: ParsedPublicKey,
}

fn case(name: &'static str, alg: Algorithm, fixture: &Fixture) -> Case {
    let client = DpopKey::generate(alg);
    let bound = fixture
        .issuer
        .token()
        .dpop_bound(&client)
        .scope("charge:customer orders:read")
        .expires_in(24 * 3600)
        .sign();
    let floor = common::dpop_floor_key(&client, alg);
    Case {
        name,
        client,
        bound,
        floor,
    }
}

fn main() -> ExitCode {
    let fixture = Fixture::new("es256", Algorithm::ES256);
    let validator: Validator = fixture
        .issuer
        .validator_builder()
        .audience(AUDIENCE)
        .dpop(DpopOptions::new())
        .build()
        .expect("validator");
    let cases = [
        case("ES256", Algorithm::ES256, &fixture),
        case("EdDSA", Algorithm::EdDSA, &fixture),
    ];
    // The bearer baseline: the same kind of token, unbound, from the cache.
    let unbound = fixture.token.clone();
    now(validator.validate(&unbound)).expect("valid");
    for k in &cases {
        let p = k.client.proof("GET", URI, &k.bound).sign();
        now(validator.validate_dpop(&k.bound, &p, "GET", URI)).expect("valid");
    }

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("dpop");
    group.bench_function("bearer", |b| {
        b.iter(|| now(validator.validate(black_box(&unbound))).expect("valid"))
    });
    for k in &cases {
        // Parsed once, as the validator keeps a proof key parsed; over
        // fresh proofs, as the DPoP path sees them (a signature check's
        // steps vary with the signature).
        let key = &k.floor;
        group.bench_function(format!("floor-{}", k.name), |b| {
            b.iter_batched(
                || {
                    let proof = k.client.proof("GET", URI, &k.bound).sign();
                    let (input, sig) = proof.rsplit_once('.').expect("a JWS");
                    let sig = URL_SAFE_NO_PAD.decode(sig).expect("signature");
                    (input.to_owned(), sig)
                },
                |(input, sig)| {
                    key.verify_sig(black_box(input.as_bytes()), black_box(&sig))
                        .expect("verifies")
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("dpop-{}", k.name), |b| {
            b.iter_batched(
                || k.client.proof("GET", URI, &k.bound).sign(),
                |proof| {
                    now(validator.validate_dpop(&k.bound, black_box(&proof), "GET", URI))
                        .expect("valid")
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    c.final_summary();

    println!("\nDPoP: a cached bound token with a fresh proof, this run");
    println!(
        "{:<7} {:>10} {:>10} {:>10} {:>22}",
        "proof", "bearer us", "dpop us", "floor us", "(dpop-bearer)/floor"
    );
    let mut failed = false;
    for k in &cases {
        let (Some(bearer), Some(dpop), Some(floor)) = (
            mean_ns("dpop", "bearer"),
            mean_ns("dpop", &format!("dpop-{}", k.name)),
            mean_ns("dpop", &format!("floor-{}", k.name)),
        ) else {
            println!("{:<7} (not measured in this run)", k.name);
            continue;
        };
        let ratio = (dpop - bearer) / floor;
        println!(
            "{:<7} {:>10.3} {:>10.2} {:>10.2} {:>21.2}x",
            k.name,
            bearer / 1000.0,
            dpop / 1000.0,
            floor / 1000.0,
            ratio
        );
        if ratio > 1.5 {
            failed = true;
        }
    }
    if failed && gate() {
        eprintln!("gate: DPoP costs more than 1.5x its proof's signature check");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
