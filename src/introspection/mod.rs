//! Opaque tokens: RFC 7662 token introspection, behind the same
//! [`Validator::validate`](crate::Validator::validate) and the same layer.
//! What a user needs to know is on [`Introspection`].
//!
//! Layout (private): `client` (the calls), `client_auth`, `response`
//! (reading an answer), `cache`. Knows the claims rules, keys (for `private_key_jwt`)
//! and the remote fetcher; knows nothing of validators or middleware.

pub(crate) mod cache;
pub(crate) mod client;
pub(crate) mod client_auth;
pub(crate) mod response;

use std::time::Duration;

pub use client_auth::ClientAuth;
pub use response::InvalidResponse;

pub(crate) use crate::limits::DEFAULT_MAX_INTROSPECTION_SIZE;
use crate::remote::RemoteError;

/// Opaque tokens validated by RFC 7662 introspection: the endpoint, how this
/// resource server authenticates to it, which tokens go there, and the
/// cache. Give it to
/// [`ValidatorBuilder::introspection`](crate::ValidatorBuilder::introspection).
///
/// - **Turned on** by [`ValidatorBuilder::introspection`](crate::ValidatorBuilder::introspection)
///   with an [`Introspection`]: an endpoint given ([`Introspection::at`]) or
///   found by discovery ([`Introspection::discovered`]), never implicitly.
/// - **Which tokens**: [`TokenPolicy`] — JWTs locally and other tokens by
///   introspection (the default), or every token by introspection (for
///   revocation checks).
/// - **The request** (RFC 7662 §2.1): `token` and
///   `token_type_hint=access_token`, with client authentication
///   ([`ClientAuth`]): `client_secret_basic` (id and secret form-encoded
///   before Base64, RFC 6749 §2.3.1), `client_secret_post`, or
///   `private_key_jwt` (RFC 7523: a fresh assertion per call with
///   `iss` = `sub` = client id, `aud` the endpoint, 60 s `exp`, random `jti`).
/// - **The answer**: `active: false` is refused as
///   [`crate::ValidationError::Inactive`];
///   `active: true` goes through the same claim checks as a JWT and yields
///   the same [`Claims`](crate::Claims): the audience and every required
///   claim must be present, unless [`may_omit`](Introspection::may_omit)
///   names it; `iss`, `exp`, `nbf`, `iat`, scopes and `cnf` are checked
///   where present. A `token_type` other than a bearer access token is
///   refused. A body over the size limit, not JSON, without
///   a boolean `active`, or a status other than 200 means the token could
///   not be checked: HTTP 503, never 401 and never 200.
/// - **The cache** (moka): keyed by the SHA-256 of the token (never the
///   token); an active answer lives until the token's `exp` or
///   [`IntrospectionOptions::max_ttl`], whichever is sooner; an inactive or
///   refused one for [`inactive_ttl`](IntrospectionOptions::inactive_ttl);
///   bounded capacity; concurrent requests for one uncached token make one
///   call (single flight), and share its outcome, failures included;
///   failures are not cached, so they never displace good answers.
/// - **Overload**: at most [`max_concurrent`](IntrospectionOptions::max_concurrent)
///   calls in flight; beyond that a request for an uncached token is answered
///   503 at once instead of queueing. Cached answers keep serving while the
///   endpoint is down.
///
/// ```
/// use bearer_guard::{introspection::{ClientAuth, Introspection, IntrospectionOptions, TokenPolicy}};
/// use std::time::Duration;
///
/// let introspection = Introspection::at(
///     "https://auth.example.com/oauth2/introspect",
///     ClientAuth::basic("payments-api", "s3cret"),
/// )
/// .policy(TokenPolicy::JwtThenIntrospect)
/// .options(IntrospectionOptions::default().max_ttl(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone)]
pub struct Introspection {
    pub(crate) endpoint: EndpointConfig,
    pub(crate) auth: ClientAuth,
    pub(crate) options: IntrospectionOptions,
    pub(crate) policy: TokenPolicy,
    pub(crate) may_omit: Vec<String>,
}

/// Where the introspection endpoint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EndpointConfig {
    /// This URL.
    Url(crate::remote::EndpointUrl),
    /// The `introspection_endpoint` of the discovered issuer metadata.
    Discovered,
}

impl Introspection {
    /// Introspection at `url`, authenticating with `auth` (RFC 7662 §2.1
    /// requires client authentication).
    pub fn at(url: impl Into<String>, auth: ClientAuth) -> Self {
        Introspection {
            endpoint: EndpointConfig::Url(crate::remote::EndpointUrl::new(url.into())),
            auth,
            options: IntrospectionOptions::default(),
            policy: TokenPolicy::default(),
            may_omit: Vec::new(),
        }
    }

