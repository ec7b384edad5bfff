//! Per-route requirements beyond scopes: roles, permissions, predicates over
//! the claims, and their combinations, with [`RequireLayer`].
//!
//! A route that needs scopes answers 403 `insufficient_scope` with the
//! `scope` attribute (RFC 6750 §3.1); one that needs a role, a permission
//! or a predicate answers a plain 403: the token is valid, and RFC 6750's
//! error codes are about scopes.
//!
//! ```
//! use axum::{Router, routing::post};
//! use bearer_guard::{RequireLayer, Requirement};
//!
//! // `refund` scope, and either the `billing-admin` role or a tenant of `acme`.
//! let refunds = Requirement::scopes_all(["refund"]).and(
//!     Requirement::roles_any(["billing-admin"]).or(Requirement::predicate(
//!         "tenant is acme",
//!         |claims| claims.get("tenant").and_then(|t| t.as_str()) == Some("acme"),
//!     )),
//! );
//! let app: Router = Router::new()
//!     .route("/refund", post(|| async { "refunded" }))
//!     .route_layer(RequireLayer::new(refunds));
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::response::{AuthError, check_realm};
use super::scope::ScopeRequirement;
use crate::claims::{Claims, Roles};
use crate::validator::{BuildError, ValidationError};

type Predicate = Arc<dyn Fn(&Claims) -> bool + Send + Sync>;

#[derive(Clone)]
enum Node {
    Scopes(ScopeRequirement),
    Roles {
        names: Vec<String>,
        all: bool,
    },
    Permissions {
        names: Vec<String>,
        all: bool,
    },
    Predicate {
        name: Arc<str>,
        test: Predicate,
    },
    /// The token must be sender-constrained: bound to a DPoP key (and so
    /// presented with its proof), or to a client certificate.
    Bound {
        dpop: bool,
    },
    /// RFC 9470: how the user authenticated (`acr` one of these) and how
    /// long ago (`auth_time` within `max_age` seconds).
    Authentication {
        acr_values: Option<Vec<String>>,
        max_age: Option<u64>,
    },
    All(Vec<Node>),
    Any(Vec<Node>),
}

/// What a route needs of a verified token: scopes, roles, permissions,
/// predicates over the claims, combined with [`and`](Self::and) and
/// [`or`](Self::or).
#[derive(Clone)]
pub struct Requirement(Node);

/// A requirement not met.
enum Unmet {
    /// Scopes are missing: the `scope` attribute of the challenge.
    Scopes(String),
    /// The user must authenticate again (RFC 9470): the attributes of the
    /// challenge.
    StepUp {
        acr_values: Option<String>,
        max_age: Option<u64>,
    },
    /// The token is not bound as the route requires: a 401 on the scheme
    /// that would have bound it.
    Binding(ValidationError),
    /// Something else, described for logs.
    Other(String),
}

impl Unmet {
    fn describe(&self) -> String {
        match self {
            Unmet::Scopes(s) => format!("scopes: {s}"),
            Unmet::StepUp {
                acr_values,
                max_age,
            } => format!("authentication: acr {acr_values:?}, max_age {max_age:?}"),
            Unmet::Binding(e) => format!("binding: {e}"),
            Unmet::Other(o) => o.clone(),
        }
    }
}

/// The names of a role, permission or `acr` requirement: at least one.
fn names<I, T>(names: I) -> Result<Vec<String>, BuildError>
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    let names: Vec<String> = names.into_iter().map(Into::into).collect();
    if names.is_empty() {
        return Err(BuildError::EmptyRequirement);
    }
    Ok(names)
}

/// The value of a constructor made for literals (as `axum::Router::route`
/// and `http::HeaderValue::from_static` are): a mistake in it is a bug in
/// the program, reported where it is made, at start-up, with its reason.
/// Values read at run time go through the `try_` constructors instead.
#[allow(clippy::panic)] // Documented `# Panics` of literal-only constructors.
#[track_caller]
pub(crate) fn literal<T>(value: Result<T, BuildError>) -> T {
    match value {
        Ok(value) => value,
        Err(e) => panic!("bearer-guard: {e}"),
    }
}

