//! sync benchmarks: tether's AtomicValue beside arc-swap and Go's
//! atomic.Value/atomic.Pointer; Cond ping-pong beside std's Condvar and
//! Go's sync.Cond; Semaphore beside tokio's and golang.org/x/sync's.
//! Run with `bench/run sync`.

use std::collections::BTreeMap;
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::task::{Context as TaskCx, Poll, Waker};

use arc_swap::ArcSwap;
use tether::Context;
use tether::sync::{AtomicValue, Cond, Mutex, Semaphore};
use tether_bench::{Table, go_bench, ns_per_op};

#[derive(Default)]
struct Config {
    #[allow(dead_code)]
    n: [u64; 4],
}

fn main() {
    atomic_value();
    cond();
    semaphore();
}

// ---------------------------------------------------------------------------

fn atomic_value() {
    let go = go_bench("sync");
    let mut t = Table::new("sync: AtomicValue loads (ns per load)", &["arc-swap"]);

    let av = AtomicValue::new(Config::default());
    let sw = ArcSwap::from_pointee(Config::default());
    // Warm up (CPU clocks, arc-swap's thread-local debt slots) so that the
    // first row measured is not penalised.
    ns_per_op(|n| {
        for _ in 0..n {
            black_box(black_box(&av).load());
            black_box(black_box(&sw).load_full());
        }
    });

    let case = "load → Arc, 1 thread (arc-swap: load_full)";
    t.bench(case, "tether", |n| {
        for _ in 0..n {
            black_box(black_box(&av).load());
        }
    });
    t.bench(case, "arc-swap", |n| {
        for _ in 0..n {
            black_box(black_box(&sw).load_full());
        }
    });

    let case = "load_guard, 1 thread (arc-swap: load)";
    t.bench(case, "tether", |n| {
        for _ in 0..n {
            black_box(&*black_box(&av).load_guard());
        }
    });
    t.bench(case, "arc-swap", |n| {
        for _ in 0..n {
            black_box(&**black_box(&sw).load());
        }
    });

    let case = "load → Arc, beside a writer storing";
    t.record(case, "tether", with_writer(|| av.store(Config::default()), || drop(black_box(av.load()))));
    t.record(case, "arc-swap", with_writer(|| sw.store(Arc::default()), || drop(black_box(sw.load_full()))));

    let case = "load_guard, beside a writer storing";
    t.record(case, "tether", with_writer(|| av.store(Config::default()), || drop(black_box(av.load_guard()))));
    t.record(case, "arc-swap", with_writer(|| sw.store(Arc::default()), || drop(black_box(sw.load()))));

    let case = "load → Arc, 2 threads loading";
    t.record(case, "tether", two_threads(|| drop(black_box(av.load()))));
    t.record(case, "arc-swap", two_threads(|| drop(black_box(sw.load_full()))));

    let case = "load_guard, 2 threads loading";
    t.record(case, "tether", two_threads(|| drop(black_box(av.load_guard()))));
    t.record(case, "arc-swap", two_threads(|| drop(black_box(sw.load()))));
    t.print();
    go_reference(
        &go,
        "Go's loads are a plain pointer read kept alive by the GC (no reference count), so they sit outside the ratio",
        &[
            ("atomic.Value Load", "ValueLoad"),
            ("atomic.Pointer Load", "PointerLoad"),
            ("Pointer Load beside a writer", "PointerLoadWithWriter"),
            ("Pointer Load, 2 goroutines", "PointerLoad2Readers"),
        ],
    );
    cached_loads(&go);
}

