//! Reserving room before sending: [`Sender::reserve`] and [`Permit`], and
//! the [`SendSink`] built on them.
//!
//! A reservation is the same grant a waiting async send receives: room in
//! the buffer that nobody else may take. Holding a [`Permit`] keeps the
//! value out of the wait entirely, so a reservation raced against other
//! branches of a `select!` (or dropped by a timeout) never takes the value
//! with it.

/// What a reservation waits for, in leak reports.
const RESERVING: crate::leak::Blocked = crate::leak::Blocked::new("waiting for room in a channel (reserve)", None);

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context as TaskCx, Poll};

use futures_sink::Sink;

use super::Sender;
use super::arms::{Owner, ready_node};
use super::core::{Chan, UNBOUNDED};
use super::error::{SendError, TrySendError};
use super::waiter::{Role, Waiter};
use crate::waiter::Outcome;

/// Room for one value in a channel's buffer, reserved by
/// [`Sender::reserve`] or [`Sender::try_reserve`]. Sending through it never
/// waits; dropping it gives the room back (to the next waiting sender).
#[must_use = "dropping a permit gives its room back"]
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the reserved room, without waiting. Fails (with
    /// the value back) only if the channel was closed since the room was
    /// reserved.
    ///
    /// # Errors
    ///
    /// `Err(SendError(value))` if the channel was closed (by a sender, or
    /// because every receiver is gone) after the room was reserved; the
    /// room is given back.
    pub fn send(self, value: T) -> Result<(), SendError<T>> {
        let chan = self.chan;
        std::mem::forget(self);
        chan.with_lock(|g, w| {
            if g.is_closed() {
                g.release_grant(w);
                Err(SendError(value))
            } else {
                g.fill_grant(value, w);
                Ok(())
            }
        })
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.with_lock(|g, w| g.release_grant(w));
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}

fn assert_reservable<T>(chan: &Chan<T>) {
    assert!(
        chan.cap != 0,
        "tether::chan: a rendezvous channel (capacity 0) has no buffer room to reserve; send directly"
    );
}

/// A reservation in progress: the waiter node it may have linked.
pub(crate) struct Reservation<T> {
    node: Option<NonNull<Waiter<T>>>,
    registered: bool,
    /// Woken without a grant (a close): retry, keeping the first place.
    notified: bool,
}

// SAFETY: as for the channel's other operations: the node is ours, touched
// only under the channel lock or per the token protocol; it carries no
// value (a reservation has none).
unsafe impl<T> Send for Reservation<T> {}
// SAFETY: a reservation is only touched through `&mut`.
unsafe impl<T> Sync for Reservation<T> {}

impl<T> Default for Reservation<T> {
    fn default() -> Self {
        Reservation { node: None, registered: false, notified: false }
    }
}

impl<T> Reservation<T> {
    /// Polls for room: `Ready(Ok(()))` means one unit of room is now
    /// reserved for the caller (it must fill or release it).
    pub(crate) fn poll(&mut self, chan: &Chan<T>, cx: &mut TaskCx<'_>) -> Poll<Result<(), SendError<()>>> {
        if self.registered {
            let node = self.node.expect("a registered reservation has a node");
            // SAFETY: the node is ours until we give it back.
            let token = unsafe { &*std::ptr::from_ref(node.as_ref().own_token()) };
            match token.poll(cx.waker()) {
                None => {
                    crate::leak::pending(RESERVING);
                    return Poll::Pending;
                }
                Some(o) => {
                    debug_assert!(matches!(o, Outcome::Notified(_)), "a reservation is only ever notified");
                    self.registered = false;
                    // SAFETY: the outcome was published to us.
                    if unsafe { node.as_ref().meta(|m| m.granted) } {
                        self.release_node(chan);
                        return Poll::Ready(Ok(()));
                    }
                    self.notified = true;
                }
            }
        }
        loop {
            let mut g = chan.lock();
            if g.is_closed() {
                drop(g);
                self.release_node(chan);
                return Poll::Ready(Err(SendError(())));
            }
            if g.try_reserve() {
                drop(g);
                self.release_node(chan);
                return Poll::Ready(Ok(()));
            }
            let owner = Owner::Task(cx.waker());
            // SAFETY: we hold the channel lock; the node slot is ours.
            let node = unsafe { ready_node(chan, &mut self.node, None, owner, 0, Role::Send { offer: false }) };
            // SAFETY: the node is ours and unlinked; we hold the lock.
            unsafe {
                g.link_send(node, std::mem::take(&mut self.notified));
                if g.send_missed() {
                    g.unlink(node);
                    continue;
                }
            }
            self.registered = true;
            crate::leak::pending(RESERVING);
            return Poll::Pending;
        }
    }

    fn release_node(&mut self, chan: &Chan<T>) {
        if let Some(node) = self.node.take() {
            // SAFETY: unlinked (never linked, or popped by the peer that
            // published our outcome) and no peer holds it.
            unsafe { chan.pool.give(node) };
        }
    }

    /// The reservation is abandoned: unlink, or give back a grant that
    /// arrived meanwhile.
    pub(crate) fn cancel(&mut self, chan: &Chan<T>) {
        if std::mem::take(&mut self.registered) {
            let node = self.node.expect("a registered reservation has a node");
            // SAFETY: the node is ours until we give it back.
            let token = unsafe { &*std::ptr::from_ref(node.as_ref().own_token()) };
            match token.abort_or_outcome() {
                // SAFETY: our node; unlinked under the lock, no peer can
                // reach it afterwards.
                None => unsafe { chan.lock().unlink(node) },
                // SAFETY: the outcome was published to us.
                Some(_) if unsafe { node.as_ref().meta(|m| m.granted) } => chan.with_lock(|g, w| g.release_grant(w)),
                Some(_) => {}
            }
        }
        self.release_node(chan);
    }
}

/// The future of [`Sender::reserve`].
///
/// # Cancel safety
///
/// Dropping it before completion reserves nothing: room that was granted
/// to it meanwhile goes to the next waiting sender.
#[must_use = "futures do nothing unless awaited"]
pub struct ReserveFuture<'a, T> {
    chan: &'a Chan<T>,
    res: Reservation<T>,
}