/// For the debug log of a refusal: a token with no roles (permissions) at
/// all was most likely read at the wrong place (a Keycloak token's roles
/// are not in the default `roles` claim).
fn none_found(set: &Roles, setting: &str) -> String {
    if set.is_empty() {
        format!(
            " (the token has none where its issuer reads them: see Issuer::{setting}, RoleSource)"
        )
    } else {
        String::new()
    }
}

fn has(set: &Roles, names: &[String], all: bool) -> bool {
    let mut listed = names.iter().map(String::as_str);
    if all {
        set.contains_all(listed)
    } else {
        listed.any(|n| set.contains(n))
    }
}

impl Node {
    /// The scopes a client should ask for to meet this node, into `out`
    /// (deduplicated): all of an "all" list, the first of an "any" list or
    /// of the alternatives of [`or`](Requirement::or) that names any.
    fn scope_hint<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Scopes(scopes) => {
                let listed = scopes.scopes();
                let take = if scopes.needs_all() { listed.len() } else { 1 };
                for s in listed.iter().take(take) {
                    if !out.contains(&s.as_str()) {
                        out.push(s);
                    }
                }
            }
            Node::All(nodes) => nodes.iter().for_each(|n| n.scope_hint(out)),
            Node::Any(nodes) => {
                for n in nodes {
                    let before = out.len();
                    n.scope_hint(out);
                    if out.len() > before {
                        break;
                    }
                }
            }
            _ => {}
        }
    }

    fn check(&self, claims: &Claims) -> Result<(), Unmet> {
        let quantifier = |all: bool| if all { "all of" } else { "one of" };
        match self {
            Node::Scopes(scopes) => {
                if scopes.is_satisfied_by(claims.scopes()) {
                    Ok(())
                } else {
                    Err(Unmet::Scopes(scopes.scopes().join(" ")))
                }
            }
            Node::Roles { names, all } => {
                if has(claims.roles(), names, *all) {
                    Ok(())
                } else {
                    Err(Unmet::Other(format!(
                        "roles: {} {names:?}{}",
                        quantifier(*all),
                        none_found(claims.roles(), "roles_from")
                    )))
                }
            }
            Node::Permissions { names, all } => {
                if has(claims.permissions(), names, *all) {
                    Ok(())
                } else {
                    Err(Unmet::Other(format!(
                        "permissions: {} {names:?}{}",
                        quantifier(*all),
                        none_found(claims.permissions(), "permissions_from")
                    )))
                }
            }
            Node::Predicate { name, test } => {
                if test(claims) {
                    Ok(())
                } else {
                    Err(Unmet::Other(format!("predicate: {name}")))
                }
            }
            Node::Bound { dpop: true } => match claims.dpop_thumbprint() {
                Some(_) => Ok(()),
                None => Err(Unmet::Binding(ValidationError::DpopRequired)),
            },
            Node::Bound { dpop: false } => match claims.certificate_thumbprint() {
                Some(_) => Ok(()),
                None => Err(Unmet::Binding(ValidationError::CertificateMismatch)),
            },
            Node::Authentication {
                acr_values,
                max_age,
            } => {
                let acr_ok = acr_values.as_ref().is_none_or(|values| {
                    claims
                        .get("acr")
                        .and_then(|v| v.as_str())
                        .is_some_and(|acr| values.iter().any(|v| v == acr))
                });
                let age_ok = max_age.is_none_or(|max| {
                    let auth_time = claims.auth_time();
                    // The validator's clock, and its leeway for clock
                    // skew, as for `iat`.
                    let oldest = claims
                        .now()
                        .saturating_sub(i64::try_from(max).unwrap_or(i64::MAX))
                        .saturating_sub(claims.leeway_secs());
                    auth_time.is_some_and(|t| t >= oldest)
                });
                if acr_ok && age_ok {
                    Ok(())
                } else {
                    Err(Unmet::StepUp {
                        acr_values: acr_values.as_ref().map(|v| v.join(" ")),
                        max_age: *max_age,
                    })
                }
            }
            Node::All(nodes) => {
                // Every part is checked: a missing scope is
                // `insufficient_scope` only when nothing else is missing
                // too (more scopes would not help a token lacking a role).
                let unmet: Vec<Unmet> =
                    nodes.iter().filter_map(|n| n.check(claims).err()).collect();
                if unmet.is_empty() {
                    return Ok(());
                }
                // A user who must log in again does so first (RFC 9470):
                // the new token may carry what else is missing.
                // A token that is not bound as required is refused as a
                // token (401): nothing else about it matters.
                if let Some(Unmet::Binding(e)) =
                    unmet.iter().find(|u| matches!(u, Unmet::Binding(_)))
                {
                    return Err(Unmet::Binding(e.clone()));
                }
                // The challenge names every authentication requirement of
                // the route, met ones included: the new login must meet
                // them all.
                if unmet.iter().any(|u| matches!(u, Unmet::StepUp { .. })) {
                    let (mut acr_values, mut max_age) = (None, None);
                    self.authentication(&mut acr_values, &mut max_age);
                    return Err(Unmet::StepUp {
                        acr_values,
                        max_age,
                    });
                }
                if unmet.iter().all(|u| matches!(u, Unmet::Scopes(_))) {
                    // The challenge names every scope the route needs
                    // (RFC 6750 §3: the scope necessary to access the
                    // resource), met ones included, as `all([..])` does.
                    let mut scopes = Vec::new();
                    self.scope_names(&mut scopes);
                    return Err(Unmet::Scopes(scopes.join(" ")));
                }
                let parts: Vec<String> = unmet.iter().map(Unmet::describe).collect();
                Err(Unmet::Other(parts.join(" and ")))
            }
            Node::Any(nodes) => {
                let mut unmet = Vec::with_capacity(nodes.len());
                for node in nodes {
                    match node.check(claims) {
                        Ok(()) => return Ok(()),
                        Err(u) => unmet.push(u),
                    }
                }
                // Every alternative is a binding: refused as a token.
                if let Some(Unmet::Binding(e)) = unmet.first()
                    && unmet.iter().all(|u| matches!(u, Unmet::Binding(_)))
                {
                    return Err(Unmet::Binding(e.clone()));
                }
                // All alternatives are authentication requirements: the
                // user must log in again (RFC 9470), meeting any of them.
                if unmet.iter().all(|u| matches!(u, Unmet::StepUp { .. })) {
                    // Any of their `acr` values, the longest `max_age`
                    // of those that set one.
                    let mut acr: Vec<&str> = Vec::new();
                    let mut age: Option<u64> = None;
                    for u in &unmet {
                        if let Unmet::StepUp {
                            acr_values,
                            max_age,
                        } = u
                        {
                            for v in acr_values.iter().flat_map(|a| a.split(' ')) {
                                if !acr.contains(&v) {
                                    acr.push(v);
                                }
                            }
                            age = match (age, *max_age) {
                                (Some(a), Some(b)) => Some(a.max(b)),
                                (a, b) => a.or(b),
                            };
                        }
                    }
                    return Err(Unmet::StepUp {
                        acr_values: (!acr.is_empty()).then(|| acr.join(" ")),
                        max_age: age,
                    });
                }
                // All alternatives are scopes: one insufficient_scope
                // naming them; otherwise a plain refusal.
                let scopes: Option<Vec<String>> = unmet
                    .iter()
                    .map(|u| match u {
                        Unmet::Scopes(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                match scopes {
                    Some(scopes) => Err(Unmet::Scopes(scopes.join(" "))),
                    None => Err(Unmet::Other(
                        unmet
                            .iter()
                            .map(Unmet::describe)
                            .collect::<Vec<_>>()
                            .join(" or "),
                    )),
                }
            }
        }
    }

    /// The first `acr_values` and the smallest `max_age` this node names.
    fn authentication(&self, acr: &mut Option<String>, age: &mut Option<u64>) {
        match self {
            Node::Authentication {
                acr_values,
                max_age,
            } => {
                // Several `acr` requirements: the values that meet them
                // all (or the first's, when none does).
                if let Some(values) = acr_values {
                    *acr = Some(match acr.take() {
                        None => values.join(" "),
                        Some(before) => {
                            let both: Vec<&str> = before
                                .split(' ')
                                .filter(|v| values.iter().any(|n| n == v))
                                .collect();
                            if both.is_empty() {
                                before
                            } else {
                                both.join(" ")
                            }
                        }
                    });
                }
                *age = match (*age, *max_age) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            Node::All(nodes) | Node::Any(nodes) => {
                for n in nodes {
                    n.authentication(acr, age);
                }
            }
            _ => {}
        }
    }

    /// Every scope this node names, once, in order.
    fn scope_names(&self, out: &mut Vec<String>) {
        match self {
            Node::Scopes(s) => {
                for scope in s.scopes() {
                    if !out.iter().any(|o| o == scope) {
                        out.push(scope.clone());
                    }
                }
            }
            Node::All(nodes) | Node::Any(nodes) => {
                for n in nodes {
                    n.scope_names(out);
                }
            }
            _ => {}
        }
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = |f: &mut fmt::Formatter<'_>, nodes: &[Node], op: &str| {
            f.write_str("(")?;
            for (i, n) in nodes.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                n.describe(f)?;
            }
            f.write_str(")")
        };
        match self {
            Node::Scopes(s) => write!(
                f,
                "scopes {:?} ({})",
                s.scopes(),
                if s.needs_all() { "all" } else { "any" }
            ),
            Node::Roles { names, all } => {
                write!(f, "roles {names:?} ({})", if *all { "all" } else { "any" })
            }
            Node::Permissions { names, all } => {
                write!(
                    f,
                    "permissions {names:?} ({})",
                    if *all { "all" } else { "any" }
                )
            }
            Node::Predicate { name, .. } => write!(f, "predicate {name:?}"),
            Node::Authentication {
                acr_values,
                max_age,
            } => write!(f, "authentication acr {acr_values:?} max_age {max_age:?}"),
            Node::Bound { dpop: true } => f.write_str("DPoP-bound"),
            Node::Bound { dpop: false } => f.write_str("certificate-bound"),
            Node::All(nodes) => group(f, nodes, "and"),
            Node::Any(nodes) => group(f, nodes, "or"),
        }
    }
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Requirement ")?;
        self.0.describe(f)
    }
}

