//! Deadlines on tether's virtual clock (its own binary: the clock is
//! process-wide): exact header values on a frozen clock, and an hour-long
//! `grpc-timeout` enforced over a real socket, to the second, in
//! milliseconds of real time.

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
