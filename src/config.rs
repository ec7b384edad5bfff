//! Configuration for operators (feature `config`): the [`Validator`] and
//! the [`BearerLayer`]'s options described by a serde document (a TOML,
//! JSON or YAML file) or by environment variables, checked as strictly as
//! the builder: a misspelt field is an error, never silently ignored.
//!
//! - [`Config`] is the document: deserialize it with the format of your
//!   choice, then [`Config::validator`] builds the validator through
//!   [`ValidatorBuilder`] and [`Issuer`](crate::validator::Issuer), and
//!   [`Config::layer`] the layer. [`Config::builder`] stops short of
//!   `build`, for settings a file cannot hold (a clock, a shared store).
//! - [`Secret`]: client secrets, HMAC keys and the DPoP nonce secret are a
//!   string, `{ env = "VARIABLE" }` or `{ file = "/path" }` (a regular file
//!   of at most [`MAX_SECRET_FILE_SIZE`] bytes), and never appear in
//!   `Debug` output.
//! - [`Config::from_env`] reads a single-issuer configuration from
//!   `BEARER_GUARD_*` variables (listed [below](#environment-variables)).
//! - [`ConfigError`] names the field at fault: `issuer 2
//!   (https://example.eu.auth0.com/): two key sources: jwks_url and
//!   discover`.
//!
//! # Example
//!
//! ```
//! use bearer_guard::config::Config;
//! use bearer_guard::testing::TestIssuer;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let issuer = TestIssuer::new().default_audience("payments");
//! let text = format!(
//!     r#"
//!     leeway_seconds = 30
//!
//!     [[issuers]]
//!     issuer = "{issuer}"
//!     audiences = ["payments"]
//!     jwks = '{jwks}'
//!     roles_from = ["keycloak-realm"]
//!
//!     [layer]
//!     realm = "payments"
//!     "#,
//!     issuer = issuer.issuer(),
//!     jwks = issuer.jwks_json(),
//! );
//! let config: Config = toml::from_str(&text)?;
//! let validator = config.validator()?;
//! let token = issuer.token().sign();
//! assert!(validator.validate(&token).await.is_ok());
//! let layer = config.layer(validator)?; // for `.layer(..)` on a router
//! # let _ = layer;
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! # Every field
//!
//! `docs/config.example.toml` in the repository, commented:
//!
//! ```toml
#![doc = include_str!("../docs/config.example.toml")]
//! ```
//!
//! It builds as it stands, with no server reachable: remote keys need a
//! tokio runtime and are fetched in the background (see
//! [`ValidatorBuilder::build`]); until they arrive, their tokens are
//! answered 503.
//!
//! ```
//! use bearer_guard::config::Config;
//!
//! let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.example.toml"));
//! let config: Config = toml::from_str(text)?;
//! assert_eq!(config.issuers.len(), 4);
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let secrets = |name: &str| match name {
//!     "PAYMENTS_INTROSPECTION_SECRET" => Some("introspection secret".to_owned()),
//!     "PAYMENTS_DPOP_NONCE_SECRET" => Some("a nonce secret of 32 characters".to_owned()),
//!     _ => None,
//! };
//! let validator = config.validator_with_env(secrets)?;
//! let layer = config.layer(validator)?;
//! # let _ = layer;
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Environment variables
//!
//! [`Config::from_env`] describes one issuer with the variables below
//! ([`from_env_with_prefix`](Config::from_env_with_prefix) replaces
//! `BEARER_GUARD`). Lists are comma-separated; flags are `true`/`false`
//! (or `1`/`0`, `yes`/`no`, `on`/`off`); durations are whole seconds;
//! empty variables count as unset, and so do empty list items (`at+jwt,`
//! is `at+jwt`). A secret `X` can instead be read from the file named by
//! `X_FILE` (as container secrets are mounted).
//!
//! Nothing set is ignored: a variable that only means something with
//! another (`BEARER_GUARD_INTROSPECTION_POLICY` without
//! `BEARER_GUARD_INTROSPECTION_CLIENT_ID`, `BEARER_GUARD_JWKS_MAX_STALE_SECONDS`
//! without a remote key source, `BEARER_GUARD_DPOP_REQUIRED=true` with
//! `BEARER_GUARD_DPOP=false`) is an error naming it. [`Config::from_env`]
//! and [`Config::from_env_with_prefix`] also refuse any variable with the
//! prefix that is not in the table below (a misspelling such as
//! `BEARER_GUARD_AUDIENCES`), except `BEARER_GUARD_CONFIG`, left to the
//! application for the path of a configuration file; with an empty prefix
//! there is no telling them from the rest of the environment, and none is
//! refused. [`Config::from_env_lookup`] cannot list the variables of its
//! source, so it refuses none either: give your names to
//! [`Config::check_env_names`] for the same check.
//!
//! | variable | field |
//! |---|---|
//! | `BEARER_GUARD_ISSUER` | `issuer` (this or `BEARER_GUARD_ISSUER_TEMPLATE` is required) |
//! | `BEARER_GUARD_ISSUER_ALSO` | `also` (list) |
//! | `BEARER_GUARD_ISSUER_TEMPLATE` | `tenant_template` |
//! | `BEARER_GUARD_TENANTS` | `tenants` (list) |
//! | `BEARER_GUARD_TENANT_CLAIM` | `tenant_claim` |
//! | `BEARER_GUARD_MAX_TENANTS` | `max_tenants` |
//! | `BEARER_GUARD_AUDIENCE` | `audiences` (list) |
//! | `BEARER_GUARD_ALLOWED_CLIENT_IDS` | `allowed_client_ids` (list) |
//! | `BEARER_GUARD_ALGORITHMS` | `algorithms` (list) |
//! | `BEARER_GUARD_TYP` | `typ`: `default`, `rfc9068`, or a list of types where `none` accepts tokens without `typ` (`at+jwt,none`) |
//! | `BEARER_GUARD_RFC9068` | `rfc9068` (flag) |
//! | `BEARER_GUARD_REQUIRE_CLAIMS` | `require_claims` (list) |
//! | `BEARER_GUARD_REQUIRE_CLAIM_EQUALS` | `require_claim_equals`: `NAME=VALUE,...` |
//! | `BEARER_GUARD_ROLES_FROM`, `BEARER_GUARD_PERMISSIONS_FROM` | `roles_from`, `permissions_from` (lists) |
//! | `BEARER_GUARD_JWKS_URL` | `jwks_url` |
//! | `BEARER_GUARD_JWKS_FILE` | `jwks_file` |
//! | `BEARER_GUARD_JWKS` | `jwks` (the JSON document) |
//! | `BEARER_GUARD_DISCOVER` | `discover` (flag) |
//! | `BEARER_GUARD_PEM_FILE`, `BEARER_GUARD_PEM_KID` | `pem_file`, `pem_kid` |
//! | `BEARER_GUARD_HMAC_SECRET` (or `_FILE`), `BEARER_GUARD_HMAC_ALGORITHM`, `BEARER_GUARD_HMAC_KID` | `hmac` |
//! | `BEARER_GUARD_LEEWAY_SECONDS` | `leeway_seconds` |
//! | `BEARER_GUARD_MAX_TOKEN_SIZE` | `max_token_size` |
//! | `BEARER_GUARD_TOKEN_CACHE_CAPACITY` | `token_cache_capacity` |
//! | `BEARER_GUARD_ALLOW_INSECURE_HTTP` | `allow_insecure_http` (flag) |
//! | `BEARER_GUARD_JWKS_FETCH_TIMEOUT_SECONDS`, `_JWKS_COOLDOWN_SECONDS`, `_JWKS_DEFAULT_REFRESH_SECONDS`, `_JWKS_MIN_REFRESH_SECONDS`, `_JWKS_MAX_REFRESH_SECONDS`, `_JWKS_MAX_STALE_SECONDS`, `_JWKS_RETRY_MIN_SECONDS`, `_JWKS_RETRY_MAX_SECONDS`, `_JWKS_MAX_SIZE`, `_JWKS_MAX_KEYS`, `_JWKS_MAX_METADATA_SIZE` | `[jwks_cache]` |
//! | `BEARER_GUARD_INTROSPECTION_CLIENT_ID` | `[introspection] client_id` (turns introspection on) |
//! | `BEARER_GUARD_INTROSPECTION_URL` | `endpoint` (unset: discovered) |
//! | `BEARER_GUARD_INTROSPECTION_CLIENT_SECRET` (or `_FILE`) | `client_secret` |
//! | `BEARER_GUARD_INTROSPECTION_AUTH_METHOD` | `auth_method` |
//! | `BEARER_GUARD_INTROSPECTION_PRIVATE_KEY` (or `_FILE`), `_INTROSPECTION_PRIVATE_KEY_ALGORITHM`, `_INTROSPECTION_PRIVATE_KEY_ID` | `private_key`, `private_key_algorithm`, `private_key_id` |
//! | `BEARER_GUARD_INTROSPECTION_POLICY` | `policy` |
//! | `BEARER_GUARD_INTROSPECTION_MAY_OMIT` | `may_omit` (list) |
//! | `BEARER_GUARD_DPOP` | `[dpop]` on (flag; `false` with another DPoP variable set is an error) |
//! | `BEARER_GUARD_DPOP_REQUIRED` | `required` (flag; `true` turns DPoP on) |
//! | `BEARER_GUARD_DPOP_NONCE` | `nonce` (flag) |
//! | `BEARER_GUARD_DPOP_NONCE_SECRET` (or `_FILE`) | `nonce_secret` |
//! | `BEARER_GUARD_DPOP_ALGORITHMS` | `algorithms` (list) |
//! | `BEARER_GUARD_DPOP_MAX_AGE_SECONDS` | `max_age_seconds` |
//! | `BEARER_GUARD_REALM` | `[layer] realm` |
//! | `BEARER_GUARD_PUBLIC_URL` | `public_url` |
//! | `BEARER_GUARD_TRUST_HOST_HEADER` | `trust_host_header` |
//! | `BEARER_GUARD_ALLOW_ANONYMOUS` | `allow_anonymous` (flag) |
//! | `BEARER_GUARD_ALLOW_QUERY_PARAMETER` | `allow_query_parameter` (flag) |
//! | `BEARER_GUARD_TOKEN_HEADER` | `token_header` |
//! | `BEARER_GUARD_TOKEN_COOKIE` | `token_cookie` |
//!
//! ```
//! use bearer_guard::config::Config;
//!
//! let env = |name: &str| match name {
//!     "BEARER_GUARD_ISSUER" => Some("https://auth.example.com/".to_owned()),
//!     "BEARER_GUARD_AUDIENCE" => Some("payments, billing".to_owned()),
//!     "BEARER_GUARD_JWKS_URL" => Some("https://auth.example.com/jwks.json".to_owned()),
//!     _ => None,
//! };
//! // Config::from_env() reads the process environment instead.
//! let config = Config::from_env_lookup("BEARER_GUARD", env)?;
//! assert_eq!(config.issuers[0].audiences, ["payments", "billing"]);
//! # Ok::<(), bearer_guard::config::ConfigError>(())
//! ```

use serde::Deserialize;

use crate::http::BearerLayer;
use crate::introspection::TokenPolicy;
use crate::validator::{Validator, ValidatorBuilder};

use self::field::{Section, Walker, secs};
use self::secret::{Lookup, process_env};

mod dpop;
mod env;
mod error;
mod field;
mod introspection;
mod issuer;
mod jwks_cache;
mod layer;
mod parse;
mod secret;
mod value;
mod vars;

pub use self::dpop::DpopConfig;
pub use self::error::{ConfigError, IssuerProblem};
pub use self::introspection::{ClientAuthMethod, IntrospectionConfig};
pub use self::issuer::{HmacConfig, IssuerConfig, MAX_TENANTS_LIMIT};
pub use self::jwks_cache::JwksCacheConfig;
pub use self::layer::LayerConfig;
pub use self::secret::{MAX_SECRET_FILE_SIZE, Secret, SecretError};

/// The prefix of the variables [`Config::from_env`] reads: `BEARER_GUARD`.
pub const DEFAULT_ENV_PREFIX: &str = "BEARER_GUARD";

/// A validator and its layer, as an operator describes them: deserialize
/// it from a file (see the [module documentation](self) for every field),
/// or read it from the environment with [`Config::from_env`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The trusted issuers (`[[issuers]]`), at least one.
    pub issuers: Vec<IssuerConfig>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds
    /// ([`ValidatorBuilder::leeway`]); 0 allows no skew.
    pub leeway_seconds: Option<u64>,
    /// Largest token accepted, in bytes ([`ValidatorBuilder::max_token_size`]);
    /// not 0.
    pub max_token_size: Option<usize>,
    /// Capacity of the verified-token cache
    /// ([`ValidatorBuilder::token_cache_capacity`]); 0 turns it off.
    pub token_cache_capacity: Option<u64>,
    /// Plain `http://` URLs allowed
    /// ([`ValidatorBuilder::allow_insecure_http`]).
    pub allow_insecure_http: bool,
    /// Settings of every issuer's remote key cache (an error when no
    /// issuer has `jwks_url` or `discover`).
    pub jwks_cache: Option<JwksCacheConfig>,
    /// RFC 7662 introspection of opaque tokens.
    pub introspection: Option<IntrospectionConfig>,
    /// DPoP-bound tokens (RFC 9449).
    pub dpop: Option<DpopConfig>,
    /// The options of the layer ([`Config::layer`]).
    pub layer: Option<LayerConfig>,
}

