//! Conformance of `tether::chan` with the behaviours Go's own channel tests
//! check (test/chan/fifo.go, nonblock.go, zerosize.go, sieve1.go,
//! sieve2.go, test/closedchan.go and runtime/chan_test.go: TestChan,
//! TestMultiConsumer, TestNonblockRecvRace), plus the rules where the
//! contract deliberately differs from Go (no panics on closed channels, no
//! sends into a channel nobody can read).
//!
//! Each test is named after the Go behaviour it checks, runs on OS threads
//! (`*_blocking`), on tokio tasks, and on mixes of both where the behaviour
//! could differ. Tests only ever assert that something did *not* happen
//! after a short pause when the correct outcome cannot depend on timing:
//! a correct channel passes them whatever the scheduler does.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use tether::chan::{
    self, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError, TrySendError,
};

/// Every capacity flavour: `Some(n)` is `bounded(n)`, `None` is unbounded.
const CAPS: [Option<usize>; 6] = [Some(0), Some(1), Some(2), Some(3), Some(16), None];

fn make<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    match cap {
        Some(n) => chan::bounded(n),
        None => chan::unbounded(),
    }
}

/// A pause long enough for a spawned thread to reach its blocking call in
/// practice. Correctness never depends on it: the assertions that follow
/// pauses only check that something has not happened (yet).
fn pause() {
    thread::sleep(Duration::from_millis(2));
}

/// `StreamExt::next` without a dependency on `futures`.
async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// Polls `f` up to `n` times with a no-op waker (yielding the thread in
/// between): true if it stayed pending throughout.
fn stays_pending<F: Future + Unpin>(f: &mut F, n: usize) -> bool {
    for _ in 0..n {
        if common::poll_once(f).is_some() {
            return false;
        }
        thread::yield_now();
    }
    true
}

// ---------------------------------------------------------------------------
// Error types: the contract's trait promises.
// ---------------------------------------------------------------------------

fn is_error<E: std::error::Error + Send + Sync + 'static + std::fmt::Debug + std::fmt::Display + PartialEq>() {}

#[test]
fn error_types_are_errors_send_sync_and_comparable() {
    is_error::<SendError<i32>>();
    is_error::<TrySendError<i32>>();
    is_error::<SendTimeoutError<i32>>();
    is_error::<RecvError>();
    is_error::<TryRecvError>();
    is_error::<RecvTimeoutError>();
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<Sender<String>>();
    send_sync::<Receiver<String>>();
    // Display says something (no empty messages).
    assert!(!SendError(1).to_string().is_empty());
    assert!(!TrySendError::Full(1).to_string().is_empty());
    assert!(!TrySendError::Closed(1).to_string().is_empty());
    assert!(!RecvError::Closed.to_string().is_empty());
    assert!(!TryRecvError::Empty.to_string().is_empty());
    assert!(!RecvTimeoutError::Timeout.to_string().is_empty());
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/fifo.go
// ---------------------------------------------------------------------------

/// AsynchFifo: values sent into a buffered channel come out in order.
#[test]
fn fifo_async_buffered_channel_keeps_order() {
    common::watchdog(|| {
        for cap in [Some(10), Some(1000), None] {
            let (tx, rx) = make::<usize>(cap);
            let n = cap.unwrap_or(1000);
            for i in 0..n {
                tx.send_blocking(i).unwrap();
            }
            assert_eq!(tx.len(), n);
            for i in 0..n {
                assert_eq!(rx.recv_blocking(), Ok(i));
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    });
    common::assert_no_leaks();
}

/// SynchFifo: a daisy chain of receivers, each let through only after its
/// predecessor has received, sees the values of an unbuffered channel in
/// the order they were sent.
#[test]
fn fifo_sync_channel_daisy_chain_threads() {
    common::watchdog(|| {
        const N: usize = 10;
        let (tx, rx) = chan::bounded::<usize>(0);
        let (start, mut gate) = chan::bounded::<()>(0);
        let mut handles = Vec::new();
        for i in 0..N {
            let (out_tx, out_rx) = chan::bounded::<()>(0);
            let rx = rx.clone();
            let gate_in = gate;
            handles.push(thread::spawn(move || {
                gate_in.recv_blocking().unwrap();
                assert_eq!(rx.recv_blocking(), Ok(i), "link {i} got a value out of order");
                out_tx.send_blocking(()).unwrap();
            }));
            gate = out_rx;
        }
        start.send_blocking(()).unwrap();
        for i in 0..N {
            tx.send_blocking(i).unwrap();
        }
        gate.recv_blocking().unwrap();
        for h in handles {
            h.join().unwrap();
        }
    });
    common::assert_no_leaks();
}

#[test]
fn fifo_sync_channel_daisy_chain_tasks() {
    common::block_on(async {
        const N: usize = 10;
        let (tx, rx) = chan::bounded::<usize>(0);
        let (start, mut gate) = chan::bounded::<()>(0);
        let mut handles = Vec::new();
        for i in 0..N {
            let (out_tx, out_rx) = chan::bounded::<()>(0);
            let rx = rx.clone();
            let gate_in = gate;
            handles.push(tokio::spawn(async move {
                gate_in.recv().await.unwrap();
                assert_eq!(rx.recv().await, Ok(i), "link {i} got a value out of order");
                out_tx.send(()).await.unwrap();
            }));
            gate = out_rx;
        }
        start.send(()).await.unwrap();
        for i in 0..N {
            tx.send(i).await.unwrap();
        }
        gate.recv().await.unwrap();
        for h in handles {
            h.await.unwrap();
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// runtime/chan_test.go: TestChan, on every capacity
// ---------------------------------------------------------------------------

/// TestChan: a receive from an empty channel blocks (and a non-blocking
/// one, or a select with default, does not); once values arrive, the
/// blocked receivers get them.
#[test]
fn chan_receive_from_empty_channel_blocks() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<i32>(cap);
            let got = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let (rx, got) = (rx.clone(), got.clone());
                    thread::spawn(move || {
                        rx.recv_blocking().unwrap();
                        got.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            pause();
            assert_eq!(got.load(Ordering::SeqCst), 0, "cap {cap:?}: receive from empty chan returned");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            let r = tether::select_blocking! {
                recv(rx) -> _v => false,
                default => true,
            };
            assert!(r, "cap {cap:?}: select with default received from an empty channel");
            tx.send_blocking(0).unwrap();
            tx.send_blocking(0).unwrap();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(got.load(Ordering::SeqCst), 2);
        }
    });
    common::assert_no_leaks();
}

/// TestChan: a send to a full channel blocks, a non-blocking send fails
/// with `Full` and hands the value back; a receive lets the blocked
/// sender through.
#[test]
fn chan_send_to_full_channel_blocks() {
    common::watchdog(|| {
        for cap in [0usize, 1, 2, 3, 16] {
            let (tx, rx) = chan::bounded::<usize>(cap);
            for i in 0..cap {
                tx.send_blocking(i).unwrap();
            }
            assert_eq!(tx.try_send(99), Err(TrySendError::Full(99)));
            let sent = Arc::new(AtomicBool::new(false));
            let h = {
                let (tx, sent) = (tx.clone(), sent.clone());
                thread::spawn(move || {
                    tx.send_blocking(1000).unwrap();
                    sent.store(true, Ordering::SeqCst);
                })
            };
            pause();
            assert!(!sent.load(Ordering::SeqCst), "cap {cap}: send to full chan returned");
            // The parked sender does not make the channel less full.
            let r = tether::select_blocking! {
                send(tx, 7) -> _r => false,
                default => true,
            };
            assert!(r, "cap {cap}: select with default sent into a full channel");
            assert_eq!(tx.len(), cap);
            // Draining lets the parked sender in, behind the buffered values.
            let mut got: Vec<usize> = (0..=cap).map(|_| rx.recv_blocking().unwrap()).collect();
            h.join().unwrap();
            assert!(sent.load(Ordering::SeqCst));
            let last = got.pop().unwrap();
            assert_eq!(got, (0..cap).collect::<Vec<_>>());
            assert_eq!(last, 1000);
        }
    });
    common::assert_no_leaks();
}

/// TestChan: receives from a closed channel drain the buffer in order,
/// then report `Closed` every time.
#[test]
fn chan_receive_from_closed_channel_drains_then_reports_closed() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<usize>(cap);
            let n = cap.unwrap_or(5);
            for i in 0..n {
                tx.send_blocking(i).unwrap();
            }
            assert!(tx.close());
            for i in 0..n {
                assert_eq!(rx.recv_blocking(), Ok(i), "cap {cap:?}");
            }
            for _ in 0..3 {
                assert_eq!(rx.recv_blocking(), Err(RecvError::Closed));
                assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
            }
        }
    });
    common::assert_no_leaks();
}

/// TestChan: close unblocks a blocked receiver (threads and tasks).
#[test]
fn chan_close_unblocks_receivers() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<i32>(cap);
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    let rx = rx.clone();
                    thread::spawn(move || rx.recv_blocking())
                })
                .collect();
            pause();
            assert!(tx.close());
            for h in hs {
                assert_eq!(h.join().unwrap(), Err(RecvError::Closed), "cap {cap:?}");
            }
        }
    });
    common::block_on(async {
        for cap in CAPS {
            let (tx, rx) = make::<i32>(cap);
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    let rx = rx.clone();
                    tokio::spawn(async move { rx.recv().await })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert!(tx.close());
            for h in hs {
                assert_eq!(h.await.unwrap(), Err(RecvError::Closed), "cap {cap:?}");
            }
        }
    });
    common::assert_no_leaks();
}

