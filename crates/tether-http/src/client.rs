//! The client side: [`ClientLayer`] aborts outgoing calls when their
//! context is done, and (opt-in) carries its deadline to the server.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tether::Context;
use tether::ctx::{Cause, Error};
use tower::{Layer, Service};

use crate::end::{Watch, watch};

/// A tower [`Layer`] for HTTP clients — hyper-util's `Client`, or any tower
/// `Service<http::Request<B>>` — that ties each call to the [`Context`] in
/// the request's extensions:
///
/// - the call fails with [`ClientError::Aborted`] carrying the context's
///   [cause](Context::cause) as soon as the context is done — before the
///   request is sent if it already is, while waiting for the response, or
///   while the response body is being read. The inner call's future (or
///   body) is dropped, which makes hyper close the HTTP/1 connection or
///   reset the HTTP/2 stream, so the server notices too;
/// - with [`propagate_deadline`](ClientLayer::propagate_deadline), the
///   context's remaining time is written into the request's deadline
///   headers ([`propagate`](crate::propagate)). It is opt-in per client,
///   so a deadline is never sent to a third party by accident.
///
/// A request without a `Context` in its extensions passes through
/// untouched.
///
/// ```no_run
/// use http_body_util::Empty;
/// use bytes::Bytes;
/// use hyper_util::{client::legacy::Client, rt::TokioExecutor};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tether_http::ClientLayer;
///
/// # async fn call(ctx: &tether::Context) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
/// // Our own service B: it may see our deadline.
/// let service_b = ServiceBuilder::new().layer(ClientLayer::new().propagate_deadline()).service(hyper_client);
///
/// let mut req = http::Request::get("http://127.0.0.1:8080/work").body(Empty::new())?;
/// req.extensions_mut().insert(ctx.clone()); // the call runs under ctx
/// let resp = service_b.oneshot(req).await?;
/// # drop(resp); Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientLayer {
    propagate: bool,
}

impl ClientLayer {
    /// Aborts calls whose context is done; sends no deadline header.
    ///
    /// ```
    /// let layer = tether_http::ClientLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> ClientLayer {
        ClientLayer { propagate: false }
    }

    /// Also writes each call's remaining time into its deadline headers
    /// (see [`propagate`](crate::propagate)). Use it only for clients of
    /// servers you trust with your deadlines (your own services).
    ///
    /// ```
    /// let layer = tether_http::ClientLayer::new().propagate_deadline();
    /// # drop(layer);
    /// ```
    pub fn propagate_deadline(mut self) -> ClientLayer {
        self.propagate = true;
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService { inner, propagate: self.propagate }
    }
}

/// The service [`ClientLayer`] wraps around a client `S`.
///
/// ```
/// use std::sync::Arc;
/// use tether::Context;
/// use tether_http::{ClientError, ClientLayer};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // Any tower service works: this one never answers.
/// let never = service_fn(|_req: http::Request<()>| std::future::pending::<Result<http::Response<axum::body::Body>, std::io::Error>>());
/// let client = ClientLayer::new().layer(never);
///
/// let (ctx, cancel) = Context::background().with_cancel();
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ctx);
/// let call = tokio::spawn(client.oneshot(req));
/// cancel.cancel_with_cause(Arc::new(tether_http::ShuttingDown));
/// let err = call.await.unwrap().unwrap_err();
/// assert!(err.cause().unwrap().downcast_ref::<tether_http::ShuttingDown>().is_some());
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    propagate: bool,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ClientService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ClientBody<ResB>>;
    type Error = ClientError<S::Error>;
    type Future = CallFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ClientError::Inner)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let Some(ctx) = req.extensions().get::<Context>().cloned() else {
            return CallFuture { fut: Some(self.inner.call(req)), watch: None, failed: None };
        };
        if let Some(cause) = ctx.cause() {
            // Done already: Go's client fails at once, sending nothing.
            return CallFuture { fut: None, watch: None, failed: Some(cause) };
        }
        if self.propagate {
            crate::propagate(&ctx, &mut req);
        }
        CallFuture { fut: Some(self.inner.call(req)), watch: Some(watch(ctx)), failed: None }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ClientService::call`]: the inner call, raced against
    /// its context.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner call (hyper then abandons the request).
    ///
    /// ```
    /// fn is_future<F: std::future::Future>() {}
    /// is_future::<tether_http::CallFuture<std::future::Ready<Result<http::Response<()>, std::io::Error>>>>();
    /// ```
    pub struct CallFuture<F> {
        #[pin]
        fut: Option<F>,
        watch: Option<Watch>,
        failed: Option<Cause>,
    }
}

