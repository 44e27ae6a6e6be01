//! `Cond` and its `Mutex` on the crate's intrusive waiter list: waiting
//! allocates nothing once warmed up (blocked threads and pending tasks
//! alike, counted by a counting allocator, not timed), and more waiters
//! than one wake batch are all served, without waking later ones.

mod alloc_counter;
mod common;

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use alloc_counter::{Counting, ROUNDS, WARM_UP, allocations, block_on as drive, counted, poll, rounds, thread_waker};
use common::*;
use tether::Context;
use tether::sync::{Cond, Mutex};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Two threads take turns through a `Cond`: every wait blocks until the
/// other thread's notify. `ctx`: one side waits with a cancellable
/// context (registered with the context, never cancelled).
fn threads_take_turns(ctx: bool) -> u64 {
    let p = Arc::new((Mutex::new(0u64), Cond::new()));
    let (cx, _cancel) = Context::background().with_cancel();
    let before = allocations();
    let players: Vec<_> = (0..2u64)
        .map(|me| {
            let (p, cx) = (p.clone(), cx.clone());
            std::thread::spawn(move || {
                let (m, c) = &*p;
                rounds(|| {
                    let mut g = m.lock_blocking();
                    while *g % 2 != me {
                        g = if ctx && me == 1 { c.wait_ctx_blocking(g, &cx).unwrap() } else { c.wait_blocking(g) };
                    }
                    *g += 1;
                    drop(g);
                    c.notify_one();
                })
            })
        })
        .collect();
    for p in players {
        p.join().unwrap();
    }
    allocations() - before
}

/// A task (on its own thread, parked between polls) and a thread take
/// turns through a `Cond`.
fn task_and_thread_take_turns(ctx: bool) -> u64 {
    let p = Arc::new((Mutex::new(0u64), Cond::new()));
    let (cx, _cancel) = Context::background().with_cancel();
    let before = allocations();
    let task = {
        let (p, cx) = (p.clone(), cx.clone());
        std::thread::spawn(move || {
            let (m, c) = &*p;
            let waker = thread_waker();
            rounds(|| {
                drive(&waker, async {
                    let mut g = m.lock().await;
                    while *g % 2 != 0 {
                        g = if ctx { c.wait_ctx(g, &cx).await.unwrap() } else { c.wait(g).await };
                    }
                    *g += 1;
                    drop(g);
                    c.notify_one();
                })
            })
        })
    };
    let (m, c) = &*p;
    rounds(|| {
        let mut g = m.lock_blocking();
        while *g % 2 != 1 {
            g = c.wait_blocking(g);
        }
        *g += 1;
        drop(g);
        c.notify_one();
    });
    task.join().unwrap();
    allocations() - before
}

/// A pinned wait future, polled by hand: registered (and the lock
/// released) at the first poll, woken by `notify_one`, relocked at the
/// second. Deterministic: every round really queues.
fn pending_wait_futures() -> u64 {
    let (m, c, cx) = (Mutex::new(()), Cond::new(), Context::background().with_cancel());
    let before = allocations();
    rounds(|| {
        let mut w = pin!(c.wait(m.lock_blocking()));
        assert!(poll(w.as_mut()).is_pending());
        assert_eq!(c.waiters(), 1);
        c.notify_one();
        assert!(poll(w.as_mut()).is_ready());
        let mut w = pin!(c.wait_ctx(m.lock_blocking(), &cx.0));
        assert!(poll(w.as_mut()).is_pending());
        c.notify_all();
        assert!(matches!(poll(w.as_mut()), Poll::Ready(Ok(_))));
    });
    allocations() - before
}

/// A queued `lock()` future and a queued `lock_blocking()` thread.
fn contended_mutex() -> u64 {
    let m = Arc::new(Mutex::new(0u64));
    let before = allocations();
    rounds(|| {
        let held = m.lock_blocking();
        let mut l = pin!(m.lock());
        assert!(poll(l.as_mut()).is_pending());
        drop(held);
        assert!(poll(l.as_mut()).is_ready());
    });
    let other = {
        let m = m.clone();
        std::thread::spawn(move || rounds(|| *m.lock_blocking() += 1))
    };
    rounds(|| *m.lock_blocking() += 1);
    other.join().unwrap();
    assert_eq!(*m.lock_blocking(), 2 * ROUNDS);
    allocations() - before
}

#[test]
fn waiting_allocates_nothing_in_steady_state() {
    watchdog(|| {
        let before = allocations();
        counted(|| drop(std::hint::black_box(Box::new(1u8))));
        assert_eq!(allocations() - before, 1, "the counter counts");
        let counts = [
            ("threads, wait_blocking", threads_take_turns(false)),
            ("threads, wait_ctx_blocking", threads_take_turns(true)),
            ("task and thread, wait", task_and_thread_take_turns(false)),
            ("task and thread, wait_ctx", task_and_thread_take_turns(true)),
            ("pending wait futures", pending_wait_futures()),
            ("contended mutex", contended_mutex()),
        ];
        for (case, n) in counts {
            assert_eq!(n, 0, "{case}: {n} allocations in {} waits", ROUNDS - WARM_UP);
        }
    });
    assert_no_leaks();
}

#[test]
fn notify_all_wakes_more_tasks_than_one_batch_and_no_later_one() {
    watchdog(|| {
        let (m, c) = (Mutex::new(()), Cond::new());
        let mut waits: Vec<_> = (0..100)
            .map(|_| {
                let mut w = Box::pin(c.wait(m.lock_blocking()));
                assert!(poll(w.as_mut()).is_pending()); // registered, lock released
                w
            })
            .collect();
        assert_eq!(c.waiters(), 100);
        c.notify_all();
        let mut late = Box::pin(c.wait(m.lock_blocking()));
        assert!(poll(late.as_mut()).is_pending());
        assert_eq!(c.waiters(), 1, "only the later waiter is left");
        for w in &mut waits {
            drop(match poll(w.as_mut()) {
                Poll::Ready(g) => g,
                Poll::Pending => panic!("a waiter present at the broadcast was not woken"),
            });
        }
        drop(waits);
        assert!(poll(late.as_mut()).is_pending());
        c.notify_one();
        assert!(poll(late.as_mut()).is_ready());
    });
    assert_no_leaks();
}

#[test]
fn notify_all_wakes_more_blocked_threads_than_one_batch() {
    watchdog(|| {
        let p = Arc::new((Mutex::new(false), Cond::new()));
        let n = 40;
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || drop(p.1.wait_while_blocking(p.0.lock_blocking(), |go| !*go)))
            })
            .collect();
        while p.1.waiters() < n {
            std::thread::yield_now();
        }
        *p.0.lock_blocking() = true;
        p.1.notify_all();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(p.1.waiters(), 0);
    });
    assert_no_leaks();
}
