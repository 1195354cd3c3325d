//! CLUSTER subcommands, READONLY, READWRITE and ASKING.
//!
//! Reply formats follow Redis 7 to the byte where clients parse them (CLUSTER NODES lines,
//! CLUSTER SLOTS entries with node ids, CLUSTER SHARDS maps). Handlers lock the cluster state
//! briefly and republish the routing view after any change.

use super::table::facts;
use super::table::{flags::*, CommandSpec};
use super::{args, errors, reply_help, unknown_sub, Ctx};
use crate::cluster::announce::Endpoint;
use crate::cluster::node::{Health, Node};
use crate::cluster::state::ClusterState;
use crate::cluster::view::{health_word, nodes_text};
use crate::cluster::Cluster;
use crate::flow::{Hold, Next};
use crate::keyspace::slot::{key_slot, SLOTS};
use bytes::Bytes;
use std::sync::Arc;

const ADM: u32 = ADMIN | STALE | NOSCRIPT;

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "info",
        2,
        STALE,
        &[],
        info,
        "cluster",
        "Returns information about the state of a node.",
    ),
    CommandSpec::new(
        "myid",
        2,
        STALE,
        &[],
        myid,
        "cluster",
        "Returns the ID of a node.",
    ),
    CommandSpec::new(
        "myshardid",
        2,
        STALE,
        &[],
        myshardid,
        "cluster",
        "Returns the shard ID of a node.",
    ),
    CommandSpec::new(
        "nodes",
        2,
        STALE,
        &[],
        nodes,
        "cluster",
        "Returns the cluster configuration for a node.",
    ),
    CommandSpec::new(
        "slots",
        2,
        STALE,
        &[],
        slots,
        "cluster",
        "Returns the mapping of cluster slots to nodes.",
    ),
    CommandSpec::new(
        "shards",
        2,
        STALE,
        &[],
        shards,
        "cluster",
        "Returns the mapping of cluster slots to shards.",
    ),
    CommandSpec::new(
        "keyslot",
        3,
        STALE,
        &[],
        keyslot,
        "cluster",
        "Returns the hash slot for a key.",
    ),
    CommandSpec::new(
        "countkeysinslot",
        3,
        STALE,
        &[],
        countkeysinslot,
        "cluster",
        "Returns the number of keys in a hash slot.",
    ),
    CommandSpec::new(
        "getkeysinslot",
        4,
        STALE,
        &[],
        getkeysinslot,
        "cluster",
        "Returns the key names in a hash slot.",
    ),
    CommandSpec::new(
        "addslots",
        -3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        addslots,
        "cluster",
        "Assigns new hash slots to a node.",
    ),
    CommandSpec::new(
        "addslotsrange",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        addslotsrange,
        "cluster",
        "Assigns new hash slot ranges to a node.",
    ),
    CommandSpec::new(
        "delslots",
        -3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        delslots,
        "cluster",
        "Sets hash slots as unbound for a node.",
    ),
    CommandSpec::new(
        "delslotsrange",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        delslotsrange,
        "cluster",
        "Sets hash slot ranges as unbound for a node.",
    ),
    CommandSpec::new(
        "flushslots",
        2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        flushslots,
        "cluster",
        "Deletes all slots information from a node.",
    ),
    CommandSpec::new(
        "setslot",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        setslot,
        "cluster",
        "Binds a hash slot to a node.",
    ),
    CommandSpec::new(
        "meet",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        meet,
        "cluster",
        "Forces a node to handshake with another node.",
    ),
    CommandSpec::new(
        "forget",
        3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        forget,
        "cluster",
        "Removes a node from the nodes table.",
    ),
    CommandSpec::new("reset", -2, ADM, &[], reset, "cluster", "Resets a node."),
    CommandSpec::new(
        "saveconfig",
        2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        saveconfig,
        "cluster",
        "Forces a node to save the cluster configuration to disk.",
    ),
    CommandSpec::new(
        "set-config-epoch",
        3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        set_config_epoch,
        "cluster",
        "Sets the configuration epoch for a new node.",
    ),
    CommandSpec::new(
        "bumpepoch",
        2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        bumpepoch,
        "cluster",
        "Advances the cluster config epoch.",
    ),
    CommandSpec::new(
        "count-failure-reports",
        3,
        ADMIN | STALE,
        &[],
        count_failure_reports,
        "cluster",
        "Returns the number of active failure reports active for a node.",
    ),
    CommandSpec::new(
        "replicate",
        3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        replicate,
        "cluster",
        "Configure a node as replica of a master node.",
    ),
    CommandSpec::new(
        "replicas",
        3,
        ADMIN | STALE,
        &[],
        replicas,
        "cluster",
        "Lists the replica nodes of a master node.",
    ),
    CommandSpec::new(
        "slaves",
        3,
        ADMIN | STALE,
        &[],
        replicas,
        "cluster",
        "Lists the replica nodes of a master node.",
    ),
    CommandSpec::new(
        "failover",
        -2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        &[],
        failover,
        "cluster",
        "Forces a replica to perform a manual failover of its master.",
    ),
    CommandSpec::new(
        "links",
        2,
        STALE,
        &[],
        links,
        "cluster",
        "Returns a list of all TCP links to and from peer nodes.",
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        help,
        "cluster",
        "Returns helpful text about the different subcommands.",
    ),
];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::container(
        "cluster",
        -2,
        unknown_sub,
        "cluster",
        "A container for Redis Cluster commands.",
        SUBCOMMANDS,
    ),
    CommandSpec::new(
        "readonly",
        1,
        LOADING | STALE | FAST,
        &[],
        readonly,
        "cluster",
        "Enables read-only queries for a connection to a Redis Cluster replica node.",
    ),
    CommandSpec::new(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        &[],
        readwrite,
        "cluster",
        "Enables read-write queries for a connection to a Reids Cluster replica node.",
    ),
    CommandSpec::new(
        "asking",
        1,
        FAST,
        &[],
        asking,
        "cluster",
        "Signals that a cluster client is following an -ASK redirect.",
    )
    .facts(facts::SETS_ASKING),
];

