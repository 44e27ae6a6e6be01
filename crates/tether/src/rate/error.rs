//! [`WaitError`]: why a limiter wait gave up.

use std::fmt;

use crate::ctx;

/// Why [`Limiter::wait_n`](super::Limiter::wait_n) (or its blocking twin)
/// returned without the tokens. Every variant is decided at once, without
/// sleeping, except [`Context`](WaitError::Context), which may also end a
/// wait in progress (the reserved tokens are then given back).
///
/// The context's error is the [`source`](std::error::Error::source) of a
/// [`Context`](WaitError::Context) error, not part of its message, so an
/// error-chain printer shows each once:
///
/// ```
/// use tether::{ctx, rate::WaitError};
/// let e = WaitError::Context(ctx::Error::Canceled);
/// assert_eq!(e.to_string(), "rate: wait ended because its context is done");
/// let source = std::error::Error::source(&e).unwrap();
/// assert_eq!(source.to_string(), "context canceled");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitError {
    /// More tokens were asked for than the bucket can ever hold.
    ExceedsBurst {
        /// Tokens asked for.
        n: usize,
        /// The limiter's burst at the time.
        burst: usize,
    },
    /// The context was done, before or during the wait.
    Context(ctx::Error),
    /// The tokens could not arrive before the context's deadline — or
    /// ever, with a [`Limit::ZERO`](super::Limit::ZERO) limiter whose bucket
    /// is short (Go would block until the context is done; tether tells
    /// you at once).
    WouldExceedDeadline {
        /// Tokens asked for.
        n: usize,
    },
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::ExceedsBurst { n, burst } => {
                write!(f, "rate: cannot wait for {n} tokens, more than the limiter's burst of {burst}")
            }
            // The context's error is this error's `source()`, so it is not
            // repeated here: a chain printer (`{:#}` in anyhow) would show
            // it twice ("context canceled: context canceled").
            WaitError::Context(_) => f.write_str("rate: wait ended because its context is done"),
            WaitError::WouldExceedDeadline { n } => {
                write!(f, "rate: {n} tokens would not be available before the context's deadline")
            }
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Context(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ctx::Error> for WaitError {
    fn from(e: ctx::Error) -> Self {
        WaitError::Context(e)
    }
}
