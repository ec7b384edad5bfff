//! Verified claims: [`Claims`] (also at the crate's root), the [`Scopes`],
//! [`Roles`] and permissions they grant, and where roles are read from
//! ([`RoleSource`]).
//!
//! Layout (private): `roles`, and `rules`, the claim checks that produce
//! the claims.

pub(crate) mod roles;
pub(crate) mod rules;

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use once_cell::race::OnceBox;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::clock::{Clock, Leeway, TimeError};
pub use roles::{RoleSource, Roles};
pub(crate) use rules::{ClaimError, ClaimRules, Source};

/// The verified claims of an access token.
///
/// The registered claims are typed (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`,
/// `jti`, `client_id`, `azp`), the granted scopes are parsed into [`Scopes`],
/// and every claim, registered or not, is available through [`get`](Self::get)
/// or deserialized into your own type with [`deserialize`](Self::deserialize).
///
/// `Claims` only comes out of a successful validation, so holding one means the
/// token was genuine, meant for this API and valid when it was checked.
/// Cloning is cheap (a reference count).
///
/// With the verified-token cache on (the default), every request with the
/// same token gets the same `Claims`, which keep the token itself (for the
/// cache's exact comparison; never shown by `Debug` or serialized): the
/// claims you read by name are parsed from it the first time one is read.
/// Like the token, a `Claims` you keep beyond the request is a credential
/// in memory.
///
/// ```
/// # use bearer_guard::testing::TestIssuer;
/// # tokio_test_block_on(async {
/// let issuer = TestIssuer::new();
/// let validator = issuer.validator();
/// let token = issuer.token().scope("charge:customer refund")
///     .claim("tenant", "acme").sign();
/// let claims = validator.validate(&token).await.unwrap();
///
/// assert_eq!(claims.issuer(), Some(issuer.issuer()));
/// assert!(claims.scopes().contains("refund"));
/// assert_eq!(claims.get("tenant").and_then(|v| v.as_str()), Some("acme"));
///
/// #[derive(serde::Deserialize)]
/// struct Mine { tenant: String, sub: String }
/// let mine: Mine = claims.deserialize().unwrap();
/// assert_eq!(mine.tenant, "acme");
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct Claims(Arc<Inner>);

struct Inner {
    /// Every claim, and the typed claims made from them. For a token the
    /// verified-token cache keeps ([`Claims::into_cached`]), parsed again
    /// from `token` when a handler first reads a claim by name.
    parsed: OnceBox<Parsed>,
    /// The token, when the verified-token cache keeps these claims: a hit
    /// is compared with it byte for byte, and `parsed` is made from it by
    /// the validator's [`ClaimsContext::reparse`].
    token: Option<Box<str>>,
    times: PackedTimes,
    scopes: Scopes,
    /// Roles and permissions; `None` when the token grants neither (most
    /// do not): eight bytes, not thirty-two, in every cached token's claims.
    grants: Option<Box<(Roles, Roles)>>,
    /// `None` for a token bound to nothing (most are): eight bytes, not
    /// fifty-six, in every cached token's claims.
    confirmation: Option<Box<Confirmation>>,
    /// The validator's clock and leeway, for checks made after validation
    /// (a route's `max_auth_age`): the same time as the token's. Shared by
    /// every set of claims of the validator (one pointer each).
    time: Arc<ClaimsContext>,
}

/// What every set of claims of a validator shares (one pointer each).
#[derive(Debug, Clone)]
pub(crate) struct ClaimsContext {
    /// The validator's clock and leeway, for checks made after validation
    /// (a route's `max_auth_age`): the same time as the token's.
    pub(crate) clock: Clock,
    pub(crate) leeway: Leeway,
    /// Parses again the claims of a token the validator verified (and its
    /// cache keeps), as they were parsed then.
    pub(crate) reparse: Reparse,
}

impl Default for ClaimsContext {
    fn default() -> Self {
        ClaimsContext {
            clock: Clock::default(),
            leeway: Leeway::default(),
            reparse: |_| None,
        }
    }
}

/// The claims as a JSON object, and what was made of them.
struct Parsed {
    all: Value,
    /// Your own claims types, each deserialized once per token
    /// ([`Claims::typed`]); as many entries as the program has types.
    typed: Mutex<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>,
}

