//! Interop: bearer-guard against a real, certified OpenID provider — the npm
//! package `oidc-provider` (pinned in tests/interop/package-lock.json),
//! started on 127.0.0.1 by tests/interop/server.mjs.
//!
//! Needs Node.js >= 20. The harness's npm dependencies are installed from the
//! lockfile when missing; without Node these tests fail and say what to
//! install (they never pass silently).

use crate::common;

use common::{call, payments_app};

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::DpopKey;
use bearer_guard::{
    ValidationError, Validator,
    dpop::DpopOptions,
    introspection::{ClientAuth, Introspection, IntrospectionOptions},
    jwks::{JwksOptions, KeyStatus},
    keys::{Algorithm, SigningKey},
};
use serde_json::{Value, json};

const JWT_RESOURCE: &str = "https://rs.example.test/jwt";
const OPAQUE_RESOURCE: &str = "https://rs.example.test/opaque";

fn harness_dir() -> String {
    format!("{}/tests/interop", env!("CARGO_MANIFEST_DIR"))
}

/// Checks Node.js and installs the harness's dependencies from the lockfile
/// if they are missing (once per test run).
fn prepare() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let version = Command::new("node")
            .arg("--version")
            .output()
            .map_err(|e| {
                format!(
                    "the interop tests need Node.js >= 20 (`node` not found: {e}). \
                     Install it (Debian: `apt-get install nodejs npm`, or from nodejs.org) \
                     and run again."
                )
            })?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let major: u32 = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major < 20 {
            return Err(format!(
                "the interop tests need Node.js >= 20, found {version:?}; install a newer Node.js"
            ));
        }
        let dir = harness_dir();
        if !std::path::Path::new(&format!("{dir}/node_modules/oidc-provider/package.json")).exists()
        {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .map_err(|e| format!("`npm ci` in {dir} could not run: {e}; install npm"))?;
            if !status.success() {
                return Err(format!("`npm ci` in {dir} failed ({status})"));
            }
        }
        Ok(())
    });
    if let Err(message) = ready {
        panic!("{message}");
    }
}

