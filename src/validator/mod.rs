//! [`Validator`]: the one entry point that turns a token string into verified
//! [`Claims`]. Knows nothing of HTTP servers.
//!
//! Layout: [`error`] (its errors), [`builder`] (its configuration),
//! [`key_source`] (configured or remote keys), [`token_cache`] (tokens seen
//! before), and validation itself here: [`Validator::attempt`] does all that
//! can be done without waiting and hands what it learned (the digest, the
//! parsed token, its kind) to [`Validator::finish`] when a key fetch or an
//! introspection call must be awaited.

pub(crate) mod builder;
pub(crate) mod error;
pub(crate) mod health;
pub(crate) mod issuer;
pub(crate) mod issuers;
pub(crate) mod key_source;
#[cfg(feature = "remote")]
pub(crate) mod remote_keys;
pub(crate) mod report;
pub(crate) mod token_cache;

use std::fmt;
use std::sync::Arc;

use tracing::Instrument as _;
use tracing::field::{Empty, display};

pub use builder::ValidatorBuilder;
pub use error::{BuildError, ValidationError};
pub use health::{Health, HealthStatus, IssuerHealth};
pub use issuer::Issuer;
#[cfg(feature = "remote")]
pub use remote_keys::RemoteKeys;
pub use report::{Check, Outcome, Report};

use self::issuers::{Issuers, Owner};
use self::key_source::Step;
use self::token_cache::{NOT_SEEN, TokenCache, Verified};
use crate::claims::{Claims, Source as ClaimSource};
use crate::clock::{Clock, Leeway};
use crate::digest::sha256;
use crate::dpop::uri::normalize as dpop_uri;
use crate::dpop::{Dpop, DpopError, DpopOptions, Proven, Target as DpopTarget};
#[cfg(feature = "remote")]
use crate::introspection::client::Introspector;
#[cfg(feature = "remote")]
use crate::introspection::{IntrospectionStats, TokenPolicy};
use crate::jwt::{HeaderRules, Jws, Malformed};
use crate::keys::{Algorithm, KeyBinding, KeySet, key_vouches_for};
pub(crate) use crate::limits::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_TOKEN_CACHE_CAPACITY, MAX_JWKS_FILE_SIZE,
};
#[cfg(feature = "remote")]
use crate::remote::RemoteError;
use crate::telemetry::{self, ShortHash, Stopwatch};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

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

pub(crate) struct Inner {
    pub(crate) max_token_size: usize,
    pub(crate) clock: Clock,
    pub(crate) leeway: Leeway,
    pub(crate) issuers: Issuers,
    #[cfg(feature = "remote")]
    pub(crate) introspection: Option<(TokenPolicy, Introspector)>,
    pub(crate) cache: Option<TokenCache>,
    pub(crate) dpop: Option<Dpop>,
    #[cfg(feature = "redis")]
    pub(crate) store: Option<crate::store::RedisStore>,
}

/// The outcome of [`Validator::attempt`].
pub(crate) enum Attempt {
    /// Validation finished.
    Done(Result<Claims, ValidationError>),
    /// Validation must wait for the network: [`Validator::finish`] does.
    /// (Boxed: the slow path pays for its state, the fast path does not.)
    Pending(Box<Pending>),
}

/// A cache miss, with what the lookup was given: the token's SHA-256, when
/// the caller had it (the DPoP path, for `ath`). Otherwise it is computed
/// only where needed (introspection, a validation's span), once.
pub(crate) struct Miss {
    digest: Option<[u8; 32]>,
}

/// A validation waiting for the network, with everything learned so far:
/// the token is not parsed or hashed again.
pub(crate) struct Pending {
    token: Box<str>,
    kind: PendingKind,
    /// The validation's span and start, for its outcome.
    span: tracing::Span,
    started: Stopwatch,
}

