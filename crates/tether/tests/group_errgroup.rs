//! Conformance with Go's errgroup (golang.org/x/sync/errgroup tests:
//! zero group, WithContext, SetLimit/TryGo, panics), plus tether's own
//! leak-free rules: drop aborts, tasks spawned once a task failed are not
//! started, and `wait` is `Ok` only if every spawned task ran and succeeded.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use common::{assert_no_leaks, block_on, watchdog};
use tether::Context;
use tether::group::{Group, TaskFailed, TaskPanicked};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Boom(u32);
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "boom {}", self.0)
    }
}
impl std::error::Error for Boom {}

#[test]
fn zero_group_wait_returns_first_error_after_all_tasks() {
    block_on(async {
        let g = Group::<Boom>::new();
        let finished = Arc::new(AtomicUsize::new(0));
        // A gate keeps every task from finishing until all eight are
        // spawned: a task spawned after the first error is, by design, not
        // started at all.
        let (gate, open) = Context::background().with_cancel();
        for i in 0..8u32 {
            let (finished, gate) = (finished.clone(), gate.clone());
            g.spawn(async move {
                gate.done().await;
                tokio::task::yield_now().await;
                finished.fetch_add(1, SeqCst);
                if i == 3 { Err(Boom(i)) } else { Ok(()) }
            })
            .await;
        }
        open.cancel();
        assert_eq!(g.wait().await, Err(Boom(3)));
        assert_eq!(finished.load(SeqCst), 8, "wait returned before every task ended");
    });
    assert_no_leaks();
}

#[test]
fn zero_group_without_errors_returns_ok() {
    block_on(async {
        let g = Group::<Boom>::new();
        for _ in 0..100 {
            g.spawn(async { Ok(()) }).await;
        }
        assert_eq!(g.wait().await, Ok(()));
        let empty = Group::<Boom>::new();
        assert_eq!(empty.wait().await, Ok(()));
    });
    assert_no_leaks();
}

#[test]
fn with_context_first_error_cancels_ctx_with_that_cause() {
    block_on(async {
        let (g, ctx) = Group::<Boom>::with_context(&Context::background());
        let sibling_saw_cancel = Arc::new(AtomicBool::new(false));
        {
            let ctx = ctx.clone();
            let saw = sibling_saw_cancel.clone();
            g.spawn(async move {
                ctx.done().await;
                saw.store(true, SeqCst);
                Ok(())
            })
            .await;
        }
        g.spawn(async { Err(Boom(1)) }).await;
        assert_eq!(g.wait().await, Err(Boom(1)));
        assert!(sibling_saw_cancel.load(SeqCst));
        assert_eq!(ctx.err(), Some(tether::ctx::Error::Canceled));
        assert_eq!(ctx.cause().unwrap().downcast_ref::<Boom>(), Some(&Boom(1)));
    });
    assert_no_leaks();
}

#[test]
fn with_context_is_canceled_when_wait_returns() {
    block_on(async {
        let (g, ctx) = Group::<Boom>::with_context(&Context::background());
        g.spawn(async { Ok(()) }).await;
        assert!(!ctx.is_done() || ctx.err().is_some());
        g.wait().await.unwrap();
        assert!(ctx.is_done());
        assert!(ctx.cause().unwrap().downcast_ref::<tether::ctx::Error>().is_some());
    });
    assert_no_leaks();
}

#[test]
fn parent_cancel_reaches_group_context() {
    block_on(async {
        let (parent, cancel) = Context::background().with_cancel();
        let (g, ctx) = Group::<Boom>::with_context(&parent);
        let c = ctx.clone();
        g.spawn(async move {
            c.done().await;
            Ok(())
        })
        .await;
        cancel.cancel();
        assert_eq!(g.wait().await, Ok(()));
        assert_eq!(ctx.err(), Some(tether::ctx::Error::Canceled));
    });
    assert_no_leaks();
}

#[test]
fn zero_group_cause_is_task_failed() {
    block_on(async {
        let g = Group::<&'static str>::new();
        let ctx = g.context().clone();
        g.spawn(async { Err("nope") }).await;
        ctx.done().await;
        assert!(ctx.cause().unwrap().downcast_ref::<TaskFailed>().is_some());
        assert_eq!(g.wait().await, Err("nope"));
    });
    assert_no_leaks();
}

