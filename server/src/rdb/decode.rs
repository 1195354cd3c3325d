//! Values read as Redis 7.2 reads them (`rdbLoadObject`), for RDB versions 9 to 11: every
//! type byte a Redis of those versions writes for strings, lists, sets, sorted sets and
//! hashes, in current and older encodings. The value is rebuilt through the types' own
//! insertion paths, so it takes the encoding this server's thresholds give it (as Redis
//! converts on load) and duplicates, NaN scores and empty collections are refused.

use super::{container, intset, kind, listpack, lzf, ziplist, BadFormat};
use crate::keyspace::types::{
    hash::HashLimits, list::ListLimits, set::SetLimits, zset::ZLimits, HashValue, ListValue,
    SetValue, ZSetValue,
};
use crate::keyspace::{SmallBytes, Value};
use listpack::Item;
use std::borrow::Cow;

/// The encoding thresholds a loaded value is rebuilt with (the server's configuration).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub list: ListLimits,
    pub set: SetLimits,
    pub hash: HashLimits,
    pub zset: ZLimits,
}

impl Default for Limits {
    /// Redis's default thresholds, where no configuration is at hand (fuzzing, tests).
    fn default() -> Self {
        Limits {
            list: ListLimits::default(),
            set: SetLimits {
                max_intset: 512,
                max_listpack: 128,
            },
            hash: HashLimits {
                max_entries: 128,
                max_value: 64,
            },
            zset: ZLimits::default(),
        }
    }
}

type R<T> = Result<T, BadFormat>;

/// A cursor over untrusted bytes: every read is checked against what remains.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn byte(&mut self) -> R<u8> {
        let (&b, rest) = self.buf.split_first().ok_or(BadFormat)?;
        self.buf = rest;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.buf.len() {
            return Err(BadFormat);
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    /// `rdbLoadLenByRef`: a length, or (flag true) the code of a special string encoding.
    fn len_or_encoding(&mut self) -> R<(u64, bool)> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3f), false),
            1 => (u64::from(b & 0x3f) << 8 | u64::from(self.byte()?), false),
            2 => match b {
                0x80 => (u64::from(u32::from_be_bytes(self.array()?)), false),
                0x81 => (u64::from_be_bytes(self.array()?), false),
                _ => return Err(BadFormat),
            },
            _ => (u64::from(b & 0x3f), true),
        })
    }

    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| BadFormat)
    }

    /// A length-encoded number that sizes nothing (a field's expiry).
    pub fn number(&mut self) -> R<u64> {
        match self.len_or_encoding()? {
            (n, false) => Ok(n),
            _ => Err(BadFormat),
        }
    }

    /// Redis's `rdbLoadMillisecondTime`: 8 bytes, little-endian.
    pub fn millis(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A length that sizes something: it must fit in memory.
    pub fn length(&mut self) -> R<usize> {
        match self.len_or_encoding()? {
            (n, false) => usize::try_from(n).map_err(|_| BadFormat),
            _ => Err(BadFormat),
        }
    }

    /// A count of elements each taking at least `min_bytes`: more than the remaining bytes
    /// could hold is refused before any loop or allocation.
    pub fn count(&mut self, min_bytes: usize) -> R<usize> {
        let n = self.length()?;
        if n.saturating_mul(min_bytes) > self.remaining() {
            return Err(BadFormat);
        }
        Ok(n)
    }

    /// `rdbGenericLoadStringObject`: integer-encoded, LZF-compressed or raw.
    pub fn string(&mut self) -> R<Cow<'a, [u8]>> {
        let (n, special) = self.len_or_encoding()?;
        if !special {
            let n = usize::try_from(n).map_err(|_| BadFormat)?;
            return Ok(Cow::Borrowed(self.take(n)?));
        }
        let v: i64 = match n {
            0 => i64::from(self.byte()? as i8),
            1 => i64::from(i16::from_le_bytes(self.array()?)),
            2 => i64::from(i32::from_le_bytes(self.array()?)),
            3 => {
                let clen = self.length()?;
                let len = self.length()?;
                let z = self.take(clen)?;
                return lzf::decompress(z, len).map(Cow::Owned).ok_or(BadFormat);
            }
            _ => return Err(BadFormat),
        };
        Ok(Cow::Owned(
            itoa::Buffer::new().format(v).as_bytes().to_vec(),
        ))
    }

    /// `rdbLoadBinaryDoubleValue`.
    fn binary_double(&mut self) -> R<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// `rdbLoadDoubleValue` (RDB_TYPE_ZSET): a length byte with codes for NaN and the
    /// infinities, then the number as text.
    fn text_double(&mut self) -> R<f64> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => parse_score(self.take(usize::from(n))?),
        }
    }
}

fn parse_score(s: &[u8]) -> R<f64> {
    crate::util::parse_f64(s).ok_or(BadFormat)
}

