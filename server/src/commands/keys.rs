//! Generic key commands: existence, deletion, renaming and copying, key enumeration (KEYS,
//! SCAN, RANDOMKEY), moving keys between databases, and OBJECT introspection.
//!
//! Whole entries move between names and databases (RENAME, MOVE) so their TTL and access
//! clock travel with them, as in Redis; COPY duplicates the value and TTL but starts a fresh
//! access clock.

use super::keyspec::{self as ks, key_flags::*};
use super::table::facts;
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::clock;
use crate::keyspace::{Db, Entry, Value};
use crate::keyspace_events::Events;
use bytes::Bytes;

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "encoding",
        3,
        READONLY,
        &[ks::range(2, 0, 1, RO)],
        object_encoding,
        "generic",
        "Returns the internal encoding of a Redis object.",
    ),
    CommandSpec::new(
        "freq",
        3,
        READONLY,
        &[ks::range(2, 0, 1, RO)],
        object_freq,
        "generic",
        "Returns the logarithmic access frequency counter of a Redis object.",
    ),
    CommandSpec::new(
        "idletime",
        3,
        READONLY,
        &[ks::range(2, 0, 1, RO)],
        object_idletime,
        "generic",
        "Returns the time since the last access to a Redis object.",
    ),
    CommandSpec::new(
        "refcount",
        3,
        READONLY,
        &[ks::range(2, 0, 1, RO)],
        object_refcount,
        "generic",
        "Returns the reference count of a value of a key.",
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        object_help,
        "generic",
        "Returns helpful text about the different subcommands.",
    ),
];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, &[ks::range(1, -1, 1, RM | DELETE)], del, "generic", "Deletes one or more keys."),
    CommandSpec::new("unlink", -2, WRITE | FAST, &[ks::range(1, -1, 1, RM | DELETE)], del, "generic", "Asynchronously deletes one or more keys.").events(Events::Named("del")),
    CommandSpec::new("exists", -2, READONLY | FAST, &[ks::range(1, -1, 1, RO)], exists, "generic", "Determines whether one or more keys exist."),
    CommandSpec::new("type", 2, READONLY | FAST, &[ks::range(1, 0, 1, RO)], type_, "generic", "Determines the type of value stored at a key."),
    CommandSpec::new("touch", -2, READONLY | FAST, &[ks::range(1, -1, 1, RO)], touch, "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed.").facts(facts::TOUCHES_ALWAYS),
    CommandSpec::new("rename", 3, WRITE, &[ks::range(1, 0, 1, RW | ACCESS | DELETE), ks::range(2, 0, 1, OW | UPDATE)], rename, "generic", "Renames a key and overwrites the destination.").events(Events::Rename),
    CommandSpec::new("renamenx", 3, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE), ks::range(2, 0, 1, OW | INSERT)], renamenx, "generic", "Renames a key only when the target key name doesn't exist.").events(Events::Rename),
    CommandSpec::new("copy", -3, WRITE | DENYOOM, &[ks::range(1, 0, 1, RO | ACCESS), ks::range(2, 0, 1, OW | UPDATE)], copy, "generic", "Copies the value of a key to a new key.").events(Events::Copy),
    CommandSpec::new("keys", 2, READONLY, &[], keys, "generic", "Returns all key names that match a pattern."),
    CommandSpec::new("scan", -2, READONLY, &[], scan, "generic", "Iterates over the key names in the database."),
    CommandSpec::new("randomkey", 1, READONLY, &[], randomkey, "generic", "Returns a random key name from the database."),
    CommandSpec::new("move", 3, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], move_, "generic", "Moves a key to another database.").events(Events::Move),
    CommandSpec::new("swapdb", 3, WRITE | FAST, &[], swapdb, "server", "Swaps two Redis databases.").facts(facts::WATCH_SELF | facts::RESTARTS_SYNC).events(Events::None),
    CommandSpec::new("dbsize", 1, READONLY | FAST, &[], dbsize, "server", "Returns the number of keys in the database."),
    CommandSpec::container("object", -2, super::unknown_sub, "generic", "A container for object introspection commands.", OBJECT_SUBCOMMANDS),
];

