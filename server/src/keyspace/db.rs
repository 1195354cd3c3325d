//! One logical database: a hash table per slot.
//!
//! Why our own per-slot tables instead of one `DashMap`: cluster mode needs a slot's keys
//! counted, listed, flushed and migrated at the cost of that slot alone, and SCAN needs a
//! cursor that stays valid while tables grow. DashMap shards by hash, not by slot, and offers
//! neither. Concurrency comes from the dataset lock (`dataset::Keyspace`) instead, which also gives every
//! write one total order (what a replication stream must follow). The lock is held for one
//! batch of already-parsed commands at a time, so its critical sections are short.
//!
//! SCAN cursor layout (64 bits): the low 14 bits are the slot, the high 50 bits a threshold on
//! the key's hash (its top 50 bits). Within a slot, keys are visited in hash order and a call
//! only stops between two distinct hash prefixes, so a key present for the whole iteration is
//! returned at least once regardless of inserts, deletes or table growth.
//!
//! What a lookup costs, and why it is paid in batches: with keys spread over a keyspace much
//! larger than the CPU's caches, finding a key is three dependent cache misses — the slot's
//! table header in `slots` (one contiguous array, so no pointer to it), the table's control
//! bytes and pointer bucket (neighbours for small per-slot tables), and the entry, one block
//! that holds the key's bytes and the value (strings up to 22 bytes inline; see
//! [`super::entry`]).
//! Valkey pays as many or more (kvstore's dict array, the dict, its bucket, the entry, the
//! object). A profile of pipelined GETs over 100k keys spent 37% of the worker on those three
//! misses, one command after the other. [`Db::prefetch`] issues them for a whole pipelined
//! batch before it runs (as Valkey 8's `memory_prefetch.c`), so they overlap: the same
//! profile then shows 13% in the prefetch pass and 7% in the lookups. A single command per
//! batch still pays them in series. Per key, memory is the entry's block (48 bytes for a
//! key of up to 16 bytes without a TTL and a short string) plus about 18 bytes of table (an
//! 8-byte thin pointer and a control byte per bucket, at 61 keys per slot mostly 128
//! buckets, in jemalloc's 1280-byte class); a cache-line-bucket table would cut the latter.

use super::entry::{Entry, EntryPtr, Value};
use super::slot::{key_slot, SLOTS};
use hashbrown::HashTable;
use rand::Rng;
use std::hash::BuildHasher;

/// The hasher all tables use. Randomly seeded per process (hash flooding), shared by every
/// database so SWAPDB can swap tables wholesale.
pub type KeyHasher = foldhash::fast::RandomState;

/// What one key costs in its slot table beyond its entry: the entry's pointer and the
/// table's control byte.
pub const TABLE_SLOT_BYTES: usize = std::mem::size_of::<EntryPtr>() + 1;

/// One slot's keys (crate-visible only so a snapshot can hold detached tables).
#[derive(Default)]
pub struct SlotTable {
    table: HashTable<EntryPtr>,
    volatile: u32,
}

/// A running snapshot's state in one database (see [`super::cow`]).
pub type DbSnap = super::cow::Snap<SlotTable>;

/// What a write does to a key's TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any TTL.
    Persist,
    /// Keep the existing TTL (SET ... KEEPTTL).
    Keep,
    /// Expire at this Unix time in milliseconds.
    At(u64),
}

/// Counters that INFO reports, kept per database and summed when read.
#[derive(Default, Clone, Copy, Debug)]
pub struct DbStats {
    pub expired_keys: u64,
    /// Hash fields whose TTL passed (INFO `expired_subkeys`).
    pub expired_fields: u64,
}

/// Hash fields that expired together: the key, the fields, and whether that emptied the
/// hash (the key was deleted).
pub type ExpiredFields = (Vec<u8>, Vec<Vec<u8>>, bool);

pub struct Db {
    slots: Vec<SlotTable>,
    hasher: KeyHasher,
    keys: usize,
    volatile: usize,
    expire_cursor: usize,
    /// Where eviction sampling continues: see [`Db::sample`].
    sampler: Sampler,
    pub stats: DbStats,
    /// Read hits and misses (INFO keyspace_hits / keyspace_misses).
    pub hits: u64,
    pub misses: u64,
    /// Keys that expired lazily or actively since the last drain; replication and keyspace
    /// notifications turn them into DELs and `expired` events.
    pub expired_log: Vec<Vec<u8>>,
    /// Whether keys that expire should be logged in `expired_log`.
    pub log_expired: bool,
    /// Hash fields that expired since the last drain (replicated as HDELs, notified as
    /// `hexpired`), logged when `log_expired` is set.
    pub expired_fields: Vec<ExpiredFields>,
    /// Keys that may hold hashes with field TTLs (see [`super::field_expire`]).
    pub hfe: super::field_expire::FieldIndex,
    /// On a replica serving clients: expired keys read as absent but stay until the
    /// primary's DEL arrives.
    pub keep_expired: bool,
    /// Set while a replica applies its primary's stream: expired hash fields are left for
    /// the primary's HDELs (see [`super::field_expire`]).
    pub replicating: bool,
    /// How reads and overwrites update access words (set per command by dispatch from the
    /// eviction policy and CLIENT NO-TOUCH).
    pub touch: super::clock::Touch,
    /// Set while a background snapshot has not written this database yet: writers hand it
    /// the old state of what they change (see [`super::cow`]).
    snap: Option<Box<DbSnap>>,
}

