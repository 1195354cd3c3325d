//! `IntSet`: sorted integers packed at the smallest width that fits them all (Redis's
//! intset).
//!
//! Sets of small integers (ids, flags, scores bucketed by tens) are common and tiny: ten
//! member ids below 32768 are 20 bytes of data. A `Vec<i64>` behind a boxed header spent
//! two allocations and 8 bytes per member on them. Here one exact-size buffer holds a width
//! byte (2, 4 or 8) and the members, little-endian, in ascending order: one allocation,
//! binary search for membership, and the width grows (never shrinks, as in Redis) when a
//! member needs it.

/// Sorted distinct integers in one buffer: `[width][member]*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntSet {
    buf: Box<[u8]>,
}

/// The smallest width (2, 4 or 8 bytes) that holds `n`.
fn width_for(n: i64) -> usize {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

fn write(out: &mut [u8], n: i64) {
    let b = n.to_le_bytes();
    out.copy_from_slice(&b[..out.len()]);
}

fn read(b: &[u8]) -> i64 {
    match b.len() {
        2 => i16::from_le_bytes([b[0], b[1]]) as i64,
        4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        _ => {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[..8]);
            i64::from_le_bytes(w)
        }
    }
}

impl IntSet {
    /// Builds from members already ascending and distinct (the caller checked).
    pub fn from_sorted(members: &[i64]) -> IntSet {
        if members.is_empty() {
            return IntSet::default();
        }
        let w = members.iter().map(|&n| width_for(n)).max().unwrap_or(2);
        let mut v = vec![0u8; 1 + w * members.len()];
        v[0] = w as u8;
        for (i, &n) in members.iter().enumerate() {
            write(&mut v[1 + i * w..1 + (i + 1) * w], n);
        }
        IntSet {
            buf: v.into_boxed_slice(),
        }
    }

    fn width(&self) -> usize {
        match self.buf.first() {
            Some(&w @ (2 | 4 | 8)) => w as usize,
            _ => 2,
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(1) / self.width()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held.
    pub fn memory(&self) -> usize {
        self.buf.len()
    }

    pub fn get(&self, i: usize) -> Option<i64> {
        let w = self.width();
        let at = 1 + i.checked_mul(w)?;
        self.buf.get(at..at + w).map(read)
    }

    /// Where `n` is (`Ok`) or would go (`Err`), as `slice::binary_search` answers.
    pub fn binary_search(&self, n: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).map(|x| x.cmp(&n)) {
                Some(std::cmp::Ordering::Less) => lo = mid + 1,
                Some(std::cmp::Ordering::Greater) | None => hi = mid,
                Some(std::cmp::Ordering::Equal) => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Inserts `n` at `at` (where [`IntSet::binary_search`] said), widening every member
    /// first when `n` needs more bytes (Redis's `intsetUpgradeAndAdd`).
    pub fn insert(&mut self, at: usize, n: i64) {
        let w = self.width().max(width_for(n));
        let len = self.len();
        let at = at.min(len);
        let mut v = Vec::with_capacity(1 + w * (len + 1));
        v.push(w as u8);
        if w == self.width() {
            v.extend_from_slice(self.buf.get(1..1 + at * w).unwrap_or(&[]));
            v.resize(v.len() + w, 0);
            let end = v.len();
            write(&mut v[end - w..], n);
            v.extend_from_slice(self.buf.get(1 + at * w..).unwrap_or(&[]));
        } else {
            for (i, x) in self.iter().enumerate() {
                if i == at {
                    push(&mut v, w, n);
                }
                push(&mut v, w, x);
            }
            if at == len {
                push(&mut v, w, n);
            }
        }
        self.buf = v.into_boxed_slice();
    }

    /// Removes and returns member `i`.
    pub fn remove(&mut self, i: usize) -> Option<i64> {
        let x = self.get(i)?;
        let w = self.width();
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.drain(1 + i * w..1 + (i + 1) * w);
        if v.len() == 1 {
            v.clear();
        }
        self.buf = v.into_boxed_slice();
        Some(x)
    }

    /// Keeps the members `keep` says so, in one pass.
    pub fn retain(&mut self, mut keep: impl FnMut(i64) -> bool) {
        let w = self.width();
        let mut v = Vec::with_capacity(self.buf.len());
        v.push(w as u8);
        for x in self.iter() {
            if keep(x) {
                push(&mut v, w, x);
            }
        }
        if v.len() == 1 {
            v.clear();
        }
        self.buf = v.into_boxed_slice();
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + ExactSizeIterator + '_ {
        let w = self.width();
        self.buf.get(1..).unwrap_or(&[]).chunks_exact(w).map(read)
    }
}

fn push(v: &mut Vec<u8>, w: usize, n: i64) {
    v.resize(v.len() + w, 0);
    let end = v.len();
    write(&mut v[end - w..], n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_grow_and_order_holds() {
        let mut s = IntSet::default();
        for n in [5i64, -3, 100, 7] {
            let Err(at) = s.binary_search(n) else {
                panic!()
            };
            s.insert(at, n);
        }
        assert_eq!(s.memory(), 1 + 2 * 4);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-3, 5, 7, 100]);
        let Err(at) = s.binary_search(70_000) else {
            panic!()
        };
        s.insert(at, 70_000);
        assert_eq!(s.memory(), 1 + 4 * 5);
        let Err(at) = s.binary_search(i64::MIN) else {
            panic!()
        };
        s.insert(at, i64::MIN);
        assert_eq!(s.memory(), 1 + 8 * 6);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![i64::MIN, -3, 5, 7, 100, 70_000]
        );
        assert_eq!(s.binary_search(7), Ok(3));
        assert_eq!(s.remove(0), Some(i64::MIN));
        s.retain(|x| x != 5);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-3, 7, 100, 70_000]);
        // Widths never shrink, as in Redis.
        assert_eq!(s.memory(), 1 + 8 * 4);
        assert_eq!(IntSet::from_sorted(&[1, 2, 3]).memory(), 7);
        let mut one = IntSet::from_sorted(&[1]);
        one.remove(0);
        assert!(one.is_empty());
        assert_eq!(one.memory(), 0);
    }
}
