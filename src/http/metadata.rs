//! The resource describes itself (RFC 9728): [`ResourceMetadata`], the JSON
//! document at `/.well-known/oauth-protected-resource` that tells dynamic
//! clients (MCP clients among them) which authorization servers issue its
//! tokens, which scopes it knows, and how tokens are presented and bound.

use http::{HeaderValue, Response, header};
use serde::Serialize;

use super::require::literal;
use crate::validator::{BuildError, Validator};

/// The well-known path of the metadata (RFC 9728 §3).
const WELL_KNOWN_PATH: &str = ResourceMetadata::WELL_KNOWN_PATH;

/// A protected resource's metadata (RFC 9728 §2), filled from a
/// [`Validator`]'s configuration.
///
/// Serve it at each of [`paths`](Self::paths) (with axum, the value itself
/// is a response), and give it to
/// [`BearerLayer::resource_metadata`](crate::BearerLayer::resource_metadata)
/// so that every challenge points to it (`resource_metadata="…"`) and its
/// paths need no token.
///
/// ```
/// # use bearer_guard::testing::TestIssuer;
/// use bearer_guard::{BearerLayer, metadata::ResourceMetadata};
/// # let validator = TestIssuer::new().validator();
/// let metadata = ResourceMetadata::new("https://api.example.com/payments", &validator)
///     .scopes_supported(["charge:customer", "refund"]);
/// assert_eq!(
///     metadata.url(),
///     "https://api.example.com/.well-known/oauth-protected-resource/payments"
/// );
/// let layer = BearerLayer::new(validator).resource_metadata(&metadata);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct ResourceMetadata {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dpop_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dpop_bound_access_tokens_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_client_certificate_bound_access_tokens: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
    /// `scheme://authority` of the resource.
    #[serde(skip)]
    origin: String,
    /// The resource's path without its terminating slash (may be empty).
    #[serde(skip)]
    path: String,
}

impl ResourceMetadata {
    /// The well-known path of the metadata (RFC 9728 §3), under which
    /// [`paths`](Self::paths) serve it.
    pub const WELL_KNOWN_PATH: &'static str = "/.well-known/oauth-protected-resource";

    /// The metadata of the resource identified by `resource` (an absolute
    /// URL without query or fragment, RFC 9728 §1.2: `https` in production;
    /// `http` is accepted for local set-ups and tests), with what
    /// `validator` knows: its issuers as
    /// `authorization_servers`, the `header` bearer method, its DPoP
    /// algorithms and whether DPoP is required.
    ///
    /// # Panics
    ///
    /// When `resource` is not such a URL. For a URL read at run time, use
    /// [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(resource: impl Into<String>, validator: &Validator) -> Self {
        literal(Self::try_new(resource, validator))
    }

    /// [`new`](Self::new) for a URL read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidUrl`] when `resource` is not such a URL.
    pub fn try_new(resource: impl Into<String>, validator: &Validator) -> Result<Self, BuildError> {
        let resource = resource.into();
        if crate::dpop::uri::normalize(&resource).is_none() || resource.contains(['?', '#']) {
            return Err(BuildError::InvalidUrl);
        }
        // `scheme://authority/path`, as given (the identifier clients
        // compare, RFC 9728 §3.3): the path starts at the third slash.
        let split = resource
            .match_indices('/')
            .nth(2)
            .map_or(resource.len(), |(i, _)| i);
        let (origin, path) = resource.split_at(split);
        // RFC 9728 §3.1: a terminating slash right after the host is
        // removed; any other path is kept as it is.
        let path = if path == "/" { "" } else { path };
        let dpop = validator.dpop_options();
        Ok(ResourceMetadata {
            authorization_servers: validator.issuer_names(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
            dpop_signing_alg_values_supported: dpop
                .map(|d| {
                    d.accepted_algorithms()
                        .iter()
                        .map(|a| a.as_str().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            dpop_bound_access_tokens_required: dpop.is_some_and(|d| d.is_required()),
            tls_client_certificate_bound_access_tokens: false,
            resource_name: None,
            resource_documentation: None,
            origin: origin.to_owned(),
            path: path.to_owned(),
            resource,
        })
    }

    /// The scopes clients may request for this resource (`scopes_supported`).
    pub fn scopes_supported<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the `authorization_servers` taken from the validator (for
    /// example with the public issuer URL when the validator is configured
    /// with an internal one).
    pub fn authorization_servers<I, T>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.authorization_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces `bearer_methods_supported` (`header` by default; add
    /// `query` when the layer allows the query parameter, RFC 6750 §2.3).
    pub fn bearer_methods<I, T>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.bearer_methods_supported = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Says that the resource accepts tokens bound to client certificates
    /// (`tls_client_certificate_bound_access_tokens`, RFC 8705).
    pub fn tls_client_certificate_bound_access_tokens(mut self, bound: bool) -> Self {
        self.tls_client_certificate_bound_access_tokens = bound;
        self
    }

    /// A human-readable name (`resource_name`).
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// A page of documentation for developers (`resource_documentation`).
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The URL of the metadata document (RFC 9728 §3.1: the well-known path
    /// inserted between the host and the resource's path), for the
    /// `resource_metadata` attribute of challenges.
    pub fn url(&self) -> String {
        format!("{}{WELL_KNOWN_PATH}{}", self.origin, self.path)
    }

    /// The request paths that serve the document: the path-suffixed form
    /// (RFC 9728 §3.1) and, for a resource with a path, the plain form too
    /// (what clients that ignore the suffix ask for).
    pub fn paths(&self) -> Vec<String> {
        let mut paths = vec![format!("{WELL_KNOWN_PATH}{}", self.path)];
        if !self.path.is_empty() {
            paths.push(WELL_KNOWN_PATH.to_owned());
        }
        paths
    }

    /// The `scope` a 401 names: `scopes_supported` without
    /// `offline_access` (MCP, Refresh Tokens: servers "SHOULD NOT include
    /// `offline_access` in `WWW-Authenticate` scope") and without values
    /// that are not RFC 6749 scope tokens.
    pub(crate) fn scope_hint(&self) -> Option<String> {
        let scopes: Vec<&str> = self
            .scopes_supported
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "offline_access" && super::scope::is_scope_token(s))
            .collect();
        (!scopes.is_empty()).then(|| scopes.join(" "))
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// The document as an HTTP response: `200`, `application/json`,
    /// cacheable for an hour.
    pub fn response<B: From<String>>(&self) -> Response<B> {
        let mut response = Response::new(B::from(self.to_json()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        response
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for ResourceMetadata {
    fn into_response(self) -> axum_core::response::Response {
        self.response::<axum_core::body::Body>()
    }
}
