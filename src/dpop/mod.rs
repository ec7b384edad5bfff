//! DPoP on the resource server (RFC 9449): the proof checks of §4.3, the
//! `jti` replay cache of §11.1 and the server nonces of §9. Knows nothing
//! of HTTP servers: it is handed the method, the URI and the proof text.
//!
//! Turn it on with [`ValidatorBuilder::dpop`](crate::ValidatorBuilder::dpop)
//! and [`DpopOptions`]; refusals are [`DpopError`]s.
//!
//! Layout (private): `uri` (the `htu` comparison), `replay` (proofs seen),
//! `nonce` (stateless server nonces), and the proof checks here.

pub(crate) mod nonce;
pub(crate) mod replay;
pub(crate) mod uri;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use self::nonce::Nonces;
use self::replay::{ReplayCache, Seen};
use crate::digest::sha256;
use crate::json::{ObjectError, parse_object};
use crate::keys::{Algorithm, AlgorithmSet, KeyError, VerificationKey};
pub(crate) use crate::limits::{
    DEFAULT_DPOP_LEEWAY, DEFAULT_DPOP_MAX_AGE, DEFAULT_DPOP_NONCE_LIFETIME,
    DEFAULT_DPOP_REPLAY_CAPACITY, DEFAULT_MAX_DPOP_PROOF_SIZE, MAX_DPOP_JTI_LENGTH,
};

/// Proof keys remembered by the proof's header text: a client sends the
/// same header with every proof, and parsing its key costs more than the
/// signature check.
const KEY_CACHE_CAPACITY: usize = 4096;

/// 8192-bit RSA signatures are 1366 base64url characters.
const MAX_SIGNATURE_CHARS: usize = 1366;

/// How a validator accepts DPoP-bound access tokens (RFC 9449).
///
/// Given to [`ValidatorBuilder::dpop`](crate::ValidatorBuilder::dpop). A token
/// bound to a key (`cnf.jkt`) always needs its proof; an unbound token is
/// accepted as `Bearer` unless [`required`](Self::required) is set.
///
/// ```
/// use std::time::Duration;
/// use bearer_guard::{keys::Algorithm, dpop::DpopOptions};
///
/// let dpop = DpopOptions::new()
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///     .max_age(Duration::from_secs(30))
///     .require_nonce();
/// # let _ = dpop;
/// ```
#[derive(Clone)]
pub struct DpopOptions {
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) max_age: Duration,
    pub(crate) leeway: Duration,
    pub(crate) replay_capacity: usize,
    pub(crate) max_proof_size: usize,
    pub(crate) required: bool,
    pub(crate) nonce: bool,
    pub(crate) nonce_secret: Option<Arc<[u8]>>,
    pub(crate) nonce_lifetime: Duration,
}

impl fmt::Debug for DpopOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopOptions")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .field("replay_capacity", &self.replay_capacity)
            .field("max_proof_size", &self.max_proof_size)
            .field("required", &self.required)
            .field("nonce", &self.nonce)
            .field(
                "nonce_secret",
                &self.nonce_secret.as_ref().map(|_| "<secret>"),
            )
            .field("nonce_lifetime", &self.nonce_lifetime)
            .finish()
    }
}

impl Default for DpopOptions {
    fn default() -> Self {
        DpopOptions {
            algorithms: AlgorithmSet::asymmetric(),
            max_age: DEFAULT_DPOP_MAX_AGE,
            leeway: DEFAULT_DPOP_LEEWAY,
            replay_capacity: DEFAULT_DPOP_REPLAY_CAPACITY,
            max_proof_size: DEFAULT_MAX_DPOP_PROOF_SIZE,
            required: false,
            nonce: false,
            nonce_secret: None,
            nonce_lifetime: DEFAULT_DPOP_NONCE_LIFETIME,
        }
    }
}

impl DpopOptions {
    /// DPoP accepted beside `Bearer`, every asymmetric algorithm, the
    /// default window, no nonce.
    pub fn new() -> Self {
        DpopOptions::default()
    }

    /// Accepts DPoP only: a token presented as `Bearer` is refused, bound
    /// or not (RFC 9449 §7.1, a resource that requires DPoP).
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The proof signature algorithms accepted (asymmetric only: HMAC
    /// algorithms in `algs` are ignored, RFC 9449 §4.3 check 5).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        let mut set = AlgorithmSet::empty();
        for alg in algs {
            if !alg.is_symmetric() {
                set.insert(alg);
            }
        }
        self.algorithms = set;
        self
    }

