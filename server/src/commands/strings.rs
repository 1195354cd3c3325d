//! String commands: plain values, counters, ranges and LCS.
//!
//! Values are `SmallBytes`, which are immutable in length. Commands that edit a value in place
//! (APPEND, SETRANGE, INCR...) take the bytes out of the entry, edit them as a `Vec` and put
//! them back into the same entry, so the key's TTL and position are untouched; a heap value
//! moves between `Box<[u8]>` and `Vec<u8>` without copying. Every user-supplied length or
//! offset is checked against `proto-max-bulk-len` before anything is allocated.

use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::{Entry, SmallBytes, Ttl, Value};
use crate::keyspace_events::Events;
use bytes::Bytes;

pub mod ld;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], get, "string", "Returns the string value of a key."),
    CommandSpec::new("set", -3, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE | VARIABLE_FLAGS).notes("RW and ACCESS due to the optional `GET` argument")], set, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.").events(Events::Set).getkeys(set_keys),
    CommandSpec::new("setnx", 3, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, OW | INSERT)], setnx, "string", "Set the string value of a key only when the key doesn't exist.").events(Events::Named("set")),
    CommandSpec::new("setex", 4, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE)], setex, "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.").events(Events::NamedWithExpiry("set")),
    CommandSpec::new("psetex", 4, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE)], psetex, "string", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.").events(Events::NamedWithExpiry("set")),
    CommandSpec::new("mget", -2, READONLY | FAST, &[ks::range(1, -1, 1, RO | ACCESS)], mget, "string", "Atomically returns the string values of one or more keys."),
    CommandSpec::new("mset", -3, WRITE | DENYOOM, &[ks::range(1, -1, 2, OW | UPDATE)], mset, "string", "Atomically creates or modifies the string values of one or more keys.").events(Events::Named("set")),
    CommandSpec::new("msetnx", -3, WRITE | DENYOOM, &[ks::range(1, -1, 2, OW | INSERT)], msetnx, "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.").events(Events::Named("set")),
    CommandSpec::new("getset", 3, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], getset, "string", "Returns the previous string value of a key after setting it to a new value.").events(Events::Named("set")),
    CommandSpec::new("getdel", 2, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE)], getdel, "string", "Returns the string value of a key after deleting the key.").events(Events::Named("del")),
    CommandSpec::new("getex", -2, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE).notes("RW and UPDATE because it changes the TTL")], getex, "string", "Returns the string value of a key after setting its expiration time.").events(Events::Getex),
    CommandSpec::new("append", 3, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | INSERT)], append, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    CommandSpec::new("strlen", 2, READONLY | FAST, &[ks::range(1, 0, 1, RO)], strlen, "string", "Returns the length of a string value."),
    CommandSpec::new("incr", 2, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], incr, "string", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.").events(Events::Named("incrby")),
    CommandSpec::new("decr", 2, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], decr, "string", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.").events(Events::Named("incrby")),
    CommandSpec::new("incrby", 3, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], incrby, "string", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    CommandSpec::new("decrby", 3, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], decrby, "string", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.").events(Events::Named("incrby")),
    CommandSpec::new("incrbyfloat", 3, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], incrbyfloat, "string", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    CommandSpec::new("getrange", 4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], getrange, "string", "Returns a substring of the string stored at a key."),
    CommandSpec::new("substr", 4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], getrange, "string", "Returns a substring from a string value."),
    CommandSpec::new("setrange", 4, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | UPDATE)], setrange, "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    CommandSpec::new("lcs", -3, READONLY, &[ks::range(1, 1, 1, RO | ACCESS)], lcs, "string", "Finds the longest common substring."),
];

/// SET's key and its flags, as Redis's `setGetKeys`: with GET it reads the old value
/// (`RW access update`), without it only overwrites (`OW update`).
fn set_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let get = a.iter().skip(3).any(|x| x.eq_ignore_ascii_case(b"get"));
    let flags = if get {
        RW | ACCESS | UPDATE
    } else {
        OW | UPDATE
    };
    vec![KeyRef { pos: 1, flags }]
}

/// `ERR string exceeds maximum allowed size (proto-max-bulk-len)`.
pub const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Reads a string value, or replies WRONGTYPE. `Ok(None)` when the key does not exist.
#[allow(clippy::result_unit_err)]
pub fn read_string<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a [u8]>, ()> {
    let now = ctx.now;
    match ctx.db().read(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(s) => Ok(Some(s.as_slice())),
            #[allow(unreachable_patterns)]
            _ => Err(()),
        },
    }
}

