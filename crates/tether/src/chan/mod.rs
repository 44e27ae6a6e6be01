//! Go channels for threads and tasks: bounded (capacity 0 is a true
//! rendezvous), unbounded, multi-producer multi-consumer, closable — with
//! [`select!`](crate::select) and [`select_blocking!`](crate::select_blocking).
//!
//! | Go | tether |
//! |---|---|
//! | `make(chan T, n)` | [`bounded(n)`](bounded) → `(Sender<T>, Receiver<T>)` |
//! | `make(chan T)` | [`bounded(0)`](bounded) (rendezvous) |
//! | (none) | [`unbounded()`](unbounded) |
//! | `ch <- v` | [`tx.send(v).await`](Sender::send) / [`tx.send_blocking(v)`](Sender::send_blocking) |
//! | `v, ok := <-ch` | [`rx.recv().await`](Receiver::recv) / [`rx.recv_blocking()`](Receiver::recv_blocking) |
//! | `for v := range ch` | [`for v in rx.iter()`](Receiver::iter) / `while let Some(v) = rx.next().await` ([`Stream`](futures_core::Stream)) |
//! | `close(ch)` | [`tx.close()`](Sender::close), or drop every sender |
//! | `len(ch)`, `cap(ch)` | [`len()`](Receiver::len), [`capacity()`](Sender::capacity) |
//! | `select { ... }` | [`select!`](crate::select) / [`select_blocking!`](crate::select_blocking) |
//! | nil channel in a select | an `Option` operand set to `None`, or an arm guard `if cond` |
//!
//! ```
//! use tether::chan;
//!
//! let (tx, rx) = chan::bounded::<u32>(16);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..100 {
//!         tx.send_blocking(i).unwrap();
//!     }
//!     // Dropping the last sender closes the channel.
//! });
//! let sum: u32 = rx.iter().sum(); // ends once closed and drained
//! assert_eq!(sum, 4950);
//! producer.join().unwrap();
//! ```
//!
//! # One channel, any mix of threads and tasks
//!
//! Every operation has an async form (`send`, `recv`, the [`Stream`]
//! implementation, [`select!`](crate::select)) and a blocking form
//! (`send_blocking`, `recv_blocking`, [`iter`](Receiver::iter),
//! [`select_blocking!`](crate::select_blocking)) that parks the OS thread.
//! Both work on the same channel at the same time, on any async runtime or
//! none: a tokio task can feed a pool of plain threads and the other way
//! round. Blocking waits spin briefly before parking, since a hand-off from
//! the other core arrives far sooner than a park/unpark round trip.
//!
//! # Flavors
//!
//! - [`bounded(n)`](bounded), `n > 0`: a buffer of `n` values; `send` waits
//!   while it is full. The buffer never grows past `n`.
//! - [`bounded(0)`](bounded): no buffer. A `send` completes only once a
//!   receiver has taken the value (a rendezvous), in every mix of blocking
//!   and async peers.
//! - [`unbounded()`](unbounded): `send` never waits. The buffer gives its
//!   memory back once a burst has drained.
//!
//! Values are received in the order they were sent (per sender); waiting
//! receivers and senders are served first-come first-served.
//!
//! # Closing (Go's rules, with two Rust-safe changes)
//!
//! - A channel is closed by [`Sender::close`] (on any sender) or when the
//!   last sender is dropped. [`is_closed`](Sender::is_closed) is true from
//!   that moment on, even while values are still buffered.
//! - Receivers first drain what is buffered, then get
//!   [`RecvError::Closed`] (Go's `v, ok := <-ch` with `ok == false`).
//! - A send on a closed channel returns the value in
//!   [`SendError`] — Go panics instead.
//! - When the last receiver is dropped the channel closes too: blocked and
//!   later sends fail with their value handed back — in Go they would block
//!   forever (a goroutine leak). Values still buffered are dropped then.
//! - Closing wakes every blocked sender (with an error) and receiver.
//!
//! # Cancel safety
//!
//! Dropping a [`send`](Sender::send), [`recv`](Receiver::recv),
//! [`recv_many`](Receiver::recv_many) or [`select!`](crate::select) future
//! at any await point loses no value, duplicates none and completes no
//! operation:
//!
//! - An async send commits only inside its own `poll`. While it waits, its
//!   value stays in its future; a receiver that arrives only notifies it.
//!   So on a rendezvous channel a non-blocking receive
//!   ([`try_recv`](Receiver::try_recv), a select with `default`) takes a
//!   value from a parked *blocking* sender, as in Go, but does not see a
//!   parked *async* sender.
//! - A sender hands its value straight into a waiting receiver when that
//!   receiver is a thread (or, on a rendezvous channel, a task); that
//!   completes the send. On a buffered channel a waiting async receiver is
//!   instead notified and takes the value from the buffer in its own poll,
//!   so a dropped receive future never holds a value there.
//! - On a rendezvous channel one side of an async↔async hand-off has to
//!   commit outside its own poll, and it is the receiver: if a receiving
//!   future (or `select!`) is dropped after it was handed a value but
//!   before returning it, its `Drop` puts the value back — into another
//!   waiting receiver, or else into the channel, where it waits like a
//!   buffered value (so `len()` of a rendezvous channel can briefly be 1).
//!   Nothing is lost, nothing is duplicated, and order is kept.
//!
//! # Differences from Go
//!
//! - No panics: send on a closed channel and close of a closed channel
//!   return errors/`false`.
//! - No nil channel value; in a select, use an `Option` operand or a guard.
//! - Dropping every receiver closes the channel (Go leaks the senders).
//! - `select!` drops the value of a `send` arm that did not run.
#![allow(clippy::len_without_is_empty)]

