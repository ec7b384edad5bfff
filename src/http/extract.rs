//! Finding the bearer token in a request (RFC 6750 §2).

use std::borrow::Cow;

use http::header::AUTHORIZATION;
use http::{HeaderMap, Uri};

use super::response::{RequestError, Scheme};
use crate::dpop::DpopError;

/// Reads the bearer token from the `Authorization` header (RFC 6750 §2.1).
///
/// - `Ok(None)`: no `Authorization` header, or one with another scheme (for
///   example `Basic`): there is no bearer token, which RFC 6750 §3.1 answers
///   with a bare challenge.
/// - `Ok(Some(token))`: `Bearer` (any letter case) followed by one or more
///   spaces and a `b64token`.
/// - `Err`: two or more `Authorization` headers, or `Bearer` with credentials
///   that are not one `b64token` (empty, tab-separated, containing a comma,
///   a space or non-ASCII bytes).
///
/// ```
/// use bearer_guard::extract::bearer_token;
/// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer mF_9.B5f-4.1JqM"));
/// assert_eq!(bearer_token(&headers), Ok(Some("mF_9.B5f-4.1JqM")));
///
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwYXNz"));
/// assert_eq!(bearer_token(&headers), Ok(None));
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, RequestError> {
    bearer_credentials(headers)?.map(checked_token).transpose()
}

/// The credentials as a `b64token` (and therefore as text), or
/// `MalformedBearer`.
pub(crate) fn checked_token(credentials: &[u8]) -> Result<&str, RequestError> {
    match std::str::from_utf8(credentials) {
        Ok(t) if is_b64token(t) => Ok(t),
        _ => Err(RequestError::MalformedBearer),
    }
}

/// As [`bearer_token`], without checking the credentials' bytes: the layer
/// checks them only for a token it has not verified before (a token served
/// from the verified-token cache passed the check when it was verified).
pub(crate) fn bearer_credentials(headers: &HeaderMap) -> Result<Option<&[u8]>, RequestError> {
    Ok(match credentials(headers)? {
        Some((Scheme::Bearer, token)) => Some(token),
        _ => None,
    })
}

/// The `Authorization` header's scheme (`Bearer` or `DPoP`, RFC 9449 §7.1)
/// and credentials, unchecked; `None` without the header or with another
/// scheme.
pub(crate) fn credentials(headers: &HeaderMap) -> Result<Option<(Scheme, &[u8])>, RequestError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(RequestError::MultipleAuthorizationHeaders);
    }
    parse_credentials(value.as_bytes())
}

/// The `DPoP` proof header (RFC 9449 §4.1): `Ok(None)` without one;
/// [`DpopError::Multiple`] for more than one (§4.3 check 1),
/// [`DpopError::Malformed`] for a value that is not a compact JWS's
/// characters.
pub fn dpop_proof(headers: &HeaderMap) -> Result<Option<&str>, DpopError> {
    let mut values = headers.get_all(DPOP).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(DpopError::Multiple);
    }
    let bytes = value.as_bytes().trim_ascii();
    let ok = !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    match std::str::from_utf8(bytes) {
        Ok(proof) if ok => Ok(Some(proof)),
        _ => Err(DpopError::Malformed),
    }
}

/// The `DPoP` request header.
const DPOP: http::HeaderName = http::HeaderName::from_static("dpop");

/// RFC 9110 §5.6.2 `tchar`, as ranges (a scan of the string of symbols
/// was ~20 instructions a byte of the scheme, on every request).
const fn is_tchar(b: u8) -> bool {
    matches!(
        b,
        b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'!'
            | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
    )
}

fn parse_credentials(value: &[u8]) -> Result<Option<(Scheme, &[u8])>, RequestError> {
    // Nearly every request: `Bearer ` and a token, nothing around them.
    // What the general way below makes of it, without its scans.
    if let Some((scheme, token)) = value.split_at_checked(7)
        && scheme.eq_ignore_ascii_case(b"bearer ")
        && token
            .first()
            .is_some_and(|b| *b != b' ' && !b.is_ascii_whitespace())
        && token.last().is_some_and(|b| !b.is_ascii_whitespace())
    {
        return Ok(Some((Scheme::Bearer, token)));
    }
    let value = value.trim_ascii();
    let scheme_len = value
        .iter()
        .position(|b| !is_tchar(*b))
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at_checked(scheme_len).unwrap_or((value, &[]));
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    // `Bearer` (or `DPoP`) 1*SP b64token: only spaces separate scheme and
    // token.
    let spaces = rest.iter().take_while(|b| **b == b' ').count();
    let token = rest.get(spaces..).unwrap_or_default();
    if spaces == 0 || token.is_empty() {
        return Err(RequestError::MalformedBearer);
    }
    Ok(Some((scheme, token)))
}

