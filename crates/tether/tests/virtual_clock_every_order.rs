//! Every timed primitive, in every order, on the virtual clock: after each
//! one — completed, dropped, stopped, or left armed — virtual time still
//! advances, and no wake-up is left owed to the clock.
//!
//! This is the guard against a whole class of bug: a primitive that takes
//! a virtual timer's wake-up and never settles it holds auto-advance still
//! (issue 9: after `ticker.tick().await`, a later `sleep(1s).await` never
//! returned while the ticker was alive). Every ordered pair of steps runs
//! under one clock, followed by an async and a blocking probe sleep; the
//! things a step leaves behind (a live ticker, an armed deadline, a tick
//! channel) stay alive across the probes. A hang fails with the name of
//! the scenario that stuck. Its own test binary: a virtual clock switches
//! the whole process.

mod common;

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use tether::Context;
use tether::rate::{Limit, Limiter};
use tether::sync::{Cond, Mutex, Semaphore};
use tether::time::{self, Ticker, VirtualClock};

const SEC: Duration = Duration::from_secs(1);

/// One use of one timed primitive, ending in a given state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `tick().await` twice; the ticker stays alive.
    TickerAsync,
    /// `tick()` polled once, then dropped; the ticker stays alive and its
    /// tick comes due while nobody waits.
    TickerAsyncDropped,
    /// `tick()` loses a `select!` to a shorter `after`; the ticker stays.
    TickerLosesSelect,
    /// `tick()` polled once, then the ticker is stopped (and kept).
    TickerStopped,
    /// `tick()` polled once, then the ticker is reset (and kept).
    TickerReset,
    /// `tick_blocking()` twice; the ticker stays alive.
    TickerBlocking,
    /// A ticker driven as a `Stream`, then told to stop waiting.
    TickerStreamCleared,
    /// `sleep(1s).await`.
    SleepAsync,
    /// `sleep(1s)` polled once, then dropped before it fires.
    SleepDropped,
    /// `sleep_blocking(1s)`.
    SleepBlocking,
    /// `time::after(1s)` received.
    After,
    /// `time::after(1s)` dropped unreceived (its timer fires later).
    AfterDropped,
    /// `time::tick(1s)`: one tick received; the channel stays alive.
    TickChannel,
    /// A context deadline awaited with `done().await`.
    DeadlineAsync,
    /// A context deadline waited for with `wait_blocking`.
    DeadlineBlocking,
    /// A deadline cancelled (handle dropped) before it fires.
    DeadlineCancelled,
    /// A deadline left armed (context and handle kept).
    DeadlineArmed,
    /// A limiter wait that sleeps for its token, async.
    LimiterAsync,
    /// The same, blocking.
    LimiterBlocking,
    /// A limiter wait polled once, then dropped.
    LimiterDropped,
    /// A `Cond` wait ended by a context deadline, async.
    CondAsync,
    /// A `Cond` wait with a timeout, blocking.
    CondBlocking,
    /// A `Semaphore` acquire ended by a context deadline, async.
    SemaphoreAsync,
    /// The same, blocking.
    SemaphoreBlocking,
    /// A `select!` that times out on its `after` arm.
    SelectAfterAsync,
    /// The same with `select_blocking!`.
    SelectAfterBlocking,
}

const ALL: [Step; 26] = [
    Step::TickerAsync,
    Step::TickerAsyncDropped,
    Step::TickerLosesSelect,
    Step::TickerStopped,
    Step::TickerReset,
    Step::TickerBlocking,
    Step::TickerStreamCleared,
    Step::SleepAsync,
    Step::SleepDropped,
    Step::SleepBlocking,
    Step::After,
    Step::AfterDropped,
    Step::TickChannel,
    Step::DeadlineAsync,
    Step::DeadlineBlocking,
    Step::DeadlineCancelled,
    Step::DeadlineArmed,
    Step::LimiterAsync,
    Step::LimiterBlocking,
    Step::LimiterDropped,
    Step::CondAsync,
    Step::CondBlocking,
    Step::SemaphoreAsync,
    Step::SemaphoreBlocking,
    Step::SelectAfterAsync,
    Step::SelectAfterBlocking,
];

/// Whatever a step leaves alive until its scenario's probes are done.
type Residue = Box<dyn Any>;

fn poll_once_pinned<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx).is_ready()
}

