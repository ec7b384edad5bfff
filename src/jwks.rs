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
//!   answers [`ValidationError::KeysUnavailable`](crate::ValidationError::KeysUnavailable) (HTTP 503).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwapOption, Guard};
use http::header::{
    AGE, CACHE_CONTROL, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use reqwest::Url;
use tokio::sync::{Notify, watch};

use crate::discovery::{self, DiscoveryError, IssuerMetadata};
use crate::fetch::{FetchError, Fetcher};
use crate::keys::{JwksError, KeyError, KeySet};
use crate::validator::Clock;

/// Settings of the remote key cache. Start from `JwksOptions::default()`.
///
/// | setting | default |
/// |---|---|
/// | [`fetch_timeout`](Self::fetch_timeout) | 5 s |
/// | [`cooldown`](Self::cooldown) (unknown-`kid` refetch) | 30 s |
/// | [`refresh_bounds`](Self::refresh_bounds) (clamp of `max-age`) | 60 s – 24 h |
/// | [`default_refresh`](Self::default_refresh) (no `max-age`) | 10 min |
/// | [`max_stale`](Self::max_stale) (serve last good keys) | 12 h |
/// | [`retry_backoff`](Self::retry_backoff) | 1 s doubling to 5 min |
/// | [`max_size`](Self::max_size) (JWKS body) | 256 KiB |
/// | [`max_keys`](Self::max_keys) | 100 |
/// | [`max_metadata_size`](Self::max_metadata_size) | 64 KiB |
#[derive(Debug, Clone)]
pub struct JwksOptions {
    pub(crate) fetch_timeout: Duration,
    pub(crate) cooldown: Duration,
    pub(crate) min_refresh: Duration,
    pub(crate) max_refresh: Duration,
    pub(crate) default_refresh: Duration,
    pub(crate) max_stale: Duration,
    pub(crate) retry_min: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) max_size: usize,
    pub(crate) max_keys: usize,
    pub(crate) max_metadata_size: usize,
}

/// Longest sleep of the refresh task (a week): configured intervals beyond
/// it are shortened so that no deadline can overflow the clock.
const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Largest JWKS response accepted, in bytes: 256 KiB.
pub const DEFAULT_MAX_JWKS_SIZE: usize = 256 * 1024;
/// Most keys accepted in one JWKS: 100.
pub const DEFAULT_MAX_JWKS_KEYS: usize = 100;

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            fetch_timeout: Duration::from_secs(5),
            cooldown: Duration::from_secs(30),
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(24 * 3600),
            default_refresh: Duration::from_secs(600),
            max_stale: Duration::from_secs(12 * 3600),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_size: DEFAULT_MAX_JWKS_SIZE,
            max_keys: DEFAULT_MAX_JWKS_KEYS,
            max_metadata_size: discovery::DEFAULT_MAX_METADATA_SIZE,
        }
    }
}

impl JwksOptions {
    /// Timeout of one fetch (connect, answer and body). Default 5 s.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Minimum time between two fetches caused by unknown `kid`s. Default 30 s.
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Bounds of the refresh interval taken from `Cache-Control: max-age`.
    /// Default 60 s to 24 h.
    pub fn refresh_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_refresh = min;
        self.max_refresh = max.max(min);
        self
    }

    /// Refresh interval when the response has no `max-age`. Default 10 min.
    pub fn default_refresh(mut self, interval: Duration) -> Self {
        self.default_refresh = interval;
        self
    }

    /// How long the last good key set keeps serving after the server last
    /// confirmed it, while refreshes fail. Default 12 h.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Retry delays after a failed fetch: `min`, doubling, capped at `max`.
    /// Default 1 s to 5 min.
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }

    /// Largest JWKS body accepted, in bytes. Default [`DEFAULT_MAX_JWKS_SIZE`].
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// Most keys accepted in one JWKS. Default [`DEFAULT_MAX_JWKS_KEYS`].
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = keys;
        self
    }

    /// Largest discovery document accepted, in bytes. Default 64 KiB.
    pub fn max_metadata_size(mut self, bytes: usize) -> Self {
        self.max_metadata_size = bytes;
        self
    }

    /// The refresh interval for a response's headers, before jitter.
    pub(crate) fn refresh_interval(&self, headers: &HeaderMap) -> Duration {
        match max_age(headers) {
            Some(secs) => Duration::from_secs(secs).clamp(self.min_refresh, self.max_refresh),
            None => self.default_refresh,
        }
    }

    /// The delay before retry number `failures` (1 = first retry).
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(31));
        self.retry_min.saturating_mul(factor).min(self.retry_max)
    }
}

