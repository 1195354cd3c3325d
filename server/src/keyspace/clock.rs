//! Access clocks kept in each entry's 32-bit `access` word.
//!
//! LRU: seconds since the Unix epoch, truncated to 32 bits (wraps in 2106; idle time is a
//! wrapping difference). LFU (once an LFU policy is active): the high 16 bits hold the last
//! decrement time in minutes, the low 8 bits Redis's logarithmic counter — the same split
//! Redis uses, so `lfu-log-factor` and `lfu-decay-time` mean the same thing.

/// The LRU clock value for `now_ms`.
#[inline]
pub fn lru_now(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

/// Seconds since the entry was last accessed (OBJECT IDLETIME).
pub fn idle_seconds(access: u32, now_ms: u64) -> u64 {
    lru_now(now_ms).wrapping_sub(access) as u64
}
