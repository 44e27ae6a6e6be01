//! # Go → tether: the questions Go programmers ask, answered in Rust
//!
//! One page per question of a Go concurrency deep dive — the questions a
//! Go programmer brings to a new language. Each page says what the Go
//! idiom means and why Go code is written that way, shows the tether code
//! that does the same (every example is a doc test: it compiles and runs
//! with `cargo test`), and lists the pitfalls that are Rust's own: the
//! ones Go never had to warn about.
//!
//! | question | page | tether's answer, in short |
//! |---|---|---|
//! | What is a goroutine leak, and how do you prevent one? | [`goroutine_leaks`] | every task is tethered to a scope and a context; [`leak::verify_none`](crate::leak::verify_none) and [`time::synctest`](crate::time::synctest) prove it in tests |
//! | Buffered or unbuffered channel? | [`buffered_vs_unbuffered`] | [`chan::bounded(0)`](crate::chan::bounded) is a true rendezvous, `bounded(n)` a queue |
//! | What is `select` for? | [`select`] | [`select!`](crate::select) with `recv`/`send`/`done`/`after`/`tick`/`fut`/`default` arms, [`chan::Select`](crate::chan::Select) at run time |
//! | How should `context.Context` be used? | [`context_rules`] | pass `&Context` first; the [`CancelHandle`](crate::ctx::CancelHandle) cancels when dropped |
//! | The worker pool with context cancellation | [`worker_pool`] | [`pool::run_worker_pool`](crate::pool::run_worker_pool), or [`pool::map`](crate::pool::map) |
//! | Atomics or a mutex? | [`atomics_vs_mutex`] | `std::sync::atomic` for one word, a mutex for an invariant over several |
//! | `sync.WaitGroup` best practice | [`wait_group`] | [`WaitGroup::go`](crate::sync::WaitGroup::go) adds, spawns and calls `done` for you |
//! | Who closes a channel? | [`closing_channels`] | the senders, by being dropped; a send on a closed channel hands the value back |
//! | Goroutines that produce errors | [`errgroup`] | [`group::Group::with_context`](crate::group::Group::with_context) |
//! | Rate limiting and throttling | [`rate_limiting`] | [`time::Ticker`](crate::time::Ticker), [`rate::Limiter`](crate::rate::Limiter) |
//! | When to use `sync.Cond` | [`cond`] | [`sync::Cond`](crate::sync::Cond) with [`sync::Mutex`](crate::sync::Mutex), waits a context can end |
//! | `atomic.Value` | [`atomic_value`] | [`sync::AtomicValue<T>`](crate::sync::AtomicValue) |
//! | `context.WithCancelCause` | [`cancel_cause`] | [`cancel_with_cause`](crate::ctx::CancelHandle::cancel_with_cause), [`cause`](crate::Context::cause) |
//!
//! # Reading the examples
//!
//! tether has one API for OS threads and async tasks: every waiting
//! operation has an `async` form and a `*_blocking` form that parks the
//! thread. The examples use whichever shows the idea best. Async examples
//! run on a tokio runtime (the lines that build it are hidden); examples
//! that involve time run on a [`VirtualClock`](crate::time::VirtualClock),
//! usually through [`time::synctest`](crate::time::synctest), so that a
//! minute of timeouts takes a few milliseconds and the test fails if a
//! task outlives it.
//!
//! Three Rust rules come up on almost every page:
//!
//! - **Never park a thread inside an async task.** A `*_blocking` call
//!   (or `std::thread::sleep`, or a std lock held for long) inside an
//!   `async` block stops every task that shares its executor thread, and
//!   on a current-thread runtime it can deadlock the whole program. In
//!   async code, `.await` the async form.
//! - **Tasks are `Send + 'static`.** A spawned task cannot borrow from the
//!   function that spawned it: move clones in (a
//!   [`Context`](crate::Context), a channel end and a
//!   [`WaitGroup`](crate::sync::WaitGroup) are all cheap to clone), or use
//!   [`group::scope`](crate::group::scope), whose threads may borrow.
//! - **Drops do things.** Dropping a `CancelHandle` cancels its context,
//!   dropping the last `Sender` closes its channel, dropping a `Group`
//!   aborts its tasks, dropping a future cancels what it was doing. This
//!   is Go's `defer`, built in — and `let _ = ...` runs it at once.

#[doc = include_str!("goroutine_leaks.md")]
pub mod goroutine_leaks {}

#[doc = include_str!("buffered_vs_unbuffered.md")]
pub mod buffered_vs_unbuffered {}

#[doc = include_str!("select.md")]
pub mod select {}

#[doc = include_str!("context_rules.md")]
pub mod context_rules {}

#[doc = include_str!("worker_pool.md")]
pub mod worker_pool {}

#[doc = include_str!("atomics_vs_mutex.md")]
pub mod atomics_vs_mutex {}

#[doc = include_str!("wait_group.md")]
pub mod wait_group {}

#[doc = include_str!("closing_channels.md")]
pub mod closing_channels {}

#[doc = include_str!("errgroup.md")]
pub mod errgroup {}

#[doc = include_str!("rate_limiting.md")]
pub mod rate_limiting {}

#[doc = include_str!("cond.md")]
pub mod cond {}

#[doc = include_str!("atomic_value.md")]
pub mod atomic_value {}

#[doc = include_str!("cancel_cause.md")]
pub mod cancel_cause {}