mod core;
mod error;
mod macros;
mod select;
mod spin;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use futures_core::Stream;

use self::core::Chan;
pub use self::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
use self::select::{Outcome, RecvArm, RecvSlot, SelectState, SendArm, run_blocking};
use crate::sync_impl::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// Creates a channel with a buffer of `cap` values. `cap == 0` makes an
/// unbuffered (rendezvous) channel: each `send` completes only when a
/// receiver takes the value.
///
/// ```
/// let (tx, rx) = tether::chan::bounded::<&str>(1);
/// tx.try_send("a").unwrap();
/// assert!(tx.try_send("b").unwrap_err().is_full());
/// assert_eq!(rx.try_recv(), Ok("a"));
/// assert_eq!(tx.capacity(), Some(1));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    assert!(cap < usize::MAX, "tether::chan::bounded: capacity usize::MAX is reserved; use unbounded()");
    make(cap)
}

/// Creates a channel whose `send` never waits. Memory grows with the
/// backlog and is given back once it drains.
///
/// ```
/// let (tx, rx) = tether::chan::unbounded::<u64>();
/// for i in 0..1000 {
///     tx.try_send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 1000);
/// assert_eq!(tx.capacity(), None);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    make(usize::MAX)
}

fn make<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(cap));
    (Sender { chan: chan.clone() }, Receiver { chan, stream: Default::default() })
}

/// The sending half of a channel. Clone it for more producers; the channel
/// closes when the last one is dropped (or on [`close`](Sender::close)).
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. Clone it for more consumers; each
/// value goes to exactly one receiver.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// The receive in progress for the `Stream` implementation (behind a
    /// `Mutex` only so that `Receiver<T>: Sync` needs `T: Send`, not
    /// `T: Sync`; it is only ever reached through `&mut self`).
    stream: std::sync::Mutex<StreamState<T>>,
}

struct StreamState<T> {
    slot: RecvSlot<T>,
    sel: SelectState,
}

impl<T> Default for StreamState<T> {
    fn default() -> Self {
        StreamState { slot: RecvSlot::default(), sel: SelectState::default() }
    }
}

