//! The verified-token cache: a token seen before skips the signature, never
//! the clock, and never outlives the key that verified it.
//!
//! quick_cache (S3-FIFO, sharded, no background work): one hit is a hash of
//! the 32-byte digest and a read-locked shard lookup. It has no time-based
//! expiry; none is needed, because every hit re-checks `exp` and `nbf`, an
//! expired entry is removed when it is next looked up, and the capacity
//! bounds what expired entries can occupy meanwhile.

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::issuers::Owner;
use crate::claims::Claims;
use crate::keys::KeyBinding;

/// A verified token in the cache, bound to the key that verified it: a hit
/// counts only while the current key set still holds that key.
#[derive(Clone)]
pub(crate) struct Verified {
    pub(crate) claims: Claims,
    pub(crate) key: KeyBinding,
    /// The issuer whose keys must still hold `key`.
    pub(crate) owner: Owner,
    /// The token's size in [`UNIT`]s, at least 1: what the entry weighs.
    pub(crate) units: u32,
}

/// The capacity counts tokens by the KiB (a token of up to 1 KiB is one
/// unit, a 4 KiB token four): the claims an entry keeps grow with its
/// token, and the cache's memory is bounded by bytes, not by entries.
pub(crate) const UNIT: usize = 1024;

/// The estimated memory one unit may hold: 2 KiB. Ordinary claims take
/// about 1.7 bytes of memory per byte of token and stay within their
/// token's units; claims that expand more (thousands of tiny array
/// elements, a long role string split into thousands of roles) weigh by
/// their memory instead.
pub(crate) const MEMORY_PER_UNIT: usize = 2 * UNIT;

impl Verified {
    /// The weight of a token of `len` bytes whose claims hold about
    /// `memory` bytes: its KiB, or its memory by [`MEMORY_PER_UNIT`],
    /// whichever is more.
    pub(crate) fn units(len: usize, memory: usize) -> u32 {
        let units = len
            .div_ceil(UNIT)
            .max(memory.div_ceil(MEMORY_PER_UNIT))
            .max(1);
        u32::try_from(units).unwrap_or(u32::MAX)
    }
}

#[derive(Clone)]
struct ByUnits;

impl Weighter<[u8; 32], Verified> for ByUnits {
    fn weight(&self, _key: &[u8; 32], value: &Verified) -> u64 {
        u64::from(value.units)
    }
}

/// The number of entries quick_cache is told to expect (it sets the shard
/// count and the size of its ghost queue from it).
const ESTIMATED_ENTRIES: u64 = 16 * 1024;

/// Keyed by the SHA-256 of the whole token (the token itself is never
/// kept): no two tokens share an entry.
pub(crate) struct TokenCache {
    map: Cache<[u8; 32], Verified, ByUnits>,
}

impl TokenCache {
    /// A cache of `capacity` units (a shard's rounding may add one unit per
    /// shard); `None` when 0 (no cache).
    pub(crate) fn new(capacity: u64) -> Option<Self> {
        let estimated = usize::try_from(capacity.min(ESTIMATED_ENTRIES)).unwrap_or(usize::MAX);
        (capacity > 0).then(|| TokenCache {
            map: Cache::with_weighter(estimated, capacity, ByUnits),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_weighs_its_kib_or_its_memory_whichever_is_more() {
        assert_eq!(Verified::units(0, 0), 1);
        assert_eq!(Verified::units(400, 1400), 1);
        assert_eq!(Verified::units(1024, 2048), 1);
        assert_eq!(Verified::units(1025, 2048), 2);
        assert_eq!(Verified::units(1000, 2049), 2);
        assert_eq!(Verified::units(4000, 48_000), 24);
        assert_eq!(Verified::units(usize::MAX, usize::MAX), u32::MAX);
    }
}
