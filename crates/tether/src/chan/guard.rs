//! The moves that change a channel's state, made under its lock by a
//! [`Guard`]: linking and unlinking waiters, and the hand-offs, refills,
//! grants and notifications of the table in `core.rs`. Who gets woken is
//! collected in [`Wakes`] and woken after the lock is released.

use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::SeqCst;

use super::buffer::Buffer;
use super::core::{Guard, UNBOUNDED};
use super::waiter::{Role, Waiter};
use crate::waiter::{Outcome, Token, Wake};

/// The part of [`Guard::queued`] that asks a receive to refill.
pub(crate) const REFILL_SHIFT: u32 = usize::BITS / 2;
pub(crate) const REFILL: usize = 1 << REFILL_SHIFT;

/// How many owners one move wakes without allocating: a receive may wake
/// the sender whose value it moved into the buffer and a receiver told of
/// it, and a batch receive several senders; only a close wakes more.
const INLINE_WAKES: usize = 4;

/// Owners to wake once the lock is released.
#[must_use = "wake the owners once the lock is released"]
#[derive(Default)]
pub(crate) struct Wakes {
    inline: [Option<Wake>; INLINE_WAKES],
    rest: Vec<Wake>,
}

impl Wakes {
    #[inline]
    pub(crate) fn push(&mut self, w: Option<Wake>) {
        if let Some(w) = w {
            match self.inline.iter_mut().find(|s| s.is_none()) {
                Some(slot) => *slot = Some(w),
                None => self.rest.push(w),
            }
        }
    }

    #[inline]
    pub(crate) fn wake(self) {
        for w in self.inline.into_iter().flatten() {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

/// A value on its way into a claimed receiver's slot: moved, published and
/// woken after the channel lock is released.
#[must_use = "complete the hand-off once the lock is released"]
pub(crate) struct Handoff<T> {
    node: NonNull<Waiter<T>>,
    arm: usize,
    value: T,
}

impl<T> Handoff<T> {
    /// Moves the value into the receiver and publishes `Done`.
    pub(crate) fn complete(self) -> Option<Wake> {
        // SAFETY: we claimed the node's token, so until `finish` the slot
        // is ours and the owner keeps the node (and its token) alive.
        unsafe {
            let n = self.node.as_ref();
            n.slot(|s| *s = Some(self.value));
            n.token().finish(Outcome::Done(self.arm))
        }
    }
}

/// The facts about a node that its peers act on.
pub(super) struct Facts<'a> {
    pub(super) token: &'a Token,
    pub(super) arm: usize,
    pub(super) role: Role,
}

/// # Safety
///
/// The caller holds the lock of the channel `node` is linked into (or was
/// just popped from); its token outlives the node's linking.
#[inline]
pub(super) unsafe fn facts<'a, T>(node: NonNull<Waiter<T>>) -> Facts<'a> {
    // SAFETY: caller's contract.
    unsafe {
        let n = &*node.as_ptr();
        n.meta(|m| Facts { token: &*m.token, arm: m.arm, role: m.role })
    }
}

impl<T> Guard<'_, T> {
    #[inline]
    fn ring(&self) -> Option<&Buffer<T>> {
        self.chan.ring.as_ref()
    }

    /// Room for one more value that nobody has been promised.
    ///
    /// On a ring, a producer asks this on every send that takes the lock
    /// (all of them while a granted sender has not filled its room yet),
    /// so it first counts from the consumers' position it saw last: that
    /// bound is never below the truth, so "room" from it is certain, and
    /// it costs no read of the line the consumers write on every value.
    /// Only when the bound says "full" does it read their position again,
    /// after which the answer is as exact as a fresh count.
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        match self.ring() {
            Some(Buffer::Ring(r)) => {
                let Some(free) = self.chan.cap.checked_sub(self.buf.len() + self.reserved) else {
                    return false;
                };
                if r.len_since(self.state.head_seen.get()) < free {
                    return true;
                }
                // Read the consumers' position before the producers'
                // (in `len_since`), so the count is never negative.
                let now = r.head_now();
                self.state.head_seen.set(now);
                r.len_since(now) < free
            }
            // Nothing promised can fill an unbounded buffer.
            Some(Buffer::Blocks(_)) => true,
            None => self.buf.len() + self.reserved < self.chan.cap,
        }
    }

