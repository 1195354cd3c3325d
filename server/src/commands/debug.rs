//! DEBUG: test and operations hooks (dataset digests, synthetic data, pausing the server,
//! switching active expiry off). Gated by `enable-debug-command`, as in Redis, because several
//! subcommands can stall or bloat a production server.
//!
//! DEBUG DIGEST and DIGEST-VALUE are Redis 7.0's own signatures (see
//! [`crate::keyspace::digest`]), so a slotcache node and a redis-server holding the same data
//! agree.

use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::config::DebugGate;
use crate::keyspace::{clock, digest, SmallBytes, Ttl, Value};
use bytes::Bytes;
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "debug",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE,
    &[],
    debug,
    "server",
    "A container for debugging commands.",
)];

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

const HELP: &[&str] = &[
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about the `key` and associated value.",
    "PANIC-CONNECTION",
    "    Panic inside this command (slotcache): only this connection is closed, and",
    "    everything it held is released.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
];

fn allowed(ctx: &Ctx) -> bool {
    match ctx.settings.debug {
        DebugGate::Yes => true,
        DebugGate::No => false,
        DebugGate::Local => ctx.conn.handle.addr.ip().is_loopback(),
    }
}

fn debug(ctx: &mut Ctx, a: &[Bytes]) {
    if !allowed(ctx) {
        return ctx.err(NOT_ALLOWED);
    }
    let sub = crate::util::lower(&a[1]);
    let n = a.len();
    match (sub.as_str(), n) {
        ("help", 2) => super::reply_help(ctx, "DEBUG", HELP),
        ("sleep", 3) => sleep(ctx, &a[2]),
        ("digest", 2) => digest(ctx),
        ("digest-value", _) => digest_value(ctx, &a[2..]),
        ("object", 3) => object(ctx, &a[2]),
        ("pause-cron", 3) => {
            let on = args::int(&a[2]).unwrap_or(0) != 0;
            ctx.shared.cron_paused.store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        ("set-active-expire", 3) => {
            let on = args::int(&a[2]).unwrap_or(0) != 0;
            ctx.shared.active_expire.store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        ("set-disable-deny-scripts", 3) => {
            let on = args::int(&a[2]).unwrap_or(0) != 0;
            ctx.shared.script_deny_disabled.store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        ("populate", 3..=5) => populate(ctx, a),
        ("reload", _) => reload(ctx, &a[2..]),
        ("loadaof", 2) => loadaof(ctx),
        ("quicklist-packed-threshold", 3) => quicklist_packed_threshold(ctx, &a[2]),
        ("protocol", 3) => protocol(ctx, &a[2]),
        // Proves the connection's panic containment end to end (tests and operators).
        ("panic-connection", 2) => panic!("DEBUG PANIC-CONNECTION"),
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&a[2]));
            ctx.out.ok();
        }
        _ => ctx.err(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&a[1][..a[1].len().min(128)])
        )),
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: a save and load round trip of the whole dataset.
fn reload(ctx: &mut Ctx, opts: &[Bytes]) {
    let (mut save, mut flush, mut merge) = (true, true, false);
    for o in opts {
        match crate::util::lower(o).as_str() {
            "merge" => merge = true,
            "noflush" => flush = false,
            "nosave" => save = false,
            _ => {
                return ctx
                    .err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
            }
        }
    }
    if ctx.shared.persistence.running.load(Ordering::Acquire) {
        return ctx.err(crate::persistence::BgsaveError::InProgress.message());
    }
    match crate::persistence::reload(ctx.shared, ctx.ks, save, flush, merge) {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.err(&e),
    }
}

/// DEBUG LOADAOF: the AOF written out, the dataset emptied and loaded back from the AOF
/// directory (Redis exits when that fails; here the command fails and the log says why).
fn loadaof(ctx: &mut Ctx) {
    match crate::aof::debug_loadaof(ctx.shared, ctx.ks) {
        Ok(()) => ctx.out.ok(),
        Err(e) => {
            tracing::warn!("DEBUG LOADAOF: {e}");
            ctx.err("ERR Error loading the AOF, check server logs.")
        }
    }
}

