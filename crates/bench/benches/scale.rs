//! Scaling: the cost per item as the number of items grows from 1,000 to
//! 1,000,000, tether beside Go (bench/go/scale, the same shapes). Each cell
//! is the median of 3 fresh processes (this binary runs itself once per
//! measurement), so that no measurement inherits another's heap, registry
//! or timers. Run with `bench/run scale`.
//!
//! Cases (N items, all alive at once unless said):
//! - **group spawn**: N tasks spawned into one group, each waiting on the
//!   group's context (so all N are alive): ns per spawn. Then
//!   **cancel → wait**: the context cancelled, `wait` returns once all N
//!   have ended: ns per task. Then, with nothing alive, the registry:
//!   **live_tasks() after the peak** (µs for the whole call) and the heap
//!   still held per task of the peak (bytes).
//! - **deadlines created / cancelled**: N `with_timeout(1h)` children of
//!   one cancellable context, then each cancelled: ns per item each.
//! - **deadlines firing**: N `with_deadline` children of one cancellable
//!   context, deadlines spread evenly over one second that starts after
//!   they are all made: ns per creation, and how late (ms) the last
//!   deadline is observed done (a thread waiting on it) and all of them.
//! - **receivers woken by close**: N async tasks parked in `recv()` on one
//!   channel, woken by `close()`: ns per receiver from the close until all
//!   have returned.
//! - **ctx.value per link**: a value looked up through a chain of N
//!   `with_value` links: ns per link.
//! - **group spawn, leak registry off**: the group case with
//!   `tether::leak::set_enabled(false)`, for what the registry costs.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use tether::Context;
use tether::group::Group;
use tether_bench::{go_build, quick, workspace_root};

#[global_allocator]
static A: tether_bench::alloc::Tracking = tether_bench::alloc::Tracking;

const ONE: &str = "TETHER_SCALE_ONE";
const CASES: [&str; 6] = ["group", "group-unregistered", "deadlines", "firing", "close", "values"];

fn main() {
    if let Ok(spec) = std::env::var(ONE) {
        let (case, n) = spec.split_once(':').expect("case:n");
        one(case, n.parse().expect("n"));
        return;
    }
    let sizes: &[usize] = if quick() { &[1_000, 10_000] } else { &[1_000, 10_000, 100_000, 1_000_000] };
    let wanted = |case: &str| match std::env::var("TETHER_BENCH_CASES") {
        Ok(list) if !list.is_empty() => list.split(',').any(|p| case.contains(p.trim())),
        _ => true,
    };
    let go = go_build("scale");
    let me = std::env::current_exe().unwrap();
    // metric -> column ("tether" / "Go") -> n -> value
    let mut results: BTreeMap<String, BTreeMap<&str, BTreeMap<usize, f64>>> = BTreeMap::new();
    for case in CASES.iter().filter(|c| wanted(c)) {
        for &n in sizes {
            for (column, program) in [("tether", Some(me.clone())), ("Go", go.clone())] {
                let Some(program) = program else { continue };
                let mut runs: Vec<BTreeMap<String, f64>> = Vec::new();
                for _ in 0..3 {
                    let out = Command::new(&program)
                        .env(ONE, format!("{case}:{n}"))
                        .args(if column == "Go" { vec![case.to_string(), n.to_string()] } else { vec![] })
                        .current_dir(workspace_root())
                        .output()
                        .expect("run a measurement");
                    if !out.status.success() {
                        eprintln!("  {column} {case} {n} failed: {}", String::from_utf8_lossy(&out.stderr));
                        continue;
                    }
                    runs.push(parse(&String::from_utf8_lossy(&out.stdout)));
                }
                let metrics: Vec<String> = runs.first().map(|r| r.keys().cloned().collect()).unwrap_or_default();
                for metric in metrics {
                    let mut v: Vec<f64> = runs.iter().filter_map(|r| r.get(&metric).copied()).collect();
                    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    let median = v[v.len() / 2];
                    eprintln!("  {metric:<48} {column:<7} n={n:<8} {median:>12.1}");
                    results.entry(metric).or_default().entry(column).or_default().insert(n, median);
                }
            }
        }
    }
    print_table(&results, sizes);
}

fn parse(out: &str) -> BTreeMap<String, f64> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn print_table(results: &BTreeMap<String, BTreeMap<&str, BTreeMap<usize, f64>>>, sizes: &[usize]) {
    println!("\n### scaling: cost per item as N grows (median of 3 fresh processes)\n");
    print!("| case | ");
    for n in sizes {
        print!("N = {} | ", fmt_n(*n));
    }
    println!("{} ÷ Go |", fmt_n(*sizes.last().unwrap()));
    print!("|---|");
    for _ in sizes {
        print!("---:|");
    }
    println!("---:|");
    for (metric, columns) in results {
        for (column, by_n) in columns {
            print!("| {metric} ({column}) |");
            for n in sizes {
                match by_n.get(n) {
                    Some(v) => print!(" {} |", fmt(*v)),
                    None => print!(" – |"),
                }
            }
            let last = sizes.last().unwrap();
            let ratio =
                match (columns.get("tether").and_then(|m| m.get(last)), columns.get("Go").and_then(|m| m.get(last))) {
                    (Some(t), Some(g)) if *column == "tether" && *g > 0.0 => format!("{:.2}", t / g),
                    _ => "–".to_string(),
                };
            println!(" {ratio} |");
        }
    }
}

