//! Channels on OS threads, blocking APIs: the 12 shape × capacity rows,
//! `mpmc4x4_*` (4 producers and 4 consumers on the 2 cores) and the pinned
//! rows (producer and consumer on one CPU).

use super::{CAN_PIN, CAPS, GoResults, SHAPES, Tables, fan, threads_run};

/// One row of the threads table.
struct Row {
    name: String,
    producers: u64,
    consumers: u64,
    cap: Option<usize>,
    pin: bool,
}

fn rows() -> Vec<Row> {
    let row = |name: String, producers, consumers, cap, pin| Row { name, producers, consumers, cap, pin };
    let mut rows = Vec::new();
    for (shape, p, c) in SHAPES.into_iter().chain([("mpmc4x4", 4, 4)]) {
        for (capname, cap) in CAPS {
            rows.push(row(format!("{shape}_{capname}"), p, c, cap, false));
        }
    }
    if CAN_PIN {
        rows.push(row("pinned_spsc_cap0".into(), 1, 1, Some(0), true));
        rows.push(row("pinned_spsc_cap1024".into(), 1, 1, Some(1024), true));
    }
    rows
}

pub(crate) fn table(go: &GoResults) -> Tables {
    let mut t = Tables::new(
        "Channels on OS threads (blocking API)",
        "message",
        &["crossbeam", "kanal", "flume", "async-channel", "std mpsc", "tokio mpsc", "crossfire", "Go"],
    );
    for Row { name, producers: p, consumers: c, cap, pin } in rows() {
        let case = name.as_str();
        t.bench(case, "tether", |n, _| {
            let (tx, rx) = match cap {
                Some(k) => tether::chan::bounded::<u64>(k),
                None => tether::chan::unbounded::<u64>(),
            };
            threads_run(
                n,
                pin,
                fan(tx, p),
                fan(rx, c),
                |tx, v| tx.send_blocking(v).unwrap(),
                |rx| rx.recv_blocking().ok(),
            )
        });
        t.bench(case, "crossbeam", |n, _| {
            let (tx, rx) = match cap {
                Some(k) => crossbeam_channel::bounded::<u64>(k),
                None => crossbeam_channel::unbounded::<u64>(),
            };
            threads_run(n, pin, fan(tx, p), fan(rx, c), |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
        });
        t.bench(case, "kanal", |n, _| {
            let (tx, rx) = match cap {
                Some(k) => kanal::bounded::<u64>(k),
                None => kanal::unbounded::<u64>(),
            };
            threads_run(n, pin, fan(tx, p), fan(rx, c), |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
        });
        t.bench(case, "flume", |n, _| {
            let (tx, rx) = match cap {
                Some(k) => flume::bounded::<u64>(k),
                None => flume::unbounded::<u64>(),
            };
            threads_run(n, pin, fan(tx, p), fan(rx, c), |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
        });
        // No capacity 0 in async-channel.
        if cap != Some(0) {
            t.bench(case, "async-channel", |n, _| {
                let (tx, rx) = match cap {
                    Some(k) => async_channel::bounded::<u64>(k),
                    None => async_channel::unbounded::<u64>(),
                };
                threads_run(
                    n,
                    pin,
                    fan(tx, p),
                    fan(rx, c),
                    |tx, v| tx.send_blocking(v).unwrap(),
                    |rx| rx.recv_blocking().ok(),
                )
            });
        }
        // std's receiver cannot be shared: single consumer only.
        if c == 1 {
            t.bench(case, "std mpsc", |n, _| match cap {
                Some(k) => {
                    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(k);
                    threads_run(n, pin, fan(tx, p), vec![rx], |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
                }
                None => {
                    let (tx, rx) = std::sync::mpsc::channel::<u64>();
                    threads_run(n, pin, fan(tx, p), vec![rx], |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
                }
            });
        }
        // tokio: single consumer, no capacity 0.
        if c == 1 && cap != Some(0) {
            t.bench(case, "tokio mpsc", |n, _| match cap {
                Some(k) => {
                    let (tx, rx) = tokio::sync::mpsc::channel::<u64>(k);
                    threads_run(
                        n,
                        pin,
                        fan(tx, p),
                        vec![rx],
                        |tx, v| tx.blocking_send(v).unwrap(),
                        |rx| rx.blocking_recv(),
                    )
                }
                None => {
                    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
                    threads_run(n, pin, fan(tx, p), vec![rx], |tx, v| tx.send(v).unwrap(), |rx| rx.blocking_recv())
                }
            });
        }
        // crossfire: no capacity 0 (its bounded(0) is a capacity-1 channel);
        // the spsc, mpsc or mpmc module as the shape allows (spsc's ends and
        // mpsc's receiver cannot be cloned).
        if cap != Some(0) {
            t.bench(case, "crossfire", |n, _| {
                use crossfire::{mpmc, mpsc, spsc};
                match (p, c, cap) {
                    (1, 1, Some(k)) => {
                        let (tx, rx) = spsc::bounded_blocking::<u64>(k);
                        threads_run(n, pin, vec![tx], vec![rx], |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
                    }
                    (1, 1, None) => {
                        let (tx, rx) = spsc::unbounded_blocking::<u64>();
                        threads_run(n, pin, vec![tx], vec![rx], |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
                    }
                    (_, 1, Some(k)) => {
                        let (tx, rx) = mpsc::bounded_blocking::<u64>(k);
                        threads_run(n, pin, fan(tx, p), vec![rx], |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
                    }
                    (_, 1, None) => {
                        let (tx, rx) = mpsc::unbounded_blocking::<u64>();
                        threads_run(n, pin, fan(tx, p), vec![rx], |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
                    }
                    (_, _, Some(k)) => {
                        let (tx, rx) = mpmc::bounded_blocking::<u64>(k);
                        threads_run(n, pin, fan(tx, p), fan(rx, c), |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
                    }
                    (_, _, None) => {
                        let (tx, rx) = mpmc::unbounded_blocking::<u64>();
                        threads_run(n, pin, fan(tx, p), fan(rx, c), |tx, v| tx.send(v).unwrap(), |rx| rx.recv().ok())
                    }
                }
            });
        }
        t.go(case, go, &format!("Threads_{case}"));
    }
    t
}
