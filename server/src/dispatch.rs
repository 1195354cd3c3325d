//! Admission and execution of one command, in a fixed order: look-up, arity, auth, then run.
//! Then cluster redirects, replica checks, and memory (`crate::eviction::admit`), in that
//! order.

use crate::clients::{Conn, ReplyMode};
use crate::commands::{errors, flags, table, CommandSpec, Ctx};
use crate::config::Settings;
use crate::keyspace::Keyspace;
use crate::protocol::Out;
use crate::state::Shared;
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// Why a command was refused before it ran.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    UnknownSub,
    Arity,
    NoAuth,
}

/// Resolves a command (and its subcommand) and checks arity and authentication. Returns the
/// table name of the command line (`get`, or a container's name such as `config`) with the
/// spec that runs it.
pub fn admit(
    args: &[Bytes],
    conn: &Conn,
    settings: &Settings,
) -> Result<(&'static str, &'static CommandSpec), (Refusal, String)> {
    let Some(cmd) = table::lookup(&args[0]) else {
        return Err((Refusal::Unknown, unknown_command(args)));
    };
    let spec = if cmd.subcommands.is_empty() {
        if !cmd.arity_ok(args.len()) {
            return Err((Refusal::Arity, errors::arity(cmd.name)));
        }
        cmd
    } else {
        if args.len() < 2 {
            // A container that accepts no subcommand (COMMAND) runs its own handler.
            if cmd.arity_ok(args.len()) {
                return check_auth(cmd, conn, settings).map(|s| (cmd.name, s));
            }
            return Err((Refusal::Arity, errors::arity(cmd.name)));
        }
        match cmd.subcommand(&args[1]) {
            Some(sub) => {
                if !sub.arity_ok(args.len()) {
                    return Err((
                        Refusal::Arity,
                        errors::arity(&format!("{}|{}", cmd.name, sub.name)),
                    ));
                }
                sub
            }
            None => {
                return Err((
                    Refusal::UnknownSub,
                    errors::unknown_subcommand(&args[1], cmd.name),
                ))
            }
        }
    };
    check_auth(spec, conn, settings).map(|s| (cmd.name, s))
}

fn check_auth(
    spec: &'static CommandSpec,
    conn: &Conn,
    settings: &Settings,
) -> Result<&'static CommandSpec, (Refusal, String)> {
    if settings.requirepass.is_some() && !conn.authenticated && !spec.has(flags::NO_AUTH) {
        return Err((Refusal::NoAuth, errors::NOAUTH.to_string()));
    }
    Ok(spec)
}

/// Replica and min-replicas checks: where this node's replication role forbids a command.
/// EXEC is judged by the commands it queued (any write, any not allowed on a stale
/// replica), as Redis does: its whole transaction runs or none of it.
fn replication_gate(
    ks: &Keyspace,
    spec: &CommandSpec,
    conn: &Conn,
    settings: &Settings,
) -> Option<&'static str> {
    let (write, stale_ok) = match conn.multi.as_ref().filter(|_| spec.name == "exec") {
        Some(m) => m
            .queued
            .iter()
            .filter_map(|q| resolve(q))
            .fold((false, spec.has(flags::STALE)), |(w, s), q| {
                (w || q.has(flags::WRITE), s && q.has(flags::STALE))
            }),
        None => (spec.has(flags::WRITE), spec.has(flags::STALE)),
    };
    match &ks.repl.role {
        crate::replication::feed::Role::Replica(up) => {
            if write && settings.replica_read_only {
                return Some("READONLY You can't write against a read only replica.");
            }
            let link_up = up.link_up.load(std::sync::atomic::Ordering::Relaxed);
            if !link_up && !settings.replica_serve_stale_data && !stale_ok {
                return Some("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
            }
            None
        }
        crate::replication::feed::Role::Primary => {
            if write && settings.min_replicas_to_write > 0 {
                let lag_ms = settings.min_replicas_max_lag * 1000;
                let now = crate::replication::primary::mono_ms();
                let good = ks
                    .repl
                    .replicas()
                    .filter(|r| r.online.load(std::sync::atomic::Ordering::Relaxed))
                    .filter(|r| {
                        now.saturating_sub(r.last_ack_ms.load(std::sync::atomic::Ordering::Relaxed))
                            <= lag_ms
                    })
                    .count();
                if good < settings.min_replicas_to_write {
                    return Some("NOREPLICAS Not enough good replicas to write.");
                }
            }
            None
        }
    }
}

