//! Scale: throughput of validation on several threads at once (no global
//! lock on the hot path means two threads do about twice the work of one),
//! and memory per cached token.
//!
//! `cargo bench -p bearer-guard-bench --bench scale` (add `-- --quick` for a short pass).

mod common;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bearer_guard::{Validator, keys::Algorithm};
use common::{AUDIENCE, Fixture, gate, mean_ns, now};
use criterion::Criterion;

/// Runs `iters` validations spread over `threads` threads, each cycling
/// through `tokens`; returns the wall time.
fn run(validator: &Validator, tokens: &[String], threads: usize, iters: u64) -> Duration {
    let per_thread = iters / threads as u64 + 1;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for i in 0..per_thread {
                    let token = &tokens[(t * 7919 + i as usize) % tokens.len()];
                    black_box(now(validator.validate(black_box(token))).expect("valid"));
                }
            });
        }
    });
    start.elapsed()
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Memory per cached token: RSS growth while the cache fills, per entry.
/// (An entry holds the token, what the validator reads on every hit, and
/// no parsed claims until a handler reads one; ES256 keeps the minting of
/// 20,000 tokens fast.)
/// Also hands back what it allocated, to keep: freed, it would be reused by
/// the next measurement without growing the RSS.
fn memory_per_entry(f: &Fixture, read_claims: bool) -> Option<(f64, usize, Kept)> {
    const N: usize = 20_000;
    let tokens: Vec<String> = (0..N)
        .map(|_| {
            f.issuer
                .token()
                .scope("charge:customer orders:read")
                .expires_in(3600)
                .sign()
        })
        .collect();
    let v = f
        .issuer
        .validator_builder()
        .audience(AUDIENCE)
        .token_cache_capacity(N as u64)
        .build()
        .ok()?;
    let before = resident_bytes()?;
    for t in &tokens {
        let claims = now(v.validate(t)).ok()?;
        if read_claims {
            // A handler reading a claim by name: the entry's claims are
            // parsed from its token, once, and kept.
            black_box(claims.subject());
        }
    }
    let entries = v.token_cache_len()? as f64;
    let after = resident_bytes()?;
    let len = tokens.first()?.len();
    Some((
        (after.saturating_sub(before)) as f64 / entries,
        len,
        (v, tokens),
    ))
}

type Kept = (Validator, Vec<String>);

fn main() -> ExitCode {
    let es256 = Fixture::new("ES256", Algorithm::ES256);
    let memory = memory_per_entry(&es256, false);
    let memory_read = memory_per_entry(&es256, true);
    let f = Fixture::new("RS256", Algorithm::RS256);

    let tokens: Vec<String> = (0..1000)
        .map(|_| f.issuer.token().expires_in(24 * 3600).sign())
        .collect();
    let warm = f.issuer.validator();
    for t in &tokens {
        now(warm.validate(t)).expect("valid");
    }
    let cold = f.cold();

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("scale/RS256");
    for threads in [1usize, 2] {
        group.bench_function(format!("warm-{threads}t"), |b| {
            b.iter_custom(|iters| run(&warm, &tokens, threads, iters))
        });
        group.bench_function(format!("cold-{threads}t"), |b| {
            b.iter_custom(|iters| run(&cold, &tokens, threads, iters))
        });
    }
    group.finish();
    c.final_summary();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("\nthroughput on {cores} cores; ratios measured in this run");
    let mut failed = false;
    for kind in ["warm", "cold"] {
        let one = mean_ns("scale/RS256", &format!("{kind}-1t"));
        let two = mean_ns("scale/RS256", &format!("{kind}-2t"));
        if let (Some(one), Some(two)) = (one, two) {
            println!(
                "{kind:<5} 1 thread {:>9.0}/s   2 threads {:>9.0}/s   scaling {:.2}x",
                1e9 / one,
                1e9 / two,
                one / two
            );
            // Two threads slower than one: a lock gone wrong.
            failed |= gate() && one / two < 0.9;
        }
    }
    if let Some((bytes, token_len, _)) = &memory {
        println!("memory per cached token: {bytes:.0} bytes (claims of a {token_len}-byte token)");
    }
    if let Some((bytes, token_len, _)) = &memory_read {
        println!(
            "memory per cached token whose claims a handler read by name: {bytes:.0} bytes ({token_len}-byte token)"
        );
    }
    if failed {
        println!("GROSS REGRESSION: two threads validate slower than one");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
