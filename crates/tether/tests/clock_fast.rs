//! tether's real-time clock (the TSC-driven source behind
//! `tether::time::now()`, or std's clock where the TSC won't do): it never
//! goes backwards across threads, its readings mix with `Instant::now()`'s,
//! and deadlines a caller computes from `Instant::now()` are never reached
//! early. No timed assertions: each check holds however the threads are
//! scheduled (a bound of 100 µs is far above the few tens of ns the clock
//! strays from std's; see `examples/clock_drift.rs`).

mod common;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{block_on, watchdog};
use tether::Context;
use tether::time::{self, Ticker};

const BOUND: Duration = Duration::from_micros(100);

#[test]
fn now_never_goes_back_across_threads() {
    watchdog(|| {
        let origin = Instant::now();
        let latest = Arc::new(AtomicU64::new(0));
        let start = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (latest, start) = (latest.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..100_000 {
                        let before = latest.load(SeqCst);
                        let mine = time::now().saturating_duration_since(origin).as_nanos() as u64;
                        assert!(mine >= before, "read {mine} ns after another thread had read {before} ns");
                        latest.fetch_max(mine, SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn readings_sit_between_std_readings() {
    for _ in 0..100_000 {
        let before = Instant::now();
        let mine = time::now();
        let after = Instant::now();
        assert!(mine + BOUND >= before, "{:?} behind std", before - mine);
        assert!(mine <= after + BOUND, "{:?} ahead of std", mine - after);
    }
}

#[test]
fn instants_mix_both_ways() {
    let ours = time::now();
    let std = Instant::now();
    // Subtraction either way is fine (no panic), and tiny.
    assert!(std.saturating_duration_since(ours) < Duration::from_secs(1));
    assert!(ours.saturating_duration_since(std) < BOUND);
    let deadline = ours + Duration::from_millis(5);
    assert!(deadline > std);
}

#[test]
fn a_deadline_of_now_by_std_is_done_at_once() {
    for _ in 0..1_000 {
        let (ctx, _c) = Context::background().with_deadline(Instant::now());
        assert!(ctx.is_done(), "a deadline already reached by Instant::now() is done at once");
        assert_eq!(ctx.err(), Some(tether::ctx::Error::DeadlineExceeded));
    }
}

#[test]
fn deadlines_from_instant_now_are_never_reached_early() {
    watchdog(|| {
        for i in 0..40u64 {
            // Deadlines a little ahead, so that some are reached while the
            // fast clock and std's are within nanoseconds of them.
            let at = Instant::now() + Duration::from_micros(50 + 37 * i);
            match i % 4 {
                0 => {
                    let (ctx, _c) = Context::background().with_deadline(at);
                    ctx.wait_blocking();
                }
                1 => time::sleep_until_blocking(at),
                2 => {
                    let (ctx, _c) = Context::background().with_deadline(at);
                    while !ctx.is_done() {
                        std::hint::spin_loop();
                    }
                }
                _ => {
                    let mut sleep = time::sleep_until(at);
                    while common::poll_once(&mut sleep).is_none() {
                        std::hint::spin_loop();
                    }
                }
            }
            assert!(Instant::now() >= at, "case {i}: reached {:?} early", at - Instant::now());
        }
    });
}

#[test]
fn async_sleeps_and_ticks_end_after_their_instants_by_std() {
    block_on(async {
        for _ in 0..10 {
            let at = Instant::now() + Duration::from_micros(300);
            time::sleep_until(at).await;
            assert!(Instant::now() >= at);
        }
        let mut ticker = Ticker::new(Duration::from_micros(500));
        for _ in 0..10 {
            let tick = ticker.tick().await;
            assert!(Instant::now() >= tick, "a tick handed out before its instant");
        }
    });
}

#[test]
fn ticks_on_threads_end_after_their_instants_by_std() {
    let mut ticker = Ticker::new(Duration::from_micros(400));
    for _ in 0..10 {
        let tick = ticker.tick_blocking();
        assert!(Instant::now() >= tick, "a tick handed out before its instant");
    }
}

#[test]
fn the_source_is_named_and_std_can_be_forced() {
    assert!(["tsc", "std"].contains(&time::clock_source()));
    if std::env::var_os("TETHER_CLOCK_PROBE").is_some() {
        return; // the child below
    }
    // A child process with TETHER_CLOCK=std runs the checks above on
    // std's clock.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "probe_std_source", "--nocapture"])
        .env("TETHER_CLOCK", "std")
        .env("TETHER_CLOCK_PROBE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

#[test]
fn probe_std_source() {
    if std::env::var_os("TETHER_CLOCK_PROBE").is_none() {
        return; // run by the test above, in a child process
    }
    assert_eq!(time::clock_source(), "std");
    readings_sit_between_std_readings();
    let mut last = time::now();
    for _ in 0..10_000 {
        let now = time::now();
        assert!(now >= last);
        last = now;
    }
}