    #[inline]
    fn nothing_buffered(&self) -> bool {
        self.buf.is_empty() && self.ring().is_none_or(|r| r.len() == 0)
    }

    /// Lock-free flavours: what a new send must queue behind, packed in
    /// one word: the high half counts linked senders and overflow values
    /// (a receive that frees room must refill from them), the low half the
    /// room granted but not filled yet (nothing for a receive to do: the
    /// grantee fills it in its own poll). See [`REFILL`].
    pub(super) fn queued(&self) -> usize {
        // Room reserved on an unbounded channel takes nothing from anyone.
        let reserved = if self.chan.cap == UNBOUNDED { 0 } else { self.reserved };
        ((self.sendq.len() + self.buf.len()) << REFILL_SHIFT) | reserved.min(REFILL - 1)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Links a receiver (`front`: it keeps its place after losing a race).
    ///
    /// # Safety
    ///
    /// `node` is this channel's, unlinked, with its metadata set.
    pub(crate) unsafe fn link_recv(&mut self, node: NonNull<Waiter<T>>, front: bool) {
        // SAFETY: caller's contract.
        unsafe {
            if matches!(facts(node).role, Role::Recv { accept: true }) {
                self.accepting += 1;
            }
            if front { self.recvq.push_front(node) } else { self.recvq.push_back(node) }
        }
    }

    /// Links a sender.
    ///
    /// # Safety
    ///
    /// As for [`link_recv`](Guard::link_recv).
    pub(crate) unsafe fn link_send(&mut self, node: NonNull<Waiter<T>>, front: bool) {
        // SAFETY: caller's contract.
        unsafe {
            if matches!(facts(node).role, Role::Send { offer: true }) {
                self.offering += 1;
            }
            if front { self.sendq.push_front(node) } else { self.sendq.push_back(node) }
        }
    }

    /// Ring flavour, right after linking a receiver: announces it (so that
    /// a send that fills a slot from now on wakes it), then looks once more.
    /// True if a value arrived meanwhile: unlink and retry instead of
    /// waiting.
    pub(crate) fn recv_missed(&self) -> bool {
        let Some(ring) = self.ring() else { return false };
        self.chan.shared.recv_waiting.store(self.recvq.len(), SeqCst);
        crate::sync_impl::handshake_fence();
        ring.len() > 0 || !self.buf.is_empty() || self.closed
    }

    /// Ring flavour, right after linking a sender: as
    /// [`recv_missed`](Guard::recv_missed), for room.
    pub(crate) fn send_missed(&self) -> bool {
        if self.ring().is_none() {
            return false;
        }
        self.chan.shared.send_queued.store(self.queued(), SeqCst);
        crate::sync_impl::handshake_fence();
        self.has_room() || self.closed
    }

    /// Unlinks a node of this channel if it is still linked.
    ///
    /// # Safety
    ///
    /// `node` belongs to this channel.
    pub(crate) unsafe fn unlink(&mut self, node: NonNull<Waiter<T>>) {
        // SAFETY: caller's contract; we hold the lock.
        unsafe {
            match facts(node).role {
                Role::Recv { accept } => {
                    if self.recvq.remove(node) && accept {
                        self.accepting -= 1;
                    }
                }
                Role::Send { offer } => {
                    if self.sendq.remove(node) && offer {
                        self.offering -= 1;
                    }
                }
                Role::Close => {
                    self.closeq.remove(node);
                }
            }
        }
    }

    /// Links a waiter for the close alone.
    ///
    /// # Safety
    ///
    /// As for [`link_recv`](Guard::link_recv).
    pub(crate) unsafe fn link_close(&mut self, node: NonNull<Waiter<T>>) {
        // SAFETY: caller's contract.
        unsafe { self.closeq.push_back(node) }
    }

    /// Pops the oldest receiver.
    fn pop_recv(&mut self) -> Option<NonNull<Waiter<T>>> {
        let n = self.recvq.pop_front()?;
        // SAFETY: `n` was linked here; we hold the lock.
        if matches!(unsafe { facts(n) }.role, Role::Recv { accept: true }) {
            self.accepting -= 1;
        }
        Some(n)
    }

    /// Pops the oldest sender.
    fn pop_send(&mut self) -> Option<NonNull<Waiter<T>>> {
        let n = self.sendq.pop_front()?;
        // SAFETY: `n` was linked here; we hold the lock.
        if matches!(unsafe { facts(n) }.role, Role::Send { offer: true }) {
            self.offering -= 1;
        }
        Some(n)
    }

    /// The first live waiter from `cur` on, in the send list (`senders`)
    /// or the receive list, that is not `me`'s (the caller's own select);
    /// stale waiters met on the way (their select completed elsewhere, or
    /// they gave up) are unlinked. Walk on from `next(node)`.
    fn next_live<'f>(
        &mut self,
        senders: bool,
        mut cur: Option<NonNull<Waiter<T>>>,
        me: *const Token,
    ) -> Option<(NonNull<Waiter<T>>, Facts<'f>)> {
        while let Some(n) = cur {
            let list = if senders { &self.sendq } else { &self.recvq };
            // SAFETY: `n` is linked in `list`; we hold the lock.
            let (f, next) = unsafe { (facts(n), list.next(n)) };
            cur = next;
            if ptr::eq(f.token, me) {
                continue;
            }
            if !f.token.is_waiting() {
                // SAFETY: linked here.
                unsafe { self.unlink(n) };
                continue;
            }
            return Some((n, f));
        }
        None
    }

