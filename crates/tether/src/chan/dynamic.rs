//! [`Select`]: a select over any number of operations, chosen at run time
//! (Go's `reflect.Select`, crossbeam's `Select`) — for fan-in over N
//! workers, or any set of channels known only at run time.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

use super::arms::{RecvArm, SendArm};
use super::polled::{AfterArm, DoneArm};
use super::select::{Arm, Ended, SELECTING, SelectState, run_blocking};
use crate::leak::Blocked;

/// `try_select` never waits: its note is never shown.
const SELECT_UNKNOWN: Blocked = Blocked::new(SELECTING, None);
use super::{Receiver, RecvError, SendError, Sender};
use crate::ctx::Context;

/// An arm whose result can be handed out by type.
trait DynArm: Arm {
    /// Moves the arm's result into `out` (an `Option` of the result type);
    /// false if `out` is of another type.
    fn take_result(&mut self, out: &mut dyn Any) -> bool;
    /// Drops a result nobody took.
    fn discard_result(&mut self) {
        let _ = self.take_result(&mut ());
    }
}

impl<T: 'static> DynArm for RecvArm<'_, T> {
    fn discard_result(&mut self) {
        self.discard();
    }

    fn take_result(&mut self, out: &mut dyn Any) -> bool {
        match out.downcast_mut::<Option<Result<T, RecvError>>>() {
            Some(slot) => {
                *slot = Some(self.take());
                true
            }
            None => false,
        }
    }
}

impl<T: 'static> DynArm for SendArm<'_, T> {
    fn discard_result(&mut self) {
        self.discard();
    }

    fn take_result(&mut self, out: &mut dyn Any) -> bool {
        match out.downcast_mut::<Option<Result<(), SendError<T>>>>() {
            Some(slot) => {
                *slot = Some(self.take());
                true
            }
            None => false,
        }
    }
}

impl DynArm for DoneArm<'_> {
    fn take_result(&mut self, out: &mut dyn Any) -> bool {
        out.downcast_mut::<Option<()>>().map(|s| *s = Some(())).is_some()
    }
}

impl DynArm for AfterArm {
    fn take_result(&mut self, out: &mut dyn Any) -> bool {
        out.downcast_mut::<Option<()>>().map(|s| *s = Some(())).is_some()
    }
}

/// A select over a list of operations built at run time: any number of
/// `recv`, `send`, `done` and `after` arms, with Go's rules (exactly one
/// operation completes; among several ready ones, one is chosen uniformly
/// at random; a closed channel's `recv` is ready).
///
/// Build it once and select on it as often as you like: each call to
/// [`select_blocking`](Select::select_blocking), [`select`](Select::select)
/// or [`try_select`](Select::try_select) completes one operation and
/// returns a [`Selected`] saying which, with its result. Adding arms
/// allocates (a box per arm); selecting allocates nothing.
///
/// Fan-in over any number of workers, stopping each input as it closes
/// (Go's `cases[i].Chan = reflect.Value{}`):
///
/// ```
/// use tether::chan::{self, Select};
///
/// let inputs: Vec<_> = (0..100u64)
///     .map(|i| {
///         let (tx, rx) = chan::bounded(1);
///         std::thread::spawn(move || tx.send_blocking(i).unwrap());
///         rx
///     })
///     .collect();
/// let mut sel = Select::new();
/// for rx in &inputs {
///     sel.recv(rx);
/// }
/// let (mut sum, mut open) = (0, inputs.len());
/// while open > 0 {
///     let op = sel.select_blocking();
///     let i = op.index();
///     match op.recv::<u64>() {
///         Ok(v) => sum += v,
///         Err(_) => {
///             sel.remove(i);
///             open -= 1;
///         }
///     }
/// }
/// assert_eq!(sum, (0..100).sum());
/// ```
///
/// # Costs
///
/// A select first reads each enabled arm's lock-free readiness hint (one
/// load per arm, no lock, no random draw) and draws one random number per
/// arm that looks ready; only the chosen arm takes its channel's lock.
/// Waiting registers one recycled node per channel arm.
pub struct Select<'a> {
    arms: Vec<Box<dyn DynArm + Send + 'a>>,
    biased: bool,
    order: Vec<u32>,
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select").field("arms", &self.arms.len()).field("biased", &self.biased).finish()
    }
}

