//! Keyspace notifications (`notify-keyspace-events`): after a write, publish
//! `__keyspace@<db>__:<key>` → event and `__keyevent@<db>__:<event>` → key, as Redis does.
//!
//! Events are derived from the command table: the command that changed data, its key
//! positions, and its spec's [`Events`] (the names Redis uses where they differ from the
//! command's: INCR publishes `incrby`, GETDEL `del`, RENAME `rename_from`/`rename_to`, ...),
//! so command handlers need no notification code of their own.

use crate::admission::Call;
use crate::state::Shared;
use bytes::Bytes;

pub use crate::keyspace_events::{Events, Flags};

/// The class letter of a command group.
fn class_of(group: &str) -> char {
    match group {
        "string" | "bitmap" | "hyperloglog" => '$',
        "list" => 'l',
        "set" => 's',
        "hash" => 'h',
        // Geo indexes are sorted sets, and Redis notifies them as such.
        "sorted_set" | "sorted-set" | "zset" | "geo" => 'z',
        "stream" => 't',
        _ => 'g',
    }
}

/// Publishes one event for `key` in `db`.
pub fn publish(shared: &Shared, flags: Flags, class: char, event: &str, db: usize, key: &[u8]) {
    if !flags.wants(class) {
        return;
    }
    let limits = crate::pubsub::Limits::default();
    if flags.keyspace {
        let mut ch = format!("__keyspace@{db}__:").into_bytes();
        ch.extend_from_slice(key);
        shared.pubsub.publish(&ch, event.as_bytes(), false, &limits);
    }
    if flags.keyevent {
        let ch = format!("__keyevent@{db}__:{event}");
        shared.pubsub.publish(ch.as_bytes(), key, false, &limits);
    }
}

/// With "new" keyspace events on, the keys of a write command that do not exist yet: those
/// that exist after it were created by it (Redis fires "new" when a key is added).
pub fn new_key_candidates(
    db: &crate::keyspace::Db,
    call: &Call,
    settings: &crate::config::Settings,
    now: u64,
) -> Vec<Bytes> {
    let (spec, args) = (call.spec, call.args);
    if !spec.has(crate::commands::table::flags::WRITE)
        || !settings.notify_keyspace_events.contains('n')
    {
        return Vec::new();
    }
    let flags = settings.notify_flags;
    if !flags.enabled() || !flags.wants('n') {
        return Vec::new();
    }
    let mut seen: std::collections::HashSet<&Bytes> = std::collections::HashSet::new();
    let mut absent = Vec::new();
    let positions = call.keys();
    // Redis deletes and re-adds the destination of RENAME and of COPY/RESTORE ... REPLACE,
    // so it is "new" even when a key of that name existed.
    let replace = |o: &[u8]| args.iter().skip(2).any(|a| a.eq_ignore_ascii_case(o));
    let readded = match spec.events {
        Events::Rename => positions.get(1),
        Events::Copy if replace(b"replace") => positions.get(1),
        Events::Restore if replace(b"replace") => positions.first(),
        _ => None,
    }
    .and_then(|&i| args.get(i));
    for k in positions.iter().filter_map(|&i| args.get(i)) {
        if seen.insert(k) && (db.peek_ref(k, now).is_none() || Some(k) == readded) {
            absent.push(k.clone());
        }
    }
    absent
}

