//! The one place where tether starts threads and tasks, so that every task
//! it starts is accounted for (see the `leak` module): each spawn creates a
//! [`Registration`] that moves into the task and drops when it ends —
//! completed, panicked, aborted, or dropped with its runtime.
//!
//! Async tasks go to the ambient tokio runtime when there is one (feature
//! `tokio`); otherwise each runs on its own thread under a small
//! thread-parking executor, so every API also works in plain-thread
//! programs. Blocking closures go to tokio's blocking pool when a runtime is
//! present, else to a new thread.
//!
//! Each task also runs in its `tracing` span (feature `tracing`, see the
//! `trace` module), created here at spawn — or by the caller, with the
//! task's name, through the `*_in` variants.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

pub(crate) use crate::leak::{Name, Registration};
pub(crate) use crate::trace::TaskSpan;

/// Runs `f` on tether's small pool of callback threads, registered as a
/// task of kind `what` from now until `f` returns (queued time included).
/// For callbacks that must not run on the thread that triggers them and
/// may block (after-funcs): a pooled thread is reused when one is idle, a
/// new one started only when all are busy (so one blocked callback never
/// holds up another), and idle ones exit after a while.
pub(crate) fn spawn_pooled(
    what: &'static str,
    spawned_at: &'static Location<'static>,
    f: impl FnOnce() + Send + 'static,
) {
    let reg = Registration::new(what, None, spawned_at);
    let span = TaskSpan::new(what, None, spawned_at);
    #[cfg(not(loom))]
    callback_pool::submit(Box::new(move || {
        let in_span = span.enter();
        let mut reg = reg;
        let entered = reg.enter();
        f();
        drop(entered);
        drop(reg);
        drop(in_span);
    }));
    #[cfg(loom)]
    {
        drop(span);
        drop(reg);
        drop(f);
    }
}

/// How many pooled threads wait idle for a job (0 under loom).
pub(crate) fn idle_pooled_threads() -> usize {
    #[cfg(not(loom))]
    return callback_pool::idle();
    #[cfg(loom)]
    0
}

#[cfg(not(loom))]
mod callback_pool {
    //! The threads behind [`spawn_pooled`](super::spawn_pooled).
    //!
    //! Invariant: `idle` counts threads waiting on `ready` (counted under
    //! the lock before they wait, uncounted when they wake), and a job is
    //! queued with a notify only while `queue.len() <= idle`; otherwise a
    //! thread is started for it. So every queued job has a thread of its
    //! own on the way, and a callback that blocks never delays another.

    use std::collections::VecDeque;
    use std::sync::{Condvar, Mutex, OnceLock};
    use std::time::Duration;

    type Job = Box<dyn FnOnce() + Send + 'static>;

    /// How long an idle pooled thread waits for work before it exits.
    const KEEP_ALIVE: Duration = Duration::from_secs(10);

    struct Pool {
        state: Mutex<State>,
        ready: Condvar,
    }

    #[derive(Default)]
    struct State {
        queue: VecDeque<Job>,
        idle: usize,
    }

    fn pool() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| Pool { state: Mutex::new(State::default()), ready: Condvar::new() })
    }

    pub(super) fn idle() -> usize {
        pool().state.lock().unwrap_or_else(|e| e.into_inner()).idle
    }

    pub(super) fn submit(job: Job) {
        let p = pool();
        let mut s = p.state.lock().unwrap_or_else(|e| e.into_inner());
        s.queue.push_back(job);
        let has_idle = s.queue.len() <= s.idle;
        drop(s);
        if has_idle {
            p.ready.notify_one();
        } else {
            std::thread::Builder::new()
                .name("tether-callbacks".into())
                .spawn(move || work(p))
                .expect("tether: could not start a callback thread");
        }
    }

    fn work(p: &'static Pool) {
        let mut s = p.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = s.queue.pop_front() {
                drop(s);
                // A panicking callback is reported by the panic hook, as on
                // a thread of its own, and must not cost the pool a thread
                // that other queued jobs were counted against.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                s = p.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            s.idle += 1;
            let (guard, waited) = p.ready.wait_timeout(s, KEEP_ALIVE).unwrap_or_else(|e| e.into_inner());
            s = guard;
            s.idle -= 1;
            if waited.timed_out() && s.queue.is_empty() {
                return;
            }
        }
    }
}

