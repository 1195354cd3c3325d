//! A list of byte strings: one packed node while it is small, a chain of packed nodes (a
//! quicklist) once it outgrows one; O(1) at both ends either way.
//!
//! Redis 7.0 (the behaviour slotcache follows) keeps every list in a quicklist, a linked list
//! of listpacks whose size `list-max-listpack-size` bounds, and OBJECT ENCODING says
//! "quicklist" whatever the size. Here the nodes are [`Node`]s: a small list is one node held
//! inline (16 bytes, one allocation for the whole list), a bigger one a boxed `VecDeque` of
//! nodes, split by the same fill rule Redis uses. Work inside a node is bounded by the fill
//! limit, so pushes and pops stay O(1) and index walks skip whole nodes.

use super::listnode::{entry_size, Node, NodeIter, MAX_COUNT};
use super::packed::{get_len, put_len};
use crate::keyspace::SmallBytes;
use std::collections::VecDeque;

/// Node sizes for `list-max-listpack-size` -1 .. -5 (Redis's `optimization_level`).
const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// The largest node a positive (count) fill allows, whatever the count (Redis's
/// `SIZE_SAFETY_LIMIT`).
const SIZE_SAFETY_LIMIT: usize = 8192;

/// `list-max-listpack-size` as Redis's quicklist reads it: a negative value bounds each
/// node's bytes, a positive one its element count (and 8 KB still bounds the bytes).
#[derive(Clone, Copy, Debug)]
pub struct ListLimits {
    pub fill: i64,
}

impl Default for ListLimits {
    /// Redis's default, -2: nodes of up to 8 KB.
    fn default() -> Self {
        ListLimits { fill: -2 }
    }
}

impl ListLimits {
    /// Whether a node of `bytes` bytes and `count` elements respects the fill
    /// (`_quicklistNodeAllowInsert`, asked after the insert).
    fn fits(self, bytes: usize, count: usize) -> bool {
        if count > MAX_COUNT {
            return false;
        }
        if self.fill < 0 {
            let level = (self.fill.unsigned_abs() as usize - 1).min(SIZE_LEVELS.len() - 1);
            bytes <= SIZE_LEVELS[level]
        } else {
            // Fill 0 behaves as 1 here: each element its own node, as in Redis.
            bytes <= SIZE_SAFETY_LIMIT && count as i64 <= self.fill.max(1)
        }
    }

    /// Whether `node` can take one more element of `len` bytes.
    fn allows(self, node: &Node, len: usize) -> bool {
        self.fits(node.bytes() + entry_size(len), node.count() + 1)
    }
}

/// The chain of nodes of a list that outgrew one.
#[derive(Clone, Debug, Default, PartialEq)]
struct Chain {
    nodes: VecDeque<Node>,
    len: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Repr {
    /// One node, inline: every list starts so.
    Packed(Node),
    /// Boxed so a small list stays 16 bytes.
    Chain(Box<Chain>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListValue {
    repr: Repr,
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue {
            repr: Repr::Packed(Node::default()),
        }
    }
}

/// The nodes of a list, in order, from either end.
#[derive(Clone, Debug)]
pub enum Nodes<'a> {
    One(Option<&'a Node>),
    Many(std::collections::vec_deque::Iter<'a, Node>),
}

impl<'a> Iterator for Nodes<'a> {
    type Item = &'a Node;

    fn next(&mut self) -> Option<&'a Node> {
        match self {
            Nodes::One(n) => n.take(),
            Nodes::Many(it) => it.next(),
        }
    }
}

impl DoubleEndedIterator for Nodes<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Nodes::One(n) => n.take(),
            Nodes::Many(it) => it.next_back(),
        }
    }
}

