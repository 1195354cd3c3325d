//! One key's record: the key, its value, its expiry instant and an access clock, in one
//! allocation sized to the key.
//!
//! Layout (Valkey 8's embedded key, in Rust): a 32-byte header — the [`Value`] (24 bytes,
//! which holds a string of up to 22 bytes inline), the access word and a length word — then,
//! only when the key has or had a TTL, its 8-byte expiry instant, then the key's bytes. A key
//! without a TTL of up to 16 bytes with a short string value therefore fits jemalloc's
//! 48-byte class; the previous fixed layout (key and value as 24-byte inline strings plus the
//! expiry and the access word) needed the 64-byte class for every key, and a separate block
//! for keys over 22 bytes. Most cache keys never get a TTL, and giving one to a key that has
//! no room for it moves the entry to a new block ([`Entry::with_expire_at`]), as Valkey does.
//!
//! `Entry` is a dynamically sized type (its tail is a byte slice), so `&Entry` and
//! `Box<Entry>` are wide pointers and the compiler computes its size and layout; the tables
//! hold the thin [`EntryPtr`] (8 bytes) instead, which reads the tail's length from the
//! header. The `access` word is the room the eviction policies need: an LRU clock in seconds,
//! or (under an LFU policy) a decay time and a logarithmic counter.

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

/// A stored key: see the module doc for the layout.
#[repr(C)]
pub struct Entry {
    /// The key's value. A real field, so commands match on it and change it in place.
    pub value: Value,
    /// LRU clock (seconds) or LFU state; see [`crate::keyspace::clock`].
    pub access: u32,
    /// The key's length, with [`HAS_EXPIRE`] set when the tail starts with an expiry slot.
    meta: u32,
    /// `[expire_at: 8 bytes, when HAS_EXPIRE][key bytes]`.
    tail: [u8],
}

/// `meta`'s flag for an expiry slot at the start of the tail.
const HAS_EXPIRE: u32 = 1 << 31;
/// Bytes of the expiry slot.
const EXPIRE_BYTES: usize = 8;

/// The fixed part of [`Entry`], laid out identically (both `repr(C)`, same leading fields):
/// the size and alignment an entry's allocation is computed from, and where a thin pointer
/// reads the tail's length.
#[repr(C)]
struct Header {
    value: Value,
    access: u32,
    meta: u32,
}

const HEADER: usize = std::mem::size_of::<Header>();
const ALIGN: usize = std::mem::align_of::<Header>();

/// The longest key an entry holds (2 GiB - 1): the length shares a `u32` with a flag. What
/// feeds the keyspace checks it first: the protocol reader's `proto-max-bulk-len` is capped
/// at it (config.rs), and the RDB loader and the full-sync reader refuse longer keys, so the
/// assert in `build` guards against a bug, not against input.
pub const MAX_KEY_LEN: usize = (HAS_EXPIRE - 1) as usize;

impl Entry {
    /// A boxed entry with no TTL.
    pub fn new(key: &[u8], value: Value) -> Box<Entry> {
        Self::build(key, value, 0, 0, false)
    }

    /// A boxed entry with every field given; room for an expiry is made only when `expire_at`
    /// is set (0 means no TTL).
    pub fn boxed(key: &[u8], value: Value, expire_at: u64, access: u32) -> Box<Entry> {
        Self::build(key, value, expire_at, access, expire_at != 0)
    }

