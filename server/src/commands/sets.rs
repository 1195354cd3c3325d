//! Set commands (SADD, SREM, SPOP, SRANDMEMBER, the SINTER/SUNION/SDIFF algebra, SSCAN, ...).
//!
//! Every change goes through [`SetValue`]'s methods (`add`, `remove`, `remove_at`), which own
//! the encoding rules. A set left empty is deleted; a *STORE of an empty result deletes the
//! destination, as in Redis. Also home of the helpers HSCAN/HRANDFIELD share with SSCAN and
//! SRANDMEMBER (scan options, random counts and picks).

use super::bounds::{random_count, random_count_fits};
use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::types::set::{Elem, SetLimits};
use crate::keyspace::types::SetValue;
use crate::keyspace::{Db, SmallBytes, Ttl, Value};
use crate::keyspace_events::Events;
use crate::protocol::Out;
use bytes::Bytes;
use rand::Rng;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | INSERT)], sadd, "set", "Adds one or more members to a set. Creates the key if it doesn't exist."),
    CommandSpec::new("srem", -3, WRITE | FAST, &[ks::range(1, 0, 1, RW | DELETE)], srem, "set", "Removes one or more members from a set. Deletes the set if the last member was removed."),
    CommandSpec::new("scard", 2, READONLY | FAST, &[ks::range(1, 0, 1, RO)], scard, "set", "Returns the number of members in a set."),
    CommandSpec::new("sismember", 3, READONLY | FAST, &[ks::range(1, 0, 1, RO)], sismember, "set", "Determines whether a member belongs to a set."),
    CommandSpec::new("smismember", -3, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], smismember, "set", "Determines whether multiple members belong to a set."),
    CommandSpec::new("smembers", 2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], smembers, "set", "Returns all members of a set."),
    CommandSpec::new("srandmember", -2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], srandmember, "set", "Get one or multiple random members from a set"),
    CommandSpec::new("spop", -2, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE)], spop, "set", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    CommandSpec::new("smove", 4, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE), ks::range(2, 0, 1, RW | INSERT)], smove, "set", "Moves a member from one set to another.").events(Events::Smove),
    CommandSpec::new("sinter", -2, READONLY, &[ks::range(1, -1, 1, RO | ACCESS)], sinter, "set", "Returns the intersect of multiple sets."),
    CommandSpec::new("sintercard", -3, READONLY, &[ks::keynum(1, 0, 1, 1, RO | ACCESS)], sintercard, "set", "Returns the number of members of the intersect of multiple sets.").getkeys(sintercard_keys),
    CommandSpec::new("sunion", -2, READONLY, &[ks::range(1, -1, 1, RO | ACCESS)], sunion, "set", "Returns the union of multiple sets."),
    CommandSpec::new("sdiff", -2, READONLY, &[ks::range(1, -1, 1, RO | ACCESS)], sdiff, "set", "Returns the difference of multiple sets."),
    CommandSpec::new("sinterstore", -3, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | UPDATE), ks::range(2, -1, 1, RO | ACCESS)], sinterstore, "set", "Stores the intersect of multiple sets in a key.").events(Events::Store("sinterstore")),
    CommandSpec::new("sunionstore", -3, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE), ks::range(2, -1, 1, RO | ACCESS)], sunionstore, "set", "Stores the union of multiple sets in a key.").events(Events::Store("sunionstore")),
    CommandSpec::new("sdiffstore", -3, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE), ks::range(2, -1, 1, RO | ACCESS)], sdiffstore, "set", "Stores the difference of multiple sets in a key.").events(Events::Store("sdiffstore")),
    CommandSpec::new("sscan", -3, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], sscan, "set", "Iterates over members of a set."),
];

/// SINTERCARD's keys where its count does not parse (Redis's `sintercardGetKeys`).
fn sintercard_keys(a: &[Bytes]) -> Vec<KeyRef> {
    ks::generic_get_keys(0, 1, 2, 1, a)
}

/// `count` distinct positions below `len`, in random order (`count < len`).
pub fn sample_distinct(len: usize, count: usize) -> Vec<usize> {
    rand::seq::index::sample(&mut rand::thread_rng(), len, count.min(len)).into_vec()
}

