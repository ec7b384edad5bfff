//! The shared store as operators run it (feature `redis`): a managed Redis
//! over TLS (`rediss://`, the server's certificate checked, a client
//! certificate when asked for), and a Redis Cluster of three masters on
//! loopback, one of them lost mid-load and brought back. Real
//! `redis-server` processes throughout, with a test CA made for the run.
#![cfg(feature = "redis")]

use crate::common;

use std::time::Duration;

use bearer_guard::testing::DpopKey;
use bearer_guard::{
    ValidationError, Validator,
    dpop::{DpopError, DpopOptions},
    introspection::{ClientAuth, Introspection},
    keys::Algorithm,
    redis::{RedisStore, StoreError},
};
use common::as_server::{CLIENT_ID, CLIENT_SECRET, T0};
use common::issuer;
use common::redis_server::{RedisCluster, RedisServer};
use common::redis_tls::TestPki;
use serde_json::json;

const URI: &str = "https://api.example.com/orders";

/// A replica: its own in-process caches, the fleet's store.
fn replica(store: RedisStore) -> Validator {
    issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .dpop(DpopOptions::new().leeway(common::redis_server::FLEET_LEEWAY))
        .shared_store(store)
        .build()
        .unwrap()
}

/// One DPoP-bound token and a way to make fresh proofs for it.
struct Caller {
    key: DpopKey,
    token: String,
}

impl Caller {
    fn new() -> Caller {
        let key = DpopKey::generate(Algorithm::ES256);
        let token = issuer().token().dpop_bound(&key).sign();
        Caller { key, token }
    }

    fn proof(&self) -> String {
        self.key.proof("GET", URI, &self.token).sign()
    }

    async fn present(&self, v: &Validator, proof: &str) -> Result<(), ValidationError> {
        v.validate_dpop(&self.token, proof, "GET", URI)
            .await
            .map(|_| ())
    }
}

#[tokio::test]
async fn over_tls_a_proof_replayed_to_another_replica_is_refused() {
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, false);
    assert!(redis.url().starts_with("rediss://"));
    let store = RedisStore::new(&redis.url())
        .unwrap()
        .tls_root_certificates(pki.ca_pem.clone())
        .unwrap();
    let (a, b) = (replica(store.clone()), replica(store));
    let caller = Caller::new();
    let proof = caller.proof();
    assert_eq!(caller.present(&a, &proof).await, Ok(()));
    assert_eq!(
        caller.present(&b, &proof).await,
        Err(ValidationError::Dpop(DpopError::Replayed))
    );
    // A fresh proof is accepted by either.
    assert_eq!(caller.present(&b, &caller.proof()).await, Ok(()));
}

#[tokio::test]
async fn over_tls_a_server_whose_certificate_is_not_trusted_is_not_used() {
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, false);
    let caller = Caller::new();
    // The system's roots do not know the test CA; another CA is not the
    // one that signed the server's certificate. Either way the store is
    // unusable and proofs are refused (fail closed), never accepted
    // unchecked.
    let other_ca = TestPki::new().ca_pem;
    for store in [
        RedisStore::new(&redis.url()).unwrap(),
        RedisStore::new(&redis.url())
            .unwrap()
            .tls_root_certificates(other_ca)
            .unwrap(),
    ] {
        let err = caller
            .present(&replica(store), &caller.proof())
            .await
            .unwrap_err();
        assert!(common::replay_store_unavailable(&err), "{err:?}");
    }
    // Plain TCP to a TLS port is not Redis either.
    let plain = RedisStore::new(&format!("redis://127.0.0.1:{}/", redis.port)).unwrap();
    let err = caller
        .present(&replica(plain), &caller.proof())
        .await
        .unwrap_err();
    assert!(common::replay_store_unavailable(&err), "{err:?}");
}

#[tokio::test]
async fn a_redis_that_asks_for_a_client_certificate_gets_the_one_given() {
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, true);
    let caller = Caller::new();
    let without = RedisStore::new(&redis.url())
        .unwrap()
        .tls_root_certificates(pki.ca_pem.clone())
        .unwrap();
    let err = caller
        .present(&replica(without), &caller.proof())
        .await
        .unwrap_err();
    assert!(common::replay_store_unavailable(&err), "{err:?}");

    let with = RedisStore::new(&redis.url())
        .unwrap()
        .tls_root_certificates(pki.ca_pem.clone())
        .unwrap()
        .tls_client_certificate(pki.client_cert_pem.clone(), pki.client_key_pem.clone())
        .unwrap();
    let (a, b) = (replica(with.clone()), replica(with));
    let proof = caller.proof();
    assert_eq!(caller.present(&a, &proof).await, Ok(()));
    assert_eq!(
        caller.present(&b, &proof).await,
        Err(ValidationError::Dpop(DpopError::Replayed))
    );
}