impl<F, B, E> Future for CallFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ClientBody<B>>, ClientError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(cause) = this.failed.take() {
            return Poll::Ready(Err(ClientError::Aborted(cause)));
        }
        let fut = this.fut.as_mut().as_pin_mut().expect("CallFuture polled after completion");
        // The response first: one that has arrived is worth more than the
        // news that the context ended meanwhile.
        if let Poll::Ready(out) = fut.poll(cx) {
            this.fut.set(None);
            let watch = this.watch.take();
            return Poll::Ready(match out {
                Ok(resp) => Ok(resp.map(|body| ClientBody { body, watch })),
                Err(e) => Err(ClientError::Inner(e)),
            });
        }
        if let Some(w) = this.watch {
            if let Poll::Ready(ctx) = w.as_mut().poll(cx) {
                this.fut.set(None);
                return Poll::Ready(Err(ClientError::Aborted(cause_of(&ctx))));
            }
        }
        Poll::Pending
    }
}

impl<F> fmt::Debug for CallFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture").field("watched", &self.watch.is_some()).finish_non_exhaustive()
    }
}

fn cause_of(ctx: &Context) -> Cause {
    ctx.cause().unwrap_or_else(|| Error::Canceled.as_cause())
}

pin_project_lite::pin_project! {
    /// A response body read under the call's context: once the context is
    /// done, the next read that would wait fails with
    /// [`ClientError::Aborted`] instead (frames already received are still
    /// delivered), and the inner body is dropped with the body.
    ///
    /// ```
    /// fn is_body<B: http_body::Body>() {}
    /// is_body::<tether_http::ClientBody<axum::body::Body>>();
    /// ```
    pub struct ClientBody<B> {
        #[pin]
        body: B,
        watch: Option<Watch>,
    }
}

impl<B> ClientBody<B> {
    /// The inner body, no longer tied to the context.
    ///
    /// ```
    /// # fn f(b: tether_http::ClientBody<axum::body::Body>) {
    /// let inner: axum::body::Body = b.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> B {
        self.body
    }
}

impl<B: Body> Body for ClientBody<B> {
    type Data = B::Data;
    type Error = ClientError<B::Error>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Result<Frame<B::Data>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            if frame.is_none() {
                *this.watch = None; // over: the context no longer matters
            }
            return Poll::Ready(frame.map(|f| f.map_err(ClientError::Inner)));
        }
        if let Some(w) = this.watch {
            if let Poll::Ready(ctx) = w.as_mut().poll(cx) {
                *this.watch = None;
                return Poll::Ready(Some(Err(ClientError::Aborted(cause_of(&ctx)))));
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<B> fmt::Debug for ClientBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBody").field("watched", &self.watch.is_some()).finish_non_exhaustive()
    }
}

/// The error of a [`ClientService`] call or of reading its [`ClientBody`].
///
/// ```
/// use std::sync::Arc;
/// use tether_http::{ClientDisconnected, ClientError};
///
/// let err: ClientError<std::io::Error> = ClientError::Aborted(Arc::new(ClientDisconnected));
/// assert!(err.is_aborted());
/// assert_eq!(err.to_string(), "call aborted: client disconnected before the response was complete");
/// ```
#[derive(Debug)]
pub enum ClientError<E> {
    /// The call's context was done first; this is its
    /// [cause](Context::cause) (downcast it to learn why: a deadline, the
    /// incoming request's client going away, a shutdown).
    Aborted(Cause),
    /// The inner service (or body) failed.
    Inner(E),
}

impl<E> ClientError<E> {
    /// True if the context ended the call.
    ///
    /// ```
    /// let err = tether_http::ClientError::<std::io::Error>::Aborted(tether::ctx::Error::Canceled.as_cause());
    /// assert!(err.is_aborted());
    /// ```
    pub fn is_aborted(&self) -> bool {
        matches!(self, ClientError::Aborted(_))
    }

    /// The context's cause, if the context ended the call.
    ///
    /// ```
    /// use tether::ctx::Error;
    /// let err = tether_http::ClientError::<std::io::Error>::Aborted(Error::DeadlineExceeded.as_cause());
    /// assert_eq!(err.cause().unwrap().downcast_ref::<Error>(), Some(&Error::DeadlineExceeded));
    /// ```
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            ClientError::Aborted(c) => Some(c),
            ClientError::Inner(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for ClientError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Aborted(cause) => write!(f, "call aborted: {cause}"),
            ClientError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ClientError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Aborted(cause) => Some(&**cause),
            // Transparent: Display already shows `e`.
            ClientError::Inner(e) => e.source(),
        }
    }
}
