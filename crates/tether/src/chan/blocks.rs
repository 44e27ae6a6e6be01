//! The buffer of an unbounded channel: a lock-free multi-producer
//! multi-consumer queue of linked blocks (the design of crossbeam's list
//! flavour, written anew here).
//!
//! Values sit in blocks of [`SLOTS`] slots; a position counts slots, and
//! every `LAP`-th position is a boundary that no value occupies: the
//! producer that fills a block's last slot installs the next block, the
//! consumer that takes it moves `head` on, and the block's last reader
//! frees it (each reader counts itself off on the block). As in the ring, producers only touch
//! `tail` and their slot, consumers `head` and theirs.
//!
//! A freed block goes to a cache of spares, and the next block a producer
//! needs comes from there: once warm, nothing is allocated, however long a
//! stream runs and however large its backlog (blocks freed at the head are
//! reused at the tail). When the queue drains, the cache keeps up to
//! [`KEEP_BYTES`] of blocks for the next burst and frees the rest, so a
//! large burst's memory goes back once it has passed.
//!
//! Flags ride in the low bit of the indices: `tail`'s is the close mark
//! (so that closing and sending cannot interleave, as in the ring), and
//! `head`'s says that a later block exists (so a consumer need not read
//! `tail` to know it is not at the end).

use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

use super::ring::{Drained, Refused};
use crate::spin::{CachePadded, SpinLock};
use crate::sync_impl::{AtomicBool, AtomicPtr, AtomicUsize, UnsafeCell};
use crate::waiter::Backoff;

/// Positions per block, the boundary included. Small under loom, so the
/// models cross block boundaries within a few operations.
#[cfg(not(loom))]
const LAP: usize = 32;
#[cfg(loom)]
const LAP: usize = 3;
/// Values per block.
pub(crate) const SLOTS: usize = LAP - 1;

/// Memory of freed blocks kept for reuse once the queue has drained.
pub(crate) const KEEP_BYTES: usize = 64 * 1024;
/// Freed blocks kept once a burst larger than that has drained.
pub(crate) const MIN_SPARES: usize = 3;

/// The low bit of an index is a flag; positions start above it.
const SHIFT: usize = 1;
const ONE: usize = 1 << SHIFT;
/// `tail`'s flag: closed.
const CLOSED: usize = 1;
/// `head`'s flag: a block after `head`'s exists.
const MORE: usize = 1;

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    /// Set (with a plain Release store) once the value is written.
    written: AtomicBool,
}

struct Block<T> {
    next: AtomicPtr<Block<T>>,
    /// Values read out of this block. The reader that brings it to
    /// [`SLOTS`] frees the block: every thread that could still touch it
    /// (writers are waited for by their readers) is done then. Only
    /// consumers touch this line, so a producer and a consumer share no
    /// written line but the slots themselves.
    read: AtomicUsize,
    slots: [Slot<T>; SLOTS],
}

impl<T> Block<T> {
    fn new() -> Box<Block<T>> {
        Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            read: AtomicUsize::new(0),
            slots: std::array::from_fn(|_| Slot {
                value: UnsafeCell::new(MaybeUninit::uninit()),
                written: AtomicBool::new(false),
            }),
        })
    }

    /// Waits for the producer that filled this block to link the next.
    fn wait_next(&self) -> *mut Block<T> {
        let mut backoff = Backoff::new();
        loop {
            let next = self.next.load(Acquire);
            if !next.is_null() {
                return next;
            }
            backoff.snooze();
        }
    }
}

impl<T> Slot<T> {
    /// Waits for the producer that claimed this slot to finish writing.
    fn wait_written(&self) {
        let mut backoff = Backoff::new();
        while !self.written.load(Acquire) {
            backoff.snooze();
        }
    }
}

struct End<T> {
    index: AtomicUsize,
    block: AtomicPtr<Block<T>>,
}

pub(crate) struct Blocks<T> {
    head: CachePadded<End<T>>,
    tail: CachePadded<End<T>>,
    /// Freed blocks kept for the next producers that need one (touched
    /// once per block, so a short lock is cheap).
    spares: SpinLock<Vec<Spare<T>>>,
    /// How many spares survive a drain (blocks worth [`KEEP_BYTES`]).
    keep: usize,
}

