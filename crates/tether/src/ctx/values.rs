//! Request-scoped values: an immutable linked list, newest first, so that
//! lookups find the nearest value and a child never changes its parent.
//!
//! A value context *is* the head link of its list (one `Arc`), so each link
//! also names the scope of the context it heads. Lookups walk the links:
//! each is a small sized struct (56 bytes with its counts) with 64 bits of
//! the value's `TypeId` beside the `next` pointer, and the value itself
//! behind a `Box` (no allocation for zero-sized values), so a step is one
//! load and a one-word compare — nothing is read through the value's vtable
//! until those bits match, where `downcast_ref` checks the whole id (Go's
//! `valueCtx` compares its keys the same way). Small links keep a long
//! chain dense in memory.

use std::any::{Any, TypeId};
use std::hash::{Hash, Hasher};
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
    value: Box<dyn Any + Send + Sync>,
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
        Arc::new(ValueLink { key: key_of(TypeId::of::<T>()), next, scope, value: Box::new(value) })
    }

    /// The nearest value of type `T`.
    #[inline]
    pub(super) fn find<T: 'static>(mut link: &ValueLink) -> Option<&T> {
        let want = key_of(TypeId::of::<T>());
        loop {
            if link.key == want {
                if let Some(v) = link.value.downcast_ref::<T>() {
                    return Some(v);
                }
            }
            link = link.next.as_deref()?;
        }
    }
}
