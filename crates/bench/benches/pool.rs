//! The seed's worker pool end to end, side by side: tether's
//! `pool::run_worker_pool`, an idiomatic tokio port of the seed's
//! `RunWorkerPool` (an async-channel queue, a `CancellationToken`,
//! `tokio::select!`, a tokio mpsc channel for errors and a `JoinSet` of
//! workers), and Go running the seed's own code (bench/go/pool).
//!
//! One op = one task: a producer sends 100,000 tasks into a queue of 64, 8
//! workers run them (every 100th returns an error), and the caller drains
//! the errors until the error channel closes. Runtime: tokio multi-thread,
//! 2 workers (the machine has 2 cores; Go runs with GOMAXPROCS=2).
//!
//! A second row runs the same on a runtime of one worker thread (and Go on
//! one P): nothing then wakes a thread on the other core, which is most of
//! what the first row costs on two.
//!
//! Run with `bench/run pool`.

use std::future::Future;
use std::pin::Pin;

use tether::{Context, chan, pool};
use tether_bench::{Table, go_bench};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

const BATCH: u64 = 100_000;
const WORKERS: usize = 8;
const QUEUE: usize = 64;

#[derive(Debug)]
struct Failed;

fn runtime(threads: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap()
}

fn chunk_sizes(n: u64) -> impl Iterator<Item = u64> {
    let full = n / BATCH;
    let rest = n % BATCH;
    std::iter::repeat_n(BATCH, full as usize).chain((rest > 0).then_some(rest))
}

fn main() {
    let go = go_bench("pool");
    let mut t = Table::new(
        "pool: the seed's worker pool end to end (ns per task; 100,000 tasks, 8 workers, queue 64)",
        &["tokio port", "Go (the seed's RunWorkerPool)"],
    );
    for (case, threads, go_name) in [
        ("run_worker_pool: feed, run, drain errors (2 runtime threads; Go: 2 Ps)", 2, "WorkerPool"),
        ("the same on 1 runtime thread (Go: 1 P)", 1, "WorkerPoolOneProc"),
    ] {
        let rt = runtime(threads);
        // The whole pool runs in spawned tasks (the caller too), so that
        // every wake-up is between the runtime's own threads.
        t.bench(case, "tether", |n| {
            rt.block_on(async move {
                tokio::spawn(async move {
                    for k in chunk_sizes(n) {
                        tether_pool(k).await;
                    }
                })
                .await
                .unwrap()
            })
        });
        t.bench(case, "tokio port", |n| {
            rt.block_on(async move {
                tokio::spawn(async move {
                    for k in chunk_sizes(n) {
                        tokio_pool(k).await;
                    }
                })
                .await
                .unwrap()
            })
        });
        if let Some(ns) = go.get(go_name) {
            t.record(case, "Go (the seed's RunWorkerPool)", *ns);
        }
    }
    t.print();
}

async fn tether_pool(k: u64) {
    let (tx, rx) = chan::bounded::<pool::Task<Failed>>(QUEUE);
    let errs = pool::run_worker_pool(&Context::background(), WORKERS, rx);
    let producer = tokio::spawn(async move {
        for i in 0..k {
            let task: pool::Task<Failed> = if i % 100 == 99 {
                pool::task(|_ctx| async { Err(Failed) })
            } else {
                pool::task(|_ctx| async { Ok(()) })
            };
            if tx.send(task).await.is_err() {
                return;
            }
        }
    });
    let mut failed = 0;
    while errs.recv().await.is_ok() {
        failed += 1;
    }
    producer.await.unwrap();
    assert_eq!(failed, k / 100);
}

// ---------------------------------------------------------------------
// The idiomatic tokio port of the seed's RunWorkerPool.
// ---------------------------------------------------------------------

type TokioTask = Box<dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = Result<(), Failed>> + Send>> + Send>;

fn run_worker_pool_tokio(
    ctx: &CancellationToken,
    workers: usize,
    tasks: async_channel::Receiver<TokioTask>,
) -> tokio::sync::mpsc::Receiver<Failed> {
    // Go's unbuffered error channel: tokio's smallest is one slot.
    let (errs_tx, errs_rx) = tokio::sync::mpsc::channel(1);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (ctx, tasks, errs) = (ctx.clone(), tasks.clone(), errs_tx.clone());
        set.spawn(async move {
            loop {
                let task = tokio::select! {
                    _ = ctx.cancelled() => return,
                    t = tasks.recv() => match t {
                        Ok(t) => t,
                        Err(_) => return, // closed and drained
                    },
                };
                if let Err(e) = task(ctx.clone()).await {
                    tokio::select! {
                        _ = errs.send(e) => {}
                        _ = ctx.cancelled() => return,
                    }
                }
            }
        });
    }
    drop(errs_tx);
    // The workers hold the senders: the channel closes when the last one
    // returns (Go's `wg.Wait(); close(errs)`); the set is awaited so that
    // no worker outlives the pool.
    tokio::spawn(async move { while set.join_next().await.is_some() {} });
    errs_rx
}

async fn tokio_pool(k: u64) {
    let (tx, rx) = async_channel::bounded::<TokioTask>(QUEUE);
    let mut errs = run_worker_pool_tokio(&CancellationToken::new(), WORKERS, rx);
    let producer = tokio::spawn(async move {
        for i in 0..k {
            let task: TokioTask = if i % 100 == 99 {
                Box::new(|_ctx| Box::pin(async { Err(Failed) }))
            } else {
                Box::new(|_ctx| Box::pin(async { Ok(()) }))
            };
            if tx.send(task).await.is_err() {
                return;
            }
        }
    });
    let mut failed = 0;
    while errs.recv().await.is_some() {
        failed += 1;
    }
    producer.await.unwrap();
    assert_eq!(failed, k / 100);
}
