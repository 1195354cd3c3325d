//! The snapshot stream a primary sends on a full resync (and, later, the on-disk snapshot).
//!
//! Layout: the magic `SCSNAP`, a format version (u16 LE), then records, each a tag byte, a
//! u32 LE length and a body; the last record is `End`, followed by a CRC-64 (LE) of every
//! byte of the stream before it. Values inside `Entry` records use the DUMP encoding
//! (`keyspace::serialize`), so every value type the server knows travels, each with its own
//! checksum. `Effect` records carry writes made while the snapshot was being produced (see
//! [`super::sync`]); the replica applies records strictly in order.

use bytes::{Buf, BytesMut};

pub const MAGIC: &[u8; 6] = b"SCSNAP";
pub const VERSION: u16 = 1;
/// Largest record body accepted (a value up to proto-max-bulk-len plus framing).
pub const MAX_RECORD: usize = 600 * 1024 * 1024;

mod tag {
    pub const ENTRY: u8 = 1;
    pub const DELETE: u8 = 2;
    pub const EFFECT: u8 = 3;
    pub const END: u8 = 255;
}

/// One decoded record.
#[derive(Debug, PartialEq)]
pub enum Record {
    /// A key's full state: database, key, absolute expiry (0 = none), DUMP payload.
    Entry {
        db: u32,
        key: Vec<u8>,
        expire_at: u64,
        payload: Vec<u8>,
    },
    /// A key that no longer exists.
    Delete { db: u32, key: Vec<u8> },
    /// A write command to apply (RESP-encoded), in database `db`.
    Effect { db: u32, command: Vec<u8> },
    /// The snapshot is complete: the replica's offset is now `offset`, its selected stream
    /// database `db`.
    End { offset: u64, db: u32 },
}

/// Builds a snapshot stream incrementally, keeping the running checksum.
pub struct Writer {
    crc: crc64fast::Digest,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    pub fn new() -> Self {
        Writer {
            crc: crc64fast::Digest::new(),
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        self.crc.write(data);
        out.extend_from_slice(data);
    }

    pub fn header(&mut self, out: &mut Vec<u8>) {
        self.emit(out, MAGIC);
        self.emit(out, &VERSION.to_le_bytes());
    }

    fn record(&mut self, out: &mut Vec<u8>, tag: u8, body: &[u8]) {
        self.emit(out, &[tag]);
        self.emit(out, &(body.len() as u32).to_le_bytes());
        self.emit(out, body);
    }

    pub fn entry(
        &mut self,
        out: &mut Vec<u8>,
        db: u32,
        key: &[u8],
        expire_at: u64,
        payload: &[u8],
    ) {
        let mut body = Vec::with_capacity(16 + key.len() + payload.len());
        body.extend_from_slice(&db.to_le_bytes());
        body.extend_from_slice(&expire_at.to_le_bytes());
        body.extend_from_slice(&(key.len() as u32).to_le_bytes());
        body.extend_from_slice(key);
        body.extend_from_slice(payload);
        self.record(out, tag::ENTRY, &body);
    }

    pub fn delete(&mut self, out: &mut Vec<u8>, db: u32, key: &[u8]) {
        let mut body = Vec::with_capacity(4 + key.len());
        body.extend_from_slice(&db.to_le_bytes());
        body.extend_from_slice(key);
        self.record(out, tag::DELETE, &body);
    }

    pub fn effect(&mut self, out: &mut Vec<u8>, db: u32, command: &[u8]) {
        let mut body = Vec::with_capacity(4 + command.len());
        body.extend_from_slice(&db.to_le_bytes());
        body.extend_from_slice(command);
        self.record(out, tag::EFFECT, &body);
    }

    /// Ends the stream: the End record, then the checksum of everything before.
    pub fn end(&mut self, out: &mut Vec<u8>, offset: u64, db: u32) {
        let mut body = Vec::with_capacity(12);
        body.extend_from_slice(&offset.to_le_bytes());
        body.extend_from_slice(&db.to_le_bytes());
        self.record(out, tag::END, &body);
        let crc = self.crc.sum64();
        out.extend_from_slice(&crc.to_le_bytes());
    }
}

/// Why a stream was rejected.
#[derive(Debug, PartialEq)]
pub enum ReadError {
    BadMagic,
    Version(u16),
    TooLarge(usize),
    Malformed(&'static str),
    Checksum,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::BadMagic => write!(f, "not a slotcache snapshot"),
            ReadError::Version(v) => write!(f, "snapshot format version {v} is not supported"),
            ReadError::TooLarge(n) => write!(f, "snapshot record of {n} bytes is too large"),
            ReadError::Malformed(why) => write!(f, "malformed snapshot record: {why}"),
            ReadError::Checksum => write!(f, "snapshot checksum mismatch"),
        }
    }
}

