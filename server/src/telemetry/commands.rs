//! Per-command counters (INFO commandstats, INFO latencystats, LATENCY HISTOGRAM): calls,
//! time spent, rejections and failures, and a latency histogram, for every command and
//! subcommand of the table (`config|get` has its own line, as in Redis).

use super::histogram::Histogram;
use crate::commands::{table, CommandSpec};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The counters of one command.
#[derive(Default)]
pub struct Counters {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    /// Allocated at the first recorded call (24 KB each; most commands never run).
    pub histogram: OnceLock<Histogram>,
}

/// One command's name as INFO shows it (`get`, `config|get`) and its counters.
pub struct Entry {
    pub name: String,
    /// The command's family (`string`, `list`...), which the metrics exporter groups
    /// latency histograms by.
    pub group: &'static str,
    pub counters: Counters,
}

/// Counters for every command of the table, found by the address of its static spec (a
/// hash of one integer per command, no name comparison; foldhash, hashbrown's default,
/// because this runs once per command and SipHash showed in profiles).
pub struct CommandStats {
    entries: Vec<Entry>,
    index: hashbrown::HashMap<usize, usize>,
}

impl Default for CommandStats {
    fn default() -> Self {
        let mut entries = Vec::new();
        let mut index = hashbrown::HashMap::new();
        for c in table::all() {
            index.insert(*c as *const CommandSpec as usize, entries.len());
            entries.push(Entry {
                name: c.name.to_string(),
                group: c.group,
                counters: Counters::default(),
            });
            for s in c.subcommands {
                index.insert(s as *const CommandSpec as usize, entries.len());
                entries.push(Entry {
                    name: format!("{}|{}", c.name, s.name),
                    group: c.group,
                    counters: Counters::default(),
                });
            }
        }
        CommandStats { entries, index }
    }
}

/// Adds `n` to a counter whose writers are serialised by a lock (see
/// [`CommandStats::record_call`]).
pub(super) fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl CommandStats {
    /// The counters of `spec` (every spec of the table has some). A pipeline repeats one
    /// command, so the last look-up of this thread is tried first (every `CommandStats` is
    /// built from the same table in the same order, so an index is good for any of them).
    pub fn of(&self, spec: &CommandSpec) -> Option<&Counters> {
        thread_local! {
            static LAST: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
        }
        let key = spec as *const CommandSpec as usize;
        let (last_key, last_index) = LAST.get();
        let index = if last_key == key {
            last_index
        } else {
            let i = *self.index.get(&key)?;
            LAST.set((key, i));
            i
        };
        self.entries.get(index).map(|e| &e.counters)
    }

    /// Every command, in table order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Entries by name: a command (with its subcommands, for a container) or `cmd|sub`.
    pub fn named(&self, name: &str) -> Vec<&Entry> {
        let name = name.to_ascii_lowercase();
        let prefix = format!("{name}|");
        self.entries
            .iter()
            .filter(|e| e.name == name || (!name.contains('|') && e.name.starts_with(&prefix)))
            .collect()
    }

    /// A command ran: `ns` nanoseconds, `failed` when it replied with an error.
    ///
    /// The caller holds the keyspace lock, as every command does while it runs: writers are
    /// serialised by it, so the counters are bumped with a plain load and store rather than
    /// a locked read-modify-write (three of those per command showed in profiles), and
    /// readers without the lock still see whole values.
    pub fn record_call(&self, spec: &CommandSpec, ns: u64, failed: bool, track_latency: bool) {
        let Some(c) = self.of(spec) else { return };
        bump(&c.calls, 1);
        bump(&c.usec, ns / 1000);
        if failed {
            bump(&c.failed, 1);
        }
        if track_latency {
            c.histogram.get_or_init(Histogram::default).record(ns);
        }
    }

    pub fn record_rejected(&self, spec: &CommandSpec) {
        if let Some(c) = self.of(spec) {
            c.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for e in &self.entries {
            let c = &e.counters;
            for a in [&c.calls, &c.usec, &c.rejected, &c.failed] {
                a.store(0, Ordering::Relaxed);
            }
            if let Some(h) = c.histogram.get() {
                h.reset();
            }
        }
    }

    /// INFO commandstats lines (commands that ran or were refused since the last reset).
    pub fn info_commandstats(&self, t: &mut String) {
        use std::fmt::Write as _;
        for e in &self.entries {
            let c = &e.counters;
            let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let (calls, usec, rejected, failed) =
                (g(&c.calls), g(&c.usec), g(&c.rejected), g(&c.failed));
            if calls == 0 && rejected == 0 && failed == 0 {
                continue;
            }
            let per_call = if calls == 0 {
                0.0
            } else {
                usec as f64 / calls as f64
            };
            let _ = write!(
                t,
                "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                e.name
            );
        }
    }

    /// INFO latencystats lines: the configured percentiles of each command's latency, in µs.
    pub fn info_latencystats(&self, t: &mut String, percentiles: &[f64]) {
        use std::fmt::Write as _;
        for e in &self.entries {
            let Some(h) = e.counters.histogram.get().filter(|h| h.total() > 0) else {
                continue;
            };
            let _ = write!(t, "latency_percentiles_usec_{}:", e.name);
            for (i, p) in percentiles.iter().enumerate() {
                if i > 0 {
                    t.push(',');
                }
                let _ = write!(t, "p{}={:.3}", p, h.value_at_percentile(*p) as f64 / 1000.0);
            }
            t.push_str("\r\n");
        }
    }
}