/// Starts `f` on a new OS thread with `span` and `reg` entered; `f` owns
/// `reg` and decides when the task counts as over (it drops `reg`).
pub(crate) fn start_thread(
    span: TaskSpan,
    what: &'static str,
    reg: Registration,
    f: impl FnOnce(Registration) + Send + 'static,
) {
    #[cfg(not(loom))]
    {
        std::thread::Builder::new()
            .name(format!("tether-{what}"))
            .spawn(move || {
                let _in_span = span.enter();
                let mut reg = reg;
                let _entered = reg.enter();
                f(reg);
            })
            .expect("tether: could not start a thread");
    }
    #[cfg(loom)]
    {
        let _ = what;
        drop(span);
        drop(reg);
        drop(f);
    }
}

/// Runs `f` on tokio's blocking pool if a runtime is present, else on a new
/// thread, with `reg` entered; `f` owns `reg` (drops it when the task is
/// over). If the runtime shuts down before `f` starts, both are dropped.
/// Its span (unnamed) gives the caller's location as the spawn site.
#[track_caller]
pub(crate) fn spawn_blocking(what: &'static str, reg: Registration, f: impl FnOnce(Registration) + Send + 'static) {
    spawn_blocking_in(TaskSpan::new(what, None, Location::caller()), what, reg, f);
}

/// [`spawn_blocking`] in the given span.
pub(crate) fn spawn_blocking_in(
    span: TaskSpan,
    what: &'static str,
    reg: Registration,
    f: impl FnOnce(Registration) + Send + 'static,
) {
    #[cfg(all(feature = "tokio", not(loom)))]
    if let Ok(h) = tokio::runtime::Handle::try_current() {
        drop(h.spawn_blocking(move || {
            let _in_span = span.enter();
            let mut reg = reg;
            let _entered = reg.enter();
            f(reg);
        }));
        return;
    }
    start_thread(span, what, reg, f);
}

/// Spawns `fut` (which must track itself, see [`Tracked`]) on the ambient
/// tokio runtime, or on its own thread with a parking executor when there
/// is none. Its span (unnamed) gives the caller's location as the spawn
/// site.
#[track_caller]
pub(crate) fn spawn_async<F: Future<Output = ()> + Send + 'static>(what: &'static str, fut: F) {
    spawn_async_in(TaskSpan::new(what, None, Location::caller()), what, fut);
}

/// [`spawn_async`] in the given span (entered for every poll of `fut`, and
/// for its drop).
pub(crate) fn spawn_async_in<F: Future<Output = ()> + Send + 'static>(span: TaskSpan, what: &'static str, fut: F) {
    let fut = crate::trace::in_span(span, fut);
    #[cfg(all(feature = "tokio", not(loom)))]
    if let Ok(h) = tokio::runtime::Handle::try_current() {
        drop(h.spawn(fut));
        return;
    }
    #[cfg(not(loom))]
    {
        std::thread::Builder::new()
            .name(format!("tether-{what}"))
            .spawn(move || block_on(fut))
            .expect("tether: could not start a thread");
    }
    #[cfg(loom)]
    {
        let _ = what;
        drop(fut);
    }
}

/// Runs a future to completion on the current thread (under loom: the
/// model's executor).
#[cfg(loom)]
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    loom::future::block_on(fut)
}

/// Runs a future to completion on the current thread, parking between
/// wake-ups.
#[cfg(not(loom))]
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl std::task::Wake for ThreadWaker {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = TaskCx::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// A future that carries its leak [`Registration`] and runs each poll with
/// it entered (so spawns inside inherit the tracker tag and notes reach its
/// entry). The registration drops with the future, and `after` drops last
/// (fields drop in declaration order): whoever waits on `after` sees the
/// task already gone from the registry.
pub(crate) struct Tracked<F, G = ()> {
    fut: F,
    reg: Registration,
    #[allow(dead_code)] // held only for its Drop
    after: G,
}

impl<F> Tracked<F> {
    #[allow(dead_code)]
    pub(crate) fn new(fut: F, reg: Registration) -> Self {
        Tracked { fut, reg, after: () }
    }
}

impl<F, G> Tracked<F, G> {
    pub(crate) fn with_after(fut: F, reg: Registration, after: G) -> Self {
        Tracked { fut, reg, after }
    }
}

impl<F: Future, G> Future for Tracked<F, G> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of
        // `Tracked` and `Tracked` has no Drop impl that could move it;
        // `reg` is never pinned (it is only borrowed).
        let this = unsafe { self.get_unchecked_mut() };
        let entered = this.reg.enter();
        // SAFETY: see above.
        let out = unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx);
        this.reg.polled(entered, out.is_ready());
        out
    }
}
