//! Redis 7 key specs: where a command's keys are, and what the command does to each.
//!
//! Each [`super::CommandSpec`] carries the key specs Redis 7.0.15 declares for the command
//! (`src/commands/*.json`): a begin-search step that finds where the keys start (a fixed
//! index, or the argument after a keyword), a find-keys step that says how many follow (a
//! range, or a count read from the arguments) and flags (`RW access delete`...). Everything
//! that needs a command's keys reads them from here: cluster routing and CROSSSLOT checks,
//! WATCH invalidation, keyspace notifications, `COMMAND GETKEYS[ANDFLAGS]`, and COMMAND
//! INFO's key specs and legacy `first last step`. Cluster clients and proxies classify
//! commands by the same facts, so they must be Redis's own.
//!
//! A few commands' keys cannot be found from the arguments' positions alone (SORT's STORE
//! can be anywhere, SET's flags depend on GET); as in Redis, those have a key-finding
//! function ([`GetKeys`]) used when the specs cannot answer ([`find_keys`]).

use bytes::Bytes;

/// Key-spec flags, named and ordered as COMMAND INFO reports them.
pub mod key_flags {
    /// Read-only: reads the value but does not change it.
    pub const RO: u32 = 1 << 0;
    /// Read-write: modifies the value, and may read it first.
    pub const RW: u32 = 1 << 1;
    /// Overwrite: replaces the value without reading it.
    pub const OW: u32 = 1 << 2;
    /// Remove: deletes the key.
    pub const RM: u32 = 1 << 3;
    /// Returns, copies or uses the user data of the value.
    pub const ACCESS: u32 = 1 << 4;
    /// Updates data to the value (rather than only inserting or deleting).
    pub const UPDATE: u32 = 1 << 5;
    /// Adds data to the value, never touching what is there.
    pub const INSERT: u32 = 1 << 6;
    /// Deletes data from the value.
    pub const DELETE: u32 = 1 << 7;
    /// Not a key (sharded pub/sub's channels): routed like a key, never looked up.
    pub const NOT_KEY: u32 = 1 << 8;
    /// The spec may not find every key; the command's [`super::GetKeys`] finds them all.
    pub const INCOMPLETE: u32 = 1 << 9;
    /// The flags depend on the arguments; the command's [`super::GetKeys`] gives them.
    pub const VARIABLE_FLAGS: u32 = 1 << 10;

    /// Names as COMMAND INFO and GETKEYSANDFLAGS report them, in Redis's order.
    pub const NAMES: &[(u32, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

use key_flags::*;

/// Where the search for a spec's keys begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeginSearch {
    /// At a fixed argument index.
    Index(i32),
    /// Just after `keyword`, searched from `startfrom` (from the end when negative).
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
    /// Only the command's [`GetKeys`] knows.
    Unknown,
}

/// How many keys follow the beginning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindKeys {
    /// Keys up to `lastkey` (relative to the beginning; from the end when negative), every
    /// `keystep`-th argument; with `limit` > 1 only the first 1/limit of what remains.
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    /// A count at `keynumidx` (relative to the beginning), then that many keys from
    /// `firstkey` (relative to the beginning), every `keystep`-th argument.
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    /// Only the command's [`GetKeys`] knows.
    Unknown,
}

/// One key spec of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub flags: u32,
    pub begin: BeginSearch,
    pub find: FindKeys,
    pub notes: Option<&'static str>,
}

/// Keys at `index` up to `lastkey` past it (negative: from the end), `keystep` apart.
pub const fn range(index: i32, lastkey: i32, keystep: i32, flags: u32) -> KeySpec {
    KeySpec {
        flags,
        begin: BeginSearch::Index(index),
        find: FindKeys::Range {
            lastkey,
            keystep,
            limit: 0,
        },
        notes: None,
    }
}

