//! Streams in RDB (`rdbSaveObject` / `rdbLoadObject` for `OBJ_STREAM`): the listpack nodes
//! under their 16-byte big-endian master ids, the length and counters, then the consumer
//! groups with their pending entries and consumers.
//!
//! Written as Redis 7.0 writes them (`RDB_TYPE_STREAM_LISTPACKS_2`); read from types 15
//! (Redis 5 to 6.2), 19 (7.0) and 21 (7.2, which adds each consumer's active time). Each node
//! is a listpack: the master entry `count · deleted · n · field... · 0`, then per entry
//! `flags · ms-delta · seq-delta · [n · field value...] | [value...] · lp-count`.

use super::decode::Reader;
use super::encode::{write_len, write_string_as};
use super::listpack::{self, Item};
use super::{kind, BadFormat};
use crate::keyspace::types::stream::{Consumer, Group, NewId, StreamId, StreamValue};
use crate::keyspace::Value;
use bytes::Bytes;

type R<T> = Result<T, BadFormat>;

const DELETED: i64 = 1;
const SAME_FIELDS: i64 = 2;

fn raw_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_be_bytes());
    out.extend_from_slice(&id.seq.to_be_bytes());
}

/// The body of a stream value (after its type byte, `kind::STREAM_LISTPACKS_2`).
pub fn write(out: &mut Vec<u8>, s: &StreamValue, c: bool) {
    let blocks: Vec<_> = s.blocks().collect();
    write_len(out, blocks.len() as u64);
    for (key, b) in blocks {
        let mut k = Vec::with_capacity(16);
        raw_id(&mut k, key);
        write_string_as(out, &k, c);
        let mut lp = listpack::Builder::default();
        let master: Vec<&[u8]> = b.master().collect();
        lp.push_int(b.live as i64);
        lp.push_int(b.deleted as i64);
        lp.push_int(master.len() as i64);
        for f in &master {
            lp.push(f);
        }
        lp.push_int(0);
        for slot in b.slots(key) {
            let n = b.field_count(&slot);
            let mut flags = 0;
            if slot.deleted {
                flags |= DELETED;
            }
            if slot.same {
                flags |= SAME_FIELDS;
            }
            lp.push_int(flags);
            lp.push_int(slot.id.ms.wrapping_sub(key.ms) as i64);
            lp.push_int(slot.id.seq.wrapping_sub(key.seq) as i64);
            if slot.same {
                b.stored(&slot).for_each(|v| lp.push(v));
                lp.push_int(n as i64 + 3);
            } else {
                lp.push_int(n as i64);
                b.stored(&slot).for_each(|p| lp.push(p));
                lp.push_int(2 * n as i64 + 4);
            }
        }
        write_string_as(out, &lp.finish(), c);
    }
    write_len(out, s.len());
    write_len(out, s.last_id.ms);
    write_len(out, s.last_id.seq);
    write_len(out, s.first_id.ms);
    write_len(out, s.first_id.seq);
    write_len(out, s.max_deleted.ms);
    write_len(out, s.max_deleted.seq);
    write_len(out, s.entries_added);
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string_as(out, name, c);
        write_len(out, g.last_id.ms);
        write_len(out, g.last_id.seq);
        // Redis writes the unknown counter as -1 through a u64 length.
        write_len(out, g.entries_read.unwrap_or(u64::MAX));
        write_len(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            raw_id(out, *id);
            out.extend_from_slice(&n.delivery_time.to_le_bytes());
            write_len(out, n.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (name, cs) in &g.consumers {
            write_string_as(out, name, c);
            out.extend_from_slice(&cs.seen_time.to_le_bytes());
            write_len(out, cs.pel.len() as u64);
            for id in &cs.pel {
                raw_id(out, *id);
            }
        }
    }
}

fn take_id(r: &mut Reader) -> R<StreamId> {
    let b = r.take(16)?;
    let ms = u64::from_be_bytes(b[..8].try_into().map_err(|_| BadFormat)?);
    let seq = u64::from_be_bytes(b[8..].try_into().map_err(|_| BadFormat)?);
    Ok(StreamId::new(ms, seq))
}

fn u64_le(r: &mut Reader) -> R<u64> {
    Ok(u64::from_le_bytes(
        r.take(8)?.try_into().map_err(|_| BadFormat)?,
    ))
}

fn int(it: Option<&Item>) -> R<i64> {
    match it {
        Some(Item::Int(n)) => Ok(*n),
        Some(Item::Str(s)) => crate::util::parse_i64_strict(s).ok_or(BadFormat),
        None => Err(BadFormat),
    }
}

fn bytes_of<'a>(it: Option<&Item<'a>>) -> R<Vec<u8>> {
    let mut buf = itoa::Buffer::new();
    Ok(it.ok_or(BadFormat)?.bytes(&mut buf).to_vec())
}

