//! A fleet under faults: two replicas of `examples/resource_server` (each
//! its own process) sharing a three-master Redis Cluster on loopback, under
//! steady load, while the authorization server rotates its signing key
//! twice, its JWKS endpoint goes down, the whole of Redis goes down, and
//! one Redis master is killed and brought back.
//!
//! Per phase it reports the requests served, answered 503, refused as they
//! should be, and answered wrongly, and the p99 latency; and each
//! replica's RSS before and after. A wrong answer is any of: a replayed
//! DPoP proof accepted; a token accepted after its key was withdrawn and
//! the replica had fetched the key set without it; a valid token refused
//! (or answered 503) while the replica held a key set that verifies it; a
//! fresh DPoP proof refused for another reason than the store being
//! unable to vouch for it (503). The run fails (exit 1) on any wrong
//! answer.
//!
//! `bash scripts/fleet_faults.sh [--short]` builds what it needs and runs
//! this; by hand:
//! `cargo run --release -p bearer-guard-bench --example fleet_faults --
//! --server target/release/examples/resource_server [--short] [--rate N]`
//! (the server built with `--features redis`).

// The tests' own redis-server and cluster helpers (std only).
#[allow(dead_code)]
#[path = "../tests/common/redis_server.rs"]
mod redis_server;
use redis_server::RedisCluster;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bearer_guard::keys::Algorithm;
use bearer_guard::testing::{
    DpopKey, Endpoint, Failure, TestAuthorizationServer, TestIssuer, TestKey,
};

/// The URL both replicas answer for (as behind one load balancer): DPoP
/// proofs name it, so a proof sent to one replica can be replayed to the
/// other.
const PUBLIC: &str = "http://api.fleet.test";
/// How long each phase lasts, in the long and the short (CI) form.
struct Timing {
    form: &'static str,
    steady: Duration,
    settle: Duration,
    jwks_down: Duration,
    redis_down: Duration,
    master_down: Duration,
    /// The replicas' `--jwks-refresh` and `--jwks-cooldown`.
    refresh_secs: u64,
}

const LONG: Timing = Timing {
    form: "long",
    steady: Duration::from_secs(20),
    settle: Duration::from_secs(10),
    jwks_down: Duration::from_secs(30),
    redis_down: Duration::from_secs(10),
    master_down: Duration::from_secs(10),
    refresh_secs: 5,
};

const SHORT: Timing = Timing {
    form: "short",
    steady: Duration::from_secs(4),
    settle: Duration::from_secs(3),
    jwks_down: Duration::from_secs(6),
    redis_down: Duration::from_secs(3),
    master_down: Duration::from_secs(3),
    refresh_secs: 2,
};

/// The counts of one phase.
struct Phase {
    name: String,
    started: Instant,
    ended: Option<Instant>,
    served: u64,
    unavailable: u64,
    refused: u64,
    wrong: u64,
    latencies_us: Vec<u32>,
}

/// What the load generator shares with the scenario.
struct Shared {
    phase: AtomicUsize,
    stop: AtomicBool,
    phases: Mutex<Vec<Phase>>,
    /// A valid bearer token, signed with the key that signs now.
    valid: RwLock<String>,
    /// The DPoP key of the callers, and a token bound to it.
    dpop_key: DpopKey,
    dpop_token: RwLock<String>,
    /// A token signed with a withdrawn key, once every replica holds a key
    /// set without that key.
    withdrawn: RwLock<Option<String>>,
    /// Proofs accepted, with their token and the replica that accepted
    /// them (the most recent few hundred).
    accepted: Mutex<VecDeque<(String, String, usize)>>,
    /// The first wrong answers, described.
    wrong_log: Mutex<Vec<String>>,
}

impl Shared {
    fn record(&self, latency: Duration, outcome: Outcome) {
        let mut phases = self.phases.lock().unwrap();
        let i = self.phase.load(Ordering::SeqCst).min(phases.len() - 1);
        let p = &mut phases[i];
        p.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        match outcome {
            Outcome::Served => p.served += 1,
            Outcome::Unavailable => p.unavailable += 1,
            Outcome::Refused => p.refused += 1,
            Outcome::Wrong(why) => {
                p.wrong += 1;
                let name = p.name.clone();
                drop(phases);
                let mut log = self.wrong_log.lock().unwrap();
                if log.len() < 20 {
                    log.push(format!("[{name}] {why}"));
                }
            }
        }
    }