/// The eviction sampler's cursor: the slot and the position in its table where the next
/// sample starts, and how many more calls continue from it before a random jump.
#[derive(Clone, Copy, Debug, Default)]
struct Sampler {
    slot: usize,
    offset: usize,
    runs: u32,
}

impl Sampler {
    /// Calls that continue from the cursor before the next random jump: enough to save
    /// most cache misses, few enough that samples stay spread over the keyspace.
    const RUNS: u32 = 8;
}

/// Visits up to `count` entries from position `offset` of `slots[slot]`, continuing into
/// the following slots (wrapping, at most one round), with each entry's index in the run.
/// Returns how many it visited and the position after the last one.
fn walk<'a>(
    slots: &'a [SlotTable],
    mut slot: usize,
    mut offset: usize,
    count: usize,
    mut f: impl FnMut(usize, &'a EntryPtr),
) -> (usize, (usize, usize)) {
    let mut seen = 0;
    for _ in 0..=SLOTS {
        if seen >= count {
            break;
        }
        let t = &slots[slot];
        if offset < t.table.len() {
            for e in t.table.iter().skip(offset) {
                f(seen, e);
                seen += 1;
                offset += 1;
                if seen >= count {
                    return (seen, (slot, offset));
                }
            }
        }
        slot = (slot + 1) % SLOTS;
        offset = 0;
    }
    (seen, (slot, offset))
}

#[inline]
fn hash_prefix(h: u64) -> u64 {
    h >> 14
}

