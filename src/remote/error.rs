//! Why talking to the authorization server failed: one public error,
//! [`RemoteError`], with predicates in reqwest's manner (`is_timeout()`,
//! `status()`, `url()`...), over the crate-private kinds below (fetching a
//! document, discovery, the remote key set). A caller asks the error what
//! happened; it never parses a message.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::url::EndpointUrl;
use crate::keys::{JwksError, KeyError};

/// Why talking to the authorization server failed: fetching its metadata
/// (discovery), its key set (JWKS), or calling one of its endpoints
/// (introspection, the token endpoint); or a URL refused before any call.
///
/// One type for every way it goes wrong, asked with predicates rather than
/// matched by variant (as [`reqwest::Error`] is): [`is_timeout`](Self::is_timeout),
/// [`is_connect`](Self::is_connect), [`status`](Self::status),
/// [`is_redirect`](Self::is_redirect), [`is_too_large`](Self::is_too_large),
/// [`is_insecure_url`](Self::is_insecure_url) for the transport;
/// [`is_discovery`](Self::is_discovery),
/// [`is_issuer_mismatch`](Self::is_issuer_mismatch),
/// [`is_invalid_jwks`](Self::is_invalid_jwks),
/// [`is_no_usable_keys`](Self::is_no_usable_keys) for what came back;
/// [`is_stopped`](Self::is_stopped); and [`url`](Self::url), the endpoint
/// concerned. The transport predicates hold wherever the request was for:
/// a discovery that timed out is both [`is_discovery`](Self::is_discovery)
/// and [`is_timeout`](Self::is_timeout).
///
/// `Display` is one line naming the endpoint and what went wrong, for
/// logs; URLs in it are [`EndpointUrl`]s, shown without the credentials
/// they may hold. [`source`](std::error::Error::source) is the HTTP
/// client's error for a transport failure (its chain holds the DNS, TLS or
/// I/O cause, which `Display` also prints), the [`JwksError`] for an
/// invalid key set.
///
/// Cheap to clone (one shared allocation); two errors are equal when they
/// report the same failure.
///
/// ```no_run
/// use bearer_guard::Validator;
///
/// # async fn run(validator: Validator) {
/// match validator.ready().await {
///     Ok(()) => {}
///     Err(e) if e.is_timeout() || e.is_connect() => {
///         eprintln!("authorization server unreachable, retrying in the background: {e}");
///     }
///     Err(e) if e.status().is_some_and(|s| s >= 500) => eprintln!("server error: {e}"),
///     Err(e) if e.is_issuer_mismatch() => eprintln!("check the configured issuer: {e}"),
///     Err(e) => eprintln!("keys not loaded yet: {e}"),
/// }
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteError {
    inner: Arc<Kind>,
}

impl RemoteError {
    /// A failed request to `url` outside discovery and the JWKS (an
    /// introspection or token endpoint call).
    pub(crate) fn request(url: &reqwest::Url, source: FetchError) -> Self {
        Kind::Request {
            url: Some(url.as_str().into()),
            source,
        }
        .into()
    }

    /// The key source stopped (its validator dropped) before an answer.
    pub(crate) fn stopped() -> Self {
        Kind::Stopped.into()
    }

    /// The fetch failure, wherever the request was for.
    fn fetch(&self) -> Option<&FetchError> {
        match &*self.inner {
            Kind::Discovery(DiscoveryError::Fetch { source, .. })
            | Kind::Fetch { source, .. }
            | Kind::Request { source, .. } => Some(source),
            _ => None,
        }
    }

