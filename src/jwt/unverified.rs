//! A token decoded **without verifying anything**, for diagnostics: to show
//! a person what a token says, including a token the validator refuses.
//!
//! Nothing here is checked: not the signature, not the issuer, not the
//! times. A decision never rests on it; [`Validator::validate`] is the only
//! way to trust a token. Unlike the validator, this reader is lenient where
//! a diagnosis needs it to be: it keeps repeated member names (and says
//! which they are), any number of members, `alg: none`, an empty signature.
//!
//! [`Validator::validate`]: crate::Validator::validate

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// Decodes `token` **without verifying it**: what kind of token it is and,
/// for a compact JWS, its header and claims as written.
///
/// The input is the bare token (no `Bearer ` scheme). Everything it holds
/// is decoded, so bound its length first (the validator refuses tokens
/// over [`DEFAULT_MAX_TOKEN_SIZE`](crate::limits::DEFAULT_MAX_TOKEN_SIZE)
/// before decoding them). JSON nesting is bounded (serde_json's recursion
/// limit): a deeply nested token is an error, not a stack overflow.
///
/// ```
/// use bearer_guard::jwt::{UnverifiedToken, decode_unverified};
///
/// // {"alg":"none"}.{"sub":"alice","sub":"mallory"}.
/// let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsInN1YiI6Im1hbGxvcnkifQ.";
/// let UnverifiedToken::Jws(jws) = decode_unverified(token)? else { panic!("a JWS") };
/// assert_eq!(jws.header().get_str("alg"), Some("none")); // refused by any validator
/// assert_eq!(jws.claims().get_str("sub"), Some("alice"));
/// assert_eq!(jws.claims().duplicates(), ["sub"]);           // so is this
/// assert_eq!(jws.signature_len(), 0);
///
/// assert!(matches!(decode_unverified("2YotnFZFEjr1zCsicMWpAA")?, UnverifiedToken::Opaque));
/// # Ok::<(), bearer_guard::jwt::UnverifiedError>(())
/// ```
pub fn decode_unverified(token: &str) -> Result<UnverifiedToken, UnverifiedError> {
    if token.is_empty() {
        return Err(UnverifiedError::Empty);
    }
    if let Some((at, character)) = token.char_indices().find(|(_, c)| !token_char(*c)) {
        return Err(UnverifiedError::NotTokenCharacter { at, character });
    }
    let segments: Vec<&str> = token.split('.').collect();
    match segments.as_slice() {
        [header, payload, signature] => {
            if header.is_empty() {
                return Err(UnverifiedError::EmptySegment(Segment::Header));
            }
            let header = decode_object(header, Segment::Header)?;
            let claims = decode_object(payload, Segment::Payload)?;
            let signature_len = decode(signature, Segment::Signature)?.len();
            Ok(UnverifiedToken::Jws(UnverifiedJws {
                header,
                claims,
                signature_len,
            }))
        }
        [header, _, _, _, _] => Ok(UnverifiedToken::Jwe(decode_object(
            header,
            Segment::JweHeader,
        )?)),
        _ => Ok(UnverifiedToken::Opaque),
    }
}

/// What a token is, read by [`decode_unverified`]. **Not verified.**
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UnverifiedToken {
    /// A compact JWS (three segments): its header and claims, as written.
    Jws(UnverifiedJws),
    /// An encrypted JWT (JWE, five segments): only its protected header can
    /// be read without the decryption key. The validator refuses these
    /// ([`Malformed::Encrypted`](super::Malformed::Encrypted)).
    Jwe(Members),
    /// Not a JWT: an opaque token, whose meaning only its authorization
    /// server knows (it is checked by introspection, RFC 7662).
    Opaque,
}

/// A compact JWS decoded without verifying it: nothing it says is proven.
#[derive(Debug, Clone, PartialEq)]
pub struct UnverifiedJws {
    header: Members,
    claims: Members,
    signature_len: usize,
}

impl UnverifiedJws {
    /// The JOSE header's members. Unverified.
    pub fn header(&self) -> &Members {
        &self.header
    }

    /// The claims' members. Unverified.
    pub fn claims(&self) -> &Members {
        &self.claims
    }

    /// The decoded signature's length in bytes (0: an unsigned token).
    pub fn signature_len(&self) -> usize {
        self.signature_len
    }
}

/// A JSON object's members as the token wrote them: in document order,
/// repeated names included (the validator refuses a token that repeats a
/// name; [`duplicates`](Self::duplicates) says which).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members(Vec<(String, Value)>);

impl Members {
    /// Every member, in document order, repeats included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// The number of members, repeats included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the object is `{}`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of the first member named `name`; `None` when there is
    /// none or it is `null` (the validator counts a `null` claim as absent).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// [`get`](Self::get) when the value is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// The names that appear more than once, each once, in the order of
    /// their first repetition. Linear in the number of members.
    pub fn duplicates(&self) -> Vec<&str> {
        let mut seen: HashSet<&str> = HashSet::with_capacity(self.0.len());
        let mut reported: HashSet<&str> = HashSet::new();
        let mut repeated = Vec::new();
        for (name, _) in &self.0 {
            let name = name.as_str();
            if !seen.insert(name) && reported.insert(name) {
                repeated.push(name);
            }
        }
        repeated
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// A part of a token, named in an [`UnverifiedError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Segment {
    /// A JWS's first segment, the JOSE header.
    Header,
    /// A JWS's second segment, the claims.
    Payload,
    /// A JWS's third segment, the signature.
    Signature,
    /// A JWE's first segment, its protected header.
    JweHeader,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Header => "header (first segment)",
            Segment::Payload => "payload (second segment)",
            Segment::Signature => "signature (third segment)",
            Segment::JweHeader => "JWE header",
        })
    }
}

