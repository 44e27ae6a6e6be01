//! Cancel safety of channel futures: a `send`, `recv`, `recv_many` or
//! `select!` future dropped at any poll point loses no value, duplicates
//! none, and completes no operation — under contention with blocking and
//! async peers, on every flavor (capacity 0, 1, N, unbounded).
//!
//! Method: a "dropper" thread builds a future, polls it N times by hand
//! (no-op waker, N = 0, 1, 2, ... cycling), then drops it, recording the
//! value only if a poll returned `Ready`. Every value sent is unique, so at
//! the end the received multiset must equal the multiset of values whose
//! send completed.
mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;

use tether::chan::{self, Receiver, Sender};

/// Polls `f` up to `n` times with a no-op waker (yielding the core between
/// polls so peers make progress); `Some` if it completed.
fn poll_n<F: Future + Unpin>(f: &mut F, n: usize) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..n {
        if let Poll::Ready(v) = Pin::new(&mut *f).poll(&mut cx) {
            return Some(v);
        }
        thread::yield_now();
    }
    None
}

type MakeChan = Box<dyn Fn() -> (Sender<u64>, Receiver<u64>)>;

fn flavors() -> Vec<(&'static str, MakeChan)> {
    vec![
        ("cap0", Box::new(|| chan::bounded(0))),
        ("cap1", Box::new(|| chan::bounded(1))),
        ("cap4", Box::new(|| chan::bounded(4))),
        ("unbounded", Box::new(chan::unbounded)),
    ]
}

/// Every value received, with how often it was received.
#[derive(Default, Clone)]
struct Ledger(Arc<Mutex<HashMap<u64, u32>>>);

impl Ledger {
    fn add(&self, v: u64) {
        *self.0.lock().unwrap().entry(v).or_default() += 1;
    }
    fn assert_exactly(&self, sent: &[u64], what: &str) {
        let got = self.0.lock().unwrap();
        for (v, n) in got.iter() {
            assert_eq!(*n, 1, "{what}: value {v} received {n} times");
        }
        let mut missing: Vec<_> = sent.iter().filter(|v| !got.contains_key(v)).collect();
        missing.sort();
        assert!(missing.is_empty(), "{what}: values lost: {:?}", &missing[..missing.len().min(10)]);
        assert_eq!(got.len(), sent.len(), "{what}: received values that were never sent");
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Dropped `recv` futures lose nothing: values handed to a future that is
/// then dropped go back to the channel and are received by someone else.
#[test]
fn dropped_recv_futures_lose_no_value() {
    common::watchdog(|| {
        for (name, make) in flavors() {
            let (tx, rx) = make();
            let ledger = Ledger::default();
            const PER: u64 = 2_000;
            let rt = rt();
            // Producers: one blocking thread, one async task.
            let t1 = {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..PER {
                        tx.send_blocking(i).unwrap();
                    }
                })
            };
            let t2 = {
                let tx = tx.clone();
                rt.spawn(async move {
                    for i in PER..2 * PER {
                        tx.send(i).await.unwrap();
                    }
                })
            };
            drop(tx);
            // Consumers: a blocking receiver, an async receiver, a dropper.
            let c1 = {
                let (rx, l) = (rx.clone(), ledger.clone());
                thread::spawn(move || {
                    while let Ok(v) = rx.recv_blocking() {
                        l.add(v);
                        if v % 7 == 0 {
                            thread::yield_now();
                        }
                    }
                })
            };
            let c2 = {
                let (rx, l) = (rx.clone(), ledger.clone());
                rt.spawn(async move {
                    while let Ok(v) = rx.recv().await {
                        l.add(v);
                    }
                })
            };
            let dropper = {
                let (rx, l) = (rx.clone(), ledger.clone());
                thread::spawn(move || {
                    let mut n = 0;
                    while !rx.is_closed() || !rx.is_empty() {
                        let mut f = rx.recv();
                        if let Some(r) = poll_n(&mut f, n % 4) {
                            match r {
                                Ok(v) => l.add(v),
                                Err(_) => break,
                            }
                        }
                        drop(f);
                        n += 1;
                    }
                })
            };
            drop(rx);
            t1.join().unwrap();
            rt.block_on(t2).unwrap();
            c1.join().unwrap();
            dropper.join().unwrap();
            rt.block_on(c2).unwrap();
            let sent: Vec<u64> = (0..2 * PER).collect();
            ledger.assert_exactly(&sent, name);
        }
    });
    common::assert_no_leaks();
}

