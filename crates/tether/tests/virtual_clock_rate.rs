//! `Limiter::wait` on the virtual clock: Go's `TestWait*` behaviours, with
//! exact virtual delays, and an hour of waits in milliseconds. Its own test
//! binary (the virtual clock is process-wide).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{block_on_local, poll_once, watchdog};
use tether::Context;
use tether::rate::{Limit, Limiter, WaitError};
use tether::time::VirtualClock;

const D: Duration = Duration::from_millis(100);

fn lim(per_sec: f64, burst: usize) -> Limiter {
    Limiter::new(Limit::per_second(per_sec), burst)
}

#[test]
fn wait_simple() {
    let clock = VirtualClock::install();
    block_on_local(async move {
        let l = lim(10.0, 3);
        let (done, cancel) = Context::background().with_cancel();
        cancel.cancel();
        let bg = Context::background();
        let start = tether::time::now();
        assert_eq!(l.wait(&done).await, Err(WaitError::Context(tether::ctx::Error::Canceled)));
        assert_eq!(l.wait_n(&bg, 4).await, Err(WaitError::ExceedsBurst { n: 4, burst: 3 }));
        assert_eq!(tether::time::now(), start); // failed at once
        l.wait_n(&bg, 2).await.unwrap(); // act now
        assert_eq!(tether::time::now(), start);
        l.wait_n(&bg, 3).await.unwrap(); // 1 token left: 2 more take 200 ms
        assert_eq!(tether::time::now() - start, 2 * D);
    });
    drop(clock);
}

#[test]
fn wait_simple_blocking() {
    let clock = VirtualClock::install();
    watchdog(move || {
        let l = lim(10.0, 3);
        let bg = Context::background();
        let start = clock.now();
        assert_eq!(l.wait_n_blocking(&bg, 4), Err(WaitError::ExceedsBurst { n: 4, burst: 3 }));
        l.wait_n_blocking(&bg, 2).unwrap();
        l.wait_n_blocking(&bg, 3).unwrap();
        assert_eq!(clock.now() - start, 2 * D);
    });
}

#[test]
fn wait_cancel_gives_the_tokens_back() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let l = Arc::new(lim(10.0, 3));
        let start = clock.now();
        let (ctx, cancel) = Context::background().with_cancel();
        l.wait_n_blocking(&ctx, 2).unwrap(); // 1 token left
        let waiter = {
            let (l, ctx) = (l.clone(), ctx.clone());
            std::thread::spawn(move || l.wait_n_blocking(&ctx, 3))
        };
        // Wait until it sleeps (its timer is the only one), then cancel
        // one period in.
        while clock.next_timer().is_none() {
            std::thread::yield_now();
        }
        assert_eq!(clock.next_timer(), Some(start + 2 * D));
        clock.advance(D);
        cancel.cancel();
        assert_eq!(waiter.join().unwrap(), Err(WaitError::Context(tether::ctx::Error::Canceled)));
        assert_eq!(clock.now() - start, D);
        // All 3 reserved tokens came back: 1 left + 1 earned = 2, at once.
        assert!((l.tokens() - 2.0).abs() < 1e-9, "tokens {}", l.tokens());
        l.wait_n_blocking(&Context::background(), 2).unwrap();
        assert_eq!(clock.now() - start, D);
    });
    common::assert_no_leaks();
}

#[test]
fn wait_timeout_fails_at_once_when_the_deadline_is_too_close() {
    let clock = VirtualClock::install();
    watchdog(move || {
        let l = lim(10.0, 3);
        let (ctx, _cancel) = Context::background().with_timeout(D);
        let start = clock.now();
        l.wait_n_blocking(&ctx, 2).unwrap();
        // 1 left; 3 need 200 ms, past the 100 ms deadline.
        assert_eq!(l.wait_n_blocking(&ctx, 3), Err(WaitError::WouldExceedDeadline { n: 3 }));
        assert_eq!(clock.now(), start);
        assert!((l.tokens() - 1.0).abs() < 1e-9); // nothing was taken
        // 2 need 100 ms: just in time.
        l.wait_n_blocking(&ctx, 2).unwrap();
        assert_eq!(clock.now() - start, D);
    });
}

#[test]
fn wait_inf_ignores_burst() {
    let _clock = VirtualClock::install();
    block_on_local(async {
        let l = Limiter::new(Limit::INF, 0);
        l.wait_n(&Context::background(), 3).await.unwrap();
        l.wait_n_blocking(&Context::background(), 1_000).unwrap();
    });
}

#[test]
fn wait_zero_limit_fails_at_once_when_short() {
    let _clock = VirtualClock::install();
    watchdog(|| {
        let l = Limiter::new(Limit::ZERO, 1);
        let bg = Context::background();
        l.wait_blocking(&bg).unwrap();
        assert_eq!(l.wait_blocking(&bg), Err(WaitError::WouldExceedDeadline { n: 1 }));
    });
}

#[test]
fn dropped_wait_future_returns_its_tokens() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let l = lim(10.0, 3);
        let bg = Context::background();
        assert!(l.allow_n(clock.now(), 3));
        {
            let mut f = Box::pin(l.wait_n(&bg, 2));
            assert!(poll_once(&mut f).is_none()); // reserved, sleeping
            assert!((l.tokens() + 2.0).abs() < 1e-9);
        } // dropped: cancelled
        assert!(l.tokens().abs() < 1e-9);
        assert_eq!(clock.pending_timers(), 0); // its sleep is gone too
    });
    common::assert_no_leaks();
}

#[test]
fn context_cancel_during_async_wait() {
    let clock = VirtualClock::install_manual();
    let start = clock.now();
    let l = Arc::new(lim(1.0, 1));
    assert!(l.allow());
    let (ctx, cancel) = Context::background().with_cancel();
    let task = {
        let l = l.clone();
        std::thread::spawn(move || block_on_local(async move { l.wait(&ctx).await }))
    };
    watchdog(move || {
        while clock.next_timer().is_none() {
            std::thread::yield_now();
        }
        clock.advance(Duration::from_millis(500));
        cancel.cancel();
        assert_eq!(task.join().unwrap(), Err(WaitError::Context(tether::ctx::Error::Canceled)));
        // The reserved token came back: half a token earned so far.
        assert!((l.tokens() - 0.5).abs() < 1e-9, "tokens {}", l.tokens());
        assert_eq!(clock.now() - start, Duration::from_millis(500));
    });
    common::assert_no_leaks();
}

#[test]
fn an_hour_of_limited_waits_in_milliseconds() {
    let clock = VirtualClock::install();
    let l = Arc::new(Limiter::new(Limit::per_minute(1.0), 1));
    // Two threads share one request per minute for an hour.
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || {
                for _ in 0..30 {
                    l.wait_blocking(&Context::background()).unwrap();
                }
            })
        })
        .collect();
    watchdog(move || {
        for h in handles {
            h.join().unwrap();
        }
    });
    // 60 requests: the first at once (the bucket starts full), then one a
    // minute.
    assert_eq!(clock.elapsed(), Duration::from_secs(59 * 60));
    common::assert_no_leaks();
}
