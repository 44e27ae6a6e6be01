//! [`Server`]: serves HTTP/1 and HTTP/2 until its root context is done,
//! then shuts down gracefully.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tether::Context;
use tether::ctx::{CancelHandle, Error};
use tether::sync::WaitGroup;
use tokio::net::TcpListener;
use tower::Service;

use crate::ContextLayer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long in-flight requests may run on after the shutdown signal, unless
/// [`Server::grace_period`] says otherwise: short enough to finish inside
/// the usual 30 s an orchestrator waits before it kills a process.
///
/// ```
/// assert_eq!(tether_http::DEFAULT_GRACE, std::time::Duration::from_secs(10));
/// ```
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The first and the longest pause after a failed `accept` (out of file
/// descriptors, say): waiting beats spinning on an error that persists.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

/// An HTTP server (HTTP/1.1 and HTTP/2 with prior knowledge, on hyper-util)
/// with Go's graceful shutdown, driven by a root [`Context`].
///
/// Request contexts do not hang directly off `root`: they are children of
/// the server's [request root](Server::request_root), which has `root`'s
/// values and deadline but is cancelled only by the server. That is what
/// lets requests outlive the shutdown signal by a grace period. Wrap the
/// app in [`Server::layer`] so its request contexts come from there.
///
/// # Shutdown
///
/// When `root` is done (cancel it with the cause
/// [`ShuttingDown`](crate::ShuttingDown)):
///
/// 1. the listener is closed: new connections are refused;
/// 2. every connection is told to finish: idle HTTP/1 connections close at
///    once, busy ones after their current response (keep-alive is turned
///    off); HTTP/2 connections get a GOAWAY and finish their open streams;
/// 3. if all that is not over within the [grace period](Server::grace_period),
///    every request context still in flight is cancelled with `root`'s
///    cause, and every connection is dropped (which drops the handlers that
///    ignored the cancellation);
/// 4. [`serve`](Server::serve) returns once every task it started has
///    ended — connections and HTTP/2 streams alike, each one registered
///    with [`tether::leak`] while it runs.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use tether::Context;
/// use tether_http::{Server, Shutdown, ShuttingDown};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (root, stop) = Context::background().with_cancel();
/// let server = Server::new(&root).grace_period(Duration::from_secs(5));
/// let app = Router::new().route("/", get(|| async { "hello" })).layer(server.layer());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let running = tokio::spawn(server.serve(listener, app));
///
/// stop.cancel_with_cause(Arc::new(ShuttingDown));
/// assert_eq!(running.await.unwrap(), Shutdown::Drained);
/// # });
/// ```
#[derive(Debug)]
pub struct Server {
    root: Context,
    requests: Context,
    cut_off: CancelHandle,
    grace: Duration,
}

/// How [`Server::serve`] ended.
///
/// ```
/// let s = tether_http::Shutdown::GraceExpired { cut_off: 2 };
/// assert_ne!(s, tether_http::Shutdown::Drained);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every connection finished within the grace period.
    Drained,
    /// The grace period ran out: `cut_off` tasks (connections and HTTP/2
    /// streams) were still running, and were cancelled and dropped.
    GraceExpired {
        /// Tasks still running when the grace period ended.
        cut_off: usize,
    },
}

impl Server {
    /// A server that runs until `root` is done, with the
    /// [`DEFAULT_GRACE`] period.
    ///
    /// ```
    /// let server = tether_http::Server::new(&tether::Context::background());
    /// assert!(!server.request_root().is_done());
    /// ```
    pub fn new(root: &Context) -> Server {
        // Values and deadline of `root`, but not its cancellation.
        let detached = root.without_cancel();
        let (requests, cut_off) = match root.deadline() {
            Some(at) => detached.with_deadline(at),
            None => detached.with_cancel(),
        };
        Server { root: root.clone(), requests, cut_off, grace: DEFAULT_GRACE }
    }

    /// How long in-flight requests may run on after `root` is done before
    /// they are cancelled.
    ///
    /// ```
    /// use std::time::Duration;
    /// let server = tether_http::Server::new(&tether::Context::background()).grace_period(Duration::from_secs(2));
    /// # drop(server);
    /// ```
    pub fn grace_period(mut self, grace: Duration) -> Server {
        self.grace = grace;
        self
    }

    /// A [`ContextLayer`] whose request contexts are children of this
    /// server's [request root](Server::request_root). Add
    /// [`max_timeout`](ContextLayer::max_timeout) as you like.
    ///
    /// ```
    /// use std::time::Duration;
    /// let server = tether_http::Server::new(&tether::Context::background());
    /// let layer = server.layer().max_timeout(Duration::from_secs(30));
    /// # drop(layer);
    /// ```
    pub fn layer(&self) -> ContextLayer {
        ContextLayer::new(&self.requests)
    }