/// A block in the cache, owned by nobody else.
struct Spare<T>(*mut Block<T>);

// SAFETY: a spare is a heap block no thread references; moving the pointer
// between threads moves that ownership (its slots hold no values).
unsafe impl<T> Send for Spare<T> {}

// SAFETY: as for the ring: each value goes from one producer to one
// consumer, each slot owned in turn by whoever's turn its state says it
// is, and blocks are freed only once no thread can reach them.
unsafe impl<T: Send> Send for Blocks<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Blocks<T> {}

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Blocks {
            head: CachePadded(End { index: AtomicUsize::new(0), block: AtomicPtr::new(ptr::null_mut()) }),
            tail: CachePadded(End { index: AtomicUsize::new(0), block: AtomicPtr::new(ptr::null_mut()) }),
            spares: SpinLock::new(Vec::new()),
            keep: (KEEP_BYTES / std::mem::size_of::<Block<T>>().max(1)).max(MIN_SPARES),
        }
    }
}

impl<T> Blocks<T> {
    /// A block for a producer: the spare, reset, or a new one.
    fn alloc(&self) -> *mut Block<T> {
        let Some(Spare(b)) = self.spares.lock().pop() else {
            return Box::into_raw(Block::new());
        };
        // SAFETY: a spare block is reachable by nobody but us now.
        unsafe {
            (*b).next.store(ptr::null_mut(), Relaxed);
            (*b).read.store(0, Relaxed);
            for s in &(*b).slots {
                s.written.store(false, Relaxed);
            }
        }
        b
    }

    /// Gives a block nobody can reach any more back to the cache. Once the
    /// queue has drained (at most one block in use), a cache grown past
    /// what it keeps is cut back to [`MIN_SPARES`]: that was a burst.
    ///
    /// # Safety
    ///
    /// No thread holds or can obtain a pointer to `b` any more; its values
    /// have all been moved out.
    unsafe fn free(&self, b: *mut Block<T>) {
        let drained = self.live_blocks() <= 1;
        let mut spares = self.spares.lock();
        spares.push(Spare(b));
        if !drained || spares.len() <= self.keep {
            return;
        }
        let extra: Vec<Spare<T>> = spares.drain(MIN_SPARES..).collect();
        spares.shrink_to(self.keep);
        drop(spares);
        for Spare(b) in extra {
            // SAFETY: cache blocks are ours alone; allocated by `Box`.
            drop(unsafe { Box::from_raw(b) });
        }
    }

    /// Blocks in use between `head` and `tail`.
    fn live_blocks(&self) -> usize {
        let (t, h) = (Self::norm(self.tail.index.load(Relaxed)), Self::norm(self.head.index.load(Relaxed)));
        (t / LAP).saturating_sub(h / LAP) + 1
    }

