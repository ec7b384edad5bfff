//! [`ValidatorBuilder`]: every setting of a [`Validator`], checked by
//! [`build`](ValidatorBuilder::build), which returns an error rather than
//! panicking on any configuration mistake.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::error::BuildError;
#[cfg(feature = "remote")]
use super::key_source::AbortOnDrop;
use super::key_source::KeySource;
use super::token_cache::TokenCache;
use super::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_TOKEN_CACHE_CAPACITY, Inner, Validator,
};
use crate::claims::ClaimRules;
use crate::clock::{Clock, Leeway};
#[cfg(feature = "remote")]
use crate::introspection::client::{Endpoint, Introspector};
#[cfg(feature = "remote")]
use crate::introspection::{EndpointConfig, Introspection, TokenPolicy};
use crate::jwt::{HeaderRules, TypPolicy};
use crate::keys::{Algorithm, AlgorithmSet, KeySet, VerificationKey};
#[cfg(feature = "remote")]
use crate::remote::JwksOptions;
#[cfg(feature = "remote")]
use crate::remote::fetch::Fetcher;
#[cfg(feature = "remote")]
use crate::remote::jwks::{JwksCache, Source};

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
    introspection: Option<Introspection>,
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

    /// Capacity of the verified-token cache, in tokens of up to 1 KiB
    /// (default [`DEFAULT_TOKEN_CACHE_CAPACITY`]); 0 turns it off. A larger
    /// token counts once per KiB (a 4 KiB token four times), so that the
    /// cache's memory is bounded whatever the tokens' size.
    ///
    /// A token seen before is answered from the cache without checking its
    /// signature again: its `exp` and `nbf` are re-checked against the clock
    /// on every hit, entries are keyed by the SHA-256 of the whole token (no
    /// two tokens share an entry), only tokens that passed every check are
    /// stored, and a hit counts only while the key that verified the token
    /// (its RFC 7638 thumbprint and algorithm) is in the current key set.
    /// The cached answer is the signing key's: a key renamed at the server,
    /// or a second key for a `kid`-less token's algorithm, does not void
    /// it, since the key that signed the token is still trusted.
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
    /// [`JwksOptions`]). HTTPS is required unless
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

    /// Validates opaque tokens (and, with [`TokenPolicy::IntrospectAll`],
    /// every token) by RFC 7662 introspection: see [`Introspection`].
    #[cfg(feature = "remote")]
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.remote.introspection = Some(introspection);
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
    /// answered with [`ValidationError::KeysUnavailable`](crate::ValidationError::KeysUnavailable) (HTTP 503) after a
    /// bounded wait. Must be called within a tokio runtime then. Use
    /// [`build_and_fetch`](Self::build_and_fetch) to fail at start-up instead.
    pub fn build(mut self) -> Result<Validator, BuildError> {
        // The same issuer named twice is one issuer.
        let mut seen = std::collections::BTreeSet::new();
        self.issuers.retain(|i| seen.insert(i.clone()));
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
        #[cfg(feature = "remote")]
        if self.remote.jwks_url.is_some() && self.remote.discover {
            return Err(BuildError::JwksUrlAndDiscovery);
        }
        #[cfg(feature = "remote")]
        if self.remote.discover && self.issuers.len() != 1 {
            return Err(BuildError::DiscoveryNeedsOneIssuer {
                issuers: self.issuers.len(),
            });
        }
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
        let introspection_only = keys.is_empty()
            && self
                .remote
                .introspection
                .as_ref()
                .is_some_and(|i| i.policy == TokenPolicy::IntrospectAll);
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
            let introspection_config = remote_config.introspection.take();
            let allow_http = remote_config.allow_http;
            let keys = if remote {
                start_remote(remote_config, &self.issuers, keys, self.clock.clone())?
            } else {
                KeySource::Static(keys)
            };
            let introspection = introspection_config
                .map(|config| build_introspection(config, &keys, allow_http, self.clock.clone()))
                .transpose()?;
            (keys, introspection)
        };
        #[cfg(not(feature = "remote"))]
        let keys = KeySource::Static(keys);
        let leeway = Leeway(i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX));
        let cache = TokenCache::new(self.token_cache);
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
fn build_introspection(
    config: Introspection,
    keys: &KeySource,
    allow_http: bool,
    clock: Clock,
) -> Result<(TokenPolicy, Introspector), BuildError> {
    if config.options.max_concurrent == 0 {
        return Err(BuildError::IntrospectionConcurrency);
    }
    let fetcher = Fetcher::new(config.options.timeout, allow_http).map_err(BuildError::Url)?;
    let endpoint = match (&config.endpoint, keys.remote()) {
        (EndpointConfig::Url(url), _) => Endpoint::Url(fetcher.url(url).map_err(BuildError::Url)?),
        (EndpointConfig::Discovered, Some(cache)) if cache.discovers() => {
            Endpoint::Discovered(cache.clone())
        }
        (EndpointConfig::Discovered, _) => return Err(BuildError::IntrospectionNeedsDiscovery),
    };
    Ok((
        config.policy,
        Introspector::new(endpoint, config.auth, fetcher, config.options, clock),
    ))
}

#[cfg(feature = "remote")]
fn start_remote(
    remote: Remote,
    issuers: &[String],
    base: KeySet,
    clock: Clock,
) -> Result<KeySource, BuildError> {
    let source = match (remote.jwks_url, issuers) {
        (Some(url), _) => Source::Url(url),
        (None, [issuer]) => Source::Discover(issuer.clone()),
        (None, _) => {
            return Err(BuildError::DiscoveryNeedsOneIssuer {
                issuers: issuers.len(),
            });
        }
    };
    let fetcher =
        Fetcher::new(remote.options.fetch_timeout, remote.allow_http).map_err(BuildError::Url)?;
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
    Ok(KeySource::Remote {
        cache,
        _task: AbortOnDrop(task),
    })
}