/// A count at `index + keynumidx`, then that many keys from `index + firstkey`.
pub const fn keynum(
    index: i32,
    keynumidx: i32,
    firstkey: i32,
    keystep: i32,
    flags: u32,
) -> KeySpec {
    KeySpec {
        flags,
        begin: BeginSearch::Index(index),
        find: FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        },
        notes: None,
    }
}

/// The keys after `keyword` (searched from `startfrom`) up to `lastkey`, `keystep` apart.
pub const fn keyword(
    keyword: &'static str,
    startfrom: i32,
    lastkey: i32,
    keystep: i32,
    flags: u32,
) -> KeySpec {
    KeySpec {
        flags,
        begin: BeginSearch::Keyword { keyword, startfrom },
        find: FindKeys::Range {
            lastkey,
            keystep,
            limit: 0,
        },
        notes: None,
    }
}

/// Keys that only the command's [`GetKeys`] can find.
pub const fn unknown(flags: u32) -> KeySpec {
    KeySpec {
        flags,
        begin: BeginSearch::Unknown,
        find: FindKeys::Unknown,
        notes: None,
    }
}

impl KeySpec {
    /// The same spec with Redis's note explaining its flags.
    pub const fn notes(mut self, notes: &'static str) -> Self {
        self.notes = Some(notes);
        self
    }
}

/// A key found in a command's arguments: its position and what the command does to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: u32,
}

/// A command's own key finder (Redis's `getkeys_proc`), for what its specs cannot express.
/// `args[0]` is the command name. It must not size anything by a count it reads.
pub type GetKeys = fn(&[Bytes]) -> Vec<KeyRef>;

/// Redis's `getKeysFromCommandWithSpecs`: the specs, unless one is incomplete or cannot be
/// applied to these arguments or the flags vary, then the command's own finder.
pub fn find_keys(specs: &[KeySpec], getkeys: Option<GetKeys>, args: &[Bytes]) -> Vec<KeyRef> {
    let has_key = specs.iter().any(|s| s.flags & NOT_KEY == 0);
    let variable = specs.iter().any(|s| s.flags & VARIABLE_FLAGS != 0);
    if has_key && !variable {
        if let Some(keys) = from_specs(specs, args, false) {
            return keys;
        }
    }
    getkeys.map(|f| f(args)).unwrap_or_default()
}

/// Redis's `getKeysUsingKeySpecs`: every key the specs find, or `None` when a spec is
/// unknown, incomplete or does not fit the arguments (a count that is not a number, or
/// names more keys than there are arguments). Specs marked `not_key` count only with
/// `not_keys` (sharded pub/sub routes by its channels).
pub fn from_specs(specs: &[KeySpec], args: &[Bytes], not_keys: bool) -> Option<Vec<KeyRef>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        if spec.flags & NOT_KEY != 0 && !not_keys {
            continue;
        }
        let first = match spec.begin {
            BeginSearch::Index(i) => i as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                match find_keyword(args, keyword, startfrom) {
                    Some(i) => i as i64 + 1,
                    None => continue,
                }
            }
            BeginSearch::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey as i64
                } else if limit <= 1 {
                    argc + lastkey as i64
                } else {
                    first + ((argc - first) / limit as i64 + lastkey as i64)
                };
                (first, last, keystep as i64)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let at = usize::try_from(first + keynumidx as i64).ok()?;
                let n = crate::util::parse_i64_strict(args.get(at)?)?;
                if n < 0 {
                    return None;
                }
                let first = first + firstkey as i64;
                (first, first.saturating_add(n) - 1, keystep as i64)
            }
            FindKeys::Unknown => return None,
        };
        // Checked before anything is collected: a count naming more keys than there are
        // arguments is an error, never a size.
        if last >= argc || last < first || first >= argc || first < 1 || step < 1 {
            return None;
        }
        keys.extend(
            (first as usize..=last as usize)
                .step_by(step as usize)
                .map(|pos| KeyRef {
                    pos,
                    flags: spec.flags,
                }),
        );
        if spec.flags & INCOMPLETE != 0 {
            return None;
        }
    }
    Some(keys)
}

