//! The encodings older RDB files and DUMP payloads carry, read only (Redis 7 converts them on
//! load and never writes them): ziplists (Redis 3.2 to 6.2 small lists, hashes and sorted
//! sets, and the nodes of quicklist v1) and zipmaps (hashes before Redis 2.6).

use super::listpack::Item;

/// Every element of a ziplist blob (`zlbytes u32, zltail u32, zllen u16, entries, 0xFF`),
/// each entry bounds-checked; `None` for any violation.
pub fn items(blob: &[u8]) -> Option<Vec<Item<'_>>> {
    const HEADER: usize = 10;
    if blob.len() < HEADER + 1 {
        return None;
    }
    let total = u32::from_le_bytes(blob[..4].try_into().ok()?) as usize;
    let count = u16::from_le_bytes(blob[8..10].try_into().ok()?) as usize;
    if total != blob.len() {
        return None;
    }
    let get = |from: usize, n: usize| blob.get(from..from.checked_add(n)?);
    let mut out = Vec::with_capacity(count.min(blob.len()));
    let mut p = HEADER;
    loop {
        let first = *blob.get(p)?;
        if first == 0xff {
            break;
        }
        // The previous entry's length: one byte, or 0xFE and four.
        p += if first < 254 { 1 } else { 5 };
        let b = *blob.get(p)?;
        let item = match b >> 6 {
            0 => {
                let l = usize::from(b & 0x3f);
                let s = get(p + 1, l)?;
                p += 1 + l;
                Item::Str(s)
            }
            1 => {
                let l = usize::from(b & 0x3f) << 8 | usize::from(*blob.get(p + 1)?);
                let s = get(p + 2, l)?;
                p += 2 + l;
                Item::Str(s)
            }
            2 => {
                if b != 0x80 {
                    return None;
                }
                let l = u32::from_be_bytes(get(p + 1, 4)?.try_into().ok()?) as usize;
                let s = get(p + 5, l)?;
                p += 5 + l;
                Item::Str(s)
            }
            _ => {
                let (width, bits) = match b {
                    0xc0 => (2, 16),
                    0xd0 => (4, 32),
                    0xe0 => (8, 64),
                    0xf0 => (3, 24),
                    0xfe => (1, 8),
                    0xf1..=0xfd => {
                        p += 1;
                        out.push(Item::Int(i64::from(b & 0x0f) - 1));
                        continue;
                    }
                    _ => return None,
                };
                let raw = get(p + 1, width)?;
                let mut le = [0u8; 8];
                le[..width].copy_from_slice(raw);
                p += 1 + width;
                let shift = 64 - bits;
                Item::Int(((u64::from_le_bytes(le) << shift) as i64) >> shift)
            }
        };
        out.push(item);
    }
    if p + 1 != blob.len() || (count != usize::from(u16::MAX) && count != out.len()) {
        return None;
    }
    Some(out)
}

/// The (field, value) pairs of a zipmap blob; `None` for any violation.
pub fn zipmap_pairs(blob: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut p = 1; // the pair count (254: unknown), not trusted
    let mut out = Vec::new();
    let len_at = |p: &mut usize| -> Option<Option<usize>> {
        let b = *blob.get(*p)?;
        *p += 1;
        Some(match b {
            0xff => None,
            254 => {
                let l = u32::from_le_bytes(blob.get(*p..*p + 4)?.try_into().ok()?);
                *p += 4;
                Some(l as usize)
            }
            l => Some(usize::from(l)),
        })
    };
    while let Some(kl) = len_at(&mut p)? {
        let k = blob.get(p..p.checked_add(kl)?)?;
        p += kl;
        let vl = len_at(&mut p)??;
        let free = usize::from(*blob.get(p)?);
        p += 1;
        let v = blob.get(p..p.checked_add(vl)?)?;
        p = p.checked_add(vl)?.checked_add(free)?;
        out.push((k, v));
    }
    (p == blob.len()).then_some(out)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A ziplist as Redis 6 writes one (for tests of the readers).
    pub fn build(items: &[Item]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = 10;
        for it in items {
            let start = body.len();
            tail = 10 + start;
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(0xfe);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match *it {
                Item::Int(n @ 0..=12) => body.push(0xf1 + n as u8),
                Item::Int(n) if i8::try_from(n).is_ok() => body.extend([0xfe, n as u8]),
                Item::Int(n) if i16::try_from(n).is_ok() => {
                    body.push(0xc0);
                    body.extend_from_slice(&(n as i16).to_le_bytes());
                }
                Item::Int(n) if (-(1 << 23)..(1 << 23)).contains(&n) => {
                    body.push(0xf0);
                    body.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
                }
                Item::Int(n) if i32::try_from(n).is_ok() => {
                    body.push(0xd0);
                    body.extend_from_slice(&(n as i32).to_le_bytes());
                }
                Item::Int(n) => {
                    body.push(0xe0);
                    body.extend_from_slice(&n.to_le_bytes());
                }
                Item::Str(s) if s.len() < 64 => {
                    body.push(s.len() as u8);
                    body.extend_from_slice(s);
                }
                Item::Str(s) if s.len() < 16384 => {
                    body.extend([0x40 | (s.len() >> 8) as u8, (s.len() & 0xff) as u8]);
                    body.extend_from_slice(s);
                }
                Item::Str(s) => {
                    body.push(0x80);
                    body.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    body.extend_from_slice(s);
                }
            }
            prev = body.len() - start;
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
        out.extend_from_slice(&(tail as u32).to_le_bytes());
        out.extend_from_slice(&(items.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xff);
        out
    }

    #[test]
    fn reads_every_ziplist_encoding() {
        let long = vec![b'q'; 300];
        let big = vec![b'r'; 20000];
        let its = vec![
            Item::Int(0),
            Item::Int(12),
            Item::Int(13),
            Item::Int(-128),
            Item::Int(300),
            Item::Int(-8_000_000),
            Item::Int(2_000_000_000),
            Item::Int(i64::MIN),
            Item::Str(b""),
            Item::Str(&long),
            Item::Str(&big),
            Item::Str(b"x"),
        ];
        let blob = build(&its);
        assert_eq!(items(&blob), Some(its));
        for cut in 0..blob.len() {
            assert!(items(&blob[..cut]).is_none());
        }
    }

    #[test]
    fn reads_zipmaps() {
        // {"a": "1", "key": "vv"} with one free byte after "vv".
        let blob = [
            2, 1, b'a', 1, 0, b'1', 3, b'k', b'e', b'y', 2, 1, b'v', b'v', 0, 0xff,
        ];
        assert_eq!(
            zipmap_pairs(&blob),
            Some(vec![(&b"a"[..], &b"1"[..]), (&b"key"[..], &b"vv"[..])])
        );
        for cut in 0..blob.len() {
            assert!(zipmap_pairs(&blob[..cut]).is_none());
        }
    }
}
