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

/// A pending slot's keys written since the snapshot began, each with its state then.
pub type SavedStates = HashMap<Box<[u8]>, Option<Box<Entry>>>;

/// One database's side of a running snapshot (it moves with the database's data: SWAPDB
/// swaps it along, so `origin` names the database the image belongs to).
pub struct Snap<T> {
    /// The database number when the snapshot began.
    pub origin: usize,
    /// Slots below this are written to the file: changes to them need no copy.
    pub next_slot: usize,
    /// Per pending slot, the state of each key written since the snapshot began, as it was
    /// then (`None`: it did not exist).
    pub saved: HashMap<usize, SavedStates>,
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

#[cfg(test)]
mod tests {
    use crate::keyspace::db::Db;
    use crate::keyspace::{KeyHasher, SmallBytes, Ttl, Value};
    use std::collections::BTreeMap;

    fn s(v: &str) -> Value {
        Value::Str(SmallBytes::new(v.as_bytes()))
    }

    fn image(db: &mut Db, from: usize) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        db.snapshot_slots(from, |e| {
            let Value::Str(v) = &e.value else {
                panic!("strings only")
            };
            m.insert(
                String::from_utf8_lossy(e.key()).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            );
            true
        });
        m
    }

    /// Writes, deletes, inserts, expiries and a flush made after the snapshot began do not
    /// show in its image, whether they come before or during its walk.
    #[test]
    fn the_image_is_the_database_when_the_snapshot_began() {
        let mut db = Db::new(KeyHasher::default());
        for i in 0..200 {
            db.set(format!("k{i}").as_bytes(), s("old"), Ttl::Persist, 0);
        }
        let want = image_of_live(&mut db);
        db.begin_snapshot(0);
        // Part of the walk first (stopping after one entry), then changes everywhere.
        let mut got = BTreeMap::new();
        let mut first = true;
        let next = db.snapshot_slots(0, |e| {
            got.insert(
                String::from_utf8_lossy(e.key()).into_owned(),
                "old".to_string(),
            );
            std::mem::take(&mut first)
        });
        assert!(next < crate::keyspace::slot::SLOTS);
        for i in 0..50 {
            db.set(format!("k{i}").as_bytes(), s("new"), Ttl::Persist, 0);
        }
        for i in 50..100 {
            db.remove(format!("k{i}").as_bytes(), 0);
        }
        for i in 200..250 {
            db.set(format!("k{i}").as_bytes(), s("new"), Ttl::Persist, 0);
        }
        if let Some(e) = db.get_mut(b"k150", 0) {
            e.value = s("edited");
        }
        db.set_expire(b"k160", Some(1), 0);
        db.expire_step(10, usize::MAX);
        got.extend(image(&mut db, next));
        assert_eq!(got, want);
        assert!(db.snapshot_copied() > 0);
        db.end_snapshot();
        // A flush mid-snapshot hands the tables over whole.
        let want = image_of_live(&mut db);
        db.begin_snapshot(0);
        db.clear();
        db.set(b"after", s("x"), Ttl::Persist, 0);
        assert_eq!(image(&mut db, 0), want);
        db.end_snapshot();
    }

    fn image_of_live(db: &mut Db) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for e in db.iter_stored() {
            if let Value::Str(v) = &e.value {
                m.insert(
                    String::from_utf8_lossy(e.key()).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                );
            }
        }
        m
    }
}
