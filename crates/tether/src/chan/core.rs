//! The shared state of one channel, and every move that changes it.
//!
//! Flavours, chosen at construction:
//!
//! - **bounded, capacity ≥ 1**: the buffer is a lock-free [`Ring`]. A send
//!   or receive that needs no waiting takes no lock: it claims a slot, then
//!   looks (one load) whether anyone waits on the other side. Only waiting
//!   and waking take the lock (which guards the waiter lists).
//! - **unbounded**: the buffer is a lock-free list of blocks ([`Blocks`]),
//!   used the same way.
//! - **rendezvous (capacity 0)**: one short spin lock guards everything
//!   (values move straight between peers; the `VecDeque` holds only values
//!   redelivered by dropped receives), so what is "ready" is judged
//!   against one consistent state (Go's `hchan`).
//!
//! Parked operations are [`Waiter`] nodes linked into `recvq`/`sendq`
//! under the lock; each points at a claim token ([`Token`]) that a peer
//! completes exactly once.
//!
//! What a peer does to a parked operation (the contract decides which):
//!
//! | parked | when | what the peer does |
//! |---|---|---|
//! | receiver that accepts (blocking, or any on capacity 0) | a send finds nothing buffered | writes the value into its slot: `Done` |
//! | receiver that does not accept (async, buffered) | a value is buffered | tells it: `Notified`; it takes the value in its own poll |
//! | blocking sender (offers its value) | a receive finds nothing buffered, or frees room | takes the value (into the caller, or into the buffer): `Done` |
//! | async sender (keeps its value) | a receive frees room | reserves that room for it (`granted`): `Notified`; it fills it in its own poll |
//! | async sender, capacity 0 | a receiver starts waiting | tells it: `Notified`; it hands over in its own poll |
//! | anyone | the channel closes | `Notified`: it retries, sees the buffer first, then the close |
//!
//! (With a lock-free buffer, receivers are always only told, and a
//! blocking sender's value is moved into the ring by the receive that made
//! room.)
//!
//! So an async send commits only inside its own poll (a dropped send
//! future delivered nothing), a waiter is woken only when it can proceed,
//! and a waiter that gives up passes on only what it was given (a grant, a
//! value, a notification). Peers are woken after the lock is released, and
//! a value handed over is moved after it too.

use std::collections::VecDeque;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use super::blocks::Blocks;
use super::buffer::Buffer;
use super::error::{TryRecvError, TrySendError};
use super::ring::{Drained, Refused, Ring};
use super::waiter::{Pool, Role, Waiter};
use crate::spin::{CachePadded, SpinGuard, SpinLock};
use crate::sync_impl::{AtomicBool, AtomicUsize};
use crate::waiter::{List, Outcome, Token, Wake};

/// `cap` of an unbounded channel.
pub(crate) const UNBOUNDED: usize = usize::MAX;

/// The shared state of one channel.
pub(crate) struct Chan<T> {
    shared: CachePadded<Shared<T>>,
    /// The lock-free buffer (none for a rendezvous channel).
    ring: Option<Buffer<T>>,
    /// Buffer size: 0 = rendezvous, [`UNBOUNDED`] = unbounded.
    pub(crate) cap: usize,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    pub(crate) pool: Pool<T>,
}

/// The lock and the lock-free mirrors of what it guards (written at the
/// end of every critical section; read as hints by spinning waiters, by
/// `select`'s first pass, and by `len()`/`is_closed()`).
struct Shared<T> {
    lock: SpinLock<State<T>>,
    len: AtomicUsize,
    recv_ready: AtomicBool,
    send_ready: AtomicBool,
    closed: AtomicBool,
    /// Ring flavour: receivers linked. A send that filled a slot looks
    /// here (after its SeqCst claim) to know whether to wake one.
    recv_waiting: AtomicUsize,
    /// Ring flavour: senders linked plus room granted and not yet filled.
    /// A receive that freed a slot looks here to know whether to refill;
    /// a new send that sees it non-zero queues behind them (no barging).
    send_queued: AtomicUsize,
}

pub(crate) struct State<T> {
    /// The locked flavours' buffer. For a ring: values that were granted
    /// room a racing send took after all (a rare race; they are received
    /// right after the ring's current contents, before anything sent
    /// later, and no granted send ever fails or waits again).
    buf: VecDeque<T>,
    /// Buffer room reserved for async senders that were granted it and
    /// have not filled it yet.
    reserved: usize,
    closed: bool,
    recvq: List<Waiter<T>>,
    sendq: List<Waiter<T>>,
    /// Waiters for the close alone.
    closeq: List<Waiter<T>>,
    /// Linked senders that offer their value (blocking senders).
    offering: usize,
    /// Linked receivers that accept a hand-off.
    accepting: usize,
}

