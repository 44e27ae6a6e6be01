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
//!   connection — only when it needs the next bytes. While the handler has
//!   not read the whole request body (or dropped it), hyper does not read,
//!   and a disconnect goes unnoticed; for a request without a body (GET),
//!   or once the body is read or dropped, the disconnect is seen at once
//!   and the handler's future is dropped. A client that only half-closes
//!   (shuts down its sending side) counts as gone, hyper's default.
//! - **Streaming responses**: a client that leaves mid-stream is noticed
//!   when a write fails, that is within a few frames.
//! - **A silent peer** (a cable pulled, a machine that froze) sends
//!   nothing, so nothing is noticed until a write times out; HTTP/2
//!   keep-alive pings or TCP keep-alive are the remedy, outside this crate.
//! - **Upgraded connections** (WebSocket): the request's context ends with
//!   the `101` response; the upgraded connection needs its own context.
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
