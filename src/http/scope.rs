//! Per-route scope requirements: [`RequireScopeLayer`] and [`ScopeRequirement`].
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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::response::{AuthError, InvalidRealm, check_realm};
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
    /// A layer enforcing `requirement`.
    pub fn new(requirement: ScopeRequirement) -> Self {
        RequireScopeLayer {
            requirement: Arc::new(requirement),
            realm: None,
        }
    }

    /// Requires every scope in `scopes`.
    ///
    /// # Errors
    ///
    /// [`ScopeError`] if `scopes` is empty or one is not a scope token
    /// (RFC 6749 §3.3).
    pub fn all<I, T>(scopes: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        ScopeRequirement::all(scopes).map(Self::new)
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
        ScopeRequirement::any(scopes).map(Self::new)
    }

    /// Sets the challenge's `realm`. By default the realm of the enclosing
    /// [`BearerLayer`](crate::BearerLayer) is used.
    ///
    /// # Errors
    ///
    /// [`InvalidRealm`] if `realm` contains control characters.
    pub fn realm(mut self, realm: impl Into<String>) -> Result<Self, InvalidRealm> {
        self.realm = Some(check_realm(realm.into())?);
        Ok(self)
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
    type Future = RequireScopeResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let outcome = match req.extensions().get::<Claims>() {
            Some(claims) => self.requirement.check(claims),
            None => Err(AuthError::MissingToken),
        };
        let state = match outcome {
            Ok(()) => ScopeState::Inner {
                fut: self.inner.call(req),
            },
            Err(error) => {
                tracing::debug!(%error, "request refused");
                // Without a realm of its own, the enclosing BearerLayer adds
                // its realm on the way out.
                ScopeState::Rejected {
                    response: Some(error.into_http_response(self.realm.as_deref())),
                }
            }
        };
        RequireScopeResponseFuture { state }
    }
}

pin_project! {
    /// The response future of [`RequireScope`]: a refusal ready at once, or
    /// the inner service's future.
    pub struct RequireScopeResponseFuture<F, ResBody> {
        #[pin]
        state: ScopeState<F, ResBody>,
    }
}

pin_project! {
    #[project = ScopeStateProj]
    enum ScopeState<F, ResBody> {
        Rejected { response: Option<Response<ResBody>> },
        Inner { #[pin] fut: F },
    }
}

impl<F, ResBody, E> Future for RequireScopeResponseFuture<F, ResBody>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            // Polled again after completion, the future stays pending.
            ScopeStateProj::Rejected { response } => response
                .take()
                .map_or(Poll::Pending, |r| Poll::Ready(Ok(r))),
            ScopeStateProj::Inner { fut } => fut.poll(cx),
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
            RequireScopeLayer::all(["has space"]).unwrap_err(),
            ScopeError::InvalidScope("has space".into())
        );
        assert_eq!(
            RequireScopeLayer::any(Vec::<String>::new()).unwrap_err(),
            ScopeError::Empty
        );
        assert!(
            RequireScopeLayer::all(["ok"])
                .unwrap()
                .realm("a\u{7}")
                .is_err()
        );
    }
}
