//! `AtomicValue` against the behaviours Go's sync/atomic/value_test.go
//! checks (store/load, large values, concurrent store+load only ever sees
//! stored values, concurrent swap loses nothing, compare-and-swap, and a
//! concurrent CAS counter), plus snapshot lifetime and reclamation. Go's
//! nil and inconsistent-type panics cannot happen: `T` is static.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use common::*;
use tether::sync::AtomicValue;

#[test]
fn value_store_then_load_returns_latest() {
    watchdog(move || {
        let v = AtomicValue::new(0);
        assert_eq!(*v.load(), 0);
        v.store(42);
        assert_eq!(*v.load(), 42);
        v.store(84);
        assert_eq!(*v.load(), 84);
        assert_eq!(*v.load_guard(), 84);
    });
    assert_no_leaks();
}

#[test]
fn value_large_values() {
    watchdog(move || {
        let v = AtomicValue::new(String::from("foo"));
        assert_eq!(*v.load(), "foo");
        v.store("barbaz".repeat(1000));
        assert_eq!(v.load().len(), 6000);
    });
    assert_no_leaks();
}

#[test]
fn value_initially_empty_is_an_option() {
    watchdog(move || {
        // Go's zero Value loads nil; in tether the empty state is explicit.
        let v: AtomicValue<Option<u32>> = AtomicValue::default();
        assert_eq!(*v.load(), None);
        v.store(Some(1));
        assert_eq!(*v.load(), Some(1));
    });
    assert_no_leaks();
}

