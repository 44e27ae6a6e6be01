//! The shared state of one channel, and the claim token that lets a peer
//! complete a parked operation (or one arm of a parked select) exactly once.
//!
//! Design (Go's `hchan`, with crossbeam's claim token for select):
//! - One lock per channel guards the buffer and the two wait queues. Every
//!   operation that changes what is ready happens under it, so "ready" is
//!   always judged against a consistent state.
//! - A parked operation is a [`Node`] in a wait queue. Nodes of one select
//!   share one [`Core`]: whoever moves `Core::state` from `WAITING` to
//!   `CLAIMED(arm)` with one CAS owns the select and completes that arm;
//!   every other peer sees a non-waiting core and skips (and drops) the
//!   stale node. The owner itself aborts with the same CAS (timeout,
//!   `default`, a dropped future), so a select completes at most one arm.
//! - Values go straight to a parked peer: a sender hands its value into a
//!   parked receiver's slot; a receiver takes the value out of a parked
//!   sender's slot, but only if that sender *offers* it (a blocking
//!   sender, or an async select during the poll that registered it).
//!   A parked async sender keeps its value in its own future and is only
//!   *notified* ("a receiver is waiting / there is room"): it commits in
//!   its own poll, as the contract requires.
//! - Peers are woken after the channel lock is released.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use super::error::{TryRecvError, TrySendError};
use super::spin::SpinLock;
use crate::sync_impl::{Arc, AtomicBool, AtomicUsize, Mutex, lock};
use crate::waiter::Wake;

const WAITING: usize = 0;
const ABORTED: usize = 1;

#[inline]
fn claimed(arm: usize) -> usize {
    2 * arm + 2
}

#[inline]
fn done(arm: usize) -> usize {
    2 * arm + 3
}

struct WakeSlot {
    wake: Option<Wake>,
    /// The owner may be parked (a task always counts as parked): wakers
    /// skip the unpark while a thread owner is still spinning, so a thread
    /// that saw its outcome and moved on never gets a stray unpark.
    parked: bool,
}

/// The claim token shared by every arm of one parked operation or select.
#[doc(hidden)]
pub struct Core {
    /// `WAITING`, `ABORTED`, `CLAIMED(arm)` (a peer is completing `arm`)
    /// or `DONE(arm)` (the arm's outcome is in its node).
    state: AtomicUsize,
    /// A parked async sender was told it can now proceed.
    notified: AtomicBool,
    /// The parked thread or task.
    wake: Mutex<WakeSlot>,
}

impl Core {
    pub(crate) fn new(wake: Wake) -> Arc<Core> {
        let parked = !matches!(wake, Wake::Thread(_));
        Arc::new(Core {
            state: AtomicUsize::new(WAITING),
            notified: AtomicBool::new(false),
            wake: Mutex::new(WakeSlot { wake: Some(wake), parked }),
        })
    }

    /// A thread owner is about to park: from now on wakers must unpark it.
    /// The lock orders this against [`Core::wake`]: either the waker sees
    /// `parked`, or its outcome (published before it locked) is visible to
    /// the owner's next check.
    pub(crate) fn set_parked(&self) {
        lock(&self.wake).parked = true;
    }

    /// The owner stops waiting: no unpark may reach it after this (an
    /// unpark aimed at a thread that moved on would be stray; harmless for
    /// std, but a loom model would see a thread woken from a lock).
    pub(crate) fn clear_parked(&self) {
        lock(&self.wake).parked = false;
    }

    /// Claims the core for `arm`; the caller must then complete the arm and
    /// call [`Core::finish`]. False if it was already claimed or aborted.
    #[inline]
    pub(crate) fn try_claim(&self, arm: usize) -> bool {
        self.state.compare_exchange(WAITING, claimed(arm), AcqRel, Acquire).is_ok()
    }

    /// Publishes the outcome of a claimed arm (its node holds the result).
    #[inline]
    pub(crate) fn finish(&self, arm: usize) {
        self.state.store(done(arm), Release);
    }

