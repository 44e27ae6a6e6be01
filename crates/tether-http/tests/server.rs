//! The server side over real sockets (127.0.0.1:0), HTTP/1.1 and HTTP/2:
//! client disconnects, streaming bodies, deadline headers read, rejected
//! and capped. Deadlines are many seconds long here, so that no stall of a
//! loaded machine reaches them; the ones that must pass are in
//! `virtual_time.rs`. Every test ends with the leak check.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http_body_util::BodyExt;
use tether::Context;
use tether::ctx::Error;
use tether_http::{ClientDisconnected, Ctx};

const GRACE: Duration = Duration::from_secs(5);

#[test]
fn client_disconnect_cancels_the_handler_context_with_client_disconnected() {
    for version in BOTH {
        run(async move {
            let probe = Probe::new();
            let srv =
                TestServer::start(GRACE, |layer| Router::new().route("/wait", waiting(&probe)).layer(layer)).await;
            let mut client = Client::connect(srv.addr, version).await;
            let pending = client.send(request("/wait", &[]));
            let call = tokio::spawn(pending);
            let ctx = probe.next().await;
            assert!(!ctx.is_done(), "{version:?}: done before the client left");
            client.disconnect();
            let cause = cause_of(&ctx).await;
            assert!(is::<ClientDisconnected>(&cause), "{version:?}: cause {cause}");
            assert_eq!(ctx.err(), Some(Error::Canceled));
            let _ = call.await;
            assert_eq!(srv.shutdown().await, tether_http::Shutdown::Drained);
        });
    }
}

/// On drop, records whether its context was already done, and why.
struct SeesCauseOnDrop(tether::Context, std::sync::mpsc::Sender<Option<String>>);

impl Drop for SeesCauseOnDrop {
    fn drop(&mut self) {
        let _ = self.1.send(self.0.cause().map(|c| c.to_string()));
    }
}

#[test]
fn a_dropped_handler_already_sees_the_cause_in_its_drop_code() {
    run(async {
        let probe = Probe::new();
        let p = probe.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let srv = TestServer::start(GRACE, |layer| {
            let route = get(move |Ctx(ctx): Ctx| async move {
                let _guard = SeesCauseOnDrop(ctx.clone(), tx);
                p.report(&ctx);
                std::future::pending::<()>().await;
                "unreachable"
            });
            Router::new().route("/wait", route).layer(layer)
        })
        .await;
        let mut client = Client::connect(srv.addr, Version::H1).await;
        let call = tokio::spawn(client.send(request("/wait", &[])));
        probe.next().await;
        client.disconnect();
        let seen =
            within("the handler to be dropped", tokio::task::spawn_blocking(move || rx.recv().unwrap())).await.unwrap();
        assert_eq!(seen.as_deref(), Some("client disconnected before the response was complete"));
        let _ = call.await;
        srv.shutdown().await;
    });
}

#[test]
fn http2_stream_reset_cancels_only_that_request() {
    run(async {
        let probe = Probe::new();
        let srv = TestServer::start(GRACE, |layer| Router::new().route("/wait", waiting(&probe)).layer(layer)).await;
        let mut client = Client::connect(srv.addr, Version::H2).await;
        let first = tokio::spawn(client.send(request("/wait", &[])));
        let first_ctx = probe.next().await;
        let second = tokio::spawn(client.send(request("/wait", &[])));
        let second_ctx = probe.next().await;
        // Dropping the response future makes the client reset that stream
        // (RST_STREAM); the connection and the other stream live on.
        first.abort();
        let cause = cause_of(&first_ctx).await;
        assert!(is::<ClientDisconnected>(&cause), "cause {cause}");
        assert!(!second_ctx.is_done(), "the other stream's request was cancelled too");
        client.disconnect();
        assert!(is::<ClientDisconnected>(&cause_of(&second_ctx).await));
        let _ = second.await;
        srv.shutdown().await;
    });
}

