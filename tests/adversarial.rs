//! Adversarial tokens and requests, one test per known attack class against
//! JWT bearer authentication. Each test names the rule it enforces (RFC
//! section) and expects the exact error kind.
//!
//! RFC 8725 (JWT Best Current Practices) is cited as "BCP"; RFC 7515 (JWS),
//! RFC 7519 (JWT), RFC 6750 (Bearer), RFC 9068 (JWT access tokens).

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BearerLayer, Claims, ValidationError, Validator, jwt::Malformed, keys::Algorithm,
};
use common::{AUDIENCE, issuer};
use serde_json::{Value, json};

fn validator() -> Validator {
    issuer().validator()
}

async fn refused(token: &str) -> ValidationError {
    validator()
        .validate(token)
        .await
        .expect_err("an attack token must be refused")
}

/// Signs an arbitrary header and payload (raw JSON text) with the issuer's
/// key `kid`, for payloads a `serde_json::Map` cannot express.
fn sign_raw(kid: &str, header: &str, payload: &str) -> String {
    let key = issuer()
        .keys()
        .iter()
        .find(|k| k.kid() == kid)
        .expect("key");
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = key.sign(key.alg(), input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

fn payload(extra: &str) -> String {
    format!(
        r#"{{"iss":"{}","aud":"{AUDIENCE}","exp":4102444800,"sub":"s"{extra}}}"#,
        issuer().issuer()
    )
}

// ---------------------------------------------------------------- algorithms

/// BCP §3.1, RFC 7518 §3.6: `none` is never accepted, in any casing (`alg`
/// values are case-sensitive, RFC 7515 §4.1.1, so `None` is simply unknown).
#[tokio::test]
async fn alg_none_in_any_casing_is_refused() {
    for none in ["none", "None", "NONE", "nOnE", " none"] {
        for sig in [&b""[..], b"signature"] {
            let token = issuer().token().header("alg", none).with_signature(sig);
            assert_eq!(
                refused(&token).await,
                ValidationError::UnsupportedAlgorithm,
                "{none:?}"
            );
        }
    }
}

/// BCP §2.1, §3.1: HMAC signed with the RSA public key (PEM or JWK text) as
/// the secret. HS* is not allowed without a configured secret.
#[tokio::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    let rsa = &issuer().keys()[0];
    let ec = issuer().keys().iter().find(|k| k.kid() == "es256").unwrap();
    for key in [rsa, ec] {
        let pem = key.public_pem().unwrap();
        let jwk = key.public_jwk().unwrap().to_string();
        let der = pem::parse(&pem).unwrap().contents().to_vec();
        for secret in [pem.as_bytes(), jwk.as_bytes(), &der[..]] {
            let token = issuer().token().key(key.kid()).sign_hmac(secret);
            assert_eq!(
                refused(&token).await,
                ValidationError::AlgorithmNotAllowed(Algorithm::HS256)
            );
        }
    }
}

/// BCP §3.1: even with HMAC allowed, a key verifies only its own algorithm
/// family: the RSA key named by `kid` never acts as an HMAC secret.
#[tokio::test]
async fn hmac_with_a_public_key_kid_is_refused_even_when_hmac_is_allowed() {
    let v = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .hmac_secret([3u8; 32], Algorithm::HS256, Some("shared"))
        .build()
        .unwrap();
    let pem = issuer().keys()[0].public_pem().unwrap();
    let token = issuer().token().sign_hmac(pem.as_bytes());
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::KeyAlgorithmMismatch(Algorithm::HS256)
    );
}

/// RFC 7515 §4.1.1 with RFC 7517 §4.4: an `alg` that the selected key does
/// not allow (ES256 with the RSA key's kid, PS256 with an RS256-bound key).
#[tokio::test]
async fn alg_inconsistent_with_the_key_is_refused() {
    let token = issuer()
        .token()
        .header("alg", "ES256")
        .with_signature(&[1; 64]);
    assert_eq!(
        refused(&token).await,
        ValidationError::KeyAlgorithmMismatch(Algorithm::ES256)
    );
    let token = issuer().token().header("alg", "PS256").sign();
    assert_eq!(
        refused(&token).await,
        ValidationError::KeyAlgorithmMismatch(Algorithm::PS256)
    );
}

