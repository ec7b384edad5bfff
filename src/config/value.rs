//! The types of options: when one counts as given (set, not `false`, not
//! empty), and how it is read from an environment variable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::claims::RoleSource;
use crate::introspection::TokenPolicy;
use crate::jwt::TypPolicy;
use crate::keys::Algorithm;
use crate::remote::EndpointUrl;

use super::error::ConfigError;
use super::parse::{OneOrMany, parse_algorithm, parse_role_source, parse_token_policy, parse_typ};
use super::secret::Secret;
use super::vars::Vars;

/// The type of an option: when it counts as given, and how it is read from
/// a variable.
pub(super) trait Value: Clone {
    /// What a given option hands to its setting.
    type Given: ?Sized;

    /// The value, unless unset, `false` or empty.
    fn given(&self) -> Option<&Self::Given>;

    /// The value of the variable `PREFIX_{var}` (unset: the default).
    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError>;

    /// The variables it is read from.
    fn vars(var: &str) -> Vec<String> {
        vec![var.to_owned()]
    }

    /// The variable a given value came from.
    fn given_var(&self, var: &str) -> String {
        var.to_owned()
    }

    /// Whether it is 0 (numbers only).
    fn is_zero(&self) -> bool {
        false
    }
}

/// A number, which may refuse 0.
pub(super) trait Number: Value {}

impl Value for Option<u64> {
    type Given = u64;

    fn given(&self) -> Option<&u64> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.number(var)
    }

    fn is_zero(&self) -> bool {
        *self == Some(0)
    }
}

impl Number for Option<u64> {}

impl Value for Option<usize> {
    type Given = usize;

    fn given(&self) -> Option<&usize> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.number(var)
    }

    fn is_zero(&self) -> bool {
        *self == Some(0)
    }
}

impl Number for Option<usize> {}

/// A flag, given when `true`.
impl Value for bool {
    type Given = bool;

    fn given(&self) -> Option<&bool> {
        self.then_some(self)
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.flag(var)
    }
}

/// Text that must be given (an empty string is not).
impl Value for String {
    type Given = str;

    fn given(&self) -> Option<&str> {
        (!self.is_empty()).then_some(self.as_str())
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        Ok(vars.text(var).unwrap_or_default())
    }
}

impl Value for Option<String> {
    type Given = String;

    fn given(&self) -> Option<&String> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        Ok(vars.text(var))
    }
}

/// A list, given when not empty.
impl Value for Vec<String> {
    type Given = [String];

    fn given(&self) -> Option<&[String]> {
        (!self.is_empty()).then_some(self.as_slice())
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        Ok(vars.list(var))
    }
}

/// A list that may be absent: from a variable, an empty one is.
impl Value for Option<Vec<String>> {
    type Given = Vec<String>;

    fn given(&self) -> Option<&Vec<String>> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        let list = vars.list(var);
        Ok((!list.is_empty()).then_some(list))
    }
}

/// An allow-list of algorithms: from a variable, set (even to no valid
/// item) as soon as the variable is.
impl Value for Option<Vec<Algorithm>> {
    type Given = Vec<Algorithm>;

    fn given(&self) -> Option<&Vec<Algorithm>> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.text(var)
            .is_some()
            .then(|| vars.each(var, parse_algorithm))
            .transpose()
    }
}

impl Value for Option<Algorithm> {
    type Given = Algorithm;

    fn given(&self) -> Option<&Algorithm> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.parsed(var, parse_algorithm)
    }
}

impl Value for Vec<RoleSource> {
    type Given = [RoleSource];

    fn given(&self) -> Option<&[RoleSource]> {
        (!self.is_empty()).then_some(self.as_slice())
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.each(var, parse_role_source)
    }
}

/// `default`, `rfc9068`, or a comma-separated list of types.
impl Value for Option<TypPolicy> {
    type Given = TypPolicy;

    fn given(&self) -> Option<&TypPolicy> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.parsed(var, |v| {
            if v == "default" || v == "rfc9068" {
                parse_typ(OneOrMany::One(v.to_owned()))
            } else {
                // Empty items (`at+jwt,`) are dropped like those of
                // every list: `none` accepts tokens without `typ`.
                parse_typ(OneOrMany::Many(
                    v.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            }
        })
    }
}

impl Value for Option<TokenPolicy> {
    type Given = TokenPolicy;

    fn given(&self) -> Option<&TokenPolicy> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.parsed(var, parse_token_policy)
    }
}

/// Names and values: `NAME=VALUE,...` in a variable.
impl Value for BTreeMap<String, String> {
    type Given = BTreeMap<String, String>;

    fn given(&self) -> Option<&Self> {
        (!self.is_empty()).then_some(self)
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        Ok(vars
            .each(var, |pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("{pair:?} is not NAME=VALUE"))
            })?
            .into_iter()
            .collect())
    }
}

impl Value for Option<PathBuf> {
    type Given = PathBuf;

    fn given(&self) -> Option<&PathBuf> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        Ok(vars.path(var))
    }
}

impl Value for Option<EndpointUrl> {
    type Given = EndpointUrl;

    fn given(&self) -> Option<&EndpointUrl> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        Ok(vars.text(var).map(EndpointUrl::new))
    }
}

/// A secret: the variable `KEY` holds it, or `KEY_FILE` names its file.
impl Value for Option<Secret> {
    type Given = Secret;

    fn given(&self) -> Option<&Secret> {
        self.as_ref()
    }

    fn read(vars: &Vars<'_>, var: &str) -> Result<Self, ConfigError> {
        vars.secret(var)
    }

    fn vars(var: &str) -> Vec<String> {
        vec![var.to_owned(), format!("{var}_FILE")]
    }

    fn given_var(&self, var: &str) -> String {
        match self {
            Some(Secret::File(_)) => format!("{var}_FILE"),
            _ => var.to_owned(),
        }
    }
}
