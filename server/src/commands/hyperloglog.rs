//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE).
//!
//! Sketches are plain string values in Redis's sketch layout (see [`crate::keyspace::hll`]),
//! so TYPE says `string` and GET/SET move them around like Redis does. Dense sketches are
//! updated in place; sparse ones are decoded, updated and re-encoded (they are small by
//! definition).

use super::keyspec::{self as ks, key_flags::*};
use super::table::{flags::*, CommandSpec};
use super::{errors, Ctx};
use crate::keyspace::hll::{self, HllError, Registers};
use crate::keyspace::{Db, SmallBytes, Ttl, Value};
use crate::keyspace_events::Events;
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        &[ks::range(1, 0, 1, RW | INSERT)],
        pfadd,
        "hyperloglog",
        "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
    ),
    CommandSpec::new(
        "pfcount",
        -2,
        // may_replicate: updating the cached cardinality is a write replicas see, so a pause
        // of writes holds it and a read-only script may not call it (Redis's flags).
        READONLY | MAY_REPLICATE,
        &[ks::range(1, -1, 1, RW | ACCESS).notes("RW because it may change the internal representation of the key, and propagate to replicas")],
        pfcount,
        "hyperloglog",
        "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
    ).events(Events::None),
    CommandSpec::new(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        &[ks::range(1, 0, 1, RW | ACCESS | INSERT), ks::range(2, -1, 1, RO | ACCESS)],
        pfmerge,
        "hyperloglog",
        "Merges one or more HyperLogLog values into a single key.",
    ).events(Events::Store("pfadd")),
    CommandSpec::new(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        &[ks::range(2, 0, 1, RW | ACCESS)],
        pfdebug,
        "hyperloglog",
        "Internal commands for debugging HyperLogLog values.",
    ),
    CommandSpec::new(
        "pfselftest",
        1,
        ADMIN,
        &[],
        pfselftest,
        "hyperloglog",
        "An internal command for testing HyperLogLog values.",
    ),
];

pub const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Why a key could not be used as a sketch, as the error to reply.
fn error_text(e: Option<HllError>) -> &'static str {
    match e {
        None => errors::WRONGTYPE,
        Some(HllError::NotHll) => NOT_HLL,
        Some(HllError::Corrupt) => CORRUPT,
    }
}

/// Mutable access to a string's bytes without changing its length.
fn bytes_mut(s: &mut SmallBytes) -> &mut [u8] {
    match s {
        SmallBytes::Inline { len, data } => &mut data[..*len as usize],
        SmallBytes::Heap(b) => b,
    }
}

/// The sketch bytes at `key` (`Ok(None)` when absent). `Err(None)`: not a string at all;
/// `Err(Some(_))`: a string that is not a sketch.
fn sketch_mut<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a mut SmallBytes>, Option<HllError>> {
    match db.get_mut(key, now).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Str(s)) => {
            hll::validate(s).map_err(Some)?;
            Ok(Some(s))
        }
        Some(_) => Err(None),
    }
}

/// The registers of the sketch at `key` (`Ok(None)` when absent).
fn read_registers(
    db: &mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<Registers>, Option<HllError>> {
    match db.read(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Str(s)) => hll::registers(s).map(Some).map_err(Some),
        Some(_) => Err(None),
    }
}

fn pfadd(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let sparse_max = ctx.settings.hll_sparse_max_bytes;
    let key = &a[1];
    let elems = &a[2..];
    let db = ctx.db();
    let s = match sketch_mut(db, key, now) {
        Err(e) => return ctx.err(error_text(e)),
        Ok(None) => {
            let mut regs: Registers = Box::new([0u8; hll::REGISTERS]);
            hll::add_registers(&mut regs, elems);
            let mut v = hll::encode(&regs, true, sparse_max);
            if elems.is_empty() {
                v = hll::new_sketch();
            }
            db.set(key, Value::Str(SmallBytes::from_vec(v)), Ttl::Persist, now);
            ctx.dirty(1);
            return ctx.out.int(1);
        }
        Ok(Some(s)) => s,
    };
    let changed = if hll::is_dense(s) {
        let b = bytes_mut(s);
        let changed = hll::add_dense(b, elems);
        if changed {
            hll::invalidate_card(b);
        }
        changed
    } else {
        let mut regs = match hll::registers(s) {
            Ok(r) => r,
            Err(e) => return ctx.err(error_text(Some(e))),
        };
        let changed = hll::add_registers(&mut regs, elems);
        if changed {
            let mut v = hll::encode(&regs, true, sparse_max);
            // Redis edits a sketch in place (and copies the header when it goes dense): the
            // three unused header bytes keep whatever they held, and the cached cardinality
            // keeps its bytes with only its stale bit set.
            v[5..hll::HEADER].copy_from_slice(&s[5..hll::HEADER]);
            v[hll::HEADER - 1] |= 0x80;
            *s = SmallBytes::from_vec(v);
        }
        changed
    };
    if changed {
        ctx.dirty(1);
    }
    ctx.out.int(changed as i64);
}

