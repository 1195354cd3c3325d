//! The command table: every command's name, arity, flags and key positions, in one place.
//!
//! Dispatch (arity, auth, read-only checks), cluster routing (key positions) and the COMMAND
//! introspection replies all read this table; nothing else keeps a list of "which commands
//! write". Each command family file exports a `COMMANDS` slice; [`all`] joins them.

use super::Ctx;
use bytes::Bytes;
use std::sync::OnceLock;

/// A command's implementation: parse `args` (args[0] is the name), act, write the reply.
pub type Handler = fn(&mut Ctx, &[Bytes]);

pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const MAY_REPLICATE: u32 = 1 << 11;
    pub const NO_MULTI: u32 = 1 << 12;
    pub const ALLOW_BUSY: u32 = 1 << 13;
    pub const SKIP_SLOWLOG: u32 = 1 << 14;
    pub const SENTINEL: u32 = 1 << 15;
    /// Served for an importing slot without a preceding ASKING (RESTORE-ASKING).
    pub const ASKING: u32 = 1 << 16;

    /// Names as COMMAND INFO reports them, in Redis's order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (ASKING, "asking"),
    ];
}

/// Where a command's keys are in its arguments.
#[derive(Clone, Copy, Debug)]
pub enum Keys {
    /// No keys.
    None,
    /// Keys at `first`, `first+step`, ... up to `last` (negative counts from the end).
    Range { first: i32, last: i32, step: i32 },
    /// A count at `numkeys` followed by that many keys, each `step` apart (ZUNION, LMPOP...);
    /// `extra` names one more key position before the count (ZUNIONSTORE's destination).
    NumKeys {
        numkeys: usize,
        step: usize,
        extra: Option<usize>,
    },
    /// Keys found by a function (MIGRATE's KEYS, XREAD's STREAMS...).
    Custom(fn(&[Bytes]) -> Vec<usize>),
    /// A key always at `first`, which COMMAND INFO reports (`first first 1`) for clients
    /// that route by it, and all the keys found by `find`, which include it (SORT: the
    /// sorted key, then the STORE destination wherever it is).
    Movable {
        first: i32,
        find: fn(&[Bytes]) -> Vec<usize>,
    },
    /// Channels (not keys) at these positions: sharded pub/sub routes by them.
    Channels { first: i32, last: i32, step: i32 },
}

/// One command (or subcommand) description.
pub struct CommandSpec {
    /// Lower-case name (`get`; subcommands `list` under `client`).
    pub name: &'static str,
    /// Redis's arity: exact when positive, a minimum when negative. Counts the name itself.
    pub arity: i32,
    pub flags: u32,
    pub keys: Keys,
    pub handler: Handler,
    /// ACL-style group reported by COMMAND DOCS (`string`, `keyspace`, `server`, ...).
    pub group: &'static str,
    pub summary: &'static str,
    /// Subcommands, for container commands (CLIENT, CONFIG, OBJECT, ...).
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: Keys,
        handler: Handler,
        group: &'static str,
        summary: &'static str,
    ) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            keys,
            handler,
            group,
            summary,
            subcommands: &[],
        }
    }

    /// A container command whose first argument picks a subcommand.
    pub const fn container(
        name: &'static str,
        arity: i32,
        handler: Handler,
        group: &'static str,
        summary: &'static str,
        subcommands: &'static [CommandSpec],
    ) -> Self {
        CommandSpec {
            name,
            arity,
            flags: 0,
            keys: Keys::None,
            handler,
            group,
            summary,
            subcommands,
        }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// Finds a subcommand by name (case-insensitive).
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands
            .iter()
            .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Positions of the keys in `args` (args[0] is the command name; for a subcommand,
    /// positions still count from the container's name).
    pub fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        match self.keys {
            Keys::None | Keys::Channels { .. } => Vec::new(),
            Keys::Range { first, last, step } => range_positions(args.len(), first, last, step),
            Keys::NumKeys {
                numkeys,
                step,
                extra,
            } => {
                // As Redis's genericGetKeys: a count below 1, or one naming more keys than
                // the arguments hold, yields no keys at all (the command then replies with its
                // own error). The count never sizes the loop beyond the arguments present.
                let step = step.max(1);
                let first = numkeys + 1;
                let n = args
                    .get(numkeys)
                    .and_then(|b| crate::util::parse_i64_strict(b))
                    .unwrap_or(0);
                let room = args.len().saturating_sub(first) / step;
                if n < 1 || n as u64 > room as u64 {
                    return Vec::new();
                }
                let mut v: Vec<usize> = extra.into_iter().collect();
                v.extend((0..n as usize).map(|i| first + i * step));
                v
            }
            Keys::Custom(f) | Keys::Movable { find: f, .. } => f(args),
        }
    }

    /// Positions of the channels of a sharded pub/sub command.
    pub fn channel_positions(&self, args: &[Bytes]) -> Vec<usize> {
        match self.keys {
            Keys::Channels { first, last, step } => range_positions(args.len(), first, last, step),
            _ => Vec::new(),
        }
    }

    /// `(first, last, step)` as COMMAND INFO reports them. As in Redis, these cover only keys
    /// at fixed positions (ZUNIONSTORE's destination, not the counted sources: a client
    /// reading `last = -1` would take WEIGHTS and AGGREGATE for keys), and sharded pub/sub's
    /// channels count, since cluster clients route SPUBLISH by them.
    pub fn legacy_key_spec(&self) -> (i64, i64, i64) {
        match self.keys {
            Keys::Range { first, last, step } | Keys::Channels { first, last, step } => {
                (first as i64, last as i64, step as i64)
            }
            Keys::NumKeys { extra: Some(e), .. } => (e as i64, e as i64, 1),
            Keys::Movable { first, .. } => (first as i64, first as i64, 1),
            Keys::NumKeys { extra: None, .. } | Keys::None | Keys::Custom(_) => (0, 0, 0),
        }
    }

    pub fn movable_keys(&self) -> bool {
        matches!(
            self.keys,
            Keys::NumKeys { .. } | Keys::Custom(_) | Keys::Movable { .. }
        )
    }
}

