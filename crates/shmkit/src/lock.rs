//! The robust cross-process lock stored in every shmkit segment.
//!
//! # Why not a robust pthread mutex
//!
//! A `pthread_mutex_t` with `PTHREAD_MUTEX_ROBUST` keeps glibc's robust-list pointers *inside the
//! shared memory*; glibc follows and rewrites them on unlock. Any process that can write the
//! segment could then make ours write through a pointer of its choosing — the opposite of
//! treating shared memory as untrusted. Its layout is also private to the C library (musl and
//! glibc differ), and macOS has no robust mutexes at all. So the lock is our own: one futex word
//! plus an owner record, both plain integers that no value can turn into a memory-safety problem.
//!
//! # The lock word (`state`, 32 bits)
//!
//! The owner is named by its liveness *token* (see `liveness`): on Linux the proof id of the
//! handle that locked (an OFD lock on the segment's file proves it lives), elsewhere its pid.
//!
//! | `state`                 | meaning                                                        |
//! |-------------------------|----------------------------------------------------------------|
//! | `0`                     | unlocked                                                       |
//! | `tok`                   | locked by the holder of token `tok`; nobody sleeps on it       |
//! | `tok \| CONTENDED`      | locked by `tok`; someone may sleep on it: unlock must wake one |
//!
//! Transitions (all by compare-and-swap on `state`):
//!
//! * `0 → me` — uncontended lock (Acquire). One atomic op, plus the owner record below.
//! * `0 → me|CONTENDED` — a waiter that slept takes the lock; it keeps the flag, since others may
//!   sleep too (Drepper, "Futexes Are Tricky", mutex #2).
//! * `t → t|CONTENDED` — a waiter announces itself before sleeping on `t|CONTENDED`.
//! * `me[|CONTENDED] → 0` — unlock (Release); wake one sleeper if the flag was set.
//! * `dead[|CONTENDED] → me|CONTENDED` — a waiter found the owner dead and takes over; its
//!   guard reports [`LockGuard::owner_died`].
//!
//! A takeover's compare-and-swap succeeds only if the state still names the token it judged
//! dead. Proof ids only grow, so that token cannot have come back meanwhile: two takers cannot
//! both win, whatever pids were reused in between (with process-id tokens, the start tag beside
//! the pid narrows the same race to a pid reused within one check).
//!
//! # The owner record (`owner`, 64 bits)
//!
//! The owner's holder word (`token << 32 | aux`: its pid with proofs, its start tag with process
//! ids), written by the owner just after acquiring and cleared just before releasing. It is
//! written after the state, so a checker may see the state of a new owner with the record of no
//! one (`0`) or of an old owner: the record then counts only if its token matches the state's.
//! With proofs the check needs only the token; with process ids a missing record means "ask
//! only whether the pid runs" — never declaring a live owner dead.
//!
//! # Waiting
//!
//! A waiter spins briefly, then sleeps on the futex in slices (1 ms, doubling to 100 ms). Each
//! slice that ends without a wake-up checks whether the owner still lives, so a killed owner is
//! replaced within about one slice, and a lock whose owner died while nobody waited is taken
//! over by the next locker after its first slice. No waiter polls an unlocked lock; no lock
//! waits forever for a dead owner.
//!
//! # Limits
//!
//! With process-id tokens (macOS, Windows), a process in another pid namespace than the
//! segment's creator cannot judge the owner and never takes over (it waits, or times out saying
//! why). A process is not the unit of ownership with proofs — a handle is; two handles of one
//! process exclude each other like two processes. A thread that locks a segment whose lock it
//! already holds gets [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock) instead of
//! waiting for itself; the guard cannot move to another thread.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::liveness::{TOKEN_MASK, Verdict, holder_word, token_of};
use crate::sync::{AtomicU32, AtomicU64, Ordering, spin_hint};

/// The state bit meaning "someone may be sleeping: wake on unlock".
pub(crate) const CONTENDED: u32 = 1 << 31;

/// Spins before sleeping (one under loom, to keep the models small).
const SPINS: u32 = if cfg!(loom) { 1 } else { 100 };
const FIRST_SLICE: Duration = Duration::from_millis(1);
const MAX_SLICE: Duration = Duration::from_millis(100);