const DISABLED: &str = "ERR This instance has cluster support disabled";

/// The cluster, once its state lock is free. Handlers run under the keyspace lock, and the
/// bus thread can be descheduled while it holds the state lock; rather than stall every
/// client of this node for that long, a handler that cannot get the state lock promptly
/// gives up without replying ([`Hold::ClusterState`]), and the connection runs it again once
/// the lock is free, outside the keyspace lock (see server.rs). Inside EXEC it just waits.
fn cluster(ctx: &mut Ctx) -> Option<Arc<Cluster>> {
    let Some(c) = ctx.shared.cluster.get() else {
        ctx.err(DISABLED);
        return None;
    };
    if !ctx.conn.in_exec
        && c.state
            .try_lock_for(std::time::Duration::from_micros(100))
            .is_none()
    {
        ctx.then(Next::Again(Hold::ClusterState));
        return None;
    }
    Some(c.clone())
}

/// Runs `f` on the locked state, then republishes the view (and queues a save).
fn with_state<T>(c: &Cluster, f: impl FnOnce(&mut ClusterState, u64) -> T) -> T {
    let now = c.now();
    let mut s = c.state.lock();
    let r = f(&mut s, now);
    s.update_state(now);
    c.publish(&mut s);
    r
}

fn parse_slot(b: &[u8]) -> Option<u16> {
    args::int(b)
        .filter(|&v| (0..SLOTS as i64).contains(&v))
        .map(|v| v as u16)
}

