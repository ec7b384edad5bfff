//! Why talking to the authorization server failed: fetching a document,
//! discovery, and the remote key set. Every variant carries data a caller
//! can match, never a message to parse.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::url::EndpointUrl;
use crate::keys::{JwksError, KeyError};

/// A transport failure, as reported by the HTTP client: its
/// [`source`](std::error::Error::source) chain holds the details (DNS,
/// connection, TLS, protocol). `Display` prints that chain on one line.
#[derive(Clone)]
pub struct TransportError(Arc<reqwest::Error>);

impl TransportError {
    /// The client's error without its URL, which may hold credentials
    /// (the URL is reported redacted by the error that wraps this one).
    pub(crate) fn new(error: reqwest::Error) -> Self {
        TransportError(Arc::new(error.without_url()))
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TransportError {
    /// The causes, one line. reqwest's own message only repeats the URL,
    /// which the caller reports already.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut source = std::error::Error::source(&*self.0);
        if source.is_none() {
            return fmt::Display::fmt(&self.0, f);
        }
        let mut first = true;
        while let Some(s) = source {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            fmt::Display::fmt(s, f)?;
            source = s.source();
        }
        Ok(())
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl PartialEq for TransportError {
    /// The same failure (the same report, shared by clones).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TransportError {}

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// A redirect to another origin (scheme, host or port): the keys must
    /// come from where they were configured.
    #[error("a redirect to another origin ({to})")]
    OtherOrigin {
        /// Where the redirect pointed.
        to: EndpointUrl,
    },
    /// More redirects than allowed.
    #[error("more than {limit} redirects")]
    TooMany {
        /// The limit.
        limit: usize,
    },
}

/// Why fetching a document from the authorization server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No complete answer within the fetch timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection could not be made (refused, DNS, TLS).
    #[error("cannot connect: {0}")]
    Connect(TransportError),
    /// The server answered with an unexpected status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is larger than the limit; reading stopped there.
    #[error("response body over the {0}-byte limit")]
    TooLarge(usize),
    /// A redirect was refused.
    #[error("redirect refused: {0}")]
    Redirect(RedirectError),
    /// The URL is not `https` (and plain HTTP was not allowed), or not a URL.
    #[error("refused URL {0}: only https is allowed (see ValidatorBuilder::allow_insecure_http)")]
    InsecureUrl(EndpointUrl),
    /// Any other transport failure (the connection broke mid-answer, a
    /// protocol error).
    #[error("{0}")]
    Transport(TransportError),
    /// The HTTP client could not be built (TLS roots, say).
    #[error("cannot build the HTTP client: {0}")]
    Client(TransportError),
}

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer is not a usable URL (or not https when https is required).
    #[error("issuer {0:?} is not an https URL (see ValidatorBuilder::allow_insecure_http)")]
    InvalidIssuer(String),
    /// Neither metadata location answered with a document.
    #[error("cannot fetch metadata from {url}: {source}")]
    Fetch {
        /// The last URL tried.
        url: EndpointUrl,
        /// What went wrong.
        source: FetchError,
    },
    /// The document is not a JSON object with a string `issuer`.
    #[error("metadata at {url} is not valid: {reason}")]
    Invalid {
        /// Where it came from.
        url: EndpointUrl,
        /// Why it is invalid.
        reason: InvalidMetadata,
    },
    /// The document names another issuer.
    #[error("metadata names issuer {found:?}, but {expected:?} is configured (they must be equal)")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's `issuer`.
        found: String,
    },
    /// The document has no `jwks_uri`.
    #[error("metadata of {0:?} has no jwks_uri")]
    NoJwksUri(String),
}

/// What is wrong with a metadata document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMetadata {
    /// Not a complete, valid UTF-8 JSON object.
    #[error("not a JSON object")]
    NotJsonObject,
    /// A top-level member appears twice.
    #[error("a member appears twice")]
    DuplicateMember,
    /// A member the crate reads has the wrong type (`issuer` must be a
    /// string, the endpoints strings).
    #[error("member `{0}` is missing or not a string")]
    Member(&'static str),
}

/// Why the remote key set could not be fetched or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// Discovery failed.
    #[error("discovery: {0}")]
    Discovery(#[from] DiscoveryError),
    /// Fetching the JWKS failed.
    #[error("fetching JWKS from {url}: {source}")]
    Fetch {
        /// The JWKS URL.
        url: EndpointUrl,
        /// What went wrong.
        source: FetchError,
    },
    /// The JWKS document is invalid.
    #[error("JWKS from {url}: {source}")]
    Jwks {
        /// The JWKS URL.
        url: EndpointUrl,
        /// What is wrong with it.
        source: JwksError,
    },
    /// The JWKS has no key this crate can verify with.
    #[error("JWKS from {url} has no usable key ({} refused)", .rejected.len())]
    NoUsableKeys {
        /// The JWKS URL.
        url: EndpointUrl,
        /// Why each key was refused, as `(kid, reason)`.
        rejected: Vec<(Option<String>, KeyError)>,
    },
    /// The validator was dropped before any attempt finished.
    #[error("the key source stopped before its first fetch finished")]
    Stopped,
}