/// Hands a command's effects to the replication stream: first DELs for keys that expired on
/// the way, then what the command asked to propagate, or the command itself if it changed
/// data.
#[allow(clippy::too_many_arguments)]
fn replicate(
    shared: &Shared,
    settings: &Settings,
    ks: &mut Keyspace,
    db: usize,
    dirty: u64,
    spec: &CommandSpec,
    args: &[Bytes],
    propagate: Option<Vec<Vec<Bytes>>>,
    now: u64,
) {
    drain_expired(ks, now, Some((shared, settings)));
    if ks.dirty == dirty && propagate.is_none() {
        return;
    }
    if !ks.repl.active {
        return;
    }
    match propagate {
        Some(cmds) => ks.repl.emit(&ks.dbs, db, &cmds, now),
        None if spec.has(flags::WRITE) || spec.has(flags::MAY_REPLICATE) => {
            ks.repl.emit_one(&ks.dbs, db, args, now)
        }
        None => {}
    }
}

/// Turns keys that expired (lazily or actively) into replicated DELs.
pub fn drain_expired(ks: &mut Keyspace, now: u64, notify: Option<(&Shared, &Settings)>) {
    for i in 0..ks.dbs.len() {
        if ks.dbs[i].expired_log.is_empty() {
            continue;
        }
        let keys = std::mem::take(&mut ks.dbs[i].expired_log);
        if let Some((shared, settings)) = notify {
            if !settings.notify_keyspace_events.is_empty() {
                let flags = crate::notify::Flags::parse(&settings.notify_keyspace_events);
                for k in &keys {
                    crate::notify::publish(shared, flags, 'x', "expired", i, k);
                }
            }
        }
        if ks.repl.active && !ks.repl.is_replica() {
            ks.repl.emit_dels(&ks.dbs, i, keys, now);
        }
    }
}

/// What a run of replicated commands shares: taken once per read from the primary, not per
/// command (reading the settings per command cost a tenth of a replica's CPU).
pub struct Applying {
    pub settings: std::sync::Arc<Settings>,
    pub now: u64,
}

impl Applying {
    pub fn new(shared: &Shared) -> Self {
        Applying {
            settings: shared.settings(),
            now: crate::util::now_ms(),
        }
    }
}

/// Runs a command that arrived on the replication stream: no admission checks, no
/// redirects, and nothing is propagated from here (the raw stream is, by the caller).
pub fn execute_replicated(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    applying: &Applying,
    args: &[Bytes],
) {
    let Some(cmd) = table::lookup(&args[0]) else {
        tracing::warn!(
            "unknown command in replication stream: {}",
            String::from_utf8_lossy(&args[0])
        );
        return;
    };
    let spec = if cmd.subcommands.is_empty() {
        cmd
    } else {
        match args.get(1).and_then(|s| cmd.subcommand(s)) {
            Some(s) => s,
            None => return,
        }
    };
    if !spec.arity_ok(args.len()) {
        return;
    }
    // A reply sink reused across the stream (this runs once per replicated write; replies
    // are discarded).
    thread_local! {
        static SINK: std::cell::RefCell<Out> = std::cell::RefCell::new(Out::new(false));
    }
    SINK.with(|sink| {
        let mut out = sink.borrow_mut();
        out.buf.clear();
        let mut ctx = Ctx {
            shared,
            ks,
            conn,
            out: &mut out,
            settings: &applying.settings,
            now: applying.now,
            propagate: None,
            modified: None,
        };
        (spec.handler)(&mut ctx, args);
        out.buf.clear();
    });
    // Replicas do not expire keys themselves; what lazy reads found stays until the
    // primary's DEL arrives.
    for db in ks.dbs.iter_mut() {
        if !db.expired_log.is_empty() {
            db.expired_log.clear();
        }
    }
}

