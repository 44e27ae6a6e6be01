//! Async operations with a timeout, on tether's clock (no runtime timer):
//! [`Receiver::recv_timeout`] and [`Sender::send_timeout`]. Each is a
//! select of the operation and an `after(d)` arm, preferring the
//! operation when both are ready.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use super::arms::{RecvArm, SendArm};
use super::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError};
use super::polled::AfterArm;
use super::select::{Arm, SelectState};
use super::{Receiver, Sender};

/// The future of [`Receiver::recv_timeout`]. `!Unpin` (pinned by `.await`).
///
/// # Cancel safety
///
/// As [`RecvFuture`](super::RecvFuture): dropped before completion, it
/// has taken nothing.
#[must_use = "futures do nothing unless awaited"]
pub struct RecvTimeoutFuture<'a, T> {
    recv: RecvArm<'a, T>,
    after: AfterArm,
    sel: SelectState,
}

impl<T> fmt::Debug for RecvTimeoutFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecvTimeoutFuture")
    }
}

impl<T> Future for RecvTimeoutFuture<'_, T> {
    type Output = Result<T, RecvTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        // SAFETY: nothing is moved out of the pinned future; the select's
        // token inside `sel` stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        let mut arms: [&mut dyn Arm; 2] = [&mut this.recv, &mut this.after];
        match this.sel.poll(&mut arms, false, true, cx, &mut [0u32; 2]) {
            Poll::Ready(Some(0)) => Poll::Ready(this.recv.take().map_err(|RecvError::Closed| RecvTimeoutError::Closed)),
            Poll::Ready(_) => Poll::Ready(Err(RecvTimeoutError::Timeout)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for RecvTimeoutFuture<'_, T> {
    fn drop(&mut self) {
        let mut arms: [&mut dyn Arm; 2] = [&mut self.recv, &mut self.after];
        self.sel.cancel(&mut arms);
    }
}

/// The future of [`Sender::send_timeout`]. `!Unpin` (pinned by `.await`).
///
/// # Cancel safety
///
/// As [`SendFuture`](super::SendFuture): dropped before completion, it
/// has sent nothing.
#[must_use = "futures do nothing unless awaited"]
pub struct SendTimeoutFuture<'a, T> {
    send: SendArm<'a, T>,
    after: AfterArm,
    sel: SelectState,
}

impl<T> fmt::Debug for SendTimeoutFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendTimeoutFuture")
    }
}

impl<T> Future for SendTimeoutFuture<'_, T> {
    type Output = Result<(), SendTimeoutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        // SAFETY: as for `RecvTimeoutFuture`.
        let this = unsafe { self.get_unchecked_mut() };
        let mut arms: [&mut dyn Arm; 2] = [&mut this.send, &mut this.after];
        match this.sel.poll(&mut arms, false, true, cx, &mut [0u32; 2]) {
            Poll::Ready(Some(0)) => Poll::Ready(this.send.take().map_err(|SendError(v)| SendTimeoutError::Closed(v))),
            Poll::Ready(_) => {
                let v = this.send.take_value().expect("a send that timed out still holds its value");
                Poll::Ready(Err(SendTimeoutError::Timeout(v)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for SendTimeoutFuture<'_, T> {
    fn drop(&mut self) {
        let mut arms: [&mut dyn Arm; 2] = [&mut self.send, &mut self.after];
        self.sel.cancel(&mut arms);
    }
}

impl<T> Receiver<T> {
    /// Like [`recv`](Receiver::recv), giving up after `d` (tether's clock:
    /// works on any executor, and on the virtual clock in tests).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use tether::chan::RecvTimeoutError;
    /// let (tx, rx) = tether::chan::bounded::<u8>(1);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(1)).await, Err(RecvTimeoutError::Timeout));
    /// tx.send(3).await.unwrap();
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(1)).await, Ok(3));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`recv`](Receiver::recv).
    #[track_caller]
    pub fn recv_timeout(&self, d: Duration) -> RecvTimeoutFuture<'_, T> {
        let at = Some(std::panic::Location::caller());
        RecvTimeoutFuture {
            recv: RecvArm::new(Some(&self.chan)),
            after: AfterArm::new(Some(crate::clock::deadline_after(d))),
            sel: SelectState::new(crate::leak::Blocked::new(super::recv::RECEIVING, at)),
        }
    }
}

impl<T> Sender<T> {
    /// Like [`send`](Sender::send), giving up after `d` (tether's clock);
    /// the value comes back in the error.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use tether::chan::SendTimeoutError;
    /// let (tx, _rx) = tether::chan::bounded::<u8>(0);
    /// assert_eq!(tx.send_timeout(1, Duration::from_millis(1)).await, Err(SendTimeoutError::Timeout(1)));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Sender::send).
    #[track_caller]
    pub fn send_timeout(&self, v: T, d: Duration) -> SendTimeoutFuture<'_, T> {
        let at = Some(std::panic::Location::caller());
        SendTimeoutFuture {
            send: SendArm::new(Some(&self.chan), v),
            after: AfterArm::new(Some(crate::clock::deadline_after(d))),
            sel: SelectState::new(crate::leak::Blocked::new(super::send::SENDING, at)),
        }
    }
}
