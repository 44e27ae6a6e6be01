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
//! 2 leaked tasks (alive after 1.5s of retries):
//!   - group task "poller" spawned at src/poller.rs:42:9, alive for 3.2s, waiting on a WaitGroup
//!   - group task spawned at src/feed.rs:17:5, alive for 3.1s, receiving from a channel at src/feed.rs:19:30
//! ```
//!
//! # What a leaked task is blocked on
//!
//! Where goleak prints a stack, tether names the wait
//! ([`TaskInfo::blocked_on`]) and, for channel operations and selects, the
//! line that started it ([`TaskInfo::blocked_at`]): every wait in tether's
//! own primitives says what it is, async or blocking — channel receive,
//! send, `reserve` and `closed`, `select!`/`select_blocking!` and
//! [`Select`](crate::chan::Select), a context's `done`/`wait_blocking`,
//! [`Cond`](crate::sync::Cond), [`Mutex`](crate::sync::Mutex),
//! [`Semaphore`](crate::sync::Semaphore),
//! [`WaitGroup`](crate::sync::WaitGroup), sleeps and tickers, rate limiter
//! waits, a group's `wait` and a spawn waiting for a slot. An async task's
//! note is made when its poll returns `Pending` and cleared when a later
//! poll ends without one (waiting on something tether does not know, such
//! as a tokio timer or a socket, shows no note). Only waits that park pay
//! for it: a note is one uncontended lock of the task's own registry slot.
//!
//! # What is outside the check
//!
//! Only tasks tether starts are registered. A task started with plain
//! `tokio::spawn`, `std::thread::spawn` or another crate's executor is
//! invisible to [`verify_none`] and [`Tracker`] — even if it uses tether's
//! channels and contexts — so a leak there goes unreported. Start tasks
//! through a [`Group`](crate::group::Group), [`scope`](crate::group::scope),
//! [`WaitGroup::go`](crate::sync::WaitGroup::go) or a [`pool`](crate::pool)
//! to have them checked (they also cannot outlive their owner).
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
//! Registration takes a free slot from the registering thread's own arena
//! (no lock, no allocation but a page per 64 slots) and one fast clock
//! read; ending it on that thread frees the slot at once, and on another
//! thread is one compare-and-swap plus a push on a lock-free stack that the
//! owning thread empties. Both are O(1) however many tasks are alive;
//! pages are given back as they empty (two spares per thread are kept), and
//! [`live_tasks`] skips empty threads and pages, so after a peak it costs
//! what is alive now. Names are `Cow<'static, str>`, so an unnamed or
//! `&'static`-named task allocates nothing. The benchmarks `group` (against
//! a bare `tokio::spawn`) and `scale` (1,000 to 1,000,000 live tasks)
//! measure it.

#[cfg(all(test, loom))]
mod loom_tests;
mod registry;

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use registry::SlotRef;
#[cfg(not(loom))]
use registry::{Arena, Owned};

/// A task's optional name: `&'static str` costs nothing, a `String` is
/// stored as given.
pub(crate) type Name = Option<Cow<'static, str>>;

struct Entry {
    kind: &'static str,
    name: Name,
    site: &'static Location<'static>,
    /// [`EPOCH`] when the task was spawned: `verify` judges only tasks
    /// spawned before it started.
    epoch: u64,
    tag: u32,
    note: Option<Blocked>,
}

/// What a task is blocked on, as leak reports show it: the operation (a
/// phrase such as `"receiving from a channel"`) and, where tether knows it,
/// the line that started it (public blocking operations and the
/// constructors of their futures are `#[track_caller]`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blocked {
    pub(crate) what: &'static str,
    pub(crate) at: Option<&'static Location<'static>>,
}

impl Blocked {
    pub(crate) const fn new(what: &'static str, at: Option<&'static Location<'static>>) -> Blocked {
        Blocked { what, at }
    }
}

