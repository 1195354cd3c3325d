//! Expiry commands: setting (EXPIRE family with NX/XX/GT/LT), reading (TTL family, EXPIRETIME
//! family) and removing (PERSIST) a key's time to live.
//!
//! Instants are Unix milliseconds, computed once per command from `ctx.now`, so a relative TTL
//! and the "already expired" check within one command agree. Arithmetic is checked in `i64`
//! exactly where Redis checks it, so the same inputs overflow into the same error.

use super::keyspec::{self as ks, key_flags::*};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace_events::Events;
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "expire",
        -3,
        WRITE | FAST,
        &[ks::range(1, 0, 1, RW | UPDATE)],
        expire,
        "generic",
        "Sets the expiration time of a key in seconds.",
    )
    .events(Events::Expire),
    CommandSpec::new(
        "pexpire",
        -3,
        WRITE | FAST,
        &[ks::range(1, 0, 1, RW | UPDATE)],
        pexpire,
        "generic",
        "Sets the expiration time of a key in milliseconds.",
    )
    .events(Events::Expire),
    CommandSpec::new(
        "expireat",
        -3,
        WRITE | FAST,
        &[ks::range(1, 0, 1, RW | UPDATE)],
        expireat,
        "generic",
        "Sets the expiration time of a key to a Unix timestamp.",
    )
    .events(Events::Expire),
    CommandSpec::new(
        "pexpireat",
        -3,
        WRITE | FAST,
        &[ks::range(1, 0, 1, RW | UPDATE)],
        pexpireat,
        "generic",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
    )
    .events(Events::Expire),
    CommandSpec::new(
        "ttl",
        2,
        READONLY | FAST,
        &[ks::range(1, 0, 1, RO | ACCESS)],
        ttl,
        "generic",
        "Returns the expiration time in seconds of a key.",
    ),
    CommandSpec::new(
        "pttl",
        2,
        READONLY | FAST,
        &[ks::range(1, 0, 1, RO | ACCESS)],
        pttl,
        "generic",
        "Returns the expiration time in milliseconds of a key.",
    ),
    CommandSpec::new(
        "expiretime",
        2,
        READONLY | FAST,
        &[ks::range(1, 0, 1, RO | ACCESS)],
        expiretime,
        "generic",
        "Returns the expiration time of a key as a Unix timestamp.",
    ),
    CommandSpec::new(
        "pexpiretime",
        2,
        READONLY | FAST,
        &[ks::range(1, 0, 1, RO | ACCESS)],
        pexpiretime,
        "generic",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
    ),
    CommandSpec::new(
        "persist",
        2,
        WRITE | FAST,
        &[ks::range(1, 0, 1, RW | UPDATE)],
        persist,
        "generic",
        "Removes the expiration time of a key.",
    ),
];

