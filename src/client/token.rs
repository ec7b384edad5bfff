//! [`TokenSource`]: the access token a service sends, obtained from the
//! token endpoint (client credentials, RFC 6749 §4.4; or a refresh token,
//! §6) and kept fresh: cached, renewed ahead of its expiry with jitter, one
//! request to the endpoint however many callers wait, backoff after
//! failures, and never handed out expired.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;

use crate::clock::Clock;
use crate::introspection::{ClientAuth, IntrospectionError};
use crate::json::parse_object;
pub(crate) use crate::limits::{
    DEFAULT_TOKEN_MIN_VALIDITY, DEFAULT_TOKEN_REQUEST_TIMEOUT, DEFAULT_TOKEN_RESPONSE_SIZE,
    FORCED_RENEWAL_INTERVAL, MAX_TOKEN_LIFETIME,
};
use crate::remote::RemoteError;
use crate::remote::fetch::{Fetcher, build_client};

/// The lifetime assumed when the server gives no `expires_in`: 5 minutes.
const ASSUMED_LIFETIME: i64 = 300;

/// The longest `error` / `error_description` kept from a token endpoint's
/// answer: 256 characters, of the RFC 6749 §5.2 character set.
const MAX_ERROR_TEXT: usize = 256;

/// Backoff after failed requests: 1 s doubling to 60 s.
pub(crate) const BACKOFF_START: i64 = 1;
pub(crate) const BACKOFF_MAX: i64 = 60;

/// An access token from the token endpoint. Its value never appears in
/// `Debug` output.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    token_type: Arc<str>,
    expires_at: i64,
    /// When it was received and how long it lives, on the monotonic clock
    /// ([`TokenSource::tick`]): a wall clock that steps back never makes an
    /// expired token look usable.
    received: i64,
    lifetime: i64,
    /// The last tick at which it is handed out: `min_validity` before it
    /// expires, or half its lifetime for a token that lives less than twice
    /// that.
    usable_until: i64,
    scope: Option<Arc<str>>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// The token, to send as `Authorization: Bearer <token>`.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// `token_type` as the server sent it (`Bearer`).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// When it expires, in seconds since the epoch (from `expires_in`, or
    /// 5 minutes after it was received when the server gave none).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// The granted `scope`, when the server said (RFC 6749 §5.1).
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The server refused the request (RFC 6749 §5.2), with what it said.
    #[error("the token endpoint refused the request ({status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// `error`: `invalid_client`, `invalid_scope`, `unauthorized_client`...
        error: String,
        /// `error_description`, when given.
        description: Option<String>,
    },
    /// The refresh token was refused (`invalid_grant`): it expired, was
    /// revoked or already used. The user must log in again; the source is
    /// finished.
    #[error("the refresh token was refused (invalid_grant): the user must log in again")]
    LoginRequired {
        /// `error_description`, when given.
        description: Option<String>,
    },
    /// An answer that is not a token response (no `access_token`, a
    /// `token_type` other than `Bearer`, not JSON).
    #[error("invalid token response: {0}")]
    InvalidResponse(&'static str),
    /// An error status without an RFC 6749 error (a 5xx from a proxy, say).
    #[error("the token endpoint answered {0} without an RFC 6749 error")]
    Status(u16),
    /// The endpoint could not be reached, or answered too slowly (ask the
    /// [`RemoteError`]: [`is_timeout`](RemoteError::is_timeout),
    /// [`is_connect`](RemoteError::is_connect), [`url`](RemoteError::url)...).
    #[error("token endpoint unreachable: {0}")]
    Fetch(RemoteError),
    /// The token endpoint is not known: discovery failed or the metadata
    /// has no `token_endpoint`.
    #[error("no token endpoint: {0}")]
    NoEndpoint(String),
    /// The client authentication could not be made (a key that cannot sign).
    #[error("the client authentication could not be made")]
    ClientAuthentication,
    /// A previous request failed moments ago: no new request is sent
    /// before the backoff ends.
    #[error("the token endpoint failed moments ago; retrying in {} s: {last}", retry_in.as_secs())]
    BackingOff {
        /// Time until the next attempt.
        retry_in: Duration,
        /// The last failure.
        last: Box<TokenError>,
    },
}

