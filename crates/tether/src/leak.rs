//! Leak checks for tests: every task tether starts is accounted for while
//! it is alive (goleak's `VerifyNone`, built in).
//!
//! A *goroutine leak* is a task that stays alive with no path to
//! termination — typically blocked forever on a channel or a lock. tether
//! registers every thread and async task it starts (group and scope tasks,
//! pool workers and tasks, [`WaitGroup::go`](crate::sync::WaitGroup::go)
//! tasks, [`after_func`](crate::Context::after_func) callbacks, timer
//! tasks) from spawn until the task has ended — completed, panicked,
//! aborted or dropped with its runtime — so a test can end with:
//!
//! ```
//! use tether::{Context, group::Group, leak};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let (g, ctx) = Group::<std::sync::Arc<std::io::Error>>::with_context(&Context::background());
//! g.spawn(async move {
//!     ctx.done().await; // would block forever without the group's cancel
//!     Ok(())
//! })
//! .await;
//! drop(g); // cancels the context and aborts the tasks
//! leak::verify_none().expect("no task outlives its group");
//! # });
//! ```
//!
//! # Catching a leak
//!
//! [`verify_none`] retries with a short back-off (tasks that are ending
//! right now get a moment to finish, as in goleak) and then fails with a
//! [`LeakError`] whose `Display` lists each leaked task: its kind, name,
//! spawn site as `file:line`, age, and — where tether knows it — what it is
//! blocked on:
//!
//! ```text
//! 1 leaked task (alive after 1.5s of retries):
//!   - group task "poller" spawned at src/poller.rs:42:9, alive for 3.2s, waiting on a WaitGroup
//! ```
//!
//! # Parallel tests
//!
//! Tests in one binary run on parallel threads, so a check in one test can
//! see the tasks of another. Two tools make checks robust:
//!
//! - [`verify_none`] only judges tasks that were **already alive when it
//!   was called** and **still alive when its retries ran out** (about 1.5 s).
//!   Tasks that other tests start meanwhile are ignored, and their
//!   short-lived tasks end within the window. A real leak stays alive, so it
//!   is still reported (possibly by a neighbouring test — the spawn site
//!   says whose it is).
//! - A [`Tracker`] checks only the tasks started under it (and, through
//!   tether's own spawns, their descendants), so a test can assert about
//!   exactly its own tasks, even on purpose-made leaks, with a short retry
//!   window of its choosing.
//!
//! # Cost
//!
//! Registration takes one uncontended lock of a per-thread shard (16 shards)
//! and one clock read; names are `Cow<'static, str>`, so an unnamed or
//! `&'static`-named task allocates nothing. The benchmark `group` measures
//! it against a bare `tokio::spawn`.

use std::borrow::Cow;
use std::cell::Cell;
use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::panic::Location;
use std::sync::Mutex;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};
use std::time::{Duration, Instant};

/// A task's optional name: `&'static str` costs nothing, a `String` is
/// stored as given.
pub(crate) type Name = Option<Cow<'static, str>>;

struct Entry {
    kind: &'static str,
    name: Name,
    site: &'static Location<'static>,
    /// A [`stamp`] taken when the entry was made.
    since: u64,
    /// [`EPOCH`] when the task was spawned: `verify` judges only tasks
    /// spawned before it started.
    epoch: u64,
    tag: u32,
    note: Option<&'static str>,
}

/// Bumped by every `verify`; read (not written) by every spawn, so the
/// cache line stays shared and the read costs nothing.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// A cheap timestamp for ages: the CPU's time-stamp counter on x86-64 (a
/// few ns; `Instant::now` costs several times more and would dominate the
/// registration), nanoseconds since [`base`] elsewhere. Ages are
/// diagnostics, converted with a ratio calibrated against `Instant`.
#[inline]
fn stamp() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC exists on every x86-64 CPU and only reads a counter.
        #[allow(unused_unsafe)]
        unsafe {
            std::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        base().0.elapsed().as_nanos() as u64
    }
}