    /// The node after `n` in its list.
    ///
    /// # Safety
    ///
    /// `n` is linked in the send list (`senders`) or the receive list.
    unsafe fn after(&self, senders: bool, n: NonNull<Waiter<T>>) -> Option<NonNull<Waiter<T>>> {
        // SAFETY: caller's contract; we hold the lock.
        unsafe { if senders { self.sendq.next(n) } else { self.recvq.next(n) } }
    }

    /// Whether the first receiver a send would serve accepts a hand-off
    /// (`Some(false)`: it only takes notifications).
    fn first_receiver(&mut self, me: *const Token) -> Option<bool> {
        let front = self.recvq.front();
        self.next_live(false, front, me).map(|(_, f)| matches!(f.role, Role::Recv { accept: true }))
    }

    /// True if a send by the owner of `me` would complete now.
    pub(crate) fn send_ready(&mut self, me: *const Token) -> bool {
        self.closed || self.has_room() || (self.nothing_buffered() && self.first_receiver(me) == Some(true))
    }

    /// True if a receive by the owner of `me` would complete now (see
    /// [`recv_now`](Guard::recv_now) for `waits`).
    pub(crate) fn recv_ready(&mut self, me: *const Token, waits: bool) -> bool {
        if self.closed || !self.nothing_buffered() {
            return true;
        }
        self.offering > 0 && self.offered_sender(me, waits).is_some()
    }

    /// The parked blocking sender a receive may take from: the oldest live
    /// one (not `me`'s). A receive that `waits` respects first come, first
    /// served across both worlds: if the oldest live sender is async, it is
    /// that sender's turn (the receive links and tells it), not a younger
    /// blocking one's. Stale nodes met on the way are dropped.
    fn offered_sender(&mut self, me: *const Token, waits: bool) -> Option<NonNull<Waiter<T>>> {
        let mut cur = self.sendq.front();
        while let Some((n, f)) = self.next_live(true, cur, me) {
            if matches!(f.role, Role::Send { offer: true }) {
                return Some(n);
            }
            if waits {
                return None;
            }
            // SAFETY: `next_live` returned a linked node.
            cur = unsafe { self.after(true, n) };
        }
        None
    }

