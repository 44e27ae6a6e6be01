//! The tether-http tour: `cargo run --release --example http`.
//!
//! Two services on 127.0.0.1: A answers each request by calling B under
//! the request's context (its deadline propagated in `grpc-timeout` and
//! `connect-timeout-ms`); B runs a SQLite query under its own request's
//! context. Three requests — one that completes, one whose deadline passes
//! while B is still querying, one whose client hangs up — and, for each,
//! what A's and B's contexts saw and what became of the query. Then a
//! graceful shutdown and the leak check.
//!
//! This is also the RPC example: A calls B under the request's
//! deadline, and when the client disconnects from A (the third request),
//! A's and B's handlers both stop.

#[path = "../shared/query.rs"]
mod query;
mod services;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use services::{Reports, Seen};
use tether::Context;
use tether::ctx::Error;
use tether_http::{Server, ShuttingDown};
use tokio::sync::mpsc::UnboundedReceiver;

/// A query that would run for hours.
const HOURS: i64 = 1_000_000_000_000;

#[tokio::main]
async fn main() {
    println!("tether-http tour: a context per request, carried from service A to service B\n");
    let (root, stop) = Context::background().with_cancel();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let (query_tx, mut queries) = tokio::sync::mpsc::unbounded_channel();
    let reports = Reports { seen: seen_tx, queries: query_tx };

    // Both servers hang off one root: cancelling it shuts both down.
    let (b, b_addr) = bind().await;
    let server_b = Server::new(&root).grace_period(Duration::from_secs(2));
    let app_b = services::service_b(server_b.layer(), reports.clone());
    let running_b = tokio::spawn(server_b.serve(b, app_b));
    let (a, a_addr) = bind().await;
    let server_a = Server::new(&root).grace_period(Duration::from_secs(2));
    let app_a = services::service_a(server_a.layer().max_timeout(Duration::from_secs(10)), reports, b_addr);
    let running_a = tokio::spawn(server_a.serve(a, app_a));
    println!("A on {a_addr} (at most 10 s per request), B on {b_addr}; A calls B, B asks SQLite\n");

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = |upto: i64, timeout: &str| {
        let req = http::Request::get(format!("http://{a_addr}/sum/{upto}")).header("grpc-timeout", timeout);
        client.request(req.body(Empty::new()).unwrap())
    };

    println!("1. a request that completes (the client allows 2 s: grpc-timeout: 2S)");
    let resp = within(get(10_000, "2S")).await.expect("request to A failed");
    let status = resp.status();
    let body = within(resp.into_body().collect()).await.expect("A's body").to_bytes();
    println!("   client: {status} {:?}", String::from_utf8_lossy(&body));
    show(&mut seen, &mut queries).await;

    println!("2. a request that times out downstream (grpc-timeout: 300m; B's query would take hours)");
    let resp = within(get(HOURS, "300m")).await.expect("request to A failed");
    println!("   client: {}", resp.status());
    println!("   (B was given A's time left, rounded down, so both deadlines pass within a millisecond:");
    println!("    A's answer is B's 504 passed on, or its own layer's 504, whichever comes first)");
    show(&mut seen, &mut queries).await;

    println!("3. a client that hangs up after 100 ms (no deadline header: A's own 10 s limit applies)");
    let req = http::Request::get(format!("http://{a_addr}/sum/{HOURS}")).body(Empty::new()).unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(100), client.request(req)).await.is_err();
    println!("   client: {}", if gave_up { "hung up" } else { "got an answer (unexpected)" });
    show(&mut seen, &mut queries).await;

    drop(client);
    stop.cancel_with_cause(Arc::new(ShuttingDown));
    let (a_end, b_end) = (within(running_a).await.unwrap(), within(running_b).await.unwrap());
    println!("shutdown ({}): A {a_end:?}, B {b_end:?}", root.cause().unwrap());
    match tether::leak::verify_none() {
        Ok(()) => println!("tether::leak::verify_none(): no task left running"),
        Err(e) => panic!("{e}"),
    }
}

async fn bind() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// Prints what A's and B's contexts saw (once both are over) and what
/// became of B's query.
async fn show(seen: &mut UnboundedReceiver<Seen>, queries: &mut UnboundedReceiver<query::Outcome>) {
    for _ in 0..2 {
        let s = within(seen.recv()).await.expect("a handler report");
        within(s.ctx.done()).await;
        println!("   {}'s request: {}", s.service, s.headers);
        println!("   {}'s context: {}{}", s.service, ended(&s.ctx), left(s.left));
    }
    let outcome = within(queries.recv()).await.expect("a query outcome");
    println!("   B's query:   {}\n", query::describe(&outcome));
}

/// Waits at most 10 s: the tour must never hang.
async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut).await.expect("the tour waited more than 10 s")
}

/// How a context ended, in words.
fn ended(ctx: &Context) -> String {
    let cause = ctx.cause().expect("done");
    match cause.downcast_ref::<Error>() {
        Some(Error::Canceled) => "ended with its response (Canceled, as Go does once a request is over)".to_string(),
        Some(Error::DeadlineExceeded) => "deadline exceeded".to_string(),
        None => cause.to_string(),
    }
}

fn left(deadline: Option<Duration>) -> String {
    match deadline {
        Some(d) => format!(" (it had {:.1} ms left when its handler began)", d.as_secs_f64() * 1e3),
        None => " (it had no deadline)".to_string(),
    }
}