#[test]
fn a_completed_request_ends_its_context_normally() {
    for version in BOTH {
        run(async move {
            let probe = Probe::new();
            let p = probe.clone();
            let srv = TestServer::start(GRACE, |layer| {
                Router::new()
                    .route(
                        "/quick",
                        get(move |Ctx(ctx): Ctx| async move {
                            p.report(&ctx);
                            "done"
                        }),
                    )
                    .layer(layer)
            })
            .await;
            let mut client = Client::connect(srv.addr, version).await;
            let (head, body) = client.get("/quick", &[]).await;
            assert_eq!((head.status.as_u16(), body.as_str()), (200, "done"));
            let ctx = probe.next().await;
            // Go's rule: the request's context is cancelled once it is over.
            let cause = cause_of(&ctx).await;
            assert_eq!(cause.downcast_ref::<Error>(), Some(&Error::Canceled), "{version:?}: cause {cause}");
            client.disconnect();
            srv.shutdown().await;
        });
    }
}

#[test]
fn responses_without_a_body_end_the_context_normally() {
    for version in BOTH {
        run(async move {
            let probe = Probe::new();
            let (p, q) = (probe.clone(), probe.clone());
            let srv = TestServer::start(GRACE, |layer| {
                Router::new()
                    .route(
                        "/page",
                        get(move |Ctx(ctx): Ctx| async move {
                            p.report(&ctx);
                            "a body HEAD never sends"
                        }),
                    )
                    .route(
                        "/nothing",
                        get(move |Ctx(ctx): Ctx| async move {
                            q.report(&ctx);
                            http::StatusCode::NO_CONTENT
                        }),
                    )
                    .layer(layer)
            })
            .await;
            let mut c = Client::connect(srv.addr, version).await;
            let mut head = request("/page", &[]);
            *head.method_mut() = http::Method::HEAD;
            let (parts, body) = c.fetch(head).await;
            assert_eq!((parts.status.as_u16(), body.as_str()), (200, ""));
            let (parts, _) = c.get("/nothing", &[]).await;
            assert_eq!(parts.status, 204);
            for _ in 0..2 {
                // hyper drops these bodies unread: that is their normal end.
                let cause = cause_of(&probe.next().await).await;
                assert_eq!(cause.downcast_ref::<Error>(), Some(&Error::Canceled), "{version:?}: cause {cause}");
            }
            c.disconnect();
            srv.shutdown().await;
        });
    }
}

/// The sending half of a streaming route's body, filled in once its
/// handler runs.
type ChunkSender = Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Sender<&'static str>>>>;

/// A route that streams whatever the test sends on its [`ChunkSender`],
/// and ends the body when the sender is dropped.
fn streaming(probe: &Probe) -> (axum::routing::MethodRouter, ChunkSender) {
    let slot = ChunkSender::default();
    let (probe, s) = (probe.clone(), slot.clone());
    let route = get(move |Ctx(ctx): Ctx| async move {
        let (tx, rx) = tokio::sync::mpsc::channel::<&'static str>(4);
        *s.lock().unwrap() = Some(tx);
        probe.report(&ctx);
        Body::from_stream(Chunks(rx))
    });
    (route, slot)
}

/// A receiver as a stream of body chunks.
struct Chunks(tokio::sync::mpsc::Receiver<&'static str>);

impl futures_core::Stream for Chunks {
    type Item = Result<&'static str, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(Ok))
    }
}

#[test]
fn a_streaming_response_keeps_the_context_alive_until_its_end() {
    run(async {
        let probe = Probe::new();
        let (route, sender) = streaming(&probe);
        let srv = TestServer::start(GRACE, |layer| Router::new().route("/stream", route).layer(layer)).await;
        let mut client = Client::connect(srv.addr, Version::H1).await;
        let resp = within("the response head", client.send(request("/stream", &[]))).await.unwrap();
        let ctx = probe.next().await;
        let tx = sender.lock().unwrap().take().unwrap();
        let mut body = resp.into_body();
        tx.send("one ").await.unwrap();
        let frame = within("a chunk", body.frame()).await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "one ");
        // The handler has returned, the body is still streaming: the
        // request is not over.
        assert!(!ctx.is_done(), "the context ended while the body was streaming");
        tx.send("two").await.unwrap();
        drop(tx); // the body ends
        let rest = within("the rest of the body", body.collect()).await.unwrap().to_bytes();
        assert_eq!(rest, "two");
        assert_eq!(cause_of(&ctx).await.downcast_ref::<Error>(), Some(&Error::Canceled));
        client.disconnect();
        srv.shutdown().await;
    });
}

