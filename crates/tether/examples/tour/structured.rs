//! Structured concurrency: a goroutine leak made, caught and fixed; the
//! seed's worker pool; and an errgroup whose first error cancels its
//! siblings.

use std::sync::Arc;
use std::time::Duration;

use tether::group::Group;
use tether::leak::Tracker;
use tether::pool::{self, Task};
use tether::sync::WaitGroup;
use tether::{Context, chan};

#[derive(Debug, Clone, PartialEq)]
struct FetchError(&'static str);
impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fetch {} failed", self.0)
    }
}
impl std::error::Error for FetchError {}

pub fn run() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        leak_made_caught_and_fixed().await;
        worker_pool().await;
        errgroup_first_error_cancels().await;
    });
}

/// (a) A worker that waits for a message nobody sends: Go's classic leak.
async fn leak_made_caught_and_fixed() {
    let tracker = Tracker::new(); // judge only this section's tasks
    let (results_tx, results_rx) = chan::bounded::<u32>(0);
    let wg = WaitGroup::new();
    tracker.in_scope(|| {
        let results_rx = results_rx.clone();
        wg.go(async move {
            let _ = results_rx.recv().await; // blocks forever: nobody sends
        });
    });
    let err = tracker.verify_within(Duration::from_millis(50)).unwrap_err();
    println!("   leak caught by Tracker::verify (the test-scoped verify_none):");
    for task in err.tasks() {
        println!("     - {task}");
    }

    // The fix: the worker also watches a context, and the owner cancels it.
    drop(results_rx);
    let (ctx, cancel) = Context::background().with_cancel();
    let fixed = WaitGroup::new();
    let (_quiet_tx, quiet_rx) = chan::bounded::<u32>(0); // again, nobody sends
    tracker.in_scope(|| {
        let ctx = ctx.clone();
        fixed.go(async move {
            tether::select! {
                recv(quiet_rx) -> _v => {},
                done(ctx) => {}, // the way out
            }
        });
    });
    cancel.cancel();
    fixed.wait().await;
    drop(results_tx); // closing the channel also frees the first worker
    wg.wait().await;
    tracker.verify().unwrap();
    println!("   fixed with a context: verify passes, {} task(s) alive", tracker.live_tasks().len());
}

/// (b) The seed's RunWorkerPool: 3 workers, a bounded task queue, errors on
/// a channel that closes when every worker has returned.
async fn worker_pool() {
    let (tx, rx) = chan::bounded::<Task<String>>(2);
    let errs = pool::run_worker_pool(&Context::background(), 3, rx);
    tokio::spawn(async move {
        for id in 1..=6u32 {
            let task: Task<String> = Box::new(move |_ctx| {
                Box::pin(async move { if id % 3 == 0 { Err(format!("task {id} failed")) } else { Ok(()) } })
            });
            let _ = tx.send(task).await; // waits while the queue is full
        }
        // dropping tx closes the queue: workers drain it and return
    });
    let mut failures = Vec::new();
    while let Ok(e) = errs.recv().await {
        failures.push(e);
    }
    failures.sort();
    println!("   worker pool: 6 tasks, 3 workers, errors {failures:?}; error channel closed");

    let squares =
        pool::map(&Context::background(), 4, 1..=8u64, |_ctx, x| async move { Ok::<_, tether::ctx::Error>(x * x) })
            .try_collect()
            .await
            .unwrap();
    println!("   pool::map with limit 4, in input order: {squares:?}");
}

/// (c) errgroup: the first error cancels the group's context, with that
/// error as the cause; wait returns it once every sibling has stopped.
async fn errgroup_first_error_cancels() {
    let (g, ctx) = Group::<FetchError>::with_context(&Context::background());
    let stopped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for name in ["users", "orders", "invoices"] {
        let (ctx, stopped) = (ctx.clone(), stopped.clone());
        g.named(name)
            .spawn(async move {
                if name == "orders" {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    return Err(FetchError(name));
                }
                ctx.done().await; // a slow fetch, abandoned once a sibling fails
                stopped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .await;
    }
    let err = g.wait().await.unwrap_err();
    let cause = ctx.cause().unwrap();
    println!(
        "   errgroup: wait() = Err({err}); siblings stopped: {}; ctx.cause() = {cause} (downcasts to FetchError: {})",
        stopped.load(std::sync::atomic::Ordering::SeqCst),
        cause.downcast_ref::<FetchError>().is_some()
    );
    tether::leak::verify_none().unwrap();
}
