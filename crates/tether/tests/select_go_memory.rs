//! Memory behaviour: Go's test/chan/select2.go ("selects do not consume
//! undue memory") and the issue's rule that an unbounded channel gives its
//! memory back once a burst has drained.
//!
//! A counting global allocator tracks live heap bytes for this test binary;
//! the tests take a lock so that they measure one at a time.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::thread;

use tether::chan;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: forwards every call to the system allocator unchanged; only
// counts bytes on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// select2: a receiver selecting between a busy unbuffered channel and an
/// idle one, 20,000 times after a warm-up of 20,000: the second round must
/// not grow the heap (Go allows 110 kB for 100,000 selects; we allow 64 KiB
/// for 20,000, i.e. no per-select leftovers at all beyond noise).
#[test]
fn select2_selects_do_not_consume_undue_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let growth = common::watchdog(|| {
        const N: usize = 20_000;
        let (c_tx, c) = chan::bounded::<i32>(0);
        let (_dummy_tx, dummy) = chan::bounded::<i32>(0);
        let round = |c_tx: &chan::Sender<i32>| {
            let tx = c_tx.clone();
            let h = thread::spawn(move || {
                for _ in 0..N {
                    tx.send_blocking(1).unwrap();
                }
            });
            for _ in 0..N {
                tether::select_blocking! {
                    recv(c) -> v => { v.unwrap(); },
                    recv(dummy) -> _v => panic!("dummy"),
                }
            }
            h.join().unwrap();
        };
        round(&c_tx); // warm up
        let before = live();
        round(&c_tx);
        live() - before
    });
    assert!(growth < 64 * 1024, "{growth} bytes more live heap after 20,000 more selects");
    common::assert_no_leaks();
}

/// The same for the async select!.
#[test]
fn select2_async_selects_do_not_consume_undue_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let growth = common::block_on_local(async {
        const N: usize = 20_000;
        let (c_tx, c) = chan::bounded::<i32>(1);
        let (_dummy_tx, dummy) = chan::bounded::<i32>(0);
        let mut before = 0;
        for r in 0..2 {
            if r == 1 {
                before = live();
            }
            for _ in 0..N {
                c_tx.try_send(1).unwrap();
                tether::select! {
                    recv(c) -> v => { v.unwrap(); },
                    recv(dummy) -> _v => panic!("dummy"),
                }
            }
        }
        live() - before
    });
    assert!(growth < 64 * 1024, "{growth} bytes more live heap after 20,000 more async selects");
    common::assert_no_leaks();
}

/// The memory rule: after a burst of 200,000 values through an
/// unbounded channel has drained, the channel holds on to (almost) none of
/// the memory the burst needed.
#[test]
fn unbounded_gives_memory_back_after_burst_drains() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (peak, after) = common::watchdog(|| {
        let (tx, rx) = chan::unbounded::<u64>();
        let base = live();
        for i in 0..200_000 {
            tx.send_blocking(i).unwrap();
        }
        let peak = live() - base;
        for i in 0..200_000 {
            assert_eq!(rx.recv_blocking(), Ok(i));
        }
        // One more small exchange, as a real program would make: lazy
        // releases may happen on the next operation.
        tx.send_blocking(0).unwrap();
        rx.recv_blocking().unwrap();
        let after = live() - base;
        (peak, after)
    });
    assert!(peak >= 200_000 * 8, "the burst was not buffered? peak {peak}");
    assert!(after < 64 * 1024, "unbounded channel kept {after} bytes after draining a burst that peaked at {peak}");
    common::assert_no_leaks();
}

/// A bounded channel never allocates per message: filling and draining it
/// many times does not grow the heap past its first fill.
#[test]
fn bounded_does_not_grow_past_capacity() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (first, later) = common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u64>(1024);
        let base = live();
        for i in 0..1024 {
            tx.try_send(i).unwrap();
        }
        assert!(tx.try_send(0).is_err());
        let first = live() - base;
        for _ in 0..20 {
            for _ in 0..1024 {
                rx.try_recv().unwrap();
            }
            for i in 0..1024 {
                tx.try_send(i).unwrap();
            }
        }
        (first, live() - base)
    });
    // The counter is process-wide, so a thread elsewhere in the process
    // (a runtime or timer thread, another test's leftovers) may allocate a
    // few KiB meanwhile; growth per message would be >= 160 KiB here.
    assert!(later <= first + 32 * 1024, "bounded(1024) grew from {first} to {later} bytes");
    common::assert_no_leaks();
}
