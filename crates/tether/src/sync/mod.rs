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
//!
//! ```
//! use std::sync::Arc;
//! use tether::{Context, sync::{AtomicValue, Mutex, Semaphore, WaitGroup}};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let batch_size = Arc::new(AtomicValue::new(4usize)); // a live setting, swapped whole
//! let slots = Arc::new(Semaphore::new(2)); // at most two jobs at once
//! let done = Arc::new(Mutex::new(Vec::new())); // shared by tasks and threads
//! let ctx = Context::background();
//! let wg = WaitGroup::new();
//! for job in 0..4 {
//!     let (batch_size, slots, done, ctx) = (batch_size.clone(), slots.clone(), done.clone(), ctx.clone());
//!     wg.go(async move {
//!         let _slot = slots.acquire(&ctx, 1).await.unwrap(); // given back on drop
//!         let size = *batch_size.load();
//!         done.lock().await.push((job, size));
//!     });
//! }
//! batch_size.store(8); // jobs that start from now on see 8
//! wg.wait().await;
//! assert_eq!(done.lock().await.len(), 4);
//! assert_eq!(slots.available(), 2);
//! # });
//! ```

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
