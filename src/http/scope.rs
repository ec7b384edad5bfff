//! Scope requirements: [`ScopeRequirement`], enforced per route by
//! [`RequireScopeLayer`](crate::RequireScopeLayer).
//!
//! Put the scope layer *inside* the [`BearerLayer`](crate::BearerLayer) (for
//! axum: `Router::route_layer` for the scope, `Router::layer` for the bearer
//! layer, or two `route_layer` calls with the bearer layer last), so that it
//! sees the verified claims, and its refusals get the bearer layer's realm.
//!
//! ```
//! use axum::{Router, routing::post};
//! use bearer_guard::RequireScopeLayer;
//!
//! # fn main() -> Result<(), bearer_guard::ScopeError> {
//! let payments: Router = Router::new()
//!     .route("/charge", post(|| async { "charged" }))
//!     .route_layer(RequireScopeLayer::all(["charge:customer"])?);
//! let reports: Router = Router::new()
//!     .route("/report", post(|| async { "report" }))
//!     .route_layer(RequireScopeLayer::any(["reports:read", "admin"])?);
//! # Ok(()) }
//! ```

use super::response::AuthError;
use crate::claims::{Claims, Scopes};

/// Why a scope requirement was refused when it was configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// No scope listed: the requirement would mean nothing.
    #[error("a scope requirement needs at least one scope")]
    Empty,
    /// Not a scope token (RFC 6749 §3.3: printable ASCII without space, `"`
    /// or `\`).
    #[error(
        "{0:?} is not a valid scope (RFC 6749 §3.3: printable ASCII without space, '\"' or '\\\\')"
    )]
    InvalidScope(String),
}

/// The scopes a route needs: all of a list, or any one of a list. Built
/// checked, so that a requirement can never hold a string no token could
/// grant.
///
/// ```
/// use bearer_guard::{ScopeRequirement, Scopes};
/// let refund = ScopeRequirement::all(["refund"]).unwrap();
/// assert!(refund.is_satisfied_by(&Scopes::parse("charge refund")));
/// assert!(ScopeRequirement::any(["has space"]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    scopes: Vec<String>,
    all: bool,
}

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )` (RFC 6749 §3.3).
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl ScopeRequirement {
    /// Requires every scope in `scopes`.
    ///
    /// # Errors
    ///
    /// [`ScopeError`] if `scopes` is empty or one is not a scope token.
    pub fn all<I, T>(scopes: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(scopes, true)
    }

    /// Requires at least one scope in `scopes`.
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn any<I, T>(scopes: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(scopes, false)
    }

    fn new<I, T>(scopes: I, all: bool) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(ScopeError::InvalidScope(bad.clone()));
        }
        Ok(ScopeRequirement { scopes, all })
    }

    /// The listed scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether every listed scope is needed (`all`) rather than one (`any`).
    pub fn needs_all(&self) -> bool {
        self.all
    }

    /// Whether `scopes` satisfies the requirement.
    pub fn is_satisfied_by(&self, scopes: &Scopes) -> bool {
        let listed = self.scopes.iter().map(String::as_str);
        if self.all {
            scopes.contains_all(listed)
        } else {
            scopes.contains_any(listed)
        }
    }

    /// Checks `claims`, for use inside a handler:
    /// `ScopeRequirement::all(["refund"])?.check(&claims)?`.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        if self.is_satisfied_by(claims.scopes()) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: self.scopes.join(" "),
            })
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
            ScopeRequirement::all(["a", "b"])
                .unwrap()
                .is_satisfied_by(&s)
        );
        assert!(
            !ScopeRequirement::all(["a", "c"])
                .unwrap()
                .is_satisfied_by(&s)
        );
        assert!(
            ScopeRequirement::any(["c", "b"])
                .unwrap()
                .is_satisfied_by(&s)
        );
        assert!(!ScopeRequirement::any(["c"]).unwrap().is_satisfied_by(&s));
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
        assert_eq!(
            ScopeRequirement::all(["has space"]).unwrap_err(),
            ScopeError::InvalidScope("has space".into())
        );
        assert_eq!(
            ScopeRequirement::any(Vec::<String>::new()).unwrap_err(),
            ScopeError::Empty
        );
    }
}
