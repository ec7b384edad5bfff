//! Remote keys against a real HTTP server on 127.0.0.1: discovery, rotation,
//! the unknown-`kid` flood, every failure mode, stale-if-error and recovery.
//!
//! Cool-downs and stale ages are driven by a `ManualClock` (stepped, not
//! slept); background activity is awaited through explicit signals (the
//! server's hit counter, `RemoteKeys::updates`), never with sleeps.

use crate::common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BuildError, ValidationError, Validator, ValidatorBuilder,
    jwks::{JwksOptions, KeyStatus, RemoteError},
    keys::{Algorithm, JwksError},
};
use common::as_server::{Mode, Setup, refused_addr, silent_server};
use serde_json::json;

const AUDIENCE: &str = "payments";

async fn setup() -> Setup {
    common::as_server::setup(AUDIENCE).await
}

fn options() -> JwksOptions {
    JwksOptions::default().fetch_timeout(Duration::from_millis(500))
}

/// This file's ways with the shared set-up (a trait: another file has its
/// own, in the same test binary).
trait RemoteSetup {
    fn builder(&self) -> ValidatorBuilder;
    async fn validator(&self) -> Validator;
    fn token(&self) -> String;
}

impl RemoteSetup for Setup {
    fn builder(&self) -> ValidatorBuilder {
        Validator::builder()
            .issuer(self.issuer.issuer())
            .audience(AUDIENCE)
            .clock(self.clock.clone())
            .allow_insecure_http()
            .jwks_url(self.server.jwks_url())
            .jwks_options(options())
    }

    async fn validator(&self) -> Validator {
        self.builder().build_and_fetch().await.expect("validator")
    }

    fn token(&self) -> String {
        self.issuer.token().sign()
    }
}

fn jwks_of(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.public_jwk().unwrap()).collect::<Vec<_>>() }).to_string()
}

/// Polls a future once: `Some` if it finished without waiting.
fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

#[tokio::test]
async fn a_jwks_url_is_fetched_and_verifies_tokens() {
    let s = setup().await;
    let v = s.validator().await;
    assert!(v.validate(&s.token()).await.is_ok());
    let stats = v.remote_keys()[0].stats();
    assert_eq!(stats.status, KeyStatus::Fresh);
    assert_eq!((stats.keys, stats.fetches, stats.failures), (1, 1, 0));
    assert_eq!(
        stats.jwks_uri.map(|u| u.to_string()),
        Some(s.server.jwks_url())
    );
    assert_eq!(s.server.jwks_hits(), 1);
}

#[tokio::test]
async fn discovery_finds_the_jwks_uri_and_the_introspection_endpoint() {
    let s = setup().await;
    let issuer = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256).with_kid("d")])
        .issuer_url(s.server.url())
        .default_audience(AUDIENCE);
    s.server.set_jwks(issuer.jwks_json());
    let v = Validator::builder()
        .issuer(s.server.url())
        .audience(AUDIENCE)
        .allow_insecure_http()
        .discover()
        .build_and_fetch()
        .await
        .unwrap();
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    let metadata = v.remote_keys()[0].metadata().unwrap();
    assert_eq!(metadata.issuer, s.server.url());
    assert_eq!(metadata.jwks_uri, Some(s.server.jwks_url()));
    assert_eq!(
        metadata.introspection_endpoint,
        Some(format!("{}/introspect", s.server.url()))
    );
    assert!(metadata.other.contains_key("grant_types_supported"));
}

