//! SLOWLOG GET / LEN / RESET / HELP over the slow log the dispatcher fills
//! (`crate::telemetry::slowlog`).

use super::table::{flags::*, CommandSpec};
use super::{args, reply_help, unknown_sub, Ctx};
use bytes::Bytes;

const S: u32 = ADMIN | LOADING | STALE;

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "get",
        -2,
        S,
        &[],
        get,
        "server",
        "Returns the slow log's entries.",
    ),
    CommandSpec::new(
        "len",
        2,
        S,
        &[],
        len,
        "server",
        "Returns the number of entries in the slow log.",
    ),
    CommandSpec::new(
        "reset",
        2,
        S,
        &[],
        reset,
        "server",
        "Clears all entries from the slow log.",
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        help,
        "server",
        "Show helpful text about the different subcommands",
    ),
];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container(
    "slowlog",
    -2,
    unknown_sub,
    "server",
    "A container for slow log commands.",
    SUBCOMMANDS,
)];

const BAD_COUNT: &str = "ERR count should be greater than or equal to -1";

fn get(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() > 3 {
        return ctx.err(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&a[1])
        ));
    }
    let count = match a.get(2) {
        None => 10,
        Some(v) => match args::int(v) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => return ctx.err(BAD_COUNT),
        },
    };
    let log = ctx.shared.telemetry.slowlog.lock();
    let n = count.min(log.len());
    ctx.out.array(n);
    for e in log.newest(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.unix_secs as i64);
        ctx.out.int(e.duration_us as i64);
        ctx.out.bulks(e.args.iter());
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(e.name.as_bytes());
    }
}

fn len(ctx: &mut Ctx, _a: &[Bytes]) {
    let n = ctx.shared.telemetry.slowlog.lock().len();
    ctx.out.int(n as i64);
}

fn reset(ctx: &mut Ctx, _a: &[Bytes]) {
    ctx.shared.telemetry.slowlog.lock().reset();
    ctx.out.ok();
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    reply_help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
}
