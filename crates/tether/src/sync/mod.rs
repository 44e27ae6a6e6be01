//! Synchronization for threads and tasks alike: [`WaitGroup`], [`Cond`],
//! [`AtomicValue`] and a weighted [`Semaphore`].

mod atomic_value;
mod cond;
mod semaphore;
mod wait_group;

pub use atomic_value::*;
pub use cond::*;
pub use semaphore::*;
pub use wait_group::*;
