//! The client side of RFC 9728, against real servers on 127.0.0.1: an MCP
//! endpoint behind the bearer layer (its tools need different scopes) and
//! a stand-in authorization server. The client knows only the endpoint's
//! URL and its credentials.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::routing::{get, post};
use bearer_guard::client::{Challenge, ResourceClient, ResourceError};
use bearer_guard::introspection::ClientAuth;
use bearer_guard::mcp::{McpPolicy, RequireToolLayer};
use bearer_guard::metadata::ResourceMetadata;
use bearer_guard::testing::{ClientRegistration, Endpoint, TestAuthorizationServer, TestIssuer};
use bearer_guard::{BearerLayer, Requirement};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

const READ: &str = "payments:read";
const WRITE: &str = "payments:write";

async fn authorization_server() -> TestAuthorizationServer {
    let server = TestIssuer::new().serve().await;
    server.register_client(
        ClientRegistration::new("orders", "s3cret").scopes([READ, WRITE, "admin"]),
    );
    server
}

/// An MCP endpoint at `/mcp` whose metadata names `server`; `get_balance`
/// needs `payments:read`, `charge` `payments:write`, `wipe` `admin` and
/// `wipe:all`, `refund` either `payments:write` or `admin`.
/// `document` changes what the metadata says (an attacker's server).
async fn mcp_server(
    server: &TestAuthorizationServer,
    document: impl Fn(serde_json::Value) -> serde_json::Value + Send + Sync + 'static,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validator = server
        .validator_builder()
        .audience(url.clone())
        .build_and_fetch()
        .await
        .unwrap();
    let metadata = ResourceMetadata::new(url.clone(), &validator).scopes_supported([READ]);
    let policy = McpPolicy::new()
        .tool("get_balance", Requirement::scopes_all([READ]))
        .tool("charge", Requirement::scopes_all([WRITE]))
        .tool("wipe", Requirement::scopes_all(["admin", "wipe:all"]))
        .tool("refund", Requirement::scopes_any([WRITE, "admin"]));
    let served = serde_json::to_value(&metadata).unwrap();
    let served = Arc::new(document(served));
    let mut app = Router::new()
        .route("/mcp", post(|body: String| async move { body }))
        .layer(RequireToolLayer::new(policy))
        .layer(BearerLayer::new(validator).resource_metadata(&metadata));
    for path in metadata.paths() {
        let doc = served.clone();
        app = app.route(
            &path,
            get(move || async move { axum::Json((*doc).clone()) }),
        );
    }
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}).to_string()
}

fn client(url: &str, server: &TestAuthorizationServer) -> ResourceClient {
    ResourceClient::builder(url, ClientAuth::basic("orders", "s3cret"))
        .issuer(server.issuer())
        .scopes([READ, WRITE])
        .allow_insecure_http()
        .build()
        .unwrap()
}

