//! jemalloc's own view of memory: its statistics (MEMORY STATS, MEMORY DOCTOR), its text
//! report (MEMORY MALLOC-STATS) and purging dirty pages (MEMORY PURGE).
//!
//! The server binary installs jemalloc as the global allocator (see `main.rs`), as Redis
//! does; these calls are how Redis's `zmalloc_get_allocator_info`, `je_malloc_stats_print`
//! and `jemalloc_purge` read and steer it. The counting wrapper in
//! [`crate::eviction::alloc`] stays the figure eviction uses: the statistics here need an
//! epoch refresh that merges every arena, too slow for each command but fine for a report.

use std::ffi::{c_char, c_void, CStr};

/// What jemalloc holds, in bytes (Redis's `allocator_*` fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes handed out to the program.
    pub allocated: u64,
    /// Bytes in the pages holding those allocations (allocated plus their pages' free room).
    pub active: u64,
    /// Bytes of physical memory jemalloc's pages use (active plus dirty pages not yet returned).
    pub resident: u64,
}

/// Reads fresh statistics (advancing the epoch first, or jemalloc reports cached figures).
/// Zeros where jemalloc is not the allocator in use (the library's unit tests).
pub fn stats() -> Stats {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    Stats {
        allocated: stats::allocated::read().unwrap_or(0) as u64,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
    }
}

/// Appends each chunk jemalloc's report writer hands over to the `String` behind `opaque`.
extern "C" fn append(opaque: *mut c_void, text: *const c_char) {
    if opaque.is_null() || text.is_null() {
        return;
    }
    // SAFETY: `opaque` is the `&mut String` that `malloc_stats` passes for the duration of
    // the `malloc_stats_print` call, and jemalloc hands a NUL-terminated string.
    let (out, chunk) = unsafe { (&mut *(opaque as *mut String), CStr::from_ptr(text)) };
    out.push_str(&chunk.to_string_lossy());
}

/// jemalloc's full statistics report, as text (`je_malloc_stats_print`).
pub fn malloc_stats() -> String {
    let mut out = String::new();
    // SAFETY: the callback only writes into `out`, which outlives the call; a null options
    // string asks for the default report.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(append),
            &mut out as *mut String as *mut c_void,
            std::ptr::null(),
        );
    }
    out
}

/// Returns every arena's dirty pages to the system now instead of after the decay time
/// (`arena.<MALLCTL_ARENAS_ALL>.purge`, as Redis's `jemalloc_purge`). `false` when jemalloc
/// refused.
pub fn purge() -> bool {
    // MALLCTL_ARENAS_ALL: the pseudo-arena index that addresses all of them.
    const NAME: &[u8] = b"arena.4096.purge\0";
    // SAFETY: a write-only, value-less control: all value pointers are null, as jemalloc
    // requires for `purge`.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            NAME.as_ptr() as *const c_char,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_and_purge_work_without_being_the_global_allocator() {
        // jemalloc is linked into the test binary (prefixed), just not installed: the calls
        // must still answer.
        assert!(purge());
        assert!(malloc_stats().contains("jemalloc"));
        let s = stats();
        assert!(s.active >= s.allocated);
    }
}
