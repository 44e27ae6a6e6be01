//! [`Limiter`]: a token bucket with Go's `golang.org/x/time/rate`
//! semantics and a lock-free `allow`.
//!
//! # Representation
//!
//! Go keeps `tokens` (a float) and `last` (when they were counted) under a
//! mutex. Here the bucket is one `AtomicU64` holding the *zero-token
//! time* `z`: the instant at which the bucket would have been empty had it
//! never been capped. At any `t` the bucket holds
//! `min(burst, (t - z) / interval)` tokens; taking `n` tokens moves `z`
//! forward by `n · interval`, and a debt (a reservation in the future) is
//! simply `z > t`. So `allow` is one load, arithmetic and one CAS.
//!
//! Times are fixed-point: `UNITS_PER_NS` units per nanosecond, counted from
//! `MID` at the limiter's creation (±18 years of range), and the interval
//! is a whole number of units (exact for every rate that divides 16·10⁹ —
//! 10/s, 0.5/s, 1000/s, 10⁸/s…; otherwise within 0.5 unit per token).
//!
//! Go's other state rides alongside: `last` (the instant of the last
//! update, used only to treat a request *earlier* than it as Go does, by
//! counting the tokens as of `last`) is a separate atomic written after the
//! CAS; `last_event` (for `cancel_at`) lives under a mutex taken by
//! reservations, cancels and setters — never by `allow`.
//!
//! With a [`Limit::ZERO`] limit the word holds a fixed-point token count
//! instead (no time passes for such a bucket); with [`Limit::INF`] it is
//! unused. The setters re-express the word under the new limit; while they
//! do, the word holds `LOCKED` and `allow` spins (setters are rare).

/// What a limiter wait waits for, in leak reports.
const WAITING_RATE: &str = "waiting on a rate limiter";

use std::time::{Duration, Instant};

use super::error::WaitError;
use super::limit::Limit;
use crate::clock;
use crate::ctx::Context;
use crate::sync_impl::{AtomicU64, Mutex, lock};
use crate::waiter::{self, Wake};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// Fixed-point time units per nanosecond.
const UNITS_PER_NS: u64 = 16;
const UNITS_PER_SEC: f64 = 1e9 * UNITS_PER_NS as f64;
/// The limiter's creation instant, in units.
const MID: u64 = 1 << 63;
/// How far `allow` lets `last` trail its grants (1 ms, in units).
const LAST_SLACK: u64 = 1_000_000 * UNITS_PER_NS;
/// The word while a setter rewrites it.
const LOCKED: u64 = u64::MAX;
/// `interval` for [`Limit::INF`].
const INTERVAL_INF: u64 = 0;
/// `interval` for [`Limit::ZERO`] (the word then counts tokens).
const INTERVAL_ZERO: u64 = u64::MAX;
/// Zero-limit token counts: `TOKENS_ZERO + tokens · TOKEN_ONE`.
const TOKEN_ONE: f64 = (1u64 << 20) as f64;
const TOKENS_ZERO: u64 = 1 << 62;

/// A token bucket that allows events up to a [`Limit`] rate with bursts of
/// at most `burst` (Go's `rate.Limiter`): the bucket holds up to `burst`
/// tokens, starts full, refills at `limit` tokens per second, and each
/// event takes one token (or `n`).
///
/// Three ways to take tokens, as in Go:
///
/// - [`allow`](Limiter::allow) / [`allow_n`](Limiter::allow_n): take them
///   if they are there now, else refuse (drop or skip the event). Lock-free.
/// - [`reserve`](Limiter::reserve) / [`reserve_n`](Limiter::reserve_n):
///   take them now or in the future (the bucket goes into debt) and get a
///   [`Reservation`] saying how long to wait; it can be cancelled.
/// - [`wait`](Limiter::wait) / [`wait_n`](Limiter::wait_n) (async) and
///   [`wait_blocking`](Limiter::wait_blocking) /
///   [`wait_n_blocking`](Limiter::wait_n_blocking) (threads): reserve and
///   sleep until the tokens are due, bounded by a [`Context`].
///
/// The `*_n` methods and [`tokens_at`](Limiter::tokens_at) take the instant
/// to act at, as Go's `AllowN`/`ReserveN` do, so tests can drive the bucket
/// with made-up instants; the short forms read tether's clock once (and so
/// follow a [`VirtualClock`](crate::time::VirtualClock)).
///
/// ```
/// use std::time::{Duration, Instant};
/// use tether::rate::{Limit, Limiter};
///
/// let lim = Limiter::new(Limit::per_second(10.0), 3); // starts with 3 tokens
/// let t0 = Instant::now();
/// assert!(lim.allow_n(t0, 3));
/// assert!(!lim.allow_n(t0, 1)); // empty
/// assert!(lim.allow_n(t0 + Duration::from_millis(100), 1)); // one token per 100 ms
///
/// // A reservation puts the bucket in debt and says how long to wait.
/// let r = lim.reserve_n(t0 + Duration::from_millis(100), 2);
/// assert_eq!(r.delay_from(t0 + Duration::from_millis(100)), Duration::from_millis(200));
/// r.cancel_at(t0 + Duration::from_millis(100)); // changed our mind: tokens back
/// ```
pub struct Limiter {
    hot: Hot,
    /// The limit as set (the interval is derived from it).
    limit: AtomicU64,
    epoch: Instant,
    /// What turns a clock reading (`clock::nanos_at` scale) into units:
    /// `units = ns · UNITS_PER_NS + units_base` (two's complement).
    units_base: u64,
    slow: Mutex<Slow>,
}

