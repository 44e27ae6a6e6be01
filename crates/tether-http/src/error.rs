//! The causes this crate records on the contexts it cancels.

use std::fmt;
use std::sync::OnceLock;

use tether::ctx::Cause;

/// The cause of a request context whose handler future was dropped before
/// it completed, or whose response body was dropped before its end: the
/// client went away (closed the connection, reset the HTTP/2 stream), or
/// whatever drove the request stopped waiting for it.
///
/// ```
/// use std::sync::Arc;
/// use tether::Context;
/// use tether_http::ClientDisconnected;
///
/// let (ctx, cancel) = Context::background().with_cancel();
/// cancel.cancel_with_cause(Arc::new(ClientDisconnected));
/// assert!(ctx.cause().unwrap().downcast_ref::<ClientDisconnected>().is_some());
/// assert_eq!(ClientDisconnected.to_string(), "client disconnected before the response was complete");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientDisconnected;

impl fmt::Display for ClientDisconnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client disconnected before the response was complete")
    }
}

impl std::error::Error for ClientDisconnected {}

impl ClientDisconnected {
    /// One shared `Cause` for every disconnect: recording it allocates
    /// nothing.
    pub(crate) fn cause() -> Cause {
        static CAUSE: OnceLock<Cause> = OnceLock::new();
        CAUSE.get_or_init(|| std::sync::Arc::new(ClientDisconnected)).clone()
    }
}

/// The cause to cancel a server's root context with to shut it down
/// ("server shutting down"): [`Server`](crate::Server) stops accepting,
/// lets in-flight requests finish within the grace period, then cancels
/// them with the root's cause.
///
/// ```
/// use std::sync::Arc;
/// use tether::Context;
/// use tether_http::ShuttingDown;
///
/// let (root, stop) = Context::background().with_cancel();
/// stop.cancel_with_cause(Arc::new(ShuttingDown));
/// assert_eq!(root.cause().unwrap().to_string(), "server shutting down");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShuttingDown;

impl fmt::Display for ShuttingDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("server shutting down")
    }
}

impl std::error::Error for ShuttingDown {}
