//! [`sleep`], [`sleep_until`] and their blocking twins, on tether's clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::{Duration, Instant};

use crate::clock::{self, TimerId};
use crate::sync_impl::{Arc, AtomicU8, Mutex, lock};
use std::sync::atomic::Ordering::{AcqRel, Acquire};

/// Waits until `d` has passed on tether's clock (Go's `time.Sleep`, as a
/// future).
///
/// No runtime timer is involved: the wake-up comes from tether's timer
/// thread, so the future works under any executor, and under a
/// [`VirtualClock`](super::VirtualClock) it completes when virtual time
/// reaches its deadline. In a [`select!`](crate::select) use the `after(d)`
/// arm instead.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// tether::time::sleep(Duration::from_millis(2)).await;
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// # });
/// ```
///
/// # Cancel safety
///
/// Cancel-safe: dropping the future cancels its timer; nothing else
/// happened.
pub fn sleep(d: Duration) -> Sleep {
    Sleep::until(clock::deadline_after(d))
}

/// Waits until the clock reaches `at` (ready at once if it already has).
///
/// # Cancel safety
///
/// Cancel-safe: dropping the future cancels its timer.
pub fn sleep_until(at: Instant) -> Sleep {
    Sleep::until(at)
}

/// Parks the calling thread for `d` on tether's clock (works on plain
/// threads, and follows a [`VirtualClock`](super::VirtualClock)).
pub fn sleep_blocking(d: Duration) {
    sleep_until_blocking(clock::deadline_after(d));
}

/// Parks the calling thread until the clock reaches `at`.
pub fn sleep_until_blocking(at: Instant) {
    while clock::now() < at {
        clock::park_until(at);
    }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// # Cancel safety
///
/// Cancel-safe: dropping it cancels its timer.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    armed: Option<Armed>,
    done: bool,
}

struct Armed {
    id: TimerId,
    shared: Arc<Shared>,
}

/// `Shared::state`: the timer has not fired.
const ARMED: u8 = 0;
/// Fired, and its wake-up counts as in flight for the virtual clock.
const FIRED: u8 = 1;
/// Fired and seen by the future (or the future is gone).
const SETTLED: u8 = 2;

struct Shared {
    state: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

impl Sleep {
    pub(crate) fn until(deadline: Instant) -> Sleep {
        Sleep { deadline, armed: None, done: false }
    }

    /// When the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has been reached (by a poll that returned
    /// ready, or on the clock now).
    pub fn is_elapsed(&self) -> bool {
        self.done || clock::now() >= self.deadline
    }

    /// Moves the deadline (like tokio's `Sleep::reset`); the next poll waits
    /// for the new one.
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
        self.done = false;
    }

    fn disarm(&mut self) {
        if let Some(a) = self.armed.take() {
            clock::cancel_timer(a.id);
            a.settle();
        }
    }
}

impl Armed {
    fn fired(&self) -> bool {
        self.shared.state.load(Acquire) != ARMED
    }

    /// Marks the timer's wake-up as consumed (or refuses it if the timer
    /// has not fired yet), so the virtual clock's in-flight count drops.
    fn settle(&self) {
        if self.shared.state.swap(SETTLED, AcqRel) == FIRED {
            clock::virt::wake_finished();
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        if let Some(a) = &mut this.armed {
            if a.fired() {
                a.settle();
                this.done = true;
                return Poll::Ready(());
            }
            let mut w = lock(&a.shared.waker);
            match &mut *w {
                Some(old) if old.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            drop(w);
            // The timer may have fired before the new waker was stored.
            if a.fired() {
                a.settle();
                this.done = true;
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
        if clock::now() >= this.deadline {
            this.done = true;
            return Poll::Ready(());
        }
        let shared = Arc::new(Shared { state: AtomicU8::new(ARMED), waker: Mutex::new(Some(cx.waker().clone())) });
        let s = shared.clone();
        let id = clock::add_timer(this.deadline, move || {
            // Count the wake-up before publishing it, so that the future
            // cannot settle it first.
            clock::virt::wake_started();
            if s.state.compare_exchange(ARMED, FIRED, AcqRel, Acquire).is_err() {
                clock::virt::wake_finished(); // the future is already gone
                return;
            }
            let w = lock(&s.waker).take();
            if let Some(w) = w {
                w.wake();
            }
        });
        this.armed = Some(Armed { id, shared });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).field("done", &self.done).finish()
    }
}
