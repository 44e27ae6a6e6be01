//! The registry's storage: one arena per registering thread, of pages of
//! slots; O(1) to register and to end a registration at any number of
//! live tasks, memory given back as pages empty, and scans that skip what
//! is empty.
//!
//! Each thread that registers tasks *owns* an arena (its `Owned` handle
//! lives in the thread's registry state; an exited thread's arena is
//! adopted by the next new thread). Only the owner fills slots and frees
//! pages; any thread ends a registration; readers (snapshots, notes) lock a
//! live slot briefly. A slot's `state` arbitrates:
//!
//! ```text
//!   FREE --owner writes the entry, Release--> LIVE
//!   LIVE --reader CAS, Acquire--> BUSY --Release--> LIVE
//!   LIVE --remover CAS (spins while BUSY)--> DEAD
//!   DEAD --owner drops the entry--> FREE
//! ```
//!
//! Ending a registration on the owner's thread (the common case: a task is
//! registered at its first poll, on the thread that polls it, and usually
//! ends there) reclaims the slot at once. Another thread pushes the DEAD
//! slot on the arena's `returned` stack (lock-free, many pushers, and the
//! owner takes the whole stack at once, so no ABA), which the owner
//! reclaims before it would make a new page, and whenever it ends a
//! registration of its own. So no operation ever scans the arena.
//!
//! The owner tracks free slots per page (a bitmask) and keeps pages with
//! room on a list, so registering takes the first free slot of the first
//! such page. A page that empties is freed unless it is one of the arena's
//! two spares (so a thread whose task count hovers near a page boundary
//! does not allocate and free a page each time). Pages are freed under the
//! arena's page-list lock, which scanners hold while they look, so a
//! scanner never reads a freed page; the owner only *tries* that lock (a
//! page it could not free now is freed at the next chance).

use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use super::Entry;
use crate::sync_impl::{AtomicPtr, AtomicU8, AtomicUsize, Mutex, UnsafeCell, lock};

pub(super) const FREE: u8 = 0;
pub(super) const LIVE: u8 = 1;
pub(super) const BUSY: u8 = 2;
pub(super) const DEAD: u8 = 3;

/// Slots per page (fewer under loom, whose models must stay small).
#[cfg(not(loom))]
const PAGE: usize = 64;
#[cfg(loom)]
const PAGE: usize = 2;
const ALL: u64 = if PAGE == 64 { u64::MAX } else { (1 << PAGE) - 1 };
/// Empty pages an arena keeps for reuse.
const SPARE_PAGES: usize = 2;

pub(super) struct Slot {
    state: AtomicU8,
    /// The slot's place in its page (the page is found from it).
    index: u8,
    /// The next slot on the arena's `returned` stack.
    next: AtomicPtr<Slot>,
    /// When the task was known alive (clock nanoseconds; 0: not yet).
    /// Beside the entry, not in it: its owner sets it while readers may
    /// hold the entry.
    since: crate::sync_impl::AtomicU64,
    entry: UnsafeCell<MaybeUninit<Entry>>,
}

/// A page of slots. `slots` comes first (`repr(C)`), so a slot's page is
/// found by stepping back `index` slots.
#[repr(C)]
struct Page {
    slots: [Slot; PAGE],
    arena: *const Arena,
    /// Slots that are not FREE (the owner writes it; scanners read it to
    /// skip empty pages).
    used: AtomicUsize,
    /// The owner's bookkeeping.
    own: UnsafeCell<PageOwn>,
}

struct PageOwn {
    /// Bit `i` set: slot `i` is free.
    free: u64,
    /// Links in the arena's list of pages with a free slot.
    prev: *mut Page,
    next: *mut Page,
    listed: bool,
    /// Where the page is in `Arena::pages`.
    at: usize,
}

/// A handle to one slot, held by the registration that fills it.
///
/// The slot's page stays allocated while the slot is LIVE, BUSY or DEAD
/// and not yet reclaimed: pages are freed only once all their slots are
/// FREE. So a handle is valid from `insert` until its `remove`, and for
/// its own task's notes (made while the task runs, hence while LIVE).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotRef(NonNull<Slot>);