impl<T> Unpin for ReserveFuture<'_, T> {}

impl<'a, T> Future for ReserveFuture<'a, T> {
    type Output = Result<Permit<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.res.poll(this.chan, cx).map_ok(|()| Permit { chan: this.chan })
    }
}

impl<T> Drop for ReserveFuture<'_, T> {
    fn drop(&mut self) {
        self.res.cancel(self.chan);
    }
}

impl<T> fmt::Debug for ReserveFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReserveFuture")
    }
}

impl<T> Sender<T> {
    /// Waits until the buffer has room, and reserves it: the returned
    /// [`Permit`] sends one value without waiting. Senders waiting for room
    /// (reserving or sending) are served in order. Fails once the channel
    /// is closed.
    ///
    /// Reserve first when the value must not be moved into a wait that may
    /// be abandoned (a `select!` arm that loses, a timeout): until the room
    /// is yours, the value stays with you.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (tx, rx) = tether::chan::bounded::<String>(1);
    /// let permit = tx.reserve().await.unwrap();
    /// assert!(tx.try_send("later".into()).unwrap_err().is_full(), "the room is taken");
    /// permit.send("first".into()).unwrap();
    /// assert_eq!(rx.recv().await.unwrap(), "first");
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// On a rendezvous channel (capacity 0), which has no room to reserve.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future reserves nothing (see [`ReserveFuture`]).
    pub fn reserve(&self) -> ReserveFuture<'_, T> {
        assert_reservable(&self.chan);
        ReserveFuture { chan: &self.chan, res: Reservation::default() }
    }

    /// Reserves room if there is some right now (and no sender is waiting
    /// for it already).
    ///
    /// ```
    /// let (tx, _rx) = tether::chan::bounded::<u8>(1);
    /// let p = tx.try_reserve().unwrap();
    /// assert!(tx.try_reserve().unwrap_err().is_full());
    /// drop(p); // the room is free again
    /// assert!(tx.try_reserve().is_ok());
    /// ```
    ///
    /// # Errors
    ///
    /// - `Closed(())` if the channel is closed (checked first);
    /// - `Full(())` if the buffer has no free room, or other senders are
    ///   already waiting for room (they come first).
    ///
    /// # Panics
    ///
    /// On a rendezvous channel (capacity 0).
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        assert_reservable(&self.chan);
        let mut g = self.chan.lock();
        if g.is_closed() {
            return Err(TrySendError::Closed(()));
        }
        if g.try_reserve() {
            drop(g);
            return Ok(Permit { chan: &self.chan });
        }
        Err(TrySendError::Full(()))
    }

    /// Turns the sender into a [`futures_sink::Sink`] (for `SinkExt::send`,
    /// `StreamExt::forward` and friends).
    ///
    /// # Panics
    ///
    /// On a rendezvous channel (capacity 0): the sink reserves room before
    /// each item, and such a channel has none.
    pub fn into_sink(self) -> SendSink<T> {
        assert_reservable(&self.chan);
        SendSink { tx: Some(self), res: Reservation::default(), ready: false }
    }
}

