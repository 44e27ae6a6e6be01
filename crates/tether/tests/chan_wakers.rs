//! Wakers: a pending channel future polled again with a *different* waker
//! (the task moved, or a combinator such as `FuturesUnordered` or
//! `tokio::select!` re-polled it from another context) must wake the waker
//! of its latest poll when it can proceed — the `Future` contract ("only
//! the Waker from the most recent call to poll should be scheduled to
//! receive a wakeup"). A future that woke only the first waker would hang
//! its task.
//!
//! For every kind of future (send and recv on capacity 0 and on a full or
//! empty buffer, `recv_many`, the `Stream`, `select!` with recv, send,
//! `done` and `after` arms, the run-time `Select`), on every event that
//! lets it proceed (a value, room, a receiver arriving, a close, a cancel,
//! a deadline): poll with waker A, poll with waker B, trigger the event,
//! then wait (under the watchdog) until B is woken, and check that the
//! next poll completes.

mod common;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context as TaskCx, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use futures_core::Stream;
use tether::Context;
use tether::chan::{self, Select};

/// A waker that counts its wake-ups and unparks the test thread.
struct Flag {
    woken: AtomicUsize,
    waiter: Thread,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.fetch_add(1, SeqCst);
        self.waiter.unpark();
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag { woken: AtomicUsize::new(0), waiter: thread::current() });
    (f.clone(), Waker::from(f))
}

fn poll_with<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut TaskCx::from_waker(w))
}

/// Waits until `b` is woken (the watchdog fails a hang).
fn wait_woken(b: &Flag) {
    while b.woken.load(SeqCst) == 0 {
        thread::park();
    }
}

/// The protocol: poll `f` with A, then with B (both pending), run
/// `trigger`, wait until B is woken, and poll once more with B: it must
/// complete (`check` sees the output).
fn latest_waker_is_woken<F: Future>(what: &str, f: F, trigger: impl FnOnce(), check: impl FnOnce(F::Output)) {
    let mut f = Box::pin(f);
    let (_a, wa) = flag();
    let (b, wb) = flag();
    assert!(poll_with(f.as_mut(), &wa).is_pending(), "{what}: pending at first");
    assert!(poll_with(f.as_mut(), &wb).is_pending(), "{what}: still pending");
    trigger();
    wait_woken(&b);
    match poll_with(f.as_mut(), &wb) {
        Poll::Ready(out) => check(out),
        Poll::Pending => panic!("{what}: woken, but still pending"),
    }
}

#[test]
fn recv_futures_wake_the_latest_waker() {
    common::watchdog(|| {
        for cap in [0usize, 1, 4] {
            // A value arrives (from a blocking sender on another thread for
            // capacity 0: it hands over into the parked receive).
            let (tx, rx) = chan::bounded::<u32>(cap);
            let h = {
                let tx = tx.clone();
                move || {
                    thread::spawn(move || tx.send_blocking(7).unwrap());
                }
            };
            latest_waker_is_woken(&format!("recv cap {cap}, value"), rx.recv(), h, |r| assert_eq!(r, Ok(7)));
            // The channel closes.
            latest_waker_is_woken(&format!("recv cap {cap}, close"), rx.recv(), || drop(tx), |r| assert!(r.is_err()));
            // recv_many.
            let (tx, rx) = chan::bounded::<u32>(cap.max(1));
            let mut buf = Vec::new();
            latest_waker_is_woken(
                &format!("recv_many cap {cap}"),
                rx.recv_many(&mut buf, 4),
                || tx.try_send(1).unwrap(),
                |r| assert_eq!(r, Ok(1)),
            );
        }
    });
    common::assert_no_leaks();
}

#[test]
fn send_futures_wake_the_latest_waker() {
    common::watchdog(|| {
        // Capacity 0: a receiver arrives (a blocking one on another thread).
        let (tx, rx) = chan::bounded::<u32>(0);
        let rx2 = rx.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        latest_waker_is_woken(
            "send cap 0, a receiver arrives",
            tx.send(5),
            move || {
                thread::spawn(move || done_tx.send(rx2.recv_blocking()).unwrap());
            },
            |r| assert_eq!(r, Ok(())),
        );
        assert_eq!(done_rx.recv().unwrap(), Ok(5));
        // Full buffer: room is freed.
        for cap in [1usize, 3] {
            let (tx, rx) = chan::bounded::<u32>(cap);
            for v in 0..cap as u32 {
                tx.try_send(v).unwrap();
            }
            latest_waker_is_woken(
                &format!("send cap {cap}, room"),
                tx.send(100),
                || assert_eq!(rx.try_recv(), Ok(0)),
                |r| assert_eq!(r, Ok(())),
            );
            // The last receiver goes.
            latest_waker_is_woken(
                &format!("send cap {cap}, receivers gone"),
                tx.send(200),
                || drop(rx),
                |r| assert!(r.is_err()),
            );
        }
        drop(rx);
    });
    common::assert_no_leaks();
}

#[test]
fn stream_wakes_the_latest_waker() {
    common::watchdog(|| {
        for cap in [0usize, 2] {
            let (tx, mut rx) = chan::bounded::<u32>(cap);
            let tx2 = tx.clone();
            latest_waker_is_woken(
                &format!("stream cap {cap}"),
                poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)),
                move || {
                    thread::spawn(move || tx2.send_blocking(3).unwrap());
                },
                |v| assert_eq!(v, Some(3)),
            );
            latest_waker_is_woken(
                &format!("stream cap {cap}, end"),
                poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)),
                || drop(tx),
                |v| assert_eq!(v, None),
            );
        }
    });
    common::assert_no_leaks();
}

