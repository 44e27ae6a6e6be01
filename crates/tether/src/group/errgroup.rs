//! [`Group`]: errgroup for async tasks (and blocking closures).

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll, Waker};

use super::ToCause;
use super::core::{Core, EndGuard, NO_LIMIT};
use crate::ctx::{Cause, Context};
use crate::task::{self, Name, Registration, TaskSpan};
use crate::waiter::Wake;

const TASK: &str = "group task";
const BLOCKING: &str = "group blocking task";

/// A group of tasks that succeed or fail together (Go's `errgroup.Group`),
/// which cannot leak them: see the [module docs](super) for the rules.
///
/// - [`spawn`](Group::spawn) runs a future on the ambient tokio runtime
///   (or, without one, on its own thread);
///   [`spawn_blocking`](Group::spawn_blocking) runs a closure on a blocking
///   thread.
/// - [`wait`](Group::wait) returns once every task has ended: `Err` with the
///   first error, or resumes the first panic.
/// - The first error (or panic) cancels the group's
///   [`context`](Group::context); [`with_context`](Group::with_context)
///   derives it from a parent and returns it, with the error itself as its
///   cause.
/// - [`with_limit`](Group::with_limit) bounds how many tasks run at once.
/// - [`named`](Group::named) names the next task, for leak reports and
///   panic causes.
///
/// # Dropping
///
/// Dropping a group without `wait` cancels its context and aborts its async
/// tasks (each is dropped at its next poll); blocking tasks run on and see
/// the cancelled context. If a task had panicked, the drop resumes that
/// panic so it is never silently lost (when the drop itself happens during
/// a panic, the lost panic is printed to stderr instead).
#[must_use = "a group does nothing useful unless waited; dropping it aborts its tasks"]
pub struct Group<E: Send + 'static> {
    core: Arc<Core<E>>,
    waited: bool,
}

impl<E: Send + 'static> Default for Group<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Send + 'static> Group<E> {
    /// A group with its own context (child of
    /// [`Context::background`]), no limit.
    ///
    /// Its tasks can still observe cancellation through
    /// [`context`](Group::context); the cause recorded on the first error
    /// is [`TaskFailed`](super::TaskFailed), since `E` need not be an error
    /// type.
    pub fn new() -> Group<E> {
        Group { core: Arc::new(Core::new(&Context::background(), None, NO_LIMIT, true)), waited: false }
    }