/// Dropped `send` futures send nothing; completed ones send exactly once.
#[test]
fn dropped_send_futures_send_nothing() {
    common::watchdog(|| {
        for (name, make) in flavors() {
            let (tx, rx) = make();
            let ledger = Ledger::default();
            let rt = rt();
            let sent = Arc::new(Mutex::new(Vec::new()));
            // The dropper: tries values 0.., records those whose future completed.
            let dropper = {
                let (tx, sent) = (tx.clone(), sent.clone());
                thread::spawn(move || {
                    for v in 0..3_000u64 {
                        let mut f = tx.send(v);
                        if let Some(r) = poll_n(&mut f, (v % 5) as usize) {
                            r.unwrap();
                            sent.lock().unwrap().push(v);
                        }
                    }
                })
            };
            // A steady blocking sender and an async sender on other values.
            let bs = {
                let tx = tx.clone();
                thread::spawn(move || {
                    for v in 10_000..11_000u64 {
                        tx.send_blocking(v).unwrap();
                    }
                })
            };
            let asy = {
                let tx = tx.clone();
                rt.spawn(async move {
                    for v in 20_000..21_000u64 {
                        tx.send(v).await.unwrap();
                    }
                })
            };
            drop(tx);
            let c1 = {
                let (rx, l) = (rx.clone(), ledger.clone());
                thread::spawn(move || {
                    while let Ok(v) = rx.recv_blocking() {
                        l.add(v);
                    }
                })
            };
            let c2 = {
                let (rx, l) = (rx.clone(), ledger.clone());
                rt.spawn(async move {
                    while let Ok(v) = rx.recv().await {
                        l.add(v);
                    }
                })
            };
            drop(rx);
            dropper.join().unwrap();
            bs.join().unwrap();
            rt.block_on(asy).unwrap();
            c1.join().unwrap();
            rt.block_on(c2).unwrap();
            let mut all = sent.lock().unwrap().clone();
            all.extend(10_000..11_000);
            all.extend(20_000..21_000);
            ledger.assert_exactly(&all, name);
        }
    });
    common::assert_no_leaks();
}

