//! Channels and select, side by side: tether vs crossbeam-channel, kanal,
//! flume, async-channel, tokio mpsc, std mpsc and Go (bench/go/chan).
//!
//! One op = one message moved from a producer to a consumer. Shapes: spsc
//! (1→1), mpsc (4→1), mpmc (2→2), each at capacity 0 (rendezvous), 1, 1024
//! and unbounded; on OS threads with the blocking APIs, and on tokio tasks
//! (multi-thread runtime, 2 workers) with the async APIs. Then a select
//! over 4 buffered receivers fed by 4 producers. Go runs the same shapes on
//! goroutines; its numbers appear under the same case names (Go has no
//! unbounded channel: its "unbounded" uses a buffer as large as the run).
//!
//! A peer that cannot express a case shows "–": async-channel and tokio
//! have no capacity 0; std and tokio receivers cannot be shared (no mpmc).
//!
//! Run: `cargo bench -p tether-bench --bench chan` (or `bench/run chan`);
//! smoke run: `TETHER_BENCH_QUICK=1 cargo bench -p tether-bench --bench chan`.

use std::hint::black_box;

use tether_bench::{Table, go_bench};
use tokio::runtime::Runtime;

/// (name, producers, consumers)
const SHAPES: [(&str, u64, u64); 3] = [("spsc", 1, 1), ("mpsc", 4, 1), ("mpmc", 2, 2)];
/// (name, capacity; None = unbounded)
const CAPS: [(&str, Option<usize>); 4] =
    [("cap0", Some(0)), ("cap1", Some(1)), ("cap1024", Some(1024)), ("unbounded", None)];

/// Moves about `n` messages from `p` producer threads to `c` consumer
/// threads. `$make` builds the channel, `$send` sends `$v` on `$tx`, `$recv`
/// yields `Some(msg)` until the channel is closed (by the producers' drops).
macro_rules! threads_run {
    ($n:expr, $p:expr, $c:expr, $make:expr, |$tx:ident, $v:ident| $send:expr, |$rx:ident| $recv:expr) => {{
        let (n, p, c): (u64, u64, u64) = ($n, $p, $c);
        let (tx, rx) = $make;
        let per = n.div_ceil(p);
        std::thread::scope(|s| {
            for _ in 0..c {
                #[allow(unused_mut)]
                let mut $rx = rx.clone();
                s.spawn(move || {
                    let mut sum = 0u64;
                    while let Some(x) = $recv {
                        sum = sum.wrapping_add(x);
                    }
                    black_box(sum)
                });
            }
            drop(rx);
            for _ in 0..p {
                let $tx = tx.clone();
                s.spawn(move || {
                    for $v in 0..per {
                        $send;
                    }
                });
            }
            drop(tx);
        });
    }};
}

