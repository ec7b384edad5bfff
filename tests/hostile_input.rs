//! Hostile text in tokens never panics: multibyte, combining, bidi-control,
//! BOM and NUL characters at every byte offset of every JOSE header member
//! the validator reads (and of members it ignores), and of every claim string
//! it compares, each answered cleanly through `validate()` and over HTTP by
//! the layer on a real axum server (a panic there would drop the connection).
//!
//! And RFC 7515 §5.2 / RFC 7519 §7.2: the header and the claims must each be
//! a completely valid UTF-8 JSON object, members nobody reads included, so
//! invalid byte sequences and lone surrogate escapes are refused wherever
//! they appear.

use crate::common;

use std::net::SocketAddr;

use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bearer_guard::{
    BearerLayer, Claims, RequireLayer, Requirement, ValidationError, Validator, jwt::Malformed,
};
use common::{AUDIENCE, issuer, serve};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The characters inserted: one of each width of UTF-8, and the kinds of
/// text that trip byte-offset code and naive comparisons.
const SPECIALS: &[(&str, &str)] = &[
    ("2-byte", "é"),
    ("3-byte", "€"),
    ("4-byte", "😀"),
    ("combining acute accent", "\u{301}"),
    ("bidi right-to-left override", "\u{202E}"),
    ("byte order mark", "\u{FEFF}"),
    ("NUL", "\0"),
    ("zero-width joiner", "\u{200D}"),
];

/// `base` with `special` inserted at byte `at` (every offset is a character
/// boundary: the bases are ASCII).
fn insert(base: &str, at: usize, special: &str) -> String {
    let mut s = base.to_owned();
    s.insert_str(at, special);
    s
}

/// Every variant of `base` with each special character at each byte offset.
fn variants(base: &str) -> impl Iterator<Item = (String, String)> + '_ {
    SPECIALS.iter().flat_map(move |(name, special)| {
        (0..=base.len()).map(move |at| (format!("{name} at byte {at}"), insert(base, at, special)))
    })
}