/// Takes a string's bytes out for editing, leaving an empty string behind; a heap value is
/// moved, not copied.
pub fn take_bytes(s: &mut SmallBytes) -> Vec<u8> {
    match std::mem::replace(s, SmallBytes::new(b"")) {
        SmallBytes::Heap(b) => b.into_vec(),
        inline => inline.as_slice().to_vec(),
    }
}

/// Edits the string held by `e` in place (TTL untouched). `Err(())` when `e` is not a string.
#[allow(clippy::result_unit_err)]
pub fn edit_string<R>(e: &mut Entry, f: impl FnOnce(&mut Vec<u8>) -> R) -> Result<R, ()> {
    match &mut e.value {
        Value::Str(s) => {
            let mut v = take_bytes(s);
            let r = f(&mut v);
            *s = SmallBytes::boxed(v);
            Ok(r)
        }
        #[allow(unreachable_patterns)]
        _ => Err(()),
    }
}

/// Reserves exactly up to `len` bytes: the value goes back into an exact-size box, so the
/// amortized doubling of `Vec` would only cost a transient second copy of a large string.
pub fn grow_exact(v: &mut Vec<u8>, len: usize) {
    v.reserve_exact(len.saturating_sub(v.len()));
}

/// Redis's `checkStringLength`: true when a string of `len + extra` bytes stays within
/// `proto-max-bulk-len` (the sum may not overflow either).
pub fn check_len(ctx: &Ctx, len: u64, extra: u64) -> bool {
    len.checked_add(extra)
        .is_some_and(|t| t <= ctx.settings.proto_max_bulk_len)
}

fn str_value(b: &[u8]) -> Value {
    Value::Str(SmallBytes::new(b))
}

fn get(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match db.read(&a[1], now).map(|e| &e.value) {
        None => out.null(),
        Some(Value::Str(s)) => out.bulk(s),
        #[allow(unreachable_patterns)]
        Some(_) => out.error(errors::WRONGTYPE),
    }
}

/// An expiry choice in one value, for callers outside this file (SET and GETEX parse into
/// `ExtArgs` instead, which keeps the unit for Redis's validation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireOpt {
    None,
    /// An absolute instant in Unix milliseconds.
    At(u64),
    KeepTtl,
    Persist,
}

/// Turns `EX|PX|EXAT|PXAT <n>` into an absolute instant, checking Redis's limits.
pub fn expire_instant(unit: &str, n: &[u8], now: u64, cmd: &str) -> Result<u64, String> {
    let v = args::int(n).ok_or_else(|| errors::NOT_INT.to_string())?;
    if v <= 0 {
        return Err(errors::invalid_expire(cmd));
    }
    let ms = match unit {
        "ex" | "exat" => v
            .checked_mul(1000)
            .ok_or_else(|| errors::invalid_expire(cmd))?,
        _ => v,
    };
    let at = if unit == "ex" || unit == "px" {
        (now as i64)
            .checked_add(ms)
            .ok_or_else(|| errors::invalid_expire(cmd))?
    } else {
        ms
    };
    Ok(at as u64)
}

/// SET's and GETEX's options, parsed by the same rules as Redis's
/// `parseExtendedStringArgumentsOrReply`: an expiry unit may repeat (the last value wins) but
/// not mix with another unit, KEEPTTL or PERSIST.
#[derive(Default)]
struct ExtArgs<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// `(unit, value)`: `ex`, `px`, `exat` or `pxat`, value not yet validated.
    expire: Option<(&'static str, &'a [u8])>,
}

