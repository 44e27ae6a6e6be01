//! Loom model of a group's first-error race: two tasks failing at once
//! must agree on one first error — the one `wait` returns is the one the
//! context was cancelled with. Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p tether --no-default-features --release --lib loom`

use std::sync::Arc;

use super::core::{Core, NO_LIMIT};
use super::errgroup::error_cause;
use crate::Context;
use loom::thread;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Failed(&'static str);
impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Failed {}

#[test]
fn loom_two_failures_agree_on_the_first_error() {
    loom::model(|| {
        let core = Arc::new(Core::<Failed>::new(&Context::background(), Some(error_cause::<Failed>), NO_LIMIT, false));
        let other = core.clone();
        let t = thread::spawn(move || other.fail(Failed("a"), "task", std::panic::Location::caller(), || None));
        core.fail(Failed("b"), "task", std::panic::Location::caller(), || None);
        t.join().unwrap();
        let first = core.take_outcome().ok().expect("no panic").expect_err("an error was recorded");
        let cause = core.ctx.cause().expect("the first error cancelled the context");
        assert_eq!(cause.downcast_ref::<Failed>(), Some(&first), "wait's error is the context's cause");
        assert!(core.is_decided());
    });
}

#[test]
fn loom_failure_races_a_panic_and_both_decide() {
    loom::model(|| {
        let core = Arc::new(Core::<Failed>::new(&Context::background(), Some(error_cause::<Failed>), NO_LIMIT, false));
        let other = core.clone();
        let t = thread::spawn(move || other.fail(Failed("a"), "task", std::panic::Location::caller(), || None));
        core.panicked(Box::new("boom"), "task", None, std::panic::Location::caller());
        t.join().unwrap();
        assert!(core.is_decided());
        assert!(core.take_outcome().is_err(), "a panic is never hidden by an error");
        let cause = core.ctx.cause().unwrap();
        assert!(cause.downcast_ref::<Failed>().is_some() || cause.downcast_ref::<super::TaskPanicked>().is_some());
    });
}

/// `wait` racing the last two tasks' ends (threads): whichever interleaving,
/// the waiter is woken (loom fails the model on a lost wake-up: a deadlock).
#[test]
fn loom_last_task_end_races_a_blocking_wait() {
    loom::model(|| {
        let core = Arc::new(Core::<Failed>::new(&Context::background(), None, NO_LIMIT, false));
        core.begin();
        core.begin();
        for _ in 0..2 {
            let c = core.clone();
            // Not joined: an unpark arriving after `wait` returned would
            // otherwise land on the join, which loom cannot model (std's
            // unpark just leaves a token); the model still waits for both.
            drop(thread::spawn(move || c.end()));
        }
        core.wait_idle_blocking();
        assert_eq!(core.pending(), 0);
    });
}

/// The same for an async `wait` (`poll_idle` with the task's waker).
#[test]
fn loom_last_task_end_races_an_async_wait() {
    loom::model(|| {
        let core = Arc::new(Core::<Failed>::new(&Context::background(), None, NO_LIMIT, false));
        core.begin();
        let c = core.clone();
        let end = thread::spawn(move || c.end());
        let mut key = None;
        loom::future::block_on(std::future::poll_fn(|cx| {
            if core.poll_idle(&mut key, cx.waker()) { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
        }));
        assert_eq!(core.pending(), 0);
        end.join().unwrap();
    });
}

/// A group with a limit of one: a spawner blocks for the slot while the
/// task holding it ends and gives it back. Whichever interleaving, the
/// spawner gets the slot (loom fails the model on a lost wake-up).
#[test]
fn loom_slot_release_races_a_blocking_acquire() {
    loom::model(|| {
        let core = Arc::new(Core::<Failed>::new(&Context::background(), None, 1, false));
        assert!(core.try_acquire(), "the first slot is free");
        let c = core.clone();
        // Not joined, as in `loom_last_task_end_races_a_blocking_wait`.
        drop(thread::spawn(move || c.release()));
        assert!(core.acquire_blocking(), "the released slot reaches the waiting spawner");
        core.release();
    });
}
