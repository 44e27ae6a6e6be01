//! [`Permit`] and [`OwnedPermit`]: permits held from a
//! [`Semaphore`], given back on drop.

use std::fmt;
use std::sync::Arc;

use super::Semaphore;

/// Permits held from a [`Semaphore`]; dropping it releases them.
#[must_use = "dropping the permit releases it at once"]
pub struct Permit<'a> {
    pub(super) sem: &'a Semaphore,
    pub(super) n: usize,
}

impl Permit<'_> {
    /// How many permits this holds.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Keeps the permits acquired without releasing them on drop (return
    /// them later with [`Semaphore::release`], Go's style); returns how
    /// many.
    pub fn forget(mut self) -> usize {
        std::mem::take(&mut self.n)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("n", &self.n).finish()
    }
}

/// Permits held from an `Arc`-shared [`Semaphore`], movable into spawned
/// tasks and threads; dropping it releases them.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedPermit {
    pub(super) sem: Arc<Semaphore>,
    pub(super) n: usize,
}

impl OwnedPermit {
    /// How many permits this holds.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Keeps the permits acquired without releasing them on drop.
    pub fn forget(mut self) -> usize {
        std::mem::take(&mut self.n)
    }

    /// The semaphore these permits came from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").field("n", &self.n).finish()
    }
}
