//! `Validator::validate` end to end, with real keys and tokens: every check
//! accepts what it must and refuses with its own error kind.

use crate::common;

use std::time::Duration;

use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BuildError, ValidationError, Validator,
    jwt::{Malformed, TypPolicy},
    keys::{Algorithm, KeyError},
    testing::ManualClock,
};
use common::{AUDIENCE, issuer, stranger};
use serde_json::json;

fn validator() -> Validator {
    issuer().validator()
}

async fn check(token: &str) -> Result<bearer_guard::Claims, ValidationError> {
    validator().validate(token).await
}

async fn refused(token: &str) -> ValidationError {
    check(token).await.expect_err("token must be refused")
}

#[tokio::test]
async fn accepts_a_token_from_each_asymmetric_algorithm() {
    for kid in ["rs256", "ps256", "es256", "es384", "eddsa"] {
        let token = issuer().token().key(kid).sign();
        let claims = check(&token).await.unwrap_or_else(|e| panic!("{kid}: {e}"));
        assert_eq!(claims.issuer(), Some(issuer().issuer()));
    }
}

#[tokio::test]
async fn an_rsa_key_without_alg_verifies_every_rsa_algorithm() {
    // The issuer's JWKS names alg; the same key published without it may
    // verify RS* and PS*.
    let key = &issuer().keys()[0];
    let mut jwk = key.public_jwk().unwrap();
    jwk.as_object_mut().unwrap().remove("alg");
    let v = Validator::builder()
        .issuer(issuer().issuer())
        .audience(AUDIENCE)
        .jwks_json(json!({ "keys": [jwk] }).to_string())
        .build()
        .unwrap();
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let token = issuer().token().header("alg", alg).sign();
        assert!(v.validate(&token).await.is_ok(), "{alg}");
    }
}

#[tokio::test]
async fn a_key_refuses_algorithms_its_jwk_alg_excludes() {
    // The issuer's RSA key is published with alg RS256.
    let token = issuer().token().header("alg", "PS256").sign();
    assert_eq!(
        refused(&token).await,
        ValidationError::KeyAlgorithmMismatch(Algorithm::PS256)
    );
}

#[tokio::test]
async fn hmac_is_refused_unless_a_secret_is_configured() {
    let hs = TestKey::generate(Algorithm::HS256).with_kid("rs256");
    let token = issuer().token().signing_key(&hs).sign();
    assert_eq!(
        refused(&token).await,
        ValidationError::AlgorithmNotAllowed(Algorithm::HS256)
    );

    let secret = hs.secret().unwrap();
    let v = Validator::builder()
        .issuer(issuer().issuer())
        .audience(AUDIENCE)
        .hmac_secret(secret, Algorithm::HS256, None)
        .build()
        .unwrap();
    // The token names kid "rs256", which no key has: the one key configured
    // without kid verifies it.
    assert!(v.validate(&token).await.is_ok());
    let other = TestKey::hmac(&[9; 32], Algorithm::HS256);
    let forged = issuer().token().signing_key(&other).sign();
    assert_eq!(
        v.validate(&forged).await.unwrap_err(),
        ValidationError::InvalidSignature
    );
}

#[tokio::test]
async fn algorithm_confusion_with_the_public_key_as_hmac_secret_is_refused() {
    let key = &issuer().keys()[0];
    let pem = key.public_pem().unwrap();
    let jwk = key.public_jwk().unwrap().to_string();
    for secret in [pem.as_bytes(), jwk.as_bytes()] {
        for alg in ["HS256", "HS384", "HS512"] {
            let token = issuer().token().header("alg", alg).sign_hmac(secret);
            let err = refused(&token).await;
            assert!(
                matches!(err, ValidationError::AlgorithmNotAllowed(_)),
                "{alg}: {err:?}"
            );
        }
    }
    // Even with HMAC allowed (a secret configured), the RSA key never
    // verifies an HS* token: keys are bound to their algorithm family.
    let v = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .hmac_secret([7u8; 32], Algorithm::HS256, Some("hmac"))
        .build()
        .unwrap();
    let token = issuer().token().sign_hmac(pem.as_bytes());
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::KeyAlgorithmMismatch(Algorithm::HS256)
    );
}