/// Sends `body` as the MCP client does: a request, and after a 401 or 403
/// what `challenged` says, a few times at most.
async fn send(client: &ResourceClient, url: &str, body: &str) -> Result<String, ResourceError> {
    let http = reqwest::Client::new();
    let mut token = None;
    for _ in 0..=bearer_guard::limits::MAX_AUTHORIZATION_RETRIES {
        let mut request = http.post(url).body(body.to_owned());
        if let Some(t) = &token {
            request = request.bearer_auth(bearer_guard::client::AccessToken::secret(t));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        if status.is_success() {
            return Ok(response.text().await.unwrap());
        }
        assert!(matches!(status.as_u16(), 401 | 403), "{status}");
        let status = StatusCode::from_u16(status.as_u16()).unwrap();
        let mut headers = HeaderMap::new();
        for v in response.headers().get_all("www-authenticate") {
            headers.append(
                "www-authenticate",
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        client.challenged(status, &headers, token.as_ref()).await?;
        token = Some(client.token().await?);
    }
    Err(ResourceError::Refused { status: 0 })
}

#[tokio::test]
async fn a_client_with_only_the_url_finds_its_way_in_and_steps_up() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let client = client(&url, &server);

    // The first request has no token: the 401 names the metadata and the
    // scopes to ask for.
    let out = send(&client, &url, &call("get_balance")).await.unwrap();
    assert_eq!(out, call("get_balance"));
    let resource = client.protected_resource().unwrap();
    assert_eq!(resource.resource(), url);
    assert_eq!(resource.authorization_servers(), [server.issuer()]);
    assert_eq!(client.scope(), READ);
    let request = server.last_request(Endpoint::Token).unwrap();
    assert_eq!(request.param("resource"), Some(url.as_str()));
    assert_eq!(request.param("scope"), Some(READ));
    assert!(
        request
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );

    // `charge` needs more: 403 insufficient_scope, one step up to the
    // union of what was asked and what the challenge names.
    let before = server.requests(Endpoint::Token);
    let out = send(&client, &url, &call("charge")).await.unwrap();
    assert_eq!(out, call("charge"));
    assert_eq!(client.scope(), format!("{READ} {WRITE}"));
    assert_eq!(server.requests(Endpoint::Token), before + 1);
    let request = server.last_request(Endpoint::Token).unwrap();
    assert_eq!(
        request.param("scope"),
        Some(format!("{READ} {WRITE}").as_str())
    );

    // Both tools now work with the token held: no more token requests.
    send(&client, &url, &call("get_balance")).await.unwrap();
    assert_eq!(server.requests(Endpoint::Token), before + 1);
}

#[tokio::test]
async fn a_step_up_stays_within_the_scopes_the_client_may_ask_for() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let client = client(&url, &server);
    let e = send(&client, &url, &call("wipe")).await.unwrap_err();
    assert_eq!(
        e,
        ResourceError::ScopeNotAllowed {
            scope: "admin wipe:all".into()
        }
    );
    // A 403 asking for scopes already asked for: sending again cannot help.
    let token = client.token().await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "www-authenticate",
        HeaderValue::from_static(r#"Bearer error="insufficient_scope", scope="payments:read""#),
    );
    let e = client
        .challenged(StatusCode::FORBIDDEN, &headers, Some(&token))
        .await
        .unwrap_err();
    assert_eq!(e, ResourceError::Refused { status: 403 });
}

#[tokio::test]
async fn metadata_describing_another_resource_is_not_used() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |mut d| {
        d["resource"] = json!("https://evil.example/mcp");
        d
    })
    .await;
    let client = client(&url, &server);
    let e = send(&client, &url, &call("get_balance")).await.unwrap_err();
    assert!(
        matches!(&e, ResourceError::ResourceMismatch { found, .. } if found == "https://evil.example/mcp"),
        "{e:?}"
    );
    // Nothing was asked of the authorization server.
    assert_eq!(server.requests(Endpoint::Discovery), 1);
    assert_eq!(server.requests(Endpoint::Token), 0);
    // The well-known way fails the same.
    let e = client.token().await.unwrap_err();
    assert!(matches!(e, ResourceError::ResourceMismatch { .. }), "{e:?}");
}