/// Called with each rotated refresh token.
type OnRotate = Arc<dyn Fn(&str) + Send + Sync>;

/// The grant the source uses.
enum Grant {
    ClientCredentials,
    RefreshToken {
        token: Mutex<String>,
        on_rotate: Option<OnRotate>,
    },
}

/// The state of the cache.
#[derive(Default)]
struct State {
    token: Option<AccessToken>,
    /// When a renewal is due (before `expires_at`, with jitter), as a tick
    /// ([`TokenSource::tick`]), as are the other times here.
    renew_at: i64,
    /// No request before this tick, after failures.
    backoff_until: i64,
    failures: u32,
    last_error: Option<TokenError>,
    /// The source is finished (a refused refresh token).
    finished: Option<TokenError>,
    /// When the last forced renewal was made.
    last_forced: Option<i64>,
}

struct Inner {
    endpoint: EndpointSpec,
    auth: ClientAuth,
    grant: Grant,
    scope: Option<String>,
    resources: Vec<String>,
    audience: Option<String>,
    fetcher: Fetcher,
    clock: Clock,
    timeout: Duration,
    max_size: usize,
    min_validity: i64,
    state: Mutex<State>,
    /// One request to the endpoint at a time (an owned guard travels with
    /// the request's task, so a cancelled caller never lets a second one
    /// start).
    flight: Arc<tokio::sync::Mutex<()>>,
}

enum EndpointSpec {
    Url(reqwest::Url),
    Discover {
        issuer: String,
        found: tokio::sync::OnceCell<reqwest::Url>,
    },
}

/// Obtains and keeps fresh an access token. Cloning is cheap; clones share
/// the token.
///
/// ```no_run
/// use bearer_guard::introspection::ClientAuth;
/// use bearer_guard::client::TokenSource;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let source = TokenSource::client_credentials(ClientAuth::basic("order-service", "secret"))
///     .token_url("https://auth.example.com/oauth/token")
///     .scope("charge:customer")
///     .resource("https://payments.example.com")
///     .build()?;
/// let token = source.token().await?;
/// # let _ = token.secret();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = match &self.inner.endpoint {
            EndpointSpec::Url(u) => crate::remote::EndpointUrl::new(u.as_str()).to_string(),
            EndpointSpec::Discover { issuer, .. } => format!("discovered from {issuer}"),
        };
        let grant = match self.inner.grant {
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken { .. } => "refresh_token",
        };
        f.debug_struct("TokenSource")
            .field("endpoint", &endpoint)
            .field("grant", &grant)
            .field("auth", &self.inner.auth)
            .finish_non_exhaustive()
    }
}

/// Configures a [`TokenSource`].
#[must_use]
pub struct TokenSourceBuilder {
    auth: ClientAuth,
    grant: Grant,
    token_url: Option<String>,
    issuer: Option<String>,
    scope: Option<String>,
    resources: Vec<String>,
    audience: Option<String>,
    clock: Clock,
    timeout: Duration,
    max_size: usize,
    min_validity: Duration,
    allow_http: bool,
    http_client: Option<crate::validator::builder::UserClient>,
}

