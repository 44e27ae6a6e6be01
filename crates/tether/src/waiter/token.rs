//! The claim token: how one parked operation (or one whole `select`) is
//! completed exactly once, and how its owner waits for that.
//!
//! A token is armed by its owner, then reachable by peers through the
//! waiter nodes the owner links into primitives' lists. From then on:
//!
//! - a peer that wants to complete the owner claims the token with one CAS
//!   (`WAITING → CLAIMED`), does its part (hands a value over, takes an
//!   offered one, reserves room), then publishes an [`Outcome`] with
//!   [`finish`](Token::finish) — its last touch of the token — and wakes the
//!   owner with what `finish` returned, after releasing its locks;
//! - the owner gives up with the same kind of CAS (`WAITING → ABORTED`); if
//!   that fails, a peer claimed first, and the outcome is at most a few
//!   instructions away ([`wait_outcome`](Token::wait_outcome)).
//!
//! Every peer sees a claimed or aborted token as stale and skips it, so a
//! select with many arms completes at most one of them.
//!
//! Waking costs nothing unless the owner may be asleep: a thread owner
//! spins first and announces that it is about to park; a finisher wakes it
//! only if it did ("only parked waiters are unparked"). A task owner counts
//! as asleep from its first `Pending`.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::task::Waker;
use std::time::Instant;

use super::{Backoff, Wake};
use crate::spin::SpinLock;
use crate::sync_impl::AtomicUsize;

/// What a peer did to a claimed token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The peer completed the operation of arm `n` (handed a value in, or
    /// took the value on offer).
    Done(usize),
    /// The owner should retry arm `n` itself: something it waits for may
    /// have happened (a value, room, a close), or — for a sender — room was
    /// reserved for it.
    Notified(usize),
}

const WAITING: usize = 0;
const ABORTED: usize = 1;
const CLAIMED: usize = 2;
/// States from here on encode an [`Outcome`].
const FINAL: usize = 4;

#[inline]
fn encode(o: Outcome) -> usize {
    match o {
        Outcome::Done(arm) => FINAL + 2 * arm,
        Outcome::Notified(arm) => FINAL + 2 * arm + 1,
    }
}

#[inline]
fn decode(s: usize) -> Option<Outcome> {
    if s < FINAL {
        return None;
    }
    let arm = (s - FINAL) / 2;
    Some(if (s - FINAL) & 1 == 0 { Outcome::Done(arm) } else { Outcome::Notified(arm) })
}

/// Whom to wake, and whether they may be asleep.
struct Slot {
    wake: Option<Wake>,
    asleep: bool,
}

/// Who waits on a token: the current thread (a `*_blocking` call), or the
/// task of a waker.
#[derive(Clone, Copy)]
pub(crate) enum Owner<'w> {
    Thread,
    Task(&'w Waker),
}

impl Owner<'_> {
    /// Arms `token` for this owner (see [`Token::arm_thread`]).
    #[inline]
    pub(crate) fn arm(self, token: &Token) {
        match self {
            Owner::Thread => token.arm_thread(),
            Owner::Task(w) => token.arm_task(w),
        }
    }
}

/// How [`Token::wait_blocking`] ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// A peer published this outcome.
    Outcome(Outcome),
    /// The caller's own condition held (a context is done, say).
    Ready,
    /// The deadline passed.
    Timeout,
}

/// How long a thread owner yields (after spinning) before it parks.
#[cfg(not(loom))]
const YIELD_BEFORE_PARK: std::time::Duration = std::time::Duration::from_micros(50);
/// Yields between two clock reads of that budget.
#[cfg(not(loom))]
const YIELDS_PER_CLOCK_READ: u32 = 8;

/// See the module docs.
pub(crate) struct Token {
    state: AtomicUsize,
    slot: SpinLock<Slot>,
}

impl Default for Token {
    fn default() -> Self {
        Token::new()
    }
}

impl Token {
    /// An unarmed token: no peer can claim it.
    pub(crate) fn new() -> Token {
        Token { state: AtomicUsize::new(ABORTED), slot: SpinLock::new(Slot { wake: None, asleep: false }) }
    }

