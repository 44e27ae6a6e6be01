//! The one select engine behind every channel operation and both select
//! macros. A single `send`/`recv` is a select with one arm.
//!
//! One attempt runs in three phases:
//! 1. *Try*: each enabled arm, in random order (or in order when biased),
//!    tries its operation under its channel's lock. The first success wins.
//!    This is the fast path and allocates nothing.
//! 2. *Register*: a fresh claim token ([`Core`]) is made and each arm
//!    queues a node on its channel, checking readiness under the same
//!    lock. If an arm turns out ready, the token is aborted and the attempt
//!    restarts at phase 1 (crossbeam's scheme: the owner never claims two
//!    tokens at once).
//! 3. *Wait*: from here on any event that would make an arm ready claims
//!    the token instead (a sender hands its value into our slot, a
//!    receiver takes our offered value, close completes us). So if the
//!    owner then aborts successfully, no arm was ready at the instant of
//!    the abort: that is how a select with `default` judges readiness at
//!    one instant, and why it never falls to `default` while an arm stays
//!    ready. Without `default`, the owner parks (thread) or returns
//!    `Pending` (task) until a peer claims the token.

use std::task::{Context as TaskCx, Poll};
use std::time::Instant;

use super::core::{Chan, Core, Node};
use super::error::{RecvError, SendError, TryRecvError, TrySendError};
use crate::clock::{self, TimerId};
use crate::ctx::{Context, Scope};
use crate::sync_impl::{Arc, lock};
use crate::waiter::{self, Wake};

/// The most arms one select can have.
pub(crate) const MAX_ARMS: usize = 64;

/// One arm of a select, type-erased so that one engine serves all.
/// Not a public API: the select macros use it through `__private`.
#[doc(hidden)]
pub trait Arm {
    /// False for a disabled arm (a `None` operand or a false guard).
    fn enabled(&self) -> bool;
    /// Phase 1: performs the operation if it can complete now.
    fn try_fire(&mut self) -> bool;
    /// A cheap lock-free hint that `try_fire` might succeed (for spinning).
    fn maybe_ready(&self) -> bool {
        false
    }
    /// True if the arm can only become ready once it is registered (a
    /// send on a rendezvous channel: receivers wait for a parked sender),
    /// so spinning before registering would only wait for a peer that is
    /// itself spinning.
    fn needs_registration(&self) -> bool {
        false
    }
    /// Phase 2: queues on the channel; true if the arm is ready instead
    /// (nothing was queued). `offer`: the whole wait happens inside this
    /// call (a blocking caller, or an async select with `default`), so a
    /// send arm may let peers take its value and a receive arm may be
    /// handed one directly.
    fn register(&mut self, core: &Arc<Core>, idx: usize, offer: bool) -> bool;
    /// Removes the registration; `won`: the token was claimed for this arm,
    /// so collect the outcome a peer left in the node.
    fn unregister(&mut self, won: bool);
    /// An async select is dropped after this arm was completed by a peer
    /// outside its poll: undo what must not be lost (a received value).
    fn abandon(&mut self) {}
}

#[cfg(loom)]
fn random(_bound: usize) -> usize {
    // Loom models must be deterministic: one fixed order.
    0
}

/// Thread-local xorshift for the uniformly random arm order (Go's rule).
#[cfg(not(loom))]
fn random(bound: usize) -> usize {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let addr = &() as *const () as u64;
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            (addr ^ t ^ 0x9E37_79B9_7F4A_7C15) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        ((x >> 32).wrapping_mul(bound as u64) >> 32) as usize
    })
}

/// The order in which the arms are tried: a uniformly random permutation
/// (Fisher–Yates), or source order for a biased select. Built in place in
/// the caller's buffer (no copy of a 64-byte array per operation).
fn order(buf: &mut [u8; MAX_ARMS], n: usize, biased: bool) -> &[u8] {
    assert!(n <= MAX_ARMS, "a select has at most {MAX_ARMS} arms");
    let idx = &mut buf[..n];
    for (i, slot) in idx.iter_mut().enumerate() {
        *slot = i as u8;
    }
    if !biased {
        for i in (1..n).rev() {
            let j = random(i + 1);
            idx.swap(i, j);
        }
    }
    idx
}

fn try_all<A: Arm + ?Sized>(arms: &mut [&mut A], order: &[u8]) -> Option<usize> {
    order.iter().map(|&i| i as usize).find(|&i| arms[i].enabled() && arms[i].try_fire())
}

/// Registers every enabled arm; true if one was ready (registration stops).
fn register_all<A: Arm + ?Sized>(arms: &mut [&mut A], order: &[u8], core: &Arc<Core>, offer: bool) -> bool {
    for i in order.iter().map(|&i| i as usize) {
        if arms[i].enabled() && arms[i].register(core, i, offer) {
            return true;
        }
    }
    false
}

