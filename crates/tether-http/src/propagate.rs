//! [`propagate`]: a context's remaining time, in an outgoing request.

use http::Request;
use tether::Context;

use crate::headers::{self, CONNECT_TIMEOUT_MS, GRPC_TIMEOUT};

/// Writes the time `ctx` has left into `req` as
/// [`grpc-timeout`](crate::headers::GRPC_TIMEOUT) and
/// [`connect-timeout-ms`](crate::headers::CONNECT_TIMEOUT_MS), so the
/// server that receives it works under the same deadline. Relative on
/// purpose: the two machines' clocks need not agree.
///
/// - The remaining time is read from tether's clock
///   ([`tether::time::now`], virtual in tests) and rounded *down*, so the
///   header never promises more time than is left; the server's deadline
///   is further shortened by the time the request spends in transit.
/// - A context without a deadline writes nothing (and leaves the headers
///   as they are). A context already past its deadline writes zero.
/// - A deadline header the request already carries is kept if it is
///   shorter (a per-call timeout set by the caller); otherwise it is
///   replaced.
///
/// Call it only for servers that should see your deadline: a third party
/// learns from it how long you are willing to wait.
/// [`ClientLayer::propagate_deadline`](crate::ClientLayer::propagate_deadline)
/// calls it for every request of one client.
///
/// ```
/// use std::time::Duration;
/// use tether::Context;
/// use tether_http::headers;
///
/// let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(2));
/// let mut req = http::Request::get("http://127.0.0.1/").body(()).unwrap();
/// tether_http::propagate(&ctx, &mut req);
/// let sent = headers::timeout(req.headers()).unwrap().unwrap();
/// assert!(sent <= Duration::from_secs(2) && sent > Duration::from_secs(1));
///
/// let mut req = http::Request::get("http://127.0.0.1/").body(()).unwrap();
/// tether_http::propagate(&Context::background(), &mut req); // no deadline: nothing written
/// assert!(req.headers().is_empty());
/// ```
pub fn propagate<B>(ctx: &Context, req: &mut Request<B>) {
    let Some(deadline) = ctx.deadline() else { return };
    let left = deadline.saturating_duration_since(tether::time::now());
    let h = req.headers_mut();
    let shorter = |name, parse: fn(&http::HeaderValue) -> Result<_, _>| {
        h.get(&name).and_then(|v| parse(v).ok()).is_some_and(|given| given <= left)
    };
    let keep_grpc = shorter(GRPC_TIMEOUT, headers::parse_grpc_timeout);
    let keep_connect = shorter(CONNECT_TIMEOUT_MS, headers::parse_connect_timeout);
    if !keep_grpc {
        h.insert(GRPC_TIMEOUT, headers::grpc_timeout_value(left));
    }
    if !keep_connect {
        h.insert(CONNECT_TIMEOUT_MS, headers::connect_timeout_value(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn req() -> Request<()> {
        Request::new(())
    }

    #[test]
    fn never_more_than_left_and_rounded_down() {
        let (ctx, _c) = Context::background().with_timeout(Duration::from_millis(1500));
        let deadline = ctx.deadline().unwrap();
        let before = Instant::now();
        let mut r = req();
        propagate(&ctx, &mut r);
        let after = Instant::now();
        let grpc = headers::parse_grpc_timeout(&r.headers()[GRPC_TIMEOUT]).unwrap();
        let connect = headers::parse_connect_timeout(&r.headers()[CONNECT_TIMEOUT_MS]).unwrap();
        // Read at some instant between `before` and `after`, rounded down
        // by at most one unit (a microsecond for grpc, a millisecond here).
        assert!(grpc <= deadline - before, "{grpc:?}");
        assert!(grpc + Duration::from_micros(1) >= deadline - after, "{grpc:?}");
        assert!(connect <= deadline - before, "{connect:?}");
        assert!(connect + Duration::from_millis(1) >= deadline - after, "{connect:?}");
    }

    #[test]
    fn expired_context_writes_zero() {
        let (ctx, _c) = Context::background().with_timeout(Duration::ZERO);
        let mut r = req();
        propagate(&ctx, &mut r);
        assert_eq!(r.headers()[GRPC_TIMEOUT], "0n");
        assert_eq!(r.headers()[CONNECT_TIMEOUT_MS], "0");
    }

    #[test]
    fn shorter_header_given_by_the_caller_is_kept_longer_replaced() {
        let (ctx, _c) = Context::background().with_timeout(Duration::from_secs(60));
        let mut r = req();
        r.headers_mut().insert(GRPC_TIMEOUT, http::HeaderValue::from_static("5S"));
        r.headers_mut().insert(CONNECT_TIMEOUT_MS, http::HeaderValue::from_static("99999999"));
        propagate(&ctx, &mut r);
        assert_eq!(r.headers()[GRPC_TIMEOUT], "5S");
        let connect = headers::parse_connect_timeout(&r.headers()[CONNECT_TIMEOUT_MS]).unwrap();
        assert!(connect <= Duration::from_secs(60));
        // A malformed one is replaced, not forwarded.
        r.headers_mut().insert(GRPC_TIMEOUT, http::HeaderValue::from_static("soon"));
        propagate(&ctx, &mut r);
        assert!(headers::parse_grpc_timeout(&r.headers()[GRPC_TIMEOUT]).is_ok());
    }

    #[test]
    fn no_deadline_writes_nothing() {
        let (ctx, _c) = Context::background().with_cancel();
        let mut r = req();
        propagate(&ctx, &mut r);
        assert!(r.headers().is_empty());
    }
}
