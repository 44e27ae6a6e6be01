//! Leak reports say what a leaked task is blocked on, as goleak's stack
//! does: for every wait in tether's own primitives, async and blocking, the
//! report names the operation, and for channel operations and selects the
//! line that started it. A note never outlives its wait.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_no_leaks, block_on, watchdog};
use tether::Context;
use tether::chan;
use tether::group::Group;
use tether::leak::{TaskInfo, Tracker};
use tether::rate::{Limit, Limiter};
use tether::sync::{Cond, Mutex, Semaphore, WaitGroup};

/// The first task of `tracker` that reports a wait (the note is made just
/// before the task parks or returns `Pending`; the watchdog bounds this).
fn blocked_task(tracker: &Tracker) -> TaskInfo {
    loop {
        if let Some(t) = tracker.live_tasks().into_iter().find(|t| t.blocked_on().is_some()) {
            return t;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `start` (which spawns one task that blocks) under a fresh tracker,
/// checks what the report says, then ends the wait with what `start`
/// returned, and checks that the task ended.
fn check<R: FnOnce()>(what: &str, line: Option<u32>, start: impl FnOnce(&Group<()>) -> R) {
    let tracker = Tracker::new();
    let g = tracker.in_scope(Group::<()>::new);
    let release = tracker.in_scope(|| start(&g));
    let t = blocked_task(&tracker);
    assert_eq!(t.blocked_on(), Some(what), "{t}");
    assert_eq!(t.blocked_at().map(|l| l.line()), line, "{t}");
    let report = tracker.verify_within(Duration::from_millis(5)).unwrap_err().to_string();
    assert!(report.contains(what), "{report}");
    if let Some(l) = line {
        assert!(t.blocked_at().unwrap().file().ends_with("leak_blocked_on.rs"), "{t}");
        assert!(report.contains(&format!("{what} at ")), "{report}");
        assert!(report.contains(&format!("leak_blocked_on.rs:{l}:")), "{report}");
    }
    release();
    g.wait_blocking().unwrap();
    tracker.verify().unwrap();
}

#[test]
fn async_waits_name_what_they_wait_for() {
    block_on(async {
        // `check` blocks while it looks: run it off the runtime's workers
        // (spawns from here still reach the runtime).
        tokio::task::spawn_blocking(async_cases).await.unwrap();
    });
    assert_no_leaks();
}

fn async_cases() {
    let (tx, rx) = chan::bounded::<u8>(0);
    let line = line!() + 2;
    check("receiving from a channel", Some(line), |g| {
        assert!(g.try_spawn(async move { rx.recv().await.map(drop).map_err(drop) }));
        move || tx.send_blocking(1).unwrap()
    });

    let (tx, rx) = chan::bounded::<u8>(0);
    let line = line!() + 2;
    check("sending on a channel", Some(line), |g| {
        assert!(g.try_spawn(async move { tx.send(1).await.map_err(drop) }));
        move || assert_eq!(rx.recv_blocking(), Ok(1))
    });

    let (tx, rx) = chan::bounded::<u8>(0);
    let (ctx, cancel) = Context::background().with_cancel();
    let line = line!() + 3;
    check("in a select", Some(line), |g| {
        assert!(g.try_spawn(async move {
            tether::select! {
                send(tx, 1) -> _sent => {},
                done(ctx) => {},
            }
            Ok(())
        }));
        move || {
            cancel.cancel();
            drop(rx);
        }
    });

    let (tx, rx) = chan::bounded::<u8>(1);
    let line = line!() + 2;
    check("receiving from a channel", Some(line), |g| {
        assert!(g.try_spawn(async move { rx.recv_timeout(Duration::from_secs(3600)).await.map(drop).map_err(drop) }));
        move || tx.try_send(1).unwrap()
    });

    let (tx, rx) = chan::bounded::<u8>(0);
    check("waiting for a channel to close", None, |g| {
        assert!(g.try_spawn(async move {
            tx.closed().await;
            Ok(())
        }));
        move || drop(rx)
    });

    let (ctx, cancel) = Context::background().with_cancel();
    check("waiting for a context to be done", None, |g| {
        assert!(g.try_spawn(async move {
            ctx.done().await;
            Ok(())
        }));
        move || cancel.cancel()
    });

    let wg = WaitGroup::new();
    wg.add(1);
    let w = wg.clone();
    check("waiting on a WaitGroup", None, |g| {
        assert!(g.try_spawn(async move {
            w.wait().await;
            Ok(())
        }));
        move || wg.done()
    });

    let m = Arc::new(Mutex::new(0));
    let held = m.try_lock().unwrap();
    let m2 = m.clone();
    check("locking a Mutex", None, |g| {
        assert!(g.try_spawn(async move {
            *m2.lock().await += 1;
            Ok(())
        }));
        move || drop(held)
    });

    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire(1).unwrap();
    let s2 = sem.clone();
    check("acquiring a Semaphore", None, |g| {
        assert!(g.try_spawn(async move { s2.acquire(&Context::background(), 1).await.map(drop).map_err(drop) }));
        move || drop(held)
    });

    // (tether's select would report itself: the select is the wait.)
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    check("sleeping", None, |g| {
        assert!(g.try_spawn(async move {
            tokio::select! {
                _ = tether::time::sleep(Duration::from_secs(3600)) => {},
                _ = stopped => {},
            }
            Ok(())
        }));
        move || stop.send(()).unwrap()
    });

    let mut ticker = tether::time::Ticker::new(Duration::from_secs(3600));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    check("waiting for a tick", None, |g| {
        assert!(g.try_spawn(async move {
            tokio::select! {
                _ = ticker.tick() => {},
                _ = stopped => {},
            }
            Ok(())
        }));
        move || stop.send(()).unwrap()
    });

    let lim = Arc::new(Limiter::new(Limit::every(Duration::from_secs(3600)), 1));
    assert!(lim.allow());
    let (ctx, cancel) = Context::background().with_cancel();
    check("waiting on a rate limiter", None, |g| {
        assert!(g.try_spawn(async move {
            let _ = lim.wait(&ctx).await;
            Ok(())
        }));
        move || cancel.cancel()
    });

    // The inner group's task starts outside the tracker: only the waiter
    // is judged here.
    let inner = Group::<()>::new();
    let (ctx, cancel) = Context::background().with_cancel();
    inner.spawn_blocking(move || {
        ctx.wait_blocking();
        Ok(())
    });
    check("waiting for its group's tasks", None, |g| {
        assert!(g.try_spawn(inner.wait()));
        move || cancel.cancel()
    });
}

#[test]
fn blocking_waits_name_what_they_wait_for() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u8>(0);
        let line = line!() + 2;
        check("receiving from a channel", Some(line), |g| {
            g.spawn_blocking(move || rx.recv_blocking().map(drop).map_err(drop));
            move || tx.send_blocking(1).unwrap()
        });

        let (tx, rx) = chan::bounded::<u8>(0);
        let line = line!() + 2;
        check("sending on a channel", Some(line), |g| {
            g.spawn_blocking(move || tx.send_blocking(1).map_err(drop));
            move || assert_eq!(rx.recv_blocking(), Ok(1))
        });

        let (tx, rx) = chan::bounded::<u8>(0);
        let (ctx, cancel) = Context::background().with_cancel();
        let line = line!() + 3;
        check("in a select", Some(line), |g| {
            g.spawn_blocking(move || {
                tether::select_blocking! {
                    recv(rx) -> _got => {},
                    done(ctx) => {},
                }
                Ok(())
            });
            move || {
                cancel.cancel();
                drop(tx);
            }
        });

        let (ctx, cancel) = Context::background().with_cancel();
        check("waiting for a context to be done", None, |g| {
            g.spawn_blocking(move || {
                ctx.wait_blocking();
                Ok(())
            });
            move || cancel.cancel()
        });

        let pair = Arc::new((Mutex::new(false), Cond::new()));
        let p2 = pair.clone();
        check("waiting on a Cond", None, |g| {
            g.spawn_blocking(move || {
                let (m, c) = &*p2;
                let mut ready = m.lock_blocking();
                while !*ready {
                    ready = c.wait_blocking(ready);
                }
                Ok(())
            });
            move || {
                *pair.0.lock_blocking() = true;
                pair.1.notify_all();
            }
        });

        let lim = Arc::new(Limiter::new(Limit::every(Duration::from_secs(3600)), 1));
        assert!(lim.allow()); // the bucket is empty now: the next token is an hour away
        let l2 = lim.clone();
        let (ctx, cancel) = Context::background().with_cancel();
        check("waiting on a rate limiter", None, |g| {
            g.spawn_blocking(move || {
                let _ = l2.wait_blocking(&ctx);
                Ok(())
            });
            move || cancel.cancel()
        });
    });
    assert_no_leaks();
}

