//! INFO: the server's state in Redis's sections and field names, which monitoring tools and
//! `redis-cli --cluster` parse.

use super::table::{flags::*, CommandSpec};
use super::Ctx;
use crate::replication::feed::Role;
use bytes::Bytes;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "info",
    -1,
    LOADING | STALE,
    &[],
    info,
    "server",
    "Returns information and statistics about the server.",
)];

/// Every section, in the order Redis 7.0 prints them.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// What `INFO` and `INFO default` print: all but the per-command sections.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// The sections asked for: names (any case), `default`, `all`, `everything`; several may
/// be given, each section is printed once. Unknown names select nothing.
fn wanted_sections(a: &[Bytes]) -> Vec<&'static str> {
    let names: Vec<String> = a[1..].iter().map(|s| crate::util::lower(s)).collect();
    if names.is_empty() {
        return DEFAULT.to_vec();
    }
    SECTIONS
        .iter()
        .copied()
        .filter(|sec| {
            names.iter().any(|n| {
                n == sec
                    || n == "all"
                    || n == "everything"
                    || (n == "default" && DEFAULT.contains(sec))
            })
        })
        .collect()
}

fn info(ctx: &mut Ctx, a: &[Bytes]) {
    let mut text = String::new();
    for section in wanted_sections(a) {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let _ = writeln!(text, "# {}\r", capitalize(section));
        match section {
            "server" => server(ctx, &mut text),
            "clients" => clients(ctx, &mut text),
            "memory" => memory(ctx, &mut text),
            "persistence" => persistence(ctx, &mut text),
            "stats" => stats(ctx, &mut text),
            "replication" => replication(ctx, &mut text),
            "cpu" => cpu(&mut text),
            "commandstats" => ctx.shared.telemetry.commands.info_commandstats(&mut text),
            "errorstats" => ctx.shared.telemetry.errors.info_errorstats(&mut text),
            "latencystats" => ctx
                .shared
                .telemetry
                .commands
                .info_latencystats(&mut text, &ctx.settings.latency_tracking_percentiles),
            "cluster" => {
                let _ = write!(
                    text,
                    "cluster_enabled:{}\r\n",
                    u8::from(ctx.settings.cluster_enabled)
                );
                // slotcache's own: bus connections refused by the cluster secret or TLS.
                if let Some(c) = ctx.shared.cluster.get() {
                    let _ = write!(
                        text,
                        "cluster_bus_auth_rejected:{}\r\n",
                        c.auth.rejected.load(std::sync::atomic::Ordering::Relaxed)
                    );
                }
            }
            "keyspace" => keyspace(ctx, &mut text),
            _ => {}
        }
    }
    ctx.out.verbatim("txt", text.as_bytes());
}

