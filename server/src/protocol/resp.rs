//! Reply encoding for RESP2 and RESP3, written straight into the connection's output buffer.
//!
//! Commands describe replies through this writer in RESP3 terms (maps, sets, doubles, nulls,
//! booleans, pushes); a RESP2 connection gets the RESP2 rendering of the same reply (maps and
//! sets as flat arrays, doubles as bulk strings, booleans as integers), as Redis does.

use bytes::{BufMut, BytesMut};

/// Output sink for one connection's replies.
pub struct Out {
    pub buf: BytesMut,
    pub resp3: bool,
    /// Where in `buf` push messages start (pub/sub confirmations): they reach the client
    /// even under CLIENT REPLY OFF / SKIP, as in Redis.
    kept: Vec<usize>,
}

impl Out {
    pub fn new(resp3: bool) -> Self {
        Out {
            buf: BytesMut::with_capacity(16 * 1024),
            resp3,
            kept: Vec::new(),
        }
    }

    /// Marks what was written since `start` as a push message (see [`Out::truncate_replies`]).
    pub fn keep_from(&mut self, start: usize) {
        self.kept.push(start);
        self.kept.push(self.buf.len());
    }

    /// Drops what was written since `mark` except the push messages, which stay in order.
    pub fn truncate_replies(&mut self, mark: usize) {
        let kept = std::mem::take(&mut self.kept);
        let mut pushes = Vec::new();
        for r in kept.chunks_exact(2) {
            if r[0] >= mark && r[1] <= self.buf.len() {
                pushes.extend_from_slice(&self.buf[r[0]..r[1]]);
            }
        }
        self.buf.truncate(mark);
        self.buf.extend_from_slice(&pushes);
    }

    /// Forgets the push marks (a command's reply is settled).
    pub fn clear_kept(&mut self) {
        self.kept.clear();
    }

    #[inline]
    fn line(&mut self, prefix: u8, n: i64) {
        self.buf.put_u8(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.put_slice(b.format(n).as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// A status reply; `s` must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.put_u8(b'+');
        self.buf.put_slice(s.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// An error reply. `msg` carries its code (`ERR ...`, `WRONGTYPE ...`); newlines are
    /// replaced so a message can never break framing.
    pub fn error(&mut self, msg: &str) {
        self.buf.put_u8(b'-');
        for &b in msg.as_bytes() {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.put_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.line(b':', n);
    }

    pub fn bulk(&mut self, b: &[u8]) {
        self.line(b'$', b.len() as i64);
        self.buf.put_slice(b);
        self.buf.put_slice(b"\r\n");
    }

    /// A bulk reply for a number (INCRBYFLOAT, ZSCORE in RESP2).
    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }

    /// The null reply (`$-1` in RESP2, `_` in RESP3).
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"$-1\r\n");
        }
    }

    /// A null where RESP2 uses the null array (`*-1`): timeouts of blocking commands, EXEC
    /// aborted by WATCH.
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, len: usize) {
        self.line(b'*', len as i64);
    }

    /// A map header of `len` pairs (RESP2: an array of 2*len).
    pub fn map(&mut self, len: usize) {
        if self.resp3 {
            self.line(b'%', len as i64);
        } else {
            self.line(b'*', 2 * len as i64);
        }
    }

    /// A set header (RESP2: an array).
    pub fn set(&mut self, len: usize) {
        self.line(if self.resp3 { b'~' } else { b'*' }, len as i64);
    }

    /// An out-of-band push header (RESP2: an array), for pub/sub messages.
    pub fn push(&mut self, len: usize) {
        self.line(if self.resp3 { b'>' } else { b'*' }, len as i64);
    }

    /// A double, formatted as Redis formats it (RESP2: a bulk string).
    pub fn double(&mut self, d: f64) {
        let s = crate::util::fmt_double(d);
        if self.resp3 {
            self.buf.put_u8(b',');
            self.buf.put_slice(s.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A double already formatted by the caller (GEOPOS's `%.17Lf` coordinates): a `,`
    /// double in RESP3, a bulk string in RESP2.
    pub fn double_str(&mut self, s: &str) {
        if self.resp3 {
            self.buf.put_u8(b',');
            self.buf.put_slice(s.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// An attribute header of `len` pairs (RESP3 `|`): out-of-band data about the reply
    /// that follows. RESP2 has no such type, so nothing is written there and the caller's
    /// pairs must be skipped too.
    pub fn attribute(&mut self, len: usize) {
        if self.resp3 {
            self.line(b'|', len as i64);
        }
    }

    /// A big number given as its decimal digits (RESP3 `(`; RESP2: a bulk string).
    pub fn big_number(&mut self, digits: &str) {
        if self.resp3 {
            self.buf.put_u8(b'(');
            self.buf.put_slice(digits.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }

    /// A boolean (RESP2: 1 or 0).
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A verbatim string (RESP3 `=`, with a 3-letter format) or a bulk string in RESP2.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3 {
            self.line(b'=', (text.len() + 4) as i64);
            self.buf.put_slice(format.as_bytes());
            self.buf.put_u8(b':');
            self.buf.put_slice(text);
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// An array of bulk strings.
    pub fn bulks<I, B>(&mut self, items: I)
    where
        I: IntoIterator<Item = B>,
        I::IntoIter: ExactSizeIterator,
        B: AsRef<[u8]>,
    {
        let it = items.into_iter();
        self.array(it.len());
        for b in it {
            self.bulk(b.as_ref());
        }
    }

    /// Bytes written so far (used to take back a reply under CLIENT REPLY OFF/SKIP).
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_render_the_same_reply() {
        let mut o2 = Out::new(false);
        let mut o3 = Out::new(true);
        for o in [&mut o2, &mut o3] {
            o.map(1);
            o.bulk(b"k");
            o.double(1.5);
            o.null();
            o.boolean(true);
        }
        assert_eq!(&o2.buf[..], b"*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n");
        assert_eq!(&o3.buf[..], b"%1\r\n$1\r\nk\r\n,1.5\r\n_\r\n#t\r\n");
    }
}
