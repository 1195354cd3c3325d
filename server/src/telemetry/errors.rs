//! Error replies by their code (INFO errorstats, `total_error_replies`): the first word of
//! the message (`ERR`, `WRONGTYPE`, `MOVED`...), as Redis's afterErrorReply derives it.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// At most this many distinct codes are tracked (Redis's ERROR_STATS_NUMBER): error texts
/// come from clients' input in places, and must not grow the table without bound.
pub const MAX_CODES: usize = 128;

#[derive(Default)]
pub struct ErrorStats {
    pub total: AtomicU64,
    by_code: Mutex<BTreeMap<String, u64>>,
}

/// The code of an error message (without the leading `-`): its first word when a space
/// comes within 32 bytes, otherwise `ERR`.
pub fn code_of(msg: &[u8]) -> &[u8] {
    let head = &msg[..msg.len().min(32)];
    match head.iter().position(|&b| b == b' ') {
        Some(0) | None => b"ERR",
        Some(i) => &msg[..i],
    }
}

impl ErrorStats {
    /// Counts one error reply (message without the `-`).
    pub fn record(&self, msg: &[u8]) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let code = String::from_utf8_lossy(code_of(msg));
        let mut m = self.by_code.lock();
        if let Some(n) = m.get_mut(code.as_ref()) {
            *n += 1;
        } else if m.len() < MAX_CODES {
            m.insert(code.into_owned(), 1);
        }
    }

    pub fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.by_code.lock().clear();
    }

    /// `(code, count)` pairs in code order.
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.by_code
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    pub fn info_errorstats(&self, t: &mut String) {
        use std::fmt::Write as _;
        for (code, n) in self.counts() {
            let _ = write!(t, "errorstat_{code}:count={n}\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_first_words() {
        assert_eq!(code_of(b"WRONGTYPE Operation against"), b"WRONGTYPE");
        assert_eq!(code_of(b"ERR syntax error"), b"ERR");
        assert_eq!(code_of(b"NOSPACEATALL"), b"ERR");
        assert_eq!(code_of(&[b'X'; 40]), b"ERR");
        let s = ErrorStats::default();
        for i in 0..500 {
            s.record(format!("E{i} x").as_bytes());
        }
        assert_eq!(s.counts().len(), MAX_CODES);
        assert_eq!(s.total.load(Ordering::Relaxed), 500);
    }
}