impl<T> Sender<T> {
    /// Sends `v`, waiting while the buffer is full (for capacity 0: until a
    /// receiver takes it). Fails with the value back if the channel is
    /// closed, or becomes closed while waiting.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (tx, rx) = tether::chan::bounded(1);
    /// tx.send(5).await.unwrap();
    /// assert_eq!(rx.recv().await, Ok(5));
    /// tx.close();
    /// assert_eq!(tx.send(6).await, Err(tether::chan::SendError(6)));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes sends nothing and drops the
    /// value with the future; the send commits only inside `poll`.
    pub fn send(&self, v: T) -> SendFuture<'_, T> {
        SendFuture { arm: SendArm::new(Some(&self.chan), v), sel: SelectState::default() }
    }

    /// Sends `v`, parking the thread while the buffer is full (capacity 0:
    /// until a receiver takes it).
    ///
    /// ```
    /// let (tx, rx) = tether::chan::bounded(0);
    /// let h = std::thread::spawn(move || rx.recv_blocking());
    /// tx.send_blocking("ping").unwrap(); // returns once the receiver has it
    /// assert_eq!(h.join().unwrap(), Ok("ping"));
    /// ```
    pub fn send_blocking(&self, v: T) -> Result<(), SendError<T>> {
        let v = match self.chan.try_send(v) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(v)) => return Err(SendError(v)),
            Err(TrySendError::Full(v)) => v,
        };
        let mut arm = SendArm::new(Some(&self.chan), v);
        match run_blocking(&mut [&mut arm], false, true, None) {
            Outcome::Arm(_) => arm.take(),
            _ => unreachable!("a send without default or deadline only ends in its arm"),
        }
    }

    /// Sends `v` only if that is possible right now: a receiver is waiting
    /// or the buffer has room. On a rendezvous channel this succeeds only
    /// if a receiver is parked.
    ///
    /// ```
    /// use tether::chan::TrySendError;
    /// let (tx, rx) = tether::chan::bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(v)
    }

    /// Like [`send_blocking`](Sender::send_blocking), giving up after `d`
    /// (measured on tether's clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::chan::SendTimeoutError;
    /// let (tx, _rx) = tether::chan::bounded(0);
    /// assert_eq!(tx.send_timeout_blocking(1, Duration::from_millis(1)), Err(SendTimeoutError::Timeout(1)));
    /// ```
    pub fn send_timeout_blocking(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        let deadline = crate::clock::deadline_after(d);
        let mut arm = SendArm::new(Some(&self.chan), v);
        match run_blocking(&mut [&mut arm], false, true, Some(deadline)) {
            Outcome::Arm(_) => arm.take().map_err(|SendError(v)| SendTimeoutError::Closed(v)),
            _ => Err(SendTimeoutError::Timeout(arm.take_value().expect("a timed-out send keeps its value"))),
        }
    }

    /// Closes the channel; true iff this call closed it (false if it was
    /// already closed). Receivers drain the buffer, then see `Closed`;
    /// blocked senders fail with their values.
    ///
    /// ```
    /// let (tx, rx) = tether::chan::bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(!tx.close());
    /// assert!(rx.is_closed());
    /// assert_eq!(rx.recv_blocking(), Ok(1));
    /// assert!(rx.recv_blocking().is_err());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// True once the channel is closed (by a sender, by dropping every
    /// sender, or by dropping every receiver).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of buffered values.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True if no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer size (`Some(0)` for a rendezvous channel), or `None` for
    /// an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        (self.chan.cap != usize::MAX).then_some(self.chan.cap)
    }

    /// True if both handles belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// The number of live `Sender` handles.
    pub fn sender_count(&self) -> usize {
        self.chan.senders.load(Relaxed)
    }

    /// The number of live `Receiver` handles.
    pub fn receiver_count(&self) -> usize {
        self.chan.receivers.load(Relaxed)
    }
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting for one. Fails only once the
    /// channel is closed and drained.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (tx, rx) = tether::chan::unbounded();
    /// tx.send("a").await.unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv().await, Ok("a"));
    /// assert_eq!(rx.recv().await, Err(tether::chan::RecvError::Closed));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes loses no value: if a sender
    /// had already handed it one, the value is put back into the channel.
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture { arm: RecvArm::new(Some(&self.chan)), sel: SelectState::default() }
    }

    /// Receives the next value, parking the thread until one arrives or the
    /// channel is closed and drained.
    ///
    /// ```
    /// let (tx, rx) = tether::chan::bounded(0);
    /// std::thread::spawn(move || tx.send_blocking(42));
    /// assert_eq!(rx.recv_blocking(), Ok(42));
    /// ```
    pub fn recv_blocking(&self) -> Result<T, RecvError> {
        match self.chan.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Closed) => return Err(RecvError::Closed),
            Err(TryRecvError::Empty) => {}
        }
        let mut arm = RecvArm::new(Some(&self.chan));
        match run_blocking(&mut [&mut arm], false, true, None) {
            Outcome::Arm(_) => arm.take(),
            _ => unreachable!("a receive without default or deadline only ends in its arm"),
        }
    }

    /// Receives a value only if one is ready now: buffered, or offered by
    /// a parked blocking sender on a rendezvous channel.
    ///
    /// ```
    /// use tether::chan::TryRecvError;
    /// let (tx, rx) = tether::chan::bounded(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Like [`recv_blocking`](Receiver::recv_blocking), giving up after `d`
    /// (measured on tether's clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::chan::RecvTimeoutError;
    /// let (_tx, rx) = tether::chan::bounded::<u8>(1);
    /// assert_eq!(rx.recv_timeout_blocking(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout_blocking(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        let deadline = crate::clock::deadline_after(d);
        let mut arm = RecvArm::new(Some(&self.chan));
        match run_blocking(&mut [&mut arm], false, true, Some(deadline)) {
            Outcome::Arm(_) => arm.take().map_err(|_| RecvTimeoutError::Closed),
            _ => Err(RecvTimeoutError::Timeout),
        }
    }

    /// Batch receive: waits for at least one value, then moves up to `max`
    /// values in all into `buf` without waiting further (one lock for the
    /// batch). Returns how many were added; `Err(Closed)` once the channel
    /// is closed and drained. `max == 0` returns `Ok(0)` at once.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (tx, rx) = tether::chan::bounded(8);
    /// for i in 0..5 { tx.send(i).await.unwrap(); }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.recv_many(&mut batch, 3).await, Ok(3));
    /// assert_eq!(rx.recv_many(&mut batch, 10).await, Ok(2));
    /// assert_eq!(batch, [0, 1, 2, 3, 4]);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As for [`recv`](Receiver::recv): dropped before completion, it has
    /// taken nothing.
    pub fn recv_many<'a>(&'a self, buf: &'a mut Vec<T>, max: usize) -> RecvManyFuture<'a, T> {
        RecvManyFuture { recv: self.recv(), buf, max }
    }

    /// The blocking form of [`recv_many`](Receiver::recv_many).
    ///
    /// ```
    /// let (tx, rx) = tether::chan::unbounded();
    /// for i in 0..4 { tx.try_send(i).unwrap(); }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.recv_many_blocking(&mut batch, 100), Ok(4));
    /// ```
    pub fn recv_many_blocking(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, RecvError> {
        if max == 0 {
            return Ok(0);
        }
        let first = self.recv_blocking()?;
        buf.push(first);
        Ok(1 + self.chan.try_recv_many(buf, max - 1).unwrap_or(0))
    }

    /// True once the channel is closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of buffered values.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True if no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer size, or `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        (self.chan.cap != usize::MAX).then_some(self.chan.cap)
    }

    /// True if both handles belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// The number of live `Sender` handles.
    pub fn sender_count(&self) -> usize {
        self.chan.senders.load(Relaxed)
    }

    /// The number of live `Receiver` handles.
    pub fn receiver_count(&self) -> usize {
        self.chan.receivers.load(Relaxed)
    }

    /// How many values the buffer's memory can hold right now (for
    /// checking that an unbounded channel gives memory back).
    pub fn allocated_capacity(&self) -> usize {
        self.chan.buffer_capacity()
    }

    /// A blocking iterator — Go's `for v := range ch`: yields values until
    /// the channel is closed and drained.
    ///
    /// ```
    /// let (tx, rx) = tether::chan::bounded(4);
    /// std::thread::spawn(move || for i in 1..=3 { tx.send_blocking(i).unwrap() });
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator over the values ready now.
    ///
    /// ```
    /// let (tx, rx) = tether::chan::bounded(4);
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Relaxed);
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Relaxed);
        Receiver { chan: self.chan.clone(), stream: Default::default() }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let st = self.stream.get_mut().unwrap_or_else(|e| e.into_inner());
        if st.sel.is_pending() {
            let mut arm = RecvArm::with_slot(&self.chan, std::mem::take(&mut st.slot));
            st.sel.cancel(&mut [&mut arm]);
        }
        if self.chan.receivers.fetch_sub(1, AcqRel) == 1 {
            self.chan.close_and_drain();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

// The pending stream receive is never pinned structurally.
impl<T> Unpin for Receiver<T> {}

/// Values until the channel is closed and drained (poll-based receive; a
/// pending receive is cancelled cleanly when the `Receiver` is dropped).
impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let st = this.stream.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut arm = RecvArm::with_slot(&this.chan, std::mem::take(&mut st.slot));
        let r = st.sel.poll(&mut [&mut arm], false, true, cx);
        let out = match r {
            Poll::Ready(_) => Poll::Ready(arm.take().ok()),
            Poll::Pending => Poll::Pending,
        };
        st.slot = arm.slot;
        out
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), None)
    }
}

