//! A hierarchical timing wheel: O(1) insert and cancel at any number of
//! timers, and firing in deadline order.
//!
//! Time is counted in ticks of 2^16 ns (65.5 µs). Level `k` has 64 slots of
//! 64^k ticks each; a timer sits in the lowest level whose current window
//! holds its tick, so the levels split the future into successive ranges
//! (the current 64 ticks, then the current 4,096, and so on) and the first
//! occupied slot of the lowest occupied level holds the earliest timer.
//! Reaching a slot of a higher level moves its timers down ("cascading");
//! a timer cascades at most once per level over its life. Deadlines keep
//! their exact nanoseconds: a slot of level 0 fires the timers that are
//! due and keeps the rest, so no timer fires early and none is rounded to
//! the tick.
//!
//! Timers live in one slab, linked into their slot's list by index, so a
//! cancel unlinks in O(1) and a firing timer leaves nothing behind.

// Under loom no timer thread runs, so nothing fires.
#![cfg_attr(loom, allow(dead_code))]

use crate::slab::Slab;

/// Nanoseconds per tick, as a shift.
const TICK_SHIFT: u32 = 16;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// 7 levels cover 2^42 ticks (9 years); later deadlines wait in the top
/// level and are placed again each time its slot comes round.
const LEVELS: usize = 7;
const NIL: u32 = u32::MAX;

pub(super) type Callback = Box<dyn FnOnce() + Send + 'static>;

struct Entry {
    /// The deadline, in nanoseconds since the clock's base.
    at: u64,
    /// Insertion order: ties fire first-in, first-out.
    seq: u64,
    /// Tells apart the timers that reuse a slab key.
    generation: u32,
    prev: u32,
    next: u32,
    level: u8,
    slot: u8,
    f: Callback,
}

/// A due timer, handed out by [`Wheel::poll`].
pub(super) struct Due {
    pub(super) at: u64,
    pub(super) seq: u64,
    pub(super) f: Callback,
}

pub(super) struct Wheel {
    entries: Slab<Entry>,
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    /// Every slot before this tick has been processed.
    elapsed: u64,
    seq: u64,
    generation: u32,
    /// Scratch for [`poll`](Wheel::poll): timers of a slot not due yet.
    kept: Vec<u32>,
}

impl Default for Wheel {
    fn default() -> Self {
        Wheel {
            entries: Slab::new(),
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            elapsed: 0,
            seq: 0,
            generation: 0,
            kept: Vec::new(),
        }
    }
}

/// The level and slot of tick `t` (not before `elapsed`) from `elapsed`.
fn place(elapsed: u64, t: u64) -> (usize, usize) {
    let masked = (elapsed ^ t) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    let level = (significant / SLOT_BITS) as usize;
    let level = level.min(LEVELS - 1);
    (level, ((t >> (level as u32 * SLOT_BITS)) & (SLOTS as u64 - 1)) as usize)
}

impl Wheel {
    /// Timers scheduled.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Schedules `f` at `at` (ns); returns its key and generation.
    pub(super) fn insert(&mut self, at: u64, f: Callback) -> (u32, u32) {
        self.seq += 1;
        self.generation = self.generation.wrapping_add(1);
        let e = Entry { at, seq: self.seq, generation: self.generation, prev: NIL, next: NIL, level: 0, slot: 0, f };
        let key = self.entries.insert(e);
        assert!(key < NIL as usize, "tether: more than 4 billion timers");
        self.link(key as u32);
        (key as u32, self.generation)
    }

    /// Cancels a timer; its callback if it was still scheduled.
    pub(super) fn cancel(&mut self, key: u32, generation: u32) -> Option<Callback> {
        match self.entries.get_mut(key as usize) {
            Some(e) if e.generation == generation => {}
            _ => return None,
        }
        self.unlink(key);
        self.entries.remove(key as usize).map(|e| e.f)
    }

    fn link(&mut self, key: u32) {
        let elapsed = self.elapsed;
        let e = self.entries.get_mut(key as usize).expect("linking a live timer");
        // Beyond the wheel's reach, a timer waits in the top level's
        // farthest slot and is placed again when that slot comes round.
        let reach = (1u64 << (LEVELS as u32 * SLOT_BITS)) - 1;
        let t = (e.at >> TICK_SHIFT).clamp(elapsed, elapsed.saturating_add(reach));
        let (level, slot) = place(elapsed, t);
        let head = self.heads[level][slot];
        e.level = level as u8;
        e.slot = slot as u8;
        e.prev = NIL;
        e.next = head;
        if head != NIL {
            self.entries.get_mut(head as usize).expect("slot head").prev = key;
        }
        self.heads[level][slot] = key;
        self.occupied[level] |= 1 << slot;
    }

