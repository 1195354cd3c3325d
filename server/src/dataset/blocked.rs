//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, ...), kept in the keyspace so that
//! serving them happens under the same lock as the write that made a key ready: the element
//! goes to the longest-waiting client as part of that write, and a racing LPOP cannot steal
//! it.
//!
//! As in Redis, a write only marks its keys ready; the waiters are served once the whole
//! command (or MULTI/EXEC transaction) is done, and only if the key then still exists with
//! the type they wait for: `MULTI; LPUSH k a; DEL k; EXEC` wakes nobody, and a transaction
//! pushing three elements hands a waiter the last one pushed.

use crate::clients::ClientHandle;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::Notify;

/// Where a served client's reply is handed over.
#[derive(Default)]
pub struct Mailbox {
    pub reply: Mutex<Option<Bytes>>,
    pub wake: Notify,
}

/// One blocked client.
pub struct Waiter {
    pub id: u64,
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    /// The blocking command, re-run when one of its keys becomes ready.
    pub args: Vec<Bytes>,
    pub resp3: bool,
    pub handle: Arc<ClientHandle>,
    pub mailbox: Arc<Mailbox>,
}

#[derive(Default)]
pub struct Blocked {
    queues: HashMap<(usize, Vec<u8>), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
    /// Keys written since the last serving pass that have waiters, in the order written,
    /// and the same keys as a set (one MSET of many waited-on keys stays linear).
    ready: VecDeque<(usize, Vec<u8>)>,
    ready_set: HashSet<(usize, Vec<u8>)>,
}

impl Blocked {
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Registers a waiter at the back of each of its keys' queues.
    pub fn add(&mut self, w: Waiter) {
        for k in &w.keys {
            self.queues
                .entry((w.db, k.clone()))
                .or_default()
                .push_back(w.id);
        }
        self.waiters.insert(w.id, w);
    }

    /// Puts a waiter that could not be served back where it was (front of its queues).
    pub fn readd_front(&mut self, w: Waiter) {
        for k in &w.keys {
            self.queues
                .entry((w.db, k.clone()))
                .or_default()
                .push_front(w.id);
        }
        self.waiters.insert(w.id, w);
    }

    /// Unregisters a waiter (served, timed out, or disconnected).
    pub fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.keys {
            let qk = (w.db, k.clone());
            if let Some(q) = self.queues.get_mut(&qk) {
                q.retain(|x| *x != id);
                if q.is_empty() {
                    self.queues.remove(&qk);
                }
            }
        }
        Some(w)
    }

    /// A write touched `key`: remember it if somebody waits on it.
    pub fn mark_ready(&mut self, db: usize, key: &[u8]) {
        let k = (db, key.to_vec());
        if self.queues.contains_key(&k) && !self.ready_set.contains(&k) {
            self.ready_set.insert(k.clone());
            self.ready.push_back(k);
        }
    }

    /// Every key waited on in `db` counts as written (SWAPDB brought a whole new database
    /// under the waiters' feet); serving checks which of them exist.
    pub fn mark_db_ready(&mut self, db: usize) {
        let keys: Vec<Vec<u8>> = self
            .queues
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        for k in keys {
            self.mark_ready(db, &k);
        }
    }

    /// Whether some written key has waiters to serve.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    pub fn take_ready(&mut self) -> Option<(usize, Vec<u8>)> {
        let k = self.ready.pop_front()?;
        self.ready_set.remove(&k);
        Some(k)
    }

    /// Unblocks every waiter with an error reply (the node stopped being a primary).
    pub fn unblock_all(&mut self, error: &str) {
        let ids: Vec<u64> = self.waiters.keys().copied().collect();
        for id in ids {
            if let Some(w) = self.remove(id) {
                let mut out = crate::protocol::Out::new(w.resp3);
                out.error(error);
                *w.mailbox.reply.lock() = Some(out.buf.freeze());
                w.mailbox.wake.notify_one();
            }
        }
    }

    /// Ends one client's wait early (CLIENT UNBLOCK): it is answered as if it had timed out,
    /// or with `error`. False when that client is not blocked on keys.
    pub fn unblock(&mut self, id: u64, error: Option<&str>) -> bool {
        let Some(w) = self.remove(id) else {
            return false;
        };
        let mut out = crate::protocol::Out::new(w.resp3);
        match error {
            Some(e) => out.error(e),
            None => out.null_array(),
        }
        *w.mailbox.reply.lock() = Some(out.buf.freeze());
        w.mailbox.wake.notify_one();
        true
    }

    /// The command a waiter is blocked in.
    pub fn command_of(&self, id: u64) -> Option<&[Bytes]> {
        self.waiters.get(&id).map(|w| w.args.as_slice())
    }

    /// The ids waiting on a key, longest-waiting first.
    pub fn queue(&self, db: usize, key: &[u8]) -> Vec<u64> {
        self.queues
            .get(&(db, key.to_vec()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}