    /// No complete answer within the timeout (the JWKS `fetch_timeout`,
    /// the introspection or token endpoint's timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self.fetch(), Some(FetchError::Timeout(_)))
    }

    /// The connection could not be made: refused, DNS, TLS. The
    /// [`source`](std::error::Error::source) chain says which.
    pub fn is_connect(&self) -> bool {
        matches!(self.fetch(), Some(FetchError::Connect(_)))
    }

    /// The HTTP status of an answer that was not the expected one (a 404
    /// for the JWKS, a 503 from the introspection endpoint, a 304 to an
    /// unconditional request); `None` when the failure was not a status.
    pub fn status(&self) -> Option<u16> {
        match self.fetch() {
            Some(FetchError::Status(code)) => Some(*code),
            _ => None,
        }
    }

    /// A redirect was refused: to another origin (the keys must come from
    /// where they were configured), or more redirects than allowed.
    pub fn is_redirect(&self) -> bool {
        matches!(self.fetch(), Some(FetchError::Redirect(_)))
    }

    /// The answer's body was over the configured size limit (`Display`
    /// names the limit); reading stopped there.
    pub fn is_too_large(&self) -> bool {
        matches!(self.fetch(), Some(FetchError::TooLarge(_)))
    }

    /// A URL was refused before any request: not `https` (and plain HTTP
    /// not allowed with
    /// [`allow_insecure_http`](crate::ValidatorBuilder::allow_insecure_http)),
    /// or not a URL at all; a configured issuer to discover included.
    pub fn is_insecure_url(&self) -> bool {
        matches!(self.fetch(), Some(FetchError::InsecureUrl(_)))
            || matches!(
                &*self.inner,
                Kind::Discovery(DiscoveryError::InvalidIssuer(_))
            )
    }

    /// Discovery failed: the issuer's metadata could not be had (any of
    /// the transport failures above, while fetching it) or was wrong (not
    /// a JSON object, another issuer, no `jwks_uri`).
    pub fn is_discovery(&self) -> bool {
        matches!(&*self.inner, Kind::Discovery(_))
    }

    /// The metadata names another issuer than the configured one (OIDC
    /// Discovery §4.3, RFC 8414 §3.3): a configuration mistake (a missing
    /// or extra trailing `/`, say), or a document that must not be
    /// trusted. `Display` names both.
    pub fn is_issuer_mismatch(&self) -> bool {
        matches!(
            &*self.inner,
            Kind::Discovery(DiscoveryError::IssuerMismatch { .. })
        )
    }

    /// The key set document is invalid (not a JWKS, too many keys...):
    /// [`source`](std::error::Error::source) is the [`JwksError`].
    pub fn is_invalid_jwks(&self) -> bool {
        matches!(&*self.inner, Kind::Jwks { .. })
    }

    /// The key set holds no key this crate can verify with (each refused,
    /// or none at all): [`rejected_keys`](Self::rejected_keys) says why.
    pub fn is_no_usable_keys(&self) -> bool {
        matches!(&*self.inner, Kind::NoUsableKeys { .. })
    }

    /// The keys of a key set with [no usable key](Self::is_no_usable_keys),
    /// each as `(kid, why it was refused)`; empty for any other error.
    pub fn rejected_keys(&self) -> &[(Option<String>, KeyError)] {
        match &*self.inner {
            Kind::NoUsableKeys { rejected, .. } => rejected,
            _ => &[],
        }
    }

    /// The key source stopped (its validator was dropped) before an
    /// attempt finished.
    pub fn is_stopped(&self) -> bool {
        matches!(&*self.inner, Kind::Stopped)
    }

    /// The URL concerned: the metadata document, the JWKS, the endpoint
    /// called, or the URL refused; `None` when there is none (the key
    /// source stopped, a discovered document without `jwks_uri`, an issuer
    /// that is not a URL). Shown without its credentials.
    pub fn url(&self) -> Option<&EndpointUrl> {
        match &*self.inner {
            Kind::Discovery(
                DiscoveryError::Fetch { url, .. } | DiscoveryError::Invalid { url, .. },
            )
            | Kind::Fetch { url, .. }
            | Kind::Jwks { url, .. }
            | Kind::NoUsableKeys { url, .. }
            | Kind::Request { url: Some(url), .. } => Some(url),
            Kind::Request {
                url: None,
                source: FetchError::InsecureUrl(url),
            } => Some(url),
            _ => None,
        }
    }
}

