//! [`Config::from_env`]: one issuer described by `PREFIX_*` variables, each
//! section reading its own (its rows name them), and the check that refuses
//! a variable with the prefix that none reads.

use std::ffi::OsStr;

use super::dpop::DpopConfig;
use super::error::ConfigError;
use super::field::Section;
use super::introspection::IntrospectionConfig;
use super::issuer::IssuerConfig;
use super::jwks_cache::JwksCacheConfig;
use super::layer::LayerConfig;
use super::secret::process_env;
use super::vars::Vars;
use super::{Config, DEFAULT_ENV_PREFIX};

/// A variable with the prefix that [`Config::from_env`] does not read but
/// accepts: the path of a configuration file, for the application.
const ENV_CONFIG_KEY: &str = "CONFIG";

/// The variables [`Config::from_env`] reads, without their prefix.
fn env_keys() -> Vec<String> {
    [
        IssuerConfig::env_vars(),
        Config::env_vars(),
        JwksCacheConfig::env_vars(),
        IntrospectionConfig::env_vars(),
        DpopConfig::env_vars(),
        LayerConfig::env_vars(),
    ]
    .concat()
}

impl Config {
    /// One issuer from the `BEARER_GUARD_*` environment variables (listed
    /// in the [module documentation](super#environment-variables)).
    ///
    /// Any other `BEARER_GUARD_*` variable is refused (a misspelt name would
    /// otherwise go unnoticed), except `BEARER_GUARD_CONFIG`, left to the
    /// application for the path of a configuration file; so is one whose
    /// value is not UTF-8.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_env_with_prefix(DEFAULT_ENV_PREFIX)
    }

    /// [`from_env`](Self::from_env) with `PREFIX_*` variables instead of
    /// `BEARER_GUARD_*` (`PREFIX_ISSUER`...; an empty prefix reads `ISSUER`...).
    /// Other `PREFIX_*` variables are not refused here: a prefix of your
    /// own is usually your application's, shared with its other settings
    /// (call [`check_env_names`](Self::check_env_names) with your list if
    /// it is not).
    pub fn from_env_with_prefix(prefix: &str) -> Result<Config, ConfigError> {
        let prefix = prefix.trim_end_matches('_');
        let keys = env_keys();
        let vars: Vec<_> = std::env::vars_os().collect();
        if prefix == DEFAULT_ENV_PREFIX.trim_end_matches('_') {
            Self::check_env_names(prefix, vars.iter().map(|(name, _)| name))?;
        }
        // `std::env::var` would take such a value for unset.
        for (name, value) in &vars {
            if let Some(name) = name.to_str()
                && env_key(prefix, name).is_some_and(|key| keys.contains(&key))
                && value.to_str().is_none()
            {
                return Err(ConfigError::Env {
                    var: name.to_owned(),
                    reason: "the value is not UTF-8".to_owned(),
                });
            }
        }
        Self::from_env_lookup(prefix, process_env)
    }

    /// [`from_env_with_prefix`](Self::from_env_with_prefix) reading the
    /// variables through `lookup` instead of the process environment (for
    /// tests, or another source of variables).
    ///
    /// A lookup cannot list its variables, so unlike
    /// [`from_env`](Self::from_env) this refuses no unknown variable: pass
    /// the names your source holds to
    /// [`check_env_names`](Self::check_env_names) for that check.
    pub fn from_env_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let vars = Vars::new(prefix, &lookup);
        let issuer = IssuerConfig::from_env(&vars)?;
        let top = Config::from_vars(&vars)?;
        Ok(Config {
            issuers: vec![issuer],
            jwks_cache: JwksCacheConfig::from_env(&vars)?,
            introspection: IntrospectionConfig::from_env(&vars)?,
            dpop: DpopConfig::from_env(&vars)?,
            layer: Some(LayerConfig::from_vars(&vars)?),
            ..top
        })
    }

    /// Refuses the first (in sorted order) of `names` that has the prefix
    /// (`PREFIX_...`) but is not a variable [`from_env`](Self::from_env)
    /// reads, nor `PREFIX_CONFIG`: [`ConfigError::Env`] with the reason
    /// `unknown variable`, listing the other unknown names. Names without
    /// the prefix are not looked at; with an empty prefix, no name is
    /// refused. [`from_env`](Self::from_env) calls it with the names of
    /// the process environment.
    ///
    /// ```
    /// use bearer_guard::config::{Config, ConfigError};
    ///
    /// let names = ["PATH", "BEARER_GUARD_ISSUER", "BEARER_GUARD_CONFIG"];
    /// assert!(Config::check_env_names("BEARER_GUARD", names).is_ok());
    /// let err = Config::check_env_names("BEARER_GUARD", ["BEARER_GUARD_AUDIENCES"]).unwrap_err();
    /// assert!(matches!(err, ConfigError::Env { var, .. } if var == "BEARER_GUARD_AUDIENCES"));
    /// ```
    pub fn check_env_names<I>(prefix: &str, names: I) -> Result<(), ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        let prefix = prefix.trim_end_matches('_');
        if prefix.is_empty() {
            return Ok(());
        }
        let keys = env_keys();
        let mut unknown: Vec<String> = names
            .into_iter()
            .filter_map(|name| {
                let name = name.as_ref().to_string_lossy();
                env_key(prefix, &name)
                    .is_some_and(|key| key != ENV_CONFIG_KEY && !keys.contains(&key))
                    .then(|| name.into_owned())
            })
            .collect();
        unknown.sort();
        unknown.dedup();
        let mut unknown = unknown.into_iter();
        let Some(var) = unknown.next() else {
            return Ok(());
        };
        let others: Vec<String> = unknown.collect();
        let mut reason = format!(
            "unknown variable: not one bearer-guard reads (see bearer_guard::config), nor {prefix}_{ENV_CONFIG_KEY}"
        );
        if !others.is_empty() {
            reason.push_str("; also unknown: ");
            reason.push_str(&others.join(", "));
        }
        Err(ConfigError::Env { var, reason })
    }
}

/// The key of the variable `name` (`ISSUER` for `BEARER_GUARD_ISSUER`), if
/// it has the prefix; variable names are compared ignoring case where the
/// system does (Windows).
fn env_key(prefix: &str, name: &str) -> Option<String> {
    let (prefix, name) = if cfg!(windows) {
        (prefix.to_ascii_uppercase(), name.to_ascii_uppercase())
    } else {
        (prefix.to_owned(), name.to_owned())
    };
    if prefix.is_empty() {
        return Some(name);
    }
    name.strip_prefix(prefix.as_str())?
        .strip_prefix('_')
        .map(str::to_owned)
}