/// Parsed `cursor [MATCH pattern] [COUNT n] [NOVALUES]` of SSCAN/HSCAN.
pub struct ScanOpts {
    pub cursor: u64,
    pub count: usize,
    pub pattern: Option<crate::glob::Glob>,
    pub novalues: bool,
}

impl ScanOpts {
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.as_ref().is_none_or(|p| p.matches(item))
    }
}

/// Parses a cursor as Redis's `strtoul` does: decimal, optional sign, and a negative value
/// wraps around (`-1` is 2^64-1).
fn parse_cursor(b: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    match s.strip_prefix('-') {
        Some(rest) if !rest.starts_with(['+', '-']) => {
            rest.parse::<u64>().ok().map(u64::wrapping_neg)
        }
        Some(_) => None,
        None => s.parse::<u64>().ok(),
    }
}

/// Parses SCAN-family arguments starting at `a[2]` (the cursor); NOVALUES only for HSCAN.
pub fn parse_scan_opts(a: &[Bytes], allow_novalues: bool) -> Result<ScanOpts, &'static str> {
    let cursor = parse_cursor(&a[2]).ok_or("ERR invalid cursor")?;
    let mut o = ScanOpts {
        cursor,
        count: 10,
        pattern: None,
        novalues: false,
    };
    let mut i = 3;
    while i < a.len() {
        if args::is(&a[i], "count") && i + 1 < a.len() {
            let n = args::int(&a[i + 1]).ok_or(errors::NOT_INT)?;
            if n < 1 {
                return Err(errors::SYNTAX);
            }
            o.count = n.min(i64::from(u32::MAX)) as usize;
            i += 2;
        } else if args::is(&a[i], "match") && i + 1 < a.len() {
            let g = crate::glob::Glob::new(&a[i + 1], false);
            o.pattern = (!g.matches_all()).then_some(g);
            i += 2;
        } else if allow_novalues && args::is(&a[i], "novalues") {
            o.novalues = true;
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok(o)
}

/// Writes one member as a bulk string.
fn bulk_elem(out: &mut Out, e: Elem<'_>) {
    match e {
        Elem::Int(n) => out.bulk(itoa::Buffer::new().format(n).as_bytes()),
        Elem::Bytes(b) => out.bulk(b),
    }
}

/// The set at `key` for reading (counts a hit or miss); `Err` when it holds another type.
fn lookup<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a SetValue>, ()> {
    match db.read(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(()),
        },
    }
}

/// Like [`lookup`] without touching statistics (second passes over the same keys).
fn peek<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Option<&'a SetValue> {
    match db.peek(key, now).map(|e| &e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

/// The set at `key` for writing; `Err` when it holds another type.
fn lookup_mut<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut SetValue>, ()> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(()),
        },
    }
}

/// Deletes `key` if a write left its set empty.
fn drop_if_empty(db: &mut Db, key: &[u8], now: u64) {
    if peek(db, key, now).is_some_and(|s| s.is_empty()) {
        db.remove(key, now);
    }
}

fn sadd(ctx: &mut Ctx, a: &[Bytes]) {
    let limits = SetLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let db = ctx.db();
    let hint = a.len() - 2;
    match lookup_mut(db, &a[1], now) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(Some(s)) => s.prepare(hint, limits),
        Ok(None) => {
            let s = SetValue::for_first(&a[2], hint, limits);
            db.set(&a[1], Value::Set(s), Ttl::Persist, now);
        }
    }
    let Ok(Some(s)) = lookup_mut(db, &a[1], now) else {
        return ctx.err(errors::WRONGTYPE);
    };
    let added = a[2..].iter().filter(|m| s.add(m, limits)).count();
    if added > 0 {
        ctx.dirty(added as u64);
    }
    ctx.out.int(added as i64);
}

fn srem(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    let removed = match lookup_mut(db, &a[1], now) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(s)) => a[2..].iter().filter(|m| s.remove(m)).count(),
    };
    if removed > 0 {
        drop_if_empty(db, &a[1], now);
        ctx.dirty(removed as u64);
    }
    ctx.out.int(removed as i64);
}

