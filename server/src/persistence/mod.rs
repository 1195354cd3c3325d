//! Snapshots: SAVE, BGSAVE, the `save` points, SHUTDOWN SAVE, DEBUG RELOAD and loading the
//! snapshot at start, all in Redis's RDB format ([`crate::rdb::file`]).
//!
//! [`save`] writes a foreground snapshot (the keyspace lock held, as Redis's SAVE blocks);
//! [`bgsave`] writes one from a thread while clients keep writing, point-in-time through the
//! keyspace's copy-before-write ([`crate::keyspace::cow`]); [`load`] reads one back. Files
//! are written to a temporary name in `dir`, fsynced, then renamed over `dbfilename`, so a
//! crash mid-save leaves the previous snapshot whole.

pub mod load;
pub mod save;

pub use load::{load_at_start, reload};
pub use save::{bgsave, save, BgsaveError};

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Snapshot bookkeeping: what INFO persistence, LASTSAVE and the `save` points read.
#[derive(Default)]
pub struct Persistence {
    /// A background save is running (one at a time).
    pub running: AtomicBool,
    /// The last background save failed: read by every write's admission under save points
    /// (MISCONF), so it is an atomic rather than a field behind `inner`'s lock.
    last_failed: AtomicBool,
    inner: Mutex<State>,
    /// `dirty` when the last successful save began: changes since are
    /// `rdb_changes_since_last_save`.
    pub dirty_at_save: AtomicU64,
}

#[derive(Default)]
struct State {
    started: Option<Instant>,
    /// BGSAVE SCHEDULE while one ran: start another when it ends.
    scheduled: bool,
    last_bgsave_secs: Option<u64>,
    /// Unix seconds of the last background save attempt (a failed one is retried after 5 s).
    last_try: u64,
    saves: u64,
    loaded_keys: u64,
    load_expired: u64,
    /// Entries handed to the snapshot by writers, for the last background save.
    last_copied: u64,
    /// The replication offset the snapshot loaded at start was taken at (its `repl-offset`).
    loaded_offset: Option<u64>,
}

/// The INFO persistence figures.
pub struct Figures {
    pub in_progress: bool,
    pub last_ok: bool,
    pub last_bgsave_secs: i64,
    pub current_secs: i64,
    pub saves: u64,
    pub loaded_keys: u64,
    pub load_expired: u64,
    pub last_copied: u64,
}

impl Persistence {
    pub fn figures(&self) -> Figures {
        let s = self.inner.lock();
        Figures {
            in_progress: self.running.load(Ordering::Relaxed),
            last_ok: !self.last_failed.load(Ordering::Relaxed),
            last_bgsave_secs: s.last_bgsave_secs.map_or(-1, |v| v as i64),
            current_secs: s.started.map_or(-1, |t| t.elapsed().as_secs() as i64),
            saves: s.saves,
            loaded_keys: s.loaded_keys,
            load_expired: s.load_expired,
            last_copied: s.last_copied,
        }
    }

    /// Whether writes are refused (`MISCONF`): as Redis's `writeCommandsDeniedByDiskError`,
    /// when the last background save failed, save points are set and
    /// `stop-writes-on-bgsave-error` is on.
    pub fn refuses_writes(&self, s: &crate::config::Settings) -> bool {
        s.stop_writes_on_bgsave_error
            && !s.save_rules.is_empty()
            && self.last_failed.load(Ordering::Relaxed)
    }

    /// Asks for a BGSAVE once the running one ends (BGSAVE SCHEDULE).
    pub fn schedule(&self) {
        self.inner.lock().scheduled = true;
    }

    fn started(&self, now_unix: u64) {
        let mut s = self.inner.lock();
        s.started = Some(Instant::now());
        s.last_try = now_unix;
    }

    fn finished(&self, ok: bool, copied: u64) {
        let mut s = self.inner.lock();
        s.last_bgsave_secs = s.started.take().map(|t| t.elapsed().as_secs());
        self.last_failed.store(!ok, Ordering::Relaxed);
        s.last_copied = copied;
        if ok {
            s.saves += 1;
        }
    }

    /// A foreground save's outcome: a success also clears a background failure (as Redis's
    /// `rdbSave` sets `lastbgsave_status` to ok).
    fn saved(&self, ok: bool) {
        let mut s = self.inner.lock();
        if ok {
            s.saves += 1;
            self.last_failed.store(false, Ordering::Relaxed);
        }
    }

    fn loaded(&self, keys: u64, expired: u64, offset: Option<u64>) {
        let mut s = self.inner.lock();
        s.loaded_keys = keys;
        s.load_expired = expired;
        s.loaded_offset = offset;
    }

    /// The replication offset of the snapshot loaded at start (`None`: none was loaded):
    /// a restarted cluster primary compares it with its replicas' ([`crate::cluster`]).
    pub fn loaded_offset(&self) -> Option<u64> {
        self.inner.lock().loaded_offset
    }

    /// Whether a background save is due (`serverCron`): one was scheduled, or a save point
    /// is met: `changes` writes at least, and `secs` since the last save (a failed attempt
    /// is retried no sooner than 5 s after it).
    pub fn due(&self, rules: &[(u64, u64)], dirty: u64, last_save: u64, now: u64) -> bool {
        if self.running.load(Ordering::Relaxed) {
            return false;
        }
        let mut s = self.inner.lock();
        if std::mem::take(&mut s.scheduled) {
            return true;
        }
        let changes = dirty.saturating_sub(self.dirty_at_save.load(Ordering::Relaxed));
        let retry_ok =
            !self.last_failed.load(Ordering::Relaxed) || now.saturating_sub(s.last_try) > 5;
        retry_ok
            && rules
                .iter()
                .any(|&(secs, n)| changes >= n && n > 0 && now.saturating_sub(last_save) >= secs)
    }
}

/// The wall clock in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The save points, checked every 100 ms (as often as Redis's `serverCron` at hz 10).
pub async fn cron(shared: std::sync::Arc<crate::state::Shared>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    let mut stop = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let rules = shared.settings().save_rules.clone();
        let dirty = shared.keyspace.lock().dirty;
        let last = shared.last_save_unix.load(Ordering::Relaxed);
        crate::aof::cron(&shared, unix_now());
        if shared.persistence.due(&rules, dirty, last, unix_now()) {
            tracing::info!(
                "changes since the last save met a save point: saving in the background"
            );
            if let Err(e) = bgsave(&shared) {
                tracing::warn!("background save not started: {}", e.message());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_points_as_redis_checks_them() {
        let p = Persistence::default();
        let rules = [(900, 1), (60, 1000)];
        assert!(!p.due(&rules, 0, 0, 10_000), "no changes");
        assert!(p.due(&rules, 1, 0, 900), "one change, 900 s");
        assert!(!p.due(&rules, 1, 100, 900), "one change, 800 s");
        assert!(p.due(&rules, 1000, 100, 160), "1000 changes, 60 s");
        assert!(!p.due(&[], 1000, 0, 10_000), "no save points");
        p.dirty_at_save.store(1000, Ordering::Relaxed);
        assert!(
            !p.due(&rules, 1000, 0, 10_000),
            "nothing since the last save"
        );
        p.schedule();
        assert!(p.due(&[], 0, 0, 0), "scheduled");
        assert!(!p.due(&[], 0, 0, 0), "once");
        p.started(100);
        p.finished(false, 0);
        assert!(!p.due(&rules, 5000, 0, 103), "failed: retried after 5 s");
        assert!(p.due(&rules, 5000, 0, 106));
    }
}
