//! A hash: field -> value.
//!
//! Two encodings, chosen by Redis's rules so OBJECT ENCODING and memory behave as users
//! expect: "listpack" (fields and values alternating in one [`Packed`] buffer, linear search)
//! while the hash has at most `hash-max-listpack-entries` fields and no field or value longer
//! than `hash-max-listpack-value`; "hashtable" ([`Dense`] pairs with a hash index) after that.
//! A hash never converts back, as in Redis.
//!
//! Field TTLs (HEXPIRE, HSETEX, ...): a hash that gets its first field TTL becomes
//! `Boxed::Volatile`, its plain encoding wrapped with one expiry word per pair (8 bytes a
//! field, parallel to the pairs' order) and the earliest expiry. Hashes that never had a field
//! TTL keep exactly their plain layout: nothing is added per field or per hash. When the last
//! TTL goes (HPERSIST, expiry, HSET over the field), the hash is plain again.

use super::dense::Dense;
use super::packed::{get_bytes, get_len, put_bytes, put_len, Packed, Span};
use crate::keyspace::SmallBytes;

/// The conversion thresholds (from `Settings`), passed to every growing operation.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

#[derive(Clone, Debug)]
enum Repr {
    Listpack(Packed),
    /// Boxed so small (listpack) values stay 16 bytes.
    Boxed(Box<Boxed>),
}

/// The encodings that live behind a pointer (two variants in one box, so [`HashValue`]
/// stays 16 bytes).
#[derive(Clone, Debug)]
enum Boxed {
    Table(Dense<(SmallBytes, SmallBytes)>),
    /// A hash with field TTLs.
    Volatile(Volatile),
}

