//! `ZPack`: a small sorted set as (score, member) pairs in one exact-size buffer (the role
//! Redis's listpack plays for sorted sets).
//!
//! Caches hold many small sorted sets (a leaderboard slice, a per-user timeline of ten
//! items). A `Vec` of `(f64, member)` slots costs 32 bytes per element before the member is
//! even counted; here an element is its score, a LEB128 member length and the member bytes,
//! back to back, sorted by (score, member). Integral scores (the common case: counters,
//! ranks, timestamps) take one to eight bytes, as in a listpack; others take nine. Lookups
//! are linear scans, which over the few dozen elements this encoding holds cost about what
//! a hash probe does.
//!
//! Score encoding, chosen so the first byte tells the two forms apart: an integral score `i`
//! with `|i| <= 2^53` (exactly representable) is the LEB128 of `zigzag(i) << 1`, whose first
//! byte is even; any other score is the byte `1` followed by the 8 bytes of its IEEE bits,
//! little-endian.

use super::packed::put_bytes;
use std::cmp::Ordering;

/// Largest magnitude stored as an integer: every integer up to it is an exact `f64`.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// First byte of a score stored as raw IEEE bits.
const RAW: u8 = 1;

/// Sorted (score, member) pairs in one buffer; see the module doc for the layout. The
/// buffer is only ever written by this type, so decoding errors cannot happen in practice;
/// readers still stop quietly instead of panicking if one did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZPack {
    buf: Box<[u8]>,
}

/// One decoded element: its bytes span `start..end` in the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Elem<'a> {
    pub start: usize,
    pub end: usize,
    pub score: f64,
    pub member: &'a [u8],
}

