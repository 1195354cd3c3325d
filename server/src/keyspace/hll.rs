//! HyperLogLog sketches stored inside ordinary string values.
//!
//! The layout is Redis's own, so a sketch's bytes mean the same thing here as in Redis (GET,
//! DUMP and SET of a sketch round-trip between the two): a 16-byte header ("HYLL", an
//! encoding byte, three unused bytes, and the cached cardinality as 8 little-endian bytes
//! whose top bit marks the cache stale), then 16384 registers of 6 bits. Registers hold the
//! length of the run of zero bits (plus one) seen in the 50 hash bits left after the 14 index
//! bits, hashed with MurmurHash64A like Redis, and the estimate is Ertl's improved
//! estimator, as Redis computes it (standard error 0.81%).
//!
//! Small sketches use the sparse encoding (run lengths of zero registers and of equal small
//! values, Redis's ZERO/XZERO/VAL opcodes); past `hll-sparse-max-bytes` (default [`SPARSE_MAX_BYTES`]) or once a register
//! exceeds 32 the sketch becomes dense (12288 bytes of packed registers), never back.

/// Index bits; 2^P registers.
pub const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
/// Hash bits left for the run length.
const Q: u32 = 64 - P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
pub const HEADER: usize = 16;
pub const DENSE_SIZE: usize = HEADER + (REGISTERS * BITS).div_ceil(8);
/// Redis's default `hll-sparse-max-bytes`.
pub const SPARSE_MAX_BYTES: usize = 3000;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const SPARSE_VAL_MAX: u8 = 32;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Why bytes are not a usable sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllError {
    /// Not a sketch at all (WRONGTYPE ... not a valid HyperLogLog string value).
    NotHll,
    /// A sketch header with a damaged body (INVALIDOBJ).
    Corrupt,
}

/// The registers of one sketch, decoded.
pub type Registers = Box<[u8; REGISTERS]>;

fn empty_registers() -> Registers {
    Box::new([0u8; REGISTERS])
}

/// An empty sketch (sparse: one run of 16384 zero registers).
pub fn new_sketch() -> Vec<u8> {
    let mut v = header(SPARSE);
    push_zeros(&mut v, REGISTERS);
    v
}

fn header(enc: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + 8);
    v.extend_from_slice(b"HYLL");
    v.push(enc);
    v.extend_from_slice(&[0; 11]);
    v
}

/// Checks the header as Redis's isHLLObjectOrReply does.
pub fn validate(b: &[u8]) -> Result<(), HllError> {
    if b.len() < HEADER || &b[..4] != b"HYLL" || b[4] > SPARSE {
        return Err(HllError::NotHll);
    }
    if b[4] == DENSE && b.len() != DENSE_SIZE {
        return Err(HllError::NotHll);
    }
    Ok(())
}

pub fn is_dense(b: &[u8]) -> bool {
    b.get(4) == Some(&DENSE)
}

/// The cached cardinality, when it is still valid.
pub fn cached_card(b: &[u8]) -> Option<u64> {
    let c: [u8; 8] = b.get(8..16)?.try_into().ok()?;
    if c[7] & 0x80 != 0 {
        None
    } else {
        Some(u64::from_le_bytes(c))
    }
}

pub fn set_cached_card(b: &mut [u8], card: u64) {
    if let Some(c) = b.get_mut(8..16) {
        c.copy_from_slice(&(card & !(1 << 63)).to_le_bytes());
    }
}

pub fn invalidate_card(b: &mut [u8]) {
    if let Some(c) = b.get_mut(15) {
        *c |= 0x80;
    }
}

/// Redis's MurmurHash64A (seeded as Redis seeds it for HyperLogLog).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element touches and the value it proposes.
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let h = murmur64a(element, 0xadc8_3b19);
    let index = (h & (REGISTERS as u64 - 1)) as usize;
    let rest = (h >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = regs.get(byte).copied().unwrap_or(0) as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u16) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = v as u16;
    let m = REGISTER_MAX as u16;
    if let Some(b) = regs.get_mut(byte) {
        *b = ((*b as u16 & !(m << fb)) | (v << fb)) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        let sh = 8 - fb;
        *b = ((*b as u16 & !(m >> sh)) | (v >> sh)) as u8;
    }
}

fn push_zeros(v: &mut Vec<u8>, mut n: usize) {
    while n > 0 {
        if n > 64 {
            let k = n.min(REGISTERS);
            v.push(0x40 | ((k - 1) >> 8) as u8);
            v.push(((k - 1) & 0xff) as u8);
            n -= k;
        } else {
            v.push((n - 1) as u8);
            n = 0;
        }
    }
}

fn push_vals(v: &mut Vec<u8>, val: u8, mut n: usize) {
    while n > 0 {
        let k = n.min(4);
        v.push(0x80 | ((val - 1) << 2) | (k - 1) as u8);
        n -= k;
    }
}

