//! Every rule the user configures, on every path that yields `Claims`: a
//! JWT, its verified-token cache hit, a tenant of a template, a DPoP-bound
//! token, an introspection answer from the endpoint, from the in-process
//! cache, and from the fleet's Redis (written by a replica configured
//! without the rule). The rule table is in `bearer_guard::guide::policy`;
//! a setting of the builders that has neither a row there and a case here
//! nor a reason to have none fails `every_setting_is_a_rule_walked_here_or_says_why_not`.

use crate::common;

use std::collections::BTreeSet;

use bearer_guard::testing::{DpopKey, TestIssuer, TestKey};
use bearer_guard::{
    Issuer, ValidationError, Validator, ValidatorBuilder,
    claims::RoleSource,
    dpop::DpopOptions,
    introspection::{ClientAuth, Introspection},
    jwt::TypPolicy,
    keys::Algorithm,
    redis::RedisStore,
};
use common::as_server::{AsServer, CLIENT_ID, CLIENT_SECRET, T0};
use common::redis_server::RedisServer;
use serde_json::{Value, json};

const ISS: &str = "https://as.example.com/";
const TEMPLATE: &str = "https://login.example.com/{tenant}/v2.0";
const AUD: &str = "payments";

/// One rule, a token (or answer) that breaks it, and the refusal expected
/// on every path the rule applies to.
struct Case {
    /// The settings this case exercises (names of builder methods).
    settings: &'static [&'static str],
    /// The rule, on an issuer (exact or template).
    issuer: fn(Issuer) -> Issuer,
    /// The rule, on the validator (validator-wide settings).
    builder: fn(ValidatorBuilder) -> ValidatorBuilder,
    /// Changes to a good token's claims (`null` removes a claim).
    patch: fn() -> Value,
    /// Changes to a good token's header.
    header: fn() -> Value,
    expected: ValidationError,
    /// Whether the rule applies to introspection answers (header rules
    /// have nothing to apply to there: the table says so).
    introspection: bool,
}

fn same_issuer(i: Issuer) -> Issuer {
    i
}

fn same_builder(b: ValidatorBuilder) -> ValidatorBuilder {
    b
}

fn no_change() -> Value {
    json!({})
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            settings: &["issuer", "trust"],
            issuer: same_issuer,
            builder: same_builder,
            patch: || json!({"iss": "https://other.example.com/"}),
            header: no_change,
            expected: ValidationError::InvalidIssuer,
            introspection: true,
        },
        Case {
            settings: &["audience"],
            issuer: same_issuer,
            builder: same_builder,
            patch: || json!({"aud": "orders"}),
            header: no_change,
            expected: ValidationError::InvalidAudience,
            introspection: true,
        },
        Case {
            settings: &["audience"],
            issuer: same_issuer,
            builder: same_builder,
            patch: || json!({"aud": null}),
            header: no_change,
            expected: ValidationError::MissingClaim("aud".into()),
            introspection: true,
        },
        Case {
            settings: &["allowed_client_ids"],
            issuer: |i| i.allowed_client_ids(["web-app"]),
            builder: same_builder,
            patch: || json!({"client_id": "evil"}),
            header: no_change,
            expected: ValidationError::InvalidAudience,
            introspection: true,
        },
        Case {
            settings: &["require_claim"],
            issuer: |i| i.require_claim("tenant"),
            builder: same_builder,
            patch: || json!({"tenant": null}),
            header: no_change,
            expected: ValidationError::MissingClaim("tenant".into()),
            introspection: true,
        },
        Case {
            settings: &["rfc9068_profile"],
            issuer: Issuer::rfc9068_profile,
            builder: same_builder,
            patch: || json!({"jti": null}),
            header: no_change,
            expected: ValidationError::MissingClaim("jti".into()),
            introspection: true,
        },
        Case {
            settings: &["require_claim_equals"],
            issuer: |i| i.require_claim_equals("token_use", "access"),
            builder: same_builder,
            patch: || json!({"token_use": "id"}),
            header: no_change,
            expected: ValidationError::UnexpectedClaimValue("token_use".into()),
            introspection: true,
        },
        Case {
            settings: &["require_claim_equals"],
            issuer: |i| i.require_claim_equals("token_use", "access"),
            builder: same_builder,
            patch: || json!({"token_use": null}),
            header: no_change,
            expected: ValidationError::MissingClaim("token_use".into()),
            introspection: true,
        },
        Case {
            settings: &["leeway", "clock"],
            issuer: same_issuer,
            builder: |b| b.leeway(std::time::Duration::ZERO),
            patch: || json!({"exp": T0 - 1}),
            header: no_change,
            expected: ValidationError::Expired,
            introspection: true,
        },
        Case {
            settings: &["roles_from"],
            issuer: |i| i.roles_from(RoleSource::Claim("roles".into())),
            builder: same_builder,
            patch: || json!({"roles": 5}),
            header: no_change,
            expected: ValidationError::InvalidClaim("roles"),
            introspection: true,
        },
        Case {
            settings: &["permissions_from"],
            issuer: |i| i.permissions_from(RoleSource::Claim("permissions".into())),
            builder: same_builder,
            patch: || json!({"permissions": {"a": 1}}),
            header: no_change,
            expected: ValidationError::InvalidClaim("permissions"),
            introspection: true,
        },
        Case {
            settings: &["dpop"],
            issuer: same_issuer,
            builder: |b| b.dpop(DpopOptions::new()),
            // Bound to a key, presented without its proof.
            patch: || json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}),
            header: no_change,
            expected: ValidationError::SenderConstrained,
            introspection: true,
        },
        Case {
            settings: &["typ_policy"],
            issuer: |i| i.typ_policy(TypPolicy::Rfc9068),
            builder: same_builder,
            patch: no_change,
            header: || json!({"typ": "JWT"}),
            expected: ValidationError::TypeNotAllowed,
            introspection: false,
        },
        Case {
            settings: &["algorithms"],
            issuer: |i| i.algorithms([Algorithm::ES384]),
            builder: same_builder,
            patch: no_change,
            header: no_change,
            expected: ValidationError::AlgorithmNotAllowed(Algorithm::ES256),
            introspection: false,
        },
    ]
}

