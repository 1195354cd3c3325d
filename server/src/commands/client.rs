//! CLIENT: connection introspection and control.

use super::table::{facts, flags::*, CommandSpec};
use super::{args, client_name_check, errors, reply_help, unknown_sub, Ctx};
use crate::clients::ClientHandle;
use crate::flow::Next;
use crate::session::ReplyMode;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;

const C: u32 = NOSCRIPT | LOADING | STALE;

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "id",
        2,
        C,
        &[],
        id,
        "connection",
        "Returns the unique client ID of the connection.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "setname",
        3,
        C,
        &[],
        setname,
        "connection",
        "Sets the connection name.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "getname",
        2,
        C,
        &[],
        getname,
        "connection",
        "Returns the name of the connection.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "list",
        -2,
        ADMIN | C,
        &[],
        list,
        "connection",
        "Lists open connections.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "info",
        2,
        C,
        &[],
        info,
        "connection",
        "Returns information about the connection.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "kill",
        -3,
        ADMIN | C,
        &[],
        kill,
        "connection",
        "Terminates open connections.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "setinfo",
        4,
        C,
        &[],
        setinfo,
        "connection",
        "Sets information specific to the client or connection.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "no-evict",
        3,
        ADMIN | C,
        &[],
        no_evict,
        "connection",
        "Sets the client eviction mode of the connection.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "no-touch",
        3,
        C,
        &[],
        no_touch,
        "connection",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "reply",
        3,
        C,
        &[],
        reply,
        "connection",
        "Instructs the server whether to reply to commands.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "unblock",
        -3,
        ADMIN | C,
        &[],
        unblock,
        "connection",
        "Unblocks a client blocked by a blocking command from a different connection.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "pause",
        -3,
        ADMIN | C,
        &[],
        pause,
        "connection",
        "Suspends commands processing.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "unpause",
        2,
        ADMIN | C,
        &[],
        unpause,
        "connection",
        "Resumes processing commands from paused clients.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        help,
        "connection",
        "Returns helpful text about the different subcommands.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "tracking",
        -3,
        C,
        &[],
        super::client_tracking::tracking,
        "connection",
        "Controls server-assisted client-side caching for the connection.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "caching",
        3,
        C,
        &[],
        super::client_tracking::caching,
        "connection",
        "Instructs the server whether to track the keys in the next request.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "getredir",
        2,
        C,
        &[],
        super::client_tracking::getredir,
        "connection",
        "Returns the client ID to which the connection's tracking notifications are redirected.",
    )
    .facts(facts::KEEPS_CACHING),
    CommandSpec::new(
        "trackinginfo",
        2,
        C,
        &[],
        super::client_tracking::trackinginfo,
        "connection",
        "Returns information about server-assisted client-side caching for the connection.",
    )
    .facts(facts::KEEPS_CACHING),
];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container(
    "client",
    -2,
    unknown_sub,
    "connection",
    "A container for client connection commands.",
    SUBCOMMANDS,
)];

fn id(ctx: &mut Ctx, _a: &[Bytes]) {
    ctx.out.int(ctx.conn.id as i64);
}

fn setname(ctx: &mut Ctx, a: &[Bytes]) {
    if let Err(e) = client_name_check(&a[2]) {
        return ctx.err(e);
    }
    *ctx.conn.handle.name.lock() = String::from_utf8_lossy(&a[2]).into_owned();
    ctx.out.ok();
}

fn getname(ctx: &mut Ctx, _a: &[Bytes]) {
    let name = ctx.conn.handle.name.lock().clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(name.as_bytes());
    }
}

/// The CLIENT LIST / KILL `TYPE` of a client.
fn client_type(h: &ClientHandle) -> &'static str {
    let flags = h.flags.lock();
    if flags.contains('S') {
        "replica"
    } else if flags.contains('M') {
        "master"
    } else if flags.contains('P') {
        "pubsub"
    } else {
        "normal"
    }
}

fn normalize_type(t: &[u8]) -> Option<&'static str> {
    match crate::util::lower(t).as_str() {
        "normal" => Some("normal"),
        "replica" | "slave" => Some("replica"),
        "master" => Some("master"),
        "pubsub" => Some("pubsub"),
        _ => None,
    }
}