#[tokio::test]
async fn credentials_are_sent_only_to_the_server_they_belong_to() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |mut d| {
        d["authorization_servers"] = json!(["https://other-as.example"]);
        d
    })
    .await;
    let e = client(&url, &server).token().await.unwrap_err();
    assert_eq!(
        e,
        ResourceError::IssuerNotListed {
            issuer: server.issuer().to_owned(),
            listed: vec!["https://other-as.example".into()]
        }
    );
    assert_eq!(server.requests(Endpoint::Token), 0);

    // No server at all: not a usable document (MCP requires one).
    let url = mcp_server(&server, |mut d| {
        d.as_object_mut().unwrap().remove("authorization_servers");
        d
    })
    .await;
    let e = client(&url, &server).token().await.unwrap_err();
    assert!(
        matches!(
            e,
            ResourceError::InvalidMetadata {
                reason: "no authorization_servers",
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_authorization_servers_metadata_must_name_its_issuer() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    server.set_metadata("issuer", json!("https://evil.example"));
    let e = client(&url, &server).token().await.unwrap_err();
    assert!(
        matches!(&e, ResourceError::Fetch(r) if r.is_issuer_mismatch()),
        "{e:?}"
    );
    assert_eq!(server.requests(Endpoint::Token), 0);
}

#[tokio::test]
async fn the_authorization_servers_metadata_must_allow_this_client() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    server.set_metadata(
        "token_endpoint_auth_methods_supported",
        json!(["private_key_jwt"]),
    );
    let e = client(&url, &server).token().await.unwrap_err();
    assert!(
        matches!(&e, ResourceError::Unsupported { what, .. } if what == "does not accept client_secret_basic"),
        "{e:?}"
    );
    server.set_metadata(
        "token_endpoint_auth_methods_supported",
        json!(["client_secret_basic"]),
    );
    server.set_metadata("grant_types_supported", json!(["authorization_code"]));
    let e = client(&url, &server).token().await.unwrap_err();
    assert!(matches!(e, ResourceError::Unsupported { .. }), "{e:?}");
    assert_eq!(server.requests(Endpoint::Token), 0);
}

/// Without a 401 to follow, the well-known URL with the endpoint's path,
/// then the root one; a resource at neither is a clear 404.
#[tokio::test]
async fn well_known_urls_are_tried_path_first_then_root() {
    let server = authorization_server().await;
    // Only the root document (the test server serves both; a router that
    // answers 404 at the suffixed path stands in for one that does not).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}/mcp");
    let suffixed_asked = Arc::new(AtomicBool::new(false));
    let seen = suffixed_asked.clone();
    let document = json!({"resource": url, "authorization_servers": [server.issuer()]});
    let app = Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || {
                seen.store(true, Ordering::SeqCst);
                async { StatusCode::NOT_FOUND }
            }),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(move || async move { axum::Json(document.clone()) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = client(&url, &server);
    client.token().await.unwrap();
    assert!(suffixed_asked.load(Ordering::SeqCst));
    assert_eq!(
        client
            .protected_resource()
            .unwrap()
            .metadata_url()
            .to_string(),
        format!("http://{addr}/.well-known/oauth-protected-resource")
    );

    let nothing = common_closed_metadata().await;
    let e = ResourceClient::builder(format!("http://{nothing}/mcp"), ClientAuth::basic("a", "b"))
        .allow_insecure_http()
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ResourceError::Fetch(r) if r.status() == Some(404)),
        "{e:?}"
    );
}

