//! Roles and permissions: authorization data besides scopes, where each
//! provider puts it ([`RoleSource`]), read into a [`Roles`] set.

use std::fmt;

use serde_json::{Map, Value};

/// Where a provider puts roles (or permissions) in its access tokens.
///
/// | provider | roles | permissions |
/// |---|---|---|
/// | RFC 9068 §2.2.3.1, Microsoft Entra (app roles) | `Claim("roles")` | |
/// | Auth0 (RBAC) | | `Claim("permissions")` |
/// | Keycloak | `KeycloakRealm`, `KeycloakClient("api")` | |
/// | AWS Cognito | `CognitoGroups` | |
/// | ZITADEL | `Zitadel` | |
/// | anything else | `Pointer("/path/to/array")` | |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleSource {
    /// A top-level claim: an array of strings, or one space-separated string.
    Claim(String),
    /// An RFC 6901 JSON pointer to an array of strings or a space-separated
    /// string, e.g. `/realm_access/roles`.
    Pointer(String),
    /// Keycloak's realm roles: `realm_access.roles`.
    KeycloakRealm,
    /// Keycloak's roles of one client: `resource_access.<client>.roles`.
    KeycloakClient(String),
    /// AWS Cognito's user-pool groups: `cognito:groups`.
    CognitoGroups,
    /// ZITADEL's project roles: the keys of the
    /// `urn:zitadel:iam:org:project:roles` object, and of every
    /// `urn:zitadel:iam:org:project:<project id>:roles` object.
    Zitadel,
}

/// The name under which a malformed source is reported.
pub(crate) const ROLES: &str = "roles";
/// The name under which a malformed permissions source is reported.
pub(crate) const PERMISSIONS: &str = "permissions";

const ZITADEL_PREFIX: &str = "urn:zitadel:iam:org:project:";

impl RoleSource {
    /// Adds the roles this source finds in `claims`; `Err` when the source
    /// is present with the wrong type (for a source the issuer configured,
    /// the token is then refused: its
    /// authorization data cannot be read).
    fn collect(&self, claims: &Map<String, Value>, out: &mut Vec<String>) -> Result<(), ()> {
        match self {
            RoleSource::Claim(name) => list(claims.get(name), out),
            RoleSource::Pointer(pointer) => list(resolve(claims, pointer), out),
            RoleSource::KeycloakRealm => {
                list(claims.get("realm_access").and_then(|r| r.get("roles")), out)
            }
            RoleSource::KeycloakClient(client) => list(
                claims
                    .get("resource_access")
                    .and_then(|r| r.get(client))
                    .and_then(|c| c.get("roles")),
                out,
            ),
            RoleSource::CognitoGroups => list(claims.get("cognito:groups"), out),
            RoleSource::Zitadel => {
                for (name, value) in claims {
                    let zitadel_roles = name
                        .strip_prefix(ZITADEL_PREFIX)
                        .is_some_and(|rest| rest == "roles" || rest.ends_with(":roles"));
                    if zitadel_roles {
                        // { "role": { "<org id>": "<org domain>" }, ... }
                        let Value::Object(roles) = value else {
                            return Err(());
                        };
                        out.extend(roles.keys().cloned());
                    }
                }
                Ok(())
            }
        }
    }
}

/// The value at an RFC 6901 JSON pointer into the claims object.
fn resolve<'a>(claims: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    let rest = pointer.strip_prefix('/')?;
    let (first, tail) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let value = claims.get(&first.replace("~1", "/").replace("~0", "~"))?;
    if tail.is_empty() {
        Some(value)
    } else {
        value.pointer(tail)
    }
}

/// An array of strings, or a space-separated string; absent or `null` is
/// nothing.
fn list(value: Option<&Value>, out: &mut Vec<String>) -> Result<(), ()> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => {
            out.extend(s.split(' ').filter(|r| !r.is_empty()).map(str::to_owned));
            Ok(())
        }
        Some(Value::Array(items)) => {
            for item in items {
                out.push(item.as_str().ok_or(())?.to_owned());
            }
            Ok(())
        }
        Some(_) => Err(()),
    }
}

/// Reads every source into one set.
pub(crate) fn read(sources: &[RoleSource], claims: &Map<String, Value>) -> Result<Roles, ()> {
    let mut out = Vec::new();
    for source in sources {
        source.collect(claims, &mut out)?;
    }
    out.sort_unstable();
    out.dedup();
    Ok(Roles(out.into_boxed_slice()))
}