fn info(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let s = c.state.lock();
    let assigned = s.owners().iter().filter(|o| o.is_some()).count();
    let (mut pfail, mut fail) = (0, 0);
    for id in s.owners().iter().flatten() {
        match s.nodes().get(id).map(|n| n.health) {
            Some(Health::PFail) => pfail += 1,
            Some(Health::Fail) => fail += 1,
            _ => {}
        }
    }
    let mut text = format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
        if s.is_ok() { "ok" } else { "fail" },
        assigned - pfail - fail,
        s.nodes().len(),
        s.size(),
        s.current_epoch(),
        my_epoch(&s),
    );
    let mut total_sent = 0;
    for (k, v) in &s.stats().sent {
        text.push_str(&format!("cluster_stats_messages_{k}_sent:{v}\r\n"));
        total_sent += v;
    }
    text.push_str(&format!("cluster_stats_messages_sent:{total_sent}\r\n"));
    let mut total_recv = 0;
    for (k, v) in &s.stats().received {
        text.push_str(&format!("cluster_stats_messages_{k}_received:{v}\r\n"));
        total_recv += v;
    }
    text.push_str(&format!("cluster_stats_messages_received:{total_recv}\r\n"));
    text.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
    ctx.out.verbatim("txt", text.as_bytes());
}

fn my_epoch(s: &ClusterState) -> u64 {
    match s.me().primary_id().and_then(|p| s.nodes().get(p)) {
        Some(p) => p.config_epoch,
        None => s.me().config_epoch,
    }
}

fn myid(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let id = c.state.lock().myself().to_string();
    ctx.out.bulk(id.as_bytes());
}

/// A shard is named by its primary's id: stable, and shared by the primary's replicas.
fn shard_id(s: &ClusterState, id: &str) -> String {
    s.nodes()
        .get(id)
        .and_then(|n| n.primary_id().map(String::from))
        .unwrap_or_else(|| id.to_string())
}

fn myshardid(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let s = c.state.lock();
    let id = shard_id(&s, s.myself());
    drop(s);
    ctx.out.bulk(id.as_bytes());
}

fn nodes(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let text = {
        let s = c.state.lock();
        nodes_text(&s, &|m| c.wall(m))
    };
    ctx.out.verbatim("txt", text.as_bytes());
}

/// One node of a CLUSTER SLOTS entry as Redis 7.0 gives it: the preferred endpoint (a null
/// when unknown), the port, the id, and the node's other names.
struct SlotsNode {
    endpoint: Option<String>,
    port: u16,
    id: String,
    metadata: Vec<(&'static str, String)>,
}

impl SlotsNode {
    fn of(n: &Node, endpoint: Endpoint) -> Self {
        SlotsNode {
            endpoint: endpoint.slots_field(n).map(String::from),
            port: n.port,
            id: n.id.clone(),
            metadata: endpoint.slots_metadata(n),
        }
    }

    fn render(&self, ctx: &mut Ctx) {
        ctx.out.array(4);
        match &self.endpoint {
            Some(e) => ctx.out.bulk(e.as_bytes()),
            None => ctx.out.null(),
        }
        ctx.out.int(self.port as i64);
        ctx.out.bulk(self.id.as_bytes());
        ctx.out.map(self.metadata.len());
        for (k, v) in &self.metadata {
            ctx.out.bulk(k.as_bytes());
            ctx.out.bulk(v.as_bytes());
        }
    }
}

fn slots(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    struct Entry {
        start: u16,
        end: u16,
        nodes: Vec<Arc<SlotsNode>>,
    }
    let entries: Vec<Entry> = {
        let s = c.state.lock();
        let mut out = Vec::new();
        for p in s
            .nodes()
            .values()
            .filter(|n| n.is_primary() && !n.slots.is_empty())
        {
            let mut members = vec![Arc::new(SlotsNode::of(p, s.endpoint()))];
            for r in s.nodes().values() {
                if r.primary_id() == Some(p.id.as_str()) && r.health != Health::Fail {
                    members.push(Arc::new(SlotsNode::of(r, s.endpoint())));
                }
            }
            for (start, end) in p.slots.ranges() {
                out.push(Entry {
                    start,
                    end,
                    nodes: members.clone(),
                });
            }
        }
        out.sort_by_key(|e| e.start);
        out
    };
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.array(2 + e.nodes.len());
        ctx.out.int(e.start as i64);
        ctx.out.int(e.end as i64);
        for n in &e.nodes {
            n.render(ctx);
        }
    }
}