#[tokio::test]
async fn discovery_falls_back_to_rfc8414() {
    let s = setup().await;
    *s.server.state.oidc_route.lock().unwrap() = false;
    let v = Validator::builder()
        .issuer(s.server.url())
        .audience(AUDIENCE)
        .allow_insecure_http()
        .discover()
        .build_and_fetch()
        .await
        .unwrap();
    assert_eq!(
        v.remote_keys()[0].metadata().unwrap().issuer,
        s.server.url()
    );
    assert_eq!(
        s.server
            .state
            .metadata_hits
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn discovery_refuses_a_document_naming_another_issuer() {
    let s = setup().await;
    *s.server.state.issuer.lock().unwrap() = Some("https://evil.example".into());
    let err = Validator::builder()
        .issuer(s.server.url())
        .audience(AUDIENCE)
        .allow_insecure_http()
        .discover()
        .build_and_fetch()
        .await
        .unwrap_err();
    // The message names both issuers.
    let message = err.to_string();
    assert!(
        message.contains(&s.server.url()) && message.contains("https://evil.example"),
        "{message}"
    );
    match err {
        BuildError::KeySource(e) => {
            assert!(e.is_issuer_mismatch() && e.is_discovery(), "{e:?}");
            // The document's issuer found, the configured one expected.
            let expected = format!(
                "names issuer \"https://evil.example\", but {:?} is configured",
                s.server.url()
            );
            assert!(e.to_string().contains(&expected), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // The JWKS was never fetched from a mismatched document.
    assert_eq!(s.server.jwks_hits(), 0);
}

#[tokio::test]
async fn https_is_required_unless_explicitly_relaxed() {
    let s = setup().await;
    let err = Validator::builder()
        .issuer("https://as.example")
        .audience(AUDIENCE)
        .jwks_url(s.server.jwks_url())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, BuildError::Url(e) if e.is_insecure_url()),
        "{err:?}"
    );
    let err = Validator::builder()
        .issuer("http://as.example")
        .audience(AUDIENCE)
        .discover()
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, BuildError::Url(e) if e.is_insecure_url()),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_key_added_at_the_server_is_accepted_on_first_use() {
    let s = setup().await;
    let v = s.validator().await;
    let b = TestKey::generate(Algorithm::ES256).with_kid("b");
    s.server.set_jwks(jwks_of(&[&s.issuer.keys()[0], &b]));
    // The cool-down since the start-up fetch has passed.
    s.clock.advance(31);
    let token = s.issuer.token().signing_key(&b).sign();
    assert!(v.validate(&token).await.is_ok());
    assert_eq!(s.server.jwks_hits(), 2);
    assert_eq!(v.remote_keys()[0].stats().on_demand_fetches, 1);
    // Known now: no further fetch.
    assert!(v.validate(&token).await.is_ok());
    assert_eq!(s.server.jwks_hits(), 2);
}

#[tokio::test]
async fn a_key_removed_at_the_server_stops_verifying_after_the_next_refresh() {
    let s = setup().await;
    let b = TestKey::generate(Algorithm::ES256).with_kid("b");
    s.server.set_jwks(jwks_of(&[&s.issuer.keys()[0], &b]));
    let v = s.validator().await;
    let token_b = s.issuer.token().signing_key(&b).sign();
    assert!(v.validate(&token_b).await.is_ok());
    s.server.set_jwks(jwks_of(&[&s.issuer.keys()[0]]));
    v.refresh_keys().await.unwrap();
    assert_eq!(
        v.validate(&token_b).await.unwrap_err(),
        ValidationError::UnknownKeyId
    );
    assert!(v.validate(&s.token()).await.is_ok());
}

/// A cached token against each change a stored key set can make: keys
/// added keep the cached tokens; one algorithm taken from a key (the same
/// material, now for PS256 only) refuses the RS256 tokens it verified, and
/// only those; a set past `max_stale` refuses until the server serves it
/// again.
#[tokio::test]
async fn cached_tokens_follow_each_change_of_the_key_set() {
    let s = setup().await;
    let k0 = &s.issuer.keys()[0];
    let rsa = TestKey::generate(Algorithm::RS256).with_kid("r");
    let jwks = |rsa_alg: &str, more: &[&TestKey]| {
        let mut r = rsa.public_jwk().unwrap();
        r["alg"] = json!(rsa_alg);
        let mut keys = vec![k0.public_jwk().unwrap(), r];
        keys.extend(more.iter().map(|k| k.public_jwk().unwrap()));
        json!({ "keys": keys }).to_string()
    };
    s.server.set_jwks(jwks("RS256", &[]));
    let v = s
        .builder()
        .jwks_options(options().max_stale(Duration::from_secs(600)))
        .build_and_fetch()
        .await
        .unwrap();
    let token_r = s.issuer.token().signing_key(&rsa).expires_in(7200).sign();
    let token_0 = s.issuer.token().expires_in(7200).sign();
    assert!(v.validate(&token_r).await.is_ok());
    assert!(v.validate(&token_0).await.is_ok());
    assert_eq!(v.token_cache_len(), Some(2));

    // A key added: nothing withdrawn, both cached tokens pass.
    let added = TestKey::generate(Algorithm::ES256).with_kid("added");
    s.server.set_jwks(jwks("RS256", &[&added]));
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&token_r).await.is_ok());
    assert!(v.validate(&token_0).await.is_ok());

    // RS256 taken from the RSA key: its token is refused (cached or not),
    // the other key's still passes.
    s.server.set_jwks(jwks("PS256", &[&added]));
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&token_r).await.is_err());
    assert!(v.validate(&token_0).await.is_ok());

    // Past max_stale no fetched key verifies, cached or not; the same set
    // served again makes it usable again.
    s.server.set_mode(Mode::Status(500));
    s.clock.advance(601);
    assert_eq!(
        v.validate(&token_0).await.unwrap_err(),
        ValidationError::KeysUnavailable
    );
    s.server.set_mode(Mode::Serve);
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&token_0).await.is_ok());
    assert!(v.validate(&token_r).await.is_err());
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch_per_cooldown() {
    let s = setup().await;
    let v = s.validator().await;
    let stranger = TestKey::generate(Algorithm::ES256);
    let flood = |round: usize| {
        let v = v.clone();
        let tokens: Vec<String> = (0..10_000)
            .map(|i| {
                s.issuer
                    .token()
                    .signing_key(&stranger)
                    .header("kid", format!("random-{round}-{i}"))
                    .sign()
            })
            .collect();
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for token in tokens {
                let v = v.clone();
                tasks.spawn(async move { v.validate(&token).await });
            }
            let mut refused = 0;
            while let Some(r) = tasks.join_next().await {
                assert_eq!(r.unwrap().unwrap_err(), ValidationError::UnknownKeyId);
                refused += 1;
            }
            refused
        }
    };
    // Within the cool-down of the start-up fetch: refused at once, no fetch.
    assert_eq!(flood(0).await, 10_000);
    assert_eq!(s.server.jwks_hits(), 1);
    // Cool-down over: the whole flood shares one fetch.
    s.clock.advance(30);
    assert_eq!(flood(1).await, 10_000);
    assert_eq!(s.server.jwks_hits(), 2);
    // And again nothing until the next cool-down has passed.
    s.clock.advance(29);
    assert_eq!(flood(2).await, 10_000);
    assert_eq!(s.server.jwks_hits(), 2);
    s.clock.advance(1);
    assert_eq!(flood(3).await, 10_000);
    assert_eq!(s.server.jwks_hits(), 3);
    // Valid tokens were never disturbed.
    assert!(v.validate(&s.token()).await.is_ok());
    assert_eq!(v.remote_keys()[0].stats().on_demand_fetches, 2);
}

