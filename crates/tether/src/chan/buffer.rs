//! The lock-free buffer of a buffered channel, chosen at construction: a
//! [`Ring`] for a bounded channel (capacity ≥ 1), [`Blocks`] for an
//! unbounded one. A rendezvous channel has none.

use super::blocks::Blocks;
use super::ring::{Drained, Refused, Ring};

pub(crate) enum Buffer<T> {
    Ring(Ring<T>),
    Blocks(Blocks<T>),
}

impl<T> Buffer<T> {
    #[inline]
    pub(crate) fn push(&self, v: T) -> Result<(), (T, Refused)> {
        match self {
            Buffer::Ring(r) => r.push(v),
            Buffer::Blocks(b) => b.push(v),
        }
    }

    #[inline]
    pub(crate) fn pop(&self) -> Result<T, Drained> {
        match self {
            Buffer::Ring(r) => r.pop(),
            Buffer::Blocks(b) => b.pop(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Buffer::Ring(r) => r.len(),
            Buffer::Blocks(b) => b.len(),
        }
    }

    pub(crate) fn close(&self) -> bool {
        match self {
            Buffer::Ring(r) => r.close(),
            Buffer::Blocks(b) => b.close(),
        }
    }

    /// A hint: a pop might find a value (or the close).
    #[inline]
    pub(crate) fn maybe_poppable(&self) -> bool {
        match self {
            Buffer::Ring(r) => r.maybe_poppable(),
            Buffer::Blocks(b) => b.maybe_poppable(),
        }
    }

    /// A hint: a push might find room (or the close).
    #[inline]
    pub(crate) fn maybe_pushable(&self) -> bool {
        match self {
            Buffer::Ring(r) => r.maybe_pushable(),
            Buffer::Blocks(_) => true,
        }
    }

    /// Values the buffer's memory can hold right now.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Buffer::Ring(r) => r.capacity(),
            Buffer::Blocks(b) => b.capacity(),
        }
    }
}
