//! Scope requirements, the scope half of [`Requirement`](crate::Requirement):
//! [`Requirement::scopes_all`](crate::Requirement::scopes_all) and
//! [`Requirement::scopes_any`](crate::Requirement::scopes_any).

use crate::claims::Scopes;
use crate::validator::BuildError;

/// The scopes a route needs: all of a list, or any one of a list. Built
/// checked, so that a requirement can never hold a string no token could
/// grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScopeRequirement {
    scopes: Vec<String>,
    all: bool,
}

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )` (RFC 6749 §3.3).
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl ScopeRequirement {
    /// Every scope in `scopes` (`all`), or one of them.
    pub(crate) fn new<I, T>(scopes: I, all: bool) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        if scopes.is_empty() {
            return Err(BuildError::EmptyRequirement);
        }
        if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(BuildError::InvalidScope(bad.clone()));
        }
        Ok(ScopeRequirement { scopes, all })
    }

    /// The listed scopes.
    pub(crate) fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether every listed scope is needed (`all`) rather than one (`any`).
    pub(crate) fn needs_all(&self) -> bool {
        self.all
    }

    /// Whether `scopes` satisfies the requirement.
    pub(crate) fn is_satisfied_by(&self, scopes: &Scopes) -> bool {
        let listed = self.scopes.iter().map(String::as_str);
        if self.all {
            scopes.contains_all(listed)
        } else {
            scopes.contains_any(listed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_and_any() {
        let s = Scopes::parse("a b");
        assert!(
            ScopeRequirement::new(["a", "b"], true)
                .unwrap()
                .is_satisfied_by(&s)
        );
        assert!(
            !ScopeRequirement::new(["a", "c"], true)
                .unwrap()
                .is_satisfied_by(&s)
        );
        assert!(
            ScopeRequirement::new(["c", "b"], false)
                .unwrap()
                .is_satisfied_by(&s)
        );
        assert!(
            !ScopeRequirement::new(["c"], false)
                .unwrap()
                .is_satisfied_by(&s)
        );
    }

    #[test]
    fn scope_tokens_follow_rfc6749() {
        assert!(is_scope_token("charge:customer"));
        assert!(is_scope_token("https://api.example/read!"));
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_invalid_scope_is_a_configuration_error() {
        assert!(matches!(
            ScopeRequirement::new(["has space"], true),
            Err(BuildError::InvalidScope(s)) if s == "has space"
        ));
        assert!(matches!(
            ScopeRequirement::new(Vec::<String>::new(), false),
            Err(BuildError::EmptyRequirement)
        ));
    }
}