#[test]
fn task_spawned_after_cancel_is_not_started() {
    block_on(async {
        let (g, _ctx) = Group::<Boom>::with_context(&Context::background());
        g.spawn(async { Err(Boom(7)) }).await;
        g.context().done().await;
        let ran = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        struct OnDrop(Arc<AtomicBool>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.store(true, SeqCst);
            }
        }
        let (r, d) = (ran.clone(), OnDrop(dropped.clone()));
        g.spawn(async move {
            let _d = d;
            r.store(true, SeqCst);
            Ok(())
        })
        .await;
        assert!(dropped.load(SeqCst), "the unstarted task is dropped at once");
        let r2 = ran.clone();
        assert!(!g.try_spawn(async move {
            r2.store(true, SeqCst);
            Ok(())
        }));
        let r3 = ran.clone();
        g.spawn_blocking(move || {
            r3.store(true, SeqCst);
            Ok(())
        });
        // (`running()` may still count the failing task for a moment after
        // it cancelled the context; the unstarted ones never count.)
        assert!(g.running() <= 1);
        assert_eq!(g.wait().await, Err(Boom(7)));
        assert!(!ran.load(SeqCst));
    });
    assert_no_leaks();
}

#[test]
fn limit_never_exceeded_async_and_blocking() {
    block_on(async {
        let g = Group::<Boom>::new().with_limit(3);
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        for i in 0..40 {
            let (now, max) = (now.clone(), max.clone());
            if i % 2 == 0 {
                g.spawn(async move {
                    max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    tokio::task::yield_now().await;
                    now.fetch_sub(1, SeqCst);
                    Ok(())
                })
                .await;
            } else {
                g.spawn_blocking(move || {
                    max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    std::thread::yield_now();
                    now.fetch_sub(1, SeqCst);
                    Ok(())
                });
            }
        }
        g.wait().await.unwrap();
        assert!(max.load(SeqCst) <= 3, "max concurrency {}", max.load(SeqCst));
        assert!(max.load(SeqCst) >= 1);
    });
    assert_no_leaks();
}

#[test]
fn try_spawn_returns_false_at_limit() {
    block_on(async {
        let g = Group::<Boom>::new().with_limit(1);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        assert!(g.try_spawn(async move {
            let _ = rx.await;
            Ok(())
        }));
        assert!(!g.try_spawn(async { Ok(()) }), "TryGo at the limit must fail");
        tx.send(()).unwrap();
        // once the first ends, a slot frees up
        g.spawn(async { Ok(()) }).await;
        g.wait().await.unwrap();
    });
    assert_no_leaks();
}

#[test]
fn spawn_waiting_for_slot_gives_up_when_a_task_fails() {
    block_on(async {
        let (g, _ctx) = Group::<Boom>::with_context(&Context::background());
        let g = g.with_limit(1);
        let (fail, failed) = tokio::sync::oneshot::channel::<()>();
        g.spawn(async move {
            let _ = failed.await;
            Err(Boom(1))
        })
        .await;
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let waiting = g.spawn(async move {
            s.store(true, SeqCst);
            Ok(())
        });
        let failer = async {
            tokio::task::yield_now().await;
            fail.send(()).unwrap();
        };
        tokio::join!(waiting, failer);
        assert_eq!(g.wait().await, Err(Boom(1)));
        assert!(!started.load(SeqCst), "spawned after the outcome was decided: never started");
    });
    assert_no_leaks();
}

#[test]
fn spawn_waiting_for_slot_into_a_cancelled_group_still_starts() {
    block_on(async {
        let (g, ctx) = Group::<tether::ctx::Error>::with_context(&Context::background());
        let g = g.with_limit(1);
        let c = ctx.clone();
        g.spawn(async move {
            c.done().await;
            Ok(())
        })
        .await;
        let c = ctx.clone();
        let waiting = g.spawn(async move { c.check() });
        let canceller = async {
            tokio::task::yield_now().await;
            g.cancel();
        };
        tokio::join!(waiting, canceller);
        assert_eq!(g.wait().await, Err(tether::ctx::Error::Canceled), "the late task ran and reported it");
    });
    assert_no_leaks();
}

#[test]
fn wait_is_not_ok_when_every_spawn_came_after_the_parent_was_done() {
    // Issue 9: all spawns came after the request's context was done; they
    // were dropped unstarted and `wait` said Ok(()) for work never done.
    block_on(async {
        let (request, cancel) = Context::background().with_cancel();
        cancel.cancel();
        let (g, gctx) = Group::<tether::ctx::Error>::with_context(&request);
        let ran = Arc::new(AtomicUsize::new(0));
        // The tasks report their error only once every spawn is made: an
        // error decides the group, and a spawn after it would (rightly) be
        // dropped unstarted.
        let (gate, open) = Context::background().with_cancel();
        for _ in 0..3 {
            let (c, ran, gate) = (gctx.clone(), ran.clone(), gate.clone());
            g.spawn(async move {
                ran.fetch_add(1, SeqCst);
                gate.done().await;
                c.check()
            })
            .await;
        }
        let (c, r, gt) = (gctx.clone(), ran.clone(), gate.clone());
        assert!(g.try_spawn(async move {
            r.fetch_add(1, SeqCst);
            gt.done().await;
            c.check()
        }));
        let (c, r, gt) = (gctx.clone(), ran.clone(), gate.clone());
        g.spawn_blocking(move || {
            r.fetch_add(1, SeqCst);
            gt.wait_blocking();
            c.check()
        });
        open.cancel();
        assert_eq!(g.wait().await, Err(tether::ctx::Error::Canceled));
        assert_eq!(ran.load(SeqCst), 5, "every task ran, with the done context");
    });
    assert_no_leaks();
}

