//! [`Validator`]: the one entry point that turns a token string into verified
//! [`Claims`], and its builder.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::claims::{ClaimRules, Claims, Source as ClaimSource};
use crate::error::{BuildError, ValidationError};
#[cfg(feature = "remote")]
use crate::introspection::{
    ClientAuth, Endpoint, IntrospectionOptions, IntrospectionStats, Introspector, TokenPolicy,
};
#[cfg(feature = "remote")]
use crate::jwks::{JwksCache, JwksOptions, KeySourceStats, Source};
use crate::jwt::{HeaderRules, Jws, TypPolicy};
use crate::keys::{Algorithm, AlgorithmSet, KeyBinding, KeySet, VerificationKey};

/// Default largest token accepted, in bytes: 16 KiB.
///
/// Tokens are refused before any decoding when longer. Real access tokens are
/// well under 4 KiB; Keycloak tokens with many roles approach 8 KiB.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 16 * 1024;

/// Default clock leeway for `exp`, `nbf` and `iat`: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Default capacity of the verified-token cache: 10 000 tokens.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: u64 = 10_000;

/// Validates access tokens: the part of this crate that knows nothing of HTTP.
///
/// Use it from the [`BearerLayer`](crate::BearerLayer), or directly from a gRPC
/// interceptor, a queue consumer or a test. Cloning is cheap and clones share
/// their keys.
///
/// ```
/// use bearer_guard::{Validator, ValidationError};
/// # use bearer_guard::testing::TestIssuer;
/// # let test_issuer = TestIssuer::new();
/// # let jwks_json = test_issuer.jwks_json();
///
/// let validator = Validator::builder()
///     .issuer("https://issuer.test")
///     .audience("payments")
///     .jwks_json(jwks_json)
///     .build()?;
/// # let token = test_issuer.token().audience("payments").sign();
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// match validator.validate(&token).await {
///     Ok(claims) => println!("hello {:?}", claims.subject()),
///     Err(ValidationError::Expired) => println!("please refresh your token"),
///     Err(other) => println!("refused: {other}"),
/// }
/// # });
/// # Ok::<(), bearer_guard::BuildError>(())
/// ```
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    header: HeaderRules,
    claims: ClaimRules,
    max_token_size: usize,
    clock: Clock,
    keys: Keys,
    #[cfg(feature = "remote")]
    introspection: Option<(TokenPolicy, Introspector)>,
    cache: Option<moka::sync::Cache<[u8; 32], Verified>>,
}

/// A verified token in the cache, bound to the key that verified it: a hit
/// counts only while the current key set still holds that key.
#[derive(Clone)]
struct Verified {
    claims: Claims,
    key: KeyBinding,
}

/// Evicts a cached token once it has expired (the hit path re-checks the
/// time claims against the validator's clock in any case).
struct UntilExpiry {
    leeway: i64,
    clock: Clock,
}

impl moka::Expiry<[u8; 32], Verified> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Verified,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        let exp = value.claims.expires_at()?;
        let left = exp
            .saturating_add(self.leeway)
            .saturating_sub(self.clock.now());
        Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
    }
}

enum Keys {
    Static(KeySet),
    #[cfg(feature = "remote")]
    Remote {
        cache: Arc<JwksCache>,
        /// Stops the refresh task when the last clone of the validator drops.
        _task: AbortOnDrop,
    },
}

#[cfg(feature = "remote")]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

#[cfg(feature = "remote")]
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The outcome of a validation that must not wait.
pub(crate) enum Attempt {
    /// Validation finished.
    Done(Result<Claims, ValidationError>),
    /// Validation needs keys that a fetch may bring: call
    /// [`Validator::validate`], which waits for it.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Wait,
}

enum Step {
    Fail(ValidationError),
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Wait,
}