impl Db {
    pub fn new(hasher: KeyHasher) -> Self {
        Db {
            slots: Vec::new(),
            hasher,
            keys: 0,
            volatile: 0,
            expire_cursor: 0,
            sampler: Sampler::default(),
            stats: DbStats::default(),
            hits: Default::default(),
            misses: Default::default(),
            expired_log: Vec::new(),
            log_expired: false,
            expired_fields: Vec::new(),
            hfe: Default::default(),
            keep_expired: false,
            replicating: false,
            touch: Default::default(),
            snap: None,
        }
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn ensure_slots(&mut self) {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, SlotTable::default);
        }
    }

    /// Number of keys, including expired keys not yet reclaimed (as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// Bytes the key tables themselves take: the slot tables and each one's pointer array
    /// and control bytes (MEMORY STATS `overhead.hashtable.main`). Entries are not included:
    /// they hold the keys and values. O(slots), not O(keys).
    pub fn table_overhead(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<SlotTable>()
            + self
                .slots
                .iter()
                .map(|t| t.table.capacity() * TABLE_SLOT_BYTES)
                .sum::<usize>()
    }

    /// Number of keys with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    fn note_expired(&mut self, key: &[u8]) {
        // Shared by the lazy and active paths.
        self.stats.expired_keys += 1;
        if self.log_expired {
            self.expired_log.push(key.to_vec());
        }
    }

    /// Finds a live entry, reclaiming it first if it has expired (lazy expiry).
    fn lookup(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        let slot = key_slot(key) as usize;
        let h = self.hash(key);
        self.lookup_at(key, slot, h, now)
    }

    fn lookup_at(&mut self, key: &[u8], slot: usize, h: u64, now: u64) -> Option<&mut Entry> {
        let t = self.slots.get_mut(slot)?;
        let occ = t.table.find_entry(h, |e| e.key() == key).ok()?;
        if occ.get().is_expired(now) {
            if self.keep_expired {
                return None;
            }
            let (e, _) = occ.remove();
            t.volatile -= 1;
            self.volatile -= 1;
            self.keys -= 1;
            self.stats.expired_keys += 1;
            if self.log_expired {
                self.expired_log.push(e.key().to_vec());
            }
            hand_over(&mut self.snap, slot, e.into_box());
            return None;
        }
        Some(&mut **occ.into_mut())
    }

    /// Most keys [`Db::prefetch`] warms per call (the rest of a longer batch is looked up cold).
    pub const PREFETCH_MAX: usize = 32;

    /// Starts loading what looking up `keys` will read — each key's slot table header, its
    /// table's control bytes and bucket, and the candidate entries — for all of them before
    /// any is used, so a pipelined batch pays its cache misses side by side instead of three
    /// dependent misses per command, one command after another (what Valkey 8's
    /// `memory_prefetch.c` does for a batch of commands). A hint only: nothing is changed,
    /// and a key that is absent or changed in between costs nothing but the loads.
    #[inline(never)] // one place in profiles
    pub fn prefetch(&self, keys: &[&[u8]]) {
        if self.slots.is_empty() {
            return;
        }
        let n = keys.len().min(Self::PREFETCH_MAX);
        let mut at = [(0usize, 0u64); Self::PREFETCH_MAX];
        // Stage 1: the slot headers (independent loads, all in flight together).
        for (i, k) in keys[..n].iter().enumerate() {
            let slot = key_slot(k) as usize;
            at[i] = (slot, self.hash(k));
            prefetch_line(&self.slots[slot]);
        }
        // Stage 2: probing reads the control bytes (no dependency between keys, so the CPU
        // overlaps them); each matching bucket, the 8-byte pointer, is prefetched, not read:
        // reading it here was a second miss that waited for the first, and took most of this
        // function's time in a profile of pipelined INCRs.
        for &(slot, h) in &at[..n] {
            let t = &self.slots[slot];
            if !t.table.is_empty() {
                t.table.find(h, |e| {
                    prefetch_line(e);
                    false
                });
            }
        }
        // Stage 3: control bytes and buckets are now at hand; each candidate's entry is
        // prefetched (its pointer read, the entry not).
        for &(slot, h) in &at[..n] {
            let t = &self.slots[slot];
            if !t.table.is_empty() {
                t.table.find(h, |e| {
                    prefetch(e);
                    false
                });
            }
        }
    }

    /// Removes the key if it has expired. Returns true when the key is (now) absent.
    fn reap_if_expired(&mut self, key: &[u8], now: u64) -> bool {
        self.lookup(key, now).is_none()
    }

    /// Looks a key up for a write: expired keys are removed first and read as absent.
    pub fn get_mut(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        if self.snap.is_some() {
            self.keep_for_snapshot(key);
        }
        self.lookup(key, now)
    }

    /// Before `key` changes: hands its current state to a running snapshot that has not
    /// written its slot yet (once per key; see [`super::cow`]).
    #[cold]
    fn keep_for_snapshot(&mut self, key: &[u8]) {
        let slot = key_slot(key) as usize;
        let Db {
            snap,
            slots,
            hasher,
            ..
        } = self;
        let Some(s) = snap.as_deref_mut() else {
            return;
        };
        if !s.wants(slot) || s.has(slot, key) {
            return;
        }
        let h = hasher.hash_one(key);
        let old = slots
            .get(slot)
            .and_then(|t| t.table.find(h, |e| e.key() == key))
            .map(|e| e.to_boxed());
        s.keep(slot, key, || old);
    }

    /// Looks a key up for a read: like [`Db::get_mut`] but counts a hit or miss and refreshes
    /// the key's access clock. One hash probe.
    pub fn read(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        let touch = self.touch;
        let slot = key_slot(key) as usize;
        let h = self.hash(key);
        let Db {
            slots,
            keys,
            volatile,
            stats,
            expired_log,
            log_expired,
            keep_expired,
            hits,
            misses,
            snap,
            ..
        } = self;
        let Some(t) = slots.get_mut(slot) else {
            *misses += 1;
            return None;
        };
        let Ok(occ) = t.table.find_entry(h, |e| e.key() == key) else {
            *misses += 1;
            return None;
        };
        if occ.get().is_expired(now) {
            *misses += 1;
            if !*keep_expired {
                let (e, _) = occ.remove();
                t.volatile -= 1;
                *volatile -= 1;
                *keys -= 1;
                stats.expired_keys += 1;
                if *log_expired {
                    expired_log.push(e.key().to_vec());
                }
                hand_over(snap, slot, e.into_box());
            }
            return None;
        }
        *hits += 1;
        let e = &mut **occ.into_mut();
        e.access = touch.on_read(e.access, now);
        Some(e)
    }

    /// Looks a key up without touching stats or clocks (OBJECT, DEBUG, TYPE-style peeks).
    pub fn peek(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        self.lookup(key, now).map(|e| &*e)
    }

    pub fn contains(&mut self, key: &[u8], now: u64) -> bool {
        self.lookup(key, now).is_some()
    }

    /// Stores `value` under `key`, replacing any previous value. Returns whether the key
    /// existed (a logically expired key did not). One hash probe.
    pub fn set(&mut self, key: &[u8], value: Value, ttl: Ttl, now: u64) -> bool {
        if self.snap.is_some() {
            self.keep_for_snapshot(key);
        }
        self.note_value(key, &value);
        self.ensure_slots();
        let slot = key_slot(key) as usize;
        let h = self.hash(key);
        let hasher = self.hasher;
        let touch = self.touch;
        let Db {
            slots,
            keys,
            volatile,
            stats,
            expired_log,
            log_expired,
            ..
        } = self;
        let t = &mut slots[slot];
        match t.table.find_entry(h, |e| e.key() == key) {
            Ok(mut occ) => {
                let p = occ.get_mut();
                let expired = p.is_expired(now);
                if expired {
                    stats.expired_keys += 1;
                    if *log_expired {
                        expired_log.push(key.to_vec());
                    }
                }
                let was_volatile = p.expire_at() != 0;
                let new_expire = match ttl {
                    Ttl::Persist => 0,
                    Ttl::Keep if expired => 0,
                    Ttl::Keep => p.expire_at(),
                    Ttl::At(at) => at,
                };
                if !p.set_expire_at(new_expire) {
                    p.replace_with(|b| b.with_expire_at(new_expire));
                }
                let e = &mut **p;
                e.value = value;
                e.access = if expired {
                    touch.on_create(now)
                } else {
                    touch.on_overwrite(e.access, now)
                };
                match (was_volatile, new_expire != 0) {
                    (false, true) => {
                        t.volatile += 1;
                        *volatile += 1;
                    }
                    (true, false) => {
                        t.volatile -= 1;
                        *volatile -= 1;
                    }
                    _ => {}
                }
                !expired
            }
            Err(_) => {
                let at = match ttl {
                    Ttl::At(at) => {
                        t.volatile += 1;
                        *volatile += 1;
                        at
                    }
                    _ => 0,
                };
                let e = Entry::boxed(key, value, at, touch.on_create(now));
                t.table
                    .insert_unique(h, EntryPtr::new(e), |e| hasher.hash_one(e.key()));
                *keys += 1;
                false
            }
        }
    }

    /// Inserts a whole entry (RESTORE, MOVE, COPY, RENAME), replacing any previous one.
    pub fn insert_entry(&mut self, entry: Box<Entry>, now: u64) -> Option<Box<Entry>> {
        if self.snap.is_some() {
            self.keep_for_snapshot(entry.key());
        }
        let old = self.remove(entry.key(), now);
        self.note_value(entry.key(), &entry.value);
        self.ensure_slots();
        let slot = key_slot(entry.key()) as usize;
        let h = self.hash(entry.key());
        let hasher = self.hasher;
        let t = &mut self.slots[slot];
        if entry.expire_at() != 0 {
            t.volatile += 1;
            self.volatile += 1;
        }
        t.table
            .insert_unique(h, EntryPtr::new(entry), |e| hasher.hash_one(e.key()));
        self.keys += 1;
        old
    }

    /// Removes a key. An expired key counts as expired, not as removed, and yields `None`.
    pub fn remove(&mut self, key: &[u8], now: u64) -> Option<Box<Entry>> {
        if self.reap_if_expired(key, now) {
            return None;
        }
        let slot = key_slot(key) as usize;
        let h = self.hash(key);
        self.remove_raw(key, slot, h)
    }

    fn remove_raw(&mut self, key: &[u8], slot: usize, h: u64) -> Option<Box<Entry>> {
        let t = self.slots.get_mut(slot)?;
        let occ = t.table.find_entry(h, |e| e.key() == key).ok()?;
        let (e, _) = occ.remove();
        let e = e.into_box();
        if e.expire_at() != 0 {
            t.volatile -= 1;
            self.volatile -= 1;
        }
        self.keys -= 1;
        if let Some(s) = self.snap.as_deref_mut() {
            s.keep(slot, key, || Some(e.to_boxed()));
        }
        if t.table.capacity() > 64 && t.table.len() * 8 < t.table.capacity() {
            let hasher = self.hasher;
            t.table.shrink_to_fit(|e| hasher.hash_one(e.key()));
        }
        Some(e)
    }

    /// Sets or clears a live key's expiry. Returns false when the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at: Option<u64>, now: u64) -> bool {
        if self.reap_if_expired(key, now) {
            return false;
        }
        if self.snap.is_some() {
            self.keep_for_snapshot(key);
        }
        let slot = key_slot(key) as usize;
        let h = self.hash(key);
        let t = &mut self.slots[slot];
        let Some(e) = t.table.find_mut(h, |e| e.key() == key) else {
            return false;
        };
        let new = at.unwrap_or(0);
        match (e.expire_at() != 0, new != 0) {
            (false, true) => {
                t.volatile += 1;
                self.volatile += 1;
            }
            (true, false) => {
                t.volatile -= 1;
                self.volatile -= 1;
            }
            _ => {}
        }
        if !e.set_expire_at(new) {
            e.replace_with(|b| b.with_expire_at(new));
        }
        true
    }

    /// Records fields of the hash at `key` that expired (see [`Db::expired_fields`]).
    pub fn note_expired_fields(&mut self, key: &[u8], fields: Vec<Vec<u8>>, emptied: bool) {
        if fields.is_empty() {
            return;
        }
        self.stats.expired_fields += fields.len() as u64;
        if self.log_expired {
            self.expired_fields.push((key.to_vec(), fields, emptied));
        }
    }

    /// Indexes `key` for active field expiry when `value` is a hash with field TTLs.
    fn note_value(&mut self, key: &[u8], value: &Value) {
        if matches!(value, Value::Hash(h) if h.has_ttls()) {
            self.hfe.add(key);
        }
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.hfe.clear();
        let old = std::mem::take(&mut self.slots);
        self.freeze_for_snapshot(old);
        self.keys = 0;
        self.volatile = 0;
        self.expire_cursor = 0;
    }

    /// Removes every key and returns the old tables so they can be dropped elsewhere
    /// (FLUSHALL ASYNC frees memory off the command path).
    pub fn take(&mut self) -> Db {
        let mut fresh = Db::new(self.hasher);
        fresh.stats = self.stats;
        fresh.hits = self.hits;
        fresh.misses = self.misses;
        fresh.log_expired = self.log_expired;
        std::mem::swap(self, &mut fresh);
        self.snap = fresh.snap.take();
        if self.snap.is_some() {
            let old = std::mem::take(&mut fresh.slots);
            self.freeze_for_snapshot(old);
        }
        fresh
    }

    /// The tables of a database emptied wholesale go to a running snapshot that still needs
    /// them, as they are (no copy); otherwise they are dropped.
    fn freeze_for_snapshot(&mut self, old: Vec<SlotTable>) {
        if let Some(s) = self.snap.as_deref_mut() {
            if s.frozen.is_none() {
                s.frozen = Some(old);
            }
        }
    }

    /// Starts a snapshot of this database (numbered `origin` in the file).
    pub fn begin_snapshot(&mut self, origin: usize) {
        self.snap = Some(Box::new(DbSnap::new(origin)));
    }

    /// The database number a running snapshot knows this database by.
    pub fn snapshot_origin(&self) -> Option<usize> {
        self.snap.as_ref().map(|s| s.origin)
    }

    /// Ends this database's part of a snapshot; the state is returned so it is dropped
    /// after the lock is released.
    pub fn end_snapshot(&mut self) -> Option<Box<DbSnap>> {
        self.snap.take()
    }

    /// Entries a running snapshot was handed (INFO).
    pub fn snapshot_copied(&self) -> u64 {
        self.snap.as_ref().map_or(0, |s| s.copied)
    }

    /// Hands the snapshot's image of the slots from `from` on to `emit`, slot by slot, until
    /// `emit` asks to stop at a slot's end; returns the next slot to write ([`SLOTS`] when
    /// done). The image of a slot is its table (or its frozen table) with the states saved
    /// for it laid over: the slot as it was when the snapshot began.
    pub fn snapshot_slots(&mut self, from: usize, mut emit: impl FnMut(&Entry) -> bool) -> usize {
        let Db { snap, slots, .. } = self;
        let Some(s) = snap.as_deref_mut() else {
            return SLOTS;
        };
        let mut slot = from;
        let mut go = true;
        while slot < SLOTS && go {
            let saved = s.saved.remove(&slot);
            let table = match &s.frozen {
                Some(f) => f.get(slot),
                None => slots.get(slot),
            };
            for e in table.into_iter().flat_map(|t| t.table.iter()) {
                if saved.as_ref().is_some_and(|m| m.contains_key(e.key())) {
                    continue;
                }
                go &= emit(e);
            }
            for e in saved.iter().flat_map(|m| m.values()).flatten() {
                go &= emit(e);
            }
            slot += 1;
            s.next_slot = slot;
        }
        slot
    }

    /// Number of keys in one slot (COUNTKEYSINSLOT).
    pub fn slot_len(&self, slot: u16) -> usize {
        self.slots.get(slot as usize).map_or(0, |t| t.table.len())
    }

    /// Up to `count` keys of one slot (GETKEYSINSLOT).
    pub fn slot_keys(&self, slot: u16, count: usize) -> Vec<Vec<u8>> {
        self.slots.get(slot as usize).map_or_else(Vec::new, |t| {
            t.table
                .iter()
                .take(count)
                .map(|e| e.key().to_vec())
                .collect()
        })
    }

    /// The entries of one slot (expired ones included; callers check).
    pub fn slot_entries(&self, slot: u16) -> impl Iterator<Item = &Entry> + '_ {
        self.slots
            .get(slot as usize)
            .into_iter()
            .flat_map(|t| t.table.iter())
            .map(|b| &**b)
    }

    /// A live entry, looked up without side effects (no lazy deletion, no stats): for
    /// readers that hold only a shared borrow (replication, snapshots).
    pub fn peek_ref(&self, key: &[u8], now: u64) -> Option<&Entry> {
        let slot = key_slot(key) as usize;
        let h = self.hash(key);
        self.slots
            .get(slot)?
            .table
            .find(h, |e| e.key() == key)
            .map(|b| &**b)
            .filter(|e| !e.is_expired(now))
    }

    /// An entry as stored, even when its TTL has passed (DEBUG DIGEST-VALUE, like Redis, looks
    /// at logically expired keys too).
    pub fn peek_stored(&self, key: &[u8]) -> Option<&Entry> {
        let slot = key_slot(key) as usize;
        let h = self.hash(key);
        self.slots
            .get(slot)?
            .table
            .find(h, |e| e.key() == key)
            .map(|b| &**b)
    }

    /// Every stored entry, expired or not, in no particular order (DEBUG DIGEST).
    pub fn iter_stored(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.slots.iter().flat_map(|t| t.table.iter()).map(|b| &**b)
    }

    /// Every live entry, in no particular order.
    pub fn iter(&self, now: u64) -> impl Iterator<Item = &Entry> + '_ {
        self.slots
            .iter()
            .flat_map(|t| t.table.iter())
            .map(|b| &**b)
            .filter(move |e| !e.is_expired(now))
    }

    /// One SCAN step; see the module doc for the cursor's meaning. `visit` receives each live
    /// entry in cursor order; the returned cursor is 0 when the iteration is complete.
    pub fn scan(&self, cursor: u64, count: usize, now: u64, visit: impl FnMut(&Entry)) -> u64 {
        self.scan_with(cursor, count, now, visit, |_| {})
    }

    /// SCAN as Redis runs it: like [`Db::scan`], and the expired keys the step passes over
    /// are deleted (lazy expiry), so they reach replicas as DELs.
    pub fn scan_reaping(
        &mut self,
        cursor: u64,
        count: usize,
        now: u64,
        visit: impl FnMut(&Entry),
    ) -> u64 {
        let mut stale = Vec::new();
        let next = self.scan_with(cursor, count, now, visit, |e| stale.push(e.key().to_vec()));
        for k in stale {
            self.reap_if_expired(&k, now);
        }
        next
    }

    fn scan_with(
        &self,
        cursor: u64,
        count: usize,
        now: u64,
        mut visit: impl FnMut(&Entry),
        mut expired: impl FnMut(&Entry),
    ) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let count = count.max(1);
        let mut slot = (cursor & (SLOTS as u64 - 1)) as usize;
        let mut threshold = cursor >> 14;
        let mut returned = 0usize;
        let mut batch: Vec<(u64, &Entry)> = Vec::new();
        while slot < SLOTS {
            let t = &self.slots[slot];
            if !t.table.is_empty() {
                batch.clear();
                batch.extend(t.table.iter().filter_map(|e| {
                    let p = hash_prefix(self.hash(e.key()));
                    (p >= threshold).then_some((p, &**e))
                }));
                batch.sort_unstable_by_key(|(p, _)| *p);
                let mut i = 0;
                while i < batch.len() {
                    let p = batch[i].0;
                    if returned >= count {
                        return (p << 14) | slot as u64;
                    }
                    while i < batch.len() && batch[i].0 == p {
                        let e = batch[i].1;
                        if !e.is_expired(now) {
                            visit(e);
                        } else {
                            expired(e);
                        }
                        returned += 1;
                        i += 1;
                    }
                }
            }
            slot += 1;
            threshold = 0;
            if returned >= count && slot < SLOTS {
                return slot as u64;
            }
        }
        0
    }

    /// Up to `count` entries for eviction sampling (Redis's `dictGetSomeKeys`): a run of
    /// neighbouring entries, continuing into the next slots. Cheap and random enough: which
    /// slot a key is in does not depend on how it is used. Expired entries are included.
    ///
    /// Over all keys, consecutive calls continue where the last one stopped and jump to a
    /// random position every [`Sampler::RUNS`] calls, so most calls read a slot table that
    /// the previous call left in the cache, and entries that it prefetched; a random
    /// position on every call costs four dependent cache misses (slot, control bytes,
    /// buckets, entry) per eviction, which was most of what an eviction cost.
    pub fn sample(
        &mut self,
        rng: &mut impl Rng,
        count: usize,
        volatile: bool,
        mut visit: impl FnMut(&Entry),
    ) {
        let total = if volatile { self.volatile } else { self.keys };
        if total == 0 || self.slots.is_empty() {
            return;
        }
        if !volatile {
            return self.sample_all(rng, count, visit);
        }
        let Some(start) = self.random_slot_where(rng, |t| t.volatile > 0) else {
            return;
        };
        let mut seen = 0;
        for i in 0..SLOTS {
            let t = &self.slots[(start + i) % SLOTS];
            if t.volatile == 0 {
                continue;
            }
            let n = t.table.len();
            let skip = if seen == 0 { rng.gen_range(0..n) } else { 0 };
            let matching = t
                .table
                .iter()
                .cycle()
                .skip(skip)
                .take(n)
                .filter(|e| e.expire_at() != 0);
            for e in matching {
                visit(e);
                seen += 1;
                if seen >= count {
                    return;
                }
            }
        }
    }

    /// A random slot that `has` accepts: a few random tries, then a scan from a random start
    /// (`None` only when no slot qualifies).
    fn random_slot_where(
        &self,
        rng: &mut impl Rng,
        has: impl Fn(&SlotTable) -> bool,
    ) -> Option<usize> {
        for _ in 0..32 {
            let s = rng.gen_range(0..SLOTS);
            if has(&self.slots[s]) {
                return Some(s);
            }
        }
        let start = rng.gen_range(0..SLOTS);
        (0..SLOTS)
            .map(|i| (start + i) % SLOTS)
            .find(|&s| has(&self.slots[s]))
    }

    /// [`Db::sample`] over all keys, from the sampler's cursor. The entries are gathered
    /// first (pointers only, from the table) and prefetched together, so their cache misses
    /// overlap; the next call's entries are prefetched before returning, to arrive while the
    /// command that asked for the eviction runs.
    fn sample_all(&mut self, rng: &mut impl Rng, count: usize, mut visit: impl FnMut(&Entry)) {
        const MAX: usize = 32;
        // No more than there are keys, so a walk always ends within one round.
        let count = count.min(MAX).min(self.keys);
        let Sampler {
            mut slot,
            mut offset,
            runs,
        } = self.sampler;
        if runs == 0 || slot >= SLOTS {
            let Some(s) = self.random_nonempty_slot(rng) else {
                return;
            };
            slot = s;
            let n = self.slots[slot].table.len();
            offset = if n == 0 { 0 } else { rng.gen_range(0..n) };
        }
        let mut picked: [Option<&EntryPtr>; MAX] = [None; MAX];
        let (seen, next) = walk(&self.slots, slot, offset, count, |i, e| {
            prefetch(e);
            picked[i] = Some(e);
        });
        for e in picked.iter().take(seen).flatten() {
            visit(e);
        }
        // Warm what the next call will read (a hint: the table may change in between).
        walk(&self.slots, next.0, next.1, count, |_, e| prefetch(e));
        self.sampler = Sampler {
            slot: next.0,
            offset: next.1,
            runs: runs.checked_sub(1).unwrap_or(Sampler::RUNS - 1),
        };
    }

    /// A uniformly chosen slot's random live key, or `None` when the database is empty.
    /// Expired keys met on the way are reclaimed.
    pub fn random_entry(&mut self, rng: &mut impl Rng, now: u64) -> Option<&Entry> {
        for _ in 0..100 {
            if self.keys == 0 {
                return None;
            }
            let slot = self.random_nonempty_slot(rng)?;
            let t = &self.slots[slot];
            let n = rng.gen_range(0..t.table.len());
            let (key, expired) = {
                let e = t.table.iter().nth(n)?;
                (e.key().to_vec(), e.is_expired(now))
            };
            if expired {
                self.reap_if_expired(&key, now);
                continue;
            }
            let h = self.hash(&key);
            return self.slots[slot]
                .table
                .find(h, |e| e.key() == key.as_slice())
                .map(|b| &**b);
        }
        None
    }

    fn random_nonempty_slot(&self, rng: &mut impl Rng) -> Option<usize> {
        if self.keys == 0 || self.slots.is_empty() {
            return None;
        }
        self.random_slot_where(rng, |t| !t.table.is_empty())
    }

    /// One bounded step of active expiry: visits slots that hold keys with a TTL, round robin,
    /// removing the expired ones, until `budget` entries were examined. Returns
    /// `(examined, expired)`.
    pub fn expire_step(&mut self, now: u64, budget: usize) -> (usize, usize) {
        if self.volatile == 0 || self.slots.is_empty() {
            return (0, 0);
        }
        let mut examined = 0;
        let mut expired = 0;
        let mut visited_slots = 0;
        while examined < budget && visited_slots < SLOTS && self.volatile > 0 {
            let slot = self.expire_cursor;
            self.expire_cursor = (self.expire_cursor + 1) % SLOTS;
            visited_slots += 1;
            let t = &mut self.slots[slot];
            if t.volatile == 0 {
                continue;
            }
            examined += t.table.len();
            let mut gone: Vec<Box<Entry>> = Vec::new();
            for e in t.table.extract_if(|e| e.is_expired(now)) {
                gone.push(e.into_box());
            }
            t.volatile -= gone.len() as u32;
            self.volatile -= gone.len();
            self.keys -= gone.len();
            expired += gone.len();
            for e in gone {
                self.note_expired(e.key());
                hand_over(&mut self.snap, slot, e);
            }
        }
        (examined, expired)
    }

    /// Keys that live in one slot, removed wholesale (CLUSTER FLUSHSLOTS and slot moves).
    pub fn clear_slot(&mut self, slot: u16) -> usize {
        let Some(t) = self.slots.get_mut(slot as usize) else {
            return 0;
        };
        let n = t.table.len();
        self.keys -= n;
        self.volatile -= t.volatile as usize;
        let old = std::mem::take(t);
        for e in old.table {
            hand_over(&mut self.snap, slot as usize, e.into_box());
        }
        n
    }
}

