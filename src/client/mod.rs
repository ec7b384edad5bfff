//! The calling side (feature `client`): a [`TokenSource`] that obtains and
//! keeps fresh the access token a service sends (the client-credentials
//! grant, RFC 6749 §4.4, or a user's refresh token, §6), the outbound
//! [`AuthorizeLayer`] that attaches it, and the values a login redirect
//! needs ([`login`]). Built on the crate's network machinery; knows nothing
//! of the resource-server side.

pub(crate) mod id_token;
pub mod login;
pub(crate) mod outbound;
pub(crate) mod token;

pub use id_token::{IdTokenError, IdTokenVerifier, IdTokenVerifierBuilder};
pub use outbound::{Authorize, AuthorizeLayer, AuthorizeRetry, AuthorizeRetryLayer};
pub use token::{AccessToken, TokenError, TokenSource, TokenSourceBuilder};
