//! Every error type of the crate prints each message of its chain once
//! (an error either shows its source in its message or returns it from
//! `source()`, never both), and Go's `errors.Is` for context errors
//! (`ctx::ErrorIs`, `ctx::find_error`) sees through every wrapper tether
//! and its users put around them — anyhow included.

mod common;

use std::error::Error as StdError;
use std::sync::Arc;

use tether::Context;
use tether::chan::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
use tether::ctx::{self, ErrorIs};
use tether::group::{Group, SharedError, TaskFailed, TaskPanicked};
use tether::rate::WaitError;

/// No link of `err`'s chain repeats the message of the link below it.
fn assert_each_message_once(err: &(dyn StdError + 'static)) {
    let mut link = Some(err);
    while let Some(e) = link {
        if let Some(src) = e.source() {
            let (outer, inner) = (e.to_string(), src.to_string());
            assert!(!outer.contains(&inner), "{outer:?} repeats its source's message {inner:?}");
        }
        link = e.source();
    }
}

fn a_task_panicked() -> TaskPanicked {
    let (g, ctx) = Group::<ctx::Error>::with_context(&Context::background());
    g.spawn_blocking(|| panic!("boom"));
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.wait_blocking()));
    ctx.cause().unwrap().downcast_ref::<TaskPanicked>().unwrap().clone()
}

#[test]
fn no_error_type_prints_its_source_twice() {
    let errors: Vec<Box<dyn StdError>> = vec![
        Box::new(ctx::Error::Canceled),
        Box::new(ctx::Error::DeadlineExceeded),
        Box::new(WaitError::Context(ctx::Error::Canceled)),
        Box::new(WaitError::Context(ctx::Error::DeadlineExceeded)),
        Box::new(WaitError::ExceedsBurst { n: 3, burst: 2 }),
        Box::new(WaitError::WouldExceedDeadline { n: 1 }),
        Box::new(TaskFailed),
        Box::new(a_task_panicked()),
        Box::new(SendError(1u8)),
        Box::new(TrySendError::Full(1u8)),
        Box::new(TrySendError::Closed(1u8)),
        Box::new(SendTimeoutError::Timeout(1u8)),
        Box::new(SendTimeoutError::Closed(1u8)),
        Box::new(RecvError::Closed),
        Box::new(TryRecvError::Empty),
        Box::new(TryRecvError::Closed),
        Box::new(RecvTimeoutError::Timeout),
        Box::new(RecvTimeoutError::Closed),
        Box::new(tether::pool::WorkerError::Failed(std::io::Error::other("disk full"))),
        Box::new(tether::pool::WorkerError::<std::io::Error>::Panicked(a_task_panicked())),
    ];
    for e in &errors {
        assert_each_message_once(&**e);
    }
    common::assert_no_leaks();
}

#[test]
fn a_limiter_wait_error_reads_once_in_anyhow() {
    // Issue 9: "rate: wait ended: context canceled: context canceled".
    let e = anyhow::Error::from(WaitError::Context(ctx::Error::Canceled));
    assert_eq!(format!("{e:#}"), "rate: wait ended because its context is done: context canceled");
    let e = anyhow::Error::from(WaitError::Context(ctx::Error::Canceled)).context("fetching page 3");
    assert_eq!(format!("{e:#}"), "fetching page 3: rate: wait ended because its context is done: context canceled");
}

#[test]
fn errors_is_finds_context_errors_through_every_wrapper() {
    let canceled = ctx::Error::Canceled;
    assert!(canceled.is_canceled() && !canceled.is_deadline_exceeded());
    // tether's own error types
    assert!(WaitError::Context(ctx::Error::DeadlineExceeded).is_deadline_exceeded());
    assert_eq!(WaitError::ExceedsBurst { n: 2, burst: 1 }.context_error(), None);
    // a Cause, and a cause recorded by a group whose E is an Arc
    let (c, cancel) = Context::background().with_cancel();
    cancel.cancel();
    assert!(c.cause().unwrap().is_canceled());
    let cause: ctx::Cause = Arc::new(Arc::new(ctx::Error::DeadlineExceeded));
    assert!(cause.is_deadline_exceeded());
    assert_eq!(ctx::find_error(&*cause), Some(ctx::Error::DeadlineExceeded));
    // boxed and dyn errors
    let boxed: Box<dyn StdError + Send + Sync> = Box::new(WaitError::Context(ctx::Error::Canceled));
    assert!(boxed.is_canceled());
    // anyhow, with and without context layers
    let a = anyhow::Error::from(ctx::Error::Canceled);
    assert!(a.is_canceled());
    let a = anyhow::Error::from(WaitError::Context(ctx::Error::DeadlineExceeded)).context("step 2").context("job 7");
    assert!(a.is_deadline_exceeded());
    let a: anyhow::Error = anyhow::anyhow!("not a context error");
    assert_eq!(a.context_error(), None);
    // SharedError, and an error with a custom source chain
    assert!(SharedError::from(ctx::Error::Canceled).is_canceled());
    #[derive(Debug)]
    struct Wrapped(WaitError);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("request failed")
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }
    assert!(Wrapped(WaitError::Context(ctx::Error::Canceled)).is_canceled());
    assert!(!std::io::Error::other("x").is_canceled());
}
