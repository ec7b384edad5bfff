//! [`ValidatorBuilder`]: every setting of a [`Validator`], checked by
//! [`build`](ValidatorBuilder::build), which returns an error rather than
//! panicking on any configuration mistake.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::error::BuildError;
use super::issuer::{Issuer, KeyInput, Names};
use super::issuers::{Issuers, Template, TenantKeys, Trusted};
use super::key_source::KeySource;
#[cfg(feature = "remote")]
use super::key_source::RemoteSpec;
use super::token_cache::TokenCache;
use super::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_TOKEN_CACHE_CAPACITY, Inner, Validator,
};
use crate::claims::{ClaimRules, RoleSource};
use crate::clock::{Clock, Leeway};
use crate::dpop::{Dpop, DpopOptions};
#[cfg(feature = "remote")]
use crate::introspection::client::{Endpoint, Introspector};
#[cfg(feature = "remote")]
use crate::introspection::{EndpointConfig, Introspection, TokenPolicy};
use crate::jwt::{HeaderRules, TypPolicy};
use crate::keys::{Algorithm, AlgorithmSet, KeySet, VerificationKey};
#[cfg(feature = "remote")]
use crate::remote::JwksOptions;
#[cfg(feature = "remote")]
use crate::remote::fetch::{Fetcher, build_client};
#[cfg(feature = "remote")]
use crate::remote::jwks::Source;
#[cfg(feature = "redis")]
use crate::store::RedisStore;

/// Builds a [`Validator`]: one issuer configured on the builder itself
/// (`issuer`, `audience`, `jwks_*`...), further ones with
/// [`trust`](Self::trust); at least one issuer, an audience (or the
/// client-id mode) and a key source each.
///
/// | setting | default |
/// |---|---|
/// | algorithms | every asymmetric one (RS*, PS*, ES256, ES384, EdDSA), plus the algorithm of each configured HMAC secret; never `none` |
/// | leeway | [`DEFAULT_LEEWAY`] (60 s) |
/// | `typ` | [`TypPolicy::AccessTokenOrJwt`] |
/// | required claims | `exp`, `iss`, `aud` (always), plus any you add |
/// | roles / permissions | the `roles` / `permissions` claims |
/// | token size | [`DEFAULT_MAX_TOKEN_SIZE`] (16 KiB) |
/// | verified-token cache | [`DEFAULT_TOKEN_CACHE_CAPACITY`] (10 000 tokens of up to 1 KiB) |
#[derive(Debug)]
#[must_use]
pub struct ValidatorBuilder {
    own: Issuer,
    issuers_share_keys: bool,
    trusted: Vec<Issuer>,
    leeway: Duration,
    max_token_size: usize,
    clock: Clock,
    token_cache: u64,
    dpop: Option<DpopOptions>,
    #[cfg(feature = "redis")]
    store: Option<RedisStore>,
    #[cfg(feature = "remote")]
    allow_http: bool,
    #[cfg(feature = "remote")]
    http_client: Option<UserClient>,
    #[cfg(feature = "remote")]
    introspection: Option<Introspection>,
}

impl Default for ValidatorBuilder {
    fn default() -> Self {
        ValidatorBuilder {
            own: Issuer::named(Names::Exact(Vec::new())),
            issuers_share_keys: false,
            trusted: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            clock: Clock::System,
            token_cache: DEFAULT_TOKEN_CACHE_CAPACITY,
            dpop: None,
            #[cfg(feature = "redis")]
            store: None,
            #[cfg(feature = "remote")]
            allow_http: false,
            #[cfg(feature = "remote")]
            http_client: None,
            #[cfg(feature = "remote")]
            introspection: None,
        }
    }
}