#[tokio::test]
async fn a_hanging_fetch_does_not_delay_tokens_whose_key_is_known() {
    let s = setup().await;
    let v = s.validator().await;
    s.server.set_mode(Mode::Hang);
    s.clock.advance(31);
    let unknown = s.issuer.token().header("kid", "new-key").sign();
    let waiter = {
        let v = v.clone();
        tokio::spawn(async move { v.validate(&unknown).await })
    };
    // The refresh has reached the server, which holds it.
    s.server.wait_for_hits(2).await;
    // A token with a known key completes without waiting at all.
    let known = s.token();
    let result = poll_once(v.validate(&known)).expect("validation must not wait");
    assert!(result.is_ok());
    // The waiter gives up when the fetch times out.
    assert_eq!(
        waiter.await.unwrap().unwrap_err(),
        ValidationError::UnknownKeyId
    );
    let stats = v.remote_keys()[0].stats();
    assert_eq!(stats.status, KeyStatus::Stale);
    let last_error = stats.last_error.expect("the failed refresh is reported");
    assert!(
        last_error.is_timeout() && !last_error.is_discovery(),
        "{last_error:?}"
    );
}

/// What is wrong with the key set, for an error that
/// [`is_invalid_jwks`](RemoteError::is_invalid_jwks): its `source()`.
fn jwks_error(e: &RemoteError) -> Option<&JwksError> {
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<JwksError>())
}

/// Starts with the server in `mode` and returns the start-up error.
async fn startup_error(mode: Mode, options: JwksOptions) -> RemoteError {
    let s = setup().await;
    s.server.set_mode(mode);
    match s.builder().jwks_options(options).build_and_fetch().await {
        Err(BuildError::KeySource(e)) => e,
        other => panic!("expected a key source error, got {other:?}"),
    }
}

#[tokio::test]
async fn startup_fails_clearly_on_each_failure_mode() {
    // 1. A server that accepts and never answers; 2. connection refused.
    let silent = silent_server().await;
    let refused = refused_addr().await;
    let s = setup().await;
    for (addr, timeout) in [(silent, true), (refused, false)] {
        let err = s
            .builder()
            .jwks_url(format!("http://{addr}/jwks"))
            .build_and_fetch()
            .await
            .unwrap_err();
        let BuildError::KeySource(e) = &err else {
            panic!("{err:?}");
        };
        assert!(!e.is_discovery(), "{err:?}");
        assert_eq!(
            e.url().map(ToString::to_string),
            Some(format!("http://{addr}/jwks"))
        );
        assert_eq!(e.is_timeout(), timeout, "{err:?}");
        assert_eq!(e.is_connect(), !timeout, "{err:?}");
    }
    // 3. Not 200.
    for code in [404, 500, 503] {
        let e = startup_error(Mode::Status(code), options()).await;
        assert_eq!(e.status(), Some(code), "{e:?}");
        assert!(!e.is_discovery(), "{e:?}");
    }
    // 4. Not JSON.
    let e = startup_error(Mode::NotJson, options()).await;
    assert!(e.is_invalid_jwks(), "{e:?}");
    assert_eq!(jwks_error(&e), Some(&JwksError::NotJsonObject));
    // 5. A 50 MiB streamed body: reading stops at the limit.
    let e = startup_error(
        Mode::Stream(50 * 1024 * 1024),
        options().fetch_timeout(Duration::from_secs(5)),
    )
    .await;
    assert!(e.is_too_large(), "{e:?}");
    assert!(
        e.to_string().contains("over the 262144-byte limit"),
        "names the limit: {e}"
    );
    // 5b. A declared Content-Length over the limit is refused before reading.
    let e = startup_error(Mode::DeclaredLength(10 * 1024 * 1024), options()).await;
    assert!(e.is_too_large() && !e.is_discovery(), "{e:?}");
    // 6. A redirect to another origin.
    let s2 = setup().await;
    let e = startup_error(
        Mode::Redirect(format!("http://localhost:{}/jwks", s2.server.addr.port())),
        options(),
    )
    .await;
    assert!(e.is_redirect() && !e.is_discovery(), "{e:?}");
}

