//! Hash commands (HSET, HGET, HINCRBY, HRANDFIELD, HSCAN, ...).
//!
//! Handlers parse and reply; every change to a hash goes through [`HashValue`]'s own methods
//! (`set`, `remove`), which keep the encoding rules in one place and give replication one
//! place to observe effects. A hash left empty by a command is deleted, as in Redis.

use super::bounds::{random_count, random_count_fits};
use super::keyspec::{self as ks, key_flags::*};
use super::sets::{parse_scan_opts, sample_distinct, ScanOpts};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::field_expire;
use crate::keyspace::types::hash::HashLimits;
use crate::keyspace::types::HashValue;
use crate::keyspace::{Db, Ttl, Value};
use crate::keyspace_events::Events;
use bytes::Bytes;
use rand::Rng;
use std::borrow::Cow;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], hset, "hash", "Creates or modifies the value of a field in a hash."),
    CommandSpec::new("hmset", -4, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], hset, "hash", "Sets the values of multiple fields.").events(Events::Named("hset")),
    CommandSpec::new("hsetnx", 4, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | INSERT)], hsetnx, "hash", "Sets the value of a field in a hash only when the field doesn't exist.").events(Events::Named("hset")),
    CommandSpec::new("hget", 3, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], hget, "hash", "Returns the value of a field in a hash."),
    CommandSpec::new("hmget", -3, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], hmget, "hash", "Returns the values of all fields in a hash."),
    CommandSpec::new("hdel", -3, WRITE | FAST, &[ks::range(1, 0, 1, RW | DELETE)], hdel, "hash", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain."),
    CommandSpec::new("hlen", 2, READONLY | FAST, &[ks::range(1, 0, 1, RO)], hlen, "hash", "Returns the number of fields in a hash."),
    CommandSpec::new("hstrlen", 3, READONLY | FAST, &[ks::range(1, 0, 1, RO)], hstrlen, "hash", "Returns the length of the value of a field."),
    CommandSpec::new("hexists", 3, READONLY | FAST, &[ks::range(1, 0, 1, RO)], hexists, "hash", "Determines whether a field exists in a hash."),
    CommandSpec::new("hkeys", 2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], hkeys, "hash", "Returns all fields in a hash."),
    CommandSpec::new("hvals", 2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], hvals, "hash", "Returns all values in a hash."),
    CommandSpec::new("hgetall", 2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], hgetall, "hash", "Returns all fields and values in a hash."),
    CommandSpec::new("hincrby", 4, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], hincrby, "hash", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist."),
    CommandSpec::new("hincrbyfloat", 4, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], hincrbyfloat, "hash", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist."),
    CommandSpec::new("hrandfield", -2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], hrandfield, "hash", "Returns one or more random fields from a hash."),
    CommandSpec::new("hscan", -3, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], hscan, "hash", "Iterates over fields and values of a hash."),
];

/// Which fields a command is about to look at: expired fields among them are reclaimed
/// first (lazy field expiry), so handlers never see them.
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    /// These fields only (point reads and writes: the work stays proportional to them).
    Fields(&'a [Bytes]),
    /// The whole hash (HGETALL, HLEN, HSCAN, ...: already proportional to its size).
    All,
}

/// Reclaims the expired fields `scope` covers (see [`field_expire`]).
fn reap(db: &mut Db, key: &[u8], now: u64, scope: Scope) {
    match scope {
        Scope::Fields(f) => {
            field_expire::reap_fields(db, key, f, now);
        }
        Scope::All => {
            field_expire::reap(db, key, now, usize::MAX);
        }
    }
}

/// The hash at `key` for reading; `Err` when the key holds another type. Where expired
/// fields are kept (a replica), a whole-hash read gets a copy without them, and point reads
/// go through [`live`].
pub(super) fn lookup<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    scope: Scope,
) -> Result<Option<Cow<'a, HashValue>>, ()> {
    reap(db, key, now, scope);
    let keep = db.keep_expired;
    match db.read(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Hash(h) => Ok(Some(match scope {
                Scope::All => field_expire::visible(h, keep, now),
                Scope::Fields(_) => Cow::Borrowed(h),
            })),
            _ => Err(()),
        },
    }
}

