//! The introspection client of one validator: the calls, single-flight
//! through the cache, bounded in flight.

use crate::telemetry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderMap;
use tokio::sync::Semaphore;

use super::cache::{Cached, CachedExpiry};
use super::client_auth::ClientAuth;
use super::response::{Answer, Refusal, interpret};
use super::{IntrospectionError, IntrospectionOptions, IntrospectionStats};
use crate::claims::{ClaimError, ClaimRules, Claims};
use crate::clock::Clock;
use crate::remote::fetch::Fetcher;
use crate::remote::jwks::JwksCache;
use crate::remote::{FetchError, RemoteError};

/// The kind of the introspection answers in the shared store.
#[cfg(feature = "redis")]
const SHARED_KIND: &str = "introspection";

/// Why introspection gave no claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The answer refused the token (cached for the inactive TTL).
    Refused(Refusal),
    /// The token could not be checked.
    Unavailable(IntrospectionError),
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    hits: AtomicU64,
    shared_hits: AtomicU64,
    active: AtomicU64,
    inactive: AtomicU64,
    failures: AtomicU64,
    overloaded: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Counts a call in flight for as long as it lives (also when abandoned).
struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    fn new(counters: &'a Counters) -> Self {
        let now = counters
            .in_flight
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        counters.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(counters)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where the endpoint comes from.
pub(crate) enum Endpoint {
    Url(reqwest::Url),
    Discovered(Arc<JwksCache>),
}

/// The introspection client of one validator.
pub(crate) struct Introspector {
    endpoint: Endpoint,
    auth: ClientAuth,
    fetcher: Fetcher,
    options: IntrospectionOptions,
    cache: moka::future::Cache<[u8; 32], Cached>,
    permits: Arc<Semaphore>,
    clock: Clock,
    counters: Counters,
    /// Failures any opaque token can cause are said at `warn` once a
    /// minute.
    warnings: crate::telemetry::WarnThrottle,
    /// The fleet's shared cache, behind the in-process one.
    #[cfg(feature = "redis")]
    store: Option<crate::store::RedisStore>,
}

impl Introspector {
    pub(crate) fn new(
        endpoint: Endpoint,
        auth: ClientAuth,
        fetcher: Fetcher,
        options: IntrospectionOptions,
        clock: Clock,
    ) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(options.capacity)
            .expire_after(CachedExpiry)
            .build();
        Introspector {
            endpoint,
            auth,
            fetcher,
            // tokio refuses more permits than `MAX_PERMITS`; more calls in
            // flight than that is "unlimited" in any case.
            permits: Arc::new(Semaphore::new(
                options.max_concurrent.min(Semaphore::MAX_PERMITS),
            )),
            options,
            cache,
            clock,
            counters: Counters::default(),
            warnings: crate::telemetry::WarnThrottle::default(),
            #[cfg(feature = "redis")]
            store: None,
        }
    }

    /// Shares the cache through `store`.
    #[cfg(feature = "redis")]
    pub(crate) fn with_store(mut self, store: Option<crate::store::RedisStore>) -> Self {
        self.store = store;
        self
    }

    /// Validates `token`, whose SHA-256 is `digest`, by introspection
    /// (through the cache).
    pub(crate) async fn introspect(
        &self,
        token: &str,
        digest: [u8; 32],
        rules: &ClaimRules,
    ) -> Result<Claims, Rejection> {
        let now = self.clock.now();
        if let Some(hit) = self.cache.get(&digest).await {
            if !hit.stale(now) {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                telemetry::introspection_cache("hit");
                return self.answer(hit, rules);
            }
            self.cache.invalidate(&digest).await;
        }
        // Concurrent requests for this token share one call, and its error;
        // errors are not cached, so they never displace good answers.
        let entry = self
            .cache
            .entry(digest)
            .or_try_insert_with(self.call(token, digest, rules))
            .await
            .map_err(|e| Rejection::Unavailable((*e).clone()))?;
        if !entry.is_fresh() {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            telemetry::introspection_cache("hit");
        }
        self.answer(entry.into_value(), rules)
    }

    fn answer(&self, cached: Cached, rules: &ClaimRules) -> Result<Claims, Rejection> {
        match cached.answer {
            Answer::Active { claims, .. } => {
                claims
                    .check_time(self.clock.now(), rules.leeway)
                    .map_err(|e| Rejection::Refused(Refusal::Claims(ClaimError::Time(e))))?;
                Ok(claims)
            }
            Answer::Refused { refusal, .. } => Err(Rejection::Refused(refusal)),
        }
    }

    /// One call to the endpoint (or the fleet's cache), turned into a
    /// cacheable outcome.
    async fn call(
        &self,
        token: &str,
        digest: [u8; 32],
        rules: &ClaimRules,
    ) -> Result<Cached, IntrospectionError> {
        #[cfg(feature = "redis")]
        if let Some(cached) = self.shared_get(&digest, rules).await {
            self.counters.shared_hits.fetch_add(1, Ordering::Relaxed);
            telemetry::introspection_cache("shared_hit");
            return Ok(cached);
        }
        #[cfg(not(feature = "redis"))]
        let _ = digest;
        telemetry::introspection_cache("miss");
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
            telemetry::introspection_call("overloaded");
            return Err(IntrospectionError::Overloaded);
        };
        let _in_flight = InFlight::new(&self.counters);
        let now = self.clock.now();
        let body = self.request(token).await;
        let outcome = body.as_ref().map_err(Clone::clone).and_then(|body| {
            interpret(body, rules, now, &self.options)
                .map(|answer| Cached { answer, at: now })
                .map_err(IntrospectionError::InvalidResponse)
        });
        telemetry::introspection_call(match &outcome {
            Ok(Cached {
                answer: Answer::Active { .. },
                ..
            }) => "active",
            Ok(Cached {
                answer: Answer::Refused { refusal, .. },
                ..
            }) => match refusal {
                Refusal::Inactive => "inactive",
                Refusal::NotAnAccessToken => "not_an_access_token",
                Refusal::Claims(_) => "refused_claims",
            },
            Err(_) => "error",
        });
        // Only what the endpoint said of a token it issued is shared (an
        // answer `active: true`, which each replica reads again with its
        // own rules): `active: false` is the answer to any string a
        // stranger makes up, and shared it would let strangers fill the
        // fleet's Redis (evicting replay entries under an evicting policy,
        // refusing every write under `noeviction`). Each replica keeps
        // those in its own bounded cache.
        #[cfg(feature = "redis")]
        if let (Ok(cached), Ok(body)) = (&outcome, &body)
            && !matches!(
                cached.answer,
                Answer::Refused {
                    refusal: Refusal::Inactive,
                    ..
                }
            )
        {
            self.shared_put(&digest, cached, body).await;
        }
        match &outcome {
            Ok(Cached {
                answer: Answer::Active { .. },
                ..
            }) => self.counters.active.fetch_add(1, Ordering::Relaxed),
            Ok(_) => self.counters.inactive.fetch_add(1, Ordering::Relaxed),
            Err(error) => {
                if self.warnings.due(self.clock.mono_ms()) {
                    tracing::warn!(%error, "token introspection failed (said at most once a minute; the rest at debug)");
                } else {
                    tracing::debug!(%error, "token introspection failed");
                }
                self.counters.failures.fetch_add(1, Ordering::Relaxed)
            }
        };
        outcome
    }

    /// An answer another replica stored: its body, read again with this
    /// validator's rules as of when it was fetched, unless stale now.
    /// `None` on a miss and when Redis is unavailable (then the endpoint is
    /// asked, as without Redis).
    #[cfg(feature = "redis")]
    async fn shared_get(&self, digest: &[u8; 32], rules: &ClaimRules) -> Option<Cached> {
        let store = self.store.as_ref()?;
        let id = self.shared_id(digest).await?;
        let value = match store.get(SHARED_KIND, &id).await {
            Ok(value) => value?,
            Err(e) => {
                if self.warnings.due(self.clock.mono_ms()) {
                    tracing::warn!(error = %e, "shared introspection cache unavailable: asking the endpoint");
                } else {
                    tracing::debug!(error = %e, "shared introspection cache unavailable");
                }
                return None;
            }
        };
        // An answer the endpoint could not have sent is not read.
        if value.len() > self.options.max_size.saturating_add(32) {
            return None;
        }
        // `AT\nBODY`: when it was fetched, and the answer as it came.
        let newline = value.iter().position(|b| *b == b'\n')?;
        let (at, body) = value.split_at(newline);
        let at: i64 = std::str::from_utf8(at).ok()?.parse().ok()?;
        // Written by a replica whose clock runs ahead of this one's (or
        // before this one's stepped back): its age here would be negative
        // and the answer outlive its TTL. Asked again instead.
        if at > self.clock.now().saturating_add(rules.leeway.0) {
            return None;
        }
        let body = body.get(1..)?;
        let answer = interpret(body, rules, at, &self.options).ok()?;
        let cached = Cached { answer, at };
        (!cached.stale(self.clock.now())).then_some(cached)
    }

    /// The shared entry of a token: its digest with the endpoint and the
    /// client that asked (RFC 7662 §2.2 lets a server answer each
    /// resource differently), so that services sharing a Redis and a
    /// namespace never read each other's answers.
    #[cfg(feature = "redis")]
    async fn shared_id(&self, digest: &[u8; 32]) -> Option<[u8; 32]> {
        let endpoint = self.endpoint().await.ok()?;
        let mut input = Vec::with_capacity(endpoint.as_str().len().saturating_add(96));
        input.extend_from_slice(endpoint.as_str().as_bytes());
        input.push(0);
        input.extend_from_slice(self.auth.client_id().as_bytes());
        input.push(0);
        input.extend_from_slice(digest);
        Some(crate::digest::sha256(&input))
    }

    /// Stores an answer for the other replicas, for its TTL.
    #[cfg(feature = "redis")]
    async fn shared_put(&self, digest: &[u8; 32], cached: &Cached, body: &[u8]) {
        let Some(store) = &self.store else {
            return;
        };
        let ttl = cached.ttl_secs();
        if ttl == 0 {
            return;
        }
        let Some(id) = self.shared_id(digest).await else {
            return;
        };
        let mut value = cached.at.to_string().into_bytes();
        value.push(b'\n');
        value.extend_from_slice(body);
        if let Err(e) = store.put(SHARED_KIND, &id, &value, ttl).await {
            if self.warnings.due(self.clock.mono_ms()) {
                tracing::warn!(error = %e, "shared introspection cache unavailable: answer kept in-process only");
            } else {
                tracing::debug!(error = %e, "shared introspection cache unavailable");
            }
        }
    }

    async fn endpoint(&self) -> Result<reqwest::Url, IntrospectionError> {
        match &self.endpoint {
            Endpoint::Url(url) => Ok(url.clone()),
            Endpoint::Discovered(cache) => {
                if cache.metadata().is_none() {
                    // Start-up: discovery may still be running.
                    let _ = tokio::time::timeout(
                        self.options
                            .timeout
                            .max(Duration::from_secs(1))
                            .saturating_mul(2),
                        cache.first_attempt(),
                    )
                    .await;
                }
                let url = cache
                    .metadata()
                    .and_then(|m| m.introspection_endpoint.clone())
                    .ok_or(IntrospectionError::NoEndpoint)?;
                self.fetcher
                    .url(&url)
                    .map_err(|e| IntrospectionError::Fetch(e.into()))
            }
        }
    }

    /// The RFC 7662 §2.1 request: `token`, `token_type_hint` and the client
    /// authentication; only a 200 answer's body comes back.
    async fn request(&self, token: &str) -> Result<Vec<u8>, IntrospectionError> {
        let url = self.endpoint().await?;
        let mut form: Vec<(&'static str, String)> = vec![
            ("token", token.to_owned()),
            ("token_type_hint", "access_token".to_owned()),
        ];
        let mut headers = HeaderMap::new();
        self.auth
            .apply(&mut form, &mut headers, url.as_str(), self.clock.now())?;
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        self.fetcher
            .post_form(
                &url,
                &pairs,
                headers,
                self.options.max_size,
                self.options.timeout,
            )
            .await
            .map_err(|e| match e {
                FetchError::Status(code @ (401 | 403)) => {
                    IntrospectionError::ClientAuthRejected(code)
                }
                other => IntrospectionError::Fetch(RemoteError::request(&url, other)),
            })
    }

    pub(crate) async fn stats(&self) -> IntrospectionStats {
        self.cache.run_pending_tasks().await;
        let c = &self.counters;
        IntrospectionStats {
            calls: c.calls.load(Ordering::Relaxed),
            cache_hits: c.hits.load(Ordering::Relaxed),
            shared_cache_hits: c.shared_hits.load(Ordering::Relaxed),
            active: c.active.load(Ordering::Relaxed),
            inactive: c.inactive.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
            max_in_flight: c.max_in_flight.load(Ordering::Relaxed),
            cached: self.cache.entry_count(),
        }
    }
}
