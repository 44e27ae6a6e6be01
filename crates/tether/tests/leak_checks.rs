//! The leak checker (goleak's VerifyNone, built in): live tasks are listed
//! with name, spawn site and age; a goroutine-style leak is caught and then
//! fixed with a context; scoped trackers judge only their own tasks.
mod common;

use std::time::Duration;

use common::{assert_no_leaks, block_on, watchdog};
use tether::Context;
use tether::group::Group;
use tether::leak::{self, Tracker};
use tether::sync::WaitGroup;

const SHORT: Duration = Duration::from_millis(30);

#[test]
fn leaked_task_blocked_forever_is_reported_with_name_and_site() {
    let tracker = Tracker::new();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let line = line!() + 4;
    let g = tracker.in_scope(|| {
        let g = Group::<()>::new();
        // Blocks on a channel nobody sends on: a leak unless stopped.
        g.named("stuck receiver").spawn_blocking(move || {
            let _ = rx.recv();
            Ok(())
        });
        g
    });
    let err = tracker.verify_within(SHORT).expect_err("the blocked task must be reported");
    assert_eq!(err.tasks().len(), 1);
    let t = &err.tasks()[0];
    assert_eq!(t.name(), Some("stuck receiver"));
    assert_eq!(t.kind(), "group blocking task");
    assert!(t.spawned_at().file().ends_with("leak_checks.rs"));
    assert_eq!(t.spawned_at().line(), line);
    assert!(t.age() >= SHORT);
    let text = err.to_string();
    assert!(text.contains(&format!("leak_checks.rs:{line}")), "{text}");
    assert!(text.contains("\"stuck receiver\""), "{text}");
    // The fix: give it a way out.
    drop(tx);
    g.wait_blocking().unwrap();
    tracker.verify().unwrap();
    assert_no_leaks();
}

#[test]
fn goroutine_leak_fixed_with_context() {
    block_on(async {
        let tracker = Tracker::new();
        // Leaky: a worker waiting on a context nobody cancels.
        let (ctx, cancel) = Context::background().with_cancel();
        let wg = WaitGroup::new();
        tracker.in_scope(|| {
            let ctx = ctx.clone();
            wg.go(async move { ctx.done().await });
        });
        let err = tracker.verify_within(SHORT).unwrap_err();
        assert_eq!(err.tasks()[0].kind(), "wait group task");
        // Fixed: cancel the context, and the worker returns.
        cancel.cancel();
        wg.wait().await;
        tracker.verify().unwrap();
    });
    assert_no_leaks();
}

#[test]
fn live_tasks_lists_running_tasks_with_age() {
    let tracker = Tracker::new();
    let (ctx, cancel) = Context::background().with_cancel();
    let wg = WaitGroup::new();
    tracker.in_scope(|| {
        let ctx = ctx.clone();
        wg.go_blocking(move || ctx.wait_blocking());
    });
    let live = tracker.live_tasks();
    assert_eq!(live.len(), 1);
    assert!(leak::live_tasks().iter().any(|t| t.spawned_at() == live[0].spawned_at()));
    assert!(format!("{:?}", live[0]).contains("leak_checks.rs"));
    cancel.cancel();
    watchdog(move || wg.wait_blocking());
    tracker.verify().unwrap();
    assert_no_leaks();
}

#[test]
fn async_tasks_are_listed_with_ages_pending_or_stuck_in_their_first_poll() {
    // No tracker: async tasks then register lazily at their first poll
    // (and take their time only if they outlive it).
    block_on(async {
        let (ctx, cancel) = Context::background().with_cancel();
        let stuck = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let g = Group::<()>::new();
        let c = ctx.clone();
        g.named("pending after its first poll")
            .spawn(async move {
                c.done().await;
                Ok(())
            })
            .await;
        let s = stuck.clone();
        g.named("stuck in its first poll")
            .spawn(async move {
                // Blocks its worker thread inside the first poll.
                while s.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                Ok(())
            })
            .await;
        let find = |name: &str| leak::live_tasks().into_iter().find(|t| t.name() == Some(name));
        let (a, b) = loop {
            match (find("pending after its first poll"), find("stuck in its first poll")) {
                (Some(a), Some(b)) => break (a, b),
                _ => tokio::task::yield_now().await,
            }
        };
        // Ages never go down from one snapshot to the next, and are sane.
        let (a2, b2) = (find("pending after its first poll").unwrap(), find("stuck in its first poll").unwrap());
        assert!(a2.age() >= a.age() && b2.age() >= b.age());
        assert!(a2.age() < Duration::from_secs(3600) && b2.age() < Duration::from_secs(3600));
        stuck.store(false, std::sync::atomic::Ordering::SeqCst);
        cancel.cancel();
        g.wait().await.unwrap();
    });
    assert_no_leaks();
}