/// The same on tokio tasks. `single` marks a receiver that cannot be cloned
/// (then `c` must be 1 and it is moved into the one consumer).
macro_rules! tasks_run {
    (@go $rt:expr, $n:expr, $p:expr, $c:expr, $make:expr, |$tx:ident, $v:ident| $send:expr, |$rx:ident| $recv:expr, |$r:ident| $take:expr) => {{
        let (n, p, c): (u64, u64, u64) = ($n, $p, $c);
        $rt.block_on(async {
            let (tx, rx) = $make;
            #[allow(unused_mut)]
            let mut rx = Some(rx);
            let per = n.div_ceil(p);
            let mut hs = Vec::new();
            for _ in 0..c {
                #[allow(unused_mut)]
                let mut $rx = {
                    let $r = &mut rx;
                    $take
                };
                hs.push(tokio::spawn(async move {
                    let mut sum = 0u64;
                    while let Some(x) = $recv {
                        sum = sum.wrapping_add(x);
                    }
                    sum
                }));
            }
            drop(rx);
            for _ in 0..p {
                let $tx = tx.clone();
                hs.push(tokio::spawn(async move {
                    for $v in 0..per {
                        $send;
                    }
                    0
                }));
            }
            drop(tx);
            for h in hs {
                black_box(h.await.unwrap());
            }
        })
    }};
    ($rt:expr, $n:expr, $p:expr, $c:expr, single $make:expr, |$tx:ident, $v:ident| $send:expr, |$rx:ident| $recv:expr) => {
        tasks_run!(@go $rt, $n, $p, $c, $make, |$tx, $v| $send, |$rx| $recv, |r| r.take().unwrap())
    };
    ($rt:expr, $n:expr, $p:expr, $c:expr, $make:expr, |$tx:ident, $v:ident| $send:expr, |$rx:ident| $recv:expr) => {
        tasks_run!(@go $rt, $n, $p, $c, $make, |$tx, $v| $send, |$rx| $recv, |r| r.as_ref().unwrap().clone())
    };
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

enum StdTx {
    Sync(std::sync::mpsc::SyncSender<u64>),
    Async(std::sync::mpsc::Sender<u64>),
}
impl Clone for StdTx {
    fn clone(&self) -> Self {
        match self {
            StdTx::Sync(t) => StdTx::Sync(t.clone()),
            StdTx::Async(t) => StdTx::Async(t.clone()),
        }
    }
}
impl StdTx {
    fn send(&self, v: u64) {
        match self {
            StdTx::Sync(t) => t.send(v).unwrap(),
            StdTx::Async(t) => t.send(v).unwrap(),
        }
    }
}

/// Makes a std receiver "cloneable" for the macro: only ever taken once
/// (std has no mpmc), the clone panics otherwise.
struct Once<T>(std::cell::Cell<Option<T>>);
impl<T> Clone for Once<T> {
    fn clone(&self) -> Self {
        Once(std::cell::Cell::new(Some(self.0.take().expect("std/tokio receivers are single-consumer"))))
    }
}

fn threads_table(go: &std::collections::BTreeMap<String, f64>) -> Table {
    let mut t = Table::new(
        "Channels on OS threads (blocking API), ns per message",
        &["crossbeam", "kanal", "flume", "async-channel", "std mpsc", "tokio mpsc", "Go"],
    );
    for (shape, p, c) in SHAPES {
        for (capname, cap) in CAPS {
            let case = format!("{shape}_{capname}");
            t.bench(&case, "tether", |n| {
                threads_run!(
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => tether::chan::bounded::<u64>(k),
                        None => tether::chan::unbounded::<u64>(),
                    },
                    |tx, v| tx.send_blocking(v).unwrap(),
                    |rx| rx.recv_blocking().ok()
                )
            });
            t.bench(&case, "crossbeam", |n| {
                threads_run!(
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => crossbeam_channel::bounded::<u64>(k),
                        None => crossbeam_channel::unbounded::<u64>(),
                    },
                    |tx, v| tx.send(v).unwrap(),
                    |rx| rx.recv().ok()
                )
            });
            t.bench(&case, "kanal", |n| {
                threads_run!(
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => kanal::bounded::<u64>(k),
                        None => kanal::unbounded::<u64>(),
                    },
                    |tx, v| tx.send(v).unwrap(),
                    |rx| rx.recv().ok()
                )
            });
            t.bench(&case, "flume", |n| {
                threads_run!(
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => flume::bounded::<u64>(k),
                        None => flume::unbounded::<u64>(),
                    },
                    |tx, v| tx.send(v).unwrap(),
                    |rx| rx.recv().ok()
                )
            });
            if cap != Some(0) {
                t.bench(&case, "async-channel", |n| {
                    threads_run!(
                        n,
                        p,
                        c,
                        match cap {
                            Some(k) => async_channel::bounded::<u64>(k),
                            None => async_channel::unbounded::<u64>(),
                        },
                        |tx, v| tx.send_blocking(v).unwrap(),
                        |rx| rx.recv_blocking().ok()
                    )
                });
            }
            if c == 1 {
                t.bench(&case, "std mpsc", |n| {
                    threads_run!(
                        n,
                        p,
                        c,
                        match cap {
                            Some(k) => {
                                let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(k);
                                (StdTx::Sync(tx), Once(std::cell::Cell::new(Some(rx))))
                            }
                            None => {
                                let (tx, rx) = std::sync::mpsc::channel::<u64>();
                                (StdTx::Async(tx), Once(std::cell::Cell::new(Some(rx))))
                            }
                        },
                        |tx, v| tx.send(v),
                        |rx| rx.0.get_mut().as_mut().unwrap().recv().ok()
                    )
                });
            }
            if c == 1 && cap != Some(0) {
                t.bench(&case, "tokio mpsc", |n| match cap {
                    Some(k) => threads_run!(
                        n,
                        p,
                        c,
                        {
                            let (tx, rx) = tokio::sync::mpsc::channel::<u64>(k);
                            (tx, Once(std::cell::Cell::new(Some(rx))))
                        },
                        |tx, v| tx.blocking_send(v).unwrap(),
                        |rx| rx.0.get_mut().as_mut().unwrap().blocking_recv()
                    ),
                    None => threads_run!(
                        n,
                        p,
                        c,
                        {
                            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
                            (tx, Once(std::cell::Cell::new(Some(rx))))
                        },
                        |tx, v| tx.send(v).unwrap(),
                        |rx| rx.0.get_mut().as_mut().unwrap().blocking_recv()
                    ),
                });
            }
            if let Some(ns) = go.get(&format!("Threads_{case}")) {
                t.record(&case, "Go", *ns);
            }
        }
    }
    t
}