/// A field's value unless it has expired (still stored only where expired fields are kept).
pub(super) fn live<'h>(h: &'h HashValue, field: &[u8], now: u64) -> Option<&'h [u8]> {
    match h.expiry(field) {
        Some(Some(at)) if at <= now => None,
        _ => h.get(field),
    }
}

/// The hash at `key` for writing, created empty when absent and `create` is set; `Err` when
/// the key holds another type.
pub(super) fn lookup_mut<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    create: bool,
    scope: Scope,
) -> Result<Option<&'a mut HashValue>, ()> {
    reap(db, key, now, scope);
    if create && !db.contains(key, now) {
        db.set(key, Value::Hash(Default::default()), Ttl::Persist, now);
    }
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(()),
        },
    }
}

/// Deletes `key` if a write left its hash empty; true when it did.
pub(super) fn drop_if_empty(db: &mut Db, key: &[u8], now: u64) -> bool {
    if matches!(db.peek(key, now).map(|e| &e.value), Some(Value::Hash(h)) if h.is_empty()) {
        db.remove(key, now);
        return true;
    }
    false
}

fn hset(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() % 2 == 1 {
        return ctx.err(&errors::arity(&args::name(a)));
    }
    let limits = HashLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let fields: Vec<Bytes> = a[2..].iter().step_by(2).cloned().collect();
    let Ok(Some(h)) = lookup_mut(ctx.db(), &a[1], now, true, Scope::Fields(&fields)) else {
        return ctx.err(errors::WRONGTYPE);
    };
    let pairs = (a.len() - 2) / 2;
    let longest = a[2..].iter().map(|b| b.len()).max().unwrap_or(0);
    h.prepare(pairs, longest, limits);
    let created = a[2..]
        .chunks_exact(2)
        .filter(|p| h.set(&p[0], &p[1], limits))
        .count();
    ctx.dirty(pairs as u64);
    if args::is(&a[0], "hmset") {
        ctx.out.ok();
    } else {
        ctx.out.int(created as i64);
    }
}

fn hsetnx(ctx: &mut Ctx, a: &[Bytes]) {
    let limits = HashLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let db = ctx.db();
    match lookup_mut(db, &a[1], now, false, Scope::Fields(&a[2..3])) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(Some(h)) if h.contains(&a[2]) => return ctx.out.int(0),
        _ => {}
    }
    if let Ok(Some(h)) = lookup_mut(db, &a[1], now, true, Scope::Fields(&[])) {
        h.set(&a[2], &a[3], limits);
    }
    ctx.dirty(1);
    ctx.out.int(1);
}

fn hget(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match lookup(db, &a[1], now, Scope::Fields(&a[2..3])) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(h) => match h.as_deref().and_then(|h| live(h, &a[2], now)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        },
    }
}

fn hmget(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let Ok(h) = lookup(db, &a[1], now, Scope::Fields(&a[2..])) else {
        return out.error(errors::WRONGTYPE);
    };
    let h = h.as_deref();
    out.array(a.len() - 2);
    for f in &a[2..] {
        match h.and_then(|h| live(h, f, now)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
}

fn hdel(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    let removed = match lookup_mut(db, &a[1], now, false, Scope::Fields(&a[2..])) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(h)) => a[2..].iter().filter(|f| h.remove(f)).count(),
    };
    if removed > 0 {
        drop_if_empty(db, &a[1], now);
        ctx.dirty(removed as u64);
    }
    ctx.out.int(removed as i64);
}

/// Replies with a number derived from the hash (0 when the key is missing).
fn reply_with_len(ctx: &mut Ctx, key: &[u8], scope: Scope, f: impl FnOnce(&HashValue, u64) -> i64) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match lookup(db, key, now, scope) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(h) => out.int(h.as_deref().map_or(0, |h| f(h, now))),
    }
}