/// The calibration point: an `Instant` and the [`stamp`] read with it.
fn base() -> &'static (Instant, u64) {
    static BASE: std::sync::OnceLock<(Instant, u64)> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let i = Instant::now();
        #[cfg(target_arch = "x86_64")]
        let t = stamp();
        #[cfg(not(target_arch = "x86_64"))]
        let t = 0;
        (i, t)
    })
}

/// Converts a stamp difference to time, calibrating on the interval since
/// [`base`] (short intervals calibrate poorly, but then ages are short).
fn stamp_ratio() -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        let (i0, t0) = *base();
        let ticks = stamp().saturating_sub(t0);
        if ticks == 0 { 0.0 } else { i0.elapsed().as_nanos() as f64 / ticks as f64 }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        1.0
    }
}

// ---------------------------------------------------------------------
// The registry: per-thread arenas of slots, lock-free on the hot path.
//
// Each thread that registers tasks owns an arena (pages of slots, never
// freed). Only the owner fills slots, from its private free list; any
// thread may end a registration; readers (snapshots, notes) briefly lock
// a live slot. A slot's `state` arbitrates:
//
//   FREE --owner writes entry, Release--> LIVE
//   LIVE --reader/note CAS, Acquire--> BUSY --Release--> LIVE
//   LIVE --remover CAS (spins while BUSY)--> DEAD
//   DEAD --owner (Acquire), drops the entry--> FREE
//
// So the entry is written only by the owner while no one else may read it
// (FREE), read or noted only under BUSY, and dropped only by the owner
// after the remover gave it up (DEAD). Registering and deregistering cost
// a few plain stores and one CAS on a cache line the polling thread
// usually already holds — no lock, no allocation.
//
// The registry deliberately uses std atomics even under loom: it is
// bookkeeping, not part of any modelled race.
// ---------------------------------------------------------------------

const FREE: u8 = 0;
const LIVE: u8 = 1;
const BUSY: u8 = 2;
const DEAD: u8 = 3;
const PAGE: usize = 64;

struct Slot {
    state: AtomicU8,
    entry: UnsafeCell<MaybeUninit<Entry>>,
}

// SAFETY: the entry is only accessed under the state protocol above, which
// gives one thread at a time exclusive access; `Entry` is Send + Sync.
unsafe impl Sync for Slot {}

impl Slot {
    /// Runs `f` on the live entry, holding it BUSY; None if not live.
    fn with_live<R>(&self, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        loop {
            match self.state.compare_exchange_weak(LIVE, BUSY, Acquire, Relaxed) {
                Ok(_) => break,
                Err(BUSY) => std::hint::spin_loop(),
                Err(LIVE) => {} // spurious failure
                Err(_) => return None,
            }
        }
        // SAFETY: we moved the slot LIVE -> BUSY: the entry is initialised
        // and no one else touches it until we store LIVE again.
        let r = f(unsafe { (*self.entry.get()).assume_init_mut() });
        self.state.store(LIVE, Release);
        Some(r)
    }
}

type Page = [Slot; PAGE];

struct Arena {
    pages: Mutex<Vec<&'static Page>>,
}

/// Every arena ever made (arenas of exited threads are reused).
static ARENAS: Mutex<Vec<&'static Arena>> = Mutex::new(Vec::new());
static ORPHANS: Mutex<Vec<&'static Arena>> = Mutex::new(Vec::new());
static NEXT_TAG: AtomicU32 = AtomicU32::new(1);

fn lock_list<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The owner's side of an arena: its free slots.
struct Local {
    arena: &'static Arena,
    free: Vec<&'static Slot>,
}

impl Local {
    fn new() -> Local {
        let orphan = lock_list(&ORPHANS).pop();
        let arena = orphan.unwrap_or_else(|| {
            let a: &'static Arena = Box::leak(Box::new(Arena { pages: Mutex::new(Vec::new()) }));
            lock_list(&ARENAS).push(a);
            a
        });
        Local { arena, free: Vec::new() }
    }