#[tokio::test]
async fn a_jwks_with_no_usable_key_is_a_failure_not_an_empty_set() {
    let s = setup().await;
    let mut enc = s.issuer.keys()[0].public_jwk().unwrap();
    enc["use"] = json!("enc");
    s.server
        .set_jwks(json!({"keys": [enc, {"kty": "oct", "k": "AAAA", "kid": "hmac"}]}).to_string());
    match s.builder().build_and_fetch().await.unwrap_err() {
        BuildError::KeySource(e) if e.is_no_usable_keys() => {
            assert_eq!(e.rejected_keys().len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unusable_keys_are_skipped_and_usable_ones_kept() {
    let s = setup().await;
    let mut enc = s.issuer.keys()[0].public_jwk().unwrap();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-key");
    let sig = s.issuer.keys()[0].public_jwk().unwrap();
    s.server.set_jwks(
        json!({"keys": [enc, {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"}, sig]})
            .to_string(),
    );
    let v = s.validator().await;
    assert_eq!(v.remote_keys()[0].stats().keys, 1);
    assert!(v.validate(&s.token()).await.is_ok());
}

#[tokio::test]
async fn the_jwks_size_and_key_count_limits_hold_at_their_edges() {
    let s = setup().await;
    let jwks = s.issuer.jwks_json();
    // Exactly at the size limit: accepted; one byte under: refused.
    let at = s
        .builder()
        .jwks_options(options().max_size(jwks.len()))
        .build_and_fetch()
        .await;
    assert!(at.is_ok());
    let under = s
        .builder()
        .jwks_options(options().max_size(jwks.len() - 1))
        .build_and_fetch()
        .await;
    assert!(
        matches!(&under, Err(BuildError::KeySource(e)) if e.is_too_large() && !e.is_discovery()),
        "{under:?}"
    );
    // Key count: 3 keys with a limit of 3 pass, with a limit of 2 fail.
    let k = s.issuer.keys()[0].public_jwk().unwrap();
    s.server.set_jwks(json!({"keys": [k, k, k]}).to_string());
    assert!(
        s.builder()
            .jwks_options(options().max_keys(3))
            .build_and_fetch()
            .await
            .is_ok()
    );
    let over = s
        .builder()
        .jwks_options(options().max_keys(2))
        .build_and_fetch()
        .await;
    let Err(BuildError::KeySource(e)) = &over else {
        panic!("{over:?}");
    };
    assert!(e.is_invalid_jwks(), "{e:?}");
    assert_eq!(
        jwks_error(e),
        Some(&JwksError::TooManyKeys { count: 3, limit: 2 })
    );
}

#[tokio::test]
async fn lazy_start_answers_503_until_keys_arrive() {
    let s = setup().await;
    s.server.set_mode(Mode::Status(503));
    let v = s.builder().build().unwrap();
    assert!(v.ready().await.is_err());
    assert_eq!(v.remote_keys()[0].stats().status, KeyStatus::Unavailable);
    // No keys: the token cannot be checked (503), it is not refused (401).
    let err = v.validate(&s.token()).await.unwrap_err();
    assert_eq!(err, ValidationError::KeysUnavailable);
    assert!(err.is_unavailable());
    assert_eq!(
        bearer_guard::AuthError::from(err).status(),
        http::StatusCode::SERVICE_UNAVAILABLE
    );
    // The server comes back.
    s.server.set_mode(Mode::Serve);
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&s.token()).await.is_ok());
    assert_eq!(v.remote_keys()[0].stats().status, KeyStatus::Fresh);
}

#[tokio::test]
async fn the_last_good_keys_serve_through_an_outage_until_max_stale_then_recover() {
    let s = setup().await;
    let v = s
        .builder()
        .jwks_options(options().max_stale(Duration::from_secs(3600)))
        .build_and_fetch()
        .await
        .unwrap();
    s.server.set_mode(Mode::Status(500));
    assert!(v.refresh_keys().await.is_err());
    // Degraded but serving.
    assert!(v.validate(&s.token()).await.is_ok());
    let stats = v.remote_keys()[0].stats();
    assert_eq!(stats.status, KeyStatus::Stale);
    assert_eq!(stats.consecutive_failures, 1);
    // At the edge of max_stale: still serving; past it: 503.
    s.clock.advance(3600);
    assert!(v.validate(&s.token()).await.is_ok());
    s.clock.advance(1);
    // (The wait allowed by the cool-down fails against the 500s.)
    assert_eq!(
        v.validate(&s.token()).await.unwrap_err(),
        ValidationError::KeysUnavailable
    );
    assert_eq!(v.remote_keys()[0].stats().status, KeyStatus::Unavailable);
    // Recovery.
    s.server.set_mode(Mode::Serve);
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&s.token()).await.is_ok());
    assert_eq!(v.remote_keys()[0].stats().status, KeyStatus::Fresh);
}

#[tokio::test]
async fn revalidation_uses_etag_and_a_304_keeps_the_set() {
    let s = setup().await;
    *s.server.state.etag.lock().unwrap() = Some("\"v1\"".into());
    let v = s.validator().await;
    v.refresh_keys().await.unwrap();
    assert_eq!(
        s.server.state.last_if_none_match.lock().unwrap().as_deref(),
        Some("\"v1\"")
    );
    let stats = v.remote_keys()[0].stats();
    assert_eq!((stats.fetches, stats.not_modified, stats.keys), (2, 1, 1));
    assert!(v.validate(&s.token()).await.is_ok());
}

#[tokio::test]
async fn revalidation_uses_last_modified() {
    let s = setup().await;
    *s.server.state.last_modified.lock().unwrap() = Some("Wed, 21 Oct 2026 07:28:00 GMT".into());
    let v = s.validator().await;
    v.refresh_keys().await.unwrap();
    assert_eq!(
        s.server
            .state
            .last_if_modified_since
            .lock()
            .unwrap()
            .as_deref(),
        Some("Wed, 21 Oct 2026 07:28:00 GMT")
    );
    assert_eq!(v.remote_keys()[0].stats().not_modified, 1);
}

#[tokio::test]
async fn the_refresh_interval_follows_cache_control() {
    let cases = [
        (Some("max-age=120"), 120),
        (Some("public, max-age=5"), 60),
        (Some("max-age=999999"), 86_400),
        (None, 600),
    ];
    for (cache_control, expected) in cases {
        let s = setup().await;
        *s.server.state.cache_control.lock().unwrap() = cache_control.map(str::to_owned);
        let v = s.validator().await;
        let next = v.remote_keys()[0]
            .stats()
            .next_attempt_in
            .unwrap()
            .as_secs_f64();
        let e = expected as f64;
        assert!(
            next >= e * 0.95 && next <= e * 1.05,
            "{cache_control:?}: {next}"
        );
    }
}

#[tokio::test]
async fn the_background_task_refreshes_on_its_interval() {
    let s = setup().await;
    *s.server.state.cache_control.lock().unwrap() = Some("max-age=0".into());
    let v = s
        .builder()
        .jwks_options(
            options().refresh_bounds(Duration::from_millis(50), Duration::from_millis(50)),
        )
        .build_and_fetch()
        .await
        .unwrap();
    let b = TestKey::generate(Algorithm::ES256).with_kid("b");
    s.server.set_jwks(jwks_of(&[&b]));
    let mut updates = v.remote_keys()[0].updates();
    // Two scheduled refreshes later (no request asked), the new set is in use.
    let deadline = tokio::time::timeout(Duration::from_secs(10), async {
        updates.next().await.unwrap();
        updates.next().await.unwrap()
    });
    let stats = deadline.await.expect("scheduled refreshes");
    assert!(stats.fetches >= 3);
    assert_eq!(stats.on_demand_fetches, 0);
    assert!(
        v.validate(&s.issuer.token().signing_key(&b).sign())
            .await
            .is_ok()
    );
}

/// A refresh bound of zero with a server answering `max-age=0`: start-up
/// returns, and the background task fetches at most once per 10 ms instead
/// of spinning.
#[tokio::test]
async fn a_zero_refresh_interval_neither_spins_nor_hangs_start_up() {
    let s = setup().await;
    *s.server.state.cache_control.lock().unwrap() = Some("max-age=0".into());
    let v = tokio::time::timeout(
        Duration::from_secs(10),
        s.builder()
            .jwks_options(options().refresh_bounds(Duration::ZERO, Duration::ZERO))
            .build_and_fetch(),
    )
    .await
    .expect("start-up returns")
    .unwrap();
    let before = s.server.jwks_hits();
    let start = std::time::Instant::now();
    s.server.wait_for_hits(before + 5).await;
    let elapsed = start.elapsed();
    // At least four full 10 ms intervals between those five fetches.
    assert!(elapsed >= Duration::from_millis(40), "{elapsed:?}");
    assert_eq!(
        v.remote_keys()[0].stats().next_attempt_in,
        Some(Duration::from_millis(10))
    );
}

#[tokio::test]
async fn failed_refreshes_back_off_exponentially() {
    let s = setup().await;
    s.server.set_mode(Mode::Status(500));
    let v = s
        .builder()
        .jwks_options(options().retry_backoff(Duration::from_millis(20), Duration::from_millis(80)))
        .build()
        .unwrap();
    let mut updates = v.remote_keys()[0].updates();
    let mut delays = Vec::new();
    for _ in 0..5 {
        let stats = tokio::time::timeout(Duration::from_secs(10), updates.next())
            .await
            .expect("an attempt")
            .unwrap();
        delays.push(stats.next_attempt_in.unwrap().as_millis());
    }
    assert_eq!(delays, [20, 40, 80, 80, 80]);
    // Recovery resets the schedule to the refresh interval.
    s.server.set_mode(Mode::Serve);
    let stats = tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.status, KeyStatus::Fresh);
    assert!(stats.next_attempt_in.unwrap() >= Duration::from_secs(570));
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed() {
    let s = setup().await;
    // The server answers /moved with a redirect to /jwks on the same origin.
    let v = s
        .builder()
        .jwks_url(format!("{}/moved", s.server.url()))
        .build_and_fetch()
        .await
        .unwrap();
    assert!(v.validate(&s.token()).await.is_ok());
    assert_eq!(s.server.jwks_hits(), 1);
}

#[tokio::test]
async fn the_refresh_task_stops_when_the_validator_is_dropped() {
    let s = setup().await;
    *s.server.state.cache_control.lock().unwrap() = Some("max-age=0".into());
    let v = s
        .builder()
        .jwks_options(
            options().refresh_bounds(Duration::from_millis(20), Duration::from_millis(20)),
        )
        .build_and_fetch()
        .await
        .unwrap();
    let mut updates = v.remote_keys()[0].updates();
    drop(v);
    // The subscription ends when the task and its cache are gone.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while updates.next().await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the refresh task kept running");
}

#[tokio::test]
async fn updates_end_when_the_validator_is_dropped_though_a_handle_remains() {
    let s = setup().await;
    let v = s.validator().await;
    // A health endpoint's handle, kept beyond the validator.
    let keys = v.remote_keys().remove(0);
    let mut updates = keys.updates();
    drop(v);
    let next = tokio::time::timeout(Duration::from_secs(5), updates.next()).await;
    assert!(
        matches!(next, Ok(None)),
        "a subscriber of a dropped validator waits forever while a RemoteKeys handle lives"
    );
    // The handle keeps the last statistics.
    assert!(keys.stats().last_success.is_some());
    assert!(keys.refresh().await.is_err_and(|e| e.is_stopped()));
}

#[tokio::test]
async fn build_needs_a_runtime_for_remote_keys() {
    let s = setup().await;
    let builder = s.builder();
    let err = std::thread::spawn(move || builder.build().unwrap_err())
        .join()
        .unwrap();
    assert!(matches!(err, BuildError::NoRuntime));
}

#[tokio::test]
async fn static_keys_and_remote_keys_combine() {
    let s = setup().await;
    let local = TestKey::generate(Algorithm::EdDSA).with_kid("local");
    let v = s
        .builder()
        .pem_public_key(local.public_pem().unwrap(), Some("local"))
        .build_and_fetch()
        .await
        .unwrap();
    assert!(v.validate(&s.token()).await.is_ok());
    assert!(
        v.validate(&s.issuer.token().signing_key(&local).sign())
            .await
            .is_ok()
    );
    assert_eq!(v.keys().len(), 2);
}

#[test]
fn keys_unavailable_is_a_503_without_a_challenge() {
    let e = bearer_guard::AuthError::from(ValidationError::KeysUnavailable);
    let r: http::Response<()> = e.into_http_response(Some("api"));
    assert_eq!(r.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get(http::header::WWW_AUTHENTICATE).is_none());
}

#[tokio::test]
async fn through_the_layer_unknown_kid_waits_for_the_refresh() {
    use axum::Router;
    use axum::routing::get;
    use bearer_guard::{BearerLayer, Claims};
    let s = setup().await;
    let v = s.validator().await;
    let app = Router::new()
        .route(
            "/me",
            get(|c: Claims| async move { c.subject().unwrap_or_default().to_owned() }),
        )
        .layer(BearerLayer::new(v));
    let addr = common::serve(app).await;
    let b = TestKey::generate(Algorithm::ES256).with_kid("b");
    s.server.set_jwks(jwks_of(&[&s.issuer.keys()[0], &b]));
    s.clock.advance(31);
    let token = s.issuer.token().signing_key(&b).subject("rotated").sign();
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "rotated");
    // With the server down and the keys expired, the layer answers 503.
    s.server.set_mode(Mode::Status(500));
    s.clock.advance(13 * 3600);
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/me"))
        .bearer_auth(s.issuer.token().sign())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("www-authenticate").is_none());
}

#[tokio::test]
async fn cached_tokens_follow_the_key_set_past_max_stale_and_after_removal() {
    let s = setup().await;
    let v = s
        .builder()
        .jwks_options(options().max_stale(Duration::from_secs(600)))
        .build_and_fetch()
        .await
        .unwrap();
    let token = s.issuer.token().expires_in(7200).sign();
    assert!(v.validate(&token).await.is_ok());
    assert_eq!(v.token_cache_len(), Some(1));
    // The key set goes stale beyond max_stale: the cached token is not
    // served either.
    s.server.set_mode(Mode::Status(500));
    s.clock.advance(601);
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::KeysUnavailable
    );
    // Back, but without the key: the cached verification is void.
    s.server.set_mode(Mode::Serve);
    s.server.set_jwks(jwks_of(&[
        &TestKey::generate(Algorithm::ES256).with_kid("other")
    ]));
    v.refresh_keys().await.unwrap();
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::UnknownKeyId
    );
}

