//! [`scope`]: errgroup for OS threads that borrow from the caller's stack
//! (`std::thread::scope` with a context, first-error and limit rules).

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::Arc;

use super::ToCause;
use super::core::{Core, NO_LIMIT};
use super::errgroup::error_cause;
use crate::ctx::Context;
use crate::task::{Name, Registration, TaskSpan};

const THREAD: &str = "scope thread";

/// Runs `body` with a [`Scope`] whose threads may borrow from the caller's
/// stack, and returns once every thread has ended: `Ok` with the body's
/// value, or `Err` with the first error — of a thread or of the body.
///
/// Like a [`Group`](super::Group) made for threads:
///
/// - the scope has a context, a child of `parent`, passed to every thread;
///   the first error (a thread's or the body's) cancels it with that error
///   as its cause, and it is cancelled when `scope` returns;
/// - a thread spawned once a thread or the body failed or panicked is not
///   started ([`Scope::spawn`] returns `false` and drops the closure at
///   once); one spawned into a context done for another reason (the
///   parent's) still starts, and sees that context done;
/// - a panic (in a thread or in the body) cancels the context, and `scope`
///   resumes the first panic, with its original payload, after every
///   thread has ended.
///
/// Threads cannot be interrupted: they learn of cancellation from the
/// context they receive.
///
/// ```
/// use tether::{Context, ctx, group};
///
/// let inputs = vec![1, 2, 3, 4];
/// let (a, b) = (std::sync::Mutex::new(0), std::sync::Mutex::new(0));
/// let mut total = 0;
/// let r = group::scope(&Context::background(), |s| {
///     let (left, right) = inputs.split_at(2);
///     s.spawn(|_ctx| { *a.lock().unwrap() = left.iter().sum(); Ok(()) });
///     s.spawn(|_ctx| { *b.lock().unwrap() = right.iter().sum(); Ok(()) });
///     s.wait();
///     total = *a.lock().unwrap() + *b.lock().unwrap();
///     Ok::<_, ctx::Error>("done")
/// });
/// assert_eq!(r, Ok("done"));
/// assert_eq!(total, 10);
/// ```
///
/// # Errors
///
/// The first error recorded, a thread's or the body's (later ones are
/// dropped, as in Go), once every thread has ended. A done `parent` is not
/// an error by itself: the result is what the body and the threads return.
///
/// # Panics
///
/// Resumes the first panic of a thread or of the body, after every thread
/// has ended; a panic wins over errors.
#[track_caller]
pub fn scope<'env, E, R, F>(parent: &Context, body: F) -> Result<R, E>
where
    E: ToCause,
    F: for<'scope> FnOnce(&Scope<'scope, 'env, E>) -> Result<R, E>,
{
    run(parent, NO_LIMIT, body, Location::caller())
}

/// [`scope`] with at most `limit` threads running at once:
/// [`Scope::spawn`] blocks the spawning thread until one ends (Go's
/// `SetLimit`), [`Scope::try_spawn`] returns `false` instead.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// use tether::{Context, ctx, group};
///
/// let (now, max) = (AtomicUsize::new(0), AtomicUsize::new(0));
/// group::scope_with_limit(&Context::background(), 2, |s| {
///     for _ in 0..6 {
///         s.spawn(|_| {
///             max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
///             std::thread::yield_now();
///             now.fetch_sub(1, SeqCst);
///             Ok(())
///         });
///     }
///     Ok::<_, ctx::Error>(())
/// })
/// .unwrap();
/// assert!(max.load(SeqCst) <= 2);
/// ```
///
/// # Errors
///
/// As for [`scope`]: the first error, a thread's or the body's.
///
/// # Panics
///
/// If `limit` is 0. Resumes the first panic as [`scope`] does.
#[track_caller]
pub fn scope_with_limit<'env, E, R, F>(parent: &Context, limit: usize, body: F) -> Result<R, E>
where
    E: ToCause,
    F: for<'scope> FnOnce(&Scope<'scope, 'env, E>) -> Result<R, E>,
{
    assert!(limit > 0, "group::scope_with_limit(0): a scope limited to zero threads could never run one");
    run(parent, limit, body, Location::caller())
}

