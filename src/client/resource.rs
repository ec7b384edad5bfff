//! The client side of RFC 9728: from a protected resource's URL (or its
//! 401) to a token for it. [`ResourceClient`] finds the resource's metadata,
//! checks it describes the URL called, picks the authorization server,
//! reads and checks that server's metadata (RFC 8414), and obtains tokens
//! for the resource with client credentials; it steps up when the resource
//! answers `insufficient_scope` and finds its way again when a 401 points
//! elsewhere. This is what an MCP client acting on its own behalf does
//! (MCP authorization, and its client-credentials extension, SEP-1046).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use reqwest::Url;
use serde_json::{Map, Value};

use super::challenge::Challenge;
use super::token::{AccessToken, BACKOFF_MAX, BACKOFF_START, TokenError, TokenSource};
use crate::clock::Clock;
use crate::introspection::ClientAuth;
use crate::json::{self, ObjectError};
use crate::limits::{
    DEFAULT_MAX_METADATA_SIZE, DEFAULT_MAX_RESOURCE_METADATA_SIZE, DEFAULT_TOKEN_REQUEST_TIMEOUT,
    MAX_REQUESTED_SCOPES,
};
use crate::remote::discovery::{self, IssuerMetadata};
use crate::remote::error::{DiscoveryError, FetchError};
use crate::remote::fetch::{Fetcher, build_client};
use crate::remote::{EndpointUrl, RemoteError};

/// The well-known path of protected resource metadata (RFC 9728 §3).
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A protected resource's metadata (RFC 9728 §2), checked: its `resource`
/// is the URL the client called (§3.3) and it names at least one
/// authorization server. Its `Debug` shows the URLs redacted (the URL
/// called may carry a secret) and not the whole document.
#[derive(Clone, PartialEq)]
pub struct ProtectedResource {
    resource: String,
    metadata_url: EndpointUrl,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    document: Map<String, Value>,
}

impl fmt::Debug for ProtectedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResource")
            .field("resource", &EndpointUrl::new(self.resource.as_str()))
            .field("metadata_url", &self.metadata_url)
            .field("authorization_servers", &self.authorization_servers)
            .field("scopes_supported", &self.scopes_supported)
            .finish_non_exhaustive()
    }
}

impl ProtectedResource {
    /// `resource`: the identifier tokens are requested for (RFC 8707
    /// `resource`), as the document gives it.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Where the document was read.
    pub fn metadata_url(&self) -> &EndpointUrl {
        &self.metadata_url
    }

    /// `authorization_servers`, in the document's order (never empty).
    pub fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    /// `scopes_supported` (empty when absent).
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The whole document, every member.
    pub fn document(&self) -> &Map<String, Value> {
        &self.document
    }
}

