//! Listpacks (Redis 7's `listpack.c`): the blob inside RDB list nodes, small hashes and small
//! sorted sets (and, from RDB 11, small sets). Layout: total bytes (u32 LE), element count
//! (u16 LE, 65535 when unknown), entries, 0xFF. Each entry is an encoding byte, its data, and
//! a "backlen" (the entry's size, 1 to 5 bytes) for walking backwards.
//!
//! Strings that read as integers (Redis's `string2ll` rules) are stored as integers, in the
//! smallest of 7/13/16/24/32/64 bits, as Redis's `lpAppend` does.

/// One element as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Item<'_> {
    /// The element's bytes (integers in decimal), into `buf` when it has to be rendered.
    pub fn bytes<'b>(&'b self, buf: &'b mut itoa::Buffer) -> &'b [u8] {
        match self {
            Item::Int(n) => buf.format(*n).as_bytes(),
            Item::Str(s) => s,
        }
    }
}

const HEADER: usize = 6;
const EOF: u8 = 0xff;

/// Builds a listpack; [`Builder::finish`] writes the header.
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            buf: vec![0; HEADER],
            count: 0,
        }
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

impl Builder {
    /// Bytes the finished listpack would take so far (quicklist nodes are cut by size).
    pub fn len(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes an element would add.
    pub fn entry_size(v: &[u8]) -> usize {
        let l = match crate::util::parse_i64_strict(v) {
            Some(n) => int_size(n),
            None => str_header(v.len()) + v.len(),
        };
        l + backlen_size(l)
    }

    pub fn push(&mut self, v: &[u8]) {
        let start = self.buf.len();
        match crate::util::parse_i64_strict(v) {
            Some(n) => self.put_int(n),
            None => {
                let l = v.len();
                if l < 64 {
                    self.buf.push(0x80 | l as u8);
                } else if l < 4096 {
                    self.buf.push(0xe0 | (l >> 8) as u8);
                    self.buf.push((l & 0xff) as u8);
                } else {
                    self.buf.push(0xf0);
                    self.buf.extend_from_slice(&(l as u32).to_le_bytes());
                }
                self.buf.extend_from_slice(v);
            }
        }
        let l = self.buf.len() - start;
        self.put_backlen(l);
        self.count += 1;
    }

    /// Appends an integer element (Redis's `lpAppendInteger`).
    pub fn push_int(&mut self, n: i64) {
        let start = self.buf.len();
        self.put_int(n);
        let l = self.buf.len() - start;
        self.put_backlen(l);
        self.count += 1;
    }

    fn put_int(&mut self, n: i64) {
        let b = &mut self.buf;
        if (0..=127).contains(&n) {
            b.push(n as u8);
        } else if (-4096..=4095).contains(&n) {
            let u = (n as u64) & 0x1fff;
            b.push(0xc0 | (u >> 8) as u8);
            b.push((u & 0xff) as u8);
        } else if (-32768..=32767).contains(&n) {
            b.push(0xf1);
            b.extend_from_slice(&(n as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&n) {
            b.push(0xf2);
            b.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
        } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&n) {
            b.push(0xf3);
            b.extend_from_slice(&(n as i32).to_le_bytes());
        } else {
            b.push(0xf4);
            b.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn put_backlen(&mut self, l: usize) {
        let b = &mut self.buf;
        match backlen_size(l) {
            1 => b.push(l as u8),
            2 => b.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]),
            3 => b.extend_from_slice(&[
                (l >> 14) as u8,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]),
            4 => b.extend_from_slice(&[
                (l >> 21) as u8,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]),
            _ => b.extend_from_slice(&[
                (l >> 28) as u8,
                ((l >> 21) & 127) as u8 | 128,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]),
        }
    }

    /// The finished blob.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

fn int_size(n: i64) -> usize {
    match n {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        _ if i32::try_from(n).is_ok() => 5,
        _ => 9,
    }
}

fn str_header(l: usize) -> usize {
    match l {
        0..=63 => 1,
        64..=4095 => 2,
        _ => 5,
    }
}

/// Sign-extends the low `bits` of `u`.
fn signed(u: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((u << shift) as i64) >> shift
}

/// Every element of a listpack blob, checked as it is read: the header's size must be the
/// blob's, every entry must lie inside it, backlens must match, and it must end at 0xFF.
/// `None` for any violation.
pub fn items(blob: &[u8]) -> Option<Vec<Item<'_>>> {
    if blob.len() < HEADER + 1 {
        return None;
    }
    let total = u32::from_le_bytes(blob[..4].try_into().ok()?) as usize;
    if total != blob.len() {
        return None;
    }
    let count = u16::from_le_bytes(blob[4..6].try_into().ok()?) as usize;
    let mut out = Vec::with_capacity(count.min(blob.len()));
    let mut p = HEADER;
    loop {
        let b = *blob.get(p)?;
        if b == EOF {
            break;
        }
        let start = p;
        let get = |from: usize, n: usize| blob.get(from..from.checked_add(n)?);
        let item = if b & 0x80 == 0 {
            p += 1;
            Item::Int(i64::from(b))
        } else if b & 0xc0 == 0x80 {
            let l = usize::from(b & 0x3f);
            let s = get(p + 1, l)?;
            p += 1 + l;
            Item::Str(s)
        } else if b & 0xe0 == 0xc0 {
            let lo = *blob.get(p + 1)?;
            p += 2;
            Item::Int(signed(u64::from(b & 0x1f) << 8 | u64::from(lo), 13))
        } else if b & 0xf0 == 0xe0 {
            let l = usize::from(b & 0x0f) << 8 | usize::from(*blob.get(p + 1)?);
            let s = get(p + 2, l)?;
            p += 2 + l;
            Item::Str(s)
        } else if b == 0xf0 {
            let l = u32::from_le_bytes(get(p + 1, 4)?.try_into().ok()?) as usize;
            let s = get(p + 5, l)?;
            p += 5 + l;
            Item::Str(s)
        } else {
            let (width, bits) = match b {
                0xf1 => (2, 16),
                0xf2 => (3, 24),
                0xf3 => (4, 32),
                0xf4 => (8, 64),
                _ => return None,
            };
            let raw = get(p + 1, width)?;
            let mut le = [0u8; 8];
            le[..width].copy_from_slice(raw);
            p += 1 + width;
            Item::Int(signed(u64::from_le_bytes(le), bits))
        };
        out.push(item);
        check_backlen(blob, start, &mut p)?;
    }
    if p + 1 != blob.len() || (count != usize::from(u16::MAX) && count != out.len()) {
        return None;
    }
    Some(out)
}

/// Checks the backlen after the entry `start..*p` and moves `p` past it.
fn check_backlen(blob: &[u8], start: usize, p: &mut usize) -> Option<()> {
    let l = *p - start;
    let n = backlen_size(l);
    let bytes = blob.get(*p..*p + n)?;
    let mut v = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        v = (v << 7) | usize::from(b & 127);
        // Every byte but the first carries the continuation bit.
        if (i > 0) != (b & 128 != 0) {
            return None;
        }
    }
    if v != l {
        return None;
    }
    *p += n;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_entry_width() {
        let long = vec![b'y'; 5000];
        let mid = vec![b'm'; 300];
        let vals: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"-4097",
            b"32767",
            b"-32768",
            b"8388607",
            b"-8388608",
            b"2147483647",
            b"-2147483648",
            b"2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"",
            b"abc",
            b"007",
            b"-0",
            &mid,
            &long,
        ];
        let mut b = Builder::default();
        let mut size = HEADER + 1;
        for v in &vals {
            size += Builder::entry_size(v);
            b.push(v);
        }
        assert_eq!(b.len(), size);
        let blob = b.finish();
        assert_eq!(blob.len(), size);
        let got = items(&blob).expect("valid");
        assert_eq!(got.len(), vals.len());
        for (it, v) in got.iter().zip(&vals) {
            let mut buf = itoa::Buffer::new();
            assert_eq!(it.bytes(&mut buf), *v);
        }
        assert_eq!(got[2], Item::Int(128));
        assert_eq!(got[18], Item::Str(b"007"));
        for cut in 0..blob.len() {
            assert!(items(&blob[..cut]).is_none());
        }
        let mut bad = blob.clone();
        bad[7] ^= 0x40; // a backlen
        assert!(items(&bad).is_none() || items(&bad) != items(&blob));
    }
}
