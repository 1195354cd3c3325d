//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID and XINFO, with Redis
//! 7.0's replies and errors (`t_stream.c`). Consumer groups are in [`super::stream_groups`],
//! XREAD and XREADGROUP in [`super::stream_read`].
//!
//! Writes replicate as their effects, as Redis rewrites them: XADD with the id it generated,
//! an approximate trim (`~`, LIMIT) as the exact trim it amounted to.

use super::keyspec::{self as ks, key_flags::*};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::types::stream::{AddError, NewId, StreamId, StreamValue, Trim};
use crate::keyspace::types::stream_block::{Block, Slot};
use crate::keyspace::{Db, Ttl, Value};
use crate::keyspace_events::Events;
use crate::protocol::Out;
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        &[ks::range(1, 0, 1, RW | UPDATE)
            .notes("UPDATE instead of INSERT because of the optional trimming feature")],
        xadd,
        "stream",
        "Appends a new message to a stream. Creates the key if it doesn't exist.",
    )
    .events(Events::Reported('t')),
    CommandSpec::new(
        "xlen",
        2,
        READONLY | FAST,
        &[ks::range(1, 0, 1, RO)],
        xlen,
        "stream",
        "Return the number of messages in a stream.",
    ),
    CommandSpec::new(
        "xrange",
        -4,
        READONLY,
        &[ks::range(1, 0, 1, RO | ACCESS)],
        xrange,
        "stream",
        "Returns the messages from a stream within a range of IDs.",
    ),
    CommandSpec::new(
        "xrevrange",
        -4,
        READONLY,
        &[ks::range(1, 0, 1, RO | ACCESS)],
        xrevrange,
        "stream",
        "Returns the messages from a stream within a range of IDs in reverse order.",
    ),
    CommandSpec::new(
        "xdel",
        -3,
        WRITE | FAST,
        &[ks::range(1, 0, 1, RW | DELETE)],
        xdel,
        "stream",
        "Returns the number of messages after removing them from a stream.",
    ),
    CommandSpec::new(
        "xtrim",
        -4,
        WRITE,
        &[ks::range(1, 0, 1, RW | DELETE)],
        xtrim,
        "stream",
        "Deletes messages from the beginning of a stream.",
    ),
    CommandSpec::new(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        &[ks::range(1, 0, 1, RW | UPDATE)],
        xsetid,
        "stream",
        "An internal command for replicating stream values.",
    ),
    CommandSpec::container(
        "xinfo",
        -2,
        super::unknown_sub,
        "stream",
        "A container for stream introspection commands.",
        XINFO_SUBCOMMANDS,
    ),
];

static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "stream",
        -3,
        READONLY,
        &[ks::range(2, 0, 1, RO | ACCESS)],
        xinfo_stream,
        "stream",
        "Returns information about a stream.",
    ),
    CommandSpec::new(
        "groups",
        3,
        READONLY,
        &[ks::range(2, 0, 1, RO | ACCESS)],
        super::stream_groups::xinfo_groups,
        "stream",
        "Returns a list of the consumer groups of a stream.",
    ),
    CommandSpec::new(
        "consumers",
        4,
        READONLY,
        &[ks::range(2, 0, 1, RO | ACCESS)],
        super::stream_groups::xinfo_consumers,
        "stream",
        "Returns a list of the consumers in a consumer group.",
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        xinfo_help,
        "stream",
        "Returns helpful text about the different subcommands.",
    ),
];

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// `string2ull`: a decimal u64 (no sign, no spaces).
fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// An id as clients give it (Redis's `streamGenericParseIDOrReply`): `-` and `+` (unless
/// `strict`), `<ms>` (its sequence `missing_seq`) or `<ms>-<seq>`.
pub fn parse_id(b: &[u8], missing_seq: u64, strict: bool) -> Option<StreamId> {
    if b.len() > 127 {
        return None;
    }
    match b {
        b"-" if !strict => return Some(StreamId::MIN),
        b"+" if !strict => return Some(StreamId::MAX),
        _ => {}
    }
    match b.iter().position(|&c| c == b'-') {
        Some(i) => Some(StreamId::new(parse_u64(&b[..i])?, parse_u64(&b[i + 1..])?)),
        None => Some(StreamId::new(parse_u64(b)?, missing_seq)),
    }
}

