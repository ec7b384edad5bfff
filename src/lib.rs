//! OAuth 2.0 bearer-token protection for Rust HTTP APIs.
//!
//! `bearer-guard` is the resource-server side of OAuth 2.0: a tower
//! [`BearerLayer`] takes the `Authorization: Bearer` token off each request
//! (RFC 6750), validates it as a JWT access token (RFC 9068) against your
//! authorization server's keys, puts the verified [`Claims`] in the request
//! extensions, and answers failures with the status and `WWW-Authenticate`
//! challenge RFC 6750 §3 prescribes. Routes declare what they need (scopes,
//! roles, predicates) with a [`RequireLayer`] of a [`Requirement`].
//!
//! # Quickstart (axum)
//!
//! What most users have is their authorization server's issuer URL: the
//! keys are found by discovery (OpenID Connect, then RFC 8414) and kept
//! fresh in the background.
//!
//! ```no_run
//! use axum::{Json, Router, routing::{get, post}};
//! use bearer_guard::{BearerLayer, Claims, RequireLayer, Requirement, Validator};
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
//!     .route_layer(RequireLayer::new(Requirement::scopes_all(["charge:customer"])))
//!     .route("/me", get(|claims: Claims| async move { Json(claims) }))
//!     .layer(BearerLayer::new(validator).realm("payments"));
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
//! - DPoP (RFC 9449): [`ValidatorBuilder::dpop`] with [`dpop::DpopOptions`]; the
//!   layer then accepts `Authorization: DPoP` with its `DPoP` proof, and
//!   [`Validator::validate_dpop`] does the same without HTTP.
//! - Certificate-bound tokens (RFC 8705): an [`extract::ClientCertificate`] in the
//!   request extensions, or [`Validator::validate_with_certificate`].
//! - [`metadata::ResourceMetadata`] (RFC 9728), served at its well-known paths and
//!   named in every challenge by [`BearerLayer::resource_metadata`].
//! - Step-up (RFC 9470): [`Requirement::acr_values`],
//!   [`Requirement::max_auth_age`].
//! - Feature `redis`: [`redis::RedisStore`] shares the DPoP replay cache and the
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
//! | `redis` | no | [`redis::RedisStore`]: the DPoP replay cache and the introspection cache shared by a fleet of replicas |
//! | `config` | no | [`config::Config`]: the validator and the layer from a TOML, JSON or YAML file, or the environment |
//! | `metrics` | no | counters and histograms through the `metrics` facade ([`guide::operations`]) |
//! | `testing` | no | [`testing::TestIssuer`]: generate keys, mint any token; [`testing::TestAuthorizationServer`]: the issuer served on loopback (discovery, JWKS, client credentials, introspection, failure switches); `ManualClock` (turns on `remote`) |
//!
//! # Where things are
//!
//! The root holds what a first application needs: the [`Validator`] and
//! its [`ValidatorBuilder`] (with [`Issuer`] for several issuers), the
//! [`Claims`], the [`BearerLayer`] and its service [`Bearer`], the
//! [`RequireLayer`] / [`Require`] pair with its [`Requirement`], the errors
//! a handler sees ([`AuthError`], [`ValidationError`]), the one
//! construction error ([`BuildError`]) and the [`Clock`]. Everything else
//! is in a module named for its concern:
//!
//! | module | what it holds |
//! |---|---|
//! | [`claims`] | scopes, roles, where roles are read from |
//! | [`extract`] | token readers, `TypedClaims`, the request-extension markers |
//! | [`response`] | refusal bodies ([`response::ProblemJson`], your own [`response::ErrorBody`]) |
//! | [`future`] | the middleware's response futures |
//! | [`keys`] | algorithms, key sets, signing keys |
//! | [`jwt`] | what a malformed token is, the `typ` policy, a token decoded unverified |
//! | [`dpop`] | DPoP options and refusals |
//! | `jwks` | (feature `remote`) remote key sets, discovery, `RemoteError` (what went wrong talking to the authorization server) |
//! | `introspection` | (feature `remote`) RFC 7662 for opaque tokens |
//! | [`metadata`] | RFC 9728 resource metadata |
//! | [`health`] | what the validator can verify now |
//! | [`report`] | which checks a validation passed, failed, never reached |
//! | `redis` | (feature `redis`) state shared by replicas |
//! | [`limits`] | every named limit and default |
//! | `client`, `config`, `testing` | the calling side, configuration files, test kit (features) |
//!
//! Middleware follows tower-http's naming: `XLayer` makes the service `X`,
//! whose future is `future::XFuture`. Constructors made for literals
//! (`realm("payments")`, `Requirement::scopes_all(["read"])`) need no `?`:
//! a mistake in a literal panics where it is written, with its reason, as
//! `axum::Router::route` does; their `try_` twins return a [`BuildError`]
//! for values read at run time.
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
pub mod limits;
mod telemetry;
// Keys and tokens.
pub mod claims;
pub mod dpop;
pub mod jwt;
pub mod keys;
// The network.
#[cfg(feature = "remote")]
pub mod introspection;
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
#[cfg(feature = "mcp")]
pub mod mcp;
// Documentation.
pub mod guide;
// Tests.
#[cfg(feature = "testing")]
pub mod testing;
// The Wycheproof vectors drive the JWS verifier itself (below the claims,
// which the vectors' payloads are not): a test of crate internals, kept
// with its vectors in tests/, compiled with the unit tests.
#[cfg(test)]
#[path = "../tests/vectors/wycheproof.rs"]
mod wycheproof;

