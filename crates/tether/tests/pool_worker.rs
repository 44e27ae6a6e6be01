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