impl Section for Config {
    type Target = ValidatorBuilder;
    type Error = ConfigError;

    // The tables (`issuers`, `jwks_cache`, `introspection`, `dpop`,
    // `layer`) are sections of their own, built in `builder_dyn`.
    fn fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("leeway_seconds", |c| &mut c.leeway_seconds)
                .var("LEEWAY_SECONDS")
                .set(|b, s| b.leeway(secs(*s))),
        )
        .field(
            Self::option("max_token_size", |c| &mut c.max_token_size)
                .var("MAX_TOKEN_SIZE")
                .not_zero("every token would be refused")
                .set(|b, n| b.max_token_size(*n)),
        )
        .field(
            Self::option("token_cache_capacity", |c| &mut c.token_cache_capacity)
                .var("TOKEN_CACHE_CAPACITY")
                .set(|b, n| b.token_cache_capacity(*n)),
        )
        .field(
            Self::option("allow_insecure_http", |c| &mut c.allow_insecure_http)
                .var("ALLOW_INSECURE_HTTP")
                .set(|b, _| b.allow_insecure_http()),
        )
    }
}

impl Config {
    /// Builds the validator; [`Secret::Env`] secrets come from the process
    /// environment.
    ///
    /// Remote keys (`jwks_url`, `discover`) need a tokio runtime: build
    /// within one. Building waits for no server: keys are fetched in the
    /// background ([`ValidatorBuilder::build`]); await
    /// [`Validator::ready`] to fail at start-up instead.
    pub fn validator(&self) -> Result<Validator, ConfigError> {
        self.validator_with_env(process_env)
    }

