//! How refusals answer over HTTP (RFC 6750 §3): [`AuthError`], everything a
//! protected route can answer with, rendered with its status and
//! `WWW-Authenticate` challenge; [`RequestError`], credentials sent wrongly.
//!
//! The short `error_description` sent to clients is a fixed string per error
//! kind, so nothing an attacker puts in a token is ever echoed back.

use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode, header};

use crate::validator::{BuildError, ValidationError};

/// How the request carried its credentials wrongly (RFC 6750 `invalid_request`, 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    MultipleAuthorizationHeaders,
    /// `Authorization: Bearer` whose credentials are not one `b64token`
    /// (RFC 6750 §2.1), for example empty, with a tab or a comma.
    #[error("malformed Bearer credentials")]
    MalformedBearer,
    /// The token came in more than one way (header and query, or the query
    /// parameter twice): RFC 6750 §2 allows exactly one.
    #[error("the access token was sent more than once")]
    MultipleTokens,
    /// A token in the configured token header or cookie that is not one
    /// `b64token` (a JWT or an opaque token).
    #[error("malformed token in the configured header or cookie")]
    MalformedToken,
}

impl RequestError {
    /// The short `error_description` sent to the client.
    pub fn description(&self) -> &'static str {
        match self {
            RequestError::MultipleAuthorizationHeaders => {
                "The request has more than one Authorization header"
            }
            RequestError::MalformedBearer => "The Bearer credentials are malformed",
            RequestError::MultipleTokens => "The request carries more than one access token",
            RequestError::MalformedToken => "The access token in the request is malformed",
        }
    }
}

/// Everything a protected route can refuse a request with.
///
/// [`into_http_response`](Self::into_http_response) renders it exactly as
/// RFC 6750 §3 prescribes:
///
/// | variant | status | `WWW-Authenticate` |
/// |---|---|---|
/// | [`MissingToken`](Self::MissingToken) | 401 | `Bearer realm="…"` (no error code, §3.1) |
/// | [`InvalidRequest`](Self::InvalidRequest) | 400 | `Bearer realm="…", error="invalid_request", error_description="…"` |
/// | [`InvalidToken`](Self::InvalidToken) | 401 | `Bearer realm="…", error="invalid_token", error_description="…"` |
/// | [`InsufficientScope`](Self::InsufficientScope) | 403 | `Bearer realm="…", error="insufficient_scope", error_description="…", scope="…"` |
/// | [`Unavailable`](Self::Unavailable) | 503 | none (the token could not be checked; it was not refused) |
///
/// The `realm` attribute is present only when a realm is configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token: no `Authorization` header, or one with another scheme.
    #[error("no bearer token in the request")]
    MissingToken,
    /// The credentials are malformed.
    #[error(transparent)]
    InvalidRequest(#[from] RequestError),
    /// The token was refused.
    #[error(transparent)]
    InvalidToken(ValidationError),
    /// The token is valid but lacks the scope the route needs.
    #[error("the token lacks the required scope `{required}`")]
    InsufficientScope {
        /// The scope the route needs, space-separated (RFC 6749 §3.3).
        required: String,
    },
    /// The token could not be checked (for example, no key set yet).
    #[error(transparent)]
    Unavailable(ValidationError),
    /// The token is valid but the user's authentication is not strong or
    /// recent enough for this request (RFC 9470 step-up): 401
    /// `insufficient_user_authentication` with the `acr_values` and
    /// `max_age` the route needs, so that the client can send the user to
    /// log in again.
    #[error("the user's authentication does not meet the route's requirement")]
    InsufficientUserAuthentication {
        /// Acceptable authentication context classes, space-separated.
        acr_values: Option<String>,
        /// The longest time since the user's login, in seconds.
        max_age: Option<u64>,
    },
    /// The token is valid but does not grant this request: a role,
    /// permission or claim predicate the route needs is not met. A plain 403:
    /// RFC 6750's `insufficient_scope` is for scopes.
    #[error("the token does not grant this request ({requirement})")]
    Forbidden {
        /// What was not met, for logs (not sent to the client).
        requirement: String,
    },
}

