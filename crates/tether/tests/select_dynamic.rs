//! Go conformance of the run-time select, `chan::Select` (Go's
//! `reflect.Select`, crossbeam's `Select`): the rules of Go's select hold
//! for a list of operations built at run time — fan-in over 256 channels,
//! uniform choice among ready arms, a closed channel's receive is ready
//! with `Err(Closed)`, a removed arm is never chosen (Go: a case's channel
//! set to nil), a select with `default` (`try_select`) never gives up while
//! an arm stays ready (TestNonblockSelectRace), send arms hand their value
//! back on close and are spent once completed, `done(ctx)` and
//! `after`/`deadline` arms, an async `select()` dropped at any poll point
//! performs no operation, and misuse of `Selected` panics clearly.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context as TaskCx, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use tether::Context;
use tether::chan::{self, Receiver, RecvError, Select, SendError, Sender, TryRecvError};

/// Polls `f` up to `n` times with a no-op waker, yielding between polls.
fn poll_n<F: Future>(mut f: Pin<&mut F>, n: usize) -> Option<F::Output> {
    let mut cx = TaskCx::from_waker(Waker::noop());
    for _ in 0..n {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
        thread::yield_now();
    }
    None
}

/// Each count within ±15% of the mean: with 40,000 selects over 4 arms
/// that is ±1,500 around 10,000, about 17 standard deviations of the
/// binomial — it never fails by chance, and catches any arm favoured or
/// starved by more than 15%.
fn assert_uniform(counts: &[usize], what: &str) {
    let n: usize = counts.iter().sum();
    let mean = n as f64 / counts.len() as f64;
    for (i, &c) in counts.iter().enumerate() {
        assert!(
            (c as f64 - mean).abs() <= 0.15 * mean,
            "{what}: arm {i} chosen {c} times out of {n} (expected {mean:.0} ± 15%); counts {counts:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Fan-in

/// Go's reflect.Select fan-in over 256 channels, on threads: 4 producer
/// threads feed 64 channels each (capacity 0 and 1, alternating), close
/// each when done; the consumer removes each arm as it sees `Closed`, and
/// gets every value exactly once, in order per channel.
#[test]
fn fan_in_over_256_channels_threads() {
    common::watchdog(|| {
        const CHANS: usize = 256;
        const PER: u64 = 20;
        let chans: Vec<(Sender<u64>, Receiver<u64>)> = (0..CHANS).map(|i| chan::bounded(i % 2)).collect();
        let (txs, rxs): (Vec<_>, Vec<_>) = chans.into_iter().unzip();
        let mut txs: Vec<Option<Sender<u64>>> = txs.into_iter().map(Some).collect();
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let mine: Vec<(usize, Sender<u64>)> =
                    (0..CHANS).filter(|i| i % 4 == p).map(|i| (i, txs[i].take().unwrap())).collect();
                thread::spawn(move || {
                    for seq in 0..PER {
                        for (i, tx) in &mine {
                            tx.send_blocking((*i as u64) << 32 | seq).unwrap();
                        }
                    }
                    // Dropping the senders closes the channels.
                })
            })
            .collect();
        let mut sel = Select::new();
        for rx in &rxs {
            sel.recv(rx);
        }
        let mut next = vec![0u64; CHANS];
        let mut open = CHANS;
        let mut total = 0;
        while open > 0 {
            let op = sel.select_blocking();
            let i = op.index();
            match op.recv::<u64>() {
                Ok(v) => {
                    assert_eq!(v >> 32, i as u64, "a value from channel {} arrived on arm {i}", v >> 32);
                    assert_eq!(v & 0xFFFF_FFFF, next[i], "channel {i}: order");
                    next[i] += 1;
                    total += 1;
                }
                Err(RecvError::Closed) => {
                    assert_eq!(next[i], PER, "channel {i} closed before all its values arrived");
                    sel.remove(i);
                    open -= 1;
                }
            }
        }
        assert_eq!(total, CHANS as u64 * PER);
        for h in producers {
            h.join().unwrap();
        }
        assert!(sel.try_select().is_none(), "every arm removed");
    });
    common::assert_no_leaks();
}

/// The same fan-in with 256 tokio tasks as producers and an async select.
#[test]
fn fan_in_over_256_channels_tasks() {
    common::block_on(async {
        const CHANS: usize = 256;
        const PER: u64 = 20;
        let mut rxs = Vec::new();
        let mut hs = Vec::new();
        for i in 0..CHANS {
            let (tx, rx) = chan::bounded::<u64>([0, 1, 16][i % 3]);
            rxs.push(rx);
            hs.push(tokio::spawn(async move {
                for seq in 0..PER {
                    tx.send((i as u64) << 32 | seq).await.unwrap();
                }
            }));
        }
        let mut sel = Select::new();
        for rx in &rxs {
            sel.recv(rx);
        }
        let mut next = vec![0u64; CHANS];
        let mut open = CHANS;
        while open > 0 {
            let op = sel.select().await;
            let i = op.index();
            match op.recv::<u64>() {
                Ok(v) => {
                    assert_eq!((v >> 32, v & 0xFFFF_FFFF), (i as u64, next[i]), "arm {i}: order and origin");
                    next[i] += 1;
                }
                Err(RecvError::Closed) => {
                    assert_eq!(next[i], PER);
                    sel.remove(i);
                    open -= 1;
                }
            }
        }
        for h in hs {
            h.await.unwrap();
        }
    });
    common::assert_no_leaks();
}

/// A select over 256 idle channels parks; a send on one of them (the
/// 201st) wakes it with that arm and value.
#[test]
fn parked_select_over_256_arms_wakes_on_any_of_them() {
    common::watchdog(|| {
        for target in [0usize, 200, 255] {
            let chans: Vec<(Sender<u32>, Receiver<u32>)> = (0..256).map(|_| chan::bounded(0)).collect();
            let tx = chans[target].0.clone();
            let h = thread::spawn(move || {
                thread::sleep(Duration::from_millis(2)); // let the select park (not required)
                tx.send_blocking(target as u32 * 10).unwrap();
            });
            let mut sel = Select::new();
            for (_, rx) in &chans {
                sel.recv(rx);
            }
            let op = sel.select_blocking();
            assert_eq!(op.index(), target);
            assert_eq!(op.recv::<u32>(), Ok(target as u32 * 10));
            h.join().unwrap();
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// Uniform choice

/// Go's TestSelectFairness for the run-time select: 4 always-ready arms
/// (closed channels), 40,000 `try_select`s: each arm within ±15% of 10,000.
#[test]
fn uniform_among_always_ready_arms_closed_channels() {
    let chans: Vec<(Sender<u8>, Receiver<u8>)> = (0..4).map(|_| chan::bounded(1)).collect();
    for (tx, _) in &chans {
        tx.close();
    }
    let mut sel = Select::new();
    for (_, rx) in &chans {
        sel.recv(rx);
    }
    let mut counts = [0usize; 4];
    for _ in 0..40_000 {
        let op = sel.try_select().expect("closed channels are ready");
        let i = op.index();
        assert_eq!(op.recv::<u8>(), Err(RecvError::Closed));
        counts[i] += 1;
    }
    assert_uniform(&counts, "4 closed channels, try_select");
}

/// The same with values: 4 channels that always hold a value (the chosen
/// one is refilled), among 4 idle arms, through `select_blocking` and the
/// async `select()`.
#[test]
fn uniform_among_ready_arms_with_values_and_idle_arms() {
    let chans: Vec<(Sender<usize>, Receiver<usize>)> = (0..8).map(|_| chan::bounded(1)).collect();
    for (i, (tx, _)) in chans.iter().enumerate().take(4) {
        tx.try_send(i).unwrap();
    }
    let mut sel = Select::new();
    // Idle and ready arms interleaved: arms 1, 3, 5, 7 are the ready ones.
    for i in 0..4 {
        sel.recv(&chans[4 + i].1);
        sel.recv(&chans[i].1);
    }
    let mut counts = [0usize; 4];
    for round in 0..40_000 {
        let op = if round % 2 == 0 {
            sel.select_blocking()
        } else {
            let f = pin!(sel.select());
            poll_n(f, 1).expect("an arm is ready")
        };
        let arm = op.index();
        assert_eq!(arm % 2, 1, "an idle arm was chosen");
        let v = op.recv::<usize>().unwrap();
        assert_eq!(v, arm / 2);
        counts[v] += 1;
        chans[v].0.try_send(v).unwrap();
    }
    assert_uniform(&counts, "4 ready of 8 arms");
}

/// Uniform also among *send* arms that are all ready (unbounded channels).
#[test]
fn uniform_among_ready_send_arms() {
    let chans: Vec<(Sender<usize>, Receiver<usize>)> = (0..4).map(|_| chan::unbounded()).collect();
    let mut counts = [0usize; 4];
    for _ in 0..40_000 {
        let mut sel = Select::new();
        for (i, (tx, _)) in chans.iter().enumerate() {
            sel.send(tx, i);
        }
        let op = sel.try_select().expect("unbounded sends are ready");
        let i = op.index();
        op.send::<usize>().unwrap();
        counts[i] += 1;
    }
    for (i, (_, rx)) in chans.iter().enumerate() {
        assert_eq!(rx.len(), counts[i], "exactly one send per select");
    }
    assert_uniform(&counts, "4 ready send arms");
}

/// `biased()`: the first ready arm in the order added always wins.
#[test]
fn biased_select_prefers_the_first_ready_arm() {
    let chans: Vec<(Sender<u8>, Receiver<u8>)> = (0..4).map(|_| chan::bounded(1)).collect();
    for (tx, _) in &chans[1..] {
        tx.close();
    }
    let mut sel = Select::new().biased();
    for (_, rx) in &chans {
        sel.recv(rx);
    }
    for _ in 0..1000 {
        assert_eq!(sel.try_select().unwrap().index(), 1, "arm 0 is idle, arm 1 is the first ready");
    }
    chans[0].0.try_send(9).unwrap();
    let op = sel.try_select().unwrap();
    assert_eq!(op.index(), 0);
    assert_eq!(op.recv::<u8>(), Ok(9));
}

// ---------------------------------------------------------------------------
// Readiness rules

/// A receive on a closed channel is ready: first with the values still
/// buffered, then with `Err(Closed)` — and it stays ready.
#[test]
fn closed_channel_arm_is_ready_after_draining() {
    let (tx, rx) = chan::bounded::<u32>(4);
    let (_idle_tx, idle) = chan::bounded::<u32>(0);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    drop(tx);
    let mut sel = Select::new();
    sel.recv(&idle);
    let arm = sel.recv(&rx);
    for want in [Ok(1), Ok(2), Err(RecvError::Closed), Err(RecvError::Closed)] {
        let op = sel.try_select().expect("a closed channel's receive is ready");
        assert_eq!(op.index(), arm);
        assert_eq!(op.recv::<u32>(), want);
    }
    // Also when the close happens while the select is parked.
    let (tx, rx) = chan::bounded::<u32>(0);
    let mut sel = Select::new();
    sel.recv(&idle);
    let arm = sel.recv(&rx);
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(2));
        tx.close();
    });
    let op = sel.select_blocking();
    assert_eq!((op.index(), op.recv::<u32>()), (arm, Err(RecvError::Closed)));
    h.join().unwrap();
}

/// `remove` disables an arm for good (Go: the case's channel set to nil):
/// a ready removed arm is never chosen, the other indices stay, a select
/// of only removed arms has nothing ready, and a removed send arm's value
/// is dropped (not sent).
#[test]
fn remove_disables_an_arm_and_drops_a_pending_send_value() {
    let (a_tx, a) = chan::bounded::<u32>(1);
    let (b_tx, b) = chan::bounded::<u32>(1);
    a_tx.close(); // always ready
    let mut sel = Select::new();
    let ia = sel.recv(&a);
    let ib = sel.recv(&b);
    sel.remove(ia);
    assert_eq!(sel.len(), 2, "indices are kept");
    assert!(sel.try_select().is_none(), "the removed arm is never chosen");
    b_tx.try_send(5).unwrap();
    for _ in 0..100 {
        let op = sel.try_select().unwrap();
        assert_eq!(op.index(), ib);
        assert_eq!(op.recv::<u32>(), Ok(5));
        b_tx.try_send(5).unwrap();
    }
    sel.remove(ib);
    assert!(sel.try_select().is_none());
    assert!(sel.select_timeout_blocking(Duration::from_millis(1)).is_none(), "only removed arms: nothing ready");
    assert_eq!(b.len(), 1, "the removed arm took nothing");

    // A send arm removed before it ran: its value is dropped, not sent.
    let token = Arc::new(());
    let (c_tx, c) = chan::bounded::<Arc<()>>(1);
    let mut sel = Select::new();
    let i = sel.send(&c_tx, token.clone());
    assert_eq!(Arc::strong_count(&token), 2);
    sel.remove(i);
    assert_eq!(Arc::strong_count(&token), 1, "remove dropped the pending value");
    assert!(sel.try_select().is_none());
    assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
}

/// Go's TestNonblockSelectRace for `try_select`: at every instant one of
/// two arms is ready (c1 holds a value until the other thread takes it, and
/// c2 is filled before that), so the select must never fall to `None`.
#[test]
fn try_select_never_none_while_an_arm_stays_ready() {
    common::watchdog(|| {
        for round in 0..2_000 {
            let (c1_tx, c1) = chan::bounded::<u32>(1);
            let (c2_tx, c2) = chan::bounded::<u32>(1);
            c1_tx.try_send(1).unwrap();
            let (c1b, c2b) = (c1.clone(), c2.clone());
            let h = thread::spawn(move || {
                let mut sel = Select::new();
                sel.recv(&c1b);
                sel.recv(&c2b);
                sel.try_select().map(|op| op.recv::<u32>())
            });
            c2_tx.try_send(1).unwrap();
            let _ = c1.try_recv();
            let r = h.join().unwrap();
            assert!(r.is_some(), "round {round}: try_select found no arm ready");
            assert_eq!(r.unwrap(), Ok(1));
        }
    });
    common::assert_no_leaks();
}

/// TestNonblockSelectRace2: the same with c2 closed instead of filled.
#[test]
fn try_select_never_none_while_an_arm_stays_ready_close() {
    common::watchdog(|| {
        for round in 0..2_000 {
            let (c1_tx, c1) = chan::bounded::<u32>(1);
            let (c2_tx, c2) = chan::bounded::<u32>(1);
            c1_tx.try_send(1).unwrap();
            let (c1b, c2b) = (c1.clone(), c2.clone());
            let h = thread::spawn(move || {
                let mut sel = Select::new();
                sel.recv(&c1b);
                sel.recv(&c2b);
                sel.try_select().map(|op| op.index())
            });
            c2_tx.close();
            let _ = c1.try_recv();
            assert!(h.join().unwrap().is_some(), "round {round}: try_select found no arm ready");
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// Send arms

/// A send arm: completes once (then it is spent, even though the channel
/// still has room), hands its value back when the channel is closed, and a
/// send arm that lost keeps its value in the select until the select is
/// dropped.
#[test]
fn send_arms_complete_once_and_hand_values_back_on_close() {
    let (tx, rx) = chan::bounded::<String>(4);
    let mut sel = Select::new();
    let i = sel.send(&tx, "a".to_string());
    let op = sel.try_select().expect("room: the send is ready");
    assert_eq!(op.index(), i);
    assert_eq!(op.send::<String>(), Ok(()));
    assert!(sel.try_select().is_none(), "a completed send arm is spent");
    assert_eq!(rx.try_recv().as_deref(), Ok("a"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "sent exactly once");

    // On a closed channel the send is ready and hands its value back.
    let (tx, rx) = chan::bounded::<String>(0);
    let mut sel = Select::new();
    let i = sel.send(&tx, "b".to_string());
    drop(rx);
    let op = sel.try_select().expect("a send on a closed channel is ready");
    assert_eq!(op.index(), i);
    assert_eq!(op.send::<String>(), Err(SendError("b".to_string())));
    assert!(sel.try_select().is_none(), "spent after completing with an error too");

    // A parked blocking select's send arm completes into a receiver that
    // comes later (rendezvous), exactly once.
    let (tx, rx) = chan::bounded::<u64>(0);
    let (_idle_tx, idle) = chan::bounded::<u64>(0);
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(2));
        rx.recv_blocking()
    });
    let mut sel = Select::new();
    sel.recv(&idle);
    let i = sel.send(&tx, 42);
    let op = sel.select_blocking();
    assert_eq!(op.index(), i);
    assert_eq!(op.send::<u64>(), Ok(()));
    assert_eq!(h.join().unwrap(), Ok(42));

    // A send arm that lost keeps its value until the select goes.
    let token = Arc::new(());
    let (full_tx, _full_rx) = chan::bounded::<Arc<()>>(0);
    let (r_tx, r) = chan::bounded::<u8>(1);
    r_tx.try_send(1).unwrap();
    let mut sel = Select::new();
    sel.send(&full_tx, token.clone());
    let ir = sel.recv(&r);
    let op = sel.try_select().unwrap();
    assert_eq!(op.index(), ir, "only the receive is ready");
    assert_eq!(op.recv::<u8>(), Ok(1));
    assert_eq!(Arc::strong_count(&token), 2, "the losing send kept its value");
    drop(sel);
    assert_eq!(Arc::strong_count(&token), 1, "dropped with the select");
}

/// A select with a send and a receive on the same rendezvous channel never
/// pairs them with each other (test/chan/select3.go, for the run-time form).
#[test]
fn select_does_not_rendezvous_with_itself() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let mut sel = Select::new();
    sel.send(&tx, 1);
    sel.recv(&rx);
    assert!(sel.try_select().is_none());
    assert!(sel.select_timeout_blocking(Duration::from_millis(5)).is_none(), "paired its own send and receive");
    let f = pin!(sel.select());
    assert!(poll_n(f, 5).is_none(), "the async select paired its own send and receive");
}

// ---------------------------------------------------------------------------
// done(ctx), after, deadline

/// `done(ctx)`: ready at once for a done context; a parked select (thread
/// or task) wakes when the context is cancelled; `Selected::ready`.
#[test]
fn done_arm_fires_when_the_context_is_cancelled() {
    common::watchdog(|| {
        let (_idle_tx, idle) = chan::bounded::<u8>(0);
        let (ctx, cancel) = Context::background().with_cancel();
        let mut sel = Select::new();
        sel.recv(&idle);
        let d = sel.done(&ctx);
        assert!(sel.try_select().is_none(), "not done yet");
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(2));
            cancel.cancel();
        });
        let op = sel.select_blocking();
        assert_eq!(op.index(), d);
        op.ready();
        h.join().unwrap();
        let mut sel = Select::new();
        sel.recv(&idle);
        let d = sel.done(&ctx);
        let op = sel.try_select().expect("a done context is ready");
        assert_eq!(op.index(), d);
        op.ready();
    });

    // Async: a parked select() wakes on the cancel.
    common::block_on(async {
        let (_idle_tx, idle) = chan::bounded::<u8>(0);
        let (ctx, cancel) = Context::background().with_cancel();
        let mut sel = Select::new();
        sel.recv(&idle);
        let d = sel.done(&ctx);
        let t = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            cancel.cancel();
        });
        let op = sel.select().await;
        assert_eq!(op.index(), d);
        op.ready();
        t.await.unwrap();
    });
    common::assert_no_leaks();
}

