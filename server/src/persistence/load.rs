//! Loading a snapshot: at start, before the server serves, and for DEBUG RELOAD.

use crate::dataset::Keyspace;
use crate::rdb::decode::Limits;
use crate::rdb::file::{self, Item, LoadError};
use crate::state::Shared;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;
use tracing::info;

/// How often a long load reports its progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Loads `path` into `ks` and its libraries into the function engine. A key or library
/// that exists already is an error, unless `merge` (DEBUG RELOAD MERGE: the file's
/// replaces it). Keys whose TTL has passed are skipped, as a Redis primary skips them.
/// Returns (keys loaded, keys skipped as expired, the file's `repl-offset`).
pub fn load_file(
    shared: &Shared,
    ks: &mut Keyspace,
    path: &Path,
    merge: bool,
) -> Result<(u64, u64, Option<u64>), LoadError> {
    let f = std::fs::File::open(path)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    load_reader(
        shared,
        ks,
        BufReader::with_capacity(1 << 20, f),
        size,
        merge,
    )
    .map(|(keys, expired, offset, _)| (keys, expired, offset))
}

/// [`load_file`] from a reader of `size` bytes (an AOF's RDB preamble is followed by
/// commands, read from where this stopped). Also returns the RDB's length in bytes.
///
/// # Errors
/// As [`load_file`].
pub fn load_reader<R: std::io::Read>(
    shared: &Shared,
    ks: &mut Keyspace,
    reader: R,
    size: u64,
    merge: bool,
) -> Result<(u64, u64, Option<u64>, u64), LoadError> {
    let settings = shared.settings();
    let lim = Limits::from_settings(&settings);
    let databases = ks.dbs.len();
    let now = crate::util::now_ms();
    let started = Instant::now();
    let mut last_report = started;
    let (mut keys, mut expired) = (0u64, 0u64);
    let mut libraries = Vec::new();
    let mut offset = None;
    let progress = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let reader = Counting(reader, progress.clone());
    let loaded = file::load(reader, &lim, databases, |item| {
        match item {
            Item::Aux(k, v) if k == b"repl-offset" => {
                offset = std::str::from_utf8(&v).ok().and_then(|v| v.parse().ok());
            }
            Item::Aux(..) => {}
            Item::Function(code) => libraries.push(code),
            Item::Key { db, entry } => {
                if entry.is_expired(now) {
                    expired += 1;
                    return Ok(());
                }
                let d = &mut ks.dbs[db];
                if !merge && d.peek_stored(entry.key()).is_some() {
                    return Err(format!(
                        "Duplicate key '{}' found in RDB file",
                        String::from_utf8_lossy(entry.key())
                    ));
                }
                d.insert_entry(entry, now);
                keys += 1;
                key_load_delay(settings.key_load_delay, keys);
                if last_report.elapsed() >= PROGRESS_EVERY {
                    last_report = Instant::now();
                    let pct = (progress.get() * 100).checked_div(size).unwrap_or(100);
                    info!("Loading RDB: {keys} keys, {pct}% of {size} bytes");
                }
            }
        }
        Ok(())
    })?;
    if !libraries.is_empty() {
        shared
            .scripts
            .lock()
            .functions
            .restore(&libraries, if merge { "replace" } else { "append" })
            .map_err(|e| LoadError::Format(format!("Failed loading the functions: {e}")))?;
    }
    info!(
        "Done loading RDB, keys loaded: {keys}, keys expired: {expired} ({} bytes, RDB v{}, {:.3} s)",
        loaded.bytes,
        loaded.version,
        started.elapsed().as_secs_f64()
    );
    Ok((keys, expired, offset, loaded.bytes))
}

/// Redis's `key-load-delay` after the `loaded`-th key: `delay` microseconds when positive;
/// when negative, -`delay` stands for a delay shorter than the shortest sleep, so one
/// microsecond is slept once every -`delay` keys.
fn key_load_delay(delay: i64, loaded: u64) {
    let us = match delay {
        0 => return,
        d if d > 0 => d.unsigned_abs(),
        d if loaded.is_multiple_of(d.unsigned_abs()) => 1,
        _ => return,
    };
    std::thread::sleep(std::time::Duration::from_micros(us));
}

/// A reader that publishes how many bytes it read, for the progress log.
struct Counting<R>(R, std::rc::Rc<std::cell::Cell<u64>>);

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.set(self.1.get() + n as u64);
        Ok(n)
    }
}

/// At start, before serving: the snapshot in `dir`, if there is one. An unreadable one
/// stops the server (as Redis exits rather than serve without the data it was given).
pub fn load_at_start(shared: &Shared) -> Result<(), String> {
    let name = shared.settings().dbfilename.clone();
    let path = Path::new(&name);
    if !path.exists() {
        return Ok(());
    }
    info!("Loading the snapshot {name}");
    let mut ks = shared.keyspace.lock();
    match load_file(shared, &mut ks, path, false) {
        Ok((keys, expired, offset)) => {
            shared.persistence.loaded(keys, expired, offset);
            Ok(())
        }
        Err(e) => Err(format!(
            "Fatal error loading the DB ({name}): {e}. Exiting."
        )),
    }
}

/// Redis's `emptyData`: every database and the function libraries emptied; watchers of
/// live keys and tracking clients learn of the flush.
pub fn empty_data(shared: &Shared, ks: &mut Keyspace) {
    let now = crate::util::now_ms();
    for i in 0..ks.dbs.len() {
        ks.watches.touch_db(&ks.dbs, i, None, now);
    }
    ks.tracking.invalidate_all();
    for db in ks.dbs.iter_mut() {
        db.clear();
    }
    shared.scripts.lock().functions.flush();
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save (unless NOSAVE), empty the dataset and the
/// libraries (unless NOFLUSH), load the file back; the keyspace lock held throughout.
pub fn reload(
    shared: &Shared,
    ks: &mut Keyspace,
    save: bool,
    flush: bool,
    merge: bool,
) -> Result<(), String> {
    if save && super::save(shared, ks).is_err() {
        return Err("ERR".into());
    }
    if flush {
        empty_data(shared, ks);
    }
    let name = shared.settings().dbfilename.clone();
    match load_file(shared, ks, Path::new(&name), merge) {
        Ok((keys, expired, offset)) => {
            shared.persistence.loaded(keys, expired, offset);
            tracing::warn!("DB reloaded by DEBUG RELOAD");
            Ok(())
        }
        Err(e) => {
            tracing::warn!("DEBUG RELOAD: {e}");
            Err("ERR Error trying to load the RDB dump, check server logs.".into())
        }
    }
}
