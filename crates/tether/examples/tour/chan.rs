//! The channel story: an unbuffered hand-off, a buffered queue, close and
//! range, and `select` with a timeout, with `default`, and with a context
//! that cancels a worker.

use std::thread;
use std::time::{Duration, Instant};

use tether::Context;
use tether::chan::{self, RecvError, SendError, TrySendError};

pub fn run() {
    // Unbuffered (capacity 0): a rendezvous. The sender waits until the
    // receiver has taken the value.
    let (tx, rx) = chan::bounded::<&str>(0);
    let start = Instant::now();
    let sender = thread::spawn(move || {
        tx.send_blocking("ping").unwrap();
        start.elapsed() // when did send return?
    });
    thread::sleep(Duration::from_millis(20)); // the receiver is late
    let got = rx.recv_blocking().unwrap();
    let send_returned = sender.join().unwrap();
    println!("   unbuffered: received {got:?}; send waited {send_returned:.0?} for the late receiver");

    // Buffered (capacity 3): a queue. Sends don't wait until it is full.
    let (tx, rx) = chan::bounded::<u32>(3);
    for job in 1..=3 {
        tx.send_blocking(job).unwrap(); // no receiver yet: buffered
    }
    let Err(TrySendError::Full(back)) = tx.try_send(4) else { unreachable!("the buffer holds 3") };
    println!(
        "   buffered(3): len {} after 3 sends without a receiver; a 4th try_send is Full and hands {back} back",
        tx.len()
    );

    // Close and range: the sender closes, the receiver drains the buffer
    // and its loop ends (Go's `for v := range ch`). A send after close
    // hands the value back instead of panicking.
    assert_eq!(rx.recv_blocking(), Ok(1)); // take job 1 out...
    tx.send_blocking(4).unwrap(); // ...so job 4 fits
    tx.close();
    let drained: Vec<u32> = rx.iter().collect();
    println!("   closed with values inside: range drained {drained:?}, then recv -> {:?}", rx.recv_blocking());
    let Err(SendError(back)) = tx.send_blocking(5) else { unreachable!("the channel is closed") };
    println!("   send after close fails and hands {back} back (Go would panic)");
    assert_eq!(rx.recv_blocking(), Err(RecvError::Closed));

    // select with a timeout: a slow worker vs after(10 ms).
    let (tx, rx) = chan::bounded::<&str>(1);
    let slow = thread::spawn(move || {
        thread::sleep(Duration::from_millis(40));
        let _ = tx.send_blocking("slow result"); // nobody is listening by then: fails, no leak
    });
    let outcome = tether::select_blocking! {
        recv(rx) -> v => format!("got {:?}", v.unwrap()),
        after(Duration::from_millis(10)) => "timed out after 10ms".to_string(),
    };
    println!("   select with after(10ms) vs a 40ms worker: {outcome}");
    drop(rx);
    slow.join().unwrap();

    // select with default: a non-blocking poll.
    let (tx, rx) = chan::bounded::<u32>(1);
    let poll = |rx: &chan::Receiver<u32>| {
        tether::select_blocking! {
            recv(rx) -> v => format!("got {}", v.unwrap()),
            default => "nothing ready, moving on".to_string(),
        }
    };
    println!("   select with default on an empty channel: {}", poll(&rx));
    tx.send_blocking(7).unwrap();
    println!("   select with default after a send: {}", poll(&rx));

    // select on done(ctx): a worker takes jobs until its context is
    // cancelled, then stops at once, even while waiting for a job.
    let (ctx, cancel) = Context::background().with_cancel();
    let (jobs_tx, jobs_rx) = chan::bounded::<u32>(0);
    let worker = thread::spawn(move || {
        let mut done_jobs = 0;
        loop {
            tether::select_blocking! {
                recv(jobs_rx) -> job => match job {
                    Ok(_) => done_jobs += 1,
                    Err(_) => return (done_jobs, "jobs channel closed"),
                },
                done(ctx) => return (done_jobs, "context cancelled"),
            }
        }
    });
    for job in 0..3 {
        jobs_tx.send_blocking(job).unwrap();
    }
    cancel.cancel(); // jobs_tx is still open: only the context stops the worker
    let (n, why) = worker.join().unwrap();
    println!("   worker selecting on jobs and done(ctx): did {n} jobs, stopped because: {why}");
}