/// The index of `keyword` (case-insensitive), searched forwards from `startfrom`, or
/// backwards from `argc + startfrom` when that is negative, never at index 0.
fn find_keyword(args: &[Bytes], keyword: &str, startfrom: i32) -> Option<usize> {
    let argc = args.len() as i64;
    let is = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| args.get(i))
            .is_some_and(|a| a.eq_ignore_ascii_case(keyword.as_bytes()))
    };
    let start = startfrom as i64 + if startfrom > 0 { 0 } else { argc };
    if startfrom > 0 {
        (start..argc - 1).find(|&i| is(i))
    } else if start < argc {
        (2..=start).rev().find(|&i| is(i))
    } else {
        None
    }
    .map(|i| i as usize)
}

/// Redis's `genericGetKeys`, the finder of the commands with a key count (ZUNION, LMPOP,
/// SINTERCARD...), used only when their keynum spec does not fit: the count is read as
/// C's `atoi` does ("2x" is 2), the keys it names get no flags, and a destination at
/// `store` (when not 0) comes last. A count below 1 or beyond the arguments finds nothing.
pub fn generic_get_keys(
    store: usize,
    count_at: usize,
    first: usize,
    step: usize,
    args: &[Bytes],
) -> Vec<KeyRef> {
    let Some(count) = args.get(count_at) else {
        return Vec::new();
    };
    let n = atoi(count);
    let room = args.len().saturating_sub(first) / step.max(1);
    if n < 1 || n as usize > room {
        return Vec::new();
    }
    let mut keys: Vec<KeyRef> = (0..n as usize)
        .map(|i| KeyRef {
            pos: first + i * step,
            flags: 0,
        })
        .collect();
    if store != 0 {
        keys.push(KeyRef {
            pos: store,
            flags: 0,
        });
    }
    keys
}