    /// Buffers `v` (room was checked), telling one waiting receiver.
    fn buffer(&mut self, v: T, wakes: &mut Wakes) -> Result<(), T> {
        match self.chan.ring.as_ref() {
            Some(r) => r.push(v).map_err(|(v, _)| v)?,
            None => self.buf.push_back(v),
        }
        if !self.recvq.is_empty() {
            self.notify_receiver(wakes);
        }
        Ok(())
    }

    /// Takes the oldest buffered value.
    fn unbuffer(&mut self) -> Option<T> {
        match self.chan.ring.as_ref() {
            Some(r) => r.pop().ok().or_else(|| self.buf.pop_front()),
            None => self.buf.pop_front(),
        }
    }

    /// Sends `v` now if that is possible: straight into the first waiting
    /// receiver that accepts a hand-off when nothing is buffered, else into
    /// the buffer (telling one waiting receiver). The caller checked
    /// `closed`. `me`: the caller's select, whose own receive arms it must
    /// not serve.
    pub(crate) fn send_now(&mut self, v: T, me: *const Token, wakes: &mut Wakes) -> Result<Option<Handoff<T>>, T> {
        if self.accepting > 0 && self.nothing_buffered() {
            let mut cur = self.recvq.front();
            while let Some((n, f)) = self.next_live(false, cur, me) {
                if !matches!(f.role, Role::Recv { accept: true }) {
                    break; // it takes values from the buffer: needs room
                }
                // SAFETY: `next_live` returned a linked node.
                unsafe {
                    cur = self.after(false, n);
                    self.unlink(n);
                }
                if f.token.try_claim() {
                    return Ok(Some(Handoff { node: n, arm: f.arm, value: v }));
                }
                // It gave up just now.
            }
        }
        if self.has_room() {
            return self.buffer(v, wakes).map(|()| None);
        }
        Err(v)
    }

    /// Receives now if possible: from the buffer (then refills it from a
    /// waiting sender), or from a parked blocking sender's offer (which a
    /// receive that `waits` leaves to an older async sender). `None`: it
    /// would block. `Some(Err(()))`: closed and drained.
    pub(crate) fn recv_now(&mut self, me: *const Token, waits: bool, wakes: &mut Wakes) -> Option<Result<T, ()>> {
        if let Some(v) = self.unbuffer() {
            if !self.sendq.is_empty() {
                self.refill(wakes);
            }
            return Some(Ok(v));
        }
        while self.offering > 0 {
            let Some(n) = self.offered_sender(me, waits) else { break };
            // SAFETY: linked here; we hold the lock.
            let f = unsafe { facts(n) };
            // SAFETY: linked here.
            unsafe { self.unlink(n) };
            if f.token.try_claim() {
                // SAFETY: claimed: the slot is ours until `finish`.
                let v = unsafe { n.as_ref().slot(|s| s.take()) }.expect("a blocking sender offers its value");
                wakes.push(f.token.finish(Outcome::Done(f.arm)));
                return Some(Ok(v));
            }
        }
        if self.closed { Some(Err(())) } else { None }
    }