// ------------------------------------------------------------- key injection

/// BCP §3.10, RFC 7515 §4.1.2-4.1.6: keys and key URLs in the header
/// (`jwk`, `jku`, `x5u`, `x5c`) are never used; the attacker's own key
/// signs, and is offered every way the header allows.
#[tokio::test]
async fn keys_and_key_urls_offered_in_the_header_are_ignored() {
    let attacker = TestKey::generate(Algorithm::ES256).with_kid("evil");
    let offered = [
        ("jwk", attacker.public_jwk().unwrap()),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUEvil"])),
        ("x5t#S256", json!("AAAA")),
    ];
    for (name, value) in offered {
        let token = issuer()
            .token()
            .signing_key(&attacker)
            .header(name, value.clone())
            .sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::UnknownKeyId,
            "{name}"
        );
        // Naming a trusted kid does not help either.
        let token = issuer()
            .token()
            .signing_key(&attacker)
            .header("kid", "es256")
            .header(name, value)
            .sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::InvalidSignature,
            "{name}"
        );
    }
}

/// BCP §3.10: `kid` is only ever compared with configured key ids; path,
/// SQL and control characters, or a very long value, find no key.
#[tokio::test]
async fn hostile_kids_find_no_key() {
    let long = "k".repeat(10_000);
    for kid in [
        "../../../../etc/passwd",
        "/dev/random",
        "' OR '1'='1' --",
        "rs256\u{0000}",
        "rs256\n",
        "\u{202e}652sr",
        "RS256",
        " rs256",
        long.as_str(),
    ] {
        let token = issuer().token().header("kid", kid).sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::UnknownKeyId,
            "{kid:?}"
        );
    }
    // Not a string at all.
    let token = issuer().token().header("kid", json!(["rs256"])).sign();
    assert_eq!(
        refused(&token).await,
        ValidationError::Malformed(Malformed::Header)
    );
}

/// BCP §3.8: a token from another issuer whose key carries the same `kid`
/// as a trusted key is refused (the trusted key does not verify it).
#[tokio::test]
async fn another_issuers_token_with_a_colliding_kid_is_refused() {
    let other = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::RS256)])
        .issuer_url("https://other-issuer.test")
        .default_audience(AUDIENCE);
    assert_eq!(other.keys()[0].kid(), "rs256");
    assert_eq!(
        refused(&other.token().sign()).await,
        ValidationError::InvalidSignature
    );
    // Same, also claiming our issuer.
    let token = other.token().claim("iss", issuer().issuer()).sign();
    assert_eq!(refused(&token).await, ValidationError::InvalidSignature);
}

// ------------------------------------------------------ malformed signatures

fn resign(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", B64.encode(signature))
}

/// CVE-2022-21449 ("psychic signatures"), RFC 7518 §3.4: r = s = 0 must
/// not verify; nor a truncated, padded, or DER-encoded signature.
#[tokio::test]
async fn malformed_ecdsa_signatures_are_refused() {
    let token = issuer().token().key("es256").sign();
    let (_, sig) = token.rsplit_once('.').unwrap();
    let raw = B64.decode(sig).unwrap();
    let mut der = vec![0x30, 0x44, 0x02, 0x20];
    der.extend_from_slice(&raw[..32]);
    der.extend_from_slice(&[0x02, 0x20]);
    der.extend_from_slice(&raw[32..]);
    let mut p384_sized = raw.clone();
    p384_sized.extend_from_slice(&[0; 32]);
    for bad in [
        vec![0u8; 64],
        raw[..63].to_vec(),
        raw[..32].to_vec(),
        [raw.clone(), vec![0]].concat(),
        der,
        p384_sized,
        vec![],
    ] {
        assert_eq!(
            refused(&resign(&token, &bad)).await,
            ValidationError::InvalidSignature,
            "{} bytes",
            bad.len()
        );
    }
    // A valid signature from a P-384 key, under an ES256 header.
    let p384 = issuer().keys().iter().find(|k| k.kid() == "es384").unwrap();
    let wrong_curve = issuer()
        .token()
        .key("es256")
        .with_signature(&p384.sign(Algorithm::ES384, b"whatever"));
    assert_eq!(
        refused(&wrong_curve).await,
        ValidationError::InvalidSignature
    );
}

