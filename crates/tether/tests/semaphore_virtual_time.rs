//! `Semaphore` acquires bounded by context deadlines, on tether's virtual
//! clock (golang.org/x/sync's TestWeightedAcquire outcomes with an hour of
//! patience each, run in milliseconds). Virtual time is process-wide,
//! hence its own binary.

mod common;

use std::time::Duration;

use common::*;
use tether::Context;
use tether::ctx::Error;
use tether::sync::Semaphore;
use tether::time::VirtualClock;

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn weighted_acquire_with_deadline_outcomes() {
    block_on(async {
        let clock = VirtualClock::install();
        {
            let sem = Semaphore::new(2);
            let try_acquire = async |n| {
                let (ctx, _c) = Context::background().with_timeout(HOUR);
                sem.acquire(&ctx, n).await.map(|p| p.forget()).is_ok()
            };
            let held = sem.acquire(&Context::background(), 1).await.unwrap().forget();
            let t1 = try_acquire(1).await;
            let t2 = try_acquire(1).await; // waits its hour, then fails
            sem.release(held + 1);
            let t3 = try_acquire(1).await;
            let _b = sem.acquire(&Context::background(), 1).await.unwrap();
            let t4 = try_acquire(1).await;
            assert_eq!([t1, t2, t3, t4], [true, false, true, false]);
            assert!(clock.elapsed() >= 2 * HOUR);
        }
        drop(clock);
    });
    assert_no_leaks();
}

#[test]
fn weighted_blocking_acquire_ends_at_the_deadline() {
    watchdog(|| {
        let clock = VirtualClock::install();
        {
            let sem = Semaphore::new(1);
            let _held = sem.acquire_blocking(&Context::background(), 1).unwrap();
            let (ctx, _c) = Context::background().with_timeout(HOUR);
            assert_eq!(sem.acquire_blocking(&ctx, 1).unwrap_err(), Error::DeadlineExceeded);
            assert!(clock.elapsed() >= HOUR);
            assert!(sem.try_acquire(0).is_some(), "the cancelled waiter left the queue");
        }
        drop(clock);
    });
    assert_no_leaks();
}
