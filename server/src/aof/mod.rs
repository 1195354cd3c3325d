//! Append-only file persistence, as Redis 7.0 does it: a directory (`appenddirname`) with
//! a manifest ([`manifest`]) listing a BASE file (a snapshot: RDB with
//! `aof-use-rdb-preamble yes`, commands otherwise) and INCR files, where every write's
//! effect is appended as a RESP command.
//!
//! - The effects come from the replication feed (`Feed::aof`, a [`Tap`]): the one ordered
//!   stream of effects, so the AOF says exactly what replicas are told, with its own SELECTs.
//! - [`writer`] gets them to the file before replies are sent, and to disk per `appendfsync`.
//! - [`rewrite`] BGREWRITEAOF: a new BASE from a point-in-time snapshot (the BGSAVE
//!   machinery), a new INCR file from that point, the manifest swapped, old files removed.
//! - [`load`] reading the files back, at start (the AOF wins over the RDB file) and for
//!   DEBUG LOADAOF; [`stream`] the command reader it uses.

pub mod load;
pub mod manifest;
pub mod rewrite;
pub mod stream;
pub mod writer;

use crate::dataset::Keyspace;
use crate::state::Shared;
use bytes::Bytes;
use manifest::Manifest;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use writer::{Appender, Fsync};

/// The AOF's copy of the effects stream, kept in the replication feed (under the keyspace
/// lock) and handed to the [`Appender`] when the lock is released.
pub struct Tap {
    buf: Vec<u8>,
    last_db: Option<usize>,
    appender: Arc<Appender>,
}

impl Tap {
    fn new(appender: Arc<Appender>) -> Self {
        Tap {
            buf: Vec::new(),
            last_db: None,
            appender,
        }
    }

    /// One effect made in database `db` (a SELECT first when the database changes).
    pub fn append(&mut self, db: usize, args: &[Bytes]) {
        if self.last_db != Some(db) {
            crate::replication::effects::encode(
                &[Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())],
                &mut self.buf,
            );
            self.last_db = Some(db);
        }
        crate::replication::effects::encode(args, &mut self.buf);
    }

    /// Hands what was appended under the lock to the writer.
    pub fn hand_over(&mut self) {
        if !self.buf.is_empty() {
            self.appender.hand_over(&mut self.buf);
        }
    }
}

/// The AOF's state: INFO persistence's `aof_*` figures, the manifest, the running rewrite.
#[derive(Default)]
pub struct Aof {
    /// A connection's replies wait for the AOF (read without locks on every flush).
    appending: AtomicBool,
    appender: Mutex<Option<Arc<Appender>>>,
    /// A rewrite runs (`aof_rewrite_in_progress`).
    pub rewriting: AtomicBool,
    /// Bumped when AOF is turned off: a rewrite started before is discarded when it ends.
    generation: AtomicU64,
    /// A replica's full sync stopped AOF: it starts again when the sync is done.
    pub restart_pending: AtomicBool,
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    manifest: Manifest,
    /// `appendonly yes` was set at runtime: AOF is on once its first rewrite has written a
    /// BASE (Redis's `AOF_WAIT_REWRITE`).
    wait_rewrite: bool,
    /// AOF is on (`aof_enabled`, together with `wait_rewrite`).
    on: bool,
    scheduled: bool,
    started: Option<Instant>,
    last_rewrite_secs: Option<u64>,
    rewrites: u64,
    consecutive_failures: u64,
    last_failed: bool,
    last_cow: u64,
    /// The AOF's size after the last rewrite or load (`aof_base_size`).
    base_size: u64,
    /// Unix seconds of the last failed rewrite (retried no sooner than 5 s after, as
    /// Redis's `aofRewriteLimited` spaces retries).
    last_fail_unix: u64,
}

