//! [`map`] / [`map_stream`]: run `f` over every input with at most `limit`
//! tasks at once, as a `Stream` of results (in input order or as they
//! complete) with fail-fast and collect-all collectors.
//!
//! Invariants:
//! - `outstanding` counts inputs pulled and not yet yielded; it never
//!   exceeds `limit`, so running tasks plus buffered results stay within
//!   `limit` and the source is pulled only when there is room
//!   (backpressure).
//! - Every pulled input yields exactly one output: its task's result, or —
//!   if the task was never started (context done) or was aborted — an
//!   error made from the context's error. A task's [`Deliver`] guard sends
//!   its outcome even when the task is dropped, so the map never waits on a
//!   result that cannot come.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskCx, Poll, Waker};

use futures_core::Stream;

use crate::ctx::{self, Context};
use crate::group::Group;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type MapFn<T, U, E> = Arc<dyn Fn(Context, T) -> BoxFut<Result<U, E>> + Send + Sync>;

/// Maps `f` over `items` with at most `limit` tasks running at once, each
/// on the ambient tokio runtime (or its own thread without one), each given
/// the map's context — a child of `ctx`.
///
/// The result is a [`Map`]: a [`Stream`] of one `Result<U, E>` per input,
/// **in input order** (call [`unordered`](Map::unordered) for completion
/// order), with [`try_collect`](Map::try_collect) (fail fast) and
/// [`collect_all`](Map::collect_all) (every result).
///
/// Inputs are pulled lazily: the next one only when fewer than `limit` are
/// running or waiting to be yielded, so a slow consumer holds the producer
/// back. (So, as with any limit, `limit` tasks that all wait for something
/// only a later input would do wait forever.) Once the context is done, no new task starts; each remaining input
/// pulled yields `Err(E::from(ctx_error))` — hence `E: From<ctx::Error>`.
///
/// ```
/// use tether::{Context, ctx, pool};
///
/// #[derive(Debug, PartialEq)]
/// enum FetchError { NotFound(u32), Canceled(ctx::Error) }
/// impl From<ctx::Error> for FetchError {
///     fn from(e: ctx::Error) -> Self { FetchError::Canceled(e) }
/// }
///
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let lengths = pool::map(&Context::background(), 4, 1..=5u32, |_ctx, id| async move {
///     Ok::<_, FetchError>(id * 10)
/// })
/// .try_collect()
/// .await;
/// assert_eq!(lengths, Ok(vec![10, 20, 30, 40, 50]));
///
/// let first_error = pool::map(&Context::background(), 2, 1..=100u32, |ctx, id| async move {
///     if id == 2 { return Err(FetchError::NotFound(id)) }
///     ctx.done().await; // the others stop once the map fails fast
///     Err::<u32, _>(FetchError::Canceled(ctx.err().unwrap()))
/// })
/// .try_collect()
/// .await;
/// assert_eq!(first_error, Err(FetchError::NotFound(2)));
/// # });
/// ```
///
/// # Panics
///
/// If `limit` is 0. A panicking task cancels the map's context and its
/// panic is resumed by the consumer's next poll, after the other tasks have
/// ended.
#[track_caller]
pub fn map<I, T, U, E, F, Fut>(ctx: &Context, limit: usize, items: I, f: F) -> Map<T, U, E>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: Send + 'static,
    T: Send + 'static,
    U: Send + 'static,
    E: From<ctx::Error> + Send + 'static,
    F: Fn(Context, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    map_stream(ctx, limit, IterStream(items.into_iter()), f)
}

/// [`map`] over a [`Stream`] of inputs; the stream is polled only when
/// there is room for another input (backpressure).
///
/// ```
/// use tether::{Context, chan, pool};
///
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, rx) = chan::bounded::<u64>(1);
/// tokio::spawn(async move {
///     for i in 0..20 {
///         tx.send(i).await.unwrap(); // waits while the map has no room
///     }
/// });
/// let squares = pool::map_stream(&Context::background(), 3, rx, |_ctx, x| async move {
///     Ok::<_, tether::ctx::Error>(x * x)
/// })
/// .try_collect()
/// .await
/// .unwrap();
/// assert_eq!(squares.iter().sum::<u64>(), (0..20).map(|x| x * x).sum());
/// # });
/// ```
///
/// # Panics
///
/// As [`map`]: if `limit` is 0; a task's panic is resumed by the
/// consumer's next poll, after the other tasks have ended.
#[track_caller]
pub fn map_stream<S, T, U, E, F, Fut>(ctx: &Context, limit: usize, items: S, f: F) -> Map<T, U, E>
where
    S: Stream<Item = T> + Send + 'static,
    T: Send + 'static,
    U: Send + 'static,
    E: From<ctx::Error> + Send + 'static,
    F: Fn(Context, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    assert!(limit > 0, "pool::map with limit 0: no input could ever be processed");
    // The map's tasks never return errors to the group (results travel
    // through `Shared`); the group provides the context, abort-on-drop,
    // panic propagation and leak tracking.
    let (group, gctx) = Group::<Infallible>::with_context(ctx);
    Map {
        group: Some(group),
        finishing: None,
        ctx: gctx,
        source: Some(Box::pin(items)),
        f: Arc::new(move |c, t| Box::pin(f(c, t))),
        shared: Arc::new(Shared { state: Mutex::new(Arrived { items: VecDeque::new(), waker: None }) }),
        window: VecDeque::new(),
        ready: VecDeque::new(),
        next_index: 0,
        next_yield: 0,
        outstanding: 0,
        limit,
        ordered: true,
        fail_fast: false,
        site: std::panic::Location::caller(),
    }
}

/// An iterator as a `Stream` (always ready).
struct IterStream<I>(I);

// The iterator is never pinned: it is only called through `&mut`.
impl<I> Unpin for IterStream<I> {}

impl<I: Iterator> Stream for IterStream<I> {
    type Item = I::Item;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut TaskCx<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.0.next())
    }
}

