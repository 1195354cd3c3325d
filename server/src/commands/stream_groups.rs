//! Consumer groups: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM and XINFO GROUPS/CONSUMERS,
//! with Redis 7.0's replies and errors.
//!
//! What a group command changes reaches replicas as Redis propagates it: each pending entry
//! it creates or moves as an idempotent `XCLAIM ... TIME t RETRYCOUNT n FORCE JUSTID LASTID
//! id`, the group's position as `XGROUP SETID ... ENTRIESREAD n`, a consumer it creates as
//! `XGROUP CREATECONSUMER`, so a promoted replica resumes with the same pending entries and
//! last-delivered id.

use super::keyspec::{self as ks, key_flags::*};
use super::streams::{
    id_or_reply, interval_or_reply, parse_id, reply_entry, stream_mut, stream_out, stream_read,
    syntax_sub, xinfo_target,
};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::types::stream::{Group, StreamId, StreamValue};
use crate::keyspace::{Ttl, Value};
use crate::keyspace_events::Events;
use crate::protocol::Out;
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::container("xgroup", -2, super::unknown_sub, "stream", "A container for consumer groups commands.", XGROUP_SUBCOMMANDS),
    CommandSpec::new("xack", -4, WRITE | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], xack, "stream", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.").events(Events::None),
    CommandSpec::new("xpending", -3, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], xpending, "stream", "Returns the information and entries from a stream consumer group's pending entries list."),
    CommandSpec::new("xclaim", -6, WRITE | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], xclaim, "stream", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.").events(Events::Reported('t')),
    CommandSpec::new("xautoclaim", -6, WRITE | FAST, &[ks::range(1, 0, 1, RW | DELETE)], xautoclaim, "stream", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.").events(Events::Reported('t')),
];

static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "create",
        -5,
        WRITE | DENYOOM,
        &[ks::range(2, 0, 1, RW | INSERT)],
        xgroup_create,
        "stream",
        "Creates a consumer group.",
    )
    .events(Events::Named("xgroup-create")),
    CommandSpec::new(
        "setid",
        -5,
        WRITE,
        &[ks::range(2, 0, 1, RW | UPDATE)],
        xgroup_setid,
        "stream",
        "Sets the last-delivered ID of a consumer group.",
    )
    .events(Events::Named("xgroup-setid")),
    CommandSpec::new(
        "destroy",
        4,
        WRITE,
        &[ks::range(2, 0, 1, RW | DELETE)],
        xgroup_destroy,
        "stream",
        "Destroys a consumer group.",
    )
    .events(Events::Named("xgroup-destroy")),
    CommandSpec::new(
        "createconsumer",
        5,
        WRITE | DENYOOM,
        &[ks::range(2, 0, 1, RW | INSERT)],
        xgroup_createconsumer,
        "stream",
        "Creates a consumer in a consumer group.",
    )
    .events(Events::Named("xgroup-createconsumer")),
    CommandSpec::new(
        "delconsumer",
        5,
        WRITE,
        &[ks::range(2, 0, 1, RW | DELETE)],
        xgroup_delconsumer,
        "stream",
        "Deletes a consumer from a consumer group.",
    )
    .events(Events::Named("xgroup-delconsumer")),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        xgroup_help,
        "stream",
        "Returns helpful text about the different subcommands.",
    ),
];

/// `-NOGROUP No such key '<key>' or consumer group '<group>'`.
pub fn no_group(key: &[u8], group: &[u8], suffix: &str) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'{suffix}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    )
}

/// The replicated effect of a pending entry being (re)assigned: Redis's
/// `streamPropagateXCLAIM`.
pub fn xclaim_effect(key: &Bytes, group: &Bytes, g: &Group, id: StreamId) -> Option<Vec<Bytes>> {
    let n = g.pel.get(&id)?;
    Some(vec![
        Bytes::from_static(b"XCLAIM"),
        key.clone(),
        group.clone(),
        n.consumer.clone(),
        Bytes::from_static(b"0"),
        id.to_bytes(),
        Bytes::from_static(b"TIME"),
        Bytes::from(n.delivery_time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        Bytes::from(n.delivery_count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        g.last_id.to_bytes(),
    ])
}

/// The replicated effect of a group's position changing: Redis's `streamPropagateGroupID`.
pub fn setid_effect(key: &Bytes, group: &Bytes, g: &Group) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        key.clone(),
        group.clone(),
        g.last_id.to_bytes(),
        Bytes::from_static(b"ENTRIESREAD"),
        Bytes::from(g.entries_read.map_or(-1, |n| n as i64).to_string()),
    ]
}

