//! Synchronization for threads and tasks alike: [`WaitGroup`], [`Cond`],
//! [`AtomicValue`] and a weighted [`Semaphore`].
//!
//! | Go | tether |
//! |---|---|
//! | `sync.WaitGroup` | [`WaitGroup`] |
//! | `sync.Mutex` + `sync.Cond` (`Wait`, `Signal`, `Broadcast`) | [`Mutex`] + [`Cond`] (`wait`/`wait_blocking`, `notify_one`, `notify_all`), plus waits a [`Context`](crate::Context) can cancel |
//! | `atomic.Value`, `atomic.Pointer[T]` | [`AtomicValue<T>`](AtomicValue) (`load`, `store`, `swap`, `compare_and_swap`, `update`) |
//! | `golang.org/x/sync/semaphore.Weighted` | [`Semaphore`] (`acquire(&ctx, n)`, `acquire_blocking`, `try_acquire`, `release`) |
//!
//! Every wait comes in two forms, an `async fn` for tasks and a
//! `*_blocking` method for OS threads (no runtime needed), and both kinds
//! of waiter can share one primitive. Every future here is cancel-safe:
//! dropping it loses no notification and keeps no permit.
//!
//! Waiting allocates nothing: a waiter's node of the crate's intrusive
//! waiter list lives inside the future (so the futures that wait are
//! `!Unpin`; `.await` pins them) or on the blocked thread's stack, and
//! leaves the list in O(1) when the wait ends or is given up (`node.rs`).

mod atomic_value;
mod cond;
mod mutex;
mod node;
mod permit;
mod semaphore;
mod wait_group;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

pub use atomic_value::*;
pub use cond::*;
pub use mutex::*;
pub use permit::*;
pub use semaphore::*;
pub use wait_group::*;
