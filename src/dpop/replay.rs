//! The `jti` replay cache (RFC 9449 §11.1): every accepted proof is
//! remembered until the proof itself could no longer be accepted (its `iat`
//! plus the maximum age and the leeway), whatever order requests finish in
//! and whatever the clock does, in bounded memory.
//!
//! Each entry carries its own expiry, computed from the proof's `iat`, not
//! from the time of the insert: a request whose clock reading is older than
//! another's, or a clock that steps back, can only keep entries longer,
//! never drop them. Entries are dropped by a sweep, every quarter window or
//! when a shard is full (at most once a second), and only once they are past their expiry by a
//! further margin (one window) as the sweeping request reads the clock: a
//! request that read the clock up to that margin earlier, and inserts
//! after the sweep, still finds what it must. When a shard is full, new
//! proofs are refused (fail closed) rather than live ones forgotten:
//! forgetting would let a replay through.
//!
//! What no bounded cache can defend: a clock that steps forward by more
//! than the margin, lets a sweep drop entries, then steps back so that
//! their proofs are acceptable again. Run the system clock slewed (NTP),
//! not stepped.

use std::collections::HashMap;
use std::sync::Mutex;

/// Shards, so that concurrent requests rarely wait on one lock.
const SHARDS: usize = 16;

/// What [`ReplayCache::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First time: remembered now.
    New,
    /// Seen before: a replay.
    Replayed,
    /// The cache is at its capacity: the proof cannot be remembered.
    Full,
}

#[derive(Default)]
struct Shard {
    /// Proof identifier -> the last second at which the proof is acceptable.
    entries: HashMap<[u8; 16], i64>,
    /// Not before this reading does a sweep run unless the shard is full.
    next_sweep: i64,
    /// The reading of the last sweep, so a full shard is swept at most
    /// once per second (a sweep walks the whole shard).
    swept_at: Option<i64>,
}

impl Shard {
    fn sweep(&mut self, now: i64, margin: i64) {
        let cutoff = now.saturating_sub(margin);
        self.entries.retain(|_, expires| *expires >= cutoff);
        // A quarter of the margin between sweeps: an entry outlives its
        // expiry by at most a margin and a quarter.
        self.next_sweep = now.saturating_add((margin / 4).max(1));
        self.swept_at = Some(now);
    }
}

/// Proof identifiers seen, each until its proof's own expiry.
pub(crate) struct ReplayCache {
    shards: Vec<Mutex<Shard>>,
    /// How long past its expiry an entry is kept: the acceptance window.
    margin: i64,
    per_shard: usize,
}

impl ReplayCache {
    /// A cache holding at most about `capacity` proofs; an entry is kept
    /// `window` seconds past its proof's expiry (see the module docs).
    pub(crate) fn new(window: i64, capacity: usize) -> Self {
        ReplayCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            margin: window.max(1),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, id: &[u8; 16]) -> Option<std::sync::MutexGuard<'_, Shard>> {
        let index = usize::from(id[0]) % SHARDS;
        self.shards
            .get(index)
            .map(|shard| shard.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Remembers `id` (a digest of the proof's key and `jti`) until
    /// `expires` (the last second at which its proof is acceptable), unless
    /// it was seen before. `now` is the reading the proof was checked at.
    pub(crate) fn insert(&self, id: [u8; 16], expires: i64, now: i64) -> Seen {
        let Some(mut shard) = self.shard(&id) else {
            return Seen::Full;
        };
        // Present means seen, whatever its expiry says: an entry is only
        // ever dropped by a sweep.
        if shard.entries.contains_key(&id) {
            return Seen::Replayed;
        }
        let full = shard.entries.len() >= self.per_shard;
        if now >= shard.next_sweep || (full && shard.swept_at != Some(now)) {
            shard.sweep(now, self.margin);
        }
        if shard.entries.len() >= self.per_shard {
            return Seen::Full;
        }
        shard.entries.insert(id, expires);
        Seen::New
    }

    /// Whether `id` was seen (without remembering it).
    pub(crate) fn contains(&self, id: [u8; 16]) -> bool {
        self.shard(&id)
            .is_some_and(|shard| shard.entries.contains_key(&id))
    }

    /// Proofs remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).entries.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id[0] = 0; // one shard, to test its bound exactly
        id
    }

    #[test]
    fn a_proof_is_remembered_until_its_expiry_and_one_window_more() {
        let cache = ReplayCache::new(60, 1000);
        assert_eq!(cache.insert(id(1), 1065, 1000), Seen::New);
        assert_eq!(cache.insert(id(1), 1065, 1000), Seen::Replayed);
        // Sweeps at 1060 and 1120 keep it: 1065 >= 1120 - 60.
        assert_eq!(cache.insert(id(2), 2000, 1060), Seen::New);
        assert_eq!(cache.insert(id(3), 2000, 1120), Seen::New);
        assert_eq!(cache.insert(id(1), 1065, 1125), Seen::Replayed);
        // The sweep at 1180 drops it (1065 < 1180 - 60), not the others.
        assert_eq!(cache.insert(id(4), 2000, 1180), Seen::New);
        assert!(!cache.contains(id(1)));
        assert!(cache.contains(id(2)));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn an_insert_with_an_earlier_reading_after_a_later_one_forgets_nothing() {
        // Request A read 1061 and swept; request B read 1000 (before A)
        // and inserts after A: the live entries must all survive, and a
        // replay of either is refused at either reading.
        let cache = ReplayCache::new(60, 1000);
        assert_eq!(cache.insert(id(1), 1065, 1000), Seen::New);
        assert_eq!(cache.insert(id(2), 1125, 1061), Seen::New);
        assert_eq!(cache.insert(id(3), 1065, 1000), Seen::New);
        for now in [1000, 1061] {
            assert_eq!(cache.insert(id(1), 1065, now), Seen::Replayed);
            assert_eq!(cache.insert(id(2), 1125, now), Seen::Replayed);
            assert_eq!(cache.insert(id(3), 1065, now), Seen::Replayed);
        }
    }

    #[test]
    fn a_clock_that_steps_back_forgets_nothing_and_does_not_panic() {
        let cache = ReplayCache::new(60, 100);
        assert_eq!(cache.insert(id(1), 1065, 1000), Seen::New);
        assert_eq!(cache.insert(id(2), 75, 10), Seen::New);
        assert_eq!(cache.insert(id(1), 1065, 10), Seen::Replayed);
        assert_eq!(cache.insert(id(3), i64::MIN, i64::MIN), Seen::New);
        assert_eq!(cache.insert(id(1), 1065, i64::MIN), Seen::Replayed);
        assert_eq!(cache.insert(id(4), i64::MAX, i64::MAX), Seen::New);
        // The far-future sweep dropped what expired, and nothing panicked.
        assert!(!cache.contains(id(1)));
        assert!(cache.contains(id(4)));
    }

    #[test]
    fn a_full_shard_refuses_new_proofs_instead_of_forgetting_live_ones() {
        // 16 shards of one entry each.
        let cache = ReplayCache::new(60, 16);
        assert_eq!(cache.insert(id(1), 65, 0), Seen::New);
        assert_eq!(cache.insert(id(2), 65, 0), Seen::Full);
        assert_eq!(cache.insert(id(1), 65, 1), Seen::Replayed);
        // Still live at 125 (65 >= 125 - 60): still full.
        assert_eq!(cache.insert(id(2), 190, 125), Seen::Full);
        assert_eq!(cache.len(), 1);
        // Room again once the entry is past its expiry and the margin.
        assert_eq!(cache.insert(id(2), 190, 126), Seen::New);
        assert!(!cache.contains(id(1)));
    }
}
