//! The calling side against a real token endpoint on 127.0.0.1 (an axum
//! app that counts its calls, checks the client authentication it
//! receives and answers as told): client credentials with each client
//! authentication, caching, renewal ahead of expiry, single flight,
//! backoff, RFC 6749 §5.2 errors, refresh-token rotation, the outbound
//! layer and reqwest retry; ID-token verification.
#![cfg(feature = "client")]

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use bearer_guard::client::{IdTokenError, IdTokenVerifier, TokenError, TokenSource};
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BearerLayer, Validator,
    introspection::ClientAuth,
    keys::{Algorithm, SigningKey},
    testing::ManualClock,
};
use common::{issuer, serve};
use serde_json::json;
use tower::{Service, ServiceBuilder, ServiceExt};

const T0: i64 = 2_000_000_000;

/// How the test token endpoint answers.
#[derive(Clone)]
enum Answer {
    /// A token for this audience, living this long.
    Token { aud: &'static str, expires_in: i64 },
    /// An RFC 6749 §5.2 error.
    Error { status: u16, error: &'static str },
    /// A 200 this client cannot use (a DPoP token), with a rotated refresh
    /// token.
    DpopType,
}

/// The forms the endpoint received.
type Forms = Arc<Mutex<Vec<Vec<(String, String)>>>>;

#[derive(Clone)]
struct Endpoint {
    calls: Arc<AtomicUsize>,
    answers: Arc<Mutex<Vec<Answer>>>,
    forms: Forms,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
    issuer: &'static TestIssuer,
    clock: ManualClock,
    /// Each answer's refresh token: `rt-N`.
    rotate: bool,
}

async fn token_endpoint(State(e): State<Endpoint>, headers: HeaderMap, body: String) -> Response {
    let n = e.calls.fetch_add(1, Ordering::SeqCst);
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    e.forms.lock().unwrap().push(form);
    e.headers.lock().unwrap().push(headers);
    let answer = {
        let mut answers = e.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers[0].clone()
        }
    };
    match answer {
        Answer::Token { aud, expires_in } => {
            let token = e
                .issuer
                .token()
                .audience(aud)
                .expires_in(expires_in)
                .claim("n", n as i64)
                .sign();
            let mut body = json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "charge:customer"});
            if e.rotate {
                body["refresh_token"] = json!(format!("rt-{}", n + 1));
            }
            axum::Json(body).into_response()
        }
        Answer::DpopType => axum::Json(json!({
            "access_token": "x", "token_type": "DPoP", "expires_in": 300,
            "refresh_token": format!("rt-{}", n + 1),
        }))
        .into_response(),
        Answer::Error { status, error } => (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(json!({"error": error, "error_description": "told to refuse"})),
        )
            .into_response(),
    }
}

async fn start(answers: Vec<Answer>, rotate: bool) -> (String, Endpoint) {
    let clock = ManualClock::new(T0);
    let e = Endpoint {
        calls: Arc::default(),
        answers: Arc::new(Mutex::new(answers)),
        forms: Arc::default(),
        headers: Arc::default(),
        issuer: clock_issuer(),
        clock,
        rotate,
    };
    let app = Router::new()
        .route("/token", post(token_endpoint))
        .with_state(e.clone());
    let addr = serve(app).await;
    (format!("http://{addr}/token"), e)
}

/// The tokens' issuer: the common one, on the system clock (the source
/// under test runs on the endpoint's manual clock; only `expires_in`
/// matters to it).
fn clock_issuer() -> &'static TestIssuer {
    issuer()
}

fn good() -> Answer {
    Answer::Token {
        aud: common::AUDIENCE,
        expires_in: 300,
    }
}