/// `deadline` in the past is ready at once; `after(d)` fires a parked
/// blocking or async select; a far deadline is never ready; a value that
/// is ready beats nothing but is chosen among ready arms as usual.
#[test]
fn after_and_deadline_arms() {
    let (_idle_tx, idle) = chan::bounded::<u8>(0);
    let mut sel = Select::new();
    sel.recv(&idle);
    let far = sel.deadline(Instant::now() + Duration::from_secs(3600));
    assert!(sel.try_select().is_none(), "a far deadline is not ready");
    let past = sel.deadline(Instant::now() - Duration::from_millis(1));
    let op = sel.try_select().expect("a past deadline is ready");
    assert_eq!(op.index(), past);
    op.ready();
    assert_ne!(far, past);

    common::watchdog(|| {
        let (_idle_tx, idle) = chan::bounded::<u8>(0);
        let mut sel = Select::new();
        sel.recv(&idle);
        let a = sel.after(Duration::from_millis(2));
        let op = sel.select_blocking();
        assert_eq!(op.index(), a);
        op.ready();
    });

    common::block_on(async {
        let (_idle_tx, idle) = chan::bounded::<u8>(0);
        let mut sel = Select::new();
        sel.recv(&idle);
        let a = sel.after(Duration::from_millis(2));
        let op = sel.select().await;
        assert_eq!(op.index(), a);
        op.ready();
        // It stays ready afterwards.
        assert_eq!(sel.try_select().map(|op| op.index()), Some(a));
    });

    // select_timeout_blocking gives up with None when nothing is ready.
    let mut sel = Select::new();
    sel.recv(&idle);
    assert!(sel.select_timeout_blocking(Duration::from_millis(1)).is_none());
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// Cancel safety

/// An async `select()` over buffered and rendezvous channels, dropped at
/// random poll points (0 to 4 polls, no-op waker) while blocking and async
/// producers feed it: every value is received exactly once, in order per
/// producer on the buffered channels; a send arm whose select was dropped
/// sent nothing.
#[test]
fn async_select_dropped_at_random_poll_points_loses_nothing() {
    common::watchdog(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        for caps in [[0usize, 0, 0], [1, 16, 0], [1, 1, 1]] {
            const PER: u64 = 400;
            let chans: Vec<(Sender<u64>, Receiver<u64>)> = caps.iter().map(|&c| chan::bounded(c)).collect();
            let (out_tx, out_rx) = chan::bounded::<u64>(0);
            let mut hs = Vec::new();
            let mut tasks = Vec::new();
            for (i, (tx, _)) in chans.iter().enumerate() {
                let tx = tx.clone();
                if i % 2 == 0 {
                    hs.push(thread::spawn(move || {
                        (0..PER).for_each(|s| tx.send_blocking((i as u64) << 32 | s).unwrap())
                    }));
                } else {
                    tasks.push(rt.spawn(async move {
                        for s in 0..PER {
                            tx.send((i as u64) << 32 | s).await.unwrap();
                        }
                    }));
                }
            }
            // A sink for the select's own send arm.
            let sink = thread::spawn(move || out_rx.iter().collect::<Vec<u64>>());
            let rxs: Vec<Receiver<u64>> = chans.iter().map(|(_, rx)| rx.clone()).collect();
            drop(chans);
            let mut got: Vec<u64> = Vec::new();
            let mut sent_by_select = Vec::new();
            let mut open = vec![true; rxs.len()];
            let mut n = 0u64;
            let mut rng = 0x2545_F491_4F6C_DD1Du64;
            while open.iter().any(|&o| o) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let polls = (rng % 5) as usize;
                let mut sel = Select::new();
                let mut arms = HashMap::new();
                for (i, rx) in rxs.iter().enumerate() {
                    if open[i] {
                        arms.insert(sel.recv(rx), i);
                    }
                }
                let x = 1 << 48 | n;
                let send_arm = sel.send(&out_tx, x);
                n += 1;
                let f = pin!(sel.select());
                if let Some(op) = poll_n(f, polls) {
                    if op.index() == send_arm {
                        op.send::<u64>().unwrap();
                        sent_by_select.push(x);
                    } else {
                        let i = arms[&op.index()];
                        match op.recv::<u64>() {
                            Ok(v) => got.push(v),
                            Err(RecvError::Closed) => open[i] = false,
                        }
                    }
                }
            }
            drop(out_tx);
            for h in hs {
                h.join().unwrap();
            }
            for t in tasks {
                rt.block_on(t).unwrap();
            }
            let sunk = sink.join().unwrap();
            assert_eq!(sunk, sent_by_select, "{caps:?}: the select's send arm sent exactly what it reported");
            let mut per: HashMap<u64, Vec<u64>> = HashMap::new();
            for v in &got {
                per.entry(v >> 32).or_default().push(v & 0xFFFF_FFFF);
            }
            for (i, &cap) in caps.iter().enumerate() {
                let mut seqs = per.remove(&(i as u64)).unwrap_or_default();
                if cap > 0 {
                    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{caps:?}: channel {i} out of order");
                }
                seqs.sort_unstable();
                assert_eq!(seqs, (0..PER).collect::<Vec<_>>(), "{caps:?}: channel {i}: each value exactly once");
            }
        }
    });
    common::assert_no_leaks();
}

