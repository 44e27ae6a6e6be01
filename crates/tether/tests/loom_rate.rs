//! Loom models of the limiter's lock-free fast path: `allow_n` calls racing
//! on one bucket never grant more tokens than it holds; a setter racing an
//! `allow` never lets a plan made under the old settings commit under the
//! new ones; a reservation (mutex path) racing an `allow` (CAS path) keeps
//! the count exact. Run with:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p tether --no-default-features --release --test loom_rate`
#![cfg(loom)]

use std::time::{Duration, Instant};

use loom::sync::Arc;
use loom::thread;
use tether::rate::{Limit, Limiter};

/// Two threads each try to take 1 token twice from a bucket of 3 at one
/// instant: exactly 3 grants, and the bucket ends empty.
#[test]
fn racing_allows_do_not_over_grant() {
    loom::model(|| {
        let at = Instant::now();
        let lim = Arc::new(Limiter::new(Limit::per_second(1.0), 3));
        let l2 = lim.clone();
        let t = thread::spawn(move || (0..2).filter(|_| l2.allow_n(at, 1)).count());
        let mine = (0..2).filter(|_| lim.allow_n(at, 1)).count();
        let theirs = t.join().unwrap();
        assert_eq!(mine + theirs, 3);
        assert!(lim.tokens_at(at).abs() < 1e-9);
    });
}

/// Different instants (one thread a period later) still never grant more
/// than burst + earned tokens.
#[test]
fn racing_allows_at_different_instants() {
    loom::model(|| {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let lim = Arc::new(Limiter::new(Limit::per_second(1.0), 1));
        let l2 = lim.clone();
        let t = thread::spawn(move || (0..2).filter(|_| l2.allow_n(t1, 1)).count());
        let mine = (0..2).filter(|_| lim.allow_n(t0, 1)).count();
        let total = mine + t.join().unwrap();
        // 1 at start + 1 earned by t1; an early request after a later one
        // sees the later bucket (Go's rule), which can only cost tokens.
        assert!((1..=2).contains(&total), "granted {total}");
    });
}

/// A burst change racing an `allow`: the allow commits either before the
/// change (taking from the old bucket) or after it (capped by the new
/// one), never a mix.
#[test]
fn set_burst_racing_allow() {
    loom::model(|| {
        let at = Instant::now();
        let lim = Arc::new(Limiter::new(Limit::per_second(1.0), 2));
        let l2 = lim.clone();
        let t = thread::spawn(move || l2.set_burst_at(at, 1));
        let got = lim.allow_n(at, 2);
        t.join().unwrap();
        let left = lim.tokens_at(at);
        if got {
            assert!(left.abs() < 1e-9, "took 2 before the change, left {left}");
        } else {
            // After the change the bucket holds at most 1: 2 is refused.
            assert!((left - 1.0).abs() < 1e-9, "left {left}");
        }
    });
}

/// A reservation (under the mutex) racing an allow (CAS only): together
/// they take exactly what they were granted.
#[test]
fn reserve_racing_allow() {
    loom::model(|| {
        let at = Instant::now();
        let lim = Arc::new(Limiter::new(Limit::per_second(1.0), 1));
        let l2 = lim.clone();
        let t = thread::spawn(move || l2.allow_n(at, 1));
        let r = lim.reserve_n(at, 1);
        let allowed = t.join().unwrap();
        assert!(r.ok());
        let delay = r.delay_from(at);
        if allowed {
            assert_eq!(delay, Duration::from_secs(1)); // the allow took the token first
            assert!((lim.tokens_at(at) + 1.0).abs() < 1e-9);
        } else {
            assert_eq!(delay, Duration::ZERO);
            assert!(lim.tokens_at(at).abs() < 1e-9);
        }
    });
}

/// `allow()` (the clock-reading fast path, which compares once and writes
/// only to grant): two threads racing on a bucket of 2 that refills once a
/// second get exactly 2 tokens between them (the model runs in far less
/// than a second).
#[test]
fn racing_allow_fast_paths_grant_exactly_the_bucket() {
    loom::model(|| {
        let lim = Arc::new(Limiter::new(Limit::per_second(1.0), 2));
        let l2 = lim.clone();
        let t = thread::spawn(move || (0..2).filter(|_| l2.allow()).count());
        let mine = (0..2).filter(|_| lim.allow()).count();
        assert_eq!(mine + t.join().unwrap(), 2);
    });
}

/// A setter racing `allow()`: the allow commits under the old settings or
/// the new ones, never a plan made under the old ones after the change.
#[test]
fn set_burst_racing_the_allow_fast_path() {
    loom::model(|| {
        let lim = Arc::new(Limiter::new(Limit::per_second(1.0), 2));
        let l2 = lim.clone();
        let t = thread::spawn(move || l2.set_burst(1));
        let got = (0..2).filter(|_| lim.allow()).count();
        t.join().unwrap();
        assert!((1..=2).contains(&got), "granted {got}");
        assert!(lim.tokens() <= 1.0 + 1e-6, "the new burst caps the bucket");
    });
}
