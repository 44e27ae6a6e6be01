//! A channel's waiter node, and the pool that recycles nodes.
//!
//! A parked send or receive is a [`Waiter`] linked into its channel's send
//! or receive list (`crate::waiter::List`). It points at the claim token
//! that completes it: its own for a single operation, or the one token of a
//! `select`. Its slot carries the value across a hand-off: a sender writes
//! into a parked receiver's slot, or a receiver takes the value a parked
//! blocking sender offers.
//!
//! Why a pool instead of a node inside each future: the contract's futures
//! are `Unpin` (callers may move them between polls), so a linked node
//! cannot live inside them. Nodes come instead from a per-channel pool:
//! taken under the channel lock the operation holds anyway, given back with
//! one CAS. A pool only ever holds as many nodes as operations were parked
//! at once (and at most [`MAX_FREE`] idle ones), so after warm-up waiting
//! allocates nothing.
//!
//! A single blocking operation (`recv_blocking`, `send_blocking` and their
//! timeouts) parks with a node on its own thread's stack instead
//! ([`Waiter::on_stack`]): the thread cannot move it while parked, and the
//! pool's atomic updates (two to take a node, two to give it back) and
//! their shared cache line stay out of every rendezvous.

use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use crate::sync_impl::{AtomicPtr, AtomicUsize, UnsafeCell};
use crate::waiter::{Linked, Links, Token};

/// What a parked operation lets peers do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A receiver. `accept`: a sender may hand it a value directly (a
    /// blocking receiver, or any receiver of a rendezvous channel);
    /// otherwise it is only told that a value is buffered, and takes it in
    /// its own poll (an async receiver of a buffered channel, so that a
    /// dropped future never holds a value).
    Recv { accept: bool },
    /// A sender. `offer`: its value sits in the slot and a receiver may
    /// take it (a blocking sender); otherwise the value stays in the
    /// owner's future and the sender commits only in its own poll (async).
    Send { offer: bool },
    /// Waits only for the channel to close ([`Sender::closed`](super::Sender::closed)).
    Close,
}

/// Fields the owner sets while the node is unlinked, and peers read under
/// the channel lock once it is linked.
pub(crate) struct Meta {
    /// The claim token: the node's own, or its select's.
    pub(crate) token: *const Token,
    /// Which arm of the token's select this is.
    pub(crate) arm: usize,
    pub(crate) role: Role,
    /// Set by a receiver (under the lock) when it reserved buffer room for
    /// this async sender along with its `Notified` outcome.
    pub(crate) granted: bool,
}

/// One parked operation on one channel (see the module docs).
pub(crate) struct Waiter<T> {
    links: Links<Waiter<T>>,
    meta: UnsafeCell<Meta>,
    /// The value in transit. Owned by the owner, except from a peer's
    /// successful claim until its `finish` (then the peer has it).
    slot: UnsafeCell<Option<T>>,
    /// The token of a single (non-select) operation.
    own: Token,
    /// The pool's free list; [`ON_STACK`](Waiter::ON_STACK) for a node a
    /// blocking call lent from its stack (never the pool's), so that no
    /// flag makes every node larger.
    next_free: AtomicPtr<Waiter<T>>,
}

// SAFETY: `links` always returns the same field.
unsafe impl<T> Linked for Waiter<T> {
    fn links(&self) -> &Links<Self> {
        &self.links
    }
}

impl<T> Waiter<T> {
    /// A node for one blocking call to lend its operation (see the module
    /// docs); it must outlive the operation and stay where it is.
    pub(crate) fn on_stack() -> Waiter<T> {
        Waiter { next_free: AtomicPtr::new(Self::ON_STACK), ..Waiter::new() }
    }

    /// Points a node lent from a stack at its own token, in `role`, and
    /// returns it: from here on it reads like any unlinked node, so an
    /// operation dropped before it ever waited can unlink it as usual.
    ///
    /// # Safety
    ///
    /// The node came from [`on_stack`](Waiter::on_stack), is unlinked, and
    /// stays where it is while the returned pointer is used.
    pub(crate) unsafe fn lend(&self, role: Role) -> NonNull<Self> {
        debug_assert!(self.is_on_stack(), "only a stack node is lent");
        let own: *const Token = &self.own;
        // SAFETY: unlinked and not yet shared: ours alone.
        unsafe {
            self.meta_mut(|m| {
                m.token = own;
                m.role = role;
            });
        }
        NonNull::from(self)
    }

    /// `next_free` of a node lent from a stack: an address no node has.
    const ON_STACK: *mut Waiter<T> = NonNull::dangling().as_ptr();

    fn is_on_stack(&self) -> bool {
        self.next_free.load(Relaxed) == Self::ON_STACK
    }

