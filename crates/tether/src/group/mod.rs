//! Structured groups of tasks: errgroup, made leak-free, for async tasks
//! ([`Group`]) and for OS threads that borrow from the caller's stack
//! ([`scope`]).
//!
//! Go's `golang.org/x/sync/errgroup` runs functions concurrently, remembers
//! the first error, cancels a shared context when it happens, and lets the
//! caller wait for them all. tether keeps those rules and adds the ones that
//! make a group impossible to leak:
//!
//! | rule | [`Group`] | [`scope`] |
//! |---|---|---|
//! | the first error cancels the group's context, with that error as its [cause](crate::Context::cause) | ✓ | ✓ |
//! | waiting returns only after every task has ended, with the first error | [`wait`](Group::wait) | when `scope` returns |
//! | the context is cancelled once the wait returns | ✓ | ✓ |
//! | a task spawned once a task failed or panicked is **not started**; `wait` returns `Ok(())` only if every spawned task ran and succeeded (see below) | ✓ | ✓ |
//! | a limit never lets more than `n` tasks run at once | [`with_limit`](Group::with_limit) | [`scope_with_limit`] |
//! | a panicking task cancels the group; the wait resumes the original panic after all tasks ended | ✓ | ✓ |
//! | dropping the group cancels its context and aborts its async tasks | ✓ | (a scope cannot be dropped) |
//! | every task has an optional name and its spawn site, for [`leak`](crate::leak) reports | ✓ | ✓ |
//!
//! ```
//! use std::sync::Arc;
//! use tether::{Context, group::Group};
//!
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let (g, ctx) = Group::<Arc<std::io::Error>>::with_context(&Context::background());
//! for i in 0..3 {
//!     let ctx = ctx.clone();
//!     g.spawn(async move {
//!         if i == 1 {
//!             return Err(Arc::new(std::io::Error::other("disk full")));
//!         }
//!         ctx.done().await; // the siblings stop when the first error cancels ctx
//!         Ok(())
//!     })
//!     .await;
//! }
//! let err = g.wait().await.unwrap_err();
//! assert_eq!(err.to_string(), "disk full");
//! assert!(ctx.cause().unwrap().downcast_ref::<Arc<std::io::Error>>().is_some());
//! # });
//! ```
//!
//! # Tasks spawned after cancellation
//!
//! `wait` returns `Ok(())` only if **every task spawned ran and returned
//! `Ok`**: "nothing ran" never passes for success. Two cases:
//!
//! - Once the group's **outcome is decided** — a task failed or panicked —
//!   spawning no longer starts anything: the task (a future or a closure)
//!   is **dropped unstarted, at once, on the spawning thread** (so its
//!   destructors run there); it never counts toward `wait`, whose result it
//!   could not change. `spawn` resolves immediately,
//!   [`try_spawn`](Group::try_spawn) returns `false`, [`Scope::spawn`]
//!   returns `false`; a spawn *waiting for a slot* gives up the same way.
//! - While the context is only **done from outside** — the parent was
//!   cancelled or timed out, or [`Group::cancel`] was called — a spawned
//!   task still starts, as in Go, with the done context: it sees
//!   [`ctx.err()`](crate::Context::err) and reports it, so `wait` returns
//!   that error rather than `Ok(())` for work that never happened.
//!
//! ```
//! use tether::{Context, ctx, group::Group};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let (request, cancel) = Context::background().with_cancel();
//! cancel.cancel(); // the client went away before the work began
//! let (g, gctx) = Group::<ctx::Error>::with_context(&request);
//! let c = gctx.clone();
//! g.spawn(async move {
//!     c.check()?; // sees the done context
//!     Ok(()) // (the real work)
//! })
//! .await;
//! assert_eq!(g.wait().await, Err(ctx::Error::Canceled)); // not Ok(())
//! # });
//! ```
//!
//! # Cancellation of blocking tasks
//!
//! Async tasks are aborted when the group is dropped (at their next
//! `.await`). Blocking closures and scope threads cannot be interrupted:
//! they learn of cancellation through the group's context — clone
//! [`Group::context`] into the closure (a scope task receives it as its
//! argument) and check [`is_done`](crate::Context::is_done) /
//! [`check`](crate::Context::check) between steps, or wait on it.

mod core;
mod errgroup;
#[cfg(all(test, loom))]
mod loom_tests;
mod scope;
mod shared_error;

pub use errgroup::{Group, Named, Spawn};
pub use scope::{Scope, scope, scope_with_limit};
pub use shared_error::{SharedError, ToCause};

use std::fmt;
use std::panic::Location;

/// The context cause recorded when a task of a [`Group::new`] group fails
/// (such a group's error type need not be an `Error`, so the error itself
/// cannot be the cause; [`Group::with_context`] records the error itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskFailed;

impl fmt::Display for TaskFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a task of the group failed")
    }
}

impl std::error::Error for TaskFailed {}

/// The context cause recorded when a task of a group or scope panics. The
/// panic itself is resumed by the group's wait, with its original payload.
///
/// ```
/// use tether::{Context, group::{self, TaskPanicked}};
/// let parent = Context::background();
/// let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     group::scope(&parent, |s| {
///         s.spawn(|ctx| {
///             let ctx = ctx.clone();
///             std::thread::spawn(move || {
///                 ctx.wait_blocking();
///                 let cause = ctx.cause().unwrap();
///                 assert!(cause.downcast_ref::<TaskPanicked>().unwrap().message().contains("boom"));
///             });
///             Ok::<(), tether::ctx::Error>(())
///         });
///         s.spawn(|_| panic!("boom"));
///         Ok(())
///     })
/// }));
/// assert!(r.is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPanicked {
    kind: &'static str,
    name: Option<String>,
    spawned_at: &'static Location<'static>,
    message: String,
}

impl TaskPanicked {
    /// The cause for a panic of a task of `kind` spawned at `spawned_at`.
    pub(crate) fn new(
        kind: &'static str,
        name: Option<String>,
        spawned_at: &'static Location<'static>,
        payload: &(dyn std::any::Any + Send),
    ) -> TaskPanicked {
        TaskPanicked { kind, name, spawned_at, message: core::panic_message(payload) }
    }

    /// The panicking task's name, if it had one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the panicking task was spawned.
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// The panic message (or a placeholder for a non-string payload).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TaskPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        if let Some(n) = &self.name {
            write!(f, " {n:?}")?;
        }
        write!(f, " spawned at {} panicked: {}", self.spawned_at, self.message)
    }
}

impl std::error::Error for TaskPanicked {}
