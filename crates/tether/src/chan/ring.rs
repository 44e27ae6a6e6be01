//! The buffer of a bounded channel: a lock-free multi-producer
//! multi-consumer ring with a sequence stamp per slot (Dmitry Vyukov's
//! bounded queue, the design of crossbeam's array flavour).
//!
//! Producers only touch `tail` and the slot they claim; consumers only
//! `head` and theirs; neither reads the other's index except to tell
//! "full" or "empty". So a producer and a consumer on two cores share no
//! written cache line but the slots themselves (a line holds several), and
//! a send or receive that needs no waiting takes no lock at all.
//!
//! Positions are `lap + index`: a slot's stamp says whose turn it is (the
//! producer of position `p` when `stamp == p`, its consumer when `stamp ==
//! p + 1`). `tail` also carries the channel's close mark, so closing and
//! sending cannot interleave: once the mark is set no push can claim a
//! slot, and a consumer that sees the ring empty sees the mark in the same
//! load.

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use crate::spin::CachePadded;
use crate::sync_impl::{AtomicUsize, UnsafeCell};
use crate::waiter::Backoff;

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A consumers' position read at some instant (see [`Ring::len_since`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeadSeen(usize);

/// Why a push failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every slot is taken.
    Full,
    /// The channel is closed.
    Closed,
}

/// Why a pop returned nothing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Nothing is buffered (and no push is half done).
    Empty,
    /// Nothing is buffered and the channel is closed: nothing ever will be.
    Closed,
}

pub(crate) struct Ring<T> {
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    cap: usize,
    /// The close mark: the power of two above `cap`, one bit above every
    /// index bit.
    mark: usize,
    /// Positions are `lap * one_lap + index`, with `one_lap = 2 * mark`, so
    /// the mark bit is never part of a position.
    one_lap: usize,
}

