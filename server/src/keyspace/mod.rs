//! The dataset: numbered databases of per-slot tables, behind one lock.
//!
//! Module map: [`small`] compact byte strings, [`entry`] a key's record, [`slot`] key to slot,
//! [`db`] one database, [`clock`] access clocks, [`expire`] the active expiry cycle,
//! [`serialize`] the DUMP/RESTORE value encoding.

pub mod clock;
pub mod db;
pub mod entry;
pub mod expire;
pub mod hll;
pub mod serialize;
pub mod slot;
pub mod small;
pub mod types;

pub use db::{Db, KeyHasher, Ttl};
pub use entry::{Entry, Value};
pub use small::SmallBytes;

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
        }
    }

    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len()).sum()
    }
}
