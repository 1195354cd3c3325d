//! One scrape: copies the node's numbers into metric families. Every number comes from
//! where INFO reads it (telemetry for commandstats/errorstats/latencystats, `Stats`, the
//! keyspace, the replication feed, the cluster state), so the two never disagree.
//!
//! Locks are held only to copy: the keyspace lock for the per-database sizes and the
//! replication offsets (constant work in keys), the cluster state lock for node health
//! and epochs (linear in nodes).

use super::family::Families;
use crate::cluster::events::Kind as EventKind;
use crate::cluster::node::Health;
use crate::state::Shared;
use std::sync::atomic::{AtomicU64, Ordering};

/// Latency bucket bounds for the per-family histograms, in seconds: 10 µs to 1 s.
const BOUNDS_S: [f64; 14] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
    0.25, 1.0,
];

fn g(a: &AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

/// The text exposition of everything this node reports.
pub fn scrape(shared: &Shared) -> Vec<u8> {
    let mut f = Families::default();
    commands(shared, &mut f);
    server(shared, &mut f);
    keyspace_and_replication(shared, &mut f);
    cluster(shared, &mut f);
    f.encode()
}

fn commands(shared: &Shared, f: &mut Families) {
    let t = &shared.telemetry;
    let bounds_ns: Vec<u64> = BOUNDS_S.iter().map(|s| (s * 1e9) as u64).collect();
    // Family -> (cumulative buckets, count, seconds).
    let mut families: Vec<(&'static str, Vec<u64>, u64, f64)> = Vec::new();
    for e in t.commands.entries() {
        let c = &e.counters;
        let (calls, usec, rejected, failed) = (
            c.calls.load(Ordering::Relaxed),
            c.usec.load(Ordering::Relaxed),
            c.rejected.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
        );
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let l = [("command", e.name.as_str())];
        f.counter(
            "slotcache_commands_total",
            "Commands executed, by command (INFO commandstats calls).",
            &l,
            calls as f64,
        );
        f.counter(
            "slotcache_command_seconds_total",
            "Time spent executing commands, by command (INFO commandstats usec).",
            &l,
            usec as f64 / 1e6,
        );
        f.counter(
            "slotcache_commands_rejected_total",
            "Commands refused before they ran, by command (INFO commandstats rejected_calls).",
            &l,
            rejected as f64,
        );
        f.counter(
            "slotcache_commands_failed_total",
            "Commands that ran and replied with an error, by command (INFO commandstats failed_calls).",
            &l,
            failed as f64,
        );
        let Some(h) = c.histogram.get() else { continue };
        let i = match families.iter().position(|x| x.0 == e.group) {
            Some(i) => i,
            None => {
                families.push((e.group, vec![0; BOUNDS_S.len()], 0, 0.0));
                families.len() - 1
            }
        };
        let fam = &mut families[i];
        h.add_cumulative(&bounds_ns, &mut fam.1);
        fam.2 += h.total();
        fam.3 += usec as f64 / 1e6;
    }
    for (group, cumulative, count, sum) in &families {
        f.histogram(
            "slotcache_command_duration_seconds",
            "Command execution time by command family (the histograms INFO latencystats reads).",
            &[("family", group)],
            &BOUNDS_S,
            cumulative,
            *count,
            *sum,
        );
    }
    for (code, n) in t.errors.counts() {
        f.counter(
            "slotcache_errors_total",
            "Error replies by error code (INFO errorstats).",
            &[("code", &code)],
            n as f64,
        );
    }
    f.counter(
        "slotcache_error_replies_total",
        "Error replies of every code (INFO total_error_replies).",
        &[],
        g(&t.errors.total),
    );
}

fn server(shared: &Shared, f: &mut Families) {
    let s = &shared.stats;
    let settings = shared.settings();
    f.gauge(
        "slotcache_uptime_seconds",
        "Seconds since the server started.",
        &[],
        shared.started.elapsed().as_secs_f64(),
    );
    f.counter(
        "slotcache_commands_processed_total",
        "Commands processed (INFO total_commands_processed).",
        &[],
        g(&s.commands_processed),
    );
    f.counter(
        "slotcache_connections_received_total",
        "Client connections accepted.",
        &[],
        g(&s.connections_received),
    );
    f.counter(
        "slotcache_connections_rejected_total",
        "Client connections refused (maxclients).",
        &[],
        g(&s.rejected_connections),
    );
    f.counter(
        "slotcache_net_input_bytes_total",
        "Bytes read from clients.",
        &[],
        g(&s.net_input_bytes),
    );
    f.counter(
        "slotcache_net_output_bytes_total",
        "Bytes written to clients.",
        &[],
        g(&s.net_output_bytes),
    );
    f.counter(
        "slotcache_evicted_keys_total",
        "Keys evicted to stay under maxmemory.",
        &[],
        g(&s.evicted_keys),
    );
    f.gauge(
        "slotcache_connected_clients",
        "Client connections open now.",
        &[],
        shared.clients.len() as f64,
    );
    f.gauge(
        "slotcache_blocked_clients",
        "Clients waiting in a blocking command.",
        &[],
        g(&shared.blocked_clients),
    );
    f.gauge(
        "slotcache_memory_used_bytes",
        "Memory allocated by the server (INFO used_memory, what maxmemory is compared with).",
        &[],
        crate::eviction::total_used() as f64,
    );
    f.gauge(
        "slotcache_memory_rss_bytes",
        "Resident set size of the process (INFO used_memory_rss).",
        &[],
        crate::commands::info::rss_bytes() as f64,
    );
    f.gauge(
        "slotcache_memory_max_bytes",
        "The maxmemory setting (0: no limit).",
        &[],
        settings.maxmemory as f64,
    );
}

fn keyspace_and_replication(shared: &Shared, f: &mut Families) {
    struct Copy {
        dbs: Vec<(usize, usize, usize)>,
        expired: u64,
        offset: u64,
        primary: bool,
        replicas: Vec<(String, u64, u64)>,
        link_up: Option<bool>,
        sync_full: u64,
        sync_partial_ok: u64,
    }
    let now = slotcache_util::clock::mono_ms();
    let c = {
        let ks = shared.keyspace.lock();
        let repl = &ks.repl;
        Copy {
            dbs: ks
                .dbs
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.is_empty())
                .map(|(i, d)| (i, d.len(), d.volatile_len()))
                .collect(),
            expired: ks.dbs.iter().map(|d| d.stats.expired_keys).sum(),
            offset: repl.offset,
            primary: !repl.is_replica(),
            replicas: repl
                .replicas()
                .map(|r| {
                    (
                        format!("{}:{}", r.ip, r.listening_port.load(Ordering::Relaxed)),
                        r.ack_offset.load(Ordering::Relaxed),
                        r.last_ack_ms.load(Ordering::Relaxed),
                    )
                })
                .collect(),
            link_up: match &repl.role {
                crate::replication::feed::Role::Replica(up) => {
                    Some(up.link_up.load(Ordering::Relaxed))
                }
                crate::replication::feed::Role::Primary => None,
            },
            sync_full: repl.stats.sync_full,
            sync_partial_ok: repl.stats.sync_partial_ok,
        }
    };
    for (db, keys, expires) in &c.dbs {
        let db = db.to_string();
        f.gauge(
            "slotcache_keys",
            "Keys in a database.",
            &[("db", &db)],
            *keys as f64,
        );
        f.gauge(
            "slotcache_expiring_keys",
            "Keys with a time to live in a database.",
            &[("db", &db)],
            *expires as f64,
        );
    }
    f.counter(
        "slotcache_expired_keys_total",
        "Keys deleted because their time to live passed.",
        &[],
        c.expired as f64,
    );
    f.gauge(
        "slotcache_replication_offset_bytes",
        "The replication offset (INFO master_repl_offset).",
        &[],
        c.offset as f64,
    );
    f.gauge(
        "slotcache_is_primary",
        "1 on a primary, 0 on a replica.",
        &[],
        f64::from(u8::from(c.primary)),
    );
    if let Some(up) = c.link_up {
        f.gauge(
            "slotcache_primary_link_up",
            "On a replica: 1 while the link to its primary is up.",
            &[],
            f64::from(u8::from(up)),
        );
    }
    f.gauge(
        "slotcache_connected_replicas",
        "Replicas attached to this node.",
        &[],
        c.replicas.len() as f64,
    );
    for (addr, acked, last_ack) in &c.replicas {
        let l = [("replica", addr.as_str())];
        f.gauge(
            "slotcache_replica_lag_bytes",
            "How far a replica's acknowledged offset is behind this primary's.",
            &l,
            c.offset.saturating_sub(*acked) as f64,
        );
        f.gauge(
            "slotcache_replica_lag_seconds",
            "Seconds since a replica last acknowledged (INFO slaveN lag).",
            &l,
            now.saturating_sub(*last_ack) as f64 / 1000.0,
        );
    }
    f.counter(
        "slotcache_replication_full_syncs_total",
        "Full resynchronisations served to replicas (INFO sync_full).",
        &[],
        c.sync_full as f64,
    );
    f.counter(
        "slotcache_replication_partial_syncs_total",
        "Partial resynchronisations accepted (INFO sync_partial_ok).",
        &[],
        c.sync_partial_ok as f64,
    );
}

fn cluster(shared: &Shared, f: &mut Families) {
    let Some(cl) = shared.cluster.get() else {
        return;
    };
    f.counter(
        "slotcache_cluster_keys_migrated_total",
        "Keys MIGRATE moved from this node (the target confirmed them).",
        &[],
        g(&shared.stats.keys_migrated),
    );
    f.counter(
        "slotcache_cluster_bus_auth_rejected_total",
        "Bus connections refused: no valid cluster-secret hello, a bad frame tag, or a failed TLS handshake with tls-cluster.",
        &[],
        g(&cl.auth.rejected),
    );
    for (kind, sent, bytes) in cl.traffic.snapshot() {
        f.counter(
            "slotcache_cluster_bus_bytes_total",
            "Cluster bus frame bytes by message type and direction.",
            &[
                ("type", kind),
                ("direction", if sent { "sent" } else { "received" }),
            ],
            bytes as f64,
        );
    }
    let s = cl.state.lock();
    let me = s.me();
    f.gauge(
        "slotcache_cluster_state_ok",
        "1 while the cluster state is ok (CLUSTER INFO cluster_state).",
        &[],
        f64::from(u8::from(s.is_ok())),
    );
    f.gauge(
        "slotcache_cluster_slots_owned",
        "Hash slots this node serves as a primary.",
        &[],
        me.slots.iter().count() as f64,
    );
    f.gauge(
        "slotcache_cluster_slots_assigned",
        "Hash slots with an owner (CLUSTER INFO cluster_slots_assigned).",
        &[],
        s.owners().iter().filter(|o| o.is_some()).count() as f64,
    );
    f.gauge(
        "slotcache_cluster_known_nodes",
        "Nodes this node knows, itself included.",
        &[],
        s.nodes().values().filter(|n| !n.handshake).count() as f64,
    );
    for (health, name) in [(Health::PFail, "pfail"), (Health::Fail, "fail")] {
        f.gauge(
            "slotcache_cluster_failing_nodes",
            "Nodes this node sees as possibly failing (pfail) or failed (fail).",
            &[("state", name)],
            s.nodes().values().filter(|n| n.health == health).count() as f64,
        );
    }
    f.gauge(
        "slotcache_cluster_current_epoch",
        "The cluster's current epoch as this node knows it.",
        &[],
        s.current_epoch() as f64,
    );
    f.gauge(
        "slotcache_cluster_config_epoch",
        "This node's config epoch.",
        &[],
        me.config_epoch as f64,
    );
    if me.is_primary() && !me.slots.is_empty() {
        let replicas = s
            .nodes()
            .values()
            .filter(|n| n.primary_id() == Some(me.id.as_str()) && n.health == Health::Ok)
            .count();
        f.gauge(
            "slotcache_cluster_shard_replicas",
            "On a slot-owning primary: its replicas that are not failing.",
            &[],
            replicas as f64,
        );
    }
    let ev = s.events().counters;
    f.counter(
        "slotcache_cluster_failovers_total",
        "Elections this node won, taking over its primary's slots (automatic and manual).",
        &[],
        ev.get(EventKind::Failover) as f64,
    );
    f.counter(
        "slotcache_cluster_elections_total",
        "Failover elections this node started.",
        &[],
        ev.get(EventKind::ElectionStarted) as f64,
    );
    f.counter(
        "slotcache_cluster_leases_lost_total",
        "Times this primary lost its write lease (no majority heard within half the node timeout).",
        &[],
        ev.get(EventKind::LeaseLost) as f64,
    );
    for (kind, phase) in [
        (EventKind::MigrationStarted, "started"),
        (EventKind::MigrationFinished, "finished"),
    ] {
        f.counter(
            "slotcache_cluster_slot_migrations_total",
            "Slot migrations (MIGRATING/IMPORTING set, then the slot assigned) seen here.",
            &[("phase", phase)],
            ev.get(kind) as f64,
        );
    }
    for kind in EventKind::ALL {
        f.counter(
            "slotcache_cluster_events_total",
            "Events published on the __slotcache__:events channel, by kind.",
            &[("kind", kind.name())],
            ev.get(kind) as f64,
        );
    }
    for (dir, map) in [("sent", &s.stats().sent), ("received", &s.stats().received)] {
        for (kind, n) in map.iter() {
            f.counter(
                "slotcache_cluster_bus_messages_total",
                "Cluster bus messages by type and direction (CLUSTER INFO cluster_stats_messages_*).",
                &[("type", kind), ("direction", dir)],
                *n as f64,
            );
        }
    }
}