    /// [`validator`](Self::validator), with `env` as the environment of
    /// [`Secret::Env`] secrets.
    pub fn validator_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Validator, ConfigError> {
        Ok(self.builder_dyn(&env)?.build()?)
    }

    /// The [`ValidatorBuilder`] this configuration describes, to add what a
    /// file cannot hold (a clock, a shared store) before
    /// [`build`](ValidatorBuilder::build).
    pub fn builder(&self) -> Result<ValidatorBuilder, ConfigError> {
        self.builder_with_env(process_env)
    }

    /// [`builder`](Self::builder), with `env` as the environment of
    /// [`Secret::Env`] secrets.
    pub fn builder_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ValidatorBuilder, ConfigError> {
        self.builder_dyn(&env)
    }

    fn builder_dyn(&self, env: Lookup<'_>) -> Result<ValidatorBuilder, ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        if let Some((field, why)) = self.first_zero() {
            return Err(ConfigError::Zero { field, why });
        }
        if let Some(cache) = &self.jwks_cache {
            if !self.issuers.iter().any(IssuerConfig::is_remote) {
                return Err(ConfigError::Requires {
                    field: "jwks_cache",
                    needs: "an issuer with jwks_url or discover (it configures remote key caches only)",
                });
            }
            if let Some((field, why)) = cache.first_zero() {
                return Err(ConfigError::Zero { field, why });
            }
        }
        let introspect_all = self
            .introspection
            .as_ref()
            .is_some_and(|i| i.policy == Some(TokenPolicy::IntrospectAll));
        let cache = self.jwks_cache.clone().unwrap_or_default();
        let mut builder = Validator::builder();
        for (i, issuer) in self.issuers.iter().enumerate() {
            let keyless = i == 0 && introspect_all;
            let built =
                issuer
                    .issuer(&cache, keyless, env)
                    .map_err(|problem| ConfigError::Issuer {
                        index: i.saturating_add(1),
                        name: issuer.label(),
                        problem,
                    })?;
            builder = builder.trust(built);
        }
        builder = self.apply(builder)?;
        if let Some(introspection) = &self.introspection {
            builder = builder.introspection(introspection.build(env)?);
        }
        if let Some(dpop) = &self.dpop
            && dpop.enabled != Some(false)
        {
            builder = builder.dpop(dpop.build(env)?);
        }
        Ok(builder)
    }

    /// A [`BearerLayer`] validating with `validator`, with the `[layer]`
    /// options.
    pub fn layer(&self, validator: Validator) -> Result<BearerLayer, ConfigError> {
        self.layer.clone().unwrap_or_default().build(validator)
    }
}
