//! The claim checks a validator applies once the signature holds, and the
//! [`Claims`] they produce.

use serde_json::{Map, Value};

use super::roles::{self, PERMISSIONS, ROLES, RoleSource, Roles};
use super::{Claims, Confirmation, Scopes, Times};
use std::sync::Arc;

use crate::clock::{Leeway, TimeError};

/// Where the claims came from, which decides what must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A JWT: `exp`, `iss`, `aud` and the configured claims are required.
    Jwt,
    /// An RFC 7662 introspection response (RFC 7662 §2.2 makes every
    /// claim optional): the audience (or `client_id` in the client-id
    /// mode) and the configured claims are required as of a JWT, unless
    /// named in [`ClaimRules::may_omit`]; `exp` and `iss` are checked where
    /// present (the configured endpoint speaks for the issuer, and the
    /// answer's lifetime in the cache is bounded without `exp`).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Introspection,
}

/// Why verified claims were refused (the validator reports each as its own
/// error variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// A required claim is absent or `null`.
    Missing(String),
    /// A claim has the wrong type or an impossible value.
    Invalid(&'static str),
    /// `exp`, `nbf` or `iat` against the clock.
    Time(TimeError),
    /// `iss` is not a configured issuer.
    Issuer,
    /// `aud` holds no configured audience (or, in the client-id mode,
    /// `client_id` is not an allowed client, or `aud` is present).
    Audience,
    /// A claim required to hold one value holds another.
    Mismatch(String),
}

impl From<TimeError> for ClaimError {
    fn from(e: TimeError) -> Self {
        ClaimError::Time(e)
    }
}

/// The claim checks a validator applies to a verified token.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimRules {
    pub(crate) issuers: Vec<String>,
    /// Accepted `aud` values. Empty only in the client-id mode below.
    pub(crate) audiences: Vec<String>,
    /// The client-id mode (AWS Cognito access tokens carry no `aud`): with
    /// no audiences configured, `client_id` must be one of these and `aud`
    /// must be absent.
    pub(crate) client_ids: Vec<String>,
    pub(crate) leeway: Leeway,
    /// Claims that must be present besides `iss`, `aud` and `exp`.
    pub(crate) required: Vec<String>,
    /// Claims that must be present with exactly this string value.
    pub(crate) equals: Vec<(String, String)>,
    /// Where roles and permissions live.
    pub(crate) roles: Vec<RoleSource>,
    pub(crate) permissions: Vec<RoleSource>,
    /// The role (permission) sources are the defaults nobody chose: a value
    /// of the wrong type there (another provider's shape) means no roles,
    /// not a refused token. A source configured explicitly is strict.
    pub(crate) default_roles: bool,
    pub(crate) default_permissions: bool,
    /// Claims an introspection answer may leave out (the user named each,
    /// [`Introspection::may_omit`](crate::introspection::Introspection::may_omit)): where
    /// present they are checked all the same.
    pub(crate) may_omit: Vec<String>,
    /// The validator's clock and leeway (the same as `leeway`), handed to
    /// the claims for checks made after validation (`max_auth_age`).
    pub(crate) time: Arc<super::ClaimsContext>,
}