fn range_positions(argc: usize, first: i32, last: i32, step: i32) -> Vec<usize> {
    if first <= 0 || (first as usize) >= argc {
        return Vec::new();
    }
    let last = if last < 0 {
        argc as i32 + last
    } else {
        last.min(argc as i32 - 1)
    };
    let step = step.max(1) as usize;
    (first as usize..=last.max(0) as usize)
        .step_by(step)
        .filter(|&i| i < argc && i >= first as usize)
        .collect()
}

/// Every command, from every family.
pub fn all() -> &'static [&'static CommandSpec] {
    static ALL: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    ALL.get_or_init(|| super::FAMILIES.iter().flat_map(|f| f.iter()).collect())
}

/// The name (`get`, `client|list`) of the spec at this address, if it is one of the table's.
pub fn full_name_of(addr: usize) -> Option<String> {
    if addr == 0 {
        return None;
    }
    for c in all() {
        if *c as *const CommandSpec as usize == addr {
            return Some(c.name.to_string());
        }
        if let Some(s) = c
            .subcommands
            .iter()
            .find(|s| *s as *const CommandSpec as usize == addr)
        {
            return Some(format!("{}|{}", c.name, s.name));
        }
    }
    None
}

/// Finds a command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    // Every command is looked up once per call (twice on a replica: admission is skipped but
    // execution is not), so names are packed into one integer with their length: a hash of
    // a u128 and an integer compare, where byte-string keys cost a lowercase copy and a
    // memcmp call. foldhash (hashbrown's default) rather than SipHash.
    static MAP: OnceLock<hashbrown::HashMap<u128, &'static CommandSpec>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        all()
            .iter()
            .filter_map(|c| pack(c.name.as_bytes()).map(|k| (k, *c)))
            .collect()
    });
    match pack(name) {
        Some(key) => map.get(&key).copied(),
        None => lookup_long(name),
    }
}

/// Names longer than [`pack`] holds (a few, such as `georadiusbymember_ro`).
fn lookup_long(name: &[u8]) -> Option<&'static CommandSpec> {
    static LONG: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    let long = LONG.get_or_init(|| {
        all()
            .iter()
            .filter(|c| pack(c.name.as_bytes()).is_none())
            .copied()
            .collect()
    });
    long.iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
        .copied()
}

/// A name of up to 15 bytes, lowercased, as one integer whose top byte is its length (so
/// `get` and `get\0` differ).
fn pack(name: &[u8]) -> Option<u128> {
    if name.len() > 15 {
        return None;
    }
    let mut key = (name.len() as u128) << 120;
    for (i, b) in name.iter().enumerate() {
        key |= (b.to_ascii_lowercase() as u128) << (8 * i);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_unique_names_and_sane_arity() {
        let mut seen = std::collections::HashSet::new();
        for c in all() {
            assert!(seen.insert(c.name), "duplicate command {}", c.name);
            assert!(c.arity != 0, "{} has arity 0", c.name);
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            let w = c.has(flags::WRITE);
            let r = c.has(flags::READONLY);
            assert!(!(w && r), "{} is both write and readonly", c.name);
        }
        assert!(lookup(b"GeT").is_some());
        assert!(lookup(b"get\0").is_none());
        assert!(lookup(b"").is_none());
        for c in all() {
            assert_eq!(
                lookup(c.name.to_uppercase().as_bytes()).map(|s| s.name),
                Some(c.name)
            );
        }
    }

    #[test]
    fn key_positions_follow_specs() {
        let args: Vec<Bytes> = ["mset", "a", "1", "b", "2"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(range_positions(args.len(), 1, -1, 2), vec![1, 3]);
        assert_eq!(range_positions(3, 1, 1, 1), vec![1]);
        assert_eq!(range_positions(1, 1, 1, 1), Vec::<usize>::new());
    }
}