/// Dropping a `Selected` without taking its result is allowed (it is
/// `#[must_use]`, not required): the value it carried is the caller's and
/// is gone with it. A later select on the same `Select` must never hand
/// that value out again — not even an async `select()` that is dropped
/// after its arm was told a new value waits — and must not lose the new
/// value's wake-up.
#[test]
fn dropped_selected_value_is_never_delivered_again() {
    let (tx, rx) = chan::bounded::<u32>(4);
    let mut sel = Select::new();
    sel.recv(&rx);
    tx.try_send(1).unwrap();
    let op = sel.try_select().unwrap();
    assert_eq!(op.index(), 0);
    drop(op); // the caller looked at the index only
    {
        let mut f = Box::pin(sel.select());
        assert!(common::poll_once(&mut f).is_none(), "nothing buffered");
        tx.try_send(2).unwrap(); // the parked select is told
        drop(f); // dropped before it took 2
    }
    let rest: Vec<u32> = rx.try_iter().collect();
    assert_eq!(rest, [2], "1 was already delivered (to the dropped Selected); only 2 is left");
}

/// The same without a drop in between: a later completed select returns
/// the new value, never the stale one.
#[test]
fn dropped_selected_does_not_leak_into_the_next_result() {
    let (tx, rx) = chan::bounded::<u32>(4);
    let mut sel = Select::new();
    sel.recv(&rx);
    tx.try_send(1).unwrap();
    drop(sel.try_select().unwrap());
    tx.try_send(2).unwrap();
    assert_eq!(sel.try_select().unwrap().recv::<u32>(), Ok(2));
    assert!(sel.try_select().is_none());
}

