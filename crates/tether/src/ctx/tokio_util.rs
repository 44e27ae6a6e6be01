//! Conversions between [`Context`] and tokio-util's [`CancellationToken`]
//! (feature `tokio-util`), both ways, so that code built on tokens and
//! code built on contexts can call each other while a program moves from
//! one to the other.
//!
//! | you have | you need | call | cancelled when |
//! |---|---|---|---|
//! | a `Context` | a token for tokio code | [`ctx.cancellation_token()`](Context::cancellation_token) | the context is done |
//! | a `Context` and a token | the token to follow the context, for a while | [`ctx.link_token(&token)`](Context::link_token) → [`TokenLink`] | the context is done, while the link lives |
//! | a token | a `Context` for tether code | [`Context::from_token(&token)`](Context::from_token) | the token is cancelled, or the handle cancels |
//! | a `Context` and a token | a child cancelled by either | [`ctx.with_token(&token)`](Context::with_token) | the token is cancelled, the parent is done, or the handle cancels |
//!
//! A context made from a token records [`TokenCancelled`] as its
//! [cause](Context::cause) when the token is what cancelled it. A token
//! has no cause: code holding only the token learns *that* the context
//! ended, and the context's holder can ask [`cause`](Context::cause) why.
//!
//! ```
//! use tether::{Context, ctx::tokio_util::TokenCancelled};
//! use tokio_util::sync::CancellationToken;
//!
//! // Old code shuts down with a token; new code takes a Context.
//! let shutdown = CancellationToken::new();
//! let (ctx, _cancel) = Context::from_token(&shutdown);
//! shutdown.cancel();
//! assert!(ctx.is_done()); // at once: no task or thread in between
//! assert!(ctx.cause().unwrap().is::<TokenCancelled>());
//!
//! // New code owns a Context; a tokio-util based library wants a token.
//! let (request, cancel) = Context::background().with_cancel();
//! let token = request.cancellation_token();
//! cancel.cancel();
//! assert!(token.is_cancelled());
//! ```
//!
//! # How it works, and what is cleaned up when
//!
//! Both directions are synchronous and need no runtime: no task or thread
//! is started (so there is nothing for [`leak`](crate::leak) checks to
//! find), and a cancel on one side has reached the other by the time the
//! cancelling call returns.
//!
//! - **Context → token.** The context holds a registration that cancels
//!   the token. A token cannot tell anyone when its last clone is dropped,
//!   so that registration cannot end with the token: it ends when the
//!   context is done ([`cancellation_token`](Context::cancellation_token)),
//!   or when the [`TokenLink`] is dropped
//!   ([`link_token`](Context::link_token)), whichever comes first. A
//!   request's context ends with its request, so `cancellation_token` is
//!   the right call there; on a context that lives as long as the program
//!   (a server's root), calling it once per request would pile up one
//!   registration per call — make one token and clone it, or use
//!   `link_token` and drop the link when the work is over.
//! - **Token → context.** The new context waits on the token the way a
//!   task awaiting `token.cancelled()` would, with a waker that cancels
//!   the context instead of waking a task. When the context is done for
//!   any reason (the token, the handle, the parent, a deadline), that wait
//!   is dropped and the token holds nothing of it any more.
//!
//! A context never cancels anything above it: cancelling a token made by
//! `cancellation_token` does not cancel the context (a token can be
//! cancelled by anyone who holds a clone; a context only by its handle).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context as TaskCx, Wake as StdWake, Waker};

use ::tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::{CancelHandle, Cause, Context, Error, Scope};
use crate::sync_impl::lock;
use crate::waiter::Wake;

