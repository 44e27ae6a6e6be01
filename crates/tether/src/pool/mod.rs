//! Bounded parallelism without leaks: the seed's worker pool
//! ([`run_worker_pool`]) and ergonomic maps over iterators and streams with
//! a concurrency limit ([`map`], [`map_stream`]).
//!
//! Both shapes follow the same rules:
//!
//! - **Bounded.** At most `workers`/`limit` tasks run at once, and nothing
//!   is queued without bound: a map pulls the next input only when a slot
//!   (and, in input order, a place in its output window) is free, so a slow
//!   consumer slows the producer down — backpressure reaches the source.
//! - **Context-aware.** Every task receives a [`Context`]; cancelling the
//!   parent stops the pool promptly: no new task starts, running ones see
//!   their context done.
//! - **Leak-free.** Every worker and task is a tether task (see
//!   [`leak`](crate::leak)); the pool ends only once all have ended, and
//!   dropping a map aborts its tasks.
//!
//! | need | use |
//! |---|---|
//! | Go's `RunWorkerPool`: workers pulling `Task`s from a channel, errors on a channel | [`run_worker_pool`] ([`task`] makes a `Task` from a closure) |
//! | the same, with task panics delivered beside the errors | [`run_worker_pool_catching`] |
//! | results of `f(item)` for each item, in input order, fail fast | `map(..).try_collect().await` |
//! | the same, every result (errors included) | `map(..).collect_all().await` |
//! | results as they complete | `map(..).unordered()` |
//! | a `Stream` as the source | [`map_stream`] |
//! | plain threads, no runtime | `try_collect_blocking` / `collect_all_blocking` |
//!
//! ```
//! use tether::{Context, ctx, group::SharedError, pool};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // At most 3 lookups at once; results in input order; the first error
//! // would cancel the rest.
//! let names = pool::map(&Context::background(), 3, 1..=6u32, |ctx, id| async move {
//!     ctx.check()?;
//!     Ok::<_, ctx::Error>(format!("user-{id}"))
//! })
//! .try_collect()
//! .await
//! .unwrap();
//! assert_eq!(names, ["user-1", "user-2", "user-3", "user-4", "user-5", "user-6"]);
//! # });
//!
//! // On plain threads, no runtime: every result, errors included (any
//! // error type, through `?`, with `SharedError`).
//! let results = pool::map(&Context::background(), 2, ["7", "x", "9"], |_ctx, s| async move {
//!     Ok::<_, SharedError>(s.parse::<u32>()?)
//! })
//! .collect_all_blocking();
//! let shown: Vec<_> = results.iter().map(|r| r.as_ref().map_err(|e| e.to_string())).collect();
//! assert_eq!(shown, [Ok(&7), Err("invalid digit found in string".to_string()), Ok(&9)]);
//! ```
//!
//! The seed's pool, fed from a channel: see [`run_worker_pool`].

mod map;

pub use map::{Map, map, map_stream};

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::Poll;

use crate::chan;
use crate::ctx::Context;
use crate::group::TaskPanicked;

/// One unit of work for [`run_worker_pool`] (Go's
/// `type Task func(ctx context.Context) error`).
pub type Task<E> = Box<dyn FnOnce(Context) -> Pin<Box<dyn Future<Output = Result<(), E>> + Send>> + Send>;