impl ValidatorBuilder {
    /// Accepts tokens whose `iss` is exactly `issuer` (no normalisation: a
    /// trailing slash matters); the builder's `audience`, `jwks_*`,
    /// `discover` and policy settings belong to it.
    ///
    /// Keys belong to an issuer (RFC 8725 §3.8): a validator's keys verify
    /// the tokens of their issuer only. For several issuers, give each its
    /// own keys with [`trust`](Self::trust); naming several issuers here
    /// means names of one server sharing these keys, which must be declared
    /// with [`issuers_share_keys`](Self::issuers_share_keys).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        if let Names::Exact(names) = &mut self.own.names {
            names.push(issuer.into());
        }
        self
    }

    /// Declares that the issuers named with [`issuer`](Self::issuer) are
    /// names of one authorization server that signs all their tokens with
    /// the configured keys (for example Microsoft Entra's v1
    /// `https://sts.windows.net/{tenant}/` and v2
    /// `https://login.microsoftonline.com/{tenant}/v2.0`, or a custom
    /// domain beside the default one). Without it, several issuers with one
    /// key set are refused with [`BuildError::IssuersShareKeys`], because a
    /// token naming one issuer would verify with another issuer's keys.
    pub fn issuers_share_keys(mut self) -> Self {
        self.issuers_share_keys = true;
        self
    }

    /// Trusts another issuer, with its own keys, audiences and policy: a
    /// token is verified only with the keys of the issuer its `iss` names.
    pub fn trust(mut self, issuer: Issuer) -> Self {
        self.trusted.push(issuer);
        self
    }

    /// Accepts tokens whose `aud` (string or array) contains `audience`.
    /// Call again to accept several audiences. On every path: a JWT, and an
    /// introspection answer, which must carry `aud` too unless
    /// [`Introspection::may_omit`](crate::introspection::Introspection::may_omit) names it.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.own = self.own.audience(audience);
        self
    }

    /// The client-id mode (AWS Cognito access tokens carry no `aud`); see
    /// [`Issuer::allowed_client_ids`].
    pub fn allowed_client_ids<I, T>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.own = self.own.allowed_client_ids(ids);
        self
    }

    /// Replaces the algorithm allow-list.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.own = self.own.algorithms(algorithms);
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (default 60 s), for every
    /// issuer.
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
    /// on every hit, an entry keeps its token and counts only for that very
    /// token (compared byte for byte; it is found by a keyed hash of the
    /// token, so a hit costs no SHA-256), only tokens that passed every check are
    /// stored, and a hit counts only while the key that verified the token
    /// (its RFC 7638 thumbprint and algorithm) is in its issuer's current
    /// key set. The cached answer is the signing key's: a key renamed at
    /// the server, or a second key for a `kid`-less token's algorithm, does
    /// not void it, since the key that signed the token is still trusted.
    pub fn token_cache_capacity(mut self, tokens: u64) -> Self {
        self.token_cache = tokens;
        self
    }

    /// Requires a claim to be present (and not `null`), besides `exp`, `iss`
    /// and `aud`, which are always required of a JWT. Introspection answers
    /// must carry it too, unless named in
    /// [`Introspection::may_omit`](crate::introspection::Introspection::may_omit).
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.own = self.own.require_claim(name);
        self
    }

    /// Requires a claim to hold exactly this string (Cognito's `token_use`
    /// must be `access`).
    pub fn require_claim_equals(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.own = self.own.require_claim_equals(name, value);
        self
    }

    /// Where the issuer puts roles; see [`Issuer::roles_from`].
    pub fn roles_from(mut self, source: RoleSource) -> Self {
        self.own = self.own.roles_from(source);
        self
    }

    /// Where the issuer puts permissions; see [`Issuer::permissions_from`].
    pub fn permissions_from(mut self, source: RoleSource) -> Self {
        self.own = self.own.permissions_from(source);
        self
    }

    /// Sets the `typ` header policy.
    pub fn typ_policy(mut self, policy: TypPolicy) -> Self {
        self.own = self.own.typ_policy(policy);
        self
    }

    /// The strict RFC 9068 profile: `typ` must be `at+jwt`, and `sub`,
    /// `client_id`, `iat` and `jti` are required besides `iss`, `aud`, `exp`.
    pub fn rfc9068_profile(mut self) -> Self {
        self.own = self.own.rfc9068_profile();
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
        self.own = self.own.jwks_json(json);
        self
    }

    /// Adds the keys of a JWKS document read from a file when the validator
    /// is built: a regular file of at most
    /// [`MAX_JWKS_FILE_SIZE`](crate::limits::MAX_JWKS_FILE_SIZE) bytes.
    pub fn jwks_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.own = self.own.jwks_file(path);
        self
    }

    /// Adds a PEM public key; see [`Issuer::pem_public_key`].
    pub fn pem_public_key(mut self, pem: impl AsRef<[u8]>, kid: Option<&str>) -> Self {
        self.own = self.own.pem_public_key(pem, kid);
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
        self.own = self.own.hmac_secret(secret, alg, kid);
        self
    }

    /// Adds the keys of a [`KeySet`].
    pub fn key_set(mut self, keys: KeySet) -> Self {
        self.own = self.own.key_set(keys);
        self
    }

    /// Fetches the keys from a JWKS URL and keeps them fresh (see
    /// [`JwksOptions`]). HTTPS is required unless
    /// [`allow_insecure_http`](Self::allow_insecure_http).
    #[cfg(feature = "remote")]
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.own = self.own.jwks_url(url);
        self
    }

    /// Finds the keys through the configured issuer's metadata (OpenID
    /// Connect Discovery, falling back to RFC 8414), then keeps them fresh
    /// like [`jwks_url`](Self::jwks_url). The document's `issuer` must equal
    /// the configured issuer; exactly one issuer must be configured.
    #[cfg(feature = "remote")]
    pub fn discover(mut self) -> Self {
        self.own = self.own.discover();
        self
    }

    /// Settings of the remote key cache (timeouts, cool-down, refresh
    /// bounds, stale age, size limits).
    #[cfg(feature = "remote")]
    pub fn jwks_options(mut self, options: JwksOptions) -> Self {
        self.own = self.own.jwks_options(options);
        self
    }

    /// Allows plain `http://` URLs for discovery, the JWKS and
    /// introspection, for every issuer. For tests and loopback set-ups only:
    /// over plain HTTP anyone on the path can replace the keys.
    #[cfg(feature = "remote")]
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Sends discovery, JWKS and introspection requests with a client
    /// built from `client`, instead of a default one: for a proxy, your own
    /// root certificates, or a client certificate (mTLS) towards the
    /// authorization server.
    ///
    /// The validator sets two things on it whatever you configured:
    /// redirects are followed only within the same origin (never from
    /// `https` to `http`, and a posted form is never re-sent to another
    /// host), and its user agent. Timeouts stay those of [`JwksOptions`]
    /// and [`IntrospectionOptions`](crate::introspection::IntrospectionOptions), set on
    /// each request.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let pem = std::fs::read("corporate-root.pem")?;
    /// let client = reqwest::Client::builder()
    ///     .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
    ///     .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?);
    /// let validator = bearer_guard::Validator::builder()
    ///     .issuer("https://auth.internal/")
    ///     .audience("payments")
    ///     .discover()
    ///     .http_client(client)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "remote")]
    pub fn http_client(mut self, client: reqwest::ClientBuilder) -> Self {
        self.http_client = Some(UserClient(client));
        self
    }

    /// Validates opaque tokens (and, with [`TokenPolicy::IntrospectAll`],
    /// every token) by RFC 7662 introspection: see [`Introspection`]. The
    /// answers are checked with the rules of the first issuer configured by
    /// name.
    #[cfg(feature = "remote")]
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// Accepts DPoP-bound access tokens (RFC 9449) with their proofs, as
    /// `options` say: beside bearer tokens, or
    /// [instead of them](DpopOptions::required). Without this, a token bound
    /// to a DPoP key is always refused.
    pub fn dpop(mut self, options: DpopOptions) -> Self {
        self.dpop = Some(options);
        self
    }

    /// Shares the DPoP replay cache and the introspection cache (an
    /// `active: false` answer stays in the replica that got it, so that
    /// strangers' made-up tokens write nothing to Redis) with the other replicas of
    /// the service through `store` (feature `redis`), behind the
    /// in-process caches. When Redis is unreachable, DPoP proofs
    /// are refused with a 503 (a replay could not be ruled out) and
    /// introspection answers are cached in-process only.
    #[cfg(feature = "redis")]
    pub fn shared_store(mut self, store: RedisStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Builds the validator and waits for the first fetch of every remote
    /// key source configured by issuer name: fails with
    /// [`BuildError::KeySource`] if one cannot be reached or its keys are
    /// unusable. This is the fail-fast start-up; [`build`](Self::build) is
    /// the start-anyway one.
    #[cfg(feature = "remote")]
    pub async fn build_and_fetch(self) -> Result<Validator, BuildError> {
        let validator = self.build()?;
        validator.ready().await?;
        Ok(validator)
    }

    /// Checks the configuration and builds the validator.
    ///
    /// Remote keys ([`jwks_url`](Self::jwks_url), [`discover`](Self::discover))
    /// are fetched in the background from the first token that needs them
    /// (or [`Validator::ready`]); until they arrive, such tokens wait a
    /// bounded time and are then answered with
    /// [`ValidationError::KeysUnavailable`](crate::ValidationError::KeysUnavailable)
    /// (HTTP 503). Remote keys need a tokio runtime: build within one. Use
    /// [`build_and_fetch`](Self::build_and_fetch) to fail at start-up instead.
    // `self` is only changed where the `remote` feature takes its HTTP client.
    #[cfg_attr(not(feature = "remote"), allow(unused_mut))]
    pub fn build(mut self) -> Result<Validator, BuildError> {
        let mut configs = Vec::new();
        let mut own = self.own;
        let own_has_keys = own.has_keys();
        let mut own_names = 0;
        if let Names::Exact(names) = &mut own.names {
            // The same issuer named twice is one issuer.
            let mut seen = BTreeSet::new();
            names.retain(|n| seen.insert(n.clone()));
            own_names = names.len();
        }
        if own_names > 1 && !self.issuers_share_keys && own_has_keys {
            return Err(BuildError::IssuersShareKeys { issuers: own_names });
        }
        if own_names > 0 {
            configs.push(own);
        } else if own_has_keys || !own.audiences.is_empty() {
            // Keys or audiences, but no issuer to give them to.
            return Err(BuildError::NoIssuer);
        } else if let Some(setting) = own.policy_set() {
            return Err(BuildError::PolicyWithoutIssuer(setting));
        }
        configs.extend(self.trusted);
        if configs.is_empty() {
            return Err(BuildError::NoIssuer);
        }
        if let Some(config) = configs.iter().find(|c| c.misplaced.is_some()) {
            let issuer = match &config.names {
                Names::Exact(names) => names.first().cloned().unwrap_or_default(),
                Names::Template { template, .. } => template.clone(),
            };
            return Err(BuildError::MisplacedSetting {
                issuer,
                setting: config.misplaced.unwrap_or_default(),
            });
        }
        let mut all_names = BTreeSet::new();
        for config in &configs {
            if let Names::Exact(names) = &config.names {
                for name in names {
                    if !all_names.insert(name.clone()) {
                        return Err(BuildError::DuplicateIssuer(name.clone()));
                    }
                }
            }
        }

        // The user's client, with the redirect policy it must have.
        #[cfg(feature = "remote")]
        let http_client = self
            .http_client
            .take()
            .map(|c| build_client(Some(c.0), Duration::ZERO))
            .transpose()
            .map_err(|e| BuildError::Url(e.into()))?;
        let env = Env {
            leeway: Leeway(i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX)),
            clock: self.clock.clone(),
            #[cfg(feature = "remote")]
            allow_http: self.allow_http,
            #[cfg(feature = "remote")]
            http_client: http_client.clone(),
            #[cfg(feature = "remote")]
            introspect_all: self
                .introspection
                .as_ref()
                .is_some_and(|i| i.policy == TokenPolicy::IntrospectAll),
            #[cfg(feature = "remote")]
            may_omit: self
                .introspection
                .as_ref()
                .map(|i| i.may_omit.clone())
                .unwrap_or_default(),
        };
        let mut issuers = Issuers {
            exact: Vec::new(),
            templates: Vec::new(),
        };
        for (i, config) in configs.into_iter().enumerate() {
            env.add(config, i == 0, &mut issuers)?;
        }

        #[cfg(feature = "remote")]
        let introspection = self
            .introspection
            .map(|config| {
                build_introspection(
                    config,
                    &issuers,
                    self.allow_http,
                    http_client.as_ref(),
                    self.clock.clone(),
                )
            })
            .transpose()?;
        #[cfg(feature = "redis")]
        let introspection = introspection
            .map(|(policy, introspector)| (policy, introspector.with_store(self.store.clone())));
        let dpop = match self.dpop {
            None => None,
            Some(options) => Some(build_dpop(options)?),
        };
        Ok(Validator {
            inner: Arc::new(Inner {
                max_token_size: self.max_token_size,
                clock: self.clock,
                leeway: env.leeway,
                issuers,
                #[cfg(feature = "remote")]
                introspection,
                cache: TokenCache::new(self.token_cache),
                dpop,
                #[cfg(feature = "redis")]
                store: self.store,
            }),
        })
    }
}