/// A section's header as Redis prints it (`# CPU`, `# Commandstats`).
fn capitalize(s: &str) -> String {
    if s == "cpu" {
        return "CPU".to_string();
    }
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

fn line(t: &mut String, k: &str, v: impl std::fmt::Display) {
    let _ = write!(t, "{k}:{v}\r\n");
}

fn server(ctx: &mut Ctx, t: &mut String) {
    let sh = ctx.shared;
    let up = sh.started.elapsed().as_secs();
    line(t, "redis_version", super::REDIS_VERSION);
    // Redis reports the commit of its own source here; slotcache is not built from Redis's
    // tree, so these say what a Redis built outside a git checkout says (Debian's does too).
    // Tools read them unconditionally (Redis's own suite prints `redis_git_sha1` first).
    line(t, "redis_git_sha1", "00000000");
    line(t, "redis_git_dirty", 0);
    line(t, "slotcache_version", env!("CARGO_PKG_VERSION"));
    line(
        t,
        "redis_mode",
        if ctx.settings.cluster_enabled {
            "cluster"
        } else {
            "standalone"
        },
    );
    line(
        t,
        "os",
        format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    );
    line(t, "arch_bits", usize::BITS);
    line(t, "multiplexing_api", "epoll");
    line(t, "process_id", std::process::id());
    line(t, "run_id", &sh.run_id);
    line(t, "tcp_port", sh.bound_port.load(Ordering::Relaxed));
    line(t, "server_time_usec", crate::util::now_ms() * 1000);
    line(t, "uptime_in_seconds", up);
    line(t, "uptime_in_days", up / 86400);
    line(t, "hz", ctx.settings.hz);
    line(t, "configured_hz", ctx.settings.hz);
    line(
        t,
        "lru_clock",
        crate::keyspace::clock::lru_now(ctx.now) & 0xFF_FFFF,
    );
    line(
        t,
        "executable",
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    let file = sh
        .config
        .read()
        .file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    line(t, "config_file", file);
    line(t, "io_threads_active", 0);
}

fn clients(ctx: &mut Ctx, t: &mut String) {
    let n = ctx.shared.clients.len();
    line(t, "connected_clients", n);
    line(t, "cluster_connections", 0);
    line(t, "maxclients", ctx.settings.maxclients);
    line(t, "client_recent_max_input_buffer", 0);
    line(t, "client_recent_max_output_buffer", 0);
    line(
        t,
        "blocked_clients",
        ctx.shared.blocked_clients.load(Ordering::Relaxed),
    );
    line(t, "tracking_clients", ctx.ks.tracking.stats().0);
    line(t, "clients_in_timeout_table", 0);
}

/// Resident set size of this process, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn memory(ctx: &mut Ctx, t: &mut String) {
    let crate::jemalloc::Stats {
        allocated,
        resident,
        ..
    } = crate::jemalloc::stats();
    // Redis's used_memory is its allocator wrapper's count; ours is the same kind of count
    // (what eviction compares with maxmemory).
    let used = crate::eviction::total_used();
    let rss = rss_bytes();
    let peak = ctx
        .shared
        .memory_peak
        .fetch_max(used, Ordering::Relaxed)
        .max(used);
    // As Redis: what is left of used memory after the overheads (walking every key instead
    // would hold the keyspace for milliseconds per million keys, and INFO is polled).
    let clients = (ctx.shared.clients.len() * 16 * 1024) as u64;
    let dataset = used
        .saturating_sub(ctx.shared.memory_startup.load(Ordering::Relaxed))
        .saturating_sub(ctx.ks.repl.backlog.len() as u64)
        .saturating_sub(crate::eviction::not_counted(ctx.ks))
        .saturating_sub(clients);
    let h = crate::util::human_bytes;
    line(t, "used_memory", used);
    line(t, "used_memory_human", h(used));
    line(t, "used_memory_rss", rss);
    line(t, "used_memory_rss_human", h(rss));
    line(t, "used_memory_peak", peak);
    line(t, "used_memory_peak_human", h(peak));
    line(
        t,
        "used_memory_peak_perc",
        format!(
            "{:.2}%",
            if peak == 0 {
                100.0
            } else {
                used as f64 * 100.0 / peak as f64
            }
        ),
    );
    line(
        t,
        "used_memory_startup",
        ctx.shared.memory_startup.load(Ordering::Relaxed),
    );
    line(t, "used_memory_dataset", dataset);
    line(
        t,
        "used_memory_dataset_perc",
        format!(
            "{:.2}%",
            if used == 0 {
                0.0
            } else {
                dataset as f64 * 100.0 / used as f64
            }
        ),
    );
    scripts(ctx, t);
    line(t, "allocator_allocated", allocated);
    line(t, "allocator_resident", resident);
    line(t, "total_system_memory", total_system_memory());
    line(t, "maxmemory", ctx.settings.maxmemory);
    line(t, "maxmemory_human", h(ctx.settings.maxmemory));
    line(t, "maxmemory_policy", &ctx.settings.maxmemory_policy);
    line(
        t,
        "mem_not_counted_for_evict",
        crate::eviction::not_counted(ctx.ks),
    );
    line(
        t,
        "mem_fragmentation_ratio",
        format!(
            "{:.2}",
            if used == 0 {
                0.0
            } else {
                rss as f64 / used as f64
            }
        ),
    );
    line(t, "mem_replication_backlog", ctx.ks.repl.backlog.len());
    line(t, "mem_clients_slaves", 0);
    line(t, "mem_clients_normal", clients);
    line(t, "mem_allocator", "jemalloc");
    line(t, "active_defrag_running", 0);
    let (pending, freed) = super::server::lazyfree_figures();
    line(t, "lazyfree_pending_objects", pending);
    line(t, "lazyfreed_objects", freed);
}

/// The Lua VM and the cached scripts, apart from the dataset, as Redis 7.0 reports them.
fn scripts(ctx: &mut Ctx, t: &mut String) {
    let f = crate::scripting::engine::figures(&ctx.shared.script_stats);
    let h = crate::util::human_bytes;
    line(t, "used_memory_lua", f.vm);
    line(t, "used_memory_vm_eval", f.vm);
    line(t, "used_memory_lua_human", h(f.vm));
    line(t, "used_memory_scripts_eval", f.bodies);
    line(t, "number_of_cached_scripts", f.cached);
    line(t, "number_of_functions", f.functions);
    line(t, "used_memory_vm_functions", f.functions_vm);
    let total = f.vm + f.functions_vm;
    line(t, "used_memory_vm_total", total);
    line(t, "used_memory_vm_total_human", h(total));
    line(t, "used_memory_functions", f.functions_bytes);
    let scripts = f.bodies + f.functions_bytes;
    line(t, "used_memory_scripts", scripts);
    line(t, "used_memory_scripts_human", h(scripts));
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                })
        })
        .map_or(0, |kb| kb * 1024)
}