/// A running oidc-provider; killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    /// How long the harness may take to say it listens. It takes well under
    /// a second; a Node.js process has been seen to deadlock at start-up
    /// (its main thread parked on a mutex, nothing printed), and such a
    /// process is killed and replaced rather than waited on forever.
    const START_TIMEOUT: Duration = Duration::from_secs(30);
    const START_ATTEMPTS: usize = 3;

    fn start() -> Provider {
        prepare();
        for attempt in 1..=Self::START_ATTEMPTS {
            let mut child = Command::new("node")
                .arg("server.mjs")
                .current_dir(harness_dir())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start node server.mjs");
            let stdout = child.stdout.take().expect("stdout");
            let (first_line, line_read) = std::sync::mpsc::channel();
            // Reads the first line, then keeps draining the harness's output:
            // a closed pipe would kill it (EPIPE) the next time the provider
            // writes a line. Ends at EOF, when the child is gone.
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                let _ = first_line.send(reader.read_line(&mut line).map(|_| line));
                let mut sink = String::new();
                while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                    sink.clear();
                }
            });
            let line = match line_read.recv_timeout(Self::START_TIMEOUT) {
                Ok(line) => line.expect("read the harness output"),
                Err(_) => {
                    eprintln!(
                        "oidc-provider harness printed nothing in {:?} (attempt {attempt} of {}): \
                         killed, starting another",
                        Self::START_TIMEOUT,
                        Self::START_ATTEMPTS
                    );
                    let _ = child.kill();
                    let _ = child.wait();
                    continue;
                }
            };
            let issuer = line
                .trim()
                .strip_prefix("ISSUER ")
                .unwrap_or_else(|| panic!("the harness did not start: {line:?}"))
                .to_owned();
            return Provider { child, issuer };
        }
        panic!(
            "the oidc-provider harness (node tests/interop/server.mjs) did not start in {} \
             attempts of {:?}",
            Self::START_ATTEMPTS,
            Self::START_TIMEOUT
        );
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn admin(&self, path: &str) -> Value {
        let r = reqwest::Client::new()
            .post(format!("{}/admin/{path}", self.issuer))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// A client-credentials token for `order-service`.
    async fn token(&self, scope: &str, resource: &str) -> String {
        self.token_response(scope, resource, None).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    async fn token_response(&self, scope: &str, resource: &str, dpop: Option<&str>) -> Value {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", resource),
            ])
            .finish();
        let mut req = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth("order-service", Some("order-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(proof) = dpop {
            req = req.header("DPoP", proof);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "token endpoint: {status} {v}");
        v
    }

    async fn revoke(&self, token: &str) {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        let r = reqwest::Client::new()
            .post(format!("{}/token/revocation", self.issuer))
            .basic_auth("order-service", Some("order-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// The resource server's validator: discovery, both resources as
    /// audiences, introspection as `payments-rs`.
    fn validator(&self) -> bearer_guard::ValidatorBuilder {
        self.validator_with(IntrospectionOptions::default())
    }

    fn validator_with(&self, options: IntrospectionOptions) -> bearer_guard::ValidatorBuilder {
        Validator::builder()
            .issuer(self.issuer.clone())
            .audience(JWT_RESOURCE)
            .audience(OPAQUE_RESOURCE)
            .allow_insecure_http()
            .discover()
            .introspection(
                Introspection::discovered(ClientAuth::basic("payments-rs", "rs-secret"))
                    .options(options),
            )
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn discovery_finds_the_providers_endpoints() {
    let op = Provider::start();
    let v = op.validator().build_and_fetch().await.unwrap();
    let m = v.remote_keys()[0].metadata().unwrap();
    assert_eq!(m.issuer, op.issuer);
    assert_eq!(m.jwks_uri, Some(format!("{}/jwks", op.issuer)));
    assert_eq!(
        m.introspection_endpoint,
        Some(format!("{}/token/introspection", op.issuer))
    );
    assert_eq!(v.remote_keys()[0].stats().status, KeyStatus::Fresh);
}

#[tokio::test]
async fn client_credentials_jwts_pass_the_layer_and_scopes_are_enforced() {
    let op = Provider::start();
    let v = op.validator().build_and_fetch().await.unwrap();
    let addr = common::serve(payments_app(v)).await;

    let token = op.token("charge:customer", JWT_RESOURCE).await;
    let (status, _, body) = call(addr, reqwest::Method::POST, "/charge", &token).await;
    assert_eq!((status, body.as_str()), (200, "charged for order-service"));

    let (status, _, body) = call(addr, reqwest::Method::GET, "/me", &token).await;
    assert_eq!(status, 200);
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["aud"], JWT_RESOURCE);
    assert_eq!(me["iss"], op.issuer.as_str());

    let read_only = op.token("orders:read", JWT_RESOURCE).await;
    let (status, challenge, _) = call(addr, reqwest::Method::POST, "/charge", &read_only).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="payments", error="insufficient_scope", error_description="The access token lacks the scope this request needs", scope="charge:customer""#
        )
    );
}

#[tokio::test]
async fn the_providers_jwts_meet_the_strict_rfc9068_profile() {
    let op = Provider::start();
    let strict = op
        .validator()
        .rfc9068_profile()
        .build_and_fetch()
        .await
        .unwrap();
    let token = op.token("charge:customer", JWT_RESOURCE).await;
    let claims = strict.validate(&token).await.unwrap();
    assert_eq!(claims.client_id(), Some("order-service"));
    assert!(claims.jwt_id().is_some() && claims.issued_at().is_some());
}

#[tokio::test]
async fn opaque_tokens_are_accepted_through_introspection() {
    let op = Provider::start();
    let v = op.validator().build_and_fetch().await.unwrap();
    let addr = common::serve(payments_app(v.clone())).await;
    let token = op.token("charge:customer", OPAQUE_RESOURCE).await;
    assert_eq!(token.matches('.').count(), 0, "an opaque token");
    let (status, _, body) = call(addr, reqwest::Method::POST, "/charge", &token).await;
    assert_eq!((status, body.as_str()), (200, "charged for order-service"));
    let (status, _, body) = call(addr, reqwest::Method::GET, "/me", &token).await;
    assert_eq!(status, 200);
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["aud"], OPAQUE_RESOURCE);
    assert_eq!(me["token_type"], "Bearer");
    let stats = v.introspection_stats().await.unwrap();
    assert_eq!((stats.calls, stats.active, stats.cache_hits), (1, 1, 1));
}

#[tokio::test]
async fn a_revoked_opaque_token_is_refused() {
    let op = Provider::start();
    let v = op.validator().build_and_fetch().await.unwrap();
    let token = op.token("charge:customer", OPAQUE_RESOURCE).await;
    op.revoke(&token).await;
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::Inactive
    );
}