    /// The owner gives up; false if a peer claimed it first.
    #[inline]
    pub(crate) fn try_abort(&self) -> bool {
        self.state.compare_exchange(WAITING, ABORTED, AcqRel, Acquire).is_ok()
    }

    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Acquire) == WAITING
    }

    /// The arm completed by a peer, once its outcome is published.
    #[inline]
    pub(crate) fn done_arm(&self) -> Option<usize> {
        let s = self.state.load(Acquire);
        if s >= 3 && s & 1 == 1 { Some((s - 3) / 2) } else { None }
    }

    /// Waits out the short window between a peer's claim and its publish
    /// (the peer is inside the channel lock, moving one value).
    pub(crate) fn wait_done(&self) -> usize {
        let mut round = 0u32;
        loop {
            if let Some(arm) = self.done_arm() {
                return arm;
            }
            debug_assert!(self.state.load(Relaxed) != WAITING && self.state.load(Relaxed) != ABORTED);
            if cfg!(loom) {
                crate::sync_impl::thread::yield_now();
            } else {
                crate::waiter::spin(round.min(8));
            }
            round += 1;
        }
    }

    pub(crate) fn was_notified(&self) -> bool {
        self.notified.load(Acquire)
    }

    pub(crate) fn wake(&self) {
        let g = lock(&self.wake);
        if g.parked
            && let Some(w) = g.wake.as_ref()
        {
            w.wake_by_ref();
        }
    }

    /// Refreshes the task waker of an async owner.
    pub(crate) fn set_waker(&self, waker: &std::task::Waker) {
        let mut g = lock(&self.wake);
        match g.wake.as_mut() {
            Some(w) => w.update_task(waker),
            None => g.wake = Some(Wake::Task(waker.clone())),
        }
    }
}

/// One arm of a parked operation, queued on one channel.
pub(crate) struct Node<T> {
    pub(crate) core: Arc<Core>,
    pub(crate) arm: usize,
    /// Receiver: where a sender puts the value (None after DONE = closed).
    /// Offering sender: the value on offer (still there after DONE =
    /// closed, taken = sent).
    pub(crate) slot: Mutex<Option<T>>,
    /// A sender whose value peers may take (a blocking sender, or an async
    /// select inside its own poll). A non-offering sender is only notified.
    pub(crate) offers: bool,
    /// A receiver that senders may hand a value to directly. Parked async
    /// receivers on a buffered channel do not: the sender buffers the
    /// value and notifies them, so a dropped receive future never holds a
    /// value (which would have to go back into a possibly full buffer).
    pub(crate) accepts: bool,
}

impl<T> Node<T> {
    pub(crate) fn new(core: &Arc<Core>, arm: usize, value: Option<T>) -> Arc<Node<T>> {
        let offers = value.is_some();
        Arc::new(Node { core: core.clone(), arm, slot: Mutex::new(value), offers, accepts: false })
    }

    pub(crate) fn receiver(core: &Arc<Core>, arm: usize, accepts: bool) -> Arc<Node<T>> {
        Arc::new(Node { core: core.clone(), arm, slot: Mutex::new(None), offers: false, accepts })
    }
}

struct Waiter<T> {
    node: Arc<Node<T>>,
    id: u64,
}

struct Inner<T> {
    buf: VecDeque<T>,
    closed: bool,
    sendq: VecDeque<Waiter<T>>,
    recvq: VecDeque<Waiter<T>>,
    next_id: u64,
}

/// The shared state of one channel.
pub(crate) struct Chan<T> {
    inner: SpinLock<Inner<T>>,
    /// `usize::MAX` for unbounded.
    pub(crate) cap: usize,
    closed: AtomicBool,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    /// Lock-free mirrors of the buffer length and queue lengths, written
    /// under the lock: hints for spinning waiters (and `len()`), never
    /// used to decide an operation.
    len: AtomicUsize,
    waiting_recv: AtomicUsize,
    waiting_send: AtomicUsize,
}

/// Peers to wake once the channel lock is released.
type WakeList<T> = Vec<Arc<Node<T>>>;

fn wake_all<T>(list: WakeList<T>) {
    for n in list {
        n.core.wake();
    }
}

/// Unbounded buffers give memory back once a burst has drained.
const SHRINK_ABOVE: usize = 64;

