//! The client side over real sockets: hyper-util's client and a bare tower
//! service under [`ClientLayer`] — calls aborted with their context's
//! cause, deadlines propagated only when asked — and the RPC chain: A calls
//! B under the request's deadline; when A's client leaves, both stop.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use common::chain::chain;
use common::*;
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use tether::Context;
use tether::ctx::Error;
use tether_http::headers::{self, CONNECT_TIMEOUT_MS, GRPC_TIMEOUT};
use tether_http::{ClientDisconnected, ClientError, ClientLayer, Ctx, ShuttingDown};
use tower::{Layer, ServiceExt, service_fn};

const GRACE: Duration = Duration::from_secs(5);

/// Answers with the deadline headers it received ("-" when absent).
async fn show_headers(headers: HeaderMap) -> String {
    let show =
        |name| headers.get(name).map_or("-".to_string(), |v: &http::HeaderValue| v.to_str().unwrap().to_string());
    format!("{} {}", show(&GRPC_TIMEOUT), show(&CONNECT_TIMEOUT_MS))
}

#[test]
fn deadlines_are_propagated_only_by_clients_that_opt_in() {
    run(async {
        let srv =
            TestServer::start(GRACE, |layer| Router::new().route("/headers", get(show_headers)).layer(layer)).await;
        let url = format!("http://{}/headers", srv.addr);
        let pooled = pooled_client(Version::H1);
        let plain = ClientLayer::new().layer(pooled.clone());
        let propagating = ClientLayer::new().propagate_deadline().layer(pooled);
        let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(5));

        let resp = within("a response", plain.oneshot(under(&ctx, url.clone(), &[]))).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "- -", "a client that did not opt in sent a deadline");

        let resp = within("a response", propagating.oneshot(under(&ctx, url, &[]))).await.unwrap();
        let body = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        let (grpc, connect) = body.split_once(' ').unwrap();
        let grpc = headers::parse_grpc_timeout(&grpc.parse().unwrap()).unwrap();
        let connect = headers::parse_connect_timeout(&connect.parse().unwrap()).unwrap();
        assert!(grpc <= Duration::from_secs(5) && connect <= Duration::from_secs(5), "{body}");
        srv.shutdown().await;
    });
}

/// An error to cancel with, to check that exactly it comes back.
#[derive(Debug)]
struct UserLeft;
impl std::fmt::Display for UserLeft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the user closed the tab")
    }
}
impl std::error::Error for UserLeft {}

#[test]
fn a_call_is_aborted_with_its_context_cause_and_the_server_sees_the_disconnect() {
    for version in BOTH {
        run(async move {
            let probe = Probe::new();
            let srv =
                TestServer::start(GRACE, |layer| Router::new().route("/wait", waiting(&probe)).layer(layer)).await;
            let client = ClientLayer::new().layer(pooled_client(version));
            let (ctx, cancel) = Context::background().with_cancel();
            let call = tokio::spawn(client.oneshot(under(&ctx, format!("http://{}/wait", srv.addr), &[])));
            let server_ctx = probe.next().await;
            cancel.cancel_with_cause(Arc::new(UserLeft));
            let err = within("the call to fail", call).await.unwrap().unwrap_err();
            assert!(err.cause().is_some_and(is::<UserLeft>), "{version:?}: {err}");
            assert_eq!(err.to_string(), "call aborted: the user closed the tab");
            // Dropping the call closed the connection (HTTP/1) or reset the
            // stream (HTTP/2): the server's handler stopped too.
            let cause = cause_of(&server_ctx).await;
            assert!(is::<ClientDisconnected>(&cause), "{version:?}: server saw {cause}");
            srv.shutdown().await;
        });
    }
}

#[test]
fn a_call_under_a_done_context_is_never_sent() {
    run(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let n = calls.clone();
        let inner = service_fn(move |_req: http::Request<Full<Bytes>>| {
            n.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(http::Response::new(Body::empty())) }
        });
        let (ctx, cancel) = Context::background().with_cancel();
        cancel.cancel_with_cause(Arc::new(ShuttingDown));
        let err =
            ClientLayer::new().layer(inner).oneshot(under(&ctx, "http://127.0.0.1/".into(), &[])).await.unwrap_err();
        assert!(err.cause().is_some_and(is::<ShuttingDown>), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "the request was sent anyway");
    });
}

#[test]
fn a_deadline_aborts_a_call_through_any_tower_service() {
    run(async {
        let never = service_fn(|_req: http::Request<Full<Bytes>>| {
            std::future::pending::<Result<http::Response<Body>, std::io::Error>>()
        });
        let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(20));
        let err = within("the deadline", ClientLayer::new().layer(never).oneshot(under(&ctx, "http://x/".into(), &[])))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::Aborted(c) if c.downcast_ref::<Error>() == Some(&Error::DeadlineExceeded)),
            "{err}"
        );
    });
}

