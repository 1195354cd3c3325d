//! Streams: entries packed in [`Block`]s under a B-tree keyed by each block's first id (Redis's
//! listpacks under a rax), plus the stream's counters and its consumer groups.
//!
//! Seeking an id is O(log blocks) plus a scan of one block (at most
//! `stream-node-max-entries`); XDEL marks an entry deleted in place and drops a block once
//! every entry in it is deleted; trimming frees whole blocks from the front and marks entries
//! only in the block where an exact trim stops. The counters (`entries-added`,
//! `max-deleted-entry-id`, `recorded-first-entry-id`) and the consumer-group lag follow Redis
//! 7.0's `t_stream.c`, so XINFO answers as Redis does.

use super::packed::{get_bytes, get_len, put_bytes, put_len};
use super::stream_block::{Block, Slot};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// A stream entry id, `<ms>-<seq>`; ordered as Redis orders them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next id (`None` past the last possible one), Redis's `streamIncrID`.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous id (`None` before 0-0), Redis's `streamDecrID`.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// The `<ms>-<seq>` text, written into `buf` (41 bytes hold the longest).
    pub fn format<'b>(&self, buf: &'b mut [u8; 41]) -> &'b [u8] {
        let mut a = itoa::Buffer::new();
        let ms = a.format(self.ms).as_bytes();
        let n = ms.len();
        buf[..n].copy_from_slice(ms);
        buf[n] = b'-';
        let seq = a.format(self.seq).as_bytes();
        buf[n + 1..n + 1 + seq.len()].copy_from_slice(seq);
        &buf[..n + 1 + seq.len()]
    }

    /// The `<ms>-<seq>` text replies carry.
    pub fn to_bytes(&self) -> Bytes {
        let mut a = itoa::Buffer::new();
        let mut b = itoa::Buffer::new();
        let mut s = String::with_capacity(24);
        s.push_str(a.format(self.ms));
        s.push('-');
        s.push_str(b.format(self.seq));
        Bytes::from(s)
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A delivered, not yet acknowledged entry of a group (Redis's NACK).
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    pub consumer: Bytes,
    /// Unix milliseconds of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Consumer {
    /// Unix milliseconds it was last seen (read or claimed).
    pub seen_time: u64,
    /// Its pending entries (the group's PEL holds the details).
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Group {
    pub last_id: StreamId,
    /// The logical read counter (`entries-read`); `None` when unknown (Redis's -1).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group {
            last_id,
            entries_read,
            ..Default::default()
        }
    }

    /// Creates the consumer if absent; true when it was created.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            Bytes::copy_from_slice(name),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes a consumer and its pending entries; returns how many it had, `None` when absent.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Removes one pending entry from the group and its owner; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Makes `consumer` the owner of the pending entry `id` (creating it if absent) with these
    /// delivery time and count.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, time: u64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            if old.consumer != *consumer {
                if let Some(c) = self.consumers.get_mut(&old.consumer) {
                    c.pel.remove(&id);
                }
            }
        }
        self.pel.insert(
            id,
            Nack {
                consumer: consumer.clone(),
                delivery_time: time,
                delivery_count: count,
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// How XADD picks the new entry's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewId {
    /// `*`: from the clock.
    Auto,
    /// `<ms>-*`: this time, the next sequence.
    Ms(u64),
    /// `<ms>-<seq>`.
    Exact(StreamId),
}

/// Why an entry could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The id is not above the stream's last id.
    NotGreater,
    /// Too large for one block's lengths.
    TooLarge,
}

/// How to trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream value.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StreamValue {
    blocks: BTreeMap<StreamId, Block>,
    length: u64,
    pub last_id: StreamId,
    /// Redis's `first_id`: the first live entry, kept up to date as Redis keeps it.
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Bytes, Group>,
}

/// One entry as replies show it: its id and its field-value pairs.
pub type EntryRef<'a> = (StreamId, Vec<&'a [u8]>);

/// Entries larger than this cannot be stored (Redis's `STREAM_LISTPACK_MAX_SIZE`).
const MAX_ENTRY_BYTES: usize = (1 << 30) - 1024;