/// The NX / XX / GT / LT conditions of the EXPIRE family.
#[derive(Default, Clone, Copy, Debug)]
struct Cond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_cond(a: &[Bytes]) -> Result<Cond, String> {
    let mut c = Cond::default();
    for opt in a.get(3..).unwrap_or(&[]) {
        if args::is(opt, "nx") {
            c.nx = true;
        } else if args::is(opt, "xx") {
            c.xx = true;
        } else if args::is(opt, "gt") {
            c.gt = true;
        } else if args::is(opt, "lt") {
            c.lt = true;
        } else {
            return Err(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if c.gt && c.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(c)
}

impl Cond {
    /// Whether the condition lets a key whose current expiry is `current` (None: no TTL)
    /// take the new instant `when`. A key without TTL counts as expiring never (infinitely
    /// late): GT always fails on it, LT always passes.
    fn allows(&self, current: Option<i64>, when: i64) -> bool {
        if self.nx && current.is_some() {
            return false;
        }
        if self.xx && current.is_none() {
            return false;
        }
        if self.gt && current.is_none_or(|cur| when <= cur) {
            return false;
        }
        if self.lt && current.is_some_and(|cur| when >= cur) {
            return false;
        }
        true
    }
}

fn expire(ctx: &mut Ctx, a: &[Bytes]) {
    expire_generic(ctx, a, ctx.now as i64, 1000);
}

fn pexpire(ctx: &mut Ctx, a: &[Bytes]) {
    expire_generic(ctx, a, ctx.now as i64, 1);
}

fn expireat(ctx: &mut Ctx, a: &[Bytes]) {
    expire_generic(ctx, a, 0, 1000);
}

fn pexpireat(ctx: &mut Ctx, a: &[Bytes]) {
    expire_generic(ctx, a, 0, 1);
}

/// The absolute instant `n * unit + base`, or `None` on the overflows Redis refuses.
fn instant(n: i64, unit: i64, base: i64) -> Option<i64> {
    n.checked_mul(unit)?.checked_add(base)
}

/// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: `base` is the time the argument is relative to
/// (now, or 0 for absolute forms), `unit` the argument's milliseconds per unit.
fn expire_generic(ctx: &mut Ctx, a: &[Bytes], base: i64, unit: i64) {
    let cond = match parse_cond(a) {
        Ok(c) => c,
        Err(e) => return ctx.err(&e),
    };
    let Some(n) = args::int(&a[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    let Some(when) = instant(n, unit, base) else {
        return ctx.err(&errors::invalid_expire(&args::name(a)));
    };
    let now = ctx.now;
    let key = &a[1];
    let db = ctx.db();
    let Some(e) = db.get_mut(key, now) else {
        return ctx.out.int(0);
    };
    let current = (e.expire_at() != 0).then_some(e.expire_at() as i64);
    if !cond.allows(current, when) {
        return ctx.out.int(0);
    }
    if when <= now as i64 {
        db.remove(key, now);
        ctx.propagate_as(vec![vec![
            Bytes::from_static(b"DEL"),
            Bytes::copy_from_slice(key),
        ]]);
    } else {
        db.set_expire(key, Some(when as u64), now);
        // Relative expiries replicate as the absolute instant they mean here.
        ctx.propagate_as(vec![vec![
            Bytes::from_static(b"PEXPIREAT"),
            Bytes::copy_from_slice(key),
            Bytes::from(when.to_string()),
        ]]);
    }
    ctx.dirty(1);
    ctx.out.int(1);
}

/// The key's expiry instant: `Err(-2)` when missing, `Ok(None)` without TTL. Counts as a
/// keyspace hit or miss without refreshing the access clock (Redis's LOOKUP_NOTOUCH).
fn expiry_of(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u64>, i64> {
    let now = ctx.now;
    let db = ctx.db();
    match db.get_mut(key, now).map(|e| e.expire_at()) {
        None => {
            db.misses += 1;
            Err(-2)
        }
        Some(at) => {
            db.hits += 1;
            Ok((at != 0).then_some(at))
        }
    }
}

fn ttl_reply(ctx: &mut Ctx, key: &[u8], ms: bool) {
    let now = ctx.now;
    let n = match expiry_of(ctx, key) {
        Err(code) => code,
        Ok(None) => -1,
        Ok(Some(at)) => {
            let left = at.saturating_sub(now) as i64;
            if ms {
                left
            } else {
                (left + 500) / 1000
            }
        }
    };
    ctx.out.int(n);
}

fn ttl(ctx: &mut Ctx, a: &[Bytes]) {
    ttl_reply(ctx, &a[1], false);
}

fn pttl(ctx: &mut Ctx, a: &[Bytes]) {
    ttl_reply(ctx, &a[1], true);
}

fn expiretime_reply(ctx: &mut Ctx, key: &[u8], ms: bool) {
    let n = match expiry_of(ctx, key) {
        Err(code) => code,
        Ok(None) => -1,
        Ok(Some(at)) if ms => at as i64,
        Ok(Some(at)) => (at / 1000) as i64,
    };
    ctx.out.int(n);
}

fn expiretime(ctx: &mut Ctx, a: &[Bytes]) {
    expiretime_reply(ctx, &a[1], false);
}

fn pexpiretime(ctx: &mut Ctx, a: &[Bytes]) {
    expiretime_reply(ctx, &a[1], true);
}

fn persist(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    let volatile = db.get_mut(&a[1], now).is_some_and(|e| e.expire_at() != 0);
    if volatile {
        db.set_expire(&a[1], None, now);
        ctx.dirty(1);
    }
    ctx.out.int(volatile as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(opts: &[&str]) -> Result<Cond, String> {
        let mut a: Vec<Bytes> = vec!["expire".into(), "k".into(), "1".into()];
        a.extend(opts.iter().map(|s| Bytes::from(s.to_string())));
        parse_cond(&a)
    }

    #[test]
    fn conditions_follow_redis_rules() {
        assert!(cond(&["nx", "xx"]).is_err());
        assert!(cond(&["NX", "gt"]).is_err());
        assert!(cond(&["gt", "lt"]).is_err());
        assert_eq!(cond(&["foo"]).unwrap_err(), "ERR Unsupported option foo");
        let xx_gt = cond(&["xx", "gt"]).unwrap();
        assert!(!xx_gt.allows(None, 10));
        assert!(xx_gt.allows(Some(5), 10));
        assert!(!xx_gt.allows(Some(10), 10));
        let lt = cond(&["lt"]).unwrap();
        assert!(lt.allows(None, 10));
        assert!(!lt.allows(Some(10), 10));
        assert!(lt.allows(Some(11), 10));
        let gt = cond(&["gt"]).unwrap();
        assert!(!gt.allows(None, i64::MAX));
        assert!(cond(&["nx"]).unwrap().allows(None, 1));
    }

    #[test]
    fn instant_overflow_is_detected() {
        assert_eq!(instant(i64::MAX / 1000 + 1, 1000, 0), None);
        assert_eq!(instant(i64::MAX, 1, 5), None);
        assert_eq!(instant(-5, 1000, 10_000), Some(5_000));
    }
}