/// Whether `b` may appear in a `b64token` before its `=` padding. Written
/// as comparisons, not a table lookup, so that the check over a whole token
/// (which runs on every request) compiles to vector instructions.
#[inline]
const fn is_b64token_byte(b: u8) -> bool {
    // `-` `.` `/` and the digits are one run, 0x2D to 0x39; `| 0x20` folds
    // upper case onto lower case and nothing else onto a letter.
    (b.wrapping_sub(b'-') <= b'9' - b'-')
        | ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
/// (RFC 6750 §2.1).
pub fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=').as_bytes();
    // No early exit: every byte is checked, which lets the loop vectorize.
    !body.is_empty()
        && body
            .iter()
            .fold(0u8, |bad, &b| bad | u8::from(!is_b64token_byte(b)))
            == 0
}

/// Reads a token from a header of its own (not `Authorization`), as
/// identity-aware proxies send it: Google IAP's `x-goog-iap-jwt-assertion`,
/// Cloudflare Access's `Cf-Access-Jwt-Assertion`. The whole value, without
/// a scheme, must be one `b64token`; the header twice is refused.
pub fn header_token<'a>(
    headers: &'a HeaderMap,
    name: &http::HeaderName,
) -> Result<Option<&'a str>, RequestError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(RequestError::MultipleTokens);
    }
    match std::str::from_utf8(value.as_bytes().trim_ascii()) {
        Ok(t) if is_b64token(t) => Ok(Some(t)),
        _ => Err(RequestError::MalformedToken),
    }
}

/// Reads a token from the cookie `name` (RFC 6265 §4.2.1: `name=value`
/// pairs separated by `;`, over any number of `Cookie` headers), as
/// Cloudflare Access's `CF_Authorization`. A value in double quotes is
/// unquoted; it must be one `b64token`. Other cookies may hold any bytes.
///
/// The cookie twice with different values is refused: a browser sends both
/// when a sibling subdomain sets one for the parent domain, and neither can
/// be told apart from the other. Name the cookie with the `__Host-` prefix
/// where you choose its name (RFC 6265bis §4.1.3.2), so that no other host
/// can set it.
pub fn cookie_token<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, RequestError> {
    let mut found: Option<&'a str> = None;
    for value in headers.get_all(http::header::COOKIE) {
        for pair in value.as_bytes().split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                continue;
            };
            let (n, v) = pair.split_at(eq);
            if n.trim_ascii() != name.as_bytes() {
                continue;
            }
            // `v` starts with the `=`.
            let v = v.get(1..).unwrap_or_default().trim_ascii();
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            let token = match std::str::from_utf8(v) {
                Ok(t) if is_b64token(t) => t,
                _ => return Err(RequestError::MalformedToken),
            };
            if found.is_some_and(|f| f != token) {
                return Err(RequestError::MultipleTokens);
            }
            found = Some(token);
        }
    }
    Ok(found)
}

