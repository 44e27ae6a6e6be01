//! Sharing a context's cancel (`SharedCancel`) and running after-funcs on
//! a pool of threads instead of a new thread per call.

mod common;

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};

use common::{assert_no_leaks, watchdog};
use tether::Context;
use tether::ctx::{self, ErrorIs, SharedCancel};

#[test]
fn shared_cancel_clones_cancel_and_the_last_drop_cancels() {
    watchdog(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        let shared = cancel.shared();
        let clones: Vec<SharedCancel> = (0..4).map(|_| shared.clone()).collect();
        let handles: Vec<_> = clones.into_iter().map(|c| std::thread::spawn(move || drop(c))).collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(!ctx.is_done(), "one clone is left");
        let other = shared.clone();
        std::thread::spawn(move || other.cancel_with_cause(Arc::new(ctx::Error::DeadlineExceeded))).join().unwrap();
        assert!(ctx.is_done());
        assert!(ctx.cause().unwrap().is_deadline_exceeded(), "the first cancel's cause");
        shared.cancel(); // later cancels change nothing
        assert!(ctx.cause().unwrap().is_deadline_exceeded());
        let (ctx, cancel) = Context::background().with_cancel();
        drop(SharedCancel::from(cancel));
        assert_eq!(ctx.err(), Some(ctx::Error::Canceled), "dropping the only clone cancels");
        assert_eq!(ctx.__registrations(), 0);
    });
    assert_no_leaks();
}

#[test]
fn after_funcs_reuse_threads_instead_of_starting_one_each() {
    // Issue 9: every after_func started an OS thread of its own.
    watchdog(|| {
        let (tx, rx) = mpsc::channel();
        let mut ids = HashSet::new();
        for _ in 0..20 {
            let (ctx, cancel) = Context::background().with_cancel();
            let tx = tx.clone();
            let _f = ctx.after_func(move || tx.send(std::thread::current().id()).unwrap());
            cancel.cancel();
            ids.insert(rx.recv().unwrap());
            // One at a time: the job's thread has sent but may not yet count
            // itself idle, and a job submitted then rightly gets a thread of
            // its own (a callback must never wait for another). Wait until
            // it is idle, so the test checks reuse and not that race.
            while Context::__idle_callback_threads() == 0 {
                std::thread::yield_now();
            }
        }
        // (The other tests here use the same pool at the same time: hence
        // not 1.)
        assert!(ids.len() <= 10, "{} threads for 20 after-funcs run one after the other", ids.len());
    });
    assert_no_leaks();
}

#[test]
fn blocking_after_funcs_never_wait_for_each_other() {
    // Each waits until all have started: they must run at once, so the
    // pool grows when every pooled thread is busy.
    watchdog(|| {
        let n = 6;
        let gate = Arc::new(Barrier::new(n + 1));
        let (ctx, cancel) = Context::background().with_cancel();
        let funcs: Vec<_> = (0..n)
            .map(|_| {
                let gate = gate.clone();
                ctx.after_func(move || {
                    gate.wait();
                })
            })
            .collect();
        let tracker = tether::leak::Tracker::new();
        {
            let _in = tracker.enter(); // the launches happen in this cancel
            cancel.cancel();
        }
        let live = tracker.live_tasks().iter().filter(|t| t.kind() == "after_func").count();
        assert_eq!(live, n, "a queued or running after-func counts as a live task");
        gate.wait();
        for f in &funcs {
            assert!(!f.stop(), "it already ran");
        }
    });
    assert_no_leaks();
}

#[test]
fn stop_still_prevents_a_pooled_after_func() {
    watchdog(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        let f = ctx.after_func(|| panic!("stopped: must never run"));
        assert!(f.stop());
        cancel.cancel();
        let (tx, rx) = mpsc::channel();
        let (ctx2, cancel2) = Context::background().with_cancel();
        let g = ctx2.after_func(move || tx.send(()).unwrap());
        cancel2.cancel();
        rx.recv().unwrap();
        assert!(!g.stop(), "it ran: stop() cannot have prevented it");
    });
    assert_no_leaks();
}
