//! Opaque tokens through RFC 7662 introspection, against a real endpoint on
//! 127.0.0.1 that counts its calls and checks the client authentication it
//! receives.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BearerLayer, BuildError, Claims, ValidationError, Validator, ValidatorBuilder,
    introspection::{
        ClientAuth, Introspection, IntrospectionError, IntrospectionOptions, InvalidResponse,
        TokenPolicy,
    },
    keys::{Algorithm, SigningKey},
};
use common::as_server::{CLIENT_ID, CLIENT_SECRET, ExpectedAuth, IntroMode, Setup, T0};
use serde_json::{Value, json};

const AUDIENCE: &str = "payments";

async fn setup() -> Setup {
    common::as_server::setup(AUDIENCE).await
}

/// This file's ways with the shared set-up (a trait: another file has its
/// own, in the same test binary).
trait IntrospectionSetup {
    fn active(&self, extra: Value) -> Value;
    fn with_auth(&self, auth: ClientAuth) -> Introspection;
    fn with_options(&self, options: IntrospectionOptions) -> Introspection;
    fn builder_with(&self, introspection: Introspection) -> ValidatorBuilder;
    fn builder(&self) -> ValidatorBuilder;
    fn validator(&self) -> Validator;
}

impl IntrospectionSetup for Setup {
    /// The issuer URL used in answers: the test issuer's.
    fn active(&self, extra: Value) -> Value {
        let mut answer = json!({
            "active": true,
            "iss": self.issuer.issuer(),
            "aud": AUDIENCE,
            "sub": "alice",
            "client_id": "web-app",
            "scope": "charge:customer orders:read",
            "token_type": "Bearer",
            "exp": T0 + 3600,
            "iat": T0,
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                answer.as_object_mut().unwrap().remove(k);
            } else {
                answer[k] = v.clone();
            }
        }
        answer
    }

    /// Introspection at the test server with `auth` (and a 500 ms timeout).
    fn with_auth(&self, auth: ClientAuth) -> Introspection {
        Introspection::at(self.server.introspection_url(), auth)
            .options(IntrospectionOptions::default().timeout(Duration::from_millis(500)))
    }

    /// Introspection at the test server with `options` (and basic auth).
    fn with_options(&self, options: IntrospectionOptions) -> Introspection {
        Introspection::at(
            self.server.introspection_url(),
            ClientAuth::basic(CLIENT_ID, CLIENT_SECRET),
        )
        .options(options)
    }

    fn builder_with(&self, introspection: Introspection) -> ValidatorBuilder {
        self.issuer
            .validator_builder()
            .audience(AUDIENCE)
            .allow_insecure_http()
            .introspection(introspection)
    }

    fn builder(&self) -> ValidatorBuilder {
        self.builder_with(self.with_auth(ClientAuth::basic(CLIENT_ID, CLIENT_SECRET)))
    }

    fn validator(&self) -> Validator {
        self.builder().build().unwrap()
    }
}

fn unavailable(e: &ValidationError) -> &IntrospectionError {
    match e {
        ValidationError::IntrospectionUnavailable(i) => i,
        other => panic!("expected IntrospectionUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn an_active_opaque_token_yields_the_same_claims_type() {
    let s = setup().await;
    s.server.answer("opaque-1", s.active(json!({})));
    let claims = s.validator().validate("opaque-1").await.unwrap();
    assert_eq!(claims.subject(), Some("alice"));
    assert_eq!(claims.client_id(), Some("web-app"));
    assert_eq!(claims.issuer(), Some(s.issuer.issuer()));
    assert!(claims.scopes().contains("charge:customer"));
    assert_eq!(claims.expires_at(), Some(T0 + 3600));
    // RFC 7662 §2.1: the token and the hint.
    let seen = &s.server.seen()[0];
    assert_eq!(seen.param("token"), Some("opaque-1"));
    assert_eq!(seen.param("token_type_hint"), Some("access_token"));
}

#[tokio::test]
async fn handlers_cannot_tell_introspected_from_local_tokens() {
    let s = setup().await;
    s.server.answer("opaque-2", s.active(json!({"sub": "bob"})));
    let app = Router::new()
        .route(
            "/me",
            get(|c: Claims| async move { c.subject().unwrap_or("?").to_owned() }),
        )
        .layer(BearerLayer::new(s.validator()).realm("payments"));
    let addr = common::serve(app).await;
    let client = reqwest::Client::new();
    let get = |token: String| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://{addr}/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), challenge, r.text().await.unwrap())
        }
    };
    assert_eq!(get("opaque-2".into()).await, (200, None, "bob".into()));
    let jwt = s.issuer.token().subject("carol").sign();
    assert_eq!(get(jwt).await, (200, None, "carol".into()));
    // An inactive token is a plain 401 invalid_token.
    let (status, challenge, _) = get("revoked-token".into()).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="payments", error="invalid_token", error_description="The access token is not active""#
        )
    );
    // JWTs are checked locally: only the two opaque tokens were introspected.
    assert_eq!(s.server.intro_calls(), 2);
}

