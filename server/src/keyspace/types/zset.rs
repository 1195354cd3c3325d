//! A sorted set: member -> score, ordered by (score, member).
//!
//! Two encodings, as Redis has. Small sets ("listpack") are a [`ZPack`]: (score, member)
//! pairs sorted by (score, member) in one exact-size buffer, scanned linearly, with integral
//! scores in a byte or two. Past `zset-max-listpack-entries` members, or once a member is longer
//! than `zset-max-listpack-value`, the set converts (never back) to the "skiplist" encoding: a
//! skip list with spans (so rank lookups and rank/score/lex ranges are O(log n)) whose nodes
//! live in an arena, plus a hash index from member to node.
//!
//! Every range command is expressed through ranks: [`ZSetValue::count_where`] gives the rank
//! where a monotone predicate stops holding (e.g. "score < min"), so a score or lex interval is
//! a rank interval `[lo, hi)`, and [`ZSetValue::range`] walks a rank interval in either
//! direction. The data-changing operations are methods here so their effects are easy to
//! replicate later.

use super::zpack::{cmp_key, Upsert, ZPack};
use crate::keyspace::SmallBytes;
use hashbrown::HashTable;
use smallvec::{smallvec, SmallVec};
use std::cmp::Ordering;
use std::hash::BuildHasher;

/// The thresholds that decide when a listpack converts (Redis's config names).
#[derive(Clone, Copy, Debug)]
pub struct ZLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for ZLimits {
    /// Redis's defaults, used where no configuration is at hand (payload loading).
    fn default() -> Self {
        ZLimits {
            max_entries: 128,
            max_value: 64,
        }
    }
}

/// A sorted set: member -> score, ordered by (score, member).
#[derive(Clone, Debug)]
pub struct ZSetValue {
    repr: Repr,
}

/// 16 bytes either way (the skip list is boxed), so the boxed value the keyspace holds
/// stays in the smallest allocator size class.
#[derive(Clone, Debug)]
enum Repr {
    Pack(ZPack),
    Skip(Box<SkipList>),
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue {
            repr: Repr::Pack(ZPack::default()),
        }
    }
}

impl PartialEq for ZSetValue {
    /// Equal when they hold the same members with the same scores, whatever the encoding.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl ZSetValue {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set already in the encoding that `expected` members of up to `max_len` bytes
    /// will need (saves converting halfway through a big ZADD or a store).
    pub fn with_hint(expected: usize, max_len: usize, limits: ZLimits) -> Self {
        if expected > limits.max_entries || max_len > limits.max_value {
            ZSetValue {
                repr: Repr::Skip(Box::default()),
            }
        } else {
            Self::default()
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(v) => v.len(),
            Repr::Skip(s) => s.len,
        }
    }

