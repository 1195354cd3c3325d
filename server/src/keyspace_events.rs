//! What `notify-keyspace-events` selects ([`Flags`]) and what each command sends
//! ([`Events`], a field of its command spec): plain values, below the command table, the
//! settings and the publisher ([`crate::notify`]) that all read them.

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

/// The notifications a command sends after it changed data: a field of its command spec
/// ([`crate::commands::CommandSpec::events`]), so that what a write notifies is stated
/// where the command is, not matched by name here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Events {
    /// The command's own name, in its group's class, on each key it modified; `del` too
    /// when that emptied a collection.
    Own,
    /// As [`Events::Own`] under Redis's name for it (INCR sends `incrby`, GETDEL `del`).
    Named(&'static str),
    /// As [`Events::Named`], and `expire` on its key (SETEX, PSETEX).
    NamedWithExpiry(&'static str),
    /// SET: `set`, and `expire` when it set one (EX, PX, EXAT, PXAT).
    Set,
    /// ZADD: `zadd`, or `zincr` with INCR.
    Zadd,
    /// Nothing per key: PFCOUNT refreshing its cached cardinality (a modification WATCH
    /// sees), flushes and SWAPDB.
    None,
    /// RENAME, RENAMENX: `rename_from` and `rename_to`.
    Rename,
    /// COPY: `copy_to` on the destination.
    Copy,
    /// MOVE: `new` and `move_to` in the target database, `move_from` in this one.
    Move,
    /// BITOP: the destination, `set` or (an empty result) `del`.
    Bitop,
    /// GETEX: what it did to the expiry.
    Getex,
    /// EXPIRE and friends: `expire`, or `del` when the time was in the past.
    Expire,
    /// A destination written from sources only read (SINTERSTORE, ZUNIONSTORE, PFMERGE):
    /// this event on the destination, or `del` when the result was empty.
    Store(&'static str),
    /// LMOVE (`sides`: the directions are arguments 3 and 4) and RPOPLPUSH (right to left):
    /// a push on the destination, a pop on the source.
    ListMove { sides: bool },
    /// SORT ... STORE: `sortstore` on the destination.
    SortStore,
    /// GEORADIUS[BYMEMBER] ... STORE: `georadiusstore` on the destination.
    GeoStore,
    /// SMOVE: `srem` on the source, `sadd` on the destination when the member was new there.
    Smove,
    /// RESTORE: `restore`; with REPLACE the key counts as new even when one existed.
    Restore,
    /// The MPOPs and blocking pops notify the pop they did on the key they did it to, which
    /// their replicated effects name; this event on their keys otherwise.
    AsEffects(&'static str),
    /// Events that depend on what the command did (XADD's `xtrim` when it trimmed, the
    /// consumers XREADGROUP and XCLAIM create): the handler reports them with
    /// [`crate::commands::Ctx::notify`]; sent in this class.
    Reported(char),
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
