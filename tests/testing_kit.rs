//! The test kit's authorization server (`TestIssuer::serve`), with real
//! requests on 127.0.0.1: the validator configured as production
//! configures it (discovery, discovered introspection) and the crate's own
//! `TokenSource` against it; rotation, failure switches, counters, and the
//! server's end.
//!
//! Cool-downs are stepped on a `ManualClock`; background activity is
//! awaited through the server's request counter; nothing sleeps.

use std::time::Duration;

use bearer_guard::client::{TokenError, TokenSource};
use bearer_guard::testing::{
    ClientRegistration, Endpoint, Failure, TestAuthorizationServer, TestIssuer, TestKey,
};
use bearer_guard::{
    BuildError, ValidationError, Validator,
    introspection::{ClientAuth, IntrospectionOptions, TokenPolicy},
    jwks::{JwksOptions, KeyStatus},
    keys::Algorithm,
    testing::ManualClock,
};
use serde_json::{Value, json};

const AUDIENCE: &str = "payments";

/// 2033-05-18, on the manual clock.
const T0: i64 = 2_000_000_000;

/// A served issuer with one ES256 key (`kid: a`) on a manual clock.
async fn served() -> (TestAuthorizationServer, ManualClock) {
    let clock = ManualClock::new(T0);
    let server = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256).with_kid("a")])
        .default_audience(AUDIENCE)
        .clock(clock.clone())
        .serve()
        .await;
    (server, clock)
}

/// Key-source options under which nothing happens in the background
/// during a test: every JWKS request is one the test asked for.
fn quiet() -> JwksOptions {
    JwksOptions::default().retry_backoff(Duration::from_secs(3600), Duration::from_secs(3600))
}

async fn validator(server: &TestAuthorizationServer) -> Validator {
    server
        .validator_builder()
        .audience(AUDIENCE)
        .jwks_options(quiet())
        .build_and_fetch()
        .await
        .unwrap()
}

async fn get(server: &TestAuthorizationServer, path: &str) -> reqwest::Response {
    reqwest::get(format!("{}{path}", server.issuer()))
        .await
        .unwrap()
}

