//! The A-to-B chain of the RPC tests: service A answers by calling B
//! under its request's context, with the deadline propagated; both record
//! what they saw and report their contexts to one probe.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use http::HeaderMap;
use tether_http::{ClientLayer, Ctx};
use tower::{Layer, ServiceExt};

use super::{Probe, TestServer, Version, pooled_client, under};

const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What one service of the chain saw: when its handler ran, and the
/// deadline headers it was sent (its context goes to the probe).
pub struct Seen {
    pub at: Instant,
    pub headers: HeaderMap,
}

pub type Record = Arc<Mutex<Vec<Seen>>>;

/// Service B: records what it saw, then waits for its context to end.
fn service_b(record: &Record, probe: &Probe) -> axum::routing::MethodRouter {
    let (record, probe) = (record.clone(), probe.clone());
    get(move |Ctx(ctx): Ctx, headers: HeaderMap| async move {
        record.lock().unwrap().push(Seen { at: tether::time::now(), headers });
        probe.report(&ctx);
        ctx.done().await;
        "B's context ended"
    })
}

/// Service A: records what it saw, then calls B under its request's
/// context, with the deadline propagated.
fn service_a(record: &Record, probe: &Probe, b: std::net::SocketAddr, version: Version) -> axum::routing::MethodRouter {
    let (record, probe) = (record.clone(), probe.clone());
    let to_b = ClientLayer::new().propagate_deadline().layer(pooled_client(version));
    get(move |Ctx(ctx): Ctx, headers: HeaderMap| async move {
        record.lock().unwrap().push(Seen { at: tether::time::now(), headers });
        probe.report(&ctx);
        match to_b.oneshot(under(&ctx, format!("http://{b}/b"), &[])).await {
            Ok(resp) => (resp.status(), format!("B answered {}", resp.status())),
            Err(e) => (http::StatusCode::BAD_GATEWAY, format!("B failed: {e}")),
        }
    })
}

/// Starts B, then A (which calls B).
pub async fn chain(version: Version) -> (TestServer, TestServer, Record, Record, Probe) {
    let (rec_a, rec_b, probe) = (Record::default(), Record::default(), Probe::new());
    let b = TestServer::start(GRACE, |layer| Router::new().route("/b", service_b(&rec_b, &probe)).layer(layer)).await;
    let a = TestServer::start(GRACE, |layer| {
        Router::new().route("/a", service_a(&rec_a, &probe, b.addr, version)).layer(layer)
    })
    .await;
    (a, b, rec_a, rec_b, probe)
}
