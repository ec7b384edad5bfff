//! [`Health`]: a snapshot for readiness probes and status pages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::Validator;
#[cfg(feature = "remote")]
use crate::remote::KeyStatus;

/// How ready a validator is to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthStatus {
    /// Every issuer's keys are fresh (or configured locally, or found per
    /// tenant).
    Ready,
    /// Tokens can be validated, but not as well as they should: an
    /// issuer's key refreshes are failing (its last good keys keep
    /// serving), or one of several issuers has no usable keys.
    Degraded,
    /// No issuer has usable keys (the first fetches have not finished, or
    /// failed, or the last good keys are older than `max_stale`): every
    /// token would be answered 503.
    NotReady,
}

/// One issuer's key source in a [`Health`] snapshot.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct IssuerHealth {
    /// The issuer (`iss`).
    pub issuer: String,
    /// `local` (configured keys), the remote key set's state (`loading`,
    /// `fresh`, `stale`, `unavailable`), or `per_tenant` for a multi-tenant
    /// template whose tenants discover their keys when their first token
    /// comes.
    pub keys_status: &'static str,
    /// Usable keys.
    pub keys: usize,
    /// Seconds since the authorization server last confirmed the keys (200
    /// or 304); `None` for local keys and before the first success.
    pub key_age_seconds: Option<u64>,
    /// Failed refreshes since the last success.
    pub consecutive_failures: u32,
    /// The last refresh's error, if it failed. It may name internal URLs
    /// (never their credentials: user information and query values are
    /// hidden): serve it to operators, not on a public route.
    pub last_error: Option<String>,
}

/// A snapshot of a validator's health, for a readiness probe (`status`,
/// [`http_status`](Self::http_status)) and a status page (it serializes to
/// JSON).
///
/// ```
/// # use bearer_guard::testing::TestIssuer;
/// use bearer_guard::health::HealthStatus;
/// let validator = TestIssuer::new().validator();
/// let health = validator.health();
/// assert_eq!(health.status, HealthStatus::Ready);
/// assert_eq!(health.http_status(), 200);
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// The verdict.
    pub status: HealthStatus,
    /// Each issuer's key source (each live tenant of a discovered
    /// multi-tenant issuer).
    pub issuers: Vec<IssuerHealth>,
}

impl Health {
    /// The status a readiness probe should answer: 200 when tokens can be
    /// validated (`ready` or `degraded`), 503 when not.
    pub fn http_status(&self) -> u16 {
        match self.status {
            HealthStatus::Ready | HealthStatus::Degraded => 200,
            HealthStatus::NotReady => 503,
        }
    }
}

impl Validator {
    /// The validator's health now: the state of each issuer's keys, and a
    /// verdict. Cheap (no I/O): call it from a readiness probe.
    pub fn health(&self) -> Health {
        let now = UNIX_EPOCH
            .checked_add(Duration::from_secs(
                u64::try_from(self.inner.clock.now()).unwrap_or(0),
            ))
            .unwrap_or(UNIX_EPOCH);
        let issuers = &self.inner.issuers;
        #[cfg_attr(not(feature = "remote"), allow(unused_mut))]
        let mut list: Vec<IssuerHealth> = issuers
            .key_sources()
            .into_iter()
            .map(|(issuer, source)| issuer_health(issuer, &source, now))
            .collect();
        // A template that discovers each tenant's keys has no key source
        // before its first tenant's token: it is ready to make one.
        #[cfg(feature = "remote")]
        list.extend(
            issuers
                .discovering_templates()
                .into_iter()
                .map(|issuer| IssuerHealth {
                    issuer,
                    keys_status: "per_tenant",
                    keys: 0,
                    key_age_seconds: None,
                    consecutive_failures: 0,
                    last_error: None,
                }),
        );
        // Usable: keys to verify with now (configured keys beside a remote
        // source without a fetched set count), or a tenant template.
        // Local key sources count even when empty (an issuer whose tokens
        // are all introspected).
        let usable =
            |i: &IssuerHealth| i.keys > 0 || matches!(i.keys_status, "local" | "per_tenant");
        let sound = |i: &IssuerHealth| matches!(i.keys_status, "local" | "fresh" | "per_tenant");
        let status = if !list.iter().any(usable) {
            HealthStatus::NotReady
        } else if list.iter().all(sound) {
            HealthStatus::Ready
        } else {
            HealthStatus::Degraded
        };
        Health {
            status,
            issuers: list,
        }
    }
}

fn issuer_health(
    issuer: String,
    source: &super::key_source::KeySource,
    now: SystemTime,
) -> IssuerHealth {
    #[cfg(feature = "remote")]
    if let Some(remote) = source.remote() {
        let stats = remote.cache.stats();
        let keys_status = match stats.status {
            KeyStatus::Loading => "loading",
            KeyStatus::Fresh => "fresh",
            KeyStatus::Stale => "stale",
            _ => "unavailable",
        };
        return IssuerHealth {
            issuer,
            keys_status,
            keys: stats.keys,
            key_age_seconds: stats
                .last_success
                .map(|at| now.duration_since(at).unwrap_or(Duration::ZERO).as_secs()),
            consecutive_failures: stats.consecutive_failures,
            last_error: stats.last_error.map(|e| e.to_string()),
        };
    }
    let _ = now;
    IssuerHealth {
        issuer,
        keys_status: "local",
        keys: source.local_len(),
        key_age_seconds: None,
        consecutive_failures: 0,
        last_error: None,
    }
}
