//! The fast monotonic source behind [`clock::now`](super::now): the CPU's
//! time-stamp counter, scaled to nanoseconds and kept in step with std's
//! `Instant` (which it stands in for).
//!
//! std's `Instant::now()` costs a vDSO call, a seqlock and an ordered
//! counter read (2–3× a bare counter read here); a token bucket's `allow`
//! pays it on every call. This source reads the counter and evaluates a
//! piecewise-linear function of it, published as a *record*:
//!
//! ```text
//! F(x) = x·m1 + o1          for x <  v
//!        min(x, u)·m2 + o2  for x >= v
//! ```
//!
//! (`m` in nanoseconds per tick, 32 fractional bits; `o` in wrapping
//! arithmetic). The first reader
//! past `v` publishes the successor: it samples std's clock and the
//! counter together, keeps the current record's second segment as the
//! new first one (so both records agree up to `u`), and starts the new
//! second segment at `u`, at `F(u)`, with a slope that meets std's clock
//! one interval later. So the function never jumps back, and it *slews*
//! towards std's clock instead of stepping. A reader that finds the
//! counter past `u` (the process was idle, or a publisher stalled) sees the
//! value frozen at `F(u)` and publishes a successor itself, which starts
//! at `max(F(u), std now)`.
//!
//! # Why it never goes backwards across threads
//!
//! - A reader reads the record, then the counter with RDTSCP, so
//!   a read that happens after another (through any synchronisation) sees
//!   the same record or a later one and a counter value no smaller.
//! - Each function is non-decreasing, and a successor is never below its
//!   predecessor wherever a reader of the successor can look: it equals it
//!   up to `u`, and beyond `u` starts at `F(u)`, the most the predecessor
//!   ever returns. A stale reader (holding the old record) returns at most
//!   that.
//! - Records live in a ring of slots, each a seqlock; the current record's
//!   slot is *reserved* (never reused) until it is superseded, so readers
//!   never wait for a publisher, and a publisher that stalls holds up no
//!   one: others publish in other slots.
//!
//! The counter must be invariant and synchronised across cores: x86-64
//! with CPUID's invariant-TSC and RDTSCP bits, and on Linux the kernel's
//! own choice of `tsc` as its clock source (it checks the
//! synchronisation). Elsewhere, or with `TETHER_CLOCK=std`, the source is
//! std's clock itself.
//!
//! Ordered counter reads (RDTSCP) cost nearly what the whole of
//! `Instant::now()` does on this project's VM (the ordering is most of
//! it), so [`nanos`] is about at par with std; [`nanos_relaxed`], a plain
//! RDTSC, is about half, and serves the callers that can take a reading a
//! few nanoseconds early (the rate limiter).

// Under loom the clock is std's; the source itself is built only by the
// models (`loom_tests`).
#![cfg_attr(loom, allow(dead_code))]

#[cfg(loom)]
use loom::sync::atomic::fence;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
#[cfg(not(loom))]
use std::sync::atomic::fence;

use crate::sync_impl::AtomicU64;

/// Slots in the record ring: one current, one being written, and room for
/// stalled publishers and readers.
pub(super) const SLOTS: usize = 8;

/// A slot's `seq` is `id << 2 | STATE`.
const STABLE: u64 = 0;
/// The id of a slot that never held a record (so that id 0, "not
/// calibrated", matches no slot).
const NO_ID: u64 = u64::MAX >> 2;
const WRITING: u64 = 1;
const RESERVED: u64 = 2;

/// Nanoseconds per record: how often the source re-reads std's clock while
/// it is in use, and the horizon of each slope correction.
pub(super) const INTERVAL_NS: u64 = 1_000_000;
/// The rate is estimated again each time the baseline (from the
/// calibration point) has doubled, and at every record once it exceeds
/// 1 s; the calibration point moves every 4 s so that the rate follows
/// slow changes (NTP) of std's clock.
const LONG_BASELINE_NS: u64 = 1_000_000_000;
const REBASE_NS: u64 = 4_000_000_000;
/// A sample of the reference whose bracket of counter readings is wider
/// than this (the thread was interrupted) corrects nothing.
const MAX_SAMPLE_WIDTH_NS: u64 = 5_000;
/// The widest sample bracket the first calibration accepts, if it can
/// (ticks: about 1 µs on any TSC up to 4 GHz).
const CALIBRATION_WIDTH_TICKS: u64 = 4_000;
/// How long the first calibration watches the counter (once per process).
const FIRST_CALIBRATION_NS: u64 = 100_000;

