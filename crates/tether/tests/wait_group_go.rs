//! WaitGroup conformance with Go's sync.WaitGroup tests (rounds of
//! add/done/wait, misuse panics, wg.Go), for threads and tasks.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use common::{assert_no_leaks, block_on, poll_once, watchdog};
use tether::sync::WaitGroup;

#[test]
fn wait_group_two_rounds_of_threads() {
    watchdog(|| {
        let wg1 = WaitGroup::new();
        let wg2 = WaitGroup::new();
        let n = 8;
        for _round in 0..2 {
            wg1.add(n);
            wg2.add(n);
            let exited = Arc::new(AtomicUsize::new(0));
            for _ in 0..n {
                let (wg1, wg2, exited) = (wg1.clone(), wg2.clone(), exited.clone());
                std::thread::spawn(move || {
                    wg1.done();
                    wg2.wait_blocking();
                    exited.fetch_add(1, SeqCst);
                });
            }
            wg1.wait_blocking();
            assert_eq!(exited.load(SeqCst), 0, "nobody may pass wg2 before it reaches zero");
            for _ in 0..n {
                wg2.done();
            }
            while exited.load(SeqCst) != n {
                std::thread::yield_now();
            }
        }
    });
}

#[test]
fn wait_returns_at_once_on_zero_counter() {
    let wg = WaitGroup::new();
    wg.wait_blocking();
    let mut w = Box::pin(wg.wait());
    assert_eq!(poll_once(&mut w), Some(()));
}

#[test]
#[should_panic(expected = "WaitGroup counter went negative")]
fn done_below_zero_panics_naming_the_rule() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    wg.done();
}

#[test]
#[should_panic(expected = "WaitGroup is reused before previous Wait has returned")]
fn reuse_before_previous_wait_returned_panics() {
    let wg = WaitGroup::new();
    wg.add(1);
    let mut w = Box::pin(wg.wait());
    assert_eq!(poll_once(&mut w), None);
    wg.done(); // releases the waiter, which has not returned yet
    wg.add(1); // reuse: Go panics here too
}

#[test]
fn reuse_after_wait_returned_is_fine() {
    let wg = WaitGroup::new();
    wg.add(1);
    let mut w = Box::pin(wg.wait());
    assert_eq!(poll_once(&mut w), None);
    wg.done();
    assert_eq!(poll_once(&mut w), Some(()));
    wg.add(1);
    wg.done();
    // a released waiter that is dropped instead of polled also counts as returned
    wg.add(1);
    let mut w2 = Box::pin(wg.wait());
    assert_eq!(poll_once(&mut w2), None);
    wg.done();
    drop(w2);
    wg.add(1);
    wg.done();
}

#[test]
fn dropped_wait_future_deregisters() {
    let wg = WaitGroup::new();
    wg.add(1);
    let mut w = Box::pin(wg.wait());
    assert_eq!(poll_once(&mut w), None);
    drop(w);
    wg.done();
    wg.add(1); // no released waiter outstanding: not a reuse
    wg.done();
}

#[test]
fn async_waiters_and_go_helper() {
    block_on(async {
        let wg = WaitGroup::new();
        let n = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let n = n.clone();
            wg.go(async move {
                tokio::task::yield_now().await;
                n.fetch_add(1, SeqCst);
            });
        }
        let wg2 = wg.clone();
        let other = tokio::spawn(async move { wg2.wait().await });
        wg.wait().await;
        other.await.unwrap();
        assert_eq!(n.load(SeqCst), 100);
        assert_eq!(wg.count(), 0);
    });
    assert_no_leaks();
}

#[test]
fn go_calls_done_even_when_the_task_panics() {
    block_on(async {
        let wg = WaitGroup::new();
        wg.go(async { panic!("task panicked (expected in this test)") });
        wg.go_blocking(|| panic!("blocking task panicked (expected in this test)"));
        wg.wait().await;
        assert_eq!(wg.count(), 0);
    });
    assert_no_leaks();
}

#[test]
fn go_blocking_without_runtime() {
    watchdog(|| {
        let wg = WaitGroup::new();
        let n = Arc::new(AtomicUsize::new(0));
        for _ in 0..4 {
            let n = n.clone();
            wg.go_blocking(move || {
                n.fetch_add(1, SeqCst);
            });
        }
        wg.go(async {}); // no runtime: runs on its own thread
        wg.wait_blocking();
        assert_eq!(n.load(SeqCst), 4);
    });
    assert_no_leaks();
}
