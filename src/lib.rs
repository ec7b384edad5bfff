//! OAuth 2.0 bearer-token protection for Rust HTTP APIs.
//!
//! `bearer-guard` is the resource-server side of OAuth 2.0: a tower
//! [`BearerLayer`] takes the `Authorization: Bearer` token off each request
//! (RFC 6750), validates it as a JWT access token (RFC 9068) against your
//! authorization server's keys, puts the verified [`Claims`] in the request
//! extensions, and answers failures with the status and `WWW-Authenticate`
//! challenge RFC 6750 §3 prescribes. Routes declare the scopes they need with
//! [`RequireScopeLayer`].
//!
//! # Quickstart (axum)
//!
//! What most users have is their authorization server's issuer URL: the
//! keys are found by discovery (OpenID Connect, then RFC 8414) and kept
//! fresh in the background.
//!
//! ```no_run
//! use axum::{Json, Router, routing::{get, post}};
//! use bearer_guard::{BearerLayer, Claims, RequireScopeLayer, Validator};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = Validator::builder()
//!     .issuer("https://auth.example.com/")          // exact `iss`
//!     .audience("https://payments.example.com")     // must be in `aud`
//!     .discover()                                   // keys from the issuer's metadata
//!     .build()?;
//! validator.ready().await?;                         // optional: wait for the first key set
//!
//! let app = Router::new()
//!     .route("/charge", post(|claims: Claims| async move {
//!         format!("charged on behalf of {:?}", claims.client_id())
//!     }))
//!     .route_layer(RequireScopeLayer::all(["charge:customer"])?)
//!     .route("/me", get(|claims: Claims| async move { Json(claims) }))
//!     .layer(BearerLayer::new(validator).realm("payments")?);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Other key sources, instead of `discover()`:
//! [`jwks_url`](ValidatorBuilder::jwks_url) (a JWKS URL, refreshed),
//! [`jwks_file`](ValidatorBuilder::jwks_file) and
//! [`jwks_json`](ValidatorBuilder::jwks_json) (a JWKS document),
//! [`pem_public_key`](ValidatorBuilder::pem_public_key),
//! [`hmac_secret`](ValidatorBuilder::hmac_secret); several issuers with
//! [`trust`](ValidatorBuilder::trust); opaque tokens with
//! [`introspection`](ValidatorBuilder::introspection). The [`guide`]
//! covers hyper, tonic, testing, the providers and operations.
//!
//! Without tower, call [`Validator::validate`] yourself (from a gRPC
//! interceptor, a queue consumer, a test).
//!
//! # Sender-constrained tokens, self-description, fleets
//!
//! - DPoP (RFC 9449): [`ValidatorBuilder::dpop`] with [`DpopOptions`]; the
//!   layer then accepts `Authorization: DPoP` with its `DPoP` proof, and
//!   [`Validator::validate_dpop`] does the same without HTTP.
//! - Certificate-bound tokens (RFC 8705): a [`ClientCertificate`] in the
//!   request extensions, or [`Validator::validate_with_certificate`].
//! - [`ResourceMetadata`] (RFC 9728), served at its well-known paths and
//!   named in every challenge by [`BearerLayer::resource_metadata`].
//! - Step-up (RFC 9470): [`Requirement::acr_values`],
//!   [`Requirement::max_auth_age`].
//! - Feature `redis`: `RedisStore` shares the DPoP replay cache and the
//!   introspection cache across replicas.
//!
//! # Security defaults
//!
//! - Asymmetric algorithms only; `none` never; HMAC only with a secret you
//!   configure ([`ValidatorBuilder::hmac_secret`]); each key verifies only the
//!   algorithms its JWK `alg` (or else its `kty`/`crv`) allows.
//! - Keys are never taken from the token: `jwk`, `jku`, `x5u`, `x5c` headers
//!   are ignored; an unknown `crit` is refused.
//! - `iss` must match exactly, `aud` must contain a configured audience,
//!   `exp` is required; 60 s leeway for `exp`, `nbf` and `iat`.
//! - Keys belong to an issuer (RFC 8725 §3.8): several issuers with one key
//!   set are refused at build time unless declared names of one server
//!   ([`ValidatorBuilder::issuers_share_keys`]).
//! - A cached verification is only as good as its key: a cache hit counts
//!   only while the key that verified the token (its RFC 7638 thumbprint)
//!   is in the current key set.
//! - Header and claims must be completely valid UTF-8 JSON, unused members
//!   included; untrusted input never panics (clippy denies slicing,
//!   indexing, `unwrap`, `expect` and `panic!` in this crate).
//! - Tokens over 16 KiB are refused before any decoding. With one issuer,
//!   nothing is parsed from the payload before the signature verifies;
//!   with several, the payload is parsed only to read `iss` (and a tenant
//!   template's tenant claim), which chooses whose keys to verify with;
//!   nothing in it is trusted before the signature verifies.
//! - RSA keys under 2048 bits, EC points off their curve and keys whose
//!   `use`/`key_ops` exclude verification are refused when loaded.
//! - A token bound to a key (`cnf`) is accepted only with proof of that key
//!   (its DPoP proof, its client certificate); presented as a plain bearer
//!   token it is refused; a binding this crate cannot check is refused.
//! - Responses never echo the token; tokens are never logged.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | yes | [`Claims`] and `Option<Claims>` extractors, `IntoResponse` for [`AuthError`] |
//! | `remote` | yes | keys from the network (`jwks_url`, `discover`: a refreshing JWKS cache) and RFC 7662 introspection of opaque tokens (reqwest with rustls, tokio) |
//! | `client` | no | [`client`]: a `TokenSource` (client credentials, refresh tokens) with an outbound layer, and the values a login redirect needs |
//! | `redis` | no | [`RedisStore`]: the DPoP replay cache and the introspection cache shared by a fleet of replicas |
//! | `config` | no | [`config::Config`]: the validator and the layer from a TOML, JSON or YAML file, or the environment |
//! | `metrics` | no | counters and histograms through the `metrics` facade ([`guide::operations`]) |
//! | `cli` | no | the `bearer-guard` command: `inspect` and `verify` a token |
//! | `testing` | no | [`testing::TestIssuer`]: generate keys, publish a JWKS, mint any token; `ManualClock`, `SigningKey::generate` |
//!
//! # Layout
//!
//! Imports run downward; no module imports one above it, and there is no
//! import loop (`tests/architecture.rs` checks both):
//!
//! | layer | modules |
//! |---|---|
//! | leaves | `clock` (time and leeway rules), `json` (strict JSON), `digest` |
//! | keys | `keys/`: algorithm, error, jwk (one key), set (lookup), signing |
//! | tokens | `jwt` (compact JWS), `claims`, `dpop/` (proofs: uri, replay, nonce) |
//! | network | `remote/`: fetch, discovery, jwks; `store` (Redis); `introspection/` |
//! | validation | `validator/`: error, builder, key_source, token_cache |
//! | HTTP | `http/`: extract, layer, metadata, require, scope, response; `axum` |
//! | tests | `testing` |

