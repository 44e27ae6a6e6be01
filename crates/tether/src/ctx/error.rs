//! Why a context is done: [`Error`] (Go's `ctx.Err()`) and [`Cause`]
//! (Go's `context.Cause`).

use std::fmt;

/// Why a context is done, as `ctx.err()` reports it (Go's `ctx.Err()`).
///
/// ```
/// use tether::{Context, ctx::Error};
/// let (ctx, cancel) = Context::background().with_cancel();
/// cancel.cancel();
/// assert_eq!(ctx.err(), Some(Error::Canceled));
/// assert_eq!(Error::DeadlineExceeded.to_string(), "context deadline exceeded");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The context was cancelled (by its handle, its parent, or a drop).
    Canceled,
    /// The context's deadline passed.
    DeadlineExceeded,
}

impl Error {
    /// True for [`Error::DeadlineExceeded`] (Go's `Timeout()` method).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::DeadlineExceeded)
    }

    /// This error as a shared [`Cause`], without allocating.
    pub fn as_cause(self) -> Cause {
        match self {
            Error::Canceled => CANCELED.clone(),
            Error::DeadlineExceeded => DEADLINE_EXCEEDED.clone(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Canceled => "context canceled",
            Error::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for Error {}

/// The reason recorded with a cancellation (Go's `context.Cause`).
///
/// Any error type fits; recover the concrete type with
/// `cause.downcast_ref::<MyError>()`.
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

static CANCELED: std::sync::LazyLock<Cause> = std::sync::LazyLock::new(|| std::sync::Arc::new(Error::Canceled));
static DEADLINE_EXCEEDED: std::sync::LazyLock<Cause> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(Error::DeadlineExceeded));
