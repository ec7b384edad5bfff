//! Per-route scope requirements: [`RequireScopeLayer`] and [`ScopeRequirement`].
//!
//! Put the scope layer *inside* the [`BearerLayer`](crate::BearerLayer) (for
//! axum: `Router::route_layer` for the scope, `Router::layer` for the bearer
//! layer, or two `route_layer` calls with the bearer layer last), so that it
//! sees the verified claims.
//!
//! ```
//! use axum::{Router, routing::post};
//! use bearer_guard::RequireScopeLayer;
//!
//! let payments: Router = Router::new()
//!     .route("/charge", post(|| async { "charged" }))
//!     .route_layer(RequireScopeLayer::all(["charge:customer"]));
//! let reports: Router = Router::new()
//!     .route("/report", post(|| async { "report" }))
//!     .route_layer(RequireScopeLayer::any(["reports:read", "admin"]));
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::{Claims, Scopes};
use crate::error::{AuthError, valid_realm};
use crate::layer::{Realm, ResponseFuture};

/// The scopes a route needs: all of a list, or any one of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRequirement {
    /// Every listed scope must be granted.
    All(Vec<String>),
    /// At least one listed scope must be granted.
    Any(Vec<String>),
}

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )` (RFC 6749 §3.3).
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn collect<I, T>(scopes: I) -> Vec<String>
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
    assert!(
        !scopes.is_empty(),
        "bearer-guard: a scope requirement needs at least one scope"
    );
    for s in &scopes {
        assert!(
            is_scope_token(s),
            "bearer-guard: {s:?} is not a valid scope (RFC 6749 §3.3: printable ASCII without space, '\"' or '\\\\')"
        );
    }
    scopes
}

impl ScopeRequirement {
    /// Whether `scopes` satisfies the requirement.
    pub fn is_satisfied_by(&self, scopes: &Scopes) -> bool {
        match self {
            ScopeRequirement::All(list) => scopes.contains_all(list.iter().map(String::as_str)),
            ScopeRequirement::Any(list) => scopes.contains_any(list.iter().map(String::as_str)),
        }
    }

    /// Checks `claims`, for use inside a handler:
    /// `ScopeRequirement::All(vec!["refund".into()]).check(&claims)?`.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        if self.is_satisfied_by(claims.scopes()) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: self.scope_attribute(),
            })
        }
    }

    /// The `scope` attribute of the 403 challenge: the listed scopes,
    /// space-separated (for `Any`, the alternatives).
    fn scope_attribute(&self) -> String {
        match self {
            ScopeRequirement::All(list) | ScopeRequirement::Any(list) => list.join(" "),
        }
    }
}

/// A tower [`Layer`] that lets a request through only when its verified
/// [`Claims`] grant the required scopes.
///
/// - no claims in the request (no token, anonymous): 401 with a bare challenge;
/// - claims without the scope: 403 `insufficient_scope` with `scope="…"`.
#[derive(Clone, Debug)]
pub struct RequireScopeLayer {
    requirement: Arc<ScopeRequirement>,
    realm: Option<Arc<str>>,
}

impl RequireScopeLayer {
    /// Requires every scope in `scopes`.
    ///
    /// # Panics
    ///
    /// If `scopes` is empty or one is not a valid scope token (RFC 6749 §3.3):
    /// a configuration error, caught when the router is built.
    pub fn all<I, T>(scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(ScopeRequirement::All(collect(scopes)))
    }

    /// Requires at least one scope in `scopes`.
    ///
    /// # Panics
    ///
    /// As [`all`](Self::all).
    pub fn any<I, T>(scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(ScopeRequirement::Any(collect(scopes)))
    }

    fn new(requirement: ScopeRequirement) -> Self {
        RequireScopeLayer {
            requirement: Arc::new(requirement),
            realm: None,
        }
    }

    /// Sets the challenge's `realm`. By default the realm of the enclosing
    /// [`BearerLayer`](crate::BearerLayer) is used.
    ///
    /// # Panics
    ///
    /// If `realm` contains control characters.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        assert!(
            valid_realm(&realm),
            "bearer-guard: the realm must not contain control characters"
        );
        self.realm = Some(realm.into());
        self
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireScope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            requirement: self.requirement.clone(),
            realm: self.realm.clone(),
        }
    }
}

/// The service made by [`RequireScopeLayer`].
#[derive(Clone, Debug)]
pub struct RequireScope<S> {
    inner: S,
    requirement: Arc<ScopeRequirement>,
    realm: Option<Arc<str>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScope<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let outcome = match req.extensions().get::<Claims>() {
            Some(claims) => self.requirement.check(claims),
            None => Err(AuthError::MissingToken),
        };
        match outcome {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(error) => {
                let realm = self
                    .realm
                    .clone()
                    .or_else(|| req.extensions().get::<Realm>().map(|r| r.0.clone()));
                ResponseFuture::rejected(error, realm.as_deref())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_and_any() {
        let s = Scopes::parse("a b");
        assert!(ScopeRequirement::All(vec!["a".into(), "b".into()]).is_satisfied_by(&s));
        assert!(!ScopeRequirement::All(vec!["a".into(), "c".into()]).is_satisfied_by(&s));
        assert!(ScopeRequirement::Any(vec!["c".into(), "b".into()]).is_satisfied_by(&s));
        assert!(!ScopeRequirement::Any(vec!["c".into()]).is_satisfied_by(&s));
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
    #[should_panic(expected = "not a valid scope")]
    fn invalid_scope_panics_at_configuration() {
        let _ = RequireScopeLayer::all(["has space"]);
    }

    #[test]
    #[should_panic(expected = "at least one scope")]
    fn empty_requirement_panics_at_configuration() {
        let _ = RequireScopeLayer::any(Vec::<String>::new());
    }
}
