//! Why `run` stops from outside: SIGTERM/SIGINT, stdout's reader going away, or the parent
//! process going away while stdout is a pipe. The signal
//! handler only sets a flag; a watcher thread turns the flag into an interrupt of the blocked
//! `collect`, so the current hand-over finishes (and, on a signal, commits).
//! SIGPIPE is ignored so a closed stdout shows up as EPIPE on write, a clean exit.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// 0: keep running; otherwise a [`Stop`] as u8. The first reason wins.
static STOP: AtomicU8 = AtomicU8::new(0);

/// Why `run` was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM or SIGINT: finish the hand-over, commit, exit 0.
    Signal = 1,
    /// stdout's reader is gone (POLLERR/POLLHUP): exit 0 without acknowledging anything it
    /// may not have read.
    ReaderGone = 2,
    /// The process that started `run` is gone while stdout is a pipe (an orphan of `sh -c`
    /// under Logstash on JRuby, whose reader keeps the pipe open): exit 0 like `ReaderGone`.
    ParentGone = 3,
}

extern "C" fn on_signal(_: libc::c_int) {
    let _ = STOP.compare_exchange(0, Stop::Signal as u8, Ordering::SeqCst, Ordering::SeqCst);
}

/// Installs the handlers (this is the process's own binary, so it may). Call it first, so a
/// signal during the wait for a locked stream is seen too.
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only does an atomic compare-exchange, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Records a stop for a reason found by a thread (not a signal handler).
pub fn request(reason: Stop) {
    let _ = STOP.compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst);
}

/// Starts a watcher that calls `on_stop` once when a stop is requested.
pub fn on_stop(on_stop: impl Fn() + Send + 'static) {
    std::thread::spawn(move || loop {
        if stop_reason().is_some() {
            on_stop();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    });
}

pub fn stop_reason() -> Option<Stop> {
    match STOP.load(Ordering::SeqCst) {
        1 => Some(Stop::Signal),
        2 => Some(Stop::ReaderGone),
        3 => Some(Stop::ParentGone),
        _ => None,
    }
}
