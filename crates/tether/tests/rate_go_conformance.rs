//! Conformance with the behaviours Go's `x/time/rate` tests check, driven
//! by made-up instants (`allow_n(at, n)`, `reserve_n(at, n)`), so nothing
//! here sleeps. Waits on the clock are in `virtual_clock_rate.rs`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tether::rate::{Limit, Limiter, Reservation};

const D: Duration = Duration::from_millis(100);

/// Instants `t0 + k·D`.
struct Times(Instant);

impl Times {
    fn new() -> Times {
        Times(Instant::now())
    }
    fn t(&self, k: u32) -> Instant {
        self.0 + D * k
    }
    /// Multiples of D since t0 (rounded to the nearest, as Go's test
    /// helper swallows sub-millisecond noise).
    fn k(&self, at: Instant) -> u32 {
        ((at - self.0 + Duration::from_millis(1)).as_nanos() / D.as_nanos()) as u32
    }
}

fn lim(per_sec: f64, burst: usize) -> Limiter {
    Limiter::new(Limit::per_second(per_sec), burst)
}

/// Runs (at k, n, want) through `allow_n`.
fn run(ts: &Times, l: &Limiter, steps: &[(u32, usize, bool)]) {
    for (i, &(k, n, want)) in steps.iter().enumerate() {
        assert_eq!(l.allow_n(ts.t(k), n), want, "step {i}: allow_n(t{k}, {n})");
    }
}

/// Reserves n at t_k and checks (ok, act at t_act).
fn reserve<'a>(ts: &Times, l: &'a Limiter, k: u32, n: usize, act: u32, ok: bool) -> Reservation<'a> {
    let r = l.reserve_n(ts.t(k), n);
    assert_eq!(r.ok(), ok, "reserve_n(t{k}, {n}).ok()");
    if ok {
        assert_eq!(ts.k(r.time_to_act().unwrap()), act, "reserve_n(t{k}, {n}) acts at");
    }
    r
}

/// Like `reserve`, bounded by a maximum wait (Go's `reserveN` with
/// `maxFutureReserve`), expressed through a `wait`-free helper: a
/// reservation whose delay exceeds `max` is cancelled and reported not ok.
fn reserve_max(ts: &Times, l: &Limiter, k: u32, n: usize, max: Duration) -> Option<u32> {
    let before = l.tokens_at(ts.t(k));
    let r = l.reserve_n(ts.t(k), n);
    if !r.ok() {
        return None;
    }
    if r.delay_from(ts.t(k)) > max {
        r.cancel_at(ts.t(k));
        assert!((l.tokens_at(ts.t(k)) - before).abs() < 1e-9, "cancel restores a refused reservation");
        return None;
    }
    Some(ts.k(r.time_to_act().unwrap()))
}

#[test]
fn limit_every_matches_per_second() {
    let close = |a: Limit, b: f64| (a.events_per_second() / b - 1.0).abs() < 1e-9;
    assert_eq!(Limit::every(Duration::ZERO), Limit::INF);
    assert!(close(Limit::every(Duration::from_nanos(1)), 1e9));
    assert!(close(Limit::every(Duration::from_micros(1)), 1e6));
    assert!(close(Limit::every(Duration::from_millis(1)), 1e3));
    assert!(close(Limit::every(Duration::from_millis(10)), 100.0));
    assert!(close(Limit::every(D), 10.0));
    assert!(close(Limit::every(Duration::from_secs(1)), 1.0));
    assert!(close(Limit::every(Duration::from_secs(2)), 0.5));
    assert!(close(Limit::every(Duration::from_millis(2500)), 0.4));
    assert!(close(Limit::every(Duration::from_secs(4)), 0.25));
    assert!(close(Limit::every(Duration::from_secs(10)), 0.1));
    assert_ne!(Limit::per_second(10.0), Limit::INF);
    assert_eq!(Limit::per_second(f64::INFINITY), Limit::INF);
    assert_eq!(Limit::per_second(f64::MAX), Limit::INF);
}

