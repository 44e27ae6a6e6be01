//! Edge cases of `select!` / `select_blocking!` (and the run-time `Select`
//! where the same rule applies):
//!
//! - a select with both `send(c, v)` and `recv(c)` on one rendezvous
//!   channel never rendezvous with itself: it waits until another thread or
//!   task comes (and then pairs with it, either way round); with `default`
//!   it takes `default` (test/chan/select3.go);
//! - the same on a buffered channel: with room and nothing buffered only
//!   the send arm is ready; with both, the choice is random; full, only the
//!   receive;
//! - many selects racing on one channel: every value goes to exactly one;
//! - Go's TestNonblockSelectRace with the arms in the other order, and with
//!   idle arms between the two: "readiness is judged at one instant".

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Acquire, Ordering::Release, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use tether::chan::{self, Receiver, Select, Sender, TryRecvError};

fn pause() {
    thread::sleep(Duration::from_millis(2)); // let a peer park (never required for correctness)
}

// ---------------------------------------------------------------------------
// Self-select on a rendezvous channel

/// `select_blocking! { send(c, 1), recv(c) }` on a rendezvous channel
/// waits for a peer; a receiving peer gets the select's value (the send arm
/// ran), a sending peer's value goes to the recv arm. Never its own.
#[test]
fn self_select_rendezvous_waits_for_a_peer_threads() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        for round in 0..50u32 {
            let peer_receives = round % 2 == 0;
            let peer = {
                let (tx, rx) = (tx.clone(), rx.clone());
                thread::spawn(move || {
                    pause();
                    if peer_receives {
                        rx.recv_blocking().map(Some).unwrap()
                    } else {
                        tx.send_blocking(1000 + round).map(|()| None).unwrap()
                    }
                })
            };
            let mine = round;
            let r = tether::select_blocking! {
                send(tx, mine) -> r => { r.unwrap(); None },
                recv(rx) -> v => Some(v.unwrap()),
            };
            let peer_got = peer.join().unwrap();
            if peer_receives {
                assert_eq!(
                    (r, peer_got),
                    (None, Some(mine)),
                    "round {round}: the receiving peer gets the select's value"
                );
            } else {
                assert_eq!(r, Some(1000 + round), "round {round}: the recv arm gets the peer's value, not its own");
            }
        }
        // With default and no peer: default.
        for _ in 0..100 {
            let r = tether::select_blocking! { recv(rx) -> _v => "recv", send(tx, 1) -> _r => "send", default => "default" };
            assert_eq!(r, "default");
        }
    });
    common::assert_no_leaks();
}

/// The same for an async `select!` in a task, with thread and task peers.
#[test]
fn self_select_rendezvous_waits_for_a_peer_tasks() {
    common::block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        for round in 0..40u32 {
            let peer_receives = round % 2 == 0;
            let on_thread = round % 4 < 2;
            let (ptx, prx) = (tx.clone(), rx.clone());
            let peer = async move {
                if on_thread {
                    tokio::task::spawn_blocking(move || {
                        pause();
                        if peer_receives {
                            Some(prx.recv_blocking().unwrap())
                        } else {
                            ptx.send_blocking(1000 + round).unwrap();
                            None
                        }
                    })
                    .await
                    .unwrap()
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    if peer_receives {
                        Some(prx.recv().await.unwrap())
                    } else {
                        ptx.send(1000 + round).await.unwrap();
                        None
                    }
                }
            };
            let peer = tokio::spawn(peer);
            let r = tether::select! {
                send(tx, round) -> r => { r.unwrap(); None },
                recv(rx) -> v => Some(v.unwrap()),
            };
            let peer_got = peer.await.unwrap();
            if peer_receives {
                assert_eq!((r, peer_got), (None, Some(round)), "round {round}");
            } else {
                assert_eq!(r, Some(1000 + round), "round {round}: never its own value");
            }
        }
        let r = tether::select! { send(tx, 1) -> _r => "send", recv(rx) -> _v => "recv", default => "default" };
        assert_eq!(r, "default");
    });
    common::assert_no_leaks();
}

