//! A hash: field -> value.
//!
//! Two encodings, chosen by Redis's rules so OBJECT ENCODING and memory behave as users
//! expect: "listpack" (fields and values alternating in one [`Packed`] buffer, linear search)
//! while the hash has at most `hash-max-listpack-entries` fields and no field or value longer
//! than `hash-max-listpack-value`; "hashtable" ([`Dense`] pairs with a hash index) after that.
//! A hash never converts back, as in Redis.

use super::dense::Dense;
use super::packed::{get_bytes, get_len, put_bytes, put_len, Packed, Span};
use crate::keyspace::SmallBytes;

/// The conversion thresholds (from `Settings`), passed to every growing operation.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl HashLimits {
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        HashLimits {
            max_entries: s.hash_max_listpack_entries,
            max_value: s.hash_max_listpack_value,
        }
    }
}

#[derive(Clone, Debug)]
enum Repr {
    Listpack(Packed),
    /// Boxed so small (listpack) values stay 16 bytes.
    Table(Box<Dense<(SmallBytes, SmallBytes)>>),
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

/// The pair `(field span, value span)` for `field` in a listpack.
fn lp_find(p: &Packed, field: &[u8]) -> Option<(Span, Span)> {
    let mut it = p.spans();
    while let Some(f) = it.next() {
        let v = it.next()?;
        if p.bytes(f) == field {
            return Some((f, v));
        }
    }
    None
}

fn lp_pairs(p: &Packed) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
    let mut it = p.iter();
    std::iter::from_fn(move || Some((it.next()?, it.next()?)))
}

impl HashValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(p) => p.len() / 2,
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Heap bytes owned by the value.
    pub fn memory(&self) -> usize {
        self.memory_sampled(usize::MAX)
    }

    /// [`HashValue::memory`] with the fields' own blocks estimated from `samples` of them
    /// (see [`super::sampled_sum`]).
    pub fn memory_sampled(&self, samples: usize) -> usize {
        match &self.repr {
            Repr::Listpack(p) => p.memory(),
            Repr::Table(t) => {
                let spill = super::sampled_sum(t.items().iter(), samples, |(f, v)| {
                    f.heap_size() + v.heap_size()
                });
                std::mem::size_of::<Dense<(SmallBytes, SmallBytes)>>() + t.memory() + spill
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Listpack(p) => lp_find(p, field).map(|(_, v)| p.bytes(v)),
            Repr::Table(t) => t
                .find(field)
                .and_then(|i| t.get(i))
                .map(|(_, v)| v.as_slice()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// All pairs, in encoding order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let (lp, tb) = match &self.repr {
            Repr::Listpack(p) => (Some(p), None),
            Repr::Table(t) => (None, Some(t)),
        };
        lp.into_iter().flat_map(lp_pairs).chain(
            tb.into_iter()
                .flat_map(|t| t.items().iter().map(|(f, v)| (f.as_slice(), v.as_slice()))),
        )
    }

    /// The `i`-th pair in encoding order (random picks); O(1) in a hashtable.
    pub fn pair_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Listpack(p) => lp_pairs(p).nth(i),
            Repr::Table(t) => t.get(i).map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    fn convert(&mut self, capacity: usize) {
        if let Repr::Listpack(p) = &self.repr {
            let mut t = Dense::with_capacity(capacity.max(self.len()));
            for (f, v) in lp_pairs(p) {
                t.push_new((SmallBytes::new(f), SmallBytes::new(v)));
            }
            self.repr = Repr::Table(Box::new(t));
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

    /// Sets a field; true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if field.len() > limits.max_value || value.len() > limits.max_value {
            self.convert(self.len() + 1);
        }
        let new = match &mut self.repr {
            Repr::Listpack(p) => match lp_find(p, field) {
                Some((_, v)) => {
                    p.replace(v, value);
                    false
                }
                None => {
                    p.push(field);
                    p.push(value);
                    true
                }
            },
            Repr::Table(t) => match t.find(field).and_then(|i| t.get_mut(i)) {
                Some(slot) => {
                    slot.1 = SmallBytes::new(value);
                    false
                }
                None => {
                    t.push_new((SmallBytes::new(field), SmallBytes::new(value)));
                    true
                }
            },
        };
        if self.len() > limits.max_entries {
            self.convert(self.len());
        }
        new
    }

    /// Removes a field; true when it was present.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(p) => match lp_find(p, field) {
                Some((f, v)) => {
                    p.remove(f.start, v.end);
                    true
                }
                None => false,
            },
            Repr::Table(t) => match t.find(field) {
                Some(i) => t.swap_remove(i).is_some(),
                None => false,
            },
        }
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
        match &self.repr {
            Repr::Listpack(p) => {
                lp_pairs(p).for_each(|(f, v)| visit(f, v));
                0
            }
            Repr::Table(t) => {
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
    /// length-prefixed fields and values.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        out.push(match self.repr {
            Repr::Listpack(_) => TAG_LISTPACK,
            Repr::Table(_) => TAG_TABLE,
        });
        put_len(out, self.len());
        for (f, v) in self.iter() {
            put_bytes(out, f);
            put_bytes(out, v);
        }
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
        if tag == TAG_TABLE || (tag == TAG_LISTPACK && n > 1024) {
            h.convert(n.min(4096));
        } else if tag != TAG_LISTPACK {
            return None;
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