/// A protected API on 127.0.0.1: `/me` answers the claims, `/charge` needs
/// `charge:customer`.
struct Api {
    validator: Validator,
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Self {
        let validator = issuer().validator();
        let charge = Router::new()
            .route("/charge", post(|| async { "charged" }))
            .route_layer(RequireLayer::new(Requirement::scopes_all([
                "charge:customer",
            ])));
        let app = Router::new()
            .route("/me", get(|c: Claims| async move { Json(c) }))
            .merge(charge)
            .layer(BearerLayer::new(validator.clone()).realm("api"));
        let addr: SocketAddr = serve(app).await;
        Api {
            validator,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    /// `validate()`'s outcome, and the layer's status and challenge at `path`.
    async fn answer(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
    ) -> (Result<Claims, ValidationError>, StatusCode, Option<String>) {
        let direct = self.validator.validate(token).await;
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("an answer, not a dropped connection");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("an ASCII challenge").to_owned());
        (direct, response.status(), challenge)
    }

    /// Expects `token` refused with `error`: 401 and an `invalid_token`
    /// challenge whose description is the fixed text for that error.
    async fn expect_refused(&self, token: &str, error: &ValidationError, case: &str) {
        let (direct, status, challenge) = self.answer(token, reqwest::Method::GET, "/me").await;
        assert_eq!(direct.map(|_| ()).as_ref(), Err(error), "{case}");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(
            challenge.as_deref(),
            Some(
                format!(
                    "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{}\"",
                    error.description()
                )
                .as_str()
            ),
            "{case}"
        );
    }

    /// Expects `token` accepted: 200 from `/me`, whose body carries the
    /// claim `name` exactly as signed.
    async fn expect_accepted(&self, token: &str, claim: Option<(&str, &str)>, case: &str) {
        let (direct, status, _) = self.answer(token, reqwest::Method::GET, "/me").await;
        let claims = direct.unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(status, StatusCode::OK, "{case}");
        if let Some((name, value)) = claim {
            assert_eq!(claims.get(name), Some(&json!(value)), "{case}");
        }
    }
}

fn es256_token() -> bearer_guard::testing::TokenBuilder {
    issuer().token().key("es256").expires_in(3600)
}

/// Every JOSE header member the validator reads (`alg`, `kid`, `typ`,
/// `crit` entries) and members it ignores (`cty`, `jku`, `x5u`, `x5t`, a
/// private one), with each special character at each byte offset, and in
/// member names: each answer is the one the member's check gives.
#[tokio::test]
async fn special_characters_at_every_offset_of_every_header_member_get_clean_answers() {
    let api = Api::start().await;
    let mut cases = 0;
    // Members whose every altered value is refused by their own check.
    let refused = [
        ("typ", "application/at+jwt", ValidationError::TypeNotAllowed),
        ("typ", "at+jwt", ValidationError::TypeNotAllowed),
        ("alg", "ES256", ValidationError::UnsupportedAlgorithm),
        ("kid", "es256", ValidationError::UnknownKeyId),
    ];
    for (member, base, error) in &refused {
        for (case, value) in variants(base) {
            let token = es256_token().header(member, value.as_str());
            // An unknown `alg` is refused before any signature check.
            let token = if *member == "alg" {
                token.with_signature(&[7; 64])
            } else {
                token.sign()
            };
            api.expect_refused(&token, error, &format!("{member}: {case}"))
                .await;
            cases += 1;
        }
    }
    // Any `crit` entry is an extension this validator does not understand.
    for (case, value) in variants("exp") {
        let token = es256_token()
            .header("crit", json!([value]))
            .header(&value, 1)
            .sign();
        api.expect_refused(
            &token,
            &ValidationError::UnsupportedCritical,
            &format!("crit: {case}"),
        )
        .await;
        cases += 1;
    }
    // Members nobody reads: the token is still good.
    for (member, base) in [
        ("cty", "application/example+json"),
        ("jku", "https://issuer.test/jwks"),
        ("x5u", "https://issuer.test/x5u"),
        ("x5t", "dGh1bWJwcmludC1vZi10aGUtY2VydA"),
        ("x-private", "some private header value"),
    ] {
        for (case, value) in variants(base) {
            let token = es256_token().header(member, value.as_str()).sign();
            api.expect_accepted(&token, None, &format!("{member}: {case}"))
                .await;
            cases += 1;
        }
    }
    // Special characters in member names: unknown members, ignored.
    for base in ["typ", "alg", "kid", "crit"] {
        for (case, name) in variants(base) {
            if name == base {
                continue;
            }
            let token = es256_token().header(&name, "x").sign();
            api.expect_accepted(&token, None, &format!("member name {base}: {case}"))
                .await;
            cases += 1;
        }
    }
    assert!(cases > 1000, "{cases} cases");
}

/// The claim strings the validator compares (`iss`, `aud` as a string and
/// in an array) and those it only carries (`scope`, `scp`, `client_id`,
/// `sub`, `azp`, `jti`), with each special character at each byte offset.
/// Compared claims never match by accident; carried ones reach the handler
/// exactly as signed; a mangled scope never satisfies a route's requirement
/// and the 403 challenge names only the configured scope.
#[tokio::test]
async fn special_characters_at_every_offset_of_every_claim_string_get_clean_answers() {
    let api = Api::start().await;
    for (case, value) in variants(issuer().issuer()) {
        let token = es256_token().claim("iss", value.as_str()).sign();
        api.expect_refused(
            &token,
            &ValidationError::InvalidIssuer,
            &format!("iss: {case}"),
        )
        .await;
    }
    for (case, value) in variants(AUDIENCE) {
        let token = es256_token().audience(&value).sign();
        api.expect_refused(
            &token,
            &ValidationError::InvalidAudience,
            &format!("aud: {case}"),
        )
        .await;
        let token = es256_token().audiences(&["other", &value]).sign();
        api.expect_refused(
            &token,
            &ValidationError::InvalidAudience,
            &format!("aud array: {case}"),
        )
        .await;
    }
    for (member, base) in [
        ("client_id", "order-service"),
        ("sub", "user-1234"),
        ("azp", "web-app"),
        ("jti", "a1b2c3d4"),
    ] {
        for (case, value) in variants(base) {
            let token = es256_token().claim(member, value.as_str()).sign();
            api.expect_accepted(&token, Some((member, &value)), &format!("{member}: {case}"))
                .await;
        }
    }
    for (case, value) in variants("charge:customer") {
        // Whitespace-free specials keep one scope token; it is not the one
        // the route needs.
        let tokens = [
            ("scope", es256_token().scope(&value).sign()),
            (
                "scp",
                es256_token()
                    .without_claim("scope")
                    .claim("scp", json!([value]))
                    .sign(),
            ),
        ];
        for (member, token) in tokens {
            let case = format!("{member}: {case}");
            api.expect_accepted(&token, None, &case).await;
            let (_, status, challenge) = api.answer(&token, reqwest::Method::POST, "/charge").await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
            assert_eq!(
                challenge.as_deref(),
                Some(
                    "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"The access token lacks the scope this request needs\", scope=\"charge:customer\""
                ),
                "{case}"
            );
        }
    }
}

/// Signs raw header and payload bytes (not necessarily UTF-8 or JSON) with
/// the issuer's ES256 key.
fn sign_bytes(header: &[u8], payload: &[u8]) -> String {
    let key = issuer().keys().iter().find(|k| k.kid() == "es256").unwrap();
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = key.sign(key.alg(), input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

/// Byte sequences that are never valid UTF-8, and JSON escapes that decode
/// to no character.
const INVALID: &[(&str, &[u8])] = &[
    ("0xFF", b"\xff"),
    ("lone continuation byte", b"\x80"),
    ("overlong '/'", b"\xc0\xaf"),
    ("encoded surrogate", b"\xed\xa0\x80"),
    ("truncated 3-byte sequence", b"\xe2\x82"),
    ("beyond U+10FFFF", b"\xf4\x90\x80\x80"),
    ("lone high surrogate escape", br"\ud800"),
    ("lone low surrogate escape", br"\udc00"),
    ("raw control character", b"\x01"),
];

fn inserted(base: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    out.splice(at..at, bytes.iter().copied());
    out
}

/// RFC 7515 §5.2: the header must be a completely valid UTF-8 JSON object.
/// Each invalid sequence at each byte offset of a header (inside the values
/// read, inside a member nobody reads, between tokens) is refused as a
/// malformed header, never accepted and never a panic.
#[tokio::test]
async fn invalid_utf8_or_json_anywhere_in_the_header_is_refused() {
    let api = Api::start().await;
    let header =
        br#"{"alg":"ES256","kid":"es256","typ":"at+jwt","x-unused":"value","x5t":["a",{"b":"c"}]}"#;
    let payload =
        json!({"iss": issuer().issuer(), "aud": AUDIENCE, "exp": 4_102_444_800u64}).to_string();
    let error = ValidationError::Malformed(Malformed::Header);
    for (name, bytes) in INVALID {
        for at in 0..=header.len() {
            let token = sign_bytes(&inserted(header, at, bytes), payload.as_bytes());
            api.expect_refused(&token, &error, &format!("{name} at header byte {at}"))
                .await;
        }
    }
}

/// RFC 7519 §7.2: the claims must be a completely valid UTF-8 JSON object,
/// every member included. The signature holds, so only the claims parse
/// stands between these bytes and the handler.
#[tokio::test]
async fn invalid_utf8_or_json_anywhere_in_the_claims_is_refused() {
    let api = Api::start().await;
    let header = br#"{"alg":"ES256","kid":"es256"}"#;
    let payload = format!(
        r#"{{"iss":"{}","aud":["{AUDIENCE}"],"exp":4102444800,"x-unused":{{"nested":["v"]}},"scope":"a b"}}"#,
        issuer().issuer()
    );
    let error = ValidationError::Malformed(Malformed::Claims);
    for (name, bytes) in INVALID {
        for at in 0..=payload.len() {
            let token = sign_bytes(header, &inserted(payload.as_bytes(), at, bytes));
            api.expect_refused(&token, &error, &format!("{name} at claims byte {at}"))
                .await;
        }
    }
}

/// The same rule for the one case serde's usual "ignore this member" would
/// let through: a lone surrogate escape in a header member nobody reads.
#[tokio::test]
async fn a_lone_surrogate_in_an_unused_header_member_is_refused() {
    let header = r#"{"alg":"ES256","kid":"es256","x-unused":"\ud800"}"#;
    let payload = json!({"iss": issuer().issuer(), "aud": AUDIENCE, "exp": 4_102_444_800u64});
    let token = sign_bytes(header.as_bytes(), payload.to_string().as_bytes());
    assert_eq!(
        issuer().validator().validate(&token).await.unwrap_err(),
        ValidationError::Malformed(Malformed::Header)
    );
    // A well-formed pair is one character, and fine.
    let header = r#"{"alg":"ES256","kid":"es256","x-unused":"\ud83d\ude00"}"#;
    let token = sign_bytes(header.as_bytes(), payload.to_string().as_bytes());
    assert!(issuer().validator().validate(&token).await.is_ok());
}

/// Sanity for the helpers above: the untouched header and claims verify, so
/// every refusal in this file is due to the inserted bytes.
#[tokio::test]
async fn the_untouched_documents_are_accepted() {
    let header =
        br#"{"alg":"ES256","kid":"es256","typ":"at+jwt","x-unused":"value","x5t":["a",{"b":"c"}]}"#;
    let payload: Value = json!({"iss": issuer().issuer(), "aud": [AUDIENCE], "exp": 4_102_444_800u64, "x-unused": {"nested": ["v"]}});
    let token = sign_bytes(header, payload.to_string().as_bytes());
    assert!(issuer().validator().validate(&token).await.is_ok());
}
