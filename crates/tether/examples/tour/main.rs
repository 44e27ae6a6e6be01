//! The tether tour: every concept of Go's concurrency deep dive, live.
//!
//! Run it with `cargo run --release --example tour`. Each section is a
//! file beside this one and prints what happens as it happens.

mod ctx;

fn main() {
    println!("tether tour — Go's concurrency toolkit, structured, for threads and tasks\n");
    section("1. Contexts: timeouts, cancellation with a cause, values", ctx::run);
}

fn section(title: &str, run: fn()) {
    println!("━━ {title}");
    let started = std::time::Instant::now();
    run();
    println!("   (section took {:.0?})\n", started.elapsed());
}
