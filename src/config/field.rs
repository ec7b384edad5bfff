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

use std::time::Duration;

use super::error::ConfigError;
use super::value::{Number, Value};
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
