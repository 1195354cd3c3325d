//! slotcache's own value encoding, between slotcache nodes only: full syncs to replicas.
//! (DUMP, RESTORE and MIGRATE speak Redis's RDB format, in the `rdb` module.)
//!
//! Layout: `[format version: u8][type tag: u8][type payload][CRC64: 8 bytes LE]`, the CRC
//! (CRC-64/XZ, via `crc64fast`) covering every byte before it. The version lets a newer server
//! refuse (or translate) payloads it does not understand instead of misreading them; the CRC
//! catches payloads that were truncated or mangled in transit (MIGRATE, copy and paste through
//! redis-cli). Each value type has its own tag, so adding a type is adding a tag and its
//! payload codec; existing payloads keep decoding.
//!
//! Payloads are built from two primitives: unsigned LEB128 varints and length-prefixed byte
//! strings. Decoding never trusts a length: every read is checked against what remains, so a
//! hostile payload can neither panic the server nor make it allocate more than the payload's
//! own size.

use super::entry::Value;
use super::small::SmallBytes;
use super::types::{HashValue, ListValue, SetValue, StreamValue, ZSetValue};

/// The format version written by this server. Payloads with a higher version are refused.
pub const FORMAT_VERSION: u8 = 1;

/// Type tags. Never renumber: they are part of the format.
mod tag {
    pub const STRING: u8 = 0;
    pub const HASH: u8 = 1;
    pub const LIST: u8 = 2;
    pub const SET: u8 = 3;
    pub const ZSET: u8 = 4;
    pub const STREAM: u8 = 5;
}

/// Bytes the header (version, tag) and the trailer (CRC) add to a payload.
const HEADER: usize = 2;
const TRAILER: usize = 8;

/// Why a payload could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Too short, from a newer format, or the checksum does not match.
    VersionOrChecksum,
    /// The checksum matched but the content does not describe a value we know.
    BadFormat,
}

impl DecodeError {
    /// The error reply Redis gives for the same failure.
    pub fn message(&self) -> &'static str {
        match self {
            DecodeError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            DecodeError::BadFormat => "ERR Bad data format",
        }
    }
}

fn crc64(data: &[u8]) -> u64 {
    let mut d = crc64fast::Digest::new();
    d.write(data);
    d.sum64()
}

/// `body` (version byte, type tag, payload) with the checksum a DUMP payload ends with: lets
/// the fuzz target reach the decoders past the CRC check.
pub fn with_checksum(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&crc64(body).to_le_bytes());
    out
}

/// The full DUMP payload of a value.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + TRAILER + body_len(v));
    out.push(FORMAT_VERSION);
    write_body(v, &mut out);
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The type tag and payload of a value, without version or checksum.
pub fn write_body(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            out.push(tag::STRING);
            write_bytes(out, s);
        }
        Value::Hash(h) => {
            out.push(tag::HASH);
            h.write_payload(out);
        }
        Value::List(l) => {
            out.push(tag::LIST);
            l.write_payload(out);
        }
        Value::Set(st) => {
            out.push(tag::SET);
            st.write_payload(out);
        }
        Value::ZSet(z) => {
            out.push(tag::ZSET);
            z.write_payload(out);
        }
        Value::Stream(st) => {
            out.push(tag::STREAM);
            st.write_payload(out);
        }
    }
}

/// Length of [`write_body`]'s output, without building it.
pub fn body_len(v: &Value) -> usize {
    match v {
        Value::Str(s) => 1 + varint_len(s.len() as u64) + s.len(),
        _ => {
            let mut out = Vec::new();
            write_body(v, &mut out);
            out.len()
        }
    }
}

/// Decodes a DUMP payload, checking version and checksum first.
pub fn decode(payload: &[u8]) -> Result<Value, DecodeError> {
    if payload.len() < HEADER + TRAILER {
        return Err(DecodeError::VersionOrChecksum);
    }
    let (data, trailer) = payload.split_at(payload.len() - TRAILER);
    let mut crc = [0u8; TRAILER];
    crc.copy_from_slice(trailer);
    if data[0] == 0 || data[0] > FORMAT_VERSION || crc64(data) != u64::from_le_bytes(crc) {
        return Err(DecodeError::VersionOrChecksum);
    }
    let mut r = Reader { buf: &data[1..] };
    let v = read_body(&mut r).ok_or(DecodeError::BadFormat)?;
    if !r.buf.is_empty() {
        return Err(DecodeError::BadFormat);
    }
    Ok(v)
}