#[tokio::test]
async fn a_key_rotated_at_the_provider_is_picked_up_without_a_restart() {
    let op = Provider::start();
    let v = op
        .validator()
        .jwks_options(JwksOptions::default().cooldown(Duration::ZERO))
        .build_and_fetch()
        .await
        .unwrap();
    let before = op.token("charge:customer", JWT_RESOURCE).await;
    let opaque_before = op.token("charge:customer", OPAQUE_RESOURCE).await;
    assert!(v.validate(&before).await.is_ok());

    let rotated = op.admin("rotate").await;
    let after = op.token("charge:customer", JWT_RESOURCE).await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(after.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], rotated["kid"], "signed with the new key");
    assert!(v.validate(&after).await.is_ok());
    assert_eq!(v.remote_keys()[0].stats().on_demand_fetches, 1);
    // The old key is still published; tokens issued before stay valid, and
    // so do opaque tokens (the provider's store survived the rotation).
    assert!(v.validate(&before).await.is_ok());
    assert!(v.validate(&opaque_before).await.is_ok());
}

#[tokio::test]
async fn with_the_provider_down_jwts_verify_and_opaque_tokens_get_503() {
    let mut op = Provider::start();
    let v = op
        .validator_with(IntrospectionOptions::default().timeout(Duration::from_millis(500)))
        .build_and_fetch()
        .await
        .unwrap();
    let jwt = op.token("charge:customer", JWT_RESOURCE).await;
    let opaque = op.token("charge:customer", OPAQUE_RESOURCE).await;

    // JWKS failing or hanging: the last good keys keep serving.
    op.admin("jwks/fail").await;
    assert!(v.refresh_keys().await.is_err());
    assert!(v.validate(&jwt).await.is_ok());
    assert_eq!(v.remote_keys()[0].stats().status, KeyStatus::Stale);
    // Introspection hanging: 503.
    op.admin("introspection/hang").await;
    let err = v.validate(&opaque).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");

    // The provider process gone altogether.
    op.stop();
    assert!(v.refresh_keys().await.is_err());
    assert!(v.validate(&jwt).await.is_ok());
    let addr = common::serve(payments_app(v.clone())).await;
    let (status, challenge, _) = call(addr, reqwest::Method::POST, "/charge", &jwt).await;
    assert_eq!((status, challenge), (200, None));
    let (status, challenge, _) = call(addr, reqwest::Method::POST, "/charge", &opaque).await;
    assert_eq!((status, challenge), (503, None));
}

