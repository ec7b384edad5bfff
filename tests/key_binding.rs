//! A verified token never outlives the key that verified it: every entry of
//! the verified-token cache is bound to its key's material (RFC 7638
//! thumbprint) and algorithm, and a hit counts only while the current key set
//! still holds that key. Each case runs through `validate()` and through the
//! layer on a real axum server, each with its own warm cache, against a real
//! JWKS endpoint on 127.0.0.1 whose keys change under the same `kid`.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BearerLayer, BuildError, Claims, ValidationError, Validator, ValidatorBuilder,
    jwks::JwksOptions, keys::Algorithm,
};
use common::as_server::AsServer;
use reqwest::StatusCode;
use serde_json::json;

const AUDIENCE: &str = "payments";

fn key(kid: &str) -> TestKey {
    TestKey::generate(Algorithm::ES256).with_kid(kid)
}

fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.public_jwk().unwrap()).collect::<Vec<_>>() }).to_string()
}

/// A JWKS without any `kid`.
fn jwks_without_kids(keys: &[&TestKey]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|k| {
            let mut jwk = k.public_jwk().unwrap();
            jwk.as_object_mut().unwrap().remove("kid");
            jwk
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// The one issuer of these tests: it signs with whatever key a test names.
fn issuer() -> TestIssuer {
    TestIssuer::with_keys(vec![key("unused")]).default_audience(AUDIENCE)
}

fn token(issuer: &TestIssuer, key: &TestKey) -> String {
    issuer.token().signing_key(key).expires_in(3600).sign()
}

fn kidless_token(issuer: &TestIssuer, key: &TestKey) -> String {
    issuer
        .token()
        .signing_key(key)
        .without_header("kid")
        .expires_in(3600)
        .sign()
}

/// One validator called directly and one behind the layer on a real server,
/// both with the verified-token cache on (the default) and remote keys.
struct Both {
    direct: Validator,
    layered: Validator,
    url: String,
    http: reqwest::Client,
    server: AsServer,
}

impl Both {
    async fn start(issuer: &TestIssuer, published: String) -> Self {
        Self::start_with(issuer, published, |b| b).await
    }

    async fn start_with(
        issuer: &TestIssuer,
        published: String,
        extra: impl Fn(ValidatorBuilder) -> ValidatorBuilder,
    ) -> Self {
        let server = AsServer::start(published).await;
        let build = || {
            extra(
                Validator::builder()
                    .issuer(issuer.issuer())
                    .audience(AUDIENCE)
                    .allow_insecure_http()
                    .jwks_url(server.jwks_url())
                    .jwks_options(JwksOptions::default().fetch_timeout(Duration::from_secs(2))),
            )
            .build_and_fetch()
        };
        let direct = build().await.unwrap();
        let layered = build().await.unwrap();
        let app = Router::new()
            .route(
                "/me",
                get(|c: Claims| async move { c.subject().unwrap_or("").to_owned() }),
            )
            .layer(BearerLayer::new(layered.clone()));
        let addr = common::serve(app).await;
        Both {
            direct,
            layered,
            url: format!("http://{addr}/me"),
            http: reqwest::Client::new(),
            server,
        }
    }

    /// The outcome of `validate()` and the layer's HTTP status.
    async fn check(&self, token: &str) -> (Result<(), ValidationError>, StatusCode) {
        let direct = self.direct.validate(token).await.map(|_| ());
        let status = self
            .http
            .get(&self.url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status();
        (direct, status)
    }

    async fn accepted(&self, token: &str) {
        assert_eq!(self.check(token).await, (Ok(()), StatusCode::OK));
    }

    async fn refused(&self, token: &str, error: ValidationError) {
        assert_eq!(
            self.check(token).await,
            (Err(error), StatusCode::UNAUTHORIZED)
        );
    }

    /// Publishes `jwks` and waits until both validators have fetched it.
    async fn publish(&self, jwks: String) {
        self.server.set_jwks(jwks);
        self.direct.refresh_keys().await.unwrap();
        self.layered.refresh_keys().await.unwrap();
    }

    fn cached(&self) -> (Option<u64>, Option<u64>) {
        (
            self.direct.token_cache_len(),
            self.layered.token_cache_len(),
        )
    }
}

/// The defect this file exists for: the authorization server replaces its
/// key but keeps the `kid` (`"1"`, `"default"`...). A token the old key
/// signed, cached as verified, must be refused once the new set is in use.
#[tokio::test]
async fn a_key_replaced_under_the_same_kid_voids_the_tokens_it_verified() {
    let issuer = issuer();
    let (old, new) = (key("1"), key("1"));
    let both = Both::start(&issuer, jwks(&[&old])).await;
    let by_old = token(&issuer, &old);
    both.accepted(&by_old).await;
    both.accepted(&by_old).await;
    assert_eq!(both.cached(), (Some(1), Some(1)));

    both.publish(jwks(&[&new])).await;
    both.refused(&by_old, ValidationError::InvalidSignature)
        .await;
    both.accepted(&token(&issuer, &new)).await;
}

/// Keys published without `kid`: a token without `kid` is verified by the
/// only key for its algorithm; once that key is replaced, the token cached
/// as verified is refused.
#[tokio::test]
async fn a_replaced_kidless_key_voids_the_tokens_it_verified() {
    let issuer = issuer();
    let (old, new) = (key("x"), key("x"));
    let both = Both::start(&issuer, jwks_without_kids(&[&old])).await;
    let by_old = kidless_token(&issuer, &old);
    both.accepted(&by_old).await;
    both.accepted(&by_old).await;

    both.publish(jwks_without_kids(&[&new])).await;
    both.refused(&by_old, ValidationError::InvalidSignature)
        .await;
    both.accepted(&kidless_token(&issuer, &new)).await;
}

/// Two keys share a `kid` (a rotation in progress); removing one voids the
/// tokens it verified and only those: the other key's tokens stay cached.
#[tokio::test]
async fn removing_one_of_two_keys_sharing_a_kid_voids_only_its_tokens() {
    let issuer = issuer();
    let (a, b) = (key("shared"), key("shared"));
    let both = Both::start(&issuer, jwks(&[&a, &b])).await;
    let (by_a, by_b) = (token(&issuer, &a), token(&issuer, &b));
    for t in [&by_a, &by_b, &by_a, &by_b] {
        both.accepted(t).await;
    }
    assert_eq!(both.cached(), (Some(2), Some(2)));

    both.publish(jwks(&[&b])).await;
    both.refused(&by_a, ValidationError::InvalidSignature).await;
    both.accepted(&by_b).await;
}

/// A configured (static) key and a remote key share a `kid`; the remote one
/// is replaced under that `kid`. Its tokens are refused; the static key's
/// tokens keep verifying.
#[tokio::test]
async fn a_remote_key_sharing_a_kid_with_a_static_key_is_replaced() {
    let issuer = issuer();
    let (fixed, remote, replacement) = (key("k"), key("k"), key("k"));
    let static_jwks = jwks(&[&fixed]);
    let both = Both::start_with(&issuer, jwks(&[&remote]), |b| {
        b.jwks_json(static_jwks.clone())
    })
    .await;
    let (by_fixed, by_remote) = (token(&issuer, &fixed), token(&issuer, &remote));
    for t in [&by_fixed, &by_remote, &by_fixed, &by_remote] {
        both.accepted(t).await;
    }

    both.publish(jwks(&[&replacement])).await;
    both.refused(&by_remote, ValidationError::InvalidSignature)
        .await;
    both.accepted(&by_fixed).await;
    both.accepted(&token(&issuer, &replacement)).await;
}

/// The binding is to the key material, not to its name: a key renamed at
/// the server (same material, new `kid`) still backs the tokens it verified,
/// and a fresh token naming the old `kid` is refused as unknown.
#[tokio::test]
async fn a_key_renamed_at_the_server_keeps_its_cached_tokens() {
    let issuer = issuer();
    let a = key("old-name");
    let both = Both::start(&issuer, jwks(&[&a])).await;
    let cached = token(&issuer, &a);
    both.accepted(&cached).await;

    let mut renamed = a.public_jwk().unwrap();
    renamed["kid"] = json!("new-name");
    both.publish(json!({ "keys": [renamed] }).to_string()).await;
    both.accepted(&cached).await;
    both.refused(&token(&issuer, &a), ValidationError::UnknownKeyId)
        .await;
}

// ----------------------------------------------------- keys belong to an issuer

/// RFC 8725 §3.8: with two issuers and one pool of keys, a token naming
/// issuer A would verify with issuer B's key. Until each issuer has its own
/// key source, such a validator is refused at build time, with an error that
/// says why and what to do.
#[tokio::test]
async fn several_issuers_with_one_key_set_are_refused_at_build() {
    let a = key("a");
    let base = || {
        Validator::builder()
            .issuer("https://a.example")
            .issuer("https://b.example")
            .audience(AUDIENCE)
    };
    let err = base().jwks_json(jwks(&[&a])).build().unwrap_err();
    assert!(matches!(err, BuildError::IssuersShareKeys { issuers: 2 }));
    assert!(err.to_string().contains("RFC 8725"), "{err}");
    assert!(err.to_string().contains("issuers_share_keys"), "{err}");
    let err = base()
        .allow_insecure_http()
        .jwks_url("http://127.0.0.1:9/jwks")
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::IssuersShareKeys { issuers: 2 }));
}

/// The same issuer named twice is one issuer, not two sharing keys.
#[tokio::test]
async fn an_issuer_named_twice_is_one_issuer() {
    let a = key("a");
    let issuer = issuer();
    let v = Validator::builder()
        .issuer(issuer.issuer())
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .jwks_json(jwks(&[&a]))
        .build()
        .unwrap();
    assert!(v.validate(&token(&issuer, &a)).await.is_ok());
}

/// The explicit relaxation: names of one authorization server (Microsoft
/// Entra's v1 and v2 issuers, a custom domain) sharing its keys.
#[tokio::test]
async fn issuer_aliases_of_one_server_share_its_keys_when_declared() {
    let a = key("a");
    let v = Validator::builder()
        .issuer("https://sts.windows.net/tenant/")
        .issuer("https://login.microsoftonline.com/tenant/v2.0")
        .issuers_share_keys()
        .audience(AUDIENCE)
        .jwks_json(jwks(&[&a]))
        .build()
        .unwrap();
    for name in [
        "https://sts.windows.net/tenant/",
        "https://login.microsoftonline.com/tenant/v2.0",
    ] {
        let issuer = TestIssuer::with_keys(vec![key("unused")])
            .issuer_url(name)
            .default_audience(AUDIENCE);
        let claims = v.validate(&token(&issuer, &a)).await.unwrap();
        assert_eq!(claims.issuer(), Some(name));
    }
}
