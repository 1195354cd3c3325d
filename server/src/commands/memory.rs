//! MEMORY: what a key costs (USAGE), where the node's memory goes (STATS), a plain-language
//! diagnosis (DOCTOR), the allocator's own report (MALLOC-STATS) and returning dirty pages to
//! the system (PURGE).
//!
//! Every figure comes from accounting the server already keeps, so MEMORY agrees with INFO
//! and with eviction: a key's cost is [`Entry::memory_sampled`] (what eviction counts as freed
//! when it drops the key) plus its slot in the key table; the node's totals are the counting
//! allocator's figure ([`crate::eviction::total_used`], INFO `used_memory`), the clients'
//! buffers as [`crate::client_memory`] reports them, the replication backlog, and jemalloc's
//! statistics ([`crate::jemalloc`]). Reply shapes and field names are Redis 7.0's.

use super::keyspec::{self as ks, key_flags::*};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::db::TABLE_SLOT_BYTES;
use crate::keyspace::Entry;
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// Elements MEMORY USAGE looks at in a big collection when SAMPLES is not given (Redis's
/// `OBJ_COMPUTE_SIZE_DEF_SAMPLES`).
const DEFAULT_SAMPLES: usize = 5;

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "doctor",
        2,
        0,
        &[],
        doctor,
        "server",
        "Outputs a memory problems report.",
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        help,
        "server",
        "Returns helpful text about the different subcommands.",
    ),
    CommandSpec::new(
        "malloc-stats",
        2,
        0,
        &[],
        malloc_stats,
        "server",
        "Returns the allocator statistics.",
    ),
    CommandSpec::new(
        "purge",
        2,
        0,
        &[],
        purge,
        "server",
        "Asks the allocator to release memory.",
    ),
    CommandSpec::new(
        "stats",
        2,
        0,
        &[],
        stats,
        "server",
        "Returns details about memory usage.",
    ),
    CommandSpec::new(
        "usage",
        -3,
        READONLY,
        &[ks::range(2, 0, 1, RO)],
        usage,
        "server",
        "Estimates the memory usage of a key.",
    ),
];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container(
    "memory",
    -2,
    super::unknown_sub,
    "server",
    "A container for memory diagnostics commands.",
    SUBCOMMANDS,
)];

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    super::reply_help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
}

/// Bytes `e` costs: its record, key and value blocks, and its slot in the key table. Big
/// collections are sized from `samples` elements (all of them for `usize::MAX`).
pub fn key_usage(e: &Entry, samples: usize) -> usize {
    e.memory_sampled(samples) + TABLE_SLOT_BYTES
}