    /// The parent of every request context: `root`'s values and deadline,
    /// cancelled only when the grace period runs out (with `root`'s cause)
    /// or when the server ends.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (root, _stop) = tether::Context::background().with_timeout(Duration::from_secs(60));
    /// let server = tether_http::Server::new(&root);
    /// assert_eq!(server.request_root().deadline(), root.deadline());
    /// ```
    pub fn request_root(&self) -> &Context {
        &self.requests
    }

    /// Accepts connections on `listener` and serves `app` on each, until
    /// the root context is done; then shuts down as described
    /// [above](Server#shutdown) and returns how that went. Needs a tokio
    /// runtime.
    ///
    /// Errors of single connections (a client that resets, a malformed
    /// request) end only that connection. A failed `accept` is retried
    /// after a short pause.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels every request context (cause
    /// [`Canceled`](tether::ctx::Error::Canceled)) and drops every
    /// connection as soon as its task next runs, without waiting for them.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (root, stop) = tether::Context::background().with_cancel();
    /// let server = tether_http::Server::new(&root);
    /// let app = Router::new().route("/", get(|| async { "hi" })).layer(server.layer());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// drop(stop); // already shutting down: serve returns at once
    /// assert_eq!(server.serve(listener, app).await, tether_http::Shutdown::Drained);
    /// # });
    /// ```
    pub async fn serve<S, B>(self, listener: TcpListener, app: S) -> Shutdown
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let Server { root, requests, cut_off, grace } = self;
        let tasks = WaitGroup::new();
        let mut backoff = ACCEPT_BACKOFF.0;
        loop {
            match race(root.done(), poll_fn(|cx| listener.poll_accept(cx))).await {
                Winner::First(()) => break,
                Winner::Second(Ok((stream, _peer))) => {
                    backoff = ACCEPT_BACKOFF.0;
                    // Small responses go out at once, not after a delayed ACK.
                    let _ = stream.set_nodelay(true);
                    // This connection's own children of the two signals: a
                    // busy connection polls them on every wake-up, and its
                    // own scopes' locks are shared with no other connection.
                    let (graceful, graceful_handle) = root.with_cancel();
                    let (hard, hard_handle) = requests.with_cancel();
                    let builder = auto::Builder::new(Spawner { tasks: tasks.clone(), stop: hard.clone() });
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(app.clone()))
                        .into_owned();
                    tasks.go(async move {
                        let _handles = (graceful_handle, hard_handle); // end with the task
                        let mut conn = pin!(conn);
                        match race(conn.as_mut(), race(graceful.done(), hard.done())).await {
                            Winner::First(_) | Winner::Second(Winner::Second(())) => return,
                            Winner::Second(Winner::First(())) => conn.as_mut().graceful_shutdown(),
                        }
                        // Finish in flight, unless the grace period runs out first.
                        let _ = race(conn.as_mut(), hard.done()).await;
                    });
                }
                Winner::Second(Err(_)) => {
                    if let Winner::First(()) = race(root.done(), tether::time::sleep(backoff)).await {
                        break;
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                }
            }
        }
        drop(listener); // refuse new connections from now on
        let outcome = match race(tasks.wait(), tether::time::sleep(grace)).await {
            Winner::First(()) => Shutdown::Drained,
            Winner::Second(()) => {
                let cut = tasks.count();
                cut_off.cancel_with_cause(root.cause().unwrap_or_else(|| Error::Canceled.as_cause()));
                tasks.wait().await;
                Shutdown::GraceExpired { cut_off: cut }
            }
        };
        drop(cut_off);
        outcome
    }
}

/// hyper's executor for HTTP/2 streams: each stream's task goes through
/// tether (so [`tether::leak`] sees it and shutdown waits for it) and is
/// dropped once the server cuts requests off.
#[derive(Clone)]
struct Spawner {
    tasks: WaitGroup,
    stop: Context,
}

impl<F> hyper::rt::Executor<F> for Spawner
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        let stop = self.stop.clone();
        self.tasks.go(async move {
            race(fut, stop.done()).await;
        });
    }
}

/// Which of two futures finished first.
enum Winner<A, B> {
    First(A),
    Second(B),
}

/// Runs `a` and `b` until one finishes, polling `a` first.
async fn race<A: Future, B: Future>(a: A, b: B) -> Winner<A::Output, B::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Winner::First(v));
        }
        b.as_mut().poll(cx).map(Winner::Second)
    })
    .await
}