/// RFC 8017 §8.2.2 step 1: an RSA signature of the wrong length fails.
#[tokio::test]
async fn rsa_signatures_of_the_wrong_length_are_refused() {
    let token = issuer().token().sign();
    let (_, sig) = token.rsplit_once('.').unwrap();
    let raw = B64.decode(sig).unwrap();
    assert_eq!(raw.len(), 256);
    for bad in [
        raw[..255].to_vec(),
        [vec![0], raw.clone()].concat(),
        [raw.clone(), vec![0]].concat(),
        vec![0; 256],
        vec![0xff; 256],
        vec![],
    ] {
        assert_eq!(
            refused(&resign(&token, &bad)).await,
            ValidationError::InvalidSignature,
            "{} bytes",
            bad.len()
        );
    }
    // Longer than any RSA signature: refused before decoding.
    assert_eq!(
        refused(&resign(&token, &[7; 2048])).await,
        ValidationError::InvalidSignature
    );
}

// ---------------------------------------------------------- header extensions

/// RFC 7515 §4.1.11: a `crit` the recipient does not understand must be
/// refused; an empty `crit`, or one that is not a list of strings, is
/// malformed.
#[tokio::test]
async fn unknown_critical_extensions_are_refused() {
    for crit in [
        json!(["exp"]),
        json!(["http://example.invalid/ext"]),
        json!(["b64"]),
        json!(["alg"]),
    ] {
        let token = issuer()
            .token()
            .header("crit", crit.clone())
            .header("exp", 1)
            .sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::UnsupportedCritical,
            "{crit}"
        );
    }
    for crit in [json!([]), json!("exp"), json!([1])] {
        let token = issuer().token().header("crit", crit.clone()).sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::Malformed(Malformed::Header),
            "{crit}"
        );
    }
}

/// RFC 7797 §3, §6: `b64: false` (unencoded payload) changes what is
/// signed; it is not supported and is refused, listed in `crit` or not.
#[tokio::test]
async fn unencoded_payloads_are_refused() {
    let token = issuer().token().header("b64", false).sign();
    assert_eq!(refused(&token).await, ValidationError::UnsupportedCritical);
    let token = issuer()
        .token()
        .header("b64", false)
        .header("crit", json!(["b64"]))
        .sign();
    assert_eq!(refused(&token).await, ValidationError::UnsupportedCritical);
}

// ------------------------------------------------------------------- shape

/// RFC 7515 §7.1, RFC 7516 §7.1: a compact JWS has exactly three segments;
/// five is a JWE, which a resource server cannot read.
#[tokio::test]
async fn wrong_segment_counts_are_refused() {
    let good = issuer().token().sign();
    let jwe = format!("{}.AAAA.BBBB.CCCC.DDDD", good.split('.').next().unwrap());
    assert_eq!(
        refused(&jwe).await,
        ValidationError::Malformed(Malformed::Encrypted)
    );
    for bad in [
        good.split('.').take(2).collect::<Vec<_>>().join("."),
        format!("{good}.extra"),
        format!("{good}.a.b.c"),
        good.replace('.', ""),
        ".".to_owned(),
        "..".to_owned(),
    ] {
        let err = refused(&bad).await;
        assert!(
            matches!(err, ValidationError::Malformed(_)),
            "{bad:.40}: {err:?}"
        );
    }
}

