//! A connection's query buffer (what it has read and not yet parsed) and the rules that
//! size it, which are Redis's: reads ask for 16 KB of room (more when a big argument is on
//! its way), a buffer keeps its room between commands, and it gives room back when that
//! room is wasted — all of it once the client has been idle for 2 seconds, or down to the
//! recent peak when a buffer over 32 KB is more than twice what the last period needed.
//!
//! CLIENT LIST reports the result as `qbuf` (bytes buffered) and `qbuf-free` (room left),
//! and [`crate::client_memory`] counts the whole allocation against `maxmemory-clients`.

use bytes::BytesMut;
use std::time::{Duration, Instant};

/// Room one read asks for (Redis's `PROTO_IOBUF_LEN`).
pub const IOBUF_LEN: usize = 16 * 1024;
/// Buffers up to this size are not trimmed while in use (`PROTO_RESIZE_THRESHOLD`).
const RESIZE_THRESHOLD: usize = 32 * 1024;
/// Less free room than this is not worth a reallocation.
const WASTE_MIN: usize = 4 * 1024;
/// A client idle this long gives all its free room back.
const IDLE: Duration = Duration::from_secs(2);
/// How often a busy connection re-checks its size (Redis's client cron at `hz 10`).
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// The buffer and what its sizing rules need to know.
pub struct QueryBuffer {
    pub buf: BytesMut,
    /// The allocation the buffer was last given: what it can take back after the parser
    /// has consumed its front.
    room: usize,
    /// The most bytes held or awaited at once since the last check (`querybuf_peak`).
    peak: usize,
    checked: Instant,
    last_read: Instant,
    /// Set when the idle rule gave the room back: no room is made again until the socket
    /// has input ([`QueryBuffer::wake`]), or the idle connection would take the room back
    /// at once and give it back again, forever.
    released: bool,
}

impl Default for QueryBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl QueryBuffer {
    pub fn new() -> Self {
        let now = Instant::now();
        QueryBuffer {
            buf: BytesMut::with_capacity(IOBUF_LEN),
            room: IOBUF_LEN,
            peak: 0,
            checked: now,
            last_read: now,
            released: false,
        }
    }

    /// Bytes read and not yet parsed (CLIENT LIST `qbuf`).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes the buffer holds room for, used or not (`qbuf` + `qbuf-free`).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Makes room before a read: at least 4 KB free, and room for the rest of a bulk
    /// argument of which `want` bytes are still to come (capped by the caller, so an
    /// announced length alone never sizes the buffer).
    pub fn make_room(&mut self, want: usize) {
        if self.released {
            return;
        }
        if self.buf.capacity() - self.buf.len() < WASTE_MIN.max(want) {
            self.buf.reserve(IOBUF_LEN.max(want));
            self.room = self.room.max(self.buf.capacity());
        }
        self.peak = self.peak.max(self.buf.len() + want);
    }

    /// Whether the idle rule released the room: the connection must wait for input to be
    /// readable, then [`QueryBuffer::wake`], before reading.
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// Input is ready after an idle release: the next [`QueryBuffer::make_room`] makes room.
    pub fn wake(&mut self) {
        self.released = false;
    }

    /// Notes a read that just completed.
    pub fn on_read(&mut self) {
        self.last_read = Instant::now();
        self.peak = self.peak.max(self.buf.len());
    }

    /// Takes back the room in front of the unparsed bytes once the arguments parsed out of
    /// the buffer are dropped (they share its allocation), so the buffer keeps its size
    /// between commands instead of allocating anew.
    pub fn reclaim(&mut self) {
        if self.buf.capacity() < self.room {
            let _ = self.buf.try_reclaim(self.room - self.buf.len());
        }
    }

    /// Whether the buffer holds room worth giving back (the idle rule has work to do).
    pub fn has_spare_room(&self) -> bool {
        self.free() > WASTE_MIN
    }

    /// When the idle rule applies if no read comes first.
    pub fn idle_check_at(&self) -> Instant {
        self.last_read + IDLE
    }