/// What `allow` touches, on its own cache line.
#[repr(align(64))]
struct Hot {
    /// The bucket: zero-token time, zero-limit token count, or `LOCKED`.
    word: AtomicU64,
    /// Go's `last`: when the bucket was last updated (units).
    last: AtomicU64,
    /// Units per token; `INTERVAL_INF` / `INTERVAL_ZERO` for the extremes.
    interval: AtomicU64,
    burst: AtomicU64,
    /// `burst · interval` (saturating): how far the zero-token time may
    /// trail "now" (a full bucket). Kept with the two, so that `allow`
    /// need not multiply.
    cap: AtomicU64,
    /// `interval` when `allow`'s fast path applies (a finite, non-zero
    /// limit and a burst of at least one), else 0: one compare instead of
    /// three. Like the other settings, setters change it while `word` is
    /// `LOCKED`, before they store the new word.
    fast: AtomicU64,
}

/// One consistent read of [`Hot`].
#[derive(Clone, Copy)]
struct Snapshot {
    word: u64,
    interval: u64,
    burst: u64,
    last: u64,
}

struct Slow {
    /// Go's `lastEvent`: when the latest reserved event may act (units).
    last_event: u64,
}

/// Tokens reserved from a [`Limiter`], due now or in the future (Go's
/// `rate.Reservation`). Dropping it keeps the tokens taken; call
/// [`cancel_at`](Reservation::cancel_at) to give them back.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tether::rate::{Limit, Limiter};
///
/// let lim = Limiter::new(Limit::per_second(2.0), 1);
/// let t0 = Instant::now();
/// let first = lim.reserve_n(t0, 1);
/// assert!(first.ok());
/// assert_eq!(first.delay_from(t0), Duration::ZERO); // act now
///
/// let second = lim.reserve_n(t0, 1); // the bucket is empty: in debt
/// assert_eq!(second.delay_from(t0), Duration::from_millis(500));
/// assert_eq!(second.tokens(), 1);
/// // Not acting after all: give the token back, so that the next
/// // reservation does not queue behind it.
/// second.cancel_at(t0);
/// assert_eq!(lim.reserve_n(t0, 1).delay_from(t0), Duration::from_millis(500));
///
/// let never = lim.reserve_n(t0, 2); // more than the burst
/// assert!(!never.ok());
/// assert_eq!(never.delay_from(t0), Duration::MAX);
/// ```
#[derive(Debug)]
pub struct Reservation<'a> {
    lim: &'a Limiter,
    ok: bool,
    tokens: usize,
    /// When the holder may act (units).
    act: u64,
    /// The interval when reserved (Go keeps the limit for `CancelAt`).
    interval: u64,
    canceled: std::sync::atomic::AtomicBool,
}

/// A plan to take tokens: the new word, when the tokens are due, and the
/// effective "now" it was computed at.
struct Plan {
    word: u64,
    act: u64,
    now: u64,
}

impl Limiter {
    /// A limiter allowing `limit` events per second on average with bursts
    /// of up to `burst`; its bucket starts full (Go's `NewLimiter`).
    ///
    /// A `burst` of zero allows nothing (unless the limit is
    /// [`Limit::INF`]); a [`Limit::ZERO`] limit allows the first `burst`
    /// events and then nothing.
    pub fn new(limit: Limit, burst: usize) -> Limiter {
        let interval = interval_of(limit);
        let burst = burst as u64;
        let word = match interval {
            INTERVAL_ZERO => encode_tokens(burst as f64),
            _ => 0, // the zero-token time as early as can be: full
        };
        let epoch = clock::now();
        Limiter {
            hot: Hot {
                word: AtomicU64::new(word),
                last: AtomicU64::new(0),
                interval: AtomicU64::new(interval),
                burst: AtomicU64::new(burst),
                cap: AtomicU64::new(units_for(burst, interval)),
                fast: AtomicU64::new(fast_interval(interval, burst)),
            },
            limit: AtomicU64::new(limit.events_per_second().to_bits()),
            epoch,
            units_base: MID.wrapping_sub(clock::nanos_at(epoch).wrapping_mul(UNITS_PER_NS)),
            slow: Mutex::new(Slow { last_event: 0 }),
        }
    }

