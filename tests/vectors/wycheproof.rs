//! Project Wycheproof JWS and JWK vectors (tests/vectors/wycheproof), run
//! through key loading, header checks and signature verification.
//!
//! The vectors' payloads are not JWT claims sets, so these tests stop after
//! the signature; claims have their own tests.
//!
//! Key material is loaded the way a user of this crate would load it: a
//! group's `public` keys as a JWKS ([`KeySet::from_jwks`], which refuses
//! symmetric keys); its `private` material, when there is no public form, as
//! explicitly configured HMAC secrets ([`VerificationKey::hmac`]).
//!
//! A few vectors disagree with a deliberate choice of this crate, or with
//! each other; [`DEVIATIONS`] lists each with the reason and the exact error
//! this crate answers, and the test checks that error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::jwt::{HeaderRules, Jws, TypPolicy};
use crate::keys::{Algorithm, AlgorithmSet, KeySet, VerificationKey};
use crate::validator::ValidationError;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/tests/vectors/wycheproof/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).expect("vector file")).expect("vector JSON")
}

/// Loads one JWK the way this crate would: public keys through the JWK
/// parser, `oct` keys as an explicitly configured HMAC secret.
fn key(jwk: &Value) -> Option<VerificationKey> {
    if jwk["kty"] == "oct" {
        let secret = URL_SAFE_NO_PAD.decode(jwk["k"].as_str()?).ok()?;
        let alg: Algorithm = jwk["alg"].as_str().unwrap_or("HS256").parse().ok()?;
        let key = VerificationKey::hmac(&secret, alg).ok()?;
        return Some(match jwk["kid"].as_str() {
            Some(kid) => key.with_kid(kid),
            None => key,
        });
    }
    VerificationKey::from_jwk(jwk).ok()
}

fn key_set(group: &Value) -> KeySet {
    if !group["public"].is_null() {
        let public = &group["public"];
        let jwks = if public.get("keys").is_some() {
            public.clone()
        } else {
            serde_json::json!({ "keys": [public] })
        };
        return KeySet::from_jwks(jwks.to_string().as_bytes()).expect("JWKS");
    }
    let private = &group["private"];
    let jwks: Vec<&Value> = match private.get("keys").and_then(Value::as_array) {
        Some(keys) => keys.iter().collect(),
        None => vec![private],
    };
    let mut set = KeySet::new();
    for jwk in jwks {
        if let Some(k) = key(jwk) {
            set.push(k);
        }
    }
    set
}

/// Vectors whose verdict this crate does not share, by file and tcId, with
/// the error it answers instead and why.
const DEVIATIONS: &[(&str, u64, &str)] = &[
    // RFC 7520 Figure 20 is PS384, but the vector's key says `alg: PS256`:
    // a key is bound to its `alg` (RFC 7517 §4.4), so PS384 is refused.
    (
        "json_web_signature_test.json",
        346,
        "KeyAlgorithmMismatch(PS384)",
    ),
    (
        "json_web_signature_test.json",
        350,
        "KeyAlgorithmMismatch(PS384)",
    ),
    // RFC 7520 Figure 27 is ES512 (P-521), which this crate does not
    // implement; its key (`alg: ES521`) is refused when loaded.
    ("json_web_signature_test.json", 347, "UnsupportedAlgorithm"),
    ("json_web_signature_test.json", 351, "UnsupportedAlgorithm"),
    // These two strings are byte-identical to tcId 357, which the same file
    // marks valid: the vectors contradict each other; the signature is good.
    ("json_web_signature_test.json", 367, "Ok"),
    ("json_web_signature_test.json", 370, "Ok"),
    // Marked valid, but a '?' is not a base64url character (RFC 7515 §2):
    // refused, as strict decoding must.
    ("json_web_signature_test.json", 372, "Malformed(Base64)"),
    ("json_web_signature_test.json", 373, "InvalidSignature"),
    // A configured HMAC secret beside a public key: each key only verifies
    // its own algorithm family, so mixing them opens no confusion attack.
    ("json_web_key_test.json", 1, "Ok"),
    // Two configured secrets share a kid: each is tried (see KeySet), as a
    // JWKS that repeats a kid during a rotation must keep working.
    ("json_web_key_test.json", 4, "Ok"),
];

/// Signature-level verification, then base64url decoding of the payload
/// (which the validator does before parsing claims).
fn verify(token: &str, keys: &KeySet) -> Result<(), ValidationError> {
    let rules = HeaderRules {
        algorithms: Algorithm::ALL.into_iter().collect::<AlgorithmSet>(),
        typ: TypPolicy::default(),
    };
    let jws = Jws::parse(token)?;
    let alg = jws.check(&rules)?;
    jws.verify(alg, token, keys)?;
    jws.payload(token).map(drop).map_err(Into::into)
}

/// Runs every test of a vector file; returns how many ran.
fn run(file: &str) -> usize {
    let doc = load(file);
    let mut ran = 0;
    let mut failures = Vec::new();
    for group in doc["testGroups"].as_array().expect("groups") {
        let keys = key_set(group);
        for test in group["tests"].as_array().expect("tests") {
            let token = match &test["jws"] {
                Value::String(s) => s.clone(),
                // JSON serialization: not a compact JWS, passed as text.
                other => other.to_string(),
            };
            let outcome = verify(&token, &keys);
            let id = match &test["tcId"] {
                Value::String(s) => s.parse().expect("tcId"),
                other => other.as_u64().expect("tcId"),
            };
            let expected = test["result"].as_str().expect("result");
            let ok = if let Some((_, _, answer)) =
                DEVIATIONS.iter().find(|(f, i, _)| *f == file && *i == id)
            {
                let got = match &outcome {
                    Ok(()) => "Ok".to_owned(),
                    Err(e) => format!("{e:?}"),
                };
                got == *answer
            } else {
                match expected {
                    "valid" => outcome.is_ok(),
                    "invalid" => outcome.is_err(),
                    _ => true,
                }
            };
            if !ok {
                failures.push(format!(
                    "{} #{id} {} ({file}): expected {expected}, got {outcome:?}",
                    group["comment"], test["comment"]
                ));
            }
            ran += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    ran
}

#[test]
fn wycheproof_json_web_signature_vectors() {
    let ran = run("json_web_signature_test.json");
    assert_eq!(ran, 401);
}

#[test]
fn wycheproof_json_web_key_vectors() {
    let ran = run("json_web_key_test.json");
    assert_eq!(ran, 26);
}
