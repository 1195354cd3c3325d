//! Execution of one command and the bookkeeping after it: admission's verdict
//! (`crate::admission`) carried out, the handler run, then accounting, WATCH, keyspace
//! notifications, replication and the clients blocked on what it wrote. Returns what the
//! connection does next ([`Next`]).

use crate::admission::{self, live::Live, Call, Rejection, Verdict};
use crate::commands::{flags, table, CommandSpec, Ctx};
use crate::config::Settings;
use crate::dataset::Keyspace;
use crate::flow::Next;
use crate::protocol::Out;
use crate::session::{Conn, ReplyMode};
use crate::state::Shared;
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// Runs one command line for a connection, replying through `out`.
pub fn execute(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    args: &[Bytes],
) -> Next {
    // A command after CLIENT REPLY SKIP runs with the mode still `Skip`: its reply is
    // dropped, unless it is CLIENT REPLY ON / OFF, which replace the mode.
    let before = conn.reply;
    let tracking = ks.tracking.active();
    if tracking {
        ks.tracking.begin(conn.id);
        // As Redis's processCommand: the table is brought within its limit before each
        // command (messages for this client precede its reply).
        ks.tracking.max_keys = settings.tracking_table_max_keys;
        ks.tracking.limit();
    }
    let next = execute_tracked(shared, ks, conn, out, settings, args, before);
    if tracking || ks.tracking.active() {
        // Invalidations this command caused for its own client follow its reply (never
        // inside it), as do BCAST messages.
        ks.tracking.set_executing(false);
        ks.tracking.broadcast();
        for m in ks.tracking.take_own(true) {
            out.buf.extend_from_slice(&m);
        }
        ks.tracking.end();
    }
    next
}

/// [`execute`] between the tracking table's begin and end.
fn execute_tracked(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    args: &[Bytes],
    before: ReplyMode,
) -> Next {
    let mut mark = out.mark();
    let admission = admission::admit(
        args,
        conn,
        settings,
        &mut Live {
            shared,
            ks,
            settings,
        },
    );
    if let Some(spec) = admission.spec {
        conn.handle
            .last_spec
            .store(spec as *const CommandSpec as usize, Ordering::Relaxed);
    }
    if ks.tracking.active() {
        // Invalidations made before the command ran (keys evicted to make room) precede
        // its reply, and are not part of it.
        for m in ks.tracking.take_own(false) {
            out.buf.extend_from_slice(&m);
        }
        mark = out.mark();
        ks.tracking.set_executing(true);
    }
    let next = match admission.verdict {
        // Admission runs only what resolved to a spec.
        Verdict::Run => match admission.spec {
            Some(spec) => run_admitted(shared, ks, conn, out, settings, &Call::new(spec, args)),
            None => {
                out.error("ERR internal error: the command resolved to nothing");
                Next::Continue
            }
        },
        Verdict::Queue => {
            if let Some(m) = conn.multi.as_mut() {
                m.queued.push(args.to_vec());
            }
            out.simple("QUEUED");
            Next::Continue
        }
        Verdict::Hold(hold) => {
            // Not run and not answered: it runs again from the top (see server.rs).
            conn.reply = before;
            return Next::Again(hold);
        }
        Verdict::Refuse(rejection) => {
            refuse_line(shared, ks, conn, out, admission.spec, &rejection);
            Next::Continue
        }
    };
    if let Next::Again(_) = next {
        // The handler gave up without replying (the cluster state was busy).
        conn.reply = before;
        return next;
    }
    serve_ready(shared, ks, settings);
    // ASKING lasts for the next command (or, inside MULTI, until EXEC).
    if conn.asking
        && conn.multi.is_none()
        && !admission
            .spec
            .is_some_and(|s| s.is(table::facts::SETS_ASKING))
    {
        conn.asking = false;
    }
    finish(conn, out, before, mark);
    // CLIENT CACHING applies to the command after it (a whole transaction), as Redis's
    // resetClient clears it.
    if ks.tracking.active()
        && conn.multi.is_none()
        && !admission
            .spec
            .is_some_and(|s| s.is(table::facts::KEEPS_CACHING))
    {
        ks.tracking.clear_caching(conn.id);
    }
    next
}