impl Requirement {
    /// Every scope in `scopes` (403 `insufficient_scope` with `scope="…"`
    /// when one is missing).
    ///
    /// ```
    /// use bearer_guard::{RequireLayer, Requirement};
    /// let charge = RequireLayer::new(Requirement::scopes_all(["charge:customer"]));
    /// # let _ = charge;
    /// ```
    ///
    /// # Panics
    ///
    /// If `scopes` is empty or one is not a scope token (RFC 6749 §3.3:
    /// printable ASCII without space, `"` or `\\`): a literal with a typo.
    /// For scopes read at run time, use [`try_scopes_all`](Self::try_scopes_all).
    #[track_caller]
    pub fn scopes_all<I, T>(scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        literal(Self::try_scopes_all(scopes))
    }

    /// At least one scope in `scopes`.
    ///
    /// # Panics
    ///
    /// As [`scopes_all`](Self::scopes_all).
    #[track_caller]
    pub fn scopes_any<I, T>(scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        literal(Self::try_scopes_any(scopes))
    }

    /// [`scopes_all`](Self::scopes_all) for scopes read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyRequirement`] or [`BuildError::InvalidScope`].
    pub fn try_scopes_all<I, T>(scopes: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        ScopeRequirement::new(scopes, true).map(|s| Requirement(Node::Scopes(s)))
    }