/// Reads an `access_token` URI query parameter (RFC 6750 §2.3).
///
/// Off by default in [`BearerLayer`](crate::BearerLayer): tokens in URLs end up
/// in logs and browser history (RFC 6750 §5.3). `Err` when the parameter is
/// repeated or is not a `b64token` once decoded.
pub fn query_token(uri: &Uri) -> Result<Option<Cow<'_, str>>, RequestError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let mut found = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name == "access_token" {
            if found.is_some() {
                return Err(RequestError::MultipleTokens);
            }
            if !is_b64token(&value) {
                return Err(RequestError::MalformedBearer);
            }
            found = Some(value);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// The general way alone, to hold the fast way to it.
    fn general(value: &[u8]) -> Result<Option<(Scheme, &[u8])>, RequestError> {
        let mut spaced = b" ".to_vec();
        spaced.extend_from_slice(value);
        // A leading space is trimmed by the general way, and keeps a value
        // off the fast one.
        parse_credentials(&spaced).map(|o| {
            o.map(|(scheme, token)| {
                let at = token.as_ptr().addr() - spaced.as_ptr().addr() - 1;
                (scheme, &value[at..at + token.len()])
            })
        })
    }

    #[test]
    fn the_fast_way_reads_credentials_as_the_general_way_does() {
        let cases: &[&[u8]] = &[
            b"Bearer abc",
            b"bearer abc",
            b"BEARER a.b.c",
            b"Bearer  abc",
            b"Bearer \tabc",
            b"Bearer abc ",
            b"Bearer abc\t",
            b"Bearer a",
            b"Bearer ",
            b"Bearer",
            b"Bearerx abc",
            b"Bearer\tabc",
            b"DPoP abc",
            b"Basic abc",
            b"Bearer a b",
            b"Bearer \x80",
        ];
        for value in cases {
            assert_eq!(
                parse_credentials(value),
                general(value),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn tchar_is_rfc_9110s_set_for_every_byte() {
        for b in 0..=u8::MAX {
            let spec = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), spec, "byte {b:#04x}");
        }
    }

    fn with(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"] {
            assert_eq!(bearer_token(&with(&[v.as_bytes()])), Ok(Some("abc")), "{v}");
        }
    }

    #[test]
    fn several_spaces_and_padding_are_accepted() {
        assert_eq!(
            bearer_token(&with(&[b"Bearer   a.b-c_d~e+f/g=="])),
            Ok(Some("a.b-c_d~e+f/g=="))
        );
    }

    #[test]
    fn no_header_or_other_scheme_is_no_token() {
        assert_eq!(bearer_token(&HeaderMap::new()), Ok(None));
        for v in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Negotiate",
            b"BearerX abc",
            b"DPoP abc",
            b"",
        ] {
            assert_eq!(
                bearer_token(&with(&[v])),
                Ok(None),
                "{}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn two_authorization_headers_are_invalid_request() {
        assert_eq!(
            bearer_token(&with(&[b"Bearer a", b"Bearer b"])),
            Err(RequestError::MultipleAuthorizationHeaders)
        );
        assert_eq!(
            bearer_token(&with(&[b"Basic x", b"Bearer b"])),
            Err(RequestError::MultipleAuthorizationHeaders)
        );
    }

    #[test]
    fn malformed_bearer_credentials_are_invalid_request() {
        for v in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer\tabc",
            b"Bearer \tabc",
            b"Bearer a b",
            b"Bearer a,b",
            b"Bearer a\"b",
            b"Bearer =abc",
            b"Bearer a=b",
            b"Bearer \xc3\xa9",
            b"Bearer:abc",
        ] {
            assert_eq!(
                bearer_token(&with(&[v])),
                Err(RequestError::MalformedBearer),
                "{}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn b64token_bytes_match_the_grammar() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_byte(b), expected, "byte {b}");
        }
        assert!(is_b64token("a=="));
        assert!(!is_b64token("==") && !is_b64token(""));
    }

    #[test]
    fn a_token_header_holds_one_bare_token() {
        let name = http::HeaderName::from_static("x-goog-iap-jwt-assertion");
        let mut h = HeaderMap::new();
        assert_eq!(header_token(&h, &name), Ok(None));
        h.insert(&name, HeaderValue::from_static(" a.b.c "));
        assert_eq!(header_token(&h, &name), Ok(Some("a.b.c")));
        h.insert(&name, HeaderValue::from_static("Bearer a.b.c"));
        assert_eq!(header_token(&h, &name), Err(RequestError::MalformedToken));
        h.insert(&name, HeaderValue::from_static("a"));
        h.append(&name, HeaderValue::from_static("b"));
        assert_eq!(header_token(&h, &name), Err(RequestError::MultipleTokens));
    }

    #[test]
    fn a_token_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(cookie_token(&h, "CF_Authorization"), Ok(None));
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("theme=dark; CF_Authorization=a.b.c; x=1"),
        );
        assert_eq!(cookie_token(&h, "CF_Authorization"), Ok(Some("a.b.c")));
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("CF_Authorization=\"a.b\""),
        );
        assert_eq!(cookie_token(&h, "CF_Authorization"), Ok(Some("a.b")));
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("CF_Authorization=x"),
        );
        assert_eq!(
            cookie_token(&h, "CF_Authorization"),
            Err(RequestError::MultipleTokens)
        );
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("CF_Authorization=a b"),
        );
        assert_eq!(
            cookie_token(&h, "CF_Authorization"),
            Err(RequestError::MalformedToken)
        );
        // A cookie whose name only starts the same is another cookie.
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("CF_Authorization2=a"),
        );
        assert_eq!(cookie_token(&h, "CF_Authorization"), Ok(None));
    }

    #[test]
    fn query_parameter_is_decoded_and_checked() {
        let uri: Uri = "/x?a=1&access_token=ab%2Bc".parse().unwrap();
        assert_eq!(query_token(&uri).unwrap().as_deref(), Some("ab+c"));
        let uri: Uri = "/x?access_token=a&access_token=b".parse().unwrap();
        assert_eq!(query_token(&uri), Err(RequestError::MultipleTokens));
        let uri: Uri = "/x?access_token=a%20b".parse().unwrap();
        assert_eq!(query_token(&uri), Err(RequestError::MalformedBearer));
        let uri: Uri = "/x?other=1".parse().unwrap();
        assert_eq!(query_token(&uri), Ok(None));
    }
}