#[tokio::test]
async fn alg_none_is_refused_in_any_casing() {
    assert_eq!(
        refused(&issuer().token().unsigned()).await,
        ValidationError::UnsupportedAlgorithm
    );
    for none in ["none", "None", "NONE", "nOnE"] {
        let token = issuer().token().header("alg", none).with_signature(b"");
        assert_eq!(
            refused(&token).await,
            ValidationError::UnsupportedAlgorithm,
            "{none}"
        );
    }
}

#[tokio::test]
async fn unknown_and_missing_algorithms_are_refused() {
    let token = issuer()
        .token()
        .header("alg", "ES512")
        .with_signature(&[0; 64]);
    assert_eq!(refused(&token).await, ValidationError::UnsupportedAlgorithm);
    let token = issuer()
        .token()
        .without_header("alg")
        .with_signature(&[0; 64]);
    assert_eq!(
        refused(&token).await,
        ValidationError::Malformed(Malformed::Header)
    );
}

#[tokio::test]
async fn keys_and_key_urls_in_the_header_are_never_used() {
    // The attacker signs with their own key and offers it in every way the
    // JOSE header allows; the kid is one the validator does not know.
    let attacker = TestKey::generate(Algorithm::ES256).with_kid("attacker");
    let jwk = attacker.public_jwk().unwrap();
    let token = issuer()
        .token()
        .signing_key(&attacker)
        .header("jwk", jwk.clone())
        .header("jku", "https://attacker.example/jwks.json")
        .header("x5u", "https://attacker.example/cert.pem")
        .header("x5c", json!(["MIIB"]))
        .sign();
    assert_eq!(refused(&token).await, ValidationError::UnknownKeyId);
    // Same, claiming the kid of a trusted key of the same type.
    let token = issuer()
        .token()
        .signing_key(&attacker)
        .header("kid", "es256")
        .header("jwk", jwk)
        .sign();
    assert_eq!(refused(&token).await, ValidationError::InvalidSignature);
}

#[tokio::test]
async fn a_stranger_key_with_a_colliding_kid_is_refused() {
    let token = issuer()
        .token()
        .signing_key(stranger())
        .header("kid", "rs256")
        .sign();
    assert_eq!(refused(&token).await, ValidationError::InvalidSignature);
}

#[tokio::test]
async fn tampered_signatures_and_payloads_are_refused() {
    assert_eq!(
        refused(&issuer().token().tampered()).await,
        ValidationError::InvalidSignature
    );
    // Swap in another token's payload.
    let a = issuer().token().subject("alice").sign();
    let b = issuer().token().subject("mallory").sign();
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    let spliced = format!("{}.{}.{}", pa[0], pb[1], pa[2]);
    assert_eq!(refused(&spliced).await, ValidationError::InvalidSignature);
    // A valid ECDSA signature re-encoded as DER instead of raw r||s
    // (RFC 7518 §3.4 requires the raw form).
    let es = issuer().token().key("es256").sign();
    let (input, sig) = es.rsplit_once('.').unwrap();
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let raw = B64.decode(sig).unwrap();
    let der = B64.encode(der_signature(&raw));
    assert_eq!(
        refused(&format!("{input}.{der}")).await,
        ValidationError::InvalidSignature
    );
}

