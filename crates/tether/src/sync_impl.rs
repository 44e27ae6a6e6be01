#![allow(unused_imports)]
//! The one place that chooses between `std` and `loom` primitives, so that
//! every shared-state type can be model-checked with `--cfg loom`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread;

/// `fence`, modelled under loom.
#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::fence;

/// The second half of a store-then-load handshake between two threads
/// (each stores its flag with `SeqCst`, then loads the other's with
/// `SeqCst`, and one of them must see the other): nothing in a real build,
/// a `SeqCst` fence under loom.
///
/// Why: the C++/Rust model puts all `SeqCst` accesses in one total order,
/// which forbids both loads missing both stores, and that is what the
/// handshakes rely on (on x86 the store or the RMW before each load is a
/// full barrier anyway). Loom models `SeqCst` accesses as `AcqRel`
/// (tokio-rs/loom#180), under which both may miss, so its models would
/// report lost wake-ups no real execution has; `SeqCst` fences it does
/// model. A fence in the real build would cost an extra barrier on every
/// lock-free send and receive.
#[inline(always)]
pub(crate) fn handshake_fence() {
    #[cfg(loom)]
    fence(std::sync::atomic::Ordering::SeqCst);
}

/// Locks a mutex, ignoring poisoning: tether never leaves shared state
/// half-updated across a user callback, so a poisoned lock holds consistent
/// data and refusing it would only turn one panic into many.
#[inline]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(loom)]
    {
        m.lock().unwrap()
    }
    #[cfg(not(loom))]
    {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `UnsafeCell` with loom's closure API, so that every access to shared
/// unsynchronised memory is visible to the loom models (which then check
/// that a lock or a happens-before edge really orders it).
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// The std build of the shim: zero-cost closures over the raw pointer.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
