//! [`BearerLayer`] and [`BearerService`]: the tower middleware that takes the
//! bearer token off each request, validates it, and hands the verified
//! [`Claims`] to the inner service in the request extensions.
//!
//! ```
//! use axum::{Router, routing::get};
//! use bearer_guard::{BearerLayer, Claims, RequireScopeLayer, Validator};
//! # use bearer_guard::testing::TestIssuer;
//! # let issuer = TestIssuer::new();
//!
//! let validator = Validator::builder()
//!     .issuer("https://issuer.test")
//!     .audience("payments")
//!     .jwks_json(issuer.jwks_json())
//!     .build()
//!     .unwrap();
//!
//! async fn me(claims: Claims) -> String {
//!     format!("hello {}", claims.subject().unwrap_or("anonymous"))
//! }
//!
//! let app: Router = Router::new()
//!     .route("/charge", get(|| async { "charged" }))
//!     .route_layer(RequireScopeLayer::all(["charge:customer"]))
//!     .route("/me", get(me))
//!     .layer(BearerLayer::new(validator).realm("payments"));
//! ```
//!
//! Requests are answered per RFC 6750 §3 without reaching the inner service
//! when the token is missing (401), the credentials are malformed (400) or the
//! token is refused (401); see [`AuthError`] for the exact responses.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::Claims;
use crate::error::{AuthError, RequestError, ValidationError, valid_realm};
use crate::extract::{bearer_token, query_token};
use crate::validator::{Attempt, Validator};

/// Put in the request extensions when the layer lets a request without a token
/// through ([`BearerLayer::allow_anonymous`]). Handlers (and the `Option<Claims>`
/// axum extractor) can tell "no token, anonymous" from "layer missing".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anonymous;

/// The realm configured on the layer, carried in the request extensions so
/// that the scope layer and the extractors answer with the same challenge.
#[derive(Debug, Clone)]
pub(crate) struct Realm(pub(crate) Arc<str>);

#[derive(Debug, Default, Clone)]
struct Config {
    realm: Option<Arc<str>>,
    anonymous: bool,
    query: bool,
}

/// A tower [`Layer`] that requires a valid bearer token on every request.
///
/// Options:
/// - [`realm`](Self::realm): the `realm` of the `WWW-Authenticate` challenge;
/// - [`allow_anonymous`](Self::allow_anonymous): let requests *without* a token
///   through (a present but bad token is still refused);
/// - [`allow_query_parameter`](Self::allow_query_parameter): also accept the
///   `access_token` URI query parameter (RFC 6750 §2.3), off by default.
#[derive(Clone, Debug)]
pub struct BearerLayer {
    validator: Validator,
    config: Arc<Config>,
}

impl BearerLayer {
    /// A layer validating with `validator`.
    pub fn new(validator: Validator) -> Self {
        BearerLayer {
            validator,
            config: Arc::new(Config::default()),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Sets the `realm` attribute of every challenge (RFC 6750 §3).
    ///
    /// # Panics
    ///
    /// If `realm` contains control characters, which no HTTP header can carry:
    /// a configuration error, caught at start-up.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        assert!(
            valid_realm(&realm),
            "bearer-guard: the realm must not contain control characters"
        );
        self.config_mut().realm = Some(realm.into());
        self
    }

    /// Lets requests that carry no bearer token through, with an
    /// [`Anonymous`] marker in their extensions instead of [`Claims`]. A request
    /// that carries a token that is malformed or invalid is still refused.
    pub fn allow_anonymous(mut self) -> Self {
        self.config_mut().anonymous = true;
        self
    }

    /// Also reads the token from an `access_token` URI query parameter
    /// (RFC 6750 §2.3). A request that sends the token both ways, or the
    /// parameter twice, is refused with `invalid_request`.
    pub fn allow_query_parameter(mut self) -> Self {
        self.config_mut().query = true;
        self
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService {
            inner,
            validator: self.validator.clone(),
            config: self.config.clone(),
        }
    }
}