    /// Introspection at the `introspection_endpoint` of the issuer metadata;
    /// needs [`ValidatorBuilder::discover`](crate::ValidatorBuilder::discover).
    pub fn discovered(auth: ClientAuth) -> Self {
        Introspection {
            endpoint: EndpointConfig::Discovered,
            ..Self::at(String::new(), auth)
        }
    }

    /// Which tokens go to introspection (default
    /// [`TokenPolicy::JwtThenIntrospect`]).
    pub fn policy(mut self, policy: TokenPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Settings of the calls and the cache.
    pub fn options(mut self, options: IntrospectionOptions) -> Self {
        self.options = options;
        self
    }

    /// Accepts introspection answers that leave out the claim `name`,
    /// which is still checked wherever an answer carries it.
    ///
    /// By default an introspection answer must carry what a JWT must: the
    /// audience (`aud`, or `client_id` in the
    /// [client-id mode](crate::ValidatorBuilder::allowed_client_ids)) and
    /// every [required claim](crate::ValidatorBuilder::require_claim)
    /// (those of the [RFC 9068 profile](crate::ValidatorBuilder::rfc9068_profile)
    /// and of [`require_claim_equals`](crate::ValidatorBuilder::require_claim_equals)
    /// too). RFC 7662 §2.2 makes every member of an answer optional, and an
    /// answer without `aud` may be a token issued for another resource of
    /// the same authorization server: so it is refused unless you name the
    /// claim here, once, for a server that restricts its answers itself
    /// (one that answers `active: false` to any resource the token is not
    /// meant for, say). `exp` and `iss` are always checked where present
    /// and never required (the configured endpoint speaks for its issuer;
    /// without `exp`, an answer is cached for
    /// [`max_ttl`](IntrospectionOptions::max_ttl) at most).
    ///
    /// ```
    /// use bearer_guard::{introspection::{ClientAuth, Introspection}};
    /// // This server never sends `aud`, and refuses tokens of other
    /// // resources itself.
    /// let introspection = Introspection::at(
    ///     "https://auth.example.com/introspect",
    ///     ClientAuth::basic("payments-rs", "secret"),
    /// )
    /// .may_omit("aud");
    /// # let _ = introspection;
    /// ```
    pub fn may_omit(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.may_omit.contains(&name) {
            self.may_omit.push(name);
        }
        self
    }
}

/// Which tokens are validated locally and which by introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenPolicy {
    /// Compact JWS tokens locally, every other token by introspection. The
    /// default.
    #[default]
    JwtThenIntrospect,
    /// Every token by introspection, JWTs included (so that revocation at the
    /// authorization server takes effect).
    IntrospectAll,
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
    pub(crate) timeout: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) inactive_ttl: Duration,
    pub(crate) capacity: u64,
    pub(crate) max_size: usize,
    pub(crate) max_concurrent: usize,
}

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
    /// 503 at once rather than queued. Default 64; at least 1
    /// ([`BuildError::IntrospectionConcurrency`](crate::BuildError::IntrospectionConcurrency)
    /// otherwise).
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
    /// The call failed: timeout, connection, status, size (ask the
    /// [`RemoteError`]: [`is_timeout`](RemoteError::is_timeout),
    /// [`status`](RemoteError::status)...).
    #[error("introspection call failed: {0}")]
    Fetch(RemoteError),
    /// The endpoint refused this resource server's client authentication.
    #[error("the introspection endpoint refused the client credentials (HTTP {0})")]
    ClientAuthRejected(u16),
    /// The answer is not a JSON object with a boolean `active`.
    #[error("invalid introspection response: {0}")]
    InvalidResponse(InvalidResponse),
    /// Too many calls in flight.
    #[error("too many introspection calls in flight")]
    Overloaded,
    /// The client authentication could not be made: the `private_key_jwt`
    /// assertion could not be signed (or the random generator failed).
    #[error("cannot make the client authentication (private_key_jwt assertion)")]
    ClientAuthentication,
}

/// Counters of the introspection client and its cache.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct IntrospectionStats {
    /// Calls made to the endpoint.
    pub calls: u64,
    /// Answers served from the cache.
    pub cache_hits: u64,
    /// Answers another replica had fetched, served from the shared store
    /// (feature `redis`); each also counts as an answer in the cache.
    pub shared_cache_hits: u64,
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

/// Fuzzing entry point (`cargo fuzz run introspection_response`): reads
/// `body` as an introspection response. Not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub fn fuzz_introspection_response(body: &[u8]) {
    let rules = crate::claims::ClaimRules {
        issuers: vec!["https://issuer.test".into()],
        audiences: vec!["api".into()],
        leeway: crate::clock::Leeway(60),
        ..crate::claims::ClaimRules::default()
    };
    if let Ok(response::Answer::Active { claims, ttl }) = response::interpret(
        body,
        &rules,
        1_800_000_000,
        &IntrospectionOptions::default(),
    ) {
        assert!(ttl <= 60);
        let _ = claims.scopes().len();
    }
}