/// The lock as it lies in shared memory: one cache line.
#[repr(C, align(64))]
pub(crate) struct LockWord {
    /// See the state table in the module docs.
    pub(crate) state: AtomicU32,
    _reserved: AtomicU32,
    /// The owner's holder word, or 0.
    pub(crate) owner: AtomicU64,
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<LockWord>() == 64);
    assert!(std::mem::align_of::<LockWord>() == 64);
};

/// Who we are and who else lives: a segment handle's liveness (see `liveness`), or a
/// simulation in the tests and loom models.
pub(crate) trait Peers {
    /// Our token (1..2³¹) and the `aux` half of our holder word.
    fn me(&self) -> (u32, u32);
    /// Whether the holder of `word` (`token << 32 | aux`; `aux` is 0 when unknown) lives.
    fn verdict(&self, word: u64) -> Verdict;
    /// Sleeps while `*word == expected`, at most `timeout`; `false` on timeout.
    fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool;
    /// Wakes one sleeper of `word`.
    fn wake_one(&self, word: &AtomicU32);
}

/// How an acquisition went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// The previous owner unlocked normally (or there was none).
    Clean,
    /// The previous owner died holding the lock.
    OwnerDied,
}

impl LockWord {
    /// A new, unlocked lock (for the models and the fuzz target; segments start zeroed, which is
    /// the same).
    pub(crate) fn new() -> LockWord {
        LockWord {
            state: AtomicU32::new(0),
            _reserved: AtomicU32::new(0),
            owner: AtomicU64::new(0),
        }
    }

    fn record_owner(&self, (token, aux): (u32, u32)) {
        // Relaxed: only read as a hint by liveness checks, which re-validate `state` by CAS.
        self.owner.store(holder_word(token, aux), Ordering::Relaxed);
    }

    /// The holder word to judge for state `s`: the record if it belongs to the same token,
    /// otherwise the token alone (aux 0: "unknown").
    fn owner_word(&self, s: u32) -> u64 {
        let token = s & TOKEN_MASK;
        // SYNC: Relaxed is enough: the record is only a hint (see the module docs); if it
        // belongs to another token we judge the token alone.
        let rec = self.owner.load(Ordering::Relaxed);
        if token_of(rec) == token {
            rec
        } else {
            holder_word(token, 0)
        }
    }

    /// Tries once. Takes the lock over if its owner is dead.
    pub(crate) fn try_lock(&self, p: &impl Peers) -> Option<Acquired> {
        let me = p.me();
        // SYNC: Acquire pairs with the Release in `unlock`, making the previous owner's writes
        // to the protected data visible to us.
        match self
            .state
            .compare_exchange(0, me.0, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {
                self.record_owner(me);
                Some(Acquired::Clean)
            }
            Err(s) => self.take_over_if_dead(s, me, p),
        }
    }

    /// Locks, waiting at most until `deadline` (`None`: as long as a live owner holds it).
    pub(crate) fn lock(&self, p: &impl Peers, deadline: Option<Instant>) -> Option<Acquired> {
        let me = p.me();
        if self
            .state
            .compare_exchange(0, me.0, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.record_owner(me);
            return Some(Acquired::Clean);
        }
        self.lock_slow(me, p, deadline)
    }

