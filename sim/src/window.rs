//! The sliding 60 s window of one rate budget: answers 429 with the `Retry-After` a client must
//! wait, and records the most requests seen in any window (`max_calls_in_any_60s`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Request times within the last 60 s, for the budget and for `max_calls_in_any_60s`.
#[derive(Default)]
pub(crate) struct Window {
    pub(crate) times: VecDeque<Instant>,
    pub(crate) max_seen: u64,
}

const MINUTE: Duration = Duration::from_secs(60);

impl Window {
    /// Records a request at `now`; `Err(retry_after_secs)` when it is over `limit`.
    pub(crate) fn hit(&mut self, now: Instant, limit: u32) -> Result<(), u64> {
        while let Some(&t) = self.times.front() {
            if now.duration_since(t) >= MINUTE {
                self.times.pop_front();
            } else {
                break;
            }
        }
        let over = limit > 0 && self.times.len() >= limit as usize;
        self.times.push_back(now);
        self.max_seen = self.max_seen.max(self.times.len() as u64);
        if !over {
            return Ok(());
        }
        // A slot is free once only limit-1 requests remain in the window.
        let t = self.times[self.times.len() - limit as usize];
        let wait = (t + MINUTE).saturating_duration_since(now);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_retry_after() {
        let mut w = Window::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(w.hit(t0 + Duration::from_secs(i), 3).is_ok());
        }
        // The rejected call counts too: the window is t0..t0+3 and two must leave before a
        // slot is free, the second of them (t0+1) at t0+61, 58 s after t0+3.
        assert_eq!(w.hit(t0 + Duration::from_secs(3), 3), Err(58));
        assert_eq!(w.max_seen, 4);
        // Rejected calls count: at t0+60 the window still holds 3 (t0+1, t0+2, t0+3).
        assert_eq!(w.hit(t0 + Duration::from_secs(60), 3), Err(2));
    }
}
