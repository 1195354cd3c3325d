//! ACL: users and permissions (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT,
//! GENPASS, LOG, DRYRUN, LOAD, SAVE, HELP). The rules themselves live in [`crate::acl`].

use super::table::{flags::*, CommandSpec};
use super::{args, errors, reply_help, unknown_sub, Ctx};
use crate::acl::{catalog, Rules, User};
use bytes::Bytes;
use std::sync::Arc;

const FLAGS: u32 = NOSCRIPT | LOADING | STALE | SENTINEL;

const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::table::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, &[], handler, "server", summary)
}

static SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "cat",
        -2,
        FLAGS,
        cat,
        "List the ACL categories or the commands inside a category",
    ),
    sub(
        "deluser",
        -3,
        ADMIN | FLAGS,
        deluser,
        "Remove the specified ACL users and the associated rules",
    ),
    sub(
        "dryrun",
        -4,
        ADMIN | FLAGS,
        dryrun,
        "Returns whether the user can execute the given command without executing the command.",
    ),
    sub(
        "genpass",
        -2,
        FLAGS,
        genpass,
        "Generate a pseudorandom secure password to use for ACL users",
    ),
    sub(
        "getuser",
        3,
        ADMIN | FLAGS,
        getuser,
        "Get the rules for a specific ACL user",
    ),
    sub(
        "help",
        2,
        LOADING | STALE | SENTINEL,
        help,
        "Show helpful text about the different subcommands",
    ),
    sub(
        "list",
        2,
        ADMIN | FLAGS,
        list,
        "List the current ACL rules in ACL config file format",
    ),
    sub(
        "load",
        2,
        ADMIN | FLAGS,
        load,
        "Reload the ACLs from the configured ACL file",
    ),
    sub(
        "log",
        -2,
        ADMIN | FLAGS,
        log,
        "List latest events denied because of ACLs in place",
    ),
    sub(
        "save",
        2,
        ADMIN | FLAGS,
        save,
        "Save the current ACL rules in the configured ACL file",
    ),
    sub(
        "setuser",
        -3,
        ADMIN | FLAGS,
        setuser,
        "Modify or create the rules for a specific ACL user",
    )
    .secrets(setuser_secrets),
    sub(
        "users",
        2,
        ADMIN | FLAGS,
        users,
        "List the username of all the configured ACL rules",
    ),
    sub(
        "whoami",
        2,
        FLAGS,
        whoami,
        "Return the name of the user associated to the current connection",
    ),
];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container(
    "acl",
    -2,
    unknown_sub,
    "server",
    "A container for Access List Control commands ",
    SUBCOMMANDS,
)
.with_flags(SENTINEL)];

/// ACL SETUSER's rules may hold passwords: all of them are hidden, as Redis redacts them.
fn setuser_secrets(args: &[Bytes]) -> Vec<usize> {
    (2..args.len()).collect()
}

/// Closes the clients logged in as any of these users (deleted, or replaced by ACL LOAD),
/// as Redis's `ACLFreeUserAndKillClients`: their rules are emptied first, so nothing more
/// runs as them even before their connections close.
fn kill_clients_of(ctx: &mut Ctx, gone: &[Arc<User>]) {
    if gone.is_empty() {
        return;
    }
    for u in gone {
        let mut r = Rules::new(false);
        let _ = r.apply(b"reset", false);
        u.set_rules(r);
    }
    let me = ctx.conn.id;
    for c in ctx.shared.clients.snapshot() {
        let name = c.user.lock().clone();
        if gone.iter().any(|u| u.name == name.as_bytes()) {
            if c.id == me {
                ctx.then(crate::flow::Next::Close);
            } else {
                c.kill();
            }
        }
    }
}

fn setuser(ctx: &mut Ctx, a: &[Bytes]) {
    let name = &a[2];
    if !crate::acl::user::valid_name(name) {
        return ctx.err("ERR Usernames can't contain spaces or null characters");
    }
    let ops = match crate::acl::merge_selectors(&a[3..]) {
        Ok(ops) => ops,
        Err(i) => {
            return ctx.err(&format!(
                "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&a[3 + i])
            ))
        }
    };
    match ctx.shared.acl.set_user(name, &ops) {
        Ok((old, user)) => {
            if let Some(old) = old {
                kill_revoked_subscribers(ctx, &old, &user);
            }
            ctx.out.ok();
        }
        Err((op, e)) => ctx.err(&format!(
            "ERR Error in ACL SETUSER modifier '{}': {}",
            String::from_utf8_lossy(&op),
            e.message()
        )),
    }
}