impl From<ValidationError> for Step {
    fn from(e: ValidationError) -> Self {
        Step::Fail(e)
    }
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuers", &self.inner.claims.issuers)
            .field("audiences", &self.inner.claims.audiences)
            .field("algorithms", &self.inner.header.algorithms)
            .field("typ", &self.inner.header.typ)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// Starts a builder.
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder::default()
    }

    /// Validates `token` (the bare token, without `Bearer `) and returns its
    /// verified claims, or the first check that failed.
    ///
    /// Checks, in order: size limit; compact JWS shape; header (`alg` known
    /// and allowed, no unknown `crit`, `typ` allowed); key by `kid`, bound to
    /// `alg`; signature; then, only once the signature holds, the claims
    /// (`exp`, `iss`, `aud` present; `iss` exact; `aud` contains a configured
    /// audience; `exp`, `nbf`, `iat` against the clock with leeway; required
    /// claims; claim types).
    ///
    /// With remote keys, this waits only when the key set lacks the token's
    /// `kid` (or has not been fetched yet) and a fetch is running or allowed
    /// by the cool-down; the wait is bounded by the fetch timeout.
    pub async fn validate(&self, token: &str) -> Result<Claims, ValidationError> {
        #[cfg(feature = "remote")]
        if let Some(introspector) = self.introspector_for(token) {
            self.check_size(token)?;
            return introspector.introspect(token, &self.inner.claims).await;
        }
        match self.attempt(token, true) {
            Attempt::Done(result) => result,
            Attempt::Wait => {
                #[cfg(feature = "remote")]
                if let Keys::Remote { cache, .. } = &self.inner.keys {
                    cache.refresh_and_wait().await;
                }
                match self.attempt(token, false) {
                    Attempt::Done(result) => result,
                    Attempt::Wait => Err(ValidationError::KeysUnavailable),
                }
            }
        }
    }

    /// Validation without waiting. With `may_wait`, answers [`Attempt::Wait`]
    /// where a key fetch could change the outcome.
    pub(crate) fn attempt(&self, token: &str, may_wait: bool) -> Attempt {
        #[cfg(feature = "remote")]
        if self.introspector_for(token).is_some() {
            // Introspection is a network call: `validate` makes it.
            return match self.check_size(token) {
                Err(e) => Attempt::Done(Err(e)),
                Ok(()) => Attempt::Wait,
            };
        }
        match self.check(token, may_wait) {
            Ok(claims) => Attempt::Done(Ok(claims)),
            Err(Step::Fail(e)) => Attempt::Done(Err(e)),
            Err(Step::Wait) => Attempt::Wait,
        }
    }

    /// The introspector, if this token goes to introspection.
    #[cfg(feature = "remote")]
    fn introspector_for(&self, token: &str) -> Option<&Introspector> {
        let (policy, introspector) = self.inner.introspection.as_ref()?;
        let jws = token.bytes().filter(|b| *b == b'.').count() == 2;
        match policy {
            TokenPolicy::IntrospectAll => Some(introspector),
            TokenPolicy::JwtThenIntrospect if !jws => Some(introspector),
            _ => None,
        }
    }

    fn check_size(&self, token: &str) -> Result<(), ValidationError> {
        if token.len() > self.inner.max_token_size {
            return Err(ValidationError::TooLarge {
                len: token.len(),
                limit: self.inner.max_token_size,
            });
        }
        if token.is_empty() {
            return Err(ValidationError::Malformed(crate::Malformed::Empty));
        }
        Ok(())
    }

    /// Whether the current key set still holds the key of `binding`; false
    /// when there is no usable key set.
    fn still_trusts(&self, binding: &KeyBinding) -> bool {
        match &self.inner.keys {
            Keys::Static(keys) => keys.still_trusts(binding),
            #[cfg(feature = "remote")]
            Keys::Remote { cache, .. } => cache
                .current()
                .as_ref()
                .is_some_and(|snapshot| snapshot.keys.still_trusts(binding)),
        }
    }

    fn check(&self, token: &str, may_wait: bool) -> Result<Claims, Step> {
        let inner = &*self.inner;
        #[cfg(not(feature = "remote"))]
        let _ = may_wait;
        self.check_size(token)?;
        let cache_key = inner
            .cache
            .as_ref()
            .map(|cache| (cache, crate::digest::sha256(token.as_bytes())));
        if let Some((cache, key)) = &cache_key
            && let Some(hit) = cache.get(key)
        {
            if self.still_trusts(&hit.key) {
                hit.claims
                    .check_time(inner.clock.now(), inner.claims.leeway)?;
                return Ok(hit.claims);
            }
            // The key that verified it is gone: verify again (which fails
            // unless another trusted key signed the very same token).
            cache.invalidate(key);
        }
        let (claims, key) = self.verify(token, may_wait)?;
        if let Some((cache, digest)) = cache_key {
            cache.insert(
                digest,
                Verified {
                    claims: claims.clone(),
                    key,
                },
            );
        }
        Ok(claims)
    }

    /// Full verification: header, key, signature, claims. Returns the claims
    /// and the key that verified them.
    fn verify(&self, token: &str, may_wait: bool) -> Result<(Claims, KeyBinding), Step> {
        let inner = &*self.inner;
        #[cfg(not(feature = "remote"))]
        let _ = may_wait;
        let jws = Jws::parse(token)?;
        let alg = jws.check_header(&inner.header)?;
        let binding = match &inner.keys {
            Keys::Static(keys) => jws.verify_signature(alg, keys)?,
            #[cfg(feature = "remote")]
            Keys::Remote { cache, .. } => {
                let snapshot = cache.current();
                let Some(snapshot) = &*snapshot else {
                    return Err(if may_wait && cache.may_fetch() {
                        Step::Wait
                    } else {
                        Step::Fail(ValidationError::KeysUnavailable)
                    });
                };
                match jws.verify_signature(alg, &snapshot.keys) {
                    Err(ValidationError::UnknownKeyId) if may_wait && cache.may_fetch() => {
                        return Err(Step::Wait);
                    }
                    other => other?,
                }
            }
        };
        let claims = inner
            .claims
            .check(jws.claims()?, inner.clock.now(), ClaimSource::Jwt)?;
        Ok((claims, binding))
    }

    /// The keys this validator verifies with right now: the configured ones,
    /// plus the last fetched JWKS with remote keys (none before the first
    /// fetch).
    pub fn keys(&self) -> KeySet {
        match &self.inner.keys {
            Keys::Static(keys) => keys.clone(),
            #[cfg(feature = "remote")]
            Keys::Remote { cache, .. } => cache
                .current()
                .as_ref()
                .map(|s| s.keys.clone())
                .unwrap_or_default(),
        }
    }

    /// The state of the remote key set, for health endpoints; `None` with
    /// local keys only.
    #[cfg(feature = "remote")]
    pub fn key_source_stats(&self) -> Option<KeySourceStats> {
        match &self.inner.keys {
            Keys::Remote { cache, .. } => Some(cache.stats()),
            Keys::Static(_) => None,
        }
    }

    /// The issuer metadata, once discovered ([`ValidatorBuilder::discover`]).
    #[cfg(feature = "remote")]
    pub fn issuer_metadata(&self) -> Option<Arc<crate::IssuerMetadata>> {
        match &self.inner.keys {
            Keys::Remote { cache, .. } => cache.metadata(),
            Keys::Static(_) => None,
        }
    }

    /// Fetches the remote keys now, ignoring the cool-down (for an operator's
    /// "keys rotated" signal, say), and returns that fetch's outcome. With
    /// local keys only, returns at once.
    #[cfg(feature = "remote")]
    pub async fn refresh_keys(&self) -> Result<(), crate::KeySourceError> {
        match &self.inner.keys {
            Keys::Remote { cache, .. } => cache.refresh_now().await,
            Keys::Static(_) => Ok(()),
        }
    }

    /// A subscription that wakes after each fetch of the remote keys, with
    /// the statistics; `None` with local keys only.
    #[cfg(feature = "remote")]
    pub fn key_source_updates(&self) -> Option<crate::jwks::KeySourceUpdates> {
        match &self.inner.keys {
            Keys::Remote { cache, .. } => Some(cache.updates()),
            Keys::Static(_) => None,
        }
    }

    /// Tokens in the verified-token cache now (approximate); `None` when the
    /// cache is off.
    pub fn token_cache_len(&self) -> Option<u64> {
        self.inner.cache.as_ref().map(|c| {
            c.run_pending_tasks();
            c.entry_count()
        })
    }

    /// Counters of introspection and its cache; `None` without introspection.
    #[cfg(feature = "remote")]
    pub async fn introspection_stats(&self) -> Option<IntrospectionStats> {
        match &self.inner.introspection {
            Some((_, introspector)) => Some(introspector.stats().await),
            None => None,
        }
    }

    /// Waits until the first fetch of the remote keys has finished; returns
    /// its error if it failed (the validator keeps retrying in the
    /// background). Returns at once with local keys only.
    #[cfg(feature = "remote")]
    pub async fn ready(&self) -> Result<(), crate::KeySourceError> {
        match &self.inner.keys {
            Keys::Remote { cache, .. } => cache.first_attempt().await,
            Keys::Static(_) => Ok(()),
        }
    }
}

