//! Many issuers, each with its own keys, audiences and policy (RFC 8725
//! §3.8): the unverified `iss` only chooses the issuer's keys; a `kid` shared
//! by two issuers is harmless; key sources start on first use and fail on
//! their own; templated (multi-tenant) issuers are bounded by an allow-list
//! or a cap; the client-id mode replaces the audience check only when asked.

use crate::common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BearerLayer, BuildError, Claims, Issuer, ValidationError, Validator,
    jwks::JwksOptions,
    jwt::TypPolicy,
    keys::Algorithm,
    limits::{MAX_PENDING_TENANTS, PENDING_TENANT_TTL},
    testing::ManualClock,
};
use common::as_server::{AsServer, Mode};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn key(kid: &str) -> TestKey {
    TestKey::generate(Algorithm::ES256).with_kid(kid)
}

fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.public_jwk().unwrap()).collect::<Vec<_>>() }).to_string()
}

fn issuer_named(iss: &str, audience: &str) -> TestIssuer {
    TestIssuer::with_keys(vec![key("unused")])
        .issuer_url(iss)
        .default_audience(audience)
}

const A: &str = "https://a.example";
const B: &str = "https://b.example/";

/// Two issuers whose keys share the `kid` "k".
struct TwoIssuers {
    a: TestIssuer,
    b: TestIssuer,
    a_key: TestKey,
    b_key: TestKey,
    validator: Validator,
}

fn two_issuers() -> TwoIssuers {
    let (a_key, b_key) = (key("k"), key("k"));
    let validator = Validator::builder()
        .trust(Issuer::new(A).audience("api-a").jwks_json(jwks(&[&a_key])))
        .trust(
            Issuer::new(B)
                .audience("api-b")
                .jwks_json(jwks(&[&b_key]))
                .typ_policy(TypPolicy::Rfc9068),
        )
        .build()
        .unwrap();
    TwoIssuers {
        a: issuer_named(A, "api-a"),
        b: issuer_named(B, "api-b"),
        a_key,
        b_key,
        validator,
    }
}

/// RFC 8725 §3.8: one issuer's key never vouches for another issuer's
/// token, even under the same `kid`.
#[tokio::test]
async fn a_token_verifies_only_with_the_keys_of_the_issuer_it_names() {
    let t = two_issuers();
    let v = &t.validator;
    let ok = |i: &TestIssuer, k: &TestKey| i.token().signing_key(k).sign();
    assert_eq!(
        v.validate(&ok(&t.a, &t.a_key)).await.unwrap().issuer(),
        Some(A)
    );
    assert_eq!(
        v.validate(&ok(&t.b, &t.b_key)).await.unwrap().issuer(),
        Some(B)
    );
    // Naming A, signed with B's key of the same kid.
    assert_eq!(
        v.validate(&ok(&t.a, &t.b_key)).await.unwrap_err(),
        ValidationError::InvalidSignature
    );
    assert_eq!(
        v.validate(&ok(&t.b, &t.a_key)).await.unwrap_err(),
        ValidationError::InvalidSignature
    );
    // An issuer nobody trusts, or none at all.
    let stranger = issuer_named("https://c.example", "api-a");
    assert_eq!(
        v.validate(&ok(&stranger, &t.a_key)).await.unwrap_err(),
        ValidationError::InvalidIssuer
    );
    let no_iss =
        t.a.token()
            .signing_key(&t.a_key)
            .without_claim("iss")
            .sign();
    assert_eq!(
        v.validate(&no_iss).await.unwrap_err(),
        ValidationError::MissingClaim("iss".into())
    );
    let number_iss = t.a.token().signing_key(&t.a_key).claim("iss", 7).sign();
    assert_eq!(
        v.validate(&number_iss).await.unwrap_err(),
        ValidationError::InvalidClaim("iss")
    );
}

