//! Shared state: a config hot-reload through `AtomicValue` (readers keep
//! serving from consistent snapshots while a writer swaps configs), and a
//! bounded producer/consumer queue on `Cond`, with a thread and an async
//! task consuming side by side and a context that ends the wait.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread;
use std::time::Duration;

use tether::Context;
use tether::sync::{AtomicValue, Cond, Mutex};

/// A configuration that must always be seen whole: `limit` is always
/// `version * 100`, so a torn read would show.
#[derive(Debug)]
struct Config {
    version: u32,
    limit: u32,
}

pub fn run() {
    hot_reload();
    producer_consumer();
}

fn hot_reload() {
    let config = Arc::new(AtomicValue::new(Config { version: 1, limit: 100 }));
    let stop = Arc::new(AtomicBool::new(false));
    // Three readers "serve requests", each reading the config of the moment.
    let readers: Vec<_> = (1..=3)
        .map(|id| {
            let (config, stop) = (config.clone(), stop.clone());
            thread::spawn(move || {
                let mut served = BTreeMap::new();
                while !stop.load(Relaxed) {
                    let c = config.load_guard(); // lock-free, no refcount traffic
                    assert_eq!(c.limit, c.version * 100, "torn config");
                    *served.entry(c.version).or_insert(0u32) += 1;
                    drop(c);
                    thread::yield_now();
                }
                (id, served)
            })
        })
        .collect();
    // The writer reloads twice, then bumps the limit with a retrying update.
    for version in 2..=3 {
        thread::sleep(Duration::from_millis(3));
        let old = config.swap(Config { version, limit: version * 100 });
        println!("   reload: v{} → v{version} (old snapshot still valid: limit {})", old.version, old.limit);
    }
    thread::sleep(Duration::from_millis(3));
    config.update(|c| Config { version: c.version + 1, limit: (c.version + 1) * 100 });
    thread::sleep(Duration::from_millis(3));
    stop.store(true, Relaxed);
    for r in readers {
        let (id, served) = r.join().unwrap();
        let per_version: Vec<_> = served.iter().map(|(v, n)| format!("v{v}×{n}")).collect();
        println!("   reader {id}: {} (never a torn config)", per_version.join(", "));
    }
    // compare_and_swap: only the writer that saw the current config wins.
    let seen = config.load();
    let first = config.compare_and_swap(&seen, Config { version: 10, limit: 1000 });
    let second = config.compare_and_swap(&seen, Config { version: 11, limit: 1100 });
    println!(
        "   two writers compare_and_swap from v{}: first {}, second {} (found v{})",
        seen.version,
        if first.is_ok() { "wins" } else { "loses" },
        if second.is_ok() { "wins" } else { "loses" },
        second.as_ref().map_or_else(|found| found.version, |prev| prev.version),
    );
}

/// A bounded queue: producers wait while it is full, consumers while it
/// is empty; two conds share one mutex, as in Go.
struct Queue {
    state: Mutex<State>,
    not_empty: Cond,
    not_full: Cond,
}

struct State {
    jobs: VecDeque<u32>,
    closed: bool,
}

const CAPACITY: usize = 2;

fn producer_consumer() {
    let q = Arc::new(Queue {
        state: Mutex::new(State { jobs: VecDeque::new(), closed: false }),
        not_empty: Cond::new(),
        not_full: Cond::new(),
    });

    // Consumer 1: an OS thread, blocking waits.
    let thread_consumer = {
        let q = q.clone();
        thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                let mut s =
                    q.not_empty.wait_while_blocking(q.state.lock_blocking(), |s| s.jobs.is_empty() && !s.closed);
                let Some(job) = s.jobs.pop_front() else { break }; // closed and drained
                drop(s);
                q.not_full.notify_one();
                got.push(job);
                thread::sleep(Duration::from_millis(1)); // "work"
            }
            got
        })
    };

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        // Consumer 2: an async task whose wait a context can end.
        let (ctx, cancel) = Context::background().with_cancel();
        let task_consumer = {
            let q = q.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let waited = q.not_empty.wait_while_ctx(q.state.lock().await, &ctx, |s| s.jobs.is_empty()).await;
                    let Ok(mut s) = waited else { break }; // the context ended the wait
                    let job = s.jobs.pop_front().unwrap();
                    drop(s);
                    q.not_full.notify_one();
                    got.push(job);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                (got, ctx.err())
            })
        };

        // The producer: a thread that blocks while the queue is full.
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                let mut waits = 0;
                for job in 1..=8 {
                    let mut s = q.state.lock_blocking();
                    while s.jobs.len() == CAPACITY {
                        waits += 1;
                        s = q.not_full.wait_blocking(s);
                    }
                    s.jobs.push_back(job);
                    drop(s);
                    q.not_empty.notify_one();
                }
                waits
            })
        };
        let waits = producer.join().unwrap();
        println!("   producer: queued jobs 1..=8 into a queue of {CAPACITY}, waiting {waits} times for room");

        // Drained? Close the queue: wake the thread consumer with notify_all
        // (it sees `closed`), and end the task consumer with its context.
        let mut s = q.state.lock().await;
        while !s.jobs.is_empty() {
            s = q.not_full.wait(s).await;
        }
        s.closed = true;
        drop(s);
        q.not_empty.notify_all();
        cancel.cancel();
        let (task_got, err) = task_consumer.await.unwrap();
        let thread_got = thread_consumer.join().unwrap();
        println!("   thread consumer took {thread_got:?}; task consumer took {task_got:?}");
        println!("   the task consumer's wait ended with {err:?}; every job consumed exactly once");
        let mut all: Vec<_> = thread_got.into_iter().chain(task_got).collect();
        all.sort();
        assert_eq!(all, (1..=8).collect::<Vec<_>>());
    });
}
