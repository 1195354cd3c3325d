//! Sorted-set commands (ZADD, ZRANGE and its relatives, pops, set algebra, ZSCAN).
//!
//! Every range form is reduced to a rank interval of the set (see
//! [`crate::keyspace::types::ZSetValue::count_where`]), then walked in the requested direction
//! with LIMIT applied while walking, so no command sorts or copies the set to answer. Scores
//! are replied as doubles: bulk strings in RESP2, `,` doubles in RESP3, and WITHSCORES pairs
//! are nested arrays in RESP3 where Redis 7 nests them.

use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::types::set::{Elem, SetValue};
use crate::keyspace::types::zset::{ZLimits, ZSetValue};
use crate::keyspace::{Db, SmallBytes, Ttl, Value};
use crate::keyspace_events::Events;
use crate::protocol::Out;
use crate::util::parse_f64;
use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::Rng;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | UPDATE)], zadd, "sorted-set", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.").events(Events::Zadd),
    CommandSpec::new("zincrby", 4, WRITE | DENYOOM | FAST, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], zincrby, "sorted-set", "Increments the score of a member in a sorted set.").events(Events::Named("zincr")),
    CommandSpec::new("zrem", -3, WRITE | FAST, &[ks::range(1, 0, 1, RW | DELETE)], zrem, "sorted-set", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    CommandSpec::new("zcard", 2, READONLY | FAST, &[ks::range(1, 0, 1, RO)], zcard, "sorted-set", "Returns the number of members in a sorted set."),
    CommandSpec::new("zcount", 4, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], zcount, "sorted-set", "Returns the count of members in a sorted set that have scores within a range."),
    CommandSpec::new("zlexcount", 4, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], zlexcount, "sorted-set", "Returns the number of members in a sorted set within a lexicographical range."),
    CommandSpec::new("zscore", 3, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], zscore, "sorted-set", "Returns the score of a member in a sorted set."),
    CommandSpec::new("zmscore", -3, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], zmscore, "sorted-set", "Returns the score of one or more members in a sorted set."),
    CommandSpec::new("zrank", -3, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], zrank, "sorted-set", "Returns the index of a member in a sorted set ordered by ascending scores."),
    CommandSpec::new("zrevrank", -3, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], zrevrank, "sorted-set", "Returns the index of a member in a sorted set ordered by descending scores."),
    CommandSpec::new("zrange", -4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], zrange, "sorted-set", "Returns members in a sorted set within a range of indexes."),
    CommandSpec::new("zrangebyscore", -4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], zrangebyscore, "sorted-set", "Returns members in a sorted set within a range of scores."),
    CommandSpec::new("zrevrangebyscore", -4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], zrevrangebyscore, "sorted-set", "Returns members in a sorted set within a range of scores in reverse order."),
    CommandSpec::new("zrangebylex", -4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], zrangebylex, "sorted-set", "Returns members in a sorted set within a lexicographical range."),
    CommandSpec::new("zrevrangebylex", -4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], zrevrangebylex, "sorted-set", "Returns members in a sorted set within a lexicographical range in reverse order."),
    CommandSpec::new("zrevrange", -4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], zrevrange, "sorted-set", "Returns members in a sorted set within a range of indexes in reverse order."),
    CommandSpec::new("zrangestore", -5, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE), ks::range(2, 0, 1, RO | ACCESS)], zrangestore, "sorted-set", "Stores a range of members from sorted set in a key.").events(Events::Store("zrangestore")),
    CommandSpec::new("zremrangebyrank", 4, WRITE, &[ks::range(1, 0, 1, RW | DELETE)], zremrangebyrank, "sorted-set", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    CommandSpec::new("zremrangebyscore", 4, WRITE, &[ks::range(1, 0, 1, RW | DELETE)], zremrangebyscore, "sorted-set", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    CommandSpec::new("zremrangebylex", 4, WRITE, &[ks::range(1, 0, 1, RW | DELETE)], zremrangebylex, "sorted-set", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    CommandSpec::new("zpopmin", -2, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE)], zpopmin, "sorted-set", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    CommandSpec::new("zpopmax", -2, WRITE | FAST, &[ks::range(1, 0, 1, RW | ACCESS | DELETE)], zpopmax, "sorted-set", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    CommandSpec::new("zmpop", -4, WRITE, &[ks::keynum(1, 0, 1, 1, RW | ACCESS | DELETE)], zmpop, "sorted-set", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.").events(Events::AsEffects("zmpop")).getkeys(counted_keys),
    CommandSpec::new("zrandmember", -2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], zrandmember, "sorted-set", "Returns one or more random members from a sorted set."),
    CommandSpec::new("zunion", -3, READONLY, &[ks::keynum(1, 0, 1, 1, RO | ACCESS)], zunion, "sorted-set", "Returns the union of multiple sorted sets.").getkeys(counted_keys),
    CommandSpec::new("zinter", -3, READONLY, &[ks::keynum(1, 0, 1, 1, RO | ACCESS)], zinter, "sorted-set", "Returns the intersect of multiple sorted sets.").getkeys(counted_keys),
    CommandSpec::new("zdiff", -3, READONLY, &[ks::keynum(1, 0, 1, 1, RO | ACCESS)], zdiff, "sorted-set", "Returns the difference between multiple sorted sets.").getkeys(counted_keys),
    CommandSpec::new("zunionstore", -4, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE), ks::keynum(2, 0, 1, 1, RO | ACCESS)], zunionstore, "sorted-set", "Stores the union of multiple sorted sets in a key.").events(Events::Store("zunionstore")).getkeys(stored_keys),
    CommandSpec::new("zinterstore", -4, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE), ks::keynum(2, 0, 1, 1, RO | ACCESS)], zinterstore, "sorted-set", "Stores the intersect of multiple sorted sets in a key.").events(Events::Store("zinterstore")).getkeys(stored_keys),
    CommandSpec::new("zdiffstore", -4, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE), ks::keynum(2, 0, 1, 1, RO | ACCESS)], zdiffstore, "sorted-set", "Stores the difference of multiple sorted sets in a key.").events(Events::Store("zdiffstore")).getkeys(stored_keys),
    CommandSpec::new("zintercard", -3, READONLY, &[ks::keynum(1, 0, 1, 1, RO | ACCESS)], zintercard, "sorted-set", "Returns the number of members of the intersect of multiple sorted sets.").getkeys(counted_keys),
    CommandSpec::new("zscan", -3, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], zscan, "sorted-set", "Iterates over members and scores of a sorted set."),
];