/// A set of roles or permissions, case-sensitive, each compared whole.
///
/// ```
/// use bearer_guard::claims::Roles;
/// let roles = Roles::from_iter(["admin", "ops"]);
/// assert!(roles.contains("ops") && !roles.contains("Ops"));
/// assert!(roles.contains_any(["billing", "admin"]));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Roles(Box<[String]>);

impl Roles {
    /// Whether `role` is in the set.
    pub fn contains(&self, role: &str) -> bool {
        self.0.binary_search_by(|r| r.as_str().cmp(role)).is_ok()
    }

    /// Whether every role in `roles` is in the set.
    pub fn contains_all<'a>(&self, roles: impl IntoIterator<Item = &'a str>) -> bool {
        roles.into_iter().all(|r| self.contains(r))
    }

    /// Whether at least one role in `roles` is in the set.
    pub fn contains_any<'a>(&self, roles: impl IntoIterator<Item = &'a str>) -> bool {
        roles.into_iter().any(|r| self.contains(r))
    }

    /// The roles, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of roles.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> FromIterator<&'a str> for Roles {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut v: Vec<String> = iter.into_iter().map(str::to_owned).collect();
        v.sort_unstable();
        v.dedup();
        Roles(v.into_boxed_slice())
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roles(sources: &[RoleSource], claims: Value) -> Result<Vec<String>, ()> {
        let Value::Object(map) = claims else {
            return Err(());
        };
        read(sources, &map).map(|r| r.0.into_vec())
    }

    #[test]
    fn each_provider_shape_is_read() {
        let claims = json!({
            "roles": ["Reader", "Writer"],
            "realm_access": {"roles": ["offline_access", "admin"]},
            "resource_access": {"api": {"roles": ["charge"]}, "other": {"roles": ["x"]}},
            "cognito:groups": ["ops"],
            "urn:zitadel:iam:org:project:roles": {"editor": {"123": "acme.zitadel.cloud"}},
            "urn:zitadel:iam:org:project:456:roles": {"viewer": {"123": "acme"}},
            "nested": {"perms": "a b"},
        });
        assert_eq!(
            roles(&[RoleSource::Claim("roles".into())], claims.clone()),
            Ok(vec!["Reader".into(), "Writer".into()])
        );
        assert_eq!(
            roles(
                &[
                    RoleSource::KeycloakRealm,
                    RoleSource::KeycloakClient("api".into())
                ],
                claims.clone()
            ),
            Ok(vec![
                "admin".into(),
                "charge".into(),
                "offline_access".into()
            ])
        );
        assert_eq!(
            roles(&[RoleSource::CognitoGroups], claims.clone()),
            Ok(vec!["ops".into()])
        );
        assert_eq!(
            roles(&[RoleSource::Zitadel], claims.clone()),
            Ok(vec!["editor".into(), "viewer".into()])
        );
        assert_eq!(
            roles(
                &[RoleSource::Pointer("/nested/perms".into())],
                claims.clone()
            ),
            Ok(vec!["a".into(), "b".into()])
        );
        // Absent sources are no roles; another client's roles are not ours.
        assert_eq!(
            roles(&[RoleSource::KeycloakClient("missing".into())], claims),
            Ok(vec![])
        );
    }

    #[test]
    fn a_malformed_source_is_an_error() {
        for claims in [
            json!({"roles": 5}),
            json!({"roles": ["a", 1]}),
            json!({"roles": {"a": true}}),
        ] {
            assert_eq!(roles(&[RoleSource::Claim("roles".into())], claims), Err(()));
        }
        assert_eq!(
            roles(
                &[RoleSource::Zitadel],
                json!({"urn:zitadel:iam:org:project:roles": ["a"]})
            ),
            Err(())
        );
    }

    #[test]
    fn roles_compare_whole_and_case_sensitive() {
        let r = Roles::from_iter(["admin", "ops", "admin"]);
        assert_eq!(r.len(), 2);
        assert!(r.contains("admin") && !r.contains("Admin") && !r.contains("adm"));
        assert!(r.contains_all(["ops", "admin"]) && !r.contains_all(["ops", "x"]));
    }
}