fn run(step: Step, rt: &tokio::runtime::Runtime) -> Residue {
    match step {
        Step::TickerAsync => {
            let mut t = Ticker::new(SEC);
            rt.block_on(async {
                t.tick().await;
                t.tick().await;
            });
            Box::new(t)
        }
        Step::TickerAsyncDropped => {
            let mut t = Ticker::new(SEC);
            {
                let tick = std::pin::pin!(t.tick());
                assert!(!poll_once_pinned(tick));
            }
            Box::new(t)
        }
        Step::TickerLosesSelect => {
            let mut t = Ticker::new(SEC);
            rt.block_on(async {
                tokio::select! {
                    biased;
                    _ = time::sleep(SEC / 4) => {},
                    _ = t.tick() => panic!("the ticker is not due yet"),
                }
            });
            Box::new(t)
        }
        Step::TickerStopped => {
            let mut t = Ticker::new(SEC);
            {
                let tick = std::pin::pin!(t.tick());
                assert!(!poll_once_pinned(tick));
            }
            t.stop();
            Box::new(t)
        }
        Step::TickerReset => {
            let mut t = Ticker::new(SEC);
            {
                let tick = std::pin::pin!(t.tick());
                assert!(!poll_once_pinned(tick));
            }
            t.reset(2 * SEC);
            Box::new(t)
        }
        Step::TickerBlocking => {
            let mut t = Ticker::new(SEC);
            t.tick_blocking();
            t.tick_blocking();
            Box::new(t)
        }
        Step::TickerStreamCleared => {
            let mut t = Ticker::new(SEC);
            rt.block_on(std::future::poll_fn(|cx| {
                let _ = futures_core::Stream::poll_next(std::pin::Pin::new(&mut t), cx);
                std::task::Poll::Ready(())
            }));
            t.clear_waker();
            Box::new(t)
        }
        Step::SleepAsync => {
            rt.block_on(time::sleep(SEC));
            Box::new(())
        }
        Step::SleepDropped => {
            let s = std::pin::pin!(time::sleep(SEC));
            assert!(!poll_once_pinned(s));
            Box::new(())
        }
        Step::SleepBlocking => {
            time::sleep_blocking(SEC);
            Box::new(())
        }
        Step::After => {
            time::after(SEC).recv_blocking().unwrap();
            Box::new(())
        }
        Step::AfterDropped => {
            drop(time::after(SEC));
            Box::new(())
        }
        Step::TickChannel => {
            let ticks = time::tick(SEC);
            ticks.recv_blocking().unwrap();
            Box::new(ticks)
        }
        Step::DeadlineAsync => {
            let (ctx, _cancel) = Context::background().with_timeout(SEC);
            rt.block_on(ctx.done());
            Box::new(())
        }
        Step::DeadlineBlocking => {
            let (ctx, _cancel) = Context::background().with_timeout(SEC);
            ctx.wait_blocking();
            Box::new(())
        }
        Step::DeadlineCancelled => {
            let (ctx, cancel) = Context::background().with_timeout(SEC);
            drop(cancel);
            assert!(ctx.is_done());
            Box::new(())
        }
        Step::DeadlineArmed => Box::new(Context::background().with_timeout(SEC)),
        Step::LimiterAsync => {
            let lim = Limiter::new(Limit::per_second(1.0), 1);
            let ctx = Context::background();
            rt.block_on(async {
                lim.wait(&ctx).await.unwrap();
                lim.wait(&ctx).await.unwrap(); // a second later
            });
            Box::new(lim)
        }
        Step::LimiterBlocking => {
            let lim = Limiter::new(Limit::per_second(1.0), 1);
            let ctx = Context::background();
            lim.wait_blocking(&ctx).unwrap();
            lim.wait_blocking(&ctx).unwrap();
            Box::new(lim)
        }
        Step::LimiterDropped => {
            let lim = Limiter::new(Limit::per_second(1.0), 1);
            let ctx = Context::background();
            assert!(lim.allow());
            {
                let wait = std::pin::pin!(lim.wait(&ctx));
                assert!(!poll_once_pinned(wait));
            }
            Box::new(lim)
        }
        Step::CondAsync => {
            let (m, c) = (Mutex::new(()), Cond::new());
            let (ctx, _cancel) = Context::background().with_timeout(SEC);
            let r = rt.block_on(async { c.wait_ctx(m.lock().await, &ctx).await.map(drop) });
            assert_eq!(r, Err(tether::ctx::Error::DeadlineExceeded));
            Box::new(())
        }
        Step::CondBlocking => {
            let (m, c) = (Mutex::new(()), Cond::new());
            let (_g, timed_out) = c.wait_timeout_blocking(m.lock_blocking(), SEC);
            assert!(timed_out);
            Box::new(())
        }
        Step::SemaphoreAsync => {
            let sem = Semaphore::new(1);
            let _held = sem.try_acquire(1).unwrap();
            let (ctx, _cancel) = Context::background().with_timeout(SEC);
            assert!(rt.block_on(sem.acquire(&ctx, 1)).is_err());
            Box::new(())
        }
        Step::SemaphoreBlocking => {
            let sem = Semaphore::new(1);
            let _held = sem.try_acquire(1).unwrap();
            let (ctx, _cancel) = Context::background().with_timeout(SEC);
            assert!(sem.acquire_blocking(&ctx, 1).is_err());
            Box::new(())
        }
        Step::SelectAfterAsync => {
            let (_tx, rx) = tether::chan::bounded::<()>(1);
            rt.block_on(async {
                tether::select! {
                    recv(rx) -> _r => panic!("nothing was sent"),
                    after(SEC) => {},
                }
            });
            Box::new(())
        }
        Step::SelectAfterBlocking => {
            let (_tx, rx) = tether::chan::bounded::<()>(1);
            tether::select_blocking! {
                recv(rx) -> _r => panic!("nothing was sent"),
                after(SEC) => {},
            }
            Box::new(())
        }
    }
}