fn shards(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    struct NodeInfo {
        id: String,
        ip: String,
        endpoint: String,
        hostname: String,
        port: u16,
        role: &'static str,
        offset: u64,
        health: &'static str,
    }
    type Shard = (Vec<(u16, u16)>, Vec<NodeInfo>);
    let shards: Vec<Shard> = {
        let s = c.state.lock();
        s.nodes()
            .values()
            .filter(|n| n.is_primary())
            .map(|p| {
                let mut members = vec![p];
                members.extend(
                    s.nodes()
                        .values()
                        .filter(|r| r.primary_id() == Some(p.id.as_str())),
                );
                let infos = members
                    .into_iter()
                    .map(|n| NodeInfo {
                        id: n.id.clone(),
                        ip: n.ip.clone(),
                        endpoint: s.endpoint().text(n).to_string(),
                        hostname: n.hostname.clone(),
                        port: n.port,
                        role: if n.is_primary() { "master" } else { "replica" },
                        offset: n.repl_offset,
                        health: health_word(n),
                    })
                    .collect();
                (p.slots.ranges(), infos)
            })
            .collect()
    };
    ctx.out.array(shards.len());
    for (ranges, nodes) in shards {
        ctx.out.map(2);
        ctx.out.bulk(b"slots");
        ctx.out.array(ranges.len() * 2);
        for (a, b) in ranges {
            ctx.out.int(a as i64);
            ctx.out.int(b as i64);
        }
        ctx.out.bulk(b"nodes");
        ctx.out.array(nodes.len());
        for n in nodes {
            // Redis 7.0 lists `hostname` only for a node that announces one.
            ctx.out.map(if n.hostname.is_empty() { 7 } else { 8 });
            ctx.out.bulk(b"id");
            ctx.out.bulk(n.id.as_bytes());
            ctx.out.bulk(b"port");
            ctx.out.int(n.port as i64);
            ctx.out.bulk(b"ip");
            ctx.out.bulk(n.ip.as_bytes());
            ctx.out.bulk(b"endpoint");
            ctx.out.bulk(n.endpoint.as_bytes());
            if !n.hostname.is_empty() {
                ctx.out.bulk(b"hostname");
                ctx.out.bulk(n.hostname.as_bytes());
            }
            ctx.out.bulk(b"role");
            ctx.out.bulk(n.role.as_bytes());
            ctx.out.bulk(b"replication-offset");
            ctx.out.int(n.offset as i64);
            ctx.out.bulk(b"health");
            ctx.out.bulk(n.health.as_bytes());
        }
    }
}

/// Standalone Redis refuses every CLUSTER subcommand, the stateless ones too.
fn standalone(ctx: &mut Ctx) -> bool {
    if ctx.shared.cluster.get().is_some() {
        return false;
    }
    ctx.err(DISABLED);
    true
}

fn keyslot(ctx: &mut Ctx, a: &[Bytes]) {
    if standalone(ctx) {
        return;
    }
    ctx.out.int(key_slot(&a[2]) as i64);
}

fn countkeysinslot(ctx: &mut Ctx, a: &[Bytes]) {
    if standalone(ctx) {
        return;
    }
    let Some(slot) = parse_slot(&a[2]) else {
        return ctx.err("ERR Invalid slot");
    };
    // The selected database's keys (as Valkey 9 with `cluster-databases`).
    let n = ctx.db().slot_len(slot);
    ctx.out.int(n as i64);
}

fn getkeysinslot(ctx: &mut Ctx, a: &[Bytes]) {
    if standalone(ctx) {
        return;
    }
    let (Some(slot), Some(count)) = (parse_slot(&a[2]), args::int(&a[3]).filter(|&c| c >= 0))
    else {
        return ctx.err("ERR Invalid slot or number of keys");
    };
    let keys = ctx.db().slot_keys(slot, count as usize);
    ctx.out.bulks(keys.iter());
}

