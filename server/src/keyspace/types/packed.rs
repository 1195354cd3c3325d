//! `Packed`: many short byte strings in one allocation (the role Redis's listpack plays).
//!
//! Small hashes and sets are the common case in caches (a user record of ten fields, a tag
//! set of five members). Storing each element as its own 24-byte slot, let alone its own heap
//! block, costs several times the data. Here every element is a LEB128 length followed by its
//! bytes, back to back in one exact-size buffer; lookups are linear scans, which for the few dozen
//! elements a compact encoding holds is as fast as hashing.

/// A sequence of byte strings packed into one buffer. The buffer is an exact-size boxed
/// slice and the element count is not stored: the whole value is 16 bytes, and counting the
/// few elements a compact encoding holds costs no more than the linear lookups it already
/// does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packed {
    buf: Box<[u8]>,
}

/// One element's place in the buffer: `start..end` spans its header and bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub data: usize,
    pub end: usize,
}

/// Appends `n` as LEB128 (also the length prefix of DUMP payloads).
pub fn put_len(out: &mut Vec<u8>, mut n: usize) {
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

/// Reads a LEB128 length at `*pos`, advancing it; `None` on truncated or oversized input.
#[inline]
pub fn get_len(input: &[u8], pos: &mut usize) -> Option<usize> {
    // Almost every element of a compact encoding is under 128 bytes: one byte, read inline
    // (lookups walk every element before theirs, so this runs once per element per command).
    let b = *input.get(*pos)?;
    if b < 0x80 {
        *pos += 1;
        return Some(b as usize);
    }
    get_len_long(input, pos)
}

/// [`get_len`]'s multi-byte case.
#[cold]
#[inline(never)]
fn get_len_long(input: &[u8], pos: &mut usize) -> Option<usize> {
    let mut n: usize = 0;
    let mut shift = 0u32;
    loop {
        let b = *input.get(*pos)?;
        *pos += 1;
        n |= ((b & 0x7f) as usize).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
        if shift > 56 {
            return None;
        }
    }
}

/// Reads a length-prefixed byte string at `*pos`, advancing it.
#[inline]
pub fn get_bytes<'a>(input: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let n = get_len(input, pos)?;
    let end = pos.checked_add(n).filter(|&e| e <= input.len())?;
    let b = &input[*pos..end];
    *pos = end;
    Some(b)
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

fn len_size(mut n: usize) -> usize {
    let mut s = 1;
    while n >= 0x80 {
        n >>= 7;
        s += 1;
    }
    s
}

impl Packed {
    /// Number of elements (counted).
    pub fn len(&self) -> usize {
        self.spans().count()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Heap bytes held.
    pub fn memory(&self) -> usize {
        self.buf.len()
    }

    /// Rewrites the buffer through a `Vec`, keeping the allocation exact-size.
    fn edit(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        f(&mut v);
        self.buf = v.into_boxed_slice();
    }

    /// Packs many elements with one allocation (each [`Packed::push`] reallocates).
    pub fn from_items<'a>(items: impl Iterator<Item = &'a [u8]>) -> Packed {
        let mut v = Vec::new();
        for b in items {
            put_len(&mut v, b.len());
            v.extend_from_slice(b);
        }
        Packed {
            buf: v.into_boxed_slice(),
        }
    }

    /// Appends an element.
    pub fn push(&mut self, b: &[u8]) {
        self.edit(|v| {
            v.reserve_exact(len_size(b.len()) + b.len());
            put_len(v, b.len());
            v.extend_from_slice(b);
        });
    }

    /// The element starting at byte `start`, if the buffer holds one there.
    pub fn span_at(&self, start: usize) -> Option<Span> {
        let mut i = start;
        let n = get_len(&self.buf, &mut i)?;
        let end = i.checked_add(n).filter(|&e| e <= self.buf.len())?;
        Some(Span {
            start,
            data: i,
            end,
        })
    }

    /// The bytes of an element.
    pub fn bytes(&self, s: Span) -> &[u8] {
        self.buf.get(s.data..s.end).unwrap_or(&[])
    }

    /// Element spans in order.
    pub fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let s = self.span_at(at)?;
            at = s.end;
            Some(s)
        })
    }

    /// Element bytes in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans().map(move |s| self.bytes(s))
    }

    /// Removes the bytes `start..end`, which must hold whole elements.
    pub fn remove(&mut self, start: usize, end: usize) {
        if start <= end && end <= self.buf.len() {
            self.edit(|v| {
                v.drain(start..end);
            });
        }
    }

    /// Replaces the element at `s` with `b`.
    pub fn replace(&mut self, s: Span, b: &[u8]) {
        if s.end > self.buf.len() || s.start > s.end {
            return;
        }
        // Written in place (no temporary for the encoded element): HSET of an existing
        // field lands here on every call.
        let mut hbuf = [0u8; 10];
        let hlen = {
            let mut n = b.len();
            let mut k = 0;
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                hbuf[k] = if n == 0 { byte } else { byte | 0x80 };
                k += 1;
                if n == 0 || k == hbuf.len() {
                    break k;
                }
            }
        };
        let with = hlen + b.len();
        self.edit(|v| {
            let old = v.len();
            let new = old - (s.end - s.start) + with;
            if new > old {
                v.reserve_exact(new - old);
                v.resize(new, 0);
                v.copy_within(s.end..old, s.start + with);
            } else {
                v.copy_within(s.end..old, s.start + with);
                v.truncate(new);
            }
            v[s.start..s.start + hlen].copy_from_slice(&hbuf[..hlen]);
            v[s.start + hlen..s.start + with].copy_from_slice(b);
        });
    }

    /// Appends two elements with one reallocation (a hash's field and value).
    pub fn push_pair(&mut self, a: &[u8], b: &[u8]) {
        self.edit(|v| {
            v.reserve_exact(len_size(a.len()) + a.len() + len_size(b.len()) + b.len());
            put_len(v, a.len());
            v.extend_from_slice(a);
            put_len(v, b.len());
            v.extend_from_slice(b);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_push_iterate_replace_remove() {
        let mut p = Packed::default();
        let long = vec![7u8; 300];
        p.push(b"a");
        p.push(&long);
        p.push(b"");
        assert_eq!(p.len(), 3);
        let items: Vec<&[u8]> = p.iter().collect();
        assert_eq!(items, vec![&b"a"[..], &long[..], &b""[..]]);
        let s: Vec<Span> = p.spans().collect();
        p.replace(s[0], b"xyz");
        assert_eq!(p.iter().next(), Some(&b"xyz"[..]));
        let s: Vec<Span> = p.spans().collect();
        p.remove(s[1].start, s[1].end);
        let items: Vec<&[u8]> = p.iter().collect();
        assert_eq!(items, vec![&b"xyz"[..], &b""[..]]);
        assert!(p.span_at(1000).is_none());
    }
}