/// C's `atoi` as glibc has it (`(int)strtol(s, NULL, 10)`): leading white space, a sign,
/// then as many digits as there are; anything else ends the number.
fn atoi(s: &[u8]) -> i32 {
    let mut it = s
        .iter()
        .skip_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .peekable();
    let negative = match it.peek() {
        Some(b'-') => {
            it.next();
            true
        }
        Some(b'+') => {
            it.next();
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    for b in it.take_while(|b| b.is_ascii_digit()) {
        let d = (b - b'0') as i64;
        n = if negative {
            n.saturating_mul(10).saturating_sub(d)
        } else {
            n.saturating_mul(10).saturating_add(d)
        };
    }
    n as i32
}

/// COMMAND INFO's legacy `(first, last, step)` and whether the command has movable keys,
/// derived from the specs as Redis's `populateCommandLegacyRangeSpec` does: the index-range
/// specs with step 1 that follow one another, glued together; anything else (a count, a
/// keyword, an unknown or incomplete spec) makes the keys movable. A finder function alone
/// does not: SET and BITFIELD have one only for their flags.
pub fn legacy_range(specs: &[KeySpec]) -> ((i64, i64, i64), bool) {
    if specs.is_empty() {
        return ((0, 0, 0), false);
    }
    if let [KeySpec {
        begin: BeginSearch::Index(index),
        find: FindKeys::Range {
            lastkey, keystep, ..
        },
        flags,
        ..
    }] = specs
    {
        let last = if *lastkey < 0 {
            *lastkey
        } else {
            index + lastkey
        };
        let incomplete = flags & INCOMPLETE != 0;
        return ((*index as i64, last as i64, *keystep as i64), incomplete);
    }
    let mut movable = false;
    let mut first = i32::MAX;
    let mut last: i32 = 0;
    let mut prev_last: i32 = 0;
    for spec in specs {
        let (
            BeginSearch::Index(index),
            FindKeys::Range {
                lastkey, keystep, ..
            },
        ) = (spec.begin, spec.find)
        else {
            movable = true;
            continue;
        };
        if keystep != 1 || (prev_last != 0 && prev_last != index - 1) {
            movable = true;
            continue;
        }
        if spec.flags & INCOMPLETE != 0 {
            movable = true;
        }
        first = first.min(index);
        let abs = if lastkey >= 0 {
            lastkey + index
        } else {
            lastkey
        };
        // Compared unsigned, as Redis does: a negative (from the end) last key wins.
        last = (last as u32).max(abs as u32) as i32;
        prev_last = last;
    }
    if first == i32::MAX {
        return ((0, 0, 0), true);
    }
    ((first as i64, last as i64, 1), movable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<Bytes> {
        s.iter().map(|a| Bytes::from(a.to_string())).collect()
    }

    fn positions(specs: &[KeySpec], a: &[&str]) -> Option<Vec<usize>> {
        from_specs(specs, &argv(a), false).map(|k| k.into_iter().map(|k| k.pos).collect())
    }

    #[test]
    fn ranges_and_counts() {
        let mset = [range(1, -1, 2, OW | UPDATE)];
        assert_eq!(
            positions(&mset, &["mset", "a", "1", "b", "2"]),
            Some(vec![1, 3])
        );
        let store = [range(1, 0, 1, OW | UPDATE), keynum(2, 0, 1, 1, RO | ACCESS)];
        let a = ["zunionstore", "d", "2", "a", "b", "weights", "1", "2"];
        assert_eq!(positions(&store, &a), Some(vec![1, 3, 4]));
        // A count beyond the arguments, zero, negative or not a number: no answer, and
        // nothing is sized by it.
        for n in ["9223372036854775807", "3000000000", "0", "-1", "2x"] {
            assert_eq!(positions(&store, &["zunionstore", "d", n, "a"]), None);
        }
    }

    #[test]
    fn keyword_search_runs_from_the_end() {
        let migrate = [
            range(3, 0, 1, RW | ACCESS | DELETE),
            keyword("KEYS", -2, -1, 1, RW | ACCESS | DELETE | INCOMPLETE),
        ];
        let a = ["migrate", "h", "p", "k", "0", "10"];
        assert_eq!(positions(&migrate, &a), Some(vec![3]));
        let a = ["migrate", "h", "p", "", "0", "10", "keys", "a", "b"];
        // The keyword spec is incomplete: the command's own finder answers.
        assert_eq!(positions(&migrate, &a), None);
        // The last KEYS before the final argument wins; one in the final place is not found.
        let complete = [keyword("KEYS", -2, -1, 1, RW)];
        let a = ["m", "keys", "x", "KEYS", "a", "b"];
        assert_eq!(positions(&complete, &a), Some(vec![4, 5]));
        assert_eq!(positions(&complete, &["m", "a", "keys"]), Some(vec![]));
        let forwards = [keyword("STORE", 2, 0, 1, OW)];
        assert_eq!(
            positions(&forwards, &["m", "store", "x", "store", "d"]),
            Some(vec![4])
        );
    }

    #[test]
    fn legacy_triple_glues_adjacent_ranges() {
        let bitop = [range(2, 0, 1, OW | UPDATE), range(3, -1, 1, RO | ACCESS)];
        assert_eq!(legacy_range(&bitop), ((2, -1, 1), false));
        let store = [range(1, 0, 1, OW | UPDATE), keynum(2, 0, 1, 1, RO | ACCESS)];
        assert_eq!(legacy_range(&store), ((1, 1, 1), true));
        let lmpop = [keynum(1, 0, 1, 1, RW | ACCESS | DELETE)];
        assert_eq!(legacy_range(&lmpop), ((0, 0, 0), true));
        assert_eq!(legacy_range(&[]), ((0, 0, 0), false));
    }

    #[test]
    fn atoi_reads_a_prefix() {
        assert_eq!(atoi(b"2abc"), 2);
        assert_eq!(atoi(b"  -3"), -3);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atoi(b"4294967298"), 2);
    }
}