/// The future of [`Sender::send`]. `Send` when `T` is.
///
/// # Cancel safety
///
/// Dropping it before completion sends nothing.
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    arm: SendArm<'a, T>,
    sel: SelectState,
}

// The value is never pinned structurally: the future can move freely.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.sel.poll(&mut [&mut this.arm], false, true, cx) {
            Poll::Ready(_) => Poll::Ready(this.arm.take()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        self.sel.cancel(&mut [&mut self.arm]);
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
/// Dropping it before completion loses no value (a value already handed
/// to it is put back into the channel).
#[must_use = "futures do nothing unless awaited"]
pub struct RecvFuture<'a, T> {
    arm: RecvArm<'a, T>,
    sel: SelectState,
}

impl<T> Unpin for RecvFuture<'_, T> {}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.sel.poll(&mut [&mut this.arm], false, true, cx) {
            Poll::Ready(_) => Poll::Ready(this.arm.take()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.sel.cancel(&mut [&mut self.arm]);
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
/// Dropping it before completion takes nothing from the channel.
#[must_use = "futures do nothing unless awaited"]
pub struct RecvManyFuture<'a, T> {
    recv: RecvFuture<'a, T>,
    buf: &'a mut Vec<T>,
    max: usize,
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
                Poll::Ready(Ok(1 + chan.try_recv_many(this.buf, this.max - 1).unwrap_or(0)))
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

/// The blocking iterator of [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv_blocking().ok()
    }
}