/// Each issuer's audiences and policy apply to its tokens only.
#[tokio::test]
async fn each_issuer_has_its_own_audiences_and_policy() {
    let t = two_issuers();
    let v = &t.validator;
    // A's token for B's audience.
    let token = t.a.token().signing_key(&t.a_key).audience("api-b").sign();
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        ValidationError::InvalidAudience
    );
    // B requires `typ: at+jwt`; A accepts `JWT`.
    let typed = |i: &TestIssuer, k: &TestKey| i.token().signing_key(k).header("typ", "JWT").sign();
    assert!(v.validate(&typed(&t.a, &t.a_key)).await.is_ok());
    assert_eq!(
        v.validate(&typed(&t.b, &t.b_key)).await.unwrap_err(),
        ValidationError::TypeNotAllowed
    );
}

/// The same through the layer over HTTP, both issuers on one route.
#[tokio::test]
async fn both_issuers_pass_the_layer_each_with_its_own_keys() {
    let t = two_issuers();
    let app = Router::new()
        .route(
            "/me",
            get(|c: Claims| async move { c.issuer().unwrap_or_default().to_owned() }),
        )
        .layer(BearerLayer::new(t.validator.clone()));
    let addr = common::serve(app).await;
    let http = reqwest::Client::new();
    let call = |token: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://{addr}/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        call(t.a.token().signing_key(&t.a_key).sign()).await,
        (StatusCode::OK, A.to_owned())
    );
    assert_eq!(
        call(t.b.token().signing_key(&t.b_key).sign()).await,
        (StatusCode::OK, B.to_owned())
    );
    assert_eq!(
        call(t.a.token().signing_key(&t.b_key).sign()).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Key sources start on the first token naming their issuer, and one
/// issuer being down degrades only that issuer: its tokens get 503, the
/// other issuer's keep passing.
#[tokio::test]
async fn an_issuer_that_is_down_degrades_only_itself() {
    let down_key = key("d");
    let server = AsServer::start(jwks(&[&down_key])).await;
    server.set_mode(Mode::Status(500));
    let up_key = key("u");
    let v = Validator::builder()
        .allow_insecure_http()
        .trust(
            Issuer::new("https://down.example")
                .audience("api")
                .jwks_url(server.jwks_url())
                .jwks_options(JwksOptions::default().fetch_timeout(Duration::from_millis(300))),
        )
        .trust(
            Issuer::new("https://up.example")
                .audience("api")
                .jwks_json(jwks(&[&up_key])),
        )
        .build()
        .unwrap();
    let up = issuer_named("https://up.example", "api");
    let down = issuer_named("https://down.example", "api");
    // Lazy: nothing fetched yet, and tokens of the other issuer need nothing.
    assert!(
        v.validate(&up.token().signing_key(&up_key).sign())
            .await
            .is_ok()
    );
    assert_eq!(server.jwks_hits(), 0);
    let err = v
        .validate(&down.token().signing_key(&down_key).sign())
        .await
        .unwrap_err();
    assert_eq!(err, ValidationError::KeysUnavailable);
    assert!(server.jwks_hits() >= 1);
    assert!(
        v.validate(&up.token().signing_key(&up_key).sign())
            .await
            .is_ok()
    );
    // Per-issuer statistics.
    let stats = v.remote_keys();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].issuer(), "https://down.example");
    let down = v.remote_keys_of("https://down.example").unwrap();
    assert!(
        v.remote_keys_of("https://up.example").is_none(),
        "static keys have no remote set"
    );
    // A handle does not keep the key source alive.
    drop(v);
    assert!(down.refresh().await.is_err_and(|e| e.is_stopped()));
}

// ------------------------------------------------------------ tenant templates

const TEMPLATE: &str = "https://login.test/{tenant}/v2.0";

fn tenant_issuer(tenant: &str) -> TestIssuer {
    issuer_named(&TEMPLATE.replace("{tenant}", tenant), "api")
}

fn tenant_token(tenant: &str, signer: &TestKey) -> String {
    tenant_issuer(tenant)
        .token()
        .signing_key(signer)
        .claim("tid", tenant)
        .sign()
}

