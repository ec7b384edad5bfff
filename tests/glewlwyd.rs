//! Interop: bearer-guard against a second, independent authorization server
//! — Glewlwyd 2.7 (a C implementation; Debian package `glewlwyd`), started on
//! 127.0.0.1 by tests/glewlwyd/start.sh with a fresh sqlite database and
//! configured through its admin API (tests/glewlwyd/configure.py; what the
//! server answers, quirks included, is in tests/glewlwyd/README.md).
//!
//! Its client-credentials tokens are RFC 9068 JWT access tokens (`typ:
//! at+jwt`, `aud` from the RFC 8707 `resource`, `scope` a string), its
//! discovery lives under the issuer `http://127.0.0.1:PORT/api/oidc`, it
//! introspects (RFC 7662) and revokes (RFC 7009), and its signing keys can be
//! rotated at run time.
//!
//! When `glewlwyd` is missing the set-up installs it with apt-get (as root);
//! where that is impossible these tests fail and say what to install (they
//! never pass silently).

use crate::common;

use common::{call, payments_app};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    Issuer, ValidationError, Validator, ValidatorBuilder,
    introspection::{ClientAuth, Introspection, TokenPolicy},
    jwks::{JwksOptions, KeyStatus},
    keys::Algorithm,
};
use serde_json::Value;

/// The RFC 8707 resource the payments API is (configure.py's default).
const RESOURCE: &str = "https://payments.example/";

fn harness_dir() -> String {
    format!("{}/tests/glewlwyd", env!("CARGO_MANIFEST_DIR"))
}

/// Installs the package once per test run when `glewlwyd` is missing (so
/// that parallel tests do not race for the dpkg lock); panics with what to
/// install when that fails.
fn prepare() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let status = Command::new(format!("{}/start.sh", harness_dir()))
            .arg("--install-only")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("tests/glewlwyd/start.sh could not run: {e} (needs bash)"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "the Glewlwyd interop tests need the Debian package `glewlwyd` (2.7), \
                 which could not be installed ({status}; see the output above). \
                 Install it as root: `apt-get update && apt-get install glewlwyd dbconfig-no-thanks` \
                 with the debconf answer `glewlwyd/config_type select No configuration` \
                 (tests/glewlwyd/README.md), or run the tests as root."
            ))
        }
    });
    if let Err(message) = ready {
        panic!("{message}");
    }
}

/// A free port on 127.0.0.1 (bound, then released for the server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A running Glewlwyd in its own directory; killed (with the script that
/// started it) when dropped.
struct Glewlwyd {
    child: Child,
    workdir: PathBuf,
    port: u16,
    /// configure.py's summary: issuer, endpoints, clients, kids.
    config: Value,
}

impl Glewlwyd {
    fn start() -> Glewlwyd {
        Glewlwyd::start_with_alg("RS256")
    }

    fn start_with_alg(alg: &str) -> Glewlwyd {
        prepare();
        let workdir = std::env::temp_dir().join(format!(
            "bearer-guard-glewlwyd-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&workdir);
        let port = free_port();
        let mut child = Command::new(format!("{}/start.sh", harness_dir()))
            .arg("--foreground")
            .arg(port.to_string())
            .arg(&workdir)
            .env("GLEWLWYD_ALG", alg)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run tests/glewlwyd/start.sh");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("read start.sh's output");
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        assert!(
            line.starts_with("GLEWLWYD READY "),
            "Glewlwyd did not start on 127.0.0.1:{port} (start.sh said {line:?}; its log is in {})",
            workdir.display()
        );
        let config = read_config(&workdir);
        Glewlwyd {
            child,
            workdir,
            port,
            config,
        }
    }

    fn issuer(&self) -> &str {
        self.config["issuer"].as_str().expect("issuer")
    }

    /// A client-credentials token from `client`, for `resource` when given.
    async fn token_for(&self, client: (&str, &str), scope: &str, resource: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = reqwest::Client::new()
            .post(self.config["token_endpoint"].as_str().unwrap())
            .basic_auth(client.0, Some(client.1))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "token endpoint: {status} {v}");
        v["access_token"].as_str().expect("access_token").to_owned()
    }

    /// A token of `payments-client` for the payments API with `charge:customer`.
    async fn payments_token(&self) -> String {
        self.token_for(PAYMENTS, "charge:customer", Some(RESOURCE))
            .await
    }

    async fn revoke(&self, token: &str) {
        let r = reqwest::Client::new()
            .post(self.config["revocation_endpoint"].as_str().unwrap())
            .basic_auth(PAYMENTS.0, Some(PAYMENTS.1))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("token", token)
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "revocation: {}", r.status());
    }

