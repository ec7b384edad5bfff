//! Shared by the benchmarks: fixtures, a no-wait executor for local
//! validation, and the ratio table read back from criterion's estimates.

#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    Validator,
    keys::{Algorithm, SigningKey},
};

pub const AUDIENCE: &str = "bench-api";

/// Runs a future that completes without waiting (local keys never wait).
pub fn now<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("validation waited"),
    }
}

/// An issuer with one key for `alg`, and a token like a real
/// client-credentials access token (about 600 bytes for RS256).
pub struct Fixture {
    pub name: &'static str,
    pub alg: Algorithm,
    pub issuer: TestIssuer,
    pub token: String,
}

impl Fixture {
    pub fn new(name: &'static str, alg: Algorithm) -> Self {
        let issuer = TestIssuer::with_keys(vec![fixed_key(alg)]).default_audience(AUDIENCE);
        let token = issuer
            .token()
            .scope("charge:customer orders:read")
            .expires_in(24 * 3600)
            .sign();
        Fixture {
            name,
            alg,
            issuer,
            token,
        }
    }

    /// A validator with the verified-token cache off (every call is cold).
    pub fn cold(&self) -> Validator {
        self.issuer
            .validator_builder()
            .audience(AUDIENCE)
            .token_cache_capacity(0)
            .build()
            .expect("validator")
    }

    /// A validator with the cache on, already holding the token.
    pub fn warm(&self) -> Validator {
        let v = self.issuer.validator();
        now(v.validate(&self.token)).expect("valid");
        v
    }

    /// The same checks, set up for `jsonwebtoken::decode` (aws-lc-rs).
    pub fn floor(&self) -> (jsonwebtoken::DecodingKey, jsonwebtoken::Validation) {
        let key = &self.issuer.keys()[0];
        let decoding = match key.public_jwk() {
            Some(jwk) => {
                let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).expect("jwk");
                jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key")
            }
            None => jsonwebtoken::DecodingKey::from_secret(key.secret().expect("secret")),
        };
        let mut validation = jsonwebtoken::Validation::new(self.alg.as_str().parse().expect("alg"));
        validation.set_issuer(&[self.issuer.issuer()]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<serde_json::Value>(&self.token, &decoding, &validation)
            .expect("jsonwebtoken accepts the token");
        (decoding, validation)
    }
}

/// A key read from benches/keys (the same in every run, so that instruction
/// counts do not include a random key generation).
pub fn fixed_key(alg: Algorithm) -> TestKey {
    let pem: &[u8] = match alg {
        Algorithm::ES256 => include_bytes!("../keys/p256.pem"),
        Algorithm::EdDSA => include_bytes!("../keys/ed25519.pem"),
        Algorithm::HS256 => {
            return TestKey::from_signing_key(
                SigningKey::hmac(b"bench-secret-bench-secret-bench-secret", alg).expect("secret"),
            );
        }
        _ => include_bytes!("../keys/rsa2048.pem"),
    };
    TestKey::from_signing_key(SigningKey::from_pem(pem, alg).expect("bench key"))
}

/// criterion's mean estimate (ns) for `group/function`, from this run.
pub fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| {
        // The workspace's target directory, at the root beside this package.
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into()
    });
    let path = format!(
        "{dir}/criterion/{}/{function}/new/estimates.json",
        group.replace('/', "_")
    );
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// Whether the CI gate is on (`BEARER_GUARD_BENCH_GATE=1`).
pub fn gate() -> bool {
    std::env::var("BEARER_GUARD_BENCH_GATE").is_ok_and(|v| v == "1")
}

/// The aws-lc key that verifies the proofs of a DPoP client key (ES256 or
/// EdDSA), parsed once: the floor a proof's check is measured against.
pub fn dpop_floor_key(
    client: &bearer_guard::testing::DpopKey,
    alg: Algorithm,
) -> aws_lc_rs::signature::ParsedPublicKey {
    use aws_lc_rs::signature::{self, ParsedPublicKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = client.public_jwk();
    let b64 = |m: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[m].as_str().expect("jwk member"))
            .expect("base64url")
    };
    match alg {
        Algorithm::ES256 => {
            let mut point = vec![4u8];
            point.extend(b64("x"));
            point.extend(b64("y"));
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
        }
        Algorithm::EdDSA => ParsedPublicKey::new(&signature::ED25519, b64("x")),
        other => panic!("no DPoP floor for {other:?}"),
    }
    .expect("public key")
}
