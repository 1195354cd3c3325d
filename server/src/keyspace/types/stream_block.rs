//! One block of a stream's entries, packed in a byte vector: Redis's listpack under a rax
//! node, in our own encoding.
//!
//! Layout: the block's *master fields* (the field names of its first entry: count, then each
//! as length + bytes), then its entries, each
//! `flags · ms-delta · seq · [field-count · field value ...] | [value ...]`, with lengths and
//! numbers as LEB128 varints. `ms-delta` is the entry id's milliseconds minus the block key's
//! (the first id ever added to it); an entry whose field names equal the master fields (the
//! common case: every entry of a stream written by one producer) stores only its values.
//! Deleting marks the entry's flags byte, as Redis does; a block whose entries are all
//! deleted is dropped by the stream.

use super::stream::StreamId;

/// The entry was deleted (XDEL, or an exact trim inside the block).
const DELETED: u8 = 1;
/// The entry's field names are the block's master fields: only the values are stored.
const SAME_FIELDS: u8 = 2;

/// A block of packed entries.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Block {
    data: Vec<u8>,
    /// Where the entries start (after the master fields).
    body: u32,
    /// Entries not deleted.
    pub live: u32,
    /// Entries marked deleted.
    pub deleted: u32,
    /// Offset of the last entry's flags byte, so that the newest entry (what every
    /// XREADGROUP `>` compares its group with) is found without walking the block.
    last_at: u32,
}

/// Where one entry lies in a block.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub id: StreamId,
    pub deleted: bool,
    /// Offset of the flags byte.
    at: usize,
    /// The entry's field names are the master fields (only its values are stored).
    pub same: bool,
    /// Offset of the fields (or values) part.
    fields: usize,
    /// Offset just past the entry.
    end: usize,
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn varint_len(mut n: u64) -> usize {
    let mut l = 1;
    while n >= 0x80 {
        n >>= 7;
        l += 1;
    }
    l
}

/// Reads a varint at `*pos`. Blocks are only built by this module, so the data is trusted;
/// a truncated varint still ends at the buffer's end rather than panicking.
fn get_varint(data: &[u8], pos: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    while let Some(&b) = data.get(*pos) {
        *pos += 1;
        if shift < 64 {
            n |= ((b & 0x7f) as u64) << shift;
        }
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    n
}

fn get_bytes<'a>(data: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(data, pos) as usize;
    let start = (*pos).min(data.len());
    let end = start.saturating_add(len).min(data.len());
    *pos = end;
    &data[start..end]
}

impl Block {
    /// A new block whose master fields are the field names of `pairs` (field, value, ...).
    pub fn new(pairs: &[&[u8]]) -> Block {
        let mut data = Vec::new();
        let n = pairs.len() / 2;
        put_varint(&mut data, n as u64);
        for f in pairs.iter().step_by(2) {
            put_varint(&mut data, f.len() as u64);
            data.extend_from_slice(f);
        }
        let body = data.len() as u32;
        Block {
            data,
            body,
            live: 0,
            deleted: 0,
            last_at: body,
        }
    }

    /// Entries held, deleted ones included (what `stream-node-max-entries` counts).
    pub fn count(&self) -> usize {
        (self.live + self.deleted) as usize
    }

    /// Bytes of packed data (what `stream-node-max-bytes` counts).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Heap bytes the block owns.
    pub fn heap_size(&self) -> usize {
        self.data.capacity()
    }

    /// The master field names (the block's first entry's, Redis's master entry).
    pub fn master(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut pos = 0;
        let n = get_varint(&self.data, &mut pos);
        (0..n).map(move |_| get_bytes(&self.data, &mut pos))
    }

    fn master_count(&self) -> usize {
        let mut pos = 0;
        get_varint(&self.data, &mut pos) as usize
    }

    fn same_as_master(&self, pairs: &[&[u8]]) -> bool {
        self.master_count() == pairs.len() / 2
            && self
                .master()
                .zip(pairs.iter().step_by(2))
                .all(|(m, f)| m == *f)
    }

    /// Bytes appending `pairs` would add (an upper bound: as if the names were stored).
    pub fn entry_size(pairs: &[&[u8]]) -> usize {
        16 + pairs
            .iter()
            .map(|p| varint_len(p.len() as u64) + p.len())
            .sum::<usize>()
    }

    /// Appends an entry; `key` is the block's key (its first id), `id` is above every id in
    /// it.
    pub fn push(&mut self, key: StreamId, id: StreamId, pairs: &[&[u8]]) {
        let same = self.same_as_master(pairs);
        self.last_at = self.data.len() as u32;
        self.data.push(if same { SAME_FIELDS } else { 0 });
        put_varint(&mut self.data, id.ms - key.ms);
        put_varint(&mut self.data, id.seq);
        if same {
            for v in pairs.iter().skip(1).step_by(2) {
                put_varint(&mut self.data, v.len() as u64);
                self.data.extend_from_slice(v);
            }
        } else {
            put_varint(&mut self.data, (pairs.len() / 2) as u64);
            for p in pairs {
                put_varint(&mut self.data, p.len() as u64);
                self.data.extend_from_slice(p);
            }
        }
        self.live += 1;
    }

