//! Attaching the token to outbound requests: [`AuthorizeLayer`] for any
//! tower client (hyper, tonic...), and [`TokenSource::send`] for reqwest.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::token::{TokenError, TokenSource};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower [`Layer`] that adds `Authorization: Bearer <token>` from a
/// [`TokenSource`] to every outbound request. When a resource server
/// answers `401` with `error="invalid_token"`, the token is renewed for
/// the next request; with [`retry`](Self::retry), for requests whose body
/// can be sent twice (`B: Clone`, as `String`, `Bytes`, `Full<Bytes>`),
/// the request is also sent once more with the new token.
/// [`TokenSource::send`] does the same for reqwest.
///
/// ```no_run
/// # use bearer_guard::introspection::ClientAuth;
/// use bearer_guard::client::{AuthorizeLayer, TokenSource};
/// use tower::ServiceBuilder;
/// # fn wrap<S>(client: S, source: TokenSource) {
/// let client = ServiceBuilder::new().layer(AuthorizeLayer::new(source)).service(client);
/// # let _ = client; }
/// ```
#[derive(Clone, Debug)]
pub struct AuthorizeLayer {
    source: TokenSource,
}

impl AuthorizeLayer {
    /// A layer taking its tokens from `source`.
    pub fn new(source: TokenSource) -> Self {
        AuthorizeLayer { source }
    }
}

impl AuthorizeLayer {
    /// Also retries a request refused with `invalid_token`, once, with a
    /// renewed token: for clients whose request bodies are `Clone`.
    pub fn retry(self) -> AuthorizeRetryLayer {
        AuthorizeRetryLayer {
            source: self.source,
        }
    }
}

/// [`AuthorizeLayer::retry`]: adds the token and retries a request refused
/// with `invalid_token` once with a renewed one.
#[derive(Clone, Debug)]
pub struct AuthorizeRetryLayer {
    source: TokenSource,
}

impl<S> Layer<S> for AuthorizeRetryLayer {
    type Service = AuthorizeRetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthorizeRetry {
            inner,
            source: self.source.clone(),
        }
    }
}

/// The service made by [`AuthorizeRetryLayer`].
#[derive(Clone, Debug)]
pub struct AuthorizeRetry<S> {
    inner: S,
    source: TokenSource,
}

impl<S, B, RB> Service<Request<B>> for AuthorizeRetry<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Clone + Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let mut spare = self.inner.clone();
        let source = self.source.clone();
        Box::pin(async move {
            // A copy of the request for the second attempt.
            let mut again = Request::new(req.body().clone());
            *again.method_mut() = req.method().clone();
            *again.uri_mut() = req.uri().clone();
            *again.version_mut() = req.version();
            *again.headers_mut() = req.headers().clone();
            *again.extensions_mut() = req.extensions().clone();
            let mut req = req;
            let token = source.token().await.map_err(|e| Box::new(e) as BoxError)?;
            req.headers_mut()
                .insert(AUTHORIZATION, bearer(token.secret())?);
            let response = inner.call(req).await.map_err(Into::into)?;
            if !refuses_token(response.status(), response.headers()) {
                return Ok(response);
            }
            // A renewal, at most once per forced-renewal interval however
            // many requests are refused: a downstream that refuses every
            // token costs one token request per interval, not one per call.
            // Without a fresh token the refusal stands.
            let fresh = match source.renew(&token).await {
                Ok(fresh) if fresh.secret() != token.secret() => fresh,
                _ => return Ok(response),
            };
            again
                .headers_mut()
                .insert(AUTHORIZATION, bearer(fresh.secret())?);
            std::future::poll_fn(|cx| spare.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            spare.call(again).await.map_err(Into::into)
        })
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize {
            inner,
            source: self.source.clone(),
        }
    }
}

/// The service made by [`AuthorizeLayer`].
#[derive(Clone, Debug)]
pub struct Authorize<S> {
    inner: S,
    source: TokenSource,
}

/// Whether an answer is a resource server's refusal of the token itself
/// (RFC 6750 §3.1 `invalid_token`), which a fresh token may cure.
fn refuses_token(status: StatusCode, headers: &http::HeaderMap) -> bool {
    status == StatusCode::UNAUTHORIZED
        && headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("invalid_token")))
}

fn bearer(token: &str) -> Result<HeaderValue, BoxError> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
        Box::new(TokenError::InvalidResponse("the token is not header text")) as BoxError
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl<S, B, RB> Service<Request<B>> for Authorize<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The service made ready by poll_ready goes with this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let source = self.source.clone();
        Box::pin(async move {
            let token = source.token().await.map_err(|e| Box::new(e) as BoxError)?;
            req.headers_mut()
                .insert(AUTHORIZATION, bearer(token.secret())?);
            let response = inner.call(req).await.map_err(Into::into)?;
            if refuses_token(response.status(), response.headers()) {
                // Renewed for the next request; errors show up there.
                let _ = source.renew(&token).await;
            }
            Ok(response)
        })
    }
}

impl TokenSource {
    /// Sends a reqwest request with `Authorization: Bearer <token>`. When
    /// the resource server answers `401` with `error="invalid_token"`, the
    /// token is renewed once and the request sent once more, if its body
    /// can be sent twice (not a stream).
    ///
    /// # Errors
    ///
    /// A [`TokenError`] when no token could be had, or reqwest's error.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, BoxError> {
        let again = request.try_clone();
        let token = self.token().await?;
        let response = request.bearer_auth(token.secret()).send().await?;
        if !refuses_token(response.status(), response.headers()) {
            return Ok(response);
        }
        match (again, self.renew(&token).await) {
            (Some(request), Ok(fresh)) if fresh.secret() != token.secret() => {
                Ok(request.bearer_auth(fresh.secret()).send().await?)
            }
            // No retry possible, or no fresh token: the refusal stands.
            _ => Ok(response),
        }
    }
}
