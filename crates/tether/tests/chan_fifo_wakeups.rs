//! Who is served, and who is woken (module docs, *Order* and *Costs*;
//! issue 8: "wake only the waiter that can proceed; never forward a wake to
//! a waiter that is not giving up"). Deterministic: async operations are
//! polled by hand with counting wakers, on one thread.
//!
//! - Waiting receivers and senders are served first come, first served.
//! - A value (or freed room) wakes exactly one parked operation — the
//!   oldest — not every waiter.
//! - A woken operation that is dropped instead passes its turn to the next
//!   one (exactly one more wake), and nothing is lost.
//! - A close wakes every parked operation.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context as TaskCx, Poll, Wake, Waker};

use tether::chan::{self, RecvError, SendError};

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A pending future with its own counting waker.
struct Parked<F> {
    f: Pin<Box<F>>,
    count: Arc<Count>,
    waker: Waker,
}

impl<F: Future> Parked<F> {
    fn new(f: F) -> Self {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut p = Parked { f: Box::pin(f), count, waker };
        assert!(p.poll().is_none(), "expected to park");
        p
    }
    fn poll(&mut self) -> Option<F::Output> {
        match self.f.as_mut().poll(&mut TaskCx::from_waker(&self.waker)) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }
    fn woken(&self) -> usize {
        self.count.0.load(SeqCst)
    }
}

fn wakes<F: Future>(ps: &[Parked<F>]) -> Vec<usize> {
    ps.iter().map(Parked::woken).collect()
}

/// Four receives park in order; each value sent wakes exactly the oldest
/// receive still waiting, which gets that value; the others stay unwoken.
#[test]
fn one_value_wakes_exactly_the_oldest_receiver() {
    for cap in [0usize, 1, 4] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        let mut rs: Vec<_> = (0..4).map(|_| Parked::new(rx.recv())).collect();
        for v in 0..4u32 {
            // On capacity 0 an async send hands over in its own poll.
            assert_eq!(common::poll_once(&mut Box::pin(tx.send(v))), Some(Ok(())), "cap {cap}: a receiver waits");
            let mut want = vec![0; 4];
            for w in want.iter_mut().take(v as usize + 1) {
                *w = 1;
            }
            assert_eq!(wakes(&rs), want, "cap {cap}: after value {v}, only receive {v} is woken");
            // The younger ones, polled spuriously, do not take it.
            for r in rs.iter_mut().skip(v as usize + 1) {
                assert!(r.poll().is_none(), "cap {cap}: a younger receive took value {v}");
            }
            assert_eq!(rs[v as usize].poll(), Some(Ok(v)), "cap {cap}: first come, first served");
        }
    }
}

/// A woken receive that is dropped instead passes its turn on: exactly the
/// next receive is woken, and it gets the value.
#[test]
fn a_dropped_woken_receiver_passes_its_turn_to_the_next() {
    for cap in [0usize, 1, 4] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        let mut rs: Vec<_> = (0..3).map(|_| Some(Parked::new(rx.recv()))).collect();
        assert_eq!(common::poll_once(&mut Box::pin(tx.send(9))), Some(Ok(())));
        assert_eq!(rs[0].as_ref().unwrap().woken(), 1);
        drop(rs[0].take()); // woken (or handed 9), never returned it
        assert_eq!(rs[1].as_ref().unwrap().woken(), 1, "cap {cap}: the turn went to the next receive");
        assert_eq!(rs[2].as_ref().unwrap().woken(), 0, "cap {cap}: and to no one else");
        assert_eq!(rs[1].as_mut().unwrap().poll(), Some(Ok(9)), "cap {cap}: nothing lost");
        assert!(rs[2].as_mut().unwrap().poll().is_none());
    }
}

/// Async senders parked on a full buffer: each freed slot wakes exactly the
/// oldest, whose value goes in; order is kept.
#[test]
fn freed_room_wakes_exactly_the_oldest_sender() {
    for cap in [1usize, 2] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        for v in 0..cap as u32 {
            tx.try_send(v).unwrap();
        }
        let mut ss: Vec<_> = (0..3).map(|i| Parked::new(tx.send(100 + i))).collect();
        // What comes out: the buffered values, then the senders' in order.
        let mut order: Vec<u32> = (0..cap as u32).collect();
        order.extend(100..103);
        for i in 0..3usize {
            let got = rx.try_recv().unwrap();
            assert_eq!(got, order[i], "cap {cap}: values come out in order");
            let mut want = vec![0; 3];
            for w in want.iter_mut().take(i + 1) {
                *w = 1;
            }
            assert_eq!(wakes(&ss), want, "cap {cap}: after freeing slot {i}, only sender {i} is woken");
            for s in ss.iter_mut().skip(i + 1) {
                assert!(s.poll().is_none(), "cap {cap}: a younger sender took the room");
            }
            assert_eq!(ss[i].poll(), Some(Ok(())));
        }
        let rest: Vec<u32> = rx.try_iter().collect();
        assert_eq!(rest, order[3..], "cap {cap}: FIFO");
    }
}