impl Parsed {
    fn new(all: Map<String, Value>) -> Box<Parsed> {
        Box::new(Parsed {
            all: Value::Object(all),
            typed: Mutex::new(Vec::new()),
        })
    }
}

/// [`Times`] in 32 bytes instead of 48 (every cached token keeps one):
/// the seconds, and a bit for each that is present.
#[derive(Clone, Copy)]
struct PackedTimes {
    at: [i64; 3],
    present: u8,
}

impl PackedTimes {
    fn new(t: Times) -> Self {
        let mut packed = PackedTimes {
            at: [0; 3],
            present: 0,
        };
        for (i, v) in [t.expires_at, t.not_before, t.issued_at]
            .into_iter()
            .enumerate()
        {
            if let (Some(v), Some(slot)) = (v, packed.at.get_mut(i)) {
                *slot = v;
                packed.present |= 1 << i;
            }
        }
        packed
    }

    fn get(&self, i: usize) -> Option<i64> {
        (self.present & (1 << i) != 0)
            .then(|| self.at.get(i).copied())
            .flatten()
    }

    fn expires_at(&self) -> Option<i64> {
        self.get(0)
    }

    fn not_before(&self) -> Option<i64> {
        self.get(1)
    }

    fn issued_at(&self) -> Option<i64> {
        self.get(2)
    }
}

/// Parses the claims of a token that passed every check, as they were
/// parsed then.
pub(crate) type Reparse = fn(&str) -> Option<Map<String, Value>>;

/// What a token is bound to (RFC 7800 `cnf`), read once: the key of a
/// DPoP proof (RFC 9449 §6) or a client certificate (RFC 8705 §3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Confirmation {
    /// `cnf.jkt`: the RFC 7638 thumbprint of the DPoP key.
    pub(crate) jkt: Option<String>,
    /// `cnf.x5t#S256`: the SHA-256 of the client certificate, base64url.
    pub(crate) x5t_s256: Option<String>,
    /// A `cnf` this crate cannot check (another confirmation method, or an
    /// empty one): the token is bound, and never accepted.
    pub(crate) unknown: bool,
}

impl Confirmation {
    /// Whether the token is bound to anything.
    pub(crate) fn is_bound(&self) -> bool {
        self.jkt.is_some() || self.x5t_s256.is_some() || self.unknown
    }
}

/// The time claims, read once.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub(crate) expires_at: Option<i64>,
    pub(crate) not_before: Option<i64>,
    pub(crate) issued_at: Option<i64>,
}

/// Bytes of a `serde_json::Value` on a 64-bit target, for
/// [`Claims::memory_estimate`].
const VALUE: usize = 32;
/// A `String` or `Vec` header, as counted for scopes and roles.
const STRING: usize = 24;
/// What the allocator adds to each heap block, at least.
const BLOCK: usize = 16;
/// A B-tree node of a JSON object: 11 keys (`String`), 11 values, links;
/// a map of up to 11 members takes one, a larger one about one per 7
/// members (nodes are between half and fully used).
const MAP_NODE: usize = 640;
/// What every set of claims costs besides its content (the `Arc`, the
/// times, the typed-claims list, a cache entry's key and binding).
const FIXED: usize = 256;

/// The heap memory a JSON value holds (its own `VALUE` counted by its
/// parent), computed without recursion: deep trees cannot exhaust the
/// stack. Arrays are counted at twice their length (a growing `Vec`'s
/// spare capacity), objects by their nodes, every block with its overhead.
fn json_memory(root: &Value) -> usize {
    let mut total = VALUE;
    let mut stack = vec![root];
    while let Some(value) = stack.pop() {
        let here = match value {
            Value::String(s) if !s.is_empty() => s.len().saturating_add(BLOCK),
            Value::Array(items) if !items.is_empty() => {
                stack.extend(items.iter());
                items.len().saturating_mul(2 * VALUE).saturating_add(BLOCK)
            }
            Value::Object(map) if !map.is_empty() => {
                stack.extend(map.values());
                let nodes = if map.len() <= 11 {
                    1
                } else {
                    map.len().div_ceil(7)
                };
                let keys = map.keys().fold(0usize, |sum, k| {
                    sum.saturating_add(k.len().saturating_add(BLOCK))
                });
                nodes.saturating_mul(MAP_NODE).saturating_add(keys)
            }
            _ => 0,
        };
        total = total.saturating_add(here);
    }
    total
}