impl fmt::Debug for TokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSourceBuilder")
            .field("auth", &self.auth)
            .field(
                "token_url",
                &self
                    .token_url
                    .as_deref()
                    .map(crate::remote::EndpointUrl::new),
            )
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source using the client-credentials grant (RFC 6749 §4.4),
    /// authenticating as `auth` (`client_secret_basic`, `client_secret_post`
    /// or `private_key_jwt`).
    pub fn client_credentials(auth: ClientAuth) -> TokenSourceBuilder {
        TokenSourceBuilder::new(auth, Grant::ClientCredentials)
    }

    /// A source using a user's refresh token (RFC 6749 §6), for a backend
    /// holding delegated access. When the server rotates the refresh token
    /// (RFC 9700 §4.14.2), the new one replaces it and is handed to
    /// [`on_rotate`](TokenSourceBuilder::on_rotate) to persist. A refresh
    /// token refused with `invalid_grant` finishes the source with
    /// [`TokenError::LoginRequired`].
    pub fn refresh_token(auth: ClientAuth, refresh_token: impl Into<String>) -> TokenSourceBuilder {
        TokenSourceBuilder::new(
            auth,
            Grant::RefreshToken {
                token: Mutex::new(refresh_token.into()),
                on_rotate: None,
            },
        )
    }

    /// A token with at least the minimum validity left: the cached one, or
    /// a new one (one request for all callers waiting). When a renewal is
    /// due but the token is still usable, one caller renews it (and waits
    /// for that) while the others get the current one; if the renewal
    /// fails, the current one is returned while it is usable.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let inner = &*self.inner;
        let now = self.tick();
        let due = {
            let state = lock(&inner.state);
            if let Some(e) = &state.finished {
                return Err(e.clone());
            }
            match &state.token {
                Some(t) if now < state.renew_at => return Ok(t.clone()),
                Some(t) if now < t.usable_until => Some(t.clone()),
                _ => None,
            }
        };
        if let Some(current) = due {
            return match inner.flight.clone().try_lock_owned() {
                Ok(guard) => {
                    // Renewed by another caller between the look above and
                    // the lock: that one is the fresh token.
                    if let Some(t) = self.renewed_meanwhile(&current) {
                        return Ok(t);
                    }
                    match self.fetch(guard).await {
                        Ok(t) => Ok(t),
                        Err(_) if self.tick() < current.usable_until => Ok(current),
                        Err(e) => Err(e),
                    }
                }
                Err(_) => Ok(current),
            };
        }
        let guard = inner.flight.clone().lock_owned().await;
        // Another caller may have fetched while this one waited.
        let now = self.tick();
        {
            let state = lock(&inner.state);
            if let Some(e) = &state.finished {
                return Err(e.clone());
            }
            if let Some(t) = &state.token
                && now < t.usable_until
            {
                return Ok(t.clone());
            }
        }
        self.fetch(guard).await
    }

    /// The cached token, if it is no longer `current` and still usable.
    fn renewed_meanwhile(&self, current: &AccessToken) -> Option<AccessToken> {
        let now = self.tick();
        let state = lock(&self.inner.state);
        state
            .token
            .as_ref()
            .filter(|t| t.value != current.value && now < t.usable_until)
            .cloned()
    }

    /// The token held now, if any (usable or not), without a request.
    pub(crate) fn cached(&self) -> Option<AccessToken> {
        lock(&self.inner.state).token.clone()
    }

    /// Seconds on the monotonic clock (the configured clock's, for tests):
    /// what renewals, backoff and the forced-renewal interval are timed by.
    fn tick(&self) -> i64 {
        i64::try_from(self.inner.clock.mono_ms() / 1000).unwrap_or(i64::MAX)
    }

    /// A new token, because a resource server refused `refused` (RFC 6750
    /// `invalid_token`): fetched unless the cached token is already another
    /// one, and at most once per [`FORCED_RENEWAL_INTERVAL`] (within it,
    /// the cached token is returned). Waits for a request in flight rather
    /// than sending a second one.
    pub async fn renew(&self, refused: &AccessToken) -> Result<AccessToken, TokenError> {
        let inner = &*self.inner;
        let guard = inner.flight.clone().lock_owned().await;
        let now = self.tick();
        {
            let mut state = lock(&inner.state);
            if let Some(e) = &state.finished {
                return Err(e.clone());
            }
            let usable = state.token.clone().filter(|t| now < t.usable_until);
            if let Some(t) = &usable
                && t.value != refused.value
            {
                // Renewed meanwhile: that is the fresh one.
                return Ok(t.clone());
            }
            let interval = i64::try_from(FORCED_RENEWAL_INTERVAL.as_secs()).unwrap_or(10);
            if let Some(t) = usable
                && state
                    .last_forced
                    .is_some_and(|at| now.saturating_sub(at) < interval)
            {
                // Within the interval: the usable token there is, never a
                // second request (a token no longer usable is fetched as
                // `token` would, under the failure backoff).
                return Ok(t);
            }
            state.last_forced = Some(now);
        }
        self.fetch(guard).await
    }

    /// Discards the cached token and fetches a new one now (an operator's
    /// "credentials changed"), waiting for a request in flight first.
    pub async fn refresh(&self) -> Result<AccessToken, TokenError> {
        let inner = &*self.inner;
        let guard = inner.flight.clone().lock_owned().await;
        let now = self.tick();
        {
            let mut state = lock(&inner.state);
            if let Some(e) = &state.finished {
                return Err(e.clone());
            }
            state.token = None;
            // A forced renewal too: a `renew` right after it sends nothing.
            state.last_forced = Some(now);
        }
        self.fetch(guard).await
    }

    /// One request to the endpoint, unless backing off; updates the
    /// state. Runs in a task of its own holding `guard` (when a runtime is
    /// there), so that a caller that stops waiting neither lets a second
    /// request start nor loses what the answer brings (a rotated refresh
    /// token).
    async fn fetch(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
    ) -> Result<AccessToken, TokenError> {
        let now = self.tick();
        {
            let state = lock(&self.inner.state);
            if now < state.backoff_until
                && let Some(last) = &state.last_error
            {
                let wait = state
                    .backoff_until
                    .saturating_sub(now)
                    .clamp(0, BACKOFF_MAX);
                return Err(TokenError::BackingOff {
                    retry_in: Duration::from_secs(u64::try_from(wait).unwrap_or(0)),
                    last: Box::new(last.clone()),
                });
            }
        }
        let this = self.clone();
        let work = async move {
            let _guard = guard;
            let result = this.request().await;
            this.record(&result);
            result
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.spawn(work).await.unwrap_or_else(|_| {
                Err(TokenError::InvalidResponse("the token request task ended"))
            }),
            Err(_) => work.await,
        }
    }

    /// What a request's outcome does to the state.
    fn record(&self, result: &Result<AccessToken, TokenError>) {
        let inner = &*self.inner;
        // Read when the answer came, not when the request left: a backoff
        // counts from the failure.
        let now = self.tick();
        let mut state = lock(&inner.state);
        match result {
            Ok(token) => {
                state.token = Some(token.clone());
                state.renew_at = renew_at(
                    token.received,
                    token.received.saturating_add(token.lifetime),
                    token.usable_until,
                );
                state.failures = 0;
                state.backoff_until = 0;
                state.last_error = None;
            }
            Err(e @ TokenError::LoginRequired { .. }) => {
                state.token = None;
                state.finished = Some(e.clone());
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                let shift = state.failures.saturating_sub(1).min(6);
                let delay = BACKOFF_START.saturating_mul(1i64 << shift).min(BACKOFF_MAX);
                state.backoff_until = now.saturating_add(delay);
                state.last_error = Some(e.clone());
                tracing::warn!(error = %e, retry_in = delay, "token request failed");
            }
        }
    }

    async fn endpoint(&self) -> Result<reqwest::Url, TokenError> {
        match &self.inner.endpoint {
            EndpointSpec::Url(u) => Ok(u.clone()),
            EndpointSpec::Discover { issuer, found } => found
                .get_or_try_init(|| async {
                    let metadata = crate::remote::discovery::discover(
                        &self.inner.fetcher,
                        issuer,
                        crate::limits::DEFAULT_MAX_METADATA_SIZE,
                    )
                    .await
                    .map_err(|e| TokenError::NoEndpoint(e.to_string()))?;
                    let url = metadata.token_endpoint.clone().ok_or_else(|| {
                        TokenError::NoEndpoint("the metadata has no token_endpoint".into())
                    })?;
                    self.inner
                        .fetcher
                        .url(&url)
                        .map_err(|e| TokenError::NoEndpoint(e.to_string()))
                })
                .await
                .cloned(),
        }
    }

    /// The token request and its answer (RFC 6749 §4.4.2, §6, §5.1, §5.2).
    async fn request(&self) -> Result<AccessToken, TokenError> {
        let inner = &*self.inner;
        // The wall clock for what leaves this process (the assertion's
        // `iat`, `expires_at`); the monotonic one for what is timed here.
        let now = inner.clock.now();
        let received = self.tick();
        let url = self.endpoint().await?;
        let mut form: Vec<(&'static str, String)> = Vec::new();
        match &inner.grant {
            Grant::ClientCredentials => {
                form.push(("grant_type", "client_credentials".into()));
            }
            Grant::RefreshToken { token, .. } => {
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", lock(token).clone()));
            }
        }
        if let Some(scope) = &inner.scope {
            form.push(("scope", scope.clone()));
        }
        for r in &inner.resources {
            form.push(("resource", r.clone()));
        }
        if let Some(a) = &inner.audience {
            form.push(("audience", a.clone()));
        }
        let mut headers = HeaderMap::new();
        // A private_key_jwt assertion names the issuer when it is known
        // (RFC 7523bis: the issuer alone, so that an endpoint URL taken
        // from metadata cannot redirect the assertion); else the endpoint.
        let audience = match &inner.endpoint {
            EndpointSpec::Discover { issuer, .. } => issuer.as_str(),
            EndpointSpec::Url(_) => url.as_str(),
        };
        inner
            .auth
            .apply(&mut form, &mut headers, audience, now)
            .map_err(|_: IntrospectionError| TokenError::ClientAuthentication)?;
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = inner
            .fetcher
            .post_form_any(&url, &pairs, headers, inner.max_size, inner.timeout, true)
            .await
            .map_err(|e| TokenError::Fetch(RemoteError::request(&url, e)))?;
        let json = parse_object(&body).ok();
        if !status.is_success() {
            let text = |name: &str| {
                json.as_ref()
                    .and_then(|j| j.get(name))
                    .and_then(Value::as_str)
                    .map(error_text)
            };
            let Some(error) = text("error") else {
                return Err(TokenError::Status(status.as_u16()));
            };
            let description = text("error_description");
            if error == "invalid_grant" && matches!(inner.grant, Grant::RefreshToken { .. }) {
                return Err(TokenError::LoginRequired { description });
            }
            return Err(TokenError::Refused {
                status: status.as_u16(),
                error,
                description,
            });
        }
        let json = json.ok_or(TokenError::InvalidResponse("not a JSON object"))?;
        // A rotated refresh token is kept first, whatever else the answer
        // holds: the old one may already be dead at the server.
        if let Grant::RefreshToken { token, on_rotate } = &inner.grant
            && let Some(Value::String(rotated)) = json.get("refresh_token")
            && !rotated.is_empty()
        {
            let changed = {
                let mut current = lock(token);
                let changed = *current != *rotated;
                current.clone_from(rotated);
                changed
            };
            if changed && let Some(callback) = on_rotate {
                callback(rotated);
            }
        }
        let value = match json.get("access_token") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(TokenError::InvalidResponse("no access_token")),
        };
        let token_type = match json.get("token_type") {
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => t.clone(),
            Some(Value::String(_)) => {
                return Err(TokenError::InvalidResponse(
                    "token_type is not Bearer (a DPoP-bound token needs proofs)",
                ));
            }
            _ => return Err(TokenError::InvalidResponse("no token_type")),
        };
        let lifetime = match json.get("expires_in") {
            None | Some(Value::Null) => ASSUMED_LIFETIME,
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .filter(|s| *s > 0)
                .ok_or(TokenError::InvalidResponse(
                    "expires_in is not a positive number",
                ))?,
            // Some servers send a string.
            Some(Value::String(s)) => {
                s.parse::<i64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or(TokenError::InvalidResponse(
                        "expires_in is not a positive number",
                    ))?
            }
            Some(_) => return Err(TokenError::InvalidResponse("expires_in is not a number")),
        };
        let lifetime = lifetime.min(i64::try_from(MAX_TOKEN_LIFETIME.as_secs()).unwrap_or(86_400));
        let margin = inner.min_validity.min(lifetime / 2);
        Ok(AccessToken {
            value: value.into(),
            token_type: token_type.into(),
            expires_at: now.saturating_add(lifetime),
            received,
            lifetime,
            usable_until: received.saturating_add(lifetime).saturating_sub(margin),
            scope: json.get("scope").and_then(Value::as_str).map(Arc::from),
        })
    }
}

