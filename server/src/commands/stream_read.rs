//! XREAD and XREADGROUP, blocking included (Redis's `xreadCommand`).
//!
//! A read that finds nothing and has BLOCK parks on its streams; a write to one of them
//! re-runs it on that stream alone (see `dispatch::serve_blocked` and [`rerun_on_stream`]).
//! XREAD's `$` means "after the last id when I blocked", so the re-run line carries the ids
//! `$` stood for, as Redis rewrites its argv. XREADGROUP with `>` needs no rewrite: the group
//! remembers where it is. An XREADGROUP whose stream is deleted while it waits is answered
//! `-UNBLOCKED` (its table entry says [`Blocks::StreamGroup`]), one whose group is destroyed
//! [`GROUP_GONE`].
//!
//! What XREADGROUP changes replicates as its effects (the pending entries it creates as
//! XCLAIMs, the group's new position as XGROUP SETID), never as itself.

use super::keyspec::{key_flags::*, BeginSearch, FindKeys, KeySpec};
use super::stream_groups::{createconsumer_effect, no_group, setid_effect, xclaim_effect};
use super::streams::{parse_id, reply_entry, reply_slot, reply_slots, stream_out, INVALID_ID};
use super::table::{flags::*, Blocks, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::types::stream::{StreamId, StreamValue};
use crate::keyspace::Value;
use crate::keyspace_events::Events;
use bytes::Bytes;

/// The most entries per stream a blocked read without COUNT is served.
const BLOCKED_DEFAULT_COUNT: &[u8] = b"1000";

/// The keys after STREAMS: the first half of what follows it (Redis's `limit: 2`).
const fn streams_spec(startfrom: i32, flags: u32) -> KeySpec {
    KeySpec {
        flags,
        begin: BeginSearch::Keyword {
            keyword: "STREAMS",
            startfrom,
        },
        find: FindKeys::Range {
            lastkey: -1,
            keystep: 1,
            limit: 2,
        },
        notes: None,
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xread", -4, READONLY | BLOCKING, &[streams_spec(1, RO | ACCESS)], xread, "stream", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.").blocks(Blocks::Stream),
    CommandSpec::new("xreadgroup", -7, WRITE | BLOCKING, &[streams_spec(4, RO | ACCESS)], xreadgroup, "stream", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.").blocks(Blocks::StreamGroup).events(Events::Reported('t')),
];

/// What the client asked for from one stream.
#[derive(Clone, Copy)]
enum From {
    /// Entries after this id.
    After(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
}

struct ReadArgs {
    timeout: Option<u64>,
    count: usize,
    noack: bool,
    group: Option<(Bytes, Bytes)>,
    /// Where the keys start; the ids follow them.
    streams: usize,
    n: usize,
}

/// `getTimeoutFromObjectOrReply` in milliseconds.
fn parse_block(b: &[u8]) -> Result<u64, String> {
    match args::int(b) {
        None => Err("ERR timeout is not an integer or out of range".into()),
        Some(n) if n < 0 => Err("ERR timeout is negative".into()),
        Some(n) => Ok(n as u64),
    }
}

/// The options of an XREAD/XREADGROUP line, or the error Redis answers for them. A script
/// may not ask to block at all (Redis refuses BLOCK there rather than ignore it, so a
/// script never depends on a wait that cannot happen).
fn parse_read(a: &[Bytes], group: bool, in_script: bool) -> Result<ReadArgs, String> {
    let mut r = ReadArgs {
        timeout: None,
        count: 0,
        noack: false,
        group: None,
        streams: 0,
        n: 0,
    };
    let name = if group { "xreadgroup" } else { "xread" };
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - i - 1;
        let o = &a[i];
        if args::is(o, "block") && more > 0 {
            if in_script {
                return Err(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&a[0])
                ));
            }
            i += 1;
            r.timeout = Some(parse_block(&a[i])?);
        } else if args::is(o, "count") && more > 0 {
            i += 1;
            let Some(n) = args::int(&a[i]) else {
                return Err(errors::NOT_INT.into());
            };
            r.count = n.max(0) as usize;
        } else if args::is(o, "streams") && more > 0 {
            r.streams = i + 1;
            let rest = a.len() - r.streams;
            if !rest.is_multiple_of(2) {
                let symbol = if group { '>' } else { '$' };
                return Err(format!("ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{symbol}' must be specified."));
            }
            r.n = rest / 2;
            break;
        } else if args::is(o, "group") && more >= 2 {
            if !group {
                return Err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            r.group = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 2;
        } else if args::is(o, "noack") {
            if !group {
                return Err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            r.noack = true;
        } else {
            return Err(errors::SYNTAX.into());
        }
        i += 1;
    }
    if r.streams == 0 {
        return Err(errors::SYNTAX.into());
    }
    if group && r.group.is_none() {
        return Err("ERR Missing GROUP option for XREADGROUP".into());
    }
    Ok(r)
}

/// The line a blocked read re-runs when `key` became ready: the same read on that one
/// stream. Redis 7.0 serves a blocked XREAD/XREADGROUP from the key whose write woke it
/// (`serveClientsBlockedOnStreamKey` replies with a one-stream array), not from every stream
/// it waits on that has data by then. A key named twice waits with its first id, as
/// `blockForKeys` keeps the first. None when `key` is not one of its streams.
pub fn rerun_on_stream(a: &[Bytes], group: bool, key: &[u8]) -> Option<Vec<Bytes>> {
    let r = parse_read(a, group, false).ok()?;
    let keys = a.get(r.streams..r.streams + r.n)?;
    let i = keys.iter().position(|k| k.as_ref() == key)?;
    let id = a.get(r.streams + r.n + i)?;
    let mut line = Vec::with_capacity(r.streams + 2);
    line.extend_from_slice(&a[..r.streams]);
    line.push(keys[i].clone());
    line.push(id.clone());
    Some(line)
}

/// Whether an XREADGROUP waiting on a stream whose key became ready lost its group
/// meanwhile: Redis 7.0 then ends the wait with [`GROUP_GONE`] instead of re-running it.
pub fn waited_group_gone(value: &Value, a: &[Bytes]) -> bool {
    let (Value::Stream(s), Ok(r)) = (value, parse_read(a, true, false)) else {
        return false;
    };
    r.group
        .is_some_and(|(g, _)| !s.groups.contains_key(g.as_ref()))
}

/// What a blocked XREADGROUP whose group was destroyed is answered (Redis 7.0's
/// `serveClientsBlockedOnStreamKey`), unlike a fresh one's "No such key ... or consumer group".
pub const GROUP_GONE: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";

/// The stream at `key`, WRONGTYPE replied for another type.
fn lookup<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
) -> Result<Option<&'a mut StreamValue>, super::streams::WrongType> {
    super::streams::stream_mut(ctx, key)
}

