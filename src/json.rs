//! Strict JSON: every document this crate reads from a token or from the
//! network (JOSE headers, claims, JWKS, discovery and introspection answers)
//! must be a completely valid UTF-8 JSON text (RFC 8259 §8.1, RFC 7515 §5.2,
//! RFC 7519 §7.2), including the members nothing reads.
//!
//! serde's `IgnoredAny` skips strings without decoding them, so invalid UTF-8
//! or a lone surrogate escape (`"\ud800"`) in an ignored member would pass
//! unnoticed. [`StrictAny`] visits every value instead, so every string is
//! decoded and checked. A leaf module: it imports nothing from the crate.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Any JSON value, checked and dropped: strings are decoded (valid UTF-8, no
/// lone surrogates), nesting is bounded by serde_json's recursion limit.
pub(crate) struct StrictAny;

impl<'de> Deserialize<'de> for StrictAny {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictAny;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<StrictAny, E> {
        Ok(StrictAny)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<StrictAny, E> {
        Ok(StrictAny)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<StrictAny, E> {
        Ok(StrictAny)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<StrictAny, E> {
        Ok(StrictAny)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<StrictAny, E> {
        Ok(StrictAny)
    }

    fn visit_unit<E: de::Error>(self) -> Result<StrictAny, E> {
        Ok(StrictAny)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictAny, A::Error> {
        while seq.next_element::<StrictAny>()?.is_some() {}
        Ok(StrictAny)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictAny, A::Error> {
        while map.next_entry::<StrictAny, StrictAny>()?.is_some() {}
        Ok(StrictAny)
    }
}

/// Why a document is not a strict JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectError {
    /// Not a complete, valid UTF-8 JSON text whose value is an object.
    NotAnObject,
    /// A top-level member name appears twice.
    DuplicateMember,
}

/// A JSON object with a flag for a repeated top-level member.
struct Object {
    map: Map<String, Value>,
    duplicate: bool,
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Object, A::Error> {
                let mut map = Map::new();
                let mut duplicate = false;
                while let Some((k, v)) = access.next_entry::<String, Value>()? {
                    duplicate |= map.insert(k, v).is_some();
                }
                Ok(Object { map, duplicate })
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses a JSON object whose top-level member names are unique. Every
/// string, nested ones included, is decoded and checked (`Value` keeps them
/// all), and nothing may follow the object but whitespace.
pub(crate) fn parse_object(json: &[u8]) -> Result<Map<String, Value>, ObjectError> {
    let obj: Object = serde_json::from_slice(json).map_err(|_| ObjectError::NotAnObject)?;
    if obj.duplicate {
        return Err(ObjectError::DuplicateMember);
    }
    Ok(obj.map)
}

/// A media type without its `application/` prefix (matched in any letter
/// case, RFC 7515 §4.1.9), when something follows the prefix.
pub(crate) fn strip_application(typ: &str) -> &str {
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

/// A JSON value whose objects, at every depth, have unique member names.
#[cfg(feature = "mcp")]
struct StrictValue(Value);

#[cfg(feature = "mcp")]
impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::Bool(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::String(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::String(v)))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
                let mut items = Vec::new();
                while let Some(StrictValue(v)) = seq.next_element()? {
                    items.push(v);
                }
                Ok(StrictValue(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictValue, A::Error> {
                let mut map = Map::new();
                while let Some((k, StrictValue(v))) = access.next_entry::<String, StrictValue>()? {
                    if map.insert(k, v).is_some() {
                        return Err(serde::de::Error::custom("a member name appears twice"));
                    }
                }
                Ok(StrictValue(Value::Object(map)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a complete UTF-8 JSON text whose objects, at every depth, have
/// unique member names (two parsers that keep different duplicates would
/// disagree on what the text says); `None` otherwise. serde_json bounds the
/// nesting depth (128).
#[cfg(feature = "mcp")]
pub(crate) fn parse_strict(json: &[u8]) -> Option<Value> {
    serde_json::from_slice::<StrictValue>(json)
        .ok()
        .map(|v| v.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_document(json: &[u8]) -> bool {
        serde_json::from_slice::<StrictAny>(json).is_ok()
    }

    #[test]
    fn strict_any_decodes_every_string() {
        assert!(check_document(br#"{"a":[1,"x",{"b":null}],"c":true}"#));
        // serde's IgnoredAny lets most of these through in an ignored member.
        for bad in [
            &b"{\"a\":\"\xff\"}"[..],
            b"{\"a\":\"\xc0\xaf\"}",
            b"{\"a\":\"\xed\xa0\x80\"}",
            b"{\"a\":\"\xe2\x82\"}",
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\udc00x"}"#,
            br#"{"a":["\ud83d"]}"#,
            b"{\"\xff\":1}",
            b"{\"a\":\"\x00\"}",
            b"\xef\xbb\xbf{}",
        ] {
            assert!(!check_document(bad), "{}", String::from_utf8_lossy(bad));
        }
        // A valid surrogate pair is one character.
        assert!(check_document(br#"{"a":"\ud83d\ude00"}"#));
    }

    #[test]
    fn objects_must_be_unique_and_complete() {
        assert!(parse_object(br#"{"a":1}"#).is_ok());
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#),
            Err(ObjectError::DuplicateMember)
        );
        for bad in [
            &b"[1]"[..],
            b"\"x\"",
            b"{",
            b"{} x",
            b"",
            b"{\"a\":\"\xff\"}",
        ] {
            assert_eq!(parse_object(bad), Err(ObjectError::NotAnObject));
        }
    }
}
