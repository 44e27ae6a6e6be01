//! The seed's RunWorkerPool, behaviour for behaviour.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use common::{assert_no_leaks, block_on};
use tether::pool::{self, Task};
use tether::{Context, chan};

fn task(f: impl FnOnce(Context) -> Result<(), String> + Send + 'static) -> Task<String> {
    Box::new(move |ctx| Box::pin(async move { f(ctx) }))
}

#[test]
fn workers_drain_tasks_and_errors_channel_closes_after_all_return() {
    block_on(async {
        let (tx, rx) = chan::bounded::<Task<String>>(0);
        let errs = pool::run_worker_pool(&Context::background(), 4, rx);
        let ran = Arc::new(AtomicUsize::new(0));
        let feeder = {
            let ran = ran.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let ran = ran.clone();
                    tx.send(task(move |_| {
                        ran.fetch_add(1, SeqCst);
                        if i % 10 == 0 { Err(format!("e{i}")) } else { Ok(()) }
                    }))
                    .await
                    .unwrap_or_else(|_| panic!("workers stopped early"));
                }
            })
        };
        let mut got = Vec::new();
        while let Ok(e) = errs.recv().await {
            got.push(e);
        }
        feeder.await.unwrap();
        got.sort();
        assert_eq!(got, ["e0", "e10", "e20", "e30", "e40"]);
        assert_eq!(ran.load(SeqCst), 50, "every task runs before the channel closes");
        assert!(errs.is_closed());
    });
    assert_no_leaks();
}

#[test]
fn cancel_stops_idle_workers_and_closes_errors() {
    block_on(async {
        let (ctx, cancel) = Context::background().with_cancel();
        let (_tx, rx) = chan::bounded::<Task<String>>(1); // never closed
        let errs = pool::run_worker_pool(&ctx, 3, rx);
        cancel.cancel();
        assert_eq!(errs.recv().await, Err(chan::RecvError::Closed));
    });
    assert_no_leaks();
}

#[test]
fn worker_blocked_sending_an_error_returns_on_cancel() {
    block_on(async {
        let (ctx, cancel) = Context::background().with_cancel();
        let (tx, rx) = chan::bounded::<Task<String>>(2);
        let errs = pool::run_worker_pool(&ctx, 1, rx);
        tx.send(task(|_| Err("nobody reads me".into()))).await.unwrap();
        // Nobody receives the error: the worker is stuck in its select
        // until the context is done.
        tokio::task::yield_now().await;
        cancel.cancel();
        // The worker returned without delivering (or delivered just before
        // cancel won the race); either way the channel closes.
        while errs.recv().await.is_ok() {}
        drop(tx);
    });
    assert_no_leaks();
}

#[test]
fn tasks_receive_the_pool_context() {
    block_on(async {
        struct Key(&'static str);
        let ctx = Context::background().with_value(Key("request-7"));
        let (tx, rx) = chan::bounded::<Task<String>>(1);
        let errs = pool::run_worker_pool(&ctx, 2, rx);
        tx.send(task(|ctx| Err(ctx.value::<Key>().unwrap().0.to_string()))).await.unwrap();
        drop(tx);
        assert_eq!(errs.recv().await.as_deref(), Ok("request-7"));
        assert!(errs.recv().await.is_err());
    });
    assert_no_leaks();
}

#[test]
fn worker_pool_without_runtime() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<Task<String>>(4);
        let errs = pool::run_worker_pool(&Context::background(), 2, rx);
        for i in 0..6 {
            tx.send_blocking(task(move |_| if i == 5 { Err("last".into()) } else { Ok(()) })).unwrap();
        }
        drop(tx);
        let all: Vec<String> = errs.iter().collect();
        assert_eq!(all, ["last"]);
    });
    assert_no_leaks();
}

#[test]
fn a_panicking_task_does_not_shrink_the_pool() {
    // Issue 9: the panic killed its worker silently; with one worker the
    // pool was gone and the errors channel closed with tasks still queued.
    block_on(async {
        let (tx, rx) = chan::bounded::<Task<String>>(4);
        let errs = pool::run_worker_pool(&Context::background(), 1, rx);
        tx.send(task(|_| panic!("bad input"))).await.unwrap();
        tx.send(task(|_| Err("after the panic".to_string()))).await.unwrap();
        drop(tx);
        assert_eq!(errs.recv().await, Ok("after the panic".to_string()), "the worker survived");
        assert_eq!(errs.recv().await, Err(chan::RecvError::Closed));
    });
    assert_no_leaks();
}

#[test]
fn the_catching_pool_delivers_panics_beside_errors() {
    block_on(async {
        let (tx, rx) = chan::bounded::<Task<String>>(8);
        let errs = pool::run_worker_pool_catching(&Context::background(), 2, rx);
        // A panic in the closure itself, in the future, and in its drop.
        tx.send(Box::new(|_ctx| panic!("in the closure"))).await.unwrap();
        tx.send(pool::task(|_ctx| async { panic!("in the future") })).await.unwrap();
        struct PanicOnDrop;
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                panic!("in the drop");
            }
        }
        tx.send(pool::task(|_ctx| {
            let guard = PanicOnDrop;
            async move {
                let _guard = guard;
                Ok(())
            }
        }))
        .await
        .unwrap();
        for i in 0..4 {
            tx.send(pool::task(move |_ctx| async move { if i % 2 == 0 { Err(format!("e{i}")) } else { Ok(()) } }))
                .await
                .unwrap();
        }
        drop(tx);
        let (mut panics, mut failed) = (Vec::new(), Vec::new());
        while let Ok(e) = errs.recv().await {
            match e {
                pool::WorkerError::Panicked(p) => panics.push(p.message().to_string()),
                pool::WorkerError::Failed(e) => failed.push(e),
            }
        }
        panics.sort();
        failed.sort();
        assert_eq!(panics, ["in the closure", "in the drop", "in the future"]);
        assert_eq!(failed, ["e0", "e2"]);
    });
    assert_no_leaks();
}

#[test]
fn pool_task_makes_a_task_from_a_closure() {
    block_on(async {
        let (tx, rx) = chan::bounded::<Task<String>>(1);
        let errs = pool::run_worker_pool(&Context::background(), 1, rx);
        let who = String::from("shard 3");
        tx.send(pool::task(move |ctx: Context| async move {
            assert!(!ctx.is_done());
            Err(format!("{who} failed"))
        }))
        .await
        .unwrap();
        drop(tx);
        assert_eq!(errs.recv().await, Ok("shard 3 failed".to_string()));
    });
    assert_no_leaks();
}