    #[cold]
    fn lock_slow(
        &self,
        me: (u32, u32),
        p: &impl Peers,
        deadline: Option<Instant>,
    ) -> Option<Acquired> {
        let mut spins = 0;
        let mut slice = FIRST_SLICE;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s == 0 {
                // SYNC: Acquire pairs with the Release in `unlock`.
                if self
                    .state
                    .compare_exchange(0, me.0 | CONTENDED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.record_owner(me);
                    return Some(Acquired::Clean);
                }
                continue;
            }
            if spins < SPINS {
                spins += 1;
                spin_hint();
                continue;
            }
            if s & CONTENDED == 0
                && self
                    .state
                    .compare_exchange(s, s | CONTENDED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let timeout = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        // Out of time: but a dead owner's lock is ours to take, even with a zero
                        // timeout (the slices below may never have run).
                        let cur = self.state.load(Ordering::Relaxed);
                        return self.take_over_if_dead(cur, me, p);
                    }
                    Some(slice.min(d - now))
                }
                None => Some(slice),
            };
            #[cfg(loom)]
            let timeout = {
                let _ = timeout;
                None
            };
            if !p.wait(&self.state, s | CONTENDED, timeout) || cfg!(loom) {
                // A whole slice without a wake-up: is the owner still alive?
                let cur = self.state.load(Ordering::Relaxed);
                if cur != 0 {
                    if let Some(a) = self.take_over_if_dead(cur, me, p) {
                        return Some(a);
                    }
                }
                slice = (slice * 2).min(MAX_SLICE);
            }
        }
    }

    /// If the owner in `s` is dead — or `s` names no owner at all yet is not 0 (only a
    /// scribbled word looks like that) — takes the lock from it.
    fn take_over_if_dead(&self, s: u32, me: (u32, u32), p: &impl Peers) -> Option<Acquired> {
        if s == 0 {
            return None;
        }
        let token = s & TOKEN_MASK;
        if token != 0 && p.verdict(self.owner_word(s)) != Verdict::Dead {
            return None;
        }
        // SYNC: Acquire pairs with the dead owner's last Release (its writes before dying are as
        // visible as they will ever be). The CAS fails if anyone changed the state meanwhile.
        self.state
            .compare_exchange(s, me.0 | CONTENDED, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| {
                self.record_owner(me);
                Acquired::OwnerDied
            })
    }

    /// Unlocks, if `me` still owns the lock (it may have been taken over by a peer that wrongly
    /// judged it dead, or scribbled over: then it is left as it is).
    pub(crate) fn unlock(&self, p: &impl Peers) {
        let (token, _) = p.me();
        let mut s = self.state.load(Ordering::Relaxed);
        if s & TOKEN_MASK != token {
            return; // not ours (any more): leave it, and its owner record, alone
        }
        self.owner.store(0, Ordering::Relaxed);
        loop {
            if s & TOKEN_MASK != token {
                return;
            }
            // SYNC: Release pairs with the Acquire of the next locker: our writes to the
            // protected data happen-before its reads.
            match self
                .state
                .compare_exchange_weak(s, 0, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if s & CONTENDED != 0 {
            p.wake_one(&self.state);
        }
    }

    /// The owner's token, if locked.
    #[cfg(test)]
    pub(crate) fn owner_token(&self) -> Option<u32> {
        match self.state.load(Ordering::Relaxed) & TOKEN_MASK {
            0 => None,
            t => Some(t),
        }
    }

    /// The owner's holder word as best known (see `owner_word`), if locked.
    pub(crate) fn owner_holder(&self) -> Option<u64> {
        let s = self.state.load(Ordering::Relaxed);
        (s & TOKEN_MASK != 0).then(|| self.owner_word(s))
    }
}

/// Proof of holding a segment's lock; unlocks when dropped.
///
/// Obtained from [`Segment::lock`](crate::Segment::lock),
/// [`try_lock`](crate::Segment::try_lock) or [`lock_timeout`](crate::Segment::lock_timeout).
/// Like `std`'s `MutexGuard`, it stays on the thread that locked (it is not `Send`): that thread
/// is the one told [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock) if it locks
/// again while holding it.
#[cfg(not(loom))]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    seg: &'a crate::Segment,
    owner_died: bool,
    /// Not `Send`: the thread-local record of held locks must be cleared on this thread.
    _not_send: PhantomData<*const ()>,
}

#[cfg(not(loom))]
impl<'a> LockGuard<'a> {
    pub(crate) fn new(seg: &'a crate::Segment, how: Acquired) -> LockGuard<'a> {
        LockGuard {
            seg,
            owner_died: how == Acquired::OwnerDied,
            _not_send: PhantomData,
        }
    }

    /// Whether the previous owner died while holding the lock.
    ///
    /// The data it protected may be half-updated: check or repair it before relying on it, as
    /// with `EOWNERDEAD` for robust pthread mutexes. Unlike those, the lock needs no "mark
    /// consistent" step: unlocking it normally is enough.
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Unlocks now (the same as dropping the guard).
    pub fn unlock(self) {}
}

#[cfg(not(loom))]
impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.seg.release_lock();
    }
}

#[cfg(not(loom))]
impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("owner_died", &self.owner_died)
            .finish()
    }
}

