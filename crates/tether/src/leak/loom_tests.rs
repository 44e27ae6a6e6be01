//! Loom models of the registry's arena (`registry`): the owner filling and
//! reclaiming slots while another thread ends a registration and a scanner
//! reads entries; entries are read only while held, dropped exactly once,
//! and a page is freed only when nothing can reach it. Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p tether --no-default-features --release --lib loom`

use std::panic::Location;

use super::Entry;
use super::registry::{Arena, Owned};
use loom::sync::Arc;
use loom::thread;

fn entry(tag: u32) -> Entry {
    Entry {
        kind: "model task",
        name: Some(format!("task {tag}").into()),
        site: Location::caller(),
        epoch: 0,
        tag,
        note: None,
    }
}

/// A leaked arena (the registry's are never freed either) and its owner.
fn arena() -> (&'static Arena, Owned) {
    let a: &'static Arena = Box::leak(Box::new(Arena::new()));
    // SAFETY: a new arena, owned only here.
    (a, unsafe { Owned::new(a) })
}

#[test]
fn loom_foreign_remove_races_a_scan_and_the_owner() {
    loom::model(|| {
        let (arena, mut own) = arena();
        let a = own.insert(entry(1), 1);
        let b = own.insert(entry(2), 1);
        let c = own.insert(entry(3), 1); // a second page (pages hold 2 under loom)
        let remover = thread::spawn(move || Arena::remove_foreign(a));
        let scanner = thread::spawn(move || {
            let mut seen = Vec::new();
            arena.scan(|e, _| seen.push(e.tag));
            // 3 stays live throughout; 1 and 2 are being ended meanwhile.
            assert!(seen.contains(&3), "a live entry is seen: {seen:?}");
            assert!(seen.iter().all(|t| (1..=3).contains(t)));
        });
        own.remove(b);
        remover.join().unwrap();
        scanner.join().unwrap();
        own.reclaim_returned();
        assert_eq!(arena.used(), 1);
        own.remove(c);
        assert_eq!(arena.used(), 0);
        assert!(own.pages() <= 2, "emptied pages beyond the spares are freed");
        // SAFETY: every registration ended; the model's arena goes.
        drop(unsafe { Box::from_raw(arena as *const Arena as *mut Arena) });
    });
}

#[test]
fn loom_note_races_removal_of_another_entry() {
    loom::model(|| {
        let (arena, mut own) = arena();
        let a = own.insert(entry(1), 1);
        let b = own.insert(entry(2), 1);
        let noter = thread::spawn(move || {
            a.with_live(|e| e.note = Some(super::Blocked::new("waiting", None)));
            a
        });
        let remover = thread::spawn(move || Arena::remove_foreign(b));
        let a = noter.join().unwrap();
        remover.join().unwrap();
        assert!(a.with_live(|e| e.note) == Some(Some(super::Blocked::new("waiting", None))));
        own.remove(a);
        assert_eq!(arena.used(), 0);
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(arena as *const Arena as *mut Arena) });
    });
}

#[test]
fn loom_pages_freed_while_a_scanner_looks() {
    loom::model(|| {
        let (arena, mut own) = arena();
        let slots: Vec<_> = (0..6).map(|i| own.insert(entry(i), 1)).collect();
        let arena2 = arena;
        let scanner = Arc::new(());
        let s2 = scanner.clone();
        let t = thread::spawn(move || {
            let _keep = s2;
            let mut n = 0;
            arena2.scan(|_, _| n += 1);
            assert!(n <= 6);
        });
        for s in slots {
            own.remove(s); // empties 3 pages: one is freed (2 spares kept)
        }
        t.join().unwrap();
        assert_eq!(arena.used(), 0);
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(arena as *const Arena as *mut Arena) });
    });
}
