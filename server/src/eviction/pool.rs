//! The eviction pool: the best candidates seen across sampling rounds (Redis's
//! `EvictionPoolLRU`). Sampling a handful of keys per round approximates true LRU/LFU only if
//! good candidates from earlier rounds are remembered; the pool keeps the `POOL_SIZE` highest
//! scores seen so far, where a higher score means "evict sooner" (idle time, 255 - frequency,
//! or inverted expiry).

/// Redis's `EVPOOL_SIZE`.
pub const POOL_SIZE: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub score: u64,
    pub db: usize,
    pub key: Vec<u8>,
    /// [`fingerprint`] of `key`: finding a pooled duplicate compares these, not keys.
    print: u64,
}

/// A 64-bit hash of a key (the keyspace's foldhash, with a fixed seed): an offer looks for
/// its key among up to 16 candidates, and comparing whole keys there was a visible part of
/// each eviction.
fn fingerprint(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(key)
}

/// Candidates in ascending score order; the best is last.
#[derive(Default)]
pub struct Pool {
    entries: Vec<Candidate>,
}

impl Pool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Offers a sampled key. A full pool drops its worst candidate for a better one; a key
    /// already pooled only has its score refreshed.
    pub fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        // Most samples lose to a full pool's worst: decided before any key comparison.
        if self.entries.len() >= POOL_SIZE && score <= self.entries[0].score {
            return;
        }
        // The candidate that leaves (a re-scored duplicate, or the worst of a full pool)
        // lends its key buffer to the new one: no allocation per offer.
        let print = fingerprint(key);
        let recycled = if let Some(i) = self
            .entries
            .iter()
            .position(|c| c.print == print && c.db == db && c.key == key)
        {
            Some(self.entries.remove(i))
        } else if self.entries.len() >= POOL_SIZE {
            if score <= self.entries[0].score {
                return;
            }
            Some(self.entries.remove(0))
        } else {
            None
        };
        let mut c = recycled.unwrap_or(Candidate {
            score: 0,
            db: 0,
            key: Vec::new(),
            print: 0,
        });
        c.score = score;
        c.db = db;
        c.print = print;
        c.key.clear();
        c.key.extend_from_slice(key);
        let at = self.entries.partition_point(|e| e.score <= score);
        self.entries.insert(at, c);
    }

    pub fn pop_best(&mut self) -> Option<Candidate> {
        self.entries.pop()
    }

    /// Drops candidates of one database (FLUSHDB, SWAPDB make their keys meaningless).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_comes_out_first_and_worst_falls_off() {
        let mut p = Pool::default();
        for (i, s) in [5u64, 1, 9, 3, 7].iter().enumerate() {
            p.offer(*s, 0, format!("k{i}").as_bytes());
        }
        assert_eq!(p.pop_best().map(|c| c.score), Some(9));
        assert_eq!(p.pop_best().map(|c| c.score), Some(7));
        let mut p = Pool::default();
        for s in 0..POOL_SIZE as u64 {
            p.offer(s + 10, 0, format!("k{s}").as_bytes());
        }
        // Worse than everything pooled: ignored.
        p.offer(3, 0, b"low");
        assert_eq!(p.len(), POOL_SIZE);
        assert!(p.entries.iter().all(|c| c.key != b"low"));
        // Better: the lowest (score 10) is dropped.
        p.offer(100, 1, b"high");
        assert_eq!(p.len(), POOL_SIZE);
        assert_eq!(p.entries[0].score, 11);
        assert_eq!(
            p.pop_best().map(|c| (c.db, c.key)),
            Some((1, b"high".to_vec()))
        );
    }

    #[test]
    fn a_pooled_key_is_rescored_not_duplicated() {
        let mut p = Pool::default();
        p.offer(50, 0, b"a");
        p.offer(10, 0, b"b");
        p.offer(5, 0, b"a");
        assert_eq!(p.len(), 2);
        assert_eq!(p.pop_best().map(|c| c.key), Some(b"b".to_vec()));
        // Same key name in another database is another candidate.
        p.offer(1, 3, b"a");
        assert_eq!(p.len(), 2);
    }
}