fn score_of(it: &Item) -> R<f64> {
    match *it {
        Item::Int(n) => Ok(n as f64),
        Item::Str(s) => parse_score(s),
    }
}

fn list_from(
    items: impl IntoIterator<Item = impl AsRef<[u8]>>,
    l: &mut ListValue,
    lim: ListLimits,
) {
    for it in items {
        l.push_back(it.as_ref(), lim);
    }
}

fn push_items(l: &mut ListValue, items: &[Item], lim: ListLimits) {
    let mut buf = itoa::Buffer::new();
    for it in items {
        l.push_back(it.bytes(&mut buf), lim);
    }
}

fn set_from<'x>(members: impl ExactSizeIterator<Item = Cow<'x, [u8]>>, lim: SetLimits) -> R<Value> {
    let mut s = SetValue::new();
    s.prepare(members.len(), lim);
    for m in members {
        if !s.add(&m, lim) {
            return Err(BadFormat);
        }
    }
    non_empty(s.len(), Value::Set(s))
}

fn zset_from(pairs: Vec<(Cow<[u8]>, f64)>, lim: ZLimits) -> R<Value> {
    let longest = pairs.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSetValue::with_hint(pairs.len(), longest, lim);
    for (m, s) in pairs {
        if s.is_nan() || z.insert(&m, s, lim).is_some() {
            return Err(BadFormat);
        }
    }
    non_empty(z.len(), Value::ZSet(z))
}

/// Field/value pairs as read.
type Pairs<'x> = Vec<(Cow<'x, [u8]>, Cow<'x, [u8]>)>;

fn hash_from(pairs: Pairs, lim: HashLimits) -> R<Value> {
    let longest = pairs
        .iter()
        .map(|(f, v)| f.len().max(v.len()))
        .max()
        .unwrap_or(0);
    let mut h = HashValue::new();
    h.prepare(pairs.len(), longest, lim);
    for (f, v) in pairs {
        if !h.set(&f, &v, lim) {
            return Err(BadFormat);
        }
    }
    non_empty(h.len(), Value::Hash(h))
}

/// The latest expiry a field may carry (Redis's `EB_EXPIRE_TIME_MAX`).
const FIELD_EXPIRY_MAX: u64 = (1 << 48) - 1;

/// Field/value/expiry triples as read (expiry: absolute Unix ms, 0 for none).
type Triples<'x> = Vec<(Cow<'x, [u8]>, Cow<'x, [u8]>, u64)>;

/// A hash with field TTLs.
fn hash_ex_from(triples: Triples, lim: HashLimits) -> R<Value> {
    if triples.iter().any(|t| t.2 > FIELD_EXPIRY_MAX) {
        return Err(BadFormat);
    }
    let at: Vec<u64> = triples.iter().map(|t| t.2).collect();
    let Value::Hash(h) = hash_from(triples.into_iter().map(|(f, v, _)| (f, v)).collect(), lim)?
    else {
        return Err(BadFormat);
    };
    // Pairs keep the order they were read in, so the expiries line up.
    h.with_expiries(at).map(Value::Hash).ok_or(BadFormat)
}

/// Redis refuses to load an empty collection ("empty keys").
fn non_empty(len: usize, v: Value) -> R<Value> {
    if len == 0 {
        Err(BadFormat)
    } else {
        Ok(v)
    }
}

fn owned(it: &Item) -> Cow<'static, [u8]> {
    let mut buf = itoa::Buffer::new();
    Cow::Owned(it.bytes(&mut buf).to_vec())
}

fn borrowed<'x>(it: &Item<'x>) -> Cow<'x, [u8]> {
    match *it {
        Item::Str(s) => Cow::Borrowed(s),
        Item::Int(_) => owned(it),
    }
}