/// TestChan: 100 values sent by one sender arrive uncorrupted and in order,
/// for every capacity, on threads.
#[test]
fn chan_single_sender_values_arrive_in_order_threads() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<usize>(cap);
            let h = thread::spawn(move || {
                for i in 0..100 {
                    tx.send_blocking(i).unwrap();
                }
            });
            for i in 0..100 {
                assert_eq!(rx.recv_blocking(), Ok(i), "cap {cap:?}");
            }
            h.join().unwrap();
            // The sender is gone: the channel is closed and drained.
            assert_eq!(rx.recv_blocking(), Err(RecvError::Closed));
        }
    });
    common::assert_no_leaks();
}

/// The same on tasks, and with an async sender feeding a blocking
/// receiver and the other way round.
#[test]
fn chan_single_sender_values_arrive_in_order_tasks_and_mixed() {
    common::block_on(async {
        for cap in CAPS {
            // async -> async
            let (tx, rx) = make::<usize>(cap);
            let h = tokio::spawn(async move {
                for i in 0..100 {
                    tx.send(i).await.unwrap();
                }
            });
            for i in 0..100 {
                assert_eq!(rx.recv().await, Ok(i), "cap {cap:?}");
            }
            h.await.unwrap();
            assert_eq!(rx.recv().await, Err(RecvError::Closed));

            // async -> blocking thread
            let (tx, rx) = make::<usize>(cap);
            let t = thread::spawn(move || (0..100).map(|_| rx.recv_blocking().unwrap()).collect::<Vec<_>>());
            for i in 0..100 {
                tx.send(i).await.unwrap();
            }
            drop(tx);
            assert_eq!(
                tokio::task::spawn_blocking(move || t.join().unwrap()).await.unwrap(),
                (0..100).collect::<Vec<_>>()
            );

            // blocking thread -> async
            let (tx, rx) = make::<usize>(cap);
            let t = thread::spawn(move || {
                for i in 0..100 {
                    tx.send_blocking(i).unwrap();
                }
            });
            for i in 0..100 {
                assert_eq!(rx.recv().await, Ok(i), "cap {cap:?}");
            }
            assert_eq!(rx.recv().await, Err(RecvError::Closed));
            tokio::task::spawn_blocking(move || t.join().unwrap()).await.unwrap();
        }
    });
    common::assert_no_leaks();
}

/// TestChan: 4 senders x 4 receivers, every value received exactly once.
#[test]
fn chan_many_senders_many_receivers_each_value_once() {
    const P: usize = 4;
    const L: usize = 500;
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<usize>(cap);
            let senders: Vec<_> = (0..P)
                .map(|_| {
                    let tx = tx.clone();
                    thread::spawn(move || {
                        for i in 0..L {
                            tx.send_blocking(i).unwrap();
                        }
                    })
                })
                .collect();
            let receivers: Vec<_> = (0..P)
                .map(|_| {
                    let rx = rx.clone();
                    thread::spawn(move || {
                        let mut seen = vec![0usize; L];
                        for _ in 0..L {
                            seen[rx.recv_blocking().unwrap()] += 1;
                        }
                        seen
                    })
                })
                .collect();
            let mut total = vec![0usize; L];
            for h in receivers {
                for (t, s) in total.iter_mut().zip(h.join().unwrap()) {
                    *t += s;
                }
            }
            for h in senders {
                h.join().unwrap();
            }
            assert!(total.iter().all(|&c| c == P), "cap {cap:?}: values lost or duplicated");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    });
    common::assert_no_leaks();
}

/// The same with half the peers async and half blocking.
#[test]
fn chan_many_senders_many_receivers_mixed_threads_and_tasks() {
    const L: usize = 300;
    common::block_on(async {
        for cap in CAPS {
            let (tx, rx) = make::<usize>(cap);
            let mut threads = Vec::new();
            let mut tasks = Vec::new();
            for p in 0..4 {
                let tx = tx.clone();
                if p % 2 == 0 {
                    threads.push(thread::spawn(move || {
                        for i in 0..L {
                            tx.send_blocking(i).unwrap();
                        }
                        Vec::new()
                    }));
                } else {
                    tasks.push(tokio::spawn(async move {
                        for i in 0..L {
                            tx.send(i).await.unwrap();
                        }
                        Vec::new()
                    }));
                }
                let rx = rx.clone();
                if p % 2 == 1 {
                    threads.push(thread::spawn(move || (0..L).map(|_| rx.recv_blocking().unwrap()).collect()));
                } else {
                    tasks.push(tokio::spawn(async move {
                        let mut v = Vec::new();
                        for _ in 0..L {
                            v.push(rx.recv().await.unwrap());
                        }
                        v
                    }));
                }
            }
            drop(tx);
            let mut all: Vec<usize> = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            let rest = tokio::task::spawn_blocking(move || {
                threads.into_iter().flat_map(|h| h.join().unwrap()).collect::<Vec<usize>>()
            })
            .await
            .unwrap();
            all.extend(rest);
            let mut counts = vec![0usize; L];
            for v in all {
                counts[v] += 1;
            }
            assert!(counts.iter().all(|&c| c == 4), "cap {cap:?}: values lost or duplicated");
            assert_eq!(rx.recv().await, Err(RecvError::Closed));
        }
    });
    common::assert_no_leaks();
}