impl StreamValue {
    pub fn new() -> StreamValue {
        StreamValue::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The blocks with their keys, in id order (the RDB encoding writes them as they are).
    pub fn blocks(&self) -> impl Iterator<Item = (StreamId, &Block)> + '_ {
        self.blocks.iter().map(|(k, b)| (*k, b))
    }

    /// Sets the length-independent counters a loaded stream carries.
    pub fn set_counters(
        &mut self,
        last: StreamId,
        first: StreamId,
        max_deleted: StreamId,
        added: u64,
    ) {
        self.last_id = last;
        self.first_id = first;
        self.max_deleted = max_deleted;
        self.entries_added = added;
    }

    /// Blocks in the tree (XINFO's `radix-tree-keys`).
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Appends an entry; returns its id.
    ///
    /// # Errors
    /// [`AddError::NotGreater`] when the id would not be above the last one (or the ids are
    /// exhausted); [`AddError::TooLarge`] for an entry no block can hold.
    pub fn add(
        &mut self,
        new_id: NewId,
        pairs: &[&[u8]],
        now_ms: u64,
        max_bytes: usize,
        max_entries: usize,
    ) -> Result<StreamId, AddError> {
        let id = match new_id {
            NewId::Auto => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().ok_or(AddError::NotGreater)?
                }
            }
            NewId::Ms(ms) if ms == self.last_id.ms => {
                if self.last_id.seq == u64::MAX {
                    return Err(AddError::NotGreater);
                }
                StreamId::new(ms, self.last_id.seq + 1)
            }
            NewId::Ms(ms) => StreamId::new(ms, 0),
            NewId::Exact(id) => id,
        };
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        if pairs.iter().map(|p| p.len()).sum::<usize>() > MAX_ENTRY_BYTES {
            return Err(AddError::TooLarge);
        }
        let size = Block::entry_size(pairs);
        let mut last = self.blocks.last_entry();
        let fits = last.as_ref().is_some_and(|b| {
            (max_bytes == 0 || b.get().bytes() + size <= max_bytes)
                && (max_entries == 0 || b.get().count() < max_entries)
        });
        if fits {
            if let Some(b) = last.as_mut() {
                let key = *b.key();
                b.get_mut().push(key, id, pairs);
            }
        } else {
            if let Some(b) = last.as_mut() {
                b.get_mut().shrink();
            }
            let mut b = Block::new(pairs);
            b.push(id, id, pairs);
            self.blocks.insert(id, b);
        }
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        Ok(id)
    }

    /// Visits live entries from `start` to `end` inclusive (reversed: from `end` down),
    /// until `f` returns false.
    pub fn visit<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, &'a Block, &Slot) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let from = self
                .blocks
                .range(..=start)
                .next_back()
                .map_or(StreamId::MIN, |(k, _)| *k);
            for (key, b) in self.blocks.range(from..) {
                if *key > end {
                    return;
                }
                for s in b.slots(*key) {
                    if s.deleted || s.id < start {
                        continue;
                    }
                    if s.id > end || !f(s.id, b, &s) {
                        return;
                    }
                }
            }
        } else {
            for (key, b) in self.blocks.range(..=end).rev() {
                let slots: Vec<Slot> = b.slots(*key).collect();
                for s in slots.iter().rev() {
                    if s.deleted || s.id > end {
                        continue;
                    }
                    if s.id < start || !f(s.id, b, s) {
                        return;
                    }
                }
            }
        }
    }

    /// Up to `count` entries (0: all) between `start` and `end`.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<EntryRef<'_>> {
        let mut out = Vec::new();
        self.visit(start, end, rev, |id, b, s| {
            out.push((id, b.pairs(s)));
            count == 0 || out.len() < count
        });
        out
    }

    /// The entry with this id, if present.
    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        self.range(id, id, false, 1).into_iter().next()
    }

    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.visit(id, id, false, |_, _, _| {
            found = true;
            false
        });
        found
    }

    /// Up to `count` entries (0: all) between `start` and `end`, as places in their blocks:
    /// replies write them from there without copying each entry's pairs into a vector.
    pub fn slots_in(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<(&Block, Slot)> {
        let mut out = Vec::new();
        self.visit(start, end, rev, |_, b, s| {
            out.push((b, *s));
            count == 0 || out.len() < count
        });
        out
    }

    /// The first (or last) live entry's id.
    pub fn edge_id(&self, last: bool) -> Option<StreamId> {
        if last {
            // A block whose entries are all deleted is dropped, so the newest live entry is
            // the last block's (read without walking it); the walk below stays as a fallback.
            if let Some(id) = self
                .blocks
                .last_key_value()
                .and_then(|(key, b)| b.last_live(*key))
                .map(|s| s.id)
            {
                return Some(id);
            }
        }
        let mut found = None;
        self.visit(StreamId::MIN, StreamId::MAX, last, |id, _, _| {
            found = Some(id);
            false
        });
        found
    }

    /// Deletes one entry; true when it was there. Keeps `first_id` and `max_deleted` as
    /// Redis's XDEL does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&key, b)) = self.blocks.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(slot) = b.slots(key).find(|s| s.id == id && !s.deleted) else {
            return false;
        };
        b.mark_deleted(&slot);
        if b.live == 0 {
            self.blocks.remove(&key);
        }
        self.length -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.edge_id(false).unwrap_or_default();
        }
        true
    }

    /// Trims as Redis's `streamTrim`: whole blocks from the front; with `approx`, stops at
    /// the first block it cannot drop whole; `limit` (0: none) caps the entries removed.
    /// Returns how many entries were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&key, b)) = self.blocks.iter().next() else {
                break;
            };
            let entries = b.live as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => b.slots(key).last().is_some_and(|s| s.id < min),
            };
            if remove {
                self.blocks.remove(&key);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let Some(b) = self.blocks.get_mut(&key) else {
                break;
            };
            let slots: Vec<Slot> = b.slots(key).collect();
            for s in slots {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => s.id >= min,
                };
                if stop {
                    break;
                }
                if !s.deleted {
                    b.mark_deleted(&s);
                    self.length -= 1;
                    deleted += 1;
                }
            }
            if b.live == 0 {
                self.blocks.remove(&key);
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(false).unwrap_or_default();
        }
        deleted
    }

    /// Whether a tombstone may lie between `start` and the end (Redis's
    /// `streamRangeHasTombstones` with no end).
    fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() || self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: the logical read counter of `id`,
    /// when it can be known.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        } else if id > self.last_id {
            return None;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            } else if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }

    /// A group's lag (`None`: unknown), as Redis's `streamReplyWithCGLag`.
    pub fn lag(&self, g: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !self.has_tombstones_from(g.last_id) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        self.estimate_distance(g.last_id)
            .map(|r| self.entries_added.saturating_sub(r))
    }

    /// Advances a group that is delivered `id` past its last id (Redis's read-counter rule in
    /// `streamReplyWithRange`).
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        match g.entries_read {
            Some(n) if !self.has_tombstones_from(id) => g.entries_read = Some(n + 1),
            _ if self.entries_added != 0 => g.entries_read = self.estimate_distance(id),
            _ => {}
        }
        g.last_id = id;
    }

    /// Approximate heap bytes: the blocks (all, or estimated from the first `samples`), the
    /// tree's nodes, and the groups.
    pub fn memory_sampled(&self, samples: usize) -> usize {
        let blocks = super::sampled_sum(self.blocks.values(), samples, |b| {
            b.heap_size() + std::mem::size_of::<(StreamId, Block)>() + 8
        });
        let groups: usize = self
            .groups
            .iter()
            .take(samples.max(1))
            .map(|(n, g)| {
                n.len()
                    + 64
                    + g.pel.len() * (std::mem::size_of::<(StreamId, Nack)>() + 8)
                    + g.consumers
                        .iter()
                        .map(|(c, cs)| c.len() + 64 + cs.pel.len() * 24)
                        .sum::<usize>()
            })
            .sum();
        blocks + groups
    }
}

