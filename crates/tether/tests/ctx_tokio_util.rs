//! `Context` ↔ tokio-util's `CancellationToken` (feature `tokio-util`),
//! against the real tokio-util crate: both directions, threads and tasks
//! on both sides, and nothing left registered on either side afterwards.
#![cfg(feature = "tokio-util")]

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{assert_no_leaks, block_on, watchdog};
use tether::Context;
use tether::ctx::tokio_util::TokenCancelled;
use tether::ctx::{self, ErrorIs};
use tokio_util::sync::CancellationToken;

#[test]
fn a_context_cancels_its_token_and_wakes_tokio_tasks_waiting_on_it() {
    block_on(async {
        let (ctx, cancel) = Context::background().with_cancel();
        let token = ctx.cancellation_token();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let t = token.clone();
                tokio::spawn(async move { t.cancelled().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(!token.is_cancelled());
        assert_eq!(ctx.__registrations(), 1, "one registration: the token's");
        cancel.cancel();
        assert!(token.is_cancelled(), "cancelled by the time cancel() returns");
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(ctx.__registrations(), 0);
    });
    assert_no_leaks();
}

#[test]
fn a_deadline_cancels_the_token_with_no_runtime_at_all() {
    watchdog(|| {
        let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(2));
        let token = ctx.cancellation_token();
        ctx.wait_blocking();
        assert!(token.is_cancelled());
        assert_eq!(ctx.err(), Some(ctx::Error::DeadlineExceeded));
    });
    assert_no_leaks();
}

#[test]
fn tokens_of_done_and_never_done_contexts() {
    let (done, cancel) = Context::background().with_cancel();
    cancel.cancel();
    assert!(done.cancellation_token().is_cancelled());
    let never = Context::background();
    let token = never.cancellation_token();
    assert!(!token.is_cancelled());
    assert_eq!(never.__registrations(), 0, "nothing to register on a context that is never done");
    let detached = Context::background().with_cancel().0.without_cancel();
    assert!(!detached.cancellation_token().is_cancelled(), "without_cancel is never done");
    assert_no_leaks();
}

#[test]
fn cancelling_the_token_does_not_cancel_the_context() {
    let (ctx, _cancel) = Context::background().with_cancel();
    let token = ctx.cancellation_token();
    token.cancel();
    assert!(!ctx.is_done(), "a token's holder cannot cancel the context");
    // The registration stays until the context is done (documented): the
    // token cannot report that it is gone.
    assert_eq!(ctx.__registrations(), 1);
    drop(token);
    assert_eq!(ctx.__registrations(), 1);
    assert_no_leaks();
}

#[test]
fn cancellation_token_registrations_last_until_the_context_is_done() {
    let (root, cancel) = Context::background().with_cancel();
    let tokens: Vec<_> = (0..100).map(|_| root.cancellation_token()).collect();
    drop(tokens);
    assert_eq!(root.__registrations(), 100, "one per call, as documented");
    cancel.cancel();
    assert_eq!(root.__registrations(), 0, "all drained by the cancel");
    assert_no_leaks();
}

#[test]
fn a_token_link_unregisters_when_dropped() {
    let (root, cancel) = Context::background().with_cancel();
    for _ in 0..100 {
        let token = CancellationToken::new();
        let link = root.link_token(&token);
        assert_eq!(root.__registrations(), 1);
        drop(link);
        assert!(!token.is_cancelled(), "dropping the link leaves the token alone");
    }
    assert_eq!(root.__registrations(), 0, "a long-lived context keeps nothing");
    let token = CancellationToken::new();
    let link = root.link_token(&token);
    cancel.cancel();
    assert!(token.is_cancelled());
    drop(link); // after the cancel: nothing left to remove
    assert_eq!(root.__registrations(), 0);
    let (ctx, _cancel) = Context::background().with_timeout(Duration::ZERO);
    let late = CancellationToken::new();
    let _link = ctx.link_token(&late);
    assert!(late.is_cancelled(), "linked to a done context: cancelled at once");
    assert_no_leaks();
}

#[test]
fn a_token_cancels_its_context_and_wakes_threads_and_tasks() {
    block_on(async {
        let token = CancellationToken::new();
        let (ctx, _handle) = Context::from_token(&token);
        let thread = {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                ctx.wait_blocking();
                ctx.cause()
            })
        };
        let task = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let (_tx, rx) = tether::chan::bounded::<u8>(0);
                tether::select! {
                    recv(rx) -> _v => "value",
                    done(ctx) => "done",
                }
            })
        };
        tokio::task::yield_now().await;
        assert!(!ctx.is_done());
        // Cancelled from a plain thread, as tokio code might from anywhere.
        let t = token.clone();
        std::thread::spawn(move || t.cancel()).join().unwrap();
        assert!(ctx.is_done(), "synchronous: done once cancel() has returned");
        assert_eq!(ctx.err(), Some(ctx::Error::Canceled));
        assert!(thread.join().unwrap().unwrap().is::<TokenCancelled>());
        assert_eq!(task.await.unwrap(), "done");
        let cause = ctx.cause().unwrap();
        assert!(cause.is_canceled(), "a token cancel is a cancellation");
        assert_eq!(ctx::find_error(&*cause), Some(ctx::Error::Canceled));
    });
    assert_no_leaks();
}