    #[inline]
    fn insert(&mut self, entry: Entry) -> &'static Slot {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => self.refill(),
        };
        // SAFETY: the slot is FREE and ours (owner): nobody reads it.
        unsafe { (*slot.entry.get()).write(entry) };
        slot.state.store(LIVE, Release);
        slot
    }

    /// Reclaims DEAD slots; adds a page when that yields too few (so the
    /// scans stay amortised O(1) per registration).
    #[cold]
    fn refill(&mut self) -> &'static Slot {
        let pages = lock_list(&self.arena.pages).clone();
        for page in &pages {
            for slot in page.iter() {
                match slot.state.load(Acquire) {
                    FREE => self.free.push(slot),
                    DEAD => {
                        // SAFETY: DEAD: initialised, given up by its
                        // remover, and only the owner moves it on.
                        unsafe { (*slot.entry.get()).assume_init_drop() };
                        slot.state.store(FREE, Relaxed);
                        self.free.push(slot);
                    }
                    _ => {}
                }
            }
        }
        if self.free.len() < PAGE / 2 {
            let page: &'static Page = Box::leak(Box::new(std::array::from_fn(|_| Slot {
                state: AtomicU8::new(FREE),
                entry: UnsafeCell::new(MaybeUninit::uninit()),
            })));
            lock_list(&self.arena.pages).push(page);
            self.free.extend(page.iter().rev());
        }
        self.free.pop().expect("a fresh page has free slots")
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // The thread is exiting: its FREE slots stay FREE, its live ones
        // are ended by whoever holds them; the next thread adopts it all.
        lock_list(&ORPHANS).push(self.arena);
    }
}

thread_local! {
    static LOCAL: std::cell::RefCell<Option<Local>> = const { std::cell::RefCell::new(None) };
    static CURRENT: Cell<Current> = const { Cell::new(Current { tag: 0, task: None }) };
}

/// Used when a thread registers during its own teardown (its `LOCAL` is
/// gone): a shared arena under a lock.
static FALLBACK: Mutex<Option<Local>> = Mutex::new(None);

fn insert(entry: Entry) -> &'static Slot {
    let mut entry = Some(entry);
    let local = LOCAL.try_with(|l| {
        let mut l = l.borrow_mut();
        l.get_or_insert_with(Local::new).insert(entry.take().expect("entry"))
    });
    match local {
        Ok(slot) => slot,
        Err(_) => lock_list(&FALLBACK).get_or_insert_with(Local::new).insert(entry.take().expect("entry")),
    }
}

/// Ends a registration (any thread).
fn remove(slot: &'static Slot) {
    loop {
        match slot.state.compare_exchange_weak(LIVE, DEAD, AcqRel, Relaxed) {
            Ok(_) => return,
            Err(BUSY) | Err(LIVE) => std::hint::spin_loop(),
            Err(_) => return,
        }
    }
}

/// What the current thread is running: the tracker tag new spawns inherit
/// and the registration of the tether task being polled (for notes).
#[derive(Clone, Copy)]
pub(crate) struct Current {
    pub(crate) tag: u32,
    task: Option<&'static Slot>,
}

/// A task's entry in the registry; dropping it deregisters the task.
/// Created at spawn, moved into the task, dropped when the task ends (in
/// whatever way: the guard's drop runs on completion, panic and abort).
///
/// Async tasks register *lazily*, at their first poll, into the shard of
/// the polling thread: a task is usually polled, completed and dropped on
/// one worker thread, so both registry operations hit a lock and a cache
/// line that thread already owns (registering on the spawning thread would
/// bounce the shard between the spawner and the workers on every task).
/// The spawn-time [`EPOCH`] travels with it, so `verify` still judges it by
/// when it was spawned; a task never polled is simply not listed (it holds
/// nothing and will be polled or dropped with its runtime).
#[must_use]
pub(crate) struct Registration {
    slot: Option<&'static Slot>,
    tag: u32,
    pending: Option<Pending>,
}