/// The run-time `Select` with a send and a receive on one rendezvous
/// channel pairs with a peer, never with itself.
#[test]
fn self_select_rendezvous_dynamic_pairs_with_a_peer() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let peer = {
            let rx = rx.clone();
            thread::spawn(move || {
                pause();
                rx.recv_blocking().unwrap()
            })
        };
        let mut sel = Select::new();
        let r = sel.recv(&rx);
        let s = sel.send(&tx, 7);
        let op = sel.select_blocking();
        assert_eq!(op.index(), s, "the only peer receives");
        op.send::<u32>().unwrap();
        assert_eq!(peer.join().unwrap(), 7);
        // The send arm is spent: now only a sending peer can complete it.
        let peer = {
            let tx = tx.clone();
            thread::spawn(move || {
                pause();
                tx.send_blocking(8).unwrap()
            })
        };
        let op = sel.select_blocking();
        assert_eq!(op.index(), r);
        assert_eq!(op.recv::<u32>(), Ok(8));
        peer.join().unwrap();
    });
    common::assert_no_leaks();
}

/// Two threads both selecting `{send(c), recv(c)}` on one rendezvous
/// channel pair with each other (each value crosses exactly once).
#[test]
fn two_self_selects_pair_with_each_other() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u64>(0);
        let hs: Vec<_> = (0..2u64)
            .map(|p| {
                let (tx, rx) = (tx.clone(), rx.clone());
                thread::spawn(move || {
                    let (mut sent, mut got) = (Vec::new(), Vec::new());
                    for i in 0..500u64 {
                        let v = p << 32 | i;
                        tether::select_blocking! {
                            send(tx, v) -> r => { r.unwrap(); sent.push(v) },
                            recv(rx) -> x => { let x = x.unwrap(); assert_ne!(x >> 32, p, "received its own value"); got.push(x) },
                        }
                    }
                    (sent, got)
                })
            })
            .collect();
        let rs: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        // What one sent, the other received, in order.
        assert_eq!(rs[0].0, rs[1].1);
        assert_eq!(rs[1].0, rs[0].1);
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// Self-select on a buffered channel

/// On a buffered channel, `select { send(c, v), recv(c) }`: with nothing
/// buffered and room, only the send is ready (the receive cannot take the
/// select's own value); with values and room, both are ready and each
/// wins about half the time; when full, only the receive.
#[test]
fn self_select_buffered_channel_readiness() {
    let (tx, rx) = chan::bounded::<u32>(4);
    for _ in 0..200 {
        let r = tether::select_blocking! { recv(rx) -> _v => "recv", send(tx, 1) -> r => { r.unwrap(); "send" } };
        assert_eq!(r, "send", "empty with room: only the send arm is ready");
        assert_eq!(rx.try_recv(), Ok(1));
        let r = tether::select_blocking! { recv(rx) -> _v => "recv", send(tx, 1) -> r => { r.unwrap(); "send" }, default => "default" };
        assert_eq!(r, "send");
        assert_eq!(rx.try_recv(), Ok(1));
    }
    // Two buffered values and room: both arms ready.
    tx.try_send(0).unwrap();
    tx.try_send(0).unwrap();
    let (mut sends, mut recvs) = (0, 0);
    for _ in 0..4000 {
        tether::select_blocking! {
            recv(rx) -> v => { v.unwrap(); recvs += 1; tx.try_send(0).unwrap() },
            send(tx, 0) -> r => { r.unwrap(); sends += 1; rx.try_recv().unwrap(); },
        }
        assert_eq!(rx.len(), 2);
    }
    assert!(sends > 1500 && recvs > 1500, "both arms ready: sends {sends}, recvs {recvs}");
    // Full: only the receive.
    while tx.try_send(9).is_ok() {}
    for _ in 0..200 {
        let r = tether::select_blocking! { send(tx, 1) -> _r => "send", recv(rx) -> _v => "recv" };
        assert_eq!(r, "recv");
        tx.try_send(9).unwrap();
    }
    // The async form agrees.
    let (tx, rx) = chan::bounded::<u32>(1);
    let mut f = Box::pin(async {
        tether::select! { recv(rx) -> _v => "recv", send(tx, 5) -> r => { r.unwrap(); "send" } }
    });
    assert_eq!(common::poll_once(&mut f), Some("send"));
    drop(f);
    assert_eq!(rx.try_recv(), Ok(5));
}

// ---------------------------------------------------------------------------
// Many selects racing on one channel

