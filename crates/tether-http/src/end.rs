//! How a request's context ends, and waiting for a context without
//! borrowing it.

use std::future::Future;
use std::pin::Pin;

use tether::Context;
use tether::ctx::CancelHandle;

use crate::ClientDisconnected;

/// Owns the cancel handle of one request's context and ends it exactly
/// once: [`finish`](RequestEnd::finish) when the request is over (cause
/// `Canceled`, as Go's server does when `ServeHTTP` returns); dropped
/// unfinished, with [`ClientDisconnected`].
#[derive(Debug)]
pub(crate) struct RequestEnd {
    handle: Option<CancelHandle>,
    /// Set when no body will ever be sent (HEAD, 204, 304 ...), so being
    /// dropped unpolled is the normal end, not a disconnect.
    clean_on_drop: bool,
}

impl RequestEnd {
    pub(crate) fn new(handle: CancelHandle) -> RequestEnd {
        RequestEnd { handle: Some(handle), clean_on_drop: false }
    }

    /// Ends the context normally (dropping the handle cancels with cause
    /// `Canceled`; one cancel, not two).
    pub(crate) fn finish(&mut self) {
        self.handle = None;
    }

    /// From now on, being dropped counts as the normal end.
    pub(crate) fn clean_on_drop(&mut self) {
        self.clean_on_drop = true;
    }
}

impl Drop for RequestEnd {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            if !self.clean_on_drop {
                h.cancel_with_cause(ClientDisconnected::cause());
            }
            // Dropping `h` cancels with `Canceled` unless already cancelled.
        }
    }
}

/// A future that owns a clone of a context and resolves, with it, once the
/// context is done. Boxed because [`Context::done`] borrows its context,
/// and a response future or body cannot hold a borrow of its own field.
pub(crate) type Watch = Pin<Box<dyn Future<Output = Context> + Send>>;

pub(crate) fn watch(ctx: Context) -> Watch {
    Box::pin(async move {
        ctx.done().await;
        ctx
    })
}
