//! Blocking sorted-set pops: BZPOPMIN, BZPOPMAX, BZMPOP — thin layers over the sorted-set
//! pops and the generic blocking mechanism (`Ctx::block_on`). They replicate as ZPOPMIN /
//! ZPOPMAX of what they took.

use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::table::Blocks;
use super::table::{flags::*, CommandSpec};
use super::zsets::{parse_mpop, pop_key, reply_zmpop, zmpop_keys, Popped};
use super::{errors, Ctx};
use crate::keyspace_events::Events;
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("bzpopmin", -3, WRITE | FAST | BLOCKING | NOSCRIPT, &[ks::range(1, -2, 1, RW | ACCESS | DELETE)], bzpopmin, "sorted-set", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.").blocks(Blocks::Zset).events(Events::AsEffects("zpopmin")),
    CommandSpec::new("bzpopmax", -3, WRITE | FAST | BLOCKING | NOSCRIPT, &[ks::range(1, -2, 1, RW | ACCESS | DELETE)], bzpopmax, "sorted-set", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise. Deletes the sorted set if the last element was popped.").blocks(Blocks::Zset).events(Events::AsEffects("zpopmax")),
    CommandSpec::new("bzmpop", -5, WRITE | BLOCKING, &[ks::keynum(2, 0, 1, 1, RW | ACCESS | DELETE)], bzmpop, "sorted-set", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.").blocks(Blocks::Zset).events(Events::AsEffects("bzmpop")).getkeys(blocking_counted_keys),
];

/// BZMPOP's keys where its count does not parse (Redis's `bzmpopGetKeys`).
fn blocking_counted_keys(a: &[Bytes]) -> Vec<KeyRef> {
    ks::generic_get_keys(0, 2, 3, 1, a)
}

fn propagate_pop(ctx: &mut Ctx, key: &Bytes, min: bool, n: usize) {
    let word = if min { "ZPOPMIN" } else { "ZPOPMAX" };
    ctx.propagate_as(vec![vec![
        Bytes::from(word),
        key.clone(),
        Bytes::from(n.to_string()),
    ]]);
}

fn bzpop(ctx: &mut Ctx, a: &[Bytes], min: bool) {
    let Some(timeout) = super::lists::parse_timeout(ctx, &a[a.len() - 1]) else {
        return;
    };
    let keys = &a[1..a.len() - 1];
    for k in keys {
        match pop_key(ctx, k, min, 1) {
            Err(_) => return ctx.err(errors::WRONGTYPE),
            Ok(Some(v)) if !v.is_empty() => {
                let (m, s) = &v[0];
                ctx.out.array(3);
                ctx.out.bulk(k);
                ctx.out.bulk(m);
                ctx.out.double(*s);
                propagate_pop(ctx, k, min, 1);
                return;
            }
            _ => {}
        }
    }
    ctx.block_on(keys.iter().map(|k| k.to_vec()).collect(), timeout);
}

fn bzpopmin(ctx: &mut Ctx, a: &[Bytes]) {
    bzpop(ctx, a, true);
}

fn bzpopmax(ctx: &mut Ctx, a: &[Bytes]) {
    bzpop(ctx, a, false);
}

fn bzmpop(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(timeout) = super::lists::parse_timeout(ctx, &a[1]) else {
        return;
    };
    let (keys, min, count) = match parse_mpop(a, 2) {
        Ok(p) => p,
        Err(e) => return ctx.err(e),
    };
    let keys: Vec<Bytes> = a[keys].to_vec();
    match zmpop_keys(ctx, &keys, min, count) {
        Err(_) => ctx.err(errors::WRONGTYPE),
        Ok(Some((k, v))) => {
            let n = v.len();
            propagate_pop(ctx, &k, min, n);
            reply_zmpop(ctx.out, Some((k, v as Popped)));
        }
        Ok(None) => ctx.block_on(keys.iter().map(|k| k.to_vec()).collect(), timeout),
    }
}
