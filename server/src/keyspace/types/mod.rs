//! The collection types a key can hold besides strings, one module each.

pub mod dense;
pub mod hash;
pub mod intset;
pub mod list;
pub mod listnode;
pub mod packed;
pub mod set;
pub mod stream;
pub mod stream_block;
pub mod zpack;
pub mod zset;

pub use hash::HashValue;
pub use list::ListValue;
pub use set::SetValue;
pub use stream::StreamValue;
pub use zset::ZSetValue;

/// The sum of `f` over `items`, estimated from the first `samples` of them when there are
/// more: their average times the count. This is how Redis's `MEMORY USAGE ... SAMPLES n` sizes
/// a big collection without walking it; `usize::MAX` walks every item (exact, O(n)).
pub fn sampled_sum<I, F>(items: I, samples: usize, f: F) -> usize
where
    I: ExactSizeIterator,
    F: Fn(I::Item) -> usize,
{
    let n = items.len();
    let k = samples.min(n);
    if k == 0 {
        return 0;
    }
    let sum: usize = items.take(k).map(f).sum();
    if k == n {
        sum
    } else {
        (sum as f64 / k as f64 * n as f64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::sampled_sum;

    #[test]
    fn sampling_extrapolates_the_average() {
        let v = [10usize, 20, 30, 40];
        assert_eq!(sampled_sum(v.iter(), usize::MAX, |x| *x), 100);
        assert_eq!(sampled_sum(v.iter(), 4, |x| *x), 100);
        // First two average 15: times four.
        assert_eq!(sampled_sum(v.iter(), 2, |x| *x), 60);
        assert_eq!(sampled_sum(v.iter(), 0, |x| *x), 0);
        assert_eq!(sampled_sum([0usize; 0].iter(), 5, |x| *x), 0);
    }
}
