//! The `tracing` integration against the real crate: a hand-written
//! capturing subscriber, installed once as the global default (tokio's
//! worker threads and tether's timer thread do not inherit a scoped
//! default), records every span and event; each test finds its own by a
//! marker no other test uses.
#![cfg(feature = "tracing")]

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{assert_no_leaks, block_on, watchdog};
use tether::Context;
use tether::group::Group;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

// ---- the capturing subscriber ----

type Fields = BTreeMap<String, String>;

#[derive(Clone, Debug)]
struct SpanRec {
    name: &'static str,
    level: Level,
    fields: Fields,
    parent: Option<u64>,
}

#[derive(Clone, Debug)]
struct EventRec {
    target: String,
    level: Level,
    fields: Fields,
    /// The span the event belongs to (explicit parent, or the current one).
    parent: Option<u64>,
}

struct FieldsVisitor<'a>(&'a mut Fields);

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
}

#[derive(Default)]
struct Captured {
    spans: BTreeMap<u64, SpanRec>,
    events: Vec<EventRec>,
}

struct Capture {
    next_id: AtomicU64,
    captured: Mutex<Captured>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn current_span() -> Option<u64> {
    STACK.with(|s| s.borrow().last().copied())
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut fields = Fields::new();
        attrs.record(&mut FieldsVisitor(&mut fields));
        let parent = if attrs.is_contextual() { current_span() } else { attrs.parent().map(Id::into_u64) };
        let rec = SpanRec { name: attrs.metadata().name(), level: *attrs.metadata().level(), fields, parent };
        self.captured.lock().unwrap().spans.insert(id, rec);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut c = self.captured.lock().unwrap();
        if let Some(s) = c.spans.get_mut(&span.into_u64()) {
            values.record(&mut FieldsVisitor(&mut s.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut FieldsVisitor(&mut fields));
        let parent = if event.is_contextual() { current_span() } else { event.parent().map(Id::into_u64) };
        let rec = EventRec {
            target: event.metadata().target().to_string(),
            level: *event.metadata().level(),
            fields,
            parent,
        };
        self.captured.lock().unwrap().events.push(rec);
    }

    fn enter(&self, span: &Id) {
        STACK.with(|s| s.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        let id = span.into_u64();
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|&x| x == id) {
                s.remove(i);
            }
        });
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture =
            Box::leak(Box::new(Capture { next_id: AtomicU64::new(1), captured: Mutex::new(Captured::default()) }));
        tracing::subscriber::set_global_default(Forward(c)).expect("the only global subscriber");
        c
    })
}

/// The global subscriber: forwards to the static [`Capture`].
struct Forward(&'static Capture);

impl Subscriber for Forward {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &Attributes<'_>) -> Id {
        self.0.new_span(a)
    }
    fn record(&self, s: &Id, v: &Record<'_>) {
        self.0.record(s, v)
    }
    fn record_follows_from(&self, s: &Id, f: &Id) {
        self.0.record_follows_from(s, f)
    }
    fn event(&self, e: &Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, s: &Id) {
        self.0.enter(s)
    }
    fn exit(&self, s: &Id) {
        self.0.exit(s)
    }
}

impl Capture {
    fn events(&self, keep: impl Fn(&EventRec) -> bool) -> Vec<EventRec> {
        self.captured.lock().unwrap().events.iter().filter(|e| keep(e)).cloned().collect()
    }

    fn span(&self, id: u64) -> SpanRec {
        self.captured.lock().unwrap().spans.get(&id).cloned().expect("a recorded span")
    }

    /// The one event with `field == value` (the test's marker).
    fn marked(&self, field: &str, value: &str) -> EventRec {
        let found = self.events(|e| e.fields.get(field).map(String::as_str) == Some(value));
        assert_eq!(found.len(), 1, "one event with {field} = {value}: {found:?}");
        found.into_iter().next().unwrap()
    }
}

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(String::as_str)
}

/// Asserts `span` is a task span of `kind`, named `name`, spawned on `line`
/// of this file.
fn assert_task_span(span: &SpanRec, kind: &str, name: Option<&str>, line: u32) {
    assert_eq!(span.name, "tether.task", "{span:?}");
    assert_eq!(span.level, Level::DEBUG, "{span:?}");
    assert_eq!(field(&span.fields, "kind"), Some(kind), "{span:?}");
    assert_eq!(field(&span.fields, "name"), name, "{span:?}");
    let site = field(&span.fields, "spawned_at").expect("a spawn site");
    let prefix = format!("{}:{line}:", file!());
    assert!(site.starts_with(&prefix), "spawned_at {site:?} should start with {prefix:?}");
}