fn scard(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match lookup(db, &a[1], now) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(s) => out.int(s.map_or(0, |s| s.len() as i64)),
    }
}

fn sismember(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match lookup(db, &a[1], now) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(s) => out.int(s.is_some_and(|s| s.contains(&a[2])) as i64),
    }
}

fn smismember(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let Ok(s) = lookup(db, &a[1], now) else {
        return out.error(errors::WRONGTYPE);
    };
    out.array(a.len() - 2);
    for m in &a[2..] {
        out.int(s.is_some_and(|s| s.contains(m)) as i64);
    }
}

fn smembers(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match lookup(db, &a[1], now) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(None) => out.set(0),
        Ok(Some(s)) => {
            out.set(s.len());
            s.iter().for_each(|e| bulk_elem(out, e));
        }
    }
}

fn srandmember(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    if a.len() > 3 {
        return ctx.err(errors::SYNTAX);
    }
    let count = match a.get(2).map(|c| random_count(c)) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return ctx.err(&e),
    };
    let (db, out) = ctx.db_out();
    let s = match lookup(db, &a[1], now) {
        Err(()) => return out.error(errors::WRONGTYPE),
        Ok(s) => s,
    };
    match (s, count) {
        (None, None) => out.null(),
        (None, Some(_)) => out.array(0),
        (Some(s), None) => {
            let i = rand::thread_rng().gen_range(0..s.len().max(1));
            match s.elem_at(i) {
                Some(e) => bulk_elem(out, e),
                None => out.null(),
            }
        }
        (Some(s), Some(c))
            if !random_count_fits(c, s.memory(), || {
                s.iter().map(|e| e.to_small().len()).max().unwrap_or(0)
            }) =>
        {
            out.error("ERR value is out of range")
        }
        (Some(s), Some(c)) => random_members(out, s, c),
    }
}

/// SRANDMEMBER with a count: distinct members when positive, repetitions allowed when
/// negative.
fn random_members(out: &mut Out, s: &SetValue, count: i64) {
    let listpack: Vec<Elem<'_>> = if s.encoding() == "listpack" {
        s.iter().collect()
    } else {
        Vec::new()
    };
    let at = |i: usize| listpack.get(i).copied().or_else(|| s.elem_at(i));
    let len = s.len();
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        let mut rng = rand::thread_rng();
        out.array(n);
        for _ in 0..n {
            bulk_elem(
                out,
                at(rng.gen_range(0..len.max(1))).unwrap_or(Elem::Bytes(b"")),
            );
        }
    } else if count as u64 >= len as u64 {
        out.array(len);
        s.iter().for_each(|e| bulk_elem(out, e));
    } else {
        let picks = sample_distinct(len, count as usize);
        out.array(picks.len());
        for i in picks {
            bulk_elem(out, at(i).unwrap_or(Elem::Bytes(b"")));
        }
    }
}

fn spop(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    if a.len() > 3 {
        return ctx.err(errors::SYNTAX);
    }
    let count = match a.get(2).map(|c| args::int(c)) {
        None => None,
        Some(Some(c)) if c >= 0 => Some(c as u64),
        Some(_) => return ctx.err("ERR value is out of range, must be positive"),
    };
    let db = ctx.db();
    let s = match lookup_mut(db, &a[1], now) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(None) if count.is_some() => return ctx.out.set(0),
        Ok(None) => return ctx.out.null(),
        Ok(Some(s)) => s,
    };
    let n = count.unwrap_or(1).min(s.len() as u64) as usize;
    let popped: Vec<SmallBytes> = if n == s.len() {
        s.take_all()
    } else {
        s.pop_random(n)
    };
    let emptied = !popped.is_empty() && s.is_empty();
    if !popped.is_empty() {
        drop_if_empty(db, &a[1], now);
        ctx.dirty(popped.len() as u64);
        // Replicas must remove exactly these members, not pick their own at random. As
        // Redis: SPOP without a count is always an SREM, with a count that takes the whole
        // set a DEL.
        let effect = if emptied && count.is_some() {
            vec![Bytes::from_static(b"DEL"), a[1].clone()]
        } else {
            let mut e = vec![Bytes::from_static(b"SREM"), a[1].clone()];
            e.extend(popped.iter().map(|m| Bytes::copy_from_slice(m)));
            e
        };
        ctx.propagate_as(vec![effect]);
    }
    match count {
        None => match popped.first() {
            Some(m) => ctx.out.bulk(m),
            None => ctx.out.null(),
        },
        Some(_) => {
            ctx.out.set(popped.len());
            popped.iter().for_each(|m| ctx.out.bulk(m));
        }
    }
}

