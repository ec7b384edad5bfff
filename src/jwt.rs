//! Local validation of JWT access tokens: compact JWS shape, JOSE header
//! checks, key selection and signature, then the claims.
//!
//! The order matters for safety: nothing in the payload is parsed until the
//! signature has verified, and the key is never taken from the token (`jwk`,
//! `jku`, `x5u`, `x5c` and `x5t` header members are ignored).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Malformed, ValidationError};
use crate::json::{self, ObjectError, StrictAny};
use crate::keys::{Algorithm, AlgorithmSet, KeyBinding, KeySet};

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
    fn allows(&self, typ: Option<&str>) -> bool {
        let normalized = typ.map(strip_application);
        let eq = |want: &str| normalized.is_some_and(|t| t.eq_ignore_ascii_case(want));
        match self {
            TypPolicy::AccessTokenOrJwt => normalized.is_none() || eq("at+jwt") || eq("jwt"),
            TypPolicy::Rfc9068 => eq("at+jwt"),
            TypPolicy::OneOf(list) => list.iter().any(|want| {
                if want.is_empty() {
                    normalized.is_none()
                } else {
                    eq(strip_application(want))
                }
            }),
        }
    }
}

/// A media type without its `application/` prefix (matched in any letter
/// case, RFC 7515 §4.1.9), when something follows the prefix.
fn strip_application(typ: &str) -> &str {
    const PREFIX: &str = "application/";
    // `get` rather than slicing: `typ` comes from the token and may hold a
    // multibyte character across the prefix's end.
    match (typ.get(..PREFIX.len()), typ.get(PREFIX.len()..)) {
        (Some(prefix), Some(rest)) if !rest.is_empty() && prefix.eq_ignore_ascii_case(PREFIX) => {
            rest
        }
        _ => typ,
    }
}

/// What the validator checks in a JOSE header.
#[derive(Debug, Clone)]
pub(crate) struct HeaderRules {
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) typ: TypPolicy,
}

/// The JOSE header members this crate acts on.
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub(crate) alg: Option<String>,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    crit: Option<Vec<String>>,
    b64: Option<bool>,
    duplicate: bool,
}

/// A compact JWS split into its parts, header decoded, nothing verified yet.
pub(crate) struct Jws<'a> {
    pub(crate) header: Header,
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

fn b64(segment: &str) -> Result<Vec<u8>, ValidationError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ValidationError::Malformed(Malformed::Base64))
}

impl<'a> Jws<'a> {
    /// Splits a compact JWS (RFC 7515 §7.1) and decodes its header.
    pub(crate) fn parse(token: &'a str) -> Result<Self, ValidationError> {
        if token.is_empty() {
            return Err(ValidationError::Malformed(Malformed::Empty));
        }
        let dots = token.bytes().filter(|b| *b == b'.').count();
        if dots != 2 {
            return Err(ValidationError::Malformed(if dots == 4 {
                Malformed::Encrypted
            } else {
                Malformed::SegmentCount
            }));
        }
        let segments = token
            .rsplit_once('.')
            .and_then(|(input, s)| Some((input, input.split_once('.')?, s)));
        let Some((signing_input, (h, p), s)) = segments else {
            return Err(ValidationError::Malformed(Malformed::SegmentCount));
        };
        // An empty payload is a valid JWS; it fails later as a claims set.
        if h.is_empty() {
            return Err(ValidationError::Malformed(Malformed::SegmentCount));
        }
        let header_json = b64(h)?;
        let header = parse_header(&header_json)?;
        Ok(Jws {
            header,
            signing_input,
            payload: p,
            signature: s,
        })
    }

    /// Applies the header checks: `alg` known and allowed, no unknown `crit`,
    /// no `b64: false`, `typ` allowed. Returns the algorithm.
    pub(crate) fn check_header(&self, rules: &HeaderRules) -> Result<Algorithm, ValidationError> {
        let alg: Algorithm = self
            .header
            .alg
            .as_deref()
            .ok_or(ValidationError::Malformed(Malformed::Header))?
            .parse()
            .map_err(|_| ValidationError::UnsupportedAlgorithm)?;
        if !rules.algorithms.contains(alg) {
            return Err(ValidationError::AlgorithmNotAllowed(alg));
        }
        // RFC 7515 §4.1.11: a recipient that does not understand every name in
        // `crit` must reject the JWS. This validator understands no extension.
        // RFC 7797: `b64: false` changes what was signed; it is not supported.
        if self.header.crit.is_some() || self.header.b64 == Some(false) {
            return Err(ValidationError::UnsupportedCritical);
        }
        if !rules.typ.allows(self.header.typ.as_deref()) {
            return Err(ValidationError::TypeNotAllowed);
        }
        Ok(alg)
    }

