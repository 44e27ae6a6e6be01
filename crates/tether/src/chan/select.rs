//! The one select engine behind both select macros and the run-time
//! [`Select`](super::Select) builder.
//!
//! One attempt runs in three phases:
//! 1. *Try*: the arms' lock-free hints say which might be ready; one of
//!    those is picked uniformly at random and tried under its lock (if the
//!    hint lied, every arm is tried in random order). This is the whole of
//!    a select with `default`, and allocates nothing.
//! 2. *Register*: the select's one claim [`Token`] is armed and every arm
//!    links a waiter node on its channel, in random order, each checking
//!    readiness under its channel's lock. An arm found ready aborts the
//!    token first (so no peer can complete another arm meanwhile) and
//!    fires at once.
//! 3. *Wait*: channel peers complete an arm by claiming the token (one
//!    CAS); `done(ctx)` and `after(d)` arms instead wake the owner, who
//!    then aborts the token to take them — whoever moves the token first
//!    decides, so exactly one arm completes. A `Notified` outcome means
//!    "retry that arm": if a racing peer got there first, the select
//!    starts over.

use crate::leak::Blocked;
use std::marker::PhantomPinned;
use std::ops::DerefMut;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Instant;

use crate::clock;
use crate::waiter::{Backoff, Outcome, Token, Waited};

/// How one arm's registration ended.
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
pub enum Reg {
    /// Linked: the arm waits.
    Linked,
    /// The arm was ready: the select's token is aborted and the arm's
    /// operation is done.
    Fired,
    /// A peer claimed the select's token (for an arm registered earlier).
    Claimed,
    /// The arm looked ready but was not once the token was aborted (its
    /// peer gave up meanwhile): start over.
    Retry,
}

/// What an arm registers with (opaque outside the crate).
#[doc(hidden)]
pub struct Registrar<'t> {
    pub(crate) token: &'t Token,
    pub(crate) arm: usize,
    /// The whole wait happens on this thread: a send arm may let peers take
    /// its value, a receive arm may be handed one.
    pub(crate) offer: bool,
    /// The task to wake (async), or the current thread (`None`).
    pub(crate) waker: Option<&'t Waker>,
    /// The select waits if nothing is ready (it has no `default`).
    pub(crate) waits: bool,
}

/// A published outcome for one arm (opaque outside the crate).
#[doc(hidden)]
pub struct Completion(pub(crate) Outcome);

