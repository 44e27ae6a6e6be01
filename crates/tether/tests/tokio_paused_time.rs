//! tether under tokio's paused time (`tokio::time::pause()`,
//! `#[tokio::test(start_paused = true)]`): exactly what works and what does
//! not, as `VirtualClock`'s docs ("tokio's paused time") state.
//!
//! - Works: everything in tether that does not read a clock (channels,
//!   select, contexts cancelled by hand, groups, WaitGroup), and tokio's own
//!   timers *around* tether futures (`tokio::time::timeout(d, rx.recv())`
//!   auto-advances as it does around any future).
//! - Does not: tether's clock. tether's deadlines, sleeps, tickers and
//!   limiters keep real time; `tokio::time::advance` does not move them, and
//!   tokio's auto-advance jumps to its own next timer without waiting for
//!   tether's. For tether code on virtual time, use
//!   `tether::time::synctest_async` (tests/synctest.rs) with tokio's clock
//!   unpaused.
//!
//! Nothing here installs tether's virtual clock, so the real-time
//! assertions below cannot be disturbed by another test of this binary.

mod common;

use std::future::Future;
use std::time::Duration;

use common::{assert_no_leaks, watchdog};
use tether::{Context, chan, group::Group, sync::WaitGroup};

const HOUR: Duration = Duration::from_secs(3600);

/// Runs `f` on a current-thread runtime whose clock starts paused (what
/// `#[tokio::test(start_paused = true)]` builds), under the watchdog.
fn paused<F: Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send + 'static,
{
    watchdog(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(f)
    })
}

#[test]
fn channels_groups_and_hand_cancelled_contexts_work_under_paused_time() {
    let sum = paused(async {
        let (ctx, cancel) = Context::background().with_cancel();
        let (tx, rx) = chan::bounded::<u64>(0);
        let wg = WaitGroup::new();
        let group: Group<std::convert::Infallible> = Group::new();
        wg.add(1);
        let producer_wg = wg.clone();
        group
            .spawn(async move {
                for i in 1..=10 {
                    // tokio's paused clock jumps over these hours at once.
                    tokio::time::sleep(HOUR).await;
                    tx.send(i).await.unwrap();
                }
                producer_wg.done();
                Ok(())
            })
            .await;
        let consumer_ctx = ctx.clone();
        group
            .spawn(async move {
                consumer_ctx.done().await;
                Ok(())
            })
            .await;
        let mut sum = 0;
        while let Ok(v) = rx.recv().await {
            sum += v;
        }
        wg.wait().await;
        cancel.cancel();
        group.wait().await.unwrap();
        sum
    });
    assert_eq!(sum, 55);
    assert_no_leaks();
}

#[test]
fn tokio_timeouts_around_tether_futures_auto_advance() {
    let (got, ctx_wait) = paused(async {
        let (_tx, rx) = chan::bounded::<u8>(1);
        // Nobody sends: tokio's clock jumps to the timeout at once.
        let got = tokio::time::timeout(HOUR, rx.recv()).await;
        let (ctx, _cancel) = Context::background().with_cancel();
        let ctx_wait = tokio::time::timeout(HOUR, ctx.done()).await;
        (got.is_err(), ctx_wait.is_err())
    });
    assert!(got, "a receive with no sender must time out on tokio's clock");
    assert!(ctx_wait, "a context nobody cancels must time out on tokio's clock");
    assert_no_leaks();
}

#[test]
fn tokio_advance_does_not_move_tether_deadlines_or_tethers_clock() {
    paused(async {
        let (ctx, _cancel) = Context::background().with_timeout(HOUR);
        let tether_before = tether::time::now();
        let tokio_before = tokio::time::Instant::now();
        tokio::time::advance(2 * HOUR).await;
        assert!(tokio::time::Instant::now() - tokio_before >= 2 * HOUR);
        assert!(tether::time::now() - tether_before < HOUR, "tether's clock followed tokio's paused clock");
        assert!(!ctx.is_done(), "a tether deadline fired on tokio's paused clock");
        assert!(ctx.deadline().unwrap() > tether::time::now());
    });
    assert_no_leaks();
}

#[test]
fn tokio_auto_advance_jumps_past_a_pending_tether_sleep() {
    let winner = paused(async {
        tokio::select! {
            _ = tether::time::sleep(HOUR) => "tether",
            _ = tokio::time::sleep(2 * HOUR) => "tokio",
        }
    });
    // tokio saw no timer of its own before two hours, so it jumped there;
    // tether's one-hour sleep (real time) had not fired.
    assert_eq!(winner, "tokio");
    assert_no_leaks();
}

#[test]
fn tether_sleeps_still_end_on_real_time_under_paused_tokio() {
    paused(async {
        // No tokio timer is pending: the runtime parks, and tether's timer
        // wakes the sleep after 2 ms of real time.
        let start = std::time::Instant::now();
        tether::time::sleep(Duration::from_millis(2)).await;
        assert!(start.elapsed() >= Duration::from_millis(2));
    });
    assert_no_leaks();
}