impl From<ValidationError> for AuthError {
    fn from(e: ValidationError) -> Self {
        if e.is_unavailable() {
            AuthError::Unavailable(e)
        } else {
            AuthError::InvalidToken(e)
        }
    }
}

impl AuthError {
    /// A short, stable name for the refusal, for metrics labels and log
    /// fields: `missing_token`, `invalid_request`, the
    /// [`ValidationError::kind`] of a refused token (`expired`,
    /// `invalid_audience`, …), `insufficient_scope`, `forbidden`,
    /// `insufficient_user_authentication` or `unavailable`.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::InvalidRequest(_) => "invalid_request",
            AuthError::InvalidToken(e) => e.kind(),
            AuthError::InsufficientScope { .. } => "insufficient_scope",
            AuthError::Unavailable(_) => "unavailable",
            AuthError::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            AuthError::Forbidden { .. } => "forbidden",
        }
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken | AuthError::InsufficientUserAuthentication { .. } => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InvalidToken(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AuthError::InsufficientScope { .. } | AuthError::Forbidden { .. } => {
                StatusCode::FORBIDDEN
            }
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code, if this error has one (`MissingToken` has none, §3.1).
    pub fn error_code(&self) -> Option<&'static str> {
        if self.is_unavailable() {
            return None;
        }
        match self {
            AuthError::MissingToken | AuthError::Unavailable(_) | AuthError::Forbidden { .. } => {
                None
            }
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(ValidationError::Dpop(e)) => Some(e.error_code()),
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientUserAuthentication { .. } => {
                Some("insufficient_user_authentication")
            }
            AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
        }
    }

    /// A short, fixed text for every refusal, for a body of your own (what
    /// [`ProblemJson`](crate::response::ProblemJson) writes as `detail`): the
    /// [`description`](Self::description) where the challenge carries one,
    /// else a text for a missing token or a token that could not be
    /// checked. Nothing from the token. With [`kind`](Self::kind), the
    /// stable code, a custom body never holds `null`.
    ///
    /// ```
    /// use bearer_guard::AuthError;
    /// assert_eq!(AuthError::MissingToken.kind(), "missing_token");
    /// assert_eq!(AuthError::MissingToken.message(), "The request carries no access token");
    /// ```
    pub fn message(&self) -> &'static str {
        self.description().unwrap_or(match self {
            AuthError::MissingToken => "The request carries no access token",
            _ => "The access token could not be checked; try again later",
        })
    }

    /// The short, fixed `error_description` sent to the client.
    pub fn description(&self) -> Option<&'static str> {
        if self.is_unavailable() {
            return None;
        }
        match self {
            AuthError::MissingToken | AuthError::Unavailable(_) => None,
            AuthError::InvalidRequest(e) => Some(e.description()),
            AuthError::InvalidToken(e) => Some(e.description()),
            AuthError::InsufficientScope { .. } => {
                Some("The access token lacks the scope this request needs")
            }
            AuthError::Forbidden { .. } => Some("The access token does not grant this request"),
            AuthError::InsufficientUserAuthentication { .. } => {
                Some("A different authentication level is required")
            }
        }
    }

    /// The gRPC status code the layer answers a gRPC call with: 16
    /// `UNAUTHENTICATED` (no token, a malformed or refused one, a step-up),
    /// 7 `PERMISSION_DENIED` (a scope, role or predicate not met) or 14
    /// `UNAVAILABLE` (the token could not be checked). For a `tonic::Status`
    /// built in a handler: `tonic::Code::from(error.grpc_code())`; see
    /// [`guide::tonic`](crate::guide::tonic).
    pub fn grpc_code(&self) -> i32 {
        // gRPC status codes (grpc/doc/statuscodes.md).
        const UNAUTHENTICATED: i32 = 16;
        const PERMISSION_DENIED: i32 = 7;
        const UNAVAILABLE: i32 = 14;
        match self.status() {
            StatusCode::FORBIDDEN => PERMISSION_DENIED,
            StatusCode::SERVICE_UNAVAILABLE => UNAVAILABLE,
            _ => UNAUTHENTICATED,
        }
    }

    /// The gRPC status message (before gRPC's percent-encoding): `error:
    /// description` as in the challenge (`invalid_token: The access token
    /// expired`), or a fixed sentence for a refusal without an error code.
    /// Nothing from the token.
    pub fn grpc_message(&self) -> String {
        match (self.error_code(), self.description()) {
            (Some(code), Some(desc)) => format!("{code}: {desc}"),
            (None, Some(desc)) => desc.to_owned(),
            (Some(code), None) => code.to_owned(),
            (None, None) => match self {
                AuthError::MissingToken => "no access token".to_owned(),
                _ => "the access token could not be checked".to_owned(),
            },
        }
    }

    /// The `WWW-Authenticate` challenge the layer sends with this error, if
    /// it sends one: none for a refused role or predicate
    /// ([`Forbidden`](Self::Forbidden), a plain 403) or when the token could
    /// not be checked (503).
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        self.has_challenge().then(|| self.www_authenticate(realm))
    }

    /// The `WWW-Authenticate` challenge for this error, with `realm` if
    /// given, whether or not the layer sends one for it.
    pub(crate) fn www_authenticate(&self, realm: Option<&str>) -> HeaderValue {
        let mut params = Vec::with_capacity(4);
        if let Some(realm) = realm {
            params.push(("realm", realm.to_owned()));
        }
        self.error_params(&mut params);
        challenge_for("Bearer", &params)
    }

    /// The error's own attributes: `error`, `error_description`, and the
    /// `scope`, `acr_values` or `max_age` it asks for.
    fn error_params(&self, params: &mut Vec<(&'static str, String)>) {
        if let Some(code) = self.error_code() {
            params.push(("error", code.to_owned()));
        }
        if let Some(desc) = self.description() {
            params.push(("error_description", desc.to_owned()));
        }
        match self {
            AuthError::InsufficientScope { required } => params.push(("scope", required.clone())),
            AuthError::InsufficientUserAuthentication {
                acr_values,
                max_age,
            } => {
                if let Some(acr) = acr_values {
                    params.push(("acr_values", acr.clone()));
                }
                if let Some(age) = max_age {
                    params.push(("max_age", age.to_string()));
                }
            }
            _ => {}
        }
    }

    /// The scheme whose challenge carries the error: DPoP for a refused
    /// proof, for a validator that requires DPoP, and for any refusal of a
    /// request made with the DPoP scheme (RFC 9449 §7.1); `Bearer`
    /// otherwise.
    fn error_scheme(&self, request: Scheme) -> Scheme {
        match self {
            AuthError::InvalidToken(ValidationError::Dpop(_) | ValidationError::DpopRequired) => {
                Scheme::Dpop
            }
            _ => request,
        }
    }

    /// The `WWW-Authenticate` values for this error under `config`: one
    /// challenge per scheme the resource accepts (RFC 9449 §7.1: both when
    /// both are accepted), the error's attributes on the scheme the
    /// request used (or the proof failed), `algs` on DPoP's, and
    /// `resource_metadata` (RFC 9728 §5.1) on each.
    pub(crate) fn challenges(&self, config: &Challenges, request: Scheme) -> Vec<HeaderValue> {
        let mut out = Vec::with_capacity(2);
        let mut on = self.error_scheme(request);
        if on == Scheme::Dpop && config.dpop_algs.is_none() {
            on = Scheme::Bearer;
        }
        if on == Scheme::Bearer && !config.bearer && config.dpop_algs.is_some() {
            on = Scheme::Dpop;
        }
        let schemes = [
            (Scheme::Bearer, config.bearer || config.dpop_algs.is_none()),
            (Scheme::Dpop, config.dpop_algs.is_some()),
        ];
        for (scheme, enabled) in schemes {
            if !enabled {
                continue;
            }
            let mut params: Vec<(&'static str, String)> = Vec::with_capacity(6);
            if let Some(realm) = &config.realm {
                params.push(("realm", realm.to_string()));
            }
            if scheme == on {
                self.error_params(&mut params);
                if let Some(scope) = config.scope.as_deref().filter(|_| self.hints_scope()) {
                    params.push(("scope", scope.to_owned()));
                }
            }
            if scheme == Scheme::Dpop
                && let Some(algs) = &config.dpop_algs
            {
                params.push(("algs", algs.clone()));
            }
            if let Some(url) = &config.resource_metadata {
                params.push(("resource_metadata", url.to_string()));
            }
            let name = match scheme {
                Scheme::Bearer => "Bearer",
                Scheme::Dpop => "DPoP",
            };
            out.push(challenge_for(name, &params));
        }
        out
    }

    /// Renders the error under a layer's `config` for a request made with
    /// `scheme`; `nonce` goes in a `DPoP-Nonce` header (RFC 9449 §9).
    pub(crate) fn render<B: Default>(
        self,
        config: &Challenges,
        scheme: Scheme,
        nonce: Option<&str>,
    ) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = self.status();
        if self.has_challenge() {
            let headers = response.headers_mut();
            for value in self.challenges(config, scheme) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
        if let Some(nonce) = nonce.and_then(|n| HeaderValue::from_str(n).ok()) {
            response.headers_mut().insert(DPOP_NONCE, nonce);
        }
        response.extensions_mut().insert(Rendered {
            realm: config.realm.clone(),
            scope: None,
        });
        response.extensions_mut().insert(self);
        response
    }

    /// Renders the error as a response with an empty body, the status and the
    /// `WWW-Authenticate` header (none for [`Unavailable`](Self::Unavailable):
    /// the client did nothing wrong and a challenge would invite it to
    /// discard a good token). The error itself goes in the response
    /// extensions, so that a tower `map_response` can render its own body,
    /// and so that an enclosing [`BearerLayer`](crate::BearerLayer) can add
    /// its realm (when `realm` is `None`, an error returned by a handler),
    /// its DPoP challenge and its `resource_metadata`.
    pub fn into_http_response<B: Default>(self, realm: Option<&str>) -> Response<B> {
        self.into_hinted_response(realm.map(Arc::from), None)
    }

    /// [`into_http_response`](Self::into_http_response) from a route or
    /// tool that needs `scope`: a 401 names it (`scope="…"`), here and
    /// when an enclosing layer renders the challenges again.
    pub(crate) fn into_hinted_response<B: Default>(
        self,
        realm: Option<Arc<str>>,
        scope: Option<Arc<str>>,
    ) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = self.status();
        if self.has_challenge() {
            let config = Challenges {
                realm: realm.clone(),
                bearer: true,
                dpop_algs: None,
                resource_metadata: None,
                scope: scope.clone(),
            };
            if let Some(value) = self.challenges(&config, Scheme::Bearer).pop() {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response.extensions_mut().insert(Rendered { realm, scope });
        response.extensions_mut().insert(self);
        response
    }

    /// Whether a 401 for this error names the scopes to ask for: a missing
    /// or refused token (not a step-up of the user's authentication, which
    /// names its own attributes).
    fn hints_scope(&self) -> bool {
        matches!(self, AuthError::MissingToken | AuthError::InvalidToken(_))
    }

    /// Whether the response carries a challenge (all but 503).
    fn has_challenge(&self) -> bool {
        !self.is_unavailable() && !matches!(self, AuthError::Forbidden { .. })
    }

    /// Whether the token could not be checked (503), however the error was
    /// built.
    fn is_unavailable(&self) -> bool {
        match self {
            AuthError::Unavailable(_) => true,
            AuthError::InvalidToken(e) => e.is_unavailable(),
            _ => false,
        }
    }
}

/// The realm a rendered [`AuthError`] response was given, if any: an
/// enclosing layer keeps it when it renders the challenges again.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    realm: Option<Arc<str>>,
    /// The scopes the refusing route or tool needs, for the `scope` hint
    /// of a 401 (MCP's scope selection strategy); wins over the layer's.
    scope: Option<Arc<str>>,
}

/// The `DPoP-Nonce` response header (RFC 9449 §8.1).
pub(crate) const DPOP_NONCE: header::HeaderName = header::HeaderName::from_static("dpop-nonce");

/// The request's authorization scheme, which decides the challenge that
/// carries an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Scheme {
    /// `Bearer`, or a token from the query, a header or a cookie.
    #[default]
    Bearer,
    /// `DPoP` (RFC 9449 §7.1).
    Dpop,
}