impl Claims {
    pub(crate) fn new(
        claims: Map<String, Value>,
        times: Times,
        scopes: Scopes,
        roles: Roles,
        permissions: Roles,
        confirmation: Confirmation,
        time: Arc<ClaimsContext>,
    ) -> Self {
        Claims(Arc::new(Inner {
            parsed: OnceBox::with_value(Parsed::new(claims)),
            token: None,
            times: PackedTimes::new(times),
            scopes,
            grants: (!roles.is_empty() || !permissions.is_empty())
                .then(|| Box::new((roles, permissions))),
            confirmation: confirmation.is_bound().then(|| Box::new(confirmation)),
            time,
        }))
    }

    /// These claims (verified from `token`) as the verified-token cache
    /// keeps them, and as every request with the token gets them: the
    /// token instead of the parsed claims, which take two to three times
    /// its size. What the validator reads on every request (the time
    /// claims, scopes, roles, permissions, the binding) stays as it is;
    /// the claims a handler reads by name are parsed again from the token
    /// by the validator's `reparse`, once, when first read.
    pub(crate) fn into_cached(self, token: &str) -> Claims {
        let inner = Arc::try_unwrap(self.0).unwrap_or_else(|shared| Inner {
            parsed: OnceBox::new(),
            token: None,
            times: shared.times,
            scopes: shared.scopes.clone(),
            grants: shared.grants.clone(),
            confirmation: shared.confirmation.clone(),
            time: shared.time.clone(),
        });
        Claims(Arc::new(Inner {
            parsed: OnceBox::new(),
            token: Some(token.into()),
            ..inner
        }))
    }

    /// Whether these are the cached claims of `token`, byte for byte.
    pub(crate) fn is_of(&self, token: &[u8]) -> bool {
        self.0.token.as_deref().map(str::as_bytes) == Some(token)
    }

    /// Every claim (parsed from the kept token if not yet).
    fn all(&self) -> &Value {
        &self.parsed().all
    }

    fn parsed(&self) -> &Parsed {
        // Two threads reading at once may both parse; one result is kept.
        self.0.parsed.get_or_init(|| {
            // The token passed every check when it was cached, so it
            // parses as it did then; an empty object is unreachable.
            let claims = self.0.token.as_deref().and_then(self.0.time.reparse);
            Parsed::new(claims.unwrap_or_default())
        })
    }

    /// Now, by the clock of the validator these claims came from.
    pub(crate) fn now(&self) -> i64 {
        self.0.time.clock.now()
    }

    /// The leeway of the validator these claims came from, in seconds.
    pub(crate) fn leeway_secs(&self) -> i64 {
        self.0.time.leeway.0
    }

    /// An estimate of the heap memory these claims hold (the JSON tree,
    /// scopes, roles and permissions; not the typed values, which are
    /// derived from them): what the verified-token cache weighs them by.
    pub(crate) fn memory_estimate(&self) -> usize {
        let strings = |list: &mut dyn Iterator<Item = &str>| {
            list.fold(0usize, |sum, s| {
                sum.saturating_add(s.len().saturating_add(STRING))
            })
        };
        FIXED
            .saturating_add(json_memory(self.all()))
            .saturating_add(self.0.scopes.0.len())
            .saturating_add(strings(&mut self.roles().iter()))
            .saturating_add(strings(&mut self.permissions().iter()))
    }

    /// Re-checks `exp` and `nbf` at `now` (for a cached result).
    pub(crate) fn check_time(&self, now: i64, leeway: Leeway) -> Result<(), TimeError> {
        let times = &self.0.times;
        leeway.check_window(times.expires_at(), times.not_before(), now)?;
        // As a fresh validation would: a clock stepped back past `iat`
        // (beyond the leeway) refuses a cached token too.
        leeway.check_issued_at(times.issued_at(), now)
    }

    fn str_claim(&self, name: &str) -> Option<&str> {
        self.all().get(name).and_then(Value::as_str)
    }

