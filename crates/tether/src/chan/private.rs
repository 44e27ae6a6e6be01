//! The glue the select macros expand to: operand traits (what each arm
//! accepts), arm constructors, and the two runners. Not a public API.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

pub use super::polled::{AfterArm, DoneArm, FutArm, TickArm};
pub use super::recv::RecvArm;
pub use super::select::{Arm, Completion, Reg, Registrar};
use super::select::{Ended, MAX_ARMS, SelectState, run_blocking};
pub use super::send::SendArm;
use super::{Receiver, Sender};
use crate::ctx::Context;
use crate::time::Ticker;

/// What `recv(...)` accepts: a receiver, a reference to one, or an
/// `Option` of either (`None` disables the arm).
#[diagnostic::on_unimplemented(
    message = "`recv(...)` in a select takes a `tether::chan::Receiver<T>`, not `{Self}`",
    label = "expected a `Receiver<T>`, a `&Receiver<T>`, or an `Option` of one (`None` disables the arm)",
    note = "to wait on any other future in `tether::select!`, write `fut(the_future) -> output => ...`"
)]
pub trait RecvOperand {
    /// The value type.
    type Item;
    /// The receiver, if the arm is enabled.
    fn receiver(&self) -> Option<&Receiver<Self::Item>>;
}
impl<T> RecvOperand for Receiver<T> {
    type Item = T;
    fn receiver(&self) -> Option<&Receiver<T>> {
        Some(self)
    }
}
impl<R: RecvOperand + ?Sized> RecvOperand for &R {
    type Item = R::Item;
    fn receiver(&self) -> Option<&Receiver<R::Item>> {
        (**self).receiver()
    }
}
impl<R: RecvOperand> RecvOperand for Option<R> {
    type Item = R::Item;
    fn receiver(&self) -> Option<&Receiver<R::Item>> {
        self.as_ref().and_then(|r| r.receiver())
    }
}

/// What `send(...)` accepts: a sender, a reference to one, or an
/// `Option` of either (`None` disables the arm).
#[diagnostic::on_unimplemented(
    message = "`send(...)` in a select takes a `tether::chan::Sender<T>` and a value, not `{Self}`",
    label = "expected a `Sender<T>`, a `&Sender<T>`, or an `Option` of one (`None` disables the arm)"
)]
pub trait SendOperand {
    /// The value type.
    type Item;
    /// The sender, if the arm is enabled.
    fn sender(&self) -> Option<&Sender<Self::Item>>;
}
impl<T> SendOperand for Sender<T> {
    type Item = T;
    fn sender(&self) -> Option<&Sender<T>> {
        Some(self)
    }
}
impl<S: SendOperand + ?Sized> SendOperand for &S {
    type Item = S::Item;
    fn sender(&self) -> Option<&Sender<S::Item>> {
        (**self).sender()
    }
}
impl<S: SendOperand> SendOperand for Option<S> {
    type Item = S::Item;
    fn sender(&self) -> Option<&Sender<S::Item>> {
        self.as_ref().and_then(|s| s.sender())
    }
}

/// What `done(...)` accepts: a context, a reference to one, or an
/// `Option` of either (`None` disables the arm).
#[diagnostic::on_unimplemented(
    message = "`done(...)` in a select takes a `tether::Context`, not `{Self}`",
    label = "expected a `Context`, a `&Context`, or an `Option` of one (`None` disables the arm)"
)]
pub trait CtxOperand {
    /// The context, if the arm is enabled.
    fn context(&self) -> Option<&Context>;
}
impl CtxOperand for Context {
    fn context(&self) -> Option<&Context> {
        Some(self)
    }
}
impl<C: CtxOperand + ?Sized> CtxOperand for &C {
    fn context(&self) -> Option<&Context> {
        (**self).context()
    }
}
impl<C: CtxOperand> CtxOperand for Option<C> {
    fn context(&self) -> Option<&Context> {
        self.as_ref().and_then(|c| c.context())
    }
}

/// What `after(...)` accepts: a `Duration`, or an `Option` of one.
#[diagnostic::on_unimplemented(
    message = "`after(...)` in a select takes a `std::time::Duration`, not `{Self}`",
    label = "expected a `Duration`, or an `Option<Duration>` (`None` disables the arm)",
    note = "for a deadline (an `Instant`), write `after(deadline.saturating_duration_since(now))`, or use a `done(ctx)` arm on a context `with_deadline`"
)]
pub trait AfterOperand {
    /// The duration, if the arm is enabled.
    fn duration(self) -> Option<Duration>;
}
impl AfterOperand for Duration {
    fn duration(self) -> Option<Duration> {
        Some(self)
    }
}
impl AfterOperand for Option<Duration> {
    fn duration(self) -> Option<Duration> {
        self
    }
}

