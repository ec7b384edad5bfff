//! Opaque tokens: RFC 7662 token introspection, behind the same
//! [`Validator::validate`](crate::Validator::validate) and the same layer.
//!
//! - **Which tokens**: [`TokenPolicy`] — JWTs locally and other tokens by
//!   introspection (the default once introspection is configured), JWTs only,
//!   or every token by introspection (for revocation checks).
//! - **The request** (RFC 7662 §2.1): `token` and
//!   `token_type_hint=access_token`, with client authentication
//!   ([`ClientAuth`]): `client_secret_basic` (id and secret form-encoded
//!   before Base64, RFC 6749 §2.3.1), `client_secret_post`, or
//!   `private_key_jwt` (RFC 7523: a fresh assertion per call with
//!   `iss` = `sub` = client id, `aud` the endpoint, 60 s `exp`, random `jti`).
//! - **The answer**: `active: false` is refused as
//!   [`crate::ValidationError::Inactive`];
//!   `active: true` goes through the same claim checks as a JWT where the
//!   claims are present (`iss`, `aud`, `exp`, `nbf`, `iat`, scopes, `cnf`)
//!   and yields the same [`Claims`]. A `token_type` other than a bearer
//!   access token is refused. A body over the size limit, not JSON, without
//!   a boolean `active`, or a status other than 200 means the token could
//!   not be checked: HTTP 503, never 401 and never 200.
//! - **The cache** (moka): keyed by the SHA-256 of the token (never the
//!   token); an active answer lives until the token's `exp` or
//!   [`IntrospectionOptions::max_ttl`], whichever is sooner; an inactive or
//!   refused one for [`inactive_ttl`](IntrospectionOptions::inactive_ttl);
//!   bounded capacity; concurrent requests for one uncached token make one
//!   call (single flight), and share its outcome, failures included;
//!   failures are not cached, so they never displace good answers.
//! - **Overload**: at most [`max_concurrent`](IntrospectionOptions::max_concurrent)
//!   calls in flight; beyond that a request for an uncached token is answered
//!   503 at once instead of queueing. Cached answers keep serving while the
//!   endpoint is down.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};
use moka::Expiry;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::claims::{ClaimRules, Claims, Source};
use crate::error::ValidationError;
use crate::fetch::{FetchError, Fetcher};
use crate::jwks::JwksCache;
use crate::jwt::parse_claims;
use crate::signing::SigningKey;
use crate::validator::Clock;

/// Which tokens are validated locally and which by introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenPolicy {
    /// JWTs only; anything else is malformed. The default without introspection.
    JwtOnly,
    /// Compact JWS tokens locally, every other token by introspection. The
    /// default once introspection is configured.
    JwtThenIntrospect,
    /// Every token by introspection, JWTs included (so that revocation at the
    /// authorization server takes effect).
    IntrospectAll,
}

/// How the resource server authenticates to the introspection endpoint.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// A JWT assertion signed with the client's private key (RFC 7523 §2.2).
    PrivateKeyJwt {
        /// The client id (`iss` and `sub` of the assertion).
        client_id: String,
        /// The signing key (its `kid`, if any, goes in the header).
        key: Arc<SigningKey>,
    },
}