/// The elements of a list (or of a range of it), from either end, with an exact length.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    nodes: Nodes<'a>,
    front: Option<NodeIter<'a>>,
    back: Option<NodeIter<'a>>,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(v) = self.front.as_mut().and_then(|f| f.next()) {
                self.left -= 1;
                return Some(v);
            }
            match self.nodes.next() {
                Some(n) => self.front = Some(n.iter()),
                None => {
                    let v = self.back.as_mut()?.next()?;
                    self.left -= 1;
                    return Some(v);
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(v) = self.back.as_mut().and_then(|b| b.next_back()) {
                self.left -= 1;
                return Some(v);
            }
            match self.nodes.next_back() {
                Some(n) => self.back = Some(n.iter()),
                None => {
                    let v = self.front.as_mut()?.next_back()?;
                    self.left -= 1;
                    return Some(v);
                }
            }
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl ListValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(n) => n.count(),
            Repr::Chain(c) => c.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports: Redis 7.0 encodes every list as a quicklist (a
    /// single packed node is a one-node quicklist).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// How many packed nodes hold the list (1 while it is one inline node).
    pub fn node_count(&self) -> usize {
        match &self.repr {
            Repr::Packed(_) => 1,
            Repr::Chain(c) => c.nodes.len(),
        }
    }

    /// Heap bytes owned by the value.
    pub fn memory(&self) -> usize {
        self.memory_sampled(usize::MAX)
    }

    /// [`ListValue::memory`] with the nodes' own blocks estimated from `samples` of them (see
    /// [`super::sampled_sum`]).
    pub fn memory_sampled(&self, samples: usize) -> usize {
        match &self.repr {
            Repr::Packed(n) => n.bytes(),
            Repr::Chain(c) => {
                std::mem::size_of::<Chain>()
                    + c.nodes.capacity() * std::mem::size_of::<Node>()
                    + super::sampled_sum(c.nodes.iter(), samples, |n| n.bytes())
            }
        }
    }

    fn nodes(&self) -> Nodes<'_> {
        match &self.repr {
            Repr::Packed(n) => Nodes::One(Some(n)),
            Repr::Chain(c) => Nodes::Many(c.nodes.iter()),
        }
    }

    /// Turns the inline node into a chain (the list outgrew one node).
    fn chain(&mut self) -> &mut Chain {
        if let Repr::Packed(n) = &mut self.repr {
            let len = n.count();
            let mut nodes = VecDeque::with_capacity(4);
            nodes.push_back(std::mem::take(n));
            self.repr = Repr::Chain(Box::new(Chain { nodes, len }));
        }
        match &mut self.repr {
            Repr::Chain(c) => c,
            Repr::Packed(_) => unreachable!("just converted"),
        }
    }

    /// Back to one inline node when a chain is down to one (or none).
    fn settle(&mut self) {
        if let Repr::Chain(c) = &mut self.repr {
            c.nodes.retain(|n| n.count() > 0);
            if c.nodes.len() <= 1 {
                let n = c.nodes.pop_front().unwrap_or_default();
                self.repr = Repr::Packed(n);
            }
        }
    }

    pub fn push_front(&mut self, v: &[u8], lim: ListLimits) {
        if let Repr::Packed(n) = &mut self.repr {
            if n.count() == 0 || lim.allows(n, v.len()) {
                return n.push_front(v);
            }
        }
        let c = self.chain();
        c.len += 1;
        match c.nodes.front_mut() {
            Some(n) if lim.allows(n, v.len()) => n.push_front(v),
            _ => c.nodes.push_front(Node::from_items(std::iter::once(v))),
        }
    }

    pub fn push_back(&mut self, v: &[u8], lim: ListLimits) {
        if let Repr::Packed(n) = &mut self.repr {
            if n.count() == 0 || lim.allows(n, v.len()) {
                return n.push_back(v);
            }
        }
        let c = self.chain();
        c.len += 1;
        match c.nodes.back_mut() {
            Some(n) if lim.allows(n, v.len()) => n.push_back(v),
            _ => c.nodes.push_back(Node::from_items(std::iter::once(v))),
        }
    }

    pub fn pop_front(&mut self) -> Option<SmallBytes> {
        match &mut self.repr {
            Repr::Packed(n) => n.pop_front(),
            Repr::Chain(c) => {
                let n = c.nodes.front_mut()?;
                let v = n.pop_front()?;
                c.len -= 1;
                if n.count() == 0 {
                    c.nodes.pop_front();
                    self.settle();
                }
                Some(v)
            }
        }
    }

    pub fn pop_back(&mut self) -> Option<SmallBytes> {
        match &mut self.repr {
            Repr::Packed(n) => n.pop_back(),
            Repr::Chain(c) => {
                let n = c.nodes.back_mut()?;
                let v = n.pop_back()?;
                c.len -= 1;
                if n.count() == 0 {
                    c.nodes.pop_back();
                    self.settle();
                }
                Some(v)
            }
        }
    }

    /// The node holding element `i` and `i`'s index in it, walking nodes from the nearer
    /// end.
    fn find(&self, i: usize) -> Option<(usize, usize)> {
        let c = match &self.repr {
            Repr::Packed(n) => return (i < n.count()).then_some((0, i)),
            Repr::Chain(c) => c,
        };
        if i >= c.len {
            return None;
        }
        if i < c.len / 2 {
            let mut skipped = 0;
            for (k, n) in c.nodes.iter().enumerate() {
                if i < skipped + n.count() {
                    return Some((k, i - skipped));
                }
                skipped += n.count();
            }
        } else {
            let mut after = c.len;
            for (k, n) in c.nodes.iter().enumerate().rev() {
                after -= n.count();
                if i >= after {
                    return Some((k, i - after));
                }
            }
        }
        None
    }

    fn node_mut(&mut self, k: usize) -> Option<&mut Node> {
        match &mut self.repr {
            Repr::Packed(n) => (k == 0).then_some(n),
            Repr::Chain(c) => c.nodes.get_mut(k),
        }
    }

    /// Index of the first element equal to `v`.
    pub fn position(&self, v: &[u8]) -> Option<usize> {
        self.iter().position(|x| x == v)
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (k, at) = self.find(i)?;
        match &self.repr {
            Repr::Packed(n) => n.get(at),
            Repr::Chain(c) => c.nodes.get(k)?.get(at),
        }
    }

    /// Splits node `k` in halves while it breaks the fill (after an insert or a
    /// replacement made it grow).
    fn split_if_needed(&mut self, k: usize, lim: ListLimits) {
        let Some(n) = self.node_mut(k) else { return };
        if n.count() < 2 || lim.fits(n.bytes(), n.count()) {
            return;
        }
        let c = self.chain();
        let Some(n) = c.nodes.get_mut(k) else { return };
        let tail = n.split_off(n.count() / 2);
        c.nodes.insert(k + 1, tail);
        self.split_if_needed(k + 1, lim);
        self.split_if_needed(k, lim);
    }

    pub fn set(&mut self, i: usize, v: &[u8], lim: ListLimits) -> bool {
        let Some((k, at)) = self.find(i) else {
            return false;
        };
        let done = self.node_mut(k).is_some_and(|n| n.set(at, v));
        self.split_if_needed(k, lim);
        done
    }

    /// Inserts `v` before element `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, v: &[u8], lim: ListLimits) {
        if i >= self.len() {
            return self.push_back(v, lim);
        }
        if i == 0 {
            return self.push_front(v, lim);
        }
        let Some((k, at)) = self.find(i) else { return };
        if let Some(n) = self.node_mut(k) {
            n.insert(at, v);
        }
        if let Repr::Chain(c) = &mut self.repr {
            c.len += 1;
        }
        self.split_if_needed(k, lim);
    }

    /// The elements in order, from either end.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            nodes: self.nodes(),
            front: None,
            back: None,
            left: self.len(),
        }
    }

    /// Elements `start..` in order: whole nodes before `start` are skipped without being
    /// walked (LRANGE deep in a big list).
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        let Some((k, at)) = self.find(start) else {
            return Iter {
                nodes: Nodes::One(None),
                front: None,
                back: None,
                left: 0,
            };
        };
        let mut nodes = self.nodes();
        for _ in 0..k {
            nodes.next();
        }
        let mut front = nodes.next().map(|n| n.iter());
        if let Some(f) = front.as_mut() {
            for _ in 0..at {
                f.next();
            }
        }
        Iter {
            nodes,
            front,
            back: None,
            left: self.len() - start,
        }
    }

    /// Keeps only `start..=end` (already clamped).
    pub fn retain_range(&mut self, start: usize, end: usize) {
        let len = self.len();
        if start > end || start >= len {
            return self.clear();
        }
        let end = end.min(len - 1);
        match &mut self.repr {
            Repr::Packed(n) => n.keep(start, end + 1),
            Repr::Chain(c) => {
                let mut drop_front = start;
                while let Some(n) = c.nodes.front_mut() {
                    if n.count() <= drop_front {
                        drop_front -= n.count();
                        c.nodes.pop_front();
                    } else {
                        n.keep(drop_front, usize::MAX);
                        break;
                    }
                }
                let mut drop_back = len - 1 - end;
                while let Some(n) = c.nodes.back_mut() {
                    if n.count() <= drop_back {
                        drop_back -= n.count();
                        c.nodes.pop_back();
                    } else {
                        let keep = n.count() - drop_back;
                        n.keep(0, keep);
                        break;
                    }
                }
                c.len = end + 1 - start;
                self.settle();
            }
        }
    }

    pub fn clear(&mut self) {
        self.repr = Repr::Packed(Node::default());
    }

    /// Removes up to `count` elements equal to `v` (count 0 = all; negative = from the tail).
    pub fn remove_matching(&mut self, v: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        // One pass, each node rewritten at most once. From the tail, the first index to
        // remove from is found first; every match at or after it goes, up to the limit.
        let from = if count >= 0 {
            0
        } else {
            let mut found = 0;
            let mut from = self.len();
            for (i, x) in self.iter().enumerate().rev() {
                if found == limit {
                    break;
                }
                if x == v {
                    found += 1;
                    from = i;
                }
            }
            from
        };
        let mut removed = 0;
        let mut base = 0;
        let mut sweep = |n: &mut Node| {
            let count = n.count();
            if base + count > from && removed < limit && n.iter().any(|x| x == v) {
                let (b, mut r) = (base, removed);
                n.remove_where(|i, x| {
                    let drop = b + i >= from && r < limit && x == v;
                    r += drop as usize;
                    drop
                });
                removed = r;
            }
            base += count;
        };
        match &mut self.repr {
            Repr::Packed(n) => sweep(n),
            Repr::Chain(c) => {
                c.nodes.iter_mut().for_each(&mut sweep);
                c.len -= removed;
                self.settle();
            }
        }
        removed
    }

    /// DUMP/replication payload: format 2, the nodes as they are stored (count, then each
    /// node's buffer length-prefixed), so a list travels without being unpacked. Formats 0
    /// and 1 (element by element, from older nodes) are still read.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        out.push(2);
        put_len(out, self.node_count());
        for n in self.nodes() {
            put_len(out, n.raw().len());
            out.extend_from_slice(n.raw());
        }
    }

    /// Decodes [`Self::write_payload`]; `None` on truncated or malformed input. Nodes are
    /// adopted as they come (each checked element by element); one that breaks the default
    /// fill is split, so a payload cannot plant an oversized node.
    pub fn read_payload(input: &[u8]) -> Option<(Self, usize)> {
        let lim = ListLimits::default();
        let mut v = ListValue::default();
        match *input.first()? {
            0 | 1 => {
                let n = u32::from_le_bytes(input.get(1..5)?.try_into().ok()?) as usize;
                let mut at = 5;
                for _ in 0..n {
                    let len = u32::from_le_bytes(input.get(at..at + 4)?.try_into().ok()?) as usize;
                    at += 4;
                    v.push_back(input.get(at..at.checked_add(len)?)?, lim);
                    at += len;
                }
                (!v.is_empty()).then_some((v, at))
            }
            2 => {
                let mut at = 1;
                let n = get_len(input, &mut at)?;
                let mut nodes = VecDeque::new();
                let mut len = 0usize;
                for _ in 0..n {
                    let size = get_len(input, &mut at)?;
                    let raw = input.get(at..at.checked_add(size)?)?;
                    at += size;
                    let node = Node::from_raw(raw)?;
                    len += node.count();
                    nodes.push_back(node);
                }
                if nodes.is_empty() {
                    return None;
                }
                v.repr = Repr::Chain(Box::new(Chain { nodes, len }));
                let mut k = 0;
                while k < v.node_count() {
                    v.split_if_needed(k, lim);
                    k += 1;
                }
                v.settle();
                Some((v, at))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: ListLimits = ListLimits { fill: -2 };

    fn all(l: &ListValue) -> Vec<Vec<u8>> {
        l.iter().map(|v| v.to_vec()).collect()
    }

    #[test]
    fn ends_ranges_and_removal() {
        let mut l = ListValue::new();
        for x in ["a", "b", "c", "b", "a"] {
            l.push_back(x.as_bytes(), LIM);
        }
        assert_eq!(l.remove_matching(b"a", -1), 1);
        assert_eq!(l.len(), 4);
        assert_eq!(l.remove_matching(b"b", 0), 2);
        assert_eq!(all(&l), vec![b"a".to_vec(), b"c".to_vec()]);
        l.push_front(b"z", LIM);
        l.retain_range(1, 1);
        assert_eq!(l.get(0), Some(&b"a"[..]));
    }

    #[test]
    fn every_list_is_a_quicklist_as_in_redis_7_0() {
        let mut l = ListValue::new();
        l.push_back(b"1", LIM);
        assert_eq!(l.encoding(), "quicklist");
    }

    /// A big list behaves as a `VecDeque` would, through every operation, for fills by
    /// count and by size.
    #[test]
    fn chained_lists_match_a_model() {
        for fill in [3, 1, 0, -1] {
            let lim = ListLimits { fill };
            let mut l = ListValue::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for i in 0..2000u32 {
                let v = format!("element-{i}")
                    .repeat(1 + (i % 7) as usize)
                    .into_bytes();
                if i % 3 == 0 {
                    l.push_front(&v, lim);
                    m.push_front(v);
                } else {
                    l.push_back(&v, lim);
                    m.push_back(v);
                }
            }
            assert!(l.node_count() > 1);
            assert_eq!(l.len(), m.len());
            for i in [0, 1, 500, 1999] {
                assert_eq!(l.get(i), m.get(i).map(|v| &v[..]));
            }
            assert!(l.set(700, b"replaced", lim));
            m[700] = b"replaced".to_vec();
            l.insert(900, &[b'x'; 5000], lim);
            m.insert(900, vec![b'x'; 5000]);
            assert_eq!(all(&l), Vec::from(m.clone()));
            let rev: Vec<Vec<u8>> = l.iter().rev().map(|v| v.to_vec()).collect();
            assert_eq!(rev, m.iter().rev().cloned().collect::<Vec<_>>());
            let from: Vec<Vec<u8>> = l.iter_from(1234).take(10).map(|v| v.to_vec()).collect();
            assert_eq!(
                from,
                m.iter().skip(1234).take(10).cloned().collect::<Vec<_>>()
            );
            assert_eq!(l.iter_from(1234).len(), m.len() - 1234);
            assert_eq!(l.pop_front().map(|v| v.to_vec()), m.pop_front());
            assert_eq!(l.pop_back().map(|v| v.to_vec()), m.pop_back());
            let target = m[10].clone();
            let want = m.iter().filter(|x| **x == target).count();
            assert_eq!(l.remove_matching(&target, 0), want);
            m.retain(|x| *x != target);
            l.retain_range(100, 1500);
            let kept: VecDeque<Vec<u8>> = m.iter().skip(100).take(1401).cloned().collect();
            assert_eq!(all(&l), Vec::from(kept.clone()));
            assert_eq!(l.len(), kept.len());
            let mut out = Vec::new();
            l.write_payload(&mut out);
            let (back, used) = ListValue::read_payload(&out).unwrap();
            assert_eq!(used, out.len());
            assert_eq!(all(&back), all(&l));
            while l.pop_back().is_some() {}
            assert_eq!(l.node_count(), 1);
            assert!(l.is_empty());
        }
    }

    #[test]
    fn fill_rules_follow_redis() {
        let l = ListLimits { fill: -2 };
        assert!(l.fits(8192, 1000));
        assert!(!l.fits(8193, 10));
        let l = ListLimits { fill: -9 };
        assert!(l.fits(65536, 10));
        let l = ListLimits { fill: 128 };
        assert!(l.fits(100, 128));
        assert!(!l.fits(100, 129));
        assert!(!l.fits(8193, 2));
        let l = ListLimits { fill: 0 };
        assert!(l.fits(100, 1));
        assert!(!l.fits(100, 2));
    }

    #[test]
    fn removal_from_the_tail_takes_the_last_matches() {
        let lim = ListLimits { fill: 2 };
        let mut l = ListValue::new();
        for x in ["a", "b", "a", "c", "a", "a"] {
            l.push_back(x.as_bytes(), lim);
        }
        assert_eq!(l.remove_matching(b"a", -3), 3);
        assert_eq!(all(&l), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(l.remove_matching(b"a", 5), 1);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn payload_round_trips_and_rejects_truncation() {
        let mut l = ListValue::new();
        l.push_back(b"one", LIM);
        l.push_back(&[7u8; 100], LIM);
        let mut out = Vec::new();
        l.write_payload(&mut out);
        let (back, used) = ListValue::read_payload(&out).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(back, l);
        for cut in 0..out.len() {
            assert!(ListValue::read_payload(&out[..cut]).is_none());
        }
        // Format 1, element by element, still reads.
        let mut old = vec![1u8];
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(&3u32.to_le_bytes());
        old.extend_from_slice(b"abc");
        let (back, _) = ListValue::read_payload(&old).unwrap();
        assert_eq!(all(&back), vec![b"abc".to_vec()]);
    }
}
