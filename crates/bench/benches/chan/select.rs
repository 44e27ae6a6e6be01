//! select: `select!` over 4 buffered receivers (threads and async), and
//! run-time select (`tether::chan::Select` vs crossbeam's `Select` vs Go's
//! `reflect.Select`), one `Select` built once and reused for every message.

use std::hint::black_box;

use super::{GoResults, Tables, runtime};

/// Four producers, each on its own channel of capacity 1024; one consumer
/// selects over the four receivers until it has every message.
pub(crate) fn table(go: &GoResults) -> Tables {
    const CAP: usize = 1024;
    let rt = runtime();
    let mut t = Tables::new(
        "select over 4 buffered receivers (cap 1024, 4 producers)",
        "message",
        &["crossbeam", "flume", "tokio mpsc", "Go"],
    );
    let case = "recv4_cap1024 (threads)";
    t.bench(case, "tether", |n, _| {
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
    t.bench(case, "crossbeam", |n, _| {
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
    t.bench(case, "flume", |n, _| {
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
    t.go(case, go, "Select_recv4_cap1024");

    let case = "recv4_cap1024 (async)";
    t.bench(case, "tether", |n, _| {
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
    t.bench(case, "tokio mpsc", |n, _| {
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
    t.go(case, go, "Select_recv4_cap1024");
    t
}

/// Receivers in the one-ready case, and the index of the ready one (the
/// last added: the worst place for a select that scans in order).
const ARMS: usize = 64;
const READY: usize = ARMS - 1;
/// The ready channel's capacity: it is refilled (untimed) after every
/// `CHUNK` selects.
const CHUNK: usize = 1024;
/// Fan-in: `FANIN` channels of capacity `FANIN_CAP`, fed by `FANIN_PRODUCERS`
/// threads, each sending round-robin over its own `FANIN / FANIN_PRODUCERS`
/// channels; one consumer selects over all of them.
const FANIN: usize = 256;
const FANIN_CAP: usize = 16;
const FANIN_PRODUCERS: usize = 4;

/// Run-time select, threads:
///
/// - `dyn_recv64_one_ready`: one thread, 64 receivers of which one (the
///   last) holds values; one op = one select that receives one value.
///   Only the selects are timed: the ready channel (capacity 1024) is
///   refilled outside the clock. The row below divides by the 64 arms.
/// - `dyn_fanin256_cap16`: 256 channels of capacity 16; 4 producer threads,
///   each sending round-robin over its own 64 channels, then dropping
///   (closing) them; one consumer on one reused `Select` over all 256
///   receives every message and removes each arm as its channel closes (the
///   fan-in pattern). One op = one message.
///
/// crossfire has a run-time `Select` too, but it hands back no arm index
/// (a result names its receiver only by comparison, `res == rx`), so a fan-in
/// over 256 receivers would add a search per message; it is left out.
pub(crate) fn dynamic_table(go: &GoResults) -> Tables {
    let mut t = Tables::new(
        "Run-time select on threads (one Select reused: tether chan::Select, crossbeam Select, Go reflect.Select)",
        "select (per arm: ÷ 64) or message",
        &["crossbeam", "Go"],
    );
    const ONE_READY: &str = "dyn_recv64_one_ready";
    const PER_ARM: &str = "dyn_recv64_one_ready, per arm";
    let per_arm = |t: &mut Tables, column: &str, ns: Option<f64>| {
        if let Some(ns) = ns {
            t.ns.record(PER_ARM, column, ns / ARMS as f64);
        }
    };

    let m = t.bench(ONE_READY, "tether", |n, sw| {
        let chans: Vec<_> = (0..ARMS).map(|_| tether::chan::bounded::<u64>(CHUNK)).collect();
        let mut sel = tether::chan::Select::new();
        for (_, rx) in &chans {
            sel.recv(rx);
        }
        let ready = &chans[READY].0;
        let (mut left, mut sum) = (n, 0u64);
        while left > 0 {
            let k = left.min(CHUNK as u64);
            (0..k).for_each(|v| ready.try_send(v).unwrap());
            sw.start();
            for _ in 0..k {
                let op = sel.select_blocking();
                debug_assert_eq!(op.index(), READY);
                sum += op.recv::<u64>().unwrap();
            }
            sw.stop();
            left -= k;
        }
        black_box(sum);
    });
    per_arm(&mut t, "tether", m.map(|m| m.ns));
    let m = t.bench(ONE_READY, "crossbeam", |n, sw| {
        let chans: Vec<_> = (0..ARMS).map(|_| crossbeam_channel::bounded::<u64>(CHUNK)).collect();
        let mut sel = crossbeam_channel::Select::new();
        for (_, rx) in &chans {
            sel.recv(rx);
        }
        let ready = &chans[READY].0;
        let (mut left, mut sum) = (n, 0u64);
        while left > 0 {
            let k = left.min(CHUNK as u64);
            (0..k).for_each(|v| ready.try_send(v).unwrap());
            sw.start();
            for _ in 0..k {
                let op = sel.select();
                let i = op.index();
                debug_assert_eq!(i, READY);
                sum += op.recv(&chans[i].1).unwrap();
            }
            sw.stop();
            left -= k;
        }
        black_box(sum);
    });
    per_arm(&mut t, "crossbeam", m.map(|m| m.ns));
    let ns = t.go(ONE_READY, go, "Select_dyn_recv64_one_ready");
    per_arm(&mut t, "Go", ns);

    const FAN_IN: &str = "dyn_fanin256_cap16";
    t.bench(FAN_IN, "tether", |n, _| {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..FANIN).map(|_| tether::chan::bounded::<u64>(FANIN_CAP)).unzip();
        let per = n.div_ceil(FANIN_PRODUCERS as u64);
        std::thread::scope(|s| {
            let mut txs = txs.into_iter();
            for _ in 0..FANIN_PRODUCERS {
                let own: Vec<_> = txs.by_ref().take(FANIN / FANIN_PRODUCERS).collect();
                s.spawn(move || {
                    for v in 0..per {
                        own[v as usize % own.len()].send_blocking(v).unwrap();
                    }
                });
            }
            let mut sel = tether::chan::Select::new();
            for rx in &rxs {
                sel.recv(rx);
            }
            let (mut open, mut sum) = (FANIN, 0u64);
            while open > 0 {
                let op = sel.select_blocking();
                let i = op.index();
                match op.recv::<u64>() {
                    Ok(v) => sum += v,
                    Err(_) => {
                        sel.remove(i);
                        open -= 1;
                    }
                }
            }
            black_box(sum);
        });
    });
    t.bench(FAN_IN, "crossbeam", |n, _| {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..FANIN).map(|_| crossbeam_channel::bounded::<u64>(FANIN_CAP)).unzip();
        let per = n.div_ceil(FANIN_PRODUCERS as u64);
        std::thread::scope(|s| {
            let mut txs = txs.into_iter();
            for _ in 0..FANIN_PRODUCERS {
                let own: Vec<_> = txs.by_ref().take(FANIN / FANIN_PRODUCERS).collect();
                s.spawn(move || {
                    for v in 0..per {
                        own[v as usize % own.len()].send(v).unwrap();
                    }
                });
            }
            let mut sel = crossbeam_channel::Select::new();
            for rx in &rxs {
                sel.recv(rx);
            }
            let (mut open, mut sum) = (FANIN, 0u64);
            while open > 0 {
                let op = sel.select();
                let i = op.index();
                match op.recv(&rxs[i]) {
                    Ok(v) => sum += v,
                    Err(_) => {
                        sel.remove(i);
                        open -= 1;
                    }
                }
            }
            black_box(sum);
        });
    });
    t.go(FAN_IN, go, "Select_dyn_fanin256_cap16");
    t
}
