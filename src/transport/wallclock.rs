//! Wall-clock time for windows and checkpoints: the local clock, corrected by Slack's own.
//!
//! A window's end is "now - lag" and becomes the checkpoint. A local clock running ahead would
//! move the checkpoint into the future, and events created before that future arrives would
//! then lie below `checkpoint - overlap` once the clock is corrected: lost. So "now" is Slack's
//! time, read from the `Date` header of each answer (RFC 9110 IMF-fixdate, whole seconds): the
//! offset between it and the local clock is applied to every later reading. Until Slack has
//! answered once, the local clock is all there is; the collector then caps the window in flight
//! by the first answer's `Date` (see [`crate::source::audit::window::AuditState::cap_latest`]).

use std::time::UNIX_EPOCH;

/// Unix seconds now. Injectable so that tests can run a collector on a skewed clock.
pub trait WallClock: Send + Sync {
    fn unix(&self) -> i64;
}

/// The system's clock.
pub struct SystemWallClock;

impl WallClock for SystemWallClock {
    fn unix(&self) -> i64 {
        crate::config::now_unix()
    }
}

/// The system's clock shifted by `0` seconds (positive: running ahead). For tests.
#[cfg(any(test, feature = "internals"))]
pub struct SkewedClock(pub i64);

#[cfg(any(test, feature = "internals"))]
impl WallClock for SkewedClock {
    fn unix(&self) -> i64 {
        crate::config::now_unix() + self.0
    }
}

/// The offset of Slack's clock from the local one, as last measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerTime {
    offset: Option<i64>,
}

impl ServerTime {
    /// Slack said it was `server` when the local clock read `local`.
    pub fn observe(&mut self, local: i64, server: i64) {
        self.offset = Some(server - local);
    }

    /// Slack's time for a local reading (the local one until Slack has answered).
    pub fn now(&self, local: i64) -> i64 {
        local + self.offset.unwrap_or(0)
    }

    #[cfg(test)]
    fn offset(&self) -> Option<i64> {
        self.offset
    }
}

/// Parses an HTTP `Date` header into Unix seconds (the `httpdate` crate reads the three forms
/// RFC 9110 allows).
pub fn parse_http_date(v: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(v.trim()).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_every_form_and_round_trip() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784111777));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784111777));
        assert_eq!(parse_http_date("yesterday"), None);
        let formatted = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_123));
        assert_eq!(parse_http_date(&formatted), Some(1_700_000_123));
    }

    #[test]
    fn the_offset_applies_to_later_readings() {
        let mut s = ServerTime::default();
        assert_eq!(s.now(1000), 1000);
        s.observe(5000, 1400);
        assert_eq!((s.now(5010), s.offset()), (1410, Some(-3600)));
    }
}
