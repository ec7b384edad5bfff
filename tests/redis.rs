//! A fleet of replicas sharing state on a real `redis-server` (feature
//! `redis`): the DPoP replay cache and the introspection cache, the
//! in-process caches in front, keys namespaced with digests only, TTLs by
//! the same rules, and what happens when Redis is unreachable (replay check
//! fails closed, introspection falls back to the in-process cache).
#![cfg(feature = "redis")]

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::DpopKey;
use bearer_guard::{
    BearerLayer, ValidationError, Validator,
    dpop::{DpopError, DpopOptions},
    introspection::{ClientAuth, Introspection, IntrospectionOptions},
    keys::Algorithm,
    redis::RedisStore,
};
use common::as_server::{CLIENT_ID, CLIENT_SECRET, T0};
use common::redis_server::RedisServer;
use common::{issuer, serve};
use serde_json::json;

const URI: &str = "https://api.example.com/orders";

/// A replica: its own in-process caches, the fleet's store.
fn replica(store: Option<RedisStore>) -> Validator {
    let mut b = issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .dpop(DpopOptions::new().leeway(common::redis_server::FLEET_LEEWAY));
    if let Some(store) = store {
        b = b.shared_store(store);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn a_proof_replayed_to_another_replica_is_refused() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url()).unwrap().namespace("payments");
    let (a, b) = (replica(Some(store.clone())), replica(Some(store.clone())));
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let proof = client.proof("GET", URI, &token).sign();
    assert!(a.validate_dpop(&token, &proof, "GET", URI).await.is_ok());
    assert_eq!(
        b.validate_dpop(&token, &proof, "GET", URI)
            .await
            .unwrap_err(),
        ValidationError::Dpop(DpopError::Replayed)
    );
    // Without the shared store, the other replica could not know.
    let alone = replica(None);
    assert!(
        alone
            .validate_dpop(&token, &proof, "GET", URI)
            .await
            .is_ok()
    );
    // Another namespace is another service's state.
    let other = replica(Some(
        RedisStore::new(&redis.url()).unwrap().namespace("orders"),
    ));
    assert!(
        other
            .validate_dpop(&token, &proof, "GET", URI)
            .await
            .is_ok()
    );

    // What Redis holds: a digest per proof under each namespace (one key
    // each, so one cluster slot, spread over all of them), with a TTL of
    // the proof's remaining life (its iat + 60 s, no leeway here) and one
    // window more (60 s + 1 s) for replicas whose clocks lag. No token.
    let keys = redis.cli(&["--scan"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        let (prefix, hex) = key.rsplit_once(':').unwrap();
        assert!(
            prefix == "payments:dpop-jti" || prefix == "orders:dpop-jti",
            "{key}"
        );
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{key}"
        );
        let ttl: i64 = redis.cli(&["TTL", key]).trim().parse().unwrap();
        assert!((100..=124).contains(&ttl), "{key}: {ttl}");
    }
}

/// A Redis that restarts without its data (no persistence) has forgotten
/// the proofs it saw: a replica that never saw a proof must not take the
/// empty store's word for it. Proofs made before the store's memory began
/// are refused with 503 (fail closed); proofs made once it has run for
/// twice the leeway and a second are accepted.
#[tokio::test]
async fn a_redis_restarted_without_its_data_does_not_vouch_for_proofs_made_before() {
    let mut redis = RedisServer::start();
    let store = RedisStore::new(&redis.url())
        .unwrap()
        .timeout(Duration::from_millis(500));
    let a = replica(Some(store.clone()));
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let proof = client.proof("GET", URI, &token).sign();
    assert!(a.validate_dpop(&token, &proof, "GET", URI).await.is_ok());

    redis.restart();
    // A replica that never saw the proof, on the store that forgot it.
    let c = replica(Some(store));
    let err = c
        .validate_dpop(&token, &proof, "GET", URI)
        .await
        .unwrap_err();
    assert!(common::replay_store_unavailable(&err), "{err:?}");
    // Once the store has run longer than twice the leeway and a second, fresh
    // proofs are vouched for again, and the old one is still refused.
    redis.wait_until_uptime(common::redis_server::AGE_BEFORE_USE);
    let fresh = client.proof("GET", URI, &token).sign();
    assert!(c.validate_dpop(&token, &fresh, "GET", URI).await.is_ok());
    assert!(c.validate_dpop(&token, &proof, "GET", URI).await.is_err());
}

