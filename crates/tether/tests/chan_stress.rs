//! Randomized stress of the channel engine (issue 8's proof bullet): mixed
//! blocking and async producers and consumers — OS threads, and tokio tasks
//! on a 2-worker runtime — on capacities 0, 1, 16 and unbounded, with every
//! kind of operation chosen at random per message:
//!
//! - sends: `send_blocking`, `send_timeout_blocking` and
//!   `recv_timeout_blocking` with tiny timeouts, `try_send`, `send().await`,
//!   a `send` future polled a random number of times then dropped,
//!   `select_blocking!`/`select!` with several arms, a run-time
//!   `chan::Select` (`try_select`, `select_timeout_blocking`, `select()`
//!   dropped at a random poll point);
//! - receives: the same families, plus `recv_many` and the `Receiver` as a
//!   `Stream` (a clone polled a random number of times, then dropped).
//!
//! Futures are dropped at random poll points: on threads they are polled by
//! hand with a no-op waker N times (N random, 0 included) and dropped; in
//! tasks they are polled with the task's own waker N times, yielding
//! between polls, and dropped.
//!
//! Every value is unique (`producer << 32 | sequence`), and each producer
//! tries its sequence numbers in increasing order, one operation at a time.
//! At the end:
//!
//! - every value whose send was reported `Ok` was received exactly once;
//! - nothing else was received (a send that failed, timed out, or whose
//!   future was dropped pending delivered nothing);
//! - each consumer saw each producer's values in increasing order on
//!   buffered and unbounded channels; on capacity 0 the documented
//!   exception (module docs, *Order*) applies: a value handed to an async
//!   receive that is then dropped goes back into the channel and may be
//!   received after later values of its sender. So on capacity 0 a value
//!   received after a later value of its own producer (a "late" value) must
//!   be one that a dropped receive gave back: there are at most as many
//!   late values as receive futures dropped after being polled, and none at
//!   all in runs that drop no receive.
//!
//! A failure prints the seed; rerun one configuration with
//! `TETHER_STRESS_SEED=<seed>` (and `TETHER_STRESS_ROUNDS=<n>` for longer
//! runs, e.g. in release mode).

mod common;

use std::collections::{HashMap, HashSet};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use futures_core::Stream;
use tether::chan::{
    self, Receiver, RecvError, RecvTimeoutError, Select, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};

// ---------------------------------------------------------------------------
// Deterministic randomness

/// xorshift64*: small, seeded, good enough to pick operations.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Never zero; spread small seeds.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
    /// A tiny timeout: 0 to 30 µs.
    fn tiny(&mut self) -> Duration {
        Duration::from_micros(self.below(31))
    }
    /// How many times to poll a future before dropping it: 0 to 4.
    fn polls(&mut self) -> usize {
        self.below(5) as usize
    }
}

// ---------------------------------------------------------------------------
// Polling helpers

/// Thread side: polls `f` up to `n` times with a no-op waker (yielding the
/// core between polls); `Some` if it completed.
fn poll_n<F: Future>(f: Pin<&mut F>, n: usize) -> Option<F::Output> {
    let mut f = f;
    let mut cx = Context::from_waker(Waker::noop());
    for i in 0..n {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
        if i + 1 < n {
            thread::yield_now();
        }
    }
    None
}

/// Task side: polls `f` up to `n` times with the task's own waker, yielding
/// to the runtime between polls; `None` if it is still pending (the caller
/// then drops it).
async fn poll_up_to<F: Future>(f: F, n: usize) -> Option<F::Output> {
    let mut f = pin!(f);
    for i in 0..n {
        if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await {
            return Some(v);
        }
        if i + 1 < n {
            tokio::task::yield_now().await;
        }
    }
    None
}

fn next_item<S: Stream + Unpin>(s: &mut S) -> impl Future<Output = Option<S::Item>> + '_ {
    poll_fn(move |cx| Pin::new(&mut *s).poll_next(cx))
}

// ---------------------------------------------------------------------------
// One run

#[derive(Clone, Copy, Debug)]
enum Flavour {
    Cap(usize),
    Unbounded,
}

impl Flavour {
    fn make(self) -> (Sender<u64>, Receiver<u64>) {
        match self {
            Flavour::Cap(n) => chan::bounded(n),
            Flavour::Unbounded => chan::unbounded(),
        }
    }
    fn rendezvous(self) -> bool {
        matches!(self, Flavour::Cap(0))
    }
    fn cap(self) -> Option<usize> {
        match self {
            Flavour::Cap(n) => Some(n),
            Flavour::Unbounded => None,
        }
    }
}

/// How the run ends.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The channel is closed once every producer is done; consumers drain.
    CloseAtEnd,
    /// The channel is closed while producers and consumers are busy (once
    /// a random number of values, up to a third of the run, went through):
    /// sends fail from then on with their values back, consumers drain
    /// what was sent.
    CloseMidway,
    /// Each consumer leaves (drops its receiver) after a random number of
    /// values; the last one to leave closes the channel, and every blocked
    /// or later send fails with its value back. Values still buffered then
    /// are dropped (the contract), so here only "nothing duplicated,
    /// nothing invented, order" is checked — and that nobody hangs.
    ReceiversLeave,
}