/// The time source for `exp`/`nbf`/`iat` checks.
///
/// [`Clock::System`] in production; [`ManualClock`] in tests that need to
/// step time exactly (expiry at the leeway edge, for example).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that only moves when told to.
    Manual(ManualClock),
}

impl Clock {
    /// Monotonic milliseconds, for intervals (cool-downs, staleness): the
    /// process's monotonic clock, or the manual clock's reading.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn mono_ms(&self) -> u64 {
        match self {
            Clock::System => {
                static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
                START
                    .get_or_init(std::time::Instant::now)
                    .elapsed()
                    .as_millis() as u64
            }
            Clock::Manual(m) => u64::try_from(m.now()).unwrap_or(0).saturating_mul(1000),
        }
    }

    /// Now, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            Clock::Manual(m) => m.now(),
        }
    }
}

/// A settable clock for tests; clones share the same time.
///
/// ```
/// use bearer_guard::ManualClock;
/// let clock = ManualClock::new(1_000);
/// clock.advance(60);
/// assert_eq!(clock.now(), 1_060);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `now` (seconds since the Unix epoch).
    pub fn new(now: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(now)))
    }

    /// The current reading.
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Sets the reading.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the clock by `secs` (negative moves it back).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl From<ManualClock> for Clock {
    fn from(m: ManualClock) -> Self {
        Clock::Manual(m)
    }
}