/// Closes the user's subscribers whose subscriptions its new rules no longer allow
/// (Redis's `ACLKillPubsubClientsIfNeeded`).
fn kill_revoked_subscribers(ctx: &mut Ctx, old: &Rules, user: &Arc<User>) {
    let new = user.rules().clone();
    if new.selectors.iter().any(|s| s.allchannels) {
        return;
    }
    let upcoming: Vec<Vec<u8>> = new
        .selectors
        .iter()
        .flat_map(|s| s.channels.iter().cloned())
        .collect();
    // A set: a user may have many channels, and this must not cost their square.
    let upcoming_set: std::collections::HashSet<&[u8]> =
        upcoming.iter().map(|c| c.as_slice()).collect();
    let kept = old
        .selectors
        .iter()
        .flat_map(|s| s.channels.iter())
        .all(|c| upcoming_set.contains(c.as_slice()));
    // Going from all channels to a list always needs a look at each subscriber.
    if kept && !old.selectors.iter().any(|s| s.allchannels) {
        return;
    }
    let me = ctx.conn.id;
    for c in ctx.shared.clients.snapshot() {
        if *c.user.lock() != user.name_str() {
            continue;
        }
        let subs = ctx.shared.pubsub.subscriptions_of(c.id);
        let revoked = subs.iter().any(|(kind, name)| {
            let literal = *kind == crate::pubsub::Kind::Pattern;
            !crate::acl::selector::channel_in(&upcoming, name, literal)
        });
        if revoked {
            if c.id == me {
                ctx.then(crate::flow::Next::Close);
            } else {
                c.kill();
            }
        }
    }
}

fn deluser(ctx: &mut Ctx, a: &[Bytes]) {
    if a[2..].iter().any(|n| n.as_ref() == b"default") {
        return ctx.err("ERR The 'default' user cannot be removed");
    }
    let gone = ctx.shared.acl.delete(&a[2..]);
    kill_clients_of(ctx, &gone);
    ctx.out.int(gone.len() as i64);
}

/// One selector's commands, keys and channels (ACL GETUSER).
fn write_selector(ctx: &mut Ctx, s: &crate::acl::selector::Selector) {
    ctx.out.bulk(b"commands");
    ctx.out.bulk(s.describe_commands().as_bytes());
    ctx.out.bulk(b"keys");
    ctx.out.bulk(s.describe_keys().as_bytes());
    ctx.out.bulk(b"channels");
    ctx.out.bulk(s.describe_channels().as_bytes());
}

fn getuser(ctx: &mut Ctx, a: &[Bytes]) {
    // Redis 7.0.15 answers an unknown user with a null.
    let Some(user) = ctx.shared.acl.get(&a[2]) else {
        return ctx.out.null();
    };
    let r = user.rules().clone();
    ctx.out.map(6);
    ctx.out.bulk(b"flags");
    let names = r.flag_names();
    ctx.out.set(names.len());
    for f in names {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"passwords");
    ctx.out.array(r.passwords.len());
    for p in &r.passwords {
        ctx.out.bulk(p.as_bytes());
    }
    write_selector(ctx, &r.selectors[0]);
    ctx.out.bulk(b"selectors");
    ctx.out.array(r.selectors.len() - 1);
    for s in &r.selectors[1..] {
        ctx.out.map(3);
        write_selector(ctx, s);
    }
}

fn list(ctx: &mut Ctx, _a: &[Bytes]) {
    let users = ctx.shared.acl.all();
    ctx.out.array(users.len());
    for u in users {
        let line = format!("user {} {}", u.name_str(), u.rules().describe());
        ctx.out.bulk(line.as_bytes());
    }
}

fn users(ctx: &mut Ctx, _a: &[Bytes]) {
    let users = ctx.shared.acl.all();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&u.name);
    }
}

fn whoami(ctx: &mut Ctx, _a: &[Bytes]) {
    let name = ctx.conn.user.name.clone();
    ctx.out.bulk(&name);
}

const NO_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn load(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(path) = ctx.settings.aclfile.clone() else {
        return ctx.err(NO_FILE);
    };
    match crate::acl::file::load(&ctx.shared.acl, &path) {
        Ok(gone) => {
            kill_clients_of(ctx, &gone);
            ctx.out.ok();
        }
        Err(e) => ctx.err(&format!("ERR {e}")),
    }
}

