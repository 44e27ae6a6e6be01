//! `after_func`: run a function once a context is done (Go's
//! `context.AfterFunc`).

use super::scope::Scope;
use crate::sync_impl::{Arc, AtomicU8, Mutex, lock};
use std::sync::atomic::Ordering::AcqRel;

const PENDING: u8 = 0;
const STARTED: u8 = 1;
const STOPPED: u8 = 2;

type Func = Box<dyn FnOnce() + Send + 'static>;

/// The shared state of one after-func: exactly one of "launch" and "stop"
/// wins the CAS out of `PENDING`.
pub(crate) struct AfterFuncState {
    status: AtomicU8,
    f: Mutex<Option<Func>>,
    spawned_at: &'static std::panic::Location<'static>,
}

impl AfterFuncState {
    pub(super) fn new(f: Func, spawned_at: &'static std::panic::Location<'static>) -> Arc<Self> {
        Arc::new(AfterFuncState { status: AtomicU8::new(PENDING), f: Mutex::new(Some(f)), spawned_at })
    }

    /// Starts `f` on tether's pool of callback threads, unless stopped or
    /// already started. Off the cancelling thread on purpose: `f` may call
    /// back into the context (or take locks the canceller holds) without
    /// deadlock; pooled rather than a new thread per call, and the pool
    /// grows when every thread is busy, so a blocking `f` delays no other.
    pub(super) fn launch(&self) {
        if self.status.compare_exchange(PENDING, STARTED, AcqRel, std::sync::atomic::Ordering::Acquire).is_err() {
            return;
        }
        let Some(f) = lock(&self.f).take() else { return };
        crate::task::spawn_pooled("after_func", self.spawned_at, f);
    }

    #[cfg(all(test, loom))]
    pub(super) fn is_started(&self) -> bool {
        self.status.load(std::sync::atomic::Ordering::Acquire) == STARTED
    }

    fn stop(&self) -> bool {
        self.status.compare_exchange(PENDING, STOPPED, AcqRel, std::sync::atomic::Ordering::Acquire).is_ok()
    }
}

/// Handle returned by [`Context::after_func`](super::Context::after_func).
///
/// Dropping it does not stop the function; call [`stop`](AfterFunc::stop).
pub struct AfterFunc {
    state: Arc<AfterFuncState>,
    registration: Option<(Arc<Scope>, usize)>,
}

impl AfterFunc {
    #[cfg(all(test, loom))]
    pub(super) fn state(&self) -> &Arc<AfterFuncState> {
        &self.state
    }

    pub(super) fn new(state: Arc<AfterFuncState>, registration: Option<(Arc<Scope>, usize)>) -> Self {
        AfterFunc { state, registration }
    }

    /// Stops the function from running. Returns true if this call
    /// prevented it; false if it had already started or was already
    /// stopped (Go's `stop()`).
    ///
    /// ```
    /// use tether::Context;
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// let f = ctx.after_func(|| println!("never printed"));
    /// assert!(f.stop());
    /// assert!(!f.stop());
    /// cancel.cancel();
    /// ```
    pub fn stop(&self) -> bool {
        let stopped = self.state.stop();
        if stopped {
            if let Some((scope, key)) = &self.registration {
                scope.remove_after_func(*key, &self.state);
            }
            // Let the function's captures go now rather than with the handle.
            lock(&self.state.f).take();
        }
        stopped
    }
}

impl std::fmt::Debug for AfterFunc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfterFunc").finish_non_exhaustive()
    }
}