fn parse_ext(a: &[Bytes], from: usize, set_cmd: bool) -> Result<ExtArgs<'_>, ()> {
    let mut o = ExtArgs::default();
    let mut j = from;
    while j < a.len() {
        let next = a.get(j + 1);
        let unit = o.expire.map(|(u, _)| u);
        let other_unit = |me: &str| unit.is_some_and(|u| u != me);
        let opt = &a[j];
        if args::is(opt, "NX") && !o.xx && set_cmd {
            o.nx = true;
        } else if args::is(opt, "XX") && !o.nx && set_cmd {
            o.xx = true;
        } else if args::is(opt, "GET") && set_cmd {
            o.get = true;
        } else if args::is(opt, "KEEPTTL") && !o.persist && unit.is_none() && set_cmd {
            o.keepttl = true;
        } else if args::is(opt, "PERSIST") && !set_cmd && unit.is_none() && !o.keepttl {
            o.persist = true;
        } else if let Some(u) = ["ex", "px", "exat", "pxat"]
            .into_iter()
            .find(|u| args::is(opt, u))
        {
            match next {
                Some(n) if !o.keepttl && !o.persist && !other_unit(u) => {
                    o.expire = Some((u, n));
                    j += 1;
                }
                _ => return Err(()),
            }
        } else {
            return Err(());
        }
        j += 1;
    }
    Ok(o)
}

fn set(ctx: &mut Ctx, a: &[Bytes]) {
    let Ok(o) = parse_ext(a, 3, true) else {
        return ctx.err(errors::SYNTAX);
    };
    let ttl = match o.expire {
        Some((unit, n)) => match expire_instant(unit, n, ctx.now, "set") {
            Ok(at) => Ttl::At(at),
            Err(e) => return ctx.err(&e),
        },
        None if o.keepttl => Ttl::Keep,
        None => Ttl::Persist,
    };
    let cond = Cond {
        nx: o.nx,
        xx: o.xx,
        get_old: o.get,
    };
    // `SET key value` is its own effect; anything else is rewritten.
    let verbatim = a.len() == 3;
    set_generic(ctx, &a[1], &a[2], ttl, cond, verbatim);
}

/// SET's conditions (SETEX and PSETEX use none).
#[derive(Clone, Copy, Default)]
struct Cond {
    nx: bool,
    xx: bool,
    get_old: bool,
}

/// `verbatim`: the command as sent replicates as is (it has no conditions or relative TTL).
fn set_generic(ctx: &mut Ctx, key: &Bytes, val: &Bytes, ttl: Ttl, c: Cond, verbatim: bool) {
    let now = ctx.now;
    let db = ctx.db();
    // A plain SET needs no look-up first: `Db::set` replaces in one probe.
    let (exists, old) = if !(c.nx || c.xx || c.get_old) {
        (false, None)
    } else {
        match db.get_mut(key, now) {
            None => (false, None),
            Some(e) => match &e.value {
                Value::Str(s) => (true, c.get_old.then(|| s.to_vec())),
                _ if c.get_old => return ctx.err(errors::WRONGTYPE),
                _ => (true, None),
            },
        }
    };
    let stored = !((c.nx && exists) || (c.xx && !exists));
    if stored {
        db.set(key, str_value(val), ttl, now);
        ctx.dirty(1);
    }
    if stored && !verbatim && ctx.replicating() {
        // Replicate the effect: the value with an absolute expiry, no conditions.
        let mut eff = vec![Bytes::from_static(b"SET"), key.clone(), val.clone()];
        match ttl {
            Ttl::At(at) => {
                eff.push(Bytes::from_static(b"PXAT"));
                eff.push(Bytes::from(at.to_string()));
            }
            Ttl::Keep => eff.push(Bytes::from_static(b"KEEPTTL")),
            Ttl::Persist => {}
        }
        ctx.propagate_as(vec![eff]);
    }
    match (c.get_old, old) {
        (true, Some(v)) => ctx.out.bulk(&v),
        (true, None) => ctx.out.null(),
        (false, _) if stored => ctx.out.ok(),
        (false, _) => ctx.out.null(),
    }
}

fn setnx(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    if db.contains(&a[1], now) {
        return ctx.out.int(0);
    }
    db.set(&a[1], str_value(&a[2]), Ttl::Persist, now);
    ctx.dirty(1);
    ctx.out.int(1);
}

fn setex(ctx: &mut Ctx, a: &[Bytes]) {
    setex_generic(ctx, a, "ex");
}

fn psetex(ctx: &mut Ctx, a: &[Bytes]) {
    setex_generic(ctx, a, "px");
}

fn setex_generic(ctx: &mut Ctx, a: &[Bytes], unit: &str) {
    let cmd = args::name(a);
    match expire_instant(unit, &a[2], ctx.now, &cmd) {
        Ok(at) => set_generic(ctx, &a[1], &a[3], Ttl::At(at), Cond::default(), false),
        Err(e) => ctx.err(&e),
    }
}

