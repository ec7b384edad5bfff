//! What a cache hit trusts is what a fresh validation of the same token
//! trusts: a key republished with another JWK `issuer` (Entra's per-tenant
//! keys) no longer vouches for the tokens it verified for the first.

use crate::common;

use std::time::Duration;

use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{Issuer, ValidationError, Validator, jwks::JwksOptions, keys::Algorithm};
use common::as_server::AsServer;
use serde_json::json;

const TEMPLATE: &str = "https://login.test/{tenant}/v2.0";

fn jwks_with_issuer(k: &TestKey, issuer: &str) -> String {
    let mut jwk = k.public_jwk().unwrap();
    jwk["issuer"] = json!(issuer);
    json!({ "keys": [jwk] }).to_string()
}

fn tenant_token(tenant: &str, signer: &TestKey) -> String {
    TestIssuer::with_keys(vec![signer.clone()])
        .issuer_url(TEMPLATE.replace("{tenant}", tenant))
        .default_audience("api")
        .token()
        .signing_key(signer)
        .claim("tid", tenant)
        .expires_in(3600)
        .sign()
}

async fn entra_validator(server: &AsServer, cache: u64) -> Validator {
    Validator::builder()
        .allow_insecure_http()
        .token_cache_capacity(cache)
        .trust(
            Issuer::tenant_template(TEMPLATE)
                .tenants(["t1", "t2"])
                .audience("api")
                .jwks_url(server.jwks_url())
                .jwks_options(JwksOptions::default().fetch_timeout(Duration::from_secs(2))),
        )
        .build_and_fetch()
        .await
        .unwrap()
}

/// Microsoft Entra: a key of every tenant (`issuer` with `{tenantid}`)
/// is republished, same material, as one tenant's own key. A fresh
/// validation of another tenant's token by it is refused (the key no
/// longer vouches for that tenant); the cached verification of the very
/// same token must be refused too, as a withdrawn key's is.
#[tokio::test]
async fn a_key_republished_for_another_issuer_voids_the_cached_tokens_it_no_longer_vouches_for() {
    let k = TestKey::generate(Algorithm::ES256).with_kid("k");
    let server = AsServer::start(jwks_with_issuer(&k, "https://login.test/{tenantid}/v2.0")).await;
    let cached = entra_validator(&server, 10_000).await;
    let uncached = entra_validator(&server, 0).await;
    let t2 = tenant_token("t2", &k);
    assert!(cached.validate(&t2).await.is_ok());
    assert!(uncached.validate(&t2).await.is_ok());
    assert_eq!(cached.token_cache_len(), Some(1));

    // The same key material, now t1's own key only.
    server.set_jwks(jwks_with_issuer(&k, "https://login.test/t1/v2.0"));
    cached.refresh_keys().await.unwrap();
    uncached.refresh_keys().await.unwrap();
    assert!(cached.validate(&tenant_token("t1", &k)).await.is_ok());

    assert_eq!(
        uncached.validate(&t2).await.unwrap_err(),
        ValidationError::InvalidIssuer,
        "a fresh validation refuses t2's token"
    );
    assert_eq!(
        cached.validate(&t2).await.map(|_| ()),
        Err(ValidationError::InvalidIssuer),
        "the cached verification of t2's token outlives what its key vouches for"
    );
}
