//! Graceful shutdown over real sockets: cancelling the server's root stops
//! accepting, lets in-flight requests finish within the grace period, then
//! cancels and drops what is left; nothing is left running.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::*;
use tether::ctx::Error;
use tether_http::{Ctx, Shutdown, ShuttingDown};
use tokio::sync::Notify;

/// A route whose handler reports its context, then answers once the test
/// releases it, whatever its context says.
fn released_by(probe: &Probe, release: &Arc<Notify>) -> axum::routing::MethodRouter {
    let (probe, release) = (probe.clone(), release.clone());
    get(move |Ctx(ctx): Ctx| async move {
        probe.report(&ctx);
        release.notified().await;
        "finished"
    })
}

/// Retries connecting until the server refuses: it has stopped accepting.
async fn until_refused(addr: std::net::SocketAddr) {
    within("the server to stop accepting", async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[test]
fn in_flight_requests_finish_within_the_grace_period() {
    for version in BOTH {
        run(async move {
            let (probe, release) = (Probe::new(), Arc::new(Notify::new()));
            let quick = get(|| async { "quick" });
            // A grace period far beyond the watchdog: passing means nothing
            // waited for it (not even the idle connection).
            let mut srv = TestServer::start(Duration::from_secs(3600), |layer| {
                Router::new().route("/slow", released_by(&probe, &release)).route("/quick", quick).layer(layer)
            })
            .await;
            let mut idle = Client::connect(srv.addr, version).await;
            assert_eq!(idle.get("/quick", &[]).await.1, "quick");
            let mut busy = Client::connect(srv.addr, version).await;
            let call = tokio::spawn(busy.send(request("/slow", &[])));
            let ctx = probe.next().await;

            srv.begin_shutdown();
            until_refused(srv.addr).await;
            assert!(!ctx.is_done(), "{version:?}: the in-flight request was cancelled at the shutdown signal");
            release.notify_one();
            let resp = within("the in-flight response", call).await.unwrap().expect("in-flight request failed");
            assert_eq!(resp.status(), 200);
            use http_body_util::BodyExt;
            assert_eq!(within("its body", resp.into_body().collect()).await.unwrap().to_bytes(), "finished");
            assert_eq!(srv.finished().await, Shutdown::Drained, "{version:?}");
            // Ended as a finished request does, not by the shutdown.
            assert_eq!(cause_of(&ctx).await.downcast_ref::<Error>(), Some(&Error::Canceled));
            idle.disconnect();
            busy.disconnect();
        });
    }
}

#[test]
fn when_the_grace_period_runs_out_in_flight_requests_get_the_shutdown_cause() {
    for version in BOTH {
        run(async move {
            let probe = Probe::new();
            let p = probe.clone();
            let srv = TestServer::start(Duration::from_millis(50), |layer| {
                let route = get(move |Ctx(ctx): Ctx| async move {
                    p.report(&ctx);
                    ctx.done().await;
                    "stopped"
                });
                Router::new().route("/wait", route).layer(layer)
            })
            .await;
            let mut client = Client::connect(srv.addr, version).await;
            let call = tokio::spawn(client.send(request("/wait", &[])));
            let ctx = probe.next().await;
            let outcome = srv.shutdown().await;
            assert!(matches!(outcome, Shutdown::GraceExpired { cut_off } if cut_off >= 1), "{version:?}: {outcome:?}");
            let cause = cause_of(&ctx).await;
            assert!(is::<ShuttingDown>(&cause), "{version:?}: cause {cause}");
            let _ = call.await; // the response, or the connection's end
            client.disconnect();
        });
    }
}

/// Sets its flag when dropped: tells the test a handler's future is gone.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_handler_that_ignores_its_context_is_dropped_after_the_grace_period() {
    for version in BOTH {
        run(async move {
            let (probe, dropped) = (Probe::new(), Arc::new(AtomicBool::new(false)));
            let (p, d) = (probe.clone(), dropped.clone());
            let srv = TestServer::start(Duration::from_millis(50), |layer| {
                let route = get(move |Ctx(ctx): Ctx| async move {
                    let _flag = DropFlag(d);
                    p.report(&ctx);
                    std::future::pending::<()>().await; // never looks at ctx
                    "unreachable"
                });
                Router::new().route("/stuck", route).layer(layer)
            })
            .await;
            let mut client = Client::connect(srv.addr, version).await;
            let call = tokio::spawn(client.send(request("/stuck", &[])));
            probe.next().await;
            assert!(matches!(srv.shutdown().await, Shutdown::GraceExpired { .. }));
            // serve returned only after every task ended: the stuck
            // handler's future has been dropped.
            assert!(dropped.load(Ordering::SeqCst), "{version:?}: the stuck handler is still alive");
            let _ = call.await;
            client.disconnect();
        });
    }
}

#[test]
fn dropping_serve_cancels_every_request_and_ends_every_connection() {
    for version in BOTH {
        run(async move {
            let probe = Probe::new();
            let p = probe.clone();
            let srv = TestServer::start(Duration::from_secs(3600), |layer| {
                let route = get(move |Ctx(ctx): Ctx| async move {
                    p.report(&ctx);
                    ctx.done().await;
                    "stopped"
                });
                Router::new().route("/wait", route).layer(layer)
            })
            .await;
            let mut client = Client::connect(srv.addr, version).await;
            let call = tokio::spawn(client.send(request("/wait", &[])));
            let ctx = probe.next().await;
            srv.abort().await;
            assert_eq!(cause_of(&ctx).await.downcast_ref::<Error>(), Some(&Error::Canceled), "{version:?}");
            let _ = within("the connection to end", call).await;
            client.disconnect();
            // run()'s leak check: the connection (and stream) tasks ended.
        });
    }
}

#[test]
fn every_connection_and_http2_stream_is_a_tether_task() {
    for (version, at_least) in [(Version::H1, 1), (Version::H2, 2)] {
        run(async move {
            let (probe, release) = (Probe::new(), Arc::new(Notify::new()));
            let srv = TestServer::start(Duration::from_secs(5), |layer| {
                Router::new().route("/slow", released_by(&probe, &release)).layer(layer)
            })
            .await;
            let mut client = Client::connect(srv.addr, version).await;
            let call = tokio::spawn(client.send(request("/slow", &[])));
            probe.next().await;
            let ours =
                tether::leak::live_tasks().into_iter().filter(|t| t.spawned_at().file().ends_with("server.rs")).count();
            assert!(ours >= at_least, "{version:?}: {ours} server tasks registered, expected {at_least}+");
            release.notify_one();
            within("the response", call).await.unwrap().unwrap();
            client.disconnect();
            assert_eq!(srv.shutdown().await, Shutdown::Drained);
        });
    }
}
