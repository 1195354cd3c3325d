//! `Node`: a run of list elements packed in one exact-size buffer, walkable from both ends
//! (the role a listpack plays in Redis's quicklist).
//!
//! A list element stored on its own costs a 24-byte slot and often a heap block; most list
//! elements are a few bytes. Here each element is its length (LEB128), its bytes, then its
//! length again written backwards, so the element before any point can be found without
//! scanning from the front: popping from the tail costs the same as from the head. The
//! buffer starts with the element count (u16, little-endian) so a node's length is O(1).
//!
//! Every buffer is built by this module or checked by [`Node::from_raw`], so the walks below
//! can rely on well-formed entries; they still never index out of bounds on a bad one.

use super::packed::{get_len, put_len};
use crate::keyspace::SmallBytes;

/// Bytes before the first element: the count.
const HEADER: usize = 2;

/// Most elements one node holds (the count is 16 bits, as in Redis's quicklist nodes).
pub const MAX_COUNT: usize = u16::MAX as usize;

/// A packed run of list elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    buf: Box<[u8]>,
}

/// Size of `n` as LEB128.
pub fn len_size(mut n: usize) -> usize {
    let mut s = 1;
    while n >= 0x80 {
        n >>= 7;
        s += 1;
    }
    s
}

/// Bytes one element of `len` bytes takes in a node.
pub fn entry_size(len: usize) -> usize {
    2 * len_size(len) + len
}

/// Appends an element: length, bytes, length backwards.
fn put_entry(out: &mut Vec<u8>, v: &[u8]) {
    put_len(out, v.len());
    out.extend_from_slice(v);
    let at = out.len();
    put_len(out, v.len());
    out[at..].reverse();
}

/// The element ending at byte `end`: `(start, data)` where the bytes are `data..data+len`.
#[inline]
fn entry_before(buf: &[u8], end: usize) -> Option<(usize, usize, usize)> {
    let b = *buf.get(end.checked_sub(1)?)?;
    if b < 0x80 {
        let data = (end - 1).checked_sub(b as usize)?;
        return Some((data.checked_sub(1)?, data, b as usize));
    }
    let mut n: usize = 0;
    let mut shift = 0u32;
    let mut at = end;
    loop {
        at = at.checked_sub(1)?;
        let b = *buf.get(at)?;
        n |= ((b & 0x7f) as usize).checked_shl(shift)?;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 56 {
            return None;
        }
    }
    let data = at.checked_sub(n)?;
    let start = data.checked_sub(len_size(n))?;
    Some((start, data, n))
}

/// The element starting at byte `start`: `(data, len, end)`.
#[inline]
fn entry_at(buf: &[u8], start: usize) -> Option<(usize, usize, usize)> {
    // Most elements are under 128 bytes: a one-byte length, read without the LEB128 loop
    // (LRANGE walks elements one by one).
    let b = *buf.get(start)?;
    if b < 0x80 {
        let data = start + 1;
        let end = data + b as usize + 1;
        return (end <= buf.len()).then_some((data, b as usize, end));
    }
    let mut at = start;
    let n = get_len(buf, &mut at)?;
    let data = at;
    let end = data.checked_add(n)?.checked_add(len_size(n))?;
    (end <= buf.len()).then_some((data, n, end))
}