impl ClaimRules {
    /// Checks the claims at time `now` (seconds since the epoch) and builds
    /// [`Claims`]. Checks run in this order: presence of `exp`, `iss` (JWTs)
    /// and `aud`; `iss`; `aud`; `exp`; `nbf`; `iat`; other required claims;
    /// types of the remaining registered claims and scopes; `cnf`.
    pub(crate) fn check(
        &self,
        claims: Map<String, Value>,
        now: i64,
        source: Source,
    ) -> Result<Claims, ClaimError> {
        let present = |name: &str| claims.get(name).filter(|v| !v.is_null());
        let missing = |name: &str| ClaimError::Missing(name.to_owned());
        let jwt = source == Source::Jwt;

        // What must be present: everything configured, on every path; on
        // an introspection answer, what the user did not name as omitted.
        let required = |name: &str| jwt || !self.may_omit.iter().any(|n| n == name);
        let client_id_mode = self.audiences.is_empty();
        let audience = if client_id_mode { "client_id" } else { "aud" };
        let always: &[&str] = if jwt { &["exp", "iss"] } else { &[] };
        for name in always.iter().copied().chain([audience]) {
            if required(name) && present(name).is_none() {
                return Err(missing(name));
            }
        }
        if let Some(iss) = present("iss") {
            let iss = iss.as_str().ok_or(ClaimError::Invalid("iss"))?;
            if !self.issuers.iter().any(|i| i == iss) {
                return Err(ClaimError::Issuer);
            }
        }
        if let Some(aud) = present("aud") {
            let audience_ok = match aud {
                Value::String(a) => self.audiences.contains(a),
                Value::Array(list) => {
                    let mut ok = false;
                    for a in list {
                        let a = a.as_str().ok_or(ClaimError::Invalid("aud"))?;
                        ok |= self.audiences.iter().any(|c| c == a);
                    }
                    ok
                }
                _ => return Err(ClaimError::Invalid("aud")),
            };
            if !audience_ok {
                return Err(ClaimError::Audience);
            }
        }
        if !self.client_ids.is_empty() {
            // The explicit replacement of the audience check (or, with
            // audiences too, one more check): the client the token was
            // issued to must be one this API trusts.
            let client = present("client_id")
                .map(|c| c.as_str().ok_or(ClaimError::Invalid("client_id")))
                .transpose()?;
            let allowed = match client {
                Some(c) => self.client_ids.iter().any(|id| id == c),
                None => !required("client_id"),
            };
            if !allowed {
                return Err(ClaimError::Audience);
            }
        }

        let expires_at = present("exp").map(|v| numeric_date(v, "exp")).transpose()?;
        self.leeway.check_window(expires_at, None, now)?;
        let not_before = present("nbf").map(|v| numeric_date(v, "nbf")).transpose()?;
        self.leeway.check_window(None, not_before, now)?;
        let issued_at = present("iat").map(|v| numeric_date(v, "iat")).transpose()?;
        self.leeway.check_issued_at(issued_at, now)?;

        if let Some(name) = self
            .required
            .iter()
            .find(|name| required(name) && present(name).is_none())
        {
            return Err(missing(name));
        }
        for (name, value) in &self.equals {
            match present(name) {
                None if !required(name) => {}
                None => return Err(missing(name)),
                Some(v) if v.as_str() == Some(value.as_str()) => {}
                Some(_) => return Err(ClaimError::Mismatch(name.clone())),
            }
        }
        for name in ["sub", "jti", "client_id", "azp"] {
            if present(name).is_some_and(|v| !v.is_string()) {
                return Err(ClaimError::Invalid(static_name(name)));
            }
        }
        let scopes = match (present("scope"), present("scp")) {
            (Some(v), _) => scope_value(v, "scope")?,
            (None, Some(v)) => scope_value(v, "scp")?,
            (None, None) => Scopes::default(),
        };
        // RFC 9449 §6, RFC 8705 §3: what the token is bound to; the
        // validator checks it against the request's proof on every use.
        let confirmation = match present("cnf") {
            Some(cnf) => confirmation(cnf)?,
            None => Confirmation::default(),
        };
        let read = |sources: &[RoleSource], lenient: bool, name: &'static str| match roles::read(
            sources, &claims,
        ) {
            Ok(found) => Ok(found),
            Err(()) if lenient => Ok(Roles::default()),
            Err(()) => Err(ClaimError::Invalid(name)),
        };
        let roles = read(&self.roles, self.default_roles, ROLES)?;
        let permissions = read(&self.permissions, self.default_permissions, PERMISSIONS)?;

        Ok(Claims::new(
            claims,
            Times {
                expires_at,
                not_before,
                issued_at,
            },
            scopes,
            roles,
            permissions,
            confirmation,
            self.time.clone(),
        ))
    }
}

/// Reads `cnf` (RFC 7800 §3.1): an object; `jkt` and `x5t#S256` strings;
/// any other member (or none) is a binding this crate cannot check.
fn confirmation(cnf: &Value) -> Result<Confirmation, ClaimError> {
    let Value::Object(members) = cnf else {
        return Err(ClaimError::Invalid("cnf"));
    };
    let mut c = Confirmation::default();
    for (name, value) in members {
        let slot = match name.as_str() {
            "jkt" => &mut c.jkt,
            "x5t#S256" => &mut c.x5t_s256,
            _ => {
                c.unknown = true;
                continue;
            }
        };
        match value {
            Value::String(s) if !s.is_empty() => *slot = Some(s.clone()),
            _ => return Err(ClaimError::Invalid("cnf")),
        }
    }
    if members.is_empty() {
        c.unknown = true;
    }
    Ok(c)
}

fn static_name(name: &str) -> &'static str {
    match name {
        "sub" => "sub",
        "jti" => "jti",
        "client_id" => "client_id",
        _ => "azp",
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional
/// (rounded down). Strings, and values beyond ±10^15 s, are invalid.
fn numeric_date(v: &Value, name: &'static str) -> Result<i64, ClaimError> {
    const LIMIT: i64 = 1_000_000_000_000_000;
    let invalid = ClaimError::Invalid(name);
    let Value::Number(n) = v else {
        return Err(invalid);
    };
    let secs = if let Some(i) = n.as_i64() {
        i
    } else {
        match n.as_f64() {
            Some(f) if f.is_finite() && f.abs() < LIMIT as f64 => f.floor() as i64,
            _ => return Err(invalid),
        }
    };
    // `unsigned_abs`: `abs` of i64::MIN overflows.
    if secs.unsigned_abs() >= LIMIT.unsigned_abs() {
        return Err(invalid);
    }
    Ok(secs)
}

fn scope_value(v: &Value, name: &'static str) -> Result<Scopes, ClaimError> {
    match v {
        Value::String(s) => Ok(Scopes::parse(s)),
        Value::Array(items) => {
            let mut strs = Vec::with_capacity(items.len());
            for item in items {
                // An array element must be one scope-token: no spaces.
                match item.as_str() {
                    Some(s) if !s.contains(' ') => strs.push(s),
                    _ => return Err(ClaimError::Invalid(name)),
                }
            }
            Ok(Scopes::from_iter(strs))
        }
        _ => Err(ClaimError::Invalid(name)),
    }
}
