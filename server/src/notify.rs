//! Keyspace notifications (`notify-keyspace-events`): after a write, publish
//! `__keyspace@<db>__:<key>` → event and `__keyevent@<db>__:<event>` → key, as Redis does.
//!
//! Events are derived from the command table (the command that changed data and its key
//! positions) plus a table of the names Redis uses where they differ from the command's
//! (INCR publishes `incrby`, GETDEL `del`, RENAME `rename_from`/`rename_to`, ...), so
//! command handlers need no notification code of their own.

use crate::commands::CommandSpec;
use crate::state::Shared;
use bytes::Bytes;

/// Parsed `notify-keyspace-events` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub keyspace: bool,
    pub keyevent: bool,
    classes: u16,
}

const CLASSES: &[(char, u16)] = &[
    ('g', 1),
    ('$', 2),
    ('l', 4),
    ('s', 8),
    ('h', 16),
    ('z', 32),
    ('x', 64),
    ('e', 128),
    ('n', 256),
    ('m', 512),
    ('t', 1024),
    ('d', 2048),
];

impl Flags {
    pub fn parse(s: &str) -> Flags {
        let mut f = Flags::default();
        for c in s.chars() {
            match c {
                'K' => f.keyspace = true,
                'E' => f.keyevent = true,
                // A is an alias for "g$lshzxetd".
                'A' => f.classes |= 1 | 2 | 4 | 8 | 16 | 32 | 64 | 128 | 1024 | 2048,
                c => {
                    if let Some((_, bit)) = CLASSES.iter().find(|(k, _)| *k == c) {
                        f.classes |= bit;
                    }
                }
            }
        }
        f
    }

    /// `notify-keyspace-events` as CONFIG SET stores it and CONFIG GET shows it: checked
    /// and rewritten in Redis's canonical order (`A` for all classes, else each class; then
    /// `K`, `E`, `m`), as
    /// Redis's `keyspaceEventsFlagsToString` does.
    pub fn canonical(s: &str) -> Result<String, String> {
        if s.chars()
            .any(|c| !"KEA".contains(c) && !CLASSES.iter().any(|(k, _)| *k == c))
        {
            return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into());
        }
        let f = Flags::parse(s);
        const ALL: u16 = 1 | 2 | 4 | 8 | 16 | 32 | 64 | 128 | 1024 | 2048;
        let mut out = String::new();
        if f.classes & ALL == ALL {
            out.push('A');
        }
        // With A, Redis 7.0 shows no other class, not even n (which A does not include);
        // n is kept here, since this string is also what the events are read from.
        for c in "g$lshzxetdn".chars() {
            let bit = CLASSES.iter().find(|(k, _)| *k == c).map_or(0, |(_, b)| *b);
            if f.classes & bit != 0 && (f.classes & ALL != ALL || c == 'n') {
                out.push(c);
            }
        }
        if f.keyspace {
            out.push('K');
        }
        if f.keyevent {
            out.push('E');
        }
        if f.wants('m') {
            out.push('m');
        }
        Ok(out)
    }

    pub fn enabled(&self) -> bool {
        (self.keyspace || self.keyevent) && self.classes != 0
    }

    pub fn wants(&self, class: char) -> bool {
        CLASSES
            .iter()
            .find(|(k, _)| *k == class)
            .is_some_and(|(_, bit)| self.classes & bit != 0)
    }
}

/// The class letter of a command group.
fn class_of(group: &str) -> char {
    match group {
        "string" | "bitmap" | "hyperloglog" => '$',
        "list" => 'l',
        "set" => 's',
        "hash" => 'h',
        // Geo indexes are sorted sets, and Redis notifies them as such.
        "sorted_set" | "sorted-set" | "zset" | "geo" => 'z',
        _ => 'g',
    }
}