/// DEL and UNLINK: only the keys that existed are modified (and notified, and touch
/// watchers).
fn del(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    let removed: Vec<Bytes> = a[1..]
        .iter()
        .filter(|k| db.remove(k, now).is_some())
        .cloned()
        .collect();
    let n = removed.len();
    ctx.dirty(n as u64);
    ctx.modified_only(removed);
    ctx.out.int(n as i64);
}

fn exists(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    let n = a[1..].iter().filter(|k| db.contains(k, now)).count();
    ctx.out.int(n as i64);
}

fn type_(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let t = ctx
        .db()
        .peek(&a[1], now)
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(t);
}

/// TOUCH is a read: it refreshes the access clock and counts as a hit or miss.
fn touch(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    let n = a[1..].iter().filter(|k| db.read(k, now).is_some()).count();
    ctx.out.int(n as i64);
}

fn rename(ctx: &mut Ctx, a: &[Bytes]) {
    rename_generic(ctx, a, false);
}

fn renamenx(ctx: &mut Ctx, a: &[Bytes]) {
    rename_generic(ctx, a, true);
}

/// RENAME and RENAMENX: the entry itself moves, keeping its TTL and access clock.
fn rename_generic(ctx: &mut Ctx, a: &[Bytes], nx: bool) {
    let now = ctx.now;
    let (src, dst) = (&a[1], &a[2]);
    let db = ctx.db();
    if !db.contains(src, now) {
        return ctx.err(errors::NO_KEY);
    }
    if src == dst {
        return if nx { ctx.out.int(0) } else { ctx.out.ok() };
    }
    if nx && db.contains(dst, now) {
        return ctx.out.int(0);
    }
    let Some(entry) = db.remove(src, now) else {
        return ctx.err(errors::NO_KEY);
    };
    db.insert_entry(entry.rekey(dst), now);
    ctx.dirty(1);
    if nx {
        ctx.out.int(1)
    } else {
        ctx.out.ok()
    }
}

/// Parses a database index as Redis's `getIntFromObjectOrReply`: an integer that fits in 32
/// bits, or the error reply to give.
fn int32(arg: &[u8]) -> Result<i64, &'static str> {
    let n = args::int(arg).ok_or(errors::NOT_INT)?;
    if i32::try_from(n).is_err() {
        return Err(INT32_RANGE);
    }
    Ok(n)
}

const INT32_RANGE: &str =
    "ERR value is out of range, value must between -2147483648 and 2147483647";

/// A database index argument checked against the number of databases: the selectable ones,
/// or, in cluster mode with database 0 only, every database the server has (as Redis, whose
/// cluster-mode refusal comes after this check).
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, &'static str> {
    let i = int32(arg)?;
    let n = if ctx.settings.single_cluster_db() {
        ctx.ks.dbs.len()
    } else {
        ctx.settings.selectable_dbs().min(ctx.ks.dbs.len())
    };
    (0..n as i64)
        .contains(&i)
        .then_some(i as usize)
        .ok_or(errors::DB_INDEX)
}

fn copy(ctx: &mut Ctx, a: &[Bytes]) {
    let src_db = ctx.conn.db.min(ctx.ks.dbs.len() - 1);
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if args::is(&a[i], "replace") {
            replace = true;
        } else if args::is(&a[i], "db") && i + 1 < a.len() {
            match db_index(ctx, &a[i + 1]) {
                Ok(d) => dst_db = d,
                Err(e) => return ctx.err(e),
            }
            i += 1;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        i += 1;
    }
    if ctx.settings.single_cluster_db() && (src_db != 0 || dst_db != 0) {
        return ctx.err("ERR Copying to another database is not allowed in cluster mode");
    }
    let (src, dst) = (&a[1], &a[2]);
    if src == dst && src_db == dst_db {
        return ctx.err("ERR source and destination objects are the same");
    }
    let now = ctx.now;
    let Some(e) = ctx.ks.dbs[src_db].read(src, now) else {
        return ctx.out.int(0);
    };
    let copy = Entry::boxed(dst, e.value.clone(), e.expire_at(), clock::lru_now(now));
    let target = &mut ctx.ks.dbs[dst_db];
    if target.contains(dst, now) && !replace {
        return ctx.out.int(0);
    }
    target.insert_entry(copy, now);
    ctx.dirty(1);
    ctx.out.int(1);
}