/// Warms the keyspace's cache lines for the first key of each command of a pipelined batch
/// before the batch runs (see [`crate::keyspace::db::Db::prefetch`]). Bounded: at most
/// `Db::PREFETCH_MAX` commands, one table lookup each. A single command gains nothing (there
/// is nothing to overlap its misses with) and is left alone.
pub fn prefetch_batch(ks: &Keyspace, db: usize, cmds: &[Vec<Bytes>]) {
    use crate::keyspace::db::Db;
    if cmds.len() < 2 {
        return;
    }
    let Some(db) = ks.dbs.get(db) else {
        return;
    };
    let mut keys: [&[u8]; Db::PREFETCH_MAX] = [&[]; Db::PREFETCH_MAX];
    let mut n = 0;
    // A pipeline mostly repeats one command: a name spelled as the previous one's is not
    // looked up again (admission looks every command up anyway; this pass added a second
    // table lookup per command).
    let mut last: Option<(&[u8], Option<&CommandSpec>)> = None;
    for args in cmds.iter().take(Db::PREFETCH_MAX) {
        let Some(name) = args.first() else { continue };
        let spec = match last {
            Some((prev, spec)) if prev == &name[..] => spec,
            _ => {
                let spec = table::lookup(name);
                last = Some((name, spec));
                spec
            }
        };
        let key = spec
            .and_then(|spec| spec.first_key_index())
            .and_then(|i| args.get(i));
        if let Some(k) = key {
            keys[n] = k;
            n += 1;
        }
    }
    db.prefetch(&keys[..n]);
}

/// Answers a command line that [`admission::precheck`] refuses (unknown, wrong arity, not
/// authenticated, not allowed in MULTI, denied by ACL rules) without the keyspace lock;
/// `false` when it needs the lock after all (it passed, or it is EXEC, whose refusal
/// releases its watches).
pub fn refuse_unlocked(shared: &Shared, conn: &mut Conn, out: &mut Out, args: &[Bytes]) -> bool {
    let Err(refused) = admission::precheck(args, conn) else {
        return false;
    };
    let Verdict::Refuse(rejection) = &refused.verdict else {
        return false;
    };
    if refused.spec.is_some_and(|s| s.is(table::facts::EXEC)) {
        return false;
    }
    let before = conn.reply;
    let mark = out.mark();
    if let Some(m) = conn.multi.as_mut() {
        m.failed = true;
    }
    log_denial(shared, conn, rejection);
    refuse(shared, refused.spec, out, &rejection.message());
    if conn.asking && conn.multi.is_none() {
        conn.asking = false;
    }
    finish(conn, out, before, mark);
    true
}

/// Answers a refused command line. A refused EXEC discards its transaction (watches
/// released); any other refusal inside MULTI dooms the transaction, as Redis's
/// `rejectCommand` does.
fn refuse_line(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    spec: Option<&'static CommandSpec>,
    rejection: &Rejection,
) {
    log_denial(shared, conn, rejection);
    if spec.is_some_and(|s| s.is(table::facts::EXEC)) {
        conn.multi = None;
        for w in std::mem::take(&mut conn.watched) {
            ks.watches.release(w.db, &w.key);
        }
        return refuse(shared, spec, out, &rejection.exec_abort_message());
    }
    if let Some(m) = conn.multi.as_mut() {
        m.failed = true;
    }
    refuse(shared, spec, out, &rejection.message())
}

/// Records an ACL denial in the ACL log, in the context of the command (queued in MULTI or
/// at top level), as Redis's `processCommand` does.
fn log_denial(shared: &Shared, conn: &Conn, rejection: &Rejection) {
    if let Rejection::NoPerm(p) = rejection {
        let context = if conn.multi.is_some() {
            crate::acl::log::Context::Multi
        } else {
            crate::acl::log::Context::Toplevel
        };
        shared
            .acl
            .log_denial(crate::acl::log::entry(p, context, conn));
    }
}