    /// Rotates the signing key through the admin API (configure.py rotate):
    /// a new key signs from now on; `extra` picks which old keys stay
    /// published and the new key's algorithm.
    fn rotate(&mut self, extra: &[&str]) {
        let output = Command::new("python3")
            .arg(format!("{}/configure.py", harness_dir()))
            .arg("rotate")
            .arg("--workdir")
            .arg(&self.workdir)
            .arg("--port")
            .arg(self.port.to_string())
            .args(extra)
            .stderr(Stdio::inherit())
            .output()
            .expect("run configure.py rotate");
        assert!(output.status.success(), "configure.py rotate failed");
        self.config = read_config(&self.workdir);
    }

    /// The resource server's validator for this Glewlwyd: discovery, the
    /// payments resource as audience.
    fn validator(&self) -> ValidatorBuilder {
        Validator::builder()
            .issuer(self.issuer())
            .audience(RESOURCE)
            .allow_insecure_http()
            .discover()
    }

    /// As `validator`, with every token introspected as `resource-server`.
    fn introspecting_validator(&self) -> ValidatorBuilder {
        self.validator().introspection(
            Introspection::discovered(ClientAuth::basic("resource-server", "rs-secret"))
                .policy(TokenPolicy::IntrospectAll),
        )
    }
}

impl Drop for Glewlwyd {
    fn drop(&mut self) {
        // The server runs with the script as its parent-death signal source:
        // killing the script kills it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

const PAYMENTS: (&str, &str) = ("payments-client", "secret");
const REPORTS: (&str, &str) = ("reports-client", "reports-secret");

fn read_config(workdir: &std::path::Path) -> Value {
    let path = workdir.join("glewlwyd.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} not written by configure.py: {e}", path.display()));
    serde_json::from_str(&text).expect("glewlwyd.json is JSON")
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn discovery_finds_glewlwyds_endpoints_under_its_path_issuer() {
    let gw = Glewlwyd::start();
    assert!(
        !gw.issuer().ends_with('/'),
        "Glewlwyd's issuer has no trailing slash"
    );
    let v = gw
        .introspecting_validator()
        .build_and_fetch()
        .await
        .unwrap();
    let m = v.remote_keys()[0].metadata().unwrap();
    assert_eq!(m.issuer, gw.issuer());
    assert_eq!(m.jwks_uri, Some(format!("{}/jwks", gw.issuer())));
    assert_eq!(
        m.introspection_endpoint,
        Some(format!("{}/introspect", gw.issuer()))
    );
    let stats = v.remote_keys()[0].stats();
    assert_eq!((stats.status, stats.keys), (KeyStatus::Fresh, 1));

    // A validator configured with the issuer plus a slash does not match it.
    let slash = Validator::builder()
        .issuer(format!("{}/", gw.issuer()))
        .audience(RESOURCE)
        .allow_insecure_http()
        .discover()
        .build_and_fetch()
        .await;
    assert!(slash.is_err(), "discovery's issuer must match exactly");
}

#[tokio::test]
async fn glewlwyds_jwt_access_tokens_pass_the_layer_and_scopes_are_enforced() {
    let gw = Glewlwyd::start();
    let v = gw.validator().build_and_fetch().await.unwrap();
    let addr = common::serve(payments_app(v)).await;

    let token = gw.payments_token().await;
    assert_eq!(header(&token)["typ"], "at+jwt");
    let (status, _, body) = call(addr, reqwest::Method::POST, "/charge", &token).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "charged for payments-client")
    );
    let (status, _, body) = call(addr, reqwest::Method::GET, "/me", &token).await;
    assert_eq!(status, 200);
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["aud"], RESOURCE);
    assert_eq!(me["iss"], gw.issuer());
    assert_eq!(me["scope"], "charge:customer");

    // Another client of the same API without the scope: 403 insufficient_scope.
    let reports = gw.token_for(REPORTS, "read:reports", Some(RESOURCE)).await;
    let (status, _, _) = call(addr, reqwest::Method::GET, "/me", &reports).await;
    assert_eq!(status, 200);
    let (status, challenge, _) = call(addr, reqwest::Method::POST, "/charge", &reports).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="payments", error="insufficient_scope", error_description="The access token lacks the scope this request needs", scope="charge:customer""#
        )
    );

    // Without `resource`, Glewlwyd puts the scopes in `aud`: not for us.
    let no_resource = gw.token_for(PAYMENTS, "charge:customer", None).await;
    let (status, challenge, _) = call(addr, reqwest::Method::POST, "/charge", &no_resource).await;
    assert_eq!(status, 401);
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.contains(r#"error="invalid_token""#)),
        "{challenge:?}"
    );
}

