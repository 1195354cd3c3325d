//! A list of byte strings: a ring buffer of compact elements, O(1) at both ends.
//!
//! Redis 7.0 (the behaviour slotcache follows) keeps every list in a quicklist, a linked
//! list of listpacks whose node size `list-max-listpack-size` bounds; OBJECT ENCODING says
//! "quicklist" whatever the size. One `VecDeque` of `SmallBytes` plays that role here: each
//! element is its own allocation (what Redis calls a plain node), so node sizes and the
//! packed threshold have nothing to tune.

use crate::keyspace::SmallBytes;
use std::collections::VecDeque;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListValue {
    items: VecDeque<SmallBytes>,
    /// Sum of element lengths (for the encoding rule and memory accounting).
    bytes: usize,
}

impl ListValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The name OBJECT ENCODING reports: Redis 7.0 encodes every list as a quicklist.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Heap bytes owned by the value.
    pub fn memory(&self) -> usize {
        self.memory_sampled(usize::MAX)
    }

    /// [`ListValue::memory`] with the elements' own blocks estimated from `samples` of them
    /// (see [`super::sampled_sum`]).
    pub fn memory_sampled(&self, samples: usize) -> usize {
        self.items.capacity() * std::mem::size_of::<SmallBytes>()
            + super::sampled_sum(self.items.iter(), samples, |i| i.heap_size())
    }

    pub fn push_front(&mut self, v: &[u8]) {
        self.bytes += v.len();
        self.items.push_front(SmallBytes::new(v));
    }

    pub fn push_back(&mut self, v: &[u8]) {
        self.bytes += v.len();
        self.items.push_back(SmallBytes::new(v));
    }

    pub fn pop_front(&mut self) -> Option<SmallBytes> {
        let v = self.items.pop_front()?;
        self.bytes -= v.len();
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<SmallBytes> {
        let v = self.items.pop_back()?;
        self.bytes -= v.len();
        Some(v)
    }

    /// Index of the first element equal to `v`.
    pub fn position(&self, v: &[u8]) -> Option<usize> {
        self.items.iter().position(|x| x.as_slice() == v)
    }

    pub fn get(&self, i: usize) -> Option<&SmallBytes> {
        self.items.get(i)
    }

    pub fn set(&mut self, i: usize, v: &[u8]) -> bool {
        let Some(slot) = self.items.get_mut(i) else {
            return false;
        };
        self.bytes = self.bytes - slot.len() + v.len();
        *slot = SmallBytes::new(v);
        true
    }

    pub fn insert(&mut self, i: usize, v: &[u8]) {
        self.bytes += v.len();
        self.items.insert(i, SmallBytes::new(v));
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &SmallBytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// Keeps only `start..=end` (already clamped).
    pub fn retain_range(&mut self, start: usize, end: usize) {
        self.items.truncate(end + 1);
        self.items.drain(..start.min(self.items.len()));
        self.bytes = self.items.iter().map(|v| v.len()).sum();
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }

    /// Removes up to `count` elements equal to `v` (count 0 = all; negative = from the tail).
    pub fn remove_matching(&mut self, v: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        // One compacting pass (removing matches one by one shifted the rest each time:
        // quadratic under the keyspace lock). From the tail, the first index to remove from
        // is found first; every match at or after it goes.
        let mut removed = 0;
        let from = if count >= 0 {
            0
        } else {
            let mut found = 0;
            let mut from = self.items.len();
            for (i, x) in self.items.iter().enumerate().rev() {
                if found == limit {
                    break;
                }
                if x.as_slice() == v {
                    found += 1;
                    from = i;
                }
            }
            from
        };
        let mut i = 0;
        self.items.retain(|x| {
            let drop = i >= from && removed < limit && x.as_slice() == v;
            i += 1;
            removed += drop as usize;
            !drop
        });
        self.bytes -= removed * v.len();
        removed
    }

    /// DUMP/replication payload: encoding flag (always 1, quicklist; 0 is still read, from
    /// nodes that tracked listpack lists), count, then each element length-prefixed.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        out.push(1);
        out.extend_from_slice(&(self.items.len() as u32).to_le_bytes());
        for i in &self.items {
            out.extend_from_slice(&(i.len() as u32).to_le_bytes());
            out.extend_from_slice(i);
        }
    }

    /// Decodes [`Self::write_payload`]; `None` on truncated or malformed input.
    pub fn read_payload(input: &[u8]) -> Option<(Self, usize)> {
        if *input.first()? > 1 {
            return None;
        }
        let n = u32::from_le_bytes(input.get(1..5)?.try_into().ok()?) as usize;
        let mut at = 5;
        let mut v = ListValue::default();
        for _ in 0..n {
            let len = u32::from_le_bytes(input.get(at..at + 4)?.try_into().ok()?) as usize;
            at += 4;
            v.push_back(input.get(at..at.checked_add(len)?)?);
            at += len;
        }
        if v.is_empty() {
            return None;
        }
        Some((v, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_ranges_and_removal() {
        let mut l = ListValue::new();
        for x in ["a", "b", "c", "b", "a"] {
            l.push_back(x.as_bytes());
        }
        assert_eq!(l.remove_matching(b"a", -1), 1);
        assert_eq!(l.len(), 4);
        assert_eq!(l.remove_matching(b"b", 0), 2);
        assert_eq!(
            l.iter().map(|v| v.to_vec()).collect::<Vec<_>>(),
            vec![b"a".to_vec(), b"c".to_vec()]
        );
        l.push_front(b"z");
        l.retain_range(1, 1);
        assert_eq!(l.get(0).map(|v| v.to_vec()), Some(b"a".to_vec()));
    }

    #[test]
    fn every_list_is_a_quicklist_as_in_redis_7_0() {
        let mut l = ListValue::new();
        l.push_back(b"1");
        assert_eq!(l.encoding(), "quicklist");
    }

    #[test]
    fn payload_round_trips_and_rejects_truncation() {
        let mut l = ListValue::new();
        l.push_back(b"one");
        l.push_back(&[7u8; 100]);
        let mut out = Vec::new();
        l.write_payload(&mut out);
        let (back, used) = ListValue::read_payload(&out).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(back, l);
        for cut in 0..out.len() {
            assert!(ListValue::read_payload(&out[..cut]).is_none());
        }
    }
}
