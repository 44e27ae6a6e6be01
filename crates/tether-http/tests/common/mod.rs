//! Helpers for the socket tests: one test at a time per binary, a watchdog
//! so a hang fails instead of stalling CI, a leak check at the end of every
//! test, real servers on 127.0.0.1:0 and raw HTTP/1 and HTTP/2 clients.
#![allow(dead_code)]

pub mod chain;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use tether::Context;
use tether::ctx::{CancelHandle, Cause};
use tether_http::{ContextLayer, Server, Shutdown, ShuttingDown};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long any one test may run before it is declared hung. Generous: a
/// passing test takes milliseconds, even on a loaded 2-core machine.
pub const HANG: Duration = Duration::from_secs(20);

/// How long a test waits for something that must happen (a context to be
/// done, a server to stop accepting) before failing with a clear message.
pub const BOUND: Duration = Duration::from_secs(10);

/// Runs an async test on a 2-worker tokio runtime under the watchdog, one
/// test of this binary at a time, and ends it with
/// `tether::leak::verify_none()` while the runtime still runs (so tasks
/// that ended did so on their own, not by the runtime's shutdown).
///
/// Serial on purpose: the leak check sees every tether task in the
/// process, and a neighbour's live server must not be blamed on this test.
/// Each test takes milliseconds, so serial costs little.
pub fn run<F: Future<Output = ()> + Send + 'static>(test: F) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(test)));
        let leaks = tether::leak::verify_none();
        drop(rt);
        let _ = done_tx.send(());
        if let Err(p) = outcome {
            std::panic::resume_unwind(p);
        }
        if let Err(e) = leaks {
            panic!("{e}");
        }
    });
    match done_rx.recv_timeout(HANG) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = worker.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("test hung for more than {HANG:?}"),
    }
}

/// Awaits `fut`, failing the test with `what` if it takes more than
/// [`BOUND`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {BOUND:?} waiting for {what}"),
    }
}

/// Waits (bounded) until `ctx` is done and returns its cause.
pub async fn cause_of(ctx: &Context) -> Cause {
    within("the request's context to be done", ctx.done()).await;
    ctx.cause().expect("a done context has a cause")
}

/// True if `cause` is (downcasts to) a `T`.
pub fn is<T: std::error::Error + 'static>(cause: &Cause) -> bool {
    cause.downcast_ref::<T>().is_some()
}

/// Handlers send their request's context here, so that the test can watch
/// it from outside.
#[derive(Clone)]
pub struct Probe {
    tx: mpsc::UnboundedSender<Context>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Context>>>,
}

impl Probe {
    pub fn new() -> Probe {
        let (tx, rx) = mpsc::unbounded_channel();
        Probe { tx, rx: Arc::new(tokio::sync::Mutex::new(rx)) }
    }

    /// Called by a handler: reports its context.
    pub fn report(&self, ctx: &Context) {
        let _ = self.tx.send(ctx.clone());
    }

    /// The next context a handler reported (bounded wait).
    pub async fn next(&self) -> Context {
        let mut rx = self.rx.lock().await;
        within("a handler to start", rx.recv()).await.expect("probe closed")
    }
}

/// A route whose handler reports its context and then waits for it to end.
pub fn waiting(probe: &Probe) -> axum::routing::MethodRouter {
    let probe = probe.clone();
    axum::routing::get(move |tether_http::Ctx(ctx): tether_http::Ctx| async move {
        probe.report(&ctx);
        ctx.done().await;
        "the context ended"
    })
}

/// A real tether-http [`Server`] on 127.0.0.1:0.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<CancelHandle>,
    running: JoinHandle<Shutdown>,
}

impl TestServer {
    /// Serves the router that `app` builds around the server's layer.
    pub async fn start(grace: Duration, app: impl FnOnce(ContextLayer) -> Router) -> TestServer {
        Self::start_under(&Context::background(), grace, app).await
    }

    /// Like [`start`](Self::start), with the server's root a child of
    /// `parent` (for a root with a deadline or values).
    pub async fn start_under(
        parent: &Context,
        grace: Duration,
        app: impl FnOnce(ContextLayer) -> Router,
    ) -> TestServer {
        let (root, stop) = parent.with_cancel();
        let server = Server::new(&root).grace_period(grace);
        let app = app(server.layer());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let running = tokio::spawn(server.serve(listener, app));
        TestServer { addr, stop: Some(stop), running }
    }

    /// Cancels the root with [`ShuttingDown`] and waits for `serve` to end.
    pub async fn shutdown(mut self) -> Shutdown {
        self.begin_shutdown();
        self.finished().await
    }

