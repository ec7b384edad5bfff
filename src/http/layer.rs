//! [`BearerLayer`] and [`Bearer`]: the tower middleware that takes the
//! bearer token off each request, validates it, and hands the verified
//! [`Claims`] to the inner service in the request extensions.
//!
//! ```
//! use axum::{Router, routing::get};
//! use bearer_guard::{BearerLayer, Claims, RequireLayer, Requirement, Validator};
//! # use bearer_guard::testing::TestIssuer;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let issuer = TestIssuer::new();
//! let validator = Validator::builder()
//!     .issuer("https://issuer.test")
//!     .audience("payments")
//!     .jwks_json(issuer.jwks_json())
//!     .build()?;
//!
//! async fn me(claims: Claims) -> String {
//!     format!("hello {}", claims.subject().unwrap_or("anonymous"))
//! }
//!
//! let app: Router = Router::new()
//!     .route("/charge", get(|| async { "charged" }))
//!     .route_layer(RequireLayer::new(Requirement::scopes_all(["charge:customer"])))
//!     .route("/me", get(me))
//!     .layer(BearerLayer::new(validator).realm("payments"));
//! # Ok(()) }
//! ```
//!
//! Requests are answered per RFC 6750 §3 without reaching the inner service
//! when the token is missing (401), the credentials are malformed (400) or the
//! token is refused (401); see [`AuthError`] for the exact responses. A
//! refusal from inside (a [`RequireLayer`](crate::RequireLayer), an
//! extractor, a handler returning [`AuthError`]) gets the layer's realm on its
//! way out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, CONTENT_LENGTH, HOST, HeaderName, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::body::{EmptyBody, ErrorBody, grpc_refusal, is_grpc};
use super::extract::{
    checked_token, cookie_token, credentials, dpop_proof, header_token, query_token,
};
use super::metadata::ResourceMetadata;
use super::require::literal;
use super::response::{
    AuthError, Challenges, DPOP_NONCE, Rendered, RequestError, Scheme, apply_challenges,
    check_realm,
};
use crate::claims::Claims;
use crate::dpop::DpopError;
#[cfg(feature = "metrics")]
use crate::telemetry;
use crate::validator::{Attempt, BuildError, ValidationError, Validator};

/// The client certificate of the request's TLS connection (DER), put in
/// the request extensions by the server stack that terminates TLS (see
/// `examples/mtls.rs`). A token bound to a certificate (`cnf.x5t#S256`,
/// RFC 8705 §3) is accepted only with the certificate it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(Arc<[u8]>);

impl ClientCertificate {
    /// The certificate, DER-encoded (rustls' `CertificateDer`, for one).
    pub fn new(der: impl Into<Arc<[u8]>>) -> Self {
        ClientCertificate(der.into())
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.0
    }
}

/// Put in the request extensions when the layer lets a request without a token
/// through ([`BearerLayer::allow_anonymous`]). Handlers (and the `Option<Claims>`
/// axum extractor) can tell "no token, anonymous" from "layer missing".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anonymous;

/// Everything a [`Bearer`] shares with its clones, behind one `Arc`:
/// a router clones the service for every request, and each shared counter
/// a clone touches is a cache line the cores pass back and forth.
#[derive(Debug, Clone)]
struct Shared {
    validator: Validator,
    challenges: Challenges,
    anonymous: bool,
    query: bool,
    token_header: Option<HeaderName>,
    token_cookie: Option<String>,
    /// The externally visible base URL (normalised, no trailing `/`), for
    /// DPoP's `htu`.
    public_url: Option<String>,
    /// Without a public URL: DPoP's `htu` from the `Host` header, with
    /// this scheme (an explicit opt-in, [`BearerLayer::trust_host_header`]).
    trust_host: Option<http::uri::Scheme>,
}

/// A tower [`Layer`] that requires a valid bearer token on every request.
///
/// Options:
/// - [`realm`](Self::realm): the `realm` of the `WWW-Authenticate` challenge;
/// - [`allow_anonymous`](Self::allow_anonymous): let requests *without* a token
///   through (a present but bad token is still refused);
/// - [`allow_query_parameter`](Self::allow_query_parameter): also accept the
///   `access_token` URI query parameter (RFC 6750 §2.3), off by default.
///
/// Refusals have an empty body unless [`error_body`](Self::error_body)
/// says otherwise; gRPC calls are refused the gRPC way (see
/// [`ErrorBody`]).
#[derive(Clone, Debug)]
pub struct BearerLayer<R = EmptyBody> {
    shared: Arc<Shared>,
    render: R,
}

