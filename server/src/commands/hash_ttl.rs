//! Hash-field expiration (Redis 7.4's HEXPIRE family, HTTL family and HPERSIST; Redis 8.0's
//! HGETEX, HSETEX and HGETDEL).
//!
//! Replies and errors follow Redis 8.0's `t_hash.c`: per-field arrays where -2 means "no
//! such field", -1 "no TTL", 0 "condition not met", 1 "done" and 2 "deleted because the
//! time was already in the past". Writes replicate as effects: absolute `HPEXPIREAT`s,
//! `HSETEX ... PXAT`, and `HDEL`s for fields a past time deleted. Where expired data is kept
//! (a replica, or while writes are paused), a past time is stored instead of deleting, as
//! Redis's `checkAlreadyExpired` does, and the primary's HDEL follows.
//!
//! Valkey 9's HSETEX differs from Redis 8.0's, which is followed here: Valkey adds key-level
//! `NX`/`XX` beside `FNX`/`FXX`, and words its `numfields` error differently.

use super::hashes::{live, lookup, lookup_mut, Scope};
use super::keyspec::{self as ks, key_flags::*};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::types::hash::HashLimits;
use crate::keyspace::Value;
use crate::keyspace_events::Events;
use bytes::Bytes;

const H: Events = Events::Reported('h');

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hexpire", -6, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], hexpire, "hash", "Set expiry for hash field using relative time to expire (seconds)").events(H),
    CommandSpec::new("hpexpire", -6, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], hpexpire, "hash", "Set expiry for hash field using relative time to expire (milliseconds)").events(H),
    CommandSpec::new("hexpireat", -6, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], hexpireat, "hash", "Set expiry for hash field using an absolute Unix timestamp (seconds)").events(H),
    CommandSpec::new("hpexpireat", -6, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], hpexpireat, "hash", "Set expiry for hash field using an absolute Unix timestamp (milliseconds)").events(H),
    CommandSpec::new("httl", -5, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], httl, "hash", "Returns the TTL in seconds of a hash field."),
    CommandSpec::new("hpttl", -5, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], hpttl, "hash", "Returns the TTL in milliseconds of a hash field."),
    CommandSpec::new("hexpiretime", -5, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], hexpiretime, "hash", "Returns the expiration time of a hash field as a Unix timestamp, in seconds."),
    CommandSpec::new("hpexpiretime", -5, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], hpexpiretime, "hash", "Returns the expiration time of a hash field as a Unix timestamp, in msec."),
    CommandSpec::new("hpersist", -5, WRITE | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], hpersist, "hash", "Removes the expiration time for each specified field").events(H),
    CommandSpec::new("hgetdel", -5, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE)], hgetdel, "hash", "Returns the value of a field and deletes it from the hash.").events(H),
    CommandSpec::new("hgetex", -5, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], hgetex, "hash", "Get the value of one or more fields of a given hash key, and optionally set their expiration.").events(H),
    CommandSpec::new("hsetex", -6, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], hsetex, "hash", "Set the value of one or more fields of a given hash key, and optionally set their expiration.").events(H),
];

/// The largest absolute field expiry Redis accepts (`HFE_MAX_ABS_TIME_MSEC`: 2^46 - 1 ms).
pub const MAX_ABS_MS: i64 = ((1i64 << 48) - 1) >> 2;

const FIELDS_MISSING: &str =
    "ERR Mandatory argument FIELDS is missing or not at the right position";
const FIELDS_MISMATCH: &str = "ERR The `numfields` parameter must match the number of arguments";
const FIELDS_POSITIVE: &str = "ERR Number of fields must be a positive integer";

/// `FIELDS numfields field...` with `FIELDS` at `at - 1` and the count at `at`: the fields,
/// or the error Redis replies (`bad_count` for a count that is not a positive integer).
fn fields_at<'a>(a: &'a [Bytes], at: usize, bad_count: &str) -> Result<&'a [Bytes], String> {
    if a.get(at - 1).is_none_or(|f| !args::is(f, "fields")) {
        return Err(FIELDS_MISSING.into());
    }
    let n = a
        .get(at)
        .and_then(|n| args::int(n))
        .filter(|&n| n >= 1)
        .ok_or_else(|| bad_count.to_string())?;
    if n as u64 != (a.len() - at - 1) as u64 {
        return Err(FIELDS_MISMATCH.into());
    }
    Ok(&a[at + 1..])
}

