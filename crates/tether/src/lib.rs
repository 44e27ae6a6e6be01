//! # tether — Go's concurrency toolkit, structured, for threads and tasks
//!
//! tether gives Rust programs what Go programmers reach for every day —
//! contexts with causes, deadlines and values; buffered, unbuffered and
//! closable channels; `select`; errgroups; bounded worker pools; `WaitGroup`;
//! `Cond`; atomic snapshots; token-bucket rate limits and tickers — with one
//! API for OS threads (`*_blocking`) and async tasks, and with every task
//! tethered to a scope and a context so that nothing outlives its owner.
//!
//! The crate is a map of the concepts, one module per topic:
//!
//! | Go | tether |
//! |---|---|
//! | `context` | [`ctx`]: [`Context`], cancellation with causes, deadlines, values |
//! | `chan`, `close`, `range`, `select` | [`chan`]: `bounded(0)` rendezvous, `bounded(n)`, `unbounded()`; [`select!`], [`select_blocking!`] |
//! | `x/sync/errgroup`, goroutines that cannot leak | [`group`]: [`group::Group`], [`group::scope`] |
//! | the worker pool, bounded parallelism | [`pool`]: [`pool::run_worker_pool`], [`pool::map`] |
//! | `sync.WaitGroup`, `sync.Cond`, `atomic.Value`, `x/sync/semaphore` | [`sync`] |
//! | `x/time/rate` | [`rate`]: [`rate::Limiter`] |
//! | `time.Ticker`, `time.After`, `testing/synctest` | [`time`]: [`time::Ticker`], [`time::VirtualClock`], [`time::synctest`] |
//! | goleak | [`leak`]: [`leak::verify_none`], [`leak::live_tasks`] |
//!
//! **Coming from Go?** The [`guide`] answers the questions Go programmers
//! ask about concurrency — goroutine leaks, buffered or unbuffered
//! channels, `select`, context rules, the worker pool, atomics or a
//! mutex, `WaitGroup`, who closes a channel, errgroup, rate limiting,
//! `Cond`, `atomic.Value`, `WithCancelCause` — one page each, with
//! runnable examples and the pitfalls that are Rust's own.
//!
//! Every `*_blocking` method parks an OS thread and needs no async
//! runtime; every `async` method works on any executor. One channel, one
//! context or one `WaitGroup` can serve threads and tasks at the same time.
//! Async task *spawning* (groups, pools) uses tokio (feature `tokio`, on by
//! default). Feature `tokio-util` adds conversions between [`Context`] and
//! tokio-util's `CancellationToken`, both ways (module `ctx::tokio_util`).
//! Feature `tracing` reports tasks, cancellations and group failures to
//! the [`tracing`](https://docs.rs/tracing) crate (see [Tracing](#tracing)).
//!
//! ```
//! use std::time::Duration;
//! use tether::Context;
//!
//! let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(5));
//! assert!(!ctx.is_done());
//! cancel.cancel();
//! assert_eq!(ctx.err(), Some(tether::ctx::Error::Canceled));
//! ```
//!
//! ## Tracing
//!
//! With feature `tracing` (off by default; without it tether emits
//! nothing and pays nothing), tether speaks to whatever `tracing`
//! subscriber the program installs:
//!
//! - **Every task tether starts runs in a span** named `tether.task`, at
//!   level `DEBUG` (one per task, so a pool's tasks stay quiet unless
//!   asked for), with fields `kind` (`"group task"`,
//!   `"group blocking task"`, `"scope thread"`, `"pool worker"`,
//!   `"wait group task"`, `"after_func"`), `name` (the task's name, from
//!   [`Group::named`](group::Group::named) or
//!   [`Scope::spawn_named`](group::Scope::spawn_named), when it has one)
//!   and `spawned_at` (the spawn site, `file:line:col`). The span is
//!   created at the spawn, so its parent is the spawner's current span,
//!   and is entered for every poll of an async task (and its drop) and
//!   for the whole of a thread's closure: events inside a task carry the
//!   task's span.
//! - **A context becoming done is an event**: target `tether::ctx`, level
//!   `DEBUG`, message `context done`, fields `error` (`"context canceled"`
//!   or `"context deadline exceeded"`) and `cause` (the cause's message,
//!   when one was given: [`cancel_with_cause`](ctx::CancelHandle::cancel_with_cause),
//!   [`with_timeout_cause`](Context::with_timeout_cause), a group's first
//!   error). One event per cancel, for the context cancelled — not for
//!   each descendant it takes along — emitted in the canceller's span
//!   (a deadline's on tether's timer thread) before the context's waiters
//!   are woken.
//! - **A group's first error is an event**: target `tether::group`, level
//!   `INFO` (the error itself goes to whoever waits on the group; the event
//!   says when and where it happened), message
//!   `group task failed (first error)`, fields `error` (the error's
//!   message, for groups made by
//!   [`with_context`](group::Group::with_context) and
//!   [`group::scope`], whose error types can show one), `error_type` (the
//!   type's name, always), `kind`, `task` (the task's name, if any) and
//!   `spawned_at`. Emitted once per group, however many tasks fail, in the
//!   failing task's span.
//!
//! Nothing in the API changes with the feature; with it on and a
//! subscriber installed, the group below shows as a `tether.task` span
//! `{kind="group task" name="fetch" spawned_at=".../main.rs:7:24"}` holding
//! an INFO `tether::group` event (`error="context deadline exceeded"`)
//! and a DEBUG `tether::ctx` event (the group's context, cancelled with
//! that error as its cause):
//!
//! ```
//! use tether::{Context, ctx, group::Group};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let (g, gctx) = Group::<ctx::Error>::with_context(&Context::background());
//! g.named("fetch").spawn(async { Err(ctx::Error::DeadlineExceeded) }).await;
//! assert_eq!(g.wait().await, Err(ctx::Error::DeadlineExceeded));
//! assert!(gctx.is_done());
//! # });
//! ```
#![warn(missing_docs)]

pub(crate) mod clock;
pub(crate) mod slab;
pub(crate) mod spin;
pub(crate) mod sync_impl;
pub(crate) mod task;
pub(crate) mod trace;
pub(crate) mod waiter;

pub mod chan;
pub mod ctx;
pub mod group;
pub mod guide;
pub mod leak;
pub mod pool;
pub mod rate;
pub mod sync;
pub mod time;

pub use ctx::Context;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
