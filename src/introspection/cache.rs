//! Cached introspection outcomes: an active answer until the token's `exp`
//! or the maximum TTL, a refusal for the inactive TTL.

use std::time::Duration;

use moka::Expiry;

use super::response::Answer;

/// An introspection answer, and when (seconds since the epoch) it came.
#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) answer: Answer,
    pub(crate) at: i64,
}

impl Cached {
    pub(crate) fn ttl_secs(&self) -> u64 {
        let (Answer::Active { ttl, .. } | Answer::Refused { ttl, .. }) = &self.answer;
        *ttl
    }

    /// Whether the entry's TTL has run out at `now`.
    pub(crate) fn stale(&self, now: i64) -> bool {
        now.saturating_sub(self.at) >= i64::try_from(self.ttl_secs()).unwrap_or(i64::MAX)
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_secs())
    }
}

/// Evicts entries when their TTL ends (the reading side also checks the TTL
/// against the validator's clock).
pub(crate) struct CachedExpiry;

impl Expiry<[u8; 32], Cached> for CachedExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl())
    }

    fn expire_after_update(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspection::response::Refusal;

    #[test]
    fn cached_outcomes_go_stale_after_their_ttl() {
        let c = Cached {
            answer: Answer::Refused {
                refusal: Refusal::Inactive,
                ttl: 10,
            },
            at: 100,
        };
        assert!(!c.stale(109));
        assert!(c.stale(110));
    }
}
