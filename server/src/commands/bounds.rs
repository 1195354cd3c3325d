//! Checks for numbers that come from clients, shared by the handlers so that the safe way is
//! the easy one. The rule they serve: a number from the network is checked against what it
//! addresses (the arguments present, the collection's size, a reply budget) before it sizes
//! an allocation or a loop. Key counts are checked where key positions are found
//! ([`super::table::CommandSpec::key_positions`]); slot lists in `cluster.rs`.

use super::{args, errors};

/// Largest negative count SRANDMEMBER/HRANDFIELD/ZRANDMEMBER serve. Redis would try to build
/// a reply of any size; a reply of more than 16M elements is refused with "value is out of
/// range" so a typo cannot exhaust memory.
pub const MAX_RANDOM_REPLY: i64 = 1 << 24;

/// Most bytes a reply of random picks with repetition may carry. Counting elements alone
/// is not enough: 16M picks of a 1 KB member is a 16 GB reply.
pub const MAX_RANDOM_REPLY_BYTES: u64 = 1 << 30;

/// Parses the count of SRANDMEMBER/HRANDFIELD/ZRANDMEMBER with Redis's range and error text.
pub fn random_count(arg: &[u8]) -> Result<i64, String> {
    let n = args::int(arg).ok_or_else(|| errors::NOT_INT.to_string())?;
    if n == i64::MIN {
        return Err(format!(
            "ERR value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        ));
    }
    Ok(n)
}

/// Whether a random count may be served from a collection of `total` bytes: a positive
/// count is bounded by the collection itself; a negative one (picks with repetition) must
/// stay within [`MAX_RANDOM_REPLY`] elements and [`MAX_RANDOM_REPLY_BYTES`]. The size bound
/// is tried first with `total` (free); only when that is too loose is the longest element
/// looked for (`longest`, one pass). Each element counts 32 bytes of framing.
pub fn random_count_fits(count: i64, total: usize, longest: impl FnOnce() -> usize) -> bool {
    if count >= 0 {
        return true;
    }
    if count < -MAX_RANDOM_REPLY {
        return false;
    }
    let picks = count.unsigned_abs();
    let fits = |each: usize| picks.saturating_mul(each as u64 + 32) <= MAX_RANDOM_REPLY_BYTES;
    fits(total) || fits(longest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_counts_are_bounded_in_elements_and_bytes() {
        assert!(random_count_fits(i64::MAX, 10, || unreachable!()));
        assert!(random_count_fits(-5, 100, || unreachable!()));
        assert!(!random_count_fits(-MAX_RANDOM_REPLY - 1, 1, || 1));
        // A big collection of short members: the longest member decides.
        assert!(random_count_fits(-1_000_000, 1 << 30, || 10));
        // 16M picks of a 1 KB member: 16 GB.
        assert!(!random_count_fits(-16_000_000, 1000, || 1000));
        assert!(random_count(b"-9223372036854775808").is_err());
        assert_eq!(random_count(b"-3"), Ok(-3));
    }
}