enum KeyInput {
    JwksJson(String),
    JwksFile(PathBuf),
    Pem {
        pem: Vec<u8>,
        kid: Option<String>,
    },
    Hmac {
        secret: Vec<u8>,
        alg: Algorithm,
        kid: Option<String>,
    },
    Set(KeySet),
}

impl fmt::Debug for KeyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyInput::JwksJson(_) => f.write_str("JwksJson(..)"),
            KeyInput::JwksFile(p) => f.debug_tuple("JwksFile").field(p).finish(),
            KeyInput::Pem { kid, .. } => f.debug_struct("Pem").field("kid", kid).finish(),
            KeyInput::Hmac { alg, kid, .. } => f
                .debug_struct("Hmac")
                .field("alg", alg)
                .field("kid", kid)
                .field("secret", &"[redacted]")
                .finish(),
            KeyInput::Set(s) => f.debug_tuple("Set").field(&s.len()).finish(),
        }
    }
}

/// Builds a [`Validator`]. Issuer, audience and at least one key are required.
///
/// | setting | default |
/// |---|---|
/// | algorithms | every asymmetric one (RS*, PS*, ES256, ES384, EdDSA), plus the algorithm of each configured HMAC secret; never `none` |
/// | leeway | [`DEFAULT_LEEWAY`] (60 s) |
/// | `typ` | [`TypPolicy::AccessTokenOrJwt`] |
/// | required claims | `exp`, `iss`, `aud` (always), plus any you add |
/// | token size | [`DEFAULT_MAX_TOKEN_SIZE`] (16 KiB) |
/// | verified-token cache | [`DEFAULT_TOKEN_CACHE_CAPACITY`] (10 000 tokens) |
#[derive(Debug)]
#[must_use]
pub struct ValidatorBuilder {
    issuers: Vec<String>,
    audiences: Vec<String>,
    algorithms: Option<AlgorithmSet>,
    leeway: Duration,
    required: Vec<String>,
    typ: TypPolicy,
    max_token_size: usize,
    clock: Clock,
    keys: Vec<KeyInput>,
    token_cache: u64,
    issuers_share_keys: bool,
    #[cfg(feature = "remote")]
    remote: Remote,
}