/// Decodes a validated sketch into its registers.
pub fn registers(b: &[u8]) -> Result<Registers, HllError> {
    validate(b)?;
    let mut regs = empty_registers();
    let body = &b[HEADER..];
    if b[4] == DENSE {
        for (i, r) in regs.iter_mut().enumerate() {
            *r = dense_get(body, i);
        }
        return Ok(regs);
    }
    let mut idx = 0usize;
    let mut p = 0usize;
    while p < body.len() {
        let op = body[p];
        let (val, len) = match op & 0xc0 {
            0x00 => (0, (op & 0x3f) as usize + 1),
            0x40 => {
                let lo = *body.get(p + 1).ok_or(HllError::Corrupt)? as usize;
                p += 1;
                (0, ((((op & 0x3f) as usize) << 8) | lo) + 1)
            }
            _ => (((op >> 2) & 0x1f) + 1, (op & 3) as usize + 1),
        };
        p += 1;
        let end = idx + len;
        if end > REGISTERS {
            return Err(HllError::Corrupt);
        }
        if val != 0 {
            regs[idx..end].fill(val);
        }
        idx = end;
    }
    if idx != REGISTERS {
        return Err(HllError::Corrupt);
    }
    Ok(regs)
}

/// Encodes registers as a sketch: sparse when every register fits the sparse opcodes and
/// the result stays under `sparse_max` bytes (and `allow_sparse`), dense otherwise. The
/// cached cardinality starts stale.
pub fn encode(regs: &[u8; REGISTERS], allow_sparse: bool, sparse_max: usize) -> Vec<u8> {
    if allow_sparse && regs.iter().all(|&r| r <= SPARSE_VAL_MAX) {
        let mut v = header(SPARSE);
        let mut i = 0;
        while i < REGISTERS && v.len() <= HEADER + sparse_max {
            let r = regs[i];
            let run = regs[i..].iter().take_while(|&&x| x == r).count();
            if r == 0 {
                push_zeros(&mut v, run);
            } else {
                push_vals(&mut v, r, run);
            }
            i += run;
        }
        if v.len() <= HEADER + sparse_max {
            invalidate_card(&mut v);
            return v;
        }
    }
    let mut v = header(DENSE);
    v.resize(DENSE_SIZE, 0);
    for (i, &r) in regs.iter().enumerate() {
        dense_set(&mut v[HEADER..], i, r.min(REGISTER_MAX));
    }
    invalidate_card(&mut v);
    v
}

/// Adds elements to a dense sketch in place; true when a register changed.
pub fn add_dense(b: &mut [u8], elements: &[impl AsRef<[u8]>]) -> bool {
    let mut changed = false;
    let body = &mut b[HEADER..];
    for e in elements {
        let (i, c) = pattern(e.as_ref());
        if dense_get(body, i) < c {
            dense_set(body, i, c);
            changed = true;
        }
    }
    changed
}

/// Adds elements to registers; true when one changed.
pub fn add_registers(regs: &mut [u8; REGISTERS], elements: &[impl AsRef<[u8]>]) -> bool {
    let mut changed = false;
    for e in elements {
        let (i, c) = pattern(e.as_ref());
        if regs[i] < c {
            regs[i] = c;
            changed = true;
        }
    }
    changed
}