#[test]
fn select_macro_wakes_the_latest_waker_for_every_arm_kind() {
    common::watchdog(|| {
        let (_idle_tx, idle) = chan::bounded::<u32>(0);
        // recv arm
        for cap in [0usize, 2] {
            let (tx, rx) = chan::bounded::<u32>(cap);
            let f = async {
                tether::select! { recv(idle) -> _v => 0, recv(rx) -> v => v.unwrap() }
            };
            latest_waker_is_woken(
                &format!("select! recv arm cap {cap}"),
                f,
                move || {
                    thread::spawn(move || tx.send_blocking(9).unwrap());
                },
                |v| assert_eq!(v, 9),
            );
        }
        // send arm: room freed
        let (tx, rx) = chan::bounded::<u32>(1);
        tx.try_send(0).unwrap();
        let f = async {
            tether::select! { recv(idle) -> _v => false, send(tx, 1) -> r => r.is_ok() }
        };
        latest_waker_is_woken("select! send arm, room", f, || assert_eq!(rx.try_recv(), Ok(0)), |ok| assert!(ok));
        // send arm on capacity 0: a receiver arrives
        let (tx, rx) = chan::bounded::<u32>(0);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let f = async {
            tether::select! { recv(idle) -> _v => false, send(tx, 4) -> r => r.is_ok() }
        };
        latest_waker_is_woken(
            "select! send arm cap 0",
            f,
            move || {
                thread::spawn(move || done_tx.send(rx.recv_blocking()).unwrap());
            },
            |ok| assert!(ok),
        );
        assert_eq!(done_rx.recv().unwrap(), Ok(4));
        // done arm
        let (ctx, cancel) = Context::background().with_cancel();
        let f = async {
            tether::select! { recv(idle) -> _v => false, done(ctx) => true }
        };
        latest_waker_is_woken("select! done arm", f, move || cancel.cancel(), |d| assert!(d));
        // after arm
        let f = async {
            tether::select! { recv(idle) -> _v => false, after(Duration::from_millis(3)) => true }
        };
        latest_waker_is_woken("select! after arm", f, || {}, |d| assert!(d));
    });
    common::assert_no_leaks();
}

#[test]
fn dynamic_select_wakes_the_latest_waker_for_every_arm_kind() {
    common::watchdog(|| {
        let (_idle_tx, idle) = chan::bounded::<u32>(0);
        for cap in [0usize, 2] {
            let (tx, rx) = chan::bounded::<u32>(cap);
            let mut sel = Select::new();
            sel.recv(&idle);
            let arm = sel.recv(&rx);
            latest_waker_is_woken(
                &format!("Select recv arm cap {cap}"),
                sel.select(),
                move || {
                    thread::spawn(move || tx.send_blocking(8).unwrap());
                },
                |op| {
                    assert_eq!(op.index(), arm);
                    assert_eq!(op.recv::<u32>(), Ok(8));
                },
            );
        }
        let (tx, rx) = chan::bounded::<u32>(1);
        tx.try_send(0).unwrap();
        let mut sel = Select::new();
        sel.recv(&idle);
        let arm = sel.send(&tx, 1);
        latest_waker_is_woken(
            "Select send arm, room",
            sel.select(),
            || assert_eq!(rx.try_recv(), Ok(0)),
            |op| {
                assert_eq!(op.index(), arm);
                op.send::<u32>().unwrap();
            },
        );
        let (ctx, cancel) = Context::background().with_cancel();
        let mut sel = Select::new();
        sel.recv(&idle);
        let d = sel.done(&ctx);
        latest_waker_is_woken("Select done arm", sel.select(), move || cancel.cancel(), |op| assert_eq!(op.index(), d));
        let mut sel = Select::new();
        sel.recv(&idle);
        let a = sel.after(Duration::from_millis(3));
        latest_waker_is_woken("Select after arm", sel.select(), || {}, |op| assert_eq!(op.index(), a));
    });
    common::assert_no_leaks();
}

/// A waker that only counts its clones (through its `Arc`).
struct Held;

impl Wake for Held {
    fn wake(self: Arc<Self>) {}
}

/// A pending future that is dropped gives up its waker: the channel keeps
/// no reference to the task of a future that is gone (tokio's and
/// crossbeam's channels behave so). A retained waker keeps its task's
/// memory — or whatever a custom waker owns — alive for as long as the
/// channel lives.
#[test]
fn a_dropped_pending_future_releases_its_waker() {
    for cap in [0usize, 1] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        let held = |poll: &mut dyn FnMut(&Waker) -> bool| {
            let w = Arc::new(Held);
            let waker = Waker::from(w.clone());
            assert!(poll(&waker), "pending");
            drop(waker);
            Arc::strong_count(&w) - 1
        };
        if cap == 1 {
            tx.try_send(0).unwrap();
        }
        let send = held(&mut |w| {
            let mut f = tx.send(5);
            poll_with(Pin::new(&mut f), w).is_pending()
        });
        while rx.try_recv().is_ok() {}
        let recv = held(&mut |w| {
            let mut f = rx.recv();
            poll_with(Pin::new(&mut f), w).is_pending()
        });
        let stream = held(&mut |w| {
            let mut clone = rx.clone();
            Pin::new(&mut clone).poll_next(&mut TaskCx::from_waker(w)).is_pending()
        });
        assert_eq!(
            (send, recv, stream),
            (0, 0, 0),
            "cap {cap}: references the channel still holds to the wakers of dropped (send, recv, stream) futures"
        );
    }
}
