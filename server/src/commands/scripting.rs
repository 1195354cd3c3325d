//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT: Lua scripts run as one command (see
//! [`crate::scripting`] for the engine).
//!
//! A script's writes reach replicas as the commands it ran (Redis 7's effects replication),
//! gathered like EXEC's and sent inside MULTI/EXEC when there are several; EVAL itself is
//! never propagated.

use super::keyspec::{self as ks, key_flags::*};
use super::table::{facts, flags::*, CommandSpec};
use super::{args, errors, reply_help, Ctx};
use crate::admission::{live::Live, Node, Role};
use crate::keyspace_events::Events;
use crate::scripting::call::{Policy, Run};
use crate::scripting::engine::Target;
use crate::scripting::shebang::Flags;
use bytes::Bytes;

const EVAL: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "eval",
        -3,
        EVAL,
        &[ks::keynum(2, 0, 1, 1, RW | ACCESS | UPDATE).notes(
            "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
        )],
        eval,
        "scripting",
        "Executes a server-side Lua script.",
    )
    .events(Events::None)
    .facts(facts::RUNS_SCRIPT),
    CommandSpec::new(
        "evalsha",
        -3,
        EVAL,
        &[ks::keynum(2, 0, 1, 1, RW | ACCESS | UPDATE)],
        evalsha,
        "scripting",
        "Executes a server-side Lua script by SHA1 digest.",
    )
    .events(Events::None)
    .facts(facts::RUNS_SCRIPT),
    CommandSpec::new(
        "eval_ro",
        -3,
        READONLY | EVAL,
        &[ks::keynum(2, 0, 1, 1, RO | ACCESS).notes(
            "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
        )],
        eval_ro,
        "scripting",
        "Executes a read-only server-side Lua script.",
    )
    .events(Events::None)
    .facts(facts::RUNS_SCRIPT),
    CommandSpec::new(
        "evalsha_ro",
        -3,
        READONLY | EVAL,
        &[ks::keynum(2, 0, 1, 1, RO | ACCESS)],
        evalsha_ro,
        "scripting",
        "Executes a read-only server-side Lua script by SHA1 digest.",
    )
    .events(Events::None)
    .facts(facts::RUNS_SCRIPT),
    CommandSpec::container(
        "script",
        -2,
        super::unknown_sub,
        "scripting",
        "A container for Lua scripts management commands.",
        SCRIPT_SUBCOMMANDS,
    ),
];

static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "debug",
        3,
        NOSCRIPT,
        &[],
        script_debug,
        "scripting",
        "Sets the debug mode of server-side Lua scripts.",
    ),
    CommandSpec::new(
        "exists",
        -3,
        NOSCRIPT,
        &[],
        script_exists,
        "scripting",
        "Determines whether server-side Lua scripts exist in the script cache.",
    ),
    CommandSpec::new(
        "flush",
        -2,
        NOSCRIPT,
        &[],
        script_flush,
        "scripting",
        "Removes all server-side Lua scripts from the script cache.",
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        script_help,
        "scripting",
        "Returns helpful text about the different subcommands.",
    ),
    CommandSpec::new(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        &[],
        script_kill,
        "scripting",
        "Terminates a server-side Lua script during execution.",
    )
    .facts(facts::KILLS_SCRIPT),
    CommandSpec::new(
        "load",
        3,
        NOSCRIPT | STALE,
        &[],
        script_load,
        "scripting",
        "Loads a server-side Lua script to the script cache.",
    ),
];

fn eval(ctx: &mut Ctx, a: &[Bytes]) {
    eval_generic(ctx, a, false, false)
}

fn evalsha(ctx: &mut Ctx, a: &[Bytes]) {
    eval_generic(ctx, a, false, true)
}

fn eval_ro(ctx: &mut Ctx, a: &[Bytes]) {
    eval_generic(ctx, a, true, false)
}

fn evalsha_ro(ctx: &mut Ctx, a: &[Bytes]) {
    eval_generic(ctx, a, true, true)
}

