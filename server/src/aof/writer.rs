//! Appending to the INCR file: what writes hand over under the keyspace lock reaches the
//! file before their replies are sent, and is made durable per `appendfsync`.
//!
//! The keyspace guard hands the bytes a batch of writes produced to [`Appender::hand_over`]
//! (a memcpy under a lock of its own). The connection that made them then calls
//! [`Appender::durable`] before writing its replies: it writes whatever is pending with
//! `write(2)` (whoever comes first writes everybody's bytes: a group write), and with
//! `appendfsync always` waits for the fsync thread to cover its bytes (one fsync for every
//! writer waiting: a group commit). With `everysec` the thread fsyncs once a second; with
//! `no` never. Nothing here runs under the keyspace lock except the hand-over and, once per
//! rewrite, switching to a new INCR file.

use parking_lot::{Condvar, Mutex};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    pub fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
    fn code(self) -> u8 {
        match self {
            Fsync::Always => 0,
            Fsync::EverySec => 1,
            Fsync::No => 2,
        }
    }
    fn from_code(c: u8) -> Fsync {
        match c {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// The INCR file being appended to.
struct Current {
    file: Arc<File>,
    /// Bytes taken from `pending` that a failed write left unwritten (retried first).
    unwritten: Vec<u8>,
}

pub struct Appender {
    /// Bytes handed over and not yet taken by a writer.
    pending: Mutex<Vec<u8>>,
    /// Bytes handed over in total (all INCR files of this appender's life).
    appended: AtomicU64,
    current: Mutex<Current>,
    /// Bytes written to the files in total.
    written: AtomicU64,
    /// Bytes known to be on disk.
    synced: AtomicU64,
    synced_tx: tokio::sync::watch::Sender<u64>,
    /// Files switched away from whose tail the fsync thread still owes a sync.
    retired: Mutex<Vec<Arc<File>>>,
    wake: (Mutex<bool>, Condvar),
    policy: AtomicU8,
    stop: AtomicBool,
    /// `aof_last_write_status`: the last write (or fsync) failed.
    pub write_failed: AtomicBool,
    /// The size of the AOF (BASE and INCR files): `aof_current_size`.
    pub size: AtomicU64,
    /// Fsyncs the everysec policy had to put off (`aof_delayed_fsync`): none here, the
    /// writes never wait for the fsync thread.
    pub delayed_fsync: AtomicU64,
}

impl Appender {
    /// Appends to `file` (opened for appending) and starts the fsync thread.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(file: File, policy: Fsync, size: u64) -> std::io::Result<Arc<Appender>> {
        let (synced_tx, _) = tokio::sync::watch::channel(0);
        let a = Arc::new(Appender {
            pending: Mutex::new(Vec::new()),
            appended: AtomicU64::new(0),
            current: Mutex::new(Current {
                file: Arc::new(file),
                unwritten: Vec::new(),
            }),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            synced_tx,
            retired: Mutex::new(Vec::new()),
            wake: (Mutex::new(false), Condvar::new()),
            policy: AtomicU8::new(policy.code()),
            stop: AtomicBool::new(false),
            write_failed: AtomicBool::new(false),
            size: AtomicU64::new(size),
            delayed_fsync: AtomicU64::new(0),
        });
        let me = a.clone();
        std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || me.fsync_loop())?;
        Ok(a)
    }

    pub fn set_policy(&self, p: Fsync) {
        self.policy.store(p.code(), Ordering::Relaxed);
    }

    pub fn policy(&self) -> Fsync {
        Fsync::from_code(self.policy.load(Ordering::Relaxed))
    }

    /// Takes the bytes a batch of writes produced (called under the keyspace lock).
    pub fn hand_over(&self, buf: &mut Vec<u8>) {
        let mut p = self.pending.lock();
        p.extend_from_slice(buf);
        self.appended.fetch_add(buf.len() as u64, Ordering::Release);
        drop(p);
        buf.clear();
    }

    /// Bytes handed over so far: a connection's writes are covered once this much is
    /// written (or synced).
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// `aof_buffer_length`: handed over, not yet written.
    pub fn buffered(&self) -> u64 {
        self.appended()
            .saturating_sub(self.written.load(Ordering::Acquire))
    }

    /// Writes everything pending to the current file (the caller's bytes and any other
    /// writer's that came before).
    pub fn write_pending(&self) {
        let mut cur = self.current.lock();
        self.write_locked(&mut cur);
    }

    fn write_locked(&self, cur: &mut Current) {
        let (taken, upto) = {
            let mut p = self.pending.lock();
            let upto = self.appended.load(Ordering::Acquire);
            (std::mem::take(&mut *p), upto)
        };
        if taken.is_empty() && cur.unwritten.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut cur.unwritten);
        if data.is_empty() {
            data = taken;
        } else {
            data.extend_from_slice(&taken);
        }
        match (&*cur.file).write_all(&data) {
            Ok(()) => {
                self.size.fetch_add(data.len() as u64, Ordering::Relaxed);
                self.written.store(upto, Ordering::Release);
                if self.write_failed.swap(false, Ordering::Relaxed) {
                    tracing::warn!("AOF write error looks solved, Redis can write again.");
                }
            }
            Err(e) => {
                // The bytes stay and are written first next time (a short write may have
                // put part of them in the file: Redis truncates that away; the retry here
                // appends after it, which loading reports as a bad format, so truncate too).
                if !self.write_failed.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "Error writing to the AOF file: {}",
                        crate::util::io_error_text(&e)
                    );
                }
                cur.unwritten = data;
            }
        }
    }

    /// Before replies are sent: the bytes handed over up to `target` are written, and with
    /// `appendfsync always` on disk.
    pub async fn durable(&self, target: u64) {
        if self.written.load(Ordering::Acquire) < target {
            self.write_pending();
        }
        if self.policy() != Fsync::Always
            || self.synced.load(Ordering::Acquire) >= target
            || self.write_failed.load(Ordering::Relaxed)
        {
            return;
        }
        let mut rx = self.synced_tx.subscribe();
        self.kick();
        let _ = rx.wait_for(|&s| s >= target).await;
    }

    fn kick(&self) {
        let (m, c) = &self.wake;
        *m.lock() = true;
        c.notify_one();
    }

    /// Switches to a new INCR file (a rewrite starts): what was handed over so far goes to
    /// the old file, which the fsync thread syncs; everything after goes to `file`.
    pub fn switch_to(&self, file: File) {
        let mut cur = self.current.lock();
        self.write_locked(&mut cur);
        let old = std::mem::replace(&mut cur.file, Arc::new(file));
        if !cur.unwritten.is_empty() {
            // A failing disk: the bytes the old file could not take go to the new one.
            tracing::warn!("AOF: unwritten bytes moved to the new INCR file");
        }
        self.retired.lock().push(old);
        drop(cur);
        self.kick();
    }

    /// Writes and fsyncs everything (shutdown, turning AOF off, DEBUG LOADAOF).
    pub fn flush_and_sync(&self) {
        let mut cur = self.current.lock();
        self.write_locked(&mut cur);
        let upto = self.written.load(Ordering::Acquire);
        let file = cur.file.clone();
        drop(cur);
        self.sync_retired();
        if let Err(e) = file.sync_data() {
            tracing::warn!("Error syncing the AOF: {}", crate::util::io_error_text(&e));
            return;
        }
        self.publish_synced(upto);
    }

    /// Stops the fsync thread (after a last flush by the caller).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.kick();
    }

    fn sync_retired(&self) {
        let old: Vec<_> = std::mem::take(&mut *self.retired.lock());
        for f in old {
            if let Err(e) = f.sync_data() {
                tracing::warn!(
                    "Error syncing a previous AOF file: {}",
                    crate::util::io_error_text(&e)
                );
            }
        }
    }

    fn publish_synced(&self, upto: u64) {
        if self.synced.fetch_max(upto, Ordering::AcqRel) < upto {
            self.synced_tx.send_if_modified(|v| {
                let raised = *v < upto;
                *v = (*v).max(upto);
                raised
            });
        }
    }

    /// The fsync thread: on demand with `always`, once a second with `everysec`.
    fn fsync_loop(self: Arc<Self>) {
        let mut last = Instant::now();
        loop {
            {
                let (m, c) = &self.wake;
                let mut woken = m.lock();
                if !*woken {
                    c.wait_for(&mut woken, Duration::from_millis(100));
                }
                *woken = false;
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            if self.buffered() > 0 {
                // Effects no client waits for (active expiry, eviction) reach the file too.
                self.write_pending();
            }
            let policy = self.policy();
            let due = match policy {
                Fsync::Always => true,
                Fsync::EverySec => last.elapsed() >= Duration::from_secs(1),
                Fsync::No => false,
            };
            if !self.retired.lock().is_empty() && policy != Fsync::No {
                self.sync_retired();
            }
            if !due {
                continue;
            }
            let (file, upto) = {
                let cur = self.current.lock();
                (cur.file.clone(), self.written.load(Ordering::Acquire))
            };
            if upto <= self.synced.load(Ordering::Acquire) {
                last = Instant::now();
                continue;
            }
            match file.sync_data() {
                Ok(()) => self.publish_synced(upto),
                Err(e) => {
                    self.write_failed.store(true, Ordering::Relaxed);
                    tracing::warn!(
                        "Error syncing the AOF file: {}",
                        crate::util::io_error_text(&e)
                    );
                }
            }
            last = Instant::now();
        }
    }
}

/// Opens an INCR file for appending (created if missing).
///
/// # Errors
/// The file could not be opened.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}
