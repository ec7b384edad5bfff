//! `[introspection]`: RFC 7662 introspection of opaque tokens, the
//! [`Introspection`] of the validator: how this resource server
//! authenticates to the endpoint, and the [`IntrospectionOptions`].

use serde::Deserialize;

use crate::introspection::{ClientAuth, Introspection, IntrospectionOptions, TokenPolicy};
use crate::keys::{Algorithm, SigningKey};
use crate::remote::EndpointUrl;

use super::error::ConfigError;
use super::field::{Section, Walker, secs};
use super::parse::{some_algorithm, some_token_policy};
use super::secret::{Lookup, Secret};
use super::value::Value;
use super::vars::Vars;

/// RFC 7662 introspection (`[introspection]`): see [`Introspection`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The endpoint ([`Introspection::at`]); without it, the first
    /// issuer's discovered one ([`Introspection::discovered`]). `Debug`
    /// hides its credentials.
    pub endpoint: Option<EndpointUrl>,
    /// This resource server's client id (required).
    pub client_id: String,
    /// Its secret, for `client_secret_basic` and `client_secret_post`.
    pub client_secret: Option<Secret>,
    /// How it authenticates (default `client_secret_basic`).
    pub auth_method: Option<ClientAuthMethod>,
    /// Its PEM private key, for `private_key_jwt`.
    pub private_key: Option<Secret>,
    /// The algorithm of `private_key` (required with it).
    #[serde(deserialize_with = "some_algorithm")]
    pub private_key_algorithm: Option<Algorithm>,
    /// The `kid` of `private_key`, put in the assertion's header.
    pub private_key_id: Option<String>,
    /// `"jwt-then-introspect"` or `"introspect-all"` ([`TokenPolicy`]).
    #[serde(deserialize_with = "some_token_policy")]
    pub policy: Option<TokenPolicy>,
    /// Claims the server's answers may leave out ([`Introspection::may_omit`]):
    /// by default an answer must carry the audience and the required
    /// claims, as a JWT must.
    pub may_omit: Vec<String>,
    /// [`IntrospectionOptions::timeout`]; not 0.
    pub timeout_seconds: Option<u64>,
    /// [`IntrospectionOptions::max_ttl`]; 0: active answers are not reused.
    pub max_ttl_seconds: Option<u64>,
    /// [`IntrospectionOptions::inactive_ttl`]; 0: inactive answers are not
    /// reused.
    pub inactive_ttl_seconds: Option<u64>,
    /// [`IntrospectionOptions::capacity`]; 0 turns the cache off.
    pub capacity: Option<u64>,
    /// [`IntrospectionOptions::max_size`]; not 0.
    pub max_size: Option<usize>,
    /// [`IntrospectionOptions::max_concurrent`]; not 0.
    pub max_concurrent: Option<usize>,
}

/// How the resource server authenticates to the introspection endpoint
/// ([`ClientAuth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_secret_basic` (also `basic`).
    #[default]
    #[serde(alias = "basic")]
    ClientSecretBasic,
    /// `client_secret_post` (also `post`).
    #[serde(alias = "post")]
    ClientSecretPost,
    /// `private_key_jwt`.
    PrivateKeyJwt,
}

impl Section for IntrospectionConfig {
    type Target = (Introspection, IntrospectionOptions);
    type Error = ConfigError;

    fn fields<W: Walker<Self>>(w: W) -> W {
        Self::answer_fields(Self::client_fields(w))
    }
}

