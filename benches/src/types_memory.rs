//! `compare types`: memory per key (or per element of one big key) for every data type, the
//! table of issue 42, so a change to an encoding shows its effect beside redis-server and
//! Valkey in one run.

use crate::memory::{DataKind, Opts};
use crate::procs::Flavor;

/// One row of the table: what is loaded and how much of it.
pub struct Case {
    pub label: String,
    pub data: DataKind,
    keys: u64,
    value_size: usize,
}

impl Case {
    /// The memory-comparison options that load this case.
    pub fn opts(&self, server_core: Option<usize>) -> Opts {
        Opts {
            keys: self.keys,
            data: self.data,
            value_size: self.value_size,
            // A one-key case sends commands of 1,000 elements: 10 per round trip keeps the
            // request buffers (which count in RSS too) small beside the data.
            batch: if self.data.single_key() { 10 } else { 1000 },
            server_core,
        }
    }
}

/// The rows: `keys` small keys of each collection type and 100-byte strings, then one
/// key of `elements` elements per collection type.
pub fn cases(keys: u64, elements: u64) -> Vec<Case> {
    let small = |label: &str, data| Case {
        label: format!("{keys} {label}"),
        data,
        keys,
        value_size: 16,
    };
    let big = |label: &str, data| Case {
        label: format!("one {label} of {elements} (per element)"),
        data,
        keys: elements,
        value_size: 16,
    };
    vec![
        small("lists of 10 short items", DataKind::Lists),
        small("sets of 10 small integers", DataKind::Intsets),
        small("sets of 10 short strings", DataKind::Strsets),
        small("sorted sets of 10", DataKind::Zsets),
        small("hashes of 10 short fields", DataKind::Hashes),
        Case {
            label: format!("{keys} 100-byte strings"),
            data: DataKind::Strings,
            keys,
            value_size: 100,
        },
        big("list", DataKind::BigList),
        big("set", DataKind::BigSet),
        big("hash", DataKind::BigHash),
        big("sorted set", DataKind::BigZset),
    ]
}

/// The rows as a table: bytes per key for each server, then slotcache's ratio to each peer.
pub fn table(rows: &[(String, Vec<(Flavor, f64)>)]) -> String {
    let Some((_, first)) = rows.first() else {
        return String::new();
    };
    let mut s = format!("{:<46}", "case");
    for (f, _) in first {
        s += &format!(" {:>10}", f.label());
    }
    for (f, _) in first.iter().filter(|(f, _)| *f != Flavor::Slotcache) {
        s += &format!(" {:>16}", format!("slotcache/{}", f.label()));
    }
    s.push('\n');
    for (label, per) in rows {
        s += &format!("{label:<46}");
        for (_, b) in per {
            s += &format!(" {b:>10.1}");
        }
        let ours = per
            .iter()
            .find(|(f, _)| *f == Flavor::Slotcache)
            .map(|(_, b)| *b);
        for (_, b) in per.iter().filter(|(f, _)| *f != Flavor::Slotcache) {
            let r = ours.map_or("-".to_string(), |o| format!("{:.2}", o / b));
            s += &format!(" {r:>16}");
        }
        s.push('\n');
    }
    s
}