/// 4 threads and 4 tasks each selecting `{recv(c), recv(quit)}` in a loop
/// while 2 producers send: every value is received by exactly one select;
/// closing `quit` releases them all.
#[test]
fn many_selects_racing_on_one_channel_receive_each_value_once() {
    common::watchdog(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        for cap in [0usize, 1, 8] {
            const PER: u64 = 1_000;
            let (tx, rx) = chan::bounded::<u64>(cap);
            let (quit_tx, quit) = chan::bounded::<()>(0);
            let mut threads = Vec::new();
            let mut tasks = Vec::new();
            for _ in 0..4 {
                let (trx, tquit) = (rx.clone(), quit.clone());
                threads.push(thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        tether::select_blocking! {
                            recv(trx) -> v => match v { Ok(v) => got.push(v), Err(_) => return got },
                            recv(tquit) -> _q => return got,
                        }
                    }
                }));
                let (rx, quit) = (rx.clone(), quit.clone());
                tasks.push(rt.spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        tether::select! {
                            recv(quit) -> _q => return got,
                            recv(rx) -> v => match v { Ok(v) => got.push(v), Err(_) => return got },
                        }
                    }
                }));
            }
            let producers: Vec<_> = (0..2u64)
                .map(|p| {
                    let tx = tx.clone();
                    thread::spawn(move || (0..PER).for_each(|i| tx.send_blocking(p << 32 | i).unwrap()))
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            // Every value sent; wait until the buffer is drained, then quit.
            while !rx.is_empty() {
                thread::yield_now();
            }
            drop(quit_tx);
            let mut all: Vec<u64> = threads.into_iter().flat_map(|h| h.join().unwrap()).collect();
            for t in tasks {
                all.extend(rt.block_on(t).unwrap());
            }
            let n = all.len();
            let set: HashSet<u64> = all.into_iter().collect();
            assert_eq!(set.len(), n, "cap {cap}: a value was received by two selects");
            assert_eq!(n as u64, 2 * PER, "cap {cap}: every value received");
        }
    });
    common::assert_no_leaks();
}

/// Many selects racing to *send* into one channel (each select: a send on
/// the shared channel and a receive on its own stop channel) against one
/// receiver: each value that a select reports sent arrives exactly once,
/// and no other.
#[test]
fn many_selects_racing_to_send_on_one_channel() {
    common::watchdog(|| {
        for cap in [0usize, 1, 8] {
            let (tx, rx) = chan::bounded::<u64>(cap);
            let (stop_tx, stop) = chan::bounded::<()>(0);
            let hs: Vec<_> = (0..6u64)
                .map(|p| {
                    let (tx, stop) = (tx.clone(), stop.clone());
                    thread::spawn(move || {
                        let mut sent = Vec::new();
                        for i in 0.. {
                            let v = p << 32 | i;
                            let go_on = tether::select_blocking! {
                                send(tx, v) -> r => { r.unwrap(); sent.push(v); true },
                                recv(stop) -> _s => false,
                            };
                            if !go_on {
                                return sent;
                            }
                        }
                        unreachable!()
                    })
                })
                .collect();
            drop(tx);
            let mut got = Vec::new();
            while got.len() < 3000 {
                got.push(rx.recv_blocking().unwrap());
            }
            drop(stop_tx); // the selects stop...
            let sent: Vec<Vec<u64>> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            got.extend(rx.try_iter()); // ...and whatever they sent meanwhile is buffered
            let mut all_sent: Vec<u64> = sent.into_iter().flatten().collect();
            all_sent.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, all_sent, "cap {cap}: received exactly what the selects reported sent");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        }
    });
    common::assert_no_leaks();
}

// ---------------------------------------------------------------------------
// "Readiness is judged at one instant"

