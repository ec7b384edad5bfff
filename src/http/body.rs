//! The body of a refusal, and refusals to gRPC calls.
//!
//! The status and the `WWW-Authenticate` challenges of a refusal are fixed
//! by RFC 6750 (and RFC 9449 for DPoP); its body is the application's
//! choice. [`BearerLayer::error_body`](crate::BearerLayer::error_body)
//! takes an [`ErrorBody`]: [`EmptyBody`] (the default), [`ProblemJson`]
//! (RFC 9457 `application/problem+json`), or a closure of your own.
//!
//! A gRPC call (`content-type: application/grpc…`) is refused the gRPC way
//! whatever the body renderer: HTTP 200 with no body and the status in the
//! `grpc-status` and `grpc-message` headers (a "Trailers-Only" response),
//! the RFC 6750 challenges kept in `www-authenticate`, so a tonic client
//! sees a `Status` with code `UNAUTHENTICATED`, `PERMISSION_DENIED` or
//! `UNAVAILABLE` and the challenge in its metadata.

use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::response::AuthError;

/// Writes the body of a refusal (and may add headers such as its
/// `Content-Type`). The status and the challenges are set before and must
/// not be changed: they are RFC 6750's.
///
/// Implemented by [`EmptyBody`], [`ProblemJson`] and by any
/// `Fn(&AuthError, &mut HeaderMap) -> B` closure that is `Clone`:
///
/// ```
/// use axum::body::Body;
/// use bearer_guard::{AuthError, BearerLayer, Validator};
/// use http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
/// # use bearer_guard::testing::TestIssuer;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let issuer = TestIssuer::new();
/// # let validator = Validator::builder().issuer("https://issuer.test")
/// #     .audience("payments").jwks_json(issuer.jwks_json()).build()?;
/// let layer = BearerLayer::new(validator).error_body(|error: &AuthError, headers: &mut HeaderMap| {
///     headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
///     Body::from(format!("refused: {}\n", error.error_code().unwrap_or("unauthorized")))
/// });
/// # let _: axum::Router = axum::Router::new().layer(layer);
/// # Ok(()) }
/// ```
pub trait ErrorBody<B>: Clone + Send + Sync + 'static {
    /// The body for `error`; `headers` are the response's.
    fn body(&self, error: &AuthError, headers: &mut HeaderMap) -> B;

    /// Whether this renderer writes bodies at all: [`EmptyBody`] does not,
    /// which spares the layer a look at the inner service's refusals.
    fn writes_body(&self) -> bool {
        true
    }
}

/// Refusals with an empty body: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyBody;

impl<B: Default> ErrorBody<B> for EmptyBody {
    fn body(&self, _: &AuthError, _: &mut HeaderMap) -> B {
        B::default()
    }

    fn writes_body(&self) -> bool {
        false
    }
}

/// Refusals with an RFC 9457 `application/problem+json` body:
///
/// ```json
/// {"type":"about:blank","title":"Unauthorized","status":401,
///  "detail":"The access token expired","error":"invalid_token"}
/// ```
///
/// `detail` is the fixed `error_description` of the RFC 6750 challenge
/// (nothing from the token is echoed); the extension members `error`,
/// `scope`, `acr_values` and `max_age` repeat the challenge's attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemJson;

impl ProblemJson {
    /// The media type of an RFC 9457 problem document.
    pub const CONTENT_TYPE: &'static str = "application/problem+json";
}

impl<B: From<String>> ErrorBody<B> for ProblemJson {
    fn body(&self, error: &AuthError, headers: &mut HeaderMap) -> B {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(ProblemJson::CONTENT_TYPE),
        );
        B::from(problem_document(error))
    }
}

/// The RFC 9457 document for `error`.
pub(crate) fn problem_document(error: &AuthError) -> String {
    let status = error.status();
    let mut doc = serde_json::Map::new();
    doc.insert("type".into(), "about:blank".into());
    doc.insert(
        "title".into(),
        status.canonical_reason().unwrap_or("Error").into(),
    );
    doc.insert("status".into(), status.as_u16().into());
    doc.insert("detail".into(), error.message().into());
    if let Some(code) = error.error_code() {
        doc.insert("error".into(), code.into());
    }
    match error {
        AuthError::InsufficientScope { required } => {
            doc.insert("scope".into(), required.clone().into());
        }
        AuthError::InsufficientUserAuthentication {
            acr_values,
            max_age,
        } => {
            if let Some(acr) = acr_values {
                doc.insert("acr_values".into(), acr.clone().into());
            }
            if let Some(age) = max_age {
                doc.insert("max_age".into(), (*age).into());
            }
        }
        _ => {}
    }
    serde_json::Value::Object(doc).to_string()
}

