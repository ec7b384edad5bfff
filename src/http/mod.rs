//! HTTP: taking the token off a request ([`extract`]), the tower middleware
//! ([`layer`], [`scope`]) and how refusals answer ([`response`], RFC 6750).
//! Knows the validator and the claims; the validator knows nothing of this.

pub(crate) mod body;
pub mod extract;
pub(crate) mod layer;
pub(crate) mod metadata;
pub(crate) mod require;
pub(crate) mod response;
pub(crate) mod scope;

pub use body::{EmptyBody, ErrorBody, PROBLEM_JSON, ProblemJson};
pub use layer::{Anonymous, BearerLayer, BearerResponseFuture, BearerService, ClientCertificate};
pub use metadata::{ResourceMetadata, WELL_KNOWN_PATH};
pub use require::{
    Require, RequireFuture, RequireLayer, RequireScopeLayer, Requirement, RequirementError,
};
pub use response::{AuthError, InvalidRealm, InvalidUrl, RequestError};
pub use scope::{ScopeError, ScopeRequirement};