    /// The rate (Go's `Limit()`).
    pub fn limit(&self) -> Limit {
        Limit::per_second(f64::from_bits(self.limit.load(Relaxed)))
    }

    /// The bucket size (Go's `Burst()`): the most tokens one call can take.
    pub fn burst(&self) -> usize {
        self.hot.burst.load(Relaxed) as usize
    }

    /// Takes one token if one is there now; false otherwise (Go's
    /// `Allow`). Reads the clock once; lock-free; never waits.
    ///
    /// ```
    /// use tether::rate::{Limit, Limiter};
    /// let lim = Limiter::new(Limit::per_second(1.0), 2);
    /// assert!(lim.allow());
    /// assert!(lim.allow());
    /// assert!(!lim.allow()); // the next token is a second away
    /// ```
    #[inline(always)]
    pub fn allow(&self) -> bool {
        // The clock as integer nanoseconds (no `Instant` arithmetic), read
        // without ordering the counter (a reading a few ns below another
        // thread's last update is counted as that update), once, before the
        // bucket is loaded: between the load and the CAS there is only
        // arithmetic, so two threads granting at once rarely retry, and a
        // retry uses the word the failed CAS found.
        let ns = clock::now_nanos_relaxed();
        let mut word = self.hot.word.load(Acquire);
        loop {
            let interval = self.hot.fast.load(Relaxed);
            let last = self.hot.last.load(Relaxed);
            let cap = self.hot.cap.load(Relaxed);
            if interval == 0 || word == LOCKED {
                return self.allow_slow(); // no limit, a zero one, no burst, or a setter at work
            }
            // `plan` for one token, rearranged to compare once: with a burst
            // of at least one, the token is there iff `now >= word +
            // interval` (the cap at a full bucket only matters for the new
            // word). The reading it needs is worked out in nanoseconds, so
            // the comparison waits on the counter read alone:
            // `units_ns(ns) >= need` iff `ns >= need_ns`.
            let Some(need) = word.checked_add(interval) else { return false };
            let need_ns = (need.wrapping_sub(self.units_base) as i64).saturating_add(UNITS_PER_NS as i64 - 1)
                >> UNITS_PER_NS.trailing_zeros();
            if (ns as i64) < need_ns && last < need {
                return false; // not there yet: no write at all
            }
            let now = self.units_ns(ns).max(last);
            if now < need {
                return false; // (a debt so far ahead that `need_ns` wrapped)
            }
            // At most `now` (as `need` is and the cap is at least one
            // interval), so below `LOCKED`.
            let z = word.max(now.saturating_sub(cap)) + interval;
            match self.hot.word.compare_exchange_weak(word, z, AcqRel, Acquire) {
                Ok(_) => {
                    // Go's `last`, kept within a millisecond: it decides
                    // only how a request at an explicit *earlier* instant
                    // (`allow_n`) is counted (and an earlier `last` counts
                    // it with fewer tokens, never more), while a second
                    // write to the line per grant, with two threads
                    // granting, costs as much as the grant (the line goes
                    // back and forth once more).
                    if now.wrapping_sub(last) >= LAST_SLACK {
                        self.hot.last.store(now, Relaxed);
                    }
                    return true;
                }
                Err(found) => word = found,
            }
        }
    }

    /// `allow` when a setter is at work, the limit is zero or the burst is:
    /// the general path.
    #[cold]
    #[inline(never)]
    fn allow_slow(&self) -> bool {
        if self.hot.interval.load(Relaxed) == INTERVAL_INF {
            return true;
        }
        self.take_now(self.units_ns(clock::now_nanos_relaxed()), 1, true)
    }

    /// Takes `n` tokens if they are there at `at`; false otherwise, taking
    /// nothing (Go's `AllowN`). `n` above the burst is always refused
    /// (unless the limit is [`Limit::INF`]). Lock-free.
    ///
    /// `at` may be any instant, earlier ones included: as in Go, a request
    /// earlier than the latest one is counted with the tokens as of the
    /// latest one.
    #[inline]
    pub fn allow_n(&self, at: Instant, n: usize) -> bool {
        if self.hot.interval.load(Relaxed) == INTERVAL_INF {
            return true;
        }
        self.take_now(self.units(at), n, false)
    }

