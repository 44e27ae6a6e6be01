//! The tether tour: every concept of Go's concurrency deep dive, live.
//!
//! Run it with `cargo run --release --example tour`. Each section is a
//! file beside this one and prints what happens as it happens.

mod chan;
mod ctx;
mod rate;
mod structured;
mod sync;

fn main() {
    println!("tether tour — Go's concurrency toolkit, structured, for threads and tasks\n");
    section("1. Contexts: timeouts, cancellation with a cause, values", ctx::run);
    section("2. Channels and select: buffered, unbuffered, close, timeouts, default", chan::run);
    section("3. Structured tasks: a leak caught and fixed, the worker pool, errgroup", structured::run);
    section("4. Shared state: config hot-reload (AtomicValue), producer/consumer (Cond)", sync::run);
    section("5. Rate limiting and tickers, on real and virtual time", rate::run);
}

fn section(title: &str, run: fn()) {
    println!("━━ {title}");
    let started = std::time::Instant::now();
    run();
    println!("   (section took {:.0?})\n", started.elapsed());
}