    fn new() -> Waiter<T> {
        Waiter {
            links: Links::new(),
            meta: UnsafeCell::new(Meta {
                token: ptr::null(),
                arm: 0,
                role: Role::Recv { accept: false },
                granted: false,
            }),
            slot: UnsafeCell::new(None),
            own: Token::new(),
            next_free: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The node's own token.
    pub(crate) fn own_token(&self) -> &Token {
        &self.own
    }

    /// Reads the node's metadata.
    ///
    /// # Safety
    ///
    /// The caller holds the channel lock, or owns the unlinked node, or the
    /// node's token has published an outcome to this (owner) thread.
    #[inline]
    pub(crate) unsafe fn meta<R>(&self, f: impl FnOnce(&Meta) -> R) -> R {
        // SAFETY: per the caller's contract no one writes concurrently.
        self.meta.with(|m| f(unsafe { &*m }))
    }

    /// Writes the node's metadata.
    ///
    /// # Safety
    ///
    /// The caller holds the channel lock, or owns the unlinked node.
    #[inline]
    pub(crate) unsafe fn meta_mut<R>(&self, f: impl FnOnce(&mut Meta) -> R) -> R {
        // SAFETY: per the caller's contract access is exclusive.
        self.meta.with_mut(|m| f(unsafe { &mut *m }))
    }

    /// The token this node belongs to.
    ///
    /// # Safety
    ///
    /// As for [`meta`](Waiter::meta); the token outlives every linked node
    /// that points at it (owners unlink all their nodes before the token
    /// goes).
    #[inline]
    pub(crate) unsafe fn token(&self) -> &Token {
        // SAFETY: caller's contract.
        unsafe { &*self.meta(|m| m.token) }
    }

    /// Puts a value into the slot, or takes it out.
    ///
    /// # Safety
    ///
    /// The caller owns the slot: it is the owner (no peer holds a claim),
    /// or the peer that claimed the token and has not finished it.
    #[inline]
    pub(crate) unsafe fn slot<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> R {
        // SAFETY: caller's contract.
        self.slot.with_mut(|s| f(unsafe { &mut *s }))
    }
}

/// Idle nodes a pool keeps; more are freed, so a burst of parked waiters
/// (a million receivers woken by one close) leaves no lasting memory.
pub(crate) const MAX_FREE: usize = 64;

/// Recycles a channel's nodes: popped under the channel lock (one popper
/// at a time, so the stack cannot suffer ABA), pushed from anywhere with
/// one CAS.
pub(crate) struct Pool<T> {
    head: AtomicPtr<Waiter<T>>,
    idle: AtomicUsize,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool { head: AtomicPtr::new(ptr::null_mut()), idle: AtomicUsize::new(0) }
    }
}

impl<T> Pool<T> {
    /// A node for a new wait: recycled, or freshly allocated.
    ///
    /// # Safety
    ///
    /// The caller holds the channel lock (pops are serialised by it).
    pub(crate) unsafe fn take(&self) -> NonNull<Waiter<T>> {
        let mut head = self.head.load(Acquire);
        while let Some(node) = NonNull::new(head) {
            // SAFETY: nodes on the free list stay allocated until the pool
            // drops; only we pop, so `node` cannot be taken from under us.
            let next = unsafe { node.as_ref().next_free.load(Relaxed) };
            match self.head.compare_exchange_weak(head, next, Acquire, Acquire) {
                Ok(_) => {
                    self.idle.fetch_sub(1, Relaxed);
                    return node;
                }
                Err(now) => head = now,
            }
        }
        NonNull::from(Box::leak(Box::new(Waiter::new())))
    }

    /// Gives a node back.
    ///
    /// # Safety
    ///
    /// `node` came from this pool's [`take`](Pool::take), is unlinked, and
    /// no peer can reach it any more; its slot is empty.
    pub(crate) unsafe fn give(&self, node: NonNull<Waiter<T>>) {
        // SAFETY: caller's contract: we own the node now.
        let n = unsafe { node.as_ref() };
        debug_assert!(unsafe { n.slot(|s| s.is_none()) }, "a waiter went back to the pool holding a value");
        if n.is_on_stack() {
            return; // its call drops it
        }
        // A wait that gave up still holds its task's waker (or thread):
        // let go of it now, not when the node is next used.
        n.own.disarm();
        if self.idle.load(Relaxed) >= MAX_FREE {
            // SAFETY: allocated by `take` with `Box`, owned by us.
            drop(unsafe { Box::from_raw(node.as_ptr()) });
            return;
        }
        self.idle.fetch_add(1, Relaxed);
        let mut head = self.head.load(Relaxed);
        loop {
            n.next_free.store(head, Relaxed);
            match self.head.compare_exchange_weak(head, node.as_ptr(), AcqRel, Relaxed) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        let mut head = self.head.load(Acquire);
        while let Some(node) = NonNull::new(head) {
            // SAFETY: we own every node on the free list; none is linked.
            unsafe {
                head = node.as_ref().next_free.load(Relaxed);
                drop(Box::from_raw(node.as_ptr()));
            }
        }
    }
}
