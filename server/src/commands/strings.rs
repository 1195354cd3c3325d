//! String commands.

use super::table::{flags::*, CommandSpec, Keys};
use super::{args, errors, Ctx};
use crate::keyspace::{SmallBytes, Ttl, Value};
use bytes::Bytes;

const K1: Keys = Keys::Range { first: 1, last: 1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY | FAST, K1, get, "string", "Returns the string value of a key."),
    CommandSpec::new("set", -3, WRITE | DENYOOM, K1, set, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
];

/// Reads a string value, or replies WRONGTYPE. `Ok(None)` when the key does not exist.
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

/// Parsed expiry options shared by SET and GETEX.
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
        "ex" | "exat" => v.checked_mul(1000).ok_or_else(|| errors::invalid_expire(cmd))?,
        _ => v,
    };
    let at = if unit == "ex" || unit == "px" {
        (now as i64).checked_add(ms).ok_or_else(|| errors::invalid_expire(cmd))?
    } else {
        ms
    };
    Ok(at as u64)
}

fn set(ctx: &mut Ctx, a: &[Bytes]) {
    let (mut nx, mut xx, mut get_old) = (false, false, false);
    let mut expire = ExpireOpt::None;
    let mut i = 3;
    while i < a.len() {
        let opt = crate::util::lower(&a[i]);
        match opt.as_str() {
            "nx" if !xx => nx = true,
            "xx" if !nx => xx = true,
            "get" => get_old = true,
            "keepttl" if expire == ExpireOpt::None => expire = ExpireOpt::KeepTtl,
            "ex" | "px" | "exat" | "pxat" if expire == ExpireOpt::None && i + 1 < a.len() => {
                match expire_instant(&opt, &a[i + 1], ctx.now, "set") {
                    Ok(at) => expire = ExpireOpt::At(at),
                    Err(e) => return ctx.err(&e),
                }
                i += 1;
            }
            _ => return ctx.err(errors::SYNTAX),
        }
        i += 1;
    }
    let now = ctx.now;
    let key = &a[1];
    let db = ctx.db();
    let old = match db.get_mut(key, now) {
        None => None,
        Some(e) => match &e.value {
            Value::Str(s) => Some(s.to_vec()),
            #[allow(unreachable_patterns)]
            _ if get_old => return ctx.err(errors::WRONGTYPE),
            #[allow(unreachable_patterns)]
            _ => Some(Vec::new()),
        },
    };
    let exists = old.is_some();
    if (nx && exists) || (xx && !exists) {
        return match (get_old, old) {
            (true, Some(v)) => ctx.out.bulk(&v),
            _ => ctx.out.null(),
        };
    }
    let ttl = match expire {
        ExpireOpt::None | ExpireOpt::Persist => Ttl::Persist,
        ExpireOpt::KeepTtl => Ttl::Keep,
        ExpireOpt::At(at) => Ttl::At(at),
    };
    db.set(key, Value::Str(SmallBytes::new(&a[2])), ttl, now);
    ctx.dirty(1);
    match (get_old, old) {
        (true, Some(v)) => ctx.out.bulk(&v),
        (true, None) => ctx.out.null(),
        _ => ctx.out.ok(),
    }
}