impl ClientAuth {
    /// `client_secret_basic`.
    pub fn basic(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientAuth::ClientSecretBasic {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// `client_secret_post`.
    pub fn post(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientAuth::ClientSecretPost {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// `private_key_jwt`.
    pub fn private_key_jwt(client_id: impl Into<String>, key: SigningKey) -> Self {
        ClientAuth::PrivateKeyJwt {
            client_id: client_id.into(),
            key: Arc::new(key),
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (method, id) = match self {
            ClientAuth::ClientSecretBasic { client_id, .. } => ("client_secret_basic", client_id),
            ClientAuth::ClientSecretPost { client_id, .. } => ("client_secret_post", client_id),
            ClientAuth::PrivateKeyJwt { client_id, .. } => ("private_key_jwt", client_id),
        };
        f.debug_struct("ClientAuth")
            .field("method", &method)
            .field("client_id", id)
            .finish_non_exhaustive()
    }
}

/// Settings of introspection and its cache. Start from `IntrospectionOptions::default()`.
///
/// | setting | default |
/// |---|---|
/// | [`timeout`](Self::timeout) | 2 s |
/// | [`max_ttl`](Self::max_ttl) (active answers; never past the token's `exp`) | 60 s |
/// | [`inactive_ttl`](Self::inactive_ttl) (inactive or refused answers) | 10 s |
/// | [`capacity`](Self::capacity) (cached answers) | 10 000 |
/// | [`max_size`](Self::max_size) (response body) | 64 KiB |
/// | [`max_concurrent`](Self::max_concurrent) (calls in flight) | 64 |
#[derive(Debug, Clone)]
pub struct IntrospectionOptions {
    timeout: Duration,
    max_ttl: Duration,
    inactive_ttl: Duration,
    capacity: u64,
    max_size: usize,
    max_concurrent: usize,
}

/// Largest introspection response accepted, in bytes: 64 KiB.
pub const DEFAULT_MAX_INTROSPECTION_SIZE: usize = 64 * 1024;

impl Default for IntrospectionOptions {
    fn default() -> Self {
        IntrospectionOptions {
            timeout: Duration::from_secs(2),
            max_ttl: Duration::from_secs(60),
            inactive_ttl: Duration::from_secs(10),
            capacity: 10_000,
            max_size: DEFAULT_MAX_INTROSPECTION_SIZE,
            max_concurrent: 64,
        }
    }
}

impl IntrospectionOptions {
    pub(crate) fn timeout_value(&self) -> Duration {
        self.timeout
    }

    /// Timeout of one introspection call. Default 2 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longest time an active answer is reused (never past the token's
    /// `exp`): how long a revocation may go unnoticed. Default 60 s.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// How long an inactive (or refused) answer is reused. Default 10 s.
    pub fn inactive_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_ttl = ttl;
        self
    }

    /// Most answers kept in the cache. Default 10 000.
    pub fn capacity(mut self, entries: u64) -> Self {
        self.capacity = entries;
        self
    }

    /// Largest response body accepted, in bytes. Default 64 KiB.
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// Most introspection calls in flight; requests beyond it are answered
    /// 503 at once rather than queued. Default 64.
    pub fn max_concurrent(mut self, calls: usize) -> Self {
        self.max_concurrent = calls;
        self
    }
}

/// Why a token could not be introspected (HTTP 503: the token was not
/// refused, it could not be checked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionError {
    /// Discovery has not produced an `introspection_endpoint`.
    #[error("no introspection endpoint (the issuer metadata names none, or was not fetched)")]
    NoEndpoint,
    /// The call failed: timeout, connection, status, size.
    #[error("introspection call failed: {0}")]
    Fetch(FetchError),
    /// The endpoint refused this resource server's client authentication.
    #[error("the introspection endpoint refused the client credentials (HTTP {0})")]
    ClientAuthRejected(u16),
    /// The answer is not a JSON object with a boolean `active`.
    #[error("invalid introspection response: {0}")]
    Invalid(&'static str),
    /// Too many calls in flight.
    #[error("too many introspection calls in flight")]
    Overloaded,
    /// The `private_key_jwt` client assertion could not be made (the key
    /// cannot sign, or the random generator failed).
    #[error("cannot sign the private_key_jwt client assertion")]
    ClientAssertion,
}

/// Counters of the introspection client and its cache.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct IntrospectionStats {
    /// Calls made to the endpoint.
    pub calls: u64,
    /// Answers served from the cache.
    pub cache_hits: u64,
    /// Calls that answered `active: true`.
    pub active: u64,
    /// Calls that answered `active: false`.
    pub inactive: u64,
    /// Calls that failed (timeout, status, invalid answer...).
    pub failures: u64,
    /// Requests answered 503 at once because too many calls were in flight.
    pub overloaded: u64,
    /// The most calls that were ever in flight at once (at most
    /// [`IntrospectionOptions::max_concurrent`]).
    pub max_in_flight: u64,
    /// Answers in the cache now.
    pub cached: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    hits: AtomicU64,
    active: AtomicU64,
    inactive: AtomicU64,
    failures: AtomicU64,
    overloaded: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Counts a call in flight for as long as it lives (also when abandoned).
struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    fn new(counters: &'a Counters) -> Self {
        let now = counters
            .in_flight
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        counters.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(counters)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A cached introspection outcome.
#[derive(Clone)]
enum Cached {
    Active {
        claims: Claims,
        at: i64,
        ttl: u64,
    },
    /// Inactive, or active but refused by the claim checks.
    Refused {
        error: ValidationError,
        at: i64,
        ttl: u64,
    },
}

impl Cached {
    fn stale(&self, now: i64) -> bool {
        let (Cached::Active { at, ttl, .. } | Cached::Refused { at, ttl, .. }) = self;
        now.saturating_sub(*at) >= i64::try_from(*ttl).unwrap_or(i64::MAX)
    }

    fn ttl(&self) -> Duration {
        let (Cached::Active { ttl, .. } | Cached::Refused { ttl, .. }) = self;
        Duration::from_secs(*ttl)
    }
}

/// Evicts entries when their TTL ends (the reading side also checks the TTL
/// against the validator's clock).
struct CachedExpiry;

impl Expiry<[u8; 32], Cached> for CachedExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl())
    }

    fn expire_after_update(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl())
    }
}

/// Where the endpoint comes from.
pub(crate) enum Endpoint {
    Url(reqwest::Url),
    Discovered(Arc<JwksCache>),
}

/// The introspection client of one validator.
pub(crate) struct Introspector {
    endpoint: Endpoint,
    auth: ClientAuth,
    fetcher: Fetcher,
    options: IntrospectionOptions,
    cache: moka::future::Cache<[u8; 32], Cached>,
    permits: Arc<Semaphore>,
    clock: Clock,
    counters: Counters,
}

impl Introspector {
    pub(crate) fn new(
        endpoint: Endpoint,
        auth: ClientAuth,
        fetcher: Fetcher,
        options: IntrospectionOptions,
        clock: Clock,
    ) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(options.capacity)
            .expire_after(CachedExpiry)
            .build();
        Introspector {
            endpoint,
            auth,
            fetcher,
            permits: Arc::new(Semaphore::new(options.max_concurrent)),
            options,
            cache,
            clock,
            counters: Counters::default(),
        }
    }

