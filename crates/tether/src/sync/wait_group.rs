//! [`WaitGroup`]: wait for a collection of tasks to finish (Go's
//! `sync.WaitGroup`), for threads and async tasks alike.
//!
//! Invariants (all under one lock, so a loom model covers them):
//! - `counter` is the number of outstanding `done` calls.
//! - When `counter` drops to zero, every registered waiter is taken and
//!   woken and `round` advances; a waiter knows it was released when the
//!   round it registered in is over.
//! - `draining` counts released waiters that have not yet returned; an
//!   `add` that restarts the counter while some remain is the reuse Go
//!   forbids ("WaitGroup is reused before previous Wait has returned").

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use crate::sync_impl::{Arc, Mutex, lock};
use crate::waiter::{self, WaitList, Wake};

/// Waits for a collection of tasks to finish (Go's `sync.WaitGroup`).
///
/// [`add`](WaitGroup::add) the number of tasks before starting them, call
/// [`done`](WaitGroup::done) when each finishes, and
/// [`wait`](WaitGroup::wait) (or [`wait_blocking`](WaitGroup::wait_blocking))
/// until the count is back to zero. Cloning shares the counter, so each
/// task can own a handle. [`go`](WaitGroup::go) does all three for one
/// task, and calls `done` even if the task panics or is aborted.
///
/// ```
/// use tether::sync::WaitGroup;
///
/// let wg = WaitGroup::new();
/// for _ in 0..3 {
///     wg.add(1);
///     let wg = wg.clone();
///     std::thread::spawn(move || {
///         // ... work ...
///         wg.done();
///     });
/// }
/// wg.wait_blocking();
/// ```
///
/// # Misuse
///
/// Go's rules, enforced with panics that name them: calling `done` more
/// often than `add` panics with "WaitGroup counter went negative"; calling
/// `add` on a zero counter while waiters released by the previous round
/// have not all returned from `wait` panics with "WaitGroup is reused
/// before previous Wait has returned".
///
/// For structured work with errors and cancellation, prefer a
/// [`Group`](crate::group::Group).
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    counter: usize,
    round: u64,
    draining: usize,
    waiters: WaitList,
}

impl WaitGroup {
    /// A wait group with a zero counter.
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    /// Adds `n` to the counter (Go's `Add(n)`). Call it before starting
    /// the tasks it counts, so that `wait` cannot miss them.
    ///
    /// # Panics
    ///
    /// "WaitGroup is reused before previous Wait has returned" if the
    /// counter is zero and waiters of the previous round are still
    /// returning; "WaitGroup counter overflowed" past `usize::MAX`.
    pub fn add(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut s = lock(&self.inner);
        if s.counter == 0 && s.draining > 0 {
            drop(s);
            panic!("WaitGroup is reused before previous Wait has returned");
        }
        s.counter = s.counter.checked_add(n).expect("WaitGroup counter overflowed");
    }

    /// Decrements the counter by one (Go's `Done`); at zero, releases
    /// every waiter.
    ///
    /// # Panics
    ///
    /// "WaitGroup counter went negative" if the counter is already zero.
    pub fn done(&self) {
        let mut s = lock(&self.inner);
        if s.counter == 0 {
            drop(s);
            panic!("WaitGroup counter went negative: done() called more times than add()");
        }
        s.counter -= 1;
        if s.counter == 0 && !s.waiters.is_empty() {
            s.round += 1;
            s.draining += s.waiters.len();
            let woken = s.waiters.take_all();
            drop(s);
            woken.wake();
        }
    }

    /// The current counter (for diagnostics; it may change at once).
    pub fn count(&self) -> usize {
        lock(&self.inner).counter
    }

    /// Completes once the counter is zero (Go's `Wait`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future removes its registration (a waiter
    /// released and then dropped counts as having returned).
    pub fn wait(&self) -> Wait<'_> {
        Wait { wg: self, reg: None }
    }

    /// Parks the calling thread until the counter is zero.
    pub fn wait_blocking(&self) {
        let round = {
            let mut s = lock(&self.inner);
            if s.counter == 0 {
                return;
            }
            s.waiters.register(Wake::current_thread());
            s.round
        };
        let _note = crate::leak::note("waiting on a WaitGroup");
        waiter::block_until(|| lock(&self.inner).round != round, None);
        lock(&self.inner).draining -= 1;
    }

    /// Go's `wg.Go(f)`: adds one, spawns `task` (on the ambient tokio
    /// runtime, or its own thread without one), and calls `done` when it
    /// ends — including by panic or abort. The task is registered with the
    /// [`leak`](crate::leak) checker.
    ///
    /// ```
    /// # let rt = tokio::runtime::Runtime::new().unwrap();
    /// # rt.block_on(async {
    /// let wg = tether::sync::WaitGroup::new();
    /// for i in 0..4 {
    ///     wg.go(async move { let _ = i * 2; });
    /// }
    /// wg.wait().await;
    /// # });
    /// ```
    #[track_caller]
    pub fn go<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.add(1);
        let done = DoneGuard(self.clone());
        let reg = crate::task::Registration::lazy("wait group task", None, Location::caller());
        crate::task::spawn_async(
            "wait group task",
            // `done` is called once the task is dropped and deregistered.
            crate::task::Tracked::with_after(task, reg, done),
        );
    }

    /// [`go`](WaitGroup::go) for a blocking closure (tokio's blocking pool
    /// when a runtime is present, else a new thread).
    ///
    /// ```
    /// let wg = tether::sync::WaitGroup::new();
    /// wg.go_blocking(|| std::thread::yield_now());
    /// wg.wait_blocking();
    /// ```
    #[track_caller]
    pub fn go_blocking<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.add(1);
        let done = DoneGuard(self.clone());
        let reg = crate::task::Registration::new("wait group task", None, Location::caller());
        crate::task::spawn_blocking("wait group task", reg, move |reg| {
            f();
            drop(reg);
            drop(done);
        });
    }
}

/// Calls `done` when dropped: on return, unwind or abort alike. If the
/// task panicked the panic is reported by the panic hook; `done` still
/// runs so waiters are never stranded.
struct DoneGuard(WaitGroup);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        self.0.done();
    }
}

impl std::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitGroup").field("count", &self.count()).finish()
    }
}

/// Future returned by [`WaitGroup::wait`].
///
/// # Cancel safety
///
/// Cancel-safe.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    wg: &'a WaitGroup,
    /// (key in the waiter list, round registered in)
    reg: Option<(usize, u64)>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let mut s = lock(&self.wg.inner);
        match self.reg {
            Some((_, round)) if s.round != round => {
                s.draining -= 1;
                drop(s);
                self.reg = None;
                Poll::Ready(())
            }
            Some((key, round)) => {
                let mut k = Some(key);
                s.waiters.register_task(&mut k, cx.waker());
                drop(s);
                self.reg = k.map(|k| (k, round));
                Poll::Pending
            }
            None if s.counter == 0 => Poll::Ready(()),
            None => {
                let key = s.waiters.register(Wake::Task(cx.waker().clone()));
                let round = s.round;
                drop(s);
                self.reg = Some((key, round));
                Poll::Pending
            }
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some((key, round)) = self.reg.take() {
            let mut s = lock(&self.wg.inner);
            if s.round != round {
                s.draining -= 1; // released: it counts as returned
            } else {
                s.waiters.remove(key);
            }
        }
    }
}

impl std::fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wait").field("registered", &self.reg.is_some()).finish()
    }
}
