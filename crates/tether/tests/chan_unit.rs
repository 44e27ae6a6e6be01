//! tether's own behaviour tests for `chan` and the select macros (the Go
//! conformance suite lives in chan_go_conformance.rs / select_go_*.rs).
mod common;

use std::thread;
use std::time::Duration;

use futures_core::Stream;
use tether::chan::{self, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};

fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(s).poll_next(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("stream pending"),
    }
}

#[test]
fn close_is_reported_once_and_wakes_blocked_peers() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u8>(0);
        let r = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv_blocking())
        };
        let (tx2, rx2) = chan::bounded::<u8>(0);
        let s = thread::spawn(move || tx2.send_blocking(9));
        thread::sleep(Duration::from_millis(2));
        assert!(tx.close());
        assert!(!tx.close());
        assert!(tx.is_closed() && rx.is_closed());
        assert_eq!(r.join().unwrap(), Err(RecvError::Closed));
        drop(rx2); // last receiver gone: the parked sender gets its value back
        assert_eq!(s.join().unwrap(), Err(SendError(9)));
    });
    common::assert_no_leaks();
}

#[test]
fn errors_hand_values_back() {
    let (tx, rx) = chan::bounded::<String>(1);
    tx.try_send("a".into()).unwrap();
    assert_eq!(tx.try_send("b".into()), Err(TrySendError::Full("b".into())));
    assert_eq!(
        tx.send_timeout_blocking("c".into(), Duration::from_millis(1)),
        Err(SendTimeoutError::Timeout("c".into()))
    );
    drop(rx);
    assert_eq!(tx.try_send("d".into()), Err(TrySendError::Closed("d".into())));
    assert_eq!(tx.send_blocking("e".into()), Err(SendError("e".into())));
    assert_eq!(tx.len(), 0, "the last receiver's drop dropped the buffer");
}

#[test]
fn receive_flavors_and_counts() {
    let (tx, rx) = chan::bounded::<u32>(4);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx.recv_timeout_blocking(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    for i in 0..4 {
        tx.try_send(i).unwrap();
    }
    assert_eq!((tx.len(), rx.len(), tx.capacity(), rx.capacity()), (4, 4, Some(4), Some(4)));
    let mut buf = Vec::new();
    assert_eq!(rx.recv_many_blocking(&mut buf, 3), Ok(3));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [3]);
    let rx2 = rx.clone();
    let tx2 = tx.clone();
    assert!(rx.same_channel(&rx2) && tx.same_channel(&tx2));
    assert_eq!((tx.sender_count(), tx.receiver_count()), (2, 2));
    drop((tx, tx2));
    assert_eq!(rx.recv_many_blocking(&mut buf, 3), Err(RecvError::Closed));
    assert_eq!(buf, [0, 1, 2]);
}

#[test]
fn stream_ends_at_close() {
    let (tx, mut rx) = chan::unbounded::<u32>();
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    drop(tx);
    assert_eq!(next(&mut rx), Some(1));
    assert_eq!(next(&mut rx), Some(2));
    assert_eq!(next(&mut rx), None);
}

#[test]
fn unbounded_gives_memory_back_after_a_burst() {
    let (tx, rx) = chan::unbounded::<u64>();
    for i in 0..100_000 {
        tx.try_send(i).unwrap();
    }
    let peak = rx.allocated_capacity();
    assert!(peak >= 100_000);
    while rx.try_recv().is_ok() {}
    let after = rx.allocated_capacity();
    assert!(after <= 128, "buffer kept {after} slots after draining a burst of {peak}");
}

#[test]
fn bounded_never_allocates_past_capacity() {
    let (tx, rx) = chan::bounded::<u64>(8);
    for round in 0..100 {
        while tx.try_send(round).is_ok() {}
        assert_eq!(rx.len(), 8);
        assert!(rx.allocated_capacity() <= 16);
        while rx.try_recv().is_ok() {}
    }
}

