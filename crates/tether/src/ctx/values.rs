//! Request-scoped values: an immutable linked list, newest first, so that
//! lookups find the nearest value and a child never changes its parent.

use std::any::Any;
use std::sync::Arc;

pub(super) struct ValueLink<V: ?Sized = dyn Any + Send + Sync> {
    pub(super) next: Option<Arc<ValueLink>>,
    pub(super) value: V,
}

impl<V: ?Sized> Drop for ValueLink<V> {
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
    /// A new list head holding `value` in front of `next` (one allocation).
    pub(super) fn push<T: Send + Sync + 'static>(next: Option<Arc<ValueLink>>, value: T) -> Arc<ValueLink> {
        Arc::new(ValueLink { next, value })
    }

    /// The nearest value of type `T`.
    pub(super) fn find<T: 'static>(mut link: &ValueLink) -> Option<&T> {
        loop {
            if let Some(v) = link.value.downcast_ref::<T>() {
                return Some(v);
            }
            link = link.next.as_deref()?;
        }
    }
}
