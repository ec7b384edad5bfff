//! `[[issuers]]`: one trusted issuer, the [`Issuer`] given to
//! [`ValidatorBuilder::trust`](crate::ValidatorBuilder::trust): how its
//! tokens name it, its claim rules and its key source.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::claims::RoleSource;
use crate::jwt::TypPolicy;
use crate::keys::Algorithm;
use crate::remote::EndpointUrl;
use crate::validator::Issuer;

use super::error::{ConfigError, IssuerProblem};
use super::field::{Section, Walker};
use super::jwks_cache::JwksCacheConfig;
use super::parse::{
    parse_algorithm, role_sources, some_algorithm, some_algorithms, some_json, some_strings,
    some_typ, strings,
};
use super::secret::{Lookup, Secret, read_limited};
use super::vars::Vars;

/// Largest `max_tenants` accepted: 1000. Each remembered tenant of a
/// discovering template keeps its own key source (a refreshing JWKS of up
/// to `jwks_cache.max_size` bytes), and the remembered tenants are searched
/// one by one on each of their tokens. More tenants than this: list them
/// with `tenants` (not capped), or use one `jwks_url` for all.
pub const MAX_TENANTS_LIMIT: usize = 1_000;

/// One trusted issuer (`[[issuers]]`): see [`Issuer`].
///
/// Named by exactly one of `issuer` and `tenant_template`; exactly one key
/// source among `jwks_url`, `discover`, `jwks_file`, `jwks`, `pem_file`
/// and `hmac` (none only for the first issuer when every token is
/// introspected); `audiences`, or `allowed_client_ids`, or both.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The exact `iss` ([`Issuer::new`]).
    pub issuer: Option<String>,
    /// Other names of the same server, sharing its keys ([`Issuer::also`]).
    #[serde(deserialize_with = "strings")]
    pub also: Vec<String>,
    /// A multi-tenant issuer's `iss`, with `{tenant}`
    /// ([`Issuer::tenant_template`]).
    pub tenant_template: Option<String>,
    /// The only tenants accepted ([`Issuer::tenants`]).
    #[serde(deserialize_with = "some_strings")]
    pub tenants: Option<Vec<String>>,
    /// Most tenants remembered without `tenants` ([`Issuer::max_tenants`]):
    /// 1 to [`MAX_TENANTS_LIMIT`].
    pub max_tenants: Option<usize>,
    /// The claim confirming the tenant ([`Issuer::tenant_claim`]).
    pub tenant_claim: Option<String>,
    /// Accepted audiences, a string or a list ([`Issuer::audience`]).
    #[serde(alias = "audience", deserialize_with = "strings")]
    pub audiences: Vec<String>,
    /// The client-id mode ([`Issuer::allowed_client_ids`]).
    #[serde(deserialize_with = "strings")]
    pub allowed_client_ids: Vec<String>,
    /// The algorithm allow-list, as `"RS256"`... ([`Issuer::algorithms`]).
    #[serde(deserialize_with = "some_algorithms")]
    pub algorithms: Option<Vec<Algorithm>>,
    /// The `typ` policy: `"default"`, `"rfc9068"`, or a list of types in
    /// which `"none"` accepts tokens without `typ` ([`Issuer::typ_policy`]).
    #[serde(deserialize_with = "some_typ")]
    pub typ: Option<TypPolicy>,
    /// The strict RFC 9068 profile ([`Issuer::rfc9068_profile`]).
    pub rfc9068: bool,
    /// Claims that must be present ([`Issuer::require_claim`]).
    #[serde(deserialize_with = "strings")]
    pub require_claims: Vec<String>,
    /// Claims that must hold exactly these strings
    /// ([`Issuer::require_claim_equals`]).
    pub require_claim_equals: BTreeMap<String, String>,
    /// Where roles are: `claim:NAME`, `pointer:/JSON/POINTER`,
    /// `keycloak-realm`, `keycloak-client:ID`, `cognito-groups`, `zitadel`
    /// ([`Issuer::roles_from`]).
    #[serde(deserialize_with = "role_sources")]
    pub roles_from: Vec<RoleSource>,
    /// Where permissions are, as `roles_from`
    /// ([`Issuer::permissions_from`]).
    #[serde(deserialize_with = "role_sources")]
    pub permissions_from: Vec<RoleSource>,
    /// Key source: a JWKS URL ([`Issuer::jwks_url`]); `Debug` hides its
    /// credentials.
    pub jwks_url: Option<EndpointUrl>,
    /// Key source: a JWKS file ([`Issuer::jwks_file`]).
    pub jwks_file: Option<PathBuf>,
    /// Key source: a JWKS document, as JSON text or as a table
    /// ([`Issuer::jwks_json`]); held as JSON text.
    #[serde(deserialize_with = "some_json")]
    pub jwks: Option<String>,
    /// Key source: discovery ([`Issuer::discover`]).
    pub discover: bool,
    /// Key source: a PEM public key file ([`Issuer::pem_public_key`]), a
    /// regular file of at most [`MAX_SECRET_FILE_SIZE`](super::MAX_SECRET_FILE_SIZE) bytes.
    pub pem_file: Option<PathBuf>,
    /// The `kid` of the `pem_file` key.
    pub pem_kid: Option<String>,
    /// Key source: a shared HMAC secret ([`Issuer::hmac_secret`]).
    pub hmac: Option<HmacConfig>,
    /// This issuer's remote key cache, over the top-level `[jwks_cache]`.
    pub jwks_cache: Option<JwksCacheConfig>,
}

