//! Rate limiting: a token bucket with the semantics of Go's
//! `golang.org/x/time/rate`, and a lock-free [`allow`](Limiter::allow).
//!
//! A [`Limiter`] holds up to `burst` tokens, starts full and refills at a
//! [`Limit`] rate; each event takes a token. Callers either drop events
//! that find no token ([`allow`](Limiter::allow)), reserve tokens due in
//! the future ([`reserve`](Limiter::reserve)), or wait for them
//! ([`wait`](Limiter::wait) in async code, [`wait_blocking`](Limiter::wait_blocking)
//! on threads), bounded by a [`Context`](crate::Context).
//!
//! | Go (`x/time/rate`) | tether |
//! |---|---|
//! | `rate.NewLimiter(r, b)` | [`Limiter::new(limit, burst)`](Limiter::new) |
//! | `rate.Every(d)`, `rate.Inf` | [`Limit::every(d)`](Limit::every), [`Limit::INF`] |
//! | `lim.Allow()`, `lim.AllowN(t, n)` | [`allow()`](Limiter::allow), [`allow_n(t, n)`](Limiter::allow_n) |
//! | `lim.Reserve()`, `lim.ReserveN(t, n)` | [`reserve()`](Limiter::reserve), [`reserve_n(t, n)`](Limiter::reserve_n) |
//! | `r.OK()`, `r.DelayFrom(t)`, `r.CancelAt(t)` | [`ok()`](Reservation::ok), [`delay_from(t)`](Reservation::delay_from), [`cancel_at(t)`](Reservation::cancel_at) |
//! | `lim.Wait(ctx)`, `lim.WaitN(ctx, n)` | [`wait(&ctx).await`](Limiter::wait), [`wait_n(&ctx, n).await`](Limiter::wait_n), `*_blocking` |
//! | `lim.SetLimit`, `SetBurst`, `TokensAt` | [`set_limit`](Limiter::set_limit), [`set_burst`](Limiter::set_burst), [`tokens_at`](Limiter::tokens_at) |
//!
//! Differences from Go, all on the side of telling you sooner: a wait that
//! could never be satisfied (a [`Limit::ZERO`] limiter short of tokens)
//! fails at once with [`WaitError::WouldExceedDeadline`] instead of
//! blocking until its context ends; cancelling a reservation twice gives
//! the tokens back once.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use tether::{Context, rate::{Limit, Limiter}};
//!
//! // 1000 requests per second on average, bursts of up to 5.
//! let lim = Limiter::new(Limit::every(Duration::from_millis(1)), 5);
//! let ctx = Context::background();
//! for _ in 0..8 {
//!     lim.wait(&ctx).await?; // the first 5 pass at once, then one per ms
//! }
//! # Ok::<(), tether::rate::WaitError>(())
//! # }).unwrap();
//! ```
//!
//! # Cost
//!
//! `allow` loads the bucket (one cache line), reads tether's fast clock as
//! integer nanoseconds (the CPU's time-stamp counter, unordered: a reading
//! a few ns early counts as the bucket's last update, which Go's rule for
//! earlier requests covers) and compares once; only when it grants does it
//! write (one compare-and-swap). No lock, and no write at all when it
//! refuses, so refusals from many threads do not contend (the clock itself
//! republishes its scaling about once a millisecond, whoever reads it).
//! Reservations, cancels and setters take a mutex (they are rarer, and
//! Go's `lastEvent` bookkeeping needs it). The numbers against governor
//! are in the README.

mod error;
mod limit;
mod limiter;

pub use error::WaitError;
pub use limit::Limit;
pub use limiter::{Limiter, Reservation};