/// Total order of (score, member) pairs; scores are never NaN.
#[inline]
pub fn cmp_key(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

fn put_u64(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn get_u64(input: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *input.get(*pos)?;
        *pos += 1;
        n |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Appends the encoding of `score`.
fn put_score(out: &mut Vec<u8>, score: f64) {
    if score.fract() == 0.0 && score.abs() <= MAX_EXACT {
        let i = score as i64;
        let zz = ((i << 1) ^ (i >> 63)) as u64;
        put_u64(out, zz << 1);
    } else {
        out.push(RAW);
        out.extend_from_slice(&score.to_bits().to_le_bytes());
    }
}

/// Reads a score at `*pos`, advancing it.
fn get_score(input: &[u8], pos: &mut usize) -> Option<f64> {
    if *input.get(*pos)? == RAW {
        let raw = input.get(*pos + 1..*pos + 9)?;
        *pos += 9;
        return Some(f64::from_bits(u64::from_le_bytes(raw.try_into().ok()?)));
    }
    let v = get_u64(input, pos)? >> 1;
    let i = ((v >> 1) as i64) ^ -((v & 1) as i64);
    Some(i as f64)
}

/// The encoded element (score, then length-prefixed member).
fn encode(score: f64, member: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(member.len() + 12);
    put_score(&mut e, score);
    put_bytes(&mut e, member);
    e
}

impl ZPack {
    /// The element starting at byte `start`, if one does.
    #[inline]
    pub fn elem_at(&self, start: usize) -> Option<Elem<'_>> {
        let mut p = start;
        let score = get_score(&self.buf, &mut p)?;
        let n = get_u64(&self.buf, &mut p)?;
        let end = p
            .checked_add(usize::try_from(n).ok()?)
            .filter(|&e| e <= self.buf.len())?;
        Some(Elem {
            start,
            end,
            score,
            member: &self.buf[p..end],
        })
    }

    /// Elements in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = Elem<'_>> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let e = self.elem_at(at)?;
            at = e.end;
            Some(e)
        })
    }

    /// Number of elements (counted: the count is not stored, which keeps ten small elements
    /// inside one allocator size class).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Heap bytes held.
    pub fn memory(&self) -> usize {
        self.buf.len()
    }

    /// The member's 0-based rank and element.
    pub fn find(&self, member: &[u8]) -> Option<(usize, Elem<'_>)> {
        self.iter().enumerate().find(|(_, e)| e.member == member)
    }

    /// Byte offset of the element of 0-based `rank` (the buffer length past the end).
    pub fn offset_of(&self, rank: usize) -> usize {
        self.iter().nth(rank).map_or(self.buf.len(), |e| e.start)
    }

    /// Rewrites the buffer through a `Vec`, keeping the allocation exact-size.
    fn edit(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        f(&mut v);
        self.buf = v.into_boxed_slice();
    }

    /// Inserts a member that is not present, at its place in the order.
    pub fn insert_new(&mut self, score: f64, member: &[u8]) {
        let at = self
            .iter()
            .find(|e| cmp_key(e.score, e.member, score, member) == Ordering::Greater)
            .map_or(self.buf.len(), |e| e.start);
        let enc = encode(score, member);
        self.edit(|v| {
            v.reserve_exact(enc.len());
            v.splice(at..at, enc);
        });
    }

    /// Moves the element at `start..end` (holding `member`) to where `score` puts it, in one
    /// rewrite of the buffer.
    pub fn rescore(&mut self, start: usize, end: usize, score: f64, member: &[u8]) {
        let enc = encode(score, member);
        // The new place, counted in the buffer without the old element.
        let at = self
            .iter()
            .filter(|e| e.start != start)
            .find(|e| cmp_key(e.score, e.member, score, member) == Ordering::Greater)
            .map_or(self.buf.len(), |e| e.start);
        let at = if at > start { at - (end - start) } else { at };
        self.edit(|v| {
            v.drain(start..end);
            v.reserve_exact(enc.len());
            v.splice(at..at, enc);
        });
    }

    /// Removes the bytes `start..end`, which must hold whole elements.
    pub fn remove_bytes(&mut self, start: usize, end: usize) {
        if start < end && end <= self.buf.len() {
            self.edit(|v| {
                v.drain(start..end);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(p: &ZPack) -> Vec<(f64, Vec<u8>)> {
        p.iter().map(|e| (e.score, e.member.to_vec())).collect()
    }

    #[test]
    fn scores_round_trip_in_both_forms() {
        let cases = [
            0.0,
            1.0,
            -1.0,
            9.0,
            63.0,
            -64.0,
            1e15,
            -MAX_EXACT,
            MAX_EXACT,
            MAX_EXACT * 2.0,
            1.5,
            -0.25,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
            1_700_000_000_123.0,
        ];
        for s in cases {
            let mut out = Vec::new();
            put_score(&mut out, s);
            let mut p = 0;
            assert_eq!(get_score(&out, &mut p), Some(s), "{s}");
            assert_eq!(p, out.len());
        }
        // Small integers take one byte, as in a listpack.
        for s in -15..=15 {
            let mut out = Vec::new();
            put_score(&mut out, s as f64);
            assert_eq!(out.len(), 1, "{s}");
        }
        assert_eq!(get_score(&[RAW, 0, 0], &mut 0), None);
        assert_eq!(get_score(&[0x80], &mut 0), None);
    }

    #[test]
    fn ties_order_by_member_bytes() {
        let mut p = ZPack::default();
        for m in [&b"b"[..], b"a", b"ab", b"", b"\xff", b"B"] {
            p.insert_new(1.0, m);
        }
        p.insert_new(0.5, b"zz");
        p.insert_new(-1.0, b"zzz");
        let got: Vec<Vec<u8>> = p.iter().map(|e| e.member.to_vec()).collect();
        let want: Vec<&[u8]> = vec![b"zzz", b"zz", b"", b"B", b"a", b"ab", b"b", b"\xff"];
        assert_eq!(got, want);
        assert_eq!(p.len(), 8);
        assert_eq!(p.find(b"ab").map(|(r, e)| (r, e.score)), Some((5, 1.0)));
        assert!(p.find(b"nope").is_none());
    }

    #[test]
    fn rescore_moves_the_member_both_ways() {
        let mut p = ZPack::default();
        for (i, m) in ["a", "b", "c", "d"].iter().enumerate() {
            p.insert_new(i as f64, m.as_bytes());
        }
        let (_, e) = p.find(b"a").unwrap();
        p.rescore(e.start, e.end, 2.5, b"a");
        let (_, e) = p.find(b"d").unwrap();
        p.rescore(e.start, e.end, -7.125, b"d");
        let (_, e) = p.find(b"c").unwrap();
        p.rescore(e.start, e.end, 1.0, b"c"); // ties with b; c sorts after it
        let (_, e) = p.find(b"b").unwrap();
        p.rescore(e.start, e.end, 1.0, b"b"); // unchanged place
        assert_eq!(
            items(&p),
            vec![
                (-7.125, b"d".to_vec()),
                (1.0, b"b".to_vec()),
                (1.0, b"c".to_vec()),
                (2.5, b"a".to_vec()),
            ]
        );
        assert_eq!(p.offset_of(1), p.find(b"b").unwrap().1.start);
        assert_eq!(p.offset_of(4), p.memory());
        let (s, e) = (p.offset_of(1), p.offset_of(3));
        p.remove_bytes(s, e);
        assert_eq!(
            items(&p),
            vec![(-7.125, b"d".to_vec()), (2.5, b"a".to_vec())]
        );
        // Exact-size buffer: ten 14-byte members with small integer scores take 160 bytes.
        let mut q = ZPack::default();
        for i in 0..10 {
            q.insert_new(i as f64, format!("member-12345-{i}").as_bytes());
        }
        assert_eq!(q.memory(), 160);
    }
}
