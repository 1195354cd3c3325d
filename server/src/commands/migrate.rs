//! MIGRATE: moves keys to another node, the primitive that resharding is built of.
//!
//! The handler runs under the keyspace lock like every command, but only does the quick
//! part: it serializes the keys, marks them in flight and hands a [`crate::migration::Job`]
//! to the connection, which talks to the target without holding the lock. While a key is
//! in flight it is still here for readers, and writers to it wait (see
//! [`crate::migration::InFlight`]), so a key is on exactly one side at any instant: the
//! handler's second half deletes it here only after the target confirmed it has it.

use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::table::facts;
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::flow::Next;
use crate::migration::{Auth, Item, Job};
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "migrate",
    -6,
    WRITE,
    &[
        ks::range(3, 0, 1, RW | ACCESS | DELETE),
        ks::keyword("KEYS", -2, -1, 1, RW | ACCESS | DELETE | INCOMPLETE),
    ],
    migrate,
    "generic",
    "Atomically transfers a key from one Redis instance to another.",
)
.secrets(migrate_secrets)
.facts(facts::MOVES_KEYS)
.getkeys(key_positions)];

/// MIGRATE's keys, as Redis's `migrateGetKeys` finds them: the key at 3, or the keys after
/// KEYS (AUTH's and AUTH2's arguments skipped), all `RW access delete`. KEYS with a key at 3
/// too is a buggy client: no keys.
fn key_positions(a: &[Bytes]) -> Vec<KeyRef> {
    let mut first = 3;
    let mut i = 6;
    while i < a.len() {
        if args::is(&a[i], "keys") {
            if !a[3].is_empty() {
                return Vec::new();
            }
            first = i + 1;
            break;
        }
        if args::is(&a[i], "auth") {
            i += 1;
        } else if args::is(&a[i], "auth2") {
            i += 2;
        }
        i += 1;
    }
    let last = if first == 3 {
        3
    } else {
        a.len().saturating_sub(1)
    };
    (first..=last)
        .filter(|&pos| pos < a.len())
        .map(|pos| KeyRef {
            pos,
            flags: RW | ACCESS | DELETE,
        })
        .collect()
}

/// Whether serializing this value could hold the lock for more than a moment.
fn is_big(v: &crate::keyspace::Value) -> bool {
    use crate::keyspace::Value;
    use crate::migration::{BIG_ELEMENTS, BIG_STRING};
    match v {
        Value::Str(s) => s.len() > BIG_STRING,
        Value::Hash(h) => h.len() > BIG_ELEMENTS,
        Value::List(l) => l.len() > BIG_ELEMENTS,
        Value::Set(s) => s.len() > BIG_ELEMENTS,
        Value::ZSet(z) => z.len() > BIG_ELEMENTS,
        Value::Stream(s) => s.len() > BIG_ELEMENTS as u64,
    }
}

/// MIGRATE inside MULTI/EXEC: refused (see the README's differences from Redis).
pub const MIGRATE_IN_EXEC: &str =
    "ERR MIGRATE is not supported inside MULTI/EXEC: send it outside the transaction";

fn migrate(ctx: &mut Ctx, a: &[Bytes]) {
    let mut copy = false;
    let mut replace = false;
    let mut auth = None;
    let mut keys: &[Bytes] = std::slice::from_ref(&a[3]);
    let mut i = 6;
    while i < a.len() {
        let more = a.len() - i - 1;
        if args::is(&a[i], "copy") {
            copy = true;
        } else if args::is(&a[i], "replace") {
            replace = true;
        } else if args::is(&a[i], "auth") && more >= 1 {
            auth = Some(Auth::Password(a[i + 1].clone()));
            i += 1;
        } else if args::is(&a[i], "auth2") && more >= 2 {
            auth = Some(Auth::User(a[i + 1].clone(), a[i + 2].clone()));
            i += 2;
        } else if args::is(&a[i], "keys") {
            if !a[3].is_empty() {
                return ctx.err("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
            }
            keys = &a[i + 1..];
            break;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        i += 1;
    }
    let (Some(port), Some(db), Some(timeout)) = (
        args::int(&a[2]).filter(|p| (1..=65535).contains(p)),
        args::int(&a[4]).filter(|d| *d >= 0),
        args::int(&a[5]),
    ) else {
        return ctx.err(errors::NOT_INT);
    };
    let timeout = if timeout <= 0 { 1000 } else { timeout as u64 };
    // The transfer runs outside the keyspace lock, after the command; inside EXEC its reply
    // would have to come before the transaction's end.
    if ctx.conn.in_exec {
        return ctx.err(MIGRATE_IN_EXEC);
    }
    let now = ctx.now;
    let src_db = ctx.conn.db.min(ctx.ks.dbs.len() - 1);
    let mut items = Vec::with_capacity(keys.len());
    // Which items are serialized off the lock (their entries leave the table meanwhile).
    let mut off_lock = Vec::with_capacity(keys.len());
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    for k in keys {
        let Some(e) = ctx.ks.dbs[src_db].peek_ref(k, now) else {
            continue;
        };
        if !seen.insert(k.as_ref()) {
            continue;
        }
        let ttl = if e.expire_at() == 0 {
            0
        } else {
            e.expire_at().saturating_sub(now).max(1)
        };
        let big = is_big(&e.value) && !copy;
        off_lock.push(big);
        let payload = if big {
            Bytes::new()
        } else {
            Bytes::from(crate::rdb::payload::dump(&e.value))
        };
        items.push(Item {
            key: k.clone(),
            ttl,
            payload,
            taken: None,
        });
    }
    if items.is_empty() {
        return ctx.out.simple("NOKEY");
    }
    if !copy {
        for (it, &taken) in items.iter_mut().zip(&off_lock) {
            if taken {
                // Out of the table while it is serialized and sent (see crate::migration).
                it.taken = ctx.ks.dbs[src_db].remove(&it.key, now);
            }
            ctx.ks.in_flight.insert(src_db, &it.key, taken);
        }
    }
    ctx.then(Next::Migrate(Job {
        host: String::from_utf8_lossy(&a[1]).into_owned(),
        port: port as u16,
        db: db as usize,
        src_db,
        timeout_ms: timeout,
        copy,
        replace,
        auth,
        items,
        cluster: ctx.shared.cluster.get().is_some(),
    }));
}

/// MIGRATE's `AUTH password` and `AUTH2 username password`.
fn migrate_secrets(args: &[Bytes]) -> Vec<usize> {
    let mut hide = Vec::new();
    for (i, a) in args.iter().enumerate().skip(6) {
        if args::is(a, "auth") {
            hide.push(i + 1);
        } else if args::is(a, "auth2") {
            hide.extend([i + 1, i + 2]);
        }
    }
    hide
}