async fn post(
    server: &TestAuthorizationServer,
    path: &str,
    auth: Option<(&str, &str)>,
    body: &str,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.issuer()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn discovery_finds_the_served_keys_and_a_minted_token_validates() {
    let (server, _clock) = served().await;
    assert!(server.issuer().starts_with("http://127.0.0.1:"));
    let validator = validator(&server).await;
    let claims = validator
        .validate(&server.token().scope("charge").sign())
        .await
        .unwrap();
    assert_eq!(claims.issuer(), Some(server.issuer()));

    let metadata = validator.remote_keys()[0].metadata().unwrap();
    assert_eq!(metadata.issuer, server.issuer());
    assert_eq!(metadata.jwks_uri, Some(server.url(Endpoint::Jwks)));
    assert_eq!(metadata.token_endpoint, Some(server.url(Endpoint::Token)));
    assert_eq!(
        metadata.introspection_endpoint,
        Some(server.url(Endpoint::Introspection))
    );
    assert_eq!(
        metadata.other["grant_types_supported"],
        json!(["client_credentials"])
    );
    assert_eq!(
        metadata.other["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    // One fetch of each at start-up.
    assert_eq!(server.requests(Endpoint::Discovery), 1);
    assert_eq!(server.requests(Endpoint::Jwks), 1);

    // RFC 8414's location serves the same document.
    let oidc: Value = get(&server, "/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let rfc8414: Value = get(&server, "/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oidc, rfc8414);
    let jwks = get(&server, "/jwks").await;
    assert_eq!(jwks.headers()["content-type"], "application/jwk-set+json");
    assert_eq!(jwks.json::<Value>().await.unwrap(), server.jwks());
}

#[tokio::test]
async fn the_default_validator_is_three_lines_away() {
    let server = TestIssuer::new().serve().await;
    let validator = server.validator().await;
    assert!(validator.validate(&server.token().sign()).await.is_ok());
}

#[tokio::test]
async fn a_document_naming_another_issuer_is_refused_by_discovery() {
    let (server, _clock) = served().await;
    server.set_metadata("issuer", json!("https://evil.example"));
    let error = server
        .validator_builder()
        .audience(AUDIENCE)
        .build_and_fetch()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BuildError::KeySource(e) if e.is_issuer_mismatch()),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_token_source_gets_a_token_the_validator_accepts() {
    let (server, clock) = served().await;
    server.register_client(
        ClientRegistration::new("orders:1", "p@ss word").scopes(["read", "write"]),
    );
    let validator = validator(&server).await;
    for auth in [
        ClientAuth::basic("orders:1", "p@ss word"),
        ClientAuth::post("orders:1", "p@ss word"),
    ] {
        let source = server
            .token_source(auth)
            .scope("read")
            .resource(AUDIENCE)
            .build()
            .unwrap();
        let token = source.token().await.unwrap();
        assert_eq!(token.scope(), Some("read"));
        let claims = validator.validate(token.secret()).await.unwrap();
        assert_eq!(claims.client_id(), Some("orders:1"));
        assert_eq!(claims.subject(), Some("orders:1"));
        assert!(claims.scopes().contains("read"));
        assert!(!claims.scopes().contains("write"));
        assert!(claims.audiences().eq([AUDIENCE]));
        assert_eq!(claims.expires_at(), Some(T0 + 300));
    }
    // What the endpoint received: one request per source, found through
    // discovery (two discoveries: one per source, beside the validator's).
    let seen = server.recorded_requests(Endpoint::Token);
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(seen[1].header("authorization"), None);
    for request in &seen {
        assert_eq!(request.client_id().as_deref(), Some("orders:1"));
        assert_eq!(request.param("grant_type"), Some("client_credentials"));
        assert_eq!(request.param("resource"), Some(AUDIENCE));
        assert!(!format!("{request:?}").contains("p@ss"));
    }
    assert_eq!(server.requests(Endpoint::Discovery), 3);

    // Without `scope`: every scope the client may have. The lifetime
    // follows the server's setting, and the source renews on time.
    server.set_token_lifetime(Duration::from_secs(60));
    let source = server
        .token_source(ClientAuth::basic("orders:1", "p@ss word"))
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let first = source.token().await.unwrap();
    assert_eq!(first.scope(), Some("read write"));
    let claims = validator.validate(first.secret()).await.unwrap();
    assert_eq!(claims.expires_at(), Some(T0 + 60));
    clock.advance(61);
    let second = source.token().await.unwrap();
    assert_ne!(second.secret(), first.secret());
    assert_eq!(server.requests(Endpoint::Token), 4);
}

#[tokio::test]
async fn the_token_endpoint_refuses_as_rfc_6749_says() {
    let (server, _clock) = served().await;
    server.register_client(ClientRegistration::new("orders", "s3cret").scopes(["read"]));
    let refusal = |source: Result<_, TokenError>| match source {
        Err(TokenError::Refused { status, error, .. }) => (status, error),
        other => panic!("{other:?}"),
    };
    let source = |auth, scope: &str| server.token_source(auth).scope(scope).build().unwrap();
    let wrong = source(ClientAuth::basic("orders", "wrong"), "read");
    assert_eq!(
        refusal(wrong.token().await),
        (401, "invalid_client".to_owned())
    );
    let greedy = source(ClientAuth::basic("orders", "s3cret"), "read admin");
    assert_eq!(
        refusal(greedy.token().await),
        (400, "invalid_scope".to_owned())
    );

    // What a TokenSource never sends.
    let answer = post(
        &server,
        "/token",
        Some(("orders", "s3cret")),
        "grant_type=password&username=a&password=b",
    )
    .await;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    let both = post(
        &server,
        "/token",
        Some(("orders", "s3cret")),
        "grant_type=client_credentials&client_secret=s3cret",
    )
    .await;
    assert_eq!(both.status(), 400);
    assert_eq!(
        both.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let nobody = post(&server, "/token", None, "grant_type=client_credentials").await;
    assert_eq!(nobody.status(), 401);
    assert_eq!(
        nobody.headers()["www-authenticate"],
        "Basic realm=\"test authorization server\""
    );
    let granted = post(
        &server,
        "/token",
        Some(("orders", "s3cret")),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(granted.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn an_opaque_token_is_validated_by_discovered_introspection() {
    let (server, _clock) = served().await;
    let validator = server
        .validator_builder()
        .audience(AUDIENCE)
        .introspection(server.introspection())
        .build_and_fetch()
        .await
        .unwrap();
    let opaque = server.opaque_token(server.token().subject("alice").scope("read"));
    let claims = validator.validate(&opaque).await.unwrap();
    assert_eq!(claims.subject(), Some("alice"));
    assert!(claims.scopes().contains("read"));
    let call = server.last_request(Endpoint::Introspection).unwrap();
    assert_eq!(call.param("token"), Some(opaque.as_str()));
    assert_eq!(
        call.client_id().as_deref(),
        Some(TestAuthorizationServer::RESOURCE_SERVER_CLIENT_ID)
    );
    assert!(!format!("{call:?}").contains(&opaque));

    // A token the server never issued, and one it revoked.
    assert_eq!(
        validator.validate("never-issued").await.unwrap_err(),
        ValidationError::Inactive
    );
    let revoked = server.opaque_token(server.token());
    server.revoke(&revoked);
    assert_eq!(
        validator.validate(&revoked).await.unwrap_err(),
        ValidationError::Inactive
    );
    // An answer the test chose: active, but for no audience.
    server.set_introspection_answer("chosen", json!({"active": true, "sub": "bob"}));
    assert_eq!(
        validator.validate("chosen").await.unwrap_err(),
        ValidationError::MissingClaim("aud".into())
    );
    // A client registered for opaque tokens gets them from the token
    // endpoint, and introspection knows them.
    server.register_client(ClientRegistration::new("legacy", "s").opaque_tokens());
    let source = server
        .token_source(ClientAuth::basic("legacy", "s"))
        .scope("read")
        .build()
        .unwrap();
    let issued = source.token().await.unwrap();
    assert_eq!(issued.secret().matches('.').count(), 0);
    let claims = validator.validate(issued.secret()).await.unwrap();
    assert_eq!(claims.client_id(), Some("legacy"));
    assert_eq!(server.requests(Endpoint::Introspection), 5);
}

#[tokio::test]
async fn introspection_answers_for_the_issuers_jwts_until_revoked_or_withdrawn() {
    let (server, _clock) = served().await;
    let validator = server
        .validator_builder()
        .audience(AUDIENCE)
        .introspection(server.introspection().policy(TokenPolicy::IntrospectAll))
        .build_and_fetch()
        .await
        .unwrap();
    let jwt = server.token().subject("carol").sign();
    assert_eq!(
        validator.validate(&jwt).await.unwrap().subject(),
        Some("carol")
    );
    assert_eq!(server.requests(Endpoint::Introspection), 1);
    let revoked = server.token().sign();
    server.revoke(&revoked);
    assert_eq!(
        validator.validate(&revoked).await.unwrap_err(),
        ValidationError::Inactive
    );
    // Signed by a key that is no longer the issuer's, or by a stranger.
    let stranger = TestKey::generate(Algorithm::ES256).with_kid("a");
    let forged = server.token().signing_key(&stranger).sign();
    assert_eq!(
        validator.validate(&forged).await.unwrap_err(),
        ValidationError::Inactive
    );
    let before = server.token().expires_in(600).sign();
    server.replace_signing_key(TestKey::generate(Algorithm::ES256).with_kid("b"));
    assert_eq!(
        validator.validate(&before).await.unwrap_err(),
        ValidationError::Inactive
    );
    // The introspection endpoint wants a registered client.
    let stranger = post(&server, "/introspect", Some(("who", "knows")), "token=x").await;
    assert_eq!(stranger.status(), 401);
    let missing = post(
        &server,
        "/introspect",
        Some((
            TestAuthorizationServer::RESOURCE_SERVER_CLIENT_ID,
            TestAuthorizationServer::RESOURCE_SERVER_CLIENT_SECRET,
        )),
        "",
    )
    .await;
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn a_rotated_key_verifies_after_the_unknown_kid_refresh_and_a_withdrawn_one_stops() {
    let (server, clock) = served().await;
    let validator = validator(&server).await;
    let old = server.token().expires_in(3600).sign();
    assert!(validator.validate(&old).await.is_ok());

    // The new key is published beside the old one, then signs.
    server.add_key(TestKey::generate(Algorithm::ES256).with_kid("b"));
    server.sign_with("b");
    let new = server.token().expires_in(3600).sign();
    // Within the cool-down of the start-up fetch: not fetched yet.
    assert_eq!(
        validator.validate(&new).await.unwrap_err(),
        ValidationError::UnknownKeyId
    );
    assert_eq!(server.requests(Endpoint::Jwks), 1);
    clock.advance(31);
    assert!(validator.validate(&new).await.is_ok());
    assert_eq!(server.requests(Endpoint::Jwks), 2);
    assert!(validator.validate(&old).await.is_ok());

    // The old key is withdrawn: its tokens (cached ones too) are refused
    // once the validator's key set is refreshed.
    let late = server.snapshot().token().key("a").expires_in(3600).sign();
    server.remove_key("a");
    assert!(validator.validate(&old).await.is_ok());
    validator.refresh_keys().await.unwrap();
    assert_eq!(server.requests(Endpoint::Jwks), 3);
    for token in [&old, &late] {
        assert_eq!(
            validator.validate(token).await.unwrap_err(),
            ValidationError::UnknownKeyId
        );
    }
    assert!(validator.validate(&new).await.is_ok());
    let jwks = server.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["b"]);
}

#[tokio::test]
async fn a_failing_jwks_leaves_the_last_good_keys_serving_until_it_recovers() {
    let (server, _clock) = served().await;
    let validator = validator(&server).await;
    let token = server.token().sign();
    for failure in [Failure::Status(500), Failure::Malformed] {
        server.fail(Endpoint::Jwks, failure.clone());
        assert!(validator.refresh_keys().await.is_err(), "{failure:?}");
        assert!(validator.validate(&token).await.is_ok(), "{failure:?}");
        assert_eq!(validator.remote_keys()[0].stats().status, KeyStatus::Stale);
    }
    server.recover(Endpoint::Jwks);
    validator.refresh_keys().await.unwrap();
    assert_eq!(validator.remote_keys()[0].stats().status, KeyStatus::Fresh);
    assert_eq!(server.requests(Endpoint::Jwks), 4);

    // At start-up, a failing discovery fails the build; recovered, it
    // builds.
    server.fail(Endpoint::Discovery, Failure::Status(503));
    assert!(
        server
            .validator_builder()
            .audience(AUDIENCE)
            .build_and_fetch()
            .await
            .is_err()
    );
    server.recover(Endpoint::Discovery);
    assert!(
        server
            .validator_builder()
            .audience(AUDIENCE)
            .build_and_fetch()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_hanging_introspection_endpoint_times_out_then_recovers() {
    let (server, _clock) = served().await;
    let options = IntrospectionOptions::default().timeout(Duration::from_millis(200));
    let validator = server
        .validator_builder()
        .audience(AUDIENCE)
        .introspection(server.introspection().options(options))
        .build_and_fetch()
        .await
        .unwrap();
    let opaque = server.opaque_token(server.token());
    server.fail(Endpoint::Introspection, Failure::Hang);
    let error = validator.validate(&opaque).await.unwrap_err();
    assert!(
        matches!(error, ValidationError::IntrospectionUnavailable(_)),
        "{error:?}"
    );
    assert_eq!(server.requests(Endpoint::Introspection), 1);
    // Failures are not cached: recovered, the same token is checked again.
    server.recover(Endpoint::Introspection);
    assert!(validator.validate(&opaque).await.is_ok());
    assert_eq!(server.requests(Endpoint::Introspection), 2);
}

#[tokio::test]
async fn requests_are_counted_and_the_latest_recorded_per_endpoint() {
    let (server, _clock) = served().await;
    let total = TestAuthorizationServer::RECORDED_REQUESTS + 8;
    let client = reqwest::Client::new();
    for i in 0..total {
        client
            .get(format!("{}?n={i}", server.url(Endpoint::Jwks)))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(server.requests(Endpoint::Jwks), total as u64);
    let recorded = server.recorded_requests(Endpoint::Jwks);
    assert_eq!(recorded.len(), TestAuthorizationServer::RECORDED_REQUESTS);
    assert_eq!(recorded[0].path(), "/jwks?n=8");
    assert_eq!(
        server.last_request(Endpoint::Jwks).unwrap().path(),
        format!("/jwks?n={}", total - 1)
    );
    assert_eq!(server.requests(Endpoint::Token), 0);
    assert!(server.last_request(Endpoint::Token).is_none());

    // Background activity is awaited on the counter: a renewal the token
    // source spawns, here.
    server.register_client(ClientRegistration::new("svc", "s"));
    let source = TokenSource::client_credentials(ClientAuth::post("svc", "s"))
        .token_url(server.url(Endpoint::Token))
        .allow_insecure_http()
        .build()
        .unwrap();
    let fetching = tokio::spawn(async move { source.token().await.map(|_| ()) });
    server.wait_for_requests(Endpoint::Token, 1).await;
    assert_eq!(
        server
            .last_request(Endpoint::Token)
            .unwrap()
            .client_id()
            .as_deref(),
        Some("svc")
    );
    fetching.await.unwrap().unwrap();
}

#[tokio::test]
async fn bad_requests_are_answered_and_the_server_keeps_serving() {
    let (server, _clock) = served().await;
    assert_eq!(get(&server, "/nowhere").await.status(), 404);
    assert_eq!(get(&server, "/token").await.status(), 405);
    assert!(
        declared_length_answer(&server, TestAuthorizationServer::MAX_REQUEST_BODY + 1)
            .await
            .starts_with("HTTP/1.1 413 ")
    );
    let at_limit = "a".repeat(TestAuthorizationServer::MAX_REQUEST_BODY);
    assert_eq!(post(&server, "/token", None, &at_limit).await.status(), 401);
    for (auth, body) in [
        (Some(("", "")), "%"),
        (
            None,
            "grant_type=client_credentials&grant_type=client_credentials",
        ),
        (None, "\u{0}&&=="),
        (Some(("a:b", "c")), "scope=%FF"),
    ] {
        let status = post(&server, "/token", auth, body).await.status();
        assert!(status == 400 || status == 401, "{status}");
        let status = post(&server, "/introspect", auth, body).await.status();
        assert!(status == 400 || status == 401, "{status}");
    }
    let answer = reqwest::Client::new()
        .post(server.url(Endpoint::Token))
        .header("authorization", "Basic %%%")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    // An invalid status asked of a failure answers 500.
    server.fail(Endpoint::Discovery, Failure::Status(42));
    assert_eq!(
        get(&server, "/.well-known/openid-configuration")
            .await
            .status(),
        500
    );
    server.recover(Endpoint::Discovery);
    assert_eq!(
        get(&server, "/.well-known/openid-configuration")
            .await
            .status(),
        200
    );
}

/// The status line answering a `POST /token` that declares a body of
/// `length` bytes and sends none of it.
async fn declared_length_answer(server: &TestAuthorizationServer, length: usize) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!("POST /token HTTP/1.1\r\nhost: x\r\ncontent-length: {length}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 256];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn dropping_the_server_ends_its_connections_and_closes_its_port() {
    let (server, _clock) = served().await;
    let url = server.url(Endpoint::Jwks);
    server.fail(Endpoint::Jwks, Failure::Hang);
    let held = tokio::spawn(reqwest::get(url.clone()));
    server.wait_for_requests(Endpoint::Jwks, 1).await;
    drop(server);
    // The held request ends with the connection, unanswered.
    assert!(held.await.unwrap().is_err());

    let (server, _clock) = served().await;
    let addr = server.addr();
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Reads `stream` until the server closes it; what it sent.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return answer,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
}

// On tokio's paused clock: the server's timers fire as soon as nothing
// else can happen, so waiting "an hour" costs nothing.
#[tokio::test(start_paused = true)]
async fn a_client_that_sends_nothing_does_not_hold_a_connection_forever() {
    let (server, _clock) = served().await;
    let mut silent = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(3600), until_closed(&mut silent)).await;
    assert!(
        closed.is_ok(),
        "a connection that sends no request is held (and one of the server's places taken) forever"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_body_never_comes_is_answered_not_held_forever() {
    use tokio::io::AsyncWriteExt as _;
    let (server, _clock) = served().await;
    let mut stalled = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    stalled
        .write_all(b"POST /token HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab")
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(3600), until_closed(&mut stalled))
        .await
        .expect("a request whose body stalls is held forever");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
}

#[tokio::test]
async fn a_recorded_requests_debug_hides_query_values() {
    let (server, _clock) = served().await;
    get(&server, "/jwks?api_key=s3cret&v=2").await;
    let recorded = server.last_request(Endpoint::Jwks).unwrap();
    // The accessor gives the path as it came...
    assert_eq!(recorded.path(), "/jwks?api_key=s3cret&v=2");
    // ...`Debug` (test failure output, logs) not its values.
    let shown = format!("{recorded:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("/jwks?api_key=***&v=***"), "{shown}");
}