/// The service made by [`BearerLayer`].
#[derive(Clone, Debug)]
pub struct BearerService<S> {
    inner: S,
    validator: Validator,
    config: Arc<Config>,
}

/// A token whose validation must wait for a key fetch.
struct Deferred(String);

impl<S> BearerService<S> {
    /// Checks the request's credentials; on success the claims (or the
    /// anonymous marker) are in its extensions. `Ok(Some(_))` when validation
    /// has to wait for keys.
    fn authenticate<B>(&self, req: &mut Request<B>) -> Result<Option<Deferred>, AuthError> {
        let header = bearer_token(req.headers())?;
        let query = if self.config.query {
            query_token(req.uri())?
        } else {
            None
        };
        let token = match (header, query.as_deref()) {
            (Some(_), Some(_)) => return Err(RequestError::MultipleTokens.into()),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) if self.config.anonymous => {
                req.extensions_mut().insert(Anonymous);
                return Ok(None);
            }
            (None, None) => return Err(AuthError::MissingToken),
        };
        match self.validator.attempt(token, true) {
            Attempt::Done(result) => {
                req.extensions_mut().insert(result?);
                Ok(None)
            }
            Attempt::Wait => Ok(Some(Deferred(token.to_owned()))),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BearerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        if let Some(realm) = &self.config.realm {
            req.extensions_mut().insert(Realm(realm.clone()));
        }
        match self.authenticate(&mut req) {
            Ok(None) => ResponseFuture::inner(self.inner.call(req)),
            Ok(Some(Deferred(token))) => {
                // The inner service was made ready by poll_ready: take that
                // one along and leave a clone here (tower's clone-and-swap),
                // so the request is served by the service that is ready.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let validator = self.validator.clone();
                ResponseFuture {
                    state: State::Validating {
                        validation: Box::pin(async move { validator.validate(&token).await }),
                        request: Some(req),
                        inner: Some(inner),
                        realm: self.config.realm.clone(),
                    },
                }
            }
            Err(error) => ResponseFuture::rejected(error, self.config.realm.as_deref()),
        }
    }
}

type Validation = Pin<Box<dyn Future<Output = Result<Claims, ValidationError>> + Send>>;

pin_project! {
    /// The response future of [`BearerService`]: an RFC 6750 error response
    /// ready at once, a validation waiting for keys, or the inner service's
    /// future.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Rejected { response: Option<S::Response> },
        Validating {
            validation: Validation,
            request: Option<Request<ReqBody>>,
            inner: Option<S>,
            realm: Option<Arc<str>>,
        },
        Inner { #[pin] fut: S::Future },
    }
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    pub(crate) fn inner(fut: S::Future) -> Self {
        ResponseFuture {
            state: State::Inner { fut },
        }
    }

    pub(crate) fn rejected(error: AuthError, realm: Option<&str>) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(rejection(error, realm)),
            },
        }
    }
}

fn rejection<B: Default>(error: AuthError, realm: Option<&str>) -> Response<B> {
    tracing::debug!(%error, status = error.status().as_u16(), "request refused");
    error.into_response(realm)
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                // Polled again after completion, the future stays pending,
                // like `futures::future::Fuse`, rather than panicking.
                StateProj::Rejected { response } => {
                    return response
                        .take()
                        .map_or(Poll::Pending, |r| Poll::Ready(Ok(r)));
                }
                StateProj::Validating {
                    validation,
                    request,
                    inner,
                    realm,
                } => {
                    let result = std::task::ready!(validation.as_mut().poll(cx));
                    let (Some(mut req), Some(mut svc)) = (request.take(), inner.take()) else {
                        return Poll::Pending;
                    };
                    match result {
                        Ok(claims) => {
                            req.extensions_mut().insert(claims);
                            let fut = svc.call(req);
                            state.set(State::Inner { fut });
                        }
                        Err(error) => {
                            return Poll::Ready(Ok(rejection(error.into(), realm.as_deref())));
                        }
                    }
                }
                StateProj::Inner { fut } => return fut.poll(cx),
            }
        }
    }
}