impl Node {
    /// A node holding `items`, built with one allocation.
    pub fn from_items<'a>(items: impl Iterator<Item = &'a [u8]>) -> Node {
        let mut v = vec![0u8; HEADER];
        let mut n = 0usize;
        for b in items {
            put_entry(&mut v, b);
            n += 1;
        }
        v[..HEADER].copy_from_slice(&(n.min(MAX_COUNT) as u16).to_le_bytes());
        Node {
            buf: v.into_boxed_slice(),
        }
    }

    /// Adopts a buffer from a payload after checking every element (each length read both
    /// ways agrees, the count matches, nothing trails); `None` when anything is off.
    pub fn from_raw(raw: &[u8]) -> Option<Node> {
        let count = u16::from_le_bytes(raw.get(..HEADER)?.try_into().ok()?) as usize;
        let mut at = HEADER;
        let mut seen = 0;
        while at < raw.len() {
            let (data, n, end) = entry_at(raw, at)?;
            if entry_before(raw, end)? != (at, data, n) {
                return None;
            }
            at = end;
            seen += 1;
        }
        (seen == count && count > 0).then(|| Node { buf: raw.into() })
    }

    /// The buffer as it is stored (for payloads; [`Node::from_raw`] reads it back).
    pub fn raw(&self) -> &[u8] {
        &self.buf
    }

    pub fn count(&self) -> usize {
        match self.buf.get(..HEADER) {
            Some(h) => u16::from_le_bytes([h[0], h[1]]) as usize,
            None => 0,
        }
    }

    /// Bytes held (what the fill limit measures).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Replaces `start..end` of the buffer with `with`, adding `delta` to the count.
    fn splice(&mut self, start: usize, end: usize, with: &[u8], delta: isize) {
        self.splice_parts(start, end, &[with], delta);
    }

    /// Replaces `start..end` of the buffer with the concatenation of `parts`, adding `delta`
    /// to the count. The parts are written straight into the buffer: an element goes in as
    /// its length, bytes and reversed length without being assembled in a temporary first
    /// (an allocation and a free per push otherwise).
    fn splice_parts(&mut self, start: usize, end: usize, parts: &[&[u8]], delta: isize) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if v.len() < HEADER {
            v.resize(HEADER, 0);
        }
        let start = start.clamp(HEADER, v.len());
        let end = end.clamp(start, v.len());
        let count = u16::from_le_bytes([v[0], v[1]]) as isize + delta;
        let with: usize = parts.iter().map(|p| p.len()).sum();
        let old = v.len();
        let new = old - (end - start) + with;
        if new > old {
            // Grow to the exact size: a doubling Vec would be shrunk right back by
            // `into_boxed_slice`, two reallocations (and copies of the node) per push.
            v.reserve_exact(new - old);
            v.resize(new, 0);
            v.copy_within(end..old, start + with);
        } else {
            v.copy_within(end..old, start + with);
            v.truncate(new);
        }
        let mut at = start;
        for p in parts {
            v[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        v[..HEADER].copy_from_slice(&(count.clamp(0, MAX_COUNT as isize) as u16).to_le_bytes());
        self.buf = v.into_boxed_slice();
    }

    /// Replaces `start..end` with element `v` (length, bytes, length backwards), adding
    /// `delta` to the count.
    fn splice_entry(&mut self, start: usize, end: usize, v: &[u8], delta: isize) {
        let (mut fwd, mut back) = ([0u8; 10], [0u8; 10]);
        let mut n = v.len();
        let mut k = 0;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            fwd[k] = if n == 0 { b } else { b | 0x80 };
            k += 1;
            if n == 0 || k == fwd.len() {
                break;
            }
        }
        for (i, &b) in fwd[..k].iter().rev().enumerate() {
            back[i] = b;
        }
        self.splice_parts(start, end, &[&fwd[..k], v, &back[..k]], delta);
    }

    pub fn push_front(&mut self, v: &[u8]) {
        self.splice_entry(HEADER, HEADER, v, 1);
    }

    pub fn push_back(&mut self, v: &[u8]) {
        let end = self.buf.len();
        self.splice_entry(end, end, v, 1);
    }

    pub fn pop_front(&mut self) -> Option<SmallBytes> {
        let (data, n, end) = entry_at(&self.buf, HEADER)?;
        let v = SmallBytes::new(self.buf.get(data..data + n)?);
        self.splice(HEADER, end, &[], -1);
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<SmallBytes> {
        let end = self.buf.len();
        if end <= HEADER {
            return None;
        }
        let (start, data, n) = entry_before(&self.buf, end)?;
        let v = SmallBytes::new(self.buf.get(data..data + n)?);
        self.splice(start, end, &[], -1);
        Some(v)
    }

    /// Byte range `(start, end)` of element `i`, walking from the nearer end.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        let count = self.count();
        if i >= count {
            return None;
        }
        if i <= count / 2 {
            let mut at = HEADER;
            for _ in 0..i {
                at = entry_at(&self.buf, at)?.2;
            }
            Some((at, entry_at(&self.buf, at)?.2))
        } else {
            let mut end = self.buf.len();
            for _ in 0..count - 1 - i {
                end = entry_before(&self.buf, end)?.0;
            }
            Some((entry_before(&self.buf, end)?.0, end))
        }
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (start, _) = self.locate(i)?;
        let (data, n, _) = entry_at(&self.buf, start)?;
        self.buf.get(data..data + n)
    }

    /// Replaces element `i`.
    pub fn set(&mut self, i: usize, v: &[u8]) -> bool {
        let Some((start, end)) = self.locate(i) else {
            return false;
        };
        self.splice_entry(start, end, v, 0);
        true
    }

    /// Inserts `v` before element `i` (`i == count` appends).
    pub fn insert(&mut self, i: usize, v: &[u8]) {
        let at = if i >= self.count() {
            self.buf.len()
        } else {
            self.locate(i).map_or(self.buf.len(), |(s, _)| s)
        };
        self.splice_entry(at, at, v, 1);
    }

    /// Keeps elements `start..end` (indexes, clamped) and drops the rest.
    pub fn keep(&mut self, start: usize, end: usize) {
        let count = self.count();
        let end = end.min(count);
        let start = start.min(end);
        let to = self.locate(end).map_or(self.buf.len(), |(s, _)| s);
        self.splice(to, usize::MAX, &[], -((count - end) as isize));
        let from = self.locate(start).map_or(self.buf.len(), |(s, _)| s);
        self.splice(HEADER, from, &[], -(start as isize));
    }

    /// Splits off elements `at..` into a new node.
    pub fn split_off(&mut self, at: usize) -> Node {
        let tail = Node::from_items(self.iter().skip(at));
        self.keep(0, at);
        tail
    }

    /// Removes the elements for which `drop` says so (called in order, with each element's
    /// index within the node); returns how many went.
    pub fn remove_where(&mut self, mut drop: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let before = self.count();
        let kept: Vec<&[u8]> = self
            .iter()
            .enumerate()
            .filter(|(i, v)| !drop(*i, v))
            .map(|(_, v)| v)
            .collect();
        if kept.len() == before {
            return 0;
        }
        *self = Node::from_items(kept.into_iter());
        before - self.count()
    }

    pub fn iter(&self) -> NodeIter<'_> {
        NodeIter {
            buf: &self.buf,
            front: HEADER,
            back: self.buf.len(),
            left: self.count(),
        }
    }
}