/// The full-sync payload of a stream (see `keyspace::serialize`): counters, entries, groups.
impl StreamValue {
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        let put_id = |out: &mut Vec<u8>, id: StreamId| {
            put_u64(out, id.ms);
            put_u64(out, id.seq);
        };
        put_id(out, self.last_id);
        put_id(out, self.first_id);
        put_id(out, self.max_deleted);
        put_u64(out, self.entries_added);
        put_u64(out, self.length);
        self.visit(StreamId::MIN, StreamId::MAX, false, |id, b, slot| {
            put_id(out, id);
            let pairs = b.pairs(slot);
            put_len(out, pairs.len() / 2);
            for p in pairs {
                put_bytes(out, p);
            }
            true
        });
        put_len(out, self.groups.len());
        for (name, g) in &self.groups {
            put_bytes(out, name);
            put_id(out, g.last_id);
            put_u64(out, g.entries_read.map_or(0, |n| n + 1));
            put_len(out, g.consumers.len());
            for (c, cs) in &g.consumers {
                put_bytes(out, c);
                put_u64(out, cs.seen_time);
            }
            put_len(out, g.pel.len());
            for (id, n) in &g.pel {
                put_id(out, *id);
                put_bytes(out, &n.consumer);
                put_u64(out, n.delivery_time);
                put_u64(out, n.delivery_count);
            }
        }
    }

    /// Parses what [`StreamValue::write_payload`] wrote. `None` on truncated or inconsistent
    /// input (ids out of order, a pending entry of an unknown consumer).
    pub fn read_payload(input: &[u8]) -> Option<(Self, usize)> {
        let mut pos = 0;
        let id = |pos: &mut usize| -> Option<StreamId> {
            Some(StreamId::new(get_u64(input, pos)?, get_u64(input, pos)?))
        };
        let last_id = id(&mut pos)?;
        let first_id = id(&mut pos)?;
        let max_deleted = id(&mut pos)?;
        let entries_added = get_u64(input, &mut pos)?;
        let length = get_u64(input, &mut pos)?;
        // Each entry takes at least three bytes: the claimed count cannot exceed the input.
        if length > input.len() as u64 {
            return None;
        }
        let mut s = StreamValue::new();
        let mut pairs: Vec<&[u8]> = Vec::new();
        for _ in 0..length {
            let eid = id(&mut pos)?;
            let n = get_len(input, &mut pos)?;
            if n > input.len() {
                return None;
            }
            pairs.clear();
            for _ in 0..n * 2 {
                pairs.push(get_bytes(input, &mut pos)?);
            }
            s.add(NewId::Exact(eid), &pairs, 0, 4096, 100).ok()?;
        }
        s.last_id = last_id;
        s.first_id = first_id;
        s.max_deleted = max_deleted;
        s.entries_added = entries_added;
        let groups = get_len(input, &mut pos)?;
        for _ in 0..groups {
            let name = Bytes::copy_from_slice(get_bytes(input, &mut pos)?);
            let mut g = Group::new(id(&mut pos)?, None);
            g.entries_read = get_u64(input, &mut pos)?.checked_sub(1);
            let consumers = get_len(input, &mut pos)?;
            for _ in 0..consumers {
                let c = Bytes::copy_from_slice(get_bytes(input, &mut pos)?);
                let seen = get_u64(input, &mut pos)?;
                g.consumers.insert(
                    c,
                    Consumer {
                        seen_time: seen,
                        pel: BTreeSet::new(),
                    },
                );
            }
            let pending = get_len(input, &mut pos)?;
            for _ in 0..pending {
                let pid = id(&mut pos)?;
                let c = Bytes::copy_from_slice(get_bytes(input, &mut pos)?);
                let time = get_u64(input, &mut pos)?;
                let count = get_u64(input, &mut pos)?;
                if !g.consumers.contains_key(&c) {
                    return None;
                }
                g.assign(pid, &c, time, count);
            }
            s.groups.insert(name, g);
        }
        Some((s, pos))
    }
}

