//! The verified-token cache: a token seen before skips the signature, never
//! the clock, and never outlives the key that verified it.
//!
//! quick_cache (S3-FIFO, sharded, no background work): one hit is a hash of
//! the 32-byte digest and a read-locked shard lookup. It has no time-based
//! expiry; none is needed, because every hit re-checks `exp` and `nbf`, an
//! expired entry is removed when it is next looked up, and the capacity
//! bounds what expired entries can occupy meanwhile.

use quick_cache::UnitWeighter;
use quick_cache::sync::Cache;

use crate::claims::Claims;
use crate::keys::KeyBinding;

/// A verified token in the cache, bound to the key that verified it: a hit
/// counts only while the current key set still holds that key.
#[derive(Clone)]
pub(crate) struct Verified {
    pub(crate) claims: Claims,
    pub(crate) key: KeyBinding,
}

/// Most entries the table is sized for up front; beyond, it grows as
/// entries arrive (up to the capacity).
const PRESIZED: u64 = 16 * 1024;

/// Keyed by the SHA-256 of the whole token (the token itself is never
/// kept): no two tokens share an entry.
pub(crate) struct TokenCache {
    map: Cache<[u8; 32], Verified>,
}

impl TokenCache {
    /// A cache of about `capacity` tokens (at most `capacity` plus one per
    /// shard less one); `None` when 0 (no cache).
    pub(crate) fn new(capacity: u64) -> Option<Self> {
        let presized = usize::try_from(capacity.min(PRESIZED)).unwrap_or(usize::MAX);
        (capacity > 0).then(|| TokenCache {
            map: Cache::with_weighter(presized, capacity, UnitWeighter),
        })
    }

    pub(crate) fn get(&self, digest: &[u8; 32]) -> Option<Verified> {
        self.map.get(digest)
    }

    pub(crate) fn insert(&self, digest: [u8; 32], verified: Verified) {
        self.map.insert(digest, verified);
    }

    pub(crate) fn remove(&self, digest: &[u8; 32]) {
        self.map.remove(digest);
    }

    /// Entries now.
    pub(crate) fn len(&self) -> u64 {
        u64::try_from(self.map.len()).unwrap_or(u64::MAX)
    }
}
