//! DPoP proofs (RFC 9449), structure-aware: the proof's header and claims
//! are generated from the real vocabulary (typ, alg, jwk, htm, htu, iat,
//! ath, jti, nonce...) with arbitrary values and Unicode, signed with the
//! client's key, and checked with a DPoP-bound token; or the input is the
//! proof text itself.
//!
//! Invariants: never a panic; an accepted proof is for the request (GET,
//! the URI, the token), by the key the token is bound to, and is refused
//! as a replay the second time.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use bearer_guard::testing::{DpopKey, TestIssuer, TestKey};
use bearer_guard::{
    ValidationError, Validator,
    dpop::{DpopError, DpopOptions},
    keys::Algorithm,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const URI: &str = "https://api.example.com/orders";

struct Fixture {
    validator: Validator,
    client: DpopKey,
    token: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let issuer = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::EdDSA)])
            .default_audience("api");
        let validator = issuer
            .validator_builder()
            .audience("api")
            .dpop(DpopOptions::new())
            .build()
            .unwrap();
        let client = DpopKey::generate(Algorithm::EdDSA);
        let token = issuer
            .token()
            .dpop_bound(&client)
            .expires_in(1 << 30)
            .sign();
        Fixture {
            validator,
            client,
            token,
        }
    })
}

fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

const NAMES: &[&str] = &[
    "typ", "alg", "jwk", "kid", "crit", "jku", "x5c", "jti", "htm", "htu", "iat", "ath", "nonce",
    "exp", "nbf", "cnf", "d", "kty", "crv", "x", "y", "n", "e", "",
];
const STRINGS: &[&str] = &[
    "dpop+jwt",
    "DPOP+JWT",
    "jwt",
    "EdDSA",
    "ES256",
    "RS256",
    "HS256",
    "none",
    "GET",
    "get",
    "POST",
    URI,
    "HTTPS://API.EXAMPLE.COM:443/orders?x#y",
    "https://api.example.com/orders/",
    "https://api.example.com/./orders",
    "https://evil.example/orders",
    "/orders",
    "OKP",
    "Ed25519",
    "EC",
    "P-256",
    "é",
    "\u{202e}",
    "\u{feff}",
    "\0",
    "a\u{301}",
    "",
];

#[derive(Arbitrary, Debug)]
enum Val {
    Name(u8),
    Text(String),
    Int(i64),
    /// Seconds from now.
    Offset(i16),
    Bool(bool),
    Null,
    /// The client's public JWK, another key's, or a JWK with a private
    /// member.
    Jwk(u8),
    /// The token's hash, or another's.
    Ath(bool),
    Array(Vec<u8>),
    Spliced {
        base: u8,
        at: u8,
        text: String,
    },
}

fn value(v: &Val, f: &Fixture) -> Value {
    let s = |i: &u8| STRINGS[*i as usize % STRINGS.len()].to_owned();
    match v {
        Val::Name(i) => json!(s(i)),
        Val::Text(t) => json!(t),
        Val::Int(i) => json!(i),
        Val::Offset(o) => json!(bearer_guard::Clock::System.now() + i64::from(*o)),
        Val::Bool(b) => json!(b),
        Val::Null => Value::Null,
        Val::Jwk(k) => {
            let mut jwk = f.client.public_jwk();
            match k % 4 {
                0 => {}
                1 => jwk["d"] = json!("AAAA"),
                2 => jwk["x"] = json!("AAAA"),
                _ => jwk = json!({"kty": "oct", "k": "AAAA"}),
            }
            jwk
        }
        Val::Ath(ours) => {
            let proof = f
                .client
                .proof("GET", URI, if *ours { &f.token } else { "other" })
                .sign();
            // The ath the builder computed, read back from the payload.
            let payload = proof.split('.').nth(1).unwrap_or_default();
            let claims: Value = serde_json::from_slice(&base64_decode(payload).unwrap_or_default())
                .unwrap_or_default();
            claims["ath"].clone()
        }
        Val::Array(items) => Value::Array(items.iter().map(|i| json!(s(i))).collect()),
        Val::Spliced { base, at, text } => {
            let mut b = s(base);
            let mut at = *at as usize % (b.len() + 1);
            while !b.is_char_boundary(at) {
                at -= 1;
            }
            b.insert_str(at, text);
            json!(b)
        }
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    // Unpadded base64url, enough for a payload.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = A.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Option<String>,
    header: Vec<(u8, Val)>,
    claims: Vec<(u8, Val)>,
    remove_header: Vec<u8>,
    remove_claims: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let f = fixture();
    let proof = match &input.raw {
        Some(raw) => raw.clone(),
        None => {
            let mut p = f.client.proof("GET", URI, &f.token);
            let name = |i: &u8| NAMES[*i as usize % NAMES.len()];
            for i in &input.remove_header {
                p = p.without_header(name(i));
            }
            for i in &input.remove_claims {
                p = p.without_claim(name(i));
            }
            for (n, v) in input.header.iter().take(8) {
                p = p.header(name(n), value(v, f));
            }
            for (n, v) in input.claims.iter().take(8) {
                p = p.claim(name(n), value(v, f));
            }
            p.sign()
        }
    };
    let Some(result) = now_or_never(f.validator.validate_dpop(&f.token, &proof, "GET", URI)) else {
        panic!("a DPoP validation with local keys waited");
    };
    if let Ok(claims) = result {
        assert_eq!(
            claims.dpop_thumbprint(),
            Some(f.client.thumbprint().as_str())
        );
        let again = now_or_never(f.validator.validate_dpop(&f.token, &proof, "GET", URI));
        assert_eq!(
            again.map(|r| r.map(|_| ())),
            Some(Err(ValidationError::Dpop(DpopError::Replayed)))
        );
    }
});