#[derive(Clone, Copy, Debug)]
struct Config {
    seed: u64,
    flavour: Flavour,
    thread_producers: u64,
    task_producers: u64,
    thread_consumers: u64,
    task_consumers: u64,
    /// Sequence numbers each producer tries.
    per_producer: u64,
    /// Consumers may drop receive futures (and `Stream` clones) pending.
    drop_recvs: bool,
    mode: Mode,
}

/// What the run shares between its participants.
struct Shared {
    /// Never ready: a cap-0 channel nobody sends on (a second arm for selects).
    idle_rx: Receiver<u64>,
    _idle_tx: Sender<u64>,
    /// Never ready for a send: a cap-0 channel nobody receives on.
    idle_tx: Sender<u64>,
    _idle_rx2: Receiver<u64>,
    cfg: Config,
    /// Receive operations (futures, selects, stream clones) dropped after
    /// at least one poll without completing.
    dropped_recvs: AtomicU64,
    /// Values received so far, by all consumers.
    received: AtomicU64,
    /// Producers that have finished.
    producers_done: AtomicU64,
}

/// How a consumer's operation ended.
enum Got {
    Value(u64),
    Values(Vec<u64>),
    Nothing,
    Closed,
}

fn run(cfg: Config) {
    let (tx, rx) = cfg.flavour.make();
    let (idle_tx_keep, idle_rx) = chan::bounded(0);
    let (idle_tx, idle_rx2) = chan::bounded(0);
    let shared = Arc::new(Shared {
        idle_rx,
        _idle_tx: idle_tx_keep,
        idle_tx,
        _idle_rx2: idle_rx2,
        cfg,
        dropped_recvs: AtomicU64::new(0),
        received: AtomicU64::new(0),
        producers_done: AtomicU64::new(0),
    });
    let mut rng = Rng::new(cfg.seed);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // Producers: ids 0.. ; each returns the values it sent Ok, in order.
    let mut producers: Vec<Box<dyn FnOnce() -> Vec<u64>>> = Vec::new();
    let mut id = 0u64;
    for _ in 0..cfg.thread_producers {
        let (tx, s, r) = (tx.clone(), shared.clone(), rng.fork());
        let h = thread::spawn(move || thread_producer(&s, &tx, id, r));
        producers.push(Box::new(move || h.join().unwrap()));
        id += 1;
    }
    for _ in 0..cfg.task_producers {
        let (tx, s, r) = (tx.clone(), shared.clone(), rng.fork());
        let h = rt.spawn(async move { task_producer(&s, &tx, id, r).await });
        let handle = rt.handle().clone();
        producers.push(Box::new(move || handle.block_on(h).unwrap()));
        id += 1;
    }
    // Consumers: each returns what it received, in order. In
    // `ReceiversLeave` each leaves after `limit` values.
    let consumers_n = cfg.thread_consumers + cfg.task_consumers;
    let fair_share = (cfg.thread_producers + cfg.task_producers) * cfg.per_producer / consumers_n;
    let mut consumers: Vec<Box<dyn FnOnce() -> Vec<u64>>> = Vec::new();
    for i in 0..consumers_n {
        let limit = match cfg.mode {
            Mode::ReceiversLeave => 1 + rng.below(fair_share) as usize,
            _ => usize::MAX,
        };
        let (rx, s, r) = (rx.clone(), shared.clone(), rng.fork());
        if i < cfg.thread_consumers {
            let h = thread::spawn(move || thread_consumer(&s, &rx, r, limit));
            consumers.push(Box::new(move || h.join().unwrap()));
        } else {
            let h = rt.spawn(async move { task_consumer(&s, &rx, r, limit).await });
            let handle = rt.handle().clone();
            consumers.push(Box::new(move || handle.block_on(h).unwrap()));
        }
    }
    drop(rx); // only the consumers hold receivers

    if let Mode::CloseMidway = cfg.mode {
        let producers_n = cfg.thread_producers + cfg.task_producers;
        let at = rng.below(producers_n * cfg.per_producer / 3);
        while shared.received.load(Relaxed) < at && shared.producers_done.load(Relaxed) < producers_n {
            thread::sleep(Duration::from_micros(50));
        }
        tx.close();
    }
    let sent: Vec<Vec<u64>> = producers.into_iter().map(|j| j()).collect();
    // Every producer is done (their `Sender` clones are gone; this one is
    // the last): close.
    tx.close();
    let got: Vec<Vec<u64>> = consumers.into_iter().map(|j| j()).collect();
    drop(rt);

    check(&cfg, &sent, &got, shared.dropped_recvs.load(Relaxed));
}