const NOSCRIPT_ERR: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// Redis's `evalGenericCommand`: finds (or compiles) the script, then runs it.
fn eval_generic(ctx: &mut Ctx, a: &[Bytes], ro: bool, by_sha: bool) {
    let Some(numkeys) = args::int(&a[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    if let Err(e) = keys_count(numkeys, a.len()) {
        return ctx.err(e);
    }
    let sha = if by_sha {
        // An unknown SHA1 is answered NOSCRIPT by `run_script`.
        if a[1].len() != 40 {
            return ctx.err(NOSCRIPT_ERR);
        }
        crate::util::lower(&a[1])
    } else {
        let created = engine(ctx.shared, ctx.settings).create(&a[1]);
        match created {
            Ok(sha) => sha,
            Err(e) => return ctx.err(&e),
        }
    };
    run_script(ctx, a, numkeys, ro, Target::Script(sha));
}

/// The checks of EVAL's and FCALL's `numkeys`.
fn keys_count(numkeys: i64, argc: usize) -> Result<(), &'static str> {
    if numkeys > (argc - 3) as i64 {
        return Err("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Err("ERR Number of keys can't be negative");
    }
    Ok(())
}

/// Runs a cached script or a library function for EVAL* / FCALL*: checks what its flags
/// allow, then runs it with its effects gathered as one transaction.
pub fn run_script(ctx: &mut Ctx, a: &[Bytes], numkeys: i64, ro: bool, target: Target) {
    let shared = ctx.shared;
    let mut engine = engine(shared, ctx.settings);
    let flags = match &target {
        Target::Script(sha) => engine.get(sha).map(|s| s.flags),
        Target::Function(name) => engine.functions.function(name).map(|f| f.flags),
    };
    let Some(flags) = flags else {
        return ctx.err(match target {
            Target::Script(_) => NOSCRIPT_ERR,
            Target::Function(_) => "ERR Function not found",
        });
    };
    if let Err(e) = keys_count(numkeys, a.len()) {
        return ctx.err(e);
    }
    let n = numkeys as usize;
    let (keys, argv) = (&a[3..3 + n], &a[3 + n..]);
    if let Err(e) = prepare(ctx, flags, ro) {
        return ctx.err(&e);
    }
    let policy = Policy {
        read_only: ro || (!flags.compat && flags.no_writes),
        allow_oom: !flags.compat && flags.allow_oom,
        allow_cross_slot: flags.compat || flags.allow_cross_slot_keys,
    };
    let oom =
        ctx.settings.maxmemory > 0 && crate::eviction::still_over(shared, ctx.ks, ctx.settings);
    let slot = match (shared.cluster.get(), keys.first()) {
        (Some(_), Some(k)) => Some(crate::keyspace::slot::key_slot(k)),
        _ => None,
    };
    // Inside EXEC the transaction already gathers the effects.
    let own_tx = !ctx.ks.repl.in_tx();
    if own_tx {
        ctx.ks.repl.begin_tx();
    }
    let mut run = Run::new(shared, ctx.ks, ctx.settings, ctx.conn, policy, oom, slot);
    if let Target::Function(name) = &target {
        shared.script_busy.running(name.clone(), a);
    }
    let frozen = crate::dispatch::batch_clock::Frozen::at(ctx.now);
    let outcome = engine.run(&target, &mut run, keys, argv, ctx.out);
    drop(frozen);
    ctx.error_counted = outcome.error_counted;
    let woff = run.conn.woff;
    drop(run);
    drop(engine);
    if own_tx {
        ctx.ks.repl.end_tx(&ctx.ks.dbs, ctx.now);
    }
    ctx.conn.woff = ctx.conn.woff.max(woff);
    // The commands the script ran were replicated, notified and accounted for themselves.
    ctx.propagate_as(Vec::new());
    ctx.modified_only(Vec::new());
}

/// Redis's `scriptPrepareForRun` checks of the node's state against the script's flags.
fn prepare(ctx: &mut Ctx, flags: Flags, ro: bool) -> Result<(), String> {
    let settings = ctx.settings;
    let mut node = Live {
        shared: ctx.shared,
        ks: ctx.ks,
        settings,
    };
    let role = node.role();
    let stale = role == (Role::Replica { link_up: false }) && !settings.replica_serve_stale_data;
    if flags.compat {
        if stale {
            return Err(crate::admission::Rejection::MasterDown.message());
        }
        return Ok(());
    }
    if flags.no_cluster && ctx.shared.cluster.get().is_some() {
        return Err("ERR Can not run script on cluster, 'no-cluster' flag is set.".into());
    }
    if !flags.allow_oom && !flags.no_writes && settings.maxmemory > 0 && node.out_of_memory() {
        return Err("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into());
    }
    if stale && !flags.allow_stale {
        return Err("MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script.".into());
    }
    if !flags.no_writes {
        if matches!(role, Role::Replica { .. }) && settings.replica_read_only {
            return Err("READONLY Can not run script with write flag on readonly replica".into());
        }
        if ro {
            return Err("ERR Can not execute a script with write flag using *_ro command.".into());
        }
        if role == Role::Primary
            && settings.min_replicas_to_write > 0
            && node.good_replicas(settings) < settings.min_replicas_to_write
        {
            return Err(crate::admission::Rejection::NoReplicas.message());
        }
    }
    Ok(())
}

/// The scripting engine, locked, following `lua-memory-limit`.
pub fn engine<'a>(
    shared: &'a crate::state::Shared,
    settings: &crate::config::Settings,
) -> parking_lot::MutexGuard<'a, crate::scripting::Engine> {
    let mut engine = shared.scripts.lock();
    engine.configure(settings);
    engine
}

fn script_load(ctx: &mut Ctx, a: &[Bytes]) {
    let created = engine(ctx.shared, ctx.settings).create(&a[2]);
    match created {
        Ok(sha) => ctx.out.bulk(sha.as_bytes()),
        Err(e) => ctx.err(&e),
    }
}

fn script_exists(ctx: &mut Ctx, a: &[Bytes]) {
    let engine = ctx.shared.scripts.lock();
    let found: Vec<bool> = a[2..]
        .iter()
        .map(|s| engine.exists(&crate::util::lower(s)))
        .collect();
    drop(engine);
    ctx.out.array(found.len());
    for f in found {
        ctx.out.int(f as i64);
    }
}

fn script_flush(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() > 3 || (a.len() == 3 && !args::is(&a[2], "sync") && !args::is(&a[2], "async")) {
        return ctx.err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    ctx.shared.scripts.lock().flush();
    ctx.out.ok();
}

fn script_kill(ctx: &mut Ctx, _a: &[Bytes]) {
    // Admitted under the keyspace lock: no script runs now (a running one is killed from
    // `admission::while_busy`, without the lock).
    ctx.err(crate::scripting::busy::NOTBUSY);
}

fn script_debug(ctx: &mut Ctx, a: &[Bytes]) {
    if args::is(&a[2], "no") {
        return ctx.out.ok();
    }
    if args::is(&a[2], "yes") || args::is(&a[2], "sync") {
        return ctx.err("ERR The Lua debugger is not supported by this server");
    }
    ctx.err("ERR Use SCRIPT DEBUG YES/SYNC/NO");
}

fn script_help(ctx: &mut Ctx, _a: &[Bytes]) {
    reply_help(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
}
