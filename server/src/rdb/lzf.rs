//! LZF, the compression Redis applies to RDB strings longer than 20 bytes (`lzf_c.c`,
//! `lzf_d.c`). The format: a control byte below 32 starts a run of `ctrl + 1` literal bytes;
//! any other is a back reference of `(ctrl >> 5) + 2` bytes (with an extra length byte when
//! that field is 7) at distance `((ctrl & 31) << 8 | next byte) + 1`.
//!
//! The compressor finds matches through a hash of the next three bytes, as Redis's does; its
//! output may differ from Redis's byte for byte, but any LZF decoder reads it.

/// Longest back reference: 2 + 7 + 255.
const MAX_REF: usize = 264;
/// Farthest back reference: 13 bits of distance.
const MAX_OFF: usize = 1 << 13;
const MAX_LIT: usize = 32;
/// The match table's largest size (entries); small inputs get a table their size, so
/// compressing many short strings costs no more than reading them.
const MAX_HASH_BITS: u32 = 14;

/// The most a compressed byte can expand to (a 3-byte reference of 264 bytes), used to
/// refuse a claimed length no compressed input of that size could produce.
pub const MAX_RATIO: usize = 88;

fn hash3(b: &[u8], bits: u32) -> usize {
    let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
    (v.wrapping_mul(2_654_435_761) >> (32 - bits)) as usize
}

/// Compresses `input`; `None` when the result would not fit in `limit` bytes (Redis stores
/// the string uncompressed then).
pub fn compress(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    if u32::try_from(input.len()).is_err() {
        return None;
    }
    let mut out = Vec::with_capacity(limit.min(input.len()));
    let bits = (usize::BITS - input.len().leading_zeros()).clamp(4, MAX_HASH_BITS);
    let mut table = vec![0u32; 1 << bits];
    let mut lit_start = 0;
    let mut i = 0;
    let flush = |out: &mut Vec<u8>, from: usize, to: usize| {
        for chunk in input[from..to].chunks(MAX_LIT) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    while i + 2 < input.len() {
        let h = hash3(&input[i..], bits);
        // Table entries are stored as position + 1 so that 0 means empty.
        let cand = table[h] as usize;
        table[h] = (i + 1) as u32;
        if cand != 0 {
            let r = cand - 1;
            let off = i - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[i..i + 3] {
                let max = MAX_REF.min(input.len() - i);
                let mut len = 3;
                while len < max && input[r + len] == input[i + len] {
                    len += 1;
                }
                flush(&mut out, lit_start, i);
                let l = len - 2;
                if l < 7 {
                    out.push(((l as u8) << 5) | (off >> 8) as u8);
                } else {
                    out.push((7 << 5) | (off >> 8) as u8);
                    out.push((l - 7) as u8);
                }
                out.push((off & 0xff) as u8);
                if out.len() > limit {
                    return None;
                }
                i += len;
                lit_start = i;
                continue;
            }
        }
        i += 1;
    }
    flush(&mut out, lit_start, input.len());
    (out.len() <= limit).then_some(out)
}

/// Decompresses into exactly `len` bytes; `None` for any malformed input (a reference before
/// the start, output longer or shorter than `len`).
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > input.len().saturating_mul(MAX_RATIO) {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = input.get(i..i + ctrl + 1)?;
            if out.len() + run.len() > len {
                return None;
            }
            out.extend_from_slice(run);
            i += ctrl + 1;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(i)? as usize;
                i += 1;
            }
            n += 2;
            let off = ((ctrl & 31) << 8 | *input.get(i)? as usize) + 1;
            i += 1;
            if off > out.len() || out.len() + n > len {
                return None;
            }
            let start = out.len() - off;
            for k in 0..n {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_input() {
        let cases: Vec<Vec<u8>> = vec![
            b"abcdefgh".repeat(40),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            vec![b'x'; 10_000],
            b"abcabcabcabcabcabcabcabcabcabcabcabcabc".to_vec(),
        ];
        for c in cases {
            let z = compress(&c, c.len()).expect("compressible");
            assert!(z.len() < c.len());
            assert_eq!(decompress(&z, c.len()).as_deref(), Some(&c[..]));
            assert!(decompress(&z, c.len() + 1).is_none());
            for cut in 0..z.len() {
                let _ = decompress(&z[..cut], c.len());
            }
        }
        // Incompressible input does not fit its limit.
        let noise: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(97)).collect();
        assert!(compress(&noise, noise.len() - 4).is_none());
        // A reference before the start, and a claimed length no input could give.
        assert!(decompress(&[0x20, 0x05], 3).is_none());
        assert!(decompress(&[0x00, b'a'], 1 << 30).is_none());
    }

    /// Redis 7.0.15's compressed form of "abcdefgh" x 40 (from its DUMP).
    #[test]
    fn reads_redis_output() {
        let z = [
            0x08, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x61, 0xe0, 0xff, 0x07, 0xe1,
            0x24, 0x07, 0x01, 0x67, 0x68,
        ];
        assert_eq!(decompress(&z, 320), Some(b"abcdefgh".repeat(40)));
    }
}