impl BearerLayer {
    /// A layer validating with `validator`.
    ///
    /// With a validator that accepts DPoP ([`ValidatorBuilder::dpop`](crate::ValidatorBuilder::dpop)),
    /// the layer also accepts `Authorization: DPoP` with a `DPoP` proof
    /// and offers both schemes in its challenges (RFC 9449 §7.1).
    pub fn new(validator: Validator) -> Self {
        let dpop = validator.dpop_options();
        let challenges = Challenges {
            realm: None,
            bearer: !dpop.is_some_and(|d| d.is_required()),
            dpop_algs: dpop.map(|d| {
                d.accepted_algorithms()
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            resource_metadata: None,
            scope: None,
        };
        BearerLayer {
            shared: Arc::new(Shared {
                validator,
                challenges,
                anonymous: false,
                query: false,
                token_header: None,
                token_cookie: None,
                public_url: None,
                trust_host: None,
            }),
            render: EmptyBody,
        }
    }
}

impl<R> BearerLayer<R> {
    /// Writes the body of every refusal with `render`, those of the
    /// refusals from inside the layer (a requirement, an [`AuthError`]
    /// returned by a handler) included: [`ProblemJson`](crate::response::ProblemJson)
    /// for RFC 9457 `application/problem+json`, or a closure
    /// `Fn(&AuthError, &mut HeaderMap) -> Body`. Status and challenges stay
    /// RFC 6750's; gRPC calls keep their empty Trailers-Only refusals.
    ///
    /// The [`AuthError`] is also in every refusal's response extensions,
    /// for a tower `map_response` further out.
    pub fn error_body<R2>(self, render: R2) -> BearerLayer<R2> {
        BearerLayer {
            shared: self.shared,
            render,
        }
    }

    fn config_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Sets the `realm` attribute of every challenge (RFC 6750 §3), those of
    /// the refusals from inside the layer included.
    ///
    /// # Panics
    ///
    /// If `realm` contains control characters, which no HTTP header can
    /// carry. For a realm read at run time, use [`try_realm`](Self::try_realm).
    #[track_caller]
    pub fn realm(self, realm: impl Into<String>) -> Self {
        literal(self.try_realm(realm))
    }

    /// [`realm`](Self::realm) for a realm read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidRealm`] if `realm` contains control characters.
    pub fn try_realm(mut self, realm: impl Into<String>) -> Result<Self, BuildError> {
        self.config_mut().challenges.realm = Some(check_realm(realm.into())?);
        Ok(self)
    }

    /// The externally visible base URL of the service (`https://api.example.com`,
    /// or with the path prefix a proxy strips), against which DPoP proofs'
    /// `htu` is checked: the base followed by the request's path.
    ///
    /// A layer whose validator accepts DPoP needs it (or the explicit
    /// opt-in [`trust_host_header`](Self::trust_host_header)): without
    /// either, DPoP requests are answered 503 ([`DpopError::NoPublicUrl`](crate::dpop::DpopError::NoPublicUrl)),
    /// never checked against a URL the request itself names (its `Host`,
    /// or the authority of an absolute-form target), which would let a
    /// proof made for another service sharing the client's keys be
    /// presented here.
    ///
    /// # Panics
    ///
    /// If `url` is not an absolute `http(s)` URL without user information,
    /// query or fragment. For a URL read at run time, use
    /// [`try_public_url`](Self::try_public_url).
    #[track_caller]
    pub fn public_url(self, url: impl Into<String>) -> Self {
        literal(self.try_public_url(url))
    }

    /// [`public_url`](Self::public_url) for a URL read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidUrl`] if `url` is not an absolute `http(s)`
    /// URL without user information, query or fragment.
    pub fn try_public_url(mut self, url: impl Into<String>) -> Result<Self, BuildError> {
        let url = url.into();
        let normalized = match crate::dpop::uri::normalize(&url) {
            Some(n) if !url.contains(['?', '#']) => n,
            _ => return Err(BuildError::InvalidUrl),
        };
        self.config_mut().public_url = Some(normalized.trim_end_matches('/').to_owned());
        Ok(self)
    }

    /// Without a [`public_url`](Self::public_url), checks DPoP proofs'
    /// `htu` against `scheme://` and the request's `Host` header (which
    /// must be a plain authority: no user information, nothing that shifts
    /// the path) followed by its path. Never the authority of an
    /// absolute-form request target.
    ///
    /// An opt-in for set-ups where every name that reaches this service
    /// is this service's (local development, tests): the client names the
    /// host, so a proof made for another service behind the same address
    /// would be accepted here. In production, set the public URL. HTTP/2
    /// requests name their authority in the request target, which is never
    /// used: they need the public URL.
    ///
    /// ```
    /// # use bearer_guard::{BearerLayer, testing::TestIssuer, dpop::DpopOptions};
    /// # let validator = TestIssuer::new().validator_builder()
    /// #     .audience("api").dpop(DpopOptions::new()).build().unwrap();
    /// let layer = BearerLayer::new(validator).trust_host_header(http::uri::Scheme::HTTP);
    /// # let _ = layer;
    /// ```
    pub fn trust_host_header(mut self, scheme: http::uri::Scheme) -> Self {
        self.config_mut().trust_host = Some(scheme);
        self
    }

    /// Points every challenge to the resource's metadata (RFC 9728 §5.1:
    /// `resource_metadata="…"`), and makes a 401 name the metadata's
    /// `scopes_supported` (`scope="…"`, RFC 6750 §3), the scopes a client
    /// asks for first under the MCP specification's scope selection
    /// strategy (`offline_access` left out, as it asks). A route or tool
    /// that refuses a token-less request with its own scopes
    /// ([`RequireLayer`](crate::RequireLayer) behind
    /// [`allow_anonymous`](Self::allow_anonymous)) names those instead.
    ///
    /// The document itself is public: serve it at
    /// [`ResourceMetadata::paths`] outside this layer (with axum, add the
    /// routes after `.layer(..)`, or merge a router without the layer).
    /// The layer never lets a request through without a token.
    pub fn resource_metadata(mut self, metadata: &ResourceMetadata) -> Self {
        let challenges = &mut self.config_mut().challenges;
        challenges.resource_metadata = Some(metadata.url().into());
        challenges.scope = metadata.scope_hint().map(Into::into);
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

    /// Also reads the token from a header of its own, without a scheme, as
    /// identity-aware proxies send it (Google IAP's
    /// `x-goog-iap-jwt-assertion`, Cloudflare Access's
    /// `Cf-Access-Jwt-Assertion`). Refusals still answer with RFC 6750
    /// `Bearer` challenges; a request carrying the token in more than one
    /// place is refused with `invalid_request`.
    pub fn token_header(mut self, name: HeaderName) -> Self {
        self.config_mut().token_header = Some(name);
        self
    }

    /// Also reads the token from the cookie `name` (Cloudflare Access's
    /// `CF_Authorization`), as [`token_header`](Self::token_header) does
    /// from a header.
    pub fn token_cookie(mut self, name: impl Into<String>) -> Self {
        self.config_mut().token_cookie = Some(name.into());
        self
    }
}

impl<S, R: Clone> Layer<S> for BearerLayer<R> {
    type Service = Bearer<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Bearer {
            inner,
            shared: self.shared.clone(),
            render: self.render.clone(),
        }
    }
}

/// The service made by [`BearerLayer`].
#[derive(Clone, Debug)]
pub struct Bearer<S, R = EmptyBody> {
    inner: S,
    shared: Arc<Shared>,
    render: R,
}

impl<S, R> Bearer<S, R> {
    /// Checks the request's credentials; on success the claims (or the
    /// anonymous marker) are in its extensions. `Ok(Some(_))` when validation
    /// has to wait (for the network, or a DPoP proof's checks). `seen`
    /// tells how the token came, and what this layer found.
    fn authenticate<B>(
        &self,
        req: &mut Request<B>,
        seen: &mut Seen,
    ) -> Result<Option<Validation>, AuthError> {
        let shared = &*self.shared;
        let validator = &shared.validator;
        // The header's credentials are checked (UTF-8, `b64token` syntax)
        // only when the token was not verified before (below). `DPoP`
        // counts only when the validator accepts DPoP; otherwise it is a
        // scheme this layer does not know, as `Basic` is.
        let header = match credentials(req.headers())? {
            Some((Scheme::Dpop, token)) if shared.challenges.dpop_algs.is_some() => {
                seen.scheme = Scheme::Dpop;
                Some(token)
            }
            Some((Scheme::Bearer, token)) => Some(token),
            _ => None,
        };
        let query = if shared.query {
            if let Some(h) = header {
                checked_token(h)?;
            }
            query_token(req.uri())?
        } else {
            None
        };
        let headers = req.headers();
        let custom = match &shared.token_header {
            Some(name) => header_token(headers, name)?,
            None => None,
        };
        let cookie = match &shared.token_cookie {
            Some(name) => cookie_token(headers, name)?,
            None => None,
        };
        // RFC 6750 §2: one of its ways only (the header, the query). A
        // proxy's own header and its cookie may repeat the same token
        // (Cloudflare Access sends both); two different tokens are refused.
        if header.is_some() && query.is_some() {
            return Err(RequestError::MultipleTokens.into());
        }
        let other = query.as_deref().or(custom).or(cookie);
        let conflict = |t: Option<&str>| {
            t.is_some_and(|t| other.is_some_and(|o| o != t))
                || header.is_some_and(|h| t.is_some_and(|t| h != t.as_bytes()))
        };
        if conflict(custom) || conflict(cookie) {
            return Err(RequestError::MultipleTokens.into());
        }
        if seen.scheme == Scheme::Dpop
            && let Some(h) = header
        {
            return self.dpop(req, checked_token(h)?).map(Some);
        }
        let attempt = match (header, other) {
            // A valid hit is counted by the caller, with the request.
            (Some(h), _) => match validator.lookup_uncounted(h) {
                Ok(result) => {
                    seen.cached = result.is_ok();
                    Attempt::Done(result)
                }
                Err(miss) => validator.attempt_after(checked_token(h)?, miss),
            },
            (None, Some(t)) => {
                // Not in `Authorization`: shared caches would not know to
                // keep the answer private (RFC 9111 §3.5).
                seen.private = true;
                validator.attempt(t)
            }
            (None, None) if shared.anonymous => {
                req.extensions_mut().insert(Anonymous);
                return Ok(None);
            }
            (None, None) => return Err(AuthError::MissingToken),
        };
        match attempt {
            Attempt::Done(result) => {
                let claims = result?;
                // A certificate is looked up only for a token bound to one.
                let certificate = claims
                    .certificate_thumbprint()
                    .and_then(|_| req.extensions().get::<ClientCertificate>());
                validator.confirm(&claims, None, certificate.map(ClientCertificate::der))?;
                req.extensions_mut().insert(claims);
                Ok(None)
            }
            Attempt::Pending(pending) => {
                let validator = validator.clone();
                let certificate = req.extensions().get::<ClientCertificate>().cloned();
                Ok(Some(Box::pin(async move {
                    let claims = validator.finish(*pending).await?;
                    validator.confirm(
                        &claims,
                        None,
                        certificate.as_ref().map(ClientCertificate::der),
                    )?;
                    Ok(claims)
                })))
            }
        }
    }

    /// `Authorization: DPoP`: the token and its proof, checked together
    /// (the proof's signature is one more verification; the replay cache
    /// may be shared), so always through the waiting path.
    fn dpop<B>(&self, req: &Request<B>, token: &str) -> Result<Validation, AuthError> {
        let proof = dpop_proof(req.headers())
            .and_then(|p| p.ok_or(DpopError::Missing))
            .and_then(|p| self.shared.validator.precheck_proof(p).map(|()| p))
            .map_err(|e| AuthError::InvalidToken(e.into()))?
            .to_owned();
        let uri = self.request_uri(req)?;
        let method = req.method().as_str().to_owned();
        let certificate = req.extensions().get::<ClientCertificate>().cloned();
        let token = token.to_owned();
        let validator = self.shared.validator.clone();
        Ok(Box::pin(async move {
            validator
                .validate_presented(
                    &token,
                    Some(&proof),
                    &method,
                    &uri,
                    certificate.as_ref().map(ClientCertificate::der),
                )
                .await
        }))
    }

    /// The URI a DPoP proof must name, without query: the configured
    /// public URL and the request's path; with the opt-in only, the
    /// configured scheme, the `Host` header (a well-formed authority:
    /// nothing that could shift the path) and the path. Never anything the
    /// request target itself names but its path.
    fn request_uri<B>(&self, req: &Request<B>) -> Result<String, AuthError> {
        let path = req.uri().path();
        if let Some(base) = &self.shared.public_url {
            return Ok(format!("{base}{path}"));
        }
        let Some(scheme) = &self.shared.trust_host else {
            static WARNED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            // A configuration mistake: said once at warn, then at debug.
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    "DPoP requests answered 503: the layer has no public_url (nor trust_host_header) to check htu against"
                );
            } else {
                tracing::debug!("DPoP proof refused: the layer has no public_url");
            }
            return Err(AuthError::InvalidToken(DpopError::NoPublicUrl.into()));
        };
        let refused = || AuthError::InvalidToken(DpopError::Uri.into());
        let authority = req
            .headers()
            .get(HOST)
            .and_then(|h| http::uri::Authority::try_from(h.as_bytes()).ok())
            .ok_or_else(refused)?;
        if authority.as_str().contains('@') {
            return Err(refused());
        }
        Ok(format!("{scheme}://{authority}{path}"))
    }
}