    /// The `allow` fast path: one CAS, no lock, no write when refusing.
    #[inline]
    fn take_now(&self, t: u64, n: usize, monotonic: bool) -> bool {
        loop {
            let Snapshot { word, interval, burst, last } = self.snapshot();
            if interval == INTERVAL_INF {
                return true;
            }
            if n as u64 > burst {
                return false;
            }
            let Some(plan) = plan(word, last, interval, burst, t, n, monotonic) else { return false };
            if plan.act > plan.now {
                return false; // the tokens are not there yet: no write at all
            }
            if self.hot.word.compare_exchange_weak(word, plan.word, AcqRel, Relaxed).is_ok() {
                if plan.now != last {
                    self.hot.last.store(plan.now, Relaxed);
                }
                return true;
            }
        }
    }

    /// [`reserve_n`](Limiter::reserve_n) of one token now (Go's `Reserve`).
    pub fn reserve(&self) -> Reservation<'_> {
        self.reserve_inner(self.units_ns(clock::now_nanos()), 1, u64::MAX, true)
    }

    /// Reserves `n` tokens for an event at `at` (Go's `ReserveN`): they are
    /// taken now, putting the bucket in debt if need be, and the
    /// [`Reservation`] says how long to wait before acting. The reservation
    /// is not [`ok`](Reservation::ok) (and nothing is taken) if `n` exceeds
    /// the burst, or if the tokens would never come (a [`Limit::ZERO`]
    /// limit with too few left).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use tether::rate::{Limit, Limiter};
    ///
    /// let lim = Limiter::new(Limit::per_second(10.0), 2);
    /// let t0 = Instant::now();
    /// assert_eq!(lim.reserve_n(t0, 2).delay_from(t0), Duration::ZERO);
    /// let r = lim.reserve_n(t0, 2); // in debt: due in 200 ms
    /// assert_eq!(r.delay_from(t0), Duration::from_millis(200));
    /// assert!(!lim.reserve_n(t0, 3).ok()); // more than the burst
    /// ```
    pub fn reserve_n(&self, at: Instant, n: usize) -> Reservation<'_> {
        self.reserve_inner(self.units(at), n, u64::MAX, false)
    }

    /// Takes `n` tokens due within `max_wait` units of `t`, recording Go's
    /// `lastEvent`. Serialized with cancels and setters by the mutex; races
    /// with `allow` through the CAS.
    fn reserve_inner(&self, t: u64, n: usize, max_wait: u64, monotonic: bool) -> Reservation<'_> {
        let mut slow = lock(&self.slow);
        loop {
            // Setters hold the mutex while the word is LOCKED, so it is not.
            let word = self.hot.word.load(Acquire);
            let interval = self.hot.interval.load(Relaxed);
            let burst = self.hot.burst.load(Relaxed);
            let last = self.hot.last.load(Relaxed);
            if interval == INTERVAL_INF {
                return Reservation::granted(self, n, t, interval);
            }
            if n as u64 > burst {
                return Reservation::refused(self);
            }
            let Some(plan) = plan(word, last, interval, burst, t, n, monotonic) else {
                return Reservation::refused(self);
            };
            if plan.act - plan.now > max_wait {
                return Reservation::refused(self);
            }
            if self.hot.word.compare_exchange(word, plan.word, AcqRel, Relaxed).is_ok() {
                if plan.now != last {
                    self.hot.last.store(plan.now, Relaxed);
                }
                slow.last_event = plan.act;
                return Reservation::granted(self, n, plan.act, interval);
            }
        }
    }

    /// Gives back a reservation's tokens that later reservations do not
    /// depend on (Go's `CancelAt`).
    fn cancel(&self, r: &Reservation<'_>, t: u64, monotonic: bool) {
        let mut slow = lock(&self.slow);
        let interval = self.hot.interval.load(Relaxed);
        if interval == INTERVAL_INF || r.tokens == 0 || r.act < t {
            return;
        }
        // Tokens reserved after `r` (between its act time and the latest
        // event) were counted on top of r's; those stay taken. A stale
        // `last_event` (`allow` does not record one) restores at most r's.
        let later = tokens_in(slow.last_event.saturating_sub(r.act), r.interval);
        let restore = r.tokens as f64 - later;
        if restore <= 0.0 {
            return;
        }
        loop {
            let word = self.hot.word.load(Acquire);
            let burst = self.hot.burst.load(Relaxed);
            let last = self.hot.last.load(Relaxed);
            let (now, tokens) = tokens_of(word, last, interval, burst, t, monotonic);
            let tokens = (tokens + restore).min(burst as f64);
            let new = encode(interval, tokens, now);
            if self.hot.word.compare_exchange(word, new, AcqRel, Relaxed).is_ok() {
                self.hot.last.store(now, Relaxed);
                break;
            }
        }
        if r.act == slow.last_event {
            let prev = r.act.saturating_sub(units_for(r.tokens as u64, r.interval));
            if prev >= t {
                slow.last_event = prev;
            }
        }
    }

    /// Waits for one token (Go's `Wait`): see [`wait_n`](Limiter::wait_n).
    ///
    /// # Errors
    ///
    /// As [`wait_n`](Limiter::wait_n) with `n = 1`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future gives back the reserved token.
    pub async fn wait(&self, ctx: &Context) -> Result<(), WaitError> {
        self.wait_n(ctx, 1).await
    }

    /// Waits until `n` tokens can be taken, then takes them (Go's `WaitN`).
    ///
    /// Fails at once, without waiting, when `n` exceeds the burst (unless
    /// the limit is [`Limit::INF`]), when `ctx` is already done, or when the
    /// tokens could not arrive before `ctx`'s deadline. If `ctx` becomes
    /// done while waiting, the reserved tokens are given back (as far as no
    /// later reservation depends on them) and the context's error returned.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use tether::{Context, rate::{Limit, Limiter, WaitError}};
    ///
    /// let lim = Limiter::new(Limit::per_second(1000.0), 2);
    /// let ctx = Context::background();
    /// lim.wait_n(&ctx, 2).await.unwrap(); // the bucket started full
    /// lim.wait(&ctx).await.unwrap();      // ~1 ms later
    /// assert_eq!(lim.wait_n(&ctx, 3).await, Err(WaitError::ExceedsBurst { n: 3, burst: 2 }));
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// - [`WaitError::ExceedsBurst`]: `n` is more than the burst (never with
    ///   [`Limit::INF`]); nothing is reserved.
    /// - [`WaitError::Context`]: `ctx` was done before the call or became
    ///   done while waiting; the reserved tokens are given back.
    /// - [`WaitError::WouldExceedDeadline`]: the tokens could not arrive
    ///   before `ctx`'s deadline (or ever, with [`Limit::ZERO`]); decided at
    ///   once, nothing is reserved.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future while it waits cancels its
    /// reservation, giving the tokens back as a cancelled context would.
    pub async fn wait_n(&self, ctx: &Context, n: usize) -> Result<(), WaitError> {
        let Some(r) = self.begin_wait(ctx, n)? else { return Ok(()) };
        let mut guard = CancelOnDrop(Some(r));
        let act = self.instant(guard.0.as_ref().map_or(0, |r| r.act));
        let mut sleep = std::pin::pin!(crate::time::Sleep::until(act));
        let mut done = std::pin::pin!(ctx.done());
        let due = std::future::poll_fn(|cx| {
            use std::future::Future;
            use std::task::Poll;
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            if done.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            crate::leak::pending(crate::leak::Blocked::new(WAITING_RATE, None));
            Poll::Pending
        })
        .await;
        if due {
            guard.0 = None; // the tokens are ours
            Ok(())
        } else {
            drop(guard); // cancels the reservation
            Err(WaitError::Context(ctx.err().unwrap_or(crate::ctx::Error::Canceled)))
        }
    }

    /// Parks the calling thread until one token can be taken: the blocking
    /// twin of [`wait`](Limiter::wait). Needs no runtime.
    ///
    /// # Errors
    ///
    /// As [`wait_n`](Limiter::wait_n) with `n = 1`.
    pub fn wait_blocking(&self, ctx: &Context) -> Result<(), WaitError> {
        self.wait_n_blocking(ctx, 1)
    }

    /// Parks the calling thread until `n` tokens can be taken: the blocking
    /// twin of [`wait_n`](Limiter::wait_n), with the same errors.
    ///
    /// # Errors
    ///
    /// As [`wait_n`](Limiter::wait_n).
    ///
    /// ```
    /// use tether::{Context, rate::{Limit, Limiter}};
    /// let lim = Limiter::new(Limit::per_second(2000.0), 1);
    /// let ctx = Context::background();
    /// for _ in 0..3 {
    ///     lim.wait_blocking(&ctx).unwrap(); // one every 0.5 ms
    /// }
    /// ```
    pub fn wait_n_blocking(&self, ctx: &Context, n: usize) -> Result<(), WaitError> {
        let Some(r) = self.begin_wait(ctx, n)? else { return Ok(()) };
        let act = self.instant(r.act);
        let registration = ctx.scope().and_then(|s| s.register(Wake::current_thread()).map(|key| (s, key)));
        let _note = crate::leak::note(WAITING_RATE);
        let result = loop {
            if clock::reached(act) {
                break Ok(());
            }
            if let Some(e) = ctx.err() {
                r.cancel();
                break Err(WaitError::Context(e));
            }
            clock::park_until(act);
        };
        if let Some((scope, key)) = registration {
            scope.unregister(key);
        }
        result
    }

    /// Go's `WaitN` up to the sleep: the checks that fail at once, then the
    /// reservation. `None` means the tokens are taken and due now.
    fn begin_wait(&self, ctx: &Context, n: usize) -> Result<Option<Reservation<'_>>, WaitError> {
        let burst = self.burst();
        if n > burst && self.hot.interval.load(Relaxed) != INTERVAL_INF {
            return Err(WaitError::ExceedsBurst { n, burst });
        }
        if let Some(e) = ctx.err() {
            return Err(WaitError::Context(e));
        }
        let now = clock::now();
        let max_wait = match ctx.deadline() {
            Some(d) => duration_units(d.saturating_duration_since(now)),
            None => u64::MAX,
        };
        let t = self.units(now);
        let r = self.reserve_inner(t, n, max_wait, true);
        if !r.ok {
            return Err(WaitError::WouldExceedDeadline { n });
        }
        Ok(if self.instant(r.act) <= now { None } else { Some(r) })
    }

    /// Changes the rate from now on (Go's `SetLimit`); the tokens already
    /// earned are kept. Reservations already made keep their times.
    pub fn set_limit(&self, limit: Limit) {
        self.set_at(self.units_ns(clock::now_nanos()), Some(limit), None, true);
    }

    /// [`set_limit`](Limiter::set_limit) as of `at` (Go's `SetLimitAt`).
    pub fn set_limit_at(&self, at: Instant, limit: Limit) {
        self.set_at(self.units(at), Some(limit), None, false);
    }

    /// Changes the bucket size from now on (Go's `SetBurst`); the tokens
    /// already earned are kept (up to the new size, from the next request).
    pub fn set_burst(&self, burst: usize) {
        self.set_at(self.units_ns(clock::now_nanos()), None, Some(burst), true);
    }

    /// [`set_burst`](Limiter::set_burst) as of `at` (Go's `SetBurstAt`).
    pub fn set_burst_at(&self, at: Instant, burst: usize) {
        self.set_at(self.units(at), None, Some(burst), false);
    }

    fn set_at(&self, t: u64, limit: Option<Limit>, burst: Option<usize>, monotonic: bool) {
        let _slow = lock(&self.slow);
        // Lock the word so that no `allow` commits a plan made under the
        // old settings once they start changing.
        let old = loop {
            let w = self.hot.word.load(Acquire);
            if w != LOCKED && self.hot.word.compare_exchange(w, LOCKED, AcqRel, Relaxed).is_ok() {
                break w;
            }
        };
        let interval = self.hot.interval.load(Relaxed);
        let old_burst = self.hot.burst.load(Relaxed);
        let last = self.hot.last.load(Relaxed);
        let (now, tokens) = tokens_of(old, last, interval, old_burst, t, monotonic);
        let new_interval = limit.map_or(interval, interval_of);
        if let Some(limit) = limit {
            self.limit.store(limit.events_per_second().to_bits(), Relaxed);
        }
        if let Some(b) = burst {
            self.hot.burst.store(b as u64, Relaxed);
        }
        self.hot.interval.store(new_interval, Relaxed);
        self.hot.cap.store(units_for(self.hot.burst.load(Relaxed), new_interval), Relaxed);
        let mut new = encode(new_interval, tokens, now);
        if new == old {
            // Never reuse the old word: an `allow` that read it with the old
            // settings must see its CAS fail. One unit is 1/16 ns.
            new = if new_interval == INTERVAL_ZERO { new - 1 } else { new + 1 };
        }
        self.hot.fast.store(fast_interval(new_interval, self.hot.burst.load(Relaxed)), Relaxed);
        self.hot.last.store(now, Relaxed);
        self.hot.word.store(new, Release);
    }

    /// The tokens in the bucket at `at` (Go's `TokensAt`); negative while
    /// reservations have it in debt. [`Limit::INF`] reports the burst.
    pub fn tokens_at(&self, at: Instant) -> f64 {
        self.tokens_inner(self.units(at), false)
    }

    /// The tokens in the bucket now (Go's `Tokens`).
    pub fn tokens(&self) -> f64 {
        self.tokens_inner(self.units_ns(clock::now_nanos()), true)
    }

    fn tokens_inner(&self, t: u64, monotonic: bool) -> f64 {
        let Snapshot { word, interval, burst, last } = self.snapshot();
        tokens_of(word, last, interval, burst, t, monotonic).1
    }

    /// The lock-free state, read once no setter holds the word `LOCKED`
    /// (setters are rare and short, so this spins).
    #[inline]
    fn snapshot(&self) -> Snapshot {
        let mut round = 0;
        loop {
            let word = self.hot.word.load(Acquire);
            if word != LOCKED {
                return Snapshot {
                    word,
                    interval: self.hot.interval.load(Relaxed),
                    burst: self.hot.burst.load(Relaxed),
                    last: self.hot.last.load(Relaxed),
                };
            }
            waiter::spin(round.min(waiter::SPIN_ROUNDS));
            round += 1;
        }
    }

    /// A reading of the clock (`clock::now_nanos`) in units since the
    /// epoch: integer arithmetic only.
    #[inline(always)]
    fn units_ns(&self, ns: u64) -> u64 {
        // `MID + (ns - epoch) · UNITS_PER_NS` in two's complement: exact
        // for readings within ±18 years of the epoch, which every reading
        // of the clock after the limiter was made is (so it never reaches
        // `LOCKED`).
        ns.wrapping_mul(UNITS_PER_NS).wrapping_add(self.units_base)
    }

    /// `at` in units since the epoch.
    #[inline]
    fn units(&self, at: Instant) -> u64 {
        match at.checked_duration_since(self.epoch) {
            Some(d) => MID.saturating_add(duration_units(d)).min(LOCKED - 1),
            None => MID.saturating_sub(duration_units(self.epoch.duration_since(at))),
        }
    }

    /// Units back to an instant (rounded down to the nanosecond).
    fn instant(&self, u: u64) -> Instant {
        if u >= MID {
            let d = Duration::from_nanos((u - MID) / UNITS_PER_NS);
            self.epoch.checked_add(d).unwrap_or_else(|| self.epoch + Duration::from_secs(100 * 365 * 86_400))
        } else {
            let d = Duration::from_nanos((MID - u) / UNITS_PER_NS);
            self.epoch.checked_sub(d).unwrap_or(self.epoch)
        }
    }
}