/// Bumped by every `verify`; read (not written) by every spawn, so the
/// cache line stays shared and the read costs nothing.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// A cheap real-time reading for ages: the fast clock, unordered (ages
/// are diagnostics), never virtual time.
#[inline]
fn stamp() -> u64 {
    crate::clock::real_nanos_relaxed()
}

// ---------------------------------------------------------------------
// The process's registry: one arena per registering thread (see
// `registry` for the arena itself). The registry uses std atomics and
// locks even under loom, where it is switched off (loom models start no
// tasks); the arena's own races are modelled in `loom_tests`.
// ---------------------------------------------------------------------

/// Every arena ever made (arenas of exited threads are adopted by new
/// ones, so this stays as long as the most threads ever registering at
/// once).
#[cfg(not(loom))]
static ARENAS: Mutex<Vec<&'static Arena>> = Mutex::new(Vec::new());
#[cfg(not(loom))]
static ORPHANS: Mutex<Vec<&'static Arena>> = Mutex::new(Vec::new());
static NEXT_TAG: AtomicU32 = AtomicU32::new(1);

fn lock_list<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// This thread's arena, owned.
#[cfg(not(loom))]
struct Local(Owned);

#[cfg(not(loom))]
impl Local {
    fn new() -> Local {
        let orphan = lock_list(&ORPHANS).pop();
        let arena = orphan.unwrap_or_else(|| {
            let a: &'static Arena = Box::leak(Box::new(Arena::new()));
            lock_list(&ARENAS).push(a);
            a
        });
        // SAFETY: a new arena has no owner; an orphan's owner dropped its
        // `Owned` before pushing it, and the ORPHANS mutex orders that
        // before this.
        Local(unsafe { Owned::new(arena) })
    }
}

#[cfg(not(loom))]
impl Drop for Local {
    fn drop(&mut self) {
        // The thread is exiting: slots other threads gave back are freed
        // now; live ones are ended by whoever holds them; the next new
        // thread adopts the arena.
        self.0.reclaim_returned();
        lock_list(&ORPHANS).push(self.0.arena());
    }
}

thread_local! {
    #[cfg(not(loom))]
    static LOCAL: std::cell::RefCell<Option<Local>> = const { std::cell::RefCell::new(None) };
    static CURRENT: Cell<Current> = const { Cell::new(Current { tag: 0, task: None, noted: false }) };
}

/// Used when a thread registers during its own teardown (its `LOCAL` is
/// gone): a shared arena under a lock.
#[cfg(not(loom))]
static FALLBACK: Mutex<Option<Local>> = Mutex::new(None);

#[cfg(not(loom))]
fn insert(entry: Entry, since: u64) -> Option<SlotRef> {
    let mut entry = Some(entry);
    let local = LOCAL.try_with(|l| match l.try_borrow_mut() {
        Ok(mut l) => Some(l.get_or_insert_with(Local::new).0.insert(entry.take().expect("entry"), since)),
        Err(_) => None,
    });
    match local {
        Ok(Some(slot)) => Some(slot),
        _ => Some(lock_list(&FALLBACK).get_or_insert_with(Local::new).0.insert(entry.take().expect("entry"), since)),
    }
}

#[cfg(loom)]
fn insert(_entry: Entry, _since: u64) -> Option<SlotRef> {
    None
}

/// Ends a registration (any thread): at once on the arena's own thread,
/// else handed to that thread.
#[cfg(not(loom))]
fn remove(slot: SlotRef) {
    let arena = Arena::of(slot);
    let done = LOCAL
        .try_with(|l| match l.try_borrow_mut() {
            Ok(mut l) => match l.as_mut() {
                Some(local) if std::ptr::eq(local.0.arena(), arena) => {
                    local.0.remove(slot);
                    true
                }
                _ => false,
            },
            Err(_) => false,
        })
        .unwrap_or(false);
    if !done {
        Arena::remove_foreign(slot);
    }
}

#[cfg(loom)]
fn remove(_slot: SlotRef) {}

