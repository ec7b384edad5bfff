//! Cost of trusting many issuers: a validator with 1, 10 or 100 issuers
//! (each with its own ES256 key, audience and key set), validating a token
//! from the last one, cold (token cache off) and warm (cached).
//!
//! The unverified `iss` selects the issuer in a map, so the cost should not
//! grow with the number of issuers; the table prints each case as a ratio of
//! the one-issuer case measured in the same run. With
//! `BEARER_GUARD_BENCH_GATE=1` the run fails if 100 issuers cost more than
//! 2x one issuer.
//!
//! `cargo bench -p bearer-guard-bench --bench issuers` (add `-- --quick`).

mod common;

use std::hint::black_box;
use std::process::ExitCode;

use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{Issuer, Validator, keys::Algorithm};
use common::{gate, mean_ns, now};
use criterion::Criterion;

const COUNTS: [usize; 3] = [1, 10, 100];

struct Case {
    n: usize,
    cold: Validator,
    warm: Validator,
    token: String,
}

fn case(n: usize) -> Case {
    let issuers: Vec<TestIssuer> = (0..n)
        .map(|i| {
            TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256).with_kid("k1")])
                .issuer_url(format!("https://issuer-{i}.example.com/"))
                .default_audience(format!("api-{i}"))
        })
        .collect();
    let build = |cache: u64| {
        let mut b = Validator::builder().token_cache_capacity(cache);
        for (i, issuer) in issuers.iter().enumerate() {
            b = b.trust(
                Issuer::new(issuer.issuer())
                    .audience(format!("api-{i}"))
                    .jwks_json(issuer.jwks_json()),
            );
        }
        b.build().expect("validator")
    };
    let last = issuers.last().expect("one issuer at least");
    let token = last
        .token()
        .scope("charge:customer")
        .expires_in(24 * 3600)
        .sign();
    let cold = build(0);
    let warm = build(10_000);
    now(warm.validate(&token)).expect("valid");
    Case {
        n,
        cold,
        warm,
        token,
    }
}

fn main() -> ExitCode {
    let cases: Vec<Case> = COUNTS.iter().map(|&n| case(n)).collect();
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("issuers");
    for k in &cases {
        group.bench_function(format!("cold-{}", k.n), |b| {
            b.iter(|| now(k.cold.validate(black_box(&k.token))).expect("valid"))
        });
        group.bench_function(format!("warm-{}", k.n), |b| {
            b.iter(|| now(k.warm.validate(black_box(&k.token))).expect("valid"))
        });
    }
    group.finish();
    c.final_summary();

    println!("\nmany issuers (ES256, token from the last issuer); ratios to 1 issuer, this run");
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>9}",
        "issuers", "cold us", "ratio", "warm us", "ratio"
    );
    let base = (mean_ns("issuers", "cold-1"), mean_ns("issuers", "warm-1"));
    let mut failed = false;
    for n in COUNTS {
        let (Some(cold), Some(warm), (Some(cold1), Some(warm1))) = (
            mean_ns("issuers", &format!("cold-{n}")),
            mean_ns("issuers", &format!("warm-{n}")),
            base,
        ) else {
            println!("{n:<8} (not measured in this run)");
            continue;
        };
        let (rc, rw) = (cold / cold1, warm / warm1);
        println!(
            "{n:<8} {:>9.2} {:>8.2}x {:>9.3} {:>8.2}x",
            cold / 1000.0,
            rc,
            warm / 1000.0,
            rw
        );
        if rc > 2.0 || rw > 2.0 {
            failed = true;
        }
    }
    if failed && gate() {
        eprintln!("gate: many issuers cost more than 2x one issuer");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
