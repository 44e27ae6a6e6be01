//! The virtual clock drives every read of tether's clock through the same
//! seam as the fast real-time source: `time::now()`, deadlines, sleeps and
//! the rate limiter's `allow()` (which reads the clock its own, cheaper
//! way). Its own test binary: a virtual clock switches the whole process.

mod common;

use std::time::{Duration, Instant};

use common::watchdog;
use tether::Context;
use tether::rate::{Limit, Limiter};
use tether::time::{self, VirtualClock};

const SEC: Duration = Duration::from_secs(1);

#[test]
fn virtual_time_goes_through_the_seam() {
    watchdog(|| {
        let clock = VirtualClock::install_manual();
        let start = clock.now();
        assert_eq!(time::now(), start, "virtual time stands still until advanced");
        clock.advance(3600 * SEC);
        assert_eq!(time::now() - start, 3600 * SEC, "and moves exactly as advanced");

        // Deadlines computed from a virtual instant fire at it exactly.
        let (ctx, _c) = Context::background().with_deadline(clock.now() + 10 * SEC);
        assert_eq!(clock.next_timer(), ctx.deadline());
        clock.advance(10 * SEC - Duration::from_nanos(1));
        assert!(!ctx.wait_timeout_blocking(Duration::ZERO));
        clock.advance(Duration::from_nanos(1));
        ctx.wait_blocking();

        // The limiter's allow() reads virtual time too.
        let lim = Limiter::new(Limit::per_second(1.0), 1);
        assert!(lim.allow());
        assert!(!lim.allow());
        clock.advance(SEC / 2);
        assert!(!lim.allow());
        clock.advance(SEC / 2);
        assert!(lim.allow(), "a second of virtual time earned a token");
        drop(ctx);
        drop(clock);

        // Real time again: the real reading, not the virtual one an hour on.
        let real = Instant::now();
        assert!(time::now().saturating_duration_since(real) < SEC);
        assert!(real.saturating_duration_since(time::now()) < SEC);
    });
}

#[test]
fn auto_advance_with_many_timers_fires_them_in_order() {
    watchdog(|| {
        let clock = VirtualClock::install();
        let start = clock.now();
        let contexts: Vec<_> = (1..=50u32).rev().map(|i| Context::background().with_timeout(SEC * i)).collect();
        let last = &contexts[0].0;
        last.wait_blocking();
        assert_eq!(clock.now() - start, 50 * SEC);
        assert!(contexts.iter().all(|(c, _)| c.is_done()));
    });
}
