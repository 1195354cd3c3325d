//! DUMP payloads as Redis frames them: the value (type byte and body), the RDB version
//! (u16 LE) and a CRC64 (u64 LE, Redis's Jones polynomial) of everything before it.

use super::decode::{read_value, Limits, Reader};
use super::{encode, BadFormat, BAD_FORMAT, MAX_READ_VERSION, VERSION};
use crate::keyspace::Value;

/// Slice-by-16 tables (32 KB): the byte-at-a-time default cost DUMP about a tenth of its
/// CPU on large values, as much as Redis's whole margin.
const CRC: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);
const FOOTER: usize = 10;

/// Why a payload was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Shorter than its footer, from a newer RDB version, or the checksum does not match.
    VersionOrChecksum,
    /// The checksum matched but the value did not load.
    BadFormat,
}

impl Refused {
    /// The error reply Redis gives.
    pub fn message(&self) -> &'static str {
        match self {
            Refused::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            Refused::BadFormat => BAD_FORMAT,
        }
    }
}

impl From<BadFormat> for Refused {
    fn from(_: BadFormat) -> Self {
        Refused::BadFormat
    }
}

/// `body` followed by the version and the checksum (also lets tests and the fuzz target
/// build payloads that reach the decoder).
pub fn seal(mut body: Vec<u8>, version: u16) -> Vec<u8> {
    body.extend_from_slice(&version.to_le_bytes());
    let crc = CRC.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The body of a payload whose footer checks out (version and CRC64), as Redis's
/// `verifyDumpPayload` judges it.
pub fn verified(p: &[u8]) -> Result<&[u8], Refused> {
    if p.len() < FOOTER {
        return Err(Refused::VersionOrChecksum);
    }
    let (data, crc) = p.split_at(p.len() - 8);
    let version = u16::from_le_bytes([data[data.len() - 2], data[data.len() - 1]]);
    let crc = u64::from_le_bytes(crc.try_into().map_err(|_| Refused::VersionOrChecksum)?);
    if version > MAX_READ_VERSION || CRC.checksum(data) != crc {
        return Err(Refused::VersionOrChecksum);
    }
    Ok(&data[..data.len() - 2])
}

/// The DUMP payload of a value.
pub fn dump(v: &Value) -> Vec<u8> {
    let mut body = Vec::new();
    encode::write_value(&mut body, v);
    seal(body, VERSION)
}

/// Checks the footer as Redis's `verifyDumpPayload` does (accepting up to RDB 11, so Redis
/// 7.2 payloads load too), then reads the value. Bytes between the value and the footer are
/// ignored, as Redis ignores them.
pub fn restore(p: &[u8], lim: &Limits) -> Result<Value, Refused> {
    if p.len() < FOOTER {
        return Err(Refused::VersionOrChecksum);
    }
    decode_body(verified(p)?, lim)
}

/// The value in a payload's body (the bytes before its footer), which [`restore`] decodes once
/// the footer checks out.
pub(crate) fn decode_body(body: &[u8], lim: &Limits) -> Result<Value, Refused> {
    let mut r = Reader::new(body);
    let t = r.byte()?;
    Ok(read_value(&mut r, t, lim)?)
}
