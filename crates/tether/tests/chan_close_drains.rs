//! Closing drains first (issue 8's correctness bug, and the contract: "close
//! → receivers drain the buffer, then `Closed`"): a receive never reports
//! `Closed` while values are still buffered — whatever kinds of receives
//! are parked (`recv`, `select!` arms, the `Stream`, a run-time `Select`,
//! `recv_many`, blocking receivers on threads), however many, and in
//! whatever order they are polled after the close.
//!
//! Method: park 2–3 receives (poll each once: `Pending`), buffer 1–3 values
//! with `try_send`, close (by `close()` or by dropping the last sender),
//! then poll the receives in every order (all permutations), some of them
//! dropped instead. At each step: a receive polled while values are
//! buffered gets the oldest one; `Closed` comes only once the buffer is
//! empty; `rx.len()` agrees; no value is lost or duplicated.

mod common;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::thread;
use std::time::Duration;

use futures_core::Stream;
use tether::chan::{self, Receiver, RecvError, Select, SendError, Sender, TryRecvError};

/// What a receive returned: the values it took, or `Closed`.
type Res = Result<Vec<u64>, RecvError>;

type Fut<'a> = Pin<Box<dyn Future<Output = Res> + 'a>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `rx.recv()`
    Recv,
    /// `select!` with the receive and an idle arm.
    SelectMacro,
    /// A `Receiver` clone polled as a `Stream`.
    Stream,
    /// A run-time `chan::Select` with the receive and an idle arm.
    DynSelect,
    /// `recv_many(.., 2)`.
    RecvMany,
}

const KINDS: [Kind; 5] = [Kind::Recv, Kind::SelectMacro, Kind::Stream, Kind::DynSelect, Kind::RecvMany];

/// A parked receive of `kind` on `rx` (`idle` is a channel that never
/// becomes ready, for the selects' second arm).
fn receive<'a>(kind: Kind, rx: &'a Receiver<u64>, idle: &'a Receiver<u64>) -> Fut<'a> {
    match kind {
        Kind::Recv => Box::pin(async move { rx.recv().await.map(|v| vec![v]) }),
        Kind::SelectMacro => Box::pin(async move {
            tether::select! {
                recv(idle) -> _v => unreachable!("idle channel"),
                recv(rx) -> v => v.map(|v| vec![v]),
            }
        }),
        Kind::Stream => {
            let mut clone = rx.clone();
            Box::pin(async move {
                let next = poll_fn(|cx| Pin::new(&mut clone).poll_next(cx)).await;
                next.map(|v| vec![v]).ok_or(RecvError::Closed)
            })
        }
        Kind::DynSelect => Box::pin(async move {
            let mut sel = Select::new();
            sel.recv(idle);
            let arm = sel.recv(rx);
            let op = sel.select().await;
            assert_eq!(op.index(), arm, "the idle arm cannot complete");
            op.recv::<u64>().map(|v| vec![v])
        }),
        Kind::RecvMany => Box::pin(async move {
            let mut buf = Vec::new();
            let n = rx.recv_many(&mut buf, 2).await?;
            assert_eq!(n, buf.len());
            Ok(buf)
        }),
    }
}

fn poll(f: &mut Fut<'_>) -> Option<Res> {
    common::poll_once(f)
}

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn go(rest: &mut Vec<usize>, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(cur.clone());
            return;
        }
        for i in 0..rest.len() {
            let x = rest.remove(i);
            cur.push(x);
            go(rest, cur, out);
            cur.pop();
            rest.insert(i, x);
        }
    }
    let mut out = Vec::new();
    go(&mut (0..n).collect(), &mut Vec::new(), &mut out);
    out
}

