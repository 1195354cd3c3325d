//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.

use super::keyspec::{self as ks, key_flags::*};
use super::table::facts;
use super::table::{flags::*, CommandSpec};
use super::{errors, reply_help, unknown_sub, Ctx};
use crate::pubsub::{Kind, Limits, Subscriber};
use bytes::Bytes;
use std::sync::atomic::Ordering;

const PS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;

static PUBSUB_SUB: &[CommandSpec] = &[
    CommandSpec::new(
        "channels",
        -2,
        PUBSUB | LOADING | STALE,
        &[],
        channels,
        "pubsub",
        "Returns the active channels.",
    ),
    CommandSpec::new(
        "numsub",
        -2,
        PUBSUB | LOADING | STALE,
        &[],
        numsub,
        "pubsub",
        "Returns a count of subscribers to channels.",
    ),
    CommandSpec::new(
        "numpat",
        2,
        PUBSUB | LOADING | STALE,
        &[],
        numpat,
        "pubsub",
        "Returns a count of unique pattern subscriptions.",
    ),
    CommandSpec::new(
        "shardchannels",
        -2,
        PUBSUB | LOADING | STALE,
        &[],
        shardchannels,
        "pubsub",
        "Returns the active shard channels.",
    ),
    CommandSpec::new(
        "shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        &[],
        shardnumsub,
        "pubsub",
        "Returns the count of subscribers of shard channels.",
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        help,
        "pubsub",
        "Returns helpful text about the different subcommands.",
    ),
];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "subscribe",
        -2,
        PS,
        &[],
        subscribe,
        "pubsub",
        "Listens for messages published to channels.",
    )
    .facts(facts::SUBSCRIBED_OK | facts::SUBSCRIBES),
    CommandSpec::new(
        "unsubscribe",
        -1,
        PS,
        &[],
        unsubscribe,
        "pubsub",
        "Stops listening to messages posted to channels.",
    )
    .facts(facts::SUBSCRIBED_OK),
    CommandSpec::new(
        "psubscribe",
        -2,
        PS,
        &[],
        psubscribe,
        "pubsub",
        "Listens for messages published to channels that match one or more patterns.",
    )
    .facts(facts::SUBSCRIBED_OK | facts::PSUBSCRIBES),
    CommandSpec::new(
        "punsubscribe",
        -1,
        PS,
        &[],
        punsubscribe,
        "pubsub",
        "Stops listening to messages published to channels that match one or more patterns.",
    )
    .facts(facts::SUBSCRIBED_OK),
    CommandSpec::new(
        "ssubscribe",
        -2,
        PS,
        &[ks::range(1, -1, 1, NOT_KEY)],
        ssubscribe,
        "pubsub",
        "Listens for messages published to shard channels.",
    )
    .facts(facts::SUBSCRIBED_OK | facts::SUBSCRIBES),
    CommandSpec::new(
        "sunsubscribe",
        -1,
        PS,
        &[ks::range(1, -1, 1, NOT_KEY)],
        sunsubscribe,
        "pubsub",
        "Stops listening to messages posted to shard channels.",
    )
    .facts(facts::SUBSCRIBED_OK),
    CommandSpec::new(
        "publish",
        3,
        // may_replicate: a pause of writes holds it, a read-only script may not call it.
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        &[],
        publish,
        "pubsub",
        "Posts a message to a channel.",
    )
    .facts(facts::PUBLISHES),
    CommandSpec::new(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        &[ks::range(1, 0, 1, NOT_KEY)],
        spublish,
        "pubsub",
        "Post a message to a shard channel",
    )
    .facts(facts::PUBLISHES),
    CommandSpec::container(
        "pubsub",
        -2,
        unknown_sub,
        "pubsub",
        "A container for Pub/Sub commands.",
        PUBSUB_SUB,
    ),
];

/// The limits a slow subscriber is held to.
pub fn limits(ctx: &Ctx) -> Limits {
    let v = ctx
        .shared
        .config
        .read()
        .get("client-output-buffer-limit")
        .unwrap_or("")
        .to_string();
    Limits::parse(&v)
}

/// This connection's push queue (pub/sub messages, invalidations), created the first time
/// it is needed: on a first subscription, CLIENT TRACKING ON, or HELLO 3 (a RESP3 client
/// may receive another client's invalidations). Other connections find it on the handle.
pub fn subscriber(ctx: &mut Ctx) -> std::sync::Arc<Subscriber> {
    if let Some(s) = &ctx.conn.subscriber {
        s.resp3.store(ctx.conn.resp3, Ordering::Relaxed);
        return s.clone();
    }
    let (s, rx) = Subscriber::new(ctx.conn.handle.clone(), ctx.conn.resp3);
    ctx.conn.subscriber = Some(s.clone());
    *ctx.conn.handle.push.lock() = Some(s.clone());
    ctx.then(crate::flow::Next::Pushes(rx));
    s
}

fn confirm(ctx: &mut Ctx, what: &[u8], name: Option<&[u8]>, count: usize) {
    let start = ctx.out.mark();
    ctx.out.push(3);
    ctx.out.bulk(what);
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
    ctx.out.keep_from(start);
}

fn sub_generic(ctx: &mut Ctx, a: &[Bytes], kind: Kind, what: &[u8]) {
    let s = subscriber(ctx);
    for name in &a[1..] {
        if ctx.conn.subs.subscribe(kind, name) {
            ctx.shared.pubsub.subscribe(kind, name, &s);
        }
        let n = ctx.conn.subs.count(kind);
        confirm(ctx, what, Some(name), n);
    }
    update_flags(ctx);
}