/// Where a [`Source`] reads from.
pub(super) trait Counter {
    /// The counter, read after every earlier load of this thread completed.
    fn ticks(&self) -> u64;
    /// The counter, unordered (it may be read a few cycles early).
    fn ticks_relaxed(&self) -> u64;
    /// The reference clock: nanoseconds since the source's base instant.
    fn reference(&self) -> u64;
    /// The counter for a sample taken with the reference (as `ticks`; a
    /// model counter may keep its time still).
    fn sample_ticks(&self) -> u64 {
        self.ticks()
    }
}

/// One published record (see the module docs), plus the calibration its
/// publisher needs. Each segment is a line `mulshift(x, m) + o` (two's
/// complement: the offset `o` is the line's value at counter 0), so that a
/// reader evaluates it with one multiply and one add, and a successor that
/// keeps a segment keeps it *exactly* (no rounding between two forms of
/// one line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Record {
    o1: u64,
    m1: u64,
    v: u64,
    o2: u64,
    m2: u64,
    u: u64,
    /// The calibration point: a counter value and the reference then.
    cal_t: u64,
    cal_n: u64,
    /// The rate estimate (ns per tick, 32 fractional bits) and the
    /// baseline (ticks) it was taken over.
    m_est: u64,
    m_base: u64,
}

#[inline]
fn mulshift(dx: u64, m: u64) -> u64 {
    ((dx as u128 * m as u128) >> 32) as u64
}

/// The line of slope `m` and offset `o`, at `y`.
#[inline]
fn line(y: u64, m: u64, o: u64) -> u64 {
    mulshift(y, m).wrapping_add(o)
}

/// The offset of the line of slope `m` through `(x, n)`.
fn offset_through(x: u64, n: u64, m: u64) -> u64 {
    n.wrapping_sub(mulshift(x, m))
}

/// Ticks that `ns` nanoseconds take at rate `m`.
fn ticks_for(ns: u64, m: u64) -> u64 {
    (((ns as u128) << 32) / m.max(1) as u128).min(u64::MAX as u128 / 4) as u64
}

/// The rate (32 fractional bits) of `dn` nanoseconds over `dt` ticks.
fn rate(dn: u64, dt: u64) -> u64 {
    (((dn as u128) << 32) / dt.max(1) as u128).clamp(1, u64::MAX as u128 >> 8) as u64
}

impl Record {
    /// The first record, from two samples `(t0, n0)` and `(t1, n1)`.
    fn first(t0: u64, n0: u64, t1: u64, n1: u64, interval_ns: u64) -> Record {
        let m = rate(n1.saturating_sub(n0), t1.saturating_sub(t0));
        let l = ticks_for(interval_ns, m).max(1);
        let o = offset_through(t1, n1, m);
        let v = t1 + l;
        Record {
            o1: o,
            m1: m,
            v,
            o2: o, // one line through both segments
            m2: m,
            u: v + l,
            cal_t: t0,
            cal_n: n0,
            m_est: m,
            m_base: t1.saturating_sub(t0),
        }
    }

    /// The segment's line at `x`, unclamped: what the record predicts the
    /// reference reads.
    fn extrapolate(&self, x: u64) -> u64 {
        if x >= self.v { line(x, self.m2, self.o2) } else { line(x, self.m1, self.o1) }
    }

    /// The value at counter reading `x`.
    #[inline]
    pub(super) fn at(&self, x: u64) -> u64 {
        if x < self.v { line(x, self.m1, self.o1) } else { line(x.min(self.u), self.m2, self.o2) }
    }

