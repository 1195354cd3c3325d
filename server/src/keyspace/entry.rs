//! One key's record: the key, its value, its expiry instant and an access clock.
//!
//! Entries are boxed inside the per-slot tables (the table holds 8-byte pointers), which keeps
//! per-slot tables cheap when they are sparsely loaded and makes table growth move pointers,
//! not records. The `access` word is the room the eviction policies need: an LRU clock in
//! seconds, or (under an LFU policy) a decay time and a logarithmic counter.

use super::small::SmallBytes;
use super::types::{HashValue, ListValue, SetValue, StreamValue, ZSetValue};

/// A key's value. Every type the server supports is a variant here, so a `match` on it tells
/// the compiler every place a new type must be handled (TYPE, DUMP, DIGEST, memory, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A Redis string (also integers, bitmaps and HyperLogLogs).
    Str(SmallBytes),
    /// Held inline (16 bytes): one allocation less per hash key.
    Hash(HashValue),
    /// Held inline (16 bytes): a small list is one allocation.
    List(ListValue),
    /// Held inline (16 bytes): a small integer set is one allocation.
    Set(SetValue),
    /// Held inline (16 bytes), like hashes.
    ZSet(ZSetValue),
    Stream(Box<StreamValue>),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING reports; chosen by the same rules Redis uses so tools that
    /// inspect encodings see familiar answers.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                // Edited in place: Redis's "raw" (its own sds), whatever the content.
                if s.is_edited() {
                    "raw"
                } else if s.len() <= 20 && crate::util::parse_i64_strict(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::Hash(v) => v.encoding(),
            Value::List(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate bytes owned by the value beyond the entry itself.
    pub fn heap_size(&self) -> usize {
        self.heap_size_sampled(usize::MAX)
    }

    /// [`Value::heap_size`] with a big collection's element blocks estimated from `samples`
    /// elements (MEMORY USAGE's SAMPLES; `usize::MAX` is exact), so sizing a key costs
    /// O(samples), not O(elements).
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::Hash(v) => v.memory_sampled(samples),
            Value::List(v) => v.memory_sampled(samples),
            Value::Set(v) => v.memory_sampled(samples),
            Value::ZSet(v) => v.memory_sampled(samples),
            Value::Stream(v) => std::mem::size_of::<StreamValue>() + v.memory_sampled(samples),
        }
    }
}

/// A stored key.
#[derive(Clone, Debug)]
pub struct Entry {
    pub key: SmallBytes,
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 when the key has no TTL.
    pub expire_at: u64,
    /// LRU clock (seconds) or LFU state; see [`crate::keyspace::clock`].
    pub access: u32,
}

impl Entry {
    pub fn new(key: &[u8], value: Value) -> Self {
        Entry {
            key: SmallBytes::new(key),
            value,
            expire_at: 0,
            access: 0,
        }
    }

    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    /// Bytes this entry costs on the heap (the box, the key and the value's own blocks).
    pub fn memory(&self) -> usize {
        self.memory_sampled(usize::MAX)
    }

    /// [`Entry::memory`] estimated from `samples` elements of a big collection (MEMORY USAGE).
    pub fn memory_sampled(&self, samples: usize) -> usize {
        std::mem::size_of::<Entry>() + self.key.heap_size() + self.value.heap_size_sampled(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_stays_compact() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert!(std::mem::size_of::<Entry>() <= 64);
    }
}
