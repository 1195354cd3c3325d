//! CLIENT PAUSE: for a while, commands of ordinary clients wait instead of running — every
//! command (`ALL`), or only those that write or may replicate (`WRITE`). While writes are
//! paused the node also stops deleting expired keys (they read as missing but stay), so
//! the dataset and the replication stream hold still, as a failover needs.

use crate::commands::{flags, CommandSpec};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a pause holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Write,
    All,
}

#[derive(Default)]
pub struct Pause {
    /// Whether a pause may be in force: every command reads this, only a paused server
    /// takes the lock.
    active: AtomicBool,
    state: Mutex<Option<(Instant, Mode)>>,
    /// Woken by CLIENT UNPAUSE (paused clients also wake at the deadline by themselves).
    pub lifted: tokio::sync::Notify,
}

impl Pause {
    /// Starts or extends a pause: the later end and the stricter mode win, as in Redis.
    pub fn pause(&self, for_ms: u64, mode: Mode) {
        let until = Instant::now() + Duration::from_millis(for_ms.min(u32::MAX as u64 * 1000));
        let mut s = self.state.lock();
        self.active.store(true, Ordering::Release);
        *s = Some(match *s {
            Some((end, m)) if end > Instant::now() => (end.max(until), m.max(mode)),
            _ => (until, mode),
        });
    }

    pub fn unpause(&self) {
        *self.state.lock() = None;
        self.active.store(false, Ordering::Release);
        self.lifted.notify_waiters();
    }

    /// The pause in force now, with its end.
    pub fn current(&self) -> Option<(Instant, Mode)> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let mut s = self.state.lock();
        match *s {
            Some((end, _)) if end <= Instant::now() => {
                *s = None;
                self.active.store(false, Ordering::Release);
                None
            }
            other => other,
        }
    }

    /// Whether writes are held back now (expiry deletes nothing meanwhile).
    pub fn writes_paused(&self) -> bool {
        self.current().is_some()
    }

    /// Whether a command with these flags must wait now. `queued_writes`: for EXEC, whether
    /// the transaction holds a command that writes or may replicate.
    pub fn holds(&self, spec: &CommandSpec, queued_writes: bool) -> bool {
        match self.current() {
            None => false,
            Some((_, Mode::All)) => true,
            Some((_, Mode::Write)) => {
                spec.has(flags::WRITE) || spec.has(flags::MAY_REPLICATE) || queued_writes
            }
        }
    }
}