    /// How old a proof's `iat` may be ([`DEFAULT_DPOP_MAX_AGE`]).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Clock skew allowed for a proof's `iat` ([`DEFAULT_DPOP_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Capacity of the replay cache, in proofs
    /// ([`DEFAULT_DPOP_REPLAY_CAPACITY`]).
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Largest proof accepted, in bytes ([`DEFAULT_MAX_DPOP_PROOF_SIZE`]).
    pub fn max_proof_size(mut self, bytes: usize) -> Self {
        self.max_proof_size = bytes;
        self
    }

    /// Requires a server nonce in every proof (RFC 9449 §9): a proof
    /// without the current nonce is answered `401` with
    /// `error="use_dpop_nonce"` and a fresh nonce in `DPoP-Nonce`.
    pub fn require_nonce(mut self) -> Self {
        self.nonce = true;
        self
    }

    /// The secret nonces are made with (at least 16 bytes; implies
    /// [`require_nonce`](Self::require_nonce)). Give every replica of a
    /// fleet the same secret, so that a nonce from one is accepted by all;
    /// without it each validator draws its own.
    pub fn nonce_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.nonce = true;
        self.nonce_secret = Some(Arc::from(secret.into()));
        self
    }

    /// How long a nonce stays current ([`DEFAULT_DPOP_NONCE_LIFETIME`]);
    /// it is accepted for one to two lifetimes.
    pub fn nonce_lifetime(mut self, lifetime: Duration) -> Self {
        self.nonce_lifetime = lifetime;
        self
    }

    /// The proof algorithms accepted.
    pub fn accepted_algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// Whether DPoP is the only scheme accepted.
    pub fn is_required(&self) -> bool {
        self.required
    }
}

/// Why a DPoP proof, or the binding of a token to it, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// A DPoP proof was presented to a validator that does not accept DPoP
    /// ([`ValidatorBuilder::dpop`](crate::ValidatorBuilder::dpop)).
    #[error("this validator does not accept DPoP")]
    NotEnabled,
    /// `Authorization: DPoP` without a `DPoP` proof header.
    #[error("no DPoP proof in the request")]
    Missing,
    /// More than one `DPoP` header (RFC 9449 §4.3 check 1).
    #[error("more than one DPoP proof header")]
    Multiple,
    /// The proof is longer than the limit; it was not decoded.
    #[error("DPoP proof is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Length of the proof in bytes.
        len: usize,
        /// The limit ([`DpopOptions::max_proof_size`]).
        limit: usize,
    },
    /// Not a compact JWS with a JSON header and payload (check 2).
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// `typ` is not `dpop+jwt` (check 4).
    #[error("the DPoP proof's typ is not dpop+jwt")]
    Type,
    /// `alg` is missing, symmetric, unknown or not allowed (check 5).
    #[error("the DPoP proof's algorithm is not accepted")]
    Algorithm,
    /// The header lists a `crit` extension.
    #[error("the DPoP proof requires an unsupported header extension")]
    Critical,
    /// The `jwk` header is missing or not a usable public key for `alg`.
    #[error("the DPoP proof's jwk is not an acceptable public key: {0}")]
    Key(KeyError),
    /// The `jwk` header holds private key members (check 7).
    #[error("the DPoP proof's jwk contains a private key")]
    PrivateKey,
    /// The signature does not verify with the `jwk` (check 6).
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    /// A required claim (`jti`, `htm`, `htu`, `iat`, `ath`) is missing.
    #[error("the DPoP proof lacks the claim `{0}`")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an impossible value.
    #[error("the DPoP proof's claim `{0}` is invalid")]
    InvalidClaim(&'static str),
    /// `htm` is not the request's method (check 8).
    #[error("the DPoP proof is for another HTTP method")]
    Method,
    /// `htu` is not the request's URI (check 9).
    #[error("the DPoP proof is for another URI")]
    Uri,
    /// `iat` is older than the maximum age (check 11).
    #[error("the DPoP proof is too old")]
    Expired,
    /// `iat` is in the future beyond the leeway (check 11).
    #[error("the DPoP proof was issued in the future")]
    IssuedInFuture,
    /// `ath` is not the hash of the access token presented (check 12).
    #[error("the DPoP proof is for another access token")]
    TokenHash,
    /// The proof was used before (RFC 9449 §11.1).
    #[error("the DPoP proof was used before")]
    Replayed,
    /// The proof lacks the current server nonce: answered with
    /// `error="use_dpop_nonce"` and a fresh `DPoP-Nonce` (§9).
    #[error("the DPoP proof lacks a current server nonce")]
    UseNonce,
    /// The token is bound to another key than the proof's (check 13).
    #[error("the access token is bound to another key than the DPoP proof's")]
    KeyMismatch,
    /// `Authorization: DPoP` with a token that is not bound to a key.
    #[error("the access token presented with DPoP is not DPoP-bound")]
    NotBound,
    /// The replay cache is full: the proof cannot be remembered, so it is
    /// not accepted (HTTP 503; see [`DEFAULT_DPOP_REPLAY_CAPACITY`]).
    #[error("the DPoP replay cache is full")]
    ReplayCacheFull,
    /// The shared replay store could not be reached: the proof cannot be
    /// checked for replays, so it is not accepted (HTTP 503).
    #[error("the DPoP replay store is unavailable: {0}")]
    ReplayStoreUnavailable(String),
    /// The layer knows no URL to check `htu` against: it has neither a
    /// [public URL](crate::BearerLayer::public_url) nor the opt-in to
    /// [trust the `Host` header](crate::BearerLayer::trust_host_header).
    /// A configuration mistake, answered 503 (the proof cannot be checked).
    #[error("DPoP needs BearerLayer::public_url (or trust_host_header) to check htu")]
    NoPublicUrl,
}

