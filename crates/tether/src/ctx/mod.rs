//! Contexts: cancellation, deadlines, causes and request-scoped values —
//! Go's `context` package, for threads and async tasks alike.
//!
//! A [`Context`] is a cheap handle (one `Arc`) passed down a call chain. It
//! becomes *done* when its [`CancelHandle`] cancels it (or is dropped —
//! Rust's `defer cancel()`), when its deadline passes, or when its parent
//! becomes done. Code below it notices with [`Context::is_done`] (one atomic
//! load), by awaiting [`Context::done`] (for example in a
//! [`select!`](crate::select) arm), or by parking a thread in
//! [`Context::wait_blocking`].
//!
//! # Go's rules, exactly
//!
//! - The first cancel wins and fixes the [cause](Context::cause); a
//!   parent's cancel reaches every descendant with the parent's error and
//!   cause; a child cancelled first keeps its own.
//! - A child's [deadline](Context::deadline) is never later than its
//!   parent's; a deadline already past means done at once with
//!   [`Error::DeadlineExceeded`]. `with_*_cause` records its cause only
//!   when the deadline fires, not when the handle cancels.
//! - [`cause`](Context::cause) is `None` while the context is live.
//! - [`without_cancel`](Context::without_cancel) keeps values, drops
//!   cancellation and deadline. [Values](Context::value) are found
//!   nearest-first.
//! - [`after_func`](Context::after_func) runs its function once, off the
//!   cancelling thread, after done.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tether::{Context, ctx::Error};
//!
//! #[derive(Debug)]
//! struct ClientGone;
//! impl std::fmt::Display for ClientGone {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("client went away") }
//! }
//! impl std::error::Error for ClientGone {}
//!
//! let (request, cancel) = Context::background().with_timeout(Duration::from_secs(30));
//! let (query, _query_cancel) = request.with_cancel();
//! assert!(query.deadline().is_some()); // inherited from the request
//!
//! cancel.cancel_with_cause(Arc::new(ClientGone));
//! assert_eq!(query.err(), Some(Error::Canceled));
//! assert!(query.cause().unwrap().downcast_ref::<ClientGone>().is_some());
//! ```
//!
//! # Cost
//!
//! `is_done`/`err` are one atomic load (plus a pointer hop) and never
//! allocate. A cancellable context *is* its scope: `with_cancel` makes one
//! allocation and takes one short lock of the parent (a spin lock whose
//! unlock is a plain store); cancelling takes its own and the parent's;
//! a plain cancel records no `Arc` cause (the error is the cause), and a
//! handle dropped after its cancel does nothing more. Cancelling a tree
//! takes each node's lock once and walks it with an explicit stack, so any
//! depth is safe (a chain of 100,000 nested contexts cancels and drops
//! fine). Deadlines sit in tether's timing wheel: O(1) to arm and to
//! cancel at any number of them. A value lookup walks the chain one small
//! link at a time, comparing 64 bits of the type's id per link; a value
//! that fits a word lives in its link.
//!
//! Allocations per operation, measured by `tests/ctx_memory.rs` (Go's own
//! limits from its `TestAllocs` in brackets):
//!
//! | operation | tether | Go |
//! |---|---:|---:|
//! | `with_value` + `value` | 1 (2 for a value larger than a word) | 3 |
//! | `with_cancel` + `cancel` | 1 | 5 |
//! | `with_timeout` + `cancel` | 2 | 8 |
//! | `is_done`, `err`, `check` | 0 | 0 |
//! | `Context::background()` | 0 | 0 |
//!
//! Timing side by side with Go and tokio-util is in the README.

mod after_func;
mod error;
mod error_is;
#[cfg(all(test, loom))]
mod loom_tests;
mod scope;
mod shared_cancel;
#[cfg(all(feature = "tokio-util", not(loom)))]
pub mod tokio_util;
mod values;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

pub use after_func::AfterFunc;
pub use error::{Cause, Error};
pub use error_is::{ErrorIs, find_error};
pub use shared_cancel::SharedCancel;

use crate::sync_impl::Arc;
use crate::waiter::{self, Wake};
use after_func::AfterFuncState;
pub(crate) use scope::Scope;
use values::ValueLink;

