//! Conformance of `select!` / `select_blocking!` with the behaviours Go's
//! select tests check: test/chan/select.go, select3.go … select7.go,
//! doubleselect.go, and runtime/chan_test.go's TestSelfSelect,
//! TestSelectStress, TestSelectFairness, TestPseudoRandomSend,
//! TestNonblockSelectRace(2), TestSelectDuplicateChannel and
//! TestChanSendInterface. (select2.go, memory, is in select_go_memory.rs.)
//!
//! Go's rules under test: exactly one arm runs; among ready arms the
//! choice is uniformly random; `default` runs only if no arm is ready at
//! the instant of the select; a recv on a closed channel is ready; a
//! disabled arm (Go's nil channel) is never chosen; a losing arm performs
//! no operation; operands are evaluated once.

mod common;

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tether::Context;
use tether::chan::{self, Receiver, RecvError, SendError, Sender, TryRecvError};

fn pause() {
    thread::sleep(Duration::from_millis(2));
}

/// Polls `f` `n` times with a no-op waker: true if it stayed pending.
fn stays_pending<F: Future + Unpin>(f: &mut F, n: usize) -> bool {
    for _ in 0..n {
        if common::poll_once(f).is_some() {
            return false;
        }
        thread::yield_now();
    }
    true
}

/// Go's TestSelectFairness bound: each count within 10 standard deviations
/// of its binomial mean. Loose enough to never flake (p < 1e-20), tight
/// enough to catch an arm that is systematically favoured (e.g. always the
/// first ready one) or starved.
fn assert_fair(counts: &[usize], what: &str) {
    let n: usize = counts.iter().sum();
    let p = 1.0 / counts.len() as f64;
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    for (i, &c) in counts.iter().enumerate() {
        assert!(
            (c as f64 - mean).abs() <= 10.0 * sd,
            "{what}: unfair select, arm {i} chosen {c} times out of {n} (expected {mean:.0} ± {:.0}); counts {counts:?}",
            10.0 * sd
        );
    }
}

// ---------------------------------------------------------------------------
// Exactly one arm; a losing arm does nothing
// ---------------------------------------------------------------------------

/// With two send arms both able to proceed, exactly one value is sent; with
/// two recv arms both ready, exactly one value is taken. Both outcomes
/// occur over many rounds.
#[test]
fn select_runs_exactly_one_arm_and_losers_do_nothing() {
    common::watchdog(|| {
        let (a_tx, a_rx) = chan::bounded::<i32>(1);
        let (b_tx, b_rx) = chan::bounded::<i32>(1);
        let mut which = [0usize; 2];
        for _ in 0..400 {
            let w = tether::select_blocking! {
                send(a_tx, 1) -> r => { r.unwrap(); 0 },
                send(b_tx, 2) -> r => { r.unwrap(); 1 },
            };
            which[w] += 1;
            assert_eq!(a_rx.len() + b_rx.len(), 1, "both send arms sent");
            // Now both are ready to receive, once each channel holds a value.
            let _ = a_tx.try_send(1);
            let _ = b_tx.try_send(2);
            let w = tether::select_blocking! {
                recv(a_rx) -> v => { assert_eq!(v, Ok(1)); 0 },
                recv(b_rx) -> v => { assert_eq!(v, Ok(2)); 1 },
            };
            which[w] += 1;
            assert_eq!(a_rx.len() + b_rx.len(), 1, "both recv arms received");
            let _ = a_rx.try_recv();
            let _ = b_rx.try_recv();
        }
        assert!(which[0] > 0 && which[1] > 0, "one arm never chosen: {which:?}");
    });
    common::block_on(async {
        let (a_tx, a_rx) = chan::bounded::<i32>(1);
        let (b_tx, b_rx) = chan::bounded::<i32>(1);
        for _ in 0..200 {
            tether::select! {
                send(a_tx, 1) -> r => r.unwrap(),
                send(b_tx, 2) -> r => r.unwrap(),
            }
            assert_eq!(a_rx.len() + b_rx.len(), 1, "both send arms sent");
            let _ = a_rx.try_recv();
            let _ = b_rx.try_recv();
        }
    });
    common::assert_no_leaks();
}