/// A removed entry goes to a running snapshot that has not written its slot or seen the key
/// change yet (it is the key's state when the snapshot began).
#[inline]
fn hand_over(snap: &mut Option<Box<DbSnap>>, slot: usize, e: Box<Entry>) {
    if let Some(s) = snap.as_deref_mut() {
        if s.wants(slot) && !s.has(slot, e.key()) {
            let key = e.key().to_vec();
            s.keep(slot, &key, || Some(e));
        }
    }
}

/// Asks the CPU to start loading an entry's cache lines without reading it (a read would
/// wait for the miss). An entry of 48 bytes may straddle two lines (jemalloc packs them at
/// 48-byte steps), so its last bytes' line is asked for too: the same line again for most.
#[inline(always)]
fn prefetch(e: &EntryPtr) {
    let p = e.addr();
    prefetch_addr(p);
    prefetch_addr(p.wrapping_add(40));
}

/// Asks the CPU to start loading the cache line that holds `*v`.
///
/// Inline assembly rather than `_mm_prefetch`: LLVM may treat its prefetch intrinsic as
/// free of effects and delete a loop whose only work is prefetching (it did, once
/// [`Db::prefetch`] was inlined into the connection loop); an `asm!` block without `pure`
/// is always kept.
#[inline(always)]
fn prefetch_line<T>(v: &T) {
    prefetch_addr((v as *const T).cast());
}