// ---- spans ----

/// Emits an event marked `marker` (in the current span) and succeeds.
fn marked_ok<E>(marker: &'static str) -> Result<(), E> {
    tracing::info!(marker);
    Ok(())
}

#[test]
fn a_group_task_runs_in_its_span_on_tokio() {
    let c = capture();
    let line = block_on(async {
        let g = Group::<String>::new();
        let line = line!() + 1;
        g.named("fetch-a1").spawn(async { marked_ok("in fetch-a1") }).await;
        g.wait().await.unwrap();
        line
    });
    let event = c.marked("marker", "in fetch-a1");
    let span = c.span(event.parent.expect("the event is inside the task's span"));
    assert_task_span(&span, "group task", Some("fetch-a1"), line);
    assert_no_leaks();
}

#[test]
fn a_blocking_task_runs_in_its_span_a_child_of_the_spawners() {
    let c = capture();
    let line = watchdog(|| {
        let g = Group::<String>::new();
        let outer = tracing::info_span!("outer-b2");
        let entered = outer.enter();
        let line = line!() + 1;
        g.named("blocking-b2").spawn_blocking(|| marked_ok("in blocking-b2"));
        drop(entered);
        g.wait_blocking().unwrap();
        line
    });
    let event = c.marked("marker", "in blocking-b2");
    let span = c.span(event.parent.expect("the event is inside the task's span"));
    assert_task_span(&span, "group blocking task", Some("blocking-b2"), line);
    let parent = c.span(span.parent.expect("the task span has the spawner's span as parent"));
    assert_eq!(parent.name, "outer-b2");
    assert_no_leaks();
}

#[test]
fn scope_threads_and_wait_group_tasks_have_spans_with_the_callers_site() {
    let c = capture();
    let (scope_line, wg_line) = watchdog(|| {
        let mut scope_line = 0;
        tether::group::scope(&Context::background(), |s| {
            scope_line = line!() + 1;
            s.spawn_named("thread-c3", |_| marked_ok("in thread-c3"));
            Ok::<(), tether::ctx::Error>(())
        })
        .unwrap();
        let wg = tether::sync::WaitGroup::new();
        let wg_line = line!() + 1;
        wg.go_blocking(|| tracing::info!(marker = "in wg-c3"));
        wg.wait_blocking();
        (scope_line, wg_line)
    });
    let event = c.marked("marker", "in thread-c3");
    assert_task_span(&c.span(event.parent.unwrap()), "scope thread", Some("thread-c3"), scope_line);
    let event = c.marked("marker", "in wg-c3");
    assert_task_span(&c.span(event.parent.unwrap()), "wait group task", None, wg_line);
    assert_no_leaks();
}

#[test]
fn an_after_func_runs_in_its_span() {
    let c = capture();
    watchdog(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        let (tx, rx) = std::sync::mpsc::channel();
        let _stop = ctx.after_func(move || {
            tracing::info!(marker = "in after-d4");
            let _ = tx.send(());
        });
        cancel.cancel();
        rx.recv_timeout(Duration::from_secs(10)).expect("the after-func ran");
    });
    let event = c.marked("marker", "in after-d4");
    let span = c.span(event.parent.unwrap());
    assert_eq!(span.name, "tether.task");
    assert_eq!(field(&span.fields, "kind"), Some("after_func"));
    assert_no_leaks();
}

// ---- context events ----

