//! Values written as strings (algorithms, role sources, `typ`, policies,
//! client authentication methods), shared by the document's deserializers
//! and the environment reader.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::claims::RoleSource;
use crate::introspection::TokenPolicy;
use crate::jwt::TypPolicy;
use crate::keys::Algorithm;

pub(super) fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse().map_err(|_| {
        format!(
            "unknown algorithm {s:?} (one of {}; names are case-sensitive)",
            Algorithm::ALL.map(Algorithm::as_str).join(", ")
        )
    })
}

pub(super) fn parse_role_source(spec: &str) -> Result<RoleSource, String> {
    Ok(match spec.split_once(':') {
        Some(("claim", name)) if !name.is_empty() => RoleSource::Claim(name.to_owned()),
        Some(("pointer", pointer)) if pointer.starts_with('/') => {
            RoleSource::Pointer(pointer.to_owned())
        }
        Some(("keycloak-client", client)) if !client.is_empty() => {
            RoleSource::KeycloakClient(client.to_owned())
        }
        None if spec == "keycloak-realm" => RoleSource::KeycloakRealm,
        None if spec == "cognito-groups" => RoleSource::CognitoGroups,
        None if spec == "zitadel" => RoleSource::Zitadel,
        _ => {
            return Err(format!(
                "unknown role source {spec:?} (claim:NAME, pointer:/JSON/POINTER, keycloak-realm, keycloak-client:ID, cognito-groups or zitadel)"
            ));
        }
    })
}

pub(super) fn parse_typ(value: OneOrMany) -> Result<TypPolicy, String> {
    match value {
        OneOrMany::One(s) if s == "default" => Ok(TypPolicy::AccessTokenOrJwt),
        OneOrMany::One(s) if s == "rfc9068" => Ok(TypPolicy::Rfc9068),
        OneOrMany::One(s) => Err(format!(
            "unknown typ policy {s:?}: \"default\", \"rfc9068\", or a list of types ([{s:?}])"
        )),
        OneOrMany::Many(list) if list.is_empty() => Err(
            "an empty typ list accepts no token (\"none\" in the list accepts tokens without typ)"
                .to_owned(),
        ),
        OneOrMany::Many(list) => list
            .into_iter()
            .map(|t| {
                if t.trim().is_empty() {
                    // Written on purpose or left by a stray comma: only the
                    // explicit `none` accepts tokens without `typ`.
                    Err(
                        "an empty type in the typ list: write \"none\" to accept tokens without typ"
                            .to_owned(),
                    )
                } else if t.eq_ignore_ascii_case("none") {
                    Ok(String::new())
                } else {
                    Ok(t)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TypPolicy::OneOf),
    }
}

pub(super) fn parse_token_policy(s: &str) -> Result<TokenPolicy, String> {
    match s {
        "jwt-then-introspect" => Ok(TokenPolicy::JwtThenIntrospect),
        "introspect-all" => Ok(TokenPolicy::IntrospectAll),
        _ => Err(format!(
            "unknown introspection policy {s:?} (\"jwt-then-introspect\" or \"introspect-all\")"
        )),
    }
}

/// A string or a list of strings.
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;

        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    out.push(item);
                }
                Ok(OneOrMany::Many(out))
            }
        }

        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

pub(super) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(OneOrMany::deserialize(d)?.into_vec())
}

pub(super) fn some_strings<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    strings(d).map(Some)
}

pub(super) fn some_algorithms<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Algorithm>>, D::Error> {
    strings(d)?
        .iter()
        .map(|s| parse_algorithm(s))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(de::Error::custom)
}

pub(super) fn some_algorithm<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Algorithm>, D::Error> {
    parse_algorithm(&String::deserialize(d)?)
        .map(Some)
        .map_err(de::Error::custom)
}

pub(super) fn role_sources<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RoleSource>, D::Error> {
    strings(d)?
        .iter()
        .map(|s| parse_role_source(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(de::Error::custom)
}

pub(super) fn some_typ<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TypPolicy>, D::Error> {
    parse_typ(OneOrMany::deserialize(d)?)
        .map(Some)
        .map_err(de::Error::custom)
}

pub(super) fn some_token_policy<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<TokenPolicy>, D::Error> {
    parse_token_policy(&String::deserialize(d)?)
        .map(Some)
        .map_err(de::Error::custom)
}

/// A JWKS as JSON text, or as a structured value turned into JSON text.
pub(super) fn some_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }))
}