fn run<'env, E, R, F>(parent: &Context, limit: usize, body: F, site: &'static Location<'static>) -> Result<R, E>
where
    E: ToCause,
    F: for<'scope> FnOnce(&Scope<'scope, 'env, E>) -> Result<R, E>,
{
    let core = Arc::new(Core::new(parent, Some(error_cause::<E>), limit, false));
    let out = std::thread::scope(|threads| {
        let s = Scope { threads, core: core.clone() };
        match catch_unwind(AssertUnwindSafe(|| body(&s))) {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                core.fail(e, "scope body", site, || None);
                None
            }
            Err(p) => {
                core.panicked(p, "scope body", None, site);
                None
            }
        }
    });
    core.cancel();
    match core.take_outcome() {
        Err(payload) => std::panic::resume_unwind(payload),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => Ok(out.expect("the body returned Ok when no error was recorded")),
    }
}

/// Spawns threads into a [`scope`]. Cheap to clone: move a clone into a
/// thread to let it spawn more threads.
pub struct Scope<'scope, 'env: 'scope, E: Send + 'static> {
    threads: &'scope std::thread::Scope<'scope, 'env>,
    core: Arc<Core<E>>,
}

impl<E: Send + 'static> Clone for Scope<'_, '_, E> {
    fn clone(&self) -> Self {
        Scope { threads: self.threads, core: self.core.clone() }
    }
}

impl<'scope, 'env, E: Send + 'static> Scope<'scope, 'env, E> {
    /// The scope's context (each thread also receives it).
    pub fn context(&self) -> &Context {
        &self.core.ctx
    }

    /// Runs `f` on a new thread that may borrow anything that outlives the
    /// scope. With a limit, blocks the calling thread until a slot is free.
    ///
    /// Returns `false`, having dropped `f` unstarted, once a thread or the
    /// body has failed or panicked (before the call or while waiting for a
    /// slot).
    #[track_caller]
    pub fn spawn<F>(&self, f: F) -> bool
    where
        F: FnOnce(&Context) -> Result<(), E> + Send + 'scope,
    {
        self.spawn_inner(f, None, Location::caller(), true)
    }

    /// Like [`spawn`](Scope::spawn), but returns `false` instead of waiting
    /// when the limit is reached.
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> bool
    where
        F: FnOnce(&Context) -> Result<(), E> + Send + 'scope,
    {
        self.spawn_inner(f, None, Location::caller(), false)
    }

    /// [`spawn`](Scope::spawn) with a name, for leak reports and panic
    /// causes.
    #[track_caller]
    pub fn spawn_named<F>(&self, name: impl Into<Cow<'static, str>>, f: F) -> bool
    where
        F: FnOnce(&Context) -> Result<(), E> + Send + 'scope,
    {
        self.spawn_inner(f, Some(name.into()), Location::caller(), true)
    }

    /// Blocks until every thread spawned so far has ended (the scope still
    /// waits for all of them at its end; this lets the body use their
    /// results before returning).
    pub fn wait(&self) {
        self.core.wait_idle_blocking();
    }

    fn spawn_inner<F>(&self, f: F, name: Name, site: &'static Location<'static>, wait: bool) -> bool
    where
        F: FnOnce(&Context) -> Result<(), E> + Send + 'scope,
    {
        let core = self.core.clone();
        if core.is_decided() {
            return false;
        }
        let slot = core.is_limited();
        if slot {
            let got = if wait { core.acquire_blocking() } else { core.try_acquire() };
            if !got {
                return false;
            }
        }
        core.begin();
        let guard = ScopeEnd { core: core.clone(), slot };
        let span = TaskSpan::new(THREAD, name.as_deref(), site);
        let reg = Registration::new(THREAD, name, site);
        let spawned = std::thread::Builder::new().name("tether-scope".into()).spawn_scoped(self.threads, move || {
            let in_span = span.enter();
            let mut reg = reg;
            let _entered = reg.enter();
            match catch_unwind(AssertUnwindSafe(|| f(&core.ctx))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => core.fail(e, THREAD, site, || reg.name()),
                Err(p) => core.panicked(p, THREAD, reg.name(), site),
            }
            drop(_entered);
            drop(reg);
            drop(in_span);
            drop(guard);
        });
        spawned.expect("tether: could not start a scope thread");
        true
    }
}

/// Releases a scope thread's slot and ends it, however the thread ends.
struct ScopeEnd<E> {
    core: Arc<Core<E>>,
    slot: bool,
}

impl<E> Drop for ScopeEnd<E> {
    fn drop(&mut self) {
        if self.slot {
            self.core.release();
        }
        self.core.end();
    }
}

impl<E: Send + 'static> std::fmt::Debug for Scope<'_, '_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").field("running", &self.core.pending()).finish()
    }
}
