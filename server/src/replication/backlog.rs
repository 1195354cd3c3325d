//! The replication backlog: the most recent bytes of the replication stream, so a replica
//! that reconnects can be sent only what it missed (partial resync).

use std::collections::VecDeque;

pub struct Backlog {
    buf: VecDeque<u8>,
    capacity: usize,
}

impl Backlog {
    pub fn new(capacity: usize) -> Self {
        Backlog {
            buf: VecDeque::new(),
            capacity: capacity.max(16 * 1024),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Resizes (CONFIG SET repl-backlog-size), keeping the newest bytes.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(16 * 1024);
        self.trim();
    }

    pub fn append(&mut self, data: &[u8]) {
        self.buf.extend(data);
        self.trim();
    }

    fn trim(&mut self) {
        if self.buf.len() > self.capacity {
            let excess = self.buf.len() - self.capacity;
            self.buf.drain(..excess);
        }
    }

    /// The bytes from stream position `from` up to `end` (the current offset), if the backlog
    /// still holds them all.
    pub fn since(&self, from: u64, end: u64) -> Option<Vec<u8>> {
        let first = end.checked_sub(self.buf.len() as u64)?;
        if from < first || from > end {
            return None;
        }
        let skip = (from - first) as usize;
        Some(self.buf.iter().skip(skip).copied().collect())
    }

    /// Offset of the first byte held (`repl_backlog_first_byte_offset`, 1-based as Redis).
    pub fn first_byte_offset(&self, end: u64) -> u64 {
        end - self.buf.len() as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_bytes_and_answers_partial_requests() {
        let mut b = Backlog::new(16 * 1024);
        let chunk = vec![7u8; 10_000];
        b.append(&chunk);
        b.append(&chunk);
        assert_eq!(b.len(), 16 * 1024);
        let end = 20_000;
        assert!(b.since(0, end).is_none());
        assert_eq!(b.since(end - 100, end).map(|v| v.len()), Some(100));
        assert_eq!(b.since(end, end).map(|v| v.len()), Some(0));
        assert!(b.since(end + 1, end).is_none());
    }
}
