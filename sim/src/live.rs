//! The live thread: new audit entries at `live_rate` per second (a `late_fraction` of them dated
//! `late_delay` seconds in the past), and new access and integration rows alongside.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::data::{self, Rng};
use crate::shared::Shared;
use crate::{unix_now, web};

pub(crate) fn live_loop(s: &Shared) {
    let mut last = Instant::now();
    // Fractional events owed at the current rate; the rate may change between ticks.
    let mut owed = 0.0f64;
    let mut added = 0u64;
    let mut n = 0u64;
    while !s.shutdown.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        let rate = f64::from_bits(s.live_rate.load(Ordering::Relaxed));
        owed += rate * last.elapsed().as_secs_f64();
        last = Instant::now();
        let due = added + owed as u64;
        if due <= added {
            continue;
        }
        owed -= (due - added) as f64;
        let now = unix_now();
        let batch: Vec<(i64, bool)> = (added..due)
            .map(|k| {
                let late = Rng::new(data::h3(s.seed, k, 0x1A7E)).unit() < s.late_fraction;
                if late {
                    (now - s.late_delay, true)
                } else {
                    (now, false)
                }
            })
            .collect();
        s.insert(&batch);
        n += 1;
        web::live_tick(s, (due - added) as usize, now, n);
        added = due;
    }
}
