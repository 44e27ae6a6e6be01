//! Conformance with Go's `context` package: each test checks a behaviour
//! that Go's own context tests check, on tether's API.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{assert_no_leaks, block_on, poll_once, watchdog};
use tether::Context;
use tether::ctx::{Cause, Error};

#[derive(Debug, PartialEq)]
struct Because(&'static str);
impl std::fmt::Display for Because {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Because {}

fn cause(s: &'static str) -> Cause {
    Arc::new(Because(s))
}

/// The cause's text, so tests can compare causes of any type.
fn cause_of(ctx: &Context) -> Option<String> {
    ctx.cause().map(|c| c.to_string())
}

const FOREVER: Duration = Duration::from_secs(1_000_000);

#[test]
fn background_is_never_done() {
    let bg = Context::background();
    assert!(!bg.is_done());
    assert_eq!(bg.err(), None);
    assert!(bg.cause().is_none());
    assert_eq!(bg.deadline(), None);
    assert!(poll_once(&mut Box::pin(bg.done())).is_none());
    assert!(!bg.wait_timeout_blocking(Duration::from_millis(1)));
    assert_no_leaks();
}

#[test]
fn with_cancel_reaches_children_and_grandchildren() {
    let (c1, cancel) = Context::background().with_cancel();
    let (c2, _h2) = c1.with_cancel();
    let (c3, _h3) = c2.with_cancel();
    let c4 = c3.with_value(7u8);
    for c in [&c1, &c2, &c3, &c4] {
        assert_eq!(c.err(), None);
        assert!(poll_once(&mut Box::pin(c.done())).is_none());
    }
    cancel.cancel();
    for c in [&c1, &c2, &c3, &c4] {
        assert_eq!(c.err(), Some(Error::Canceled));
        assert!(poll_once(&mut Box::pin(c.done())).is_some());
        assert_eq!(cause_of(c).as_deref(), Some("context canceled"));
    }
    assert_no_leaks();
}

#[test]
fn parent_finishes_child() {
    let (parent, cancel) = Context::background().with_cancel();
    let (child_a, _ha) = parent.with_cancel();
    let (child_b, _hb) = parent.with_timeout(FOREVER);
    let (grandchild, _hg) = child_a.with_cancel();
    let valued = child_b.with_value("v");
    assert_eq!(parent.__registrations(), 2, "two children registered");
    cancel.cancel();
    for c in [&parent, &child_a, &child_b, &grandchild, &valued] {
        assert_eq!(c.err(), Some(Error::Canceled));
    }
    assert_eq!(parent.__registrations(), 0, "a cancelled parent lets go of its children");
    assert_eq!(child_a.__registrations(), 0);
    assert_no_leaks();
}

#[test]
fn child_finishes_first() {
    for with_deadline in [false, true] {
        let (parent, cancel_parent) = Context::background().with_cancel();
        let (child, cancel_child) = if with_deadline { parent.with_timeout(FOREVER) } else { parent.with_cancel() };
        assert_eq!(parent.__registrations(), 1);
        cancel_child.cancel();
        assert_eq!(child.err(), Some(Error::Canceled));
        assert_eq!(parent.err(), None, "a child's cancel never reaches its parent");
        assert_eq!(parent.__registrations(), 0, "a cancelled child removes itself");
        cancel_parent.cancel();
        assert_eq!(child.err(), Some(Error::Canceled));
    }
    assert_no_leaks();
}

#[test]
fn cancel_removes_every_kind_of_registration() {
    let (parent, _cancel) = Context::background().with_cancel();
    let (_c1, h1) = parent.with_cancel();
    let (_c2, h2) = parent.with_timeout(FOREVER);
    let f = parent.after_func(|| {});
    assert_eq!(parent.__registrations(), 3);
    drop(h1);
    h2.cancel();
    assert!(f.stop());
    assert_eq!(parent.__registrations(), 0);
    // A done() future that is dropped unregisters too.
    let mut fut = Box::pin(parent.done());
    assert!(poll_once(&mut fut).is_none());
    assert_eq!(parent.__registrations(), 1);
    drop(fut);
    assert_eq!(parent.__registrations(), 0);
    assert_no_leaks();
}

#[test]
fn deadline_in_the_past_is_done_at_once() {
    let bg = Context::background();
    let (c, _h) = bg.with_deadline(Instant::now() - Duration::from_secs(1));
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
    assert_eq!(cause_of(&c).as_deref(), Some("context deadline exceeded"));
    let (c, _h) = bg.with_timeout(Duration::ZERO);
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
    assert!(c.err().unwrap().is_timeout());
    assert_no_leaks();
}

#[test]
fn deadline_fires_on_a_plain_thread() {
    watchdog(|| {
        let (c, _h) = Context::background().with_deadline(Instant::now() + Duration::from_millis(5));
        assert!(c.deadline().is_some());
        c.wait_blocking();
        assert_eq!(c.err(), Some(Error::DeadlineExceeded));
        // A child of a timed-out context is born done with its error.
        let (child, _hc) = c.with_cancel();
        assert_eq!(child.err(), Some(Error::DeadlineExceeded));
    });
    assert_no_leaks();
}

#[test]
fn timeout_wakes_async_waiters() {
    block_on(async {
        let (c, _h) = Context::background().with_timeout(Duration::from_millis(5));
        let (child, _hc) = c.with_cancel();
        child.done().await;
        assert_eq!(child.err(), Some(Error::DeadlineExceeded));
    });
    assert_no_leaks();
}

#[test]
fn wait_timeout_blocking_reports_whether_done() {
    watchdog(|| {
        let (c, h) = Context::background().with_cancel();
        assert!(!c.wait_timeout_blocking(Duration::from_millis(2)));
        assert_eq!(c.__registrations(), 0, "a timed-out wait unregisters");
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.wait_timeout_blocking(FOREVER));
        h.cancel();
        assert!(t.join().unwrap());
    });
    assert_no_leaks();
}

#[test]
fn child_deadline_is_never_later_than_parents() {
    let now = Instant::now();
    let (parent, _hp) = Context::background().with_deadline(now + Duration::from_secs(10));
    let (later, _h1) = parent.with_deadline(now + Duration::from_secs(20));
    assert_eq!(later.deadline(), parent.deadline(), "a later deadline is capped by the parent's");
    let (earlier, _h2) = parent.with_deadline(now + Duration::from_secs(5));
    assert_eq!(earlier.deadline(), Some(now + Duration::from_secs(5)));
    let (plain, _h3) = earlier.with_cancel();
    assert_eq!(plain.deadline(), earlier.deadline(), "with_cancel inherits the deadline");
    assert_eq!(plain.with_value(1u8).deadline(), earlier.deadline());
    assert_eq!(plain.without_cancel().deadline(), None);
    assert_no_leaks();
}

#[test]
fn canceled_timeout_reports_canceled() {
    let (c, h) = Context::background().with_timeout(FOREVER);
    let (child, _hc) = c.with_cancel();
    h.cancel();
    assert_eq!(c.err(), Some(Error::Canceled));
    assert_eq!(child.err(), Some(Error::Canceled));
    assert_no_leaks();
}

#[test]
fn values_are_found_nearest_first() {
    #[derive(Debug, PartialEq)]
    struct K1(u32);
    #[derive(Debug, PartialEq)]
    struct K2(&'static str);
    struct K3;
    let bg = Context::background();
    assert!(bg.value::<K1>().is_none());
    let c1 = bg.with_value(K1(1));
    assert_eq!(c1.value::<K1>(), Some(&K1(1)));
    assert!(c1.value::<K2>().is_none());
    let c2 = c1.with_value(K2("c2"));
    let (c3, _h) = c2.with_cancel();
    assert_eq!(c3.value::<K1>(), Some(&K1(1)));
    assert_eq!(c3.value::<K2>(), Some(&K2("c2")));
    let c4 = c3.with_value(K1(4));
    assert_eq!(c4.value::<K1>(), Some(&K1(4)), "nearest value wins");
    assert_eq!(c3.value::<K1>(), Some(&K1(1)), "a child never changes its parent");
    assert!(c4.value::<K3>().is_none());
    let detached = c4.without_cancel();
    assert_eq!(detached.value::<K2>(), Some(&K2("c2")));
    assert_no_leaks();
}

#[test]
fn simultaneous_cancels_finish() {
    watchdog(|| {
        let (root, root_cancel) = Context::background().with_cancel();
        let mut all = vec![(root.clone(), root_cancel)];
        let mut i = 0;
        while all.len() < 100 {
            let parent = all[i].0.clone();
            for _ in 0..4 {
                all.push(parent.with_cancel());
            }
            i += 1;
        }
        let contexts: Vec<Context> = all.iter().map(|(c, _)| c.clone()).collect();
        let threads: Vec<_> = all.into_iter().map(|(_, h)| std::thread::spawn(move || h.cancel())).collect();
        for c in &contexts {
            c.wait_blocking();
            assert_eq!(c.err(), Some(Error::Canceled));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(root.__registrations(), 0);
    });
    assert_no_leaks();
}

#[test]
fn interlocked_cancels_finish() {
    watchdog(|| {
        let (parent, cancel_parent) = Context::background().with_cancel();
        let (child, cancel_child) = parent.with_cancel();
        let p = parent.clone();
        let t = std::thread::spawn(move || {
            p.wait_blocking();
            cancel_child.cancel();
        });
        cancel_parent.cancel();
        child.wait_blocking();
        t.join().unwrap();
    });
    assert_no_leaks();
}

/// A small deterministic generator, so layer shapes vary but never flake.
fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn layers(seed: u64, timeout: bool) {
    #[derive(Debug, PartialEq)]
    struct Val(usize);
    let mut rng = seed;
    let mut ctx = Context::background();
    let mut handles = Vec::new();
    let mut vals = 0usize;
    let mut timers = 0;
    let mut i = 0;
    while i < 30 || timers == 0 || handles.is_empty() || vals == 0 {
        match xorshift(&mut rng) % 3 {
            0 => {
                vals += 1;
                ctx = ctx.with_value(Val(vals));
            }
            1 => {
                let (c, h) = ctx.with_cancel();
                ctx = c;
                handles.push(h);
            }
            _ => {
                let (c, h) = ctx.with_timeout(if timeout { Duration::from_millis(2) } else { FOREVER });
                ctx = c;
                handles.push(h);
                timers += 1;
            }
        }
        i += 1;
    }
    assert_eq!(ctx.value::<Val>(), Some(&Val(vals)));
    if timeout {
        ctx.wait_blocking();
        assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
    } else {
        assert_eq!(ctx.err(), None);
        let pick = (xorshift(&mut rng) as usize) % handles.len();
        handles[pick].cancel();
        assert_eq!(ctx.err(), Some(Error::Canceled));
    }
    assert_eq!(ctx.value::<Val>(), Some(&Val(vals)), "values survive cancellation");
}

#[test]
fn layers_cancel() {
    watchdog(|| (1..=20).for_each(|seed| layers(seed * 7919, false)));
    assert_no_leaks();
}

#[test]
fn layers_timeout() {
    watchdog(|| (1..=5).for_each(|seed| layers(seed * 104729, true)));
    assert_no_leaks();
}

#[test]
fn with_cancel_of_canceled_parent_is_born_done_with_parents_cause() {
    let (parent, h) = Context::background().with_cancel();
    h.cancel_with_cause(cause("because!"));
    let (child, _hc) = parent.with_cancel();
    assert!(poll_once(&mut Box::pin(child.done())).is_some());
    assert_eq!(child.err(), Some(Error::Canceled));
    assert_eq!(cause_of(&child).as_deref(), Some("because!"));
    assert_no_leaks();
}

#[test]
fn with_cancel_of_simultaneously_canceled_parent() {
    watchdog(|| {
        for _ in 0..100 {
            let (parent, h) = Context::background().with_cancel();
            let t = std::thread::spawn(move || h.cancel_with_cause(cause("because!")));
            let (child, _hc) = parent.with_cancel();
            child.wait_blocking();
            assert_eq!(child.err(), Some(Error::Canceled));
            assert_eq!(cause_of(&child).as_deref(), Some("because!"));
            t.join().unwrap();
        }
    });
    assert_no_leaks();
}

#[test]
fn deadline_exceeded_is_a_timeout_error() {
    let e: &dyn std::error::Error = &Error::DeadlineExceeded;
    assert_eq!(e.to_string(), "context deadline exceeded");
    assert!(Error::DeadlineExceeded.is_timeout());
    assert!(!Error::Canceled.is_timeout());
    assert_eq!(Error::Canceled.to_string(), "context canceled");
}

/// One row of Go's cause table: how the context was made, what `err()`
/// and `cause()` then report.
fn cause_row(name: &str, make: impl FnOnce() -> Context, err: Option<Error>, want: Option<&str>) {
    let ctx = make();
    assert_eq!(ctx.err(), err, "{name}: err");
    assert_eq!(cause_of(&ctx).as_deref(), want, "{name}: cause");
}

#[test]
fn cause_rules() {
    let bg = Context::background;
    cause_row("background", bg, None, None);
    cause_row(
        "with_cancel",
        || {
            let (c, h) = bg().with_cancel();
            h.cancel();
            c
        },
        Some(Error::Canceled),
        Some("context canceled"),
    );
    cause_row(
        "with cause",
        || {
            let (c, h) = bg().with_cancel();
            h.cancel_with_cause(cause("parent"));
            c
        },
        Some(Error::Canceled),
        Some("parent"),
    );
    cause_row(
        "parent cause before child cause",
        || {
            let (p, hp) = bg().with_cancel();
            let (c, hc) = p.with_cancel();
            hp.cancel_with_cause(cause("parent"));
            hc.cancel_with_cause(cause("child"));
            c
        },
        Some(Error::Canceled),
        Some("parent"),
    );
    cause_row(
        "parent cause after child cause",
        || {
            let (p, hp) = bg().with_cancel();
            let (c, hc) = p.with_cancel();
            hc.cancel_with_cause(cause("child"));
            hp.cancel_with_cause(cause("parent"));
            c
        },
        Some(Error::Canceled),
        Some("child"),
    );
    cause_row(
        "parent cause before plain child cancel",
        || {
            let (p, hp) = bg().with_cancel();
            let (c, hc) = p.with_cancel();
            hp.cancel_with_cause(cause("parent"));
            hc.cancel();
            c
        },
        Some(Error::Canceled),
        Some("parent"),
    );
    cause_row(
        "plain child cancel before parent cause",
        || {
            let (p, hp) = bg().with_cancel();
            let (c, hc) = p.with_cancel();
            hc.cancel();
            hp.cancel_with_cause(cause("parent"));
            c
        },
        Some(Error::Canceled),
        Some("context canceled"),
    );
    cause_row(
        "timeout zero",
        || {
            let (c, h) = bg().with_timeout(Duration::ZERO);
            h.cancel();
            c
        },
        Some(Error::DeadlineExceeded),
        Some("context deadline exceeded"),
    );
    cause_row(
        "timeout cancelled",
        || {
            let (c, h) = bg().with_timeout(FOREVER);
            h.cancel();
            c
        },
        Some(Error::Canceled),
        Some("context canceled"),
    );
    cause_row(
        "timeout cause fires",
        || {
            let (c, h) = bg().with_timeout_cause(Duration::ZERO, cause("too slow"));
            h.cancel();
            c
        },
        Some(Error::DeadlineExceeded),
        Some("too slow"),
    );
    cause_row(
        "deadline cause fires",
        || {
            let (c, _h) = bg().with_deadline_cause(Instant::now(), cause("too slow"));
            c
        },
        Some(Error::DeadlineExceeded),
        Some("too slow"),
    );
    cause_row(
        "timeout cause not used on cancel",
        || {
            let (c, h) = bg().with_timeout_cause(FOREVER, cause("too slow"));
            h.cancel();
            c
        },
        Some(Error::Canceled),
        Some("context canceled"),
    );
    cause_row(
        "timeout cause stacked",
        || {
            let (p, hp) = bg().with_cancel();
            let (c, _h) = p.with_timeout_cause(Duration::ZERO, cause("too slow"));
            hp.cancel_with_cause(cause("finished early"));
            c
        },
        Some(Error::DeadlineExceeded),
        Some("too slow"),
    );
    cause_row(
        "timeout cause stacked, parent cancels first",
        || {
            let (p, hp) = bg().with_cancel();
            let (c, _h) = p.with_timeout_cause(FOREVER, cause("too slow"));
            hp.cancel_with_cause(cause("finished early"));
            c
        },
        Some(Error::Canceled),
        Some("finished early"),
    );
    cause_row("without_cancel", || bg().without_cancel(), None, None);
    cause_row(
        "without_cancel of cancelled",
        || {
            let (c, h) = bg().with_cancel();
            let w = c.without_cancel();
            h.cancel_with_cause(cause("finished early"));
            w
        },
        None,
        None,
    );
    cause_row(
        "without_cancel of timed out",
        || {
            let (c, _h) = bg().with_timeout_cause(Duration::ZERO, cause("too slow"));
            c.without_cancel()
        },
        None,
        None,
    );
    assert_no_leaks();
}

#[test]
fn cause_is_downcastable_to_the_callers_error() {
    let (c, h) = Context::background().with_cancel();
    assert!(c.cause().is_none(), "cause is None while live");
    h.cancel_with_cause(cause("mine"));
    assert_eq!(c.cause().unwrap().downcast_ref::<Because>(), Some(&Because("mine")));
    let (c, h) = Context::background().with_cancel();
    h.cancel();
    assert_eq!(c.cause().unwrap().downcast_ref::<Error>(), Some(&Error::Canceled));
}

#[test]
fn cause_race_never_shows_a_wrong_cause() {
    watchdog(|| {
        for _ in 0..200 {
            let (c, h) = Context::background().with_cancel();
            let t = std::thread::spawn(move || h.cancel_with_cause(cause("race")));
            loop {
                if let Some(why) = c.cause() {
                    assert_eq!(why.to_string(), "race");
                    assert_eq!(c.err(), Some(Error::Canceled), "err and cause agree");
                    break;
                }
                std::hint::spin_loop();
            }
            t.join().unwrap();
        }
    });
    assert_no_leaks();
}

#[test]
fn err_and_done_never_disagree() {
    watchdog(|| {
        for _ in 0..100 {
            let (c, h) = Context::background().with_cancel();
            let mut done = Box::pin(c.done());
            assert!(poll_once(&mut done).is_none());
            let t = std::thread::spawn(move || h.cancel());
            while c.err().is_none() {
                std::hint::spin_loop();
            }
            assert!(poll_once(&mut done).is_some(), "err() is set but done() is not ready");
            t.join().unwrap();
        }
    });
    assert_no_leaks();
}

#[test]
fn without_cancel_keeps_values_only() {
    struct Key(&'static str);
    let (c, h) = Context::background().with_value(Key("value")).with_timeout(FOREVER);
    let w = c.without_cancel();
    h.cancel();
    assert_eq!(w.deadline(), None);
    assert_eq!(w.err(), None);
    assert!(poll_once(&mut Box::pin(w.done())).is_none());
    assert_eq!(w.value::<Key>().map(|k| k.0), Some("value"));
    let (grandchild, gh) = w.with_cancel();
    assert_eq!(grandchild.err(), None, "children of a detached context start live");
    gh.cancel();
    assert_eq!(w.err(), None);
    assert_no_leaks();
}

#[test]
fn after_func_called_after_cancel() {
    watchdog(|| {
        let (c, h) = Context::background().with_cancel();
        let (tx, rx) = mpsc::channel();
        let f = c.after_func(move || tx.send(()).unwrap());
        assert!(rx.recv_timeout(Duration::from_millis(5)).is_err(), "called before done");
        h.cancel();
        rx.recv().unwrap();
        assert!(!f.stop(), "stop after the call started reports false");
    });
    assert_no_leaks();
}

#[test]
fn after_func_called_after_timeout() {
    watchdog(|| {
        let (c, _h) = Context::background().with_timeout(Duration::from_millis(2));
        let (tx, rx) = mpsc::channel();
        let _f = c.after_func(move || tx.send(()).unwrap());
        rx.recv().unwrap();
    });
    assert_no_leaks();
}

#[test]
fn after_func_called_immediately_when_already_done() {
    watchdog(|| {
        let (c, h) = Context::background().with_cancel();
        h.cancel();
        let (tx, rx) = mpsc::channel();
        let f = c.after_func(move || tx.send(()).unwrap());
        rx.recv().unwrap();
        assert!(!f.stop());
    });
    assert_no_leaks();
}

#[test]
fn after_func_not_called_after_stop() {
    watchdog(|| {
        let (c, h) = Context::background().with_cancel();
        let (tx, rx) = mpsc::channel::<()>();
        let f = c.after_func(move || tx.send(()).unwrap());
        assert!(f.stop());
        h.cancel();
        // The sender was dropped with the stopped function: disconnected,
        // never a message.
        assert_eq!(rx.recv(), Err(mpsc::RecvError));
        assert!(!f.stop(), "a second stop reports false");
    });
    assert_no_leaks();
}

#[test]
fn after_func_runs_asynchronously_to_cancel() {
    watchdog(|| {
        let (c, h) = Context::background().with_cancel();
        let (tx, rx) = mpsc::sync_channel(0);
        // The function blocks until the test reads, which it only does
        // after cancel() returned: cancel must not wait for the function.
        let _f = c.after_func(move || tx.send(()).unwrap());
        h.cancel();
        rx.recv().unwrap();
    });
    assert_no_leaks();
}

#[test]
fn after_func_on_background_never_runs_and_stops() {
    let f = Context::background().after_func(|| unreachable!());
    assert!(f.stop());
}

#[test]
fn dropping_the_handle_cancels() {
    let (c, h) = Context::background().with_cancel();
    let (child, _hc) = c.with_cancel();
    drop(h);
    assert_eq!(c.err(), Some(Error::Canceled));
    assert_eq!(child.err(), Some(Error::Canceled));
}

#[test]
fn first_cancel_wins() {
    let (c, h) = Context::background().with_timeout(FOREVER);
    h.cancel_with_cause(cause("first"));
    h.cancel_with_cause(cause("second"));
    h.cancel();
    assert_eq!(cause_of(&c).as_deref(), Some("first"));
    assert_eq!(c.err(), Some(Error::Canceled));
}

#[test]
fn done_wakes_tasks_and_threads_on_cancel() {
    block_on(async {
        let (c, h) = Context::background().with_cancel();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.done().await })
            })
            .collect();
        let c2 = c.clone();
        let thread = std::thread::spawn(move || c2.wait_blocking());
        tokio::task::yield_now().await;
        h.cancel();
        for w in waiters {
            w.await.unwrap();
        }
        thread.join().unwrap();
        assert_eq!(c.__registrations(), 0);
    });
    assert_no_leaks();
}

#[test]
fn check_returns_err_once_done() {
    let (c, h) = Context::background().with_cancel();
    assert_eq!(c.check(), Ok(()));
    h.cancel();
    assert_eq!(c.check(), Err(Error::Canceled));
}
