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
//! | `select { ... }` | [`select!`](crate::select) / [`select_blocking!`](crate::select_blocking), with `recv`, `send`, `done(ctx)`, `after(d)`, `tick(ticker)`, `fut(future)` and `default` arms |
//! | `reflect.Select` (cases built at run time) | [`Select`]: any number of arms, reused across selects |
//! | nil channel in a select | an `Option` operand set to `None`, or an arm guard `if cond` |
//! | `select` with `time.After` around one operation | [`recv_timeout(d).await`](Receiver::recv_timeout), [`send_timeout(v, d).await`](Sender::send_timeout) (and `*_timeout_blocking`) |
//! | (none) | [`tx.reserve().await`](Sender::reserve) → [`Permit`]: room first, value later; [`tx.closed().await`](Sender::closed); [`tx.into_sink()`](Sender::into_sink) |
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
//! Every operation has an async form (`send`, `recv`, the [`Stream`](futures_core::Stream)
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
//! Chosen at construction; one select engine serves them all.
//!
//! - [`bounded(n)`](bounded), `n > 0`: a lock-free ring of `n` slots,
//!   allocated up front; `send` waits while it is full. A send or receive
//!   that need not wait takes no lock (it claims a slot with one CAS and
//!   checks, with one load, whether anyone waits on the other side).
//! - [`unbounded()`](unbounded): a lock-free list of 31-value blocks;
//!   `send` never waits. Freed blocks are reused: a steady stream, and
//!   bursts up to 64 KiB of blocks, allocate nothing once warm; a larger
//!   burst gives its memory back as it drains.
//! - [`bounded(0)`](bounded): no buffer. A `send` completes only once a
//!   receiver has taken the value (a rendezvous), in every mix of blocking
//!   and async peers; values move straight from one peer to the other
//!   under a short spin lock.
//!
//! # Order
//!
//! Waiting receivers and senders are served first come, first served, in
//! both worlds (on a rendezvous channel a waiting receive leaves a parked
//! blocking sender's value to an older async sender; only a non-blocking
//! receive — `try_recv`, a select with `default` — takes what is offered
//! right away, as in Go).
//! Values from one sender are received in the order they were sent, with
//! one exception, on rendezvous channels only: a value handed to an async
//! receive (or `select!`) whose future is then dropped before returning it
//! goes back to the channel (see *Cancel safety*), and may then be received
//! after values the same sender sent later. Buffered channels never hand a
//! value to a receive that could be dropped, so they keep every sender's
//! order.
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
//!   value stays in its future. A receive that frees room *reserves* that
//!   room for the oldest waiting async sender and wakes it; the sender
//!   fills it in its next poll, and if it is dropped instead the room goes
//!   to the next waiting sender. So on a rendezvous channel a non-blocking
//!   receive ([`try_recv`](Receiver::try_recv), a select with `default`)
//!   takes a value from a parked *blocking* sender, as in Go, but does not
//!   see a parked *async* sender.
//! - A sender hands its value straight into a waiting receiver when that
//!   receiver is a thread, or on a rendezvous channel. On a buffered
//!   channel a waiting async receiver is told instead that a value is
//!   buffered, and takes it in its own poll, so a dropped receive future
//!   never holds a value there.
//! - On a rendezvous channel one side of an async↔async hand-off has to
//!   commit outside its own poll, and it is the receiver: if a receiving
//!   future (or `select!`) is dropped after it was handed a value but
//!   before returning it, its `Drop` puts the value back — into another
//!   waiting receiver, or else into the channel, where it waits like a
//!   buffered value (so `len()` of a rendezvous channel can briefly be 1).
//!   Nothing is lost and nothing is duplicated (see *Order*).
//! - A `Drop` never waits on another task or thread, except for the few
//!   instructions between a peer's claim of the operation and its
//!   publication of the result (the peer holds no lock then and runs no
//!   user code), like taking a short lock.
//!
//! # Costs
//!
//! - Allocation: none per message once warm, blocked or not, on every
//!   flavour (checked by counting tests per shape). A waiting operation
//!   links a waiter node recycled by its channel; the unbounded list reuses
//!   its blocks.
//! - Locks: none for a buffered send or receive that need not wait; one
//!   short spin lock to wait and to wake; the rendezvous flavour takes it
//!   once per operation.
//! - Wake-ups: only a waiter that can proceed is woken (a value for a
//!   receiver, room reserved for a sender), and a thread only if it really
//!   parked: a blocked thread spins for about half a microsecond, then
//!   yields for up to 50 µs, then parks.
//!
//! # Differences from Go
//!
//! - No panics: send on a closed channel and close of a closed channel
//!   return errors/`false`.
//! - No nil channel value; in a select, use an `Option` operand or a guard.
//! - Dropping every receiver closes the channel (Go leaks the senders).
//! - `select!` drops the value of a `send` arm that did not run.
#![allow(clippy::len_without_is_empty)]

