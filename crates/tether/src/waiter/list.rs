//! The crate's one waiter list: an intrusive, doubly linked FIFO of
//! parked operations.
//!
//! A waiting operation owns its node (inside its future, on its thread's
//! stack, or in a primitive's recycling pool) and links it into the list of
//! the primitive it waits on. Linking, unlinking and walking happen only
//! under that primitive's lock; the node's memory must not move or be freed
//! while it is linked. In exchange:
//!
//! - waiting allocates nothing (the list holds no storage of its own);
//! - a waiter that gives up (a dropped future, a timeout) unlinks itself in
//!   O(1), wherever it is in the queue;
//! - a waker pops exactly the waiter it serves, so nobody else is touched.
//!
//! The model is tokio's `batch_semaphore`/`Notify`; the code is our own.

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::sync_impl::UnsafeCell;

/// The links of one node. Only ever read or written under the lock of the
/// list the node is (or is about to be) linked into.
pub(crate) struct Links<T> {
    cell: UnsafeCell<Pointers<T>>,
}

struct Pointers<T> {
    prev: Option<NonNull<T>>,
    next: Option<NonNull<T>>,
    linked: bool,
}

impl<T> Links<T> {
    pub(crate) fn new() -> Self {
        Links { cell: UnsafeCell::new(Pointers { prev: None, next: None, linked: false }) }
    }
}

impl<T> Default for Links<T> {
    fn default() -> Self {
        Links::new()
    }
}

/// A node type that carries its own [`Links`].
///
/// # Safety
///
/// `links` must return the same `Links` for the node's whole life.
pub(crate) unsafe trait Linked: Sized {
    /// The node's links.
    fn links(&self) -> &Links<Self>;
}

/// An intrusive FIFO of nodes (see the module docs for the rules).
pub(crate) struct List<T: Linked> {
    head: Option<NonNull<T>>,
    tail: Option<NonNull<T>>,
    len: usize,
    _nodes: PhantomData<*const T>,
}

// SAFETY: a `List` is only a pair of pointers into nodes that are touched
// exclusively under the lock that owns the list; sending the list to
// another thread (with that lock) sends no node data. Whether the *values*
// that nodes carry may cross threads is decided by the owning primitive's
// own bounds (a channel of `T` is `Send` only if `T: Send`).
unsafe impl<T: Linked> Send for List<T> {}

impl<T: Linked> Default for List<T> {
    fn default() -> Self {
        List::new()
    }
}

/// Reads a node's pointers.
///
/// # Safety
///
/// `node` is valid, and the caller holds the lock of the list it is in.
#[inline]
unsafe fn ptrs<T: Linked, R>(node: NonNull<T>, f: impl FnOnce(&mut Pointers<T>) -> R) -> R {
    // SAFETY: the node is valid (caller); its links are only accessed under
    // the list's lock, which the caller holds, so this access is exclusive.
    unsafe { node.as_ref().links().cell.with_mut(|p| f(&mut *p)) }
}