/// A good token's claims at `iss`, for tenant `tid`.
fn good_claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "aud": AUD,
        "sub": "alice",
        "client_id": "web-app",
        "tid": "acme",
        "tenant": "acme",
        "token_use": "access",
        "jti": "j-1",
        "iat": T0,
        "exp": T0 + 3600,
        "roles": ["ops"],
        "permissions": ["orders:read"],
    })
}

fn patched(base: Value, patch: &Value) -> Value {
    let mut out = base;
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            out.as_object_mut().unwrap().remove(k);
        } else {
            out[k] = v.clone();
        }
    }
    out
}

/// A token for `claims`, signed by `issuer`'s key, with `header` changes.
fn token(issuer: &TestIssuer, claims: &Value, header: &Value) -> String {
    let mut t = issuer.token();
    for name in ["iss", "aud", "exp", "iat", "sub", "jti", "client_id"] {
        t = t.without_claim(name);
    }
    for (k, v) in claims.as_object().unwrap() {
        t = t.claim(k, v.clone());
    }
    for (k, v) in header.as_object().unwrap() {
        t = t.header(k, v.clone());
    }
    t.sign()
}

#[tokio::test]
async fn every_rule_holds_on_every_path() {
    let clock = bearer_guard::testing::ManualClock::new(T0);
    // Tokens are signed with the first key; the second lets a validator
    // that allows ES384 only be built.
    let keys = TestIssuer::with_keys(vec![
        TestKey::generate(Algorithm::ES256).with_kid("k"),
        TestKey::generate(Algorithm::ES384).with_kid("k384"),
    ])
    .clock(clock.clone());
    let jwks = keys.jwks_json();
    let server = AsServer::start(jwks.clone()).await;
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url()).unwrap();
    let tenant_iss = TEMPLATE.replace("{tenant}", "acme");

    let exact = |case: &Case| {
        (case.builder)(Validator::builder().clock(clock.clone())).trust((case.issuer)(
            Issuer::new(ISS).audience(AUD).jwks_json(jwks.clone()),
        ))
    };
    let introspecting = |rule: Option<&Case>, lenient: bool| {
        let mut issuer = Issuer::new(ISS).audience(AUD).jwks_json(jwks.clone());
        let mut builder = Validator::builder().clock(clock.clone());
        if let Some(case) = rule {
            issuer = (case.issuer)(issuer);
            builder = (case.builder)(builder);
        }
        let mut introspection = Introspection::at(
            server.introspection_url(),
            ClientAuth::basic(CLIENT_ID, CLIENT_SECRET),
        );
        if lenient {
            introspection = introspection.may_omit("aud");
        }
        builder
            .trust(issuer)
            .allow_insecure_http()
            .introspection(introspection)
            .shared_store(store.clone())
            .build()
            .unwrap()
    };

    for (n, case) in cases().iter().enumerate() {
        let what = format!("case {n} ({:?})", case.settings);
        let bad = patched(good_claims(ISS), &(case.patch)());

        // A JWT of an exact issuer, then its cache hit.
        let v = exact(case).build().unwrap();
        let good = if case.settings.contains(&"algorithms") {
            // Good for that validator: ES384.
            let mut t = keys.token().signing_key(&keys.keys()[1]);
            for (k, v) in good_claims(ISS).as_object().unwrap() {
                t = t.claim(k, v.clone());
            }
            t.sign()
        } else {
            token(&keys, &good_claims(ISS), &json!({}))
        };
        assert!(v.validate(&good).await.is_ok(), "{what}: a good token");
        let t = token(&keys, &bad, &(case.header)());
        for attempt in ["JWT", "JWT again (a cache hit if any)"] {
            assert_eq!(
                v.validate(&t).await.unwrap_err(),
                case.expected,
                "{what}: {attempt}"
            );
        }

        // A tenant of a template.
        let v = (case.builder)(Validator::builder().clock(clock.clone()))
            .trust((case.issuer)(
                Issuer::tenant_template(TEMPLATE)
                    .tenants(["acme"])
                    .audience(AUD)
                    .jwks_json(jwks.clone()),
            ))
            .build()
            .unwrap();
        let tenant_bad = patched(
            bad.clone(),
            &json!({"iss": if bad["iss"] == ISS { tenant_iss.clone() } else { "https://login.example.com/evil/v2.0".into() }}),
        );
        let t = token(&keys, &tenant_bad, &(case.header)());
        let expected = match case.expected {
            // Another iss fits no template: refused as an unknown issuer.
            ValidationError::InvalidIssuer => ValidationError::InvalidIssuer,
            ref e => e.clone(),
        };
        assert_eq!(
            v.validate(&t).await.unwrap_err(),
            expected,
            "{what}: tenant"
        );

        // A DPoP-bound token with its proof.
        let v = exact(case).dpop(DpopOptions::new()).build().unwrap();
        let client = DpopKey::generate(Algorithm::ES256);
        let mut bound = bad.clone();
        bound["cnf"] = json!({"jkt": client.thumbprint()});
        let t = token(&keys, &bound, &(case.header)());
        let uri = "https://api.example.com/charge";
        let proof = client.proof("POST", uri, &t).issued_at(clock.now()).sign();
        let result = v.validate_dpop(&t, &proof, "POST", uri).await.map(drop);
        match case.expected {
            // The proof binds the token now: nothing else was wrong.
            ValidationError::SenderConstrained => assert_eq!(result, Ok(()), "{what}"),
            ref e => assert_eq!(result, Err(e.clone()), "{what}: DPoP-bound"),
        }

        if !case.introspection {
            continue;
        }
        // An introspection answer: live, then from the in-process cache.
        let opaque = format!("opaque-{n}");
        let mut answer = bad.clone();
        answer["active"] = json!(true);
        server.answer(&opaque, answer);
        let strict = introspecting(Some(case), false);
        for attempt in ["introspection", "introspection (cached)"] {
            assert_eq!(
                strict.validate(&opaque).await.unwrap_err(),
                case.expected,
                "{what}: {attempt}"
            );
        }
        // From Redis, written by a replica configured without the rule (and
        // lenient about `aud`): this replica reads it with its own rules,
        // without calling the endpoint.
        let shared = format!("shared-{n}");
        let mut answer = bad.clone();
        answer["active"] = json!(true);
        server.answer(&shared, answer);
        let lenient = introspecting(None, true);
        let _ = lenient.validate(&shared).await;
        let calls = server.intro_calls();
        let strict = introspecting(Some(case), false);
        assert_eq!(
            strict.validate(&shared).await.unwrap_err(),
            case.expected,
            "{what}: introspection from Redis"
        );
        // (An answer already past its `exp` is never shared: asked again.)
        if bad["exp"].as_i64().is_some_and(|exp| exp > T0) {
            assert_eq!(
                server.intro_calls(),
                calls,
                "{what}: read from Redis, not asked again"
            );
        }
    }
}

