//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO: server-assisted client-side caching
//! (the table and its messages are [`crate::tracking`]). Options are checked in Redis's
//! order, with its error texts.

use super::{args, errors, Ctx};
use crate::tracking::Options;
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn tracking(ctx: &mut Ctx, a: &[Bytes]) {
    let mut opts = Options::default();
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        let opt = &a[j];
        if args::is(opt, "redirect") && more {
            j += 1;
            if opts.redirect != 0 {
                return ctx.err("ERR A client can only redirect to a single other client");
            }
            let Some(id) = args::int(&a[j]) else {
                return ctx.err(errors::NOT_INT);
            };
            // The client must exist now, though it may leave later (then the redirection is
            // "broken" and the tracking client is told so).
            if id <= 0 || ctx.shared.clients.get(id as u64).is_none() {
                return ctx.err("ERR The client ID you want redirect to does not exist");
            }
            opts.redirect = id as u64;
        } else if args::is(opt, "bcast") {
            opts.bcast = true;
        } else if args::is(opt, "optin") {
            opts.optin = true;
        } else if args::is(opt, "optout") {
            opts.optout = true;
        } else if args::is(opt, "noloop") {
            opts.noloop = true;
        } else if args::is(opt, "prefix") && more {
            j += 1;
            prefixes.push(a[j].to_vec());
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 1;
    }
    if args::is(&a[2], "off") {
        turn_off(ctx);
        return ctx.out.ok();
    }
    if !args::is(&a[2], "on") {
        return ctx.err(errors::SYNTAX);
    }
    let id = ctx.conn.id;
    if !opts.bcast && !prefixes.is_empty() {
        return ctx.err("ERR PREFIX option requires BCAST mode to be enabled");
    }
    let old = ctx.ks.tracking.info(id);
    if old.as_ref().is_some_and(|o| o.opts.bcast != opts.bcast) {
        return ctx.err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    if opts.bcast && (opts.optin || opts.optout) {
        return ctx.err("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if opts.optin && opts.optout {
        return ctx.err("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if old
        .as_ref()
        .is_some_and(|o| (opts.optin && o.opts.optout) || (opts.optout && o.opts.optin))
    {
        return ctx.err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    if opts.bcast {
        if let Some(e) = ctx.ks.tracking.prefix_collision(id, &prefixes) {
            return ctx.err(&format!("ERR {e}"));
        }
    }
    // Its own invalidations (RESP3) come through its push queue.
    super::pubsub::subscriber(ctx);
    ctx.conn
        .handle
        .tracking_redir
        .store(opts.redirect as i64, Ordering::Relaxed);
    ctx.ks.tracking.limits = ctx.settings.pubsub_obuf;
    ctx.ks.tracking.max_keys = ctx.settings.tracking_table_max_keys;
    ctx.ks.tracking.enable(id, opts, prefixes);
    ctx.conn.tracking = true;
    ctx.out.ok();
}

/// Turns tracking off for this connection (CLIENT TRACKING OFF, RESET).
pub fn turn_off(ctx: &mut Ctx) {
    if ctx.conn.tracking {
        ctx.ks.tracking.disable(ctx.conn.id);
        ctx.conn.tracking = false;
    }
    ctx.conn.handle.tracking_redir.store(-1, Ordering::Relaxed);
}

/// CLIENT CACHING YES|NO: whether the next command's keys are tracked (OPTIN / OPTOUT).
pub fn caching(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(info) = ctx.ks.tracking.info(ctx.conn.id) else {
        return ctx.err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    };
    if args::is(&a[2], "yes") {
        if !info.opts.optin {
            return ctx.err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
    } else if args::is(&a[2], "no") {
        if !info.opts.optout {
            return ctx.err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
    } else {
        return ctx.err(errors::SYNTAX);
    }
    ctx.ks.tracking.set_caching(ctx.conn.id);
    ctx.out.ok();
}

/// CLIENT GETREDIR: the redirect client, 0 when tracking without one, -1 when not tracking.
pub fn getredir(ctx: &mut Ctx, _a: &[Bytes]) {
    let v = match ctx.ks.tracking.info(ctx.conn.id) {
        Some(i) => i.opts.redirect as i64,
        None => -1,
    };
    ctx.out.int(v);
}

/// CLIENT TRACKINGINFO: flags (a set), redirect and prefixes, as Redis reports them.
pub fn trackinginfo(ctx: &mut Ctx, _a: &[Bytes]) {
    let info = ctx.ks.tracking.info(ctx.conn.id);
    let mut flags: Vec<&str> = Vec::new();
    match &info {
        None => flags.push("off"),
        Some(i) => {
            flags.push("on");
            if i.opts.bcast {
                flags.push("bcast");
            }
            if i.opts.optin {
                flags.push("optin");
                if i.caching {
                    flags.push("caching-yes");
                }
            }
            if i.opts.optout {
                flags.push("optout");
                if i.caching {
                    flags.push("caching-no");
                }
            }
            if i.opts.noloop {
                flags.push("noloop");
            }
            if i.broken {
                flags.push("broken_redirect");
            }
        }
    }
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"redirect");
    ctx.out
        .int(info.as_ref().map_or(-1, |i| i.opts.redirect as i64));
    ctx.out.bulk(b"prefixes");
    let prefixes = info.map(|i| i.prefixes).unwrap_or_default();
    ctx.out.array(prefixes.len());
    for p in prefixes {
        ctx.out.bulk(&p);
    }
}
