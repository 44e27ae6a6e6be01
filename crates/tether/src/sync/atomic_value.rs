//! [`AtomicValue`], Go's `atomic.Value` / `atomic.Pointer[T]`: a shared
//! snapshot that readers load without locks while writers replace it.
//!
//! Built on `arc-swap` (its hybrid of per-thread debts and reference
//! counts is what makes loads cheap and reclamation safe); this type adds
//! Go's vocabulary, value-taking `store`/`swap`, a pointer-identity
//! `compare_and_swap` that reports what it found, and an `update` loop.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// A value shared between threads and tasks that readers load as an
/// `Arc<T>` snapshot while writers atomically replace it: Go's
/// `atomic.Value` (and `atomic.Pointer[T]`), for read-mostly data such as
/// configuration that is occasionally swapped.
///
/// ```
/// use std::sync::Arc;
/// use tether::sync::AtomicValue;
///
/// #[derive(Debug, PartialEq)]
/// struct Config { max_conns: u32 }
///
/// let config = Arc::new(AtomicValue::new(Config { max_conns: 10 }));
/// let snapshot = config.load();              // an Arc<Config>
/// config.store(Config { max_conns: 20 });    // readers see it from now on
/// assert_eq!(snapshot.max_conns, 10);        // an old snapshot stays valid
/// assert_eq!(config.load().max_conns, 20);
/// ```
///
/// # Guarantees
///
/// - **Atomic snapshots.** A load returns either the value before or the
///   value after any concurrent store, never a mix; and everything the
///   writer did before `store` happens-before whatever a reader does after
///   loading that value (Go's happens-before for `atomic.Value`).
/// - **Lock-free reads.** `load` and `load_guard` never block and never
///   wait for writers; a store never waits for readers to finish with old
///   values.
/// - **Prompt reclamation.** An old value is freed when its last snapshot
///   (`Arc`) is dropped: plain reference counting, no garbage left behind.
/// - **Static types.** The stored type is `T`, fixed at compile time, so
///   Go's "store of inconsistently typed value" and "store of nil value"
///   panics cannot happen; there is also no "not yet stored" state: the
///   value is created with [`new`](AtomicValue::new) (use
///   `AtomicValue<Option<T>>` for Go's initially-nil `Value`).
///
/// # Costs
///
/// From `crates/bench/benches/sync.rs`, the README's reference run
/// (`bench/run sync`, a quiet 2-core VM). Loads by two threads of one
/// `Arc` contend on its reference count; `load_guard` avoids that:
///
/// | operation | tether | arc-swap | ratio |
/// |---|---:|---:|---:|
/// | `load` (vs `ArcSwap::load_full`), 1 thread | 42 ns | 42 ns | 1.00 |
/// | `load_guard` (vs `ArcSwap::load`), 1 thread | 24 ns | 24 ns | 1.01 |
/// | `load` beside a thread storing in a loop | 170 ns | 175 ns | 0.97 |
/// | `load`, 2 threads loading | 118 ns | 118 ns | 0.99 |
///
/// - [`load`](AtomicValue::load) *is* `ArcSwap::load_full`: a borrowed
///   slot plus one reference-count increment (and a decrement when the
///   `Arc` is dropped). It never blocks and never waits for a writer:
///   lock-free, and wait-free in the common case. Threads loading the same
///   value at once contend on that count's cache line.
/// - [`load_guard`](AtomicValue::load_guard) skips the count for
///   short-lived reads (about half the cost of `load`); keep a guard
///   briefly (it holds one of a few per-thread slots) and take
///   [`load`](AtomicValue::load) for anything long-lived.
/// - [`store`](AtomicValue::store)/[`swap`](AtomicValue::swap) allocate the
///   new `Arc` and may pay off a few readers' borrowed slots; they are for
///   occasional writes. Reclamation is immediate reference counting: the
///   old value is freed as soon as its last snapshot is dropped, with no
///   epochs or deferred garbage.
///
/// For the hottest read paths, a reader keeps a [`Cache`]
/// ([`cache`](AtomicValue::cache)): its [`load`](Cache::load) is one
/// atomic load and a compare while the value is unchanged — what Go's
/// `atomic.Pointer.Load` costs.
///
/// `AtomicValue<T>` is `Send + Sync` when `T` is.
pub struct AtomicValue<T> {
    inner: ArcSwap<T>,
}

impl<T> AtomicValue<T> {
    /// A value holding `v`.
    pub fn new(v: T) -> Self {
        AtomicValue { inner: ArcSwap::from_pointee(v) }
    }

    /// A value holding an existing `Arc` (no new allocation).
    pub fn from_arc(v: Arc<T>) -> Self {
        AtomicValue { inner: ArcSwap::new(v) }
    }

