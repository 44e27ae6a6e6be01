//! A send, alone (`send`, `send_blocking`, `send_timeout*`) or as a
//! select arm. See `arms.rs` for the life of an operation.

use std::ptr::{self, NonNull};
use std::task::{Context as TaskCx, Poll};
use std::time::Instant;

use super::arms::{Owner, defuse, ready_node, spin_on};
use super::core::{Chan, Wakes};
use super::error::{SendError, TrySendError};
use super::select::{Arm, Completion, Reg, Registrar};
use super::waiter::{Role, Waiter};
use crate::leak::Blocked;
use crate::waiter::{Outcome, Token};

/// What a send waits for, in leak reports.
pub(crate) const SENDING: &str = "sending on a channel";

/// A send, alone or as a select arm.
#[doc(hidden)]
pub struct SendArm<'a, T> {
    chan: Option<&'a Chan<T>>,
    value: Option<T>,
    node: Option<NonNull<Waiter<T>>>,
    registered: bool,
    /// The last outcome was `Notified` (capacity 0: a receiver waits; or
    /// a close) and has not been acted on.
    notified: bool,
    /// Buffer room is reserved for this send (a grant).
    granted: bool,
    result: Option<Result<(), SendError<T>>>,
    /// Who called the operation (for leak reports).
    site: &'static std::panic::Location<'static>,
}

// SAFETY: as for `RecvState`: the node is ours, and the value moves with
// the operation.
unsafe impl<T: Send> Send for SendArm<'_, T> {}

impl<'a, T> SendArm<'a, T> {
    #[track_caller]
    pub(crate) fn new(chan: Option<&'a Chan<T>>, value: T) -> Self {
        SendArm {
            site: std::panic::Location::caller(),
            chan,
            value: Some(value),
            node: None,
            registered: false,
            notified: false,
            granted: false,
            result: None,
        }
    }

    /// The outcome, once the operation completed.
    ///
    /// # Errors
    ///
    /// `Err(SendError(v))` if the channel was closed before the value was
    /// sent; the value comes back.
    ///
    /// # Panics
    ///
    /// If the arm has not completed, or its result was already taken. The
    /// select macros take it exactly once, from the arm that won.
    pub fn take(&mut self) -> Result<(), SendError<T>> {
        self.result.take().expect("tether: a select arm's result was taken twice")
    }

    /// Drops an outcome nobody took.
    pub(crate) fn discard(&mut self) {
        self.result = None;
    }

    /// Lends `node` to this send: if it has to wait, it links `node`
    /// instead of a node from the channel's pool.
    ///
    /// # Safety
    ///
    /// `node` came from [`Waiter::on_stack`], outlives this send, and does
    /// not move while it lives (declare it before the send).
    pub(crate) unsafe fn lend_node(&mut self, node: &Waiter<T>) {
        debug_assert!(self.node.is_none(), "a send that has a node was lent one");
        // SAFETY: the caller's contract; the node is unlinked and ours.
        self.node = Some(unsafe { node.lend(Role::Send { offer: false }) });
    }

    /// The value, if it was not sent (after a timeout).
    pub(crate) fn take_value(&mut self) -> Option<T> {
        self.value.take()
    }

    fn own_token(&self) -> &Token {
        let node = self.node.expect("a registered send has a node");
        // SAFETY: the node is ours and stays allocated until we give it back.
        unsafe { &*ptr::from_ref(node.as_ref().own_token()) }
    }

    /// Fills room reserved for this send (or fails on close).
    fn fire_granted(&mut self, chan: &Chan<T>) {
        self.granted = false;
        let v = self.value.take().expect("a send holds its value until it completes");
        self.result = Some(chan.with_lock(|g, w| {
            if g.is_closed() {
                g.release_grant(w);
                Err(SendError(v))
            } else {
                g.fill_grant(v, w);
                Ok(())
            }
        }));
    }