impl fmt::Debug for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteError")
            .field("kind", &*self.inner)
            .finish()
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.fetch() {
            Some(FetchError::Connect(e) | FetchError::Transport(e) | FetchError::Client(e)) => {
                return Some(&*e.0);
            }
            Some(_) => return None,
            None => {}
        }
        match &*self.inner {
            Kind::Jwks { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Kind> for RemoteError {
    fn from(kind: Kind) -> Self {
        RemoteError {
            inner: Arc::new(kind),
        }
    }
}

impl From<DiscoveryError> for RemoteError {
    fn from(e: DiscoveryError) -> Self {
        Kind::Discovery(e).into()
    }
}

impl From<FetchError> for RemoteError {
    /// A failure with no URL of its own to report (a URL refused, the HTTP
    /// client not built).
    fn from(source: FetchError) -> Self {
        Kind::Request { url: None, source }.into()
    }
}

/// A transport failure, as reported by the HTTP client: its
/// [`source`](std::error::Error::source) chain holds the details (DNS,
/// connection, TLS, protocol). `Display` prints that chain on one line.
#[derive(Clone)]
pub(crate) struct TransportError(Arc<reqwest::Error>);

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
pub(crate) enum RedirectError {
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
pub(crate) enum FetchError {
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
pub(crate) enum DiscoveryError {
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
pub(crate) enum InvalidMetadata {
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

/// What went wrong, behind a [`RemoteError`]: the remote key set's
/// failures (discovery, the JWKS fetch, its contents), and a request to
/// another endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Kind {
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
    /// A request other than discovery and the JWKS (an introspection or
    /// token endpoint call), or a URL refused before any request.
    #[error("{}{source}", .url.as_ref().map(|u| format!("{u}: ")).unwrap_or_default())]
    Request {
        /// The endpoint, when the request was made (a refused URL names
        /// itself).
        url: Option<EndpointUrl>,
        /// What went wrong.
        source: FetchError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn url(s: &str) -> EndpointUrl {
        EndpointUrl::new(s)
    }

    fn jwks_fetch(source: FetchError) -> RemoteError {
        Kind::Fetch {
            url: url("https://as.example/jwks"),
            source,
        }
        .into()
    }

    fn metadata_fetch(source: FetchError) -> RemoteError {
        DiscoveryError::Fetch {
            url: url("https://as.example/.well-known/openid-configuration"),
            source,
        }
        .into()
    }

    #[test]
    fn transport_predicates_hold_wherever_the_request_was_for() {
        let timeout = FetchError::Timeout(Duration::from_secs(5));
        for e in [
            jwks_fetch(timeout.clone()),
            metadata_fetch(timeout.clone()),
            RemoteError::request(
                &reqwest::Url::parse("https://as.example/introspect").unwrap(),
                timeout,
            ),
        ] {
            assert!(e.is_timeout(), "{e:?}");
            assert!(!e.is_connect() && !e.is_redirect() && !e.is_too_large());
            assert_eq!(e.status(), None);
            assert!(e.url().is_some());
        }
        assert!(metadata_fetch(FetchError::Status(404)).is_discovery());
        assert!(!jwks_fetch(FetchError::Status(404)).is_discovery());
        assert_eq!(jwks_fetch(FetchError::Status(503)).status(), Some(503));
        assert!(jwks_fetch(FetchError::TooLarge(10)).is_too_large());
        assert!(
            jwks_fetch(FetchError::Redirect(RedirectError::TooMany { limit: 3 })).is_redirect()
        );
    }

    #[test]
    fn what_came_back_has_its_own_predicates() {
        let mismatch = RemoteError::from(DiscoveryError::IssuerMismatch {
            expected: "https://a.example".into(),
            found: "https://b.example".into(),
        });
        assert!(mismatch.is_issuer_mismatch() && mismatch.is_discovery());
        assert_eq!(mismatch.url(), None);
        let no_jwks_uri = RemoteError::from(DiscoveryError::NoJwksUri("https://a".into()));
        assert!(no_jwks_uri.is_discovery() && !no_jwks_uri.is_issuer_mismatch());
        let invalid = RemoteError::from(Kind::Jwks {
            url: url("https://as.example/jwks"),
            source: JwksError::NotJsonObject,
        });
        assert!(invalid.is_invalid_jwks() && !invalid.is_discovery());
        let source = invalid.source().and_then(|s| s.downcast_ref::<JwksError>());
        assert_eq!(source, Some(&JwksError::NotJsonObject));
        let none = RemoteError::from(Kind::NoUsableKeys {
            url: url("https://as.example/jwks"),
            rejected: vec![(
                Some("k1".into()),
                KeyError::UnsupportedKeyType("oct".into()),
            )],
        });
        assert!(none.is_no_usable_keys());
        assert_eq!(none.rejected_keys().len(), 1);
        assert!(invalid.rejected_keys().is_empty());
        let stopped = RemoteError::stopped();
        assert!(stopped.is_stopped() && stopped.url().is_none() && stopped.source().is_none());
    }

    #[test]
    fn an_insecure_url_or_issuer_is_reported_as_such() {
        let refused = RemoteError::from(FetchError::InsecureUrl(url("http://as.example/jwks")));
        assert!(refused.is_insecure_url() && !refused.is_discovery());
        assert_eq!(refused.url(), Some(&url("http://as.example/jwks")));
        let issuer = RemoteError::from(DiscoveryError::InvalidIssuer("http://as".into()));
        assert!(issuer.is_insecure_url() && issuer.is_discovery());
    }

    #[test]
    fn messages_name_the_endpoint_without_its_credentials() {
        let e = RemoteError::request(
            &reqwest::Url::parse("https://svc:pw@as.example/introspect?api_key=k1").unwrap(),
            FetchError::Status(500),
        );
        let shown = format!("{e} {e:?}");
        assert_eq!(
            e.to_string(),
            "https://***@as.example/introspect?api_key=***: HTTP status 500"
        );
        assert!(!shown.contains("pw") && !shown.contains("k1"), "{shown}");
        // Without a URL of its own, the failure alone (as before).
        assert_eq!(
            RemoteError::from(FetchError::TooLarge(1024)).to_string(),
            "response body over the 1024-byte limit"
        );
        assert_eq!(
            jwks_fetch(FetchError::Status(404)).to_string(),
            "fetching JWKS from https://as.example/jwks: HTTP status 404"
        );
        assert_eq!(
            metadata_fetch(FetchError::Status(404)).to_string(),
            "discovery: cannot fetch metadata from \
             https://as.example/.well-known/openid-configuration: HTTP status 404"
        );
    }

    #[test]
    fn clones_are_equal_and_cheap() {
        let e = jwks_fetch(FetchError::Status(500));
        let c = e.clone();
        assert_eq!(e, c);
        assert!(Arc::ptr_eq(&e.inner, &c.inner));
        assert_ne!(e, jwks_fetch(FetchError::Status(502)));
        assert_eq!(
            std::mem::size_of::<RemoteError>(),
            std::mem::size_of::<usize>()
        );
    }
}