// SAFETY: a SlotRef is a pointer to a slot whose accesses all go through
// the state protocol above (atomics), or through the owner (one thread at
// a time); the entry is Send + Sync.
unsafe impl Send for SlotRef {}
// SAFETY: as above.
unsafe impl Sync for SlotRef {}

impl SlotRef {
    fn slot(&self) -> &Slot {
        // SAFETY: valid while the registration lives (see the type's docs);
        // every caller holds it in that window.
        unsafe { self.0.as_ref() }
    }

    fn page(&self) -> *mut Page {
        let index = self.slot().index as usize;
        // SAFETY: the slot is element `index` of its page's `slots`, which
        // starts the page (`repr(C)`): stepping back `index` slots stays in
        // the array and lands on its start, the page's address.
        unsafe { self.0.as_ptr().sub(index).cast::<Page>() }
    }

    /// Runs `f` on the live entry, holding it BUSY; `None` if not live.
    pub(super) fn with_live<R>(&self, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        self.slot().with_live(f)
    }

    /// Sets when the task was known alive, unless set already (by the
    /// task's own thread, any time while registered).
    pub(super) fn stamp(&self, now: impl FnOnce() -> u64) {
        let since = &self.slot().since;
        if since.load(Relaxed) == 0 {
            since.store(now(), Relaxed);
        }
    }
}