#[test]
fn a_client_leaving_mid_stream_is_a_disconnect() {
    for version in BOTH {
        run(async move {
            let probe = Probe::new();
            let (route, sender) = streaming(&probe);
            let srv = TestServer::start(GRACE, |layer| Router::new().route("/stream", route).layer(layer)).await;
            let mut client = Client::connect(srv.addr, version).await;
            let resp = within("the response head", client.send(request("/stream", &[]))).await.unwrap();
            let ctx = probe.next().await;
            let tx = sender.lock().unwrap().take().unwrap();
            let mut body = resp.into_body();
            tx.send("one").await.unwrap();
            within("a chunk", body.frame()).await.unwrap().unwrap();
            drop(body);
            client.disconnect();
            let cause = cause_of(&ctx).await;
            assert!(is::<ClientDisconnected>(&cause), "{version:?}: cause {cause}");
            drop(tx);
            srv.shutdown().await;
        });
    }
}

/// A route that answers with how long its context had left when it ran,
/// in nanoseconds ("none" without a deadline), and reports the context.
fn remaining(probe: &Probe) -> axum::routing::MethodRouter {
    let probe = probe.clone();
    get(move |Ctx(ctx): Ctx| async move {
        probe.report(&ctx);
        match ctx.deadline() {
            Some(d) => d.saturating_duration_since(tether::time::now()).as_nanos().to_string(),
            None => "none".to_string(),
        }
    })
}

/// Request headers as name/value pairs.
type Headers<'a> = &'a [(&'a str, &'a str)];

fn nanos(body: &str) -> Duration {
    Duration::from_nanos(body.parse().unwrap_or_else(|_| panic!("not a number of nanoseconds: {body:?}")))
}

#[test]
fn the_deadline_is_the_earliest_of_both_headers_and_the_maximum() {
    run(async {
        let probe = Probe::new();
        let srv = TestServer::start(GRACE, |layer| {
            Router::new()
                .route("/left", remaining(&probe))
                .route("/capped", remaining(&probe).layer(layer.clone().max_timeout(Duration::from_secs(9))))
                .layer(layer)
        })
        .await;
        let mut c = Client::connect(srv.addr, Version::H1).await;
        let ms = Duration::from_millis;
        let cases: [(&str, Headers, Option<Duration>); 7] = [
            ("/left", &[], None),
            ("/left", &[("grpc-timeout", "30S")], Some(ms(30_000))),
            ("/left", &[("connect-timeout-ms", "25000")], Some(ms(25_000))),
            ("/left", &[("grpc-timeout", "30S"), ("connect-timeout-ms", "20000")], Some(ms(20_000))),
            ("/left", &[("grpc-timeout", "15000m"), ("connect-timeout-ms", "20000")], Some(ms(15_000))),
            // A route's max_timeout caps the header, and applies without one.
            ("/capped", &[("grpc-timeout", "30S")], Some(ms(9_000))),
            ("/capped", &[], Some(ms(9_000))),
        ];
        for (path, headers, want) in cases {
            let (head, body) = c.get(path, headers).await;
            assert_eq!(head.status, 200, "{path} {headers:?}: {body}");
            match want {
                None => assert_eq!(body, "none"),
                // Never more than asked; time passes, so only an upper bound is exact.
                Some(max) => assert!(nanos(&body) <= max, "{path} {headers:?}: {body} ns > {max:?}"),
            }
            probe.next().await;
        }
        c.disconnect();
        srv.shutdown().await;
    });
}

#[test]
fn the_root_deadline_bounds_every_request() {
    run(async {
        let probe = Probe::new();
        let (root, _keep) = Context::background().with_timeout(Duration::from_secs(60));
        let srv =
            TestServer::start_under(&root, GRACE, |layer| Router::new().route("/left", remaining(&probe)).layer(layer))
                .await;
        let mut c = Client::connect(srv.addr, Version::H1).await;
        for headers in [&[][..], &[("grpc-timeout", "2H")], &[("connect-timeout-ms", "9999999")]] {
            let (head, _) = c.get("/left", headers).await;
            assert_eq!(head.status, 200);
            let ctx = probe.next().await;
            assert!(ctx.deadline().unwrap() <= root.deadline().unwrap(), "{headers:?}: later than the root's deadline");
        }
        c.disconnect();
        srv.shutdown().await;
    });
}