fn pfcount(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    if a.len() == 2 {
        return pfcount_one(ctx, &a[1]);
    }
    let mut acc: Registers = Box::new([0u8; hll::REGISTERS]);
    for k in &a[1..] {
        match read_registers(ctx.db(), k, now) {
            Err(e) => return ctx.err(error_text(e)),
            Ok(None) => {}
            Ok(Some(r)) => hll::merge_into(&mut acc, &r),
        }
    }
    ctx.out.int(hll::count(&acc) as i64);
}

/// PFCOUNT of one key answers from, or refreshes, the sketch's cached cardinality.
fn pfcount_one(ctx: &mut Ctx, key: &[u8]) {
    let now = ctx.now;
    let hit = ctx.db().read(key, now).is_some();
    if !hit {
        return ctx.out.int(0);
    }
    let s = match sketch_mut(ctx.db(), key, now) {
        Err(e) => return ctx.err(error_text(e)),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s,
    };
    if let Some(c) = hll::cached_card(s) {
        return ctx.out.int(c as i64);
    }
    let card = match hll::registers(s) {
        Ok(r) => hll::count(&r),
        Err(e) => return ctx.err(error_text(Some(e))),
    };
    hll::set_cached_card(bytes_mut(s), card);
    // The sketch's bytes changed: replicas run the same PFCOUNT, so their copy keeps the
    // same bytes (GET, DEBUG DIGEST), and WATCHers of the key see it modified, as in Redis.
    ctx.dirty(1);
    ctx.propagate_as(vec![vec![
        Bytes::from_static(b"PFCOUNT"),
        Bytes::copy_from_slice(key),
    ]]);
    ctx.out.int(card as i64);
}

fn pfmerge(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let mut acc: Registers = Box::new([0u8; hll::REGISTERS]);
    for k in &a[1..] {
        match read_registers(ctx.db(), k, now) {
            Err(e) => return ctx.err(error_text(e)),
            Ok(None) => {}
            Ok(Some(r)) => hll::merge_into(&mut acc, &r),
        }
    }
    // The destination becomes dense, as in Redis; an existing key keeps its TTL.
    let v = SmallBytes::from_vec(hll::encode(&acc, false, 0));
    let dst = &a[1];
    match ctx.db().get_mut(dst, now) {
        Some(e) => e.value = Value::Str(v),
        None => {
            ctx.db().set(dst, Value::Str(v), Ttl::Persist, now);
        }
    }
    ctx.dirty(1);
    ctx.out.ok();
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key, as Redis's debugging aid.
fn pfdebug(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let sub = crate::util::lower(&a[1]);
    let s = match sketch_mut(ctx.db(), &a[2], now) {
        Err(e) => return ctx.err(error_text(e)),
        Ok(None) => return ctx.err("ERR The specified key does not exist"),
        Ok(Some(s)) => s,
    };
    let regs = match hll::registers(s) {
        Ok(r) => r,
        Err(e) => return ctx.err(error_text(Some(e))),
    };
    let dense = hll::is_dense(s);
    match sub.as_str() {
        "getreg" | "todense" => {
            if !dense {
                // Both turn the sketch dense first, as in Redis.
                let mut v = hll::encode(&regs, false, 0);
                if let Some(c) = hll::cached_card(s) {
                    hll::set_cached_card(&mut v, c);
                }
                *s = SmallBytes::from_vec(v);
                ctx.dirty(1);
            }
            if sub == "getreg" {
                ctx.out.array(regs.len());
                for &r in regs.iter() {
                    ctx.out.int(r as i64);
                }
            } else {
                ctx.out.int(!dense as i64);
            }
        }
        "encoding" => ctx.out.simple(if dense { "dense" } else { "sparse" }),
        "decode" => {
            if dense {
                return ctx.err("ERR HLL encoding is not sparse");
            }
            let text = hll::describe_sparse(s);
            ctx.out.simple(&text);
        }
        _ => {
            let msg = format!(
                "ERR Unknown PFDEBUG subcommand '{}'",
                String::from_utf8_lossy(&a[1])
            );
            ctx.err(&msg)
        }
    }
}

/// PFSELFTEST: checks register packing and the estimator's error on this build.
fn pfselftest(ctx: &mut Ctx, _a: &[Bytes]) {
    match hll::self_test() {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.err(&format!("ERR {e}")),
    }
}
