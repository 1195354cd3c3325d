//! A set of byte strings.
//!
//! Three encodings, chosen by Redis 7.2's rules: "intset" (sorted integers packed at the
//! smallest width, [`IntSet`], binary search) while every member is an integer and there are
//! at most `set-max-intset-entries`;
//! "listpack" (members in one [`Packed`] buffer) for small sets of short members (at most
//! `set-max-listpack-entries`, each at most 64 bytes); "hashtable" ([`Dense`]) otherwise.
//! Sets only move towards "hashtable", never back.

use super::dense::Dense;
use super::intset::IntSet;
use super::packed::{get_bytes, get_len, put_bytes, put_len, Packed};
use crate::keyspace::SmallBytes;
use crate::util::parse_i64_strict;

/// Longest member a listpack-encoded set holds (Redis's `set-max-listpack-value`).
pub const MAX_LISTPACK_VALUE: usize = 64;

/// Most members a loaded (RESTORE, full sync) listpack keeps as a listpack; past this it is
/// loaded as a table. Redis's own ceiling for set-max-listpack-entries is far above any
/// sensible setting; 1024 keeps a listpack's linear operations cheap.
const LOADED_LISTPACK_MAX: usize = 1024;

/// Most members a loaded intset keeps as an intset (Redis's default limit is 512).
const LOADED_INTSET_MAX: usize = 1 << 14;

/// The conversion thresholds (from `Settings`).
#[derive(Clone, Copy, Debug)]
pub struct SetLimits {
    pub max_intset: usize,
    pub max_listpack: usize,
}

#[derive(Clone, Debug)]
enum Repr {
    /// Inline: a set of small integers is one allocation.
    Intset(IntSet),
    /// The other encodings behind one box, so the value stays 16 bytes (held inline in the
    /// entry); a pointer has room for one more variant beside a buffer, not two.
    Boxed(Box<Boxed>),
}

/// A table in a box of its own, so a listpack's box stays small (24 bytes, not a table's
/// 80).
#[derive(Clone, Debug)]
enum Boxed {
    Listpack(Packed),
    Table(Box<Dense<SmallBytes>>),
}

/// The encoding as the operations see it, whichever box holds it.
enum View<'a> {
    Intset(&'a IntSet),
    Listpack(&'a Packed),
    Table(&'a Dense<SmallBytes>),
}

enum ViewMut<'a> {
    Intset(&'a mut IntSet),
    Listpack(&'a mut Packed),
    Table(&'a mut Dense<SmallBytes>),
}

/// A set of byte strings.
#[derive(Clone, Debug)]
pub struct SetValue {
    repr: Repr,
}

/// One member as stored: intset members are numbers until someone needs their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Elem<'_> {
    /// The member's bytes (integers in decimal, inline: no allocation).
    pub fn to_small(self) -> SmallBytes {
        match self {
            Elem::Int(n) => SmallBytes::new(itoa::Buffer::new().format(n).as_bytes()),
            Elem::Bytes(b) => SmallBytes::new(b),
        }
    }
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue {
            repr: Repr::Intset(IntSet::default()),
        }
    }
}

/// Equality as sets, whatever the encoding or order.
impl PartialEq for SetValue {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|e| other.contains(&e.to_small()))
    }
}

const TAG_INTSET: u8 = 0;
const TAG_LISTPACK: u8 = 1;
const TAG_TABLE: u8 = 2;

