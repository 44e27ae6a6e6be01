//! Deadlines on tether's virtual clock (its own binary: the clock is
//! process-wide), moved by hand once the handlers run, so that no stall of
//! a loaded machine can let a deadline pass early: exact header values, an
//! hour-long `grpc-timeout` enforced to the second, 504 and gRPC status 4
//! over real sockets, and a deadline passing downstream of A in B.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::*;
use tether::Context;
use tether::ctx::Error;
use tether::time::VirtualClock;
use tether_http::Ctx;
use tether_http::headers::{CONNECT_TIMEOUT_MS, GRPC_TIMEOUT};

#[test]
fn propagate_writes_exactly_the_time_left() {
    run(async {
        let clock = VirtualClock::install_manual();
        let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(1500));
        let sent = |ctx: &Context| {
            let mut req = http::Request::new(());
            tether_http::propagate(ctx, &mut req);
            (
                req.headers()[GRPC_TIMEOUT].to_str().unwrap().to_string(),
                req.headers()[CONNECT_TIMEOUT_MS].to_str().unwrap().to_string(),
            )
        };
        assert_eq!(sent(&ctx), ("1500000u".to_string(), "1500".to_string()));
        clock.advance(Duration::from_micros(499_999));
        assert_eq!(sent(&ctx), ("1000001u".to_string(), "1000".to_string())); // milliseconds round down
        clock.advance(Duration::from_millis(950));
        assert_eq!(sent(&ctx), ("50001000n".to_string(), "50".to_string()));
        clock.advance(Duration::from_secs(1));
        assert_eq!(sent(&ctx), ("0n".to_string(), "0".to_string()));
        drop(ctx);
    });
}

#[test]
fn an_hour_long_grpc_timeout_is_enforced() {
    for version in BOTH {
        run(async move {
            // Moved by hand once the handler runs: with auto-advance, a
            // stall before the handler's first poll (a loaded machine)
            // would let time jump first and skip the handler.
            let clock = VirtualClock::install_manual();
            let probe = Probe::new();
            let p = probe.clone();
            let srv = TestServer::start(Duration::from_secs(5), |layer| {
                let route = get(move |Ctx(ctx): Ctx| async move {
                    p.report(&ctx);
                    ctx.done().await;
                    "the context ended"
                });
                Router::new().route("/wait", route).layer(layer)
            })
            .await;
            let mut c = Client::connect(srv.addr, version).await;
            let call = tokio::spawn(c.send(request("/wait", &[("grpc-timeout", "1H")])));
            let ctx = probe.next().await;
            clock.advance(Duration::from_secs(3599));
            assert!(!ctx.is_done(), "{version:?}: done a second early");
            // The handler may still be inside its first poll (it reported
            // first): the layer answers 504 even if it sees the deadline
            // and answers in that same poll.
            clock.advance(Duration::from_secs(1));
            let resp = within("the 504", call).await.unwrap().unwrap();
            assert_eq!(resp.status(), 504, "{version:?}");
            assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
            drop(ctx);
            c.disconnect();
            srv.shutdown().await;
        });
    }
}

#[test]
fn a_passed_deadline_answers_504_and_ends_the_handler() {
    for version in BOTH {
        for header in [("grpc-timeout", "30m"), ("connect-timeout-ms", "30")] {
            run(async move {
                let clock = VirtualClock::install_manual();
                let probe = Probe::new();
                let srv = TestServer::start(Duration::from_secs(5), |layer| {
                    Router::new().route("/wait", waiting(&probe)).layer(layer)
                })
                .await;
                let mut c = Client::connect(srv.addr, version).await;
                let call = tokio::spawn(c.send(request("/wait", &[header])));
                let ctx = probe.next().await;
                clock.advance(Duration::from_millis(30));
                let resp = within("the 504", call).await.unwrap().unwrap();
                assert_eq!(resp.status(), 504, "{version:?} {header:?}");
                use http_body_util::BodyExt;
                let body = within("its body", resp.into_body().collect()).await.unwrap().to_bytes();
                assert!(String::from_utf8_lossy(&body).contains("deadline exceeded"), "{body:?}");
                assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
                drop(ctx);
                c.disconnect();
                srv.shutdown().await;
            });
        }
    }
}

#[test]
fn a_grpc_request_past_its_deadline_gets_grpc_status_4() {
    for ct in ["application/grpc", "application/grpc+proto"] {
        run(async move {
            let clock = VirtualClock::install_manual();
            let probe = Probe::new();
            let srv = TestServer::start(Duration::from_secs(5), |layer| {
                Router::new().route("/pkg.Svc/Wait", waiting(&probe)).layer(layer)
            })
            .await;
            let mut c = Client::connect(srv.addr, Version::H2).await;
            let call = tokio::spawn(c.send(request("/pkg.Svc/Wait", &[("content-type", ct), ("grpc-timeout", "20m")])));
            let ctx = probe.next().await;
            clock.advance(Duration::from_millis(20));
            let resp = within("the answer", call).await.unwrap().unwrap();
            assert_eq!(resp.status(), 200, "{ct}");
            assert_eq!(resp.headers()["grpc-status"], "4", "{ct}");
            assert_eq!(resp.headers()["content-type"], "application/grpc");
            assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
            drop(ctx);
            c.disconnect();
            srv.shutdown().await;
        });
    }
}

#[test]
fn a_deadline_that_passes_downstream_stops_both_and_answers_504() {
    run(async {
        let clock = VirtualClock::install_manual();
        let (a, b, _rec_a, _rec_b, probe) = common::chain::chain(Version::H1).await;
        let mut client = Client::connect(a.addr, Version::H1).await;
        // A gets 50.5 ms. On a frozen clock A passes all of it on, and B
        // takes the shorter of the two headers: connect-timeout-ms rounds
        // down to 50 ms. So B's deadline comes first, by half a millisecond.
        let call = tokio::spawn(client.send(request("/a", &[("grpc-timeout", "50500u")])));
        let (ctx_a, ctx_b) = (probe.next().await, probe.next().await);
        assert_eq!(ctx_a.deadline().unwrap() - ctx_b.deadline().unwrap(), Duration::from_micros(500));
        clock.advance(Duration::from_millis(50));
        assert_eq!(cause_of(&ctx_b).await.downcast_ref::<Error>(), Some(&Error::DeadlineExceeded));
        // B's layer answered 504; A passes it on, before its own deadline.
        let resp = within("A's answer", call).await.unwrap().unwrap();
        assert_eq!(resp.status(), 504);
        assert!(!ctx_a.is_done() || ctx_a.err() == Some(Error::Canceled), "A: {:?}", ctx_a.err());
        assert_eq!(cause_of(&ctx_a).await.downcast_ref::<Error>(), Some(&Error::Canceled), "A ended with its answer");
        drop((ctx_a, ctx_b));
        client.disconnect();
        a.shutdown().await;
        b.shutdown().await;
    });
}