#[tokio::test]
async fn inactive_tokens_are_refused() {
    let s = setup().await;
    s.server.answer("gone", json!({"active": false}));
    assert_eq!(
        s.validator().validate("gone").await.unwrap_err(),
        ValidationError::Inactive
    );
}

#[tokio::test]
async fn client_secret_basic_form_encodes_before_base64() {
    let s = setup().await;
    s.server.answer("t", s.active(json!({})));
    // The endpoint accepts only the exact RFC 6749 §2.3.1 encoding of
    // "rs:1 é" / "p@ss/w+rd".
    assert!(s.validator().validate("t").await.is_ok());
    let auth = s.server.seen()[0].authorization.clone().unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "rs%3A1+%C3%A9:p%40ss%2Fw%2Brd"
    );
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_form() {
    let s = setup().await;
    s.server.expect_auth(ExpectedAuth::Post {
        id: "rs".into(),
        secret: "s3cret".into(),
    });
    s.server.answer("t", s.active(json!({})));
    let v = s
        .builder_with(s.with_auth(ClientAuth::post("rs", "s3cret")))
        .build()
        .unwrap();
    assert!(v.validate("t").await.is_ok());
    let seen = &s.server.seen()[0];
    assert_eq!(seen.param("client_secret"), Some("s3cret"));
    assert!(seen.authorization.is_none());
}

#[tokio::test]
async fn private_key_jwt_sends_a_fresh_signed_assertion_per_call() {
    let s = setup().await;
    let client_key = SigningKey::generate(Algorithm::ES256).with_kid("rs-key");
    let client_jwk = client_key.public_jwk().unwrap();
    // The endpoint verifies assertions with a validator of its own.
    let verifier = Validator::builder()
        .issuer("resource-server")
        .audience(s.server.introspection_url())
        .jwks_json(json!({ "keys": [client_jwk] }).to_string())
        .clock(s.clock.clone())
        .build()
        .unwrap();
    s.server.expect_auth(ExpectedAuth::PrivateKeyJwt {
        client_id: "resource-server".into(),
        validator: verifier,
    });
    s.server.answer("t1", s.active(json!({})));
    s.server.answer("t2", s.active(json!({})));
    let v = s
        .builder_with(s.with_auth(ClientAuth::private_key_jwt("resource-server", client_key)))
        .build()
        .unwrap();
    assert!(v.validate("t1").await.is_ok());
    assert!(v.validate("t2").await.is_ok());
    let seen = s.server.seen();
    assert_ne!(
        seen[0].param("client_assertion"),
        seen[1].param("client_assertion")
    );
}

