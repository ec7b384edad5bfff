//! Metrics through the `metrics` facade (feature `metrics`): the
//! application installs the recorder (Prometheus, OpenTelemetry, …);
//! without the feature every function here is empty and inlined away.
//!
//! The metrics, their labels and what they count are listed in
//! [`guide::operations`](crate::guide::operations).

#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

use std::time::Duration;

#[cfg(feature = "metrics")]
mod hot;

/// The three counts of a request with a cached token, through the global
/// recorder's kept handles (see [`hot`]).
#[cfg(feature = "metrics")]
static HOT: hot::HotCounters<3> = {
    use metrics::{Key, Label};
    static ALLOWED_OK: [Label; 2] = [
        Label::from_static_parts("outcome", "allowed"),
        Label::from_static_parts("reason", "ok"),
    ];
    static CACHE_VALID: [Label; 2] = [
        Label::from_static_parts("source", "cache"),
        Label::from_static_parts("result", "valid"),
    ];
    static HIT: [Label; 1] = [Label::from_static_parts("result", "hit")];
    hot::HotCounters::new([
        Key::from_static_parts("bearer_guard_requests_total", &ALLOWED_OK),
        Key::from_static_parts("bearer_guard_validations_total", &CACHE_VALID),
        Key::from_static_parts("bearer_guard_token_cache_lookups_total", &HIT),
    ])
};
#[cfg(feature = "metrics")]
const REQUEST_ALLOWED: usize = 0;
#[cfg(feature = "metrics")]
const VALIDATION_CACHED: usize = 1;
#[cfg(feature = "metrics")]
const TOKEN_CACHE_HIT: usize = 2;

