//! Values written as Redis 7.0 writes them (`rdbSaveObjectType`, `rdbSaveObject`): strings
//! as integers when they round-trip, LZF-compressed above 20 bytes when that saves at least
//! 4, raw otherwise; lists as quicklists of listpacks of at most 8 KB; sets as intsets or
//! plain member lists (Redis 7.0 has no listpack set: its RESTORE refuses type 20); sorted
//! sets as listpacks or, for skiplists, members from the highest score down with binary
//! doubles; hashes as listpacks or plain pairs.

use super::{container, intset, kind, listpack, lzf};
use crate::keyspace::types::set::Elem;
use crate::keyspace::Value;

/// The quicklist node size Redis 7.0's default `list-max-listpack-size -2` allows.
const NODE_BYTES: usize = 8192;

/// `rdbSaveLen`: 6 bits, 14 bits, or a marker byte and 32 or 64 bits big-endian.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push((len & 0xff) as u8);
    } else if let Ok(l) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// `rdbSaveRawString`: an integer encoding for short strings that are the decimal form of a
/// 32-bit integer, LZF for longer ones that compress, else the length and the bytes.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_string_as(out, s, true)
}

/// [`write_string`], with LZF only when `compress` (a snapshot under `rdbcompression no`
/// writes every string plain, as Redis does).
pub fn write_string_as(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(n) = crate::util::parse_i64_strict(s) {
            if let Ok(b) = i8::try_from(n) {
                out.extend_from_slice(&[0xc0, b as u8]);
                return;
            } else if let Ok(h) = i16::try_from(n) {
                out.push(0xc1);
                out.extend_from_slice(&h.to_le_bytes());
                return;
            } else if let Ok(w) = i32::try_from(n) {
                out.push(0xc2);
                out.extend_from_slice(&w.to_le_bytes());
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(z) = lzf::compress(s, s.len() - 4) {
            out.push(0xc3);
            write_len(out, z.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&z);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn write_double(out: &mut Vec<u8>, d: f64) {
    out.extend_from_slice(&d.to_le_bytes());
}

/// The RDB type byte and body of a value.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    write_value_as(out, v, true)
}

/// [`write_value`], compressing strings only when `compress` (`rdbcompression`).
pub fn write_value_as(out: &mut Vec<u8>, v: &Value, c: bool) {
    match v {
        Value::Str(s) => {
            out.push(kind::STRING);
            write_string_as(out, s, c);
        }
        Value::List(l) => {
            out.push(kind::LIST_QUICKLIST_2);
            let mut nodes = Vec::new();
            let mut lp = listpack::Builder::default();
            for item in l.iter() {
                if !lp.is_empty() && lp.len() + listpack::Builder::entry_size(item) > NODE_BYTES {
                    nodes.push(std::mem::take(&mut lp).finish());
                }
                lp.push(item);
            }
            if !lp.is_empty() {
                nodes.push(lp.finish());
            }
            write_len(out, nodes.len() as u64);
            for n in nodes {
                write_len(out, container::PACKED);
                write_string_as(out, &n, c);
            }
        }
        Value::Set(s) if s.encoding() == "intset" => {
            out.push(kind::SET_INTSET);
            let mut vals: Vec<i64> = s
                .iter()
                .filter_map(|e| match e {
                    Elem::Int(n) => Some(n),
                    Elem::Bytes(b) => crate::util::parse_i64_strict(b),
                })
                .collect();
            vals.sort_unstable();
            write_string_as(out, &intset::encode(&vals), c);
        }
        Value::Set(s) => {
            out.push(kind::SET);
            write_len(out, s.len() as u64);
            let mut buf = itoa::Buffer::new();
            for e in s.iter() {
                match e {
                    Elem::Int(n) => write_string_as(out, buf.format(n).as_bytes(), c),
                    Elem::Bytes(b) => write_string_as(out, b, c),
                }
            }
        }
        Value::ZSet(z) if z.encoding() == "listpack" => {
            out.push(kind::ZSET_LISTPACK);
            let mut lp = listpack::Builder::default();
            for (m, score) in z.iter() {
                lp.push(m);
                // `zzlInsertAt`: integral scores within ±2^62 as integers (`double2ll`),
                // others as their `%.17g` text.
                if score.fract() == 0.0 && score.abs() <= 4_611_686_018_427_387_904.0 {
                    lp.push_int(score as i64);
                } else {
                    lp.push(crate::util::fmt_double(score).as_bytes());
                }
            }
            write_string_as(out, &lp.finish(), c);
        }
        Value::ZSet(z) => {
            out.push(kind::ZSET_2);
            write_len(out, z.len() as u64);
            // From the highest score down, as Redis walks its skiplist from the tail (loading
            // then inserts at the head, the cheap end).
            for (m, score) in z.range(0, z.len(), true) {
                write_string_as(out, m, c);
                write_double(out, score);
            }
        }
        // With field TTLs: Redis 7.4/8.0's types. The earliest expiry first (8 bytes LE),
        // then a listpack of field/value/expiry triples, earliest first and fields without
        // a TTL (0) last, as Redis keeps a listpackex ...
        Value::Hash(h) if h.encoding() == "listpackex" => {
            out.push(kind::HASH_LISTPACK_EX);
            let mut triples: Vec<_> = h.iter_with_expiry().collect();
            triples.sort_by_key(|&(_, _, t)| if t == 0 { u64::MAX } else { t });
            let min = triples.first().map_or(0, |&(_, _, t)| t);
            out.extend_from_slice(&min.to_le_bytes());
            let mut lp = listpack::Builder::default();
            for (f, val, t) in triples {
                lp.push(f);
                lp.push(val);
                lp.push_int(t as i64);
            }
            write_string_as(out, &lp.finish(), c);
        }
        // ... or per field: the expiry relative to the earliest plus one (0: none), field,
        // value.
        Value::Hash(h) if h.has_ttls() => {
            out.push(kind::HASH_METADATA);
            let min = h
                .iter_with_expiry()
                .map(|(_, _, t)| t)
                .filter(|&t| t != 0)
                .min()
                .unwrap_or(0);
            out.extend_from_slice(&min.to_le_bytes());
            write_len(out, h.len() as u64);
            for (f, val, t) in h.iter_with_expiry() {
                write_len(out, if t == 0 { 0 } else { t - min + 1 });
                write_string_as(out, f, c);
                write_string_as(out, val, c);
            }
        }
        Value::Hash(h) if h.encoding() == "listpack" => {
            out.push(kind::HASH_LISTPACK);
            let mut lp = listpack::Builder::default();
            for (f, val) in h.iter() {
                lp.push(f);
                lp.push(val);
            }
            write_string_as(out, &lp.finish(), c);
        }
        Value::Hash(h) => {
            out.push(kind::HASH);
            write_len(out, h.len() as u64);
            for (f, val) in h.iter() {
                write_string_as(out, f, c);
                write_string_as(out, val, c);
            }
        }
        Value::Stream(s) => {
            out.push(kind::STREAM_LISTPACKS_2);
            super::stream::write(out, s, c);
        }
    }
}
