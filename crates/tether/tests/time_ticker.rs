//! Ticker and sleep on real time, with millisecond periods (the schedules
//! and missed-tick policies are checked exactly in
//! `virtual_clock_time.rs`).

mod common;

use std::time::{Duration, Instant};

use common::{block_on_local, poll_once, watchdog};
use tether::time::{self, MissedTick, Ticker};

const MS: Duration = Duration::from_millis(1);

#[test]
#[should_panic(expected = "the period must be positive")]
fn new_ticker_panics_on_zero_period() {
    let _ = Ticker::new(Duration::ZERO);
}

#[test]
#[should_panic(expected = "the period must be positive")]
fn reset_panics_on_zero_period() {
    Ticker::new(MS).reset(Duration::ZERO);
}

#[test]
fn first_tick_is_one_period_after_creation() {
    watchdog(|| {
        let before = Instant::now();
        let mut t = Ticker::new(2 * MS);
        let after = Instant::now();
        let first = t.tick_blocking();
        assert!(first >= before + 2 * MS && first <= after + 2 * MS);
        assert!(Instant::now() >= first);
    });
}

#[test]
fn ticks_stay_on_the_grid_with_no_runtime() {
    watchdog(|| {
        let mut t = Ticker::new(MS);
        let mut prev = t.tick_blocking();
        for _ in 0..5 {
            let next = t.tick_blocking();
            let gap = next - prev;
            // Go's ticker: a slow consumer skips whole periods, never drifts.
            assert!(gap >= MS && gap.as_nanos() % MS.as_nanos() == 0, "gap {gap:?}");
            prev = next;
        }
    });
}

#[test]
fn async_tick_and_blocking_tick_follow_one_schedule() {
    block_on_local(async {
        let mut t = Ticker::with_policy(MS, MissedTick::Burst);
        let a = t.tick().await;
        let b = t.tick_blocking();
        let c = t.tick().await;
        assert_eq!(b - a, MS);
        assert_eq!(c - b, MS);
    });
}

#[test]
fn ticker_is_a_stream() {
    block_on_local(async {
        let mut t = Ticker::with_policy(MS, MissedTick::Burst);
        let mut stream = std::pin::Pin::new(&mut t);
        let a = std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await;
        let b = std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await;
        assert_eq!(b.unwrap() - a.unwrap(), MS);
    });
}

#[test]
fn dropped_tick_future_takes_no_tick() {
    block_on_local(async {
        let mut t = Ticker::new(Duration::from_secs(3600));
        let due = t.next_tick().unwrap();
        {
            let mut f = Box::pin(t.tick());
            assert!(poll_once(&mut f).is_none());
        } // dropped mid-wait
        assert_eq!(t.next_tick(), Some(due));
        t.reset(MS);
        let next = t.next_tick().unwrap();
        assert_eq!(t.tick().await, next);
    });
}

#[test]
fn stop_ends_ticks_and_reset_restarts() {
    watchdog(|| {
        let mut t = Ticker::new(MS);
        t.stop();
        assert!(t.is_stopped());
        assert_eq!(t.next_tick(), None);
        assert_eq!(t.remaining(), Duration::MAX);
        std::thread::sleep(3 * MS);
        assert_eq!(t.try_tick(), None); // no tick after stop, however long
        let mut f = Box::pin(t.tick());
        assert!(poll_once(&mut f).is_none()); // pending forever
        drop(f);
        let before = Instant::now();
        t.reset(2 * MS);
        let tick = t.tick_blocking();
        assert!(tick >= before + 2 * MS);
        assert_eq!(t.period(), 2 * MS);
    });
    common::assert_no_leaks();
}

#[test]
#[should_panic(expected = "stopped ticker would block forever")]
fn tick_blocking_on_a_stopped_ticker_panics() {
    let mut t = Ticker::new(MS);
    t.stop();
    t.tick_blocking();
}

#[test]
fn remaining_is_the_time_to_the_next_tick() {
    watchdog(|| {
        let mut t = Ticker::new(Duration::from_secs(3600));
        let r = t.remaining();
        assert!(r <= Duration::from_secs(3600) && r > Duration::from_secs(3590));
        t.reset(MS);
        time::sleep_blocking(t.remaining());
        assert!(t.try_tick().is_some());
    });
}

#[test]
fn sleep_waits_at_least_its_duration() {
    block_on_local(async {
        let start = Instant::now();
        time::sleep(2 * MS).await;
        assert!(start.elapsed() >= 2 * MS);
        let at = Instant::now() + MS;
        time::sleep_until(at).await;
        assert!(Instant::now() >= at);
        time::sleep(Duration::ZERO).await; // ready at once
    });
}

#[test]
fn sleep_blocking_needs_no_runtime() {
    watchdog(|| {
        let start = Instant::now();
        time::sleep_blocking(2 * MS);
        assert!(start.elapsed() >= 2 * MS);
        time::sleep_until_blocking(start); // in the past: returns at once
    });
}

#[test]
fn dropped_sleep_cancels_its_timer() {
    block_on_local(async {
        let mut s = Box::pin(time::sleep(Duration::from_secs(3600)));
        assert!(poll_once(&mut s).is_none());
        assert!(!s.is_elapsed());
        drop(s);
        let mut s = time::sleep(Duration::from_secs(3600));
        s.reset(Instant::now());
        s.await; // reset to the past: ready
    });
    common::assert_no_leaks();
}

#[test]
fn sleep_works_across_runtimes() {
    // The wake-up comes from tether's timer thread, not a runtime's timer.
    watchdog(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap(); // no enable_time
        rt.block_on(async {
            time::sleep(MS).await;
            let mut t = Ticker::new(MS);
            t.tick().await;
        });
    });
    common::assert_no_leaks();
}

#[test]
fn tick_channel_is_a_select_arm() {
    watchdog(|| {
        let ticks = time::tick(MS);
        let (_tx, idle) = tether::chan::bounded::<u32>(0);
        let mut got = Vec::new();
        while got.len() < 3 {
            tether::select_blocking! {
                recv(ticks) -> t => got.push(t.unwrap()),
                recv(idle) -> _v => unreachable!("nobody sends"),
            }
        }
        assert!(got.windows(2).all(|w| w[1] > w[0] && (w[1] - w[0]).as_nanos() % MS.as_nanos() == 0));
    });
}

#[test]
fn tick_channel_async_and_after() {
    block_on_local(async {
        let ticks = time::tick(MS);
        let a = ticks.recv().await.unwrap();
        let b = ticks.recv().await.unwrap();
        assert!(b > a);
        let start = Instant::now();
        let at = time::after(2 * MS).recv().await.unwrap();
        assert!(at >= start + 2 * MS && Instant::now() >= at);
    });
    common::assert_no_leaks();
}

#[test]
#[should_panic(expected = "the period must be positive")]
fn tick_channel_panics_on_zero_period() {
    let _ = time::tick(Duration::ZERO);
}