fn mget(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    out.array(a.len() - 1);
    for k in &a[1..] {
        match db.read(k, now).map(|e| &e.value) {
            Some(Value::Str(s)) => out.bulk(s),
            #[allow(unreachable_patterns)]
            _ => out.null(),
        }
    }
}

fn mset(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len().is_multiple_of(2) {
        return ctx.err(&errors::arity(&args::name(a)));
    }
    let now = ctx.now;
    let db = ctx.db();
    for kv in a[1..].chunks_exact(2) {
        db.set(&kv[0], str_value(&kv[1]), Ttl::Persist, now);
    }
    ctx.dirty((a.len() / 2) as u64);
    ctx.out.ok();
}

fn msetnx(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len().is_multiple_of(2) {
        return ctx.err(&errors::arity(&args::name(a)));
    }
    let now = ctx.now;
    let db = ctx.db();
    if a[1..].chunks_exact(2).any(|kv| db.contains(&kv[0], now)) {
        return ctx.out.int(0);
    }
    for kv in a[1..].chunks_exact(2) {
        db.set(&kv[0], str_value(&kv[1]), Ttl::Persist, now);
    }
    ctx.dirty((a.len() / 2) as u64);
    ctx.out.int(1);
}

/// Reads a key's string for GETSET/GETDEL/GETEX and replies WRONGTYPE itself. `None` means
/// the caller must stop (missing key already answered with null, or wrong type).
fn read_or_reply(ctx: &mut Ctx, key: &[u8]) -> Option<Vec<u8>> {
    match read_string(ctx, key) {
        Ok(Some(v)) => Some(v.to_vec()),
        Ok(None) => {
            ctx.out.null();
            None
        }
        Err(()) => {
            ctx.err(errors::WRONGTYPE);
            None
        }
    }
}

fn getset(ctx: &mut Ctx, a: &[Bytes]) {
    let old = match read_string(ctx, &a[1]) {
        Ok(v) => v.map(<[u8]>::to_vec),
        Err(()) => return ctx.err(errors::WRONGTYPE),
    };
    let now = ctx.now;
    ctx.db().set(&a[1], str_value(&a[2]), Ttl::Persist, now);
    ctx.dirty(1);
    match old {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
}

fn getdel(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(v) = read_or_reply(ctx, &a[1]) else {
        return;
    };
    let now = ctx.now;
    ctx.db().remove(&a[1], now);
    ctx.dirty(1);
    ctx.propagate_as(vec![vec![Bytes::from_static(b"DEL"), a[1].clone()]]);
    ctx.out.bulk(&v);
}

fn getex(ctx: &mut Ctx, a: &[Bytes]) {
    let Ok(o) = parse_ext(a, 2, false) else {
        return ctx.err(errors::SYNTAX);
    };
    let Some(v) = read_or_reply(ctx, &a[1]) else {
        return;
    };
    let now = ctx.now;
    if let Some((unit, n)) = o.expire {
        let at = match expire_instant(unit, n, now, "getex") {
            Ok(at) => at,
            Err(e) => return ctx.err(&e),
        };
        let db = ctx.db();
        // An absolute instant already past deletes the key, as Redis does.
        if unit.ends_with("at") && at <= now {
            db.remove(&a[1], now);
            ctx.propagate_as(vec![vec![Bytes::from_static(b"DEL"), a[1].clone()]]);
        } else {
            db.set_expire(&a[1], Some(at), now);
            ctx.propagate_as(vec![vec![
                Bytes::from_static(b"PEXPIREAT"),
                a[1].clone(),
                Bytes::from(at.to_string()),
            ]]);
        }
        ctx.dirty(1);
    } else if o.persist {
        let db = ctx.db();
        if db.peek(&a[1], now).is_some_and(|e| e.expire_at() != 0) {
            db.set_expire(&a[1], None, now);
            ctx.dirty(1);
            ctx.propagate_as(vec![vec![Bytes::from_static(b"PERSIST"), a[1].clone()]]);
        }
    }
    ctx.out.bulk(&v);
}

fn append(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let max = ctx.settings.proto_max_bulk_len;
    let db = ctx.db();
    let total = match db.get_mut(&a[1], now) {
        None => {
            db.set(&a[1], str_value(&a[2]), Ttl::Persist, now);
            a[2].len()
        }
        Some(e) => {
            let cur = match &e.value {
                Value::Str(s) => s.len() as u64,
                #[allow(unreachable_patterns)]
                _ => return ctx.err(errors::WRONGTYPE),
            };
            if cur.checked_add(a[2].len() as u64).is_none_or(|t| t > max) {
                return ctx.err(TOO_BIG);
            }
            match edit_string(e, |v| {
                grow_exact(v, v.len() + a[2].len());
                v.extend_from_slice(&a[2]);
                v.len()
            }) {
                Ok(n) => n,
                Err(()) => return ctx.err(errors::WRONGTYPE),
            }
        }
    };
    ctx.dirty(1);
    ctx.out.int(total as i64);
}

fn strlen(ctx: &mut Ctx, a: &[Bytes]) {
    match read_string(ctx, &a[1]) {
        Ok(v) => {
            let n = v.map_or(0, <[u8]>::len);
            ctx.out.int(n as i64)
        }
        Err(()) => ctx.err(errors::WRONGTYPE),
    }
}

fn incr(ctx: &mut Ctx, a: &[Bytes]) {
    incr_by(ctx, &a[1], 1);
}

fn decr(ctx: &mut Ctx, a: &[Bytes]) {
    incr_by(ctx, &a[1], -1);
}

fn incrby(ctx: &mut Ctx, a: &[Bytes]) {
    match args::int(&a[2]) {
        Some(n) => incr_by(ctx, &a[1], n),
        None => ctx.err(errors::NOT_INT),
    }
}

fn decrby(ctx: &mut Ctx, a: &[Bytes]) {
    match args::int(&a[2]) {
        Some(i64::MIN) => ctx.err("ERR decrement would overflow"),
        Some(n) => incr_by(ctx, &a[1], -n),
        None => ctx.err(errors::NOT_INT),
    }
}

/// The current value of a counter key: `Ok(None)` when absent, `Err(msg)` on a wrong type or
/// a value that is not a number.
fn counter_value(e: Option<&Entry>) -> Result<Option<&[u8]>, &'static str> {
    match e.map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.as_slice())),
        #[allow(unreachable_patterns)]
        Some(_) => Err(errors::WRONGTYPE),
    }
}