/// Capacity 0: parked async senders are served in order as receivers
/// arrive; one arriving receiver wakes exactly one sender. A woken sender
/// that is dropped passes its turn on and sent nothing.
#[test]
fn rendezvous_receivers_wake_exactly_the_oldest_sender() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let mut ss: Vec<_> = (0..3).map(|i| Some(Parked::new(tx.send(i)))).collect();
    let mut r = Parked::new(rx.recv());
    assert_eq!(ss.iter().map(|s| s.as_ref().unwrap().woken()).collect::<Vec<_>>(), [1, 0, 0]);
    drop(ss[0].take()); // woken, dropped: sends nothing, passes the turn
    assert_eq!(ss[1].as_ref().unwrap().woken(), 1);
    assert_eq!(ss[2].as_ref().unwrap().woken(), 0);
    assert_eq!(ss[1].as_mut().unwrap().poll(), Some(Ok(())));
    assert_eq!(r.poll(), Some(Ok(1)), "the dropped sender's 0 was never sent");
    let mut r = Parked::new(rx.recv());
    assert_eq!(ss[2].as_ref().unwrap().woken(), 1);
    assert_eq!(ss[2].as_mut().unwrap().poll(), Some(Ok(())));
    assert_eq!(r.poll(), Some(Ok(2)));
}

/// A close wakes every parked operation, receivers and senders; receivers
/// then see `Closed`, senders get their values back.
#[test]
fn close_wakes_every_parked_operation() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let mut rs: Vec<_> = (0..3).map(|_| Parked::new(rx.recv())).collect();
    tx.close();
    assert_eq!(wakes(&rs), [1, 1, 1]);
    for r in rs.iter_mut() {
        assert_eq!(r.poll(), Some(Err(RecvError::Closed)));
    }
    let (tx, rx) = chan::bounded::<u32>(1);
    tx.try_send(0).unwrap();
    let mut ss: Vec<_> = (1..4).map(|v| Parked::new(tx.send(v))).collect();
    drop(rx);
    assert_eq!(wakes(&ss), [1, 1, 1]);
    for (v, s) in (1..4).zip(ss.iter_mut()) {
        assert_eq!(s.poll(), Some(Err(SendError(v))));
    }
}

/// No thundering herd: k values to k parked receivers wake each exactly
/// once in all (one wake per value), when the values fit (capacity 0: each
/// hands over; capacity ≥ k: each is buffered).
#[test]
fn k_values_to_k_receivers_wake_each_once() {
    for cap in [0usize, 8, 64] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        let mut rs: Vec<_> = (0..8).map(|_| Parked::new(rx.recv())).collect();
        for v in 0..8 {
            assert_eq!(common::poll_once(&mut Box::pin(tx.send(v))), Some(Ok(())));
        }
        assert_eq!(wakes(&rs), [1; 8], "cap {cap}");
        let mut got: Vec<u32> = rs.iter_mut().map(|r| r.poll().unwrap().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..8).collect::<Vec<_>>());
    }
}

/// First come, first served across the two worlds, senders' side, on a
/// rendezvous channel: an async sender parks first, a blocking sender
/// parks after it; the next receive must be served by the async sender
/// (it is woken and hands over in its own poll), not by the younger
/// blocking one. Otherwise a steady flow of blocking senders starves an
/// async one. (The buffered flavours keep this order: freed room is
/// reserved for the oldest sender, async or not.)
#[test]
fn rendezvous_oldest_sender_is_served_first_across_worlds() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let mut s = Parked::new(tx.send(1)); // parks first
        let b = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send_blocking(2))
        };
        std::thread::sleep(std::time::Duration::from_millis(20)); // let it park (if it has not, the test is vacuous, never wrong)
        let mut r = Box::pin(rx.recv());
        let first = common::poll_once(&mut r);
        assert_eq!(
            first, None,
            "the receive took the younger blocking sender's value ({first:?}) instead of waiting for the older async sender"
        );
        assert_eq!(s.woken(), 1, "the older async sender is woken");
        assert_eq!(s.poll(), Some(Ok(())));
        assert_eq!(common::poll_once(&mut r), Some(Ok(1)));
        assert_eq!(rx.recv_blocking(), Ok(2));
        b.join().unwrap().unwrap();
    });
    common::assert_no_leaks();
}

/// The buffered counterpart holds: the room a receive frees goes to the
/// oldest parked sender, async before a younger blocking one.
#[test]
fn buffered_oldest_sender_is_served_first_across_worlds() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(1);
        tx.try_send(0).unwrap();
        let mut s = Parked::new(tx.send(1));
        let b = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send_blocking(2))
        };
        std::thread::sleep(std::time::Duration::from_millis(20)); // let it park (not required)
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(s.woken(), 1, "the room went to the older async sender");
        assert_eq!(s.poll(), Some(Ok(())));
        assert_eq!(rx.recv_blocking(), Ok(1));
        assert_eq!(rx.recv_blocking(), Ok(2));
        b.join().unwrap().unwrap();
    });
    common::assert_no_leaks();
}