fn keys(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let pattern = crate::glob::Glob::new(&a[1], false);
    let (db, out) = ctx.db_out();
    let found: Vec<&[u8]> = db
        .iter(now)
        .map(|e| e.key())
        .filter(|k| pattern.matches(k))
        .collect();
    out.bulks(found);
}

/// Parses a SCAN cursor as Redis 7.2 does (`strtoul` base 10, then a check that the whole
/// argument was used and did not overflow): an optional sign then decimal digits, `-n`
/// wrapping modulo 2^64; leading spaces or trailing junk are refused; an empty argument is 0.
pub fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        // strtoul consumed nothing: valid only when there was nothing to consume.
        return arg.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// SCAN's options after the cursor.
struct ScanOpts<'a> {
    pattern: Option<crate::glob::Glob>,
    count: usize,
    type_name: Option<&'a [u8]>,
}

fn scan_opts<'a>(a: &'a [Bytes]) -> Result<ScanOpts<'a>, &'static str> {
    let mut o = ScanOpts {
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut i = 2;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else {
            return Err(errors::SYNTAX);
        };
        if args::is(&a[i], "match") {
            let g = crate::glob::Glob::new(v, false);
            o.pattern = (!g.matches_all()).then_some(g);
        } else if args::is(&a[i], "count") {
            let n = args::int(v).ok_or(errors::NOT_INT)?;
            if n < 1 {
                return Err(errors::SYNTAX);
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if args::is(&a[i], "type") {
            o.type_name = Some(v.as_ref());
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

fn scan(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(cursor) = parse_cursor(&a[1]) else {
        return ctx.err("ERR invalid cursor");
    };
    let o = match scan_opts(a) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = db.scan_reaping(cursor, o.count, now, |e| {
        let type_ok = o
            .type_name
            .is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()));
        let match_ok = o.pattern.as_ref().is_none_or(|p| p.matches(e.key()));
        if type_ok && match_ok {
            found.push(e.key().to_vec());
        }
    });
    out.array(2);
    out.bulk_str(&next.to_string());
    out.bulks(found);
}

fn randomkey(ctx: &mut Ctx, _a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match db.random_entry(&mut rand::thread_rng(), now) {
        Some(e) => out.bulk(e.key()),
        None => out.null(),
    }
}

fn move_(ctx: &mut Ctx, a: &[Bytes]) {
    if ctx.settings.single_cluster_db() {
        return ctx.err("ERR MOVE is not allowed in cluster mode");
    }
    let target = match db_index(ctx, &a[2]) {
        Ok(d) => d,
        Err(e) => return ctx.err(e),
    };
    let (src, dst) = (ctx.conn.db.min(ctx.ks.dbs.len() - 1), target);
    if src == dst {
        return ctx.err("ERR source and destination objects are the same");
    }
    let now = ctx.now;
    let key = &a[1];
    if !ctx.ks.dbs[src].contains(key, now) || ctx.ks.dbs[dst].contains(key, now) {
        return ctx.out.int(0);
    }
    let Some(entry) = ctx.ks.dbs[src].remove(key, now) else {
        return ctx.out.int(0);
    };
    ctx.ks.dbs[dst].insert_entry(entry, now);
    // The key is written in the destination database, where clients may wait for it.
    ctx.ks.blocked.mark_ready(dst, key);
    ctx.dirty(1);
    ctx.out.int(1);
}

/// SWAPDB exchanges whole databases: clients that selected one index see the other's data.
/// Refused in cluster mode even with `cluster-databases` (as Valkey 9): it would swap one
/// shard's part of two databases and leave every other shard's as it was.
fn swapdb(ctx: &mut Ctx, a: &[Bytes]) {
    if ctx.settings.cluster_enabled {
        return ctx.err("ERR SWAPDB is not allowed in cluster mode");
    }
    let int32 = |b: &[u8]| args::int(b).filter(|n| i32::try_from(*n).is_ok());
    let Some(i) = int32(&a[1]) else {
        return ctx.err("ERR invalid first DB index");
    };
    let Some(j) = int32(&a[2]) else {
        return ctx.err("ERR invalid second DB index");
    };
    let n = ctx.ks.dbs.len() as i64;
    if !(0..n).contains(&i) || !(0..n).contains(&j) {
        return ctx.err(errors::DB_INDEX);
    }
    let (x, y) = (i as usize, j as usize);
    if x != y {
        ctx.ks.watches.touch_db(&ctx.ks.dbs, x, Some(y), ctx.now);
        ctx.ks.watches.touch_db(&ctx.ks.dbs, y, Some(x), ctx.now);
    }
    if i != j {
        ctx.ks.dbs.swap(i as usize, j as usize);
        // Clients blocked in either database now wait on the other one's keys.
        ctx.ks.blocked.mark_db_ready(i as usize);
        ctx.ks.blocked.mark_db_ready(j as usize);
    }
    ctx.dirty(1);
    ctx.out.ok();
}

fn dbsize(ctx: &mut Ctx, _a: &[Bytes]) {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
}

/// Looks a key up for OBJECT without refreshing its clock; replies null when it is missing.
fn object_entry<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a Entry> {
    let now = ctx.now;
    let i = ctx.conn.db.min(ctx.ks.dbs.len() - 1);
    let db: &mut Db = &mut ctx.ks.dbs[i];
    let found = db.peek(key, now);
    if found.is_none() {
        ctx.out.null();
    }
    found
}

fn object_encoding(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(e) = object_entry(ctx, &a[2]) {
        let enc = e.value.encoding();
        ctx.out.bulk_str(enc);
    }
}

/// Whether the eviction policy keeps LFU counters (Redis's MAXMEMORY_FLAG_LFU).
fn lfu_policy(ctx: &Ctx) -> bool {
    ctx.settings.eviction_policy.is_lfu()
}

const LFU_SWITCH_NOTE: &str = "Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// The key's access word, or `None` after replying null for a missing key. OBJECT looks the
/// key up before checking the policy, so a missing key answers null under any policy.
fn object_access(ctx: &mut Ctx, key: &[u8]) -> Option<u32> {
    object_entry(ctx, key).map(|e| e.access)
}

fn object_idletime(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(access) = object_access(ctx, &a[2]) else {
        return;
    };
    if lfu_policy(ctx) {
        return ctx.err(&format!(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. {LFU_SWITCH_NOTE}"
        ));
    }
    let idle = clock::idle_seconds(access, ctx.now);
    ctx.out.int(idle as i64);
}

fn object_freq(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(access) = object_access(ctx, &a[2]) else {
        return;
    };
    if !lfu_policy(ctx) {
        return ctx.err(&format!(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. {LFU_SWITCH_NOTE}"
        ));
    }
    // The counter with decay applied (Redis's `LFUDecrAndReturn`), by the same math the
    // eviction policies use.
    let freq = crate::eviction::lfu::decayed(access, ctx.now, ctx.settings.lfu_decay_time);
    ctx.out.int(freq as i64);
}

/// Redis shares the integers 0..9999 between keys unless an LRU/LFU policy needs per-object
/// clocks; such values report the shared object's pinned refcount (`INT_MAX`).
fn object_refcount(ctx: &mut Ctx, a: &[Bytes]) {
    let policy_clock = ctx.settings.maxmemory != 0
        && (ctx.settings.maxmemory_policy.ends_with("-lru") || lfu_policy(ctx));
    if let Some(e) = object_entry(ctx, &a[2]) {
        let shared_int = match &e.value {
            Value::Str(s) => {
                !policy_clock
                    && crate::util::parse_i64_strict(s).is_some_and(|n| (0..10_000).contains(&n))
            }
            Value::Hash(_) | Value::List(_) | Value::Set(_) | Value::ZSet(_) | Value::Stream(_) => {
                false
            }
        };
        ctx.out.int(if shared_int { i32::MAX as i64 } else { 1 });
    }
}

fn object_help(ctx: &mut Ctx, _a: &[Bytes]) {
    super::reply_help(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"-18446744073709551615"), Some(1));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b"18446744073709551616"[..],
            b"1x",
            b" 1",
            b"-",
            b"+",
            b"abc",
            b"1.5",
        ] {
            assert_eq!(parse_cursor(bad), None, "{:?}", bad);
        }
    }
}