/// An expiry argument as an absolute Unix time in ms (Redis's `parseExpireTime`); `a` is the
/// command line (its name words the error).
fn expire_time(a: &[Bytes], arg: &[u8], seconds: bool, base: u64) -> Result<u64, String> {
    let mut v = args::int(arg).ok_or(errors::NOT_INT)?;
    if v < 0 {
        return Err("ERR invalid expire time, must be >= 0".into());
    }
    if seconds {
        if v > MAX_ABS_MS / 1000 {
            return Err(errors::invalid_expire(&args::name(a)));
        }
        v *= 1000;
    }
    if v > MAX_ABS_MS - base as i64 {
        return Err(errors::invalid_expire(&args::name(a)));
    }
    Ok(v as u64 + base)
}

/// `Err` when `key` holds something other than a hash (checked before the arguments, as
/// Redis does).
fn wrong_type(ctx: &mut Ctx, key: &[u8]) -> bool {
    let now = ctx.now;
    let wrong = ctx
        .db()
        .peek_ref(key, now)
        .is_some_and(|e| !matches!(e.value, Value::Hash(_)));
    if wrong {
        ctx.err(errors::WRONGTYPE);
    }
    wrong
}

/// HEXPIRE's per-field conditions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cond {
    None,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// What setting one field's expiry did (the numbers are the reply).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetEx {
    NoField = -2,
    NotMet = 0,
    Set = 1,
    Deleted = 2,
}

/// Sets one field's expiry under `cond` (Redis's `hashTypeSetEx`): a field without a TTL
/// counts as expiring never, so GT never holds for it and LT always does.
fn set_ex(
    h: &mut crate::keyspace::types::HashValue,
    field: &[u8],
    at: u64,
    cond: Cond,
    now: u64,
    keep_expired: bool,
) -> SetEx {
    let Some(prev) = h.expiry(field) else {
        return SetEx::NoField;
    };
    let met = match (cond, prev) {
        (Cond::None, _) => true,
        (Cond::Nx, p) => p.is_none(),
        (Cond::Xx, p) => p.is_some(),
        (Cond::Gt, None) => false,
        (Cond::Gt, Some(p)) => at > p,
        (Cond::Lt, None) => true,
        (Cond::Lt, Some(p)) => at < p,
    };
    if !met {
        return SetEx::NotMet;
    }
    if at <= now && !keep_expired {
        h.remove(field);
        return SetEx::Deleted;
    }
    h.set_expiry(field, Some(at));
    SetEx::Set
}

/// `HDEL key field` per field a past expiry deleted, as Redis propagates them.
fn hdels(key: &Bytes, fields: &[Bytes]) -> Vec<Vec<Bytes>> {
    fields
        .iter()
        .map(|f| vec![Bytes::from_static(b"HDEL"), key.clone(), f.clone()])
        .collect()
}

/// Deletes the key when the command left its hash empty, and says so.
fn drop_if_empty(ctx: &mut Ctx, key: &Bytes) {
    let now = ctx.now;
    if super::hashes::drop_if_empty(ctx.db(), key, now) {
        ctx.notify("del", key);
    }
}

fn hexpire(ctx: &mut Ctx, a: &[Bytes]) {
    hexpire_generic(ctx, a, true, true);
}

fn hpexpire(ctx: &mut Ctx, a: &[Bytes]) {
    hexpire_generic(ctx, a, false, true);
}

fn hexpireat(ctx: &mut Ctx, a: &[Bytes]) {
    hexpire_generic(ctx, a, true, false);
}

fn hpexpireat(ctx: &mut Ctx, a: &[Bytes]) {
    hexpire_generic(ctx, a, false, false);
}

/// HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT: `key time [NX|XX|GT|LT] FIELDS n field...`.
fn hexpire_generic(ctx: &mut Ctx, a: &[Bytes], seconds: bool, relative: bool) {
    let key = &a[1];
    if wrong_type(ctx, key) {
        return;
    }
    let now = ctx.now;
    let at = match expire_time(a, &a[2], seconds, if relative { now } else { 0 }) {
        Ok(t) => t,
        Err(e) => return ctx.err(&e),
    };
    let cond = [
        ("nx", Cond::Nx),
        ("xx", Cond::Xx),
        ("gt", Cond::Gt),
        ("lt", Cond::Lt),
    ]
    .into_iter()
    .find(|(o, _)| args::is(&a[3], o))
    .map_or(Cond::None, |(_, c)| c);
    let count_at = if cond == Cond::None { 4 } else { 5 };
    let fields = match fields_at(
        a,
        count_at,
        "ERR Parameter `numFields` should be greater than 0",
    ) {
        Ok(f) => f,
        Err(e) => return ctx.err(&e),
    };
    let keep = ctx.db().keep_expired;
    let Ok(Some(h)) = lookup_mut(ctx.db(), key, now, false, Scope::Fields(fields)) else {
        ctx.out.array(fields.len());
        return fields
            .iter()
            .for_each(|_| ctx.out.int(SetEx::NoField as i64));
    };
    let had_ttls = h.has_ttls();
    let results: Vec<SetEx> = fields
        .iter()
        .map(|f| set_ex(h, f, at, cond, now, keep))
        .collect();
    ctx.out.array(results.len());
    results.iter().for_each(|&r| ctx.out.int(r as i64));
    let set: Vec<Bytes> = pick(fields, &results, SetEx::Set);
    let deleted: Vec<Bytes> = pick(fields, &results, SetEx::Deleted);
    if set.is_empty() && deleted.is_empty() {
        return ctx.propagate_as(Vec::new());
    }
    ctx.dirty((set.len() + deleted.len()) as u64);
    ctx.notify(
        if deleted.is_empty() {
            "hexpire"
        } else {
            "hdel"
        },
        key,
    );
    if !set.is_empty() && !had_ttls {
        ctx.db().hfe.add(key);
    }
    drop_if_empty(ctx, key);
    if !ctx.replicating() {
        return;
    }
    let mut cmds = hdels(key, &deleted);
    if !set.is_empty() {
        let mut c = vec![
            Bytes::from_static(b"HPEXPIREAT"),
            key.clone(),
            Bytes::from(at.to_string()),
        ];
        if cond != Cond::None {
            c.push(a[3].clone());
        }
        c.push(Bytes::from_static(b"FIELDS"));
        c.push(Bytes::from(set.len().to_string()));
        c.extend(set);
        cmds.push(c);
    }
    ctx.propagate_as(cmds);
}

/// The fields whose result was `want`.
fn pick(fields: &[Bytes], results: &[SetEx], want: SetEx) -> Vec<Bytes> {
    fields
        .iter()
        .zip(results)
        .filter(|(_, &r)| r == want)
        .map(|(f, _)| f.clone())
        .collect()
}

fn httl(ctx: &mut Ctx, a: &[Bytes]) {
    httl_generic(ctx, a, true, true);
}

fn hpttl(ctx: &mut Ctx, a: &[Bytes]) {
    httl_generic(ctx, a, false, true);
}

fn hexpiretime(ctx: &mut Ctx, a: &[Bytes]) {
    httl_generic(ctx, a, true, false);
}

fn hpexpiretime(ctx: &mut Ctx, a: &[Bytes]) {
    httl_generic(ctx, a, false, false);
}

/// HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME: -2 for a missing (or expired) field, -1 for one
/// without a TTL; seconds round up, as Redis's do.
fn httl_generic(ctx: &mut Ctx, a: &[Bytes], seconds: bool, relative: bool) {
    let key = &a[1];
    if wrong_type(ctx, key) {
        return;
    }
    let fields = match fields_at(a, 3, FIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return ctx.err(&e),
    };
    let now = ctx.now;
    let base = if relative { now } else { 0 };
    let (db, out) = ctx.db_out();
    let h = match db.read(key, now).map(|e| &e.value) {
        Some(Value::Hash(h)) => Some(h),
        _ => None,
    };
    out.array(fields.len());
    for f in fields {
        out.int(match h.and_then(|h| h.expiry(f)) {
            None => -2,
            Some(None) => -1,
            Some(Some(t)) if t <= now => -2,
            Some(Some(t)) if seconds => ((t + 999 - base) / 1000) as i64,
            Some(Some(t)) => (t - base) as i64,
        });
    }
}

