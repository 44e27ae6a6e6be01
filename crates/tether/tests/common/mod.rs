//! Helpers shared by the integration tests: a watchdog so that a hang
//! fails the test instead of stalling CI, and a tokio runtime helper.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

/// How long any single test may run before it is declared hung.
pub const HANG: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread and fails the test if it does not finish
/// within [`HANG`]. Panics inside `f` are re-raised.
pub fn watchdog<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(HANG) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match h.join().unwrap() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test hung for more than {HANG:?}"),
    }
}

/// Runs an async test body on a multi-threaded tokio runtime, failing it
/// if it does not complete within [`HANG`].
pub fn block_on<F: std::future::Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send + 'static,
{
    watchdog(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(f)
    })
}

/// Runs an async test body on a current-thread runtime, with the watchdog.
pub fn block_on_local<F: std::future::Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send + 'static,
{
    watchdog(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(f)
    })
}

/// Polls a future by hand with a no-op waker: `Some(output)` if ready.
pub fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// The end-of-test leak check: every task tether started before this call
/// has ended (after `tether::leak::verify_none`'s short retries).
///
/// Robust under parallel tests: `verify_none` judges only tasks that were
/// alive when it was called *and* still alive when its ~1.5 s window ran
/// out, so tasks that neighbouring tests start, or end a moment later, are
/// not blamed on this one; a real leak never ends, so it is still reported
/// (its spawn site says which test made it). Tests that leak on purpose
/// check with a `tether::leak::Tracker` and a short window, and clean up.
pub fn assert_no_leaks() {
    if let Err(e) = tether::leak::verify_none() {
        panic!("{e}");
    }
}