impl Section for IssuerConfig {
    type Target = Issuer;
    type Error = IssuerProblem;
    // `hmac`, in `HmacConfig::from_env`.
    const OTHER_VARS: &'static [&'static str] = &[
        "HMAC_SECRET",
        "HMAC_SECRET_FILE",
        "HMAC_ALGORITHM",
        "HMAC_KID",
    ];

    fn fields<W: Walker<Self>>(w: W) -> W {
        Self::key_fields(Self::rule_fields(Self::name_fields(w)))
    }
}

impl IssuerConfig {
    /// How tokens name the issuer: set by hand, in `named`, where they
    /// depend on one another.
    fn name_fields<W: Walker<Self>>(w: W) -> W {
        w.field(Self::option("issuer", |c| &mut c.issuer).var("ISSUER"))
            .field(
                Self::option("tenant_template", |c| &mut c.tenant_template).var("ISSUER_TEMPLATE"),
            )
            .field(Self::option("tenants", |c| &mut c.tenants).var("TENANTS"))
            // A rule, read before `MAX_TENANTS` as it always was: of two
            // malformed variables, the one named stays the same.
            .field(
                Self::option("require_claim_equals", |c| &mut c.require_claim_equals)
                    .var("REQUIRE_CLAIM_EQUALS")
                    .set(|issuer, pairs| {
                        pairs.iter().fold(issuer, |i, (claim, value)| {
                            i.require_claim_equals(claim.clone(), value.clone())
                        })
                    }),
            )
            .field(Self::option("also", |c| &mut c.also).var("ISSUER_ALSO"))
            .field(Self::option("max_tenants", |c| &mut c.max_tenants).var("MAX_TENANTS"))
            .field(Self::option("tenant_claim", |c| &mut c.tenant_claim).var("TENANT_CLAIM"))
    }

    /// The rules its tokens must meet.
    fn rule_fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("audiences", |c| &mut c.audiences)
                .var("AUDIENCE")
                .set(|issuer, audiences| {
                    audiences.iter().fold(issuer, |i, a| i.audience(a.clone()))
                }),
        )
        .field(
            Self::option("allowed_client_ids", |c| &mut c.allowed_client_ids)
                .var("ALLOWED_CLIENT_IDS")
                .set(|issuer, ids| issuer.allowed_client_ids(ids.iter().cloned())),
        )
        .field(
            Self::option("algorithms", |c| &mut c.algorithms)
                .var("ALGORITHMS")
                .set(|issuer, algorithms| issuer.algorithms(algorithms.iter().copied())),
        )
        .field(
            Self::option("typ", |c| &mut c.typ)
                .var("TYP")
                .set(|issuer, typ| issuer.typ_policy(typ.clone())),
        )
        .field(
            Self::option("rfc9068", |c| &mut c.rfc9068)
                .var("RFC9068")
                .set(|issuer, _| issuer.rfc9068_profile()),
        )
        .field(
            Self::option("require_claims", |c| &mut c.require_claims)
                .var("REQUIRE_CLAIMS")
                .set(|issuer, claims| {
                    claims
                        .iter()
                        .fold(issuer, |i, c| i.require_claim(c.clone()))
                }),
        )
        .field(
            Self::option("roles_from", |c| &mut c.roles_from)
                .var("ROLES_FROM")
                .set(|issuer, sources| sources.iter().fold(issuer, |i, s| i.roles_from(s.clone()))),
        )
        .field(
            Self::option("permissions_from", |c| &mut c.permissions_from)
                .var("PERMISSIONS_FROM")
                .set(|issuer, sources| {
                    sources
                        .iter()
                        .fold(issuer, |i, s| i.permissions_from(s.clone()))
                }),
        )
    }

    /// Its key source (exactly one, checked in `check`); the PEM file, the
    /// HMAC secret and the cache settings are set by hand, in `keys`.
    fn key_fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("jwks_url", |c| &mut c.jwks_url)
                .var("JWKS_URL")
                .set(|issuer, url| issuer.jwks_url(url.expose())),
        )
        .field(
            Self::option("jwks_file", |c| &mut c.jwks_file)
                .var("JWKS_FILE")
                .set(|issuer, path| issuer.jwks_file(path.clone())),
        )
        .field(
            Self::option("jwks", |c| &mut c.jwks)
                .var("JWKS")
                .set(|issuer, json| issuer.jwks_json(json.clone())),
        )
        .field(
            Self::option("discover", |c| &mut c.discover)
                .var("DISCOVER")
                .set(|issuer, _| issuer.discover()),
        )
        .field(Self::option("pem_file", |c| &mut c.pem_file).var("PEM_FILE"))
        .field(Self::option("pem_kid", |c| &mut c.pem_kid).var("PEM_KID"))
    }
}

