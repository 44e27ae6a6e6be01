//! [`SharedError`]: one error value shared by a group's `wait` and its
//! context's cause — for `anyhow::Error` and any other error type — and
//! [`ToCause`], what `with_context` needs of an error type.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::ctx::Cause;

/// An error type a group (or [`scope`](super::scope)) can record as its
/// context's [cause](crate::Context::cause) when a task fails with it:
/// what [`Group::with_context`](super::Group::with_context) asks of `E`.
///
/// Every `std::error::Error + Clone + Send + Sync + 'static` type is one
/// (its clone becomes the cause: with an `Arc<E>` that is the very same
/// value), and so is [`SharedError`], for error types that are neither
/// `Clone` nor `Error` — `anyhow::Error`, `Box<dyn Error>`, strings.
/// Implement it yourself for an error type that shares its own payload.
pub trait ToCause: Send + 'static {
    /// The cause to record for this error (called once, for the first).
    fn to_cause(&self) -> Cause;
}

impl<E: StdError + Clone + Send + Sync + 'static> ToCause for E {
    fn to_cause(&self) -> Cause {
        Arc::new(self.clone())
    }
}

/// Any error, shared: one `Arc`'d `dyn Error` that a group's
/// [`wait`](super::Group::wait) returns *and* its context holds as its
/// [cause](crate::Context::cause) — the very same value, as in Go.
///
/// It converts with `?` from every error type (`E: Into<Box<dyn Error +
/// Send + Sync>>`: every `std::error::Error`, `anyhow::Error`, `String`,
/// `&str`), so tasks may mix them freely; it dereferences to the
/// `dyn Error` inside (so `downcast_ref`, `source`, and
/// [`ErrorIs`](crate::ctx::ErrorIs) work on it), prints the error inside
/// (`{:#}`: with its chain of sources), and is cheap to clone.
///
/// Like `anyhow::Error`, it does not itself implement `std::error::Error`
/// (that would make its blanket `From` conflict with `From<T> for T`);
/// [`into_cause`](SharedError::into_cause) gives the `Arc<dyn Error>`,
/// which does — for example to go on with `?` into an `anyhow::Result`.
///
/// ```
/// use tether::{Context, ctx::ErrorIs, group::{Group, SharedError}};
///
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (g, gctx) = Group::<SharedError>::with_context(&Context::background());
/// g.spawn(async {
///     let n: u32 = "forty-two".parse()?; // a ParseIntError, converted by `?`
///     Ok(drop(n))
/// })
/// .await;
/// g.spawn(async { Err(anyhow::anyhow!("upstream said no").into()) }).await;
/// let err = g.wait().await.unwrap_err();
/// // One value: wait's error is the context's cause.
/// assert!(SharedError::ptr_eq(&err, &SharedError::from_cause(gctx.cause().unwrap())));
/// assert!(!err.is_canceled());
/// let back: anyhow::Error = err.into_cause().into(); // on with `?` in anyhow code
/// assert!(!back.to_string().is_empty());
/// # });
/// ```
#[derive(Clone)]
pub struct SharedError(Cause);

impl SharedError {
    /// Wraps `err` (moved into a new `Arc`).
    pub fn new(err: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> SharedError {
        SharedError(Arc::from(err.into()))
    }

    /// Shares an existing cause as is, without wrapping it again (so it
    /// stays the same value: [`ptr_eq`](SharedError::ptr_eq) holds).
    ///
    /// ```
    /// use tether::{ctx, group::SharedError};
    /// let cause = ctx::Error::Canceled.as_cause();
    /// let shared = SharedError::from_cause(cause.clone());
    /// assert!(std::sync::Arc::ptr_eq(shared.as_cause(), &cause));
    /// ```
    pub fn from_cause(cause: Cause) -> SharedError {
        SharedError(cause)
    }

    /// The shared error, as a context cause.
    pub fn as_cause(&self) -> &Cause {
        &self.0
    }

    /// The shared error, as a context cause (which is a
    /// `std::error::Error`).
    pub fn into_cause(self) -> Cause {
        self.0
    }

    /// True if both hold the very same error value.
    ///
    /// ```
    /// use tether::group::SharedError;
    /// let a = SharedError::new("boom");
    /// assert!(SharedError::ptr_eq(&a, &a.clone()));
    /// assert!(!SharedError::ptr_eq(&a, &SharedError::new("boom")));
    /// ```
    pub fn ptr_eq(a: &SharedError, b: &SharedError) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<E: Into<Box<dyn StdError + Send + Sync + 'static>>> From<E> for SharedError {
    fn from(err: E) -> SharedError {
        SharedError::new(err)
    }
}

impl From<SharedError> for Cause {
    fn from(e: SharedError) -> Cause {
        e.0
    }
}

impl ToCause for SharedError {
    /// The same value, not a copy.
    fn to_cause(&self) -> Cause {
        self.0.clone()
    }
}

impl std::ops::Deref for SharedError {
    type Target = dyn StdError + Send + Sync + 'static;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl AsRef<dyn StdError + Send + Sync + 'static> for SharedError {
    fn as_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for SharedError {
    /// The inner error's message; with `{:#}`, its whole chain of sources
    /// after it, separated by `": "` (as anyhow prints one).
    ///
    /// ```
    /// use tether::{ctx, group::SharedError, rate::WaitError};
    /// let e = SharedError::from(WaitError::Context(ctx::Error::Canceled));
    /// assert_eq!(e.to_string(), "rate: wait ended because its context is done");
    /// assert_eq!(format!("{e:#}"), "rate: wait ended because its context is done: context canceled");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        if f.alternate() {
            let mut source = self.0.source();
            while let Some(s) = source {
                write!(f, ": {s}")?;
                source = s.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}