impl IntrospectionConfig {
    /// Where the endpoint is and how this resource server authenticates to
    /// it: set by hand, in `build` and `client_auth`, where they depend on
    /// one another.
    fn client_fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("introspection.endpoint", |c| &mut c.endpoint).var("INTROSPECTION_URL"),
        )
        .field(
            Self::option("introspection.client_id", |c| &mut c.client_id)
                .var("INTROSPECTION_CLIENT_ID"),
        )
        .field(
            Self::option("introspection.client_secret", |c| &mut c.client_secret)
                .var("INTROSPECTION_CLIENT_SECRET"),
        )
        .field(
            Self::option("introspection.auth_method", |c| &mut c.auth_method)
                .var("INTROSPECTION_AUTH_METHOD"),
        )
        .field(
            Self::option("introspection.private_key", |c| &mut c.private_key)
                .var("INTROSPECTION_PRIVATE_KEY"),
        )
        .field(
            Self::option("introspection.private_key_algorithm", |c| {
                &mut c.private_key_algorithm
            })
            .var("INTROSPECTION_PRIVATE_KEY_ALGORITHM"),
        )
        .field(
            Self::option("introspection.private_key_id", |c| &mut c.private_key_id)
                .var("INTROSPECTION_PRIVATE_KEY_ID"),
        )
    }

    /// What is done with the answers, and the client's limits.
    fn answer_fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("introspection.policy", |c| &mut c.policy)
                .var("INTROSPECTION_POLICY")
                .set(|(i, o), policy| (i.policy(*policy), o)),
        )
        .field(
            Self::option("introspection.may_omit", |c| &mut c.may_omit)
                .var("INTROSPECTION_MAY_OMIT")
                .set(|(i, o), claims| {
                    (
                        claims.iter().fold(i, |i, claim| i.may_omit(claim.clone())),
                        o,
                    )
                }),
        )
        .field(
            Self::option("introspection.timeout_seconds", |c| &mut c.timeout_seconds)
                .not_zero("every call would time out")
                .set(|(i, o), s| (i, o.timeout(secs(*s)))),
        )
        .field(
            Self::option("introspection.max_ttl_seconds", |c| &mut c.max_ttl_seconds)
                .set(|(i, o), s| (i, o.max_ttl(secs(*s)))),
        )
        .field(
            Self::option("introspection.inactive_ttl_seconds", |c| {
                &mut c.inactive_ttl_seconds
            })
            .set(|(i, o), s| (i, o.inactive_ttl(secs(*s)))),
        )
        .field(
            Self::option("introspection.capacity", |c| &mut c.capacity)
                .set(|(i, o), n| (i, o.capacity(*n))),
        )
        .field(
            Self::option("introspection.max_size", |c| &mut c.max_size)
                .not_zero("every answer would be refused")
                .set(|(i, o), n| (i, o.max_size(*n))),
        )
        .field(
            Self::option("introspection.max_concurrent", |c| &mut c.max_concurrent)
                .not_zero("no call would be made")
                .set(|(i, o), n| (i, o.max_concurrent(*n))),
        )
    }

    /// The [`Introspection`] of this table, its secrets read with `env`.
    pub(super) fn build(&self, env: Lookup<'_>) -> Result<Introspection, ConfigError> {
        if self.client_id.is_empty() {
            return Err(ConfigError::Requires {
                field: "introspection",
                needs: "client_id",
            });
        }
        if let Some((field, why)) = self.first_zero() {
            return Err(ConfigError::Zero { field, why });
        }
        let auth = self.client_auth(env)?;
        let introspection = match &self.endpoint {
            Some(url) => Introspection::at(url.expose(), auth),
            None => Introspection::discovered(auth),
        };
        let (introspection, options) =
            self.apply((introspection, IntrospectionOptions::default()))?;
        Ok(introspection.options(options))
    }

    /// How this resource server authenticates: `client_id` with
    /// `client_secret`, or with `private_key` for `private_key_jwt`.
    fn client_auth(&self, env: Lookup<'_>) -> Result<ClientAuth, ConfigError> {
        let secret = |field: &'static str, secret: &Secret| {
            secret
                .resolve_dyn(env)
                .map_err(|problem| ConfigError::Secret { field, problem })
        };
        let id = self.client_id.clone();
        Ok(match self.auth_method.unwrap_or_default() {
            method @ (ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost) => {
                if self.private_key.is_some() {
                    return Err(ConfigError::Requires {
                        field: "introspection.private_key",
                        needs: "introspection.auth_method = \"private_key_jwt\"",
                    });
                }
                let Some(s) = &self.client_secret else {
                    return Err(ConfigError::Requires {
                        field: "introspection",
                        needs: "client_secret (or auth_method = \"private_key_jwt\" with private_key)",
                    });
                };
                let s = secret("introspection.client_secret", s)?;
                if method == ClientAuthMethod::ClientSecretPost {
                    ClientAuth::post(id, s)
                } else {
                    ClientAuth::basic(id, s)
                }
            }
            ClientAuthMethod::PrivateKeyJwt => {
                if self.client_secret.is_some() {
                    return Err(ConfigError::Conflict(
                        "introspection.client_secret",
                        "introspection.auth_method = \"private_key_jwt\"",
                    ));
                }
                let (Some(key), Some(alg)) = (&self.private_key, self.private_key_algorithm) else {
                    return Err(ConfigError::Requires {
                        field: "introspection.auth_method = \"private_key_jwt\"",
                        needs: "introspection.private_key and introspection.private_key_algorithm",
                    });
                };
                let pem = secret("introspection.private_key", key)?;
                let mut key =
                    SigningKey::from_pem(pem.as_bytes(), alg).map_err(ConfigError::PrivateKey)?;
                if let Some(kid) = &self.private_key_id {
                    key = key.with_kid(kid.clone());
                }
                ClientAuth::private_key_jwt(id, key)
            }
        })
    }

    /// The table the `INTROSPECTION_*` variables describe: `None` without
    /// `INTROSPECTION_CLIENT_ID`, an error if another of them is set.
    pub(super) fn from_env(vars: &Vars<'_>) -> Result<Option<Self>, ConfigError> {
        if vars.text("INTROSPECTION_CLIENT_ID").is_none() {
            let other = Self::vars()
                .into_iter()
                .find(|key| key != "INTROSPECTION_CLIENT_ID" && vars.text(key).is_some());
            return match other {
                Some(key) => Err(vars.error(
                    &key,
                    format!("needs {}", vars.var("INTROSPECTION_CLIENT_ID")),
                )),
                None => Ok(None),
            };
        }
        Self::from_vars(vars).map(Some)
    }
}

fn parse_auth_method(s: &str) -> Result<ClientAuthMethod, String> {
    match s {
        "client_secret_basic" | "basic" => Ok(ClientAuthMethod::ClientSecretBasic),
        "client_secret_post" | "post" => Ok(ClientAuthMethod::ClientSecretPost),
        "private_key_jwt" => Ok(ClientAuthMethod::PrivateKeyJwt),
        _ => Err(format!(
            "unknown auth method {s:?} (client_secret_basic, client_secret_post or private_key_jwt)"
        )),
    }
}

impl Value for Option<ClientAuthMethod> {
    type Given = ClientAuthMethod;

    fn given(&self) -> Option<&ClientAuthMethod> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.parsed(var, parse_auth_method)
    }
}
