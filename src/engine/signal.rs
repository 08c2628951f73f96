//! An interruptible sleep: the worker waits on rate budgets and backoffs through this, so that
//! shutdown (or a host's pause) ends any wait at once instead of after a Retry-After.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct StopSignal {
    stopped: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl StopSignal {
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    pub fn set(&self) {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.stopped.store(true, Ordering::SeqCst);
        self.cv.notify_all();
    }

    pub fn is_set(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps for `d` unless stopped first; returns true when stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.is_set() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self.cv.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn set_ends_a_long_sleep_early() {
        let s = Arc::new(StopSignal::new());
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.sleep(Duration::from_secs(600)));
        std::thread::sleep(Duration::from_millis(20));
        s.set();
        assert!(t.join().unwrap());
        assert!(s.sleep(Duration::from_secs(600)));
    }

    #[test]
    fn an_unset_signal_sleeps_the_whole_duration() {
        let s = StopSignal::new();
        let t0 = Instant::now();
        assert!(!s.sleep(Duration::from_millis(30)));
        assert!(t0.elapsed() >= Duration::from_millis(30));
    }
}
