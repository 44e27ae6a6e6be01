//! [`ContextLayer`]: a `tether::Context` per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use tether::Context;
use tether::ctx::Error;
use tower::{Layer, Service};

use crate::body::ContextBody;
use crate::end::{RequestEnd, Watch, watch};
use crate::headers::{self, MalformedTimeout};

/// Without [`ContextLayer::max_timeout`], a deadline header asking for more
/// than this is capped to it: gRPC's format allows 99,999,999 hours, and no
/// request should arm a timer eleven millennia away.
///
/// ```
/// assert_eq!(tether_http::HEADER_TIMEOUT_CAP.as_secs(), 24 * 3600);
/// ```
pub const HEADER_TIMEOUT_CAP: Duration = Duration::from_secs(24 * 3600);

/// A tower [`Layer`] that gives every request its own [`Context`]: a child
/// of the root context (cancelling the root reaches every request in
/// flight), in the request's extensions, where handlers find it
/// (`req.extensions().get::<tether::Context>()`, or the [`Ctx`](crate::Ctx)
/// extractor in axum).
///
/// Cancelling the root cancels in-flight requests at once. For a shutdown
/// that lets them finish first, take the layer from
/// [`Server::layer`](crate::Server::layer), whose root follows the
/// server's after its grace period. Wrapping the whole router
/// (`layer.layer(router)`) costs less per request than `Router::layer`,
/// which boxes every route once more.
///
/// # Deadline
///
/// The request's deadline is the earliest of:
///
/// - its [`grpc-timeout`](crate::headers::GRPC_TIMEOUT) header (gRPC's
///   format, read strictly) and its
///   [`connect-timeout-ms`](crate::headers::CONNECT_TIMEOUT_MS) header;
/// - [`max_timeout`](ContextLayer::max_timeout) from the request's arrival
///   (without it, a header value is capped at [`HEADER_TIMEOUT_CAP`]);
/// - the root's deadline, if it has one.
///
/// A malformed or repeated deadline header is answered with 400 Bad
/// Request naming the header and its rule; the handler is not called. When
/// the deadline passes before the handler has answered, the context is
/// done with [`Error::DeadlineExceeded`], the handler's future is dropped,
/// and the layer answers 504 Gateway Timeout — or, for a gRPC request
/// (content-type `application/grpc` or `application/grpc+…`), HTTP 200
/// with `grpc-status: 4` (DEADLINE_EXCEEDED), as gRPC requires. An answer
/// the handler gives once the deadline has passed (even one it gives
/// because of it) is replaced by that one: the client always learns that
/// its deadline passed. A request whose time is already up on arrival
/// (`grpc-timeout: 0n`) gets that answer at once, without calling the
/// handler.
///
/// # End of the context
///
/// - The handler answered: the context lives on while the response body
///   streams, and ends (cause [`Error::Canceled`], like Go's request
///   context after `ServeHTTP` returns) once the body has yielded its last
///   frame.
/// - The handler's future or the response body was dropped before the end
///   (the client closed the connection or reset the HTTP/2 stream): the
///   context is cancelled with [`ClientDisconnected`](crate::ClientDisconnected)
///   as its cause, *before* the handler's future is dropped, so its drop
///   code already sees the cause.
///
/// When does hyper drop a handler's future? See the crate's
/// [limits](crate#limits).
///
/// # Nesting
///
/// If the request already carries a `Context` (an outer `ContextLayer`
/// put it there), the new context is a child of that one, so an inner
/// layer — a route with a shorter `max_timeout` — can only tighten the
/// deadline, never loosen it.
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use tether::Context;
/// use tether_http::{ContextLayer, Ctx};
///
/// async fn report(Ctx(ctx): Ctx) -> String {
///     format!("deadline set: {}", ctx.deadline().is_some())
/// }
///
/// let root = Context::background();
/// let app: Router = Router::new()
///     .route("/report", get(report))
///     .layer(ContextLayer::new(&root).max_timeout(Duration::from_secs(10)));
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct ContextLayer {
    root: Context,
    max_timeout: Option<Duration>,
}

impl ContextLayer {
    /// A layer whose request contexts are children of `root`.
    ///
    /// ```
    /// let layer = tether_http::ContextLayer::new(&tether::Context::background());
    /// # drop(layer);
    /// ```
    pub fn new(root: &Context) -> ContextLayer {
        ContextLayer { root: root.clone(), max_timeout: None }
    }