    /// Arms the token for a wait of the current thread.
    ///
    /// Only the owner calls this, while no peer can reach the token (none
    /// of its nodes is linked); linking a node afterwards, under the
    /// primitive's lock, publishes the armed state.
    pub(crate) fn arm_thread(&self) {
        let mut s = self.slot.lock();
        match &s.wake {
            Some(Wake::Thread(t)) if t.id() == crate::sync_impl::thread::current().id() => {}
            _ => s.wake = Some(Wake::current_thread()),
        }
        s.asleep = false;
        drop(s);
        self.state.store(WAITING, Relaxed);
    }

    /// Arms the token for a wait of the task of `waker` (same rules as
    /// [`arm_thread`](Token::arm_thread)).
    pub(crate) fn arm_task(&self, waker: &Waker) {
        let mut s = self.slot.lock();
        match &mut s.wake {
            Some(w) => w.update_task(waker),
            None => s.wake = Some(Wake::Task(waker.clone())),
        }
        s.asleep = true;
        drop(s);
        self.state.store(WAITING, Relaxed);
    }

    /// Forgets the wake target (the token is idle, its owner gone), so a
    /// recycled token keeps no task or thread alive.
    pub(crate) fn disarm(&self) {
        let w = self.slot.lock().wake.take();
        drop(w);
    }

    /// A peer claims the token; on success it must [`finish`](Token::finish).
    #[inline]
    pub(crate) fn try_claim(&self) -> bool {
        self.state.compare_exchange(WAITING, CLAIMED, Acquire, Relaxed).is_ok()
    }

    /// Publishes the outcome of a claimed token. Returns whom to wake: wake
    /// them after releasing every lock. The token must not be touched after
    /// this call (its owner may free it at once).
    #[must_use = "wake the owner once the locks are released"]
    pub(crate) fn finish(&self, outcome: Outcome) -> Option<Wake> {
        debug_assert_eq!(self.state.load(Relaxed), CLAIMED, "finish without a claim");
        let wake = {
            let mut s = self.slot.lock();
            if s.asleep { s.wake.take() } else { None }
        };
        self.state.store(encode(outcome), Release);
        wake
    }

    /// The owner gives up waiting; false if a peer claimed first.
    #[inline]
    pub(crate) fn try_abort(&self) -> bool {
        self.state.compare_exchange(WAITING, ABORTED, Acquire, Relaxed).is_ok()
    }