    /// Verifies the signature with the key(s) the header's `kid` and `alg`
    /// designate.
    pub(crate) fn verify_signature(
        &self,
        alg: Algorithm,
        keys: &KeySet,
    ) -> Result<KeyBinding, ValidationError> {
        // 8192-bit RSA signatures are 1024 bytes (1366 base64url characters):
        // anything longer is wrong, and is not decoded.
        if self.signature.len() > 1366 {
            return Err(ValidationError::InvalidSignature);
        }
        let signature = b64(self.signature)?;
        keys.verify(
            self.header.kid.as_deref(),
            alg,
            self.signing_input.as_bytes(),
            &signature,
        )
    }

    /// The decoded payload. Call only after the signature verified.
    pub(crate) fn payload(&self) -> Result<Vec<u8>, ValidationError> {
        b64(self.payload)
    }

    /// Decodes the claims object. Call only after the signature verified.
    pub(crate) fn claims(&self) -> Result<Map<String, Value>, ValidationError> {
        parse_claims(&self.payload()?)
    }
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

fn parse_header(json: &[u8]) -> Result<Header, ValidationError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let header = (&mut de)
        .deserialize_map(HeaderVisitor)
        .and_then(|h| de.end().map(|()| h))
        .map_err(|_| ValidationError::Malformed(Malformed::Header))?;
    if header.duplicate {
        // RFC 7515 §5.2 step 4: reject duplicate header parameter names.
        return Err(ValidationError::Malformed(Malformed::DuplicateMember));
    }
    // RFC 7515 §4.1.11: `crit`, when present, is a non-empty list.
    if header.crit.as_ref().is_some_and(Vec::is_empty) {
        return Err(ValidationError::Malformed(Malformed::Header));
    }
    Ok(header)
}

/// Parses a JWT claims set: a JSON object whose member names are unique
/// (RFC 7519 §4: a parser must reject duplicates or keep the last; this one
/// rejects), every string in it valid (RFC 7519 §7.2).
pub(crate) fn parse_claims(json: &[u8]) -> Result<Map<String, Value>, ValidationError> {
    json::parse_object(json).map_err(|e| {
        ValidationError::Malformed(match e {
            ObjectError::NotAnObject => Malformed::Claims,
            ObjectError::DuplicateMember => Malformed::DuplicateMember,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn header_of(json: &str) -> Result<Header, ValidationError> {
        let token = format!("{}.{}.sig", enc(json), enc("{}"));
        Jws::parse(&token).map(|j| j.header)
    }

    #[test]
    fn shape_errors_are_named() {
        let m = |t: &str| match Jws::parse(t) {
            Err(ValidationError::Malformed(m)) => m,
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
            ValidationError::Malformed(Malformed::DuplicateMember)
        );
        assert_eq!(
            header_of(r#"{"alg":"RS256","x":1,"x":2}"#).unwrap_err(),
            ValidationError::Malformed(Malformed::DuplicateMember)
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
        assert_eq!(
            header_of(&over).unwrap_err(),
            ValidationError::Malformed(Malformed::Header)
        );
    }

    #[test]
    fn header_checks() {
        let rules = HeaderRules {
            algorithms: AlgorithmSet::asymmetric(),
            typ: TypPolicy::default(),
        };
        let check = |json: &str| {
            let token = format!("{}.e30.c2ln", enc(json));
            Jws::parse(&token)?.check_header(&rules)
        };
        assert_eq!(check(r#"{"alg":"RS256"}"#), Ok(Algorithm::RS256));
        assert_eq!(
            check(r#"{"alg":"none"}"#),
            Err(ValidationError::UnsupportedAlgorithm)
        );
        assert_eq!(
            check(r#"{"alg":"HS256"}"#),
            Err(ValidationError::AlgorithmNotAllowed(Algorithm::HS256))
        );
        assert_eq!(
            check(r#"{"typ":"JWT"}"#),
            Err(ValidationError::Malformed(Malformed::Header))
        );
        assert_eq!(
            check(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#),
            Err(ValidationError::UnsupportedCritical)
        );
        assert_eq!(
            check(r#"{"alg":"RS256","crit":[]}"#),
            Err(ValidationError::Malformed(Malformed::Header))
        );
        assert_eq!(
            check(r#"{"alg":"RS256","b64":false}"#),
            Err(ValidationError::UnsupportedCritical)
        );
        assert_eq!(check(r#"{"alg":"RS256","b64":true}"#), Ok(Algorithm::RS256));
        assert_eq!(
            check(r#"{"alg":"RS256","typ":"dpop+jwt"}"#),
            Err(ValidationError::TypeNotAllowed)
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
            ValidationError::Malformed(Malformed::DuplicateMember)
        );
        for bad in [&b"[1]"[..], b"\"x\"", b"{", b"{} x", b""] {
            assert_eq!(
                parse_claims(bad).unwrap_err(),
                ValidationError::Malformed(Malformed::Claims)
            );
        }
    }

    #[test]
    fn deeply_nested_claims_fail_cleanly() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse_claims(deep.as_bytes()).unwrap_err(),
            ValidationError::Malformed(Malformed::Claims)
        );
    }
}
