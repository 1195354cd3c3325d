//! The commands ACL rules are written against: an id per command and subcommand (the bit a
//! selector keeps for it), its full name and its categories, from the command table and
//! Redis's own metadata, built once.

use crate::commands::table::{self, CommandSpec};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// Redis's ACL categories, in its order (ACL CAT, rule descriptions); a category's bit is
/// its index here.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Bits in a selector's command bitmap (Redis's USER_COMMAND_BITS_COUNT).
pub const BITS: usize = 1024;
pub const WORDS: usize = BITS / 64;
/// The bit no command gets: set only by `+@all`, so a description knows whether the rules
/// started from everything (and allow commands added later) or from nothing.
pub const FUTURE: usize = BITS - 1;

/// One command or subcommand.
pub struct Entry {
    pub spec: &'static CommandSpec,
    /// `get`, `config|set`.
    pub full: String,
    /// Category bits (see [`CATEGORIES`]).
    pub cats: u32,
    pub parent: Option<usize>,
    pub subs: Vec<usize>,
}

pub struct Catalog {
    pub entries: Vec<Entry>,
    /// Top-level commands, in table order.
    pub top: Vec<usize>,
    by_addr: HashMap<usize, usize, BuildHasherDefault<AddrHasher>>,
}

/// Hashes a spec's address as it is: the catalogue is looked up for every command of a
/// restricted user, and addresses need no SipHash.
#[derive(Default)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        // One multiplication spreads the address over all bits (the table uses the high
        // ones too).
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

/// The catalogue, built on first use.
pub fn get() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(build)
}

fn cats_of(spec: &CommandSpec, full: &str) -> u32 {
    crate::commands::introspection::acl_categories(spec, full)
        .iter()
        .filter_map(|c| category(c.as_bytes()))
        .fold(0, |acc, b| acc | (1 << b))
}

fn build() -> Catalog {
    let mut c = Catalog {
        entries: Vec::new(),
        top: Vec::new(),
        by_addr: HashMap::default(),
    };
    for spec in table::all() {
        let id = c.entries.len();
        c.entries.push(Entry {
            spec,
            full: spec.name.to_string(),
            cats: cats_of(spec, spec.name),
            parent: None,
            subs: Vec::new(),
        });
        c.top.push(id);
        c.by_addr.insert(*spec as *const CommandSpec as usize, id);
        for sub in spec.subcommands {
            let sid = c.entries.len();
            let full = format!("{}|{}", spec.name, sub.name);
            c.entries.push(Entry {
                spec: sub,
                cats: cats_of(sub, &full),
                full,
                parent: Some(id),
                subs: Vec::new(),
            });
            c.entries[id].subs.push(sid);
            c.by_addr.insert(sub as *const CommandSpec as usize, sid);
        }
    }
    // Ids past the bitmap would be refused (as Redis refuses them); there are far fewer.
    c.entries.truncate(FUTURE);
    c
}

impl Catalog {
    /// The id of a spec of the command table.
    pub fn id_of(&self, spec: &CommandSpec) -> Option<usize> {
        self.by_addr
            .get(&(spec as *const CommandSpec as usize))
            .copied()
    }

    /// A command by the name a rule gives it: `get` or `config|get` (Redis's
    /// `lookupCommandBySds`: at most one `|`).
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let mut parts = name.split(|&b| b == b'|');
        let first = parts.next()?;
        let second = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let cmd = table::lookup(first)?;
        let spec = match second {
            None => cmd,
            Some(s) => cmd.subcommand(s)?,
        };
        self.id_of(spec)
    }
}

/// A category's bit, by name (case-insensitive).
pub fn category(name: &[u8]) -> Option<usize> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_an_id_and_redis_categories() {
        let c = get();
        assert!(c.entries.len() < FUTURE, "the bitmap holds every command");
        for spec in table::all() {
            assert!(c.id_of(spec).is_some(), "{}", spec.name);
        }
        let get_id = c.lookup(b"GET").unwrap();
        let cats: Vec<&str> = CATEGORIES
            .iter()
            .enumerate()
            .filter(|(i, _)| c.entries[get_id].cats & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(cats, ["read", "string", "fast"]);
        let sub = c.lookup(b"config|set").unwrap();
        assert_eq!(c.entries[sub].full, "config|set");
        assert!(c.entries[sub].parent.is_some());
        assert!(c.lookup(b"config|nosuch").is_none());
        assert!(c.lookup(b"client|id|x").is_none());
    }
}
