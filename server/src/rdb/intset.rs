//! Intsets (`intset.c`): the blob of an all-integer small set. Layout: element width in bytes
//! (u32 LE: 2, 4 or 8), count (u32 LE), then the values ascending, little-endian.

/// The blob for `values` (ascending), at the narrowest width that holds them all, as Redis
/// keeps it.
pub fn encode(values: &[i64]) -> Vec<u8> {
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The values of an intset blob; `None` unless the sizes add up exactly and the values are
/// strictly ascending (so a set built from them has no duplicates).
pub fn decode(blob: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width)? != blob.len() - 8 {
        return None;
    }
    let shift = 64 - 8 * width as u32;
    let values: Vec<i64> = blob[8..]
        .chunks_exact(width)
        .map(|c| {
            let mut le = [0u8; 8];
            le[..width].copy_from_slice(c);
            ((u64::from_le_bytes(le) << shift) as i64) >> shift
        })
        .collect();
    values.windows(2).all(|w| w[0] < w[1]).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_validation() {
        for (vals, width) in [
            (vec![-3i64, 1, 2], 2u32),
            (vec![-70000, 1, 70000], 4),
            (vec![i64::MIN, 1, i64::MAX], 8),
        ] {
            let b = encode(&vals);
            assert_eq!(u32::from_le_bytes(b[..4].try_into().unwrap()), width);
            assert_eq!(decode(&b), Some(vals));
            for cut in 0..b.len() {
                assert!(decode(&b[..cut]).is_none());
            }
        }
        assert!(decode(&encode(&[2, 1])).is_none());
        assert!(decode(&[3, 0, 0, 0, 0, 0, 0, 0]).is_none());
    }
}
