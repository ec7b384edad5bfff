//! The trusted issuers of a validator, ready to check tokens, and how a
//! token's (unverified) `iss` chooses among them: exactly, or through a
//! tenant template bounded by an allow-list or a cap.
//!
//! A tenant named by a token is a candidate until the token's signature
//! verifies with the tenant's keys; only then is it remembered. With shared
//! keys a candidate costs nothing lasting. With discovery a candidate has
//! its own key source (its issuer's metadata must be fetched before any of
//! its tokens can be checked): at most [`MAX_PENDING_TENANTS`] such
//! unverified tenants exist at a time, each kept [`PENDING_TENANT_TTL`]
//! seconds, so that tokens naming made-up tenants cause at most that many
//! discoveries per period and never crowd out the verified tenants.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Map, Value};

use super::error::ValidationError;
use super::issuer::MAX_TENANT_LEN;
#[cfg(feature = "remote")]
use super::issuer::{MAX_PENDING_TENANTS, PENDING_TENANT_TTL};
use super::key_source::KeySource;
use crate::claims::ClaimRules;
use crate::jwt::HeaderRules;

/// One issuer, ready to check tokens.
pub(crate) struct Trusted {
    pub(crate) header: HeaderRules,
    pub(crate) claims: ClaimRules,
    pub(crate) keys: KeySource,
}

/// Which issuer a token (or a cached verification) belongs to.
#[derive(Clone)]
pub(crate) enum Owner {
    /// An issuer configured by name.
    Exact(usize),
    /// One tenant of a templated issuer, already verified once.
    Tenant(Arc<Trusted>),
    /// A tenant not verified yet: remembered only once a token of it
    /// passes every check ([`Issuers::admit`]).
    Candidate(Arc<Candidate>),
}

/// A tenant named by a token that has not verified yet.
pub(crate) struct Candidate {
    template: usize,
    tenant: String,
    trusted: Arc<Trusted>,
}

/// An unverified tenant of a discovering template, and since when
/// (monotonic seconds).
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) struct PendingTenant {
    tenant: String,
    trusted: Arc<Trusted>,
    since: i64,
}

/// How the tenants of a templated issuer get their keys.
pub(crate) enum TenantKeys {
    /// One key source for every tenant (static keys, or one JWKS URL, as
    /// Entra's `common` keys).
    Shared(KeySource),
    /// Each tenant's own metadata, discovered from its issuer URL.
    #[cfg(feature = "remote")]
    Discover(Box<super::key_source::RemoteSpec>),
}

/// A templated issuer: `prefix{tenant}suffix`.
pub(crate) struct Template {
    pub(crate) prefix: String,
    pub(crate) suffix: String,
    pub(crate) tenant_claim: String,
    pub(crate) allowed: Option<BTreeSet<String>>,
    pub(crate) max_tenants: usize,
    pub(crate) header: HeaderRules,
    /// The rules of every tenant; `issuers` is set per tenant.
    pub(crate) claims: ClaimRules,
    pub(crate) keys: TenantKeys,
    /// The tenants whose tokens verified (never more than the allow-list or
    /// the cap).
    pub(crate) live: RwLock<Vec<(String, Arc<Trusted>)>>,
    /// Discovery only: tenants named by tokens not verified yet.
    pub(crate) pending: Mutex<Vec<PendingTenant>>,
    /// Refusals are logged at `warn` once a minute (monotonic clock).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) warnings: crate::telemetry::WarnThrottle,
}

/// Every issuer a validator trusts.
pub(crate) struct Issuers {
    pub(crate) exact: Vec<Trusted>,
    pub(crate) templates: Vec<Template>,
}

/// Whether a tenant id is one a template may be instantiated with: 1 to 64
/// letters, digits, `-`, `_` or `.` (GUIDs, domain names), nothing that
/// could change the meaning of a URL.
fn valid_tenant(tenant: &str) -> bool {
    (1..=MAX_TENANT_LEN).contains(&tenant.len())
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && tenant != "."
        && tenant != ".."
}

