//! COMMAND: the command table as clients see it (redis-cli asks for COMMAND DOCS on connect;
//! cluster clients use COMMAND / COMMAND GETKEYS to find keys).

use super::keyspec::{key_flags, BeginSearch, FindKeys};
use super::table::{self, flags, CommandSpec};
use super::{args, docs, errors, redis_meta, reply_help, Ctx};
use bytes::Bytes;

const C: u32 = flags::LOADING | flags::STALE;

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "count",
        2,
        C,
        &[],
        count,
        "server",
        "Returns a count of commands.",
    ),
    CommandSpec::new(
        "list",
        -2,
        C,
        &[],
        list,
        "server",
        "Returns a list of command names.",
    ),
    CommandSpec::new(
        "info",
        -2,
        C,
        &[],
        info,
        "server",
        "Returns information about one, multiple or all commands.",
    ),
    CommandSpec::new(
        "docs",
        -2,
        C,
        &[],
        docs,
        "server",
        "Returns documentary information about one, multiple or all commands.",
    ),
    CommandSpec::new(
        "getkeys",
        -4,
        C,
        &[],
        getkeys,
        "server",
        "Extracts the key names from an arbitrary command.",
    ),
    CommandSpec::new(
        "getkeysandflags",
        -4,
        C,
        &[],
        getkeysandflags,
        "server",
        "Extracts the key names and access flags for an arbitrary command.",
    ),
    CommandSpec::new(
        "help",
        2,
        C,
        &[],
        help,
        "server",
        "Returns helpful text about the different subcommands.",
    ),
];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container(
    "command",
    -1,
    all_info,
    "server",
    "Returns detailed information about all commands.",
    SUBCOMMANDS,
)
.with_flags(flags::LOADING | flags::STALE)];

/// `COMMAND` alone lists everything; with an unknown subcommand it errors as Redis does.
fn all_info(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() > 1 {
        return super::unknown_sub(ctx, a);
    }
    let cmds = table::all();
    ctx.out.array(cmds.len());
    for c in cmds {
        write_info(ctx, c, c.name);
    }
}

fn flag_names(c: &CommandSpec) -> Vec<&'static str> {
    let mut v: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(f, _)| c.has(*f))
        .map(|(_, n)| *n)
        .collect();
    if c.movable_keys() {
        v.push("movablekeys");
    }
    v
}

/// One COMMAND INFO entry (Redis 7 layout: name, arity, flags, first, last, step, ACL
/// categories, tips, key specs, subcommands).
fn write_info(ctx: &mut Ctx, c: &CommandSpec, full_name: &str) {
    let (first, last, step) = c.legacy_key_spec();
    ctx.out.array(10);
    ctx.out.bulk(full_name.as_bytes());
    ctx.out.int(c.arity as i64);
    let f = flag_names(c);
    ctx.out.set(f.len());
    for n in f {
        ctx.out.simple(n);
    }
    ctx.out.int(first);
    ctx.out.int(last);
    ctx.out.int(step);
    let cats = acl_categories(c, full_name);
    ctx.out.set(cats.len());
    for cat in cats {
        ctx.out.simple(&format!("@{cat}"));
    }
    // Tips and subcommands are sets in RESP3, as Redis 7.0.15 sends them.
    let tips = redis_meta::meta(full_name).map_or(&[][..], |m| m.tips);
    ctx.out.set(tips.len());
    for tip in tips {
        ctx.out.bulk(tip.as_bytes());
    }
    write_key_specs(ctx, c);
    ctx.out.set(c.subcommands.len());
    for s in c.subcommands {
        write_info(ctx, s, &format!("{}|{}", c.name, s.name));
    }
}