struct Pending {
    kind: &'static str,
    name: Name,
    site: &'static Location<'static>,
    epoch: u64,
}

impl Registration {
    /// Registers a task of `kind` spawned at `site` under the current
    /// tracker tag, now (threads).
    pub(crate) fn new(kind: &'static str, name: Name, site: &'static Location<'static>) -> Registration {
        let mut r = Registration::lazy(kind, name, site);
        r.register_now();
        r
    }

    /// Prepares a registration that happens at the first [`enter`]
    /// (async tasks, entered at each poll).
    ///
    /// [`enter`]: Registration::enter
    ///
    /// Under a [`Tracker`] the registration is made at once instead: a
    /// tracked test wants an exact answer more than the last nanosecond.
    #[inline]
    pub(crate) fn lazy(kind: &'static str, name: Name, site: &'static Location<'static>) -> Registration {
        let tag = current().tag;
        if !ENABLED.load(Relaxed) {
            return Registration { slot: None, tag, pending: None };
        }
        let pending = Pending { kind, name, site, epoch: EPOCH.load(Relaxed) };
        let mut r = Registration { slot: None, tag, pending: Some(pending) };
        if tag != 0 {
            r.register_now();
        }
        r
    }

    #[cold]
    fn register_now(&mut self) {
        let Some(p) = self.pending.take() else { return };
        let _ = base();
        let entry = Entry {
            kind: p.kind,
            name: p.name,
            site: p.site,
            since: stamp(),
            epoch: p.epoch,
            tag: self.tag,
            note: None,
        };
        self.slot = Some(insert(entry));
    }

    /// The task's name (slow path: panics).
    pub(crate) fn name(&self) -> Option<String> {
        if let Some(p) = &self.pending {
            return p.name.as_deref().map(str::to_string);
        }
        self.slot?.with_live(|e| e.name.as_deref().map(str::to_string)).flatten()
    }

    /// Registers the task if not yet done and makes it the current one on
    /// this thread until the returned guard drops: spawns inherit its
    /// tracker tag, notes go to its entry.
    #[inline]
    pub(crate) fn enter(&mut self) -> Entered {
        if self.slot.is_none() && self.pending.is_some() {
            self.register_now();
        }
        let cur = Current { tag: self.tag, task: self.slot };
        Entered(CURRENT.with(|c| c.replace(cur)))
    }
}

impl Drop for Registration {
    #[inline]
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            remove(slot);
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns leak tracking on or off for tasks spawned from now on (on by
/// default). Off, spawning skips the registry entirely — for programs that
/// want the last few nanoseconds per task in production; [`live_tasks`]
/// then lists only tasks spawned while it was on.
///
/// ```
/// tether::leak::set_enabled(false);
/// assert!(!tether::leak::is_enabled());
/// tether::leak::set_enabled(true);
/// ```
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Relaxed);
}

/// Whether leak tracking is on (see [`set_enabled`]).
pub fn is_enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// Restores the previous current task when dropped.
pub(crate) struct Entered(Current);

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

#[inline]
pub(crate) fn current() -> Current {
    CURRENT.with(|c| c.get())
}

/// Records what the current tether task is blocked on (shown in leak
/// reports) until the returned guard drops. Free when the current thread
/// is not a tether task. Call it only on slow paths (about to park).
pub(crate) fn note(what: &'static str) -> Note {
    let task = current().task;
    if let Some(slot) = task {
        slot.with_live(|e| e.note = Some(what));
    }
    Note(task)
}

/// Clears a [`note`] when dropped.
pub(crate) struct Note(Option<&'static Slot>);

impl Drop for Note {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            slot.with_live(|e| e.note = None);
        }
    }
}

/// One live task, as [`live_tasks`] and [`LeakError`] report it.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskInfo {
    kind: &'static str,
    name: Name,
    site: &'static Location<'static>,
    age: Duration,
    note: Option<&'static str>,
    since: u64,
    tag: u32,
}