/// A [`Sender`] as a [`Sink`]: `poll_ready` reserves room (waiting in
/// order with the other senders), `start_send` fills it, `poll_flush` has
/// nothing to do (values go straight into the channel), and `poll_close`
/// drops this sender (the channel closes when the last sender is gone).
///
/// An item whose room was reserved is handed back nowhere if the channel
/// is closed between `poll_ready` and `start_send`: `start_send` then
/// fails with [`SendError`]`(())` and the item is dropped (as with
/// `futures`' own channels). Use [`Sender::reserve`] directly to keep it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_sink::Sink;
/// use std::pin::Pin;
/// let (tx, rx) = tether::chan::bounded::<u32>(4);
/// let mut sink = tx.into_sink();
/// std::future::poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx)).await.unwrap();
/// Pin::new(&mut sink).start_send(7).unwrap();
/// assert_eq!(rx.recv().await, Ok(7));
/// # });
/// ```
pub struct SendSink<T> {
    tx: Option<Sender<T>>,
    res: Reservation<T>,
    /// Room is reserved for the next `start_send`.
    ready: bool,
}

impl<T> Unpin for SendSink<T> {}

impl<T> fmt::Debug for SendSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSink").field("ready", &self.ready).field("closed", &self.tx.is_none()).finish()
    }
}

impl<T> SendSink<T> {
    /// The sender inside, unless the sink was closed.
    pub fn get_ref(&self) -> Option<&Sender<T>> {
        self.tx.as_ref()
    }
}

impl<T> Sink<T> for SendSink<T> {
    type Error = SendError<()>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let Some(tx) = &this.tx else { return Poll::Ready(Err(SendError(()))) };
        if this.ready || tx.chan.cap == UNBOUNDED {
            return Poll::Ready(Ok(()));
        }
        let r = this.res.poll(&tx.chan, cx);
        if let Poll::Ready(Ok(())) = r {
            this.ready = true;
        }
        r
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        let Some(tx) = &this.tx else { return Err(SendError(())) };
        if tx.chan.cap == UNBOUNDED {
            return tx.try_send(item).map_err(|_| SendError(()));
        }
        assert!(std::mem::take(&mut this.ready), "tether::chan::SendSink: start_send without a successful poll_ready");
        Permit { chan: &tx.chan }.send(item).map_err(|_| SendError(()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskCx<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut TaskCx<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        this.release();
        this.tx = None;
        Poll::Ready(Ok(()))
    }
}

impl<T> SendSink<T> {
    fn release(&mut self) {
        if let Some(tx) = &self.tx {
            if std::mem::take(&mut self.ready) {
                drop(Permit { chan: &tx.chan });
            }
            self.res.cancel(&tx.chan);
        }
    }
}

impl<T> Drop for SendSink<T> {
    fn drop(&mut self) {
        self.release();
    }
}
