//! A minimal slab: O(1) insert and remove by key, with keys reused so that
//! churn (a million children created and dropped under one parent) leaves
//! memory flat. The storage shrinks again when it becomes mostly empty.

pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free_head: usize,
    len: usize,
}

enum Entry<T> {
    Occupied(T),
    Vacant(usize), // next free index; usize::MAX = end of free list
}

const END: usize = usize::MAX;

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Self {
        Slab { entries: Vec::new(), free_head: END, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        if self.free_head != END {
            let key = self.free_head;
            match std::mem::replace(&mut self.entries[key], Entry::Occupied(value)) {
                Entry::Vacant(next) => self.free_head = next,
                Entry::Occupied(_) => unreachable!("slab free list points at an occupied entry"),
            }
            key
        } else {
            self.entries.push(Entry::Occupied(value));
            self.entries.len() - 1
        }
    }

    pub(crate) fn get(&self, key: usize) -> Option<&T> {
        match self.entries.get(key) {
            Some(Entry::Occupied(v)) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.entries.get_mut(key) {
            Some(Entry::Occupied(v)) => Some(v),
            _ => None,
        }
    }

    /// Removes `key` if occupied and `pred` accepts the value (used to make
    /// sure a reused key still belongs to the caller).
    pub(crate) fn remove_if(&mut self, key: usize, pred: impl FnOnce(&T) -> bool) -> Option<T> {
        match self.entries.get(key) {
            Some(Entry::Occupied(v)) if pred(v) => {}
            _ => return None,
        }
        let old = std::mem::replace(&mut self.entries[key], Entry::Vacant(self.free_head));
        self.free_head = key;
        self.len -= 1;
        self.maybe_shrink();
        match old {
            Entry::Occupied(v) => Some(v),
            Entry::Vacant(_) => unreachable!(),
        }
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        self.remove_if(key, |_| true)
    }

    /// Takes every value out, leaving the slab empty with no storage.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + use<T> {
        let entries = std::mem::take(&mut self.entries);
        self.free_head = END;
        self.len = 0;
        entries.into_iter().filter_map(|e| match e {
            Entry::Occupied(v) => Some(v),
            Entry::Vacant(_) => None,
        })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.entries.iter().enumerate().filter_map(|(k, e)| match e {
            Entry::Occupied(v) => Some((k, v)),
            Entry::Vacant(_) => None,
        })
    }

    // Storage only shrinks when empty: keys of live entries must stay valid,
    // so compaction is impossible, but an empty slab can always let go.
    fn maybe_shrink(&mut self) {
        if self.len == 0 && self.entries.capacity() > 64 {
            self.entries = Vec::new();
            self.free_head = END;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn keys_are_reused_and_storage_stays_flat() {
        let mut s = Slab::new();
        for i in 0..10_000 {
            let k = s.insert(i);
            assert_eq!(s.remove(k), Some(i));
        }
        assert!(s.entries.len() <= 1);
        let a = s.insert(1);
        let b = s.insert(2);
        assert_eq!(s.remove_if(a, |v| *v == 2), None);
        assert_eq!(s.remove(a), Some(1));
        assert_eq!(s.get_mut(b), Some(&mut 2));
        assert_eq!(s.drain().collect::<Vec<_>>(), vec![2]);
        assert!(s.is_empty());
    }
}