fn persistence(ctx: &mut Ctx, t: &mut String) {
    let p = ctx.shared.persistence.figures();
    let saved = ctx.shared.persistence.dirty_at_save.load(Ordering::Relaxed);
    let copied: u64 = ctx.ks.dbs.iter().map(|d| d.snapshot_copied()).sum();
    line(t, "loading", 0);
    line(t, "async_loading", 0);
    // No fork: the copy-on-write figures count entries writers handed to the snapshot.
    line(t, "current_cow_peak", 0);
    line(t, "current_cow_size", copied);
    line(t, "current_cow_size_age", 0);
    line(t, "current_fork_perc", "0.00");
    line(t, "current_save_keys_processed", 0);
    line(t, "current_save_keys_total", 0);
    line(
        t,
        "rdb_changes_since_last_save",
        ctx.ks.dirty.saturating_sub(saved),
    );
    line(t, "rdb_bgsave_in_progress", u8::from(p.in_progress));
    line(
        t,
        "rdb_last_save_time",
        ctx.shared.last_save_unix.load(Ordering::Relaxed),
    );
    line(
        t,
        "rdb_last_bgsave_status",
        if p.last_ok { "ok" } else { "err" },
    );
    line(t, "rdb_last_bgsave_time_sec", p.last_bgsave_secs);
    line(t, "rdb_current_bgsave_time_sec", p.current_secs);
    line(t, "rdb_saves", p.saves);
    line(t, "rdb_last_cow_size", p.last_copied);
    line(t, "rdb_last_load_keys_expired", p.load_expired);
    line(t, "rdb_last_load_keys_loaded", p.loaded_keys);
    let a = ctx.shared.aof.figures();
    let status = |ok: bool| if ok { "ok" } else { "err" };
    line(t, "aof_enabled", u8::from(a.enabled));
    line(t, "aof_rewrite_in_progress", u8::from(a.rewriting));
    line(t, "aof_rewrite_scheduled", u8::from(a.scheduled));
    line(t, "aof_last_rewrite_time_sec", a.last_rewrite_secs);
    line(t, "aof_current_rewrite_time_sec", a.current_rewrite_secs);
    line(t, "aof_last_bgrewrite_status", status(a.last_ok));
    line(t, "aof_rewrites", a.rewrites);
    line(
        t,
        "aof_rewrites_consecutive_failures",
        a.consecutive_failures,
    );
    line(t, "aof_last_write_status", status(a.last_write_ok));
    line(t, "aof_last_cow_size", a.last_cow);
    line(t, "module_fork_in_progress", 0);
    line(t, "module_fork_last_cow_size", 0);
    if let Some((current, base, buffered, delayed)) = a.sizes {
        line(t, "aof_current_size", current);
        line(t, "aof_base_size", base);
        line(t, "aof_pending_rewrite", u8::from(a.scheduled));
        line(t, "aof_buffer_length", buffered);
        line(t, "aof_pending_bio_fsync", 0);
        line(t, "aof_delayed_fsync", delayed);
    }
}