/// Plans taking `n` tokens at `t` (Go's `advance` then `reserveN`'s
/// arithmetic). `None` if they could never be had (a zero limit short of
/// tokens, or a debt beyond the representable range).
#[inline]
fn plan(word: u64, last: u64, interval: u64, burst: u64, t: u64, n: usize, monotonic: bool) -> Option<Plan> {
    if interval == INTERVAL_ZERO {
        let tokens = decode_tokens(word).min(burst as f64) - n as f64;
        return (tokens >= 0.0).then(|| Plan { word: encode_tokens(tokens), act: t, now: t });
    }
    let (now, z) = effective_zero_time(word, last, interval, burst, t, monotonic);
    let z = z.checked_add(units_for(n as u64, interval)).filter(|z| *z < LOCKED)?;
    Some(Plan { word: z, act: z.max(now), now })
}

/// The effective "now" and zero-token time at `t`: the bucket's cap
/// applied, and — for a request earlier than `last` — Go's rule that it
/// sees the tokens as of `last` (`monotonic` callers, which read the
/// clock, instead treat such a request as made at `last`: the time did
/// pass, another thread saw it).
#[inline]
fn effective_zero_time(word: u64, last: u64, interval: u64, burst: u64, t: u64, monotonic: bool) -> (u64, u64) {
    let now = if monotonic { t.max(last) } else { t };
    let shift = last.saturating_sub(now);
    let cap = units_for(burst, interval);
    (now, word.saturating_sub(shift).max(now.saturating_sub(cap)))
}