    /// The successor, given a sample: counter `p`, reference `s`.
    fn successor(&self, p: u64, s: u64, interval_ns: u64) -> Record {
        let (mut cal_t, mut cal_n, mut m_est, mut m_base) = (self.cal_t, self.cal_n, self.m_est, self.m_base);
        let base = p.saturating_sub(cal_t);
        let base_ns = mulshift(base, m_est);
        if (base >= m_base.saturating_mul(2) || base_ns >= LONG_BASELINE_NS) && s > cal_n {
            m_est = rate(s - cal_n, base);
            m_base = base;
        }
        if base_ns >= REBASE_NS {
            // The estimate stands until the new baseline passes 1 s.
            (cal_t, cal_n, m_base) = (p, s, u64::MAX / 4);
        }
        let l = ticks_for(interval_ns, m_est).max(1);
        let last = self.at(self.u);
        let mut next = Record { cal_t, cal_n, m_est, m_base, ..*self };
        if p < self.u {
            // In time: keep our second segment until `u`, then slew so as
            // to meet the reference one interval later.
            next.o1 = self.o2;
            next.m1 = self.m2;
            next.v = self.u;
            let w = self.u + l;
            let target = s + mulshift(w - p, m_est);
            let slope = rate(target.saturating_sub(last), l);
            next.m2 = slope.clamp(m_est - m_est / 8, m_est + m_est / 8);
            next.o2 = offset_through(next.v, last, next.m2);
        } else {
            // Late: readers have seen `last` since `u`; resume from the
            // reference (never below `last`).
            next.o1 = last;
            next.m1 = 0;
            next.v = p;
            next.m2 = m_est;
            next.o2 = offset_through(p, last.max(s), m_est);
        }
        next.u = next.v + l;
        next
    }
}

/// A record's home: a seqlock (`seq`) over its fields, the hot ones first
/// so that a reader touches one cache line.
#[repr(align(128))]
struct Slot {
    seq: AtomicU64,
    o1: AtomicU64,
    m1: AtomicU64,
    v: AtomicU64,
    o2: AtomicU64,
    m2: AtomicU64,
    u: AtomicU64,
    cal_t: AtomicU64,
    cal_n: AtomicU64,
    m_est: AtomicU64,
    m_base: AtomicU64,
}

