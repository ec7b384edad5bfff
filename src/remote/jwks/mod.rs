//! A JWKS fetched from the authorization server and kept fresh in the
//! background: rotation, outages and abuse.
//!
//! - **Hot path**: requests read the current key set through an
//!   [`ArcSwap`](arc_swap::ArcSwapOption): no lock, no waiting, whatever the
//!   network is doing.
//! - **Background refresh**: one task per validator fetches the set, with
//!   conditional requests (`If-None-Match`, `If-Modified-Since`; a 304 keeps
//!   the set), on an interval taken from `Cache-Control: max-age` (minus
//!   `Age`), clamped to [`JwksOptions::refresh_bounds`], ±5 % jitter; the
//!   task stops when the validator is dropped.
//! - **Unknown `kid`**: a token naming a key the set lacks triggers one
//!   refresh, at most once per [`cool-down`](JwksOptions::cooldown); every
//!   request that arrives while it runs waits for that same fetch (single
//!   flight, bounded wait); within the cool-down the token is refused at once.
//! - **Failures**: the last good set keeps serving (stale-if-error) for up to
//!   [`max_stale`](JwksOptions::max_stale) after the server last confirmed
//!   it; retries back off exponentially. With no usable set, validation
//!   answers [`ValidationError::KeysUnavailable`](crate::ValidationError::KeysUnavailable) (HTTP 503),
//!   except for tokens that keys configured beside the remote source
//!   verify.

//!
//! Layout: [`options`] (settings and timing rules), [`stats`] (what it
//! reports), and the cache itself here.

pub(crate) mod options;
pub(crate) mod stats;

use crate::telemetry;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwapOption, Guard};
use http::header::{ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::Url;
use tokio::sync::{Notify, watch};

use self::options::{JwksOptions, MAX_DELAY, MIN_DELAY, jitter};
use self::stats::{KeySourceStats, KeyStatus};
use super::discovery::{self, IssuerMetadata};
use super::error::{DiscoveryError, FetchError, Kind, RemoteError};
use super::fetch::Fetcher;
use super::url::EndpointUrl;
use crate::clock::Clock;
use crate::keys::KeySet;

/// Notifications of finished key fetches, from
/// [`RemoteKeys::updates`](crate::jwks::RemoteKeys::updates).
#[derive(Debug)]
pub struct KeySourceUpdates {
    attempts: watch::Receiver<u64>,
    cache: std::sync::Weak<JwksCache>,
}

impl KeySourceUpdates {
    /// Waits until the next fetch attempt finishes (successful or not) and
    /// returns the statistics then; `None` once the validator is dropped.
    ///
    /// A [`RemoteKeys`](crate::jwks::RemoteKeys) handle outliving the
    /// validator keeps the key set's statistics, not this subscription.
    pub async fn next(&mut self) -> Option<KeySourceStats> {
        // Never hold the cache across the wait: its last owner dropping
        // ends the subscription.
        if self.stopped() {
            return None;
        }
        self.attempts.changed().await.ok()?;
        let cache = self.cache.upgrade()?;
        (!cache.is_stopped()).then(|| cache.stats())
    }

    /// Whether the key source is gone (its validator dropped).
    fn stopped(&self) -> bool {
        self.cache.upgrade().is_none_or(|cache| cache.is_stopped())
    }
}

/// What a validator fetches keys from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A JWKS URL.
    Url(String),
    /// The `jwks_uri` of the issuer's metadata.
    Discover(String),
}