/// Why no token could be had for a protected resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// A metadata document (the resource's or its authorization server's)
    /// could not be fetched, or the authorization server's was refused (ask
    /// the [`RemoteError`]: [`status`](RemoteError::status),
    /// [`is_issuer_mismatch`](RemoteError::is_issuer_mismatch), …).
    #[error("{0}")]
    Fetch(RemoteError),
    /// The resource's metadata is not a valid RFC 9728 document.
    #[error("the protected resource metadata at {url} is not valid: {reason}")]
    InvalidMetadata {
        /// Where it was read.
        url: EndpointUrl,
        /// What is wrong.
        reason: &'static str,
    },
    /// The metadata describes another resource than the URL called: it
    /// is not used (RFC 9728 §3.3), whoever served it.
    #[error(
        "the metadata at {url} describes {found:?}, not {expected:?}: not used (RFC 9728 §3.3)"
    )]
    ResourceMismatch {
        /// Where it was read.
        url: EndpointUrl,
        /// The URL the client called (redacted as
        /// [`EndpointUrl`] shows it: it may carry a secret).
        expected: String,
        /// The document's `resource`, redacted the same way.
        found: String,
    },
    /// The authorization server the credentials belong to
    /// ([`ResourceClientBuilder::issuer`]) is not among the resource's
    /// `authorization_servers`: the credentials are not sent elsewhere.
    #[error("the resource does not name {issuer:?} among its authorization servers {listed:?}")]
    IssuerNotListed {
        /// The issuer the credentials belong to.
        issuer: String,
        /// The resource's `authorization_servers`.
        listed: Vec<String>,
    },
    /// The authorization server's metadata says it cannot serve this client
    /// (no token endpoint, no client-credentials grant, not this client
    /// authentication method or signing algorithm).
    #[error("the authorization server {issuer} {what}")]
    Unsupported {
        /// The authorization server.
        issuer: String,
        /// What it lacks.
        what: String,
    },
    /// The resource asks for scopes beyond those the client may request
    /// ([`ResourceClientBuilder::scopes`]), or beyond
    /// [`MAX_REQUESTED_SCOPES`] in all.
    #[error("the resource asks for scopes this client may not request: {scope}")]
    ScopeNotAllowed {
        /// The scopes refused, space-separated.
        scope: String,
    },
    /// The resource refused a token obtained for what it asked: stepping
    /// up again would not change the request.
    #[error("the resource refused ({status}) a token obtained for what it asked")]
    Refused {
        /// The resource's HTTP status.
        status: u16,
    },
    /// The token request failed.
    #[error(transparent)]
    Token(TokenError),
}

impl From<TokenError> for ResourceError {
    fn from(e: TokenError) -> Self {
        ResourceError::Token(e)
    }
}

impl From<DiscoveryError> for ResourceError {
    fn from(e: DiscoveryError) -> Self {
        ResourceError::Fetch(e.into())
    }
}

/// Obtains and keeps fresh the access token for one protected resource,
/// knowing only its URL and the client's credentials: discovery (RFC 9728,
/// RFC 8414), the token request with `resource` (RFC 8707) and `scope` as
/// the MCP specification's scope selection strategy says, step-up on
/// `insufficient_scope`, re-discovery when a 401 points elsewhere.
///
/// Send each request with [`token`](Self::token); on a 401 or 403, hand
/// the response to [`challenged`](Self::challenged) and, when it returns
/// `Ok`, send the request again with a new [`token`](Self::token), a few
/// times at most ([`MAX_AUTHORIZATION_RETRIES`](crate::limits::MAX_AUTHORIZATION_RETRIES)).
///
/// ```no_run
/// use bearer_guard::client::ResourceClient;
/// use bearer_guard::introspection::ClientAuth;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = ResourceClient::builder(
///     "https://mcp.example.com/mcp",
///     ClientAuth::basic("order-service", "secret"),
/// )
/// .issuer("https://auth.example.com")           // the credentials' server
/// .scopes(["payments:read", "payments:write"])  // what it may ask for
/// .build()?;
/// let http = reqwest::Client::new();
/// let mut token = client.token().await?;
/// for _ in 0..3 {
///     let response = http
///         .post("https://mcp.example.com/mcp")
///         .bearer_auth(token.secret())
///         .body("{}")
///         .send()
///         .await?;
///     if !matches!(response.status().as_u16(), 401 | 403) {
///         break;
///     }
///     client.challenged(response.status(), response.headers(), Some(&token)).await?;
///     token = client.token().await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ResourceClient {
    inner: Arc<Inner>,
}

struct Inner {
    url: Url,
    auth: ClientAuth,
    issuer: Option<String>,
    allowed: Option<Vec<String>>,
    fetcher: Fetcher,
    allow_http: bool,
    clock: Clock,
    timeout: Duration,
    state: Mutex<State>,
    /// One discovery at a time.
    flight: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    resource: Option<Arc<ProtectedResource>>,
    server: Option<Arc<IssuerMetadata>>,
    scopes: Vec<String>,
    source: Option<TokenSource>,
    /// The last failure to have an authorization server's metadata
    /// accepted, while it is backed off.
    server_failure: Option<ServerFailure>,
}