/// Replies with the error that refused a command, and accounts for it (rejected_calls of
/// `spec` when the command is known, the error's code).
fn refuse(shared: &Shared, spec: Option<&CommandSpec>, out: &mut Out, msg: &str) {
    shared.telemetry.rejected(spec, msg.as_bytes());
    out.error(msg);
}

/// Runs a command queued by MULTI, inside EXEC. Admission judged it when it was queued and
/// EXEC as a whole (routing, memory, replication) when EXEC came, so it just runs, as in
/// Redis's `execCommand`; what the connection does after the transaction is returned.
pub fn execute_queued(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    args: &[Bytes],
) -> Next {
    match admission::spec_of(args) {
        Some(spec) => {
            // The rules may have changed since the command was queued (Redis's execCommand).
            if let Err(p) = admission::acl_check(conn, spec, args) {
                shared.acl.log_denial(crate::acl::log::entry(
                    &p,
                    crate::acl::log::Context::Multi,
                    conn,
                ));
                out.error(&format!(
                    "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
                    match p.reason {
                        crate::acl::Reason::Key => "no permission to touch the specified keys",
                        crate::acl::Reason::Channel => {
                            "no permission to access one of the channels used as arguments"
                        }
                        _ => "no permission to execute the command or subcommand",
                    }
                ));
                return Next::Continue;
            }
            run_admitted(shared, ks, conn, out, settings, &Call::new(spec, args))
        }
        None => {
            out.error("ERR unknown command inside the transaction");
            Next::Continue
        }
    }
}

