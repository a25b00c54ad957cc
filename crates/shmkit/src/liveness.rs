//! Who is alive: the one rule the lock and the stream's subscriber table both use.
//!
//! Whatever claims something in a segment — the lock, a stream's subscriber slot — writes a
//! *token* there, and whoever wants to take the claim over asks whether the token's holder still
//! lives. The answer must never call a live holder dead (two lock owners at once, a `Block`
//! publisher overwriting a live subscriber's frames), and should call a dead one dead soon.
//!
//! # Two schemes, chosen per segment at create time
//!
//! **Proofs** (Linux; the header flag `PROOFS`). A token is a *proof id*: a number taken from
//! the segment's counter (`next_token`), for which the handle holds an open-file-description
//! byte-range lock on the segment's file (`sys`: `F_OFD_SETLK` on one byte far past the end).
//! The kernel drops that lock when the handle's description is closed — when its process dies,
//! by any signal, in whatever pid namespace — and any process can read it with `F_OFD_GETLK`
//! without disturbing it. So "alive" is a fact the kernel keeps, not a guess from a pid:
//! containers that share `/dev/shm` but not pids judge each other correctly. Ids come from a
//! counter that only grows (31 bits), so a dead holder's token is not handed out again while
//! anyone could still be deciding about it: a takeover's compare-and-swap on the token cannot
//! succeed against a newer holder (no ABA through pid reuse). Claiming an id is one atomic
//! increment and one `fcntl`, once per handle.
//!
//! **Process ids** (macOS, Windows, Linux without OFD locks). A token is the holder's pid, with
//! its start time (`sys::current_process`) written beside it to tell it from a later process
//! that reuses the pid. Windows has no pid namespaces and macOS none either; on Linux the
//! creator's pid namespace is recorded in the header, and a process in another namespace
//! refuses to judge ([`Verdict::Unknown`]) rather than take over a holder it cannot see.
//!
//! # In shared memory
//!
//! A claim is a 64-bit *holder word* `token << 32 | aux`, where `aux` is the holder's pid
//! (proofs; for display) or its start tag (process ids). Tokens are 1..2³¹; 0 means "nobody".
//! A fork without exec shares its parent's descriptions, and so its proofs: a child that
//! outlives its parent keeps the parent's claims alive (never the other way round).

use crate::sync::{AtomicU32, Ordering};

/// Tokens fit in 31 bits (the lock word keeps its top bit for "contended").
pub(crate) const TOKEN_MASK: u32 = 0x7fff_ffff;

/// What a liveness check concluded about a token's holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It lives (or might: the safe answer when in doubt).
    Alive,
    /// It is gone: its claim may be taken over.
    Dead,
    /// This process cannot judge it (another pid namespace, in the process-id scheme): never
    /// take it over.
    Unknown,
}

/// A holder word: `token << 32 | aux`.
pub(crate) fn holder_word(token: u32, aux: u32) -> u64 {
    u64::from(token) << 32 | u64::from(aux)
}

/// The token of a holder word.
pub(crate) fn token_of(word: u64) -> u32 {
    (word >> 32) as u32
}

/// The second half of a holder word: the pid (proofs) or the start tag (process ids).
pub(crate) fn aux_of(word: u64) -> u32 {
    word as u32
}

/// The next proof id from a segment's counter, skipping 0 and wrapping within 31 bits.
pub(crate) fn next_proof_id(counter: &AtomicU32) -> u32 {
    loop {
        // Relaxed: uniqueness comes from the kernel lock taken on the id, not from ordering.
        let id = counter.fetch_add(1, Ordering::Relaxed) & TOKEN_MASK;
        if id != 0 {
            return id;
        }
    }
}

#[cfg(not(loom))]
pub(crate) use os::*;

#[cfg(not(loom))]
mod os {
    use super::*;
    use crate::sys;

    /// How many proof ids a handle tries before it gives up (only a peer scribbling on the
    /// counter, or two billion live handles, could make that many be taken).
    const CLAIM_TRIES: u32 = 64;