impl TaskInfo {
    /// The name given at spawn (for example with
    /// [`Group::named`](crate::group::Group::named)), if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned (the caller of the spawn method).
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.site
    }

    /// How long the task had been alive when this snapshot was taken.
    pub fn age(&self) -> Duration {
        self.age
    }

    /// What kind of task this is: `"group task"`, `"pool worker"`,
    /// `"after_func"`, ...
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// What the task was blocked on when the snapshot was taken, where
    /// tether knows it (for example `"waiting on a WaitGroup"`).
    pub fn blocked_on(&self) -> Option<&'static str> {
        self.note
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("spawned_at", &format_args!("{}", self.site))
            .field("age", &self.age)
            .field("blocked_on", &self.note)
            .finish()
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        if let Some(n) = &self.name {
            write!(f, " {n:?}")?;
        }
        write!(
            f,
            " spawned at {}:{}:{}, alive for {:.1?}",
            self.site.file(),
            self.site.line(),
            self.site.column(),
            self.age
        )?;
        if let Some(n) = self.note {
            write!(f, ", {n}")?;
        }
        Ok(())
    }
}

fn snapshot(keep: impl Fn(&Entry) -> bool) -> Vec<TaskInfo> {
    let ratio = stamp_ratio();
    let now = stamp();
    let mut out = Vec::new();
    let arenas = lock_list(&ARENAS).clone();
    for arena in arenas {
        let pages = lock_list(&arena.pages).clone();
        for slot in pages.iter().flat_map(|p| p.iter()) {
            let info = slot.with_live(|e| {
                keep(e).then(|| TaskInfo {
                    kind: e.kind,
                    name: e.name.clone(),
                    site: e.site,
                    age: Duration::from_nanos((now.saturating_sub(e.since) as f64 * ratio) as u64),
                    note: e.note,
                    since: e.since,
                    tag: e.tag,
                })
            });
            out.extend(info.flatten());
        }
    }
    out.sort_by_key(|t| t.since);
    out
}

/// Every task started by tether that is still alive, oldest first.
///
/// ```
/// assert!(tether::leak::live_tasks().iter().all(|t| t.spawned_at().line() > 0));
/// ```
pub fn live_tasks() -> Vec<TaskInfo> {
    snapshot(|_| true)
}

/// The pause between the two looks that must both find nothing.
const QUIET: Duration = Duration::from_millis(1);

/// How long [`verify_none`] and [`Tracker::verify`] retry before failing.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(1500);

/// Checks that every task tether started before this call has ended,
/// retrying with a short back-off for up to [`DEFAULT_GRACE`] (as goleak
/// does) so that tasks ending right now are not reported.
///
/// Only tasks already alive at the call and still alive at the end of the
/// window count as leaked: tasks started meanwhile (by a test running in
/// parallel) are not judged. See the [module docs](self).
///
/// ```
/// tether::leak::verify_none().unwrap();
/// ```
pub fn verify_none() -> Result<(), LeakError> {
    verify(|_| true, DEFAULT_GRACE)
}

fn verify(keep: impl Fn(&Entry) -> bool, grace: Duration) -> Result<(), LeakError> {
    // Tasks spawned from now on carry a later epoch and are not judged.
    let epoch = EPOCH.fetch_add(1, Relaxed);
    let began = Instant::now(); // the retry window is real time, whatever the clock
    let older = |e: &Entry| e.epoch <= epoch && keep(e);
    let mut backoff = Duration::from_micros(100);
    let mut quiet = false;
    loop {
        let live = snapshot(older);
        if live.is_empty() {
            // Untracked async tasks register at their first poll: look
            // twice, a moment apart, so that a task spawned just before
            // the call has been polled (and listed) by the second look.
            if quiet || began.elapsed() >= grace {
                return Ok(());
            }
            quiet = true;
            std::thread::sleep(QUIET);
            continue;
        }
        quiet = false;
        let spent = began.elapsed();
        if spent >= grace {
            return Err(LeakError { tasks: live, waited: spent });
        }
        std::thread::sleep(backoff.min(grace - spent));
        backoff = (backoff * 2).min(Duration::from_millis(100));
    }
}