/// The key specs, as Redis 7 writes them: notes (when there are any), flags, begin_search
/// and find_keys, each a map of its type and spec.
fn write_key_specs(ctx: &mut Ctx, c: &CommandSpec) {
    ctx.out.set(c.key_specs.len());
    for spec in c.key_specs {
        ctx.out.map(3 + usize::from(spec.notes.is_some()));
        if let Some(notes) = spec.notes {
            ctx.out.bulk(b"notes");
            ctx.out.bulk(notes.as_bytes());
        }
        ctx.out.bulk(b"flags");
        write_key_flags(ctx, spec.flags);
        ctx.out.bulk(b"begin_search");
        ctx.out.map(2);
        ctx.out.bulk(b"type");
        match spec.begin {
            BeginSearch::Index(index) => {
                ctx.out.bulk(b"index");
                write_spec_fields(ctx, &[("index", index)]);
            }
            BeginSearch::Keyword { keyword, startfrom } => {
                ctx.out.bulk(b"keyword");
                ctx.out.bulk(b"spec");
                ctx.out.map(2);
                ctx.out.bulk(b"keyword");
                ctx.out.bulk(keyword.as_bytes());
                ctx.out.bulk(b"startfrom");
                ctx.out.int(startfrom as i64);
            }
            BeginSearch::Unknown => {
                ctx.out.bulk(b"unknown");
                write_spec_fields(ctx, &[]);
            }
        }
        ctx.out.bulk(b"find_keys");
        ctx.out.map(2);
        ctx.out.bulk(b"type");
        match spec.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                ctx.out.bulk(b"range");
                let fields = [("lastkey", lastkey), ("keystep", keystep), ("limit", limit)];
                write_spec_fields(ctx, &fields);
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                ctx.out.bulk(b"keynum");
                let fields = [
                    ("keynumidx", keynumidx),
                    ("firstkey", firstkey),
                    ("keystep", keystep),
                ];
                write_spec_fields(ctx, &fields);
            }
            FindKeys::Unknown => {
                ctx.out.bulk(b"unknown");
                write_spec_fields(ctx, &[]);
            }
        }
    }
}

/// `spec` and a map of integer fields.
fn write_spec_fields(ctx: &mut Ctx, fields: &[(&str, i32)]) {
    ctx.out.bulk(b"spec");
    ctx.out.map(fields.len());
    for (name, value) in fields {
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(*value as i64);
    }
}

/// Key-spec flags as a set of simple strings (`RW`, `access`, ...), in Redis's order.
fn write_key_flags(ctx: &mut Ctx, flags: u32) {
    let names: Vec<&str> = key_flags::NAMES
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    ctx.out.set(names.len());
    for n in names {
        ctx.out.simple(n);
    }
}

/// ACL categories: Redis's own for the commands it has (`full_name` as `get` or
/// `client|list`); for the others, as Redis derives them: read or write, the data type's (or
/// keyspace, connection...) from the command's group, fast or slow, blocking, admin and
/// dangerous.
pub(crate) fn acl_categories(c: &CommandSpec, full_name: &str) -> Vec<&'static str> {
    if let Some(m) = redis_meta::meta(full_name) {
        return m.acl.to_vec();
    }
    let mut v = Vec::new();
    if c.has(flags::WRITE) {
        v.push("write");
    } else if c.has(flags::READONLY) {
        v.push("read");
    }
    let group = match c.group {
        "generic" => Some("keyspace"),
        "sorted-set" => Some("sortedset"),
        "transactions" => Some("transaction"),
        g => Some(g).filter(|g| KNOWN_CATEGORIES.contains(g)),
    };
    v.extend(group);
    if c.has(flags::ADMIN) {
        v.push("admin");
        v.push("dangerous");
    }
    v.push(if c.has(flags::FAST) { "fast" } else { "slow" });
    if c.has(flags::BLOCKING) {
        v.push("blocking");
    }
    v
}

/// Type and feature categories whose name is the command group's own.
const KNOWN_CATEGORIES: &[&str] = &[
    "string",
    "list",
    "set",
    "hash",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "connection",
    "scripting",
];

fn count(ctx: &mut Ctx, _a: &[Bytes]) {
    ctx.out.int(table::all().len() as i64);
}

