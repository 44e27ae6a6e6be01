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