impl DpopError {
    /// The RFC 9449 error code: `use_dpop_nonce`, `invalid_token` for a
    /// token that does not match its proof, `invalid_dpop_proof` otherwise.
    pub fn error_code(&self) -> &'static str {
        match self {
            DpopError::UseNonce => "use_dpop_nonce",
            DpopError::KeyMismatch | DpopError::NotBound => "invalid_token",
            _ => "invalid_dpop_proof",
        }
    }

    /// Whether the proof could not be checked (HTTP 503), rather than refused.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DpopError::ReplayCacheFull
                | DpopError::ReplayStoreUnavailable(_)
                | DpopError::NoPublicUrl
        )
    }

    /// The short, fixed `error_description` sent to the client.
    pub fn description(&self) -> &'static str {
        match self {
            DpopError::NotEnabled => "This resource does not accept DPoP",
            DpopError::Missing => "The request lacks a DPoP proof",
            DpopError::Multiple => "The request carries more than one DPoP proof",
            DpopError::UseNonce => "The resource server requires a nonce in the DPoP proof",
            DpopError::KeyMismatch => "Invalid DPoP key binding",
            DpopError::NotBound => "The access token is not DPoP-bound",
            DpopError::Replayed => "The DPoP proof was used before",
            DpopError::Method | DpopError::Uri => "The DPoP proof is for another request",
            DpopError::TokenHash => "The DPoP proof is for another access token",
            DpopError::Expired | DpopError::IssuedInFuture => {
                "The DPoP proof is outside its validity window"
            }
            DpopError::ReplayCacheFull
            | DpopError::ReplayStoreUnavailable(_)
            | DpopError::NoPublicUrl => "The DPoP proof cannot be checked now",
            _ => "The DPoP proof is invalid",
        }
    }
}

/// A proof key, parsed once per distinct proof header.
struct ProofKey {
    key: VerificationKey,
    alg: Algorithm,
    jkt: String,
}

/// A proof that passed every check but the replay cache, which it enters
/// only once the token it came with has been accepted: proofs with made-up
/// keys and tokens can never fill it.
#[derive(Debug, Clone)]
pub(crate) struct Proven {
    /// The RFC 7638 thumbprint of the proof's key, base64url.
    pub(crate) jkt: String,
    /// Digest of the key and the `jti`, for the replay cache.
    pub(crate) replay_id: [u8; 16],
    /// The proof's `iat`, to expire its replay entry.
    pub(crate) issued_at: i64,
}

/// The request a proof must match.
pub(crate) struct Target<'a> {
    pub(crate) method: &'a str,
    /// The request URI, normalised ([`uri::normalize`]).
    pub(crate) uri: &'a str,
    /// SHA-256 of the access token.
    pub(crate) token_hash: &'a [u8; 32],
}

