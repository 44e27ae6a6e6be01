//! A receive, alone (`recv`, `recv_blocking`, the `Stream`) or as a
//! select arm. See `arms.rs` for the life of an operation.

use std::ptr::{self, NonNull};
use std::task::{Context as TaskCx, Poll};
use std::time::Instant;

use super::arms::{Owner, defuse, ready_node, spin_on};
use super::core::{Chan, Wakes};
use super::error::{RecvError, TryRecvError};
use super::select::{Arm, Completion, Reg, Registrar};
use super::waiter::{Role, Waiter};
use crate::leak::Blocked;
use crate::waiter::{Outcome, Token};

/// What a receive waits for, in leak reports.
pub(crate) const RECEIVING: &str = "receiving from a channel";

/// The parts of a receive that persist between polls (kept by the
/// `Receiver`'s `Stream` implementation between `poll_next` calls).
pub(crate) struct RecvState<T> {
    node: Option<NonNull<Waiter<T>>>,
    /// The node is linked, or was completed by a peer and not collected.
    registered: bool,
    /// The last outcome was `Notified` and has not been acted on.
    notified: bool,
}

impl<T> Default for RecvState<T> {
    fn default() -> Self {
        RecvState { node: None, registered: false, notified: false }
    }
}

// SAFETY: the node is this operation's own (taken from its channel's pool)
// and is touched only under the channel lock or per the token protocol;
// moving the operation to another thread moves that ownership, and a value
// of `T` in the node's slot moves with it, hence `T: Send`.
unsafe impl<T: Send> Send for RecvState<T> {}

/// A receive, alone or as a select arm.
#[doc(hidden)]
pub struct RecvArm<'a, T> {
    chan: Option<&'a Chan<T>>,
    pub(crate) st: RecvState<T>,
    result: Option<Result<T, RecvError>>,
    /// Who called the operation (for leak reports).
    site: Option<&'static std::panic::Location<'static>>,
}

impl<'a, T> RecvArm<'a, T> {
    #[track_caller]
    pub(crate) fn new(chan: Option<&'a Chan<T>>) -> Self {
        RecvArm { chan, st: RecvState::default(), result: None, site: Some(std::panic::Location::caller()) }
    }

    /// Lends `node` to this receive: if it has to wait, it links `node`
    /// instead of a node from the channel's pool.
    ///
    /// The node goes straight into the operation's node slot rather than a
    /// field of its own: one more word in every receive and send (and so
    /// in every task's future that awaits one) measured async mpmc at
    /// capacity 1024 at 150 ns a message instead of 65.
    ///
    /// # Safety
    ///
    /// `node` came from [`Waiter::on_stack`], outlives this receive, and
    /// does not move while it lives (declare it before the receive).
    pub(crate) unsafe fn lend_node(&mut self, node: &Waiter<T>) {
        debug_assert!(self.st.node.is_none(), "a receive that has a node was lent one");
        // SAFETY: the caller's contract; the node is unlinked and ours.
        self.st.node = Some(unsafe { node.lend(Role::Recv { accept: false }) });
    }

    /// A receive resumed from `st` (the `Stream`: no call site to show).
    pub(crate) fn with_state(chan: &'a Chan<T>, st: RecvState<T>) -> Self {
        RecvArm { chan: Some(chan), st, result: None, site: None }
    }

    /// This receive, as leak reports show a task blocked on it.
    fn blocked(&self) -> Blocked {
        Blocked::new(RECEIVING, self.site)
    }