fn parse_slots(ctx: &mut Ctx, list: &[Bytes]) -> Option<Vec<u16>> {
    let mut out = Vec::with_capacity(list.len().min(16384));
    // A slot named twice is an error (as in Redis), so a command of any length expands
    // to at most 16384 slots.
    let mut seen = crate::cluster::slots::SlotSet::default();
    for b in list {
        match parse_slot(b) {
            Some(s) if seen.contains(s) => {
                ctx.err(&format!("ERR Slot {s} specified multiple times"));
                return None;
            }
            Some(s) => {
                seen.insert(s);
                out.push(s);
            }
            None => {
                ctx.err("ERR Invalid or out of range slot");
                return None;
            }
        }
    }
    Some(out)
}

fn parse_ranges(ctx: &mut Ctx, list: &[Bytes]) -> Option<Vec<u16>> {
    if !list.len().is_multiple_of(2) {
        ctx.err(&errors::arity("cluster|addslotsrange"));
        return None;
    }
    let mut out = Vec::new();
    // A slot named twice is an error (as in Redis), so a command of any length expands
    // to at most 16384 slots.
    let mut seen = crate::cluster::slots::SlotSet::default();
    for pair in list.chunks(2) {
        let (Some(a), Some(b)) = (parse_slot(&pair[0]), parse_slot(&pair[1])) else {
            ctx.err("ERR Invalid or out of range slot");
            return None;
        };
        if a > b {
            ctx.err(&format!(
                "ERR start slot number {a} is greater than end slot number {b}"
            ));
            return None;
        }
        for s in a..=b {
            if seen.contains(s) {
                ctx.err(&format!("ERR Slot {s} specified multiple times"));
                return None;
            }
            seen.insert(s);
            out.push(s);
        }
    }
    Some(out)
}

fn change_slots(ctx: &mut Ctx, slots: Vec<u16>, add: bool) {
    let Some(c) = cluster(ctx) else { return };
    let r = with_state(&c, |s, _| {
        if add {
            s.add_slots(&slots)
        } else {
            s.del_slots(&slots)
        }
    });
    match r {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.err(&e),
    }
}

fn addslots(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(slots) = parse_slots(ctx, &a[2..]) {
        change_slots(ctx, slots, true);
    }
}

fn addslotsrange(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(slots) = parse_ranges(ctx, &a[2..]) {
        change_slots(ctx, slots, true);
    }
}

fn delslots(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(slots) = parse_slots(ctx, &a[2..]) {
        change_slots(ctx, slots, false);
    }
}

fn delslotsrange(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(slots) = parse_ranges(ctx, &a[2..]) {
        change_slots(ctx, slots, false);
    }
}

fn flushslots(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    if ctx.ks.dbs.iter().any(|d| !d.is_empty()) {
        return ctx.err("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.");
    }
    with_state(&c, |s, _| {
        let mine: Vec<u16> = s.me().slots.iter().collect();
        for slot in mine {
            s.unassign(slot);
        }
    });
    ctx.out.ok();
}

/// CLUSTER SETSLOT <slot> MIGRATING <id> | IMPORTING <id> | STABLE | NODE <id>.
fn setslot(ctx: &mut Ctx, a: &[Bytes]) {
    use crate::cluster::state::SetSlot;
    let Some(c) = cluster(ctx) else { return };
    let Some(slot) = parse_slot(&a[2]) else {
        return ctx.err("ERR Invalid or out of range slot");
    };
    let what = match a[3].to_ascii_lowercase().as_slice() {
        b"migrating" if a.len() == 5 => SetSlot::Migrating,
        b"importing" if a.len() == 5 => SetSlot::Importing,
        b"node" if a.len() == 5 => SetSlot::Node,
        b"stable" if a.len() == 4 => SetSlot::Stable,
        _ => {
            return ctx
                .err("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
        }
    };
    let node = a.get(4).map(|b| String::from_utf8_lossy(b).into_owned());
    // What this node holds of the slot, in every database: SETSLOT NODE must not strand it.
    let keys = crate::cluster::state::SlotKeys {
        db0: ctx.ks.dbs[0].slot_len(slot),
        other_db: (1..ctx.ks.dbs.len()).find(|&d| ctx.ks.dbs[d].slot_len(slot) > 0),
    };
    let r = with_state(&c, |s, _| {
        let r = s.set_slot(slot, what, node.as_deref(), keys);
        if let Ok(true) = r {
            let actions = s.announce();
            c.enqueue(actions);
        }
        r
    });
    match r {
        Ok(_) => ctx.out.ok(),
        Err(e) => ctx.err(&e),
    }
}

fn meet(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    if a.len() > 5 {
        return ctx.err(&errors::arity("cluster|meet"));
    }
    let host = String::from_utf8_lossy(&a[2]).into_owned();
    let Some(port) = args::int(&a[3]) else {
        return ctx.err(&format!(
            "ERR Invalid TCP base port specified: {}",
            String::from_utf8_lossy(&a[3])
        ));
    };
    let cport = match a.get(4) {
        Some(b) => match args::int(b) {
            Some(p) => p,
            None => {
                return ctx.err(&format!(
                    "ERR Invalid TCP bus port specified: {}",
                    String::from_utf8_lossy(b)
                ))
            }
        },
        None => port.saturating_add(10000),
    };
    // As Redis's clusterStartHandshake: an address it cannot parse or a port out of range.
    let port_ok = |p: i64| (1..=65535).contains(&p);
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if port_ok(port) && port_ok(cport) => ip,
        _ => {
            return ctx.err(&format!(
                "ERR Invalid node address specified: {host}:{port}"
            ))
        }
    };
    with_state(&c, |s, now| s.meet(ip, port as u16, cport as u16, now));
    ctx.out.ok();
}