impl<'a> Select<'a> {
    /// An empty select.
    pub fn new() -> Select<'a> {
        Select { arms: Vec::new(), biased: false, order: Vec::new() }
    }

    /// Tries ready arms in the order they were added (the first ready one
    /// wins) instead of at random: for priorities; it can starve later arms
    /// under load.
    pub fn biased(mut self) -> Self {
        self.biased = true;
        self
    }

    fn push(&mut self, arm: Box<dyn DynArm + Send + 'a>) -> usize {
        self.arms.push(arm);
        self.arms.len() - 1
    }

    /// Adds a receive from `rx`; returns the arm's index. Its result is
    /// [`Selected::recv`]: `Ok(value)`, or `Err(Closed)` once the channel is
    /// closed and drained (after which the arm stays ready: remove it).
    pub fn recv<T: Send + 'static>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.push(Box::new(RecvArm::new(Some(&*rx.chan))))
    }

    /// Adds a send of `value` on `tx`; returns the arm's index. Its result is
    /// [`Selected::send`]. Once it has completed the arm is spent (disabled);
    /// add a new one to send again. If another arm completes first, the
    /// value stays in the select (dropped with it, or by [`remove`](Select::remove)).
    pub fn send<T: Send + 'static>(&mut self, tx: &'a Sender<T>, value: T) -> usize {
        self.push(Box::new(SendArm::new(Some(&*tx.chan), value)))
    }

    /// Adds an arm that is ready once `ctx` is done; returns its index.
    pub fn done(&mut self, ctx: &'a Context) -> usize {
        self.push(Box::new(DoneArm::new(Some(ctx))))
    }

    /// Adds an arm that is ready from `at` on (tether's clock); returns its
    /// index. It stays ready afterwards.
    pub fn deadline(&mut self, at: Instant) -> usize {
        self.push(Box::new(AfterArm::new(Some(at))))
    }

    /// Adds an arm that is ready `d` from now (now = when it is added, as
    /// Go's `time.After(d)` in a select case); returns its index.
    pub fn after(&mut self, d: Duration) -> usize {
        self.deadline(crate::clock::deadline_after(d))
    }

    /// Disables arm `index` for good (Go: setting a case's channel to nil);
    /// indices of the other arms do not change. A pending send's value is
    /// dropped.
    pub fn remove(&mut self, index: usize) {
        self.arms[index] = Box::new(AfterArm::new(None));
    }

    /// The number of arms added (removed ones included).
    pub fn len(&self) -> usize {
        self.arms.len()
    }

    /// True if no arm was added.
    pub fn is_empty(&self) -> bool {
        self.arms.is_empty()
    }

    fn selected(&mut self, index: usize) -> Selected<'_, 'a> {
        Selected { index, sel: self }
    }

    /// Completes one ready operation if there is one now; `None` otherwise
    /// (Go's `select` with `default`).
    pub fn try_select(&mut self) -> Option<Selected<'_, 'a>> {
        match run_blocking(&mut self.arms, true, self.biased, None, &mut self.order, SELECT_UNKNOWN) {
            Ended::Arm(i) => Some(self.selected(i)),
            _ => None,
        }
    }

    /// Parks the thread until one operation completes. With no enabled
    /// arm it waits forever (Go's `select {}`).
    #[track_caller]
    pub fn select_blocking(&mut self) -> Selected<'_, 'a> {
        let what = Blocked::new(SELECTING, Some(std::panic::Location::caller()));
        match run_blocking(&mut self.arms, false, self.biased, None, &mut self.order, what) {
            Ended::Arm(i) => self.selected(i),
            _ => unreachable!("a select without default or deadline only ends in an arm"),
        }
    }

    /// Like [`select_blocking`](Select::select_blocking), giving up after
    /// `timeout` (tether's clock).
    #[track_caller]
    pub fn select_timeout_blocking(&mut self, timeout: Duration) -> Option<Selected<'_, 'a>> {
        let deadline = crate::clock::deadline_after(timeout);
        let what = Blocked::new(SELECTING, Some(std::panic::Location::caller()));
        match run_blocking(&mut self.arms, false, self.biased, Some(deadline), &mut self.order, what) {
            Ended::Arm(i) => Some(self.selected(i)),
            _ => None,
        }
    }

    /// Waits (asynchronously) until one operation completes.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use tether::chan::{self, Select};
    /// let (tx, rx) = chan::bounded::<&str>(1);
    /// let (_tx2, rx2) = chan::bounded::<u8>(1);
    /// tx.send("ready").await.unwrap();
    /// let mut sel = Select::new();
    /// let a = sel.recv(&rx);
    /// sel.recv(&rx2);
    /// let op = sel.select().await;
    /// assert_eq!(op.index(), a);
    /// assert_eq!(op.recv::<&str>(), Ok("ready"));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`select!`](crate::select): dropped before it completes, no
    /// operation happened and no value is lost.
    #[track_caller]
    pub fn select(&mut self) -> SelectFuture<'_, 'a> {
        let what = Blocked::new(SELECTING, Some(std::panic::Location::caller()));
        SelectFuture { sel: Some(self), state: SelectState::new(what), _pinned: PhantomPinned }
    }
}