impl<S, ReqBody, ResBody, R> Service<Request<ReqBody>> for Bearer<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
    R: ErrorBody<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BearerFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let grpc = is_grpc(&req);
        // Only a layer with a realm, DPoP, metadata or bodies to write, or
        // a gRPC call, needs to see its inner responses.
        let outer = (shared.challenges.renders_inner() || grpc || self.render.writes_body())
            .then(|| shared.clone());
        // The outermost layer counts the request, and marks it so that
        // the layers inside it do not count it again (a layer's claims or
        // anonymous mark would not do: a layer inside may put the other
        // one, and a middleware of the application may put either). A
        // mark on the response instead cost its extensions' map and
        // hyper's look-ups in it, ~600 instructions a request.
        #[cfg(feature = "metrics")]
        let counts = req.extensions_mut().insert(Counting).is_none();
        let mut seen = Seen {
            private: false,
            scheme: Scheme::Bearer,
            cached: false,
        };
        let outcome = self.authenticate(&mut req, &mut seen);
        let Seen {
            private,
            scheme,
            cached,
        } = seen;
        #[cfg(not(feature = "metrics"))]
        let _ = cached;
        #[cfg(feature = "metrics")]
        if cached && outcome.is_err() {
            // Refused after the hit (a binding not confirmed).
            telemetry::cache_hit("valid");
        }
        // A DPoP request learns the current nonce with every answer (RFC
        // 9449 §9), when the validator requires nonces.
        let nonce = match scheme {
            Scheme::Dpop => self.shared.validator.dpop_nonce(),
            Scheme::Bearer => None,
        };
        let anonymous = matches!(outcome, Ok(None))
            && shared.anonymous
            && req.extensions().get::<Anonymous>().is_some();
        let answer = Answer {
            scheme,
            grpc,
            anonymous,
            #[cfg(feature = "metrics")]
            counts,
            #[cfg(feature = "metrics")]
            cached: cached && outcome.is_ok(),
        };
        let outcome = outcome.map_err(|error| {
            rejection(
                error,
                &self.shared.challenges,
                &self.render,
                answer,
                nonce.as_deref(),
            )
        });
        let render = self.render.clone();
        let future = move |state| BearerFuture {
            state,
            shared: outer,
            render,
            private,
            answer,
            nonce,
        };
        match outcome {
            // The common case: the inner future written once, in place
            // (through a `state` built apart, it was copied twice more).
            Ok(None) => future(State::Inner {
                fut: self.inner.call(req),
            }),
            Ok(Some(validation)) => {
                // The inner service was made ready by poll_ready: take that
                // one along and leave a clone here (tower's clone-and-swap),
                // so the request is served by the service that is ready.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                future(State::Validating {
                    waiting: Box::new(Waiting {
                        validation,
                        request: Some(req),
                        inner: Some(inner),
                        shared: self.shared.clone(),
                    }),
                })
            }
            Err(response) => future(State::Rejected {
                response: Some(response),
            }),
        }
    }
}