/// The DPoP state of a validator: its options, the replay cache, the
/// nonces and the proof keys seen.
pub(crate) struct Dpop {
    pub(crate) options: DpopOptions,
    replay: ReplayCache,
    /// The acceptance window and then some: the maximum age, twice the
    /// leeway and a second; the margin replay entries are kept past their
    /// proof's expiry.
    window: i64,
    nonces: Option<Nonces>,
    keys: quick_cache::sync::Cache<Box<str>, Arc<ProofKey>>,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Dpop {
    /// The state for `options`, with `secret` for the nonces (checked by
    /// the builder: at least 16 bytes).
    pub(crate) fn new(options: DpopOptions, secret: &[u8]) -> Self {
        let window = secs(options.max_age)
            .saturating_add(secs(options.leeway).saturating_mul(2))
            .saturating_add(1);
        let nonces = options
            .nonce
            .then(|| Nonces::new(secret, secs(options.nonce_lifetime)));
        Dpop {
            replay: ReplayCache::new(window, options.replay_capacity),
            window,
            nonces,
            keys: quick_cache::sync::Cache::new(KEY_CACHE_CAPACITY),
            options,
        }
    }

    /// The nonce to hand out now, when nonces are required.
    pub(crate) fn nonce(&self, now: i64) -> Option<String> {
        self.nonces.as_ref().map(|n| n.current(now))
    }

    /// The size limit and the compact shape (three non-empty-header
    /// segments), which need nothing but the text.
    pub(crate) fn precheck(&self, proof: &str) -> Result<(), DpopError> {
        let limit = self.options.max_proof_size;
        if proof.len() > limit {
            return Err(DpopError::TooLarge {
                len: proof.len(),
                limit,
            });
        }
        let dots = proof.bytes().filter(|b| *b == b'.').count();
        if dots != 2 || proof.starts_with('.') {
            return Err(DpopError::Malformed);
        }
        Ok(())
    }

    /// Whether the proof was accepted by this replica before (without
    /// remembering it).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn seen(&self, proven: &Proven) -> bool {
        self.replay.contains(proven.replay_id)
    }

