//! Writing snapshots: in the foreground under the keyspace lock ([`save`]), or from a thread
//! while writers go on ([`bgsave`]).

use crate::dataset::Keyspace;
use crate::keyspace::entry::Entry;
use crate::keyspace::slot::SLOTS;
use crate::rdb::file::{self, Header, Sink};
use crate::state::Shared;
use bytes::Bytes;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::{info, warn};

/// SAVE hands the file this much encoded data at a time.
const CHUNK: usize = 256 * 1024;

/// A background save copies entries out under one hold of the keyspace lock until a slot's
/// end after this long (or BATCH entries), then encodes and writes them with the lock
/// released. Encoding under the lock (LZF, listpacks: about a microsecond a key) in 256 KiB
/// chunks held it for milliseconds, tens of them when the thread was preempted while
/// holding it on a busy machine, and every writer waited that long. A copy is several times
/// cheaper than its encoding, and short holds are rarely preempted.
const HOLD: std::time::Duration = std::time::Duration::from_micros(100);

/// The most entries copied out under one hold.
const BATCH: usize = 1024;

/// Why BGSAVE did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum BgsaveError {
    InProgress,
    Thread,
}

impl BgsaveError {
    pub fn message(&self) -> &'static str {
        match self {
            BgsaveError::InProgress => "ERR Background save already in progress",
            BgsaveError::Thread => "ERR Background save failed to start a thread",
        }
    }
}

/// What a background snapshot writes: an RDB file, or an AOF's BASE (an RDB marked
/// `aof-base`, or with `aof-use-rdb-preamble no` commands that rebuild the dataset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Rdb,
    AofBase { rdb: bool },
}

fn header(shared: &Shared, ks: &Keyspace, format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    if format == (Format::AofBase { rdb: false }) {
        let codes = shared
            .scripts
            .lock()
            .functions
            .libraries()
            .map(|l| l.code.clone())
            .collect::<Vec<_>>();
        for code in codes {
            crate::replication::effects::encode(
                &[
                    Bytes::from_static(b"FUNCTION"),
                    Bytes::from_static(b"LOAD"),
                    code,
                ],
                &mut out,
            );
        }
        return out;
    }
    file::write_header(
        &mut out,
        &Header {
            ctime: super::unix_now(),
            used_mem: crate::eviction::total_used(),
            repl_id: ks.repl.replid.clone(),
            repl_offset: ks.repl.offset,
            repl_stream_db: ks.repl.stream_db(),
            aof_base: format != Format::Rdb,
        },
    );
    // The scripts lock is taken after the keyspace lock, as everywhere.
    let codes: Vec<bytes::Bytes> = shared
        .scripts
        .lock()
        .functions
        .libraries()
        .map(|l| l.code.clone())
        .collect();
    file::write_functions(&mut out, &codes);
    out
}

/// The snapshot file, and where it is written first.
fn paths(shared: &Shared) -> (PathBuf, PathBuf) {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = PathBuf::from(shared.settings().dbfilename.clone());
    let tmp = PathBuf::from(format!(
        "temp-{}-{}.rdb",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    (name, tmp)
}

/// Makes the written temporary file the snapshot: fsync, rename, fsync of the directory.
fn commit(f: std::fs::File, tmp: &Path, path: &Path) -> io::Result<()> {
    f.sync_all()?;
    drop(f);
    std::fs::rename(tmp, path)?;
    if let Ok(d) = std::fs::File::open(".") {
        let _ = d.sync_all();
    }
    Ok(())
}

fn create(tmp: &Path) -> io::Result<BufWriter<std::fs::File>> {
    Ok(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(tmp)?,
    ))
}

/// SAVE (and SHUTDOWN SAVE, DEBUG RELOAD): the whole keyspace written with the lock held.
pub fn save(shared: &Shared, ks: &Keyspace) -> io::Result<()> {
    let s = shared.settings();
    let (path, tmp) = paths(shared);
    let result = (|| {
        let mut sink = Sink::new(create(&tmp)?, s.rdbchecksum);
        sink.put(&header(shared, ks, Format::Rdb))?;
        let (mut buf, mut scratch) = (Vec::new(), Vec::new());
        for (i, db) in ks.dbs.iter().enumerate() {
            if db.is_empty() {
                continue;
            }
            buf.clear();
            file::write_select(&mut buf, i, db.len() as u64, db.volatile_len() as u64);
            for e in db.iter_stored() {
                file::write_entry(&mut buf, &mut scratch, e, s.rdbcompression);
                if buf.len() >= CHUNK {
                    sink.put(&buf)?;
                    buf.clear();
                }
            }
            sink.put(&buf)?;
        }
        let f = sink.finish()?.into_inner().map_err(|e| e.into_error())?;
        commit(f, &tmp, &path)
    })();
    match &result {
        Ok(()) => {
            info!("DB saved on disk");
            shared
                .persistence
                .dirty_at_save
                .store(ks.dirty, Ordering::Relaxed);
            shared
                .last_save_unix
                .store(super::unix_now(), Ordering::Relaxed);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            warn!("Failed saving the DB: {}", crate::util::io_error_text(e));
        }
    }
    shared.persistence.saved(result.is_ok());
    result
}

/// `SELECT <db>` in an AOF BASE written as commands.
fn select_command(out: &mut Vec<u8>, db: usize) {
    crate::replication::effects::encode(
        &[Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())],
        out,
    );
}