    /// Constant time in both encodings (a listpack's length is counted).
    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Pack(p) => p.is_empty(),
            Repr::Skip(s) => s.len == 0,
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Skip(_) => "skiplist",
        }
    }

    /// Heap bytes owned by the value.
    pub fn memory(&self) -> usize {
        self.memory_sampled(usize::MAX)
    }

    /// [`ZSetValue::memory`] with the nodes' own blocks estimated from `samples` of them
    /// (see [`super::sampled_sum`]).
    pub fn memory_sampled(&self, samples: usize) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.memory(),
            Repr::Skip(s) => s.memory(samples),
        }
    }

    /// The member's score.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(p) => p.find(member).map(|(_, e)| e.score),
            Repr::Skip(s) => s.find(member).map(|i| s.nodes[i as usize].score),
        }
    }

    /// Sets a member's score (adding the member if needed), converting to the big encoding
    /// when the limits say so. Returns the previous score. `score` must not be NaN.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZLimits) -> Option<f64> {
        // -0 is stored as 0 (Redis's compact encoding stores it as the integer 0).
        let score = score + 0.0;
        if let Repr::Pack(p) = &mut self.repr {
            let fits = member.len() <= limits.max_value;
            match p.upsert(score, member, |n| fits && n < limits.max_entries) {
                Upsert::Updated(old) => return Some(old),
                Upsert::Added => return None,
                Upsert::Full => {}
            }
            self.convert();
        }
        match &mut self.repr {
            Repr::Skip(s) => s.insert(member, score),
            Repr::Pack(_) => None,
        }
    }

    /// Moves a listpack to the skiplist encoding.
    fn convert(&mut self) {
        if let Repr::Pack(p) = &self.repr {
            let mut s = SkipList::default();
            for e in p.iter() {
                s.append_sorted(SmallBytes::new(e.member), e.score);
            }
            self.repr = Repr::Skip(Box::new(s));
        }
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Pack(p) => {
                let (_, e) = p.find(member)?;
                let (start, end, score) = (e.start, e.end, e.score);
                p.remove_bytes(start, end);
                Some(score)
            }
            Repr::Skip(s) => s.remove(member),
        }
    }

    /// The member's 0-based rank in ascending order, and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Pack(p) => p.find(member).map(|(i, e)| (i, e.score)),
            Repr::Skip(s) => {
                let i = s.find(member)?;
                Some((s.rank_of(i) - 1, s.nodes[i as usize].score))
            }
        }
    }

    /// The element at a 0-based ascending rank.
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.range(rank, rank.saturating_add(1), false).next()
    }

    /// How many elements, from the lowest, satisfy `pred`. `pred` must hold for a prefix of
    /// the order and fail after it (e.g. "score < min"), which makes it a rank boundary.
    pub fn count_where(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.iter().take_while(|e| pred(e.score, e.member)).count(),
            Repr::Skip(s) => s.count_where(pred),
        }
    }

    /// The elements of ranks `start..end` (clamped to the set), ascending, or descending
    /// from `end - 1` down to `start` when `rev`.
    pub fn range(&self, start: usize, end: usize, rev: bool) -> ZIter<'_> {
        let (at, left) = match &self.repr {
            // The buffer only reads forwards, and its length is counted: one walk up to
            // `end` finds where the interval starts and how long it is. A descending walk
            // notes where its elements start (at most a listpack's worth of offsets).
            Repr::Pack(p) if rev => {
                let want = end.saturating_sub(start);
                let offs: Vec<usize> = p.starts().skip(start).take(want).collect();
                let left = offs.len();
                (At::PackRev(offs), left)
            }
            Repr::Pack(p) => {
                let mut first = None;
                let mut left = 0;
                for off in p.starts().skip(start).take(end.saturating_sub(start)) {
                    first.get_or_insert(off);
                    left += 1;
                }
                (first.map_or(At::Done, At::Pack), left)
            }
            Repr::Skip(s) => {
                let end = end.min(s.len);
                let left = end.saturating_sub(start);
                if left == 0 {
                    (At::Done, 0)
                } else {
                    let first = if rev { end - 1 } else { start };
                    (At::Skip(s.by_rank(first + 1)), left)
                }
            }
        };
        ZIter {
            z: self,
            at,
            left,
            rev,
        }
    }

    /// The elements after the leading ones that satisfy `pred` (as `count_where`), ascending:
    /// one descent of the skiplist where `count_where` then `range` would make two (GEOSEARCH
    /// starts nine of these per query).
    pub fn iter_after_where(&self, pred: impl Fn(f64, &[u8]) -> bool) -> ZIter<'_> {
        match &self.repr {
            Repr::Skip(s) => {
                let (rank, cur) = s.descend_where(pred);
                let next = s.next_of(cur);
                let left = s.len.saturating_sub(rank);
                ZIter {
                    z: self,
                    at: if next == NIL || left == 0 {
                        At::Done
                    } else {
                        At::Skip(next)
                    },
                    left: if next == NIL { 0 } else { left },
                    rev: false,
                }
            }
            Repr::Pack(_) => {
                let lo = self.count_where(pred);
                self.range(lo, usize::MAX, false)
            }
        }
    }

    /// All elements in ascending order.
    pub fn iter(&self) -> ZIter<'_> {
        self.range(0, usize::MAX, false)
    }

    /// Removes the elements of ranks `start..end`; returns how many went.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match &mut self.repr {
            Repr::Pack(p) => {
                let a = p.offset_of(start);
                let b = p.offset_of(end);
                p.remove_bytes(a, b);
            }
            Repr::Skip(s) => {
                let mut x = s.by_rank(start + 1);
                for _ in start..end {
                    let next = s.nodes[x as usize].levels[0].next;
                    s.delete_node(x);
                    x = next;
                }
            }
        }
        end - start
    }

    /// Removes and returns up to `count` elements from the low end (`min`) or the high end,
    /// in the order they were popped. The shared core of ZPOPMIN/ZPOPMAX, ZMPOP and their
    /// blocking forms.
    pub fn pop(&mut self, min: bool, count: usize) -> Vec<(SmallBytes, f64)> {
        let n = count.min(self.len());
        let (start, end) = if min {
            (0, n)
        } else {
            (self.len() - n, self.len())
        };
        let out: Vec<(SmallBytes, f64)> = self
            .range(start, end, !min)
            .map(|(m, s)| (SmallBytes::new(m), s))
            .collect();
        self.remove_range(start, end);
        out
    }

    /// One ZSCAN step. The listpack encoding is returned whole (cursor 0 next, as Redis
    /// does); the skiplist encoding walks its node arena, whose slots are stable for a
    /// member's lifetime, so every member present for the whole scan is visited.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'a [u8], f64),
    ) -> u64 {
        match &self.repr {
            Repr::Pack(p) => {
                for e in p.iter() {
                    visit(e.member, e.score);
                }
                0
            }
            Repr::Skip(s) => {
                let mut i = (cursor as usize).max(1);
                let mut seen = 0;
                while i < s.nodes.len() {
                    if seen >= count.max(1) {
                        return i as u64;
                    }
                    let n = &s.nodes[i];
                    if !n.levels.is_empty() {
                        visit(&n.member, n.score);
                        seen += 1;
                    }
                    i += 1;
                }
                0
            }
        }
    }

    /// Appends the DUMP payload: member count, then (length, member, score bits) each.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for (m, s) in self.iter() {
            out.extend_from_slice(&(m.len() as u32).to_le_bytes());
            out.extend_from_slice(m);
            out.extend_from_slice(&s.to_bits().to_le_bytes());
        }
    }

    /// Parses a payload written by [`ZSetValue::write_payload`]; `None` on anything
    /// malformed (truncation, NaN scores, duplicate members, an empty set).
    pub fn read_payload(input: &[u8]) -> Option<(Self, usize)> {
        let mut p = 0usize;
        let n = u64::from_le_bytes(take(input, &mut p, 8)?.try_into().ok()?);
        if n == 0 || n > (input.len() as u64) / 12 {
            return None;
        }
        let mut z = ZSetValue::new();
        let limits = ZLimits::default();
        for _ in 0..n {
            let len = u32::from_le_bytes(take(input, &mut p, 4)?.try_into().ok()?) as usize;
            let m = take(input, &mut p, len)?;
            let s = f64::from_bits(u64::from_le_bytes(take(input, &mut p, 8)?.try_into().ok()?));
            if s.is_nan() || z.insert(m, s, limits).is_some() {
                return None;
            }
        }
        Some((z, p))
    }
}

