//! The `jti` replay cache (RFC 9449 §11.1): every accepted proof is
//! remembered for as long as its `iat` keeps it acceptable, in bounded
//! memory. Two generations per shard: a proof lands in the current one,
//! which becomes the previous one after a window and is dropped after a
//! second, so each is remembered for at least one window and at most two.
//! When a shard is full, new proofs are refused (fail closed) rather than
//! old ones forgotten: forgetting would let a replay through.

use std::collections::HashSet;
use std::sync::Mutex;

/// Shards, so that concurrent requests rarely wait on one lock.
const SHARDS: usize = 16;

/// What [`ReplayCache::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First time: remembered now.
    New,
    /// Seen within the window: a replay.
    Replayed,
    /// The cache is at its capacity: the proof cannot be remembered.
    Full,
}

#[derive(Default)]
struct Shard {
    current: HashSet<[u8; 16]>,
    previous: HashSet<[u8; 16]>,
    started: i64,
}

/// Proof identifiers seen within the window.
pub(crate) struct ReplayCache {
    shards: Vec<Mutex<Shard>>,
    window: i64,
    per_shard: usize,
}

impl ReplayCache {
    /// A cache remembering each proof for at least `window` seconds, holding
    /// at most about `capacity` proofs.
    pub(crate) fn new(window: i64, capacity: usize) -> Self {
        ReplayCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            window: window.max(1),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Remembers `id` (a digest of the proof's key and `jti`) unless it was
    /// seen within the window.
    pub(crate) fn insert(&self, id: [u8; 16], now: i64) -> Seen {
        let index = usize::from(id[0]) % SHARDS;
        let Some(shard) = self.shards.get(index) else {
            return Seen::Full;
        };
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        let age = now.saturating_sub(shard.started);
        if age >= self.window.saturating_mul(2) || age < 0 {
            shard.previous.clear();
            shard.current.clear();
            shard.started = now;
        } else if age >= self.window {
            shard.previous = std::mem::take(&mut shard.current);
            shard.started = now;
        }
        if shard.current.contains(&id) || shard.previous.contains(&id) {
            return Seen::Replayed;
        }
        if shard.current.len().saturating_add(shard.previous.len()) >= self.per_shard {
            return Seen::Full;
        }
        shard.current.insert(id);
        Seen::New
    }

    /// Whether `id` was seen within the window (without remembering it).
    pub(crate) fn contains(&self, id: [u8; 16], now: i64) -> bool {
        let index = usize::from(id[0]) % SHARDS;
        let Some(shard) = self.shards.get(index) else {
            return false;
        };
        let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        // As `insert` would see it after its rotation.
        let age = now.saturating_sub(shard.started);
        if age >= self.window.saturating_mul(2) || age < 0 {
            false
        } else if age >= self.window {
            shard.current.contains(&id)
        } else {
            shard.current.contains(&id) || shard.previous.contains(&id)
        }
    }

    /// Proofs remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|e| e.into_inner());
                s.current.len() + s.previous.len()
            })
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
    fn a_proof_is_remembered_for_at_least_one_window_and_at_most_two() {
        let cache = ReplayCache::new(60, 1000);
        assert_eq!(cache.insert(id(1), 1000), Seen::New);
        assert_eq!(cache.insert(id(1), 1000), Seen::Replayed);
        assert_eq!(cache.insert(id(1), 1059), Seen::Replayed);
        // A window later it moved to the previous generation: still seen.
        assert_eq!(cache.insert(id(2), 1060), Seen::New);
        assert_eq!(cache.insert(id(1), 1119), Seen::Replayed);
        // Two windows after the generation it was in started: forgotten.
        assert_eq!(cache.insert(id(3), 1120), Seen::New);
        assert_eq!(cache.insert(id(1), 1121), Seen::New);
    }

    #[test]
    fn contains_agrees_with_insert_without_remembering() {
        let cache = ReplayCache::new(60, 1000);
        assert!(!cache.contains(id(1), 1000));
        assert_eq!(cache.insert(id(1), 1000), Seen::New);
        assert!(cache.contains(id(1), 1059));
        assert!(!cache.contains(id(2), 1059));
        assert_eq!(cache.insert(id(2), 1060), Seen::New);
        assert!(cache.contains(id(1), 1119));
        assert!(!cache.contains(id(1), 1120));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_full_shard_refuses_new_proofs_instead_of_forgetting_old_ones() {
        // 16 shards of one entry each.
        let cache = ReplayCache::new(60, 16);
        assert_eq!(cache.insert(id(1), 0), Seen::New);
        assert_eq!(cache.insert(id(2), 0), Seen::Full);
        assert_eq!(cache.insert(id(1), 1), Seen::Replayed);
        assert_eq!(cache.len(), 1);
        // Room again once the window has passed twice.
        assert_eq!(cache.insert(id(2), 120), Seen::New);
    }

    #[test]
    fn a_clock_that_steps_back_starts_afresh_without_panicking() {
        let cache = ReplayCache::new(60, 100);
        assert_eq!(cache.insert(id(1), 1000), Seen::New);
        assert_eq!(cache.insert(id(2), 10), Seen::New);
        assert_eq!(cache.insert(id(2), i64::MIN), Seen::New);
        assert_eq!(cache.insert(id(3), i64::MAX), Seen::New);
    }
}