impl<T> Inner<T> {
    /// Hands `v` to the oldest live parked receiver that accepts a direct
    /// hand-off (dropping stale entries on the way).
    fn give_to_receiver(&mut self, v: T) -> Result<Arc<Node<T>>, T> {
        let mut i = 0;
        while i < self.recvq.len() {
            let n = &self.recvq[i].node;
            if !n.accepts {
                if n.core.is_waiting() {
                    i += 1;
                } else {
                    self.recvq.remove(i);
                }
                continue;
            }
            let w = self.recvq.remove(i).expect("index checked");
            let n = &w.node;
            if n.core.try_claim(n.arm) {
                *lock(&n.slot) = Some(v);
                n.core.finish(n.arm);
                return Ok(w.node);
            }
            // Stale: its select completed elsewhere or gave up.
        }
        Err(v)
    }

    /// Notifies the oldest live parked receiver that takes values only in
    /// its own poll (an async receiver on a buffered channel).
    fn notify_receiver(&mut self, wake: &mut WakeList<T>) {
        let mut i = 0;
        while i < self.recvq.len() {
            let n = &self.recvq[i].node;
            if !n.core.is_waiting() {
                self.recvq.remove(i);
                continue;
            }
            if n.accepts {
                i += 1;
                continue;
            }
            let w = self.recvq.remove(i).expect("index checked");
            w.node.core.notified.store(true, Release);
            wake.push(w.node);
            return;
        }
    }

    /// Takes the value of the oldest live offering sender.
    fn take_from_sender(&mut self) -> Option<(T, Arc<Node<T>>)> {
        let mut i = 0;
        while i < self.sendq.len() {
            let n = &self.sendq[i].node;
            if !n.offers {
                if n.core.is_waiting() {
                    i += 1;
                } else {
                    self.sendq.remove(i);
                }
                continue;
            }
            if n.core.try_claim(n.arm) {
                let w = self.sendq.remove(i).expect("index checked");
                let v = lock(&w.node.slot).take().expect("an offering sender holds its value until claimed");
                w.node.core.finish(w.node.arm);
                return Some((v, w.node));
            }
            self.sendq.remove(i);
        }
        None
    }

    /// After a receive made room: move a parked sender's value into the
    /// buffer, or notify one parked async sender.
    fn refill(&mut self, wake: &mut WakeList<T>) {
        while let Some(w) = self.sendq.pop_front() {
            let n = &w.node;
            if n.offers {
                if n.core.try_claim(n.arm) {
                    let v = lock(&n.slot).take().expect("an offering sender holds its value until claimed");
                    n.core.finish(n.arm);
                    self.buf.push_back(v);
                    wake.push(w.node);
                    // A value landed in the buffer: a parked async
                    // receiver must hear of it.
                    self.notify_receiver(wake);
                    return;
                }
            } else if n.core.is_waiting() {
                n.core.notified.store(true, Release);
                wake.push(w.node);
                return;
            }
        }
    }

    /// Notifies the oldest live non-offering (async) sender, skipping `me`.
    fn notify_sender(&mut self, me: Option<&Arc<Core>>, wake: &mut WakeList<T>) {
        let mut i = 0;
        while i < self.sendq.len() {
            let n = &self.sendq[i].node;
            if !n.core.is_waiting() {
                self.sendq.remove(i);
                continue;
            }
            if n.offers || me.is_some_and(|me| Arc::ptr_eq(me, &n.core)) {
                i += 1;
                continue;
            }
            let w = self.sendq.remove(i).expect("index checked");
            w.node.core.notified.store(true, Release);
            wake.push(w.node);
            return;
        }
    }

    fn has_live(q: &VecDeque<Waiter<T>>, me: &Arc<Core>, offering_only: bool) -> bool {
        q.iter()
            .any(|w| (!offering_only || w.node.offers) && !Arc::ptr_eq(&w.node.core, me) && w.node.core.is_waiting())
    }

    /// A live parked receiver (other than `me`) that a sender could hand
    /// a value to right now.
    fn has_live_accepting(q: &VecDeque<Waiter<T>>, me: &Arc<Core>) -> bool {
        q.iter().any(|w| w.node.accepts && !Arc::ptr_eq(&w.node.core, me) && w.node.core.is_waiting())
    }

    fn take(&mut self, cap: usize, wake: &mut WakeList<T>) -> Result<T, TryRecvError> {
        if let Some(v) = self.buf.pop_front() {
            if !self.sendq.is_empty() && self.buf.len() < cap {
                self.refill(wake);
            }
            self.maybe_shrink();
            return Ok(v);
        }
        if let Some((v, node)) = self.take_from_sender() {
            wake.push(node);
            return Ok(v);
        }
        if self.closed { Err(TryRecvError::Closed) } else { Err(TryRecvError::Empty) }
    }

