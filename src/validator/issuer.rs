//! [`Issuer`]: one trusted authorization server and everything that belongs
//! to it: its name(s) as `iss`, its keys, the audiences it issues for, and
//! its token policy. A token is verified only with the keys of the issuer
//! it names (RFC 8725 §3.8).

use std::fmt;
use std::path::PathBuf;

use crate::claims::RoleSource;
use crate::jwt::TypPolicy;
use crate::keys::{Algorithm, AlgorithmSet, KeySet};
pub(crate) use crate::limits::DEFAULT_MAX_TENANTS;
#[cfg(feature = "remote")]
pub(crate) use crate::limits::{MAX_PENDING_TENANTS, PENDING_TENANT_TTL};
#[cfg(feature = "remote")]
use crate::remote::JwksOptions;

/// Longest tenant id accepted in a templated issuer: 64 characters.
pub(crate) const MAX_TENANT_LEN: usize = 64;

/// A key configured locally.
pub(crate) enum KeyInput {
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

/// How an issuer is named in `iss`.
#[derive(Debug, Clone)]
pub(crate) enum Names {
    /// Exactly these strings (one, or aliases of one server).
    Exact(Vec<String>),
    /// `template` with `{tenant}` replaced, the tenant also in the token's
    /// `tenant_claim`.
    Template {
        template: String,
        tenant_claim: String,
        /// Only these tenants, when given.
        tenants: Option<Vec<String>>,
        /// Most tenants tracked at once without an allow-list.
        max_tenants: usize,
    },
}

/// Keys fetched from the network for one issuer.
#[cfg(feature = "remote")]
#[derive(Debug, Default)]
pub(crate) struct RemoteKeys {
    pub(crate) jwks_url: Option<crate::remote::EndpointUrl>,
    pub(crate) discover: bool,
    pub(crate) options: JwksOptions,
}

/// One trusted authorization server: how tokens name it (`iss`), where its
/// keys come from, which audiences it issues tokens for, and its token
/// policy. Give each to
/// [`ValidatorBuilder::trust`](crate::ValidatorBuilder::trust); the
/// builder's own `issuer`/`audience`/`jwks_*` settings describe one more.
///
/// A token is verified only with the keys of the issuer its `iss` names:
/// the `iss` is read before the signature only to choose those keys, and a
/// `kid` shared by two issuers is harmless. Each issuer's remote keys start
/// on the first token that names it and run on their own: one issuer being
/// down degrades only that issuer.
///
/// ```
/// use bearer_guard::{Issuer, Validator, claims::RoleSource};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let validator = Validator::builder()
///     .trust(
///         Issuer::new("https://keycloak.example/realms/payments")
///             .audience("payments-api")
///             .jwks_url("https://keycloak.example/realms/payments/protocol/openid-connect/certs")
///             .roles_from(RoleSource::KeycloakRealm),
///     )
///     .trust(
///         Issuer::new("https://example.eu.auth0.com/")
///             .audience("https://payments.example.com")
///             .discover()
///             .permissions_from(RoleSource::Claim("permissions".into())),
///     )
///     .build()?;
/// # Ok::<(), bearer_guard::BuildError>(()) }).unwrap();
/// ```
#[derive(Debug)]
#[must_use]
pub struct Issuer {
    pub(crate) names: Names,
    pub(crate) audiences: Vec<String>,
    pub(crate) client_ids: Vec<String>,
    pub(crate) algorithms: Option<AlgorithmSet>,
    pub(crate) typ: TypPolicy,
    pub(crate) required: Vec<String>,
    pub(crate) equals: Vec<(String, String)>,
    pub(crate) roles: Option<Vec<RoleSource>>,
    pub(crate) permissions: Option<Vec<RoleSource>>,
    pub(crate) keys: Vec<KeyInput>,
    #[cfg(feature = "remote")]
    pub(crate) remote: RemoteKeys,
    /// The first setting made for the other kind of issuer (a tenant
    /// setting on an exact issuer, `also` on a template), refused at build.
    pub(crate) misplaced: Option<&'static str>,
}

impl Issuer {
    /// An issuer whose tokens carry exactly `iss` (no normalisation: a
    /// trailing slash matters, as in Auth0's `https://tenant.auth0.com/`).
    pub fn new(iss: impl Into<String>) -> Self {
        Self::named(Names::Exact(vec![iss.into()]))
    }

    pub(crate) fn named(names: Names) -> Self {
        Issuer {
            names,
            audiences: Vec::new(),
            client_ids: Vec::new(),
            algorithms: None,
            typ: TypPolicy::default(),
            required: Vec::new(),
            equals: Vec::new(),
            roles: None,
            permissions: None,
            keys: Vec::new(),
            #[cfg(feature = "remote")]
            remote: RemoteKeys::default(),
            misplaced: None,
        }
    }