impl Template {
    /// The tenant named by `iss`, if `iss` fits the template.
    fn tenant_of<'a>(&self, iss: &'a str) -> Option<&'a str> {
        iss.strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())
    }

    /// Whether no further tenant may be remembered.
    fn full(&self, live: usize) -> bool {
        self.allowed.is_none() && live >= self.max_tenants
    }

    fn name(&self) -> String {
        format!("{}{{tenant}}{}", self.prefix, self.suffix)
    }

    /// Logs a refusal at `warn` at most once a minute per template (the
    /// tokens that cause it are unauthenticated), at `debug` otherwise.
    #[cfg(feature = "remote")]
    fn warn(&self, now: i64, message: &str) {
        let now_ms = u64::try_from(now).unwrap_or(0).saturating_mul(1000);
        if self.warnings.due(now_ms) {
            tracing::warn!(template = %self.name(), "{message}");
        } else {
            tracing::debug!(template = %self.name(), "{message}");
        }
    }

    /// The issuer of `tenant` (named by `iss`): the remembered one, or a
    /// candidate to verify the token with.
    #[cfg_attr(not(feature = "remote"), allow(unused_variables))]
    fn owner(
        &self,
        index: usize,
        iss: &str,
        tenant: &str,
        now: i64,
        header_ok: &dyn Fn(&HeaderRules) -> bool,
    ) -> Result<Owner, ValidationError> {
        if self.allowed.as_ref().is_some_and(|a| !a.contains(tenant)) {
            return Err(ValidationError::InvalidIssuer);
        }
        // A poisoned lock only means a panic elsewhere while it was held;
        // the lists only ever change by whole entries.
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        if let Some((_, trusted)) = live.iter().find(|(t, _)| t == tenant) {
            return Ok(Owner::Tenant(trusted.clone()));
        }
        drop(live);
        let candidate = |trusted: Arc<Trusted>| {
            Owner::Candidate(Arc::new(Candidate {
                template: index,
                tenant: tenant.to_owned(),
                trusted,
            }))
        };
        let keys = match &self.keys {
            // Nothing is fetched for a tenant of shared keys: check the
            // token, remember the tenant if it passes.
            TenantKeys::Shared(keys) => keys.clone(),
            #[cfg(feature = "remote")]
            TenantKeys::Discover(spec) => {
                // A token that cannot pass the template's header rules
                // (`alg: none`, an algorithm not allowed, another `typ`)
                // takes no place and starts no discovery.
                if !header_ok(&self.header) {
                    return Err(ValidationError::InvalidIssuer);
                }
                // Lock order: `live`, then `pending` (as in `admit`).
                let live = self.live.read().unwrap_or_else(|e| e.into_inner());
                if let Some((_, trusted)) = live.iter().find(|(t, _)| t == tenant) {
                    return Ok(Owner::Tenant(trusted.clone()));
                }
                if self.full(live.len()) {
                    self.warn(
                        now,
                        "a token names a new tenant beyond max_tenants; refused",
                    );
                    return Err(ValidationError::InvalidIssuer);
                }
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                drop(live);
                // Unverified tenants past their time make room (their key
                // sources stop when the last request using them ends).
                // Timed on the monotonic clock: a wall clock stepping back
                // does not keep them; a reading older than an entry's (from
                // a request that read it first) keeps it, within the bound.
                pending.retain(|p| now.saturating_sub(p.since) < PENDING_TENANT_TTL);
                if let Some(p) = pending.iter().find(|p| p.tenant == tenant) {
                    return Ok(candidate(p.trusted.clone()));
                }
                // With an allow-list, the list bounds the pending tenants.
                if self.allowed.is_none() && pending.len() >= MAX_PENDING_TENANTS {
                    self.warn(
                        now,
                        "a token names a new tenant while MAX_PENDING_TENANTS unverified tenants are pending; answered 503",
                    );
                    // Not a verdict on the token: its tenant may be genuine
                    // and get a place once one frees (retry later).
                    return Err(ValidationError::KeysUnavailable);
                }
                // Attributed to the template (its metrics, its logs at
                // `debug`, no retries) until a token of it verifies.
                let trusted = Arc::new(self.trusted(iss, spec.discover_tenant(iss, self.name())));
                pending.push(PendingTenant {
                    tenant: tenant.to_owned(),
                    trusted: trusted.clone(),
                    since: now,
                });
                return Ok(candidate(trusted));
            }
        };
        Ok(candidate(Arc::new(self.trusted(iss, keys))))
    }

    /// The rules of the tenant named `iss`, with `keys`.
    fn trusted(&self, iss: &str, keys: KeySource) -> Trusted {
        let mut claims = self.claims.clone();
        claims.issuers = vec![iss.to_owned()];
        Trusted {
            header: self.header.clone(),
            claims,
            keys,
        }
    }

    /// Remembers a candidate whose token passed every check; the owner to
    /// record the verification under. A discovering template past its cap
    /// refuses the tenant; shared keys accept it without remembering it.
    fn admit(&self, candidate: &Candidate) -> Result<Owner, ValidationError> {
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        let discovers = !matches!(self.keys, TenantKeys::Shared(_));
        if discovers {
            // Verified: no longer pending, whoever admits it.
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.retain(|p| p.tenant != candidate.tenant);
        }
        if let Some((_, trusted)) = live.iter().find(|(t, _)| *t == candidate.tenant) {
            return Ok(Owner::Tenant(trusted.clone()));
        }
        if self.full(live.len()) {
            if discovers {
                return Err(ValidationError::InvalidIssuer);
            }
            return Ok(Owner::Tenant(candidate.trusted.clone()));
        }
        // Verified: its metrics, logs and refreshes are its own from now.
        #[cfg(feature = "remote")]
        if let Some(remote) = candidate.trusted.keys.remote() {
            remote.cache.mark_verified();
        }
        live.push((candidate.tenant.clone(), candidate.trusted.clone()));
        Ok(Owner::Tenant(candidate.trusted.clone()))
    }
}