fn fmt_n(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// One measurement, in this (fresh) process: prints `metric = value` lines.
fn one(case: &str, n: usize) {
    match case {
        "group" => group(n),
        "group-unregistered" => {
            tether::leak::set_enabled(false);
            group(n)
        }
        "deadlines" => deadlines(n),
        "firing" => firing(n),
        "close" => close(n),
        "values" => values(n),
        _ => panic!("unknown case {case}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn group(n: usize) {
    let rt = runtime();
    let heap_before = tether_bench::alloc::live_bytes();
    rt.block_on(async {
        let (g, ctx) = Group::<tether::ctx::Error>::with_context(&Context::background());
        let started = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        for _ in 0..n {
            let (c, started) = (ctx.clone(), started.clone());
            g.spawn(async move {
                started.fetch_add(1, SeqCst);
                c.done().await;
                Ok(())
            })
            .await;
        }
        let off = if tether::leak::is_enabled() { "" } else { ", leak registry off" };
        println!("group spawn, N alive{off}: ns per spawn = {}", per(t.elapsed(), n));
        // Every task has started (and is registered) before the cancel.
        while started.load(SeqCst) < n {
            tokio::task::yield_now().await;
        }
        let t = Instant::now();
        g.cancel();
        g.wait().await.ok();
        println!("group cancel → wait{off}: ns per task = {}", per(t.elapsed(), n));
    });
    drop(rt);
    if !tether::leak::is_enabled() {
        return;
    }
    let t = Instant::now();
    let live = tether::leak::live_tasks().len();
    let scan = t.elapsed();
    assert_eq!(live, 0);
    println!("leak::live_tasks() after the peak, nothing alive: µs per call = {}", scan.as_nanos() as f64 / 1e3);
    let held = tether_bench::alloc::live_bytes() - heap_before;
    println!("heap still held after the peak: bytes per task of the peak = {}", held.max(0) as f64 / n as f64);
}

fn deadlines(n: usize) {
    let (parent, _p) = Context::background().with_cancel();
    let mut keep = Vec::with_capacity(n);
    let t = Instant::now();
    for _ in 0..n {
        keep.push(parent.with_timeout(Duration::from_secs(3600)));
    }
    println!("deadlines created (with_timeout, N alive): ns each = {}", per(t.elapsed(), n));
    let t = Instant::now();
    for (_, cancel) in &keep {
        cancel.cancel();
    }
    println!("deadlines cancelled (N alive): ns each = {}", per(t.elapsed(), n));
    drop(keep);
}

fn firing(n: usize) {
    let (parent, _p) = Context::background().with_cancel();
    let lead = Duration::from_millis(200) + Duration::from_micros(3) * n as u32;
    let spread = Duration::from_secs(1);
    let start = Instant::now();
    let base = start + lead;
    let at = |i: usize| base + spread.mul_f64(i as f64 / n as f64);
    let mut keep = Vec::with_capacity(n);
    for i in 0..n {
        keep.push(parent.with_deadline(at(i)));
    }
    let created = start.elapsed();
    println!("deadlines firing: ns per creation = {}", per(created, n));
    assert!(created < lead, "creation overran the lead; the lag below would be meaningless");
    let last = at(n - 1);
    keep[n - 1].0.wait_blocking();
    println!(
        "deadlines firing: ms the last one is late = {}",
        Instant::now().saturating_duration_since(last).as_secs_f64() * 1e3
    );
    for (c, _) in &keep {
        c.wait_blocking();
    }
    println!(
        "deadlines firing: ms until all are done = {}",
        Instant::now().saturating_duration_since(last).as_secs_f64() * 1e3
    );
}

fn close(n: usize) {
    let rt = runtime();
    rt.block_on(async {
        let (tx, rx) = tether::chan::bounded::<u32>(0);
        let parked = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let (rx, parked) = (rx.clone(), parked.clone());
            handles.push(tokio::spawn(async move {
                let mut recv = std::pin::pin!(rx.recv());
                // Count ourselves parked only once the receive is pending.
                let first = std::future::poll_fn(|cx| std::task::Poll::Ready(recv.as_mut().poll(cx))).await;
                assert!(first.is_pending());
                parked.fetch_add(1, SeqCst);
                assert!(recv.await.is_err());
            }));
        }
        while parked.load(SeqCst) < n {
            tokio::task::yield_now().await;
        }
        let t = Instant::now();
        tx.close();
        for h in handles {
            h.await.unwrap();
        }
        println!("receivers woken by close: ns per receiver = {}", per(t.elapsed(), n));
    });
}

use std::future::Future;

struct Key(#[allow(dead_code)] u64);
struct Other(#[allow(dead_code)] usize);

fn values(n: usize) {
    let mut ctx = Context::background().with_value(Key(7));
    for i in 1..n {
        ctx = ctx.with_value(Other(i));
    }
    let rounds = (20_000_000 / n).max(3);
    let t = Instant::now();
    for _ in 0..rounds {
        assert!(std::hint::black_box(&ctx).value::<Key>().is_some());
    }
    println!("ctx.value per link of the chain: ns = {}", t.elapsed().as_nanos() as f64 / (rounds * n) as f64);
}
