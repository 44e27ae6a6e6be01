//! Loom model of WaitGroup's core races: done racing wait (thread and
//! task waiters), and a second round after the first wait returned.
#![cfg(loom)]

use loom::thread;
use tether::sync::WaitGroup;

#[test]
fn done_races_blocking_wait() {
    loom::model(|| {
        let wg = WaitGroup::new();
        wg.add(2);
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let wg = wg.clone();
                thread::spawn(move || wg.done())
            })
            .collect();
        wg.wait_blocking();
        assert_eq!(wg.count(), 0);
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn done_races_async_wait_and_reuse() {
    loom::model(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let h = {
            let wg = wg.clone();
            thread::spawn(move || wg.done())
        };
        loom::future::block_on(wg.wait());
        assert_eq!(wg.count(), 0);
        h.join().unwrap();
        // the only waiter returned: a new round is allowed
        wg.add(1);
        wg.done();
    });
}

#[test]
fn two_waiters_one_done() {
    loom::model(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let w = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait_blocking())
        };
        let d = {
            let wg = wg.clone();
            thread::spawn(move || wg.done())
        };
        wg.wait_blocking();
        d.join().unwrap();
        w.join().unwrap();
    });
}
