//! What users asked for on top of the channels: `tick(...)` and `fut(...)`
//! select arms, async timeouts, reservations (`reserve`/`Permit`),
//! `Sender::closed`, the `Sink` adapter, and send errors that convert
//! into `anyhow` whatever their value type. Time runs on the virtual
//! clock (one test binary: the clock is process-wide and tests take turns).

mod common;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{block_on, poll_once, watchdog};
use futures_sink::Sink;
use tether::chan::{self, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TrySendError};
use tether::time::{Ticker, VirtualClock};

const SEC: Duration = Duration::from_secs(1);
/// The clock's quiet period for the test that counts ticks exactly: the
/// default 2 ms lets a loaded machine's scheduler decide the count (with
/// two CPU hogs, a main thread descheduled for a few milliseconds between
/// two selects looked idle, time jumped past ticks, and 28 of 30 runs
/// failed; with 20 ms, none of 20).
const QUIET_MS: u64 = 20;

/// Tests that install the virtual clock take turns.
static CLOCK: Mutex<()> = Mutex::new(());

#[test]
fn tick_arm_takes_ticks_between_values_blocking() {
    let _g = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
    watchdog(|| {
        let clock = VirtualClock::install();
        clock.set_quiet_period(Duration::from_millis(QUIET_MS));
        let (tx, rx) = chan::bounded::<u32>(1);
        let mut ticker = Ticker::new(SEC);
        let mut ticks = 0;
        let mut values = 0;
        let producer = std::thread::spawn(move || {
            for i in 0..3 {
                tether::time::sleep_blocking(Duration::from_millis(2500));
                tx.send_blocking(i).unwrap();
            }
        });
        while values < 3 {
            tether::select_blocking! {
                tick(ticker) -> _at => ticks += 1,
                recv(rx) -> v => { v.unwrap(); values += 1 },
            }
        }
        producer.join().unwrap();
        // 7.5 s of virtual time: ticks at 1..7 s.
        assert_eq!(ticks, 7);
        // The ticker stays usable after the select borrowed it.
        ticker.stop();
        let r = tether::select_blocking! {
            tick(ticker) => "tick",
            default => "a stopped ticker is never ready",
        };
        assert_eq!(r, "a stopped ticker is never ready");
    });
    common::assert_no_leaks();
}

#[test]
fn tick_arm_in_an_async_select_with_done() {
    let _g = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
    block_on(async {
        let _clock = VirtualClock::install();
        let (ctx, _cancel) = tether::Context::background().with_timeout(Duration::from_millis(3500));
        let mut ticker = Ticker::new(SEC);
        let mut ticks = Vec::new();
        loop {
            tether::select! {
                tick(&mut ticker) -> at => ticks.push(at),
                done(ctx) => break,
            }
        }
        assert_eq!(ticks.len(), 3);
        assert!(ticks.windows(2).all(|w| w[1] - w[0] == SEC));
    });
    common::assert_no_leaks();
}

#[test]
fn fut_arm_runs_any_future_beside_channel_arms() {
    block_on(async {
        let (tx, rx) = chan::bounded::<u32>(1);
        // A ready future wins over an idle channel.
        let r = tether::select! {
            recv(rx) -> _v => 0,
            fut(async { 7 }) -> v => v,
        };
        assert_eq!(r, 7);
        // A pending future loses to a ready channel; its guard can disable it.
        tx.send(1).await.unwrap();
        let r = tether::select! {
            recv(rx) -> v => v.unwrap(),
            fut(std::future::pending::<u32>()) -> v => v,
        };
        assert_eq!(r, 1);
        let r = tether::select! {
            fut(async { 5 }) -> v if false => v,
            default => 9,
        };
        assert_eq!(r, 9);
        // A future that becomes ready later wakes the select.
        let (otx, orx) = tokio::sync::oneshot::channel::<u32>();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            otx.send(11).unwrap();
        });
        let r = tether::select! {
            recv(rx) -> _v => 0,
            fut(orx) -> v => v.unwrap(),
        };
        assert_eq!(r, 11);
    });
    common::assert_no_leaks();
}