fn smove(ctx: &mut Ctx, a: &[Bytes]) {
    let limits = SetLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let (src, dst, m) = (&a[1], &a[2], &a[3]);
    let db = ctx.db();
    let src_has = match lookup_mut(db, src, now) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s.contains(m),
    };
    if lookup_mut(db, dst, now).is_err() {
        return ctx.err(errors::WRONGTYPE);
    }
    if src == dst || !src_has {
        return ctx.out.int(src_has as i64);
    }
    if let Ok(Some(s)) = lookup_mut(db, src, now) {
        s.remove(m);
    }
    drop_if_empty(db, src, now);
    if !db.contains(dst, now) {
        let s = SetValue::for_first(m, 1, limits);
        db.set(dst, Value::Set(s), Ttl::Persist, now);
    }
    let added = match lookup_mut(db, dst, now) {
        Ok(Some(d)) => d.add(m, limits),
        _ => false,
    };
    if added {
        ctx.dirty(2);
    } else {
        // The destination already held the member: only the source changed (its WATCHers
        // keep their transactions, as in Redis).
        ctx.dirty(1);
        ctx.modified_only(vec![src.clone()]);
    }
    ctx.out.int(1);
}

/// Checks every key's type (counting hits and misses once per key) and returns the sizes,
/// `None` for a missing key; `Err` when some key holds another type.
fn sizes(db: &mut Db, keys: &[Bytes], now: u64) -> Result<Vec<Option<usize>>, ()> {
    keys.iter()
        .map(|k| lookup(db, k, now).map(|s| s.map(|s| s.len())))
        .collect()
}

/// The intersection of the sets at `keys`, stopping after `limit` members (0: no limit).
/// Walks the smallest set and probes the others, as Redis does.
fn intersect(db: &mut Db, keys: &[Bytes], now: u64, limit: usize) -> Result<Vec<SmallBytes>, ()> {
    let sizes = sizes(db, keys, now)?;
    if sizes.iter().any(|s| s.is_none()) {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let Some((&first, rest)) = order.split_first() else {
        return Ok(Vec::new());
    };
    let mut cands: Vec<SmallBytes> = match peek(db, &keys[first], now) {
        Some(s) => s.iter().map(|e| e.to_small()).collect(),
        None => return Ok(Vec::new()),
    };
    for &i in rest {
        let Some(s) = peek(db, &keys[i], now) else {
            return Ok(Vec::new());
        };
        cands.retain(|m| s.contains(m));
    }
    if limit > 0 {
        cands.truncate(limit);
    }
    Ok(cands)
}

/// The union or difference of the sets at `keys`, built as a set under `limits`.
fn union_or_diff(
    db: &mut Db,
    keys: &[Bytes],
    now: u64,
    diff: bool,
    limits: SetLimits,
) -> Result<SetValue, ()> {
    sizes(db, keys, now)?;
    let mut acc = SetValue::new();
    for (n, k) in keys.iter().enumerate() {
        let Some(s) = peek(db, k, now) else {
            if diff && n == 0 {
                break;
            }
            continue;
        };
        if !diff || n == 0 {
            for e in s.iter() {
                acc.add(&e.to_small(), limits);
            }
        } else if acc.len() < s.len() {
            let gone: Vec<SmallBytes> = acc
                .iter()
                .map(|e| e.to_small())
                .filter(|m| s.contains(m))
                .collect();
            gone.iter().for_each(|m| {
                acc.remove(m);
            });
        } else {
            for e in s.iter() {
                acc.remove(&e.to_small());
            }
        }
        if diff && acc.is_empty() {
            break;
        }
    }
    Ok(acc)
}

/// Replies with members as a RESP3 set (an array in RESP2).
fn reply_members<'a>(out: &mut Out, members: impl ExactSizeIterator<Item = Elem<'a>>) {
    out.set(members.len());
    members.for_each(|e| bulk_elem(out, e));
}

