//! The `tracing` integration (feature `tracing`), in one place so that call
//! sites stay free of `cfg`s. With the feature off every item here is a
//! zero-sized no-op that compiles to nothing.
//!
//! What is emitted (documented for users in the crate docs, "Tracing"):
//! - every task tether starts runs in a DEBUG span `tether.task` with fields
//!   `kind`, `name` (if the task has one) and `spawned_at` (`file:line:col`),
//!   created at spawn (so its parent is the spawner's current span) and
//!   entered for every poll (async) or for the whole closure (threads);
//! - a DEBUG event (target `tether::ctx`) for each cancel that makes a
//!   context done, with `error` and, when one was given, `cause`;
//! - an INFO event (target `tether::group`) when a group records its first
//!   error, with `error` (when `E`'s message is known), `error_type`,
//!   `kind`, `task` (the task's name, if any) and `spawned_at`.

use std::panic::Location;

use crate::ctx::{Cause, Error};

/// The span a task runs in (see the module docs).
#[must_use]
pub(crate) struct TaskSpan {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

/// A [`TaskSpan`] entered until dropped.
pub(crate) struct Entered<'a> {
    #[cfg(feature = "tracing")]
    _entered: tracing::span::Entered<'a>,
    #[cfg(not(feature = "tracing"))]
    _span: std::marker::PhantomData<&'a TaskSpan>,
}

/// Without the feature: nothing to exit (the impl lets call sites end the
/// guard with an explicit `drop`, in order, in both configurations).
#[cfg(not(feature = "tracing"))]
impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {}
}

impl TaskSpan {
    /// The span of a task of `kind` named `name`, spawned at `site`; a
    /// child of the current span.
    #[inline]
    pub(crate) fn new(kind: &'static str, name: Option<&str>, site: &'static Location<'static>) -> TaskSpan {
        #[cfg(feature = "tracing")]
        {
            TaskSpan { span: tracing::debug_span!("tether.task", kind, name, spawned_at = %site) }
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = (kind, name, site);
            TaskSpan {}
        }
    }

    /// Enters the span until the guard drops.
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        #[cfg(feature = "tracing")]
        {
            Entered { _entered: self.span.enter() }
        }
        #[cfg(not(feature = "tracing"))]
        {
            Entered { _span: std::marker::PhantomData }
        }
    }
}

/// `fut` running in `span` (entered for every poll and for its drop).
#[cfg(feature = "tracing")]
pub(crate) type InSpan<F> = tracing::instrument::Instrumented<F>;
/// `fut` itself: without the feature there is no span to enter.
#[cfg(not(feature = "tracing"))]
pub(crate) type InSpan<F> = F;

/// Runs `fut` in `span` (see [`InSpan`]).
#[inline]
pub(crate) fn in_span<F>(span: TaskSpan, fut: F) -> InSpan<F> {
    #[cfg(feature = "tracing")]
    {
        tracing::Instrument::instrument(fut, span.span)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = span;
        fut
    }
}

/// A context just became done by a cancel with `err` and `cause` (`None`:
/// the error itself). Called once per cancel, for the context cancelled
/// (not for each descendant it takes along), with no lock held.
#[inline]
pub(crate) fn ctx_done(err: Error, cause: &Option<Cause>) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "tether::ctx",
        error = %err,
        cause = cause.as_ref().map(tracing::field::display),
        "context done",
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (err, cause);
}

/// A group's first error, taken while its lock is held and emitted (by
/// [`emit`](FirstError::emit)) once it is released.
#[must_use]
pub(crate) struct FirstError {
    #[cfg(feature = "tracing")]
    message: Option<Cause>,
    #[cfg(feature = "tracing")]
    error_type: &'static str,
}

impl FirstError {
    /// The first error, of type `E`; `message`: its cause, when that shows
    /// the error itself (a group made by `with_context`).
    #[inline]
    pub(crate) fn new<E>(message: Option<&Cause>) -> FirstError {
        #[cfg(feature = "tracing")]
        {
            FirstError { message: message.cloned(), error_type: std::any::type_name::<E>() }
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = (message, std::any::type_name::<E>);
            FirstError {}
        }
    }

    /// Emits the event for the task of `kind` spawned at `site`; `name`
    /// gives its name (called only when the event is enabled).
    #[inline]
    pub(crate) fn emit(
        self,
        kind: &'static str,
        site: &'static Location<'static>,
        name: impl FnOnce() -> Option<String>,
    ) {
        #[cfg(feature = "tracing")]
        tracing::info!(
            target: "tether::group",
            error = self.message.as_ref().map(tracing::field::display),
            error_type = self.error_type,
            kind,
            task = name().as_deref(),
            spawned_at = %site,
            "group task failed (first error)",
        );
        #[cfg(not(feature = "tracing"))]
        let _ = (kind, site, name);
    }
}