    /// `iss`: the issuer, one of the validator's configured issuers. Always
    /// present for a JWT; an introspection response may omit it.
    pub fn issuer(&self) -> Option<&str> {
        self.str_claim("iss")
    }

    /// `sub`: the subject (a user, or the client itself for client-credentials tokens).
    pub fn subject(&self) -> Option<&str> {
        self.str_claim("sub")
    }

    /// `aud`: the audiences, whether the token carried a string or an array.
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self.all().get("aud") {
            Some(Value::String(s)) => (Some(s.as_str()), None),
            Some(Value::Array(a)) => (None, Some(a.iter().filter_map(Value::as_str))),
            _ => (None, None),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// `exp`: expiry, in seconds since the Unix epoch. Always present for a
    /// JWT; an introspection response may omit it (RFC 7662 §2.2).
    pub fn expires_at(&self) -> Option<i64> {
        self.0.times.expires_at()
    }

    /// `nbf`: not-before time, in seconds since the Unix epoch.
    pub fn not_before(&self) -> Option<i64> {
        self.0.times.not_before()
    }

    /// `iat`: issue time, in seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<i64> {
        self.0.times.issued_at()
    }

    /// `auth_time` (OpenID Connect Core §2, RFC 9470): when the user last
    /// authenticated, in seconds since the Unix epoch; a fractional
    /// NumericDate is rounded down, anything but a finite number is `None`.
    pub fn auth_time(&self) -> Option<i64> {
        match self.all().get("auth_time")? {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            }),
            _ => None,
        }
    }

    /// `jti`: the token's unique identifier.
    pub fn jwt_id(&self) -> Option<&str> {
        self.str_claim("jti")
    }

    /// `client_id`: the OAuth client the token was issued to (RFC 9068 §2.2).
    pub fn client_id(&self) -> Option<&str> {
        self.str_claim("client_id")
    }

    /// `azp`: the authorized party (OpenID Connect; Keycloak and Auth0 set it).
    pub fn authorized_party(&self) -> Option<&str> {
        self.str_claim("azp")
    }

    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`,
    /// RFC 9449 §6), if any. A bound token is only accepted with a proof
    /// signed by that key.
    pub fn dpop_thumbprint(&self) -> Option<&str> {
        self.confirmation().jkt.as_deref()
    }

    /// The SHA-256 thumbprint (base64url) of the client certificate the
    /// token is bound to (`cnf.x5t#S256`, RFC 8705 §3), if any.
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.confirmation().x5t_s256.as_deref()
    }

    /// Whether the token is sender-constrained (carries a `cnf`): it was
    /// accepted only because its holder proved possession of the key.
    pub fn is_sender_constrained(&self) -> bool {
        self.0.confirmation.is_some()
    }

    pub(crate) fn confirmation(&self) -> &Confirmation {
        static UNBOUND: Confirmation = Confirmation {
            jkt: None,
            x5t_s256: None,
            unknown: false,
        };
        self.0.confirmation.as_deref().unwrap_or(&UNBOUND)
    }

    /// The granted scopes, from `scope` (RFC 9068 §2.2.3, space-separated) or,
    /// when `scope` is absent, from `scp` (an array or a space-separated
    /// string, as Okta and Microsoft Entra issue it).
    pub fn scopes(&self) -> &Scopes {
        &self.0.scopes
    }

    /// The roles the token grants, from the issuer's configured
    /// [`RoleSource`]s (by default the `roles` claim, RFC 9068 §2.2.3.1).
    pub fn roles(&self) -> &Roles {
        match &self.0.grants {
            Some(grants) => &grants.0,
            None => no_roles(),
        }
    }

    /// The permissions the token grants, from the issuer's configured
    /// permission sources (by default the `permissions` claim, as Auth0's
    /// RBAC issues it).
    pub fn permissions(&self) -> &Roles {
        match &self.0.grants {
            Some(grants) => &grants.1,
            None => no_roles(),
        }
    }

    /// Your own claims type, deserialized from these claims once: a token
    /// served from the verified-token cache hands back the same `Arc`
    /// without deserializing again. A failure is not kept (it is returned
    /// each time).
    ///
    /// ```
    /// # use bearer_guard::testing::TestIssuer;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// #[derive(serde::Deserialize)]
    /// struct Tenant { tenant: String }
    /// let issuer = TestIssuer::new();
    /// let validator = issuer.validator();
    /// let claims = validator.validate(&issuer.token().claim("tenant", "acme").sign()).await.unwrap();
    /// let first = claims.typed::<Tenant>().unwrap();
    /// let again = claims.typed::<Tenant>().unwrap();
    /// assert!(std::sync::Arc::ptr_eq(&first, &again));
    /// assert_eq!(first.tenant, "acme");
    /// # });
    /// ```
    pub fn typed<T>(&self) -> Result<Arc<T>, serde_json::Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let id = TypeId::of::<T>();
        let find = |typed: &[(TypeId, Arc<dyn Any + Send + Sync>)]| {
            typed
                .iter()
                .find(|(t, _)| *t == id)
                .and_then(|(_, v)| v.clone().downcast::<T>().ok())
        };
        // A poisoned lock only means another deserializer panicked; the
        // list itself is always whole.
        let parsed = self.parsed();
        let lock = || parsed.typed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = find(&lock()) {
            return Ok(hit);
        }
        let value = Arc::new(T::deserialize(&parsed.all)?);
        let mut typed = lock();
        if let Some(raced) = find(&typed) {
            return Ok(raced);
        }
        typed.push((id, value.clone()));
        Ok(value)
    }

    /// Any claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.all().get(name)
    }

    /// Every claim, as the JSON object the token carried.
    pub fn as_json(&self) -> &Map<String, Value> {
        match self.all() {
            Value::Object(map) => map,
            // Claims are always built from an object.
            _ => unreachable_map(),
        }
    }

    /// Deserializes all claims into your own type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.all())
    }
}

