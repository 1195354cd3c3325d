//! The dataset: the databases of [`crate::keyspace`] together with everything that must
//! change in the same critical section as the data: the replication feed, WATCH versions,
//! client-side caching, blocked clients, the eviction pool and MIGRATE's in-flight keys,
//! behind the lock whose guard flushes the replication stream on release.
//!
//! Module map: [`lock`] the lock, [`blocked`] clients blocked on keys, [`expire_cycle`] the
//! active expiry cycle.

pub mod blocked;
pub mod expire_cycle;
pub mod lock;

use crate::keyspace::{Db, KeyHasher};
pub use lock::{KeyspaceGuard, KeyspaceLock};

/// All databases. Commands run with the keyspace locked, one pipelined batch at a time, so a
/// command (and a MULTI block) is atomic and every write has one place in a total order;
/// `dirty` counts writes in that order.
pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// Writes applied since start (Redis's `rdb_changes_since_last_save` analogue).
    pub dirty: u64,
    /// The replication stream (appended under this same lock, so its order is the order
    /// writes were applied).
    pub repl: crate::replication::Feed,
    pub watches: Watches,
    /// Client-side caching: who may cache which keys ([`crate::tracking`]).
    pub tracking: crate::tracking::Tracking,
    /// Clients blocked on keys of this keyspace.
    pub blocked: blocked::Blocked,
    /// Set while blocked clients are being served (no re-entry).
    pub blocked_serving: bool,
    /// The eviction pool and cursors (see [`crate::eviction`]).
    pub evict: crate::eviction::State,
    /// Keys a MIGRATE is sending away: writers to them wait until it finishes.
    pub in_flight: crate::migration::InFlight,
}

/// Modification versions of WATCHed keys. Only watched keys are tracked, so a server where
/// nobody watches pays one empty-map check per write.
#[derive(Default)]
pub struct Watches {
    keys: std::collections::HashMap<(usize, Vec<u8>), (usize, u64)>,
    seq: u64,
}

impl Watches {
    /// Starts watching; returns the key's current version.
    pub fn watch(&mut self, db: usize, key: &[u8]) -> u64 {
        let e = self.keys.entry((db, key.to_vec())).or_insert((0, 0));
        e.0 += 1;
        e.1
    }

    pub fn release(&mut self, db: usize, key: &[u8]) {
        let k = (db, key.to_vec());
        if let Some(e) = self.keys.get_mut(&k) {
            e.0 -= 1;
            if e.0 == 0 {
                self.keys.remove(&k);
            }
        }
    }

    pub fn version(&self, db: usize, key: &[u8]) -> u64 {
        self.keys.get(&(db, key.to_vec())).map_or(0, |e| e.1)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A write touched `key` in `db`.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if let Some(e) = self.keys.get_mut(&(db, key.to_vec())) {
            self.seq += 1;
            e.1 = self.seq;
        }
    }

    /// Database `db` is emptied (FLUSHDB, FLUSHALL) or exchanged with `replaced_with`
    /// (SWAPDB); call before the change. As Redis's `touchAllWatchedKeysInDb`: a watched key
    /// changes for its watchers when it holds a live value on either side; one that is
    /// absent or already expired on both sides has not logically changed.
    pub fn touch_db(&mut self, dbs: &[Db], db: usize, replaced_with: Option<usize>, now: u64) {
        let live = |i: usize, k: &[u8]| dbs.get(i).is_some_and(|d| d.peek_ref(k, now).is_some());
        for ((wdb, key), e) in self.keys.iter_mut() {
            if *wdb != db {
                continue;
            }
            if live(db, key) || replaced_with.is_some_and(|o| live(o, key)) {
                self.seq += 1;
                e.1 = self.seq;
            }
        }
    }

    /// A keyless write other than a flush or a swap: every watched key counts as touched.
    pub fn touch_all(&mut self) {
        for e in self.keys.values_mut() {
            self.seq += 1;
            e.1 = self.seq;
        }
    }
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        let hasher = KeyHasher::default();
        Keyspace {
            dbs: (0..databases.max(1))
                .map(|_| {
                    let mut d = Db::new(hasher);
                    d.log_expired = true;
                    d
                })
                .collect(),
            dirty: 0,
            repl: crate::replication::Feed::new(1024 * 1024),
            watches: Watches::default(),
            tracking: Default::default(),
            blocked: Default::default(),
            blocked_serving: false,
            in_flight: Default::default(),
            evict: Default::default(),
        }
    }

    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len()).sum()
    }
}
