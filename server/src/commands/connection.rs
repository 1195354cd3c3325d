//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, AUTH, RESET.

use super::table::facts;
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::session::ReplyMode;
use bytes::Bytes;
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "ping",
        -1,
        // Not STALE: Redis refuses PING on a replica serving no stale data (MASTERDOWN).
        FAST,
        &[],
        ping,
        "connection",
        "Returns the server's liveliness response.",
    )
    .facts(facts::SUBSCRIBED_OK | facts::PROBES_WRITABLE),
    CommandSpec::new(
        "echo",
        2,
        FAST | LOADING | STALE,
        &[],
        echo,
        "connection",
        "Returns the given string.",
    ),
    CommandSpec::new(
        "quit",
        -1,
        ALLOW_BUSY | NO_AUTH | FAST | STALE | LOADING | NOSCRIPT,
        &[],
        quit,
        "connection",
        "Closes the connection.",
    )
    .facts(facts::TX_CONTROL | facts::SUBSCRIBED_OK),
    CommandSpec::new(
        "select",
        2,
        LOADING | STALE | FAST,
        &[],
        select,
        "connection",
        "Changes the selected database.",
    ),
    CommandSpec::new(
        "hello",
        -1,
        NO_AUTH | FAST | STALE | LOADING | NOSCRIPT | ALLOW_BUSY,
        &[],
        hello,
        "connection",
        "Handshakes with the Redis server.",
    )
    .secrets(hello_secrets),
    CommandSpec::new(
        "auth",
        -2,
        NO_AUTH | FAST | STALE | LOADING | NOSCRIPT | ALLOW_BUSY,
        &[],
        auth,
        "connection",
        "Authenticates the connection.",
    )
    .secrets(auth_secrets),
    CommandSpec::new(
        "reset",
        1,
        NO_AUTH | FAST | STALE | LOADING | NOSCRIPT | ALLOW_BUSY,
        &[],
        reset,
        "connection",
        "Resets the connection.",
    )
    .facts(facts::TX_CONTROL | facts::SUBSCRIBED_OK),
];

fn ping(ctx: &mut Ctx, a: &[Bytes]) {
    // A RESP2 connection in subscribed mode gets PING's answer in message shape.
    if !ctx.conn.resp3 && ctx.conn.subs.total() > 0 {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(a.get(1).map_or(&b""[..], |b| b.as_ref()));
        return;
    }
    match a.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(&a[1]),
        _ => ctx.err(&errors::arity("ping")),
    }
}

fn echo(ctx: &mut Ctx, a: &[Bytes]) {
    ctx.out.bulk(&a[1]);
}

fn quit(ctx: &mut Ctx, _a: &[Bytes]) {
    ctx.out.ok();
    ctx.then(crate::flow::Next::Close);
}