#[tokio::test]
async fn without_redis_dpop_proofs_are_refused_with_503_and_accepted_again_once_it_is_back() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let store = RedisStore::new(&redis.url())
        .unwrap()
        .timeout(Duration::from_millis(200));
    let v = replica(Some(store));
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    assert!(
        v.validate_dpop(&token, &client.proof("GET", URI, &token).sign(), "GET", URI)
            .await
            .is_ok()
    );

    redis.stop();
    let err = v
        .validate_dpop(&token, &client.proof("GET", URI, &token).sign(), "GET", URI)
        .await
        .unwrap_err();
    assert!(common::replay_store_unavailable(&err), "{err:?}");

    // Over HTTP: 503 without a challenge (the client did nothing wrong).
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .layer(BearerLayer::new(v.clone()).public_url("https://api.example.com"));
    let addr = serve(app).await;
    let proof = client.proof("GET", URI, &token).sign();
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/orders"))
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("www-authenticate").is_none());

    // Redis back on the same port: the replica reconnects by itself.
    let _redis = RedisServer::start_on(port);
    let mut accepted = false;
    for _ in 0..100 {
        let proof = client.proof("GET", URI, &token).sign();
        if v.validate_dpop(&token, &proof, "GET", URI).await.is_ok() {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        accepted,
        "the replica did not reconnect to Redis within 10 s"
    );
}

#[tokio::test]
async fn a_redis_url_that_is_not_one_is_a_clear_error() {
    assert!(RedisStore::new("http://127.0.0.1:6379/").is_err());
    assert!(RedisStore::new("not a url").is_err());
    // A store that cannot connect refuses proofs at once (fail closed),
    // within its timeout.
    let nowhere = common::as_server::refused_addr().await;
    let store = RedisStore::new(&format!("redis://{nowhere}/")).unwrap();
    let v = replica(Some(store));
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let err = v
        .validate_dpop(&token, &client.proof("GET", URI, &token).sign(), "GET", URI)
        .await
        .unwrap_err();
    assert!(common::replay_store_unavailable(&err), "{err:?}");
    // The debug output names the address, never a password.
    let with_password = RedisStore::new("redis://user:hunter2@127.0.0.1:6379/").unwrap();
    assert!(!format!("{with_password:?}").contains("hunter2"));
}

/// Introspection replicas at the test endpoint, sharing `store`.
fn introspecting(s: &common::as_server::Setup, store: Option<RedisStore>) -> Validator {
    let mut b = s
        .issuer
        .validator_builder()
        .audience(common::AUDIENCE)
        .allow_insecure_http()
        .introspection(
            Introspection::at(
                s.server.introspection_url(),
                ClientAuth::basic(CLIENT_ID, CLIENT_SECRET),
            )
            .options(IntrospectionOptions::default().max_ttl(Duration::from_secs(120))),
        );
    if let Some(store) = store {
        b = b.shared_store(store);
    }
    b.build().unwrap()
}

fn answer(s: &common::as_server::Setup) -> serde_json::Value {
    json!({
        "active": true,
        "iss": s.issuer.issuer(),
        "aud": common::AUDIENCE,
        "sub": "alice",
        "scope": "orders:read",
        "exp": T0 + 3600,
    })
}

#[tokio::test]
async fn an_opaque_token_is_introspected_once_for_the_whole_fleet() {
    let redis = RedisServer::start();
    let s = common::as_server::setup(common::AUDIENCE).await;
    s.server.answer("opaque-1", answer(&s));
    s.server.answer("revoked-1", json!({"active": false}));
    let store = RedisStore::new(&redis.url()).unwrap();
    let (a, b) = (
        introspecting(&s, Some(store.clone())),
        introspecting(&s, Some(store)),
    );

    let claims = a.validate("opaque-1").await.unwrap();
    assert_eq!(claims.subject(), Some("alice"));
    assert_eq!(s.server.intro_calls(), 1);
    // The other replica finds the answer in Redis: no second call.
    let claims = b.validate("opaque-1").await.unwrap();
    assert_eq!(claims.scopes().iter().collect::<Vec<_>>(), ["orders:read"]);
    assert_eq!(s.server.intro_calls(), 1);
    let stats = b.introspection_stats().await.unwrap();
    assert_eq!((stats.calls, stats.shared_cache_hits), (0, 1));
    // Refusals are shared too, for the inactive TTL.
    assert_eq!(
        a.validate("revoked-1").await.unwrap_err(),
        ValidationError::Inactive
    );
    assert_eq!(
        b.validate("revoked-1").await.unwrap_err(),
        ValidationError::Inactive
    );
    assert_eq!(s.server.intro_calls(), 2);

    // The keys: namespace, kind, the token's digest; TTLs by the same rules
    // (the active answer for at most max_ttl = 120 s, the refusal for the
    // inactive TTL).
    let keys = redis.cli(&["--scan"]);
    assert!(
        !keys.contains("opaque-1") && !keys.contains("revoked-1"),
        "{keys}"
    );
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let mut ttls: Vec<i64> = keys
        .iter()
        .map(|k| {
            assert!(k.starts_with("bearer-guard:introspection:"), "{k}");
            redis.cli(&["TTL", k]).trim().parse().unwrap()
        })
        .collect();
    ttls.sort();
    // The default inactive TTL is 10 s.
    assert!((1..=10).contains(&ttls[0]), "{ttls:?}");
    assert!((11..=120).contains(&ttls[1]), "{ttls:?}");
}