async fn common_closed_metadata() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, Router::new()).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_401_naming_another_metadata_url_is_followed_with_the_same_checks() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let client = client(&url, &server);
    let first = client.token().await.unwrap();
    let origin = url.trim_end_matches("/mcp");
    let root = format!("{origin}/.well-known/oauth-protected-resource");
    let mut headers = HeaderMap::new();
    headers.insert(
        "www-authenticate",
        HeaderValue::from_str(&format!(
            r#"Bearer error="invalid_token", resource_metadata="{root}""#
        ))
        .unwrap(),
    );
    client
        .challenged(StatusCode::UNAUTHORIZED, &headers, Some(&first))
        .await
        .unwrap();
    assert_eq!(
        client
            .protected_resource()
            .unwrap()
            .metadata_url()
            .to_string(),
        root
    );
    let second = client.token().await.unwrap();
    assert_ne!(first.secret(), second.secret());

    // A pointer to a document on another origin that describes another
    // resource: refused, and the known one kept.
    let evil = mcp_server(&server, |mut d| {
        d["resource"] = json!("https://evil.example/mcp");
        d
    })
    .await;
    let evil_metadata = evil.replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
    headers.insert(
        "www-authenticate",
        HeaderValue::from_str(&format!(r#"Bearer resource_metadata="{evil_metadata}""#)).unwrap(),
    );
    let e = client
        .challenged(StatusCode::UNAUTHORIZED, &headers, Some(&second))
        .await
        .unwrap_err();
    assert!(matches!(e, ResourceError::ResourceMismatch { .. }), "{e:?}");
    assert_eq!(
        client
            .protected_resource()
            .unwrap()
            .metadata_url()
            .to_string(),
        root
    );
}

#[tokio::test]
async fn a_fresh_token_refused_again_is_a_permanent_refusal() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let client = client(&url, &server);
    let token = client.token().await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "www-authenticate",
        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    );
    // Once: a new token.
    client
        .challenged(StatusCode::UNAUTHORIZED, &headers, Some(&token))
        .await
        .unwrap();
    let fresh = client.token().await.unwrap();
    assert_ne!(fresh.secret(), token.secret());
    // The fresh one refused at once: no second token request.
    let requests = server.requests(Endpoint::Token);
    let e = client
        .challenged(StatusCode::UNAUTHORIZED, &headers, Some(&fresh))
        .await
        .unwrap_err();
    assert_eq!(e, ResourceError::Refused { status: 401 });
    assert_eq!(server.requests(Endpoint::Token), requests);
}

#[test]
fn challenges_read_as_real_servers_send_them() {
    // The MCP conformance suite's mock (TypeScript SDK), parameters in
    // another order, and a DPoP challenge beside.
    let all = Challenge::parse(
        r#"Bearer error="invalid_token", error_description="Missing Authorization header", resource_metadata="http://localhost:3000/.well-known/oauth-protected-resource/mcp", DPoP algs="ES256 EdDSA""#,
    );
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0].param("resource_metadata"),
        Some("http://localhost:3000/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(
        all[0].param("error_description"),
        Some("Missing Authorization header")
    );
    assert!(all[1].is("dpop"));
    assert_eq!(all[1].param("algs"), Some("ES256 EdDSA"));
}

