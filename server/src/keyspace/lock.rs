//! The keyspace lock. Writes made under it add to the replication stream; its guard hands
//! what they added to the replicas' links when it is released, so no code path that writes
//! under the lock can forget to, and a pipelined batch reaches each link in one hand-over.

use super::Keyspace;
use std::ops::{Deref, DerefMut};

pub struct KeyspaceLock(parking_lot::Mutex<Keyspace>);

/// Access to the keyspace; dropping it releases the lock after flushing the stream.
pub struct KeyspaceGuard<'a>(parking_lot::MutexGuard<'a, Keyspace>);

impl KeyspaceLock {
    pub fn new(ks: Keyspace) -> Self {
        KeyspaceLock(parking_lot::Mutex::new(ks))
    }

    pub fn lock(&self) -> KeyspaceGuard<'_> {
        KeyspaceGuard(self.0.lock())
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
