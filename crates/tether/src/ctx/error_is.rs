//! Go's `errors.Is(err, context.Canceled)`: find a context error anywhere
//! in an error's chain — through `source()`, tether's error types, and the
//! `Arc`/`Box` wrappers that a [`Cause`] and `Box<dyn Error>` are.

use std::error::Error as StdError;

use super::{Cause, Error};

/// How many links of a `source()` chain are followed before giving up (a
/// chain is finite by contract; this only guards against a cyclic one).
const MAX_LINKS: usize = 64;

/// The context error ([`Error::Canceled`] or [`Error::DeadlineExceeded`])
/// found in `err` or its chain of [`source`](std::error::Error::source)s,
/// if any (Go's `errors.Is(err, context.Canceled)`, for both at once).
///
/// It looks through tether's error types (a [`rate::WaitError`](crate::rate::WaitError)
/// ended by its context has the context's error as its source) and through
/// the shared `dyn Error`s that hold other errors: a [`Cause`], any
/// `Arc<dyn Error>`, and `Arc<ctx::Error>`. (std's `Arc<T>` forwards
/// `source()` to `T`'s, which skips `T` itself; those wrappers are
/// therefore opened explicitly. A `Box<dyn Error>` is not itself an
/// `Error`: pass `&*boxed`.)
///
/// ```
/// use std::sync::Arc;
/// use tether::{Context, ctx};
///
/// let (ctx, cancel) = Context::background().with_cancel();
/// cancel.cancel();
/// let cause: ctx::Cause = ctx.cause().unwrap();
/// assert_eq!(ctx::find_error(&*cause), Some(ctx::Error::Canceled));
///
/// let io = std::io::Error::other("disk full");
/// assert_eq!(ctx::find_error(&io), None);
/// ```
pub fn find_error(err: &(dyn StdError + 'static)) -> Option<Error> {
    find_in(err, 0)
}

fn find_in(err: &(dyn StdError + 'static), depth: usize) -> Option<Error> {
    let mut link = Some(err);
    let mut hops = depth;
    while let Some(e) = link {
        if hops >= MAX_LINKS {
            return None;
        }
        if let Some(found) = e.downcast_ref::<Error>() {
            return Some(*found);
        }
        if let Some(found) = e.downcast_ref::<std::sync::Arc<Error>>() {
            return Some(**found);
        }
        if let Some(inner) = opened(e) {
            // The wrapper's own source() skips `inner` itself: search it
            // whole (its chain included) instead of the wrapper's chain.
            return find_in(inner, hops + 1);
        }
        link = e.source();
        hops += 1;
    }
    None
}

/// The error inside one of the transparent `dyn Error` holders that are
/// themselves errors (the `Arc`s: `Box<dyn Error>` does not implement
/// `Error`, so it never appears in a chain).
fn opened<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(c) = e.downcast_ref::<Cause>() {
        return Some(&**c);
    }
    if let Some(a) = e.downcast_ref::<std::sync::Arc<dyn StdError + 'static>>() {
        return Some(&**a);
    }
    if let Some(a) = e.downcast_ref::<std::sync::Arc<dyn StdError + Send + 'static>>() {
        return Some(&**a);
    }
    None
}

/// Go's `errors.Is` for context errors, as methods on every error:
/// `err.is_canceled()`, `err.is_deadline_exceeded()`,
/// `err.context_error()`, searching `err` and its chain as
/// [`find_error`] does.
///
/// Implemented for every `std::error::Error` type and for `dyn Error`
/// (with or without `Send + Sync`), so it also works on a [`Cause`], a
/// `Box<dyn Error>`, and on error types that dereference to `dyn Error`
/// such as `anyhow::Error` and [`group::SharedError`](crate::group::SharedError).
///
/// ```
/// use std::time::Duration;
/// use tether::{Context, ctx::{self, ErrorIs}, rate::{Limit, Limiter}};
///
/// let (ctx, _cancel) = Context::background().with_timeout(Duration::ZERO);
/// let lim = Limiter::new(Limit::per_second(1.0), 1);
/// let err = lim.wait_blocking(&ctx).unwrap_err(); // a rate::WaitError
/// assert!(err.is_deadline_exceeded());
/// assert!(!err.is_canceled());
/// assert!(ctx.cause().unwrap().is_deadline_exceeded()); // through a Cause
/// ```
pub trait ErrorIs {
    /// The context error in this error's chain, if any.
    fn context_error(&self) -> Option<Error>;

    /// True if the chain holds [`Error::Canceled`].
    fn is_canceled(&self) -> bool {
        self.context_error() == Some(Error::Canceled)
    }

    /// True if the chain holds [`Error::DeadlineExceeded`].
    fn is_deadline_exceeded(&self) -> bool {
        self.context_error() == Some(Error::DeadlineExceeded)
    }
}

impl<E: StdError + 'static> ErrorIs for E {
    fn context_error(&self) -> Option<Error> {
        find_error(self)
    }
}

impl ErrorIs for dyn StdError + 'static {
    fn context_error(&self) -> Option<Error> {
        find_error(self)
    }
}

impl ErrorIs for dyn StdError + Send + 'static {
    fn context_error(&self) -> Option<Error> {
        find_error(self)
    }
}

impl ErrorIs for dyn StdError + Send + Sync + 'static {
    fn context_error(&self) -> Option<Error> {
        find_error(self)
    }
}