/// A router on 127.0.0.1 serving `document` at `/pm` (a metadata document
/// a 401 can point to); its URL.
async fn document_at(document: serde_json::Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pm", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/pm",
        get(move || async move { axum::Json(document.clone()) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn challenge(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("www-authenticate", HeaderValue::from_str(value).unwrap());
    headers
}

/// A resource whose 401s alternate between two spellings of its metadata
/// URL (both valid, both describing it) must not cost a token request and
/// a metadata fetch at the authorization server per challenge: the
/// forced-renewal interval holds across re-discoveries that change
/// nothing.
#[tokio::test]
async fn a_resource_alternating_its_metadata_url_costs_no_token_request_per_challenge() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let client = client(&url, &server);
    client.token().await.unwrap();
    let origin = url.trim_end_matches("/mcp");
    let pointers = [
        format!("{origin}/.well-known/oauth-protected-resource"),
        format!("{origin}/.well-known/oauth-protected-resource/mcp"),
    ];
    let (tokens, discoveries) = (
        server.requests(Endpoint::Token),
        server.requests(Endpoint::Discovery),
    );
    for i in 0..8 {
        let used = client.token().await.unwrap();
        let headers = challenge(&format!(
            r#"Bearer error="invalid_token", resource_metadata="{}""#,
            pointers[i % 2]
        ));
        let _ = client
            .challenged(StatusCode::UNAUTHORIZED, &headers, Some(&used))
            .await;
    }
    // One forced renewal (FORCED_RENEWAL_INTERVAL), no more; the issuer's
    // metadata is not fetched again for the same issuer.
    assert!(
        server.requests(Endpoint::Token) <= tokens + 1,
        "{} token requests for 8 challenges",
        server.requests(Endpoint::Token) - tokens
    );
    assert_eq!(server.requests(Endpoint::Discovery), discoveries);
}

/// Without a configured issuer, the first authorization server found is
/// the one the credentials are bound to (MCP: re-discovery must not reuse
/// credentials with a server no longer listed): a 401 pointing to a
/// document that names another server does not move them there.
#[tokio::test]
async fn a_401_pointer_cannot_move_the_credentials_to_another_authorization_server() {
    let server = authorization_server().await;
    let evil = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let client = ResourceClient::builder(&url, ClientAuth::basic("orders", "s3cret"))
        .scopes([READ, WRITE])
        .allow_insecure_http()
        .build()
        .unwrap();
    let used = client.token().await.unwrap();
    assert_eq!(
        client.authorization_server().unwrap().issuer,
        server.issuer()
    );
    let pointer = document_at(json!({
        "resource": url,
        "authorization_servers": [evil.issuer()],
    }))
    .await;
    let headers = challenge(&format!(
        r#"Bearer error="invalid_token", resource_metadata="{pointer}""#
    ));
    let outcome = client
        .challenged(StatusCode::UNAUTHORIZED, &headers, Some(&used))
        .await;
    let _ = client.token().await;
    assert_eq!(
        evil.requests(Endpoint::Token),
        0,
        "the client secret went to {}",
        evil.issuer()
    );
    assert!(
        matches!(outcome, Err(ResourceError::IssuerNotListed { .. })),
        "{outcome:?}"
    );
}

/// Two requests sent with the same token both get 403
/// `insufficient_scope`: the first steps up, the second must be told to
/// send again (its token predates the step-up), not that the resource
/// refuses for good.
#[tokio::test]
async fn a_second_403_for_a_token_older_than_the_step_up_sends_again() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let client = client(&url, &server);
    send(&client, &url, &call("get_balance")).await.unwrap();
    let old = client.token().await.unwrap();
    let headers = challenge(r#"Bearer error="insufficient_scope", scope="payments:write""#);
    client
        .challenged(StatusCode::FORBIDDEN, &headers, Some(&old))
        .await
        .unwrap();
    // The other request in flight with `old`.
    client
        .challenged(StatusCode::FORBIDDEN, &headers, Some(&old))
        .await
        .unwrap();
    let new = client.token().await.unwrap();
    assert_ne!(new.secret(), old.secret());
    // The new token refused the same way: now it is for good.
    let e = client
        .challenged(StatusCode::FORBIDDEN, &headers, Some(&new))
        .await
        .unwrap_err();
    assert_eq!(e, ResourceError::Refused { status: 403 });
}

/// A tool that accepts any of several scopes: its 403 names them all (the
/// 401 hint names the first). A client that may ask for one of them steps
/// up with that one, instead of giving up because it may not ask for the
/// others.
#[tokio::test]
async fn a_step_up_for_alternative_scopes_asks_for_those_the_client_may_request() {
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let client = client(&url, &server);
    send(&client, &url, &call("get_balance")).await.unwrap();
    let out = send(&client, &url, &call("refund")).await;
    assert_eq!(out, Ok(call("refund")));
    assert_eq!(client.scope(), format!("{READ} {WRITE}"));
    // None of them allowed: refused, naming them.
    let token = client.token().await.unwrap();
    let headers = challenge(r#"Bearer error="insufficient_scope", scope="admin wipe:all""#);
    let e = client
        .challenged(StatusCode::FORBIDDEN, &headers, Some(&token))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ResourceError::ScopeNotAllowed {
            scope: "admin wipe:all".into()
        }
    );
}

/// The URL called may carry a secret (an API key in its query, user
/// information): errors show it redacted, as every URL in this crate.
#[tokio::test]
async fn resource_errors_never_show_the_secrets_of_the_url_called() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let document = json!({
        "resource": "https://evil.example/mcp?api_key=hunter2",
        "authorization_servers": ["https://as.example"],
    });
    let app = Router::new().route(
        "/.well-known/oauth-protected-resource/mcp",
        get(move || async move { axum::Json(document.clone()) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://{addr}/mcp?api_key=hunter2");
    let e = ResourceClient::builder(&url, ClientAuth::basic("a", "b"))
        .allow_insecure_http()
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(matches!(e, ResourceError::ResourceMismatch { .. }), "{e:?}");
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

/// While the authorization server's metadata cannot be had (an outage, a
/// document refused), each `token()` must not fetch it again: discovery
/// backs off as the token request does, so that every client of an
/// unreachable server does not call it once per request of its own.
#[tokio::test]
async fn an_unreachable_authorization_server_is_not_asked_once_per_request() {
    use bearer_guard::testing::{Failure, ManualClock};
    let server = authorization_server().await;
    let url = mcp_server(&server, |d| d).await;
    let clock = ManualClock::new(1_700_000_000);
    let client = ResourceClient::builder(&url, ClientAuth::basic("orders", "s3cret"))
        .issuer(server.issuer())
        .scopes([READ, WRITE])
        .allow_insecure_http()
        .clock(clock.clone())
        .build()
        .unwrap();
    server.fail(Endpoint::Discovery, Failure::Status(503));
    let before = server.requests(Endpoint::Discovery);
    for _ in 0..10 {
        let e = client.token().await.unwrap_err();
        assert!(
            matches!(&e, ResourceError::Fetch(r) if r.status() == Some(503)),
            "{e:?}"
        );
    }
    let asked = server.requests(Endpoint::Discovery) - before;
    // One discovery: the two metadata URLs of an issuer without a path.
    assert!(asked <= 2, "{asked} metadata requests for 10 token() calls");
    // Back again, and the back-off over: found.
    server.recover(Endpoint::Discovery);
    clock.advance(120);
    client.token().await.unwrap();
}

/// The metadata of a resource whose URL carries a secret names that URL:
/// its `Debug` (what a `{:?}` in a log line shows) redacts it too.
#[tokio::test]
async fn the_protected_resource_debug_never_shows_the_secrets_of_its_url() {
    let server = authorization_server().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/mcp?api_key=hunter2",
        listener.local_addr().unwrap()
    );
    let document = json!({"resource": url, "authorization_servers": [server.issuer()]});
    let app = Router::new().route(
        "/.well-known/oauth-protected-resource/mcp",
        get(move || async move { axum::Json(document.clone()) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = client(&url, &server);
    client.token().await.unwrap();
    let resource = client.protected_resource().unwrap();
    assert_eq!(resource.resource(), url);
    let shown = format!("{resource:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// `allow_insecure_http` is for loopback set-ups: an `http` URL to any
/// other host stays refused, wherever it comes from.
#[tokio::test]
async fn plain_http_is_allowed_only_to_loopback_hosts() {
    for url in [
        "http://mcp.example.com/mcp",
        "http://10.0.0.1/mcp",
        "http://[fe80::1]/mcp",
    ] {
        let e = ResourceClient::builder(url, ClientAuth::basic("a", "b"))
            .allow_insecure_http()
            .build()
            .unwrap_err();
        assert!(
            matches!(&e, ResourceError::Fetch(r) if r.is_insecure_url()),
            "{url}: {e:?}"
        );
    }
    for url in [
        "http://127.0.0.1:1/mcp",
        "http://localhost:1/mcp",
        "http://[::1]:1/mcp",
    ] {
        ResourceClient::builder(url, ClientAuth::basic("a", "b"))
            .allow_insecure_http()
            .build()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    // A loopback server whose metadata sends the client to an http
    // authorization server elsewhere: nothing is sent there.
    let server = authorization_server().await;
    let url = mcp_server(&server, |mut d| {
        d["authorization_servers"] = json!(["http://as.example.com"]);
        d
    })
    .await;
    let e = ResourceClient::builder(&url, ClientAuth::basic("orders", "s3cret"))
        .allow_insecure_http()
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ResourceError::Fetch(r) if r.is_insecure_url() || r.is_discovery()),
        "{e:?}"
    );
}