#[tokio::test]
async fn rejected_client_credentials_are_a_503_not_a_401() {
    let s = setup().await;
    s.server.answer("t", s.active(json!({})));
    let v = s
        .builder_with(s.with_auth(ClientAuth::basic(CLIENT_ID, "wrong")))
        .build()
        .unwrap();
    let err = v.validate("t").await.unwrap_err();
    assert_eq!(
        unavailable(&err),
        &IntrospectionError::ClientAuthRejected(401)
    );
    assert_eq!(
        bearer_guard::AuthError::from(err.clone()).status(),
        http::StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn answers_are_cached_by_token_digest() {
    let s = setup().await;
    s.server.answer("t", s.active(json!({})));
    let v = s.validator();
    for _ in 0..5 {
        assert!(v.validate("t").await.is_ok());
    }
    assert_eq!(s.server.intro_calls(), 1);
    let stats = v.introspection_stats().await.unwrap();
    assert_eq!((stats.calls, stats.cache_hits, stats.active), (1, 4, 1));
}

#[tokio::test]
async fn an_active_answer_lives_until_max_ttl_at_most() {
    let s = setup().await;
    s.server.answer("t", s.active(json!({})));
    let v = s.validator();
    assert!(v.validate("t").await.is_ok());
    s.clock.advance(59);
    assert!(v.validate("t").await.is_ok());
    assert_eq!(s.server.intro_calls(), 1);
    // At 60 s (the default max_ttl) the answer is asked for again: a
    // revocation is noticed.
    s.server.answer("t", json!({"active": false}));
    s.clock.advance(1);
    assert_eq!(
        v.validate("t").await.unwrap_err(),
        ValidationError::Inactive
    );
    assert_eq!(s.server.intro_calls(), 2);
}

#[tokio::test]
async fn an_active_answer_never_outlives_the_tokens_exp() {
    let s = setup().await;
    s.server.answer("short", s.active(json!({"exp": T0 + 20})));
    let v = s
        .builder_with(
            s.with_options(IntrospectionOptions::default().max_ttl(Duration::from_secs(300))),
        )
        .build()
        .unwrap();
    assert!(v.validate("short").await.is_ok());
    s.clock.advance(19);
    assert!(v.validate("short").await.is_ok());
    assert_eq!(s.server.intro_calls(), 1);
    // Past exp + leeway the token is expired, whatever the cache held.
    s.clock.advance(61);
    assert_eq!(
        v.validate("short").await.unwrap_err(),
        ValidationError::Expired
    );
}

#[tokio::test]
async fn inactive_answers_are_cached_for_the_shorter_inactive_ttl() {
    let s = setup().await;
    let v = s.validator();
    assert_eq!(
        v.validate("unknown").await.unwrap_err(),
        ValidationError::Inactive
    );
    s.clock.advance(9);
    assert_eq!(
        v.validate("unknown").await.unwrap_err(),
        ValidationError::Inactive
    );
    assert_eq!(s.server.intro_calls(), 1);
    s.clock.advance(1);
    s.server.answer("unknown", s.active(json!({})));
    assert!(v.validate("unknown").await.is_ok());
    assert_eq!(s.server.intro_calls(), 2);
}

#[tokio::test]
async fn a_hundred_concurrent_requests_for_one_token_make_one_call() {
    let s = setup().await;
    s.server.answer("popular", s.active(json!({})));
    s.server.set_intro_mode(IntroMode::Gated);
    let v = s.validator();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let v = v.clone();
        tasks.spawn(async move { v.validate("popular").await });
    }
    // The one call has arrived; the others are waiting on it.
    s.server.wait_for_intro_calls(1).await;
    s.server.open_gate();
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        assert!(r.unwrap().is_ok());
        ok += 1;
    }
    assert_eq!(ok, 100);
    assert_eq!(s.server.intro_calls(), 1);
    let stats = v.introspection_stats().await.unwrap();
    assert_eq!((stats.calls, stats.cache_hits), (1, 99));
}

#[tokio::test]
async fn the_cache_stays_within_its_capacity() {
    let s = setup().await;
    let v = s
        .builder_with(s.with_options(IntrospectionOptions::default().capacity(10)))
        .build()
        .unwrap();
    for i in 0..50 {
        let token = format!("tok-{i}");
        s.server.answer(&token, s.active(json!({})));
        assert!(v.validate(&token).await.is_ok());
    }
    let stats = v.introspection_stats().await.unwrap();
    assert_eq!(stats.calls, 50);
    assert!(stats.cached <= 10, "{} cached", stats.cached);
}

#[tokio::test]
async fn a_slow_endpoint_times_out_into_503() {
    let s = setup().await;
    s.server.set_intro_mode(IntroMode::Hang);
    let v = s
        .builder_with(
            s.with_options(IntrospectionOptions::default().timeout(Duration::from_millis(200))),
        )
        .build()
        .unwrap();
    let err = v.validate("t").await.unwrap_err();
    assert!(
        matches!(unavailable(&err), IntrospectionError::Fetch(e) if e.is_timeout()
            && e.to_string().contains("no answer within 200ms")),
        "{err:?}"
    );
}

#[tokio::test]
async fn during_an_outage_cached_answers_serve_and_new_tokens_get_503() {
    let s = setup().await;
    s.server.answer("cached", s.active(json!({})));
    s.server.answer("new", s.active(json!({})));
    let v = s.validator();
    assert!(v.validate("cached").await.is_ok());
    for mode in [IntroMode::Status(503), IntroMode::Hang] {
        s.server.set_intro_mode(mode);
        assert!(v.validate("cached").await.is_ok());
        let err = v.validate("new").await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    }
    // A refused connection, too.
    let refused = common::as_server::refused_addr().await;
    let down = s
        .builder_with(Introspection::at(
            format!("http://{refused}/introspect"),
            ClientAuth::basic(CLIENT_ID, CLIENT_SECRET),
        ))
        .build()
        .unwrap();
    let err = down.validate("new").await.unwrap_err();
    assert!(matches!(
        unavailable(&err),
        IntrospectionError::Fetch(e) if e.is_connect()
    ));
}