/// RFC 7515 §2 and §7.1: segments are base64url without padding, line
/// breaks or whitespace.
#[tokio::test]
async fn non_base64url_segments_are_refused() {
    let good = issuer().token().sign();
    let (h, rest) = good.split_once('.').unwrap();
    let cases = [
        format!("{h}=.{rest}"),
        format!("{h} .{rest}"),
        format!("{h}\n.{rest}"),
        format!("{}.{rest}", h.replace('e', "+")),
        format!("{}.{rest}", h.replacen('e', "/", 1)),
        format!("{h}.{}", rest.replacen('.', "=.", 1)),
        format!("{good}=="),
        format!("{h}.{}", rest.replacen('A', "%41", 1)),
    ];
    for bad in cases {
        let err = refused(&bad).await;
        assert!(
            matches!(
                err,
                ValidationError::Malformed(Malformed::Base64 | Malformed::Header)
                    | ValidationError::InvalidSignature
            ),
            "{err:?}"
        );
    }
}

/// RFC 7515 §5.2 step 4 (header) and RFC 7519 §4 (claims): duplicate
/// member names are refused, so that two parsers cannot read two tokens.
#[tokio::test]
async fn duplicate_members_are_refused() {
    let header = r#"{"alg":"RS256","kid":"rs256","kid":"es256"}"#;
    let token = sign_raw("rs256", header, &payload(""));
    assert_eq!(
        refused(&token).await,
        ValidationError::Malformed(Malformed::DuplicateMember)
    );
    let header = r#"{"alg":"RS256","kid":"rs256"}"#;
    for dup in [
        r#","sub":"admin""#,
        r#","aud":"other""#,
        r#","exp":1"#,
        r#","x":1,"x":2"#,
    ] {
        let token = sign_raw("rs256", header, &payload(dup));
        assert_eq!(
            refused(&token).await,
            ValidationError::Malformed(Malformed::DuplicateMember),
            "{dup}"
        );
    }
}

/// RFC 7519 §2 (NumericDate): a JSON number of seconds; fractions are
/// allowed; strings, booleans and absurd magnitudes are not.
#[tokio::test]
async fn time_claims_of_the_wrong_type_or_size_are_refused() {
    for claim in ["exp", "nbf", "iat"] {
        for bad in [
            json!("4102444800"),
            json!(true),
            json!([1]),
            json!({"$date": 1}),
            json!(1e20),
            json!(-1e20),
        ] {
            let token = issuer().token().claim(claim, bad.clone()).sign();
            assert_eq!(
                refused(&token).await,
                ValidationError::InvalidClaim(match claim {
                    "exp" => "exp",
                    "nbf" => "nbf",
                    _ => "iat",
                }),
                "{claim} = {bad}"
            );
        }
    }
    // Accepted: fractional seconds, and very old nbf/iat.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    let token = issuer()
        .token()
        .claim("exp", now + 300.75)
        .claim("nbf", 0)
        .claim("iat", now - 0.5)
        .sign();
    assert!(validator().validate(&token).await.is_ok());
    // Negative: long past.
    let token = issuer().token().claim("exp", -1).sign();
    assert_eq!(refused(&token).await, ValidationError::Expired);
}

/// RFC 7519 §4.1.3: `aud` is compared exactly (case-sensitive); near-misses
/// and array tricks do not match.
#[tokio::test]
async fn audience_near_misses_are_refused() {
    for aud in [
        json!("Payments"),
        json!("payments/"),
        json!("payment"),
        json!("payments.evil"),
        json!(" payments"),
        json!(""),
        json!([]),
        json!(["other", "PAYMENTS"]),
        json!("https://payments"),
    ] {
        let token = issuer().token().claim("aud", aud.clone()).sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::InvalidAudience,
            "{aud}"
        );
    }
    for aud in [
        json!([["payments"]]),
        json!(["payments", null]),
        json!({"payments": true}),
        json!(1),
    ] {
        let token = issuer().token().claim("aud", aud.clone()).sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::InvalidClaim("aud"),
            "{aud}"
        );
    }
}