/// The builder methods of the settings that make a validator refuse or
/// accept tokens, read from the source.
fn settings() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (file, impls) in [
        ("src/validator/builder.rs", &["impl ValidatorBuilder"][..]),
        ("src/validator/issuer.rs", &["impl Issuer"][..]),
        ("src/introspection/mod.rs", &["impl Introspection "][..]),
        ("src/dpop/mod.rs", &["impl DpopOptions"][..]),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        let mut inside = false;
        for line in text.lines() {
            if impls.iter().any(|i| line.starts_with(i)) {
                inside = true;
            } else if line.starts_with('}') {
                inside = false;
            } else if inside && let Some(rest) = line.trim_start().strip_prefix("pub fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            } else if inside && let Some(rest) = line.trim_start().strip_prefix("pub async fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    names
}

/// Settings that are not rules about which tokens are accepted, with why.
const NOT_RULES: &[(&str, &str)] = &[
    ("new", "a constructor"),
    ("builder", "a constructor"),
    ("at", "a constructor: the endpoint"),
    ("discovered", "a constructor: the endpoint from metadata"),
    ("build", "builds; its errors are the configuration's"),
    ("build_and_fetch", "builds and fetches the keys"),
    ("jwks_json", "a key source: which keys, not which tokens"),
    ("jwks_file", "a key source"),
    ("pem_public_key", "a key source"),
    (
        "hmac_secret",
        "a key source (its algorithm joins `algorithms`)",
    ),
    ("key_set", "a key source"),
    ("jwks_url", "a key source"),
    ("discover", "a key source"),
    ("jwks_options", "how keys are fetched and kept"),
    (
        "issuers_share_keys",
        "declares that names share keys (a build check)",
    ),
    (
        "allow_insecure_http",
        "transport to the authorization server",
    ),
    ("http_client", "transport to the authorization server"),
    ("shared_store", "a path (Redis), walked for every rule"),
    ("introspection", "a path, walked for every rule"),
    ("policy", "which path a token takes, walked for every rule"),
    ("options", "the introspection calls and cache"),
    (
        "token_cache_capacity",
        "the cache-hit path, walked for every rule",
    ),
    ("max_token_size", "a bound on input, before any rule"),
    ("accepted_algorithms", "a getter"),
    ("is_required", "a getter"),
    (
        "max_age",
        "DPoP proof checks (tests/dpop.rs), on every path of a bound token",
    ),
    (
        "leeway",
        "validator leeway: walked; DPoP proof leeway: tests/dpop.rs",
    ),
    ("replay_capacity", "the DPoP replay cache's bound"),
    ("max_proof_size", "a bound on input"),
    ("require_nonce", "DPoP proof checks (tests/dpop.rs)"),
    ("nonce_secret", "DPoP proof checks (tests/dpop.rs)"),
    ("nonce_lifetime", "DPoP proof checks (tests/dpop.rs)"),
    (
        "required",
        "DPoP only: Bearer refused at the layer (tests/dpop.rs)",
    ),
    ("tenant_template", "a template: walked for every rule"),
    (
        "tenant_claim",
        "which claim names the tenant: tests/issuers.rs",
    ),
    (
        "tenants",
        "the allow-list of tenants: walked for every rule",
    ),
    ("max_tenants", "the cap on tenants: tests/issuers.rs"),
    ("also", "another name of an exact issuer: tests/issuers.rs"),
    (
        "may_omit",
        "introspection's exception to the rules: tests/introspection.rs",
    ),
];

#[test]
fn every_setting_is_a_rule_walked_here_or_says_why_not() {
    let walked: BTreeSet<&str> = cases()
        .iter()
        .flat_map(|c| c.settings.iter().copied())
        .collect();
    let excused: BTreeSet<&str> = NOT_RULES.iter().map(|(n, _)| *n).collect();
    let settings = settings();
    assert!(
        settings.len() > 30,
        "the settings were not found: {settings:?}"
    );
    let missing: Vec<&String> = settings
        .iter()
        .filter(|s| !walked.contains(s.as_str()) && !excused.contains(s.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "settings with neither a case in tests/policy.rs nor a reason in NOT_RULES: {missing:?}"
    );
    // And each walked rule has its row in the documented table.
    let guide = std::fs::read_to_string("src/guide.rs").unwrap();
    let table = guide
        .split("pub mod policy")
        .nth(1)
        .expect("the policy guide");
    for setting in &walked {
        assert!(
            table.contains(&format!("`{setting}`")),
            "`{setting}` has no row in guide::policy's table"
        );
    }
}