/// Appends an item's bytes (integers in decimal) to `scratch`, and its span to `spans`.
fn stash(it: Option<&Item>, scratch: &mut Vec<u8>, spans: &mut Vec<(usize, usize)>) -> R<()> {
    let start = scratch.len();
    match it.ok_or(BadFormat)? {
        Item::Int(n) => scratch.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Item::Str(b) => scratch.extend_from_slice(b),
    }
    spans.push((start, scratch.len()));
    Ok(())
}

/// Adds the live entries of one node's listpack to `s`. A million-entry stream arrives in
/// one RESTORE, decoded under the target's keyspace lock: an entry's items go through one
/// reused buffer rather than an allocation each.
fn read_node(s: &mut StreamValue, master_id: StreamId, items: &[Item]) -> R<()> {
    let mut i = 0;
    let next = |i: &mut usize| {
        let it = items.get(*i);
        *i += 1;
        it
    };
    let _count = int(next(&mut i))?;
    let _deleted = int(next(&mut i))?;
    let nmaster = usize::try_from(int(next(&mut i))?).map_err(|_| BadFormat)?;
    if nmaster > items.len() {
        return Err(BadFormat);
    }
    let mut master = Vec::with_capacity(nmaster);
    for _ in 0..nmaster {
        master.push(bytes_of(next(&mut i))?);
    }
    if int(next(&mut i))? != 0 {
        return Err(BadFormat);
    }
    let mut scratch: Vec<u8> = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    while i < items.len() {
        let flags = int(next(&mut i))?;
        let ms = master_id.ms.wrapping_add(int(next(&mut i))? as u64);
        let seq = master_id.seq.wrapping_add(int(next(&mut i))? as u64);
        scratch.clear();
        spans.clear();
        let same = flags & SAME_FIELDS != 0;
        let n = if same {
            for _ in 0..master.len() {
                stash(next(&mut i), &mut scratch, &mut spans)?;
            }
            master.len()
        } else {
            let n = usize::try_from(int(next(&mut i))?).map_err(|_| BadFormat)?;
            if n > items.len() {
                return Err(BadFormat);
            }
            for _ in 0..n * 2 {
                stash(next(&mut i), &mut scratch, &mut spans)?;
            }
            n
        };
        int(next(&mut i))?; // lp-count
        if flags & DELETED == 0 {
            let mut refs: smallvec::SmallVec<[&[u8]; 16]> =
                smallvec::SmallVec::with_capacity(n * 2);
            for (k, &(a, b)) in spans.iter().enumerate() {
                if same {
                    refs.push(&master[k]);
                }
                refs.push(&scratch[a..b]);
            }
            s.add(NewId::Exact(StreamId::new(ms, seq)), &refs, 0, 4096, 100)
                .map_err(|_| BadFormat)?;
        }
    }
    Ok(())
}

