//! Each option of the configuration said once. A section (a table of the
//! document: `[jwks_cache]`, `[[issuers]]`...) lists its options in one
//! function, [`Section::fields`]: each option's name, its environment
//! variable, why 0 is refused, and the setting it feeds. The walkers below
//! go through that list to read the environment, list the known variables,
//! refuse zeros, lay one table over another and set the builder.
//!
//! Adding an option is two places: its field in the section's struct (its
//! name, documentation and serde attributes: the document format), and its
//! row in the section's `fields`:
//!
//! ```text
//! w.field(
//!     Self::option("jwks_cache.max_keys", |c| &mut c.max_keys)
//!         .var("JWKS_MAX_KEYS")
//!         .not_zero("every key set would be refused")
//!         .set(|o, n| o.max_keys(*n)),
//! )
//! ```
//!
//! Users learn of it from the table of variables in the module
//! documentation (`tests/config.rs` checks that it lists every variable
//! read) and from `docs/config.example.toml`. Options whose meaning depends
//! on others (an issuer's name, the client authentication of
//! introspection, secrets read with the environment) have a row for their
//! variable and are set by hand in the section's translation.
//!
//! A row reaches its field through `slot`, a `&mut` accessor: the walkers
//! that only read work on a clone of the section (a few strings, built
//! once at start-up).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::claims::RoleSource;
use crate::introspection::TokenPolicy;
use crate::jwt::TypPolicy;
use crate::keys::Algorithm;
use crate::remote::EndpointUrl;

use super::error::ConfigError;
use super::parse::{OneOrMany, parse_algorithm, parse_role_source, parse_token_policy, parse_typ};
use super::secret::Secret;
use super::vars::Vars;

/// A table of the document and what it sets.
pub(super) trait Section: Clone + Default {
    /// What its options set: a builder, or library options.
    type Target;
    /// Why setting one can fail.
    type Error;

    /// Variables read by hand (not an option's), without the prefix.
    const OTHER_VARS: &'static [&'static str] = &[];

    /// Each option, in the order in which they are read from the
    /// environment, checked for 0 and set: `w.field(..).field(..)`.
    fn fields<W: Walker<Self>>(w: W) -> W;

    /// The option at `slot`, named `name` in errors (as the document names
    /// it: `jwks_cache.max_keys`), with no variable and set elsewhere until
    /// said otherwise.
    fn option<V: Value>(name: &'static str, slot: fn(&mut Self) -> &mut V) -> Field<Self, V> {
        Field {
            name,
            slot,
            var: None,
            zero: None,
            apply: Apply::Elsewhere,
        }
    }

    /// The section as the environment describes it: each option with a
    /// variable read from it, the others left at their default.
    fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Self::fields(ReadVars {
            vars,
            section: Ok(Self::default()),
        })
        .section
    }

    /// The variables of its options, in order (`KEY` and `KEY_FILE` for a
    /// secret).
    fn vars() -> Vec<String> {
        Self::fields(Names(Vec::new())).0
    }

    /// Every variable of the section: its options', then the others.
    fn env_vars() -> Vec<String> {
        let mut vars = Self::vars();
        vars.extend(Self::OTHER_VARS.iter().map(|v| (*v).to_owned()));
        vars
    }

    /// The first option set to 0 where 0 is refused: its name, and what 0
    /// would do.
    fn first_zero(&self) -> Option<(&'static str, &'static str)> {
        Self::fields(FirstZero {
            section: self.clone(),
            found: None,
        })
        .found
    }

    /// The variable of the first option given (not unset, `false` or
    /// empty) that has one: `KEY_FILE` for a secret read from a file.
    fn first_given_var(&self) -> Option<String> {
        Self::fields(FirstGiven {
            section: self.clone(),
            found: None,
        })
        .found
    }

    /// Each option of `self`, or else of `base`.
    fn over(&self, base: &Self) -> Self {
        Self::fields(Over {
            own: self.clone(),
            base: base.clone(),
        })
        .own
    }

    /// `target` with each option given set on it, in order.
    fn apply(&self, target: Self::Target) -> Result<Self::Target, Self::Error> {
        Self::fields(SetOn {
            section: self.clone(),
            target: Ok(target),
        })
        .target
    }
}

/// Goes through the options of a section (see [`Section::fields`]).
pub(super) trait Walker<S: Section>: Sized {
    /// One option.
    fn field<V: Value>(self, field: Field<S, V>) -> Self;
}