#![forbid(unsafe_code)]
// Untrusted input never panics: no slicing, indexing, unwrap, expect or
// panic outside tests. A provably safe case carries a local `allow` with
// its reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::string_slice,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::arithmetic_side_effects,
    )
)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Leaves.
mod clock;
mod digest;
mod file;
mod json;
mod telemetry;
// Keys and tokens.
mod claims;
mod dpop;
mod jwt;
mod keys;
// The network.
#[cfg(feature = "remote")]
mod introspection;
#[cfg(feature = "remote")]
mod remote;
#[cfg(feature = "redis")]
mod store;
// Validation.
mod validator;
// The calling side.
#[cfg(feature = "client")]
pub mod client;
// HTTP.
#[cfg(feature = "axum")]
mod axum;
mod http;
// Operations.
#[cfg(feature = "config")]
pub mod config;
// Documentation.
pub mod guide;
// Tests.
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(test)]
mod wycheproof;

pub use self::http::extract;
pub use self::http::{
    Anonymous, AuthError, BearerLayer, BearerResponseFuture, BearerService, ClientCertificate,
    EmptyBody, ErrorBody, InvalidRealm, InvalidUrl, PROBLEM_JSON, ProblemJson, RequestError,
    Require, RequireFuture, RequireLayer, RequireScopeLayer, Requirement, RequirementError,
    ResourceMetadata, ScopeError, ScopeRequirement, WELL_KNOWN_PATH,
};
#[cfg(feature = "axum")]
pub use axum::{ClaimsRejection, TypedClaims};
pub use claims::{Claims, RoleSource, Roles, Scopes};
pub use clock::Clock;
#[cfg(feature = "testing")]
pub use clock::ManualClock;
pub use dpop::{
    DEFAULT_DPOP_LEEWAY, DEFAULT_DPOP_MAX_AGE, DEFAULT_DPOP_NONCE_LIFETIME,
    DEFAULT_DPOP_REPLAY_CAPACITY, DEFAULT_MAX_DPOP_PROOF_SIZE, DpopError, DpopOptions,
    MAX_DPOP_JTI_LENGTH,
};
#[cfg(fuzzing)]
#[doc(hidden)]
pub use introspection::fuzz_introspection_response;
#[cfg(feature = "remote")]
pub use introspection::{
    ClientAuth, DEFAULT_MAX_INTROSPECTION_SIZE, Introspection, IntrospectionError,
    IntrospectionOptions, IntrospectionStats, InvalidResponse, TokenPolicy,
};
pub use jwt::{Malformed, TypPolicy};
pub use keys::{
    Algorithm, AlgorithmSet, JwksError, KeyError, KeySet, KeyType, RejectedKey, SigningKey,
    UnknownAlgorithm, VerificationKey,
};
#[cfg(feature = "remote")]
pub use remote::{
    DEFAULT_MAX_JWKS_KEYS, DEFAULT_MAX_JWKS_SIZE, DEFAULT_MAX_METADATA_SIZE, DiscoveryError,
    EndpointUrl, FetchError, InvalidMetadata, IssuerMetadata, JwksOptions, KeySourceError,
    KeySourceStats, KeySourceUpdates, KeyStatus, RedirectError, TransportError,
};
#[cfg(feature = "redis")]
pub use store::{
    DEFAULT_REDIS_NAMESPACE, DEFAULT_REDIS_TIMEOUT, REDIS_RECONNECT_DELAY, RedisStore, StoreError,
};
pub use validator::{
    BuildError, DEFAULT_LEEWAY, DEFAULT_MAX_TENANTS, DEFAULT_MAX_TOKEN_SIZE,
    DEFAULT_TOKEN_CACHE_CAPACITY, Health, HealthStatus, Issuer, IssuerHealth, MAX_JWKS_FILE_SIZE,
    MAX_PENDING_TENANTS, PENDING_TENANT_TTL, ValidationError, Validator, ValidatorBuilder,
};