    /// Validates `token` by introspection (through the cache).
    pub(crate) async fn introspect(
        &self,
        token: &str,
        rules: &ClaimRules,
    ) -> Result<Claims, ValidationError> {
        let key = crate::digest::sha256(token.as_bytes());
        let now = self.clock.now();
        if let Some(hit) = self.cache.get(&key).await {
            if !hit.stale(now) {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return self.answer(hit, rules);
            }
            self.cache.invalidate(&key).await;
        }
        // Concurrent requests for this token share one call, and its error;
        // errors are not cached, so they never displace good answers.
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(self.call(token, rules))
            .await
            .map_err(|e| ValidationError::IntrospectionUnavailable((*e).clone()))?;
        if !entry.is_fresh() {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
        }
        self.answer(entry.into_value(), rules)
    }

    fn answer(&self, cached: Cached, rules: &ClaimRules) -> Result<Claims, ValidationError> {
        match cached {
            Cached::Active { claims, .. } => {
                claims.check_time(self.clock.now(), rules.leeway)?;
                Ok(claims)
            }
            Cached::Refused { error, .. } => Err(error),
        }
    }

    /// One call to the endpoint, turned into a cacheable outcome.
    async fn call(&self, token: &str, rules: &ClaimRules) -> Result<Cached, IntrospectionError> {
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
            return Err(IntrospectionError::Overloaded);
        };
        let _in_flight = InFlight::new(&self.counters);
        let outcome = self
            .request(token)
            .await
            .and_then(|body| self.outcome(&body, rules));
        match &outcome {
            Ok(Cached::Active { .. }) => self.counters.active.fetch_add(1, Ordering::Relaxed),
            Ok(_) => self.counters.inactive.fetch_add(1, Ordering::Relaxed),
            Err(error) => {
                tracing::warn!(%error, "token introspection failed");
                self.counters.failures.fetch_add(1, Ordering::Relaxed)
            }
        };
        outcome
    }

    async fn endpoint(&self) -> Result<reqwest::Url, IntrospectionError> {
        match &self.endpoint {
            Endpoint::Url(url) => Ok(url.clone()),
            Endpoint::Discovered(cache) => {
                if cache.metadata().is_none() {
                    // Start-up: discovery may still be running.
                    let _ = tokio::time::timeout(
                        self.options
                            .timeout
                            .max(Duration::from_secs(1))
                            .saturating_mul(2),
                        cache.first_attempt(),
                    )
                    .await;
                }
                let url = cache
                    .metadata()
                    .and_then(|m| m.introspection_endpoint.clone())
                    .ok_or(IntrospectionError::NoEndpoint)?;
                self.fetcher.url(&url).map_err(IntrospectionError::Fetch)
            }
        }
    }

    async fn request(&self, token: &str) -> Result<Vec<u8>, IntrospectionError> {
        let url = self.endpoint().await?;
        let mut form: Vec<(&str, &str)> =
            vec![("token", token), ("token_type_hint", "access_token")];
        let mut headers = HeaderMap::new();
        let assertion;
        match &self.auth {
            ClientAuth::ClientSecretBasic {
                client_id,
                client_secret,
            } => {
                let credentials =
                    format!("{}:{}", form_encode(client_id), form_encode(client_secret));
                let value = format!("Basic {}", STANDARD.encode(credentials));
                headers.insert(
                    AUTHORIZATION,
                    HeaderValue::from_str(&value)
                        .map_err(|_| IntrospectionError::Invalid("client credentials"))?,
                );
            }
            ClientAuth::ClientSecretPost {
                client_id,
                client_secret,
            } => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret));
            }
            ClientAuth::PrivateKeyJwt { client_id, key } => {
                assertion = self.assertion(client_id, key, url.as_str())?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push(("client_assertion", &assertion));
            }
        }
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        self.fetcher
            .post_form(
                &url,
                &form,
                headers,
                self.options.max_size,
                self.options.timeout,
            )
            .await
            .map_err(|e| match e {
                FetchError::Status(code @ (401 | 403)) => {
                    IntrospectionError::ClientAuthRejected(code)
                }
                other => IntrospectionError::Fetch(other),
            })
    }

    /// A `private_key_jwt` client assertion (RFC 7523 §3).
    fn assertion(
        &self,
        client_id: &str,
        key: &SigningKey,
        audience: &str,
    ) -> Result<String, IntrospectionError> {
        let now = self.clock.now();
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| IntrospectionError::ClientAssertion)?;
        key.sign_jwt(
            None,
            &json!({
                "iss": client_id,
                "sub": client_id,
                "aud": audience,
                "iat": now,
                "exp": now.saturating_add(60),
                "jti": URL_SAFE_NO_PAD.encode(jti),
            }),
        )
        .ok_or(IntrospectionError::ClientAssertion)
    }

    /// Reads an introspection response (RFC 7662 §2.2).
    fn outcome(&self, body: &[u8], rules: &ClaimRules) -> Result<Cached, IntrospectionError> {
        interpret(body, rules, self.clock.now(), &self.options)
    }

    pub(crate) async fn stats(&self) -> IntrospectionStats {
        self.cache.run_pending_tasks().await;
        let c = &self.counters;
        IntrospectionStats {
            calls: c.calls.load(Ordering::Relaxed),
            cache_hits: c.hits.load(Ordering::Relaxed),
            active: c.active.load(Ordering::Relaxed),
            inactive: c.inactive.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
            max_in_flight: c.max_in_flight.load(Ordering::Relaxed),
            cached: self.cache.entry_count(),
        }
    }
}