    fn maybe_shrink(&mut self) {
        let c = self.buf.capacity();
        if c > SHRINK_ABOVE && self.buf.len() < c / 4 {
            self.buf.shrink_to((c / 2).max(self.buf.len()));
        }
    }

    fn remove(q: &mut VecDeque<Waiter<T>>, id: u64) -> bool {
        match q.iter().position(|w| w.id == id) {
            Some(i) => {
                q.remove(i);
                true
            }
            None => false,
        }
    }
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Chan<T> {
        let buf = if cap == usize::MAX { VecDeque::new() } else { VecDeque::with_capacity(cap.min(1024)) };
        Chan {
            inner: SpinLock::new(Inner {
                buf,
                closed: false,
                sendq: VecDeque::new(),
                recvq: VecDeque::new(),
                next_id: 0,
            }),
            cap,
            closed: AtomicBool::new(false),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
            waiting_recv: AtomicUsize::new(0),
            waiting_send: AtomicUsize::new(0),
        }
    }

    /// Refreshes the lock-free hints; call before releasing the lock.
    #[inline]
    fn publish(&self, g: &Inner<T>) {
        self.len.store(g.buf.len(), Relaxed);
        self.waiting_recv.store(g.recvq.len(), Relaxed);
        // Only senders whose value a receiver can take count as "ready".
        let offering = if g.sendq.is_empty() { 0 } else { g.sendq.iter().filter(|w| w.node.offers).count() };
        self.waiting_send.store(offering, Relaxed);
    }

    /// A receive might succeed now (a hint for spinning).
    #[inline]
    pub(crate) fn recv_maybe_ready(&self) -> bool {
        self.len.load(Relaxed) > 0 || self.waiting_send.load(Relaxed) > 0 || self.is_closed()
    }

