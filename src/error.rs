//! Errors, and how each one is answered over HTTP (RFC 6750 §3).
//!
//! Three layers of error:
//!
//! - [`ValidationError`]: what [`Validator::validate`](crate::Validator::validate)
//!   found wrong with a token (one variant per check), or why it could not check it.
//! - [`RequestError`]: the request carried its credentials in a malformed way
//!   (RFC 6750 `invalid_request`).
//! - [`AuthError`]: everything a protected route can answer with, mapped to the
//!   status code and `WWW-Authenticate` challenge that RFC 6750 §3 prescribes.
//!
//! Error messages never contain the token or any part of it. The short
//! `error_description` sent to clients is a fixed string per error kind, so
//! nothing an attacker puts in a token is ever echoed back.

use http::{HeaderValue, Response, StatusCode, header};

use crate::keys::{Algorithm, JwksError, KeyError};

/// Why a token was refused (or could not be checked).
///
/// Each check of [`Validator::validate`](crate::Validator::validate) has its own
/// variant, so callers and logs can tell exactly which one failed. The
/// `Display` text is meant for logs; [`description`](Self::description) is the
/// short, fixed text that may be sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The token is longer than the configured limit; it was not decoded.
    #[error("token is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Length of the token in bytes.
        len: usize,
        /// The configured limit ([`ValidatorBuilder::max_token_size`](crate::ValidatorBuilder::max_token_size)).
        limit: usize,
    },
    /// The token is not a well-formed compact JWS.
    #[error("malformed token: {0}")]
    Malformed(Malformed),
    /// The header's `alg` is not an algorithm this crate implements (this
    /// includes `none`, which is never accepted).
    #[error("unsupported signature algorithm (`none` and unknown algorithms are never accepted)")]
    UnsupportedAlgorithm,
    /// The header's `alg` is implemented but not on the validator's allow-list.
    #[error("algorithm {0} is not allowed by this validator")]
    AlgorithmNotAllowed(Algorithm),
    /// The header lists a `crit` extension this crate does not understand, or
    /// uses `b64: false` (RFC 7797), which it does not support.
    #[error("the token header requires an extension this validator does not understand")]
    UnsupportedCritical,
    /// The header's `typ` is not allowed by the validator's [`TypPolicy`](crate::TypPolicy).
    #[error("token type (`typ` header) is not allowed")]
    TypeNotAllowed,
    /// The header has no `kid` and more than one configured key could verify
    /// its `alg`.
    #[error("token has no `kid` and several keys could verify it")]
    MissingKeyId,
    /// No configured key has the token's `kid`.
    #[error("no key with the token's `kid`")]
    UnknownKeyId,
    /// A key was found (by `kid`, or the only candidate without one) but it may
    /// not verify the header's `alg` (for example an RSA key and `alg: HS256`).
    #[error("the selected key may not verify algorithm {0}")]
    KeyAlgorithmMismatch(Algorithm),
    /// No key at all can verify the header's `alg`.
    #[error("no key can verify algorithm {0}")]
    NoKeyForAlgorithm(Algorithm),
    /// The signature does not verify.
    #[error("signature does not verify")]
    InvalidSignature,
    /// A required claim is absent (or `null`).
    #[error("required claim `{0}` is missing")]
    MissingClaim(String),
    /// A claim has the wrong JSON type or an impossible value.
    #[error("claim `{0}` has an invalid value")]
    InvalidClaim(&'static str),
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid yet (`nbf`)")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token was issued in the future (`iat`)")]
    IssuedInFuture,
    /// `iss` is not one of the configured issuers.
    #[error("token issuer is not accepted")]
    InvalidIssuer,
    /// `aud` contains none of the configured audiences.
    #[error("token audience is not accepted")]
    InvalidAudience,
    /// The token carries a confirmation (`cnf`) binding it to a key (DPoP,
    /// mutual TLS): presented with the `Bearer` scheme it must be refused
    /// (RFC 9449 §7.2).
    #[error("a sender-constrained token (cnf) was presented as a bearer token")]
    SenderConstrained,
    /// The introspection endpoint says the token is not active (revoked,
    /// expired, or never issued).
    #[error("token is not active (introspection)")]
    Inactive,
    /// The token could not be checked by introspection: HTTP 503.
    #[cfg(feature = "remote")]
    #[error("introspection unavailable: {0}")]
    IntrospectionUnavailable(crate::introspection::IntrospectionError),
    /// The token could not be checked: no usable key set (the authorization
    /// server has not been reached yet, or the last good keys are older than
    /// the maximum stale age). Not the token's fault: HTTP 503.
    #[error("no usable key set: the authorization server's keys are unavailable")]
    KeysUnavailable,
}