/// Fails the scenario if a wake-up is still owed to the clock. Everything
/// the step did has returned to this thread, so nothing may be in flight.
fn assert_settled(clock: &VirtualClock, scenario: &str, when: &str) {
    assert_eq!(clock.wakes_in_flight(), 0, "{scenario}: a timer's wake-up is still owed to the clock {when}");
}

/// Time must still advance: an async and a blocking sleep each end, at or
/// after their deadline on virtual time.
fn probe(clock: &VirtualClock, rt: &tokio::runtime::Runtime, scenario: &str) {
    let start = clock.now();
    rt.block_on(time::sleep(SEC));
    time::sleep_blocking(SEC);
    let elapsed = clock.now() - start;
    assert!(elapsed >= 2 * SEC, "{scenario}: the probes slept {elapsed:?} of virtual time, less than 2s");
}

#[test]
fn every_timed_primitive_in_every_order_keeps_virtual_time_moving() {
    let progress = Arc::new((AtomicUsize::new(0), StdMutex::new(String::new())));
    let p = progress.clone();
    let worker = std::thread::spawn(move || {
        let clock = VirtualClock::install();
        // Only "does time move" is asserted, never how soon: a short quiet
        // period keeps 676 scenarios quick without making any of them racy.
        clock.set_quiet_period(Duration::from_micros(500));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for a in ALL {
            for b in ALL {
                let scenario = format!("{a:?} then {b:?}");
                *p.1.lock().unwrap() = scenario.clone();
                let first = run(a, &rt);
                assert_settled(&clock, &scenario, &format!("after {a:?}"));
                let second = run(b, &rt);
                assert_settled(&clock, &scenario, &format!("after {b:?}"));
                probe(&clock, &rt, &scenario);
                assert_settled(&clock, &scenario, "after the probes");
                drop((first, second));
                probe(&clock, &rt, &format!("{scenario}, once dropped"));
                assert_settled(&clock, &scenario, "at the end");
                p.0.fetch_add(1, SeqCst);
            }
        }
        drop(rt);
        drop(clock);
    });
    // A stuck scenario makes no progress: fail naming it rather than wait
    // for the whole run's watchdog.
    let stall = Duration::from_secs(10);
    let (mut seen, mut since) = (0, Instant::now());
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
        let done = progress.0.load(SeqCst);
        if done != seen {
            (seen, since) = (done, Instant::now());
        } else if since.elapsed() > stall {
            panic!(
                "virtual time stopped moving in scenario {:?} ({} of {} done)",
                progress.1.lock().unwrap(),
                done,
                ALL.len() * ALL.len()
            );
        }
    }
    if let Err(p) = worker.join() {
        std::panic::resume_unwind(p);
    }
    assert_eq!(progress.0.load(SeqCst), ALL.len() * ALL.len());
    common::assert_no_leaks();
}
