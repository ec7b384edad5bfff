//! The verified-token cache from inside: what a lookup costs in SHA-256s,
//! what two tokens under one key get, what the claims of a kept token are.
//! (Here, not in `validator`: the validator may not import `testing`.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::claims::Claims;
use crate::digest::COMPUTED;
use crate::testing::TestIssuer;
use crate::validator::{Attempt, ValidationError};

fn done(attempt: Attempt) -> Result<Claims, ValidationError> {
    match attempt {
        Attempt::Done(result) => result,
        Attempt::Pending(_) => Err(ValidationError::KeysUnavailable),
    }
}

/// SHA-256s computed while `f` ran.
fn digests(f: impl FnOnce()) -> usize {
    let before = COMPUTED.with(std::cell::Cell::get);
    f();
    COMPUTED.with(std::cell::Cell::get) - before
}

#[test]
fn a_jwt_costs_no_sha256_and_one_when_traced() {
    let issuer = TestIssuer::new();
    let v = issuer.validator();
    let token = issuer.token().sign();
    let validate = |t: &str| assert!(done(v.attempt(t)).is_ok());
    assert_eq!(digests(|| validate(&token)), 0, "verified");
    assert_eq!(digests(|| validate(&token)), 0, "cached");
    let traced = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(traced, || {
        let token = issuer.token().claim("n", 2).sign();
        assert_eq!(digests(|| validate(&token)), 1, "verified, traced");
        assert_eq!(digests(|| validate(&token)), 1, "cached, traced");
    });
}

/// Two tokens may share a key (the key is a 64-bit hash): a hit counts
/// only for the token the entry keeps.
#[test]
fn a_token_under_another_tokens_key_is_never_given_its_claims() {
    let issuer = TestIssuer::new();
    let v = issuer.validator();
    let alice = issuer.token().subject("alice").sign();
    assert!(done(v.attempt(&alice)).is_ok());
    let cache = v.token_cache().unwrap();
    let (_, entry) = cache.get(alice.as_bytes()).unwrap();
    for other in ["x.y.z", &issuer.token().subject("mallory").sign()] {
        cache.insert_under(cache.key(other.as_bytes()), entry.clone());
        let result = done(v.attempt(other));
        assert_ne!(
            result.as_ref().ok().and_then(Claims::subject),
            Some("alice"),
            "{other} got alice's claims"
        );
    }
    assert_eq!(
        done(v.attempt(&alice)).unwrap().subject(),
        Some("alice"),
        "alice's own entry is intact"
    );
}

/// The claims a request gets are the cache's (the token kept, the
/// claims parsed again when read by name): the same as the token's.
#[test]
fn claims_read_from_a_cached_token_are_the_tokens() {
    let issuer = TestIssuer::new();
    let v = issuer.validator();
    let token = issuer
        .token()
        .subject("alice")
        .claim("tenant", "acme")
        .scope("orders:read")
        .sign();
    let first = done(v.attempt(&token)).unwrap();
    let again = done(v.attempt(&token)).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let decoded = URL_SAFE_NO_PAD.decode(payload).unwrap();
    let expected: Map<String, Value> = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(first.as_json(), &expected);
    assert_eq!(again.as_json(), &expected);
    assert_eq!(again.subject(), Some("alice"));
    assert!(again.scopes().contains("orders:read"));
}
