//! A counting global allocator: it remembers the largest single allocation
//! made since the last [`reset_largest`], and can refuse allocations over a
//! hard cap.
//!
//! On stable Rust a failed allocation aborts the process and a global
//! allocator must not unwind, so an oversized allocation cannot be caught in
//! the process that makes it. The fuzzer therefore measures instead: the
//! worker resets the counter before each input and reads it after, and the
//! harness flags anything over its bound as a finding. The hard cap
//! ([`set_refuse_above`]) keeps a hostile count from really taking the
//! machine's memory: the allocation fails, the worker aborts, and the parent
//! sees the abort.
//!
//! The binary installs it with `#[global_allocator]`; without that the
//! counters simply stay at zero.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest single allocation (or reallocation target) since the last reset.
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// Allocations larger than this are refused (the caller then aborts).
static REFUSE_ABOVE: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The system allocator, counting.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator;

impl CountingAllocator {
    /// Records `size` and says whether it may be served.
    fn admit(size: usize) -> bool {
        LARGEST.fetch_max(size, Ordering::Relaxed);
        size <= REFUSE_ABOVE.load(Ordering::Relaxed)
    }
}

// SAFETY: every method forwards to `System` with the caller's layout and
// pointer unchanged, or returns null (an allowed allocation failure) before
// touching memory; the counters are lock-free atomics, so nothing here
// allocates or unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is passed through as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc_zeroed` is passed through.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (we only
        // ever hand out `System`'s pointers).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Self::admit(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` and `layout` come from `System` as above; the
        // caller guarantees `new_size` is valid for `layout`'s alignment.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Forgets the largest allocation seen so far.
pub fn reset_largest() {
    LARGEST.store(0, Ordering::Relaxed);
}

/// The largest single allocation since the last [`reset_largest`], in bytes.
pub fn largest() -> usize {
    LARGEST.load(Ordering::Relaxed)
}

/// Refuses every later allocation over `bytes` (the process then aborts
/// with "memory allocation of N bytes failed").
pub fn set_refuse_above(bytes: usize) {
    REFUSE_ABOVE.store(bytes, Ordering::Relaxed);
}