#[cfg(feature = "remote")]
#[derive(Debug, Default)]
struct Remote {
    jwks_url: Option<String>,
    discover: bool,
    options: JwksOptions,
    allow_http: bool,
    introspection_url: Option<String>,
    introspection_client: Option<ClientAuth>,
    introspection_options: IntrospectionOptions,
    policy: Option<TokenPolicy>,
}

impl Default for ValidatorBuilder {
    fn default() -> Self {
        ValidatorBuilder {
            issuers: Vec::new(),
            audiences: Vec::new(),
            algorithms: None,
            leeway: DEFAULT_LEEWAY,
            required: Vec::new(),
            typ: TypPolicy::default(),
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            clock: Clock::System,
            keys: Vec::new(),
            token_cache: DEFAULT_TOKEN_CACHE_CAPACITY,
            issuers_share_keys: false,
            #[cfg(feature = "remote")]
            remote: Remote::default(),
        }
    }
}

impl ValidatorBuilder {
    /// Accepts tokens whose `iss` is exactly `issuer` (no normalisation: a
    /// trailing slash matters).
    ///
    /// Keys belong to an issuer (RFC 8725 §3.8): a validator's keys verify
    /// the tokens of its issuer only. Several issuers are accepted only when
    /// they are names of one authorization server that signs with the
    /// configured keys, declared with
    /// [`issuers_share_keys`](Self::issuers_share_keys); otherwise build one
    /// validator per issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Declares that the configured issuers are names of one authorization
    /// server that signs all their tokens with the configured keys (for
    /// example Microsoft Entra's v1 `https://sts.windows.net/{tenant}/` and
    /// v2 `https://login.microsoftonline.com/{tenant}/v2.0`, or a custom
    /// domain beside the default one). Without it, a validator with several
    /// issuers and one key set is refused with
    /// [`BuildError::IssuersShareKeys`], because a token naming one issuer
    /// would verify with another issuer's keys.
    pub fn issuers_share_keys(mut self) -> Self {
        self.issuers_share_keys = true;
        self
    }

    /// Accepts tokens whose `aud` (string or array) contains `audience`.
    /// Call again to accept several audiences.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Replaces the algorithm allow-list.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Capacity of the verified-token cache (default
    /// [`DEFAULT_TOKEN_CACHE_CAPACITY`]); 0 turns it off.
    ///
    /// A token seen before is answered from the cache without checking its
    /// signature again: its `exp` and `nbf` are re-checked against the clock
    /// on every hit, entries are keyed by the SHA-256 of the whole token (no
    /// two tokens share an entry), only tokens that passed every check are
    /// stored, and a key removed from the JWKS invalidates what it verified.
    pub fn token_cache_capacity(mut self, tokens: u64) -> Self {
        self.token_cache = tokens;
        self
    }

