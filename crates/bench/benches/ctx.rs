//! ctx benchmarks: tether's Context beside tokio-util's CancellationToken
//! and Go's context. Run with `bench/run ctx`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tether::Context;
use tether_bench::{Table, go_bench, quick};
use tokio_util::sync::CancellationToken;

const TREE: usize = 100_000;

fn main() {
    let go = go_bench("ctx");
    let mut t = Table::new("ctx: cancellation (ns per operation; trees: per whole cancel)", &["tokio-util", "Go"]);
    let gorec = |t: &mut Table, case: &str, name: &str| {
        if let Some(ns) = go.get(name) {
            t.record(case, "Go", *ns);
        }
    };

    let (ctx, _h) = Context::background().with_cancel();
    t.bench("is_done() on a live context", "tether", |n| {
        for _ in 0..n {
            black_box(black_box(&ctx).is_done());
        }
    });
    let token = CancellationToken::new();
    t.bench("is_done() on a live context", "tokio-util", |n| {
        for _ in 0..n {
            black_box(black_box(&token).is_cancelled());
        }
    });
    gorec(&mut t, "is_done() on a live context", "IsDone");

    // A child of a cancellable parent, cancelled and dropped: Go's
    // `WithCancel(parent)` + `cancel()`; tokio-util's `child_token()` +
    // `cancel()` (its token has no deadline, values or cause).
    const CHILD: &str = "with_cancel + cancel + drop (child of a cancellable parent)";
    t.bench(CHILD, "tether", |n| {
        for _ in 0..n {
            let (c, h) = ctx.with_cancel();
            h.cancel();
            drop(black_box(h));
            drop(c);
        }
    });
    t.bench(CHILD, "tokio-util", |n| {
        for _ in 0..n {
            let c = token.child_token();
            c.cancel();
            drop(black_box(c));
        }
    });
    gorec(&mut t, CHILD, "WithCancelDrop");

    t.bench("with_timeout(1h) + cancel", "tether", |n| {
        for _ in 0..n {
            let (c, h) = ctx.with_timeout(Duration::from_secs(3600));
            h.cancel();
            drop(black_box(c));
        }
    });
    gorec(&mut t, "with_timeout(1h) + cancel", "WithTimeoutCancel");

    for (case, fanout, go_name) in [
        ("cancel a tree of 100,000 (fan-out 10)", 10, "CancelTree100kFanout10"),
        ("cancel 100,000 children of one parent", TREE, "CancelFlat100k"),
    ] {
        let rounds = if quick() { 1 } else { 7 };
        t.record(case, "tether", median(rounds, || tether_tree(fanout)));
        t.record(case, "tokio-util", median(rounds, || tokio_tree(fanout)));
        gorec(&mut t, case, go_name);
    }
    t.print();
}

fn median(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..rounds).map(|_| f()).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Builds `TREE` descendants below `root`, breadth first with `fanout`
/// children per node; `child` makes one child of a node and returns it with
/// whatever must be kept alive for it.
fn build_tree<N: Clone, K>(root: N, fanout: usize, mut child: impl FnMut(&N) -> (N, K)) -> Vec<(N, K)> {
    let mut keep = Vec::with_capacity(TREE);
    let mut level = vec![root];
    while keep.len() < TREE {
        let mut next = Vec::new();
        'outer: for p in &level {
            for _ in 0..fanout {
                if keep.len() == TREE {
                    break 'outer;
                }
                let (c, k) = child(p);
                next.push(c.clone());
                keep.push((c, k));
            }
        }
        level = next;
    }
    keep
}

/// Times the root's cancel of a tree of `TREE` tether contexts (ns).
fn tether_tree(fanout: usize) -> f64 {
    let (root, cancel) = Context::background().with_cancel();
    let keep = build_tree(root, fanout, |p| p.with_cancel());
    let t = Instant::now();
    cancel.cancel();
    let e = t.elapsed().as_nanos() as f64;
    assert!(keep.iter().all(|(c, _)| c.is_done()));
    e
}

/// Times the root's cancel of a tree of `TREE` tokio-util tokens (ns).
fn tokio_tree(fanout: usize) -> f64 {
    let root = CancellationToken::new();
    let keep = build_tree(root.clone(), fanout, |p| (p.child_token(), ()));
    let t = Instant::now();
    root.cancel();
    let e = t.elapsed().as_nanos() as f64;
    assert!(keep.iter().all(|(c, _)| c.is_cancelled()));
    e
}
