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