/// The worker pool of the seed, exactly: `workers` tasks pull [`Task`]s
/// from `tasks` until it is closed and drained or `ctx` is done; each task
/// runs with `ctx`; each error is sent on the returned (unbuffered)
/// channel, racing `ctx` being done (so a worker never blocks on an
/// unread error after cancellation); the channel closes once every worker
/// has returned.
///
/// Workers run on the ambient tokio runtime (each on its own thread when
/// there is none) and are registered with the [`leak`](crate::leak)
/// checker as `"pool worker"`.
///
/// ```
/// use tether::{Context, chan, pool};
///
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, rx) = chan::bounded::<pool::Task<String>>(4);
/// let errs = pool::run_worker_pool(&Context::background(), 3, rx);
/// for i in 0..10 {
///     let task: pool::Task<String> = Box::new(move |_ctx| {
///         Box::pin(async move { if i % 4 == 0 { Err(format!("task {i} failed")) } else { Ok(()) } })
///     });
///     // The queue is bounded: this waits while workers are busy. Errors
///     // must be drained meanwhile (the error channel is unbuffered), so
///     // feed from another task.
///     let tx = tx.clone();
///     tokio::spawn(async move { tx.send(task).await });
/// }
/// drop(tx);
/// let mut failed = Vec::new();
/// while let Ok(e) = errs.recv().await {
///     failed.push(e);
/// }
/// failed.sort();
/// assert_eq!(failed, ["task 0 failed", "task 4 failed", "task 8 failed"]);
/// # });
/// ```
///
/// # Panics
///
/// A panicking task does not take its worker down: the worker catches the
/// panic (the panic hook still prints it) and goes on with the next task,
/// so the pool stays at `workers`. This function's channel carries only
/// `E`s, so the panic itself is not delivered here: use
/// [`run_worker_pool_catching`] to receive it, as a
/// [`WorkerError::Panicked`] beside the tasks' errors.
#[track_caller]
pub fn run_worker_pool<E: Send + 'static>(
    ctx: &Context,
    workers: usize,
    tasks: chan::Receiver<Task<E>>,
) -> chan::Receiver<E> {
    start_pool(ctx, workers, tasks, std::panic::Location::caller(), |failure| match failure {
        WorkerError::Failed(e) => Some(e),
        WorkerError::Panicked(_) => None,
    })
}

/// [`run_worker_pool`], with panics delivered: each task's error arrives as
/// [`WorkerError::Failed`], and each panicking task as
/// [`WorkerError::Panicked`] (its message and the pool's spawn site); the
/// worker that caught it goes on, so the pool keeps its size.
///
/// ```
/// use tether::{Context, chan, pool::{self, WorkerError}};
///
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, rx) = chan::bounded::<pool::Task<String>>(3);
/// let errs = pool::run_worker_pool_catching(&Context::background(), 1, rx);
/// tx.send(pool::task(|_ctx| async { panic!("bad input") })).await.unwrap();
/// tx.send(pool::task(|_ctx| async { Err("disk full".to_string()) })).await.unwrap();
/// drop(tx);
/// let first = errs.recv().await.unwrap();
/// assert!(matches!(&first, WorkerError::Panicked(p) if p.message() == "bad input"));
/// // The one worker survived its task's panic and ran the next task.
/// assert_eq!(errs.recv().await.unwrap(), WorkerError::Failed("disk full".to_string()));
/// assert!(errs.recv().await.is_err()); // closed: every worker returned
/// # });
/// ```
#[track_caller]
pub fn run_worker_pool_catching<E: Send + 'static>(
    ctx: &Context,
    workers: usize,
    tasks: chan::Receiver<Task<E>>,
) -> chan::Receiver<WorkerError<E>> {
    start_pool(ctx, workers, tasks, std::panic::Location::caller(), Some)
}

/// Makes a [`Task`] from a closure returning a future: `pool::task(|ctx|
/// async move { .. })` instead of `Box::new(move |ctx| Box::pin(async move
/// { .. }))`.
///
/// ```
/// use tether::{Context, pool};
///
/// let name = String::from("report.csv");
/// let task: pool::Task<std::io::Error> = pool::task(move |ctx: Context| async move {
///     ctx.check().map_err(std::io::Error::other)?;
///     println!("writing {name}");
///     Ok(())
/// });
/// # drop(task);
/// ```
pub fn task<E, F, Fut>(f: F) -> Task<E>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    Box::new(move |ctx| Box::pin(f(ctx)))
}