#[test]
fn no_time_left_on_arrival_answers_at_once_without_the_handler() {
    run(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let n = calls.clone();
        let srv = TestServer::start(GRACE, |layer| {
            Router::new()
                .route(
                    "/",
                    get(move || async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        "ran"
                    }),
                )
                .layer(layer)
        })
        .await;
        let mut c = Client::connect(srv.addr, Version::H1).await;
        for header in [("grpc-timeout", "0n"), ("grpc-timeout", "0H"), ("connect-timeout-ms", "0")] {
            let (head, _) = c.get("/", &[header]).await;
            assert_eq!(head.status, 504, "{header:?}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler ran");
        c.disconnect();
        srv.shutdown().await;
    });
}

#[test]
fn malformed_deadline_headers_get_a_clear_400_and_no_handler() {
    run(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let n = calls.clone();
        let srv = TestServer::start(GRACE, |layer| {
            Router::new()
                .route(
                    "/",
                    get(move || async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        "ran"
                    }),
                )
                .layer(layer)
        })
        .await;
        let mut c = Client::connect(srv.addr, Version::H1).await;
        let grpc_bad = ["S", "1", "123456789S", "1x", "-1S", "+1S", "1.5S", "1SS", "1 S", "1h", "0x1S", "1e3S"];
        let connect_bad = ["12345678901", "1e3", "-1", "0x10", "5ms", "1.5", "5 5"];
        let cases =
            grpc_bad.iter().map(|v| ("grpc-timeout", *v)).chain(connect_bad.iter().map(|v| ("connect-timeout-ms", *v)));
        for (name, value) in cases {
            let (head, body) = c.get("/", &[(name, value)]).await;
            assert_eq!(head.status, 400, "{name}: {value:?} was accepted: {body}");
            assert!(body.contains(&format!("malformed {name} header")), "{name}: {value:?}: unclear body {body:?}");
        }
        // gRPC callers also get a gRPC status (INVALID_ARGUMENT).
        let (head, _) = c.get("/", &[("grpc-timeout", "soon"), ("content-type", "application/grpc")]).await;
        assert_eq!(head.status, 400);
        assert_eq!(head.headers["grpc-status"], "3");
        // Bytes a well-behaved client never sends: non-UTF-8, a repeated header.
        let raw =
            raw_exchange(srv.addr, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ngrpc-timeout: 1\xffS\r\n\r\n")
                .await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
        let raw = raw_exchange(
            srv.addr,
            b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\nconnect-timeout-ms: 5\r\nconnect-timeout-ms: 6\r\n\r\n",
        )
        .await;
        assert!(raw.starts_with("HTTP/1.1 400") && raw.contains("more than once"), "{raw}");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "a handler ran for a malformed header");
        c.disconnect();
        srv.shutdown().await;
    });
}

#[test]
fn huge_header_values_are_capped() {
    run(async {
        let probe = Probe::new();
        let srv = TestServer::start(GRACE, |layer| {
            Router::new()
                .route("/left", remaining(&probe))
                .route("/short", remaining(&probe).layer(layer.clone().max_timeout(Duration::from_secs(20))))
                .layer(layer)
        })
        .await;
        let mut c = Client::connect(srv.addr, Version::H2).await;
        for huge in [("grpc-timeout", "99999999H"), ("connect-timeout-ms", "9999999999")] {
            let (head, body) = c.get("/left", &[huge]).await;
            assert_eq!(head.status, 200, "{huge:?}: {body}");
            assert!(nanos(&body) <= tether_http::HEADER_TIMEOUT_CAP, "{huge:?}: {body} ns");
            probe.next().await;
            let (_, body) = c.get("/short", &[huge]).await;
            assert!(nanos(&body) <= Duration::from_secs(20), "{huge:?}: {body} ns");
            probe.next().await;
        }
        c.disconnect();
        srv.shutdown().await;
    });
}

#[test]
fn an_inner_layer_only_tightens_the_outer_deadline() {
    run(async {
        let probe = Probe::new();
        let srv = TestServer::start(GRACE, |layer| {
            let loose = tether_http::ContextLayer::new(&Context::background()).max_timeout(Duration::from_secs(3600));
            Router::new()
                .route("/left", remaining(&probe).layer(loose))
                .layer(layer.max_timeout(Duration::from_secs(10)))
        })
        .await;
        let mut c = Client::connect(srv.addr, Version::H1).await;
        let (_, body) = c.get("/left", &[]).await;
        assert!(nanos(&body) <= Duration::from_secs(10), "{body}");
        probe.next().await;
        c.disconnect();
        srv.shutdown().await;
    });
}