    /// Every entry's place, in id order, deleted ones included.
    pub fn slots(&self, key: StreamId) -> Slots<'_> {
        Slots {
            block: self,
            pos: self.body as usize,
            key,
            master: self.master_count(),
        }
    }

    /// The newest live entry (`None` when every entry is deleted): the last one read
    /// directly, the whole block walked only when that one was deleted.
    pub fn last_live(&self, key: StreamId) -> Option<Slot> {
        let mut tail = Slots {
            block: self,
            pos: self.last_at as usize,
            key,
            master: self.master_count(),
        };
        match tail.next() {
            Some(s) if !s.deleted => Some(s),
            _ => self.slots(key).filter(|s| !s.deleted).last(),
        }
    }

    /// The entry's field-value pairs in order (field, value, field, value, ...), without
    /// allocating: what replies write.
    pub fn for_each_item<'b>(&'b self, slot: &Slot, mut f: impl FnMut(&'b [u8])) {
        let d = &self.data;
        let mut pos = slot.fields;
        if slot.same {
            for m in self.master() {
                f(m);
                f(get_bytes(d, &mut pos));
            }
        } else {
            let n = get_varint(d, &mut pos) as usize;
            for _ in 0..n.min(slot.end - slot.fields) * 2 {
                f(get_bytes(d, &mut pos));
            }
        }
    }

    /// The field-value pairs of the entry at `slot` (field, value, field, value, ...).
    pub fn pairs(&self, slot: &Slot) -> Vec<&[u8]> {
        let mut pos = slot.fields;
        let d = &self.data;
        if slot.same {
            let mut out = Vec::with_capacity(self.master_count() * 2);
            for m in self.master() {
                out.push(m);
                out.push(get_bytes(d, &mut pos));
            }
            out
        } else {
            let n = get_varint(d, &mut pos) as usize;
            let mut out = Vec::with_capacity(n.min(slot.end - slot.fields) * 2);
            for _ in 0..n * 2 {
                out.push(get_bytes(d, &mut pos));
            }
            out
        }
    }

    /// The entry's items as stored, without allocating: its values alone when it has the
    /// master fields (`slot.same`), else field, value, field, value... (the RDB writer
    /// copies them as they are).
    pub fn stored<'b>(&'b self, slot: &Slot) -> impl Iterator<Item = &'b [u8]> + 'b {
        let mut pos = slot.fields;
        let n = if slot.same {
            self.master_count()
        } else {
            get_varint(&self.data, &mut pos) as usize * 2
        };
        let d = &self.data;
        (0..n).map(move |_| get_bytes(d, &mut pos))
    }

    /// The number of fields of the entry at `slot`.
    pub fn field_count(&self, slot: &Slot) -> usize {
        if slot.same {
            self.master_count()
        } else {
            let mut pos = slot.fields;
            get_varint(&self.data, &mut pos) as usize
        }
    }

    /// Marks the entry at `slot` deleted (it must be live).
    pub fn mark_deleted(&mut self, slot: &Slot) {
        if let Some(f) = self.data.get_mut(slot.at) {
            if *f & DELETED == 0 {
                *f |= DELETED;
                self.live -= 1;
                self.deleted += 1;
            }
        }
    }

    /// Releases spare capacity (a block that will receive no more entries).
    pub fn shrink(&mut self) {
        self.data.shrink_to_fit();
    }
}

/// Iterator over a block's entries ([`Block::slots`]).
pub struct Slots<'a> {
    block: &'a Block,
    pos: usize,
    key: StreamId,
    master: usize,
}

impl Iterator for Slots<'_> {
    type Item = Slot;

    fn next(&mut self) -> Option<Slot> {
        let d = &self.block.data;
        if self.pos >= d.len() {
            return None;
        }
        let at = self.pos;
        let flags = d[at];
        let mut pos = at + 1;
        let ms = self.key.ms.wrapping_add(get_varint(d, &mut pos));
        let seq = get_varint(d, &mut pos);
        let fields = pos;
        let same = flags & SAME_FIELDS != 0;
        let items = if same {
            self.master
        } else {
            get_varint(d, &mut pos) as usize * 2
        };
        for _ in 0..items {
            let len = get_varint(d, &mut pos) as usize;
            pos = pos.saturating_add(len).min(d.len());
        }
        self.pos = pos;
        Some(Slot {
            id: StreamId { ms, seq },
            deleted: flags & DELETED != 0,
            at,
            same,
            fields,
            end: pos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_and_without_master_fields() {
        let key = StreamId { ms: 100, seq: 0 };
        let mut b = Block::new(&[b"a", b"1", b"b", b"2"]);
        b.push(key, key, &[b"a", b"1", b"b", b"2"]);
        b.push(key, StreamId { ms: 105, seq: 3 }, &[b"x", b"y"]);
        b.push(key, StreamId { ms: 300, seq: 0 }, &[b"a", b"9", b"b", b"8"]);
        let slots: Vec<Slot> = b.slots(key).collect();
        assert_eq!(slots.len(), 3);
        assert_eq!(slots[0].id, key);
        assert_eq!(b.pairs(&slots[0]), vec![&b"a"[..], b"1", b"b", b"2"]);
        assert_eq!(b.pairs(&slots[1]), vec![&b"x"[..], b"y"]);
        assert_eq!(slots[2].id, StreamId { ms: 300, seq: 0 });
        assert_eq!(b.pairs(&slots[2]), vec![&b"a"[..], b"9", b"b", b"8"]);
        let mut items = Vec::new();
        b.for_each_item(&slots[2], |x| items.push(x));
        assert_eq!(items, b.pairs(&slots[2]));
        items.clear();
        b.for_each_item(&slots[1], |x| items.push(x));
        assert_eq!(items, vec![&b"x"[..], b"y"]);
        assert_eq!(b.last_live(key).map(|s| s.id), Some(slots[2].id));
        b.mark_deleted(&slots[1]);
        assert_eq!((b.live, b.deleted), (2, 1));
        assert!(b.slots(key).nth(1).unwrap().deleted);
        b.mark_deleted(&slots[2]);
        assert_eq!(b.last_live(key).map(|s| s.id), Some(key));
        b.mark_deleted(&slots[0]);
        assert!(b.last_live(key).is_none());
    }
}
