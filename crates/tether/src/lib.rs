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
//! | `context` | [`ctx`] |
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
pub(crate) mod sync_impl;
pub(crate) mod task;
pub(crate) mod waiter;

pub mod chan;
pub mod ctx;
pub mod group;
pub mod leak;
pub mod pool;
pub mod rate;
pub mod sync;
pub mod time;

pub use ctx::Context;
