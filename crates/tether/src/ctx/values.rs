//! Request-scoped values: an immutable linked list, newest first, so that
//! lookups find the nearest value and a child never changes its parent.
//!
//! A value context *is* the head link of its list (one `Arc`), so each link
//! also names the scope of the context it heads. Lookups walk the links:
//! each is a small sized struct (56 bytes with its counts) with 64 bits of
//! the value's `TypeId` beside the `next` pointer, so a step is one load and
//! a one-word compare; where those bits match, the whole id is checked
//! (Go's `valueCtx` compares its keys the same way). The value itself is
//! stored in the link when it fits a word (ids, flags, `Arc`s: most
//! context values) and boxed otherwise, so a chain is one allocation per
//! link, dense in memory.

use std::any::TypeId;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::Arc;

use super::Scope;

/// 64 bits of a `TypeId` (what its `Hash` writes).
#[inline]
fn key_of(id: TypeId) -> u64 {
    struct Bits(u64);
    impl Hasher for Bits {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ b as u64;
            }
        }
        fn write_u64(&mut self, v: u64) {
            self.0 ^= v;
        }
    }
    let mut h = Bits(0);
    id.hash(&mut h);
    h.finish()
}

pub(super) struct ValueLink {
    /// 64 bits of the value's `TypeId`: a match is then checked in full.
    key: u64,
    next: Option<Arc<ValueLink>>,
    /// The scope of the context this link heads (its own is never read
    /// while the link is an ancestor).
    pub(super) scope: Option<crate::sync_impl::Arc<Scope>>,
    value: Erased,
}

/// A `Send + Sync + 'static` value of a type known only at run time: in
/// `word` itself when it fits (size and alignment at most a word's), else
/// a pointer to its box; `ops` tells which type and how to drop it.
struct Erased {
    word: MaybeUninit<usize>,
    ops: &'static Ops,
}

struct Ops {
    type_id: fn() -> TypeId,
    /// Drops the value that `word` holds.
    drop: unsafe fn(*mut MaybeUninit<usize>),
}

struct OpsOf<T>(PhantomData<T>);

impl<T: 'static> OpsOf<T> {
    const OPS: &'static Ops = &Ops { type_id: TypeId::of::<T>, drop: drop_erased::<T> };
}

/// True if a `T` is stored in the word itself.
const fn fits<T>() -> bool {
    size_of::<T>() <= size_of::<usize>() && align_of::<T>() <= align_of::<usize>()
}

/// # Safety
///
/// `word` holds a `T` as `Erased::new::<T>` stored it, not dropped yet.
unsafe fn drop_erased<T>(word: *mut MaybeUninit<usize>) {
    if fits::<T>() {
        // SAFETY: the word holds a live `T` in place (caller), suitably
        // aligned (`fits`).
        unsafe { std::ptr::drop_in_place(word.cast::<T>()) }
    } else {
        // SAFETY: the word holds the pointer from `Box::into_raw` of a
        // `Box<T>` (caller), dropped only here.
        drop(unsafe { Box::from_raw((*word).assume_init() as *mut T) })
    }
}

// SAFETY: an `Erased` is only made from a `T: Send + Sync` (`new`), and
// hands out `&T` only; it owns the value (inline or boxed) like a
// `Box<dyn Any + Send + Sync>` would.
unsafe impl Send for Erased {}
// SAFETY: as above.
unsafe impl Sync for Erased {}

impl Erased {
    fn new<T: Send + Sync + 'static>(value: T) -> Erased {
        let mut word = MaybeUninit::<usize>::uninit();
        if fits::<T>() {
            // SAFETY: the word has room and alignment for a `T` (`fits`).
            unsafe { word.as_mut_ptr().cast::<T>().write(value) };
        } else {
            word.write(Box::into_raw(Box::new(value)) as usize);
        }
        Erased { word, ops: OpsOf::<T>::OPS }
    }

    /// The value, if it is a `T`.
    #[inline]
    fn get<T: 'static>(&self) -> Option<&T> {
        if (self.ops.type_id)() != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: the value is a `T` (its type's id matched), stored as
        // `new::<T>` stores it, alive as long as `self`.
        Some(unsafe {
            if fits::<T>() { &*self.word.as_ptr().cast::<T>() } else { &*(self.word.assume_init() as *const T) }
        })
    }
}

