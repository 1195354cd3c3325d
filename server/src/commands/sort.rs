//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted numerically or
//! lexicographically, by themselves or by weights read from other keys (`BY pattern`),
//! optionally replaced by values read from other keys (`GET pattern`), and either returned
//! or stored as a list (`STORE`, SORT only).
//!
//! This follows Redis 7.0's `sortCommandGeneric` step by step, because clients depend on
//! its corner cases: a `BY` pattern without `*` means "do not sort" (except for a set being
//! stored, which is sorted ALPHA so replicas store the same list), LIMIT is clamped to the
//! collection, a missing weight key weighs 0 (or sorts first with ALPHA), and in cluster mode
//! BY and GET patterns are refused since the keys they form may live on other nodes.
//!
//! The work is proportional to the sorted collection (one look-up per element and
//! pattern, one O(n log n) sort), as in Redis.

use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::types::list::{ListLimits, ListValue};
use crate::keyspace::{Db, SmallBytes, Ttl, Value};
use crate::keyspace_events::Events;
use bytes::Bytes;
use std::cmp::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "sort",
        -2,
        WRITE | DENYOOM,
        &[ks::range(1, 0, 1, RO | ACCESS), ks::unknown(RO | ACCESS).notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), ks::unknown(OW | UPDATE).notes("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array")],
        sort,
        "generic",
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
    ).events(Events::SortStore).getkeys(sort_keys),
    CommandSpec::new(
        "sort_ro",
        -2,
        READONLY,
        &[ks::range(1, 0, 1, RO | ACCESS), ks::unknown(RO | ACCESS).notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort")],
        sort_ro,
        "generic",
        "Returns the sorted elements of a list, a set, or a sorted set.",
    ).getkeys(sort_ro_keys),
];

/// SORT's keys, as Redis's `sortGetKeys` finds them: the sorted key (`RO access`), and the
/// argument after the last STORE (`OW update`; LIMIT's two arguments and GET's and BY's one
/// are skipped, so a pattern spelled "store" is not taken for the option).
fn sort_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let mut store = None;
    let mut i = 2;
    while i < a.len() {
        if args::is(&a[i], "LIMIT") {
            i += 2;
        } else if args::is(&a[i], "GET") || args::is(&a[i], "BY") {
            i += 1;
        } else if args::is(&a[i], "STORE") && i + 1 < a.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    let mut keys = sort_ro_keys(a);
    keys.extend(store.map(|pos| KeyRef {
        pos,
        flags: OW | UPDATE,
    }));
    keys
}

/// SORT_RO's key (Redis's `sortROGetKeys`): only the sorted one; its BY and GET patterns
/// name keys that only the sorted values tell.
fn sort_ro_keys(_a: &[Bytes]) -> Vec<KeyRef> {
    vec![KeyRef {
        pos: 1,
        flags: RO | ACCESS,
    }]
}

fn sort(ctx: &mut Ctx, a: &[Bytes]) {
    sort_generic(ctx, a, false);
}

fn sort_ro(ctx: &mut Ctx, a: &[Bytes]) {
    sort_generic(ctx, a, true);
}

/// The options of one SORT call.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<&'a Bytes>,
    by: Option<&'a [u8]>,
    /// BY named a constant (no `*`): elements keep the collection's order.
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

