//! MONITOR: every executed command, as a status line per command, streamed to the clients
//! that asked. Each monitor's lines go through its connection's push queue, under the
//! output-buffer limits, so a monitor that does not read is disconnected instead of
//! growing the server's memory.

use crate::pubsub::{Limits, Subscriber};
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Monitors {
    list: Mutex<Vec<Arc<Subscriber>>>,
    /// Monitors registered: read without the lock on every command.
    count: AtomicUsize,
}

impl Monitors {
    pub fn add(&self, s: Arc<Subscriber>) {
        let mut l = self.list.lock();
        if !l.iter().any(|m| m.id == s.id) {
            l.push(s);
        }
        self.count.store(l.len(), Ordering::Relaxed);
    }

    pub fn remove(&self, id: u64) {
        let mut l = self.list.lock();
        l.retain(|m| m.id != id);
        self.count.store(l.len(), Ordering::Relaxed);
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Sends one command line to every monitor; monitors over their limits are cut and
    /// forgotten.
    pub fn feed(&self, db: usize, addr: &str, args: &[Bytes], limits: &Limits) {
        let line = Bytes::from(format_line(now_us(), db, addr, args));
        let mut l = self.list.lock();
        l.retain(|m| !m.handle.killed.load(Ordering::Relaxed) && m.deliver(line.clone(), limits));
        self.count.store(l.len(), Ordering::Relaxed);
    }
}

/// Wall-clock microseconds (the line's timestamp).
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// `+1700000000.123456 [0 127.0.0.1:1234] "set" "k" "v"\r\n`.
pub fn format_line(now_us: u64, db: usize, addr: &str, args: &[Bytes]) -> Vec<u8> {
    let mut s = format!(
        "+{}.{:06} [{db} {addr}]",
        now_us / 1_000_000,
        now_us % 1_000_000
    )
    .into_bytes();
    for a in args {
        s.push(b' ');
        repr(&mut s, a);
    }
    s.extend_from_slice(b"\r\n");
    s
}

/// A quoted, escaped form of `a` (Redis's sdscatrepr): never breaks the status line.
fn repr(out: &mut Vec<u8>, a: &[u8]) {
    out.push(b'"');
    for &c in a {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if (0x20..0x7f).contains(&c) => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_escaped() {
        let l = format_line(
            1_700_000_000_000_123,
            0,
            "127.0.0.1:1234",
            &[Bytes::from("set"), Bytes::from("k\"\r\n\x01")],
        );
        assert_eq!(
            String::from_utf8(l).unwrap(),
            "+1700000000.000123 [0 127.0.0.1:1234] \"set\" \"k\\\"\\r\\n\\x01\"\r\n"
        );
    }
}