/// Entra-style: `iss` is the template with the tenant, which the `tid`
/// claim must confirm; an allow-list bounds the tenants.
#[tokio::test]
async fn a_templated_issuer_accepts_allowed_tenants_confirmed_by_tid() {
    let shared = key("common");
    let v = Validator::builder()
        .trust(
            Issuer::tenant_template(TEMPLATE)
                .tenants(["t1", "9188040d-6c67-4c5b-b112-36a304b66dad"])
                .audience("api")
                .jwks_json(jwks(&[&shared])),
        )
        .build()
        .unwrap();
    let claims = v.validate(&tenant_token("t1", &shared)).await.unwrap();
    assert_eq!(claims.issuer(), Some("https://login.test/t1/v2.0"));
    assert!(
        v.validate(&tenant_token(
            "9188040d-6c67-4c5b-b112-36a304b66dad",
            &shared
        ))
        .await
        .is_ok()
    );
    // Not on the allow-list.
    assert_eq!(
        v.validate(&tenant_token("t2", &shared)).await.unwrap_err(),
        ValidationError::InvalidIssuer
    );
    // `tid` names another tenant than `iss`, or is absent.
    let mismatch = tenant_issuer("t1")
        .token()
        .signing_key(&shared)
        .claim("tid", "9188040d-6c67-4c5b-b112-36a304b66dad")
        .sign();
    assert_eq!(
        v.validate(&mismatch).await.unwrap_err(),
        ValidationError::InvalidIssuer
    );
    let no_tid = tenant_issuer("t1").token().signing_key(&shared).sign();
    assert_eq!(
        v.validate(&no_tid).await.unwrap_err(),
        ValidationError::InvalidIssuer
    );
    // Tenants that would change the meaning of a URL.
    for bad in ["..", "a/b", "t1/../t2", "", "é"] {
        let token = tenant_issuer(bad)
            .token()
            .signing_key(&shared)
            .claim("tid", bad)
            .sign();
        assert_eq!(
            v.validate(&token).await.unwrap_err(),
            ValidationError::InvalidIssuer,
            "{bad:?}"
        );
    }
}

/// With shared keys, tokens naming made-up tenants (unsigned, or signed
/// with another key) leave nothing behind: the genuine tenants that come
/// after them pass, beyond `max_tenants` too (it only bounds the memory of
/// tenants seen; nothing is fetched per tenant).
#[tokio::test]
async fn with_shared_keys_forged_tenants_leave_nothing_behind() {
    let shared = key("common");
    let forger = key("common"); // same kid, another key
    let v = Validator::builder()
        .trust(
            Issuer::tenant_template(TEMPLATE)
                .max_tenants(2)
                .audience("api")
                .jwks_json(jwks(&[&shared])),
        )
        .build()
        .unwrap();
    for i in 0..200 {
        let tenant = format!("fake{i}");
        let forged = tenant_token(&tenant, &forger);
        assert_eq!(
            v.validate(&forged).await.unwrap_err(),
            ValidationError::InvalidSignature
        );
        let unsigned = tenant_issuer(&tenant)
            .token()
            .claim("tid", tenant.as_str())
            .unsigned();
        assert!(v.validate(&unsigned).await.is_err());
    }
    for t in ["t1", "t2", "t3", "t4"] {
        let claims = v.validate(&tenant_token(t, &shared)).await.unwrap();
        assert_eq!(
            claims.issuer(),
            Some(format!("https://login.test/{t}/v2.0").as_str())
        );
    }
    // Known tenants keep passing.
    assert!(v.validate(&tenant_token("t1", &shared)).await.is_ok());
}

/// Two templates for the same issuer pattern, each with its own tenants
/// and audience: a token goes to the one that accepts its tenant.
#[tokio::test]
async fn overlapping_templates_each_keep_their_tenants() {
    let shared = key("common");
    let v = Validator::builder()
        .trust(
            Issuer::tenant_template(TEMPLATE)
                .tenants(["t1"])
                .audience("api")
                .jwks_json(jwks(&[&shared])),
        )
        .trust(
            Issuer::tenant_template(TEMPLATE)
                .tenants(["t2"])
                .audience("api")
                .jwks_json(jwks(&[&shared])),
        )
        .build()
        .unwrap();
    assert!(v.validate(&tenant_token("t1", &shared)).await.is_ok());
    assert!(v.validate(&tenant_token("t2", &shared)).await.is_ok());
    assert_eq!(
        v.validate(&tenant_token("t3", &shared)).await.unwrap_err(),
        ValidationError::InvalidIssuer
    );
}