/// The attack: an operator configures a JWKS URL carrying credentials (user
/// information, an API key in the query); the key server fails (here: it
/// answers 500, then the redirect goes elsewhere), and every place that
/// reports it (the error's `Display` and `Debug`, logged at warn on every
/// failed refresh; the stats' `jwks_uri`; the health document served by
/// status pages) used to show them verbatim.
#[tokio::test]
async fn credentials_in_a_jwks_url_never_show_in_errors_stats_or_health() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/jwks",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        )
        .route(
            "/moved",
            get(|| async {
                axum::response::Redirect::temporary(
                    "http://u2:pw2@127.0.0.1:1/elsewhere?token=s3cret-redirect",
                )
            }),
        );
    let addr = common::serve(app).await;
    let secrets = ["svc:", "s3cret", "pw2"];
    let check = |what: &str, text: &str| {
        for secret in secrets {
            assert!(!text.contains(secret), "{what} shows {secret:?}: {text}");
        }
    };
    for path in ["jwks", "moved"] {
        let url = format!("http://svc:s3cret-pw@{addr}/{path}?api_key=s3cret-key&v=1");
        let validator = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256)])
            .validator_builder()
            .audience("api")
            .jwks_url(url)
            .allow_insecure_http()
            .build()
            .unwrap();
        let error = validator.ready().await.unwrap_err();
        check("the error's Display", &error.to_string());
        check("the error's Debug", &format!("{error:?}"));
        let stats = validator.remote_keys()[0].stats();
        let last = stats.last_error.clone().expect("a failed fetch");
        check("last_error", &last.to_string());
        check("last_error Debug", &format!("{last:?}"));
        let shown = stats.jwks_uri.clone().expect("the configured URL");
        check("jwks_uri", &shown.to_string());
        check("jwks_uri Debug", &format!("{shown:?}"));
        assert!(
            shown
                .to_string()
                .contains(&format!("{addr}/{path}?api_key=***"))
        );
        let health = serde_json::to_string(&validator.health()).unwrap();
        check("the health document", &health);
        assert!(health.contains("***@"), "{health}");
        check("the validator's Debug", &format!("{validator:?}"));
    }
}

