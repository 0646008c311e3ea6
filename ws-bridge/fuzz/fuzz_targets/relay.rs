//! Runs one relayed connection per input: the bytes are WebSocket frames (or raw bytes)
//! from the browser, knobs for the bridge and the fake broker, and bytes the broker sends,
//! in the format of `mqttwire_bridge::fuzzing`, which checks what the relay did. Here the
//! heap is counted too: a run may grow it by at most `HEAP_BASE` plus `HEAP_PER_BYTE` times
//! the input's length, so an input that makes the relay buffer without bound is a crash.
//!
//! With `MQTTWIRE_FUZZ_VERBOSE` set, each run prints its outcome and heap peak.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use libfuzzer_sys::fuzz_target;
use mqttwire_bridge::fuzzing::{Input, run};

/// Heap a run may take whatever its input: the runtime, the sockets, the WebSocket and
/// decoder buffers of both sides.
const HEAP_BASE: usize = 256 << 10;
/// Heap a run may take per input byte: the input is held as steps, as the bytes written,
/// in the pipe, in the relay's buffers, and as what the broker and browser received.
const HEAP_PER_BYTE: usize = 16;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call goes to `System` with the caller's arguments; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let input = Input::parse(data);
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let outcome = run(&input);
    let peak = PEAK.load(Relaxed).saturating_sub(before);
    if std::env::var_os("MQTTWIRE_FUZZ_VERBOSE").is_some() {
        eprintln!("{} bytes in, heap peak {peak}: {outcome:?}", data.len());
    }
    let bound = HEAP_BASE + HEAP_PER_BYTE * data.len();
    assert!(
        peak <= bound,
        "a run of {} input bytes grew the heap by {peak} bytes, over {bound}",
        data.len()
    );
});
