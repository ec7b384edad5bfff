//! What the remote key cache reports: [`KeyStatus`] and [`KeySourceStats`].

use std::time::{Duration, SystemTime};

use crate::remote::error::RemoteError;
use crate::remote::url::EndpointUrl;

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
    /// No usable fetched keys: none fetched yet, or the last good ones are
    /// older than `max_stale`. Only configured keys (if any) verify; other
    /// tokens answer 503.
    Unavailable,
}

/// A snapshot of the remote key cache, for health endpoints and logs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeySourceStats {
    /// The JWKS URL, once known (after discovery); shown without the
    /// credentials it may hold.
    pub jwks_uri: Option<EndpointUrl>,
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
    pub last_error: Option<RemoteError>,
    /// The delay that was scheduled after the last attempt (refresh interval
    /// with jitter, or retry backoff).
    pub next_attempt_in: Option<Duration>,
}