impl Slot {
    #[cfg(not(loom))]
    const fn new() -> Slot {
        Slot {
            seq: AtomicU64::new(NO_ID << 2),
            o1: AtomicU64::new(0),
            m1: AtomicU64::new(0),
            v: AtomicU64::new(0),
            o2: AtomicU64::new(0),
            m2: AtomicU64::new(0),
            u: AtomicU64::new(0),
            cal_t: AtomicU64::new(0),
            cal_n: AtomicU64::new(0),
            m_est: AtomicU64::new(0),
            m_base: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    fn new() -> Slot {
        let z = || AtomicU64::new(0);
        Slot {
            seq: AtomicU64::new(NO_ID << 2),
            o1: z(),
            m1: z(),
            v: z(),
            o2: z(),
            m2: z(),
            u: z(),
            cal_t: z(),
            cal_n: z(),
            m_est: z(),
            m_base: z(),
        }
    }

    /// Writes `r` as record `id`; the caller holds the slot (WRITING).
    fn write(&self, id: u64, r: &Record) {
        // Seqlock writer: the WRITING mark is ordered before the fields.
        fence(Release);
        self.o1.store(r.o1, Relaxed);
        self.m1.store(r.m1, Relaxed);
        self.v.store(r.v, Relaxed);
        self.o2.store(r.o2, Relaxed);
        self.m2.store(r.m2, Relaxed);
        self.u.store(r.u, Relaxed);
        self.cal_t.store(r.cal_t, Relaxed);
        self.cal_n.store(r.cal_n, Relaxed);
        self.m_est.store(r.m_est, Relaxed);
        self.m_base.store(r.m_base, Relaxed);
        self.seq.store(id << 2 | RESERVED, Release);
    }

    /// The whole record `id`, if the slot still holds it.
    fn read(&self, id: u64) -> Option<Record> {
        let seq = self.seq.load(Acquire);
        if seq >> 2 != id || seq & WRITING != 0 {
            return None;
        }
        let r = Record {
            o1: self.o1.load(Relaxed),
            m1: self.m1.load(Relaxed),
            v: self.v.load(Relaxed),
            o2: self.o2.load(Relaxed),
            m2: self.m2.load(Relaxed),
            u: self.u.load(Relaxed),
            cal_t: self.cal_t.load(Relaxed),
            cal_n: self.cal_n.load(Relaxed),
            m_est: self.m_est.load(Relaxed),
            m_base: self.m_base.load(Relaxed),
        };
        fence(Acquire);
        (self.seq.load(Relaxed) == seq).then_some(r)
    }
}

/// A monotonic nanosecond clock driven by a [`Counter`] and kept in step
/// with its reference (see the module docs).
pub(super) struct Source<C> {
    /// The current record's id (0: not calibrated yet).
    current: AtomicU64,
    /// The highest id whose successor someone has set out to publish.
    claimed: AtomicU64,
    /// Ids for records (the last one handed out).
    tickets: AtomicU64,
    slots: [Slot; SLOTS],
    counter: C,
    interval_ns: u64,
}

impl<C: Counter> Source<C> {
    #[cfg(not(loom))]
    pub(super) const fn new(counter: C, interval_ns: u64) -> Source<C> {
        Source {
            current: AtomicU64::new(0),
            claimed: AtomicU64::new(0),
            tickets: AtomicU64::new(0),
            slots: [const { Slot::new() }; SLOTS],
            counter,
            interval_ns,
        }
    }

    #[cfg(loom)]
    pub(super) fn new(counter: C, interval_ns: u64) -> Source<C> {
        Source {
            current: AtomicU64::new(0),
            claimed: AtomicU64::new(0),
            tickets: AtomicU64::new(0),
            slots: std::array::from_fn(|_| Slot::new()),
            counter,
            interval_ns,
        }
    }

    #[cfg(test)]
    pub(super) fn counter(&self) -> &C {
        &self.counter
    }

    /// The current record's switch point (for models that start there).
    #[cfg(all(test, loom))]
    pub(super) fn switch_point(&self) -> u64 {
        let id = self.current.load(Acquire);
        self.slots[id as usize % SLOTS].read(id).expect("current").v
    }

    /// Publishes the first record from two samples taken `watch_ns` apart
    /// (by the reference). Call once, before any read.
    pub(super) fn calibrate(&self, watch_ns: u64) {
        // Samples from a tight bracket (not interrupted), if one comes
        // within a few tries: the first rate estimate is only as good.
        let tight = |this: &Self| {
            let mut s = this.sample();
            for _ in 0..10 {
                if s.2 <= CALIBRATION_WIDTH_TICKS {
                    break;
                }
                s = this.sample();
            }
            s
        };
        let (t0, n0, _) = tight(self);
        let mut s = (t0, n0, 0);
        while s.1.saturating_sub(n0) < watch_ns {
            std::hint::spin_loop();
            s = self.sample();
        }
        let s = tight(self);
        self.start(t0, n0, s.0, s.1);
    }

    /// Publishes the first record from two samples `(t0, n0)`, `(t1, n1)`.
    pub(super) fn start(&self, t0: u64, n0: u64, t1: u64, n1: u64) {
        let first = Record::first(t0, n0, t1, n1, self.interval_ns);
        self.slots[1].seq.store(1 << 2 | WRITING, Relaxed);
        self.slots[1].write(1, &first);
        self.tickets.store(1, Relaxed);
        self.current.store(1, Release);
    }

    /// Nanoseconds since the base: ordered after this thread's earlier
    /// loads, so never below a value that any thread returned before (and
    /// made known to this one). `None` until calibrated.
    #[inline(always)]
    pub(super) fn nanos(&self) -> Option<u64> {
        self.read(true)
    }

    /// [`nanos`](Source::nanos) without ordering the counter read: a few
    /// cycles cheaper, and possibly a few nanoseconds below a value another
    /// thread just published. For callers that tolerate that (the rate
    /// limiter treats a reading below its last update as that update).
    #[inline(always)]
    pub(super) fn nanos_relaxed(&self) -> Option<u64> {
        self.read(false)
    }

    #[inline(always)]
    fn read(&self, ordered: bool) -> Option<u64> {
        loop {
            let id = self.current.load(Acquire);
            let slot = &self.slots[id as usize % SLOTS];
            let o1 = slot.o1.load(Relaxed);
            let m1 = slot.m1.load(Relaxed);
            let v = slot.v.load(Relaxed);
            fence(Acquire);
            // The fields are record `id`'s if the slot still holds it
            // (reserved or not), as the acquire load of `current` made them
            // visible; a slot being rewritten or holding another record
            // fails. Id 0 (not calibrated) matches no slot.
            if slot.seq.load(Relaxed) & !RESERVED != id << 2 {
                if id == 0 {
                    return None;
                }
                #[cfg(loom)]
                loom::thread::yield_now();
                std::hint::spin_loop();
                continue;
            }
            let x = if ordered { self.counter.ticks() } else { self.counter.ticks_relaxed() };
            if x < v {
                return Some(line(x, m1, o1));
            }
            if let Some(ns) = self.past_switch(id, x) {
                return Some(ns);
            }
        }
    }

    /// The reading `x` is past the record's switch point `v`: the second
    /// segment, plus publishing the successor. `None`: read again.
    #[cold]
    #[inline(never)]
    fn past_switch(&self, id: u64, x: u64) -> Option<u64> {
        let rec = self.slots[id as usize % SLOTS].read(id)?;
        if x < rec.u {
            // One publisher per record; the others use the second segment,
            // valid until `u`, meanwhile.
            if self.claimed.load(Relaxed) < id && self.claimed.fetch_max(id, AcqRel) < id {
                self.publish(id, &rec);
            }
            return Some(rec.at(x));
        }
        // Past `u`: the value would be frozen at F(u). Publish (whoever
        // claimed may have stalled), then read the successor.
        if self.current.load(Relaxed) == id {
            self.publish(id, &rec);
        }
        None
    }

    /// A reading of the counter and the reference together: the counter
    /// midway between two readings around the reference, the closest of
    /// three tries; and the width (ticks) of that bracket.
    fn sample(&self) -> (u64, u64, u64) {
        let mut best = (u64::MAX, 0, 0);
        for _ in 0..3 {
            let t1 = self.counter.sample_ticks();
            let n = self.counter.reference();
            let t2 = self.counter.sample_ticks();
            let width = t2.saturating_sub(t1);
            if width < best.0 {
                best = (width, t1 + width / 2, n);
            }
        }
        (best.1, best.2, best.0)
    }

    /// Publishes the successor of record `id` (a no-op if another
    /// publisher gets there first).
    fn publish(&self, id: u64, rec: &Record) {
        let (p, mut s, width) = self.sample();
        if width > ticks_for(MAX_SAMPLE_WIDTH_NS, rec.m_est) {
            // The thread was interrupted around every try: this reference
            // reading could be off by as much. Correct nothing this time
            // (extend the current line instead).
            s = rec.extrapolate(p);
        }
        let next = rec.successor(p, s, self.interval_ns);
        // A free slot: not being written, not reserved (the current
        // record's slot always is).
        for _ in 0..4 * SLOTS {
            let t = self.tickets.fetch_add(1, Relaxed) + 1;
            let slot = &self.slots[t as usize % SLOTS];
            let seq = slot.seq.load(Relaxed);
            if seq & (WRITING | RESERVED) != 0
                || slot.seq.compare_exchange(seq, t << 2 | WRITING, Acquire, Relaxed).is_err()
            {
                continue;
            }
            slot.write(t, &next);
            if self.current.compare_exchange(id, t, AcqRel, Relaxed).is_ok() {
                // The superseded record's slot may be reused once readers
                // that still look at it notice (its seq changes).
                let old = &self.slots[id as usize % SLOTS];
                let _ = old.seq.compare_exchange(id << 2 | RESERVED, id << 2 | STABLE, Release, Relaxed);
            } else {
                slot.seq.store(t << 2 | STABLE, Release);
            }
            return;
        }
    }
}

// ---------------------------------------------------------------------
// The process's source: the TSC, or std's clock where the TSC won't do.
// ---------------------------------------------------------------------

#[cfg(not(loom))]
pub(super) use real::{base, nanos, nanos_relaxed, source_name};

#[cfg(not(loom))]
mod real {
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::{Counter, FIRST_CALIBRATION_NS, INTERVAL_NS, Source};

    /// The instant that nanosecond readings count from.
    static BASE: OnceLock<Instant> = OnceLock::new();
    /// Whether the TSC drives the clock (decided once, with `BASE`).
    static FAST: OnceLock<bool> = OnceLock::new();

    pub(crate) struct Tsc;

    impl Counter for Tsc {
        #[inline(always)]
        fn ticks(&self) -> u64 {
            rdtsc_ordered()
        }
        #[inline(always)]
        fn ticks_relaxed(&self) -> u64 {
            rdtsc()
        }
        fn reference(&self) -> u64 {
            std_nanos()
        }
    }

    static TSC: Source<Tsc> = Source::new(Tsc, INTERVAL_NS);

    #[inline(always)]
    fn rdtsc() -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: RDTSC exists on every x86-64 CPU and only reads a
            // counter (the intrinsic is `unsafe` on older compilers only).
            #[allow(unused_unsafe)]
            unsafe {
                std::arch::x86_64::_rdtsc()
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            unreachable!("the TSC source is only chosen on x86-64")
        }
    }

    /// RDTSCP: the counter, read once every earlier instruction has
    /// executed and every earlier load is globally visible, so a reading
    /// that follows a synchronising load cannot be taken before it (what
    /// Linux's `rdtsc_ordered` does where the CPU has RDTSCP; a little
    /// cheaper than LFENCE + RDTSC).
    #[inline(always)]
    fn rdtsc_ordered() -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            let mut cpu = 0u32;
            // SAFETY: RDTSCP is present (`tsc_usable` checked CPUID before
            // this source was chosen); it only reads the counter and the
            // CPU number into `cpu`, a local.
            unsafe { std::arch::x86_64::__rdtscp(&mut cpu) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            unreachable!("the TSC source is only chosen on x86-64")
        }
    }