fn unregister_all<A: Arm + ?Sized>(arms: &mut [&mut A], winner: Option<usize>) {
    for (i, arm) in arms.iter_mut().enumerate() {
        arm.unregister(winner == Some(i));
    }
}

/// Waits until a peer completes `core` (true) or the deadline passes.
/// Spins, then yields the core for a while, then parks: on a busy 2-core
/// machine a yield lets the peer run here and hand over in well under a
/// microsecond, while a park/unpark round trip costs several.
fn wait_blocking(core: &Core, deadline: Option<Instant>) -> bool {
    for round in 0..6 {
        if core.done_arm().is_some() {
            return true;
        }
        waiter::spin(round);
    }
    for _ in 0..YIELDS_BEFORE_PARK {
        if core.done_arm().is_some() {
            return true;
        }
        crate::sync_impl::thread::yield_now();
    }
    core.set_parked();
    let done = loop {
        if core.done_arm().is_some() {
            break true;
        }
        match deadline {
            None => crate::clock::park(),
            Some(at) => {
                if crate::clock::now() >= at {
                    break core.done_arm().is_some();
                }
                crate::clock::park_until(at);
            }
        }
    };
    core.clear_parked();
    done
}

/// Yields before a blocked operation parks its thread.
const YIELDS_BEFORE_PARK: u32 = if cfg!(loom) { 1 } else { 16 };

/// Spin rounds (see `waiter::spin`) before a blocking select registers.
const SPIN_BEFORE_PARK: u32 = 7;

/// How a blocking select ended.
pub(crate) enum Outcome {
    Arm(usize),
    Default,
    Timeout,
}

/// Runs a select on the current thread (parks it).
pub(crate) fn run_blocking(
    arms: &mut [&mut dyn Arm],
    has_default: bool,
    biased: bool,
    deadline: Option<Instant>,
) -> Outcome {
    let mut buf = [0u8; MAX_ARMS];
    loop {
        let order = order(&mut buf, arms.len(), biased);
        if let Some(i) = try_all(arms, order) {
            return Outcome::Arm(i);
        }
        if !has_default && !arms.iter().any(|a| a.enabled() && a.needs_registration()) {
            // A peer on the other core usually makes an arm ready within
            // a few hundred nanoseconds; registering and parking cost
            // microseconds. Spin on the lock-free hints first.
            for round in 0..SPIN_BEFORE_PARK {
                waiter::spin(round);
                if order.iter().any(|&i| arms[i as usize].enabled() && arms[i as usize].maybe_ready())
                    && let Some(i) = try_all(arms, order)
                {
                    return Outcome::Arm(i);
                }
            }
        }
        let core = Core::new(Wake::current_thread());
        let saw_ready = register_all(arms, order, &core, true);
        if saw_ready || has_default {
            if core.try_abort() {
                unregister_all(arms, None);
                if saw_ready {
                    continue;
                }
                return Outcome::Default;
            }
        } else if !wait_blocking(&core, deadline) && core.try_abort() {
            unregister_all(arms, None);
            return Outcome::Timeout;
        }
        let w = core.wait_done();
        unregister_all(arms, Some(w));
        return Outcome::Arm(w);
    }
}

/// The state of an async select between polls.
#[doc(hidden)]
#[derive(Default)]
pub struct SelectState {
    core: Option<Arc<Core>>,
}

impl SelectState {
    /// Polls the select. `Ready(None)` means `default`.
    pub(crate) fn poll<A: Arm + ?Sized>(
        &mut self,
        arms: &mut [&mut A],
        has_default: bool,
        biased: bool,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<usize>> {
        if let Some(core) = self.core.take() {
            if core.done_arm().is_none() && !core.was_notified() {
                core.set_waker(cx.waker());
                if core.done_arm().is_none() && !core.was_notified() {
                    self.core = Some(core);
                    return Poll::Pending;
                }
            }
            // Completed, or notified that a send arm can now proceed: a
            // notified owner retries from scratch inside this poll.
            if core.try_abort() {
                unregister_all(arms, None);
            } else {
                let w = core.wait_done();
                unregister_all(arms, Some(w));
                return Poll::Ready(Some(w));
            }
        }
        let mut buf = [0u8; MAX_ARMS];
        loop {
            let order = order(&mut buf, arms.len(), biased);
            if let Some(i) = try_all(arms, order) {
                return Poll::Ready(Some(i));
            }
            let core = Core::new(Wake::Task(cx.waker().clone()));
            // With `default`, the whole attempt happens inside this poll,
            // so send arms may offer their values like blocking senders.
            let saw_ready = register_all(arms, order, &core, has_default);
            if saw_ready || has_default {
                if core.try_abort() {
                    unregister_all(arms, None);
                    if saw_ready {
                        continue;
                    }
                    return Poll::Ready(None);
                }
                let w = core.wait_done();
                unregister_all(arms, Some(w));
                return Poll::Ready(Some(w));
            }
            self.core = Some(core);
            return Poll::Pending;
        }
    }

    /// Cancels a pending select (its future is dropped): either no arm
    /// completed (then nothing happened), or a peer completed a receive
    /// arm outside our poll, and that value is put back into the channel.
    pub(crate) fn cancel<A: Arm + ?Sized>(&mut self, arms: &mut [&mut A]) {
        if let Some(core) = self.core.take() {
            if core.try_abort() {
                unregister_all(arms, None);
            } else {
                let w = core.wait_done();
                unregister_all(arms, Some(w));
                arms[w].abandon();
            }
        }
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.core.is_some()
    }
}

/// A receive arm (also the whole of `recv`).
#[doc(hidden)]
pub struct RecvArm<'a, T> {
    chan: Option<&'a Chan<T>>,
    pub(crate) slot: RecvSlot<T>,
}

