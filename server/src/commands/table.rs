//! The command table: every command's name, arity, flags and key specs, in one place.
//!
//! Dispatch (arity, auth, read-only checks), cluster routing (key positions, found through
//! Redis 7's key specs: see [`super::keyspec`]) and the COMMAND introspection replies all
//! read this table; nothing else keeps a list of "which commands write" or "where the keys
//! are". Each command family file exports a `COMMANDS` slice; [`all`] joins them.

use super::keyspec::{self, key_flags, GetKeys, KeyRef, KeySpec};
use super::Ctx;
use bytes::Bytes;
use std::sync::OnceLock;

/// Finds the positions of a command line's secret arguments (passwords).
pub type Secrets = fn(&[Bytes]) -> Vec<usize>;

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
    /// Refused while a replica loads a full sync in the background (Redis's
    /// repl-diskless-load swapdb); reported by COMMAND INFO.
    pub const NO_ASYNC_LOADING: u32 = 1 << 17;
    /// Not shown to MONITOR as sent (EVAL: the commands it runs are).
    pub const SKIP_MONITOR: u32 = 1 << 18;
    /// May be called with no keys although it has key specs (EVAL with numkeys 0).
    pub const NO_MANDATORY_KEYS: u32 = 1 << 19;

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
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        // MAY_REPLICATE is left out: Redis 7.0 hides it from COMMAND INFO on purpose.
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (ASKING, "asking"),
    ];
}

/// What the server itself must know about a command beyond Redis's flags: how admission,
/// transactions and the bookkeeping after a write treat it. Not reported by COMMAND.
pub mod facts {
    /// EXEC: admission judges it by the commands it queued (writes, memory, staleness,
    /// routing), as Redis judges `execCommand` by its transaction's flags.
    pub const EXEC: u32 = 1 << 0;
    /// Runs at once inside MULTI instead of being queued (MULTI, EXEC, DISCARD, WATCH, QUIT,
    /// RESET).
    pub const TX_CONTROL: u32 = 1 << 1;
    /// Allowed on a RESP2 connection in subscribed mode ((P|S)(UN)SUBSCRIBE, PING, QUIT,
    /// RESET).
    pub const SUBSCRIBED_OK: u32 = 1 << 2;
    /// Moves keys between nodes (MIGRATE): served by whichever side holds them, mid-move.
    pub const MOVES_KEYS: u32 = 1 << 3;
    /// ASKING itself: the flag it sets lasts for the command after it.
    pub const SETS_ASKING: u32 = 1 << 4;
    /// Refreshes access times even under CLIENT NO-TOUCH (TOUCH).
    pub const TOUCHES_ALWAYS: u32 = 1 << 5;
    /// Touches the WATCHed keys it changes itself (FLUSHDB, FLUSHALL, SWAPDB): a keyless
    /// write that does not break every WATCH.
    pub const WATCH_SELF: u32 = 1 << 6;
    /// A keyless write a replica's snapshot in progress cannot take in mid-stream (SWAPDB):
    /// the full sync starts over.
    pub const RESTARTS_SYNC: u32 = 1 << 7;
    /// SCRIPT KILL: served while a script runs, without the keyspace lock it holds.
    pub const KILLS_SCRIPT: u32 = 1 << 8;
    /// FUNCTION KILL: as [`KILLS_SCRIPT`], for a library function.
    pub const KILLS_FUNCTION: u32 = 1 << 9;
    /// FUNCTION STATS: answered while a script runs from what the script left outside the
    /// keyspace lock.
    pub const STATS_WHILE_BUSY: u32 = 1 << 10;
    /// Publishes to the channel in its first argument (PUBLISH, SPUBLISH): ACL channel
    /// rules apply to it.
    pub const PUBLISHES: u32 = 1 << 11;
    /// Subscribes to the channels in its arguments (SUBSCRIBE, SSUBSCRIBE): ACL channel
    /// rules apply to each.
    pub const SUBSCRIBES: u32 = 1 << 12;
    /// Subscribes to patterns (PSUBSCRIBE): ACL channel rules must hold each pattern as
    /// such, literally.
    pub const PSUBSCRIBES: u32 = 1 << 13;
    /// CLIENT subcommands: CLIENT CACHING's choice outlives them and applies to the next
    /// other command, as Redis's resetClient keeps it after any CLIENT command.
    pub const KEEPS_CACHING: u32 = 1 << 14;
    /// Runs a script (EVAL*, FCALL*): client tracking remembers the keys it declares when a
    /// command inside it reads, not the keys of that command, as Redis does.
    pub const RUNS_SCRIPT: u32 = 1 << 15;
    /// PING: refused like a write while snapshots fail (MISCONF), as Redis refuses it, so a
    /// health check sees a node that cannot persist.
    pub const PROBES_WRITABLE: u32 = 1 << 16;
    /// SHUTDOWN: while a script is busy, NOSAVE stops the node at once (the script holds
    /// the keyspace lock) and a saving SHUTDOWN is refused with BUSY, as in Redis.
    pub const SHUTS_DOWN: u32 = 1 << 17;
}