/// RFC 7519 §4.1.1, RFC 9068 §4: `iss` is one string, compared exactly.
#[tokio::test]
async fn issuer_near_misses_are_refused() {
    for iss in [
        "https://issuer.test/",
        "https://ISSUER.test",
        "https://issuer.tes",
        "https://issuer.test.evil",
        "http://issuer.test",
        "https://issuer.test ",
        "https://issuer.test#",
        "",
    ] {
        let token = issuer().token().claim("iss", iss).sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::InvalidIssuer,
            "{iss:?}"
        );
    }
    for iss in [
        json!(["https://issuer.test"]),
        json!({"iss": "https://issuer.test"}),
        json!(1),
    ] {
        let token = issuer().token().claim("iss", iss.clone()).sign();
        assert_eq!(
            refused(&token).await,
            ValidationError::InvalidClaim("iss"),
            "{iss}"
        );
    }
}

/// BCP §3.11-3.12, RFC 9068 §4: an OpenID Connect ID token is not an access
/// token. Its audience is the client, so it fails the audience check; under
/// the strict profile its `typ` fails first.
#[tokio::test]
async fn an_id_token_is_not_an_access_token() {
    let id_token = issuer()
        .token()
        .header("typ", "JWT")
        .audience("web-client-id")
        .claim("nonce", "n-0S6_WzA2Mj")
        .claim("at_hash", "77QmUPtjPfzWtF2AnpK9RQ")
        .claim("azp", "web-client-id")
        .without_claim("scope")
        .without_claim("client_id")
        .sign();
    assert_eq!(refused(&id_token).await, ValidationError::InvalidAudience);
    let strict = issuer()
        .validator_builder()
        .audience(AUDIENCE)
        .audience("web-client-id")
        .rfc9068_profile()
        .build()
        .unwrap();
    assert_eq!(
        strict.validate(&id_token).await.unwrap_err(),
        ValidationError::TypeNotAllowed
    );
    // Typed for another use altogether.
    let logout = issuer().token().header("typ", "logout+jwt").sign();
    assert_eq!(refused(&logout).await, ValidationError::TypeNotAllowed);
}

// ------------------------------------------------------------ size and depth

/// Resource bounds: the token size limit applies before any decoding.
#[tokio::test]
async fn oversize_tokens_are_refused_before_decoding() {
    let good = issuer().token().sign();
    let padded = format!("{}{}", good, "A".repeat(16 * 1024));
    assert!(matches!(
        refused(&padded).await,
        ValidationError::TooLarge { .. }
    ));
    let huge = "a".repeat(10 * 1024 * 1024);
    assert!(matches!(
        refused(&huge).await,
        ValidationError::TooLarge { .. }
    ));
}

