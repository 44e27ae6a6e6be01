//! The futures of the async channel operations, and `Receiver`'s `Stream`.
//!
//! Each drives one [`RecvArm`]/[`SendArm`] on the waiter node's own token.
//! They are `Unpin` (callers may move them between polls): the node they
//! link lives in the channel's pool, not inside them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use futures_core::Stream;

use super::arms::{RecvArm, SendArm};
use super::error::{RecvError, SendError};
use super::{Receiver, Sender};

/// The future of [`Sender::send`]. `Send` when `T` is.
///
/// # Cancel safety
///
/// Dropping it before completion sends nothing: the value stays in the
/// future until its own poll commits it, and is dropped with the future.
/// If room had been reserved for it, the room goes to the next waiting
/// sender.
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    pub(super) arm: SendArm<'a, T>,
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<'a, T> SendFuture<'a, T> {
    #[track_caller]
    pub(super) fn new(tx: &'a Sender<T>, v: T) -> Self {
        SendFuture { arm: SendArm::new(Some(&tx.chan), v) }
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        self.get_mut().arm.poll_send(cx)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        self.arm.cancel();
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendFuture")
    }
}

/// The future of [`Receiver::recv`]. `Send` when `T` is.
///
/// # Cancel safety
///
/// Dropping it before completion loses no value. On a buffered channel it
/// is never handed a value (it takes one from the buffer in its own poll);
/// on a rendezvous channel a value handed to it just before the drop goes
/// back into the channel (see the module docs).
#[must_use = "futures do nothing unless awaited"]
pub struct RecvFuture<'a, T> {
    pub(super) arm: RecvArm<'a, T>,
}

impl<T> Unpin for RecvFuture<'_, T> {}

impl<'a, T> RecvFuture<'a, T> {
    #[track_caller]
    pub(super) fn new(rx: &'a Receiver<T>) -> Self {
        RecvFuture { arm: RecvArm::new(Some(&rx.chan)) }
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        self.get_mut().arm.poll_recv(cx)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.arm.cancel();
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecvFuture")
    }
}

/// The future of [`Receiver::recv_many`].
///
/// # Cancel safety
///
/// As [`RecvFuture`]: dropped before completion, it has taken nothing.
#[must_use = "futures do nothing unless awaited"]
pub struct RecvManyFuture<'a, T> {
    pub(super) recv: RecvFuture<'a, T>,
    pub(super) buf: &'a mut Vec<T>,
    pub(super) max: usize,
}

impl<T> Future for RecvManyFuture<'_, T> {
    type Output = Result<usize, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.max == 0 {
            return Poll::Ready(Ok(0));
        }
        match Pin::new(&mut this.recv).poll(cx) {
            Poll::Ready(Ok(v)) => {
                this.buf.push(v);
                let chan = this.recv.arm.chan().expect("recv_many has a channel");
                Poll::Ready(Ok(1 + chan.try_recv_many(this.buf, this.max - 1)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for RecvManyFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecvManyFuture")
    }
}

// The pending stream receive is never pinned structurally.
impl<T> Unpin for Receiver<T> {}

/// Values until the channel is closed and drained. A receive left pending
/// by `poll_next` is cancelled cleanly when the `Receiver` is dropped.
impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let st = this.stream.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut arm = RecvArm::with_state(&this.chan, std::mem::take(st));
        let r = arm.poll_recv(cx);
        *st = std::mem::take(&mut arm.st);
        r.map(Result::ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), None)
    }
}

/// What [`ClosedFuture`] waits for, in leak reports.
const CLOSING: crate::leak::Blocked = crate::leak::Blocked::new("waiting for a channel to close", None);

/// The future of [`Sender::closed`].
///
/// # Cancel safety
///
/// Cancel-safe: it only waits; dropping it unregisters.
#[must_use = "futures do nothing unless awaited"]
pub struct ClosedFuture<'a, T> {
    pub(super) chan: &'a super::core::Chan<T>,
    pub(super) node: Option<std::ptr::NonNull<super::waiter::Waiter<T>>>,
}

// SAFETY: the node carries no value and is touched only under the channel
// lock or per the token protocol.
unsafe impl<T> Send for ClosedFuture<'_, T> {}

impl<T> Unpin for ClosedFuture<'_, T> {}

impl<T> Future for ClosedFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(node) = this.node {
            // SAFETY: the node is ours until we give it back.
            if unsafe { node.as_ref() }.own_token().poll(cx.waker()).is_none() {
                crate::leak::pending(CLOSING);
                return Poll::Pending;
            }
            this.node = None;
            // SAFETY: the close popped it and published to us.
            unsafe { this.chan.pool.give(node) };
            return Poll::Ready(());
        }
        let mut g = this.chan.lock();
        if g.is_closed() {
            return Poll::Ready(());
        }
        let owner = super::arms::Owner::Task(cx.waker());
        // SAFETY: we hold the lock; the node slot is ours (empty here).
        let node =
            unsafe { super::arms::ready_node(this.chan, &mut this.node, None, owner, 0, super::waiter::Role::Close) };
        // SAFETY: as above; the node is unlinked.
        unsafe { g.link_close(node) };
        crate::leak::pending(CLOSING);
        Poll::Pending
    }
}

impl<T> Drop for ClosedFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            // SAFETY: our node: settle the token (a close may be finishing
            // it), unlink it under the lock, then no one can reach it.
            unsafe {
                node.as_ref().own_token().settle();
                self.chan.lock().unlink(node);
                self.chan.pool.give(node);
            }
        }
    }
}

impl<T> fmt::Debug for ClosedFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClosedFuture")
    }
}