fn stats(ctx: &mut Ctx, t: &mut String) {
    let s = &ctx.shared.stats;
    let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let expired: u64 = ctx.ks.dbs.iter().map(|d| d.stats.expired_keys).sum();
    let hits: u64 = ctx.ks.dbs.iter().map(|d| d.hits).sum();
    let misses: u64 = ctx.ks.dbs.iter().map(|d| d.misses).sum();
    let r = ctx.ks.repl.stats;
    line(t, "total_connections_received", g(&s.connections_received));
    line(t, "total_commands_processed", g(&s.commands_processed));
    line(t, "instantaneous_ops_per_sec", ctx.shared.ops_per_sec());
    line(t, "total_net_input_bytes", g(&s.net_input_bytes));
    line(t, "total_net_output_bytes", g(&s.net_output_bytes));
    line(t, "rejected_connections", g(&s.rejected_connections));
    line(t, "sync_full", r.sync_full);
    line(t, "sync_partial_ok", r.sync_partial_ok);
    line(t, "sync_partial_err", r.sync_partial_err);
    line(t, "expired_keys", expired);
    // Hash fields whose TTL passed (Redis 7.4's field).
    let fields: u64 = ctx.ks.dbs.iter().map(|d| d.stats.expired_fields).sum();
    line(t, "expired_subkeys", fields);
    line(t, "expired_stale_perc", "0.00");
    line(t, "expired_time_cap_reached_count", 0);
    line(t, "evicted_keys", g(&s.evicted_keys));
    line(
        t,
        "evicted_clients",
        ctx.shared.clients.evicted.load(Ordering::Relaxed),
    );
    let (exceeded_total, exceeded_now) = ctx.ks.evict.exceeded_ms();
    line(t, "total_eviction_exceeded_time", exceeded_total);
    line(t, "current_eviction_exceeded_time", exceeded_now);
    line(t, "keyspace_hits", hits);
    line(t, "keyspace_misses", misses);
    let pubsub = &ctx.shared.pubsub;
    line(
        t,
        "pubsub_channels",
        pubsub.active(crate::pubsub::Kind::Channel),
    );
    line(
        t,
        "pubsub_patterns",
        pubsub.active(crate::pubsub::Kind::Pattern),
    );
    line(
        t,
        "pubsubshard_channels",
        pubsub.active(crate::pubsub::Kind::Shard),
    );
    line(
        t,
        "migrate_cached_sockets",
        ctx.shared.migrate_links.cached(),
    );
    let (_, keys, items, prefixes) = ctx.ks.tracking.stats();
    line(t, "tracking_total_keys", keys);
    line(t, "tracking_total_items", items);
    line(t, "tracking_total_prefixes", prefixes);
    line(t, "unexpected_error_replies", 0);
    line(
        t,
        "total_error_replies",
        ctx.shared.telemetry.errors.total.load(Ordering::Relaxed),
    );
    line(t, "total_reads_processed", g(&s.commands_processed));
    // Not in Redis: what the one keyspace lock costs the serving threads (issue #33).
    let lock = ctx.shared.keyspace.figures();
    line(t, "keyspace_lock_acquisitions", lock.acquisitions);
    line(t, "keyspace_lock_contended", lock.contended);
    line(t, "keyspace_lock_wait_usec", lock.wait_us);
    line(t, "keyspace_lock_hold_usec", lock.hold_us);
}