/// TestChan: len and capacity.
#[test]
fn chan_len_and_capacity() {
    for cap in CAPS {
        let (tx, rx) = make::<usize>(cap);
        assert_eq!(tx.capacity(), cap);
        assert_eq!((tx.len(), rx.len()), (0, 0));
        let n = cap.unwrap_or(7);
        for i in 0..n {
            tx.try_send(i).unwrap();
            assert_eq!((tx.len(), rx.len()), (i + 1, i + 1));
        }
        if cap.is_some() {
            assert_eq!(tx.try_send(0), Err(TrySendError::Full(0)), "a bounded channel grew past its capacity");
            assert_eq!(tx.len(), n);
        }
        rx.try_recv().ok();
        assert_eq!(rx.len(), n.saturating_sub(1));
    }
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/nonblock.go
// ---------------------------------------------------------------------------

/// nonblock: on an empty channel (capacity 0 or 1) a non-blocking receive
/// fails; once a blocking receiver waits, a non-blocking send succeeds and
/// hands it the value; once a blocking sender waits (cap 0) or has
/// buffered its value (cap 1), a non-blocking receive gets it. Several
/// payload types, as in Go.
#[test]
fn nonblock_send_and_receive_on_capacity_0_and_1() {
    fn check<T: Clone + PartialEq + std::fmt::Debug + Send + 'static>(cap: usize, a: T, b: T) {
        let (tx, rx) = chan::bounded::<T>(cap);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "cap {cap}: non-blocking receive on empty");

        // A receiver waits: a non-blocking send eventually succeeds.
        let want = a.clone();
        let rx2 = rx.clone();
        let h = thread::spawn(move || assert_eq!(rx2.recv_blocking(), Ok(want)));
        let mut v = a;
        loop {
            match tx.try_send(v) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    v = back;
                    pause();
                }
                Err(e) => panic!("cap {cap}: {e:?}"),
            }
        }
        h.join().unwrap();

        // A sender waits (or has buffered): a non-blocking receive gets it.
        let (sync_tx, sync_rx) = chan::bounded::<()>(0);
        let tx2 = tx.clone();
        let send = b.clone();
        let h = thread::spawn(move || {
            tx2.send_blocking(send).unwrap();
            sync_tx.send_blocking(()).unwrap();
        });
        if cap > 0 {
            sync_rx.recv_blocking().unwrap();
        }
        let got = loop {
            match rx.try_recv() {
                Ok(v) => break v,
                Err(TryRecvError::Empty) => pause(),
                Err(e) => panic!("cap {cap}: {e:?}"),
            }
        };
        assert_eq!(got, b);
        if cap == 0 {
            sync_rx.recv_blocking().unwrap();
        }
        h.join().unwrap();
    }
    common::watchdog(|| {
        for cap in [0, 1] {
            check::<i32>(cap, 123, 234);
            check::<i64>(cap, 123456, 234567);
            check::<bool>(cap, true, true);
            check::<String>(cap, "hello".into(), "hello again".into());
        }
    });
    common::assert_no_leaks();
}

/// nonblock, via select with default instead of try_send/try_recv, on
/// every capacity: default runs while the operation cannot proceed, the
/// arm once it can.
#[test]
fn nonblock_select_default_on_every_capacity() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<i32>(cap);
            let r = tether::select_blocking! { recv(rx) -> _v => false, default => true };
            assert!(r, "cap {cap:?}: recv arm ran on an empty channel");
            if cap != Some(0) {
                let r = tether::select_blocking! { send(tx, 5) -> r => r.is_ok(), default => false };
                assert!(r, "cap {cap:?}: send arm with free buffer space did not run");
                let r = tether::select_blocking! { recv(rx) -> v => v == Ok(5), default => false };
                assert!(r, "cap {cap:?}: recv arm on a buffered value did not run");
            } else {
                let r = tether::select_blocking! { send(tx, 5) -> _r => false, default => true };
                assert!(r, "send arm ran on a rendezvous channel without receiver");
                // With a blocking receiver parked, the send arm eventually runs.
                let rx2 = rx.clone();
                let h = thread::spawn(move || rx2.recv_blocking());
                loop {
                    let sent = tether::select_blocking! { send(tx, 6) -> r => { r.unwrap(); true }, default => false };
                    if sent {
                        break;
                    }
                    pause();
                }
                assert_eq!(h.join().unwrap(), Ok(6));
                // With a blocking sender parked, the recv arm eventually runs.
                let tx2 = tx.clone();
                let h = thread::spawn(move || tx2.send_blocking(7));
                let got = loop {
                    let got = tether::select_blocking! { recv(rx) -> v => Some(v), default => None };
                    if let Some(v) = got {
                        break v;
                    }
                    pause();
                };
                assert_eq!(got, Ok(7));
                h.join().unwrap().unwrap();
            }
        }
    });
    common::assert_no_leaks();
}

