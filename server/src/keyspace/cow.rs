//! Copy-before-write for background snapshots: how BGSAVE writes a point-in-time image of a
//! database without fork and without pausing writers.
//!
//! Why: Redis forks and lets the kernel copy pages that writers touch; a threaded server has
//! no such help, and a slot-by-slot walk while writes continue (what full sync does) is not
//! point-in-time: a MULTI/EXEC that moves a value between two slots could land in the file
//! half-applied. Instead the snapshot walks a database's slots in order under short lock
//! holds, and a writer about to change a slot the walk has not reached yet first hands the
//! entry's old state (its value, or "absent") to the snapshot, once per key. The image of a
//! slot is then its live table with those saved states laid over it, which is the slot as it
//! was when the snapshot began, whatever was written since.
//!
//! Costs: outside a snapshot, each write path pays one `Option` check. During one, the first
//! write to a key of a pending slot clones that entry (deletes and expiries hand over the
//! removed entry itself); reads never copy. Wholesale changes do not copy at all: FLUSHDB,
//! FLUSHALL and a replica's reload hand the detached tables to the snapshot ([`Snap::frozen`]),
//! and a flushed slot hands over its entries.

use super::entry::Entry;
use std::collections::HashMap;

/// One database's side of a running snapshot (it moves with the database's data: SWAPDB
/// swaps it along, so `origin` names the database the image belongs to).
pub struct Snap<T> {
    /// The database number when the snapshot began.
    pub origin: usize,
    /// Slots below this are written to the file: changes to them need no copy.
    pub next_slot: usize,
    /// Per pending slot, the state of each key written since the snapshot began, as it was
    /// then (`None`: it did not exist).
    pub saved: HashMap<usize, HashMap<Box<[u8]>, Option<Box<Entry>>>>,
    /// The tables as they were when the database was emptied wholesale during the snapshot:
    /// from then on they, not the live tables, are what `saved` overlays, and writers need
    /// not copy anything.
    pub frozen: Option<Vec<T>>,
    /// Entries handed over (for INFO's copy-on-write figures).
    pub copied: u64,
}

impl<T> Snap<T> {
    pub fn new(origin: usize) -> Self {
        Snap {
            origin,
            next_slot: 0,
            saved: HashMap::new(),
            frozen: None,
            copied: 0,
        }
    }

    /// Whether a change to `slot` must first hand its old state over.
    #[inline]
    pub fn wants(&self, slot: usize) -> bool {
        self.frozen.is_none() && slot >= self.next_slot
    }

    /// Whether `key` of `slot` was already handed over.
    pub fn has(&self, slot: usize, key: &[u8]) -> bool {
        self.saved.get(&slot).is_some_and(|m| m.contains_key(key))
    }

    /// Records `key`'s state at the start of the snapshot, unless recorded already.
    pub fn keep(&mut self, slot: usize, key: &[u8], old: impl FnOnce() -> Option<Box<Entry>>) {
        if !self.wants(slot) {
            return;
        }
        let m = self.saved.entry(slot).or_default();
        if !m.contains_key(key) {
            m.insert(key.into(), old());
            self.copied += 1;
        }
    }
}