/// `Cache-Control: max-age` minus `Age`, in seconds; `no-cache` and
/// `no-store` count as 0.
fn max_age(headers: &HeaderMap) -> Option<u64> {
    let mut result = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                return Some(0);
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Ok(secs) = arg.trim_matches('"').parse::<u64>()
            {
                result = Some(secs);
            }
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    result.map(|secs| secs.saturating_sub(age))
}

/// Why the remote key set could not be fetched or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// Discovery failed.
    #[error("discovery: {0}")]
    Discovery(#[from] DiscoveryError),
    /// Fetching the JWKS failed.
    #[error("fetching JWKS from {url}: {source}")]
    Fetch {
        /// The JWKS URL.
        url: String,
        /// What went wrong.
        source: FetchError,
    },
    /// The JWKS document is invalid.
    #[error("JWKS from {url}: {source}")]
    Jwks {
        /// The JWKS URL.
        url: String,
        /// What is wrong with it.
        source: JwksError,
    },
    /// The JWKS has no key this crate can verify with.
    #[error("JWKS from {url} has no usable key ({} refused)", .rejected.len())]
    NoUsableKeys {
        /// The JWKS URL.
        url: String,
        /// Why each key was refused, as `(kid, reason)`.
        rejected: Vec<(Option<String>, KeyError)>,
    },
}

/// Where the key set stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyStatus {
    /// No fetch has finished yet.
    Loading,
    /// The last fetch succeeded.
    Fresh,
    /// Refreshes are failing; the last good keys keep serving (degraded).
    Stale,
    /// No usable keys: none fetched yet, or the last good ones are older
    /// than `max_stale`. Tokens needing keys answer 503.
    Unavailable,
}

/// A snapshot of the remote key cache, for health endpoints and logs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeySourceStats {
    /// The JWKS URL, once known (after discovery).
    pub jwks_uri: Option<String>,
    /// Where the key set stands.
    pub status: KeyStatus,
    /// Usable keys in the current set (configured static keys included).
    pub keys: usize,
    /// Fetch attempts (scheduled and on demand), discovery excluded.
    pub fetches: u64,
    /// Attempts caused by unknown `kid`s.
    pub on_demand_fetches: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Attempts answered 304 Not Modified.
    pub not_modified: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// When the server last confirmed the key set (200 or 304).
    pub last_success: Option<SystemTime>,
    /// When the last attempt finished.
    pub last_attempt: Option<SystemTime>,
    /// The last attempt's error, if it failed.
    pub last_error: Option<KeySourceError>,
    /// The delay that was scheduled after the last attempt (refresh interval
    /// with jitter, or retry backoff).
    pub next_attempt_in: Option<Duration>,
}

/// Notifications of finished key fetches, from
/// [`Validator::key_source_updates`](crate::Validator::key_source_updates).
#[derive(Debug)]
pub struct KeySourceUpdates {
    attempts: watch::Receiver<u64>,
    cache: std::sync::Weak<JwksCache>,
}

