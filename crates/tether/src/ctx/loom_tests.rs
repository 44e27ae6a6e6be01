//! Loom models of the cancellation tree's core races: concurrent cancels,
//! child registration against a parent's cancel, a child's own cancel
//! against its parent's, waiters against cancel, and after-func stop
//! against cancel. Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p tether --no-default-features --release --lib loom`

use std::sync::Arc as StdArc;

use super::{Cause, Context, Error};
use loom::thread;

#[derive(Debug)]
struct Named(&'static str);
impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Named {}

fn named(s: &'static str) -> Cause {
    StdArc::new(Named(s))
}

fn cause_text(c: &Context) -> String {
    c.cause().expect("done contexts have a cause").to_string()
}

#[test]
fn loom_concurrent_cancels_agree_on_one_cause() {
    loom::model(|| {
        let (ctx, h) = Context::background().with_cancel();
        let (child, _hc) = ctx.with_cancel();
        let h = loom::sync::Arc::new(h);
        let h2 = h.clone();
        let t = thread::spawn(move || h2.cancel_with_cause(named("a")));
        h.cancel_with_cause(named("b"));
        t.join().unwrap();
        let got = cause_text(&ctx);
        assert!(got == "a" || got == "b");
        assert_eq!(cause_text(&child), got, "the parent's cause reaches the child");
        assert_eq!(ctx.err(), Some(Error::Canceled));
    });
}

#[test]
fn loom_child_registration_races_parent_cancel() {
    loom::model(|| {
        let (parent, h) = Context::background().with_cancel();
        let p = parent.clone();
        let t = thread::spawn(move || {
            let (child, hc) = p.with_cancel();
            (child, hc)
        });
        h.cancel_with_cause(named("parent"));
        let (child, hc) = t.join().unwrap();
        assert_eq!(child.err(), Some(Error::Canceled), "born done or cancelled by propagation");
        assert_eq!(cause_text(&child), "parent");
        assert_eq!(parent.__registrations(), 0);
        drop(hc);
    });
}

#[test]
fn loom_child_cancel_races_parent_cancel() {
    loom::model(|| {
        let (parent, hp) = Context::background().with_cancel();
        let (child, hc) = parent.with_cancel();
        let t = thread::spawn(move || hc.cancel_with_cause(named("child")));
        hp.cancel_with_cause(named("parent"));
        t.join().unwrap();
        let got = cause_text(&child);
        assert!(got == "child" || got == "parent");
        assert_eq!(cause_text(&parent), "parent");
        assert_eq!(parent.__registrations(), 0, "no registration outlives the race");
    });
}

#[test]
fn loom_waiter_is_woken_by_cancel() {
    loom::model(|| {
        let (ctx, h) = Context::background().with_cancel();
        let c = ctx.clone();
        let t = thread::spawn(move || {
            c.wait_blocking();
            assert!(c.is_done());
        });
        h.cancel();
        t.join().unwrap();
        assert_eq!(ctx.__registrations(), 0);
    });
}

#[test]
fn loom_after_func_stop_races_cancel() {
    loom::model(|| {
        let (ctx, h) = Context::background().with_cancel();
        let f = ctx.after_func(|| {});
        let state = f.state().clone();
        let t = thread::spawn(move || h.cancel());
        let stopped = f.stop();
        t.join().unwrap();
        assert!(stopped != state.is_started(), "exactly one of stop and launch wins");
        assert_eq!(ctx.__registrations(), 0);
    });
}