fn save(ctx: &mut Ctx, _a: &[Bytes]) {
    let Some(path) = ctx.settings.aclfile.clone() else {
        return ctx.err(NO_FILE);
    };
    match crate::acl::file::save(&ctx.shared.acl, &path) {
        Ok(()) => ctx.out.ok(),
        Err(e) => {
            tracing::warn!("Writing ACL file for ACL SAVE: {e}");
            ctx.err("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
        }
    }
}

fn cat(ctx: &mut Ctx, a: &[Bytes]) {
    match a.get(2) {
        None => {
            ctx.out.array(catalog::CATEGORIES.len());
            for c in catalog::CATEGORIES {
                ctx.out.bulk(c.as_bytes());
            }
        }
        Some(name) if a.len() == 3 => {
            let Some(bit) = catalog::category(name) else {
                let shown: Vec<u8> = name.iter().take(128).copied().collect();
                return ctx.err(&format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(&shown)
                ));
            };
            let names: Vec<&str> = catalog::get()
                .entries
                .iter()
                .filter(|e| e.cats & (1 << bit) != 0)
                .map(|e| e.full.as_str())
                .collect();
            ctx.out.array(names.len());
            for n in names {
                ctx.out.bulk(n.as_bytes());
            }
        }
        Some(_) => ctx.err(&subcommand_syntax(&String::from_utf8_lossy(&a[1]))),
    }
}

/// Redis's `addReplySubcommandSyntaxError`.
fn subcommand_syntax(sub: &str) -> String {
    format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try ACL HELP.")
}

const GENPASS_MAX_BITS: i64 = 4096;

fn genpass(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() > 3 {
        return ctx.err(&subcommand_syntax(&String::from_utf8_lossy(&a[1])));
    }
    let bits = match a.get(2) {
        None => 256,
        Some(v) => match args::int(v) {
            Some(n) => n,
            None => return ctx.err(errors::NOT_INT),
        },
    };
    if bits <= 0 || bits > GENPASS_MAX_BITS {
        return ctx.err(&format!("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {GENPASS_MAX_BITS}"));
    }
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    let chars = ((bits + 3) / 4) as usize;
    let pass: String = (0..chars)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect();
    ctx.out.bulk(pass.as_bytes());
}

fn log(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() > 3 {
        return ctx.err(&subcommand_syntax(&String::from_utf8_lossy(&a[1])));
    }
    let mut count = 10usize;
    if let Some(v) = a.get(2) {
        if args::is(v, "reset") {
            ctx.shared.acl.log.lock().reset();
            return ctx.out.ok();
        }
        match args::int(v) {
            Some(n) => count = n.max(0) as usize,
            None => return ctx.err(errors::NOT_INT),
        }
    }
    let entries = ctx.shared.acl.log.lock().newest(count);
    let now = crate::util::now_ms();
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.map(7);
        ctx.out.bulk(b"count");
        ctx.out.int(e.count as i64);
        ctx.out.bulk(b"reason");
        ctx.out.bulk(e.reason.name().as_bytes());
        ctx.out.bulk(b"context");
        ctx.out.bulk(e.context.name().as_bytes());
        ctx.out.bulk(b"object");
        ctx.out.bulk(&e.object);
        ctx.out.bulk(b"username");
        ctx.out.bulk(&e.username);
        ctx.out.bulk(b"age-seconds");
        ctx.out
            .double(now.saturating_sub(e.ctime_ms) as f64 / 1000.0);
        ctx.out.bulk(b"client-info");
        ctx.out.bulk(e.client_info.as_bytes());
    }
}

fn dryrun(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(user) = ctx.shared.acl.get(&a[2]) else {
        return ctx.err(&format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(&a[2])
        ));
    };
    let line = &a[3..];
    let found = super::table::lookup(&line[0]).and_then(|cmd| {
        if cmd.subcommands.is_empty() || line.len() < 2 {
            Some((cmd, cmd))
        } else {
            cmd.subcommand(&line[1]).map(|s| (cmd, s))
        }
    });
    let Some((container, spec)) = found else {
        return ctx.err(&format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(&line[0])
        ));
    };
    if !spec.arity_ok(line.len()) {
        return ctx.err(&errors::arity(&crate::admission::full_name(
            container, spec,
        )));
    }
    match user.check(spec, line) {
        Ok(()) => ctx.out.ok(),
        Err(d) => {
            let text = match d.reason {
                crate::acl::Reason::Key => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(&line[d.pos])
                ),
                crate::acl::Reason::Channel => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(&line[d.pos])
                ),
                _ => format!(
                    "This user has no permissions to run the '{}' command",
                    crate::admission::full_name(container, spec)
                ),
            };
            ctx.out.bulk(text.as_bytes());
        }
    }
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    reply_help(
        ctx,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
}
