//! tether-http's cost: the same axum app with and without `ContextLayer`,
//! in one process run.
//!
//! - Over loopback: 4 keep-alive HTTP/1.1 connections send `GET /` in a
//!   loop for a fixed time (1 s per round; 5 rounds, the two sides taking
//!   turns going first so that a noisy neighbour hurts both alike; the
//!   median round counts). One op = one request; ns per op = wall time /
//!   requests, the inverse of throughput. Servers and clients share one
//!   2-worker tokio runtime, so the machine's 2 cores are saturated. The
//!   peer column is always plain `axum::serve` without the layer.
//!   - "axum::serve, Router::layer": the usual way to add a tower layer
//!     in axum. It pays axum's per-route boxing too (every layered route
//!     is boxed again and cloned per request), as any layer would.
//!   - "Server, layer around the Router": tether-http's server with the
//!     layer wrapped around the whole app (`server.layer().layer(router)`),
//!     the cheapest setup.
//!   - "... with grpc-timeout: 10S": the deadline path (a timer armed, a
//!     watch polled, per request); the peer gets the same header.
//!   - "Server, no layer": the server alone (leak-registered connection
//!     tasks, shutdown watch) against `axum::serve`.
//! - In process (no socket): one request through `ContextService` around a
//!   trivial service vs the trivial service, response body read to its end.
//!
//! Run: `cargo bench -p tether-bench --bench http` (or `bench/run http`);
//! smoke run: `TETHER_BENCH_QUICK=1 cargo bench -p tether-bench --bench http`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tether::Context;
use tether_bench::{Table, quick, wanted};
use tether_http::{ContextLayer, Server};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt, service_fn};

const CONNECTIONS: usize = 4;

/// A request header, name and value.
type Header = (&'static str, &'static str);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

/// A server for one variant, on 127.0.0.1:0.
async fn start(variant: Variant, root: &Context) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    match variant {
        Variant::Bare => drop(tokio::spawn(async move { axum::serve(listener, app()).await })),
        Variant::Layer => {
            let app = app().layer(ContextLayer::new(root));
            drop(tokio::spawn(async move { axum::serve(listener, app).await }))
        }
        Variant::ServerOuter => {
            let server = Server::new(root);
            let app = server.layer().layer(app());
            drop(tokio::spawn(server.serve(listener, app)));
        }
        Variant::ServerBare => {
            let server = Server::new(root);
            drop(tokio::spawn(server.serve(listener, app())));
        }
    }
    addr
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Bare,
    Layer,
    ServerOuter,
    ServerBare,
}

/// Drives `CONNECTIONS` keep-alive connections for `run`; ns per request.
async fn load(addr: SocketAddr, run: Duration, header: Option<Header>) -> f64 {
    let started = Instant::now();
    let stop_at = started + run;
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
                tokio::spawn(conn);
                let mut n = 0u64;
                while Instant::now() < stop_at {
                    send.ready().await.unwrap();
                    let mut req = http::Request::get("/").header("host", "bench");
                    if let Some((k, v)) = header {
                        req = req.header(k, v);
                    }
                    let resp = send.send_request(req.body(Empty::<Bytes>::new()).unwrap()).await.unwrap();
                    assert_eq!(resp.status(), 200);
                    resp.into_body().collect().await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for c in clients {
        total += c.await.unwrap();
    }
    started.elapsed().as_nanos() as f64 / total as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let rt = runtime();
    let mut t = Table::new(
        "http: GET / through axum, with vs without ContextLayer (ns per request; 4 keep-alive connections)",
        &["axum, no layer"],
    );
    let (run, rounds) = if quick() { (Duration::from_millis(100), 1) } else { (Duration::from_secs(1), 5) };
    let root = Context::background();
    let cases: [(&str, Variant, Option<Header>); 4] = [
        ("loopback, axum::serve, Router::layer(ContextLayer)", Variant::Layer, None),
        ("loopback, Server, layer around the Router", Variant::ServerOuter, None),
        (
            "loopback, Server, layer around the Router, grpc-timeout: 10S",
            Variant::ServerOuter,
            Some(("grpc-timeout", "10S")),
        ),
        ("loopback, Server, no layer", Variant::ServerBare, None),
    ];
    rt.block_on(async {
        let bare = start(Variant::Bare, &root).await;
        let mut servers = Vec::new();
        for (_, variant, _) in cases {
            servers.push(start(variant, &root).await);
        }
        // Warm up every server (and the allocator) before measuring.
        for addr in std::iter::once(bare).chain(servers.iter().copied()) {
            load(addr, Duration::from_millis(100), None).await;
        }
        for (i, (case, _, header)) in cases.iter().enumerate() {
            if !wanted(case, "tether") {
                continue; // TETHER_BENCH_CASES narrows the run
            }
            let (mut with, mut without) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                // Alternate which goes first, so drift hurts both alike.
                if round % 2 == 0 {
                    with.push(load(servers[i], run, *header).await);
                    without.push(load(bare, run, *header).await);
                } else {
                    without.push(load(bare, run, *header).await);
                    with.push(load(servers[i], run, *header).await);
                }
            }
            let (with, without) = (median(with), median(without));
            t.record(case, "tether", with);
            t.record(case, "axum, no layer", without);
            eprintln!(
                "  {case}: {:.0} req/s vs {:.0} req/s for plain axum::serve: {:+.1}% of throughput",
                1e9 / with,
                1e9 / without,
                (1.0 - without / with) * 100.0
            );
        }
    });

    // In process: the layer's own work per request, without the network.
    const IN_PROCESS: &str = "in process, one request (no socket)";
    let trivial = service_fn(|_req: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("ok")))
    });
    let local = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut layered = ContextLayer::new(&root).layer(trivial);
    t.bench(IN_PROCESS, "tether", |n| {
        local.block_on(async {
            for _ in 0..n {
                let resp = layered.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
                resp.into_body().collect().await.unwrap();
            }
        })
    });
    let mut bare = trivial;
    t.bench(IN_PROCESS, "axum, no layer", |n| {
        local.block_on(async {
            for _ in 0..n {
                let resp = bare.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
                resp.into_body().collect().await.unwrap();
            }
        })
    });
    t.print();
}