fn sinter(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match intersect(db, &a[1..], now, 0) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(v) => reply_members(out, v.iter().map(|m| Elem::Bytes(m))),
    }
}

fn sintercard(ctx: &mut Ctx, a: &[Bytes]) {
    const NUMKEYS_ERR: &str = "ERR numkeys should be greater than 0";
    let numkeys = match args::int(&a[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return ctx.err(NUMKEYS_ERR),
    };
    if numkeys > (a.len() - 2) as u64 {
        return ctx.err("ERR Number of keys can't be greater than number of args");
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut i = keys_end;
    while i < a.len() {
        if args::is(&a[i], "limit") && i + 1 < a.len() {
            match args::int(&a[i + 1]) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return ctx.err("ERR LIMIT can't be negative"),
            }
            i += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match intersect(db, &a[2..keys_end], now, limit) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(v) => out.int(v.len() as i64),
    }
}

fn sunion(ctx: &mut Ctx, a: &[Bytes]) {
    union_diff_reply(ctx, a, false);
}

fn sdiff(ctx: &mut Ctx, a: &[Bytes]) {
    union_diff_reply(ctx, a, true);
}

fn union_diff_reply(ctx: &mut Ctx, a: &[Bytes], diff: bool) {
    let limits = SetLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match union_or_diff(db, &a[1..], now, diff, limits) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(s) => {
            out.set(s.len());
            s.iter().for_each(|e| bulk_elem(out, e));
        }
    }
}

/// Stores a *STORE result at `dst` (deleting `dst` when empty) and replies with its size.
fn store(ctx: &mut Ctx, dst: &[u8], result: SetValue) {
    let now = ctx.now;
    let n = result.len();
    let db = ctx.db();
    let changed = if n == 0 {
        db.remove(dst, now).is_some()
    } else {
        db.set(dst, Value::Set(result), Ttl::Persist, now);
        true
    };
    if changed {
        ctx.dirty(1);
    }
    ctx.out.int(n as i64);
}

fn sinterstore(ctx: &mut Ctx, a: &[Bytes]) {
    let limits = SetLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let members = match intersect(ctx.db(), &a[2..], now, 0) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(v) => v,
    };
    let mut result = SetValue::new();
    for m in &members {
        result.add(m, limits);
    }
    store(ctx, &a[1], result);
}

fn sunionstore(ctx: &mut Ctx, a: &[Bytes]) {
    union_diff_store(ctx, a, false);
}

fn sdiffstore(ctx: &mut Ctx, a: &[Bytes]) {
    union_diff_store(ctx, a, true);
}

fn union_diff_store(ctx: &mut Ctx, a: &[Bytes], diff: bool) {
    let limits = SetLimits::from_settings(ctx.settings);
    let now = ctx.now;
    match union_or_diff(ctx.db(), &a[2..], now, diff, limits) {
        Err(()) => ctx.err(errors::WRONGTYPE),
        Ok(s) => store(ctx, &a[1], s),
    }
}

fn sscan(ctx: &mut Ctx, a: &[Bytes]) {
    let opts = match parse_scan_opts(a, false) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let s = match lookup(db, &a[1], now) {
        Err(()) => return out.error(errors::WRONGTYPE),
        Ok(s) => s,
    };
    let mut found: Vec<SmallBytes> = Vec::new();
    let next = match s {
        None => 0,
        Some(s) => s.scan(opts.cursor, opts.count, |e| {
            let m = e.to_small();
            if opts.matches(&m) {
                found.push(m);
            }
        }),
    };
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.bulks(found.iter().map(|m| m.as_slice()));
}
