//! Counters a host can read (C ABI `stats`, CLI summary and progress).

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// HTTP calls made, retries included.
    pub calls: u64,
    /// Pages received and accepted.
    pub pages: u64,
    /// Events handed to the host.
    pub events: u64,
    /// Events the host acknowledged (made durable).
    pub events_acked: u64,
    /// Batches handed over and not yet acknowledged.
    pub batches_pending: u64,
    /// Repeated requests: after 5xx, resets, timeouts, bad bodies and 429s.
    pub retries: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Expired cursors that restarted a sequence from its saved bounds.
    pub invalid_cursors: u64,
    /// Entries dropped because they had been delivered before (boundary and overlap re-reads).
    pub duplicates_dropped: u64,
    /// Entries dropped by `exclude_actions`.
    pub excluded: u64,
    /// Entries outside the window asked for (a server bug if ever non-zero).
    pub out_of_window: u64,
    /// Sequences finished.
    pub sequences: u64,
    /// Milliseconds spent waiting for the rate budget.
    pub budget_waits_ms: u64,
    /// Unix seconds of the last successful page.
    pub last_success: Option<i64>,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Seconds between now and the newest durable checkpoint's second.
    pub lag_seconds: Option<i64>,
    /// How much of the window being walked is covered, 0..1.
    pub window_progress: Option<f64>,
    /// Every stream finished a sequence within one interval of now.
    pub caught_up: bool,
    /// Streams that delivered nothing for `stall_warning_after` (the no-data alarm).
    pub stalled_streams: Vec<String>,
    /// Per stream (by stream name, as in the state file names): what `run --metrics-listen`
    /// exports with a `stream` label.
    pub streams: BTreeMap<String, StreamStats>,
}

/// The counters of one stream.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StreamStats {
    /// `audit`, `access` or `integration`.
    pub source: String,
    /// HTTP calls made for this stream, retries included.
    pub calls: u64,
    /// Events handed to the host.
    pub events: u64,
    /// Events the host acknowledged.
    pub events_acked: u64,
    /// Unix seconds up to which this stream is durably delivered (its checkpoint, or for a
    /// first window in progress the window's start); `now - checkpoint` is its lag.
    pub checkpoint: Option<i64>,
}

impl Stats {
    /// The entry of stream `name`, created on first use.
    pub fn stream(&mut self, name: &str) -> &mut StreamStats {
        self.streams.entry(name.to_string()).or_default()
    }
}