fn list(ctx: &mut Ctx, a: &[Bytes]) {
    let mut names: Vec<String> = Vec::new();
    for c in table::all() {
        names.push(c.name.to_string());
        for s in c.subcommands {
            names.push(format!("{}|{}", c.name, s.name));
        }
    }
    if a.len() > 2 {
        if a.len() != 5 || !args::is(&a[2], "FILTERBY") {
            return ctx.err(errors::SYNTAX);
        }
        let what = String::from_utf8_lossy(&a[4]).into_owned();
        if args::is(&a[3], "PATTERN") {
            let pattern = crate::glob::Glob::new(&a[4], true);
            names.retain(|n| pattern.matches(n.as_bytes()));
        } else if args::is(&a[3], "ACLCAT") {
            let cat = what.trim_start_matches('@').to_ascii_lowercase();
            names.retain(|n| {
                resolve(n.as_bytes())
                    .is_some_and(|(c, full)| acl_categories(c, &full).contains(&cat.as_str()))
            });
        } else if args::is(&a[3], "MODULE") {
            names.clear();
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    ctx.out.bulks(names.iter());
}

/// Resolves `name` or `container|sub`.
fn resolve(name: &[u8]) -> Option<(&'static CommandSpec, String)> {
    let text = String::from_utf8_lossy(name).to_ascii_lowercase();
    match text.split_once('|') {
        Some((c, s)) => {
            let cmd = table::lookup(c.as_bytes())?;
            let sub = cmd.subcommand(s.as_bytes())?;
            Some((sub, format!("{}|{}", cmd.name, sub.name)))
        }
        None => table::lookup(text.as_bytes()).map(|c| (c, c.name.to_string())),
    }
}

fn info(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() == 2 {
        return all_info(ctx, &a[..1]);
    }
    ctx.out.array(a.len() - 2);
    for n in &a[2..] {
        match resolve(n) {
            Some((c, full)) => write_info(ctx, c, &full),
            // A null (`$-1` in RESP2), as Redis 7.0.15's addReplyNull.
            None => ctx.out.null(),
        }
    }
}

fn write_doc(ctx: &mut Ctx, c: &CommandSpec, full: &str) {
    ctx.out.bulk(full.as_bytes());
    let has_subs = !c.subcommands.is_empty();
    let arguments = docs::of(full);
    // Redis's own fields where Redis has the command; the table's summary and group for a
    // command it lacks.
    let meta = redis_meta::meta(full);
    let fields = match meta {
        Some(m) => {
            3 + usize::from(m.complexity.is_some())
                + usize::from(!m.doc_flags.is_empty())
                + 2 * usize::from(m.deprecated_since.is_some())
                + usize::from(!m.history.is_empty())
        }
        None => 2,
    };
    ctx.out
        .map(fields + usize::from(!arguments.is_empty()) + usize::from(has_subs));
    match meta {
        Some(m) => write_meta(ctx, m),
        None => {
            ctx.out.bulk(b"summary");
            ctx.out.bulk(c.summary.as_bytes());
            ctx.out.bulk(b"group");
            ctx.out.bulk(c.group.as_bytes());
        }
    }
    if !arguments.is_empty() {
        ctx.out.bulk(b"arguments");
        write_doc_args(ctx, arguments);
    }
    if has_subs {
        ctx.out.bulk(b"subcommands");
        ctx.out.map(c.subcommands.len());
        for s in c.subcommands {
            write_doc(ctx, s, &format!("{}|{}", c.name, s.name));
        }
    }
}

/// The descriptive fields in Redis's `addReplyCommandDocs` order: doc flags as a set of
/// statuses, history as a set of (version, change) pairs.
fn write_meta(ctx: &mut Ctx, m: &redis_meta::Meta) {
    let out = &mut ctx.out;
    out.bulk(b"summary");
    out.bulk(m.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(m.since.as_bytes());
    out.bulk(b"group");
    out.bulk(m.group.as_bytes());
    if let Some(c) = m.complexity {
        out.bulk(b"complexity");
        out.bulk(c.as_bytes());
    }
    if !m.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        out.set(m.doc_flags.len());
        for f in m.doc_flags {
            out.simple(f);
        }
    }
    if let (Some(since), Some(by)) = (m.deprecated_since, m.replaced_by) {
        out.bulk(b"deprecated_since");
        out.bulk(since.as_bytes());
        out.bulk(b"replaced_by");
        out.bulk(by.as_bytes());
    }
    if !m.history.is_empty() {
        out.bulk(b"history");
        out.set(m.history.len());
        for (version, change) in m.history {
            out.array(2);
            out.bulk(version.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
}

/// Documented arguments, as Redis's `addReplyCommandArgList` writes them: name and type,
/// then only the fields an argument has (a key's `key_spec_index` among them).
fn write_doc_args(ctx: &mut Ctx, args: &[docs::Arg]) {
    ctx.out.array(args.len());
    for arg in args {
        let nested = matches!(arg.kind, docs::ArgType::OneOf | docs::ArgType::Block);
        let optional = [
            arg.key_spec.is_some(),
            arg.token.is_some(),
            arg.summary.is_some(),
            arg.since.is_some(),
            arg.deprecated_since.is_some(),
            arg.flags != 0,
            nested,
        ];
        ctx.out.map(2 + optional.iter().filter(|x| **x).count());
        ctx.out.bulk(b"name");
        ctx.out.bulk(arg.name.as_bytes());
        ctx.out.bulk(b"type");
        ctx.out.bulk(arg.kind.name().as_bytes());
        if let Some(index) = arg.key_spec {
            ctx.out.bulk(b"key_spec_index");
            ctx.out.int(index as i64);
        }
        let texts = [
            ("token", arg.token),
            ("summary", arg.summary),
            ("since", arg.since),
            ("deprecated_since", arg.deprecated_since),
        ];
        for (field, text) in texts {
            if let Some(text) = text {
                ctx.out.bulk(field.as_bytes());
                ctx.out.bulk(text.as_bytes());
            }
        }
        if arg.flags != 0 {
            let names: Vec<&str> = docs::FLAG_NAMES
                .iter()
                .filter(|(f, _)| arg.flags & f != 0)
                .map(|(_, n)| *n)
                .collect();
            ctx.out.bulk(b"flags");
            ctx.out.set(names.len());
            for n in names {
                ctx.out.simple(n);
            }
        }
        if nested {
            ctx.out.bulk(b"arguments");
            write_doc_args(ctx, arg.args);
        }
    }
}

fn docs(ctx: &mut Ctx, a: &[Bytes]) {
    let wanted: Vec<(&CommandSpec, String)> = if a.len() == 2 {
        table::all()
            .iter()
            .map(|c| (*c, c.name.to_string()))
            .collect()
    } else {
        a[2..].iter().filter_map(|n| resolve(n)).collect()
    };
    ctx.out.map(wanted.len());
    for (c, full) in wanted {
        write_doc(ctx, c, &full);
    }
}

/// The keys of the command in `a[2..]` and their flags, or an error reply (Redis's
/// `getKeysSubcommandImpl`): a container's subcommand must exist, the command must have keys
/// and its arity must fit before any key is looked for.
fn keys_of(ctx: &mut Ctx, a: &[Bytes]) -> Option<Vec<(Bytes, u32)>> {
    let cmd = &a[2..];
    let spec = table::lookup(&cmd[0]).and_then(|spec| {
        if cmd.len() == 1 || spec.subcommands.is_empty() {
            Some(spec)
        } else {
            spec.subcommand(&cmd[1])
        }
    });
    let Some(spec) = spec else {
        ctx.err("ERR Invalid command specified");
        return None;
    };
    if !spec.has_keys() {
        ctx.err("ERR The command has no key arguments");
        return None;
    }
    if !spec.arity_ok(cmd.len()) {
        ctx.err("ERR Invalid number of arguments specified for command");
        return None;
    }
    let keys = spec.keys(cmd);
    // EVAL and FCALL with numkeys 0 have no keys to find, which is no error for them.
    if keys.is_empty() && spec.flags & flags::NO_MANDATORY_KEYS == 0 {
        ctx.err("ERR Invalid arguments specified for command");
        return None;
    }
    Some(
        keys.into_iter()
            .filter_map(|k| cmd.get(k.pos).map(|arg| (arg.clone(), k.flags)))
            .collect(),
    )
}

fn getkeys(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(keys) = keys_of(ctx, a) {
        ctx.out.bulks(keys.iter().map(|(k, _)| k));
    }
}

fn getkeysandflags(ctx: &mut Ctx, a: &[Bytes]) {
    if let Some(keys) = keys_of(ctx, a) {
        ctx.out.array(keys.len());
        for (k, flags) in keys {
            ctx.out.array(2);
            ctx.out.bulk(&k);
            write_key_flags(ctx, flags);
        }
    }
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    reply_help(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full command.",
        ],
    );
}
