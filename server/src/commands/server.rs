//! Server commands: FLUSHALL, FLUSHDB, TIME, LASTSAVE, SHUTDOWN.

use super::table::facts;
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace_events::Events;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "flushall",
        -1,
        WRITE,
        &[],
        flushall,
        "server",
        "Removes all keys from all databases.",
    )
    .facts(facts::WATCH_SELF)
    .events(Events::None),
    CommandSpec::new(
        "flushdb",
        -1,
        WRITE,
        &[],
        flushdb,
        "server",
        "Remove all keys from the current database.",
    )
    .facts(facts::WATCH_SELF)
    .events(Events::None),
    CommandSpec::new(
        "time",
        1,
        LOADING | STALE | FAST,
        &[],
        time,
        "server",
        "Returns the server time.",
    ),
    CommandSpec::new(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        &[],
        lastsave,
        "server",
        "Returns the Unix timestamp of the last successful save to disk.",
    ),
    CommandSpec::new(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        &[],
        shutdown,
        "server",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
    )
    .facts(facts::SHUTS_DOWN),
];

/// `SYNC` / `ASYNC` (or nothing): whether to free the old data off the command path.
fn flush_mode(ctx: &mut Ctx, a: &[Bytes]) -> Option<bool> {
    match a.get(1) {
        None => Some(false),
        Some(m) if a.len() == 2 && args::is(m, "ASYNC") => Some(true),
        Some(m) if a.len() == 2 && args::is(m, "SYNC") => Some(false),
        Some(_) => {
            ctx.err(errors::SYNTAX);
            None
        }
    }
}

/// Drops a detached database, on another thread when asked to (large datasets take a while
/// to free and the keyspace lock is held meanwhile otherwise).
/// Keys handed to a lazyfree thread and not yet freed, and all it freed (INFO memory's
/// lazyfree_pending_objects and lazyfreed_objects).
static LAZYFREE_PENDING: AtomicU64 = AtomicU64::new(0);
static LAZYFREED: AtomicU64 = AtomicU64::new(0);

pub fn lazyfree_figures() -> (u64, u64) {
    (
        LAZYFREE_PENDING.load(Ordering::Relaxed),
        LAZYFREED.load(Ordering::Relaxed),
    )
}

/// CONFIG RESETSTAT zeroes the freed count (Redis's `lazyfreeResetStats`); the pending
/// count is work in progress, not a statistic, and stays.
pub fn lazyfree_reset_stats() {
    LAZYFREED.store(0, Ordering::Relaxed);
}

fn dispose(old: Vec<crate::keyspace::Db>, lazy: bool) {
    if lazy {
        let n: u64 = old.iter().map(|d| d.len() as u64).sum();
        LAZYFREE_PENDING.fetch_add(n, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                drop(old);
                LAZYFREE_PENDING.fetch_sub(n, Ordering::Relaxed);
                LAZYFREED.fetch_add(n, Ordering::Relaxed);
            });
        if let Err(e) = spawned {
            tracing::warn!("could not start a lazyfree thread ({e}); freeing inline");
            LAZYFREE_PENDING.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

fn flushall(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(lazy) = flush_mode(ctx, a) else {
        return;
    };
    let now = ctx.now;
    for i in 0..ctx.ks.dbs.len() {
        ctx.ks.watches.touch_db(&ctx.ks.dbs, i, None, now);
    }
    // Tracking clients drop every key they cached (keys are tracked by name, whatever the
    // database, so FLUSHDB does the same).
    ctx.ks.tracking.invalidate_all();
    let mut old = Vec::new();
    let mut n = 0;
    for db in ctx.ks.dbs.iter_mut() {
        n += db.len() as u64;
        old.push(db.take());
    }
    dispose(old, lazy);
    // Waiters that end when their key goes (XREADGROUP) learn it now.
    for i in 0..ctx.ks.dbs.len() {
        ctx.ks.blocked.mark_db_ready(i);
    }
    ctx.dirty(n.max(1));
    ctx.out.ok();
}

fn flushdb(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(lazy) = flush_mode(ctx, a) else {
        return;
    };
    let (i, now) = (ctx.conn.db, ctx.now);
    ctx.ks.watches.touch_db(&ctx.ks.dbs, i, None, now);
    ctx.ks.tracking.invalidate_all();
    let db = ctx.db();
    let n = db.len() as u64;
    let old = db.take();
    dispose(vec![old], lazy);
    ctx.ks.blocked.mark_db_ready(i);
    ctx.dirty(n.max(1));
    ctx.out.ok();
}

fn time(ctx: &mut Ctx, _a: &[Bytes]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
}

fn lastsave(ctx: &mut Ctx, _a: &[Bytes]) {
    let t = ctx
        .shared
        .last_save_unix
        .load(std::sync::atomic::Ordering::Relaxed);
    ctx.out.int(t as i64);
}

fn shutdown(ctx: &mut Ctx, a: &[Bytes]) {
    let (mut abort, mut nosave, mut save, mut force) = (false, false, false, false);
    for opt in &a[1..] {
        let o = crate::util::lower(opt);
        match o.as_str() {
            "nosave" => nosave = true,
            "save" => save = true,
            "force" => force = true,
            "now" => {}
            "abort" => abort = true,
            _ => return ctx.err(errors::SYNTAX),
        }
    }
    if nosave && save {
        return ctx.err(errors::SYNTAX);
    }
    if abort {
        return ctx.err("ERR No shutdown in progress.");
    }
    tracing::info!("User requested shutdown...");
    // As Redis's `prepareForShutdown`: a snapshot when asked for, or when save points are
    // configured and NOSAVE was not given; a failed one keeps the server up unless FORCE.
    if save || (!nosave && !ctx.settings.save_rules.is_empty()) {
        tracing::info!("Saving the final RDB snapshot before exiting.");
        if crate::persistence::save(ctx.shared, ctx.ks).is_err() && !force {
            tracing::warn!("Error trying to save the DB, can't exit.");
            return ctx.err("ERR Errors trying to SHUTDOWN. Check logs.");
        }
    }
    ctx.then(crate::flow::Next::Shutdown);
}