    /// Cancels the root with [`ShuttingDown`], without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel_with_cause(Arc::new(ShuttingDown));
        }
    }

    /// Waits for `serve` to end.
    pub async fn finished(mut self) -> Shutdown {
        within("the server to shut down", &mut self.running).await.unwrap()
    }

    /// Drops the `serve` future (aborts its task) and waits until it is gone.
    pub async fn abort(mut self) {
        self.running.abort();
        let _ = within("the server task to end", &mut self.running).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A test that failed midway still stops its server.
        self.running.abort();
    }
}

/// An HTTP/1.1 or HTTP/2 (prior knowledge) client on its own connection;
/// [`disconnect`](Client::disconnect) closes the TCP connection.
pub struct Client {
    send: Sender,
    tasks: Tasks,
}

/// hyper's HTTP/2 client drives the connection in tasks of its own
/// (spawned on its executor); this executor keeps their handles so that
/// [`Client::disconnect`] can end them and so close the socket.
#[derive(Clone, Default)]
struct Tasks(Arc<Mutex<Vec<JoinHandle<()>>>>);

impl<F: Future<Output = ()> + Send + 'static> hyper::rt::Executor<F> for Tasks {
    fn execute(&self, fut: F) {
        self.0.lock().unwrap().push(tokio::spawn(fut));
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// Which HTTP version a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    H1,
    H2,
}

pub const BOTH: [Version; 2] = [Version::H1, Version::H2];

impl Client {
    pub async fn connect(addr: SocketAddr, version: Version) -> Client {
        use hyper::rt::Executor;
        let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
        let tasks = Tasks::default();
        let send = match version {
            Version::H1 => {
                let (send, conn) = http1::handshake(io).await.unwrap();
                tasks.execute(async move { drop(conn.await) });
                Sender::H1(send)
            }
            Version::H2 => {
                let (send, conn) = http2::handshake(tasks.clone(), io).await.unwrap();
                tasks.execute(async move { drop(conn.await) });
                Sender::H2(send)
            }
        };
        Client { send, tasks }
    }

    /// Sends `req`; the returned future resolves with the response head
    /// (dropping it before then abandons the request).
    pub fn send(
        &mut self,
        req: http::Request<Full<Bytes>>,
    ) -> impl Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>> + use<> {
        let fut: std::pin::Pin<Box<dyn Future<Output = _> + Send>> = match &mut self.send {
            Sender::H1(s) => Box::pin(s.send_request(req)),
            Sender::H2(s) => Box::pin(s.send_request(req)),
        };
        fut
    }

    /// Waits until the connection can take the next request (an HTTP/1
    /// connection is busy until the previous response is fully read).
    pub async fn ready(&mut self) {
        let ready = match &mut self.send {
            Sender::H1(s) => s.ready().await,
            Sender::H2(s) => s.ready().await,
        };
        ready.expect("the connection closed");
    }

    /// Sends `req` and reads the whole response.
    pub async fn fetch(&mut self, req: http::Request<Full<Bytes>>) -> (http::response::Parts, String) {
        within("the connection to be ready", self.ready()).await;
        let resp = within("a response", self.send(req)).await.expect("request failed");
        let (parts, body) = resp.into_parts();
        let bytes = within("the response body", body.collect()).await.expect("body failed").to_bytes();
        (parts, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `GET path` with `headers`, read whole.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> (http::response::Parts, String) {
        self.fetch(request(path, headers)).await
    }

    /// Closes the connection at once (the client went away).
    pub fn disconnect(self) {
        for task in self.tasks.0.lock().unwrap().drain(..) {
            task.abort();
        }
        drop(self.send);
    }
}

/// A `GET` request for `path` with the given headers.
pub fn request(path: &str, headers: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::get(format!("http://127.0.0.1{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

/// A plain TCP connection that writes raw HTTP/1 bytes: for requests a
/// well-behaved client would never send (repeated headers, odd bytes).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    within("the raw response", s.read_to_end(&mut out)).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// hyper-util's pooled client, speaking HTTP/1.1, or HTTP/2 with prior
/// knowledge.
pub fn pooled_client(version: Version) -> PooledClient {
    let mut b = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    if version == Version::H2 {
        b.http2_only(true);
    }
    b.build_http()
}

/// The client [`pooled_client`] builds.
pub type PooledClient =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// A request for `url` that runs under `ctx` (in its extensions).
pub fn under(ctx: &Context, url: String, headers: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::get(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b.body(Full::new(Bytes::new())).unwrap();
    req.extensions_mut().insert(ctx.clone());
    req
}