/// Writes a new string value, creating the key (no TTL) or keeping the existing key's TTL.
fn store_keep_ttl(ctx: &mut Ctx, key: &[u8], bytes: &[u8]) {
    let now = ctx.now;
    ctx.db().set(key, str_value(bytes), Ttl::Keep, now);
    ctx.dirty(1);
}

/// INCR and its kin. An existing counter is rewritten in place: one lookup where reading and
/// then storing took two (the second one's hash, slot and probe were a tenth of INCR's time
/// over spread keys). Same effects as storing with `Ttl::Keep`: the TTL stays, the access
/// word is refreshed as an overwrite, a running snapshot got the old value from `get_mut`.
fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) {
    let now = ctx.now;
    let db = ctx.db();
    let touch = db.touch;
    let res = match db.get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(s) => match args::int(s).map(|n| n.checked_add(by)) {
                Some(Some(new)) => {
                    let mut buf = itoa::Buffer::new();
                    e.value = str_value(buf.format(new).as_bytes());
                    e.access = touch.on_overwrite(e.access, now);
                    Ok(Some(new))
                }
                Some(None) => Err(errors::OVERFLOW),
                None => Err(errors::NOT_INT),
            },
            #[allow(unreachable_patterns)]
            _ => Err(errors::WRONGTYPE),
        },
    };
    match res {
        Ok(Some(new)) => {
            ctx.dirty(1);
            ctx.out.int(new);
        }
        Ok(None) => {
            let mut buf = itoa::Buffer::new();
            store_keep_ttl(ctx, key, buf.format(by).as_bytes());
            ctx.out.int(by);
        }
        Err(m) => ctx.err(m),
    }
}