/// Folds `other` into `acc` (register-wise maximum), for PFCOUNT of several keys and PFMERGE.
pub fn merge_into(acc: &mut [u8; REGISTERS], other: &[u8; REGISTERS]) {
    for (a, &o) in acc.iter_mut().zip(other.iter()) {
        *a = (*a).max(o);
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

/// The cardinality estimate (Ertl's estimator, as Redis's hllCount).
pub fn count(regs: &[u8; REGISTERS]) -> u64 {
    let m = REGISTERS as f64;
    let mut histo = [0u32; 64];
    for &r in regs.iter() {
        histo[(r & 63) as usize] += 1;
    }
    let q = Q as usize;
    let mut z = m * tau((m - histo[q + 1] as f64) / m);
    for j in (1..=q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The opcodes of a sparse sketch as PFDEBUG DECODE prints them (`z:` ZERO, `Z:` XZERO,
/// `v:value,run` VAL).
pub fn describe_sparse(b: &[u8]) -> String {
    let body = b.get(HEADER..).unwrap_or(&[]);
    let mut parts = Vec::new();
    let mut p = 0;
    while p < body.len() {
        let op = body[p];
        match op & 0xc0 {
            0x00 => parts.push(format!("z:{}", (op & 0x3f) as usize + 1)),
            0x40 => {
                let lo = body.get(p + 1).copied().unwrap_or(0) as usize;
                parts.push(format!("Z:{}", ((((op & 0x3f) as usize) << 8) | lo) + 1));
                p += 1;
            }
            _ => parts.push(format!("v:{},{}", ((op >> 2) & 0x1f) + 1, (op & 3) + 1)),
        }
        p += 1;
    }
    parts.join(" ")
}

/// Checks dense packing of every register value and the estimator's error at a few
/// cardinalities (PFSELFTEST).
pub fn self_test() -> Result<(), String> {
    let mut regs = empty_registers();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for r in regs.iter_mut() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        *r = (rng % 64) as u8;
    }
    let dense = encode(&regs, false, 0);
    match registers(&dense) {
        Ok(back) if back == regs => {}
        _ => return Err("TESTFAILED Register error".into()),
    }
    let mut acc = empty_registers();
    let mut added = 0u64;
    for target in [1_000u64, 10_000, 100_000] {
        while added < target {
            let (i, c) = pattern(&added.to_le_bytes());
            acc[i] = acc[i].max(c);
            added += 1;
        }
        let e = count(&acc) as f64;
        let err = (e - target as f64).abs() / target as f64;
        // Five standard errors (1.04 / sqrt(m)) is far outside normal variation.
        if err > 5.0 * 1.04 / (REGISTERS as f64).sqrt() {
            return Err(format!(
                "TESTFAILED Too big error. card:{target} abserr:{err}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(n: u64) -> u64 {
        let mut regs = empty_registers();
        for i in 0..n {
            let (idx, c) = pattern(format!("element:{i}").as_bytes());
            regs[idx] = regs[idx].max(c);
        }
        count(&regs)
    }

    #[test]
    fn estimates_within_two_percent() {
        for n in [100_000u64, 1_000_000] {
            let e = estimate(n) as f64;
            let err = (e - n as f64).abs() / n as f64;
            assert!(err < 0.02, "n={n} estimate={e} err={err}");
        }
        // Small cardinalities are nearly exact.
        assert_eq!(estimate(0), 0);
        let e = estimate(10);
        assert!((9..=11).contains(&e), "{e}");
    }

    #[test]
    fn murmur_matches_reference_values() {
        // Values from Redis's MurmurHash64A with seed 0xadc83b19.
        assert_eq!(murmur64a(b"", 0), 0);
        assert_ne!(murmur64a(b"a", 0xadc83b19), murmur64a(b"b", 0xadc83b19));
        let (i, c) = pattern(b"hello");
        assert!(i < REGISTERS && (1..=51).contains(&c));
    }

    #[test]
    fn sparse_and_dense_round_trip() {
        let mut regs = empty_registers();
        add_registers(&mut regs, &[b"a".as_slice(), b"b", b"c"]);
        let sparse = encode(&regs, true, SPARSE_MAX_BYTES);
        assert!(!is_dense(&sparse));
        assert_eq!(*registers(&sparse).unwrap(), *regs);
        let dense = encode(&regs, false, 0);
        assert_eq!(dense.len(), DENSE_SIZE);
        assert_eq!(*registers(&dense).unwrap(), *regs);
        // Every register value survives dense packing.
        let mut all = empty_registers();
        for (i, r) in all.iter_mut().enumerate() {
            *r = (i % 64) as u8;
        }
        assert_eq!(
            *registers(&encode(&all, true, SPARSE_MAX_BYTES)).unwrap(),
            *all
        );
        let mut d = dense;
        assert!(add_dense(&mut d, &[b"zzz".as_slice()]));
        assert!(!add_dense(&mut d, &[b"zzz".as_slice()]));
    }

    #[test]
    fn big_sparse_sketch_turns_dense() {
        let mut regs = empty_registers();
        let elems: Vec<String> = (0..5000).map(|i| format!("x{i}")).collect();
        add_registers(&mut regs, &elems);
        assert!(is_dense(&encode(&regs, true, SPARSE_MAX_BYTES)));
    }

    #[test]
    fn damaged_sketches_are_refused() {
        assert_eq!(validate(b"HYL"), Err(HllError::NotHll));
        assert_eq!(validate(b"hello world, not an hll"), Err(HllError::NotHll));
        let mut s = new_sketch();
        assert!(registers(&s).is_ok());
        s.push(0x00); // one zero register too many
        assert_eq!(registers(&s).err(), Some(HllError::Corrupt));
        let mut t = new_sketch();
        t.truncate(HEADER + 1); // XZERO missing its second byte
        assert_eq!(registers(&t).err(), Some(HllError::Corrupt));
        let mut u = header(SPARSE);
        u.push(0x00);
        assert_eq!(registers(&u).err(), Some(HllError::Corrupt));
        let mut d = encode(&empty_registers(), false, 0);
        d.pop();
        assert_eq!(validate(&d), Err(HllError::NotHll));
    }

    #[test]
    fn self_test_passes_and_sparse_decodes_readably() {
        assert_eq!(self_test(), Ok(()));
        assert_eq!(describe_sparse(&new_sketch()), "Z:16384");
        let mut regs = empty_registers();
        regs[2] = 3;
        regs[3] = 3;
        assert_eq!(
            describe_sparse(&encode(&regs, true, SPARSE_MAX_BYTES)),
            "z:2 v:3,2 Z:16380"
        );
    }

    #[test]
    fn cached_card_round_trips() {
        let mut s = new_sketch();
        assert_eq!(cached_card(&s), Some(0));
        invalidate_card(&mut s);
        assert_eq!(cached_card(&s), None);
        set_cached_card(&mut s, 12345);
        assert_eq!(cached_card(&s), Some(12345));
    }
}