/// A select blocked on two rendezvous receives takes exactly one value
/// when two senders arrive; the other sender stays blocked until someone
/// else receives (its value is not consumed by the losing arm).
#[test]
fn select_blocked_recv_takes_one_value_only() {
    common::watchdog(|| {
        for _ in 0..50 {
            let (a_tx, a_rx) = chan::bounded::<i32>(0);
            let (b_tx, b_rx) = chan::bounded::<i32>(0);
            let sel = {
                let (a_rx, b_rx) = (a_rx.clone(), b_rx.clone());
                thread::spawn(move || tether::select_blocking! { recv(a_rx) -> v => v, recv(b_rx) -> v => v })
            };
            let ha = thread::spawn(move || a_tx.send_blocking(1));
            let hb = thread::spawn(move || b_tx.send_blocking(2));
            let got = sel.join().unwrap().unwrap();
            // The other value is still there for an ordinary receive.
            let other = if got == 1 { b_rx.recv_blocking() } else { a_rx.recv_blocking() };
            assert_eq!(got + other.unwrap(), 3);
            ha.join().unwrap().unwrap();
            hb.join().unwrap().unwrap();
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// runtime/chan_test.go: TestNonblockSelectRace, TestNonblockSelectRace2
// ---------------------------------------------------------------------------

/// TestNonblockSelectRace: from the moment the selecting thread starts, at
/// least one of its channels is ready, so its select never takes default.
#[test]
fn nonblock_select_race_never_takes_default() {
    common::watchdog(|| {
        for _ in 0..1000 {
            let (c1_tx, c1_rx) = chan::bounded::<i32>(1);
            let (c2_tx, c2_rx) = chan::bounded::<i32>(1);
            c1_tx.send_blocking(1).unwrap();
            let h = {
                let (c1_rx, c2_rx) = (c1_rx.clone(), c2_rx.clone());
                thread::spawn(move || {
                    tether::select_blocking! { recv(c1_rx) -> _v => true, recv(c2_rx) -> _v => true, default => false }
                })
            };
            c2_tx.send_blocking(1).unwrap();
            tether::select_blocking! { recv(c1_rx) -> _v => {}, default => {} }
            assert!(h.join().unwrap(), "no channel was ready (select judged readiness over a smeared window)");
        }
    });
    common::assert_no_leaks();
}

/// TestNonblockSelectRace2: the same with close(c2) making c2 ready.
#[test]
fn nonblock_select_race_with_close_never_takes_default() {
    common::watchdog(|| {
        for _ in 0..1000 {
            let (c1_tx, c1_rx) = chan::bounded::<i32>(1);
            let (c2_tx, c2_rx) = chan::bounded::<i32>(0);
            c1_tx.send_blocking(1).unwrap();
            let h = {
                let (c1_rx, c2_rx) = (c1_rx.clone(), c2_rx.clone());
                thread::spawn(move || {
                    tether::select_blocking! { recv(c1_rx) -> _v => true, recv(c2_rx) -> _v => true, default => false }
                })
            };
            c2_tx.close();
            tether::select_blocking! { recv(c1_rx) -> _v => {}, default => {} }
            assert!(h.join().unwrap(), "no channel was ready (select judged readiness over a smeared window)");
        }
    });
    common::assert_no_leaks();
}

/// The same race with the selecting side an async task.
#[test]
fn nonblock_select_race_async_never_takes_default() {
    common::block_on(async {
        for _ in 0..500 {
            let (c1_tx, c1_rx) = chan::bounded::<i32>(1);
            let (c2_tx, c2_rx) = chan::bounded::<i32>(1);
            c1_tx.send(1).await.unwrap();
            let h = {
                let (c1_rx, c2_rx) = (c1_rx.clone(), c2_rx.clone());
                tokio::spawn(async move {
                    tether::select! { recv(c1_rx) -> _v => true, recv(c2_rx) -> _v => true, default => false }
                })
            };
            c2_tx.send(1).await.unwrap();
            tether::select! { recv(c1_rx) -> _v => {}, default => {} }
            assert!(h.await.unwrap(), "no channel was ready");
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// runtime/chan_test.go: TestSelectFairness, TestPseudoRandomSend
// ---------------------------------------------------------------------------

/// TestSelectFairness: two always-ready recv arms and two never-ready ones;
/// the ready ones are chosen about equally often.
#[test]
fn select_fairness_two_ready_of_four() {
    common::watchdog(|| {
        const TRIALS: usize = 10_000;
        let (c1_tx, c1) = chan::bounded::<u8>(1);
        let (c2_tx, c2) = chan::bounded::<u8>(1);
        let (_c3_tx, c3) = chan::bounded::<u8>(0);
        let (_c4_tx, c4) = chan::bounded::<u8>(0);
        c1_tx.send_blocking(1).unwrap();
        c2_tx.send_blocking(2).unwrap();
        let mut counts = [0usize; 2];
        for _ in 0..TRIALS {
            let b = tether::select_blocking! {
                recv(c3) -> v => v.unwrap(),
                recv(c4) -> v => v.unwrap(),
                recv(c1) -> v => v.unwrap(),
                recv(c2) -> v => v.unwrap(),
            };
            counts[b as usize - 1] += 1;
            // Refill so both stay ready.
            if b == 1 { c1_tx.try_send(1).unwrap() } else { c2_tx.try_send(2).unwrap() }
        }
        assert_fair(&counts, "2 ready of 4 (blocking)");
    });
    common::assert_no_leaks();
}

/// Fairness among four ready recv arms, four ready send arms, and a mix
/// of recv, send and done arms, on threads.
#[test]
fn select_fairness_all_ready_arms_uniform_threads() {
    common::watchdog(|| {
        const N: usize = 20_000;
        let chans: Vec<(Sender<usize>, Receiver<usize>)> = (0..4).map(|_| chan::bounded(1)).collect();
        for (i, (tx, _)) in chans.iter().enumerate() {
            tx.send_blocking(i).unwrap();
        }
        let (r0, r1, r2, r3) = (&chans[0].1, &chans[1].1, &chans[2].1, &chans[3].1);
        let mut counts = [0usize; 4];
        for _ in 0..N {
            let i = tether::select_blocking! {
                recv(r0) -> v => v.unwrap(),
                recv(r1) -> v => v.unwrap(),
                recv(r2) -> v => v.unwrap(),
                recv(r3) -> v => v.unwrap(),
                default => panic!("default chosen while arms were ready"),
            };
            counts[i] += 1;
            chans[i].0.try_send(i).unwrap();
        }
        assert_fair(&counts, "4 ready recv arms");

        // Send arms: empty the buffers; each chosen send is drained again.
        for (_, rx) in &chans {
            rx.try_recv().unwrap();
        }
        let (s0, s1, s2, s3) = (&chans[0].0, &chans[1].0, &chans[2].0, &chans[3].0);
        let mut counts = [0usize; 4];
        for _ in 0..N {
            let i = tether::select_blocking! {
                send(s0, 0) -> r => { r.unwrap(); 0 },
                send(s1, 1) -> r => { r.unwrap(); 1 },
                send(s2, 2) -> r => { r.unwrap(); 2 },
                send(s3, 3) -> r => { r.unwrap(); 3 },
            };
            counts[i] += 1;
            assert_eq!(chans[i].1.try_recv(), Ok(i));
        }
        assert_fair(&counts, "4 ready send arms");

        // A ready recv, a ready send and a done context.
        let (ctx, cancel) = Context::background().with_cancel();
        cancel.cancel();
        chans[0].0.try_send(0).unwrap();
        let mut counts = [0usize; 3];
        for _ in 0..N {
            let i = tether::select_blocking! {
                recv(r0) -> _v => { chans[0].0.try_send(0).unwrap(); 0 },
                send(s1, 1) -> _r => { chans[1].1.try_recv().unwrap(); 1 },
                done(ctx) => 2,
            };
            counts[i] += 1;
        }
        assert_fair(&counts, "recv, send and done arms");
    });
    common::assert_no_leaks();
}

/// The same uniformity for the async `select!`.
#[test]
fn select_fairness_all_ready_arms_uniform_async() {
    common::block_on_local(async {
        const N: usize = 20_000;
        let chans: Vec<(Sender<usize>, Receiver<usize>)> = (0..4).map(|_| chan::bounded(1)).collect();
        for (i, (tx, _)) in chans.iter().enumerate() {
            tx.send(i).await.unwrap();
        }
        let (r0, r1, r2, r3) = (&chans[0].1, &chans[1].1, &chans[2].1, &chans[3].1);
        let mut counts = [0usize; 4];
        for _ in 0..N {
            let i = tether::select! {
                recv(r0) -> v => v.unwrap(),
                recv(r1) -> v => v.unwrap(),
                recv(r2) -> v => v.unwrap(),
                recv(r3) -> v => v.unwrap(),
            };
            counts[i] += 1;
            chans[i].0.try_send(i).unwrap();
        }
        assert_fair(&counts, "4 ready recv arms (async)");
        let (ctx, cancel) = Context::background().with_cancel();
        cancel.cancel();
        let mut counts = [0usize; 2];
        for _ in 0..N / 2 {
            let i = tether::select! {
                recv(r0) -> v => { chans[0].0.try_send(v.unwrap()).unwrap(); 0 },
                done(ctx) => 1,
                default => panic!("default chosen while arms were ready"),
            };
            counts[i] += 1;
        }
        assert_fair(&counts, "recv and done arms (async)");
    });
    common::assert_no_leaks();
}

/// TestPseudoRandomSend: two send arms on the same channel with different
/// values; both values are chosen a fair share of the time, on a
/// rendezvous channel (with a receiver thread) and a buffered one.
#[test]
fn pseudo_random_send_on_one_channel() {
    common::watchdog(|| {
        const N: usize = 200;
        for cap in [0, N] {
            let (tx, rx) = chan::bounded::<usize>(cap);
            let h = thread::spawn(move || (0..N).map(|_| rx.recv_blocking().unwrap()).collect::<Vec<_>>());
            for _ in 0..N {
                tether::select_blocking! {
                    send(tx, 1) -> r => r.unwrap(),
                    send(tx, 0) -> r => r.unwrap(),
                }
            }
            let l = h.join().unwrap();
            let ones: usize = l.iter().sum();
            assert!(ones > N / 10 && N - ones > N / 10, "cap {cap}: not pseudo-random: {ones} ones of {N}");
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/select3.go — blocking and non-blocking on closed/ready channels
// ---------------------------------------------------------------------------

/// select3: a send arm to a buffered channel with free space never blocks;
/// a recv arm on a buffered value never blocks.
#[test]
fn select3_ready_channels_do_not_block() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(1);
        let sent = tether::select_blocking! { send(tx, 7) -> r => r.is_ok(), default => false };
        assert!(sent, "send arm with free buffer space not chosen");
        let got = tether::select_blocking! { recv(rx) -> v => v, default => Ok(-1) };
        assert_eq!(got, Ok(7));
        // Without default, the same selects complete at once.
        tether::select_blocking! { send(tx, 8) -> r => r.unwrap() }
        assert_eq!(tether::select_blocking! { recv(rx) -> v => v }, Ok(8));
    });
    common::assert_no_leaks();
}

/// select3: a select on closed channels behaves like the plain operation:
/// a recv arm is ready and reports Closed (ten times in a row); a send arm
/// is ready and fails with the value (Go panics).
#[test]
fn select3_closed_channels_are_ready() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(0);
        tx.close();
        for _ in 0..10 {
            assert_eq!(tether::select_blocking! { recv(rx) -> v => v }, Err(RecvError::Closed));
            assert_eq!(tether::select_blocking! { recv(&rx) -> v => v, default => Ok(0) }, Err(RecvError::Closed));
        }
        assert_eq!(tether::select_blocking! { send(tx, 7) -> r => r }, Err(SendError(7)));
        assert_eq!(tether::select_blocking! { send(&tx, 7) -> r => r, default => Ok(()) }, Err(SendError(7)));
    });
    common::assert_no_leaks();
}

/// select3: a select with only non-ready channels blocks (here, until its
/// `after` arm fires); the async one stays pending.
#[test]
fn select3_non_ready_channels_block() {
    common::watchdog(|| {
        let (_tx, rx) = chan::bounded::<i32>(0);
        let r = tether::select_blocking! {
            recv(rx) -> _v => "recv",
            after(Duration::from_millis(5)) => "timeout",
        };
        assert_eq!(r, "timeout");
    });
    let (_tx, rx) = chan::bounded::<i32>(0);
    let mut f = Box::pin(async {
        tether::select! { recv(rx) -> _v => () }
    });
    assert!(stays_pending(&mut f, 5), "select on a non-ready channel completed");
    drop(f);
    common::assert_no_leaks();
}

/// select3: selects with a default and nothing ready do not block.
#[test]
fn select3_default_never_blocks() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(0);
        assert_eq!(tether::select_blocking! { default => 1 }, 1);
        assert_eq!(tether::select_blocking! { recv(rx) -> _v => 0, default => 1 }, 1);
        assert_eq!(tether::select_blocking! { send(tx, 1) -> _r => 0, default => 1 }, 1);
    });
    common::assert_no_leaks();
}

/// select3: "select should not get confused if it sees itself": a send and
/// a recv arm on the same unbuffered channel never pair with each other.
#[test]
fn select3_self_select_on_unbuffered_channel_blocks() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(0);
        let r = tether::select_blocking! {
            send(tx, 1) -> _r => "send",
            recv(rx) -> _v => "recv",
            after(Duration::from_millis(5)) => "timeout",
        };
        assert_eq!(r, "timeout", "select paired its own send and recv");
        let r =
            tether::select_blocking! { send(tx, 1) -> _r => "send", recv(rx) -> _v => "recv", default => "default" };
        assert_eq!(r, "default");
    });
    let (tx, rx) = chan::bounded::<i32>(0);
    let mut f = Box::pin(async {
        tether::select! { send(tx, 1) -> _r => (), recv(rx) -> _v => () }
    });
    assert!(stays_pending(&mut f, 5), "async select paired its own send and recv");
    drop(f);
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/select4.go, select5.go — results and evaluation
// ---------------------------------------------------------------------------

/// select4: the result of the ready arm is delivered into that arm only;
/// the losing arm's body is never evaluated.
#[test]
fn select4_ready_arm_gets_the_value_losing_arm_not_evaluated() {
    let (c_tx, c) = chan::bounded::<i32>(1);
    let (_c1_tx, c1) = chan::bounded::<i32>(0);
    c_tx.send_blocking(42).unwrap();
    let touched = Cell::new(false);
    let x = tether::select_blocking! {
        recv(c1) -> _v => { touched.set(true); 0 },
        recv(c) -> v => v.unwrap(),
    };
    assert_eq!(x, 42);
    assert!(!touched.get());
    common::assert_no_leaks();
}

/// Go's spec (and select5's order checks): the channel operands, send
/// values and guards are evaluated exactly once, in source order, on
/// entering the select, even when the select has to wait, and even for
/// arms that lose.
#[test]
fn select5_operands_evaluated_once_in_source_order() {
    common::watchdog(|| {
        let (a_tx, a) = chan::bounded::<i32>(0);
        let (_b_tx, b) = chan::bounded::<i32>(0);
        let (d_tx, _d) = chan::bounded::<i32>(0);
        let order = std::cell::RefCell::new(Vec::new());
        fn at<T>(order: &std::cell::RefCell<Vec<u32>>, step: u32, v: T) -> T {
            order.borrow_mut().push(step);
            v
        }
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(3));
            a_tx.send_blocking(5)
        });
        let got = tether::select_blocking! {
            recv(at(&order, 1, &b)) -> _v => unreachable!(),
            recv(at(&order, 2, &a)) -> v if at(&order, 3, true) => v,
            send(at(&order, 4, &d_tx), at(&order, 5, 9)) -> _r => unreachable!(),
        };
        assert_eq!(got, Ok(5));
        assert_eq!(*order.borrow(), vec![1, 2, 3, 4, 5], "operands must be evaluated once each, in source order");
        h.join().unwrap().unwrap();
    });
    common::assert_no_leaks();
}

