//! `Cond`'s timed waits on tether's virtual clock: an hour-long timeout or
//! deadline is tested in milliseconds, and a wait provably does not end a
//! second early. (Virtual time is process-wide, hence its own binary.)

mod common;

use std::sync::Arc;
use std::sync::mpsc::{self, TryRecvError};
use std::time::Duration;

use common::*;
use tether::Context;
use tether::ctx::Error;
use tether::sync::{Cond, Mutex};
use tether::time::VirtualClock;

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn cond_wait_timeout_blocking_times_out_exactly_on_virtual_time() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let p = Arc::new((Mutex::new(()), Cond::new()));
        let (tx, rx) = mpsc::channel();
        let t = {
            let p = p.clone();
            std::thread::spawn(move || {
                let (m, c) = &*p;
                let (_g, timed_out) = c.wait_timeout_blocking(m.lock_blocking(), HOUR);
                tx.send(timed_out).unwrap();
            })
        };
        while p.1.waiters() == 0 {
            std::thread::yield_now();
        }
        clock.advance(HOUR - Duration::from_secs(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "woke before its timeout");
        assert_eq!(p.1.waiters(), 1);
        clock.advance(Duration::from_secs(1));
        assert!(rx.recv().unwrap(), "the wait reports it timed out");
        t.join().unwrap();
        assert_eq!(p.1.waiters(), 0, "a timed-out wait unregisters");
        drop(clock);
    });
    assert_no_leaks();
}

#[test]
fn cond_wait_ctx_deadline_on_virtual_time() {
    block_on(async {
        let clock = VirtualClock::install();
        let p = Arc::new((Mutex::new(false), Cond::new()));
        {
            let (ctx, _cancel) = Context::background().with_timeout(HOUR);
            let r = p.1.wait_while_ctx(p.0.lock().await, &ctx, |ready| !*ready).await.map(drop);
            assert_eq!(r, Err(Error::DeadlineExceeded));
            assert!(clock.elapsed() >= HOUR);
            assert!(p.0.try_lock().is_some(), "the lock is released on error");
            assert_eq!(p.1.waiters(), 0);
        }
        {
            let (ctx, _cancel) = Context::background().with_timeout(HOUR);
            let p = p.clone();
            let r = std::thread::spawn(move || p.1.wait_ctx_blocking(p.0.lock_blocking(), &ctx).map(drop));
            assert_eq!(r.join().unwrap(), Err(Error::DeadlineExceeded));
            assert!(clock.elapsed() >= 2 * HOUR);
        }
        drop(clock);
    });
    assert_no_leaks();
}