/// The effective "now" and the tokens in the bucket then.
fn tokens_of(word: u64, last: u64, interval: u64, burst: u64, t: u64, monotonic: bool) -> (u64, f64) {
    let now = if monotonic { t.max(last) } else { t };
    match interval {
        INTERVAL_INF => (now, burst as f64),
        INTERVAL_ZERO => (now, decode_tokens(word).min(burst as f64)),
        _ => {
            let (now, z) = effective_zero_time(word, last, interval, burst, t, monotonic);
            (now, (now as i128 - z as i128) as f64 / interval as f64)
        }
    }
}

/// The word holding `tokens` at `now` under `interval`.
fn encode(interval: u64, tokens: f64, now: u64) -> u64 {
    match interval {
        INTERVAL_INF => 0,
        INTERVAL_ZERO => encode_tokens(tokens),
        _ => {
            // In integers: a u64 near 2^63 does not fit an f64 exactly.
            let z = now as i128 - (tokens * interval as f64).round() as i128;
            z.clamp(0, (LOCKED - 1) as i128) as u64
        }
    }
}

fn encode_tokens(tokens: f64) -> u64 {
    let fixed = (tokens * TOKEN_ONE).round().clamp(-(TOKENS_ZERO as f64), TOKENS_ZERO as f64);
    (TOKENS_ZERO as i64 + fixed as i64) as u64
}

