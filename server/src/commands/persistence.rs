//! Snapshot commands: SAVE and BGSAVE (LASTSAVE is with the server commands, SHUTDOWN SAVE
//! and DEBUG RELOAD with theirs). See [`crate::persistence`].

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
];

/// SAVE: the snapshot written before the reply, with the keyspace held (as Redis blocks).
fn save(ctx: &mut Ctx, _a: &[Bytes]) {
    if ctx.shared.persistence.running.load(Ordering::Acquire) {
        return ctx.err(BgsaveError::InProgress.message());
    }
    match persistence::save(ctx.shared, ctx.ks) {
        Ok(()) => ctx.out.ok(),
        Err(_) => ctx.err("ERR"),
    }
}

/// BGSAVE [SCHEDULE]: a point-in-time snapshot written in the background. As Redis's: one
/// already running is an error (even with SCHEDULE, which in Redis waits only for another
/// kind of child, an AOF rewrite, that slotcache never runs); inside EXEC the save is
/// scheduled and the snapshot cron starts it after the transaction.
fn bgsave(ctx: &mut Ctx, a: &[Bytes]) {
    match a.get(1) {
        None => {}
        Some(o) if a.len() == 2 && args::is(o, "SCHEDULE") => {}
        Some(_) => return ctx.err(errors::SYNTAX),
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