impl Drop for Erased {
    fn drop(&mut self) {
        // SAFETY: `word` holds the value `new` stored for `ops`' type, and
        // this is its only drop.
        unsafe { (self.ops.drop)(&mut self.word) }
    }
}

impl Drop for ValueLink {
    /// Drops long value chains iteratively (no stack overflow).
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut link) = next {
            // Unique: unhook its successor before it drops; shared: stop.
            next = Arc::get_mut(&mut link).and_then(|l| l.next.take());
        }
    }
}

impl ValueLink {
    /// A new list head holding `value` in front of `next`, heading a
    /// context of `scope`.
    pub(super) fn push<T: Send + Sync + 'static>(
        next: Option<Arc<ValueLink>>,
        scope: Option<crate::sync_impl::Arc<Scope>>,
        value: T,
    ) -> Arc<ValueLink> {
        Arc::new(ValueLink { key: key_of(TypeId::of::<T>()), next, scope, value: Erased::new(value) })
    }

    /// The nearest value of type `T`.
    #[inline]
    pub(super) fn find<T: 'static>(mut link: &ValueLink) -> Option<&T> {
        let want = key_of(TypeId::of::<T>());
        loop {
            link = link.walk(want)?;
            if let Some(v) = link.value.get::<T>() {
                return Some(v);
            }
            link = link.next.as_deref()?; // 64 bits matched, the type did not
        }
    }

    /// The nearest link (from this one) whose key is `key`. Not generic and
    /// never inlined, so that the walk is one loop in the whole program,
    /// placed once: a tight loop's speed depends on where its branches fall
    /// in the instruction stream (up to 3× here), and copies inlined into
    /// each caller fall anywhere.
    #[inline(never)]
    fn walk(&self, key: u64) -> Option<&ValueLink> {
        if self.key == key {
            return Some(self);
        }
        // The loop carries the `Arc` itself (the allocation's address), so
        // a step is one dependent load: no pointer arithmetic between it
        // and the next.
        let mut next = self.next.as_ref();
        while let Some(link) = next {
            if link.key == key {
                return Some(link);
            }
            next = link.next.as_ref();
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;

    static DROPS: AtomicUsize = AtomicUsize::new(0);

    struct Counted<V>(V);
    impl<V> Drop for Counted<V> {
        fn drop(&mut self) {
            DROPS.fetch_add(1, SeqCst);
        }
    }

    /// Values in the word and in a box, of every alignment up to 16: each
    /// is found by its type only and dropped exactly once. (Also run under
    /// valgrind: `valgrind target/debug/deps/tether-* ctx::values`.)
    #[test]
    fn values_inline_and_boxed_are_found_and_dropped_once() {
        #[derive(Debug, PartialEq)]
        struct Zst;
        let before = DROPS.load(SeqCst);
        let mut head = ValueLink::push(None, None, Counted(7u8));
        head = ValueLink::push(Some(head), None, Counted(0x1234u16));
        head = ValueLink::push(Some(head), None, Counted(Arc::new(String::from("shared"))));
        head = ValueLink::push(Some(head), None, Counted(u128::MAX));
        head = ValueLink::push(Some(head), None, Counted(String::from("boxed")));
        head = ValueLink::push(Some(head), None, Counted([1u8; 3]));
        head = ValueLink::push(Some(head), None, Zst);
        assert_eq!(ValueLink::find::<Counted<u8>>(&head).map(|c| c.0), Some(7));
        assert_eq!(ValueLink::find::<Counted<u16>>(&head).map(|c| c.0), Some(0x1234));
        assert_eq!(ValueLink::find::<Counted<Arc<String>>>(&head).map(|c| c.0.as_str()), Some("shared"));
        assert_eq!(ValueLink::find::<Counted<u128>>(&head).map(|c| c.0), Some(u128::MAX));
        assert_eq!(ValueLink::find::<Counted<String>>(&head).map(|c| c.0.as_str()), Some("boxed"));
        assert_eq!(ValueLink::find::<Counted<[u8; 3]>>(&head).map(|c| c.0), Some([1; 3]));
        assert_eq!(ValueLink::find::<Zst>(&head), Some(&Zst));
        assert!(ValueLink::find::<u64>(&head).is_none());
        assert_eq!(DROPS.load(SeqCst), before, "nothing dropped while linked");
        drop(head);
        assert_eq!(DROPS.load(SeqCst), before + 6, "each value dropped once");
    }
}