fn forget(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let id = String::from_utf8_lossy(&a[2]).into_owned();
    match with_state(&c, |s, now| s.forget(&id, now)) {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.err(&e),
    }
}

fn reset(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let hard = match a.get(2) {
        None => false,
        Some(m) if args::is(m, "HARD") => true,
        Some(m) if args::is(m, "SOFT") => false,
        Some(_) => return ctx.err(errors::SYNTAX),
    };
    if a.len() > 3 {
        return ctx.err(errors::SYNTAX);
    }
    let primary = c.state.lock().me().is_primary();
    if primary && ctx.ks.dbs.iter().any(|d| !d.is_empty()) {
        return ctx.err("ERR CLUSTER RESET can't be called with master nodes containing keys");
    }
    // A replica being reset stops replicating and drops its copy of the shard (as Redis).
    if ctx.ks.repl.is_replica() {
        super::replication::set_upstream(ctx, None);
        for db in ctx.ks.dbs.iter_mut() {
            db.clear();
        }
    }
    with_state(&c, |s, now| s.reset(hard, now));
    ctx.out.ok();
}

fn saveconfig(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let r = {
        let mut s = c.state.lock();
        c.save_now(&mut s)
    };
    match r {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.err(&e),
    }
}

fn set_config_epoch(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let Some(e) = args::int(&a[2]).filter(|e| *e >= 0) else {
        return ctx.err(&format!(
            "ERR Invalid config epoch specified: {}",
            String::from_utf8_lossy(&a[2])
        ));
    };
    match with_state(&c, |s, _| s.set_config_epoch(e as u64)) {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.err(&e),
    }
}

fn bumpepoch(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let (bumped, e) = with_state(&c, |s, _| s.bump_epoch());
    ctx.out
        .simple(&format!("{} {e}", if bumped { "BUMPED" } else { "STILL" }));
}

fn count_failure_reports(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let id = String::from_utf8_lossy(&a[2]).into_owned();
    let n = c.state.lock().count_failure_reports(&id);
    match n {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.err(&format!("ERR Unknown node {id}")),
    }
}

/// CLUSTER LINKS: per peer, our link to it (`to`) and its link to us (`from`), with the
/// fields Redis 7.0 reports. Both sides queue whole frames, so the send buffer allocated is
/// what is queued.
fn links(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let nodes: Vec<String> = {
        let s = c.state.lock();
        s.nodes()
            .keys()
            .filter(|id| **id != s.myself())
            .cloned()
            .collect()
    };
    let links = c.links.describe(&nodes);
    ctx.out.array(links.len());
    for l in links {
        ctx.out.map(6);
        ctx.out.bulk(b"direction");
        ctx.out.bulk(l.direction.word().as_bytes());
        ctx.out.bulk(b"node");
        ctx.out.bulk(l.node.as_bytes());
        ctx.out.bulk(b"create-time");
        ctx.out.int(c.wall(l.created) as i64);
        ctx.out.bulk(b"events");
        ctx.out.bulk(if l.queued > 0 { b"rw" } else { b"r" });
        ctx.out.bulk(b"send-buffer-allocated");
        ctx.out.int(l.queued as i64);
        ctx.out.bulk(b"send-buffer-used");
        ctx.out.int(l.queued as i64);
    }
}