fn read_body(r: &mut Reader) -> Option<Value> {
    match r.byte()? {
        tag::STRING => Some(Value::Str(SmallBytes::new(r.bytes()?))),
        tag::HASH => r.typed(HashValue::read_payload).map(Value::Hash),
        tag::LIST => r.typed(ListValue::read_payload).map(Value::List),
        tag::SET => r.typed(SetValue::read_payload).map(Value::Set),
        tag::ZSET => r.typed(ZSetValue::read_payload).map(Value::ZSet),
        tag::STREAM => r
            .typed(StreamValue::read_payload)
            .map(|v| Value::Stream(Box::new(v))),
        _ => None,
    }
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A bounds-checked cursor over a payload: every accessor returns `None` rather than reading
/// past the end.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Decodes a collection with its type's own payload decoder, advancing past it.
    fn typed<T>(&mut self, f: fn(&[u8]) -> Option<(T, usize)>) -> Option<T> {
        let (v, used) = f(self.buf)?;
        self.buf = self.buf.get(used..)?;
        Some(v)
    }

    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = (b & 0x7f) as u64;
            if shift == 63 && bits > 1 {
                return None;
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        if len > self.buf.len() {
            return None;
        }
        let (b, rest) = self.buf.split_at(len);
        self.buf = rest;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn s(b: &[u8]) -> Value {
        Value::Str(SmallBytes::new(b))
    }

    #[test]
    fn strings_round_trip() {
        for v in [
            s(b""),
            s(b"x"),
            s(b"12345"),
            s(&[0u8; 300]),
            s(&vec![7u8; 70_000]),
        ] {
            let p = encode(&v);
            assert_eq!(p[0], FORMAT_VERSION);
            assert_eq!(p.len(), 1 + body_len(&v) + TRAILER);
            assert_eq!(decode(&p), Ok(v));
        }
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for n in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, n);
            assert_eq!(out.len(), varint_len(n));
            assert_eq!(Reader { buf: &out }.varint(), Some(n));
        }
        // Eleven continuation bytes, or a 10th byte with bits beyond 64: refused.
        assert_eq!(Reader { buf: &[0xff; 11] }.varint(), None);
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(Reader { buf: &over }.varint(), None);
    }

    #[test]
    fn truncated_or_flipped_payloads_are_refused() {
        let p = encode(&s(b"hello world, this is a value"));
        for cut in 0..p.len() {
            assert_eq!(
                decode(&p[..cut]),
                Err(DecodeError::VersionOrChecksum),
                "cut {cut}"
            );
        }
        for i in 0..p.len() {
            for bit in 0..8 {
                let mut q = p.clone();
                q[i] ^= 1 << bit;
                assert!(decode(&q).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn newer_version_is_refused_even_with_a_valid_checksum() {
        let mut body = vec![FORMAT_VERSION + 1];
        write_body(&s(b"v"), &mut body);
        let crc = crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&body), Err(DecodeError::VersionOrChecksum));
    }

    /// Payloads with a correct checksum but hostile content: unknown tags, lengths beyond the
    /// payload (must not allocate them), trailing garbage.
    #[test]
    fn well_checksummed_garbage_is_bad_format() {
        let seal = |mut d: Vec<u8>| {
            let crc = crc64(&d);
            d.extend_from_slice(&crc.to_le_bytes());
            d
        };
        let mut huge = vec![FORMAT_VERSION, tag::STRING];
        write_varint(&mut huge, u64::MAX);
        huge.push(b'x');
        for d in [
            vec![FORMAT_VERSION, 200, 0],
            vec![FORMAT_VERSION, tag::STRING, 5, b'a'],
            vec![FORMAT_VERSION, tag::STRING, 1, b'a', b'b'],
            vec![FORMAT_VERSION, tag::STRING],
            huge,
        ] {
            assert_eq!(decode(&seal(d)), Err(DecodeError::BadFormat));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5107_cac4e);
        let valid = encode(&s(b"some value that is long enough to spill"));
        for _ in 0..200_000 {
            let len = rng.gen_range(0..64);
            let mut buf: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if rng.gen_bool(0.3) && !buf.is_empty() {
                buf[0] = FORMAT_VERSION;
            }
            let _ = decode(&buf);
            // Also random mutations of a valid payload (most fail the CRC; any outcome is fine
            // as long as nothing panics).
            let mut m = valid.clone();
            let i = rng.gen_range(0..m.len());
            m[i] = rng.gen();
            m.truncate(rng.gen_range(0..=m.len()));
            let _ = decode(&m);
            // And the decoder proper, behind the CRC, on random bodies.
            let mut r = Reader { buf: &buf };
            let _ = read_body(&mut r);
        }
    }
}