enum PendingKind {
    /// A JWT whose header passed its issuer's checks; its key may be
    /// fetched. The claims, when they were read to choose the issuer.
    KeyFetch {
        jws: Jws,
        alg: Algorithm,
        owner: Owner,
        claims: Option<Map<String, Value>>,
    },
    /// A token for the introspection endpoint, with its SHA-256 (the key
    /// of introspection's caches).
    #[cfg(feature = "remote")]
    Introspection { digest: [u8; 32] },
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers = &self.inner.issuers;
        let names: Vec<String> = issuers
            .exact
            .iter()
            .flat_map(|t| t.claims.issuers.iter().cloned())
            .chain(
                issuers
                    .templates
                    .iter()
                    .map(|t| format!("{}{{tenant}}{}", t.prefix, t.suffix)),
            )
            .collect();
        f.debug_struct("Validator")
            .field("issuers", &names)
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
    ///
    /// The token is taken as a bearer token: one bound to a key (`cnf`) is
    /// refused with [`ValidationError::SenderConstrained`]; use
    /// [`validate_dpop`](Self::validate_dpop) or
    /// [`validate_with_certificate`](Self::validate_with_certificate) for those.
    pub async fn validate(&self, token: &str) -> Result<Claims, ValidationError> {
        let claims = self.validate_token(token).await?;
        self.confirm(&claims, None, None)?;
        Ok(claims)
    }

    /// Validates a DPoP-bound token presented with `Authorization: DPoP`
    /// and its `DPoP` proof header (RFC 9449 §7): the token as
    /// [`validate`](Self::validate) does, then the proof (§4.3: `typ`, an
    /// accepted asymmetric `alg`, a public `jwk` that verifies the
    /// signature, `htm` = `method`, `htu` = `uri` without query and
    /// fragment after normalisation, `iat` within the window, `ath` = the
    /// token's hash, the server nonce when required), then the token's
    /// `cnf.jkt` against the proof key's thumbprint, and last the replay
    /// cache (a `jti` is accepted once).
    ///
    /// `uri` is the request's absolute URI as the client addressed it
    /// (behind a proxy, the external one).
    pub async fn validate_dpop(
        &self,
        token: &str,
        proof: &str,
        method: &str,
        uri: &str,
    ) -> Result<Claims, ValidationError> {
        self.validate_presented(token, Some(proof), method, uri, None)
            .await
    }

    /// Validates a token presented as `Bearer` over a TLS connection with
    /// the client certificate `certificate` (DER): a token bound to a
    /// certificate (`cnf.x5t#S256`, RFC 8705 §3) is accepted only with that
    /// certificate; an unbound token as by [`validate`](Self::validate).
    pub async fn validate_with_certificate(
        &self,
        token: &str,
        certificate: &[u8],
    ) -> Result<Claims, ValidationError> {
        let claims = self.validate_token(token).await?;
        self.confirm(&claims, None, Some(certificate))?;
        Ok(claims)
    }

    /// The DPoP path: the token, then its proof, the binding, the replay
    /// cache.
    pub(crate) async fn validate_presented(
        &self,
        token: &str,
        proof: Option<&str>,
        method: &str,
        uri: &str,
        certificate: Option<&[u8]>,
    ) -> Result<Claims, ValidationError> {
        let dpop = self.inner.dpop.as_ref().ok_or(DpopError::NotEnabled)?;
        let proof = proof.ok_or(DpopError::Missing)?;
        // What costs nothing first: a token that needs a key fetch or an
        // introspection call is not validated for an impossible proof.
        dpop.precheck(proof)?;
        // One digest for the cache and for `ath`.
        let token_hash = sha256(token.as_bytes());
        let claims = self.validate_token_hashed(token, token_hash).await?;
        let uri = dpop_uri(uri).ok_or(DpopError::Uri)?;
        let now = self.inner.clock.now();
        let target = DpopTarget {
            method,
            uri: &uri,
            token_hash: &token_hash,
        };
        let started = Stopwatch::start();
        let result = self
            .check_proof(dpop, proof, &target, now, &claims, certificate)
            .await;
        let kind = result
            .as_ref()
            .map_or_else(ValidationError::kind, |()| "valid");
        telemetry::validation("dpop", kind, started.elapsed());
        if matches!(result, Err(ValidationError::Dpop(DpopError::Replayed))) {
            telemetry::dpop_replay();
        }
        if let Err(e) = &result {
            tracing::debug!(error = %e, "DPoP proof refused");
        }
        result.map(|()| claims)
    }

