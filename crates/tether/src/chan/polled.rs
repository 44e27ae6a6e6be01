//! The arms that wait on something other than a channel: `done(ctx)`,
//! `after(d)`, `tick(ticker)` and `fut(future)`. None of them claims the
//! select's token: what they wait for wakes the select's owner instead,
//! who then takes them by aborting the token (so exactly one arm still
//! completes).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Instant;

use super::select::{Arm, Reg, Registrar};
use crate::clock::{self, TimerId};
use crate::ctx::{Context, Scope};
use crate::sync_impl::Arc;
use crate::time::Ticker;
use crate::waiter::Wake;

/// A `done(ctx)` arm: ready once the context is done. It does not claim
/// the select's token: the context wakes the owner, who then takes it.
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

impl Arm for DoneArm<'_> {
    fn enabled(&self) -> bool {
        self.scope.is_some()
    }

    fn try_fire(&mut self, _waits: bool) -> bool {
        self.polled_ready()
    }

    fn maybe_ready(&self) -> bool {
        self.polled_ready()
    }

    fn register(&mut self, r: &Registrar<'_>) -> Reg {
        let Some(scope) = self.scope else { return Reg::Linked };
        let wake = match r.waker {
            Some(w) => Wake::Task(w.clone()),
            None => Wake::current_thread(),
        };
        match scope.register(wake) {
            Some(key) => {
                self.key = Some(key);
                Reg::Linked
            }
            None if r.token.try_abort() => Reg::Fired,
            None => Reg::Claimed,
        }
    }

    fn unregister(&mut self) {
        if let (Some(scope), Some(key)) = (self.scope, self.key.take()) {
            scope.unregister(key);
        }
    }

    fn polled_ready(&self) -> bool {
        self.scope.is_some_and(|s| s.is_done())
    }

    fn rewake(&mut self, waker: &Waker) {
        if let Some(scope) = self.scope
            && !scope.register_task(&mut self.key, waker)
        {
            // Done meanwhile: the cancel woke the previous waker, which may
            // belong to another task now. Poll again.
            waker.wake_by_ref();
        }
    }
}

/// An async select's timer for an arm that becomes ready at an instant:
/// it wakes the select's task then (tether's clock, so it works on any
/// executor and on virtual time).
#[derive(Default)]
struct Alarm {
    timer: Option<(TimerId, Waker)>,
}

impl Alarm {
    fn set(&mut self, at: Instant, waker: &Waker) {
        self.cancel();
        let w = waker.clone();
        self.timer = Some((clock::add_timer(at, move || w.wake()), waker.clone()));
    }

    fn cancel(&mut self) {
        if let Some((id, _)) = self.timer.take() {
            clock::cancel_timer(id);
        }
    }

    /// The task's waker changed: move the timer to it.
    fn rewake(&mut self, at: Option<Instant>, waker: &Waker) {
        if let (Some(at), Some((_, w))) = (at, &self.timer)
            && !w.will_wake(waker)
        {
            self.set(at, waker);
        }
    }
}

/// Registers a polled arm that becomes ready at `at`.
fn register_at(at: Option<Instant>, alarm: &mut Alarm, r: &Registrar<'_>) -> Reg {
    let Some(at) = at else { return Reg::Linked };
    if clock::now() >= at {
        return if r.token.try_abort() { Reg::Fired } else { Reg::Claimed };
    }
    if let Some(w) = r.waker {
        alarm.set(at, w);
    }
    Reg::Linked
}

/// An `after(d)` arm: ready once tether's clock reaches the deadline
/// (fixed when the select starts, as Go's `time.After` in a select).
#[doc(hidden)]
pub struct AfterArm {
    deadline: Option<Instant>,
    alarm: Alarm,
}

impl AfterArm {
    pub(crate) fn new(deadline: Option<Instant>) -> Self {
        AfterArm { deadline, alarm: Alarm::default() }
    }
}

impl Arm for AfterArm {
    fn enabled(&self) -> bool {
        self.deadline.is_some()
    }

    fn try_fire(&mut self, _waits: bool) -> bool {
        self.polled_ready()
    }

    fn maybe_ready(&self) -> bool {
        self.polled_ready()
    }

    fn register(&mut self, r: &Registrar<'_>) -> Reg {
        register_at(self.deadline, &mut self.alarm, r)
    }

    fn unregister(&mut self) {
        self.alarm.cancel();
    }