fn decode_tokens(word: u64) -> f64 {
    (word as i64 - TOKENS_ZERO as i64) as f64 / TOKEN_ONE
}

/// Units of time for `n` tokens (saturating).
#[inline]
fn units_for(n: u64, interval: u64) -> u64 {
    n.saturating_mul(interval)
}

/// Tokens earned in `units` of time (Go's `tokensFromDuration`).
fn tokens_in(units: u64, interval: u64) -> f64 {
    match interval {
        INTERVAL_INF => f64::INFINITY,
        INTERVAL_ZERO => 0.0,
        _ => units as f64 / interval as f64,
    }
}

fn duration_units(d: Duration) -> u64 {
    d.as_secs().saturating_mul(1_000_000_000 * UNITS_PER_NS).saturating_add(d.subsec_nanos() as u64 * UNITS_PER_NS)
}

/// `Hot::fast` for these settings.
fn fast_interval(interval: u64, burst: u64) -> u64 {
    if interval == INTERVAL_INF || interval == INTERVAL_ZERO || burst == 0 { 0 } else { interval }
}

/// The interval (units per token) for a limit.
fn interval_of(limit: Limit) -> u64 {
    let per_sec = limit.events_per_second();
    if limit.is_inf() {
        return INTERVAL_INF;
    }
    if per_sec == 0.0 {
        return INTERVAL_ZERO;
    }
    let units = (UNITS_PER_SEC / per_sec).round();
    if units < 1.0 {
        INTERVAL_INF // faster than one event per 1/16 ns: no limit to speak of
    } else if units >= INTERVAL_ZERO as f64 {
        INTERVAL_ZERO // slower than one event per 36 years: never
    } else {
        units as u64
    }
}

