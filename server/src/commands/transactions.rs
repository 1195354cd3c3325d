//! MULTI / EXEC / DISCARD / WATCH / UNWATCH.
//!
//! Queued commands run inside EXEC with the keyspace lock held throughout, so no other
//! client's command runs in between. WATCH uses per-key modification versions kept only
//! for watched keys (see [`crate::dataset::Watches`]): a write to a watched key, a flush,
//! or the key expiring makes EXEC return a null reply.

use super::keyspec::{self as ks, key_flags::*};
use super::table::facts;
use super::table::{flags::*, CommandSpec};
use super::Ctx;
use crate::session::{Multi, Watched};
use bytes::Bytes;

const TX: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "multi",
        1,
        TX,
        &[],
        multi,
        "transactions",
        "Starts a transaction.",
    )
    .facts(facts::TX_CONTROL),
    CommandSpec::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        &[],
        exec,
        "transactions",
        "Executes all commands in a transaction.",
    )
    .facts(facts::EXEC | facts::TX_CONTROL),
    CommandSpec::new(
        "discard",
        1,
        TX,
        &[],
        discard,
        "transactions",
        "Discards a transaction.",
    )
    .facts(facts::TX_CONTROL),
    CommandSpec::new(
        "watch",
        -2,
        TX,
        &[ks::range(1, -1, 1, RO)],
        watch,
        "transactions",
        "Monitors changes to keys to determine the execution of a transaction.",
    )
    .facts(facts::TX_CONTROL),
    CommandSpec::new(
        "unwatch",
        1,
        TX,
        &[],
        unwatch,
        "transactions",
        "Forgets about watched keys of a transaction.",
    ),
];

fn multi(ctx: &mut Ctx, _a: &[Bytes]) {
    if ctx.conn.multi.is_some() {
        return ctx.err("ERR MULTI calls can not be nested");
    }
    ctx.conn.multi = Some(Multi::default());
    ctx.out.ok();
}

fn discard(ctx: &mut Ctx, _a: &[Bytes]) {
    if ctx.conn.multi.take().is_none() {
        return ctx.err("ERR DISCARD without MULTI");
    }
    unwatch_all(ctx);
    ctx.out.ok();
}

/// Forgets every key this connection watches.
pub fn unwatch_all(ctx: &mut Ctx) {
    for w in std::mem::take(&mut ctx.conn.watched) {
        ctx.ks.watches.release(w.db, &w.key);
    }
}

fn watch(ctx: &mut Ctx, a: &[Bytes]) {
    if ctx.conn.multi.is_some() {
        return ctx.err("ERR WATCH inside MULTI is not allowed");
    }
    let db = ctx.conn.db;
    let now = ctx.now;
    // Keys this connection watches in this db, as a set: WATCH of many keys stays linear.
    let mut watching: std::collections::HashSet<Vec<u8>> = ctx
        .conn
        .watched
        .iter()
        .filter(|w| w.db == db)
        .map(|w| w.key.clone())
        .collect();
    for key in &a[1..] {
        if !watching.insert(key.to_vec()) {
            continue;
        }
        let version = ctx.ks.watches.watch(db, key);
        let existed = ctx.ks.dbs[db].peek_ref(key, now).is_some();
        ctx.conn.watched.push(Watched {
            db,
            key: key.to_vec(),
            version,
            existed,
        });
    }
    ctx.out.ok();
}

fn unwatch(ctx: &mut Ctx, _a: &[Bytes]) {
    unwatch_all(ctx);
    ctx.out.ok();
}

/// Whether any watched key changed (written, flushed, or gone since WATCH).
fn watched_touched(ctx: &Ctx) -> bool {
    ctx.conn.watched.iter().any(|w| {
        ctx.ks.watches.version(w.db, &w.key) != w.version
            || (w.existed && ctx.ks.dbs[w.db].peek_ref(&w.key, ctx.now).is_none())
    })
}

fn exec(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(m) = ctx.conn.multi.take() else {
        return ctx.err("ERR EXEC without MULTI");
    };
    if m.failed {
        unwatch_all(ctx);
        return ctx.err("EXECABORT Transaction discarded because of previous errors.");
    }
    if watched_touched(ctx) {
        unwatch_all(ctx);
        return ctx.out.null_array();
    }
    unwatch_all(ctx);
    // Admission routed the transaction as a whole (one slot, served here) before this ran.
    ctx.out.array(m.queued.len());
    ctx.conn.in_exec = true;
    ctx.ks.repl.begin_tx();
    for args in &m.queued {
        let next = crate::dispatch::execute_queued(
            ctx.shared,
            ctx.ks,
            ctx.conn,
            ctx.out,
            ctx.settings,
            args,
        );
        // A queued CLIENT KILL of this very client, or its first SUBSCRIBE, takes effect
        // once EXEC has answered; nothing inside EXEC blocks or waits.
        ctx.then(next);
    }
    ctx.ks.repl.end_tx(&ctx.ks.dbs, ctx.now);
    ctx.conn.in_exec = false;
}