    fn build(key: &[u8], value: Value, expire_at: u64, access: u32, slot: bool) -> Box<Entry> {
        assert!(key.len() <= MAX_KEY_LEN, "key longer than an entry holds");
        let extra = if slot { EXPIRE_BYTES } else { 0 };
        let tail_len = extra + key.len();
        let layout = layout_for(tail_len);
        // SAFETY: the layout has a non-zero size (the header alone is 32 bytes). Every field
        // is written before the box is made: the header through a `Header` pointer (same
        // layout as `Entry`'s leading fields), then the tail bytes. The wide pointer carries
        // `tail_len` as its metadata, so `Layout::for_value` on it gives `layout` back (same
        // computation: header size plus tail, rounded up to the alignment), which is what
        // `Box` deallocates with.
        unsafe {
            let p = std::alloc::alloc(layout);
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            p.cast::<Header>().write(Header {
                value,
                access,
                meta: key.len() as u32 | if slot { HAS_EXPIRE } else { 0 },
            });
            let t = p.add(HEADER);
            if slot {
                t.cast::<[u8; EXPIRE_BYTES]>()
                    .write_unaligned(expire_at.to_ne_bytes());
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), t.add(extra), key.len());
            Box::from_raw(wide(p, tail_len))
        }
    }

    /// The key's bytes.
    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.tail[self.key_start()..]
    }

    #[inline]
    fn key_start(&self) -> usize {
        if self.meta & HAS_EXPIRE != 0 {
            EXPIRE_BYTES
        } else {
            0
        }
    }

    /// Absolute expiry in Unix milliseconds; 0 when the key has no TTL.
    #[inline]
    pub fn expire_at(&self) -> u64 {
        match self.tail.first_chunk::<EXPIRE_BYTES>() {
            Some(b) if self.meta & HAS_EXPIRE != 0 => u64::from_ne_bytes(*b),
            _ => 0,
        }
    }

    /// Whether the entry has room for an expiry, so [`Entry::set_expire_at`] can store one.
    #[inline]
    pub fn has_expire_slot(&self) -> bool {
        self.meta & HAS_EXPIRE != 0
    }

    /// Sets the expiry in place. Returns false (and changes nothing) when a TTL is asked for
    /// and the entry has no room for one: the caller moves it with [`Entry::with_expire_at`].
    #[inline]
    pub fn set_expire_at(&mut self, at: u64) -> bool {
        if self.meta & HAS_EXPIRE == 0 {
            return at == 0;
        }
        if let Some(b) = self.tail.first_chunk_mut::<EXPIRE_BYTES>() {
            *b = at.to_ne_bytes();
        }
        true
    }

    /// The entry with its expiry set to `at`: in place when it has room, otherwise moved to a
    /// block that has (the value moves, it is not copied).
    pub fn with_expire_at(mut self: Box<Self>, at: u64) -> Box<Entry> {
        if self.set_expire_at(at) {
            return self;
        }
        let value = self.take_value();
        Self::build(self.key(), value, at, self.access, true)
    }

    /// The same entry under another key (RENAME, MOVE's target): a new block, the value moved.
    #[allow(clippy::boxed_local)] // `Entry` is unsized: it exists only behind a pointer
    pub fn rekey(mut self: Box<Self>, key: &[u8]) -> Box<Entry> {
        let value = self.take_value();
        let at = self.expire_at();
        Self::build(key, value, at, self.access, at != 0)
    }

    /// Moves the value out, leaving an empty string (the entry is about to be dropped).
    fn take_value(&mut self) -> Value {
        std::mem::replace(&mut self.value, Value::Str(SmallBytes::new(b"")))
    }

    /// A copy of the entry in a new block (an expiry slot is kept if it has one).
    pub fn to_boxed(&self) -> Box<Entry> {
        Self::build(
            self.key(),
            self.value.clone(),
            self.expire_at(),
            self.access,
            self.has_expire_slot(),
        )
    }

    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        let at = self.expire_at();
        at != 0 && at <= now_ms
    }

    /// Bytes this entry costs on the heap (its block and the value's own blocks).
    pub fn memory(&self) -> usize {
        self.memory_sampled(usize::MAX)
    }

    /// [`Entry::memory`] estimated from `samples` elements of a big collection (MEMORY USAGE).
    pub fn memory_sampled(&self, samples: usize) -> usize {
        std::mem::size_of_val(self) + self.value.heap_size_sampled(samples)
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value)
            .field("expire_at", &self.expire_at())
            .field("access", &self.access)
            .finish()
    }
}

/// The allocation of an entry whose tail is `tail_len` bytes: what `Layout::for_value`
/// computes for it (checked by a test).
fn layout_for(tail_len: usize) -> std::alloc::Layout {
    let size = (HEADER + tail_len).next_multiple_of(ALIGN);
    // Cannot fail: the size is below `isize::MAX` (keys are at most 2^31 bytes) and the
    // alignment is a power of two.
    std::alloc::Layout::from_size_align(size, ALIGN).unwrap_or_else(|_| unreachable!())
}

/// The wide pointer to the entry at `p` whose tail is `tail_len` bytes.
#[inline(always)]
fn wide(p: *mut u8, tail_len: usize) -> *mut Entry {
    std::ptr::slice_from_raw_parts_mut(p, tail_len) as *mut Entry
}

/// An owned entry as the key tables hold it: a thin pointer (8 bytes, where `Box<Entry>` is
/// 16), which rebuilds the wide pointer from the length in the entry's header. Owns the entry
/// as a `Box<Entry>` would (dropping it frees the entry).
pub struct EntryPtr(std::ptr::NonNull<u8>);

// SAFETY: an `EntryPtr` is an owned `Box<Entry>` stored thin; `Entry` is Send and Sync (its
// fields are), and the pointer is never shared outside the owner.
unsafe impl Send for EntryPtr {}
unsafe impl Sync for EntryPtr {}

impl EntryPtr {
    #[inline]
    pub fn new(e: Box<Entry>) -> Self {
        let p = Box::into_raw(e) as *mut u8;
        // SAFETY: `Box::into_raw` never returns null.
        EntryPtr(unsafe { std::ptr::NonNull::new_unchecked(p) })
    }

    /// The address of the entry's first byte (for prefetching).
    #[inline(always)]
    pub fn addr(&self) -> *const u8 {
        self.0.as_ptr()
    }