    fn unlink(&mut self, key: u32) {
        let e = self.entries.get_mut(key as usize).expect("unlinking a live timer");
        let (prev, next, level, slot) = (e.prev, e.next, e.level as usize, e.slot as usize);
        if prev == NIL {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1 << slot);
            }
        } else {
            self.entries.get_mut(prev as usize).expect("prev").next = next;
        }
        if next != NIL {
            self.entries.get_mut(next as usize).expect("next").prev = prev;
        }
    }

    /// The first occupied slot (level, slot) and the tick it starts at.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let bits = self.occupied[level];
            if bits == 0 {
                continue;
            }
            let shift = level as u32 * SLOT_BITS;
            let cur = ((self.elapsed >> shift) & (SLOTS as u64 - 1)) as u32;
            let k = bits.rotate_right(cur).trailing_zeros();
            let slot = (cur + k) as usize % SLOTS;
            let range = 1u64 << (shift + SLOT_BITS);
            let mut start = (self.elapsed & !(range - 1)) + ((slot as u64) << shift);
            if (slot as u32) < cur {
                start += range; // wrapped (top level only)
            }
            return Some((level, slot, start));
        }
        None
    }

    fn entry(&self, k: u32) -> &Entry {
        self.entries.get(k as usize).expect("a linked timer")
    }

    /// The earliest deadline (ns), exactly (scans the first occupied slot).
    pub(super) fn next_deadline(&self) -> Option<u64> {
        let (level, slot, _) = self.next_slot()?;
        let mut k = self.heads[level][slot];
        let mut min = u64::MAX;
        while k != NIL {
            let e = self.entry(k);
            min = min.min(e.at);
            k = e.next;
        }
        Some(min)
    }

    /// When the wheel next has work (ns): the earliest deadline if it is
    /// in the lowest level (a slot of 65 µs), else the start of the slot
    /// whose timers then move down. Never later than the earliest deadline.
    pub(super) fn next_wake(&self) -> Option<u64> {
        let (level, _, tick) = self.next_slot()?;
        if level == 0 { self.next_deadline() } else { Some(tick << TICK_SHIFT) }
    }

    /// Time went back (a virtual clock was installed or removed: virtual
    /// time runs ahead of real time): places every timer again from `to`.
    #[cold]
    fn rewind(&mut self, to: u64) {
        let mut all = std::mem::take(&mut self.kept);
        for level in 0..LEVELS {
            for slot in 0..SLOTS {
                let mut k = std::mem::replace(&mut self.heads[level][slot], NIL);
                while k != NIL {
                    all.push(k);
                    k = self.entry(k).next;
                }
            }
            self.occupied[level] = 0;
        }
        self.elapsed = to;
        for k in all.drain(..) {
            self.link(k);
        }
        self.kept = all;
    }

    /// Moves the timers due at `now` (ns) into `out` in deadline order
    /// (ties: insertion order), doing at most `budget` units of work (a
    /// timer fired or moved down a level). True if it stopped for the
    /// budget: call again for the rest.
    pub(super) fn poll(&mut self, now: u64, budget: usize, out: &mut Vec<Due>) -> bool {
        let start = out.len();
        let now_tick = now >> TICK_SHIFT;
        if now_tick < self.elapsed {
            self.rewind(now_tick);
        }
        let mut work = 0;
        let mut more = false;
        let mut kept = std::mem::take(&mut self.kept);
        'slots: while let Some((level, slot, tick)) = self.next_slot() {
            if tick > now_tick {
                break;
            }
            self.elapsed = self.elapsed.max(tick);
            loop {
                let k = self.heads[level][slot];
                if k == NIL {
                    break;
                }
                if work == budget {
                    more = true;
                    break 'slots;
                }
                self.unlink(k);
                if level > 0 {
                    self.link(k); // moves down: the slot's range is now current
                    work += 1;
                } else if self.entry(k).at > now {
                    kept.push(k);
                } else {
                    let e = self.entries.remove(k as usize).expect("a due timer");
                    out.push(Due { at: e.at, seq: e.seq, f: e.f });
                    work += 1;
                }
            }
            if !kept.is_empty() {
                break; // the rest of this slot is not due yet
            }
        }
        for k in kept.drain(..) {
            self.link(k);
        }
        self.kept = kept;
        if !more && self.next_slot().is_none_or(|(_, _, tick)| tick > now_tick) {
            self.elapsed = self.elapsed.max(now_tick);
        }
        out[start..].sort_unstable_by_key(|d| (d.at, d.seq));
        more
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recorder() -> (Arc<Mutex<Vec<u64>>>, impl Fn(u64) -> Callback) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        (log, move |v| {
            let l = l.clone();
            Box::new(move || l.lock().unwrap().push(v))
        })
    }

    fn fire(w: &mut Wheel, now: u64) -> usize {
        let mut out = Vec::new();
        w.poll(now, usize::MAX, &mut out);
        let n = out.len();
        for d in out {
            (d.f)();
        }
        n
    }

    #[test]
    fn fires_in_order_exactly_when_due() {
        let (log, cb) = recorder();
        let mut w = Wheel::default();
        let deadlines = [5u64, 70_000, 65_536, 1 << 30, 3 << 40, 12, 12, 1 << 22];
        for (i, &at) in deadlines.iter().enumerate() {
            w.insert(at, cb(i as u64));
        }
        assert_eq!(w.next_deadline(), Some(5));
        assert_eq!(fire(&mut w, 4), 0);
        assert_eq!(fire(&mut w, 12), 3);
        assert_eq!(*log.lock().unwrap(), [0, 5, 6], "deadline order, ties first-in first-out");
        assert_eq!(w.next_deadline(), Some(65_536));
        assert_eq!(fire(&mut w, 65_535), 0, "never early, even within a tick");
        assert_eq!(fire(&mut w, 70_000), 2);
        assert_eq!(w.next_deadline(), Some(1 << 22));
        assert_eq!(fire(&mut w, u64::MAX >> 1), 3);
        assert_eq!(*log.lock().unwrap(), [0, 5, 6, 2, 1, 7, 3, 4]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn cancel_is_exact_and_keys_are_not_confused() {
        let (log, cb) = recorder();
        let mut w = Wheel::default();
        let (k, g) = w.insert(1_000_000, cb(1));
        assert!(w.cancel(k, g).is_some());
        assert!(w.cancel(k, g).is_none(), "a second cancel finds nothing");
        let (k2, g2) = w.insert(2_000_000, cb(2));
        assert_eq!(k2, k, "the key is reused");
        assert!(w.cancel(k, g).is_none(), "the old generation does not cancel the new timer");
        assert_eq!(fire(&mut w, 3_000_000), 1);
        assert!(w.cancel(k2, g2).is_none(), "fired timers cannot be cancelled");
        assert_eq!(*log.lock().unwrap(), [2]);
    }

    #[test]
    fn many_timers_fire_once_each_in_order() {
        let (log, cb) = recorder();
        let mut w = Wheel::default();
        let mut x = 12345u64;
        let mut expect = Vec::new();
        for i in 0..20_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = (x >> 20) % (1 << 34);
            if i % 3 == 0 {
                let (k, g) = w.insert(at, cb(u64::MAX));
                w.cancel(k, g);
            } else {
                w.insert(at, cb(at));
                expect.push(at);
            }
        }
        expect.sort_unstable();
        let mut now = 0;
        while w.len() > 0 {
            now += 1 << 27;
            fire(&mut w, now);
        }
        assert_eq!(*log.lock().unwrap(), expect);
    }

    #[test]
    fn time_going_back_places_timers_again() {
        let (log, cb) = recorder();
        let mut w = Wheel::default();
        w.insert(10 << 30, cb(1));
        assert_eq!(fire(&mut w, 20 << 30), 1); // elapsed is far ahead now
        w.insert(1 << 30, cb(2)); // a deadline "in the past" of the wheel
        w.insert(2 << 30, cb(3));
        assert_eq!(fire(&mut w, (1 << 30) - 1), 0, "the clock went back: not due yet");
        assert_eq!(w.next_deadline(), Some(1 << 30));
        assert_eq!(fire(&mut w, 1 << 30), 1);
        assert_eq!(fire(&mut w, 3 << 30), 1);
        assert_eq!(*log.lock().unwrap(), [1, 2, 3]);
    }

    #[test]
    fn a_limit_leaves_the_rest_for_the_next_poll() {
        let (_log, cb) = recorder();
        let mut w = Wheel::default();
        for i in 0..10 {
            w.insert(100 + i, cb(i));
        }
        let mut out = Vec::new();
        assert!(w.poll(1_000, 4, &mut out));
        assert_eq!(out.len(), 4);
        out.clear();
        assert!(!w.poll(1_000, 100, &mut out));
        assert_eq!(out.len(), 6);
        assert_eq!(w.len(), 0);
    }
}