fn start_pool<E: Send + 'static, R: Send + 'static>(
    ctx: &Context,
    workers: usize,
    tasks: chan::Receiver<Task<E>>,
    site: &'static std::panic::Location<'static>,
    report: fn(WorkerError<E>) -> Option<R>,
) -> chan::Receiver<R> {
    let (errs_tx, errs_rx) = chan::bounded::<R>(0);
    for _ in 0..workers {
        let (ctx, tasks, errs) = (ctx.clone(), tasks.clone(), errs_tx.clone());
        let reg = crate::task::Registration::lazy("pool worker", None, site);
        let w = worker(ctx, tasks, errs, site, report);
        let span = crate::trace::TaskSpan::new("pool worker", None, site);
        crate::task::spawn_async_in(span, "pool worker", crate::task::Tracked::new(w, reg));
    }
    // The workers hold the only senders: the channel closes when the last
    // one returns (Go's `wg.Wait(); close(errs)`).
    errs_rx
}

async fn worker<E: Send + 'static, R: Send + 'static>(
    ctx: Context,
    tasks: chan::Receiver<Task<E>>,
    errs: chan::Sender<R>,
    site: &'static std::panic::Location<'static>,
    report: fn(WorkerError<E>) -> Option<R>,
) {
    loop {
        // The common case first: a task is waiting. A done context still
        // wins (one of the choices Go's select may make when both are
        // ready); otherwise the select waits for either.
        if ctx.is_done() {
            return;
        }
        let task = match tasks.try_recv() {
            Ok(t) => t,
            Err(chan::TryRecvError::Closed) => return,
            Err(chan::TryRecvError::Empty) => crate::select! {
                done(ctx) => return,
                recv(tasks) -> t => match t {
                    Ok(t) => t,
                    Err(_) => return, // closed and drained
                },
            },
        };
        let failure = match run_caught(task, &ctx).await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => WorkerError::Failed(e),
            Err(payload) => WorkerError::Panicked(TaskPanicked::new("pool task", None, site, &*payload)),
        };
        let Some(r) = report(failure) else { continue };
        crate::select! {
            send(errs, r) -> _sent => {},
            done(ctx) => return,
        }
    }
}

/// Runs one task, catching a panic in its closure, its future's polls or
/// its future's drop: a task must not take its worker down with it.
async fn run_caught<E>(task: Task<E>, ctx: &Context) -> Result<Result<(), E>, Box<dyn std::any::Any + Send>> {
    let mut fut = catch_unwind(AssertUnwindSafe(|| task(ctx.clone())))?;
    let out = std::future::poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
        Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(payload) => Poll::Ready(Err(payload)),
    })
    .await;
    catch_unwind(AssertUnwindSafe(move || drop(fut)))?;
    out
}

/// What a [`run_worker_pool_catching`] pool reports for a task: its error,
/// or its panic.
///
/// Prints as the error or the panic inside does, and forwards `source()`
/// to it, so a chain printer shows each message once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerError<E> {
    /// The task returned this error.
    Failed(E),
    /// The task panicked; the worker caught it and went on.
    Panicked(TaskPanicked),
}

impl<E> WorkerError<E> {
    /// The task's error, or `None` for a panic.
    ///
    /// ```
    /// let e = tether::pool::WorkerError::Failed("timeout");
    /// assert_eq!(e.failed(), Some("timeout"));
    /// ```
    pub fn failed(self) -> Option<E> {
        match self {
            WorkerError::Failed(e) => Some(e),
            WorkerError::Panicked(_) => None,
        }
    }

    /// True for [`WorkerError::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, WorkerError::Panicked(_))
    }
}

impl<E: std::fmt::Display> std::fmt::Display for WorkerError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Failed(e) => e.fmt(f),
            WorkerError::Panicked(p) => p.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for WorkerError<E> {
    // Transparent: the message is the inner error's, so is the source.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WorkerError::Failed(e) => e.source(),
            WorkerError::Panicked(p) => p.source(),
        }
    }
}