/// Spins a little (the two sides of a round meet within microseconds when
/// both run), then yields the core (when the other side is not running: 2
/// shared cores), so a loaded machine slows a round down, never stalls it.
fn pause_briefly(spins: &mut u32) {
    *spins += 1;
    if *spins < 2_000 {
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
}

/// Go's TestNonblockSelectRace, made tight: c1 holds a value; the selecting
/// thread starts its select-with-default; meanwhile the main thread fills
/// c2 and only then drains c1. At every instant c1 or c2 is ready, so a
/// select that judges readiness at one instant (Go locks every channel of
/// the select first) never takes default — whatever the order of its arms.
///
/// `make` builds the select once (before the rounds, so that building it
/// is not timed) from c1, c2 and 254 idle receivers; it returns true if a
/// select found an arm ready. Returns how many of `rounds` took default.
fn nonblock_race(
    rounds: u64,
    make: impl for<'a> FnOnce(&'a Receiver<u32>, &'a Receiver<u32>, &'a [Receiver<u32>]) -> Box<dyn FnMut() -> bool + 'a>
    + Send
    + 'static,
) -> u64 {
    let (c1_tx, c1) = chan::bounded::<u32>(1);
    let (c2_tx, c2) = chan::bounded::<u32>(1);
    let go = Arc::new(AtomicU64::new(0));
    let result = Arc::new(AtomicI64::new(0));
    let selector = {
        let (go, result, c1, c2) = (go.clone(), result.clone(), c1.clone(), c2.clone());
        thread::spawn(move || {
            let idle: Vec<(Sender<u32>, Receiver<u32>)> = (0..254).map(|_| chan::bounded(0)).collect();
            let idle_rx: Vec<Receiver<u32>> = idle.iter().map(|(_, rx)| rx.clone()).collect();
            let mut select = make(&c1, &c2, &idle_rx);
            let mut seen = 0;
            loop {
                let mut spins = 0u32;
                let g = loop {
                    let g = go.load(Acquire);
                    if g != seen {
                        break g;
                    }
                    pause_briefly(&mut spins);
                };
                if g == u64::MAX {
                    return;
                }
                seen = g;
                result.store(if select() { 1 } else { -1 }, Release);
            }
        })
    };
    let mut defaults = 0;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for round in 1..=rounds {
        while c1.try_recv().is_ok() {}
        while c2.try_recv().is_ok() {}
        c1_tx.try_send(1).unwrap();
        result.store(0, SeqCst);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        go.store(round, Release);
        for _ in 0..x % 300 {
            std::hint::spin_loop();
        }
        c2_tx.try_send(2).unwrap(); // c2 ready first...
        let _ = c1.try_recv(); // ...then c1 not
        let mut spins = 0u32;
        let r = loop {
            let r = result.load(Acquire);
            if r != 0 {
                break r;
            }
            pause_briefly(&mut spins);
        };
        if r < 0 {
            defaults += 1;
        }
    }
    go.store(u64::MAX, Release);
    selector.join().unwrap();
    defaults
}

/// The arms in Go's order (c1 first) — the order the conformance suite
/// checks.
#[test]
fn nonblock_select_race_go_order_never_takes_default() {
    let defaults = common::watchdog(|| {
        nonblock_race(20_000, |c1, c2, _idle| {
            Box::new(
                move || tether::select_blocking! { recv(c1) -> _v => true, recv(c2) -> _v => true, default => false },
            )
        })
    });
    assert_eq!(defaults, 0, "{defaults} selects took default although c1 or c2 was ready at every instant");
    common::assert_no_leaks();
}

/// The arms the other way round, with idle arms between them (a wider
/// window between looking at c2 and at c1).
#[test]
fn nonblock_select_race_any_arm_order_never_takes_default() {
    let defaults = common::watchdog(|| {
        nonblock_race(20_000, |c1, c2, idle| {
            let idle = &idle[0];
            Box::new(move || {
                tether::select_blocking! {
                    recv(c2) -> _v => true,
                    recv(idle) -> _v => true, recv(idle) -> _v => true, recv(idle) -> _v => true, recv(idle) -> _v => true,
                    recv(idle) -> _v => true, recv(idle) -> _v => true, recv(idle) -> _v => true, recv(idle) -> _v => true,
                    recv(idle) -> _v => true, recv(idle) -> _v => true, recv(idle) -> _v => true, recv(idle) -> _v => true,
                    recv(idle) -> _v => true, recv(idle) -> _v => true, recv(idle) -> _v => true, recv(idle) -> _v => true,
                    recv(c1) -> _v => true,
                    default => false,
                }
            })
        })
    });
    assert_eq!(defaults, 0, "{defaults} of 20,000 selects took default although c1 or c2 was ready at every instant");
    common::assert_no_leaks();
}

/// The same with a run-time `Select` of 256 arms: c2 first, 254 idle arms,
/// c1 last; `try_select` is Go's select with default.
#[test]
fn nonblock_try_select_race_wide_select_never_returns_none() {
    let defaults = common::watchdog(|| {
        nonblock_race(20_000, |c1, c2, idle| {
            let mut sel = Select::new();
            sel.recv(c2);
            for rx in idle {
                sel.recv(rx);
            }
            sel.recv(c1);
            Box::new(move || sel.try_select().map(|op| op.recv::<u32>().unwrap()).is_some())
        })
    });
    assert_eq!(
        defaults, 0,
        "{defaults} of 20,000 try_selects found nothing ready although c1 or c2 was ready at every instant"
    );
    common::assert_no_leaks();
}