/// HPERSIST: 1 for each field whose TTL it removed, -1 for one without, -2 for no field.
fn hpersist(ctx: &mut Ctx, a: &[Bytes]) {
    let key = &a[1];
    if wrong_type(ctx, key) {
        return;
    }
    let fields = match fields_at(a, 3, FIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return ctx.err(&e),
    };
    let now = ctx.now;
    let mut changed = 0;
    let results: Vec<i64> = match lookup_mut(ctx.db(), key, now, false, Scope::Fields(&[])) {
        Ok(Some(h)) => fields
            .iter()
            .map(|f| match h.expiry(f) {
                None => -2,
                Some(None) => -1,
                Some(Some(t)) if t <= now => -2,
                Some(Some(_)) => {
                    h.set_expiry(f, None);
                    changed += 1;
                    1
                }
            })
            .collect(),
        _ => vec![-2; fields.len()],
    };
    ctx.out.array(results.len());
    results.iter().for_each(|&r| ctx.out.int(r));
    if changed > 0 {
        ctx.dirty(changed);
        ctx.notify("hpersist", key);
    }
}

/// HGETDEL key FIELDS n field...: the values, then the fields are gone.
fn hgetdel(ctx: &mut Ctx, a: &[Bytes]) {
    let key = &a[1];
    if wrong_type(ctx, key) {
        return;
    }
    let fields = match fields_at(a, 3, FIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return ctx.err(&e),
    };
    let now = ctx.now;
    let mut deleted = Vec::new();
    let mut values = Vec::with_capacity(fields.len());
    if let Ok(Some(h)) = lookup_mut(ctx.db(), key, now, false, Scope::Fields(fields)) {
        for f in fields {
            let v = live(h, f, now).map(|v| v.to_vec());
            if v.is_some() && h.remove(f) {
                deleted.push(f.clone());
            }
            values.push(v);
        }
    } else {
        values.resize(fields.len(), None);
    }
    ctx.out.array(values.len());
    for v in &values {
        match v {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    if deleted.is_empty() {
        return ctx.propagate_as(Vec::new());
    }
    ctx.dirty(deleted.len() as u64);
    ctx.notify("hdel", key);
    drop_if_empty(ctx, key);
    let mut c = vec![Bytes::from_static(b"HDEL"), key.clone()];
    c.extend(deleted);
    ctx.propagate_as(vec![c]);
}

/// What HGETEX does to the fields it returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GetEx {
    Nothing,
    Persist,
    Expire(u64),
}

/// HGETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST] FIELDS n field...
fn hgetex(ctx: &mut Ctx, a: &[Bytes]) {
    let key = &a[1];
    if wrong_type(ctx, key) {
        return;
    }
    let now = ctx.now;
    let (what, count_at) = match expiry_option(&a[2], now) {
        Some((seconds, base)) => match expire_time(a, &a[3], seconds, base) {
            Ok(t) => (GetEx::Expire(t), 5),
            Err(e) => return ctx.err(&e),
        },
        None if args::is(&a[2], "persist") => (GetEx::Persist, 4),
        None => (GetEx::Nothing, 3),
    };
    let fields = match fields_at(a, count_at, FIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return ctx.err(&e),
    };
    let keep = ctx.db().keep_expired;
    let (mut updated, mut deleted) = (0u64, Vec::new());
    let mut values = Vec::with_capacity(fields.len());
    let mut had_ttls = true;
    if let Ok(Some(h)) = lookup_mut(ctx.db(), key, now, false, Scope::Fields(fields)) {
        had_ttls = h.has_ttls();
        for f in fields {
            let v = live(h, f, now).map(|v| v.to_vec());
            if v.is_some() {
                match what {
                    GetEx::Nothing => {}
                    GetEx::Persist => {
                        if matches!(h.expiry(f), Some(Some(_))) {
                            h.set_expiry(f, None);
                            updated += 1;
                        }
                    }
                    GetEx::Expire(at) => match set_ex(h, f, at, Cond::None, now, keep) {
                        SetEx::Set => updated += 1,
                        SetEx::Deleted => deleted.push(f.clone()),
                        _ => {}
                    },
                }
            }
            values.push(v);
        }
    } else {
        values.resize(fields.len(), None);
    }
    ctx.out.array(values.len());
    for v in &values {
        match v {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    if updated == 0 && deleted.is_empty() {
        return ctx.propagate_as(Vec::new());
    }
    ctx.dirty(updated + deleted.len() as u64);
    if !ctx.replicating() {
        ctx.notify(
            match (updated > 0, what) {
                (false, _) => "hdel",
                (true, GetEx::Persist) => "hpersist",
                (true, _) => "hexpire",
            },
            key,
        );
        if updated > 0 && matches!(what, GetEx::Expire(_)) && !had_ttls {
            ctx.db().hfe.add(key);
        }
        drop_if_empty(ctx, key);
        // Nothing to replicate; dispatch must not send the command as sent either.
        return ctx.propagate_as(Vec::new());
    }
    let mut cmds = hdels(key, &deleted);
    let count = Bytes::from(fields.len().to_string());
    if updated > 0 {
        let mut c = match what {
            GetEx::Persist => {
                ctx.notify("hpersist", key);
                vec![Bytes::from_static(b"HPERSIST"), key.clone()]
            }
            GetEx::Expire(at) => {
                ctx.notify("hexpire", key);
                if !had_ttls {
                    ctx.db().hfe.add(key);
                }
                let t = Bytes::from(at.to_string());
                vec![Bytes::from_static(b"HPEXPIREAT"), key.clone(), t]
            }
            GetEx::Nothing => Vec::new(),
        };
        c.push(Bytes::from_static(b"FIELDS"));
        c.push(count);
        c.extend(fields.iter().cloned());
        cmds.push(c);
    } else {
        ctx.notify("hdel", key);
    }
    drop_if_empty(ctx, key);
    ctx.propagate_as(cmds);
}

/// EX, PX, EXAT or PXAT: whether its time is in seconds, and the base it is relative to.
fn expiry_option(opt: &Bytes, now: u64) -> Option<(bool, u64)> {
    [
        ("ex", true, now),
        ("px", false, now),
        ("exat", true, 0),
        ("pxat", false, 0),
    ]
    .into_iter()
    .find(|(o, _, _)| args::is(opt, o))
    .map(|(_, seconds, base)| (seconds, base))
}

/// HSETEX's options (Redis 8.0's `hsetexParseArgs`).
struct SetExArgs {
    fnx: bool,
    fxx: bool,
    keepttl: bool,
    at: Option<u64>,
    /// Where the pairs start.
    first: usize,
}

fn hsetex_args(a: &[Bytes], now: u64) -> Result<SetExArgs, String> {
    const EXPIRY: &str = "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified";
    let mut o = SetExArgs {
        fnx: false,
        fxx: false,
        keepttl: false,
        at: None,
        first: 0,
    };
    let mut i = 2;
    while i < a.len() {
        let arg = &a[i];
        if args::is(arg, "fields") {
            if i + 3 >= a.len() {
                return Err(errors::arity(&args::name(a)));
            }
            let n = args::int(&a[i + 1])
                .filter(|&n| (1..=i32::MAX as i64).contains(&n))
                .ok_or("ERR invalid number of fields")?;
            let remaining = a.len() - i - 2;
            if !remaining.is_multiple_of(2) || n as usize != remaining / 2 {
                return Err(errors::arity(&args::name(a)));
            }
            o.first = i + 2;
            return Ok(o);
        } else if let Some((seconds, base)) = expiry_option(arg, now) {
            if o.at.is_some() || o.keepttl {
                return Err(EXPIRY.into());
            }
            if i + 1 >= a.len() {
                return Err("ERR missing expire time".into());
            }
            o.at = Some(expire_time(a, &a[i + 1], seconds, base)?);
            i += 1;
        } else if args::is(arg, "keepttl") {
            if o.at.is_some() || o.keepttl {
                return Err(EXPIRY.into());
            }
            o.keepttl = true;
        } else if args::is(arg, "fxx") || args::is(arg, "fnx") {
            if o.fxx || o.fnx {
                return Err("ERR Only one of FXX or FNX arguments can be specified".into());
            }
            o.fxx = args::is(arg, "fxx");
            o.fnx = !o.fxx;
        } else {
            return Err(format!(
                "ERR unknown argument: {}",
                String::from_utf8_lossy(arg)
            ));
        }
        i += 1;
    }
    Err(errors::arity(&args::name(a)))
}

/// HSETEX key [FNX|FXX] [EX|PX|EXAT|PXAT time | KEEPTTL] FIELDS n field value...: 1 when
/// all fields were set, 0 when FNX/FXX refused.
fn hsetex(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let o = match hsetex_args(a, now) {
        Ok(o) => o,
        Err(e) => return ctx.err(&e),
    };
    let key = &a[1];
    let pairs = &a[o.first..];
    let fields: Vec<Bytes> = pairs.iter().step_by(2).cloned().collect();
    let limits = HashLimits::from_settings(ctx.settings);
    let keep = ctx.db().keep_expired;
    if o.fnx || o.fxx {
        let met = match lookup(ctx.db(), key, now, Scope::Fields(&fields)) {
            Err(()) => return ctx.err(errors::WRONGTYPE),
            Ok(Some(h)) => {
                let found = fields.iter().filter(|f| live(&h, f, now).is_some()).count();
                (o.fnx && found == 0) || (o.fxx && found == fields.len())
            }
            Ok(None) => o.fnx,
        };
        if !met {
            return ctx.out.int(0);
        }
    }
    let Ok(Some(h)) = lookup_mut(ctx.db(), key, now, true, Scope::Fields(&fields)) else {
        return ctx.err(errors::WRONGTYPE);
    };
    let longest = pairs.iter().map(|b| b.len()).max().unwrap_or(0);
    let had_ttls = h.has_ttls();
    h.prepare(fields.len(), longest, limits);
    let (mut updated, mut deleted) = (false, Vec::new());
    for p in pairs.chunks_exact(2) {
        if o.at.is_some() || o.keepttl {
            h.set_keep_ttl(&p[0], &p[1], limits);
        } else {
            h.set(&p[0], &p[1], limits);
        }
    }
    // The TTLs once every field is in: a hash getting its first TTL sizes its expiry words
    // for all of them at once.
    if let Some(at) = o.at {
        for f in &fields {
            match set_ex(h, f, at, Cond::None, now, keep) {
                SetEx::Set => updated = true,
                SetEx::Deleted => deleted.push(f.clone()),
                _ => {}
            }
        }
    }
    ctx.dirty(fields.len() as u64);
    ctx.out.int(1);
    ctx.notify("hset", key);
    if !deleted.is_empty() {
        ctx.notify("hdel", key);
    } else if updated {
        ctx.notify("hexpire", key);
        // Indexed once, when the hash gets its first TTL.
        if !had_ttls {
            ctx.db().hfe.add(key);
        }
    }
    if !deleted.is_empty() {
        drop_if_empty(ctx, key);
        return ctx.propagate_as(hdels(key, &deleted));
    }
    if !ctx.replicating() {
        return;
    }
    // As sent, with a relative or second-based time as PXAT milliseconds.
    let mut c = vec![Bytes::from_static(b"HSETEX"), key.clone()];
    if o.fnx {
        c.push(Bytes::from_static(b"FNX"));
    }
    if o.fxx {
        c.push(Bytes::from_static(b"FXX"));
    }
    if let Some(at) = o.at {
        c.push(Bytes::from_static(b"PXAT"));
        c.push(Bytes::from(at.to_string()));
    }
    if o.keepttl {
        c.push(Bytes::from_static(b"KEEPTTL"));
    }
    c.push(Bytes::from_static(b"FIELDS"));
    c.push(Bytes::from(fields.len().to_string()));
    c.extend(pairs.iter().cloned());
    ctx.propagate_as(vec![c]);
}