    fn begin(&self, name: impl Into<String>) {
        let mut phases = self.phases.lock().unwrap();
        let now = Instant::now();
        if let Some(last) = phases.last_mut() {
            last.ended = Some(now);
        }
        phases.push(Phase {
            name: name.into(),
            started: now,
            ended: None,
            served: 0,
            unavailable: 0,
            refused: 0,
            wrong: 0,
            latencies_us: Vec::new(),
        });
        self.phase.store(phases.len() - 1, Ordering::SeqCst);
    }
}

enum Outcome {
    Served,
    Unavailable,
    Refused,
    Wrong(String),
}

/// A replica: a resource_server process.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(
        server: &Path,
        issuer: &TestAuthorizationServer,
        redis: &str,
        refresh: u64,
    ) -> Replica {
        let mut child = Command::new(server)
            .args(["--issuer", issuer.issuer()])
            .args(["--audience", issuer.audience()])
            .args(["--jwks-url", &issuer.url(Endpoint::Jwks)])
            .args(["--jwks-refresh", &refresh.to_string()])
            .args(["--jwks-cooldown", &refresh.to_string()])
            .args(["--allow-http", "--dpop", "--public-url", PUBLIC])
            .args(["--redis-cluster", redis, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the resource_server example");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.unwrap_or_default();
            if let Some(addr) = line.strip_prefix("listening on ") {
                base = Some(format!("http://{addr}"));
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Replica {
            child,
            base: base.expect("resource_server did not say where it listens"),
        }
    }

    /// Resident set size, in KiB.
    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number of keys a replica holds, from its `/health/keys`.
async fn keys_held(http: &reqwest::Client, replica: &str) -> Option<u64> {
    let r = http
        .get(format!("{replica}/health/keys"))
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = r.json().await.ok()?;
    v["keys"].as_u64()
}

/// Waits until every replica holds `count` keys (they refresh every few
/// seconds), at most 60 s.
async fn wait_keys(http: &reqwest::Client, replicas: &[String], count: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut all = true;
        for r in replicas {
            all &= keys_held(http, r).await == Some(count);
        }
        if all {
            return;
        }
        if Instant::now() >= deadline {
            let mut seen = Vec::new();
            for r in replicas {
                let body = match http.get(format!("{r}/health/keys")).send().await {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(e) => e.to_string(),
                };
                seen.push(body);
            }
            panic!("the replicas did not hold {count} keys within 60 s: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One request of the load, classified.
async fn one(http: &reqwest::Client, shared: &Shared, replicas: &[String], n: usize) {
    let to = n % replicas.len();
    let url = format!("{}/ping", replicas[to]);
    let htu = format!("{PUBLIC}/ping");
    let kind = n % 10;
    let started = Instant::now();
    let outcome = match kind {
        // A fresh DPoP proof: served, or 503 while the store cannot vouch.
        0..=4 => {
            let token = shared.dpop_token.read().unwrap().clone();
            let proof = shared.dpop_key.proof("GET", &htu, &token).sign();
            match send(http, &url, &format!("DPoP {token}"), Some(&proof)).await {
                Ok(200) => {
                    let mut accepted = shared.accepted.lock().unwrap();
                    accepted.push_back((token, proof, to));
                    if accepted.len() > 256 {
                        accepted.pop_front();
                    }
                    Outcome::Served
                }
                Ok(503) => Outcome::Unavailable,
                other => Outcome::Wrong(format!("a fresh DPoP proof answered {other:?}")),
            }
        }
        // A valid bearer token: served, always.
        5..=6 => {
            let token = shared.valid.read().unwrap().clone();
            match send(http, &url, &format!("Bearer {token}"), None).await {
                Ok(200) => Outcome::Served,
                other => Outcome::Wrong(format!("a valid token answered {other:?}")),
            }
        }
        // A proof another replica accepted, replayed: never served.
        7..=8 => {
            let replay = shared.accepted.lock().unwrap().back().cloned();
            match replay {
                None => return,
                Some((token, proof, by)) => {
                    let other = replicas[(by + 1) % replicas.len()].clone();
                    let url = format!("{other}/ping");
                    match send(http, &url, &format!("DPoP {token}"), Some(&proof)).await {
                        Ok(401) => Outcome::Refused,
                        Ok(503) => Outcome::Unavailable,
                        other => Outcome::Wrong(format!("a replayed proof answered {other:?}")),
                    }
                }
            }
        }
        // A token of a withdrawn key: never served once the replicas know.
        _ => {
            let withdrawn = shared.withdrawn.read().unwrap().clone();
            let Some(token) = withdrawn else {
                return;
            };
            match send(http, &url, &format!("Bearer {token}"), None).await {
                Ok(401) => Outcome::Refused,
                other => Outcome::Wrong(format!("a withdrawn key's token answered {other:?}")),
            }
        }
    };
    shared.record(started.elapsed(), outcome);
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    authorization: &str,
    proof: Option<&str>,
) -> Result<u16, String> {
    let mut r = http.get(url).header("authorization", authorization);
    if let Some(p) = proof {
        r = r.header("dpop", p);
    }
    match r.send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(e.to_string()),
    }
}

fn p99_ms(latencies: &mut [u32]) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    latencies.sort_unstable();
    let i = (latencies.len() * 99).div_ceil(100).saturating_sub(1);
    f64::from(latencies[i]) / 1000.0
}

struct Options {
    server: PathBuf,
    timing: &'static Timing,
    rate: u64,
}

fn options() -> Result<Options, String> {
    let mut server = None;
    let mut timing = &LONG;
    let mut rate = 400;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--server" => server = args.next().map(PathBuf::from),
            "--short" => timing = &SHORT,
            "--rate" => {
                rate = args
                    .next()
                    .and_then(|r| r.parse().ok())
                    .filter(|r| *r > 0)
                    .ok_or("--rate needs a number of requests per second")?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Options {
        server: server
            .ok_or("--server PATH (the resource_server example, built with --features redis)")?,
        timing,
        rate,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let t = o.timing;
    // Three masters, created with `redis-cli --cluster create`, each up.
    let mut cluster = tokio::task::block_in_place(|| RedisCluster::start(3));
    let urls = cluster.urls().join(",");
    let k1 = TestKey::generate(Algorithm::ES256).with_kid("k1");
    let issuer = TestIssuer::with_keys(vec![k1.clone()]).serve().await;
    let replicas = [
        Replica::start(&o.server, &issuer, &urls, t.refresh_secs),
        Replica::start(&o.server, &issuer, &urls, t.refresh_secs),
    ];
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    // The store vouches for proofs once it has run for twice the DPoP
    // leeway (5 s) and a second.
    while cluster.nodes.iter().any(|n| n.uptime().unwrap_or(0) < 12) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let dpop_key = DpopKey::generate(Algorithm::ES256);
    let shared = Arc::new(Shared {
        phase: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        phases: Mutex::new(Vec::new()),
        valid: RwLock::new(issuer.token().sign()),
        dpop_token: RwLock::new(issuer.token().dpop_bound(&dpop_key).sign()),
        dpop_key,
        withdrawn: RwLock::new(None),
        accepted: Mutex::new(VecDeque::new()),
        wrong_log: Mutex::new(Vec::new()),
    });
    // Warm the connections and the caches outside the figures.
    shared.begin("warm-up");
    // (The first request makes each replica fetch its keys.)
    for n in 0..20 {
        one(&http, &shared, &bases, n).await;
    }
    wait_keys(&http, &bases, 1).await;
    let rss_before: Vec<u64> = replicas.iter().map(Replica::rss_kib).collect();

    // The load: workers on a fixed pace, round robin over the replicas.
    let workers = 16u64;
    let interval = Duration::from_micros(1_000_000 * workers / o.rate);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (http, shared, bases) = (http.clone(), shared.clone(), bases.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = usize::try_from(w).unwrap_or(0);
            while !shared.stop.load(Ordering::SeqCst) {
                tick.tick().await;
                one(&http, &shared, &bases, n).await;
                n += usize::try_from(workers).unwrap_or(1);
            }
        }));
    }

    shared.begin("steady");
    tokio::time::sleep(t.steady).await;

    for (round, kid) in ["k2", "k3"].into_iter().enumerate() {
        shared.begin(format!("key rotation {}", round + 1));
        let old = issuer
            .snapshot()
            .keys()
            .first()
            .cloned()
            .expect("a signing key");
        // Published first, then signing, then the old one withdrawn (as
        // providers rotate).
        issuer.add_key(TestKey::generate(Algorithm::ES256).with_kid(kid));
        wait_keys(&http, &bases, 2).await;
        issuer.sign_with(kid);
        *shared.valid.write().unwrap() = issuer.token().sign();
        *shared.dpop_token.write().unwrap() = issuer.token().dpop_bound(&shared.dpop_key).sign();
        issuer.remove_key(old.kid());
        wait_keys(&http, &bases, 1).await;
        *shared.withdrawn.write().unwrap() = Some(issuer.token().signing_key(&old).sign());
        tokio::time::sleep(t.settle).await;
    }

    shared.begin("JWKS endpoint down");
    issuer.fail(Endpoint::Jwks, Failure::Status(503));
    tokio::time::sleep(t.jwks_down).await;
    issuer.recover(Endpoint::Jwks);
    shared.begin("after the JWKS outage");
    tokio::time::sleep(t.settle).await;

    shared.begin("Redis down (all masters)");
    for n in &mut cluster.nodes {
        n.stop();
    }
    tokio::time::sleep(t.redis_down).await;
    shared.begin("Redis back (empty), recovering");
    for n in &mut cluster.nodes {
        n.restart();
    }
    tokio::task::block_in_place(|| cluster.wait_until_up());
    tokio::time::sleep(t.settle).await;

    shared.begin("one master killed");
    cluster.nodes[1].stop();
    tokio::time::sleep(t.master_down).await;
    shared.begin("master back, recovering");
    cluster.nodes[1].restart();
    tokio::task::block_in_place(|| cluster.wait_until_up());
    tokio::time::sleep(t.settle).await;

    shared.begin("steady after");
    tokio::time::sleep(t.steady).await;
    shared.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        let _ = task.await;
    }
    shared.begin("end");
    let rss_after: Vec<u64> = replicas.iter().map(Replica::rss_kib).collect();

    let mut phases = shared.phases.lock().unwrap();
    println!(
        "\nTwo replicas sharing a 3-master Redis Cluster, {} requests/s offered \
         ({} form); mix: 50 % fresh DPoP proofs, 20 % bearer tokens, 20 % \
         replayed proofs, 10 % tokens of a withdrawn key",
        o.rate, t.form,
    );
    println!(
        "{:<32} {:>6} {:>9} {:>8} {:>7} {:>8} {:>6} {:>8}",
        "phase", "secs", "requests", "served", "503", "refused", "wrong", "p99 ms"
    );
    let mut wrong = 0;
    for p in phases.iter_mut() {
        if p.name == "warm-up" || p.name == "end" {
            continue;
        }
        let secs = p
            .ended
            .unwrap_or_else(Instant::now)
            .duration_since(p.started)
            .as_secs_f64();
        let total = p.served + p.unavailable + p.refused + p.wrong;
        wrong += p.wrong;
        println!(
            "{:<32} {:>6.1} {:>9} {:>8} {:>7} {:>8} {:>6} {:>8.2}",
            p.name,
            secs,
            total,
            p.served,
            p.unavailable,
            p.refused,
            p.wrong,
            p99_ms(&mut p.latencies_us)
        );
    }
    for (i, (b, a)) in rss_before.iter().zip(&rss_after).enumerate() {
        println!(
            "replica {i}: RSS {:.1} MiB before the load, {:.1} MiB after",
            *b as f64 / 1024.0,
            *a as f64 / 1024.0
        );
    }
    for line in shared.wrong_log.lock().unwrap().iter() {
        println!("WRONG {line}");
    }
    if wrong > 0 {
        println!("{wrong} wrong answers");
        return ExitCode::FAILURE;
    }
    println!("no wrong answer");
    ExitCode::SUCCESS
}
