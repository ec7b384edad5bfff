//! Compact JWS (RFC 7515 §7.1): the shape, the JOSE header and its checks,
//! the signature through a key set, then the claims object.
//!
//! The order matters for safety: nothing in the payload is parsed until the
//! signature has verified, and the key is never taken from the token (`jwk`,
//! `jku`, `x5u`, `x5c` and `x5t` header members are ignored).
//!
//! Public here: why a token is not a JWS ([`Malformed`]), what its `typ`
//! header must say ([`TypPolicy`]), and, for diagnostics only, a token
//! decoded without verifying it ([`decode_unverified`], in `unverified.rs`).
//!
//! A `Jws` owns no part of the token: it keeps the decoded header and the
//! segment boundaries, so that a validation waiting for keys carries it
//! along instead of parsing the token again.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::json::{self, ObjectError, StrictAny};
use crate::keys::{Algorithm, AlgorithmSet, KeyBinding, KeySet, SignatureError};

mod unverified;
pub use unverified::{
    Members, Segment, UnverifiedError, UnverifiedJws, UnverifiedToken, decode_unverified,
};

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

/// Why a compact JWS was refused before its claims were read (the validator
/// reports each as its own `ValidationError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwsError {
    /// Not a well-formed compact JWS.
    Malformed(Malformed),
    /// `alg` is not an algorithm this crate implements (`none` included).
    UnsupportedAlgorithm,
    /// `alg` is implemented but not allowed.
    AlgorithmNotAllowed(Algorithm),
    /// `crit` names an extension, or `b64: false`.
    UnsupportedCritical,
    /// `typ` is not allowed by the policy.
    TypeNotAllowed,
    /// No key verified the signature.
    Signature(SignatureError),
}

impl From<Malformed> for JwsError {
    fn from(m: Malformed) -> Self {
        JwsError::Malformed(m)
    }
}

impl From<SignatureError> for JwsError {
    fn from(e: SignatureError) -> Self {
        JwsError::Signature(e)
    }
}

/// Which `typ` header values a validator accepts.
///
/// Comparisons follow RFC 7515 §4.1.9: case-insensitive, with an optional
/// `application/` prefix (so `at+jwt`, `AT+JWT` and `application/at+jwt` are
/// the same type).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TypPolicy {
    /// The default: `at+jwt` (RFC 9068), `JWT`, or no `typ` at all. Any
    /// other explicit type is refused, because it declares the token to be
    /// something else: an ID token profile, a DPoP proof (`dpop+jwt`), a
    /// logout token (`logout+jwt`)...
    ///
    /// This interoperates with authorization servers that do not follow
    /// RFC 9068 yet (Keycloak, Microsoft Entra, Google and Auth0 by default
    /// issue `typ: JWT`), while still refusing tokens typed for another use.
    #[default]
    AccessTokenOrJwt,
    /// Strict RFC 9068 §4: only `at+jwt` (or `application/at+jwt`).
    Rfc9068,
    /// Exactly these types; a missing `typ` is accepted only if the list
    /// contains the empty string.
    OneOf(Vec<String>),
}

impl TypPolicy {
    /// Whether a token whose header's `typ` is `typ` (`None`: no `typ`)
    /// passes this policy.
    ///
    /// ```
    /// use bearer_guard::jwt::TypPolicy;
    ///
    /// assert!(TypPolicy::default().allows(Some("JWT")));
    /// assert!(TypPolicy::Rfc9068.allows(Some("application/at+jwt")));
    /// assert!(!TypPolicy::Rfc9068.allows(None));
    /// ```
    pub fn allows(&self, typ: Option<&str>) -> bool {
        let normalized = typ.map(crate::json::strip_application);
        let eq = |want: &str| normalized.is_some_and(|t| t.eq_ignore_ascii_case(want));
        match self {
            TypPolicy::AccessTokenOrJwt => normalized.is_none() || eq("at+jwt") || eq("jwt"),
            TypPolicy::Rfc9068 => eq("at+jwt"),
            TypPolicy::OneOf(list) => list.iter().any(|want| {
                if want.is_empty() {
                    normalized.is_none()
                } else {
                    eq(crate::json::strip_application(want))
                }
            }),
        }
    }
}

/// What the validator checks in a JOSE header.
#[derive(Debug, Clone)]
pub(crate) struct HeaderRules {
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) typ: TypPolicy,
}

/// The JOSE header members this crate acts on.
#[derive(Debug, Default, Clone)]
pub(crate) struct Header {
    pub(crate) alg: Option<String>,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    crit: Option<Vec<String>>,
    b64: Option<bool>,
    duplicate: bool,
}