/// One arm of a select, type-erased so that one engine serves all.
/// Not a public API: the select macros and `Select` use it.
#[doc(hidden)]
pub trait Arm {
    /// False for a disabled arm (a `None` operand or a false guard).
    fn enabled(&self) -> bool;
    /// Performs the operation if it can complete now. `waits`: the select
    /// would wait otherwise (no `default`), so a receive may leave a parked
    /// blocking sender's value to an older async sender (first come, first
    /// served); without `default` it takes what is offered, as in Go.
    fn try_fire(&mut self, waits: bool) -> bool;
    /// A cheap lock-free hint that `try_fire` might succeed.
    fn maybe_ready(&self) -> bool;
    /// Whether the first pass should try this arm: enabled, and ready by
    /// its hint or only knowable by polling. One call per arm (the pass
    /// runs over every arm of a select, hundreds in a run-time `Select`).
    #[inline]
    fn candidate(&self) -> bool {
        self.enabled() && (self.needs_poll() || self.maybe_ready())
    }
    /// True if the arm can only become ready once it is registered (a send
    /// on a rendezvous channel): spinning first would wait for a peer that
    /// is itself spinning.
    fn needs_registration(&self) -> bool {
        false
    }
    /// Registers for the wait (see [`Reg`]).
    fn register(&mut self, r: &Registrar<'_>) -> Reg;
    /// Removes the registration (idempotent).
    fn unregister(&mut self);
    /// The select's token was completed for this arm: takes in the outcome
    /// (before `unregister`). True if the arm completed; false if it must
    /// be retried with `try_fire` (after every arm is unregistered).
    fn collect(&mut self, c: Completion) -> bool {
        let _ = c;
        unreachable!("tether::select: a peer completed an arm that peers cannot complete")
    }
    /// An async select is dropped after a peer completed or notified this
    /// arm: give back what must not be lost (a value, a grant, a wake-up).
    fn abandon(&mut self) {}
    /// For arms that wake the owner instead of claiming the token (`done`,
    /// `after`): ready now.
    fn polled_ready(&self) -> bool {
        false
    }
    /// The instant by which the owner must look at this arm again.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The async owner's waker changed between polls.
    fn rewake(&mut self, waker: &Waker) {
        let _ = waker;
    }
    /// True for arms that can only tell whether they are ready by being
    /// polled with the task's context (`fut(...)`): the select polls them
    /// only while it owns its token, so their output is never lost.
    fn needs_poll(&self) -> bool {
        false
    }
    /// Polls the arm with the task's context (async selects): fires it if
    /// it is ready.
    fn poll_fire(&mut self, cx: &mut TaskCx<'_>, waits: bool) -> bool {
        let _ = cx;
        self.try_fire(waits)
    }
}

#[cfg(loom)]
fn random(_bound: usize) -> usize {
    // Loom models must be deterministic: one fixed order.
    0
}

/// Thread-local xorshift for the uniformly random choice (Go's rule).
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

/// Scratch space for a random order of arm indices: on the stack for the
/// macros (at most [`MAX_ARMS`]), kept by a [`Select`](super::Select)
/// across selects.
pub(crate) trait OrderBuf {
    /// `n` slots holding a permutation of `0..n` (any one).
    fn perm(&mut self, n: usize) -> &mut [u32];
}

/// The most arms a select macro accepts.
pub(crate) const MAX_ARMS: usize = 64;

impl<const N: usize> OrderBuf for [u32; N] {
    fn perm(&mut self, n: usize) -> &mut [u32] {
        assert!(n <= N, "a select macro has at most {N} arms");
        // A fresh array on every select: set it up.
        for (i, slot) in self[..n].iter_mut().enumerate() {
            *slot = i as u32;
        }
        &mut self[..n]
    }
}

impl OrderBuf for Vec<u32> {
    fn perm(&mut self, n: usize) -> &mut [u32] {
        // Kept across selects: shuffling a permutation leaves one, so it
        // needs setting up only when the number of arms changes.
        if self.len() != n {
            self.clear();
            self.extend(0..n as u32);
        }
        &mut self[..]
    }
}

/// A uniformly random permutation (Fisher–Yates), or source order.
fn order(buf: &mut impl OrderBuf, n: usize, biased: bool) -> &[u32] {
    let idx = buf.perm(n);
    if biased {
        for (i, slot) in idx.iter_mut().enumerate() {
            *slot = i as u32;
        }
    } else {
        for i in (1..n).rev() {
            idx.swap(i, random(i + 1));
        }
    }
    idx
}

/// Phase 1. Tries the arms in a uniformly random order (source order
/// when biased) and stops at the first that fires: Go's rule, uniform
/// among the ready arms. The order is drawn lazily (Fisher–Yates, one
/// random draw per arm looked at), and an arm is tried only if its
/// lock-free hint says it might be ready, so with `k` of `n` arms ready
/// about `n / (k + 1)` channels are looked at, and none is locked in vain.
fn try_phase<A: Arm + ?Sized>(
    arms: &mut [impl DerefMut<Target = A>],
    biased: bool,
    waits: bool,
    mut cx: Option<&mut TaskCx<'_>>,
    buf: &mut impl OrderBuf,
) -> Option<usize> {
    let mut fire = |a: &mut A| match cx.as_deref_mut() {
        Some(cx) => a.poll_fire(cx, waits),
        None => a.try_fire(waits),
    };
    if biased {
        return (0..arms.len()).find(|&i| {
            let a = &mut *arms[i];
            a.candidate() && fire(a)
        });
    }
    let n = arms.len();
    let idx = buf.perm(n);
    for i in 0..n {
        idx.swap(i, i + random(n - i));
        let a = &mut *arms[idx[i] as usize];
        if a.candidate() && fire(a) {
            return Some(idx[i] as usize);
        }
    }
    None
}

fn unregister_all<A: Arm + ?Sized>(arms: &mut [impl DerefMut<Target = A>]) {
    for a in arms.iter_mut() {
        a.unregister();
    }
}

/// Phase 2: registers every enabled arm in random order; stops early at
/// the first that is not simply linked.
fn register_all<A: Arm + ?Sized>(
    arms: &mut [impl DerefMut<Target = A>],
    token: &Token,
    offer: bool,
    waits: bool,
    waker: Option<&Waker>,
    buf: &mut impl OrderBuf,
) -> Option<(usize, Reg)> {
    let n = arms.len();
    for &i in order(buf, n, false) {
        let i = i as usize;
        if !arms[i].enabled() {
            continue;
        }
        match arms[i].register(&Registrar { token, arm: i, offer, waker, waits }) {
            Reg::Linked => {}
            r => return Some((i, r)),
        }
    }
    None
}

fn first_polled_ready<A: Arm + ?Sized>(arms: &[impl DerefMut<Target = A>]) -> Option<usize> {
    arms.iter().position(|a| a.enabled() && a.polled_ready())
}

/// A peer completed or notified arm `o`'s operation: collect it and clean
/// up; the winning arm, or `None` to start over.
fn finish<A: Arm + ?Sized>(arms: &mut [impl DerefMut<Target = A>], o: Outcome, waits: bool) -> Option<usize> {
    let w = match o {
        Outcome::Done(w) | Outcome::Notified(w) => w,
    };
    let done = arms[w].collect(Completion(o));
    unregister_all(arms);
    (done || arms[w].try_fire(waits)).then_some(w)
}

/// A select with `default` whose first pass found nothing ready: the
/// hints were read one after another, not at one instant. Registering
/// every arm (each checked under its channel's lock) and then aborting the
/// token decides at one instant, the abort: an arm that became ready after
/// its registration claimed the token first. `Some(None)`: `default`;
/// `Some(Some(i))`: arm `i` won after all; `None`: start over (a peer's
/// notification was taken by someone else).
fn settle_default<A: Arm + ?Sized>(
    arms: &mut [impl DerefMut<Target = A>],
    token: &Token,
    waker: Option<&Waker>,
    buf: &mut impl OrderBuf,
) -> Option<Option<usize>> {
    // The whole attempt happens inside this call, so arms may let peers
    // take or hand over values directly (`offer`).
    let o = match register_all(arms, token, true, false, waker, buf) {
        Some((i, Reg::Fired)) => {
            unregister_all(arms);
            return Some(Some(i));
        }
        Some((_, Reg::Retry)) => {
            unregister_all(arms);
            return None;
        }
        Some((_, _)) => token.wait_outcome(),
        None if token.try_abort() => {
            unregister_all(arms);
            return Some(None);
        }
        None => token.wait_outcome(),
    };
    finish(arms, o, false).map(Some)
}

/// How a blocking select ended.
pub(crate) enum Ended {
    Arm(usize),
    Default,
    Timeout,
}

/// Runs a select on the current thread (parks it). `deadline`: give up
/// then (for the `*_timeout_blocking` operations). `what`: how leak
/// reports show the thread while it waits.
pub(crate) fn run_blocking<A: Arm + ?Sized>(
    arms: &mut [impl DerefMut<Target = A>],
    has_default: bool,
    biased: bool,
    deadline: Option<Instant>,
    buf: &mut impl OrderBuf,
    what: Blocked,
) -> Ended {
    let mut note = None;
    let token = Token::new();
    let wake_at = arms.iter().filter(|a| a.enabled()).filter_map(|a| a.deadline()).chain(deadline).min();
    loop {
        if let Some(i) = try_phase(arms, biased, !has_default, None, buf) {
            return Ended::Arm(i);
        }
        if has_default {
            token.arm_thread();
            match settle_default(arms, &token, None, buf) {
                Some(Some(i)) => return Ended::Arm(i),
                Some(None) => return Ended::Default,
                None => continue,
            }
        }
        if !arms.iter().any(|a| a.enabled() && a.needs_registration()) {
            let mut backoff = Backoff::new();
            for _ in 0..SPIN_BEFORE_REGISTERING {
                backoff.snooze();
                if arms.iter().any(|a| a.enabled() && a.maybe_ready())
                    && let Some(i) = try_phase(arms, biased, true, None, buf)
                {
                    return Ended::Arm(i);
                }
            }
        }
        if note.is_none() {
            note = Some(crate::leak::note_at(what));
        }
        token.arm_thread();
        let o = match register_all(arms, &token, true, true, None, buf) {
            Some((i, Reg::Fired)) => {
                unregister_all(arms);
                return Ended::Arm(i);
            }
            Some((_, Reg::Retry)) => {
                unregister_all(arms);
                continue;
            }
            Some((_, _)) => token.wait_outcome(),
            None => match token.wait_blocking(wake_at, || first_polled_ready(arms).is_some()) {
                Waited::Outcome(o) => o,
                Waited::Ready | Waited::Timeout => match token.abort_or_outcome() {
                    Some(o) => o,
                    None => {
                        unregister_all(arms);
                        if let Some(i) = first_polled_ready(arms)
                            && arms[i].try_fire(true)
                        {
                            return Ended::Arm(i);
                        }
                        if deadline.is_some_and(|d| clock::now() >= d) {
                            return Ended::Timeout;
                        }
                        continue;
                    }
                },
            },
        };
        if let Some(w) = finish(arms, o, true) {
            return Ended::Arm(w);
        }
    }
}

/// Spin rounds (see [`Backoff`]) before a blocking select registers.
const SPIN_BEFORE_REGISTERING: u32 = 7;

/// The state of an async select between polls. Its token is pointed at by
/// the arms' waiter nodes, so it must not move while registered: the
/// future that holds it is `!Unpin`.
#[doc(hidden)]
pub struct SelectState {
    token: Token,
    registered: bool,
    /// What a task waiting in this select is blocked on (leak reports).
    what: Blocked,
    _pinned: PhantomPinned,
}

/// What a select waits for, in leak reports.
pub(crate) const SELECTING: &str = "in a select";

impl SelectState {
    /// A select that leak reports show as `what`.
    pub(crate) fn new(what: Blocked) -> Self {
        SelectState { token: Token::new(), registered: false, what, _pinned: PhantomPinned }
    }