// ---------------------------------------------------------------------------
// Misuse

#[test]
#[should_panic(expected = "tether::chan::Selected::recv: arm 0 is not a recv of this value type")]
fn selected_recv_of_the_wrong_type_panics_clearly() {
    let (tx, rx) = chan::bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx);
    let _ = sel.try_select().unwrap().recv::<u64>();
}

#[test]
#[should_panic(expected = "tether::chan::Selected::send: arm 1 is not a send of this value type")]
fn selected_send_on_a_recv_arm_panics_clearly() {
    let (tx, rx) = chan::bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let (_idle_tx, idle) = chan::bounded::<u32>(0);
    let mut sel = Select::new();
    sel.recv(&idle);
    sel.recv(&rx);
    let _ = sel.try_select().unwrap().send::<u32>();
}

#[test]
#[should_panic(expected = "is not a done or after arm")]
fn selected_ready_on_a_recv_arm_panics_clearly() {
    let (tx, rx) = chan::bounded::<()>(1);
    tx.try_send(()).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx);
    sel.try_select().unwrap().ready();
}

/// Counts the values of a type alive, to check a select drops what it owns.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// A `Select` dropped with pending send arms drops their values (and a
/// dropped `select()` future sends none of them).
#[test]
fn pending_send_values_are_dropped_with_the_select() {
    let live = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = chan::bounded::<Counted>(0);
    {
        let mut sel = Select::new();
        for _ in 0..10 {
            live.fetch_add(1, SeqCst);
            sel.send(&tx, Counted(live.clone()));
        }
        let f = pin!(sel.select());
        assert!(poll_n(f, 3).is_none(), "no receiver");
        assert_eq!(live.load(SeqCst), 10);
    }
    assert_eq!(live.load(SeqCst), 0, "every pending value dropped with the select");
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)), "nothing was sent");
}