/// A compact JWS whose shape is right and whose header decoded: the
/// header, and where the segments of its token end. Nothing in the payload
/// has been read.
#[derive(Debug, Clone)]
pub(crate) struct Jws {
    header: Header,
    /// End of the header segment (the first dot).
    header_end: usize,
    /// End of the signing input (the second dot).
    input_end: usize,
}

/// 8192-bit RSA signatures are 1024 bytes, 1366 base64url characters:
/// anything longer is wrong, and is not decoded.
const MAX_SIGNATURE_CHARS: usize = 1366;

/// Whether the signature segment of `token` is longer than any signature
/// ([`Jws::verify`] refuses it before it looks up the key).
pub(crate) fn signature_too_long(token: &str) -> bool {
    token
        .rsplit_once('.')
        .is_some_and(|(_, signature)| signature.len() > MAX_SIGNATURE_CHARS)
}

fn b64(segment: &str) -> Result<Vec<u8>, Malformed> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Malformed::Base64)
}

impl Jws {
    /// Splits a compact JWS (RFC 7515 §7.1) and decodes its header.
    pub(crate) fn parse(token: &str) -> Result<Jws, JwsError> {
        if token.is_empty() {
            return Err(Malformed::Empty.into());
        }
        let dots = token.bytes().filter(|b| *b == b'.').count();
        if dots != 2 {
            return Err(if dots == 4 {
                Malformed::Encrypted
            } else {
                Malformed::SegmentCount
            }
            .into());
        }
        let (Some(header_end), Some(input_end)) = (token.find('.'), token.rfind('.')) else {
            return Err(Malformed::SegmentCount.into());
        };
        // An empty payload is a valid JWS; it fails later as a claims set.
        let header_segment = token.get(..header_end).unwrap_or_default();
        if header_segment.is_empty() {
            return Err(Malformed::SegmentCount.into());
        }
        let header = parse_header(&b64(header_segment)?)?;
        Ok(Jws {
            header,
            header_end,
            input_end,
        })
    }

    /// The header checks: `alg` known and allowed, no unknown `crit`, no
    /// `b64: false`, `typ` allowed. Returns the algorithm.
    pub(crate) fn check(&self, rules: &HeaderRules) -> Result<Algorithm, JwsError> {
        check_header(&self.header, rules)
    }

    /// The header's `kid`.
    pub(crate) fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// Verifies the signature of `token` (the one this was parsed from) with
    /// the key(s) the header's `kid` and `alg` designate; returns which key
    /// verified it.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        token: &str,
        keys: &KeySet,
    ) -> Result<KeyBinding, JwsError> {
        let signing_input = token.get(..self.input_end).unwrap_or_default();
        let signature = token
            .get(self.input_end.saturating_add(1)..)
            .unwrap_or_default();
        if signature.len() > MAX_SIGNATURE_CHARS {
            return Err(SignatureError::InvalidSignature.into());
        }
        let signature = b64(signature)?;
        Ok(keys.verify(self.kid(), alg, signing_input.as_bytes(), &signature)?)
    }

    /// The decoded payload of `token`. Nothing in it may be trusted before
    /// the signature verified.
    pub(crate) fn payload(&self, token: &str) -> Result<Vec<u8>, Malformed> {
        let payload = token
            .get(self.header_end.saturating_add(1)..self.input_end)
            .unwrap_or_default();
        b64(payload)
    }

    /// Decodes the claims object of `token` (strict JSON, within the token
    /// size limit). Before the signature verified, only to choose whose
    /// keys to verify it with; nothing read here is trusted until then.
    pub(crate) fn claims(&self, token: &str) -> Result<Map<String, Value>, Malformed> {
        parse_claims(&self.payload(token)?)
    }
}

/// The claims of a token that was verified before (the verified-token
/// cache keeps the token, not its claims), parsed as they were then.
pub(crate) fn claims_of(token: &str) -> Option<Map<String, Value>> {
    Jws::parse(token).ok()?.claims(token).ok()
}