    /// A multi-tenant issuer whose `iss` is `template` with `{tenant}`
    /// replaced by a tenant id, as Microsoft Entra ID's
    /// `https://login.microsoftonline.com/{tenant}/v2.0`. The tenant in `iss`
    /// must equal the token's `tid` claim ([`tenant_claim`](Self::tenant_claim)
    /// to change it), be 1 to 64 letters, digits, `-`, `_` or `.`, and, when
    /// [`tenants`](Self::tenants) is given, be on that list.
    ///
    /// A tenant is remembered only once one of its tokens has passed every
    /// check, so tokens naming made-up tenants cannot fill anything:
    /// - with one key source for all tenants (static keys or
    ///   [`jwks_url`](Self::jwks_url), as Entra's common keys), any tenant
    ///   whose token those keys verify and whose audience is yours is
    ///   accepted. **Without `tenants`, that is every tenant of the provider**
    ///   (with Entra, any organisation that consents to a multi-tenant
    ///   app): list your tenants, or check `tid` yourself;
    /// - with [`discover`](Self::discover), each tenant's metadata and keys
    ///   are fetched from its own issuer URL: at most
    ///   [`max_tenants`](Self::max_tenants) verified tenants keep a key
    ///   source (without `tenants`), and at most [`MAX_PENDING_TENANTS`]
    ///   not yet verified ones, each for [`PENDING_TENANT_TTL`], so that
    ///   tokens cannot make the validator fetch without bound.
    ///
    /// Refused when the validator is built: a template without exactly one
    /// `{tenant}`, and one whose `{tenant}` is in the host (not the path)
    /// without a `tenants` allow-list.
    pub fn tenant_template(template: impl Into<String>) -> Self {
        Self::named(Names::Template {
            template: template.into(),
            tenant_claim: "tid".to_owned(),
            tenants: None,
            max_tenants: DEFAULT_MAX_TENANTS,
        })
    }

    /// The claim that must hold the tenant of a templated issuer (default
    /// `tid`, as Entra issues it).
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        match &mut self.names {
            Names::Template { tenant_claim, .. } => *tenant_claim = claim.into(),
            Names::Exact(_) => self.misplace("tenant_claim"),
        }
        self
    }