/// ZUNION, ZINTER, ZDIFF, ZINTERCARD and ZMPOP's keys where their count does not parse
/// (Redis's `zunionInterDiffGetKeys`).
fn counted_keys(a: &[Bytes]) -> Vec<KeyRef> {
    ks::generic_get_keys(0, 1, 2, 1, a)
}

/// The store commands' keys where their count does not parse (Redis's
/// `zunionInterDiffStoreGetKeys`): the sources, then the destination.
fn stored_keys(a: &[Bytes]) -> Vec<KeyRef> {
    ks::generic_get_keys(1, 2, 3, 1, a)
}

/// The key holds another type (the caller replies WRONGTYPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// Elements removed by a pop, in pop order.
pub type Popped = Vec<(SmallBytes, f64)>;

const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";
const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";

/// Parses a score, increment or weight as Redis's getDoubleFromObject: besides
/// [`parse_f64`]'s rules, a value that overflows to infinity or underflows to zero is refused
/// (strtod's ERANGE), while the literal infinities are accepted.
pub fn parse_score(b: &[u8]) -> Option<f64> {
    let v = parse_f64(b)?;
    let mantissa = b.split(|&c| c == b'e' || c == b'E').next().unwrap_or(b);
    if v.is_infinite() && !b.iter().any(|c| c.eq_ignore_ascii_case(&b'i')) {
        return None;
    }
    if v == 0.0 && mantissa.iter().any(|c| (b'1'..=b'9').contains(c)) {
        return None;
    }
    Some(v)
}

fn limits(ctx: &Ctx) -> ZLimits {
    ZLimits {
        max_entries: ctx.settings.zset_max_listpack_entries,
        max_value: ctx.settings.zset_max_listpack_value,
    }
}

/// The sorted set at `key` for reading; `Err` when the key holds another type.
pub fn read_zset<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a ZSetValue>, WrongType> {
    match db.read(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(WrongType),
    }
}

/// The sorted set at `key` for writing, created from `create` when absent (if given);
/// `Err` when the key holds another type.
pub fn write_zset<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    create: Option<ZSetValue>,
) -> Result<Option<&'a mut ZSetValue>, WrongType> {
    let exists = match db.peek(key, now).map(|e| &e.value) {
        None => false,
        Some(Value::ZSet(_)) => true,
        Some(_) => return Err(WrongType),
    };
    if !exists {
        match create {
            None => return Ok(None),
            Some(z) => {
                db.set(key, Value::ZSet(z), Ttl::Persist, now);
            }
        }
    }
    match db.get_mut(key, now).map(|e| &mut e.value) {
        Some(Value::ZSet(z)) => Ok(Some(z)),
        _ => Ok(None),
    }
}

/// Deletes `key` if its sorted set became empty (Redis never keeps empty collections).
pub fn drop_if_empty(db: &mut Db, key: &[u8], now: u64) {
    let empty = matches!(db.peek(key, now).map(|e| &e.value), Some(Value::ZSet(z)) if z.is_empty());
    if empty {
        db.remove(key, now);
    }
}

/// Writes `(member, score)` elements: a flat array (with scores interleaved when
/// `withscores`) in RESP2, an array of `[member, score]` pairs in RESP3.
fn reply_elems<'a>(
    out: &mut Out,
    items: impl ExactSizeIterator<Item = (&'a [u8], f64)>,
    withscores: bool,
) {
    let n = items.len();
    if !withscores {
        out.array(n);
        for (m, _) in items {
            out.bulk(m);
        }
    } else if out.resp3 {
        out.array(n);
        for (m, s) in items {
            out.array(2);
            out.bulk(m);
            out.double(s);
        }
    } else {
        out.array(2 * n);
        for (m, s) in items {
            out.bulk(m);
            out.double(s);
        }
    }
}

