//! Full sync without pausing the primary.
//!
//! The snapshot is produced slot by slot (database by database), a bounded chunk at a time
//! under the keyspace lock, while clients keep writing between chunks. A job remembers how far
//! it got (`cursor`: database, slot). A write made meanwhile reaches the syncing replica
//! according to where its keys are:
//! - every key in a slot not yet sent: nothing is sent — the slot's later snapshot chunk
//!   will carry the result;
//! - every key in slots already sent: the command itself is sent (an `Effect` record), in the
//!   order it was applied;
//! - keys on both sides: the current state (value or absence) of each already-sent key is
//!   sent, since replaying the command on the replica could read keys it does not have yet;
//! - keyless writes: FLUSHDB/FLUSHALL are sent as they are (correct on both sides); SWAPDB
//!   restarts the sync.
//!
//! At the end the replica is told the stream offset it now stands at; from there it receives
//! the live stream byte for byte.

use super::snapshot::Writer;
use crate::keyspace::slot::{key_slot, SLOTS};
use crate::keyspace::Db;
use bytes::Bytes;

pub struct SyncJob {
    writer: Writer,
    /// Next (database, slot) to serialize.
    db: usize,
    slot: usize,
    ndb: usize,
}

impl SyncJob {
    pub fn new(ndb: usize) -> Self {
        SyncJob {
            writer: Writer::new(),
            db: 0,
            slot: 0,
            ndb,
        }
    }

    pub fn writer_header(&mut self, out: &mut Vec<u8>) {
        self.writer.header(out);
    }

    /// A keyless command the replica applies before the keys (see
    /// [`super::feed`]'s `attach_syncing`).
    pub fn preamble(&mut self, out: &mut Vec<u8>, args: &[Bytes]) {
        let mut raw = Vec::new();
        super::effects::encode(args, &mut raw);
        self.writer.effect(out, 0, &raw);
    }

    fn sent(&self, db: usize, slot: usize) -> bool {
        db < self.db || (db == self.db && slot < self.slot)
    }

    /// Serializes slots until about `budget` bytes were produced. Returns true when every
    /// database has been sent.
    pub fn step(&mut self, dbs: &[Db], budget: usize, now: u64, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        while self.db < self.ndb.min(dbs.len()) {
            let db = &dbs[self.db];
            if db.is_empty() {
                self.db += 1;
                self.slot = 0;
                continue;
            }
            while self.slot < SLOTS {
                for e in db.slot_entries(self.slot as u16) {
                    if e.is_expired(now) {
                        continue;
                    }
                    let payload = crate::keyspace::serialize::encode(&e.value);
                    self.writer
                        .entry(out, self.db as u32, e.key(), e.expire_at(), &payload);
                }
                self.slot += 1;
                if out.len() - start >= budget {
                    return false;
                }
            }
            self.db += 1;
            self.slot = 0;
        }
        true
    }

    /// Ends the snapshot: the replica is now at `offset`, with `db` selected in the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>, offset: u64, db: u32) {
        self.db = self.ndb;
        self.writer.end(out, offset, db);
    }

    /// Routes one write effect to the syncing replica (see the module doc). Returns false
    /// when the sync must restart.
    pub fn effect(
        &mut self,
        dbs: &[Db],
        db: usize,
        args: &[Bytes],
        now: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let positions = super::effects::key_positions(args);
        let mut raw = Vec::new();
        if positions.is_empty() {
            let restarts = crate::admission::spec_of(args)
                .is_some_and(|s| s.is(crate::commands::table::facts::RESTARTS_SYNC));
            if restarts {
                return false;
            }
            super::effects::encode(args, &mut raw);
            self.writer.effect(out, db as u32, &raw);
            return true;
        }
        let keys: Vec<&Bytes> = positions.iter().filter_map(|&i| args.get(i)).collect();
        let sent: Vec<bool> = keys
            .iter()
            .map(|k| self.sent(db, key_slot(k) as usize))
            .collect();
        if sent.iter().all(|s| !s) {
            return true;
        }
        if sent.iter().all(|s| *s) {
            super::effects::encode(args, &mut raw);
            self.writer.effect(out, db as u32, &raw);
            return true;
        }
        let Some(d) = dbs.get(db) else { return true };
        for (k, s) in keys.iter().zip(sent) {
            if !s {
                continue;
            }
            match d.peek_ref(k, now) {
                Some(e) => {
                    let payload = crate::keyspace::serialize::encode(&e.value);
                    self.writer
                        .entry(out, db as u32, k, e.expire_at(), &payload);
                }
                None => self.writer.delete(out, db as u32, k),
            }
        }
        true
    }
}
