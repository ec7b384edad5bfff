//! [`JwksOptions`]: the settings of the remote key cache, and the timing
//! rules they feed (refresh interval from `Cache-Control`, retry backoff,
//! jitter).

use std::time::Duration;

use http::header::{AGE, CACHE_CONTROL, HeaderMap};

pub(crate) use crate::limits::{DEFAULT_MAX_JWKS_KEYS, DEFAULT_MAX_JWKS_SIZE};
use crate::remote::discovery::DEFAULT_MAX_METADATA_SIZE;

/// Settings of the remote key cache. Start from `JwksOptions::default()`.
///
/// How the cache behaves (a JWKS fetched from the authorization server and
/// kept fresh in the background: rotation, outages and abuse):
///
///
/// - **Hot path**: requests read the current key set through an
///   [`ArcSwap`](arc_swap::ArcSwapOption): no lock, no waiting, whatever the
///   network is doing.
/// - **Background refresh**: one task per validator fetches the set, with
///   conditional requests (`If-None-Match`, `If-Modified-Since`; a 304 keeps
///   the set), on an interval taken from `Cache-Control: max-age` (minus
///   `Age`), clamped to [`JwksOptions::refresh_bounds`], ±5 % jitter; the
///   task stops when the validator is dropped.
/// - **Unknown `kid`**: a token naming a key the set lacks triggers one
///   refresh, at most once per [`cool-down`](JwksOptions::cooldown); every
///   request that arrives while it runs waits for that same fetch (single
///   flight, bounded wait); within the cool-down the token is refused at once.
/// - **Failures**: the last good set keeps serving (stale-if-error) for up to
///   [`max_stale`](JwksOptions::max_stale) after the server last confirmed
///   it; retries back off exponentially. With no usable set, validation
///   answers [`ValidationError::KeysUnavailable`](crate::ValidationError::KeysUnavailable) (HTTP 503).
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
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Shortest sleep of the refresh task (10 ms): a refresh bound or backoff
/// of zero, with a server answering `max-age=0`, would otherwise fetch in a
/// tight loop.
pub(crate) const MIN_DELAY: Duration = Duration::from_millis(10);

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
            max_metadata_size: DEFAULT_MAX_METADATA_SIZE,
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

/// ±5 % of `interval`, so that many instances do not refresh in step.
pub(crate) fn jitter(interval: Duration) -> Duration {
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
    use http::HeaderValue;

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
