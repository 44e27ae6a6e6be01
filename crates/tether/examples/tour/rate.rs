//! The rate story: a client that must stay under an API's rate limit, with
//! bursts; a ticker; and an hour-long schedule run on the virtual clock in
//! a few milliseconds.

use std::time::{Duration, Instant};

use tether::Context;
use tether::rate::{Limit, Limiter, WaitError};
use tether::time::{MissedTick, Ticker, VirtualClock};

pub fn run() {
    // An API allows 200 requests per second with bursts of 5. A client
    // sends 10 requests as fast as the limiter lets it: the first 5 go at
    // once (the bucket starts full), then one every 5 ms.
    let lim = Limiter::new(Limit::per_second(200.0), 5);
    let ctx = Context::background();
    let start = Instant::now();
    let mut sent = Vec::new();
    for _ in 0..10 {
        lim.wait_blocking(&ctx).expect("no deadline, burst large enough");
        sent.push(start.elapsed().as_millis());
    }
    println!("   10 requests under 200/s, burst 5, sent at (ms): {sent:?}");

    // Requests that would rather be dropped than delayed use allow():
    // a spike of 20 finds the bucket empty after the burst.
    std::thread::sleep(Duration::from_millis(25)); // refill the bucket
    let passed = (0..20).filter(|_| lim.allow()).count();
    println!("   a spike of 20 with allow(): {passed} pass, {} dropped", 20 - passed);

    // A deadline the tokens cannot meet fails at once, without sleeping.
    let (short, _cancel) = Context::background().with_timeout(Duration::from_millis(1));
    match lim.wait_n_blocking(&short, 5) {
        Err(e @ WaitError::WouldExceedDeadline { .. }) => println!("   wait_n(5) with a 1 ms deadline: {e}"),
        other => println!("   wait_n(5) with a 1 ms deadline: {other:?}"),
    }

    // A ticker on a plain thread: ticks on a fixed grid.
    let mut ticker = Ticker::new(Duration::from_millis(2));
    let t0 = ticker.tick_blocking();
    let gaps: Vec<_> = (0..3).map(|_| (ticker.tick_blocking() - t0).as_millis()).collect();
    println!("   a 2 ms ticker: ticks at +{gaps:?} ms after the first");

    // An hour on the virtual clock: a report every 10 minutes, and a
    // limiter of 4 calls per hour that a busy job keeps waiting on.
    let real = Instant::now();
    let clock = VirtualClock::install();
    let begin = clock.now();
    let mut report = Ticker::with_policy(Duration::from_secs(600), MissedTick::Burst);
    let hourly = Limiter::new(Limit::per_hour(4.0), 1);
    let mut calls = Vec::new();
    let mut reports = 0;
    while clock.elapsed() < Duration::from_secs(3600) {
        report.tick_blocking();
        reports += 1;
        if hourly.allow() {
            calls.push(clock.elapsed().as_secs() / 60);
        }
    }
    let virtual_elapsed = clock.now() - begin;
    drop(clock);
    println!(
        "   virtual hour: {reports} reports, limited calls at minutes {calls:?}; {:.0?} virtual in {:.1?} real",
        virtual_elapsed,
        real.elapsed()
    );
}