fn list(ctx: &mut Ctx, a: &[Bytes]) {
    let mut clients = ctx.shared.clients.snapshot();
    let mut i = 2;
    while i < a.len() {
        if args::is(&a[i], "TYPE") && i + 1 < a.len() {
            let Some(t) = normalize_type(&a[i + 1]) else {
                return ctx.err(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(&a[i + 1])
                ));
            };
            clients.retain(|c| client_type(c) == t);
            i += 2;
        } else if args::is(&a[i], "ID") && i + 1 < a.len() {
            let mut ids = Vec::new();
            for v in &a[i + 1..] {
                match args::int(v).filter(|n| *n > 0) {
                    Some(n) => ids.push(n as u64),
                    None => return ctx.err("ERR Invalid client ID"),
                }
            }
            clients.retain(|c| ids.contains(&c.id));
            i = a.len();
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let mut text = String::new();
    for c in clients {
        let current = (c.id == ctx.conn.id).then_some(a);
        text.push_str(&c.info_line(current, super::table::full_name_of));
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
}

fn info(ctx: &mut Ctx, a: &[Bytes]) {
    let mut line = ctx
        .conn
        .handle
        .info_line(Some(a), super::table::full_name_of);
    line.push('\n');
    ctx.out.verbatim("txt", line.as_bytes());
}

/// Filters of CLIENT KILL's new form.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<String>,
    ty: Option<&'static str>,
    maxage: Option<u64>,
    skipme: bool,
}

fn kill(ctx: &mut Ctx, a: &[Bytes]) {
    // Old form: CLIENT KILL ip:port -> +OK or an error.
    if a.len() == 3 {
        let addr = String::from_utf8_lossy(&a[2]).into_owned();
        let victim = ctx
            .shared
            .clients
            .snapshot()
            .into_iter()
            .find(|c| c.addr.to_string() == addr);
        return match victim {
            Some(c) => {
                kill_one(ctx, &c);
                ctx.out.ok()
            }
            None => ctx.err("ERR No such client"),
        };
    }
    let mut f = KillFilter {
        skipme: true,
        ..Default::default()
    };
    let mut i = 2;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else {
            return ctx.err(errors::SYNTAX);
        };
        let val = String::from_utf8_lossy(v).into_owned();
        match crate::util::lower(&a[i]).as_str() {
            "id" => match args::int(v).filter(|n| *n > 0) {
                Some(n) => f.id = Some(n as u64),
                None => return ctx.err("ERR client-id should be greater than 0"),
            },
            "addr" => f.addr = Some(val),
            "laddr" => f.laddr = Some(val),
            "user" => {
                if ctx.shared.acl.get(v).is_none() {
                    return ctx.err(&format!("ERR No such user '{val}'"));
                }
                f.user = Some(val)
            }
            "type" => match normalize_type(v) {
                Some(t) => f.ty = Some(t),
                None => return ctx.err(&format!("ERR Unknown client type '{val}'")),
            },
            "maxage" => match args::int(v).filter(|n| *n >= 0) {
                Some(n) => f.maxage = Some(n as u64),
                None => return ctx.err(errors::NOT_INT),
            },
            "skipme" => match val.to_ascii_lowercase().as_str() {
                "yes" => f.skipme = true,
                "no" => f.skipme = false,
                _ => return ctx.err(errors::SYNTAX),
            },
            _ => return ctx.err(errors::SYNTAX),
        }
        i += 2;
    }
    let me = ctx.conn.id;
    let victims: Vec<Arc<ClientHandle>> = ctx
        .shared
        .clients
        .snapshot()
        .into_iter()
        .filter(|c| f.id.is_none_or(|id| c.id == id))
        .filter(|c| f.addr.as_ref().is_none_or(|x| c.addr.to_string() == *x))
        .filter(|c| f.laddr.as_ref().is_none_or(|x| c.laddr.to_string() == *x))
        .filter(|c| f.user.as_ref().is_none_or(|u| *c.user.lock() == *u))
        .filter(|c| f.ty.is_none_or(|t| client_type(c) == t))
        .filter(|c| {
            f.maxage
                .is_none_or(|age| c.created.elapsed().as_secs() >= age)
        })
        .filter(|c| !(f.skipme && c.id == me))
        .collect();
    for c in &victims {
        kill_one(ctx, c);
    }
    ctx.out.int(victims.len() as i64);
}

