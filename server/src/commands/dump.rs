//! DUMP and RESTORE: a value's portable serialized form, Redis's own (RDB 10 values with
//! version and CRC64, see [`crate::rdb`]), so keys copy between slotcache and redis-server
//! in both directions (MIGRATE, tools) and single-key backups taken from either load in the
//! other.

use super::keyspec::{self as ks, key_flags::*};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::{clock, Entry};
use crate::keyspace_events::Events;
use crate::rdb::{decode::Limits, payload};
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "dump",
        2,
        READONLY,
        &[ks::range(1, 0, 1, RO | ACCESS)],
        dump,
        "generic",
        "Returns a serialized representation of the value stored at a key.",
    ),
    CommandSpec::new(
        "restore",
        -4,
        WRITE | DENYOOM,
        &[ks::range(1, 0, 1, OW | UPDATE)],
        restore,
        "generic",
        "Creates a key from the serialized representation of a value.",
    )
    .events(Events::Restore),
    // What MIGRATE sends in cluster mode: served for an importing slot without ASKING.
    CommandSpec::new(
        "restore-asking",
        -4,
        WRITE | DENYOOM | ASKING,
        &[ks::range(1, 0, 1, OW | UPDATE)],
        restore,
        "server",
        "An internal command for migrating keys in a cluster.",
    ),
];

pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";

fn dump(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match db.read(&a[1], now) {
        Some(e) => out.bulk(&payload::dump(&e.value)),
        None => out.null(),
    }
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle: Option<i64>,
    freq: Option<i64>,
}

fn restore_opts(a: &[Bytes]) -> Result<RestoreOpts, &'static str> {
    let mut o = RestoreOpts::default();
    let mut i = 4;
    while i < a.len() {
        let more = i + 1 < a.len();
        if args::is(&a[i], "replace") {
            o.replace = true;
        } else if args::is(&a[i], "absttl") {
            o.absttl = true;
        } else if args::is(&a[i], "idletime") && more && o.freq.is_none() {
            let n = args::int(&a[i + 1]).ok_or(errors::NOT_INT)?;
            if n < 0 {
                return Err("ERR Invalid IDLETIME value, must be >= 0");
            }
            o.idle = Some(n);
            i += 1;
        } else if args::is(&a[i], "freq") && more && o.idle.is_none() {
            let n = args::int(&a[i + 1]).ok_or(errors::NOT_INT)?;
            if !(0..=255).contains(&n) {
                return Err("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            o.freq = Some(n);
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

/// The access word a restored key starts with: IDLETIME under an LRU-style policy, FREQ
/// under an LFU policy (Redis's `objectSetLRUOrLFU`), otherwise "just accessed".
fn restored_access(ctx: &Ctx, o: &RestoreOpts) -> u32 {
    let now = ctx.now;
    if ctx.settings.maxmemory_policy.ends_with("-lfu") {
        if let Some(f) = o.freq {
            let minutes = ((now / 60_000) & 0xffff) as u32;
            return (minutes << 16) | f as u32;
        }
    } else if let Some(idle) = o.idle {
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        return clock::lru_now(now).wrapping_sub(idle);
    }
    clock::lru_now(now)
}

fn restore(ctx: &mut Ctx, a: &[Bytes]) {
    let o = match restore_opts(a) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let now = ctx.now;
    let key = &a[1];
    if !o.replace && ctx.db().contains(key, now) {
        return ctx.err(BUSYKEY);
    }
    let Some(ttl) = args::int(&a[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    if ttl < 0 {
        return ctx.err("ERR Invalid TTL value, must be >= 0");
    }
    let value = match payload::restore(&a[3], &Limits::from_settings(ctx.settings)) {
        Ok(v) => v,
        Err(e) => return ctx.err(e.message()),
    };
    let access = restored_access(ctx, &o);
    let db = ctx.db();
    let deleted = o.replace && db.remove(key, now).is_some();
    let expire_at = match ttl {
        0 => 0,
        t if o.absttl => t as u64,
        t => (now as i64).saturating_add(t) as u64,
    };
    if expire_at != 0 && expire_at <= now {
        // Already expired: the key ends up absent, which is a change only if one was replaced.
        if deleted {
            ctx.dirty(1);
            ctx.propagate_as(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
        }
        return ctx.out.ok();
    }
    db.insert_entry(Entry::boxed(key, value, expire_at, access), now);
    ctx.dirty(1);
    // As Redis: a relative TTL reaches replicas as the absolute expiry (ABSTTL appended);
    // otherwise the command goes as it came.
    if ttl != 0 && !o.absttl {
        let mut effect = a.to_vec();
        effect[2] = Bytes::from(expire_at.to_string());
        effect.push(Bytes::from_static(b"ABSTTL"));
        ctx.propagate_as(vec![effect]);
    }
    ctx.out.ok();
}
