//! The keyspace lock. Writes made under it add to the replication stream; its guard hands
//! what they added to the replicas' links when it is released, so no code path that writes
//! under the lock can forget to, and a pipelined batch reaches each link in one hand-over.
//!
//! The lock also counts what it costs ([`LockStats`], INFO stats `keyspace_lock_*`): how
//! often a serving thread found it taken and how long it waited, and (sampled) how long it
//! is held. These are the figures that say how much one lock holds the server back from
//! using more cores, before and after splitting it (issue #33).

use super::Keyspace;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub struct KeyspaceLock {
    inner: parking_lot::Mutex<Keyspace>,
    stats: LockStats,
}

/// How long a waiter may hold its serving thread: longer than a batch of ordinary commands
/// takes, so the common contended case costs nothing more.
const LONG_WAIT: std::time::Duration = std::time::Duration::from_micros(500);

/// One acquisition in this many has its hold time measured: two clock reads per
/// acquisition would cost a few percent of a pipeline-1 GET.
const HOLD_SAMPLE: u64 = 32;

/// Counters of the lock's use. Written only while the lock is held (so plain loads and
/// stores suffice, no locked instruction on the hot path); read by INFO at any time.
#[derive(Default)]
pub struct LockStats {
    acquisitions: AtomicU64,
    contended: AtomicU64,
    wait_ns: AtomicU64,
    hold_sampled_ns: AtomicU64,
    hold_samples: AtomicU64,
}

/// A reading of [`LockStats`].
#[derive(Clone, Copy, Debug, Default)]
pub struct LockFigures {
    pub acquisitions: u64,
    /// Acquisitions that found the lock held by another thread.
    pub contended: u64,
    /// Time spent waiting in those, in microseconds.
    pub wait_us: u64,
    /// Time the lock was held, in microseconds, estimated from every
    /// [`HOLD_SAMPLE`]th acquisition.
    pub hold_us: u64,
}

impl LockStats {
    fn bump(c: &AtomicU64, by: u64) {
        c.store(
            c.load(Ordering::Relaxed).wrapping_add(by),
            Ordering::Relaxed,
        );
    }

    pub fn read(&self) -> LockFigures {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let acquisitions = g(&self.acquisitions);
        let samples = g(&self.hold_samples);
        let hold_us = if samples == 0 {
            0
        } else {
            (g(&self.hold_sampled_ns) as u128 * acquisitions as u128 / samples as u128 / 1000)
                as u64
        };
        LockFigures {
            acquisitions,
            contended: g(&self.contended),
            wait_us: g(&self.wait_ns) / 1000,
            hold_us,
        }
    }
}

/// Access to the keyspace; dropping it releases the lock after flushing the stream.
pub struct KeyspaceGuard<'a> {
    guard: parking_lot::MutexGuard<'a, Keyspace>,
    stats: &'a LockStats,
    /// Set on sampled acquisitions: when the hold began.
    held_since: Option<Instant>,
}

impl KeyspaceLock {
    pub fn new(ks: Keyspace) -> Self {
        KeyspaceLock {
            inner: parking_lot::Mutex::new(ks),
            stats: LockStats::default(),
        }
    }

    /// The lock's counters so far.
    pub fn figures(&self) -> LockFigures {
        self.stats.read()
    }

    /// Takes the lock. A wait past a brief spin (a slow command, a script, DEBUG SLEEP holds
    /// it) goes on off the serving thread's scheduler (`util::block_in_place`): the tasks
    /// queued behind the waiting one on that thread (a connection whose refusal needs no
    /// lock, the next command of a client with nothing to do with the holder) move to a free
    /// thread instead of waiting too.
    pub fn lock(&self) -> KeyspaceGuard<'_> {
        if let Some(g) = self.inner.try_lock() {
            return self.held(g, None);
        }
        let start = Instant::now();
        let g = match self.inner.try_lock_for(LONG_WAIT) {
            Some(g) => g,
            None => crate::util::block_in_place(|| self.inner.lock()),
        };
        self.held(g, Some(start))
    }

    fn held<'a>(
        &'a self,
        guard: parking_lot::MutexGuard<'a, Keyspace>,
        waited_since: Option<Instant>,
    ) -> KeyspaceGuard<'a> {
        let s = &self.stats;
        let n = s.acquisitions.load(Ordering::Relaxed).wrapping_add(1);
        s.acquisitions.store(n, Ordering::Relaxed);
        let now = if let Some(t) = waited_since {
            let now = Instant::now();
            LockStats::bump(&s.contended, 1);
            LockStats::bump(&s.wait_ns, now.duration_since(t).as_nanos() as u64);
            Some(now)
        } else {
            None
        };
        let held_since = if n.is_multiple_of(HOLD_SAMPLE) {
            Some(now.unwrap_or_else(Instant::now))
        } else {
            None
        };
        KeyspaceGuard {
            guard,
            stats: s,
            held_since,
        }
    }
}

impl Deref for KeyspaceGuard<'_> {
    type Target = Keyspace;
    fn deref(&self) -> &Keyspace {
        &self.guard
    }
}

impl DerefMut for KeyspaceGuard<'_> {
    fn deref_mut(&mut self) -> &mut Keyspace {
        &mut self.guard
    }
}

impl Drop for KeyspaceGuard<'_> {
    fn drop(&mut self) {
        self.guard.repl.flush();
        if let Some(t) = self.held_since {
            LockStats::bump(&self.stats.hold_sampled_ns, t.elapsed().as_nanos() as u64);
            LockStats::bump(&self.stats.hold_samples, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_acquisitions_and_contention() {
        let lock = std::sync::Arc::new(KeyspaceLock::new(Keyspace::new(1)));
        for _ in 0..HOLD_SAMPLE * 2 {
            drop(lock.lock());
        }
        let f = lock.figures();
        assert_eq!(f.acquisitions, HOLD_SAMPLE * 2);
        assert_eq!(f.contended, 0);
        // A second thread that finds the lock held waits, and says so. It signals just
        // before it asks; the hold that follows is long enough that it asks while held even
        // on a loaded machine.
        let g = lock.lock();
        let l2 = lock.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            tx.send(()).unwrap();
            drop(l2.lock())
        });
        rx.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(g);
        t.join().unwrap();
        let f = lock.figures();
        assert_eq!(f.contended, 1, "{f:?}");
        assert!(f.wait_us >= 1_000, "{f:?}");
        assert_eq!(f.acquisitions, HOLD_SAMPLE * 2 + 2);
    }
}