fn incrbyfloat(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let cur = match counter_value(ctx.db().get_mut(&a[1], now).map(|e| &*e)) {
        Ok(None) => Some(ld::parse(b"0")),
        Ok(Some(s)) => Some(ld::parse(s)),
        Err(m) => return ctx.err(m),
    };
    let (Some(Some(cur)), Some(by)) = (cur, ld::parse(&a[2])) else {
        return ctx.err(errors::NOT_FLOAT);
    };
    let new = ld::add(cur, by);
    if !new.is_finite() {
        return ctx.err("ERR increment would produce NaN or Infinity");
    }
    let text = ld::format_human(new);
    store_keep_ttl(ctx, &a[1], text.as_bytes());
    // Replicas must store exactly this text, not redo the float arithmetic.
    ctx.propagate_as(vec![vec![
        Bytes::from_static(b"SET"),
        a[1].clone(),
        Bytes::from(text.clone()),
        Bytes::from_static(b"KEEPTTL"),
    ]]);
    ctx.out.bulk_str(&text);
}

/// Resolves Redis's inclusive `start..=end` (negative counts from the end) over `len` items;
/// `None` when the range is empty. Shared by GETRANGE and the bit commands.
pub fn clamp_range(start: i64, end: i64, len: i64) -> Option<(i64, i64)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut s = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut e = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        None
    } else {
        Some((s, e))
    }
}

fn getrange(ctx: &mut Ctx, a: &[Bytes]) {
    let (Some(start), Some(end)) = (args::int(&a[2]), args::int(&a[3])) else {
        return ctx.err(errors::NOT_INT);
    };
    let v = match read_string(ctx, &a[1]) {
        Ok(v) => v.unwrap_or(b""),
        Err(()) => return ctx.err(errors::WRONGTYPE),
    };
    match clamp_range(start, end, v.len() as i64) {
        Some((s, e)) => {
            let part = v[s as usize..=e as usize].to_vec();
            ctx.out.bulk(&part)
        }
        None => ctx.out.bulk(b""),
    }
}

fn setrange(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(offset) = args::int(&a[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    if offset < 0 {
        return ctx.err("ERR offset is out of range");
    }
    let value = &a[3];
    let offset = offset as u64;
    let now = ctx.now;
    let fits = check_len(ctx, offset, value.len() as u64);
    let db = ctx.db();
    let Some(e) = db.get_mut(&a[1], now) else {
        if value.is_empty() {
            return ctx.out.int(0);
        }
        if !fits {
            return ctx.err(TOO_BIG);
        }
        let mut v = vec![0u8; offset as usize];
        v.extend_from_slice(value);
        let n = v.len();
        // Built in place, as Redis builds it (a raw string, whatever it holds).
        db.set(&a[1], Value::Str(SmallBytes::boxed(v)), Ttl::Persist, now);
        ctx.dirty(1);
        return ctx.out.int(n as i64);
    };
    let cur = match &e.value {
        Value::Str(s) => s.len(),
        #[allow(unreachable_patterns)]
        _ => return ctx.err(errors::WRONGTYPE),
    };
    if value.is_empty() {
        return ctx.out.int(cur as i64);
    }
    if !fits {
        return ctx.err(TOO_BIG);
    }
    let res = edit_string(e, |v| {
        let off = offset as usize;
        let end = off + value.len();
        if v.len() < end {
            grow_exact(v, end);
            v.resize(end, 0);
        }
        v[off..end].copy_from_slice(value);
        v.len()
    });
    match res {
        Ok(n) => {
            ctx.dirty(1);
            ctx.out.int(n as i64)
        }
        Err(()) => ctx.err(errors::WRONGTYPE),
    }
}

/// LCS options as parsed.
#[derive(Default)]
struct LcsOpts {
    len: bool,
    idx: bool,
    withmatchlen: bool,
    minmatchlen: i64,
}

fn parse_lcs(a: &[Bytes]) -> Result<LcsOpts, &'static str> {
    let mut o = LcsOpts::default();
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if args::is(&a[j], "IDX") {
            o.idx = true;
        } else if args::is(&a[j], "LEN") {
            o.len = true;
        } else if args::is(&a[j], "WITHMATCHLEN") {
            o.withmatchlen = true;
        } else if args::is(&a[j], "MINMATCHLEN") && more {
            o.minmatchlen = args::int(&a[j + 1]).ok_or(errors::NOT_INT)?.max(0);
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err("ERR If you want both the length and indexes, please just use IDX.");
    }
    Ok(o)
}

/// Reads LCS's two inputs; a missing key is the empty string.
fn lcs_inputs(ctx: &mut Ctx, a: &[Bytes]) -> Result<(Vec<u8>, Vec<u8>), ()> {
    let x = read_string(ctx, &a[1])?.map(<[u8]>::to_vec);
    let y = read_string(ctx, &a[2])?.map(<[u8]>::to_vec);
    Ok((x.unwrap_or_default(), y.unwrap_or_default()))
}

/// The dynamic-programming table: `t[i*(blen+1)+j]` is the LCS length of `a[..i]`, `b[..j]`.
fn lcs_table(a: &[u8], b: &[u8], t: &mut [u32]) {
    let w = b.len() + 1;
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
}

/// One IDX match: ranges in a and b (inclusive) and the match length.
type LcsMatch = ((u32, u32), (u32, u32), u32);

/// Walks the table back from the end, building the LCS string and the match ranges exactly
/// in the order (and with the range-merging rules) Redis uses.
fn lcs_walk(a: &[u8], b: &[u8], t: &[u32], minlen: i64) -> (Vec<u8>, Vec<LcsMatch>) {
    let w = b.len() + 1;
    let alen = a.len() as u32;
    let mut idx = t[a.len() * w + b.len()] as usize;
    let mut result = vec![0u8; idx];
    let mut matches = Vec::new();
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0u32, 0u32, 0u32);
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == alen {
                a_start = i as u32 - 1;
                a_end = a_start;
                b_start = j as u32 - 1;
                b_end = b_start;
            } else if a_start == i as u32 && b_start == j as u32 {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            let mlen = a_end.wrapping_sub(a_start).wrapping_add(1);
            if minlen == 0 || mlen as i64 >= minlen {
                matches.push(((a_start, a_end), (b_start, b_end), mlen));
            }
            a_start = alen;
        }
    }
    (result, matches)
}

