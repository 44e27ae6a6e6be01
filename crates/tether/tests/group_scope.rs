//! `group::scope`: errgroup for borrowing OS threads (std::thread::scope
//! with context, first error, limit and panic rules).
mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use common::{assert_no_leaks, watchdog};
use tether::Context;
use tether::ctx::Error as CtxError;
use tether::group::{self, TaskPanicked};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Boom(u32);
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "boom {}", self.0)
    }
}
impl std::error::Error for Boom {}

#[test]
fn scope_threads_borrow_from_the_stack() {
    watchdog(|| {
        let data = [1u64, 2, 3, 4, 5, 6];
        let sums = Mutex::new(Vec::new());
        let r = group::scope(&Context::background(), |s| {
            for chunk in data.chunks(2) {
                let sums = &sums;
                s.spawn(move |_ctx| {
                    sums.lock().unwrap().push(chunk.iter().sum::<u64>());
                    Ok(())
                });
            }
            Ok::<_, Boom>(data.len())
        });
        assert_eq!(r, Ok(6));
        let mut v = sums.into_inner().unwrap();
        v.sort();
        assert_eq!(v, vec![3, 7, 11]);
    });
    assert_no_leaks();
}

#[test]
fn scope_first_error_cancels_siblings_and_is_returned() {
    watchdog(|| {
        let sibling_saw = AtomicBool::new(false);
        let mut ctx_after = None;
        let r = group::scope(&Context::background(), |s| {
            ctx_after = Some(s.context().clone());
            s.spawn(|ctx| {
                ctx.wait_blocking();
                assert_eq!(ctx.cause().unwrap().downcast_ref::<Boom>(), Some(&Boom(1)));
                sibling_saw.store(true, SeqCst);
                Ok(())
            });
            s.spawn(|_| Err(Boom(1)));
            Ok(())
        });
        assert_eq!(r, Err(Boom(1)));
        assert!(sibling_saw.load(SeqCst));
        assert!(ctx_after.unwrap().is_done(), "the scope's context is cancelled when it returns");
    });
    assert_no_leaks();
}

#[test]
fn scope_body_error_cancels_threads() {
    watchdog(|| {
        let r: Result<(), Boom> = group::scope(&Context::background(), |s| {
            s.spawn(|ctx| {
                ctx.wait_blocking();
                Ok(())
            });
            Err(Boom(9))
        });
        assert_eq!(r, Err(Boom(9)));
    });
    assert_no_leaks();
}

#[test]
fn scope_spawn_after_cancel_is_not_started() {
    watchdog(|| {
        let ran = AtomicBool::new(false);
        let r = group::scope(&Context::background(), |s| {
            s.spawn(|_| Err(Boom(2)));
            s.context().wait_blocking();
            assert!(!s.spawn(|_| {
                ran.store(true, SeqCst);
                Ok(())
            }));
            Ok(())
        });
        assert_eq!(r, Err(Boom(2)));
        assert!(!ran.load(SeqCst));
    });
    assert_no_leaks();
}

#[test]
fn scope_threads_spawned_into_a_done_parent_run_and_report_it() {
    watchdog(|| {
        let (parent, cancel) = Context::background().with_cancel();
        cancel.cancel();
        let ran = AtomicBool::new(false);
        let r = group::scope(&parent, |s| {
            assert!(s.spawn(|ctx| {
                ran.store(true, SeqCst);
                ctx.check()
            }));
            Ok(())
        });
        assert_eq!(r, Err(tether::ctx::Error::Canceled));
        assert!(ran.load(SeqCst));
    });
    assert_no_leaks();
}

#[test]
fn scope_limit_is_never_exceeded_and_try_spawn_fails_at_limit() {
    watchdog(|| {
        let now = AtomicUsize::new(0);
        let max = AtomicUsize::new(0);
        let gate = AtomicBool::new(false);
        group::scope_with_limit(&Context::background(), 2, |s| {
            for _ in 0..2 {
                s.spawn(|_| {
                    while !gate.load(SeqCst) {
                        std::thread::yield_now();
                    }
                    Ok(())
                });
            }
            assert!(!s.try_spawn(|_| Ok(())), "at the limit try_spawn must fail");
            gate.store(true, SeqCst);
            for _ in 0..20 {
                s.spawn(|_| {
                    max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    std::thread::yield_now();
                    now.fetch_sub(1, SeqCst);
                    Ok(())
                });
            }
            Ok::<_, Boom>(())
        })
        .unwrap();
        assert!(max.load(SeqCst) <= 2);
    });
    assert_no_leaks();
}

#[test]
fn scope_panic_cancels_and_is_resumed_after_all_threads() {
    let r = watchdog(|| {
        let sibling_done = AtomicBool::new(false);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            group::scope(&Context::background(), |s| {
                s.spawn(|ctx| {
                    ctx.wait_blocking();
                    let c = ctx.cause().unwrap();
                    let p = c.downcast_ref::<TaskPanicked>().unwrap();
                    assert_eq!(p.name(), Some("bad"));
                    assert_eq!(p.message(), "scope boom");
                    sibling_done.store(true, SeqCst);
                    Ok(())
                });
                s.spawn_named("bad", |_| panic!("scope boom"));
                Ok::<_, CtxError>(())
            })
        }));
        assert!(sibling_done.load(SeqCst));
        r
    });
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"scope boom"));
    assert_no_leaks();
}

#[test]
fn scope_nested_spawn_and_wait() {
    watchdog(|| {
        let n = AtomicUsize::new(0);
        group::scope(&Context::background(), |s| {
            let s2 = s.clone();
            let n = &n;
            s.spawn(move |_| {
                for _ in 0..3 {
                    s2.spawn(move |_| {
                        n.fetch_add(1, SeqCst);
                        Ok(())
                    });
                }
                Ok(())
            });
            s.wait();
            assert_eq!(n.load(SeqCst), 3);
            Ok::<_, Boom>(())
        })
        .unwrap();
    });
    assert_no_leaks();
}

#[test]
fn scope_parent_cancel_reaches_threads() {
    watchdog(|| {
        let (parent, cancel) = Context::background().with_cancel();
        let r = group::scope(&parent, |s| {
            s.spawn(|ctx| {
                ctx.wait_blocking();
                Ok(())
            });
            cancel.cancel();
            Ok::<_, Boom>(())
        });
        assert_eq!(r, Ok(()));
    });
    assert_no_leaks();
}