/// The replicated effect of a consumer being created as a side effect.
pub fn createconsumer_effect(key: &Bytes, group: &Bytes, consumer: &Bytes) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"CREATECONSUMER"),
        key.clone(),
        group.clone(),
        consumer.clone(),
    ]
}

fn xgroup_help(ctx: &mut Ctx, _a: &[Bytes]) {
    super::reply_help(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
}

/// XGROUP's shared checks (Redis's `xgroupCommand` prologue): options of CREATE and SETID,
/// the key's type and existence, and the group's existence where needed. Returns MKSTREAM
/// and ENTRIESREAD (`None`: -1).
fn xgroup_prologue(ctx: &mut Ctx, a: &[Bytes], needs_group: bool) -> Option<(bool, Option<u64>)> {
    let create = args::is(&a[1], "create");
    let setid = args::is(&a[1], "setid");
    let mut mkstream = false;
    let mut entries_read = None;
    let mut i = 5;
    while i < a.len() {
        if create && args::is(&a[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && args::is(&a[i], "entriesread") && i + 1 < a.len() {
            let Some(n) = args::int(&a[i + 1]) else {
                ctx.err(errors::NOT_INT);
                return None;
            };
            if n < 0 && n != -1 {
                ctx.err("ERR value for ENTRIESREAD must be positive or -1");
                return None;
            }
            entries_read = (n >= 0).then_some(n as u64);
            i += 2;
        } else {
            ctx.err(&syntax_sub(a));
            return None;
        }
    }
    let exists = match stream_mut(ctx, &a[2]) {
        Err(_) => return None,
        Ok(s) => s.map(|s| s.groups.contains_key(a[3].as_ref())),
    };
    if !mkstream {
        match exists {
            None => {
                ctx.err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
                return None;
            }
            Some(false) if needs_group => {
                ctx.err(&format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&a[3]),
                    String::from_utf8_lossy(&a[2])
                ));
                return None;
            }
            _ => {}
        }
    }
    Some((mkstream, entries_read))
}

fn xgroup_create(ctx: &mut Ctx, a: &[Bytes]) {
    let Some((_, entries_read)) = xgroup_prologue(ctx, a, false) else {
        return;
    };
    if a.len() > 8 {
        return ctx.err(&syntax_sub(a));
    }
    let now = ctx.now;
    let last = match stream_mut(ctx, &a[2]) {
        Ok(Some(s)) => Some(s.last_id),
        _ => None,
    };
    let id = if a[4].as_ref() == b"$" {
        last.unwrap_or_default()
    } else {
        match id_or_reply(ctx, &a[4]) {
            Some(id) => id,
            None => return,
        }
    };
    if last.is_none() {
        ctx.db().set(
            &a[2],
            Value::Stream(Box::new(StreamValue::new())),
            Ttl::Persist,
            now,
        );
        ctx.dirty(1);
    }
    let Ok(Some(s)) = stream_mut(ctx, &a[2]) else {
        return;
    };
    if s.groups.contains_key(a[3].as_ref()) {
        return ctx.err("BUSYGROUP Consumer Group name already exists");
    }
    s.groups.insert(a[3].clone(), Group::new(id, entries_read));
    ctx.dirty(1);
    ctx.out.ok();
}

fn xgroup_setid(ctx: &mut Ctx, a: &[Bytes]) {
    let Some((_, entries_read)) = xgroup_prologue(ctx, a, true) else {
        return;
    };
    if a.len() != 5 && a.len() != 7 {
        return ctx.err(&syntax_sub(a));
    }
    let dollar = a[4].as_ref() == b"$";
    let id = if dollar {
        None
    } else {
        match parse_id(&a[4], 0, false) {
            Some(id) => Some(id),
            None => return ctx.err(super::streams::INVALID_ID),
        }
    };
    let Ok(Some(s)) = stream_mut(ctx, &a[2]) else {
        return;
    };
    let id = id.unwrap_or(s.last_id);
    if let Some(g) = s.groups.get_mut(a[3].as_ref()) {
        g.last_id = id;
        g.entries_read = entries_read;
    }
    ctx.dirty(1);
    ctx.out.ok();
}

fn xgroup_destroy(ctx: &mut Ctx, a: &[Bytes]) {
    if xgroup_prologue(ctx, a, false).is_none() {
        return;
    }
    let Ok(Some(s)) = stream_mut(ctx, &a[2]) else {
        return;
    };
    if s.groups.remove(a[3].as_ref()).is_some() {
        ctx.dirty(1);
        ctx.out.int(1);
    } else {
        ctx.out.int(0);
    }
}

fn xgroup_createconsumer(ctx: &mut Ctx, a: &[Bytes]) {
    if xgroup_prologue(ctx, a, true).is_none() {
        return;
    }
    let now = ctx.now;
    let Ok(Some(s)) = stream_mut(ctx, &a[2]) else {
        return;
    };
    let created = s
        .groups
        .get_mut(a[3].as_ref())
        .is_some_and(|g| g.create_consumer(&a[4], now));
    if created {
        ctx.dirty(1);
    }
    ctx.out.int(created as i64);
}

fn xgroup_delconsumer(ctx: &mut Ctx, a: &[Bytes]) {
    if xgroup_prologue(ctx, a, true).is_none() {
        return;
    }
    let Ok(Some(s)) = stream_mut(ctx, &a[2]) else {
        return;
    };
    let pending = s
        .groups
        .get_mut(a[3].as_ref())
        .and_then(|g| g.delete_consumer(&a[4]));
    if pending.is_some() {
        ctx.dirty(1);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
}

fn xack(ctx: &mut Ctx, a: &[Bytes]) {
    let has_group = match stream_mut(ctx, &a[1]) {
        Err(_) => return,
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(a[2].as_ref())),
    };
    if !has_group {
        return ctx.out.int(0);
    }
    let mut ids = Vec::with_capacity(a.len() - 3);
    for arg in &a[3..] {
        match id_or_reply(ctx, arg) {
            Some(id) => ids.push(id),
            None => return,
        }
    }
    let Ok(Some(s)) = stream_mut(ctx, &a[1]) else {
        return;
    };
    let Some(g) = s.groups.get_mut(a[2].as_ref()) else {
        return;
    };
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
    if acked > 0 {
        ctx.dirty(acked as u64);
    }
    ctx.out.int(acked as i64);
}

fn xpending(ctx: &mut Ctx, a: &[Bytes]) {
    let summary = a.len() == 3;
    if a.len() != 3 && (a.len() < 6 || a.len() > 9) {
        return ctx.err(errors::SYNTAX);
    }
    let (mut start, mut end, mut count, mut min_idle, mut consumer) =
        (StreamId::MIN, StreamId::MAX, 0usize, 0i64, None);
    if !summary {
        let mut at = 3;
        if args::is(&a[3], "idle") {
            let Some(n) = args::int(&a[4]) else {
                return ctx.err(errors::NOT_INT);
            };
            min_idle = n;
            if a.len() < 8 {
                return ctx.err(errors::SYNTAX);
            }
            at += 2;
        }
        let Some(c) = args::int(&a[at + 2]) else {
            return ctx.err(errors::NOT_INT);
        };
        count = c.max(0) as usize;
        let Some(s) = interval_or_reply(ctx, &a[at], 0, true) else {
            return;
        };
        let Some(e) = interval_or_reply(ctx, &a[at + 1], u64::MAX, false) else {
            return;
        };
        (start, end) = (s, e);
        consumer = a.get(at + 3);
    }
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let g = match stream_read(db, out, &a[1], now) {
        Err(_) => return,
        Ok(s) => match s.and_then(|s| s.groups.get(a[2].as_ref())) {
            Some(g) => g,
            None => return out.error(&no_group(&a[1], &a[2], "")),
        },
    };
    if summary {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.first_key_value(), g.pel.last_key_value()) {
            (Some((first, _)), Some((last, _))) => {
                out.bulk(&first.to_bytes());
                out.bulk(&last.to_bytes());
                let owners: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array(owners.len());
                for (name, c) in owners {
                    out.array(2);
                    out.bulk(name);
                    out.bulk(c.pel.len().to_string().as_bytes());
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return;
    }
    if start > end {
        return out.array(0);
    }
    let ids: Vec<StreamId> = match consumer {
        Some(name) => match g.consumers.get(name.as_ref()) {
            None => return out.array(0),
            Some(c) => c.pel.range(start..=end).copied().collect(),
        },
        None => g.pel.range(start..=end).map(|(id, _)| *id).collect(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() >= count {
            break;
        }
        let Some(n) = g.pel.get(&id) else { continue };
        let idle = now as i64 - n.delivery_time as i64;
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        rows.push((id, n, idle.max(0)));
    }
    out.array(rows.len());
    for (id, n, idle) in rows {
        out.array(4);
        out.bulk(&id.to_bytes());
        out.bulk(&n.consumer);
        out.int(idle);
        out.int(n.delivery_count as i64);
    }
}

/// The group of a claim command, or the NOGROUP error replied.
fn claim_target(ctx: &mut Ctx, a: &[Bytes]) -> bool {
    let found = match stream_mut(ctx, &a[1]) {
        Err(_) => return false,
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(a[2].as_ref())),
    };
    if !found {
        ctx.err(&no_group(&a[1], &a[2], ""));
    }
    found
}

/// Parses a `getLongLongFromObjectOrReply` argument with a custom message.
fn int_or(ctx: &mut Ctx, b: &[u8], msg: &str) -> Option<i64> {
    let n = args::int(b);
    if n.is_none() {
        ctx.err(&format!("ERR {msg}"));
    }
    n
}

fn xclaim(ctx: &mut Ctx, a: &[Bytes]) {
    // XCLAIM looks the key up before parsing (its NOGROUP comes first).
    if !claim_target(ctx, a) {
        return;
    }
    let Some(min_idle) = int_or(ctx, &a[4], "Invalid min-idle-time argument for XCLAIM") else {
        return;
    };
    let min_idle = min_idle.max(0) as u64;
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match parse_id(&a[j], 0, true) {
            Some(id) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now;
    let (mut force, mut justid) = (false, false);
    let mut delivery: Option<i64> = None;
    let mut retry: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = &a[j];
        if args::is(opt, "force") {
            force = true;
        } else if args::is(opt, "justid") {
            justid = true;
        } else if args::is(opt, "idle") && more > 0 {
            j += 1;
            let Some(n) = int_or(ctx, &a[j], "Invalid IDLE option argument for XCLAIM") else {
                return;
            };
            delivery = Some(now as i64 - n);
        } else if args::is(opt, "time") && more > 0 {
            j += 1;
            let Some(n) = int_or(ctx, &a[j], "Invalid TIME option argument for XCLAIM") else {
                return;
            };
            delivery = Some(n);
        } else if args::is(opt, "retrycount") && more > 0 {
            j += 1;
            let Some(n) = int_or(ctx, &a[j], "Invalid RETRYCOUNT option argument for XCLAIM")
            else {
                return;
            };
            retry = Some(n);
        } else if args::is(opt, "lastid") && more > 0 {
            j += 1;
            let Some(id) = id_or_reply(ctx, &a[j]) else {
                return;
            };
            last_id = id;
        } else {
            return ctx.err(&format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            ));
        }
        j += 1;
    }
    let delivery = match delivery {
        Some(t) if t >= 0 && t as u64 <= now => t as u64,
        _ => now,
    };
    let (key, group, consumer) = (a[1].clone(), a[2].clone(), a[3].clone());
    let (Some(s), out) = stream_out(ctx, &key) else {
        return;
    };
    // The groups are taken out while entries are read from the stream beside them.
    let mut s_groups = std::mem::take(&mut s.groups);
    let Some(g) = s_groups.get_mut(group.as_ref()) else {
        s.groups = s_groups;
        return;
    };
    let mut effects = Vec::new();
    let mut dirty = 0;
    let mut reported = Vec::new();
    let mut propagate_last = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        propagate_last = true;
    }
    let created = g.create_consumer(&consumer, now);
    if created {
        dirty += 1;
        reported.push("xgroup-createconsumer");
    }
    if let Some(c) = g.consumers.get_mut(consumer.as_ref()) {
        c.seen_time = now;
    }
    let mut reply: Vec<(StreamId, Option<Vec<&[u8]>>)> = Vec::new();
    for id in ids {
        let exists = s.contains(id);
        if !exists {
            if g.pel.contains_key(&id) {
                if let Some(e) = xclaim_effect(&key, &group, g, id) {
                    effects.push(e);
                }
                propagate_last = false;
                dirty += 1;
                g.ack(id);
            }
            continue;
        }
        let pending = g.pel.get(&id).cloned();
        if pending.is_none() && !force {
            continue;
        }
        if let Some(n) = &pending {
            if min_idle > 0 && now.saturating_sub(n.delivery_time) < min_idle {
                continue;
            }
        }
        let count = match (retry, &pending) {
            (Some(r), _) if r >= 0 => r as u64,
            (_, Some(n)) if justid => n.delivery_count,
            (_, Some(n)) => n.delivery_count + 1,
            // A new entry (FORCE) starts at 1, and counts this delivery unless JUSTID.
            (_, None) => 1 + u64::from(!justid),
        };
        g.assign(id, &consumer, delivery, count);
        reply.push((
            id,
            (!justid).then(|| s.get(id).map(|e| e.1).unwrap_or_default()),
        ));
        if let Some(e) = xclaim_effect(&key, &group, g, id) {
            effects.push(e);
        }
        propagate_last = false;
        dirty += 1;
    }
    if propagate_last {
        effects.push(setid_effect(&key, &group, g));
        dirty += 1;
    }
    // A consumer created without any XCLAIM to create it on replicas.
    if created && effects.is_empty() {
        effects.push(createconsumer_effect(&key, &group, &consumer));
    }
    // Rendered before the groups go back (the replies borrow the entries).
    out.array(reply.len());
    for (id, pairs) in &reply {
        match pairs {
            Some(p) => reply_entry(out, *id, p),
            None => out.bulk(&id.to_bytes()),
        }
    }
    drop(reply);
    s.groups = s_groups;
    for e in reported {
        ctx.notify(e, &key);
    }
    if dirty > 0 {
        ctx.dirty(dirty);
    }
    ctx.propagate_as(effects);
}

fn xautoclaim(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(min_idle) = int_or(ctx, &a[4], "Invalid min-idle-time argument for XAUTOCLAIM") else {
        return;
    };
    let min_idle = min_idle.max(0) as u64;
    let Some(start) = interval_or_reply(ctx, &a[5], 0, true) else {
        return;
    };
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    // COUNT is capped so that the attempts it allows (ten per entry) stay bounded
    // (CVE-2022-35951).
    let max_count = (i64::MAX / 16) as u64;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if args::is(&a[j], "count") && more > 0 {
            match args::int(&a[j + 1]) {
                Some(n) if n >= 1 && (n as u64) <= max_count => count = n as u64,
                _ => return ctx.err("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if args::is(&a[j], "justid") {
            justid = true;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 1;
    }
    if !claim_target(ctx, a) {
        return;
    }
    let now = ctx.now;
    let (key, group, consumer) = (a[1].clone(), a[2].clone(), a[3].clone());
    let (Some(s), out) = stream_out(ctx, &key) else {
        return;
    };
    let mut s_groups = std::mem::take(&mut s.groups);
    let Some(g) = s_groups.get_mut(group.as_ref()) else {
        s.groups = s_groups;
        return;
    };
    let mut effects = Vec::new();
    let mut dirty = 0;
    let mut reported = Vec::new();
    let created = g.create_consumer(&consumer, now);
    if created {
        dirty += 1;
        reported.push("xgroup-createconsumer");
    }
    if let Some(c) = g.consumers.get_mut(consumer.as_ref()) {
        c.seen_time = now;
    }
    let mut attempts = count.saturating_mul(10);
    let mut claimed: Vec<(StreamId, Option<Vec<&[u8]>>)> = Vec::new();
    let mut deleted = Vec::new();
    let mut cursor = start;
    let mut next: Option<StreamId> = None;
    while let Some((&id, n)) = g.pel.range(cursor..).next() {
        if attempts == 0 || count == 0 {
            next = Some(id);
            break;
        }
        attempts -= 1;
        let (delivery_time, delivery_count) = (n.delivery_time, n.delivery_count);
        cursor = match id.incr() {
            Some(c) => c,
            None => StreamId::MAX,
        };
        if !s.contains(id) {
            if let Some(e) = xclaim_effect(&key, &group, g, id) {
                effects.push(e);
            }
            dirty += 1;
            g.ack(id);
            deleted.push(id);
            count -= 1;
        } else if min_idle == 0 || now.saturating_sub(delivery_time) >= min_idle {
            let c = if justid {
                delivery_count
            } else {
                delivery_count + 1
            };
            g.assign(id, &consumer, now, c);
            claimed.push((
                id,
                (!justid).then(|| s.get(id).map(|e| e.1).unwrap_or_default()),
            ));
            if let Some(e) = xclaim_effect(&key, &group, g, id) {
                effects.push(e);
            }
            dirty += 1;
            count -= 1;
        }
        if id == StreamId::MAX {
            break;
        }
    }
    if created && effects.is_empty() {
        effects.push(createconsumer_effect(&key, &group, &consumer));
    }
    out.array(3);
    out.bulk(&next.unwrap_or_default().to_bytes());
    out.array(claimed.len());
    for (id, pairs) in &claimed {
        match pairs {
            Some(p) => reply_entry(out, *id, p),
            None => out.bulk(&id.to_bytes()),
        }
    }
    out.array(deleted.len());
    for id in &deleted {
        out.bulk(&id.to_bytes());
    }
    drop(claimed);
    s.groups = s_groups;
    for e in reported {
        ctx.notify(e, &key);
    }
    if dirty > 0 {
        ctx.dirty(dirty);
    }
    ctx.propagate_as(effects);
}

pub fn xinfo_groups(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(s) = xinfo_target(ctx, &a[2]) else {
        return;
    };
    let rows: Vec<_> = s
        .groups
        .iter()
        .map(|(name, g)| {
            (
                name.clone(),
                g.consumers.len(),
                g.pel.len(),
                g.last_id,
                g.entries_read,
                s.lag(g),
            )
        })
        .collect();
    let o = &mut *ctx.out;
    o.array(rows.len());
    for (name, consumers, pending, last, read, lag) in rows {
        o.map(6);
        o.bulk_str("name");
        o.bulk(&name);
        o.bulk_str("consumers");
        o.int(consumers as i64);
        o.bulk_str("pending");
        o.int(pending as i64);
        o.bulk_str("last-delivered-id");
        o.bulk(&last.to_bytes());
        o.bulk_str("entries-read");
        match read {
            Some(n) => o.int(n as i64),
            None => o.null(),
        }
        o.bulk_str("lag");
        match lag {
            Some(n) => o.int(n as i64),
            None => o.null(),
        }
    }
}

pub fn xinfo_consumers(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let Some(s) = xinfo_target(ctx, &a[2]) else {
        return;
    };
    let rows: Option<Vec<(Bytes, usize, u64)>> = s.groups.get(a[3].as_ref()).map(|g| {
        g.consumers
            .iter()
            .map(|(n, c)| (n.clone(), c.pel.len(), now.saturating_sub(c.seen_time)))
            .collect()
    });
    let Some(rows) = rows else {
        return ctx.err(&format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(&a[3]),
            String::from_utf8_lossy(&a[2])
        ));
    };
    ctx.out.array(rows.len());
    for (name, pending, idle) in rows {
        ctx.out.map(3);
        ctx.out.bulk_str("name");
        ctx.out.bulk(&name);
        ctx.out.bulk_str("pending");
        ctx.out.int(pending as i64);
        ctx.out.bulk_str("idle");
        ctx.out.int(idle as i64);
    }
}

/// XINFO STREAM FULL's `groups`: each group with its pending entries and consumers, at most
/// `count` pending entries per list (0: all).
pub fn reply_full_groups(out: &mut Out, s: &StreamValue, count: usize) {
    let limit = if count == 0 { usize::MAX } else { count };
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk_str("name");
        out.bulk(name);
        out.bulk_str("last-delivered-id");
        out.bulk(&g.last_id.to_bytes());
        out.bulk_str("entries-read");
        match g.entries_read {
            Some(n) => out.int(n as i64),
            None => out.null(),
        }
        out.bulk_str("lag");
        match s.lag(g) {
            Some(n) => out.int(n as i64),
            None => out.null(),
        }
        out.bulk_str("pel-count");
        out.int(g.pel.len() as i64);
        out.bulk_str("pending");
        let n = g.pel.len().min(limit);
        out.array(n);
        for (id, nack) in g.pel.iter().take(n) {
            out.array(4);
            out.bulk(&id.to_bytes());
            out.bulk(&nack.consumer);
            out.int(nack.delivery_time as i64);
            out.int(nack.delivery_count as i64);
        }
        out.bulk_str("consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk_str("name");
            out.bulk(cname);
            out.bulk_str("seen-time");
            out.int(c.seen_time as i64);
            out.bulk_str("pel-count");
            out.int(c.pel.len() as i64);
            out.bulk_str("pending");
            let n = c.pel.len().min(limit);
            out.array(n);
            for id in c.pel.iter().take(n) {
                let nack = g.pel.get(id);
                out.array(3);
                out.bulk(&id.to_bytes());
                out.int(nack.map_or(0, |x| x.delivery_time) as i64);
                out.int(nack.map_or(0, |x| x.delivery_count) as i64);
            }
        }
    }
}
