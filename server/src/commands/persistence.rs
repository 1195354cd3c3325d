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

/// BGSAVE [SCHEDULE]: a point-in-time snapshot written in the background.
fn bgsave(ctx: &mut Ctx, a: &[Bytes]) {
    let schedule = match a.get(1) {
        None => false,
        Some(o) if a.len() == 2 && args::is(o, "SCHEDULE") => true,
        Some(_) => return ctx.err(errors::SYNTAX),
    };
    let Some(shared) = ctx.shared.arc() else {
        return ctx.err(BgsaveError::Thread.message());
    };
    match persistence::bgsave(&shared) {
        Ok(()) => ctx.out.simple("Background saving started"),
        Err(BgsaveError::InProgress) if schedule => {
            shared.persistence.schedule();
            ctx.out.simple("Background saving scheduled");
        }
        Err(e) => ctx.err(e.message()),
    }
}