/// The type of value a blocking command waits on: a waiter is tried only when its key holds
/// that type (a key that became another type leaves it waiting, as in Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocks {
    List,
    Zset,
    /// XREAD: waits on streams; a key deleted or of another type leaves it waiting.
    Stream,
    /// XREADGROUP: waits on a group of a stream; a key deleted or of another type ends the
    /// wait with [`Blocks::gone_error`], as in Redis 7.0.
    StreamGroup,
}

impl Blocks {
    /// The type name a key must have (as TYPE reports it) to serve the waiter.
    pub fn type_name(self) -> &'static str {
        match self {
            Blocks::List => "list",
            Blocks::Zset => "zset",
            Blocks::Stream | Blocks::StreamGroup => "stream",
        }
    }

    /// The error a waiter is answered with when its key no longer holds its type, for the
    /// kinds that stop waiting then.
    pub fn gone_error(self) -> Option<&'static str> {
        match self {
            Blocks::StreamGroup => Some("UNBLOCKED the stream key no longer exists"),
            _ => None,
        }
    }

    /// The error that ends a waiter's wait although its key (`value`) holds its type: an
    /// XREADGROUP whose group is gone, as Redis 7.0 answers it.
    pub fn ended_error(
        self,
        value: &crate::keyspace::Value,
        args: &[Bytes],
    ) -> Option<&'static str> {
        match self {
            Blocks::StreamGroup => super::stream_read::waited_group_gone(value, args)
                .then_some(super::stream_read::GROUP_GONE),
            Blocks::List | Blocks::Zset | Blocks::Stream => None,
        }
    }

    /// The line a waiter re-runs when `key` became ready, where it differs from the one it
    /// blocked with: stream reads are served from the stream that woke them only (see
    /// [`super::stream_read::rerun_on_stream`]); the pops serve from their first non-empty key.
    pub fn rerun_for(self, args: &[Bytes], key: &[u8]) -> Option<Vec<Bytes>> {
        match self {
            Blocks::Stream => super::stream_read::rerun_on_stream(args, false, key),
            Blocks::StreamGroup => super::stream_read::rerun_on_stream(args, true, key),
            Blocks::List | Blocks::Zset => None,
        }
    }
}

/// One command (or subcommand) description.
pub struct CommandSpec {
    /// Lower-case name (`get`; subcommands `list` under `client`).
    pub name: &'static str,
    /// Redis's arity: exact when positive, a minimum when negative. Counts the name itself.
    pub arity: i32,
    pub flags: u32,
    /// Redis 7.0.15's key specs for the command: the one source of where its keys are.
    pub key_specs: &'static [KeySpec],
    /// Finds the keys where the specs cannot (Redis's `getkeys_proc`).
    pub getkeys: Option<GetKeys>,
    pub handler: Handler,
    /// ACL-style group reported by COMMAND DOCS (`string`, `keyspace`, `server`, ...).
    pub group: &'static str,
    pub summary: &'static str,
    /// Subcommands, for container commands (CLIENT, CONFIG, OBJECT, ...).
    pub subcommands: &'static [CommandSpec],
    /// [`facts`] bits.
    pub facts: u32,
    /// For blocking commands, the type of value they wait on.
    pub blocks: Option<Blocks>,
    /// The keyspace notifications a write of this command sends.
    pub events: crate::keyspace_events::Events,
    /// Finds the arguments that are secrets (passwords), which the slow log and MONITOR
    /// show as `(redacted)`.
    pub secrets: Option<Secrets>,
}

