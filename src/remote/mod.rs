//! The authorization server over the network (feature `remote`): fetching
//! small documents safely ([`fetch`]), OpenID Connect / RFC 8414 metadata
//! ([`discovery`]), and the refreshing JWKS cache ([`jwks`]), with their
//! one public error, [`RemoteError`] ([`error`]). Knows keys and the clock; knows nothing of tokens,
//! validators or middleware.

pub(crate) mod discovery;
pub(crate) mod error;
pub(crate) mod fetch;
pub(crate) mod jwks;
pub(crate) mod url;

pub use discovery::IssuerMetadata;
pub(crate) use error::FetchError;
pub use error::RemoteError;
pub use jwks::KeySourceUpdates;
pub use jwks::options::JwksOptions;
pub use jwks::stats::{KeySourceStats, KeyStatus};
pub use url::EndpointUrl;