#[tokio::test]
async fn without_redis_introspection_falls_back_to_the_in_process_cache() {
    let s = common::as_server::setup(common::AUDIENCE).await;
    s.server.answer("opaque-2", answer(&s));
    let nowhere = common::as_server::refused_addr().await;
    let store = RedisStore::new(&format!("redis://{nowhere}/")).unwrap();
    let v = introspecting(&s, Some(store));
    assert!(v.validate("opaque-2").await.is_ok());
    assert!(v.validate("opaque-2").await.is_ok());
    assert_eq!(s.server.intro_calls(), 1);
    let stats = v.introspection_stats().await.unwrap();
    assert_eq!(
        (stats.calls, stats.cache_hits, stats.shared_cache_hits),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn answers_are_shared_only_between_replicas_of_the_same_client_and_endpoint() {
    let redis = RedisServer::start();
    let s = common::as_server::setup(common::AUDIENCE).await;
    s.server.answer("opaque-3", answer(&s));
    // A store configured after it was cloned keeps its settings.
    let base = RedisStore::new(&redis.url()).unwrap();
    let _clone = base.clone();
    let store = base.namespace("fleet");
    let a = introspecting(&s, Some(store.clone()));
    assert!(a.validate("opaque-3").await.is_ok());
    assert!(
        redis
            .cli(&["--scan"])
            .lines()
            .all(|k| k.starts_with("fleet:introspection:"))
    );
    // Another client (another resource server) asking the same endpoint
    // does not read this answer: the authorization server may answer it
    // differently (RFC 7662 §2.2).
    s.server
        .expect_auth(common::as_server::ExpectedAuth::Basic {
            id: "another-rs".into(),
            secret: "another-secret".into(),
        });
    let other = s
        .issuer
        .validator_builder()
        .audience(common::AUDIENCE)
        .allow_insecure_http()
        .introspection(Introspection::at(
            s.server.introspection_url(),
            ClientAuth::basic("another-rs", "another-secret"),
        ))
        .shared_store(store)
        .build()
        .unwrap();
    assert!(other.validate("opaque-3").await.is_ok());
    assert_eq!(s.server.intro_calls(), 2);
    assert_eq!(
        other.introspection_stats().await.unwrap().shared_cache_hits,
        0
    );
}

#[tokio::test]
async fn with_an_integrity_key_a_planted_answer_is_not_read() {
    let redis = RedisServer::start();
    let s = common::as_server::setup(common::AUDIENCE).await;
    s.server.answer("opaque-4", json!({"active": false}));
    let key = b"0123456789abcdef0123456789abcdef";
    let store = RedisStore::new(&redis.url()).unwrap().integrity_key(key);
    let a = introspecting(&s, Some(store.clone()));
    assert_eq!(
        a.validate("opaque-4").await.unwrap_err(),
        ValidationError::Inactive
    );
    // Someone with write access to Redis turns the stored refusal into an
    // active answer.
    let stored_key = redis.cli(&["--scan"]).trim().to_owned();
    let planted = format!("{T0}\n{}", answer(&s));
    redis.cli(&["SET", &stored_key, &planted, "EX", "60"]);
    let b = introspecting(&s, Some(store));
    assert_eq!(
        b.validate("opaque-4").await.unwrap_err(),
        ValidationError::Inactive
    );
    assert_eq!(b.introspection_stats().await.unwrap().shared_cache_hits, 0);
    // A replica without the key reads the plant: without the key, Redis is
    // trusted (and this is what the key is for).
    // (The replica with the key replaced the plant with the real answer.)
    redis.cli(&["SET", &stored_key, &planted, "EX", "60"]);
    let trusting = introspecting(&s, Some(RedisStore::new(&redis.url()).unwrap()));
    assert!(trusting.validate("opaque-4").await.is_ok());
}

/// A replica whose clock runs an hour ahead stores an answer stamped with
/// its own time; another replica must not take that answer as younger than
/// it is (its age would be negative, and it would outlive its TTL: a
/// revocation unnoticed past `max_ttl`). It asks the endpoint itself.
#[tokio::test]
async fn an_answer_stamped_by_a_replica_whose_clock_runs_ahead_is_not_reused() {
    let redis = RedisServer::start();
    let s = common::as_server::setup(common::AUDIENCE).await;
    let mut answer = answer(&s);
    answer["exp"] = json!(T0 + 7200);
    s.server.answer("opaque-skew", answer);
    let store = RedisStore::new(&redis.url()).unwrap();
    let ahead = s
        .issuer
        .validator_builder()
        .audience(common::AUDIENCE)
        .allow_insecure_http()
        .clock(bearer_guard::testing::ManualClock::new(T0 + 3600))
        .introspection(Introspection::at(
            s.server.introspection_url(),
            ClientAuth::basic(CLIENT_ID, CLIENT_SECRET),
        ))
        .shared_store(store.clone())
        .build()
        .unwrap();
    assert!(ahead.validate("opaque-skew").await.is_ok());
    assert_eq!(s.server.intro_calls(), 1);
    let b = introspecting(&s, Some(store));
    assert!(b.validate("opaque-skew").await.is_ok());
    assert_eq!(
        s.server.intro_calls(),
        2,
        "the future-stamped answer was reused"
    );
}