/// Encodes a raw r||s ECDSA signature as an ASN.1 DER SEQUENCE of INTEGERs.
fn der_signature(raw: &[u8]) -> Vec<u8> {
    let int = |half: &[u8]| {
        let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            vec![]
        };
        v.extend(trimmed);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body: Vec<u8> = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[tokio::test]
async fn unknown_kid_is_refused() {
    let token = issuer().token().header("kid", "no-such-key").sign();
    assert_eq!(refused(&token).await, ValidationError::UnknownKeyId);
}

#[tokio::test]
async fn a_token_without_kid_needs_exactly_one_candidate_key() {
    // Several RSA keys could verify RS256? The issuer has rs256 and ps256
    // (bound to PS256): only rs256 may verify RS256, so it is chosen.
    let token = issuer().token().without_header("kid").sign();
    assert!(check(&token).await.is_ok());
    // Two keys that may verify RS256: ambiguous, refused without trying both.
    let second = TestKey::generate(Algorithm::RS256).with_kid("second");
    let two = Validator::builder()
        .issuer(issuer().issuer())
        .audience(AUDIENCE)
        .jwks_json(
            json!({"keys": [issuer().keys()[0].public_jwk(), second.public_jwk()]}).to_string(),
        )
        .build()
        .unwrap();
    assert_eq!(
        two.validate(&token).await.unwrap_err(),
        ValidationError::MissingKeyId
    );
}

#[tokio::test]
async fn a_repeated_kid_tries_each_key() {
    let old = TestKey::generate(Algorithm::RS256).with_kid("rotating");
    let new = TestKey::generate(Algorithm::RS256).with_kid("rotating");
    let rotating = TestIssuer::with_keys(vec![new]).default_audience(AUDIENCE);
    let v = Validator::builder()
        .issuer(rotating.issuer())
        .audience(AUDIENCE)
        .jwks_json(json!({"keys": [old.public_jwk(), rotating.keys()[0].public_jwk()]}).to_string())
        .build()
        .unwrap();
    assert!(v.validate(&rotating.token().sign()).await.is_ok());
}

#[tokio::test]
async fn pem_keys_verify_tokens() {
    for kid in ["rs256", "es256", "es384", "eddsa"] {
        let key = issuer().keys().iter().find(|k| k.kid() == kid).unwrap();
        let v = Validator::builder()
            .issuer(issuer().issuer())
            .audience(AUDIENCE)
            .pem_public_key(key.public_pem().unwrap(), None)
            .build()
            .unwrap();
        let token = issuer().token().key(kid).without_header("kid").sign();
        assert!(v.validate(&token).await.is_ok(), "{kid} without kid");
        let token = issuer().token().key(kid).sign();
        assert!(v.validate(&token).await.is_ok(), "{kid} with kid");
    }
    // A PEM key given a kid only verifies tokens with that kid (or none).
    let key = &issuer().keys()[0];
    let v = Validator::builder()
        .issuer(issuer().issuer())
        .audience(AUDIENCE)
        .pem_public_key(key.public_pem().unwrap(), Some("pem-kid"))
        .build()
        .unwrap();
    assert_eq!(
        v.validate(&issuer().token().sign()).await.unwrap_err(),
        ValidationError::UnknownKeyId
    );
    let token = issuer().token().header("kid", "pem-kid").sign();
    assert!(v.validate(&token).await.is_ok());
}

#[tokio::test]
async fn tokens_signed_by_jsonwebtoken_are_accepted() {
    // An independent implementation signs; we verify.
    use jsonwebtoken::{EncodingKey, Header, encode};
    let claims = json!({"iss": issuer().issuer(), "aud": AUDIENCE, "sub": "interop",
        "exp": jsonwebtoken::get_current_timestamp() + 300});
    for (kid, alg) in [
        ("es256", jsonwebtoken::Algorithm::ES256),
        ("eddsa", jsonwebtoken::Algorithm::EdDSA),
    ] {
        let key = issuer().keys().iter().find(|k| k.kid() == kid).unwrap();
        let der = key.private_pkcs8_der().unwrap();
        let encoding = match alg {
            jsonwebtoken::Algorithm::ES256 => EncodingKey::from_ec_der(&der),
            _ => EncodingKey::from_ed_der(&der),
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        let token = encode(&header, &claims, &encoding).unwrap();
        let c = check(&token).await.unwrap_or_else(|e| panic!("{kid}: {e}"));
        assert_eq!(c.subject(), Some("interop"));
    }
    let secret = [42u8; 32];
    let token = encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    let v = Validator::builder()
        .issuer(issuer().issuer())
        .audience(AUDIENCE)
        .hmac_secret(secret, Algorithm::HS256, None)
        .build()
        .unwrap();
    assert!(v.validate(&token).await.is_ok());
}

#[tokio::test]
async fn time_claims_are_checked_with_leeway() {
    let clock = ManualClock::new(2_000_000_000);
    let timed = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256)])
        .default_audience(AUDIENCE)
        .clock(clock.clone());
    let v = timed
        .validator_builder()
        .audience(AUDIENCE)
        .leeway(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = timed.token().expires_in(10).sign();
    assert!(v.validate(&token).await.is_ok());
    clock.advance(10 + 29);
    assert!(v.validate(&token).await.is_ok(), "inside the leeway");
    clock.advance(1);
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::Expired
    );

    clock.set(2_000_000_000);
    let not_yet = timed.token().claim("nbf", 2_000_000_031).sign();
    assert_eq!(
        v.validate(&not_yet).await.unwrap_err(),
        ValidationError::NotYetValid
    );
    clock.advance(1);
    assert!(v.validate(&not_yet).await.is_ok());

    clock.set(2_000_000_000);
    let future = timed.token().claim("iat", 2_000_000_031).sign();
    assert_eq!(
        v.validate(&future).await.unwrap_err(),
        ValidationError::IssuedInFuture
    );
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    for iss in [
        "https://issuer.test/",
        "https://ISSUER.test",
        "http://issuer.test",
        "https://issuer.test.evil",
    ] {
        let token = issuer().token().claim("iss", iss).sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::InvalidIssuer,
            "{iss}"
        );
    }
    let token = issuer().token().without_claim("iss").sign();
    assert_eq!(
        refused(&token).await,
        ValidationError::MissingClaim("iss".into())
    );
}

