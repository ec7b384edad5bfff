//! `config::Config`: a validator and its layer from a TOML, JSON or YAML document
//! or from environment variables (read through a lookup, never by changing
//! the process environment), with errors that name the field at fault and
//! secrets that never show in `Debug`.
#![cfg(feature = "config")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::config::{
    Config, ConfigError, IssuerProblem, MAX_SECRET_FILE_SIZE, MAX_TENANTS_LIMIT, Secret,
    SecretError,
};
use bearer_guard::jwt::TypPolicy;
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{BuildError, Claims, ValidationError, keys::Algorithm};
use http::{Request, StatusCode};
use tower::ServiceExt as _;

/// A TOML document trusting `issuer` (its JWKS inline) for `payments`,
/// followed by `extra`.
fn toml_for(issuer: &TestIssuer, extra: &str) -> String {
    format!(
        r#"
        leeway_seconds = 30
        token_cache_capacity = 100

        [[issuers]]
        issuer = "{iss}"
        audiences = ["payments"]
        jwks = '{jwks}'
        roles_from = ["keycloak-realm", "claim:groups"]
        {extra}
        "#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_json(),
    )
}

fn parse(text: &str) -> Config {
    toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// A file under the temporary directory, unique to this test run.
fn temp_file(name: &str, content: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "bearer-guard-config-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, content).unwrap();
    path
}

#[tokio::test]
async fn a_toml_config_accepts_its_issuers_token_and_refuses_another_audience() {
    let issuer = TestIssuer::new().default_audience("payments");
    let validator = parse(&toml_for(&issuer, "")).validator().unwrap();

    let token = issuer
        .token()
        .claim("realm_access", serde_json::json!({"roles": ["admin"]}))
        .claim("groups", serde_json::json!(["ops"]))
        .sign();
    let claims = validator.validate(&token).await.unwrap();
    let roles: Vec<&str> = claims.roles().iter().collect();
    assert_eq!(roles, ["admin", "ops"]);

    let other = issuer.token().audience("billing").sign();
    assert_eq!(
        validator.validate(&other).await.unwrap_err(),
        ValidationError::InvalidAudience
    );
}

#[tokio::test]
async fn a_json_config_builds_the_same_validator() {
    let issuer = TestIssuer::new().default_audience("payments");
    let json = serde_json::json!({
        "leeway_seconds": 30,
        "issuers": [{
            "issuer": issuer.issuer(),
            "audiences": "payments",
            // A JWKS given as a document rather than as JSON text.
            "jwks": issuer.jwks(),
            "algorithms": ["RS256"],
            "require_claims": ["sub"],
        }],
        "layer": { "realm": "payments" },
    });
    let config: Config = serde_json::from_value(json).unwrap();
    let validator = config.validator().unwrap();
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(
        validator
            .validate(&issuer.token().without_claim("sub").sign())
            .await
            .unwrap_err(),
        ValidationError::MissingClaim("sub".into())
    );
    assert_eq!(
        validator
            .validate(&issuer.token().audience("billing").sign())
            .await
            .unwrap_err(),
        ValidationError::InvalidAudience
    );
}

/// YAML, as a Kubernetes ConfigMap holds it: the same document model, an
/// HMAC secret from the environment, a PEM key from a file.
#[tokio::test]
async fn a_yaml_config_builds_the_validator() {
    let issuer = TestIssuer::new().default_audience("payments");
    let secret = "a-shared-secret-of-at-least-32-bytes-for-hs256";
    let hs = TestIssuer::with_keys(vec![TestKey::hmac(secret.as_bytes(), Algorithm::HS256)])
        .issuer_url("https://internal.example")
        .default_audience("payments");
    let pem = temp_file("key.pem", &issuer.keys()[0].public_pem().unwrap());
    let yaml = format!(
        r#"
leeway_seconds: 30
issuers:
  - issuer: "{iss}"
    audiences: [payments]
    pem_file: "{pem}"
    require_claims: [sub]
  - issuer: https://internal.example
    audiences: payments
    hmac:
      secret: {{ env: PAYMENTS_HMAC }}
      algorithm: HS256
layer:
  realm: payments
"#,
        iss = issuer.issuer(),
        pem = pem.display(),
    );
    let config: Config = serde_yaml_ng::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let validator = config
        .validator_with_env(|name| (name == "PAYMENTS_HMAC").then(|| secret.to_owned()))
        .unwrap();
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    assert!(validator.validate(&hs.token().sign()).await.is_ok());
    assert_eq!(
        validator
            .validate(&issuer.token().without_claim("sub").sign())
            .await
            .unwrap_err(),
        ValidationError::MissingClaim("sub".into())
    );
    // Unknown fields are refused in YAML too.
    let err = serde_yaml_ng::from_str::<Config>(&yaml.replace("leeway_seconds", "leway_seconds"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `leway_seconds`"), "{err}");
    let _ = std::fs::remove_file(pem);
}

#[test]
fn an_unknown_field_is_an_error_naming_it() {
    let issuer = TestIssuer::new();
    let top = toml::from_str::<Config>(&format!("leway_seconds = 5\n{}", toml_for(&issuer, "")))
        .unwrap_err()
        .to_string();
    assert!(top.contains("unknown field `leway_seconds`"), "{top}");

    let nested = toml::from_str::<Config>(&toml_for(&issuer, r#"audience_list = ["x"]"#))
        .unwrap_err()
        .to_string();
    assert!(nested.contains("unknown field `audience_list`"), "{nested}");

    let layer = toml::from_str::<Config>(&format!(
        "{}\n[layer]\nrelm = \"x\"\n",
        toml_for(&issuer, "")
    ))
    .unwrap_err()
    .to_string();
    assert!(layer.contains("unknown field `relm`"), "{layer}");

    let json = serde_json::from_str::<Config>(r#"{"issuers": [], "dpop": {"enable": true}}"#)
        .unwrap_err()
        .to_string();
    assert!(json.contains("unknown field `enable`"), "{json}");
}

#[test]
fn two_key_sources_are_an_error_naming_the_issuer_and_both_sources() {
    let issuer = TestIssuer::new();
    let text = format!(
        r#"{}
        [[issuers]]
        issuer = "https://x"
        audiences = "api"
        jwks_url = "https://x/jwks"
        discover = true
        "#,
        toml_for(&issuer, "")
    );
    let err = parse(&text).validator().unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::Issuer { index: 2, name, problem: IssuerProblem::KeySources(s) }
                if name == "https://x" && s == &["jwks_url", "discover"]
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "issuer 2 (https://x): two key sources: jwks_url and discover (give exactly one)"
    );
}

#[test]
fn an_issuer_without_a_key_source_or_an_audience_is_an_error() {
    let none = parse(
        r#"
        [[issuers]]
        issuer = "https://x"
        audiences = "api"
        "#,
    );
    let err = none.validator().unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Issuer {
                index: 1,
                problem: IssuerProblem::NoKeySource,
                ..
            }
        ),
        "{err:?}"
    );

    let issuer = TestIssuer::new();
    let no_audience = parse(&toml_for(&issuer, "").replace(r#"audiences = ["payments"]"#, ""));
    let err = no_audience.validator().unwrap_err();
    assert!(err.to_string().contains("needs `audiences`"), "{err}");

    let err = Config::default().validator().unwrap_err();
    assert!(matches!(err, ConfigError::NoIssuer), "{err:?}");
}

#[test]
fn fields_that_need_or_exclude_others_are_named() {
    let issuer = TestIssuer::new();
    let cases = [
        ("tenants = [\"a\"]", "`tenants` needs `tenant_template`"),
        ("typ = \"default\"\nrfc9068 = true", "`typ` and `rfc9068`"),
        ("pem_kid = \"k\"", "`pem_kid` needs `pem_file`"),
        (
            "[issuers.jwks_cache]\nmax_stale_seconds = 5",
            "`jwks_cache` needs `jwks_url or discover`",
        ),
    ];
    for (extra, message) in cases {
        let err = parse(&toml_for(&issuer, extra)).validator().unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with("issuer 1 (https://issuer.test): ") && shown.contains(message),
            "{extra}: {shown}"
        );
    }
}

#[test]
fn bad_values_are_refused_when_parsed_with_what_was_expected() {
    let issuer = TestIssuer::new();
    for (extra, expected) in [
        (r#"algorithms = ["rs256"]"#, "unknown algorithm \"rs256\""),
        (
            r#"permissions_from = ["keycloak"]"#,
            "unknown role source \"keycloak\"",
        ),
        (r#"typ = "jwt""#, "unknown typ policy \"jwt\""),
        (
            r#"hmac = { secret = { environment = "X" } }"#,
            "unknown field `environment`",
        ),
    ] {
        let err = toml::from_str::<Config>(&toml_for(&issuer, extra))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{extra}: {err}");
    }
}

#[tokio::test]
async fn an_hmac_secret_comes_from_the_env_lookup() {
    let secret = "a shared secret of at least 32 bytes!";
    let issuer = TestIssuer::new().default_audience("payments");
    let config = parse(
        r#"
        [[issuers]]
        issuer = "https://issuer.test"
        audiences = "payments"
        hmac = { secret = { env = "PAYMENTS_HMAC" }, algorithm = "HS256" }
        "#,
    );
    let env = |name: &str| (name == "PAYMENTS_HMAC").then(|| secret.to_owned());
    let validator = config.validator_with_env(env).unwrap();
    let token = issuer.token().sign_hmac(secret.as_bytes());
    assert!(validator.validate(&token).await.is_ok());

    let err = config.validator_with_env(no_env).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::Issuer {
                problem: IssuerProblem::Secret { field: "hmac.secret", problem: SecretError::EnvNotSet(var) },
                ..
            } if var == "PAYMENTS_HMAC"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "issuer 1 (https://issuer.test): hmac.secret: the environment variable PAYMENTS_HMAC is not set"
    );
}

#[tokio::test]
async fn a_secret_comes_from_a_file_without_its_trailing_newline() {
    let secret = "another shared secret, 32 bytes+";
    let path = temp_file("hmac", &format!("{secret}\n"));
    let issuer = TestIssuer::new().default_audience("payments");
    let config = parse(&format!(
        r#"
        [[issuers]]
        issuer = "https://issuer.test"
        audiences = "payments"
        hmac = {{ secret = {{ file = '{}' }} }}
        "#,
        path.display()
    ));
    let validator = config.validator().unwrap();
    assert!(
        validator
            .validate(&issuer.token().sign_hmac(secret.as_bytes()))
            .await
            .is_ok()
    );
    assert_eq!(
        Secret::File(path.clone()).resolve().unwrap(),
        secret,
        "the trailing newline is not part of the secret"
    );
    std::fs::remove_file(&path).unwrap();

    let err = config.validator().unwrap_err().to_string();
    assert!(
        err.contains("hmac.secret: cannot read") && err.contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn secrets_are_a_string_an_env_table_or_a_file_table() {
    let read = |json: &str| serde_json::from_str::<Secret>(json);
    assert_eq!(read(r#""s""#).unwrap(), Secret::Value("s".into()));
    assert_eq!(read(r#"{"env": "V"}"#).unwrap(), Secret::Env("V".into()));
    assert_eq!(
        read(r#"{"file": "/run/secrets/s"}"#).unwrap(),
        Secret::File("/run/secrets/s".into())
    );
    assert!(read(r#"{"env": "V", "file": "/f"}"#).is_err());
    assert!(read("{}").is_err());
    assert!(read("42").is_err());
    assert!(matches!(
        Secret::Env("V".into()).resolve_with(|_| Some(String::new())),
        Err(SecretError::Empty)
    ));
}

/// The secrets of `config` below, none of which may show in a `Debug`.
const SHOWN_NEVER: [&str; 3] = [
    "hmac-secret-value",
    "client-secret-value",
    "dpop-nonce-secret-value",
];

#[test]
fn debug_of_the_config_its_secrets_and_its_builder_never_shows_a_secret() {
    let config = parse(
        r#"
        [[issuers]]
        issuer = "https://issuer.test"
        audiences = "payments"
        hmac = { secret = "hmac-secret-value-0123456789abcdef" }

        [introspection]
        endpoint = "https://issuer.test/introspect"
        client_id = "payments"
        client_secret = "client-secret-value"

        [dpop]
        nonce_secret = "dpop-nonce-secret-value"
        "#,
    );
    let absent = |what: &str, shown: &str| {
        for secret in SHOWN_NEVER {
            assert!(!shown.contains(secret), "{what}: {secret} in {shown}");
        }
    };

    // The document itself holds the secrets.
    let shown = format!("{config:?} {config:#?}");
    absent("Config", &shown);
    assert!(shown.contains("<redacted>"), "{shown}");
    let hmac = config.issuers[0].hmac.as_ref().unwrap();
    absent("Secret", &format!("{:?} {:#?}", hmac.secret, hmac.secret));
    let client_secret = config
        .introspection
        .as_ref()
        .unwrap()
        .client_secret
        .as_ref();
    absent("Secret", &format!("{client_secret:?}"));

    // The builder holds them resolved: the HMAC key, the introspection
    // client's ClientAuth, the DPoP nonce secret.
    let builder = config.builder_with_env(no_env).unwrap();
    let shown = format!("{builder:?} {builder:#?}");
    absent("ValidatorBuilder", &shown);
    // ...and shows where they are, redacted.
    for part in ["ClientAuth", "client_secret_basic", "Hmac", "nonce_secret"] {
        assert!(shown.contains(part), "{part} not in {shown}");
    }

    // With private_key_jwt: neither the PEM nor the key shows.
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let body = pem.lines().nth(1).unwrap().to_owned();
    let mut config = parse(
        r#"
        [[issuers]]
        issuer = "https://issuer.test"
        audiences = "payments"
        hmac = { secret = "hmac-secret-value-0123456789abcdef" }

        [introspection]
        endpoint = "https://issuer.test/introspect"
        client_id = "payments"
        auth_method = "private_key_jwt"
        private_key = { env = "PRIVATE_KEY" }
        private_key_algorithm = "ES256"
        "#,
    );
    let env = |name: &str| (name == "PRIVATE_KEY").then(|| pem.clone());
    let shown = format!("{:?}", config.builder_with_env(env).unwrap());
    assert!(!shown.contains(&body), "{shown}");
    absent("ValidatorBuilder", &shown);
    config.introspection.as_mut().unwrap().private_key = Some(Secret::Value(pem.clone()));
    assert!(!format!("{config:?}").contains(&body));
}

#[tokio::test]
async fn the_example_file_parses_and_builds() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.example.toml");
    let config = parse(&std::fs::read_to_string(path).unwrap());
    assert_eq!(config.issuers.len(), 4);
    let env = |name: &str| match name {
        "PAYMENTS_INTROSPECTION_SECRET" => Some("introspection secret".to_owned()),
        "PAYMENTS_DPOP_NONCE_SECRET" => Some("a nonce secret of 32 characters".to_owned()),
        _ => None,
    };
    // Building waits for no server: remote keys come in the background.
    let validator = config.validator_with_env(env).unwrap();
    assert!(validator.dpop_options().is_some());
    config.layer(validator).unwrap();

    // Without its secrets, the error names the field and the variable.
    let err = config.validator_with_env(no_env).unwrap_err().to_string();
    assert_eq!(
        err,
        "introspection.client_secret: the environment variable PAYMENTS_INTROSPECTION_SECRET is not set"
    );
}

#[tokio::test]
async fn introspection_from_discovery_needs_a_discovering_first_issuer() {
    let issuer = TestIssuer::new();
    let text = format!(
        "{}\n[introspection]\nclient_id = \"payments\"\nclient_secret = \"s\"\n",
        toml_for(&issuer, "")
    );
    let err = parse(&text).validator().unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Build(BuildError::IntrospectionNeedsDiscovery)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_layer_applies_its_options() {
    let issuer = TestIssuer::new().default_audience("payments");
    let config = parse(&format!(
        "{}\n[layer]\nrealm = \"payments\"\ntoken_header = \"x-token\"\n",
        toml_for(&issuer, "")
    ));
    let layer = config.layer(config.validator().unwrap()).unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|claims: Claims| async move { claims.subject().unwrap_or_default().to_owned() }),
        )
        .layer(layer);

    let refused = app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains(r#"realm="payments""#), "{challenge}");

    let token = issuer.token().sign();
    let accepted = app
        .oneshot(
            Request::get("/")
                .header("x-token", token)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);

    let bad = parse(&format!(
        "{}\n[layer]\ntoken_header = \"not a header\"\n",
        toml_for(&issuer, "")
    ));
    let err = bad.layer(bad.validator().unwrap()).unwrap_err();
    assert!(matches!(err, ConfigError::TokenHeader(_)), "{err:?}");
}

/// DPoP's `htu` comes from configuration: `[dpop]` without
/// `layer.public_url` is an error when the layer is built, unless the
/// development opt-in says to trust the `Host` header.
#[tokio::test]
async fn dpop_without_a_public_url_is_an_error_unless_host_is_trusted() {
    let issuer = TestIssuer::new().default_audience("payments");
    let layer_of = |extra: &str| {
        let config = parse(&format!(
            "{}
[dpop]
{extra}",
            toml_for(&issuer, "")
        ));
        config.layer(config.validator().unwrap()).map(drop)
    };
    assert!(matches!(layer_of(""), Err(ConfigError::DpopNeedsPublicUrl)));
    assert!(layer_of("[layer]\npublic_url = \"https://payments.example.com\"\n").is_ok());
    assert!(layer_of("[layer]\ntrust_host_header = \"http\"\n").is_ok());
    assert!(matches!(
        layer_of("[layer]\ntrust_host_header = \"ftp\"\n"),
        Err(ConfigError::TrustHostHeader(_))
    ));
}

#[tokio::test]
async fn the_environment_describes_one_issuer() {
    let issuer = TestIssuer::new().default_audience("billing");
    let jwks = issuer.jwks_json();
    let env = |name: &str| {
        Some(match name {
            "BEARER_GUARD_ISSUER" => issuer.issuer().to_owned(),
            "BEARER_GUARD_AUDIENCE" => "payments, billing".to_owned(),
            "BEARER_GUARD_JWKS" => jwks.clone(),
            "BEARER_GUARD_ROLES_FROM" => "claim:groups".to_owned(),
            "BEARER_GUARD_REQUIRE_CLAIM_EQUALS" => "token_use=access".to_owned(),
            "BEARER_GUARD_LEEWAY_SECONDS" => "5".to_owned(),
            "BEARER_GUARD_REALM" => "billing".to_owned(),
            "BEARER_GUARD_DPOP" => "".to_owned(), // empty: unset
            _ => return None,
        })
    };
    let config = Config::from_env_lookup("BEARER_GUARD", env).unwrap();
    assert_eq!(config.issuers[0].audiences, ["payments", "billing"]);
    assert_eq!(config.leeway_seconds, Some(5));
    assert!(config.dpop.is_none());
    let validator = config.validator().unwrap();
    let token = issuer
        .token()
        .claim("token_use", "access")
        .claim("groups", serde_json::json!(["ops"]))
        .sign();
    let claims = validator.validate(&token).await.unwrap();
    assert!(claims.roles().contains("ops"));
    assert_eq!(
        validator
            .validate(&issuer.token().claim("token_use", "id").sign())
            .await
            .unwrap_err(),
        ValidationError::UnexpectedClaimValue("token_use".into())
    );
    config.layer(validator).unwrap();

    // Another prefix.
    let env = |name: &str| match name {
        "PAYMENTS_ISSUER" => Some("https://x".to_owned()),
        _ => None,
    };
    let config = Config::from_env_lookup("PAYMENTS_", env).unwrap();
    assert_eq!(config.issuers[0].issuer.as_deref(), Some("https://x"));
}

#[test]
fn environment_errors_name_the_variable() {
    let err = Config::from_env_lookup("BEARER_GUARD", no_env).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Env { var, .. } if var == "BEARER_GUARD_ISSUER"),
        "{err:?}"
    );

    let env = |name: &str| match name {
        "BEARER_GUARD_ISSUER" => Some("https://x".to_owned()),
        "BEARER_GUARD_DISCOVER" => Some("maybe".to_owned()),
        _ => None,
    };
    let err = Config::from_env_lookup("BEARER_GUARD", env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "environment variable BEARER_GUARD_DISCOVER: \"maybe\" is not true or false"
    );

    let env = |name: &str| match name {
        "BEARER_GUARD_ISSUER" => Some("https://x".to_owned()),
        "BEARER_GUARD_HMAC_SECRET" => Some("s".to_owned()),
        "BEARER_GUARD_HMAC_SECRET_FILE" => Some("/f".to_owned()),
        _ => None,
    };
    let err = Config::from_env_lookup("BEARER_GUARD", env).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Env { var, .. } if var == "BEARER_GUARD_HMAC_SECRET"),
        "{err:?}"
    );
}

#[test]
fn secrets_from_the_environment_stay_out_of_debug() {
    let env = |name: &str| match name {
        "BEARER_GUARD_ISSUER" => Some("https://x".to_owned()),
        "BEARER_GUARD_INTROSPECTION_CLIENT_ID" => Some("payments".to_owned()),
        "BEARER_GUARD_INTROSPECTION_CLIENT_SECRET" => Some("env-client-secret".to_owned()),
        _ => None,
    };
    let config = Config::from_env_lookup("BEARER_GUARD", env).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("env-client-secret"), "{shown}");
}

#[tokio::test]
async fn introspection_client_authentication_is_checked_when_built() {
    let issuer = TestIssuer::new();
    let with = |table: &str| {
        parse(&format!(
            "{}\n[introspection]\nendpoint = \"https://issuer.test/introspect\"\n{table}",
            toml_for(&issuer, "")
        ))
    };

    // private_key_jwt with a PEM key from a file.
    let pem = temp_file(
        "client.pem",
        &rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    let config = with(&format!(
        "client_id = \"payments\"\nauth_method = \"private_key_jwt\"\nprivate_key = {{ file = '{}' }}\nprivate_key_algorithm = \"ES256\"\nprivate_key_id = \"k1\"\n",
        pem.display()
    ));
    config.validator().unwrap();
    std::fs::remove_file(&pem).unwrap();

    let missing_algorithm = with(
        "client_id = \"payments\"\nauth_method = \"private_key_jwt\"\nprivate_key = \"-----BEGIN PRIVATE KEY-----\"\n",
    );
    let err = missing_algorithm.validator().unwrap_err();
    assert!(matches!(err, ConfigError::Requires { .. }), "{err:?}");
    assert!(err.to_string().contains("private_key_algorithm"), "{err}");

    let no_secret = with("client_id = \"payments\"\nauth_method = \"post\"\n");
    let err = no_secret.validator().unwrap_err().to_string();
    assert!(
        err.starts_with("introspection needs client_secret"),
        "{err}"
    );

    let no_client = with("client_secret = \"s\"\n");
    let err = no_client.validator().unwrap_err().to_string();
    assert_eq!(err, "introspection needs client_id");

    let bad_method = toml::from_str::<Config>(&format!(
        "{}\n[introspection]\nclient_id = \"c\"\nclient_secret = \"s\"\nauth_method = \"mtls\"\n",
        toml_for(&issuer, "")
    ))
    .unwrap_err()
    .to_string();
    assert!(
        bad_method.contains("unknown variant `mtls`"),
        "{bad_method}"
    );
}

// ---------------------------------------------------------------------------
// Files the configuration reads: regular, and at most MAX_SECRET_FILE_SIZE.

/// A file under the temporary directory holding `content`.
fn temp_bytes(name: &str, content: &[u8]) -> PathBuf {
    let path = temp_file(name, "");
    std::fs::write(&path, content).unwrap();
    path
}

fn limit() -> usize {
    usize::try_from(MAX_SECRET_FILE_SIZE).unwrap()
}

#[test]
fn a_secret_file_is_read_up_to_max_secret_file_size_and_not_a_byte_more() {
    assert_eq!(MAX_SECRET_FILE_SIZE, 64 * 1024);
    let exactly = temp_bytes("limit", &vec![b's'; limit()]);
    assert_eq!(
        Secret::File(exactly.clone()).resolve().unwrap().len(),
        limit()
    );
    assert_eq!(
        Secret::File(exactly.clone()).resolve_bytes().unwrap().len(),
        limit()
    );
    // The trailing newline is dropped after the limit is checked: a file of
    // the limit plus its newline is one byte too many.
    let over = temp_bytes("over", &vec![b's'; limit() + 1]);
    for result in [
        Secret::File(over.clone()).resolve().map(String::into_bytes),
        Secret::File(over.clone()).resolve_bytes(),
    ] {
        let err = result.unwrap_err();
        let SecretError::File { path, source } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(path, &over);
        assert_eq!(source.kind(), std::io::ErrorKind::FileTooLarge, "{err}");
        assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
    }

    // In a configuration, the error names the field.
    let config = parse(&format!(
        r#"
        [[issuers]]
        issuer = "https://issuer.test"
        audiences = "payments"
        hmac = {{ secret = {{ file = '{}' }} }}
        "#,
        over.display()
    ));
    let err = config.builder_with_env(no_env).unwrap_err().to_string();
    assert!(
        err.starts_with("issuer 1 (https://issuer.test): hmac.secret: cannot read")
            && err.contains("larger than 65536 bytes"),
        "{err}"
    );
    std::fs::remove_file(&exactly).unwrap();
    std::fs::remove_file(&over).unwrap();
}

/// `Secret::File(path).resolve()` on another thread, with a time limit, so
/// that a read that blocks fails the test instead of hanging it.
fn resolve_within_a_second(path: PathBuf) -> Result<String, SecretError> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(Secret::File(path).resolve()));
    receive
        .recv_timeout(std::time::Duration::from_secs(1))
        .expect("reading the secret blocked")
}

#[test]
fn a_secret_file_must_be_a_regular_file() {
    let directory = std::env::temp_dir();
    let mut refused = vec![directory];
    #[cfg(unix)]
    {
        refused.push("/dev/zero".into());
        let fifo = temp_file("fifo", "");
        std::fs::remove_file(&fifo).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            refused.push(fifo);
        }
    }
    for path in refused {
        let err = resolve_within_a_second(path.clone()).unwrap_err();
        assert!(
            matches!(&err, SecretError::File { source, .. }
                if source.kind() == std::io::ErrorKind::InvalidInput),
            "{}: {err:?}",
            path.display()
        );
        assert!(err.to_string().contains("not a regular file"), "{err}");
        if path.starts_with(std::env::temp_dir()) && path != std::env::temp_dir() {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

#[tokio::test]
async fn a_pem_file_is_read_if_regular_and_at_most_the_limit() {
    let key = bearer_guard::testing::TestKey::generate(bearer_guard::keys::Algorithm::ES256);
    let (kid, public_pem) = (key.kid().to_owned(), key.public_pem().unwrap());
    let issuer = TestIssuer::with_keys(vec![key]).default_audience("payments");
    let with_pem = |path: &std::path::Path| {
        parse(&format!(
            r#"
            [[issuers]]
            issuer = "{}"
            audiences = "payments"
            pem_file = '{}'
            pem_kid = "{kid}"
            "#,
            issuer.issuer(),
            path.display()
        ))
    };

    let pem = temp_file("public.pem", &public_pem);
    let validator = with_pem(&pem).validator().unwrap();
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    std::fs::remove_file(&pem).unwrap();

    let mut too_large = public_pem.into_bytes();
    too_large.resize(limit() + 1, b'\n');
    let too_large = temp_bytes("large.pem", &too_large);
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut refused = vec![(too_large.clone(), std::io::ErrorKind::FileTooLarge)];
    #[cfg(unix)]
    refused.push(("/dev/zero".into(), std::io::ErrorKind::InvalidInput));
    for (path, kind) in refused {
        let err = with_pem(&path).builder_with_env(no_env).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Issuer {
                problem: IssuerProblem::PemFile { source, .. }, ..
            } if source.kind() == kind),
            "{}: {err:?}",
            path.display()
        );
        assert!(err.to_string().contains("pem_file: cannot read"), "{err}");
    }
    std::fs::remove_file(&too_large).unwrap();
}

#[tokio::test]
async fn an_hmac_secret_file_may_hold_bytes_that_are_not_utf8() {
    // Binary, and ending in the bytes of a line break: kept byte for byte.
    let mut secret: Vec<u8> = (0..46u8).map(|i| 0x80 | i).collect();
    secret.extend([b'\r', b'\n']);
    assert!(std::str::from_utf8(&secret).is_err());
    let path = temp_bytes("binary.key", &secret);
    let issuer = TestIssuer::new().default_audience("payments");
    let config = parse(&format!(
        r#"
        [[issuers]]
        issuer = "{}"
        audiences = "payments"
        hmac = {{ secret = {{ file = '{}' }}, algorithm = "HS256" }}
        "#,
        issuer.issuer(),
        path.display()
    ));
    let validator = config.validator().unwrap();
    let token = issuer.token().sign_hmac(&secret);
    assert!(validator.validate(&token).await.is_ok());

    // As bytes it reads; as text (a client secret) it is refused.
    assert_eq!(Secret::File(path.clone()).resolve_bytes().unwrap(), secret);
    let err = Secret::File(path.clone()).resolve().unwrap_err();
    assert!(
        matches!(&err, SecretError::File { source, .. }
            if source.kind() == std::io::ErrorKind::InvalidData),
        "{err:?}"
    );
    assert!(err.to_string().contains("not UTF-8"), "{err}");
    std::fs::remove_file(&path).unwrap();
}

// ---------------------------------------------------------------------------
// typ: no empty item allows a token without `typ`; only `none` does.

#[tokio::test]
async fn a_trailing_comma_in_the_typ_variable_does_not_allow_tokens_without_typ() {
    let issuer = TestIssuer::new().default_audience("payments");
    let jwks = issuer.jwks_json();
    let from_env = |typ: &'static str| {
        let env = |name: &str| {
            Some(match name {
                "BEARER_GUARD_ISSUER" => issuer.issuer().to_owned(),
                "BEARER_GUARD_AUDIENCE" => "payments".to_owned(),
                "BEARER_GUARD_JWKS" => jwks.clone(),
                "BEARER_GUARD_TYP" => typ.to_owned(),
                _ => return None,
            })
        };
        Config::from_env_lookup("BEARER_GUARD", env)
    };
    let untyped = issuer.token().without_header("typ").sign();
    let typed = issuer.token().sign();

    for typ in ["at+jwt,", "at+jwt, ,", ",at+jwt"] {
        let config = from_env(typ).unwrap();
        assert_eq!(
            config.issuers[0].typ,
            Some(TypPolicy::OneOf(vec!["at+jwt".into()])),
            "{typ:?}"
        );
        let validator = config.validator().unwrap();
        assert!(validator.validate(&typed).await.is_ok());
        assert!(
            validator.validate(&untyped).await.is_err(),
            "{typ:?} allows a token without typ"
        );
    }

    // Only the explicit `none`.
    let config = from_env("at+jwt,none").unwrap();
    assert_eq!(
        config.issuers[0].typ,
        Some(TypPolicy::OneOf(vec!["at+jwt".into(), String::new()]))
    );
    let validator = config.validator().unwrap();
    assert!(validator.validate(&untyped).await.is_ok());
    assert!(validator.validate(&typed).await.is_ok());

    // Nothing but commas is an empty list: an error.
    let err = from_env(",").unwrap_err().to_string();
    assert!(
        err.starts_with("environment variable BEARER_GUARD_TYP: an empty typ list"),
        "{err}"
    );
}

#[test]
fn a_typ_list_in_a_file_spells_no_typ_none_not_an_empty_string() {
    let issuer = TestIssuer::new();
    let err = toml::from_str::<Config>(&toml_for(&issuer, r#"typ = ["at+jwt", ""]"#))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("an empty type in the typ list: write \"none\""),
        "{err}"
    );
    let config = parse(&toml_for(&issuer, r#"typ = ["at+jwt", "none"]"#));
    assert_eq!(
        config.issuers[0].typ,
        Some(TypPolicy::OneOf(vec!["at+jwt".into(), String::new()]))
    );
}

// ---------------------------------------------------------------------------
// The environment: nothing set is silently ignored.

/// A lookup of `vars`, with an issuer and a key source unless given.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (k, v) in [
        ("BEARER_GUARD_ISSUER", "https://issuer.test"),
        ("BEARER_GUARD_AUDIENCE", "payments"),
        ("BEARER_GUARD_JWKS_URL", "https://issuer.test/jwks"),
    ] {
        if !all.iter().any(|(name, _)| name == k) {
            all.push((k.to_owned(), v.to_owned()));
        }
    }
    move |name: &str| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn env_error(vars: &[(&str, &str)]) -> (String, String) {
    match Config::from_env_lookup("BEARER_GUARD", env_of(vars)) {
        Err(ConfigError::Env { var, reason }) => (var, reason),
        other => panic!("{vars:?}: {other:?}"),
    }
}

#[test]
fn introspection_variables_without_a_client_id_are_errors() {
    for (var, value) in [
        (
            "BEARER_GUARD_INTROSPECTION_URL",
            "https://issuer.test/introspect",
        ),
        ("BEARER_GUARD_INTROSPECTION_CLIENT_SECRET", "s"),
        (
            "BEARER_GUARD_INTROSPECTION_CLIENT_SECRET_FILE",
            "/run/secrets/s",
        ),
        ("BEARER_GUARD_INTROSPECTION_AUTH_METHOD", "post"),
        ("BEARER_GUARD_INTROSPECTION_PRIVATE_KEY", "-----BEGIN"),
        (
            "BEARER_GUARD_INTROSPECTION_PRIVATE_KEY_FILE",
            "/run/secrets/k",
        ),
        ("BEARER_GUARD_INTROSPECTION_PRIVATE_KEY_ALGORITHM", "ES256"),
        ("BEARER_GUARD_INTROSPECTION_PRIVATE_KEY_ID", "k1"),
        ("BEARER_GUARD_INTROSPECTION_POLICY", "introspect-all"),
        ("BEARER_GUARD_INTROSPECTION_MAY_OMIT", "aud"),
    ] {
        let (shown, reason) = env_error(&[(var, value)]);
        assert_eq!(shown, var);
        assert_eq!(reason, "needs BEARER_GUARD_INTROSPECTION_CLIENT_ID");
    }
    // With the client id, they are read.
    let config = Config::from_env_lookup(
        "BEARER_GUARD",
        env_of(&[
            ("BEARER_GUARD_INTROSPECTION_CLIENT_ID", "payments"),
            ("BEARER_GUARD_INTROSPECTION_CLIENT_SECRET", "s"),
            ("BEARER_GUARD_INTROSPECTION_POLICY", "introspect-all"),
            ("BEARER_GUARD_INTROSPECTION_MAY_OMIT", "aud, jti"),
        ]),
    )
    .unwrap();
    let introspection = config.introspection.unwrap();
    assert_eq!(
        introspection.policy,
        Some(bearer_guard::introspection::TokenPolicy::IntrospectAll)
    );
    assert_eq!(introspection.may_omit, ["aud", "jti"]);
}

#[test]
fn dpop_false_with_another_dpop_variable_is_an_error() {
    for (other, value) in [
        ("BEARER_GUARD_DPOP_REQUIRED", "true"),
        ("BEARER_GUARD_DPOP_NONCE", "yes"),
        (
            "BEARER_GUARD_DPOP_NONCE_SECRET",
            "a nonce secret of 32 characters",
        ),
        ("BEARER_GUARD_DPOP_NONCE_SECRET_FILE", "/run/secrets/nonce"),
        ("BEARER_GUARD_DPOP_ALGORITHMS", "ES256"),
        ("BEARER_GUARD_DPOP_MAX_AGE_SECONDS", "30"),
    ] {
        let (var, reason) = env_error(&[("BEARER_GUARD_DPOP", "false"), (other, value)]);
        assert_eq!(var, "BEARER_GUARD_DPOP");
        assert_eq!(reason, format!("false, but {other} is set"));
    }

    let dpop = |vars: &[(&str, &str)]| {
        Config::from_env_lookup("BEARER_GUARD", env_of(vars))
            .unwrap()
            .dpop
    };
    // Off, and flags that configure nothing, are fine.
    assert!(dpop(&[("BEARER_GUARD_DPOP", "false")]).is_none());
    assert!(
        dpop(&[
            ("BEARER_GUARD_DPOP", "off"),
            ("BEARER_GUARD_DPOP_REQUIRED", "false")
        ])
        .is_none()
    );
    assert!(dpop(&[]).is_none());
    // DPOP_REQUIRED=true alone turns DPoP on; other settings need DPOP=true.
    assert!(
        dpop(&[("BEARER_GUARD_DPOP_REQUIRED", "true")])
            .unwrap()
            .required
    );
    let (var, reason) = env_error(&[("BEARER_GUARD_DPOP_NONCE", "true")]);
    assert_eq!(var, "BEARER_GUARD_DPOP");
    assert_eq!(
        reason,
        "not set, but BEARER_GUARD_DPOP_NONCE is: set it to true"
    );
    let on = dpop(&[
        ("BEARER_GUARD_DPOP", "true"),
        ("BEARER_GUARD_DPOP_NONCE", "true"),
    ])
    .unwrap();
    assert!(on.nonce && !on.required);
}

#[test]
fn unknown_variables_with_the_prefix_are_refused_except_its_config() {
    let names = [
        "PATH",
        "HOME",
        "BEARER_GUARD_ISSUER",
        "BEARER_GUARD_HMAC_SECRET_FILE",
        "BEARER_GUARD_CONFIG",
        "BEARER_GUARDIAN", // not `BEARER_GUARD_`
        "OTHER_AUDIENCES",
    ];
    Config::check_env_names("BEARER_GUARD", names).unwrap();

    let err = Config::check_env_names(
        "BEARER_GUARD",
        names.into_iter().chain(["BEARER_GUARD_AUDIENCES"]),
    )
    .unwrap_err();
    let ConfigError::Env { var, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(var, "BEARER_GUARD_AUDIENCES");
    assert!(reason.starts_with("unknown variable"), "{reason}");
    assert_eq!(
        err.to_string(),
        "environment variable BEARER_GUARD_AUDIENCES: unknown variable: not one bearer-guard reads (see bearer_guard::config), nor BEARER_GUARD_CONFIG"
    );

    // Several: the first in order, the others listed.
    let err = Config::check_env_names(
        "PAYMENTS_",
        [
            "PAYMENTS_TYPE",
            "PAYMENTS_ISSUER",
            "PAYMENTS_AUDIENCES",
            "BEARER_GUARD_X",
        ],
    )
    .unwrap_err();
    let ConfigError::Env { var, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(var, "PAYMENTS_AUDIENCES");
    assert!(
        reason.ends_with("; also unknown: PAYMENTS_TYPE"),
        "{reason}"
    );

    // Names need not be UTF-8 (std::env::vars_os).
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        let odd = std::ffi::OsStr::from_bytes(b"BEARER_GUARD_\xff");
        assert!(Config::check_env_names("BEARER_GUARD", [odd]).is_err());
        let unrelated = std::ffi::OsStr::from_bytes(b"X\xff");
        Config::check_env_names("BEARER_GUARD", [unrelated]).unwrap();
    }

    // An empty prefix cannot tell its variables from the others.
    Config::check_env_names("", ["PATH", "AUDIENCES"]).unwrap();
}

#[test]
fn every_variable_the_environment_reader_reads_is_a_known_name() {
    let read = std::sync::Mutex::new(Vec::<String>::new());
    let record = |vars: &[(&str, &str)]| {
        let env = env_of(vars);
        let _ = Config::from_env_lookup("BEARER_GUARD", |name: &str| {
            read.lock().unwrap().push(name.to_owned());
            env(name)
        });
    };
    // Introspection on and off, DPoP on and off, HMAC and PEM.
    record(&[]);
    record(&[
        ("BEARER_GUARD_INTROSPECTION_CLIENT_ID", "payments"),
        ("BEARER_GUARD_INTROSPECTION_CLIENT_SECRET", "s"),
        ("BEARER_GUARD_DPOP", "true"),
    ]);
    record(&[
        ("BEARER_GUARD_JWKS_URL", ""),
        ("BEARER_GUARD_HMAC_SECRET", "s"),
        ("BEARER_GUARD_PEM_FILE", "/k.pem"),
    ]);
    let read = read.into_inner().unwrap();
    assert!(read.len() > 50, "{read:?}");
    for name in &read {
        assert!(name.starts_with("BEARER_GUARD_"), "{name}");
    }
    Config::check_env_names("BEARER_GUARD", &read).unwrap();
    // And the module documentation lists each of them.
    let documented = include_str!("../src/config.rs");
    for name in &read {
        let key = name.trim_start_matches("BEARER_GUARD");
        // `BEARER_GUARD_X`, or `_X` in a row listing several; `X_FILE`
        // as `(or `_FILE`)` beside `X`.
        assert!(
            documented.contains(&format!("`{name}`"))
                || documented.contains(&format!("`{key}`"))
                || name.ends_with("_FILE"),
            "{name} is not in the table of variables"
        );
    }
}

// ---------------------------------------------------------------------------
// Values of 0 that would disable what they bound.

/// A configuration with one remote issuer, introspection and DPoP, then
/// `extra` (tables may follow it).
fn remote_config(extra: &str) -> String {
    format!(
        r#"
        [[issuers]]
        issuer = "https://issuer.test"
        audiences = "payments"
        jwks_url = "https://issuer.test/jwks"

        [introspection]
        endpoint = "https://issuer.test/introspect"
        client_id = "payments"
        client_secret = "s"

        [dpop]
        {extra}
        "#
    )
}

#[test]
fn zero_values_that_would_disable_a_bound_are_refused_naming_the_field() {
    let top = |field: &str| format!("{}\n[jwks_cache]\n{field} = 0\n", remote_config(""));
    let mut cases = vec![(
        remote_config("").replace("[[issuers]]", "max_token_size = 0\n[[issuers]]"),
        "max_token_size".to_owned(),
    )];
    for field in [
        "fetch_timeout_seconds",
        "cooldown_seconds",
        "default_refresh_seconds",
        "min_refresh_seconds",
        "max_refresh_seconds",
        "max_stale_seconds",
        "retry_min_seconds",
        "retry_max_seconds",
        "max_size",
        "max_keys",
        "max_metadata_size",
    ] {
        cases.push((top(field), format!("jwks_cache.{field}")));
    }
    for field in ["timeout_seconds", "max_size", "max_concurrent"] {
        cases.push((
            remote_config("").replace(
                "client_secret = \"s\"",
                &format!("client_secret = \"s\"\n{field} = 0"),
            ),
            format!("introspection.{field}"),
        ));
    }
    for field in [
        "nonce_lifetime_seconds",
        "max_age_seconds",
        "replay_capacity",
        "max_proof_size",
    ] {
        cases.push((
            remote_config(&format!("{field} = 0")),
            format!("dpop.{field}"),
        ));
    }
    for (text, field) in cases {
        let err = parse(&text).builder_with_env(no_env).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Zero { field: f, .. } if *f == field.as_str()),
            "{field}: {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{field} cannot be 0: ")),
            "{err}"
        );
    }

    // An issuer's own jwks_cache, and max_tenants, name the issuer too.
    let own = parse(&remote_config("").replace(
        "[introspection]",
        "[issuers.jwks_cache]\ncooldown_seconds = 0\n\n[introspection]",
    ));
    let err = own.builder_with_env(no_env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "issuer 1 (https://issuer.test): `jwks_cache.cooldown_seconds` cannot be 0: every token with an unknown kid would cause a fetch"
    );
    let tenants = parse(
        r#"
        [[issuers]]
        tenant_template = "https://issuer.test/{tenant}/"
        audiences = "payments"
        jwks_url = "https://issuer.test/jwks"
        max_tenants = 0
        "#,
    );
    let err = tenants.builder_with_env(no_env).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::Issuer {
                problem: IssuerProblem::Zero {
                    field: "max_tenants",
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );

    // DPoP turned off: its table is not looked at.
    let off = parse(&remote_config("enabled = false\nmax_age_seconds = 0"));
    let _builder = off.builder_with_env(no_env).unwrap();
}

#[tokio::test]
async fn zero_values_documented_as_turning_something_off_are_accepted() {
    let issuer = TestIssuer::new().default_audience("payments");
    let text = format!(
        "{}\n[introspection]\nendpoint = \"https://issuer.test/introspect\"\nclient_id = \"payments\"\nclient_secret = \"s\"\nmax_ttl_seconds = 0\ninactive_ttl_seconds = 0\ncapacity = 0\n\n[dpop]\nleeway_seconds = 0\n",
        toml_for(&issuer, "")
            .replace("leeway_seconds = 30", "leeway_seconds = 0")
            .replace("token_cache_capacity = 100", "token_cache_capacity = 0")
    );
    let config = parse(&text);
    assert_eq!(config.token_cache_capacity, Some(0));
    let validator = config.validator().unwrap();
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
}

#[test]
fn max_tenants_is_at_most_its_limit_and_means_nothing_with_tenants() {
    let with = |extra: &str| {
        parse(&format!(
            r#"
            [[issuers]]
            tenant_template = "https://issuer.test/{{tenant}}/"
            audiences = "payments"
            jwks_url = "https://issuer.test/jwks"
            {extra}
            "#
        ))
    };
    assert_eq!(MAX_TENANTS_LIMIT, 1000);
    let _builder = with(&format!("max_tenants = {MAX_TENANTS_LIMIT}"))
        .builder_with_env(no_env)
        .unwrap();
    let err = with(&format!("max_tenants = {}", MAX_TENANTS_LIMIT + 1))
        .builder_with_env(no_env)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::Issuer {
                problem: IssuerProblem::TooLarge {
                    field: "max_tenants",
                    value: 1001,
                    max: 1000
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "issuer 1 (https://issuer.test/{tenant}/): `max_tenants` is 1001, above its limit of 1000"
    );

    let err = with("tenants = [\"a\"]\nmax_tenants = 10")
        .builder_with_env(no_env)
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("`max_tenants` and `tenants` cannot be used together"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// [jwks_cache] without a remote key source.

#[test]
fn a_jwks_cache_without_a_remote_key_source_is_an_error_at_either_level() {
    let issuer = TestIssuer::new();
    // Top level: no issuer fetches keys.
    let top = parse(&format!(
        "{}\n[jwks_cache]\nmax_stale_seconds = 5\n",
        toml_for(&issuer, "")
    ));
    let err = top.builder_with_env(no_env).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Requires {
                field: "jwks_cache",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "jwks_cache needs an issuer with jwks_url or discover (it configures remote key caches only)"
    );
    // Per issuer (as before).
    let own = parse(&toml_for(
        &issuer,
        "[issuers.jwks_cache]\nmax_stale_seconds = 5",
    ));
    let err = own.builder_with_env(no_env).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Issuer {
                problem: IssuerProblem::Requires {
                    field: "jwks_cache",
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    // One remote issuer among others is enough for the top-level table.
    let mixed = parse(&format!(
        "{}\n[[issuers]]\nissuer = \"https://remote.test\"\naudiences = \"api\"\njwks_url = \"https://remote.test/jwks\"\n\n[jwks_cache]\nmax_stale_seconds = 5\n",
        toml_for(&issuer, "")
    ));
    let _builder = mixed.builder_with_env(no_env).unwrap();

    // From the environment: the variable is named.
    let (var, reason) = env_error(&[
        ("BEARER_GUARD_JWKS_URL", ""),
        ("BEARER_GUARD_JWKS", "{\"keys\": []}"),
        ("BEARER_GUARD_JWKS_MAX_STALE_SECONDS", "5"),
    ]);
    assert_eq!(var, "BEARER_GUARD_JWKS_MAX_STALE_SECONDS");
    assert_eq!(
        reason,
        "needs a remote key source: BEARER_GUARD_JWKS_URL or BEARER_GUARD_DISCOVER"
    );
    // Without JWKS_* cache variables, none is made.
    let config = Config::from_env_lookup(
        "BEARER_GUARD",
        env_of(&[
            ("BEARER_GUARD_JWKS_URL", ""),
            ("BEARER_GUARD_JWKS", "{\"keys\": []}"),
        ]),
    )
    .unwrap();
    assert!(config.jwks_cache.is_none());
    let config = Config::from_env_lookup(
        "BEARER_GUARD",
        env_of(&[("BEARER_GUARD_JWKS_MAX_STALE_SECONDS", "5")]),
    )
    .unwrap();
    assert_eq!(config.jwks_cache.unwrap().max_stale_seconds, Some(5));
}

/// `Debug` of a configuration hides the credentials an endpoint URL may
/// hold (user information, query values), as everywhere else.
#[test]
fn config_debug_hides_credentials_in_endpoint_urls() {
    let config: Config = serde_json::from_value(serde_json::json!({
        "issuers": [{
            "issuer": "https://as.example.com",
            "audiences": ["api"],
            "jwks_url": "https://svc:jwks-pw@as.example.com/jwks?api_key=k1",
        }],
        "introspection": {
            "endpoint": "https://rs:introspect-pw@as.example.com/introspect?token=t0",
            "client_id": "api",
            "client_secret": "s3cret",
        },
    }))
    .unwrap();
    let shown = format!("{config:?}");
    for secret in ["s3cret", "jwks-pw", "k1", "introspect-pw", "t0"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    assert!(shown.contains("as.example.com/jwks?api_key=***"), "{shown}");
}