#[test]
fn with_token_keeps_the_parents_rules() {
    let token = CancellationToken::new();
    let (parent, cancel_parent) = Context::background().with_timeout(Duration::from_secs(60));
    let (child, _handle) = parent.with_token(&token);
    assert_eq!(child.deadline(), parent.deadline());
    assert_eq!(parent.__registrations(), 1, "the child");
    cancel_parent.cancel();
    assert_eq!(child.err(), Some(ctx::Error::Canceled));
    assert!(child.cause().unwrap().downcast_ref::<ctx::Error>().is_some(), "the parent's cause, not the token's");
    token.cancel(); // changes nothing now
    assert!(child.cause().unwrap().downcast_ref::<TokenCancelled>().is_none());
    assert_no_leaks();
}

#[test]
fn the_handle_cancels_first_and_the_parent_keeps_no_registration() {
    let token = CancellationToken::new();
    let (parent, _cancel) = Context::background().with_cancel();
    for _ in 0..100 {
        let (child, handle) = parent.with_token(&token);
        drop(handle);
        assert_eq!(child.err(), Some(ctx::Error::Canceled));
    }
    assert_eq!(parent.__registrations(), 0);
    token.cancel(); // no context is left to cancel, and nothing breaks
    assert!(!parent.is_done());
    assert_no_leaks();
}

#[test]
fn a_cancelled_token_makes_a_done_context() {
    let token = CancellationToken::new();
    token.cancel();
    let (ctx, _h) = Context::from_token(&token);
    assert!(ctx.is_done());
    assert!(ctx.cause().unwrap().is::<TokenCancelled>());
    assert_no_leaks();
}

#[test]
fn child_tokens_and_round_trips() {
    // A child token, cancelled through its parent, cancels its context.
    let root = CancellationToken::new();
    let (ctx, _h) = Context::from_token(&root.child_token());
    root.cancel();
    assert!(ctx.is_done());

    // Context → token → context: the cancel goes all the way through.
    let (a, cancel_a) = Context::background().with_cancel();
    let (b, _h) = Context::from_token(&a.cancellation_token());
    cancel_a.cancel();
    assert!(b.cause().unwrap().is::<TokenCancelled>());

    // A child of a context that also watches that context's own token: the
    // cancel reaches it twice over, without a deadlock.
    let (a, cancel_a) = Context::background().with_cancel();
    let token = a.cancellation_token();
    let (b, _h) = a.with_token(&token);
    let (c, _h2) = b.with_token(&token.child_token());
    cancel_a.cancel();
    assert!(b.is_done() && c.is_done());
    assert_eq!(a.__registrations(), 0);
    assert_eq!(b.__registrations(), 0);
    assert_no_leaks();
}

#[test]
fn concurrent_cancels_from_both_sides_never_hang() {
    watchdog(|| {
        for round in 0..200 {
            let token = CancellationToken::new();
            let (parent, cancel_parent) = Context::background().with_cancel();
            let children: Vec<_> = (0..4).map(|_| parent.with_token(&token)).collect();
            let linked = parent.cancellation_token();
            let barrier = Arc::new(Barrier::new(2));
            let (t, b) = (token.clone(), barrier.clone());
            let other = std::thread::spawn(move || {
                b.wait();
                t.cancel();
            });
            barrier.wait();
            if round % 2 == 0 {
                cancel_parent.cancel();
            } else {
                drop(children.into_iter().next());
            }
            other.join().unwrap();
            drop(cancel_parent);
            assert!(linked.is_cancelled());
            assert_eq!(parent.__registrations(), 0);
        }
    });
    assert_no_leaks();
}