/// Alternating items as pairs; an odd count is malformed.
fn pairs<'x>(items: &[Item<'x>]) -> R<Vec<(Item<'x>, Item<'x>)>> {
    if !items.len().is_multiple_of(2) {
        return Err(BadFormat);
    }
    Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// Reads the body of a value of RDB type `t`.
pub fn read_value(r: &mut Reader, t: u8, lim: &Limits) -> R<Value> {
    match t {
        kind::STRING => Ok(Value::Str(SmallBytes::new(&r.string()?))),
        kind::LIST => {
            let n = r.count(1)?;
            let mut l = ListValue::new();
            for _ in 0..n {
                l.push_back(&r.string()?, lim.list);
            }
            non_empty(l.len(), Value::List(l))
        }
        kind::LIST_ZIPLIST => {
            let blob = r.string()?;
            let mut l = ListValue::new();
            push_items(&mut l, &ziplist::items(&blob).ok_or(BadFormat)?, lim.list);
            non_empty(l.len(), Value::List(l))
        }
        kind::LIST_QUICKLIST | kind::LIST_QUICKLIST_2 => {
            let n = r.count(1)?;
            let mut l = ListValue::new();
            for _ in 0..n {
                let c = if t == kind::LIST_QUICKLIST_2 {
                    r.length()? as u64
                } else {
                    container::PACKED
                };
                let blob = r.string()?;
                match c {
                    container::PLAIN => list_from([&blob[..]], &mut l, lim.list),
                    container::PACKED => {
                        let items = if t == kind::LIST_QUICKLIST {
                            ziplist::items(&blob)
                        } else {
                            listpack::items(&blob)
                        };
                        // Empty nodes are skipped, as Redis does.
                        push_items(&mut l, &items.ok_or(BadFormat)?, lim.list);
                    }
                    _ => return Err(BadFormat),
                }
            }
            non_empty(l.len(), Value::List(l))
        }
        kind::SET => {
            let n = r.count(1)?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(r.string()?);
            }
            set_from(members.into_iter(), lim.set)
        }
        kind::SET_INTSET => {
            let blob = r.string()?;
            let vals = intset::decode(&blob).ok_or(BadFormat)?;
            let mut buf = itoa::Buffer::new();
            let members: Vec<Cow<[u8]>> = vals
                .iter()
                .map(|&v| Cow::Owned(buf.format(v).as_bytes().to_vec()))
                .collect();
            set_from(members.into_iter(), lim.set)
        }
        kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 | kind::STREAM_LISTPACKS_3 => {
            super::stream::read(r, t)
        }
        kind::SET_LISTPACK => {
            let blob = r.string()?;
            let items = listpack::items(&blob).ok_or(BadFormat)?;
            set_from(items.iter().map(borrowed), lim.set)
        }
        kind::ZSET | kind::ZSET_2 => {
            let n = r.count(2)?;
            let mut ps = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?;
                let s = if t == kind::ZSET_2 {
                    r.binary_double()?
                } else {
                    r.text_double()?
                };
                ps.push((m, s));
            }
            zset_from(ps, lim.zset)
        }
        kind::ZSET_ZIPLIST | kind::ZSET_LISTPACK => {
            let blob = r.string()?;
            let items = if t == kind::ZSET_ZIPLIST {
                ziplist::items(&blob)
            } else {
                listpack::items(&blob)
            }
            .ok_or(BadFormat)?;
            let ps = pairs(&items)?
                .iter()
                .map(|(m, s)| Ok((owned(m), score_of(s)?)))
                .collect::<R<Vec<_>>>()?;
            zset_from(ps, lim.zset)
        }
        kind::HASH => {
            let n = r.count(2)?;
            let mut ps = Vec::with_capacity(n);
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                ps.push((f, v));
            }
            hash_from(ps, lim.hash)
        }
        kind::HASH_ZIPMAP => {
            let blob = r.string()?;
            let ps = ziplist::zipmap_pairs(&blob).ok_or(BadFormat)?;
            hash_from(
                ps.into_iter()
                    .map(|(f, v)| (Cow::Owned(f.to_vec()), Cow::Owned(v.to_vec())))
                    .collect(),
                lim.hash,
            )
        }
        kind::HASH_ZIPLIST | kind::HASH_LISTPACK => {
            let blob = r.string()?;
            let items = if t == kind::HASH_ZIPLIST {
                ziplist::items(&blob)
            } else {
                listpack::items(&blob)
            }
            .ok_or(BadFormat)?;
            let ps = pairs(&items)?
                .iter()
                .map(|(f, v)| (owned(f), owned(v)))
                .collect();
            hash_from(ps, lim.hash)
        }
        kind::HASH_METADATA | kind::HASH_METADATA_PRE_GA => {
            let min = if t == kind::HASH_METADATA {
                r.millis()?
            } else {
                0
            };
            let n = r.count(3)?;
            let mut ts = Vec::with_capacity(n);
            for _ in 0..n {
                let ttl = r.number()?;
                let at = match (t == kind::HASH_METADATA, ttl) {
                    (_, 0) => 0,
                    (true, d) => d.checked_add(min).ok_or(BadFormat)? - 1,
                    (false, a) => a,
                };
                let f = r.string()?;
                let v = r.string()?;
                ts.push((f, v, at));
            }
            hash_ex_from(ts, lim.hash)
        }
        kind::HASH_LISTPACK_EX | kind::HASH_LISTPACK_EX_PRE_GA => {
            if t == kind::HASH_LISTPACK_EX {
                r.millis()?;
            }
            let blob = r.string()?;
            let items = listpack::items(&blob).ok_or(BadFormat)?;
            if !items.len().is_multiple_of(3) {
                return Err(BadFormat);
            }
            let ts = items
                .chunks_exact(3)
                .map(|c| match c[2] {
                    Item::Int(at) if at >= 0 => Ok((owned(&c[0]), owned(&c[1]), at as u64)),
                    _ => Err(BadFormat),
                })
                .collect::<R<Vec<_>>>()?;
            hash_ex_from(ts, lim.hash)
        }
        // Streams and module types: not values this server holds.
        _ => Err(BadFormat),
    }
}
