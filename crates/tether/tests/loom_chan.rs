//! Loom models of the channel's core races: send/recv hand-off, the
//! rendezvous, close against parked peers, select claiming one arm only,
//! and dropped futures racing a hand-off. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p tether --no-default-features --release --test loom_chan`.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::thread;
use tether::chan::{self, RecvError, SendError};

fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(f).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Buffered hand-off keeps FIFO order across a parked receiver.
#[test]
fn buffered_send_recv_fifo() {
    loom::model(|| {
        let (tx, rx) = chan::bounded::<u32>(1);
        let t = thread::spawn(move || {
            tx.send_blocking(1).unwrap();
            tx.send_blocking(2).unwrap();
        });
        assert_eq!(rx.recv_blocking(), Ok(1));
        assert_eq!(rx.recv_blocking(), Ok(2));
        t.join().unwrap();
        assert_eq!(rx.recv_blocking(), Err(RecvError::Closed));
    });
}

/// Capacity 0: the send returns only once the receiver has the value.
#[test]
fn rendezvous_hand_off() {
    loom::model(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let t = thread::spawn(move || rx.recv_blocking());
        tx.send_blocking(7).unwrap();
        assert_eq!(t.join().unwrap(), Ok(7));
    });
}

/// Close races a parked rendezvous sender: the value is either received
/// or handed back, never both, never lost.
#[test]
fn close_races_parked_sender() {
    // Three threads: one preemption keeps the model within seconds.
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(1);
    b.check(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let tx2 = tx.clone();
        let s = thread::spawn(move || tx.send_blocking(1));
        let c = thread::spawn(move || {
            tx2.close();
        });
        let got = rx.recv_blocking();
        let sent = s.join().unwrap();
        c.join().unwrap();
        match (got, sent) {
            (Ok(1), Ok(())) => {}
            (Err(RecvError::Closed), Err(SendError(1))) => {}
            other => panic!("value lost or duplicated: {other:?}"),
        }
    });
}

/// Dropping the last receiver wakes a parked sender with its value back.
#[test]
fn last_receiver_drop_fails_parked_sender() {
    loom::model(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let s = thread::spawn(move || tx.send_blocking(3));
        drop(rx);
        assert_eq!(s.join().unwrap(), Err(SendError(3)));
    });
}

/// A blocking select over two channels claims exactly one value.
#[test]
fn select_claims_one_arm() {
    loom::model(|| {
        let (atx, arx) = chan::bounded::<u32>(0);
        let (btx, brx) = chan::bounded::<u32>(0);
        let ta = thread::spawn(move || atx.try_send(1).is_ok() || atx.send_blocking(1).is_ok());
        let got = tether::select_blocking! {
            recv(arx) -> v => v.unwrap(),
            recv(brx) -> v => v.unwrap(),
        };
        assert_eq!(got, 1);
        assert!(ta.join().unwrap());
        drop(btx);
    });
}

/// Two senders race a select with two buffered arms: one value is taken,
/// the other stays in its channel.
#[test]
fn select_takes_exactly_one_of_two() {
    loom::model(|| {
        let (atx, arx) = chan::bounded::<u32>(1);
        let (btx, brx) = chan::bounded::<u32>(1);
        let ta = thread::spawn(move || atx.send_blocking(1).unwrap());
        let tb = thread::spawn(move || btx.send_blocking(2).unwrap());
        let got = tether::select_blocking! {
            recv(arx) -> v => v.unwrap(),
            recv(brx) -> v => v.unwrap(),
        };
        ta.join().unwrap();
        tb.join().unwrap();
        assert!(got == 1 || got == 2);
        assert_eq!(arx.len() + brx.len(), 1, "exactly one arm completed");
    });
}

/// A recv future dropped while a sender hands it a value: the value is
/// returned by the poll or re-delivered, never lost.
#[test]
fn dropped_recv_future_races_hand_off() {
    loom::model(|| {
        let (tx, rx) = chan::bounded::<u32>(1);
        let s = thread::spawn(move || tx.send_blocking(5).unwrap());
        let mut f = rx.recv();
        let first = poll_once(&mut f);
        drop(f);
        s.join().unwrap();
        match first {
            Some(v) => {
                assert_eq!(v, Ok(5));
                assert_eq!(rx.recv_blocking(), Err(RecvError::Closed));
            }
            None => assert_eq!(rx.recv_blocking(), Ok(5)),
        }
    });
}

