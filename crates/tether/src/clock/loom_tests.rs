//! Loom models of the fast clock's record protocol (`tsc::Source`): with a
//! model counter standing in for the TSC (a shared atomic, so readings are
//! synchronised across threads as the TSC is), readers racing publishers
//! never see a torn record and never read a time below one another thread
//! already returned. Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p tether --no-default-features --release --lib loom`

use std::sync::atomic::Ordering::SeqCst;

use super::tsc::{Counter, Source};

use loom::sync::Arc;
use loom::sync::atomic::AtomicU64;
use loom::thread;

/// Ticks advance by 100 per read; the reference runs at 0.375 ns per tick
/// (plus 7 ns per 1000 ticks of drift), so the slopes of successive
/// records differ.
struct ModelCounter {
    ticks: AtomicU64,
}

const STEP: u64 = 100;

impl Counter for ModelCounter {
    fn ticks(&self) -> u64 {
        self.ticks.fetch_add(STEP, SeqCst) + STEP
    }
    fn ticks_relaxed(&self) -> u64 {
        self.ticks()
    }
    fn reference(&self) -> u64 {
        let t = self.ticks.load(SeqCst);
        t * 3 / 8 + t / 1000 * 7 + 30 // a little ahead of the calibration
    }
    fn sample_ticks(&self) -> u64 {
        self.ticks.load(SeqCst) // time moves only with the readers
    }
}

/// A source whose records last about 3 readings, its counter just short of
/// the first record's switch point: the model's readings publish records
/// and cross from one record to the next.
fn source() -> Arc<Source<ModelCounter>> {
    let s = Source::new(ModelCounter { ticks: AtomicU64::new(1 << 20) }, 100);
    let (t0, t1) = (1 << 20, (1 << 20) + 100_000);
    let reference = |t: u64| t * 3 / 8 + t / 1000 * 7;
    s.start(t0, reference(t0), t1, reference(t1));
    let v = s.switch_point();
    s.counter().ticks.store(v - 2 * STEP, SeqCst);
    Arc::new(s)
}

#[test]
fn loom_readings_never_go_back_across_threads() {
    loom::model(|| {
        let src = source();
        let seen = Arc::new(AtomicU64::new(0));
        let (s2, seen2) = (src.clone(), seen.clone());
        let t = thread::spawn(move || {
            for _ in 0..3 {
                let before = seen2.load(SeqCst);
                let mine = s2.nanos().unwrap();
                assert!(mine >= before, "{mine} after another thread's {before}");
                seen2.fetch_max(mine, SeqCst);
            }
        });
        for _ in 0..2 {
            let before = seen.load(SeqCst);
            let mine = src.nanos().unwrap();
            assert!(mine >= before, "{mine} after another thread's {before}");
            seen.fetch_max(mine, SeqCst);
        }
        t.join().unwrap();
    });
}

#[test]
fn loom_a_reader_racing_two_publishers() {
    loom::model(|| {
        let src = source();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let s = src.clone();
                thread::spawn(move || {
                    let a = s.nanos().unwrap();
                    let b = s.nanos().unwrap();
                    assert!(b >= a);
                    b
                })
            })
            .collect();
        let mine = src.nanos().unwrap();
        let theirs: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let after = src.nanos().unwrap();
        assert!(theirs.iter().all(|&t| after >= t) && after >= mine, "a later read is never earlier");
    });
}