#[tokio::test]
async fn audience_must_contain_a_configured_one() {
    let token = issuer().token().audience("orders").sign();
    assert_eq!(refused(&token).await, ValidationError::InvalidAudience);
    let token = issuer().token().audiences(&["orders", AUDIENCE]).sign();
    assert!(check(&token).await.is_ok());
    let token = issuer()
        .token()
        .audiences(&["Payments", "payments/"])
        .sign();
    assert_eq!(refused(&token).await, ValidationError::InvalidAudience);
    let token = issuer().token().without_claim("aud").sign();
    assert_eq!(
        refused(&token).await,
        ValidationError::MissingClaim("aud".into())
    );
}

#[tokio::test]
async fn exp_is_required() {
    let token = issuer().token().without_claim("exp").sign();
    assert_eq!(
        refused(&token).await,
        ValidationError::MissingClaim("exp".into())
    );
    let token = issuer().token().claim("exp", "4102444800").sign();
    assert_eq!(refused(&token).await, ValidationError::InvalidClaim("exp"));
}

#[tokio::test]
async fn unknown_critical_headers_and_unencoded_payloads_are_refused() {
    let token = issuer()
        .token()
        .header("crit", json!(["exp"]))
        .header("exp", 1)
        .sign();
    assert_eq!(refused(&token).await, ValidationError::UnsupportedCritical);
    let token = issuer()
        .token()
        .header("crit", json!(["b64"]))
        .header("b64", false)
        .sign();
    assert_eq!(refused(&token).await, ValidationError::UnsupportedCritical);
}

#[tokio::test]
async fn typ_policy_default_strict_and_custom() {
    // Default: at+jwt, JWT or none; anything else is another kind of token.
    for typ in [
        Some("at+jwt"),
        Some("application/at+jwt"),
        Some("JWT"),
        None,
    ] {
        let t = match typ {
            Some(t) => issuer().token().header("typ", t).sign(),
            None => issuer().token().without_header("typ").sign(),
        };
        assert!(check(&t).await.is_ok(), "{typ:?}");
    }
    for typ in ["dpop+jwt", "logout+jwt", "secevent+jwt", "id_token+jwt"] {
        let t = issuer().token().header("typ", typ).sign();
        assert_eq!(refused(&t).await, ValidationError::TypeNotAllowed, "{typ}");
    }
    // Strict RFC 9068.
    let strict = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .typ_policy(TypPolicy::Rfc9068)
        .build()
        .unwrap();
    assert!(strict.validate(&issuer().token().sign()).await.is_ok());
    let jwt = issuer().token().header("typ", "JWT").sign();
    assert_eq!(
        strict.validate(&jwt).await.unwrap_err(),
        ValidationError::TypeNotAllowed
    );
    let none = issuer().token().without_header("typ").sign();
    assert_eq!(
        strict.validate(&none).await.unwrap_err(),
        ValidationError::TypeNotAllowed
    );
}

#[tokio::test]
async fn rfc9068_profile_requires_its_claims() {
    let strict = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .rfc9068_profile()
        .build()
        .unwrap();
    assert!(strict.validate(&issuer().token().sign()).await.is_ok());
    for claim in ["sub", "client_id", "iat", "jti"] {
        let token = issuer().token().without_claim(claim).sign();
        assert_eq!(
            strict.validate(&token).await.unwrap_err(),
            ValidationError::MissingClaim(claim.into()),
            "{claim}"
        );
    }
}

#[tokio::test]
async fn configured_required_claims_are_enforced() {
    let v = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .require_claim("tenant")
        .build()
        .unwrap();
    let token = issuer().token().sign();
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::MissingClaim("tenant".into())
    );
    let token = issuer().token().claim("tenant", "acme").sign();
    assert!(v.validate(&token).await.is_ok());
}