    #[inline(always)]
    fn wide(&self) -> *mut Entry {
        let p = self.0.as_ptr();
        // SAFETY: `p` points to a live entry made by `Entry::build` (only boxes become
        // `EntryPtr`s); its header's `meta` word tells the tail's length.
        let meta = unsafe {
            p.add(std::mem::offset_of!(Header, meta))
                .cast::<u32>()
                .read()
        };
        let extra = if meta & HAS_EXPIRE != 0 {
            EXPIRE_BYTES
        } else {
            0
        };
        wide(p, (meta & !HAS_EXPIRE) as usize + extra)
    }

    /// Gives the entry back as a box.
    #[inline]
    pub fn into_box(self) -> Box<Entry> {
        let w = self.wide();
        std::mem::forget(self);
        // SAFETY: `w` is the wide pointer `Box::into_raw` returned in `new` (same address,
        // same tail length), and ownership passes back (`self` is forgotten).
        unsafe { Box::from_raw(w) }
    }

    /// Replaces the entry with `f(entry)` (an entry moved to a new block keeps its place in
    /// the table: same key, same hash).
    pub fn replace_with(&mut self, f: impl FnOnce(Box<Entry>) -> Box<Entry>) {
        let w = self.wide();
        // SAFETY: as in `into_box`; `self` is overwritten below with the result before anyone
        // can read it again, and `f` cannot observe `self` (it is borrowed mutably here).
        let b = unsafe { Box::from_raw(w) };
        let new = f(b);
        let p = Box::into_raw(new) as *mut u8;
        // SAFETY: never null.
        self.0 = unsafe { std::ptr::NonNull::new_unchecked(p) };
    }
}

impl Drop for EntryPtr {
    fn drop(&mut self) {
        // SAFETY: as in `into_box`; this is the last use of the pointer.
        drop(unsafe { Box::from_raw(self.wide()) });
    }
}

impl std::ops::Deref for EntryPtr {
    type Target = Entry;
    #[inline(always)]
    fn deref(&self) -> &Entry {
        // SAFETY: the entry is live and owned by `self`; shared borrow of `self` gives a shared
        // borrow of it.
        unsafe { &*self.wide() }
    }
}

impl std::ops::DerefMut for EntryPtr {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Entry {
        // SAFETY: as in `deref`, exclusive because `self` is borrowed exclusively.
        unsafe { &mut *self.wide() }
    }
}

impl std::fmt::Debug for EntryPtr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(SmallBytes::new(v.as_bytes()))
    }

    #[test]
    fn entry_stays_compact() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(HEADER, 32);
        assert_eq!(std::mem::size_of::<EntryPtr>(), 8);
        // A 16-byte key without a TTL and a short string: jemalloc's 48-byte class.
        let e = Entry::new(b"key:000000012345", s("0123456789abcdef"));
        assert_eq!(std::mem::size_of_val(&*e), 48);
        let e = e.with_expire_at(5);
        assert_eq!(std::mem::size_of_val(&*e), 56);
    }

    /// The layout computed for an allocation is the one `Box` frees with.
    #[test]
    fn layout_matches_the_compilers() {
        for n in [0usize, 1, 7, 8, 9, 16, 17, 100, 1000] {
            let key = vec![b'k'; n];
            for at in [0u64, 7] {
                let e = Entry::boxed(&key, s("v"), at, 3);
                let tail = n + if at != 0 { EXPIRE_BYTES } else { 0 };
                assert_eq!(std::alloc::Layout::for_value(&*e), layout_for(tail));
                assert_eq!(e.key(), &key[..]);
                assert_eq!(e.expire_at(), at);
                assert_eq!(e.access, 3);
            }
        }
    }

    #[test]
    fn expiry_rekey_copy_and_thin_pointer_round_trip() {
        let mut e = Entry::new(b"k", s("v"));
        assert!(e.set_expire_at(0));
        assert!(!e.set_expire_at(9), "no room: the caller must move it");
        assert_eq!(e.expire_at(), 0);
        let mut e = e.with_expire_at(9);
        assert_eq!((e.key(), e.expire_at()), (&b"k"[..], 9));
        assert!(e.set_expire_at(0));
        assert!(!e.is_expired(100));
        e.set_expire_at(50);
        assert!(e.is_expired(50) && !e.is_expired(49));
        let r = e.rekey(b"a-longer-key-than-before");
        assert_eq!(r.key(), b"a-longer-key-than-before");
        assert_eq!((r.expire_at(), r.value.clone()), (50, s("v")));
        let c = r.to_boxed();
        let mut p = EntryPtr::new(r);
        assert_eq!(p.key(), c.key());
        p.value = s("w");
        p.replace_with(|b| b.rekey(b"x"));
        assert_eq!((p.key(), &p.value), (&b"x"[..], &s("w")));
        let b = p.into_box();
        assert_eq!(b.expire_at(), 50);
        drop(EntryPtr::new(c));
    }
}
