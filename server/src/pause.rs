//! CLIENT PAUSE: for a while, commands of ordinary clients wait instead of running — every
//! command (`ALL`), or only those that write or may replicate (`WRITE`). While writes are
//! paused the node also stops deleting expired keys (they read as missing but stay), so
//! the dataset and the replication stream hold still, as a failover needs.
//!
//! As in Redis, pauses have purposes that are lifted separately: CLIENT PAUSE / UNPAUSE,
//! and a standalone FAILOVER, which holds writes until this node is a replica (CLIENT
//! UNPAUSE does not end it). What is in force is the strictest of them.

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
    state: Mutex<Purposes>,
    /// Woken when a pause is lifted (paused clients also wake at the deadline by themselves).
    pub lifted: tokio::sync::Notify,
}

#[derive(Default)]
struct Purposes {
    /// CLIENT PAUSE: until when, and what.
    client: Option<(Instant, Mode)>,
    /// FAILOVER: writes are held, with no deadline, until the failover ends or aborts.
    failover: bool,
}

/// The end reported for a pause without a deadline (a failover's): far enough to never
/// be reached, near enough to add to an `Instant` anywhere.
const NO_END: Duration = Duration::from_secs(365 * 24 * 3600);

impl Pause {
    /// Starts or extends a pause: the later end and the stricter mode win, as in Redis.
    pub fn pause(&self, for_ms: u64, mode: Mode) {
        let until = Instant::now() + Duration::from_millis(for_ms.min(u32::MAX as u64 * 1000));
        let mut s = self.state.lock();
        self.active.store(true, Ordering::Release);
        s.client = Some(match s.client {
            Some((end, m)) if end > Instant::now() => (end.max(until), m.max(mode)),
            _ => (until, mode),
        });
    }

    /// CLIENT UNPAUSE: lifts the pause of CLIENT PAUSE (a failover's stays).
    pub fn unpause(&self) {
        let mut s = self.state.lock();
        s.client = None;
        self.active.store(s.failover, Ordering::Release);
        drop(s);
        self.lifted.notify_waiters();
    }

    /// A FAILOVER holds writes until [`Pause::end_failover`].
    pub fn pause_for_failover(&self) {
        let mut s = self.state.lock();
        s.failover = true;
        self.active.store(true, Ordering::Release);
    }

    /// The failover ended or was aborted: its pause is lifted (a CLIENT PAUSE stays).
    pub fn end_failover(&self) {
        let mut s = self.state.lock();
        if !s.failover {
            return;
        }
        s.failover = false;
        self.active.store(s.client.is_some(), Ordering::Release);
        drop(s);
        self.lifted.notify_waiters();
    }

    /// The pause in force now, with its end.
    pub fn current(&self) -> Option<(Instant, Mode)> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let mut s = self.state.lock();
        if s.client.is_some_and(|(end, _)| end <= Instant::now()) {
            s.client = None;
        }
        let failover = s.failover.then(|| (Instant::now() + NO_END, Mode::Write));
        match (s.client, failover) {
            (None, None) => {
                self.active.store(false, Ordering::Release);
                None
            }
            (Some(c), None) => Some(c),
            (None, Some(f)) => Some(f),
            (Some((ce, cm)), Some((fe, fm))) => Some((ce.max(fe), cm.max(fm))),
        }
    }

    /// Whether writes are held back now (expiry deletes nothing meanwhile).
    pub fn writes_paused(&self) -> bool {
        self.current().is_some()
    }

    /// Whether a command must wait now; `writes`: it (or, for EXEC, its transaction) writes
    /// or may replicate.
    pub fn holds(&self, writes: bool) -> bool {
        match self.current() {
            None => false,
            Some((_, Mode::All)) => true,
            Some((_, Mode::Write)) => writes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failover_pause_outlives_client_unpause_and_combines_with_client_pause() {
        let p = Pause::default();
        assert!(p.current().is_none());
        p.pause_for_failover();
        assert_eq!(p.current().map(|(_, m)| m), Some(Mode::Write));
        // The stricter mode of both purposes is in force.
        p.pause(60_000, Mode::All);
        assert_eq!(p.current().map(|(_, m)| m), Some(Mode::All));
        p.unpause();
        assert_eq!(p.current().map(|(_, m)| m), Some(Mode::Write));
        p.end_failover();
        assert!(p.current().is_none());
        assert!(!p.writes_paused());
        // Ending a failover leaves a CLIENT PAUSE alone.
        p.pause(60_000, Mode::Write);
        p.pause_for_failover();
        p.end_failover();
        assert_eq!(p.current().map(|(_, m)| m), Some(Mode::Write));
    }
}