/// The non-blocking iterator of [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// The owning blocking iterator of `Receiver`'s `IntoIterator`.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv_blocking().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

#[allow(unused_imports)]
use Acquire as _;

/// The glue the select macros expand to. Not a public API.
#[doc(hidden)]
pub mod __private {
    use std::time::Duration;

    pub use super::core::Core;
    pub use super::select::{AfterArm, Arm, DoneArm, RecvArm, SendArm};
    use super::{Receiver, Sender};
    use crate::ctx::Context;

    /// What `recv(...)` accepts: a receiver, a reference to one, or an
    /// `Option` of either (`None` disables the arm).
    pub trait RecvOperand {
        /// The value type.
        type Item;
        /// The receiver, if the arm is enabled.
        fn receiver(&self) -> Option<&Receiver<Self::Item>>;
    }
    impl<T> RecvOperand for Receiver<T> {
        type Item = T;
        fn receiver(&self) -> Option<&Receiver<T>> {
            Some(self)
        }
    }
    impl<R: RecvOperand + ?Sized> RecvOperand for &R {
        type Item = R::Item;
        fn receiver(&self) -> Option<&Receiver<R::Item>> {
            (**self).receiver()
        }
    }
    impl<R: RecvOperand> RecvOperand for Option<R> {
        type Item = R::Item;
        fn receiver(&self) -> Option<&Receiver<R::Item>> {
            self.as_ref().and_then(|r| r.receiver())
        }
    }

    /// What `send(...)` accepts: a sender, a reference to one, or an
    /// `Option` of either (`None` disables the arm).
    pub trait SendOperand {
        /// The value type.
        type Item;
        /// The sender, if the arm is enabled.
        fn sender(&self) -> Option<&Sender<Self::Item>>;
    }
    impl<T> SendOperand for Sender<T> {
        type Item = T;
        fn sender(&self) -> Option<&Sender<T>> {
            Some(self)
        }
    }
    impl<S: SendOperand + ?Sized> SendOperand for &S {
        type Item = S::Item;
        fn sender(&self) -> Option<&Sender<S::Item>> {
            (**self).sender()
        }
    }
    impl<S: SendOperand> SendOperand for Option<S> {
        type Item = S::Item;
        fn sender(&self) -> Option<&Sender<S::Item>> {
            self.as_ref().and_then(|s| s.sender())
        }
    }