fn take<'a>(input: &'a [u8], p: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = p.checked_add(n)?;
    let s = input.get(*p..end)?;
    *p = end;
    Some(s)
}

/// Iterator over a rank interval of a [`ZSetValue`].
pub struct ZIter<'a> {
    z: &'a ZSetValue,
    at: At,
    left: usize,
    rev: bool,
}

/// Where a [`ZIter`] stands.
enum At {
    Done,
    /// Byte offset of the next element of an ascending listpack walk.
    Pack(usize),
    /// Start offsets of the elements a descending listpack walk has left, last one next.
    PackRev(Vec<usize>),
    /// Node of the next element of a skiplist walk.
    Skip(u32),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match (&self.z.repr, &mut self.at) {
            (Repr::Pack(p), At::Pack(off)) => {
                let e = p.elem_at(*off)?;
                *off = e.end;
                Some((e.member, e.score))
            }
            (Repr::Pack(p), At::PackRev(offs)) => {
                let e = p.elem_at(offs.pop()?)?;
                Some((e.member, e.score))
            }
            (Repr::Skip(sl), At::Skip(pos)) => {
                let n = sl.nodes.get(*pos as usize)?;
                *pos = if self.rev {
                    n.prev
                } else {
                    n.levels.first().map_or(NIL, |l| l.next)
                };
                Some((n.member.as_slice(), n.score))
            }
            _ => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ZIter<'_> {}

const NIL: u32 = u32::MAX;
const MAX_LEVEL: usize = 32;
const HEAD: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Level {
    next: u32,
    /// Elements skipped by following `next` (counting the target), as Redis's zskiplist.
    span: u32,
}

#[derive(Clone, Debug)]
struct Node {
    member: SmallBytes,
    score: f64,
    prev: u32,
    /// Empty for a free arena slot. Inline up to two levels (about 94% of nodes, as a level
    /// is kept with probability 1/4), so a walk along level 0 reads one place per node.
    levels: SmallVec<[Level; 2]>,
}

/// A skip list with spans over an arena of nodes, plus a member index.
#[derive(Clone)]
struct SkipList {
    /// Slot 0 is the head; freed slots are reused through `free`.
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    len: usize,
    level: usize,
    /// Member -> node slot, hashed by member.
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    rng: u64,
}

impl std::fmt::Debug for SkipList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipList").field("len", &self.len).finish()
    }
}

impl Default for SkipList {
    fn default() -> Self {
        let head = Node {
            member: SmallBytes::new(b""),
            score: 0.0,
            prev: NIL,
            levels: smallvec![Level { next: NIL, span: 0 }; MAX_LEVEL],
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            tail: NIL,
            len: 0,
            level: 1,
            index: HashTable::new(),
            hasher: Default::default(),
            rng: rand::random::<u64>() | 1,
        }
    }
}