/// Cluster routing: where the command's keys live decides whether it runs here.
fn redirect(
    shared: &Shared,
    ks: &Keyspace,
    spec: &CommandSpec,
    conn: &Conn,
    args: &[Bytes],
) -> Option<String> {
    let cluster = shared.cluster.get()?;
    let mut positions = spec.key_positions(args);
    let channels = positions.is_empty();
    if channels {
        // Sharded pub/sub routes by its channels.
        positions = spec.channel_positions(args);
    }
    if positions.is_empty() {
        return None;
    }
    let keys: Vec<&[u8]> = positions
        .iter()
        .filter_map(|&i| args.get(i))
        .map(|k| k.as_ref())
        .collect();
    let view = cluster.view();
    let write = spec.has(flags::WRITE);
    let mut q = query(
        cluster,
        conn,
        write,
        spec.has(flags::ASKING),
        spec.name == "migrate",
        &keys,
    );
    // A replica serves sharded pub/sub for its primary's slots without READONLY (as
    // Redis 7.0): SPUBLISH reaches it over the bus (see `ClusterState::publish_shard`).
    q.replica_read |= channels && !write;
    q.pubsub_shard = channels;
    let mut served_by_me = false;
    let slots = keys.iter().map(|k| {
        let s = crate::keyspace::slot::key_slot(k);
        served_by_me |= view.owners[s as usize] == view.me;
        s
    });
    let mut presence = || {
        if channels {
            return (keys.len(), 0);
        }
        key_presence(ks, &keys)
    };
    if let Some(r) = crate::cluster::redirect::route(&view, slots, q, &mut presence) {
        return Some(r.message());
    }
    // Fencing: a primary that lost touch with the majority stops serving its slots before
    // a replacement can exist (sharded pub/sub, which stores nothing, follows its own
    // when-down setting).
    let allowed_down = if q.pubsub_shard {
        q.allow_pubsubshard_when_down
    } else {
        !write && q.allow_reads_when_down
    };
    if served_by_me && !cluster.lease_ok() && !allowed_down {
        return Some(crate::cluster::redirect::Redirect::Down.message());
    }
    None
}