#[test]
fn a_task_that_ignores_a_done_context_ran_so_ok_is_the_truth() {
    block_on(async {
        let (request, cancel) = Context::background().with_cancel();
        drop(cancel);
        let g = Group::<Boom>::with_context(&request).0;
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        g.spawn(async move {
            r.store(true, SeqCst);
            Ok(())
        })
        .await;
        assert_eq!(g.wait().await, Ok(()));
        assert!(ran.load(SeqCst));
    });
    assert_no_leaks();
}

#[test]
fn dropped_spawn_future_drops_task_unstarted() {
    block_on(async {
        let g = Group::<Boom>::new().with_limit(1);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        g.spawn(async move {
            let _ = rx.await;
            Ok(())
        })
        .await;
        let mut fut = Box::pin(g.spawn(async { panic!("must never start") }));
        assert!(common::poll_once(&mut fut).is_none());
        drop(fut);
        tx.send(()).unwrap();
        g.wait().await.unwrap();
    });
    assert_no_leaks();
}

#[test]
fn panic_cancels_group_and_wait_resumes_payload() {
    let r = std::panic::catch_unwind(|| {
        block_on(async {
            let (g, ctx) = Group::<Boom>::with_context(&Context::background());
            let sibling_ended = Arc::new(AtomicBool::new(false));
            let (c, ended) = (ctx.clone(), sibling_ended.clone());
            g.spawn(async move {
                c.done().await;
                ended.store(true, SeqCst);
                Ok(())
            })
            .await;
            g.named("exploder").spawn(async { std::panic::panic_any(42u32) }).await;
            ctx.done().await;
            let cause = ctx.cause().unwrap();
            let p = cause.downcast_ref::<TaskPanicked>().expect("cause says a task panicked");
            assert_eq!(p.name(), Some("exploder"));
            assert!(p.to_string().contains("exploder"), "{p}");
            let flag = sibling_ended.clone();
            let waited = std::panic::AssertUnwindSafe(g.wait());
            let res = futures_catch(waited).await;
            assert!(flag.load(SeqCst), "wait resumed before all tasks ended");
            res
        })
    });
    let payload = r.unwrap().unwrap_err();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    assert_no_leaks();
}

/// catch_unwind for a future (tiny, to avoid a futures dependency).
async fn futures_catch<F: std::future::Future>(
    f: std::panic::AssertUnwindSafe<F>,
) -> Result<F::Output, Box<dyn std::any::Any + Send>> {
    let mut f = std::pin::pin!(f.0);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(p) => std::task::Poll::Ready(Err(p)),
        }
    })
    .await
}

#[test]
fn blocking_panic_resumed_by_wait_blocking() {
    let r = watchdog(|| {
        std::panic::catch_unwind(|| {
            let g = Group::<Boom>::new();
            g.spawn_blocking(|| panic!("blocking boom"));
            g.wait_blocking()
        })
    });
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"blocking boom"));
    assert_no_leaks();
}

#[test]
fn dropped_group_with_panicked_task_fails_loudly() {
    let r = watchdog(|| {
        std::panic::catch_unwind(|| {
            let g = Group::<Boom>::new();
            g.spawn_blocking(|| panic!("lost?"));
            while !g.context().is_done() {
                std::thread::yield_now();
            }
            drop(g);
        })
    });
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"lost?"));
    assert_no_leaks();
}