impl SkipList {
    fn memory(&self, samples: usize) -> usize {
        let nodes = super::sampled_sum(self.nodes.iter(), samples, |n| {
            let levels = if n.levels.spilled() {
                n.levels.capacity() * std::mem::size_of::<Level>()
            } else {
                0
            };
            n.member.heap_size() + levels
        });
        nodes
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.free.capacity() * 4
            + self.index.capacity() * 5
    }

    fn hash(&self, m: &[u8]) -> u64 {
        self.hasher.hash_one(m)
    }

    fn find(&self, m: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(self.hash(m), |&i| nodes[i as usize].member.as_slice() == m)
            .copied()
    }

    /// Redis's level distribution: each level kept with probability 1/4.
    fn random_level(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let mut lvl = 1;
        let mut bits = x;
        while lvl < MAX_LEVEL && bits & 3 == 0 {
            lvl += 1;
            bits >>= 2;
        }
        lvl
    }

    #[inline]
    fn less(&self, i: u32, score: f64, m: &[u8]) -> bool {
        let n = &self.nodes[i as usize];
        cmp_key(n.score, &n.member, score, m) == Ordering::Less
    }

    fn alloc(&mut self, member: SmallBytes, score: f64) -> u32 {
        let lvl = self.random_level();
        let node = Node {
            member,
            score,
            prev: NIL,
            levels: smallvec![Level { next: NIL, span: 0 }; lvl],
        };
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    fn index_add(&mut self, i: u32) {
        let h = self.hash(&self.nodes[i as usize].member);
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index.insert_unique(h, i, |&j| {
            hasher.hash_one(nodes[j as usize].member.as_slice())
        });
    }

    /// Adds a member known to be absent, or moves an existing one; returns the old score.
    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Some(i) = self.find(member) {
            let old = self.nodes[i as usize].score;
            if old != score {
                if self.stays_in_place(i, score) {
                    // Redis's zslUpdateScore shortcut: still between its neighbours, so
                    // no link, span or level changes.
                    self.nodes[i as usize].score = score;
                } else {
                    self.unlink(i);
                    self.nodes[i as usize].score = score;
                    self.link(i);
                }
            }
            return Some(old);
        }
        let i = self.alloc(SmallBytes::new(member), score);
        self.link(i);
        self.index_add(i);
        None
    }

    /// Whether node `x`, given `score`, would still sort after its predecessor and before its
    /// successor on level 0 (then its position, and every span, stays as it is).
    fn stays_in_place(&self, x: u32, score: f64) -> bool {
        let n = &self.nodes[x as usize];
        let m = n.member.as_slice();
        let after_prev = n.prev == NIL || self.less(n.prev, score, m);
        let next = n.levels.first().map_or(NIL, |l| l.next);
        let before_next = next == NIL || {
            let nx = &self.nodes[next as usize];
            cmp_key(score, m, nx.score, &nx.member) == Ordering::Less
        };
        after_prev && before_next
    }

    /// Appends a member greater than every present one (conversion from a listpack).
    fn append_sorted(&mut self, member: SmallBytes, score: f64) {
        let i = self.alloc(member, score);
        self.link(i);
        self.index_add(i);
    }

