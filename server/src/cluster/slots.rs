//! Slot sets: which of the 16384 slots a node claims, as a bitmap, with range helpers for
//! CLUSTER NODES/SLOTS output and compact encoding on the bus.

use crate::keyspace::slot::SLOTS;

/// A set of slots (a 2 KiB bitmap).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet {
    bits: Box<[u64; SLOTS / 64]>,
}

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet {
            bits: Box::new([0; SLOTS / 64]),
        }
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotSet{:?}", self.ranges())
    }
}

impl SlotSet {
    pub fn contains(&self, slot: u16) -> bool {
        let s = slot as usize;
        s < SLOTS && self.bits[s / 64] & (1 << (s % 64)) != 0
    }

    pub fn insert(&mut self, slot: u16) {
        let s = slot as usize;
        if s < SLOTS {
            self.bits[s / 64] |= 1 << (s % 64);
        }
    }

    pub fn remove(&mut self, slot: u16) {
        let s = slot as usize;
        if s < SLOTS {
            self.bits[s / 64] &= !(1 << (s % 64));
        }
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// The slots in order, a word at a time (empty words cost one test).
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let b = rest.trailing_zeros();
                rest &= rest - 1;
                Some((w * 64) as u16 + b as u16)
            })
        })
    }

    /// Maximal runs of consecutive slots, as inclusive `(start, end)` pairs.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for s in self.iter() {
            match out.last_mut() {
                Some((_, end)) if *end + 1 == s => *end = s,
                _ => out.push((s, s)),
            }
        }
        out
    }

    pub fn from_ranges(ranges: &[(u16, u16)]) -> Self {
        let mut s = SlotSet::default();
        for &(a, b) in ranges {
            for slot in a..=b.min(SLOTS as u16 - 1) {
                s.insert(slot);
            }
        }
        s
    }
}

/// Formats ranges as CLUSTER NODES does: `0-5460 5462`.
pub fn format_ranges(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip() {
        let s = SlotSet::from_ranges(&[(0, 10), (12, 12), (16000, 16383)]);
        assert_eq!(s.len(), 11 + 1 + 384);
        assert_eq!(s.ranges(), vec![(0, 10), (12, 12), (16000, 16383)]);
        assert_eq!(format_ranges(&s.ranges()), "0-10 12 16000-16383");
    }
}