/// Reads an introspection response body at time `now` (RFC 7662 §2.2).
fn interpret(
    body: &[u8],
    rules: &ClaimRules,
    now: i64,
    options: &IntrospectionOptions,
) -> Result<Cached, IntrospectionError> {
    let map = parse_claims(body).map_err(|_| IntrospectionError::Invalid("not a JSON object"))?;
    let refused = |error| Cached::Refused {
        error,
        at: now,
        ttl: options.inactive_ttl.as_secs(),
    };
    match map.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(refused(ValidationError::Inactive)),
        _ => return Err(IntrospectionError::Invalid("no boolean `active`")),
    }
    if let Some(token_type) = map.get("token_type").and_then(Value::as_str) {
        if token_type.eq_ignore_ascii_case("dpop") {
            return Ok(refused(ValidationError::SenderConstrained));
        }
        if !token_type.eq_ignore_ascii_case("bearer")
            && !token_type.eq_ignore_ascii_case("access_token")
        {
            return Ok(refused(ValidationError::TypeNotAllowed));
        }
    }
    match rules.check(map, now, Source::Introspection) {
        Ok(claims) => {
            let until_exp = claims.expires_at().map_or(u64::MAX, |exp| {
                u64::try_from(exp.saturating_sub(now)).unwrap_or(0)
            });
            let ttl = until_exp.min(options.max_ttl.as_secs());
            Ok(Cached::Active {
                claims,
                at: now,
                ttl,
            })
        }
        Err(error) => Ok(refused(error)),
    }
}

/// Fuzzing entry point (`cargo fuzz run introspection_response`): reads
/// `body` as an introspection response. Not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub fn fuzz_response(body: &[u8]) {
    let rules = ClaimRules {
        issuers: vec!["https://issuer.test".into()],
        audiences: vec!["api".into()],
        leeway: 60,
        required: vec![],
    };
    if let Ok(Cached::Active { claims, ttl, .. }) = interpret(
        body,
        &rules,
        1_800_000_000,
        &IntrospectionOptions::default(),
    ) {
        assert!(ttl <= 60);
        let _ = claims.scopes().len();
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749
/// §2.3.1 applies it to the client id and secret before Base64).
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encode("client:1 é"), "client%3A1+%C3%A9");
        assert_eq!(form_encode("p@ss/w+rd"), "p%40ss%2Fw%2Brd");
    }

    #[test]
    fn client_auth_debug_hides_secrets() {
        let shown = format!("{:?}", ClientAuth::basic("rs", "hunter2"));
        assert!(
            shown.contains("rs") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn cached_outcomes_go_stale_after_their_ttl() {
        let c = Cached::Refused {
            error: ValidationError::Inactive,
            at: 100,
            ttl: 10,
        };
        assert!(!c.stale(109));
        assert!(c.stale(110));
    }
}
