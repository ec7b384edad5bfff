//! axum integration (feature `axum`, on by default).
//!
//! - [`Claims`] is an extractor: a handler that takes `Claims` receives the
//!   verified claims that [`BearerLayer`](crate::BearerLayer) put in the request.
//! - `Option<Claims>` is `None` for requests let through anonymously
//!   ([`BearerLayer::allow_anonymous`](crate::BearerLayer::allow_anonymous)).
//! - [`AuthError`] implements `IntoResponse`, so handlers can return it (for
//!   example from [`Requirement::check`](crate::Requirement::check)).
//!
//! Using the extractor on a route the layer does not cover is a programming
//! error; it answers 500 with a body that says so, rather than letting the
//! request through.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{StatusCode, header};

use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::claims::Claims;
use crate::http::{Anonymous, AuthError};

/// Why the [`Claims`] extractor refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsRejection {
    /// No `BearerLayer` ran for this route: 500, a server misconfiguration.
    #[error(
        "bearer-guard: the Claims extractor was used on a route that BearerLayer does not cover"
    )]
    MissingLayer,
    /// The layer let the request through anonymously but the handler needs
    /// claims: 401 with a bare `Bearer` challenge (with the layer's realm).
    #[error("this route needs a bearer token")]
    Unauthenticated,
    /// The verified claims do not deserialize into the handler's
    /// [`TypedClaims`] type: a plain 403 (the token is genuine and valid,
    /// but lacks what this handler needs; a 401 `invalid_token` would send
    /// the client for a new token that would fare no better). Logged at
    /// `warn` with the reason, since it may also be a type that does not
    /// fit the provider's tokens.
    #[error("the claims do not fit the handler's claims type")]
    Undeserializable,
}

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        match self {
            ClaimsRejection::MissingLayer => {
                tracing::error!("{}", ClaimsRejection::MissingLayer);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    ClaimsRejection::MissingLayer.to_string(),
                )
                    .into_response()
            }
            ClaimsRejection::Unauthenticated => AuthError::MissingToken.into_response(),
            ClaimsRejection::Undeserializable => AuthError::Forbidden {
                requirement: "claims that fit the handler's claims type".into(),
            }
            .into_response(),
        }
    }
}

impl IntoResponse for AuthError {
    /// The RFC 6750 response; the enclosing
    /// [`BearerLayer`](crate::BearerLayer) adds its realm on the way out.
    fn into_response(self) -> Response {
        self.into_http_response(None)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Claims>() {
            Some(claims) => Ok(claims.clone()),
            None if parts.extensions.get::<Anonymous>().is_some() => {
                Err(ClaimsRejection::Unauthenticated)
            }
            None => Err(ClaimsRejection::MissingLayer),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<Claims>() {
            Some(claims) => Ok(Some(claims.clone())),
            None if parts.extensions.get::<Anonymous>().is_some() => Ok(None),
            None => Err(ClaimsRejection::MissingLayer),
        }
    }
}

/// Your own claims type, as an extractor: deserialized from the verified
/// claims once per token ([`Claims::typed`]), so a token served from the
/// verified-token cache hands it over without deserializing again.
///
/// ```
/// use bearer_guard::extract::TypedClaims;
///
/// #[derive(serde::Deserialize)]
/// struct Mine {
///     sub: String,
///     tenant: String,
/// }
///
/// async fn handler(TypedClaims(me): TypedClaims<Mine>) -> String {
///     format!("{} of {}", me.sub, me.tenant)
/// }
/// # let _: axum::Router = axum::Router::new().route("/", axum::routing::get(handler));
/// ```
///
/// Claims that do not fit the type answer a plain 403
/// ([`ClaimsRejection::Undeserializable`]): the token is valid, it lacks what
/// this handler needs.
#[derive(Debug)]
pub struct TypedClaims<T>(pub Arc<T>);

impl<T> Deref for TypedClaims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Clone for TypedClaims<T> {
    fn clone(&self) -> Self {
        TypedClaims(self.0.clone())
    }
}

impl<S, T> FromRequestParts<S> for TypedClaims<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = <Claims as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        claims.typed::<T>().map(TypedClaims).map_err(|e| {
            tracing::warn!(
                claims_type = std::any::type_name::<T>(),
                error = %e,
                "the verified claims do not fit the handler's claims type; refused with 403"
            );
            ClaimsRejection::Undeserializable
        })
    }
}
