//! Waiting for a change across processes without polling: an event count on a 32-bit word.
//!
//! An [`Event`] is two words in shared memory: `seq`, bumped by every [`Event::signal`], and
//! `waiters`, the number of processes asleep on it. The waiting side follows the event-count
//! pattern:
//!
//! 1. `let key = event.key()` — read `seq` *before* looking at the condition;
//! 2. check the condition (a newer value, a free slot, ...); if it holds, stop;
//! 3. `event.wait(key, …)` — sleep until `seq != key` (or the timeout).
//!
//! A signal between 1 and 3 changes `seq`, so the sleep returns at once: no lost wake-ups.
//!
//! The writer skips the wake system call when `waiters == 0` (a publish costs tens of
//! nanoseconds, not a syscall). The pairing is Dekker's: the signaller bumps `seq`, then reads
//! `waiters`; a waiter bumps `waiters`, then reads `seq`, all four `SeqCst`. At least one of
//! them sees the other's write, so either the signaller wakes, or the waiter sees the new `seq`
//! and does not sleep.
//!
//! A waiter that cannot write the segment (opened read-only without write permission) cannot
//! count itself. Segments created with a mode that lets someone read but not write set the
//! header's `WAKE_ALWAYS` flag, and their signallers always make the wake call. Where that is
//! not enough (a read-only mount, a security module's denial, a `chmod` after creation), such
//! a waiter also wakes every 50 ms to look: late, but never asleep forever.
//!
//! A waiter that did count itself sleeps in the same bounded slices: the count lives in memory
//! any writer can scribble on, and a peer that wrote 0 into it would otherwise make signallers
//! skip the wake-up and strand the sleeper. A slice that ends looks at `seq` and sleeps again —
//! one system call per sleeper every 50 ms, never a missed value.
//!
//! On Linux the sleep is a shared futex on `seq`. A waiter killed while asleep leaves `waiters`
//! one too high: signallers then make a (harmless) wake call per signal until the segment is
//! recreated.

use std::time::{Duration, Instant};

use crate::sync::{AtomicU32, Ordering, spin_hint};

/// How long a waiter sleeps before it looks again, in case its wake-up was skipped (it could
/// not count itself, or a peer scribbled on the count).
const SLICE: Duration = Duration::from_millis(50);

/// A change counter with a sleeper count, in shared memory: one cache line.
#[repr(C, align(64))]
pub(crate) struct Event {
    /// Bumped by every signal; the futex word.
    pub(crate) seq: AtomicU32,
    /// Processes currently asleep (or about to sleep) on `seq`.
    pub(crate) waiters: AtomicU32,
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Event>() == 64);

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// `seq` differs from the key (or may: the caller re-checks its condition).
    Changed,
    /// The deadline passed with `seq` still equal to the key.
    TimedOut,
}

impl Event {
    /// A new event (for in-process stand-ins of a control block: tests, models, fuzzing;
    /// segments start zeroed, which is the same).
    pub(crate) fn new() -> Event {
        Event {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
        }
    }

    /// The current count; read it *before* checking the condition you wait for.
    pub(crate) fn key(&self) -> u32 {
        // SYNC: Acquire pairs with the Release of `signal`, so the state published before the
        // signal is visible once we see its count.
        self.seq.load(Ordering::Acquire)
    }

    /// Bumps the count and wakes every sleeper — if there are any, or if `always_wake`.
    pub(crate) fn signal(&self, always_wake: bool) {
        // SYNC: the signaller's half of the Dekker pairing with `wait`: a SeqCst bump of `seq`
        // then a SeqCst load of `waiters`, against the waiter's SeqCst bump of `waiters` then
        // SeqCst load of `seq`. The four lie in one total order, so one side sees the other's
        // bump. (SeqCst, rather than a fence between Relaxed accesses, costs nothing extra on
        // x86, where the bump is a locked instruction and the load a plain one; the fence was
        // an `mfence`, a third of a publish.) The bump's Release half also publishes the
        // signaller's prior writes to waiters that read the new count with Acquire (`key`).
        self.seq.fetch_add(1, Ordering::SeqCst);
        if always_wake || self.waiters.load(Ordering::SeqCst) != 0 {
            crate::sync::futex_wake_all(&self.seq);
        }
    }