    /// Polls the select. `Ready(None)` means `default`.
    ///
    /// The caller must not move `self` between a `Pending` return and the
    /// next poll or [`cancel`](SelectState::cancel) (it is pinned).
    pub(crate) fn poll<A: Arm + ?Sized>(
        &mut self,
        arms: &mut [impl DerefMut<Target = A>],
        has_default: bool,
        biased: bool,
        cx: &mut TaskCx<'_>,
        buf: &mut impl OrderBuf,
    ) -> Poll<Option<usize>> {
        if self.registered {
            let has_futures = arms.iter().any(|a| a.enabled() && a.needs_poll());
            let o = match self.token.poll(cx.waker()) {
                Some(o) => o,
                // A future arm may have woken us: look at it only once the
                // token is ours (no peer can complete another arm then),
                // and start over.
                None => {
                    // A `done`/`after`/`tick` arm may be ready, or a future
                    // arm may have woken us (it can be looked at only once
                    // the token is ours: no peer completes another arm then).
                    let polled = first_polled_ready(arms);
                    if polled.is_none() && !has_futures {
                        for a in arms.iter_mut().filter(|a| a.enabled()) {
                            a.rewake(cx.waker());
                        }
                        crate::leak::pending(self.what);
                        return Poll::Pending;
                    }
                    match self.token.abort_or_outcome() {
                        Some(o) => o,
                        None => {
                            self.registered = false;
                            unregister_all(arms);
                            if let Some(i) = polled
                                && arms[i].try_fire(true)
                            {
                                return Poll::Ready(Some(i));
                            }
                            return self.poll_fresh(arms, has_default, biased, cx, buf);
                        }
                    }
                }
            };
            self.registered = false;
            if let Some(w) = finish(arms, o, true) {
                return Poll::Ready(Some(w));
            }
        }
        self.poll_fresh(arms, has_default, biased, cx, buf)
    }