    /// A handle's identity in one segment: its token and the `aux` half of its holder word.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Identity {
        pub(crate) token: u32,
        pub(crate) aux: u32,
    }

    impl Identity {
        /// The holder word to write into shared memory.
        pub(crate) fn word(self) -> u64 {
            holder_word(self.token, self.aux)
        }
    }

    /// The liveness scheme of one segment, as one handle sees it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Scheme {
        /// OFD-lock proofs.
        Proofs,
        /// Process ids; `foreign` when this process is in another pid namespace than the
        /// segment's creator.
        Pids { foreign: bool },
    }

    impl Scheme {
        /// The scheme of a segment whose header says `proofs`, made in pid namespace
        /// `creator_ns` (0: unknown or none).
        pub(crate) fn of(proofs: bool, creator_ns: u64) -> Scheme {
            if proofs {
                Scheme::Proofs
            } else {
                let mine = sys::pid_namespace();
                Scheme::Pids {
                    foreign: creator_ns != 0 && mine != 0 && creator_ns != mine,
                }
            }
        }

        /// The scheme a new segment gets on this system.
        pub(crate) fn for_new_segment() -> bool {
            sys::proofs_supported()
        }
    }

    /// Claims an identity for a handle (`map`) of a segment with scheme `scheme`, whose proof
    /// counter is `counter`.
    pub(crate) fn claim(
        map: &sys::Mapping,
        scheme: Scheme,
        counter: &AtomicU32,
    ) -> std::io::Result<Identity> {
        let (pid, tag) = sys::current_process();
        match scheme {
            Scheme::Pids { .. } => Ok(Identity {
                token: pid,
                aux: tag,
            }),
            Scheme::Proofs => {
                for _ in 0..CLAIM_TRIES {
                    let id = next_proof_id(counter);
                    if map.claim_proof(id)? {
                        return Ok(Identity {
                            token: id,
                            aux: pid,
                        });
                    }
                }
                Err(std::io::Error::other(format!(
                    "{CLAIM_TRIES} liveness proof ids in a row were taken (a scribbled counter?)"
                )))
            }
        }
    }

    /// Whether the holder of `word` lives, asked through handle `map` whose own identity is
    /// `me` (if it has one).
    pub(crate) fn verdict(
        map: &sys::Mapping,
        scheme: Scheme,
        me: Option<Identity>,
        word: u64,
    ) -> Verdict {
        let token = token_of(word);
        if token == 0 {
            return Verdict::Dead;
        }
        if me.is_some_and(|m| m.token == token && m.aux == aux_of(word)) {
            return Verdict::Alive;
        }
        match scheme {
            Scheme::Proofs => match map.proof_held(token) {
                Ok(true) => Verdict::Alive,
                Ok(false) => Verdict::Dead,
                // Cannot tell (should not happen: the scheme was probed at create).
                Err(_) => Verdict::Unknown,
            },
            Scheme::Pids { foreign: true } => Verdict::Unknown,
            Scheme::Pids { foreign: false } => {
                if sys::process_alive(token, aux_of(word)) {
                    Verdict::Alive
                } else {
                    Verdict::Dead
                }
            }
        }
    }

    /// As [`verdict`], for tools that look at a segment by name without holding it.
    pub(crate) fn verdict_by_name(name: &str, proofs: bool, creator_ns: u64, word: u64) -> Verdict {
        let token = token_of(word);
        if token == 0 {
            return Verdict::Dead;
        }
        match Scheme::of(proofs, creator_ns) {
            Scheme::Proofs => match sys::proof_held_by_name(name, token) {
                Ok(true) => Verdict::Alive,
                Ok(false) => Verdict::Dead,
                Err(_) => Verdict::Unknown,
            },
            Scheme::Pids { foreign: true } => Verdict::Unknown,
            Scheme::Pids { foreign: false } => {
                if sys::process_alive(token, aux_of(word)) {
                    Verdict::Alive
                } else {
                    Verdict::Dead
                }
            }
        }
    }

    /// The pid to show for a holder word.
    pub(crate) fn pid_of(proofs: bool, word: u64) -> u32 {
        if proofs { aux_of(word) } else { token_of(word) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn proof_ids_skip_zero_and_stay_in_31_bits() {
        let c = AtomicU32::new(TOKEN_MASK);
        assert_eq!(next_proof_id(&c), TOKEN_MASK);
        // 0x8000_0000 & mask == 0: skipped.
        assert_eq!(next_proof_id(&c), 1);
        let w = holder_word(7, 1234);
        assert_eq!((token_of(w), aux_of(w)), (7, 1234));
    }
}