/// What routing needs to know about a command (or a transaction) besides its slots.
fn query(
    cluster: &crate::cluster::Cluster,
    conn: &Conn,
    write: bool,
    implies_asking: bool,
    is_migrate: bool,
    keys: &[&[u8]],
) -> crate::cluster::redirect::Query {
    crate::cluster::redirect::Query {
        is_write: write,
        allow_reads_when_down: cluster
            .allow_reads_when_down
            .load(std::sync::atomic::Ordering::Relaxed),
        replica_read: conn.readonly && !write,
        asking: conn.asking || implies_asking,
        is_migrate,
        multi_key: keys.iter().any(|k| *k != keys[0]),
        pubsub_shard: false,
        allow_pubsubshard_when_down: cluster
            .allow_pubsubshard_when_down
            .load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// How many of `keys` this node holds (live), and how many it does not: what decides, for a
/// slot that is moving, which side serves them.
fn key_presence(ks: &Keyspace, keys: &[&[u8]]) -> (usize, usize) {
    let now = crate::util::now_ms();
    let db = &ks.dbs[0];
    let existing = keys
        .iter()
        .filter(|k| db.peek_ref(k, now).is_some())
        .count();
    (existing, keys.len() - existing)
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` — Redis's exact wording.
fn unknown_command(args: &[Bytes]) -> String {
    let mut s = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(&args[0][..args[0].len().min(128)])
    );
    let mut room = 128usize;
    for a in &args[1..] {
        if room == 0 {
            break;
        }
        let take = a.len().min(room);
        s.push_str(&format!("'{}' ", String::from_utf8_lossy(&a[..take])));
        room -= take;
    }
    s
}

/// Runs one command for a connection, replying through `out`.
pub fn execute(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    args: &[Bytes],
) {
    // A command after CLIENT REPLY SKIP runs with the mode still `Skip`: its reply is
    // dropped, unless it is CLIENT REPLY ON / OFF, which replace the mode.
    let before = conn.reply;
    let mark = out.mark();
    match admit(args, conn, settings) {
        Ok((name, spec)) => {
            conn.handle
                .last_spec
                .store(spec as *const CommandSpec as usize, Ordering::Relaxed);
            if !conn.resp3
                && conn.subs.total() > 0
                && !crate::commands::pubsub::allowed_when_subscribed(name)
            {
                // Redis names the command as its table does: `pubsub|numsub` for a subcommand.
                let shown =
                    crate::commands::table::full_name_of(spec as *const CommandSpec as usize)
                        .unwrap_or_else(|| crate::util::lower(&args[0]));
                let msg = format!(
                    "ERR Can't execute '{shown}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                );
                refuse(shared, Some(spec), out, &msg);
            } else if conn.multi.is_some() && spec.has(flags::NO_MULTI) {
                // SHUTDOWN, SYNC...: refused, and the transaction is doomed (as Redis).
                if let Some(m) = conn.multi.as_mut() {
                    m.failed = true;
                }
                refuse(
                    shared,
                    Some(spec),
                    out,
                    "ERR Command not allowed inside a transaction",
                );
            } else if shared
                .pause
                .holds(spec, name == "exec" && queued_writes(conn))
            {
                // CLIENT PAUSE: runs again once the pause ends (see server.rs).
                conn.paused = true;
                conn.reply = before;
                return;
            } else if conn.multi.is_some() && !crate::commands::transactions::is_control(name) {
                queue(shared, ks, conn, out, settings, spec, args);
            } else if !ks.in_flight.is_empty() && writes_in_flight(ks, conn, spec, name, args) {
                // Runs again once the MIGRATE moving its keys is done (see server.rs).
                conn.wait_in_flight = true;
                conn.moves_seen = shared.moves_done.load(std::sync::atomic::Ordering::SeqCst);
                conn.reply = before;
                return;
            } else {
                run_admitted(shared, ks, conn, out, settings, spec, args, true);
            }
        }
        Err((refusal, msg)) => {
            let known = matches!(refusal, Refusal::Arity | Refusal::NoAuth);
            let spec = known.then(|| resolve(args)).flatten();
            if known && args[0].eq_ignore_ascii_case(b"exec") {
                // Redis answers a refused EXEC by aborting the transaction, inside MULTI or
                // not (execCommandAbort): EXECABORT with the reason, watches released.
                conn.multi = None;
                for w in std::mem::take(&mut conn.watched) {
                    ks.watches.release(w.db, &w.key);
                }
                let why = msg.strip_prefix("ERR ").unwrap_or(&msg);
                let abort = format!("EXECABORT Transaction discarded because of: {why}");
                refuse(shared, spec, out, &abort)
            } else {
                if let Some(m) = conn.multi.as_mut() {
                    m.failed = true;
                }
                refuse(shared, spec, out, &msg)
            }
        }
    }
    serve_ready(shared, ks, settings);
    if conn.retry_cluster {
        // Not run (nothing was replied): it runs again from the top.
        conn.reply = before;
        return;
    }
    // ASKING lasts for the next command (or, inside MULTI, until EXEC).
    if conn.asking && conn.multi.is_none() && !args[0].eq_ignore_ascii_case(b"asking") {
        conn.asking = false;
    }
    finish(conn, out, before, mark);
}

/// Replies with the error that refused a command, and accounts for it (rejected_calls of
/// `spec` when the command is known, the error's code).
fn refuse(shared: &Shared, spec: Option<&CommandSpec>, out: &mut Out, msg: &str) {
    shared.telemetry.rejected(spec, msg.as_bytes());
    out.error(msg);
}

/// Whether the transaction being queued holds a command that writes or may replicate (an
/// EXEC that CLIENT PAUSE WRITE holds back).
fn queued_writes(conn: &Conn) -> bool {
    conn.multi.as_ref().is_some_and(|m| {
        m.queued
            .iter()
            .any(|q| resolve(q).is_some_and(|s| s.has(flags::WRITE) || s.has(flags::MAY_REPLICATE)))
    })
}

/// The message of the error reply written at `mark`, if the reply there is an error.
fn error_at(out: &Out, mark: usize) -> Option<&[u8]> {
    let b = out.buf.get(mark..)?;
    if b.first() != Some(&b'-') {
        return None;
    }
    let end = b.windows(2).position(|w| w == b"\r\n").unwrap_or(b.len());
    Some(&b[1..end])
}

/// Whether this command (or, for EXEC, a queued one) writes a key a MIGRATE is moving, or
/// touches at all one whose entry is out of the table while it is sent.
fn writes_in_flight(
    ks: &Keyspace,
    conn: &Conn,
    spec: &CommandSpec,
    name: &str,
    args: &[Bytes],
) -> bool {
    let touches = |spec: &CommandSpec, args: &[Bytes]| {
        let write = spec.has(flags::WRITE);
        spec.key_positions(args)
            .iter()
            .filter_map(|&i| args.get(i))
            .any(|k| {
                ks.in_flight
                    .get(conn.db, k)
                    .is_some_and(|taken| write || taken)
            })
    };
    if name == "exec" {
        return conn.multi.as_ref().is_some_and(|m| {
            m.queued
                .iter()
                .any(|q| resolve(q).is_some_and(|s| touches(s, q)))
        });
    }
    touches(spec, args)
}

/// Inside MULTI: check what can be checked now (redirects), then queue.
fn queue(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    spec: &'static CommandSpec,
    args: &[Bytes],
) {
    let refused = redirect(shared, ks, spec, conn, args).or_else(|| {
        crate::eviction::admit_queued(shared, ks, settings)
            .err()
            .map(str::to_string)
    });
    if let Some(msg) = refused {
        if let Some(m) = conn.multi.as_mut() {
            m.failed = true;
        }
        return refuse(shared, Some(spec), out, &msg);
    }
    if let Some(m) = conn.multi.as_mut() {
        m.queued.push(args.to_vec());
    }
    out.simple("QUEUED");
}

/// Runs a command queued by MULTI, inside EXEC (already admitted once; admitted again here
/// so its arity and key positions are those of this exact argument list).
pub fn execute_queued(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    args: &[Bytes],
) {
    match admit(args, conn, settings) {
        // Inside EXEC: EXEC itself passed the memory check; a transaction does not evict
        // halfway through.
        Ok((_, spec)) => run_admitted(shared, ks, conn, out, settings, spec, args, false),
        Err((refusal, msg)) => {
            let known = matches!(refusal, Refusal::Arity | Refusal::NoAuth);
            refuse(shared, known.then(|| resolve(args)).flatten(), out, &msg)
        }
    }
}

/// In cluster mode, where a whole transaction must go: one slot, served here.
pub fn route_many(
    shared: &Shared,
    ks: &Keyspace,
    conn: &Conn,
    cmds: &[Vec<Bytes>],
) -> Option<String> {
    let cluster = shared.cluster.get()?;
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut write = false;
    for args in cmds {
        let Some(spec) = resolve(args) else { continue };
        write |= spec.has(flags::WRITE);
        keys.extend(
            spec.key_positions(args)
                .iter()
                .filter_map(|&i| args.get(i))
                .map(|k| k.as_ref()),
        );
    }
    if keys.is_empty() {
        return None;
    }
    let view = cluster.view();
    let q = query(cluster, conn, write, false, false, &keys);
    let slots = keys.iter().map(|k| crate::keyspace::slot::key_slot(k));
    crate::cluster::redirect::route(&view, slots, q, &mut || key_presence(ks, &keys))
        .map(|r| r.message())
}

/// The spec a command line resolves to (subcommand included), if any.
fn resolve(args: &[Bytes]) -> Option<&'static CommandSpec> {
    let cmd = table::lookup(args.first()?)?;
    if cmd.subcommands.is_empty() {
        return Some(cmd);
    }
    args.get(1).and_then(|s| cmd.subcommand(s)).or(Some(cmd))
}

#[allow(clippy::too_many_arguments)]
fn run_admitted(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    spec: &'static CommandSpec,
    args: &[Bytes],
    memory_check: bool,
) {
    if let Some(msg) = redirect(shared, ks, spec, conn, args) {
        return refuse(shared, Some(spec), out, &msg);
    }
    // Inside EXEC the transaction as a whole passed these checks (commands run even if,
    // say, one of them made this node a replica).
    if !conn.in_exec {
        if let Some(msg) = replication_gate(ks, spec, conn, settings) {
            if spec.name == "exec" && conn.multi.is_some() {
                conn.multi = None;
                for w in std::mem::take(&mut conn.watched) {
                    ks.watches.release(w.db, &w.key);
                }
                let abort = format!("EXECABORT Transaction discarded because of: {msg}");
                return refuse(shared, Some(spec), out, &abort);
            }
            return refuse(shared, Some(spec), out, msg);
        }
    }
    // The command's `now` (for expiry) and the start of its duration (commandstats, latency
    // histogram, slow log): within a batch, the clock read that ended the previous command
    // (see `batch_clock`). Eviction, when it runs, is timed as its own event.
    let started = batch_clock::start();
    let now = crate::util::unix_ms(started);
    if memory_check {
        if let Err(msg) = crate::eviction::admit(shared, ks, conn, settings, spec, now) {
            return refuse(shared, Some(spec), out, &msg);
        }
    }
    let mark = out.mark();
    let dirty = ks.dirty;
    let replica = ks.repl.is_replica();
    let db_index = conn.db.min(ks.dbs.len() - 1);
    // Replicas keep expired keys for their primary's DELs; a node whose writes are paused
    // keeps them until the pause ends.
    ks.dbs[db_index].keep_expired = replica || shared.pause.writes_paused();
    ks.dbs[db_index].touch =
        crate::eviction::Touch::for_command(settings, conn.no_touch, spec.name);
    // Keyspace "new" events (class n): the keys a write finds absent, to see which it made.
    let absent = crate::notify::new_key_candidates(&ks.dbs[db_index], spec, args, settings, now);
    let mut ctx = Ctx {
        shared,
        ks,
        conn,
        out,
        settings,
        now,
        propagate: None,
        modified: None,
    };
    (spec.handler)(&mut ctx, args);
    // A wall clock stepped backwards reads as 0.
    let ns = batch_clock::end()
        .duration_since(started)
        .map_or(0, |d| d.as_nanos() as u64);
    let propagate = ctx.propagate.take();
    let modified = ctx.modified.take();
    let db = ctx.conn.db;
    ks.dbs[db_index].keep_expired = false;
    // The keys the command wrote: all its keys, unless it said fewer.
    let written = |args: &[Bytes]| -> Vec<Bytes> {
        match &modified {
            Some(keys) => keys.clone(),
            None => spec
                .key_positions(args)
                .iter()
                .filter_map(|&i| args.get(i).cloned())
                .collect(),
        }
    };
    // The one place executed commands are accounted for (commandstats, errorstats, slow
    // log, latency monitor, MONITOR). A command that blocked is accounted for when it is
    // served.
    if conn.block.is_none() {
        let executed = crate::telemetry::Executed {
            spec,
            args,
            ns,
            error: error_at(out, mark),
            db: db_index,
            client: &conn.handle,
        };
        shared.telemetry.executed(settings, executed);
    }
    if ks.dirty != dirty {
        touch_watched(ks, db_index, spec, args, modified.as_deref());
        if !settings.notify_keyspace_events.is_empty() {
            let flags = crate::notify::Flags::parse(&settings.notify_keyspace_events);
            if flags.enabled() {
                // A side-effect-free look-up: notifying must not expire or touch keys.
                let db = &ks.dbs[db_index];
                for k in absent.iter().filter(|k| db.peek_ref(k, now).is_some()) {
                    crate::notify::publish(shared, flags, 'n', "new", db_index, k);
                }
                let mut exists = |k: &[u8]| db.peek_ref(k, now).is_some();
                match (&propagate, spec.name) {
                    // MPOP and blocking pops notify as the pop they did (lpop, zpopmin...)
                    // on the key they popped, which their replicated effect names.
                    (
                        Some(effects),
                        "lmpop" | "blmpop" | "zmpop" | "bzmpop" | "blpop" | "brpop" | "bzpopmin"
                        | "bzpopmax" | "blmove" | "brpoplpush",
                    ) => {
                        for e in effects {
                            if let Some(es) = e.first().and_then(|n| table::lookup(n)) {
                                crate::notify::after_write(
                                    shared,
                                    flags,
                                    es,
                                    e,
                                    db_index,
                                    None,
                                    &mut exists,
                                );
                            }
                        }
                    }
                    _ => crate::notify::after_write(
                        shared,
                        flags,
                        spec,
                        args,
                        db_index,
                        modified.as_deref(),
                        &mut exists,
                    ),
                }
            }
        }
    }
    replicate(shared, settings, ks, db, dirty, spec, args, propagate, now);
    if ks.dirty != dirty {
        conn.woff = ks.repl.offset;
        if !ks.blocked.is_empty() {
            // Served when the whole command (or transaction) is done: see `serve_ready`.
            for k in written(args) {
                ks.blocked.mark_ready(db_index, &k);
            }
        }
    }
}

/// After a client's command (an EXEC counts as one): serves the clients blocked on keys it
/// wrote. Only now, as in Redis, so that a transaction is atomic to waiters too and a key
/// that was pushed and deleted again wakes nobody.
pub fn serve_ready(shared: &Shared, ks: &mut Keyspace, settings: &Settings) {
    if ks.blocked.has_ready() {
        serve_blocked(shared, ks, settings);
    }
}

/// Serves clients blocked on keys that writes made ready, longest-waiting first, re-running
/// each one's command; what a served command writes (BLMOVE's destination) can make further
/// keys ready, which are served in the same pass. Bounded.
fn serve_blocked(shared: &Shared, ks: &mut Keyspace, settings: &Settings) {
    if ks.blocked_serving {
        return;
    }
    ks.blocked_serving = true;
    let mut budget: usize = 100_000;
    'keys: while let Some((db, key)) = ks.blocked.take_ready() {
        for id in ks.blocked.queue(db, &key) {
            if budget == 0 {
                break 'keys;
            }
            budget -= 1;
            let now = crate::util::now_ms();
            // A real look-up: a key that expired meanwhile is reclaimed (and its DEL
            // replicated) and serves nobody.
            let Some(actual) = ks
                .dbs
                .get_mut(db)
                .and_then(|d| d.peek(&key, now))
                .map(|e| e.value.type_name())
            else {
                break;
            };
            // A waiter is only tried when the key holds the type it waits for: a key that
            // became another type leaves it waiting, as in Redis.
            let expected = match ks.blocked.command_of(id) {
                Some(args) if args[0].len() > 2 && args[0][..2].eq_ignore_ascii_case(b"bz") => {
                    "zset"
                }
                Some(_) => "list",
                None => continue,
            };
            if actual != expected {
                continue;
            }
            let Some(w) = ks.blocked.remove(id) else {
                continue;
            };
            let Some(spec) = resolve(&w.args) else {
                continue;
            };
            let mut conn = Conn::new(w.handle.clone(), true);
            conn.select(w.db);
            conn.resp3 = w.resp3;
            let mut out = Out::new(w.resp3);
            run_admitted(
                shared, ks, &mut conn, &mut out, settings, spec, &w.args, false,
            );
            if conn.block.is_some() {
                // Still nothing for it (another key of its list, a wrong type, ...): it keeps
                // its place in line.
                ks.blocked.readd_front(w);
                continue;
            }
            *w.mailbox.reply.lock() = Some(out.buf.freeze());
            w.mailbox.wake.notify_one();
        }
    }
    ks.blocked_serving = false;
    drain_expired(ks, crate::util::now_ms(), Some((shared, settings)));
}

/// A write changed data: WATCHers of its keys (or of everything, for keyless writes such
/// as FLUSHALL) must see their EXEC fail.
fn touch_watched(
    ks: &mut Keyspace,
    db: usize,
    spec: &CommandSpec,
    args: &[Bytes],
    modified: Option<&[Bytes]>,
) {
    if ks.watches.is_empty() {
        return;
    }
    if let Some(keys) = modified {
        for k in keys {
            ks.watches.touch(db, k);
        }
        return;
    }
    let positions = spec.key_positions(args);
    // Flushes and SWAPDB touch exactly the watched keys they change, themselves.
    if positions.is_empty() && !matches!(spec.name, "flushdb" | "flushall" | "swapdb") {
        ks.watches.touch_all();
    }
    for i in positions {
        if let Some(k) = args.get(i) {
            ks.watches.touch(db, k);
        }
    }
}

/// Bookkeeping after a command: CLIENT REPLY suppression.
fn finish(conn: &mut Conn, out: &mut Out, before: ReplyMode, mark: usize) {
    let after = conn.reply;
    let emit = match (before, after) {
        (_, ReplyMode::Off) => false,
        (ReplyMode::Off, ReplyMode::On) => true,
        // CLIENT REPLY ON cancelled the skip and is answered.
        (ReplyMode::Skip, ReplyMode::On) => true,
        (ReplyMode::Skip, _) => false,
        _ => true,
    };
    match after {
        ReplyMode::SkipNext => conn.reply = ReplyMode::Skip,
        ReplyMode::Skip => conn.reply = ReplyMode::On,
        _ => {}
    }
    if !emit {
        out.truncate_replies(mark);
    }
    out.clear_kept();
}

/// Clock reads shared by the consecutive commands of one batch: the read that ends one
/// command's duration starts the next one's and is its `now`, so a pipelined batch of N
/// commands reads the clock N+1 times rather than 2N (the second read per command cost a
/// tenth of pipelined GET throughput). Only `server::run_batch`, which runs a batch on one
/// thread under the keyspace lock without awaiting, opens and closes it; outside a batch every
/// command reads the clock at its start.
pub mod batch_clock {
    use std::cell::Cell;
    use std::time::SystemTime;

    thread_local! {
        static IN_BATCH: Cell<bool> = const { Cell::new(false) };
        static LAST: Cell<Option<SystemTime>> = const { Cell::new(None) };
    }

    pub fn open() {
        IN_BATCH.set(true);
        LAST.set(None);
    }

    pub fn close() {
        IN_BATCH.set(false);
        LAST.set(None);
    }

    /// A command starts: at the previous command's end within a batch, else now.
    pub fn start() -> SystemTime {
        LAST.take().unwrap_or_else(SystemTime::now)
    }

    /// A command ends: now, which also starts the next command of the batch.
    pub fn end() -> SystemTime {
        let t = SystemTime::now();
        if IN_BATCH.get() {
            LAST.set(Some(t));
        }
        t
    }
}