/// Ends a client; the caller itself first gets its reply, then its connection closes.
fn kill_one(ctx: &mut Ctx, c: &ClientHandle) {
    if c.id == ctx.conn.id {
        ctx.then(Next::Close);
    } else {
        c.kill();
    }
}

fn setinfo(ctx: &mut Ctx, a: &[Bytes]) {
    let value = String::from_utf8_lossy(&a[3]).into_owned();
    if value
        .chars()
        .any(|c| c == ' ' || c == '\n' || c.is_control())
    {
        return ctx.err(&format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(&a[2]).to_ascii_lowercase()
        ));
    }
    if args::is(&a[2], "LIB-NAME") {
        *ctx.conn.handle.lib_name.lock() = value;
    } else if args::is(&a[2], "LIB-VER") {
        *ctx.conn.handle.lib_ver.lock() = value;
    } else {
        return ctx.err(&format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(&a[2])
        ));
    }
    ctx.out.ok();
}

fn on_off(ctx: &mut Ctx, v: &Bytes) -> Option<bool> {
    if args::is(v, "ON") {
        Some(true)
    } else if args::is(v, "OFF") {
        Some(false)
    } else {
        ctx.err(errors::SYNTAX);
        None
    }
}

fn no_evict(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(on) = on_off(ctx, &a[2]) {
        ctx.conn.handle.no_evict.store(on, Ordering::Relaxed);
        ctx.out.ok();
    }
}

fn no_touch(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(on) = on_off(ctx, &a[2]) {
        ctx.conn.no_touch = on;
        ctx.out.ok();
    }
}

fn reply(ctx: &mut Ctx, a: &[Bytes]) {
    match crate::util::lower(&a[2]).as_str() {
        "on" => {
            ctx.conn.reply = ReplyMode::On;
            ctx.out.ok();
        }
        "off" => ctx.conn.reply = ReplyMode::Off,
        "skip" => ctx.conn.reply = ReplyMode::SkipNext,
        _ => ctx.err(errors::SYNTAX),
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking command now, answered
/// as a timeout (the default) or with an UNBLOCKED error. Replies 1 when that client was
/// blocked, 0 otherwise.
fn unblock(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() > 4 {
        return ctx.err(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&a[1])
        ));
    }
    // Redis checks the reason before the id.
    let error = match a.get(3) {
        None => false,
        Some(r) if args::is(r, "TIMEOUT") => false,
        Some(r) if args::is(r, "ERROR") => true,
        Some(_) => return ctx.err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let Some(id) = args::int(&a[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    let msg = error.then_some("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    let done = id > 0 && ctx.ks.blocked.unblock(id as u64, msg);
    ctx.out.int(i64::from(done));
}

/// CLIENT PAUSE timeout [WRITE|ALL]: holds back every command (ALL, the default) or those
/// that write or may replicate (WRITE) of every client, for `timeout` ms.
/// The mode is checked before the timeout, as Redis does (its errors come in that order).
fn pause(ctx: &mut Ctx, a: &[Bytes]) {
    let mode = match a.get(3) {
        None => crate::pause::Mode::All,
        Some(_) if a.len() > 4 => {
            return ctx.err(&format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&a[1])
            ))
        }
        Some(m) if args::is(m, "WRITE") => crate::pause::Mode::Write,
        Some(m) if args::is(m, "ALL") => crate::pause::Mode::All,
        Some(_) => return ctx.err("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let timeout = match args::int(&a[2]) {
        Some(t) if t < 0 => return ctx.err("ERR timeout is negative"),
        Some(t) => t as u64,
        None => return ctx.err("ERR timeout is not an integer or out of range"),
    };
    ctx.shared.pause.pause(timeout, mode);
    ctx.out.ok();
}

fn unpause(ctx: &mut Ctx, _a: &[Bytes]) {
    ctx.shared.pause.unpause();
    ctx.out.ok();
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    let lines: Vec<String> = SUBCOMMANDS
        .iter()
        .filter(|c| c.name != "help")
        .map(|c| format!("{}    {}", c.name.to_ascii_uppercase(), c.summary))
        .collect();
    let refs: Vec<&str> = lines.iter().map(|s| s.as_str()).collect();
    reply_help(ctx, "CLIENT", &refs);
}
