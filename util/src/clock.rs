//! Monotonic time for everything that measures an interval. Wall-clock time (expiry
//! instants) stays with the keyspace, which caches it per batch of commands.

use std::sync::OnceLock;
use std::time::Instant;

/// Monotonic milliseconds since the process first asked: never goes back when the wall
/// clock is set, so timeouts, leases and replication lags computed from it are sound.
pub fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn never_goes_back() {
        let a = super::mono_ms();
        let b = super::mono_ms();
        assert!(b >= a);
    }
}