    /// True if the TSC may drive the clock: an invariant TSC that the OS
    /// trusts, and no `TETHER_CLOCK=std` in the environment.
    fn tsc_usable() -> bool {
        if std::env::var_os("TETHER_CLOCK").is_some_and(|v| v == "std") {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: CPUID exists on every x86-64 CPU; leaf 0x80000000
            // reports the highest extended leaf, 0x80000001 (asked for only
            // if present) RDTSCP in EDX bit 27, and 0x80000007 the
            // invariant TSC in EDX bit 8.
            #[allow(unused_unsafe)]
            let usable = unsafe {
                use std::arch::x86_64::__cpuid;
                let max = __cpuid(0x8000_0000).eax;
                max >= 0x8000_0007
                    && __cpuid(0x8000_0001).edx & (1 << 27) != 0
                    && __cpuid(0x8000_0007).edx & (1 << 8) != 0
            };
            if !usable {
                return false;
            }
            // Linux checks that the TSCs of all CPUs agree and keeps them
            // so; it uses another clock source when they don't.
            #[cfg(target_os = "linux")]
            if let Ok(s) = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource") {
                return s.trim() == "tsc";
            }
            true
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    #[cold]
    fn init() -> bool {
        let _ = base();
        let fast = tsc_usable();
        if fast {
            TSC.calibrate(FIRST_CALIBRATION_NS);
        }
        fast
    }

    #[inline]
    pub(crate) fn base() -> Instant {
        *BASE.get_or_init(Instant::now)
    }

    #[inline]
    fn fast() -> bool {
        match FAST.get() {
            Some(f) => *f,
            None => *FAST.get_or_init(init),
        }
    }

    fn std_nanos() -> u64 {
        Instant::now().saturating_duration_since(base()).as_nanos() as u64
    }

    /// Nanoseconds since [`base`], never decreasing across threads.
    #[inline(always)]
    pub(crate) fn nanos() -> u64 {
        match TSC.nanos() {
            Some(ns) => ns,
            None => not_calibrated(false),
        }
    }

    /// [`nanos`] without ordering the counter read (see `Source::nanos_relaxed`).
    #[inline(always)]
    pub(crate) fn nanos_relaxed() -> u64 {
        match TSC.nanos_relaxed() {
            Some(ns) => ns,
            None => not_calibrated(true),
        }
    }

    /// The first read (which calibrates), or std's clock as the source.
    #[cold]
    #[inline(never)]
    fn not_calibrated(relaxed: bool) -> u64 {
        if fast() {
            let ns = if relaxed { TSC.nanos_relaxed() } else { TSC.nanos() };
            ns.expect("calibrated")
        } else {
            std_nanos()
        }
    }

    /// "tsc" or "std": what drives the clock.
    pub(crate) fn source_name() -> &'static str {
        if fast() { "tsc" } else { "std" }
    }