    /// Requires a claim to be present (and not `null`), besides `exp`, `iss`
    /// and `aud`, which are always required.
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.required.push(name.into());
        self
    }

    /// Sets the `typ` header policy.
    pub fn typ_policy(mut self, policy: TypPolicy) -> Self {
        self.typ = policy;
        self
    }

    /// The strict RFC 9068 profile: `typ` must be `at+jwt`, and `sub`,
    /// `client_id`, `iat` and `jti` are required besides `iss`, `aud`, `exp`.
    pub fn rfc9068_profile(mut self) -> Self {
        self.typ = TypPolicy::Rfc9068;
        for claim in ["sub", "client_id", "iat", "jti"] {
            if !self.required.iter().any(|c| c == claim) {
                self.required.push(claim.to_owned());
            }
        }
        self
    }

    /// Largest token accepted, in bytes (default [`DEFAULT_MAX_TOKEN_SIZE`]).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// The time source (default [`Clock::System`]).
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Adds the keys of a JWKS document given as JSON.
    pub fn jwks_json(mut self, json: impl Into<String>) -> Self {
        self.keys.push(KeyInput::JwksJson(json.into()));
        self
    }

    /// Adds the keys of a JWKS document read from a file when the validator is built.
    pub fn jwks_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keys.push(KeyInput::JwksFile(path.into()));
        self
    }

    /// Adds a PEM public key (RSA, P-256, P-384 or Ed25519). Without a `kid`
    /// it verifies tokens that carry no `kid` (when it is the only key for
    /// their `alg`); `kid` binds it to tokens naming that key id.
    pub fn pem_public_key(mut self, pem: impl AsRef<[u8]>, kid: Option<&str>) -> Self {
        self.keys.push(KeyInput::Pem {
            pem: pem.as_ref().to_vec(),
            kid: kid.map(str::to_owned),
        });
        self
    }

    /// Adds a shared HMAC secret for `alg` (HS256, HS384 or HS512), and
    /// allows `alg` unless an explicit allow-list excludes it. Symmetric
    /// algorithms are never accepted otherwise.
    pub fn hmac_secret(
        mut self,
        secret: impl AsRef<[u8]>,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Self {
        self.keys.push(KeyInput::Hmac {
            secret: secret.as_ref().to_vec(),
            alg,
            kid: kid.map(str::to_owned),
        });
        self
    }

    /// Adds the keys of a [`KeySet`].
    pub fn key_set(mut self, keys: KeySet) -> Self {
        self.keys.push(KeyInput::Set(keys));
        self
    }

    /// Fetches the keys from a JWKS URL and keeps them fresh (see the
    /// [`jwks`](crate::jwks) module). HTTPS is required unless
    /// [`allow_insecure_http`](Self::allow_insecure_http).
    #[cfg(feature = "remote")]
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.remote.jwks_url = Some(url.into());
        self
    }

    /// Finds the keys through the configured issuer's metadata (OpenID
    /// Connect Discovery, falling back to RFC 8414), then keeps them fresh
    /// like [`jwks_url`](Self::jwks_url). The document's `issuer` must equal
    /// the configured issuer; exactly one issuer must be configured.
    #[cfg(feature = "remote")]
    pub fn discover(mut self) -> Self {
        self.remote.discover = true;
        self
    }

    /// Settings of the remote key cache (timeouts, cool-down, refresh
    /// bounds, stale age, size limits).
    #[cfg(feature = "remote")]
    pub fn jwks_options(mut self, options: JwksOptions) -> Self {
        self.remote.options = options;
        self
    }

    /// Allows plain `http://` URLs for discovery and the JWKS. For tests and
    /// loopback set-ups only: over plain HTTP anyone on the path can replace
    /// the keys.
    #[cfg(feature = "remote")]
    pub fn allow_insecure_http(mut self) -> Self {
        self.remote.allow_http = true;
        self
    }

    /// Validates opaque tokens at this RFC 7662 introspection endpoint (see
    /// the [`introspection`](crate::introspection) module). Needs
    /// [`introspection_client`](Self::introspection_client). With
    /// [`discover`](Self::discover), the endpoint can come from the issuer
    /// metadata instead.
    #[cfg(feature = "remote")]
    pub fn introspection_url(mut self, url: impl Into<String>) -> Self {
        self.remote.introspection_url = Some(url.into());
        self
    }

    /// How this resource server authenticates to the introspection endpoint;
    /// setting it turns introspection on (endpoint from
    /// [`introspection_url`](Self::introspection_url) or discovery).
    #[cfg(feature = "remote")]
    pub fn introspection_client(mut self, auth: ClientAuth) -> Self {
        self.remote.introspection_client = Some(auth);
        self
    }

    /// Settings of introspection and its cache.
    #[cfg(feature = "remote")]
    pub fn introspection_options(mut self, options: IntrospectionOptions) -> Self {
        self.remote.introspection_options = options;
        self
    }

    /// Which tokens go to introspection. Default:
    /// [`TokenPolicy::JwtThenIntrospect`] with introspection configured,
    /// [`TokenPolicy::JwtOnly`] without.
    #[cfg(feature = "remote")]
    pub fn token_policy(mut self, policy: TokenPolicy) -> Self {
        self.remote.policy = Some(policy);
        self
    }

    /// Builds the validator and waits for the first fetch of the remote
    /// keys: fails with [`BuildError::KeySource`] if the authorization server
    /// cannot be reached or its keys are unusable. This is the fail-fast
    /// start-up; [`build`](Self::build) is the start-anyway one.
    #[cfg(feature = "remote")]
    pub async fn build_and_fetch(self) -> Result<Validator, BuildError> {
        let validator = self.build()?;
        validator.ready().await?;
        Ok(validator)
    }

    /// Checks the configuration and builds the validator.
    ///
    /// With remote keys ([`jwks_url`](Self::jwks_url),
    /// [`discover`](Self::discover)) this returns at once and fetches the keys
    /// in the background; until they arrive, tokens that need them are
    /// answered with [`ValidationError::KeysUnavailable`] (HTTP 503) after a
    /// bounded wait. Must be called within a tokio runtime then. Use
    /// [`build_and_fetch`](Self::build_and_fetch) to fail at start-up instead.
    pub fn build(self) -> Result<Validator, BuildError> {
        if self.issuers.is_empty() {
            return Err(BuildError::NoIssuer);
        }
        if self.audiences.is_empty() {
            return Err(BuildError::NoAudience);
        }
        #[cfg(feature = "remote")]
        let remote_keys = self.remote.jwks_url.is_some() || self.remote.discover;
        #[cfg(not(feature = "remote"))]
        let remote_keys = false;
        if self.issuers.len() > 1
            && !self.issuers_share_keys
            && (remote_keys || !self.keys.is_empty())
        {
            return Err(BuildError::IssuersShareKeys {
                issuers: self.issuers.len(),
            });
        }
        let mut keys = KeySet::new();
        let mut hmac_algs = AlgorithmSet::empty();
        for input in self.keys {
            match input {
                KeyInput::JwksJson(json) => keys.extend(KeySet::from_jwks(json.as_bytes())?),
                KeyInput::JwksFile(path) => {
                    let bytes = std::fs::read(&path)
                        .map_err(|source| BuildError::JwksFile { path, source })?;
                    keys.extend(KeySet::from_jwks(&bytes)?);
                }
                KeyInput::Pem { pem, kid } => {
                    let key = VerificationKey::from_pem(&pem)?;
                    keys.push(match kid {
                        Some(kid) => key.with_kid(kid),
                        None => key,
                    });
                }
                KeyInput::Hmac { secret, alg, kid } => {
                    let key = VerificationKey::hmac(&secret, alg)?;
                    hmac_algs.insert(alg);
                    keys.push(match kid {
                        Some(kid) => key.with_kid(kid),
                        None => key,
                    });
                }
                KeyInput::Set(set) => keys.extend(set),
            }
        }
        let algorithms = match self.algorithms {
            Some(explicit) => {
                if let Some(alg) = hmac_algs.iter().find(|a| !explicit.contains(*a)) {
                    return Err(BuildError::HmacNotAllowed(alg));
                }
                explicit
            }
            None => AlgorithmSet::asymmetric()
                .iter()
                .chain(hmac_algs.iter())
                .collect(),
        };
        if algorithms.is_empty() {
            return Err(BuildError::NoAlgorithms);
        }
        #[cfg(feature = "remote")]
        let remote = self.remote.jwks_url.is_some() || self.remote.discover;
        #[cfg(not(feature = "remote"))]
        let remote = false;
        #[cfg(feature = "remote")]
        let introspection_only =
            self.remote.policy == Some(TokenPolicy::IntrospectAll) && keys.is_empty();
        #[cfg(not(feature = "remote"))]
        let introspection_only = false;
        if !remote && !introspection_only && keys.algorithms().intersection(algorithms).is_empty() {
            return Err(BuildError::NoKeys {
                rejected: keys
                    .rejected()
                    .iter()
                    .map(|r| (r.kid.clone(), r.reason.clone()))
                    .collect(),
            });
        }
        #[cfg(feature = "remote")]
        let (keys, introspection) = {
            let mut remote_config = self.remote;
            let introspection_config = (
                remote_config.introspection_url.take(),
                remote_config.introspection_client.take(),
                remote_config.policy.take(),
                std::mem::take(&mut remote_config.introspection_options),
            );
            let allow_http = remote_config.allow_http;
            let keys = if remote {
                start_remote(remote_config, &self.issuers, keys, self.clock.clone())?
            } else {
                Keys::Static(keys)
            };
            let introspection =
                build_introspection(introspection_config, &keys, allow_http, self.clock.clone())?;
            (keys, introspection)
        };
        #[cfg(not(feature = "remote"))]
        let keys = Keys::Static(keys);
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        let cache = (self.token_cache > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(self.token_cache)
                .expire_after(UntilExpiry {
                    leeway,
                    clock: self.clock.clone(),
                })
                .build()
        });
        Ok(Validator {
            inner: Arc::new(Inner {
                header: HeaderRules {
                    algorithms,
                    typ: self.typ,
                },
                claims: ClaimRules {
                    issuers: self.issuers,
                    audiences: self.audiences,
                    leeway,
                    required: self.required,
                },
                max_token_size: self.max_token_size,
                clock: self.clock,
                keys,
                #[cfg(feature = "remote")]
                introspection,
                cache,
            }),
        })
    }
}

