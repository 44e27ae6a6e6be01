//! Measures how far tether's fast clock (`tether::time::now()`) strays
//! from std's `Instant::now()` over a long run: the bound the clock's docs
//! state comes from this.
//!
//! ```sh
//! cargo run --release --example clock_drift -- 600   # ten minutes
//! ```
//!
//! Two threads read `(std, tether, std)` triples — in bursts, between
//! pauses of 1–50 ms (so that the clock also catches up after idling) —
//! and keep the worst lead of tether's reading over the later std reading
//! and the worst lag behind the earlier one (0: always between the two),
//! and, over brackets of at most 100 ns, the extremes of its offset from
//! their midpoint (half the bracket is the precision of that). A triple whose two std readings
//! are more than 2 µs apart (the thread was interrupted) says nothing and
//! is skipped. Prints a line per 10 s and the totals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Worst {
    lead: AtomicU64,
    lag: AtomicU64,
    /// Offsets from the midpoint, ns: the most ahead, the most behind.
    ahead: AtomicU64,
    behind: AtomicU64,
    samples: AtomicU64,
    skipped: AtomicU64,
}

fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    println!("clock source: {}; measuring for {secs} s", tether::time::clock_source());
    let worst = Arc::new(Worst::default());
    let period = Arc::new(Worst::default());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|k| {
            let (worst, period, stop) = (worst.clone(), period.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut pause = 1 + k as u64;
                while !stop.load(Relaxed) {
                    for _ in 0..1_000 {
                        let s1 = Instant::now();
                        let f = tether::time::now();
                        let s2 = Instant::now();
                        if s2 - s1 > Duration::from_micros(2) {
                            worst.skipped.fetch_add(1, Relaxed);
                            continue;
                        }
                        let lead = f.saturating_duration_since(s2).as_nanos() as u64;
                        let lag = s1.saturating_duration_since(f).as_nanos() as u64;
                        // Only a tight bracket (<= 100 ns) places the reading
                        // precisely against its midpoint.
                        let tight = s2 - s1 <= Duration::from_nanos(100);
                        let mid = s1 + (s2 - s1) / 2;
                        let ahead = if tight { f.saturating_duration_since(mid).as_nanos() as u64 } else { 0 };
                        let behind = if tight { mid.saturating_duration_since(f).as_nanos() as u64 } else { 0 };
                        for w in [&*worst, &*period] {
                            w.lead.fetch_max(lead, Relaxed);
                            w.lag.fetch_max(lag, Relaxed);
                            w.ahead.fetch_max(ahead, Relaxed);
                            w.behind.fetch_max(behind, Relaxed);
                            w.samples.fetch_add(1, Relaxed);
                        }
                    }
                    pause = pause * 7 % 50 + 1;
                    std::thread::sleep(Duration::from_millis(pause));
                }
            })
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(10).min(Duration::from_secs(secs)));
        println!(
            "{:>5.0} s: worst lead {:>5} ns, worst lag {:>5} ns; offset from midpoint +{} / -{} ns; {} samples",
            start.elapsed().as_secs_f64(),
            period.lead.swap(0, Relaxed),
            period.lag.swap(0, Relaxed),
            period.ahead.swap(0, Relaxed),
            period.behind.swap(0, Relaxed),
            period.samples.swap(0, Relaxed)
        );
    }
    stop.store(true, Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "total: worst lead {} ns, worst lag {} ns; offset from midpoint +{} / -{} ns; {} samples ({} skipped: interrupted)",
        worst.lead.load(Relaxed),
        worst.lag.load(Relaxed),
        worst.ahead.load(Relaxed),
        worst.behind.load(Relaxed),
        worst.samples.load(Relaxed),
        worst.skipped.load(Relaxed)
    );
}
