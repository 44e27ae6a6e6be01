//! The seed's "database query stops": a real SQLite query, interrupted
//! when the request's context is done. Shared by the `sqlite` example and
//! the `http` tour (a file under `examples/shared/` is not an example of
//! its own).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tether::Context;

/// `1 + 2 + ... + upto`, computed by SQLite one row at a time (a recursive
/// query, so a large `upto` runs for as long as you like).
const SUM: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) SELECT sum(i) FROM n";

/// What became of one query, as the thread that ran it saw it.
#[derive(Debug)]
pub struct Outcome {
    pub upto: i64,
    pub result: Result<i64, String>,
    pub took: Duration,
}

/// Runs the query on a blocking thread started through tether (so the leak
/// check sees it) and waits for its sum. The outcome also goes to `log`
/// from the query's own thread: if the request is dropped (the client left),
/// nobody awaits this future any more, but the query still reports how it
/// ended.
pub async fn sum_to(ctx: &Context, upto: i64, log: tokio::sync::mpsc::UnboundedSender<Outcome>) -> Result<i64, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ctx = ctx.clone();
    tether::sync::WaitGroup::new().go_blocking(move || {
        let started = Instant::now();
        let result = sum_blocking(&ctx, upto).map_err(|e| e.to_string());
        let _ = tx.send(result.clone());
        let _ = log.send(Outcome { upto, result, took: started.elapsed() });
    });
    rx.await.unwrap_or_else(|_| Err("the query thread died".into()))
}

/// The query itself, on the calling thread, stopped through
/// `ctx.after_func` calling the connection's interrupt handle.
pub fn sum_blocking(ctx: &Context, upto: i64) -> rusqlite::Result<i64> {
    let conn = rusqlite::Connection::open_in_memory()?;
    let interrupt = conn.get_interrupt_handle();
    let finished = Arc::new(AtomicBool::new(false));
    let over = finished.clone();
    let stop = ctx.after_func(move || {
        // sqlite3_interrupt is a no-op while no statement runs, so a cancel
        // that lands just before the query starts would be lost: keep
        // interrupting until the query is over.
        while !over.load(Ordering::Acquire) {
            interrupt.interrupt();
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let result = conn.query_row(SUM, [upto], |row| row.get(0));
    finished.store(true, Ordering::Release);
    stop.stop(); // done: no interrupt needed (Go's `defer stop()`)
    result
}

/// How an outcome reads in the examples' output.
pub fn describe(o: &Outcome) -> String {
    match &o.result {
        Ok(sum) => format!("SQLite summed 1..={} = {sum} in {:.0?}", o.upto, o.took),
        Err(e) => format!("SQLite stopped after {:.0?}: {e}", o.took),
    }
}