#[tokio::test]
async fn size_limit_is_enforced_at_its_edge_before_decoding() {
    let v = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .max_token_size(2048)
        .build()
        .unwrap();
    // Grow a real token with a padding claim until it is exactly 2048 bytes.
    let base = issuer().token().claim("pad", "").sign();
    let mut pad = String::new();
    let mut token = base;
    while token.len() < 2048 {
        pad.push('x');
        token = issuer().token().claim("pad", pad.as_str()).sign();
    }
    if token.len() > 2048 {
        pad.pop();
        token = issuer().token().claim("pad", pad.as_str()).sign();
    }
    let at_limit = token;
    assert!(at_limit.len() <= 2048);
    assert!(
        v.validate(&at_limit).await.is_ok(),
        "{} bytes",
        at_limit.len()
    );
    // One byte over, even of garbage, is refused by size alone.
    let over = "a".repeat(2049);
    assert_eq!(
        v.validate(&over).await.unwrap_err(),
        ValidationError::TooLarge {
            len: 2049,
            limit: 2048
        }
    );
    // The default limit is 16 KiB.
    let over = "a".repeat(16 * 1024 + 1);
    assert!(matches!(
        refused(&over).await,
        ValidationError::TooLarge { limit: 16384, .. }
    ));
}

#[tokio::test]
async fn malformed_tokens_are_refused_with_their_shape_error() {
    let good = issuer().token().sign();
    let cases = [
        ("", Malformed::Empty),
        ("opaque-token-value", Malformed::SegmentCount),
        ("a.b.c.d.e", Malformed::Encrypted),
        ("a.b", Malformed::SegmentCount),
    ];
    for (token, kind) in cases {
        assert_eq!(
            refused(token).await,
            ValidationError::Malformed(kind),
            "{token:?}"
        );
    }
    let padded = good.replacen('.', "=.", 1);
    assert_eq!(
        refused(&padded).await,
        ValidationError::Malformed(Malformed::Base64)
    );
    let spaced = good.replacen('.', " .", 1);
    assert_eq!(
        refused(&spaced).await,
        ValidationError::Malformed(Malformed::Base64)
    );
}

#[tokio::test]
async fn duplicate_claims_are_refused() {
    // Build the payload by hand: serde_json maps cannot hold duplicates.
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let key = &issuer().keys()[0];
    let header = B64.encode(r#"{"alg":"RS256","kid":"rs256"}"#);
    let payload = B64.encode(format!(
        r#"{{"iss":"{}","aud":"{AUDIENCE}","exp":4102444800,"sub":"a","sub":"admin"}}"#,
        issuer().issuer()
    ));
    let input = format!("{header}.{payload}");
    let sig = B64.encode(key.sign(Algorithm::RS256, input.as_bytes()));
    assert_eq!(
        refused(&format!("{input}.{sig}")).await,
        ValidationError::Malformed(Malformed::DuplicateMember)
    );
}

#[tokio::test]
async fn claims_are_typed_and_deserializable() {
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        tenant: String,
        roles: Vec<String>,
    }
    let token = issuer()
        .token()
        .subject("user-1")
        .claim("azp", "web")
        .claim("tenant", "acme")
        .claim("roles", json!(["admin", "ops"]))
        .without_claim("scope")
        .claim("scp", json!(["orders:read", "orders:write"]))
        .sign();
    let claims = check(&token).await.unwrap();
    assert_eq!(claims.subject(), Some("user-1"));
    assert_eq!(claims.client_id(), Some("test-client"));
    assert_eq!(claims.authorized_party(), Some("web"));
    assert!(claims.jwt_id().is_some());
    assert!(claims.issued_at().is_some());
    assert!(
        claims
            .scopes()
            .contains_all(["orders:read", "orders:write"])
    );
    assert_eq!(claims.audiences().collect::<Vec<_>>(), [AUDIENCE]);
    let mine: Mine = claims.deserialize().unwrap();
    assert_eq!(
        (mine.sub.as_str(), mine.tenant.as_str()),
        ("user-1", "acme")
    );
    assert_eq!(mine.roles, ["admin", "ops"]);
    assert_eq!(claims.get("tenant"), Some(&json!("acme")));
}