#[test]
fn select_operands_options_and_guards() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(1);
        let none: Option<&chan::Receiver<u32>> = None;
        tx.try_send(5).unwrap();
        // A None operand and a false guard are never chosen.
        for _ in 0..50 {
            let r = tether::select_blocking! {
                recv(none) -> _v => unreachable!("a None operand is disabled"),
                recv(rx) -> _v if false => unreachable!("a false guard disables the arm"),
                default => 0,
            };
            assert_eq!(r, 0);
        }
        let got = tether::select_blocking! {
            recv(Some(&rx)) -> v => v.unwrap(),
            send(None::<&chan::Sender<u32>>, 1) -> _r => unreachable!(),
        };
        assert_eq!(got, 5);
        // A closed channel's recv arm is ready with Err(Closed); a send arm
        // on a closed channel is ready with the value back.
        tx.close();
        let r = tether::select_blocking! { recv(rx) -> v => v, default => Ok(0) };
        assert_eq!(r, Err(RecvError::Closed));
        let r = tether::select_blocking! { send(tx, 3) -> r => r, default => Ok(()) };
        assert_eq!(r, Err(SendError(3)));
    });
}

#[test]
fn biased_select_prefers_the_first_ready_arm() {
    let (atx, arx) = chan::bounded::<u8>(100);
    let (btx, brx) = chan::bounded::<u8>(100);
    for _ in 0..50 {
        atx.try_send(1).unwrap();
        btx.try_send(2).unwrap();
    }
    for _ in 0..50 {
        let v = tether::select_blocking! { biased; recv(arx) -> v => v.unwrap(), recv(brx) -> v => v.unwrap() };
        assert_eq!(v, 1);
    }
}

#[test]
fn select_after_and_done_arms() {
    common::watchdog(|| {
        let (_tx, rx) = chan::bounded::<u8>(0);
        let r = tether::select_blocking! { recv(rx) -> _v => 0, after(Duration::from_millis(2)) => 1 };
        assert_eq!(r, 1);
        let (ctx, cancel) = tether::Context::background().with_cancel();
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(2));
            cancel.cancel();
        });
        let r = tether::select_blocking! { recv(rx) -> _v => 0, done(ctx) => 2 };
        assert_eq!(r, 2);
        h.join().unwrap();
        // A never-done context never fires.
        let bg = tether::Context::background();
        let r = tether::select_blocking! { done(bg) => 0, default => 3 };
        assert_eq!(r, 3);
    });
}

#[test]
fn async_select_mixes_with_blocking_peers() {
    let got = common::block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        let (tx2, rx2) = chan::bounded::<u32>(0);
        let h = thread::spawn(move || {
            tx.send_blocking(1).unwrap();
            rx2.recv_blocking().unwrap()
        });
        let mut seen = Vec::new();
        for _ in 0..2 {
            tether::select! {
                recv(rx) -> v => seen.push(v.unwrap()),
                send(tx2, 2) -> r => { r.unwrap(); seen.push(20) },
            }
        }
        assert_eq!(h.join().unwrap(), 2);
        seen
    });
    assert_eq!(got, [1, 20]);
}

/// Regression: two async receivers parked on a buffered channel, the
/// buffer then filled. A second async sender must park (and be woken when
/// room appears), not spin in its poll because a parked async receiver —
/// one that only takes from the buffer in its own poll — looks "ready".
/// On a single-threaded runtime the old behaviour never yielded to the
/// receivers and hung.
#[test]
fn async_sender_parks_when_buffer_full_and_only_async_receivers_wait() {
    common::block_on_local(async {
        let (tx, rx) = chan::bounded::<u32>(1);
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move { rx.recv().await.unwrap() })
            })
            .collect();
        tokio::task::yield_now().await; // both receivers park
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let tx = tx.clone();
                tokio::spawn(async move { tx.send(i).await.unwrap() })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        let mut got: Vec<u32> = Vec::new();
        for r in receivers {
            got.push(r.await.unwrap());
        }
        got.sort();
        assert_eq!(got, vec![0, 1]);
    });
    common::assert_no_leaks();
}