/// Popped elements: flat unless `nested` (RESP3 with a COUNT, and ZMPOP). Public for the
/// blocking pops.
pub fn reply_popped(out: &mut Out, items: &[(SmallBytes, f64)], nested: bool) {
    if nested {
        out.array(items.len());
        for (m, s) in items {
            out.array(2);
            out.bulk(m);
            out.double(*s);
        }
    } else {
        out.array(items.len() * 2);
        for (m, s) in items {
            out.bulk(m);
            out.double(*s);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ranges

/// A score interval as ZRANGEBYSCORE takes it: `(` makes a bound exclusive.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

fn parse_score_bound(b: &[u8]) -> Option<(f64, bool)> {
    let (ex, rest) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    // strtod accepts an empty string as 0, and Redis inherits that.
    let v = if rest.is_empty() {
        0.0
    } else {
        parse_f64(rest)?
    };
    Some((v, ex))
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Option<Self> {
        let (min, minex) = parse_score_bound(min)?;
        let (max, maxex) = parse_score_bound(max)?;
        Some(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    /// The rank interval `[lo, hi)` of the set's elements inside the range.
    pub fn interval(&self, z: &ZSetValue) -> (usize, usize) {
        let lo = z.count_where(|s, _| s < self.min || (self.minex && s == self.min));
        let hi = z.count_where(|s, _| s < self.max || (!self.maxex && s == self.max));
        (lo, hi.max(lo))
    }
}

/// One end of a lexicographic range.
#[derive(Clone, Debug)]
pub enum LexBound {
    NegInf,
    PosInf,
    Incl(Bytes),
    Excl(Bytes),
}

impl LexBound {
    fn parse(b: &Bytes) -> Option<Self> {
        match b.first() {
            Some(b'+') if b.len() == 1 => Some(LexBound::PosInf),
            Some(b'-') if b.len() == 1 => Some(LexBound::NegInf),
            Some(b'(') => Some(LexBound::Excl(b.slice(1..))),
            Some(b'[') => Some(LexBound::Incl(b.slice(1..))),
            _ => None,
        }
    }

    /// Whether `m` lies before this bound taken as a minimum.
    fn below_min(&self, m: &[u8]) -> bool {
        match self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(b) => m < &b[..],
            LexBound::Excl(b) => m <= &b[..],
        }
    }

    /// Whether `m` lies within this bound taken as a maximum.
    fn within_max(&self, m: &[u8]) -> bool {
        match self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(b) => m <= &b[..],
            LexBound::Excl(b) => m < &b[..],
        }
    }
}

/// A lexicographic interval as ZRANGEBYLEX takes it.
#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &Bytes, max: &Bytes) -> Option<Self> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    /// The ranks a lex range covers, found as Redis finds them in a listpack: the range is
    /// empty unless the last member is at or above `min` and the first at or below `max`;
    /// it starts at the first member (in score order) at or above `min` and runs while
    /// members stay at or below `max`. Members of equal score (the documented use) are in
    /// lex order, and then this is plain bisection's answer; with mixed scores it is still
    /// Redis's answer, where counting members on each side was not. A large (skiplist) set
    /// is bisected: equal to the walk in the documented case, and Redis's own answer for
    /// mixed scores there depends on its random skiplist levels.
    pub fn interval(&self, z: &ZSetValue) -> (usize, usize) {
        if z.encoding() != "listpack" {
            let lo = z.count_where(|_, m| self.min.below_min(m));
            let hi = z.count_where(|_, m| self.max.within_max(m));
            return (lo, hi.max(lo));
        }
        let n = z.len();
        let (Some((first, _)), Some((last, _))) = (z.at(0), z.at(n.saturating_sub(1))) else {
            return (0, 0);
        };
        if self.min.below_min(last) || !self.max.within_max(first) {
            return (0, 0);
        }
        let mut members = z.iter().enumerate();
        let Some(lo) = members
            .by_ref()
            .find(|(_, (m, _))| !self.min.below_min(m))
            .map(|(i, (m, _))| (i, self.max.within_max(m)))
        else {
            return (0, 0);
        };
        match lo {
            (lo, false) => (lo, lo),
            (lo, true) => {
                let more = members
                    .take_while(|(_, (m, _))| self.max.within_max(m))
                    .count();
                (lo, lo + 1 + more)
            }
        }
    }
}

/// The ascending rank interval of `ZRANGE start end` (negative indexes count from the end);
/// with `rev`, the indexes count from the highest score.
fn rank_interval(len: usize, start: i64, end: i64, rev: bool) -> (usize, usize) {
    let l = len as i64;
    let s = if start < 0 { start + l } else { start }.max(0);
    let mut e = if end < 0 { end + l } else { end };
    if s > e || s >= l {
        return (0, 0);
    }
    if e >= l {
        e = l - 1;
    }
    if rev {
        ((l - 1 - e) as usize, (l - s) as usize)
    } else {
        (s as usize, (e + 1) as usize)
    }
}

#[derive(Clone, Debug)]
enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed ZRANGE-family request.
struct RangeSpec {
    bounds: Bounds,
    rev: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
    withscores: bool,
}

impl RangeSpec {
    /// The rank interval to walk (ascending ranks `start..end`, walked downwards when
    /// `rev`) and how many elements to take.
    fn walk(&self, z: &ZSetValue) -> (usize, usize, usize) {
        let (lo, hi) = match &self.bounds {
            Bounds::Rank(s, e) => {
                return {
                    let (a, b) = rank_interval(z.len(), *s, *e, self.rev);
                    (a, b, usize::MAX)
                }
            }
            Bounds::Score(r) => r.interval(z),
            Bounds::Lex(r) => r.interval(z),
        };
        if self.offset < 0 {
            return (0, 0, 0);
        }
        let off = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = if self.limit < 0 {
            usize::MAX
        } else {
            self.limit as usize
        };
        if self.rev {
            (lo, hi.saturating_sub(off).max(lo), take)
        } else {
            (lo.saturating_add(off).min(hi), hi, take)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Preset {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Parses `key min max [options]` starting at `first` (the key's index), as Redis's
/// zrangeGenericCommand does; `Err` carries the error to reply.
fn parse_range(
    a: &[Bytes],
    first: usize,
    preset: Preset,
    rev_preset: Option<bool>,
    store: bool,
) -> Result<RangeSpec, &'static str> {
    let mut kind = preset;
    let mut rev = rev_preset;
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = first + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        if !store && args::is(&a[j], "withscores") {
            withscores = true;
        } else if args::is(&a[j], "limit") && left >= 2 {
            offset = args::int(&a[j + 1]).ok_or(errors::NOT_INT)?;
            limit = args::int(&a[j + 2]).ok_or(errors::NOT_INT)?;
            j += 2;
        } else if rev.is_none() && args::is(&a[j], "rev") {
            rev = Some(true);
        } else if kind == Preset::Auto && args::is(&a[j], "bylex") {
            kind = Preset::Lex;
        } else if kind == Preset::Auto && args::is(&a[j], "byscore") {
            kind = Preset::Score;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if kind == Preset::Auto {
        kind = Preset::Rank;
    }
    if limit != -1 && kind == Preset::Rank {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && kind == Preset::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut lo, mut hi) = (&a[first + 1], &a[first + 2]);
    if rev && kind != Preset::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let bounds = match kind {
        Preset::Score => Bounds::Score(ScoreRange::parse(lo, hi).ok_or(NOT_FLOAT_RANGE)?),
        Preset::Lex => Bounds::Lex(LexRange::parse(lo, hi).ok_or(NOT_LEX_RANGE)?),
        _ => Bounds::Rank(
            args::int(lo).ok_or(errors::NOT_INT)?,
            args::int(hi).ok_or(errors::NOT_INT)?,
        ),
    };
    Ok(RangeSpec {
        bounds,
        rev,
        offset,
        limit,
        withscores,
    })
}

fn range_reply(ctx: &mut Ctx, a: &[Bytes], preset: Preset, rev: Option<bool>) {
    let spec = match parse_range(a, 1, preset, rev, false) {
        Ok(s) => s,
        Err(e) => return ctx.err(e),
    };
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match read_zset(db, &a[1], now) {
        Err(WrongType) => out.error(errors::WRONGTYPE),
        Ok(None) => out.array(0),
        Ok(Some(z)) => {
            let (start, end, take) = spec.walk(z);
            reply_elems(
                out,
                z.range(start, end, spec.rev).take(take),
                spec.withscores,
            );
        }
    }
}

fn zrange(ctx: &mut Ctx, a: &[Bytes]) {
    range_reply(ctx, a, Preset::Auto, None)
}

fn zrevrange(ctx: &mut Ctx, a: &[Bytes]) {
    range_reply(ctx, a, Preset::Rank, Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, a: &[Bytes]) {
    range_reply(ctx, a, Preset::Score, Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, a: &[Bytes]) {
    range_reply(ctx, a, Preset::Score, Some(true))
}

fn zrangebylex(ctx: &mut Ctx, a: &[Bytes]) {
    range_reply(ctx, a, Preset::Lex, Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, a: &[Bytes]) {
    range_reply(ctx, a, Preset::Lex, Some(true))
}

/// Replaces `dst` with `z` (or deletes it when `z` is empty) and replies the size.
fn store_result(ctx: &mut Ctx, dst: &[u8], z: ZSetValue) {
    let now = ctx.now;
    let n = z.len();
    let db = ctx.db();
    let changed = if n == 0 {
        db.remove(dst, now).is_some()
    } else {
        db.set(dst, Value::ZSet(z), Ttl::Persist, now);
        true
    };
    if changed {
        ctx.dirty(1);
    }
    ctx.out.int(n as i64);
}

fn zrangestore(ctx: &mut Ctx, a: &[Bytes]) {
    let spec = match parse_range(a, 2, Preset::Auto, None, true) {
        Ok(s) => s,
        Err(e) => return ctx.err(e),
    };
    let now = ctx.now;
    let lim = limits(ctx);
    let result = match read_zset(ctx.db(), &a[2], now) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => ZSetValue::new(),
        Ok(Some(z)) => {
            let (start, end, take) = spec.walk(z);
            collect_zset(z.range(start, end, spec.rev).take(take), lim)
        }
    };
    store_result(ctx, &a[1], result);
}

fn collect_zset<'a>(
    items: impl ExactSizeIterator<Item = (&'a [u8], f64)>,
    lim: ZLimits,
) -> ZSetValue {
    let mut z = ZSetValue::with_hint(items.len(), 0, lim);
    for (m, s) in items {
        z.insert(m, s, lim);
    }
    z
}

// ---------------------------------------------------------------------------------------------
// ZADD and single-member commands

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// What one ZADD element did.
enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// Processed but the score did not change (reported by INCR).
    Same(f64),
    /// Skipped by NX/XX/GT/LT.
    Nop,
}

/// Applies one element with ZADD's option semantics; `Err` when INCR produced NaN.
fn add_one(
    z: &mut ZSetValue,
    member: &[u8],
    score: f64,
    f: AddFlags,
    lim: ZLimits,
) -> Result<AddOutcome, ()> {
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok(AddOutcome::Nop);
            }
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(());
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok(AddOutcome::Nop);
            }
            if new == cur {
                return Ok(AddOutcome::Same(new));
            }
            z.insert(member, new, lim);
            Ok(AddOutcome::Updated(new))
        }
        None if f.xx => Ok(AddOutcome::Nop),
        None => {
            z.insert(member, score, lim);
            Ok(AddOutcome::Added(score))
        }
    }
}

/// ZADD; also GEOADD's second half, which rewrites its arguments into a ZADD as Redis does.
pub(crate) fn zadd(ctx: &mut Ctx, a: &[Bytes]) {
    let mut f = AddFlags::default();
    let mut ch = false;
    let mut i = 2;
    while i < a.len() {
        match crate::util::lower(&a[i]).as_str() {
            "nx" => f.nx = true,
            "xx" => f.xx = true,
            "gt" => f.gt = true,
            "lt" => f.lt = true,
            "ch" => ch = true,
            "incr" => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let elems = a.len() - i;
    if !elems.is_multiple_of(2) || elems == 0 {
        return ctx.err(errors::SYNTAX);
    }
    if f.nx && f.xx {
        return ctx.err("ERR XX and NX options at the same time are not compatible");
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return ctx.err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && elems > 2 {
        return ctx.err("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(elems / 2);
    for p in a[i..].chunks_exact(2) {
        match parse_score(&p[0]) {
            Some(s) => pairs.push((s, &p[1])),
            None => return ctx.err(errors::NOT_FLOAT),
        }
    }
    zadd_apply(ctx, &a[1], &pairs, f, ch);
}

fn zadd_apply(ctx: &mut Ctx, key: &[u8], pairs: &[(f64, &Bytes)], f: AddFlags, ch: bool) {
    let now = ctx.now;
    let lim = limits(ctx);
    let maxlen = pairs.iter().map(|p| p.1.len()).max().unwrap_or(0);
    let create = (!f.xx).then(|| ZSetValue::with_hint(pairs.len(), maxlen, lim));
    let z = match write_zset(ctx.db(), key, now, create) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => {
            return if f.incr {
                ctx.out.null()
            } else {
                ctx.out.int(0)
            };
        }
        Ok(Some(z)) => z,
    };
    let (mut added, mut updated) = (0i64, 0i64);
    let mut last = None;
    for (score, m) in pairs {
        match add_one(z, m, *score, f, lim) {
            Err(()) => {
                drop_if_empty(ctx.db(), key, now);
                return ctx.err(NAN_SCORE);
            }
            Ok(AddOutcome::Added(s)) => {
                added += 1;
                last = Some(s);
            }
            Ok(AddOutcome::Updated(s)) => {
                updated += 1;
                last = Some(s);
            }
            Ok(AddOutcome::Same(s)) => last = Some(s),
            Ok(AddOutcome::Nop) => {}
        }
    }
    drop_if_empty(ctx.db(), key, now);
    if added + updated > 0 {
        ctx.dirty((added + updated) as u64);
    }
    if f.incr {
        match last {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if ch { added + updated } else { added });
    }
}

fn zincrby(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(by) = parse_score(&a[2]) else {
        return ctx.err(errors::NOT_FLOAT);
    };
    let f = AddFlags {
        incr: true,
        ..Default::default()
    };
    zadd_apply(ctx, &a[1], &[(by, &a[3])], f, false);
}

fn zrem(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let z = match write_zset(ctx.db(), &a[1], now, None) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(z)) => z,
    };
    let n = a[2..].iter().filter(|m| z.remove(m).is_some()).count();
    drop_if_empty(ctx.db(), &a[1], now);
    if n > 0 {
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
}

/// Runs `f` on the set at `key` for a read-only reply; a missing key replies `missing`.
fn with_read(
    ctx: &mut Ctx,
    key: &[u8],
    missing: impl FnOnce(&mut Out),
    f: impl FnOnce(&ZSetValue, &mut Out),
) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    match read_zset(db, key, now) {
        Err(WrongType) => out.error(errors::WRONGTYPE),
        Ok(None) => missing(out),
        Ok(Some(z)) => f(z, out),
    }
}

fn zcard(ctx: &mut Ctx, a: &[Bytes]) {
    with_read(ctx, &a[1], |o| o.int(0), |z, o| o.int(z.len() as i64));
}

fn zcount(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(r) = ScoreRange::parse(&a[2], &a[3]) else {
        return ctx.err(NOT_FLOAT_RANGE);
    };
    with_read(
        ctx,
        &a[1],
        |o| o.int(0),
        |z, o| {
            let (lo, hi) = r.interval(z);
            o.int((hi - lo) as i64)
        },
    );
}

fn zlexcount(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(r) = LexRange::parse(&a[2], &a[3]) else {
        return ctx.err(NOT_LEX_RANGE);
    };
    with_read(
        ctx,
        &a[1],
        |o| o.int(0),
        |z, o| {
            let (lo, hi) = r.interval(z);
            o.int((hi - lo) as i64)
        },
    );
}

fn zscore(ctx: &mut Ctx, a: &[Bytes]) {
    with_read(
        ctx,
        &a[1],
        |o| o.null(),
        |z, o| match z.score(&a[2]) {
            Some(s) => o.double(s),
            None => o.null(),
        },
    );
}

fn zmscore(ctx: &mut Ctx, a: &[Bytes]) {
    let members = &a[2..];
    let reply = |z: Option<&ZSetValue>, o: &mut Out| {
        o.array(members.len());
        for m in members {
            match z.and_then(|z| z.score(m)) {
                Some(s) => o.double(s),
                None => o.null(),
            }
        }
    };
    with_read(ctx, &a[1], |o| reply(None, o), |z, o| reply(Some(z), o));
}

fn rank_cmd(ctx: &mut Ctx, a: &[Bytes], rev: bool) {
    if a.len() > 4 || (a.len() == 4 && !args::is(&a[3], "withscore")) {
        return ctx.err(errors::SYNTAX);
    }
    let withscore = a.len() == 4;
    let missing = move |o: &mut Out| if withscore { o.null_array() } else { o.null() };
    with_read(ctx, &a[1], missing, |z, o| match z.rank(&a[2]) {
        None => missing(o),
        Some((r, s)) => {
            let r = if rev { z.len() - 1 - r } else { r };
            if withscore {
                o.array(2);
                o.int(r as i64);
                o.double(s);
            } else {
                o.int(r as i64);
            }
        }
    });
}

fn zrank(ctx: &mut Ctx, a: &[Bytes]) {
    rank_cmd(ctx, a, false)
}

fn zrevrank(ctx: &mut Ctx, a: &[Bytes]) {
    rank_cmd(ctx, a, true)
}

// ---------------------------------------------------------------------------------------------
// Removal by range

fn remrange(ctx: &mut Ctx, a: &[Bytes], interval: impl FnOnce(&ZSetValue) -> (usize, usize)) {
    let now = ctx.now;
    let z = match write_zset(ctx.db(), &a[1], now, None) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(z)) => z,
    };
    let (lo, hi) = interval(z);
    let n = z.remove_range(lo, hi);
    drop_if_empty(ctx.db(), &a[1], now);
    if n > 0 {
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
}

fn zremrangebyrank(ctx: &mut Ctx, a: &[Bytes]) {
    let (Some(s), Some(e)) = (args::int(&a[2]), args::int(&a[3])) else {
        return ctx.err(errors::NOT_INT);
    };
    remrange(ctx, a, |z| rank_interval(z.len(), s, e, false));
}

fn zremrangebyscore(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(r) = ScoreRange::parse(&a[2], &a[3]) else {
        return ctx.err(NOT_FLOAT_RANGE);
    };
    remrange(ctx, a, |z| r.interval(z));
}

fn zremrangebylex(ctx: &mut Ctx, a: &[Bytes]) {
    let Some(r) = LexRange::parse(&a[2], &a[3]) else {
        return ctx.err(NOT_LEX_RANGE);
    };
    remrange(ctx, a, |z| r.interval(z));
}

// ---------------------------------------------------------------------------------------------
// Pops

/// Pops up to `count` elements from the set at `key` (deleting the key when it empties);
/// `Ok(None)` when the key is absent. Shared by ZPOPMIN/ZPOPMAX, ZMPOP and the blocking
/// variants.
pub fn pop_key(
    ctx: &mut Ctx,
    key: &[u8],
    min: bool,
    count: usize,
) -> Result<Option<Popped>, WrongType> {
    let now = ctx.now;
    let Some(z) = write_zset(ctx.db(), key, now, None)? else {
        return Ok(None);
    };
    let popped = z.pop(min, count);
    drop_if_empty(ctx.db(), key, now);
    if !popped.is_empty() {
        ctx.dirty(popped.len() as u64);
    }
    Ok(Some(popped))
}

/// ZMPOP's core: pops from the first non-empty set among `keys`; `Ok(None)` when all are
/// empty, `Err` (nothing changed) when a key holds another type before a set is found.
pub fn zmpop_keys(
    ctx: &mut Ctx,
    keys: &[Bytes],
    min: bool,
    count: usize,
) -> Result<Option<(Bytes, Popped)>, WrongType> {
    for k in keys {
        if let Some(v) = pop_key(ctx, k, min, count)? {
            if !v.is_empty() {
                // Replicated (and notified) as the pop it was, as Redis does.
                let word = if min { "ZPOPMIN" } else { "ZPOPMAX" };
                ctx.propagate_as(vec![vec![
                    Bytes::from(word),
                    k.clone(),
                    Bytes::from(v.len().to_string()),
                ]]);
                return Ok(Some((k.clone(), v)));
            }
        }
    }
    Ok(None)
}

/// Writes ZMPOP's reply: `[key, [[member, score], ...]]`, or a null array.
pub fn reply_zmpop(out: &mut Out, result: Option<(Bytes, Popped)>) {
    match result {
        None => out.null_array(),
        Some((k, v)) => {
            out.array(2);
            out.bulk(&k);
            reply_popped(out, &v, true);
        }
    }
}

fn zpop(ctx: &mut Ctx, a: &[Bytes], min: bool) {
    if a.len() > 3 {
        return ctx.err(errors::SYNTAX);
    }
    let count = match a.get(2) {
        None => None,
        Some(c) => match args::int(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return ctx.err("ERR value is out of range, must be positive"),
        },
    };
    match pop_key(ctx, &a[1], min, count.unwrap_or(1)) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(None) => ctx.out.array(0),
        Ok(Some(v)) => {
            let nested = ctx.out.resp3 && count.is_some();
            reply_popped(ctx.out, &v, nested)
        }
    }
}

fn zpopmin(ctx: &mut Ctx, a: &[Bytes]) {
    zpop(ctx, a, true)
}

fn zpopmax(ctx: &mut Ctx, a: &[Bytes]) {
    zpop(ctx, a, false)
}

/// Parses `numkeys key... MIN|MAX [COUNT n]` from `first` (the numkeys index): the keys'
/// range, the direction and the count. Shared with BZMPOP.
pub fn parse_mpop(
    a: &[Bytes],
    first: usize,
) -> Result<(std::ops::Range<usize>, bool, usize), &'static str> {
    let numkeys = args::int(&a[first])
        .filter(|&n| n >= 1)
        .ok_or("ERR numkeys should be greater than 0")?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(first + 1))
        .filter(|&w| w < a.len())
        .ok_or(errors::SYNTAX)?;
    let min = if args::is(&a[where_idx], "min") {
        true
    } else if args::is(&a[where_idx], "max") {
        false
    } else {
        return Err(errors::SYNTAX);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && args::is(&a[j], "count") && j + 1 < a.len() {
            let n = args::int(&a[j + 1])
                .filter(|&n| n >= 1)
                .ok_or("ERR count should be greater than 0")?;
            count = Some(n as usize);
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok((first + 1..where_idx, min, count.unwrap_or(1)))
}

fn zmpop(ctx: &mut Ctx, a: &[Bytes]) {
    let (keys, min, count) = match parse_mpop(a, 1) {
        Ok(p) => p,
        Err(e) => return ctx.err(e),
    };
    match zmpop_keys(ctx, &a[keys], min, count) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(r) => reply_zmpop(ctx.out, r),
    }
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER

fn zrandmember(ctx: &mut Ctx, a: &[Bytes]) {
    if a.len() > 4 || (a.len() == 4 && !args::is(&a[3], "withscores")) {
        return ctx.err(errors::SYNTAX);
    }
    let withscores = a.len() == 4;
    let count = match a.get(2) {
        None => None,
        Some(c) => match super::bounds::random_count(c) {
            Err(e) => return ctx.err(&e),
            Ok(n) if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) => {
                return ctx.err("ERR value is out of range")
            }
            Ok(n) => Some(n),
        },
    };
    let missing = move |o: &mut Out| {
        if count.is_some() {
            o.array(0)
        } else {
            o.null()
        }
    };
    with_read(ctx, &a[1], missing, |z, o| {
        let mut rng = rand::thread_rng();
        match count {
            None => {
                if let Some((m, _)) = z.at(rng.gen_range(0..z.len())) {
                    o.bulk(m)
                }
            }
            Some(n)
                if !super::bounds::random_count_fits(n, z.memory(), || {
                    z.iter().map(|(m, _)| m.len() + 24).max().unwrap_or(0)
                }) =>
            {
                o.error("ERR value is out of range")
            }
            Some(n) if n < 0 => {
                let n = n.unsigned_abs() as usize;
                // A listpack finds a rank by walking: copy it out once, not once per pick.
                let small: Vec<(&[u8], f64)> = if z.encoding() == "listpack" {
                    z.iter().collect()
                } else {
                    Vec::new()
                };
                let len = z.len();
                let it = (0..n).filter_map(|_| {
                    let r = rng.gen_range(0..len);
                    small.get(r).copied().or_else(|| z.at(r))
                });
                reply_elems(o, ExactLen(it, n), withscores);
            }
            Some(n) => {
                let n = (n as usize).min(z.len());
                let ranks = distinct_ranks(&mut rng, z.len(), n);
                reply_elems(
                    o,
                    ExactLen(ranks.into_iter().filter_map(|r| z.at(r)), n),
                    withscores,
                );
            }
        }
    });
}

/// `n` distinct ranks out of `len`, in random order (all of them, in order, when n == len).
fn distinct_ranks(rng: &mut impl Rng, len: usize, n: usize) -> Vec<usize> {
    if n >= len {
        return (0..len).collect();
    }
    if n * 3 > len {
        let mut all: Vec<usize> = (0..len).collect();
        let (picked, _) = all.partial_shuffle(rng, n);
        return picked.to_vec();
    }
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = rng.gen_range(0..len);
        if seen.insert(r) {
            out.push(r);
        }
    }
    out
}

/// An iterator whose length is known up front (every element is produced).
struct ExactLen<I>(I, usize);

impl<I: Iterator> Iterator for ExactLen<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let v = self.0.next()?;
        self.1 = self.1.saturating_sub(1);
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

impl<I: Iterator> ExactSizeIterator for ExactLen<I> {}

// ---------------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(agg: Aggregate, acc: &mut f64, v: f64) {
    match agg {
        Aggregate::Sum => {
            *acc += v;
            if acc.is_nan() {
                *acc = 0.0;
            }
        }
        Aggregate::Min => *acc = acc.min(v),
        Aggregate::Max => *acc = acc.max(v),
    }
}

struct AlgebraArgs {
    weights: Vec<f64>,
    agg: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Parses the options after the keys, as zunionInterDiffGenericCommand does.
fn parse_algebra_opts(
    a: &[Bytes],
    mut j: usize,
    nkeys: usize,
    op: SetOp,
    store: bool,
    card: bool,
) -> Result<AlgebraArgs, &'static str> {
    let mut r = AlgebraArgs {
        weights: vec![1.0; nkeys],
        agg: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    while j < a.len() {
        let remaining = a.len() - j;
        if op != SetOp::Diff && !card && remaining > nkeys && args::is(&a[j], "weights") {
            for (w, arg) in r.weights.iter_mut().zip(&a[j + 1..j + 1 + nkeys]) {
                *w = parse_score(arg).ok_or("ERR weight value is not a float")?;
            }
            j += 1 + nkeys;
        } else if op != SetOp::Diff && !card && remaining >= 2 && args::is(&a[j], "aggregate") {
            r.agg = match crate::util::lower(&a[j + 1]).as_str() {
                "sum" => Aggregate::Sum,
                "min" => Aggregate::Min,
                "max" => Aggregate::Max,
                _ => return Err(errors::SYNTAX),
            };
            j += 2;
        } else if !store && !card && args::is(&a[j], "withscores") {
            r.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && args::is(&a[j], "limit") {
            let n = args::int(&a[j + 1])
                .filter(|&n| n >= 0)
                .ok_or("ERR LIMIT can't be negative")?;
            r.limit = n as usize;
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok(r)
}

/// A source of a set operation: a sorted set, or a plain set whose members all score 1, as
/// Redis's ZUNION/ZINTER/ZDIFF (and their STORE forms, and ZINTERCARD) accept.
#[derive(Clone, Copy)]
enum Source<'a> {
    Sorted(&'a ZSetValue),
    Plain(&'a SetValue),
}

impl Source<'_> {
    fn len(self) -> usize {
        match self {
            Source::Sorted(z) => z.len(),
            Source::Plain(s) => s.len(),
        }
    }

    fn score(self, m: &[u8]) -> Option<f64> {
        match self {
            Source::Sorted(z) => z.score(m),
            Source::Plain(s) => s.contains(m).then_some(1.0),
        }
    }

    fn for_each(self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Source::Sorted(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Source::Plain(s) => {
                let mut buf = itoa::Buffer::new();
                for e in s.iter() {
                    match e {
                        Elem::Int(n) => f(buf.format(n).as_bytes(), 1.0),
                        Elem::Bytes(b) => f(b, 1.0),
                    }
                }
            }
        }
    }

    fn collect(self, w: f64) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|m, s| v.push((m.to_vec(), weighted(w, s))));
        v
    }
}

/// A source of a set operation, looked up one at a time (the database lends one entry at a
/// time); `None` for a missing key (the caller checked types first).
fn src<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Option<Source<'a>> {
    match db.peek(key, now).map(|e| &e.value) {
        Some(Value::ZSet(z)) => Some(Source::Sorted(z)),
        Some(Value::Set(s)) => Some(Source::Plain(s)),
        _ => None,
    }
}

/// A weighted score; NaN (0 * inf) counts as 0, and -0 as 0.
fn weighted(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v + 0.0
    }
}

/// Runs a set operation over `keys`; the result is (member, score) pairs in no particular
/// order. Sources are visited one after the other, as Redis does (intersections start from
/// the smallest set).
fn compute_algebra(
    db: &mut Db,
    keys: &[Bytes],
    now: u64,
    op: SetOp,
    o: &AlgebraArgs,
) -> Vec<(Vec<u8>, f64)> {
    match op {
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
            for (k, w) in keys.iter().zip(&o.weights) {
                let Some(z) = src(db, k, now) else { continue };
                z.for_each(|m, s| {
                    let v = weighted(*w, s);
                    match acc.get_mut(m) {
                        Some(a) => aggregate(o.agg, a, v),
                        None => {
                            acc.insert(m.to_vec(), v);
                        }
                    }
                });
            }
            acc.into_iter().collect()
        }
        SetOp::Inter => {
            let mut sizes = Vec::with_capacity(keys.len());
            for (i, k) in keys.iter().enumerate() {
                match src(db, k, now) {
                    None => return Vec::new(),
                    Some(z) => sizes.push((z.len(), i)),
                }
            }
            sizes.sort_unstable();
            let mut acc: Vec<(Vec<u8>, f64)> = Vec::new();
            for (n, &(_, i)) in sizes.iter().enumerate() {
                let Some(z) = src(db, &keys[i], now) else {
                    return Vec::new();
                };
                let w = o.weights[i];
                if n == 0 {
                    acc = z.collect(w);
                } else {
                    acc.retain_mut(|(m, a)| match z.score(m) {
                        Some(s) => {
                            aggregate(o.agg, a, weighted(w, s));
                            true
                        }
                        None => false,
                    });
                }
            }
            if o.limit > 0 {
                acc.truncate(o.limit);
            }
            acc
        }
        SetOp::Diff => {
            let Some(base) = src(db, &keys[0], now) else {
                return Vec::new();
            };
            // Scores as stored: ZDIFF applies no weight (and keeps a -0).
            let mut acc = Vec::with_capacity(base.len());
            base.for_each(|m, s| acc.push((m.to_vec(), s)));
            for k in &keys[1..] {
                if acc.is_empty() {
                    break;
                }
                if let Some(z) = src(db, k, now) {
                    acc.retain(|(m, _)| z.score(m).is_none());
                }
            }
            acc
        }
    }
}

