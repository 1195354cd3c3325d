//! Generic key commands.

use super::table::{flags::*, CommandSpec, Keys};
use super::Ctx;
use bytes::Bytes;

const ALL: Keys = Keys::Range { first: 1, last: -1, step: 1 };
const K1: Keys = Keys::Range { first: 1, last: 1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, ALL, del, "generic", "Deletes one or more keys."),
    CommandSpec::new("exists", -2, READONLY | FAST, ALL, exists, "generic", "Determines whether one or more keys exist."),
    CommandSpec::new("type", 2, READONLY | FAST, K1, type_, "generic", "Determines the type of value stored at a key."),
];

fn del(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    let n = a[1..].iter().filter(|k| db.remove(k, now).is_some()).count();
    ctx.dirty(n as u64);
    ctx.out.int(n as i64);
}

fn exists(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let db = ctx.db();
    let n = a[1..].iter().filter(|k| db.contains(k, now)).count();
    ctx.out.int(n as i64);
}

fn type_(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let t = ctx.db().peek(&a[1], now).map_or("none", |e| e.value.type_name());
    ctx.out.simple(t);
}