/// Resource bounds: deeply nested JSON cannot overflow the stack. In the
/// claims, serde_json's recursion limit (128) refuses it; an unknown header
/// member is skipped without recursion, so a deep one costs time linear in
/// its (size-limited) length and the header still reads.
#[tokio::test]
async fn deeply_nested_json_fails_cleanly() {
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let token = sign_raw(
        "rs256",
        r#"{"alg":"RS256","kid":"rs256"}"#,
        &payload(&format!(r#","x":{}"#, deep(3000))),
    );
    assert_eq!(
        refused(&token).await,
        ValidationError::Malformed(Malformed::Claims)
    );
    // Within serde_json's limit a nested claim is just data.
    let token = sign_raw(
        "rs256",
        r#"{"alg":"RS256","kid":"rs256"}"#,
        &payload(&format!(r#","x":{}"#, deep(100))),
    );
    assert!(validator().validate(&token).await.is_ok());
    // An attacker's deep header: every member is decoded (RFC 7515 §5.2),
    // within the same nesting limit, before any signature check.
    let header = format!(r#"{{"alg":"RS256","kid":"rs256","x":{}}}"#, deep(6000));
    let forged = format!("{}.{}.AAAA", B64.encode(header), B64.encode(payload("")));
    assert_eq!(
        refused(&forged).await,
        ValidationError::Malformed(Malformed::Header)
    );
    let header = format!(r#"{{"alg":"RS256","kid":"rs256","x":{}}}"#, deep(100));
    let forged = format!("{}.{}.AAAA", B64.encode(header), B64.encode(payload("")));
    assert_eq!(refused(&forged).await, ValidationError::InvalidSignature);
}

// ---------------------------------------------------------- HTTP and headers

async fn app(layer: BearerLayer) -> std::net::SocketAddr {
    let router = axum::Router::new()
        .route(
            "/me",
            axum::routing::get(|c: Claims| async move { c.subject().unwrap_or("?").to_owned() }),
        )
        .layer(layer);
    common::serve(router).await
}

async fn status(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> u16 {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        req = req.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    req.send().await.unwrap().status().as_u16()
}

/// RFC 6750 §2.1 / RFC 7235 §2.1: the scheme is case-insensitive, followed
/// by one or more spaces and exactly one b64token; anything else in a
/// Bearer header is 400 invalid_request; two Authorization headers are
/// 400 (RFC 6750 §3.1: "more than one method").
#[tokio::test]
async fn header_level_tricks() {
    let addr = app(BearerLayer::new(validator())).await;
    let token = issuer().token().sign();
    let t = token.as_bytes();
    let with = |prefix: &str| [prefix.as_bytes(), t].concat();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (with("bearer "), 200),
        (with("BEARER   "), 200),
        (with("Bearer\t"), 400),
        (with("Bearer \t"), 400),
        (with("Bearer:"), 400),
        ([with("Bearer "), b",".to_vec(), t.to_vec()].concat(), 400),
        (
            [with("Bearer "), b", Bearer ".to_vec(), t.to_vec()].concat(),
            400,
        ),
        ([with("Bearer "), b" x".to_vec()].concat(), 400),
        ([with("Bearer "), "é".as_bytes().to_vec()].concat(), 400),
        (with("Basic "), 401),
        (with("Token "), 401),
        (with("DPoP "), 401),
        (b"Bearer".to_vec(), 400),
    ];
    for (value, expected) in cases {
        let got = status(addr, "/me", &[("authorization", &value)]).await;
        assert_eq!(
            got,
            expected,
            "{:?}",
            String::from_utf8_lossy(&value[..value.len().min(20)])
        );
    }
    let two = status(
        addr,
        "/me",
        &[
            ("authorization", &with("Bearer ")),
            ("authorization", &with("Bearer ")),
        ],
    )
    .await;
    assert_eq!(two, 400);
}

/// RFC 6750 §2.3 and §5.3: the URI query parameter is off by default (a
/// token there is not used: 401 with a bare challenge), and a form-body
/// token (§2.2) is never read.
#[tokio::test]
async fn tokens_outside_the_authorization_header_are_ignored_by_default() {
    let addr = app(BearerLayer::new(validator())).await;
    let token = issuer().token().sign();
    assert_eq!(
        status(addr, &format!("/me?access_token={token}"), &[]).await,
        401
    );
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/me"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Enabled, a repeated parameter is 400.
    let addr = app(BearerLayer::new(validator()).allow_query_parameter()).await;
    assert_eq!(
        status(addr, &format!("/me?access_token={token}"), &[]).await,
        200
    );
    assert_eq!(
        status(
            addr,
            &format!("/me?access_token={token}&access_token={token}"),
            &[]
        )
        .await,
        400
    );
}

/// The error response never echoes the token, whatever it contains.
#[tokio::test]
async fn responses_never_echo_the_token() {
    let addr = app(BearerLayer::new(validator()).realm("api")).await;
    let evil = issuer()
        .token()
        .header("kid", "\"><script>alert(1)</script>")
        .claim("aud", "x\", error=\"none")
        .sign();
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/me"))
        .bearer_auth(&evil)
        .send()
        .await
        .unwrap();
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    for part in evil.split('.') {
        assert!(!challenge.contains(part) && !body.contains(part));
    }
    assert!(
        !challenge.contains("<script>") && !challenge.contains("error=\"none"),
        "{challenge}"
    );
    let v: Value = json!(challenge);
    assert!(v.is_string());
}