/// A false guard disables its arm for this select (Go: a nil channel); a
/// true guard leaves it as it is.
#[test]
fn select_guard_disables_arm() {
    let (tx, rx) = chan::bounded::<i32>(1);
    tx.try_send(1).unwrap();
    let enabled = false;
    let r = tether::select_blocking! { recv(rx) -> _v if enabled => "recv", default => "default" };
    assert_eq!(r, "default");
    let r = tether::select_blocking! { send(tx, 2) -> _r if enabled => "send", default => "default" };
    assert_eq!(r, "default");
    assert_eq!(rx.len(), 1, "a disabled arm touched the channel");
    let r = tether::select_blocking! { recv(rx) -> v if !enabled => v, default => Ok(0) };
    assert_eq!(r, Ok(1));
    // A closed channel behind a false guard is not ready either.
    tx.close();
    let r = tether::select_blocking! { recv(rx) -> _v if enabled => "recv", default => "default" };
    assert_eq!(r, "default");
    common::assert_no_leaks();
}

/// `biased;` tries arms in source order: with every arm ready, the first
/// always wins (the opposite of the fairness tests above, which would
/// fail on a biased select).
#[test]
fn select_biased_prefers_first_ready_arm() {
    common::block_on_local(async {
        let (a_tx, a) = chan::bounded::<i32>(1);
        let (b_tx, b) = chan::bounded::<i32>(1);
        b_tx.try_send(2).unwrap();
        for _ in 0..100 {
            a_tx.try_send(1).unwrap();
            let x = tether::select! { biased; recv(a) -> v => v.unwrap(), recv(b) -> v => v.unwrap() };
            assert_eq!(x, 1);
            let y = tether::select_blocking! { biased; recv(b) -> v => v.unwrap(), recv(a) -> v => v.unwrap() };
            assert_eq!(y, 2);
            b_tx.try_send(2).unwrap();
        }
    });
    common::assert_no_leaks();
}