    /// A new attempt: try every arm, then register and wait.
    fn poll_fresh<A: Arm + ?Sized>(
        &mut self,
        arms: &mut [impl DerefMut<Target = A>],
        has_default: bool,
        biased: bool,
        cx: &mut TaskCx<'_>,
        buf: &mut impl OrderBuf,
    ) -> Poll<Option<usize>> {
        loop {
            if let Some(i) = try_phase(arms, biased, !has_default, Some(&mut *cx), buf) {
                return Poll::Ready(Some(i));
            }
            if has_default {
                self.token.arm_task(cx.waker());
                match settle_default(arms, &self.token, Some(cx.waker()), buf) {
                    Some(w) => return Poll::Ready(w),
                    None => continue,
                }
            }
            self.token.arm_task(cx.waker());
            let o = match register_all(arms, &self.token, false, true, Some(cx.waker()), buf) {
                None => {
                    self.registered = true;
                    crate::leak::pending(self.what);
                    return Poll::Pending;
                }
                Some((i, Reg::Fired)) => {
                    unregister_all(arms);
                    return Poll::Ready(Some(i));
                }
                Some((_, Reg::Retry)) => {
                    unregister_all(arms);
                    continue;
                }
                Some((_, _)) => self.token.wait_outcome(),
            };
            if let Some(w) = finish(arms, o, true) {
                return Poll::Ready(Some(w));
            }
        }
    }

    /// Cancels a pending select (its future is dropped): either no arm
    /// completed (then nothing happened), or a peer completed or notified
    /// one, and what it gave is passed on.
    pub(crate) fn cancel<A: Arm + ?Sized>(&mut self, arms: &mut [impl DerefMut<Target = A>]) {
        if !std::mem::take(&mut self.registered) {
            return;
        }
        let Some(o) = self.token.abort_or_outcome() else {
            unregister_all(arms);
            return;
        };
        let w = match o {
            Outcome::Done(w) | Outcome::Notified(w) => w,
        };
        arms[w].collect(Completion(o));
        unregister_all(arms);
        arms[w].abandon();
    }
}
