//! The tour's two services. A answers the client by calling B under the
//! request's context (deadline propagated); B sums numbers with SQLite
//! under its own request's context. Each handler reports its context to
//! the tour, which prints how it ended.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use tether::Context;
use tether_http::headers::{CONNECT_TIMEOUT_MS, GRPC_TIMEOUT};
use tether_http::{ClientLayer, ClientService, ContextLayer, Ctx};
use tokio::sync::mpsc::UnboundedSender;
use tower::{Layer, ServiceExt};

use crate::query;

/// A handler's report: which service, its request's context, the deadline
/// headers its request carried, and the time its context had left then.
pub struct Seen {
    pub service: &'static str,
    pub ctx: Context,
    pub headers: String,
    pub left: Option<std::time::Duration>,
}

/// Where the handlers report.
#[derive(Clone)]
pub struct Reports {
    pub seen: UnboundedSender<Seen>,
    pub queries: UnboundedSender<query::Outcome>,
}

fn report(reports: &Reports, service: &'static str, ctx: &Context, headers: &HeaderMap) {
    let show = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok()).unwrap_or("-").to_string();
    let headers = format!("grpc-timeout: {}, connect-timeout-ms: {}", show(&GRPC_TIMEOUT), show(&CONNECT_TIMEOUT_MS));
    let left = ctx.deadline().map(|d| d.saturating_duration_since(tether::time::now()));
    let _ = reports.seen.send(Seen { service, ctx: ctx.clone(), headers, left });
}

/// Service B: `GET /sum/{upto}`, by SQLite, stopped when its context is.
pub fn service_b(layer: ContextLayer, reports: Reports) -> Router {
    async fn sum(Ctx(ctx): Ctx, State(r): State<Reports>, Path(upto): Path<i64>, h: HeaderMap) -> (StatusCode, String) {
        report(&r, "B", &ctx, &h);
        match query::sum_to(&ctx, upto, r.queries.clone()).await {
            Ok(sum) => (StatusCode::OK, format!("sum(1..={upto}) = {sum}")),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("query stopped: {e}")),
        }
    }
    Router::new().route("/sum/{upto}", get(sum)).with_state(reports).layer(layer)
}

/// A's client for B: B is ours, so it may see our deadlines.
type ToB = ClientService<Client<HttpConnector, Empty<Bytes>>>;

#[derive(Clone)]
struct StateA {
    reports: Reports,
    b: SocketAddr,
    to_b: ToB,
}

/// Service A: `GET /sum/{upto}`, answered by calling B under the request's
/// context, passing B's status on.
pub fn service_a(layer: ContextLayer, reports: Reports, b: SocketAddr) -> Router {
    async fn sum(Ctx(ctx): Ctx, State(s): State<StateA>, Path(upto): Path<i64>, h: HeaderMap) -> (StatusCode, String) {
        report(&s.reports, "A", &ctx, &h);
        let mut req = http::Request::get(format!("http://{}/sum/{upto}", s.b)).body(Empty::new()).unwrap();
        req.extensions_mut().insert(ctx.clone()); // the call runs under the request's context
        match s.to_b.oneshot(req).await {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                let text = body.map_or_else(|e| e.to_string(), |b| String::from_utf8_lossy(&b).into_owned());
                (status, format!("B says: {text}"))
            }
            Err(e) => (StatusCode::BAD_GATEWAY, format!("B failed: {e}")),
        }
    }
    let to_b = ClientLayer::new().propagate_deadline().layer(Client::builder(TokioExecutor::new()).build_http());
    Router::new().route("/sum/{upto}", get(sum)).with_state(StateA { reports, b, to_b }).layer(layer)
}