#[test]
fn builder_refuses_incomplete_or_inconsistent_configuration() {
    let jwks = issuer().jwks_json();
    let base = || Validator::builder().issuer("https://i").audience("a");
    assert!(matches!(
        Validator::builder()
            .audience("a")
            .jwks_json(jwks.clone())
            .build(),
        Err(BuildError::NoIssuer)
    ));
    assert!(matches!(
        Validator::builder()
            .issuer("https://i")
            .jwks_json(jwks.clone())
            .build(),
        Err(BuildError::NoAudience)
    ));
    assert!(matches!(base().build(), Err(BuildError::NoKeys { .. })));
    assert!(matches!(
        base().jwks_file("/nonexistent/jwks.json").build(),
        Err(BuildError::JwksFile { .. })
    ));
    assert!(matches!(
        base().jwks_json("{").build(),
        Err(BuildError::Jwks(_))
    ));
    assert!(matches!(
        base()
            .hmac_secret([1u8; 16], Algorithm::HS256, None)
            .build(),
        Err(BuildError::Key(KeyError::HmacSecretTooShort { .. }))
    ));
    assert!(matches!(
        base()
            .hmac_secret([1u8; 32], Algorithm::HS256, None)
            .algorithms([Algorithm::RS256])
            .jwks_json(jwks.clone())
            .build(),
        Err(BuildError::HmacNotAllowed(Algorithm::HS256))
    ));
    assert!(matches!(
        base().jwks_json(jwks.clone()).algorithms([]).build(),
        Err(BuildError::NoAlgorithms)
    ));
    // Only an EC key, but only RSA allowed: nothing could ever verify.
    let es = issuer().keys()[2].public_jwk().unwrap();
    assert!(matches!(
        base()
            .jwks_json(json!({"keys": [es]}).to_string())
            .algorithms([Algorithm::RS256])
            .build(),
        Err(BuildError::NoKeys { .. })
    ));
    // A JWKS whose only key is refused says why.
    let weak = json!({"keys": [{"kty": "RSA", "kid": "weak", "n": "AQAB", "e": "AQAB"}]});
    let err = base().jwks_json(weak.to_string()).build().unwrap_err();
    assert!(err.to_string().contains("weak"), "{err}");
}

#[test]
fn jwks_file_is_read_at_build() {
    let dir = std::env::temp_dir().join(format!("bearer-guard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, issuer().jwks_json()).unwrap();
    let v = Validator::builder()
        .issuer(issuer().issuer())
        .audience(AUDIENCE)
        .jwks_file(&path)
        .build()
        .unwrap();
    assert_eq!(v.keys().len(), 5);

    // MAX_JWKS_FILE_SIZE: a file of exactly that size (the JWKS, padded
    // with JSON whitespace) is read; one byte more is refused, by name.
    let build = |path: &std::path::Path| {
        Validator::builder()
            .issuer(issuer().issuer())
            .audience(AUDIENCE)
            .jwks_file(path)
            .build()
    };
    let limit = usize::try_from(bearer_guard::limits::MAX_JWKS_FILE_SIZE).unwrap();
    let mut padded = issuer().jwks_json().into_bytes();
    padded.resize(limit, b' ');
    std::fs::write(&path, &padded).unwrap();
    assert_eq!(build(&path).unwrap().keys().len(), 5);
    padded.push(b' ');
    std::fs::write(&path, &padded).unwrap();
    let err = build(&path).unwrap_err();
    assert!(
        matches!(&err, BuildError::JwksFile { source, .. } if source.kind() == std::io::ErrorKind::FileTooLarge),
        "{err:?}"
    );
    assert!(err.to_string().contains("MAX_JWKS_FILE_SIZE"), "{err}");

    // Not a regular file: a directory.
    assert!(matches!(build(&dir), Err(BuildError::JwksFile { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_jwks_file_that_is_a_device_or_a_fifo_is_refused_at_once() {
    let dir = std::env::temp_dir().join(format!("bearer-guard-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("jwks.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // A device that never ends, and a FIFO no writer opens: each refused
    // at once (a build that blocked would fail the watchdog, not hang).
    let (tx, rx) = std::sync::mpsc::channel();
    let paths = [std::path::PathBuf::from("/dev/zero"), fifo];
    std::thread::spawn(move || {
        for path in paths {
            let result = Validator::builder()
                .issuer(issuer().issuer())
                .audience(AUDIENCE)
                .jwks_file(&path)
                .build()
                .map(|_| ());
            let _ = tx.send((path, result));
        }
    });
    for _ in 0..2 {
        let (path, result) = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the build blocked");
        let err = result.unwrap_err();
        assert!(
            err.to_string().contains("not a regular file"),
            "{path:?}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