    pub(crate) fn chan(&self) -> Option<&'a Chan<T>> {
        self.chan
    }

    /// The outcome, once the operation completed.
    ///
    /// # Errors
    ///
    /// `Err(RecvError::Closed)` if the arm completed because the channel
    /// is closed and drained.
    ///
    /// # Panics
    ///
    /// If the arm has not completed, or its result was already taken. The
    /// select macros take it exactly once, from the arm that won.
    pub fn take(&mut self) -> Result<T, RecvError> {
        self.result.take().expect("tether: a select arm's result was taken twice")
    }

    /// Drops an outcome nobody took.
    pub(crate) fn discard(&mut self) {
        self.result = None;
    }

    fn own_token(&self) -> &Token {
        let node = self.st.node.expect("a registered receive has a node");
        // SAFETY: the node is ours and stays allocated until we give it back.
        unsafe { &*ptr::from_ref(node.as_ref().own_token()) }
    }

    /// Under one lock: receives now if it can, else links the node.
    /// `ext`: the select's token (`None`: a single operation, on the node's
    /// own token armed for `owner`). `front`: keep the first place (a
    /// notified waiter that lost the value to a racing peer).
    fn start(
        &mut self,
        ext: Option<&Token>,
        arm: usize,
        owner: Owner<'_>,
        accept: bool,
        waits: bool,
        front: bool,
    ) -> Reg {
        let chan = self.chan.expect("an enabled receive has a channel");
        if ext.is_none()
            && let Some(r) = chan.try_recv_unlocked()
        {
            self.result = Some(r.map_err(|()| RecvError::Closed));
            return Reg::Fired;
        }
        let me: *const Token = ext.map_or(ptr::null(), ptr::from_ref);
        loop {
            let mut wakes = Wakes::default();
            let mut g = chan.lock();
            let ready = ext.is_none() || g.recv_ready(me, waits);
            if ready {
                if let Some(t) = ext
                    && !t.try_abort()
                {
                    return Reg::Claimed; // a peer completed another arm first
                }
                if let Some(r) = g.recv_now(me, waits, &mut wakes) {
                    drop(g);
                    wakes.wake();
                    self.result = Some(r.map_err(|()| RecvError::Closed));
                    return Reg::Fired;
                }
                if ext.is_some() {
                    // The sender that looked ready was a select giving up.
                    return Reg::Retry;
                }
            } else if ext.is_some_and(|t| !t.is_waiting()) {
                return Reg::Claimed;
            }
            // A ring's receivers are only ever told (a send fills a slot
            // first); on capacity 0 every receiver accepts.
            let role = Role::Recv { accept: chan.cap == 0 || (accept && !chan.has_ring()) };
            // SAFETY: we hold the channel lock; the node slot is ours.
            let node = unsafe { ready_node(chan, &mut self.st.node, ext, owner, arm, role) };
            // SAFETY: the node is ours and unlinked; we hold the lock.
            unsafe {
                g.link_recv(node, front);
                if g.recv_missed() {
                    // A value (or the close) came between our look and our
                    // announce: nobody will wake us for it. Look again.
                    g.unlink(node);
                    continue;
                }
            }
            if chan.cap == 0 {
                // A parked async sender can hand over now, in its own poll.
                g.notify_async_sender(me, &mut wakes);
            }
            drop(g);
            wakes.wake();
            self.st.registered = true;
            return Reg::Linked;
        }
    }

    /// Takes in a published outcome; true if the receive completed.
    fn collect_outcome(&mut self, o: Outcome) -> bool {
        self.st.registered = false;
        match o {
            Outcome::Done(_) => {
                let node = self.st.node.expect("a completed receive has a node");
                // SAFETY: `Done` was published to us: the slot is ours.
                let v = unsafe { node.as_ref().slot(|s| s.take()) };
                self.result = Some(Ok(v.expect("a completed receive holds its value")));
                true
            }
            Outcome::Notified(_) => {
                self.st.notified = true;
                false
            }
        }
    }

    /// Unlinks the node (if a peer has not) and gives it back.
    fn unregister(&mut self) {
        self.st.registered = false;
        if let (Some(chan), Some(node)) = (self.chan, self.st.node.take()) {
            // SAFETY: the node is this channel's; afterwards no peer can
            // reach it, and its slot is empty (a completed value was
            // collected first).
            unsafe {
                chan.lock().unlink(node);
                chan.pool.give(node);
            }
        }
    }

    /// Gives back a node that no list holds (after an outcome or a fire).
    fn release(&mut self) {
        if let (Some(chan), Some(node)) = (self.chan, self.st.node.take()) {
            // SAFETY: unlinked, no peer holds it, its slot is empty.
            unsafe { chan.pool.give(node) };
        }
    }

    /// A peer completed or notified this receive, but its future is being
    /// dropped: a value goes back into the channel, a notification on.
    pub(crate) fn abandon(&mut self) {
        let Some(chan) = self.chan else { return };
        if let Some(Ok(v)) = self.result.take() {
            chan.redeliver(v);
        } else if std::mem::take(&mut self.st.notified) {
            chan.with_lock(|s, w| s.forward_recv(w));
        }
    }

    /// Polls a single async receive.
    pub(crate) fn poll_recv(&mut self, cx: &mut TaskCx<'_>) -> Poll<Result<T, RecvError>> {
        if self.st.registered {
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
        let front = std::mem::take(&mut self.st.notified);
        match self.start(None, 0, Owner::Task(cx.waker()), false, true, front) {
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

    /// A single blocking receive, after the caller's lock-free attempt
    /// found nothing (`Receiver::recv_until`); `None` if `deadline` passed
    /// first.
    pub(crate) fn recv_blocking(&mut self, deadline: Option<Instant>) -> Option<Result<T, RecvError>> {
        let chan = self.chan.expect("a receive has a channel");
        // Spin on the hint; whatever it says, `start` tries once more (under
        // the lock, or lock-free first on a buffered channel) before linking.
        spin_on(|| chan.recv_maybe_ready());
        let _note = crate::leak::note_at(self.blocked());
        let mut front = false;
        loop {
            if let Reg::Fired = self.start(None, 0, Owner::Thread, true, true, front) {
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
            self.st.notified = false;
            front = true;
        }
    }

    /// Cancels a single receive whose future is dropped.
    pub(crate) fn cancel(&mut self) {
        if self.st.registered {
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

impl<T> Drop for RecvArm<'_, T> {
    fn drop(&mut self) {
        // Owners cancel or unregister before an arm goes; a node is still
        // here only if a select future was leaked mid-wait.
        if let Some(node) = self.st.node.take() {
            defuse(self.chan, node, self.st.registered);
        }
    }
}

impl<T> Arm for RecvArm<'_, T> {
    fn enabled(&self) -> bool {
        self.chan.is_some()
    }

    fn try_fire(&mut self, waits: bool) -> bool {
        self.st.notified = false;
        let Some(chan) = self.chan else { return false };
        self.result = match chan.try_recv_fair(waits) {
            Ok(v) => Some(Ok(v)),
            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => return false,
        };
        true
    }

    fn maybe_ready(&self) -> bool {
        self.chan.is_some_and(|c| c.recv_maybe_ready())
    }

    #[inline]
    fn candidate(&self) -> bool {
        self.maybe_ready()
    }

    fn register(&mut self, r: &Registrar<'_>) -> Reg {
        self.start(Some(r.token), r.arm, Owner::Thread, r.offer, r.waits, false)
    }

    fn unregister(&mut self) {
        RecvArm::unregister(self);
    }

    fn collect(&mut self, c: Completion) -> bool {
        self.collect_outcome(c.0)
    }

    fn abandon(&mut self) {
        RecvArm::abandon(self);
    }
}