/// The parts of a receive arm that outlive one borrow of the channel.
pub(crate) struct RecvSlot<T> {
    node: Option<Arc<Node<T>>>,
    id: u64,
    pub(crate) result: Option<Result<T, RecvError>>,
}

impl<T> Default for RecvSlot<T> {
    fn default() -> Self {
        RecvSlot { node: None, id: 0, result: None }
    }
}

impl<'a, T> RecvArm<'a, T> {
    pub(crate) fn new(chan: Option<&'a Chan<T>>) -> Self {
        RecvArm { chan, slot: RecvSlot::default() }
    }

    pub(crate) fn with_slot(chan: &'a Chan<T>, slot: RecvSlot<T>) -> Self {
        RecvArm { chan: Some(chan), slot }
    }

    pub(crate) fn chan(&self) -> Option<&'a Chan<T>> {
        self.chan
    }

    /// The outcome, once the arm won.
    pub fn take(&mut self) -> Result<T, RecvError> {
        self.slot.result.take().expect("tether: a select arm's result was taken twice")
    }
}

impl<T> Arm for RecvArm<'_, T> {
    fn enabled(&self) -> bool {
        self.chan.is_some()
    }

    fn try_fire(&mut self) -> bool {
        let Some(chan) = self.chan else { return false };
        match chan.try_recv() {
            Ok(v) => self.slot.result = Some(Ok(v)),
            Err(TryRecvError::Closed) => self.slot.result = Some(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => return false,
        }
        true
    }

    fn maybe_ready(&self) -> bool {
        self.chan.is_some_and(|c| c.recv_maybe_ready())
    }

    fn register(&mut self, core: &Arc<Core>, idx: usize, offer: bool) -> bool {
        let Some(chan) = self.chan else { return false };
        // A parked async receive takes buffered values only in its own
        // poll; on a rendezvous channel it must accept a hand-off (an async
        // sender commits only in its poll, so one side has to).
        let node = Node::receiver(core, idx, offer || chan.cap == 0);
        match chan.register_recv(&node) {
            Some(id) => {
                self.slot.node = Some(node);
                self.slot.id = id;
                false
            }
            None => true,
        }
    }

    fn unregister(&mut self, won: bool) {
        let (Some(chan), Some(node)) = (self.chan, self.slot.node.take()) else { return };
        if won {
            let v = lock(&node.slot).take();
            self.slot.result = Some(v.ok_or(RecvError::Closed));
        } else {
            chan.remove_recv(self.slot.id, node.core.was_notified());
        }
    }

    fn abandon(&mut self) {
        if let (Some(chan), Some(Ok(v))) = (self.chan, self.slot.result.take()) {
            chan.redeliver(v);
        }
    }
}

/// A send arm (also the whole of `send`).
#[doc(hidden)]
pub struct SendArm<'a, T> {
    chan: Option<&'a Chan<T>>,
    value: Option<T>,
    node: Option<Arc<Node<T>>>,
    id: u64,
    result: Option<Result<(), SendError<T>>>,
}

impl<'a, T> SendArm<'a, T> {
    pub(crate) fn new(chan: Option<&'a Chan<T>>, value: T) -> Self {
        SendArm { chan, value: Some(value), node: None, id: 0, result: None }
    }

    /// The outcome, once the arm won.
    pub fn take(&mut self) -> Result<(), SendError<T>> {
        self.result.take().expect("tether: a select arm's result was taken twice")
    }

    /// The value, if it was not sent (for timeouts).
    pub(crate) fn take_value(&mut self) -> Option<T> {
        self.value.take()
    }
}