impl Issuers {
    /// The only issuer, when one issuer is configured by name and no
    /// template: its tokens need no look at `iss` before the signature.
    pub(crate) fn single(&self) -> Option<&Trusted> {
        match (self.exact.as_slice(), self.templates.is_empty()) {
            ([only], true) => Some(only),
            _ => None,
        }
    }

    /// The issuer `claims` (read before the signature) names: by its `iss`,
    /// exactly or through a template whose tenant the tenant claim confirms
    /// (the first template that accepts it, when several fit). `now` is
    /// monotonic seconds (pending tenants, warning throttles).
    pub(crate) fn select(
        &self,
        claims: &Map<String, Value>,
        now: i64,
        header_ok: &dyn Fn(&HeaderRules) -> bool,
    ) -> Result<Owner, ValidationError> {
        let iss = match claims.get("iss") {
            None | Some(Value::Null) => return Err(ValidationError::MissingClaim("iss".into())),
            Some(Value::String(iss)) => iss.as_str(),
            Some(_) => return Err(ValidationError::InvalidClaim("iss")),
        };
        if let Some(i) = self
            .exact
            .iter()
            .position(|t| t.claims.issuers.iter().any(|name| name == iss))
        {
            return Ok(Owner::Exact(i));
        }
        let mut refused = ValidationError::InvalidIssuer;
        for (index, template) in self.templates.iter().enumerate() {
            let Some(tenant) = template.tenant_of(iss) else {
                continue;
            };
            let confirmed = claims
                .get(&template.tenant_claim)
                .and_then(Value::as_str)
                .is_some_and(|claimed| claimed == tenant);
            if !valid_tenant(tenant) || !confirmed {
                continue;
            }
            match template.owner(index, iss, tenant, now, header_ok) {
                Ok(owner) => return Ok(owner),
                Err(e) => refused = e,
            }
        }
        Err(refused)
    }

    /// The owner to record a verification under, once a token passed every
    /// check: a candidate tenant becomes a remembered one.
    pub(crate) fn admit(&self, owner: Owner) -> Result<Owner, ValidationError> {
        match owner {
            Owner::Candidate(candidate) => self
                .templates
                .get(candidate.template)
                .ok_or(ValidationError::InvalidIssuer)?
                .admit(&candidate),
            known => Ok(known),
        }
    }

    /// The issuer an owner refers to.
    pub(crate) fn get<'a>(&'a self, owner: &'a Owner) -> Option<&'a Trusted> {
        match owner {
            Owner::Exact(i) => self.exact.get(*i),
            Owner::Tenant(trusted) => Some(trusted),
            Owner::Candidate(candidate) => Some(&candidate.trusted),
        }
    }

    /// Each issuer's key source, by issuer name: those configured by name,
    /// each live tenant, and each template's shared source (under the
    /// template).
    pub(crate) fn key_sources(&self) -> Vec<(String, KeySource)> {
        let first = |t: &Trusted| t.claims.issuers.first().cloned().unwrap_or_default();
        let mut out: Vec<(String, KeySource)> = self
            .exact
            .iter()
            .map(|t| (first(t), t.keys.clone()))
            .collect();
        for template in &self.templates {
            match &template.keys {
                TenantKeys::Shared(keys) => out.push((template.name(), keys.clone())),
                #[cfg(feature = "remote")]
                TenantKeys::Discover(_) => {
                    let live = template.live.read().unwrap_or_else(|e| e.into_inner());
                    out.extend(live.iter().map(|(_, t)| (first(t), t.keys.clone())));
                }
            }
        }
        out
    }

    /// The multi-tenant templates whose tenants each discover their own
    /// keys: a key source appears per tenant, once one of its tokens came.
    #[cfg(feature = "remote")]
    pub(crate) fn discovering_templates(&self) -> Vec<String> {
        self.templates
            .iter()
            .filter(|t| matches!(t.keys, TenantKeys::Discover(_)))
            .map(Template::name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_plain() {
        for ok in [
            "9188040d-6c67-4c5b-b112-36a304b66dad",
            "contoso.onmicrosoft.com",
            "t_1",
        ] {
            assert!(valid_tenant(ok), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in ["", "..", ".", "a/b", "a?b", "a%2fb", "é", long.as_str()] {
            assert!(!valid_tenant(bad), "{bad}");
        }
    }
}
