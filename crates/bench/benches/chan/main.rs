//! Channels and select, side by side: tether vs crossbeam-channel, kanal,
//! flume, async-channel, tokio mpsc, std mpsc, crossfire and Go
//! (bench/go/chan).
//!
//! One op = one message moved from a producer to a consumer. Shapes: spsc
//! (1→1), mpsc (4→1), mpmc (2→2), each at capacity 0 (rendezvous), 1, 1024
//! and unbounded; on OS threads with the blocking APIs (module `threads`),
//! and on tokio tasks (multi-thread runtime, 2 workers) with the async APIs
//! (module `tasks`). The threads table also has `mpmc4x4_*` (4 producers, 4
//! consumers on the 2 cores, every capacity) and `pinned_spsc_cap0` /
//! `pinned_spsc_cap1024` (producer and consumer pinned to one CPU with
//! `sched_setaffinity`; Go's counterpart runs with `GOMAXPROCS=1`). Then
//! select (module `select`): over 4 buffered receivers fed by 4 producers,
//! and run-time select (tether's `chan::Select`, crossbeam's reused
//! `Select`, Go's `reflect.Select`) over 64 receivers with one ready, and a
//! 256-way fan-in. Go runs the same shapes on goroutines under the same case
//! names (Go has no unbounded channel: its "unbounded" uses a buffer as
//! large as the run).
//!
//! Each ns table is followed by a table of heap allocations per message,
//! counted by this binary's global allocator (`tether_bench::alloc::Counting`:
//! the system allocator plus one relaxed atomic add per allocation): the
//! allocations of a timed run less those of a run of a quarter as many
//! messages, divided by the difference in messages. A run's fixed costs
//! (threads, runtime, channels, a pool's first nodes) cancel out; "0" means
//! not one allocation more for the extra messages; a figure below 0.001 is
//! a few allocations per run, not per message. Go's figure is
//! `runtime.MemStats.Mallocs` over the whole benchmark function ÷ b.N (setup
//! included, amortized over the run).
//!
//! A peer that cannot express a case shows "–": async-channel, tokio and
//! crossfire have no capacity 0 (crossfire's `bounded(0)` silently makes a
//! capacity-1 channel, a different case); std and tokio receivers cannot be
//! shared (no mpmc). crossfire uses the module made for each shape (`spsc`,
//! `mpsc`, `mpmc`), as its docs advise.
//!
//! Run: `cargo bench -p tether-bench --bench chan` (or `bench/run chan`);
//! smoke run: `TETHER_BENCH_QUICK=1 cargo bench -p tether-bench --bench chan`;
//! some rows or columns only: `TETHER_BENCH_CASES=pinned,4x4
//! TETHER_BENCH_COLUMNS=tether,crossfire`.

use std::collections::BTreeMap;
use std::hint::black_box;

use tether_bench::{Measured, Stopwatch, Table, go_bench_metrics, measure, wanted};
use tokio::runtime::Runtime;

mod select;
mod tasks;
mod threads;

#[global_allocator]
static ALLOC: tether_bench::alloc::Counting = tether_bench::alloc::Counting;

/// Go's results: benchmark name → unit → value.
type GoResults = BTreeMap<String, BTreeMap<String, f64>>;

/// (name, producers, consumers)
const SHAPES: [(&str, u64, u64); 3] = [("spsc", 1, 1), ("mpsc", 4, 1), ("mpmc", 2, 2)];
/// (name, capacity; None = unbounded)
const CAPS: [(&str, Option<usize>); 4] =
    [("cap0", Some(0)), ("cap1", Some(1)), ("cap1024", Some(1024)), ("unbounded", None)];

/// A table of ns per message and its twin of allocations per message.
struct Tables {
    ns: Table,
    allocs: Table,
}

impl Tables {
    fn new(title: &str, what: &str, peers: &[&str]) -> Tables {
        let mut allocs = Table::counts(&format!("{title}, heap allocations per {what}"), peers);
        allocs.note(
            "Rust: heap allocations per message that grow with the messages: (allocations of a timed run \
             − those of a run of a quarter as many messages) ÷ the difference in messages, so a run's fixed \
             costs (threads, runtime, channels, a pool's first nodes) cancel out; a figure below 0.001 (of \
             either sign) is noise of a few allocations per run, not per message. \
             Go: all mallocs of the benchmark function ÷ b.N (setup included).",
        );
        Tables { ns: Table::new(&format!("{title}, ns per {what}"), peers), allocs }
    }

