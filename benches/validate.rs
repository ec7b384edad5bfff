//! Validation cost per algorithm: cold path against the crypto floor, and
//! the verified-token cache's warm path.
//!
//! - `floor`: `jsonwebtoken::decode` (aws-lc-rs backend) of the same token
//!   with the same checks (signature, `iss`, `aud`, `exp`);
//! - `cold`: `Validator::validate` with the token cache off;
//! - `warm`: `Validator::validate` of a token already in the cache.
//!
//! After the run, a table of ratios measured in this same run is printed:
//! absolute times on a shared machine are noise, ratios are the result. With
//! `BEARER_GUARD_BENCH_GATE=1` the run fails on a gross regression only: a
//! cache hit less than 5x faster than a cold RS256 validation, or a cold
//! path more than 2x the floor.
//!
//! `cargo bench -p bearer-guard-bench --bench validate` (add `-- --quick` for a short pass).

mod common;

use std::hint::black_box;
use std::process::ExitCode;

use bearer_guard::keys::Algorithm;
use common::{Fixture, gate, mean_ns, now};
use criterion::Criterion;

fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture::new("RS256", Algorithm::RS256),
        Fixture::new("PS256", Algorithm::PS256),
        Fixture::new("ES256", Algorithm::ES256),
        Fixture::new("EdDSA", Algorithm::EdDSA),
        Fixture::new("HS256", Algorithm::HS256),
    ]
}

fn bench(c: &mut Criterion, fixtures: &[Fixture]) {
    for f in fixtures {
        let (key, validation) = f.floor();
        let cold = f.cold();
        let warm = f.warm();
        let mut group = c.benchmark_group(format!("validate/{}", f.name));
        group.bench_function("floor", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(black_box(&f.token), &key, &validation)
                    .expect("valid")
            })
        });
        group.bench_function("cold", |b| {
            b.iter(|| now(cold.validate(black_box(&f.token))).expect("valid"))
        });
        group.bench_function("warm", |b| {
            b.iter(|| now(warm.validate(black_box(&f.token))).expect("valid"))
        });
        group.finish();
    }
}

fn main() -> ExitCode {
    let fixtures = fixtures();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &fixtures);
    c.final_summary();

    println!("\nvalidation per algorithm; ratios measured in this run");
    println!(
        "{:<7} {:>10} {:>10} {:>10} {:>11} {:>14}",
        "alg", "floor us", "cold us", "warm us", "cold/floor", "RS256cold/warm"
    );
    let rs256_cold = mean_ns("validate/RS256", "cold");
    let mut failed = false;
    for f in &fixtures {
        let group = format!("validate/{}", f.name);
        let (Some(floor), Some(cold), Some(warm)) = (
            mean_ns(&group, "floor"),
            mean_ns(&group, "cold"),
            mean_ns(&group, "warm"),
        ) else {
            println!("{:<7} (not measured in this run)", f.name);
            continue;
        };
        let speedup = rs256_cold.map_or(f64::NAN, |c| c / warm);
        println!(
            "{:<7} {:>10.2} {:>10.2} {:>10.3} {:>11.2} {:>14.1}",
            f.name,
            floor / 1e3,
            cold / 1e3,
            warm / 1e3,
            cold / floor,
            speedup
        );
        if gate() && (cold / floor > 2.0 || speedup < 5.0) {
            println!("  GROSS REGRESSION: cold/floor must stay under 2, the cache hit 5x faster");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