/// The elements of one node, from either end.
#[derive(Clone, Debug)]
pub struct NodeIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
    left: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let (data, n, end) = entry_at(self.buf, self.front)?;
        self.front = end;
        self.left -= 1;
        self.buf.get(data..data + n)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for NodeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let (start, data, n) = entry_before(self.buf, self.back)?;
        self.back = start;
        self.left -= 1;
        self.buf.get(data..data + n)
    }
}

impl ExactSizeIterator for NodeIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_written_in_place_match_the_encoding() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 20_000] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut want = vec![0u8; HEADER];
            put_entry(&mut want, b"a");
            put_entry(&mut want, &v);
            put_entry(&mut want, b"z");
            want[..HEADER].copy_from_slice(&3u16.to_le_bytes());
            let mut n = Node::from_items([&b"a"[..], b"z"].into_iter());
            n.insert(1, &v);
            assert_eq!(n.raw(), &want[..], "insert of {len} bytes");
            let mut m = Node::from_items(std::iter::once(&b"z"[..]));
            m.push_front(&v);
            m.push_front(b"a");
            assert_eq!(m.raw(), &want[..], "push_front of {len} bytes");
            let mut b = Node::from_items(std::iter::once(&b"a"[..]));
            b.push_back(&v);
            b.push_back(b"z");
            assert_eq!(b.raw(), &want[..], "push_back of {len} bytes");
            assert!(b.set(1, b"q"));
            assert_eq!(b.get(1), Some(&b"q"[..]));
            assert_eq!(b.pop_back().as_deref(), Some(&b"z"[..]));
        }
    }

    fn items(n: &Node) -> Vec<Vec<u8>> {
        n.iter().map(|v| v.to_vec()).collect()
    }

    #[test]
    fn both_ends_and_middle() {
        let long = vec![9u8; 300];
        let mut n = Node::default();
        n.push_back(b"b");
        n.push_front(b"a");
        n.push_back(&long);
        n.push_back(b"");
        assert_eq!(n.count(), 4);
        assert_eq!(
            items(&n),
            vec![b"a".to_vec(), b"b".to_vec(), long.clone(), vec![]]
        );
        let rev: Vec<&[u8]> = n.iter().rev().collect();
        assert_eq!(rev, vec![&b""[..], &long[..], b"b", b"a"]);
        assert_eq!(n.get(2), Some(&long[..]));
        assert_eq!(n.get(3), Some(&b""[..]));
        assert!(n.set(1, b"BB"));
        n.insert(1, b"x");
        assert_eq!(n.get(2), Some(&b"BB"[..]));
        assert_eq!(n.pop_back().map(|v| v.to_vec()), Some(vec![]));
        assert_eq!(n.pop_front().map(|v| v.to_vec()), Some(b"a".to_vec()));
        assert_eq!(items(&n), vec![b"x".to_vec(), b"BB".to_vec(), long.clone()]);
        let tail = n.split_off(1);
        assert_eq!(items(&n), vec![b"x".to_vec()]);
        assert_eq!(items(&tail), vec![b"BB".to_vec(), long]);
        assert_eq!(Node::from_raw(tail.raw()), Some(tail.clone()));
    }

    #[test]
    fn keep_and_remove_where() {
        let mut n = Node::from_items(["a", "b", "c", "d", "e"].iter().map(|s| s.as_bytes()));
        n.keep(1, 4);
        assert_eq!(items(&n), vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        assert_eq!(n.remove_where(|i, v| i == 0 || v == b"d"), 2);
        assert_eq!(items(&n), vec![b"c".to_vec()]);
        n.keep(1, 1);
        assert_eq!(n.count(), 0);
        assert_eq!(n.pop_back(), None);
    }

    #[test]
    fn raw_buffers_are_checked() {
        let n = Node::from_items([&b"one"[..], &[7u8; 200][..]].into_iter());
        let raw = n.raw().to_vec();
        for cut in 0..raw.len() {
            assert!(Node::from_raw(&raw[..cut]).is_none());
        }
        let mut bad = raw.clone();
        bad[0] = 3;
        assert!(Node::from_raw(&bad).is_none());
        let mut bad = raw;
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(Node::from_raw(&bad).is_none());
    }
}