impl<T> Arm for SendArm<'_, T> {
    fn enabled(&self) -> bool {
        self.chan.is_some() && self.value.is_some()
    }

    fn try_fire(&mut self) -> bool {
        let (Some(chan), Some(v)) = (self.chan, self.value.take()) else { return false };
        match chan.try_send(v) {
            Ok(()) => self.result = Some(Ok(())),
            Err(TrySendError::Closed(v)) => self.result = Some(Err(SendError(v))),
            Err(TrySendError::Full(v)) => {
                self.value = Some(v);
                return false;
            }
        }
        true
    }

    fn maybe_ready(&self) -> bool {
        self.chan.is_some_and(|c| c.send_maybe_ready())
    }

    fn needs_registration(&self) -> bool {
        self.chan.is_some_and(|c| c.cap == 0)
    }

    fn register(&mut self, core: &Arc<Core>, idx: usize, offer: bool) -> bool {
        let Some(chan) = self.chan else { return false };
        let node = Node::new(core, idx, if offer { self.value.take() } else { None });
        match chan.register_send(&node) {
            Some(id) => {
                self.node = Some(node);
                self.id = id;
                false
            }
            None => {
                if offer {
                    self.value = lock(&node.slot).take();
                }
                true
            }
        }
    }

    fn unregister(&mut self, won: bool) {
        let (Some(chan), Some(node)) = (self.chan, self.node.take()) else { return };
        if node.offers {
            let v = lock(&node.slot).take();
            if won {
                // Taken by a receiver: sent. Still there: closed.
                self.result = Some(match v {
                    None => Ok(()),
                    Some(v) => Err(SendError(v)),
                });
            } else {
                self.value = v;
                chan.remove_send(self.id, false);
            }
        } else if won {
            // A non-offering sender is only ever claimed by close.
            let v = self.value.take().expect("the value stays in the future");
            self.result = Some(Err(SendError(v)));
        } else {
            chan.remove_send(self.id, node.core.was_notified());
        }
    }
}

/// A `done(ctx)` arm: ready once the context is done.
#[doc(hidden)]
pub struct DoneArm<'a> {
    scope: Option<&'a Arc<Scope>>,
    key: Option<usize>,
}

impl<'a> DoneArm<'a> {
    pub(crate) fn new(ctx: Option<&'a Context>) -> Self {
        DoneArm { scope: ctx.and_then(|c| c.scope()), key: None }
    }
}

/// A callback that claims `core` for `idx` and wakes its owner.
fn claimer(core: &Arc<Core>, idx: usize) -> Wake {
    let core = core.clone();
    let f = move || {
        if core.try_claim(idx) {
            core.finish(idx);
            core.wake();
        }
    };
    #[cfg(not(loom))]
    {
        Wake::Call(Arc::new(f))
    }
    #[cfg(loom)]
    {
        let f: std::sync::Arc<dyn Fn() + Send + Sync> = std::sync::Arc::new(f);
        Wake::Call(Arc::from_std(f))
    }
}

impl Arm for DoneArm<'_> {
    fn enabled(&self) -> bool {
        self.scope.is_some()
    }

    fn try_fire(&mut self) -> bool {
        self.scope.is_some_and(|s| s.is_done())
    }

    fn maybe_ready(&self) -> bool {
        self.scope.is_some_and(|s| s.is_done())
    }

    fn register(&mut self, core: &Arc<Core>, idx: usize, _offer: bool) -> bool {
        let Some(scope) = self.scope else { return false };
        match scope.register(claimer(core, idx)) {
            Some(key) => {
                self.key = Some(key);
                false
            }
            None => true,
        }
    }

    fn unregister(&mut self, _won: bool) {
        if let (Some(scope), Some(key)) = (self.scope, self.key.take()) {
            scope.unregister(key);
        }
    }
}

/// An `after(d)` arm: ready once tether's clock reaches the deadline
/// (fixed when the select starts, as Go's `time.After` in a select).
#[doc(hidden)]
pub struct AfterArm {
    deadline: Option<Instant>,
    timer: Option<TimerId>,
}

impl AfterArm {
    pub(crate) fn new(deadline: Option<Instant>) -> Self {
        AfterArm { deadline, timer: None }
    }
}

impl Arm for AfterArm {
    fn enabled(&self) -> bool {
        self.deadline.is_some()
    }

    fn try_fire(&mut self) -> bool {
        self.deadline.is_some_and(|d| clock::now() >= d)
    }

    fn register(&mut self, core: &Arc<Core>, idx: usize, _offer: bool) -> bool {
        let Some(at) = self.deadline else { return false };
        if clock::now() >= at {
            return true;
        }
        let core = core.clone();
        self.timer = Some(clock::add_timer(at, move || claimer(&core, idx).wake()));
        false
    }

    fn unregister(&mut self, _won: bool) {
        if let Some(id) = self.timer.take() {
            clock::cancel_timer(id);
        }
    }
}
