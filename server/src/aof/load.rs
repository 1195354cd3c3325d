//! Loading the AOF's files in manifest order (`loadAppendOnlyFiles`): the BASE (an RDB
//! file, or commands, possibly after an RDB preamble) and the INCR files' commands, run as
//! a replica runs its primary's stream. A file that ends inside a command loads up to the
//! last whole one when it is the last file and `aof-load-truncated` is on (the file is cut
//! back there); any other problem stops the load with Redis's message.

use super::manifest::Manifest;
use super::stream::{has_rdb_preamble, ReadError, Reader};
use crate::dataset::Keyspace;
use crate::session::Conn;
use crate::state::Shared;
use bytes::Bytes;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;
use tracing::{info, warn};

/// How one file loaded.
#[derive(Debug, PartialEq, Eq)]
enum Status {
    NotExist,
    Empty,
    Ok,
    Truncated,
}

/// Loads every file of `m` from `dir` into `ks` (which the caller has emptied). Returns
/// whether there was anything to load.
///
/// # Errors
/// The message Redis logs before it exits.
pub fn load_files(
    shared: &Shared,
    ks: &mut Keyspace,
    dir: &Path,
    m: &Manifest,
) -> Result<bool, String> {
    let files: Vec<_> = m.load_order().collect();
    if files.is_empty() {
        return Ok(false);
    }
    let started = Instant::now();
    let mut conn = fake_conn(shared);
    let last = files.len() - 1;
    ks.repl.loading_aof = true;
    let mut loaded = Ok(());
    for (i, f) in files.iter().enumerate() {
        let path = dir.join(&f.name);
        match load_one(shared, ks, &mut conn, &path, &f.name, i == last) {
            Ok(Status::Truncated) if i != last => {
                loaded = Err("Fatal error: the truncated file is not the last file".to_string());
            }
            Ok(Status::NotExist) => info!("The append log file {} doesn't exist", f.name),
            Ok(_) => {}
            Err(e) => loaded = Err(e),
        }
        if loaded.is_err() {
            break;
        }
    }
    ks.repl.loading_aof = false;
    loaded?;
    info!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(true)
}

/// A client for running the file's commands (Redis's fake AOF client).
fn fake_conn(shared: &Shared) -> Conn {
    let none = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let handle = std::sync::Arc::new(crate::clients::ClientHandle::new(
        shared.clients.next_id(),
        none,
        none,
    ));
    Conn::new(handle, true)
}

fn load_one(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    path: &Path,
    name: &str,
    last_file: bool,
) -> Result<Status, String> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Status::NotExist),
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the append log file {name} for reading: {}",
                crate::util::io_error_text(&e)
            ))
        }
    };
    let size = f.metadata().map_or(0, |m| m.len());
    if size == 0 {
        return Ok(Status::Empty);
    }
    let mut r = BufReader::with_capacity(1 << 20, f);
    let head = r.fill_buf().map_err(|e| unrecoverable(name, &e))?;
    let mut start = 0;
    if has_rdb_preamble(head) {
        info!("Reading RDB base file on AOF loading...");
        let (keys, expired, _, bytes) =
            crate::persistence::load::load_reader(shared, ks, &mut r, size, false).map_err(
                |e| format!("Error reading the RDB base file {name}, AOF loading aborted ({e})"),
            )?;
        info!("Loaded {keys} keys ({expired} expired) from the RDB base of {name}");
        if bytes >= size {
            return Ok(Status::Ok);
        }
        info!("Reading the remaining AOF tail...");
        start = bytes;
    }
    let mut reader = Reader::new(r, start);
    let mut applying = crate::dispatch::Applying::new(shared);
    // A MULTI's commands wait for their EXEC: a file that ends inside one loads without
    // them (Redis reverts the incomplete MULTI).
    let mut tx: Option<(Vec<Vec<Bytes>>, u64)> = None;
    let mut count = 0u64;
    let outcome = loop {
        let before = reader.pos();
        let args = match reader.next_command() {
            Ok(Some(a)) => a,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        if args[0].eq_ignore_ascii_case(b"MULTI") {
            tx = Some((Vec::new(), before));
            continue;
        }
        if args[0].eq_ignore_ascii_case(b"EXEC") {
            if let Some((cmds, _)) = tx.take() {
                for c in cmds {
                    run(shared, ks, conn, &applying, &c, name)?;
                }
            }
            continue;
        }
        if let Some((cmds, _)) = tx.as_mut() {
            check_known(&args, name)?;
            cmds.push(args);
            continue;
        }
        run(shared, ks, conn, &applying, &args, name)?;
        count += 1;
        if count.is_multiple_of(1024) {
            applying = crate::dispatch::Applying::new(shared);
        }
    };
    crate::dispatch::drain_expired(ks, crate::util::now_ms(), None);
    let valid_up_to = match (&outcome, &tx) {
        (None, None) => return Ok(Status::Ok),
        (Some(ReadError::Io(e)), _) => return Err(unrecoverable(name, e)),
        (Some(ReadError::Format), _) => {
            return Err(format!(
                "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
            ))
        }
        (_, Some((_, multi_at))) => {
            warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
            *multi_at
        }
        (Some(ReadError::Truncated), None) => reader.pos(),
    };
    truncated(shared, path, name, valid_up_to, last_file)
}

/// The file ends inside a command (`uxeof`).
fn truncated(
    shared: &Shared,
    path: &Path,
    name: &str,
    valid_up_to: u64,
    last_file: bool,
) -> Result<Status, String> {
    if shared.settings().aof_load_truncated && last_file {
        warn!("!!! Warning: short read while loading the AOF file {name}!!!");
        warn!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(valid_up_to));
        match cut {
            Ok(()) => {
                warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                return Ok(Status::Truncated);
            }
            Err(e) => warn!(
                "Error truncating the AOF file {name}: {}",
                crate::util::io_error_text(&e)
            ),
        }
    }
    Err(format!(
        "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
    ))
}

fn unrecoverable(name: &str, e: &std::io::Error) -> String {
    format!(
        "Unrecoverable error reading the append only file {name}: {}",
        crate::util::io_error_text(e)
    )
}

fn check_known(args: &[Bytes], name: &str) -> Result<(), String> {
    if crate::commands::table::lookup(&args[0]).is_none() {
        return Err(format!(
            "Unknown command '{}' reading the append only file {name}",
            String::from_utf8_lossy(&args[0][..args[0].len().min(128)])
        ));
    }
    Ok(())
}

/// Runs one command of the file.
fn run(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    applying: &crate::dispatch::Applying,
    args: &[Bytes],
    name: &str,
) -> Result<(), String> {
    check_known(args, name)?;
    if args[0].eq_ignore_ascii_case(b"SELECT") {
        if let Some(db) = args.get(1).and_then(|d| crate::util::parse_i64_strict(d)) {
            if db >= 0 && (db as usize) < ks.dbs.len() {
                conn.select(db as usize);
            }
        }
        return Ok(());
    }
    crate::dispatch::execute_replicated(shared, ks, conn, applying, args);
    Ok(())
}