/// A `fut` arm's future is polled only while the select owns its token:
/// racing another arm's peers, a value received through either arm is
/// never lost (the losing `recv()` future, dropped, loses nothing).
#[test]
fn fut_arm_output_is_never_lost_to_a_racing_arm() {
    block_on(async {
        const N: u32 = 2000;
        let (atx, arx) = chan::bounded::<u32>(4);
        let (btx, brx) = chan::bounded::<u32>(4);
        let pa = tokio::spawn(async move {
            for i in 0..N {
                atx.send(i).await.unwrap();
            }
        });
        let pb = tokio::spawn(async move {
            for i in N..2 * N {
                btx.send(i).await.unwrap();
            }
        });
        let (mut seen, mut a_open, mut b_open) = (Vec::new(), true, true);
        while a_open || b_open {
            // A closed input is disabled by its guard (Go: set it to nil).
            tether::select! {
                recv(arx) -> v if a_open => match v { Ok(v) => seen.push(v), Err(_) => a_open = false },
                fut(brx.recv()) -> v if b_open => match v { Ok(v) => seen.push(v), Err(_) => b_open = false },
            }
        }
        pa.await.unwrap();
        pb.await.unwrap();
        seen.sort();
        assert_eq!(seen, (0..2 * N).collect::<Vec<_>>());
    });
    common::assert_no_leaks();
}

#[test]
fn async_timeouts_run_on_tethers_clock() {
    let _g = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
    block_on(async {
        let clock = VirtualClock::install();
        let start = clock.now();
        let (tx, rx) = chan::bounded::<u32>(0);
        assert_eq!(rx.recv_timeout(3 * SEC).await, Err(RecvTimeoutError::Timeout));
        assert_eq!(clock.now() - start, 3 * SEC, "the wait took exactly its virtual time");
        assert_eq!(tx.send_timeout(5, SEC).await, Err(SendTimeoutError::Timeout(5)), "the value comes back");
        let r = {
            let rx = rx.clone();
            tokio::spawn(async move { rx.recv_timeout(10 * SEC).await })
        };
        assert_eq!(tx.send_timeout(6, 10 * SEC).await, Ok(()));
        assert_eq!(r.await.unwrap(), Ok(6));
        drop(tx);
        assert_eq!(rx.recv_timeout(SEC).await, Err(RecvTimeoutError::Closed));
    });
    common::assert_no_leaks();
}

#[test]
fn reserve_holds_room_and_keeps_the_value_out_of_the_wait() {
    block_on(async {
        let (tx, rx) = chan::bounded::<String>(1);
        let p = tx.reserve().await.unwrap();
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
        assert!(tx.try_send("b".into()).unwrap_err().is_full(), "reserved room is nobody else's");
        assert_eq!(rx.len(), 0);
        p.send("a".into()).unwrap();
        assert_eq!(rx.recv().await.unwrap(), "a");
        // A dropped permit gives the room back.
        drop(tx.reserve().await.unwrap());
        tx.try_send("c".into()).unwrap();
        // A waiting reserve gets room in order, after the value ahead.
        let mut r = tx.reserve();
        assert!(poll_once(&mut r).is_none(), "full: the reservation waits");
        assert_eq!(rx.recv().await.unwrap(), "c");
        let p = poll_once(&mut r).expect("the freed room was granted").unwrap();
        drop(r);
        assert!(tx.try_send("d".into()).is_err(), "still reserved");
        p.send("e".into()).unwrap();
        assert_eq!(rx.recv().await.unwrap(), "e");
        // A reservation dropped after it was granted passes the room on.
        tx.try_send("f".into()).unwrap();
        let mut r1 = tx.reserve();
        let mut r2 = tx.reserve();
        assert!(poll_once(&mut r1).is_none() && poll_once(&mut r2).is_none());
        assert_eq!(rx.recv().await.unwrap(), "f");
        drop(r1);
        let p2 = poll_once(&mut r2).expect("the room moved to the next in line").unwrap();
        p2.send("g".into()).unwrap();
        assert_eq!(rx.recv().await.unwrap(), "g");
        // Closed: reserve fails; a permit taken before the close hands its value back.
        let p = tx.reserve().await.unwrap();
        tx.close();
        assert_eq!(tx.reserve().await.unwrap_err(), SendError(()));
        assert_eq!(p.send("h".into()).unwrap_err().into_inner(), "h");
        assert_eq!(rx.recv().await, Err(RecvError::Closed));
    });
    common::assert_no_leaks();
}

