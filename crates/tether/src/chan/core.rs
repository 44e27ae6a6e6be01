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

use std::cell::Cell;
use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use super::blocks::Blocks;
use super::buffer::Buffer;
use super::error::{TryRecvError, TrySendError};
use super::guard::REFILL;
pub(crate) use super::guard::Wakes;
use super::guard::facts;
use super::ring::{Drained, HeadSeen, Refused, Ring};
use super::waiter::{Pool, Waiter};
use crate::spin::{CachePadded, SpinGuard, SpinLock};
use crate::sync_impl::{AtomicBool, AtomicUsize};
use crate::waiter::{List, Outcome};

/// `cap` of an unbounded channel.
pub(crate) const UNBOUNDED: usize = usize::MAX;

/// The shared state of one channel.
pub(crate) struct Chan<T> {
    pub(super) shared: CachePadded<Shared<T>>,
    /// The lock-free buffer (none for a rendezvous channel).
    pub(super) ring: Option<Buffer<T>>,
    /// Buffer size: 0 = rendezvous, [`UNBOUNDED`] = unbounded.
    pub(crate) cap: usize,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    pub(crate) pool: Pool<T>,
}

/// The lock and the lock-free mirrors of what it guards (refreshed at the
/// end of every critical section; read as hints by spinning waiters, by
/// `select`'s first pass, and by `len()`/`is_closed()`).
///
/// The lock has a cache line of its own, apart from the mirrors, and a
/// mirror is written only when its value changes. Lock-free receives read
/// `send_queued` and lock-free sends read `recv_waiting` on every message;
/// while a sender takes the lock on every send (another sender has been
/// granted room it has not filled yet), those reads would otherwise miss
/// the cache once per message on the line the lock holder keeps taking.
pub(super) struct Shared<T> {
    lock: CachePadded<SpinLock<State<T>>>,
    len: AtomicUsize,
    recv_ready: AtomicBool,
    send_ready: AtomicBool,
    closed: AtomicBool,
    /// Ring flavour: receivers linked. A send that filled a slot looks
    /// here (after its SeqCst claim) to know whether to wake one.
    pub(super) recv_waiting: AtomicUsize,
    /// Ring flavour: senders linked plus room granted and not yet filled.
    /// A receive that freed a slot looks here to know whether to refill;
    /// a new send that sees it non-zero queues behind them (no barging).
    pub(super) send_queued: AtomicUsize,
}

pub(crate) struct State<T> {
    /// The locked flavours' buffer. For a ring: values that were granted
    /// room a racing send took after all (a rare race; they are received
    /// right after the ring's current contents, before anything sent
    /// later, and no granted send ever fails or waits again).
    pub(super) buf: VecDeque<T>,
    /// Buffer room reserved for async senders that were granted it and
    /// have not filled it yet.
    pub(super) reserved: usize,
    pub(super) closed: bool,
    pub(super) recvq: List<Waiter<T>>,
    pub(super) sendq: List<Waiter<T>>,
    /// Waiters for the close alone.
    pub(super) closeq: List<Waiter<T>>,
    /// Linked senders that offer their value (blocking senders).
    pub(super) offering: usize,
    /// Linked receivers that accept a hand-off.
    pub(super) accepting: usize,
    /// Ring flavour: the consumers' position when a lock holder last read
    /// it (see [`Guard::has_room`]).
    pub(super) head_seen: Cell<HeadSeen>,
}

/// The channel lock; refreshes the mirrors when released.
pub(crate) struct Guard<'a, T> {
    pub(super) state: SpinGuard<'a, State<T>>,
    pub(super) chan: &'a Chan<T>,
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
            refresh(&h.recv_waiting, self.state.recvq.len());
            refresh(&h.send_queued, self.queued());
            refresh(&h.len, self.state.buf.len());
            return;
        }
        let ready_to_send = self.closed || self.has_room() || (self.buf.is_empty() && self.accepting > 0);
        let s = &*self.state;
        refresh(&h.len, s.buf.len());
        refresh_flag(&h.recv_ready, !s.buf.is_empty() || s.offering > 0 || s.closed);
        refresh_flag(&h.send_ready, ready_to_send);
    }
}

/// Stores `v` in a mirror unless it already holds it, so that readers on
/// other cores keep their copy of the line. Only lock holders write the
/// mirrors, so the load sees the latest value and skipping an equal store
/// changes nothing a reader can observe.
#[inline]
fn refresh(mirror: &AtomicUsize, v: usize) {
    if mirror.load(Relaxed) != v {
        mirror.store(v, Relaxed);
    }
}

/// [`refresh`] for a flag.
#[inline]
fn refresh_flag(mirror: &AtomicBool, v: bool) {
    if mirror.load(Relaxed) != v {
        mirror.store(v, Relaxed);
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
                lock: CachePadded(SpinLock::new(State {
                    buf,
                    reserved: 0,
                    closed: false,
                    recvq: List::new(),
                    sendq: List::new(),
                    closeq: List::new(),
                    offering: 0,
                    accepting: 0,
                    head_seen: Cell::new(HeadSeen::default()),
                })),
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
        crate::sync_impl::handshake_fence();
        if self.shared.recv_waiting.load(SeqCst) != 0 {
            self.with_lock(|g, w| g.notify_receiver(w));
        }
    }

    /// Ring flavour: a value was popped without the lock; refill from a
    /// waiting sender if one is queued (pairs with `send_missed`).
    #[inline]
    fn popped(&self) {
        crate::sync_impl::handshake_fence();
        if self.shared.send_queued.load(SeqCst) >= REFILL {
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
            Err(Drained::Closed) if self.shared.send_queued.load(SeqCst) < REFILL => Some(Err(())),
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
                None if self.shared.send_queued.load(Relaxed) < REFILL && !r.maybe_poppable() => {
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