/// Incremental reader: feed it bytes as they arrive, take records as they complete.
pub struct Reader {
    crc: crc64fast::Digest,
    header_done: bool,
    ended: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl Reader {
    pub fn new() -> Self {
        Reader {
            crc: crc64fast::Digest::new(),
            header_done: false,
            ended: false,
        }
    }

    /// The next complete record in `buf` (consumed), or `Ok(None)` if more bytes are needed.
    /// After `End` the checksum is verified and consumed too.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Record>, ReadError> {
        if !self.header_done {
            if buf.len() < 8 {
                return Ok(None);
            }
            if &buf[..6] != MAGIC {
                return Err(ReadError::BadMagic);
            }
            let v = u16::from_le_bytes([buf[6], buf[7]]);
            if v == 0 || v > VERSION {
                return Err(ReadError::Version(v));
            }
            self.crc.write(&buf[..8]);
            buf.advance(8);
            self.header_done = true;
        }
        if buf.len() < 5 {
            return Ok(None);
        }
        let tag = buf[0];
        let len = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if len > MAX_RECORD {
            return Err(ReadError::TooLarge(len));
        }
        let need = 5 + len + if tag == tag::END { 8 } else { 0 };
        if buf.len() < need {
            if buf.capacity() < need {
                buf.reserve(need - buf.len());
            }
            return Ok(None);
        }
        self.crc.write(&buf[..5 + len]);
        buf.advance(5);
        let body = buf.split_to(len);
        let rec = match tag {
            tag::ENTRY => {
                let db = u32_at(&body, 0).ok_or(ReadError::Malformed("entry"))?;
                let expire_at = u64_at(&body, 4).ok_or(ReadError::Malformed("entry"))?;
                let klen = u32_at(&body, 12).ok_or(ReadError::Malformed("entry"))? as usize;
                let key = body
                    .get(16..16 + klen)
                    .ok_or(ReadError::Malformed("entry key"))?;
                Record::Entry {
                    db,
                    key: key.to_vec(),
                    expire_at,
                    payload: body[16 + klen..].to_vec(),
                }
            }
            tag::DELETE => Record::Delete {
                db: u32_at(&body, 0).ok_or(ReadError::Malformed("delete"))?,
                key: body.get(4..).unwrap_or_default().to_vec(),
            },
            tag::EFFECT => Record::Effect {
                db: u32_at(&body, 0).ok_or(ReadError::Malformed("effect"))?,
                command: body.get(4..).unwrap_or_default().to_vec(),
            },
            tag::END => {
                let offset = u64_at(&body, 0).ok_or(ReadError::Malformed("end"))?;
                let db = u32_at(&body, 8).ok_or(ReadError::Malformed("end"))?;
                let want = u64::from_le_bytes(
                    buf[..8]
                        .try_into()
                        .map_err(|_| ReadError::Malformed("crc"))?,
                );
                buf.advance(8);
                if want != self.crc.sum64() {
                    return Err(ReadError::Checksum);
                }
                self.ended = true;
                Record::End { offset, db }
            }
            _ => return Err(ReadError::Malformed("unknown record tag")),
        };
        Ok(Some(rec))
    }

    pub fn ended(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_in_pieces_and_corruption_is_caught() {
        let mut w = Writer::new();
        let mut out = Vec::new();
        w.header(&mut out);
        w.entry(&mut out, 0, b"k", 123, b"payload");
        w.delete(&mut out, 1, b"gone");
        w.effect(&mut out, 0, b"*1\r\n$4\r\nPING\r\n");
        w.end(&mut out, 42, 0);
        let mut r = Reader::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for chunk in out.chunks(3) {
            buf.extend_from_slice(chunk);
            while let Some(rec) = r.next(&mut buf).unwrap() {
                got.push(rec);
            }
        }
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], Record::End { offset: 42, db: 0 });
        assert!(r.ended());
        let mut bad = out.clone();
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        let mut r = Reader::new();
        let mut buf = BytesMut::from(&bad[..]);
        let mut failed = false;
        for _ in 0..10 {
            match r.next(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "a flipped byte must be detected");
    }
}