    /// For each level, the last node that sorts before (`score`, `m`) and its rank: where
    /// an element with that key is linked, or (for one already present) what points at it.
    /// The key is read once, not from the node again at every step: a walk over a big set is
    /// a chain of cache misses, and each step should cost only the one it must.
    fn search(&self, score: f64, m: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut cur = HEAD;
        let nodes = &self.nodes;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            while let Some(&l) = nodes[cur as usize].levels.get(i) {
                if l.next == NIL {
                    break;
                }
                let n = &nodes[l.next as usize];
                if cmp_key(n.score, &n.member, score, m) != Ordering::Less {
                    break;
                }
                rank[i] += l.span;
                cur = l.next;
            }
            update[i] = cur;
        }
        (update, rank)
    }

    /// Links node `x` (score and member set, levels allocated) into the list.
    fn link(&mut self, x: u32) {
        let (mut update, mut rank) = {
            let n = &self.nodes[x as usize];
            self.search(n.score, n.member.as_slice())
        };
        let lvl = self.nodes[x as usize].levels.len();
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.nodes[HEAD as usize].levels[i].span = self.len as u32;
            }
            self.level = lvl;
        }
        for i in 0..lvl {
            let u = update[i] as usize;
            let ul = self.nodes[u].levels[i];
            self.nodes[x as usize].levels[i] = Level {
                next: ul.next,
                span: ul.span - (rank[0] - rank[i]),
            };
            self.nodes[u].levels[i] = Level {
                next: x,
                span: rank[0] - rank[i] + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            self.nodes[u as usize].levels[i].span += 1;
        }
        let prev = if update[0] == HEAD { NIL } else { update[0] };
        self.nodes[x as usize].prev = prev;
        let next = self.nodes[x as usize].levels[0].next;
        if next != NIL {
            self.nodes[next as usize].prev = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
    }

    /// Unlinks node `x` from the list (the node and its index entry stay).
    fn unlink(&mut self, x: u32) {
        let (update, _) = {
            let n = &self.nodes[x as usize];
            self.search(n.score, n.member.as_slice())
        };
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let xl = self.nodes[x as usize].levels.get(i).copied();
            let ul = &mut self.nodes[u as usize].levels[i];
            match xl {
                Some(xl) if ul.next == x => {
                    ul.span = ul.span + xl.span - 1;
                    ul.next = xl.next;
                }
                _ => ul.span -= 1,
            }
        }
        let (prev, next) = {
            let n = &self.nodes[x as usize];
            (n.prev, n.levels[0].next)
        };
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
        while self.level > 1 && self.nodes[HEAD as usize].levels[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Unlinks node `x`, drops its index entry and frees its slot.
    fn delete_node(&mut self, x: u32) {
        self.unlink(x);
        let h = self.hash(&self.nodes[x as usize].member);
        if let Ok(e) = self.index.find_entry(h, |&j| j == x) {
            e.remove();
        }
        let n = &mut self.nodes[x as usize];
        n.levels = SmallVec::new();
        n.member = SmallBytes::new(b"");
        self.free.push(x);
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.find(member)?;
        let score = self.nodes[x as usize].score;
        self.delete_node(x);
        Some(score)
    }

    /// 1-based rank of node `x`.
    fn rank_of(&self, x: u32) -> usize {
        let n = &self.nodes[x as usize];
        let (score, member) = (n.score, n.member.as_slice());
        let mut rank = 0usize;
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.nodes[cur as usize].levels[i];
                if l.next != NIL && (l.next == x || self.less(l.next, score, member)) {
                    rank += l.span as usize;
                    cur = l.next;
                } else {
                    break;
                }
            }
            if cur == x {
                return rank;
            }
        }
        rank
    }

    /// The node at 1-based `rank` (`NIL` when out of range).
    fn by_rank(&self, rank: usize) -> u32 {
        let mut traversed = 0usize;
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.nodes[cur as usize].levels[i];
                if l.next != NIL && traversed + l.span as usize <= rank {
                    traversed += l.span as usize;
                    cur = l.next;
                } else {
                    break;
                }
            }
            if traversed == rank {
                return if cur == HEAD { NIL } else { cur };
            }
        }
        NIL
    }

    fn count_where(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.descend_where(pred).0
    }

    /// How many leading elements satisfy `pred`, and the last of them (`HEAD` when none).
    fn descend_where(&self, pred: impl Fn(f64, &[u8]) -> bool) -> (usize, u32) {
        let mut rank = 0usize;
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.nodes[cur as usize].levels[i];
                if l.next == NIL {
                    break;
                }
                let n = &self.nodes[l.next as usize];
                if !pred(n.score, &n.member) {
                    break;
                }
                rank += l.span as usize;
                cur = l.next;
            }
        }
        (rank, cur)
    }

    /// The node after `cur` in order (`NIL` at the end).
    fn next_of(&self, cur: u32) -> u32 {
        self.nodes[cur as usize]
            .levels
            .first()
            .map_or(NIL, |l| l.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    /// The naive model: a sorted vector rebuilt on every change.
    fn model_sorted(m: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_key(a.1, &a.0, b.1, &b.0));
        v
    }

    fn check(z: &ZSetValue, m: &BTreeMap<Vec<u8>, f64>, rng: &mut impl Rng) {
        let sorted = model_sorted(m);
        assert_eq!(z.len(), sorted.len());
        let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(a, s)| (a.to_vec(), s)).collect();
        assert_eq!(got, sorted);
        let rev: Vec<(Vec<u8>, f64)> = z
            .range(0, z.len(), true)
            .map(|(a, s)| (a.to_vec(), s))
            .collect();
        let mut sr = sorted.clone();
        sr.reverse();
        assert_eq!(rev, sr);
        for _ in 0..20 {
            if sorted.is_empty() {
                break;
            }
            let r = rng.gen_range(0..sorted.len());
            let (mm, s) = &sorted[r];
            assert_eq!(z.rank(mm), Some((r, *s)));
            assert_eq!(z.score(mm), Some(*s));
            assert_eq!(
                z.at(r).map(|(a, s)| (a.to_vec(), s)),
                Some((mm.clone(), *s))
            );
            let lim: f64 = rng.gen_range(-5..60) as f64;
            let expect = sorted.iter().filter(|e| e.1 < lim).count();
            assert_eq!(z.count_where(|s, _| s < lim), expect);
            let after: Vec<(Vec<u8>, f64)> = z
                .iter_after_where(|s, _| s < lim)
                .map(|(x, s)| (x.to_vec(), s))
                .collect();
            assert_eq!(after, sorted[expect..].to_vec());
            let a = rng.gen_range(0..=sorted.len());
            let b = rng.gen_range(0..=sorted.len() + 2);
            let part: Vec<(Vec<u8>, f64)> =
                z.range(a, b, false).map(|(x, s)| (x.to_vec(), s)).collect();
            let want: Vec<(Vec<u8>, f64)> = sorted
                .iter()
                .skip(a)
                .take(b.saturating_sub(a))
                .cloned()
                .collect();
            assert_eq!(part, want);
        }
        assert_eq!(z.at(sorted.len()), None);
    }

    fn random_ops(limits: ZLimits, seed: u64, ops: usize, keyspace: u32) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut z = ZSetValue::new();
        let mut m: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for step in 0..ops {
            let key = format!("m{}", rng.gen_range(0..keyspace)).into_bytes();
            match rng.gen_range(0..10) {
                0..=5 => {
                    // Integral scores (the listpack's short form) and fractional ones.
                    let s = if rng.gen_bool(0.5) {
                        rng.gen_range(-5..50) as f64
                    } else {
                        rng.gen_range(-20..200) as f64 / 4.0
                    };
                    assert_eq!(z.insert(&key, s, limits), m.insert(key, s));
                }
                6 | 7 => assert_eq!(z.remove(&key), m.remove(&key)),
                8 => {
                    let n = rng.gen_range(0..4);
                    let min = rng.gen_bool(0.5);
                    let popped = z.pop(min, n);
                    let mut sorted = model_sorted(&m);
                    if !min {
                        sorted.reverse();
                    }
                    let want: Vec<(Vec<u8>, f64)> = sorted.into_iter().take(n).collect();
                    let got: Vec<(Vec<u8>, f64)> =
                        popped.iter().map(|(a, s)| (a.to_vec(), *s)).collect();
                    assert_eq!(got, want);
                    for (k, _) in want {
                        m.remove(&k);
                    }
                }
                _ => {
                    let len = z.len();
                    let a = rng.gen_range(0..=len);
                    let b = (a + rng.gen_range(0..3)).min(len);
                    let sorted = model_sorted(&m);
                    assert_eq!(z.remove_range(a, b), b - a);
                    for (k, _) in &sorted[a..b] {
                        m.remove(k);
                    }
                }
            }
            if step % 97 == 0 {
                check(&z, &m, &mut rng);
            }
        }
        check(&z, &m, &mut rng);
    }

    #[test]
    fn listpack_matches_model() {
        random_ops(
            ZLimits {
                max_entries: 1_000_000,
                max_value: 1000,
            },
            1,
            3000,
            60,
        );
    }

    #[test]
    fn skiplist_matches_model() {
        random_ops(
            ZLimits {
                max_entries: 0,
                max_value: 0,
            },
            2,
            20000,
            500,
        );
        random_ops(
            ZLimits {
                max_entries: 0,
                max_value: 0,
            },
            3,
            5000,
            20,
        );
    }

    #[test]
    fn rescoring_between_neighbours_keeps_order_and_ranks() {
        let sl = ZLimits {
            max_entries: 0,
            max_value: 0,
        };
        let mut z = ZSetValue::new();
        for (m, s) in [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)] {
            z.insert(m.as_bytes(), s, sl);
        }
        assert_eq!(z.encoding(), "skiplist");
        // Stays between its neighbours (the in-place path), ties broken by member.
        assert_eq!(z.insert(b"b", 2.5, sl), Some(2.0));
        assert_eq!(z.insert(b"b", 3.0, sl), Some(2.5));
        assert_eq!(z.insert(b"a", 3.0, sl), Some(1.0));
        // Moves past a neighbour (unlink and link).
        assert_eq!(z.insert(b"d", 0.0, sl), Some(4.0));
        assert_eq!(z.insert(b"a", 9.0, sl), Some(3.0));
        let want = [("d", 0.0), ("b", 3.0), ("c", 3.0), ("a", 9.0)];
        assert_eq!(
            members(&z),
            want.iter()
                .map(|(m, s)| (m.to_string(), *s))
                .collect::<Vec<_>>()
        );
        for (r, (m, s)) in want.iter().enumerate() {
            assert_eq!(z.rank(m.as_bytes()), Some((r, *s)), "{m}");
        }
    }

    #[test]
    fn converts_at_thresholds_and_never_back() {
        let l = ZLimits {
            max_entries: 3,
            max_value: 5,
        };
        let mut z = ZSetValue::new();
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            z.insert(m.as_bytes(), i as f64, l);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"d", 0.5, l);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(
            z.iter().map(|(m, _)| m.to_vec()).collect::<Vec<_>>(),
            vec![b"a".to_vec(), b"d".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        z.remove(b"a");
        z.remove(b"b");
        assert_eq!(z.encoding(), "skiplist");
        let mut y = ZSetValue::new();
        y.insert(b"short", 1.0, l);
        y.insert(b"toolong", 1.0, l);
        assert_eq!(y.encoding(), "skiplist");
        assert_eq!(y.len(), 2);
        // OBJECT ENCODING reads the value's encoding through `Value`.
        let v = crate::keyspace::Value::ZSet(y);
        assert_eq!(v.encoding(), "skiplist");
        assert_eq!(v.type_name(), "zset");
        let small = crate::keyspace::Value::ZSet(Default::default());
        assert_eq!(small.encoding(), "listpack");
    }

    fn members(z: &ZSetValue) -> Vec<(String, f64)> {
        z.iter()
            .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s))
            .collect()
    }

    #[test]
    fn small_encoding_is_compact() {
        // The keyspace boxes the value: 16 bytes is the smallest allocator class.
        assert_eq!(std::mem::size_of::<ZSetValue>(), 16);
        let mut z = ZSetValue::new();
        for i in 0..10 {
            z.insert(
                format!("member-12345-{i}").as_bytes(),
                i as f64,
                ZLimits::default(),
            );
        }
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.memory(), 160);
    }

    #[test]
    fn listpack_orders_ties_by_member_and_moves_rescored_members() {
        let l = ZLimits::default();
        let mut z = ZSetValue::new();
        for m in ["b", "a", "c"] {
            assert_eq!(z.insert(m.as_bytes(), 1.0, l), None);
        }
        z.insert(b"x", 0.0, l);
        let names =
            |z: &ZSetValue| -> Vec<String> { members(z).into_iter().map(|e| e.0).collect() };
        assert_eq!(names(&z), ["x", "a", "b", "c"]);
        // Raising a score moves the member up; ties sort by member bytes.
        assert_eq!(z.insert(b"a", 2.0, l), Some(1.0));
        assert_eq!(names(&z), ["x", "b", "c", "a"]);
        assert_eq!(z.rank(b"a"), Some((3, 2.0)));
        assert_eq!(z.insert(b"x", 1.0, l), Some(0.0));
        assert_eq!(names(&z), ["b", "c", "x", "a"]);
        // Lowering one moves it down; an unchanged score keeps the place.
        assert_eq!(z.insert(b"a", -0.5, l), Some(2.0));
        assert_eq!(z.insert(b"c", 1.0, l), Some(1.0));
        assert_eq!(names(&z), ["a", "b", "c", "x"]);
        let rev: Vec<Vec<u8>> = z.range(1, 3, true).map(|(m, _)| m.to_vec()).collect();
        assert_eq!(rev, [b"c".to_vec(), b"b".to_vec()]);
        // Scores outside the short integer form keep their exact value; -0 is stored as 0.
        z.insert(b"inf", f64::INFINITY, l);
        z.insert(b"tiny", -f64::MIN_POSITIVE, l);
        z.insert(b"big", 1e300, l);
        z.insert(b"ts", 1_700_000_000_123.0, l);
        z.insert(b"neg0", -0.0, l);
        assert_eq!(z.score(b"inf"), Some(f64::INFINITY));
        assert_eq!(z.score(b"tiny"), Some(-f64::MIN_POSITIVE));
        assert_eq!(z.score(b"big"), Some(1e300));
        assert_eq!(z.score(b"ts"), Some(1_700_000_000_123.0));
        assert!(z
            .score(b"neg0")
            .is_some_and(|s| s == 0.0 && s.is_sign_positive()));
        assert_eq!(
            names(&z),
            ["a", "tiny", "neg0", "b", "c", "x", "ts", "big", "inf"]
        );
        assert_eq!(z.remove(b"tiny"), Some(-f64::MIN_POSITIVE));
        assert_eq!(z.remove(b"tiny"), None);
        assert_eq!(z.remove_range(1, 3), 2);
        assert_eq!(names(&z), ["a", "c", "x", "ts", "big", "inf"]);
        let popped = z.pop(false, 2);
        assert_eq!(popped.len(), 2);
        assert_eq!(popped[0].0.as_slice(), b"inf");
        assert_eq!(popped[1].0.as_slice(), b"big");
        assert_eq!(z.count_where(|s, _| s < 1.0), 1);
        assert_eq!(z.encoding(), "listpack");
    }

    #[test]
    fn converts_at_redis_default_thresholds() {
        let l = ZLimits::default();
        let mut z = ZSetValue::new();
        for i in 0..128 {
            z.insert(format!("m{i:03}").as_bytes(), (i % 7) as f64, l);
        }
        assert_eq!(z.encoding(), "listpack");
        // Re-scoring a member of a full listpack does not grow it.
        z.insert(b"m000", 99.0, l);
        assert_eq!(z.encoding(), "listpack");
        let before = members(&z);
        z.insert(b"m128", 3.5, l);
        assert_eq!(z.encoding(), "skiplist");
        let mut want = before;
        want.push(("m128".into(), 3.5));
        want.sort_by(|a, b| cmp_key(a.1, a.0.as_bytes(), b.1, b.0.as_bytes()));
        assert_eq!(members(&z), want);
        // Shrinking back does not convert back (Redis neither).
        while z.len() > 1 {
            z.pop(true, 1);
        }
        assert_eq!(z.encoding(), "skiplist");

        let mut y = ZSetValue::new();
        y.insert(&[b'v'; 64], 1.0, l);
        assert_eq!(y.encoding(), "listpack");
        y.insert(&[b'v'; 65], 2.0, l);
        assert_eq!(y.encoding(), "skiplist");
        assert_eq!(y.len(), 2);

        // Stores pick the encoding up front from their size, as Redis's zsetTypeCreate.
        assert_eq!(ZSetValue::with_hint(128, 64, l).encoding(), "listpack");
        assert_eq!(ZSetValue::with_hint(129, 1, l).encoding(), "skiplist");
        assert_eq!(ZSetValue::with_hint(1, 65, l).encoding(), "skiplist");
    }

    #[test]
    fn scan_visits_every_stable_member_across_changes() {
        let l = ZLimits {
            max_entries: 0,
            max_value: 0,
        };
        let mut z = ZSetValue::new();
        for i in 0..1000 {
            z.insert(format!("k{i}").as_bytes(), i as f64, l);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = z.scan(cursor, 17, |m, _| {
                seen.insert(m.to_vec());
            });
            // Churn: delete some members that were already seen and add new ones.
            round += 1;
            z.remove(format!("k{}", round * 3).as_bytes());
            z.insert(format!("new{round}").as_bytes(), 5.0, l);
            z.insert(format!("k{}", 999 - round).as_bytes(), -1.0, l);
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            if i % 3 != 0 || i / 3 > round {
                assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
            }
        }
    }

    #[test]
    fn payload_round_trips_and_rejects_garbage() {
        for n in [1usize, 5, 300] {
            let mut z = ZSetValue::new();
            for i in 0..n {
                z.insert(
                    format!("m{i}").as_bytes(),
                    (i as f64) * 1.5 - 3.0,
                    ZLimits::default(),
                );
            }
            let mut buf = Vec::new();
            z.write_payload(&mut buf);
            buf.extend_from_slice(b"tail");
            let (back, used) = ZSetValue::read_payload(&buf).unwrap();
            assert_eq!(used, buf.len() - 4);
            assert_eq!(back, z);
            assert_eq!(
                back.encoding(),
                if n > 128 { "skiplist" } else { "listpack" }
            );
            for cut in [0, 3, 8, used / 2, used - 1] {
                assert!(ZSetValue::read_payload(&buf[..cut]).is_none());
            }
        }
        // A duplicate member and a NaN score are refused.
        let mut bad = Vec::new();
        bad.extend_from_slice(&2u64.to_le_bytes());
        for _ in 0..2 {
            bad.extend_from_slice(&1u32.to_le_bytes());
            bad.push(b'a');
            bad.extend_from_slice(&1f64.to_bits().to_le_bytes());
        }
        assert!(ZSetValue::read_payload(&bad).is_none());
        let mut nan = Vec::new();
        nan.extend_from_slice(&1u64.to_le_bytes());
        nan.extend_from_slice(&1u32.to_le_bytes());
        nan.push(b'a');
        nan.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        assert!(ZSetValue::read_payload(&nan).is_none());
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..200 {
            let len = rng.gen_range(0..64);
            let junk: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let _ = ZSetValue::read_payload(&junk);
        }
    }
}