    /// Lets at most `n` tasks of the group (async and blocking alike) run
    /// at once (Go's `SetLimit`). Set it before spawning.
    ///
    /// # Panics
    ///
    /// If `n` is 0 (no task could ever run, every spawn would wait
    /// forever), or if tasks are already running.
    pub fn with_limit(self, n: usize) -> Group<E> {
        assert!(n > 0, "Group::with_limit(0): a group limited to zero tasks could never run one");
        assert!(self.running() == 0, "Group::with_limit must be called before any task is spawned");
        self.core.limit.store(n, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// The group's context: done once a task fails or panics, the parent
    /// is cancelled, [`cancel`](Group::cancel) is called, or the group is
    /// waited or dropped. Clone it into tasks that must stop early —
    /// blocking closures in particular.
    pub fn context(&self) -> &Context {
        &self.core.ctx
    }

    /// Cancels the group's context (cause
    /// [`Canceled`](crate::ctx::Error::Canceled)) without recording an
    /// error: running tasks see it; tasks spawned later still start, with
    /// the done context, and report it (see the
    /// [module docs](super#tasks-spawned-after-cancellation)).
    pub fn cancel(&self) {
        self.core.cancel();
    }

    /// Tasks spawned and not yet ended.
    pub fn running(&self) -> usize {
        self.core.pending()
    }

    /// Names the task spawned through the returned handle (shown by
    /// [`leak`](crate::leak) reports and in [`TaskPanicked`](super::TaskPanicked)).
    /// A `&'static str` costs nothing.
    ///
    /// ```
    /// # let rt = tokio::runtime::Runtime::new().unwrap();
    /// # rt.block_on(async {
    /// let g = tether::group::Group::<()>::new();
    /// g.named("fetch").spawn(async { Ok(()) }).await;
    /// g.named(format!("shard {}", 3)).spawn_blocking(|| Ok(()));
    /// g.wait().await.unwrap();
    /// # });
    /// ```
    pub fn named(&self, name: impl Into<Cow<'static, str>>) -> Named<'_, E> {
        Named { group: self, name: Some(name.into()) }
    }

    /// Spawns `task` on the ambient tokio runtime (on its own thread if
    /// there is none). With a [limit](Group::with_limit), the returned
    /// future first waits for a free slot.
    ///
    /// Once a task has failed or panicked — before the call or while
    /// waiting for a slot — the task is dropped unstarted and the future
    /// resolves. Into a context done for another reason (the parent was
    /// cancelled) the task still starts and sees the done context (see the
    /// [module docs](super#tasks-spawned-after-cancellation)).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the task starts only inside a poll that returns
    /// `Ready`; dropping the future earlier drops the task unstarted and
    /// holds no slot.
    #[track_caller]
    pub fn spawn<F>(&self, task: F) -> Spawn<'_, F, E>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        Spawn::new(self, task, None, Location::caller())
    }

    /// Starts `task` if a slot is free and the context is live; `false`
    /// (with the task dropped unstarted) at the limit or once a task has
    /// failed or panicked (Go's `TryGo`).
    #[track_caller]
    pub fn try_spawn<F>(&self, task: F) -> bool
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        self.try_spawn_inner(TASK, task, None, Location::caller())
    }

    /// Runs `f` on a blocking thread (tokio's blocking pool when a runtime
    /// is present, else a new thread). Never blocks the caller: at the
    /// limit, the closure waits for a slot on its own thread, and is
    /// dropped unstarted if a task fails or panics first.
    ///
    /// Blocking closures cannot be aborted; they learn of cancellation from
    /// [`context`](Group::context):
    ///
    /// ```
    /// let g = tether::group::Group::<&'static str>::new();
    /// let ctx = g.context().clone();
    /// g.spawn_blocking(move || {
    ///     while !ctx.is_done() {
    ///         std::thread::yield_now(); // one step of work
    ///     }
    ///     Ok(())
    /// });
    /// g.spawn_blocking(|| Err("failed"));
    /// assert_eq!(g.wait_blocking(), Err("failed"));
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F>(&self, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        self.spawn_blocking_inner(f, None, Location::caller())
    }

    /// Waits until every task has ended, then returns the first error (Go's
    /// `Wait`). The context is cancelled when this returns.
    ///
    /// # Errors
    ///
    /// The first error a task returned (the same value as the context's
    /// cause with [`with_context`](Group::with_context)). `Ok(())` means
    /// every task spawned returned `Ok`: a task spawned into a context that
    /// is already done still starts and sees it done (see the [module
    /// docs](super#tasks-spawned-after-cancellation)), so a refused spawn
    /// never passes for success.
    ///
    /// # Panics
    ///
    /// Resumes the first task panic (original payload), after all tasks
    /// have ended; a panic wins over errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the group: its context is cancelled and
    /// its async tasks are aborted (see [Dropping](Group#dropping)).
    pub async fn wait(mut self) -> Result<(), E> {
        WaitIdle { core: &self.core, key: None }.await;
        self.finish()
    }

    /// [`wait`](Group::wait) for threads: parks until every task has ended.
    ///
    /// # Errors
    ///
    /// As [`wait`](Group::wait).
    ///
    /// # Panics
    ///
    /// As [`wait`](Group::wait): resumes the first task panic.
    pub fn wait_blocking(mut self) -> Result<(), E> {
        self.core.wait_idle_blocking();
        self.finish()
    }

    fn finish(&mut self) -> Result<(), E> {
        self.waited = true;
        self.core.cancel();
        match self.core.take_outcome() {
            Ok(r) => r,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    fn start<F>(&self, kind: &'static str, fut: F, name: Name, site: &'static Location<'static>, slot: bool)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let end = EndGuard::begin(&self.core, slot);
        let span = TaskSpan::new(kind, name.as_deref(), site);
        let reg = Registration::lazy(kind, name, site);
        task::spawn_async_in(span, kind, GroupTask { fut: Some(fut), abort_key: None, reg, kind, site, end });
    }

    fn try_spawn_inner<F>(&self, kind: &'static str, task: F, name: Name, site: &'static Location<'static>) -> bool
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        if self.core.is_decided() || !self.core.try_acquire() {
            return false;
        }
        let limited = self.core.is_limited();
        self.start(kind, task, name, site, limited);
        true
    }

    /// [`try_spawn`](Group::try_spawn) for tether's own pools: a task of
    /// `kind` spawned at `site`.
    pub(crate) fn try_spawn_as<F>(&self, kind: &'static str, task: F, site: &'static Location<'static>) -> bool
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        self.try_spawn_inner(kind, task, None, site)
    }

    /// True once a task has panicked (its payload awaits `wait`).
    pub(crate) fn has_panicked(&self) -> bool {
        self.core.has_panic()
    }

    fn spawn_blocking_inner<F>(&self, f: F, name: Name, site: &'static Location<'static>)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        if self.core.is_decided() {
            return;
        }
        let mut end = EndGuard::begin(&self.core, false);
        let span = TaskSpan::new(BLOCKING, name.as_deref(), site);
        let reg = Registration::new(BLOCKING, name, site);
        task::spawn_blocking_in(span, BLOCKING, reg, move |reg| {
            if end.core().is_limited() {
                if !end.core().acquire_blocking() {
                    return; // the outcome was decided first: not started
                }
                end.slot = true;
            }
            match catch_unwind(AssertUnwindSafe(f)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => end.core().fail(e, BLOCKING, site, || reg.name()),
                Err(p) => end.core().panicked(p, BLOCKING, reg.name(), site),
            }
            drop(reg);
            drop(end);
        });
    }
}

impl<E: ToCause> Group<E> {
    /// A group whose context is a child of `parent`, returned alongside
    /// (Go's `errgroup.WithContext`). The first error cancels it with that
    /// error as its [cause](Context::cause): `ctx.cause()` downcasts to `E`
    /// — or, for a [`SharedError`](super::SharedError) group, *is* the
    /// error `wait` returns.
    ///
    /// `E` is any [`ToCause`] type: every `Error + Clone + Send + Sync`
    /// type (an error that is not `Clone` goes in an `Arc`:
    /// `Arc<io::Error>` qualifies), and [`SharedError`](super::SharedError)
    /// for everything else — `anyhow::Error`, `Box<dyn Error>`, strings.
    ///
    /// ```
    /// use tether::{Context, ctx, group::Group};
    /// # let rt = tokio::runtime::Runtime::new().unwrap();
    /// # rt.block_on(async {
    /// let (g, gctx) = Group::<ctx::Error>::with_context(&Context::background());
    /// g.spawn(async { Err(ctx::Error::DeadlineExceeded) }).await;
    /// assert_eq!(g.wait().await, Err(ctx::Error::DeadlineExceeded));
    /// assert_eq!(gctx.cause().unwrap().downcast_ref::<ctx::Error>(), Some(&ctx::Error::DeadlineExceeded));
    /// # });
    /// ```
    pub fn with_context(parent: &Context) -> (Group<E>, Context) {
        let core = Arc::new(Core::new(parent, Some(error_cause::<E>), NO_LIMIT, true));
        let ctx = core.ctx.clone();
        (Group { core, waited: false }, ctx)
    }
}

pub(super) fn error_cause<E: ToCause>(e: &E) -> Cause {
    e.to_cause()
}

impl<E: Send + 'static> Drop for Group<E> {
    fn drop(&mut self) {
        if self.waited {
            return;
        }
        self.core.cancel();
        self.core.abort();
        if self.core.has_panic() {
            if let Err(payload) = self.core.take_outcome() {
                if std::thread::panicking() {
                    eprintln!(
                        "tether: a Group was dropped during a panic without wait(); one of its tasks had panicked: {}",
                        super::core::panic_message(&*payload)
                    );
                } else {
                    std::panic::resume_unwind(payload);
                }
            }
        }
    }
}

impl<E: Send + 'static> std::fmt::Debug for Group<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("running", &self.running()).field("ctx", &self.core.ctx).finish()
    }
}