/// A DPoP proof (RFC 9449 §4.2) for a POST to `htu`.
fn dpop_proof(key: &SigningKey, htu: &str) -> String {
    let mut jwk = key.public_jwk().unwrap();
    let obj = jwk.as_object_mut().unwrap();
    obj.remove("alg");
    obj.remove("use");
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
    let mut jti = [0u8; 16];
    jti.copy_from_slice(&std::process::id().to_be_bytes().repeat(4));
    let claims = json!({
        "jti": format!("{}-{}", URL_SAFE_NO_PAD.encode(jti), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()),
        "htm": "POST",
        "htu": htu,
        "iat": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(Algorithm::ES256, input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[tokio::test]
async fn a_dpop_bound_token_presented_as_bearer_is_refused() {
    let op = Provider::start();
    let v = op.validator().build_and_fetch().await.unwrap();
    let key = SigningKey::generate(Algorithm::ES256);
    let htu = format!("{}/token", op.issuer);

    let response = op
        .token_response(
            "charge:customer",
            JWT_RESOURCE,
            Some(&dpop_proof(&key, &htu)),
        )
        .await;
    assert_eq!(response["token_type"], "DPoP");
    let token = response["access_token"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(payload["cnf"]["jkt"].is_string(), "{payload}");
    assert_eq!(
        v.validate(token).await.unwrap_err(),
        ValidationError::SenderConstrained
    );

    let response = op
        .token_response(
            "charge:customer",
            OPAQUE_RESOURCE,
            Some(&dpop_proof(&key, &htu)),
        )
        .await;
    let opaque = response["access_token"].as_str().unwrap();
    assert_eq!(
        v.validate(opaque).await.unwrap_err(),
        ValidationError::SenderConstrained
    );

    let addr = common::serve(payments_app(v)).await;
    let (status, challenge, _) = call(addr, reqwest::Method::POST, "/charge", token).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="payments", error="invalid_token", error_description="The access token is bound to a key and is not a bearer token""#
        )
    );
}

#[tokio::test]
async fn dpop_bound_tokens_from_the_provider_are_accepted_with_their_proofs() {
    let op = Provider::start();
    let v = op
        .validator()
        .dpop(DpopOptions::new())
        .build_and_fetch()
        .await
        .unwrap();
    let client = DpopKey::generate(Algorithm::ES256);
    let token_endpoint = format!("{}/token", op.issuer);
    let bound_token = |resource: &'static str| {
        let proof = client
            .proof("POST", &token_endpoint, "")
            .without_claim("ath")
            .sign();
        let op = &op;
        async move {
            let response = op
                .token_response("charge:customer", resource, Some(&proof))
                .await;
            assert_eq!(response["token_type"], "DPoP", "{response}");
            response["access_token"].as_str().unwrap().to_owned()
        }
    };
    let jwt = bound_token(JWT_RESOURCE).await;
    let opaque = bound_token(OPAQUE_RESOURCE).await;
    assert_eq!(jwt.split('.').count(), 3);
    assert_ne!(opaque.split('.').count(), 3);

    let addr = common::serve(payments_app(v)).await;
    let charge = format!("http://{addr}/charge");
    let send = |token: String, scheme: &'static str, proof: Option<String>| {
        let charge = charge.clone();
        async move {
            let mut r = reqwest::Client::new()
                .post(charge)
                .header("authorization", format!("{scheme} {token}"));
            if let Some(p) = proof {
                r = r.header("dpop", p);
            }
            let r = r.send().await.unwrap();
            let challenges: Vec<String> = r
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            (r.status().as_u16(), challenges, r.text().await.unwrap())
        }
    };
    for token in [&jwt, &opaque] {
        // Accepted with a valid proof, as the provider's client.
        let proof = client.proof("POST", &charge, token).sign();
        let (status, _, body) = send(token.clone(), "DPoP", Some(proof.clone())).await;
        assert_eq!((status, body.as_str()), (200, "charged for order-service"));
        // The same proof again: a replay.
        let (status, challenges, _) = send(token.clone(), "DPoP", Some(proof)).await;
        assert_eq!(status, 401);
        assert!(
            challenges
                .iter()
                .any(|c| c.starts_with("DPoP") && c.contains("invalid_dpop_proof")),
            "{challenges:?}"
        );
        // A proof for another URI.
        let proof = client
            .proof("POST", &format!("http://{addr}/me"), token)
            .sign();
        let (status, challenges, _) = send(token.clone(), "DPoP", Some(proof)).await;
        assert_eq!(status, 401);
        assert!(
            challenges.iter().any(|c| c.contains("another request")),
            "{challenges:?}"
        );
        // A proof for another token (wrong ath).
        let proof = client.proof("POST", &charge, "another-token").sign();
        let (status, challenges, _) = send(token.clone(), "DPoP", Some(proof)).await;
        assert_eq!(status, 401);
        assert!(
            challenges
                .iter()
                .any(|c| c.contains("for another access token")),
            "{challenges:?}"
        );
        // Presented as a bearer token.
        let (status, challenges, _) = send(token.clone(), "Bearer", None).await;
        assert_eq!(status, 401);
        assert!(
            challenges
                .iter()
                .any(|c| c.starts_with("Bearer") && c.contains("invalid_token")),
            "{challenges:?}"
        );
        // A thief's key: the token is bound to the client's.
        let thief = DpopKey::generate(Algorithm::ES256);
        let proof = thief.proof("POST", &charge, token).sign();
        let (status, challenges, _) = send(token.clone(), "DPoP", Some(proof)).await;
        assert_eq!(status, 401);
        assert!(
            challenges
                .iter()
                .any(|c| c.contains("Invalid DPoP key binding")),
            "{challenges:?}"
        );
    }
}

/// The calling side against the provider: a `TokenSource` with each client
/// authentication obtains a token that the resource server accepts.
#[cfg(feature = "client")]
#[tokio::test]
async fn token_sources_obtain_tokens_the_resource_server_accepts() {
    use bearer_guard::client::TokenSource;
    let op = Provider::start();
    let v = op.validator().build_and_fetch().await.unwrap();
    let addr = common::serve(payments_app(v)).await;
    let key = SigningKey::from_pem(
        &std::fs::read(format!("{}/client-key.pem", harness_dir())).unwrap(),
        Algorithm::ES256,
    )
    .unwrap();
    let sources = [
        (
            "client_secret_basic, endpoint by discovery",
            TokenSource::client_credentials(ClientAuth::basic("order-service", "order-secret"))
                .issuer(op.issuer.clone()),
            "order-service",
        ),
        (
            "private_key_jwt",
            TokenSource::client_credentials(ClientAuth::private_key_jwt("order-service-jwt", key))
                .token_url(format!("{}/token", op.issuer)),
            "order-service-jwt",
        ),
    ];
    for (what, builder, client) in sources {
        let source = builder
            .scope("charge:customer")
            .resource(JWT_RESOURCE)
            .allow_insecure_http()
            .build()
            .unwrap();
        let response = source
            .send(reqwest::Client::new().post(format!("http://{addr}/charge")))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(response.status(), 200, "{what}");
        assert_eq!(
            response.text().await.unwrap(),
            format!("charged for {client}"),
            "{what}"
        );
        // A second token request is not needed: the token is cached.
        let t1 = source.token().await.unwrap();
        let t2 = source.token().await.unwrap();
        assert_eq!(t1.secret(), t2.secret(), "{what}");
        // A forced refresh gets a new one (a fresh assertion, a new jti).
        let t3 = source
            .refresh()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_ne!(t1.secret(), t3.secret(), "{what}");
    }
    // The provider's refusal, as it said it.
    let wrong = TokenSource::client_credentials(ClientAuth::basic("order-service", "wrong"))
        .token_url(format!("{}/token", op.issuer))
        .allow_insecure_http()
        .build()
        .unwrap();
    match wrong.token().await.unwrap_err() {
        bearer_guard::client::TokenError::Refused { status, error, .. } => {
            assert_eq!((status, error.as_str()), (401, "invalid_client"));
        }
        other => panic!("{other:?}"),
    }
}

/// A browser's part of an authorization-code login, driven by the test:
/// follows the provider's redirects (carrying its cookies) until it
/// redirects to the client's callback, and returns the callback URL.
#[cfg(feature = "client")]
async fn login(op: &Provider, query: &[(&str, &str)]) -> reqwest::Url {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = reqwest::Url::parse_with_params(&format!("{}/auth", op.issuer), query).unwrap();
    let mut cookies: Vec<(String, String)> = Vec::new();
    for _ in 0..10 {
        let cookie = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let r = client
            .get(url.clone())
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        for c in r.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap().to_owned();
            if let Some((k, v)) = pair.split_once('=') {
                cookies.retain(|(name, _)| name != k);
                cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        assert!(
            r.status().is_redirection(),
            "{}: {}",
            r.status(),
            r.text().await.unwrap()
        );
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let next = url.join(&location).unwrap();
        if next.as_str().starts_with("http://127.0.0.1/cb") {
            return next;
        }
        url = next;
    }
    panic!("the login did not reach the callback");
}

/// A login with PKCE, state and nonce from the crate's helpers; the ID
/// token verified; the refresh token used, rotated, and the old one refused.
#[cfg(feature = "client")]
#[tokio::test]
async fn a_login_yields_an_id_token_and_a_refresh_token_that_rotates() {
    use bearer_guard::client::login::{Pkce, random_nonce, random_state};
    use bearer_guard::client::{IdTokenError, IdTokenVerifier, TokenError, TokenSource};
    let op = Provider::start();
    let (state, nonce, pkce) = (
        random_state().unwrap(),
        random_nonce().unwrap(),
        Pkce::new().unwrap(),
    );
    let callback = login(
        &op,
        &[
            ("client_id", "web-app"),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("scope", "openid offline_access"),
            ("prompt", "consent"),
            ("max_age", "300"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", pkce.challenge()),
            ("code_challenge_method", pkce.method()),
        ],
    )
    .await;
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(state.as_str()));
    let code = param("code").unwrap_or_else(|| panic!("no code: {callback}"));
    // The code for tokens (the client's part, RFC 6749 §4.1.3 + PKCE).
    let r = reqwest::Client::new()
        .post(format!("{}/token", op.issuer))
        .basic_auth("web-app", Some("web-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", "http://127.0.0.1/cb"),
                    ("code_verifier", pkce.verifier()),
                ])
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let tokens: Value = r.json().await.unwrap();
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"));
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"))
        .to_owned();

    let verifier = IdTokenVerifier::builder(op.issuer.clone(), "web-app")
        .discover()
        .allow_insecure_http()
        .algorithms([Algorithm::RS256])
        .build()
        .unwrap();
    let claims = verifier
        .verify(id_token, Some(&nonce), Some(Duration::from_secs(300)))
        .await
        .unwrap();
    assert_eq!(claims.subject(), Some("alice"));
    assert_eq!(
        verifier
            .verify(id_token, Some("another nonce"), None)
            .await
            .unwrap_err(),
        IdTokenError::NonceMismatch
    );
    let other_client = IdTokenVerifier::builder(op.issuer.clone(), "order-service")
        .discover()
        .allow_insecure_http()
        .build()
        .unwrap();
    assert!(matches!(
        other_client
            .verify(id_token, Some(&nonce), None)
            .await
            .unwrap_err(),
        IdTokenError::Token(ValidationError::InvalidAudience)
    ));

    // The refresh token keeps an access token fresh and rotates.
    let rotated = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = rotated.clone();
    let source =
        TokenSource::refresh_token(ClientAuth::basic("web-app", "web-secret"), refresh.clone())
            .token_url(format!("{}/token", op.issuer))
            .allow_insecure_http()
            .on_rotate(move |rt| seen.lock().unwrap().push(rt.to_owned()))
            .build()
            .unwrap();
    source.token().await.unwrap();
    source.refresh().await.unwrap();
    let rotated = rotated.lock().unwrap().clone();
    assert_eq!(rotated.len(), 2, "each refresh rotated the refresh token");
    assert!(!rotated.contains(&refresh));
    // The first refresh token, used again: the provider refuses it, and the
    // source says the user must log in again.
    let stale = TokenSource::refresh_token(ClientAuth::basic("web-app", "web-secret"), refresh)
        .token_url(format!("{}/token", op.issuer))
        .allow_insecure_http()
        .build()
        .unwrap();
    assert!(matches!(
        stale.token().await.unwrap_err(),
        TokenError::LoginRequired { .. }
    ));
}
