//! White-box loom models of the channel engine's internal races: the
//! lock-free ring (claims, close mark), and the ring flavour's
//! announce-then-look registration against lock-free sends and receives.
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! tether --no-default-features --release --lib -- loom`.

use loom::sync::Arc;
use loom::thread;

use super::ring::{Drained, Refused, Ring};
use super::{RecvError, bounded};

/// Two producers and a consumer on a ring of 2: every value arrives once,
/// in each producer's order; a full ring refuses instead of overwriting.
#[test]
fn loom_ring_two_producers_one_consumer() {
    loom::model(|| {
        let r = Arc::new(Ring::new(2));
        let ps: Vec<_> = (0..2)
            .map(|p| {
                let r = r.clone();
                thread::spawn(move || {
                    let mut sent = 0;
                    for i in 0..2u32 {
                        if r.push(p * 10 + i).is_ok() {
                            sent += 1;
                        }
                    }
                    sent
                })
            })
            .collect();
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Ok(v) = r.pop() {
                got.push(v);
            }
        }
        let sent: usize = ps.into_iter().map(|h| h.join().unwrap()).sum();
        while let Ok(v) = r.pop() {
            got.push(v);
        }
        assert_eq!(got.len(), sent, "each pushed value is popped exactly once");
        for p in 0..2 {
            let mine: Vec<_> = got.iter().filter(|v| **v / 10 == p).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "producer {p}'s order");
        }
    });
}

/// Close races a push: the push either lands before the mark (and is
/// popped before `Closed`) or is refused as closed; `Closed` is never
/// reported while a value is still buffered.
#[test]
fn loom_ring_close_races_push_and_pop() {
    loom::model(|| {
        let r = Arc::new(Ring::new(1));
        let p = {
            let r = r.clone();
            thread::spawn(move || r.push(5).map_err(|(_, why)| why))
        };
        let c = {
            let r = r.clone();
            thread::spawn(move || r.close())
        };
        let first = r.pop();
        let pushed = p.join().unwrap();
        assert!(c.join().unwrap());
        let mut values = Vec::new();
        let mut state = first;
        loop {
            match state {
                Ok(v) => values.push(v),
                Err(Drained::Closed) => break,
                Err(Drained::Empty) => {}
            }
            state = r.pop();
        }
        match pushed {
            Ok(()) => assert_eq!(values, [5]),
            Err(why) => {
                assert_eq!(why, Refused::Closed);
                assert!(values.is_empty());
            }
        }
        assert_eq!(r.pop(), Err(Drained::Closed));
    });
}

/// The lost-wake-up race of the ring flavour: a receiver announces itself
/// and looks again while a lock-free send fills a slot and looks for
/// receivers. One of them must see the other (loom fails a model where the
/// receiver parks forever).
#[test]
fn loom_ring_registration_races_lock_free_send() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let s = thread::spawn(move || tx.try_send(1).unwrap());
        assert_eq!(rx.recv_blocking(), Ok(1));
        s.join().unwrap();
        assert_eq!(rx.recv_blocking(), Err(RecvError::Closed));
    });
}

/// The same for a sender waiting for room against a lock-free receive.
#[test]
fn loom_ring_sender_registration_races_lock_free_recv() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        tx.try_send(1).unwrap();
        let r = thread::spawn(move || {
            let first = rx.try_recv().ok();
            (first, rx)
        });
        tx.send_blocking(2).unwrap();
        let (first, rx) = r.join().unwrap();
        let mut got: Vec<u32> = first.into_iter().collect();
        drop(tx);
        got.extend(rx.iter());
        assert_eq!(got, [1, 2]);
    });
}

/// The unbounded list across block boundaries (3 positions per block under
/// loom: 2 values and the boundary): two producers race to fill a block
/// and install the next while a consumer follows; every value arrives once,
/// in each producer's order, and every block is reclaimed (loom checks the
/// frees against the reads).
#[test]
fn loom_blocks_producers_cross_boundaries() {
    use super::blocks::Blocks;
    loom::model(|| {
        let q = Arc::new(Blocks::default());
        let ps: Vec<_> = (0..2)
            .map(|p| {
                let q = q.clone();
                thread::spawn(move || {
                    for i in 0..2u32 {
                        q.push(p * 10 + i).unwrap();
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        if let Ok(v) = q.pop() {
            got.push(v);
        }
        for p in ps {
            p.join().unwrap();
        }
        while let Ok(v) = q.pop() {
            got.push(v);
        }
        assert_eq!(got.len(), 4);
        for p in 0..2 {
            let mine: Vec<_> = got.iter().filter(|v| **v / 10 == p).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "producer {p}'s order");
        }
    });
}

/// Two consumers read the two slots of one block at once: whichever
/// finishes last frees it (the reclaim hand-over), never while the other
/// is still reading; a close racing the pushes is exact.
#[test]
fn loom_blocks_consumers_share_a_block_and_close() {
    use super::blocks::Blocks;
    loom::model(|| {
        let q = Arc::new(Blocks::default());
        q.push(1u32).unwrap();
        q.push(2).unwrap();
        let c = {
            let q = q.clone();
            thread::spawn(move || q.pop().ok())
        };
        let closer = {
            let q = q.clone();
            thread::spawn(move || q.close())
        };
        let mine = q.pop().ok();
        let theirs = c.join().unwrap();
        assert!(closer.join().unwrap());
        let mut got: Vec<u32> = mine.into_iter().chain(theirs).collect();
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_eq!(q.pop(), Err(Drained::Closed));
        assert!(q.push(3).is_err());
    });
}