    /// The idle rule: keep only the unparsed bytes. Returns whether the buffer changed.
    pub fn shrink_idle(&mut self) -> bool {
        if self.free() <= WASTE_MIN || self.last_read.elapsed() < IDLE {
            return false;
        }
        self.resize(self.buf.len());
        self.released = true;
        true
    }

    /// The busy rule, at most once per check period: a buffer over 32 KB and more than twice
    /// the recent peak shrinks to that peak (never below its content or the bulk argument
    /// being read, `bulk` bytes in all). Returns whether the buffer changed.
    pub fn check_busy(&mut self, bulk: usize) -> bool {
        if self.checked.elapsed() < CHECK_EVERY {
            return false;
        }
        self.checked = Instant::now();
        let size = self.buf.capacity();
        let mut changed = false;
        if self.free() > WASTE_MIN && size > RESIZE_THRESHOLD && size / 2 > self.peak {
            self.resize(self.buf.len().max(self.peak).max(bulk));
            changed = true;
        }
        // The next period's peak starts from what is held or awaited now.
        self.peak = self.buf.len().max(bulk);
        changed
    }

    fn free(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }

    /// Moves the unparsed bytes into a buffer of exactly `size` bytes of room.
    fn resize(&mut self, size: usize) {
        let mut b = BytesMut::with_capacity(size.max(self.buf.len()));
        b.extend_from_slice(&self.buf);
        self.buf = b;
        self.room = self.buf.capacity();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;

    fn aged(q: &mut QueryBuffer, by: Duration) {
        q.last_read -= by;
        q.checked -= by;
    }

    #[test]
    fn consumed_room_is_taken_back_once_arguments_are_dropped() {
        let mut q = QueryBuffer::new();
        q.make_room(0);
        q.buf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        q.on_read();
        q.buf.advance(8);
        let arg = q.buf.split_to(4).freeze();
        q.buf.advance(2);
        drop(arg);
        q.reclaim();
        assert!(q.is_empty());
        assert_eq!(q.capacity(), IOBUF_LEN);
    }

    #[test]
    fn an_idle_client_gives_its_room_back() {
        let mut q = QueryBuffer::new();
        assert!(!q.shrink_idle(), "not idle yet");
        aged(&mut q, Duration::from_secs(3));
        assert!(q.has_spare_room());
        assert!(q.shrink_idle());
        assert_eq!(q.capacity(), 0);
        assert!(!q.has_spare_room());
        // No room again until input is ready (else an idle connection would loop).
        assert!(q.is_released());
        q.make_room(0);
        assert_eq!(q.capacity(), 0);
        // Then the read gets its 16 KB again.
        q.wake();
        q.make_room(0);
        assert!(q.capacity() >= IOBUF_LEN);
    }

    #[test]
    fn a_big_buffer_shrinks_to_the_recent_peak_but_keeps_unparsed_bytes() {
        let mut q = QueryBuffer::new();
        q.make_room(400_000);
        assert!(q.capacity() >= 400_000);
        // The period that read the big argument keeps it.
        aged(&mut q, CHECK_EVERY);
        assert!(!q.check_busy(0));
        // A quiet period: small commands only.
        q.buf.extend_from_slice(b"abc");
        q.on_read();
        aged(&mut q, CHECK_EVERY);
        assert!(q.check_busy(0));
        assert_eq!(&q.buf[..], b"abc");
        assert!(q.capacity() >= 3 && q.capacity() < RESIZE_THRESHOLD);
        // Never below a bulk argument being read.
        let mut q = QueryBuffer::new();
        q.make_room(100_000);
        aged(&mut q, CHECK_EVERY);
        assert!(!q.check_busy(20_000));
        aged(&mut q, CHECK_EVERY);
        assert!(q.check_busy(20_000));
        assert!(
            (20_000..100_000).contains(&q.capacity()),
            "{}",
            q.capacity()
        );
    }
}