/// A dropped `select!` future completes no arm: a receive arm loses no
/// value and a send arm sends nothing; a completed one did exactly one.
#[test]
fn dropped_select_futures_complete_no_arm() {
    common::watchdog(|| {
        for (name, make) in flavors() {
            let (atx, arx) = make();
            let (btx, brx) = make();
            let (ctx_, crx) = make(); // the select sends on c
            let ledger = Ledger::default();
            let rt = rt();
            let done_sending = Arc::new(AtomicU64::new(0));
            const PER: u64 = 1_500;
            let pa = {
                let atx = atx.clone();
                thread::spawn(move || {
                    for v in 0..PER {
                        atx.send_blocking(v).unwrap();
                    }
                })
            };
            let pb = {
                let btx = btx.clone();
                rt.spawn(async move {
                    for v in PER..2 * PER {
                        btx.send(v).await.unwrap();
                    }
                })
            };
            drop((atx, btx));
            // Receives what the select sends on c, plus values it relays.
            let sink = {
                let (crx, l) = (crx.clone(), ledger.clone());
                thread::spawn(move || {
                    while let Ok(v) = crx.recv_blocking() {
                        l.add(v);
                    }
                })
            };
            drop(crx);
            // Plain receivers on a and b, so values also flow without the select.
            let ra = {
                let (arx, l) = (arx.clone(), ledger.clone());
                thread::spawn(move || {
                    while let Ok(v) = arx.recv_blocking() {
                        l.add(v);
                    }
                })
            };
            let rb = {
                let (brx, l) = (brx.clone(), ledger.clone());
                rt.spawn(async move {
                    while let Ok(v) = brx.recv().await {
                        l.add(v);
                    }
                })
            };
            let sent_by_select = Arc::new(Mutex::new(Vec::new()));
            let selector = {
                let (arx, brx, l, sent, ds) =
                    (arx.clone(), brx.clone(), ledger.clone(), sent_by_select.clone(), done_sending.clone());
                thread::spawn(move || {
                    let mut n = 0u64;
                    let mut open = (true, true);
                    while open.0 || open.1 {
                        let x = 1_000_000 + n;
                        let (ar, br) = (open.0.then_some(&arx), open.1.then_some(&brx));
                        let mut f = Box::pin(async {
                            tether::select! {
                                recv(ar) -> v => (0, v.ok()),
                                recv(br) -> v => (1, v.ok()),
                                send(ctx_, x) -> r => { r.unwrap(); (2, Some(x)) },
                            }
                        });
                        if let Some((arm, v)) = poll_n(&mut f, (n % 4) as usize) {
                            match (arm, v) {
                                (2, Some(x)) => sent.lock().unwrap().push(x),
                                (0, Some(v)) | (1, Some(v)) => l.add(v),
                                (0, None) => open.0 = false,
                                (1, None) => open.1 = false,
                                _ => unreachable!(),
                            }
                        }
                        drop(f);
                        n += 1;
                    }
                    ds.store(1, Ordering::SeqCst);
                })
            };
            drop((arx, brx));
            pa.join().unwrap();
            rt.block_on(pb).unwrap();
            selector.join().unwrap();
            ra.join().unwrap();
            rt.block_on(rb).unwrap();

            sink.join().unwrap();
            let mut all: Vec<u64> = (0..2 * PER).collect();
            all.extend(sent_by_select.lock().unwrap().iter().copied());
            ledger.assert_exactly(&all, name);
        }
    });
    common::assert_no_leaks();
}

/// Dropped `recv_many` futures take nothing.
#[test]
fn dropped_recv_many_futures_lose_no_value() {
    common::watchdog(|| {
        for (name, make) in flavors() {
            let (tx, rx) = make();
            let ledger = Ledger::default();
            const N: u64 = 3_000;
            let p = thread::spawn(move || {
                for v in 0..N {
                    tx.send_blocking(v).unwrap();
                }
            });
            let c = {
                let (rx, l) = (rx.clone(), ledger.clone());
                thread::spawn(move || {
                    while let Ok(v) = rx.recv_blocking() {
                        l.add(v);
                    }
                })
            };
            let mut buf = Vec::new();
            let mut n = 0;
            loop {
                let mut f = rx.recv_many(&mut buf, 3);
                match poll_n(&mut f, n % 4) {
                    Some(Ok(_)) => {}
                    Some(Err(_)) => break,
                    None => {}
                }
                drop(f);
                for v in buf.drain(..) {
                    ledger.add(v);
                }
                n += 1;
            }
            drop(rx);
            p.join().unwrap();
            c.join().unwrap();
            let sent: Vec<u64> = (0..N).collect();
            ledger.assert_exactly(&sent, name);
        }
    });
    common::assert_no_leaks();
}

/// Capacity 0 with an async sender: the send is not complete until a
/// receiver took the value; a non-blocking receive need not see a parked
/// async sender, and dropping that sender leaves nothing behind.
#[test]
fn rendezvous_async_send_commits_only_when_received() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u64>(0);
        let mut f = tx.send(1);
        assert!(poll_n(&mut f, 3).is_none(), "no receiver: the send must wait");
        assert!(rx.try_recv().is_err());
        drop(f);
        assert!(rx.try_recv().is_err(), "a dropped send sent nothing");

        // A blocking receiver parks; the async send then completes into it.
        let h = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv_blocking())
        };
        let mut f = tx.send(2);
        let mut n = 0;
        let r = loop {
            if let Some(r) = poll_n(&mut f, 1) {
                break r;
            }
            n += 1;
            assert!(n < 10_000_000);
        };
        r.unwrap();
        assert_eq!(h.join().unwrap(), Ok(2));

        // A parked blocking sender is seen by try_recv (Go's rule).
        let h = {
            let tx = tx.clone();
            thread::spawn(move || tx.send_blocking(3))
        };
        let v = loop {
            match rx.try_recv() {
                Ok(v) => break v,
                Err(_) => thread::yield_now(),
            }
        };
        assert_eq!(v, 3);
        h.join().unwrap().unwrap();
    });
    common::assert_no_leaks();
}