/// DEBUG QUICKLIST-PACKED-THRESHOLD: in Redis, the element size from which a list element
/// gets a quicklist node of its own ("plain") instead of sharing a packed one. Here an
/// element bigger than the fill allows already ends up alone in its node (no neighbour fits
/// beside it), whatever its size, so there is no threshold to tune and nothing observable
/// changes; the value is checked by Redis's rule (a memory value below 4 GB minus 1 MB, 0
/// meaning the 1 GB default) so scripts and tests that set it work.
fn quicklist_packed_threshold(ctx: &mut Ctx, arg: &[u8]) {
    let size = std::str::from_utf8(arg)
        .ok()
        .and_then(crate::util::parse_memory);
    match size {
        Some(sz) if sz <= (1u64 << 32) - (1 << 20) => ctx.out.ok(),
        _ => ctx.err("ERR argument must be a memory value bigger than 1 and smaller than 4gb"),
    }
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, so clients can test their parsers
/// (RESP3 types degrade to their RESP2 renderings as every reply does).
// 3.141 is Redis's fixed test value (clients compare it), not an approximation of pi.
#[allow(clippy::approx_constant)]
fn protocol(ctx: &mut Ctx, kind: &[u8]) {
    let o = &mut *ctx.out;
    match crate::util::lower(kind).as_str() {
        "string" => o.bulk(b"Hello World"),
        "integer" => o.int(12345),
        "double" => o.double(3.141),
        "bignum" => o.big_number("1234567999999999999999999999999999999"),
        "null" => o.null(),
        "array" | "set" => {
            if kind.eq_ignore_ascii_case(b"set") {
                o.set(3);
            } else {
                o.array(3);
            }
            (0..3).for_each(|j| o.int(j));
        }
        "map" => {
            o.map(3);
            for j in 0..3 {
                o.int(j);
                o.boolean(j == 1);
            }
        }
        "attrib" => {
            if o.resp3 {
                o.attribute(1);
                o.bulk(b"key-popularity");
                o.array(2);
                o.bulk(b"key:123");
                o.int(90);
            }
            // An attribute is not a reply: a real one follows.
            o.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !o.resp3 {
                return o.error("ERR RESP2 is not supported by this command");
            }
            o.push(2);
            o.bulk(b"server-cpu-usage");
            o.int(42);
            // A push is not a reply either: clients waiting for one get this.
            o.bulk(b"Some real reply following the push reply");
        }
        "verbatim" => o.verbatim("txt", b"This is a verbatim\nstring"),
        "true" => o.boolean(true),
        "false" => o.boolean(false),
        _ => o.error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

/// Blocks the whole server (the keyspace stays locked), as Redis's single thread does.
fn sleep(ctx: &mut Ctx, arg: &[u8]) {
    // Redis reads the argument with strtod: garbage sleeps zero seconds.
    let secs = crate::util::parse_f64(arg).unwrap_or(0.0);
    if let Ok(d) = std::time::Duration::try_from_secs_f64(secs) {
        crate::util::block_in_place(|| std::thread::sleep(d));
    }
    ctx.out.ok();
}

fn digest(ctx: &mut Ctx) {
    let d = digest::dataset(&ctx.ks.dbs);
    ctx.out.simple(&digest::hex(&d));
}

fn digest_value(ctx: &mut Ctx, keys: &[Bytes]) {
    let (db, out) = ctx.db_out();
    out.array(keys.len());
    for k in keys {
        let d = db.peek_stored(k).map_or([0; 20], digest::value);
        out.simple(&digest::hex(&d));
    }
}

/// Redis's `rdbSavedObjectLen`: the value's RDB form without its type byte.
fn serialized_len(v: &Value) -> usize {
    let mut b = Vec::new();
    crate::rdb::encode::write_value(&mut b, v);
    b.len() - 1
}

fn object(ctx: &mut Ctx, key: &[u8]) {
    let now = ctx.now;
    // The stored entry, expired or not (Redis looks in the dict itself): tests and operators
    // use it to see that a key is still there, waiting for lazy or active expiry.
    let Some(e) = ctx.db().peek_stored(key) else {
        return ctx.err(errors::NO_KEY);
    };
    let line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        &e.value as *const Value,
        e.value.encoding(),
        serialized_len(&e.value),
        e.access & 0x00ff_ffff,
        clock::idle_seconds(e.access, now),
    );
    ctx.out.simple(&line);
}

/// Parses a POPULATE count or size: Redis's `getPositiveLongFromObjectOrReply`.
/// Any failure, unparsable or negative, gets the same reply there.
fn positive(arg: &[u8]) -> Result<u64, &'static str> {
    match args::int(arg) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err("ERR value is out of range, must be positive"),
    }
}

/// Physical memory, the ceiling for a POPULATE request (Redis refuses one whose table cannot
/// even be allocated).
fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for unknown names.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || size <= 0 {
        return u64::MAX;
    }
    (pages as u64).saturating_mul(size as u64)
}

/// DEBUG POPULATE count [prefix] [size]: keys `prefix:N` holding `value:N` (zero-padded or
/// cut to `size` bytes); existing keys are left alone.
fn populate(ctx: &mut Ctx, a: &[Bytes]) {
    let count = match positive(&a[2]) {
        Ok(n) => n,
        Err(e) => return ctx.err(e),
    };
    let prefix: &[u8] = a.get(3).map_or(b"key", |p| p.as_ref());
    let size = match a.get(4).map(|s| positive(s)).transpose() {
        Ok(s) => s,
        Err(e) => return ctx.err(e),
    };
    if size.is_some_and(|n| n > ctx.settings.proto_max_bulk_len) {
        return ctx.err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let per_key = 96 + prefix.len() as u64 + size.unwrap_or(16);
    if count.saturating_mul(per_key) > physical_memory() {
        return ctx.err("ERR OOM in dictTryExpand");
    }
    let now = ctx.now;
    let db = ctx.db();
    let mut added = 0u64;
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        if db.contains(&key, now) {
            continue;
        }
        let mut val = format!("value:{j}").into_bytes();
        if let Some(n) = size {
            val.resize(n as usize, 0);
        }
        db.set(
            &key,
            Value::Str(SmallBytes::from_vec(val)),
            Ttl::Persist,
            now,
        );
        added += 1;
    }
    ctx.dirty(added);
    ctx.out.ok();
}