/// Rendezvous: an async send dropped while a blocking receiver parks: the
/// receiver gets exactly the one value that was really sent.
#[test]
fn dropped_async_send_races_receiver() {
    loom::model(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let r = thread::spawn(move || rx.recv_blocking());
        let mut f = tx.send(1);
        let first = poll_once(&mut f);
        drop(f);
        if first.is_none() {
            tx.send_blocking(2).unwrap();
        }
        let got = r.join().unwrap().unwrap();
        match first {
            Some(Ok(())) => assert_eq!(got, 1),
            None => assert_eq!(got, 2),
            Some(Err(_)) => panic!("channel closed unexpectedly"),
        }
    });
}

/// The named race: an async sender is dropped while a receiver is
/// granting it room (capacity 1, full). The grant must pass on to the
/// async sender queued behind it, which then completes in its next poll;
/// the dropped send delivers nothing.
#[test]
fn dropped_async_send_races_its_grant() {
    loom::model(|| {
        let (tx, rx) = chan::bounded::<u32>(1);
        tx.try_send(1).unwrap();
        let mut f = tx.send(2);
        let mut g = tx.send(3);
        assert_eq!(poll_once(&mut f), None, "full: the async send waits");
        assert_eq!(poll_once(&mut g), None, "and the next one queues behind it");
        let r = thread::spawn(move || {
            let first = rx.recv_blocking();
            (first, rx)
        });
        drop(f);
        let (first, rx) = r.join().unwrap();
        assert_eq!(first, Ok(1));
        assert_eq!(poll_once(&mut g), Some(Ok(())), "the room went to the next sender");
        drop(g);
        drop(tx);
        assert_eq!(rx.iter().collect::<Vec<_>>(), [3], "the dropped send delivered nothing");
    });
}

/// The correctness bug: two async receives park on a buffered
/// channel, one value is buffered, then the channel closes. Exactly one
/// receive gets the value; `Closed` is never reported while it is
/// buffered.
#[test]
fn close_with_parked_async_receivers_drains_first() {
    loom::model(|| {
        let (tx, rx) = chan::bounded::<u32>(4);
        let mut a = rx.recv();
        let mut b = rx.recv();
        assert_eq!(poll_once(&mut a), None);
        assert_eq!(poll_once(&mut b), None);
        let t = thread::spawn(move || {
            tx.try_send(7).unwrap();
            tx.close();
        });
        t.join().unwrap();
        let rb = poll_once(&mut b).expect("closed: ready");
        let ra = poll_once(&mut a).expect("closed: ready");
        assert!(
            matches!((ra, rb), (Ok(7), Err(RecvError::Closed)) | (Err(RecvError::Closed), Ok(7))),
            "one receive gets the value, the other sees the close: {ra:?} {rb:?}"
        );
        assert_eq!(rx.try_recv(), Err(chan::TryRecvError::Closed));
    });
}

/// Capacity 0: a sender hands a value to a parked async receive whose
/// future is dropped at the same moment: the value comes back into the
/// channel (or was returned by the poll), never lost, never duplicated.
#[test]
fn dropped_rendezvous_recv_races_hand_off() {
    loom::model(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let mut f = rx.recv();
        assert_eq!(poll_once(&mut f), None);
        let s = thread::spawn(move || tx.try_send(9).is_ok());
        let polled = poll_once(&mut f);
        drop(f);
        let sent = s.join().unwrap();
        let later = rx.try_recv().ok();
        match (sent, polled, later) {
            (true, Some(Ok(9)), None) | (true, None, Some(9)) | (false, None, None) => {}
            other => panic!("value lost or duplicated: {other:?}"),
        }
    });
}

/// A blocking select with a `done(ctx)` arm races a sender and a cancel:
/// exactly one arm runs, and a value not taken by the select is still
/// there for the next receiver.
#[test]
fn select_done_arm_races_a_sender() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(1);
    b.check(|| {
        let (tx, rx) = chan::bounded::<u32>(1);
        let (ctx, cancel) = tether::Context::background().with_cancel();
        let s = thread::spawn(move || tx.try_send(4).unwrap());
        let c = thread::spawn(move || cancel.cancel());
        let took = tether::select_blocking! {
            recv(rx) -> v => v.ok(),
            done(ctx) => None,
        };
        s.join().unwrap();
        c.join().unwrap();
        match took {
            Some(v) => assert_eq!(v, 4),
            None => assert_eq!(rx.try_recv(), Ok(4), "the value waits for the next receiver"),
        }
    });
}