    /// The current value, as a snapshot that stays valid (and unchanged)
    /// however many stores follow (Go's `Load`). Lock-free.
    #[inline]
    pub fn load(&self) -> Arc<T> {
        self.inner.load_full()
    }

    /// The current value, borrowed for a short read without touching the
    /// reference count: cheaper than [`load`](AtomicValue::load) on hot
    /// paths. Don't hold many guards at once or for long (each occupies a
    /// per-thread slot; past a few, guards fall back to counting).
    ///
    /// ```
    /// let v = tether::sync::AtomicValue::new(vec![1, 2, 3]);
    /// let sum: i32 = v.load_guard().iter().sum();
    /// assert_eq!(sum, 6);
    /// ```
    #[inline]
    pub fn load_guard(&self) -> Snapshot<T> {
        Snapshot(self.inner.load())
    }

    /// Replaces the value (Go's `Store`). Readers holding older snapshots
    /// keep them; the old value is freed when the last one is dropped.
    pub fn store(&self, v: T) {
        self.inner.store(Arc::new(v));
    }

    /// Replaces the value with an existing `Arc`.
    pub fn store_arc(&self, v: Arc<T>) {
        self.inner.store(v);
    }

    /// Replaces the value and returns the previous one (Go's `Swap`).
    ///
    /// ```
    /// let v = tether::sync::AtomicValue::new(1);
    /// assert_eq!(*v.swap(2), 1);
    /// assert_eq!(*v.load(), 2);
    /// ```
    pub fn swap(&self, v: T) -> Arc<T> {
        self.inner.swap(Arc::new(v))
    }

    /// Replaces the value with an existing `Arc`, returning the previous.
    pub fn swap_arc(&self, v: Arc<T>) -> Arc<T> {
        self.inner.swap(v)
    }

    /// Stores `new` only if the current value is still `current` — the very
    /// same allocation (`Arc::ptr_eq`), as Go's `atomic.Pointer[T]`
    /// compares pointers. Returns `Ok(previous)` (which is `current`) on
    /// success, or `Err(actual)` with the value found, to retry against.
    /// `new` is dropped on failure.
    ///
    /// Comparing identity instead of contents makes the check O(1) for
    /// every `T` and immune to ABA on equal-looking values.
    ///
    /// # Errors
    ///
    /// `Err(actual)` when the stored value is not `current` (another store
    /// came first); nothing is stored and `new` is dropped.
    ///
    /// ```
    /// let v = tether::sync::AtomicValue::new(1);
    /// let seen = v.load();
    /// assert!(v.compare_and_swap(&seen, 2).is_ok());
    /// // `seen` is stale now: the swap fails and reports the value found.
    /// assert_eq!(*v.compare_and_swap(&seen, 3).unwrap_err(), 2);
    /// ```
    pub fn compare_and_swap(&self, current: &Arc<T>, new: T) -> Result<Arc<T>, Arc<T>> {
        self.compare_and_swap_arc(current, Arc::new(new))
    }

    /// [`compare_and_swap`](AtomicValue::compare_and_swap) with an existing
    /// `Arc` as the new value.
    ///
    /// # Errors
    ///
    /// As [`compare_and_swap`](AtomicValue::compare_and_swap); `new` is
    /// dropped on failure.
    pub fn compare_and_swap_arc(&self, current: &Arc<T>, new: Arc<T>) -> Result<Arc<T>, Arc<T>> {
        let prev = arc_swap::Guard::into_inner(self.inner.compare_and_swap(current, new));
        if Arc::ptr_eq(&prev, current) { Ok(prev) } else { Err(prev) }
    }

    /// Replaces the value with `f(current)`, retrying with the fresh value
    /// if another writer got in between (read-copy-update); returns the
    /// value it replaced. `f` may run more than once, so keep it free of
    /// side effects. For frequent contended updates a [`Mutex`] is
    /// cheaper than repeated rebuilding.
    ///
    /// [`Mutex`]: crate::sync::Mutex
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let routes = tether::sync::AtomicValue::new(BTreeMap::from([("/", 1)]));
    /// routes.update(|old| {
    ///     let mut next = old.clone();
    ///     next.insert("/health", 2);
    ///     next
    /// });
    /// assert_eq!(routes.load().len(), 2);
    /// ```
    pub fn update(&self, mut f: impl FnMut(&T) -> T) -> Arc<T> {
        self.inner.rcu(|old| Arc::new(f(old)))
    }

    /// Consumes the value, returning the current `Arc`.
    pub fn into_inner(self) -> Arc<T> {
        self.inner.into_inner()
    }

