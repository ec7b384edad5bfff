//! The trusted issuers of a validator, ready to check tokens, and how a
//! token's (unverified) `iss` chooses among them: exactly, or through a
//! tenant template bounded by an allow-list or a cap.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use super::error::ValidationError;
use super::issuer::MAX_TENANT_LEN;
use super::key_source::KeySource;
use crate::claims::ClaimRules;
use crate::jwt::HeaderRules;
#[cfg(feature = "remote")]
use crate::remote::KeySourceStats;

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
    /// One tenant of a templated issuer.
    Tenant(Arc<Trusted>),
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
    /// The tenants seen so far (never more than the allow-list or the cap).
    pub(crate) live: RwLock<Vec<(String, Arc<Trusted>)>>,
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

    /// The tenant's issuer, created on its first token within the bounds.
    fn tenant(&self, iss: &str, tenant: &str) -> Result<Arc<Trusted>, ValidationError> {
        let read = |live: &[(String, Arc<Trusted>)]| {
            live.iter()
                .find(|(t, _)| t == tenant)
                .map(|(_, i)| i.clone())
        };
        // A poisoned lock only means a panic elsewhere while it was held;
        // the list is only ever pushed to whole entries.
        if let Some(found) = read(&self.live.read().unwrap_or_else(|e| e.into_inner())) {
            return Ok(found);
        }
        if self.allowed.as_ref().is_some_and(|a| !a.contains(tenant)) {
            return Err(ValidationError::InvalidIssuer);
        }
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = read(&live) {
            return Ok(found);
        }
        if self.allowed.is_none() && live.len() >= self.max_tenants {
            tracing::warn!(
                template = %format!("{}{{tenant}}{}", self.prefix, self.suffix),
                max = self.max_tenants,
                "a token names a new tenant beyond the cap; refused"
            );
            return Err(ValidationError::InvalidIssuer);
        }
        let keys = match &self.keys {
            TenantKeys::Shared(keys) => keys.clone(),
            #[cfg(feature = "remote")]
            TenantKeys::Discover(spec) => spec.discover(iss),
        };
        let mut claims = self.claims.clone();
        claims.issuers = vec![iss.to_owned()];
        let trusted = Arc::new(Trusted {
            header: self.header.clone(),
            claims,
            keys,
        });
        live.push((tenant.to_owned(), trusted.clone()));
        Ok(trusted)
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
    /// exactly or through a template whose tenant the tenant claim confirms.
    pub(crate) fn select(&self, claims: &Map<String, Value>) -> Result<Owner, ValidationError> {
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
        for template in &self.templates {
            let Some(tenant) = template.tenant_of(iss) else {
                continue;
            };
            let confirmed = claims
                .get(&template.tenant_claim)
                .and_then(Value::as_str)
                .is_some_and(|claimed| claimed == tenant);
            if !valid_tenant(tenant) || !confirmed {
                return Err(ValidationError::InvalidIssuer);
            }
            return template.tenant(iss, tenant).map(Owner::Tenant);
        }
        Err(ValidationError::InvalidIssuer)
    }

    /// The issuer an owner refers to.
    pub(crate) fn get<'a>(&'a self, owner: &'a Owner) -> Option<&'a Trusted> {
        match owner {
            Owner::Exact(i) => self.exact.get(*i),
            Owner::Tenant(trusted) => Some(trusted),
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
                TenantKeys::Shared(keys) => {
                    let name = format!("{}{{tenant}}{}", template.prefix, template.suffix);
                    out.push((name, keys.clone()));
                }
                #[cfg(feature = "remote")]
                TenantKeys::Discover(_) => {
                    let live = template.live.read().unwrap_or_else(|e| e.into_inner());
                    out.extend(live.iter().map(|(_, t)| (first(t), t.keys.clone())));
                }
            }
        }
        out
    }

    /// The remote key sources' statistics, by issuer.
    #[cfg(feature = "remote")]
    pub(crate) fn stats(&self) -> Vec<(String, KeySourceStats)> {
        self.key_sources()
            .into_iter()
            .filter_map(|(name, keys)| keys.remote().map(|r| (name, r.cache.stats())))
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
