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

/// An element header (score and member length) being built on the stack: at most 9 + 10
/// bytes.
struct Header {
    buf: [u8; 20],
    len: usize,
}

impl Header {
    fn new() -> Self {
        Header {
            buf: [0; 20],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn put_u64(out: &mut Header, mut n: u64) {
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
fn put_score(out: &mut Header, score: f64) {
    if score.fract() == 0.0 && score.abs() <= MAX_EXACT {
        let i = score as i64;
        let zz = ((i << 1) ^ (i >> 63)) as u64;
        put_u64(out, zz << 1);
    } else {
        out.push(RAW);
        out.extend(&score.to_bits().to_le_bytes());
    }
}

/// Reads a score at `*pos`, advancing it.
#[inline]
fn get_score(input: &[u8], pos: &mut usize) -> Option<f64> {
    let b = *input.get(*pos)?;
    if b & 0x81 == 0 {
        // One-byte integer (|score| < 32), the most common case.
        *pos += 1;
        let v = u64::from(b >> 1);
        return Some((((v >> 1) as i64) ^ -((v & 1) as i64)) as f64);
    }
    if b == RAW {
        let raw = input.get(*pos + 1..*pos + 9)?;
        *pos += 9;
        return Some(f64::from_bits(u64::from_le_bytes(raw.try_into().ok()?)));
    }
    let v = get_u64(input, pos)? >> 1;
    Some((((v >> 1) as i64) ^ -((v & 1) as i64)) as f64)
}

/// The offset just past the score at `pos`, without decoding it.
#[inline]
fn skip_score(input: &[u8], mut pos: usize) -> Option<usize> {
    let b = *input.get(pos)?;
    if b & 0x80 == 0 {
        return Some(pos + if b == RAW { 9 } else { 1 });
    }
    while *input.get(pos)? & 0x80 != 0 {
        pos += 1;
    }
    Some(pos + 1)
}

/// An element's header: its score, then its member's length.
fn header(score: f64, member_len: usize) -> Header {
    let mut h = Header::new();
    put_score(&mut h, score);
    put_u64(&mut h, member_len as u64);
    h
}

/// Writes `hdr` then `member` at `at`, shifting what follows.
fn insert_bytes(v: &mut Vec<u8>, at: usize, hdr: &[u8], member: &[u8]) {
    let n = hdr.len() + member.len();
    let old = v.len();
    v.reserve_exact(n);
    v.resize(old + n, 0);
    v.copy_within(at..old, at + n);
    v[at..at + hdr.len()].copy_from_slice(hdr);
    v[at + hdr.len()..at + n].copy_from_slice(member);
}

/// Byte-string equality that looks at the last byte before calling `memcmp`: members of
/// one set often share a prefix and a length (`user:1001`, `user:1002`), so most
/// mismatches are settled without the call.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.last() == b.last() && a == b
}

/// What [`ZPack::upsert`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Upsert {
    /// The member was present with this score (now replaced).
    Updated(f64),
    Added,
    /// The member is new and `room` refused it: nothing changed.
    Full,
}

impl ZPack {
    /// The element starting at byte `start`, if one does.
    #[inline]
    pub fn elem_at(&self, start: usize) -> Option<Elem<'_>> {
        let mut p = start;
        let score = get_score(&self.buf, &mut p)?;
        let (data, end) = self.member_span(p)?;
        Some(Elem {
            start,
            end,
            score,
            member: &self.buf[data..end],
        })
    }

    /// The member bytes `data..end` of the length-prefixed member at `p`.
    #[inline]
    fn member_span(&self, p: usize) -> Option<(usize, usize)> {
        let l = *self.buf.get(p)?;
        let (data, n) = if l < 0x80 {
            (p + 1, usize::from(l))
        } else {
            let mut q = p;
            let n = get_u64(&self.buf, &mut q)?;
            (q, usize::try_from(n).ok()?)
        };
        let end = data.checked_add(n).filter(|&e| e <= self.buf.len())?;
        Some((data, end))
    }

    /// The member bytes of the element at `start`, without decoding its score.
    #[inline]
    fn member_at(&self, start: usize) -> Option<(usize, usize)> {
        self.member_span(skip_score(&self.buf, start)?)
    }

    /// The score of the element at `start` (0 if there is none; callers pass starts they
    /// have just walked).
    fn score_at(&self, start: usize) -> f64 {
        let mut p = start;
        get_score(&self.buf, &mut p).unwrap_or(0.0)
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

    /// Element start offsets in order (no score decoding).
    pub fn starts(&self) -> impl Iterator<Item = usize> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let start = at;
            at = self.member_at(start)?.1;
            Some(start)
        })
    }

    /// Number of elements (counted: the count is not stored, which keeps ten small elements
    /// inside one allocator size class).
    pub fn len(&self) -> usize {
        self.starts().count()
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
        let mut at = 0;
        let mut rank = 0;
        loop {
            let (data, end) = self.member_at(at)?;
            if same(&self.buf[data..end], member) {
                return Some((rank, self.elem_at(at)?));
            }
            rank += 1;
            at = end;
        }
    }

    /// Byte offset of the element of 0-based `rank` (the buffer length past the end).
    pub fn offset_of(&self, rank: usize) -> usize {
        self.starts().nth(rank).unwrap_or(self.buf.len())
    }

    /// Rewrites the buffer through a `Vec`, keeping the allocation exact-size.
    fn edit(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        f(&mut v);
        self.buf = v.into_boxed_slice();
    }

    /// Sets `member`'s score, in one walk of the buffer and at most one rewrite. A new member
    /// is added only if `room(current element count)` says so.
    pub fn upsert(
        &mut self,
        score: f64,
        member: &[u8],
        room: impl FnOnce(usize) -> bool,
    ) -> Upsert {
        let mut p = 0;
        let mut count = 0;
        // Where the element goes: before the first other element that sorts after it.
        let mut at = None;
        let mut found = None;
        while let Some((data, end)) = self.member_at(p) {
            let m = &self.buf[data..end];
            if same(m, member) {
                found = Some((p, end, self.score_at(p)));
            } else if at.is_none()
                && cmp_key(self.score_at(p), m, score, member) == Ordering::Greater
            {
                at = Some(p);
            }
            count += 1;
            if found.is_some() && at.is_some() {
                break;
            }
            p = end;
        }
        let at = at.unwrap_or(self.buf.len());
        let h = header(score, member.len());
        let hdr = h.bytes();
        let hl = hdr.len();
        match found {
            Some((_, _, old)) if old == score => Upsert::Updated(old),
            Some((start, end, old)) => {
                let new_len = hl + member.len();
                let old_len = end - start;
                self.edit(|v| {
                    if new_len == old_len {
                        // Same size: slide the elements in between over, write in place.
                        let dst = if at > start {
                            v.copy_within(end..at, start);
                            at - old_len
                        } else {
                            v.copy_within(at..start, at + new_len);
                            at
                        };
                        v[dst..dst + hl].copy_from_slice(hdr);
                        v[dst + hl..dst + new_len].copy_from_slice(member);
                    } else {
                        v.drain(start..end);
                        let at = if at > start { at - old_len } else { at };
                        insert_bytes(v, at, hdr, member);
                    }
                });
                Upsert::Updated(old)
            }
            None if room(count) => {
                self.edit(|v| insert_bytes(v, at, hdr, member));
                Upsert::Added
            }
            None => Upsert::Full,
        }
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

    fn items(p: &ZPack) -> Vec<(f64, String)> {
        p.iter()
            .map(|e| (e.score, String::from_utf8_lossy(e.member).into_owned()))
            .collect()
    }

    fn add(p: &mut ZPack, score: f64, m: &str) -> Upsert {
        p.upsert(score, m.as_bytes(), |_| true)
    }

    #[test]
    fn scores_round_trip_in_both_forms() {
        let cases = [
            0.0,
            1.0,
            -1.0,
            9.0,
            31.0,
            -32.0,
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
            let mut h = Header::new();
            put_score(&mut h, s);
            let out = h.bytes();
            let mut p = 0;
            assert_eq!(get_score(out, &mut p), Some(s), "{s}");
            assert_eq!(p, out.len());
            assert_eq!(skip_score(out, 0), Some(out.len()), "{s}");
        }
        // Small integers take one byte, as in a listpack.
        for s in -16..=15 {
            let mut h = Header::new();
            put_score(&mut h, s as f64);
            assert_eq!(h.bytes().len(), 1, "{s}");
        }
        assert_eq!(get_score(&[RAW, 0, 0], &mut 0), None);
        assert_eq!(get_score(&[0x80], &mut 0), None);
        assert_eq!(skip_score(&[0x80], 0), None);
    }

    #[test]
    fn ties_order_by_member_bytes() {
        let mut p = ZPack::default();
        for m in ["b", "a", "ab", "", "B"] {
            assert_eq!(add(&mut p, 1.0, m), Upsert::Added);
        }
        p.upsert(1.0, b"\xff", |_| true);
        add(&mut p, 0.5, "zz");
        add(&mut p, -1.0, "zzz");
        let got: Vec<Vec<u8>> = p.iter().map(|e| e.member.to_vec()).collect();
        let want: Vec<&[u8]> = vec![b"zzz", b"zz", b"", b"B", b"a", b"ab", b"b", b"\xff"];
        assert_eq!(got, want);
        assert_eq!(p.len(), 8);
        assert_eq!(p.find(b"ab").map(|(r, e)| (r, e.score)), Some((5, 1.0)));
        assert!(p.find(b"nope").is_none());
        // A full pack refuses new members but still updates present ones.
        assert_eq!(p.upsert(9.0, b"new", |n| n < 8), Upsert::Full);
        assert_eq!(p.upsert(9.0, b"a", |n| n < 8), Upsert::Updated(1.0));
        assert_eq!(p.len(), 8);
        assert_eq!(p.find(b"a").map(|(r, _)| r), Some(7));
    }

    #[test]
    fn rescoring_moves_the_member_both_ways() {
        let mut p = ZPack::default();
        for (i, m) in ["a", "b", "c", "d"].iter().enumerate() {
            add(&mut p, i as f64, m);
        }
        // Same encoded size (in-place slide) and a different one (9-byte score), both ways.
        assert_eq!(add(&mut p, 2.5, "a"), Upsert::Updated(0.0));
        assert_eq!(add(&mut p, -7.125, "d"), Upsert::Updated(3.0));
        assert_eq!(add(&mut p, 1.0, "c"), Upsert::Updated(2.0)); // ties with b; after it
        assert_eq!(add(&mut p, 1.0, "b"), Upsert::Updated(1.0)); // unchanged
        let want = |v: &[(f64, &str)]| -> Vec<(f64, String)> {
            v.iter().map(|(s, m)| (*s, m.to_string())).collect()
        };
        assert_eq!(
            items(&p),
            want(&[(-7.125, "d"), (1.0, "b"), (1.0, "c"), (2.5, "a")])
        );
        assert_eq!(add(&mut p, 3.0, "d"), Upsert::Updated(-7.125));
        assert_eq!(add(&mut p, 0.0, "a"), Upsert::Updated(2.5));
        assert_eq!(add(&mut p, 2.0, "b"), Upsert::Updated(1.0));
        assert_eq!(add(&mut p, -1.0, "c"), Upsert::Updated(1.0));
        assert_eq!(
            items(&p),
            want(&[(-1.0, "c"), (0.0, "a"), (2.0, "b"), (3.0, "d")])
        );
        assert_eq!(p.offset_of(1), p.find(b"a").unwrap().1.start);
        assert_eq!(p.offset_of(4), p.memory());
        let (s, e) = (p.offset_of(1), p.offset_of(3));
        p.remove_bytes(s, e);
        assert_eq!(items(&p), want(&[(-1.0, "c"), (3.0, "d")]));
        // Exact-size buffer: ten 14-byte members with small integer scores take 160 bytes.
        let mut q = ZPack::default();
        for i in 0..10 {
            add(&mut q, i as f64, &format!("member-12345-{i}"));
        }
        assert_eq!(q.memory(), 160);
    }
}