/// The cached read path (`AtomicValue::cache`, one atomic load while the
/// value is unchanged) against arc-swap's `Cache` and, now in the ratio,
/// Go's `atomic.Pointer.Load`: both are a pointer read.
fn cached_loads(go: &BTreeMap<String, f64>) {
    use arc_swap::Cache as SwapCache;
    let mut t = Table::new(
        "sync: AtomicValue cached reads (ns per load) against Go's atomic.Pointer",
        &["arc-swap Cache", "Go"],
    );
    let av = AtomicValue::new(Config::default());
    let sw = ArcSwap::from_pointee(Config::default());

    let case = "Cache::load, value unchanged, 1 thread (Go: Pointer.Load)";
    let mut c = av.cache();
    t.bench(case, "tether", |n| {
        for _ in 0..n {
            black_box(&**black_box(&mut c).load());
        }
    });
    let mut sc = SwapCache::new(&sw);
    t.bench(case, "arc-swap Cache", |n| {
        for _ in 0..n {
            black_box(&**black_box(&mut sc).load());
        }
    });
    if let Some(ns) = go.get("PointerLoad") {
        t.record(case, "Go", *ns);
    }

    let case = "Cache::load, 2 threads loading (Go: 2 goroutines)";
    t.record(
        case,
        "tether",
        two_threads_each(
            || av.cache(),
            |c| {
                black_box(&**c.load());
            },
        ),
    );
    t.record(
        case,
        "arc-swap Cache",
        two_threads_each(
            || SwapCache::new(&sw),
            |c| {
                black_box(&**c.load());
            },
        ),
    );
    if let Some(ns) = go.get("PointerLoad2Readers") {
        t.record(case, "Go", *ns);
    }

    let case = "Cache::load beside a writer storing (Go: the same)";
    let c = std::cell::RefCell::new(av.cache());
    t.record(
        case,
        "tether",
        with_writer(
            || av.store(Config::default()),
            || {
                black_box(&**c.borrow_mut().load());
            },
        ),
    );
    let sc = std::cell::RefCell::new(SwapCache::new(&sw));
    t.record(
        case,
        "arc-swap Cache",
        with_writer(
            || sw.store(Arc::default()),
            || {
                black_box(&**sc.borrow_mut().load());
            },
        ),
    );
    if let Some(ns) = go.get("PointerLoadWithWriter") {
        t.record(case, "Go", *ns);
    }
    t.print();
}

/// ns per `read(&mut state)` per thread with two threads reading at once,
/// each with its own `state` from `new()`.
fn two_threads_each<C>(new: impl Fn() -> C + Sync, read: impl Fn(&mut C) + Sync) -> f64 {
    ns_per_op(|n| {
        let start = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut c = new();
                start.wait();
                for _ in 0..n {
                    read(&mut c);
                }
            });
            let mut c = new();
            start.wait();
            for _ in 0..n {
                read(&mut c);
            }
        });
    })
}

/// Prints Go's numbers under a table whose ratio they would distort.
fn go_reference(go: &BTreeMap<String, f64>, why: &str, rows: &[(&str, &str)]) {
    let found: Vec<_> =
        rows.iter().filter_map(|(label, name)| Some(format!("{label} {:.1} ns", go.get(*name)?))).collect();
    if !found.is_empty() {
        println!("\nGo 1.27 for reference ({why}): {}.", found.join(", "));
    }
}

/// ns per `read()` on this thread while another thread runs `write()` in
/// a loop.
fn with_writer(write: impl Fn() + Sync, read: impl Fn()) -> f64 {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Relaxed) {
                write();
            }
        });
        let ns = ns_per_op(|n| {
            for _ in 0..n {
                read();
            }
        });
        stop.store(true, Relaxed);
        ns
    })
}

/// ns per `op()` per thread with two threads running it at once.
fn two_threads(op: impl Fn() + Sync) -> f64 {
    ns_per_op(|n| {
        let start = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                for _ in 0..n {
                    op();
                }
            });
            start.wait();
            for _ in 0..n {
                op();
            }
        });
    })
}

// ---------------------------------------------------------------------------

fn cond() {
    let go = go_bench("sync");
    let mut t = Table::new("sync: Cond ping-pong between two threads (ns per round trip)", &["std Condvar"]);
    for (case, broadcast) in [("ping-pong, notify_one", false), ("ping-pong, notify_all", true)] {
        t.bench(case, "tether", |n| tether_ping_pong(n, broadcast));
        t.bench(case, "std Condvar", |n| std_ping_pong(n, broadcast));
    }
    let case = "ping-pong, notify_one, two tokio tasks";
    t.bench(case, "tether", tether_ping_pong_async);
    t.print();
    go_reference(
        &go,
        "goroutines hand off without an OS context switch, so they sit outside the ratio",
        &[("sync.Cond ping-pong, Signal", "CondPingPongSignal"), ("with Broadcast", "CondPingPongBroadcast")],
    );
}

