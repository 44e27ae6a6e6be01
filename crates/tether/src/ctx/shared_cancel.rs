//! [`SharedCancel`]: a `CancelHandle` that can be passed around, as Go
//! code passes its `cancel` func.

use std::sync::Arc;

use super::{CancelHandle, Cause};

/// A cloneable [`CancelHandle`], for code that passes `cancel` around as Go
/// code does (to a callback, a struct, several tasks). Made by
/// [`CancelHandle::shared`].
///
/// Every clone can cancel (the first cancel wins, as always). The context
/// is cancelled when the **last** clone is dropped — `defer cancel()` still
/// holds, once for all of them — so no clone can leak the context's
/// registration. (`CancelHandle` itself stays single-owner, not `Clone`.)
///
/// ```
/// use tether::Context;
///
/// let (ctx, cancel) = Context::background().with_cancel();
/// let cancel = cancel.shared();
/// let on_error = {
///     let cancel = cancel.clone();
///     move || cancel.cancel() // e.g. stored in a callback
/// };
/// assert!(!ctx.is_done());
/// on_error();
/// assert!(ctx.is_done());
///
/// let (ctx, cancel) = Context::background().with_cancel();
/// let a = cancel.shared();
/// let b = a.clone();
/// drop(a);
/// assert!(!ctx.is_done(), "a clone still holds it");
/// drop(b);
/// assert!(ctx.is_done(), "the last drop cancels");
/// ```
#[derive(Clone)]
pub struct SharedCancel {
    handle: Arc<CancelHandle>,
}

impl SharedCancel {
    /// Cancels the context (see [`CancelHandle::cancel`]).
    pub fn cancel(&self) {
        self.handle.cancel();
    }

    /// Cancels with `cause` (see [`CancelHandle::cancel_with_cause`]).
    pub fn cancel_with_cause(&self, cause: Cause) {
        self.handle.cancel_with_cause(cause);
    }

    /// True if both cancel the same context.
    ///
    /// ```
    /// let (_ctx, cancel) = tether::Context::background().with_cancel();
    /// let a = cancel.shared();
    /// assert!(tether::ctx::SharedCancel::same(&a, &a.clone()));
    /// ```
    pub fn same(a: &SharedCancel, b: &SharedCancel) -> bool {
        Arc::ptr_eq(&a.handle, &b.handle)
    }
}

impl CancelHandle {
    /// Makes this handle shareable: a [`SharedCancel`] whose clones can
    /// all cancel, and whose last drop cancels.
    pub fn shared(self) -> SharedCancel {
        SharedCancel { handle: Arc::new(self) }
    }
}

impl From<CancelHandle> for SharedCancel {
    fn from(h: CancelHandle) -> SharedCancel {
        h.shared()
    }
}

impl std::fmt::Debug for SharedCancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedCancel").field(&*self.handle).finish()
    }
}
