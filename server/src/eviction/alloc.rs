//! A counting wrapper for the global allocator: used memory as Redis's zmalloc counts it,
//! readable in nanoseconds.
//!
//! Eviction needs "how much is allocated" before every command that may grow the dataset.
//! jemalloc's `stats.allocated` needs an epoch refresh that merges every arena's statistics
//! (tens of microseconds), far too slow per command. The wrapper adds each allocation's
//! size, rounded to jemalloc's size class, to one of 64 cache-line-sized shards chosen per
//! thread, so threads never contend; a read sums the shards.
//!
//! The first threads to allocate (the runtime's long-lived workers among them) each own a
//! shard and update it with a plain load and store: a locked add on every allocation and
//! free cost more than the allocation itself (profiled on XADD at pipeline 16, where the
//! locked adds of the argument buffers' allocations took a fifth of the server's CPU). Threads
//! started later (short-lived blocking-pool threads) share the remaining shards with atomic
//! adds. A thread's shard keeps its count when the thread ends: the sum stays right, as each
//! shard only ever changes by its writers' own allocations and frees.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

const SHARDS: usize = 64;
/// Shards 0..OWNED each belong to one thread; the rest are shared.
const OWNED: usize = SHARDS - 8;

#[repr(align(64))]
struct Shard(AtomicI64);

static COUNTS: [Shard; SHARDS] = [const { Shard(AtomicI64::new(0)) }; SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
static ACTIVE: AtomicBool = AtomicBool::new(false);

thread_local! {
    // `const`, no destructor: safe to touch from inside the allocator.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Wraps an allocator (jemalloc in the server binary) and counts what it hands out.
pub struct Counting<A>(pub A);

/// jemalloc's size class for a request (quantum 16, four classes per doubling), so the
/// count tracks what jemalloc really reserves.
#[inline]
pub fn size_class(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 16 {
        return 16;
    }
    let lg = usize::BITS - (n - 1).leading_zeros();
    let step = (1usize << (lg - 3)).max(16);
    (n + step - 1) & !(step - 1)
}

#[inline]
fn add(delta: i64) {
    let n = SHARD
        .try_with(|s| {
            let mut n = s.get();
            if n == usize::MAX {
                n = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
                s.set(n);
            }
            n
        })
        .unwrap_or(usize::MAX);
    if n < OWNED {
        // Only this thread writes this shard: no read-modify-write can interleave.
        let c = &COUNTS[n].0;
        c.store(c.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    } else {
        COUNTS[OWNED + n % (SHARDS - OWNED)]
            .0
            .fetch_add(delta, Ordering::Relaxed);
    }
}

/// Bytes allocated through [`Counting`], or `None` when it is not the global allocator
/// (unit tests, tools linking the library).
pub fn allocated() -> Option<u64> {
    if !ACTIVE.load(Ordering::Relaxed) {
        return None;
    }
    let sum: i64 = COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
    Some(sum.max(0) as u64)
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            if !ACTIVE.load(Ordering::Relaxed) {
                ACTIVE.store(true, Ordering::Relaxed);
            }
            add(size_class(layout.size()) as i64);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            add(size_class(layout.size()) as i64);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        add(-(size_class(layout.size()) as i64));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.0.realloc(ptr, layout, new_size);
        if !p.is_null() {
            add(size_class(new_size) as i64 - size_class(layout.size()) as i64);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_and_shared_shards_add_up_across_threads() {
        // Not the global allocator in unit tests: only this test moves the shards.
        let sum = || {
            COUNTS
                .iter()
                .map(|s| s.0.load(Ordering::Relaxed))
                .sum::<i64>()
        };
        let before = sum();
        // More threads than owned shards, at once, so shared shards see concurrent adds.
        let threads: Vec<_> = (0..SHARDS + 40)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..1000 {
                        add(3);
                        add(-1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sum() - before, 2000 * (SHARDS as i64 + 40));
    }

    #[test]
    fn size_classes_match_jemalloc() {
        let cases = [
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (33, 48),
            (64, 64),
            (65, 80),
            (100, 112),
            (129, 160),
            (257, 320),
            (10240, 10240),
            (10241, 12288),
            (16385, 20480),
            (1 << 20, 1 << 20),
        ];
        for (n, c) in cases {
            assert_eq!(size_class(n), c, "{n}");
        }
    }
}