#[test]
#[should_panic(expected = "a rendezvous channel (capacity 0) has no buffer room to reserve")]
fn reserve_on_a_rendezvous_channel_names_the_rule() {
    let (tx, _rx) = chan::bounded::<u8>(0);
    let _ = tx.try_reserve();
}

#[test]
fn unbounded_reservations_never_wait() {
    let (tx, rx) = chan::unbounded::<u32>();
    let permits: Vec<_> = (0..100).map(|_| tx.try_reserve().unwrap()).collect();
    for (i, p) in permits.into_iter().enumerate() {
        p.send(i as u32).unwrap();
    }
    assert_eq!(rx.try_iter().count(), 100);
}

#[test]
fn sender_closed_resolves_when_the_receivers_go() {
    block_on(async {
        let (tx, rx) = chan::bounded::<u32>(1);
        let done = Arc::new(AtomicUsize::new(0));
        let watcher = {
            let (tx, done) = (tx.clone(), done.clone());
            tokio::spawn(async move {
                tx.closed().await;
                done.fetch_add(1, Ordering::SeqCst);
            })
        };
        let mut f = tx.closed();
        assert!(poll_once(&mut f).is_none());
        drop(f); // a dropped wait unregisters
        tokio::task::yield_now().await;
        assert_eq!(done.load(Ordering::SeqCst), 0);
        drop(rx);
        watcher.await.unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 1);
        tx.closed().await; // already closed: at once
    });
    common::assert_no_leaks();
}

#[test]
fn send_sink_reserves_then_sends() {
    block_on(async {
        let (tx, rx) = chan::bounded::<u32>(1);
        let mut sink = tx.into_sink();
        for i in 0..3 {
            poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx)).await.unwrap();
            Pin::new(&mut sink).start_send(i).unwrap();
            if i == 0 {
                // Full now: the next poll_ready waits for room.
                let mut ready = poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx));
                assert!(poll_once(&mut Box::pin(&mut ready)).is_none());
            }
            assert_eq!(rx.recv().await, Ok(i));
        }
        poll_fn(|cx| Pin::new(&mut sink).poll_close(cx)).await.unwrap();
        assert_eq!(rx.recv().await, Err(RecvError::Closed), "closing the sink dropped the last sender");
        assert!(poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx)).await.is_err());
    });
    common::assert_no_leaks();
}

#[test]
fn send_errors_convert_into_anyhow_for_any_value_type() {
    // `Cell` is `Send` but not `Sync`, so `SendError<Cell<_>>` cannot be an
    // `anyhow::Error`; `discard` keeps the error and drops the value.
    fn produce(tx: &chan::Sender<std::cell::Cell<u8>>) -> anyhow::Result<()> {
        tx.send_blocking(std::cell::Cell::new(1)).map_err(SendError::discard)?;
        tx.try_send(std::cell::Cell::new(2)).map_err(TrySendError::discard)?;
        Ok(())
    }
    let (tx, rx) = chan::bounded(1);
    drop(rx);
    assert_eq!(format!("{:#}", produce(&tx).unwrap_err()), "sending on a closed channel");
}
