//! The short-section lock of the channels and of every waiter list: a
//! test-and-test-and-set spin lock that backs off by yielding and never
//! parks, and [`CachePadded`] to keep hot fields on their own cache line.
//!
//! Why not `std::sync::Mutex`: every critical section it guards is a
//! handful of pointer moves (link a waiter, push a value), and the two ends
//! of a busy channel take the lock in turn from two cores. A futex mutex sends the loser to sleep in the kernel
//! (microseconds); spinning for the ~100 ns the holder needs is far
//! cheaper, and unlocking is a plain release store instead of an atomic
//! swap. If the holder is preempted, waiters yield their core to it.
//!
//! Under `--cfg loom` the flag is a loom atomic and the data lives in a
//! loom `UnsafeCell`, so the models check the mutual exclusion too.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::sync_impl::AtomicBool;

#[cfg(loom)]
use loom::cell::UnsafeCell;
#[cfg(not(loom))]
use std::cell::UnsafeCell;

/// Aligns `T` to 128 bytes (two x86 cache lines: the adjacent-line
/// prefetcher pairs them), so that fields written by different cores do
/// not share a line.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time
// (the `locked` flag, taken with Acquire and released with Release), so
// sharing the lock between threads only ever moves `T` between them: that
// needs `T: Send`, as for `std::sync::Mutex`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: as above; the lock owns its `T`.
unsafe impl<T: Send> Send for SpinLock<T> {}

pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    #[cfg(loom)]
    ptr: loom::cell::MutPtr<T>,
}

impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> Self {
        SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        if self.locked.compare_exchange_weak(false, true, Acquire, Relaxed).is_err() {
            self.lock_slow();
        }
        self.guard()
    }

    #[cold]
    fn lock_slow(&self) {
        let mut round = 0u32;
        let spin = crate::waiter::spinning_helps();
        loop {
            while self.locked.load(Relaxed) {
                // Short spins only: a holder on the other core is done
                // within ~100 ns; one preempted on ours needs us to yield.
                if !spin || round >= 4 {
                    crate::sync_impl::thread::yield_now();
                } else {
                    for _ in 0..(1u32 << round) {
                        std::hint::spin_loop();
                    }
                }
                round = round.saturating_add(1);
            }
            if self.locked.compare_exchange_weak(false, true, Acquire, Relaxed).is_ok() {
                return;
            }
        }
    }

    #[cfg(not(loom))]
    #[inline]
    fn guard(&self) -> SpinGuard<'_, T> {
        SpinGuard { lock: self }
    }

    #[cfg(loom)]
    fn guard(&self) -> SpinGuard<'_, T> {
        SpinGuard { lock: self, ptr: self.value.get_mut() }
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        #[cfg(not(loom))]
        // SAFETY: the guard exists only while this thread holds the lock,
        // so no other reference to the value exists.
        unsafe {
            &*self.lock.value.get()
        }
        #[cfg(loom)]
        // SAFETY: as above; loom tracks this access through `ptr`.
        unsafe {
            self.ptr.deref()
        }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        #[cfg(not(loom))]
        // SAFETY: the guard exists only while this thread holds the lock,
        // and `&mut self` makes this the only reference through the guard.
        unsafe {
            &mut *self.lock.value.get()
        }
        #[cfg(loom)]
        // SAFETY: as above; loom tracks this access through `ptr`.
        unsafe {
            self.ptr.deref()
        }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Release);
    }
}
