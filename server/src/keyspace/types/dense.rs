//! `Dense<T>`: the "hashtable" encoding of hashes and sets.
//!
//! Elements live in a dense `Vec` and a hash index maps keys to positions (4 bytes a slot).
//! Density makes random picks O(1) (HRANDFIELD, SPOP, SRANDMEMBER) and makes a scan cursor
//! simple and stable: deletes swap the last element into the hole, so a cursor that walks
//! positions from the top down never misses an element that stays in the collection.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Something with a byte-string key.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

impl Keyed for crate::keyspace::SmallBytes {
    fn key(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<V> Keyed for (crate::keyspace::SmallBytes, V) {
    fn key(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// Dense storage with a hash index.
#[derive(Clone, Debug, Default)]
pub struct Dense<T> {
    items: Vec<T>,
    index: HashTable<u32>,
    hasher: RandomState,
}

impl<T: Keyed> Dense<T> {
    pub fn with_capacity(n: usize) -> Self {
        Dense {
            items: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            hasher: RandomState::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items.get_mut(i)
    }

    /// Position of the element with this key.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let h = self.hasher.hash_one(key);
        let items = &self.items;
        self.index
            .find(h, |&i| {
                items.get(i as usize).is_some_and(|t| t.key() == key)
            })
            .map(|&i| i as usize)
    }

    /// Adds an element whose key is not present yet; returns its position.
    pub fn push_new(&mut self, t: T) -> usize {
        let pos = self.items.len();
        let h = self.hasher.hash_one(t.key());
        self.items.push(t);
        let (items, hasher) = (&self.items, &self.hasher);
        self.index.insert_unique(h, pos as u32, |&i| {
            hasher.hash_one(items.get(i as usize).map_or(&[][..], |t| t.key()))
        });
        pos
    }

    /// Removes the element at `pos`; the last element takes its place.
    pub fn swap_remove(&mut self, pos: usize) -> Option<T> {
        let last = self.items.len().checked_sub(1)?;
        if pos > last {
            return None;
        }
        self.unindex(pos);
        if pos != last {
            let h = self.hasher.hash_one(self.items[last].key());
            if let Some(slot) = self.index.find_mut(h, |&i| i as usize == last) {
                *slot = pos as u32;
            }
        }
        let t = self.items.swap_remove(pos);
        if self.items.capacity() > 64 && self.items.len() < self.items.capacity() / 4 {
            self.items.shrink_to(self.items.len() * 2);
            let (items, hasher) = (&self.items, &self.hasher);
            self.index.shrink_to(items.len() * 2, |&i| {
                hasher.hash_one(items.get(i as usize).map_or(&[][..], |t| t.key()))
            });
        }
        Some(t)
    }

    fn unindex(&mut self, pos: usize) {
        let h = self.hasher.hash_one(self.items[pos].key());
        if let Ok(e) = self.index.find_entry(h, |&i| i as usize == pos) {
            e.remove();
        }
    }

    /// Heap bytes held: the element slots and the index (4-byte slot + 1 control byte).
    pub fn memory(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<T>() + self.index.capacity() * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::SmallBytes;

    #[test]
    fn dense_index_follows_swap_remove() {
        let mut d: Dense<SmallBytes> = Dense::with_capacity(0);
        for i in 0..1000 {
            d.push_new(SmallBytes::new(format!("m{i}").as_bytes()));
        }
        for i in (0..1000).step_by(3) {
            let p = d.find(format!("m{i}").as_bytes()).unwrap();
            d.swap_remove(p);
        }
        for i in 0..1000 {
            let found = d.find(format!("m{i}").as_bytes());
            assert_eq!(found.is_some(), i % 3 != 0, "m{i}");
            if let Some(p) = found {
                assert_eq!(d.get(p).unwrap().as_slice(), format!("m{i}").as_bytes());
            }
        }
    }
}