/// A metadata server for every tenant: `/{tenant}/v2.0/.well-known/...`
/// names the tenant's issuer and a JWKS of the tenant's own key.
struct TenantServer {
    addr: SocketAddr,
    keys: Mutex<HashMap<String, TestKey>>,
    discoveries: AtomicUsize,
}

async fn tenant_server() -> Arc<TenantServer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Arc::new(TenantServer {
        addr: listener.local_addr().unwrap(),
        keys: Mutex::new(HashMap::new()),
        discoveries: AtomicUsize::new(0),
    });
    async fn metadata(
        State(s): State<Arc<TenantServer>>,
        Path(tenant): Path<String>,
    ) -> axum::Json<Value> {
        s.discoveries.fetch_add(1, Ordering::SeqCst);
        axum::Json(json!({
            "issuer": format!("http://{}/{tenant}/v2.0", s.addr),
            "jwks_uri": format!("http://{}/{tenant}/keys", s.addr),
        }))
    }
    async fn keys(State(s): State<Arc<TenantServer>>, Path(tenant): Path<String>) -> String {
        let keys = s.keys.lock().unwrap();
        jwks(&keys.get(&tenant).into_iter().collect::<Vec<_>>())
    }
    let app = Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(metadata),
        )
        .route("/{tenant}/keys", get(keys))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    server
}

/// A validator trusting every tenant of the tenant server's template, each
/// discovered on its own, on a manual clock set to now.
fn discovering(server: &TenantServer) -> (ManualClock, String, Validator) {
    let clock = ManualClock::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let template = format!("http://{}/{{tenant}}/v2.0", server.addr);
    let v = Validator::builder()
        .allow_insecure_http()
        .clock(clock.clone())
        .trust(
            Issuer::tenant_template(&template)
                .audience("api")
                .discover(),
        )
        .build()
        .unwrap();
    (clock, template, v)
}

/// A token of `tenant` of `template`, signed by `signer`.
fn tenant_token_of(template: &str, tenant: &str, signer: &TestKey) -> String {
    issuer_named(&template.replace("{tenant}", tenant), "api")
        .token()
        .signing_key(signer)
        .claim("tid", tenant)
        .sign()
}

/// Each tenant discovered on its own: a tenant's key verifies only that
/// tenant's tokens, and the cap bounds how many tenants are ever fetched.
#[tokio::test]
async fn tenants_discovered_on_their_own_are_bounded_by_the_cap() {
    let server = tenant_server().await;
    for t in ["t1", "t2", "t3"] {
        server.keys.lock().unwrap().insert(t.into(), key(t));
    }
    let template = format!("http://{}/{{tenant}}/v2.0", server.addr);
    let v = Validator::builder()
        .allow_insecure_http()
        .trust(
            Issuer::tenant_template(&template)
                .max_tenants(2)
                .audience("api")
                .discover(),
        )
        .build()
        .unwrap();
    let token = |tenant: &str, signer: &str| {
        let keys = server.keys.lock().unwrap();
        issuer_named(&template.replace("{tenant}", tenant), "api")
            .token()
            .signing_key(&keys[signer])
            .claim("tid", tenant)
            .sign()
    };
    assert!(v.validate(&token("t1", "t1")).await.is_ok());
    assert!(v.validate(&token("t2", "t2")).await.is_ok());
    // t2's token signed with t1's key (kid "t1" is not in t2's set).
    assert_eq!(
        v.validate(&token("t2", "t1")).await.unwrap_err(),
        ValidationError::UnknownKeyId
    );
    // Beyond the cap: refused without any fetch.
    let before = server.discoveries.load(Ordering::SeqCst);
    assert_eq!(
        v.validate(&token("t3", "t3")).await.unwrap_err(),
        ValidationError::InvalidIssuer
    );
    assert_eq!(server.discoveries.load(Ordering::SeqCst), before);
    assert_eq!(before, 2);
    assert_eq!(v.remote_keys().len(), 2);
}

