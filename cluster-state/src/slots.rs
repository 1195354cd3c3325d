//! Slot sets: which of the 16384 slots a node claims, as a bitmap, with range helpers for
//! CLUSTER NODES/SLOTS output and compact encoding on the bus.

use slotcache_proto::slot::SLOTS;

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

    /// Adds every slot of `other`.
    pub fn union_with(&mut self, other: &SlotSet) {
        for (a, b) in self.bits.iter_mut().zip(other.bits.iter()) {
            *a |= *b;
        }
    }

    /// Whether some slot is in both sets (a word at a time).
    pub fn intersects(&self, other: &SlotSet) -> bool {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .any(|(a, b)| a & b != 0)
    }

    /// Whether all 16384 slots are in the set.
    pub fn is_full(&self) -> bool {
        self.bits.iter().all(|w| *w == u64::MAX)
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

    /// Maximal runs of consecutive slots, as inclusive `(start, end)` pairs. A word at a
    /// time, full and empty words in one step: every configuration change renders the
    /// ranges of every node (nodes.conf, heartbeats), and slot-by-slot that showed up
    /// while a rebalance moved thousands of slots.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        let mut start: Option<usize> = None;
        for (w, &word) in self.bits.iter().enumerate() {
            let base = w * 64;
            match word {
                0 => {
                    if let Some(a) = start.take() {
                        out.push((a as u16, (base - 1) as u16));
                    }
                    continue;
                }
                u64::MAX => {
                    start.get_or_insert(base);
                    continue;
                }
                _ => {}
            }
            let mut pos = 0u32;
            while pos < 64 {
                // Bits above the word's top shift in as zeros, so counts stop at bit 63.
                let rest = word >> pos;
                match start {
                    Some(a) => {
                        pos += rest.trailing_ones();
                        if pos < 64 {
                            out.push((a as u16, (base + pos as usize - 1) as u16));
                            start = None;
                        }
                    }
                    None => {
                        if rest == 0 {
                            break;
                        }
                        pos += rest.trailing_zeros();
                        start = Some(base + pos as usize);
                    }
                }
            }
        }
        if let Some(a) = start {
            out.push((a as u16, (SLOTS - 1) as u16));
        }
        out
    }

    /// Adds the slots `a..=b` (clipped to the slot space), a word at a time.
    pub fn insert_range(&mut self, a: u16, b: u16) {
        let (a, b) = (a as usize, (b as usize).min(SLOTS - 1));
        if a > b {
            return;
        }
        let (first, last) = (a / 64, b / 64);
        for w in first..=last {
            let lo = if w == first { a % 64 } else { 0 };
            let hi = if w == last { b % 64 } else { 63 };
            self.bits[w] |= (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
        }
    }

    /// The set of slots the ranges cover. Each range costs at most one pass over the 256
    /// words, never a step per slot: ranges come off the wire, and slot by slot, 100k ranges
    /// of 0-16383 each kept the bus busy for seconds.
    pub fn from_ranges(ranges: &[(u16, u16)]) -> Self {
        let mut s = SlotSet::default();
        for &(a, b) in ranges {
            s.insert_range(a, b);
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

    #[test]
    fn intersects_finds_a_shared_slot_anywhere() {
        let a = SlotSet::from_ranges(&[(0, 10), (16383, 16383)]);
        assert!(a.intersects(&SlotSet::from_ranges(&[(10, 20)])));
        assert!(a.intersects(&SlotSet::from_ranges(&[(16383, 16383)])));
        assert!(!a.intersects(&SlotSet::from_ranges(&[(11, 16382)])));
        assert!(!a.intersects(&SlotSet::default()));
    }

    #[test]
    fn insert_range_matches_slot_by_slot_and_clips() {
        let cases = [
            (0u16, 0u16),
            (0, 63),
            (1, 62),
            (63, 64),
            (60, 200),
            (64, 127),
            (100, 16383),
            (16383, 16383),
            (16000, u16::MAX),
            (5, 4),
        ];
        for &(a, b) in &cases {
            let mut fast = SlotSet::default();
            fast.insert_range(a, b);
            let mut slow = SlotSet::default();
            for slot in a..=b.min(SLOTS as u16 - 1) {
                slow.insert(slot);
            }
            assert_eq!(fast, slow, "{a}-{b}");
        }
    }

    /// Many overlapping full ranges cost a word pass each, not a step per slot (16384 of
    /// them took 268M inserts slot by slot; 4M word updates now, even in a debug build).
    #[test]
    fn many_full_ranges_are_cheap() {
        let ranges = vec![(0u16, 16383u16); SLOTS];
        let t = std::time::Instant::now();
        let s = SlotSet::from_ranges(&ranges);
        assert!(s.is_full());
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t.elapsed()
        );
    }

    /// The word-at-a-time runs agree with slot-by-slot grouping on patterns that cross,
    /// start and end at word boundaries.
    #[test]
    fn ranges_match_slot_by_slot_runs() {
        let naive = |s: &SlotSet| {
            let mut out: Vec<(u16, u16)> = Vec::new();
            for x in s.iter() {
                match out.last_mut() {
                    Some((_, end)) if *end + 1 == x => *end = x,
                    _ => out.push((x, x)),
                }
            }
            out
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let fixed = [
            vec![],
            vec![(0, 16383)],
            vec![(0, 63), (64, 127)],
            vec![(63, 64)],
            vec![(1, 62), (128, 128), (191, 192), (16383, 16383)],
        ];
        for r in &fixed {
            let s = SlotSet::from_ranges(r);
            assert_eq!(s.ranges(), naive(&s), "{r:?}");
        }
        for density in [1u64, 8, 32, 60, 63] {
            let mut s = SlotSet::default();
            for slot in 0..SLOTS as u16 {
                if next() % 64 < density {
                    s.insert(slot);
                }
            }
            assert_eq!(s.ranges(), naive(&s), "density {density}");
        }
    }
}
