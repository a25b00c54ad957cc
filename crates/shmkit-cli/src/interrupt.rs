//! Ctrl-C (and SIGTERM) as a flag: commands that wait (`watch`, `sub`, `pub`, `demo`) check it
//! between slices of their waits and end cleanly — handles closed, a summary printed, exit
//! status 0 — instead of being killed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a wait looks up from its sleep to see whether Ctrl-C was pressed.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);

/// A flag that Ctrl-C (or SIGTERM) sets instead of killing the process, so handles close
/// normally. If the handler cannot be installed, Ctrl-C keeps its default effect.
pub fn on_interrupt() -> Interrupted {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::Relaxed));
    Interrupted(flag)
}

/// Whether Ctrl-C was pressed; cheap to clone and check.
#[derive(Debug, Clone)]
pub struct Interrupted(Arc<AtomicBool>);

impl Interrupted {
    /// Whether Ctrl-C (or SIGTERM) came.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