    /// Waits until the count differs from `key`, at most until `deadline`.
    ///
    /// Spins (checking the count) for up to `spin` first, which catches a signal that arrives
    /// within a few microseconds without a sleep and wake-up. `register` must be `false` when
    /// this process cannot write the event (it then relies on `WAKE_ALWAYS`).
    pub(crate) fn wait(
        &self,
        key: u32,
        deadline: Option<Instant>,
        spin: Duration,
        register: bool,
    ) -> Waited {
        if self.key() != key {
            return Waited::Changed;
        }
        if !spin.is_zero() {
            // Check after every pause: one `pause` costs ~140 cycles on recent x86, so checking
            // only every so many of them would add microseconds to the hand-off. The clock is
            // read every 64 rounds.
            let until = Instant::now() + spin;
            'spin: loop {
                for _ in 0..64 {
                    if self.key() != key {
                        return Waited::Changed;
                    }
                    spin_hint();
                }
                if Instant::now() >= until {
                    break 'spin;
                }
            }
        }
        if register {
            // SYNC: the waiter's half of the Dekker pairing with `signal`: SeqCst bump here,
            // SeqCst load of `seq` below.
            self.waiters.fetch_add(1, Ordering::SeqCst);
        }
        let out = loop {
            if self.seq.load(Ordering::SeqCst) != key {
                break Waited::Changed;
            }
            let timeout = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break Waited::TimedOut;
                    }
                    Some(d - now)
                }
                None => None,
            };
            // A waiter may be missed by a signaller that skips the wake: one that could not
            // count itself (its segment's mode did not promise `WAKE_ALWAYS`: a read-only mount,
            // a security module, a chmod after creation), or whose count a peer overwrote. It
            // looks again every slice instead of sleeping forever.
            let timeout = Some(timeout.map_or(SLICE, |t| t.min(SLICE)));
            crate::sync::futex_wait(&self.seq, key, timeout);
        };
        if register {
            self.waiters.fetch_sub(1, Ordering::Relaxed);
        }
        out
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wait_returns_at_once_when_already_changed_and_times_out_otherwise() {
        let e = Event::new();
        let k = e.key();
        e.signal(false);
        assert_eq!(e.wait(k, None, Duration::ZERO, true), Waited::Changed);
        let k = e.key();
        let d = Instant::now() + Duration::from_millis(10);
        assert_eq!(e.wait(k, Some(d), Duration::ZERO, true), Waited::TimedOut);
        assert!(Instant::now() >= d);
        assert_eq!(
            e.waiters.load(Ordering::Relaxed),
            0,
            "unregistered after waiting"
        );
    }

    #[test]
    fn a_sleeper_whose_count_a_peer_zeroed_still_sees_the_signal() {
        let e = Arc::new(Event::new());
        let k = e.key();
        let e2 = e.clone();
        let t = std::thread::spawn(move || e2.wait(k, None, Duration::ZERO, true));
        while e.waiters.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        // A scribbling peer: the signaller now believes nobody sleeps and skips the wake-up.
        e.waiters.store(0, Ordering::Relaxed);
        e.signal(false);
        assert_eq!(t.join().unwrap(), Waited::Changed, "woke within a slice");
    }

    #[test]
    fn signal_wakes_a_sleeper_in_another_thread() {
        let e = Arc::new(Event::new());
        let k = e.key();
        let e2 = e.clone();
        let t = std::thread::spawn(move || e2.wait(k, None, Duration::ZERO, true));
        while e.waiters.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        e.signal(false);
        assert_eq!(t.join().unwrap(), Waited::Changed);
    }
}