#[test]
fn a_note_is_cleared_once_the_task_waits_on_something_else() {
    block_on(async {
        let tracker = Arc::new(Tracker::new());
        let (tx, rx) = chan::bounded::<u8>(0);
        let (go_on, wait_here) = tokio::sync::oneshot::channel::<()>();
        let g = tracker.in_scope(Group::<()>::new);
        tracker.in_scope(|| {
            assert!(g.try_spawn(async move {
                let _ = rx.recv().await;
                // A wait tether knows nothing about: no note.
                let _ = wait_here.await;
                Ok(())
            }));
        });
        let t = tokio::task::spawn_blocking({
            let tracker = tracker.clone();
            move || blocked_task(&tracker)
        })
        .await
        .unwrap();
        assert_eq!(t.blocked_on(), Some("receiving from a channel"));
        tx.send(1).await.unwrap();
        // The task polls again, now waiting on the oneshot: the channel's
        // note goes (bounded by the watchdog).
        loop {
            let live = tracker.live_tasks();
            assert_eq!(live.len(), 1);
            if live[0].blocked_on().is_none() {
                break;
            }
            tokio::task::yield_now().await;
        }
        go_on.send(()).unwrap();
        g.wait().await.unwrap();
        tracker.verify().unwrap();
    });
    assert_no_leaks();
}