fn async_table(go: &std::collections::BTreeMap<String, f64>) -> Table {
    let rt = runtime();
    let mut t = Table::new(
        "Channels on tokio tasks (async API, 2 worker threads), ns per message",
        &["kanal", "flume", "async-channel", "tokio mpsc", "Go"],
    );
    for (shape, p, c) in SHAPES {
        for (capname, cap) in CAPS {
            let case = format!("{shape}_{capname}");
            t.bench(&case, "tether", |n| {
                tasks_run!(
                    rt,
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => tether::chan::bounded::<u64>(k),
                        None => tether::chan::unbounded::<u64>(),
                    },
                    |tx, v| tx.send(v).await.unwrap(),
                    |rx| rx.recv().await.ok()
                )
            });
            t.bench(&case, "kanal", |n| {
                tasks_run!(
                    rt,
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => kanal::bounded_async::<u64>(k),
                        None => kanal::unbounded_async::<u64>(),
                    },
                    |tx, v| tx.send(v).await.unwrap(),
                    |rx| rx.recv().await.ok()
                )
            });
            t.bench(&case, "flume", |n| {
                tasks_run!(
                    rt,
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => flume::bounded::<u64>(k),
                        None => flume::unbounded::<u64>(),
                    },
                    |tx, v| tx.send_async(v).await.unwrap(),
                    |rx| rx.recv_async().await.ok()
                )
            });
            if cap != Some(0) {
                t.bench(&case, "async-channel", |n| {
                    tasks_run!(
                        rt,
                        n,
                        p,
                        c,
                        match cap {
                            Some(k) => async_channel::bounded::<u64>(k),
                            None => async_channel::unbounded::<u64>(),
                        },
                        |tx, v| tx.send(v).await.unwrap(),
                        |rx| rx.recv().await.ok()
                    )
                });
            }
            if c == 1 && cap != Some(0) {
                t.bench(&case, "tokio mpsc", |n| match cap {
                    Some(k) => tasks_run!(
                        rt,
                        n,
                        p,
                        c,
                        single tokio::sync::mpsc::channel::<u64>(k),
                        |tx, v| tx.send(v).await.unwrap(),
                        |rx| rx.recv().await
                    ),
                    None => tasks_run!(
                        rt,
                        n,
                        p,
                        c,
                        single tokio::sync::mpsc::unbounded_channel::<u64>(),
                        |tx, v| tx.send(v).unwrap(),
                        |rx| rx.recv().await
                    ),
                });
            }
            if let Some(ns) = go.get(&format!("Threads_{case}")) {
                t.record(&case, "Go", *ns);
            }
        }
    }
    t
}