/// The [cause](Context::cause) of a context made by
/// [`Context::from_token`] or [`Context::with_token`] when the token is
/// what cancelled it.
///
/// Its [`source`](std::error::Error::source) is
/// [`Error::Canceled`], so [`ErrorIs::is_canceled`](super::ErrorIs::is_canceled)
/// holds for it, as for any plain cancellation.
///
/// ```
/// use tether::{Context, ctx::{ErrorIs, tokio_util::TokenCancelled}};
///
/// let token = tokio_util::sync::CancellationToken::new();
/// let (ctx, _cancel) = Context::from_token(&token);
/// token.cancel();
/// let cause = ctx.cause().unwrap();
/// assert!(cause.downcast_ref::<TokenCancelled>().is_some());
/// assert!(cause.is_canceled());
/// assert_eq!(cause.to_string(), "cancellation token cancelled");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TokenCancelled;

impl std::fmt::Display for TokenCancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancellation token cancelled")
    }
}

impl std::error::Error for TokenCancelled {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&Error::Canceled)
    }
}

/// One shared cause for every token cancel: no allocation per cancel.
static TOKEN_CANCELLED: std::sync::LazyLock<Cause> = std::sync::LazyLock::new(|| Arc::new(TokenCancelled));

/// Keeps a token linked to a context by [`Context::link_token`]: while it
/// lives, the context being done cancels the token. Dropping it removes
/// the context's registration (and leaves the token as it is: the token
/// is not yours to cancel on the way out, unlike a
/// [`CancelHandle`]'s context).
///
/// ```
/// use tether::Context;
/// use tokio_util::sync::CancellationToken;
///
/// let root = Context::background().with_cancel();
/// let token = CancellationToken::new();
/// let link = root.0.link_token(&token);
/// assert_eq!(root.0.__registrations(), 1);
/// drop(link); // the work that needed the token is over
/// assert_eq!(root.0.__registrations(), 0);
/// drop(root);
/// assert!(!token.is_cancelled());
/// ```
#[must_use = "dropping the link unlinks the token at once"]
pub struct TokenLink {
    registration: Option<(Arc<Scope>, usize)>,
}

impl Drop for TokenLink {
    fn drop(&mut self) {
        if let Some((scope, key)) = self.registration.take() {
            scope.unregister(key);
        }
    }
}

impl std::fmt::Debug for TokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenLink").field("registered", &self.registration.is_some()).finish()
    }
}

/// A waker that cancels a token: registered with a context, it is "woken"
/// when the context is done (after the context's lock is released).
struct CancelToken(CancellationToken);

impl StdWake for CancelToken {
    fn wake(self: Arc<Self>) {
        self.0.cancel();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.cancel();
    }
}

fn cancelling(token: &CancellationToken) -> Wake {
    Wake::Task(Waker::from(Arc::new(CancelToken(token.clone()))))
}

impl Context {
    /// A new [`CancellationToken`] that is cancelled once this context is
    /// done (at once if it already is; never, for a context that can never
    /// be done): for tokio code that takes a token.
    ///
    /// The registration that cancels the token lives until this context is
    /// done (see the [module docs](super::tokio_util#how-it-works-and-what-is-cleaned-up-when));
    /// on a long-lived context, call this once and clone the token, or use
    /// [`link_token`](Context::link_token).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use tether::Context;
    ///
    /// // A tokio-util style worker that stops when its token is cancelled.
    /// async fn serve(token: tokio_util::sync::CancellationToken) -> &'static str {
    ///     token.cancelled().await;
    ///     "stopped"
    /// }
    ///
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// let worker = serve(ctx.cancellation_token());
    /// cancel.cancel();
    /// assert_eq!(worker.await, "stopped");
    /// # });
    /// ```
    pub fn cancellation_token(&self) -> CancellationToken {
        let token = CancellationToken::new();
        if let Some(scope) = self.scope() {
            if scope.register(cancelling(&token)).is_none() {
                token.cancel(); // already done
            }
        }
        token
    }