/// A cancellation scope, deadline and set of values, passed down a call
/// chain (Go's `context.Context`). Cheap to clone: one `Arc`.
///
/// See the [module docs](self) for the rules it follows.
#[derive(Clone)]
pub struct Context {
    repr: Repr,
}

/// What a context is: a cancellable context *is* its scope (which carries
/// the values it sees), so `with_cancel` makes one allocation; a value
/// context *is* the head of its value list (which names its scope); a
/// context that can never be done is just the values it sees
/// (`background()` allocates nothing).
#[derive(Clone)]
enum Repr {
    Scope(Arc<Scope>),
    Value(std::sync::Arc<ValueLink>),
    /// Never done: `background()`, `without_cancel()`.
    Plain(Values),
}

/// Values, nearest first.
type Values = Option<std::sync::Arc<ValueLink>>;

/// Cancels its context when told to or when dropped (Go's `cancel` func,
/// with `defer cancel()` built in). Not `Clone`: one owner decides; to
/// pass `cancel` around as Go code does, make it a cloneable
/// [`SharedCancel`] with [`shared`](CancelHandle::shared).
///
/// ```
/// use tether::Context;
/// let (ctx, cancel) = Context::background().with_cancel();
/// drop(cancel); // dropping cancels
/// assert!(ctx.is_done());
/// ```
pub struct CancelHandle {
    scope: Arc<Scope>,
}

impl Context {
    /// The root context: never done, no deadline, no values (Go's
    /// `context.Background()`).
    pub fn background() -> Context {
        Context { repr: Repr::Plain(None) }
    }

    /// The head of the values this context sees.
    #[inline]
    fn values(&self) -> Option<&std::sync::Arc<ValueLink>> {
        match &self.repr {
            Repr::Scope(s) => s.values.as_ref(),
            Repr::Value(v) => Some(v),
            Repr::Plain(v) => v.as_ref(),
        }
    }

    fn own_scope(scope: Arc<Scope>) -> Context {
        Context { repr: Repr::Scope(scope) }
    }

    /// A child that is done when `cancel()` is called on the handle, when
    /// the handle is dropped, or when `self` is done (Go's `WithCancel` and
    /// `WithCancelCause`: the handle takes an optional cause).
    pub fn with_cancel(&self) -> (Context, CancelHandle) {
        let deadline = self.deadline();
        let scope = Scope::new_child(self.scope(), deadline, None, self.values().cloned());
        (Context::own_scope(scope.clone()), CancelHandle { scope })
    }

    /// A child that is also done at `at` (Go's `WithDeadline`). If `self`'s
    /// deadline is earlier, the child keeps that one.
    pub fn with_deadline(&self, at: Instant) -> (Context, CancelHandle) {
        self.with_deadline_inner(at, None)
    }

    /// [`with_deadline`](Context::with_deadline) at `now + after` (Go's
    /// `WithTimeout`).
    pub fn with_timeout(&self, after: Duration) -> (Context, CancelHandle) {
        self.with_deadline_inner(crate::clock::deadline_after(after), None)
    }

    /// Like [`with_deadline`](Context::with_deadline), but when *this*
    /// deadline fires the recorded cause is `cause` (Go's
    /// `WithDeadlineCause`). A cancel through the handle still records
    /// [`Error::Canceled`].
    pub fn with_deadline_cause(&self, at: Instant, cause: Cause) -> (Context, CancelHandle) {
        self.with_deadline_inner(at, Some(cause))
    }

    /// [`with_deadline_cause`](Context::with_deadline_cause) at
    /// `now + after` (Go's `WithTimeoutCause`).
    pub fn with_timeout_cause(&self, after: Duration, cause: Cause) -> (Context, CancelHandle) {
        self.with_deadline_inner(crate::clock::deadline_after(after), Some(cause))
    }