fn hlen(ctx: &mut Ctx, a: &[Bytes]) {
    // As Redis's HLEN: fields stored, expired ones not yet reclaimed included (O(1)).
    reply_with_len(ctx, &a[1], Scope::Fields(&[]), |h, _| h.len() as i64);
}

fn hstrlen(ctx: &mut Ctx, a: &[Bytes]) {
    reply_with_len(ctx, &a[1], Scope::Fields(&a[2..3]), |h, now| {
        live(h, &a[2], now).map_or(0, |v| v.len() as i64)
    });
}

fn hexists(ctx: &mut Ctx, a: &[Bytes]) {
    reply_with_len(ctx, &a[1], Scope::Fields(&a[2..3]), |h, now| {
        live(h, &a[2], now).is_some() as i64
    });
}

/// HKEYS, HVALS and HGETALL: the whole hash, shaped by `fields`/`values`.
fn reply_all(ctx: &mut Ctx, key: &[u8], fields: bool, values: bool) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let h = match lookup(db, key, now, Scope::All) {
        Err(()) => return out.error(errors::WRONGTYPE),
        Ok(h) => h,
    };
    let h = h.as_deref();
    let n = h.map_or(0, |h| h.len());
    if fields && values {
        out.map(n);
    } else {
        out.array(n);
    }
    for (f, v) in h.into_iter().flat_map(|h| h.iter()) {
        if fields {
            out.bulk(f);
        }
        if values {
            out.bulk(v);
        }
    }
}

fn hkeys(ctx: &mut Ctx, a: &[Bytes]) {
    reply_all(ctx, &a[1], true, false);
}

fn hvals(ctx: &mut Ctx, a: &[Bytes]) {
    reply_all(ctx, &a[1], false, true);
}

fn hgetall(ctx: &mut Ctx, a: &[Bytes]) {
    reply_all(ctx, &a[1], true, true);
}

/// Reads the current value of a field for HINCRBY/HINCRBYFLOAT and stores the new one
/// computed by `f` (which may refuse with an error message).
fn update_field(
    ctx: &mut Ctx,
    a: &[Bytes],
    f: impl FnOnce(Option<&[u8]>) -> Result<String, &'static str>,
) -> Option<String> {
    let limits = HashLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let db = ctx.db();
    let new = match lookup_mut(db, &a[1], now, false, Scope::Fields(&a[2..3])) {
        Err(()) => Err(errors::WRONGTYPE),
        Ok(h) => f(h.and_then(|h| h.get(&a[2]))),
    };
    let new = match new {
        Ok(v) => v,
        Err(e) => {
            ctx.err(e);
            return None;
        }
    };
    if let Ok(Some(h)) = lookup_mut(db, &a[1], now, true, Scope::Fields(&[])) {
        // The field keeps its TTL, as Redis's HINCRBY does.
        h.set_keep_ttl(&a[2], new.as_bytes(), limits);
    }
    ctx.dirty(1);
    Some(new)
}

fn hincrby(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(incr) = args::int(&a[3]) else {
        return ctx.err(errors::NOT_INT);
    };
    let res = update_field(ctx, a, |cur| {
        let cur = match cur {
            None => 0,
            Some(v) => {
                crate::util::parse_i64_strict(v).ok_or("ERR hash value is not an integer")?
            }
        };
        let n = cur.checked_add(incr).ok_or(errors::OVERFLOW)?;
        Ok(n.to_string())
    });
    if let Some(v) = res {
        ctx.out.int(v.parse().unwrap_or(0));
    }
}

/// With INCRBYFLOAT's long-double arithmetic (as Redis: `0.1` then `0.2` gives `0.3`, and
/// `1e308` twice is finite), not f64's.
fn hincrbyfloat(ctx: &mut Ctx, a: &[Bytes]) {
    use super::strings::ld;
    let Some(incr) = ld::parse(&a[3]) else {
        return ctx.err(errors::NOT_FLOAT);
    };
    if !incr.is_finite() {
        return ctx.err("ERR value is NaN or Infinity");
    }
    let res = update_field(ctx, a, |cur| {
        let cur = match cur {
            None => ld::parse(b"0").ok_or(errors::NOT_FLOAT)?,
            Some(v) => ld::parse(v).ok_or("ERR hash value is not a float")?,
        };
        let n = ld::add(cur, incr);
        if !n.is_finite() {
            return Err("ERR increment would produce NaN or Infinity");
        }
        Ok(ld::format_human(n))
    });
    if let Some(v) = res {
        ctx.out.bulk(v.as_bytes());
    }
}

