//! The seed's reason for contexts, end to end: a client asks for a slow
//! SQLite query, then hangs up; the request's context is cancelled with
//! `ClientDisconnected`, its `after_func` interrupts the query, and the
//! query's thread ends. Run with `cargo run --example sqlite`.

#[path = "shared/query.rs"]
mod query;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tether::Context;
use tether_http::{Ctx, Server, ShuttingDown};
use tokio::sync::mpsc::UnboundedSender;

/// `GET /sum/{upto}`: the sum, by SQLite, under the request's context.
async fn sum(Ctx(ctx): Ctx, State(log): State<UnboundedSender<query::Outcome>>, Path(upto): Path<i64>) -> String {
    match query::sum_to(&ctx, upto, log).await {
        Ok(sum) => format!("sum = {sum}"),
        Err(e) => format!("query failed: {e}"),
    }
}

#[tokio::main]
async fn main() {
    let (root, stop) = Context::background().with_cancel();
    let server = Server::new(&root);
    let (log, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new().route("/sum/{upto}", get(sum)).with_state(log).layer(server.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let running = tokio::spawn(server.serve(listener, app));
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

    println!("a query that completes:");
    let resp = client.get(format!("http://{addr}/sum/1000").parse().unwrap()).await.expect("request failed");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    println!("  client got {:?}", String::from_utf8_lossy(&body));
    println!("  {}", query::describe(&within(outcomes.recv()).await.unwrap()));

    println!("a client that hangs up after 100 ms of a query that would run for hours:");
    let slow = client.get(format!("http://{addr}/sum/1000000000000").parse().unwrap());
    let hung_up = tokio::time::timeout(Duration::from_millis(100), slow).await.is_err();
    println!("  client hung up: {hung_up}");
    println!("  {}", query::describe(&within(outcomes.recv()).await.unwrap()));

    stop.cancel_with_cause(Arc::new(ShuttingDown));
    println!("server: {:?}", within(running).await.unwrap());
    match tether::leak::verify_none() {
        Ok(()) => println!("tether::leak::verify_none(): no task left running"),
        Err(e) => panic!("{e}"),
    }
}

/// Waits at most 10 s: an example run by CI must never hang.
async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut).await.expect("the example waited more than 10 s")
}