/// No new request for `issuer`'s metadata before `until` (a tick, as
/// [`TokenSource`] counts them): `error` again instead.
struct ServerFailure {
    issuer: String,
    until: i64,
    failures: u32,
    error: ResourceError,
}

impl fmt::Debug for ResourceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceClient")
            .field("url", &EndpointUrl::new(self.inner.url.as_str()))
            .field("auth", &self.inner.auth)
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

/// Configures a [`ResourceClient`].
#[must_use]
pub struct ResourceClientBuilder {
    url: String,
    auth: ClientAuth,
    issuer: Option<String>,
    allowed: Option<Vec<String>>,
    allow_http: bool,
    clock: Clock,
    timeout: Duration,
}

impl fmt::Debug for ResourceClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceClientBuilder")
            .field("url", &EndpointUrl::new(&self.url))
            .field("auth", &self.auth)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ResourceClient {
    /// A client for the protected resource at `url` (an MCP server's
    /// endpoint, say), authenticating to its authorization server as
    /// `auth` with the client-credentials grant.
    pub fn builder(url: impl Into<String>, auth: ClientAuth) -> ResourceClientBuilder {
        ResourceClientBuilder {
            url: url.into(),
            auth,
            issuer: None,
            allowed: None,
            allow_http: false,
            clock: Clock::System,
            timeout: DEFAULT_TOKEN_REQUEST_TIMEOUT,
        }
    }

    /// A token for the resource: discovers it first if nothing is known
    /// yet (the well-known URLs, RFC 9728 §3.1: the path-suffixed one,
    /// then the root one), then the cached token or a new one.
    ///
    /// # Errors
    ///
    /// What discovery or the token request met ([`ResourceError`]). After
    /// a failure to have the authorization server's metadata, the same
    /// error comes back without a request for a while (1 s doubling to
    /// 60 s).
    pub async fn token(&self) -> Result<AccessToken, ResourceError> {
        let source = match self.source() {
            Some(source) => source,
            None => {
                self.discover(None, None).await?;
                self.source().ok_or(ResourceError::Refused { status: 0 })?
            }
        };
        Ok(source.token().await?)
    }

    /// What the resource's answer means for the next attempt, given the
    /// token the request carried (`None` for a request sent without one):
    ///
    /// - a challenge naming another `resource_metadata` than the one known:
    ///   discovery again from it (its `resource` must still be the URL
    ///   called), with a new token;
    /// - `401`: a new token (once: a fresh token refused again is
    ///   [`ResourceError::Refused`]); for a request without a token,
    ///   discovery from the challenge, asking for the `scope` it names;
    /// - `403` `insufficient_scope`: a new token for the scopes asked
    ///   before and those the challenge names (MCP: their union), within
    ///   [`scopes`](ResourceClientBuilder::scopes) (the challenge may name
    ///   alternatives: the allowed ones are asked for); nothing new to ask
    ///   for is [`ResourceError::Refused`] (or
    ///   [`ResourceError::ScopeNotAllowed`]), unless `used` predates the
    ///   last step-up (then: send again with the new token).
    ///
    /// A re-discovery that finds the same resource at the same
    /// authorization server keeps the token held, its scopes and its
    /// renewal limits.
    ///
    /// `Ok(())` means: send the request again, with [`token`](Self::token).
    ///
    /// # Errors
    ///
    /// When sending again cannot help ([`ResourceError::Refused`], a `403`
    /// for something else than scopes) or what discovery or the token
    /// request met.
    pub async fn challenged(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        used: Option<&AccessToken>,
    ) -> Result<(), ResourceError> {
        let challenges = Challenge::from_headers(headers);
        let bearer = challenges
            .iter()
            .find(|c| c.is("Bearer"))
            .or_else(|| challenges.iter().find(|c| c.is("DPoP")));
        let pointer = bearer.and_then(|c| c.param("resource_metadata"));
        let asked = bearer
            .and_then(|c| c.param("scope"))
            .map(split_scopes)
            .unwrap_or_default();
        let known = lock(&self.inner.state)
            .resource
            .as_ref()
            .map(|r| r.metadata_url.expose().to_owned());
        let moved = pointer.is_some_and(|p| known.as_deref() != Some(p));
        if known.is_none() || moved {
            let initial = (status == StatusCode::UNAUTHORIZED).then_some(asked.clone());
            // A re-discovery that finds the same resource at the same
            // authorization server keeps the token source (its scopes, its
            // forced-renewal interval): the answer is then handled as if
            // the pointer had not moved, so that a resource re-pointing
            // its metadata on every answer cannot cost a token request
            // (and a metadata fetch at the authorization server) each.
            let replaced = self.discover(pointer, initial).await?;
            if replaced && status != StatusCode::FORBIDDEN {
                return Ok(());
            }
        }
        match status {
            StatusCode::UNAUTHORIZED => {
                let Some(used) = used else {
                    return Ok(());
                };
                let source = self
                    .source()
                    .ok_or(ResourceError::Refused { status: 401 })?;
                let fresh = source.renew(used).await?;
                if fresh.secret() == used.secret() {
                    return Err(ResourceError::Refused { status: 401 });
                }
                Ok(())
            }
            StatusCode::FORBIDDEN
                if bearer.and_then(|c| c.param("error")) == Some("insufficient_scope") =>
            {
                self.step_up(&asked, used)
            }
            _ => Err(ResourceError::Refused {
                status: status.as_u16(),
            }),
        }
    }

    /// The resource's metadata, once discovered.
    pub fn protected_resource(&self) -> Option<Arc<ProtectedResource>> {
        lock(&self.inner.state).resource.clone()
    }

    /// The chosen authorization server's metadata, once discovered.
    pub fn authorization_server(&self) -> Option<Arc<IssuerMetadata>> {
        lock(&self.inner.state).server.clone()
    }

    /// The scopes requested now (space-separated; empty when none).
    pub fn scope(&self) -> String {
        lock(&self.inner.state).scopes.join(" ")
    }

    fn source(&self) -> Option<TokenSource> {
        lock(&self.inner.state).source.clone()
    }

    /// A new token source for the union of the scopes asked so far and
    /// those of `asked` the client may ask for, after a 403 to a request
    /// made with `used`.
    ///
    /// The challenge may name alternatives (a tool that takes any of
    /// several scopes): the step-up asks for the allowed ones, and fails
    /// only when none is new. When nothing new can be asked, a `used`
    /// token older than the current token source (another request stepped
    /// up meanwhile) is sent again with the new one rather than refused.
    fn step_up(&self, asked: &[String], used: Option<&AccessToken>) -> Result<(), ResourceError> {
        let mut state = lock(&self.inner.state);
        let mut new: Vec<String> = Vec::new();
        let mut refused: Vec<&str> = Vec::new();
        for s in asked {
            if state.scopes.contains(s) || new.contains(s) || refused.contains(&s.as_str()) {
                continue;
            }
            if self.inner.allowed.as_ref().is_none_or(|a| a.contains(s)) {
                new.push(s.clone());
            } else {
                refused.push(s);
            }
        }
        if new.is_empty() {
            let stale = used.is_some_and(|used| {
                state.source.as_ref().is_some_and(|source| {
                    source
                        .cached()
                        .is_none_or(|held| held.secret() != used.secret())
                })
            });
            if stale {
                return Ok(());
            }
            if !refused.is_empty() {
                return Err(ResourceError::ScopeNotAllowed {
                    scope: refused.join(" "),
                });
            }
            return Err(ResourceError::Refused { status: 403 });
        }
        let mut scopes = state.scopes.clone();
        scopes.extend(new);
        if scopes.len() > MAX_REQUESTED_SCOPES {
            return Err(ResourceError::ScopeNotAllowed {
                scope: format!("more than {MAX_REQUESTED_SCOPES} scopes"),
            });
        }
        let (Some(resource), Some(server)) = (state.resource.clone(), state.server.clone()) else {
            return Err(ResourceError::Refused { status: 403 });
        };
        state.source = Some(self.token_source(&resource, &server, &scopes)?);
        state.scopes = scopes;
        Ok(())
    }

    /// Discovery from `pointer` (a 401's `resource_metadata`) or the
    /// well-known URLs; `asked`, the scopes a 401 named. Whether it set up
    /// a new token source: not when another caller did meanwhile, nor when
    /// it found the same resource at the same authorization server (the
    /// known metadata URL is updated, the rest kept).
    async fn discover(
        &self,
        pointer: Option<&str>,
        asked: Option<Vec<String>>,
    ) -> Result<bool, ResourceError> {
        let _one = self.inner.flight.lock().await;
        // Done by another caller meanwhile.
        let bound = {
            let state = lock(&self.inner.state);
            if let Some(known) = &state.resource
                && state.source.is_some()
                && pointer.is_none_or(|p| known.metadata_url.expose() == p)
            {
                return Ok(false);
            }
            // The credentials are bound to the configured issuer, else to
            // the first one they were used with (MCP: not reused with a
            // server the resource no longer lists).
            self.inner
                .issuer
                .clone()
                .or_else(|| state.server.as_ref().map(|s| s.issuer.clone()))
        };
        let resource = match pointer {
            Some(url) => self.fetch_resource(url, false).await?,
            None => self.well_known().await?,
        };
        let issuer = match &bound {
            Some(issuer) => {
                if !resource.authorization_servers.contains(issuer) {
                    return Err(ResourceError::IssuerNotListed {
                        issuer: issuer.clone(),
                        listed: resource.authorization_servers.clone(),
                    });
                }
                issuer.clone()
            }
            None => resource
                .authorization_servers
                .first()
                .cloned()
                .ok_or_else(|| ResourceError::InvalidMetadata {
                    url: resource.metadata_url.clone(),
                    reason: "no authorization_servers",
                })?,
        };
        {
            let mut state = lock(&self.inner.state);
            if state.source.is_some()
                && state.server.as_ref().is_some_and(|s| s.issuer == issuer)
                && state
                    .resource
                    .as_ref()
                    .is_some_and(|known| same_url(&known.resource, &resource.resource))
            {
                state.resource = Some(Arc::new(resource));
                return Ok(false);
            }
        }
        let server = self.server_metadata(&issuer).await?;
        // MCP's scope selection strategy: the 401's scope, else all of
        // scopes_supported; within what the client may ask for.
        let mut scopes = match asked.filter(|a| !a.is_empty()) {
            Some(asked) => asked,
            None => resource.scopes_supported.clone(),
        };
        if let Some(allowed) = &self.inner.allowed {
            scopes.retain(|s| allowed.contains(s));
        }
        scopes.truncate(MAX_REQUESTED_SCOPES);
        let source = self.token_source(&resource, &server, &scopes)?;
        let mut state = lock(&self.inner.state);
        state.resource = Some(Arc::new(resource));
        state.server = Some(Arc::new(server));
        state.scopes = scopes;
        state.source = Some(source);
        Ok(true)
    }

    /// The path-suffixed well-known URL, then the root one (RFC 9728
    /// §3.1; MCP, Protected Resource Metadata Discovery).
    async fn well_known(&self) -> Result<ProtectedResource, ResourceError> {
        let url = &self.inner.url;
        let origin = origin(url);
        let path = match url.path() {
            "/" => "",
            p => p,
        };
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        let suffixed = format!("{origin}{WELL_KNOWN}{path}{query}");
        let root = format!("{origin}{WELL_KNOWN}");
        let mut last = None;
        for (candidate, at_root) in [(suffixed.clone(), false), (root.clone(), true)] {
            if at_root && candidate == suffixed {
                break;
            }
            match self.fetch_resource(&candidate, at_root).await {
                Err(ResourceError::Fetch(e)) if e.status().is_some() => last = Some(e),
                other => return other,
            }
        }
        Err(ResourceError::Fetch(
            last.unwrap_or_else(RemoteError::stopped),
        ))
    }

    /// Fetches and checks one resource metadata document. The `resource`
    /// must be the URL called (RFC 9728 §3.3); at the root well-known URL,
    /// the origin that URL was built from is accepted too.
    async fn fetch_resource(
        &self,
        url: &str,
        at_root: bool,
    ) -> Result<ProtectedResource, ResourceError> {
        let parsed =
            checked_url(&self.inner.fetcher, url).map_err(|e| ResourceError::Fetch(e.into()))?;
        let fetched = self
            .inner
            .fetcher
            .get(
                &parsed,
                HeaderMap::new(),
                DEFAULT_MAX_RESOURCE_METADATA_SIZE,
            )
            .await
            .map_err(|e| ResourceError::Fetch(RemoteError::request(&parsed, e)))?;
        let at = EndpointUrl::new(url);
        let invalid = |reason| ResourceError::InvalidMetadata {
            url: at.clone(),
            reason,
        };
        let document = json::parse_object(&fetched.body).map_err(|e| match e {
            ObjectError::NotAnObject => invalid("not a JSON object"),
            ObjectError::DuplicateMember => invalid("a member appears twice"),
        })?;
        let Some(Value::String(resource)) = document.get("resource") else {
            return Err(invalid("no string `resource`"));
        };
        let same = |a: &str| Url::parse(a).is_ok_and(|u| u == self.inner.url);
        let root_origin = at_root
            && Url::parse(resource).is_ok_and(|u| {
                u.path() == "/" && origin(&u) == origin(&self.inner.url) && u.query().is_none()
            });
        if !same(resource) && !root_origin {
            return Err(ResourceError::ResourceMismatch {
                url: at,
                expected: EndpointUrl::new(self.inner.url.as_str()).redacted(),
                found: EndpointUrl::new(resource.as_str()).redacted(),
            });
        }
        let strings = |name: &'static str| -> Result<Vec<String>, ResourceError> {
            match document.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid(name)),
                Some(_) => Err(invalid(name)),
            }
        };
        let authorization_servers = strings("authorization_servers")?;
        if authorization_servers.is_empty() {
            return Err(invalid("no authorization_servers"));
        }
        let scopes_supported = strings("scopes_supported")?;
        Ok(ProtectedResource {
            resource: resource.clone(),
            metadata_url: at,
            authorization_servers,
            scopes_supported,
            document,
        })
    }

    /// `issuer`'s metadata, fetched and checked, unless backing off after
    /// a failure (1 s doubling to 60 s, as the token request): an
    /// unreachable or refused server is then not asked again on every
    /// call, by every client.
    async fn server_metadata(&self, issuer: &str) -> Result<IssuerMetadata, ResourceError> {
        {
            let state = lock(&self.inner.state);
            if let Some(failure) = &state.server_failure
                && failure.issuer == issuer
                && self.tick() < failure.until
            {
                return Err(failure.error.clone());
            }
        }
        let result = match self.fetch_server(issuer).await {
            Ok(server) => self.check_server(&server).map(|()| server),
            Err(e) => Err(e),
        };
        let now = self.tick();
        let mut state = lock(&self.inner.state);
        match &result {
            Ok(_) => state.server_failure = None,
            Err(error) => {
                let failures = state
                    .server_failure
                    .as_ref()
                    .filter(|f| f.issuer == issuer)
                    .map_or(1, |f| f.failures.saturating_add(1));
                let shift = failures.saturating_sub(1).min(6);
                let delay = BACKOFF_START.saturating_mul(1i64 << shift).min(BACKOFF_MAX);
                state.server_failure = Some(ServerFailure {
                    issuer: issuer.to_owned(),
                    until: now.saturating_add(delay),
                    failures,
                    error: error.clone(),
                });
            }
        }
        result
    }

    /// Seconds on the monotonic clock (the configured clock's, for tests).
    fn tick(&self) -> i64 {
        i64::try_from(self.inner.clock.mono_ms() / 1000).unwrap_or(i64::MAX)
    }

    /// The authorization server's metadata, at the URLs the MCP
    /// specification lists in its priority order: RFC 8414 with path
    /// insertion, OpenID Connect with path insertion, OpenID Connect
    /// appended (the last two only for an issuer with a path). Its
    /// `issuer` must be `issuer` exactly (RFC 8414 §3.3).
    async fn fetch_server(&self, issuer: &str) -> Result<IssuerMetadata, ResourceError> {
        let parsed = checked_url(&self.inner.fetcher, issuer)
            .map_err(|_| DiscoveryError::InvalidIssuer(issuer.to_owned()))?;
        let origin = origin(&parsed);
        let path = parsed.path().trim_end_matches('/');
        let mut urls = vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
        ];
        if !path.is_empty() {
            urls.push(format!("{origin}{path}/.well-known/openid-configuration"));
        }
        let mut last = None;
        for url in urls {
            let Ok(target) = Url::parse(&url) else {
                continue;
            };
            match self
                .inner
                .fetcher
                .get(&target, HeaderMap::new(), DEFAULT_MAX_METADATA_SIZE)
                .await
            {
                Ok(fetched) => return Ok(discovery::check(issuer, &url, &fetched.body)?),
                Err(FetchError::Status(code)) => last = Some((url, FetchError::Status(code))),
                Err(source) => {
                    return Err(DiscoveryError::Fetch {
                        url: url.as_str().into(),
                        source,
                    }
                    .into());
                }
            }
        }
        let (url, source) = last.unwrap_or_else(|| (issuer.to_owned(), FetchError::Status(0)));
        Err(DiscoveryError::Fetch {
            url: url.as_str().into(),
            source,
        }
        .into())
    }

    /// What the server's metadata says it supports, against this client.
    fn check_server(&self, server: &IssuerMetadata) -> Result<(), ResourceError> {
        let unsupported = |what: String| ResourceError::Unsupported {
            issuer: server.issuer.clone(),
            what,
        };
        let listed = |name: &str| -> Option<Vec<&str>> {
            server
                .other
                .get(name)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
        };
        match &server.token_endpoint {
            None => return Err(unsupported("has no token_endpoint".into())),
            Some(endpoint) => {
                checked_url(&self.inner.fetcher, endpoint)
                    .map_err(|e| ResourceError::Fetch(e.into()))?;
            }
        }
        if let Some(grants) = listed("grant_types_supported")
            && !grants.contains(&"client_credentials")
        {
            return Err(unsupported(
                "does not list the client_credentials grant".into(),
            ));
        }
        let method = match &self.inner.auth {
            ClientAuth::ClientSecretBasic { .. } => "client_secret_basic",
            ClientAuth::ClientSecretPost { .. } => "client_secret_post",
            ClientAuth::PrivateKeyJwt { .. } => "private_key_jwt",
        };
        if let Some(methods) = listed("token_endpoint_auth_methods_supported")
            && !methods.contains(&method)
        {
            return Err(unsupported(format!("does not accept {method}")));
        }
        if let ClientAuth::PrivateKeyJwt { key, .. } = &self.inner.auth
            && let Some(algs) = listed("token_endpoint_auth_signing_alg_values_supported")
            && !algs.contains(&key.alg().as_str())
        {
            return Err(unsupported(format!(
                "does not accept {} client assertions",
                key.alg().as_str()
            )));
        }
        Ok(())
    }

    /// The token source for `resource` at `server`, asking for `scopes`.
    fn token_source(
        &self,
        resource: &ProtectedResource,
        server: &IssuerMetadata,
        scopes: &[String],
    ) -> Result<TokenSource, ResourceError> {
        let inner = &*self.inner;
        let mut builder = TokenSource::client_credentials(inner.auth.clone())
            .issuer(server.issuer.clone())
            .token_url(server.token_endpoint.clone().unwrap_or_default())
            .resource(resource.resource.clone())
            .clock(inner.clock.clone())
            .timeout(inner.timeout);
        if !scopes.is_empty() {
            builder = builder.scope(scopes.join(" "));
        }
        if inner.allow_http {
            builder = builder.allow_insecure_http();
        }
        Ok(builder.build()?)
    }
}

