//! The verified-token cache: hits re-check the clock, never confuse two
//! tokens, hold only verified tokens, stay within capacity.

use crate::common;

use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{ValidationError, Validator, keys::Algorithm, testing::ManualClock};
use common::{AUDIENCE, issuer};

const T0: i64 = 2_000_000_000;

fn timed() -> (ManualClock, TestIssuer, Validator) {
    let clock = ManualClock::new(T0);
    let issuer = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256)])
        .default_audience(AUDIENCE)
        .clock(clock.clone());
    let v = issuer.validator();
    (clock, issuer, v)
}

#[tokio::test]
async fn a_token_seen_before_is_served_from_one_entry() {
    let v = issuer().validator();
    let token = issuer().token().sign();
    for _ in 0..5 {
        assert!(v.validate(&token).await.is_ok());
    }
    assert_eq!(v.token_cache_len(), Some(1));
    let other = issuer().token().sign();
    assert!(v.validate(&other).await.is_ok());
    assert_eq!(v.token_cache_len(), Some(2));
}

#[tokio::test]
async fn a_hit_re_checks_expiry_against_the_clock() {
    let (clock, issuer, v) = timed();
    let token = issuer.token().expires_in(100).sign();
    assert!(v.validate(&token).await.is_ok());
    clock.advance(100 + 59);
    assert!(v.validate(&token).await.is_ok(), "inside the leeway");
    clock.advance(1);
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::Expired
    );
}

#[tokio::test]
async fn a_token_differing_from_a_cached_one_is_verified_on_its_own() {
    let v = issuer().validator();
    let token = issuer().token().sign();
    assert!(v.validate(&token).await.is_ok());
    // Same header and payload, another signature.
    let (input, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{input}.AAAA");
    assert_eq!(
        v.validate(&forged).await.unwrap_err(),
        ValidationError::InvalidSignature
    );
    // A one-character change anywhere.
    let mut bytes = token.clone().into_bytes();
    let last = bytes.len() - 1;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let tweaked = String::from_utf8(bytes).unwrap();
    assert!(v.validate(&tweaked).await.is_err());
    assert_eq!(v.token_cache_len(), Some(1));
}

#[tokio::test]
async fn only_verified_tokens_are_cached() {
    let v = issuer().validator();
    for bad in [
        issuer().token().expires_in(-3600).sign(),
        issuer().token().audience("other").sign(),
        issuer().token().tampered(),
        "garbage".to_owned(),
    ] {
        assert!(v.validate(&bad).await.is_err());
        assert!(v.validate(&bad).await.is_err(), "refused again");
    }
    assert_eq!(v.token_cache_len(), Some(0));
}

#[tokio::test]
async fn the_cache_stays_within_its_capacity() {
    let v = common::cache_of(10);
    for _ in 0..50 {
        assert!(v.validate(&issuer().token().sign()).await.is_ok());
    }
    let len = v.token_cache_len().unwrap();
    assert!(len <= 10, "{len}");
}

/// The capacity counts tokens by the KiB: a 3 KiB token weighs three
/// 1 KiB ones, so large tokens cannot make the cache's memory grow past
/// what its capacity allows.
#[tokio::test]
async fn a_large_token_weighs_once_per_kib() {
    let v = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .token_cache_capacity(9)
        .build()
        .unwrap();
    let padding = "p".repeat(1400);
    for _ in 0..10 {
        let token = issuer().token().claim("padding", padding.as_str()).sign();
        assert!((2049..=3072).contains(&token.len()), "{}", token.len());
        assert!(v.validate(&token).await.is_ok());
    }
    let len = v.token_cache_len().unwrap();
    assert!((1..=3).contains(&len), "{len} tokens of 3 units in 9 units");
    // Small tokens still fill it one unit each.
    for _ in 0..20 {
        assert!(v.validate(&issuer().token().sign()).await.is_ok());
    }
    let len = v.token_cache_len().unwrap();
    assert!((4..=9).contains(&len), "{len}");
}

/// Claims that take far more memory than their token (thousands of tiny
/// array elements: 2 bytes of JSON, 32 of memory each) weigh by their
/// memory, so the capacity bounds the cache's memory whatever the claims.
#[tokio::test]
async fn claims_that_expand_in_memory_weigh_by_their_memory() {
    let v = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .token_cache_capacity(100)
        .build()
        .unwrap();
    let zeros = serde_json::Value::Array(vec![serde_json::Value::from(0); 1200]);
    for _ in 0..10 {
        let token = issuer().token().claim("x", zeros.clone()).sign();
        // Under 4 KiB of token (4 units by size), about 38 KB of claims
        // (19 units by memory).
        assert!(token.len() <= 4096, "{}", token.len());
        assert!(v.validate(&token).await.is_ok());
    }
    let len = v.token_cache_len().unwrap();
    assert!(len <= 5, "{len} tokens of 19 units in 100 units");
}

#[tokio::test]
async fn capacity_zero_turns_the_cache_off() {
    let (_, issuer, _) = timed();
    let v = issuer
        .validator_builder()
        .audience(AUDIENCE)
        .token_cache_capacity(0)
        .build()
        .unwrap();
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(v.token_cache_len(), None);
}

/// A clock stepped back (NTP, a resumed VM) makes a cached token exactly
/// as valid as a fresh validation would: its `iat` (and `nbf`) are checked
/// again on every hit, with the leeway.
#[tokio::test]
async fn a_hit_after_the_clock_steps_back_is_judged_as_a_fresh_validation() {
    let (clock, issuer, v) = timed();
    let fresh = issuer
        .validator_builder()
        .audience(AUDIENCE)
        .token_cache_capacity(0)
        .build()
        .unwrap();
    for token in [
        issuer.token().sign(),
        issuer.token().claim("nbf", T0).sign(),
    ] {
        clock.set(T0);
        assert!(v.validate(&token).await.is_ok());
        clock.advance(-60);
        assert!(v.validate(&token).await.is_ok(), "inside the leeway");
        clock.advance(-1);
        let expected = fresh.validate(&token).await.unwrap_err();
        assert_eq!(v.validate(&token).await.unwrap_err(), expected, "cache hit");
    }
}
