//! SIGTERM/SIGINT for `run`: the handler only sets a flag; a watcher thread turns it into an
//! interrupt of the blocked `collect`, so the current hand-over finishes and commits.
//! SIGPIPE is ignored so a closed stdout shows up as EPIPE on write, a clean exit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handlers (this is the process's own binary, so it may) and starts a watcher
/// that calls `on_stop` once when a signal arrives.
pub fn install(on_stop: impl Fn() + Send + 'static) {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    std::thread::spawn(move || loop {
        if STOP.load(Ordering::SeqCst) {
            on_stop();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    });
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