#[cfg(test)]
mod bench {
    use super::*;
    use std::time::Instant;

    /// Rough per-operation costs on a 100-element pack (run with `--ignored --nocapture`
    /// in release mode when changing the layout).
    #[test]
    #[ignore]
    fn zpack_costs() {
        let mut p = ZPack::default();
        for i in 0..100 {
            p.upsert(i as f64, format!("m:{i:012}").as_bytes(), |_| true);
        }
        let n = 200_000;
        let t = Instant::now();
        let mut x = 0;
        for _ in 0..n {
            x += std::hint::black_box(&p).len();
        }
        println!("len: {:?}/op ({x})", t.elapsed() / n);
        let t = Instant::now();
        for i in 0..n {
            let m = format!("m:{:012}", i % 100);
            x += std::hint::black_box(&p)
                .find(m.as_bytes())
                .map_or(0, |r| r.0);
        }
        println!("find: {:?}/op ({x})", t.elapsed() / n);
        let t = Instant::now();
        for i in 0..n {
            let m = format!("m:{:012}", (i * 7) % 100);
            p.upsert(((i * 13) % 100) as f64, m.as_bytes(), |_| true);
        }
        println!("upsert int: {:?}/op", t.elapsed() / n);
        let t = Instant::now();
        for i in 0..n {
            let m = format!("m:{:012}", (i * 7) % 100);
            p.upsert(((i * 13) % 100) as f64 + 0.5, m.as_bytes(), |_| true);
        }
        println!("upsert frac: {:?}/op", t.elapsed() / n);
        let t = Instant::now();
        for _ in 0..n {
            x += std::hint::black_box(&p).iter().take(10).count();
        }
        println!("iter 10: {:?}/op ({x})", t.elapsed() / n);
    }
}