/// How a layer's challenges look.
#[derive(Debug, Clone, Default)]
pub(crate) struct Challenges {
    pub(crate) realm: Option<Arc<str>>,
    /// Whether `Bearer` is accepted (not when DPoP is required).
    pub(crate) bearer: bool,
    /// The DPoP proof algorithms, space-separated, when DPoP is accepted.
    pub(crate) dpop_algs: Option<String>,
    /// The URL of the resource's metadata (RFC 9728 §5.1).
    pub(crate) resource_metadata: Option<Arc<str>>,
    /// The `scope` a 401 names (RFC 6750 §3; the MCP specification's scope
    /// selection strategy): the resource's `scopes_supported`, or what the
    /// refusing route needs.
    pub(crate) scope: Option<Arc<str>>,
}

impl Challenges {
    /// Whether a refusal rendered inside the layer (a requirement, a
    /// handler) must be rendered again with this configuration.
    pub(crate) fn renders_inner(&self) -> bool {
        self.realm.is_some()
            || self.dpop_algs.is_some()
            || self.resource_metadata.is_some()
            || self.scope.is_some()
    }
}

/// Renders the challenges of a response made from an [`AuthError`] inside
/// the layer (a requirement, a handler) with the layer's `config` and the
/// request's `scheme`, so that every challenge behind a
/// [`BearerLayer`](crate::BearerLayer) names its realm, offers its schemes
/// and points to its metadata. A realm set inside is kept.
pub(crate) fn apply_challenges<B>(response: &mut Response<B>, config: &Challenges, scheme: Scheme) {
    let extensions = response.extensions();
    let Some(error) = extensions.get::<AuthError>() else {
        return;
    };
    if !error.has_challenge() {
        return;
    }
    let rendered = extensions.get::<Rendered>();
    let inner_realm = rendered.and_then(|r| r.realm.clone());
    let inner_scope = rendered.and_then(|r| r.scope.clone());
    let values = if inner_realm.is_some() || inner_scope.is_some() {
        let config = Challenges {
            realm: inner_realm.or_else(|| config.realm.clone()),
            scope: inner_scope.or_else(|| config.scope.clone()),
            ..config.clone()
        };
        error.challenges(&config, scheme)
    } else {
        error.challenges(config, scheme)
    };
    let headers = response.headers_mut();
    headers.remove(header::WWW_AUTHENTICATE);
    for value in values {
        headers.append(header::WWW_AUTHENTICATE, value);
    }
}

