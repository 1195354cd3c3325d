//! A sorted set: member -> score, ordered by (score, member).
//!
//! Representation and operations are owned by this module; the rest of the server sees only
//! its methods (length, encoding name, memory, payload encoding for DUMP and replication).

/// A sorted set: member -> score, ordered by (score, member).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSetValue {
    items: Vec<crate::keyspace::SmallBytes>,
}

impl ZSetValue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Heap bytes owned by the value.
    pub fn memory(&self) -> usize {
        self.items.iter().map(|i| 24 + i.heap_size()).sum()
    }

    /// DUMP/replication payload: count, then each item length-prefixed.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.items.len() as u32).to_le_bytes());
        for i in &self.items {
            out.extend_from_slice(&(i.len() as u32).to_le_bytes());
            out.extend_from_slice(i);
        }
    }

    /// Decodes [`Self::write_payload`]; `None` on truncated or malformed input.
    pub fn read_payload(input: &[u8]) -> Option<(Self, usize)> {
        let n = u32::from_le_bytes(input.get(..4)?.try_into().ok()?) as usize;
        let mut at = 4;
        let mut items = Vec::new();
        for _ in 0..n {
            let len = u32::from_le_bytes(input.get(at..at + 4)?.try_into().ok()?) as usize;
            at += 4;
            items.push(crate::keyspace::SmallBytes::new(input.get(at..at + len)?));
            at += len;
        }
        Some((Self { items }, at))
    }

    /// Feeds the value into a dataset digest.
    pub fn digest_into(&self, h: &mut sha1_smol::Sha1) {
        for i in &self.items {
            h.update(i);
        }
    }
}