    /// Under one lock: sends now if it can, else links the node (see
    /// [`RecvArm::start`]). `offer`: peers may take the value from the
    /// node (a blocking sender).
    fn start(&mut self, ext: Option<&Token>, arm: usize, owner: Owner<'_>, offer: bool, front: bool) -> Reg {
        let chan = self.chan.expect("an enabled send has a channel");
        if self.granted {
            self.fire_granted(chan);
            return Reg::Fired;
        }
        let me: *const Token = ext.map_or(ptr::null(), ptr::from_ref);
        if ext.is_none() {
            let v = self.value.take().expect("a send holds its value until it completes");
            match chan.try_send_unlocked(v) {
                Ok(r) => {
                    self.result = Some(r.map_err(SendError));
                    return Reg::Fired;
                }
                Err(v) => self.value = Some(v),
            }
        }
        loop {
            let mut wakes = Wakes::default();
            let mut g = chan.lock();
            let v = self.value.take().expect("a send holds its value until it completes");
            let ready = ext.is_none() || g.send_ready(me);
            if ready {
                if let Some(t) = ext
                    && !t.try_abort()
                {
                    self.value = Some(v);
                    return Reg::Claimed;
                }
                if g.is_closed() {
                    drop(g);
                    self.result = Some(Err(SendError(v)));
                    return Reg::Fired;
                }
                match g.send_now(v, me, &mut wakes) {
                    Ok(handoff) => {
                        drop(g);
                        if let Some(h) = handoff {
                            wakes.push(h.complete());
                        }
                        wakes.wake();
                        self.result = Some(Ok(()));
                        return Reg::Fired;
                    }
                    Err(v) => {
                        self.value = Some(v);
                        if ext.is_some() {
                            return Reg::Retry;
                        }
                    }
                }
            } else {
                self.value = Some(v);
                if ext.is_some_and(|t| !t.is_waiting()) {
                    return Reg::Claimed;
                }
            }
            // SAFETY: we hold the channel lock; the node slot is ours.
            let node = unsafe { ready_node(chan, &mut self.node, ext, owner, arm, Role::Send { offer }) };
            // SAFETY: the node is ours and unlinked; we hold the lock.
            unsafe {
                let n = node.as_ref();
                if offer {
                    let v = self.value.take();
                    n.slot(|s| *s = v);
                }
                g.link_send(node, front);
                if g.send_missed() {
                    // Room (or the close) came between our look and our
                    // announce: look again.
                    g.unlink(node);
                    if offer {
                        self.value = n.slot(|s| s.take());
                    }
                    continue;
                }
            }
            drop(g);
            self.registered = true;
            return Reg::Linked;
        }
    }

    /// Takes in a published outcome; true if the send completed.
    fn collect_outcome(&mut self, o: Outcome) -> bool {
        self.registered = false;
        let node = self.node.expect("a registered send has a node");
        match o {
            Outcome::Done(_) => {
                // A blocking sender's value was taken by a receiver.
                self.result = Some(Ok(()));
                true
            }
            Outcome::Notified(_) => {
                // SAFETY: the outcome was published to us: node and slot
                // are ours again.
                unsafe {
                    if let Some(v) = node.as_ref().slot(|s| s.take()) {
                        self.value = Some(v);
                    }
                    self.granted = node.as_ref().meta(|m| m.granted);
                }
                self.notified = !self.granted;
                false
            }
        }
    }

    fn unregister(&mut self) {
        self.registered = false;
        if let (Some(chan), Some(node)) = (self.chan, self.node.take()) {
            // SAFETY: the node is this channel's; once unlinked under the
            // lock no peer can reach it, so its slot is ours.
            unsafe {
                chan.lock().unlink(node);
                if let Some(v) = node.as_ref().slot(|s| s.take()) {
                    self.value = Some(v);
                }
                chan.pool.give(node);
            }
        }
    }

    fn release(&mut self) {
        if let (Some(chan), Some(node)) = (self.chan, self.node.take()) {
            // SAFETY: unlinked, no peer holds it, its slot is empty.
            unsafe { chan.pool.give(node) };
        }
    }

    /// A peer granted or notified this send, but its future is being
    /// dropped: the grant goes back (to the next sender), a notification on.
    pub(crate) fn abandon(&mut self) {
        let Some(chan) = self.chan else { return };
        if std::mem::take(&mut self.granted) {
            chan.with_lock(|s, w| s.release_grant(w));
        } else if std::mem::take(&mut self.notified) {
            chan.with_lock(|s, w| s.forward_send(w));
        }
    }