#[tokio::test]
async fn glewlwyds_tokens_meet_the_strict_rfc9068_profile() {
    let gw = Glewlwyd::start();
    let strict = gw
        .validator()
        .rfc9068_profile()
        .build_and_fetch()
        .await
        .unwrap();
    let token = gw.payments_token().await;
    let claims = strict.validate(&token).await.unwrap();
    assert_eq!(claims.client_id(), Some("payments-client"));
    assert_eq!(claims.subject(), Some("payments-client"));
    assert!(claims.jwt_id().is_some() && claims.issued_at().is_some());
    assert!(claims.scopes().contains("charge:customer"));
}

#[tokio::test]
async fn introspection_accepts_live_tokens_and_refuses_revoked_ones() {
    let gw = Glewlwyd::start();
    let v = gw
        .introspecting_validator()
        .build_and_fetch()
        .await
        .unwrap();

    let live = gw.payments_token().await;
    let claims = v.validate(&live).await.unwrap();
    assert_eq!(claims.client_id(), Some("payments-client"));
    assert!(claims.scopes().contains("charge:customer"));
    // Glewlwyd's introspection answer carries no `iss`.
    assert_eq!(claims.issuer(), None);
    let stats = v.introspection_stats().await.unwrap();
    assert_eq!((stats.calls, stats.active), (1, 1));

    // Revoked at the server: signature and dates still fine, but refused
    // once introspection says inactive.
    let revoked = gw.payments_token().await;
    gw.revoke(&revoked).await;
    assert_eq!(
        v.validate(&revoked).await.unwrap_err(),
        ValidationError::Inactive
    );
    // Verified locally only (the default policy), the same token passes
    // until its `exp`: the trade-off IntrospectAll exists for.
    let local = gw.validator().build_and_fetch().await.unwrap();
    assert!(local.validate(&revoked).await.is_ok());

    // Garbage gets Glewlwyd's `{"active":false}`.
    assert_eq!(
        v.validate("not-a-token-glewlwyd-knows").await.unwrap_err(),
        ValidationError::Inactive
    );
}