    /// [`scopes_any`](Self::scopes_any) for scopes read at run time.
    ///
    /// # Errors
    ///
    /// As [`try_scopes_all`](Self::try_scopes_all).
    pub fn try_scopes_any<I, T>(scopes: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        ScopeRequirement::new(scopes, false).map(|s| Requirement(Node::Scopes(s)))
    }

    /// Every role in `roles` ([`Claims::roles`]).
    ///
    /// Roles are read where the token's issuer says
    /// ([`Issuer::roles_from`](crate::Issuer::roles_from)); by default the
    /// `roles` claim. Keycloak puts them elsewhere
    /// ([`RoleSource::KeycloakRealm`](crate::claims::RoleSource::KeycloakRealm),
    /// `KeycloakClient`), as do Cognito and ZITADEL: a token whose roles are
    /// read at the wrong place has none, and is refused with a plain 403
    /// (the `debug` log of the refusal says so).
    ///
    /// # Panics
    ///
    /// If `roles` is empty (a requirement of nothing).
    #[track_caller]
    pub fn roles_all<I, T>(roles: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        literal(Self::try_roles_all(roles))
    }

    /// [`roles_all`](Self::roles_all) for names read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyRequirement`] if none is listed.
    pub fn try_roles_all<I, T>(roles: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Ok(Requirement(Node::Roles {
            names: names(roles)?,
            all: true,
        }))
    }