/// Why [`decode_unverified`] could not read a token. The text quotes one
/// character of the input at most.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnverifiedError {
    /// The input is empty.
    #[error("no token: the input is empty")]
    Empty,
    /// A character no token has (RFC 6750 `b64token`: letters, digits,
    /// `-._~+/` and `=`).
    #[error(
        "not an access token: {character:?} at byte {at} is not a token character (RFC 6750 b64token)"
    )]
    NotTokenCharacter {
        /// Its byte offset.
        at: usize,
        /// The character.
        character: char,
    },
    /// A segment that must not be empty is.
    #[error("malformed JWT: the {0} is empty")]
    EmptySegment(Segment),
    /// A segment is not unpadded base64url (RFC 7515 §2).
    #[error("malformed JWT: the {0} is not unpadded base64url")]
    Base64(Segment),
    /// A segment decodes to something other than a JSON object.
    #[error("malformed JWT: the {segment} is not a JSON object (at line {line} column {column})")]
    NotAnObject {
        /// Which segment.
        segment: Segment,
        /// Where in its decoded text the JSON reader stopped (1-based).
        line: usize,
        /// The column on that line (1-based; 0 at the start of a line).
        column: usize,
    },
}

/// Whether `c` may appear in a token: RFC 6750 §2.1 `b64token`, which
/// covers JWTs and the usual opaque formats.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')
}

fn decode(segment: &str, which: Segment) -> Result<Vec<u8>, UnverifiedError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| UnverifiedError::Base64(which))
}

fn decode_object(segment: &str, which: Segment) -> Result<Members, UnverifiedError> {
    let bytes = decode(segment, which)?;
    // Not the error's text: serde_json's may quote the input.
    serde_json::from_slice::<Members>(&bytes).map_err(|e| UnverifiedError::NotAnObject {
        segment: which,
        line: e.line(),
        column: e.column(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn a_jws_is_read_as_written_repeats_and_order_kept() {
        let token = format!(
            "{}.{}.c2ln",
            enc(r#"{"kid":"k","alg":"RS256","kid":"j"}"#),
            enc(r#"{"b":1,"a":null,"a":2}"#)
        );
        let UnverifiedToken::Jws(jws) = decode_unverified(&token).unwrap() else {
            panic!("a JWS")
        };
        let names: Vec<&str> = jws.header().iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["kid", "alg", "kid"]);
        assert_eq!(jws.header().get_str("kid"), Some("k"));
        assert_eq!(jws.header().duplicates(), ["kid"]);
        // The first `a` is null: absent, as the validator counts it.
        assert_eq!(jws.claims().get("a"), None);
        assert_eq!(jws.claims().len(), 3);
        assert_eq!(jws.signature_len(), 3);
    }

    #[test]
    fn duplicates_are_found_once_each() {
        let members = Members(
            ["a", "b", "a", "c", "a", "b"]
                .iter()
                .map(|n| ((*n).to_owned(), Value::Null))
                .collect(),
        );
        assert_eq!(members.duplicates(), ["a", "b"]);
    }

    #[test]
    fn kinds_and_errors_are_named() {
        assert!(matches!(
            decode_unverified("abc"),
            Ok(UnverifiedToken::Opaque)
        ));
        assert!(matches!(
            decode_unverified(&format!("{}.a.b.c.d", enc(r#"{"alg":"RSA-OAEP"}"#))),
            Ok(UnverifiedToken::Jwe(h)) if h.get_str("alg") == Some("RSA-OAEP")
        ));
        assert_eq!(decode_unverified(""), Err(UnverifiedError::Empty));
        assert_eq!(
            decode_unverified("a b"),
            Err(UnverifiedError::NotTokenCharacter {
                at: 1,
                character: ' '
            })
        );
        assert_eq!(
            decode_unverified(".e30.c2ln"),
            Err(UnverifiedError::EmptySegment(Segment::Header))
        );
        assert_eq!(
            decode_unverified("e30.e30.c2ln="),
            Err(UnverifiedError::Base64(Segment::Signature))
        );
        let err = decode_unverified(&format!("{}.e30.", enc(r#""secret""#))).unwrap_err();
        assert!(matches!(
            err,
            UnverifiedError::NotAnObject {
                segment: Segment::Header,
                ..
            }
        ));
        // The text does not quote the input.
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().starts_with("malformed JWT: the header"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let token = format!("{}.{}.", enc("{}"), enc(&deep));
        assert!(matches!(
            decode_unverified(&token),
            Err(UnverifiedError::NotAnObject {
                segment: Segment::Payload,
                ..
            })
        ));
    }
}