    fn with_deadline_inner(&self, at: Instant, cause: Option<Cause>) -> (Context, CancelHandle) {
        if self.deadline().is_some_and(|parent| parent <= at) {
            // The parent fires first; this is just a cancel scope (Go does
            // the same, so the cause is never used).
            return self.with_cancel();
        }
        let scope = Scope::new_child(self.scope(), Some(at), cause, self.values().cloned());
        if !scope.is_done() {
            Scope::arm_deadline(&scope, at);
        }
        (Context::own_scope(scope.clone()), CancelHandle { scope })
    }

    /// A child carrying `value`, found by [`value::<T>()`](Context::value)
    /// on it and its descendants (Go's `WithValue`, keyed by type: wrap
    /// values in a newtype to give them a private key).
    ///
    /// ```
    /// use tether::Context;
    /// struct RequestId(u64);
    /// let ctx = Context::background().with_value(RequestId(7));
    /// let (child, _cancel) = ctx.with_cancel();
    /// assert_eq!(child.value::<RequestId>().map(|r| r.0), Some(7));
    /// ```
    pub fn with_value<T: Send + Sync + 'static>(&self, value: T) -> Context {
        Context { repr: Repr::Value(ValueLink::push(self.values().cloned(), self.scope().cloned(), value)) }
    }

    /// The nearest value of type `T` set on this context or an ancestor.
    pub fn value<T: Send + Sync + 'static>(&self) -> Option<&T> {
        ValueLink::find::<T>(self.values()?)
    }

    /// A context with the same values that is never done and has no
    /// deadline (Go's `WithoutCancel`): for work that must outlive the
    /// request that started it.
    pub fn without_cancel(&self) -> Context {
        Context { repr: Repr::Plain(self.values().cloned()) }
    }

    /// Runs `f` once, off the cancelling thread, after this context is done
    /// — at once if it already is (Go's `AfterFunc`). The returned handle's
    /// [`stop`](AfterFunc::stop) prevents the call if it has not started
    /// (and returns true iff it did).
    ///
    /// `f` runs on tether's small pool of callback threads, not on a new
    /// thread per call: an idle pooled thread is reused, a new one is
    /// started only when all are busy (so an `f` that blocks never holds
    /// up another), and idle ones exit after 10 s. While queued or running,
    /// `f` counts as a live task for [`leak`](crate::leak) checks.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use tether::Context;
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// let (tx, rx) = mpsc::channel();
    /// let _f = ctx.after_func(move || tx.send("cleaned up").unwrap());
    /// cancel.cancel();
    /// assert_eq!(rx.recv().unwrap(), "cleaned up");
    /// ```
    #[track_caller]
    pub fn after_func<F: FnOnce() + Send + 'static>(&self, f: F) -> AfterFunc {
        let state = AfterFuncState::new(Box::new(f), std::panic::Location::caller());
        let registration = match self.scope() {
            None => None, // never done: never runs, stop() prevents it
            Some(scope) => scope.add_after_func(&state).map(|key| (scope.clone(), key)),
        };
        AfterFunc::new(state, registration)
    }

    /// Completes once the context is done (cancelled or past its
    /// deadline); pending forever for a context that can never be done.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future only removes its registration.
    pub fn done(&self) -> Done<'_> {
        Done { ctx: self, key: None }
    }

    /// Parks the calling thread until the context is done. No runtime
    /// needed: deadlines are served by tether's own timer thread.
    pub fn wait_blocking(&self) {
        self.wait_inner(None);
    }

    /// Parks the calling thread until the context is done or `d` passes;
    /// true if the context is done.
    pub fn wait_timeout_blocking(&self, d: Duration) -> bool {
        self.wait_inner(Some(crate::clock::deadline_after(d)))
    }

    fn wait_inner(&self, until: Option<Instant>) -> bool {
        let _note = crate::leak::note_at(WAITING_DONE);
        let Some(scope) = self.scope() else {
            // Never done: just sleep out the timeout (or forever).
            waiter::block_until(|| false, until);
            return false;
        };
        let Some(key) = scope.register(Wake::current_thread()) else { return true };
        let done = waiter::block_until(|| scope.is_done(), until);
        if !done {
            scope.unregister(key);
        }
        done
    }

    /// True once the context is done. One atomic load.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.scope().is_some_and(|s| s.is_done())
    }

    /// Why the context is done, or `None` while it is live (Go's
    /// `ctx.Err()`). One atomic load.
    #[inline]
    pub fn err(&self) -> Option<Error> {
        self.scope()?.err()
    }

    /// `Ok(())` while live, `Err(err)` once done: for `?` in loops.
    ///
    /// # Errors
    ///
    /// [`Error::Canceled`] or [`Error::DeadlineExceeded`] (the same value as
    /// [`err`](Context::err)) once the context is done; the cause, if one
    /// was given, is in [`cause`](Context::cause).
    ///
    /// ```
    /// # fn work(ctx: &tether::Context) -> Result<(), tether::ctx::Error> {
    /// for _step in 0..3 {
    ///     ctx.check()?;
    /// }
    /// # Ok(()) }
    /// # work(&tether::Context::background()).unwrap();
    /// ```
    #[inline]
    pub fn check(&self) -> Result<(), Error> {
        self.err().map_or(Ok(()), Err)
    }

    /// The recorded cause once done (Go's `context.Cause`): the error given
    /// to `cancel_with_cause` or to `with_*_cause`, else the
    /// [`err`](Context::err) value itself. `None` while live.
    pub fn cause(&self) -> Option<Cause> {
        self.scope()?.cause()
    }

    /// When the context will be done by itself, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.scope()?.deadline
    }

    /// How many registrations (children, waiters, after-funcs) this
    /// context's own scope holds: a diagnostic for tests that check that
    /// nothing outlives its context.
    #[doc(hidden)]
    pub fn __registrations(&self) -> usize {
        self.scope().map_or(0, |s| s.registrations())
    }

    /// How many of the threads behind `after_func` wait idle for work: a
    /// diagnostic for tests that check those threads are reused.
    #[doc(hidden)]
    pub fn __idle_callback_threads() -> usize {
        crate::task::idle_pooled_threads()
    }

    /// The scope this context observes (for select arms and other
    /// primitives that wait on contexts).
    #[inline]
    pub(crate) fn scope(&self) -> Option<&Arc<Scope>> {
        match &self.repr {
            Repr::Scope(s) => Some(s),
            Repr::Value(v) => v.scope.as_ref(),
            Repr::Plain(_) => None,
        }
    }
}

