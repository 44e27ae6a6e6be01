//! Tickers, sleeps and deadlines on the virtual clock. Its own test binary:
//! a virtual clock switches the whole process to virtual time, and
//! `VirtualClock::install` makes the tests in this file take turns.

mod common;

use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{block_on, block_on_local, watchdog};
use tether::Context;
use tether::time::{self, MissedTick, Ticker, VirtualClock};

const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A period-1 s ticker whose consumer is busy until 3.7 s, under `policy`:
/// what `try_tick` hands out then, and the next tick after.
fn late_consumer(policy: MissedTick) -> (Vec<Duration>, Duration) {
    let clock = VirtualClock::install_manual();
    let start = clock.now();
    let mut t = Ticker::with_policy(SEC, policy);
    clock.advance(ms(3700));
    let mut at_once = Vec::new();
    while let Some(tick) = t.try_tick() {
        at_once.push(tick - start);
    }
    let next = t.next_tick().unwrap() - start;
    (at_once, next)
}

#[test]
fn ticker_drops_ticks_for_a_slow_consumer_like_go() {
    watchdog(|| {
        let (at_once, next) = late_consumer(MissedTick::Drop);
        assert_eq!(at_once, vec![SEC]); // the one buffered tick
        assert_eq!(next, 4 * SEC); // back on the grid
    });
}

#[test]
fn ticker_burst_delivers_every_missed_tick() {
    watchdog(|| {
        let (at_once, next) = late_consumer(MissedTick::Burst);
        assert_eq!(at_once, vec![SEC, 2 * SEC, 3 * SEC]);
        assert_eq!(next, 4 * SEC);
    });
}

#[test]
fn ticker_delay_restarts_the_schedule_from_the_late_tick() {
    watchdog(|| {
        let (at_once, next) = late_consumer(MissedTick::Delay);
        assert_eq!(at_once, vec![SEC]);
        assert_eq!(next, ms(4700));
    });
}

#[test]
fn ticker_skip_waits_for_the_next_multiple() {
    watchdog(|| {
        let (at_once, next) = late_consumer(MissedTick::Skip);
        assert!(at_once.is_empty());
        assert_eq!(next, 4 * SEC);
    });
}

#[test]
fn on_time_consumer_gets_every_tick_under_every_policy() {
    watchdog(|| {
        for policy in [MissedTick::Drop, MissedTick::Burst, MissedTick::Delay, MissedTick::Skip] {
            let clock = VirtualClock::install_manual();
            let start = clock.now();
            let mut t = Ticker::with_policy(SEC, policy);
            for k in 1..=5u32 {
                assert_eq!(t.try_tick(), None);
                clock.advance(SEC);
                assert_eq!(t.try_tick().map(|i| i - start), Some(SEC * k), "{policy:?}");
            }
        }
    });
}

#[test]
fn reset_and_stop_on_virtual_time() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let start = clock.now();
        let mut t = Ticker::new(SEC);
        clock.advance(ms(500));
        t.reset(2 * SEC); // next tick one new period from now
        assert_eq!(t.next_tick().map(|i| i - start), Some(ms(2500)));
        clock.advance(ms(2000));
        assert_eq!(t.try_tick().map(|i| i - start), Some(ms(2500)));
        t.stop();
        clock.advance(HOUR);
        assert_eq!(t.try_tick(), None);
    });
}

#[test]
fn an_hour_of_ticks_in_milliseconds_blocking() {
    watchdog(|| {
        let clock = VirtualClock::install();
        let start = clock.now();
        let mut t = Ticker::new(MIN);
        for k in 1..=60u32 {
            assert_eq!(t.tick_blocking() - start, MIN * k);
        }
        assert_eq!(clock.elapsed(), HOUR);
    });
}

#[test]
fn an_hour_of_ticks_in_milliseconds_async() {
    let clock = VirtualClock::install();
    let start = clock.now();
    let elapsed = block_on(async move {
        let mut t = Ticker::new(MIN);
        for k in 1..=60u32 {
            assert_eq!(t.tick().await - start, MIN * k);
        }
        time::now() - start
    });
    assert_eq!(elapsed, HOUR);
    common::assert_no_leaks();
}

#[test]
fn sleep_a_day_in_milliseconds() {
    let clock = VirtualClock::install();
    let start = clock.now();
    block_on_local(async { time::sleep(24 * HOUR).await });
    assert_eq!(clock.elapsed(), 24 * HOUR);
    watchdog(|| time::sleep_blocking(HOUR));
    assert_eq!(clock.now() - start, 25 * HOUR);
}

#[test]
fn virtual_time_helper_installs_and_uninstalls() {
    let real_before = Instant::now();
    let slept = time::virtual_time(|clock| {
        watchdog(|| time::sleep_blocking(10 * HOUR));
        clock.elapsed()
    });
    assert_eq!(slept, 10 * HOUR);
    // Real time again.
    assert!(time::now() < real_before + HOUR);
}