#[test]
#[should_panic(expected = "zero or more events per second")]
fn limit_rejects_negative_rates() {
    let _ = Limit::per_second(-1.0);
}

#[test]
fn limiter_burst_1() {
    let ts = Times::new();
    let l = lim(10.0, 1);
    run(
        &ts,
        &l,
        &[
            (0, 1, true),
            (0, 1, false),
            (0, 1, false),
            (1, 1, true),
            (1, 1, false),
            (1, 1, false),
            (2, 2, false), // n above the burst never passes
            (2, 1, true),
            (2, 1, false),
        ],
    );
}

#[test]
fn limiter_burst_3() {
    let ts = Times::new();
    let l = lim(10.0, 3);
    run(
        &ts,
        &l,
        &[
            (0, 2, true),
            (0, 2, false),
            (0, 1, true),
            (0, 1, false),
            (1, 4, false),
            (2, 1, true),
            (3, 1, true),
            (4, 1, true),
            (4, 1, true),
            (4, 1, false),
            (4, 1, false),
            (9, 3, true),
            (9, 0, true),
        ],
    );
}

#[test]
fn limiter_jump_backwards() {
    let ts = Times::new();
    let l = lim(10.0, 3);
    run(
        &ts,
        &l,
        &[
            (1, 1, true), // start at t1
            (0, 1, true), // back to t0: the tokens of t1 remain (2)
            (0, 1, true),
            (0, 1, false),
            (0, 1, false),
            (1, 1, true), // one period later (from t0): a token
            (1, 1, false),
            (1, 1, false),
            (2, 1, true),
            (2, 1, false),
            (2, 1, false),
        ],
    );
}

#[test]
fn limiter_no_truncation_errors() {
    // A rate whose interval is not a whole number of nanoseconds.
    assert!(lim(0.7692307692307693, 1).allow());
}

