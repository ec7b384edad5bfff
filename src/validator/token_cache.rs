//! The verified-token cache: a token seen before skips the signature, never
//! the clock, and never outlives the key that verified it.
//!
//! quick_cache (S3-FIFO, sharded, no background work): one hit is a keyed
//! hash of the token, a read-locked shard lookup and a comparison of the
//! token with the one the entry keeps. It has no time-based
//! expiry; none is needed, because every hit re-checks `exp` and `nbf`, an
//! expired entry is removed when it is next looked up, and the capacity
//! bounds what expired entries can occupy meanwhile.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use foldhash::SharedSeed;
use foldhash::quality::SeedableRandomState;
use quick_cache::Weighter;
use quick_cache::sync::{Cache, DefaultLifecycle};

use super::issuers::Owner;
use crate::claims::Claims;
use crate::keys::{Algorithm, KeyIdentity};

/// A verified token in the cache, bound to the key that verified it: a hit
/// counts only while the current key set still holds that key.
#[derive(Clone)]
pub(crate) struct Verified {
    pub(crate) claims: Claims,
    /// The key that verified it, and for which algorithm (a
    /// [`KeyBinding`](crate::keys::KeyBinding) apart: 8 bytes less an entry).
    pub(crate) key: Arc<KeyIdentity>,
    pub(crate) alg: Algorithm,
    /// Its key source's withdrawals when `key` was taken from its set: a
    /// hit trusts the key at once while they have not moved
    /// (`KeySource::trusts_at_once`); [`NOT_SEEN`] never matches.
    pub(crate) withdrawals: u64,
    /// The issuer whose keys must still hold `key`.
    pub(crate) owner: Owner,
    /// The token's size in [`UNIT`]s, at least 1: what the entry weighs.
    pub(crate) units: u32,
}

/// A [`Verified::withdrawals`] that no source reaches (it would take 2^64
/// key sets, each withdrawing a key): its hits always look in the set.
pub(crate) const NOT_SEEN: u64 = u64::MAX;

/// The capacity counts tokens by the KiB (a token of up to 1 KiB is one
/// unit, a 4 KiB token four): the claims an entry keeps grow with its
/// token, and the cache's memory is bounded by bytes, not by entries.
pub(crate) const UNIT: usize = 1024;

/// The estimated memory one unit may hold: 3 KiB. An entry keeps its
/// token, and its claims once a handler reads them by name take about 1.7
/// bytes of memory per byte of token: ordinary entries stay within their
/// token's units (a token of up to 1 KiB counts once). Claims that expand
/// more (thousands of tiny array elements, a long role string split into
/// thousands of roles) weigh by their memory instead.
pub(crate) const MEMORY_PER_UNIT: usize = 3 * UNIT;

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

impl Weighter<u64, Verified> for ByUnits {
    fn weight(&self, _key: &u64, value: &Verified) -> u64 {
        u64::from(value.units)
    }
}

/// The number of entries quick_cache is told to expect (it sets the shard
/// count and the size of its ghost queue from it).
const ESTIMATED_ENTRIES: u64 = 16 * 1024;

/// How many of a token's last bytes its key is made of (with its length):
/// a JWT's signature, or most of it (an HMAC's is 43 characters, an ECDSA
/// or EdDSA one's 86, an RSA one's 342 and more). A verified token's
/// signature is what tells it from every other token its issuer signed;
/// hashing the rest too cost ~250 instructions a request for a 400-byte
/// token, for keys no better spread. Tokens alike in these bytes and their
/// length (never two valid ones in practice) only share a slot.
const KEYED_TAIL: usize = 64;

/// Keyed by a keyed 64-bit hash of the token's tail (foldhash, seeded from
/// the system's random generator for each cache), and a hit counts only
/// when the token kept in the entry is byte for byte the one presented.
///
/// Why not a SHA-256 of the token, as before: on a hit it was the whole
/// cost (0.4 µs of a 650-byte token, about 85% of the cached path's
/// instructions), and the exact comparison makes a collision harmless:
/// two tokens with the same key share a slot, not their claims (the later
/// one verified evicts the other). The hash need not resist anyone who
/// knows the seed: a token found here must equal one that passed every
/// check. What it costs is memory: an entry keeps its token (and no parsed
/// claims until a handler reads one: see `Claims::into_cached`).
pub(crate) struct TokenCache {
    map: Cache<u64, Verified, ByUnits, PassThrough>,
    hasher: SeedableRandomState,
}