/// Checks a realm: no control characters.
pub(crate) fn check_realm(realm: String) -> Result<std::sync::Arc<str>, BuildError> {
    if realm.chars().any(char::is_control) {
        Err(BuildError::InvalidRealm(realm))
    } else {
        Ok(realm.into())
    }
}

/// Builds `Bearer k="v", k2="v2"`, escaping `"` and `\` in values as a
/// quoted-string requires (RFC 9110 §5.6.4). Control characters (which cannot
/// appear in a header) are dropped; the values reaching here are fixed strings,
/// validated scopes, and realms checked when configured.
pub(crate) fn challenge_for(scheme: &'static str, params: &[(&str, String)]) -> HeaderValue {
    let mut out = String::from(scheme);
    for (i, (name, value)) in params.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
        out.push('"');
    }
    // Every byte pushed is visible ASCII, a space, or UTF-8 from a realm
    // (obs-text, allowed in field values by RFC 9110 §5.5): this cannot fail.
    HeaderValue::from_bytes(out.as_bytes()).unwrap_or_else(|_| HeaderValue::from_static(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_and_messages_follow_the_http_refusal() {
        let cases = [
            (AuthError::MissingToken, 16, "no access token".to_owned()),
            (
                AuthError::InvalidToken(ValidationError::Expired),
                16,
                "invalid_token: The access token expired".to_owned(),
            ),
            (
                AuthError::InsufficientScope {
                    required: "refund".into(),
                },
                7,
                "insufficient_scope: The access token lacks the scope this request needs"
                    .to_owned(),
            ),
            (
                AuthError::Forbidden {
                    requirement: "role admin".into(),
                },
                7,
                "The access token does not grant this request".to_owned(),
            ),
            (
                AuthError::Unavailable(ValidationError::KeysUnavailable),
                14,
                "the access token could not be checked".to_owned(),
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.grpc_code(), code, "{error:?}");
            assert_eq!(error.grpc_message(), message, "{error:?}");
            // A challenge exactly where the layer sends one.
            assert_eq!(
                error.challenge(None).is_some(),
                !matches!(
                    error,
                    AuthError::Forbidden { .. } | AuthError::Unavailable(_)
                ),
                "{error:?}"
            );
        }
    }

    #[test]
    fn missing_token_challenge_has_realm_and_no_error_code() {
        let v = AuthError::MissingToken.www_authenticate(Some("payments"));
        assert_eq!(v, "Bearer realm=\"payments\"");
        assert_eq!(AuthError::MissingToken.www_authenticate(None), "Bearer");
    }

    #[test]
    fn invalid_token_challenge_lists_params_in_order() {
        let v = AuthError::InvalidToken(ValidationError::Expired).www_authenticate(Some("api"));
        assert_eq!(
            v,
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token expired\""
        );
    }

    #[test]
    fn insufficient_scope_challenge_carries_scope() {
        let e = AuthError::InsufficientScope {
            required: "charge:customer refund".into(),
        };
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            e.www_authenticate(None),
            "Bearer error=\"insufficient_scope\", error_description=\"The access token lacks the scope this request needs\", scope=\"charge:customer refund\""
        );
    }

    #[test]
    fn realm_quotes_and_backslashes_are_escaped() {
        let v = AuthError::MissingToken.www_authenticate(Some(r#"a "quoted" \ realm"#));
        assert_eq!(v, r#"Bearer realm="a \"quoted\" \\ realm""#);
    }

    #[test]
    fn a_non_ascii_realm_keeps_the_whole_challenge() {
        let v = AuthError::InvalidToken(ValidationError::Expired).www_authenticate(Some("pagos é"));
        assert_eq!(
            v.as_bytes(),
            "Bearer realm=\"pagos é\", error=\"invalid_token\", error_description=\"The access token expired\"".as_bytes()
        );
    }

    #[test]
    fn an_unrealmed_error_response_takes_the_layers_realm_once() {
        let api = Challenges {
            realm: Some("api".into()),
            bearer: true,
            ..Challenges::default()
        };
        let mut r: Response<()> =
            AuthError::InvalidToken(ValidationError::Expired).into_http_response(None);
        apply_challenges(&mut r, &api, Scheme::Bearer);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token expired\""
        );
        let mut r: Response<()> = AuthError::MissingToken.into_http_response(Some("scope-realm"));
        apply_challenges(&mut r, &api, Scheme::Bearer);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"scope-realm\""
        );
        let mut r: Response<()> = Response::new(());
        apply_challenges(&mut r, &api, Scheme::Bearer);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn an_unavailable_error_has_no_challenge_however_it_was_built() {
        for e in [
            AuthError::InvalidToken(ValidationError::KeysUnavailable),
            AuthError::Unavailable(ValidationError::KeysUnavailable),
            AuthError::from(ValidationError::KeysUnavailable),
        ] {
            let r: Response<()> = e.clone().into_http_response(Some("api"));
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{e:?}");
            assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none(), "{e:?}");
            assert_eq!((e.error_code(), e.description()), (None, None));
        }
    }

    #[test]
    fn realms_with_control_characters_are_refused() {
        assert!(check_realm("pagos é".into()).is_ok());
        assert!(
            matches!(check_realm("a\nb".into()), Err(BuildError::InvalidRealm(r)) if r == "a\nb")
        );
    }

    #[test]
    fn invalid_request_is_400() {
        let e = AuthError::from(RequestError::MultipleAuthorizationHeaders);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.error_code(), Some("invalid_request"));
    }
}