    /// Accepts only these tenants of a templated issuer.
    pub fn tenants<I, T>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        match &mut self.names {
            Names::Template { tenants: list, .. } => list
                .get_or_insert_with(Vec::new)
                .extend(tenants.into_iter().map(Into::into)),
            Names::Exact(_) => self.misplace("tenants"),
        }
        self
    }

    /// Without an allow-list, the most verified tenants a templated issuer
    /// remembers (default [`DEFAULT_MAX_TENANTS`]). With
    /// [`discover`](Self::discover) this caps the tenants' key sources:
    /// tokens of further tenants are refused as from an untrusted issuer.
    /// With shared keys it only caps the memory of tenants seen: further
    /// tenants are still accepted.
    ///
    /// Verified tenants are not forgotten. With discovery and no
    /// allow-list, whoever can obtain genuine tokens for your audience from
    /// that many tenants (any organisation consenting to a multi-tenant
    /// Entra app) fills the cap until the validator is rebuilt: for a
    /// provider with one key set for all tenants, use
    /// [`jwks_url`](Self::jwks_url) instead of discovery, or list the
    /// tenants. A tenant never seen before may also have to wait while
    /// [`MAX_PENDING_TENANTS`] unverified ones are pending.
    pub fn max_tenants(mut self, max: usize) -> Self {
        match &mut self.names {
            Names::Template { max_tenants, .. } => *max_tenants = max,
            Names::Exact(_) => self.misplace("max_tenants"),
        }
        self
    }

    /// Another name of this same issuer, sharing its keys (Entra's v1
    /// `https://sts.windows.net/{tenant}/` beside its v2 issuer, a custom
    /// domain beside the default one). Calling this declares that the names
    /// belong to one authorization server, as
    /// [`issuers_share_keys`](crate::ValidatorBuilder::issuers_share_keys)
    /// does for the builder's own issuers: each name's tokens verify with
    /// the same keys.
    pub fn also(mut self, iss: impl Into<String>) -> Self {
        match &mut self.names {
            Names::Exact(names) => names.push(iss.into()),
            Names::Template { .. } => self.misplace("also"),
        }
        self
    }

    /// Accepts tokens whose `aud` (string or array) contains `audience`.
    /// Call again to accept several. On every path: a JWT, and an
    /// introspection answer, which must carry `aud` too unless
    /// [`Introspection::may_omit`](crate::introspection::Introspection::may_omit) names it.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The client-id mode, for issuers whose access tokens carry no `aud`
    /// (AWS Cognito): with no [`audience`](Self::audience) configured, a
    /// token must carry a `client_id` from this list and no `aud`. Pair it
    /// with `require_claim_equals("token_use", "access")` for Cognito, so
    /// that ID tokens are refused. With audiences configured as well, both
    /// checks hold: `aud` must name one of them and `client_id` be on this
    /// list.
    pub fn allowed_client_ids<I, T>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.client_ids.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Replaces the algorithm allow-list.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
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

    /// Requires a claim to be present (and not `null`), besides `exp`, `iss`
    /// and `aud`, which are always required of a JWT. Introspection answers
    /// must carry it too, unless named in
    /// [`Introspection::may_omit`](crate::introspection::Introspection::may_omit).
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.required.push(name.into());
        self
    }

    /// Requires a claim to be present with exactly this string value
    /// (Cognito's `token_use` must be `access`).
    pub fn require_claim_equals(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.equals.push((name.into(), value.into()));
        self
    }

    /// Where this issuer puts roles ([`Claims::roles`](crate::Claims::roles));
    /// call again to add sources. A source set here is strict: a value of
    /// the wrong type there refuses the token (its authorization data
    /// cannot be read). Default: the `roles` claim, read leniently (a
    /// `roles` claim of another shape means no roles).
    pub fn roles_from(mut self, source: RoleSource) -> Self {
        self.roles.get_or_insert_with(Vec::new).push(source);
        self
    }

    /// Where this issuer puts permissions
    /// ([`Claims::permissions`](crate::Claims::permissions)); call again to
    /// add sources; strict as for [`roles_from`](Self::roles_from). Default:
    /// the `permissions` claim, read leniently.
    pub fn permissions_from(mut self, source: RoleSource) -> Self {
        self.permissions.get_or_insert_with(Vec::new).push(source);
        self
    }

    /// Adds the keys of a JWKS document given as JSON.
    pub fn jwks_json(mut self, json: impl Into<String>) -> Self {
        self.keys.push(KeyInput::JwksJson(json.into()));
        self
    }

    /// Adds the keys of a JWKS document read from a file when the validator
    /// is built: a regular file of at most
    /// [`MAX_JWKS_FILE_SIZE`](crate::limits::MAX_JWKS_FILE_SIZE) bytes.
    pub fn jwks_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keys.push(KeyInput::JwksFile(path.into()));
        self
    }

    /// Adds a PEM public key (RSA, P-256, P-384 or Ed25519). Without a `kid`
    /// it verifies tokens that carry no `kid` or a `kid` no other key has,
    /// when it is the only such key for their `alg` (see [`KeySet`]); `kid`
    /// binds it to tokens naming that key id.
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

    /// Fetches the keys from a JWKS URL and keeps them fresh (see
    /// [`JwksOptions`]). HTTPS is required unless
    /// [`allow_insecure_http`](crate::ValidatorBuilder::allow_insecure_http).
    #[cfg(feature = "remote")]
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.remote.jwks_url = Some(crate::remote::EndpointUrl::new(url.into()));
        self
    }

    /// Finds the keys through the issuer's metadata (OpenID Connect
    /// Discovery, falling back to RFC 8414), then keeps them fresh like
    /// [`jwks_url`](Self::jwks_url). The document's `issuer` must equal the
    /// issuer; the issuer must have one name (each tenant of a templated
    /// issuer is discovered on its own).
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

    /// Whether any key source is configured.
    /// The first token-policy setting made on this issuer, by the name of
    /// its [`ValidatorBuilder`](crate::ValidatorBuilder) method.
    fn misplace(&mut self, setting: &'static str) {
        self.misplaced.get_or_insert(setting);
    }

    pub(crate) fn policy_set(&self) -> Option<&'static str> {
        if self.algorithms.is_some() {
            Some("algorithms")
        } else if self.typ != TypPolicy::default() {
            Some("typ_policy / rfc9068_profile")
        } else if !self.required.is_empty() {
            Some("require_claim")
        } else if !self.equals.is_empty() {
            Some("require_claim_equals")
        } else if self.roles.is_some() {
            Some("roles_from")
        } else if self.permissions.is_some() {
            Some("permissions_from")
        } else if !self.client_ids.is_empty() {
            Some("allowed_client_ids")
        } else {
            None
        }
    }

    pub(crate) fn has_keys(&self) -> bool {
        #[cfg(feature = "remote")]
        if self.remote.jwks_url.is_some() || self.remote.discover {
            return true;
        }
        !self.keys.is_empty()
    }
}