impl TokenCache {
    /// A cache of `capacity` units (a shard's rounding may add one unit per
    /// shard); `None` when 0 (no cache).
    pub(crate) fn new(capacity: u64) -> Option<Self> {
        let estimated = usize::try_from(capacity.min(ESTIMATED_ENTRIES)).unwrap_or(usize::MAX);
        (capacity > 0).then(|| TokenCache {
            map: Cache::with(
                estimated,
                capacity,
                ByUnits,
                PassThrough,
                DefaultLifecycle::default(),
            ),
            hasher: SeedableRandomState::with_seed(random_seed(), SharedSeed::global_random()),
        })
    }

    /// The key of `token` in this cache: a keyed hash of its length and its
    /// last [`KEYED_TAIL`] bytes.
    pub(crate) fn key(&self, token: &[u8]) -> u64 {
        let tail = token
            .get(token.len().saturating_sub(KEYED_TAIL)..)
            .unwrap_or(token);
        self.hasher.hash_one((token.len(), tail))
    }

    /// The entry of `token` (its key, and what verified it), if this very
    /// token was verified: never another token's entry under the same key.
    #[inline]
    pub(crate) fn get(&self, token: &[u8]) -> Option<(u64, Verified)> {
        let key = self.key(token);
        self.map
            .get(&key)
            .filter(|hit| hit.claims.is_of(token))
            .map(|hit| (key, hit))
    }

    /// Caches `verified`, whose claims keep `token` (`Claims::into_cached`).
    pub(crate) fn insert(&self, token: &[u8], verified: Verified) {
        self.map.insert(self.key(token), verified);
    }

    /// Puts `verified` under `key` whatever token it keeps: what a
    /// collision of two tokens' keys does.
    #[cfg(test)]
    pub(crate) fn insert_under(&self, key: u64, verified: Verified) {
        self.map.insert(key, verified);
    }

    pub(crate) fn remove(&self, key: u64) {
        self.map.remove(&key);
    }

    /// Entries now.
    pub(crate) fn len(&self) -> u64 {
        u64::try_from(self.map.len()).unwrap_or(u64::MAX)
    }
}

/// 64 bits no one outside the process can know: std's `RandomState`,
/// whose SipHash keys come from the operating system's random source
/// (once per thread; aws-lc's generator would cost its entropy source's
/// start-up, milliseconds, in every process that builds a validator).
fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0x6265_6172_6572_u64)
}

/// The keys are already keyed hashes: quick_cache uses them as they are.
#[derive(Clone, Default)]
struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;

    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; anything else still spreads.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_weighs_its_kib_or_its_memory_whichever_is_more() {
        assert_eq!(Verified::units(0, 0), 1);
        assert_eq!(Verified::units(400, 1400), 1);
        assert_eq!(Verified::units(1024, 3072), 1);
        assert_eq!(Verified::units(1025, 3072), 2);
        assert_eq!(Verified::units(1000, 3073), 2);
        assert_eq!(Verified::units(4000, 48_000), 16);
        assert_eq!(Verified::units(usize::MAX, usize::MAX), u32::MAX);
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn the_key_is_made_of_the_length_and_the_last_bytes() {
        let cache = TokenCache::new(8).unwrap();
        let token = |head: u8, tail: u8, len: usize| {
            let mut t = vec![head; len];
            if let Some(last) = t.last_mut() {
                *last = tail;
            }
            t
        };
        let base = token(b'a', b'z', 400);
        // Any byte of the tail, and the length, change the key.
        assert_ne!(cache.key(&base), cache.key(&token(b'a', b'y', 400)));
        assert_ne!(cache.key(&base), cache.key(&token(b'a', b'z', 401)));
        let mut early_tail = base.clone();
        early_tail[400 - KEYED_TAIL] = b'b';
        assert_ne!(cache.key(&base), cache.key(&early_tail));
        // Bytes before it do not: such tokens share a slot, never an entry.
        let mut head = base.clone();
        head[0] = b'b';
        head[400 - KEYED_TAIL - 1] = b'b';
        assert_eq!(cache.key(&base), cache.key(&head));
        // Tokens shorter than the tail are hashed whole.
        assert_ne!(cache.key(b"short"), cache.key(b"shore"));
        assert_eq!(cache.key(b""), cache.key(b""));
        // Each cache has its own seed.
        let other = TokenCache::new(8).unwrap();
        assert_ne!(cache.key(&base), other.key(&base));
    }
}