/// Every combination (with repetition, order kept) of `k` kinds.
fn kind_tuples(k: usize) -> Vec<Vec<Kind>> {
    let mut out = vec![vec![]];
    for _ in 0..k {
        out = out
            .into_iter()
            .flat_map(|t| {
                KINDS.iter().map(move |&kind| {
                    let mut t = t.clone();
                    t.push(kind);
                    t
                })
            })
            .collect();
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum CloseBy {
    Close,
    DropLastSender,
}

/// One scenario: receives of `kinds` parked on `bounded(cap)`, `values`
/// buffered, closed, then each receive polled (or, if `drop_mask` has its
/// bit, dropped) in `order`.
fn scenario(cap: usize, kinds: &[Kind], values: u64, close_by: CloseBy, order: &[usize], drop_mask: u32) {
    let what =
        format!("cap {cap}, receives {kinds:?}, {values} buffered, {close_by:?}, order {order:?}, drops {drop_mask:b}");
    let (tx, rx) = chan::bounded::<u64>(cap);
    let (_idle_tx, idle) = chan::bounded::<u64>(0);
    let mut futs: Vec<Option<Fut<'_>>> = kinds.iter().map(|&k| Some(receive(k, &rx, &idle))).collect();
    for f in futs.iter_mut() {
        assert!(poll(f.as_mut().unwrap()).is_none(), "{what}: nothing is buffered yet");
    }
    for v in 0..values {
        tx.try_send(v).unwrap_or_else(|e| panic!("{what}: try_send: {e:?}"));
    }
    assert_eq!(rx.len() as u64, values, "{what}: every value is buffered (parked async receives are only told)");
    match close_by {
        CloseBy::Close => assert!(tx.close()),
        CloseBy::DropLastSender => drop(tx),
    }
    assert!(rx.is_closed(), "{what}: closed at once, values still buffered");

    let mut next = 0u64; // the oldest value still buffered
    let mut closed_seen = false;
    for &i in order {
        let mut f = futs[i].take().unwrap();
        let before = rx.len() as u64;
        assert_eq!(before, values - next, "{what}: len() before polling receive {i}");
        if drop_mask & (1 << i) != 0 {
            drop(f);
            assert_eq!(rx.len() as u64, before, "{what}: dropping receive {i} took nothing");
            continue;
        }
        let r = poll(&mut f).unwrap_or_else(|| panic!("{what}: receive {i} still pending after the close"));
        match r {
            Ok(vs) => {
                assert!(!closed_seen || vs.is_empty(), "{what}: a value after Closed");
                assert!(!vs.is_empty(), "{what}: receive {i} completed with no value");
                for v in vs {
                    assert_eq!(v, next, "{what}: receive {i} got {v}, the oldest buffered is {next}");
                    next += 1;
                }
            }
            Err(RecvError::Closed) => {
                assert_eq!(
                    before, 0,
                    "{what}: receive {i} ({:?}) reported Closed while {before} values were still buffered",
                    kinds[i]
                );
                closed_seen = true;
            }
        }
        assert_eq!(rx.len() as u64, values - next, "{what}: len() after polling receive {i}");
    }
    // What the receives did not take is still there, in order.
    while next < values {
        assert_eq!(rx.try_recv(), Ok(next), "{what}: the rest drains in order");
        next += 1;
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "{what}: drained, then Closed");
}

/// The issue's reproduction, literally.
#[test]
fn issue8_second_parked_recv_does_not_report_closed_over_a_buffered_value() {
    let (tx, rx) = chan::bounded::<u32>(4);
    let mut a = Box::pin(rx.recv());
    let mut b = Box::pin(rx.recv());
    assert!(common::poll_once(&mut a).is_none());
    assert!(common::poll_once(&mut b).is_none());
    tx.try_send(7).unwrap();
    tx.close();
    assert_eq!(common::poll_once(&mut b), Some(Ok(7)), "the buffer is drained first");
    assert_eq!(rx.len(), 0);
    assert_eq!(common::poll_once(&mut a), Some(Err(RecvError::Closed)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

/// Two and three parked receives of every kind combination, 1 to 3 values
/// buffered (never more than the capacity), both ways of closing, every
/// poll order.
#[test]
fn close_drains_before_closed_every_kind_every_poll_order() {
    let mut n = 0;
    for k in [2usize, 3] {
        for kinds in kind_tuples(k) {
            for order in permutations(k) {
                for values in 1..=3u64 {
                    for cap in [values as usize, 4] {
                        let close_by = if n % 2 == 0 { CloseBy::Close } else { CloseBy::DropLastSender };
                        scenario(cap, &kinds, values, close_by, &order, 0);
                        n += 1;
                    }
                }
            }
        }
    }
    assert!(n > 4000, "{n} scenarios");
}

/// The same with some receives dropped instead of polled (a dropped one
/// that was told a value waits must pass the news on): every drop mask for
/// three receives of each single kind and of a mixed set.
#[test]
fn close_drains_before_closed_when_some_receives_are_dropped() {
    let mut sets: Vec<Vec<Kind>> = KINDS.iter().map(|&k| vec![k; 3]).collect();
    sets.push(vec![Kind::Recv, Kind::SelectMacro, Kind::Stream]);
    sets.push(vec![Kind::DynSelect, Kind::RecvMany, Kind::Recv]);
    for kinds in sets {
        for order in permutations(3) {
            for drop_mask in 1..7u32 {
                for values in 1..=3u64 {
                    scenario(4, &kinds, values, CloseBy::Close, &order, drop_mask);
                    scenario(values as usize, &kinds, values, CloseBy::DropLastSender, &order, drop_mask);
                }
            }
        }
    }
}

/// Values buffered in two steps, some taken before the close: the receives
/// told about a value that another receive took first must not conclude
/// `Closed` while the next value waits.
#[test]
fn close_after_partial_drain_every_poll_order() {
    for kinds in kind_tuples(3) {
        for order in permutations(3) {
            let what = format!("{kinds:?} order {order:?}");
            let (tx, rx) = chan::bounded::<u64>(4);
            let (_idle_tx, idle) = chan::bounded::<u64>(0);
            let mut futs: Vec<Option<Fut<'_>>> = kinds.iter().map(|&k| Some(receive(k, &rx, &idle))).collect();
            for f in futs.iter_mut() {
                assert!(poll(f.as_mut().unwrap()).is_none());
            }
            tx.try_send(0).unwrap();
            tx.try_send(1).unwrap();
            // A plain try_recv takes the first value from under the
            // receive that was told about it.
            assert_eq!(rx.try_recv(), Ok(0));
            tx.try_send(2).unwrap();
            tx.close();
            let mut next = 1;
            for &i in &order {
                let mut f = futs[i].take().unwrap();
                let before = rx.len();
                match poll(&mut f).unwrap_or_else(|| panic!("{what}: pending after close")) {
                    Ok(vs) => {
                        for v in vs {
                            assert_eq!(v, next, "{what}");
                            next += 1;
                        }
                    }
                    Err(RecvError::Closed) => {
                        assert_eq!(before, 0, "{what}: receive {i} reported Closed while {before} values were buffered")
                    }
                }
            }
            while let Ok(v) = rx.try_recv() {
                assert_eq!(v, next, "{what}");
                next += 1;
            }
            assert_eq!(next, 3, "{what}: every value received once");
        }
    }
}

/// Blocking receivers parked on threads, mixed with parked async receives
/// in both queue orders: after the close, every buffered value is received
/// exactly once, and if any receive reported `Closed`, nothing was left
/// buffered (a receiver that saw `Closed` while values waited would leave
/// them behind).
#[test]
fn close_drains_with_blocking_receivers_parked_on_threads() {
    common::watchdog(|| {
        for threads_first in [true, false] {
            for values in 1..=3u64 {
                for kinds in
                    [vec![Kind::Recv], vec![Kind::SelectMacro, Kind::Stream], vec![Kind::DynSelect, Kind::Recv]]
                {
                    for order in permutations(kinds.len()) {
                        let what =
                            format!("threads first {threads_first}, {values} values, {kinds:?}, order {order:?}");
                        let (tx, rx) = chan::bounded::<u64>(4);
                        let (_idle_tx, idle) = chan::bounded::<u64>(0);
                        let spawn = |n: usize| -> Vec<thread::JoinHandle<Result<u64, RecvError>>> {
                            (0..n)
                                .map(|_| {
                                    let rx = rx.clone();
                                    thread::spawn(move || rx.recv_blocking())
                                })
                                .collect()
                        };
                        let let_park = || thread::sleep(Duration::from_millis(3)); // not required for correctness
                        let mut hs = Vec::new();
                        if threads_first {
                            hs = spawn(2);
                            let_park();
                        }
                        let mut futs: Vec<Fut<'_>> = kinds.iter().map(|&k| receive(k, &rx, &idle)).collect();
                        for f in futs.iter_mut() {
                            assert!(poll(f).is_none(), "{what}");
                        }
                        if !threads_first {
                            hs = spawn(2);
                            let_park();
                        }
                        for v in 0..values {
                            tx.try_send(v).unwrap();
                        }
                        tx.close();
                        let mut got = Vec::new();
                        let mut closed = 0;
                        for &i in &order {
                            match poll(&mut futs[i]).unwrap_or_else(|| panic!("{what}: pending after close")) {
                                Ok(vs) => got.extend(vs),
                                Err(RecvError::Closed) => closed += 1,
                            }
                        }
                        for h in hs {
                            match h.join().unwrap() {
                                Ok(v) => got.push(v),
                                Err(RecvError::Closed) => closed += 1,
                            }
                        }
                        let left: Vec<u64> = rx.try_iter().collect();
                        if closed > 0 {
                            assert!(
                                left.is_empty(),
                                "{what}: {closed} receives reported Closed while {left:?} were still buffered"
                            );
                        }
                        got.extend(left);
                        got.sort_unstable();
                        assert_eq!(got, (0..values).collect::<Vec<_>>(), "{what}: each value exactly once");
                    }
                }
            }
        }
    });
    common::assert_no_leaks();
}

/// Senders parked at the close get their values back (blocking and async,
/// an async one even after it was granted room), and the receivers drain
/// exactly the values that were buffered before the close, never one of
/// the failed senders'.
#[test]
fn close_fails_parked_senders_and_drains_only_what_was_buffered() {
    common::watchdog(|| {
        for cap in [1usize, 2] {
            let (tx, rx) = chan::bounded::<u64>(cap);
            for v in 0..cap as u64 {
                tx.try_send(v).unwrap();
            }
            // An async sender parks on the full buffer.
            let mut granted = Box::pin(tx.send(100));
            assert!(common::poll_once(&mut granted).is_none());
            // A receive frees room: it is reserved for the parked async
            // sender, which has not filled it yet.
            assert_eq!(rx.try_recv(), Ok(0));
            // Another async sender, and a blocking one, park behind it.
            let mut waiting = Box::pin(tx.send(101));
            assert!(common::poll_once(&mut waiting).is_none(), "the freed room is reserved for the first sender");
            let blocking = {
                let tx: Sender<u64> = tx.clone();
                thread::spawn(move || tx.send_blocking(102))
            };
            thread::sleep(Duration::from_millis(3)); // let it park (not required)
            tx.close();
            assert_eq!(common::poll_once(&mut granted), Some(Err(SendError(100))), "cap {cap}: granted, not committed");
            assert_eq!(common::poll_once(&mut waiting), Some(Err(SendError(101))));
            assert_eq!(blocking.join().unwrap(), Err(SendError(102)));
            let rest: Vec<u64> = rx.try_iter().collect();
            assert_eq!(rest, (1..cap as u64).collect::<Vec<_>>(), "cap {cap}: only what was buffered before the close");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        }
    });
    common::assert_no_leaks();
}

/// The `Stream` ends only after the buffer is drained, also when several
/// streams (receiver clones) and receives were parked at the close.
#[test]
fn streams_end_only_after_draining() {
    for values in 1..=3u64 {
        let (tx, rx) = chan::bounded::<u64>(4);
        let mut streams: Vec<Receiver<u64>> = (0..3).map(|_| rx.clone()).collect();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for s in streams.iter_mut() {
            assert!(Pin::new(s).poll_next(&mut cx).is_pending());
        }
        for v in 0..values {
            tx.try_send(v).unwrap();
        }
        drop(tx);
        let mut got = Vec::new();
        for s in streams.iter_mut().rev() {
            let before = rx.len();
            match Pin::new(s).poll_next(&mut cx) {
                std::task::Poll::Ready(Some(v)) => got.push(v),
                std::task::Poll::Ready(None) => assert_eq!(before, 0, "a stream ended with {before} values buffered"),
                std::task::Poll::Pending => panic!("a stream is pending after the close"),
            }
        }
        got.extend(rx.try_iter());
        assert_eq!(got, (0..values).collect::<Vec<_>>());
    }
}
