//! Persistence commands: SAVE, BGSAVE and BGREWRITEAOF (LASTSAVE is with the server
//! commands, SHUTDOWN SAVE, DEBUG RELOAD and DEBUG LOADAOF with theirs). See
//! [`crate::persistence`] and [`crate::aof`].

use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::persistence::{self, BgsaveError};
use bytes::Bytes;
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        &[],
        save,
        "server",
        "Synchronously saves the database(s) to disk.",
    ),
    CommandSpec::new(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        &[],
        bgsave,
        "server",
        "Asynchronously saves the database(s) to disk.",
    ),
    CommandSpec::new(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        &[],
        bgrewriteaof,
        "server",
        "Asynchronously rewrites the append-only file to disk.",
    ),
];

/// The error BGSAVE gives while an AOF rewrite runs (Redis's, word for word).
const AOF_REWRITING: &str = "ERR An AOF log rewriting in progress: can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";

/// SAVE: the snapshot written before the reply, with the keyspace held (as Redis blocks).
fn save(ctx: &mut Ctx, _a: &[Bytes]) {
    // An AOF rewrite is no obstacle (Redis refuses SAVE only during an RDB child).
    if ctx.shared.persistence.running.load(Ordering::Acquire)
        && !ctx.shared.aof.rewriting.load(Ordering::Acquire)
    {
        return ctx.err(BgsaveError::InProgress.message());
    }
    match persistence::save(ctx.shared, ctx.ks) {
        Ok(()) => ctx.out.ok(),
        Err(_) => ctx.err("ERR"),
    }
}

/// BGSAVE [SCHEDULE]: a point-in-time snapshot written in the background. As Redis's: one
/// already running is an error; during an AOF rewrite it is an error too, unless SCHEDULE
/// asks for it to start when the rewrite ends; inside EXEC the save is scheduled and the
/// snapshot cron starts it after the transaction.
fn bgsave(ctx: &mut Ctx, a: &[Bytes]) {
    let schedule = match a.get(1) {
        None => false,
        Some(o) if a.len() == 2 && args::is(o, "SCHEDULE") => true,
        Some(_) => return ctx.err(errors::SYNTAX),
    };
    if ctx.shared.aof.rewriting.load(Ordering::Acquire) {
        if !schedule {
            return ctx.err(AOF_REWRITING);
        }
        ctx.shared.persistence.schedule();
        return ctx.out.simple("Background saving scheduled");
    }
    if ctx.shared.persistence.running.load(Ordering::Acquire) {
        return ctx.err(BgsaveError::InProgress.message());
    }
    if ctx.conn.in_exec {
        ctx.shared.persistence.schedule();
        return ctx.out.simple("Background saving scheduled");
    }
    let Some(shared) = ctx.shared.arc() else {
        return ctx.err(BgsaveError::Thread.message());
    };
    match persistence::bgsave(&shared) {
        Ok(()) => ctx.out.simple("Background saving started"),
        Err(e) => ctx.err(e.message()),
    }
}

/// BGREWRITEAOF: a new BASE for the AOF from a point-in-time snapshot (see
/// [`crate::aof::rewrite`]); while a BGSAVE runs, or inside EXEC, it is scheduled.
fn bgrewriteaof(ctx: &mut Ctx, _a: &[Bytes]) {
    use crate::aof::RewriteError;
    if ctx.shared.aof.rewriting.load(Ordering::Acquire) {
        return ctx.err("ERR Background append only file rewriting already in progress");
    }
    let scheduled = |ctx: &mut Ctx| {
        ctx.shared.aof.schedule();
        ctx.out
            .simple("Background append only file rewriting scheduled")
    };
    if ctx.conn.in_exec || ctx.shared.persistence.running.load(Ordering::Acquire) {
        return scheduled(ctx);
    }
    let started = match ctx.shared.arc() {
        Some(shared) => crate::aof::rewrite::start(&shared),
        None => Err(RewriteError::Failed),
    };
    match started {
        Ok(()) => ctx
            .out
            .simple("Background append only file rewriting started"),
        Err(RewriteError::Busy) => scheduled(ctx),
        Err(RewriteError::InProgress) => {
            ctx.err("ERR Background append only file rewriting already in progress")
        }
        Err(RewriteError::Failed) => ctx.err("ERR Can't execute an AOF background rewriting. Please check the server logs for more information."),
    }
}