fn unsub_generic(ctx: &mut Ctx, a: &[Bytes], kind: Kind, what: &[u8]) {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a[1..].iter().map(|b| b.to_vec()).collect()
    } else {
        ctx.conn.subs.names(kind)
    };
    if names.is_empty() {
        let n = ctx.conn.subs.count(kind);
        confirm(ctx, what, None, n);
    }
    for name in names {
        if ctx.conn.subs.unsubscribe(kind, &name) {
            ctx.shared.pubsub.unsubscribe(kind, &name, ctx.conn.id);
        }
        let n = ctx.conn.subs.count(kind);
        confirm(ctx, what, Some(&name), n);
    }
    update_flags(ctx);
}

/// Keeps CLIENT LIST's `P` flag in step with the subscriptions.
fn update_flags(ctx: &mut Ctx) {
    let subscribed = ctx.conn.subs.total() > 0;
    if let Some(s) = &ctx.conn.subscriber {
        s.in_pubsub.store(subscribed, Ordering::Relaxed);
    }
    let mut f = ctx.conn.handle.flags.lock();
    if subscribed && !f.contains('P') {
        *f = "P".into();
    } else if !subscribed && f.as_str() == "P" {
        *f = "N".into();
    }
}

fn subscribe(ctx: &mut Ctx, a: &[Bytes]) {
    sub_generic(ctx, a, Kind::Channel, b"subscribe");
}

fn unsubscribe(ctx: &mut Ctx, a: &[Bytes]) {
    unsub_generic(ctx, a, Kind::Channel, b"unsubscribe");
}

fn psubscribe(ctx: &mut Ctx, a: &[Bytes]) {
    sub_generic(ctx, a, Kind::Pattern, b"psubscribe");
}

fn punsubscribe(ctx: &mut Ctx, a: &[Bytes]) {
    unsub_generic(ctx, a, Kind::Pattern, b"punsubscribe");
}

fn ssubscribe(ctx: &mut Ctx, a: &[Bytes]) {
    sub_generic(ctx, a, Kind::Shard, b"ssubscribe");
}

fn sunsubscribe(ctx: &mut Ctx, a: &[Bytes]) {
    unsub_generic(ctx, a, Kind::Shard, b"sunsubscribe");
}

fn publish(ctx: &mut Ctx, a: &[Bytes]) {
    let l = limits(ctx);
    let n = ctx.shared.pubsub.publish(&a[1], &a[2], false, &l);
    // In a cluster the message reaches every node's subscribers (through the bus); the
    // reply counts this node's receivers, as Redis's does.
    if let Some(c) = ctx.shared.cluster.get() {
        let actions = c.state.lock().publish(a[1].to_vec(), a[2].to_vec());
        c.enqueue(actions);
    } else {
        // Outside a cluster, replicas' subscribers get the message through the stream.
        ctx.propagate_as(vec![a.to_vec()]);
    }
    ctx.out.int(n as i64);
}

fn spublish(ctx: &mut Ctx, a: &[Bytes]) {
    let l = limits(ctx);
    let n = ctx.shared.pubsub.publish(&a[1], &a[2], true, &l);
    // In a cluster the message reaches the other nodes of this shard (the primary and its
    // replicas, wherever it was published) through the bus, as Redis sends PUBLISHSHARD;
    // outside one, replicas' subscribers get it through the stream.
    if let Some(c) = ctx.shared.cluster.get() {
        let actions = c.state.lock().publish_shard(a[1].to_vec(), a[2].to_vec());
        c.enqueue(actions);
    } else {
        ctx.propagate_as(vec![a.to_vec()]);
    }
    ctx.out.int(n as i64);
}

fn list_channels(ctx: &mut Ctx, a: &[Bytes], kind: Kind) {
    if a.len() > 3 {
        return ctx.err(&errors::arity("pubsub|channels"));
    }
    let names = ctx
        .shared
        .pubsub
        .channels(kind, a.get(2).map(|p| p.as_ref()));
    ctx.out.bulks(names.iter());
}

fn channels(ctx: &mut Ctx, a: &[Bytes]) {
    list_channels(ctx, a, Kind::Channel);
}

fn shardchannels(ctx: &mut Ctx, a: &[Bytes]) {
    list_channels(ctx, a, Kind::Shard);
}

/// Channel, count, channel, count...: a flat array in RESP3 too, as Redis 7.0 replies and
/// clients parse it.
fn counts(ctx: &mut Ctx, a: &[Bytes], kind: Kind) {
    ctx.out.array(2 * (a.len() - 2));
    for ch in &a[2..] {
        let n = ctx.shared.pubsub.count(kind, ch);
        ctx.out.bulk(ch);
        ctx.out.int(n as i64);
    }
}

fn numsub(ctx: &mut Ctx, a: &[Bytes]) {
    counts(ctx, a, Kind::Channel);
}

fn shardnumsub(ctx: &mut Ctx, a: &[Bytes]) {
    counts(ctx, a, Kind::Shard);
}

fn numpat(ctx: &mut Ctx, _a: &[Bytes]) {
    let n = ctx.shared.pubsub.numpat();
    ctx.out.int(n as i64);
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    reply_help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
}