/// Capacity 0, every mix of blocking and async peers, with async peers
/// dropped mid-way: each value is received exactly once.
#[test]
fn rendezvous_mixed_peers_with_drops_exactly_once() {
    common::watchdog(|| {
        let rt = rt();
        for round in 0..4 {
            let (tx, rx) = chan::bounded::<u64>(0);
            let ledger = Ledger::default();
            let sent = Arc::new(Mutex::new(Vec::new()));
            let mut hs = Vec::new();
            for s in 0..2u64 {
                let (tx, sent) = (tx.clone(), sent.clone());
                hs.push(thread::spawn(move || {
                    for i in 0..800u64 {
                        let v = s * 100_000 + i;
                        if (i + round) % 3 == 0 {
                            let mut f = tx.send(v);
                            if let Some(r) = poll_n(&mut f, (i % 4) as usize) {
                                r.unwrap();
                                sent.lock().unwrap().push(v);
                            }
                        } else {
                            tx.send_blocking(v).unwrap();
                            sent.lock().unwrap().push(v);
                        }
                    }
                }));
            }
            let at = {
                let (tx, sent) = (tx.clone(), sent.clone());
                rt.spawn(async move {
                    for v in 500_000..500_800u64 {
                        tx.send(v).await.unwrap();
                        sent.lock().unwrap().push(v);
                    }
                })
            };
            drop(tx);
            let r1 = {
                let (rx, l) = (rx.clone(), ledger.clone());
                thread::spawn(move || {
                    let mut n = 0;
                    loop {
                        let mut f = rx.recv();
                        match poll_n(&mut f, n % 5) {
                            Some(Ok(v)) => l.add(v),
                            Some(Err(_)) => break,
                            None => {}
                        }
                        n += 1;
                    }
                })
            };
            let r2 = {
                let (rx, l) = (rx.clone(), ledger.clone());
                rt.spawn(async move {
                    while let Ok(v) = rx.recv().await {
                        l.add(v);
                    }
                })
            };
            let r3 = {
                let (rx, l) = (rx.clone(), ledger.clone());
                thread::spawn(move || {
                    while let Ok(v) = rx.recv_blocking() {
                        l.add(v);
                    }
                })
            };
            drop(rx);
            for h in hs {
                h.join().unwrap();
            }
            rt.block_on(at).unwrap();
            r1.join().unwrap();
            rt.block_on(r2).unwrap();
            r3.join().unwrap();
            ledger.assert_exactly(&sent.lock().unwrap(), "cap0 mixed");
        }
    });
    common::assert_no_leaks();
}

/// A value handed to a receive future that is dropped before returning it
/// goes back to the head of the channel (order kept for one sender).
#[test]
fn dropped_recv_future_redelivers_in_order() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u64>(2);
        let mut f = rx.recv();
        assert!(poll_n(&mut f, 1).is_none());
        tx.try_send(1).unwrap(); // handed straight into the parked future
        tx.try_send(2).unwrap();
        drop(f); // never returned 1
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));

        // Rendezvous: an async sender hands to a parked async receiver,
        // which is dropped; the value is not lost.
        let (tx, rx) = chan::bounded::<u64>(0);
        let mut r = rx.recv();
        assert!(poll_n(&mut r, 1).is_none());
        let mut s = tx.send(7);
        assert_eq!(poll_n(&mut s, 1), Some(Ok(())));
        drop(r);
        assert_eq!(rx.try_recv(), Ok(7));
    });
    common::assert_no_leaks();
}