#[test]
fn dropping_group_cancels_ctx_and_aborts_tasks() {
    block_on(async {
        let (g, ctx) = Group::<Boom>::with_context(&Context::background());
        struct OnDrop(Arc<AtomicBool>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.store(true, SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let d = OnDrop(dropped.clone());
        g.spawn(async move {
            let _d = d;
            std::future::pending::<()>().await; // ignores ctx: only an abort ends it
            Ok(())
        })
        .await;
        tokio::task::yield_now().await;
        drop(g);
        assert!(ctx.is_done());
        // tokio drops an aborted task when a worker next gets to it: give
        // it up to ~5 s of 1 ms naps (it takes microseconds unless the
        // machine is overloaded); only a true failure to abort fails.
        for _ in 0..5_000 {
            if dropped.load(SeqCst) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(dropped.load(SeqCst), "aborted task was not dropped");
    });
    assert_no_leaks();
}

#[test]
fn group_works_without_a_runtime() {
    watchdog(|| {
        let g = Group::<Boom>::new().with_limit(2);
        let n = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let n = n.clone();
            // may be refused at the limit: either way nothing leaks
            let _started = g.try_spawn(async move {
                n.fetch_add(1, SeqCst);
                Ok(())
            });
        }
        g.spawn_blocking(|| Err(Boom(2)));
        assert_eq!(g.wait_blocking(), Err(Boom(2)));
    });
    assert_no_leaks();
}

#[test]
fn nested_tasks_and_many_tasks() {
    block_on(async {
        let g = Group::<Boom>::new();
        let n = Arc::new(AtomicUsize::new(0));
        for _ in 0..10_000 {
            let n = n.clone();
            g.spawn(async move {
                n.fetch_add(1, SeqCst);
                Ok(())
            })
            .await;
        }
        g.wait().await.unwrap();
        assert_eq!(n.load(SeqCst), 10_000);
    });
    assert_no_leaks();
}

#[test]
fn first_error_is_one_value_wait_and_cause_agree_when_two_fail_at_once() {
    // Issue 9: two tasks meeting at a gate and failing together could make
    // `wait` return one error while the context's cause held the other.
    // A gate: both release at the same instant, every round.
    block_on(async {
        for round in 0..2000u32 {
            let (g, ctx) = Group::<Boom>::with_context(&Context::background());
            // A spinning gate: a futex barrier wakes its waiters one after
            // the other, which would give one task a head start.
            let gate = Arc::new(AtomicUsize::new(0));
            for id in [1, 2] {
                let gate = gate.clone();
                g.spawn_blocking(move || {
                    gate.fetch_add(1, SeqCst);
                    let mut spins = 0u32;
                    while gate.load(SeqCst) < 2 {
                        spins += 1;
                        if spins % 1024 == 0 {
                            std::thread::yield_now(); // the other may not be running yet
                        } else {
                            std::hint::spin_loop();
                        }
                    }
                    Err(Boom(id))
                });
            }
            let err = g.wait().await.unwrap_err();
            let cause = ctx.cause().expect("the group's context is done");
            assert_eq!(
                cause.downcast_ref::<Boom>(),
                Some(&err),
                "round {round}: wait returned {err} but the context's cause is {cause}"
            );
        }
    });
    assert_no_leaks();
}

#[test]
fn anyhow_and_any_error_type_through_shared_error() {
    use anyhow::Context as _;
    use tether::group::SharedError;
    block_on(async {
        let (g, ctx) = Group::<SharedError>::with_context(&Context::background());
        let c = ctx.clone();
        g.spawn(async move {
            c.done().await; // a sibling: stops once the first error cancels
            Err("a later error, dropped".into())
        })
        .await;
        g.spawn(async {
            let port: Result<u16, _> = "http".parse::<u16>();
            port.context("reading the port")?; // anyhow, then `?` into SharedError
            Ok(())
        })
        .await;
        let err = g.wait().await.unwrap_err();
        assert_eq!(format!("{err:#}"), "reading the port: invalid digit found in string");
        assert_eq!(err.to_string(), "reading the port");
        let cause = ctx.cause().unwrap();
        assert!(SharedError::ptr_eq(&err, &SharedError::from_cause(cause)), "one value: wait's error is the cause");
        let back: anyhow::Error = err.clone().into_cause().into();
        assert_eq!(format!("{back:#}"), "reading the port: invalid digit found in string");
        assert!(back.chain().any(|e| e.is::<std::num::ParseIntError>()), "the chain survives");
    });
    block_on(async {
        let (g, ctx) = Group::<SharedError>::with_context(&Context::background());
        g.spawn_blocking(|| {
            let _: u8 = "300".parse()?; // a std error straight into SharedError
            Ok(())
        });
        let err = g.wait().await.unwrap_err();
        assert!(err.downcast_ref::<std::num::ParseIntError>().is_some());
        assert!(
            ctx.cause().unwrap().downcast_ref::<std::num::ParseIntError>().is_some(),
            "the cause is the error itself"
        );
        let (g, _ctx) = Group::<SharedError>::with_context(&Context::background());
        g.spawn(async { Err(String::from("plain strings too").into()) }).await;
        assert_eq!(g.wait().await.unwrap_err().to_string(), "plain strings too");
    });
    let r = tether::group::scope(&Context::background(), |s| {
        s.spawn(|_| Err(anyhow::anyhow!("from a thread").into()));
        Ok::<_, SharedError>(())
    });
    assert_eq!(r.unwrap_err().to_string(), "from a thread");
    assert_no_leaks();
}