fn algebra(ctx: &mut Ctx, a: &[Bytes], op: SetOp, store: bool, card: bool) {
    let nk_idx = if store { 2 } else { 1 };
    let cmd = args::name(a);
    let Some(nkeys) = args::int(&a[nk_idx]) else {
        return ctx.err(errors::NOT_INT);
    };
    if nkeys < 1 {
        return ctx.err(&format!(
            "ERR at least 1 input key is needed for '{cmd}' command"
        ));
    }
    if nkeys as u64 > (a.len() - nk_idx - 1) as u64 {
        return ctx.err(errors::SYNTAX);
    }
    let nkeys = nkeys as usize;
    let keys = &a[nk_idx + 1..nk_idx + 1 + nkeys];
    let now = ctx.now;
    for k in keys {
        if let Some(e) = ctx.db().read(k, now) {
            if !matches!(e.value, Value::ZSet(_) | Value::Set(_)) {
                return ctx.err(errors::WRONGTYPE);
            }
        }
    }
    let opts = match parse_algebra_opts(a, nk_idx + 1 + nkeys, nkeys, op, store, card) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let lim = limits(ctx);
    let mut result = compute_algebra(ctx.db(), keys, now, op, &opts);
    if card {
        return ctx.out.int(result.len() as i64);
    }
    result.sort_by(|x, y| {
        x.1.partial_cmp(&y.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| x.0.cmp(&y.0))
    });
    let items = ExactLen(result.iter().map(|(m, s)| (m.as_slice(), *s)), result.len());
    if store {
        let z = collect_zset(items, lim);
        store_result(ctx, &a[1], z);
    } else {
        reply_elems(ctx.out, items, opts.withscores);
    }
}

