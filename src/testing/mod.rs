//! Test helpers (feature `testing`): a [`TestIssuer`] that stands in for your
//! authorization server in your own tests.
//!
//! It generates real keys, publishes their JWKS, and mints tokens with any
//! claims, including deliberately broken ones (expired, wrong audience,
//! unsigned, tampered, signed by a stranger's key, HMAC-signed with a public
//! key...). Never enable this feature in production builds: it exists to
//! forge tokens.
//!
//! [`TestIssuer::serve`] runs the issuer as an authorization server on
//! 127.0.0.1 ([`TestAuthorizationServer`]: discovery, JWKS, a
//! client-credentials token endpoint, introspection), for tests of the
//! configuration production uses, with switches for key rotation and
//! failures.
//!
//! ```
//! use bearer_guard::testing::TestIssuer;
//! use bearer_guard::ValidationError;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let issuer = TestIssuer::new().default_audience("payments");
//! let validator = issuer.validator();
//!
//! let good = issuer.token().scope("charge:customer").sign();
//! assert!(validator.validate(&good).await.is_ok());
//!
//! let expired = issuer.token().expires_in(-3600).sign();
//! assert_eq!(validator.validate(&expired).await.unwrap_err(), ValidationError::Expired);
//! # });
//! ```

#[cfg(test)]
mod cache_tests;
mod issuer;
mod oauth;
mod server;

pub use crate::clock::ManualClock;
pub use issuer::{
    DEFAULT_AUDIENCE, DEFAULT_ISSUER, DpopKey, ProofBuilder, TestIssuer, TestKey, TokenBuilder,
};
pub use oauth::ClientRegistration;
pub use server::{Endpoint, Failure, RecordedRequest, TestAuthorizationServer};