/// A [`Group`] handle that names the next task (see [`Group::named`]).
#[derive(Debug)]
pub struct Named<'g, E: Send + 'static> {
    group: &'g Group<E>,
    name: Name,
}

impl<'g, E: Send + 'static> Named<'g, E> {
    /// [`Group::spawn`], named.
    ///
    /// # Cancel safety
    ///
    /// As [`Group::spawn`].
    #[track_caller]
    pub fn spawn<F>(self, task: F) -> Spawn<'g, F, E>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        Spawn::new(self.group, task, self.name, Location::caller())
    }

    /// [`Group::try_spawn`], named.
    #[track_caller]
    pub fn try_spawn<F>(self, task: F) -> bool
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        self.group.try_spawn_inner(TASK, task, self.name, Location::caller())
    }

    /// [`Group::spawn_blocking`], named.
    #[track_caller]
    pub fn spawn_blocking<F>(self, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        self.group.spawn_blocking_inner(f, self.name, Location::caller())
    }
}

/// Future returned by [`Group::spawn`]: resolves once the task has started
/// (or was dropped unstarted because a task of the group failed or
/// panicked).
///
/// # Cancel safety
///
/// Cancel-safe: dropping it before it resolves drops the task unstarted.
#[must_use = "the task starts only when this future is awaited"]
pub struct Spawn<'g, F, E: Send + 'static> {
    group: &'g Group<E>,
    task: Option<F>,
    name: Name,
    site: &'static Location<'static>,
    slot_key: Option<usize>,
    ctx_key: Option<(usize, Waker)>,
    /// Polls that found the group full and yielded instead of waiting.
    yields: u8,
}