#[test]
fn context_deadline_fires_on_virtual_time() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let (ctx, _cancel) = Context::background().with_timeout(30 * SEC);
        clock.advance(29 * SEC);
        assert!(!ctx.wait_timeout_blocking(Duration::ZERO));
        clock.advance(SEC);
        ctx.wait_blocking();
        assert_eq!(ctx.err(), Some(tether::ctx::Error::DeadlineExceeded));
    });
}

#[test]
fn auto_advance_moves_time_only_when_idle() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let start = clock.now();
        // Two sleepers: time jumps to each deadline in turn. (Auto-advance
        // starts once both sleep: starting a thread is not clock activity,
        // so time could otherwise jump before the second one sleeps.)
        let (tx, rx) = mpsc::channel();
        let mut handles = Vec::new();
        for secs in [20u64, 10] {
            let tx = tx.clone();
            handles.push(std::thread::spawn(move || {
                time::sleep_blocking(Duration::from_secs(secs));
                tx.send(secs).unwrap();
            }));
        }
        while clock.pending_timers() < 2 {
            std::thread::yield_now();
        }
        clock.set_auto_advance(true);
        assert_eq!(rx.recv().unwrap(), 10);
        assert_eq!(rx.recv().unwrap(), 20);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(clock.now() - start, 20 * SEC);
        // No timer pending: time stays put.
        std::thread::sleep(ms(10));
        assert_eq!(clock.now() - start, 20 * SEC);
    });
    common::assert_no_leaks();
}

#[test]
fn manual_clock_does_not_move_by_itself() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let start = clock.now();
        let mut s = Box::pin(time::sleep(SEC));
        assert!(common::poll_once(&mut s).is_none());
        std::thread::sleep(ms(10));
        assert_eq!(clock.now(), start);
        assert_eq!(clock.next_timer(), Some(start + SEC));
        assert!(clock.advance_to_next_timer());
        assert_eq!(clock.now(), start + SEC);
        // The timer has fired (or is about to); the future completes.
        common::block_on_local(s);
    });
}

#[test]
fn switching_auto_advance_on_later() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        clock.set_quiet_period(ms(1));
        let (tx, rx) = mpsc::channel();
        let h = std::thread::spawn(move || {
            time::sleep_blocking(HOUR);
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(ms(20)).is_err()); // nothing moves time
        clock.set_auto_advance(true);
        rx.recv().unwrap();
        h.join().unwrap();
        assert_eq!(clock.elapsed(), HOUR);
    });
}

#[test]
fn tick_channel_holds_one_tick_for_a_slow_receiver_like_go() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let start = clock.now();
        let ticks = time::tick(SEC);
        clock.advance(ms(3500)); // the receiver was busy
        assert_eq!(ticks.recv_blocking().unwrap() - start, SEC); // the buffered tick
        // 2 s and 3 s were dropped; the next is back on the grid.
        while clock.next_timer() != Some(start + 4 * SEC) {
            std::thread::yield_now();
        }
        assert_eq!(ticks.try_recv(), Err(tether::chan::TryRecvError::Empty));
        clock.advance(ms(500));
        assert_eq!(ticks.recv_blocking().unwrap() - start, 4 * SEC);
        drop(ticks);
        clock.advance(SEC); // the chain notices nobody listens, and stops
        while clock.pending_timers() != 0 {
            std::thread::yield_now();
        }
    });
}

#[test]
fn sleep_after_an_async_tick_returns_while_the_ticker_lives() {
    // Issue 9: the tick was handed out by the path that found it already
    // due, and the ticker's fired sleep was never settled, so the clock
    // waited forever for a wake-up in flight.
    let clock = VirtualClock::install();
    let start = clock.now();
    let elapsed = block_on(async move {
        let mut ticker = Ticker::new(SEC);
        ticker.tick().await;
        time::sleep(SEC).await;
        let elapsed = time::now() - start;
        drop(ticker);
        elapsed
    });
    assert!(elapsed >= 2 * SEC);
    assert_eq!(clock.wakes_in_flight(), 0);
    drop(clock);
    common::assert_no_leaks();
}

#[test]
fn a_fired_sleep_kept_but_never_polled_again_slows_time_but_cannot_stop_it() {
    // A user's pinned sleep that fires while its task awaits something
    // else owes the clock a wake-up it never consumes; the clock waits for
    // it only a grace period.
    let clock = VirtualClock::install();
    let start = clock.now();
    block_on_local(async move {
        let mut held = Box::pin(time::sleep(SEC));
        std::future::poll_fn(|cx| {
            let _ = held.as_mut().poll(cx);
            std::task::Poll::Ready(())
        })
        .await;
        time::sleep(2 * SEC).await; // `held` fires meanwhile, unpolled
        assert_eq!(time::now() - start, 2 * SEC);
        drop(held);
    });
    assert_eq!(clock.wakes_in_flight(), 0, "dropping it settles its wake-up");
}
