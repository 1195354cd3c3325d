//! FUNCTION (LOAD, LIST, DELETE, FLUSH, DUMP, RESTORE, STATS, KILL, HELP), FCALL and
//! FCALL_RO: libraries of Lua functions (see [`crate::scripting::functions`]).
//!
//! FUNCTION LOAD, DELETE, FLUSH and RESTORE are writes: they reach replicas as sent.

use super::keyspec::{self as ks, key_flags::*};
use super::scripting::run_script;
use super::table::{facts, flags::*, CommandSpec};
use super::{args, errors, reply_help, Ctx};
use crate::keyspace_events::Events;
use crate::scripting::engine::Target;
use bytes::Bytes;

const FCALL: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "fcall",
        -3,
        FCALL,
        &[ks::keynum(2, 0, 1, 1, RW | ACCESS | UPDATE).notes(
            "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
        )],
        fcall,
        "scripting",
        "Invokes a function.",
    )
    .events(Events::None)
    .facts(facts::RUNS_SCRIPT),
    CommandSpec::new(
        "fcall_ro",
        -3,
        READONLY | FCALL,
        &[ks::keynum(2, 0, 1, 1, RO | ACCESS).notes(
            "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
        )],
        fcall_ro,
        "scripting",
        "Invokes a read-only function.",
    )
    .events(Events::None)
    .facts(facts::RUNS_SCRIPT),
    CommandSpec::container(
        "function",
        -2,
        super::unknown_sub,
        "scripting",
        "A container for function commands.",
        FUNCTION_SUBCOMMANDS,
    ),
];

static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "delete",
        3,
        WRITE | NOSCRIPT,
        &[],
        delete,
        "scripting",
        "Deletes a library and its functions.",
    )
    .events(Events::None),
    CommandSpec::new(
        "dump",
        2,
        NOSCRIPT,
        &[],
        dump,
        "scripting",
        "Dumps all libraries into a serialized binary payload.",
    ),
    CommandSpec::new(
        "flush",
        -2,
        WRITE | NOSCRIPT,
        &[],
        flush,
        "scripting",
        "Deletes all libraries and functions.",
    )
    .events(Events::None),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        help,
        "scripting",
        "Returns helpful text about the different subcommands.",
    ),
    CommandSpec::new(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        &[],
        kill,
        "scripting",
        "Terminates a function during execution.",
    )
    .facts(facts::KILLS_FUNCTION),
    CommandSpec::new(
        "list",
        -2,
        NOSCRIPT,
        &[],
        list,
        "scripting",
        "Returns information about all libraries.",
    ),
    CommandSpec::new(
        "load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        &[],
        load,
        "scripting",
        "Creates a library.",
    )
    .events(Events::None),
    CommandSpec::new(
        "restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        &[],
        restore,
        "scripting",
        "Restores all libraries from a payload.",
    )
    .events(Events::None),
    CommandSpec::new(
        "stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        &[],
        stats,
        "scripting",
        "Returns information about a function during execution.",
    )
    .facts(facts::STATS_WHILE_BUSY),
];

fn fcall(ctx: &mut Ctx, a: &[Bytes]) {
    fcall_generic(ctx, a, false)
}

fn fcall_ro(ctx: &mut Ctx, a: &[Bytes]) {
    fcall_generic(ctx, a, true)
}

fn fcall_generic(ctx: &mut Ctx, a: &[Bytes], ro: bool) {
    let Some(numkeys) = args::int(&a[2]) else {
        return ctx.err("ERR Bad number of keys provided");
    };
    let name = String::from_utf8_lossy(&a[1]).into_owned();
    run_script(ctx, a, numkeys, ro, Target::Function(name));
}

/// A library's load changes data the way Redis counts it (replicated, not a key write).
fn changed(ctx: &mut Ctx) {
    let (libs, funcs) = ctx.shared.scripts.lock().functions.counts();
    let busy = &ctx.shared.script_busy;
    busy.libraries
        .store(libs as u64, std::sync::atomic::Ordering::Relaxed);
    busy.functions
        .store(funcs as u64, std::sync::atomic::Ordering::Relaxed);
    ctx.dirty(1);
    ctx.modified_only(Vec::new());
}

fn load(ctx: &mut Ctx, a: &[Bytes]) {
    let (replace, code) = match a.len() {
        3 => (false, &a[2]),
        4 if args::is(&a[2], "replace") => (true, &a[3]),
        _ => {
            let bad = String::from_utf8_lossy(&a[2]).into_owned();
            return ctx.err(&format!("ERR Unknown option given: {bad}"));
        }
    };
    let mut engine = super::scripting::engine(ctx.shared, ctx.settings);
    let loaded = engine.functions.load(code, replace);
    engine.publish();
    drop(engine);
    match loaded {
        Ok(name) => {
            changed(ctx);
            ctx.out.bulk(name.as_bytes())
        }
        Err(e) => ctx.err(&e),
    }
}