/// Go's `select {}`: a select with no arm at all never completes.
#[test]
fn select3_empty_select_never_completes() {
    let mut f = Box::pin(async {
        tether::select! {}
    });
    assert!(stays_pending(&mut f, 5));
    common::assert_no_leaks();
}

/// select5: one real send or receive at a time on a buffered channel,
/// phrased as selects with default before or after the real arm and with
/// never-ready dummy arms; every value goes through exactly once.
#[test]
fn select5_single_operation_phrasings() {
    let (c_tx, c) = chan::bounded::<i32>(1);
    let (dummy_tx, dummy) = chan::bounded::<i32>(0);
    let mut n = 1;
    for round in 0..4 {
        // send phrasings
        match round {
            0 => tether::select_blocking! { send(c_tx, n) -> r => r.unwrap() },
            1 => tether::select_blocking! { default => panic!("nonblock"), send(c_tx, n) -> r => r.unwrap() },
            2 => tether::select_blocking! {
                send(c_tx, n) -> r => r.unwrap(),
                default => panic!("nonblock"),
                send(dummy_tx, 1) -> _r => panic!("dummy send"),
            },
            _ => tether::select_blocking! {
                recv(dummy) -> _v => panic!("dummy receive"),
                send(c_tx, n) -> r => r.unwrap(),
                send(dummy_tx, 1) -> _r => panic!("dummy send"),
            },
        }
        assert_eq!(c.try_recv(), Ok(n));
        n += 1;
        // recv phrasings
        c_tx.try_send(n).unwrap();
        let x = match round {
            0 => tether::select_blocking! { recv(c) -> v => v.unwrap() },
            1 => tether::select_blocking! { default => panic!("nonblock"), recv(c) -> v => v.unwrap() },
            2 => tether::select_blocking! {
                recv(c) -> v => v.unwrap(),
                default => panic!("nonblock"),
                recv(dummy) -> _v => panic!("dummy receive"),
            },
            _ => tether::select_blocking! {
                send(dummy_tx, 1) -> _r => panic!("dummy send"),
                recv(c) -> v => v.unwrap(),
                recv(dummy) -> _v => panic!("dummy receive"),
            },
        };
        assert_eq!(x, n);
        n += 1;
        // nonblock: nothing ready, default, nothing touched
        let x = tether::select_blocking! {
            send(dummy_tx, 1) -> _r => panic!("dummy <- 1"),
            recv(dummy) -> _v => panic!("<-dummy"),
            default => n,
        };
        assert_eq!(x, n);
    }
    assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/select6.go — Issue 2075: failed cases must not corrupt queues
// ---------------------------------------------------------------------------

/// select6: a select waiting on c1 and c2 is woken by c2; its registration
/// on c1 must be gone cleanly, so that two later sends on c1 reach the two
/// receivers that wait on it.
#[test]
fn select6_woken_select_leaves_other_queues_intact_threads() {
    common::watchdog(|| {
        for _ in 0..20 {
            let (c1_tx, c1) = chan::bounded::<bool>(0);
            let (c2_tx, c2) = chan::bounded::<bool>(0);
            let (c3_tx, c3) = chan::bounded::<bool>(0);
            let a = {
                let c1 = c1.clone();
                thread::spawn(move || c1.recv_blocking().unwrap())
            };
            let b = thread::spawn(move || {
                tether::select_blocking! {
                    recv(c1) -> _v => panic!("dummy"),
                    recv(c2) -> _v => c3_tx.send_blocking(true).unwrap(),
                }
                c1.recv_blocking().unwrap()
            });
            let c = thread::spawn(move || c2_tx.send_blocking(true).unwrap());
            c3.recv_blocking().unwrap();
            c1_tx.send_blocking(true).unwrap();
            c1_tx.send_blocking(true).unwrap();
            assert!(a.join().unwrap() && b.join().unwrap());
            c.join().unwrap();
        }
    });
    common::assert_no_leaks();
}

#[test]
fn select6_woken_select_leaves_other_queues_intact_tasks() {
    common::block_on(async {
        for _ in 0..20 {
            let (c1_tx, c1) = chan::bounded::<bool>(0);
            let (c2_tx, c2) = chan::bounded::<bool>(0);
            let (c3_tx, c3) = chan::bounded::<bool>(0);
            let a = {
                let c1 = c1.clone();
                tokio::spawn(async move { c1.recv().await.unwrap() })
            };
            let b = tokio::spawn(async move {
                tether::select! {
                    recv(c1) -> _v => panic!("dummy"),
                    recv(c2) -> _v => c3_tx.send(true).await.unwrap(),
                }
                c1.recv().await.unwrap()
            });
            let c = tokio::spawn(async move { c2_tx.send(true).await.unwrap() });
            c3.recv().await.unwrap();
            c1_tx.send(true).await.unwrap();
            c1_tx.send(true).await.unwrap();
            assert!(a.await.unwrap() && b.await.unwrap());
            c.await.unwrap();
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/select7.go — select when discarding a value
// ---------------------------------------------------------------------------

fn recv1(c: Receiver<i32>) {
    c.recv_blocking().unwrap();
}
fn recv2(c: Receiver<i32>) {
    tether::select_blocking! { recv(c) -> v => { v.unwrap(); } }
}
fn recv3(c: Receiver<i32>) {
    let (_c2_tx, c2) = chan::bounded::<i32>(0);
    tether::select_blocking! { recv(c) -> v => { v.unwrap(); }, recv(c2) -> _v => unreachable!() }
}
fn send1(c: &Sender<i32>) {
    c.send_blocking(1).unwrap();
}
fn send2(c: &Sender<i32>) {
    tether::select_blocking! { send(c, 1) -> r => r.unwrap() }
}
fn send3(c: &Sender<i32>) {
    let (c2_tx, _c2) = chan::bounded::<i32>(0);
    tether::select_blocking! { send(c, 1) -> r => r.unwrap(), send(c2_tx, 1) -> _r => unreachable!() }
}

/// select7: every pairing of {plain, one-arm select, two-arm select} send
/// with the same three receive forms completes on an unbuffered channel.
#[test]
fn select7_every_send_form_meets_every_recv_form_threads() {
    common::watchdog(|| {
        let recvs: [fn(Receiver<i32>); 3] = [recv1, recv2, recv3];
        let sends: [fn(&Sender<i32>); 3] = [send1, send2, send3];
        for _ in 0..5 {
            for recv in recvs {
                for send in sends {
                    let (tx, rx) = chan::bounded::<i32>(0);
                    let h = thread::spawn(move || recv(rx));
                    thread::yield_now();
                    send(&tx);
                    h.join().unwrap();
                }
            }
        }
    });
    common::assert_no_leaks();
}

/// select7 with an async receiver (plain, one-arm, two-arm select!) and
/// each blocking send form, and with async senders against blocking
/// receivers.
#[test]
fn select7_every_send_form_meets_every_recv_form_mixed() {
    common::block_on(async {
        for form in 0..3 {
            for send in [send1 as fn(&Sender<i32>), send2, send3] {
                let (tx, rx) = chan::bounded::<i32>(0);
                let h = tokio::spawn(async move {
                    let (_c2_tx, c2) = chan::bounded::<i32>(0);
                    match form {
                        0 => rx.recv().await.unwrap(),
                        1 => tether::select! { recv(rx) -> v => v.unwrap() },
                        _ => tether::select! { recv(rx) -> v => v.unwrap(), recv(c2) -> _v => unreachable!() },
                    }
                });
                tokio::task::spawn_blocking(move || send(&tx)).await.unwrap();
                assert_eq!(h.await.unwrap(), 1);
            }
            for recv in [recv1 as fn(Receiver<i32>), recv2, recv3] {
                let (tx, rx) = chan::bounded::<i32>(0);
                let h = thread::spawn(move || recv(rx));
                let (c2_tx, _c2) = chan::bounded::<i32>(0);
                match form {
                    0 => tx.send(1).await.unwrap(),
                    1 => tether::select! { send(tx, 1) -> r => r.unwrap() },
                    _ => tether::select! { send(tx, 1) -> r => r.unwrap(), send(c2_tx, 1) -> _r => unreachable!() },
                }
                tokio::task::spawn_blocking(move || h.join().unwrap()).await.unwrap();
            }
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// test/chan/doubleselect.go — no value received twice
// ---------------------------------------------------------------------------

/// doubleselect: one sender selects over four unbuffered channels, four
/// forwarders relay into one channel; if two arms of one select ever both
/// ran, a value would arrive twice.
#[test]
fn doubleselect_no_value_delivered_twice_threads() {
    const N: usize = 10_000;
    common::watchdog(|| {
        let chans: Vec<_> = (0..4).map(|_| chan::bounded::<usize>(0)).collect();
        let (mux_tx, mux_rx) = chan::bounded::<usize>(0);
        let txs: Vec<Sender<usize>> = chans.iter().map(|c| c.0.clone()).collect();
        let sender = thread::spawn(move || {
            let [c1, c2, c3, c4] = &txs[..] else { unreachable!() };
            for i in 0..N {
                tether::select_blocking! {
                    send(c1, i) -> r => r.unwrap(),
                    send(c2, i) -> r => r.unwrap(),
                    send(c3, i) -> r => r.unwrap(),
                    send(c4, i) -> r => r.unwrap(),
                }
            }
        });
        let muxes: Vec<_> = chans
            .into_iter()
            .map(|(_, rx)| {
                let out = mux_tx.clone();
                thread::spawn(move || {
                    for v in rx.iter() {
                        out.send_blocking(v).unwrap();
                    }
                })
            })
            .collect();
        drop(mux_tx);
        let mut seen = vec![false; N];
        for v in mux_rx.iter() {
            assert!(!seen[v], "got duplicate value {v}");
            seen[v] = true;
        }
        assert!(seen.iter().all(|&s| s), "values lost");
        sender.join().unwrap();
        muxes.into_iter().for_each(|m| m.join().unwrap());
    });
    common::assert_no_leaks();
}

#[test]
fn doubleselect_no_value_delivered_twice_tasks() {
    const N: usize = 10_000;
    common::block_on(async {
        let chans: Vec<_> = (0..4).map(|_| chan::bounded::<usize>(0)).collect();
        let (mux_tx, mux_rx) = chan::bounded::<usize>(0);
        let txs: Vec<Sender<usize>> = chans.iter().map(|c| c.0.clone()).collect();
        let sender = tokio::spawn(async move {
            let [c1, c2, c3, c4] = &txs[..] else { unreachable!() };
            for i in 0..N {
                tether::select! {
                    send(c1, i) -> r => r.unwrap(),
                    send(c2, i) -> r => r.unwrap(),
                    send(c3, i) -> r => r.unwrap(),
                    send(c4, i) -> r => r.unwrap(),
                }
            }
        });
        let muxes: Vec<_> = chans
            .into_iter()
            .map(|(_, rx)| {
                let out = mux_tx.clone();
                tokio::spawn(async move {
                    while let Ok(v) = rx.recv().await {
                        out.send(v).await.unwrap();
                    }
                })
            })
            .collect();
        drop(mux_tx);
        let mut seen = vec![false; N];
        while let Ok(v) = mux_rx.recv().await {
            assert!(!seen[v], "got duplicate value {v}");
            seen[v] = true;
        }
        assert!(seen.iter().all(|&s| s), "values lost");
        sender.await.unwrap();
        for m in muxes {
            m.await.unwrap();
        }
    });
    common::assert_no_leaks();
}

/// doubleselect with the selecting sender a task and the forwarders
/// blocking threads (and their output read by a task): the rendezvous
/// across the two worlds neither duplicates nor loses a value.
#[test]
fn doubleselect_no_value_delivered_twice_mixed() {
    const N: usize = 5_000;
    common::block_on(async {
        let chans: Vec<_> = (0..4).map(|_| chan::bounded::<usize>(0)).collect();
        let (mux_tx, mux_rx) = chan::bounded::<usize>(0);
        let txs: Vec<Sender<usize>> = chans.iter().map(|c| c.0.clone()).collect();
        let sender = tokio::spawn(async move {
            let [c1, c2, c3, c4] = &txs[..] else { unreachable!() };
            for i in 0..N {
                tether::select! {
                    send(c1, i) -> r => r.unwrap(),
                    send(c2, i) -> r => r.unwrap(),
                    send(c3, i) -> r => r.unwrap(),
                    send(c4, i) -> r => r.unwrap(),
                }
            }
        });
        let muxes: Vec<_> = chans
            .into_iter()
            .map(|(_, rx)| {
                let out = mux_tx.clone();
                thread::spawn(move || {
                    for v in rx.iter() {
                        out.send_blocking(v).unwrap();
                    }
                })
            })
            .collect();
        drop(mux_tx);
        let mut seen = vec![false; N];
        while let Ok(v) = mux_rx.recv().await {
            assert!(!seen[v], "got duplicate value {v}");
            seen[v] = true;
        }
        assert!(seen.iter().all(|&s| s), "values lost");
        sender.await.unwrap();
        tokio::task::spawn_blocking(move || muxes.into_iter().for_each(|m| m.join().unwrap())).await.unwrap();
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// runtime/chan_test.go: TestSelfSelect
// ---------------------------------------------------------------------------

/// TestSelfSelect: two peers each select {send c, recv c} on the same
/// channel; nothing deadlocks, and on an unbuffered channel nobody ever
/// receives its own value.
#[test]
fn self_select_threads() {
    common::watchdog(|| {
        for cap in [0usize, 10] {
            let (tx, rx) = chan::bounded::<usize>(cap);
            let hs: Vec<_> = (0..2)
                .map(|p| {
                    let (tx, rx) = (tx.clone(), rx.clone());
                    thread::spawn(move || {
                        for _ in 0..1000 {
                            tether::select_blocking! {
                                send(tx, p) -> r => r.unwrap(),
                                recv(rx) -> v => assert!(!(cap == 0 && v == Ok(p)), "self receive"),
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
    });
    common::assert_no_leaks();
}

#[test]
fn self_select_tasks_and_mixed() {
    common::block_on(async {
        for cap in [0usize, 10] {
            for mixed in [false, true] {
                let (tx, rx) = chan::bounded::<usize>(cap);
                let t = {
                    let (tx, rx) = (tx.clone(), rx.clone());
                    tokio::spawn(async move {
                        for _ in 0..1000 {
                            tether::select! {
                                send(tx, 0) -> r => r.unwrap(),
                                recv(rx) -> v => assert!(!(cap == 0 && v == Ok(0)), "self receive"),
                            }
                        }
                    })
                };
                if mixed {
                    let h = thread::spawn(move || {
                        for _ in 0..1000 {
                            tether::select_blocking! {
                                send(tx, 1) -> r => r.unwrap(),
                                recv(rx) -> v => assert!(!(cap == 0 && v == Ok(1)), "self receive"),
                            }
                        }
                    });
                    t.await.unwrap();
                    tokio::task::spawn_blocking(move || h.join().unwrap()).await.unwrap();
                } else {
                    let u = tokio::spawn(async move {
                        for _ in 0..1000 {
                            tether::select! {
                                send(tx, 1) -> r => r.unwrap(),
                                recv(rx) -> v => assert!(!(cap == 0 && v == Ok(1)), "self receive"),
                            }
                        }
                    });
                    t.await.unwrap();
                    u.await.unwrap();
                }
            }
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// runtime/chan_test.go: TestSelectDuplicateChannel
// ---------------------------------------------------------------------------

/// TestSelectDuplicateChannel: a select may wait on the same channel in two
/// arms; when woken through a third, it leaves c's queue intact so a later
/// send on c reaches the other waiter.
#[test]
fn select_duplicate_channel_threads() {
    common::watchdog(|| {
        let (c_tx, c) = chan::bounded::<i32>(0);
        let (d_tx, d) = chan::bounded::<i32>(0);
        let (e_tx, e) = chan::bounded::<i32>(0);
        let a = {
            let c = c.clone();
            thread::spawn(move || {
                let r = tether::select_blocking! {
                    recv(c) -> _v => "c",
                    recv(c) -> _v => "c",
                    recv(d) -> _v => "d",
                };
                e_tx.send_blocking(9).unwrap();
                r
            })
        };
        pause(); // A queues first on c (not required for correctness)
        let b = thread::spawn(move || c.recv_blocking());
        pause();
        d_tx.send_blocking(7).unwrap();
        assert_eq!(e.recv_blocking(), Ok(9));
        c_tx.send_blocking(8).unwrap();
        assert_eq!(a.join().unwrap(), "d");
        assert_eq!(b.join().unwrap(), Ok(8));
    });
    common::assert_no_leaks();
}

#[test]
fn select_duplicate_channel_tasks() {
    common::block_on(async {
        let (c_tx, c) = chan::bounded::<i32>(0);
        let (d_tx, d) = chan::bounded::<i32>(0);
        let (e_tx, e) = chan::bounded::<i32>(0);
        let a = {
            let c = c.clone();
            tokio::spawn(async move {
                let r = tether::select! {
                    recv(c) -> _v => "c",
                    recv(c) -> _v => "c",
                    recv(d) -> _v => "d",
                };
                e_tx.send(9).await.unwrap();
                r
            })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        let b = tokio::spawn(async move { c.recv().await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        d_tx.send(7).await.unwrap();
        assert_eq!(e.recv().await, Ok(9));
        c_tx.send(8).await.unwrap();
        assert_eq!(a.await.unwrap(), "d");
        assert_eq!(b.await.unwrap(), Ok(8));
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// runtime/chan_test.go: TestChanSendInterface
// ---------------------------------------------------------------------------

/// TestChanSendInterface: send arms carrying trait objects, with default,
/// on a full and a free buffered channel.
#[test]
fn chan_send_interface_values_in_select() {
    type Any = Box<dyn std::any::Any + Send>;
    let (tx, rx) = chan::bounded::<Any>(1);
    tx.try_send(Box::new(1u8)).unwrap();
    let r = tether::select_blocking! { send(tx, Box::new(2u16) as Any) -> _r => 1, default => 0 };
    assert_eq!(r, 0);
    let r = tether::select_blocking! {
        send(tx, Box::new(3u32) as Any) -> _r => 1,
        send(tx, Box::new("x") as Any) -> _r => 2,
        default => 0,
    };
    assert_eq!(r, 0);
    assert_eq!(*rx.try_recv().unwrap().downcast::<u8>().unwrap(), 1);
    let r = tether::select_blocking! { send(tx, Box::new(4u64) as Any) -> r => r.is_ok(), default => false };
    assert!(r);
    assert_eq!(*rx.try_recv().unwrap().downcast::<u64>().unwrap(), 4);
    common::assert_no_leaks();
}

/// A losing send arm's value is not delivered and not leaked: it is
/// dropped (or handed back) by the time the select is over.
#[test]
fn select_losing_send_value_is_dropped_not_leaked() {
    let token = Arc::new(());
    let (full_tx, _full_rx) = chan::bounded::<Arc<()>>(0);
    let (ok_tx, ok_rx) = chan::bounded::<i32>(1);
    for _ in 0..10 {
        tether::select_blocking! {
            send(full_tx, token.clone()) -> _r => panic!("no receiver"),
            send(ok_tx, 1) -> r => r.unwrap(),
        }
        ok_rx.try_recv().unwrap();
    }
    assert_eq!(Arc::strong_count(&token), 1, "a losing send arm's value leaked");
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// done(ctx), after(d), and the macro's shape
// ---------------------------------------------------------------------------

/// A done context is a ready arm; a cancel from another thread wakes a
/// blocked select; operands are borrowed and usable afterwards.
#[test]
fn select_done_ctx_arm() {
    common::watchdog(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        let (_tx, rx) = chan::bounded::<i32>(0);
        let r = tether::select_blocking! { recv(rx) -> _v => 0, done(ctx) => 1, default => 2 };
        assert_eq!(r, 2, "not-done ctx must not be ready");
        let h = {
            let ctx = ctx.clone();
            let rx = rx.clone();
            thread::spawn(move || tether::select_blocking! { recv(&rx) -> _v => 0, done(&ctx) => 4 })
        };
        pause();
        cancel.cancel();
        assert_eq!(h.join().unwrap(), 4);
        assert_eq!(tether::select_blocking! { done(ctx) => 4, default => 0 }, 4);
        assert!(ctx.is_done()); // still usable: the operand was borrowed
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
    common::block_on(async {
        let (ctx, cancel) = Context::background().with_cancel();
        let (_tx, rx) = chan::bounded::<i32>(0);
        let h = {
            let (ctx, rx) = (ctx.clone(), rx.clone());
            tokio::spawn(async move {
                tether::select! { recv(rx) -> _v => 0, done(ctx) => 4 }
            })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        cancel.cancel();
        assert_eq!(h.await.unwrap(), 4);
        let (deadline_ctx, _c) = Context::background().with_timeout(Duration::from_millis(2));
        assert_eq!(tether::select! { recv(rx) -> _v => 0, done(&deadline_ctx) => 5 }, 5);
    });
    common::assert_no_leaks();
}

/// after(d) fires only when nothing else became ready first; a ready arm
/// wins over a long timeout; with default, a pending timeout is not ready.
#[test]
fn select_after_timeout_arm() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(1);
        let r = tether::select_blocking! { recv(rx) -> _v => 0, after(Duration::from_millis(3)) => 1 };
        assert_eq!(r, 1);
        tx.send_blocking(1).unwrap();
        let r = tether::select_blocking! { recv(rx) -> v => v.unwrap(), after(Duration::from_secs(10)) => 0 };
        assert_eq!(r, 1);
        let r = tether::select_blocking! { after(Duration::from_secs(10)) => 0, default => 2 };
        assert_eq!(r, 2);
        // A value arriving before the timeout wins.
        let h = thread::spawn(move || {
            pause();
            tx.send_blocking(6)
        });
        let r = tether::select_blocking! { recv(rx) -> v => v.unwrap(), after(Duration::from_secs(10)) => 0 };
        assert_eq!(r, 6);
        h.join().unwrap().unwrap();
    });
    common::block_on(async {
        let (_tx, rx) = chan::bounded::<i32>(0);
        let r = tether::select! { recv(rx) -> _v => 0, after(Duration::from_millis(3)) => 1 };
        assert_eq!(r, 1);
    });
    common::assert_no_leaks();
}

/// A dropped, pending select! future performs no operation: its send arm
/// delivered nothing and its recv arm took nothing.
#[test]
fn select_dropped_future_performs_no_operation() {
    let (a_tx, a_rx) = chan::bounded::<i32>(0);
    let (b_tx, b_rx) = chan::bounded::<i32>(1);
    {
        let mut f = Box::pin(async {
            tether::select! {
                send(a_tx, 1) -> _r => "sent",
                recv(b_rx) -> _v => "received",
            }
        });
        assert!(stays_pending(&mut f, 3));
        b_tx.try_send(2).unwrap();
        // Dropped without being polled again.
    }
    assert_eq!(b_rx.try_recv(), Ok(2), "a dropped select took the value");
    assert_eq!(a_rx.try_recv(), Err(TryRecvError::Empty), "a dropped select sent its value");
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// Disabled arms (Go's nil channel): select3.go, select.go, TestSelectStress
// ---------------------------------------------------------------------------

/// select3: a disabled arm (here a `None` operand, Go's nil channel) is
/// never selected; with default, default runs.
#[test]
fn select3_disabled_arms_never_selected() {
    let (tx, rx) = chan::bounded::<i32>(1);
    tx.try_send(1).unwrap(); // rx is ready, tx is not: neither may run while disabled
    let no_rx: Option<&Receiver<i32>> = None;
    let no_tx: Option<&Sender<i32>> = None;
    let r = tether::select_blocking! { send(no_tx, 7) -> _r => "send", default => "default" };
    assert_eq!(r, "default");
    let r = tether::select_blocking! { recv(no_rx) -> _v => "recv", default => "default" };
    assert_eq!(r, "default");
    let r =
        tether::select_blocking! { recv(no_rx) -> _v => "recv", send(no_tx, 7) -> _r => "send", default => "default" };
    assert_eq!(r, "default");
    assert_eq!(rx.try_recv(), Ok(1), "a disabled arm touched the channel");
    common::assert_no_leaks();
}

/// select3: a select whose arms are all disabled blocks (here until its
/// `after` arm fires; async: stays pending), even when the channels
/// behind the disabled arms are ready or closed.
#[test]
fn select3_only_disabled_arms_block() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(1);
        tx.try_send(1).unwrap();
        let (closed_tx, closed_rx) = chan::bounded::<i32>(0);
        closed_tx.close();
        let off_rx: Option<&Receiver<i32>> = None;
        let off_tx: Option<&Sender<i32>> = None;
        let r = tether::select_blocking! {
            recv(off_rx) -> _v => "recv",
            send(off_tx, 7) -> _r => "send",
            after(Duration::from_millis(3)) => "timeout",
        };
        assert_eq!(r, "timeout");
        assert_eq!(rx.len(), 1);
        drop((closed_rx, tx, rx));
    });
    let off: Option<&Receiver<i32>> = None;
    let mut f = Box::pin(async {
        tether::select! { recv(off) -> _v => () }
    });
    assert!(stays_pending(&mut f, 5), "a select with only disabled arms completed");
    drop(f);
    common::assert_no_leaks();
}

/// select.go: a sender loops over a select of two send arms, disabling
/// each arm once it has sent (`a = nil`), until only default remains;
/// each channel gets exactly one value, and the values differ.
#[test]
fn select_disable_arm_after_use() {
    fn send_until_default(a: Option<&Sender<u32>>, b: Option<&Sender<u32>>) -> u32 {
        let (mut a, mut b) = (a, b);
        let mut i = 0;
        loop {
            let sent = tether::select_blocking! {
                send(a, 1 << i) -> r => { r.unwrap(); a = None; true },
                send(b, 1 << i) -> r => { r.unwrap(); b = None; true },
                default => false,
            };
            if !sent {
                return i;
            }
            i += 1;
        }
    }
    let (a_tx, a_rx) = chan::bounded::<u32>(1);
    let (b_tx, b_rx) = chan::bounded::<u32>(1);
    assert_eq!(send_until_default(Some(&a_tx), Some(&b_tx)), 2);
    let (av, bv) = (a_rx.try_recv().unwrap(), b_rx.try_recv().unwrap());
    assert_eq!(av | bv, 3, "bad values {av} {bv}");
    assert_eq!(send_until_default(Some(&a_tx), None), 1);
    assert_eq!(a_rx.try_recv(), Ok(1));
    assert_eq!(b_rx.try_recv(), Err(TryRecvError::Empty));
    common::assert_no_leaks();
}

/// TestSelectStress: on four channels (two unbuffered, capacities 2 and
/// 3), four plain senders, four plain receivers, one select sending N on
/// each and one select receiving N from each, disabling an arm once its
/// quota is met. Everything interacts chaotically; nothing may deadlock
/// and every count must come out exact.
fn select_stress_threads(n: usize) {
    let chans: Vec<(Sender<usize>, Receiver<usize>)> =
        [0, 0, 2, 3].iter().map(|&cap| chan::bounded::<usize>(cap)).collect();
    thread::scope(|s| {
        for (tx, rx) in &chans {
            s.spawn(move || (0..n).for_each(|_| tx.send_blocking(0).unwrap()));
            s.spawn(move || {
                (0..n).for_each(|_| {
                    rx.recv_blocking().unwrap();
                })
            });
        }
        s.spawn(|| {
            let mut counts = [0usize; 4];
            let mut c: Vec<Option<&Sender<usize>>> = chans.iter().map(|(tx, _)| Some(tx)).collect();
            for _ in 0..4 * n {
                let k = tether::select_blocking! {
                    send(c[3], 0) -> r => { r.unwrap(); 3 },
                    send(c[2], 0) -> r => { r.unwrap(); 2 },
                    send(c[0], 0) -> r => { r.unwrap(); 0 },
                    send(c[1], 0) -> r => { r.unwrap(); 1 },
                };
                counts[k] += 1;
                if counts[k] == n {
                    c[k] = None;
                }
            }
            assert_eq!(counts, [n; 4]);
        });
        s.spawn(|| {
            let mut counts = [0usize; 4];
            let mut c: Vec<Option<&Receiver<usize>>> = chans.iter().map(|(_, rx)| Some(rx)).collect();
            for _ in 0..4 * n {
                let k = tether::select_blocking! {
                    recv(c[0]) -> v => { v.unwrap(); 0 },
                    recv(c[1]) -> v => { v.unwrap(); 1 },
                    recv(c[2]) -> v => { v.unwrap(); 2 },
                    recv(c[3]) -> v => { v.unwrap(); 3 },
                };
                counts[k] += 1;
                if counts[k] == n {
                    c[k] = None;
                }
            }
            assert_eq!(counts, [n; 4]);
        });
    });
    for (_, rx) in &chans {
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn select_stress_threads_test() {
    common::watchdog(|| select_stress_threads(2_000));
    common::assert_no_leaks();
}

/// TestSelectStress on tasks, with the plain senders/receivers blocking
/// threads and the two selects async tasks (and the other way round).
#[test]
fn select_stress_mixed() {
    const N: usize = 1_000;
    common::block_on(async {
        for selects_async in [true, false] {
            let chans: Arc<Vec<(Sender<usize>, Receiver<usize>)>> =
                Arc::new([0, 0, 2, 3].iter().map(|&cap| chan::bounded::<usize>(cap)).collect());
            let mut threads = Vec::new();
            let mut tasks = Vec::new();
            for k in 0..4 {
                let ch = chans.clone();
                let ch2 = chans.clone();
                if selects_async {
                    threads.push(thread::spawn(move || (0..N).for_each(|_| ch[k].0.send_blocking(0).unwrap())));
                    threads.push(thread::spawn(move || {
                        (0..N).for_each(|_| {
                            ch2[k].1.recv_blocking().unwrap();
                        })
                    }));
                } else {
                    tasks.push(tokio::spawn(async move {
                        for _ in 0..N {
                            ch[k].0.send(0).await.unwrap();
                        }
                    }));
                    tasks.push(tokio::spawn(async move {
                        for _ in 0..N {
                            ch2[k].1.recv().await.unwrap();
                        }
                    }));
                }
            }
            let sel_send = {
                let chans = chans.clone();
                move || {
                    let mut counts = [0usize; 4];
                    let mut c: Vec<Option<&Sender<usize>>> = chans.iter().map(|(tx, _)| Some(tx)).collect();
                    for _ in 0..4 * N {
                        let k = tether::select_blocking! {
                            send(c[0], 0) -> r => { r.unwrap(); 0 },
                            send(c[1], 0) -> r => { r.unwrap(); 1 },
                            send(c[2], 0) -> r => { r.unwrap(); 2 },
                            send(c[3], 0) -> r => { r.unwrap(); 3 },
                        };
                        counts[k] += 1;
                        if counts[k] == N {
                            c[k] = None;
                        }
                    }
                    counts
                }
            };
            if selects_async {
                let ch = chans.clone();
                tasks.push(tokio::spawn(async move {
                    let mut counts = [0usize; 4];
                    let mut c: Vec<Option<&Sender<usize>>> = ch.iter().map(|(tx, _)| Some(tx)).collect();
                    for _ in 0..4 * N {
                        let k = tether::select! {
                            send(c[0], 0) -> r => { r.unwrap(); 0 },
                            send(c[1], 0) -> r => { r.unwrap(); 1 },
                            send(c[2], 0) -> r => { r.unwrap(); 2 },
                            send(c[3], 0) -> r => { r.unwrap(); 3 },
                        };
                        counts[k] += 1;
                        if counts[k] == N {
                            c[k] = None;
                        }
                    }
                    assert_eq!(counts, [N; 4]);
                }));
                let ch = chans.clone();
                tasks.push(tokio::spawn(async move {
                    let mut counts = [0usize; 4];
                    let mut c: Vec<Option<&Receiver<usize>>> = ch.iter().map(|(_, rx)| Some(rx)).collect();
                    for _ in 0..4 * N {
                        let k = tether::select! {
                            recv(c[0]) -> v => { v.unwrap(); 0 },
                            recv(c[1]) -> v => { v.unwrap(); 1 },
                            recv(c[2]) -> v => { v.unwrap(); 2 },
                            recv(c[3]) -> v => { v.unwrap(); 3 },
                        };
                        counts[k] += 1;
                        if counts[k] == N {
                            c[k] = None;
                        }
                    }
                    assert_eq!(counts, [N; 4]);
                }));
            } else {
                threads.push(thread::spawn(move || assert_eq!(sel_send(), [N; 4])));
                let ch = chans.clone();
                threads.push(thread::spawn(move || {
                    let mut counts = [0usize; 4];
                    let mut c: Vec<Option<&Receiver<usize>>> = ch.iter().map(|(_, rx)| Some(rx)).collect();
                    for _ in 0..4 * N {
                        let k = tether::select_blocking! {
                            recv(c[0]) -> v => { v.unwrap(); 0 },
                            recv(c[1]) -> v => { v.unwrap(); 1 },
                            recv(c[2]) -> v => { v.unwrap(); 2 },
                            recv(c[3]) -> v => { v.unwrap(); 3 },
                        };
                        counts[k] += 1;
                        if counts[k] == N {
                            c[k] = None;
                        }
                    }
                    assert_eq!(counts, [N; 4]);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            tokio::task::spawn_blocking(move || threads.into_iter().for_each(|h| h.join().unwrap())).await.unwrap();
            for (_, rx) in chans.iter() {
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            }
        }
    });
    common::assert_no_leaks();
}

/// TestNonblockSelectRace2 with a context instead of a closed channel: c1
/// holds a value, then the context is cancelled, then c1 is drained; from
/// the selecting side one of the two arms is always ready, so its select
/// with default never takes default.
#[test]
fn nonblock_select_race_with_cancel_never_takes_default() {
    common::watchdog(|| {
        for _ in 0..500 {
            let (c1_tx, c1_rx) = chan::bounded::<i32>(1);
            let (ctx, cancel) = Context::background().with_cancel();
            c1_tx.send_blocking(1).unwrap();
            let h = {
                let (c1_rx, ctx) = (c1_rx.clone(), ctx.clone());
                thread::spawn(move || {
                    tether::select_blocking! { recv(c1_rx) -> _v => true, done(ctx) => true, default => false }
                })
            };
            cancel.cancel();
            tether::select_blocking! { recv(c1_rx) -> _v => {}, default => {} }
            assert!(h.join().unwrap(), "no arm was ready (done(ctx) readiness judged over a smeared window)");
        }
    });
    common::block_on(async {
        for _ in 0..300 {
            let (c1_tx, c1_rx) = chan::bounded::<i32>(1);
            let (ctx, cancel) = Context::background().with_cancel();
            c1_tx.send(1).await.unwrap();
            let h = {
                let (c1_rx, ctx) = (c1_rx.clone(), ctx.clone());
                tokio::spawn(async move {
                    tether::select! { recv(c1_rx) -> _v => true, done(ctx) => true, default => false }
                })
            };
            cancel.cancel();
            tether::select! { recv(c1_rx) -> _v => {}, default => {} }
            assert!(h.await.unwrap(), "no arm was ready");
        }
    });
    common::assert_no_leaks();
}

/// A context deadline wakes a blocked `select_blocking!` on a plain thread
/// (no runtime), through its done arm.
#[test]
fn select_done_arm_fires_at_deadline_on_plain_thread() {
    common::watchdog(|| {
        let (_tx, rx) = chan::bounded::<i32>(0);
        let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(3));
        let r = tether::select_blocking! { recv(rx) -> _v => "recv", done(ctx) => "done" };
        assert_eq!(r, "done");
        assert_eq!(ctx.err(), Some(tether::ctx::Error::DeadlineExceeded));
    });
    common::assert_no_leaks();
}