fn check(cfg: &Config, sent: &[Vec<u64>], got: &[Vec<u64>], dropped_recvs: u64) {
    let ctx = format!("{cfg:?}");
    // Exactly once, nothing extra.
    let mut count: HashMap<u64, u32> = HashMap::new();
    for g in got {
        for &v in g {
            *count.entry(v).or_default() += 1;
        }
    }
    let sent_set: HashSet<u64> = sent.iter().flatten().copied().collect();
    let dup: Vec<_> = count.iter().filter(|&(_, &n)| n > 1).map(|(v, n)| (*v, *n)).take(10).collect();
    assert!(dup.is_empty(), "{ctx}: values received more than once (value, times): {dup:x?}");
    let extra: Vec<_> = count.keys().filter(|v| !sent_set.contains(v)).take(10).collect();
    assert!(extra.is_empty(), "{ctx}: values received that were never reported sent: {extra:x?}");
    let mut lost: Vec<_> = sent_set.iter().filter(|v| !count.contains_key(v)).copied().collect();
    lost.sort_unstable();
    // With every receiver gone, what was still buffered is dropped (the
    // contract): only then may values sent `Ok` be missing.
    let lost_allowed = matches!(cfg.mode, Mode::ReceiversLeave);
    assert!(
        lost_allowed || lost.is_empty(),
        "{ctx}: values reported sent but never received ({}): {:x?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let total: usize = sent.iter().map(Vec::len).sum();
    assert!(total > 0 || !matches!(cfg.mode, Mode::CloseAtEnd), "{ctx}: nothing was sent at all");

    // Order: per consumer, per producer.
    let mut late = Vec::new();
    for g in got {
        let mut max: HashMap<u64, u64> = HashMap::new();
        for &v in g {
            let (p, s) = (v >> 32, v & 0xFFFF_FFFF);
            match max.get(&p) {
                Some(&m) if s < m => late.push(v),
                _ => {
                    max.insert(p, s);
                }
            }
        }
    }
    if std::env::var_os("TETHER_STRESS_VERBOSE").is_some() {
        eprintln!(
            "{:?} {:?} seed {:#x}: sent {total}, lost {}, per consumer {:?}, dropped receives {dropped_recvs}, late {}",
            cfg.flavour,
            cfg.mode,
            cfg.seed,
            lost.len(),
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            late.len()
        );
    }
    if !cfg.flavour.rendezvous() {
        assert!(
            late.is_empty(),
            "{ctx}: a consumer received a producer's values out of order on a buffered channel \
             (late values: {:x?}); only rendezvous channels have the redelivery exception",
            &late[..late.len().min(10)]
        );
    } else if !cfg.drop_recvs {
        assert!(
            late.is_empty(),
            "{ctx}: out of order on a rendezvous channel although no receive was dropped (late values: {:x?})",
            &late[..late.len().min(10)]
        );
    } else {
        assert!(
            late.len() as u64 <= dropped_recvs,
            "{ctx}: {} late values but only {dropped_recvs} dropped receives could have given values back: {:x?}",
            late.len(),
            &late[..late.len().min(10)]
        );
    }
}

// ---------------------------------------------------------------------------
// Producers

/// How one send attempt ended.
enum Sent {
    Ok,
    /// Not sent (full, timed out, dropped pending, default); the channel
    /// is open.
    Not,
    /// The channel is closed: the value came back (checked by the caller).
    Closed(u64),
}

fn sent_ok(r: Result<(), SendError<u64>>) -> Sent {
    match r {
        Ok(()) => Sent::Ok,
        Err(SendError(v)) => Sent::Closed(v),
    }
}

/// Books one attempt of `v`; false once the channel is closed.
fn book(s: &Shared, sent: &mut Vec<u64>, v: u64, r: Sent) -> bool {
    match r {
        Sent::Ok => sent.push(v),
        Sent::Not => {}
        Sent::Closed(back) => {
            assert_eq!(back, v, "a failed send hands its own value back");
            assert!(
                !matches!(s.cfg.mode, Mode::CloseAtEnd),
                "{:?}: a send failed as closed while the channel is open",
                s.cfg
            );
            return false;
        }
    }
    true
}

fn thread_producer(s: &Shared, tx: &Sender<u64>, id: u64, mut rng: Rng) -> Vec<u64> {
    let mut sent = Vec::new();
    for seq in 0..s.cfg.per_producer {
        let v = (id << 32) | seq;
        let r = match rng.below(9) {
            0 | 1 | 8 => sent_ok(tx.send_blocking(v)),
            2 => match tx.send_timeout_blocking(v, rng.tiny()) {
                Ok(()) => Sent::Ok,
                Err(SendTimeoutError::Timeout(back)) => {
                    assert_eq!(back, v, "a timed-out send hands its value back");
                    Sent::Not
                }
                Err(SendTimeoutError::Closed(back)) => Sent::Closed(back),
            },
            3 => match tx.try_send(v) {
                Ok(()) => Sent::Ok,
                Err(TrySendError::Full(back)) => {
                    assert_eq!(back, v);
                    Sent::Not
                }
                Err(TrySendError::Closed(back)) => Sent::Closed(back),
            },
            4 => {
                let n = rng.polls();
                let f = pin!(tx.send(v));
                // Dropped pending (`None`), it must deliver nothing.
                poll_n(f, n).map_or(Sent::Not, sent_ok)
            }
            5 => {
                // A blocking select: the send, an idle receive, an idle
                // send, and a short timeout or a default.
                let r = if rng.chance(50) {
                    tether::select_blocking! {
                        send(tx, v) -> r => Some(r),
                        recv(s.idle_rx) -> _r => unreachable!("idle channel"),
                        send(s.idle_tx, u64::MAX) -> _r => unreachable!("idle channel"),
                        after(rng.tiny()) => None,
                    }
                } else {
                    tether::select_blocking! {
                        send(tx, v) -> r => Some(r),
                        recv(s.idle_rx) -> _r => unreachable!("idle channel"),
                        default => None,
                    }
                };
                r.map_or(Sent::Not, sent_ok)
            }
            6 => {
                // An async select, polled by hand, dropped.
                let n = rng.polls();
                let f = pin!(async {
                    tether::select! {
                        recv(s.idle_rx) -> _r => unreachable!("idle channel"),
                        send(tx, v) -> r => r,
                        send(s.idle_tx, u64::MAX) -> _r => unreachable!("idle channel"),
                    }
                });
                poll_n(f, n).map_or(Sent::Not, sent_ok)
            }
            _ => {
                // A run-time Select, one per value (a send arm is spent once
                // it completes).
                let mut sel = Select::new();
                sel.recv(&s.idle_rx);
                let arm = sel.send(tx, v);
                sel.send(&s.idle_tx, u64::MAX);
                let op = match rng.below(3) {
                    0 => sel.try_select(),
                    1 => sel.select_timeout_blocking(rng.tiny()),
                    _ => {
                        let n = rng.polls();
                        let f = pin!(sel.select());
                        poll_n(f, n)
                    }
                };
                match op {
                    Some(op) => {
                        assert_eq!(op.index(), arm, "only the send arm can complete");
                        sent_ok(op.send::<u64>())
                    }
                    None => Sent::Not,
                }
            }
        };
        if !book(s, &mut sent, v, r) {
            break;
        }
    }
    s.producers_done.fetch_add(1, Relaxed);
    sent
}

async fn task_producer(s: &Shared, tx: &Sender<u64>, id: u64, mut rng: Rng) -> Vec<u64> {
    let mut sent = Vec::new();
    for seq in 0..s.cfg.per_producer {
        let v = (id << 32) | seq;
        let r = match rng.below(6) {
            0 | 1 => sent_ok(tx.send(v).await),
            2 => match tx.try_send(v) {
                Ok(()) => Sent::Ok,
                Err(TrySendError::Full(back)) => {
                    assert_eq!(back, v);
                    tokio::task::yield_now().await;
                    Sent::Not
                }
                Err(TrySendError::Closed(back)) => Sent::Closed(back),
            },
            3 => {
                let n = rng.polls();
                poll_up_to(tx.send(v), n).await.map_or(Sent::Not, sent_ok)
            }
            4 => {
                let n = rng.polls();
                let f = async {
                    tether::select! {
                        send(tx, v) -> r => r,
                        recv(s.idle_rx) -> _r => unreachable!("idle channel"),
                        send(s.idle_tx, u64::MAX) -> _r => unreachable!("idle channel"),
                    }
                };
                poll_up_to(f, n).await.map_or(Sent::Not, sent_ok)
            }
            _ => {
                let mut sel = Select::new();
                let arm = sel.send(tx, v);
                sel.recv(&s.idle_rx);
                let n = rng.polls();
                match poll_up_to(sel.select(), n).await {
                    Some(op) => {
                        assert_eq!(op.index(), arm, "only the send arm can complete");
                        sent_ok(op.send::<u64>())
                    }
                    None => Sent::Not,
                }
            }
        };
        if !book(s, &mut sent, v, r) {
            break;
        }
    }
    s.producers_done.fetch_add(1, Relaxed);
    sent
}

// ---------------------------------------------------------------------------
// Consumers

fn recv_result(r: Result<u64, RecvError>) -> Got {
    match r {
        Ok(v) => Got::Value(v),
        Err(RecvError::Closed) => Got::Closed,
    }
}

/// Counts a receive operation dropped after at least one poll.
fn note_dropped(s: &Shared, polls: usize) {
    if polls > 0 {
        s.dropped_recvs.fetch_add(1, Relaxed);
    }
}

fn check_len(s: &Shared, rx: &Receiver<u64>) {
    if let Some(cap) = s.cfg.flavour.cap()
        && cap > 0
    {
        let len = rx.len();
        assert!(len <= cap, "{:?}: len() {len} above capacity {cap}", s.cfg);
    }
}

fn thread_consumer(s: &Shared, rx: &Receiver<u64>, mut rng: Rng, limit: usize) -> Vec<u64> {
    let mut got = Vec::new();
    // One run-time Select, reused for the whole run.
    let mut sel = Select::new();
    let main_arm = sel.recv(rx);
    sel.recv(&s.idle_rx);
    let drops = s.cfg.drop_recvs;
    while got.len() < limit {
        check_len(s, rx);
        let outcome = match rng.below(10) {
            0 | 1 => recv_result(rx.recv_blocking()),
            2 => match rx.recv_timeout_blocking(rng.tiny()) {
                Ok(v) => Got::Value(v),
                Err(RecvTimeoutError::Timeout) => Got::Nothing,
                Err(RecvTimeoutError::Closed) => Got::Closed,
            },
            3 => match rx.try_recv() {
                Ok(v) => Got::Value(v),
                Err(TryRecvError::Empty) => {
                    thread::yield_now();
                    Got::Nothing
                }
                Err(TryRecvError::Closed) => Got::Closed,
            },
            4 if drops => {
                let n = rng.polls();
                let f = pin!(rx.recv());
                match poll_n(f, n) {
                    Some(r) => recv_result(r),
                    None => {
                        note_dropped(s, n);
                        Got::Nothing
                    }
                }
            }
            5 if drops => {
                let n = rng.polls();
                let max = 1 + rng.below(4) as usize;
                let mut buf = Vec::new();
                let r = {
                    let f = pin!(rx.recv_many(&mut buf, max));
                    poll_n(f, n)
                };
                match r {
                    Some(Ok(k)) => {
                        assert!(
                            k >= 1 && k <= max && k == buf.len(),
                            "recv_many returned {k} with {} values",
                            buf.len()
                        );
                        Got::Values(buf)
                    }
                    Some(Err(RecvError::Closed)) => {
                        assert!(buf.is_empty());
                        Got::Closed
                    }
                    None => {
                        assert!(buf.is_empty(), "a dropped recv_many took values");
                        note_dropped(s, n);
                        Got::Nothing
                    }
                }
            }
            6 => {
                let r = if rng.chance(50) {
                    tether::select_blocking! {
                        recv(rx) -> r => Some(r),
                        recv(s.idle_rx) -> _r => unreachable!("idle channel"),
                        send(s.idle_tx, u64::MAX) -> _r => unreachable!("idle channel"),
                        after(rng.tiny()) => None,
                    }
                } else {
                    tether::select_blocking! {
                        recv(s.idle_rx) -> _r => unreachable!("idle channel"),
                        recv(rx) -> r => Some(r),
                        default => None,
                    }
                };
                r.map_or(Got::Nothing, recv_result)
            }
            7 if drops => {
                let n = rng.polls();
                let f = pin!(async {
                    tether::select! {
                        recv(s.idle_rx) -> _r => unreachable!("idle channel"),
                        recv(rx) -> r => r,
                        send(s.idle_tx, u64::MAX) -> _r => unreachable!("idle channel"),
                    }
                });
                match poll_n(f, n) {
                    Some(r) => recv_result(r),
                    None => {
                        note_dropped(s, n);
                        Got::Nothing
                    }
                }
            }
            8 => {
                // The reused run-time Select.
                let op = match rng.below(if drops { 4 } else { 3 }) {
                    0 => sel.try_select(),
                    1 => sel.select_timeout_blocking(rng.tiny()),
                    2 => Some(sel.select_blocking()),
                    _ => {
                        let n = rng.polls();
                        let r = {
                            let f = pin!(sel.select());
                            poll_n(f, n)
                        };
                        if r.is_none() {
                            note_dropped(s, n);
                        }
                        r
                    }
                };
                match op {
                    Some(op) => {
                        assert_eq!(op.index(), main_arm, "the idle arm cannot complete");
                        recv_result(op.recv::<u64>())
                    }
                    None => Got::Nothing,
                }
            }
            9 if drops => {
                // The Receiver as a Stream: a clone polled N times, then
                // dropped with its receive possibly pending.
                let n = rng.polls();
                let mut clone = rx.clone();
                let r = {
                    let f = pin!(next_item(&mut clone));
                    poll_n(f, n)
                };
                drop(clone);
                match r {
                    Some(Some(v)) => Got::Value(v),
                    Some(None) => Got::Closed,
                    None => {
                        note_dropped(s, n);
                        Got::Nothing
                    }
                }
            }
            _ => {
                // (Also what the dropping cases become when drops are off.)
                let max = 1 + rng.below(4) as usize;
                let mut buf = Vec::new();
                match rx.recv_many_blocking(&mut buf, max) {
                    Ok(k) => {
                        assert!(k >= 1 && k <= max && k == buf.len(), "recv_many_blocking returned {k}");
                        Got::Values(buf)
                    }
                    Err(RecvError::Closed) => Got::Closed,
                }
            }
        };
        match outcome {
            Got::Value(v) => {
                s.received.fetch_add(1, Relaxed);
                got.push(v)
            }
            Got::Values(vs) => {
                s.received.fetch_add(vs.len() as u64, Relaxed);
                got.extend(vs)
            }
            Got::Nothing => {}
            Got::Closed => {
                assert!(rx.is_empty(), "{:?}: Closed reported while {} values are buffered", s.cfg, rx.len());
                return got;
            }
        }
    }
    got // left early (`ReceiversLeave`): dropping `rx` may close the channel
}

async fn task_consumer(s: &Shared, rx: &Receiver<u64>, mut rng: Rng, limit: usize) -> Vec<u64> {
    let mut got = Vec::new();
    let mut sel = Select::new();
    let main_arm = sel.recv(rx);
    sel.recv(&s.idle_rx);
    let drops = s.cfg.drop_recvs;
    while got.len() < limit {
        check_len(s, rx);
        // A pending operation polled `n` times: how many polls to give it
        // (`usize::MAX`: run it to completion).
        let n = if drops && rng.chance(60) { rng.polls() } else { usize::MAX };
        let outcome = match rng.below(6) {
            0 => match poll_up_to(rx.recv(), n).await {
                Some(r) => recv_result(r),
                None => {
                    note_dropped(s, n);
                    Got::Nothing
                }
            },
            1 => match rx.try_recv() {
                Ok(v) => Got::Value(v),
                Err(TryRecvError::Empty) => {
                    tokio::task::yield_now().await;
                    Got::Nothing
                }
                Err(TryRecvError::Closed) => Got::Closed,
            },
            2 => {
                let max = 1 + rng.below(4) as usize;
                let mut buf = Vec::new();
                match poll_up_to(rx.recv_many(&mut buf, max), n).await {
                    Some(Ok(k)) => {
                        assert!(k >= 1 && k <= max && k == buf.len());
                        Got::Values(buf)
                    }
                    Some(Err(RecvError::Closed)) => Got::Closed,
                    None => {
                        assert!(buf.is_empty(), "a dropped recv_many took values");
                        note_dropped(s, n);
                        Got::Nothing
                    }
                }
            }
            3 => {
                let f = async {
                    tether::select! {
                        recv(rx) -> r => r,
                        recv(s.idle_rx) -> _r => unreachable!("idle channel"),
                        send(s.idle_tx, u64::MAX) -> _r => unreachable!("idle channel"),
                    }
                };
                match poll_up_to(f, n).await {
                    Some(r) => recv_result(r),
                    None => {
                        note_dropped(s, n);
                        Got::Nothing
                    }
                }
            }
            4 => match poll_up_to(sel.select(), n).await {
                Some(op) => {
                    assert_eq!(op.index(), main_arm, "the idle arm cannot complete");
                    recv_result(op.recv::<u64>())
                }
                None => {
                    note_dropped(s, n);
                    Got::Nothing
                }
            },
            _ => {
                let mut clone = rx.clone();
                let r = poll_up_to(next_item(&mut clone), n).await;
                drop(clone);
                match r {
                    Some(Some(v)) => Got::Value(v),
                    Some(None) => Got::Closed,
                    None => {
                        note_dropped(s, n);
                        Got::Nothing
                    }
                }
            }
        };
        match outcome {
            Got::Value(v) => {
                s.received.fetch_add(1, Relaxed);
                got.push(v)
            }
            Got::Values(vs) => {
                s.received.fetch_add(vs.len() as u64, Relaxed);
                got.extend(vs)
            }
            Got::Nothing => {}
            Got::Closed => {
                assert!(rx.is_empty(), "{:?}: Closed reported while {} values are buffered", s.cfg, rx.len());
                return got;
            }
        }
    }
    got // left early (`ReceiversLeave`): dropping `rx` may close the channel
}

// ---------------------------------------------------------------------------
// The tests

const SEEDS: [u64; 4] = [1, 0x5eed, 0xdead_beef, 42];

/// (thread producers, task producers, thread consumers, task consumers):
/// the full mix, many producers on one consumer and the other way round,
/// threads only, tasks only.
const SHAPES: [(u64, u64, u64, u64); 6] =
    [(2, 2, 2, 2), (1, 2, 1, 0), (0, 1, 2, 2), (3, 0, 0, 1), (0, 3, 2, 0), (1, 1, 1, 1)];

fn seeds() -> Vec<u64> {
    match std::env::var("TETHER_STRESS_SEED") {
        Ok(s) => vec![s.parse().expect("TETHER_STRESS_SEED: a number")],
        Err(_) => SEEDS.to_vec(),
    }
}

fn rounds() -> u64 {
    std::env::var("TETHER_STRESS_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

fn stress(flavour: Flavour, drop_recvs: bool, mode: Mode) {
    for round in 0..rounds() {
        for (i, seed) in seeds().into_iter().enumerate() {
            let seed = seed.wrapping_add(round.wrapping_mul(0x1000_0001));
            // Each run takes the next shape; about 1,200 send attempts in all.
            let (thread_producers, task_producers, thread_consumers, task_consumers) =
                SHAPES[(i + round as usize) % SHAPES.len()];
            let cfg = Config {
                seed,
                flavour,
                thread_producers,
                task_producers,
                thread_consumers,
                task_consumers,
                per_producer: 1_200 / (thread_producers + task_producers),
                drop_recvs,
                mode,
            };
            // One watchdog per run: a hang fails the test (with its seed).
            let r = std::panic::catch_unwind(|| common::watchdog(move || run(cfg)));
            if let Err(p) = r {
                eprintln!("chan_stress: failing run: {cfg:?} (rerun with TETHER_STRESS_SEED={seed})");
                std::panic::resume_unwind(p);
            }
        }
    }
    common::assert_no_leaks();
}

#[test]
fn stress_rendezvous_mixed_peers_random_drops() {
    stress(Flavour::Cap(0), true, Mode::CloseAtEnd);
}

/// Capacity 0 with no receive ever dropped: the redelivery exception
/// cannot arise, so each consumer sees each producer's values in order.
#[test]
fn stress_rendezvous_no_dropped_receives_keeps_order() {
    stress(Flavour::Cap(0), false, Mode::CloseAtEnd);
}

#[test]
fn stress_cap1_mixed_peers_random_drops() {
    stress(Flavour::Cap(1), true, Mode::CloseAtEnd);
}

#[test]
fn stress_cap16_mixed_peers_random_drops() {
    stress(Flavour::Cap(16), true, Mode::CloseAtEnd);
}

#[test]
fn stress_unbounded_mixed_peers_random_drops() {
    stress(Flavour::Unbounded, true, Mode::CloseAtEnd);
}

/// Closing while everyone is busy: sends fail with their values back from
/// then on, and consumers still drain every value that was sent `Ok`.
#[test]
fn stress_close_midway_every_flavour() {
    for flavour in [Flavour::Cap(0), Flavour::Cap(1), Flavour::Cap(16), Flavour::Unbounded] {
        stress(flavour, true, Mode::CloseMidway);
    }
}

/// Consumers leave one by one; the last one's leaving closes the channel
/// and releases every blocked sender (blocking, async, granted) with its
/// value back: nobody hangs, nothing is duplicated or invented.
#[test]
fn stress_receivers_leave_every_flavour() {
    for flavour in [Flavour::Cap(0), Flavour::Cap(1), Flavour::Cap(16), Flavour::Unbounded] {
        stress(flavour, true, Mode::ReceiversLeave);
    }
}

/// The checker itself: it catches a loss, a duplicate, an invented value,
/// and an inversion on a buffered channel (so a passing stress run means
/// something).
#[test]
fn the_checker_catches_every_kind_of_failure() {
    let cfg = |flavour| Config {
        seed: 0,
        flavour,
        thread_producers: 1,
        task_producers: 0,
        thread_consumers: 1,
        task_consumers: 0,
        per_producer: 3,
        drop_recvs: true,
        mode: Mode::CloseAtEnd,
    };
    let sent = vec![vec![0u64, 1, 2]];
    let fails = |flavour, got: Vec<Vec<u64>>, dropped: u64| {
        std::panic::catch_unwind(|| check(&cfg(flavour), &sent, &got, dropped)).is_err()
    };
    assert!(!fails(Flavour::Cap(1), vec![vec![0, 1, 2]], 0), "a correct run passes");
    assert!(fails(Flavour::Cap(1), vec![vec![0, 2]], 0), "loss");
    assert!(fails(Flavour::Cap(1), vec![vec![0, 1, 2, 1]], 0), "duplicate");
    assert!(fails(Flavour::Cap(1), vec![vec![0, 1, 2, 7]], 0), "invented");
    assert!(!fails(Flavour::Cap(1), vec![vec![0, 2], vec![1]], 0), "order is per consumer");
    assert!(fails(Flavour::Cap(16), vec![vec![1, 0, 2]], 5), "inversion on a buffered channel");
    assert!(!fails(Flavour::Cap(0), vec![vec![1, 0, 2]], 1), "rendezvous: one late value, one dropped receive");
    assert!(fails(Flavour::Cap(0), vec![vec![1, 0, 2]], 0), "rendezvous: a late value needs a dropped receive");
    assert!(fails(Flavour::Cap(0), vec![vec![2, 0, 1]], 1), "rendezvous: two late values, one dropped receive");
}

/// The documented exception, step by step: on a rendezvous channel a value
/// handed to an async receive that is then dropped goes back into the
/// channel, and another consumer can receive it after a later value of the
/// same sender. Nothing is lost or duplicated.
#[test]
fn rendezvous_redelivery_exception_happens_exactly_as_documented() {
    let (tx, rx) = chan::bounded::<u64>(0);
    let rx2 = rx.clone();
    let mut a = Box::pin(rx.recv()); // consumer 1's receive
    let mut b = Box::pin(rx2.recv()); // consumer 2's receive
    assert!(common::poll_once(&mut a).is_none());
    assert!(common::poll_once(&mut b).is_none());
    // The sender's 1 goes to the oldest receive (a), its 2 to b: both sends
    // complete (a receiver has taken each value).
    assert_eq!(common::poll_once(&mut Box::pin(tx.send(1))), Some(Ok(())));
    assert_eq!(common::poll_once(&mut Box::pin(tx.send(2))), Some(Ok(())));
    assert_eq!(common::poll_once(&mut b), Some(Ok(2)));
    drop(a); // handed 1, never returned it: 1 goes back into the channel
    assert_eq!(rx.len(), 1, "the given-back value waits in the channel like a buffered one");
    assert_eq!(rx2.try_recv(), Ok(1), "consumer 2 sees 1 after 2: the documented exception");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "nothing duplicated");

    // The same steps on a buffered channel keep the sender's order: a
    // buffered channel never hands a value to a receive that can be dropped
    // (a parked async receive is only told that a value waits).
    for cap in [2usize, 16] {
        let (tx, rx) = chan::bounded::<u64>(cap);
        let rx2 = rx.clone();
        let mut a = Box::pin(rx.recv());
        let mut b = Box::pin(rx2.recv());
        assert!(common::poll_once(&mut a).is_none());
        assert!(common::poll_once(&mut b).is_none());
        assert_eq!(common::poll_once(&mut Box::pin(tx.send(1))), Some(Ok(())));
        assert_eq!(common::poll_once(&mut Box::pin(tx.send(2))), Some(Ok(())));
        assert_eq!(common::poll_once(&mut b), Some(Ok(1)), "cap {cap}: b takes the oldest value");
        drop(a);
        assert_eq!(rx2.try_recv(), Ok(2), "cap {cap}: order kept");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "cap {cap}: nothing duplicated");
    }
    // Capacity 1: the second send waits; dropping the receive that was told
    // about 1 passes the news on to b.
    let (tx, rx) = chan::bounded::<u64>(1);
    let rx2 = rx.clone();
    let mut a = Box::pin(rx.recv());
    let mut b = Box::pin(rx2.recv());
    assert!(common::poll_once(&mut a).is_none());
    assert!(common::poll_once(&mut b).is_none());
    assert_eq!(common::poll_once(&mut Box::pin(tx.send(1))), Some(Ok(())));
    let mut s2 = Box::pin(tx.send(2));
    assert!(common::poll_once(&mut s2).is_none(), "full");
    drop(a);
    assert_eq!(common::poll_once(&mut b), Some(Ok(1)), "the news went on to b");
    assert_eq!(common::poll_once(&mut s2), Some(Ok(())), "room was freed for the waiting send");
    assert_eq!(rx2.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    common::assert_no_leaks();
}

/// A dropped rendezvous send future hands nothing to a receiver parked
/// before, during or after its polls; a parked blocking receiver gets the
/// next value that is really sent.
#[test]
fn rendezvous_dropped_send_future_delivers_nothing() {
    common::watchdog(|| {
        let (tx, rx) = chan::bounded::<u64>(0);
        for round in 0..200u64 {
            let mut s = Box::pin(tx.send(round * 2));
            assert!(common::poll_once(&mut s).is_none(), "no receiver: pending");
            let mut r = Box::pin(rx.recv());
            assert!(common::poll_once(&mut r).is_none(), "the send hands over only in its own poll");
            drop(s);
            assert!(common::poll_once(&mut r).is_none(), "a dropped send delivered nothing");
            assert_eq!(common::poll_once(&mut Box::pin(tx.send(round * 2 + 1))), Some(Ok(())));
            assert_eq!(common::poll_once(&mut r), Some(Ok(round * 2 + 1)));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
    common::assert_no_leaks();
}

/// A send on a closed channel hands its value back, from every send form,
/// also to senders parked when the last receiver goes.
#[test]
fn sends_after_last_receiver_dropped_hand_values_back() {
    common::watchdog(|| {
        for cap in [0usize, 1, 16] {
            let (tx, rx) = chan::bounded::<u64>(cap);
            for v in 0..cap as u64 {
                tx.try_send(v).unwrap();
            }
            let parked: Vec<_> = (0..2u64)
                .map(|i| {
                    let tx = tx.clone();
                    thread::spawn(move || tx.send_blocking(100 + i))
                })
                .collect();
            let mut fut = Box::pin(tx.send(200));
            assert!(common::poll_once(&mut fut).is_none());
            thread::sleep(Duration::from_millis(5)); // let the threads park (not required)
            drop(rx);
            for (i, h) in parked.into_iter().enumerate() {
                assert_eq!(h.join().unwrap(), Err(SendError(100 + i as u64)));
            }
            assert_eq!(common::poll_once(&mut fut), Some(Err(SendError(200))));
            assert_eq!(tx.try_send(7), Err(TrySendError::Closed(7)));
            assert_eq!(tx.send_timeout_blocking(8, Duration::from_millis(1)), Err(SendTimeoutError::Closed(8)));
        }
    });
    common::assert_no_leaks();
}