#[tokio::test]
async fn malformed_answers_are_503_never_200() {
    let s = setup().await;
    let cases: Vec<(IntroMode, IntrospectionError)> = vec![
        (
            IntroMode::Raw("<html>".into()),
            IntrospectionError::InvalidResponse(InvalidResponse::NotJsonObject),
        ),
        (
            IntroMode::Raw("[true]".into()),
            IntrospectionError::InvalidResponse(InvalidResponse::NotJsonObject),
        ),
        (
            IntroMode::Raw(r#"{"sub":"x"}"#.into()),
            IntrospectionError::InvalidResponse(InvalidResponse::NoActive),
        ),
        (
            IntroMode::Raw(r#"{"active":"true"}"#.into()),
            IntrospectionError::InvalidResponse(InvalidResponse::NoActive),
        ),
        (
            IntroMode::Raw(r#"{"active":true,"active":false}"#.into()),
            IntrospectionError::InvalidResponse(InvalidResponse::DuplicateMember),
        ),
    ];
    for (i, (mode, expected)) in cases.into_iter().enumerate() {
        s.server.set_intro_mode(mode.clone());
        let err = s.validator().validate(&format!("t{i}")).await.unwrap_err();
        assert_eq!(unavailable(&err), &expected, "{mode:?}");
    }
    // Failed calls: a 500, a body over the 64 KiB default limit.
    s.server.set_intro_mode(IntroMode::Status(500));
    let err = s.validator().validate("t-500").await.unwrap_err();
    assert!(
        matches!(unavailable(&err), IntrospectionError::Fetch(e) if e.status() == Some(500)),
        "{err:?}"
    );
    s.server.set_intro_mode(IntroMode::Stream(10 * 1024 * 1024));
    let err = s.validator().validate("t-large").await.unwrap_err();
    assert!(
        matches!(unavailable(&err), IntrospectionError::Fetch(e) if e.is_too_large()
            && e.to_string().contains("over the 65536-byte limit")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_response_size_limit_holds_at_its_edge() {
    let s = setup().await;
    let body = json!({"active": false}).to_string();
    s.server.set_intro_mode(IntroMode::Raw(body.clone()));
    let at = s
        .builder_with(s.with_options(IntrospectionOptions::default().max_size(body.len())))
        .build()
        .unwrap();
    assert_eq!(
        at.validate("a").await.unwrap_err(),
        ValidationError::Inactive
    );
    let under = s
        .builder_with(s.with_options(IntrospectionOptions::default().max_size(body.len() - 1)))
        .build()
        .unwrap();
    let err = under.validate("b").await.unwrap_err();
    assert!(matches!(
        unavailable(&err),
        IntrospectionError::Fetch(e) if e.is_too_large()
    ));
}

#[tokio::test]
async fn beyond_max_concurrent_calls_requests_get_503_at_once() {
    let s = setup().await;
    s.server.set_intro_mode(IntroMode::Gated);
    let v = s
        .builder_with(
            s.with_options(
                IntrospectionOptions::default()
                    .max_concurrent(2)
                    .timeout(Duration::from_secs(10)),
            ),
        )
        .build()
        .unwrap();
    let mut held = tokio::task::JoinSet::new();
    for t in ["one", "two"] {
        let v = v.clone();
        held.spawn(async move { v.validate(t).await });
    }
    s.server.wait_for_intro_calls(2).await;
    let err = v.validate("three").await.unwrap_err();
    assert_eq!(unavailable(&err), &IntrospectionError::Overloaded);
    s.server.open_gate();
    while let Some(r) = held.join_next().await {
        assert_eq!(r.unwrap().unwrap_err(), ValidationError::Inactive);
    }
    assert_eq!(s.server.intro_calls(), 2);
    assert_eq!(v.introspection_stats().await.unwrap().overloaded, 1);
    // With capacity free again, the refused token is introspected.
    assert_eq!(
        v.validate("three").await.unwrap_err(),
        ValidationError::Inactive
    );
}

#[tokio::test]
async fn active_answers_go_through_the_claim_checks() {
    let s = setup().await;
    let cases = [
        (
            json!({"iss": "https://other.example"}),
            ValidationError::InvalidIssuer,
        ),
        (json!({"aud": "orders"}), ValidationError::InvalidAudience),
        (json!({"exp": T0 - 3600}), ValidationError::Expired),
        (json!({"nbf": T0 + 3600}), ValidationError::NotYetValid),
        (
            json!({"token_type": "refresh_token"}),
            ValidationError::TypeNotAllowed,
        ),
        (
            json!({"token_type": "DPoP", "cnf": {"jkt": "x"}}),
            ValidationError::SenderConstrained,
        ),
        (
            json!({"cnf": {"x5t#S256": "y"}}),
            ValidationError::CertificateMismatch,
        ),
        (
            json!({"token_type": "DPoP"}),
            ValidationError::MissingClaim("cnf".into()),
        ),
        (json!({"scope": 5}), ValidationError::InvalidClaim("scope")),
    ];
    let v = s.validator();
    for (i, (patch, expected)) in cases.into_iter().enumerate() {
        let token = format!("t{i}");
        s.server.answer(&token, s.active(patch.clone()));
        assert_eq!(v.validate(&token).await.unwrap_err(), expected, "{patch}");
    }
    // Absent iss / exp are not required of introspection answers (the
    // endpoint speaks for its issuer); the audience is.
    s.server.answer(
        "bare",
        json!({"active": true, "aud": AUDIENCE, "scope": "a"}),
    );
    let claims = v.validate("bare").await.unwrap();
    assert_eq!(claims.expires_at(), None);
}

/// The attack: an opaque token issued by the same authorization server for
/// another resource, whose introspection answer omits `aud` (as many
/// servers' do), presented to an API configured with `.audience(..)`.
#[tokio::test]
async fn an_answer_without_aud_is_refused_unless_the_user_names_it_omitted() {
    let s = setup().await;
    s.server.answer(
        "for-orders",
        s.active(json!({"aud": null, "client_id": "orders-client"})),
    );
    let v = s.validator();
    assert_eq!(
        v.validate("for-orders").await.unwrap_err(),
        ValidationError::MissingClaim("aud".into())
    );
    // Asked again, from the in-process cache: refused again.
    assert_eq!(
        v.validate("for-orders").await.unwrap_err(),
        ValidationError::MissingClaim("aud".into())
    );
    // Named, once, by a user whose server restricts answers itself: the
    // answer is accepted, and an `aud` it does carry is still checked.
    let lenient = s
        .builder_with(
            s.with_auth(ClientAuth::basic(CLIENT_ID, CLIENT_SECRET))
                .may_omit("aud"),
        )
        .build()
        .unwrap();
    assert!(lenient.validate("for-orders").await.is_ok());
    s.server
        .answer("aud-orders", s.active(json!({"aud": "orders"})));
    assert_eq!(
        lenient.validate("aud-orders").await.unwrap_err(),
        ValidationError::InvalidAudience
    );
}

/// Every required claim is required of an answer: `require_claim`, the
/// RFC 9068 profile's `sub`, `client_id`, `iat`, `jti`, and
/// `require_claim_equals`, unless named omitted (and then checked where
/// present).
#[tokio::test]
async fn required_claims_hold_for_introspection_answers() {
    let s = setup().await;
    let v = s
        .builder()
        .rfc9068_profile()
        .require_claim("tenant")
        .require_claim_equals("token_use", "access")
        .build()
        .unwrap();
    let full = json!({"jti": "j1", "tenant": "acme", "token_use": "access"});
    s.server.answer("full", s.active(full.clone()));
    assert!(v.validate("full").await.is_ok());
    for (i, claim) in ["sub", "client_id", "iat", "jti", "tenant", "token_use"]
        .into_iter()
        .enumerate()
    {
        let mut patch = full.clone();
        patch[claim] = Value::Null;
        let token = format!("without-{i}");
        s.server.answer(&token, s.active(patch));
        assert_eq!(
            v.validate(&token).await.unwrap_err(),
            ValidationError::MissingClaim(claim.into()),
            "{claim}"
        );
    }
    // `jti` named omitted: accepted without it, refused with a bad one.
    let lenient = s
        .builder_with(
            s.with_auth(ClientAuth::basic(CLIENT_ID, CLIENT_SECRET))
                .may_omit("jti")
                .may_omit("token_use"),
        )
        .rfc9068_profile()
        .require_claim_equals("token_use", "access")
        .build()
        .unwrap();
    s.server
        .answer("no-jti", s.active(json!({"jti": null, "token_use": null})));
    assert!(lenient.validate("no-jti").await.is_ok());
    s.server
        .answer("bad-use", s.active(json!({"jti": "j2", "token_use": "id"})));
    assert_eq!(
        lenient.validate("bad-use").await.unwrap_err(),
        ValidationError::UnexpectedClaimValue("token_use".into())
    );
}

#[tokio::test]
async fn token_policies_route_tokens() {
    let s = setup().await;
    let jwt = s.issuer.token().subject("local").sign();
    s.server.answer("opaque", s.active(json!({})));
    s.server
        .answer(&jwt, s.active(json!({"sub": "introspected"})));

    // Without introspection, only JWTs.
    let only_jwt = s
        .issuer
        .validator_builder()
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert!(matches!(
        only_jwt.validate("opaque").await.unwrap_err(),
        ValidationError::Malformed(_)
    ));
    assert_eq!(s.server.intro_calls(), 0);

    let mixed = s.builder().build().unwrap();
    assert_eq!(mixed.validate(&jwt).await.unwrap().subject(), Some("local"));
    assert_eq!(s.server.intro_calls(), 0);
    assert!(mixed.validate("opaque").await.is_ok());
    assert_eq!(s.server.intro_calls(), 1);

    let all = s
        .builder_with(
            s.with_auth(ClientAuth::basic(CLIENT_ID, CLIENT_SECRET))
                .policy(TokenPolicy::IntrospectAll),
        )
        .build()
        .unwrap();
    assert_eq!(
        all.validate(&jwt).await.unwrap().subject(),
        Some("introspected")
    );
    assert_eq!(s.server.intro_calls(), 2);
}

#[tokio::test]
async fn the_endpoint_can_come_from_discovery() {
    let s = setup().await;
    let issuer = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256)])
        .issuer_url(s.server.url())
        .default_audience(AUDIENCE)
        .clock(s.clock.clone());
    s.server.set_jwks(issuer.jwks_json());
    let mut answer = s.active(json!({}));
    answer["iss"] = json!(s.server.url());
    s.server.answer("opaque", answer);
    let v = Validator::builder()
        .issuer(s.server.url())
        .audience(AUDIENCE)
        .clock(s.clock.clone())
        .allow_insecure_http()
        .discover()
        .introspection(Introspection::discovered(ClientAuth::basic(
            CLIENT_ID,
            CLIENT_SECRET,
        )))
        .build()
        .unwrap();
    // No wait for discovery first: the first opaque token waits for it.
    assert!(v.validate("opaque").await.is_ok());
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
}

#[test]
fn introspection_configuration_errors_are_clear() {
    let base = || {
        Validator::builder()
            .issuer("https://i")
            .audience("a")
            .jwks_json(TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256)]).jwks_json())
    };
    // The endpoint from discovery needs discovery.
    assert!(matches!(
        base()
            .introspection(Introspection::discovered(ClientAuth::basic("a", "b")))
            .build(),
        Err(BuildError::IntrospectionNeedsDiscovery)
    ));
    assert!(matches!(
        base()
            .introspection(Introspection::at(
                "http://i/introspect",
                ClientAuth::basic("a", "b")
            ))
            .build(),
        Err(BuildError::Url(e)) if e.is_insecure_url()
    ));
    // No call in flight allowed: nothing could ever be checked.
    let with_concurrency = |calls| {
        base()
            .introspection(
                Introspection::at("https://i/introspect", ClientAuth::basic("a", "b"))
                    .options(IntrospectionOptions::default().max_concurrent(calls)),
            )
            .build()
    };
    assert!(matches!(
        with_concurrency(0),
        Err(BuildError::IntrospectionConcurrency)
    ));
    // "Unlimited" is accepted (tokio's own permit limit applies).
    assert!(with_concurrency(1).is_ok());
    assert!(with_concurrency(usize::MAX).is_ok());
}

#[tokio::test]
async fn oversize_opaque_tokens_are_refused_without_a_call() {
    let s = setup().await;
    let v = s.builder().max_token_size(64).build().unwrap();
    let token = "o".repeat(65);
    assert!(matches!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::TooLarge { len: 65, limit: 64 }
    ));
    assert_eq!(s.server.intro_calls(), 0);
}