fn hrandfield(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    if a.len() == 2 {
        let (db, out) = ctx.db_out();
        return match lookup(db, &a[1], now, Scope::All) {
            Err(()) => out.error(errors::WRONGTYPE),
            Ok(None) => out.null(),
            Ok(Some(h)) => {
                let i = rand::thread_rng().gen_range(0..h.len().max(1));
                match h.pair_at(i) {
                    Some((f, _)) => out.bulk(f),
                    None => out.null(),
                }
            }
        };
    }
    let count = match random_count(&a[2]) {
        Ok(c) => c,
        Err(e) => return ctx.err(&e),
    };
    let withvalues = a.len() == 4 && args::is(&a[3], "withvalues");
    if a.len() > 4 || (a.len() == 4 && !withvalues) {
        return ctx.err(errors::SYNTAX);
    }
    if withvalues && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return ctx.err("ERR value is out of range");
    }
    let (db, out) = ctx.db_out();
    match lookup(db, &a[1], now, Scope::All) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(None) => out.array(0),
        Ok(Some(h))
            if !random_count_fits(count, h.memory(), || {
                h.iter()
                    .map(|(f, v)| f.len() + if withvalues { v.len() } else { 0 })
                    .max()
                    .unwrap_or(0)
            }) =>
        {
            out.error("ERR value is out of range")
        }
        Ok(Some(h)) => random_pairs(out, &h, count, withvalues),
    }
}

/// Writes HRANDFIELD's reply for a count: distinct fields for a positive count, fields drawn
/// with repetition for a negative one. RESP3 pairs each field with its value in a 2-array.
fn random_pairs(out: &mut crate::protocol::Out, h: &HashValue, count: i64, withvalues: bool) {
    let pairs: Vec<(&[u8], &[u8])> = if h.encoding() == "listpack" {
        h.iter().collect()
    } else {
        Vec::new()
    };
    let at = |i: usize| pairs.get(i).copied().or_else(|| h.pair_at(i));
    let picks: Box<dyn Iterator<Item = usize>> = if count < 0 {
        let len = h.len();
        let mut rng = rand::thread_rng();
        Box::new((0..count.unsigned_abs()).map(move |_| rng.gen_range(0..len.max(1))))
    } else if count as u64 >= h.len() as u64 {
        Box::new(0..h.len())
    } else {
        Box::new(sample_distinct(h.len(), count as usize).into_iter())
    };
    let n = if count < 0 {
        count.unsigned_abs() as usize
    } else {
        (count as usize).min(h.len())
    };
    let resp3_pairs = withvalues && out.resp3;
    out.array(if withvalues && !out.resp3 { n * 2 } else { n });
    for i in picks {
        let (f, v) = at(i).unwrap_or((b"", b""));
        if resp3_pairs {
            out.array(2);
        }
        out.bulk(f);
        if withvalues {
            out.bulk(v);
        }
    }
}

fn hscan(ctx: &mut Ctx, a: &[Bytes]) {
    let opts: ScanOpts = match parse_scan_opts(a, true) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let h = match lookup(db, &a[1], now, Scope::All) {
        Err(()) => return out.error(errors::WRONGTYPE),
        Ok(h) => h,
    };
    let h = h.as_deref();
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let next = match h {
        None => 0,
        Some(h) => h.scan(opts.cursor, opts.count, |f, v| {
            if opts.matches(f) {
                found.push((f, v));
            }
        }),
    };
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(if opts.novalues {
        found.len()
    } else {
        found.len() * 2
    });
    for (f, v) in found {
        out.bulk(f);
        if !opts.novalues {
            out.bulk(v);
        }
    }
}