    /// At least one role in `roles`.
    ///
    /// # Panics
    ///
    /// As [`roles_all`](Self::roles_all).
    #[track_caller]
    pub fn roles_any<I, T>(roles: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        literal(Self::try_roles_any(roles))
    }

    /// [`roles_any`](Self::roles_any) for names read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyRequirement`] if none is listed.
    pub fn try_roles_any<I, T>(roles: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Ok(Requirement(Node::Roles {
            names: names(roles)?,
            all: false,
        }))
    }

    /// Every permission in `permissions` ([`Claims::permissions`]).
    ///
    /// # Panics
    ///
    /// As [`roles_all`](Self::roles_all).
    #[track_caller]
    pub fn permissions_all<I, T>(permissions: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        literal(Self::try_permissions_all(permissions))
    }

    /// [`permissions_all`](Self::permissions_all) for names read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyRequirement`] if none is listed.
    pub fn try_permissions_all<I, T>(permissions: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Ok(Requirement(Node::Permissions {
            names: names(permissions)?,
            all: true,
        }))
    }

    /// At least one permission in `permissions`.
    ///
    /// # Panics
    ///
    /// As [`roles_all`](Self::roles_all).
    #[track_caller]
    pub fn permissions_any<I, T>(permissions: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        literal(Self::try_permissions_any(permissions))
    }

    /// [`permissions_any`](Self::permissions_any) for names read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyRequirement`] if none is listed.
    pub fn try_permissions_any<I, T>(permissions: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Ok(Requirement(Node::Permissions {
            names: names(permissions)?,
            all: false,
        }))
    }

    /// A test of your own over the claims; `name` says what it checks, in
    /// logs and `Debug`.
    pub fn predicate(
        name: impl Into<String>,
        test: impl Fn(&Claims) -> bool + Send + Sync + 'static,
    ) -> Self {
        Requirement(Node::Predicate {
            name: name.into().into(),
            test: Arc::new(test),
        })
    }

    /// Both this and `other`. Every part is checked, even after one
    /// failed (predicates run), so that the refusal can say whether more
    /// scopes would help: `insufficient_scope` naming every scope of the
    /// requirement when only scopes are missing, a plain 403 otherwise.
    pub fn and(self, other: Requirement) -> Self {
        match self.0 {
            Node::All(mut nodes) => {
                nodes.push(other.0);
                Requirement(Node::All(nodes))
            }
            node => Requirement(Node::All(vec![node, other.0])),
        }
    }

    /// This or `other`.
    pub fn or(self, other: Requirement) -> Self {
        match self.0 {
            Node::Any(mut nodes) => {
                nodes.push(other.0);
                Requirement(Node::Any(nodes))
            }
            node => Requirement(Node::Any(vec![node, other.0])),
        }
    }