/// The key set in use, with what the server said about it.
pub(crate) struct Snapshot {
    pub(crate) keys: KeySet,
    /// The configured keys alone, standing in while no fetched set is
    /// usable: what they do not verify waits for a fetch or answers 503.
    pub(crate) configured_only: bool,
    /// Monotonic time (ms) the server last confirmed this set.
    confirmed_at: u64,
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

#[derive(Default)]
struct Control {
    in_flight: bool,
    /// A refresh asked for explicitly, which ignores the cool-down.
    forced: bool,
    last_started: Option<u64>,
    finished_attempts: u64,
}

struct StatsInner {
    jwks_uri: Option<EndpointUrl>,
    fetches: u64,
    on_demand: u64,
    failures: u64,
    not_modified: u64,
    consecutive_failures: u32,
    last_success: Option<SystemTime>,
    last_attempt: Option<SystemTime>,
    last_error: Option<RemoteError>,
    next_attempt_in: Option<Duration>,
}

/// The remote key cache of one validator.
pub(crate) struct JwksCache {
    source: Source,
    fetcher: Fetcher,
    options: JwksOptions,
    /// Keys configured locally, always part of the set.
    base: KeySet,
    /// The configured keys alone, verifying while no fetched set is
    /// usable (before the first fetch, or past `max_stale`); `None`
    /// without configured keys.
    fallback: Option<Arc<Snapshot>>,
    clock: Clock,
    snapshot: ArcSwapOption<Snapshot>,
    /// Moves on (twice: before the swap and after) each time a stored set
    /// drops a key, or an algorithm of one, that the set before it held:
    /// while it has not moved, every key of a set loaded after a reading of
    /// it is still in the current set (see [`unchanged_since`](Self::unchanged_since)).
    withdrawals: AtomicU64,
    /// The monotonic time (ms) until which the current fetched set is
    /// usable: its confirmation plus `max_stale`; 0 before the first.
    usable_until: AtomicU64,
    metadata: ArcSwapOption<IssuerMetadata>,
    control: Mutex<Control>,
    wake: Notify,
    attempts: watch::Sender<u64>,
    stats: Mutex<StatsInner>,
    /// For the key source of a tenant no token of which has verified yet:
    /// its template, which its metrics are attributed to (a made-up tenant
    /// must not create series of its own), and whether a token verified
    /// since. Until then it logs at `debug`, keeps no gauges, and makes no
    /// attempt of its own after the first (discovery and JWKS).
    template: Option<String>,
    verified: std::sync::atomic::AtomicBool,
    /// The key source this cache belongs to is gone (its validator
    /// dropped), though a `RemoteKeys` handle may keep the cache: no
    /// attempt will come, and subscriptions end.
    stopped: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks cannot leave the data
    // half-updated in a way that matters; keep serving.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// When the background task attempts next.
enum Next {
    /// At once: discovery just found the JWKS URL.
    Now,
    /// After this delay (bounded to [`MIN_DELAY`], [`MAX_DELAY`]).
    After(Duration),
}

enum Fetched {
    Updated { keys: KeySet, headers: HeaderMap },
    NotModified { headers: HeaderMap },
}

impl JwksCache {
    pub(crate) fn new(
        source: Source,
        fetcher: Fetcher,
        options: JwksOptions,
        base: KeySet,
        clock: Clock,
    ) -> Self {
        let jwks_uri = match &source {
            Source::Url(u) => Some(EndpointUrl::new(u.clone())),
            Source::Discover(_) => None,
        };
        let fallback = (!base.is_empty()).then(|| {
            Arc::new(Snapshot {
                keys: base.clone(),
                configured_only: true,
                confirmed_at: 0,
                etag: None,
                last_modified: None,
            })
        });
        JwksCache {
            source,
            fetcher,
            options,
            base,
            fallback,
            clock,
            snapshot: ArcSwapOption::empty(),
            withdrawals: AtomicU64::new(0),
            usable_until: AtomicU64::new(0),
            metadata: ArcSwapOption::empty(),
            control: Mutex::new(Control::default()),
            wake: Notify::new(),
            attempts: watch::channel(0).0,
            stats: Mutex::new(StatsInner {
                jwks_uri,
                fetches: 0,
                on_demand: 0,
                failures: 0,
                not_modified: 0,
                consecutive_failures: 0,
                last_success: None,
                last_attempt: None,
                last_error: None,
                next_attempt_in: None,
            }),
            template: None,
            verified: std::sync::atomic::AtomicBool::new(true),
            stopped: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// This cache as the key source of a tenant of `template` not verified
    /// yet (see [`mark_verified`](Self::mark_verified)).
    pub(crate) fn for_unverified_tenant(mut self, template: String) -> Self {
        self.template = Some(template);
        self.verified = std::sync::atomic::AtomicBool::new(false);
        self
    }

    /// A token of this tenant verified: from now on its metrics, logs and
    /// scheduled refreshes are its own.
    pub(crate) fn mark_verified(&self) {
        if !self
            .verified
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            // The task may be waiting without a timer: let it schedule.
            self.wake.notify_one();
        }
    }

    fn unverified(&self) -> bool {
        !self.verified.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The key set to verify with: the last fetched set (with the
    /// configured keys) until it is older than `max_stale`; else the
    /// configured keys alone, or `None` without any.
    pub(crate) fn current(&self) -> Guard<Option<Arc<Snapshot>>> {
        let guard = self.snapshot.load();
        match &*guard {
            Some(s) if !self.is_expired(s) => guard,
            // The configured keys stay usable whatever the network does.
            _ => Guard::from_inner(self.fallback.clone()),
        }
    }

    fn is_expired(&self, s: &Snapshot) -> bool {
        let age = self.clock.mono_ms().saturating_sub(s.confirmed_at);
        u128::from(age) > self.options.max_stale.as_millis()
    }

    /// The withdrawals so far: read before a key set is loaded to verify a
    /// token, and kept with the token's cache entry.
    pub(crate) fn withdrawals(&self) -> u64 {
        self.withdrawals.load(Ordering::Acquire)
    }

    /// Whether a key taken from the current set when the withdrawals were
    /// `seen` is certainly still in it, and the set usable: no set stored
    /// since dropped a key (or an algorithm of one), and the current set is
    /// within `max_stale`. Two atomic loads and the clock, where
    /// [`current`](Self::current) and a search of the set cost ~250
    /// instructions on every cached token's request. `false` says "look":
    /// the caller then checks the current set as before.
    ///
    /// Why it holds: a store that withdraws moves the withdrawals once
    /// before it swaps the set in and once after. A hit that can see the
    /// new set (the swap publishes the first move) finds the count moved
    /// and looks in the set. `seen` is read before the set that verifies
    /// is loaded: a set loaded after the first move but before the swap is
    /// the old one, and the second move voids `seen`; any other set loaded
    /// is current at or after `seen`, and none stored since withdrew a key
    /// while the count stands. The configured keys are in every fetched
    /// set, so one that verified while they stood in alone is found too.
    /// Staleness is the same test as `is_expired`'s, on the same clock.
    pub(crate) fn unchanged_since(&self, seen: u64) -> bool {
        self.withdrawals.load(Ordering::Acquire) == seen
            && self.clock.mono_ms() <= self.usable_until.load(Ordering::Acquire)
    }

    /// Records that the set confirmed at `confirmed_at` (mono ms) is usable
    /// until `max_stale` after it.
    fn usable_from(&self, confirmed_at: u64) {
        let max_stale = u64::try_from(self.options.max_stale.as_millis()).unwrap_or(u64::MAX);
        self.usable_until
            .store(confirmed_at.saturating_add(max_stale), Ordering::Release);
    }

    /// Whether the JWKS URL comes from discovery.
    pub(crate) fn discovers(&self) -> bool {
        matches!(self.source, Source::Discover(_))
    }

    /// The issuer metadata, once discovered.
    pub(crate) fn metadata(&self) -> Option<Arc<IssuerMetadata>> {
        self.metadata.load_full()
    }

    /// Whether a request may wait for a fetch now: one is running (join
    /// it), or the cool-down since the last one has passed (start one).
    pub(crate) fn may_fetch(&self) -> bool {
        let control = lock(&self.control);
        control.in_flight || self.cooled_down(&control)
    }

    fn cooled_down(&self, control: &Control) -> bool {
        control.last_started.is_none_or(|started| {
            let elapsed = self.clock.mono_ms().saturating_sub(started);
            u128::from(elapsed) >= self.options.cooldown.as_millis()
        })
    }

    /// Joins the running fetch, or asks the background task for one if the
    /// cool-down allows, and waits (bounded) until an attempt finishes.
    pub(crate) async fn refresh_and_wait(&self) {
        let mut attempts = self.attempts.subscribe();
        let seen = *attempts.borrow_and_update();
        {
            let control = lock(&self.control);
            if !control.in_flight {
                if !self.cooled_down(&control) {
                    return;
                }
                self.wake.notify_one();
            }
        }
        // Discovery and the JWKS fetch each have the fetch timeout.
        let bound = self
            .options
            .fetch_timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_millis(500));
        let _ = tokio::time::timeout(bound, attempts.wait_for(|n| *n != seen)).await;
    }

    /// Fetches now, whatever the cool-down, and returns the outcome of that
    /// fetch. An attempt already running is let finish first.
    pub(crate) async fn refresh_now(&self) -> Result<(), RemoteError> {
        let mut attempts = self.attempts.subscribe();
        let seen = *attempts.borrow_and_update();
        let target = {
            let mut control = lock(&self.control);
            control.forced = true;
            seen.saturating_add(1)
                .saturating_add(u64::from(control.in_flight))
        };
        self.wake.notify_one();
        let _ = attempts.wait_for(|n| *n >= target).await;
        // `last_error` is cleared by every success.
        match lock(&self.stats).last_error.clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A subscription to finished attempts.
    /// Its key source is gone (the validator dropped): no attempt will
    /// come; wakes the subscribers, whose subscriptions end.
    pub(crate) fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        self.attempts.send_modify(|_| {});
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn updates(self: &Arc<Self>) -> KeySourceUpdates {
        KeySourceUpdates {
            attempts: self.attempts.subscribe(),
            cache: Arc::downgrade(self),
        }
    }

    /// Waits until the first attempt (discovery and JWKS) has finished and
    /// returns its error, if it failed.
    pub(crate) async fn first_attempt(&self) -> Result<(), RemoteError> {
        let mut attempts = self.attempts.subscribe();
        let _ = attempts.wait_for(|n| *n > 0).await;
        if self.snapshot.load().is_some() {
            return Ok(());
        }
        Err(lock(&self.stats)
            .last_error
            .clone()
            .unwrap_or_else(RemoteError::stopped))
    }

    /// A snapshot of the statistics.
    pub(crate) fn stats(&self) -> KeySourceStats {
        let s = lock(&self.stats);
        let finished = lock(&self.control).finished_attempts;
        let snapshot = self.snapshot.load();
        let status = match &*snapshot {
            _ if finished == 0 => KeyStatus::Loading,
            None => KeyStatus::Unavailable,
            Some(snap) if self.is_expired(snap) => KeyStatus::Unavailable,
            Some(_) if s.consecutive_failures > 0 => KeyStatus::Stale,
            Some(_) => KeyStatus::Fresh,
        };
        KeySourceStats {
            jwks_uri: s.jwks_uri.clone(),
            status,
            keys: self.current().as_ref().map_or(0, |snap| snap.keys.len()),
            fetches: s.fetches,
            on_demand_fetches: s.on_demand,
            failures: s.failures,
            not_modified: s.not_modified,
            consecutive_failures: s.consecutive_failures,
            last_success: s.last_success,
            last_attempt: s.last_attempt,
            last_error: s.last_error.clone(),
            next_attempt_in: s.next_attempt_in,
        }
    }

    /// The background task: fetches at once, then on the refresh interval,
    /// on retry backoff after failures, and when an unknown `kid` asks.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut deadline = tokio::time::Instant::now();
        // The first attempt (and the JWKS fetch right after a discovery)
        // runs at once; an unverified tenant's source schedules nothing
        // more: a made-up tenant costs one attempt, not a retry loop.
        let mut now_due = true;
        loop {
            let timer = now_due || !self.unverified();
            let on_demand = tokio::select! {
                () = tokio::time::sleep_until(deadline), if timer => false,
                () = self.wake.notified() => true,
            };
            if on_demand && timer != (now_due || !self.unverified()) {
                // Woken by `mark_verified`: the timer now runs.
                continue;
            }
            if on_demand {
                let mut control = lock(&self.control);
                let forced = std::mem::take(&mut control.forced);
                if !forced && !self.cooled_down(&control) {
                    // Coalesced requests for a fetch that already happened.
                    continue;
                }
            }
            let delay = match self.attempt(on_demand).await {
                // The JWKS URL was just discovered: fetch it at once.
                Next::Now => {
                    now_due = true;
                    Duration::ZERO
                }
                Next::After(delay) => {
                    now_due = false;
                    delay.clamp(MIN_DELAY, MAX_DELAY)
                }
            };
            let now = tokio::time::Instant::now();
            deadline = now.checked_add(delay).unwrap_or(now);
        }
    }

    /// One attempt; returns when the next one is due.
    async fn attempt(&self, on_demand: bool) -> Next {
        {
            let mut control = lock(&self.control);
            control.in_flight = true;
            control.last_started = Some(self.clock.mono_ms());
        }
        let started = std::time::Instant::now();
        let result = self.fetch().await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let wall = self.wall_now();
        let mut delay = Duration::ZERO;
        let mut discovered = false;
        let url = self.metric_label();
        // An unverified tenant's source counts its fetches under its
        // template and keeps no gauges (they would flap between tenants).
        let own = !self.unverified();
        let unix = wall
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        {
            let mut stats = lock(&self.stats);
            stats.last_attempt = Some(wall);
            if result.as_ref().is_ok_and(Option::is_some) || result.is_err() {
                stats.fetches = stats.fetches.saturating_add(1);
                stats.on_demand = stats.on_demand.saturating_add(u64::from(on_demand));
            }
            match result {
                Ok(Some(Fetched::Updated { keys, headers })) => {
                    if own {
                        log_rotation(self.snapshot.load().as_deref(), &keys);
                    }
                    let count = keys.len();
                    // From this store on, cached tokens whose key is not in
                    // the new set are verified again (a hit checks the
                    // current set whenever a store withdrew a key since the
                    // token verified): nothing else signals removal.
                    self.store(keys, &headers);
                    delay = jitter(self.options.refresh_interval(&headers));
                    if own {
                        tracing::info!(
                            keys = count,
                            duration_ms = elapsed_ms,
                            on_demand,
                            next_refresh_s = delay.as_secs(),
                            "JWKS fetched"
                        );
                    } else {
                        tracing::debug!(keys = count, "JWKS of an unverified tenant fetched");
                    }
                    stats.consecutive_failures = 0;
                    stats.last_success = Some(wall);
                    stats.last_error = None;
                    telemetry::jwks_fetch(&url, "updated", own.then_some((unix, count)));
                }
                Ok(Some(Fetched::NotModified { headers })) => {
                    self.confirm(&headers);
                    delay = jitter(self.options.refresh_interval(&headers));
                    tracing::debug!(duration_ms = elapsed_ms, on_demand, "JWKS not modified");
                    stats.not_modified = stats.not_modified.saturating_add(1);
                    stats.consecutive_failures = 0;
                    stats.last_success = Some(wall);
                    stats.last_error = None;
                    telemetry::jwks_fetch(&url, "not_modified", own.then_some((unix, 0)));
                    // The set may have been past `max_stale` until now.
                    let count = self.snapshot.load().as_deref().map_or(0, |s| s.keys.len());
                    if own {
                        telemetry::jwks_keys(&url, count);
                    }
                }
                // Discovery succeeded and the JWKS URL was just learnt.
                Ok(None) => discovered = true,
                Err(error) => {
                    stats.failures = stats.failures.saturating_add(1);
                    stats.consecutive_failures = stats.consecutive_failures.saturating_add(1);
                    delay = self.options.backoff(stats.consecutive_failures);
                    let serving = self.snapshot.load().is_some();
                    if own {
                        tracing::warn!(%error, duration_ms = elapsed_ms, on_demand, retry_in_ms = delay.as_millis() as u64, serving_last_good_keys = serving, "JWKS refresh failed");
                    } else {
                        tracing::debug!(%error, "keys of an unverified tenant not fetched");
                    }
                    stats.last_error = Some(error.into());
                    telemetry::jwks_fetch(&url, "error", None);
                    // Past `max_stale` the fetched set no longer verifies:
                    // only the configured keys (if any) do.
                    if own
                        && self
                            .snapshot
                            .load()
                            .as_deref()
                            .is_some_and(|s| self.is_expired(s))
                    {
                        let configured = self.fallback.as_ref().map_or(0, |s| s.keys.len());
                        telemetry::jwks_keys(&url, configured);
                    }
                }
            }
            if !discovered {
                stats.next_attempt_in = Some(delay.clamp(MIN_DELAY, MAX_DELAY));
                // After every attempt, failed ones included: the age grows
                // while the server cannot be reached.
                if let Some(at) = stats.last_success.filter(|_| own) {
                    let age = wall.duration_since(at).unwrap_or(Duration::ZERO);
                    telemetry::jwks_age(&url, age.as_secs_f64());
                }
            }
            if let Some(url) = self.jwks_url_string() {
                stats.jwks_uri = Some(EndpointUrl::new(url));
            }
        }
        {
            let mut control = lock(&self.control);
            control.in_flight = false;
            if !discovered {
                control.finished_attempts = control.finished_attempts.saturating_add(1);
            }
        }
        if discovered {
            return Next::Now;
        }
        self.attempts.send_modify(|n| *n = n.saturating_add(1));
        Next::After(delay)
    }

    fn wall_now(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(
                u64::try_from(self.clock.now()).unwrap_or(0),
            ))
            .unwrap_or(UNIX_EPOCH)
    }

    /// The `url` label of this source's metrics: the JWKS URL without user
    /// information, query or fragment; the issuer before discovery found it.
    fn metric_label(&self) -> String {
        if let Some(template) = self.template.as_ref().filter(|_| self.unverified()) {
            // `{tenant}` as it is, not percent-encoded.
            return EndpointUrl::new(template.replace("{tenant}", "TENANT"))
                .metric_label()
                .replace("TENANT", "{tenant}");
        }
        let raw = match (self.jwks_url_string(), &self.source) {
            (Some(url), _) => url,
            (None, Source::Discover(issuer) | Source::Url(issuer)) => issuer.clone(),
        };
        EndpointUrl::new(raw).metric_label()
    }

    fn jwks_url_string(&self) -> Option<String> {
        match &self.source {
            Source::Url(u) => Some(u.clone()),
            Source::Discover(_) => self
                .metadata
                .load()
                .as_ref()
                .and_then(|m| m.jwks_uri.clone()),
        }
    }

    /// Discovers if needed (returning `Ok(None)` right after discovery, so the
    /// caller fetches the JWKS at once), then fetches the JWKS.
    async fn fetch(&self) -> Result<Option<Fetched>, Kind> {
        let url = match &self.source {
            Source::Url(u) => u.clone(),
            Source::Discover(issuer) => match self.metadata.load_full() {
                Some(m) => m
                    .jwks_uri
                    .clone()
                    .ok_or_else(|| DiscoveryError::NoJwksUri(issuer.clone()))?,
                None => {
                    let m =
                        discovery::discover(&self.fetcher, issuer, self.options.max_metadata_size)
                            .await?;
                    if m.jwks_uri.is_none() {
                        return Err(DiscoveryError::NoJwksUri(issuer.clone()).into());
                    }
                    let jwks_uri = m.jwks_uri.clone().map(EndpointUrl::new);
                    if self.unverified() {
                        tracing::debug!(issuer = %issuer, jwks_uri = ?jwks_uri, "metadata of an unverified tenant discovered");
                    } else {
                        tracing::info!(issuer = %issuer, jwks_uri = ?jwks_uri, "issuer metadata discovered");
                    }
                    self.metadata.store(Some(Arc::new(m)));
                    return Ok(None);
                }
            },
        };
        let fetch_error = |source| Kind::Fetch {
            url: url.clone().into(),
            source,
        };
        let parsed: Url = self.fetcher.url(&url).map_err(fetch_error)?;
        let mut headers = HeaderMap::new();
        if let Some(s) = &*self.snapshot.load() {
            if let Some(etag) = &s.etag {
                headers.insert(IF_NONE_MATCH, etag.clone());
            }
            if let Some(lm) = &s.last_modified {
                headers.insert(IF_MODIFIED_SINCE, lm.clone());
            }
        }
        let conditional = !headers.is_empty();
        let response = self
            .fetcher
            .get(&parsed, headers, self.options.max_size)
            .await
            .map_err(fetch_error)?;
        if response.status == http::StatusCode::NOT_MODIFIED {
            if !conditional {
                return Err(fetch_error(FetchError::Status(304)));
            }
            return Ok(Some(Fetched::NotModified {
                headers: response.headers,
            }));
        }
        let fetched = KeySet::from_jwks_with_limit(&response.body, self.options.max_keys).map_err(
            |source| Kind::Jwks {
                url: url.clone().into(),
                source,
            },
        )?;
        fetched.log_rejected(!self.unverified());
        if fetched.is_empty() {
            return Err(Kind::NoUsableKeys {
                url: url.into(),
                rejected: fetched
                    .rejected()
                    .iter()
                    .map(|r| (r.kid.clone(), r.reason.clone()))
                    .collect(),
            });
        }
        let mut keys = self.base.clone();
        keys.extend(fetched);
        Ok(Some(Fetched::Updated {
            keys,
            headers: response.headers,
        }))
    }

    fn store(&self, keys: KeySet, headers: &HeaderMap) {
        // Only the background task stores (one attempt at a time), so the
        // set compared with is the one replaced. The configured keys (the
        // set before the first fetch) are in every fetched set.
        let withdraws = self
            .snapshot
            .load()
            .as_deref()
            .is_some_and(|before| !keys.keeps_all(&before.keys));
        let confirmed_at = self.clock.mono_ms();
        // Before the swap: from here on a hit looks in the set, so none
        // trusts a withdrawn key once the new set can be seen (the swap
        // publishes this count with it).
        if withdraws {
            self.withdrawals.fetch_add(1, Ordering::AcqRel);
        }
        self.snapshot.store(Some(Arc::new(Snapshot {
            keys,
            configured_only: false,
            confirmed_at,
            etag: headers.get(ETAG).cloned(),
            last_modified: headers.get(LAST_MODIFIED).cloned(),
        })));
        self.usable_from(confirmed_at);
        // And after it: a token verified between the two, with the count
        // of the first and the set before the swap, is not trusted on it.
        if withdraws {
            self.withdrawals.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// A 304: same keys, confirmed now (validators updated if sent again).
    fn confirm(&self, headers: &HeaderMap) {
        if let Some(current) = self.snapshot.load_full() {
            let confirmed_at = self.clock.mono_ms();
            self.snapshot.store(Some(Arc::new(Snapshot {
                keys: current.keys.clone(),
                configured_only: false,
                confirmed_at,
                etag: headers.get(ETAG).cloned().or_else(|| current.etag.clone()),
                last_modified: headers
                    .get(LAST_MODIFIED)
                    .cloned()
                    .or_else(|| current.last_modified.clone()),
            })));
            self.usable_from(confirmed_at);
        }
    }
}

/// Each key as `kid (thumbprint)`: a key replaced under the same `kid` shows
/// as one removed and one added.
fn key_names(keys: &KeySet) -> BTreeSet<String> {
    keys.iter()
        .map(|k| {
            format!(
                "{} ({})",
                k.kid().unwrap_or("no kid"),
                k.thumbprint().unwrap_or_default()
            )
        })
        .collect()
}

/// Logs added and removed keys.
fn log_rotation(previous: Option<&Snapshot>, next: &KeySet) {
    let Some(previous) = previous else {
        return;
    };
    let (before, after) = (key_names(&previous.keys), key_names(next));
    let added: Vec<&String> = after.difference(&before).collect();
    let removed: Vec<&String> = before.difference(&after).collect();
    if !added.is_empty() || !removed.is_empty() {
        tracing::info!(?added, ?removed, "JWKS keys rotated");
    }
}