    /// True while no peer has claimed the token and the owner has not given
    /// up (a hint outside the primitive's lock).
    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Relaxed) == WAITING
    }

    /// The published outcome, if any.
    #[inline]
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        decode(self.state.load(Acquire))
    }

    /// The owner, after a failed abort: waits out the few instructions
    /// between a peer's claim and its finish. Never waits on anything else.
    pub(crate) fn wait_outcome(&self) -> Outcome {
        let mut backoff = Backoff::new();
        loop {
            let s = self.state.load(Acquire);
            if let Some(o) = decode(s) {
                return o;
            }
            debug_assert_eq!(s, CLAIMED, "waiting for an outcome nobody will publish");
            backoff.snooze();
        }
    }

    /// The owner gives up: `None` if nobody had claimed the token (nothing
    /// happened), else the outcome a peer published (at most a few
    /// instructions away).
    pub(crate) fn abort_or_outcome(&self) -> Option<Outcome> {
        if self.try_abort() { None } else { Some(self.wait_outcome()) }
    }

    /// A blocking owner waits for an outcome until `deadline`: `None` if
    /// the deadline passed and the owner gave up before any peer claimed.
    pub(crate) fn wait_or_give_up(&self, deadline: Option<Instant>) -> Option<Outcome> {
        match self.wait_blocking(deadline, || false) {
            Waited::Outcome(o) => Some(o),
            _ => self.abort_or_outcome(),
        }
    }

    /// Makes sure no peer will claim the token from now on: aborts it if it
    /// is waiting, waits out a claim in progress, and accepts it as it is
    /// otherwise. For owners that vanish without their usual clean-up.
    pub(crate) fn settle(&self) {
        let mut backoff = Backoff::new();
        loop {
            match self.state.load(Acquire) {
                WAITING if self.try_abort() => return,
                WAITING | CLAIMED => backoff.snooze(),
                _ => return,
            }
        }
    }

    /// The owner thread waits for an outcome, for `ready()`, or for the
    /// deadline: spins briefly, yields, then parks. `ready` must be made
    /// true only by something that also unparks this thread.
    pub(crate) fn wait_blocking(&self, deadline: Option<Instant>, mut ready: impl FnMut() -> bool) -> Waited {
        let mut backoff = Backoff::new();
        while !backoff.is_completed() {
            if let Some(o) = self.outcome() {
                return Waited::Outcome(o);
            }
            if ready() {
                return Waited::Ready;
            }
            backoff.snooze();
        }
        // Then yield for a bounded time: a peer that was preempted, or is
        // busy for a few microseconds, hands over for the price of a yield
        // instead of a futex wait and wake (several microseconds on both
        // sides); a wait that really is long still parks soon.
        #[cfg(not(loom))]
        {
            let until = std::time::Instant::now() + YIELD_BEFORE_PARK;
            loop {
                for _ in 0..YIELDS_PER_CLOCK_READ {
                    if let Some(o) = self.outcome() {
                        return Waited::Outcome(o);
                    }
                    if ready() {
                        return Waited::Ready;
                    }
                    crate::sync_impl::thread::yield_now();
                }
                if std::time::Instant::now() >= until || deadline.is_some_and(|d| crate::clock::now() >= d) {
                    break;
                }
            }
        }
        self.slot.lock().asleep = true;
        loop {
            let s = self.state.load(Acquire);
            if let Some(o) = decode(s) {
                return Waited::Outcome(o);
            }
            if s == CLAIMED {
                // The finisher may have looked before we announced the
                // park: it will not unpark us, but it is about to publish.
                return Waited::Outcome(self.wait_outcome());
            }
            if ready() {
                return Waited::Ready;
            }
            match deadline {
                None => crate::clock::park(),
                Some(at) => {
                    if crate::clock::now() >= at {
                        return Waited::Timeout;
                    }
                    crate::clock::park_until(at);
                }
            }
        }
    }

    /// The owner task: the outcome if published; otherwise makes sure the
    /// finisher will wake `waker`, and returns `None` (pending).
    pub(crate) fn poll(&self, waker: &Waker) -> Option<Outcome> {
        if let Some(o) = self.outcome() {
            return Some(o);
        }
        let taken = {
            let mut s = self.slot.lock();
            match &mut s.wake {
                Some(w) => {
                    w.update_task(waker);
                    false
                }
                None => true,
            }
        };
        if taken {
            // A finisher took the (previous) waker: it is publishing now.
            return Some(self.wait_outcome());
        }
        self.outcome()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.load(Relaxed);
        let state = match (s, decode(s)) {
            (_, Some(o)) => return write!(f, "Token({o:?})"),
            (WAITING, _) => "Waiting",
            (ABORTED, _) => "Aborted",
            _ => "Claimed",
        };
        write!(f, "Token({state})")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn claim_finish_abort_and_encoding() {
        let t = Token::new();
        assert!(!t.try_claim(), "an unarmed token cannot be claimed");
        t.arm_thread();
        assert!(t.is_waiting());
        assert!(t.try_claim());
        assert!(!t.try_claim() && !t.try_abort(), "claimed once");
        assert!(t.finish(Outcome::Notified(7)).is_none(), "the owner never announced a park");
        assert_eq!(t.outcome(), Some(Outcome::Notified(7)));
        assert_eq!(t.wait_outcome(), Outcome::Notified(7));
        t.arm_thread();
        assert!(t.try_abort());
        assert!(!t.try_claim(), "an aborted token cannot be claimed");
        for arm in [0, 1, 63, 1000] {
            for o in [Outcome::Done(arm), Outcome::Notified(arm)] {
                assert_eq!(decode(encode(o)), Some(o));
            }
        }
    }

    #[test]
    fn a_parked_thread_is_woken_by_the_finisher() {
        let t = std::sync::Arc::new(Token::new());
        t.arm_thread();
        let peer = {
            let t = t.clone();
            std::thread::spawn(move || {
                while !t.slot.lock().asleep {
                    std::thread::yield_now();
                }
                assert!(t.try_claim());
                let w = t.finish(Outcome::Done(3)).expect("the owner announced its park");
                w.wake();
            })
        };
        assert_eq!(t.wait_blocking(None, || false), Waited::Outcome(Outcome::Done(3)));
        peer.join().unwrap();
        t.arm_thread();
        let at = crate::clock::now() + std::time::Duration::from_millis(2);
        assert_eq!(t.wait_blocking(Some(at), || false), Waited::Timeout);
        assert!(t.try_abort());
    }
}