impl KeySourceUpdates {
    /// Waits until the next fetch attempt finishes (successful or not) and
    /// returns the statistics then; `None` once the validator is dropped.
    pub async fn next(&mut self) -> Option<KeySourceStats> {
        self.attempts.changed().await.ok()?;
        Some(self.cache.upgrade()?.stats())
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
    jwks_uri: Option<String>,
    fetches: u64,
    on_demand: u64,
    failures: u64,
    not_modified: u64,
    consecutive_failures: u32,
    last_success: Option<SystemTime>,
    last_attempt: Option<SystemTime>,
    last_error: Option<KeySourceError>,
    next_attempt_in: Option<Duration>,
}

/// The remote key cache of one validator.
pub(crate) struct JwksCache {
    source: Source,
    fetcher: Fetcher,
    options: JwksOptions,
    /// Keys configured locally, always part of the set.
    base: KeySet,
    clock: Clock,
    snapshot: ArcSwapOption<Snapshot>,
    metadata: ArcSwapOption<IssuerMetadata>,
    control: Mutex<Control>,
    wake: Notify,
    attempts: watch::Sender<u64>,
    stats: Mutex<StatsInner>,
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
            Source::Url(u) => Some(u.clone()),
            Source::Discover(_) => None,
        };
        JwksCache {
            source,
            fetcher,
            options,
            base,
            clock,
            snapshot: ArcSwapOption::empty(),
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
        }
    }

    /// The key set to verify with: `None` before the first successful fetch
    /// and once the last good set is older than `max_stale`.
    pub(crate) fn current(&self) -> Guard<Option<Arc<Snapshot>>> {
        let guard = self.snapshot.load();
        match &*guard {
            Some(s) if self.is_expired(s) => Guard::from_inner(None),
            _ => guard,
        }
    }

    fn is_expired(&self, s: &Snapshot) -> bool {
        let age = self.clock.mono_ms().saturating_sub(s.confirmed_at);
        u128::from(age) > self.options.max_stale.as_millis()
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
    pub(crate) async fn refresh_now(&self) -> Result<(), KeySourceError> {
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
    pub(crate) fn updates(self: &Arc<Self>) -> KeySourceUpdates {
        KeySourceUpdates {
            attempts: self.attempts.subscribe(),
            cache: Arc::downgrade(self),
        }
    }

    /// Waits until the first attempt (discovery and JWKS) has finished and
    /// returns its error, if it failed.
    pub(crate) async fn first_attempt(&self) -> Result<(), KeySourceError> {
        let mut attempts = self.attempts.subscribe();
        let _ = attempts.wait_for(|n| *n > 0).await;
        if self.snapshot.load().is_some() {
            return Ok(());
        }
        Err(lock(&self.stats)
            .last_error
            .clone()
            .unwrap_or(KeySourceError::Fetch {
                url: String::new(),
                source: FetchError::Other("no key set".into()),
            }))
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
            keys: snapshot.as_ref().map_or(0, |snap| snap.keys.len()),
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
        loop {
            let on_demand = tokio::select! {
                () = tokio::time::sleep_until(deadline) => false,
                () = self.wake.notified() => true,
            };
            if on_demand {
                let mut control = lock(&self.control);
                let forced = std::mem::take(&mut control.forced);
                if !forced && !self.cooled_down(&control) {
                    // Coalesced requests for a fetch that already happened.
                    continue;
                }
            }
            let delay = self.attempt(on_demand).await.min(MAX_DELAY);
            let now = tokio::time::Instant::now();
            deadline = now.checked_add(delay).unwrap_or(now);
        }
    }

    /// One attempt; returns the delay until the next scheduled one.
    async fn attempt(&self, on_demand: bool) -> Duration {
        {
            let mut control = lock(&self.control);
            control.in_flight = true;
            control.last_started = Some(self.clock.mono_ms());
        }
        let started = std::time::Instant::now();
        let result = self.fetch().await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let wall = self.wall_now();
        let delay;
        {
            let mut stats = lock(&self.stats);
            stats.last_attempt = Some(wall);
            if result.as_ref().is_ok_and(Option::is_some) || result.is_err() {
                stats.fetches = stats.fetches.saturating_add(1);
                stats.on_demand = stats.on_demand.saturating_add(u64::from(on_demand));
            }
            match result {
                Ok(Some(Fetched::Updated { keys, headers })) => {
                    log_rotation(self.snapshot.load().as_deref(), &keys);
                    let count = keys.len();
                    // From this store on, cached tokens whose key is not in
                    // the new set are verified again (the cache checks the
                    // current set on every hit): nothing else signals removal.
                    self.store(keys, &headers);
                    delay = jitter(self.options.refresh_interval(&headers));
                    tracing::info!(
                        keys = count,
                        duration_ms = elapsed_ms,
                        on_demand,
                        next_refresh_s = delay.as_secs(),
                        "JWKS fetched"
                    );
                    stats.consecutive_failures = 0;
                    stats.last_success = Some(wall);
                    stats.last_error = None;
                }
                Ok(Some(Fetched::NotModified { headers })) => {
                    self.confirm(&headers);
                    delay = jitter(self.options.refresh_interval(&headers));
                    tracing::debug!(duration_ms = elapsed_ms, on_demand, "JWKS not modified");
                    stats.not_modified = stats.not_modified.saturating_add(1);
                    stats.consecutive_failures = 0;
                    stats.last_success = Some(wall);
                    stats.last_error = None;
                }
                // Discovery succeeded and the JWKS URL was just learnt.
                Ok(None) => delay = Duration::ZERO,
                Err(error) => {
                    stats.failures = stats.failures.saturating_add(1);
                    stats.consecutive_failures = stats.consecutive_failures.saturating_add(1);
                    delay = self.options.backoff(stats.consecutive_failures);
                    let serving = self.snapshot.load().is_some();
                    tracing::warn!(%error, duration_ms = elapsed_ms, on_demand, retry_in_ms = delay.as_millis() as u64, serving_last_good_keys = serving, "JWKS refresh failed");
                    stats.last_error = Some(error);
                }
            }
            stats.next_attempt_in = Some(delay);
            if let Some(url) = self.jwks_url_string() {
                stats.jwks_uri = Some(url);
            }
        }
        {
            let mut control = lock(&self.control);
            control.in_flight = false;
            if delay > Duration::ZERO {
                control.finished_attempts = control.finished_attempts.saturating_add(1);
            }
        }
        if delay > Duration::ZERO {
            self.attempts.send_modify(|n| *n = n.saturating_add(1));
        }
        delay
    }

    fn wall_now(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(
                u64::try_from(self.clock.now()).unwrap_or(0),
            ))
            .unwrap_or(UNIX_EPOCH)
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
    async fn fetch(&self) -> Result<Option<Fetched>, KeySourceError> {
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
                    tracing::info!(issuer = %issuer, jwks_uri = ?m.jwks_uri, "issuer metadata discovered");
                    self.metadata.store(Some(Arc::new(m)));
                    return Ok(None);
                }
            },
        };
        let fetch_error = |source| KeySourceError::Fetch {
            url: url.clone(),
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
            |source| KeySourceError::Jwks {
                url: url.clone(),
                source,
            },
        )?;
        if fetched.is_empty() {
            return Err(KeySourceError::NoUsableKeys {
                url,
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
        self.snapshot.store(Some(Arc::new(Snapshot {
            keys,
            confirmed_at: self.clock.mono_ms(),
            etag: headers.get(ETAG).cloned(),
            last_modified: headers.get(LAST_MODIFIED).cloned(),
        })));
    }

    /// A 304: same keys, confirmed now (validators updated if sent again).
    fn confirm(&self, headers: &HeaderMap) {
        if let Some(current) = self.snapshot.load_full() {
            self.snapshot.store(Some(Arc::new(Snapshot {
                keys: current.keys.clone(),
                confirmed_at: self.clock.mono_ms(),
                etag: headers.get(ETAG).cloned().or_else(|| current.etag.clone()),
                last_modified: headers
                    .get(LAST_MODIFIED)
                    .cloned()
                    .or_else(|| current.last_modified.clone()),
            })));
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

/// ±5 % of `interval`, so that many instances do not refresh in step.
fn jitter(interval: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let r = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => f64::from(u16::from_be_bytes(byte)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    };
    // Bounded first: `mul_f64` panics on overflow.
    interval.min(MAX_DELAY).mul_f64(0.95 + 0.1 * r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn refresh_interval_follows_max_age_within_bounds() {
        let o = JwksOptions::default();
        let i = |pairs: &[(&str, &str)]| o.refresh_interval(&headers(pairs));
        assert_eq!(i(&[]), Duration::from_secs(600));
        assert_eq!(
            i(&[("cache-control", "public, max-age=3600")]),
            Duration::from_secs(3600)
        );
        assert_eq!(
            i(&[("cache-control", "max-age=5")]),
            Duration::from_secs(60)
        );
        assert_eq!(
            i(&[("cache-control", "max-age=999999")]),
            Duration::from_secs(86400)
        );
        assert_eq!(i(&[("cache-control", "no-cache")]), Duration::from_secs(60));
        assert_eq!(
            i(&[("cache-control", "max-age=3600"), ("age", "3000")]),
            Duration::from_secs(600)
        );
        assert_eq!(
            i(&[("cache-control", "max-age=abc")]),
            Duration::from_secs(600)
        );
        assert_eq!(
            i(&[("cache-control", "s-maxage=100")]),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let o = JwksOptions::default();
        let secs: Vec<u64> = (1..=12).map(|n| o.backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(o.backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn jitter_stays_within_five_percent() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(100));
            assert!(
                j >= Duration::from_secs(95) && j <= Duration::from_secs(105),
                "{j:?}"
            );
        }
    }
}