fn select(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(i) = args::int(&a[1]) else {
        return ctx.err(errors::NOT_INT);
    };
    if ctx.settings.single_cluster_db() && i != 0 {
        return ctx.err("ERR SELECT is not allowed in cluster mode");
    }
    if i < 0 || i as usize >= ctx.settings.selectable_dbs().min(ctx.ks.dbs.len()) {
        return ctx.err(errors::DB_INDEX);
    }
    ctx.conn.select(i as usize);
    ctx.out.ok();
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Logs the connection in as `user` with `pass` (Redis's `ACLAuthenticateUser`); a failure
/// is written to the ACL log, its object the command as the client typed it.
fn authenticate(ctx: &mut Ctx, cmd: &[u8], user: &[u8], pass: &[u8]) -> bool {
    match ctx.shared.acl.authenticate(user, pass) {
        Some(u) => {
            ctx.conn.login(u);
            true
        }
        None => {
            let context = if ctx.conn.multi.is_some() {
                crate::acl::log::Context::Multi
            } else {
                crate::acl::log::Context::Toplevel
            };
            ctx.shared.acl.log_denial(crate::acl::log::Entry {
                count: 1,
                reason: crate::acl::Reason::Auth,
                context,
                object: cmd.to_vec(),
                username: user.to_vec(),
                ctime_ms: crate::util::now_ms(),
                client_info: ctx.conn.handle.info_line(None, super::table::full_name_of),
            });
            false
        }
    }
}

fn auth(ctx: &mut Ctx, a: &[Bytes]) {
    let (user, pass) = match a.len() {
        2 => (&b"default"[..], &a[1]),
        3 => (a[1].as_ref(), &a[2]),
        _ => return ctx.err(errors::SYNTAX),
    };
    if a.len() == 2 && ctx.shared.acl.default_user().rules().nopass {
        return ctx.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    if authenticate(ctx, &a[0], user, pass) {
        ctx.out.ok();
    } else {
        ctx.err(WRONGPASS);
    }
}

fn hello(ctx: &mut Ctx, a: &[Bytes]) {
    let mut i = 1;
    let mut proto = None;
    if a.len() > 1 {
        match args::int(&a[1]) {
            Some(v @ 2..=3) => proto = Some(v),
            Some(_) => return ctx.err("NOPROTO unsupported protocol version"),
            None => return ctx.err("ERR Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    let mut setname = None;
    let mut creds = None;
    while i < a.len() {
        let more = a.len() - i - 1;
        if args::is(&a[i], "AUTH") && more >= 2 {
            creds = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 3;
        } else if args::is(&a[i], "SETNAME") && more >= 1 {
            setname = Some(a[i + 1].clone());
            i += 2;
        } else {
            return ctx.err(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&a[i])
            ));
        }
    }
    if let Some((u, p)) = &creds {
        if !authenticate(ctx, &a[0], u, p) {
            return ctx.err(WRONGPASS);
        }
    }
    if !ctx.conn.authenticated {
        return ctx.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = &setname {
        if let Err(e) = super::client_name_check(name) {
            return ctx.err(e);
        }
        *ctx.conn.handle.name.lock() = String::from_utf8_lossy(name).into_owned();
    }
    if let Some(p) = proto {
        ctx.conn.resp3 = p == 3;
        ctx.out.resp3 = p == 3;
        ctx.conn.handle.resp.store(p as usize, Ordering::Relaxed);
        // A RESP3 client can be sent pushes (invalidations redirected to it) at any time.
        if p == 3 || ctx.conn.subscriber.is_some() {
            super::pubsub::subscriber(ctx);
        }
    }
    let cluster = ctx.settings.cluster_enabled;
    ctx.out.map(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(super::REDIS_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(if ctx.conn.resp3 { 3 } else { 2 });
    ctx.out.bulk(b"id");
    ctx.out.int(ctx.conn.id as i64);
    ctx.out.bulk(b"mode");
    ctx.out
        .bulk(if cluster { b"cluster" } else { b"standalone" });
    ctx.out.bulk(b"role");
    ctx.out.bulk(b"master");
    ctx.out.bulk(b"modules");
    ctx.out.array(0);
}

/// RESET: the connection as it was when it connected (Redis's clearClientConnectionState):
/// no transaction or watches, out of MONITOR and pub/sub, db 0, RESP2, default
/// authentication, no name, replies on, and no ASKING / READONLY / NO-TOUCH / NO-EVICT.
fn reset(ctx: &mut Ctx, _a: &[Bytes]) {
    ctx.conn.multi = None;
    super::transactions::unwatch_all(ctx);
    ctx.shared.telemetry.monitors.remove(ctx.conn.id);
    ctx.conn.asking = false;
    ctx.conn.readonly = false;
    ctx.conn.no_touch = false;
    ctx.conn.handle.no_evict.store(false, Ordering::Relaxed);
    if ctx.conn.subs.total() > 0 {
        use crate::pubsub::Kind;
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in ctx.conn.subs.names(kind) {
                ctx.conn.subs.unsubscribe(kind, &name);
                ctx.shared.pubsub.unsubscribe(kind, &name, ctx.conn.id);
            }
        }
    }
    super::client_tracking::turn_off(ctx);
    if let Some(s) = &ctx.conn.subscriber {
        s.in_pubsub.store(false, Ordering::Relaxed);
        s.resp3.store(false, Ordering::Relaxed);
    }
    *ctx.conn.handle.flags.lock() = "N".into();
    ctx.conn.select(0);
    ctx.conn.resp3 = false;
    ctx.out.resp3 = false;
    ctx.conn.handle.resp.store(2, Ordering::Relaxed);
    ctx.conn.reply = ReplyMode::On;
    let default = ctx.shared.acl.default_user();
    ctx.conn.authenticated = !default.requires_auth();
    *ctx.conn.handle.user.lock() = default.name_str();
    ctx.conn.user = default;
    ctx.conn.handle.name.lock().clear();
    ctx.out.simple("RESET");
}

/// AUTH's arguments are all secret (slow log, MONITOR).
fn auth_secrets(args: &[Bytes]) -> Vec<usize> {
    (1..args.len()).collect()
}

/// HELLO's `AUTH username password`.
fn hello_secrets(args: &[Bytes]) -> Vec<usize> {
    let mut hide = Vec::new();
    let mut i = 2;
    while i < args.len() {
        if args::is(&args[i], "auth") {
            hide.extend([i + 1, i + 2]);
            i += 3;
        } else {
            i += 2;
        }
    }
    hide
}