fn xread(ctx: &mut Ctx, a: &[Bytes]) {
    read_generic(ctx, a, false);
}

fn xreadgroup(ctx: &mut Ctx, a: &[Bytes]) {
    read_generic(ctx, a, true);
}

fn read_generic(ctx: &mut Ctx, a: &[Bytes], is_group: bool) {
    let r = match parse_read(a, is_group, ctx.conn.in_script) {
        Ok(r) => r,
        Err(e) => return ctx.err(&e),
    };
    let keys = &a[r.streams..r.streams + r.n];
    let id_args = &a[r.streams + r.n..];
    // Resolve every id (and check every key and group) before serving anything.
    let mut from = Vec::with_capacity(r.n);
    for (key, arg) in keys.iter().zip(id_args) {
        let (last, has_group) = match lookup(ctx, key) {
            Err(_) => return,
            Ok(s) => (
                s.as_ref().map(|s| s.last_id),
                match (&r.group, s) {
                    (Some((g, _)), Some(s)) => s.groups.contains_key(g.as_ref()),
                    _ => false,
                },
            ),
        };
        if let Some((g, _)) = &r.group {
            if !has_group {
                return ctx.err(&no_group(key, g, " in XREADGROUP with GROUP option"));
            }
        }
        let f = match arg.as_ref() {
            b"$" if is_group => {
                return ctx.err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
            }
            b"$" => From::After(last.unwrap_or_default()),
            b">" if !is_group => {
                return ctx.err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
            }
            b">" => From::New,
            _ => match parse_id(arg, 0, true) {
                Some(id) => From::After(id),
                None => return ctx.err(INVALID_ID),
            },
        };
        from.push(f);
    }
    let now = ctx.now;
    // The XCLAIMs that carry each delivery to replicas and the AOF are built only when
    // something records them (a read without either is the common, latency-bound case).
    let replicating = ctx.replicating();
    // Which streams have something to serve (creating XREADGROUP's consumer on the way),
    // so that the reply's length is known before it is written. As in Redis 7.0, the
    // consumer is created (and its seen-time refreshed) only where something is served: a
    // read that finds nothing, or blocks, leaves the group as it was until data arrives.
    let mut serve = vec![false; r.n];
    let mut effects: Vec<Vec<Bytes>> = Vec::new();
    let mut created: Vec<Bytes> = Vec::new();
    for (i, (key, f)) in keys.iter().zip(&from).enumerate() {
        let Ok(Some(s)) = lookup(ctx, key) else {
            continue;
        };
        let top = s.edge_id(true);
        serve[i] = match (&r.group, *f) {
            (None, From::After(gt)) => top.is_some_and(|top| top > gt),
            (None, From::New) => false,
            (Some((gname, cname)), f) => {
                let Some(g) = s.groups.get_mut(gname.as_ref()) else {
                    continue;
                };
                let serving = match f {
                    From::After(_) => true,
                    From::New => top.is_some_and(|top| top > g.last_id),
                };
                if serving {
                    if g.create_consumer(cname, now) {
                        created.push(key.clone());
                        // Without NOACK, the XCLAIMs of what it reads create it on replicas.
                        if r.noack {
                            effects.push(createconsumer_effect(key, gname, cname));
                        }
                    }
                    if let Some(c) = g.consumers.get_mut(cname.as_ref()) {
                        c.seen_time = now;
                    }
                }
                serving
            }
        };
    }
    let served = serve.iter().filter(|x| **x).count();
    if served > 0 {
        let resp3 = ctx.out.resp3;
        if resp3 {
            ctx.out.map(served);
        } else {
            ctx.out.array(served);
        }
        for (i, (key, f)) in keys.iter().zip(&from).enumerate() {
            if !serve[i] {
                continue;
            }
            let (Some(s), out) = stream_out(ctx, key) else {
                continue;
            };
            if !resp3 {
                out.array(2);
            }
            out.bulk(key);
            match (&r.group, *f) {
                (None, From::After(gt)) => {
                    let start = gt.incr().unwrap_or_default();
                    reply_slots(out, &s.slots_in(start, StreamId::MAX, false, r.count));
                }
                (Some((gname, cname)), f) => {
                    let mut groups = std::mem::take(&mut s.groups);
                    if let Some(g) = groups.get_mut(gname.as_ref()) {
                        let effects = replicating.then_some(&mut effects);
                        serve_group(s, g, key, gname, cname, f, &r, now, out, effects);
                    }
                    s.groups = groups;
                }
                _ => {}
            }
        }
    }
    if is_group {
        for key in &created {
            ctx.notify("xgroup-createconsumer", key);
        }
        let changes = (served + created.len()) as u64;
        if changes > 0 {
            ctx.dirty(changes);
        }
        ctx.propagate_as(effects);
    }
    if served > 0 {
        return;
    }
    match r.timeout {
        None => ctx.out.null_array(),
        Some(t) => {
            let mut rerun = a.to_vec();
            for (i, f) in from.iter().enumerate() {
                if let (b"$", From::After(id)) = (id_args[i].as_ref(), f) {
                    rerun[r.streams + r.n + i] = id.to_bytes();
                }
            }
            // Served later without a COUNT, a reader gets at most this many entries per
            // stream (Redis's XREAD_BLOCKED_DEFAULT_COUNT), not a whole backlog at once.
            if r.count == 0 {
                let at = r.streams - 1;
                rerun.splice(
                    at..at,
                    [
                        Bytes::from_static(b"COUNT"),
                        Bytes::from_static(BLOCKED_DEFAULT_COUNT),
                    ],
                );
            }
            let keys = keys.iter().map(|k| k.to_vec()).collect();
            ctx.block_on_rerun(keys, t, rerun);
        }
    }
}

