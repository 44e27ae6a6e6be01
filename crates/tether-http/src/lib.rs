//! # tether-http — a `tether::Context` per HTTP request
//!
//! "In an HTTP server, a context is created for each incoming request. If
//! the client disconnects, the context is canceled, signaling all
//! downstream operations (database queries, RPC calls) to stop work." This
//! crate does that for tower, hyper and axum:
//!
//! | need | item |
//! |---|---|
//! | a context per request, cancelled with [`ClientDisconnected`] when the client goes away | [`ContextLayer`] (tower), [`Ctx`] (axum extractor) |
//! | a deadline from the caller: `grpc-timeout`, `connect-timeout-ms` | read by [`ContextLayer`]; 400 if malformed, 504 (gRPC: `grpc-status: 4`) when it passes |
//! | carry the deadline to the next service | [`propagate`], [`ClientLayer::propagate_deadline`] |
//! | abort an outgoing call when its context is done | [`ClientLayer`] (hyper-util's client or any tower client) |
//! | graceful shutdown: stop accepting, drain, then cancel | [`Server`] |
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use tether::Context;
//! use tether_http::{Ctx, Server, ShuttingDown};
//!
//! async fn slow(Ctx(ctx): Ctx) -> String {
//!     // Downstream work watches the request's context.
//!     tether::select! {
//!         done(ctx) => format!("stopped: {}", ctx.cause().unwrap()),
//!         after(std::time::Duration::from_millis(10)) => "finished".to_string(),
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let (root, stop) = Context::background().with_cancel();
//! let server = Server::new(&root);
//! let app = Router::new().route("/slow", get(slow)).layer(server.layer());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let running = tokio::spawn(server.serve(listener, app));
//! // ... serve requests ...
//! stop.cancel_with_cause(Arc::new(ShuttingDown));
//! running.await.unwrap();
//! # });
//! ```
//!
//! # The deadline headers
//!
//! The layer reads, and [`propagate`] writes, two *relative* deadline
//! headers (see [`headers`]): gRPC's `grpc-timeout` in its exact format (1
//! to 8 digits and one unit of `H M S m u n`), and, for plain HTTP,
//! `connect-timeout-ms` (1 to 10 digits of milliseconds), the Connect
//! protocol's header — a published format that existing Connect clients
//! already send. When both are present the shorter wins.
//!
//! # Limits
//!
//! A request's context learns that the client went away only when hyper
//! drops the handler's future (or the response body). When that happens:
//!
//! - **HTTP/2**: as soon as the client resets the stream (RST_STREAM, which
//!   clients send when a call is cancelled), or the connection closes.
//! - **HTTP/1.1**: hyper reads the socket — and so sees the end of the
//!   connection — only when it has nothing else to read: once the request
//!   body has been read to its end or dropped. That is at once for a
//!   request without a body (GET), and before the handler runs for
//!   handlers whose extractors read the whole body (`Json`, `Bytes`,
//!   `String`); then the disconnect drops the handler's future within
//!   moments. A client that leaves while its body is still being read is
//!   seen only by the handler, as an error from its next body read: the
//!   context is cancelled when the handler then returns, and not at all
//!   while a handler that never reads its body waits (until its deadline).
//!   A client that only half-closes (shuts down its sending side) counts as
//!   gone, hyper's default.
//! - **Streaming responses**: the context lives while the body streams,
//!   and a client that leaves mid-stream is noticed as above — at once on
//!   HTTP/2, and on HTTP/1 too, since the request body is over by then —
//!   whether or not a frame is being written at that moment.
//! - **A silent peer** (a cable pulled, a machine that froze) sends
//!   nothing, so nothing is noticed until a write times out; HTTP/2
//!   keep-alive pings or TCP keep-alive are the remedy, outside this crate.
//! - **Upgraded connections** (WebSocket): the request's context ends with
//!   the `101` response; the upgraded connection needs its own context.
//! - **Relative deadlines** cannot count the time a request spends in
//!   transit: when A passes its deadline to B, B's deadline (B's arrival
//!   plus the time A had left, rounded down) can be later than A's by up to
//!   the one-way trip. A's own client layer aborts the call at A's deadline
//!   regardless.
//!
//! Where the handler's future is dropped for another reason (an outer
//! middleware's timeout, say), the cause is still [`ClientDisconnected`]:
//! whoever was waiting for the answer stopped waiting.
#![warn(missing_docs)]

mod body;
mod client;
mod end;
mod error;
mod extract;
pub mod headers;
mod layer;
mod propagate;
mod server;

pub use body::ContextBody;
pub use client::{CallFuture, ClientBody, ClientError, ClientLayer, ClientService};
pub use error::{ClientDisconnected, ShuttingDown};
pub use extract::{Ctx, MissingContext};
pub use layer::{ContextLayer, ContextService, HEADER_TIMEOUT_CAP, ResponseFuture};
pub use propagate::propagate;
pub use server::{DEFAULT_GRACE, Server, Shutdown};

/// The crate README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