/// TestNonblockRecvRace: a select with default on a channel that holds a
/// value and is being closed must never fall to default: either the value
/// or the close is there to receive.
#[test]
fn nonblock_recv_race_with_close_never_takes_default() {
    common::watchdog(|| {
        for _ in 0..500 {
            let (tx, rx) = chan::bounded::<i32>(1);
            tx.send_blocking(1).unwrap();
            let rx2 = rx.clone();
            let h = thread::spawn(move || tether::select_blocking! { recv(rx2) -> _v => true, default => false });
            tx.close();
            let _ = rx.recv_blocking();
            assert!(h.join().unwrap(), "select fell to default while the channel was ready");
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/closedchan.go — every operation on a closed channel
// ---------------------------------------------------------------------------

/// One of closedchan.go's three ways to operate a channel: direct calls,
/// a one-arm select, and a larger select with a never-ready extra arm.
#[derive(Clone, Copy, Debug)]
enum Via {
    Direct,
    Select,
    BigSelect,
}

const VIAS: [Via; 3] = [Via::Direct, Via::Select, Via::BigSelect];

/// Blocking receive: `Ok(v)` or `Err(Closed)`.
fn recv_via(via: Via, rx: &Receiver<i32>, dummy: &Receiver<i32>) -> Result<i32, RecvError> {
    match via {
        Via::Direct => rx.recv_blocking(),
        Via::Select => tether::select_blocking! { recv(rx) -> v => v },
        Via::BigSelect => tether::select_blocking! {
            recv(dummy) -> _d => panic!("dummy channel is never ready"),
            recv(rx) -> v => v,
        },
    }
}

/// Non-blocking receive: `None` if it would block.
fn nbrecv_via(via: Via, rx: &Receiver<i32>, dummy: &Receiver<i32>) -> Option<Result<i32, RecvError>> {
    match via {
        Via::Direct => match rx.try_recv() {
            Ok(v) => Some(Ok(v)),
            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => None,
        },
        Via::Select => tether::select_blocking! { default => None, recv(rx) -> v => Some(v) },
        Via::BigSelect => tether::select_blocking! {
            recv(dummy) -> _d => panic!("dummy channel is never ready"),
            default => None,
            recv(rx) -> v => Some(v),
        },
    }
}

/// Blocking send: `Err(value)` on a closed channel.
fn send_via(via: Via, tx: &Sender<i32>, dummy: &Receiver<i32>, v: i32) -> Result<(), SendError<i32>> {
    match via {
        Via::Direct => tx.send_blocking(v),
        Via::Select => tether::select_blocking! { send(tx, v) -> r => r },
        Via::BigSelect => tether::select_blocking! {
            send(tx, v) -> r => r,
            recv(dummy) -> _d => panic!("dummy channel is never ready"),
        },
    }
}

/// Non-blocking send: `None` if it would block.
fn nbsend_via(via: Via, tx: &Sender<i32>, dummy: &Receiver<i32>, v: i32) -> Option<Result<(), SendError<i32>>> {
    match via {
        Via::Direct => match tx.try_send(v) {
            Ok(()) => Some(Ok(())),
            Err(TrySendError::Closed(v)) => Some(Err(SendError(v))),
            Err(TrySendError::Full(_)) => None,
        },
        Via::Select => tether::select_blocking! { default => None, send(tx, v) -> r => Some(r) },
        Via::BigSelect => tether::select_blocking! {
            default => None,
            recv(dummy) -> _d => panic!("dummy channel is never ready"),
            send(tx, v) -> r => Some(r),
        },
    }
}

/// closedchan.go's test1: on a closed, drained channel every receive form
/// is ready and reports Closed (three rounds); every send form is ready,
/// fails and hands the value back (Go panics instead); the failed send
/// left nothing behind to receive.
fn closed_and_drained(via: Via, tx: &Sender<i32>, rx: &Receiver<i32>, dummy: &Receiver<i32>) {
    for _ in 0..3 {
        assert_eq!(recv_via(via, rx, dummy), Err(RecvError::Closed), "{via:?}: recv on closed");
        assert_eq!(nbrecv_via(via, rx, dummy), Some(Err(RecvError::Closed)), "{via:?}: nb recv on closed");
    }
    assert_eq!(nbsend_via(via, tx, dummy, 1), Some(Err(SendError(1))), "{via:?}: nb send on closed");
    assert_eq!(recv_via(via, rx, dummy), Err(RecvError::Closed), "{via:?}: send on closed left a value");
    assert_eq!(send_via(via, tx, dummy, 2), Err(SendError(2)), "{via:?}: send on closed");
    assert_eq!(recv_via(via, rx, dummy), Err(RecvError::Closed), "{via:?}: send on closed left a value");
    assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    assert_eq!(tx.send_timeout_blocking(4, Duration::from_millis(1)), Err(SendTimeoutError::Closed(4)));
    assert_eq!(rx.recv_timeout_blocking(Duration::from_millis(1)), Err(RecvTimeoutError::Closed));
    assert!(tx.is_closed() && rx.is_closed());
    assert_eq!(rx.iter().next(), None);
}

/// closedsync: an unbuffered channel closed before any use.
#[test]
fn closedchan_unbuffered_every_operation() {
    common::watchdog(|| {
        let (_dummy_tx, dummy) = chan::bounded::<i32>(0);
        for via in VIAS {
            let (tx, rx) = chan::bounded::<i32>(0);
            assert!(tx.close());
            closed_and_drained(via, &tx, &rx, &dummy);
        }
    });
    common::assert_no_leaks();
}

/// closedasync: a buffered channel closed with one value in it; each of
/// the four receive forms gets the value first, then everything behaves
/// as closed.
#[test]
fn closedchan_buffered_value_is_received_first_by_every_form() {
    common::watchdog(|| {
        let (_dummy_tx, dummy) = chan::bounded::<i32>(0);
        for form in 0..4 {
            for via in VIAS {
                let (tx, rx) = chan::bounded::<i32>(2);
                tx.send_blocking(1).unwrap();
                assert!(tx.close());
                assert!(tx.is_closed() && rx.is_closed(), "is_closed must be true while values remain");
                let got = match form {
                    0 => recv_via(via, &rx, &dummy),
                    1 => rx.recv_timeout_blocking(Duration::from_secs(5)).map_err(|_| RecvError::Closed),
                    2 => nbrecv_via(via, &rx, &dummy).expect("buffered value not ready"),
                    _ => rx.iter().next().ok_or(RecvError::Closed),
                };
                assert_eq!(got, Ok(1), "form {form} {via:?}: the buffered value is lost at close");
                closed_and_drained(via, &tx, &rx, &dummy);
            }
        }
    });
    common::assert_no_leaks();
}

/// closedchan.go on tasks: the async operations and `select!` behave the
/// same way on a closed channel.
#[test]
fn closedchan_async_every_operation() {
    common::block_on(async {
        let (_dummy_tx, dummy) = chan::bounded::<i32>(0);
        for cap in CAPS {
            let (tx, rx) = make::<i32>(cap);
            if cap != Some(0) {
                tx.send(1).await.unwrap();
            }
            assert!(tx.close());
            assert!(!tx.close(), "close twice must report false the second time");
            if cap != Some(0) {
                assert_eq!(rx.recv().await, Ok(1));
            }
            for _ in 0..3 {
                assert_eq!(rx.recv().await, Err(RecvError::Closed));
                let r = tether::select! { recv(rx) -> v => v, default => Ok(-1) };
                assert_eq!(r, Err(RecvError::Closed), "cap {cap:?}: select must see a closed channel as ready");
                let r = tether::select! { recv(dummy) -> _d => unreachable!(), recv(rx) -> v => v };
                assert_eq!(r, Err(RecvError::Closed));
            }
            assert_eq!(tx.send(2).await, Err(SendError(2)));
            let r = tether::select! { send(tx, 3) -> r => r, default => Ok(()) };
            assert_eq!(r, Err(SendError(3)), "cap {cap:?}: select must see a send on a closed channel as ready");
            let mut rx = rx;
            assert_eq!(next(&mut rx).await, None, "the Stream must end at close");
        }
    });
    common::assert_no_leaks();
}

/// closedchan.go: closing a closed channel panics in Go; here the second
/// close reports false and changes nothing. A close from any clone counts.
#[test]
fn closedchan_close_twice_reports_false() {
    let (tx, rx) = chan::bounded::<i32>(0);
    let tx2 = tx.clone();
    assert!(!tx.is_closed());
    assert!(tx2.close());
    assert!(!tx.close());
    assert!(!tx2.close());
    assert!(tx.is_closed() && rx.is_closed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    common::assert_no_leaks();
}

/// Closing wakes blocked senders too, and hands each its value back (Go
/// panics them).
#[test]
fn closedchan_close_fails_blocked_senders_with_their_values() {
    common::watchdog(|| {
        for cap in [0usize, 1] {
            let (tx, rx) = chan::bounded::<usize>(cap);
            for i in 0..cap {
                tx.send_blocking(100 + i).unwrap();
            }
            let hs: Vec<_> = (0..3)
                .map(|i| {
                    let tx = tx.clone();
                    thread::spawn(move || tx.send_blocking(i))
                })
                .collect();
            pause();
            assert!(tx.close());
            let mut back: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap().unwrap_err().0).collect();
            back.sort();
            // Values of parked senders are never received after the close
            // (at most the ones already buffered are).
            let received: Vec<usize> = rx.iter().collect();
            assert_eq!(received, (0..cap).map(|i| 100 + i).collect::<Vec<_>>());
            assert_eq!(back, vec![0, 1, 2]);
        }
    });
    common::block_on(async {
        let (tx, rx) = chan::bounded::<usize>(0);
        let h = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.send(9).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        tx.close();
        assert_eq!(h.await.unwrap(), Err(SendError(9)));
        assert_eq!(rx.recv().await, Err(RecvError::Closed));
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// Rust-specific rules of the contract
// ---------------------------------------------------------------------------

/// A send to a channel whose receivers are all gone fails at once with the
/// value (Go would block forever).
#[test]
fn rust_send_without_receivers_fails_with_value() {
    common::block_on(async {
        for cap in CAPS {
            let (tx, rx) = make::<String>(cap);
            let rx2 = rx.clone();
            drop(rx);
            assert!(!tx.is_closed(), "a receiver remains");
            drop(rx2);
            assert!(tx.is_closed(), "the last receiver's drop closes the channel");
            assert_eq!(tx.send_blocking("a".into()), Err(SendError("a".to_string())));
            assert_eq!(tx.try_send("b".into()), Err(TrySendError::Closed("b".to_string())));
            assert_eq!(tx.send("c".into()).await, Err(SendError("c".to_string())));
            assert_eq!(
                tx.send_timeout_blocking("d".into(), Duration::from_secs(5)),
                Err(SendTimeoutError::Closed("d".to_string()))
            );
            let r = tether::select! { send(tx, "e".to_string()) -> r => r };
            assert_eq!(r, Err(SendError("e".to_string())));
        }
    });
    common::assert_no_leaks();
}

/// A sender blocked on a full channel is woken when the last receiver is
/// dropped, and gets its value back.
#[test]
fn rust_dropping_last_receiver_fails_blocked_senders() {
    common::watchdog(|| {
        for cap in [0usize, 1, 4] {
            let (tx, rx) = chan::bounded::<usize>(cap);
            for i in 0..cap {
                tx.send_blocking(i).unwrap();
            }
            let h = {
                let tx = tx.clone();
                thread::spawn(move || tx.send_blocking(77))
            };
            pause();
            drop(rx);
            assert_eq!(h.join().unwrap(), Err(SendError(77)), "cap {cap}");
        }
    });
    common::block_on(async {
        let (tx, rx) = chan::bounded::<usize>(0);
        let h = tokio::spawn(async move { tx.send(78).await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        drop(rx);
        assert_eq!(h.await.unwrap(), Err(SendError(78)));
    });
    common::assert_no_leaks();
}

/// Dropping the last sender closes the channel: receivers drain, then see
/// Closed; a receiver blocked on the empty channel is woken.
#[test]
fn rust_last_sender_drop_closes() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<i32>(cap);
            let tx2 = tx.clone();
            drop(tx);
            assert!(!rx.is_closed(), "cap {cap:?}: a sender remains");
            if cap != Some(0) {
                tx2.send_blocking(1).unwrap();
            }
            let waiter = {
                let rx = rx.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv_blocking() {
                        got.push(v);
                    }
                    got
                })
            };
            pause();
            drop(tx2);
            let got = waiter.join().unwrap();
            assert_eq!(got, if cap == Some(0) { vec![] } else { vec![1] });
            assert!(rx.is_closed());
            assert_eq!(rx.recv_blocking(), Err(RecvError::Closed));
        }
    });
    common::assert_no_leaks();
}

/// `is_closed()` is true from the moment of close, while values remain.
#[test]
fn rust_is_closed_true_while_values_remain() {
    let (tx, rx) = chan::bounded::<i32>(4);
    tx.send_blocking(1).unwrap();
    tx.send_blocking(2).unwrap();
    assert!(!rx.is_closed());
    tx.close();
    assert!(rx.is_closed() && tx.is_closed());
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.recv_blocking(), Ok(1));
    assert!(rx.is_closed());
    assert_eq!(rx.recv_blocking(), Ok(2));
    assert_eq!(rx.recv_blocking(), Err(RecvError::Closed));
    let (tx, rx) = chan::unbounded::<i32>();
    tx.send_blocking(1).unwrap();
    drop(tx);
    assert!(rx.is_closed());
    assert_eq!(rx.iter().collect::<Vec<_>>(), vec![1]);
    common::assert_no_leaks();
}

/// Capacity 0 is a rendezvous: a send completes only once a receiver has
/// taken the value, for every mix of blocking and async peers.
#[test]
fn rust_rendezvous_send_completes_only_after_receiver_took_value() {
    // blocking sender, blocking receiver
    common::watchdog(|| {
        for _ in 0..20 {
            let (tx, rx) = chan::bounded::<i32>(0);
            let sent = Arc::new(AtomicBool::new(false));
            let h = {
                let sent = sent.clone();
                thread::spawn(move || {
                    tx.send_blocking(1).unwrap();
                    sent.store(true, Ordering::SeqCst);
                })
            };
            pause();
            assert!(!sent.load(Ordering::SeqCst), "send returned before any receive");
            assert_eq!(rx.len(), 0, "a rendezvous channel never buffers");
            assert_eq!(rx.recv_blocking(), Ok(1));
            h.join().unwrap();
        }
    });
    // async sender, blocking and async receivers
    common::block_on(async {
        for blocking_rx in [false, true] {
            let (tx, rx) = chan::bounded::<i32>(0);
            let sent = Arc::new(AtomicBool::new(false));
            let h = {
                let sent = sent.clone();
                tokio::spawn(async move {
                    tx.send(1).await.unwrap();
                    sent.store(true, Ordering::SeqCst);
                })
            };
            tokio::time::sleep(Duration::from_millis(2)).await;
            assert!(!sent.load(Ordering::SeqCst), "async send completed before any receive");
            if blocking_rx {
                let got = tokio::task::spawn_blocking(move || rx.recv_blocking()).await.unwrap();
                assert_eq!(got, Ok(1));
            } else {
                assert_eq!(rx.recv().await, Ok(1));
            }
            h.await.unwrap();
            assert!(sent.load(Ordering::SeqCst));
        }
        // blocking sender, async receiver
        let (tx, rx) = chan::bounded::<i32>(0);
        let sent = Arc::new(AtomicBool::new(false));
        let h = {
            let sent = sent.clone();
            thread::spawn(move || {
                tx.send_blocking(1).unwrap();
                sent.store(true, Ordering::SeqCst);
            })
        };
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(!sent.load(Ordering::SeqCst));
        assert_eq!(rx.recv().await, Ok(1));
        tokio::task::spawn_blocking(move || h.join().unwrap()).await.unwrap();
    });
    // A pending async send does not complete by itself: polled by hand, it
    // stays pending while nobody receives; dropped, it sent nothing.
    let (tx, rx) = chan::bounded::<i32>(0);
    {
        let mut f = Box::pin(tx.send(5));
        assert!(stays_pending(&mut f, 5));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a dropped send future delivered its value");
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)), "try_send on a rendezvous channel without receiver");
    common::assert_no_leaks();
}