    /// The token must be DPoP-bound (`cnf.jkt`), and so presented with a
    /// proof of its key: a route that accepts DPoP only, behind a validator
    /// that accepts both schemes. Otherwise 401 `invalid_token` on the DPoP
    /// challenge.
    pub fn dpop_bound() -> Self {
        Requirement(Node::Bound { dpop: true })
    }

    /// The token must be bound to the client certificate of the request
    /// (`cnf.x5t#S256`, RFC 8705): otherwise 401 `invalid_token`.
    pub fn certificate_bound() -> Self {
        Requirement(Node::Bound { dpop: false })
    }

    /// The user authenticated with one of `acr_values` (the token's `acr`
    /// claim, RFC 9470 §3): otherwise 401 `insufficient_user_authentication`
    /// with `acr_values="…"`, so that the client sends the user to log in
    /// with a stronger method.
    ///
    /// # Panics
    ///
    /// If no value is listed.
    #[track_caller]
    pub fn acr_values<I, T>(acr_values: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        literal(Self::try_acr_values(acr_values))
    }

    /// [`acr_values`](Self::acr_values) for values read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyRequirement`] if none is listed.
    pub fn try_acr_values<I, T>(acr_values: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Ok(Requirement(Node::Authentication {
            acr_values: Some(names(acr_values)?),
            max_age: None,
        }))
    }

    /// The user authenticated at most `max_age` ago (the token's
    /// `auth_time`, by the validator's clock, with its leeway for clock
    /// skew; RFC 9470 §3): otherwise 401
    /// `insufficient_user_authentication` with `max_age="…"`. A token
    /// without `auth_time` does not meet it.
    pub fn max_auth_age(max_age: std::time::Duration) -> Self {
        Requirement(Node::Authentication {
            acr_values: None,
            max_age: Some(max_age.as_secs()),
        })
    }

    /// The scopes a client should ask for to meet this requirement,
    /// space-separated (`None` when it names none): what a 401 from a
    /// route or tool with this requirement names in `scope="…"`.
    pub(crate) fn scope_hint(&self) -> Option<Arc<str>> {
        let mut out = Vec::new();
        self.0.scope_hint(&mut out);
        (!out.is_empty()).then(|| out.join(" ").into())
    }

    /// Checks `claims`, for use inside a handler: 403 `insufficient_scope`
    /// (with the `scope` attribute) when scopes are missing, a plain 403
    /// for anything else.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        self.0.check(claims).map_err(|unmet| match unmet {
            Unmet::Scopes(required) => AuthError::InsufficientScope { required },
            Unmet::StepUp {
                acr_values,
                max_age,
            } => AuthError::InsufficientUserAuthentication {
                acr_values,
                max_age,
            },
            Unmet::Binding(e) => AuthError::InvalidToken(e),
            Unmet::Other(requirement) => AuthError::Forbidden { requirement },
        })
    }
}

/// A tower [`Layer`] that lets a request through only when its verified
/// [`Claims`] meet a [`Requirement`]. Put it inside the
/// [`BearerLayer`](crate::BearerLayer) (axum: `route_layer`).
///
/// - no claims in the request (no token, anonymous): 401 whose challenge
///   names the scopes the requirement needs (`scope="…"`, the hint MCP
///   clients follow), if it names any;
/// - scopes missing: 403 `insufficient_scope` with `scope="…"`;
/// - a role, permission or predicate not met: a plain 403.
#[derive(Clone, Debug)]
pub struct RequireLayer {
    requirement: Arc<Requirement>,
    realm: Option<Arc<str>>,
    scope_hint: Option<Arc<str>>,
}

impl RequireLayer {
    /// A layer enforcing `requirement`.
    pub fn new(requirement: Requirement) -> Self {
        RequireLayer {
            scope_hint: requirement.scope_hint(),
            requirement: Arc::new(requirement),
            realm: None,
        }
    }

    /// Sets the challenge's `realm`. By default the realm of the enclosing
    /// [`BearerLayer`](crate::BearerLayer) is used.
    ///
    /// # Panics
    ///
    /// If `realm` contains control characters, which no HTTP header can
    /// carry. For a realm read at run time, use [`try_realm`](Self::try_realm).
    #[track_caller]
    pub fn realm(self, realm: impl Into<String>) -> Self {
        literal(self.try_realm(realm))
    }