/// [`parse_id`], strict, replying with Redis's error when it does not parse.
pub fn id_or_reply(ctx: &mut Ctx, b: &[u8]) -> Option<StreamId> {
    let id = parse_id(b, 0, true);
    if id.is_none() {
        ctx.err(INVALID_ID);
    }
    id
}

/// An interval bound (Redis's `streamParseIntervalIDOrReply`): `(` makes it exclusive, which
/// moves it one id inwards. Replies with the error when it does not parse.
pub fn interval_or_reply(
    ctx: &mut Ctx,
    b: &[u8],
    missing_seq: u64,
    start: bool,
) -> Option<StreamId> {
    let exclusive = b.len() > 1 && b[0] == b'(';
    let Some(id) = (if exclusive {
        parse_id(&b[1..], missing_seq, true)
    } else {
        parse_id(b, missing_seq, false)
    }) else {
        ctx.err(INVALID_ID);
        return None;
    };
    if !exclusive {
        return Some(id);
    }
    let moved = if start { id.incr() } else { id.decr() };
    if moved.is_none() {
        ctx.err(if start {
            "ERR invalid start ID for the interval"
        } else {
            "ERR invalid end ID for the interval"
        });
    }
    moved
}

/// The key holds another type: WRONGTYPE was replied.
#[derive(Debug)]
pub struct WrongType;

/// The stream at `key` for a write: `Ok(None)` when absent, `Err` (WRONGTYPE replied) for
/// another type.
pub fn stream_mut<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
) -> Result<Option<&'a mut StreamValue>, WrongType> {
    let now = ctx.now;
    // One look-up: the reply writer is borrowed beside the database, not through it.
    let (db, out) = ctx.db_out();
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => {
                out.error(errors::WRONGTYPE);
                Err(WrongType)
            }
        },
    }
}

/// The stream at `key` (checked to be one before) and the reply writer, borrowed together.
pub fn stream_out<'a>(ctx: &'a mut Ctx, key: &[u8]) -> (Option<&'a mut StreamValue>, &'a mut Out) {
    let now = ctx.now;
    let i = ctx.conn.db.min(ctx.ks.dbs.len() - 1);
    let s = match ctx.ks.dbs[i].get_mut(key, now) {
        Some(e) => match &mut e.value {
            Value::Stream(s) => Some(&mut **s),
            _ => None,
        },
        None => None,
    };
    (s, &mut *ctx.out)
}

/// The stream at `key` for a read (counts a hit or miss): as [`stream_mut`].
pub fn stream_read<'a>(
    db: &'a mut Db,
    out: &mut Out,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a StreamValue>, WrongType> {
    match db.read(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => {
                out.error(errors::WRONGTYPE);
                Err(WrongType)
            }
        },
    }
}

/// One entry as replies show it: `[id, [field, value, ...]]`.
pub fn reply_entry(out: &mut Out, id: StreamId, pairs: &[&[u8]]) {
    out.array(2);
    out.bulk(&id.to_bytes());
    out.array(pairs.len());
    for p in pairs {
        out.bulk(p);
    }
}

/// One entry, written from its place in its block (no copies of its pairs or its id).
pub fn reply_slot(out: &mut Out, b: &Block, slot: &Slot) {
    out.array(2);
    let mut buf = [0u8; 41];
    out.bulk(slot.id.format(&mut buf));
    out.array(b.field_count(slot) * 2);
    b.for_each_item(slot, |item| out.bulk(item));
}

/// A list of entries found by [`StreamValue::slots_in`].
pub fn reply_slots(out: &mut Out, entries: &[(&Block, Slot)]) {
    out.array(entries.len());
    for (b, slot) in entries {
        reply_slot(out, b, slot);
    }
}