// What a first application needs; everything else is in the modules below.
pub use claims::Claims;
pub use clock::Clock;
pub use http::Bearer;
pub use http::{AuthError, BearerLayer, Require, RequireLayer, Requirement};
pub use validator::{BuildError, Issuer, ValidationError, Validator, ValidatorBuilder};

pub mod extract {
    //! Where the layer finds the token, and what it leaves in the request
    //! for the handler: the token readers (RFC 6750 §2, RFC 9449), the
    //! extractors beside [`Claims`](crate::Claims), and the markers in the
    //! request extensions.
    #[cfg(feature = "axum")]
    pub use crate::axum::{ClaimsRejection, TypedClaims};
    pub use crate::http::extract::{
        bearer_token, cookie_token, dpop_proof, header_token, is_b64token, query_token,
    };
    pub use crate::http::{Anonymous, ClientCertificate};
}

pub mod future {
    //! The response futures of the crate's middleware
    //! ([`BearerLayer`](crate::BearerLayer) and
    //! [`RequireLayer`](crate::RequireLayer)), named so that a service
    //! built on them can be named in turn.
    pub use crate::http::{BearerFuture, RequireFuture};
}

pub mod response {
    //! The body of a refusal: [`EmptyBody`] (the default, RFC 6750 asks for
    //! none), [`ProblemJson`] (RFC 9457), or your own [`ErrorBody`]; and
    //! [`RequestError`], the ways a request's credentials can be malformed.
    pub use crate::http::{EmptyBody, ErrorBody, ProblemJson, RequestError};
}

pub mod metadata {
    //! The resource describes itself (RFC 9728): [`ResourceMetadata`].
    pub use crate::http::ResourceMetadata;
}

pub mod report {
    //! What a validation checked, in the validator's order, for diagnostic
    //! tools and tests: [`Validator::validate_with_report`](crate::Validator::validate_with_report)
    //! returns a [`Report`] of every [`Check`] with its [`Outcome`].
    pub use crate::validator::{Check, Outcome, Report};
}

pub mod health {
    //! What a [`Validator`](crate::Validator) can verify now, for readiness
    //! probes: [`Validator::health`](crate::Validator::health).
    pub use crate::validator::{Health, HealthStatus, IssuerHealth};
}

#[cfg(feature = "remote")]
pub mod jwks {
    //! Keys from the network (feature `remote`): the refreshing JWKS cache's
    //! options, each issuer's key set ([`RemoteKeys`], from
    //! [`Validator::remote_keys`](crate::Validator::remote_keys)) with its
    //! statistics and the metadata found by discovery, and
    //! [`RemoteError`], the one error for whatever goes wrong talking to
    //! the authorization server (keys, metadata, introspection and token
    //! endpoint calls), asked with predicates (`is_timeout()`, `status()`...).
    pub use crate::remote::{
        EndpointUrl, IssuerMetadata, JwksOptions, KeySourceStats, KeySourceUpdates, KeyStatus,
        RemoteError,
    };
    pub use crate::validator::RemoteKeys;
}

#[cfg(feature = "redis")]
pub mod redis {
    //! State shared by a fleet of replicas on Redis (feature `redis`): the
    //! DPoP replay cache and the introspection cache.
    pub use crate::store::{RedisStore, StoreError};
}

#[cfg(fuzzing)]
#[doc(hidden)]
pub use introspection::fuzz_introspection_response;

/// Every Rust snippet of README.md, compiled (and run where it can be) as
/// a doctest, so that none can drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