/// Every live entry the registry holds, arena by arena.
#[cfg(not(loom))]
fn scan(mut f: impl FnMut(&Entry, &crate::sync_impl::AtomicU64)) {
    let arenas = lock_list(&ARENAS).clone();
    for arena in arenas {
        arena.scan(&mut f);
    }
}

#[cfg(loom)]
fn scan(_f: impl FnMut(&Entry, &crate::sync_impl::AtomicU64)) {}

/// What the current thread is running: the tracker tag new spawns inherit
/// and the registration of the tether task being polled (for notes).
#[derive(Clone, Copy)]
pub(crate) struct Current {
    pub(crate) tag: u32,
    task: Option<SlotRef>,
    /// A [`pending`] note was made while this entry was current.
    noted: bool,
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
    slot: Option<SlotRef>,
    /// The entry's `since` is set (or need not be).
    stamped: bool,
    tag: u32,
    pending: Option<Pending>,
    /// The entry holds a note made by [`pending`] in an earlier poll.
    noted: bool,
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
        r.register_now(true);
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
            return Registration { slot: None, stamped: true, tag, pending: None, noted: false };
        }
        let pending = Pending { kind, name, site, epoch: EPOCH.load(Relaxed) };
        let mut r = Registration { slot: None, stamped: true, tag, pending: Some(pending), noted: false };
        if tag != 0 {
            r.register_now(true);
        }
        r
    }

    /// `now`: stamp the entry now. Otherwise (an async task, registered at
    /// its first poll, which most finish in) the registration skips the
    /// clock read, a third of its cost: a task that outlives its first poll
    /// is stamped by `polled`, one stuck in it by the first snapshot that
    /// sees it.
    #[cold]
    fn register_now(&mut self, now: bool) {
        let Some(p) = self.pending.take() else { return };
        self.stamped = now;
        let since = if now { stamp() } else { 0 };
        let entry = Entry { kind: p.kind, name: p.name, site: p.site, epoch: p.epoch, tag: self.tag, note: None };
        self.slot = insert(entry, since);
    }

    /// Ends a poll of the task (`entered`, from [`enter`](Registration::enter)):
    /// once the task has outlived its first poll, its entry gets its time
    /// (see `register_now`); a note of what an earlier poll waited for is
    /// cleared unless this poll noted again (see [`pending`]).
    #[inline]
    pub(crate) fn polled(&mut self, entered: Entered, done: bool) {
        let noted = entered.exit();
        if noted != self.noted {
            self.noted = noted;
            if let (false, false, Some(slot)) = (noted, done, self.slot) {
                slot.with_live(|e| e.note = None);
            }
        }
        if !self.stamped {
            self.stamped = true;
            if let (false, Some(slot)) = (done, self.slot) {
                slot.stamp(stamp);
            }
        }
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
            self.register_now(false);
        }
        let cur = Current { tag: self.tag, task: self.slot, noted: false };
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

impl Entered {
    /// Restores the previous current task; true if a [`pending`] note was
    /// made while this entry was current.
    #[inline]
    fn exit(self) -> bool {
        let this = std::mem::ManuallyDrop::new(self);
        CURRENT.with(|c| c.replace(this.0).noted)
    }
}

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
/// reports) until the returned guard drops: for a thread about to park.
/// Free when the current thread is not a tether task. Call it only on slow
/// paths (about to wait).
pub(crate) fn note(what: &'static str) -> Note {
    note_at(Blocked::new(what, None))
}

/// [`note`] with the operation's call site.
pub(crate) fn note_at(b: Blocked) -> Note {
    let task = current().task;
    if let Some(slot) = task {
        slot.with_live(|e| e.note = Some(b));
    }
    Note(task)
}

/// Records what the current tether task's poll is about to return
/// `Pending` for: the note stays until the task's next poll ends without
/// noting again (async operations call this on their `Pending` path; the
/// task wrapper clears stale notes in [`Registration::polled`]). Free when
/// the current thread is not polling a tether task.
#[cold]
pub(crate) fn pending(b: Blocked) {
    CURRENT.with(|c| {
        let mut cur = c.get();
        if let Some(slot) = cur.task {
            slot.with_live(|e| e.note = Some(b));
            cur.noted = true;
            c.set(cur);
        }
    });
}