/// INFO persistence's AOF lines.
pub struct Figures {
    pub enabled: bool,
    pub rewriting: bool,
    pub scheduled: bool,
    pub last_rewrite_secs: i64,
    pub current_rewrite_secs: i64,
    pub last_ok: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_write_ok: bool,
    pub last_cow: u64,
    /// While on: (current size, base size, buffer length, delayed fsyncs).
    pub sizes: Option<(u64, u64, u64, u64)>,
}

/// Why BGREWRITEAOF did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum RewriteError {
    InProgress,
    /// Another background job (BGSAVE) runs: the rewrite is scheduled.
    Busy,
    Failed,
}

impl Aof {
    pub fn figures(&self) -> Figures {
        let s = self.inner.lock();
        let app = self.appender.lock().clone();
        Figures {
            enabled: s.on || s.wait_rewrite,
            rewriting: self.rewriting.load(Ordering::Relaxed),
            scheduled: s.scheduled,
            last_rewrite_secs: s.last_rewrite_secs.map_or(-1, |v| v as i64),
            current_rewrite_secs: s.started.map_or(-1, |t| t.elapsed().as_secs() as i64),
            last_ok: !s.last_failed,
            rewrites: s.rewrites,
            consecutive_failures: s.consecutive_failures,
            last_write_ok: app
                .as_ref()
                .is_none_or(|a| !a.write_failed.load(Ordering::Relaxed)),
            last_cow: s.last_cow,
            sizes: app.filter(|_| s.on).map(|a| {
                (
                    a.size.load(Ordering::Relaxed),
                    s.base_size,
                    a.buffered(),
                    a.delayed_fsync.load(Ordering::Relaxed),
                )
            }),
        }
    }

    /// Whether AOF is on (or waiting for the rewrite that turns it on).
    pub fn enabled(&self) -> bool {
        let s = self.inner.lock();
        s.on || s.wait_rewrite
    }

    /// Asks for a rewrite once the running background job ends.
    pub fn schedule(&self) {
        let mut s = self.inner.lock();
        s.scheduled = true;
        s.consecutive_failures = 0;
    }

    /// `appendfsync` changed.
    pub fn set_policy(&self, p: Fsync) {
        if let Some(a) = self.appender.lock().as_ref() {
            a.set_policy(p);
        }
    }
}

/// The AOF directory (relative to `dir`, the working directory) and the files' prefix.
pub fn paths(shared: &Shared) -> (PathBuf, String) {
    let s = shared.settings();
    (
        PathBuf::from(s.appenddirname.clone()),
        s.appendfilename.clone(),
    )
}

fn manifest_path(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}.manifest"))
}

/// Reads the manifest, `None` when there is no AOF directory or manifest.
///
/// # Errors
/// An unreadable or invalid manifest, in Redis's words.
pub fn read_manifest(dir: &Path, prefix: &str) -> Result<Option<Manifest>, String> {
    let path = manifest_path(dir, prefix);
    if !dir.is_dir() || !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read(&path).map_err(|e| {
        format!(
            "Fatal error: can't open the AOF manifest file {} for reading: {}",
            path.display(),
            crate::util::io_error_text(&e)
        )
    })?;
    Manifest::parse(&text)
        .map(Some)
        .map_err(|e| format!("*** FATAL AOF MANIFEST FILE ERROR *** {e}"))
}

