//! How refusals answer over HTTP (RFC 6750 §3): [`AuthError`], everything a
//! protected route can answer with, rendered with its status and
//! `WWW-Authenticate` challenge; [`RequestError`], credentials sent wrongly.
//!
//! The short `error_description` sent to clients is a fixed string per error
//! kind, so nothing an attacker puts in a token is ever echoed back.

use http::{HeaderValue, Response, StatusCode, header};

use crate::validator::ValidationError;

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
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken => StatusCode::UNAUTHORIZED,
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
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
        }
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
        }
    }

    /// The `WWW-Authenticate` challenge for this error, with `realm` if given.
    pub fn www_authenticate(&self, realm: Option<&str>) -> HeaderValue {
        let mut params = Vec::with_capacity(4);
        if let Some(realm) = realm {
            params.push(("realm", realm));
        }
        if let Some(code) = self.error_code() {
            params.push(("error", code));
        }
        if let Some(desc) = self.description() {
            params.push(("error_description", desc));
        }
        if let AuthError::InsufficientScope { required } = self {
            params.push(("scope", required.as_str()));
        }
        challenge(&params)
    }

    /// Renders the error as a response with an empty body, the status and the
    /// `WWW-Authenticate` header (none for [`Unavailable`](Self::Unavailable):
    /// the client did nothing wrong and a challenge would invite it to
    /// discard a good token). The error itself goes in the response
    /// extensions, so that a tower `map_response` can render its own body,
    /// and so that an enclosing [`BearerLayer`](crate::BearerLayer) can add
    /// its realm when `realm` is `None` (an error returned by a handler).
    pub fn into_http_response<B: Default>(self, realm: Option<&str>) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = self.status();
        if self.has_challenge() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, self.www_authenticate(realm));
        }
        if realm.is_some() {
            response.extensions_mut().insert(RealmApplied);
        }
        response.extensions_mut().insert(self);
        response
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

/// Marks a rendered [`AuthError`] response whose challenge already names a
/// realm.
#[derive(Debug, Clone, Copy)]
struct RealmApplied;

/// Adds `realm` to the challenge of a response rendered from an
/// [`AuthError`] without one (an error a handler returned), so that every
/// challenge behind a [`BearerLayer`](crate::BearerLayer) names its realm.
pub(crate) fn apply_realm<B>(response: &mut Response<B>, realm: &str) {
    let extensions = response.extensions();
    let Some(error) = extensions.get::<AuthError>() else {
        return;
    };
    if extensions.get::<RealmApplied>().is_some() || !error.has_challenge() {
        return;
    }
    let challenge = error.www_authenticate(Some(realm));
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    response.extensions_mut().insert(RealmApplied);
}

/// A realm that cannot be sent in a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the realm {0:?} contains control characters, which no HTTP header can carry")]
pub struct InvalidRealm(pub String);

/// Checks a realm: no control characters.
pub(crate) fn check_realm(realm: String) -> Result<std::sync::Arc<str>, InvalidRealm> {
    if realm.chars().any(char::is_control) {
        Err(InvalidRealm(realm))
    } else {
        Ok(realm.into())
    }
}

/// Builds `Bearer k="v", k2="v2"`, escaping `"` and `\` in values as a
/// quoted-string requires (RFC 9110 §5.6.4). Control characters (which cannot
/// appear in a header) are dropped; the values reaching here are fixed strings,
/// validated scopes, and realms checked when configured.
pub(crate) fn challenge(params: &[(&str, &str)]) -> HeaderValue {
    let mut out = String::from("Bearer");
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
    HeaderValue::from_bytes(out.as_bytes()).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut r: Response<()> =
            AuthError::InvalidToken(ValidationError::Expired).into_http_response(None);
        apply_realm(&mut r, "api");
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token expired\""
        );
        let mut r: Response<()> = AuthError::MissingToken.into_http_response(Some("scope-realm"));
        apply_realm(&mut r, "api");
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"scope-realm\""
        );
        let mut r: Response<()> = Response::new(());
        apply_realm(&mut r, "api");
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
        assert_eq!(check_realm("a\nb".into()), Err(InvalidRealm("a\nb".into())));
    }

    #[test]
    fn invalid_request_is_400() {
        let e = AuthError::from(RequestError::MultipleAuthorizationHeaders);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.error_code(), Some("invalid_request"));
    }
}