    /// Cancels `token` once this context is done, as long as the returned
    /// [`TokenLink`] lives (at once, if the context is already done). For
    /// tokens that outlive the work they are linked for, or contexts that
    /// outlive many links: dropping the link removes the registration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::Context;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let (ctx, _cancel) = Context::background().with_timeout(Duration::ZERO);
    /// let token = CancellationToken::new();
    /// let _link = ctx.link_token(&token);
    /// assert!(token.is_cancelled()); // the deadline had passed already
    /// ```
    pub fn link_token(&self, token: &CancellationToken) -> TokenLink {
        let registration = self.scope().and_then(|scope| match scope.register(cancelling(token)) {
            Some(key) => Some((scope.clone(), key)),
            None => {
                token.cancel();
                None
            }
        });
        TokenLink { registration }
    }

    /// A child of this context that is also cancelled when `token` is,
    /// with [`TokenCancelled`] as its [cause](Context::cause). Otherwise a
    /// child like any [`with_cancel`](Context::with_cancel) child: done
    /// when its handle cancels (or is dropped), when this context is done,
    /// at this context's deadline.
    ///
    /// Cancelling the token cancels the child synchronously, on the thread
    /// that calls `token.cancel()`. Once the child is done, the token holds
    /// nothing of it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::{Context, ctx::Error};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let (request, _cancel) = Context::background().with_timeout(Duration::from_secs(30));
    /// let shutdown = CancellationToken::new();
    /// let (ctx, _handle) = request.with_token(&shutdown);
    /// assert_eq!(ctx.deadline(), request.deadline()); // still the request's
    /// shutdown.cancel();
    /// assert_eq!(ctx.err(), Some(Error::Canceled));
    /// assert!(!request.is_done()); // a child never cancels its parent
    /// ```
    pub fn with_token(&self, token: &CancellationToken) -> (Context, CancelHandle) {
        let (child, handle) = self.with_cancel();
        Watch::start(&handle.scope, token.clone());
        (child, handle)
    }

    /// A context cancelled when `token` is: [`with_token`](Context::with_token)
    /// on [`Context::background`], for code that starts from a token.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use tether::{Context, chan};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let shutdown = CancellationToken::new();
    /// let (ctx, _cancel) = Context::from_token(&shutdown);
    /// let (_tx, rx) = chan::bounded::<u32>(1);
    /// shutdown.cancel();
    /// let got = tether::select! {
    ///     recv(rx) -> v => v.ok(),
    ///     done(ctx) => None, // tether code stops on the old token's cancel
    /// };
    /// assert_eq!(got, None);
    /// # });
    /// ```
    pub fn from_token(token: &CancellationToken) -> (Context, CancelHandle) {
        Context::background().with_token(token)
    }
}

/// Watches a token for one context: a pending `cancelled_owned()` future,
/// polled by hand with a waker ([`OnToken`]) that cancels the context.
/// A second waker ([`OnDone`]), registered with the context, drops the
/// future once the context is done, which takes the waker out of the
/// token. Neither waker keeps the context alive (`scope` is weak).
struct Watch {
    scope: Weak<Scope>,
    /// `None` once the watch is over (token cancelled or context done).
    state: Mutex<Option<Watching>>,
}

