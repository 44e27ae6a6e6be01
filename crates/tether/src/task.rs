//! The one place where tether starts threads and tasks, so that every task
//! it starts can be accounted for (see the `leak` module).

use std::panic::Location;

/// Starts `f` on a new OS thread named `tether-{what}`.
pub(crate) fn spawn_thread(
    what: &'static str,
    spawned_at: &'static Location<'static>,
    f: impl FnOnce() + Send + 'static,
) {
    let _ = spawned_at;
    #[cfg(not(loom))]
    {
        std::thread::Builder::new().name(format!("tether-{what}")).spawn(f).expect("tether: could not start a thread");
    }
    #[cfg(loom)]
    {
        let _ = what;
        drop(f);
    }
}
