//! The calling side (feature `client`): a [`TokenSource`] that obtains and
//! keeps fresh the access token a service sends (the client-credentials
//! grant, RFC 6749 §4.4, or a user's refresh token, §6), the outbound
//! [`AuthorizeLayer`] that attaches it, a [`ResourceClient`] that finds
//! its own way from a protected resource's URL to a token for it (RFC
//! 9728, RFC 8414: what an MCP client does), the [`Challenge`]s of a
//! `WWW-Authenticate` header, and the values a login redirect needs
//! ([`login`]). Built on the crate's network machinery; knows nothing
//! of the resource-server side.

pub(crate) mod challenge;
pub(crate) mod id_token;
pub mod login;
pub(crate) mod outbound;
pub(crate) mod resource;
pub(crate) mod token;

pub use challenge::Challenge;
pub use id_token::{IdTokenError, IdTokenVerifier, IdTokenVerifierBuilder};
pub use outbound::{Authorize, AuthorizeLayer, AuthorizeRetry, AuthorizeRetryLayer};
pub use resource::{ProtectedResource, ResourceClient, ResourceClientBuilder, ResourceError};
pub use token::{AccessToken, TokenError, TokenSource, TokenSourceBuilder};