    /// Appends `v`; fails only once the queue is closed.
    pub(crate) fn push(&self, v: T) -> Result<(), (T, Refused)> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.index.load(Acquire);
        let mut block = self.tail.block.load(Acquire);
        let mut next: *mut Block<T> = ptr::null_mut();
        let r = loop {
            if tail & CLOSED != 0 {
                break Err((v, Refused::Closed));
            }
            let offset = (tail >> SHIFT) % LAP;
            if offset == SLOTS {
                // The producer of the last slot is linking the next block.
                backoff.snooze();
                tail = self.tail.index.load(Acquire);
                block = self.tail.block.load(Acquire);
                continue;
            }
            if offset + 1 == SLOTS && next.is_null() {
                // We may fill the last slot: have the next block ready
                // before claiming it, so the others wait for a store, not
                // an allocation.
                next = self.alloc();
            }
            if block.is_null() {
                // The very first value: install the first block.
                let first = self.alloc();
                if self.tail.block.compare_exchange(ptr::null_mut(), first, Release, Relaxed).is_ok() {
                    self.head.block.store(first, Release);
                    block = first;
                } else {
                    // SAFETY: `first` was never published.
                    unsafe { self.free(first) };
                    tail = self.tail.index.load(Acquire);
                    block = self.tail.block.load(Acquire);
                    continue;
                }
            }
            let new_tail = tail + ONE;
            match self.tail.index.compare_exchange_weak(tail, new_tail, SeqCst, Acquire) {
                Ok(_) => {
                    // SAFETY: the CAS made this slot ours; the block stays
                    // alive until every slot in it has been read, ours
                    // included.
                    unsafe {
                        if offset + 1 == SLOTS {
                            let n = std::mem::replace(&mut next, ptr::null_mut());
                            self.tail.block.store(n, Release);
                            self.tail.index.store(new_tail + ONE, Release);
                            (*block).next.store(n, Release);
                        }
                        let slot = &(*block).slots[offset];
                        slot.value.with_mut(|p| (*p).write(v));
                        slot.written.store(true, Release);
                    }
                    break Ok(());
                }
                Err(now) => {
                    tail = now;
                    block = self.tail.block.load(Acquire);
                    // Lost the race to another end: back off without
                    // yielding (see `Backoff::spin_light`).
                    backoff.spin_light();
                }
            }
        };
        if !next.is_null() {
            // SAFETY: prepared but never published.
            unsafe { self.free(next) };
        }
        r
    }

    /// Takes the oldest value; `Empty` and `Closed` are exact (no push had
    /// claimed a slot at that instant).
    pub(crate) fn pop(&self) -> Result<T, Drained> {
        let mut backoff = Backoff::new();
        let mut head = self.head.index.load(Acquire);
        let mut block = self.head.block.load(Acquire);
        loop {
            let offset = (head >> SHIFT) % LAP;
            if offset == SLOTS {
                // The consumer of the last slot is moving on.
                backoff.snooze();
                head = self.head.index.load(Acquire);
                block = self.head.block.load(Acquire);
                continue;
            }
            let mut new_head = head + ONE;
            if new_head & MORE == 0 {
                crate::sync_impl::fence(SeqCst);
                let tail = self.tail.index.load(Relaxed);
                if head >> SHIFT == tail >> SHIFT {
                    return Err(if tail & CLOSED != 0 { Drained::Closed } else { Drained::Empty });
                }
                if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                    new_head |= MORE;
                }
            }
            if block.is_null() {
                // The first block is being installed.
                backoff.snooze();
                head = self.head.index.load(Acquire);
                block = self.head.block.load(Acquire);
                continue;
            }
            match self.head.index.compare_exchange_weak(head, new_head, SeqCst, Acquire) {
                Ok(_) => {
                    // SAFETY: the CAS made this slot ours; the block lives
                    // until its slots are all read, and ours is not yet.
                    unsafe {
                        if offset + 1 == SLOTS {
                            let n = (*block).wait_next();
                            let mut next_index = (new_head & !MORE) + ONE;
                            if !(*n).next.load(Relaxed).is_null() {
                                next_index |= MORE;
                            }
                            self.head.block.store(n, Release);
                            self.head.index.store(next_index, Release);
                        }
                        let slot = &(*block).slots[offset];
                        slot.wait_written();
                        let v = slot.value.with(|p| (*p).assume_init_read());
                        if (*block).read.fetch_add(1, AcqRel) + 1 == SLOTS {
                            // The last reader of the block: nobody else can
                            // reach it any more.
                            self.free(block);
                        }
                        return Ok(v);
                    }
                }
                Err(now) => {
                    head = now;
                    block = self.head.block.load(Acquire);
                    // Lost the race to another end: back off without
                    // yielding (see `Backoff::spin_light`).
                    backoff.spin_light();
                }
            }
        }
    }

    /// Sets the close mark; true iff this call set it.
    pub(crate) fn close(&self) -> bool {
        self.tail.index.fetch_or(CLOSED, SeqCst) & CLOSED == 0
    }

    /// Positions `p` normalised: a boundary position counts as the first
    /// slot of the next block.
    fn norm(p: usize) -> usize {
        let pos = p >> SHIFT;
        if pos % LAP == SLOTS { pos + 1 } else { pos }
    }

    /// The number of values buffered (a snapshot).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.index.load(SeqCst);
            let head = self.head.index.load(SeqCst);
            if self.tail.index.load(SeqCst) == tail {
                let (t, h) = (Self::norm(tail), Self::norm(head));
                // Each block boundary between them holds no value.
                return (t - h) - (t / LAP - h / LAP);
            }
        }
    }

    /// A hint: a pop might find a value (or the close).
    #[inline]
    pub(crate) fn maybe_poppable(&self) -> bool {
        let tail = self.tail.index.load(Relaxed);
        tail & CLOSED != 0 || tail >> SHIFT != self.head.index.load(Relaxed) >> SHIFT
    }

    /// Values the allocated blocks can hold right now (the spare included).
    pub(crate) fn capacity(&self) -> usize {
        let (t, h) = (Self::norm(self.tail.index.load(SeqCst)), Self::norm(self.head.index.load(SeqCst)));
        let live = if self.head.block.load(Acquire).is_null() { 0 } else { t / LAP - h / LAP + 1 };
        (live + self.spares.lock().len()) * SLOTS
    }
}