/// `url` parsed and allowed by `fetcher` (`https`, or `http` when
/// allowed), an `http` one only to a loopback host.
fn checked_url(fetcher: &Fetcher, url: &str) -> Result<Url, FetchError> {
    let parsed = fetcher.url(url)?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            host.eq_ignore_ascii_case("localhost")
                || host.to_ascii_lowercase().ends_with(".localhost")
        }
    };
    if parsed.scheme() == "http" && !loopback {
        return Err(FetchError::InsecureUrl(EndpointUrl::new(url)));
    }
    Ok(parsed)
}

/// `scheme://host[:port]`.
fn origin(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out
}

/// Whether `a` and `b` are the same URL once parsed.
fn same_url(a: &str, b: &str) -> bool {
    matches!((Url::parse(a), Url::parse(b)), (Ok(a), Ok(b)) if a == b)
}

fn split_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in s.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == scope) {
            out.push(scope.to_owned());
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ResourceClientBuilder {
    /// The authorization server the credentials belong to (its `issuer`).
    /// The resource must list it; otherwise no request is sent
    /// ([`ResourceError::IssuerNotListed`]). Without it, the first listed
    /// server is used, and the credentials stay bound to it: a 401 that
    /// leads to metadata no longer listing it fails the same way. Give it
    /// whenever the credentials were registered with one server (the MCP
    /// specification binds credentials to their issuer).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The scopes this client may ask for: the first request asks for
    /// those among what the resource names, and a step-up that needs
    /// others fails ([`ResourceError::ScopeNotAllowed`]). Without it, the
    /// client asks for what the resource names, up to
    /// [`MAX_REQUESTED_SCOPES`].
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.allowed = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Allows `http://` URLs to loopback hosts (`127.0.0.0/8`, `::1`,
    /// `localhost`), for test set-ups: the MCP specification requires
    /// HTTPS for every authorization endpoint, and an `http` URL to any
    /// other host stays refused, wherever it comes from (the resource's
    /// URL, a 401's pointer, the metadata).
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Bound on each request (metadata, token): by default
    /// [`DEFAULT_TOKEN_REQUEST_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock (a `ManualClock` in tests).
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Checks the URL and builds the client (no request yet).
    ///
    /// # Errors
    ///
    /// [`ResourceError::Fetch`] when `url` is not an `https` URL (or
    /// `http`, when allowed), has a fragment, or the HTTP client cannot be
    /// built.
    pub fn build(self) -> Result<ResourceClient, ResourceError> {
        let client =
            build_client(None, self.timeout).map_err(|e| ResourceError::Fetch(e.into()))?;
        let fetcher = Fetcher::new(self.timeout, self.allow_http, Some(&client))
            .map_err(|e| ResourceError::Fetch(e.into()))?;
        let url = checked_url(&fetcher, &self.url).map_err(|e| ResourceError::Fetch(e.into()))?;
        if url.fragment().is_some() || url.host_str().is_none() {
            return Err(ResourceError::Fetch(
                FetchError::InsecureUrl(EndpointUrl::new(&self.url)).into(),
            ));
        }
        Ok(ResourceClient {
            inner: Arc::new(Inner {
                url,
                auth: self.auth,
                issuer: self.issuer,
                allowed: self.allowed,
                fetcher,
                allow_http: self.allow_http,
                clock: self.clock,
                timeout: self.timeout,
                state: Mutex::new(State::default()),
                flight: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_once_each() {
        assert_eq!(split_scopes(" a  b a c "), ["a", "b", "c"]);
        assert!(split_scopes("").is_empty());
    }

    #[test]
    fn origins_keep_a_non_default_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(origin(&u("https://h.example/x")), "https://h.example");
        assert_eq!(
            origin(&u("http://127.0.0.1:8080/mcp")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin(&u("https://H.example:443/")), "https://h.example");
    }
}