    /// [`realm`](Self::realm) for a realm read at run time.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidRealm`] if `realm` contains control characters.
    pub fn try_realm(mut self, realm: impl Into<String>) -> Result<Self, BuildError> {
        self.realm = Some(check_realm(realm.into())?);
        Ok(self)
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = Require<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Require {
            inner,
            requirement: self.requirement.clone(),
            realm: self.realm.clone(),
            scope_hint: self.scope_hint.clone(),
        }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Clone, Debug)]
pub struct Require<S> {
    inner: S,
    requirement: Arc<Requirement>,
    realm: Option<Arc<str>>,
    scope_hint: Option<Arc<str>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Require<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let outcome = match req.extensions().get::<Claims>() {
            Some(claims) => self.requirement.check(claims),
            None => Err(AuthError::MissingToken),
        };
        let state = match outcome {
            Ok(()) => RequireState::Inner {
                fut: self.inner.call(req),
            },
            Err(error) => {
                tracing::debug!(%error, "request refused");
                // Without a realm of its own, the enclosing BearerLayer adds
                // its realm on the way out.
                RequireState::Rejected {
                    response: Some(
                        error.into_hinted_response(self.realm.clone(), self.scope_hint.clone()),
                    ),
                }
            }
        };
        RequireFuture { state }
    }
}

pin_project! {
    /// The response future of [`Require`]: a refusal ready at once, or the
    /// inner service's future.
    pub struct RequireFuture<F, ResBody> {
        #[pin]
        state: RequireState<F, ResBody>,
    }
}