#[test]
fn settings_that_cannot_work_are_refused_when_given() {
    let pki = TestPki::new();
    let tls_refused = |r: Result<RedisStore, StoreError>| {
        assert!(matches!(r, Err(StoreError::InvalidTls(_))), "{r:?}");
    };
    // TLS settings on a plain URL: nothing would check them.
    tls_refused(
        RedisStore::new("redis://127.0.0.1:6379/")
            .unwrap()
            .tls_root_certificates(pki.ca_pem.clone()),
    );
    let tls = || RedisStore::new("rediss://127.0.0.1:6379/").unwrap();
    // No certificate in the PEM, or a broken one.
    tls_refused(tls().tls_root_certificates(""));
    tls_refused(tls().tls_root_certificates(pki.client_key_pem.clone()));
    tls_refused(
        tls().tls_root_certificates(
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        ),
    );
    tls_refused(tls().tls_client_certificate("", pki.client_key_pem.clone()));
    tls_refused(tls().tls_client_certificate(pki.client_cert_pem.clone(), "no key here"));
    // Certificate checks cannot be turned off by the URL.
    assert!(matches!(
        RedisStore::new("rediss://127.0.0.1:6379/#insecure"),
        Err(StoreError::InvalidUrl(_))
    ));

    // A cluster: at least one node, at most MAX_REDIS_CLUSTER_NODES, one
    // TLS mode.
    let invalid = |r: Result<RedisStore, StoreError>| {
        assert!(matches!(r, Err(StoreError::InvalidUrl(_))), "{r:?}");
    };
    invalid(RedisStore::cluster(Vec::<String>::new()));
    let max = bearer_guard::limits::MAX_REDIS_CLUSTER_NODES;
    let nodes = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("redis://127.0.0.1:{}", 7000 + i))
            .collect()
    };
    assert!(RedisStore::cluster(nodes(max)).is_ok());
    invalid(RedisStore::cluster(nodes(max + 1)));
    invalid(RedisStore::cluster([
        "redis://127.0.0.1:7000",
        "rediss://127.0.0.1:7001",
    ]));
    invalid(RedisStore::cluster(["redis://127.0.0.1:7000", "not a url"]));

    // The debug output names where the nodes are, never a password.
    let cluster = RedisStore::cluster([
        "rediss://:hunter2@127.0.0.1:7000",
        "rediss://:hunter2@127.0.0.1:7001",
    ])
    .unwrap();
    let debug = format!("{cluster:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(
        debug.contains("7001") && debug.contains("tls: true"),
        "{debug}"
    );
}

#[tokio::test]
async fn in_a_cluster_replays_are_refused_across_replicas_and_keys_spread_over_the_masters() {
    let cluster = RedisCluster::start(3);
    let urls = cluster.urls();
    // Each replica knows a different node to start from.
    let a = replica(RedisStore::cluster([&urls[0]]).unwrap());
    let b = replica(RedisStore::cluster([&urls[2]]).unwrap());
    let caller = Caller::new();
    let proofs: Vec<String> = (0..48).map(|_| caller.proof()).collect();
    for proof in &proofs {
        assert_eq!(caller.present(&a, proof).await, Ok(()));
    }
    for proof in &proofs {
        assert_eq!(
            caller.present(&b, proof).await,
            Err(ValidationError::Dpop(DpopError::Replayed))
        );
    }
    // One key per proof, spread over the three masters by hash slot (the
    // 4,096 buckets' hash tags): no single tag piles the fleet's keys onto
    // one node.
    let keys = cluster.keys_per_node("*:dpop-jti:*");
    assert_eq!(keys.iter().sum::<usize>(), proofs.len(), "{keys:?}");
    assert!(keys.iter().all(|&k| k > 0), "{keys:?}");
}

/// Introspection replicas at the test endpoint, sharing `store`.
fn introspecting(s: &common::as_server::Setup, store: RedisStore) -> Validator {
    s.issuer
        .validator_builder()
        .audience(common::AUDIENCE)
        .allow_insecure_http()
        .introspection(Introspection::at(
            s.server.introspection_url(),
            ClientAuth::basic(CLIENT_ID, CLIENT_SECRET),
        ))
        .shared_store(store)
        .build()
        .unwrap()
}