fn source(url: &str, e: &Endpoint, auth: ClientAuth) -> TokenSource {
    TokenSource::client_credentials(auth)
        .token_url(url)
        .scope("charge:customer")
        .resource("https://payments.example.com")
        .clock(e.clock.clone())
        .allow_insecure_http()
        .build()
        .unwrap()
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn client_credentials_are_requested_once_and_cached() {
    let (url, e) = start(vec![good()], false).await;
    let s = source(&url, &e, ClientAuth::basic("order:service", "s3cr=t é"));
    let t1 = s.token().await.unwrap();
    let t2 = s.token().await.unwrap();
    assert_eq!(t1.secret(), t2.secret());
    assert_eq!(e.calls.load(Ordering::SeqCst), 1);
    assert_eq!(t1.expires_at(), T0 + 300);
    assert_eq!(t1.scope(), Some("charge:customer"));
    let form = e.forms.lock().unwrap()[0].clone();
    assert_eq!(param(&form, "grant_type"), Some("client_credentials"));
    assert_eq!(param(&form, "scope"), Some("charge:customer"));
    assert_eq!(
        param(&form, "resource"),
        Some("https://payments.example.com")
    );
    // RFC 6749 §2.3.1: id and secret form-encoded, then Base64.
    let auth = e.headers.lock().unwrap()[0]["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "order%3Aservice:s3cr%3Dt+%C3%A9"
    );
    // Secrets stay out of Debug output.
    let debug = format!("{s:?} {t1:?}");
    assert!(
        !debug.contains("s3cr") && !debug.contains(t1.secret()),
        "{debug}"
    );
}

#[tokio::test]
async fn many_callers_share_one_request() {
    let (url, e) = start(vec![good()], false).await;
    let s = source(&url, &e, ClientAuth::post("order-service", "secret"));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.token().await.map(|t| t.secret().to_owned()) })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().unwrap());
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(e.calls.load(Ordering::SeqCst), 1);
    let form = e.forms.lock().unwrap()[0].clone();
    assert_eq!(param(&form, "client_id"), Some("order-service"));
    assert_eq!(param(&form, "client_secret"), Some("secret"));
}

#[tokio::test]
async fn a_token_is_renewed_ahead_of_expiry_and_never_handed_out_expired() {
    let (url, e) = start(vec![good()], false).await;
    let s = source(&url, &e, ClientAuth::basic("c", "s"));
    let first = s.token().await.unwrap();
    // Before renewal is due (80 % of 300 s less up to 5 %): cached.
    e.clock.set(T0 + 200);
    assert_eq!(s.token().await.unwrap().secret(), first.secret());
    assert_eq!(e.calls.load(Ordering::SeqCst), 1);
    // Due (past 240 s) but still valid: renewed by this caller.
    e.clock.set(T0 + 241);
    let second = s.token().await.unwrap();
    assert_eq!(e.calls.load(Ordering::SeqCst), 2);
    assert_ne!(second.secret(), first.secret());
    // Within the minimum validity of its expiry (30 s): never handed out.
    e.clock.set(second.expires_at() - 29);
    let third = s.token().await.unwrap();
    assert_eq!(e.calls.load(Ordering::SeqCst), 3);
    assert!(third.expires_at() - e.clock.now() > 30);
}

