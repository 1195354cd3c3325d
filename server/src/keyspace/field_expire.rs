//! Hash-field expiry (HEXPIRE and friends) at the keyspace level: the lazy reap a hash
//! command does before it looks at a hash, and the bounded step of the active cycle.
//!
//! Which hashes have field TTLs is known to the hash itself ([`HashValue::min_expiry`]); each
//! database also keeps [`FieldIndex`], the keys that may hold such a hash, so the active
//! cycle visits only those instead of the whole keyspace. The index is maintained loosely:
//! keys are added when a field TTL is set or a hash with TTLs is stored, and dropped when
//! the cycle finds the key gone or without TTLs (deleted, overwritten, moved away), so no
//! path that removes a key has to know about it.
//!
//! Fields that expire are logged in [`Db::expired_fields`]; the dispatcher turns the log
//! into replicated `HDEL`s and `hexpired` events, as it does expired keys into `DEL`s.

use super::{Db, Value};
use crate::keyspace::types::HashValue;

/// Keys that may hold a hash with field TTLs, in visiting order, with a cursor.
#[derive(Default)]
pub struct FieldIndex {
    keys: Vec<Box<[u8]>>,
    set: hashbrown::HashSet<Box<[u8]>>,
    cursor: usize,
}

impl FieldIndex {
    /// Remembers that `key` may hold field TTLs.
    pub fn add(&mut self, key: &[u8]) {
        if !self.set.contains(key) {
            self.set.insert(key.into());
            self.keys.push(key.into());
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn clear(&mut self) {
        *self = FieldIndex::default();
    }

    fn drop_at(&mut self, i: usize) {
        let k = self.keys.swap_remove(i);
        self.set.remove(&k);
    }
}

/// Pairs one hash's sweep may examine per visit of the active cycle.
const PAIRS_PER_VISIT: usize = 1024;

/// Whether `v` is a hash with a field due at `now`.
fn due(v: Option<&Value>, now: u64) -> bool {
    matches!(v, Some(Value::Hash(h)) if h.any_expired(now))
}

/// Removes the fields of the hash at `key` that expired at `now`, looking at no more than
/// `budget` pairs, deleting the key when it is left empty. Returns the number of fields
/// removed. Nothing happens on a database that keeps expired data (a replica, or writes
/// paused): there, readers get [`visible`] copies instead.
pub fn reap(db: &mut Db, key: &[u8], now: u64, budget: usize) -> usize {
    if db.keep_expired || db.replicating || !due(db.peek_ref(key, now).map(|e| &e.value), now) {
        return 0;
    }
    let mut gone = Vec::new();
    let empty = match db.get_mut(key, now).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => {
            h.expire_fields(now, budget, &mut gone);
            h.is_empty()
        }
        _ => return 0,
    };
    if empty {
        db.remove(key, now);
    }
    let n = gone.len();
    db.note_expired_fields(key, gone, empty);
    n
}

/// [`reap`] for the given fields only: the work a point read or write does stays
/// proportional to the fields it names. Returns the number of fields removed.
pub fn reap_fields<F: AsRef<[u8]>>(db: &mut Db, key: &[u8], fields: &[F], now: u64) -> usize {
    if fields.is_empty()
        || db.keep_expired
        || db.replicating
        || !due(db.peek_ref(key, now).map(|e| &e.value), now)
    {
        return 0;
    }
    let mut gone = Vec::new();
    let empty = match db.get_mut(key, now).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => {
            for f in fields {
                let f = f.as_ref();
                if matches!(h.expiry(f), Some(Some(at)) if at <= now) && h.remove(f) {
                    gone.push(f.to_vec());
                }
            }
            h.is_empty()
        }
        _ => return 0,
    };
    if empty {
        db.remove(key, now);
    }
    let n = gone.len();
    db.note_expired_fields(key, gone, empty);
    n
}

/// The hash a reader sees: the stored one, or on a database that keeps expired data, a copy
/// without the fields expired at `now`.
pub fn visible(h: &HashValue, keep_expired: bool, now: u64) -> std::borrow::Cow<'_, HashValue> {
    if keep_expired && h.any_expired(now) {
        std::borrow::Cow::Owned(h.without_expired(now))
    } else {
        std::borrow::Cow::Borrowed(h)
    }
}

/// One bounded step of active field expiry: visits up to `budget` indexed keys from where
/// the last step stopped. Returns `(visited, fields expired)`.
pub fn step(db: &mut Db, now: u64, budget: usize) -> (usize, usize) {
    let mut visited = 0;
    let mut expired = 0;
    while visited < budget && !db.hfe.is_empty() {
        if db.hfe.cursor >= db.hfe.keys.len() {
            db.hfe.cursor = 0;
            if visited > 0 {
                break;
            }
        }
        let i = db.hfe.cursor;
        let key = db.hfe.keys[i].clone();
        visited += 1;
        let stale = !matches!(
            db.peek_ref(&key, now).map(|e| &e.value),
            Some(Value::Hash(h)) if h.has_ttls()
        );
        if stale {
            db.hfe.drop_at(i);
            continue;
        }
        expired += reap(db, &key, now, PAIRS_PER_VISIT);
        // Reaping may have emptied the hash or taken its last TTL: drop it now.
        let gone = !matches!(
            db.peek_ref(&key, now).map(|e| &e.value),
            Some(Value::Hash(h)) if h.has_ttls()
        );
        if gone {
            db.hfe.drop_at(i);
        } else {
            db.hfe.cursor = i + 1;
        }
    }
    (visited, expired)
}