/// Runs the lock word through operations of simulated processes read from `bytes`, as the
/// `lock_word` fuzz target does: try-locks, zero-timeout locks, unlocks and deaths of four
/// processes, and a peer scribbling on the state word or the owner record. It must never panic,
/// and while nobody scribbles, never let two live processes hold the lock, never take the lock
/// from a live owner, and always tell a taker that the owner died when it did.
///
/// Each operation is two bytes: `op % 6` and an argument (a process `0..4`, or with the next
/// four bytes a value to scribble).
#[doc(hidden)]
#[cfg(not(loom))]
pub fn fuzz_lock(bytes: &[u8]) {
    use std::cell::Cell as StdCell;
    use std::rc::Rc;

    struct Sim {
        token: u32,
        dead: Rc<[StdCell<bool>; 4]>,
    }
    impl Peers for Sim {
        fn me(&self) -> (u32, u32) {
            (self.token, 99)
        }
        fn verdict(&self, word: u64) -> Verdict {
            match token_of(word) {
                t @ 1..=4 if self.dead[t as usize - 1].get() => Verdict::Dead,
                1..=4 => Verdict::Alive,
                // A token no simulated process holds: a scribbled one, whose holder is gone.
                _ => Verdict::Dead,
            }
        }
        fn wait(&self, _word: &AtomicU32, _expected: u32, _timeout: Option<Duration>) -> bool {
            false
        }
        fn wake_one(&self, _word: &AtomicU32) {}
    }

    let dead: Rc<[StdCell<bool>; 4]> = Rc::new(Default::default());
    let sims: Vec<Sim> = (1..=4)
        .map(|token| Sim {
            token,
            dead: dead.clone(),
        })
        .collect();
    let w = LockWord::new();
    // Who holds it, as far as the model knows (`None` after a scribble: anything goes).
    let mut holder: Option<Option<usize>> = Some(None);
    let mut it = bytes.iter().copied();
    while let (Some(op), Some(arg)) = (it.next(), it.next()) {
        let p = usize::from(arg) % 4;
        match op % 6 {
            0 | 1 => {
                let got = if op % 6 == 0 {
                    w.try_lock(&sims[p])
                } else {
                    w.lock(&sims[p], Some(Instant::now()))
                };
                if dead[p].get() {
                    continue; // a dead process does nothing (its call is the model's own)
                }
                if let Some(Some(h)) = holder {
                    let alive = !dead[h].get();
                    if h != p {
                        assert!(!(alive && got.is_some()), "taken from a live owner");
                        if !alive {
                            assert_eq!(got, Some(Acquired::OwnerDied), "a dead owner's lock");
                        }
                    } else {
                        assert_eq!(got, None, "not recursive");
                    }
                }
                if got.is_some() {
                    holder = holder.map(|_| Some(p));
                }
            }
            2 => {
                if !dead[p].get() {
                    w.unlock(&sims[p]);
                    if holder == Some(Some(p)) {
                        holder = Some(None);
                        assert_eq!(w.state.load(Ordering::Relaxed), 0, "unlocked");
                    }
                }
            }
            3 => dead[p].set(true),
            4 | 5 => {
                let mut v = [0u8; 4];
                for b in &mut v {
                    *b = it.next().unwrap_or(0);
                }
                let v = u32::from_le_bytes(v);
                if op % 6 == 4 {
                    w.state.store(v, Ordering::Relaxed);
                } else {
                    w.owner
                        .store(u64::from(v) << 32 | u64::from(v), Ordering::Relaxed);
                }
                holder = None;
            }
            _ => unreachable!(),
        }
    }
}

/// The locks this thread holds through a [`LockGuard`], by segment identity, so that locking
/// one of them again is an error rather than a wait for ourselves.
#[cfg(not(loom))]
pub(crate) mod held {
    use std::cell::{Cell, RefCell};