/// A key configured without `kid` (a legacy signer's PEM) beside a remote
/// JWKS: a token naming a `kid` no key has, which that key does not
/// verify, is a `kid` the cache has not seen (a rotation), and fetches it,
/// once per cool-down. It was refused as a bad signature, without a fetch,
/// until the scheduled refresh.
#[tokio::test]
async fn a_rotated_kid_is_fetched_even_beside_a_key_configured_without_kid() {
    let s = common::as_server::setup("payments").await;
    // A legacy signer's key, configured locally without a kid.
    let legacy = bearer_guard::testing::TestKey::generate(bearer_guard::keys::Algorithm::ES256);
    let v = bearer_guard::Validator::builder()
        .issuer(s.issuer.issuer())
        .audience("payments")
        .clock(s.clock.clone())
        .allow_insecure_http()
        .jwks_url(s.server.jwks_url())
        .jwks_options(
            bearer_guard::jwks::JwksOptions::default()
                .fetch_timeout(std::time::Duration::from_millis(500)),
        )
        .pem_public_key(legacy.public_pem().unwrap(), None)
        .build_and_fetch()
        .await
        .expect("validator");
    assert!(v.validate(&s.issuer.token().sign()).await.is_ok());

    // The AS rotates: a new key `b` is published.
    let b = bearer_guard::testing::TestKey::generate(bearer_guard::keys::Algorithm::ES256)
        .with_kid("b");
    s.server.set_jwks(serde_json::json!({ "keys": [s.issuer.keys()[0].public_jwk().unwrap(), b.public_jwk().unwrap()] }).to_string());
    s.clock.advance(31); // past the cool-down
    let token_b = s.issuer.token().signing_key(&b).sign();
    let result = v.validate(&token_b).await;
    assert!(
        result.is_ok(),
        "a genuine token signed with the rotated key `b` was refused: {result:?} (JWKS hits: {})",
        s.server.jwks_hits()
    );
}