    /// Polls a single async send.
    pub(crate) fn poll_send(&mut self, cx: &mut TaskCx<'_>) -> Poll<Result<(), SendError<T>>> {
        if self.registered {
            match self.own_token().poll(cx.waker()) {
                None => {
                    crate::leak::pending(self.blocked());
                    return Poll::Pending;
                }
                Some(o) => {
                    if self.collect_outcome(o) {
                        self.release();
                        return Poll::Ready(self.take());
                    }
                }
            }
        }
        let front = std::mem::take(&mut self.notified);
        match self.start(None, 0, Owner::Task(cx.waker()), false, front) {
            Reg::Fired => {
                self.release();
                Poll::Ready(self.take())
            }
            _ => {
                crate::leak::pending(self.blocked());
                Poll::Pending
            }
        }
    }

    /// This send, as leak reports show a task blocked on it.
    fn blocked(&self) -> Blocked {
        Blocked::new(SENDING, Some(self.site))
    }

    /// A single blocking send, after the caller's lock-free attempt on a
    /// buffered channel found no room (`Sender::send_until`); `None` if
    /// `deadline` passed first (the value is still in the arm).
    pub(crate) fn send_blocking(&mut self, deadline: Option<Instant>) -> Option<Result<(), SendError<T>>> {
        let chan = self.chan.expect("a send has a channel");
        // On a rendezvous channel go straight to `start`: it tries under
        // the lock before linking, and a receiver can only take from a
        // linked sender (spinning first would wait for a peer spinning
        // too). A buffered send tries lock-free, then spins on the hint.
        let v = self.value.take().expect("a send holds its value");
        let v = if chan.cap == 0 {
            v
        } else {
            // The caller's lock-free attempt found no room
            // (`Sender::send_until`).
            if spin_on(|| chan.send_maybe_ready()) {
                match chan.try_send(v) {
                    Ok(()) => return Some(Ok(())),
                    Err(TrySendError::Closed(v)) => return Some(Err(SendError(v))),
                    Err(TrySendError::Full(v)) => v,
                }
            } else {
                v
            }
        };
        self.value = Some(v);
        let _note = crate::leak::note_at(self.blocked());
        let mut front = false;
        loop {
            if let Reg::Fired = self.start(None, 0, Owner::Thread, true, front) {
                self.release();
                return Some(self.take());
            }
            let Some(o) = self.own_token().wait_or_give_up(deadline) else {
                self.unregister();
                return None;
            };
            if self.collect_outcome(o) {
                self.release();
                return Some(self.take());
            }
            self.notified = false;
            front = true;
        }
    }

    /// Cancels a single send whose future is dropped.
    pub(crate) fn cancel(&mut self) {
        if self.registered {
            let Some(o) = self.own_token().abort_or_outcome() else {
                self.unregister();
                return;
            };
            self.collect_outcome(o);
        }
        self.release();
        self.abandon();
    }
}

impl<T> Drop for SendArm<'_, T> {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            defuse(self.chan, node, self.registered);
        }
    }
}

impl<T> Arm for SendArm<'_, T> {
    fn enabled(&self) -> bool {
        self.chan.is_some() && (self.value.is_some() || self.granted)
    }

    fn try_fire(&mut self, _waits: bool) -> bool {
        let Some(chan) = self.chan else { return false };
        if self.granted {
            self.fire_granted(chan);
            return true;
        }
        self.notified = false;
        let Some(v) = self.value.take() else { return false };
        self.result = match chan.try_send(v) {
            Ok(()) => Some(Ok(())),
            Err(TrySendError::Closed(v)) => Some(Err(SendError(v))),
            Err(TrySendError::Full(v)) => {
                self.value = Some(v);
                return false;
            }
        };
        true
    }

    fn maybe_ready(&self) -> bool {
        self.granted || self.chan.is_some_and(|c| c.send_maybe_ready())
    }

    #[inline]
    fn candidate(&self) -> bool {
        self.enabled() && self.maybe_ready()
    }

    fn needs_registration(&self) -> bool {
        self.chan.is_some_and(|c| c.cap == 0)
    }

    fn register(&mut self, r: &Registrar<'_>) -> Reg {
        self.start(Some(r.token), r.arm, Owner::Thread, r.offer, false)
    }

    fn unregister(&mut self) {
        SendArm::unregister(self);
    }

    fn collect(&mut self, c: Completion) -> bool {
        self.collect_outcome(c.0)
    }

    fn abandon(&mut self) {
        SendArm::abandon(self);
    }
}