/// The header checks; returns the algorithm.
fn check_header(header: &Header, rules: &HeaderRules) -> Result<Algorithm, JwsError> {
    let alg: Algorithm = header
        .alg
        .as_deref()
        .ok_or(JwsError::Malformed(Malformed::Header))?
        .parse()
        .map_err(|_| JwsError::UnsupportedAlgorithm)?;
    if !rules.algorithms.contains(alg) {
        return Err(JwsError::AlgorithmNotAllowed(alg));
    }
    // RFC 7515 §4.1.11: a recipient that does not understand every name in
    // `crit` must reject the JWS. This validator understands no extension.
    // RFC 7797: `b64: false` changes what was signed; it is not supported.
    if header.crit.is_some() || header.b64 == Some(false) {
        return Err(JwsError::UnsupportedCritical);
    }
    if !rules.typ.allows(header.typ.as_deref()) {
        return Err(JwsError::TypeNotAllowed);
    }
    Ok(alg)
}

enum HeaderKey {
    Alg,
    Kid,
    Typ,
    Crit,
    B64,
    Other(String),
}

impl<'de> de::Deserialize<'de> for HeaderKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HeaderKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header member name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HeaderKey, E> {
                Ok(match s {
                    "alg" => HeaderKey::Alg,
                    "kid" => HeaderKey::Kid,
                    "typ" => HeaderKey::Typ,
                    "crit" => HeaderKey::Crit,
                    "b64" => HeaderKey::B64,
                    other => HeaderKey::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// Most members a JOSE header may have; real headers have three to six.
const MAX_HEADER_MEMBERS: usize = 32;

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        fn set<T>(slot: &mut Option<T>, value: T, duplicate: &mut bool) {
            *duplicate |= slot.is_some();
            *slot = Some(value);
        }
        let mut h = Header::default();
        let mut others: Vec<String> = Vec::new();
        let mut count = 0usize;
        while let Some(key) = map.next_key::<HeaderKey>()? {
            count = count.saturating_add(1);
            if count > MAX_HEADER_MEMBERS {
                return Err(de::Error::custom("too many header members"));
            }
            match key {
                HeaderKey::Alg => set(&mut h.alg, map.next_value()?, &mut h.duplicate),
                HeaderKey::Kid => set(&mut h.kid, map.next_value()?, &mut h.duplicate),
                HeaderKey::Typ => set(&mut h.typ, map.next_value()?, &mut h.duplicate),
                HeaderKey::Crit => set(&mut h.crit, map.next_value()?, &mut h.duplicate),
                HeaderKey::B64 => set(&mut h.b64, map.next_value()?, &mut h.duplicate),
                HeaderKey::Other(name) => {
                    // Decoded and checked, though unused (RFC 7515 §5.2).
                    map.next_value::<StrictAny>()?;
                    h.duplicate |= others.contains(&name);
                    others.push(name);
                }
            }
        }
        Ok(h)
    }
}

fn parse_header(json: &[u8]) -> Result<Header, Malformed> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let header = (&mut de)
        .deserialize_map(HeaderVisitor)
        .and_then(|h| de.end().map(|()| h))
        .map_err(|_| Malformed::Header)?;
    if header.duplicate {
        // RFC 7515 §5.2 step 4: reject duplicate header parameter names.
        return Err(Malformed::DuplicateMember);
    }
    // RFC 7515 §4.1.11: `crit`, when present, is a non-empty list.
    if header.crit.as_ref().is_some_and(Vec::is_empty) {
        return Err(Malformed::Header);
    }
    Ok(header)
}