    /// RFC 9449 §4.3 checks 2 to 12 on `proof`; the replay check is
    /// [`remember`](Self::remember), once the token is accepted.
    pub(crate) fn check(
        &self,
        proof: &str,
        target: &Target<'_>,
        now: i64,
    ) -> Result<Proven, DpopError> {
        let limit = self.options.max_proof_size;
        if proof.len() > limit {
            return Err(DpopError::TooLarge {
                len: proof.len(),
                limit,
            });
        }
        let mut parts = proof.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DpopError::Malformed);
        };
        if header.is_empty() || signature.len() > MAX_SIGNATURE_CHARS {
            return Err(DpopError::Malformed);
        }
        let key = match self.keys.get(header) {
            Some(key) => key,
            None => {
                let key = Arc::new(self.proof_key(header)?);
                self.keys.insert(header.into(), key.clone());
                key
            }
        };
        let signing_input = proof
            .get(..header.len().saturating_add(1).saturating_add(payload.len()))
            .ok_or(DpopError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| DpopError::Malformed)?;
        if !key
            .key
            .verify(key.alg, signing_input.as_bytes(), &signature)
        {
            return Err(DpopError::Signature);
        }
        let claims = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| DpopError::Malformed)
            .and_then(|json| parse_object(&json).map_err(|_| DpopError::Malformed))?;
        let text = |name: &'static str| match claims.get(name) {
            None | Some(Value::Null) => Err(DpopError::MissingClaim(name)),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(DpopError::InvalidClaim(name)),
        };
        let jti = text("jti")?;
        if jti.is_empty() || jti.len() > MAX_DPOP_JTI_LENGTH {
            return Err(DpopError::InvalidClaim("jti"));
        }
        if text("htm")? != target.method {
            return Err(DpopError::Method);
        }
        match uri::normalize(text("htu")?) {
            Some(htu) if htu == target.uri => {}
            Some(_) => return Err(DpopError::Uri),
            None => return Err(DpopError::InvalidClaim("htu")),
        }
        let issued_at = issued_at(&claims)?;
        let leeway = secs(self.options.leeway);
        if issued_at > now.saturating_add(leeway) {
            return Err(DpopError::IssuedInFuture);
        }
        if issued_at < now.saturating_sub(secs(self.options.max_age).saturating_add(leeway)) {
            return Err(DpopError::Expired);
        }
        let ath = URL_SAFE_NO_PAD.encode(target.token_hash);
        if text("ath")? != ath {
            return Err(DpopError::TokenHash);
        }
        if let Some(nonces) = &self.nonces {
            match claims.get("nonce") {
                Some(Value::String(n)) if nonces.accepts(n, now) => {}
                _ => return Err(DpopError::UseNonce),
            }
        }
        let mut input =
            Vec::with_capacity(key.jkt.len().saturating_add(jti.len()).saturating_add(1));
        input.extend_from_slice(key.jkt.as_bytes());
        input.push(0);
        input.extend_from_slice(jti.as_bytes());
        let digest = sha256(&input);
        let mut replay_id = [0u8; 16];
        for (o, i) in replay_id.iter_mut().zip(digest.iter()) {
            *o = *i;
        }
        Ok(Proven {
            jkt: key.jkt.clone(),
            replay_id,
            issued_at,
        })
    }

    /// The header checks (3 to 7): strict JSON, `typ`, `alg`, no `crit`, a
    /// public `jwk` that may verify `alg`.
    fn proof_key(&self, header: &str) -> Result<ProofKey, DpopError> {
        let json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| DpopError::Malformed)?;
        let header: Map<String, Value> = parse_object(&json).map_err(|e| match e {
            ObjectError::NotAnObject | ObjectError::DuplicateMember => DpopError::Malformed,
        })?;
        match header.get("typ").and_then(Value::as_str) {
            // `application/dpop+jwt` is the same media type (RFC 7515 §4.1.9).
            Some(t) if crate::json::strip_application(t).eq_ignore_ascii_case("dpop+jwt") => {}
            _ => return Err(DpopError::Type),
        }
        let alg: Algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .ok_or(DpopError::Algorithm)?;
        if alg.is_symmetric() || !self.options.algorithms.contains(alg) {
            return Err(DpopError::Algorithm);
        }
        if header.contains_key("crit") {
            return Err(DpopError::Critical);
        }
        let jwk = match header.get("jwk") {
            Some(jwk @ Value::Object(members)) => {
                const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
                if PRIVATE.iter().any(|m| members.contains_key(*m)) {
                    return Err(DpopError::PrivateKey);
                }
                jwk
            }
            _ => return Err(DpopError::Key(KeyError::MissingMember("jwk"))),
        };
        let key = VerificationKey::from_jwk(jwk).map_err(DpopError::Key)?;
        if !key.algorithms().contains(alg) {
            return Err(DpopError::Algorithm);
        }
        let jkt = key.thumbprint().ok_or(DpopError::Algorithm)?;
        Ok(ProofKey { key, alg, jkt })
    }

    /// The replay check (RFC 9449 §11.1), for a proof whose token was
    /// accepted: remembered until the proof could no longer be accepted,
    /// refused if seen before. `now` is the reading the proof was checked
    /// at.
    pub(crate) fn remember(&self, proven: &Proven, now: i64) -> Result<(), DpopError> {
        match self
            .replay
            .insert(proven.replay_id, self.expires(proven), now)
        {
            Seen::New => Ok(()),
            Seen::Replayed => Err(DpopError::Replayed),
            Seen::Full => Err(DpopError::ReplayCacheFull),
        }
    }

    /// The last second at which `proven` is acceptable: its `iat` plus the
    /// maximum age and the leeway (the bound [`check`](Self::check)
    /// applies).
    fn expires(&self, proven: &Proven) -> i64 {
        proven
            .issued_at
            .saturating_add(secs(self.options.max_age))
            .saturating_add(secs(self.options.leeway))
    }

    /// Whether `proven`, checked at `now`, may have been made before the
    /// fleet's store began to remember (`memory` seconds ago): then it may
    /// have been accepted and forgotten (a Redis restarted without its
    /// data), and the store cannot vouch for it. A proof accepted before
    /// the memory began has an `iat` at most the leeway past that moment
    /// by the clock of the replica that accepted it (a client whose clock
    /// runs ahead), and that replica's clock may run ahead of this one's
    /// by up to the leeway too: twice the leeway, and a second more for
    /// the rounding of the clocks to whole seconds.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn made_before_memory(&self, proven: &Proven, now: i64, memory: i64) -> bool {
        let began = now.saturating_sub(memory);
        let leeway = secs(self.options.leeway);
        proven.issued_at
            <= began
                .saturating_add(leeway)
                .saturating_add(leeway)
                .saturating_add(1)
    }

    /// How long, in seconds, the fleet's store must remember a proof
    /// checked at `now`: until it expires, plus one window (the maximum
    /// age and twice the leeway) for the other replicas, whose clocks may
    /// run behind this one's by up to that much without a replay getting
    /// through on them once the store has forgotten it.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn replay_ttl(&self, proven: &Proven, now: i64) -> i64 {
        self.expires(proven)
            .saturating_sub(now)
            .max(0)
            .saturating_add(self.window)
            .max(1)
    }
}

/// `iat`: a number of seconds (fractions rounded down).
fn issued_at(claims: &Map<String, Value>) -> Result<i64, DpopError> {
    match claims.get("iat") {
        None | Some(Value::Null) => Err(DpopError::MissingClaim("iat")),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(i),
            (None, Some(f)) if f.is_finite() && f.abs() < 1e15 => Ok(f.floor() as i64),
            _ => Err(DpopError::InvalidClaim("iat")),
        },
        Some(_) => Err(DpopError::InvalidClaim("iat")),
    }
}