fn no_roles() -> &'static Roles {
    static NONE: OnceLock<Roles> = OnceLock::new();
    NONE.get_or_init(Roles::default)
}

fn unreachable_map() -> &'static Map<String, Value> {
    static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.issuer())
            .field("sub", &self.subject())
            .field("aud", &self.audiences().collect::<Vec<_>>())
            .field("exp", &self.expires_at())
            .field("scopes", &self.scopes())
            .field("roles", &self.roles())
            .field("permissions", &self.permissions())
            .finish_non_exhaustive()
    }
}

impl Serialize for Claims {
    /// Serializes every claim, as the token carried them.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.all().serialize(serializer)
    }
}

/// The scopes a token grants (RFC 6749 §3.3), case-sensitive.
///
/// ```
/// use bearer_guard::claims::Scopes;
/// let scopes = Scopes::parse("orders:read  charge:customer");
/// assert!(scopes.contains("charge:customer"));
/// assert!(!scopes.contains("charge"));
/// assert!(scopes.contains_all(["orders:read", "charge:customer"]));
/// assert_eq!(scopes.to_string(), "orders:read charge:customer");
/// assert_eq!(serde_json::to_string(&scopes).unwrap(), r#"["orders:read","charge:customer"]"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes(Box<str>);

/// Serialized as the list of its scopes (`["orders:read", "refund"]`).
impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl Scopes {
    /// Parses a space-separated scope string; runs of spaces are tolerated.
    pub fn parse(s: &str) -> Self {
        Scopes::from_iter(s.split(' '))
    }

    /// Whether `scope` is granted.
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|s| s == scope)
    }

    /// Whether every scope in `scopes` is granted.
    pub fn contains_all<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> bool {
        scopes.into_iter().all(|s| self.contains(s))
    }

    /// Whether at least one scope in `scopes` is granted.
    pub fn contains_any<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> bool {
        scopes.into_iter().any(|s| self.contains(s))
    }

    /// The scopes, in token order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no scope is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> FromIterator<&'a str> for Scopes {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut out = String::new();
        for s in iter.into_iter().filter(|s| !s.is_empty()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s);
        }
        Scopes(out.into_boxed_str())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuers: vec!["https://as.example".into()],
            audiences: vec!["api".into(), "api2".into()],
            leeway: Leeway(60),
            ..ClaimRules::default()
        }
    }

    fn base() -> Value {
        json!({"iss": "https://as.example", "aud": "api", "exp": NOW + 300, "sub": "alice"})
    }

    fn check_with(rules: &ClaimRules, patch: Value) -> Result<Claims, ClaimError> {
        let mut v = base();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = val.clone();
            }
        }
        let Value::Object(map) = v else {
            unreachable!()
        };
        rules.check(map, NOW, Source::Jwt)
    }

    fn check(patch: Value) -> Result<Claims, ClaimError> {
        check_with(&rules(), patch)
    }

    #[test]
    fn valid_claims_are_typed() {
        let c = check(
            json!({"aud": ["x", "api"], "nbf": NOW, "iat": NOW, "jti": "j",
            "client_id": "c", "azp": "c", "scope": "a b"}),
        )
        .unwrap();
        assert_eq!(c.issuer(), Some("https://as.example"));
        assert_eq!(c.subject(), Some("alice"));
        assert_eq!(c.audiences().collect::<Vec<_>>(), ["x", "api"]);
        assert_eq!(c.expires_at(), Some(NOW + 300));
        assert_eq!(c.not_before(), Some(NOW));
        assert_eq!(c.issued_at(), Some(NOW));
        assert_eq!(c.jwt_id(), Some("j"));
        assert_eq!(c.client_id(), Some("c"));
        assert_eq!(c.authorized_party(), Some("c"));
        assert_eq!(c.scopes().iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn exp_iss_aud_are_required() {
        for name in ["exp", "iss", "aud"] {
            let err = check(json!({ name: null })).unwrap_err();
            assert_eq!(err, ClaimError::Missing(name.into()));
        }
    }

    #[test]
    fn expiry_honours_leeway_at_the_edge() {
        // Valid while now < exp + leeway.
        assert!(check(json!({"exp": NOW - 59})).is_ok());
        assert_eq!(
            check(json!({"exp": NOW - 60})).unwrap_err(),
            ClaimError::Time(TimeError::Expired)
        );
        let strict = ClaimRules {
            leeway: Leeway(0),
            ..rules()
        };
        assert!(check_with(&strict, json!({"exp": NOW + 1})).is_ok());
        assert_eq!(
            check_with(&strict, json!({"exp": NOW})).unwrap_err(),
            ClaimError::Time(TimeError::Expired)
        );
    }

    #[test]
    fn nbf_and_iat_honour_leeway_at_the_edge() {
        assert!(check(json!({"nbf": NOW + 60})).is_ok());
        assert_eq!(
            check(json!({"nbf": NOW + 61})).unwrap_err(),
            ClaimError::Time(TimeError::NotYetValid)
        );
        assert!(check(json!({"iat": NOW + 60})).is_ok());
        assert_eq!(
            check(json!({"iat": NOW + 61})).unwrap_err(),
            ClaimError::Time(TimeError::IssuedInFuture)
        );
    }

    #[test]
    fn numeric_dates_reject_strings_and_absurd_values() {
        assert!(check(json!({"exp": (NOW + 10) as f64 + 0.5})).is_ok());
        for bad in [
            json!("1800000300"),
            json!(1e300),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(-1e15),
            json!(true),
            json!([1]),
        ] {
            assert_eq!(
                check(json!({ "exp": bad })).unwrap_err(),
                ClaimError::Invalid("exp")
            );
        }
        assert_eq!(
            check(json!({"exp": -5})).unwrap_err(),
            ClaimError::Time(TimeError::Expired)
        );
        assert_eq!(
            check(json!({"nbf": "0"})).unwrap_err(),
            ClaimError::Invalid("nbf")
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        for near in [
            "https://as.example/",
            "https://AS.example",
            "https://as.example.evil",
            "http://as.example",
        ] {
            assert_eq!(
                check(json!({"iss": near})).unwrap_err(),
                ClaimError::Issuer,
                "{near}"
            );
        }
        assert_eq!(
            check(json!({"iss": ["https://as.example"]})).unwrap_err(),
            ClaimError::Invalid("iss")
        );
    }

    #[test]
    fn audience_string_or_array_must_contain_a_configured_one() {
        assert!(check(json!({"aud": "api2"})).is_ok());
        assert!(check(json!({"aud": ["other", "api2"]})).is_ok());
        assert_eq!(
            check(json!({"aud": "API"})).unwrap_err(),
            ClaimError::Audience
        );
        assert_eq!(check(json!({"aud": []})).unwrap_err(), ClaimError::Audience);
        assert_eq!(
            check(json!({"aud": ["api other"]})).unwrap_err(),
            ClaimError::Audience
        );
        assert_eq!(
            check(json!({"aud": ["api", 5]})).unwrap_err(),
            ClaimError::Invalid("aud")
        );
        assert_eq!(
            check(json!({"aud": 5})).unwrap_err(),
            ClaimError::Invalid("aud")
        );
    }

    #[test]
    fn configured_required_claims_are_enforced() {
        let r = ClaimRules {
            required: vec!["jti".into()],
            ..rules()
        };
        assert_eq!(
            check_with(&r, json!({})).unwrap_err(),
            ClaimError::Missing("jti".into())
        );
        assert!(check_with(&r, json!({"jti": "x"})).is_ok());
    }

    #[test]
    fn registered_string_claims_must_be_strings() {
        assert_eq!(
            check(json!({"sub": 5})).unwrap_err(),
            ClaimError::Invalid("sub")
        );
        assert_eq!(
            check(json!({"client_id": {}})).unwrap_err(),
            ClaimError::Invalid("client_id")
        );
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let c = check(json!({"scp": ["a", "b"]})).unwrap();
        assert_eq!(c.scopes().to_string(), "a b");
        let c = check(json!({"scp": "a b"})).unwrap();
        assert!(c.scopes().contains("b"));
        let c = check(json!({"scope": "x", "scp": ["y"]})).unwrap();
        assert_eq!(c.scopes().to_string(), "x");
        assert_eq!(
            check(json!({"scope": 1})).unwrap_err(),
            ClaimError::Invalid("scope")
        );
        assert_eq!(
            check(json!({"scp": ["a b"]})).unwrap_err(),
            ClaimError::Invalid("scp")
        );
        assert!(check(json!({})).unwrap().scopes().is_empty());
    }

    #[test]
    fn introspection_requires_the_audience_and_required_claims_unless_named() {
        let check_intro = |rules: &ClaimRules, v: Value| {
            let Value::Object(map) = v else {
                unreachable!()
            };
            rules.check(map, NOW, Source::Introspection)
        };
        let strict = ClaimRules {
            required: vec!["jti".into()],
            equals: vec![("token_use".into(), "access".into())],
            ..rules()
        };
        // `exp` and `iss` are checked where present, never required.
        let c = check_intro(
            &strict,
            json!({"aud": "api", "jti": "j", "token_use": "access"}),
        )
        .unwrap();
        assert_eq!(c.expires_at(), None);
        for (answer, missing) in [
            (json!({"jti": "j", "token_use": "access"}), "aud"),
            (json!({"aud": "api", "token_use": "access"}), "jti"),
            (json!({"aud": "api", "jti": "j"}), "token_use"),
        ] {
            assert_eq!(
                check_intro(&strict, answer).unwrap_err(),
                ClaimError::Missing(missing.into())
            );
        }
        assert_eq!(
            check_intro(&strict, json!({"iss": "https://other", "aud": "api"})).unwrap_err(),
            ClaimError::Issuer
        );
        assert_eq!(
            check_intro(&strict, json!({"aud": "x"})).unwrap_err(),
            ClaimError::Audience
        );
        assert_eq!(
            check_intro(&strict, json!({"aud": "api", "exp": NOW - 61})).unwrap_err(),
            ClaimError::Time(TimeError::Expired)
        );
        // Named omitted: accepted without them, checked where present.
        let lenient = ClaimRules {
            may_omit: vec!["aud".into(), "jti".into(), "token_use".into()],
            ..strict.clone()
        };
        assert!(check_intro(&lenient, json!({})).is_ok());
        assert_eq!(
            check_intro(&lenient, json!({"aud": "x"})).unwrap_err(),
            ClaimError::Audience
        );
        assert_eq!(
            check_intro(&lenient, json!({"token_use": "id"})).unwrap_err(),
            ClaimError::Mismatch("token_use".into())
        );
        // A JWT is never lenient.
        let Value::Object(map) = json!({"iss": "https://as.example", "exp": NOW + 60}) else {
            unreachable!()
        };
        assert_eq!(
            lenient.check(map, NOW, Source::Jwt).unwrap_err(),
            ClaimError::Missing("aud".into())
        );
    }

    #[test]
    fn confirmations_are_read_and_unknown_ones_mark_the_token_bound() {
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        let c = check(json!({"cnf": {"jkt": jkt}})).unwrap();
        assert_eq!(c.dpop_thumbprint(), Some(jkt));
        assert!(c.is_sender_constrained());
        let c = check(json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}))
            .unwrap();
        assert!(c.certificate_thumbprint().is_some() && c.dpop_thumbprint().is_none());
        for unknown in [
            json!({}),
            json!({"jwk": {"kty": "EC"}}),
            json!({"kid": "k"}),
        ] {
            let c = check(json!({ "cnf": unknown })).unwrap();
            assert!(c.is_sender_constrained() && c.confirmation().unknown);
        }
        for bad in [json!("x"), json!({"jkt": 1}), json!({"x5t#S256": ["a"]})] {
            assert_eq!(
                check(json!({ "cnf": bad })).unwrap_err(),
                ClaimError::Invalid("cnf")
            );
        }
        assert!(!check(json!({})).unwrap().is_sender_constrained());
    }

    #[test]
    fn auth_time_is_a_numeric_date_rounded_down() {
        for (value, expected) in [
            (json!(NOW - 5), Some(NOW - 5)),
            (json!(1_700_000_000.75), Some(1_700_000_000)),
            (json!("1700000000"), None),
            (json!(null), None),
        ] {
            let c = check(json!({ "auth_time": value })).unwrap();
            assert_eq!(c.auth_time(), expected, "{value}");
        }
    }

    #[test]
    fn cached_claims_recheck_time() {
        let c = check(json!({"nbf": NOW - 10})).unwrap();
        assert!(c.check_time(NOW, Leeway(60)).is_ok());
        assert_eq!(
            c.check_time(NOW + 360, Leeway(60)).unwrap_err(),
            TimeError::Expired
        );
        assert_eq!(
            c.check_time(NOW - 100, Leeway(60)).unwrap_err(),
            TimeError::NotYetValid
        );
    }

    #[test]
    fn scopes_are_case_sensitive_whole_tokens() {
        let s = Scopes::parse("read:orders write");
        assert!(!s.contains("READ:orders"));
        assert!(!s.contains("read"));
        assert!(!s.contains(""));
        assert_eq!(s.len(), 2);
        assert!(s.contains_any(["x", "write"]));
        assert!(!s.contains_all(["x", "write"]));
    }

    /// The default role sources read another provider's shape as no roles;
    /// a source the issuer configured refuses the token instead.
    #[test]
    fn default_role_sources_are_lenient_configured_ones_strict() {
        let objects = json!({"roles": [{"key": "admin"}], "permissions": {"a": 1}});
        let lenient = ClaimRules {
            roles: vec![RoleSource::Claim("roles".into())],
            permissions: vec![RoleSource::Claim("permissions".into())],
            default_roles: true,
            default_permissions: true,
            ..rules()
        };
        let c = check_with(&lenient, objects.clone()).unwrap();
        assert!(c.roles().is_empty() && c.permissions().is_empty());
        let strict = ClaimRules {
            default_roles: false,
            ..lenient.clone()
        };
        assert_eq!(
            check_with(&strict, objects).unwrap_err(),
            ClaimError::Invalid("roles")
        );
    }

    #[test]
    fn memory_estimates_follow_what_the_claims_hold() {
        let small = check_with(&rules(), json!({"scope": "a b"})).unwrap();
        let estimate = small.memory_estimate();
        assert!((FIXED..2048).contains(&estimate), "{estimate}");
        // 1,500 zeros: 3 KB of JSON, 48 KB of values.
        let zeros = check_with(&rules(), json!({"x": vec![0; 1500]})).unwrap();
        assert!(
            zeros.memory_estimate() >= 1500 * VALUE,
            "{}",
            zeros.memory_estimate()
        );
        // Deep nesting is walked without recursion.
        let mut deep = json!(0);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert!(json_memory(&deep) >= 100_000 * VALUE);
        std::mem::forget(deep); // serde_json's recursive drop would overflow the stack
    }
}
