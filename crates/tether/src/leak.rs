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
use std::fmt;
use std::panic::Location;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::slab::Slab;

/// A task's optional name: `&'static str` costs nothing, a `String` is
/// stored as given.
pub(crate) type Name = Option<Cow<'static, str>>;

struct Entry {
    kind: &'static str,
    name: Name,
    site: &'static Location<'static>,
    since: Instant,
    tag: u32,
    note: Option<&'static str>,
}

const SHARDS: usize = 16;

// The registry is process-wide and deliberately uses std's Mutex even
// under loom: it is bookkeeping, not part of any modelled race.
#[repr(align(128))]
struct Shard(Mutex<Slab<Entry>>);

static REGISTRY: [Shard; SHARDS] = [const { Shard(Mutex::new(Slab::new())) }; SHARDS];
static NEXT_SHARD: AtomicU32 = AtomicU32::new(0);
static NEXT_TAG: AtomicU32 = AtomicU32::new(1);

/// What the current thread is running: the tracker tag new spawns inherit
/// and the registration of the tether task being polled (for notes).
#[derive(Clone, Copy)]
pub(crate) struct Current {
    pub(crate) tag: u32,
    task: Option<(u16, u32)>,
}

thread_local! {
    static MY_SHARD: Cell<u16> = const { Cell::new(u16::MAX) };
    static CURRENT: Cell<Current> = const { Cell::new(Current { tag: 0, task: None }) };
}

fn lock(shard: usize) -> std::sync::MutexGuard<'static, Slab<Entry>> {
    REGISTRY[shard].0.lock().unwrap_or_else(|e| e.into_inner())
}

fn my_shard() -> u16 {
    MY_SHARD.with(|s| {
        let v = s.get();
        if v != u16::MAX {
            return v;
        }
        let v = (NEXT_SHARD.fetch_add(1, Relaxed) as usize % SHARDS) as u16;
        s.set(v);
        v
    })
}

/// A live task's entry in the registry; dropping it deregisters the task.
/// Created at spawn, moved into the task, dropped when the task ends (in
/// whatever way: the guard's drop runs on completion, panic and abort).
#[must_use]
pub(crate) struct Registration {
    shard: u16,
    key: u32,
    tag: u32,
}

impl Registration {
    /// Registers a task of `kind` spawned at `site` under the current
    /// tracker tag.
    pub(crate) fn new(kind: &'static str, name: Name, site: &'static Location<'static>) -> Registration {
        let tag = current().tag;
        let shard = my_shard();
        let entry = Entry { kind, name, site, since: crate::clock::now(), tag, note: None };
        let key = lock(shard as usize).insert(entry);
        Registration { shard, key: key as u32, tag }
    }

    /// The task's name, read back from the registry (slow path: panics).
    pub(crate) fn name(&self) -> Option<String> {
        lock(self.shard as usize).get(self.key as usize).and_then(|e| e.name.as_deref().map(str::to_string))
    }

    /// Makes this task the current one on this thread until the returned
    /// guard drops: spawns inherit its tracker tag, notes go to its entry.
    #[inline]
    pub(crate) fn enter(&self) -> Entered {
        let cur = Current { tag: self.tag, task: Some((self.shard, self.key)) };
        Entered(CURRENT.with(|c| c.replace(cur)))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(self.shard as usize).remove(self.key as usize);
    }
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
    if let Some((shard, key)) = task {
        if let Some(e) = lock(shard as usize).get_mut(key as usize) {
            e.note = Some(what);
        }
    }
    Note(task)
}

/// Clears a [`note`] when dropped.
pub(crate) struct Note(Option<(u16, u32)>);

impl Drop for Note {
    fn drop(&mut self) {
        if let Some((shard, key)) = self.0 {
            if let Some(e) = lock(shard as usize).get_mut(key as usize) {
                e.note = None;
            }
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
    since: Instant,
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
    let now = crate::clock::now();
    let mut out = Vec::new();
    for shard in 0..SHARDS {
        let s = lock(shard);
        out.extend(s.iter().filter(|(_, e)| keep(e)).map(|(_, e)| TaskInfo {
            kind: e.kind,
            name: e.name.clone(),
            site: e.site,
            age: now.saturating_duration_since(e.since),
            note: e.note,
            since: e.since,
            tag: e.tag,
        }));
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
    let start = crate::clock::now();
    let began = Instant::now(); // the retry window is real time, whatever the clock
    let older = |e: &Entry| e.since <= start && keep(e);
    let mut backoff = Duration::from_micros(100);
    loop {
        let live = snapshot(older);
        if live.is_empty() {
            return Ok(());
        }
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
