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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Two producers and two consumers on each flavour: every value arrives
    /// exactly once, in each producer's order.
    #[test]
    fn concurrent_producers_and_consumers_lose_nothing() {
        for q in [Buffer::Ring(Ring::new(8)), Buffer::Blocks(Blocks::default())] {
            let q = std::sync::Arc::new(q);
            let per = 20_000u64;
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let q = q.clone();
                    std::thread::spawn(move || {
                        for i in 0..per {
                            let mut v = p * per + i;
                            while let Err((back, _)) = q.push(v) {
                                v = back;
                                std::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    std::thread::spawn(move || {
                        let (mut got, mut last) = (Vec::new(), [None::<u64>; 2]);
                        while got.len() < per as usize {
                            match q.pop() {
                                Ok(v) => {
                                    let p = (v / per) as usize;
                                    assert!(last[p].is_none_or(|l| l < v), "per-producer order");
                                    last[p] = Some(v);
                                    got.push(v);
                                }
                                Err(_) => std::thread::yield_now(),
                            }
                        }
                        got
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            let mut all: Vec<u64> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
            all.sort();
            assert_eq!(all, (0..2 * per).collect::<Vec<_>>());
        }
    }
}