/// One master killed mid-load and brought back. Throughout: a proof
/// already accepted is never accepted again by another replica (refused as
/// a replay, or with 503 while the store cannot say), and opaque tokens
/// keep being accepted (introspection falls back to the in-process cache
/// and the endpoint). Once the master is back, fresh proofs are accepted
/// again without restarting the replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_lost_mid_load_never_lets_a_replay_through_and_the_fleet_recovers() {
    let mut cluster = RedisCluster::start(3);
    let urls = cluster.urls();
    let store = |seed: &str| {
        RedisStore::cluster([seed])
            .unwrap()
            .timeout(Duration::from_millis(200))
    };
    let (a, b) = (replica(store(&urls[0])), replica(store(&urls[2])));
    let s = common::as_server::setup(common::AUDIENCE).await;
    s.server.answer(
        "opaque-fleet",
        json!({"active": true, "iss": s.issuer.issuer(), "aud": common::AUDIENCE,
               "sub": "alice", "exp": T0 + 3600}),
    );
    let (ia, ib) = (
        introspecting(&s, store(&urls[0])),
        introspecting(&s, store(&urls[2])),
    );
    let caller = Caller::new();

    // Load before the fault: every fresh proof accepted by a, refused as a
    // replay by b.
    let mut accepted = Vec::new();
    for _ in 0..30 {
        let proof = caller.proof();
        assert_eq!(caller.present(&a, &proof).await, Ok(()));
        accepted.push(proof);
    }
    assert!(ia.validate("opaque-fleet").await.is_ok());
    assert!(ib.validate("opaque-fleet").await.is_ok());

    // The load goes on while a master dies and the cluster notices.
    cluster.nodes[1].stop();
    let mut tally = Tally::default();
    let fleet = Fleet {
        caller: &caller,
        a: &a,
        b: &b,
        ia: &ia,
        ib: &ib,
    };
    // Until the surviving masters declare the cluster down, and a while
    // after.
    let mut down_seen = 0;
    while down_seen < 20 {
        fleet.round(&mut accepted, &mut tally).await;
        if !cluster.is_up() {
            down_seen += 1;
        }
        assert!(
            tally.rounds < 2000,
            "the cluster never noticed its lost master"
        );
    }
    assert!(
        tally.fresh_503 > 0,
        "no proof was refused while the cluster was down"
    );

    // The master comes back (its cluster state kept on disk, its keys not:
    // the replay entries it held are gone).
    cluster.nodes[1].restart();
    cluster.wait_until_up();
    let mut recovered = false;
    for _ in 0..200 {
        if fleet.round(&mut accepted, &mut tally).await {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "fresh proofs were not accepted again within 20 s"
    );
    // After the recovery: every proof ever accepted is still refused by a
    // replica that never saw it (a new one: nothing in its own cache),
    // including those whose entries lived on the lost master.
    let c = replica(store(&urls[1]));
    for proof in &accepted {
        let replay = caller.present(&c, proof).await;
        assert!(
            matches!(replay, Err(ValidationError::Dpop(DpopError::Replayed)))
                || matches!(&replay, Err(e) if common::replay_store_unavailable(e)),
            "{replay:?}"
        );
    }
    eprintln!("{tally:?}");
}

/// Counts of one fault run.
#[derive(Debug, Default)]
struct Tally {
    rounds: usize,
    fresh_ok: usize,
    fresh_503: usize,
    replays_refused: usize,
    replays_503: usize,
}

/// The replicas under load: `a` sees fresh proofs, `b` replays of proofs
/// `a` accepted, both introspection replicas an opaque token.
struct Fleet<'a> {
    caller: &'a Caller,
    a: &'a Validator,
    b: &'a Validator,
    ia: &'a Validator,
    ib: &'a Validator,
}

impl Fleet<'_> {
    /// One round of load; whether the fresh proof was accepted. Panics on
    /// a wrong answer: a replay accepted, a fresh proof refused for
    /// another reason than the store, an opaque token refused.
    async fn round(&self, accepted: &mut Vec<String>, tally: &mut Tally) -> bool {
        let proof = self.caller.proof();
        let fresh = self.caller.present(self.a, &proof).await;
        let replayed = &accepted[tally.rounds % accepted.len()];
        let replay = self.caller.present(self.b, replayed).await;
        assert!(self.ia.validate("opaque-fleet").await.is_ok());
        assert!(self.ib.validate("opaque-fleet").await.is_ok());
        tally.rounds += 1;
        match replay {
            Ok(()) => panic!("a replayed proof was accepted during the fault"),
            Err(ValidationError::Dpop(DpopError::Replayed)) => tally.replays_refused += 1,
            Err(e) if common::replay_store_unavailable(&e) => tally.replays_503 += 1,
            Err(e) => panic!("a replay refused for {e:?}"),
        }
        match fresh {
            Ok(()) => {
                tally.fresh_ok += 1;
                accepted.push(proof);
                true
            }
            Err(e) if common::replay_store_unavailable(&e) => {
                tally.fresh_503 += 1;
                false
            }
            Err(e) => panic!("a fresh proof refused for {e:?}"),
        }
    }
}

/// Edges of the replay check: a namespace with braces, a snapshot older
/// than the last writes, replicas whose clocks differ.
mod edges {
    use super::*;
    use common::redis_server::TempDir;

