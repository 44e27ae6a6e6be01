//! Groups and bounded parallelism, side by side: tether's Group vs tokio's
//! JoinSet and the Semaphore pattern, and Go's goroutines + WaitGroup and
//! errgroup (bench/go/group).
//!
//! One op = one trivial task spawned and awaited, in batches of 100,000
//! tasks per group (a fresh group/JoinSet per batch). Runtime: tokio
//! multi-thread, 2 workers; the spawning loop runs in `block_on`.
//!
//! - "spawn + wait": `Group::spawn` + `wait` vs `JoinSet::spawn` +
//!   `join_next` until empty, and vs `tokio::spawn` with every
//!   `JoinHandle` kept and awaited (the floor: no set, no group); Go:
//!   `go f()` + `WaitGroup`, and errgroup.
//! - "limit 8": `Group::with_limit(8)` vs an `Arc<Semaphore>(8)` whose
//!   owned permit each JoinSet task holds (the tokio idiom); Go: errgroup
//!   with `SetLimit(8)`.
//! - "leak registration": the cost tether adds to every task it starts
//!   (registry insert + remove + the clock read): `WaitGroup::go` with the
//!   registry on vs off (`tether::leak::set_enabled`) — the ratio is the
//!   overhead; and `WaitGroup::go` vs a bare `tokio::spawn` doing the same
//!   `add`/`done` by hand.
//!
//! Run: `cargo bench -p tether-bench --bench group` (or `bench/run group`);
//! smoke run: `TETHER_BENCH_QUICK=1 cargo bench -p tether-bench --bench group`.

use std::sync::Arc;

use tether::group::Group;
use tether::sync::WaitGroup;
use tether_bench::{Table, go_bench};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const BATCH: u64 = 100_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn main() {
    let go = go_bench("group");
    let rt = runtime();
    let mut t = Table::new(
        "group: spawn and await trivial tasks (ns per task, batches of 100,000)",
        &["tokio JoinSet", "tokio Semaphore+JoinSet", "tokio::spawn", "tether, registry off", "Go"],
    );
    let gorec = |t: &mut Table, case: &str, name: &str| {
        if let Some(ns) = go.get(name) {
            t.record(case, "Go", *ns);
        }
    };

    const SPAWN: &str = "spawn + wait";
    t.bench(SPAWN, "tether", |n| {
        rt.block_on(async {
            for k in chunk_sizes(n) {
                let g = Group::<()>::new();
                for _ in 0..k {
                    g.spawn(async { Ok(()) }).await;
                }
                g.wait().await.unwrap();
            }
        })
    });
    t.bench(SPAWN, "tokio JoinSet", |n| {
        rt.block_on(async {
            for k in chunk_sizes(n) {
                let mut set = JoinSet::new();
                for _ in 0..k {
                    set.spawn(async {});
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            }
        })
    });
    t.bench(SPAWN, "tokio::spawn", |n| {
        rt.block_on(async {
            for k in chunk_sizes(n) {
                let mut handles = Vec::with_capacity(k as usize);
                for _ in 0..k {
                    handles.push(tokio::spawn(async {}));
                }
                for h in handles {
                    h.await.unwrap();
                }
            }
        })
    });
    gorec(&mut t, SPAWN, "GoroutinesWaitGroup");
    const ERRGROUP: &str = "spawn + wait (Go: errgroup)";
    gorec(&mut t, ERRGROUP, "Errgroup");

    const LIMIT: &str = "limit 8";
    t.bench(LIMIT, "tether", |n| {
        rt.block_on(async {
            for k in chunk_sizes(n) {
                let g = Group::<()>::new().with_limit(8);
                for _ in 0..k {
                    g.spawn(async { Ok(()) }).await;
                }
                g.wait().await.unwrap();
            }
        })
    });
    t.bench(LIMIT, "tokio Semaphore+JoinSet", |n| {
        rt.block_on(async {
            for k in chunk_sizes(n) {
                let sem = Arc::new(Semaphore::new(8));
                let mut set = JoinSet::new();
                for _ in 0..k {
                    let permit = sem.clone().acquire_owned().await.unwrap();
                    set.spawn(async move { drop(permit) });
                    // reap finished tasks as we go, as a long-running
                    // limiter loop must, so the set stays small
                    while let Some(r) = set.try_join_next() {
                        r.unwrap();
                    }
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            }
        })
    });
    gorec(&mut t, LIMIT, "ErrgroupLimit8");

    // The registry's cost is a few percent of a spawn, well inside the
    // run-to-run noise of this machine: the two columns are measured in
    // alternation, seven times each over the same 300,000 tasks, and each
    // keeps its median, so that a load that comes and goes weighs on both
    // alike.
    const LEAK: &str = "leak registration (WaitGroup::go: registry on vs off)";
    let wg_go = |n: u64| {
        rt.block_on(async {
            for k in chunk_sizes(n) {
                let wg = WaitGroup::new();
                for _ in 0..k {
                    wg.go(async {});
                }
                wg.wait().await;
            }
        })
    };
    if tether_bench::wanted(LEAK, "tether") {
        // The same number of tasks for both (a batch's size changes its
        // cost per task), timed whole, alternating on and off.
        let n = if tether_bench::quick() { BATCH / 5 } else { 3 * BATCH };
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            for (enabled, samples) in [(true, &mut on), (false, &mut off)] {
                tether::leak::set_enabled(enabled);
                let t = std::time::Instant::now();
                wg_go(n);
                samples.push(t.elapsed().as_nanos() as f64 / n as f64);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[v.len() / 2]
        };
        t.record(LEAK, "tether", median(&mut on));
        t.record(LEAK, "tether, registry off", median(&mut off));
    }
    tether::leak::set_enabled(true);
    const BARE: &str = "WaitGroup::go vs tokio::spawn + add/done";
    t.bench(BARE, "tether", wg_go);
    t.bench(BARE, "tokio::spawn", |n| {
        rt.block_on(async {
            for k in chunk_sizes(n) {
                let wg = WaitGroup::new();
                for _ in 0..k {
                    wg.add(1);
                    let wg = wg.clone();
                    drop(tokio::spawn(async move { wg.done() }));
                }
                wg.wait().await;
            }
        })
    });
    t.print();
}

fn chunk_sizes(n: u64) -> impl Iterator<Item = u64> {
    let full = n / BATCH;
    let rest = n % BATCH;
    std::iter::repeat_n(BATCH, full as usize).chain((rest > 0).then_some(rest))
}