type Validation = Pin<Box<dyn Future<Output = Result<Claims, ValidationError>> + Send>>;

/// A request waiting for the network (or a DPoP proof's checks), with the
/// service that will serve it. Boxed in the future's state, so that the
/// common case (a decision made at once) moves a small future around.
struct Waiting<S, ReqBody> {
    validation: Validation,
    request: Option<Request<ReqBody>>,
    inner: Option<S>,
    /// The layer's settings, to render a refusal.
    shared: Arc<Shared>,
}

pin_project! {
    /// The response future of [`Bearer`]: an RFC 6750 error response
    /// ready at once, a validation waiting for the network, or the inner
    /// service's future (whose refusals get the layer's challenges).
    pub struct BearerFuture<S, ReqBody, R = EmptyBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
        // The layer's settings, when it has a realm, DPoP, metadata or a
        // body to add to refusals from inside, or the call is gRPC.
        shared: Option<Arc<Shared>>,
        // Writes the bodies of refusals.
        render: R,
        // The token came in the URI, a cookie or a proxy's header: a success
        // is `Cache-Control: private`.
        private: bool,
        // How the request is answered.
        answer: Answer,
        // The DPoP nonce to send with the answer.
        nonce: Option<String>,
    }
    impl<S, ReqBody, R> PinnedDrop for BearerFuture<S, ReqBody, R>
    where
        S: Service<Request<ReqBody>>,
    {
        fn drop(this: Pin<&mut Self>) {
            // A cache hit left to count with an answer that never came (a
            // request dropped, the inner service failing): counted now.
            #[cfg(feature = "metrics")]
            if this.answer.cached {
                telemetry::cache_hit("valid");
            }
            #[cfg(not(feature = "metrics"))]
            let _ = this;
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Rejected { response: Option<S::Response> },
        Validating { waiting: Box<Waiting<S, ReqBody>> },
        Inner { #[pin] fut: S::Future },
    }
}

/// How a request is answered: the scheme whose challenge carries an error,
/// and whether the call is gRPC.
#[derive(Debug, Clone, Copy)]
struct Answer {
    scheme: Scheme,
    grpc: bool,
    /// Let through without a token ([`BearerLayer::allow_anonymous`]):
    /// counted apart.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    anonymous: bool,
    /// This layer counts the request: no layer around it does.
    #[cfg(feature = "metrics")]
    counts: bool,
    /// The token was a valid cache hit, counted with the answer.
    #[cfg(feature = "metrics")]
    cached: bool,
}

fn rejection<B: Default, R: ErrorBody<B>>(
    error: AuthError,
    challenges: &Challenges,
    render: &R,
    answer: Answer,
    nonce: Option<&str>,
) -> Response<B> {
    tracing::debug!(%error, status = error.status().as_u16(), "request refused");
    // Inside another layer, that one counts the refusal (by the error in
    // the response's extensions).
    #[cfg(feature = "metrics")]
    if answer.counts {
        telemetry::request("denied", error.kind());
    }
    let response = error.render::<B>(challenges, answer.scheme, nonce);
    write_body(response, render, answer.grpc)
}

/// Gives a refusal made by this crate (an [`AuthError`] in its
/// extensions, rendered with an empty body) its body, or its gRPC form.
/// Any other response passes untouched.
fn write_body<B: Default, R: ErrorBody<B>>(
    response: Response<B>,
    render: &R,
    grpc: bool,
) -> Response<B> {
    if !grpc && !render.writes_body() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Some(error) = parts
        .extensions
        .get::<AuthError>()
        .filter(|_| parts.extensions.get::<Rendered>().is_some())
    else {
        return Response::from_parts(parts, body);
    };
    if grpc {
        let mut response = Response::from_parts(parts, B::default());
        if let Some(error) = response.extensions().get::<AuthError>().cloned() {
            grpc_refusal(&mut response, &error);
        }
        return response;
    }
    // The challenges and the nonce are RFC 6750's and RFC 9449's: kept
    // whatever the renderer does; the old body's length goes.
    let challenges: Vec<HeaderValue> = parts
        .headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .cloned()
        .collect();
    let nonce = parts.headers.get(DPOP_NONCE).cloned();
    parts.headers.remove(CONTENT_LENGTH);
    let body = render.body(error, &mut parts.headers);
    parts.headers.remove(WWW_AUTHENTICATE);
    for value in challenges {
        parts.headers.append(WWW_AUTHENTICATE, value);
    }
    match nonce {
        Some(nonce) => parts.headers.insert(DPOP_NONCE, nonce),
        None => parts.headers.remove(DPOP_NONCE),
    };
    Response::from_parts(parts, body)
}

/// What [`Bearer::authenticate`] learnt besides its outcome.
struct Seen {
    /// The token came another way than the `Authorization` header.
    private: bool,
    /// The scheme the request used.
    scheme: Scheme,
    /// A valid token from the cache, whose hit the caller counts.
    cached: bool,
}

/// Marks a request that a layer counts (the outermost), so that the
/// layers inside it do not count it again.
#[cfg(feature = "metrics")]
#[derive(Debug, Clone, Copy)]
struct Counting;

impl<S, ReqBody, ResBody, R> Future for BearerFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
    R: ErrorBody<ResBody>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut state = this.state;
        loop {
            match state.as_mut().project() {
                // Polled again after completion, the future stays pending,
                // like `futures::future::Fuse`, rather than panicking.
                StateProj::Rejected { response } => {
                    return response
                        .take()
                        .map_or(Poll::Pending, |r| Poll::Ready(Ok(r)));
                }
                StateProj::Validating { waiting } => {
                    let result = std::task::ready!(waiting.validation.as_mut().poll(cx));
                    let (Some(mut req), Some(mut svc)) =
                        (waiting.request.take(), waiting.inner.take())
                    else {
                        return Poll::Pending;
                    };
                    match result {
                        Ok(claims) => {
                            req.extensions_mut().insert(claims);
                            let fut = svc.call(req);
                            state.set(State::Inner { fut });
                        }
                        Err(error) => {
                            let challenges = &waiting.shared.challenges;
                            return Poll::Ready(Ok(rejection(
                                error.into(),
                                challenges,
                                this.render,
                                *this.answer,
                                this.nonce.as_deref(),
                            )));
                        }
                    }
                }
                StateProj::Inner { fut } => {
                    // An error: no answer to count (the hit is counted
                    // when the future is dropped).
                    let mut response = std::task::ready!(fut.poll(cx))?;
                    // A refusal from inside (a `RequireLayer`, an inner
                    // layer) is known by the error in its extensions.
                    let refused = response.extensions().get::<AuthError>();
                    #[cfg(feature = "metrics")]
                    {
                        let Answer {
                            counts,
                            cached,
                            anonymous,
                            ..
                        } = *this.answer;
                        let error = refused;
                        this.answer.cached = false;
                        if counts && cached && error.is_none() {
                            // The common case: all three counts at once.
                            telemetry::request_allowed_cached();
                        } else {
                            match error {
                                _ if !counts => {}
                                Some(error) => telemetry::request("denied", error.kind()),
                                None if anonymous => telemetry::request("anonymous", "ok"),
                                None => telemetry::request("allowed", "ok"),
                            }
                            if cached {
                                telemetry::cache_hit("valid");
                            }
                        }
                    }
                    // Only a refusal gets the layer's challenges and body
                    // (both look for the error first; a success skips the
                    // look-ups and two moves of the response).
                    if refused.is_some()
                        && let Some(shared) = this.shared.as_deref()
                    {
                        apply_challenges(&mut response, &shared.challenges, this.answer.scheme);
                        response = write_body(response, this.render, this.answer.grpc);
                    }
                    // RFC 6750 §2.3: a success answered to a token sent in
                    // the URI SHOULD be `Cache-Control: private`; so is one
                    // sent in a cookie or another header, which shared caches
                    // do not treat as credentials (RFC 9111 §3.5).
                    if *this.private && response.status().is_success() {
                        make_private(response.headers_mut());
                    }
                    if let Some(nonce) = this
                        .nonce
                        .as_deref()
                        .and_then(|n| HeaderValue::from_str(n).ok())
                    {
                        response.headers_mut().insert(DPOP_NONCE, nonce);
                    }
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

/// Makes a response private to its user: `Cache-Control: private`, added to
/// the handler's own directives unless they already say `private` or
/// `no-store`.
fn make_private(headers: &mut http::HeaderMap) {
    let existing: Vec<String> = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let already = existing.iter().flat_map(|v| v.split(',')).any(|d| {
        let d = d.trim();
        let name = d.split('=').next().unwrap_or(d).trim();
        name.eq_ignore_ascii_case("private") || name.eq_ignore_ascii_case("no-store")
    });
    if already {
        return;
    }
    let value = if existing.is_empty() {
        HeaderValue::from_static("private")
    } else {
        match HeaderValue::try_from(format!("{}, private", existing.join(", "))) {
            Ok(v) => v,
            // Directives that are not text: replace them, privately.
            Err(_) => HeaderValue::from_static("private"),
        }
    };
    headers.insert(CACHE_CONTROL, value);
}