/// How a token failed to be a well-formed compact JWS (RFC 7515 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The token is empty.
    #[error("empty token")]
    Empty,
    /// Not three dot-separated segments.
    #[error("not three dot-separated segments")]
    SegmentCount,
    /// Five segments: an encrypted JWT (JWE), which a resource server cannot read.
    #[error("encrypted tokens (JWE) are not supported")]
    Encrypted,
    /// A segment is not unpadded base64url (RFC 7515 §2).
    #[error("a segment is not unpadded base64url")]
    Base64,
    /// The header is not a JSON object with a string `alg`.
    #[error("the header is not a valid JOSE header")]
    Header,
    /// The header or the claims repeat a member name.
    #[error("duplicate member name in header or claims")]
    DuplicateMember,
    /// The payload is not a JSON object.
    #[error("the claims are not a JSON object")]
    Claims,
}

impl ValidationError {
    /// The short `error_description` sent to the client: a fixed text per kind
    /// that never includes anything from the token.
    pub fn description(&self) -> &'static str {
        match self {
            ValidationError::TooLarge { .. } => "The access token is too large",
            ValidationError::Malformed(_) => "The access token is malformed",
            ValidationError::UnsupportedAlgorithm | ValidationError::AlgorithmNotAllowed(_) => {
                "The access token is signed with an algorithm that is not accepted"
            }
            ValidationError::UnsupportedCritical => {
                "The access token requires an unsupported header extension"
            }
            ValidationError::TypeNotAllowed => "The token is not an access token",
            ValidationError::MissingKeyId
            | ValidationError::UnknownKeyId
            | ValidationError::KeyAlgorithmMismatch(_)
            | ValidationError::NoKeyForAlgorithm(_) => {
                "The access token is signed with an unknown key"
            }
            ValidationError::InvalidSignature => "The access token signature is invalid",
            ValidationError::MissingClaim(_) => "The access token lacks a required claim",
            ValidationError::InvalidClaim(_) => "The access token has an invalid claim",
            ValidationError::Expired => "The access token expired",
            ValidationError::NotYetValid => "The access token is not valid yet",
            ValidationError::IssuedInFuture => "The access token was issued in the future",
            ValidationError::InvalidIssuer => "The access token was issued by an untrusted issuer",
            ValidationError::InvalidAudience => "The access token is not meant for this resource",
            ValidationError::SenderConstrained => {
                "The access token is bound to a key and is not a bearer token"
            }
            ValidationError::Inactive => "The access token is not active",
            ValidationError::KeysUnavailable => "The access token cannot be checked right now",
            #[cfg(feature = "remote")]
            ValidationError::IntrospectionUnavailable(_) => {
                "The access token cannot be checked right now"
            }
        }
    }

    /// The HTTP status this error answers with: 401 for every problem with the
    /// token itself, 503 when the token could not be checked.
    pub fn status(&self) -> StatusCode {
        if self.is_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::UNAUTHORIZED
        }
    }

    /// Whether the token could not be checked (rather than being refused).
    pub fn is_unavailable(&self) -> bool {
        match self {
            ValidationError::KeysUnavailable => true,
            #[cfg(feature = "remote")]
            ValidationError::IntrospectionUnavailable(_) => true,
            _ => false,
        }
    }
}

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
        }
    }
}

/// Everything a protected route can refuse a request with.
///
/// [`into_response`](Self::into_response) renders it exactly as RFC 6750 §3
/// prescribes:
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
            AuthError::InvalidToken(e) => e.status(),
            AuthError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code, if this error has one (`MissingToken` has none, §3.1).
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingToken | AuthError::Unavailable(_) => None,
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
        }
    }

    /// The short, fixed `error_description` sent to the client.
    pub fn description(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingToken | AuthError::Unavailable(_) => None,
            AuthError::InvalidRequest(e) => Some(e.description()),
            AuthError::InvalidToken(e) => Some(e.description()),
            AuthError::InsufficientScope { .. } => {
                Some("The access token lacks the scope this request needs")
            }
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
    /// discard a good token).
    pub fn into_response<B: Default>(self, realm: Option<&str>) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = self.status();
        if !matches!(self, AuthError::Unavailable(_)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, self.www_authenticate(realm));
        }
        response
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

/// Returns whether `realm` can be sent in a `WWW-Authenticate` header: no
/// control characters.
pub(crate) fn valid_realm(realm: &str) -> bool {
    !realm.chars().any(char::is_control)
}