/// Tokens naming made-up tenants of a discovering template: at most
/// `MAX_PENDING_TENANTS` discoveries per `PENDING_TENANT_TTL`, whatever the
/// flood, and tenants verified before keep passing. A genuine new tenant
/// waits for a pending place while the flood lasts.
#[tokio::test]
async fn made_up_tenants_cause_bounded_discoveries() {
    let server = tenant_server().await;
    for t in ["t1", "t2"] {
        server.keys.lock().unwrap().insert(t.into(), key(t));
    }
    let (clock, template, v) = discovering(&server);
    let stranger = key("t1");
    let token = |tenant: &str, signer: &TestKey| tenant_token_of(&template, tenant, signer);
    let genuine = |tenant: &str| {
        let keys = server.keys.lock().unwrap();
        token(tenant, &keys[tenant])
    };
    assert!(v.validate(&genuine("t1")).await.is_ok());
    assert_eq!(server.discoveries.load(Ordering::SeqCst), 1);

    // Unsigned tokens fail the header rules before taking any place.
    for i in 0..50 {
        let tenant = format!("unsigned{i}");
        let unsigned = issuer_named(&template.replace("{tenant}", &tenant), "api")
            .token()
            .claim("tid", tenant.as_str())
            .unsigned();
        assert_eq!(
            v.validate(&unsigned).await.unwrap_err(),
            ValidationError::InvalidIssuer
        );
    }
    assert_eq!(server.discoveries.load(Ordering::SeqCst), 1);

    for i in 0..50 {
        let err = v
            .validate(&token(&format!("fake{i}"), &stranger))
            .await
            .unwrap_err();
        // Discovered: the tenant has no keys (an empty set is unusable);
        // beyond the pending places: not taken, and answered 503 (not a
        // verdict on the token: its tenant may be genuine).
        assert_eq!(err, ValidationError::KeysUnavailable, "fake{i}");
    }
    assert_eq!(
        server.discoveries.load(Ordering::SeqCst),
        1 + MAX_PENDING_TENANTS
    );
    // The verified tenant is untouched; a new genuine one waits its turn.
    assert!(v.validate(&genuine("t1")).await.is_ok());
    assert_eq!(
        v.validate(&genuine("t2")).await.unwrap_err(),
        ValidationError::KeysUnavailable
    );
    clock.advance(PENDING_TENANT_TTL);
    assert!(v.validate(&genuine("t2")).await.is_ok());
    assert_eq!(
        server.discoveries.load(Ordering::SeqCst),
        2 + MAX_PENDING_TENANTS
    );
    // Verified tenants keep their key sources; the pending ones are gone.
    let mut sources: Vec<String> = v
        .remote_keys()
        .iter()
        .map(|k| k.issuer().to_owned())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        [
            template.replace("{tenant}", "t1"),
            template.replace("{tenant}", "t2")
        ]
    );
}

/// Microsoft Entra's JWKS names each key's issuer: a key of every tenant
/// (`{tenantid}`) vouches for tokens naming their tenant consistently; a
/// tenant's own key only for its tenant (RFC 8725 §3.8).
#[tokio::test]
async fn a_keys_issuer_member_binds_it_to_its_tenant() {
    let common = key("common");
    let own = key("own");
    let with_issuer = |k: &TestKey, issuer: &str| {
        let mut jwk = k.public_jwk().unwrap();
        jwk["issuer"] = json!(issuer);
        jwk
    };
    let set = json!({"keys": [
        with_issuer(&common, "https://login.test/{tenantid}/v2.0"),
        with_issuer(&own, "https://login.test/t1/v2.0"),
    ]})
    .to_string();
    let v = Validator::builder()
        .trust(
            Issuer::tenant_template(TEMPLATE)
                .tenants(["t1", "t2"])
                .audience("api")
                .jwks_json(set),
        )
        .build()
        .unwrap();
    assert!(v.validate(&tenant_token("t1", &common)).await.is_ok());
    assert!(v.validate(&tenant_token("t2", &common)).await.is_ok());
    assert!(v.validate(&tenant_token("t1", &own)).await.is_ok());
    // t1's own key signing for t2.
    assert_eq!(
        v.validate(&tenant_token("t2", &own)).await.unwrap_err(),
        ValidationError::InvalidIssuer
    );
}

