//! `Cond` against the behaviours Go's sync/cond_test.go checks (Signal
//! wakes exactly one, FIFO generations, Broadcast wakes all once, the
//! TestRace hand-off, signal stealing), for threads and tasks, plus
//! tether's additions: context-cancelled waits, predicate helpers,
//! timeouts, and cancel safety of dropped waits.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, TryRecvError};
use std::time::Duration;

use common::*;
use tether::Context;
use tether::sync::{Cond, Mutex};

fn pair<T>(v: T) -> Arc<(Mutex<T>, Cond)> {
    Arc::new((Mutex::new(v), Cond::new()))
}

#[test]
fn cond_signal_wakes_exactly_one_waiter() {
    watchdog(|| {
        let p = pair(());
        let n = 3;
        let (running_tx, running) = mpsc::channel();
        let (awake_tx, awake) = mpsc::channel();
        for _ in 0..n {
            let (p, running_tx, awake_tx) = (p.clone(), running_tx.clone(), awake_tx.clone());
            std::thread::spawn(move || {
                let (m, c) = &*p;
                let g = m.lock_blocking();
                running_tx.send(()).unwrap();
                let _g = c.wait_blocking(g);
                awake_tx.send(()).unwrap();
            });
        }
        for _ in 0..n {
            running.recv().unwrap();
        }
        let (m, c) = &*p;
        for _ in 0..n {
            assert_eq!(awake.try_recv(), Err(TryRecvError::Empty), "a waiter woke without a signal");
            let g = m.lock_blocking();
            c.notify_one();
            drop(g);
            awake.recv().unwrap();
            assert_eq!(awake.try_recv(), Err(TryRecvError::Empty), "one signal woke two waiters");
        }
        c.notify_one(); // no waiters: nothing happens
        assert_eq!(c.waiters(), 0);
        assert_no_leaks();
    });
}

#[test]
fn cond_signal_generations_wake_in_fifo_order() {
    watchdog(|| {
        let p = pair(());
        let n = 50;
        let (running_tx, running) = mpsc::channel();
        let (awake_tx, awake) = mpsc::channel();
        for i in 0..n {
            let (p2, running_tx, awake_tx) = (p.clone(), running_tx.clone(), awake_tx.clone());
            std::thread::spawn(move || {
                let (m, c) = &*p2;
                let g = m.lock_blocking();
                running_tx.send(()).unwrap();
                let _g = c.wait_blocking(g);
                awake_tx.send(i).unwrap();
            });
            if i > 0 {
                assert_eq!(awake.recv().unwrap(), i - 1, "the wrong waiter woke up");
            }
            running.recv().unwrap();
            let (m, c) = &*p;
            let g = m.lock_blocking(); // the new waiter has released it: it is queued
            c.notify_one();
            drop(g);
        }
        assert_eq!(awake.recv().unwrap(), n - 1);
    });
    assert_no_leaks();
}

#[test]
fn cond_broadcast_wakes_every_waiter_once() {
    watchdog(|| {
        let p = pair(false); // the "exit" flag
        let n = 20;
        let (running_tx, running) = mpsc::channel();
        let (awake_tx, awake) = mpsc::channel();
        for g in 0..n {
            let (p, running_tx, awake_tx) = (p.clone(), running_tx.clone(), awake_tx.clone());
            std::thread::spawn(move || {
                let (m, c) = &*p;
                let mut guard = m.lock_blocking();
                while !*guard {
                    running_tx.send(g).unwrap();
                    guard = c.wait_blocking(guard);
                    awake_tx.send(g).unwrap();
                }
            });
        }
        let (m, c) = &*p;
        for round in 0..n {
            for _ in 0..n {
                running.recv().unwrap();
            }
            let mut guard = m.lock_blocking();
            if round == n - 1 {
                *guard = true;
            }
            assert_eq!(awake.try_recv(), Err(TryRecvError::Empty), "a waiter woke without a broadcast");
            c.notify_all();
            drop(guard);
            let mut seen = vec![false; n];
            for _ in 0..n {
                let g = awake.recv().unwrap();
                assert!(!seen[g], "a waiter woke twice for one broadcast");
                seen[g] = true;
            }
        }
        drop(running_tx);
        assert!(running.try_recv().is_err(), "a waiter did not exit");
        c.notify_all();
    });
    assert_no_leaks();
}