impl CommandSpec {
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        key_specs: &'static [KeySpec],
        handler: Handler,
        group: &'static str,
        summary: &'static str,
    ) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            key_specs,
            getkeys: None,
            handler,
            group,
            summary,
            subcommands: &[],
            facts: 0,
            blocks: None,
            events: crate::keyspace_events::Events::Own,
            secrets: None,
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
            key_specs: &[],
            getkeys: None,
            handler,
            group,
            summary,
            subcommands,
            facts: 0,
            blocks: None,
            events: crate::keyspace_events::Events::Own,
            secrets: None,
        }
    }

    /// A container with flags of its own (COMMAND: `loading`, `stale`).
    pub const fn with_flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// The same command with a key finder for what its key specs cannot express.
    pub const fn getkeys(mut self, getkeys: GetKeys) -> Self {
        self.getkeys = Some(getkeys);
        self
    }

    /// The same command with these [`facts`].
    pub const fn facts(mut self, facts: u32) -> Self {
        self.facts = facts;
        self
    }

    /// A blocking command that waits on keys holding `kind`.
    pub const fn blocks(mut self, kind: Blocks) -> Self {
        self.blocks = Some(kind);
        self
    }

    /// The keyspace notifications of this command, where they are not its own name.
    pub const fn events(mut self, events: crate::keyspace_events::Events) -> Self {
        self.events = events;
        self
    }

    /// A command some of whose arguments are secrets (see [`CommandSpec::secrets`]).
    pub const fn secrets(mut self, find: Secrets) -> Self {
        self.secrets = Some(find);
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn is(&self, fact: u32) -> bool {
        self.facts & fact != 0
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

    /// Where the first key is when the command's first key spec fixes its position (GET,
    /// SET, INCR, ...): found without allocating, for [`crate::dispatch::prefetch_batch`].
    pub fn first_key_index(&self) -> Option<usize> {
        match self.key_specs.first()?.begin {
            super::keyspec::BeginSearch::Index(i) if i > 0 => Some(i as usize),
            _ => None,
        }
    }

    /// The keys in `args` and what the command does to each, as Redis finds them (args[0] is
    /// the command name; for a subcommand, positions still count from the container's name).
    pub fn keys(&self, args: &[Bytes]) -> Vec<KeyRef> {
        keyspec::find_keys(self.key_specs, self.getkeys, args)
    }

    /// Positions of the keys in `args`.
    pub fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        self.keys(args).into_iter().map(|k| k.pos).collect()
    }

    /// Positions of the channels of a sharded pub/sub command (its `not_key` specs), which
    /// cluster routing treats as keys.
    pub fn channel_positions(&self, args: &[Bytes]) -> Vec<usize> {
        // Asked of every keyless command in cluster mode: most have no channels either.
        if !self
            .key_specs
            .iter()
            .any(|s| s.flags & key_flags::NOT_KEY != 0)
        {
            return Vec::new();
        }
        let channels: Vec<KeySpec> = self
            .key_specs
            .iter()
            .filter(|s| s.flags & key_flags::NOT_KEY != 0)
            .copied()
            .collect();
        keyspec::from_specs(&channels, args, true)
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.pos)
            .collect()
    }

    /// Whether the command has keys at all (Redis's `doesCommandHaveKeys`): a finder, or a
    /// spec that is not `not_key`.
    pub fn has_keys(&self) -> bool {
        self.getkeys.is_some()
            || self
                .key_specs
                .iter()
                .any(|s| s.flags & key_flags::NOT_KEY == 0)
    }

    /// `(first, last, step)` as COMMAND INFO reports them, derived from the key specs as
    /// Redis derives them: keys at fixed positions only (ZUNIONSTORE's destination, not the
    /// counted sources), and sharded pub/sub's channels, by which cluster clients route.
    pub fn legacy_key_spec(&self) -> (i64, i64, i64) {
        keyspec::legacy_range(self.key_specs).0
    }

    /// Whether the keys can be anywhere (COMMAND INFO's `movablekeys`): some key spec is not
    /// a fixed range.
    pub fn movable_keys(&self) -> bool {
        keyspec::legacy_range(self.key_specs).1
    }
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
    fn specs_are_well_formed() {
        let check = |c: &CommandSpec| {
            for s in c.key_specs {
                let access =
                    s.flags & (key_flags::RO | key_flags::RW | key_flags::OW | key_flags::RM);
                assert!(
                    access.count_ones() == 1 || s.flags & key_flags::NOT_KEY != 0,
                    "{}: a spec needs exactly one of RO/RW/OW/RM",
                    c.name
                );
            }
            let unknown = c.key_specs.iter().any(|s| {
                s.flags & (key_flags::INCOMPLETE | key_flags::VARIABLE_FLAGS) != 0
                    || s.begin == keyspec::BeginSearch::Unknown
            });
            assert!(
                !unknown || c.getkeys.is_some(),
                "{} needs a key finder",
                c.name
            );
        };
        for c in all() {
            check(c);
            c.subcommands.iter().for_each(check);
        }
    }

    #[test]
    fn documented_keys_point_at_key_specs() {
        fn check(name: &str, specs: usize, args: &[super::super::docs::Arg]) {
            for a in args {
                if let Some(i) = a.key_spec {
                    assert!(
                        (i as usize) < specs,
                        "{name}: {} has no key spec {i}",
                        a.name
                    );
                }
                check(name, specs, a.args);
            }
        }
        for c in all() {
            check(c.name, c.key_specs.len(), super::super::docs::of(c.name));
            for s in c.subcommands {
                let full = format!("{}|{}", c.name, s.name);
                check(&full, s.key_specs.len(), super::super::docs::of(&full));
            }
        }
    }
}