/// Notifications for a command that changed data. `exists` tells whether a key is still
/// there afterwards: a command that empties a collection also sends `del`, as Redis does.
pub fn after_write(
    shared: &Shared,
    flags: Flags,
    call: &Call,
    db: usize,
    modified: Option<&[Bytes]>,
    mut exists: impl FnMut(&[u8]) -> bool,
) {
    let (spec, args, positions) = (call.spec, call.args, call.keys());
    // Whether the command modified `k` (all its keys unless it said otherwise).
    let wrote = |k: &[u8]| modified.is_none_or(|m| m.iter().any(|x| x.as_ref() == k));
    let class = class_of(spec.group);
    let key = |n: usize| positions.get(n).and_then(|&i| args.get(i));
    let opt = |from: usize, o: &[u8]| args.iter().skip(from).any(|a| a.eq_ignore_ascii_case(o));
    let side = |i: usize| {
        args.get(i)
            .map(|a| a.eq_ignore_ascii_case(b"left"))
            .unwrap_or(false)
    };
    // A destination written from what was read: its event, or `del` for an empty result.
    let mut store = |dst: Option<&Bytes>, class: char, event: &str| {
        if let Some(dst) = dst {
            if exists(dst) {
                publish(shared, flags, class, event, db, dst);
            } else {
                publish(shared, flags, 'g', "del", db, dst);
            }
        }
    };
    let (event, expiry) = match spec.events {
        Events::None | Events::Reported(_) => return,
        Events::Rename => {
            if let (Some(from), Some(to)) = (key(0), key(1)) {
                publish(shared, flags, 'g', "rename_from", db, from);
                publish(shared, flags, 'g', "rename_to", db, to);
            }
            return;
        }
        Events::Copy => {
            if let Some(to) = key(1) {
                publish(shared, flags, 'g', "copy_to", db, to);
            }
            return;
        }
        Events::Move => {
            let Some(k) = key(0) else { return };
            // The key is always new in the target database (MOVE refuses an existing one),
            // and Redis says so first.
            let to = args
                .get(2)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|s| s.parse().ok());
            if let Some(to) = to {
                publish(shared, flags, 'n', "new", to, k);
            }
            publish(shared, flags, 'g', "move_from", db, k);
            if let Some(to) = to {
                publish(shared, flags, 'g', "move_to", to, k);
            }
            return;
        }
        Events::Bitop => return store(key(0), '$', "set"),
        Events::Getex => {
            let Some(k) = key(0) else { return };
            if opt(2, b"persist") {
                publish(shared, flags, 'g', "persist", db, k);
            } else if [&b"ex"[..], b"px", b"exat", b"pxat"]
                .iter()
                .any(|o| opt(2, o))
            {
                let event = if exists(k) { "expire" } else { "del" };
                publish(shared, flags, 'g', event, db, k);
            }
            return;
        }
        Events::Expire => {
            if let Some(k) = key(0) {
                let event = if exists(k) { "expire" } else { "del" };
                publish(shared, flags, 'g', event, db, k);
            }
            return;
        }
        Events::Store(event) => return store(key(0), class, event),
        Events::SortStore => return store(key(1), 'l', "sortstore"),
        Events::GeoStore => return store(key(1), 'z', "georadiusstore"),
        Events::ListMove { sides } => {
            let (Some(src), Some(dst)) = (key(0), key(1)) else {
                return;
            };
            let (from_left, to_left) = if sides {
                (side(3), side(4))
            } else {
                (false, true)
            };
            let push = if to_left { "lpush" } else { "rpush" };
            let pop = if from_left { "lpop" } else { "rpop" };
            publish(shared, flags, 'l', push, db, dst);
            publish(shared, flags, 'l', pop, db, src);
            if !exists(src) {
                publish(shared, flags, 'g', "del", db, src);
            }
            return;
        }
        Events::Smove => {
            let (Some(src), Some(dst)) = (key(0), key(1)) else {
                return;
            };
            publish(shared, flags, 's', "srem", db, src);
            if !exists(src) {
                publish(shared, flags, 'g', "del", db, src);
            }
            // Only when the member was new there.
            if wrote(dst) {
                publish(shared, flags, 's', "sadd", db, dst);
            }
            return;
        }
        Events::Own | Events::Restore => (spec.name, false),
        Events::Named(e) | Events::AsEffects(e) => (e, false),
        Events::NamedWithExpiry(e) => (e, true),
        Events::Set => (
            "set",
            [&b"ex"[..], b"px", b"exat", b"pxat"]
                .iter()
                .any(|o| opt(3, o)),
        ),
        Events::Zadd => (if opt(2, b"incr") { "zincr" } else { "zadd" }, false),
    };
    let collection = matches!(class, 'l' | 's' | 'h' | 'z');
    for &i in positions {
        if let Some(k) = args.get(i).filter(|k| wrote(k)) {
            publish(shared, flags, class, event, db, k);
            if collection && !exists(k) {
                publish(shared, flags, 'g', "del", db, k);
            }
        }
    }
    if expiry {
        if let Some(k) = key(0) {
            publish(shared, flags, 'g', "expire", db, k);
        }
    }
}