    #[cfg(test)]
    pub(crate) fn tsc_counter() -> Option<Tsc> {
        fast().then_some(Tsc)
    }
}

#[cfg(all(test, not(loom)))]
pub(super) use real::tsc_counter;

#[cfg(loom)]
pub(super) use loom_std::{base, nanos, nanos_relaxed, source_name};

/// Under loom the clock is std's: loom cannot model the TSC (the record
/// protocol itself is modelled with a counter of its own, see
/// `loom_tests`).
#[cfg(loom)]
mod loom_std {
    use std::time::Instant;

    pub(crate) fn base() -> Instant {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    pub(crate) fn nanos() -> u64 {
        Instant::now().saturating_duration_since(base()).as_nanos() as u64
    }

    pub(crate) fn nanos_relaxed() -> u64 {
        nanos()
    }

    pub(crate) fn source_name() -> &'static str {
        "std"
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering::SeqCst};
    use std::sync::{Arc, Barrier};

    use super::*;

    /// A counter driven by the test: ticks advance by `step` per read; the
    /// reference runs at `num/den` ns per tick plus a bias.
    struct Fake {
        ticks: StdAtomicU64,
        step: u64,
        num: u64,
        den: u64,
        bias: StdAtomicU64,
    }

    impl Fake {
        fn new(step: u64, num: u64, den: u64) -> Fake {
            Fake { ticks: StdAtomicU64::new(1_000), step, num, den, bias: StdAtomicU64::new(0) }
        }
        fn now(&self) -> u64 {
            let t = self.ticks.load(SeqCst);
            (t as u128 * self.num as u128 / self.den as u128) as u64 + self.bias.load(SeqCst)
        }
    }