/// Times a validation for the duration histogram; with the feature off it
/// reads no clock at all.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Stopwatch {
    #[inline]
    pub(crate) fn start() -> Self {
        Stopwatch {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    /// The time since [`start`](Self::start) (`None` without the feature).
    #[inline]
    pub(crate) fn elapsed(&self) -> Option<Duration> {
        #[cfg(feature = "metrics")]
        return Some(self.started.elapsed());
        #[cfg(not(feature = "metrics"))]
        None
    }
}

/// At most one log line a minute at `warn` for failures that requests a
/// stranger controls can cause (an opaque token while the endpoint is
/// down): the rest go to `debug`. Times are monotonic milliseconds.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) struct WarnThrottle(std::sync::atomic::AtomicU64);

#[cfg_attr(not(feature = "remote"), allow(dead_code))]
impl WarnThrottle {
    const INTERVAL_MS: u64 = 60_000;

    /// Whether a line at `warn` is due at `now_ms` (and takes it).
    pub(crate) fn due(&self, now_ms: u64) -> bool {
        use std::sync::atomic::Ordering;
        // 0 is "never": the first failure is always said.
        let last = self.0.load(Ordering::Relaxed);
        (last == 0 || now_ms.saturating_sub(last) >= Self::INTERVAL_MS)
            && self
                .0
                .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// A request through the layer: `outcome` and `reason` (counted by the
/// layer only with the feature).
#[cfg(feature = "metrics")]
#[inline]
pub(crate) fn request(outcome: &'static str, reason: &'static str) {
    // The series of every served request is counted through a kept handle
    // (see `hot`): no key made, hashed and looked up per request.
    #[cfg(feature = "metrics")]
    match (outcome, reason) {
        ("allowed", "ok") => HOT.increment(REQUEST_ALLOWED),
        _ => {
            metrics::counter!("bearer_guard_requests_total", "outcome" => outcome, "reason" => reason)
                .increment(1);
        }
    }
}

/// A validation's result from `source`, and how long it took (`None` for
/// cache hits, which are not timed).
#[inline]
pub(crate) fn validation(source: &'static str, result: &'static str, elapsed: Option<Duration>) {
    #[cfg(feature = "metrics")]
    {
        // A cache hit's series through a kept handle (see `request`).
        if (source, result) == ("cache", "valid") {
            HOT.increment(VALIDATION_CACHED);
        } else {
            metrics::counter!("bearer_guard_validations_total", "source" => source, "result" => result)
                .increment(1);
        }
        if let Some(elapsed) = elapsed {
            metrics::histogram!("bearer_guard_validation_duration_seconds", "source" => source)
                .record(elapsed.as_secs_f64());
        }
    }
}

/// A verified-token cache hit, and the validation's result `result`: both
/// counts at once for a valid token (one look at the recorder and the
/// clock, see [`hot`]).
#[inline]
pub(crate) fn cache_hit(result: &'static str) {
    #[cfg(feature = "metrics")]
    if result == "valid" {
        HOT.increment_each(&[TOKEN_CACHE_HIT, VALIDATION_CACHED]);
        return;
    }
    token_cache(true);
    validation("cache", result, None);
}

/// A request let through with a valid token from the cache, whose hit
/// [`Validator::lookup_uncounted`](crate::Validator) left to count: the
/// three counts at once (one look at the recorder and the clock).
#[cfg(feature = "metrics")]
#[inline]
pub(crate) fn request_allowed_cached() {
    HOT.increment_each(&[REQUEST_ALLOWED, TOKEN_CACHE_HIT, VALIDATION_CACHED]);
}

/// A verified-token cache lookup.
#[inline]
pub(crate) fn token_cache(hit: bool) {
    // A hit through a kept handle (see `request`).
    #[cfg(feature = "metrics")]
    if hit {
        HOT.increment(TOKEN_CACHE_HIT);
    } else {
        metrics::counter!("bearer_guard_token_cache_lookups_total", "result" => "miss")
            .increment(1);
    }
}

/// A JWKS fetch of `url` and its `outcome`; on success the time (unix
/// seconds) and the number of keys.
#[inline]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) fn jwks_fetch(url: &str, outcome: &'static str, success: Option<(f64, usize)>) {
    #[cfg(feature = "metrics")]
    {
        let url = url.to_owned();
        metrics::counter!("bearer_guard_jwks_fetches_total", "url" => url.clone(), "outcome" => outcome)
            .increment(1);
        if let Some((at, keys)) = success {
            metrics::gauge!("bearer_guard_jwks_last_success_timestamp_seconds", "url" => url.clone())
                .set(at);
            if outcome == "updated" {
                jwks_keys(&url, keys);
            }
        }
    }
}

/// The number of keys this source verifies with (configured keys beside
/// the JWKS included): set after each successful fetch, and after a failed
/// one once the fetched set is older than `max_stale` (then only the
/// configured keys count).
#[inline]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) fn jwks_keys(url: &str, keys: usize) {
    #[cfg(feature = "metrics")]
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("bearer_guard_jwks_keys", "url" => url.to_owned()).set(keys as f64);
}

/// The age of `url`'s key set (since the server last confirmed it), after
/// each fetch attempt.
#[inline]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) fn jwks_age(url: &str, seconds: f64) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("bearer_guard_jwks_age_seconds", "url" => url.to_owned()).set(seconds);
}

/// An introspection call's outcome.
#[inline]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) fn introspection_call(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("bearer_guard_introspection_requests_total", "outcome" => outcome)
        .increment(1);
}

/// An introspection cache lookup: `hit`, `shared_hit` or `miss`.
#[inline]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) fn introspection_cache(result: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("bearer_guard_introspection_cache_lookups_total", "result" => result)
        .increment(1);
}

/// A replayed DPoP proof.
#[inline]
pub(crate) fn dpop_replay() {
    #[cfg(feature = "metrics")]
    metrics::counter!("bearer_guard_dpop_replays_total").increment(1);
}

/// The first 8 hex digits of a token's SHA-256, for traces: enough to
/// follow one token through the logs, never the token.
#[derive(Clone, Copy)]
pub(crate) struct ShortHash(pub(crate) [u8; 4]);

impl ShortHash {
    pub(crate) fn of(digest: &[u8; 32]) -> Self {
        let [a, b, c, d, ..] = *digest;
        ShortHash([a, b, c, d])
    }
}

impl std::fmt::Display for ShortHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::WarnThrottle;

    #[test]
    fn a_warning_is_due_once_a_minute_and_never_again_after_a_step_back() {
        let throttle = WarnThrottle::default();
        assert!(throttle.due(0), "the first failure is said");
        assert!(!throttle.due(59_999));
        assert!(throttle.due(60_001));
        // Monotonic time does not step back; an earlier reading from
        // another thread is simply not due.
        assert!(!throttle.due(1_000));
        assert!(!throttle.due(120_000));
        assert!(throttle.due(120_001));
    }
}