/// Clears a [`note`] when dropped.
pub(crate) struct Note(Option<SlotRef>);

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
    note: Option<Blocked>,
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
    /// tether knows it: a phrase such as `"receiving from a channel"`,
    /// `"in a select"`, `"waiting for a context to be done"` or `"waiting on
    /// a WaitGroup"` (goleak shows a stack; this is its one useful line).
    /// Known for waits in tether's own primitives (channels, select,
    /// contexts, `sync`, timers, the rate limiter, groups); a task waiting
    /// on something else (a tokio timer, a socket) shows `None`.
    pub fn blocked_on(&self) -> Option<&'static str> {
        self.note.map(|b| b.what)
    }

    /// Where the operation the task is blocked on was called, when tether
    /// knows it (see [`blocked_on`](TaskInfo::blocked_on)).
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let (tx, rx) = tether::chan::bounded::<u8>(0);
    /// let tracker = tether::leak::Tracker::new();
    /// let g = tether::group::Group::<()>::new();
    /// let line = line!() + 1;
    /// tracker.in_scope(|| g.try_spawn(async move { let _ = rx.recv().await; Ok(()) }));
    /// let task = loop {
    ///     match tracker.live_tasks().pop() {
    ///         Some(t) if t.blocked_on().is_some() => break t,
    ///         _ => tokio::task::yield_now().await,
    ///     }
    /// };
    /// assert_eq!(task.blocked_on(), Some("receiving from a channel"));
    /// assert_eq!(task.blocked_at().map(|l| l.line()), Some(line));
    /// drop(tx);
    /// g.wait().await.unwrap();
    /// # });
    /// ```
    pub fn blocked_at(&self) -> Option<&'static Location<'static>> {
        self.note.and_then(|b| b.at)
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("spawned_at", &format_args!("{}", self.site))
            .field("age", &self.age)
            .field("blocked_on", &self.note.map(|b| b.what))
            .field("blocked_at", &self.note.and_then(|b| b.at).map(|l| format!("{l}")))
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
        if let Some(b) = self.note {
            write!(f, ", {}", b.what)?;
            if let Some(at) = b.at {
                write!(f, " at {}:{}:{}", at.file(), at.line(), at.column())?;
            }
        }
        Ok(())
    }
}

fn snapshot(keep: impl Fn(&Entry) -> bool) -> Vec<TaskInfo> {
    let now = stamp();
    let mut out = Vec::new();
    scan(|e, since| {
        if keep(e) {
            // Not stamped yet (stuck in its first poll): alive since at
            // least now.
            let since = match since.compare_exchange(0, now, Relaxed, Relaxed) {
                Ok(_) => now,
                Err(t) => t,
            };
            out.push(TaskInfo {
                kind: e.kind,
                name: e.name.clone(),
                site: e.site,
                age: Duration::from_nanos(now.saturating_sub(since)),
                note: e.note,
                since,
                tag: e.tag,
            });
        }
    });
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
/// # Errors
///
/// A [`LeakError`] listing every task that stayed alive through the whole
/// window (its `Display` is the report: kind, name, spawn site, age and,
/// where tether knows it, what the task is blocked on).
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
        let cur = Current { tag: self.tag, task: None, noted: false };
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
    ///
    /// # Errors
    ///
    /// A [`LeakError`] listing this tracker's tasks still alive after
    /// [`DEFAULT_GRACE`].
    pub fn verify(&self) -> Result<(), LeakError> {
        self.verify_within(DEFAULT_GRACE)
    }

    /// [`verify`](Tracker::verify) with a retry window of `grace` (use a
    /// short one to check a deliberate leak without slowing the test).
    ///
    /// # Errors
    ///
    /// A [`LeakError`] listing this tracker's tasks still alive after
    /// `grace`.
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
        let _g = Entered(CURRENT.with(|c| c.replace(Current { tag: this.tag, task: None, noted: false })));
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