    /// A replay refused: as one, or because the store cannot vouch for it.
    fn refused_as_seen(presented: &Result<(), ValidationError>) -> bool {
        matches!(presented, Err(ValidationError::Dpop(DpopError::Replayed)))
            || presented
                .as_ref()
                .is_err_and(common::replay_store_unavailable)
    }

    /// A namespace holding `{` or `}` must not make a hash tag: the
    /// entries still spread over the masters (not all onto one slot), and
    /// replays are still refused.
    #[tokio::test]
    async fn in_a_cluster_a_namespace_with_braces_makes_no_hash_tag() {
        let cluster = RedisCluster::start(3);
        let urls = cluster.urls();
        let caller = Caller::new();
        for ns in ["svc{", "a}b{c", "{svc}"] {
            let v = replica(RedisStore::cluster([&urls[0]]).unwrap().namespace(ns));
            let proofs: Vec<String> = (0..48).map(|_| caller.proof()).collect();
            for proof in &proofs {
                assert_eq!(caller.present(&v, proof).await, Ok(()), "namespace {ns}");
            }
            let other = replica(RedisStore::cluster([&urls[1]]).unwrap().namespace(ns));
            assert_eq!(
                caller.present(&other, &proofs[0]).await,
                Err(ValidationError::Dpop(DpopError::Replayed)),
                "namespace {ns}"
            );
            let keys = cluster.keys_per_node("*dpop-jti:*");
            assert!(keys.iter().all(|&k| k > 0), "namespace {ns}: {keys:?}");
            for n in &cluster.nodes {
                n.cli(&["FLUSHALL"]);
            }
        }
    }

    /// A Redis with RDB persistence that crashes comes back with its last
    /// snapshot: the buckets' markers (no TTL, old) are back, the replay
    /// entries written after the snapshot are not. The store must not
    /// vouch for a proof accepted between the snapshot and the crash.
    #[tokio::test]
    async fn a_redis_back_from_an_older_snapshot_does_not_vouch_for_a_proof_accepted_after_it() {
        let dir = TempDir::new();
        let mut server = RedisServer::start_in(dir.path());
        // A snapshot of the store as it was (here, before the proof).
        assert!(server.cli(&["SAVE"]).contains("OK"));
        let caller = Caller::new();
        let proof = caller.proof();
        let a = replica(RedisStore::new(&server.url()).unwrap());
        assert_eq!(caller.present(&a, &proof).await, Ok(()));
        // Crash and restart from the snapshot (made before the proof).
        server.restart();
        let b = replica(RedisStore::new(&server.url()).unwrap());
        let replayed = caller.present(&b, &proof).await;
        assert!(
            refused_as_seen(&replayed),
            "a proof accepted after the snapshot was accepted again: {replayed:?}"
        );
    }

    fn unix_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// Replicas' clocks may differ by up to the leeway (a proof within it
    /// is accepted by each). A proof accepted by a replica whose clock
    /// runs ahead, just before Redis restarted without its data, must not
    /// be vouched for by a replica whose clock runs behind (by 2 s, the
    /// leeway being 2 s) once the store's memory has begun again. (With a
    /// margin of one leeway instead of two, the replay is accepted.)
    #[tokio::test]
    async fn a_replica_whose_clock_runs_behind_does_not_vouch_for_a_proof_made_before_the_memory() {
        use bearer_guard::testing::ManualClock;
        let leeway = Duration::from_secs(2);
        let replica_at = |store: RedisStore, clock: &ManualClock| {
            issuer()
                .validator_builder()
                .audience(common::AUDIENCE)
                .leeway(Duration::from_secs(60))
                .clock(clock.clone())
                .dpop(DpopOptions::new().leeway(leeway))
                .shared_store(store)
                .build()
                .unwrap()
        };
        let mut server = RedisServer::start();
        // Old enough to vouch for a proof made a leeway ahead.
        server.wait_until_uptime(5);
        let ahead = ManualClock::new(unix_now());
        let behind = ManualClock::new(unix_now() - 2);
        let a = replica_at(RedisStore::new(&server.url()).unwrap(), &ahead);
        let caller = Caller::new();
        // The client's clock runs as far ahead as the leeway allows.
        let t = unix_now();
        ahead.set(t);
        let proof = caller
            .key
            .proof("GET", URI, &caller.token)
            .issued_at(t + 2)
            .sign();
        assert_eq!(caller.present(&a, &proof).await, Ok(()));
        server.restart();
        // Long enough that the proof is not yet in `behind`'s future.
        server.wait_until_uptime(2);
        let b = replica_at(RedisStore::new(&server.url()).unwrap(), &behind);
        behind.set(unix_now() - 2);
        let replayed = caller.present(&b, &proof).await;
        assert!(
            refused_as_seen(&replayed),
            "a proof accepted before the restart was vouched for: {replayed:?}"
        );
    }
}