/// Timeouts hand the value back and leave nothing behind.
#[test]
fn rust_timeouts_hand_values_back() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(1);
        tx.send_blocking(1).unwrap();
        assert_eq!(tx.send_timeout_blocking(2, Duration::from_millis(2)), Err(SendTimeoutError::Timeout(2)));
        assert_eq!(rx.recv_blocking(), Ok(1));
        assert_eq!(rx.recv_timeout_blocking(Duration::from_millis(2)), Err(RecvTimeoutError::Timeout));
        let (tx0, rx0) = chan::bounded::<i32>(0);
        assert_eq!(tx0.send_timeout_blocking(3, Duration::from_millis(2)), Err(SendTimeoutError::Timeout(3)));
        assert_eq!(rx0.try_recv(), Err(TryRecvError::Empty));
        let h = thread::spawn(move || rx0.recv_timeout_blocking(Duration::from_secs(10)));
        tx0.send_blocking(4).unwrap();
        assert_eq!(h.join().unwrap(), Ok(4));
    });
    common::assert_no_leaks();
}

/// `iter()` is Go's `for v := range ch` and the Stream its async twin: both
/// yield every value and end at close.
#[test]
fn range_over_channel_ends_at_close() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<usize>(cap);
            let h = thread::spawn(move || {
                for i in 0..50 {
                    tx.send_blocking(i).unwrap();
                }
                tx.close();
            });
            assert_eq!(rx.iter().collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
            h.join().unwrap();
        }
    });
    common::block_on(async {
        for cap in CAPS {
            let (tx, mut rx) = make::<usize>(cap);
            let h = tokio::spawn(async move {
                for i in 0..50 {
                    tx.send(i).await.unwrap();
                }
            });
            let mut got = Vec::new();
            while let Some(v) = next(&mut rx).await {
                got.push(v);
            }
            assert_eq!(got, (0..50).collect::<Vec<_>>());
            h.await.unwrap();
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/zerosize.go
// ---------------------------------------------------------------------------

/// zerosize: channels of zero-sized types work on every capacity, count
/// their values, and respect their capacity.
#[test]
fn zerosize_channels_of_zero_sized_types() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<()>(cap);
            let (tx2, rx2) = make::<[u8; 0]>(cap);
            if let Some(n) = cap {
                for _ in 0..n {
                    tx.try_send(()).unwrap();
                    tx2.try_send([]).unwrap();
                }
                assert_eq!(tx.try_send(()), Err(TrySendError::Full(())));
                assert_eq!(tx2.try_send([]), Err(TrySendError::Full([])));
                assert_eq!(rx.len(), n);
                for _ in 0..n {
                    rx.try_recv().unwrap();
                    rx2.try_recv().unwrap();
                }
            } else {
                for _ in 0..1000 {
                    tx.try_send(()).unwrap();
                }
                assert_eq!(rx.len(), 1000);
                assert_eq!(rx.iter().take(1000).count(), 1000);
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            // And across threads.
            let h = thread::spawn(move || {
                for _ in 0..200 {
                    tx.send_blocking(()).unwrap();
                }
            });
            assert_eq!(rx.iter().count(), 200);
            h.join().unwrap();
            drop((tx2, rx2));
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/sieve1.go, sieve2.go — the concurrent prime sieve
// ---------------------------------------------------------------------------

const PRIMES: [u32; 25] =
    [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97];

/// sieve1: a generator feeding a daisy chain of filter threads over
/// unbuffered channels. Dropping the chain's head ends every stage (each
/// stage's send fails once its reader is gone), so no thread is left.
#[test]
fn sieve_prime_pipeline_threads() {
    let primes = common::watchdog(|| {
        let (gen_tx, mut ch) = chan::bounded::<u32>(0);
        let mut stages = vec![thread::spawn(move || {
            let mut i = 2;
            while gen_tx.send_blocking(i).is_ok() {
                i += 1;
            }
        })];
        let mut primes = Vec::new();
        for _ in 0..PRIMES.len() {
            let prime = ch.recv_blocking().unwrap();
            primes.push(prime);
            let (out_tx, out_rx) = chan::bounded::<u32>(0);
            let input = ch;
            stages.push(thread::spawn(move || {
                for v in input.iter() {
                    if v % prime != 0 && out_tx.send_blocking(v).is_err() {
                        return;
                    }
                }
            }));
            ch = out_rx;
        }
        drop(ch);
        for s in stages {
            s.join().unwrap();
        }
        primes
    });
    assert_eq!(primes, PRIMES);
    common::assert_no_leaks();
}

/// sieve2-like: the same pipeline on tasks with small buffers, mixing
/// capacities along the chain.
#[test]
fn sieve_prime_pipeline_tasks() {
    let primes = common::block_on(async {
        let (gen_tx, mut ch) = chan::bounded::<u32>(1);
        let mut stages = vec![tokio::spawn(async move {
            let mut i = 2;
            while gen_tx.send(i).await.is_ok() {
                i += 1;
            }
        })];
        let mut primes = Vec::new();
        for k in 0..PRIMES.len() {
            let prime = ch.recv().await.unwrap();
            primes.push(prime);
            let (out_tx, out_rx) = chan::bounded::<u32>(k % 3);
            let input = ch;
            stages.push(tokio::spawn(async move {
                while let Ok(v) = input.recv().await {
                    if v % prime != 0 && out_tx.send(v).await.is_err() {
                        return;
                    }
                }
            }));
            ch = out_rx;
        }
        drop(ch);
        for s in stages {
            s.await.unwrap();
        }
        primes
    });
    assert_eq!(primes, PRIMES);
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// runtime/chan_test.go: TestMultiConsumer
// ---------------------------------------------------------------------------

const PN: [usize; 10] = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];

/// TestMultiConsumer: many workers ranging over one work channel, pushing
/// into a results channel closed once every worker is done; nothing lost,
/// nothing duplicated.
#[test]
fn multi_consumer_threads() {
    const NWORK: usize = 23;
    const NITER: usize = 20_000;
    let (n, s, expect) = common::watchdog(|| {
        let (q_tx, q_rx) = chan::bounded::<usize>(NWORK * 3);
        let (r_tx, r_rx) = chan::bounded::<usize>(NWORK * 3);
        let workers: Vec<_> = (0..NWORK)
            .map(|w| {
                let (q_rx, r_tx) = (q_rx.clone(), r_tx.clone());
                thread::spawn(move || {
                    for v in q_rx.iter() {
                        if PN[w % PN.len()] == v {
                            thread::yield_now(); // disturb the fifo-ish order
                        }
                        r_tx.send_blocking(v).unwrap();
                    }
                })
            })
            .collect();
        drop((q_rx, r_tx));
        let feeder = thread::spawn(move || {
            let mut expect = 0;
            for i in 0..NITER {
                let v = PN[i % PN.len()];
                expect += v;
                q_tx.send_blocking(v).unwrap();
            }
            q_tx.close();
            for w in workers {
                w.join().unwrap();
            }
            // The last worker's r_tx is gone: r is closed.
            expect
        });
        let (mut n, mut s) = (0, 0);
        for v in r_rx.iter() {
            n += 1;
            s += v;
        }
        (n, s, feeder.join().unwrap())
    });
    assert_eq!((n, s), (NITER, expect));
    common::assert_no_leaks();
}

#[test]
fn multi_consumer_tasks() {
    const NWORK: usize = 23;
    const NITER: usize = 20_000;
    let (n, s, expect) = common::block_on(async {
        let (q_tx, q_rx) = chan::bounded::<usize>(NWORK * 3);
        let (r_tx, mut r_rx) = chan::bounded::<usize>(NWORK * 3);
        let workers: Vec<_> = (0..NWORK)
            .map(|w| {
                let (mut q_rx, r_tx) = (q_rx.clone(), r_tx.clone());
                tokio::spawn(async move {
                    while let Some(v) = next(&mut q_rx).await {
                        if PN[w % PN.len()] == v {
                            tokio::task::yield_now().await;
                        }
                        r_tx.send(v).await.unwrap();
                    }
                })
            })
            .collect();
        drop((q_rx, r_tx));
        let feeder = tokio::spawn(async move {
            let mut expect = 0;
            for i in 0..NITER {
                let v = PN[i % PN.len()];
                expect += v;
                q_tx.send(v).await.unwrap();
            }
            drop(q_tx);
            for w in workers {
                w.await.unwrap();
            }
            expect
        });
        let (mut n, mut s) = (0, 0);
        while let Some(v) = next(&mut r_rx).await {
            n += 1;
            s += v;
        }
        (n, s, feeder.await.unwrap())
    });
    assert_eq!((n, s), (NITER, expect));
    common::assert_no_leaks();
}

/// TestMultiConsumer with workers half threads, half tasks, on a
/// rendezvous work channel.
#[test]
fn multi_consumer_mixed_rendezvous() {
    const NWORK: usize = 8;
    const NITER: usize = 5_000;
    let (n, s) = common::block_on(async {
        let (q_tx, q_rx) = chan::bounded::<usize>(0);
        let (r_tx, r_rx) = chan::unbounded::<usize>();
        let mut threads = Vec::new();
        let mut tasks = Vec::new();
        for w in 0..NWORK {
            let (q_rx, r_tx) = (q_rx.clone(), r_tx.clone());
            if w % 2 == 0 {
                threads.push(thread::spawn(move || {
                    for v in q_rx.iter() {
                        r_tx.send_blocking(v).unwrap();
                    }
                }));
            } else {
                tasks.push(tokio::spawn(async move {
                    while let Ok(v) = q_rx.recv().await {
                        r_tx.send(v).await.unwrap();
                    }
                }));
            }
        }
        drop((q_rx, r_tx));
        for i in 0..NITER {
            q_tx.send(PN[i % PN.len()]).await.unwrap();
        }
        drop(q_tx);
        for t in tasks {
            t.await.unwrap();
        }
        tokio::task::spawn_blocking(move || threads.into_iter().for_each(|h| h.join().unwrap())).await.unwrap();
        let (mut n, mut s) = (0, 0);
        while let Ok(v) = r_rx.recv().await {
            n += 1;
            s += v;
        }
        (n, s)
    });
    let expect: usize = (0..NITER).map(|i| PN[i % PN.len()]).sum();
    assert_eq!((n, s), (NITER, expect));
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// Async specifics: a pending receive is cancel-safe and wakes on arrival.
// ---------------------------------------------------------------------------

/// A dropped, pending `recv` future takes nothing: the next receiver gets
/// the value (Go has no cancellation; this is the contract's rule).
#[test]
fn async_dropped_recv_takes_nothing() {
    common::watchdog(|| {
        for cap in CAPS {
            let (tx, rx) = make::<i32>(cap);
            {
                let mut f = Box::pin(rx.recv());
                assert!(stays_pending(&mut f, 3));
            }
            if cap == Some(0) {
                let h = {
                    let tx = tx.clone();
                    thread::spawn(move || tx.send_blocking(1))
                };
                assert_eq!(rx.recv_blocking(), Ok(1));
                h.join().unwrap().unwrap();
            } else {
                tx.send_blocking(1).unwrap();
                assert_eq!(rx.try_recv(), Ok(1), "cap {cap:?}");
            }
        }
    });
    common::assert_no_leaks();
}

/// A pending async recv that was polled once is woken by a send from a
/// blocking thread (no lost wake-up across the two worlds).
#[test]
fn async_recv_woken_by_blocking_send() {
    common::block_on_local(async {
        for cap in CAPS {
            let (tx, rx) = make::<i32>(cap);
            let h = thread::spawn(move || {
                thread::sleep(Duration::from_millis(1));
                tx.send_blocking(3)
            });
            assert_eq!(rx.recv().await, Ok(3));
            let _ = poll_fn_join(h).await;
        }
    });
    common::assert_no_leaks();
}

/// Waits for a thread without blocking a current-thread runtime.
async fn poll_fn_join<T>(h: thread::JoinHandle<T>) -> T {
    std::future::poll_fn(|cx| {
        if h.is_finished() {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
    h.join().unwrap()
}

// ---------------------------------------------------------------------------
// Cancel safety under real concurrency (the contract's rule; Go has no
// cancellation): futures dropped mid-flight, in every mix of peers.
// ---------------------------------------------------------------------------

/// Polls `f` at most `polls` times (yielding to the runtime in between)
/// and drops it if it is still pending: `None` then.
async fn poll_at_most<F: Future>(f: F, polls: usize) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut n = 0;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        n += 1;
        if n >= polls {
            return Poll::Ready(None);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// A small deterministic sequence of poll budgets, 1..=4.
fn budget(i: usize) -> usize {
    1 + (i.wrapping_mul(2654435761) >> 7) % 4
}

/// Receives everything from `rx` with futures that are often dropped
/// mid-flight (plain `recv` or a one-arm `select!`), until closed.
async fn cancelling_receiver(rx: Receiver<usize>, via_select: bool, extra: usize) -> Vec<usize> {
    let mut got = Vec::new();
    let mut i = 0;
    loop {
        i += 1;
        let r = if via_select {
            poll_at_most(
                async {
                    tether::select! { recv(rx) -> v => v }
                },
                extra + budget(i),
            )
            .await
        } else {
            poll_at_most(rx.recv(), extra + budget(i)).await
        };
        match r {
            Some(Ok(v)) => got.push(v),
            Some(Err(RecvError::Closed)) => return got,
            // Dropped mid-flight: it must have taken nothing. Let the other
            // side run (on 2 busy cores a spinning retry can starve it).
            None => thread::yield_now(),
        }
    }
}

/// Sends 0..n with futures that are often dropped mid-flight; a dropped
/// send must not have sent, so the value is sent again.
async fn cancelling_sender(tx: Sender<usize>, n: usize, via_select: bool, extra: usize) {
    let mut i = 0;
    for v in 0..n {
        loop {
            i += 1;
            let r = if via_select {
                poll_at_most(
                    async {
                        tether::select! { send(tx, v) -> r => r }
                    },
                    extra + budget(i),
                )
                .await
            } else {
                poll_at_most(tx.send(v), extra + budget(i)).await
            };
            match r {
                Some(r) => {
                    r.unwrap();
                    break;
                }
                None => thread::yield_now(), // dropped: nothing was sent, try again
            }
        }
    }
}

/// Dropped `recv` futures (and dropped one-arm `select!`s) lose no value,
/// against a blocking sender and against an async sender, on every
/// capacity: the receiver still sees exactly 0..N in order.
#[test]
fn cancel_dropped_recv_futures_lose_no_value() {
    const N: usize = 500;
    common::block_on(async {
        for cap in CAPS {
            for via_select in [false, true] {
                for blocking_sender in [true, false] {
                    let (tx, rx) = make::<usize>(cap);
                    let recv = tokio::spawn(cancelling_receiver(rx, via_select, 0));
                    if blocking_sender {
                        let h = thread::spawn(move || (0..N).for_each(|v| tx.send_blocking(v).unwrap()));
                        tokio::task::spawn_blocking(move || h.join().unwrap()).await.unwrap();
                    } else {
                        tokio::spawn(async move {
                            for v in 0..N {
                                tx.send(v).await.unwrap();
                            }
                        })
                        .await
                        .unwrap();
                    }
                    let got = recv.await.unwrap();
                    assert_eq!(
                        got.len(),
                        N,
                        "cap {cap:?} select {via_select} blocking sender {blocking_sender}: values lost"
                    );
                    assert!(got.iter().enumerate().all(|(i, &v)| i == v), "cap {cap:?}: values out of order");
                }
            }
        }
    });
    common::assert_no_leaks();
}

/// Dropped `send` futures (and dropped one-arm `select!`s) complete no
/// operation: retried values are never delivered twice, against a
/// blocking receiver and an async receiver, on every capacity.
#[test]
fn cancel_dropped_send_futures_send_nothing() {
    const N: usize = 500;
    common::block_on(async {
        for cap in CAPS {
            for via_select in [false, true] {
                for blocking_receiver in [true, false] {
                    let (tx, rx) = make::<usize>(cap);
                    let got = if blocking_receiver {
                        let h = thread::spawn(move || rx.iter().collect::<Vec<_>>());
                        cancelling_sender(tx, N, via_select, 0).await;
                        tokio::task::spawn_blocking(move || h.join().unwrap()).await.unwrap()
                    } else {
                        let r = tokio::spawn(async move {
                            let mut v = Vec::new();
                            while let Ok(x) = rx.recv().await {
                                v.push(x);
                            }
                            v
                        });
                        cancelling_sender(tx, N, via_select, 0).await;
                        r.await.unwrap()
                    };
                    assert_eq!(
                        got,
                        (0..N).collect::<Vec<_>>(),
                        "cap {cap:?} select {via_select} blocking receiver {blocking_receiver}: a dropped send delivered"
                    );
                }
            }
        }
    });
    common::assert_no_leaks();
}

/// Both ends cancel at random at the same time, on a rendezvous channel:
/// still exactly 0..N.
#[test]
fn cancel_both_ends_dropping_futures_rendezvous() {
    const N: usize = 200;
    common::block_on(async {
        for cap in [Some(0), Some(1)] {
            for via_select in [false, true] {
                let (tx, rx) = make::<usize>(cap);
                // At least two polls each: with one poll per attempt on both
                // sides, both would be non-blocking attempts that can never
                // meet on a rendezvous channel (as in Go).
                let r = tokio::spawn(cancelling_receiver(rx, via_select, 1));
                tokio::spawn(cancelling_sender(tx, N, !via_select, 1)).await.unwrap();
                let got = r.await.unwrap();
                assert_eq!(got, (0..N).collect::<Vec<_>>(), "cap {cap:?}");
            }
        }
    });
    common::assert_no_leaks();
}

/// A pending async receive that a sender already handed a value to, then
/// dropped before it was polled again: the value is not lost and comes out
/// before values sent after it.
#[test]
fn cancel_dropped_recv_after_handoff_keeps_value_and_order() {
    common::watchdog(|| {
        for cap in [0usize, 1, 2] {
            let (tx, rx) = chan::bounded::<i32>(cap);
            let mut f = Box::pin(rx.recv());
            assert!(stays_pending(&mut f, 1));
            // A blocking sender hands 1 to the parked receive (capacity 0)
            // or buffers it and notifies the receive (capacity >= 1).
            tx.send_blocking(1).unwrap();
            // Fill the buffer behind it.
            let fill = cap.saturating_sub(1);
            for v in 0..fill {
                tx.try_send(10 + v as i32).unwrap();
            }
            drop(f); // never polled again: 1 must stay first in the channel
            let got: Vec<i32> = rx.try_iter().collect();
            let want: Vec<i32> = std::iter::once(1).chain((0..fill).map(|v| 10 + v as i32)).collect();
            assert_eq!(got, want, "cap {cap}: value lost or out of order after a dropped receive");
        }
    });
    common::assert_no_leaks();
}

/// The issue's memory rule ("a bounded channel does not grow past its
/// capacity") in the same situation: a buffered channel never holds more
/// than `cap` values, whatever a dropped receive did. The one documented
/// exception is the rendezvous channel, where a value handed to a receive
/// that is then dropped waits in the channel (at most one per such drop)
/// for the next receiver rather than being lost.
#[test]
fn bounded_never_exceeds_capacity_after_cancelled_handoff() {
    common::watchdog(|| {
        for cap in [0usize, 1, 2] {
            let (tx, rx) = chan::bounded::<i32>(cap);
            let mut f = Box::pin(rx.recv());
            assert!(stays_pending(&mut f, 1));
            tx.send_blocking(1).unwrap();
            for v in 0..cap {
                let _ = tx.try_send(10 + v as i32);
            }
            drop(f);
            assert!(rx.len() <= cap.max(1), "cap {cap}: buffer holds {} values", rx.len());
            if cap > 0 {
                assert_eq!(tx.try_send(99), Err(chan::TrySendError::Full(99)), "cap {cap}: full stays full");
            }
        }
    });
    common::assert_no_leaks();
}

/// Close racing with busy senders and receivers of both kinds (plain and
/// select, blocking and async): every value a sender attempted is either
/// received exactly once or handed back to its sender exactly once.
#[test]
fn closedchan_close_racing_with_traffic_conserves_values() {
    const PER: usize = 3_000;
    common::block_on(async {
        for cap in [Some(0), Some(2), None] {
            for round in 0..3 {
                let (tx, rx) = make::<usize>(cap);
                let mut send_threads = Vec::new();
                let mut send_tasks = Vec::new();
                for s in 0..4 {
                    let tx = tx.clone();
                    let base = s * PER;
                    // Each sender returns (attempted values, value handed back).
                    match s {
                        0 => send_threads.push(thread::spawn(move || {
                            for v in base..base + PER {
                                if let Err(SendError(back)) = tx.send_blocking(v) {
                                    return (v + 1 - base, Some(back));
                                }
                            }
                            (PER, None)
                        })),
                        1 => send_threads.push(thread::spawn(move || {
                            for v in base..base + PER {
                                let r = tether::select_blocking! { send(tx, v) -> r => r };
                                if let Err(SendError(back)) = r {
                                    return (v + 1 - base, Some(back));
                                }
                            }
                            (PER, None)
                        })),
                        2 => send_tasks.push(tokio::spawn(async move {
                            for v in base..base + PER {
                                if let Err(SendError(back)) = tx.send(v).await {
                                    return (v + 1 - base, Some(back));
                                }
                            }
                            (PER, None)
                        })),
                        _ => send_tasks.push(tokio::spawn(async move {
                            for v in base..base + PER {
                                let r = tether::select! { send(tx, v) -> r => r };
                                if let Err(SendError(back)) = r {
                                    return (v + 1 - base, Some(back));
                                }
                            }
                            (PER, None)
                        })),
                    }
                }
                let closer = tx.clone();
                drop(tx);
                let mut recv_threads = Vec::new();
                let mut recv_tasks = Vec::new();
                for r in 0..4 {
                    let rx = rx.clone();
                    match r {
                        0 => recv_threads.push(thread::spawn(move || rx.iter().collect::<Vec<_>>())),
                        1 => recv_threads.push(thread::spawn(move || {
                            let mut got = Vec::new();
                            while let Ok(v) = tether::select_blocking! { recv(rx) -> v => v } {
                                got.push(v);
                            }
                            got
                        })),
                        2 => recv_tasks.push(tokio::spawn(async move {
                            let mut got = Vec::new();
                            while let Ok(v) = rx.recv().await {
                                got.push(v);
                            }
                            got
                        })),
                        _ => recv_tasks.push(tokio::spawn(async move {
                            let mut got = Vec::new();
                            while let Ok(v) = tether::select! { recv(rx) -> v => v } {
                                got.push(v);
                            }
                            got
                        })),
                    }
                }
                drop(rx);
                // Let traffic flow for a moment (a different moment each round).
                tokio::time::sleep(Duration::from_micros(300 * (round + 1) as u64)).await;
                closer.close();

                let mut outcomes = Vec::new();
                for t in send_tasks {
                    outcomes.push(t.await.unwrap());
                }
                let (mut received, thread_outcomes) = tokio::task::spawn_blocking(move || {
                    let received: Vec<usize> = recv_threads.into_iter().flat_map(|h| h.join().unwrap()).collect();
                    let outs: Vec<_> = send_threads.into_iter().map(|h| h.join().unwrap()).collect();
                    (received, outs)
                })
                .await
                .unwrap();
                for t in recv_tasks {
                    received.extend(t.await.unwrap());
                }
                // Order: threads were pushed for senders 0, 1; tasks for 2, 3.
                let all: Vec<(usize, Option<usize>)> = thread_outcomes.into_iter().chain(outcomes).collect();
                let mut attempted = Vec::new();
                let mut returned = Vec::new();
                for (s, (n, back)) in all.into_iter().enumerate() {
                    attempted.extend(s * PER..s * PER + n);
                    returned.extend(back);
                }
                let mut accounted: Vec<usize> = received.iter().chain(returned.iter()).copied().collect();
                accounted.sort_unstable();
                attempted.sort_unstable();
                assert_eq!(
                    accounted.len(),
                    attempted.len(),
                    "cap {cap:?} round {round}: {} received + {} returned vs {} attempted",
                    received.len(),
                    returned.len(),
                    attempted.len()
                );
                assert_eq!(accounted, attempted, "cap {cap:?} round {round}: a value was lost or duplicated");
            }
        }
    });
    common::assert_no_leaks();
}