/// Why a [`Validator`](crate::Validator) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No issuer configured: every token's `iss` must be checked (RFC 9068 §4).
    #[error("no issuer configured: call ValidatorBuilder::issuer")]
    NoIssuer,
    /// No audience configured: every token's `aud` must be checked (RFC 9068 §4).
    #[error("no audience configured: call ValidatorBuilder::audience")]
    NoAudience,
    /// No usable verification key.
    #[error("no usable verification key configured{}", rejected_suffix(.rejected))]
    NoKeys {
        /// Why each offered key was refused, as `(kid, reason)`.
        rejected: Vec<(Option<String>, KeyError)>,
    },
    /// Several issuers and one key set, without
    /// [`issuers_share_keys`](crate::ValidatorBuilder::issuers_share_keys):
    /// a token naming one issuer would verify with another issuer's keys
    /// (RFC 8725 §3.8).
    #[error(
        "{issuers} issuers are configured with one key set, so a token naming one issuer could be verified with another issuer's key (RFC 8725 §3.8): build one validator per issuer, or call ValidatorBuilder::issuers_share_keys() if these are names of one authorization server that signs with these keys"
    )]
    IssuersShareKeys {
        /// How many issuers are configured.
        issuers: usize,
    },
    /// The algorithm allow-list is empty.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithms,
    /// A JWKS document could not be read.
    #[error("invalid JWKS: {0}")]
    Jwks(#[from] JwksError),
    /// A JWKS file could not be read.
    #[error("cannot read JWKS file {path}: {source}")]
    JwksFile {
        /// The path given.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM key or HMAC secret was refused.
    #[error("invalid key: {0}")]
    Key(#[from] KeyError),
    /// An HMAC secret was configured for an algorithm that the explicit
    /// allow-list excludes.
    #[error("an HMAC secret is configured for {0}, which the algorithm allow-list excludes")]
    HmacNotAllowed(Algorithm),
    /// Remote keys need a tokio runtime: build the validator inside one.
    #[cfg(feature = "remote")]
    #[error("remote keys need a tokio runtime: build the validator from within one")]
    NoRuntime,
    /// Both a JWKS URL and discovery, or discovery with other than one issuer.
    #[cfg(feature = "remote")]
    #[error("invalid remote key configuration: {0}")]
    RemoteConfig(&'static str),
    /// The JWKS URL is not usable (not https, or not a URL).
    #[cfg(feature = "remote")]
    #[error(transparent)]
    Url(crate::fetch::FetchError),
    /// [`build_and_fetch`](crate::ValidatorBuilder::build_and_fetch): the
    /// first fetch of the keys failed.
    #[cfg(feature = "remote")]
    #[error("cannot load the authorization server's keys: {0}")]
    KeySource(#[from] crate::jwks::KeySourceError),
}

fn rejected_suffix(rejected: &[(Option<String>, KeyError)]) -> String {
    if rejected.is_empty() {
        return String::new();
    }
    let reasons: Vec<String> = rejected
        .iter()
        .map(|(kid, e)| match kid {
            Some(kid) => format!("kid {kid:?}: {e}"),
            None => e.to_string(),
        })
        .collect();
    format!(" (refused: {})", reasons.join("; "))
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
    fn invalid_request_is_400() {
        let e = AuthError::from(RequestError::MultipleAuthorizationHeaders);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.error_code(), Some("invalid_request"));
    }

    #[test]
    fn descriptions_fit_rfc6750_charset() {
        // RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
        let all = [
            ValidationError::TooLarge { len: 1, limit: 0 },
            ValidationError::Malformed(Malformed::Base64),
            ValidationError::UnsupportedAlgorithm,
            ValidationError::AlgorithmNotAllowed(Algorithm::HS256),
            ValidationError::UnsupportedCritical,
            ValidationError::TypeNotAllowed,
            ValidationError::MissingKeyId,
            ValidationError::UnknownKeyId,
            ValidationError::KeyAlgorithmMismatch(Algorithm::RS256),
            ValidationError::NoKeyForAlgorithm(Algorithm::RS256),
            ValidationError::InvalidSignature,
            ValidationError::MissingClaim("sub".into()),
            ValidationError::InvalidClaim("exp"),
            ValidationError::Expired,
            ValidationError::NotYetValid,
            ValidationError::IssuedInFuture,
            ValidationError::InvalidIssuer,
            ValidationError::InvalidAudience,
            ValidationError::SenderConstrained,
            ValidationError::Inactive,
            ValidationError::KeysUnavailable,
        ];
        for e in all {
            let d = e.description();
            assert!(
                d.bytes()
                    .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
                "{d}"
            );
        }
    }
}