/// Scopes leak checks to the tasks started under it: tasks spawned by
/// tether while the tracker is [entered](Tracker::enter) on a thread (or
/// inside a future [wrapped](Tracker::wrap) by it), and — transitively —
/// the tasks those tasks spawn through tether.
///
/// Use it when a test must judge only its own tasks (tests run in
/// parallel), or to check a deliberate leak quickly.
///
/// ```
/// use std::time::Duration;
/// use tether::{Context, leak::Tracker};
///
/// let tracker = Tracker::new();
/// let (ctx, cancel) = Context::background().with_cancel();
/// let _entered = tracker.enter();
/// let _f = ctx.after_func(|| std::thread::sleep(Duration::from_millis(1)));
/// cancel.cancel();
/// tracker.verify().unwrap(); // the after_func ends within the window
/// ```
#[derive(Debug)]
pub struct Tracker {
    tag: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracker {
    /// A new, empty tracker.
    pub fn new() -> Tracker {
        Tracker { tag: NEXT_TAG.fetch_add(1, Relaxed) }
    }

    /// Tags tether spawns on this thread with this tracker until the guard
    /// drops (the previous tracker, if any, is restored).
    pub fn enter(&self) -> TrackerGuard {
        let cur = Current { tag: self.tag, task: None };
        TrackerGuard { _entered: Entered(CURRENT.with(|c| c.replace(cur))), _not_send: std::marker::PhantomData }
    }

    /// Runs `f` with this tracker entered.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = self.enter();
        f()
    }

    /// Wraps a future so that every poll runs with this tracker entered.
    pub fn wrap<F: std::future::Future>(&self, fut: F) -> Tracked<F> {
        Tracked { fut, tag: self.tag }
    }

    /// The live tasks started under this tracker, oldest first.
    pub fn live_tasks(&self) -> Vec<TaskInfo> {
        let tag = self.tag;
        snapshot(|e| e.tag == tag)
    }

    /// [`verify_none`] restricted to this tracker's tasks.
    pub fn verify(&self) -> Result<(), LeakError> {
        self.verify_within(DEFAULT_GRACE)
    }

    /// [`verify`](Tracker::verify) with a retry window of `grace` (use a
    /// short one to check a deliberate leak without slowing the test).
    pub fn verify_within(&self, grace: Duration) -> Result<(), LeakError> {
        let tag = self.tag;
        verify(|e| e.tag == tag, grace)
    }
}

/// Returned by [`Tracker::enter`]; restores the previous tracker on drop.
/// Not `Send`: it belongs to the thread that entered.
pub struct TrackerGuard {
    _entered: Entered,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for TrackerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrackerGuard")
    }
}

/// A future whose polls run under a [`Tracker`] (see [`Tracker::wrap`]).
///
/// # Cancel safety
///
/// As cancel-safe as the wrapped future.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Tracked<F> {
    fut: F,
    tag: u32,
}

impl<F: std::future::Future> std::future::Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: never moved out of `self`.
        let this = unsafe { self.get_unchecked_mut() };
        let _g = Entered(CURRENT.with(|c| c.replace(Current { tag: this.tag, task: None })));
        // SAFETY: see above.
        unsafe { std::pin::Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

/// Tasks still alive after [`verify_none`]'s retries: each is listed by
/// `Display` with its kind, name, spawn site (`file:line:column`), age and,
/// where known, what it is blocked on.
#[derive(Clone, PartialEq, Eq)]
pub struct LeakError {
    tasks: Vec<TaskInfo>,
    waited: Duration,
}

impl LeakError {
    /// The leaked tasks, oldest first.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
}

impl fmt::Display for LeakError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.tasks.len();
        write!(f, "{n} leaked task{} (alive after {:.1?} of retries):", if n == 1 { "" } else { "s" }, self.waited)?;
        for t in &self.tasks {
            write!(f, "\n  - {t}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for LeakError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for LeakError {}