/// Writes the manifest through a temporary file renamed over it; `sync` also makes it
/// durable (not done under the keyspace lock: the rename alone survives a process crash,
/// the caller syncs right after).
fn write_manifest(dir: &Path, prefix: &str, m: &Manifest, sync: bool) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{prefix}.manifest"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(m.render().as_bytes())?;
        if sync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, manifest_path(dir, prefix))?;
    if sync {
        sync_dir(dir);
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// The size of every file the manifest loads.
fn total_size(dir: &Path, m: &Manifest) -> u64 {
    m.load_order().map(|f| file_size(&dir.join(&f.name))).sum()
}

/// Removes the HISTORY files and drops them from the manifest (`aofDelHistoryFiles`).
fn delete_history(shared: &Shared, dir: &Path, prefix: &str, m: &mut Manifest) {
    if m.history.is_empty() || shared.settings().aof_disable_auto_gc {
        return;
    }
    let old = std::mem::take(&mut m.history);
    if let Err(e) = write_manifest(dir, prefix, m, true) {
        tracing::warn!(
            "Can't persist the AOF manifest: {}",
            crate::util::io_error_text(&e)
        );
        m.history = old;
        return;
    }
    for f in old {
        tracing::info!("Removing the history file {} in the background", f.name);
        let _ = std::fs::remove_file(dir.join(&f.name));
    }
}

/// At start, before serving, with `appendonly yes`: loads the AOF if there is one. Returns
/// whether one was found (the RDB file is not read then, as in Redis).
///
/// # Errors
/// A bad manifest or file: the server stops, as Redis exits.
pub fn load_at_start(shared: &Shared) -> Result<bool, String> {
    let (dir, prefix) = paths(shared);
    let Some(m) = read_manifest(&dir, &prefix)? else {
        return upgrade_old_style(shared, &dir, &prefix);
    };
    let mut ks = shared.keyspace.lock();
    let found = load::load_files(shared, &mut ks, &dir, &m)?;
    drop(ks);
    let mut s = shared.aof.inner.lock();
    s.base_size = total_size(&dir, &m);
    s.manifest = m;
    Ok(found)
}

/// DEBUG LOADAOF: what was appended is written, the dataset emptied, and the files the
/// manifest lists loaded back (`dirty` is left as it was: nothing of the load is
/// propagated).
///
/// # Errors
/// The load failed (the dataset holds what loaded before the error).
pub fn debug_loadaof(shared: &Shared, ks: &mut Keyspace) -> Result<(), String> {
    ks.repl.flush();
    let app = shared.aof.appender.lock().clone();
    if let Some(app) = app {
        // Written, so that it is read back; no fsync is needed for that.
        app.write_pending();
    }
    crate::persistence::load::empty_data(shared, ks);
    let (dir, prefix) = paths(shared);
    let dirty = ks.dirty;
    let m = read_manifest(&dir, &prefix)?;
    if let Some(m) = m {
        load::load_files(shared, ks, &dir, &m)?;
    }
    ks.dirty = dirty;
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

/// A single-file AOF from before Redis 7.0 (`dir`/`appendfilename`) and no manifest: loaded,
/// then moved into the AOF directory as its BASE (`aofUpgradePrepare`), so that a Redis 6
/// user's data comes along.
fn upgrade_old_style(shared: &Shared, dir: &Path, prefix: &str) -> Result<bool, String> {
    let old = PathBuf::from(prefix);
    if !old.is_file() {
        return Ok(false);
    }
    tracing::info!("Loading the old-style append only file {prefix}; it becomes the BASE of a multi-part AOF in {}", dir.display());
    let mut m = Manifest {
        base: Some(manifest::FileInfo {
            name: prefix.to_string(),
            seq: 1,
            kind: manifest::Kind::Base,
        }),
        base_seq: 1,
        ..Manifest::default()
    };
    let mut ks = shared.keyspace.lock();
    load::load_files(shared, &mut ks, Path::new("."), &m)?;
    drop(ks);
    let io = |e: std::io::Error| {
        format!(
            "Error upgrading the old-style AOF {prefix}: {}",
            crate::util::io_error_text(&e)
        )
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::rename(&old, dir.join(prefix)).map_err(io)?;
    write_manifest(dir, prefix, &m, true).map_err(io)?;
    tracing::info!(
        "Successfully migrated an old-style AOF into the AOF directory {}",
        dir.display()
    );
    let mut s = shared.aof.inner.lock();
    s.base_size = total_size(dir, &m);
    s.manifest = std::mem::take(&mut m);
    Ok(true)
}

/// At start with `appendonly yes`, after loading (`aofOpenIfNeededOnServerStart`): an
/// empty AOF gets a BASE at once, the last INCR file (a new one if there is none) is opened
/// for appending, and writes from here on are appended.
///
/// # Errors
/// The directory or a file could not be created.
pub fn open_at_start(shared: &Shared) -> Result<(), String> {
    let (dir, prefix) = paths(shared);
    let settings = shared.settings();
    let io = |what: &str, e: std::io::Error| format!("{what}: {}", crate::util::io_error_text(&e));
    std::fs::create_dir_all(&dir).map_err(|e| {
        io(
            &format!("Can't open or create append-only dir {}", dir.display()),
            e,
        )
    })?;
    let mut m = shared.aof.inner.lock().manifest.clone();
    let mut dirty = false;
    if m.base.is_none() && m.incr.is_empty() {
        // Starting from nothing: a BASE now, as Redis 7.0 creates one.
        let rdb = settings.aof_use_rdb_preamble;
        let name = m.new_base(&prefix, rdb);
        let tmp = dir.join(format!("temp-rewriteaof-{}.aof", std::process::id()));
        let (r, ..) = crate::persistence::save::write_background(
            shared,
            &tmp,
            Some(&dir.join(&name)),
            None,
            crate::persistence::save::Format::AofBase { rdb },
        );
        r.map_err(|e| io("Can't create the AOF BASE file", e))?;
        tracing::info!("Creating AOF base file {name} on server start");
        dirty = true;
    }
    if m.incr.is_empty() {
        let name = m.new_incr(&prefix);
        tracing::info!("Creating AOF incr file {name} on server start");
        dirty = true;
    }
    let last = m.incr.last().map(|f| f.name.clone()).unwrap_or_default();
    let file = writer::open_append(&dir.join(&last))
        .map_err(|e| io(&format!("Can't open the append-only file {last}"), e))?;
    if dirty {
        write_manifest(&dir, &prefix, &m, true)
            .map_err(|e| io("Can't persist the AOF manifest", e))?;
    }
    delete_history(shared, &dir, &prefix, &mut m);
    let size = total_size(&dir, &m);
    let app = Appender::start(file, Fsync::parse(&settings.appendfsync), size)
        .map_err(|e| io("Can't start the AOF fsync thread", e))?;
    install(shared, &mut shared.keyspace.lock(), app);
    let mut s = shared.aof.inner.lock();
    s.manifest = m;
    s.on = true;
    s.base_size = size;
    Ok(())
}

/// Starts appending through `app` (under the keyspace lock: from this point in the stream).
fn install(shared: &Shared, ks: &mut Keyspace, app: Arc<Appender>) {
    ks.repl.aof = Some(Tap::new(app.clone()));
    *shared.aof.appender.lock() = Some(app);
    shared.aof.appending.store(true, Ordering::Release);
}

/// `CONFIG SET appendonly yes` (`startAppendOnly`): AOF starts with a rewrite; until it
/// ends writes go to the new INCR file but the manifest does not list it yet.
///
/// # Errors
/// The rewrite could not start.
pub fn enable(shared: &Arc<Shared>, in_exec: bool) -> Result<(), String> {
    {
        let mut s = shared.aof.inner.lock();
        if s.on || s.wait_rewrite {
            return Ok(());
        }
        s.wait_rewrite = true;
    }
    if in_exec || shared.persistence.running.load(Ordering::Acquire) {
        tracing::warn!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        shared.aof.schedule();
        return Ok(());
    }
    match rewrite::start(shared) {
        Ok(()) => Ok(()),
        // A rewrite that started while AOF was off does not turn it on: another follows.
        Err(RewriteError::Busy | RewriteError::InProgress) => {
            shared.aof.schedule();
            Ok(())
        }
        Err(_) => {
            shared.aof.inner.lock().wait_rewrite = false;
            tracing::warn!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
            Err("Failed to start the AOF rewrite".into())
        }
    }
}

/// `CONFIG SET appendonly no` (`stopAppendOnly`): the file is flushed and synced, appending
/// stops, a running rewrite's result is dropped.
pub fn disable(shared: &Shared, ks: &mut Keyspace) {
    ks.repl.flush();
    ks.repl.aof = None;
    shared.aof.appending.store(false, Ordering::Release);
    shared.aof.generation.fetch_add(1, Ordering::AcqRel);
    let app = shared.aof.appender.lock().take();
    if let Some(app) = app {
        // Written and synced off the keyspace lock (the caller holds it).
        let spawned = std::thread::Builder::new().name("aof-close".into()).spawn({
            let app = app.clone();
            move || {
                app.flush_and_sync();
                app.stop();
            }
        });
        if spawned.is_err() {
            app.flush_and_sync();
            app.stop();
        }
    }
    let mut s = shared.aof.inner.lock();
    s.on = false;
    s.wait_rewrite = false;
    s.scheduled = false;
}

/// Before a connection's replies go out: its writes are in the AOF (and on disk with
/// `appendfsync always`).
pub async fn durable(shared: &Shared) {
    if !shared.aof.appending.load(Ordering::Acquire) {
        return;
    }
    let app = shared.aof.appender.lock().clone();
    if let Some(app) = app {
        let target = app.appended();
        app.durable(target).await;
    }
}

/// At shutdown: everything appended is written and synced.
pub fn shutdown(shared: &Shared) {
    let app = shared.aof.appender.lock().clone();
    if let Some(app) = app {
        shared.keyspace.lock().repl.flush();
        app.flush_and_sync();
        app.stop();
        tracing::info!("Calling fsync() on the AOF file.");
    }
}

/// A replica's full sync replaces its dataset: appending stops until the sync is done (as
/// Redis's `stopAppendOnly` before loading the primary's snapshot).
pub fn stop_for_sync(shared: &Shared, ks: &mut Keyspace) -> bool {
    if !shared.aof.enabled() {
        return false;
    }
    disable(shared, ks);
    true
}

/// After a replica's full sync: AOF starts again from a rewrite of the new dataset
/// (`restartAOFAfterSYNC`).
pub fn restart_after_sync(shared: &Shared) {
    if !shared.aof.restart_pending.swap(false, Ordering::AcqRel) {
        return;
    }
    let Some(sh) = shared.arc() else { return };
    if let Err(e) = enable(&sh, false) {
        tracing::warn!("Failed enabling the AOF after successful master synchronization! Trying it again in one second. ({e})");
        sh.aof.inner.lock().wait_rewrite = true;
        sh.aof.schedule();
    }
}

/// The AOF part of the periodic work (`serverCron`): a scheduled rewrite, or one due by
/// `auto-aof-rewrite-percentage` / `auto-aof-rewrite-min-size`.
pub fn cron(shared: &Arc<Shared>, now_unix: u64) {
    if shared.aof.rewriting.load(Ordering::Relaxed)
        || shared.persistence.running.load(Ordering::Relaxed)
    {
        return;
    }
    let due = {
        let mut s = shared.aof.inner.lock();
        let limited = s.consecutive_failures > 0 && now_unix.saturating_sub(s.last_fail_unix) < 5;
        if s.scheduled && !limited {
            s.scheduled = false;
            true
        } else if s.on && !limited {
            let settings = shared.settings();
            let size = shared
                .aof
                .appender
                .lock()
                .as_ref()
                .map_or(0, |a| a.size.load(Ordering::Relaxed));
            let pct = settings.auto_aof_rewrite_percentage;
            let base = s.base_size.max(1);
            pct > 0
                && size > settings.auto_aof_rewrite_min_size
                && (size - base.min(size)) * 100 / base >= pct
        } else {
            false
        }
    };
    if due {
        tracing::info!("Starting automatic rewriting of AOF");
        if let Err(e) = rewrite::start(shared) {
            if e == RewriteError::Busy {
                shared.aof.schedule();
            }
        }
    }
}
