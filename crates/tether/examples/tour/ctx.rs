//! The context story: a request with a timeout, workers below it that stop
//! when it ends, a cancel with a cause, and what `err()`/`cause()` report.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tether::Context;

#[derive(Debug)]
struct ClientDisconnected;
impl std::fmt::Display for ClientDisconnected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("client disconnected")
    }
}
impl std::error::Error for ClientDisconnected {}

/// A request id carried as a context value.
struct RequestId(u32);

pub fn run() {
    // A request with a 30 ms budget; three workers below it (OS threads)
    // do "work" in 5 ms steps and stop as soon as the request is done.
    let (request, _cancel) = Context::background().with_value(RequestId(41)).with_timeout(Duration::from_millis(30));
    let start = Instant::now();
    let workers: Vec<_> = (1..=3)
        .map(|i| {
            let (ctx, cancel) = request.with_cancel(); // each worker gets its own child
            thread::spawn(move || {
                let _cancel = cancel; // dropping it when the worker returns cancels its subtree
                let mut steps = 0;
                while !ctx.wait_timeout_blocking(Duration::from_millis(5)) {
                    steps += 1; // one unit of work per 5 ms
                }
                (i, steps, ctx.err())
            })
        })
        .collect();
    for w in workers {
        let (i, steps, err) = w.join().unwrap();
        println!(
            "   request {} worker {i}: stopped after {steps} steps: err() = {err:?}",
            request.value::<RequestId>().unwrap().0
        );
    }
    println!(
        "   request err() = {:?}, cause() = {}, after {:.0?}",
        request.err(),
        request.cause().unwrap(),
        start.elapsed()
    );

    // A second request, cancelled early with a cause: async workers below
    // it wake on `done()` and see the request's cause.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (request, cancel) = Context::background().with_value(RequestId(42)).with_timeout(Duration::from_secs(10));
        let tasks: Vec<_> = (1..=2)
            .map(|i| {
                let (db_query, _c) = request.with_timeout(Duration::from_secs(5));
                tokio::spawn(async move {
                    let _c = _c;
                    db_query.done().await;
                    (i, db_query.err(), db_query.cause())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        println!("   request 42: the client goes away → cancel_with_cause(ClientDisconnected)");
        cancel.cancel_with_cause(Arc::new(ClientDisconnected));
        cancel.cancel(); // the first cancel wins: this changes nothing
        for t in tasks {
            let (i, err, cause) = t.await.unwrap();
            let cause = cause.unwrap();
            println!(
                "   query {i}: err() = {err:?}, cause() = \"{cause}\" (downcasts to ClientDisconnected: {})",
                cause.downcast_ref::<ClientDisconnected>().is_some()
            );
        }
    });

    // Work that must outlive the request keeps its values but not its
    // cancellation; after_func runs cleanup once a context is done.
    let (request, cancel) = Context::background().with_value(RequestId(43)).with_cancel();
    let audit = request.without_cancel();
    let (tx, rx) = std::sync::mpsc::channel();
    let _cleanup = request.after_func(move || tx.send("after_func: released the request's resources").unwrap());
    drop(cancel); // dropping the handle cancels, like Go's `defer cancel()`
    println!("   {}", rx.recv().unwrap());
    println!(
        "   request 43 err() = {:?}; its without_cancel() child: err() = {:?}, still sees RequestId({})",
        request.err(),
        audit.err(),
        audit.value::<RequestId>().unwrap().0
    );
}