/// [`prefetch_line`] for an address that must not be dereferenced first.
#[inline(always)]
fn prefetch_addr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; it never faults, even on an invalid address, and
    // touches no register but its input.
    unsafe {
        std::arch::asm!(
            "prefetcht0 [{0}]",
            in(reg) p,
            options(nostack, preserves_flags, readonly)
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::small::SmallBytes;
    use std::collections::HashSet;

    fn s(v: &str) -> Value {
        Value::Str(SmallBytes::new(v.as_bytes()))
    }

    #[test]
    fn set_get_remove_and_counts() {
        let mut db = Db::new(KeyHasher::default());
        assert!(!db.set(b"a", s("1"), Ttl::Persist, 0));
        assert!(db.set(b"a", s("2"), Ttl::At(100), 0));
        assert_eq!(db.len(), 1);
        assert_eq!(db.volatile_len(), 1);
        assert_eq!(db.read(b"a", 50).map(|e| e.value.clone()), Some(s("2")));
        assert!(db.read(b"a", 100).is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(db.stats.expired_keys, 1);
    }

    /// The eviction sampler continues from its cursor: each call gives `count` distinct
    /// keys (or all of them in a tiny database), and calls keep reaching every key even
    /// while keys come and go between them.
    #[test]
    fn sampling_covers_the_keyspace_and_handles_tiny_databases() {
        let mut rng = rand::thread_rng();
        let mut db = Db::new(KeyHasher::default());
        db.sample(&mut rng, 5, false, |_| panic!("empty database sampled"));
        db.set(b"only", s("v"), Ttl::Persist, 0);
        let mut got = Vec::new();
        db.sample(&mut rng, 5, false, |e| got.push(e.key().to_vec()));
        assert_eq!(got, vec![b"only".to_vec()]);

        for i in 0..3000 {
            db.set(format!("k{i}").as_bytes(), s("v"), Ttl::Persist, 0);
        }
        // The sampler walks on from where it stopped for `Sampler::RUNS` calls, so misses come
        // in runs of up to 5 * RUNS keys: 4000 rounds (500 random starts) left one such run
        // uncovered often enough to fail about one run in five. 10000 rounds (1250 starts) make an
        // uncovered run about a 1-in-10^4 event.
        let mut seen = HashSet::new();
        for round in 0..10_000 {
            let mut batch = HashSet::new();
            db.sample(&mut rng, 5, false, |e| {
                batch.insert(e.key().to_vec());
            });
            assert_eq!(batch.len(), 5, "a sample repeats a key");
            seen.extend(batch);
            db.set(format!("n{round}").as_bytes(), s("v"), Ttl::Persist, 0);
            db.remove(format!("n{}", round.max(1) - 1).as_bytes(), 0);
        }
        let missed = (0..3000)
            .filter(|i| !seen.contains(format!("k{i}").as_bytes()))
            .count();
        assert!(missed < 30, "{missed} of 3000 keys never sampled");
    }

    #[test]
    fn scan_returns_every_key_present_throughout_despite_churn() {
        let mut db = Db::new(KeyHasher::default());
        for i in 0..5000 {
            db.set(format!("k{i}").as_bytes(), s("v"), Ttl::Persist, 0);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 10, 0, |e| {
                seen.insert(e.key().to_vec());
            });
            // Churn: add and delete other keys between calls, forcing table growth.
            for j in 0..20 {
                db.set(format!("n{round}-{j}").as_bytes(), s("v"), Ttl::Persist, 0);
            }
            db.remove(format!("n{}-0", round.max(1) - 1).as_bytes(), 0);
            round += 1;
            if cursor == 0 {
                break;
            }
            assert!(round < 100_000);
        }
        for i in 0..5000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }

    #[test]
    fn active_expiry_reclaims_in_bounded_steps() {
        let mut db = Db::new(KeyHasher::default());
        for i in 0..1000 {
            db.set(format!("k{i}").as_bytes(), s("v"), Ttl::At(10), 0);
        }
        db.set(b"keep", s("v"), Ttl::Persist, 0);
        let mut total = 0;
        for _ in 0..10_000 {
            let (_, n) = db.expire_step(20, 50);
            total += n;
            if db.volatile_len() == 0 {
                break;
            }
        }
        assert_eq!(total, 1000);
        assert_eq!(db.len(), 1);
    }

    /// Prefetching is a hint: on an empty database, on absent, present and long keys, and
    /// on more keys than one call covers, it changes nothing that lookups see.
    #[test]
    fn prefetch_changes_nothing() {
        let mut db = Db::new(KeyHasher::default());
        db.prefetch(&[b"absent", b""]);
        let keys: Vec<Vec<u8>> = (0..100)
            .map(|i| format!("key-{i}-{}", "x".repeat(i % 40)).into_bytes())
            .collect();
        for k in keys.iter().step_by(2) {
            db.set(k, s("v"), Ttl::Persist, 0);
        }
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        db.prefetch(&refs);
        assert_eq!((db.len(), db.hits, db.misses), (50, 0, 0));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(db.read(k, 0).is_some(), i.is_multiple_of(2));
        }
    }

    #[test]
    fn random_entry_finds_sparse_keys() {
        let mut db = Db::new(KeyHasher::default());
        db.set(b"only", s("v"), Ttl::Persist, 0);
        let mut rng = rand::thread_rng();
        assert_eq!(
            db.random_entry(&mut rng, 0).map(|e| e.key().to_vec()),
            Some(b"only".to_vec())
        );
    }
}