/// A list of entries.
pub fn reply_entries(out: &mut Out, entries: &[(StreamId, Vec<&[u8]>)]) {
    out.array(entries.len());
    for (id, pairs) in entries {
        reply_entry(out, *id, pairs);
    }
}

/// XADD and XTRIM's trimming options.
#[derive(Default)]
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: u64,
    /// The position of the MAXLEN/MINID value (its `~`/`=` is just before it when given).
    arg: usize,
    /// Whether `~` or `=` was written before the value.
    has_marker: bool,
}

/// XADD's other options.
#[derive(Default)]
struct AddArgs {
    trim: TrimArgs,
    no_mkstream: bool,
    /// The id argument's position, and what it says.
    id_pos: usize,
    id: Option<NewId>,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`. Replies with the error on failure.
fn parse_add_or_trim(ctx: &mut Ctx, a: &[Bytes], xadd: bool, replicated: bool) -> Option<AddArgs> {
    let mut r = AddArgs::default();
    let mut limit_given = false;
    let mut i = 2;
    const BOTH: &str =
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = &a[i];
        if xadd && opt.as_ref() == b"*" {
            r.id_pos = i;
            r.id = Some(NewId::Auto);
            break;
        } else if (args::is(opt, "maxlen") || args::is(opt, "minid")) && more > 0 {
            if r.trim.how.is_some() {
                ctx.err(BOTH);
                return None;
            }
            let maxlen = args::is(opt, "maxlen");
            r.trim.approx = false;
            r.trim.has_marker = false;
            let next = &a[i + 1];
            if more >= 2 && next.as_ref() == b"~" {
                r.trim.approx = true;
                r.trim.has_marker = true;
                i += 1;
            } else if more >= 2 && next.as_ref() == b"=" {
                r.trim.has_marker = true;
                i += 1;
            }
            let v = &a[i + 1];
            if maxlen {
                let Some(n) = args::int(v) else {
                    ctx.err(errors::NOT_INT);
                    return None;
                };
                if n < 0 {
                    ctx.err("ERR The MAXLEN argument must be >= 0.");
                    return None;
                }
                r.trim.how = Some(Trim::MaxLen(n as u64));
            } else {
                r.trim.how = Some(Trim::MinId(id_or_reply(ctx, v)?));
            }
            i += 1;
            r.trim.arg = i;
        } else if args::is(opt, "limit") && more > 0 {
            let Some(n) = args::int(&a[i + 1]) else {
                ctx.err(errors::NOT_INT);
                return None;
            };
            if n < 0 {
                ctx.err("ERR The LIMIT argument must be >= 0.");
                return None;
            }
            r.trim.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && args::is(opt, "nomkstream") {
            r.no_mkstream = true;
        } else if xadd {
            let id = if opt.len() > 2 && opt.ends_with(b"-*") {
                parse_u64(&opt[..opt.len() - 2]).map(NewId::Ms)
            } else {
                parse_id(opt, 0, true).map(NewId::Exact)
            };
            let Some(id) = id else {
                ctx.err(INVALID_ID);
                return None;
            };
            r.id_pos = i;
            r.id = Some(id);
            break;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    if r.trim.limit != 0 && r.trim.how.is_none() {
        ctx.err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && r.trim.how.is_none() {
        ctx.err("ERR syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if replicated {
        r.trim.limit = 0;
    } else if limit_given {
        if !r.trim.approx {
            ctx.err("ERR syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if r.trim.approx {
        // At most 100 blocks' worth of work per call, as Redis caps it.
        let per = ctx.settings.stream_node_max_entries as u64;
        r.trim.limit = (100 * per).clamp(1, 1_000_000);
        if per == 0 {
            r.trim.limit = 10_000;
        }
    } else {
        r.trim.limit = 0;
    }
    if xadd && r.id.is_none() {
        ctx.err(&errors::arity(&args::name(a)));
        return None;
    }
    Some(r)
}

/// Whether the command came from our primary or the AOF being loaded (its trims are exact
/// already, and unlimited: Redis's `mustObeyClient`).
fn from_primary(ctx: &Ctx) -> bool {
    ctx.ks.repl.is_replica() || ctx.ks.repl.loading_aof
}

/// The trim as replicas must apply it: an approximate one rewritten to the exact bound it
/// reached (`=` and the resulting length or first id), as Redis's
/// `streamRewriteTrimArgument`.
fn exact_trim_args(line: &mut [Bytes], t: &TrimArgs, s: &StreamValue) {
    if !t.approx {
        return;
    }
    let value = match t.how {
        Some(Trim::MaxLen(_)) => Bytes::from(s.len().to_string()),
        _ => s.edge_id(false).unwrap_or_default().to_bytes(),
    };
    if t.has_marker {
        line[t.arg - 1] = Bytes::from_static(b"=");
    }
    line[t.arg] = value;
}

fn xadd(ctx: &mut Ctx, a: &[Bytes]) {
    let replicated = from_primary(ctx);
    let Some(p) = parse_add_or_trim(ctx, a, true, replicated) else {
        return;
    };
    let fields = p.id_pos + 1;
    if a.len() - fields < 2 || (a.len() - fields) % 2 == 1 {
        return ctx.err(&errors::arity(&args::name(a)));
    }
    if p.id == Some(NewId::Exact(StreamId::MIN)) {
        return ctx.err("ERR The ID specified in XADD must be greater than 0-0");
    }
    let (max_bytes, max_entries, now) = (
        ctx.settings.stream_node_max_bytes,
        ctx.settings.stream_node_max_entries,
        ctx.now,
    );
    let replicating = ctx.replicating();
    let created = match stream_mut(ctx, &a[1]) {
        Err(WrongType) => return,
        Ok(Some(_)) => false,
        Ok(None) if p.no_mkstream => return ctx.out.null(),
        Ok(None) => true,
    };
    if created {
        ctx.db().set(
            &a[1],
            Value::Stream(Box::new(StreamValue::new())),
            Ttl::Persist,
            now,
        );
    }
    let Ok(Some(s)) = stream_mut(ctx, &a[1]) else {
        return;
    };
    if s.last_id == StreamId::MAX {
        let empty = s.is_empty() && created;
        if empty {
            ctx.db().remove(&a[1], now);
        }
        return ctx
            .err("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let pairs: Vec<&[u8]> = a[fields..].iter().map(|b| b.as_ref()).collect();
    let id = match s.add(
        p.id.unwrap_or(NewId::Auto),
        &pairs,
        now,
        max_bytes,
        max_entries,
    ) {
        Ok(id) => id,
        Err(e) => {
            if created {
                ctx.db().remove(&a[1], now);
            }
            return ctx.err(match e {
                AddError::NotGreater => {
                    "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                }
                AddError::TooLarge => "ERR Elements are too large to be stored",
            });
        }
    };
    let trimmed = match p.trim.how {
        Some(how) => s.trim(how, p.trim.approx, p.trim.limit),
        None => 0,
    };
    let mut buf = [0u8; 41];
    let id_text = id.format(&mut buf);
    // Replicas get the id it generated and the exact trim it amounted to; only built when
    // somebody replicates.
    let line = replicating.then(|| {
        let mut line = a.to_vec();
        line[p.id_pos] = Bytes::copy_from_slice(id_text);
        if trimmed > 0 || p.trim.approx {
            exact_trim_args(&mut line, &p.trim, s);
        }
        line
    });
    ctx.out.bulk(id_text);
    ctx.notify("xadd", &a[1]);
    if trimmed > 0 {
        ctx.notify("xtrim", &a[1]);
    }
    ctx.dirty(1);
    if let Some(line) = line {
        ctx.propagate_as(vec![line]);
    }
}

fn xlen(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    if let Ok(s) = stream_read(db, out, &a[1], now) {
        out.int(s.map_or(0, |s| s.len() as i64));
    }
}

fn range_generic(ctx: &mut Ctx, a: &[Bytes], rev: bool) {
    let (start_arg, end_arg) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let Some(start) = interval_or_reply(ctx, start_arg, 0, true) else {
        return;
    };
    let Some(end) = interval_or_reply(ctx, end_arg, u64::MAX, false) else {
        return;
    };
    let mut count: Option<usize> = None;
    let mut j = 4;
    while j < a.len() {
        if args::is(&a[j], "count") && j + 1 < a.len() {
            let Some(n) = args::int(&a[j + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            count = Some(n.max(0) as usize);
            j += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match stream_read(db, out, &a[1], now) {
        Err(WrongType) => {}
        Ok(None) => out.array(0),
        Ok(Some(_)) if count == Some(0) => out.null_array(),
        Ok(Some(s)) => reply_slots(out, &s.slots_in(start, end, rev, count.unwrap_or(0))),
    }
}

fn xrange(ctx: &mut Ctx, a: &[Bytes]) {
    range_generic(ctx, a, false);
}

fn xrevrange(ctx: &mut Ctx, a: &[Bytes]) {
    range_generic(ctx, a, true);
}

fn xdel(ctx: &mut Ctx, a: &[Bytes]) {
    let mut ids = Vec::with_capacity(a.len() - 2);
    // All ids are checked before any is deleted.
    let mut bad = false;
    let probe = match stream_mut(ctx, &a[1]) {
        Err(WrongType) => return,
        Ok(None) => None,
        Ok(Some(_)) => Some(()),
    };
    if probe.is_none() {
        return ctx.out.int(0);
    }
    for arg in &a[2..] {
        match parse_id(arg, 0, true) {
            Some(id) => ids.push(id),
            None => {
                bad = true;
                break;
            }
        }
    }
    if bad {
        return ctx.err(INVALID_ID);
    }
    let Ok(Some(s)) = stream_mut(ctx, &a[1]) else {
        return;
    };
    let deleted = ids.into_iter().filter(|id| s.delete(*id)).count();
    if deleted > 0 {
        ctx.dirty(deleted as u64);
    }
    ctx.out.int(deleted as i64);
}

fn xtrim(ctx: &mut Ctx, a: &[Bytes]) {
    let replicated = from_primary(ctx);
    let Some(p) = parse_add_or_trim(ctx, a, false, replicated) else {
        return;
    };
    let Some(how) = p.trim.how else {
        return;
    };
    let s = match stream_mut(ctx, &a[1]) {
        Err(WrongType) => return,
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s,
    };
    let deleted = s.trim(how, p.trim.approx, p.trim.limit);
    if deleted > 0 {
        let mut line = a.to_vec();
        exact_trim_args(&mut line, &p.trim, s);
        ctx.dirty(deleted);
        if p.trim.approx {
            ctx.propagate_as(vec![line]);
        }
    }
    ctx.out.int(deleted as i64);
}

fn xsetid(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(id) = id_or_reply(ctx, &a[2]) else {
        return;
    };
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if args::is(&a[i], "entriesadded") && more > 0 {
            let Some(n) = args::int(&a[i + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            if n < 0 {
                return ctx.err("ERR entries_added must be positive");
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if args::is(&a[i], "maxdeletedid") && more > 0 {
            let Some(m) = id_or_reply(ctx, &a[i + 1]) else {
                return;
            };
            if id < m {
                return ctx.err(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            max_deleted = m;
            i += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let s = match stream_mut(ctx, &a[1]) {
        Err(WrongType) => return,
        Ok(None) => return ctx.err(errors::NO_KEY),
        Ok(Some(s)) => s,
    };
    // Redis 7.0 does not compare with the stream's own max-deleted-entry-id (7.2 does).
    if !s.is_empty() {
        if s.edge_id(true).is_some_and(|top| id < top) {
            return ctx
                .err("ERR The ID specified in XSETID is smaller than the target stream top item");
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return ctx.err(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_deleted.is_zero() {
        s.max_deleted = max_deleted;
    }
    ctx.dirty(1);
    ctx.out.ok();
}

fn xinfo_help(ctx: &mut Ctx, _a: &[Bytes]) {
    super::reply_help(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
}

/// The stream XINFO looks at: `ERR no such key` when absent.
pub fn xinfo_target<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a StreamValue> {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match stream_read(db, out, key, now) {
        Err(WrongType) => None,
        Ok(None) => {
            out.error(errors::NO_KEY);
            None
        }
        Ok(Some(s)) => Some(s),
    }
}

/// The radix tree's node count Redis would report: we keep a B-tree, so this is an estimate
/// of the same order (a one-key rax has two nodes; about two per key).
fn tree_nodes(s: &StreamValue) -> usize {
    let keys = s.block_count();
    if keys == 0 {
        1
    } else {
        keys * 2
    }
}

fn xinfo_stream(ctx: &mut Ctx, a: &[Bytes]) {
    let opts = &a[3..];
    let mut count: usize = 10;
    let full = match opts.len() {
        0 => false,
        1 | 3 if args::is(&opts[0], "full") => {
            if opts.len() == 3 {
                if !args::is(&opts[1], "count") {
                    return ctx.err(&syntax_sub(a));
                }
                let Some(n) = args::int(&opts[2]) else {
                    return ctx.err(errors::NOT_INT);
                };
                count = if n < 0 { 10 } else { n as usize };
            }
            true
        }
        _ => return ctx.err(&syntax_sub(a)),
    };
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let s = match stream_read(db, out, &a[2], now) {
        Err(WrongType) => return,
        Ok(None) => return out.error(errors::NO_KEY),
        Ok(Some(s)) => s,
    };
    out.map(if full { 9 } else { 10 });
    out.bulk_str("length");
    out.int(s.len() as i64);
    out.bulk_str("radix-tree-keys");
    out.int(s.block_count() as i64);
    out.bulk_str("radix-tree-nodes");
    out.int(tree_nodes(s) as i64);
    out.bulk_str("last-generated-id");
    out.bulk(&s.last_id.to_bytes());
    out.bulk_str("max-deleted-entry-id");
    out.bulk(&s.max_deleted.to_bytes());
    out.bulk_str("entries-added");
    out.int(s.entries_added as i64);
    out.bulk_str("recorded-first-entry-id");
    out.bulk(&s.first_id.to_bytes());
    if !full {
        out.bulk_str("groups");
        out.int(s.groups.len() as i64);
        for (name, last) in [("first-entry", false), ("last-entry", true)] {
            out.bulk_str(name);
            let e = if last {
                s.range(StreamId::MIN, StreamId::MAX, true, 1)
            } else {
                s.range(StreamId::MIN, StreamId::MAX, false, 1)
            };
            match e.first() {
                Some((id, pairs)) => reply_entry(out, *id, pairs),
                None => out.null(),
            }
        }
        return;
    }
    out.bulk_str("entries");
    reply_entries(out, &s.range(StreamId::MIN, StreamId::MAX, false, count));
    out.bulk_str("groups");
    super::stream_groups::reply_full_groups(out, s, count);
}

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try XINFO HELP.`, as
/// Redis's `addReplySubcommandSyntaxError`.
pub fn syntax_sub(a: &[Bytes]) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&a[1]),
        String::from_utf8_lossy(&a[0]).to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_parses_them() {
        assert_eq!(parse_id(b"5", 7, true), Some(StreamId::new(5, 7)));
        assert_eq!(parse_id(b"5-3", 0, true), Some(StreamId::new(5, 3)));
        assert_eq!(parse_id(b"-", 0, true), None);
        assert_eq!(parse_id(b"-", 0, false), Some(StreamId::MIN));
        assert_eq!(parse_id(b"+", 0, false), Some(StreamId::MAX));
        assert_eq!(parse_id(b"1-", 0, true), None);
        assert_eq!(parse_id(b"-1", 0, true), None);
        assert_eq!(
            parse_id(b"18446744073709551615-18446744073709551615", 0, true),
            Some(StreamId::MAX)
        );
        assert_eq!(parse_id(b"18446744073709551616", 0, true), None);
        assert_eq!(parse_id(b"a-1", 0, true), None);
    }
}
