//! HTTP: taking the token off a request ([`extract`]), the tower middleware
//! ([`layer`], [`scope`]) and how refusals answer ([`response`], RFC 6750).
//! Knows the validator and the claims; the validator knows nothing of this.

pub(crate) mod body;
pub(crate) mod extract;
pub(crate) mod layer;
pub(crate) mod metadata;
pub(crate) mod require;
pub(crate) mod response;
pub(crate) mod scope;

pub use body::{EmptyBody, ErrorBody, ProblemJson};
pub use layer::{Anonymous, Bearer, BearerFuture, BearerLayer, ClientCertificate};
pub use metadata::ResourceMetadata;
pub use require::{Require, RequireFuture, RequireLayer, Requirement};
pub use response::{AuthError, RequestError};