/// One option of the section `S`, of type `V`.
pub(super) struct Field<S: Section, V: Value> {
    name: &'static str,
    slot: fn(&mut S) -> &mut V,
    /// Its environment variable, without the prefix.
    var: Option<&'static str>,
    /// Why 0 is refused, where it is.
    zero: Option<&'static str>,
    apply: Apply<S, V>,
}

/// Sets the target `S::Target` with a given value.
type Setter<S, G> = fn(<S as Section>::Target, &G) -> <S as Section>::Target;

/// Sets the target with a given value, or refuses it.
type TrySetter<S, G> =
    fn(<S as Section>::Target, &G) -> Result<<S as Section>::Target, <S as Section>::Error>;

/// What a given option sets.
enum Apply<S: Section, V: Value> {
    /// Nothing here: the section sets it by hand (it depends on other
    /// options, or needs the environment of secrets).
    Elsewhere,
    Set(Setter<S, V::Given>),
    TrySet(TrySetter<S, V::Given>),
}

impl<S: Section, V: Value> Field<S, V> {
    /// Read from the variable `PREFIX_{var}`.
    pub(super) fn var(self, var: &'static str) -> Self {
        Field {
            var: Some(var),
            ..self
        }
    }

    /// When given, sets the target with `set`.
    pub(super) fn set(self, set: Setter<S, V::Given>) -> Self {
        Field {
            apply: Apply::Set(set),
            ..self
        }
    }

    /// When given, sets the target with `set`, which may refuse it.
    pub(super) fn try_set(self, set: TrySetter<S, V::Given>) -> Self {
        Field {
            apply: Apply::TrySet(set),
            ..self
        }
    }
}

impl<S: Section, V: Number> Field<S, V> {
    /// 0 is refused: it would do `why`.
    pub(super) fn not_zero(self, why: &'static str) -> Self {
        Field {
            zero: Some(why),
            ..self
        }
    }
}

/// An option in whole seconds, as a duration.
pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---------------------------------------------------------------------------
// The walkers.

struct ReadVars<'a, 'v, S> {
    vars: &'a Vars<'v>,
    section: Result<S, ConfigError>,
}

impl<S: Section> Walker<S> for ReadVars<'_, '_, S> {
    fn field<V: Value>(mut self, f: Field<S, V>) -> Self {
        if let (Some(var), Ok(section)) = (f.var, &mut self.section) {
            match V::read(self.vars, var) {
                Ok(value) => *(f.slot)(section) = value,
                Err(e) => self.section = Err(e),
            }
        }
        self
    }
}

struct Names(Vec<String>);

impl<S: Section> Walker<S> for Names {
    fn field<V: Value>(mut self, f: Field<S, V>) -> Self {
        if let Some(var) = f.var {
            self.0.extend(V::vars(var));
        }
        self
    }
}

struct FirstZero<S> {
    section: S,
    found: Option<(&'static str, &'static str)>,
}

impl<S: Section> Walker<S> for FirstZero<S> {
    fn field<V: Value>(mut self, f: Field<S, V>) -> Self {
        if self.found.is_none()
            && let Some(why) = f.zero
            && (f.slot)(&mut self.section).is_zero()
        {
            self.found = Some((f.name, why));
        }
        self
    }
}

struct FirstGiven<S> {
    section: S,
    found: Option<String>,
}

impl<S: Section> Walker<S> for FirstGiven<S> {
    fn field<V: Value>(mut self, f: Field<S, V>) -> Self {
        if self.found.is_none()
            && let Some(var) = f.var
        {
            let value = (f.slot)(&mut self.section);
            if value.given().is_some() {
                self.found = Some(value.given_var(var));
            }
        }
        self
    }
}

struct Over<S> {
    own: S,
    base: S,
}

impl<S: Section> Walker<S> for Over<S> {
    fn field<V: Value>(mut self, f: Field<S, V>) -> Self {
        let own = (f.slot)(&mut self.own);
        if own.given().is_none() {
            *own = (f.slot)(&mut self.base).clone();
        }
        self
    }
}

struct SetOn<S: Section> {
    section: S,
    target: Result<S::Target, S::Error>,
}

impl<S: Section> Walker<S> for SetOn<S> {
    fn field<V: Value>(mut self, f: Field<S, V>) -> Self {
        if let Some(given) = (f.slot)(&mut self.section).given() {
            self.target = match f.apply {
                Apply::Elsewhere => self.target,
                Apply::Set(set) => self.target.map(|t| set(t, given)),
                Apply::TrySet(set) => self.target.and_then(|t| set(t, given)),
            };
        }
        self
    }
}

// ---------------------------------------------------------------------------
// The types of options.

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