/// A request that sees the new set (here `Validator::keys`, which reads
/// the current set) is followed, on the same thread, by a hit on a cached
/// token of a key that very set withdrew: the hit must refuse. While the
/// withdrawal count (`JwksCache::unchanged_since`) moved only after the set
/// was swapped in, the shortcut accepted such tokens in 60 – 300 of 400
/// rounds; it now moves before the swap too. Each round caches a fresh
/// token of `b`, withdraws `b` with 98 other keys (whose drop widened the
/// gap), and a thread validates the cached token as soon as the withdrawal
/// is visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_token_is_refused_once_its_keys_withdrawal_is_visible() {
    let s = setup().await;
    let a = s.issuer.keys()[0].clone();
    let b = TestKey::generate(Algorithm::ES256).with_kid("b");
    // More keys withdrawn with `b` (within the default `max_keys`).
    let others: Vec<TestKey> = (0..98)
        .map(|i| TestKey::generate(Algorithm::ES256).with_kid(format!("o{i}")))
        .collect();
    let mut all = vec![&a, &b];
    all.extend(others.iter());
    let with = jwks_of(&all);
    let without = jwks_of(&[&a]);
    s.server.set_jwks(with.clone());
    let v = s.validator().await;
    let mut accepted_after_withdrawal = 0;
    let rounds = 400;
    for round in 0..rounds {
        s.server.set_jwks(with.clone());
        v.refresh_keys().await.unwrap();
        assert_eq!(v.keys().len(), 100);
        let token = s
            .issuer
            .token()
            .signing_key(&b)
            .claim("round", round)
            .expires_in(7200)
            .sign();
        assert!(v.validate(&token).await.is_ok());
        s.server.set_jwks(without.clone());
        let refreshed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinner = {
            let v = v.clone();
            let refreshed = refreshed.clone();
            let handle = tokio::runtime::Handle::current();
            std::thread::spawn(move || {
                let _entered = handle.enter();
                loop {
                    if v.keys().len() == 1 {
                        // The withdrawal is visible: the full check refuses.
                        return poll_once(v.validate(&token));
                    }
                    if refreshed.load(std::sync::atomic::Ordering::Acquire) && v.keys().len() != 1 {
                        return None;
                    }
                }
            })
        };
        let refresh = v.refresh_keys().await;
        refreshed.store(true, std::sync::atomic::Ordering::Release);
        let outcome = spinner.join().unwrap();
        refresh.unwrap();
        if let Some(Ok(_)) = outcome {
            accepted_after_withdrawal += 1;
        }
    }
    assert_eq!(
        accepted_after_withdrawal, 0,
        "cached tokens of a withdrawn key accepted after the withdrawal was visible, in {accepted_after_withdrawal} of {rounds} rounds"
    );
}