fn replication(ctx: &mut Ctx, t: &mut String) {
    let repl = &ctx.ks.repl;
    match &repl.role {
        Role::Primary => {
            line(t, "role", "master");
            // Redis's states: waiting for the snapshot's point in time, receiving the
            // snapshot, fed the stream.
            let replicas: Vec<_> = repl
                .replicas()
                .map(|r| (r, false))
                .chain(repl.waiting().map(|r| (r, true)))
                .collect();
            line(t, "connected_slaves", replicas.len());
            let now = slotcache_util::clock::mono_ms();
            for (i, (r, waiting)) in replicas.iter().enumerate() {
                let state = if r.online.load(Ordering::Relaxed) {
                    "online"
                } else if *waiting {
                    "wait_bgsave"
                } else {
                    "send_bulk"
                };
                let lag = now.saturating_sub(r.last_ack_ms.load(Ordering::Relaxed)) / 1000;
                line(
                    t,
                    &format!("slave{i}"),
                    format!(
                        "ip={},port={},state={state},offset={},lag={lag}",
                        r.ip,
                        r.listening_port.load(Ordering::Relaxed),
                        r.ack_offset.load(Ordering::Relaxed)
                    ),
                );
            }
        }
        Role::Replica(up) => {
            line(t, "role", "slave");
            line(t, "master_host", &up.host);
            line(t, "master_port", up.port);
            let link = up.link_up.load(Ordering::Relaxed);
            line(t, "master_link_status", if link { "up" } else { "down" });
            let io = slotcache_util::clock::mono_ms()
                .saturating_sub(up.last_io_ms.load(Ordering::Relaxed))
                / 1000;
            line(
                t,
                "master_last_io_seconds_ago",
                if link { io as i64 } else { -1 },
            );
            line(
                t,
                "master_sync_in_progress",
                u8::from(up.sync_in_progress.load(Ordering::Relaxed)),
            );
            line(t, "slave_read_repl_offset", repl.offset);
            line(t, "slave_repl_offset", repl.offset);
            line(t, "slave_priority", 100);
            line(
                t,
                "slave_read_only",
                u8::from(ctx.settings.replica_read_only),
            );
            line(t, "replica_announced", 1);
            line(t, "connected_slaves", repl.replicas().count());
        }
    }
    line(t, "master_failover_state", repl.failover.state.name());
    line(t, "master_replid", &repl.replid);
    line(t, "master_replid2", &repl.replid2);
    line(t, "master_repl_offset", repl.offset);
    line(t, "second_repl_offset", repl.second_offset);
    line(t, "repl_backlog_active", u8::from(repl.active));
    line(t, "repl_backlog_size", repl.backlog.capacity());
    line(
        t,
        "repl_backlog_first_byte_offset",
        repl.backlog.first_byte_offset(repl.offset),
    );
    line(t, "repl_backlog_histlen", repl.backlog.len());
}

fn cpu(t: &mut String) {
    let usage = |who| {
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage fills the struct we own.
        unsafe { libc::getrusage(who, &mut ru) };
        let f = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        (f(ru.ru_stime), f(ru.ru_utime))
    };
    let (sys, user) = usage(libc::RUSAGE_SELF);
    let (csys, cuser) = usage(libc::RUSAGE_CHILDREN);
    line(t, "used_cpu_sys", format!("{sys:.6}"));
    line(t, "used_cpu_user", format!("{user:.6}"));
    line(t, "used_cpu_sys_children", format!("{csys:.6}"));
    line(t, "used_cpu_user_children", format!("{cuser:.6}"));
}

fn keyspace(ctx: &mut Ctx, t: &mut String) {
    for (i, db) in ctx.ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        line(
            t,
            &format!("db{i}"),
            format!("keys={},expires={},avg_ttl=0", db.len(), db.volatile_len()),
        );
    }
}