    /// Room was freed: move parked blocking senders' values into the
    /// buffer, or reserve the room for parked async senders (a grant they
    /// fill in their own poll), oldest first.
    pub(crate) fn refill(&mut self, wakes: &mut Wakes) {
        if let Some(r) = self.chan.ring.as_ref() {
            // Overflow first: it was sent before anyone still waiting.
            while let Some(v) = self.state.buf.pop_front() {
                if let Err((v, _)) = r.push(v) {
                    self.state.buf.push_front(v);
                    return;
                }
            }
        }
        while self.has_room() {
            let Some(n) = self.pop_send() else { return };
            // SAFETY: just popped; we hold the lock.
            let f = unsafe { facts(n) };
            if !f.token.try_claim() {
                continue;
            }
            if matches!(f.role, Role::Send { offer: true }) {
                // SAFETY: claimed: the slot is ours until `finish`.
                let v = unsafe { n.as_ref().slot(|s| s.take()) }.expect("a blocking sender offers its value");
                match self.buffer(v, wakes) {
                    Ok(()) => wakes.push(f.token.finish(Outcome::Done(f.arm))),
                    Err(v) => {
                        // A send that had not seen this sender queued took
                        // the room: it retries, first in line.
                        // SAFETY: still claimed by us.
                        unsafe { n.as_ref().slot(|s| *s = Some(v)) };
                        wakes.push(f.token.finish(Outcome::Notified(f.arm)));
                        return;
                    }
                }
            } else {
                self.reserved += 1;
                // SAFETY: claimed, and we hold the lock.
                unsafe { n.as_ref().meta_mut(|m| m.granted = true) };
                wakes.push(f.token.finish(Outcome::Notified(f.arm)));
            }
        }
    }

    /// Tells the oldest live receiver that a value is buffered.
    pub(crate) fn notify_receiver(&mut self, wakes: &mut Wakes) {
        while let Some(n) = self.pop_recv() {
            // SAFETY: just popped; we hold the lock.
            let f = unsafe { facts(n) };
            if f.token.try_claim() {
                wakes.push(f.token.finish(Outcome::Notified(f.arm)));
                return;
            }
        }
    }

    /// Capacity 0: tells the oldest live async sender (not `me`'s) that a
    /// receiver is waiting for it.
    pub(crate) fn notify_async_sender(&mut self, me: *const Token, wakes: &mut Wakes) {
        let mut cur = self.sendq.front();
        while let Some((n, f)) = self.next_live(true, cur, me) {
            // SAFETY: `next_live` returned a linked node.
            cur = unsafe { self.after(true, n) };
            if matches!(f.role, Role::Send { offer: true }) {
                continue;
            }
            // SAFETY: linked here.
            unsafe { self.unlink(n) };
            if f.token.try_claim() {
                wakes.push(f.token.finish(Outcome::Notified(f.arm)));
                return;
            }
        }
    }

    /// Reserves room for a permit if there is some that no waiting sender
    /// is ahead for.
    pub(crate) fn try_reserve(&mut self) -> bool {
        if self.sendq.is_empty() && self.has_room() {
            self.reserved += 1;
            return true;
        }
        false
    }

    /// An async sender (or a permit) fills the room it was granted. Never
    /// fails: if a racing send took the ring's room, the value waits in the
    /// overflow, ahead of everything sent later.
    pub(crate) fn fill_grant(&mut self, v: T, wakes: &mut Wakes) {
        self.reserved -= 1;
        if let Err(v) = self.buffer(v, wakes) {
            self.buf.push_back(v);
        }
    }

    /// An async sender gives back room it was granted but did not use.
    pub(crate) fn release_grant(&mut self, wakes: &mut Wakes) {
        self.reserved -= 1;
        if !self.sendq.is_empty() {
            self.refill(wakes);
        }
    }

    /// A notified receiver gives up: pass the news on while values wait.
    pub(crate) fn forward_recv(&mut self, wakes: &mut Wakes) {
        if !self.nothing_buffered() {
            self.notify_receiver(wakes);
        }
    }

    /// A notified async sender of a rendezvous channel gives up: pass the
    /// news on while a receiver still waits.
    pub(crate) fn forward_send(&mut self, wakes: &mut Wakes) {
        if self.accepting > 0 {
            self.notify_async_sender(ptr::null(), wakes);
        }
    }
}