// SAFETY: the ring hands each value from one producer to one consumer
// (the stamps make every slot exclusively owned by the thread whose turn
// it is), so sharing it moves `T`s between threads: `T: Send` suffices.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `cap` slots (`cap >= 1`), all allocated now.
    pub(crate) fn new(cap: usize) -> Ring<T> {
        assert!(cap > 0, "a ring needs at least one slot");
        let mark = (cap + 1).next_power_of_two();
        let slots =
            (0..cap).map(|i| Slot { stamp: AtomicUsize::new(i), value: UnsafeCell::new(MaybeUninit::uninit()) });
        Ring {
            head: CachePadded(AtomicUsize::new(0)),
            tail: CachePadded(AtomicUsize::new(0)),
            slots: slots.collect(),
            cap,
            mark,
            one_lap: mark * 2,
        }
    }

    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        &self.slots[pos & (self.mark - 1)]
    }

    /// The position after `pos` (the next lap after the last index).
    #[inline]
    fn next(&self, pos: usize) -> usize {
        if (pos & (self.mark - 1)) + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// Appends `v`, or hands it back if the ring is full or closed.
    ///
    /// A slot whose previous value is still being read by a consumer that
    /// already moved `head` is waited out (a few instructions of that
    /// consumer; it backs off by yielding if the consumer was preempted).
    pub(crate) fn push(&self, v: T) -> Result<(), (T, Refused)> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.load(Relaxed);
        loop {
            if tail & self.mark != 0 {
                return Err((v, Refused::Closed));
            }
            let slot = self.slot(tail);
            let stamp = slot.stamp.load(Acquire);
            if stamp == tail {
                match self.tail.compare_exchange_weak(tail, self.next(tail), SeqCst, Relaxed) {
                    Ok(_) => {
                        // SAFETY: the CAS made this slot ours until we
                        // publish its stamp; no one else reads or writes it.
                        slot.value.with_mut(|p| unsafe { (*p).write(v) });
                        slot.stamp.store(tail + 1, Release);
                        return Ok(());
                    }
                    Err(now) => {
                        tail = now;
                        backoff.spin_light();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds the value of the previous lap: full,
                // unless a consumer is reading it right now.
                let head = self.head.load(SeqCst);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err((v, Refused::Full));
                }
                backoff.snooze();
                tail = self.tail.load(Relaxed);
            } else {
                // Another producer claimed this position: catch up.
                backoff.snooze();
                tail = self.tail.load(Relaxed);
            }
        }
    }

    /// Takes the oldest value. A slot claimed by a producer that has not
    /// finished writing is waited out, so `Empty` and `Closed` are exact:
    /// no push had claimed a slot at that instant.
    pub(crate) fn pop(&self) -> Result<T, Drained> {
        let mut backoff = Backoff::new();
        let mut head = self.head.load(Relaxed);
        loop {
            let slot = self.slot(head);
            let stamp = slot.stamp.load(Acquire);
            if stamp == head + 1 {
                match self.head.compare_exchange_weak(head, self.next(head), SeqCst, Relaxed) {
                    Ok(_) => {
                        // SAFETY: the CAS made this slot ours; the producer's
                        // Release store of the stamp published the value.
                        let v = slot.value.with(|p| unsafe { (*p).assume_init_read() });
                        slot.stamp.store(head.wrapping_add(self.one_lap), Release);
                        return Ok(v);
                    }
                    Err(now) => {
                        head = now;
                        backoff.spin_light();
                    }
                }
            } else if stamp == head {
                // Nothing here yet: empty, unless a producer claimed it.
                let tail = self.tail.load(SeqCst);
                if tail & !self.mark == head {
                    return Err(if tail & self.mark != 0 { Drained::Closed } else { Drained::Empty });
                }
                backoff.snooze();
                head = self.head.load(Relaxed);
            } else {
                backoff.snooze();
                head = self.head.load(Relaxed);
            }
        }
    }

    /// Sets the close mark; true iff this call set it.
    pub(crate) fn close(&self) -> bool {
        self.tail.fetch_or(self.mark, SeqCst) & self.mark == 0
    }

    /// The number of values buffered (a snapshot).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(SeqCst);
            let head = self.head.load(SeqCst);
            if self.tail.load(SeqCst) == tail {
                let (h, t) = (head & (self.mark - 1), tail & (self.mark - 1));
                return if h < t {
                    t - h
                } else if h > t {
                    self.cap - h + t
                } else if tail & !self.mark == head {
                    0
                } else {
                    self.cap
                };
            }
        }
    }

    /// A hint: a pop might find a value (or the close).
    #[inline]
    pub(crate) fn maybe_poppable(&self) -> bool {
        self.tail.load(Relaxed) != self.head.load(Relaxed)
    }

    /// The consumers' position now, for [`len_since`](Ring::len_since).
    #[inline]
    pub(crate) fn head_now(&self) -> HeadSeen {
        HeadSeen(self.head.load(SeqCst))
    }

    /// An upper bound on the number of values buffered, computed from a
    /// consumers' position seen earlier (`head_now`, read before this
    /// call) and the producers' position now. Exact when `seen` is the
    /// current position; never below the truth, because positions only
    /// move forward. Reading only `tail` lets a producer that asks "is
    /// there room?" on every send leave the consumers' line alone.
    #[inline]
    pub(crate) fn len_since(&self, seen: HeadSeen) -> usize {
        let tail = self.tail.load(SeqCst) & !self.mark;
        self.count(tail).wrapping_sub(self.count(seen.0))
    }

    /// Values a position is past the start: laps × capacity + index.
    #[inline]
    fn count(&self, pos: usize) -> usize {
        (pos / self.one_lap).wrapping_mul(self.cap).wrapping_add(pos & (self.mark - 1))
    }

    /// A hint: a push might find room (or the close).
    #[inline]
    pub(crate) fn maybe_pushable(&self) -> bool {
        let tail = self.tail.load(Relaxed);
        tail & self.mark != 0 || self.head.load(Relaxed).wrapping_add(self.one_lap) != tail & !self.mark
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop().is_ok() {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_empty_close_and_wraparound() {
        let r = Ring::new(3);
        for round in 0..5 {
            for i in 0..3 {
                r.push(round * 10 + i).unwrap();
            }
            assert_eq!(r.len(), 3);
            assert_eq!(r.push(99), Err((99, Refused::Full)));
            for i in 0..3 {
                assert_eq!(r.pop(), Ok(round * 10 + i));
            }
            assert_eq!(r.pop(), Err(Drained::Empty));
            assert_eq!(r.len(), 0);
        }
        r.push(1).unwrap();
        assert!(r.close());
        assert!(!r.close());
        assert_eq!(r.push(2), Err((2, Refused::Closed)));
        assert_eq!(r.pop(), Ok(1), "closing keeps what is buffered");
        assert_eq!(r.pop(), Err(Drained::Closed));
    }

    #[test]
    fn len_since_is_exact_from_the_current_head_and_an_upper_bound_from_an_older_one() {
        let r = Ring::new(3);
        let start = r.head_now();
        for round in 0..7 {
            for i in 0..3 {
                r.push(round * 10 + i).unwrap();
                assert_eq!(r.len_since(r.head_now()), r.len());
            }
            let before = r.head_now();
            for _ in 0..3 {
                r.pop().unwrap();
                assert_eq!(r.len_since(r.head_now()), r.len());
                assert!(r.len_since(before) >= r.len());
            }
            assert_eq!(r.len_since(before), 3, "the values popped since `before` still count");
            assert!(r.len_since(start) >= 3 * (round + 1), "a bound from laps ago stays an upper bound");
        }
        r.push(1).unwrap();
        r.close();
        assert_eq!(r.len_since(r.head_now()), 1, "the close mark is not a value");
    }

    #[test]
    fn drops_what_is_left() {
        let v = std::sync::Arc::new(());
        let r = Ring::new(4);
        for _ in 0..3 {
            r.push(v.clone()).unwrap();
        }
        drop(r);
        assert_eq!(std::sync::Arc::strong_count(&v), 1);
    }
}