impl<T> Drop for Blocks<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other thread touches the queue. Values
        // between head and tail are written; blocks up to tail's are ours.
        unsafe {
            let mut head = self.head.index.load(Relaxed) & !MORE;
            let tail = self.tail.index.load(Relaxed) & !CLOSED;
            let mut block = self.head.block.load(Relaxed);
            while head >> SHIFT != tail >> SHIFT {
                let offset = (head >> SHIFT) % LAP;
                if offset < SLOTS {
                    (*block).slots[offset].value.with_mut(|p| (*p).assume_init_drop());
                } else {
                    let next = (*block).next.load(Relaxed);
                    drop(Box::from_raw(block));
                    block = next;
                }
                head += ONE;
            }
            if !block.is_null() {
                drop(Box::from_raw(block));
            }
            for Spare(b) in std::mem::take(&mut *self.spares.lock()) {
                drop(Box::from_raw(b));
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_across_blocks_close_and_len() {
        let q = Blocks::default();
        assert_eq!(q.pop(), Err(Drained::Empty));
        for i in 0..200 {
            q.push(i).unwrap();
        }
        assert_eq!(q.len(), 200);
        for i in 0..150 {
            assert_eq!(q.pop(), Ok(i));
        }
        assert_eq!(q.len(), 50);
        assert!(q.close());
        assert!(!q.close());
        assert_eq!(q.push(7), Err((7, Refused::Closed)));
        for i in 150..200 {
            assert_eq!(q.pop(), Ok(i));
        }
        assert_eq!(q.pop(), Err(Drained::Closed));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_steady_stream_recycles_one_block_and_a_burst_gives_memory_back() {
        let q = Blocks::default();
        for round in 0..1000 {
            q.push(round).unwrap();
            assert_eq!(q.pop(), Ok(round));
        }
        assert!(q.capacity() <= (2 + MIN_SPARES) * SLOTS, "a steady stream holds a few blocks: {}", q.capacity());
        // A burst the cache keeps: refilling it allocates nothing new.
        for i in 0..1000 {
            q.push(i).unwrap();
        }
        while q.pop().is_ok() {}
        let kept = q.capacity();
        assert!(kept >= 1000, "a 1000-value burst is kept for the next one: {kept}");
        // A burst beyond what the cache keeps gives its memory back.
        for i in 0..100_000 {
            q.push(i).unwrap();
        }
        assert!(q.capacity() >= 100_000);
        while q.pop().is_ok() {}
        assert!(q.capacity() <= (1 + MIN_SPARES) * SLOTS, "drained: {} slots kept", q.capacity());
    }

    #[test]
    fn drops_what_is_left_and_every_block() {
        let v = std::sync::Arc::new(());
        let q = Blocks::default();
        for _ in 0..100 {
            q.push(v.clone()).unwrap();
        }
        for _ in 0..40 {
            drop(q.pop().unwrap());
        }
        drop(q);
        assert_eq!(std::sync::Arc::strong_count(&v), 1);
    }
}