/// The future of [`Select::select`]. `!Unpin` (it is pinned by `.await`).
#[must_use = "futures do nothing unless awaited"]
pub struct SelectFuture<'s, 'a> {
    sel: Option<&'s mut Select<'a>>,
    state: SelectState,
    _pinned: PhantomPinned,
}

impl fmt::Debug for SelectFuture<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SelectFuture")
    }
}

impl<'s, 'a> Future for SelectFuture<'s, 'a> {
    type Output = Selected<'s, 'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Selected<'s, 'a>> {
        // SAFETY: the token inside `state` is never moved out; `sel` is a
        // plain reference.
        let this = unsafe { self.get_unchecked_mut() };
        let sel = this.sel.as_mut().expect("tether::chan::SelectFuture polled after completion");
        match this.state.poll(&mut sel.arms, false, sel.biased, cx, &mut sel.order) {
            Poll::Ready(Some(i)) => {
                let sel = this.sel.take().expect("checked above");
                Poll::Ready(Selected { index: i, sel })
            }
            Poll::Ready(None) => unreachable!("a select without default only ends in an arm"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for SelectFuture<'_, '_> {
    fn drop(&mut self) {
        if let Some(sel) = self.sel.as_mut() {
            self.state.cancel(&mut sel.arms);
        }
    }
}

/// The operation a [`Select`] completed: its index, and its result.
#[must_use = "the completed operation's result is in here"]
pub struct Selected<'s, 'a> {
    index: usize,
    sel: &'s mut Select<'a>,
}

/// A completed operation whose result was not asked for is done all the
/// same: a received value is dropped here (as if received and ignored),
/// never left in the arm where a later cancellation would put it back.
impl Drop for Selected<'_, '_> {
    fn drop(&mut self) {
        self.sel.arms[self.index].discard_result();
    }
}

impl fmt::Debug for Selected<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selected").field("index", &self.index).finish()
    }
}

impl Selected<'_, '_> {
    /// The index of the completed arm (as returned when it was added).
    pub fn index(&self) -> usize {
        self.index
    }

    fn result<R: 'static>(self, what: &str) -> R {
        let mut out: Option<R> = None;
        let arm = &mut self.sel.arms[self.index];
        assert!(
            arm.take_result(&mut out),
            "tether::chan::Selected::{what}: arm {} is not a {what} of this value type",
            self.index
        );
        out.expect("a completed arm has a result")
    }

    /// The result of a completed `recv` arm.
    ///
    /// # Errors
    ///
    /// `Err(RecvError::Closed)` if the arm completed because its channel is
    /// closed and drained (a closed channel's `recv` is always ready).
    ///
    /// # Panics
    ///
    /// If the arm is not a `recv` of a `Receiver<T>`.
    pub fn recv<T: 'static>(self) -> Result<T, RecvError> {
        self.result("recv")
    }

    /// The result of a completed `send` arm (the value is handed back if
    /// the channel was closed).
    ///
    /// # Errors
    ///
    /// `Err(SendError(v))` if the arm completed because its channel is
    /// closed (by a sender, or because every receiver is gone); `v` is the
    /// value given to [`Select::send`].
    ///
    /// # Panics
    ///
    /// If the arm is not a `send` on a `Sender<T>`.
    pub fn send<T: 'static>(self) -> Result<(), SendError<T>> {
        self.result("send")
    }

    /// Confirms a completed `done` or `after` arm.
    ///
    /// # Panics
    ///
    /// If the arm is a `recv` or a `send`.
    pub fn ready(self) {
        self.result::<()>("done or after arm")
    }
}
