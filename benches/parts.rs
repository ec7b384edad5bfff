//! The cached path, part by part, and the concurrent maps it could use: what
//! a request with a token seen before costs on top of the bare router.
//!
//! - `extract`: finding the token in the `Authorization` header;
//! - `sha256`: the digest of the token (the cache key until issue 23; still
//!   DPoP's `ath` and introspection's cache key);
//! - `foldhash`: the keyed hash of the token that is the cache key now, and
//!   `compare`: the comparison of a hit with the token its entry keeps;
//! - `map/*`: one hit in a 10,000-entry map keyed by 32-byte digests, with a
//!   `Claims`-sized value cloned out: moka's sync cache (today's choice),
//!   quick_cache, and a 16-shard `RwLock<HashMap>`;
//! - `validate-warm`: `Validator::validate` of a cached token (all of it);
//! - `extensions`: inserting the claims into request extensions.
//!
//! `cargo bench -p bearer-guard-bench --bench parts` (add `-- --quick`).

mod common;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::RwLock;

use bearer_guard::{Claims, keys::Algorithm, testing::TestIssuer};
use common::{Fixture, mean_ns, now};
use criterion::Criterion;
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

const ENTRIES: u64 = 10_000;

fn digest(i: u64) -> [u8; 32] {
    let mut d = [0u8; 32];
    d[..8].copy_from_slice(&i.to_le_bytes());
    d[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    d
}

/// A 16-shard map, the simplest concurrent alternative.
struct Sharded<V> {
    shards: Vec<RwLock<HashMap<[u8; 32], V>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl<V: Clone> Sharded<V> {
    fn new() -> Self {
        Sharded {
            shards: (0..16).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }
    fn shard(&self, k: &[u8; 32]) -> &RwLock<HashMap<[u8; 32], V>> {
        &self.shards[(self.hasher.hash_one(k) % 16) as usize]
    }
    fn insert(&self, k: [u8; 32], v: V) {
        self.shard(&k).write().unwrap().insert(k, v);
    }
    fn get(&self, k: &[u8; 32]) -> Option<V> {
        self.shard(k).read().unwrap().get(k).cloned()
    }
}

fn main() {
    let f = Fixture::new("RS256", Algorithm::RS256);
    let warm = f.warm();
    let claims: Claims = now(warm.validate(&f.token)).expect("valid");
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", f.token)).unwrap(),
    );

    let moka = moka::sync::Cache::<[u8; 32], (Claims, [u8; 33])>::new(ENTRIES);
    let quick = quick_cache::sync::Cache::<[u8; 32], (Claims, [u8; 33])>::new(ENTRIES as usize);
    let sharded = Sharded::<(Claims, [u8; 33])>::new();
    for i in 0..ENTRIES {
        let v = (claims.clone(), [0u8; 33]);
        moka.insert(digest(i), v.clone());
        quick.insert(digest(i), v.clone());
        sharded.insert(digest(i), v);
    }
    let key = digest(ENTRIES / 2);

    // The same, as production runs it: keys fetched from the issuer's JWKS
    // (discovery, on 127.0.0.1), whose current set a hit checks.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(TestIssuer::with_keys(f.issuer.keys().to_vec()).serve());
    let remote = rt.block_on(server.validator());
    let remote_token = server.token().expires_in(24 * 3600).sign();
    rt.block_on(remote.validate(&remote_token)).expect("valid");

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("parts");
    g.bench_function("extract", |b| {
        b.iter(|| bearer_guard::extract::bearer_token(black_box(&headers)).unwrap())
    });
    g.bench_function("from_utf8", |b| {
        b.iter(|| {
            std::str::from_utf8(black_box(f.token.as_bytes()))
                .unwrap()
                .len()
        })
    });
    g.bench_function("is_b64token", |b| {
        b.iter(|| bearer_guard::extract::is_b64token(black_box(&f.token)))
    });
    g.bench_function("sha256", |b| {
        b.iter(|| {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(f.token.as_bytes()))
        })
    });
    let seeded = foldhash::quality::SeedableRandomState::random();
    g.bench_function("foldhash", |b| {
        b.iter(|| seeded.hash_one(black_box(f.token.as_bytes())))
    });
    let kept: Box<str> = f.token.as_str().into();
    g.bench_function("compare", |b| {
        b.iter(|| black_box(&*kept).as_bytes() == black_box(f.token.as_bytes()))
    });
    g.bench_function("map-moka", |b| {
        b.iter(|| moka.get(black_box(&key)).unwrap())
    });
    g.bench_function("map-quick_cache", |b| {
        b.iter(|| quick.get(black_box(&key)).unwrap())
    });
    g.bench_function("map-sharded", |b| {
        b.iter(|| sharded.get(black_box(&key)).unwrap())
    });
    g.bench_function("validate-warm", |b| {
        b.iter(|| now(warm.validate(black_box(&f.token))).unwrap())
    });
    g.bench_function("validate-warm-remote", |b| {
        b.iter(|| now(remote.validate(black_box(&remote_token))).unwrap())
    });
    g.bench_function("system-time", |b| b.iter(std::time::SystemTime::now));
    g.bench_function("claims-clone", |b| b.iter(|| black_box(&claims).clone()));
    g.bench_function("extensions", |b| {
        b.iter(|| {
            let mut e = http::Extensions::new();
            e.insert(black_box(claims.clone()));
            e
        })
    });
    g.finish();
    c.final_summary();

    let m = |name: &str| mean_ns("parts", name).map_or(f64::NAN, |ns| ns);
    println!("\nthe cached path, part by part (ns, this run)");
    for name in [
        "extract",
        "from_utf8",
        "is_b64token",
        "sha256",
        "foldhash",
        "compare",
        "map-moka",
        "map-quick_cache",
        "map-sharded",
        "validate-warm",
        "validate-warm-remote",
        "system-time",
        "claims-clone",
        "extensions",
    ] {
        println!("{name:<20} {:>8.0}", m(name));
    }
}