    fn polled_ready(&self) -> bool {
        self.deadline.is_some_and(|d| clock::now() >= d)
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn rewake(&mut self, waker: &Waker) {
        self.alarm.rewake(self.deadline, waker);
    }
}

/// A `tick(ticker)` arm: ready once the ticker's next tick is due; firing
/// takes that tick (with the ticker's missed-tick policy). A stopped ticker
/// is never ready.
#[doc(hidden)]
pub struct TickArm<'a> {
    ticker: Option<&'a mut Ticker>,
    alarm: Alarm,
    tick: Option<Instant>,
}

impl<'a> TickArm<'a> {
    pub(crate) fn new(ticker: Option<&'a mut Ticker>) -> Self {
        TickArm { ticker, alarm: Alarm::default(), tick: None }
    }

    /// The instant of the tick taken.
    ///
    /// # Panics
    ///
    /// If the arm has not completed, or its result was already taken. The
    /// select macros take it exactly once, from the arm that won.
    pub fn take(&mut self) -> Instant {
        self.tick.take().expect("tether: a select arm's result was taken twice")
    }

    fn next(&self) -> Option<Instant> {
        self.ticker.as_ref().and_then(|t| t.next_tick())
    }
}

impl Arm for TickArm<'_> {
    fn enabled(&self) -> bool {
        self.ticker.is_some()
    }

    fn try_fire(&mut self, _waits: bool) -> bool {
        self.tick = self.ticker.as_mut().and_then(|t| t.try_tick());
        self.tick.is_some()
    }

    fn maybe_ready(&self) -> bool {
        self.polled_ready()
    }

    fn register(&mut self, r: &Registrar<'_>) -> Reg {
        match register_at(self.next(), &mut self.alarm, r) {
            Reg::Fired if !self.try_fire(true) => Reg::Retry,
            reg => reg,
        }
    }

    fn unregister(&mut self) {
        self.alarm.cancel();
    }

    fn polled_ready(&self) -> bool {
        self.next().is_some_and(|at| clock::now() >= at)
    }

    fn deadline(&self) -> Option<Instant> {
        self.next()
    }

    fn rewake(&mut self, waker: &Waker) {
        self.alarm.rewake(self.next(), waker);
    }
}

/// A `fut(future)` arm of an async select: ready once the future is. It is
/// polled only while the select owns its token (see `Arm::needs_poll`), so
/// a completed future's output always becomes the select's result. The
/// macro pins it in place; it is used through `Pin<&mut FutArm<F>>`.
#[doc(hidden)]
pub struct FutArm<F: Future> {
    fut: Option<F>,
    out: Option<F::Output>,
}

impl<F: Future> FutArm<F> {
    pub(crate) fn new(fut: F, enabled: bool) -> Self {
        FutArm { fut: enabled.then_some(fut), out: None }
    }
}

impl<F: Future> FutArm<F> {
    /// The future's output, once the arm won.
    ///
    /// # Panics
    ///
    /// If the arm has not completed, or its result was already taken. The
    /// select macros take it exactly once, from the arm that won.
    pub fn take(self: Pin<&mut Self>) -> F::Output {
        // SAFETY: `out` is not structurally pinned.
        unsafe { self.get_unchecked_mut() }.out.take().expect("tether: a select arm's result was taken twice")
    }
}

impl<F: Future> Arm for Pin<&mut FutArm<F>> {
    fn enabled(&self) -> bool {
        self.fut.is_some()
    }

    fn try_fire(&mut self, _waits: bool) -> bool {
        false
    }

    fn maybe_ready(&self) -> bool {
        false
    }

    fn register(&mut self, _r: &Registrar<'_>) -> Reg {
        // Polled in the try phase with the task's context, so its waker is
        // registered with whatever it waits on.
        Reg::Linked
    }

    fn unregister(&mut self) {}

    fn needs_poll(&self) -> bool {
        true
    }

    fn poll_fire(&mut self, cx: &mut TaskCx<'_>, _waits: bool) -> bool {
        // SAFETY: `fut` is structurally pinned: it is never moved out while
        // `Some`, and is dropped in place (set to `None`) once complete.
        let this = unsafe { self.as_mut().get_unchecked_mut() };
        let Some(fut) = this.fut.as_mut() else { return false };
        // SAFETY: as above; the `FutArm` itself is pinned (we are behind
        // `Pin<&mut>`).
        match unsafe { Pin::new_unchecked(fut) }.poll(cx) {
            Poll::Ready(v) => {
                this.fut = None;
                this.out = Some(v);
                true
            }
            Poll::Pending => false,
        }
    }
}
