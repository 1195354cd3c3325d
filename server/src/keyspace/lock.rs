//! The keyspace lock. Writes made under it add to the replication stream; its guard hands
//! what they added to the replicas' links when it is released, so no code path that writes
//! under the lock can forget to, and a pipelined batch reaches each link in one hand-over.

use super::Keyspace;
use std::ops::{Deref, DerefMut};

pub struct KeyspaceLock(parking_lot::Mutex<Keyspace>);

/// How long a waiter may hold its serving thread: longer than a batch of ordinary commands
/// takes, so the common contended case costs nothing more.
const LONG_WAIT: std::time::Duration = std::time::Duration::from_micros(500);

/// Access to the keyspace; dropping it releases the lock after flushing the stream.
pub struct KeyspaceGuard<'a>(parking_lot::MutexGuard<'a, Keyspace>);

impl KeyspaceLock {
    pub fn new(ks: Keyspace) -> Self {
        KeyspaceLock(parking_lot::Mutex::new(ks))
    }

    /// Takes the lock. A wait past a brief spin (a slow command, a script, DEBUG SLEEP holds
    /// it) goes on off the serving thread's scheduler (`util::block_in_place`): the tasks
    /// queued behind the waiting one on that thread (a connection whose refusal needs no
    /// lock, the next command of a client with nothing to do with the holder) move to a free
    /// thread instead of waiting too.
    pub fn lock(&self) -> KeyspaceGuard<'_> {
        if let Some(g) = self.0.try_lock_for(LONG_WAIT) {
            return KeyspaceGuard(g);
        }
        KeyspaceGuard(crate::util::block_in_place(|| self.0.lock()))
    }
}

impl Deref for KeyspaceGuard<'_> {
    type Target = Keyspace;
    fn deref(&self) -> &Keyspace {
        &self.0
    }
}

impl DerefMut for KeyspaceGuard<'_> {
    fn deref_mut(&mut self) -> &mut Keyspace {
        &mut self.0
    }
}

impl Drop for KeyspaceGuard<'_> {
    fn drop(&mut self) {
        self.0.repl.flush();
    }
}