/// Redis's event name for a command, where it differs from the command's own name.
fn event_name(cmd: &str) -> &str {
    match cmd {
        "setex" | "psetex" | "setnx" | "getset" | "mset" | "msetnx" => "set",
        "incr" | "decr" | "decrby" => "incrby",
        "getdel" | "unlink" => "del",
        "hmset" | "hsetnx" => "hset",
        "zincrby" => "zincr",
        // GEOADD runs as the ZADD it rewrites itself into.
        "geoadd" => "zadd",
        "lpushx" => "lpush",
        "rpushx" => "rpush",
        "blpop" => "lpop",
        "brpop" => "rpop",
        "bzpopmin" => "zpopmin",
        "bzpopmax" => "zpopmax",
        "pfadd" | "pfmerge" => cmd,
        "bitfield" => "setbit",
        other => other,
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

/// Commands that write their result to a destination (the first key) from sources that
/// they only read: only the destination is notified, with `del` when the result was empty.
const STORES: &[&str] = &[
    "sinterstore",
    "sunionstore",
    "sdiffstore",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "zrangestore",
    "geosearchstore",
    "pfmerge",
];

/// With "new" keyspace events on, the keys of a write command that do not exist yet: those
/// that exist after it were created by it (Redis fires "new" when a key is added).
pub fn new_key_candidates(
    db: &crate::keyspace::Db,
    spec: &CommandSpec,
    args: &[Bytes],
    settings: &crate::config::Settings,
    now: u64,
) -> Vec<Bytes> {
    if !spec.has(crate::commands::table::flags::WRITE)
        || !settings.notify_keyspace_events.contains('n')
    {
        return Vec::new();
    }
    let flags = Flags::parse(&settings.notify_keyspace_events);
    if !flags.enabled() || !flags.wants('n') {
        return Vec::new();
    }
    let mut seen: std::collections::HashSet<&Bytes> = std::collections::HashSet::new();
    let mut absent = Vec::new();
    let positions = spec.key_positions(args);
    // Redis deletes and re-adds the destination of RENAME and of COPY/RESTORE ... REPLACE,
    // so it is "new" even when a key of that name existed.
    let replace = |o: &[u8]| args.iter().skip(2).any(|a| a.eq_ignore_ascii_case(o));
    let readded = match spec.name {
        "rename" => positions.get(1),
        "copy" if replace(b"replace") => positions.get(1),
        "restore" if replace(b"replace") => positions.first(),
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
    spec: &CommandSpec,
    args: &[Bytes],
    db: usize,
    modified: Option<&[Bytes]>,
    mut exists: impl FnMut(&[u8]) -> bool,
) {
    // Whether the command modified `k` (all its keys unless it said otherwise).
    let wrote = |k: &[u8]| modified.is_none_or(|m| m.iter().any(|x| x.as_ref() == k));
    let cmd = crate::util::lower(&args[0]);
    let class = class_of(spec.group);
    let positions = spec.key_positions(args);
    let key = |n: usize| positions.get(n).and_then(|&i| args.get(i));
    let side = |i: usize| {
        args.get(i)
            .map(|a| a.eq_ignore_ascii_case(b"left"))
            .unwrap_or(false)
    };
    match cmd.as_str() {
        // A PFCOUNT that refreshed the sketch's cached cardinality: modified (WATCH sees it)
        // but not notified, as in Redis.
        "pfcount" => {}
        "rename" | "renamenx" if positions.len() == 2 => {
            publish(shared, flags, 'g', "rename_from", db, &args[positions[0]]);
            publish(shared, flags, 'g', "rename_to", db, &args[positions[1]]);
        }
        "copy" if positions.len() == 2 => {
            publish(shared, flags, 'g', "copy_to", db, &args[positions[1]])
        }
        "move" if !positions.is_empty() => {
            // The key is always new in the target database (MOVE refuses an existing one),
            // and Redis says so first.
            let to = std::str::from_utf8(&args[2])
                .ok()
                .and_then(|s| s.parse().ok());
            if let Some(to) = to {
                publish(shared, flags, 'n', "new", to, &args[positions[0]]);
            }
            publish(shared, flags, 'g', "move_from", db, &args[positions[0]]);
            if let Some(to) = to {
                publish(shared, flags, 'g', "move_to", to, &args[positions[0]]);
            }
        }
        // BITOP: only the destination, set or (an empty result) deleted.
        "bitop" => {
            if let Some(dst) = key(0) {
                let (class, event) = if exists(dst) {
                    ('$', "set")
                } else {
                    ('g', "del")
                };
                publish(shared, flags, class, event, db, dst);
            }
        }
        // GETEX notifies what it did to the expiry: set one (or, in the past, deleted the
        // key) or removed it.
        "getex" => {
            let Some(k) = key(0) else {
                return;
            };
            let opt = |o: &[u8]| args.iter().skip(2).any(|a| a.eq_ignore_ascii_case(o));
            if opt(b"persist") {
                publish(shared, flags, 'g', "persist", db, k);
            } else if ["ex", "px", "exat", "pxat"]
                .iter()
                .any(|o| opt(o.as_bytes()))
            {
                let event = if exists(k) { "expire" } else { "del" };
                publish(shared, flags, 'g', event, db, k);
            }
        }
        // An expiry in the past deletes the key: Redis notifies `del`.
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if let Some(k) = key(0) {
                let event = if exists(k) { "expire" } else { "del" };
                publish(shared, flags, 'g', event, db, k);
            }
        }
        "flushall" | "flushdb" | "swapdb" => {}
        c if STORES.contains(&c) => {
            if let Some(dst) = key(0) {
                if exists(dst) {
                    let event = if c == "pfmerge" { "pfadd" } else { c };
                    publish(shared, flags, class, event, db, dst);
                } else {
                    publish(shared, flags, 'g', "del", db, dst);
                }
            }
        }
        "lmove" | "blmove" | "rpoplpush" | "brpoplpush" => {
            let (Some(src), Some(dst)) = (key(0), key(1)) else {
                return;
            };
            let (from_left, to_left) = if cmd.ends_with("move") {
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
        }
        // SORT ... STORE: only the destination changed, a list or (an empty result) gone.
        "sort" => {
            if let Some(dst) = key(1) {
                if exists(dst) {
                    publish(shared, flags, 'l', "sortstore", db, dst);
                } else {
                    publish(shared, flags, 'g', "del", db, dst);
                }
            }
        }
        // GEORADIUS[BYMEMBER] ... STORE: only the destination (the second key) changed.
        "georadius" | "georadiusbymember" => {
            if let Some(dst) = key(1) {
                if exists(dst) {
                    publish(shared, flags, 'z', "georadiusstore", db, dst);
                } else {
                    publish(shared, flags, 'g', "del", db, dst);
                }
            }
        }
        "smove" => {
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
        }
        _ => {
            let incr =
                cmd == "zadd" && args.iter().skip(2).any(|a| a.eq_ignore_ascii_case(b"incr"));
            let event = if incr { "zincr" } else { event_name(&cmd) };
            let collection = matches!(class, 'l' | 's' | 'h' | 'z');
            for &i in &positions {
                if let Some(k) = args.get(i).filter(|k| wrote(k)) {
                    publish(shared, flags, class, event, db, k);
                    if collection && !exists(k) {
                        publish(shared, flags, 'g', "del", db, k);
                    }
                }
            }
            if sets_expiry(&cmd, args) {
                if let Some(k) = key(0) {
                    publish(shared, flags, 'g', "expire", db, k);
                }
            }
        }
    }
}

/// SET with EX/PX/EXAT/PXAT, SETEX and PSETEX also send `expire`.
fn sets_expiry(cmd: &str, args: &[Bytes]) -> bool {
    match cmd {
        "setex" | "psetex" => true,
        "set" => args.iter().skip(3).any(|a| {
            [&b"ex"[..], b"px", b"exat", b"pxat"]
                .iter()
                .any(|o| a.eq_ignore_ascii_case(o))
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_like_redis() {
        let f = Flags::parse("KEA");
        assert!(f.keyspace && f.keyevent && f.wants('g') && f.wants('x') && !f.wants('n'));
        assert!(!Flags::parse("").enabled());
        assert!(!Flags::parse("K").enabled(), "K alone selects no class");
        assert!(Flags::parse("Ex").wants('x'));
    }

    #[test]
    fn config_string_is_canonical_like_redis() {
        assert_eq!(Flags::canonical("KA").unwrap(), "AK");
        assert_eq!(Flags::canonical("EA").unwrap(), "AE");
        assert_eq!(Flags::canonical("gKE").unwrap(), "gKE");
        assert_eq!(Flags::canonical("$lshzxeKE").unwrap(), "$lshzxeKE");
        assert_eq!(Flags::canonical("nE").unwrap(), "nE");
        assert_eq!(Flags::canonical("").unwrap(), "");
        assert!(Flags::canonical("KQ").is_err());
    }
}