/// What `tick(...)` accepts: a ticker (borrowed mutably), or an `Option`
/// of one (`None` disables the arm).
#[diagnostic::on_unimplemented(
    message = "`tick(...)` in a select takes a `tether::time::Ticker` (borrowed mutably), not `{Self}`",
    label = "expected a `Ticker` place, a `&mut Ticker`, or an `Option` of one (`None` disables the arm)"
)]
pub trait TickOperand {
    /// The ticker, if the arm is enabled.
    fn ticker(&mut self) -> Option<&mut Ticker>;
}
impl TickOperand for Ticker {
    fn ticker(&mut self) -> Option<&mut Ticker> {
        Some(self)
    }
}
impl<T: TickOperand + ?Sized> TickOperand for &mut T {
    fn ticker(&mut self) -> Option<&mut Ticker> {
        (**self).ticker()
    }
}
impl<T: TickOperand> TickOperand for Option<T> {
    fn ticker(&mut self) -> Option<&mut Ticker> {
        self.as_mut().and_then(|t| t.ticker())
    }
}

pub fn tick_arm<T: TickOperand + ?Sized>(t: &mut T, enabled: bool) -> TickArm<'_> {
    TickArm::new(t.ticker().filter(|_| enabled))
}

pub fn fut_arm<F: std::future::IntoFuture>(f: F, enabled: bool) -> FutArm<F::IntoFuture> {
    FutArm::new(f.into_future(), enabled)
}

pub fn recv_arm<R: RecvOperand + ?Sized>(r: &R, enabled: bool) -> RecvArm<'_, R::Item> {
    RecvArm::new(r.receiver().filter(|_| enabled).map(|r| &*r.chan))
}

pub fn send_arm<S: SendOperand + ?Sized>(s: &S, v: S::Item, enabled: bool) -> SendArm<'_, S::Item> {
    SendArm::new(s.sender().filter(|_| enabled).map(|s| &*s.chan), v)
}

pub fn done_arm<C: CtxOperand + ?Sized>(c: &C, enabled: bool) -> DoneArm<'_> {
    DoneArm::new(c.context().filter(|_| enabled))
}

pub fn after_arm(d: impl AfterOperand, enabled: bool) -> AfterArm {
    AfterArm::new(d.duration().filter(|_| enabled).map(crate::clock::deadline_after))
}

/// The outcome type of each arm kind.
pub trait TakeOut {
    /// What the arm's pattern binds.
    type Out;
    /// Takes the outcome of a won arm.
    fn take_out(&mut self) -> Self::Out;
}
impl<T> TakeOut for RecvArm<'_, T> {
    type Out = Result<T, super::RecvError>;
    fn take_out(&mut self) -> Self::Out {
        self.take()
    }
}
impl<T> TakeOut for SendArm<'_, T> {
    type Out = Result<(), super::SendError<T>>;
    fn take_out(&mut self) -> Self::Out {
        self.take()
    }
}
impl TakeOut for DoneArm<'_> {
    type Out = ();
    fn take_out(&mut self) {}
}
impl TakeOut for AfterArm {
    type Out = ();
    fn take_out(&mut self) {}
}
impl TakeOut for TickArm<'_> {
    type Out = std::time::Instant;
    fn take_out(&mut self) -> std::time::Instant {
        self.take()
    }
}
impl<F: Future> TakeOut for Pin<&mut FutArm<F>> {
    type Out = F::Output;
    fn take_out(&mut self) -> F::Output {
        self.as_mut().take()
    }
}

pub fn take_if<A: TakeOut>(a: &mut A, won: bool) -> Option<A::Out> {
    if won { Some(a.take_out()) } else { None }
}

pub fn unwrap<T>(v: Option<T>) -> T {
    v.expect("tether::select: the winning arm has an outcome")
}

/// Runs a blocking select; `None` = `default`.
#[track_caller]
pub fn select_blocking(arms: &mut [&mut dyn Arm], has_default: bool, biased: bool) -> Option<usize> {
    let what = crate::leak::Blocked::new(super::select::SELECTING, Some(std::panic::Location::caller()));
    match run_blocking(arms, has_default, biased, None, &mut [0u32; MAX_ARMS], what) {
        Ended::Arm(i) => Some(i),
        _ => None,
    }
}

/// The future of an async select; `None` = `default`. `!Unpin`: the
/// select's claim token inside it is pointed at by the arms' waiter nodes
/// while it waits (`.await` pins it).
pub struct MacroSelectFuture<'a, 'b> {
    arms: &'a mut [&'b mut (dyn Arm + Send)],
    has_default: bool,
    biased: bool,
    sel: SelectState,
}

impl<'a, 'b> MacroSelectFuture<'a, 'b> {
    #[track_caller]
    pub fn new(arms: &'a mut [&'b mut (dyn Arm + Send)], has_default: bool, biased: bool) -> Self {
        let what = crate::leak::Blocked::new(super::select::SELECTING, Some(std::panic::Location::caller()));
        MacroSelectFuture { arms, has_default, biased, sel: SelectState::new(what) }
    }
}

impl Future for MacroSelectFuture<'_, '_> {
    type Output = Option<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<usize>> {
        // SAFETY: nothing is moved out of the pinned future: the token in
        // `sel` stays where it is; the other fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        this.sel.poll(this.arms, this.has_default, this.biased, cx, &mut [0u32; MAX_ARMS])
    }
}

impl Drop for MacroSelectFuture<'_, '_> {
    fn drop(&mut self) {
        self.sel.cancel(self.arms);
    }
}