/// Four producers, each on its own channel of capacity 1024; one consumer
/// selects over the four receivers until it has every message.
fn select_table(go: &std::collections::BTreeMap<String, f64>) -> Table {
    const CAP: usize = 1024;
    let rt = runtime();
    let mut t = Table::new(
        "select over 4 buffered receivers (cap 1024, 4 producers), ns per message",
        &["crossbeam", "flume", "tokio mpsc", "Go"],
    );
    let case = "recv4_cap1024 (threads)";
    t.bench(case, "tether", |n| {
        let per = n.div_ceil(4);
        let chans: Vec<_> = (0..4).map(|_| tether::chan::bounded::<u64>(CAP)).collect();
        std::thread::scope(|s| {
            for (tx, _) in &chans {
                s.spawn(move || (0..per).for_each(|v| tx.send_blocking(v).unwrap()));
            }
            let [(_, r0), (_, r1), (_, r2), (_, r3)] = &chans[..] else { unreachable!() };
            let mut sum = 0u64;
            for _ in 0..4 * per {
                sum += tether::select_blocking! {
                    recv(r0) -> v => v.unwrap(),
                    recv(r1) -> v => v.unwrap(),
                    recv(r2) -> v => v.unwrap(),
                    recv(r3) -> v => v.unwrap(),
                };
            }
            black_box(sum);
        });
    });
    t.bench(case, "crossbeam", |n| {
        let per = n.div_ceil(4);
        let chans: Vec<_> = (0..4).map(|_| crossbeam_channel::bounded::<u64>(CAP)).collect();
        std::thread::scope(|s| {
            for (tx, _) in &chans {
                s.spawn(move || (0..per).for_each(|v| tx.send(v).unwrap()));
            }
            let [(_, r0), (_, r1), (_, r2), (_, r3)] = &chans[..] else { unreachable!() };
            let mut sum = 0u64;
            for _ in 0..4 * per {
                sum += crossbeam_channel::select! {
                    recv(r0) -> v => v.unwrap(),
                    recv(r1) -> v => v.unwrap(),
                    recv(r2) -> v => v.unwrap(),
                    recv(r3) -> v => v.unwrap(),
                };
            }
            black_box(sum);
        });
    });
    t.bench(case, "flume", |n| {
        let per = n.div_ceil(4);
        let chans: Vec<_> = (0..4).map(|_| flume::bounded::<u64>(CAP)).collect();
        std::thread::scope(|s| {
            for (tx, _) in &chans {
                s.spawn(move || (0..per).for_each(|v| tx.send(v).unwrap()));
            }
            let [(_, r0), (_, r1), (_, r2), (_, r3)] = &chans[..] else { unreachable!() };
            let mut sum = 0u64;
            for _ in 0..4 * per {
                sum += flume::Selector::new()
                    .recv(r0, |v| v.unwrap())
                    .recv(r1, |v| v.unwrap())
                    .recv(r2, |v| v.unwrap())
                    .recv(r3, |v| v.unwrap())
                    .wait();
            }
            black_box(sum);
        });
    });
    if let Some(ns) = go.get("Select_recv4_cap1024") {
        t.record(case, "Go", *ns);
    }

    let case = "recv4_cap1024 (async)";
    t.bench(case, "tether", |n| {
        rt.block_on(async {
            let per = n.div_ceil(4);
            let mut rxs = Vec::new();
            let mut keep = Vec::new();
            let mut hs = Vec::new();
            for _ in 0..4 {
                let (tx, rx) = tether::chan::bounded::<u64>(CAP);
                rxs.push(rx);
                keep.push(tx.clone()); // a producer that ends must not close its channel
                hs.push(tokio::spawn(async move {
                    for v in 0..per {
                        tx.send(v).await.unwrap();
                    }
                }));
            }
            let [r0, r1, r2, r3] = &rxs[..] else { unreachable!() };
            let mut sum = 0u64;
            for _ in 0..4 * per {
                sum += tether::select! {
                    recv(r0) -> v => v.unwrap(),
                    recv(r1) -> v => v.unwrap(),
                    recv(r2) -> v => v.unwrap(),
                    recv(r3) -> v => v.unwrap(),
                };
            }
            black_box(sum);
            for h in hs {
                h.await.unwrap();
            }
        })
    });
    t.bench(case, "tokio mpsc", |n| {
        rt.block_on(async {
            let per = n.div_ceil(4);
            let mut rxs = Vec::new();
            let mut keep = Vec::new();
            let mut hs = Vec::new();
            for _ in 0..4 {
                let (tx, rx) = tokio::sync::mpsc::channel::<u64>(CAP);
                rxs.push(rx);
                keep.push(tx.clone());
                hs.push(tokio::spawn(async move {
                    for v in 0..per {
                        tx.send(v).await.unwrap();
                    }
                }));
            }
            let [r0, r1, r2, r3] = &mut rxs[..] else { unreachable!() };
            let mut sum = 0u64;
            for _ in 0..4 * per {
                sum += tokio::select! {
                    Some(v) = r0.recv() => v,
                    Some(v) = r1.recv() => v,
                    Some(v) = r2.recv() => v,
                    Some(v) = r3.recv() => v,
                };
            }
            black_box(sum);
            for h in hs {
                h.await.unwrap();
            }
        })
    });
    if let Some(ns) = go.get("Select_recv4_cap1024") {
        t.record(case, "Go", *ns);
    }
    t
}

fn main() {
    eprintln!("chan: Go side (bench/go/chan)...");
    let go = go_bench("chan");
    eprintln!("chan: threads...");
    let threads = threads_table(&go);
    eprintln!("chan: async...");
    let tasks = async_table(&go);
    eprintln!("chan: select...");
    let select = select_table(&go);
    threads.print();
    tasks.print();
    select.print();
}