/// How many times a spawn at the limit yields (and looks again) before it
/// waits for a slot: a running task often ends within a few polls of its
/// executor, and a slot taken then costs no wake-up (a thread's, when the
/// spawner is a `block_on`: several microseconds).
const SPAWN_YIELDS: u8 = 16;

// The task is never polled here, only moved into the spawned task.
impl<F, E: Send + 'static> Unpin for Spawn<'_, F, E> {}

impl<'g, F, E: Send + 'static> Spawn<'g, F, E>
where
    F: Future<Output = Result<(), E>> + Send + 'static,
{
    fn new(group: &'g Group<E>, task: F, name: Name, site: &'static Location<'static>) -> Self {
        Spawn { group, task: Some(task), name, site, slot_key: None, ctx_key: None, yields: 0 }
    }

    fn cleanup(&mut self) {
        self.group.core.unwait_slot(&mut self.slot_key);
        if let (Some((k, _)), Some(s)) = (self.ctx_key.take(), self.group.core.ctx.scope()) {
            s.unregister(k);
        }
    }

    fn launch(&mut self) -> Poll<()> {
        self.cleanup();
        if let Some(task) = self.task.take() {
            let limited = self.group.core.is_limited();
            self.group.start(TASK, task, self.name.take(), self.site, limited);
        }
        Poll::Ready(())
    }

    fn give_up(&mut self) -> Poll<()> {
        self.cleanup();
        self.task = None;
        Poll::Ready(())
    }
}

impl<F, E: Send + 'static> Future for Spawn<'_, F, E>
where
    F: Future<Output = Result<(), E>> + Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.task.is_none() {
            return Poll::Ready(());
        }
        let core = &this.group.core;
        if core.is_decided() {
            return this.give_up();
        }
        if core.try_acquire() {
            return this.launch();
        }
        if this.yields < SPAWN_YIELDS && this.slot_key.is_none() {
            this.yields += 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        core.wait_slot(&mut this.slot_key, || Wake::Task(cx.waker().clone()), Some(cx.waker()));
        if core.try_acquire() {
            return this.launch();
        }
        // Also wake up if the outcome is decided while we wait (deciding
        // cancels the context). If the context is done already, a decision
        // can only come from a running task, which frees a slot as it ends.
        let stale = this.ctx_key.as_ref().is_some_and(|(_, w)| !w.will_wake(cx.waker()));
        if stale {
            if let (Some((k, _)), Some(s)) = (this.ctx_key.take(), core.ctx.scope()) {
                s.unregister(k);
            }
        }
        if this.ctx_key.is_none() {
            if let Some(s) = core.ctx.scope() {
                if let Some(k) = s.register(Wake::Task(cx.waker().clone())) {
                    this.ctx_key = Some((k, cx.waker().clone()));
                }
            }
        }
        crate::leak::pending(crate::leak::Blocked::new("waiting for a free slot of its group", None));
        Poll::Pending
    }
}