// ------------------------------------------------------------- client-id mode

/// AWS Cognito access tokens carry no `aud`: the explicit client-id mode
/// checks `client_id` against an allow-list instead, and `token_use` keeps
/// ID tokens out. Nothing is skipped silently.
#[tokio::test]
async fn the_client_id_mode_replaces_the_audience_check_only_when_asked() {
    let signer = key("c");
    let iss = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_aBcDeFgHi";
    let v = Validator::builder()
        .issuer(iss)
        .allowed_client_ids(["57cbishk4j24pabc1234567890"])
        .require_claim_equals("token_use", "access")
        .jwks_json(jwks(&[&signer]))
        .build()
        .unwrap();
    let cognito = issuer_named(iss, "unused");
    let access = || {
        cognito
            .token()
            .signing_key(&signer)
            .without_claim("aud")
            .claim("client_id", "57cbishk4j24pabc1234567890")
            .claim("token_use", "access")
    };
    assert!(v.validate(&access().sign()).await.is_ok());
    assert_eq!(
        v.validate(&access().claim("client_id", "another-app").sign())
            .await
            .unwrap_err(),
        ValidationError::InvalidAudience
    );
    assert_eq!(
        v.validate(&access().without_claim("client_id").sign())
            .await
            .unwrap_err(),
        ValidationError::MissingClaim("client_id".into())
    );
    assert_eq!(
        v.validate(&access().claim("token_use", "id").sign())
            .await
            .unwrap_err(),
        ValidationError::UnexpectedClaimValue("token_use".into())
    );
    // An ID token carries `aud` (the client id): no audience is configured,
    // so it is refused.
    assert_eq!(
        v.validate(&access().claim("aud", "57cbishk4j24pabc1234567890").sign())
            .await
            .unwrap_err(),
        ValidationError::InvalidAudience
    );
    // An audience and allowed client ids: both checks hold.
    let both = Validator::builder()
        .issuer(iss)
        .audience("api")
        .allowed_client_ids(["57cbishk4j24pabc1234567890"])
        .jwks_json(jwks(&[&signer]))
        .build()
        .unwrap();
    let for_api = || access().claim("aud", "api");
    assert!(both.validate(&for_api().sign()).await.is_ok());
    assert_eq!(
        both.validate(&for_api().claim("client_id", "another-app").sign())
            .await
            .unwrap_err(),
        ValidationError::InvalidAudience
    );
    // Neither an audience nor the client-id mode: refused at build time.
    assert!(matches!(
        Validator::builder()
            .issuer(iss)
            .jwks_json(jwks(&[&signer]))
            .build(),
        Err(BuildError::NoAudience)
    ));
}