mod arms;
mod blocks;
mod buffer;
mod core;
mod dynamic;
mod error;
mod future;
mod guard;
mod iter;
#[cfg(all(test, loom))]
mod loom_tests;
mod macros;
mod permit;
mod polled;
mod recv;
mod ring;
mod select;
mod send;
mod timeout;
mod waiter;

use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::time::{Duration, Instant};

use self::arms::{RecvArm, RecvState, SendArm};
use self::core::{Chan, UNBOUNDED};
pub use self::dynamic::{Select, SelectFuture, Selected};
pub use self::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
pub use self::future::{ClosedFuture, RecvFuture, RecvManyFuture, SendFuture};
pub use self::iter::{IntoIter, Iter, TryIter};
pub use self::permit::{Permit, ReserveFuture, SendSink};
pub use self::timeout::{RecvTimeoutFuture, SendTimeoutFuture};
use self::waiter::Waiter;
use crate::sync_impl::Arc;

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
///
/// # Panics
///
/// If `cap` is `usize::MAX`: that value marks an unbounded channel; use
/// [`unbounded`] for one.
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    assert!(cap < UNBOUNDED, "tether::chan::bounded: capacity usize::MAX is reserved; use unbounded()");
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
    make(UNBOUNDED)
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
    stream: std::sync::Mutex<RecvState<T>>,
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
    #[track_caller]
    pub fn send(&self, v: T) -> SendFuture<'_, T> {
        SendFuture::new(self, v)
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
    ///
    /// # Errors
    ///
    /// `Err(SendError(v))` if the channel is closed (by
    /// [`close`](Sender::close), or because every receiver is gone) before
    /// the value is sent, including while waiting; the value comes back.
    ///
    /// # Panics
    ///
    /// Only if tether has a bug: a wait without a deadline ends only by
    /// sending or by a close.
    #[track_caller]
    pub fn send_blocking(&self, v: T) -> Result<(), SendError<T>> {
        self.send_until(v, None)
            .unwrap_or_else(|_| panic!("a send without a deadline only ends by sending or by close"))
    }

    /// The blocking send behind `send_blocking` and `send_timeout_blocking`:
    /// `Err(v)` if `deadline` passed first.
    #[track_caller]
    fn send_until(&self, v: T, deadline: Option<Instant>) -> Result<Result<(), SendError<T>>, T> {
        // The fast path first, before anything else is built: a buffered
        // send usually finds room, and a producer made slower by even a
        // few nanoseconds lets its consumer catch up and park more often
        // (an unbounded spsc stream measured 24 -> 80-170 ns a message
        // when every send built its waiter node first). A rendezvous send
        // goes straight to the arm, which tries under the lock.
        let v = if self.chan.cap == 0 {
            v
        } else {
            match self.chan.try_send(v) {
                Ok(()) => return Ok(Ok(())),
                Err(TrySendError::Closed(v)) => return Ok(Err(SendError(v))),
                Err(TrySendError::Full(v)) => v,
            }
        };
        // Declared before the send, so it outlives it: see `lend_node`.
        let node = Waiter::on_stack();
        let mut arm = SendArm::new(Some(&self.chan), v);
        // SAFETY: `node` is from `on_stack`, outlives `arm` and stays put.
        unsafe { arm.lend_node(&node) };
        match arm.send_blocking(deadline) {
            Some(r) => Ok(r),
            None => Err(arm.take_value().expect("a timed-out send keeps its value")),
        }
    }

    /// Sends `v` only if that is possible right now: a receiver is waiting
    /// or the buffer has room. On a rendezvous channel this succeeds only
    /// if a receiver is parked. Room already promised to a waiting sender
    /// (reserved for it when a receive freed it, or held by a [`Permit`])
    /// counts as taken: a `try_send` never jumps the queue.
    ///
    /// ```
    /// use tether::chan::TrySendError;
    /// let (tx, rx) = tether::chan::bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    ///
    /// # Errors
    ///
    /// The value comes back in either case:
    ///
    /// - `Closed(v)` if the channel is closed (checked first);
    /// - `Full(v)` if no receiver is waiting and the buffer has no free
    ///   room (on a rendezvous channel: if no receiver is waiting).
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
    ///
    /// # Errors
    ///
    /// The value comes back in either case:
    ///
    /// - `Closed(v)` if the channel is closed before the value is sent;
    /// - `Timeout(v)` if it could not be sent within `d`.
    ///
    /// # Panics
    ///
    /// Only if tether has a bug: a send that timed out still holds its
    /// value.
    #[track_caller]
    pub fn send_timeout_blocking(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        match self.send_until(v, Some(crate::clock::deadline_after(d))) {
            Ok(r) => r.map_err(|SendError(v)| SendTimeoutError::Closed(v)),
            Err(v) => Err(SendTimeoutError::Timeout(v)),
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

    /// Resolves once the channel is closed — for a producer, typically
    /// when every receiver is gone, so it can stop producing.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (tx, rx) = tether::chan::bounded::<u8>(1);
    /// let producer = async {
    ///     tx.closed().await; // the consumer went away
    ///     "stopped"
    /// };
    /// drop(rx);
    /// assert_eq!(producer.await, "stopped");
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only waits.
    pub fn closed(&self) -> ClosedFuture<'_, T> {
        ClosedFuture { chan: &self.chan, node: None }
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
        (self.chan.cap != UNBOUNDED).then_some(self.chan.cap)
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
    #[track_caller]
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture::new(self)
    }

    /// Receives the next value, parking the thread until one arrives or the
    /// channel is closed and drained.
    ///
    /// ```
    /// let (tx, rx) = tether::chan::bounded(0);
    /// std::thread::spawn(move || tx.send_blocking(42));
    /// assert_eq!(rx.recv_blocking(), Ok(42));
    /// ```
    ///
    /// # Errors
    ///
    /// `Err(RecvError::Closed)` once the channel is closed and every
    /// buffered value has been received.
    ///
    /// # Panics
    ///
    /// Only if tether has a bug: a wait without a deadline ends only with
    /// a value or by a close.
    #[track_caller]
    pub fn recv_blocking(&self) -> Result<T, RecvError> {
        self.recv_until(None).expect("a receive without a deadline only ends with a value or by close")
    }

    /// The blocking receive behind `recv_blocking` and
    /// `recv_timeout_blocking`: `None` if `deadline` passed first.
    #[track_caller]
    fn recv_until(&self, deadline: Option<Instant>) -> Option<Result<T, RecvError>> {
        // The fast path first: most receives on a busy channel wait for
        // nothing, and need no node.
        match self.chan.try_recv_fair(true) {
            Ok(v) => return Some(Ok(v)),
            Err(TryRecvError::Closed) => return Some(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => {}
        }
        // Declared before the receive, so it outlives it: see `lend_node`.
        let node = Waiter::on_stack();
        let mut arm = RecvArm::new(Some(&self.chan));
        // SAFETY: `node` is from `on_stack`, outlives `arm` and stays put.
        unsafe { arm.lend_node(&node) };
        arm.recv_blocking(deadline)
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
    ///
    /// # Errors
    ///
    /// - `Empty` if no value is ready now (the channel may still get one);
    /// - `Closed` once the channel is closed and drained.
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
    ///
    /// # Errors
    ///
    /// - `Closed` once the channel is closed and drained;
    /// - `Timeout` if no value arrived within `d`.
    #[track_caller]
    pub fn recv_timeout_blocking(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        match self.recv_until(Some(crate::clock::deadline_after(d))) {
            Some(r) => r.map_err(|RecvError::Closed| RecvTimeoutError::Closed),
            None => Err(RecvTimeoutError::Timeout),
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
    #[track_caller]
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
    ///
    /// # Errors
    ///
    /// `Err(RecvError::Closed)` once the channel is closed and drained
    /// (`buf` is left as it was). Not with `max == 0`: that returns
    /// `Ok(0)` without looking at the channel.
    #[track_caller]
    pub fn recv_many_blocking(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, RecvError> {
        if max == 0 {
            return Ok(0);
        }
        let first = self.recv_blocking()?;
        buf.push(first);
        Ok(1 + self.chan.try_recv_many(buf, max - 1))
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
        (self.chan.cap != UNBOUNDED).then_some(self.chan.cap)
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
        RecvArm::with_state(&self.chan, std::mem::take(st)).cancel();
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

/// The glue the select macros expand to. Not a public API.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