impl<F, E: Send + 'static> Drop for Spawn<'_, F, E> {
    fn drop(&mut self) {
        self.group.core.unwait_slot(&mut self.slot_key);
        if let (Some((k, _)), Some(s)) = (self.ctx_key.take(), self.group.core.ctx.scope()) {
            s.unregister(k);
        }
    }
}

impl<F, E: Send + 'static> std::fmt::Debug for Spawn<'_, F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawn").field("started", &self.task.is_none()).finish()
    }
}

/// Waits for a group to be idle (every task ended).
struct WaitIdle<'a, E> {
    core: &'a Core<E>,
    key: Option<usize>,
}

impl<E> Future for WaitIdle<'_, E> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.core.poll_idle(&mut this.key, cx.waker()) {
            this.key = None;
            Poll::Ready(())
        } else {
            crate::leak::pending(crate::leak::Blocked::new("waiting for its group's tasks", None));
            Poll::Pending
        }
    }
}

impl<E> Drop for WaitIdle<'_, E> {
    fn drop(&mut self) {
        self.core.unregister_idle(self.key.take());
    }
}

/// One spawned async task: the user's future plus its bookkeeping. Its
/// drop (on completion, abort, or runtime shutdown) drops the future, then
/// the leak registration, then ends the task in the group — in that order,
/// so `wait` returns only once everything the task owned is gone.
struct GroupTask<F, E: Send + 'static> {
    fut: Option<F>,
    abort_key: Option<usize>,
    reg: Registration,
    kind: &'static str,
    site: &'static Location<'static>,
    end: EndGuard<E>,
}

impl<F, E: Send + 'static> Future for GroupTask<F, E>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        // SAFETY: `fut` is structurally pinned: it is only ever polled in
        // place and dropped in place (assigning `None`), never moved out.
        // The other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let entered = this.reg.enter();
        let core = this.end.core();
        let abort = core.abort_scope();
        if abort.is_done() {
            this.fut = None;
            return Poll::Ready(());
        }
        let Some(fut) = this.fut.as_mut() else { return Poll::Ready(()) };
        // SAFETY: see above.
        let fut = unsafe { Pin::new_unchecked(fut) };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => {
                this.reg.polled(entered, false);
                if this.abort_key.is_none() {
                    // tokio wakers stay valid for the task's lifetime, so
                    // one registration serves every later poll.
                    match abort.register(Wake::Task(cx.waker().clone())) {
                        Some(k) => this.abort_key = Some(k),
                        None => {
                            this.fut = None;
                            return Poll::Ready(());
                        }
                    }
                }
                Poll::Pending
            }
            Ok(Poll::Ready(r)) => {
                if let Err(e) = r {
                    core.fail(e, this.kind, this.site, || this.reg.name());
                }
                this.fut = None;
                Poll::Ready(())
            }
            Err(payload) => {
                // Drop the future here, so a panicking destructor cannot
                // escape into the runtime.
                let _ = catch_unwind(AssertUnwindSafe(|| this.fut = None));
                core.panicked(payload, this.kind, this.reg.name(), this.site);
                Poll::Ready(())
            }
        }
    }
}

impl<F, E: Send + 'static> Drop for GroupTask<F, E> {
    fn drop(&mut self) {
        // Dropped in place (not moved): fine for a pinned field.
        self.fut = None;
        if let Some(k) = self.abort_key.take() {
            self.end.core().abort_scope().unregister(k);
        }
    }
}
