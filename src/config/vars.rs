//! The environment variables of one prefix, read as the configuration's
//! values: text, lists, numbers, flags, paths and secrets, each error
//! naming its variable.

use std::path::PathBuf;

use super::error::ConfigError;
use super::secret::{Lookup, Secret};

/// The variables `PREFIX_*`, read through a lookup.
pub(super) struct Vars<'a> {
    /// Without its trailing `_`; empty for unprefixed names.
    prefix: &'a str,
    lookup: Lookup<'a>,
}

impl<'a> Vars<'a> {
    pub(super) fn new(prefix: &'a str, lookup: Lookup<'a>) -> Self {
        Vars {
            prefix: prefix.trim_end_matches('_'),
            lookup,
        }
    }

    /// The variable of `key`: `PREFIX_KEY`.
    pub(super) fn var(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}_{key}", self.prefix)
        }
    }

    pub(super) fn error(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Env {
            var: self.var(key),
            reason: reason.into(),
        }
    }

    /// The value, trimmed; empty counts as unset.
    pub(super) fn text(&self, key: &str) -> Option<String> {
        (self.lookup)(&self.var(key))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A comma-separated list, without empty items.
    pub(super) fn list(&self, key: &str) -> Vec<String> {
        self.text(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Each item of a list, parsed.
    pub(super) fn each<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        self.list(key)
            .iter()
            .map(|s| parse(s).map_err(|e| self.error(key, e)))
            .collect()
    }

    /// The value, parsed.
    pub(super) fn parsed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.text(key)
            .map(|v| parse(&v).map_err(|e| self.error(key, e)))
            .transpose()
    }

    pub(super) fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        self.parsed(key, |v| {
            v.parse()
                .map_err(|_| format!("{v:?} is not a non-negative whole number"))
        })
    }

    /// A flag, `None` when unset.
    pub(super) fn switch(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.parsed(key, |v| match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{v:?} is not true or false")),
        })
    }

    /// A flag, `false` when unset.
    pub(super) fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        Ok(self.switch(key)?.unwrap_or(false))
    }

    pub(super) fn path(&self, key: &str) -> Option<PathBuf> {
        self.text(key).map(PathBuf::from)
    }

    /// `KEY` (the secret itself, untrimmed) or `KEY_FILE` (its file).
    pub(super) fn secret(&self, key: &str) -> Result<Option<Secret>, ConfigError> {
        let file_key = format!("{key}_FILE");
        let value = (self.lookup)(&self.var(key)).filter(|v| !v.is_empty());
        match (value, self.path(&file_key)) {
            (Some(_), Some(_)) => {
                Err(self.error(key, format!("set with {} too", self.var(&file_key))))
            }
            (Some(v), None) => Ok(Some(Secret::Value(v))),
            (None, Some(path)) => Ok(Some(Secret::File(path))),
            (None, None) => Ok(None),
        }
    }
}