impl Default for Context {
    /// [`Context::background`].
    fn default() -> Self {
        Context::background()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("err", &self.err()).field("deadline", &self.deadline()).finish_non_exhaustive()
    }
}

impl CancelHandle {
    /// Cancels the context and all its descendants with cause
    /// [`Error::Canceled`]. Idempotent: only the first cancel counts.
    pub fn cancel(&self) {
        Scope::cancel(&self.scope, Error::Canceled, None, true);
    }

    /// Cancels with `cause` (Go's `CancelCauseFunc`); the first cancel
    /// wins, so a later cause is ignored.
    pub fn cancel_with_cause(&self, cause: Cause) {
        Scope::cancel(&self.scope, Error::Canceled, Some(cause), true);
    }
}

impl Drop for CancelHandle {
    fn drop(&mut self) {
        if !self.scope.is_done() {
            self.cancel();
        }
    }
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelHandle").field("done", &self.scope.is_done()).finish()
    }
}

/// What [`Done`] and the context's blocking waits wait for, in leak reports.
const WAITING_DONE: crate::leak::Blocked = crate::leak::Blocked::new("waiting for a context to be done", None);

/// Future returned by [`Context::done`].
#[must_use = "futures do nothing unless awaited"]
pub struct Done<'a> {
    ctx: &'a Context,
    key: Option<usize>,
}

impl Future for Done<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let Some(scope) = self.ctx.scope() else {
            crate::leak::pending(WAITING_DONE);
            return Poll::Pending;
        };
        if scope.is_done() {
            return Poll::Ready(());
        }
        let this = &mut *self;
        if scope.register_task(&mut this.key, cx.waker()) {
            crate::leak::pending(WAITING_DONE);
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        if let (Some(key), Some(scope)) = (self.key, self.ctx.scope()) {
            scope.unregister(key);
        }
    }
}

impl std::fmt::Debug for Done<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Done").field("ctx", self.ctx).finish()
    }
}