#[test]
fn a_request_without_a_context_passes_through() {
    run(async {
        let echo = service_fn(|req: http::Request<Full<Bytes>>| async move {
            Ok::<_, std::io::Error>(http::Response::new(Body::from(req.headers().len().to_string())))
        });
        let req = http::Request::new(Full::new(Bytes::new()));
        let resp = ClientLayer::new().propagate_deadline().layer(echo).oneshot(req).await.unwrap();
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "0");
    });
}

#[test]
fn reading_the_response_body_is_aborted_too() {
    run(async {
        let probe = Probe::new();
        let p = probe.clone();
        let srv = TestServer::start(GRACE, |layer| {
            let route = get(move |Ctx(ctx): Ctx| async move {
                p.report(&ctx);
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<&'static str, std::io::Error>>(1);
                tx.send(Ok("first")).await.unwrap();
                // Keep the body open (no second chunk) until the request ends.
                tokio::spawn(async move {
                    ctx.done().await;
                    drop(tx);
                });
                Body::from_stream(ReceiverStream(rx))
            });
            Router::new().route("/stream", route).layer(layer)
        })
        .await;
        let client = ClientLayer::new().layer(pooled_client(Version::H1));
        let (ctx, cancel) = Context::background().with_cancel();
        let resp =
            within("the head", client.oneshot(under(&ctx, format!("http://{}/stream", srv.addr), &[]))).await.unwrap();
        let server_ctx = probe.next().await;
        let mut body = resp.into_body();
        let first = within("the first chunk", body.frame()).await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "first");
        cancel.cancel_with_cause(Arc::new(UserLeft));
        let err = within("the read to fail", body.frame()).await.unwrap().unwrap_err();
        assert!(err.cause().is_some_and(is::<UserLeft>), "{err}");
        drop(body);
        assert!(is::<ClientDisconnected>(&cause_of(&server_ctx).await));
        srv.shutdown().await;
    });
}

/// A receiver of chunks as a body stream.
struct ReceiverStream(tokio::sync::mpsc::Receiver<Result<&'static str, std::io::Error>>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<&'static str, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[test]
fn a_deadline_passed_from_a_to_b_arrives_shorter_never_longer() {
    for version in BOTH {
        run(async move {
            let (a, b, rec_a, rec_b, probe) = chain(version).await;
            let mut client = Client::connect(a.addr, version).await;
            let call = tokio::spawn(client.send(request("/a", &[("grpc-timeout", "5S")])));
            let (ctx_a, ctx_b) = (probe.next().await, probe.next().await);
            {
                let (seen_a, seen_b) = (&rec_a.lock().unwrap()[0], &rec_b.lock().unwrap()[0]);
                let given = headers::timeout(&seen_a.headers).unwrap().unwrap();
                let passed_on = headers::timeout(&seen_b.headers).unwrap().expect("A sent B no deadline");
                // The value B receives is what A had left when it sent the
                // call (A's handler ran before that), rounded down.
                let a_deadline = ctx_a.deadline().unwrap();
                assert!(passed_on < given, "{version:?}: B was given {passed_on:?}, A only had {given:?}");
                assert!(passed_on <= a_deadline - seen_a.at, "{version:?}: B was given more than A had left");
                // Relative headers cannot know the transit time: B's deadline
                // is at most the one-way trip later than A's, never more.
                let b_deadline = ctx_b.deadline().unwrap();
                assert!(b_deadline <= a_deadline + (seen_b.at - seen_a.at), "{version:?}: B's deadline is too late");
            }
            client.disconnect();
            let _ = call.await;
            cause_of(&ctx_b).await;
            a.shutdown().await;
            b.shutdown().await;
        });
    }
}

#[test]
fn when_the_client_leaves_a_both_a_and_b_stop() {
    for version in BOTH {
        run(async move {
            let (a, b, _rec_a, _rec_b, probe) = chain(version).await;
            let mut client = Client::connect(a.addr, version).await;
            let call = tokio::spawn(client.send(request("/a", &[])));
            let (ctx_a, ctx_b) = (probe.next().await, probe.next().await);
            client.disconnect();
            let (cause_a, cause_b) = (cause_of(&ctx_a).await, cause_of(&ctx_b).await);
            assert!(is::<ClientDisconnected>(&cause_a), "{version:?}: A saw {cause_a}");
            assert!(is::<ClientDisconnected>(&cause_b), "{version:?}: B saw {cause_b}");
            let _ = call.await;
            a.shutdown().await;
            b.shutdown().await;
        });
    }
}
