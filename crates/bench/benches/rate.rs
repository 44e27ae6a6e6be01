//! rate benchmarks: tether's `Limiter::allow()` beside governor's
//! `check()` (with its default TSC clock, quanta, and with its std
//! `Instant` clock, which is what tether reads), on one thread and two,
//! for a limiter that grants every call and one that refuses almost every
//! call. Plus the cost of a `Ticker` tick. Run with `bench/run rate`.
//!
//! Go's `x/time/rate` is not in Go's standard library and cannot be fetched
//! here (no module proxy), so Go has no column; its `Allow` takes a mutex on
//! every call, granted or refused.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use governor::clock::{Clock, MonotonicClock, QuantaClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tether::rate::{Limit, Limiter};
use tether_bench::Table;

type Gov<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Runs `f` on `threads` threads at once, `n` calls each, and returns when
/// all are done. The helper threads persist across measurements (a thread
/// spawn would dwarf short runs); the calling thread is one of the gang.
struct Gang {
    start: Arc<Barrier>,
    end: Arc<Barrier>,
    n: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    helpers: Vec<std::thread::JoinHandle<()>>,
}

impl Gang {
    fn new(threads: usize, f: Arc<dyn Fn() + Send + Sync>) -> Gang {
        let start = Arc::new(Barrier::new(threads));
        let end = Arc::new(Barrier::new(threads));
        let n = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let helpers = (1..threads)
            .map(|_| {
                let (start, end, n, stop, f) = (start.clone(), end.clone(), n.clone(), stop.clone(), f.clone());
                std::thread::spawn(move || {
                    loop {
                        start.wait();
                        if stop.load(Relaxed) {
                            return;
                        }
                        for _ in 0..n.load(Relaxed) {
                            f();
                        }
                        end.wait();
                    }
                })
            })
            .collect();
        Gang { start, end, n, stop, helpers }
    }

    fn run(&self, n: u64, f: &dyn Fn()) {
        self.n.store(n, Relaxed);
        self.start.wait();
        for _ in 0..n {
            f();
        }
        self.end.wait();
    }
}

impl Drop for Gang {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        self.start.wait();
        for h in self.helpers.drain(..) {
            h.join().unwrap();
        }
    }
}

fn bench_threads(t: &mut Table, case: &str, column: &str, threads: usize, f: impl Fn() + Send + Sync + 'static) {
    let f: Arc<dyn Fn() + Send + Sync> = Arc::new(f);
    let gang = Gang::new(threads, f.clone());
    t.bench(case, column, |n| gang.run(n, &*f));
}

fn main() {
    let mut t = Table::new(
        "rate: allow() per call, ns (2 threads: wall time per call per thread)",
        &["governor (quanta clock)", "governor (std clock)"],
    );

    // A limiter that grants every call without being "infinite": 1e8
    // tokens/s with a burst as deep, so each call finds tokens and commits
    // (the bucket arithmetic and the CAS run on every call).
    let fast = 100_000_000u32;
    // One that refuses almost every call (Go's BenchmarkAllowN: every 1 s,
    // burst 1): the read-only path.
    for (kind, tether_limit, burst, quota) in [
        ("granted", Limit::per_second(fast as f64), fast as usize, Quota::per_second(NonZeroU32::new(fast).unwrap())),
        ("refused", Limit::every(Duration::from_secs(1)), 1, Quota::per_second(NonZeroU32::new(1).unwrap())),
    ] {
        for threads in [1usize, 2] {
            let case = format!("allow(), {kind}, {threads} thread{}", if threads > 1 { "s" } else { "" });
            let lim = Arc::new(Limiter::new(tether_limit, burst));
            bench_threads(&mut t, &case, "tether", threads, move || {
                black_box(lim.allow());
            });
            let gq: Arc<Gov<QuantaClock>> = Arc::new(RateLimiter::direct_with_clock(quota, QuantaClock::default()));
            bench_threads(&mut t, &case, "governor (quanta clock)", threads, move || {
                black_box(gq.check().is_ok());
            });
            let gm: Arc<Gov<MonotonicClock>> = Arc::new(RateLimiter::direct_with_clock(quota, MonotonicClock));
            bench_threads(&mut t, &case, "governor (std clock)", threads, move || {
                black_box(gm.check().is_ok());
            });
        }
    }

    // The bucket arithmetic alone, with the instant given (Go's AllowN):
    // what allow() costs on top of reading the clock.
    let lim = Limiter::new(Limit::every(Duration::from_secs(1)), 1);
    let at = Instant::now();
    lim.allow_n(at, 1);
    t.bench("allow_n(at, 1), refused, instant given (no clock read)", "tether", |n| {
        for _ in 0..n {
            black_box(lim.allow_n(black_box(at), 1));
        }
    });
    let lim = Limiter::new(Limit::per_second(fast as f64), fast as usize);
    let mut at = Instant::now();
    t.bench("allow_n(at, 1), granted, instant given (no clock read)", "tether", |n| {
        for _ in 0..n {
            at += Duration::from_nanos(1);
            black_box(lim.allow_n(black_box(at), 1));
        }
    });

    // The clock read alone, for scale: tether's allow() reads it once.
    t.bench("clock read (tether::time::now())", "tether", |n| {
        for _ in 0..n {
            black_box(tether::time::now());
        }
    });
    t.bench("clock read (tether::time::now())", "governor (std clock)", |n| {
        for _ in 0..n {
            black_box(MonotonicClock.now());
        }
    });
    t.bench("clock read (tether::time::now())", "governor (quanta clock)", |n| {
        let c = QuantaClock::default();
        for _ in 0..n {
            black_box(c.now());
        }
    });
    t.print();

    let mut t = Table::new(
        "time: Ticker overhead per tick, ns (ticks already due, Burst policy: tokio's `interval` default)",
        &["tokio"],
    );
    // A 1 ns period with the Burst policy: every call finds a tick due.
    let mut ticker = tether::time::Ticker::with_policy(Duration::from_nanos(1), tether::time::MissedTick::Burst);
    std::thread::sleep(Duration::from_millis(1));
    t.bench("take a tick that is due", "tether", |n| {
        for _ in 0..n {
            black_box(ticker.try_tick());
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let mut interval = rt.block_on(async { tokio::time::interval(Duration::from_nanos(1)) });
    std::thread::sleep(Duration::from_millis(1));
    t.bench("take a tick that is due", "tokio", |n| {
        rt.block_on(async {
            for _ in 0..n {
                black_box(interval.tick().await);
            }
        })
    });
    t.print();
}