/// Runs a command a script called (`redis.call`), after the checks Redis's `scriptCall`
/// makes (see `crate::scripting::call`): the handler and everything that follows a command.
pub fn execute_for_script(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    call: &Call,
) -> Next {
    run_admitted(shared, ks, conn, out, settings, call)
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
    if !ks.repl.recording() {
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

/// Turns keys that expired (lazily or actively) into replicated DELs, and hash fields that
/// expired into HDELs.
pub fn drain_expired(ks: &mut Keyspace, now: u64, notify: Option<(&Shared, &Settings)>) {
    for i in 0..ks.dbs.len() {
        if !ks.dbs[i].expired_fields.is_empty() {
            drain_expired_fields(ks, i, now, notify);
        }
        if ks.dbs[i].expired_log.is_empty() {
            continue;
        }
        let keys = std::mem::take(&mut ks.dbs[i].expired_log);
        if ks.tracking.active() {
            keys.iter().for_each(|k| ks.tracking.invalidate(k, 0));
        }
        if let Some((shared, settings)) = notify {
            if !settings.notify_keyspace_events.is_empty() {
                let flags = settings.notify_flags;
                for k in &keys {
                    crate::notify::publish(shared, flags, 'x', "expired", i, k);
                }
            }
        }
        if ks.repl.recording() && !ks.repl.is_replica() {
            ks.repl.emit_dels(&ks.dbs, i, keys, now);
        }
    }
}

/// Hash fields that expired in database `i`: an `hexpired` event per hash (and `del` when
/// that emptied it), and `HDEL key field...` to replicas, as Redis propagates them.
fn drain_expired_fields(
    ks: &mut Keyspace,
    i: usize,
    now: u64,
    notify: Option<(&Shared, &Settings)>,
) {
    let log = std::mem::take(&mut ks.dbs[i].expired_fields);
    if ks.tracking.active() {
        log.iter()
            .for_each(|(k, _, _)| ks.tracking.invalidate(k, 0));
    }
    if let Some((shared, settings)) = notify {
        if !settings.notify_keyspace_events.is_empty() {
            let flags = settings.notify_flags;
            for (k, _, emptied) in &log {
                crate::notify::publish(shared, flags, 'h', "hexpired", i, k);
                if *emptied {
                    crate::notify::publish(shared, flags, 'g', "del", i, k);
                }
            }
        }
    }
    if ks.repl.active && !ks.repl.is_replica() {
        let cmds: Vec<Vec<Bytes>> = log
            .into_iter()
            .map(|(k, fields, _)| {
                let mut c = Vec::with_capacity(fields.len() + 2);
                c.push(Bytes::from_static(b"HDEL"));
                c.push(Bytes::from(k));
                c.extend(fields.into_iter().map(Bytes::from));
                c
            })
            .collect();
        ks.repl.emit(&ks.dbs, i, &cmds, now);
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
            next: Next::Continue,
            events: Vec::new(),
            error_counted: false,
        };
        // What a replicated command would change about a connection (a WAIT, a MIGRATE)
        // means nothing on the replication link.
        let dirty = ctx.ks.dirty;
        // Hash fields past their TTL stay as stored until the primary's HDEL arrives (as
        // Redis's master client sees them), so replicated writes never reap them here.
        let db = ctx.conn.db.min(ctx.ks.dbs.len() - 1);
        ctx.ks.dbs[db].replicating = true;
        (spec.handler)(&mut ctx, args);
        ctx.ks.dbs[db].replicating = false;
        let modified = ctx.modified.take();
        out.buf.clear();
        // Clients reading this replica learn of its primary's writes as of the primary's.
        if ks.tracking.active() && ks.dirty != dirty {
            match modified {
                Some(keys) => keys.iter().for_each(|k| ks.tracking.invalidate(k, 0)),
                None => Call::new(spec, args)
                    .key_args()
                    .for_each(|k| ks.tracking.invalidate(k, 0)),
            }
            ks.tracking.broadcast();
        }
    });
    // Replicas do not expire keys themselves; what lazy reads found stays until the
    // primary's DEL arrives.
    for db in ks.dbs.iter_mut() {
        if !db.expired_log.is_empty() {
            db.expired_log.clear();
        }
    }
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

/// Runs an admitted command: the handler, then everything that follows a command (its
/// accounting, WATCH, notifications, replication, the waiters its writes make ready).
fn run_admitted(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    call: &Call,
) -> Next {
    let (spec, args) = (call.spec, call.args);
    // The command's `now` (for expiry) and the start of its duration (commandstats, latency
    // histogram, slow log): within a batch, the clock read that ended the previous command
    // (see `batch_clock`).
    let started = batch_clock::start();
    let now = batch_clock::frozen_ms().unwrap_or_else(|| crate::util::unix_ms(started));
    let mark = out.mark();
    let dirty = ks.dirty;
    let replica = ks.repl.is_replica();
    let db_index = conn.db.min(ks.dbs.len() - 1);
    // Replicas keep expired keys for their primary's DELs; a node whose writes are paused
    // keeps them until the pause ends.
    ks.dbs[db_index].keep_expired = replica || shared.pause.writes_paused();
    ks.dbs[db_index].touch = crate::eviction::Touch::for_command(settings, conn.no_touch, spec);
    // Keyspace "new" events (class n): the keys a write finds absent, to see which it made.
    let absent = crate::notify::new_key_candidates(&ks.dbs[db_index], call, settings, now);
    let mut ctx = Ctx {
        shared,
        ks,
        conn,
        out,
        settings,
        now,
        propagate: None,
        modified: None,
        next: Next::Continue,
        events: Vec::new(),
        error_counted: false,
    };
    let script = ctx.ks.tracking.active() && spec.is(table::facts::RUNS_SCRIPT);
    if script {
        let declared = call.key_args().map(|k| k.to_vec()).collect();
        ctx.ks.tracking.set_script_keys(Some(declared));
    }
    (spec.handler)(&mut ctx, args);
    if script {
        ctx.ks.tracking.set_script_keys(None);
    }
    // A wall clock stepped backwards reads as 0.
    let ns = batch_clock::end()
        .duration_since(started)
        .map_or(0, |d| d.as_nanos() as u64);
    let propagate = ctx.propagate.take();
    let modified = ctx.modified.take();
    let reported = std::mem::take(&mut ctx.events);
    let next = std::mem::take(&mut ctx.next);
    let error_counted = ctx.error_counted;
    let db = ctx.conn.db;
    ks.dbs[db_index].keep_expired = false;
    // The one place executed commands are accounted for (commandstats, errorstats, slow
    // log, latency monitor, MONITOR). A command that blocked is accounted for when it is
    // served.
    if !matches!(next, Next::Block(_)) {
        let executed = crate::telemetry::Executed {
            spec,
            args,
            ns,
            error: error_at(out, mark),
            error_counted,
            db: db_index,
            client: &conn.handle,
        };
        shared.telemetry.executed(settings, executed);
    }
    let wrote = ks.dirty != dirty;
    if ks.dirty != dirty {
        touch_watched(ks, db_index, call, modified.as_deref());
        if !settings.notify_keyspace_events.is_empty() {
            notify(
                shared, settings, ks, db_index, call, &propagate, &modified, &absent, &reported,
                now,
            );
        }
    }
    replicate(shared, settings, ks, db, dirty, spec, args, propagate, now);
    // After the keys it found expired were invalidated (in `replicate`), as in Redis, where
    // a read expires keys before its keys are remembered.
    if ks.tracking.active() {
        track(ks, conn.id, call, modified.as_deref(), wrote);
    }
    if ks.dirty != dirty {
        conn.woff = ks.repl.offset;
        if !ks.blocked.is_empty() {
            // Served when the whole command (or transaction) is done: see `serve_ready`.
            // The keys the command wrote: all its keys, unless it said fewer.
            match &modified {
                Some(keys) => keys.iter().for_each(|k| ks.blocked.mark_ready(db_index, k)),
                None => call
                    .key_args()
                    .for_each(|k| ks.blocked.mark_ready(db_index, k)),
            }
        }
    }
    next
}

/// Keyspace notifications for a command that changed data.
#[allow(clippy::too_many_arguments)]
fn notify(
    shared: &Shared,
    settings: &Settings,
    ks: &Keyspace,
    db_index: usize,
    call: &Call,
    propagate: &Option<Vec<Vec<Bytes>>>,
    modified: &Option<Vec<Bytes>>,
    absent: &[Bytes],
    reported: &[(&'static str, Bytes)],
    now: u64,
) {
    let flags = settings.notify_flags;
    if !flags.enabled() {
        return;
    }
    // A side-effect-free look-up: notifying must not expire or touch keys.
    let db = &ks.dbs[db_index];
    for k in absent.iter().filter(|k| db.peek_ref(k, now).is_some()) {
        crate::notify::publish(shared, flags, 'n', "new", db_index, k);
    }
    let mut exists = |k: &[u8]| db.peek_ref(k, now).is_some();
    match (propagate, call.spec.events) {
        // Events that depend on what the command did, as its handler reported them.
        (_, crate::keyspace_events::Events::Reported(class)) => {
            for (event, key) in reported {
                // `del` (a command that emptied its key) is a generic event in any family.
                let class = if *event == "del" { 'g' } else { class };
                crate::notify::publish(shared, flags, class, event, db_index, key);
            }
        }
        // MPOP and blocking pops notify as the pop they did (lpop, zpopmin...) on the key
        // they popped, which their replicated effect names.
        (Some(effects), crate::keyspace_events::Events::AsEffects(_)) => {
            for e in effects {
                if let Some(es) = admission::spec_of(e) {
                    let effect = Call::new(es, e);
                    crate::notify::after_write(shared, flags, &effect, db_index, None, &mut exists);
                }
            }
        }
        _ => crate::notify::after_write(
            shared,
            flags,
            call,
            db_index,
            modified.as_deref(),
            &mut exists,
        ),
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
            let expected = ks
                .blocked
                .command_of(id)
                .and_then(admission::spec_of)
                .and_then(|s| s.blocks);
            let found = ks.dbs.get_mut(db).and_then(|d| d.peek(&key, now));
            let actual = found.map(|e| e.value.type_name());
            // A waiter is only tried when the key holds the type it waits for: a key that
            // became another type (or is gone) leaves it waiting, as in Redis, unless its
            // kind of wait ends then (XREADGROUP, also when its group is gone).
            let ended = match (expected, found) {
                (Some(b), Some(e)) if Some(b.type_name()) == actual => ks
                    .blocked
                    .command_of(id)
                    .and_then(|args| b.ended_error(&e.value, args)),
                (Some(b), _) if Some(b.type_name()) != actual => b.gone_error(),
                _ => None,
            };
            if let Some(error) = ended {
                if let Some(w) = ks.blocked.remove(id) {
                    if let Some(spec) = admission::spec_of(&w.args) {
                        shared.telemetry.commands.record_call(spec, 0, true, false);
                    }
                    shared.telemetry.error_reply(error.as_bytes());
                    let mut out = Out::new(w.resp3);
                    out.error(error);
                    *w.mailbox.reply.lock() = Some(out.buf.freeze());
                    w.mailbox.wake.notify_one();
                }
                continue;
            }
            if expected.map(|b| b.type_name()) != actual {
                if actual.is_none() {
                    break;
                }
                continue;
            }
            let Some(w) = ks.blocked.remove(id) else {
                continue;
            };
            let Some(spec) = admission::spec_of(&w.args) else {
                continue;
            };
            let mut conn = Conn::new(w.handle.clone(), true);
            conn.select(w.db);
            conn.resp3 = w.resp3;
            let mut out = Out::new(w.resp3);
            let narrowed = spec.blocks.and_then(|b| b.rerun_for(&w.args, &key));
            let line = narrowed.as_deref().unwrap_or(&w.args);
            let next = run_admitted(
                shared,
                ks,
                &mut conn,
                &mut out,
                settings,
                &Call::new(spec, line),
            );
            if let Next::Block(_) = next {
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

/// Client tracking after a command: a read by a tracking client remembers its keys (not
/// the script commands themselves, whose inner reads do: see [`table::facts::RUNS_SCRIPT`];
/// nor pub/sub commands, whose "keys" are shard channels); a write invalidates the keys it
/// changed.
fn track(ks: &mut Keyspace, id: u64, call: &Call, modified: Option<&[Bytes]>, wrote: bool) {
    let spec = call.spec;
    if wrote {
        match modified {
            Some(keys) => keys.iter().for_each(|k| ks.tracking.invalidate(k, id)),
            None => call.key_args().for_each(|k| ks.tracking.invalidate(k, id)),
        }
    }
    if spec.has(flags::READONLY)
        && !spec.has(flags::PUBSUB)
        && !spec.is(table::facts::RUNS_SCRIPT)
        && ks.tracking.is_tracking(id)
    {
        ks.tracking.remember(id, call.key_args().map(|k| &k[..]));
    }
}

/// A write changed data: WATCHers of its keys (or of everything, for keyless writes such
/// as FLUSHALL) must see their EXEC fail.
fn touch_watched(ks: &mut Keyspace, db: usize, call: &Call, modified: Option<&[Bytes]>) {
    if ks.watches.is_empty() {
        return;
    }
    if let Some(keys) = modified {
        for k in keys {
            ks.watches.touch(db, k);
        }
        return;
    }
    // Flushes and SWAPDB touch exactly the watched keys they change, themselves.
    if call.keys().is_empty() && !call.spec.is(table::facts::WATCH_SELF) {
        ks.watches.touch_all();
    }
    for k in call.key_args() {
        ks.watches.touch(db, k);
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
        static FROZEN: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// Time stands still for a script (Redis 7's `commandTimeSnapshot`): every command it
    /// calls sees the instant the script started as `now`, so a key cannot expire between
    /// two of its calls and the script's effects replicate as they ran. Durations are still
    /// measured with the real clock. Ends when dropped.
    pub struct Frozen(());

    impl Frozen {
        pub fn at(now_ms: u64) -> Frozen {
            FROZEN.set(Some(now_ms));
            Frozen(())
        }
    }

    impl Drop for Frozen {
        fn drop(&mut self) {
            FROZEN.set(None);
        }
    }

    /// The script's frozen `now`, while one runs on this thread.
    #[inline]
    pub fn frozen_ms() -> Option<u64> {
        FROZEN.get()
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
