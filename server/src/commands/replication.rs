//! Replication commands: REPLICAOF/SLAVEOF, the primary-side protocol (PSYNC, SYNC,
//! REPLCONF), WAIT, ROLE and FAILOVER.

use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::flow::{Next, Wait};
use crate::replication::failover::{self, State as FailoverState};
use crate::replication::feed::{ReplicaLink, Role};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use tracing::info;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("replicaof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, &[], replicaof, "server", "Configures a server as replica of another, or promotes it to a master."),
    CommandSpec::new("slaveof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, &[], replicaof, "server", "Sets a Redis server as a replica of another, or promotes it to being a master."),
    CommandSpec::new("psync", -3, ADMIN | NO_MULTI | NOSCRIPT | NO_ASYNC_LOADING, &[], psync, "server", "An internal command used in replication."),
    CommandSpec::new("sync", 1, ADMIN | NO_MULTI | NOSCRIPT | NO_ASYNC_LOADING, &[], psync, "server", "An internal command used in replication."),
    CommandSpec::new("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, &[], replconf, "server", "An internal command for configuring the replication stream."),
    CommandSpec::new("wait", 3, NOSCRIPT, &[], wait, "generic", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."),
    CommandSpec::new("failover", -1, ADMIN | NOSCRIPT | STALE, &[], failover_cmd, "server", "Start a coordinated failover between this server and one of its replicas."),
    CommandSpec::new("role", 1, NOSCRIPT | LOADING | STALE | FAST, &[], role, "server", "Returns the replication role."),
];

/// Makes this node a replica of `host:port` (stopping any previous link), or a primary when
/// `target` is `None`. Used by REPLICAOF and CLUSTER REPLICATE.
pub fn set_upstream(ctx: &mut Ctx, target: Option<(String, u16)>) {
    let why = format!("user request from 'id={}'", ctx.conn.id);
    if target.is_some() {
        ctx.ks
            .blocked
            .unblock_all(crate::cluster::startup::UNBLOCKED);
        // What its clients cached may no longer be what the new primary serves.
        ctx.ks.tracking.invalidate_all();
    }
    crate::replication::follow(ctx.shared, &mut ctx.ks.repl, target, &why);
}

fn replicaof(ctx: &mut Ctx, a: &[Bytes]) {
    if ctx.settings.cluster_enabled {
        return ctx.err("ERR REPLICAOF not allowed in cluster mode.");
    }
    if ctx.ks.repl.failover.state != FailoverState::None {
        return ctx.err("ERR REPLICAOF not allowed while failing over.");
    }
    if args::is(&a[1], "NO") && args::is(&a[2], "ONE") {
        set_upstream(ctx, None);
        return ctx.out.ok();
    }
    let host = String::from_utf8_lossy(&a[1]).into_owned();
    let Some(port) = args::int(&a[2]).filter(|p| (0..=65535).contains(p)) else {
        return ctx.err("ERR Invalid master port");
    };
    if let Role::Replica(up) = &ctx.ks.repl.role {
        if up.host == host && up.port == port as u16 {
            return ctx.out.simple("OK Already connected to specified master");
        }
    }
    set_upstream(ctx, Some((host, port as u16)));
    ctx.out.ok();
}

fn psync(ctx: &mut Ctx, a: &[Bytes]) {
    if ctx
        .shared
        .cluster
        .get()
        .is_some_and(|c| c.rejoining.load(Ordering::Relaxed))
    {
        return ctx.err("ERR Can't SYNC while not connected with my master");
    }
    // A failing-over primary asks us, its replica, to take over: we promote ourselves when
    // it is our primary (same replication id), then serve it as our replica.
    if a.len() > 3 && args::is(&a[0], "psync") && args::is(&a[3], "failover") {
        info!(
            "Failover request received for replid {}.",
            String::from_utf8_lossy(&a[1])
        );
        if !ctx.ks.repl.is_replica() {
            return ctx.err("ERR PSYNC FAILOVER can't be sent to a master.");
        }
        if !a[1].eq_ignore_ascii_case(ctx.ks.repl.replid.as_bytes()) {
            return ctx.err("ERR PSYNC FAILOVER replid must match my replid.");
        }
        let why = format!("failover request from 'id={}'", ctx.conn.id);
        // Promoted; our own replicas are disconnected to learn the new id (see `follow`).
        crate::replication::follow(ctx.shared, &mut ctx.ks.repl, None, &why);
    }
    // Replicas do not sync with us while we are failing over.
    if ctx.ks.repl.failover.state != FailoverState::None {
        return ctx.err("NOMASTERLINK Can't SYNC while failing over");
    }
    // A replica serves replicas of its own only from a dataset its primary is streaming to:
    // not while it is loading one, nor while its link is down (as Redis refuses).
    if let Role::Replica(up) = &ctx.ks.repl.role {
        if !up.link_up.load(Ordering::Relaxed) || up.sync_in_progress.load(Ordering::Relaxed) {
            return ctx.err("NOMASTERLINK Can't SYNC while not connected with my master");
        }
    }
    let (replid, requested) = if a.len() >= 3 {
        (
            String::from_utf8_lossy(&a[1]).into_owned(),
            args::int(&a[2]).unwrap_or(-1),
        )
    } else {
        ("?".to_string(), -1)
    };
    // The old SYNC: no resync id or offset is exchanged; the RDB file (`$<len>` then the
    // payload) is followed by the live stream.
    let legacy = args::is(&a[0], "sync");
    let ip = ctx.conn.handle.addr.ip().to_string();
    // A replica that does not take slotcache's snapshot (redis-server, a SYNC caller) is
    // sent an RDB file on a full sync.
    let rdb = legacy || !ctx.conn.repl_capa_slotcache;
    let link = if rdb {
        ReplicaLink::for_rdb(ctx.conn.id, ip, ctx.conn.repl_listening_port, legacy)
    } else {
        ReplicaLink::new(ctx.conn.id, ip, ctx.conn.repl_listening_port)
    };
    let limit = ctx.settings.replica_obuf_hard;
    ctx.ks.repl.obuf_limit = limit;
    let from = if requested > 0 {
        Some(requested as u64 - 1)
    } else {
        None
    };
    let partial = from
        .filter(|_| !legacy)
        .and_then(|f| ctx.ks.repl.try_partial(&replid, f));
    *ctx.conn.handle.flags.lock() = "S".into();
    match partial {
        Some(missed) => {
            let mut head = format!("+CONTINUE {}\r\n", ctx.ks.repl.replid).into_bytes();
            let n = missed.len();
            head.extend_from_slice(&missed);
            link.push(&head, 0);
            ctx.ks.repl.attach_online(link.clone());
            ctx.ks.repl.stats.sync_partial_ok += 1;
            info!(replica = ctx.conn.id, "Partial resynchronization request from {} accepted. Sending {n} bytes of backlog starting from offset {requested}.", link.ip);
        }
        None => {
            if replid != "?" {
                ctx.ks.repl.stats.sync_partial_err += 1;
            }
            ctx.ks.repl.stats.sync_full += 1;
            // The RDB sync attaches the link when the file's point in time is taken.
            if rdb {
                info!(
                    replica = ctx.conn.id,
                    "Full resync requested by replica {}; starting an RDB snapshot", link.ip
                );
                ctx.ks.repl.wait_rdb(link.clone());
                if let Some(shared) = ctx.shared.arc() {
                    tokio::spawn(crate::replication::rdb_sync::drive(shared, link.clone()));
                }
                return ctx.then(Next::ReplicaLink(link));
            }
            let head = format!(
                "+FULLRESYNC {} {}\r\n",
                ctx.ks.repl.replid, ctx.ks.repl.offset
            );
            link.send(head.as_bytes(), 0);
            let ndb = ctx.ks.dbs.len();
            let preamble = [crate::commands::functions::sync_command(ctx.shared)];
            ctx.ks.repl.attach_syncing(link.clone(), ndb, &preamble);
            info!(
                replica = ctx.conn.id,
                "Full resync requested by replica {}; starting snapshot", link.ip
            );
            if let Some(shared) = ctx.shared.arc() {
                tokio::spawn(crate::replication::primary::drive(shared, link.clone()));
            }
        }
    }
    ctx.then(Next::ReplicaLink(link));
}

fn replconf(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len().is_multiple_of(2) {
        return ctx.err(errors::SYNTAX);
    }
    let mut i = 1;
    while i + 1 < a.len() {
        if args::is(&a[i], "listening-port") {
            match args::int(&a[i + 1]).filter(|p| (0..=65535).contains(p)) {
                Some(p) => ctx.conn.repl_listening_port = p as u16,
                None => return ctx.err(errors::NOT_INT),
            }
        } else if args::is(&a[i], "ack") || args::is(&a[i], "getack") {
            // Acks arrive on replica links, which are served by the replication module.
            return;
        } else if args::is(&a[i], "capa") {
            if a[i + 1].eq_ignore_ascii_case(crate::replication::SLOTCACHE_CAPA) {
                ctx.conn.repl_capa_slotcache = true;
            }
        } else if !(args::is(&a[i], "ip-address")
            || args::is(&a[i], "rdb-only")
            || args::is(&a[i], "rdb-filter-only"))
        {
            return ctx.err(&format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(&a[i])
            ));
        }
        i += 2;
    }
    ctx.out.ok();
}

fn wait(ctx: &mut Ctx, a: &[Bytes]) {
    if ctx.ks.repl.is_replica() {
        return ctx.err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
    }
    let Some(n) = args::int(&a[1]) else {
        return ctx.err(errors::NOT_INT);
    };
    let Some(timeout) = args::int(&a[2]) else {
        return ctx.err("ERR timeout is not an integer or out of range");
    };
    if timeout < 0 {
        return ctx.err("ERR timeout is negative");
    }
    let n = n.max(0) as usize;
    let acked = ctx.ks.repl.acked(ctx.conn.woff);
    // Inside EXEC nothing blocks: the count as it stands (Redis's CLIENT_DENY_BLOCKING).
    if acked >= n || ctx.conn.in_exec {
        return ctx.out.int(acked as i64);
    }
    let now = ctx.now;
    let ks = &mut *ctx.ks;
    // While writes are paused the stream stands still (a failover waits for replicas to
    // reach its end): replicas are not asked, they acknowledge on their own every second.
    if !ctx.shared.pause.writes_paused() {
        ks.repl.request_acks(&ks.dbs, now);
    }
    let deadline = (timeout > 0)
        .then(|| tokio::time::Instant::now() + std::time::Duration::from_millis(timeout as u64));
    let offset = ctx.conn.woff;
    ctx.then(Next::WaitAcks(Wait {
        offset,
        replicas: n,
        deadline,
    }));
}

fn role(ctx: &mut Ctx, _a: &[Bytes]) {
    match ctx.ks.repl.role.clone() {
        Role::Primary => {
            let offset = ctx.ks.repl.offset;
            let replicas: Vec<(String, u64, u64)> = ctx
                .ks
                .repl
                .replicas()
                .chain(ctx.ks.repl.waiting())
                .map(|r| {
                    (
                        r.ip.clone(),
                        r.listening_port.load(Ordering::Relaxed),
                        r.ack_offset.load(Ordering::Relaxed),
                    )
                })
                .collect();
            ctx.out.array(3);
            ctx.out.bulk(b"master");
            ctx.out.int(offset as i64);
            ctx.out.array(replicas.len());
            for (ip, port, off) in replicas {
                ctx.out.array(3);
                ctx.out.bulk(ip.as_bytes());
                ctx.out.bulk(port.to_string().as_bytes());
                ctx.out.bulk(off.to_string().as_bytes());
            }
        }
        Role::Replica(up) => {
            let state = if up.link_up.load(Ordering::Relaxed) {
                "connected"
            } else if up.sync_in_progress.load(Ordering::Relaxed) {
                "sync"
            } else {
                "connect"
            };
            let offset = ctx.ks.repl.offset as i64;
            ctx.out.array(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(up.host.as_bytes());
            ctx.out.int(up.port as i64);
            ctx.out.bulk(state.as_bytes());
            ctx.out.int(offset);
        }
    }
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: validated as Redis's
/// `failoverCommand` (same checks, same order, same errors), then run by
/// [`crate::replication::failover`].
fn failover_cmd(ctx: &mut Ctx, a: &[Bytes]) {
    if ctx.settings.cluster_enabled {
        return ctx.err(
            "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.",
        );
    }
    if a.len() == 2 && args::is(&a[1], "abort") {
        if ctx.ks.repl.failover.state == FailoverState::None {
            return ctx.err("ERR No failover in progress.");
        }
        failover::abort(ctx.shared, &mut ctx.ks.repl, "Failover manually aborted");
        return ctx.out.ok();
    }
    let mut timeout_ms: i64 = 0;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < a.len() {
        if args::is(&a[j], "timeout") && j + 1 < a.len() && timeout_ms == 0 {
            let Some(t) = args::int(&a[j + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            if t <= 0 {
                return ctx.err("ERR FAILOVER timeout must be greater than 0");
            }
            timeout_ms = t;
            j += 2;
        } else if args::is(&a[j], "to") && j + 2 < a.len() && target.is_none() {
            let Some(port) = args::int(&a[j + 2]) else {
                return ctx.err(errors::NOT_INT);
            };
            target = Some((String::from_utf8_lossy(&a[j + 1]).into_owned(), port));
            j += 3;
        } else if args::is(&a[j], "force") && !force {
            force = true;
            j += 1;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let repl = &ctx.ks.repl;
    if repl.failover.state != FailoverState::None {
        return ctx.err("ERR FAILOVER already in progress.");
    }
    if repl.is_replica() {
        return ctx.err("ERR FAILOVER is not valid when server is a replica.");
    }
    if repl.replicas().next().is_none() {
        return ctx.err("ERR FAILOVER requires connected replicas.");
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return ctx
            .err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
    }
    let target = match target {
        Some((host, port)) => {
            let Some(replica) = failover::find_replica(repl, &host, port) else {
                return ctx.err("ERR FAILOVER target HOST and PORT is not a replica.");
            };
            if !replica.online.load(Ordering::Relaxed) {
                return ctx.err("ERR FAILOVER target replica is not online.");
            }
            // A listening port found among the replicas is a valid port.
            Some((host, port as u16))
        }
        None => None,
    };
    let timeout = (timeout_ms > 0).then_some(timeout_ms as u64);
    failover::start(ctx.shared, &mut ctx.ks.repl, target, timeout, force);
    ctx.out.ok();
}
