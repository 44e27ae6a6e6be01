//! Every value is dropped exactly once — by whoever owns it last: the
//! receiver that got it, the sender that got it back (a failed, timed-out
//! or dropped send), a select that never sent it, or the channel when the
//! last receiver leaves with values still buffered. None is dropped twice,
//! none is kept alive after everything is gone (a value stuck in a recycled
//! waiter node, a redelivered value nobody owns).
//!
//! Values count themselves: creating one adds 1 to a live counter, dropping
//! it subtracts 1 (and a second drop of the same value is caught by its own
//! flag). Threads and tasks run random operations, dropping futures at
//! random poll points, with every way of ending (close at the end, close
//! midway, receivers leaving early), then everything is dropped and the
//! counter must be back at 0.

mod common;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use futures_core::Stream;
use tether::chan::{self, Receiver, Select, Sender};

/// A value that counts itself.
struct Tracked {
    live: Arc<AtomicI64>,
    dropped: AtomicBool,
}

impl Tracked {
    fn new(live: &Arc<AtomicI64>) -> Tracked {
        live.fetch_add(1, SeqCst);
        Tracked { live: live.clone(), dropped: AtomicBool::new(false) }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(!self.dropped.swap(true, SeqCst), "a value was dropped twice");
        self.live.fetch_sub(1, SeqCst);
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `0..n` (`n` < 2^32).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
}

fn poll_n<F: Future>(mut f: Pin<&mut F>, n: u64) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..n {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
        thread::yield_now();
    }
    None
}

fn producer(tx: Sender<Tracked>, live: Arc<AtomicI64>, mut rng: Rng, n: u64) {
    let (_idle_keep, idle) = chan::bounded::<Tracked>(0);
    for _ in 0..n {
        let v = Tracked::new(&live);
        let closed = match rng.below(6) {
            0 => tx.send_blocking(v).is_err(),
            1 => tx.send_timeout_blocking(v, Duration::from_micros(rng.below(20))).is_err_and(|e| e.is_closed()),
            2 => tx.try_send(v).is_err_and(|e| e.is_closed()),
            3 => {
                let k = rng.below(4);
                let f = pin!(tx.send(v));
                poll_n(f, k).is_some_and(|r| r.is_err())
            }
            4 => {
                let k = rng.below(4);
                let f = pin!(async {
                    tether::select! {
                        send(tx, v) -> r => r.is_err(),
                        recv(idle) -> _r => false,
                    }
                });
                poll_n(f, k).unwrap_or(false)
            }
            _ => {
                let mut sel = Select::new();
                let arm = sel.send(&tx, v);
                sel.send(&tx, Tracked::new(&live)); // two values, at most one sent
                sel.recv(&idle);
                let k = rng.below(4);
                let f = pin!(sel.select());
                match poll_n(f, k) {
                    Some(op) if op.index() == arm => op.send::<Tracked>().is_err(),
                    Some(op) if op.index() == arm + 1 => op.send::<Tracked>().is_err(),
                    _ => false,
                }
            }
        };
        if closed {
            return;
        }
    }
}