#[cfg(feature = "remote")]
type IntrospectionConfig = (
    Option<String>,
    Option<ClientAuth>,
    Option<TokenPolicy>,
    IntrospectionOptions,
);

#[cfg(feature = "remote")]
fn build_introspection(
    (url, client, policy, options): IntrospectionConfig,
    keys: &Keys,
    allow_http: bool,
    clock: Clock,
) -> Result<Option<(TokenPolicy, Introspector)>, BuildError> {
    let Some(client) = client else {
        return match (url, policy) {
            (Some(_), _) => Err(BuildError::RemoteConfig(
                "introspection_url needs introspection_client (RFC 7662 §2.1: the endpoint requires client authentication)",
            )),
            (None, Some(TokenPolicy::JwtThenIntrospect | TokenPolicy::IntrospectAll)) => Err(
                BuildError::RemoteConfig("this token policy needs introspection_client"),
            ),
            (None, _) => Ok(None),
        };
    };
    let fetcher =
        crate::fetch::Fetcher::new(options.timeout_value(), allow_http).map_err(BuildError::Url)?;
    let endpoint = match (url, keys) {
        (Some(url), _) => Endpoint::Url(fetcher.url(&url).map_err(BuildError::Url)?),
        (None, Keys::Remote { cache, .. }) if cache.discovers() => {
            Endpoint::Discovered(cache.clone())
        }
        (None, _) => {
            return Err(BuildError::RemoteConfig(
                "introspection needs introspection_url, or discover() to find the endpoint",
            ));
        }
    };
    let policy = policy.unwrap_or(TokenPolicy::JwtThenIntrospect);
    if policy == TokenPolicy::JwtOnly {
        return Ok(None);
    }
    Ok(Some((
        policy,
        Introspector::new(endpoint, client, fetcher, options, clock),
    )))
}

