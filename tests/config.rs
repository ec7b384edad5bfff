//! `config::Config`: a validator and its layer from a TOML or JSON document
//! or from environment variables (read through a lookup, never by changing
//! the process environment), with errors that name the field at fault and
//! secrets that never show in `Debug`.
#![cfg(feature = "config")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::config::{Config, ConfigError, IssuerProblem, Secret, SecretError};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BuildError, Claims, ValidationError};
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

#[test]
fn debug_output_never_shows_secrets() {
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
    let shown = format!("{config:?} {config:#?}");
    for secret in [
        "hmac-secret-value",
        "client-secret-value",
        "dpop-nonce-secret-value",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("<redacted>"), "{shown}");
    // The validator's own Debug does not show them either.
    let validator = config.validator().unwrap();
    let shown = format!("{validator:?}");
    assert!(
        !shown.contains("client-secret-value") && !shown.contains("hmac-secret-value"),
        "{shown}"
    );
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