/// Parses a JWT claims set: a JSON object whose member names are unique
/// (RFC 7519 §4: a parser must reject duplicates or keep the last; this one
/// rejects), every string in it valid (RFC 7519 §7.2).
pub(crate) fn parse_claims(json: &[u8]) -> Result<Map<String, Value>, Malformed> {
    json::parse_object(json).map_err(|e| match e {
        ObjectError::NotAnObject => Malformed::Claims,
        ObjectError::DuplicateMember => Malformed::DuplicateMember,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn header_of(json: &str) -> Result<Header, Malformed> {
        parse_header(json.as_bytes())
    }

    fn rules() -> HeaderRules {
        HeaderRules {
            algorithms: AlgorithmSet::asymmetric(),
            typ: TypPolicy::default(),
        }
    }

    #[test]
    fn shape_errors_are_named() {
        let m = |t: &str| match Jws::parse(t) {
            Err(JwsError::Malformed(m)) => m,
            other => panic!("{t}: {:?}", other.map(|_| ())),
        };
        assert_eq!(m(""), Malformed::Empty);
        assert_eq!(m("abc"), Malformed::SegmentCount);
        assert_eq!(m("a.b"), Malformed::SegmentCount);
        assert_eq!(m("a.b.c.d"), Malformed::SegmentCount);
        assert_eq!(m("a.b.c.d.e"), Malformed::Encrypted);
        assert_eq!(m(".b.c"), Malformed::SegmentCount);
        assert_eq!(m("a+b.c.d"), Malformed::Base64);
        assert_eq!(
            m(&format!("{}=.e30.c", enc(r#"{"alg":"RS256"}"#))),
            Malformed::Base64
        );
        assert_eq!(m(&format!("{}.e30.c", enc("[1]"))), Malformed::Header);
        assert_eq!(
            m(&format!("{}.e30.c", enc(r#"{"alg":1}"#))),
            Malformed::Header
        );
    }

    #[test]
    fn duplicate_header_members_are_rejected() {
        assert_eq!(
            header_of(r#"{"alg":"RS256","alg":"none"}"#).unwrap_err(),
            Malformed::DuplicateMember
        );
        assert_eq!(
            header_of(r#"{"alg":"RS256","x":1,"x":2}"#).unwrap_err(),
            Malformed::DuplicateMember
        );
    }

    #[test]
    fn too_many_header_members_are_rejected() {
        let members: Vec<String> = (0..MAX_HEADER_MEMBERS)
            .map(|i| format!("\"m{i}\":0"))
            .collect();
        let at_limit = format!("{{{}}}", members.join(","));
        assert!(header_of(&at_limit).is_ok());
        let over = format!("{{{},\"alg\":\"RS256\"}}", members.join(","));
        assert_eq!(header_of(&over).unwrap_err(), Malformed::Header);
    }

    #[test]
    fn header_checks() {
        let check = |json: &str| {
            let token = format!("{}.e30.c2ln", enc(json));
            Jws::parse(&token)?.check(&rules())
        };
        assert_eq!(check(r#"{"alg":"RS256"}"#), Ok(Algorithm::RS256));
        assert_eq!(
            check(r#"{"alg":"none"}"#),
            Err(JwsError::UnsupportedAlgorithm)
        );
        assert_eq!(
            check(r#"{"alg":"HS256"}"#),
            Err(JwsError::AlgorithmNotAllowed(Algorithm::HS256))
        );
        assert_eq!(
            check(r#"{"typ":"JWT"}"#),
            Err(JwsError::Malformed(Malformed::Header))
        );
        assert_eq!(
            check(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#),
            Err(JwsError::UnsupportedCritical)
        );
        assert_eq!(
            check(r#"{"alg":"RS256","crit":[]}"#),
            Err(JwsError::Malformed(Malformed::Header))
        );
        assert_eq!(
            check(r#"{"alg":"RS256","b64":false}"#),
            Err(JwsError::UnsupportedCritical)
        );
        assert_eq!(check(r#"{"alg":"RS256","b64":true}"#), Ok(Algorithm::RS256));
        assert_eq!(
            check(r#"{"alg":"RS256","typ":"dpop+jwt"}"#),
            Err(JwsError::TypeNotAllowed)
        );
    }

    #[test]
    fn typ_policies() {
        let d = TypPolicy::AccessTokenOrJwt;
        for ok in [
            None,
            Some("JWT"),
            Some("jwt"),
            Some("at+jwt"),
            Some("application/AT+JWT"),
        ] {
            assert!(d.allows(ok), "{ok:?}");
        }
        for bad in [
            Some("id_token+jwt"),
            Some("dpop+jwt"),
            Some(""),
            Some("application/"),
            Some("JWS"),
        ] {
            assert!(!d.allows(bad), "{bad:?}");
        }
        let s = TypPolicy::Rfc9068;
        assert!(s.allows(Some("at+jwt")) && s.allows(Some("application/at+jwt")));
        assert!(!s.allows(None) && !s.allows(Some("JWT")));
        let custom = TypPolicy::OneOf(vec![
            "application/token-introspection+jwt".into(),
            String::new(),
        ]);
        assert!(custom.allows(Some("token-introspection+jwt")));
        assert!(custom.allows(None));
        assert!(!custom.allows(Some("JWT")));
    }

    #[test]
    fn claims_must_be_a_unique_object() {
        assert!(parse_claims(br#"{"a":1}"#).is_ok());
        assert_eq!(
            parse_claims(br#"{"a":1,"a":2}"#).unwrap_err(),
            Malformed::DuplicateMember
        );
        for bad in [&b"[1]"[..], b"\"x\"", b"{", b"{} x", b""] {
            assert_eq!(parse_claims(bad).unwrap_err(), Malformed::Claims);
        }
    }

    #[test]
    fn deeply_nested_claims_fail_cleanly() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse_claims(deep.as_bytes()).unwrap_err(),
            Malformed::Claims
        );
    }
}