#[test]
fn cond_race_hand_off_between_three_parties() {
    // Go's TestRace: x goes 0 → 1 (waiter A) → 2 (B, signals) → 3 (A,
    // signals C who waited on x == 2).
    watchdog(|| {
        for _ in 0..50 {
            let p = pair(0u32);
            let a = {
                let p = p.clone();
                std::thread::spawn(move || {
                    let (m, c) = &*p;
                    let mut x = m.lock_blocking();
                    *x = 1;
                    x = c.wait_blocking(x);
                    assert_eq!(*x, 2);
                    *x = 3;
                    c.notify_one();
                })
            };
            let b = {
                let p = p.clone();
                std::thread::spawn(move || {
                    let (m, c) = &*p;
                    loop {
                        let mut x = m.lock_blocking();
                        if *x == 1 {
                            *x = 2;
                            c.notify_one();
                            break;
                        }
                        drop(x);
                        std::thread::yield_now();
                    }
                })
            };
            let cthread = {
                let p = p.clone();
                std::thread::spawn(move || {
                    let (m, c) = &*p;
                    loop {
                        let x = m.lock_blocking();
                        if *x == 2 {
                            let x = c.wait_blocking(x);
                            assert_eq!(*x, 3);
                            break;
                        }
                        if *x == 3 {
                            break;
                        }
                        drop(x);
                        std::thread::yield_now();
                    }
                })
            };
            a.join().unwrap();
            b.join().unwrap();
            cthread.join().unwrap();
        }
    });
    assert_no_leaks();
}

#[test]
fn cond_signal_stealing_first_waiter_always_notified() {
    // A broadcast racing a new waiter must still wake the old waiter.
    watchdog(|| {
        for _ in 0..200 {
            let p = pair(false);
            let (tx, rx) = mpsc::channel();
            {
                let (p, tx) = (p.clone(), tx.clone());
                std::thread::spawn(move || {
                    let (m, c) = &*p;
                    let g = m.lock_blocking();
                    tx.send(()).unwrap();
                    drop(c.wait_blocking(g));
                    tx.send(()).unwrap();
                });
            }
            rx.recv().unwrap();
            drop(p.0.lock_blocking()); // the waiter is inside wait now
            let b = {
                let p = p.clone();
                std::thread::spawn(move || p.1.notify_all())
            };
            let w = {
                let p = p.clone();
                std::thread::spawn(move || {
                    let (m, c) = &*p;
                    drop(c.wait_while_blocking(m.lock_blocking(), |done| !*done));
                })
            };
            rx.recv().unwrap(); // the first waiter was signalled
            *p.0.lock_blocking() = true;
            p.1.notify_all();
            b.join().unwrap();
            w.join().unwrap();
        }
    });
    assert_no_leaks();
}

#[test]
fn cond_async_signal_and_broadcast() {
    block_on(async {
        let p = pair(0usize);
        let woke = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (p, woke) = (p.clone(), woke.clone());
            tasks.push(tokio::spawn(async move {
                let (m, c) = &*p;
                let g = c.wait_while(m.lock().await, |v| *v == 0).await;
                assert!(*g > 0);
                woke.fetch_add(1, SeqCst);
            }));
        }
        // Wait until every task is queued, then release them all.
        while p.1.waiters() < 8 {
            tokio::task::yield_now().await;
        }
        *p.0.lock().await = 1;
        p.1.notify_all();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(woke.load(SeqCst), 8);
        assert_eq!(p.1.waiters(), 0);
    });
    assert_no_leaks();
}

#[test]
fn cond_producer_consumer_threads_and_tasks_share_one_cond() {
    block_on(async {
        // A bounded queue with "not empty" / "not full" conds on one mutex:
        // thread producers, task consumers, and the other way round.
        struct Q {
            items: Mutex<Vec<u64>>,
            not_empty: Cond,
            not_full: Cond,
        }
        let q = Arc::new(Q { items: Mutex::new(Vec::new()), not_empty: Cond::new(), not_full: Cond::new() });
        const CAP: usize = 4;
        const PER: u64 = 500;
        let mut producers = Vec::new();
        for id in 0..2u64 {
            let q = q.clone();
            producers.push(std::thread::spawn(move || {
                for i in 0..PER {
                    let mut g = q.not_full.wait_while_blocking(q.items.lock_blocking(), |v| v.len() >= CAP);
                    g.push(id * PER + i);
                    drop(g);
                    q.not_empty.notify_one();
                }
            }));
        }
        let mut consumers = Vec::new();
        for _ in 0..2 {
            let q = q.clone();
            consumers.push(tokio::spawn(async move {
                let mut sum = 0u64;
                for _ in 0..PER {
                    let mut g = q.not_empty.wait_while(q.items.lock().await, |v| v.is_empty()).await;
                    sum += g.pop().unwrap();
                    drop(g);
                    q.not_full.notify_one();
                }
                sum
            }));
        }
        let mut total = 0;
        for c in consumers {
            total += c.await.unwrap();
        }
        for p in producers {
            p.join().unwrap();
        }
        let n = 2 * PER;
        assert_eq!(total, n * (n - 1) / 2, "every item consumed exactly once");
    });
    assert_no_leaks();
}