    /// The DPoP proof of a valid token: its checks, the binding, the
    /// replay cache (this replica's, then the fleet's).
    async fn check_proof(
        &self,
        dpop: &Dpop,
        proof: &str,
        target: &DpopTarget<'_>,
        now: i64,
        claims: &Claims,
        certificate: Option<&[u8]>,
    ) -> Result<(), ValidationError> {
        let proven = dpop.check(proof, target, now)?;
        self.confirm(claims, Some(&proven), certificate)?;
        #[cfg(feature = "redis")]
        if let Some(store) = &self.inner.store {
            // A replay to this replica costs no round trip; a proof refused
            // because Redis is down is not remembered, so a retry once it
            // is back is not taken for a replay.
            if dpop.seen(&proven) {
                return Err(DpopError::Replayed.into());
            }
            let ttl = u64::try_from(dpop.replay_ttl(&proven, now)).unwrap_or(1);
            match store.set_once("dpop-jti", &proven.replay_id, ttl).await {
                Ok(crate::store::Once::First { memory }) => {
                    if dpop.made_before_memory(&proven, now, memory) {
                        tracing::warn!(
                            memory_seconds = memory,
                            "DPoP proof refused: the replay store's memory began after the proof was made (Redis restarted without its data, or is new): it cannot say the proof was not seen"
                        );
                        return Err(DpopError::ReplayStoreUnavailable(
                            "the replay store's memory is younger than this proof".into(),
                        )
                        .into());
                    }
                }
                Ok(crate::store::Once::Seen) => return Err(DpopError::Replayed.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "DPoP replay store unavailable: proof refused");
                    return Err(DpopError::ReplayStoreUnavailable(e.to_string()).into());
                }
            }
        }
        dpop.remember(&proven, now)?;
        Ok(())
    }

    /// The token alone, whatever it is bound to.
    pub(crate) async fn validate_token(&self, token: &str) -> Result<Claims, ValidationError> {
        match self.attempt(token) {
            Attempt::Done(result) => result,
            Attempt::Pending(pending) => self.finish(*pending).await,
        }
    }

    /// [`validate_token`](Self::validate_token) with the token's digest
    /// already computed.
    async fn validate_token_hashed(
        &self,
        token: &str,
        digest: [u8; 32],
    ) -> Result<Claims, ValidationError> {
        let attempt = match self.lookup_with(token.as_bytes(), Some(digest), true) {
            Ok(result) => return result,
            Err(miss) => self.attempt_after(token, miss),
        };
        match attempt {
            Attempt::Done(result) => result,
            Attempt::Pending(pending) => self.finish(*pending).await,
        }
    }

    /// Whether the request proved possession of what the token is bound to
    /// (RFC 7800 `cnf`): the DPoP proof's key (`proof`, already checked) for
    /// `cnf.jkt`, the client certificate (DER) for `cnf.x5t#S256`. An
    /// unbound token needs neither, unless DPoP is required; a DPoP proof
    /// with an unbound token is refused.
    pub(crate) fn confirm(
        &self,
        claims: &Claims,
        proof: Option<&Proven>,
        certificate: Option<&[u8]>,
    ) -> Result<(), ValidationError> {
        let c = claims.confirmation();
        if c.unknown {
            return Err(ValidationError::SenderConstrained);
        }
        match (&c.jkt, proof) {
            (Some(jkt), Some(p)) if *jkt == p.jkt => {}
            (Some(_), Some(_)) => return Err(DpopError::KeyMismatch.into()),
            (Some(_), None) => return Err(ValidationError::SenderConstrained),
            (None, Some(_)) => return Err(DpopError::NotBound.into()),
            (None, None) => {
                if self.inner.dpop.as_ref().is_some_and(|d| d.options.required) {
                    return Err(ValidationError::DpopRequired);
                }
            }
        }
        if let Some(x5t) = &c.x5t_s256 {
            let presented = certificate.map(|der| URL_SAFE_NO_PAD.encode(sha256(der)));
            if presented.as_deref() != Some(x5t.as_str()) {
                return Err(ValidationError::CertificateMismatch);
            }
        }
        Ok(())
    }

    /// The issuers this validator trusts by name (not tenant templates).
    pub fn issuer_names(&self) -> Vec<String> {
        self.inner
            .issuers
            .exact
            .iter()
            .flat_map(|t| t.claims.issuers.iter().cloned())
            .collect()
    }

    /// The checks of a DPoP proof that need nothing but its text (size,
    /// shape), done before the token is validated.
    pub(crate) fn precheck_proof(&self, proof: &str) -> Result<(), DpopError> {
        self.inner
            .dpop
            .as_ref()
            .ok_or(DpopError::NotEnabled)?
            .precheck(proof)
    }

    /// The DPoP options, when this validator accepts DPoP.
    pub fn dpop_options(&self) -> Option<&DpopOptions> {
        self.inner.dpop.as_ref().map(|d| &d.options)
    }

    /// The server nonce to send in a `DPoP-Nonce` header now, when DPoP
    /// nonces are required ([`DpopOptions::require_nonce`]).
    pub fn dpop_nonce(&self) -> Option<String> {
        self.inner
            .dpop
            .as_ref()
            .and_then(|d| d.nonce(self.inner.clock.now()))
    }

    /// Everything validation can do without waiting: one size check, one
    /// cache lookup, one parse, one signature check. Hands over
    /// what it learned when the network must be awaited.
    pub(crate) fn attempt(&self, token: &str) -> Attempt {
        match self.lookup(token.as_bytes()) {
            Ok(result) => Attempt::Done(result),
            Err(miss) => self.attempt_after(token, miss),
        }
    }

    /// The verified-token cache alone: `Ok` when `token` was verified before
    /// (and its key is still trusted), with the time claims checked again;
    /// otherwise what the lookup learned, for [`attempt_after`](Self::attempt_after).
    /// Takes bytes: a token found here is byte for byte one that passed
    /// every check, so the caller may check the syntax of misses only.
    pub(crate) fn lookup(&self, token: &[u8]) -> Result<Result<Claims, ValidationError>, Miss> {
        self.lookup_with(token, None, true)
    }

    /// [`lookup`](Self::lookup) for a caller that counts a *valid* hit
    /// itself ([`telemetry::cache_hit`]), with what else it counts: the
    /// layer, with the request's outcome, so that a request costs one look
    /// at the metrics recorder, not two. Any other result is counted here.
    pub(crate) fn lookup_uncounted(
        &self,
        token: &[u8],
    ) -> Result<Result<Claims, ValidationError>, Miss> {
        self.lookup_with(token, None, false)
    }

    /// [`lookup`](Self::lookup) with the token's SHA-256 when the caller
    /// has it (the DPoP path needs it for `ath`): handed on with a miss.
    fn lookup_with(
        &self,
        token: &[u8],
        digest: Option<[u8; 32]>,
        count_valid: bool,
    ) -> Result<Result<Claims, ValidationError>, Miss> {
        let inner = &*self.inner;
        let Some(cache) = &inner.cache else {
            return Err(Miss { digest });
        };
        if token.len() > inner.max_token_size || token.is_empty() {
            return Err(Miss { digest });
        }
        if let Some((key, hit)) = cache.get(token) {
            let trusted = inner.issuers.get(&hit.owner);
            if trusted.is_some_and(|t| {
                t.keys.trusts_at_once(hit.withdrawals) || t.keys.still_trusts(&hit.key, hit.alg)
            }) {
                let checked = hit.claims.check_time(inner.clock.now(), inner.leeway);
                if checked.is_err() {
                    cache.remove(key);
                }
                let result = checked.map(|()| hit.claims).map_err(ValidationError::from);
                let kind = result
                    .as_ref()
                    .map_or_else(ValidationError::kind, |_| "valid");
                if count_valid || result.is_err() {
                    telemetry::cache_hit(kind);
                }
                // The short hash costs a SHA-256: only when it is written.
                if tracing::enabled!(tracing::Level::TRACE) {
                    let digest = digest.unwrap_or_else(|| sha256(token));
                    tracing::trace!(token = %ShortHash::of(&digest), outcome = kind, "cached token");
                }
                return Ok(result);
            }
            // The key that verified it is gone: verify again (which fails
            // unless another trusted key signed the very same token).
            cache.remove(key);
        }
        telemetry::token_cache(false);
        Err(Miss { digest })
    }

    /// Validation after a cache miss.
    pub(crate) fn attempt_after(&self, token: &str, miss: Miss) -> Attempt {
        let inner = &*self.inner;
        if token.len() > inner.max_token_size {
            telemetry::validation("jwt", "too_large", None);
            return Attempt::Done(Err(ValidationError::TooLarge {
                len: token.len(),
                limit: inner.max_token_size,
            }));
        }
        if token.is_empty() {
            telemetry::validation("jwt", "malformed", None);
            return Attempt::Done(Err(Malformed::Empty.into()));
        }
        let mut digest = miss.digest;
        let started = Stopwatch::start();
        // Debug level: quiet in production logs, one line per validation
        // when asked for. The token appears as a short hash only.
        let span = tracing::debug_span!(
            "bearer_guard.validate",
            token = Empty,
            source = Empty,
            issuer = Empty,
            outcome = Empty,
        );
        if !span.is_disabled() {
            let digest = digest.get_or_insert_with(|| sha256(token.as_bytes()));
            span.record("token", display(ShortHash::of(digest)));
        }
        #[cfg(feature = "remote")]
        if self.introspects(token) {
            // Introspection answers are cached by the token's SHA-256.
            let digest = digest.unwrap_or_else(|| sha256(token.as_bytes()));
            return Attempt::Pending(Box::new(Pending {
                token: token.into(),
                kind: PendingKind::Introspection { digest },
                span,
                started,
            }));
        }
        let now = span.in_scope(|| self.verify_now(token));
        match now {
            Ok(result) => {
                observe("jwt", &span, started, &result);
                Attempt::Done(result)
            }
            Err(kind) => Attempt::Pending(Box::new(Pending {
                token: token.into(),
                kind: *kind,
                span,
                started,
            })),
        }
    }

    /// The JWT path without waiting: shape and header; the issuer (by the
    /// unverified `iss`, when the validator trusts more than one); the
    /// issuer's header checks; the signature with the issuer's keys; then
    /// the claims. `Err` with what must be awaited when a key fetch may
    /// bring the key.
    fn verify_now(&self, token: &str) -> Result<Result<Claims, ValidationError>, Box<PendingKind>> {
        let issuers = &self.inner.issuers;
        let chosen = Jws::parse(token)
            .map_err(ValidationError::from)
            .and_then(|jws| {
                if issuers.single().is_some() {
                    // One issuer: nothing is read from the payload before
                    // the signature holds.
                    return Ok((jws, Owner::Exact(0), None));
                }
                let claims = jws.claims(token)?;
                let header_ok = |rules: &HeaderRules| jws.check(rules).is_ok();
                // Pending tenants and warning throttles are timed on the
                // monotonic clock (a wall clock may step back).
                let tick = i64::try_from(self.inner.clock.mono_ms() / 1000).unwrap_or(i64::MAX);
                let owner = issuers.select(&claims, tick, &header_ok)?;
                Ok((jws, owner, Some(claims)))
            });
        let (jws, owner, claims) = match chosen {
            Ok(chosen) => chosen,
            Err(e) => return Ok(Err(e)),
        };
        let Some(trusted) = issuers.get(&owner) else {
            return Ok(Err(ValidationError::InvalidIssuer));
        };
        let alg = match jws.check(&trusted.header) {
            Ok(alg) => alg,
            Err(e) => return Ok(Err(e.into())),
        };
        match trusted.keys.verify(&jws, alg, token, true) {
            Ok(key) => Ok(self.accept(&jws, token, key, owner, claims)),
            Err(Step::Fail(e)) => Ok(Err(e)),
            Err(Step::Wait) => Err(Box::new(PendingKind::KeyFetch {
                jws,
                alg,
                owner,
                claims,
            })),
        }
    }

    /// Completes a validation that had to wait: for a key fetch (then one
    /// more signature check, never another wait) or for introspection.
    pub(crate) async fn finish(&self, pending: Pending) -> Result<Claims, ValidationError> {
        let Pending {
            token,
            kind,
            span,
            started,
        } = pending;
        let source = match kind {
            PendingKind::KeyFetch { .. } => "jwt",
            #[cfg(feature = "remote")]
            PendingKind::Introspection { .. } => "introspection",
        };
        let result = self.finish_kind(token, kind).instrument(span.clone()).await;
        observe(source, &span, started, &result);
        result
    }

    /// [`finish`](Self::finish) without its span.
    async fn finish_kind(
        &self,
        token: Box<str>,
        kind: PendingKind,
    ) -> Result<Claims, ValidationError> {
        match kind {
            PendingKind::KeyFetch {
                jws,
                alg,
                owner,
                claims,
            } => {
                let Some(trusted) = self.inner.issuers.get(&owner) else {
                    return Err(ValidationError::InvalidIssuer);
                };
                #[cfg(feature = "remote")]
                trusted.keys.refresh_and_wait().await;
                match trusted.keys.verify(&jws, alg, &token, false) {
                    Ok(key) => self.accept(&jws, &token, key, owner, claims),
                    Err(Step::Fail(e)) => Err(e),
                    Err(Step::Wait) => Err(ValidationError::KeysUnavailable),
                }
            }
            #[cfg(feature = "remote")]
            PendingKind::Introspection { digest } => {
                let (Some((_, introspector)), Some(first)) =
                    (&self.inner.introspection, self.inner.issuers.exact.first())
                else {
                    return Err(ValidationError::KeysUnavailable);
                };
                Ok(introspector
                    .introspect(&token, digest, &first.claims)
                    .await?)
            }
        }
    }

    /// After the signature: the issuer's claim checks (on the claims read to
    /// choose the issuer, or read now), then the cache.
    fn accept(
        &self,
        jws: &Jws,
        token: &str,
        key: (KeyBinding, u64),
        owner: Owner,
        claims: Option<Map<String, Value>>,
    ) -> Result<Claims, ValidationError> {
        let inner = &*self.inner;
        let trusted = inner
            .issuers
            .get(&owner)
            .ok_or(ValidationError::InvalidIssuer)?;
        let claims = match claims {
            Some(claims) => claims,
            None => jws.claims(token)?,
        };
        if let Some(key_issuer) = key.0.issuer() {
            let text = |name: &str| claims.get(name).and_then(Value::as_str);
            if !key_vouches_for(key_issuer, text("iss"), text("tid")) {
                return Err(ValidationError::InvalidIssuer);
            }
        }
        let claims = trusted
            .claims
            .check(claims, inner.clock.now(), ClaimSource::Jwt)?;
        let verifier = trusted.keys.clone();
        // A tenant seen for the first time is remembered only now.
        let owner = inner.issuers.admit(owner)?;
        let Some(cache) = &inner.cache else {
            return Ok(claims);
        };
        // The tenant may have been admitted meanwhile with another source
        // of keys (discovered apart): its hits then look in that source's
        // set, never trusting the key on what another source did.
        let (key, seen) = key;
        let seen = match inner.issuers.get(&owner) {
            Some(t) if t.keys.is_same(&verifier) => seen,
            _ => NOT_SEEN,
        };
        // The entry keeps the token, and may parse its claims again: it
        // weighs what it holds once they are.
        let memory = claims
            .memory_estimate()
            .saturating_add(token.len())
            .saturating_add(16);
        let claims = claims.into_cached(token);
        let (key, alg) = key.into_parts();
        cache.insert(
            token.as_bytes(),
            Verified {
                claims: claims.clone(),
                key,
                alg,
                withdrawals: seen,
                owner,
                units: Verified::units(token.len(), memory),
            },
        );
        Ok(claims)
    }

    /// The verified-token cache, for tests that reach into it.
    #[cfg(test)]
    pub(crate) fn token_cache(&self) -> Option<&TokenCache> {
        self.inner.cache.as_ref()
    }

    /// Whether `token` goes to introspection.
    #[cfg(feature = "remote")]
    fn introspects(&self, token: &str) -> bool {
        match &self.inner.introspection {
            Some((TokenPolicy::IntrospectAll, _)) => true,
            Some((TokenPolicy::JwtThenIntrospect, _)) => {
                token.bytes().filter(|b| *b == b'.').count() != 2
            }
            None => false,
        }
    }

    /// The keys this validator verifies with right now, every issuer's
    /// together: the configured ones, plus the last fetched JWKS of each
    /// remote source (none before its first fetch: only the configured
    /// keys then).
    pub fn keys(&self) -> KeySet {
        let mut all = KeySet::new();
        for (_, keys) in self.inner.issuers.key_sources() {
            all.extend(keys.current());
        }
        all
    }

    /// Every remote key set (`jwks_url` or discovered), each named by its
    /// issuer: the issuers configured by name, each live tenant of a
    /// discovering template, and each template's shared set (under the
    /// template). Static keys have none.
    #[cfg(feature = "remote")]
    pub fn remote_keys(&self) -> Vec<RemoteKeys> {
        self.inner
            .issuers
            .key_sources()
            .into_iter()
            .filter_map(|(issuer, keys)| match keys {
                key_source::KeySource::Remote(remote) => Some(RemoteKeys::new(issuer, &remote)),
                key_source::KeySource::Static(_) => None,
            })
            .collect()
    }

    /// The remote key set of the issuer named exactly `issuer` (as in
    /// [`remote_keys`](Self::remote_keys)); `None` when it has none (static
    /// keys, an unknown issuer, a tenant not seen yet).
    #[cfg(feature = "remote")]
    pub fn remote_keys_of(&self, issuer: &str) -> Option<RemoteKeys> {
        self.remote_keys()
            .into_iter()
            .find(|k| k.issuer() == issuer)
    }

    /// Fetches every remote key set now, ignoring the cool-down (for an
    /// operator's "keys rotated" signal, say), and returns the first
    /// failure. With local keys only, returns at once.
    #[cfg(feature = "remote")]
    pub async fn refresh_keys(&self) -> Result<(), RemoteError> {
        let mut first_error = None;
        for (_, keys) in self.inner.issuers.key_sources() {
            if let Some(remote) = keys.remote()
                && let Err(e) = remote.start().refresh_now().await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Tokens in the verified-token cache now; `None` when the cache is off.
    pub fn token_cache_len(&self) -> Option<u64> {
        self.inner.cache.as_ref().map(TokenCache::len)
    }

    /// Counters of introspection and its cache; `None` without introspection.
    #[cfg(feature = "remote")]
    pub async fn introspection_stats(&self) -> Option<IntrospectionStats> {
        match &self.inner.introspection {
            Some((_, introspector)) => Some(introspector.stats().await),
            None => None,
        }
    }

    /// Starts every remote key source of the issuers configured by name and
    /// waits until each has finished its first fetch; returns the first
    /// failure (the sources keep retrying in the background). Returns at
    /// once with local keys only.
    ///
    /// # Errors
    ///
    /// The first source's failure, a [`RemoteError`](crate::jwks::RemoteError)
    /// to ask: [`is_timeout`](crate::jwks::RemoteError::is_timeout) or
    /// [`is_connect`](crate::jwks::RemoteError::is_connect) for a server out
    /// of reach, [`status`](crate::jwks::RemoteError::status) for a refused
    /// fetch, [`is_discovery`](crate::jwks::RemoteError::is_discovery) for
    /// the metadata, [`is_invalid_jwks`](crate::jwks::RemoteError::is_invalid_jwks)
    /// or [`is_no_usable_keys`](crate::jwks::RemoteError::is_no_usable_keys)
    /// for the key set.
    #[cfg(feature = "remote")]
    pub async fn ready(&self) -> Result<(), RemoteError> {
        let mut first_error = None;
        for trusted in &self.inner.issuers.exact {
            if let Some(remote) = trusted.keys.remote()
                && let Err(e) = remote.start().first_attempt().await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Counts a validation that was not a cache hit and closes its span with
/// the outcome and the issuer.
fn observe(
    source: &'static str,
    span: &tracing::Span,
    started: Stopwatch,
    result: &Result<Claims, ValidationError>,
) {
    let kind = result
        .as_ref()
        .map_or_else(ValidationError::kind, |_| "valid");
    telemetry::validation(source, kind, started.elapsed());
    if span.is_disabled() {
        return;
    }
    span.record("source", source);
    span.record("outcome", kind);
    let _entered = span.enter();
    match result {
        Ok(claims) => {
            if let Some(issuer) = claims.issuer() {
                span.record("issuer", issuer);
            }
            tracing::debug!("token accepted");
        }
        Err(error) => tracing::debug!(%error, "token refused"),
    }
}