    /// A reader's [`Cache`] of this value: the fastest way to read a value
    /// that is read far more often than it is stored.
    ///
    /// ```
    /// let config = tether::sync::AtomicValue::new(1);
    /// let mut cache = config.cache();
    /// assert_eq!(**cache.load(), 1);
    /// config.store(2);
    /// assert_eq!(**cache.load(), 2); // the next load sees the store
    /// ```
    pub fn cache(&self) -> Cache<&Self, T> {
        Cache::new(self)
    }
}

/// A reader's cached snapshot of an [`AtomicValue`], revalidated on each
/// [`load`](Cache::load) with one atomic load (Go's `atomic.Pointer.Load`
/// costs about as much): while nothing was stored since, `load` hands back
/// the snapshot it holds, touching no reference count and no shared cache
/// line but the value's pointer, which stays shared between cores. After a
/// store, the next `load` takes the new value (a full
/// [`AtomicValue::load`]) and keeps it.
///
/// It borrows the value (`value.cache()`) or holds any owner of it
/// (`Cache::new(Arc<AtomicValue<T>>)`), for a reader that lives on its own
/// thread or task.
///
/// ```
/// use std::sync::Arc;
/// use tether::sync::{AtomicValue, Cache};
///
/// #[derive(Debug)]
/// struct Limits { max_body: usize }
///
/// let limits = Arc::new(AtomicValue::new(Limits { max_body: 1 << 20 }));
/// let reader = {
///     let mut cache = Cache::new(limits.clone());
///     std::thread::spawn(move || {
///         // A request loop: each request reads the current limits.
///         (0..1000).map(|_| cache.load().max_body).max().unwrap()
///     })
/// };
/// limits.store(Limits { max_body: 2 << 20 });
/// assert!(reader.join().unwrap() >= 1 << 20);
/// ```
///
/// # Trade-offs
///
/// - **`&mut self`, one per reader.** A cache is not shared: each reader
///   (thread, task, connection) keeps its own, which is what makes the
///   check free of contention. Keep it where the reader lives (a struct
///   field, a thread-local, a task's state), not in a lock.
/// - **It keeps the value it last saw alive** — for as long as the cache
///   lives or until its next `load` after a store — so an old value is
///   freed later than with [`AtomicValue::load`] snapshots dropped at once.
///   For large values stored often, prefer `load` or `load_guard`.
/// - **Fresh at each `load`, not in between.** The reference `load`
///   returns is the value as of that call (the same guarantee as a
///   snapshot); call `load` again to see later stores.
/// - A `load` right after a store costs what [`AtomicValue::load`] does
///   (it takes the new value), so under a store rate close to the read
///   rate the cache buys nothing.
pub struct Cache<R, T>
where
    R: Deref<Target = AtomicValue<T>>,
{
    inner: arc_swap::Cache<Swap<R>, Arc<T>>,
}

/// `R` seen as the `ArcSwap` inside its `AtomicValue` (what arc-swap's
/// cache revalidates against).
struct Swap<R>(R);

impl<T, R: Deref<Target = AtomicValue<T>>> Deref for Swap<R> {
    type Target = ArcSwap<T>;
    #[inline]
    fn deref(&self) -> &ArcSwap<T> {
        &self.0.inner
    }
}

impl<T, R: Deref<Target = AtomicValue<T>>> Cache<R, T> {
    /// A cache of `value` (a reference to it, or an `Arc`), holding its
    /// current snapshot.
    pub fn new(value: R) -> Cache<R, T> {
        Cache { inner: arc_swap::Cache::new(Swap(value)) }
    }

    /// The current value: the cached snapshot if nothing was stored since
    /// it was taken (one atomic load), else the new value, now cached.
    #[inline]
    pub fn load(&mut self) -> &Arc<T> {
        self.inner.load()
    }
}

impl<T, R: Deref<Target = AtomicValue<T>>> fmt::Debug for Cache<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl<T: Default> Default for AtomicValue<T> {
    fn default() -> Self {
        AtomicValue::new(T::default())
    }
}

impl<T> From<T> for AtomicValue<T> {
    fn from(v: T) -> Self {
        AtomicValue::new(v)
    }
}

impl<T: fmt::Debug> fmt::Debug for AtomicValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AtomicValue").field(&*self.load_guard()).finish()
    }
}

/// A short-lived borrow of an [`AtomicValue`]'s current value, from
/// [`load_guard`](AtomicValue::load_guard). Dereferences to `T`.
pub struct Snapshot<T>(arc_swap::Guard<Arc<T>>);

impl<T> Snapshot<T> {
    /// Upgrades to an owned `Arc` (one reference-count increment) that may
    /// be kept as long as needed.
    pub fn into_arc(this: Self) -> Arc<T> {
        arc_swap::Guard::into_inner(this.0)
    }
}

impl<T> Deref for Snapshot<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