#[test]
fn simultaneous_requests_grant_exactly_the_burst() {
    common::watchdog(|| {
        let l = Arc::new(lim(1.0, 5));
        let ok = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..15)
            .map(|_| {
                let (l, ok) = (l.clone(), ok.clone());
                std::thread::spawn(move || {
                    if l.allow() {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(ok.load(Ordering::Relaxed), 5);
    });
    common::assert_no_leaks();
}

#[test]
fn long_running_qps_with_injected_instants() {
    // Go runs 5 s of real time offering ~2000 req/s to a 100/s, burst 100
    // limiter. The same schedule with made-up instants: every 2 ms, four
    // threads race `allow_n` at the same instant (a barrier per step keeps
    // the instants in order, as a real clock would: Go's rules let a
    // request *earlier* than the last one move the bucket's clock back,
    // so skewed made-up instants would legitimately count tokens twice).
    // Never more than ideal + 1, and at least 99.9% of ideal.
    common::watchdog(|| {
        let l = Arc::new(lim(100.0, 100));
        let ok = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let step = Duration::from_millis(2);
        let steps = 2500u32; // 5 s
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (l, ok, barrier) = (l.clone(), ok.clone(), barrier.clone());
                std::thread::spawn(move || {
                    for i in 0..steps {
                        barrier.wait();
                        if l.allow_n(start + step * i, 1) {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let elapsed = step * (steps - 1);
        let ideal = 100.0 + 100.0 * elapsed.as_secs_f64();
        let got = ok.load(Ordering::Relaxed) as f64;
        assert!(got <= ideal + 1.0, "granted {got}, ideal {ideal}");
        assert!(got >= 0.999 * ideal - 4.0, "granted {got}, ideal {ideal}");
    });
}

#[test]
fn long_running_qps_single_thread_is_exact() {
    let l = lim(100.0, 100);
    let start = Instant::now();
    let granted = (0..2500u32).filter(|i| l.allow_n(start + Duration::from_millis(2) * *i, 1)).count();
    // 100 at once, then one per 10 ms over 4.998 s.
    assert_eq!(granted, 100 + 499);
}

#[test]
fn simple_reserve() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    reserve(&ts, &l, 0, 2, 2, true);
    reserve(&ts, &l, 3, 2, 4, true);
}

#[test]
fn zero_burst_reserves_nothing() {
    let ts = Times::new();
    let l = lim(10.0, 0);
    reserve(&ts, &l, 0, 2, 0, false);
    reserve(&ts, &l, 0, 2, 0, false);
    reserve(&ts, &l, 3, 2, 0, false);
    assert!(!l.allow_n(ts.t(5), 1));
    assert!(l.allow_n(ts.t(5), 0));
}

#[test]
fn mix_of_reserve_and_allow() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 0, 3, 1, false); // n above the burst
    reserve(&ts, &l, 0, 2, 0, true);
    run(&ts, &l, &[(1, 2, false)]); // not enough tokens
    reserve(&ts, &l, 1, 2, 2, true);
    run(&ts, &l, &[(1, 1, false)]); // in debt
    run(&ts, &l, &[(3, 1, true)]);
}

#[test]
fn cancel_invalid_has_no_effect() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    let r = reserve(&ts, &l, 0, 3, 3, false);
    assert_eq!(r.delay_from(ts.t(0)), Duration::MAX);
    r.cancel_at(ts.t(0));
    reserve(&ts, &l, 0, 2, 2, true); // no extra tokens
}

#[test]
fn cancel_last_gives_all_tokens_back() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    let r = reserve(&ts, &l, 0, 2, 2, true);
    r.cancel_at(ts.t(1)); // 2 tokens back
    reserve(&ts, &l, 1, 2, 2, true);
}

#[test]
fn cancel_too_late_has_no_effect() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    let r = reserve(&ts, &l, 0, 2, 2, true);
    r.cancel_at(ts.t(3)); // past its time to act
    reserve(&ts, &l, 3, 2, 4, true);
}

#[test]
fn cancel_0_tokens_when_a_later_reservation_depends_on_them() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    let r = reserve(&ts, &l, 0, 1, 1, true);
    reserve(&ts, &l, 0, 1, 2, true);
    r.cancel_at(ts.t(0)); // the later one depends on r's token: none back
    reserve(&ts, &l, 0, 1, 3, true);
}

#[test]
fn cancel_1_token() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    let r = reserve(&ts, &l, 0, 2, 2, true);
    reserve(&ts, &l, 0, 1, 3, true);
    r.cancel_at(ts.t(2)); // one of r's two tokens back
    reserve(&ts, &l, 2, 2, 4, true);
}

#[test]
fn cancel_multi() {
    let ts = Times::new();
    let l = lim(10.0, 4);
    reserve(&ts, &l, 0, 4, 0, true);
    let a = reserve(&ts, &l, 0, 3, 3, true);
    reserve(&ts, &l, 0, 1, 4, true);
    let c = reserve(&ts, &l, 0, 1, 5, true);
    c.cancel_at(ts.t(1)); // 1 back
    a.cancel_at(ts.t(1)); // 2 back, as if c had never been reserved
    reserve(&ts, &l, 1, 3, 5, true);
}

#[test]
fn cancel_twice_gives_back_once() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    let r = reserve(&ts, &l, 0, 2, 2, true);
    r.cancel_at(ts.t(0));
    r.cancel_at(ts.t(0));
    assert!((l.tokens_at(ts.t(0)) - 0.0).abs() < 1e-9);
}

#[test]
fn reserve_jump_back() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 1, 2, 1, true); // start at t1
    reserve(&ts, &l, 0, 1, 1, true); // back to t0: sees t1's bucket
    reserve(&ts, &l, 2, 2, 3, true);
}

#[test]
fn reserve_jump_back_cancel() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    reserve(&ts, &l, 1, 2, 1, true);
    let r = reserve(&ts, &l, 1, 2, 3, true);
    reserve(&ts, &l, 1, 1, 4, true);
    r.cancel_at(ts.t(0)); // one token back
    reserve(&ts, &l, 1, 2, 4, true);
}

