//! The JWT path of `Validator::validate`, two ways:
//! - the input as a raw token (shape, base64url, header parsing, key
//!   selection, signature);
//! - the input split into a header and a claims document that are then
//!   HMAC-signed with the validator's secret, so that the claim checks
//!   after the signature are reached too.
//! Either way: an answer, never a panic.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use bearer_guard::{
    Validator,
    keys::{Algorithm, SigningKey},
};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-fuzzing";
const JWKS: &str = r#"{"keys":[
 {"kty":"EC","crv":"P-256","kid":"ec","use":"sig",
  "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
 {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
 {"kty":"RSA","kid":"rsa","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}]}"#;

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        Validator::builder()
            .issuer("https://issuer.test")
            .audience("api")
            .jwks_json(JWKS)
            .hmac_secret(SECRET, Algorithm::HS256, Some("hs"))
            .token_cache_capacity(64)
            .build()
            .expect("validator")
    })
}

fn run(token: &str) {
    let mut cx = Context::from_waker(Waker::noop());
    // Local keys: validation never waits.
    assert!(matches!(
        pin!(validator().validate(token)).poll(&mut cx),
        Poll::Ready(_)
    ));
}

fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, rest)) => {
            let mut parts = rest.splitn(2, |b| *b == 0);
            let header = parts.next().unwrap_or_default();
            let claims = parts.next().unwrap_or_default();
            let input = format!("{}.{}", b64(header), b64(claims));
            let key = SigningKey::hmac(SECRET, Algorithm::HS256).expect("key");
            let sig = key
                .sign(Algorithm::HS256, input.as_bytes())
                .expect("signature");
            run(&format!("{input}.{}", b64(&sig)));
        }
        _ => run(&String::from_utf8_lossy(data)),
    }
});
