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
//! | Go's `RunWorkerPool`: workers pulling `Task`s from a channel, errors on a channel | [`run_worker_pool`] |
//! | results of `f(item)` for each item, in input order, fail fast | `map(..).try_collect().await` |
//! | the same, every result (errors included) | `map(..).collect_all().await` |
//! | results as they complete | `map(..).unordered()` |
//! | a `Stream` as the source | [`map_stream`] |
//! | plain threads, no runtime | `try_collect_blocking` / `collect_all_blocking` |

mod map;

pub use map::{Map, map, map_stream};

use std::future::Future;
use std::pin::Pin;

use crate::chan;
use crate::ctx::Context;

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
/// A panicking task ends its worker (the panic is reported by the panic
/// hook and the worker's sender is dropped, as a crashed goroutine's would
/// be): the pool continues with the remaining workers. Use a
/// [`Group`](crate::group::Group) or [`map`] to have panics propagate.
#[track_caller]
pub fn run_worker_pool<E: Send + 'static>(
    ctx: &Context,
    workers: usize,
    tasks: chan::Receiver<Task<E>>,
) -> chan::Receiver<E> {
    let (errs_tx, errs_rx) = chan::bounded::<E>(0);
    let site = std::panic::Location::caller();
    for _ in 0..workers {
        let (ctx, tasks, errs) = (ctx.clone(), tasks.clone(), errs_tx.clone());
        let reg = crate::task::Registration::lazy("pool worker", None, site);
        crate::task::spawn_async("pool worker", crate::task::Tracked::new(worker(ctx, tasks, errs), reg));
    }
    // The workers hold the only senders: the channel closes when the last
    // one returns (Go's `wg.Wait(); close(errs)`).
    errs_rx
}

async fn worker<E: Send + 'static>(ctx: Context, tasks: chan::Receiver<Task<E>>, errs: chan::Sender<E>) {
    loop {
        let task = crate::select! {
            done(ctx) => return,
            recv(tasks) -> t => match t {
                Ok(t) => t,
                Err(_) => return, // closed and drained
            },
        };
        if let Err(e) = task(ctx.clone()).await {
            crate::select! {
                send(errs, e) -> _sent => {},
                done(ctx) => return,
            }
        }
    }
}