/// When to renew a token received at `now` that expires at `expires_at`:
/// at 80 % of its lifetime less up to 5 % jitter (so that a fleet does not
/// renew at once), and in any case by the time it stops being handed out;
/// never within the second it arrived (a server answering `expires_in: 1`
/// would otherwise be asked again by every call in that second).
fn renew_at(now: i64, expires_at: i64, usable_until: i64) -> i64 {
    let lifetime = expires_at.saturating_sub(now).max(0);
    let mut r = [0u8; 2];
    let jitter = match aws_lc_rs::rand::fill(&mut r) {
        Ok(()) => lifetime.saturating_mul(i64::from(u16::from_be_bytes(r) % 51)) / 1000,
        Err(_) => 0,
    };
    let at = now
        .saturating_add(lifetime.saturating_mul(4) / 5)
        .saturating_sub(jitter);
    at.min(usable_until).max(now.saturating_add(1))
}

/// Server-sent error text as logs may carry it: the RFC 6749 §5.2
/// character set (printable ASCII but `"` and the backslash), at most
/// [`MAX_ERROR_TEXT`] characters.
fn error_text(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\')
        .take(MAX_ERROR_TEXT)
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TokenSourceBuilder {
    fn new(auth: ClientAuth, grant: Grant) -> Self {
        TokenSourceBuilder {
            auth,
            grant,
            token_url: None,
            issuer: None,
            scope: None,
            resources: Vec::new(),
            audience: None,
            clock: Clock::System,
            timeout: DEFAULT_TOKEN_REQUEST_TIMEOUT,
            max_size: DEFAULT_TOKEN_RESPONSE_SIZE,
            min_validity: DEFAULT_TOKEN_MIN_VALIDITY,
            allow_http: false,
            http_client: None,
        }
    }

    /// The token endpoint. With [`issuer`](Self::issuer) too, this URL is
    /// used as given (no discovery) and the issuer is the audience of a
    /// `private_key_jwt` assertion (RFC 7523bis: the issuer alone).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Finds the token endpoint in `issuer`'s metadata (OpenID Connect
    /// Discovery, then RFC 8414), on the first request, unless a
    /// [`token_url`](Self::token_url) is given too. A `private_key_jwt`
    /// assertion names the issuer as its audience.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `scope` to request (space-separated).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// A `resource` to request the token for (RFC 8707); repeatable.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// The `audience` parameter some servers want instead of `resource`
    /// (Auth0).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// For a refresh-token source: called with each new refresh token the
    /// server returns (rotation), to persist it, as soon as the answer is
    /// read (before it is checked further). It runs while the source holds
    /// its request lock: keep it short and non-blocking (hand the value to
    /// a channel or a task to write it).
    pub fn on_rotate(mut self, callback: impl Fn(&str) + Send + Sync + 'static) -> Self {
        if let Grant::RefreshToken { on_rotate, .. } = &mut self.grant {
            *on_rotate = Some(Arc::new(callback));
        }
        self
    }

    /// Bound on each token request ([`DEFAULT_TOKEN_REQUEST_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest token response read ([`DEFAULT_TOKEN_RESPONSE_SIZE`]).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// The least validity a token handed out has left
    /// ([`DEFAULT_TOKEN_MIN_VALIDITY`]).
    pub fn min_validity(mut self, validity: Duration) -> Self {
        self.min_validity = validity;
        self
    }

    /// The clock (a `ManualClock` in tests).
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Allows `http://` endpoints (loopback test set-ups only).
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Sends discovery and token requests with a client built from
    /// `client` (a proxy, your own root certificates, mTLS to the
    /// authorization server), with the same-origin redirect policy and the
    /// user agent set as
    /// [`ValidatorBuilder::http_client`](crate::ValidatorBuilder::http_client)
    /// does. The request timeout stays this builder's.
    pub fn http_client(mut self, client: reqwest::ClientBuilder) -> Self {
        self.http_client = Some(crate::validator::builder::UserClient(client));
        self
    }

    /// Checks the configuration and builds the source (no request yet).
    ///
    /// # Errors
    ///
    /// [`TokenError::NoEndpoint`] without a token URL or issuer, or with
    /// one that is not an allowed URL.
    pub fn build(self) -> Result<TokenSource, TokenError> {
        let client = self
            .http_client
            .map(|c| build_client(Some(c.0), self.timeout))
            .transpose()
            .map_err(|e| TokenError::NoEndpoint(e.to_string()))?;
        let fetcher = Fetcher::new(self.timeout, self.allow_http, client.as_ref())
            .map_err(|e| TokenError::NoEndpoint(e.to_string()))?;
        let endpoint = match (self.token_url, self.issuer) {
            (Some(url), None) => EndpointSpec::Url(
                fetcher
                    .url(&url)
                    .map_err(|e| TokenError::NoEndpoint(e.to_string()))?,
            ),
            (url, Some(issuer)) => {
                fetcher
                    .url(&issuer)
                    .map_err(|e| TokenError::NoEndpoint(e.to_string()))?;
                let found = match url {
                    Some(url) => tokio::sync::OnceCell::new_with(Some(
                        fetcher
                            .url(&url)
                            .map_err(|e| TokenError::NoEndpoint(e.to_string()))?,
                    )),
                    None => tokio::sync::OnceCell::new(),
                };
                EndpointSpec::Discover { issuer, found }
            }
            (None, None) => {
                return Err(TokenError::NoEndpoint(
                    "give a token_url or an issuer".into(),
                ));
            }
        };
        Ok(TokenSource {
            inner: Arc::new(Inner {
                endpoint,
                auth: self.auth,
                grant: self.grant,
                scope: self.scope,
                resources: self.resources,
                audience: self.audience,
                fetcher,
                clock: self.clock,
                timeout: self.timeout,
                max_size: self.max_size,
                min_validity: i64::try_from(self.min_validity.as_secs()).unwrap_or(i64::MAX),
                state: Mutex::new(State::default()),
                flight: Arc::new(tokio::sync::Mutex::new(())),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_four_fifths_less_jitter_and_before_the_margin() {
        for _ in 0..100 {
            let at = renew_at(1000, 1300, 1270);
            assert!((1225..=1240).contains(&at), "{at}");
        }
        // A short token: due as soon as it stops being handed out.
        assert_eq!(renew_at(1000, 1020, 1010), 1010);
        // A token that (says it) never expires: no overflow, renewed late.
        assert!(renew_at(1000, i64::MAX, i64::MAX - 30) > 1000);
        // One already expired: due now.
        // Expired on arrival: not handed out at all; a renewal is never
        // due within the second of arrival.
        assert_eq!(renew_at(1000, 900, 870), 1001);
    }

    #[test]
    fn server_error_text_is_cut_to_the_rfc_6749_character_set() {
        assert_eq!(error_text("invalid_scope"), "invalid_scope");
        assert_eq!(error_text("a\nb\"c\\d\u{1b}[31m\u{e9}"), "abcd[31m");
        assert_eq!(error_text(&"x".repeat(1000)).len(), MAX_ERROR_TEXT);
    }
}
