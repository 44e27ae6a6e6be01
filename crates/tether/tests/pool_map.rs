//! pool::map / map_stream: bounded, ordered or unordered, fail-fast or
//! collect-all, context-aware, backpressured, leak-free.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use common::{assert_no_leaks, block_on, watchdog};
use futures_core::Stream;
use tether::{Context, chan, ctx, pool};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    Bad(u32),
    Ctx(ctx::Error),
}
impl From<ctx::Error> for Failure {
    fn from(e: ctx::Error) -> Self {
        Failure::Ctx(e)
    }
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

#[test]
fn ordered_results_and_limit_respected() {
    block_on(async {
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let (n2, m2) = (now.clone(), max.clone());
        let out = pool::map(&Context::background(), 3, 0..50u32, move |_ctx, i| {
            let (now, max) = (n2.clone(), m2.clone());
            async move {
                max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                for _ in 0..(50 - i) % 4 {
                    tokio::task::yield_now().await;
                }
                now.fetch_sub(1, SeqCst);
                Ok::<_, Failure>(i * 2)
            }
        })
        .try_collect()
        .await
        .unwrap();
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert!(max.load(SeqCst) <= 3, "{}", max.load(SeqCst));
    });
    assert_no_leaks();
}

#[test]
fn unordered_yields_every_result() {
    block_on(async {
        let mut out = pool::map(&Context::background(), 4, 0..20u32, |_ctx, i| async move { Ok::<_, Failure>(i) })
            .unordered()
            .try_collect()
            .await
            .unwrap();
        out.sort();
        assert_eq!(out, (0..20).collect::<Vec<_>>());
    });
    assert_no_leaks();
}

#[test]
fn fail_fast_cancels_running_tasks_and_returns_first_error() {
    block_on(async {
        let started = Arc::new(AtomicUsize::new(0));
        let s2 = started.clone();
        let r = pool::map(&Context::background(), 3, 0..1000u32, move |ctx, i| {
            s2.fetch_add(1, SeqCst);
            async move {
                if i == 1 {
                    return Err(Failure::Bad(i));
                }
                ctx.done().await;
                Err::<(), _>(Failure::Ctx(ctx.err().unwrap()))
            }
        })
        .try_collect()
        .await;
        assert_eq!(r, Err(Failure::Bad(1)));
        assert!(started.load(SeqCst) < 10, "stopped pulling after the failure");
    });
    assert_no_leaks();
}

#[test]
fn collect_all_keeps_every_result_in_order() {
    block_on(async {
        let out = pool::map(&Context::background(), 2, 0..6u32, |_ctx, i| async move {
            if i % 2 == 1 { Err(Failure::Bad(i)) } else { Ok(i) }
        })
        .collect_all()
        .await;
        assert_eq!(out, vec![Ok(0), Err(Failure::Bad(1)), Ok(2), Err(Failure::Bad(3)), Ok(4), Err(Failure::Bad(5))]);
    });
    assert_no_leaks();
}

#[test]
fn cancelled_context_unstarted_inputs_yield_ctx_error() {
    block_on(async {
        let (ctx, cancel) = Context::background().with_cancel();
        cancel.cancel();
        let out = pool::map(&ctx, 2, 0..3u32, |_ctx, i| async move { Ok::<_, Failure>(i) }).collect_all().await;
        assert_eq!(out, vec![Err::<u32, _>(Failure::Ctx(ctx::Error::Canceled)); 3]);
    });
    assert_no_leaks();
}

#[test]
fn backpressure_reaches_the_producer() {
    block_on(async {
        let pulled = Arc::new(AtomicUsize::new(0));
        let p2 = pulled.clone();
        let source = (0..100u32).inspect(move |_| {
            p2.fetch_add(1, SeqCst);
        });
        let mut m = pool::map(&Context::background(), 4, source, |_ctx, i| async move { Ok::<_, Failure>(i) });
        assert_eq!(next(&mut m).await, Some(Ok(0)));
        // Not consumed: nothing more than the window of 4 may be pulled.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(pulled.load(SeqCst) <= 5, "pulled {}", pulled.load(SeqCst));
        drop(m);
    });
    assert_no_leaks();
}

#[test]
fn map_stream_from_a_channel() {
    block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        let producer = tokio::spawn(async move {
            for i in 0..30 {
                tx.send(i).await.unwrap();
            }
        });
        let out = pool::map_stream(&Context::background(), 3, rx, |_c, i| async move { Ok::<_, Failure>(i + 1) })
            .try_collect()
            .await
            .unwrap();
        producer.await.unwrap();
        assert_eq!(out, (1..=30).collect::<Vec<_>>());
    });
    assert_no_leaks();
}

#[test]
fn dropping_the_map_aborts_its_tasks() {
    block_on(async {
        let mut m = pool::map(&Context::background(), 2, 0..10u32, |_ctx, _i| async move {
            std::future::pending::<()>().await;
            Ok::<u32, Failure>(0)
        });
        let mut fut = Box::pin(next(&mut m));
        assert!(common::poll_once(&mut fut).is_none());
        drop(fut);
        drop(m);
    });
    assert_no_leaks();
}

#[test]
fn task_panic_is_resumed_by_the_consumer() {
    let r = std::panic::catch_unwind(|| {
        block_on(async {
            pool::map(&Context::background(), 2, 0..4u32, |_ctx, i| async move {
                if i == 2 {
                    panic!("map task panicked (expected in this test)");
                }
                Ok::<_, Failure>(i)
            })
            .collect_all()
            .await
        })
    });
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"map task panicked (expected in this test)"));
    assert_no_leaks();
}

#[test]
fn blocking_collectors_without_runtime() {
    watchdog(|| {
        let out =
            pool::map(&Context::background(), 2, vec![3u32, 1, 2], |_ctx, i| async move { Ok::<_, Failure>(i * i) })
                .try_collect_blocking()
                .unwrap();
        assert_eq!(out, vec![9, 1, 4]);
    });
    assert_no_leaks();
}