enum Outcome<U, E> {
    Done(Result<U, E>),
    /// Dropped before producing a result: never started, aborted, or
    /// panicked (the group knows which).
    Lost,
}

struct Shared<U, E> {
    state: Mutex<Arrived<U, E>>,
}

struct Arrived<U, E> {
    items: VecDeque<(u64, Outcome<U, E>)>,
    waker: Option<Waker>,
}

impl<U, E> Shared<U, E> {
    fn deliver(&self, index: u64, outcome: Outcome<U, E>) {
        let waker = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.items.push_back((index, outcome));
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Delivers `Lost` for its input unless the task delivered a result first.
struct Deliver<U, E> {
    shared: Arc<Shared<U, E>>,
    index: u64,
    delivered: bool,
}

impl<U, E> Drop for Deliver<U, E> {
    fn drop(&mut self) {
        if !self.delivered {
            self.shared.deliver(self.index, Outcome::Lost);
        }
    }
}

/// The stream returned by [`map`] and [`map_stream`]: one `Result<U, E>`
/// per input, in input order unless [`unordered`](Map::unordered).
///
/// Dropping it cancels the map's context and aborts its tasks.
///
/// Consume it with a collector, or as a [`Stream`] (with `futures`'
/// `StreamExt::next`, or by hand as here); [`cancel`](Map::cancel) stops
/// it early:
///
/// ```
/// use std::pin::Pin;
/// use futures_core::Stream;
/// use tether::{Context, ctx, pool};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut squares = pool::map(&Context::background(), 2, 1..=4u64, |_ctx, x| async move {
///     Ok::<_, ctx::Error>(x * x)
/// });
/// let mut got = Vec::new();
/// while let Some(r) = std::future::poll_fn(|cx| Pin::new(&mut squares).poll_next(cx)).await {
///     got.push(r.unwrap());
/// }
/// assert_eq!(got, [1, 4, 9, 16]); // input order
///
/// let waits = pool::map(&Context::background(), 2, 0..100u32, |ctx, _i| async move {
///     ctx.done().await; // would wait forever without the cancel
///     Err::<u32, _>(ctx.err().unwrap())
/// });
/// waits.cancel(); // no new task starts; the remaining inputs yield the error
/// let all = waits.collect_all().await;
/// assert_eq!(all.len(), 100);
/// assert!(all.iter().all(|r| *r == Err(ctx::Error::Canceled)));
/// # });
/// ```
///
/// # Cancel safety
///
/// Polling it is cancel-safe: a result not yet yielded stays buffered for
/// the next poll. The collectors consume the map: dropping their futures
/// drops it (tasks aborted, results lost).
#[must_use = "streams do nothing unless polled"]
pub struct Map<T, U, E: Send + 'static> {
    group: Option<Group<Infallible>>,
    finishing: Option<BoxFut<Result<(), Infallible>>>,
    ctx: Context,
    source: Option<Pin<Box<dyn Stream<Item = T> + Send>>>,
    f: MapFn<T, U, E>,
    shared: Arc<Shared<U, E>>,
    /// Ordered mode: results by input index, from `next_yield` on.
    window: VecDeque<Option<Outcome<U, E>>>,
    /// Unordered mode: results in arrival order.
    ready: VecDeque<Outcome<U, E>>,
    next_index: u64,
    next_yield: u64,
    outstanding: usize,
    limit: usize,
    ordered: bool,
    /// Set by `try_collect`: an error is yielded as soon as it arrives.
    fail_fast: bool,
    site: &'static std::panic::Location<'static>,
}

impl<T, U, E: Send + 'static> Unpin for Map<T, U, E> {}

impl<T: Send + 'static, U: Send + 'static, E: From<ctx::Error> + Send + 'static> Map<T, U, E> {
    /// Yields results as they complete instead of in input order.
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        self
    }

    /// The map's context (a child of the one given to [`map`]); cancel the
    /// map with [`cancel`](Map::cancel).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Cancels the map's context: running tasks see it, no new task
    /// starts, remaining inputs yield the context's error.
    pub fn cancel(&self) {
        if let Some(g) = &self.group {
            g.cancel();
        }
    }

    /// Every output in order (completion order if
    /// [`unordered`](Map::unordered)); fails fast: on the first error the
    /// map is cancelled, running tasks are awaited (they see their context
    /// done), and that error is returned.
    ///
    /// # Errors
    ///
    /// The first error yielded: a task's `Err`, as soon as it arrives (ahead
    /// of earlier inputs still running), or `E::from(ctx_error)` for an
    /// input that got no task because the map's context was done (the
    /// parent's cancellation or deadline, or [`cancel`](Map::cancel)). A
    /// panicking task is not an error: its panic is resumed instead (see
    /// [`map`]), even after an error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the map: its tasks are aborted.
    pub async fn try_collect(mut self) -> Result<Vec<U>, E> {
        self.fail_fast = true;
        let mut out = Vec::new();
        while let Some(r) = std::future::poll_fn(|cx| self.poll_item(cx)).await {
            match r {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.cancel();
                    self.source = None; // pull nothing more
                    while std::future::poll_fn(|cx| self.poll_item(cx)).await.is_some() {}
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Every output, errors included (collect-all), in order (completion
    /// order if [`unordered`](Map::unordered)). The whole source is
    /// consumed: inputs pulled after the context is done yield its error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the map: its tasks are aborted.
    pub async fn collect_all(mut self) -> Vec<Result<U, E>> {
        let mut out = Vec::new();
        while let Some(r) = std::future::poll_fn(|cx| self.poll_item(cx)).await {
            out.push(r);
        }
        out
    }

    /// [`try_collect`](Map::try_collect) for threads: parks until done.
    ///
    /// # Errors
    ///
    /// As [`try_collect`](Map::try_collect): the first error yielded.
    pub fn try_collect_blocking(self) -> Result<Vec<U>, E> {
        crate::task::block_on(self.try_collect())
    }

    /// [`collect_all`](Map::collect_all) for threads: parks until done.
    pub fn collect_all_blocking(self) -> Vec<Result<U, E>> {
        crate::task::block_on(self.collect_all())
    }

    fn ctx_error(&self) -> E {
        E::from(self.ctx.err().unwrap_or(ctx::Error::Canceled))
    }

    fn start(&mut self, item: T) {
        let index = self.next_index;
        self.next_index += 1;
        self.outstanding += 1;
        if self.ordered {
            self.window.push_back(None);
        }
        if self.ctx.is_done() {
            let e = self.ctx_error();
            self.place(index, Outcome::Done(Err(e)));
            return;
        }
        let mut guard = Deliver { shared: self.shared.clone(), index, delivered: false };
        let fut = (self.f)(self.ctx.clone(), item);
        let task = async move {
            let r = fut.await;
            guard.delivered = true;
            guard.shared.deliver(guard.index, Outcome::Done(r));
            Ok(())
        };
        let group = self.group.as_ref().expect("map is running");
        // No group limit (the map keeps its own window), so this fails only
        // if the context is done, and then the guard delivers `Lost`.
        let _ = group.try_spawn_as("pool task", task, self.site);
    }

    fn place(&mut self, index: u64, outcome: Outcome<U, E>) {
        if self.ordered {
            let slot = (index - self.next_yield) as usize;
            self.window[slot] = Some(outcome);
        } else {
            self.ready.push_back(outcome);
        }
    }

    /// Switches to completion order, keeping the results already in.
    fn make_unordered(&mut self) {
        self.ordered = false;
        for outcome in self.window.drain(..).flatten() {
            self.ready.push_back(outcome);
        }
    }

    fn take_ready(&mut self) -> Option<Outcome<U, E>> {
        if self.ordered {
            if matches!(self.window.front(), Some(Some(_))) {
                self.next_yield += 1;
                return self.window.pop_front().flatten();
            }
            None
        } else {
            self.ready.pop_front()
        }
    }

    fn poll_item(&mut self, cx: &mut TaskCx<'_>) -> Poll<Option<Result<U, E>>> {
        loop {
            if let Some(fin) = self.finishing.as_mut() {
                // Panics are resumed here, after every task ended.
                return match fin.as_mut().poll(cx) {
                    Poll::Ready(_) => {
                        self.finishing = None;
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                };
            }
            let arrived: Vec<_> = {
                let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
                s.items.drain(..).collect()
            };
            for (index, outcome) in arrived {
                if self.fail_fast && self.ordered && !matches!(outcome, Outcome::Done(Ok(_))) {
                    // Failing fast: an error must not wait behind earlier
                    // inputs still running (they may be waiting for the
                    // very cancellation this error causes).
                    self.make_unordered();
                }
                self.place(index, outcome);
            }
            if let Some(outcome) = self.take_ready() {
                self.outstanding -= 1;
                match outcome {
                    Outcome::Done(r) => return Poll::Ready(Some(r)),
                    Outcome::Lost => {
                        if self.group.as_ref().is_some_and(|g| g.has_panicked()) {
                            self.source = None;
                            self.begin_finish();
                            continue;
                        }
                        return Poll::Ready(Some(Err(self.ctx_error())));
                    }
                }
            }
            if self.outstanding < self.limit {
                if let Some(src) = self.source.as_mut() {
                    match src.as_mut().poll_next(cx) {
                        Poll::Ready(Some(item)) => {
                            self.start(item);
                            continue;
                        }
                        Poll::Ready(None) => {
                            self.source = None;
                            continue;
                        }
                        Poll::Pending => {}
                    }
                }
            }
            if self.outstanding == 0 && self.source.is_none() {
                if self.group.is_none() {
                    return Poll::Ready(None);
                }
                self.begin_finish();
                continue;
            }
            let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.items.is_empty() {
                s.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
    }

    fn begin_finish(&mut self) {
        if let Some(g) = self.group.take() {
            self.finishing = Some(Box::pin(g.wait()));
        }
    }
}

impl<T: Send + 'static, U: Send + 'static, E: From<ctx::Error> + Send + 'static> Stream for Map<T, U, E> {
    type Item = Result<U, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Result<U, E>>> {
        self.get_mut().poll_item(cx)
    }
}

impl<T, U, E: Send + 'static> std::fmt::Debug for Map<T, U, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("limit", &self.limit)
            .field("ordered", &self.ordered)
            .field("outstanding", &self.outstanding)
            .finish_non_exhaustive()
    }
}