impl IssuerConfig {
    /// An entry for the issuer `iss` (more fields to be set).
    pub fn new(iss: impl Into<String>) -> Self {
        IssuerConfig {
            issuer: Some(iss.into()),
            ..IssuerConfig::default()
        }
    }

    /// How errors name this entry.
    pub(super) fn label(&self) -> String {
        self.issuer
            .clone()
            .or_else(|| self.tenant_template.clone())
            .unwrap_or_else(|| "unnamed".to_owned())
    }

    /// Whether the keys come from the network (`jwks_url` or `discover`).
    pub(super) fn is_remote(&self) -> bool {
        self.jwks_url.is_some() || self.discover
    }

    /// The key sources set, by field name.
    fn key_sources(&self) -> Vec<&'static str> {
        [
            ("jwks_url", self.jwks_url.is_some()),
            ("discover", self.discover),
            ("jwks_file", self.jwks_file.is_some()),
            ("jwks", self.jwks.is_some()),
            ("pem_file", self.pem_file.is_some()),
            ("hmac", self.hmac.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// The [`Issuer`] of this entry; `cache` is the top-level
    /// `[jwks_cache]`, `keyless` allows no key source (the first issuer
    /// when every token is introspected), `env` is the environment of
    /// secrets.
    pub(super) fn issuer(
        &self,
        cache: &JwksCacheConfig,
        keyless: bool,
        env: Lookup<'_>,
    ) -> Result<Issuer, IssuerProblem> {
        let issuer = self.named()?;
        self.check(keyless)?;
        let issuer = self.apply(issuer)?;
        self.keys(issuer, cache, env)
    }

    /// The issuer as its tokens name it: `issuer` (with `also`), or
    /// `tenant_template` (with `tenants`, `max_tenants`, `tenant_claim`).
    fn named(&self) -> Result<Issuer, IssuerProblem> {
        match (&self.issuer, &self.tenant_template) {
            (Some(_), Some(_)) => Err(IssuerProblem::Conflict("issuer", "tenant_template")),
            (None, None) => Err(IssuerProblem::NoName),
            (Some(iss), None) => {
                let template = |field| IssuerProblem::Requires {
                    field,
                    needs: "tenant_template",
                };
                if self.tenants.is_some() {
                    return Err(template("tenants"));
                }
                if self.max_tenants.is_some() {
                    return Err(template("max_tenants"));
                }
                if self.tenant_claim.is_some() {
                    return Err(template("tenant_claim"));
                }
                Ok(self
                    .also
                    .iter()
                    .fold(Issuer::new(iss.clone()), |i, name| i.also(name.clone())))
            }
            (None, Some(template)) => self.tenant_template(template),
        }
    }

    /// A multi-tenant issuer.
    fn tenant_template(&self, template: &str) -> Result<Issuer, IssuerProblem> {
        if !self.also.is_empty() {
            return Err(IssuerProblem::Conflict("also", "tenant_template"));
        }
        let mut i = Issuer::tenant_template(template);
        if let Some(claim) = &self.tenant_claim {
            i = i.tenant_claim(claim.clone());
        }
        if let Some(tenants) = &self.tenants {
            if self.max_tenants.is_some() {
                return Err(IssuerProblem::Conflict("max_tenants", "tenants"));
            }
            i = i.tenants(tenants.iter().cloned());
        }
        match self.max_tenants {
            Some(0) => Err(IssuerProblem::Zero {
                field: "max_tenants",
                why: "no tenant would be remembered (list them with `tenants`)",
            }),
            Some(max) if max > MAX_TENANTS_LIMIT => Err(IssuerProblem::TooLarge {
                field: "max_tenants",
                value: max,
                max: MAX_TENANTS_LIMIT,
            }),
            Some(max) => Ok(i.max_tenants(max)),
            None => Ok(i),
        }
    }

    /// The fields that need or exclude others: one key source, `pem_kid`
    /// with `pem_file`, a cache with a remote source, an audience, `typ`
    /// or `rfc9068`.
    fn check(&self, keyless: bool) -> Result<(), IssuerProblem> {
        let sources = self.key_sources();
        if sources.len() > 1 {
            return Err(IssuerProblem::KeySources(sources));
        }
        if sources.is_empty() && !keyless {
            return Err(IssuerProblem::NoKeySource);
        }
        if self.pem_kid.is_some() && self.pem_file.is_none() {
            return Err(IssuerProblem::Requires {
                field: "pem_kid",
                needs: "pem_file",
            });
        }
        if let Some(own) = &self.jwks_cache {
            if !self.is_remote() {
                return Err(IssuerProblem::Requires {
                    field: "jwks_cache",
                    needs: "jwks_url or discover",
                });
            }
            if let Some((field, why)) = own.first_zero() {
                return Err(IssuerProblem::Zero { field, why });
            }
        }
        if self.audiences.is_empty() && self.allowed_client_ids.is_empty() {
            return Err(IssuerProblem::NoAudience);
        }
        if self.typ.is_some() && self.rfc9068 {
            return Err(IssuerProblem::Conflict("typ", "rfc9068"));
        }
        Ok(())
    }

    /// The key settings the rows leave: the remote cache's options (its own
    /// table over `cache`), the PEM file, the HMAC secret.
    fn keys(
        &self,
        mut issuer: Issuer,
        cache: &JwksCacheConfig,
        env: Lookup<'_>,
    ) -> Result<Issuer, IssuerProblem> {
        if self.is_remote() {
            let own = self.jwks_cache.clone().unwrap_or_default().over(cache);
            issuer = issuer.jwks_options(own.options());
        }
        if let Some(path) = &self.pem_file {
            let pem = read_limited(path).map_err(|source| IssuerProblem::PemFile {
                path: path.clone(),
                source,
            })?;
            issuer = issuer.pem_public_key(pem, self.pem_kid.as_deref());
        }
        if let Some(hmac) = &self.hmac {
            let secret = hmac
                .secret
                .bytes_dyn(env)
                .map_err(|problem| IssuerProblem::Secret {
                    field: "hmac.secret",
                    problem,
                })?;
            issuer = issuer.hmac_secret(
                secret,
                hmac.algorithm.unwrap_or(Algorithm::HS256),
                hmac.kid.as_deref(),
            );
        }
        Ok(issuer)
    }

    /// The issuer the variables describe: `ISSUER` or `ISSUER_TEMPLATE` is
    /// required.
    pub(super) fn from_env(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        if vars.text("ISSUER").is_none() && vars.text("ISSUER_TEMPLATE").is_none() {
            return Err(vars.error(
                "ISSUER",
                format!("not set (nor {})", vars.var("ISSUER_TEMPLATE")),
            ));
        }
        let hmac = HmacConfig::from_env(vars)?;
        Ok(IssuerConfig {
            hmac,
            ..Self::from_vars(vars)?
        })
    }
}

/// A shared HMAC secret (`hmac = { secret = ..., algorithm = "HS256" }`).
///
/// The secret is used as bytes: a [`Secret::File`] may hold a binary key
/// (not UTF-8), taken byte for byte; a text file loses one final line
/// break.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HmacConfig {
    /// The secret (at least as long as the hash).
    pub secret: Secret,
    /// `HS256`, `HS384` or `HS512` (default `HS256`).
    #[serde(default, deserialize_with = "some_algorithm")]
    pub algorithm: Option<Algorithm>,
    /// The `kid` it is bound to.
    #[serde(default)]
    pub kid: Option<String>,
}

impl HmacConfig {
    /// An HS256 secret without a `kid`.
    pub fn new(secret: Secret) -> Self {
        HmacConfig {
            secret,
            algorithm: None,
            kid: None,
        }
    }

    /// The secret `HMAC_SECRET` (or `HMAC_SECRET_FILE`) describes, with
    /// `HMAC_ALGORITHM` and `HMAC_KID`, which need it.
    fn from_env(vars: &Vars<'_>) -> Result<Option<Self>, ConfigError> {
        let secret = vars.secret("HMAC_SECRET")?;
        let algorithm = vars.parsed("HMAC_ALGORITHM", parse_algorithm)?;
        let kid = vars.text("HMAC_KID");
        match secret {
            Some(secret) => Ok(Some(HmacConfig {
                secret,
                algorithm,
                kid,
            })),
            None if algorithm.is_some() || kid.is_some() => {
                Err(vars.error("HMAC_SECRET", "not set, but HMAC_ALGORITHM or HMAC_KID is"))
            }
            None => Ok(None),
        }
    }
}