fn lcs(ctx: &mut Ctx, a: &[Bytes]) {
    let Ok((x, y)) = lcs_inputs(ctx, a) else {
        return ctx.err("ERR The specified keys must contain string values");
    };
    let o = match parse_lcs(a) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    if x.len() as u64 >= u32::MAX as u64 - 1 || y.len() as u64 >= u32::MAX as u64 - 1 {
        return ctx.err("ERR String too long for LCS");
    }
    let cells = (x.len() as u64 + 1) * (y.len() as u64 + 1);
    let bytes = cells.checked_mul(4);
    if !matches!(bytes, Some(b) if b <= ctx.settings.proto_max_bulk_len) {
        return ctx
            .err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let mut t: Vec<u32> = Vec::new();
    if t.try_reserve_exact(cells as usize).is_err() {
        return ctx.err("ERR Insufficient memory, failed allocating transient memory for LCS");
    }
    t.resize(cells as usize, 0);
    lcs_table(&x, &y, &mut t);
    let total = t[t.len() - 1];
    if o.len {
        return ctx.out.int(total as i64);
    }
    let (result, matches) = lcs_walk(&x, &y, &t, o.minmatchlen);
    if !o.idx {
        return ctx.out.bulk(&result);
    }
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(matches.len());
    for ((as_, ae), (bs, be), mlen) in matches {
        out.array(2 + o.withmatchlen as usize);
        out.array(2);
        out.int(as_ as i64);
        out.int(ae as i64);
        out.array(2);
        out.int(bs as i64);
        out.int(be as i64);
        if o.withmatchlen {
            out.int(mlen as i64);
        }
    }
    out.bulk(b"len");
    out.int(total as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_redis() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-3, -1, 5), Some((2, 4)));
        assert_eq!(clamp_range(-1, -3, 5), None);
        assert_eq!(clamp_range(3, 100, 5), Some((3, 4)));
        assert_eq!(clamp_range(10, 100, 5), None);
        assert_eq!(clamp_range(0, -1, 0), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 5), Some((0, 4)));
        assert_eq!(clamp_range(-100, -50, 5), Some((0, 0)));
    }

    #[test]
    fn lcs_matches_redis_example() {
        let (a, b) = (b"ohmytext".as_slice(), b"mynewtext".as_slice());
        let mut t = vec![0u32; (a.len() + 1) * (b.len() + 1)];
        lcs_table(a, b, &mut t);
        let (s, m) = lcs_walk(a, b, &t, 0);
        assert_eq!(s, b"mytext");
        assert_eq!(m, vec![((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)]);
        let (_, m) = lcs_walk(a, b, &t, 4);
        assert_eq!(m, vec![((4, 7), (5, 8), 4)]);
    }
}