/// One key of an AOF BASE written as commands: `RESTORE key <expiry> <DUMP payload> ABSTTL`
/// rebuilds any type (streams with their groups included) with its absolute expiry, and
/// loads in redis-server as well.
fn restore_command(out: &mut Vec<u8>, e: &Entry) {
    crate::replication::effects::encode(
        &[
            Bytes::from_static(b"RESTORE"),
            Bytes::copy_from_slice(e.key()),
            Bytes::from(e.expire_at().to_string()),
            Bytes::from(crate::rdb::payload::dump(&e.value)),
            Bytes::from_static(b"ABSTTL"),
        ],
        out,
    );
}

/// Ends every database's part of a snapshot, even when writing failed; the saved states
/// are dropped after the lock is released.
struct Ending<'a>(&'a Shared);

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        let states: Vec<_> = {
            let mut ks = self.0.keyspace.lock();
            ks.dbs.iter_mut().filter_map(|d| d.end_snapshot()).collect()
        };
        drop(states);
    }
}

/// BGSAVE: starts a point-in-time snapshot written by a thread of its own.
pub fn bgsave(shared: &Arc<Shared>) -> Result<(), BgsaveError> {
    let p = &shared.persistence;
    if p.running.swap(true, Ordering::AcqRel) {
        return Err(BgsaveError::InProgress);
    }
    p.started(super::unix_now());
    let sh = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || {
            let (path, tmp) = paths(&sh);
            let (result, copied, dirty, longest) =
                write_background(&sh, &tmp, Some(&path), None, Format::Rdb);
            match &result {
                Ok(bytes) => {
                    let longest_hold_us = longest.as_micros() as u64;
                    info!(
                        bytes,
                        copied, longest_hold_us, "Background saving terminated with success"
                    );
                    sh.persistence.dirty_at_save.store(dirty, Ordering::Relaxed);
                    sh.last_save_unix
                        .store(super::unix_now(), Ordering::Relaxed);
                }
                Err(e) => warn!("Background saving error: {}", crate::util::io_error_text(e)),
            }
            sh.persistence.finished(result.is_ok(), copied);
            sh.persistence.running.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        p.finished(false, 0);
        p.running.store(false, Ordering::Release);
        return Err(BgsaveError::Thread);
    }
    info!("Background saving started");
    Ok(())
}

/// Runs under the keyspace lock at a background snapshot's point in time.
pub type AtBegin = Box<dyn FnOnce(&mut Keyspace) + Send>;
/// Receives the finished file of a snapshot made for a replica (or why it failed).
pub type OnWritten = Box<dyn FnOnce(io::Result<PathBuf>) + Send>;

/// A point-in-time RDB file for a replica's full sync, as Redis's disk-based sync makes
/// one: written from a thread like BGSAVE (and never at the same time as one), but to a
/// temporary file of its own, so the node's `dbfilename` and its save bookkeeping stay as
/// they are. `begin` runs under the keyspace lock at the point in time (the replica is
/// attached to the stream there); `done` gets the file, which it removes when sent.
///
/// # Errors
/// A background save is running (try again when it ends), or no thread could be started.
pub fn snapshot_for_replica(
    shared: &Arc<Shared>,
    begin: AtBegin,
    done: OnWritten,
) -> Result<(), BgsaveError> {
    let p = &shared.persistence;
    if p.running.swap(true, Ordering::AcqRel) {
        return Err(BgsaveError::InProgress);
    }
    let sh = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("repl-rdb".into())
        .spawn(move || {
            let (_, tmp) = paths(&sh);
            let file = PathBuf::from(format!("repl-{}", tmp.display()));
            let (result, _, _, longest) =
                write_background(&sh, &file, None, Some(begin), Format::Rdb);
            sh.persistence.running.store(false, Ordering::Release);
            if let Ok(bytes) = &result {
                let longest_hold_us = longest.as_micros() as u64;
                info!(
                    bytes,
                    longest_hold_us, "RDB for a replica's full sync written"
                );
            }
            done(result.map(|_| file));
        });
    if spawned.is_err() {
        p.running.store(false, Ordering::Release);
        return Err(BgsaveError::Thread);
    }
    Ok(())
}