#[derive(Debug, Clone, PartialEq, Eq)]
struct Boom(&'static str);

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Boom {}

fn ctx_events(c: &Capture, cause: &str) -> Vec<EventRec> {
    c.events(|e| e.target == "tether::ctx" && field(&e.fields, "cause") == Some(cause))
}

#[test]
fn a_cancel_with_a_cause_is_one_event_with_the_cause() {
    let c = capture();
    let (ctx, cancel) = Context::background().with_cancel();
    let (child, _child_cancel) = ctx.with_cancel();
    let (_grandchild, _gc_cancel) = child.with_timeout(Duration::from_secs(3600));
    cancel.cancel_with_cause(Arc::new(Boom("cause e5")));
    assert!(child.is_done());
    let events = ctx_events(c, "cause e5");
    assert_eq!(events.len(), 1, "one event for the cancel, not one per descendant: {events:?}");
    assert_eq!(events[0].level, Level::DEBUG);
    assert_eq!(field(&events[0].fields, "error"), Some("context canceled"));
    // Cancelling again changes nothing, and emits nothing.
    cancel.cancel_with_cause(Arc::new(Boom("cause e5")));
    assert_eq!(ctx_events(c, "cause e5").len(), 1);
    assert_no_leaks();
}

#[test]
fn a_deadline_firing_is_an_event() {
    let c = capture();
    watchdog(move || {
        let (ctx, _cancel) =
            Context::background().with_timeout_cause(Duration::from_millis(20), Arc::new(Boom("deadline f6")));
        assert!(ctx.wait_timeout_blocking(Duration::from_secs(10)), "the deadline fired");
        // Emitted before the context's waiters are woken: already there.
        let events = ctx_events(c, "deadline f6");
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(field(&events[0].fields, "error"), Some("context deadline exceeded"));
    });
    assert_no_leaks();
}

#[test]
fn a_plain_deadline_reports_its_error_without_a_cause() {
    let c = capture();
    watchdog(move || {
        let outer = tracing::info_span!("outer-g7");
        let _entered = outer.enter();
        // Already past: the context is cancelled at once, on this thread.
        let (ctx, _cancel) = Context::background().with_deadline(Instant::now() - Duration::from_millis(1));
        assert!(ctx.is_done());
        let here = current_span();
        let events = c.events(|e| e.target == "tether::ctx" && e.parent.is_some() && e.parent == here);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(field(&events[0].fields, "error"), Some("context deadline exceeded"));
        assert_eq!(field(&events[0].fields, "cause"), None);
    });
    assert_no_leaks();
}

// ---- group events ----

fn group_events(c: &Capture, keep: impl Fn(&EventRec) -> bool) -> Vec<EventRec> {
    c.events(|e| e.target == "tether::group" && keep(e))
}

#[test]
fn several_failures_make_one_first_error_event() {
    let c = capture();
    let (first, line) = watchdog(|| {
        let (g, gctx) = Group::<Boom>::with_context(&Context::background());
        let all = Arc::new(Barrier::new(4));
        let mut line = 0;
        for _ in 0..4 {
            let all = all.clone();
            line = line!() + 1;
            g.named("failing-h8").spawn_blocking(move || {
                all.wait();
                Err(Boom("boom h8"))
            });
        }
        let first = g.wait_blocking().unwrap_err();
        assert!(gctx.is_done());
        (first, line)
    });
    assert_eq!(first, Boom("boom h8"));
    let events = group_events(c, |e| field(&e.fields, "error") == Some("boom h8"));
    assert_eq!(events.len(), 1, "exactly one first-error event: {events:?}");
    let e = &events[0];
    assert_eq!(e.level, Level::INFO);
    assert_eq!(field(&e.fields, "error_type"), Some(std::any::type_name::<Boom>()));
    assert_eq!(field(&e.fields, "kind"), Some("group blocking task"));
    assert_eq!(field(&e.fields, "task"), Some("failing-h8"));
    let site = field(&e.fields, "spawned_at").unwrap();
    assert!(site.starts_with(&format!("{}:{line}:", file!())), "{site}");
    // Emitted inside the failing task's span.
    assert_task_span(&c.span(e.parent.unwrap()), "group blocking task", Some("failing-h8"), line);
    // The group's context was cancelled with the error as its cause.
    assert_eq!(ctx_events(c, "boom h8").len(), 1);
    assert_no_leaks();
}

/// An error type with no `Display`: the event names its type only.
#[derive(Debug, PartialEq)]
struct Opaque19(u32);

#[test]
fn a_first_error_without_display_names_its_type() {
    let c = capture();
    let line = block_on(async {
        let g = Group::<Opaque19>::new();
        let line = line!() + 1;
        g.spawn(async { Err(Opaque19(1)) }).await;
        g.spawn(async { Err(Opaque19(2)) }).await;
        assert!(g.wait().await.is_err());
        line
    });
    let events = group_events(c, |e| field(&e.fields, "error_type") == Some(std::any::type_name::<Opaque19>()));
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(field(&e.fields, "error"), None);
    assert_eq!(field(&e.fields, "kind"), Some("group task"));
    assert_eq!(field(&e.fields, "task"), None);
    let parent = c.span(e.parent.expect("inside the failing task's span"));
    assert_eq!(field(&parent.fields, "kind"), Some("group task"));
    let site = field(&e.fields, "spawned_at").unwrap();
    let (first, second) = (format!("{}:{line}:", file!()), format!("{}:{}:", file!(), line + 1));
    assert!(site.starts_with(&first) || site.starts_with(&second), "{site}");
    assert_no_leaks();
}
