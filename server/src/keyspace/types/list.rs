//! A list of byte strings.
//!
//! Representation and operations are owned by this module; the rest of the server sees only
//! its methods (length, encoding name, memory, payload encoding for DUMP and replication).

/// A list of byte strings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListValue {
    items: Vec<crate::keyspace::SmallBytes>,
}

impl ListValue {
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
}