fn zunion(ctx: &mut Ctx, a: &[Bytes]) {
    algebra(ctx, a, SetOp::Union, false, false)
}

fn zinter(ctx: &mut Ctx, a: &[Bytes]) {
    algebra(ctx, a, SetOp::Inter, false, false)
}

fn zdiff(ctx: &mut Ctx, a: &[Bytes]) {
    algebra(ctx, a, SetOp::Diff, false, false)
}

fn zunionstore(ctx: &mut Ctx, a: &[Bytes]) {
    algebra(ctx, a, SetOp::Union, true, false)
}

fn zinterstore(ctx: &mut Ctx, a: &[Bytes]) {
    algebra(ctx, a, SetOp::Inter, true, false)
}

fn zdiffstore(ctx: &mut Ctx, a: &[Bytes]) {
    algebra(ctx, a, SetOp::Diff, true, false)
}

fn zintercard(ctx: &mut Ctx, a: &[Bytes]) {
    algebra(ctx, a, SetOp::Inter, false, true)
}

// ---------------------------------------------------------------------------------------------
// ZSCAN

fn zscan(ctx: &mut Ctx, a: &[Bytes]) {
    let cursor = std::str::from_utf8(&a[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let Some(cursor) = cursor else {
        return ctx.err("ERR invalid cursor");
    };
    let (mut pattern, mut count) = (None, 10usize);
    let mut j = 3;
    while j < a.len() {
        if args::is(&a[j], "count") && j + 1 < a.len() {
            match args::int(&a[j + 1]) {
                None => return ctx.err(errors::NOT_INT),
                Some(n) if n < 1 => return ctx.err(errors::SYNTAX),
                Some(n) => count = n as usize,
            }
        } else if args::is(&a[j], "match") && j + 1 < a.len() {
            pattern = Some(crate::glob::Glob::new(&a[j + 1], false));
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 2;
    }
    with_read(
        ctx,
        &a[1],
        |o| {
            o.array(2);
            o.bulk(b"0");
            o.array(0);
        },
        |z, o| {
            let mut found: Vec<(&[u8], f64)> = Vec::new();
            let next = z.scan(cursor, count, |m, s| {
                if pattern.as_ref().is_none_or(|p| p.matches(m)) {
                    found.push((m, s));
                }
            });
            o.array(2);
            o.bulk(next.to_string().as_bytes());
            o.array(found.len() * 2);
            for (m, s) in found {
                o.bulk(m);
                o.bulk(crate::util::fmt_double(s).as_bytes());
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_intervals_follow_redis() {
        assert_eq!(rank_interval(5, 0, -1, false), (0, 5));
        assert_eq!(rank_interval(5, 1, 2, false), (1, 3));
        assert_eq!(rank_interval(5, 1, 2, true), (2, 4));
        assert_eq!(rank_interval(5, -100, 100, false), (0, 5));
        assert_eq!(rank_interval(5, 3, 1, false), (0, 0));
        assert_eq!(rank_interval(5, 5, 10, false), (0, 0));
        assert_eq!(rank_interval(0, 0, -1, false), (0, 0));
        assert_eq!(rank_interval(5, i64::MIN, i64::MAX, false), (0, 5));
    }

    #[test]
    fn scores_refuse_overflow_like_strtod() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0e5"), Some(0.0));
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"-1e400"), None);
        assert_eq!(parse_score(b"1e-400"), None);
        assert_eq!(parse_score(b"nan"), None);
    }

    #[test]
    fn score_and_lex_bounds_parse_as_redis() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.minex && !r.maxex && r.min == 1.0 && r.max.is_infinite());
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"(a", b"1").is_none());
        let b = |s: &str| Bytes::from(s.to_string());
        assert!(LexRange::parse(&b("-"), &b("+")).is_some());
        assert!(LexRange::parse(&b("[a"), &b("(b")).is_some());
        assert!(LexRange::parse(&b("a"), &b("+")).is_none());
        assert!(LexRange::parse(&b("-x"), &b("+")).is_none());
        assert!(LexRange::parse(&b(""), &b("+")).is_none());
    }
}
