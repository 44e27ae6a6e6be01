//! Channels on tokio tasks (multi-thread runtime, 2 workers), async APIs:
//! the 12 shape × capacity rows.

use std::hint::black_box;

use super::{CAPS, GoResults, SHAPES, Tables, runtime};

/// Moves about `n` messages from `p` producer tasks to `c` consumer tasks
/// on runtime `$rt`. `$make` builds the channel; `clone` or `single` says
/// how each end is handed to its tasks (`single`: the end cannot be cloned,
/// so there must be one such task, which gets the end itself); `$send`
/// sends `$v` on `$tx`; `$recv` yields `Some(msg)` until the channel is
/// closed (by the producers' drops).
macro_rules! tasks_run {
    (@take $end:ident, clone) => {
        $end.as_ref().unwrap().clone()
    };
    (@take $end:ident, single) => {
        $end.take().expect("a single producer or consumer end was asked for twice")
    };
    ($rt:expr, $n:expr, $p:expr, $c:expr, $make:expr, $txmode:ident / $rxmode:ident,
     |$tx:ident, $v:ident| $send:expr, |$rx:ident| $recv:expr) => {{
        let (n, p, c): (u64, u64, u64) = ($n, $p, $c);
        $rt.block_on(async {
            let (tx, rx) = $make;
            #[allow(unused_mut)]
            let (mut tx, mut rx) = (Some(tx), Some(rx));
            let per = n.div_ceil(p);
            let mut hs = Vec::new();
            for _ in 0..c {
                #[allow(unused_mut)]
                let mut $rx = tasks_run!(@take rx, $rxmode);
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
                let $tx = tasks_run!(@take tx, $txmode);
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
}

pub(crate) fn table(go: &GoResults) -> Tables {
    let rt = runtime();
    let mut t = Tables::new(
        "Channels on tokio tasks (async API, 2 worker threads)",
        "message",
        &["kanal", "flume", "async-channel", "tokio mpsc", "crossfire", "Go"],
    );
    for (shape, p, c) in SHAPES {
        for (capname, cap) in CAPS {
            let case = format!("{shape}_{capname}");
            let case = case.as_str();
            t.bench(case, "tether", |n, _| {
                tasks_run!(
                    rt,
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => tether::chan::bounded::<u64>(k),
                        None => tether::chan::unbounded::<u64>(),
                    },
                    clone / clone,
                    |tx, v| tx.send(v).await.unwrap(),
                    |rx| rx.recv().await.ok()
                )
            });
            t.bench(case, "kanal", |n, _| {
                tasks_run!(
                    rt,
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => kanal::bounded_async::<u64>(k),
                        None => kanal::unbounded_async::<u64>(),
                    },
                    clone / clone,
                    |tx, v| tx.send(v).await.unwrap(),
                    |rx| rx.recv().await.ok()
                )
            });
            t.bench(case, "flume", |n, _| {
                tasks_run!(
                    rt,
                    n,
                    p,
                    c,
                    match cap {
                        Some(k) => flume::bounded::<u64>(k),
                        None => flume::unbounded::<u64>(),
                    },
                    clone / clone,
                    |tx, v| tx.send_async(v).await.unwrap(),
                    |rx| rx.recv_async().await.ok()
                )
            });
            // No capacity 0 in async-channel.
            if cap != Some(0) {
                t.bench(case, "async-channel", |n, _| {
                    tasks_run!(
                        rt,
                        n,
                        p,
                        c,
                        match cap {
                            Some(k) => async_channel::bounded::<u64>(k),
                            None => async_channel::unbounded::<u64>(),
                        },
                        clone / clone,
                        |tx, v| tx.send(v).await.unwrap(),
                        |rx| rx.recv().await.ok()
                    )
                });
            }
            // tokio: single consumer, no capacity 0.
            if c == 1 && cap != Some(0) {
                t.bench(case, "tokio mpsc", |n, _| match cap {
                    Some(k) => tasks_run!(
                        rt,
                        n,
                        p,
                        c,
                        tokio::sync::mpsc::channel::<u64>(k),
                        clone / single,
                        |tx, v| tx.send(v).await.unwrap(),
                        |rx| rx.recv().await
                    ),
                    None => tasks_run!(
                        rt,
                        n,
                        p,
                        c,
                        tokio::sync::mpsc::unbounded_channel::<u64>(),
                        clone / single,
                        |tx, v| tx.send(v).unwrap(),
                        |rx| rx.recv().await
                    ),
                });
            }
            // crossfire: no capacity 0 (its bounded(0) is a capacity-1
            // channel); the spsc, mpsc or mpmc module as the shape allows.
            // Its unbounded channels have a blocking sender (a send never
            // waits), as tokio's unbounded one.
            if cap != Some(0) {
                t.bench(case, "crossfire", |n, _| {
                    use crossfire::{mpmc, mpsc, spsc};
                    match (p, c, cap) {
                        (1, 1, Some(k)) => tasks_run!(
                            rt,
                            n,
                            p,
                            c,
                            spsc::bounded_async::<u64>(k),
                            single / single,
                            |tx, v| tx.send(v).await.unwrap(),
                            |rx| rx.recv().await.ok()
                        ),
                        (1, 1, None) => tasks_run!(
                            rt,
                            n,
                            p,
                            c,
                            spsc::unbounded_async::<u64>(),
                            single / single,
                            |tx, v| tx.send(v).unwrap(),
                            |rx| rx.recv().await.ok()
                        ),
                        (_, 1, Some(k)) => tasks_run!(
                            rt,
                            n,
                            p,
                            c,
                            mpsc::bounded_async::<u64>(k),
                            clone / single,
                            |tx, v| tx.send(v).await.unwrap(),
                            |rx| rx.recv().await.ok()
                        ),
                        (_, 1, None) => tasks_run!(
                            rt,
                            n,
                            p,
                            c,
                            mpsc::unbounded_async::<u64>(),
                            clone / single,
                            |tx, v| tx.send(v).unwrap(),
                            |rx| rx.recv().await.ok()
                        ),
                        (_, _, Some(k)) => tasks_run!(
                            rt,
                            n,
                            p,
                            c,
                            mpmc::bounded_async::<u64>(k),
                            clone / clone,
                            |tx, v| tx.send(v).await.unwrap(),
                            |rx| rx.recv().await.ok()
                        ),
                        (_, _, None) => tasks_run!(
                            rt,
                            n,
                            p,
                            c,
                            mpmc::unbounded_async::<u64>(),
                            clone / clone,
                            |tx, v| tx.send(v).unwrap(),
                            |rx| rx.recv().await.ok()
                        ),
                    }
                });
            }
            t.go(case, go, &format!("Threads_{case}"));
        }
    }
    t
}
