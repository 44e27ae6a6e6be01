//! [`Limit`]: a rate of events per second.

use std::fmt;
use std::time::Duration;

/// A rate: how many events per second a [`Limiter`](super::Limiter)
/// allows on average (Go's `rate.Limit`).
///
/// [`Limit::INF`] allows every event, ignoring the burst; [`Limit::ZERO`]
/// allows none beyond the tokens already in the bucket.
///
/// ```
/// use std::time::Duration;
/// use tether::rate::Limit;
///
/// assert_eq!(Limit::every(Duration::from_millis(100)), Limit::per_second(10.0));
/// assert_eq!(Limit::every(Duration::ZERO), Limit::INF);
/// assert_eq!(Limit::per_minute(30.0).events_per_second(), 0.5);
/// assert_eq!(Limit::per_second(4.0).to_string(), "4/s");
/// ```
#[derive(Clone, Copy, PartialEq, PartialOrd, Debug)]
pub struct Limit(f64);

impl Limit {
    /// No limit at all: every event is allowed, whatever the burst.
    pub const INF: Limit = Limit(f64::INFINITY);

    /// No new tokens ever: only the tokens already in the bucket can be
    /// taken (a new limiter starts full, so `burst` events pass).
    pub const ZERO: Limit = Limit(0.0);

    /// `events` per second on average. `f64::INFINITY` (or anything at
    /// least `f64::MAX`) is [`Limit::INF`].
    ///
    /// # Panics
    ///
    /// If `events` is negative or NaN: a rate counts events, so it is zero
    /// or more.
    #[track_caller]
    pub fn per_second(events: f64) -> Limit {
        assert!(events >= 0.0, "rate::Limit: a rate must be zero or more events per second, got {events}");
        if events >= f64::MAX { Limit::INF } else { Limit(events) }
    }

    /// `events` per minute.
    ///
    /// # Panics
    ///
    /// If `events` is negative or NaN.
    #[track_caller]
    pub fn per_minute(events: f64) -> Limit {
        Limit::per_second(events / 60.0)
    }

    /// `events` per hour.
    ///
    /// # Panics
    ///
    /// If `events` is negative or NaN.
    #[track_caller]
    pub fn per_hour(events: f64) -> Limit {
        Limit::per_second(events / 3600.0)
    }

    /// One event per `interval` (Go's `rate.Every`); a zero interval is
    /// [`Limit::INF`].
    pub fn every(interval: Duration) -> Limit {
        if interval.is_zero() { Limit::INF } else { Limit(1.0 / interval.as_secs_f64()) }
    }

    /// The rate in events per second (`f64::INFINITY` for [`Limit::INF`]).
    pub fn events_per_second(self) -> f64 {
        self.0
    }

    /// True for [`Limit::INF`].
    pub fn is_inf(self) -> bool {
        self.0 == f64::INFINITY
    }

    /// The time between two events at this rate: `None` for
    /// [`Limit::ZERO`] (never), zero for [`Limit::INF`].
    pub fn interval(self) -> Option<Duration> {
        if self.is_inf() {
            Some(Duration::ZERO)
        } else if self.0 == 0.0 {
            None
        } else {
            Duration::try_from_secs_f64(1.0 / self.0).ok()
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_inf() { f.write_str("inf") } else { write!(f, "{}/s", self.0) }
    }
}