    /// Measures `run` (see [`tether_bench::measure`]) if the filters want
    /// it, and records its time and allocations.
    fn bench(&mut self, case: &str, column: &str, run: impl FnMut(u64, &mut Stopwatch)) -> Option<Measured> {
        if !wanted(case, column) {
            return None;
        }
        let m = measure(run);
        self.ns.record(case, column, m.ns);
        if let Some(a) = m.allocs {
            self.allocs.record(case, column, a);
        }
        Some(m)
    }

    /// Records Go's benchmark `name` (if it ran) as the Go column of `case`.
    fn go(&mut self, case: &str, go: &GoResults, name: &str) -> Option<f64> {
        let m = go.get(name)?;
        let ns = *m.get("ns/op")?;
        self.ns.record(case, "Go", ns);
        if let Some(a) = m.get("allocs/msg") {
            self.allocs.record(case, "Go", *a);
        }
        Some(ns)
    }

    fn print(&self) {
        self.ns.print();
        self.allocs.print();
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// `x` and `k - 1` clones of it, one per thread (the original goes too, so
/// the channel closes when the last thread drops its end).
fn fan<T: Clone>(x: T, k: u64) -> Vec<T> {
    vec![x; k as usize]
}

/// Moves about `n` messages from one producer thread per sender in `txs`
/// to one consumer thread per receiver in `rxs`. `send` sends a value;
/// `recv` yields `Some(msg)` until the channel is closed (by the producers'
/// drops). With `pin`, every producer and consumer first pins itself to
/// the same single CPU.
fn threads_run<S: Send, R: Send>(
    n: u64,
    pin: bool,
    txs: Vec<S>,
    rxs: Vec<R>,
    send: impl Fn(&mut S, u64) + Sync,
    recv: impl Fn(&mut R) -> Option<u64> + Sync,
) {
    let per = n.div_ceil(txs.len() as u64);
    let (send, recv) = (&send, &recv);
    std::thread::scope(|s| {
        for mut rx in rxs {
            s.spawn(move || {
                if pin {
                    pin_to_one_cpu();
                }
                let mut sum = 0u64;
                while let Some(x) = recv(&mut rx) {
                    sum = sum.wrapping_add(x);
                }
                black_box(sum)
            });
        }
        for mut tx in txs {
            s.spawn(move || {
                if pin {
                    pin_to_one_cpu();
                }
                for v in 0..per {
                    send(&mut tx, v);
                }
            });
        }
    });
}

/// True where the pinned cases can run.
const CAN_PIN: bool = cfg!(target_os = "linux");

/// Pins the calling thread to one CPU: the lowest-numbered one this
/// process may run on (CPU 0 on an unrestricted machine), the same for
/// every pinned thread.
#[cfg(target_os = "linux")]
fn pin_to_one_cpu() {
    use std::sync::OnceLock;
    static CPU: OnceLock<usize> = OnceLock::new();
    let size = std::mem::size_of::<libc::cpu_set_t>();
    let cpu = *CPU.get_or_init(|| {
        // SAFETY: `set` is a plain bit set of the size passed; the libc
        // macros only read or write bits inside it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let r = libc::sched_getaffinity(0, size, &mut set);
            assert_eq!(r, 0, "sched_getaffinity: {}", std::io::Error::last_os_error());
            (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set)).expect("no CPU in the affinity mask")
        }
    });
    // SAFETY: as above; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let r = libc::sched_setaffinity(0, size, &set);
        assert_eq!(r, 0, "sched_setaffinity(CPU {cpu}): {}", std::io::Error::last_os_error());
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_one_cpu() {
    unreachable!("the pinned cases run on Linux only (CAN_PIN)")
}

fn main() {
    // crossfire's advice for its spinning: detect the platform once at start
    // (it only changes anything on a single-CPU machine).
    crossfire::detect_backoff_cfg();
    eprintln!("chan: Go side (bench/go/chan)...");
    let go = go_bench_metrics("chan");
    eprintln!("chan: threads...");
    let threads = threads::table(&go);
    eprintln!("chan: async...");
    let tasks = tasks::table(&go);
    eprintln!("chan: select...");
    let select = select::table(&go);
    eprintln!("chan: run-time select...");
    let dynamic = select::dynamic_table(&go);
    threads.print();
    tasks.print();
    select.print();
    dynamic.print();
}
