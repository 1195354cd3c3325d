//! Redis's logarithmic LFU counter, kept in an entry's `access` word.
//!
//! Layout (see [`crate::keyspace::clock`]): bits 16..32 hold the minute (mod 2^16) of the
//! last decrement, bits 0..8 the counter. The counter grows with probability
//! `1 / ((counter - LFU_INIT_VAL) * lfu_log_factor + 1)`, so with the default factor of 10 it
//! reaches 255 after about a million hits, and loses one point per `lfu-decay-time` minutes
//! without access. Same math as Redis, so OBJECT FREQ numbers compare.

use std::cell::Cell;

/// The counter a new key starts with, so it is not the first one evicted.
pub const LFU_INIT_VAL: u8 = 5;

/// Minutes since the epoch, reduced to the 16 bits the access word keeps.
#[inline]
pub fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

/// Minutes since `ldt`, across the 16-bit wrap (Redis's `LFUTimeElapsed`).
#[inline]
fn elapsed(ldt: u32, now_ms: u64) -> u32 {
    let now = minutes(now_ms);
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// The counter with decay applied (Redis's `LFUDecrAndReturn`); the word is not changed.
pub fn decayed(access: u32, now_ms: u64, decay_minutes: u64) -> u8 {
    let counter = (access & 0xff) as u64;
    let periods = (elapsed(access >> 16, now_ms) as u64)
        .checked_div(decay_minutes)
        .unwrap_or(0);
    counter.saturating_sub(periods) as u8
}

/// One logarithmic increment given a uniform draw `r` in [0, 1) (Redis's `LFULogIncr`).
pub fn log_incr(counter: u8, log_factor: u64, r: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// The access word after one access: decay, then increment, stamped with this minute.
pub fn touched(access: u32, now_ms: u64, log_factor: u64, decay_minutes: u64) -> u32 {
    let c = decayed(access, now_ms, decay_minutes);
    let c = log_incr(c, log_factor, uniform());
    (minutes(now_ms) << 16) | c as u32
}

/// The access word of a key created now.
pub fn fresh(now_ms: u64) -> u32 {
    (minutes(now_ms) << 16) | LFU_INIT_VAL as u32
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (t ^ (&t as *const u64 as u64)) | 1
}

/// A cheap uniform draw in [0, 1): the increment runs on every read, where `thread_rng`'s
/// reseeding ChaCha would be the most expensive part of a GET.
fn uniform() -> f64 {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increment_probability_shrinks_with_the_counter() {
        // At or below LFU_INIT_VAL every access counts.
        assert_eq!(log_incr(0, 10, 0.999), 1);
        assert_eq!(log_incr(5, 10, 0.999), 6);
        // At 15 with factor 10: p = 1 / (10 * 10 + 1).
        assert_eq!(log_incr(15, 10, 1.0 / 101.0 - 1e-9), 16);
        assert_eq!(log_incr(15, 10, 1.0 / 101.0 + 1e-9), 15);
        // Factor 0: always increments; 255 saturates.
        assert_eq!(log_incr(200, 0, 0.999), 201);
        assert_eq!(log_incr(255, 0, 0.0), 255);
    }

    #[test]
    fn hits_grow_the_counter_logarithmically() {
        // Redis's table (redis.conf): factor 10 gives ~10 at 100 hits, ~18 at 1000,
        // ~142 at 100K, 255 at 1M.
        let run = |hits: u32| {
            let mut a = fresh(0);
            for _ in 0..hits {
                a = touched(a, 0, 10, 1);
            }
            (a & 0xff) as u8
        };
        let at_1k = run(1_000);
        assert!((13..=24).contains(&at_1k), "{at_1k}");
        let at_100k = run(100_000);
        assert!((120..=165).contains(&at_100k), "{at_100k}");
    }

    #[test]
    fn decay_loses_one_point_per_period_and_wraps() {
        let a = (10u32 << 16) | 20;
        assert_eq!(decayed(a, 10 * 60_000, 1), 20);
        assert_eq!(decayed(a, 13 * 60_000, 1), 17);
        assert_eq!(decayed(a, 16 * 60_000, 2), 17);
        assert_eq!(decayed(a, 13 * 60_000, 0), 20);
        assert_eq!(decayed(a, 300 * 60_000, 1), 0);
        // Stamped at minute 65530, read 10 minutes later across the wrap.
        let w = (65530u32 << 16) | 20;
        assert_eq!(decayed(w, (65536 + 4) * 60_000, 1), 11);
        // A touch restamps the minute.
        assert_eq!(touched(a, 13 * 60_000, 10, 1) >> 16, 13);
    }
}