/// The channel lock; refreshes the mirrors when released.
pub(crate) struct Guard<'a, T> {
    state: SpinGuard<'a, State<T>>,
    chan: &'a Chan<T>,
}

impl<T> std::ops::Deref for Guard<'_, T> {
    type Target = State<T>;
    #[inline]
    fn deref(&self) -> &State<T> {
        &self.state
    }
}

impl<T> std::ops::DerefMut for Guard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut State<T> {
        &mut self.state
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let h = &*self.chan.shared;
        if self.chan.ring.is_some() {
            h.recv_waiting.store(self.state.recvq.len(), Relaxed);
            h.send_queued.store(self.queued(), Relaxed);
            h.len.store(self.state.buf.len(), Relaxed);
            return;
        }
        let ready_to_send = self.closed || self.has_room() || (self.buf.is_empty() && self.accepting > 0);
        let s = &*self.state;
        h.len.store(s.buf.len(), Relaxed);
        h.recv_ready.store(!s.buf.is_empty() || s.offering > 0 || s.closed, Relaxed);
        h.send_ready.store(ready_to_send, Relaxed);
    }
}

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
struct Facts<'a> {
    token: &'a Token,
    arm: usize,
    role: Role,
}

/// # Safety
///
/// The caller holds the lock of the channel `node` is linked into (or was
/// just popped from); its token outlives the node's linking.
#[inline]
unsafe fn facts<'a, T>(node: NonNull<Waiter<T>>) -> Facts<'a> {
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
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        let held = self.ring().map_or(0, Buffer::len) + self.buf.len();
        held + self.reserved < self.chan.cap
    }

    #[inline]
    fn nothing_buffered(&self) -> bool {
        self.buf.is_empty() && self.ring().is_none_or(|r| r.len() == 0)
    }

    /// Ring flavour: what a new send must queue behind (linked senders,
    /// granted room, overflow), and what a receive must refill.
    #[inline]
    fn queued(&self) -> usize {
        // Room reserved on an unbounded channel takes nothing from anyone.
        let reserved = if self.chan.cap == UNBOUNDED { 0 } else { self.reserved };
        self.sendq.len() + reserved + self.buf.len()
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
        ring.len() > 0 || !self.buf.is_empty() || self.closed
    }

    /// Ring flavour, right after linking a sender: as
    /// [`recv_missed`](Guard::recv_missed), for room.
    pub(crate) fn send_missed(&self) -> bool {
        if self.ring().is_none() {
            return false;
        }
        self.chan.shared.send_queued.store(self.queued(), SeqCst);
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

    /// The first receiver a send would serve, skipping the caller's own
    /// select (`me`) and dropping stale nodes: `Some(true)` if it accepts a
    /// hand-off, `Some(false)` if it only takes notifications.
    fn first_receiver(&mut self, me: *const Token) -> Option<bool> {
        let mut cur = self.recvq.front();
        while let Some(n) = cur {
            // SAFETY: `n` is linked here; we hold the lock.
            let (f, next) = unsafe { (facts(n), self.recvq.next(n)) };
            cur = next;
            if ptr::eq(f.token, me) {
                continue;
            }
            if !f.token.is_waiting() {
                // SAFETY: linked here.
                unsafe { self.unlink(n) };
                continue;
            }
            return Some(matches!(f.role, Role::Recv { accept: true }));
        }
        None
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
        while let Some(n) = cur {
            // SAFETY: `n` is linked here; we hold the lock.
            let (f, next) = unsafe { (facts(n), self.sendq.next(n)) };
            cur = next;
            if ptr::eq(f.token, me) {
                continue;
            }
            if !f.token.is_waiting() {
                // SAFETY: linked here.
                unsafe { self.unlink(n) };
                continue;
            }
            if matches!(f.role, Role::Send { offer: true }) {
                return Some(n);
            }
            if waits {
                return None;
            }
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
            while let Some(n) = cur {
                // SAFETY: `n` is linked here; we hold the lock.
                let (f, next) = unsafe { (facts(n), self.recvq.next(n)) };
                cur = next;
                if ptr::eq(f.token, me) {
                    continue;
                }
                if !matches!(f.role, Role::Recv { accept: true }) {
                    break; // it takes values from the buffer: needs room
                }
                // SAFETY: linked here.
                unsafe { self.unlink(n) };
                if f.token.try_claim() {
                    return Ok(Some(Handoff { node: n, arm: f.arm, value: v }));
                }
                // Stale: its select completed elsewhere or gave up.
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
        while let Some(n) = cur {
            // SAFETY: `n` is linked here; we hold the lock.
            let (f, next) = unsafe { (facts(n), self.sendq.next(n)) };
            cur = next;
            if matches!(f.role, Role::Send { offer: true }) || ptr::eq(f.token, me) {
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

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Chan<T> {
        let (ring, buf) = match cap {
            0 => (None, VecDeque::new()),
            UNBOUNDED => (Some(Buffer::Blocks(Blocks::default())), VecDeque::new()),
            n => (Some(Buffer::Ring(Ring::new(n))), VecDeque::new()),
        };
        Chan {
            shared: CachePadded(Shared {
                lock: SpinLock::new(State {
                    buf,
                    reserved: 0,
                    closed: false,
                    recvq: List::new(),
                    sendq: List::new(),
                    closeq: List::new(),
                    offering: 0,
                    accepting: 0,
                }),
                len: AtomicUsize::new(0),
                recv_ready: AtomicBool::new(false),
                send_ready: AtomicBool::new(cap > 0),
                closed: AtomicBool::new(false),
                recv_waiting: AtomicUsize::new(0),
                send_queued: AtomicUsize::new(0),
            }),
            ring,
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            pool: Pool::default(),
        }
    }

    /// True for the lock-free ring flavour (bounded, capacity ≥ 1).
    #[inline]
    pub(crate) fn has_ring(&self) -> bool {
        self.ring.is_some()
    }

    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        Guard { state: self.shared.lock.lock(), chan: self }
    }

    /// A receive might complete now (a hint: never used to decide).
    #[inline]
    pub(crate) fn recv_maybe_ready(&self) -> bool {
        match &self.ring {
            Some(r) => r.maybe_poppable(),
            None => self.shared.recv_ready.load(Relaxed),
        }
    }

    /// A send might complete now (a hint: never used to decide).
    #[inline]
    pub(crate) fn send_maybe_ready(&self) -> bool {
        match &self.ring {
            Some(r) => r.maybe_pushable() && self.shared.send_queued.load(Relaxed) == 0,
            None => self.shared.send_ready.load(Relaxed),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Acquire)
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.as_ref().map_or(0, Buffer::len) + self.shared.len.load(Relaxed)
    }

    /// Memory held by the buffer, in values (for tests of shrinking).
    pub(crate) fn buffer_capacity(&self) -> usize {
        match &self.ring {
            Some(r) => r.capacity(),
            None => self.lock().buf.capacity(),
        }
    }

    /// Ring flavour: a value was pushed without the lock; wake a receiver
    /// if one waits. The push's SeqCst claim of `tail` and this SeqCst
    /// load pair with a receiver's announce-then-look (`recv_missed`).
    #[inline]
    fn pushed(&self) {
        if self.shared.recv_waiting.load(SeqCst) != 0 {
            self.with_lock(|g, w| g.notify_receiver(w));
        }
    }

    /// Ring flavour: a value was popped without the lock; refill from a
    /// waiting sender if one is queued (pairs with `send_missed`).
    #[inline]
    fn popped(&self) {
        if self.shared.send_queued.load(SeqCst) != 0 {
            self.with_lock(|g, w| g.refill(w));
        }
    }

    /// The lock-free attempt of the ring flavour: `Err(v)` if it does not
    /// apply or could not complete (then take the lock).
    #[inline]
    pub(crate) fn try_send_unlocked(&self, v: T) -> Result<Result<(), T>, T> {
        match &self.ring {
            Some(r) if self.shared.send_queued.load(Relaxed) == 0 => match r.push(v) {
                Ok(()) => {
                    self.pushed();
                    Ok(Ok(()))
                }
                Err((v, Refused::Closed)) => Ok(Err(v)),
                Err((v, Refused::Full)) => Err(v),
            },
            _ => Err(v),
        }
    }

    /// The lock-free attempt of the ring flavour: `None` if it does not
    /// apply or found nothing.
    #[inline]
    pub(crate) fn try_recv_unlocked(&self) -> Option<Result<T, ()>> {
        match self.ring.as_ref()?.pop() {
            Ok(v) => {
                self.popped();
                Some(Ok(v))
            }
            // Overflow or a parked sender may still hold values: ask the
            // lock before reporting the close.
            Err(Drained::Closed) if self.shared.send_queued.load(SeqCst) == 0 => Some(Err(())),
            Err(_) => None,
        }
    }

    pub(crate) fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let v = match &self.ring {
            // Queued senders go first: a new send may not take their room.
            Some(r) if self.shared.send_queued.load(Relaxed) == 0 => match r.push(v) {
                Ok(()) => {
                    self.pushed();
                    return Ok(());
                }
                Err((v, Refused::Closed)) => return Err(TrySendError::Closed(v)),
                Err((v, Refused::Full)) => return Err(TrySendError::Full(v)),
            },
            _ => v,
        };
        let mut wakes = Wakes::default();
        let mut g = self.lock();
        if g.closed {
            return Err(TrySendError::Closed(v));
        }
        match g.send_now(v, ptr::null(), &mut wakes) {
            Ok(handoff) => {
                drop(g);
                if let Some(h) = handoff {
                    wakes.push(h.complete());
                }
                wakes.wake();
                Ok(())
            }
            Err(v) => Err(TrySendError::Full(v)),
        }
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        self.try_recv_fair(false)
    }

    /// A non-blocking receive attempt; `waits`: the caller would wait
    /// otherwise (see [`Guard::recv_now`]).
    pub(crate) fn try_recv_fair(&self, waits: bool) -> Result<T, TryRecvError> {
        if let Some(r) = &self.ring {
            match self.try_recv_unlocked() {
                Some(Ok(v)) => return Ok(v),
                Some(Err(())) => return Err(TryRecvError::Closed),
                None if self.shared.send_queued.load(Relaxed) == 0 && !r.maybe_poppable() => {
                    return Err(TryRecvError::Empty);
                }
                None => {}
            }
        }
        let mut wakes = Wakes::default();
        let mut g = self.lock();
        let r = g.recv_now(ptr::null(), waits, &mut wakes);
        drop(g);
        wakes.wake();
        match r {
            Some(Ok(v)) => Ok(v),
            Some(Err(())) => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Moves up to `max` ready values into `out` under one lock.
    pub(crate) fn try_recv_many(&self, out: &mut Vec<T>, max: usize) -> usize {
        let mut wakes = Wakes::default();
        let mut g = self.lock();
        let mut n = 0;
        while n < max {
            match g.recv_now(ptr::null(), false, &mut wakes) {
                Some(Ok(v)) => {
                    out.push(v);
                    n += 1;
                }
                _ => break,
            }
        }
        drop(g);
        wakes.wake();
        n
    }

    /// Puts back a value that a rendezvous receive was handed but never
    /// returned (its future was dropped): into the next waiting receiver,
    /// or the head of the channel (it is older than anything there).
    pub(crate) fn redeliver(&self, v: T) {
        if self.receivers.load(Acquire) == 0 {
            drop(v); // nobody can ever receive it
            return;
        }
        debug_assert!(self.ring.is_none(), "buffered channels never hand values to a receive that can be dropped");
        let mut wakes = Wakes::default();
        let mut g = self.lock();
        let handoff = match g.send_now(v, ptr::null(), &mut wakes) {
            Ok(h) => h,
            Err(v) => {
                g.buf.push_front(v);
                g.notify_receiver(&mut wakes);
                None
            }
        };
        drop(g);
        if let Some(h) = handoff {
            wakes.push(h.complete());
        }
        wakes.wake();
    }

    /// Runs `f` under the lock, then wakes whom it chose.
    pub(crate) fn with_lock<R>(&self, f: impl FnOnce(&mut Guard<'_, T>, &mut Wakes) -> R) -> R {
        let mut wakes = Wakes::default();
        let mut g = self.lock();
        let r = f(&mut g, &mut wakes);
        drop(g);
        wakes.wake();
        r
    }

    /// Closes the channel; true iff this call closed it. Every parked
    /// operation is told (`Notified`) and retries: receivers drain what is
    /// buffered first, then see the close; senders get their values back.
    pub(crate) fn close(&self) -> bool {
        let mut wakes = Wakes::default();
        let mut g = self.lock();
        if g.closed {
            return false;
        }
        g.closed = true;
        if let Some(r) = &self.ring {
            r.close();
        }
        self.shared.closed.store(true, Release);
        let s = &mut *g;
        let mut all = s.recvq.take_all();
        let mut senders = s.sendq.take_all();
        let mut closers = s.closeq.take_all();
        s.accepting = 0;
        s.offering = 0;
        while let Some(n) = all.pop_front().or_else(|| senders.pop_front()).or_else(|| closers.pop_front()) {
            // SAFETY: just popped; we hold the lock.
            let f = unsafe { facts(n) };
            if f.token.try_claim() {
                wakes.push(f.token.finish(Outcome::Notified(f.arm)));
            }
        }
        drop(g);
        wakes.wake();
        true
    }

    /// The last receiver is gone: close, and drop what nobody can receive.
    pub(crate) fn close_and_drain(&self) {
        self.close();
        if let Some(r) = &self.ring {
            while r.pop().is_ok() {}
        }
        let buf = std::mem::take(&mut self.lock().buf);
        drop(buf);
    }
}