fn tether_ping_pong(n: u64, broadcast: bool) {
    let state = Arc::new((Mutex::new(0u8), Cond::new()));
    let notify = move |c: &Cond| if broadcast { c.notify_all() } else { c.notify_one() };
    let peer = {
        let state = state.clone();
        std::thread::spawn(move || {
            let (m, c) = &*state;
            let mut turn = m.lock_blocking();
            for _ in 0..n {
                turn = c.wait_while_blocking(turn, |t| *t != 1);
                *turn = 0;
                notify(c);
            }
        })
    };
    let (m, c) = &*state;
    let mut turn = m.lock_blocking();
    for _ in 0..n {
        *turn = 1;
        notify(c);
        turn = c.wait_while_blocking(turn, |t| *t != 0);
    }
    drop(turn);
    peer.join().unwrap();
}

fn std_ping_pong(n: u64, broadcast: bool) {
    let state = Arc::new((std::sync::Mutex::new(0u8), std::sync::Condvar::new()));
    let notify = move |c: &std::sync::Condvar| if broadcast { c.notify_all() } else { c.notify_one() };
    let peer = {
        let state = state.clone();
        std::thread::spawn(move || {
            let (m, c) = &*state;
            let mut turn = m.lock().unwrap();
            for _ in 0..n {
                turn = c.wait_while(turn, |t| *t != 1).unwrap();
                *turn = 0;
                notify(c);
            }
        })
    };
    let (m, c) = &*state;
    let mut turn = m.lock().unwrap();
    for _ in 0..n {
        *turn = 1;
        notify(c);
        turn = c.wait_while(turn, |t| *t != 0).unwrap();
    }
    drop(turn);
    peer.join().unwrap();
}

fn tether_ping_pong_async(n: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async move {
        let state = Arc::new((Mutex::new(0u8), Cond::new()));
        let peer = {
            let state = state.clone();
            tokio::spawn(async move {
                let (m, c) = &*state;
                let mut turn = m.lock().await;
                for _ in 0..n {
                    turn = c.wait_while(turn, |t| *t != 1).await;
                    *turn = 0;
                    c.notify_one();
                }
            })
        };
        let (m, c) = &*state;
        let mut turn = m.lock().await;
        for _ in 0..n {
            *turn = 1;
            c.notify_one();
            turn = c.wait_while(turn, |t| *t != 0).await;
        }
        drop(turn);
        peer.await.unwrap();
    });
}

// ---------------------------------------------------------------------------

fn poll_ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut TaskCx::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("uncontended acquire was not ready at once"),
    }
}

fn semaphore() {
    let go = go_bench("sync/semaphore");
    let mut t = Table::new("sync: Semaphore acquire + release (ns per pair)", &["tokio", "Go x/sync"]);
    let ctx = Context::background();
    let sem = Semaphore::new(1);
    let tsem = tokio::sync::Semaphore::new(1);
    let gorec = |t: &mut Table, case: &str, name: &str| {
        if let Some(ns) = go.get(name) {
            t.record(case, "Go x/sync", *ns);
        }
    };

    let case = "try_acquire + drop, uncontended";
    t.bench(case, "tether", |n| {
        for _ in 0..n {
            drop(black_box(sem.try_acquire(1)));
        }
    });
    t.bench(case, "tokio", |n| {
        for _ in 0..n {
            drop(black_box(tsem.try_acquire()));
        }
    });
    gorec(&mut t, case, "SemaphoreTryUncontended");

    let case = "acquire(ctx).await + drop, uncontended";
    t.bench(case, "tether", |n| {
        for _ in 0..n {
            drop(black_box(poll_ready(sem.acquire(&ctx, 1))));
        }
    });
    t.bench(case, "tokio", |n| {
        for _ in 0..n {
            drop(black_box(poll_ready(tsem.acquire())));
        }
    });
    gorec(&mut t, case, "SemaphoreUncontended");

    let case = "acquire_blocking + drop, uncontended";
    t.bench(case, "tether", |n| {
        for _ in 0..n {
            drop(black_box(sem.acquire_blocking(&ctx, 1)));
        }
    });

    // Two threads sharing one permit (tokio: blocking on its future with a
    // minimal executor, as a thread without a runtime would).
    let case = "2 threads, 1 permit, acquire + release";
    let sem = Arc::new(Semaphore::new(1));
    t.record(
        case,
        "tether",
        two_threads(|| {
            drop(sem.acquire_blocking(&ctx, 1).unwrap());
        }),
    );
    let tsem = Arc::new(tokio::sync::Semaphore::new(1));
    t.record(
        case,
        "tokio",
        two_threads(|| {
            drop(futures::executor::block_on(tsem.acquire()).unwrap());
        }),
    );
    gorec(&mut t, case, "SemaphoreContended2");
    t.print();
}