impl<B, F> ErrorBody<B> for F
where
    F: Fn(&AuthError, &mut HeaderMap) -> B + Clone + Send + Sync + 'static,
{
    fn body(&self, error: &AuthError, headers: &mut HeaderMap) -> B {
        self(error, headers)
    }
}

/// The `grpc-status` header.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The `grpc-message` header.
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// Whether the request is a gRPC call: an HTTP/2 `POST` whose media type
/// is `application/grpc`, `application/grpc+…` or `application/grpc;…`
/// (any case). `application/grpc-web…` is not: its responses are not
/// Trailers-Only; nor is anything over HTTP/1, whose refusals must keep
/// their status for logs and caches.
pub(crate) fn is_grpc<B>(req: &http::Request<B>) -> bool {
    if req.version() != http::Version::HTTP_2 || req.method() != http::Method::POST {
        return false;
    }
    req.headers().get(CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        let prefix = b"application/grpc";
        let (head, rest) = v.split_at_checked(prefix.len()).unwrap_or((v, b""));
        head.eq_ignore_ascii_case(prefix)
            && (rest.is_empty() || rest.starts_with(b"+") || rest.starts_with(b";"))
    })
}

/// Turns a refusal into a gRPC Trailers-Only response: 200, the gRPC
/// content type, `grpc-status` and a percent-encoded `grpc-message`; the
/// challenges stay. The body must be empty.
pub(crate) fn grpc_refusal<B>(response: &mut Response<B>, error: &AuthError) {
    // Already converted (by an inner layer): as it is.
    if response.headers().contains_key(GRPC_STATUS) {
        return;
    }
    let code = error.grpc_code();
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    // Trailers-Only: no body, whatever was said of one before.
    headers.remove(http::header::CONTENT_LENGTH);
    headers.remove(http::header::CONTENT_ENCODING);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from(code));
    let message = error.grpc_message();
    // gRPC's percent-encoding: printable ASCII as is, except `%`.
    let encoded: String = message
        .bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'%' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    if let Ok(value) = HeaderValue::try_from(encoded) {
        headers.insert(GRPC_MESSAGE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::ValidationError;

    fn request(
        version: http::Version,
        method: http::Method,
        ct: Option<&'static str>,
    ) -> http::Request<()> {
        let mut req = http::Request::new(());
        *req.version_mut() = version;
        *req.method_mut() = method;
        if let Some(ct) = ct {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        req
    }

    #[test]
    fn grpc_calls_are_recognised_and_lookalikes_are_not() {
        use http::{Method, Version};
        let grpc = |v| is_grpc(&request(Version::HTTP_2, Method::POST, Some(v)));
        assert!(grpc("application/grpc"));
        assert!(grpc("Application/GRPC"));
        assert!(grpc("application/grpc+proto"));
        assert!(grpc("application/grpc; charset=utf-8"));
        assert!(!grpc("application/grpc-web"));
        assert!(!grpc("application/grpcx"));
        assert!(!grpc("application/json"));
        assert!(!is_grpc(&request(Version::HTTP_2, Method::POST, None)));
        assert!(!is_grpc(&request(
            Version::HTTP_11,
            Method::POST,
            Some("application/grpc")
        )));
        assert!(!is_grpc(&request(
            Version::HTTP_2,
            Method::GET,
            Some("application/grpc")
        )));
    }

    #[test]
    fn refusals_map_to_the_grpc_codes_of_their_http_status() {
        let cases = [
            (AuthError::MissingToken, "16"),
            (AuthError::InvalidToken(ValidationError::Expired), "16"),
            (
                AuthError::InsufficientScope {
                    required: "a".into(),
                },
                "7",
            ),
            (
                AuthError::Forbidden {
                    requirement: "r".into(),
                },
                "7",
            ),
            (
                AuthError::Unavailable(ValidationError::KeysUnavailable),
                "14",
            ),
        ];
        for (error, code) in cases {
            let mut response = error.clone().into_http_response::<()>(None);
            grpc_refusal(&mut response, &error);
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[GRPC_STATUS], code, "{error:?}");
            assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
            // Converted again by an outer layer: unchanged.
            grpc_refusal(&mut response, &error);
            assert_eq!(response.headers()[GRPC_STATUS], code, "{error:?}");
        }
    }

    #[test]
    fn problem_documents_carry_the_challenges_attributes() {
        let doc: serde_json::Value =
            serde_json::from_str(&problem_document(&AuthError::InsufficientScope {
                required: "charge:customer".into(),
            }))
            .unwrap();
        assert_eq!(doc["status"], 403);
        assert_eq!(doc["title"], "Forbidden");
        assert_eq!(doc["error"], "insufficient_scope");
        assert_eq!(doc["scope"], "charge:customer");
        let doc: serde_json::Value =
            serde_json::from_str(&problem_document(&AuthError::MissingToken)).unwrap();
        assert_eq!(doc["status"], 401);
        assert!(doc.get("error").is_none());
    }
}