#[test]
fn after_func_callbacks_are_tracked_while_running() {
    let tracker = Tracker::new();
    let (ctx, cancel) = Context::background().with_cancel();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let _enter = tracker.enter();
    let _f = ctx.after_func(move || {
        let _ = rx.recv();
    });
    cancel.cancel();
    let err = tracker.verify_within(SHORT).unwrap_err();
    assert_eq!(err.tasks()[0].kind(), "after_func");
    drop(tx);
    tracker.verify().unwrap();
    drop(_enter);
    assert_no_leaks();
}

#[test]
fn tracker_tag_is_inherited_by_tasks_spawned_from_tasks() {
    block_on(async {
        let tracker = Tracker::new();
        let (ctx, cancel) = Context::background().with_cancel();
        let outer = WaitGroup::new();
        let inner = WaitGroup::new();
        {
            let (ctx, inner) = (ctx.clone(), inner.clone());
            tracker.in_scope(|| {
                outer.go(async move {
                    // spawned on a runtime worker thread, inside a tracked task
                    inner.go(async move { ctx.done().await });
                })
            });
        }
        outer.wait().await;
        let live = tracker.live_tasks();
        assert_eq!(live.len(), 1, "{live:?}");
        assert_eq!(live[0].kind(), "wait group task");
        cancel.cancel();
        inner.wait().await;
        tracker.verify().unwrap();
    });
    assert_no_leaks();
}

#[test]
fn blocked_on_note_names_the_wait() {
    let tracker = Tracker::new();
    let wg = WaitGroup::new();
    wg.add(1);
    let g = tracker.in_scope(|| {
        let g = Group::<()>::new();
        let wg = wg.clone();
        g.named("waiter").spawn_blocking(move || {
            wg.wait_blocking();
            Ok(())
        });
        g
    });
    let err = tracker.verify_within(SHORT).unwrap_err();
    // The note is set just before parking; allow the thread a moment.
    let mut seen = err.tasks()[0].blocked_on();
    for _ in 0..200 {
        if seen.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        seen = tracker.live_tasks().first().and_then(|t| t.blocked_on());
    }
    assert_eq!(seen, Some("waiting on a WaitGroup"));
    assert!(tracker.verify_within(SHORT).unwrap_err().to_string().contains("waiting on a WaitGroup"));
    wg.done();
    g.wait_blocking().unwrap();
    tracker.verify().unwrap();
    assert_no_leaks();
}

#[test]
fn verify_none_passes_when_nothing_leaks() {
    let tracker = Tracker::new();
    assert!(tracker.live_tasks().is_empty());
    tracker.verify().unwrap();
    assert_no_leaks();
}

/// Exercises the lock-free registry (its unsafe slot protocol): tasks
/// registering and ending on several threads while snapshots and notes
/// read the same slots.
#[test]
fn registry_stress_concurrent_register_end_and_snapshot() {
    let tracker = Tracker::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                seen += leak::live_tasks().len();
            }
            seen
        })
    };
    block_on(tracker.wrap(async {
        for round in 0..20u32 {
            let wg = WaitGroup::new();
            for i in 0..500u32 {
                if i % 50 == 0 {
                    let name = format!("stress {round}/{i}");
                    let g = Group::<()>::new();
                    g.named(name).spawn_blocking(|| Ok(()));
                    g.wait().await.unwrap();
                } else {
                    wg.go(async {
                        tokio::task::yield_now().await;
                    });
                }
            }
            wg.wait().await;
        }
    }));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    reader.join().unwrap();
    tracker.verify().unwrap();
    assert_no_leaks();
}