impl Slot {
    fn new(index: usize) -> Slot {
        Slot {
            state: AtomicU8::new(FREE),
            index: index as u8,
            next: AtomicPtr::new(ptr::null_mut()),
            since: crate::sync_impl::AtomicU64::new(0),
            entry: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    fn with_live<R>(&self, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        loop {
            match self.state.compare_exchange_weak(LIVE, BUSY, Acquire, Relaxed) {
                Ok(_) => break,
                Err(BUSY) => spin(),
                Err(LIVE) => {} // spurious failure
                Err(_) => return None,
            }
        }
        // SAFETY: we moved the slot LIVE -> BUSY: the entry is initialised
        // and no one else touches it until we store LIVE again.
        let r = self.entry.with_mut(|e| f(unsafe { (*e).assume_init_mut() }));
        self.state.store(LIVE, Release);
        Some(r)
    }
}

fn spin() {
    #[cfg(loom)]
    loom::thread::yield_now();
    std::hint::spin_loop();
}

/// One thread's arena.
pub(super) struct Arena {
    /// Every page, for scanners (under the lock) and for freeing (by the
    /// owner, under the lock).
    pages: Mutex<Vec<PagePtr>>,
    /// Slots not FREE across the arena (the owner writes it).
    used: AtomicUsize,
    /// DEAD slots pushed by other threads, for the owner to reclaim.
    returned: AtomicPtr<Slot>,
    own: UnsafeCell<ArenaOwn>,
}

struct PagePtr(*mut Page);
// SAFETY: pages are shared between threads only through the protocol of
// the module docs (the Vec is behind a mutex).
unsafe impl Send for PagePtr {}

struct ArenaOwn {
    /// The first page with a free slot.
    open: *mut Page,
    /// Pages entirely free (at most SPARE_PAGES, plus those whose freeing
    /// had to wait for a scanner).
    empty: usize,
}

// SAFETY: the owner-only parts are touched by one thread at a time (the
// owner; ownership passes through a mutex), the rest is atomics and a
// mutex.
unsafe impl Sync for Arena {}
// SAFETY: as above.
unsafe impl Send for Arena {}

impl Arena {
    pub(super) fn new() -> Arena {
        Arena {
            pages: Mutex::new(Vec::new()),
            used: AtomicUsize::new(0),
            returned: AtomicPtr::new(ptr::null_mut()),
            own: UnsafeCell::new(ArenaOwn { open: ptr::null_mut(), empty: 0 }),
        }
    }

    /// Ends the registration in `slot` from a thread that does not own its
    /// arena: marks it DEAD and hands it to the owner.
    pub(super) fn remove_foreign(slot: SlotRef) {
        if !kill(slot) {
            return;
        }
        // SAFETY: the page lives while the slot is DEAD (not reclaimed).
        let arena = unsafe { &*(*slot.page()).arena };
        let s = slot.0.as_ptr();
        let mut head = arena.returned.load(Relaxed);
        loop {
            slot.slot().next.store(head, Relaxed);
            match arena.returned.compare_exchange_weak(head, s, Release, Relaxed) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// The arena `slot` belongs to.
    pub(super) fn of(slot: SlotRef) -> *const Arena {
        // SAFETY: the page lives while the slot is registered.
        unsafe { (*slot.page()).arena }
    }

    /// Live registrations (possibly a moment stale).
    #[cfg(test)]
    pub(super) fn used(&self) -> usize {
        self.used.load(Acquire)
    }

    /// Runs `f` on every live entry (each held BUSY meanwhile), with its
    /// slot's `since`.
    pub(super) fn scan(&self, mut f: impl FnMut(&Entry, &crate::sync_impl::AtomicU64)) {
        if self.used.load(Acquire) == 0 {
            return;
        }
        let pages = lock(&self.pages);
        for page in pages.iter() {
            // SAFETY: pages are freed only under this lock.
            let page = unsafe { &*page.0 };
            if page.used.load(Acquire) == 0 {
                continue;
            }
            for slot in &page.slots {
                slot.with_live(|e| f(e, &slot.since));
            }
        }
    }
}

/// LIVE -> DEAD (waiting out a reader); false if it was not LIVE.
fn kill(slot: SlotRef) -> bool {
    loop {
        match slot.slot().state.compare_exchange_weak(LIVE, DEAD, AcqRel, Relaxed) {
            Ok(_) => return true,
            Err(BUSY) | Err(LIVE) => spin(),
            Err(_) => return false,
        }
    }
}

/// The owner's handle on an arena: the only way to fill slots and free
/// pages.
pub(super) struct Owned {
    arena: &'static Arena,
}

impl Owned {
    /// Takes ownership of `arena`.
    ///
    /// # Safety
    ///
    /// At most one `Owned` for an arena exists at a time, and a new one is
    /// made only after the previous one's last use happens-before (the
    /// registry passes arenas between threads through a mutex).
    pub(super) unsafe fn new(arena: &'static Arena) -> Owned {
        Owned { arena }
    }

    pub(super) fn arena(&self) -> &'static Arena {
        self.arena
    }

    fn own<R>(&self, f: impl FnOnce(&mut ArenaOwn) -> R) -> R {
        // SAFETY: we are the owner: nobody else touches the owner's state.
        self.arena.own.with_mut(|o| f(unsafe { &mut *o }))
    }

    /// Registers `entry`; O(1) (amortised over the pages it makes).
    #[inline]
    pub(super) fn insert(&mut self, entry: Entry, since: u64) -> SlotRef {
        let mut page = self.own(|o| o.open);
        if page.is_null() {
            self.reclaim_returned();
            page = self.own(|o| o.open);
            if page.is_null() {
                page = self.new_page();
            }
        }
        // SAFETY: `page` is on our open list: allocated, ours to fill.
        let p = unsafe { &*page };
        let (index, was_empty) = p.own.with_mut(|o| {
            // SAFETY: owner-only state.
            let o = unsafe { &mut *o };
            let was_empty = o.free == ALL;
            let index = o.free.trailing_zeros() as usize;
            o.free &= !(1 << index);
            (index, was_empty)
        });
        if was_empty {
            self.own(|o| o.empty -= 1);
        }
        if p.own.with(|o| unsafe { (*o).free } == 0) {
            self.unlist(page);
        }
        let slot = &p.slots[index];
        // SAFETY: the slot is FREE and ours (owner): nobody reads it.
        slot.entry.with_mut(|e| unsafe { (*e).write(entry) });
        slot.since.store(since, Relaxed);
        slot.state.store(LIVE, Release);
        p.used.store(p.used.load(Relaxed) + 1, Release);
        self.arena.used.store(self.arena.used.load(Relaxed) + 1, Release);
        SlotRef(NonNull::from(slot))
    }

    /// Ends a registration in this arena, on the owner's thread: the slot
    /// is free again at once.
    #[inline]
    pub(super) fn remove(&mut self, slot: SlotRef) {
        if kill(slot) {
            self.reclaim(slot);
        }
        if !self.arena.returned.load(Relaxed).is_null() {
            self.reclaim_returned();
        } else if self.own(|o| o.empty) > SPARE_PAGES {
            self.free_spare_pages(ptr::null_mut()); // put off before
        }
    }

    /// Reclaims every slot other threads gave back (and frees the pages
    /// that leaves empty beyond the spares).
    pub(super) fn reclaim_returned(&mut self) {
        let mut s = self.arena.returned.swap(ptr::null_mut(), Acquire);
        while let Some(slot) = NonNull::new(s) {
            let slot = SlotRef(slot);
            s = slot.slot().next.load(Relaxed);
            self.reclaim(slot);
        }
        self.free_spare_pages(ptr::null_mut());
    }

    /// DEAD -> FREE: drops the entry and gives the slot back to its page.
    #[inline]
    fn reclaim(&mut self, slot: SlotRef) {
        let s = slot.slot();
        debug_assert_eq!(s.state.load(Relaxed), DEAD);
        // SAFETY: DEAD: initialised, given up by its remover (the CAS or
        // the stack's Release/Acquire ordered its last use before this),
        // and only the owner moves it on.
        s.entry.with_mut(|e| unsafe { (*e).assume_init_drop() });
        s.state.store(FREE, Relaxed);
        let page = slot.page();
        // SAFETY: the page lives (this slot was not FREE until now).
        let p = unsafe { &*page };
        let bit = 1u64 << s.index;
        let (was_full, now_empty) = p.own.with_mut(|o| {
            // SAFETY: owner-only state.
            let o = unsafe { &mut *o };
            let was_full = o.free == 0;
            o.free |= bit;
            (was_full, o.free == ALL)
        });
        p.used.store(p.used.load(Relaxed) - 1, Release);
        self.arena.used.store(self.arena.used.load(Relaxed) - 1, Release);
        if was_full {
            self.list(page);
        }
        if now_empty
            && self.own(|o| {
                o.empty += 1;
                o.empty > SPARE_PAGES
            })
        {
            self.free_spare_pages(page);
        }
    }

    /// Frees empty pages beyond the spares, starting with `hint` (a page
    /// that just emptied); gives up for now if a scanner holds the list.
    fn free_spare_pages(&mut self, hint: *mut Page) {
        if self.own(|o| o.empty) <= SPARE_PAGES {
            return;
        }
        let Some(mut pages) = try_lock(&self.arena.pages) else { return };
        let mut candidates = Vec::new();
        if !hint.is_null() {
            candidates.push(hint);
        }
        if self.own(|o| o.empty) > SPARE_PAGES + candidates.len() {
            // Freeing was put off before (a scanner held the list): find
            // the other empty pages. At most once per put-off, and no
            // dearer than the scan that caused it.
            candidates.extend(pages.iter().map(|p| p.0).filter(|&p| p != hint));
        }
        for page in candidates {
            if self.own(|o| o.empty) <= SPARE_PAGES {
                break;
            }
            // SAFETY: pages in the list are allocated; owner-only state.
            let empty = unsafe { &*page }.own.with(|o| unsafe { (*o).free } == ALL);
            if !empty {
                continue;
            }
            self.unlist(page);
            let at = unsafe { &*page }.own.with(|o| unsafe { (*o).at });
            let last = pages.len() - 1;
            pages.swap(at, last);
            pages.pop();
            if at < last {
                // SAFETY: owner-only state of a page of ours.
                unsafe { &*pages[at].0 }.own.with_mut(|o| unsafe { (*o).at = at });
            }
            self.own(|o| o.empty -= 1);
            // SAFETY: allocated by `new_page` with Box::into_raw; every slot
            // is FREE (no handle points into it) and it is out of the list
            // scanners read (we hold their lock), so nothing can reach it.
            drop(unsafe { Box::from_raw(page) });
        }
    }

    fn new_page(&mut self) -> *mut Page {
        let page = Box::into_raw(Box::new(Page {
            slots: std::array::from_fn(Slot::new),
            arena: self.arena,
            used: AtomicUsize::new(0),
            own: UnsafeCell::new(PageOwn {
                free: ALL,
                prev: ptr::null_mut(),
                next: ptr::null_mut(),
                listed: false,
                at: 0,
            }),
        }));
        let mut pages = lock(&self.arena.pages);
        // SAFETY: just allocated, not shared yet.
        unsafe { &*page }.own.with_mut(|o| unsafe { (*o).at = pages.len() });
        pages.push(PagePtr(page));
        drop(pages);
        self.own(|o| o.empty += 1);
        self.list(page);
        page
    }

    /// Puts `page` at the head of the open list.
    fn list(&mut self, page: *mut Page) {
        let head = self.own(|o| o.open);
        // SAFETY: owner-only state of pages of ours.
        unsafe {
            (*page).own.with_mut(|o| {
                (*o).prev = ptr::null_mut();
                (*o).next = head;
                (*o).listed = true;
            });
            if !head.is_null() {
                (*head).own.with_mut(|o| (*o).prev = page);
            }
        }
        self.own(|o| o.open = page);
    }

    /// Takes `page` off the open list (if it is on it).
    fn unlist(&mut self, page: *mut Page) {
        // SAFETY: owner-only state of pages of ours.
        unsafe {
            let (listed, prev, next) = (*page).own.with(|o| ((*o).listed, (*o).prev, (*o).next));
            if !listed {
                return;
            }
            if prev.is_null() {
                self.own(|o| o.open = next);
            } else {
                (*prev).own.with_mut(|o| (*o).next = next);
            }
            if !next.is_null() {
                (*next).own.with_mut(|o| (*o).prev = prev);
            }
            (*page).own.with_mut(|o| (*o).listed = false);
        }
    }

    /// Pages the arena holds (for tests).
    #[cfg(test)]
    pub(super) fn pages(&self) -> usize {
        lock(&self.arena.pages).len()
    }
}

#[cfg(not(loom))]
fn try_lock<T>(m: &Mutex<T>) -> Option<crate::sync_impl::MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

#[cfg(loom)]
fn try_lock<T>(m: &Mutex<T>) -> Option<crate::sync_impl::MutexGuard<'_, T>> {
    m.try_lock().ok()
}

impl Drop for Arena {
    fn drop(&mut self) {
        // Arenas of the process registry live for ever; this is for the
        // models, which make their own and end every registration first.
        for page in lock(&self.pages).drain(..) {
            // SAFETY: as in `free_spare_pages`: nothing else can reach it.
            drop(unsafe { Box::from_raw(page.0) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn entry(tag: u32) -> Entry {
        Entry {
            kind: "test task",
            name: (tag % 3 == 0).then(|| format!("task {tag}").into()),
            site: std::panic::Location::caller(),
            epoch: 0,
            tag,
            note: None,
        }
    }

    /// An owner filling and ending registrations, another thread ending
    /// some of them, a scanner reading all the while: pages are made and
    /// freed many times over. Run under valgrind too (`valgrind
    /// target/debug/deps/tether-* leak::registry`): no read of a freed page.
    #[test]
    fn churn_across_threads_frees_pages_and_loses_nothing() {
        let arena: &'static Arena = Box::leak(Box::new(Arena::new()));
        // SAFETY: a new arena, owned by this thread only.
        let mut own = unsafe { Owned::new(arena) };
        let (tx, rx) = mpsc::channel::<SlotRef>();
        let remover = std::thread::spawn(move || {
            for s in rx {
                Arena::remove_foreign(s);
            }
        });
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scanner = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let mut n = 0;
                    arena.scan(|e, _| {
                        assert_eq!(e.kind, "test task");
                        n += 1;
                    });
                    assert!(n <= 20 * 3_000, "never more than were registered");
                }
            })
        };
        let mut held = std::collections::VecDeque::new();
        for round in 0..20u32 {
            for i in 0..3_000 {
                held.push_back(own.insert(entry(round * 3_000 + i), 1));
            }
            while let Some(s) = held.pop_front() {
                if held.len() % 2 == 0 { tx.send(s).unwrap() } else { own.remove(s) }
            }
            std::thread::yield_now();
        }
        drop(tx);
        remover.join().unwrap();
        own.reclaim_returned();
        stop.store(true, Relaxed);
        scanner.join().unwrap();
        assert_eq!(arena.used(), 0);
        // Registering again reuses the spares; pages whose freeing a
        // scanner put off are freed now.
        let s = own.insert(entry(1), 1);
        own.remove(s);
        assert_eq!(arena.used(), 0);
        assert!(own.pages() <= SPARE_PAGES, "empty pages are freed: {} left", own.pages());
    }
}