    /// A send might succeed now (a hint for spinning).
    #[inline]
    pub(crate) fn send_maybe_ready(&self) -> bool {
        self.len.load(Relaxed) < self.cap || self.waiting_recv.load(Relaxed) > 0 || self.is_closed()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Acquire)
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    /// Memory held by the buffer, in values (for tests of shrinking).
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.inner.lock().buf.capacity()
    }

    pub(crate) fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let mut g = self.inner.lock();
        if g.closed {
            return Err(TrySendError::Closed(v));
        }
        if g.recvq.is_empty() {
            // The common buffered case: no receiver waits.
            return if g.buf.len() < self.cap {
                g.buf.push_back(v);
                self.len.store(g.buf.len(), Relaxed);
                Ok(())
            } else {
                Err(TrySendError::Full(v))
            };
        }
        match g.give_to_receiver(v) {
            Ok(node) => {
                self.publish(&g);
                drop(g);
                node.core.wake();
                Ok(())
            }
            Err(v) => {
                let mut wake = Vec::new();
                let r = if g.buf.len() < self.cap {
                    g.buf.push_back(v);
                    g.notify_receiver(&mut wake);
                    Ok(())
                } else {
                    Err(TrySendError::Full(v))
                };
                self.publish(&g);
                drop(g);
                wake_all(wake);
                r
            }
        }
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut wake = Vec::new();
        let mut g = self.inner.lock();
        let r = g.take(self.cap, &mut wake);
        self.publish(&g);
        drop(g);
        wake_all(wake);
        r
    }

    /// Moves up to `max` ready values into `out` under one lock.
    pub(crate) fn try_recv_many(&self, out: &mut Vec<T>, max: usize) -> Result<usize, TryRecvError> {
        let mut wake = Vec::new();
        let mut g = self.inner.lock();
        let mut n = 0;
        let mut last = Ok(());
        while n < max {
            match g.take(self.cap, &mut wake) {
                Ok(v) => {
                    out.push(v);
                    n += 1;
                }
                Err(e) => {
                    last = Err(e);
                    break;
                }
            }
        }
        self.publish(&g);
        drop(g);
        wake_all(wake);
        match last {
            Err(e) if n == 0 => Err(e),
            _ => Ok(n),
        }
    }

    /// Queues a receiver unless a receive is possible now (then None: the
    /// caller retries without parking). Notifies a parked async sender,
    /// which can now hand its value over.
    pub(crate) fn register_recv(&self, node: &Arc<Node<T>>) -> Option<u64> {
        let mut wake = Vec::new();
        let mut g = self.inner.lock();
        if !g.buf.is_empty() || g.closed || Inner::has_live(&g.sendq, &node.core, true) {
            return None;
        }
        let id = g.next_id;
        g.next_id += 1;
        g.recvq.push_back(Waiter { node: node.clone(), id });
        g.notify_sender(Some(&node.core), &mut wake);
        self.publish(&g);
        drop(g);
        wake_all(wake);
        Some(id)
    }

    /// Queues a sender unless a send is possible now (then None).
    pub(crate) fn register_send(&self, node: &Arc<Node<T>>) -> Option<u64> {
        let mut g = self.inner.lock();
        // Only a receiver that accepts a hand-off makes a send possible now:
        // an async receiver on a buffered channel takes values from the
        // buffer in its own poll, so with the buffer full it is no reason
        // to retry (retrying would spin this poll forever while that
        // receiver's task waits for a worker).
        if g.closed || g.buf.len() < self.cap || Inner::has_live_accepting(&g.recvq, &node.core) {
            return None;
        }
        let id = g.next_id;
        g.next_id += 1;
        g.sendq.push_back(Waiter { node: node.clone(), id });
        self.publish(&g);
        Some(id)
    }

    /// Removes a parked receiver. If it had been notified of a buffered
    /// value and gives up without taking it, the next parked async
    /// receiver is notified instead, so the value does not sit unseen.
    pub(crate) fn remove_recv(&self, id: u64, notified: bool) {
        let mut wake = Vec::new();
        let mut g = self.inner.lock();
        let found = Inner::remove(&mut g.recvq, id);
        if !found && notified && !g.buf.is_empty() {
            g.notify_receiver(&mut wake);
        }
        self.publish(&g);
        drop(g);
        wake_all(wake);
    }

    /// Removes a parked sender. If it had been notified (and is giving up
    /// without using the notification), the notification goes to the next
    /// parked async sender, so a waiting receiver is not stranded.
    pub(crate) fn remove_send(&self, id: u64, notified: bool) {
        let mut wake = Vec::new();
        let mut g = self.inner.lock();
        let found = Inner::remove(&mut g.sendq, id);
        if !found && notified && !g.closed {
            let room = g.buf.len() < self.cap;
            if room || g.recvq.iter().any(|w| w.node.core.is_waiting()) {
                g.notify_sender(None, &mut wake);
            }
        }
        self.publish(&g);
        drop(g);
        wake_all(wake);
    }

    /// Puts back a value that an async receiver was handed but never
    /// returned (its future was dropped): to the next parked receiver, or
    /// the head of the buffer (it is older than anything buffered since).
    pub(crate) fn redeliver(&self, v: T) {
        let mut g = self.inner.lock();
        if self.receivers.load(Acquire) == 0 {
            drop(g);
            drop(v);
            return;
        }
        match g.give_to_receiver(v) {
            Ok(node) => {
                self.publish(&g);
                drop(g);
                node.core.wake();
            }
            Err(v) => {
                g.buf.push_front(v);
                let mut wake = Vec::new();
                g.notify_receiver(&mut wake);
                self.publish(&g);
                drop(g);
                wake_all(wake);
            }
        }
    }

    /// Closes the channel; true iff this call closed it. Every parked
    /// operation is completed with the "closed" outcome and woken.
    pub(crate) fn close(&self) -> bool {
        let mut g = self.inner.lock();
        if g.closed {
            return false;
        }
        g.closed = true;
        self.closed.store(true, Release);
        let mut wake = Vec::new();
        let inner = &mut *g;
        for w in inner.recvq.drain(..).chain(inner.sendq.drain(..)) {
            if w.node.core.try_claim(w.node.arm) {
                w.node.core.finish(w.node.arm);
                wake.push(w.node);
            }
        }
        self.publish(&g);
        drop(g);
        wake_all(wake);
        true
    }

    /// The last receiver is gone: close, and drop what nobody can receive.
    pub(crate) fn close_and_drain(&self) {
        self.close();
        let mut g = self.inner.lock();
        let buf = std::mem::take(&mut g.buf);
        self.publish(&g);
        drop(g);
        drop(buf);
    }
}
