//! Access clocks kept in each entry's 32-bit `access` word.
//!
//! LRU: seconds since the Unix epoch, truncated to 32 bits (wraps in 2106; idle time is a
//! wrapping difference). LFU (once an LFU policy is active): the high 16 bits hold the last
//! decrement time in minutes, the low 8 bits Redis's logarithmic counter — the same split
//! Redis uses, so `lfu-log-factor` and `lfu-decay-time` mean the same thing.

/// How a read updates a key's access word; chosen per command from the policy (and
/// CLIENT NO-TOUCH, by `eviction`) and kept on the database being served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Touch {
    /// LRU clock in seconds (every non-LFU policy, as in Redis).
    #[default]
    Lru,
    /// Logarithmic frequency counter with decay.
    Lfu { log_factor: u64, decay: u64 },
    /// CLIENT NO-TOUCH: reads leave the word alone.
    Off,
}

/// The LRU clock value for `now_ms`.
#[inline]
pub fn lru_now(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

/// Seconds since the entry was last accessed (OBJECT IDLETIME).
pub fn idle_seconds(access: u32, now_ms: u64) -> u64 {
    lru_now(now_ms).wrapping_sub(access) as u64
}
