//! A latency histogram laid out as Redis's HdrHistogram (lowest value 1 ns, highest 1 s,
//! 2 significant figures), so that percentiles (INFO latencystats) and the cumulative
//! buckets of LATENCY HISTOGRAM come out with the very values Redis prints.
//!
//! Counts are atomics, so an exporter can read a histogram while commands record into it;
//! recording relies on the caller's lock to serialise writers (see [`Histogram::record`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// Smallest and largest recorded values, in nanoseconds (Redis's
/// LATENCY_HISTOGRAM_MIN_VALUE / MAX_VALUE); anything outside is clamped.
pub const MIN_NS: u64 = 1;
pub const MAX_NS: u64 = 1_000_000_000;

/// 2 significant figures: 256 sub-buckets, half of them (128) per bucket after the first.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF: u64 = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_COUNT: u64 = SUB_BUCKET_HALF * 2;
const SUB_BUCKET_MASK: u64 = SUB_BUCKET_COUNT - 1;
/// Buckets needed to reach MAX_NS: 256 << 22 > 1e9.
const BUCKETS: usize = 23;
const COUNTS: usize = (BUCKETS + 1) * SUB_BUCKET_HALF as usize;

/// No separate total: recording is one atomic add, on the command path; the total is
/// summed when a report asks for it.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..COUNTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_index(v: u64) -> u32 {
    // Position of the highest set bit of v (with the sub-bucket mask or'ed in), less the
    // sub-bucket magnitude.
    let pow2ceiling = 64 - (v | SUB_BUCKET_MASK).leading_zeros();
    pow2ceiling - (SUB_BUCKET_HALF_MAGNITUDE + 1)
}

fn counts_index(v: u64) -> usize {
    let b = bucket_index(v);
    let sub = v >> b;
    (((b as u64 + 1) << SUB_BUCKET_HALF_MAGNITUDE) + (sub - SUB_BUCKET_HALF)) as usize
}

fn value_from_index(i: usize) -> u64 {
    let mut bucket = (i as i64 >> SUB_BUCKET_HALF_MAGNITUDE) - 1;
    let mut sub = (i as u64 & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF;
    if bucket < 0 {
        sub -= SUB_BUCKET_HALF;
        bucket = 0;
    }
    sub << bucket
}

/// The largest value that falls in the same slot as `v` (what HdrHistogram reports).
pub fn highest_equivalent(v: u64) -> u64 {
    let b = bucket_index(v);
    let sub = v >> b;
    let adjusted = if sub >= SUB_BUCKET_COUNT { b + 1 } else { b };
    let lowest = sub << b;
    lowest + (1u64 << adjusted) - 1
}

impl Histogram {
    /// Records one value in nanoseconds (clamped to 1 ns .. 1 s). The caller's writes to
    /// this histogram are serialised by a lock it holds (the keyspace lock, for commands):
    /// a plain load and store instead of a locked add.
    pub fn record(&self, ns: u64) {
        let c = &self.counts[counts_index(ns.clamp(MIN_NS, MAX_NS))];
        c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// The value (ns) at `percentile` (0..100), as hdr_value_at_percentile computes it.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let total = self.total();
        if total == 0 {
            return 0;
        }
        let p = percentile.clamp(0.0, 100.0);
        let wanted = (((p / 100.0) * total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= wanted {
                let v = value_from_index(i);
                return if p == 0.0 { v } else { highest_equivalent(v) };
            }
        }
        0
    }

    /// Adds to `into[i]` how many values are at or below `bounds_ns[i]` (ascending), as a
    /// Prometheus histogram's cumulative buckets want them. A slot counts as at or below a
    /// bound when its lowest value is, so the error is the histogram's 1% resolution.
    pub fn add_cumulative(&self, bounds_ns: &[u64], into: &mut [u64]) {
        let mut b = 0;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            let v = value_from_index(i);
            while b < bounds_ns.len() && v > bounds_ns[b] {
                if let Some(slot) = into.get_mut(b) {
                    *slot += seen;
                }
                b += 1;
            }
            if b == bounds_ns.len() {
                return;
            }
            seen += c.load(Ordering::Relaxed);
        }
        while b < bounds_ns.len() {
            if let Some(slot) = into.get_mut(b) {
                *slot += seen;
            }
            b += 1;
        }
    }

    /// Cumulative counts at power-of-two reporting levels from 1024 ns, as LATENCY
    /// HISTOGRAM reports them: `(bucket upper bound in µs, values at or below it)`, only
    /// where the count grew.
    pub fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        let total = self.total();
        let mut out = Vec::new();
        let mut level: u64 = 1024;
        let mut upto = 0usize;
        let mut cumulative = 0;
        let mut previous = 0;
        while cumulative < total && level <= 2 * MAX_NS {
            let last = counts_index(level.min(MAX_NS * 2)).min(COUNTS - 1);
            while upto <= last {
                cumulative += self.counts[upto].load(Ordering::Relaxed);
                upto += 1;
            }
            if cumulative > previous {
                out.push((highest_equivalent(level) / 1000, cumulative));
            }
            previous = cumulative;
            level <<= 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_redis_values() {
        // Redis prints 7.007 µs for one 7 µs call and 13.055 for 13 µs.
        let h = Histogram::default();
        h.record(7_000);
        assert_eq!(h.value_at_percentile(50.0), 7_007);
        let h = Histogram::default();
        h.record(13_000);
        assert_eq!(h.value_at_percentile(99.9), 13_055);
    }

    #[test]
    fn prometheus_buckets_are_cumulative() {
        let h = Histogram::default();
        for ns in [500, 5_000, 50_000, 2 * MAX_NS] {
            h.record(ns);
        }
        let mut into = [0u64; 3];
        h.add_cumulative(&[1_000, 10_000, 100_000], &mut into);
        assert_eq!(into, [1, 2, 3]);
        h.add_cumulative(&[1_000, 10_000, 100_000], &mut into);
        assert_eq!(into, [2, 4, 6]);
    }

    #[test]
    fn cumulative_buckets_match_redis() {
        // Redis: two ~20-30 ms calls give one bucket "33816 -> 2"; an 8 µs call "16 -> 1".
        let h = Histogram::default();
        h.record(20_000_000);
        h.record(30_000_000);
        assert_eq!(h.cumulative_usec(), vec![(33_816, 2)]);
        let h = Histogram::default();
        h.record(8_000);
        assert_eq!(h.cumulative_usec(), vec![(8, 1)]);
        h.record(MAX_NS * 5);
        assert_eq!(h.total(), 2);
        assert_eq!(h.cumulative_usec().last().map(|x| x.1), Some(2));
    }
}