#[cfg(feature = "remote")]
fn start_remote(
    remote: Remote,
    issuers: &[String],
    base: KeySet,
    clock: Clock,
) -> Result<Keys, BuildError> {
    let source = match (remote.jwks_url, remote.discover) {
        (Some(_), true) => {
            return Err(BuildError::RemoteConfig(
                "configure either jwks_url or discover, not both",
            ));
        }
        (Some(url), false) => Source::Url(url),
        (None, _) => match issuers {
            [issuer] => Source::Discover(issuer.clone()),
            _ => {
                return Err(BuildError::RemoteConfig(
                    "discover needs exactly one configured issuer",
                ));
            }
        },
    };
    let fetcher = crate::fetch::Fetcher::new(remote.options.fetch_timeout, remote.allow_http)
        .map_err(BuildError::Url)?;
    match &source {
        Source::Url(url) => {
            fetcher.url(url).map_err(BuildError::Url)?;
        }
        Source::Discover(issuer) => {
            fetcher.url(issuer).map_err(BuildError::Url)?;
        }
    }
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
    let cache = Arc::new(JwksCache::new(source, fetcher, remote.options, base, clock));
    let task = runtime.spawn(cache.clone().run());
    Ok(Keys::Remote {
        cache,
        _task: AbortOnDrop(task),
    })
}