/// Checks DPoP options and makes their state (a random nonce secret unless
/// one is given).
fn build_dpop(options: DpopOptions) -> Result<Dpop, BuildError> {
    if options.algorithms.is_empty() {
        return Err(BuildError::NoDpopAlgorithms);
    }
    let secret: Vec<u8> = match &options.nonce_secret {
        Some(s) if s.len() >= 16 => s.to_vec(),
        Some(s) => return Err(BuildError::DpopNonceSecret { len: s.len() }),
        None => {
            let mut s = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut s).map_err(|_| BuildError::RandomSource)?;
            s
        }
    };
    Ok(Dpop::new(options, &secret))
}

/// The validator-wide settings an issuer is built with.
struct Env {
    leeway: Leeway,
    clock: Clock,
    #[cfg(feature = "remote")]
    allow_http: bool,
    #[cfg(feature = "remote")]
    http_client: Option<reqwest::Client>,
    #[cfg(feature = "remote")]
    introspect_all: bool,
    /// Claims introspection answers may leave out.
    #[cfg(feature = "remote")]
    may_omit: Vec<String>,
}

impl Env {
    /// Checks one issuer's configuration and adds it, ready.
    fn add(&self, config: Issuer, first: bool, issuers: &mut Issuers) -> Result<(), BuildError> {
        if config.audiences.is_empty() && config.client_ids.is_empty() {
            return Err(BuildError::NoAudience);
        }
        if config.audiences.is_empty() && config.typ == TypPolicy::Rfc9068 {
            return Err(BuildError::ProfileNeedsAudience);
        }
        #[cfg(feature = "remote")]
        if config.remote.jwks_url.is_some() && config.remote.discover {
            return Err(BuildError::JwksUrlAndDiscovery);
        }
        let (keys, hmac_algs) = static_keys(config.keys)?;
        let algorithms = match config.algorithms {
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
        let remote = config.remote.jwks_url.is_some() || config.remote.discover;
        #[cfg(not(feature = "remote"))]
        let remote = false;
        // The first issuer may rely on introspection alone.
        #[cfg(feature = "remote")]
        let introspection_only = first && self.introspect_all && keys.is_empty();
        #[cfg(not(feature = "remote"))]
        let introspection_only = {
            let _ = first;
            false
        };
        if !remote && !introspection_only && keys.algorithms().intersection(algorithms).is_empty() {
            return Err(BuildError::NoKeys {
                rejected: keys
                    .rejected()
                    .iter()
                    .map(|r| (r.kid.clone(), r.reason.clone()))
                    .collect(),
            });
        }
        let header = HeaderRules {
            algorithms,
            typ: config.typ,
        };
        let default_source = |name: &str| vec![RoleSource::Claim(name.to_owned())];
        let (default_roles, default_permissions) =
            (config.roles.is_none(), config.permissions.is_none());
        let mut claims = ClaimRules {
            default_roles,
            default_permissions,
            issuers: Vec::new(),
            audiences: config.audiences,
            client_ids: config.client_ids,
            leeway: self.leeway,
            required: config.required,
            equals: config.equals,
            roles: config.roles.unwrap_or_else(|| default_source("roles")),
            permissions: config
                .permissions
                .unwrap_or_else(|| default_source("permissions")),
            #[cfg(feature = "remote")]
            may_omit: self.may_omit.clone(),
            #[cfg(not(feature = "remote"))]
            may_omit: Vec::new(),
            time: Arc::new(crate::claims::ClaimsContext {
                clock: self.clock.clone(),
                leeway: self.leeway,
                reparse: crate::jwt::claims_of,
            }),
        };
        match config.names {
            Names::Exact(names) => {
                #[cfg(feature = "remote")]
                let keys = if remote {
                    let source = match (config.remote.jwks_url, names.as_slice()) {
                        (Some(url), _) => Source::Url(url.expose().to_owned()),
                        (None, [name]) => Source::Discover(name.clone()),
                        (None, _) => {
                            return Err(BuildError::DiscoveryNeedsOneIssuer {
                                issuers: names.len(),
                            });
                        }
                    };
                    self.remote_spec(config.remote.options, keys)?
                        .start(source)
                        .map_err(|e| BuildError::Url(e.into()))?
                } else {
                    KeySource::Static(keys)
                };
                #[cfg(not(feature = "remote"))]
                let keys = KeySource::Static(keys);
                claims.issuers = names;
                issuers.exact.push(Trusted {
                    header,
                    claims,
                    keys,
                });
            }
            Names::Template {
                template,
                tenant_claim,
                tenants,
                max_tenants,
            } => {
                let refuse = |reason| BuildError::TenantTemplate {
                    template: template.clone(),
                    reason,
                };
                let Some((prefix, suffix)) = template.split_once("{tenant}") else {
                    return Err(refuse("has no {tenant} placeholder"));
                };
                if suffix.contains("{tenant}") {
                    return Err(refuse("has more than one {tenant} placeholder"));
                }
                // Anywhere but the path of an `http(s)://host/` URL (the
                // host, user info, a port, a URL the parser would read
                // otherwise: `https:/{tenant}`, backslashes), a tenant id
                // could name any host (`169.254.169.254` with discovery):
                // only with an allow-list.
                let in_path = ["https://", "http://"].iter().any(|scheme| {
                    prefix.strip_prefix(scheme).is_some_and(|rest| {
                        rest.split_once('/').is_some_and(|(authority, _)| {
                            !authority.is_empty() && !authority.contains(['@', '\\'])
                        })
                    })
                }) && !template.contains('\\');
                if !in_path && tenants.is_none() {
                    return Err(refuse(
                        "has {tenant} outside the path of an http(s) URL (in the host, say): give the allowed tenants with Issuer::tenants",
                    ));
                }
                let (prefix, suffix) = (prefix.to_owned(), suffix.to_owned());
                #[cfg(feature = "remote")]
                let keys = match (config.remote.jwks_url, config.remote.discover) {
                    (Some(url), _) => TenantKeys::Shared(
                        self.remote_spec(config.remote.options, keys)?
                            .start(Source::Url(url.expose().to_owned()))
                            .map_err(|e| BuildError::Url(e.into()))?,
                    ),
                    (None, true) => {
                        let spec = self.remote_spec(config.remote.options, keys)?;
                        // Each tenant's issuer URL is checked when it is
                        // discovered; the template's own must be fetchable.
                        spec.check_url(&template.replace("{tenant}", "tenant"))
                            .map_err(|e| BuildError::Url(e.into()))?;
                        TenantKeys::Discover(Box::new(spec))
                    }
                    (None, false) => TenantKeys::Shared(KeySource::Static(keys)),
                };
                #[cfg(not(feature = "remote"))]
                let keys = TenantKeys::Shared(KeySource::Static(keys));
                issuers.templates.push(Template {
                    prefix,
                    suffix,
                    tenant_claim,
                    allowed: tenants.map(|t| t.into_iter().collect()),
                    max_tenants,
                    header,
                    claims,
                    keys,
                    live: RwLock::new(Vec::new()),
                    pending: Mutex::new(Vec::new()),
                    warnings: crate::telemetry::WarnThrottle::default(),
                });
            }
        }
        Ok(())
    }

    #[cfg(feature = "remote")]
    fn remote_spec(&self, options: JwksOptions, base: KeySet) -> Result<RemoteSpec, BuildError> {
        let fetcher = Fetcher::new(
            options.fetch_timeout,
            self.allow_http,
            self.http_client.as_ref(),
        )
        .map_err(|e| BuildError::Url(e.into()))?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        Ok(RemoteSpec::new(
            fetcher,
            options,
            base,
            self.clock.clone(),
            runtime,
        ))
    }
}

/// The configured keys of one issuer, and the HMAC algorithms among them.
fn static_keys(inputs: Vec<KeyInput>) -> Result<(KeySet, AlgorithmSet), BuildError> {
    let mut keys = KeySet::new();
    let mut hmac_algs = AlgorithmSet::empty();
    for input in inputs {
        match input {
            KeyInput::JwksJson(json) => {
                let set = KeySet::from_jwks(json.as_bytes())?;
                set.log_rejected(true);
                keys.extend(set);
            }
            KeyInput::JwksFile(path) => {
                let bytes = crate::file::read_regular(
                    &path,
                    super::MAX_JWKS_FILE_SIZE,
                    "MAX_JWKS_FILE_SIZE",
                )
                .map_err(|source| BuildError::JwksFile { path, source })?;
                let set = KeySet::from_jwks(&bytes)?;
                set.log_rejected(true);
                keys.extend(set);
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
    Ok((keys, hmac_algs))
}

#[cfg(feature = "remote")]
fn build_introspection(
    config: Introspection,
    issuers: &Issuers,
    allow_http: bool,
    client: Option<&reqwest::Client>,
    clock: Clock,
) -> Result<(TokenPolicy, Introspector), BuildError> {
    if config.options.max_concurrent == 0 {
        return Err(BuildError::IntrospectionConcurrency);
    }
    // The answers are checked with the first named issuer's rules.
    let first = issuers
        .exact
        .first()
        .ok_or(BuildError::IntrospectionNeedsIssuer)?;
    let fetcher = Fetcher::new(config.options.timeout, allow_http, client)
        .map_err(|e| BuildError::Url(e.into()))?;
    let endpoint = match (&config.endpoint, first.keys.remote()) {
        (EndpointConfig::Url(url), _) => Endpoint::Url(
            fetcher
                .url(url.expose())
                .map_err(|e| BuildError::Url(e.into()))?,
        ),
        (EndpointConfig::Discovered, Some(remote)) if remote.cache.discovers() => {
            Endpoint::Discovered(remote.start_shared())
        }
        (EndpointConfig::Discovered, _) => return Err(BuildError::IntrospectionNeedsDiscovery),
    };
    Ok((
        config.policy,
        Introspector::new(endpoint, config.auth, fetcher, config.options, clock),
    ))
}

/// A user's reqwest client builder; its `Debug` shows nothing of it (its
/// default headers may hold credentials).
#[cfg(feature = "remote")]
pub(crate) struct UserClient(pub(crate) reqwest::ClientBuilder);

#[cfg(feature = "remote")]
impl std::fmt::Debug for UserClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserClient(..)")
    }
}