pin_project! {
    #[project = RequireStateProj]
    enum RequireState<F, ResBody> {
        Rejected { response: Option<Response<ResBody>> },
        Inner { #[pin] fut: F },
    }
}

impl<F, ResBody, E> Future for RequireFuture<F, ResBody>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            // Polled again after completion, the future stays pending.
            RequireStateProj::Rejected { response } => response
                .take()
                .map_or(Poll::Pending, |r| Poll::Ready(Ok(r))),
            RequireStateProj::Inner { fut } => fut.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> Claims {
        let serde_json::Value::Object(map) = json else {
            unreachable!()
        };
        let rules = crate::claims::ClaimRules {
            issuers: vec!["i".into()],
            audiences: vec!["a".into()],
            roles: vec![crate::claims::RoleSource::Claim("roles".into())],
            permissions: vec![crate::claims::RoleSource::Claim("permissions".into())],
            may_omit: vec!["aud".into()],
            ..Default::default()
        };
        rules
            .check(map, 0, crate::claims::Source::Introspection)
            .unwrap()
    }

    #[test]
    fn combinations_answer_as_rfc_6750_fits() {
        let c = claims(serde_json::json!({
            "scope": "read", "roles": ["ops"], "permissions": ["orders:write"], "tenant": "acme"
        }));
        let read = || Requirement::scopes_all(["read"]);
        let write = || Requirement::scopes_all(["write"]);
        assert!(read().check(&c).is_ok());
        assert_eq!(
            write().check(&c),
            Err(AuthError::InsufficientScope {
                required: "write".into()
            })
        );
        // Scope alternatives: one insufficient_scope naming them.
        assert_eq!(
            write().or(Requirement::scopes_all(["admin"])).check(&c),
            Err(AuthError::InsufficientScope {
                required: "write admin".into()
            })
        );
        let ops = || Requirement::roles_any(["ops", "admin"]);
        assert!(read().and(ops()).check(&c).is_ok());
        assert!(matches!(
            read()
                .and(Requirement::roles_all(["ops", "admin"]))
                .check(&c),
            Err(AuthError::Forbidden { .. })
        ));
        assert!(
            Requirement::permissions_all(["orders:write"])
                .check(&c)
                .is_ok()
        );
        let acme = Requirement::predicate("tenant acme", |c| {
            c.get("tenant").and_then(|t| t.as_str()) == Some("acme")
        });
        assert!(write().or(acme.clone()).check(&c).is_ok());
        let other = Requirement::predicate("tenant other", |c| c.get("tenant").is_none());
        assert!(matches!(
            write().or(other).check(&c),
            Err(AuthError::Forbidden { .. })
        ));
        assert!(format!("{:?}", read().and(acme)).contains("predicate \"tenant acme\""));
    }

    #[test]
    #[should_panic(expected = "at least one scope, role, permission or acr value")]
    fn a_role_requirement_of_nothing_is_refused_where_it_is_written() {
        let _ = Requirement::roles_any(Vec::<String>::new());
    }

    #[test]
    #[should_panic(expected = "\"has space\" is not a valid scope")]
    fn a_scope_literal_with_a_space_is_refused_where_it_is_written() {
        let _ = Requirement::scopes_all(["has space"]);
    }

    #[test]
    fn run_time_values_get_an_error_instead() {
        assert!(matches!(
            Requirement::try_scopes_any(["a\"b"]),
            Err(BuildError::InvalidScope(s)) if s == "a\"b"
        ));
        assert!(matches!(
            Requirement::try_scopes_all(Vec::<String>::new()),
            Err(BuildError::EmptyRequirement)
        ));
        for empty in [
            Requirement::try_roles_all(Vec::<String>::new()),
            Requirement::try_roles_any(Vec::<String>::new()),
            Requirement::try_permissions_all(Vec::<String>::new()),
            Requirement::try_permissions_any(Vec::<String>::new()),
            Requirement::try_acr_values(Vec::<String>::new()),
        ] {
            assert!(matches!(empty, Err(BuildError::EmptyRequirement)));
        }
        assert!(Requirement::try_roles_any(["admin"]).is_ok());
        assert!(matches!(
            RequireLayer::new(Requirement::scopes_all(["a"])).try_realm("a\nb"),
            Err(BuildError::InvalidRealm(_))
        ));
    }

    /// More scopes would not help a token that also lacks a role: a part
    /// of an `and` that is not a scope makes the refusal a plain 403, even
    /// inside an `or` of scope alternatives.
    #[test]
    fn a_missing_role_beside_a_missing_scope_is_not_insufficient_scope() {
        let c = claims(serde_json::json!({"scope": "read", "roles": ["viewer"]}));
        let scope = |s: &str| Requirement::scopes_all([s]);
        let admin = || Requirement::roles_any(["admin"]);
        // scope first, role second: both are checked.
        assert!(matches!(
            scope("write").and(admin()).check(&c),
            Err(AuthError::Forbidden { .. })
        ));
        assert!(matches!(
            scope("write").and(admin()).or(scope("delete")).check(&c),
            Err(AuthError::Forbidden { .. })
        ));
        // Only scopes missing in an `and`: insufficient_scope naming every
        // scope the route needs, the one the token has included.
        assert_eq!(
            scope("write").and(scope("delete")).check(&c),
            Err(AuthError::InsufficientScope {
                required: "write delete".into()
            })
        );
        assert_eq!(
            scope("read").and(scope("write")).check(&c),
            Err(AuthError::InsufficientScope {
                required: "read write".into()
            })
        );
    }

    #[test]
    fn a_role_refusal_says_when_the_token_has_no_roles_where_they_are_read() {
        let admin = Requirement::roles_any(["admin"]);
        let why = |c: &Claims| match admin.check(c) {
            Err(AuthError::Forbidden { requirement }) => requirement,
            other => panic!("{other:?}"),
        };
        // A Keycloak token read with the default source: no roles at all.
        let keycloak = claims(serde_json::json!({"realm_access": {"roles": ["admin"]}}));
        assert!(
            why(&keycloak).contains("Issuer::roles_from"),
            "{}",
            why(&keycloak)
        );
        // Roles found, just not this one: nothing to hint.
        let viewer = claims(serde_json::json!({"roles": ["viewer"]}));
        assert!(!why(&viewer).contains("roles_from"), "{}", why(&viewer));
    }
}
