//! Hash slots: CRC16/XMODEM of the key (or of its `{hash tag}`) modulo 16384.
//!
//! The CRC runs on every key of every command (the keyspace is indexed by slot, and cluster
//! routing asks too), twice for a pipelined command (the batch's prefetch, then the lookup).
//! The textbook byte-at-a-time table loop is one serial chain of a table load, a shift and
//! an xor per byte: a profile of pipelined INCRs over 100k spread keys put 60% of the key
//! lookup's own time in it. Eight bytes at a time with eight tables ("slicing-by-8", as
//! Redis's `crc64.c` does for its CRC64) makes the eight loads independent.

/// Number of hash slots, as in Redis Cluster.
pub const SLOTS: usize = 16384;

/// The part of a key that is hashed: the text between the first `{` and the next `}` when that
/// is non-empty, otherwise the whole key (Redis Cluster's rule, byte for byte).
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(close) = key[open + 1..].iter().position(|&b| b == b'}') {
            if close > 0 {
                return &key[open + 1..open + 1 + close];
            }
        }
    }
    key
}

/// The slot a key belongs to.
#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS as u16 - 1)
}

/// CRC16/XMODEM's generator polynomial (x^16 + x^12 + x^5 + 1).
const POLY: u16 = 0x1021;

/// `TABLES[k][b]`: the CRC register after byte `b` followed by `k` zero bytes, from a zero
/// register. Table 0 is the classic byte-at-a-time table; 4 KiB in all.
static TABLES: [[u16; 256]; 8] = tables();

const fn tables() -> [[u16; 256]; 8] {
    let mut t = [[0u16; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut crc = (b as u16) << 8;
        let mut i = 0;
        while i < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            i += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev << 8) ^ t[0][(prev >> 8) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection, no final xor): what
/// Redis Cluster hashes keys with. The register's two bytes are folded into the first two
/// bytes of each 8-byte block, whose bytes then index the tables independently.
pub fn crc16(data: &[u8]) -> u16 {
    let t = &TABLES;
    let mut crc: u16 = 0;
    let mut blocks = data.chunks_exact(8);
    for b in &mut blocks {
        let x0 = b[0] ^ (crc >> 8) as u8;
        let x1 = b[1] ^ crc as u8;
        crc = t[7][x0 as usize]
            ^ t[6][x1 as usize]
            ^ t[5][b[2] as usize]
            ^ t[4][b[3] as usize]
            ^ t[3][b[4] as usize]
            ^ t[2][b[5] as usize]
            ^ t[1][b[6] as usize]
            ^ t[0][b[7] as usize];
    }
    for &b in blocks.remainder() {
        crc = (crc << 8) ^ t[0][((crc >> 8) as u8 ^ b) as usize];
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_redis_check_value_and_slots() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
    }

    /// The sliced CRC equals the byte-at-a-time reference (the `crc16` crate) at every
    /// length around the 8-byte blocks and on every byte value.
    #[test]
    fn sliced_crc16_equals_the_reference() {
        let reference = |d: &[u8]| crc16::State::<crc16::XMODEM>::calculate(d);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..200 {
            for _ in 0..20 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                assert_eq!(crc16(&data), reference(&data), "{data:?}");
            }
        }
        for b in 0..=255u8 {
            for len in [1, 8, 9, 17] {
                let data = vec![b; len];
                assert_eq!(crc16(&data), reference(&data));
            }
        }
    }
}