#[tokio::test]
async fn a_key_rotated_at_glewlwyd_is_picked_up_without_a_restart() {
    let mut gw = Glewlwyd::start();
    let v = gw
        .validator()
        .jwks_options(JwksOptions::default().cooldown(Duration::ZERO))
        .build_and_fetch()
        .await
        .unwrap();
    let before = gw.payments_token().await;
    assert_eq!(header(&before)["kid"], "key-1");
    assert!(v.validate(&before).await.is_ok());

    gw.rotate(&["--keep", "1"]);
    let after = gw.payments_token().await;
    assert_eq!(header(&after)["kid"], "key-2", "signed with the new key");
    assert!(v.validate(&after).await.is_ok());
    assert_eq!(v.remote_keys()[0].stats().on_demand_fetches, 1);
    assert_eq!(v.remote_keys()[0].stats().keys, 2);
    // The old key is still published: tokens signed before stay valid.
    assert!(v.validate(&before).await.is_ok());
}

#[tokio::test]
async fn a_key_withdrawn_at_glewlwyd_no_longer_vouches_for_its_tokens() {
    let mut gw = Glewlwyd::start();
    let v = gw.validator().build_and_fetch().await.unwrap();
    let before = gw.payments_token().await;
    // Verified and cached.
    assert!(v.validate(&before).await.is_ok());
    assert!(v.validate(&before).await.is_ok());
    assert_eq!(v.token_cache_len(), Some(1));

    // New key of another family, the old one withdrawn from the JWKS.
    gw.rotate(&["--drop-old", "--alg", "ES256"]);
    v.refresh_keys().await.unwrap();
    assert_eq!(v.remote_keys()[0].stats().keys, 1);

    let after = gw.payments_token().await;
    assert_eq!(header(&after)["alg"], "ES256");
    assert!(v.validate(&after).await.is_ok());
    // The cached verification was made by a key no longer published.
    let err = v.validate(&before).await.unwrap_err();
    assert!(
        matches!(err, ValidationError::UnknownKeyId),
        "a token of a withdrawn key: {err:?}"
    );
}

#[tokio::test]
async fn glewlwyd_with_ec_keys_from_the_start() {
    let gw = Glewlwyd::start_with_alg("ES256");
    let v = gw
        .validator()
        .rfc9068_profile()
        .build_and_fetch()
        .await
        .unwrap();
    let token = gw.payments_token().await;
    assert_eq!(header(&token)["alg"], "ES256");
    let claims = v.validate(&token).await.unwrap();
    assert_eq!(claims.client_id(), Some("payments-client"));
}

#[tokio::test]
async fn glewlwyd_is_one_issuer_among_several_and_vouches_only_for_itself() {
    let gw = Glewlwyd::start();
    // A second issuer whose key has Glewlwyd's kid.
    let other = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::RS256).with_kid("key-1")])
        .issuer_url("https://other-issuer.test")
        .default_audience("https://reports.example/");
    let v = Validator::builder()
        .allow_insecure_http()
        .trust(Issuer::new(gw.issuer()).audience(RESOURCE).discover())
        .trust(
            Issuer::new(other.issuer())
                .audience("https://reports.example/")
                .jwks_json(other.jwks_json()),
        )
        .build()
        .unwrap();

    let from_glewlwyd = v.validate(&gw.payments_token().await).await.unwrap();
    assert_eq!(from_glewlwyd.issuer(), Some(gw.issuer()));
    let from_other = v.validate(&other.token().sign()).await.unwrap();
    assert_eq!(from_other.issuer(), Some("https://other-issuer.test"));

    // The other issuer's key, same kid, claiming to be Glewlwyd: refused.
    let forged = other
        .token()
        .claim("iss", gw.issuer())
        .audience(RESOURCE)
        .sign();
    assert_eq!(
        v.validate(&forged).await.unwrap_err(),
        ValidationError::InvalidSignature
    );
    // Glewlwyd's key source started on first use and reports on its own.
    let sources = v.remote_keys();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0].issuer(), gw.issuer());
    assert_eq!(sources[0].stats().status, KeyStatus::Fresh);
}