/// A key replaced under the same `kid` (new material) refuses the cached
/// tokens of the old one; the old key served again (A-B-A) accepts them
/// again, as the full check does.
#[tokio::test]
async fn cached_tokens_across_replacement_and_return_of_their_key() {
    let s = setup().await;
    let a = &s.issuer.keys()[0];
    let b1 = TestKey::generate(Algorithm::ES256).with_kid("b");
    let b2 = TestKey::generate(Algorithm::ES256).with_kid("b");
    s.server.set_jwks(jwks_of(&[a, &b1]));
    let v = s.validator().await;
    let token_b1 = s.issuer.token().signing_key(&b1).expires_in(7200).sign();
    let token_a = s.issuer.token().expires_in(7200).sign();
    assert!(v.validate(&token_b1).await.is_ok());
    assert!(v.validate(&token_a).await.is_ok());
    // Replaced under the same kid.
    s.server.set_jwks(jwks_of(&[a, &b2]));
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&token_b1).await.is_err());
    assert!(v.validate(&token_a).await.is_ok());
    // Back again: verifies anew, cached; then an addition only keeps it.
    s.server.set_jwks(jwks_of(&[a, &b1]));
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&token_b1).await.is_ok());
    let c = TestKey::generate(Algorithm::ES256).with_kid("c");
    s.server.set_jwks(jwks_of(&[a, &b1, &c]));
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&token_b1).await.is_ok());
    // Withdrawn again, after a refresh that only added keys.
    s.server.set_jwks(jwks_of(&[a, &c]));
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&token_b1).await.is_err());
    assert!(v.validate(&token_a).await.is_ok());
}

/// A set past `max_stale` refuses cached tokens of fetched keys; a 304 from
/// the server revives the same set (they pass again); a 200 that withdraws
/// a key while the set was stale refuses that key's tokens.
#[tokio::test]
async fn cached_tokens_across_staleness_revival_and_a_withdrawal_while_stale() {
    let s = setup().await;
    let a = &s.issuer.keys()[0];
    let b = TestKey::generate(Algorithm::ES256).with_kid("b");
    s.server.set_jwks(jwks_of(&[a, &b]));
    *s.server.state.etag.lock().unwrap() = Some("\"v1\"".into());
    let v = s
        .builder()
        .jwks_options(options().max_stale(Duration::from_secs(600)))
        .build_and_fetch()
        .await
        .unwrap();
    let token_b = s.issuer.token().signing_key(&b).expires_in(7200).sign();
    let token_a = s.issuer.token().expires_in(7200).sign();
    assert!(v.validate(&token_b).await.is_ok());
    assert!(v.validate(&token_a).await.is_ok());
    s.server.set_mode(Mode::Status(500));
    s.clock.advance(601);
    assert!(v.validate(&token_b).await.is_err());
    assert!(v.validate(&token_a).await.is_err());
    // Served again: a 304 (same etag) revives the set.
    s.server.set_mode(Mode::Serve);
    v.refresh_keys().await.unwrap();
    assert_eq!(v.remote_keys()[0].stats().not_modified, 1);
    assert!(v.validate(&token_b).await.is_ok());
    assert!(v.validate(&token_a).await.is_ok());
    // Stale again; the server now withdraws `b`.
    s.server.set_mode(Mode::Status(500));
    s.clock.advance(601);
    s.server.set_jwks(jwks_of(&[a]));
    *s.server.state.etag.lock().unwrap() = Some("\"v2\"".into());
    s.server.set_mode(Mode::Serve);
    v.refresh_keys().await.unwrap();
    assert!(v.validate(&token_b).await.is_err());
    assert!(v.validate(&token_a).await.is_ok());
    // Within max_stale, then past it with no fetch at all.
    s.clock.advance(599);
    assert!(v.validate(&token_a).await.is_ok());
    s.server.set_mode(Mode::Status(500));
    s.clock.advance(2);
    assert!(v.validate(&token_a).await.is_err());
}