    /// What `done(...)` accepts: a context, a reference to one, or an
    /// `Option` of either (`None` disables the arm).
    pub trait CtxOperand {
        /// The context, if the arm is enabled.
        fn context(&self) -> Option<&Context>;
    }
    impl CtxOperand for Context {
        fn context(&self) -> Option<&Context> {
            Some(self)
        }
    }
    impl<C: CtxOperand + ?Sized> CtxOperand for &C {
        fn context(&self) -> Option<&Context> {
            (**self).context()
        }
    }
    impl<C: CtxOperand> CtxOperand for Option<C> {
        fn context(&self) -> Option<&Context> {
            self.as_ref().and_then(|c| c.context())
        }
    }

    /// What `after(...)` accepts: a `Duration`, or an `Option` of one.
    pub trait AfterOperand {
        /// The duration, if the arm is enabled.
        fn duration(self) -> Option<Duration>;
    }
    impl AfterOperand for Duration {
        fn duration(self) -> Option<Duration> {
            Some(self)
        }
    }
    impl AfterOperand for Option<Duration> {
        fn duration(self) -> Option<Duration> {
            self
        }
    }

    pub fn recv_arm<R: RecvOperand + ?Sized>(r: &R, enabled: bool) -> RecvArm<'_, R::Item> {
        RecvArm::new(r.receiver().filter(|_| enabled).map(|r| &*r.chan))
    }

    pub fn send_arm<S: SendOperand + ?Sized>(s: &S, v: S::Item, enabled: bool) -> SendArm<'_, S::Item> {
        SendArm::new(s.sender().filter(|_| enabled).map(|s| &*s.chan), v)
    }

    pub fn done_arm<C: CtxOperand + ?Sized>(c: &C, enabled: bool) -> DoneArm<'_> {
        DoneArm::new(c.context().filter(|_| enabled))
    }

    pub fn after_arm(d: impl AfterOperand, enabled: bool) -> AfterArm {
        AfterArm::new(d.duration().filter(|_| enabled).map(crate::clock::deadline_after))
    }

    /// The outcome type of each arm kind.
    pub trait TakeOut {
        /// What the arm's pattern binds.
        type Out;
        /// Takes the outcome of a won arm.
        fn take_out(&mut self) -> Self::Out;
    }
    impl<T> TakeOut for RecvArm<'_, T> {
        type Out = Result<T, super::RecvError>;
        fn take_out(&mut self) -> Self::Out {
            self.take()
        }
    }
    impl<T> TakeOut for SendArm<'_, T> {
        type Out = Result<(), super::SendError<T>>;
        fn take_out(&mut self) -> Self::Out {
            self.take()
        }
    }
    impl TakeOut for DoneArm<'_> {
        type Out = ();
        fn take_out(&mut self) {}
    }
    impl TakeOut for AfterArm {
        type Out = ();
        fn take_out(&mut self) {}
    }

    pub fn take_if<A: TakeOut>(a: &mut A, won: bool) -> Option<A::Out> {
        if won { Some(a.take_out()) } else { None }
    }

    pub fn unwrap<T>(v: Option<T>) -> T {
        v.expect("tether::select: the winning arm has an outcome")
    }

    /// Runs a blocking select; `None` = `default`.
    pub fn select_blocking(arms: &mut [&mut dyn Arm], has_default: bool, biased: bool) -> Option<usize> {
        match super::select::run_blocking(arms, has_default, biased, None) {
            super::Outcome::Arm(i) => Some(i),
            _ => None,
        }
    }

    /// The future of an async select; `None` = `default`.
    pub struct SelectFuture<'a, 'b> {
        arms: &'a mut [&'b mut (dyn Arm + Send)],
        has_default: bool,
        biased: bool,
        sel: super::SelectState,
    }

    impl<'a, 'b> SelectFuture<'a, 'b> {
        pub fn new(arms: &'a mut [&'b mut (dyn Arm + Send)], has_default: bool, biased: bool) -> Self {
            SelectFuture { arms, has_default, biased, sel: Default::default() }
        }
    }

    impl std::future::Future for SelectFuture<'_, '_> {
        type Output = Option<usize>;
        fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<usize>> {
            let this = self.get_mut();
            this.sel.poll(this.arms, this.has_default, this.biased, cx)
        }
    }

    impl Drop for SelectFuture<'_, '_> {
        fn drop(&mut self) {
            self.sel.cancel(self.arms);
        }
    }
}