/// Serves one stream of an XREADGROUP: new entries (`>`) or the consumer's history, written
/// to `out`; the replicated effects go to `effects` when something records them.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    s: &StreamValue,
    g: &mut crate::keyspace::types::stream::Group,
    key: &Bytes,
    gname: &Bytes,
    cname: &Bytes,
    from: From,
    r: &ReadArgs,
    now: u64,
    out: &mut crate::protocol::Out,
    mut effects: Option<&mut Vec<Vec<Bytes>>>,
) {
    match from {
        From::After(gt) => {
            // The consumer's own history: its pending entries after `gt`.
            let start = gt.incr().unwrap_or_default();
            let ids: Vec<StreamId> = g
                .consumers
                .get(cname.as_ref())
                .map(|c| {
                    c.pel
                        .range(start..)
                        .take(if r.count == 0 { usize::MAX } else { r.count })
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            out.array(ids.len());
            for id in ids {
                match s.get(id) {
                    Some((_, pairs)) => {
                        reply_entry(out, id, &pairs);
                        if let Some(n) = g.pel.get_mut(&id) {
                            n.delivery_time = now;
                            n.delivery_count += 1;
                        }
                    }
                    None => {
                        out.array(2);
                        out.bulk(&id.to_bytes());
                        out.null_array();
                    }
                }
            }
        }
        From::New => {
            let start = g.last_id.incr().unwrap_or_default();
            let entries = s.slots_in(start, StreamId::MAX, false, r.count);
            out.array(entries.len());
            let mut moved = false;
            for (b, slot) in &entries {
                let id = slot.id;
                if id > g.last_id {
                    s.advance_group(g, id);
                    moved = true;
                }
                reply_slot(out, b, slot);
                if !r.noack {
                    g.assign(id, cname, now, 1);
                    if let Some(effects) = effects.as_deref_mut() {
                        effects.extend(xclaim_effect(key, gname, g, id));
                    }
                }
            }
            // The XCLAIMs carry the new position (LASTID); with NOACK there are none.
            if moved && r.noack {
                if let Some(effects) = effects {
                    effects.push(setid_effect(key, gname, g));
                }
            }
        }
    }
}