    /// Caps every request's deadline at `d` after its arrival, whatever its
    /// headers ask for; also the cap on huge header values.
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = tether_http::ContextLayer::new(&tether::Context::background())
    ///     .max_timeout(Duration::from_secs(30));
    /// # drop(layer);
    /// ```
    pub fn max_timeout(mut self, d: Duration) -> ContextLayer {
        self.max_timeout = Some(d);
        self
    }
}

impl<S> Layer<S> for ContextLayer {
    type Service = ContextService<S>;

    fn layer(&self, inner: S) -> ContextService<S> {
        ContextService { inner, root: self.root.clone(), max_timeout: self.max_timeout }
    }
}

/// The service [`ContextLayer`] wraps around `S`. See the layer for what
/// it does.
///
/// ```
/// use tether::Context;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let svc = tether_http::ContextLayer::new(&Context::background()).layer(service_fn(|req: http::Request<()>| async move {
///     let has_ctx = req.extensions().get::<Context>().is_some();
///     Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::from(has_ctx.to_string())))
/// }));
/// let resp = svc.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(resp.status(), 200);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct ContextService<S> {
    inner: S,
    root: Context,
    max_timeout: Option<Duration>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ContextService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body<Data = Bytes>,
{
    type Response = Response<ContextBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let asked = match headers::timeout(req.headers()) {
            Ok(t) => t,
            Err(e) => return ResponseFuture::early(bad_request(&e, is_grpc(req.headers()))),
        };
        let timeout = match (asked, self.max_timeout) {
            (Some(a), Some(max)) => Some(a.min(max)),
            (Some(a), None) => Some(a.min(HEADER_TIMEOUT_CAP)),
            (None, max) => max,
        };
        let parent = req.extensions().get::<Context>().unwrap_or(&self.root);
        let (ctx, handle) = match timeout {
            Some(t) => parent.with_timeout(t),
            None => parent.with_cancel(),
        };
        // Only a context with a deadline can need the 504 (and so the
        // content type); the others skip the watch and its allocation.
        let grpc = ctx.deadline().is_some() && is_grpc(req.headers());
        if ctx.err() == Some(Error::DeadlineExceeded) {
            return ResponseFuture::early(deadline_exceeded(grpc));
        }
        let deadline = ctx.deadline().map(|_| Deadline { watch: watch(ctx.clone()), ctx: ctx.clone() });
        let no_body = req.method() == Method::HEAD;
        req.extensions_mut().insert(ctx);
        let fut = self.inner.call(req);
        ResponseFuture {
            state: State::Running { end: Some(RequestEnd::new(handle)), fut, deadline, grpc, head: no_body },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ContextService::call`]: the handler's response, or
    /// the layer's own 400/504.
    ///
    /// # Cancel safety
    ///
    /// Dropping it before it completes is how a disconnect shows: it
    /// cancels the request's context with
    /// [`ClientDisconnected`](crate::ClientDisconnected), then drops the
    /// handler's future.
    ///
    /// ```
    /// use std::future::Future;
    /// fn is_future<F: Future>(_: &F) {}
    /// # use tower::{Layer, Service, service_fn};
    /// # let mut svc = tether_http::ContextLayer::new(&tether::Context::background())
    /// #     .layer(service_fn(|_: http::Request<()>| async {
    /// #         Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
    /// #     }));
    /// let fut: tether_http::ResponseFuture<_, axum::body::Body> = svc.call(http::Request::new(()));
    /// is_future(&fut);
    /// ```
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Early { response: Option<Response<ContextBody<B>>> },
        // `end` is declared before `fut` so that it drops first: the context
        // is already cancelled when the handler's future is dropped.
        Running { end: Option<RequestEnd>, #[pin] fut: F, deadline: Option<Deadline>, grpc: bool, head: bool },
    }
}

/// What a request with a deadline needs to answer 504 in time: a watch
/// that wakes the response future when the context ends, and the context,
/// to tell a deadline from other ends.
struct Deadline {
    watch: Watch,
    ctx: Context,
}

impl Deadline {
    fn passed(&self) -> bool {
        self.ctx.err() == Some(Error::DeadlineExceeded)
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn early(response: Response<ContextBody<B>>) -> Self {
        ResponseFuture { state: State::Early { response: Some(response) } }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
{
    type Output = Result<Response<ContextBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Early { response } => {
                Poll::Ready(Ok(response.take().expect("ResponseFuture polled after completion")))
            }
            StateProj::Running { end, fut, deadline, grpc, head } => {
                // An answer that comes after the deadline (even one made
                // because of it) is too late: the client gets the 504 the
                // contract promises. So the deadline is checked before the
                // handler is polled, and again once it has answered, since
                // it can pass while the handler runs.
                if let Some(d) = deadline {
                    if d.watch.as_mut().poll(cx).is_ready() && !d.passed() {
                        // Cancelled for another reason (the root): the
                        // handler sees it and decides what to answer.
                        *deadline = None;
                    }
                }
                let out = match deadline {
                    Some(d) if d.passed() => None,
                    _ => match fut.poll(cx) {
                        Poll::Ready(out) if !deadline.as_ref().is_some_and(Deadline::passed) => Some(out),
                        Poll::Ready(_late) => None,
                        Poll::Pending => return Poll::Pending,
                    },
                };
                let mut end = end.take().expect("ResponseFuture polled after completion");
                Poll::Ready(match out {
                    None => {
                        end.finish(); // already done: keeps DeadlineExceeded
                        Ok(deadline_exceeded(*grpc))
                    }
                    Some(Ok(resp)) => {
                        let no_body = *head || has_no_body(resp.status());
                        Ok(resp.map(|b| ContextBody::inner(b, end, no_body)))
                    }
                    Some(Err(e)) => {
                        end.finish();
                        Err(e)
                    }
                })
            }
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Early { .. } => "answered by the layer",
            State::Running { .. } => "running the handler",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}

/// Statuses whose responses never carry a body (RFC 9110 §6.4.1).
fn has_no_body(status: StatusCode) -> bool {
    status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
}

/// `application/grpc` or `application/grpc+…` (also with `;` parameters).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else { return false };
    let ct = ct.as_bytes();
    const GRPC: &[u8] = b"application/grpc";
    ct.len() >= GRPC.len()
        && ct[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(ct.get(GRPC.len()), None | Some(b'+') | Some(b';'))
}

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const GRPC_CT: HeaderValue = HeaderValue::from_static("application/grpc");
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: http::HeaderName = http::HeaderName::from_static("grpc-message");

fn bad_request<B: Body>(e: &MalformedTimeout, grpc: bool) -> Response<ContextBody<B>> {
    let mut resp = Response::new(ContextBody::own_owned(format!("{e}\n")));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, TEXT);
    if grpc {
        // Also readable by gRPC clients: INVALID_ARGUMENT. The message
        // names only the header (always ASCII), so it needs no
        // percent-encoding.
        h.insert(GRPC_STATUS, HeaderValue::from_static("3"));
        let msg = if e.header() == "grpc-timeout" {
            "malformed grpc-timeout header"
        } else {
            "malformed connect-timeout-ms header"
        };
        h.insert(GRPC_MESSAGE, HeaderValue::from_static(msg));
    }
    resp
}

fn deadline_exceeded<B: Body>(grpc: bool) -> Response<ContextBody<B>> {
    if grpc {
        // gRPC's "Trailers-Only" answer: status in the headers, no body.
        let mut resp = Response::new(ContextBody::own(""));
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, GRPC_CT);
        h.insert(GRPC_STATUS, HeaderValue::from_static("4"));
        h.insert(GRPC_MESSAGE, HeaderValue::from_static("deadline exceeded"));
        resp
    } else {
        let mut resp = Response::new(ContextBody::own("deadline exceeded: the handler did not answer in time\n"));
        *resp.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        resp.headers_mut().insert(header::CONTENT_TYPE, TEXT);
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        let yes = [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "Application/GRPC",
            "application/grpc;charset=x",
        ];
        let no = ["application/grpc-web", "application/grpcx", "application/json", "text/plain", "application/gr"];
        for (ct, want) in yes.iter().map(|c| (c, true)).chain(no.iter().map(|c| (c, false))) {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(is_grpc(&h), want, "{ct}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn bodiless_statuses() {
        assert!(has_no_body(StatusCode::NO_CONTENT));
        assert!(has_no_body(StatusCode::NOT_MODIFIED));
        assert!(has_no_body(StatusCode::CONTINUE));
        assert!(!has_no_body(StatusCode::OK));
    }
}