    impl Counter for Fake {
        fn ticks(&self) -> u64 {
            self.ticks.fetch_add(self.step, SeqCst) + self.step
        }
        fn ticks_relaxed(&self) -> u64 {
            self.ticks()
        }
        fn reference(&self) -> u64 {
            self.now()
        }
    }

    /// Readings never decrease and stay within `bound` of the reference,
    /// over many records (slope changes included).
    #[test]
    fn tracks_the_reference_without_going_back() {
        // 2.6 ticks per ns, 1 tick per read: many reads per record.
        let src = Source::new(Fake::new(37, 10, 26), 20_000);
        src.calibrate(1_000);
        let mut last = 0;
        let mut worst = 0i64;
        for i in 0..200_000 {
            if i == 100_000 {
                // The reference steps 50 ns ahead: the source slews after it.
                src.counter().bias.store(50, SeqCst);
            }
            let ns = src.nanos().unwrap();
            assert!(ns >= last, "went back from {last} to {ns} at read {i}");
            last = ns;
            let err = ns as i64 - src.counter().now() as i64;
            if i > 20_000 {
                worst = worst.max(err.abs());
            }
        }
        assert!(worst < 200, "drifted {worst} ns from the reference");
    }

    /// After the counter ran far past a record (an idle process), the first
    /// reading catches up with the reference at once, never going back.
    #[test]
    fn catches_up_after_idling() {
        let src = Source::new(Fake::new(3, 10, 26), 20_000);
        src.calibrate(1_000);
        let before = src.nanos().unwrap();
        src.counter().ticks.fetch_add(26_000_000_000, SeqCst); // 10 s idle
        let after = src.nanos().unwrap();
        assert!(after >= before);
        assert!(after.abs_diff(src.counter().now()) < 1_000, "{after} vs {}", src.counter().now());
    }

    /// Readers on several threads, each handing its last reading to the
    /// next through a shared atomic: no reading is ever below one made
    /// before it, with records republished constantly (a tiny interval).
    #[test]
    fn monotonic_across_threads_with_the_real_counter() {
        let Some(tsc) = tsc_counter() else { return };
        let src = Arc::new(Source::new(tsc, 2_000)); // a record every 2 µs
        src.calibrate(20_000);
        let latest = Arc::new(StdAtomicU64::new(0));
        let start = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (src, latest, start) = (src.clone(), latest.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..200_000 {
                        let seen = latest.load(SeqCst);
                        let mine = src.nanos().unwrap();
                        assert!(mine >= seen, "read {mine} after another thread's {seen}");
                        latest.fetch_max(mine, SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn successor_agrees_with_its_predecessor_until_the_switch() {
        let r = Record::first(0, 0, 26_000, 10_000, 1_000_000);
        let p = r.v + 5;
        let next = r.successor(p, r.at(p) + 300, 1_000_000);
        for x in [p, p + 1000, r.u - 1] {
            assert_eq!(next.at(x), r.at(x));
        }
        assert_eq!(next.at(r.u), r.at(r.u));
        assert!(next.at(r.u + 1000) >= r.at(r.u));
    }
}