    thread_local! {
        static HELD: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
        /// How many keys `HELD` has: a plain word (no destructor, so no lazy registration), which
        /// makes the common question — does this thread hold any lock? — one load.
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    /// Whether this thread holds the lock of the segment whose key is `key` (see
    /// `Segment::lock_key`).
    pub(crate) fn contains(key: u64) -> bool {
        COUNT.get() != 0 && HELD.with(|h| h.borrow().contains(&key))
    }

    /// Records that this thread holds it.
    pub(crate) fn insert(key: u64) {
        HELD.with(|h| h.borrow_mut().push(key));
        COUNT.set(COUNT.get() + 1);
    }

    /// Records that this thread released it.
    pub(crate) fn remove(key: u64) {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().position(|&x| x == key) {
                h.swap_remove(i);
                COUNT.set(h.len());
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::Mutex;

    /// A fake process table: pids that are "dead".
    #[derive(Default)]
    struct Fake {
        me: u32,
        dead: Arc<Mutex<Vec<u32>>>,
    }

    impl Peers for Fake {
        fn me(&self) -> (u32, u32) {
            (self.me, 7)
        }
        fn verdict(&self, word: u64) -> Verdict {
            if self.dead.lock().unwrap().contains(&token_of(word)) {
                Verdict::Dead
            } else {
                Verdict::Alive
            }
        }
        fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
            crate::sys::futex_wait(word, expected, timeout)
        }
        fn wake_one(&self, word: &AtomicU32) {
            crate::sys::futex_wake(word, 1)
        }
    }

    #[test]
    fn uncontended_lock_unlock_records_and_clears_owner() {
        let w = LockWord::new();
        let p = Fake {
            me: 42,
            ..Fake::default()
        };
        assert_eq!(w.lock(&p, None), Some(Acquired::Clean));
        assert_eq!(w.owner_token(), Some(42));
        assert_eq!(w.owner.load(Ordering::Relaxed), 42 << 32 | 7);
        assert_eq!(w.try_lock(&p), None, "not recursive");
        w.unlock(&p);
        assert_eq!(w.owner_token(), None);
        assert_eq!(w.owner.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn dead_owner_is_taken_over_with_owner_died() {
        let w = LockWord::new();
        let dead = Arc::new(Mutex::new(vec![]));
        let a = Fake {
            me: 10,
            dead: dead.clone(),
        };
        let b = Fake {
            me: 20,
            dead: dead.clone(),
        };
        assert!(w.lock(&a, None).is_some());
        let t0 = Instant::now();
        assert_eq!(
            w.lock(&b, Some(t0 + Duration::from_millis(20))),
            None,
            "owner alive"
        );
        dead.lock().unwrap().push(10);
        assert_eq!(w.try_lock(&b), Some(Acquired::OwnerDied));
        assert_eq!(w.owner_token(), Some(20));
        // A's late unlock must not release B's lock.
        w.unlock(&a);
        assert_eq!(w.owner_token(), Some(20));
        w.unlock(&b);
        assert_eq!(w.state.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn waiter_wakes_on_unlock_and_on_owner_death() {
        let w = Arc::new(LockWord::new());
        let dead = Arc::new(Mutex::new(vec![]));
        let a = Fake {
            me: 1,
            dead: dead.clone(),
        };
        assert!(w.lock(&a, None).is_some());
        let w2 = w.clone();
        let d2 = dead.clone();
        let t = std::thread::spawn(move || w2.lock(&Fake { me: 2, dead: d2 }, None));
        std::thread::sleep(Duration::from_millis(5));
        w.unlock(&a);
        assert_eq!(t.join().unwrap(), Some(Acquired::Clean));
        // Now 2 holds it and "dies"; 3 must get it with OwnerDied without any unlock.
        dead.lock().unwrap().push(2);
        let got = w.lock(&Fake { me: 3, dead }, None);
        assert_eq!(got, Some(Acquired::OwnerDied));
    }

    #[test]
    fn a_contended_flag_without_owner_is_garbage_and_taken_over() {
        let w = LockWord::new();
        let me = Fake {
            me: 5,
            ..Fake::default()
        };
        w.state.store(CONTENDED, Ordering::Relaxed);
        assert_eq!(w.try_lock(&me), Some(Acquired::OwnerDied));
        w.unlock(&me);
        w.state.store(CONTENDED, Ordering::Relaxed);
        assert_eq!(
            w.lock(&me, Some(Instant::now())),
            Some(Acquired::OwnerDied),
            "zero timeout"
        );
    }

    #[test]
    fn an_owner_that_cannot_be_judged_is_never_taken_over() {
        struct Blind;
        impl Peers for Blind {
            fn me(&self) -> (u32, u32) {
                (9, 0)
            }
            fn verdict(&self, _word: u64) -> Verdict {
                Verdict::Unknown
            }
            fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
                crate::sys::futex_wait(word, expected, timeout)
            }
            fn wake_one(&self, _word: &AtomicU32) {}
        }
        let w = LockWord::new();
        w.state.store(77, Ordering::Relaxed);
        assert_eq!(w.try_lock(&Blind), None);
        let t = Instant::now() + Duration::from_millis(30);
        assert_eq!(w.lock(&Blind, Some(t)), None, "waits, then gives up");
        assert_eq!(w.owner_token(), Some(77));
    }

    #[test]
    fn a_zero_timeout_takes_over_a_dead_owners_lock() {
        let w = LockWord::new();
        let dead = Arc::new(Mutex::new(vec![10]));
        let gone = Fake {
            me: 10,
            dead: dead.clone(),
        };
        let me = Fake { me: 20, dead };
        assert!(w.lock(&gone, None).is_some());
        assert_eq!(w.lock(&me, Some(Instant::now())), Some(Acquired::OwnerDied));
    }

    #[test]
    fn garbage_state_from_a_peer_is_recoverable() {
        let w = LockWord::new();
        // A peer wrote a token nobody holds, and a lying owner record.
        let me = Fake {
            me: 3,
            dead: Arc::new(Mutex::new(vec![0x7fff_fff0])),
        };
        w.state.store(0x7fff_fff0 | CONTENDED, Ordering::Relaxed);
        w.owner.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(w.try_lock(&me), Some(Acquired::OwnerDied));
        w.unlock(&me);
        assert_eq!(w.state.load(Ordering::Relaxed), 0);
    }
}

/// Model checks of the lock word (`RUSTFLAGS="--cfg loom" cargo test -p shmkit --lib --release`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;

    /// Simulated processes: a pid, and a flag per pid saying it died.
    #[derive(Clone)]
    struct Sim {
        me: u32,
        dead: Arc<[AtomicBool; 3]>,
    }

    impl Peers for Sim {
        fn me(&self) -> (u32, u32) {
            (self.me, 0)
        }
        fn verdict(&self, word: u64) -> Verdict {
            let token = token_of(word) as usize;
            if token < self.dead.len() && self.dead[token].load(Ordering::SeqCst) {
                Verdict::Dead
            } else {
                Verdict::Alive
            }
        }
        fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
            crate::sync::futex_wait(word, expected, timeout)
        }
        fn wake_one(&self, _word: &AtomicU32) {}
    }

    fn sims() -> (Sim, Sim) {
        let dead = Arc::new([
            AtomicBool::new(false),
            AtomicBool::new(false),
            AtomicBool::new(false),
        ]);
        (
            Sim {
                me: 1,
                dead: dead.clone(),
            },
            Sim { me: 2, dead },
        )
    }

    /// Two processes increment a plain counter under the lock: loom checks every interleaving
    /// for a data race on it (mutual exclusion and the Acquire/Release hand-over).
    #[test]
    fn mutual_exclusion() {
        loom::model(|| {
            let lock = Arc::new(LockWord::new());
            let data = Arc::new(UnsafeCell::new(0u32));
            let (a, b) = sims();
            let t = {
                let (lock, data) = (lock.clone(), data.clone());
                loom::thread::spawn(move || {
                    assert_eq!(lock.lock(&b, None), Some(Acquired::Clean));
                    // SAFETY: the lock is held: no other thread touches `data`.
                    data.with_mut(|d| unsafe { *d += 1 });
                    lock.unlock(&b);
                })
            };
            assert_eq!(lock.lock(&a, None), Some(Acquired::Clean));
            // SAFETY: the lock is held.
            data.with_mut(|d| unsafe { *d += 1 });
            lock.unlock(&a);
            t.join().unwrap();
            // SAFETY: both threads are done.
            assert_eq!(data.with(|d| unsafe { *d }), 2);
            assert_eq!(lock.state.load(Ordering::SeqCst), 0);
        });
    }

    /// The holder dies without unlocking; the other process must get the lock, told so, and see
    /// the dead owner's writes made before it died.
    #[test]
    fn takeover_after_owner_death() {
        loom::model(|| {
            let lock = Arc::new(LockWord::new());
            let data = Arc::new(UnsafeCell::new(0u32));
            let (a, b) = sims();
            let t = {
                let (lock, data, a) = (lock.clone(), data.clone(), a.clone());
                loom::thread::spawn(move || {
                    if lock.try_lock(&a).is_some() {
                        // SAFETY: the lock is held.
                        data.with_mut(|d| unsafe { *d = 7 });
                        // Dies holding it.
                        a.dead[1].store(true, Ordering::SeqCst);
                    } else {
                        a.dead[1].store(true, Ordering::SeqCst);
                    }
                })
            };
            let got = lock.lock(&b, None);
            let died = got == Some(Acquired::OwnerDied);
            if died {
                // SAFETY: we took the lock over; the dead owner's writes happened before.
                assert_eq!(data.with(|d| unsafe { *d }), 7);
            }
            lock.unlock(&b);
            t.join().unwrap();
            assert!(got.is_some());
        });
    }
}