fn put_u64(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_u64(input: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *input.get(*pos)?;
        *pos += 1;
        n |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn filled(n: u64, per_block: usize) -> StreamValue {
        let mut s = StreamValue::new();
        for i in 1..=n {
            s.add(NewId::Exact(id(i, 0)), &[b"f", b"v"], 0, 0, per_block)
                .unwrap();
        }
        s
    }

    #[test]
    fn ids_are_monotonic_even_when_the_clock_goes_back() {
        let mut s = StreamValue::new();
        let a = s.add(NewId::Auto, &[b"a", b"1"], 1000, 4096, 100).unwrap();
        let b = s.add(NewId::Auto, &[b"a", b"1"], 900, 4096, 100).unwrap();
        assert_eq!((a, b), (id(1000, 0), id(1000, 1)));
        assert_eq!(
            s.add(NewId::Exact(id(5, 0)), &[b"a", b"1"], 0, 4096, 100),
            Err(AddError::NotGreater)
        );
        assert_eq!(
            s.add(NewId::Ms(1000), &[b"a", b"1"], 0, 4096, 100),
            Ok(id(1000, 2))
        );
    }

    #[test]
    fn ranges_cross_blocks_both_ways() {
        let s = filled(25, 10);
        assert_eq!(s.block_count(), 3);
        let fwd: Vec<u64> = s
            .range(id(4, 0), id(13, 0), false, 0)
            .iter()
            .map(|e| e.0.ms)
            .collect();
        assert_eq!(fwd, (4..=13).collect::<Vec<_>>());
        let rev: Vec<u64> = s
            .range(id(4, 0), id(13, 0), true, 3)
            .iter()
            .map(|e| e.0.ms)
            .collect();
        assert_eq!(rev, vec![13, 12, 11]);
    }

    #[test]
    fn delete_and_trim_keep_counters() {
        let mut s = filled(25, 10);
        assert!(s.delete(id(1, 0)));
        assert!(!s.delete(id(1, 0)));
        assert_eq!(s.first_id, id(2, 0));
        assert_eq!(s.max_deleted, id(1, 0));
        // Approximate: only the first whole block (9 live entries) goes.
        assert_eq!(s.trim(Trim::MaxLen(10), true, 0), 9);
        assert_eq!(s.len(), 15);
        assert_eq!(s.trim(Trim::MaxLen(10), false, 0), 5);
        assert_eq!(s.first_id, id(16, 0));
        assert_eq!(s.trim(Trim::MinId(id(20, 0)), false, 0), 4);
        assert_eq!(s.edge_id(false), Some(id(20, 0)));
        assert_eq!(s.edge_id(true), Some(id(25, 0)));
        assert!(s.delete(id(25, 0)));
        assert_eq!(s.edge_id(true), Some(id(24, 0)));
        assert_eq!(s.entries_added, 25);
    }

    #[test]
    fn payload_round_trips_with_groups() {
        let mut s = filled(30, 7);
        s.delete(id(3, 0));
        let mut g = Group::new(id(10, 0), Some(10));
        g.create_consumer(b"alice", 5);
        g.assign(id(4, 0), &Bytes::from_static(b"alice"), 77, 2);
        s.groups.insert(Bytes::from_static(b"g"), g);
        let mut out = Vec::new();
        s.write_payload(&mut out);
        let (back, used) = StreamValue::read_payload(&out).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(
            back.range(StreamId::MIN, StreamId::MAX, false, 0),
            s.range(StreamId::MIN, StreamId::MAX, false, 0)
        );
        assert_eq!(back.groups, s.groups);
        assert_eq!(
            (
                back.last_id,
                back.max_deleted,
                back.entries_added,
                back.len()
            ),
            (s.last_id, s.max_deleted, s.entries_added, s.len())
        );
        for cut in 0..out.len() {
            assert!(StreamValue::read_payload(&out[..cut]).is_none_or(|(_, u)| u <= cut));
        }
    }
}