impl SetValue {
    fn view(&self) -> View<'_> {
        match &self.repr {
            Repr::Intset(v) => View::Intset(v),
            Repr::Boxed(b) => match &**b {
                Boxed::Listpack(p) => View::Listpack(p),
                Boxed::Table(t) => View::Table(t),
            },
        }
    }

    fn view_mut(&mut self) -> ViewMut<'_> {
        match &mut self.repr {
            Repr::Intset(v) => ViewMut::Intset(v),
            Repr::Boxed(b) => match &mut **b {
                Boxed::Listpack(p) => ViewMut::Listpack(p),
                Boxed::Table(t) => ViewMut::Table(t),
            },
        }
    }

    /// An empty set in the encoding Redis's `setTypeCreate` picks for a set about to receive
    /// `size_hint` members, the first being `first`.
    pub fn for_first(first: &[u8], size_hint: usize, limits: SetLimits) -> Self {
        let repr = if parse_i64_strict(first).is_some() && size_hint <= limits.max_intset {
            Repr::Intset(IntSet::default())
        } else if size_hint <= limits.max_listpack {
            Repr::Boxed(Box::new(Boxed::Listpack(Packed::default())))
        } else {
            Repr::Boxed(Box::new(Boxed::Table(Box::new(Dense::with_capacity(
                size_hint,
            )))))
        };
        SetValue { repr }
    }

    /// An empty intset; the destination of SINTERSTORE and friends starts this way in Redis.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match self.view() {
            View::Intset(v) => v.len(),
            View::Listpack(p) => p.len(),
            View::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self.view() {
            View::Intset(_) => "intset",
            View::Listpack(_) => "listpack",
            View::Table(_) => "hashtable",
        }
    }

    /// Heap bytes owned by the value.
    pub fn memory(&self) -> usize {
        self.memory_sampled(usize::MAX)
    }

    /// [`SetValue::memory`] with the members' own blocks estimated from `samples` of them
    /// (see [`super::sampled_sum`]).
    pub fn memory_sampled(&self, samples: usize) -> usize {
        match self.view() {
            View::Intset(v) => v.memory(),
            View::Listpack(p) => std::mem::size_of::<Boxed>() + p.memory(),
            View::Table(t) => {
                std::mem::size_of::<Boxed>()
                    + std::mem::size_of::<Dense<SmallBytes>>()
                    + t.memory()
                    + super::sampled_sum(t.items().iter(), samples, |m| m.heap_size())
            }
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self.view() {
            View::Intset(v) => parse_i64_strict(m).is_some_and(|n| v.binary_search(n).is_ok()),
            View::Listpack(p) => p.iter().any(|x| x == m),
            View::Table(t) => t.find(m).is_some(),
        }
    }

    /// Members in encoding order (ascending for an intset).
    pub fn iter(&self) -> impl Iterator<Item = Elem<'_>> + '_ {
        let (is, lp, tb) = match self.view() {
            View::Intset(v) => (Some(v), None, None),
            View::Listpack(p) => (None, Some(p), None),
            View::Table(t) => (None, None, Some(t)),
        };
        is.into_iter()
            .flat_map(|v| v.iter().map(Elem::Int))
            .chain(lp.into_iter().flat_map(|p| p.iter().map(Elem::Bytes)))
            .chain(
                tb.into_iter()
                    .flat_map(|t| t.items().iter().map(|m| Elem::Bytes(m))),
            )
    }

    /// The `i`-th member in encoding order (random picks); O(1) except in a listpack.
    pub fn elem_at(&self, i: usize) -> Option<Elem<'_>> {
        match self.view() {
            View::Intset(v) => v.get(i).map(Elem::Int),
            View::Listpack(p) => p.iter().nth(i).map(Elem::Bytes),
            View::Table(t) => t.get(i).map(|m| Elem::Bytes(m)),
        }
    }

    fn make_table(&mut self, capacity: usize) {
        if matches!(self.view(), View::Table(_)) {
            return;
        }
        let mut t = Dense::with_capacity(capacity.max(self.len()));
        for e in self.iter() {
            t.push_new(e.to_small());
        }
        self.repr = Repr::Boxed(Box::new(Boxed::Table(Box::new(t))));
    }

    fn make_listpack(&mut self) {
        if let View::Intset(v) = self.view() {
            let mut b = itoa::Buffer::new();
            let members: Vec<SmallBytes> = v
                .iter()
                .map(|n| SmallBytes::new(b.format(n).as_bytes()))
                .collect();
            let p = Packed::from_items(members.iter().map(|m| m.as_slice()));
            self.repr = Repr::Boxed(Box::new(Boxed::Listpack(p)));
        }
    }

    /// Converts ahead of adding `size_hint` members when that many could not fit the
    /// current compact encoding (Redis's `setTypeMaybeConvert`).
    pub fn prepare(&mut self, size_hint: usize, limits: SetLimits) {
        let over = match self.view() {
            View::Intset(_) => size_hint > limits.max_intset,
            View::Listpack(_) => size_hint > limits.max_listpack,
            View::Table(_) => false,
        };
        if over {
            self.make_table(size_hint);
        }
    }

    /// Adds a member; true when it was new.
    pub fn add(&mut self, m: &[u8], limits: SetLimits) -> bool {
        if let ViewMut::Intset(v) = self.view_mut() {
            if let Some(n) = parse_i64_strict(m) {
                let Err(at) = v.binary_search(n) else {
                    return false;
                };
                v.insert(at, n);
                if v.len() > limits.max_intset {
                    self.make_table(0);
                }
                return true;
            }
            let len = v.len();
            if len < limits.max_listpack && m.len() <= MAX_LISTPACK_VALUE {
                self.make_listpack();
            } else {
                self.make_table(len + 1);
            }
        }
        if let ViewMut::Listpack(p) = self.view_mut() {
            // One walk both looks for the member and counts the set.
            let mut n = 0;
            for x in p.iter() {
                if x == m {
                    return false;
                }
                n += 1;
            }
            if n < limits.max_listpack && m.len() <= MAX_LISTPACK_VALUE {
                p.push(m);
                return true;
            }
            self.make_table(self.len() + 1);
        }
        match self.view_mut() {
            ViewMut::Table(t) if t.find(m).is_none() => {
                t.push_new(SmallBytes::new(m));
                true
            }
            _ => false,
        }
    }

    /// Removes a member; true when it was present.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        let pos = match self.view() {
            View::Intset(v) => parse_i64_strict(m).and_then(|n| v.binary_search(n).ok()),
            View::Listpack(p) => p.iter().position(|x| x == m),
            View::Table(t) => t.find(m),
        };
        pos.is_some_and(|i| self.remove_at(i).is_some())
    }

    /// Removes and returns every member (SPOP of a count covering the set).
    pub fn take_all(&mut self) -> Vec<SmallBytes> {
        let all = self.iter().map(|e| e.to_small()).collect();
        *self = SetValue::new();
        all
    }

    /// Removes `n` members chosen at random (SPOP with a count below the size). A compact
    /// encoding is rebuilt once without them (removing one at a time shifted the rest for
    /// each pop: quadratic under the keyspace lock).
    pub fn pop_random(&mut self, n: usize) -> Vec<SmallBytes> {
        let mut rng = rand::thread_rng();
        let len = self.len();
        let mut picked = vec![false; len];
        if !matches!(self.view(), View::Table(_)) {
            for i in rand::seq::index::sample(&mut rng, len, n.min(len)) {
                picked[i] = true;
            }
        }
        match self.view_mut() {
            ViewMut::Table(t) => (0..n)
                .filter_map(|_| {
                    let i = rand::Rng::gen_range(&mut rng, 0..t.len().max(1));
                    t.swap_remove(i)
                })
                .collect(),
            ViewMut::Intset(v) => {
                let mut out = Vec::with_capacity(n);
                let mut j = 0;
                v.retain(|x| {
                    let take = picked[j];
                    j += 1;
                    if take {
                        out.push(Elem::Int(x).to_small());
                    }
                    !take
                });
                out
            }
            ViewMut::Listpack(p) => {
                let mut out = Vec::with_capacity(n);
                let mut keep: Vec<&[u8]> = Vec::with_capacity(len - n.min(len));
                for (i, m) in p.iter().enumerate() {
                    if picked[i] {
                        out.push(SmallBytes::new(m));
                    } else {
                        keep.push(m);
                    }
                }
                *p = Packed::from_items(keep.into_iter());
                out
            }
        }
    }

    /// Removes the `i`-th member in encoding order (SPOP).
    pub fn remove_at(&mut self, i: usize) -> Option<SmallBytes> {
        match self.view_mut() {
            ViewMut::Intset(v) => v.remove(i).map(|x| Elem::Int(x).to_small()),
            ViewMut::Listpack(p) => {
                let s = p.spans().nth(i)?;
                let m = SmallBytes::new(p.bytes(s));
                p.remove(s.start, s.end);
                Some(m)
            }
            ViewMut::Table(t) => t.swap_remove(i),
        }
    }

    /// One SSCAN step: visits about `count` members and returns the next cursor (0 when
    /// done). Compact encodings are returned whole, as Redis does; a hashtable is walked by
    /// position from the top down, which deletes (swap-with-last) never disturb.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut visit: impl FnMut(Elem<'a>)) -> u64 {
        match self.view() {
            View::Table(t) => {
                let top = if cursor == 0 {
                    t.len()
                } else {
                    cursor.min(t.len() as u64) as usize
                };
                let bottom = top.saturating_sub(count.max(1));
                for m in t.items()[bottom..top].iter().rev() {
                    visit(Elem::Bytes(m));
                }
                bottom as u64
            }
            _ => {
                self.iter().for_each(visit);
                0
            }
        }
    }

    /// Serializes the set (DUMP, replication): encoding tag, member count, then members
    /// (intset: 8-byte little-endian integers; otherwise length-prefixed bytes).
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        match self.view() {
            View::Intset(v) => {
                out.push(TAG_INTSET);
                put_len(out, v.len());
                for n in v.iter() {
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
            _ => {
                let tag = match self.view() {
                    View::Listpack(_) => TAG_LISTPACK,
                    _ => TAG_TABLE,
                };
                out.push(tag);
                put_len(out, self.len());
                for e in self.iter() {
                    put_bytes(out, &e.to_small());
                }
            }
        }
    }

    /// Parses what [`SetValue::write_payload`] wrote, rebuilding the same encoding. `None` on
    /// truncated or malformed input (unsorted intset, duplicates, unknown tag).
    pub fn read_payload(input: &[u8]) -> Option<(Self, usize)> {
        let tag = *input.first()?;
        let mut pos = 1;
        let n = get_len(input, &mut pos)?;
        if n > input.len() {
            return None;
        }
        let repr = match tag {
            TAG_INTSET => {
                let mut v: Vec<i64> = Vec::with_capacity(n.min(input.len() / 8));
                for _ in 0..n {
                    let b = input.get(pos..pos.checked_add(8)?)?;
                    pos += 8;
                    let x = i64::from_le_bytes(b.try_into().ok()?);
                    if v.last().is_some_and(|&l| l >= x) {
                        return None;
                    }
                    v.push(x);
                }
                if v.len() > LOADED_INTSET_MAX {
                    // An intset inserts and removes by shifting: past this size it loads as
                    // a table, so later SADD/SREM/SPOP stay cheap.
                    let mut t: Dense<SmallBytes> = Dense::with_capacity(v.len());
                    for x in v {
                        t.push_new(Elem::Int(x).to_small());
                    }
                    Repr::Boxed(Box::new(Boxed::Table(Box::new(t))))
                } else {
                    Repr::Intset(IntSet::from_sorted(&v))
                }
            }
            // Duplicates are found by hashing, never by scanning what was read (a crafted
            // payload of 40k members once took seconds under the keyspace lock). A listpack
            // larger than a real one could be is rebuilt as a table, as Redis converts on
            // load, so neither loading nor later commands go quadratic.
            TAG_LISTPACK | TAG_TABLE => {
                let mut t: Dense<SmallBytes> = Dense::with_capacity(n.min(4096));
                let mut small = tag == TAG_LISTPACK && n <= LOADED_LISTPACK_MAX;
                for _ in 0..n {
                    let m = get_bytes(input, &mut pos)?;
                    if t.find(m).is_some() {
                        return None;
                    }
                    small &= m.len() <= MAX_LISTPACK_VALUE;
                    t.push_new(SmallBytes::new(m));
                }
                if small {
                    Repr::Boxed(Box::new(Boxed::Listpack(Packed::from_items(
                        t.items().iter().map(|m| m.as_slice()),
                    ))))
                } else {
                    Repr::Boxed(Box::new(Boxed::Table(Box::new(t))))
                }
            }
            _ => return None,
        };
        Some((SetValue { repr }, pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: SetLimits = SetLimits {
        max_intset: 4,
        max_listpack: 3,
    };

    #[test]
    fn set_value_stays_small() {
        assert_eq!(std::mem::size_of::<SetValue>(), 16);
        // A listpack set's box: a small allocation, not a table's size.
        assert!(std::mem::size_of::<Boxed>() <= 24);
    }

    #[test]
    fn set_encodings_follow_redis_rules() {
        let mut s = SetValue::for_first(b"1", 1, SMALL);
        for m in ["3", "1", "2", "-5"] {
            s.add(m.as_bytes(), SMALL);
        }
        assert_eq!(s.encoding(), "intset");
        let order: Vec<SmallBytes> = s.iter().map(|e| e.to_small()).collect();
        assert_eq!(
            order,
            ["-5", "1", "2", "3"].map(|m| SmallBytes::new(m.as_bytes()))
        );
        assert!(!s.add(b"2", SMALL));
        assert!(s.contains(b"2") && !s.contains(b"02"));
        s.add(b"9", SMALL);
        assert_eq!(s.encoding(), "hashtable");

        let mut s = SetValue::for_first(b"1", 1, SMALL);
        s.add(b"1", SMALL);
        s.add(b"a", SMALL);
        assert_eq!(s.encoding(), "listpack");
        s.add(b"b", SMALL);
        assert_eq!(s.encoding(), "listpack");
        s.add(b"c", SMALL);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 4);

        let mut s = SetValue::for_first(b"a", 1, SMALL);
        s.add(&[b'x'; 65], SMALL);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(SetValue::for_first(b"a", 4, SMALL).encoding(), "hashtable");
        assert_eq!(SetValue::for_first(b"7", 4, SMALL).encoding(), "intset");
        let v = crate::keyspace::Value::Set(SetValue::for_first(b"a", 1, SMALL));
        assert_eq!((v.type_name(), v.encoding()), ("set", "listpack"));
        let v = crate::keyspace::Value::Set(SetValue::default());
        assert_eq!(v.encoding(), "intset");
    }

    #[test]
    fn set_remove_in_every_encoding() {
        for first in ["1", "a"] {
            let mut s = SetValue::for_first(first.as_bytes(), 1, SMALL);
            s.add(first.as_bytes(), SMALL);
            s.add(b"2", SMALL);
            assert!(s.remove(b"2"));
            assert!(!s.remove(b"2"));
            assert_eq!(s.len(), 1);
            assert!(s.remove_at(0).is_some());
            assert!(s.is_empty());
        }
    }

    #[test]
    fn set_payload_round_trips_and_rejects_garbage() {
        let mut sets = vec![SetValue::new(), SetValue::for_first(b"a", 1, SMALL)];
        let mut ints = SetValue::new();
        ints.add(b"-3", SMALL);
        ints.add(b"100000000000", SMALL);
        sets.push(ints);
        let mut strs = SetValue::for_first(b"a", 1, SMALL);
        strs.add(b"a", SMALL);
        strs.add(b"b", SMALL);
        sets.push(strs);
        let mut big = SetValue::new();
        for i in 0..20 {
            big.add(format!("m{i}").as_bytes(), SMALL);
        }
        sets.push(big);
        for s in sets {
            let mut buf = Vec::new();
            s.write_payload(&mut buf);
            let (back, used) = SetValue::read_payload(&buf).unwrap();
            assert_eq!(used, buf.len());
            assert_eq!(back, s);
            assert_eq!(back.encoding(), s.encoding());
            for cut in 0..used {
                assert!(SetValue::read_payload(&buf[..cut]).is_none());
            }
        }
        let mut unsorted = vec![TAG_INTSET, 2];
        unsorted.extend_from_slice(&5i64.to_le_bytes());
        unsorted.extend_from_slice(&1i64.to_le_bytes());
        assert!(SetValue::read_payload(&unsorted).is_none());
        assert!(SetValue::read_payload(&[TAG_TABLE, 2, 1, b'a', 1, b'a']).is_none());
    }
}