#[test]
fn cond_wait_ctx_blocking_cancelled_releases_the_lock() {
    watchdog(|| {
        let p = pair(());
        let (ctx, cancel) = Context::background().with_cancel();
        let t = {
            let p = p.clone();
            std::thread::spawn(move || {
                let (m, c) = &*p;
                c.wait_ctx_blocking(m.lock_blocking(), &ctx).map(drop)
            })
        };
        while p.1.waiters() == 0 {
            std::thread::yield_now();
        }
        cancel.cancel();
        assert_eq!(t.join().unwrap(), Err(tether::ctx::Error::Canceled));
        assert!(p.0.try_lock().is_some(), "a cancelled wait leaves the lock released");
        assert_eq!(p.1.waiters(), 0, "a cancelled wait unregisters");
    });
    assert_no_leaks();
}

#[test]
fn cond_wait_ctx_already_done_fails_at_once() {
    watchdog(|| {
        let (m, c) = (Mutex::new(()), Cond::new());
        let (ctx, cancel) = Context::background().with_cancel();
        cancel.cancel();
        assert_eq!(c.wait_ctx_blocking(m.lock_blocking(), &ctx).map(drop), Err(tether::ctx::Error::Canceled));
        let r = block_on_local(async move {
            let r = c.wait_ctx(m.lock().await, &ctx).await.map(drop);
            assert!(m.try_lock().is_some());
            r
        });
        assert_eq!(r, Err(tether::ctx::Error::Canceled));
    });
    assert_no_leaks();
}

#[test]
fn cond_wait_ctx_notified_before_the_context_ends() {
    // Deadlines are tested on the virtual clock (cond_virtual_time.rs).
    block_on(async {
        let p = pair(false);
        let (ctx, _cancel) = Context::background().with_cancel();
        let t = {
            let p = p.clone();
            tokio::spawn(async move {
                let (m, c) = &*p;
                let g = c.wait_while_ctx(m.lock().await, &ctx, |ready| !*ready).await.unwrap();
                *g
            })
        };
        while p.1.waiters() == 0 {
            tokio::task::yield_now().await;
        }
        *p.0.lock().await = true;
        p.1.notify_one();
        assert!(t.await.unwrap());
    });
    assert_no_leaks();
}

#[test]
fn cond_wait_timeout_blocking_notified_before_the_timeout() {
    // Timing out is tested on the virtual clock (cond_virtual_time.rs).
    watchdog(|| {
        let p = pair(0);
        let (m, c) = &*p;
        let t = {
            let p = p.clone();
            std::thread::spawn(move || {
                while p.1.waiters() == 0 {
                    std::thread::yield_now();
                }
                *p.0.lock_blocking() = 1;
                p.1.notify_one();
            })
        };
        let (g, timed_out) = c.wait_timeout_blocking(m.lock_blocking(), Duration::from_secs(60));
        assert!(!timed_out);
        assert_eq!(*g, 1);
        drop(g);
        t.join().unwrap();
    });
    assert_no_leaks();
}

#[test]
fn cond_dropped_waiter_passes_its_signal_on() {
    watchdog(|| {
        let (m, c) = (Mutex::new(()), Cond::new());
        let mut a = Box::pin(c.wait(m.lock_blocking()));
        assert!(poll_once(&mut a).is_none()); // registered, lock released
        let mut b = Box::pin(c.wait(m.lock_blocking()));
        assert!(poll_once(&mut b).is_none());
        assert_eq!(c.waiters(), 2);
        c.notify_one(); // picks `a` (FIFO)
        assert_eq!(c.waiters(), 1);
        drop(a); // never returned: the signal must go to `b`
        assert_eq!(c.waiters(), 0);
        let g = poll_once(&mut b).expect("b received the passed-on signal");
        drop(g);
        assert!(m.try_lock().is_some());
    });
    assert_no_leaks();
}