/// A borrowed view of the encoding.
enum View<'a> {
    Listpack(&'a Packed),
    Table(&'a Dense<(SmallBytes, SmallBytes)>),
    Volatile(&'a Volatile),
}

/// A mutable view of the encoding.
enum ViewMut<'a> {
    Listpack(&'a mut Packed),
    Table(&'a mut Dense<(SmallBytes, SmallBytes)>),
    Volatile(&'a mut Volatile),
}

/// A plain hash plus its fields' expiry times.
#[derive(Clone, Debug)]
struct Volatile {
    /// Always a listpack or a hashtable.
    base: HashValue,
    /// Unix ms each pair expires at, in the base's pair order; 0 for none. A listpack removes
    /// by shifting later pairs down and a table by moving its last pair into the hole, and
    /// this vector follows the same moves.
    at: Vec<u64>,
    /// Pairs with a TTL.
    count: usize,
    /// No field expires before this: a lower bound, exact after a full sweep.
    min: u64,
    /// The earliest expiry seen by the sweep under way (becomes `min` when it completes).
    next: u64,
    /// Where the next bounded sweep resumes.
    cursor: usize,
}

/// Where a removed pair was, and how the encoding closed the gap.
#[derive(Clone, Copy)]
enum Removed {
    /// Later pairs moved down one place (listpack).
    Shifted(usize),
    /// The last pair moved into the hole (hashtable).
    Swapped(usize),
}

/// A hash: field -> value.
#[derive(Clone, Debug)]
pub struct HashValue {
    repr: Repr,
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue {
            repr: Repr::Listpack(Packed::default()),
        }
    }
}

/// Equality as maps: two hashes are equal when they hold the same pairs, whatever the
/// encoding or order.
impl PartialEq for HashValue {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

const TAG_LISTPACK: u8 = 0;
const TAG_TABLE: u8 = 1;
/// As the plain tags, followed by one expiry (LEB128 Unix ms, 0 for none) per pair.
const TAG_LISTPACK_EX: u8 = 2;
const TAG_TABLE_EX: u8 = 3;

/// The pair `(field span, value span)` for `field` in a listpack.
fn lp_find(p: &Packed, field: &[u8]) -> Option<(Span, Span)> {
    lp_find_at(p, field).map(|(_, f, v)| (f, v))
}

/// [`lp_find`] with the pair's position.
fn lp_find_at(p: &Packed, field: &[u8]) -> Option<(usize, Span, Span)> {
    let mut it = p.spans();
    let mut i = 0;
    while let Some(f) = it.next() {
        let v = it.next()?;
        if p.bytes(f) == field {
            return Some((i, f, v));
        }
        i += 1;
    }
    None
}

/// [`lp_find_at`] that, when the field is absent, says how many pairs it walked past (the
/// hash's length), so an insert does not walk the listpack again to count.
fn lp_find_or_count(p: &Packed, field: &[u8]) -> Result<(usize, Span, Span), usize> {
    let mut it = p.spans();
    let mut i = 0;
    while let Some(f) = it.next() {
        let Some(v) = it.next() else {
            return Err(i);
        };
        if p.bytes(f) == field {
            return Ok((i, f, v));
        }
        i += 1;
    }
    Err(i)
}

fn lp_pairs(p: &Packed) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
    let mut it = p.iter();
    std::iter::from_fn(move || Some((it.next()?, it.next()?)))
}

impl HashValue {
    pub fn new() -> Self {
        Self::default()
    }

    fn view(&self) -> View<'_> {
        match &self.repr {
            Repr::Listpack(p) => View::Listpack(p),
            Repr::Boxed(b) => match &**b {
                Boxed::Table(t) => View::Table(t),
                Boxed::Volatile(v) => View::Volatile(v),
            },
        }
    }

    fn view_mut(&mut self) -> ViewMut<'_> {
        match &mut self.repr {
            Repr::Listpack(p) => ViewMut::Listpack(p),
            Repr::Boxed(b) => match &mut **b {
                Boxed::Table(t) => ViewMut::Table(t),
                Boxed::Volatile(v) => ViewMut::Volatile(v),
            },
        }
    }

    pub fn len(&self) -> usize {
        match self.view() {
            View::Listpack(p) => p.len() / 2,
            View::Table(t) => t.len(),
            View::Volatile(v) => v.base.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self.view() {
            View::Listpack(_) => "listpack",
            View::Table(_) => "hashtable",
            View::Volatile(v) if v.base.encoding() == "listpack" => "listpackex",
            View::Volatile(_) => "hashtable",
        }
    }

    /// Heap bytes owned by the value.
    pub fn memory(&self) -> usize {
        self.memory_sampled(usize::MAX)
    }

    /// [`HashValue::memory`] with the fields' own blocks estimated from `samples` of them
    /// (see [`super::sampled_sum`]).
    pub fn memory_sampled(&self, samples: usize) -> usize {
        match self.view() {
            View::Listpack(p) => p.memory(),
            View::Table(t) => {
                let spill = super::sampled_sum(t.items().iter(), samples, |(f, v)| {
                    f.heap_size() + v.heap_size()
                });
                std::mem::size_of::<Dense<(SmallBytes, SmallBytes)>>() + t.memory() + spill
            }
            View::Volatile(v) => {
                std::mem::size_of::<Volatile>()
                    + v.at.capacity() * 8
                    + v.base.memory_sampled(samples)
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self.view() {
            View::Listpack(p) => lp_find(p, field).map(|(_, v)| p.bytes(v)),
            View::Table(t) => t
                .find(field)
                .and_then(|i| t.get(i))
                .map(|(_, v)| v.as_slice()),
            View::Volatile(v) => v.base.get(field),
        }
    }

    /// The position of `field` in pair order.
    fn index_of(&self, field: &[u8]) -> Option<usize> {
        match self.view() {
            View::Listpack(p) => lp_pairs(p).position(|(f, _)| f == field),
            View::Table(t) => t.find(field),
            View::Volatile(v) => v.base.index_of(field),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// All pairs, in encoding order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let base = match self.view() {
            View::Volatile(v) => &v.base,
            _ => self,
        };
        let (lp, tb) = match base.view() {
            View::Listpack(p) => (Some(p), None),
            View::Table(t) => (None, Some(t)),
            View::Volatile(_) => (None, None),
        };
        lp.into_iter().flat_map(lp_pairs).chain(
            tb.into_iter()
                .flat_map(|t| t.items().iter().map(|(f, v)| (f.as_slice(), v.as_slice()))),
        )
    }

    /// The `i`-th pair in encoding order (random picks); O(1) in a hashtable.
    pub fn pair_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self.view() {
            View::Listpack(p) => lp_pairs(p).nth(i),
            View::Table(t) => t.get(i).map(|(f, v)| (f.as_slice(), v.as_slice())),
            View::Volatile(v) => v.base.pair_at(i),
        }
    }

    /// Converts a listpack to a hashtable, keeping the pairs' order (so a volatile hash's
    /// expiry words stay aligned).
    fn convert(&mut self, capacity: usize) {
        if let ViewMut::Volatile(v) = self.view_mut() {
            return v.base.convert(capacity);
        }
        if let View::Listpack(p) = self.view() {
            let mut t = Dense::with_capacity(capacity.max(self.len()));
            for (f, v) in lp_pairs(p) {
                t.push_new((SmallBytes::new(f), SmallBytes::new(v)));
            }
            self.repr = Repr::Boxed(Box::new(Boxed::Table(t)));
        }
    }

    /// Converts ahead of a multi-field write when its size alone exceeds the limits (what
    /// Redis's `hashTypeTryConversion` does): `pairs` is the number of pairs about to be
    /// written, `longest` the longest field or value among them.
    pub fn prepare(&mut self, pairs: usize, longest: usize, limits: HashLimits) {
        if pairs > limits.max_entries || longest > limits.max_value {
            self.convert(self.len() + pairs);
        }
    }

    /// Sets a field (dropping any TTL it had, as HSET does); true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        let (new, i) = self.set_at(field, value, limits);
        if let ViewMut::Volatile(v) = self.view_mut() {
            if new {
                v.at.push(0);
            } else if let Some(old) = v.at.get_mut(i) {
                if *old != 0 {
                    *old = 0;
                    v.count -= 1;
                }
            }
        }
        self.settle();
        new
    }

    /// Sets a field keeping the TTL it has (HINCRBY, HSETEX ... KEEPTTL); true when new.
    pub fn set_keep_ttl(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        let (new, _) = self.set_at(field, value, limits);
        if let ViewMut::Volatile(v) = self.view_mut() {
            if new {
                v.at.push(0);
            }
        }
        new
    }

    /// Sets a field in the plain encoding: whether it is new, and its position.
    fn set_at(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> (bool, usize) {
        if let ViewMut::Volatile(v) = self.view_mut() {
            return v.base.set_at(field, value, limits);
        }
        if field.len() > limits.max_value || value.len() > limits.max_value {
            self.convert(self.len() + 1);
        }
        // The length after the change when the branch knows it without another walk.
        let mut len_now = None;
        let res = match self.view_mut() {
            ViewMut::Listpack(p) => match lp_find_or_count(p, field) {
                Ok((i, _, v)) => {
                    p.replace(v, value);
                    (false, i)
                }
                Err(n) => {
                    p.push_pair(field, value);
                    len_now = Some(n + 1);
                    (true, n)
                }
            },
            ViewMut::Table(t) => match t.find(field) {
                Some(i) => {
                    if let Some(slot) = t.get_mut(i) {
                        slot.1 = SmallBytes::new(value);
                    }
                    (false, i)
                }
                None => (
                    true,
                    t.push_new((SmallBytes::new(field), SmallBytes::new(value))),
                ),
            },
            ViewMut::Volatile(_) => (false, 0),
        };
        let len = len_now.unwrap_or_else(|| self.len());
        if len > limits.max_entries {
            self.convert(len);
        }
        res
    }

    /// Removes a field; true when it was present.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some(r) = self.remove_at(field) else {
            return false;
        };
        if let ViewMut::Volatile(v) = self.view_mut() {
            let old = match r {
                Removed::Shifted(i) if i < v.at.len() => v.at.remove(i),
                Removed::Swapped(i) if i < v.at.len() => v.at.swap_remove(i),
                _ => 0,
            };
            if old != 0 {
                v.count -= 1;
            }
        }
        self.settle();
        true
    }

    fn remove_at(&mut self, field: &[u8]) -> Option<Removed> {
        match self.view_mut() {
            ViewMut::Listpack(p) => {
                let (i, f, v) = lp_find_at(p, field)?;
                p.remove(f.start, v.end);
                Some(Removed::Shifted(i))
            }
            ViewMut::Table(t) => {
                let i = t.find(field)?;
                t.swap_remove(i).map(|_| Removed::Swapped(i))
            }
            ViewMut::Volatile(v) => v.base.remove_at(field),
        }
    }

    /// A volatile hash whose last TTL went becomes plain again.
    fn settle(&mut self) {
        if let ViewMut::Volatile(v) = self.view_mut() {
            if v.count == 0 {
                let base = std::mem::take(&mut v.base);
                *self = base;
            }
        }
    }

    /// Whether any field has a TTL.
    pub fn has_ttls(&self) -> bool {
        matches!(self.view(), View::Volatile(_))
    }

    /// `None` when the field is absent, else its expiry (Unix ms; `None` for no TTL).
    pub fn expiry(&self, field: &[u8]) -> Option<Option<u64>> {
        let i = self.index_of(field)?;
        Some(match self.view() {
            View::Volatile(v) => v.at.get(i).copied().filter(|&t| t != 0),
            _ => None,
        })
    }

    /// Sets (`Some`) or removes (`None`) a field's TTL; false when the field is absent.
    /// A time of 0 is stored as 1 (0 means "none"): it is in the past either way.
    pub fn set_expiry(&mut self, field: &[u8], at: Option<u64>) -> bool {
        let Some(i) = self.index_of(field) else {
            return false;
        };
        let at = at.map(|t| t.max(1));
        if at.is_none() && !self.has_ttls() {
            return true;
        }
        if !self.has_ttls() {
            let base = std::mem::take(self);
            let n = base.len();
            self.repr = Repr::Boxed(Box::new(Boxed::Volatile(Volatile {
                base,
                at: vec![0; n],
                count: 0,
                min: u64::MAX,
                next: u64::MAX,
                cursor: 0,
            })));
        }
        if let ViewMut::Volatile(v) = self.view_mut() {
            if let Some(slot) = v.at.get_mut(i) {
                let was = *slot;
                *slot = at.unwrap_or(0);
                match (was != 0, at.is_some()) {
                    (false, true) => v.count += 1,
                    (true, false) => v.count -= 1,
                    _ => {}
                }
                if let Some(t) = at {
                    v.min = v.min.min(t);
                    v.next = v.next.min(t);
                }
            }
        }
        self.settle();
        true
    }

    /// No field expires before this (`None`: no field has a TTL). A lower bound: a field
    /// that had the earliest TTL may have been removed since.
    pub fn min_expiry(&self) -> Option<u64> {
        match self.view() {
            View::Volatile(v) => Some(v.min),
            _ => None,
        }
    }

    /// All pairs with their expiry (0 for none), in encoding order.
    pub fn iter_with_expiry(&self) -> impl Iterator<Item = (&[u8], &[u8], u64)> + '_ {
        let at = match self.view() {
            View::Volatile(v) => Some(&v.at),
            _ => None,
        };
        self.iter()
            .enumerate()
            .map(move |(i, (f, v))| (f, v, at.and_then(|a| a.get(i)).copied().unwrap_or(0)))
    }

    /// Removes fields expired at `now`, examining at most `budget` pairs from where the
    /// last sweep stopped; the removed fields are appended to `gone`. Returns true once a
    /// sweep covered the whole hash (the earliest expiry is then exact).
    pub fn expire_fields(&mut self, now: u64, budget: usize, gone: &mut Vec<Vec<u8>>) -> bool {
        let ViewMut::Volatile(v) = self.view_mut() else {
            return true;
        };
        if v.min > now {
            return true;
        }
        let mut i = v.cursor.min(v.at.len());
        if i == 0 {
            v.next = u64::MAX;
        }
        let mut examined = 0;
        while i < v.at.len() && examined < budget {
            examined += 1;
            let t = v.at[i];
            if t != 0 && t <= now {
                let Some((f, _)) = v.base.pair_at(i) else {
                    break;
                };
                let f = f.to_vec();
                let r = v.base.remove_at(&f);
                match r {
                    Some(Removed::Shifted(j)) if j < v.at.len() => {
                        v.at.remove(j);
                    }
                    Some(Removed::Swapped(j)) if j < v.at.len() => {
                        v.at.swap_remove(j);
                    }
                    _ => break,
                }
                v.count -= 1;
                gone.push(f);
                // The pair now at `i` is another one: examine it next.
                continue;
            }
            if t != 0 {
                v.next = v.next.min(t);
            }
            i += 1;
        }
        let done = i >= v.at.len();
        v.cursor = if done { 0 } else { i };
        if done {
            v.min = v.next;
        }
        self.settle();
        done
    }

    /// A copy without the fields expired at `now` (what a replica, which keeps expired
    /// fields until its primary's HDEL, serves to readers).
    pub fn without_expired(&self, now: u64) -> HashValue {
        let mut h = self.clone();
        let mut gone = Vec::new();
        h.expire_fields(now, usize::MAX, &mut gone);
        h
    }

    /// Whether a field has expired at `now` (and is still stored).
    pub fn any_expired(&self, now: u64) -> bool {
        self.min_expiry().is_some_and(|m| m <= now)
    }

    /// One HSCAN step: visits about `count` pairs and returns the next cursor (0 when done).
    /// A listpack is small enough to return whole, as Redis does. In a hashtable the cursor
    /// is a position: pairs are visited from the top down, and since deletes only move the
    /// last pair into a hole, every pair present for the whole scan is visited.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        match self.view() {
            View::Volatile(v) => v.base.scan(cursor, count, visit),
            View::Listpack(p) => {
                lp_pairs(p).for_each(|(f, v)| visit(f, v));
                0
            }
            View::Table(t) => {
                let top = if cursor == 0 {
                    t.len()
                } else {
                    (cursor.min(t.len() as u64)) as usize
                };
                let bottom = top.saturating_sub(count.max(1));
                for (f, v) in t.items()[bottom..top].iter().rev() {
                    visit(f, v);
                }
                bottom as u64
            }
        }
    }

    /// Serializes the hash (DUMP, replication): encoding tag, pair count, then
    /// length-prefixed fields and values; a hash with field TTLs adds one expiry per pair.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        out.push(match (self.encoding(), self.has_ttls()) {
            ("listpack", _) => TAG_LISTPACK,
            ("listpackex", _) => TAG_LISTPACK_EX,
            (_, false) => TAG_TABLE,
            (_, true) => TAG_TABLE_EX,
        });
        put_len(out, self.len());
        for (f, v) in self.iter() {
            put_bytes(out, f);
            put_bytes(out, v);
        }
        if let View::Volatile(v) = self.view() {
            for &t in &v.at {
                put_len(out, t as usize);
            }
        }
    }

    /// Gives the pairs, in encoding order, these expiry times (0 for none; `at` has one per
    /// pair). `None` when the counts differ.
    pub fn with_expiries(self, at: Vec<u64>) -> Option<HashValue> {
        if at.len() != self.len() || self.has_ttls() {
            return None;
        }
        let count = at.iter().filter(|&&t| t != 0).count();
        if count == 0 {
            return Some(self);
        }
        let min = at
            .iter()
            .copied()
            .filter(|&t| t != 0)
            .min()
            .unwrap_or(u64::MAX);
        Some(HashValue {
            repr: Repr::Boxed(Box::new(Boxed::Volatile(Volatile {
                base: self,
                at,
                count,
                min,
                next: min,
                cursor: 0,
            }))),
        })
    }

    /// Parses what [`HashValue::write_payload`] wrote, rebuilding the same encoding. `None`
    /// on truncated or malformed input (including duplicate fields).
    pub fn read_payload(input: &[u8]) -> Option<(Self, usize)> {
        let tag = *input.first()?;
        let mut pos = 1;
        let n = get_len(input, &mut pos)?;
        // Each pair takes at least two bytes; capacity grows with what actually parses.
        if n > input.len() / 2 {
            return None;
        }
        let mut h = HashValue::new();
        // A listpack is small by construction; a payload claiming a huge one is rebuilt as
        // a hashtable so loading it stays linear.
        let lp = tag == TAG_LISTPACK || tag == TAG_LISTPACK_EX;
        if !lp && tag != TAG_TABLE && tag != TAG_TABLE_EX {
            return None;
        }
        if !lp || n > 1024 {
            h.convert(n.min(4096));
        }
        let unlimited = HashLimits {
            max_entries: usize::MAX,
            max_value: usize::MAX,
        };
        for _ in 0..n {
            let f = get_bytes(input, &mut pos)?;
            let v = get_bytes(input, &mut pos)?;
            if !h.set(f, v, unlimited) {
                return None;
            }
        }
        if tag == TAG_LISTPACK_EX || tag == TAG_TABLE_EX {
            let mut at = Vec::with_capacity(n);
            for _ in 0..n {
                at.push(get_len(input, &mut pos)? as u64);
            }
            h = h.with_expiries(at)?;
        }
        Some((h, pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: HashLimits = HashLimits {
        max_entries: 4,
        max_value: 8,
    };

    #[test]
    fn hash_value_stays_small() {
        assert!(std::mem::size_of::<HashValue>() <= 16);
    }

    #[test]
    fn hash_converts_past_entry_and_value_limits() {
        let mut h = HashValue::new();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", SMALL));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.set(b"f0", b"w", SMALL));
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        h.set(b"f4", b"v", SMALL);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f3"), Some(&b"v"[..]));
        let mut h = HashValue::new();
        h.set(b"f", b"123456789", SMALL);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::new();
        h.prepare(5, 1, SMALL);
        assert_eq!(h.encoding(), "hashtable");
        let v = crate::keyspace::Value::Hash(h);
        assert_eq!(v.encoding(), "hashtable");
        assert_eq!(v.type_name(), "hash");
        let v = crate::keyspace::Value::Hash(Default::default());
        assert_eq!(v.encoding(), "listpack");
    }

    #[test]
    fn hash_remove_and_scan_cover_everything() {
        let mut h = HashValue::new();
        for i in 0..100 {
            h.set(format!("f{i}").as_bytes(), b"v", SMALL);
        }
        assert!(h.remove(b"f10"));
        assert!(!h.remove(b"f10"));
        let mut seen = std::collections::HashSet::new();
        let mut cur = 0;
        loop {
            cur = h.scan(cur, 7, |f, _| {
                seen.insert(f.to_vec());
            });
            if cur == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 99);
        let mut lp = HashValue::new();
        lp.set(b"a", b"1", SMALL);
        lp.set(b"b", b"2", SMALL);
        assert!(lp.remove(b"a"));
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![(&b"b"[..], &b"2"[..])]);
    }

    #[test]
    fn field_ttls_follow_removals_and_expire_in_bounded_sweeps() {
        for n in [3usize, 40] {
            let mut h = HashValue::new();
            for i in 0..n {
                h.set(format!("f{i}").as_bytes(), b"v", SMALL);
            }
            assert!(!h.has_ttls());
            assert!(h.set_expiry(b"f1", Some(100)));
            assert!(h.set_expiry(b"f2", Some(200)));
            assert!(!h.set_expiry(b"nope", Some(1)));
            assert_eq!(h.expiry(b"f1"), Some(Some(100)));
            assert_eq!(h.expiry(b"f0"), Some(None));
            assert_eq!(h.expiry(b"nope"), None);
            assert!(h.remove(b"f0"));
            assert_eq!(h.expiry(b"f1"), Some(Some(100)));
            assert_eq!(h.expiry(b"f2"), Some(Some(200)));
            let mut buf = Vec::new();
            h.write_payload(&mut buf);
            let (back, used) = HashValue::read_payload(&buf).unwrap();
            assert_eq!(used, buf.len());
            assert_eq!(back.expiry(b"f2"), Some(Some(200)));
            assert_eq!(back.encoding(), h.encoding());
            let mut gone = Vec::new();
            let mut done = false;
            while !done {
                done = h.expire_fields(150, 1, &mut gone);
            }
            assert_eq!(gone, vec![b"f1".to_vec()]);
            assert_eq!(h.min_expiry(), Some(200));
            // HSET drops the TTL; the hash is plain again.
            h.set(b"f2", b"w", SMALL);
            assert!(!h.has_ttls());
            assert_eq!(h.len(), n - 2);
        }
    }

    #[test]
    fn hash_payload_round_trips_and_rejects_garbage() {
        for n in [0usize, 3, 50] {
            let mut h = HashValue::new();
            for i in 0..n {
                h.set(
                    format!("field{i}").as_bytes(),
                    format!("{i}").as_bytes(),
                    SMALL,
                );
            }
            let mut buf = Vec::new();
            h.write_payload(&mut buf);
            buf.extend_from_slice(b"trailing");
            let (back, used) = HashValue::read_payload(&buf).unwrap();
            assert_eq!(used, buf.len() - 8);
            assert_eq!(back, h);
            assert_eq!(back.encoding(), h.encoding());
            for cut in 0..used {
                assert!(HashValue::read_payload(&buf[..cut]).is_none(), "cut {cut}");
            }
        }
        assert!(HashValue::read_payload(&[9, 0]).is_none());
        assert!(HashValue::read_payload(&[
            0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ])
        .is_none());
    }
}