#[test]
fn reserve_set_limit() {
    let ts = Times::new();
    let l = lim(5.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    reserve(&ts, &l, 0, 2, 4, true);
    l.set_limit_at(ts.t(2), Limit::per_second(10.0));
    assert_eq!(l.limit(), Limit::per_second(10.0));
    reserve(&ts, &l, 2, 1, 4, true); // the debt is repaid at the new rate
}

#[test]
fn reserve_set_burst() {
    let ts = Times::new();
    let l = lim(5.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    reserve(&ts, &l, 0, 2, 4, true);
    l.set_burst_at(ts.t(3), 4);
    assert_eq!(l.burst(), 4);
    reserve(&ts, &l, 0, 4, 9, true);
}

#[test]
fn reserve_set_limit_cancel() {
    let ts = Times::new();
    let l = lim(5.0, 2);
    reserve(&ts, &l, 0, 2, 0, true);
    let r = reserve(&ts, &l, 0, 2, 4, true);
    l.set_limit_at(ts.t(2), Limit::per_second(10.0));
    r.cancel_at(ts.t(2)); // 2 tokens back
    reserve(&ts, &l, 2, 2, 3, true);
}

#[test]
fn reserve_max_wait() {
    let ts = Times::new();
    let l = lim(10.0, 2);
    assert_eq!(reserve_max(&ts, &l, 0, 2, D), Some(0));
    assert_eq!(reserve_max(&ts, &l, 0, 1, D), Some(1)); // close enough
    assert_eq!(reserve_max(&ts, &l, 0, 1, D), None); // too far in the future
}

#[test]
fn zero_limit_allows_the_initial_burst_only() {
    let l = Limiter::new(Limit::ZERO, 1);
    assert!(l.allow());
    assert!(!l.allow());
    let ts = Times::new();
    assert!(!l.allow_n(ts.t(1000), 1)); // no refill, ever
    assert!(!l.reserve_n(ts.t(1000), 1).ok()); // never available: refused
}

#[test]
fn set_limit_after_zero_limit() {
    let ts = Times::new();
    let l = Limiter::new(Limit::ZERO, 1);
    reserve(&ts, &l, 0, 1, 0, true); // starts full
    reserve(&ts, &l, 0, 1, 0, false); // empty, and never refills
    l.set_limit_at(ts.t(1), Limit::per_second(10.0));
    reserve(&ts, &l, 1, 1, 2, true); // a token every 100 ms from t1
}

#[test]
fn set_limit_keeps_earned_tokens() {
    let ts = Times::new();
    let l = lim(10.0, 10);
    assert!(l.allow_n(ts.t(0), 10));
    // 0.5 s at 10/s: 5 tokens earned, then the rate drops to zero.
    l.set_limit_at(ts.t(5), Limit::ZERO);
    assert!((l.tokens_at(ts.t(100)) - 5.0).abs() < 1e-9);
    assert!(l.allow_n(ts.t(100), 5));
    assert!(!l.allow_n(ts.t(100), 1));
    // And back: earned tokens (none) kept, refill from the switch.
    l.set_limit_at(ts.t(100), Limit::per_second(10.0));
    assert!((l.tokens_at(ts.t(102)) - 2.0).abs() < 1e-9);
}

#[test]
fn set_burst_keeps_earned_tokens_up_to_the_new_size() {
    let ts = Times::new();
    let l = lim(10.0, 5);
    assert!(l.allow_n(ts.t(0), 5));
    l.set_burst_at(ts.t(3), 10); // 3 tokens earned so far
    assert!((l.tokens_at(ts.t(3)) - 3.0).abs() < 1e-9);
    assert!((l.tokens_at(ts.t(20)) - 10.0).abs() < 1e-9); // fills to the new size
    l.set_burst_at(ts.t(20), 2);
    assert!((l.tokens_at(ts.t(20)) - 2.0).abs() < 1e-9); // capped from then on
    assert!(!l.allow_n(ts.t(20), 3));
    assert!(l.allow_n(ts.t(20), 2));
}

#[test]
fn inf_allows_everything_ignoring_burst() {
    let ts = Times::new();
    let l = Limiter::new(Limit::INF, 0);
    for k in 0..10 {
        assert!(l.allow_n(ts.t(0), 1000 * k));
    }
    assert!(l.allow());
    let r = l.reserve_n(ts.t(0), 1_000_000);
    assert!(r.ok());
    assert_eq!(r.delay_from(ts.t(0)), Duration::ZERO);
    assert_eq!(l.tokens_at(ts.t(0)), 0.0); // reports the burst
}

#[test]
fn set_limit_from_inf_starts_full() {
    let ts = Times::new();
    let l = Limiter::new(Limit::INF, 3);
    assert!(l.allow_n(ts.t(0), 100));
    l.set_limit_at(ts.t(1), Limit::per_second(10.0));
    assert!(l.allow_n(ts.t(1), 3));
    assert!(!l.allow_n(ts.t(1), 1));
}

#[test]
fn tokens_at_counts_debt_and_refill() {
    let ts = Times::new();
    let l = lim(10.0, 3);
    assert!((l.tokens_at(ts.t(0)) - 3.0).abs() < 1e-9); // starts full
    let _r = l.reserve_n(ts.t(0), 3);
    let _r = l.reserve_n(ts.t(0), 2);
    assert!((l.tokens_at(ts.t(0)) + 2.0).abs() < 1e-9); // in debt
    assert!((l.tokens_at(ts.t(1)) + 1.0).abs() < 1e-9);
    assert!((l.tokens_at(ts.t(4)) - 2.0).abs() < 1e-9);
    assert!((l.tokens_at(ts.t(50)) - 3.0).abs() < 1e-9); // capped
}

#[test]
fn reservation_delay_and_time_to_act() {
    let ts = Times::new();
    let l = lim(10.0, 1);
    let r = l.reserve_n(ts.t(0), 1);
    assert_eq!(r.delay_from(ts.t(0)), Duration::ZERO);
    let r = l.reserve_n(ts.t(0), 1);
    assert_eq!(r.tokens(), 1);
    assert_eq!(r.delay_from(ts.t(0)), D);
    assert_eq!(r.delay_from(ts.t(5)), Duration::ZERO);
    assert_eq!(r.time_to_act(), Some(ts.t(1)));
}

#[test]
fn awkward_rates_never_over_grant() {
    // Rates whose interval is not a whole number of time units: over many
    // periods the count stays within one token of the ideal. (A burst
    // above 1, so that polling at discrete steps loses nothing to the cap.)
    for per_sec in [3.0, 7.0, 0.3, 1e8 / 3.0] {
        let l = lim(per_sec, 5);
        let t0 = Instant::now();
        let span = Duration::from_secs_f64(1000.0 / per_sec);
        let step = span / 10_000;
        let granted = (0..=10_000u32).filter(|i| l.allow_n(t0 + step * *i, 1)).count();
        let ideal = 5.0 + per_sec * (step * 10_000).as_secs_f64();
        assert!((granted as f64 - ideal).abs() <= 1.5, "{per_sec}/s: {granted} vs {ideal}");
    }
}

#[test]
fn limiter_is_send_sync_and_debug() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Limiter>();
    is_send_sync::<Reservation<'static>>();
    let l = lim(1.0, 1);
    assert!(format!("{l:?}").contains("burst: 1"));
}

#[test]
fn wait_and_tick_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let l = lim(1.0, 1);
    let ctx = tether::Context::background();
    let w = l.wait(&ctx);
    assert_send(&w);
    let wn = l.wait_n(&ctx, 1);
    assert_send(&wn);
    let mut t = tether::time::Ticker::new(Duration::from_secs(1));
    let tick = t.tick();
    assert_send(&tick);
    drop(tick);
    assert_send(&tether::time::sleep(Duration::from_secs(1)));
    fn assert_error<E: std::error::Error + Send + Sync + Eq + 'static>() {}
    assert_error::<tether::rate::WaitError>();
    assert_eq!(
        tether::rate::WaitError::ExceedsBurst { n: 4, burst: 3 }.to_string(),
        "rate: cannot wait for 4 tokens, more than the limiter's burst of 3"
    );
}