#[test]
fn value_concurrent_store_load_sees_only_stored_values() {
    watchdog(|| {
        let choices: [(u64, u64); 4] = [(0, 0), (u64::MAX, u64::MAX), (1, 2), (3, 4)];
        let v = Arc::new(AtomicValue::new(choices[0]));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let v = v.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000usize {
                        v.store(choices[(i * 7 + t) % 4]);
                        let seen = *v.load();
                        assert!(choices.contains(&seen), "torn value {seen:?}");
                        let seen = *v.load_guard();
                        assert!(choices.contains(&seen), "torn value {seen:?}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    assert_no_leaks();
}

#[test]
fn value_swap_returns_previous() {
    watchdog(move || {
        let v = AtomicValue::new(true);
        assert!(*v.swap(false));
        assert!(!*v.load());
    });
    assert_no_leaks();
}

#[test]
fn value_swap_concurrent_loses_no_value() {
    // Every value 1..=N is swapped in once; the sum of everything swapped
    // out plus the final value is the sum of all values ever stored.
    watchdog(|| {
        let (threads, per) = (4u64, 10_000u64);
        let v = Arc::new(AtomicValue::new(0u64));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let v = v.clone();
                std::thread::spawn(move || {
                    let mut sum = 0;
                    for i in 1..=per {
                        sum += *v.swap(t * per + i);
                    }
                    sum
                })
            })
            .collect();
        let out: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let n = threads * per;
        assert_eq!(out + *v.load(), n * (n + 1) / 2);
    });
    assert_no_leaks();
}

#[test]
fn value_compare_and_swap_by_identity() {
    watchdog(move || {
        let v = AtomicValue::new(1);
        let first = v.load();
        // An equal value in another allocation is not "the current value".
        let lookalike = Arc::new(1);
        assert_eq!(*v.compare_and_swap(&lookalike, 5).unwrap_err(), 1);
        let prev = v.compare_and_swap(&first, 2).unwrap();
        assert!(Arc::ptr_eq(&prev, &first));
        // Stale: fails and reports the actual value to retry against.
        let actual = v.compare_and_swap(&first, 3).unwrap_err();
        assert_eq!(*actual, 2);
        assert!(v.compare_and_swap(&actual, 3).is_ok());
        assert_eq!(*v.load(), 3);
        let shared = Arc::new(9);
        assert!(v.compare_and_swap_arc(&v.load(), shared.clone()).is_ok());
        assert!(Arc::ptr_eq(&v.load(), &shared));
    });
    assert_no_leaks();
}

#[test]
fn value_compare_and_swap_concurrent_counter() {
    // Go's TestValueCompareAndSwapConcurrent: each thread advances the
    // value only from its own residues; all reach the end together.
    watchdog(|| {
        let (m, n) = (4usize, 500usize);
        let v = Arc::new(AtomicValue::new(0usize));
        let handles: Vec<_> = (0..m)
            .map(|i| {
                let v = v.clone();
                std::thread::spawn(move || {
                    let mut j = i;
                    while j < m * n {
                        let cur = v.load();
                        if *cur == j && v.compare_and_swap(&cur, j + 1).is_ok() {
                            j += m;
                        } else {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*v.load(), m * n);
    });
    assert_no_leaks();
}

#[test]
fn value_update_retries_until_it_wins() {
    watchdog(|| {
        let v = Arc::new(AtomicValue::new(0u64));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let v = v.clone();
                std::thread::spawn(move || {
                    for _ in 0..5_000 {
                        v.update(|x| x + 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*v.load(), 20_000);
        assert_eq!(*v.update(|x| x * 2), 20_000, "update returns the value it replaced");
    });
    assert_no_leaks();
}

#[test]
fn value_old_snapshots_stay_valid_and_are_freed_with_their_last_reader() {
    watchdog(move || {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Tracked(u32);
        impl Drop for Tracked {
            fn drop(&mut self) {
                DROPS.fetch_add(1, SeqCst);
            }
        }
        let v = AtomicValue::new(Tracked(1));
        let old = v.load();
        v.store(Tracked(2));
        assert_eq!(old.0, 1, "a snapshot is unaffected by later stores");
        assert_eq!(DROPS.load(SeqCst), 0, "still referenced");
        drop(old);
        assert_eq!(DROPS.load(SeqCst), 1, "freed with its last snapshot");
        let guard_snapshot = tether::sync::Snapshot::into_arc(v.load_guard());
        drop(v);
        assert_eq!(guard_snapshot.0, 2);
        drop(guard_snapshot);
        assert_eq!(DROPS.load(SeqCst), 2);
    });
    assert_no_leaks();
}

#[test]
fn value_is_send_sync_and_debug() {
    watchdog(move || {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<AtomicValue<String>>();
        let v = AtomicValue::from(vec![1]);
        assert_eq!(format!("{v:?}"), "AtomicValue([1])");
        assert_eq!(*v.into_inner(), [1]);
    });
    assert_no_leaks();
}

#[test]
fn a_cache_sees_every_store_at_its_next_load() {
    watchdog(move || {
        let v = AtomicValue::new(0u64);
        let mut cache = v.cache();
        assert_eq!(**cache.load(), 0);
        for i in 1..100u64 {
            v.store(i);
            assert_eq!(**cache.load(), i, "the load after a store returns it");
            assert_eq!(**cache.load(), i, "and keeps returning it");
        }
        let swapped = v.swap(500);
        assert_eq!(*swapped, 99);
        assert_eq!(**cache.load(), 500);
    });
    assert_no_leaks();
}

#[test]
fn caches_on_reader_threads_see_stores_in_order_and_keep_values_alive() {
    watchdog(move || {
        use std::sync::Arc;
        use tether::sync::Cache;
        let v = Arc::new(AtomicValue::new(0u64));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let mut cache = Cache::new(v.clone());
                std::thread::spawn(move || {
                    let mut last = 0;
                    while last < 10_000 {
                        let now = **cache.load();
                        assert!(now >= last, "a cache never goes back: {now} after {last}");
                        last = now;
                    }
                })
            })
            .collect();
        for i in 1..=10_000u64 {
            v.store(i);
        }
        for r in readers {
            r.join().unwrap();
        }
        // A cache holds the snapshot it last saw until its next load.
        let mut cache = v.cache();
        let seen = Arc::clone(cache.load());
        v.store(7);
        assert_eq!(Arc::strong_count(&seen), 2, "the cache still holds the old value");
        assert_eq!(**cache.load(), 7);
        assert_eq!(Arc::strong_count(&seen), 1, "and lets it go at its next load");
    });
    assert_no_leaks();
}