struct Watching {
    token: CancellationToken,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Watch {
    /// Starts watching `token` for `scope`; returns the watch, weakly, so
    /// tests can see it gone.
    fn start(scope: &Arc<Scope>, token: CancellationToken) -> Weak<Watch> {
        let watch = Arc::new(Watch { scope: Arc::downgrade(scope), state: Mutex::new(None) });
        let cancelled = Box::pin(token.clone().cancelled_owned());
        let on_token = Arc::new(OnToken(watch.clone()));
        // The state is in place before the first poll registers the waker:
        // a cancel racing this poll finds it (once we unlock).
        let pending = lock(&watch.state).insert(Watching { token, cancelled }).poll(&on_token);
        if !pending {
            watch.stop();
            watch.cancel_context();
        } else if scope.register(Wake::Task(Waker::from(Arc::new(OnDone(watch.clone()))))).is_none() {
            watch.stop(); // done meanwhile (its parent, or the token just now)
        }
        Arc::downgrade(&watch)
    }

    /// The token was cancelled (or its waker woken): ends the watch and
    /// cancels the context.
    fn on_token(&self, on_token: &Arc<OnToken>) {
        let mut state = lock(&self.state);
        let Some(w) = state.as_mut() else { return };
        if !w.token.is_cancelled() && w.poll(on_token) {
            return; // a wake-up without a cancel: registered again
        }
        let over = state.take();
        drop(state);
        drop(over); // outside our lock: dropping the future locks the token's
        self.cancel_context();
    }

    fn cancel_context(&self) {
        if let Some(scope) = self.scope.upgrade() {
            Scope::cancel(&scope, Error::Canceled, Some(TOKEN_CANCELLED.clone()), true);
        }
    }

    /// The context is done: stop waiting on the token.
    fn stop(&self) {
        let over = lock(&self.state).take();
        drop(over);
    }
}

impl Watching {
    /// Polls the token's future; true while the token is not cancelled.
    fn poll(&mut self, on_token: &Arc<OnToken>) -> bool {
        let waker = Waker::from(on_token.clone());
        self.cancelled.as_mut().poll(&mut TaskCx::from_waker(&waker)).is_pending()
    }
}

/// The waker the token wakes.
struct OnToken(Arc<Watch>);

impl StdWake for OnToken {
    fn wake(self: Arc<Self>) {
        self.0.on_token(&self);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.on_token(self);
    }
}

/// The waker the context wakes when it is done.
struct OnDone(Arc<Watch>);

impl StdWake for OnDone {
    fn wake(self: Arc<Self>) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_ends_with_the_context() {
        let token = CancellationToken::new();
        let (ctx, handle) = Context::background().with_cancel();
        let watch = Watch::start(&handle.scope, token.clone());
        assert!(watch.upgrade().is_some());
        drop(handle);
        assert!(ctx.is_done());
        assert!(watch.upgrade().is_none(), "the token still holds the watch");
        token.cancel();
        assert!(ctx.cause().unwrap().downcast_ref::<Error>().is_some(), "the handle's cause stays");
    }

    #[test]
    fn the_watch_ends_with_the_token() {
        let token = CancellationToken::new();
        let (ctx, handle) = Context::background().with_cancel();
        let watch = Watch::start(&handle.scope, token.clone());
        token.cancel();
        assert!(ctx.cause().unwrap().is::<TokenCancelled>());
        assert!(watch.upgrade().is_none(), "the context still holds the watch");
    }

    #[test]
    fn a_cancelled_token_makes_a_done_child_and_no_watch() {
        let token = CancellationToken::new();
        token.cancel();
        let (ctx, handle) = Context::background().with_cancel();
        let watch = Watch::start(&handle.scope, token);
        assert!(ctx.is_done());
        assert!(watch.upgrade().is_none());
    }

    #[test]
    fn a_done_parent_ends_the_watch_at_once() {
        let token = CancellationToken::new();
        let (parent, cancel) = Context::background().with_cancel();
        cancel.cancel();
        let (_ctx, handle) = parent.with_cancel();
        let watch = Watch::start(&handle.scope, token);
        assert!(watch.upgrade().is_none());
    }

    #[test]
    fn a_wake_without_a_cancel_registers_again() {
        let token = CancellationToken::new();
        let (ctx, handle) = Context::background().with_cancel();
        let watch = Watch::start(&handle.scope, token.clone()).upgrade().unwrap();
        // A spurious wake-up: the token is not cancelled, the watch goes on.
        Waker::from(Arc::new(OnToken(watch.clone()))).wake();
        assert!(!ctx.is_done());
        assert!(lock(&watch.state).is_some());
        token.cancel();
        assert!(ctx.is_done());
    }
}
