//! `time::synctest` / `synctest_async` (Go's `synctest.Test`): the body
//! runs on virtual time, tasks that end by themselves after it are waited
//! for, and a task that outlives it fails the test with a message naming
//! it. Every test here installs the virtual clock: this binary has no
//! real-time tests.

mod common;

use std::time::Duration;

use common::{assert_no_leaks, watchdog};
use tether::time::{self, SyncTest, Ticker};
use tether::{Context, chan, group::Group, sync::WaitGroup};

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("the synctest should have failed");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

#[test]
fn virtual_time_runs_and_the_value_comes_back() {
    let got = watchdog(|| {
        time::synctest(|clock| {
            let start = time::now();
            time::sleep_blocking(Duration::from_secs(24 * 3600));
            let mut ticker = Ticker::new(Duration::from_secs(60));
            for _ in 0..10 {
                ticker.tick_blocking();
            }
            assert_eq!(time::now() - start, clock.elapsed());
            clock.elapsed()
        })
    });
    assert_eq!(got, Duration::from_secs(24 * 3600 + 600));
    assert_no_leaks();
}

#[test]
fn async_bodies_borrow_the_clock_and_run_tether_tasks() {
    let got = watchdog(|| {
        time::synctest_async(async |clock| {
            let (g, ctx) = Group::<tether::ctx::Error>::with_context(&Context::background());
            for hours in 1..=3u64 {
                let ctx = ctx.clone();
                g.spawn(async move {
                    time::sleep(Duration::from_secs(3600 * hours)).await;
                    ctx.check()
                })
                .await;
            }
            g.wait().await.unwrap();
            let (tx, rx) = chan::bounded::<u32>(0);
            let got = tether::select! {
                recv(rx) -> v => v.ok(),
                after(Duration::from_secs(60)) => None,
            };
            drop(tx);
            assert_eq!(got, None);
            clock.elapsed()
        })
    });
    assert_eq!(got, Duration::from_secs(3 * 3600 + 60));
    assert_no_leaks();
}

#[test]
fn tasks_that_end_by_themselves_after_the_body_are_waited_for() {
    watchdog(|| {
        time::synctest(|_clock| {
            let wg = WaitGroup::new();
            // Not waited: ends ten virtual minutes after the body returned.
            wg.go_blocking(|| time::sleep_blocking(Duration::from_secs(600)));
        });
        time::synctest_async(async |_clock| {
            let wg = WaitGroup::new();
            wg.go(async { time::sleep(Duration::from_secs(600)).await });
        });
    });
    assert_no_leaks();
}

#[test]
fn a_leaked_thread_task_fails_the_test_and_names_it() {
    let (tx, rx) = chan::bounded::<()>(0);
    let msg = watchdog(move || {
        panic_message(move || {
            SyncTest::new().leak_grace(Duration::from_millis(50)).run(move |_clock| {
                let wg = WaitGroup::new();
                // Blocked on a channel nobody sends on: a goroutine leak.
                wg.go_blocking(move || {
                    let _ = rx.recv_blocking();
                });
            });
        })
    });
    assert!(
        msg.starts_with("tether::time::synctest: 1 task started by the test body is still running 50.0ms after"),
        "{msg}"
    );
    assert!(msg.contains("a leak"), "{msg}");
    assert!(msg.contains("wait group task"), "{msg}");
    assert!(msg.contains("tests/synctest.rs"), "the spawn site: {msg}");
    drop(tx); // the leaked task ends: nothing is left for the next checks
    assert_no_leaks();
}

#[test]
fn a_leaked_async_task_fails_the_test_and_is_dropped_with_its_runtime() {
    let msg = watchdog(|| {
        panic_message(|| {
            SyncTest::new().leak_grace(Duration::from_millis(50)).run_async(async |_clock| {
                let (ctx, cancel) = Context::background().with_cancel();
                std::mem::forget(cancel); // never cancelled: the task waits forever
                let wg = WaitGroup::new();
                wg.go(async move { ctx.done().await });
            });
        })
    });
    assert!(msg.starts_with("tether::time::synctest: 1 task started by the test body is still running"), "{msg}");
    assert!(msg.contains("wait group task spawned at"), "{msg}");
    assert!(msg.contains("tests/synctest.rs"), "{msg}");
    // The runtime was dropped after the check, and the task with it.
    assert_no_leaks();
}

#[test]
fn a_panicking_body_uninstalls_the_clock() {
    let msg = panic_message(|| time::synctest(|_clock| panic!("assertion in the body")));
    assert_eq!(msg, "assertion in the body");
    // The next one installs a clock of its own (it would wait forever if
    // the first were still installed), starting from the real now.
    watchdog(|| {
        time::synctest(|clock| {
            let real = std::time::Instant::now();
            let virt = clock.now();
            assert!(virt <= real + Duration::from_secs(1) && real <= virt + Duration::from_secs(1));
        })
    });
    assert_no_leaks();
}

#[test]
fn synctest_async_inside_a_tokio_runtime_names_the_rule() {
    let msg = watchdog(|| {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async { panic_message(|| time::synctest_async(async |_clock| {})) })
    });
    assert!(msg.contains("cannot be called inside another"), "{msg}");
    assert!(msg.contains("not #[tokio::test]"), "{msg}");
    assert_no_leaks();
}
