//! `[dpop]`: DPoP-bound tokens (RFC 9449), the [`DpopOptions`] of the
//! validator.

use serde::Deserialize;

use crate::dpop::DpopOptions;
use crate::keys::Algorithm;

use super::error::ConfigError;
use super::field::{Section, Walker, secs};
use super::parse::some_algorithms;
use super::secret::{Lookup, Secret};
use super::vars::Vars;

/// DPoP (`[dpop]`): see [`DpopOptions`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DpopConfig {
    /// DPoP accepted (default: true when the table is present).
    pub enabled: Option<bool>,
    /// DPoP only, no `Bearer` ([`DpopOptions::required`]).
    pub required: bool,
    /// Server nonces required ([`DpopOptions::require_nonce`]).
    pub nonce: bool,
    /// The nonce secret, at least 16 bytes ([`DpopOptions::nonce_secret`]);
    /// used as bytes, as an HMAC secret.
    pub nonce_secret: Option<Secret>,
    /// [`DpopOptions::nonce_lifetime`]; not 0.
    pub nonce_lifetime_seconds: Option<u64>,
    /// Proof algorithms ([`DpopOptions::algorithms`]).
    #[serde(deserialize_with = "some_algorithms")]
    pub algorithms: Option<Vec<Algorithm>>,
    /// [`DpopOptions::max_age`]; not 0.
    pub max_age_seconds: Option<u64>,
    /// [`DpopOptions::leeway`]; 0 allows no skew.
    pub leeway_seconds: Option<u64>,
    /// [`DpopOptions::replay_capacity`]; not 0.
    pub replay_capacity: Option<usize>,
    /// [`DpopOptions::max_proof_size`]; not 0.
    pub max_proof_size: Option<usize>,
}

impl Section for DpopConfig {
    type Target = DpopOptions;
    type Error = ConfigError;
    // On or off, in `from_env`.
    const OTHER_VARS: &'static [&'static str] = &["DPOP"];

    fn fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("dpop.required", |c| &mut c.required)
                .var("DPOP_REQUIRED")
                .set(|o, _| o.required()),
        )
        .field(
            Self::option("dpop.nonce", |c| &mut c.nonce)
                .var("DPOP_NONCE")
                .set(|o, _| o.require_nonce()),
        )
        // Resolved with the environment of secrets, in `build`.
        .field(Self::option("dpop.nonce_secret", |c| &mut c.nonce_secret).var("DPOP_NONCE_SECRET"))
        .field(
            Self::option("dpop.nonce_lifetime_seconds", |c| {
                &mut c.nonce_lifetime_seconds
            })
            .not_zero("every nonce would be stale")
            .set(|o, s| o.nonce_lifetime(secs(*s))),
        )
        .field(
            Self::option("dpop.algorithms", |c| &mut c.algorithms)
                .var("DPOP_ALGORITHMS")
                .set(|o, algorithms| o.algorithms(algorithms.iter().copied())),
        )
        .field(
            Self::option("dpop.max_age_seconds", |c| &mut c.max_age_seconds)
                .var("DPOP_MAX_AGE_SECONDS")
                .not_zero("every proof would be too old")
                .set(|o, s| o.max_age(secs(*s))),
        )
        .field(
            Self::option("dpop.leeway_seconds", |c| &mut c.leeway_seconds)
                .set(|o, s| o.leeway(secs(*s))),
        )
        .field(
            Self::option("dpop.replay_capacity", |c| &mut c.replay_capacity)
                .not_zero("the replay cache would be full at once, refusing proofs")
                .set(|o, n| o.replay_capacity(*n)),
        )
        .field(
            Self::option("dpop.max_proof_size", |c| &mut c.max_proof_size)
                .not_zero("every proof would be refused")
                .set(|o, n| o.max_proof_size(*n)),
        )
    }
}

impl DpopConfig {
    /// The [`DpopOptions`] of this table, its secret read with `env`.
    pub(super) fn build(&self, env: Lookup<'_>) -> Result<DpopOptions, ConfigError> {
        if let Some((field, why)) = self.first_zero() {
            return Err(ConfigError::Zero { field, why });
        }
        let mut options = self.apply(DpopOptions::new())?;
        if let Some(secret) = &self.nonce_secret {
            let value = secret
                .bytes_dyn(env)
                .map_err(|problem| ConfigError::Secret {
                    field: "dpop.nonce_secret",
                    problem,
                })?;
            options = options.nonce_secret(value);
        }
        Ok(options)
    }

    /// The table the `DPOP*` variables describe: `DPOP` turns it on or
    /// off, `DPOP_REQUIRED=true` on by itself; another variable set with
    /// `DPOP` unset or false is an error naming it.
    pub(super) fn from_env(vars: &Vars<'_>) -> Result<Option<Self>, ConfigError> {
        let switch = vars.switch("DPOP")?;
        let config = DpopConfig {
            enabled: Some(true),
            ..Self::from_vars(vars)?
        };
        let required = config.required;
        // The first variable that configures DPoP (`DPOP_REQUIRED` turns it
        // on by itself).
        let configured = DpopConfig {
            required: false,
            ..config.clone()
        }
        .first_given_var();
        match switch {
            Some(true) => Ok(Some(config)),
            Some(false) => match configured.or(required.then(|| "DPOP_REQUIRED".to_owned())) {
                Some(key) => {
                    Err(vars.error("DPOP", format!("false, but {} is set", vars.var(&key))))
                }
                None => Ok(None),
            },
            None if required => Ok(Some(config)),
            None => match configured {
                Some(key) => Err(vars.error(
                    "DPOP",
                    format!("not set, but {} is: set it to true", vars.var(&key)),
                )),
                None => Ok(None),
            },
        }
    }
}
