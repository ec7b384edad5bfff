//! Every provider's access token, in the exact shape its documentation
//! gives (tests/fixtures/providers.json, with each source named there;
//! docs/providers.md is the guide), is accepted with the right
//! authorization data: scopes, roles and permissions, each from where that
//! provider puts them, configured as the guide says.
//!
//! Only the times are moved to now, and the tokens are signed with a test
//! key under the fixture's `kid` and `alg` (the providers' keys are not
//! ours); header and claims are otherwise the documented ones, byte for
//! byte what serde_json prints of them.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bearer_guard::testing::TestKey;
use bearer_guard::{
    Validator, ValidatorBuilder,
    claims::RoleSource,
    keys::{Algorithm, SigningKey},
};
use serde_json::{Map, Value, json};

fn fixtures() -> Map<String, Value> {
    let text = include_str!("fixtures/providers.json");
    match serde_json::from_str(text).unwrap() {
        Value::Object(map) => map,
        _ => panic!("providers.json is an object"),
    }
}

/// One PKCS#8 key per algorithm family, generated once (RSA is slow).
fn pkcs8(alg: Algorithm) -> &'static [u8] {
    static RSA: OnceLock<Vec<u8>> = OnceLock::new();
    static EC: OnceLock<Vec<u8>> = OnceLock::new();
    let (cell, family) = match alg {
        Algorithm::ES256 => (&EC, Algorithm::ES256),
        _ => (&RSA, Algorithm::RS256),
    };
    cell.get_or_init(|| TestKey::generate(family).private_pkcs8_der().unwrap())
}

fn key_for(alg: Algorithm, kid: &str) -> TestKey {
    let pem = pem_of(pkcs8(alg));
    TestKey::from_signing_key(
        SigningKey::from_pem(pem.as_bytes(), alg)
            .unwrap()
            .with_kid(kid),
    )
}

fn pem_of(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

fn role_source(v: &Value) -> RoleSource {
    match v {
        Value::String(s) if s == "KeycloakRealm" => RoleSource::KeycloakRealm,
        Value::String(s) if s == "CognitoGroups" => RoleSource::CognitoGroups,
        Value::String(s) if s == "Zitadel" => RoleSource::Zitadel,
        Value::Object(o) => {
            let (kind, arg) = o.iter().next().unwrap();
            let arg = arg.as_str().unwrap().to_owned();
            match kind.as_str() {
                "KeycloakClient" => RoleSource::KeycloakClient(arg),
                "Claim" => RoleSource::Claim(arg),
                "Pointer" => RoleSource::Pointer(arg),
                other => panic!("unknown role source {other}"),
            }
        }
        other => panic!("unknown role source {other}"),
    }
}

/// The validator the guide configures for this provider, with the test
/// key's JWKS in place of the provider's.
fn validator(hint: &Value, jwks: String) -> Validator {
    let mut b: ValidatorBuilder = Validator::builder()
        .issuer(hint["issuer"].as_str().unwrap())
        .jwks_json(jwks);
    if let Some(aud) = hint["audience"].as_str() {
        b = b.audience(aud);
    }
    if let Some(ids) = hint.get("allowed_client_ids").and_then(Value::as_array) {
        b = b.allowed_client_ids(ids.iter().map(|i| i.as_str().unwrap()));
    }
    if let Some(Value::Object(eq)) = hint.get("require_claim_equals") {
        for (name, value) in eq {
            b = b.require_claim_equals(name, value.as_str().unwrap());
        }
    }
    for source in hint
        .get("roles_from")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        b = b.roles_from(role_source(source));
    }
    for source in hint
        .get("permissions_from")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        b = b.permissions_from(role_source(source));
    }
    if hint.get("rfc9068_profile") == Some(&json!(true)) {
        b = b.rfc9068_profile();
    }
    b.build().unwrap()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn every_documented_provider_token_is_accepted_with_its_authorization_data() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fixtures = fixtures();
    assert!(fixtures.len() >= 13, "{} providers", fixtures.len());
    let mut checked = Vec::new();
    for (name, provider) in &fixtures {
        let header = provider["header"].as_object().unwrap();
        let alg: Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("k");
        let key = key_for(alg, kid);
        let jwks = json!({ "keys": [key.public_jwk().unwrap()] }).to_string();
        let v = validator(&provider["bearer_guard"], jwks);

        let mut claims = provider["claims"].as_object().unwrap().clone();
        for (time, offset) in [("iat", 0), ("nbf", 0), ("auth_time", -5), ("exp", 600)] {
            if claims.contains_key(time) {
                claims.insert(time.into(), json!(now + offset));
            }
        }
        let input = format!(
            "{}.{}",
            B64.encode(Value::Object(header.clone()).to_string()),
            B64.encode(Value::Object(claims).to_string())
        );
        let token = format!("{input}.{}", B64.encode(key.sign(alg, input.as_bytes())));
        let got = v
            .validate(&token)
            .await
            .unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        let expect = &provider["expect"];
        let scopes: Vec<String> = {
            let mut s: Vec<String> = got.scopes().iter().map(str::to_owned).collect();
            s.sort();
            s
        };
        assert_eq!(scopes, sorted(&expect["scopes"]), "{name}: scopes");
        assert_eq!(
            got.roles().iter().map(str::to_owned).collect::<Vec<_>>(),
            sorted(&expect["roles"]),
            "{name}: roles"
        );
        assert_eq!(
            got.permissions()
                .iter()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            sorted(&expect["permissions"]),
            "{name}: permissions"
        );
        checked.push(name.clone());
    }
    eprintln!("providers checked: {checked:?}");
}