/// The background snapshot: begun under the lock (the point in time), then written slot by
/// slot with short lock holds to `tmp`, which becomes `commit_to` when given (a replica's
/// file stays where it is). `begin` runs under the lock at the point in time. Returns the
/// bytes written (or the error), the entries writers handed over, `dirty` at the point in
/// time, and the longest hold of the lock while walking (logged: it is what a writer may
/// have waited for the snapshot).
pub(crate) fn write_background(
    shared: &Shared,
    tmp: &Path,
    commit_to: Option<&Path>,
    begin: Option<AtBegin>,
    format: Format,
) -> (io::Result<u64>, u64, u64, std::time::Duration) {
    let s = shared.settings();
    let commands = format == (Format::AofBase { rdb: false });
    let (head, plan, dirty) = {
        let mut ks = shared.keyspace.lock();
        let head = header(shared, &ks, format);
        let mut plan = Vec::new();
        for (i, db) in ks.dbs.iter_mut().enumerate() {
            if !db.is_empty() {
                db.begin_snapshot(i);
                plan.push((i, db.len() as u64, db.volatile_len() as u64));
            }
        }
        if let Some(begin) = begin {
            begin(&mut ks);
        }
        (head, plan, ks.dirty)
    };
    let ending = Ending(shared);
    let (mut copied, mut longest) = (0, std::time::Duration::ZERO);
    let result = (|| {
        let mut sink = Sink::new(create(tmp)?, s.rdbchecksum);
        sink.put(&head)?;
        let (mut buf, mut scratch) = (Vec::with_capacity(CHUNK * 2), Vec::new());
        for (origin, keys, expires) in plan {
            buf.clear();
            if commands {
                select_command(&mut buf, origin);
            } else {
                file::write_select(&mut buf, origin, keys, expires);
            }
            sink.put(&buf)?;
            let mut slot = 0;
            let mut batch: Vec<Box<Entry>> = Vec::with_capacity(BATCH);
            while slot < SLOTS {
                let done = {
                    let mut ks = shared.keyspace.lock();
                    let held = std::time::Instant::now();
                    let Some(db) = ks
                        .dbs
                        .iter_mut()
                        .find(|d| d.snapshot_origin() == Some(origin))
                    else {
                        break;
                    };
                    slot = db.snapshot_slots(slot, |e| {
                        batch.push(e.to_boxed());
                        batch.len() < BATCH && held.elapsed() < HOLD
                    });
                    let done = if slot >= SLOTS {
                        copied += db.snapshot_copied();
                        db.end_snapshot()
                    } else {
                        None
                    };
                    longest = longest.max(held.elapsed());
                    done
                };
                // A finished database's saved states are freed here, not under the lock.
                drop(done);
                buf.clear();
                for e in batch.drain(..) {
                    if s.rdb_key_save_delay_us > 0 {
                        std::thread::sleep(std::time::Duration::from_micros(
                            s.rdb_key_save_delay_us,
                        ));
                    }
                    if commands {
                        restore_command(&mut buf, &e);
                    } else {
                        file::write_entry(&mut buf, &mut scratch, &e, s.rdbcompression);
                    }
                    if buf.len() >= CHUNK {
                        sink.put(&buf)?;
                        buf.clear();
                    }
                }
                sink.put(&buf)?;
            }
        }
        let (written, f) = if commands {
            // Commands only: no RDB trailer.
            let written = sink.written();
            (
                written,
                sink.into_inner().into_inner().map_err(|e| e.into_error())?,
            )
        } else {
            let written = sink.written() + 9;
            (
                written,
                sink.finish()?.into_inner().map_err(|e| e.into_error())?,
            )
        };
        match commit_to {
            Some(path) => commit(f, tmp, path)?,
            // Read back once and removed: nothing to make durable.
            None => drop(f),
        }
        Ok(written)
    })();
    drop(ending);
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    (result, copied, dirty, longest)
}