fn consumer(rx: Receiver<Tracked>, mut rng: Rng, limit: usize) {
    let mut got = 0;
    while got < limit {
        let r: Option<Option<Tracked>> = match rng.below(5) {
            0 => Some(rx.recv_blocking().ok()),
            1 => match rx.recv_timeout_blocking(Duration::from_micros(rng.below(20))) {
                Ok(v) => Some(Some(v)),
                Err(e) if e.is_closed() => Some(None),
                Err(_) => None,
            },
            2 => {
                let k = rng.below(4);
                let f = pin!(rx.recv());
                poll_n(f, k).map(Result::ok)
            }
            3 => {
                let mut clone = rx.clone();
                let k = rng.below(4);
                let f = pin!(poll_fn(|cx| Pin::new(&mut clone).poll_next(cx)));
                poll_n(f, k)
            }
            _ => {
                let k = rng.below(4);
                let mut buf = Vec::new();
                let r = {
                    let f = pin!(rx.recv_many(&mut buf, 3));
                    poll_n(f, k)
                };
                match r {
                    Some(Ok(_)) => {
                        got += buf.len();
                        continue; // the values are dropped here, by their receiver
                    }
                    Some(Err(_)) => Some(None),
                    None => None,
                }
            }
        };
        match r {
            Some(Some(_v)) => got += 1, // dropped by its receiver
            Some(None) => return,       // closed and drained
            None => {}
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum End {
    Close,
    CloseMidway,
    ReceiversLeave,
}

fn run(cap: Option<usize>, end: End, seed: u64) {
    let live = Arc::new(AtomicI64::new(0));
    {
        let (tx, rx) = match cap {
            Some(c) => chan::bounded::<Tracked>(c),
            None => chan::unbounded(),
        };
        let mut rng = Rng(seed | 1);
        let producers: Vec<_> = (0..3)
            .map(|i| {
                let (tx, live, r) = (tx.clone(), live.clone(), Rng(rng.next() | 1 | i));
                thread::spawn(move || producer(tx, live, r, 400))
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let limit = match end {
                    End::ReceiversLeave => 1 + rng.below(300) as usize,
                    _ => usize::MAX,
                };
                let (rx, r) = (rx.clone(), Rng(rng.next() | 1));
                thread::spawn(move || consumer(rx, r, limit))
            })
            .collect();
        drop(rx);
        if let End::CloseMidway = end {
            thread::sleep(Duration::from_micros(rng.below(3_000)));
            tx.close();
        }
        for p in producers {
            p.join().unwrap();
        }
        tx.close();
        for c in consumers {
            c.join().unwrap();
        }
    }
    assert_eq!(
        live.load(SeqCst),
        0,
        "cap {cap:?}, {end:?}, seed {seed}: values still alive after everything was dropped"
    );
}

#[test]
fn every_value_is_dropped_exactly_once() {
    common::watchdog(|| {
        for cap in [Some(0), Some(1), Some(16), None] {
            for end in [End::Close, End::CloseMidway, End::ReceiversLeave] {
                for seed in [1u64, 77] {
                    run(cap, end, seed);
                }
            }
        }
    });
    common::assert_no_leaks();
}

/// The same with tokio tasks on the other end: async consumers (and a
/// task producer) with the real waker, futures dropped at random points by
/// `tokio::select!`-style races against `yield_now`.
#[test]
fn every_value_is_dropped_exactly_once_with_tasks() {
    common::watchdog(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        for cap in [Some(0), Some(1), Some(16), None] {
            let live = Arc::new(AtomicI64::new(0));
            {
                let (tx, rx) = match cap {
                    Some(c) => chan::bounded::<Tracked>(c),
                    None => chan::unbounded(),
                };
                let p = {
                    let (tx, live) = (tx.clone(), live.clone());
                    thread::spawn(move || producer(tx, live, Rng(0x9e37), 500))
                };
                let tp = {
                    let (tx, live) = (tx.clone(), live.clone());
                    rt.spawn(async move {
                        for i in 0..500u32 {
                            let v = Tracked::new(&live);
                            if i % 3 == 0 {
                                if tx.send(v).await.is_err() {
                                    return;
                                }
                            } else {
                                tokio::select! {
                                    r = tx.send(v) => if r.is_err() { return },
                                    _ = tokio::task::yield_now() => {}
                                }
                            }
                        }
                    })
                };
                drop(tx);
                let cs: Vec<_> = (0..2)
                    .map(|k| {
                        let rx = rx.clone();
                        rt.spawn(async move {
                            let mut n = 0u32;
                            loop {
                                n += 1;
                                if k == 1 && n > 300 {
                                    return; // one consumer leaves early
                                }
                                if n % 2 == 0 {
                                    match rx.recv().await {
                                        Ok(_v) => {}
                                        Err(_) => return,
                                    }
                                } else {
                                    tokio::select! {
                                        r = rx.recv() => if r.is_err() { return },
                                        _ = tokio::task::yield_now() => {}
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                drop(rx);
                p.join().unwrap();
                rt.block_on(tp).unwrap();
                for c in cs {
                    rt.block_on(c).unwrap();
                }
            }
            assert_eq!(live.load(SeqCst), 0, "cap {cap:?}: values still alive after everything was dropped");
        }
    });
    common::assert_no_leaks();
}