#[test]
fn issuer_configuration_errors_are_clear() {
    let k = key("k");
    assert!(matches!(
        Validator::builder()
            .issuer(A)
            .audience("x")
            .jwks_json(jwks(&[&k]))
            .trust(Issuer::new(A).audience("y").jwks_json(jwks(&[&k])))
            .build(),
        Err(BuildError::DuplicateIssuer(name)) if name == A
    ));
    assert!(matches!(
        Validator::builder()
            .trust(
                Issuer::tenant_template("https://login.test/common/v2.0")
                    .audience("x")
                    .jwks_json(jwks(&[&k]))
            )
            .build(),
        Err(BuildError::TenantTemplate { reason, .. }) if reason.contains("no {tenant}")
    ));
    let template = |t: &str| {
        Validator::builder()
            .trust(
                Issuer::tenant_template(t)
                    .audience("x")
                    .jwks_json(jwks(&[&k])),
            )
            .build()
    };
    assert!(matches!(
        template("https://login.test/{tenant}/{tenant}/v2.0"),
        Err(BuildError::TenantTemplate { reason, .. }) if reason.contains("more than one")
    ));
    // In the host, a tenant could name any host (169.254.169.254): only
    // with an allow-list.
    for host in [
        "https://{tenant}/",
        "https://{tenant}.login.test/v2.0",
        "https://{tenant}",
        "https://{tenant}@login.test/v2.0",
        "https://login.test:{tenant}/v2.0",
        "https:/{tenant}/v2.0",
        "https:{tenant}/v2.0",
        "https://login.test\\{tenant}/v2.0",
        "login.test/{tenant}/v2.0",
    ] {
        assert!(
            matches!(
                template(host),
                Err(BuildError::TenantTemplate { reason, .. }) if reason.contains("host")
            ),
            "{host}"
        );
    }
    assert!(
        Validator::builder()
            .trust(
                Issuer::tenant_template("https://{tenant}.login.test/v2.0")
                    .tenants(["acme"])
                    .audience("x")
                    .jwks_json(jwks(&[&k])),
            )
            .build()
            .is_ok()
    );
    // The builder's own policy with no issuer of its own would apply to
    // nothing: refused, naming the setting.
    assert!(matches!(
        Validator::builder()
            .require_claim_equals("type", "app")
            .trust(Issuer::new(A).audience("y").jwks_json(jwks(&[&k])))
            .build(),
        Err(BuildError::PolicyWithoutIssuer("require_claim_equals"))
    ));
    assert!(matches!(
        Validator::builder()
            .rfc9068_profile()
            .trust(Issuer::new(A).audience("y").jwks_json(jwks(&[&k])))
            .build(),
        Err(BuildError::PolicyWithoutIssuer(_))
    ));
    // RFC 9068 §4 requires `aud`: not with the client-id mode alone.
    assert!(matches!(
        Validator::builder()
            .trust(
                Issuer::new(A)
                    .allowed_client_ids(["c"])
                    .rfc9068_profile()
                    .jwks_json(jwks(&[&k]))
            )
            .build(),
        Err(BuildError::ProfileNeedsAudience)
    ));
    // Keys without any issuer to give them to.
    assert!(matches!(
        Validator::builder()
            .audience("x")
            .jwks_json(jwks(&[&k]))
            .trust(Issuer::new(A).audience("y").jwks_json(jwks(&[&k])))
            .build(),
        Err(BuildError::NoIssuer)
    ));
    assert!(matches!(
        Validator::builder()
            .trust(Issuer::new(A).audience("y"))
            .build(),
        Err(BuildError::NoKeys { .. })
    ));
}

/// The attack: tokens that invent tenants of a discovering template, a few
/// every `PENDING_TENANT_TTL` (as many as the pending places allow), each
/// used to start a key source whose fetch metrics were labelled with the
/// invented issuer URL: a new series per invented tenant, never removed.
/// Now an unverified tenant's fetches count under its template, and a
/// tenant's own series start only once one of its tokens verified.
#[test]
fn invented_tenants_add_no_metric_series_of_their_own() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Every task runs on this thread, inside the local recorder.
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let server = tenant_server().await;
            server.keys.lock().unwrap().insert("t1".into(), key("t1"));
            let (clock, template, v) = discovering(&server);
            let stranger = key("x");
            let token = |tenant: &str, signer: &TestKey| tenant_token_of(&template, tenant, signer);
            for round in 0..3 {
                for i in 0..MAX_PENDING_TENANTS {
                    let invented = format!("invented-{round}-{i}");
                    assert!(v.validate(&token(&invented, &stranger)).await.is_err());
                }
                clock.advance(PENDING_TENANT_TTL);
            }
            assert_eq!(
                server.discoveries.load(Ordering::SeqCst),
                3 * MAX_PENDING_TENANTS
            );
            let genuine = {
                let keys = server.keys.lock().unwrap();
                token("t1", &keys["t1"])
            };
            assert!(v.validate(&genuine).await.is_ok());
        });
    });
    let text = handle.render();
    let urls: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("bearer_guard_jwks"))
        .filter_map(|l| l.split("url=\"").nth(1)?.split('"').next())
        .collect();
    assert!(!urls.is_empty(), "no JWKS metrics recorded:\n{text}");
    assert!(
        urls.iter()
            .all(|u| u.ends_with("/%7Btenant%7D/v2.0") || u.ends_with("/{tenant}/v2.0")),
        "series of their own for unverified tenants: {urls:?}"
    );
    assert_eq!(urls.len(), 1, "{urls:?}");
}