#[tokio::test]
async fn refusals_say_what_the_server_answered_and_back_off() {
    let (url, e) = start(
        vec![
            Answer::Error {
                status: 400,
                error: "invalid_scope",
            },
            good(),
        ],
        false,
    )
    .await;
    let s = source(&url, &e, ClientAuth::basic("c", "s"));
    let err = s.token().await.unwrap_err();
    assert_eq!(
        err,
        TokenError::Refused {
            status: 400,
            error: "invalid_scope".into(),
            description: Some("told to refuse".into())
        }
    );
    assert!(
        err.to_string().contains("invalid_scope: told to refuse"),
        "{err}"
    );
    // Within the backoff: no request.
    assert!(matches!(
        s.token().await.unwrap_err(),
        TokenError::BackingOff { retry_in, .. } if retry_in == Duration::from_secs(1)
    ));
    assert_eq!(e.calls.load(Ordering::SeqCst), 1);
    e.clock.advance(1);
    assert!(s.token().await.is_ok());
    assert_eq!(e.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn private_key_jwt_assertions_are_signed_fresh_for_the_endpoint() {
    let (url, e) = start(vec![good()], false).await;
    let key = TestKey::generate(Algorithm::ES256).with_kid("client-key");
    let signing = SigningKey::from_pem(
        pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            key.private_pkcs8_der().unwrap(),
        ))
        .as_bytes(),
        Algorithm::ES256,
    )
    .unwrap()
    .with_kid("client-key");
    let s = source(
        &url,
        &e,
        ClientAuth::private_key_jwt("order-service", signing),
    );
    s.token().await.unwrap();
    s.refresh().await.unwrap();
    let client_issuer = TestIssuer::with_keys(vec![key]).issuer_url("order-service");
    let verify = Validator::builder()
        .issuer("order-service")
        .audience(url.clone())
        .jwks_json(client_issuer.jwks_json())
        .typ_policy(bearer_guard::jwt::TypPolicy::OneOf(vec![
            String::new(),
            "JWT".into(),
        ]))
        .require_claim("jti")
        .clock(e.clock.clone())
        .build()
        .unwrap();
    let mut jtis = Vec::new();
    let forms = e.forms.lock().unwrap().clone();
    for form in &forms {
        assert_eq!(
            param(form, "client_assertion_type"),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        let assertion = param(form, "client_assertion").unwrap().to_owned();
        let claims = verify.validate(&assertion).await.unwrap();
        assert_eq!(claims.subject(), Some("order-service"));
        assert!(claims.expires_at().unwrap() - claims.issued_at().unwrap() <= 60);
        jtis.push(claims.jwt_id().unwrap().to_owned());
    }
    assert_eq!(jtis.len(), 2);
    assert_ne!(jtis[0], jtis[1]);
}

#[tokio::test]
async fn a_refresh_token_is_rotated_and_a_refused_one_ends_the_source() {
    let (url, e) = start(
        vec![
            good(),
            good(),
            Answer::Error {
                status: 400,
                error: "invalid_grant",
            },
        ],
        true,
    )
    .await;
    let rotated = Arc::new(Mutex::new(Vec::new()));
    let seen = rotated.clone();
    let s = TokenSource::refresh_token(ClientAuth::basic("web-app", "s"), "rt-0")
        .token_url(&url)
        .clock(e.clock.clone())
        .allow_insecure_http()
        .on_rotate(move |rt| seen.lock().unwrap().push(rt.to_owned()))
        .build()
        .unwrap();
    s.token().await.unwrap();
    s.refresh().await.unwrap();
    let forms = e.forms.lock().unwrap().clone();
    assert_eq!(param(&forms[0], "grant_type"), Some("refresh_token"));
    assert_eq!(param(&forms[0], "refresh_token"), Some("rt-0"));
    // The second request sent the token the first answer rotated to.
    assert_eq!(param(&forms[1], "refresh_token"), Some("rt-1"));
    assert_eq!(*rotated.lock().unwrap(), ["rt-1", "rt-2"]);
    let err = s.refresh().await.unwrap_err();
    assert!(matches!(err, TokenError::LoginRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("log in again"));
    // Finished: no more requests.
    assert!(matches!(
        s.token().await.unwrap_err(),
        TokenError::LoginRequired { .. }
    ));
    assert_eq!(e.calls.load(Ordering::SeqCst), 3);
}

/// Any tower HTTP client will do for the outbound layers: this one sends
/// each request with reqwest.
async fn forward(req: http::Request<String>) -> Result<http::Response<String>, reqwest::Error> {
    let (parts, body) = req.into_parts();
    let mut r = reqwest::Client::new()
        .request(parts.method, parts.uri.to_string())
        .body(body);
    for (k, v) in &parts.headers {
        r = r.header(k, v);
    }
    let resp = r.send().await?;
    let mut out = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    Ok(out.body(resp.text().await?).unwrap())
}

/// A Payment Service accepting tokens for `payments` minted now.
async fn payments() -> std::net::SocketAddr {
    let validator = issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .build()
        .unwrap();
    serve(
        Router::new()
            .route("/charge", post(|| async { "charged" }))
            .layer(BearerLayer::new(validator)),
    )
    .await
}

#[tokio::test]
async fn reqwest_requests_are_retried_once_with_a_fresh_token_after_invalid_token() {
    // The first token is for another audience: the Payment Service
    // answers 401 invalid_token; the second is good.
    let (url, e) = start(
        vec![
            Answer::Token {
                aud: "orders",
                expires_in: 300,
            },
            good(),
        ],
        false,
    )
    .await;
    let s = source(&url, &e, ClientAuth::basic("c", "s"));
    let addr = payments().await;
    let r = s
        .send(
            reqwest::Client::new()
                .post(format!("http://{addr}/charge"))
                .body("{}"),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(e.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_outbound_layer_adds_the_token_and_renews_it_after_invalid_token() {
    let (url, e) = start(
        vec![
            Answer::Token {
                aud: "orders",
                expires_in: 300,
            },
            good(),
        ],
        false,
    )
    .await;
    let s = source(&url, &e, ClientAuth::basic("c", "s"));
    let addr = payments().await;
    // Any tower HTTP client: here one over reqwest.
    let http = tower::service_fn(forward);
    let mut client = ServiceBuilder::new()
        .layer(bearer_guard::client::AuthorizeLayer::new(s))
        .service(http);
    let req = http::Request::post(format!("http://{addr}/charge"))
        .body(String::new())
        .unwrap();
    let first = client.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(first.status(), 401);
    let req = http::Request::post(format!("http://{addr}/charge"))
        .body(String::new())
        .unwrap();
    let second = client.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(
        (second.status().as_u16(), second.body().as_str()),
        (200, "charged")
    );
    assert_eq!(e.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn id_tokens_are_verified_as_openid_connect_core_says() {
    let op = TestIssuer::new();
    let verifier = IdTokenVerifier::builder(op.issuer(), "web-app")
        .jwks_json(op.jwks_json())
        .build()
        .unwrap();
    let id = || {
        op.token()
            .header("typ", "JWT")
            .audience("web-app")
            .claim("nonce", "n-1")
    };
    let now = bearer_guard::Clock::System.now();
    assert!(
        verifier
            .verify(&id().sign(), Some("n-1"), None)
            .await
            .is_ok()
    );
    assert_eq!(
        verifier
            .verify(&id().sign(), Some("n-2"), None)
            .await
            .unwrap_err(),
        IdTokenError::NonceMismatch
    );
    assert_eq!(
        verifier
            .verify(&id().without_claim("nonce").sign(), Some("n-1"), None)
            .await
            .unwrap_err(),
        IdTokenError::MissingNonce
    );
    // Several audiences need azp naming this client.
    let multi = id().audiences(&["web-app", "other"]);
    assert_eq!(
        verifier
            .verify(&multi.sign(), Some("n-1"), None)
            .await
            .unwrap_err(),
        IdTokenError::AuthorizedParty
    );
    let multi = id()
        .audiences(&["web-app", "other"])
        .claim("azp", "web-app");
    assert!(
        verifier
            .verify(&multi.sign(), Some("n-1"), None)
            .await
            .is_ok()
    );
    let other_azp = id().claim("azp", "other");
    assert_eq!(
        verifier
            .verify(&other_azp.sign(), Some("n-1"), None)
            .await
            .unwrap_err(),
        IdTokenError::AuthorizedParty
    );
    // max_age against auth_time.
    let max = Some(Duration::from_secs(300));
    assert!(
        verifier
            .verify(&id().claim("auth_time", now - 10).sign(), Some("n-1"), max)
            .await
            .is_ok()
    );
    assert_eq!(
        verifier
            .verify(
                &id().claim("auth_time", now - 3600).sign(),
                Some("n-1"),
                max
            )
            .await
            .unwrap_err(),
        IdTokenError::AuthenticationTooOld
    );
    assert_eq!(
        verifier
            .verify(&id().sign(), Some("n-1"), max)
            .await
            .unwrap_err(),
        IdTokenError::MissingAuthTime
    );
    // Another client's token, an access token, an expired one.
    let wrong = op
        .token()
        .header("typ", "JWT")
        .audience("other")
        .claim("nonce", "n-1");
    assert!(matches!(
        verifier
            .verify(&wrong.sign(), Some("n-1"), None)
            .await
            .unwrap_err(),
        IdTokenError::Token(_)
    ));
    let access = op.token().audience("web-app").claim("nonce", "n-1");
    assert!(matches!(
        verifier
            .verify(&access.sign(), Some("n-1"), None)
            .await
            .unwrap_err(),
        IdTokenError::Token(_)
    ));
    let expired = id().expires_in(-3600);
    assert!(matches!(
        verifier
            .verify(&expired.sign(), Some("n-1"), None)
            .await
            .unwrap_err(),
        IdTokenError::Token(_)
    ));
    // Only the registered algorithm.
    let es = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256)]);
    let strict = IdTokenVerifier::builder(es.issuer(), "web-app")
        .jwks_json(es.jwks_json())
        .algorithms([Algorithm::RS256])
        .build();
    assert!(
        strict.is_err() || {
            let v = strict.unwrap();
            let t = es.token().header("typ", "JWT").audience("web-app").sign();
            v.verify(&t, None, None).await.is_err()
        }
    );
}

/// The retrying layer with `source` over a client that counts the requests
/// it sends.
fn retrying_client(
    source: TokenSource,
) -> (
    Arc<AtomicUsize>,
    impl Service<
        http::Request<String>,
        Response = http::Response<String>,
        Error = Box<dyn std::error::Error + Send + Sync>,
    >,
) {
    let sent = Arc::new(AtomicUsize::new(0));
    let count = sent.clone();
    let http = tower::service_fn(move |req: http::Request<String>| {
        count.fetch_add(1, Ordering::SeqCst);
        forward(req)
    });
    let client = ServiceBuilder::new()
        .layer(bearer_guard::client::AuthorizeLayer::new(source).retry())
        .service(http);
    (sent, client)
}

#[tokio::test]
async fn the_retrying_layer_sends_a_refused_request_once_more_with_a_fresh_token() {
    let (url, e) = start(
        vec![
            Answer::Token {
                aud: "orders",
                expires_in: 300,
            },
            good(),
        ],
        false,
    )
    .await;
    let s = source(&url, &e, ClientAuth::basic("c", "s"));
    let addr = payments().await;
    let (sent, mut client) = retrying_client(s);
    let req = http::Request::post(format!("http://{addr}/charge"))
        .body("{}".to_owned())
        .unwrap();
    let response = client.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(
        (response.status().as_u16(), response.body().as_str()),
        (200, "charged")
    );
    assert_eq!(sent.load(Ordering::SeqCst), 2, "one request, one retry");
    assert_eq!(e.calls.load(Ordering::SeqCst), 2, "one token, one renewal");
}

/// A token source whose every token is for another audience, and the
/// Payment Service that refuses them all.
async fn refused_for_good() -> (Endpoint, TokenSource, std::net::SocketAddr) {
    let (url, e) = start(
        vec![Answer::Token {
            aud: "orders",
            expires_in: 300,
        }],
        false,
    )
    .await;
    let s = source(&url, &e, ClientAuth::basic("c", "s"));
    (e, s, payments().await)
}

#[tokio::test]
async fn a_token_refused_for_good_is_renewed_at_most_once_per_interval() {
    // Every token is for another audience: the Payment Service refuses all.
    let (e, s, addr) = refused_for_good().await;
    let charge = || s.send(reqwest::Client::new().post(format!("http://{addr}/charge")));
    assert_eq!(charge().await.unwrap().status(), 401);
    assert_eq!(e.calls.load(Ordering::SeqCst), 2, "a token and one renewal");
    for _ in 0..5 {
        assert_eq!(charge().await.unwrap().status(), 401);
    }
    assert_eq!(
        e.calls.load(Ordering::SeqCst),
        2,
        "no renewal within the interval"
    );
    e.clock
        .advance(bearer_guard::limits::FORCED_RENEWAL_INTERVAL.as_secs() as i64);
    assert_eq!(charge().await.unwrap().status(), 401);
    assert_eq!(e.calls.load(Ordering::SeqCst), 3);
}

/// The attack: a downstream that refuses every token (wrong audience, or
/// hostile) behind the retrying layer. Each refused call used to cost one
/// token request; now the retrying layer honours the same forced-renewal
/// interval as `send` and the plain layer.
#[tokio::test]
async fn the_retrying_layer_renews_a_token_refused_for_good_at_most_once_per_interval() {
    let (e, s, addr) = refused_for_good().await;
    let (sent, mut client) = retrying_client(s);
    let mut charge = async || {
        let req = http::Request::post(format!("http://{addr}/charge"))
            .body("{}".to_owned())
            .unwrap();
        let response = client.ready().await.unwrap().call(req).await.unwrap();
        response.status().as_u16()
    };
    assert_eq!(charge().await, 401);
    assert_eq!(e.calls.load(Ordering::SeqCst), 2, "a token and one renewal");
    assert_eq!(sent.load(Ordering::SeqCst), 2, "one request, one retry");
    for _ in 0..10 {
        assert_eq!(charge().await, 401);
    }
    assert_eq!(
        e.calls.load(Ordering::SeqCst),
        2,
        "no renewal within the interval, however many calls are refused"
    );
    // Within the interval the renewal brings no new token: no retry either.
    assert_eq!(sent.load(Ordering::SeqCst), 12);
    e.clock
        .advance(bearer_guard::limits::FORCED_RENEWAL_INTERVAL.as_secs() as i64);
    assert_eq!(charge().await, 401);
    assert_eq!(e.calls.load(Ordering::SeqCst), 3);
}

/// A wall clock stepped back (NTP, a resumed VM) neither renews early nor
/// lifts the forced-renewal interval: renewals are timed on the clock the
/// source was given, and a step back only delays them.
#[tokio::test]
async fn a_clock_stepping_back_causes_no_extra_token_request() {
    let (e, s, addr) = refused_for_good().await;
    let charge = || s.send(reqwest::Client::new().post(format!("http://{addr}/charge")));
    assert_eq!(charge().await.unwrap().status(), 401);
    assert_eq!(e.calls.load(Ordering::SeqCst), 2);
    for step in [-5, -3600, 3] {
        e.clock.advance(step);
        assert_eq!(charge().await.unwrap().status(), 401);
        assert_eq!(
            e.calls.load(Ordering::SeqCst),
            2,
            "after a step of {step} s"
        );
    }
}

#[tokio::test]
async fn a_short_lived_token_is_still_fetched_once_for_many_callers() {
    // 20 s: less than twice the 30 s minimum validity.
    let (url, e) = start(
        vec![Answer::Token {
            aud: common::AUDIENCE,
            expires_in: 20,
        }],
        false,
    )
    .await;
    let s = source(&url, &e, ClientAuth::basic("c", "s"));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.token().await.map(|t| t.expires_at()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), T0 + 20);
    }
    assert_eq!(e.calls.load(Ordering::SeqCst), 1);
    // Handed out until half its life is left, then renewed.
    e.clock.set(T0 + 10);
    s.token().await.unwrap();
    assert_eq!(e.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_rotated_refresh_token_is_kept_even_from_an_answer_that_is_refused() {
    let (url, e) = start(vec![Answer::DpopType, good()], true).await;
    let rotated = Arc::new(Mutex::new(Vec::new()));
    let seen = rotated.clone();
    let s = TokenSource::refresh_token(ClientAuth::basic("web-app", "s"), "rt-0")
        .token_url(&url)
        .clock(e.clock.clone())
        .allow_insecure_http()
        .on_rotate(move |rt| seen.lock().unwrap().push(rt.to_owned()))
        .build()
        .unwrap();
    assert!(matches!(
        s.token().await.unwrap_err(),
        TokenError::InvalidResponse(_)
    ));
    assert_eq!(*rotated.lock().unwrap(), ["rt-1"]);
    e.clock.advance(1);
    s.token().await.unwrap();
    let forms = e.forms.lock().unwrap().clone();
    assert_eq!(param(&forms[1], "refresh_token"), Some("rt-1"));
}

#[tokio::test]
async fn the_test_issuers_token_endpoint_answers_as_a_server_would() {
    let op = Arc::new(TestIssuer::new().default_audience("payments"));
    let state = op.clone();
    let app = Router::new().route(
        "/token",
        post(move |headers: HeaderMap, body: String| {
            let op = state.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                let (status, answer) =
                    op.token_endpoint_answer(auth, &body, &[("svc:1", "p@ss word")]);
                (StatusCode::from_u16(status).unwrap(), axum::Json(answer))
            }
        }),
    );
    let addr = serve(app).await;
    let url = format!("http://{addr}/token");
    let build = |auth: ClientAuth| {
        TokenSource::client_credentials(auth)
            .token_url(&url)
            .scope("read")
            .allow_insecure_http()
            .build()
            .unwrap()
    };
    let validator = op.validator();
    for auth in [
        ClientAuth::basic("svc:1", "p@ss word"),
        ClientAuth::post("svc:1", "p@ss word"),
    ] {
        let token = build(auth).token().await.unwrap();
        let claims = validator.validate(token.secret()).await.unwrap();
        assert_eq!(
            (claims.client_id(), claims.subject()),
            (Some("svc:1"), Some("svc:1"))
        );
        assert!(claims.scopes().contains("read"));
    }
    match build(ClientAuth::basic("svc:1", "wrong"))
        .token()
        .await
        .unwrap_err()
    {
        TokenError::Refused { status, error, .. } => {
            assert_eq!((status, error.as_str()), (401, "invalid_client"))
        }
        other => panic!("{other:?}"),
    }
}

/// A token endpoint answering `expires_in: 1` (hostile, or misconfigured):
/// the token it gave is usable for its second, and the calls within that
/// second send no further token request (a renewal due at the second of
/// arrival made every call renew).
#[tokio::test]
async fn a_one_second_token_is_not_fetched_again_by_every_call_in_its_second() {
    async fn endpoint(
        axum::extract::State(calls): axum::extract::State<Arc<AtomicUsize>>,
    ) -> axum::Json<serde_json::Value> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        axum::Json(serde_json::json!({
            "access_token": format!("token-{n}"),
            "token_type": "Bearer",
            "expires_in": 1,
        }))
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/token", axum::routing::post(endpoint))
        .with_state(calls.clone());
    let addr = common::serve(app).await;
    let clock = bearer_guard::testing::ManualClock::new(2_000_000_000);
    let source = TokenSource::client_credentials(ClientAuth::basic("c", "s"))
        .token_url(format!("http://{addr}/token"))
        .clock(clock.clone())
        .allow_insecure_http()
        .build()
        .unwrap();
    let first = source.token().await.unwrap();
    for _ in 0..10 {
        assert_eq!(source.token().await.unwrap().secret(), first.secret());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The next second it is no longer usable: one request, one new token.
    clock.advance(1);
    assert_ne!(source.token().await.unwrap().secret(), first.secret());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