/// Reads a stream of RDB type `t` (15, 19 or 21).
pub fn read(r: &mut Reader, t: u8) -> R<Value> {
    let v2 = t != kind::STREAM_LISTPACKS;
    let v3 = t == kind::STREAM_LISTPACKS_3;
    let mut s = StreamValue::new();
    let nodes = r.count(2)?;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return Err(BadFormat);
        }
        let master = StreamId::new(
            u64::from_be_bytes(key[..8].try_into().map_err(|_| BadFormat)?),
            u64::from_be_bytes(key[8..].try_into().map_err(|_| BadFormat)?),
        );
        let blob = r.string()?;
        let items = listpack::items(&blob).ok_or(BadFormat)?;
        if items.is_empty() {
            return Err(BadFormat);
        }
        read_node(&mut s, master, &items)?;
    }
    let length = r.length()? as u64;
    if length != s.len() {
        return Err(BadFormat);
    }
    let last = StreamId::new(r.length()? as u64, r.length()? as u64);
    if !s.is_empty() && s.edge_id(true).is_some_and(|l| l > last) {
        return Err(BadFormat);
    }
    let (first, max_deleted, added) = if v2 {
        let first = StreamId::new(r.length()? as u64, r.length()? as u64);
        let max_deleted = StreamId::new(r.length()? as u64, r.length()? as u64);
        (first, max_deleted, r.length()? as u64)
    } else {
        (s.edge_id(false).unwrap_or_default(), StreamId::MIN, s.len())
    };
    s.set_counters(last, first, max_deleted, added);
    let groups = r.count(3)?;
    for _ in 0..groups {
        let name = Bytes::copy_from_slice(&r.string()?);
        let last_id = StreamId::new(r.length()? as u64, r.length()? as u64);
        let entries_read = if v2 {
            // -1 (unknown) arrives as u64::MAX.
            let n = r.length()? as u64;
            (n != u64::MAX).then_some(n)
        } else {
            s.estimate_distance(last_id)
        };
        let mut g = Group::new(last_id, entries_read);
        let pending = r.count(17)?;
        let mut pel = Vec::with_capacity(pending);
        for _ in 0..pending {
            let id = take_id(r)?;
            let time = u64_le(r)?;
            let count = r.length()? as u64;
            pel.push((id, time, count));
        }
        let consumers = r.count(9)?;
        let mut owners = std::collections::HashMap::new();
        for _ in 0..consumers {
            let c = Bytes::copy_from_slice(&r.string()?);
            let seen = u64_le(r)?;
            if v3 {
                u64_le(r)?;
            }
            let n = r.count(16)?;
            for _ in 0..n {
                owners.insert(take_id(r)?, c.clone());
            }
            g.consumers.insert(
                c,
                Consumer {
                    seen_time: seen,
                    pel: Default::default(),
                },
            );
        }
        for (id, time, count) in pel {
            // Every pending entry has an owner (Redis refuses such a payload too).
            let owner = owners.get(&id).ok_or(BadFormat)?.clone();
            g.assign(id, &owner, time, count);
        }
        if g.pel.len() != owners.len() || s.groups.insert(name, g).is_some() {
            return Err(BadFormat);
        }
    }
    Ok(Value::Stream(Box::new(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_round_trip_through_rdb() {
        let mut s = StreamValue::new();
        for i in 1..=250u64 {
            let v = i.to_string();
            let pairs: Vec<&[u8]> = if i % 7 == 0 {
                vec![b"other", v.as_bytes()]
            } else {
                vec![b"f", v.as_bytes(), b"g", b"x"]
            };
            s.add(NewId::Exact(StreamId::new(i, i % 3)), &pairs, 0, 4096, 100)
                .unwrap();
        }
        s.delete(StreamId::new(5, 2));
        let mut g = Group::new(StreamId::new(10, 1), Some(10));
        g.create_consumer(b"bob", 123);
        g.create_consumer(b"idle", 9);
        g.assign(StreamId::new(7, 1), &Bytes::from_static(b"bob"), 77, 3);
        s.groups.insert(Bytes::from_static(b"grp"), g);
        let mut out = Vec::new();
        write(&mut out, &s, true);
        let mut r = Reader::new(&out);
        let Value::Stream(back) = read(&mut r, kind::STREAM_LISTPACKS_2).unwrap() else {
            panic!("not a stream");
        };
        assert_eq!(r.remaining(), 0);
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
                back.first_id
            ),
            (s.last_id, s.max_deleted, s.entries_added, s.first_id)
        );
        for cut in 0..out.len() {
            let mut r = Reader::new(&out[..cut]);
            assert!(read(&mut r, kind::STREAM_LISTPACKS_2).is_err());
        }
    }
}