/// Parses the options after the key; `Err` carries the error reply. BY and GET patterns
/// read keys no key spec names, so they need a user that may read every key (`all_keys`).
fn parse<'a>(
    a: &'a [Bytes],
    readonly: bool,
    cluster: bool,
    all_keys: bool,
) -> Result<Options<'a>, String> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let opt = &a[j];
        if args::is(opt, "ASC") {
            o.desc = false;
        } else if args::is(opt, "DESC") {
            o.desc = true;
        } else if args::is(opt, "ALPHA") {
            o.alpha = true;
        } else if args::is(opt, "LIMIT") && left >= 2 {
            let (Some(s), Some(c)) = (args::int(&a[j + 1]), args::int(&a[j + 2])) else {
                return Err(errors::NOT_INT.into());
            };
            o.limit_start = s;
            o.limit_count = c;
            j += 2;
        } else if !readonly && args::is(opt, "STORE") && left >= 1 {
            o.store = Some(&a[j + 1]);
            j += 1;
        } else if args::is(opt, "BY") && left >= 1 {
            let pattern = a[j + 1].as_ref();
            o.by = Some(pattern);
            if !pattern.contains(&b'*') {
                o.dontsort = true;
            } else if cluster {
                return Err("ERR BY option of SORT denied in Cluster mode.".into());
            } else if !all_keys {
                return Err(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.".into(),
                );
            }
            j += 1;
        } else if args::is(opt, "GET") && left >= 1 {
            if cluster {
                return Err("ERR GET option of SORT denied in Cluster mode.".into());
            }
            if !all_keys {
                return Err(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.".into(),
                );
            }
            o.gets.push(a[j + 1].as_ref());
            j += 1;
        } else {
            return Err(errors::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// One element being sorted, with what it sorts by.
struct Item {
    obj: SmallBytes,
    score: f64,
    /// The BY value compared under ALPHA (`None`: its weight key was missing).
    cmp: Option<Vec<u8>>,
}

impl Item {
    fn new(obj: SmallBytes) -> Self {
        Item {
            obj,
            score: 0.0,
            cmp: None,
        }
    }
}

/// The collection kinds SORT reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

fn sort_generic(ctx: &mut Ctx, a: &[Bytes], readonly: bool) {
    let all_keys =
        crate::admission::spec_of(a).is_some_and(|spec| ctx.conn.user.reads_every_key(spec, a));
    let mut o = match parse(a, readonly, ctx.settings.cluster_enabled, all_keys) {
        Ok(o) => o,
        Err(e) => return ctx.err(&e),
    };
    let now = ctx.now;
    let in_script = ctx.conn.in_script;
    let db = ctx.db();
    let (kind, len) = match db.read(&a[1], now).map(|e| &e.value) {
        None => (Kind::List, 0),
        Some(Value::List(l)) => (Kind::List, l.len()),
        Some(Value::Set(s)) => (Kind::Set, s.len()),
        Some(Value::ZSet(z)) => (Kind::ZSet, z.len()),
        Some(_) => return ctx.err(errors::WRONGTYPE),
    };
    // A set has no order of its own: stored (and so replicated) unsorted, or handed to a
    // script (whose effects replicas may replay), replicas could disagree, so it is sorted
    // lexicographically instead.
    if o.dontsort && kind == Kind::Set && (o.store.is_some() || in_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    // LIMIT, clamped to the collection as Redis does (end < start means nothing).
    let n = len as i64;
    let mut start = o.limit_start.clamp(0, n);
    let count = o.limit_count.clamp(-1, n);
    let mut end = if count < 0 { n - 1 } else { start + count - 1 };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    end = end.min(n - 1);

    let mut items = load(db, &a[1], kind, &o, start, end, now);
    if o.dontsort && kind != Kind::Set {
        // Loaded already cut to the range.
        end -= start;
        start = 0;
    }

    let mut not_double = false;
    if !o.dontsort {
        for it in items.iter_mut() {
            let by = match o.by {
                Some(p) => match lookup_by_pattern(db, p, &it.obj, now) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.obj.to_vec(),
            };
            if o.alpha {
                if o.by.is_some() {
                    it.cmp = Some(by);
                }
            } else {
                match strtod(&by) {
                    Some(s) => it.score = s,
                    None => not_double = true,
                }
            }
        }
        let (alpha, by_pattern, desc) = (o.alpha, o.by.is_some(), o.desc);
        items.sort_by(|x, y| {
            let c = compare(x, y, alpha, by_pattern);
            if desc {
                c.reverse()
            } else {
                c
            }
        });
    }

    if not_double {
        return ctx.err("ERR One or more scores can't be converted into double");
    }
    let range: &[Item] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let per = o.gets.len().max(1);
    let outputlen = range.len() * per;
    match o.store {
        None => {
            let (db, out) = ctx.db_out();
            out.array(outputlen);
            for it in range {
                if o.gets.is_empty() {
                    out.bulk(&it.obj);
                }
                for g in &o.gets {
                    match lookup_by_pattern(db, g, &it.obj, now) {
                        Some(v) => out.bulk(&v),
                        None => out.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let lim = ListLimits::from_settings(ctx.settings);
            let db = ctx.db();
            let mut list = ListValue::new();
            for it in range {
                if o.gets.is_empty() {
                    list.push_back(&it.obj, lim);
                }
                for g in &o.gets {
                    // A missing value is stored as an empty string.
                    let v = lookup_by_pattern(db, g, &it.obj, now).unwrap_or_default();
                    list.push_back(&v, lim);
                }
            }
            if outputlen > 0 {
                db.set(dst, Value::List(list), Ttl::Persist, now);
                ctx.dirty(outputlen as u64);
            } else if db.remove(dst, now).is_some() {
                ctx.dirty(1);
            }
            // The sorted key was only read.
            ctx.modified_only(vec![dst.clone()]);
            ctx.out.int(outputlen as i64);
        }
    }
}

/// The elements to sort. Without sorting (BY a constant), a list or sorted set is read in
/// its own order (reversed by DESC) and only the LIMIT range is taken.
fn load(
    db: &mut Db,
    key: &[u8],
    kind: Kind,
    o: &Options,
    start: i64,
    end: i64,
    now: u64,
) -> Vec<Item> {
    let Some(e) = db.read(key, now) else {
        return Vec::new();
    };
    let ranged = o.dontsort && kind != Kind::Set;
    let (skip, take) = if !ranged {
        (0, usize::MAX)
    } else if end >= start {
        (start as usize, (end - start + 1) as usize)
    } else {
        (0, 0)
    };
    match &e.value {
        Value::List(l) if o.desc && ranged => l
            .iter()
            .rev()
            .skip(skip)
            .take(take)
            .map(|v| Item::new(SmallBytes::new(v)))
            .collect(),
        Value::List(l) => l
            .iter()
            .skip(skip)
            .take(take)
            .map(|v| Item::new(SmallBytes::new(v)))
            .collect(),
        Value::Set(s) => s.iter().map(|m| Item::new(m.to_small())).collect(),
        Value::ZSet(z) if ranged => {
            let n = z.len();
            let (lo, hi) = if o.desc {
                (n.saturating_sub(skip + take), n - skip.min(n))
            } else {
                (skip, skip.saturating_add(take).min(n))
            };
            z.range(lo, hi, o.desc)
                .map(|(m, _)| Item::new(SmallBytes::new(m)))
                .collect()
        }
        Value::ZSet(z) => z
            .iter()
            .map(|(m, _)| Item::new(SmallBytes::new(m)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Redis's `sortCompare`: by weight (ties broken by the elements' bytes), or by bytes,
/// either the elements' own or those of their BY values (a missing one sorting first).
fn compare(x: &Item, y: &Item, alpha: bool, by_pattern: bool) -> Ordering {
    if !alpha {
        return x
            .score
            .partial_cmp(&y.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| x.obj.as_slice().cmp(y.obj.as_slice()));
    }
    if by_pattern {
        return match (&x.cmp, &y.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.cmp(b),
        };
    }
    x.obj.as_slice().cmp(y.obj.as_slice())
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` of the
/// pattern is replaced by the element to form a key, whose string value is returned, or,
/// when the pattern ends in `->field`, that field of the hash there. A pattern without `*`
/// names no key; a key of another type yields nothing.
fn lookup_by_pattern(db: &mut Db, pattern: &[u8], subst: &[u8], now: u64) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(subst.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let rest = &pattern[star + 1..];
    let (post, field) = match rest.windows(2).position(|w| w == b"->") {
        Some(f) if f + 2 < rest.len() => (&rest[..f], Some(&rest[f + 2..])),
        _ => (rest, None),
    };
    let mut key = Vec::with_capacity(star + subst.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(post);
    let e = db.read(&key, now)?;
    match (field, &e.value) {
        (None, Value::Str(s)) => Some(s.to_vec()),
        (Some(f), Value::Hash(h)) => h.get(f).map(|v| v.to_vec()),
        _ => None,
    }
}

/// A weight as C's `strtod` reads it in SORT: the whole value must be a number (leading
/// white space allowed), not NaN and not out of a double's range. An empty value reads as 0.
fn strtod(b: &[u8]) -> Option<f64> {
    if b.is_empty() {
        return Some(0.0);
    }
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let v: f64 = t.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    // Overflow (ERANGE): an infinity that was not spelled as one.
    let spelled_inf = t
        .trim_start_matches(['+', '-'])
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("inf"));
    if v.is_infinite() && !spelled_inf {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<Bytes> {
        s.iter().map(|x| Bytes::from(x.to_string())).collect()
    }

    #[test]
    fn store_key_is_the_last_store_and_patterns_are_skipped() {
        let pos =
            |a: &[&str]| -> Vec<usize> { sort_keys(&argv(a)).iter().map(|k| k.pos).collect() };
        assert_eq!(pos(&["sort", "abc", "store", "def"]), vec![1, 3]);
        assert_eq!(
            pos(&["sort", "abc", "store", "invalid", "store", "stillbad", "store", "def"]),
            vec![1, 7]
        );
        assert_eq!(pos(&["sort", "abc", "get", "store"]), vec![1]);
        assert_eq!(pos(&["sort", "abc", "limit", "store", "x"]), vec![1]);
        assert_eq!(pos(&["sort", "abc", "store"]), vec![1]);
        assert_eq!(
            sort_keys(&argv(&["sort", "abc", "store", "d"]))[1].flags,
            OW | UPDATE
        );
    }

    #[test]
    fn weights_read_like_strtod() {
        assert_eq!(strtod(b"1.5"), Some(1.5));
        assert_eq!(strtod(b"  -2"), Some(-2.0));
        assert_eq!(strtod(b""), Some(0.0));
        assert_eq!(strtod(b"inf"), Some(f64::INFINITY));
        assert_eq!(strtod(b"1e400"), None);
        assert_eq!(strtod(b"nan"), None);
        assert_eq!(strtod(b"12abc"), None);
        assert_eq!(strtod(b" "), None);
    }
}