/// MEMORY USAGE key [SAMPLES count]: null for a missing key. Looking does not count as an
/// access (no LRU/LFU update, no hit), as in Redis.
fn usage(ctx: &mut Ctx, a: &[Bytes]) {
    let mut samples = DEFAULT_SAMPLES;
    let mut i = 3;
    while i < a.len() {
        if args::is(&a[i], "samples") && i + 1 < a.len() {
            let Some(n) = args::int(&a[i + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            if n < 0 {
                return ctx.err(errors::SYNTAX);
            }
            samples = if n == 0 { usize::MAX } else { n as usize };
            i += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match db.peek_ref(&a[2], now) {
        Some(e) => out.int(key_usage(e, samples) as i64),
        None => out.null(),
    }
}

/// Where the node's memory goes (Redis's `struct redisMemOverhead`).
#[derive(Debug, Default)]
struct Overhead {
    peak: u64,
    total: u64,
    startup: u64,
    backlog: u64,
    clients_replicas: u64,
    clients_normal: u64,
    /// (db index, key table bytes) for every non-empty database.
    dbs: Vec<(usize, u64)>,
    overhead_total: u64,
    keys: u64,
    bytes_per_key: u64,
    dataset: u64,
    dataset_perc: f64,
    peak_perc: f64,
    alloc: crate::jemalloc::Stats,
    rss: u64,
    replicas: usize,
    clients: usize,
}

impl Overhead {
    fn gather(ctx: &Ctx) -> Overhead {
        let total = crate::eviction::total_used();
        let peak = ctx
            .shared
            .memory_peak
            .fetch_max(total, Ordering::Relaxed)
            .max(total);
        let startup = ctx.shared.memory_startup.load(Ordering::Relaxed);
        let backlog = ctx.ks.repl.backlog.len() as u64;
        let clients_replicas = crate::eviction::not_counted(ctx.ks);
        let clients_normal = ctx.shared.clients.memory.load(Ordering::Relaxed) as u64;
        let dbs: Vec<(usize, u64)> = ctx
            .ks
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_empty())
            .map(|(i, d)| (i, d.table_overhead() as u64))
            .collect();
        let overhead_total = startup
            + backlog
            + clients_replicas
            + clients_normal
            + dbs.iter().map(|(_, b)| b).sum::<u64>();
        let keys = ctx.ks.total_keys() as u64;
        let net = total.saturating_sub(startup);
        let dataset = total.saturating_sub(overhead_total);
        let perc = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 * 100.0 / whole as f64
            }
        };
        let replicas = ctx.ks.repl.replicas().count();
        Overhead {
            peak,
            total,
            startup,
            backlog,
            clients_replicas,
            clients_normal,
            dbs,
            overhead_total,
            keys,
            bytes_per_key: net.checked_div(keys).unwrap_or(0),
            dataset,
            dataset_perc: perc(dataset, net),
            peak_perc: perc(total, peak),
            alloc: crate::jemalloc::stats(),
            rss: super::info::rss_bytes(),
            replicas,
            clients: ctx.shared.clients.len().saturating_sub(replicas),
        }
    }

    fn ratio(a: u64, b: u64) -> f64 {
        if b == 0 {
            0.0
        } else {
            a as f64 / b as f64
        }
    }

    /// External fragmentation: pages' free room over what they hold.
    fn allocator_frag(&self) -> (f64, i64) {
        let (a, b) = (self.alloc.active, self.alloc.allocated);
        (Self::ratio(a, b), a as i64 - b as i64)
    }

    /// Dirty pages the allocator still holds.
    fn allocator_rss(&self) -> (f64, i64) {
        let (a, b) = (self.alloc.resident, self.alloc.active);
        (Self::ratio(a, b), a as i64 - b as i64)
    }

    /// Resident memory the allocator does not account for (code, stacks, other mappings).
    fn rss_extra(&self) -> (f64, i64) {
        let (a, b) = (self.rss, self.alloc.resident);
        (Self::ratio(a, b), a as i64 - b as i64)
    }

    /// Everything together: resident memory over what the server allocated.
    fn total_frag(&self) -> (f64, i64) {
        (
            Self::ratio(self.rss, self.total),
            self.rss as i64 - self.total as i64,
        )
    }
}

fn stats(ctx: &mut Ctx, _a: &[Bytes]) {
    let m = Overhead::gather(ctx);
    let o = &mut *ctx.out;
    let int = |o: &mut crate::protocol::Out, k: &str, v: i64| {
        o.bulk_str(k);
        o.int(v);
    };
    let dbl = |o: &mut crate::protocol::Out, k: &str, v: f64| {
        o.bulk_str(k);
        o.double(v);
    };
    o.map(27 + m.dbs.len());
    int(o, "peak.allocated", m.peak as i64);
    int(o, "total.allocated", m.total as i64);
    int(o, "startup.allocated", m.startup as i64);
    int(o, "replication.backlog", m.backlog as i64);
    int(o, "clients.slaves", m.clients_replicas as i64);
    int(o, "clients.normal", m.clients_normal as i64);
    // Cluster bus links, AOF and scripting keep no buffers counted here.
    int(o, "cluster.links", 0);
    int(o, "aof.buffer", 0);
    int(o, "lua.caches", 0);
    int(o, "functions.caches", 0);
    for (i, table) in &m.dbs {
        o.bulk_str(&format!("db.{i}"));
        o.map(3);
        int(o, "overhead.hashtable.main", *table as i64);
        // TTLs live in the entries: there is no second table for them.
        int(o, "overhead.hashtable.expires", 0);
        // Redis 7.0 reports its cluster slot-to-keys index here; slots index the keyspace
        // itself, so it has no cost of its own. The field stays for clients that read it.
        int(o, "overhead.hashtable.slot-to-keys", 0);
    }
    int(o, "overhead.total", m.overhead_total as i64);
    int(o, "keys.count", m.keys as i64);
    int(o, "keys.bytes-per-key", m.bytes_per_key as i64);
    int(o, "dataset.bytes", m.dataset as i64);
    dbl(o, "dataset.percentage", m.dataset_perc);
    dbl(o, "peak.percentage", m.peak_perc);
    int(o, "allocator.allocated", m.alloc.allocated as i64);
    int(o, "allocator.active", m.alloc.active as i64);
    int(o, "allocator.resident", m.alloc.resident as i64);
    let (r, b) = m.allocator_frag();
    dbl(o, "allocator-fragmentation.ratio", r);
    int(o, "allocator-fragmentation.bytes", b);
    let (r, b) = m.allocator_rss();
    dbl(o, "allocator-rss.ratio", r);
    int(o, "allocator-rss.bytes", b);
    let (r, b) = m.rss_extra();
    dbl(o, "rss-overhead.ratio", r);
    int(o, "rss-overhead.bytes", b);
    let (r, b) = m.total_frag();
    dbl(o, "fragmentation", r);
    int(o, "fragmentation.bytes", b);
}

const EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
const FINE: &str = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";
const PEAK: &str = " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n";
const HIGH_FRAG: &str = " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc\".\n\n";
const ALLOC_FRAG: &str = " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n";
const ALLOC_RSS: &str = " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n";
const PROC_RSS: &str = " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n";
const REPLICA_BUF: &str = " * Big replica buffers: The replica output buffers in this instance are greater than 10MB for each replica (on average). This likely means that there is some replica instance that is struggling receiving data, either because it is too slow or because of networking issues. As a result, data piles on the master output buffers. Please try to identify what replica is not receiving data correctly and why. You can use the INFO output in order to check the replicas delays and the CLIENT LIST command to check the output buffers of each replica.\n\n";
const CLIENT_BUF: &str = " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n";

/// Redis's `getMemoryDoctorReport`: the same thresholds, over the same figures.
fn doctor_report(m: &Overhead) -> String {
    const MB10: i64 = 10 << 20;
    if m.total < 5 * 1024 * 1024 {
        return EMPTY.to_string();
    }
    let mut found: Vec<&str> = Vec::new();
    if Overhead::ratio(m.peak, m.total) > 1.5 {
        found.push(PEAK);
    }
    let checks = [
        (m.total_frag(), 1.4, HIGH_FRAG),
        (m.allocator_frag(), 1.1, ALLOC_FRAG),
        (m.allocator_rss(), 1.1, ALLOC_RSS),
        (m.rss_extra(), 1.1, PROC_RSS),
    ];
    for ((ratio, bytes), limit, text) in checks {
        if ratio > limit && bytes > MB10 {
            found.push(text);
        }
    }
    if m.replicas > 0 && m.clients_replicas > MB10 as u64 {
        found.push(REPLICA_BUF);
    }
    if m.clients > 0 && m.clients_normal / m.clients as u64 > 200 * 1024 {
        found.push(CLIENT_BUF);
    }
    if found.is_empty() {
        return FINE.to_string();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for f in found {
        s.push_str(f);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

fn doctor(ctx: &mut Ctx, _a: &[Bytes]) {
    let report = doctor_report(&Overhead::gather(ctx));
    ctx.out.verbatim("txt", report.as_bytes());
}

fn malloc_stats(ctx: &mut Ctx, _a: &[Bytes]) {
    let report = crate::jemalloc::malloc_stats();
    ctx.out.verbatim("txt", report.as_bytes());
}

fn purge(ctx: &mut Ctx, _a: &[Bytes]) {
    if crate::jemalloc::purge() {
        ctx.out.ok();
    } else {
        ctx.err("ERR Error purging dirty pages");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Overhead {
        Overhead {
            peak: 100 << 20,
            total: 100 << 20,
            alloc: crate::jemalloc::Stats {
                allocated: 100 << 20,
                active: 100 << 20,
                resident: 100 << 20,
            },
            rss: 100 << 20,
            clients: 1,
            ..Default::default()
        }
    }

    #[test]
    fn doctor_follows_redis_thresholds() {
        let mut m = base();
        m.total = 1 << 20;
        assert_eq!(doctor_report(&m), EMPTY);
        assert_eq!(doctor_report(&base()), FINE);
        let mut m = base();
        m.peak = 200 << 20;
        let r = doctor_report(&m);
        assert!(
            r.starts_with("Sam, I detected") && r.contains("Peak memory"),
            "{r}"
        );
        let mut m = base();
        m.clients_normal = 300 * 1024;
        assert!(doctor_report(&m).contains("Big client buffers"));
        // Over the ratio but under 10MB of difference: not reported.
        let mut m = base();
        m.alloc.active = (100 << 20) + (5 << 20);
        assert_eq!(doctor_report(&m), FINE);
    }
}