fn replicate(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let id = String::from_utf8_lossy(&a[2]).into_owned();
    let target = {
        let s = c.state.lock();
        match s.nodes().get(&id) {
            None => Err(format!("ERR Unknown node {id}")),
            Some(_) if id == s.myself() => Err("ERR Can't replicate myself".to_string()),
            Some(n) if !n.is_primary() => {
                Err("ERR I can only replicate a master, not a replica.".to_string())
            }
            Some(_) if s.me().is_primary() && !s.me().slots.is_empty() => Err(
                "ERR To set a master the node must be empty and without assigned slots."
                    .to_string(),
            ),
            Some(n) => Ok((n.ip.clone(), n.port)),
        }
    };
    let (ip, port) = match target {
        Ok(t) => t,
        Err(e) => return ctx.err(&e),
    };
    if ctx.ks.dbs.iter().any(|d| !d.is_empty()) && !ctx.ks.repl.is_replica() {
        return ctx.err("ERR To set a master the node must be empty and without assigned slots.");
    }
    with_state(&c, |s, _| s.set_primary(Some(id.clone())));
    super::replication::set_upstream(ctx, Some((ip, port)));
    ctx.out.ok();
}

fn failover(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let mode = match a.get(2) {
        None => "default",
        Some(m) if args::is(m, "FORCE") => "force",
        Some(m) if args::is(m, "TAKEOVER") => "takeover",
        Some(_) => return ctx.err(errors::SYNTAX),
    };
    if a.len() > 3 {
        return ctx.err(errors::SYNTAX);
    }
    match with_state(&c, |s, now| s.manual_failover(mode, now)) {
        Ok(actions) => {
            c.enqueue(actions);
            ctx.out.ok();
        }
        Err(e) => ctx.err(&e),
    }
}

fn replicas(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(c) = cluster(ctx) else { return };
    let id = String::from_utf8_lossy(&a[2]).into_owned();
    let lines = {
        let s = c.state.lock();
        s.nodes().get(&id).map(|_| {
            s.nodes()
                .values()
                .filter(|n| n.primary_id() == Some(id.as_str()))
                .map(|n| crate::cluster::view::node_line(&s, n, &|m| c.wall(m)))
                .collect::<Vec<_>>()
        })
    };
    match lines {
        None => ctx.err(&format!("ERR Unknown node {id}")),
        Some(l) => ctx.out.bulks(l.iter()),
    }
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    if standalone(ctx) {
        return;
    }
    let lines: Vec<String> = SUBCOMMANDS
        .iter()
        .filter(|c| c.name != "help")
        .map(|c| format!("{}    {}", c.name.to_ascii_uppercase(), c.summary))
        .collect();
    let refs: Vec<&str> = lines.iter().map(|s| s.as_str()).collect();
    reply_help(ctx, "CLUSTER", &refs);
}

fn readonly(ctx: &mut Ctx, _a: &[Bytes]) {
    if ctx.shared.cluster.get().is_none() {
        return ctx.err(DISABLED);
    }
    ctx.conn.readonly = true;
    ctx.out.ok();
}

fn readwrite(ctx: &mut Ctx, _a: &[Bytes]) {
    if ctx.shared.cluster.get().is_none() {
        return ctx.err(DISABLED);
    }
    ctx.conn.readonly = false;
    ctx.out.ok();
}

fn asking(ctx: &mut Ctx, _a: &[Bytes]) {
    if ctx.shared.cluster.get().is_none() {
        return ctx.err(DISABLED);
    }
    ctx.conn.asking = true;
    ctx.out.ok();
}