impl<'a> Reservation<'a> {
    fn granted(lim: &'a Limiter, tokens: usize, act: u64, interval: u64) -> Reservation<'a> {
        Reservation { lim, ok: true, tokens, act, interval, canceled: Default::default() }
    }

    fn refused(lim: &'a Limiter) -> Reservation<'a> {
        Reservation { lim, ok: false, tokens: 0, act: 0, interval: 0, canceled: Default::default() }
    }

    /// True if the tokens were reserved; false if they could not be (more
    /// than the burst, or never available), and then nothing was taken.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// How long after `at` the holder must wait before acting (zero: act
    /// now); `Duration::MAX` when not [`ok`](Reservation::ok) (Go's
    /// `DelayFrom`).
    pub fn delay_from(&self, at: Instant) -> Duration {
        if !self.ok {
            return Duration::MAX;
        }
        Duration::from_nanos(self.act.saturating_sub(self.lim.units(at)) / UNITS_PER_NS)
    }

    /// [`delay_from`](Reservation::delay_from) now (Go's `Delay`).
    pub fn delay(&self) -> Duration {
        self.delay_from(clock::now())
    }

    /// When the holder may act; `None` when not ok.
    pub fn time_to_act(&self) -> Option<Instant> {
        self.ok.then(|| self.lim.instant(self.act))
    }

    /// The number of tokens reserved (0 when not ok).
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Gives the tokens back as of `at`, as far as later reservations do not
    /// depend on them (Go's `CancelAt`): nothing if the reservation was not
    /// ok, if its time to act is before `at`, or if it was cancelled
    /// already (a second cancel is a no-op, unlike Go's).
    pub fn cancel_at(&self, at: Instant) {
        if self.ok && !self.canceled.swap(true, AcqRel) {
            self.lim.cancel(self, self.lim.units(at), false);
        }
    }

    /// [`cancel_at`](Reservation::cancel_at) now (Go's `Cancel`).
    pub fn cancel(&self) {
        if self.ok && !self.canceled.swap(true, AcqRel) {
            self.lim.cancel(self, self.lim.units_ns(clock::now_nanos()), true);
        }
    }
}

/// Cancels a wait's reservation unless disarmed (the wait future's cancel
/// safety).
struct CancelOnDrop<'a>(Option<Reservation<'a>>);

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.cancel();
        }
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limit", &self.limit())
            .field("burst", &self.burst())
            .field("tokens", &self.tokens())
            .finish()
    }
}