impl<T: Linked> List<T> {
    pub(crate) const fn new() -> Self {
        List { head: None, tail: None, len: 0, _nodes: PhantomData }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The oldest node, if any.
    #[inline]
    pub(crate) fn front(&self) -> Option<NonNull<T>> {
        self.head
    }

    /// Appends `node` (the newest waiter).
    ///
    /// # Safety
    ///
    /// `node` is valid and in no list; it stays valid and unmoved until it
    /// is removed; the caller holds this list's lock.
    pub(crate) unsafe fn push_back(&mut self, node: NonNull<T>) {
        let tail = self.tail;
        // SAFETY: caller's contract; `tail` is linked in this list.
        unsafe {
            ptrs(node, |p| {
                debug_assert!(!p.linked, "a waiter node is linked twice");
                *p = Pointers { prev: tail, next: None, linked: true };
            });
            match tail {
                Some(t) => ptrs(t, |p| p.next = Some(node)),
                None => self.head = Some(node),
            }
        }
        self.tail = Some(node);
        self.len += 1;
    }

    /// Prepends `node` (a waiter that keeps its place at the front, such as
    /// one that was woken but lost its chance to a racing peer).
    ///
    /// # Safety
    ///
    /// As for [`push_back`](List::push_back).
    pub(crate) unsafe fn push_front(&mut self, node: NonNull<T>) {
        let head = self.head;
        // SAFETY: caller's contract; `head` is linked in this list.
        unsafe {
            ptrs(node, |p| {
                debug_assert!(!p.linked, "a waiter node is linked twice");
                *p = Pointers { prev: None, next: head, linked: true };
            });
            match head {
                Some(h) => ptrs(h, |p| p.prev = Some(node)),
                None => self.tail = Some(node),
            }
        }
        self.head = Some(node);
        self.len += 1;
    }

    /// Unlinks and returns the oldest node.
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<T>> {
        let node = self.head?;
        // SAFETY: `node` is linked here, so it is valid (push's contract),
        // and we hold the lock (`&mut self` of a list behind it).
        unsafe { self.unlink(node) };
        Some(node)
    }

    /// Unlinks `node` if it is linked; false if it was not (a waker popped
    /// it already).
    ///
    /// # Safety
    ///
    /// `node` is valid and either linked in *this* list or in none; the
    /// caller holds this list's lock.
    pub(crate) unsafe fn remove(&mut self, node: NonNull<T>) -> bool {
        // SAFETY: caller's contract.
        if !unsafe { ptrs(node, |p| p.linked) } {
            return false;
        }
        // SAFETY: linked in this list (caller), so valid.
        unsafe { self.unlink(node) };
        true
    }

    /// True if `node` is linked in a list.
    ///
    /// # Safety
    ///
    /// `node` is valid; the caller holds the lock of the list it may be in
    /// (or owns the node exclusively).
    pub(crate) unsafe fn is_linked(node: NonNull<T>) -> bool {
        // SAFETY: caller's contract.
        unsafe { ptrs(node, |p| p.linked) }
    }

    /// The node after `node`, for scans that skip some waiters.
    ///
    /// # Safety
    ///
    /// `node` is linked in this list; the caller holds its lock.
    pub(crate) unsafe fn next(&self, node: NonNull<T>) -> Option<NonNull<T>> {
        // SAFETY: caller's contract.
        unsafe { ptrs(node, |p| p.next) }
    }

    /// Moves every node into a new list (to be drained after some other
    /// bookkeeping, still under the lock).
    pub(crate) fn take_all(&mut self) -> List<T> {
        std::mem::take(self)
    }

    /// # Safety
    ///
    /// `node` is linked in this list; the caller holds its lock.
    unsafe fn unlink(&mut self, node: NonNull<T>) {
        // SAFETY: caller's contract; neighbours are linked here too.
        unsafe {
            let (prev, next) = ptrs(node, |p| {
                let pn = (p.prev, p.next);
                *p = Pointers { prev: None, next: None, linked: false };
                pn
            });
            match prev {
                Some(pr) => ptrs(pr, |p| p.next = next),
                None => self.head = next,
            }
            match next {
                Some(nx) => ptrs(nx, |p| p.prev = prev),
                None => self.tail = prev,
            }
        }
        self.len -= 1;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    struct N {
        links: Links<N>,
        v: u32,
    }
    // SAFETY: `links` always returns the same field.
    unsafe impl Linked for N {
        fn links(&self) -> &Links<N> {
            &self.links
        }
    }

    fn node(v: u32) -> Box<N> {
        Box::new(N { links: Links::new(), v })
    }

    fn values(l: &List<N>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cur = l.front();
        while let Some(n) = cur {
            // SAFETY: the nodes are boxed locals, linked in `l`.
            unsafe {
                out.push(n.as_ref().v);
                cur = l.next(n);
            }
        }
        out
    }

    #[test]
    fn fifo_order_front_insertion_and_o1_removal_anywhere() {
        let (a, b, c, d) = (node(1), node(2), node(3), node(4));
        let p = |n: &N| NonNull::from(n);
        let mut l = List::new();
        // SAFETY: the boxes outlive the list's use of them and do not move.
        unsafe {
            l.push_back(p(&a));
            l.push_back(p(&b));
            l.push_back(p(&c));
            l.push_front(p(&d));
            assert_eq!(values(&l), [4, 1, 2, 3]);
            assert_eq!(l.len(), 4);
            assert!(l.remove(p(&b)), "middle");
            assert!(!l.remove(p(&b)), "already out");
            assert_eq!(values(&l), [4, 1, 3]);
            assert!(l.remove(p(&c)), "tail");
            assert!(l.remove(p(&d)), "head");
            assert_eq!(values(&l), [1]);
            assert_eq!(l.pop_front(), Some(p(&a)));
            assert!(l.is_empty() && l.pop_front().is_none());
            // Relinking a removed node works.
            l.push_back(p(&b));
            let mut all = l.take_all();
            assert!(l.is_empty());
            assert_eq!(all.pop_front(), Some(p(&b)));
        }
    }
}
