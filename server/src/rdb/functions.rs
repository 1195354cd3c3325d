//! FUNCTION DUMP / RESTORE payloads as Redis 7.0 frames them: per library the RDB function
//! opcode (`RDB_OPCODE_FUNCTION2`, 245) and its code as an RDB string, then the RDB version
//! and CRC64 footer of DUMP payloads.

use super::decode::Reader;
use super::{encode, payload, VERSION};
use bytes::Bytes;

/// `RDB_OPCODE_FUNCTION2`: a library, as its code.
pub const OPCODE_FUNCTION2: u8 = 245;

/// The payload for libraries given by their code.
pub fn dump(codes: &[Bytes]) -> Vec<u8> {
    let mut body = Vec::new();
    for code in codes {
        body.push(OPCODE_FUNCTION2);
        encode::write_string(&mut body, code);
    }
    payload::seal(body, VERSION)
}

/// The libraries' code in a payload; `None` when its footer or content is not Redis's.
pub fn restore(p: &[u8]) -> Option<Vec<Bytes>> {
    let body = payload::verified(p).ok()?;
    let mut r = Reader::new(body);
    let mut codes = Vec::new();
    while r.remaining() > 0 {
        if r.byte().ok()? != OPCODE_FUNCTION2 {
            return None;
        }
        codes.push(Bytes::copy_from_slice(&r.string().ok()?));
    }
    Some(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_round_trip_and_bad_payloads_are_refused() {
        let codes = vec![Bytes::from("#!lua name=a\n"), Bytes::from("#!lua name=b\n")];
        let p = dump(&codes);
        assert_eq!(restore(&p), Some(codes));
        let mut bad = p;
        bad[3] ^= 1;
        assert_eq!(restore(&bad), None);
        assert_eq!(restore(b"short"), None);
    }
}