fn delete(ctx: &mut Ctx, a: &[Bytes]) {
    let name = String::from_utf8_lossy(&a[2]).into_owned();
    let mut engine = ctx.shared.scripts.lock();
    let deleted = engine.functions.delete(&name);
    engine.publish();
    drop(engine);
    if !deleted {
        return ctx.err("ERR Library not found");
    }
    changed(ctx);
    ctx.out.ok();
}

fn flush(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() > 3 {
        return ctx.err(&errors::unknown_subcommand(b"flush", "function").replace(
            "unknown subcommand 'flush'.",
            "unknown subcommand or wrong number of arguments for 'flush'.",
        ));
    }
    if a.len() == 3 && !args::is(&a[2], "sync") && !args::is(&a[2], "async") {
        return ctx.err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    let mut engine = ctx.shared.scripts.lock();
    engine.functions.flush();
    engine.publish();
    drop(engine);
    changed(ctx);
    ctx.out.ok();
}

fn kill(ctx: &mut Ctx, _a: &[Bytes]) {
    ctx.err(crate::scripting::busy::NOTBUSY);
}

fn stats(ctx: &mut Ctx, _a: &[Bytes]) {
    write_stats(ctx.out, &ctx.shared.script_busy);
}

/// FUNCTION STATS's reply, from what is readable while a function runs.
pub fn write_stats(out: &mut crate::protocol::Out, busy: &crate::scripting::busy::Busy) {
    use std::sync::atomic::Ordering;
    let libs = busy.libraries.load(Ordering::Relaxed);
    let funcs = busy.functions.load(Ordering::Relaxed);
    out.map(2);
    out.bulk(b"running_script");
    match busy.running_script() {
        Some((name, cmd, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.bulks(cmd.iter());
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
        None => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
}

fn list(ctx: &mut Ctx, a: &[Bytes]) {
    let mut pattern: Option<&Bytes> = None;
    let mut withcode = false;
    let mut i = 2;
    while i < a.len() {
        if args::is(&a[i], "withcode") && !withcode {
            withcode = true;
            i += 1;
        } else if args::is(&a[i], "libraryname") && pattern.is_none() {
            let Some(p) = a.get(i + 1) else {
                return ctx.err("ERR library name argument was not given");
            };
            pattern = Some(p);
            i += 2;
        } else {
            let bad = String::from_utf8_lossy(&a[i]).into_owned();
            return ctx.err(&format!("ERR Unknown argument {bad}"));
        }
    }
    let engine = ctx.shared.scripts.lock();
    let libs: Vec<_> = engine
        .functions
        .libraries()
        .filter(|l| {
            pattern.is_none_or(|p| crate::glob::Glob::new(p, false).matches(l.name.as_bytes()))
        })
        .collect();
    let out = &mut *ctx.out;
    out.array(libs.len());
    for lib in libs {
        out.map(if withcode { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in lib.functions.values() {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            out.set(f.flag_names.len());
            for n in &f.flag_names {
                out.bulk(n.as_bytes());
            }
        }
        if withcode {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
}

fn dump(ctx: &mut Ctx, _a: &[Bytes]) {
    let codes = library_codes(ctx.shared);
    ctx.out.bulk(&crate::rdb::functions::dump(&codes));
}

/// The libraries' code, copied out so the engine's lock is not held while it is encoded.
fn library_codes(shared: &crate::state::Shared) -> Vec<Bytes> {
    let engine = shared.scripts.lock();
    engine
        .functions
        .libraries()
        .map(|l| l.code.clone())
        .collect()
}

/// What a replica's full sync carries of the libraries: FUNCTION RESTORE of them all with
/// FLUSH (what the replica had is replaced, as when Redis loads an RDB), or FUNCTION FLUSH
/// when there are none.
pub fn sync_command(shared: &crate::state::Shared) -> Vec<Bytes> {
    let codes = library_codes(shared);
    if codes.is_empty() {
        return vec![
            Bytes::from_static(b"FUNCTION"),
            Bytes::from_static(b"FLUSH"),
        ];
    }
    vec![
        Bytes::from_static(b"FUNCTION"),
        Bytes::from_static(b"RESTORE"),
        Bytes::from(crate::rdb::functions::dump(&codes)),
        Bytes::from_static(b"FLUSH"),
    ]
}

fn restore(ctx: &mut Ctx, a: &[Bytes]) {
    let policy = match a.get(3) {
        None => "append".to_string(),
        Some(p) if a.len() == 4 => crate::util::lower(p),
        Some(_) => return ctx.err(
            "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP.",
        ),
    };
    if !matches!(policy.as_str(), "append" | "replace" | "flush") {
        return ctx.err(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
        );
    }
    let Some(codes) = crate::rdb::functions::restore(&a[2]) else {
        return ctx.err(crate::rdb::payload::Refused::VersionOrChecksum.message());
    };
    let mut engine = super::scripting::engine(ctx.shared, ctx.settings);
    let result = engine.functions.restore(&codes, &policy);
    engine.publish();
    drop(engine);
    match result {
        Ok(()) => {
            changed(ctx);
            ctx.out.ok()
        }
        Err(e) => ctx.err(&e),
    }
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    reply_help(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
}