#[test]
fn cond_waiter_dropped_while_relocking_passes_its_signal_on() {
    watchdog(|| {
        let (m, c) = (Mutex::new(()), Cond::new());
        let mut a = Box::pin(c.wait(m.lock_blocking()));
        assert!(poll_once(&mut a).is_none());
        let mut b = Box::pin(c.wait(m.lock_blocking()));
        assert!(poll_once(&mut b).is_none());
        let held = m.lock_blocking();
        c.notify_one();
        assert!(poll_once(&mut a).is_none(), "notified, but the lock is held: still relocking");
        drop(a);
        drop(held);
        assert!(poll_once(&mut b).is_some(), "b received the passed-on signal");
    });
    assert_no_leaks();
}

#[test]
fn cond_dropped_waiter_does_not_turn_broadcast_into_extra_signal() {
    watchdog(|| {
        let (m, c) = (Mutex::new(()), Cond::new());
        let mut a = Box::pin(c.wait(m.lock_blocking()));
        assert!(poll_once(&mut a).is_none());
        c.notify_all();
        let mut late = Box::pin(c.wait(m.lock_blocking()));
        assert!(poll_once(&mut late).is_none());
        drop(a); // woken by the broadcast; nothing to pass on
        assert!(poll_once(&mut late).is_none(), "a later waiter is not woken by an earlier broadcast");
        assert_eq!(c.waiters(), 1);
        drop(late);
        assert_eq!(c.waiters(), 0);
    });
    assert_no_leaks();
}

#[test]
fn cond_unpolled_wait_future_only_unlocks_on_drop() {
    watchdog(move || {
        let (m, c) = (Mutex::new(()), Cond::new());
        let f = c.wait(m.lock_blocking());
        assert!(m.try_lock().is_none());
        drop(f);
        assert!(m.try_lock().is_some());
        assert_eq!(c.waiters(), 0);
    });
    assert_no_leaks();
}

#[test]
fn cond_and_mutex_are_send_sync_and_futures_are_send() {
    watchdog(move || {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Cond>();
        send_sync::<Mutex<Vec<u8>>>();
        send_sync::<tether::sync::MutexGuard<'static, Vec<u8>>>();
        let (m, c, ctx) = (Mutex::new(1), Cond::new(), Context::background());
        let f = async {
            let g = m.lock().await;
            let g = c.wait(g).await;
            let g = c.wait_ctx(g, &ctx).await.unwrap();
            drop(c.wait_while(g, |v| *v == 0).await);
        };
        send(&f);
    });
    assert_no_leaks();
}

#[test]
fn mutex_excludes_threads_and_tasks() {
    block_on(async {
        // A non-atomic read-modify-write that races without exclusion.
        let m = Arc::new(Mutex::new(0u64));
        let mut threads = Vec::new();
        for _ in 0..2 {
            let m = m.clone();
            threads.push(std::thread::spawn(move || {
                for _ in 0..5_000 {
                    let mut g = m.lock_blocking();
                    let v = *g;
                    std::hint::black_box(&v);
                    *g = v + 1;
                }
            }));
        }
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let m = m.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..5_000 {
                    let mut g = m.lock().await;
                    let v = *g;
                    if i % 64 == 0 {
                        tokio::task::yield_now().await; // hold it across an await
                    }
                    *g = v + 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock().await, 20_000);
    });
    assert_no_leaks();
}

#[test]
fn mutex_dropped_lock_future_passes_the_wakeup_on() {
    watchdog(move || {
        let m = Mutex::new(0);
        let held = m.lock_blocking();
        let mut a = Box::pin(m.lock());
        let mut b = Box::pin(m.lock());
        assert!(poll_once(&mut a).is_none());
        assert!(poll_once(&mut b).is_none());
        drop(held); // wakes `a`
        drop(a); // `a` gives up: `b` must not sleep while the lock is free
        let mut g = poll_once(&mut b).expect("b was woken and took the lock");
        *g += 1;
        drop(g);
        drop(b);
        assert_eq!(m.into_inner(), 1);
    });
    assert_no_leaks();
}

#[test]
fn mutex_try_lock_and_debug() {
    watchdog(move || {
        let m = Mutex::new(5);
        assert_eq!(format!("{m:?}"), "Mutex { value: 5 }");
        let g = m.try_lock().unwrap();
        assert_eq!(format!("{m:?}"), "Mutex { value: <locked> }");
        assert!(m.try_lock().is_none());
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 5);
    });
    assert_no_leaks();
}