/// The places of unverified tenants are timed on the monotonic clock: a
/// wall clock stepped back (NTP, a resumed VM) while made-up tenants hold
/// them does not keep them past `PENDING_TENANT_TTL` of elapsed time, and
/// a genuine new tenant gets one then.
#[tokio::test]
async fn pending_places_free_after_their_ttl_even_when_the_clock_stepped_back() {
    let server = tenant_server().await;
    server.keys.lock().unwrap().insert("t2".into(), key("t2"));
    let (clock, template, v) = discovering(&server);
    let stranger = key("x");
    for i in 0..MAX_PENDING_TENANTS {
        assert_eq!(
            v.validate(&tenant_token_of(&template, &format!("fake{i}"), &stranger))
                .await
                .unwrap_err(),
            ValidationError::KeysUnavailable
        );
    }
    clock.advance(-3600);
    clock.advance(PENDING_TENANT_TTL + 1);
    let genuine = {
        let keys = server.keys.lock().unwrap();
        issuer_named(&template.replace("{tenant}", "t2"), "api")
            .clock(clock.clone())
            .token()
            .signing_key(&keys["t2"])
            .claim("tid", "t2")
            .sign()
    };
    assert!(v.validate(&genuine).await.is_ok());
}

// ------------------------------------------------------------ settings that would do nothing

/// A tenant setting on an exact issuer, or `also` on a template, used to do
/// nothing at all; it is now refused when the validator is built.
#[test]
fn a_setting_for_the_other_kind_of_issuer_is_a_build_error() {
    let keys = jwks(&[&key("k1")]);
    let exact = |i: Issuer| {
        Validator::builder()
            .trust(i.audience("api").jwks_json(keys.clone()))
            .build()
    };
    for (issuer, setting) in [
        (
            Issuer::new("https://a.example").tenant_claim("org"),
            "tenant_claim",
        ),
        (Issuer::new("https://a.example").tenants(["t1"]), "tenants"),
        (
            Issuer::new("https://a.example").max_tenants(3),
            "max_tenants",
        ),
        (
            Issuer::tenant_template(TEMPLATE).also("https://b.example"),
            "also",
        ),
    ] {
        match exact(issuer) {
            Err(BuildError::MisplacedSetting { setting: s, .. }) => assert_eq!(s, setting),
            other => panic!("{setting}: {other:?}"),
        }
    }
    // The same settings where they belong build.
    assert!(exact(Issuer::new("https://a.example").also("https://b.example")).is_ok());
    assert!(
        exact(
            Issuer::tenant_template(TEMPLATE)
                .tenant_claim("org")
                .tenants(["t1"])
                .max_tenants(3)
        )
        .is_ok()
    );
}

/// Each tenant discovered on its own has its own key set for its cached
/// tokens: replacing tenant t1's key (same `kid`, new material) refuses
/// t1's cached token and leaves t2's; t2's set refetched unchanged keeps
/// t2's cached token.
#[tokio::test]
async fn a_tenants_withdrawn_key_refuses_only_that_tenants_cached_tokens() {
    let server = tenant_server().await;
    let (k1, k2) = (key("t1"), key("t2"));
    server.keys.lock().unwrap().insert("t1".into(), k1.clone());
    server.keys.lock().unwrap().insert("t2".into(), k2.clone());
    let (_clock, template, v) = discovering(&server);
    let t1 = tenant_token_of(&template, "t1", &k1);
    let t2 = tenant_token_of(&template, "t2", &k2);
    assert!(v.validate(&t1).await.is_ok());
    assert!(v.validate(&t2).await.is_ok());
    assert_eq!(v.token_cache_len(), Some(2));
    server.keys.lock().unwrap().insert("t1".into(), key("t1"));
    let issuer = |t: &str| template.replace("{tenant}", t);
    v.remote_keys_of(&issuer("t1"))
        .unwrap()
        .refresh()
        .await
        .unwrap();
    v.remote_keys_of(&issuer("t2"))
        .unwrap()
        .refresh()
        .await
        .unwrap();
    assert!(v.validate(&t1).await.is_err());
    assert!(v.validate(&t2).await.is_ok());
    assert_eq!(v.token_cache_len(), Some(1));
}
