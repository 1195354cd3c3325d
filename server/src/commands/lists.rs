//! List commands, blocking ones included.
//!
//! A blocking command that finds nothing calls `ctx.block_on(keys, timeout)`; when a later
//! write makes one of its keys ready, the dispatcher re-runs it (under the same lock as that
//! write) and hands the reply to the parked connection. Blocking commands replicate as their
//! non-blocking effect (BLPOP as LPOP, BLMOVE as LMOVE).

use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::table::Blocks;
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::types::list::{ListLimits, ListValue};
use crate::keyspace::{Db, SmallBytes, Ttl, Value};
use crate::keyspace_events::Events;
use bytes::Bytes;

const W: u32 = WRITE | DENYOOM | FAST;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, W, &[ks::range(1, 0, 1, RW | INSERT)], lpush, "list", "Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    CommandSpec::new("rpush", -3, W, &[ks::range(1, 0, 1, RW | INSERT)], rpush, "list", "Appends one or more elements to a list. Creates the key if it doesn't exist."),
    CommandSpec::new("lpushx", -3, W, &[ks::range(1, 0, 1, RW | INSERT)], lpushx, "list", "Prepends one or more elements to a list only when the list exists.").events(Events::Named("lpush")),
    CommandSpec::new("rpushx", -3, W, &[ks::range(1, 0, 1, RW | INSERT)], rpushx, "list", "Appends an element to a list only when the list exists.").events(Events::Named("rpush")),
    CommandSpec::new("lpop", -2, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE)], lpop, "list", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    CommandSpec::new("rpop", -2, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE)], rpop, "list", "Returns and removes the last elements of a list. Deletes the list if the last element was popped."),
    CommandSpec::new("llen", 2, READONLY | FAST, &[ks::range(1, 0, 1, RO)], llen, "list", "Returns the length of a list."),
    CommandSpec::new("lrange", 4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], lrange, "list", "Returns a range of elements from a list."),
    CommandSpec::new("lindex", 3, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], lindex, "list", "Returns an element from a list by its index."),
    CommandSpec::new("lset", 4, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | UPDATE)], lset, "list", "Sets the value of an element in a list by its index."),
    CommandSpec::new("linsert", 5, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | INSERT)], linsert, "list", "Inserts an element before or after another element in a list."),
    CommandSpec::new("lrem", 4, WRITE, &[ks::range(1, 0, 1, RW | DELETE)], lrem, "list", "Removes elements from a list. Deletes the list if the last element was removed."),
    CommandSpec::new("ltrim", 4, WRITE, &[ks::range(1, 0, 1, RW | DELETE)], ltrim, "list", "Removes elements from both ends a list. Deletes the list if all elements were trimmed."),
    CommandSpec::new("lpos", -3, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], lpos, "list", "Returns the index of matching elements in a list."),
    CommandSpec::new("lmove", 5, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | ACCESS | DELETE), ks::range(2, 0, 1, RW | INSERT)], lmove, "list", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.").events(Events::ListMove { sides: true }),
    CommandSpec::new("rpoplpush", 3, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | ACCESS | DELETE), ks::range(2, 0, 1, RW | INSERT)], rpoplpush, "list", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.").events(Events::ListMove { sides: false }),
    CommandSpec::new("lmpop", -4, WRITE, &[ks::keynum(1, 0, 1, 1, RW | ACCESS | DELETE)], lmpop, "list", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.").events(Events::AsEffects("lmpop")).getkeys(lmpop_keys),
    CommandSpec::new("blpop", -3, WRITE | BLOCKING | NOSCRIPT, &[ks::range(1, -2, 1, RW | ACCESS | DELETE)], blpop, "list", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.").blocks(Blocks::List).events(Events::AsEffects("lpop")),
    CommandSpec::new("brpop", -3, WRITE | BLOCKING | NOSCRIPT, &[ks::range(1, -2, 1, RW | ACCESS | DELETE)], brpop, "list", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.").blocks(Blocks::List).events(Events::AsEffects("rpop")),
    CommandSpec::new("blmove", 6, WRITE | DENYOOM | BLOCKING | NOSCRIPT, &[ks::range(1, 0, 1, RW | ACCESS | DELETE), ks::range(2, 0, 1, RW | INSERT)], blmove, "list", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.").blocks(Blocks::List).events(Events::AsEffects("blmove")),
    CommandSpec::new("brpoplpush", 4, WRITE | DENYOOM | BLOCKING | NOSCRIPT, &[ks::range(1, 0, 1, RW | ACCESS | DELETE), ks::range(2, 0, 1, RW | INSERT)], brpoplpush, "list", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.").blocks(Blocks::List).events(Events::AsEffects("brpoplpush")),
    CommandSpec::new("blmpop", -5, WRITE | BLOCKING, &[ks::keynum(2, 0, 1, 1, RW | ACCESS | DELETE)], blmpop, "list", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.").blocks(Blocks::List).events(Events::AsEffects("blmpop")).getkeys(blmpop_keys),
];

/// LMPOP's keys where its count does not parse (Redis's `lmpopGetKeys`).
fn lmpop_keys(a: &[Bytes]) -> Vec<KeyRef> {
    ks::generic_get_keys(0, 1, 2, 1, a)
}

/// BLMPOP's keys where its count does not parse (Redis's `blmpopGetKeys`).
fn blmpop_keys(a: &[Bytes]) -> Vec<KeyRef> {
    ks::generic_get_keys(0, 2, 3, 1, a)
}

/// The list at `key`: `Ok(None)` when absent, `Err(())` when another type.
fn list_mut<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut ListValue>, ()> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(()),
        },
    }
}

fn list_read<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a ListValue>, ()> {
    match db.read(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(()),
        },
    }
}

/// Deletes `key` if its list is now empty (Redis never keeps empty collections).
fn drop_if_empty(db: &mut Db, key: &[u8], now: u64) {
    if matches!(list_mut(db, key, now), Ok(Some(l)) if l.is_empty()) {
        db.remove(key, now);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

fn parse_end(b: &[u8]) -> Option<End> {
    if b.eq_ignore_ascii_case(b"LEFT") {
        Some(End::Left)
    } else if b.eq_ignore_ascii_case(b"RIGHT") {
        Some(End::Right)
    } else {
        None
    }
}

fn push_generic(ctx: &mut Ctx, a: &[Bytes], end: End, only_existing: bool) {
    let lim = ListLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let db = ctx.db();
    let l = match list_mut(db, &a[1], now) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(Some(l)) => l,
        Ok(None) if only_existing => return ctx.out.int(0),
        Ok(None) => {
            db.set(&a[1], Value::List(ListValue::new()), Ttl::Persist, now);
            match list_mut(db, &a[1], now) {
                Ok(Some(l)) => l,
                _ => return ctx.err("ERR internal error creating list"),
            }
        }
    };
    for v in &a[2..] {
        match end {
            End::Left => l.push_front(v, lim),
            End::Right => l.push_back(v, lim),
        }
    }
    let n = l.len();
    ctx.dirty((a.len() - 2) as u64);
    ctx.out.int(n as i64);
}

fn lpush(ctx: &mut Ctx, a: &[Bytes]) {
    push_generic(ctx, a, End::Left, false);
}

fn rpush(ctx: &mut Ctx, a: &[Bytes]) {
    push_generic(ctx, a, End::Right, false);
}

fn lpushx(ctx: &mut Ctx, a: &[Bytes]) {
    push_generic(ctx, a, End::Left, true);
}

fn rpushx(ctx: &mut Ctx, a: &[Bytes]) {
    push_generic(ctx, a, End::Right, true);
}

/// Pops up to `count` elements from one end; deletes the key when emptied.
fn pop_n(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> Result<Option<Vec<SmallBytes>>, ()> {
    let now = ctx.now;
    let db = ctx.db();
    let Some(l) = list_mut(db, key, now)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(count.min(l.len()));
    while out.len() < count {
        let v = match end {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        };
        match v {
            Some(v) => out.push(v),
            None => break,
        }
    }
    drop_if_empty(db, key, now);
    if !out.is_empty() {
        ctx.dirty(out.len() as u64);
    }
    Ok(Some(out))
}

fn pop_generic(ctx: &mut Ctx, a: &[Bytes], end: End) {
    if a.len() > 3 {
        return ctx.err(&errors::arity(&args::name(a)));
    }
    let count = match a.get(2) {
        None => None,
        Some(c) => match args::int(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return ctx.err("ERR value is out of range, must be positive"),
        },
    };
    match pop_n(ctx, &a[1], end, count.unwrap_or(1)) {
        Err(()) => ctx.err(errors::WRONGTYPE),
        Ok(None) if count.is_some() => ctx.out.null_array(),
        Ok(None) => ctx.out.null(),
        Ok(Some(v)) => match count {
            None => match v.first() {
                Some(x) => ctx.out.bulk(x),
                None => ctx.out.null(),
            },
            Some(_) => ctx.out.bulks(v.iter()),
        },
    }
}

fn lpop(ctx: &mut Ctx, a: &[Bytes]) {
    pop_generic(ctx, a, End::Left);
}

fn rpop(ctx: &mut Ctx, a: &[Bytes]) {
    pop_generic(ctx, a, End::Right);
}

fn llen(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    match list_read(ctx.db(), &a[1], now) {
        Err(()) => ctx.err(errors::WRONGTYPE),
        Ok(l) => {
            let n = l.map_or(0, |l| l.len());
            ctx.out.int(n as i64)
        }
    }
}

/// Redis's inclusive index range over a list of `len`, negative from the end.
fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let e = if end < 0 { len + end } else { end.min(len - 1) };
    (s <= e && s < len).then_some((s as usize, e as usize))
}

fn lrange(ctx: &mut Ctx, a: &[Bytes]) {
    let (Some(s), Some(e)) = (args::int(&a[2]), args::int(&a[3])) else {
        return ctx.err(errors::NOT_INT);
    };
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match list_read(db, &a[1], now) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(None) => out.array(0),
        Ok(Some(l)) => match range(s, e, l.len()) {
            None => out.array(0),
            Some((s, e)) => out.bulks(l.iter_from(s).take(e - s + 1)),
        },
    }
}

fn index_of(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(i) = args::int(&a[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match list_read(db, &a[1], now) {
        Err(()) => out.error(errors::WRONGTYPE),
        Ok(None) => out.null(),
        Ok(Some(l)) => match index_of(i, l.len()).and_then(|i| l.get(i)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        },
    }
}

fn lset(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(i) = args::int(&a[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    let lim = ListLimits::from_settings(ctx.settings);
    let now = ctx.now;
    match list_mut(ctx.db(), &a[1], now) {
        Err(()) => ctx.err(errors::WRONGTYPE),
        Ok(None) => ctx.err(errors::NO_KEY),
        Ok(Some(l)) => match index_of(i, l.len()) {
            Some(i) => {
                l.set(i, &a[3], lim);
                ctx.dirty(1);
                ctx.out.ok()
            }
            None => ctx.err("ERR index out of range"),
        },
    }
}

fn linsert(ctx: &mut Ctx, a: &[Bytes]) {
    let after = if args::is(&a[2], "AFTER") {
        true
    } else if args::is(&a[2], "BEFORE") {
        false
    } else {
        return ctx.err(errors::SYNTAX);
    };
    let lim = ListLimits::from_settings(ctx.settings);
    let now = ctx.now;
    match list_mut(ctx.db(), &a[1], now) {
        Err(()) => ctx.err(errors::WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(l)) => match l.position(&a[3]) {
            None => ctx.out.int(-1),
            Some(p) => {
                l.insert(if after { p + 1 } else { p }, &a[4], lim);
                let n = l.len();
                ctx.dirty(1);
                ctx.out.int(n as i64)
            }
        },
    }
}

fn lrem(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(count) = args::int(&a[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    let now = ctx.now;
    let db = ctx.db();
    let n = match list_mut(db, &a[1], now) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(l)) => l.remove_matching(&a[3], count),
    };
    drop_if_empty(db, &a[1], now);
    if n > 0 {
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
}

fn ltrim(ctx: &mut Ctx, a: &[Bytes]) {
    let (Some(s), Some(e)) = (args::int(&a[2]), args::int(&a[3])) else {
        return ctx.err(errors::NOT_INT);
    };
    let now = ctx.now;
    let db = ctx.db();
    match list_mut(db, &a[1], now) {
        Err(()) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out.ok(),
        Ok(Some(l)) => match range(s, e, l.len()) {
            Some((s, e)) => l.retain_range(s, e),
            None => l.clear(),
        },
    }
    drop_if_empty(db, &a[1], now);
    ctx.dirty(1);
    ctx.out.ok();
}

fn lpos(ctx: &mut Ctx, a: &[Bytes]) {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    let mut i = 3;
    while i < a.len() {
        let opt = crate::util::lower(&a[i]);
        let Some(v) = a
            .get(i + 1)
            .filter(|_| matches!(opt.as_str(), "rank" | "count" | "maxlen"))
        else {
            return ctx.err(errors::SYNTAX);
        };
        match opt.as_str() {
            "rank" => {
                let Some(n) = args::int(v) else {
                    return ctx.err(errors::NOT_INT);
                };
                if n == 0 {
                    return ctx.err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                }
                if n == i64::MIN {
                    return ctx.err("ERR value is out of range");
                }
                rank = n;
            }
            "count" => match args::int(v).filter(|n| *n >= 0) {
                Some(n) => count = Some(n as usize),
                None => return ctx.err("ERR COUNT can't be negative"),
            },
            _ => match args::int(v).filter(|n| *n >= 0) {
                Some(n) => maxlen = n,
                None => return ctx.err("ERR MAXLEN can't be negative"),
            },
        }
        i += 2;
    }
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let l = match list_read(db, &a[1], now) {
        Err(()) => return out.error(errors::WRONGTYPE),
        Ok(None) => {
            return if count.is_some() {
                out.array(0)
            } else {
                out.null()
            }
        }
        Ok(Some(l)) => l,
    };
    let want = count.map_or(1, |c| if c == 0 { usize::MAX } else { c });
    let mut skip = rank.unsigned_abs() as usize - 1;
    let mut found = Vec::new();
    let n = l.len();
    let limit = if maxlen == 0 {
        n
    } else {
        (maxlen as usize).min(n)
    };
    // One walk from the chosen end (indexing each step would walk the nodes again).
    let walk: Box<dyn Iterator<Item = &[u8]>> = if rank > 0 {
        Box::new(l.iter())
    } else {
        Box::new(l.iter().rev())
    };
    for (step, v) in walk.take(limit).enumerate() {
        let idx = if rank > 0 { step } else { n - 1 - step };
        if v == a[2].as_ref() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(idx as i64);
            if found.len() >= want {
                break;
            }
        }
    }
    match count {
        Some(_) => {
            out.array(found.len());
            for f in found {
                out.int(f);
            }
        }
        None => match found.first() {
            Some(f) => out.int(*f),
            None => out.null(),
        },
    }
}

/// Moves one element between lists; `Ok(None)` when the source is empty.
fn move_one(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<SmallBytes>, ()> {
    let lim = ListLimits::from_settings(ctx.settings);
    let now = ctx.now;
    let db = ctx.db();
    // As Redis: a missing source answers nil whatever the destination holds; then both
    // are type-checked before anything is taken from the source.
    if list_mut(db, src, now)?.is_none() {
        return Ok(None);
    }
    if list_mut(db, dst, now).is_err() {
        return Err(());
    }
    let Some(l) = list_mut(db, src, now)? else {
        return Ok(None);
    };
    let v = match from {
        End::Left => l.pop_front(),
        End::Right => l.pop_back(),
    };
    let Some(v) = v else { return Ok(None) };
    drop_if_empty(db, src, now);
    if list_mut(db, dst, now) == Ok(None) {
        db.set(dst, Value::List(ListValue::new()), Ttl::Persist, now);
    }
    if let Ok(Some(d)) = list_mut(db, dst, now) {
        match to {
            End::Left => d.push_front(&v, lim),
            End::Right => d.push_back(&v, lim),
        }
    }
    ctx.dirty(2);
    Ok(Some(v))
}

fn lmove_generic(
    ctx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
) -> Option<SmallBytes> {
    match move_one(ctx, src, dst, from, to) {
        Err(()) => {
            ctx.err(errors::WRONGTYPE);
            None
        }
        Ok(v) => v,
    }
}

fn end_word(e: End) -> Bytes {
    Bytes::from_static(if e == End::Left { b"LEFT" } else { b"RIGHT" })
}

fn lmove(ctx: &mut Ctx, a: &[Bytes]) {
    let (Some(from), Some(to)) = (parse_end(&a[3]), parse_end(&a[4])) else {
        return ctx.err(errors::SYNTAX);
    };
    let mark = ctx.out.mark();
    match lmove_generic(ctx, &a[1], &a[2], from, to) {
        Some(v) => ctx.out.bulk(&v),
        None if ctx.out.mark() == mark => ctx.out.null(),
        None => {}
    }
}

fn rpoplpush(ctx: &mut Ctx, a: &[Bytes]) {
    let mark = ctx.out.mark();
    match lmove_generic(ctx, &a[1], &a[2], End::Right, End::Left) {
        Some(v) => ctx.out.bulk(&v),
        None if ctx.out.mark() == mark => ctx.out.null(),
        None => {}
    }
}

/// `LEFT|RIGHT [COUNT n]` after the keys of LMPOP/BLMPOP.
fn parse_mpop_tail(ctx: &mut Ctx, rest: &[Bytes]) -> Option<(End, usize)> {
    let Some(end) = rest.first().and_then(|b| parse_end(b)) else {
        ctx.err(errors::SYNTAX);
        return None;
    };
    match rest.len() {
        1 => Some((end, 1)),
        3 if args::is(&rest[1], "COUNT") => match args::int(&rest[2]) {
            Some(n) if n > 0 => Some((end, n as usize)),
            _ => {
                ctx.err("ERR count should be greater than 0");
                None
            }
        },
        _ => {
            ctx.err(errors::SYNTAX);
            None
        }
    }
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT n]` starting at `a[at]`.
fn parse_mpop(ctx: &mut Ctx, a: &[Bytes], at: usize) -> Option<(Vec<Bytes>, End, usize)> {
    let n = match args::int(&a[at]) {
        Some(n) if n > 0 => n as usize,
        _ => {
            ctx.err("ERR numkeys should be greater than 0");
            return None;
        }
    };
    if a.len() < at + 1 + n + 1 {
        ctx.err(errors::SYNTAX);
        return None;
    }
    let keys = a[at + 1..at + 1 + n].to_vec();
    let (end, count) = parse_mpop_tail(ctx, &a[at + 1 + n..])?;
    Some((keys, end, count))
}

/// Pops from the first non-empty list; replies `[key, [elements]]` and replicates the
/// pop as LPOP/RPOP key count. Returns false when every list was empty.
fn mpop_first(ctx: &mut Ctx, keys: &[Bytes], end: End, count: usize) -> bool {
    for k in keys {
        match pop_n(ctx, k, end, count) {
            Err(()) => {
                ctx.err(errors::WRONGTYPE);
                return true;
            }
            Ok(Some(v)) if !v.is_empty() => {
                ctx.out.array(2);
                ctx.out.bulk(k);
                ctx.out.bulks(v.iter());
                let word = if end == End::Left { "LPOP" } else { "RPOP" };
                ctx.propagate_as(vec![vec![
                    Bytes::from(word),
                    k.clone(),
                    Bytes::from(v.len().to_string()),
                ]]);
                return true;
            }
            _ => {}
        }
    }
    false
}

fn lmpop(ctx: &mut Ctx, a: &[Bytes]) {
    let Some((keys, end, count)) = parse_mpop(ctx, a, 1) else {
        return;
    };
    if !mpop_first(ctx, &keys, end, count) {
        ctx.out.null_array();
    }
}

/// A blocking timeout in seconds (fractions allowed) as milliseconds; 0 = forever.
pub fn parse_timeout(ctx: &mut Ctx, b: &[u8]) -> Option<u64> {
    match crate::util::parse_f64(b) {
        Some(t) if t < 0.0 => {
            ctx.err("ERR timeout is negative");
            None
        }
        Some(t) if t.is_finite() && t * 1000.0 < u64::MAX as f64 / 2.0 => {
            Some((t * 1000.0).ceil() as u64)
        }
        _ => {
            ctx.err("ERR timeout is not a float or out of range");
            None
        }
    }
}

fn bpop_generic(ctx: &mut Ctx, a: &[Bytes], end: End) {
    let Some(timeout) = parse_timeout(ctx, &a[a.len() - 1]) else {
        return;
    };
    let keys = &a[1..a.len() - 1];
    for k in keys {
        match pop_n(ctx, k, end, 1) {
            Err(()) => return ctx.err(errors::WRONGTYPE),
            Ok(Some(v)) if !v.is_empty() => {
                ctx.out.array(2);
                ctx.out.bulk(k);
                ctx.out.bulk(&v[0]);
                let word = if end == End::Left { "LPOP" } else { "RPOP" };
                ctx.propagate_as(vec![vec![Bytes::from(word), k.clone()]]);
                return;
            }
            _ => {}
        }
    }
    ctx.block_on(keys.iter().map(|k| k.to_vec()).collect(), timeout);
}

fn blpop(ctx: &mut Ctx, a: &[Bytes]) {
    bpop_generic(ctx, a, End::Left);
}

fn brpop(ctx: &mut Ctx, a: &[Bytes]) {
    bpop_generic(ctx, a, End::Right);
}

fn bmove_generic(ctx: &mut Ctx, src: &Bytes, dst: &Bytes, from: End, to: End, timeout: &[u8]) {
    let Some(timeout) = parse_timeout(ctx, timeout) else {
        return;
    };
    let mark = ctx.out.mark();
    match lmove_generic(ctx, src, dst, from, to) {
        Some(v) => {
            ctx.out.bulk(&v);
            ctx.propagate_as(vec![vec![
                Bytes::from_static(b"LMOVE"),
                src.clone(),
                dst.clone(),
                end_word(from),
                end_word(to),
            ]]);
        }
        None if ctx.out.mark() == mark => ctx.block_on_with(vec![src.to_vec()], timeout, true),
        None => {}
    }
}

fn blmove(ctx: &mut Ctx, a: &[Bytes]) {
    let (Some(from), Some(to)) = (parse_end(&a[3]), parse_end(&a[4])) else {
        return ctx.err(errors::SYNTAX);
    };
    bmove_generic(ctx, &a[1], &a[2], from, to, &a[5]);
}

fn brpoplpush(ctx: &mut Ctx, a: &[Bytes]) {
    bmove_generic(ctx, &a[1], &a[2], End::Right, End::Left, &a[3]);
}

fn blmpop(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(timeout) = parse_timeout(ctx, &a[1]) else {
        return;
    };
    let Some((keys, end, count)) = parse_mpop(ctx, a, 2) else {
        return;
    };
    if !mpop_first(ctx, &keys, end, count) {
        ctx.block_on(keys.iter().map(|k| k.to_vec()).collect(), timeout);
    }
}
