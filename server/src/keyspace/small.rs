//! `SmallBytes`: a byte string that stores up to 22 bytes inline.
//!
//! Most cache keys and many values are short. Keeping them inside the entry instead of in a
//! separate heap block saves an allocation (and its allocator rounding) per key, which is the
//! larger part of per-key overhead for small strings. The type is 24 bytes either way.

use std::fmt;

const INLINE: usize = 22;

/// A compact, immutable-length byte string (inline when short, boxed otherwise). Equality
/// and hashing go by content: a short string may also be boxed (see [`SmallBytes::boxed`]).
#[derive(Clone)]
pub enum SmallBytes {
    /// Short strings live inside the value itself.
    Inline { len: u8, data: [u8; INLINE] },
    /// Longer strings own an exact-size heap block.
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub fn new(b: &[u8]) -> Self {
        if b.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..b.len()].copy_from_slice(b);
            SmallBytes::Inline {
                len: b.len() as u8,
                data,
            }
        } else {
            SmallBytes::Heap(b.into())
        }
    }

    /// Keeps `v` in its own heap block whatever its length: a string edited in place
    /// (APPEND, SETRANGE, SETBIT), which Redis keeps as a "raw" sds, is stored so as well, and
    /// OBJECT ENCODING says so (see [`SmallBytes::is_edited`]).
    pub fn boxed(v: Vec<u8>) -> Self {
        SmallBytes::Heap(v.into_boxed_slice())
    }

    /// A short string held in its own block: only [`SmallBytes::boxed`] makes those.
    pub fn is_edited(&self) -> bool {
        matches!(self, SmallBytes::Heap(b) if b.len() <= INLINE)
    }

    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE {
            Self::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, data } => &data[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        match self {
            SmallBytes::Inline { len, .. } => *len as usize,
            SmallBytes::Heap(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes allocated outside the struct itself (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }

    pub fn is_inline(&self) -> bool {
        matches!(self, SmallBytes::Inline { .. })
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl std::hash::Hash for SmallBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl std::ops::Deref for SmallBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SmallBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bytes_is_24_bytes_and_round_trips() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        for n in [0usize, 1, 21, 22, 23, 100] {
            let v: Vec<u8> = (0..n as u8).collect();
            let s = SmallBytes::new(&v);
            assert_eq!(s.as_slice(), &v[..]);
            assert_eq!(s.is_inline(), n <= 22);
            assert_eq!(SmallBytes::from_vec(v.clone()).as_slice(), &v[..]);
        }
    }
}
