//! `SimConfig`: everything the simulator can be told, its defaults and its validation. The
//! snake_case field names double as the JSON keys and as `slack-audit sim` flags.

use std::io;

use serde::{Deserialize, Serialize};

use crate::unix_now;

/// The error modes `error_mode` accepts.
pub const ERROR_MODES: &[&str] = &[
    "invalid_auth",
    "missing_scope",
    "feature_not_enabled",
    "team_not_authorized",
    "user_not_authorized",
    "invalid_workspace",
    "paid_only",
];

/// Which audit entries the simulator generates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    /// The original entries (the tests' fixtures and counts depend on them): small pools (300
    /// users, 12 entity kinds), raw UTF-8 next to a few escapes, short `details`.
    #[default]
    Classic,
    /// Entries shaped like Slack's own answers: every entity type of Slack's schemas, `details`
    /// of varied depth and size, strings escaped as Slack's backend writes them (`\/`, `\uXXXX`
    /// for every non-ASCII character), long user agents, IPv6, larger pools.
    Varied,
}

/// Everything the simulator can be told. The snake_case names double as the JSON keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Audit entries spread over `[start, end]` (bursts come on top). Default 10 000.
    pub events: usize,
    /// Oldest `date_create` of the spread entries. Default `end - 30 days`.
    pub start: i64,
    /// Newest `date_create` of the spread entries. Default now - 3600.
    pub end: i64,
    /// Makes the dataset, ids, cursors and faults reproducible. Default 1.
    pub seed: u64,
    /// `"classic"` (default) or `"varied"`: see [`Dataset`].
    pub dataset: Dataset,
    /// Extra entries: `(second, count)`, all created in that one second.
    pub burst: Vec<(i64, usize)>,
    /// The bearer token both APIs accept. Default `xoxp-sim-token`.
    pub token: String,
    /// Org-wide budget of `/logs` calls in any sliding 60 s window; 0 = unlimited. Default 50.
    pub max_calls_per_minute: u32,
    /// Budget of the Web API log methods (Tier 2); 0 = unlimited. Default 20.
    pub web_max_calls_per_minute: u32,
    /// A permanent error for every log call: one of [`ERROR_MODES`]. Default none.
    pub error_mode: Option<String>,
    /// Probability of a 500/502/503 answer.
    pub p_5xx: f64,
    /// Probability of closing the connection without an answer (FIN or RST).
    pub p_reset: f64,
    /// Probability of a body cut short after full headers.
    pub p_truncate: f64,
    /// Probability of a 200 whose body is not JSON.
    pub p_garbage: f64,
    /// Delay before answering each log call, in milliseconds.
    pub slow_ms: u64,
    /// Probability that a request carrying a cursor gets `invalid_cursor`.
    pub p_invalid_cursor: f64,
    /// Cursors older than this many seconds are `invalid_cursor`. Default none (never expire).
    pub cursor_ttl: Option<u64>,
    /// Compress when the client sends `Accept-Encoding: gzip`. Default true.
    pub gzip: bool,
    /// Deflate level 0..=9 for gzip bodies. Default 6, what web servers (and Slack) send, so a
    /// client pays for real inflating. `null`: level 1 up to 1 MiB and stored (uncompressed
    /// but valid gzip) blocks above, for runs where the simulator's CPU must stay low.
    pub gzip_level: Option<u32>,
    /// Sometimes answer fewer than `limit` entries (with a cursor) although more exist.
    pub short_pages: bool,
    /// New audit entries per second while running. Default 0.
    pub live_rate: f64,
    /// Fraction of live entries that appear with `date_create = now - late_delay`.
    pub late_fraction: f64,
    /// How late late entries are, in seconds. Default 300.
    pub late_delay: i64,
    /// Rows of `team.accessLogs`. Default 300.
    pub access_rows: usize,
    /// Entries of `team.integrationLogs`. Default 200.
    pub integration_logs: usize,
    /// Port on 127.0.0.1; 0 picks an ephemeral one. Default 0.
    pub port: u16,
    /// Idle keep-alive connections are closed after this many milliseconds. Default 5000.
    pub idle_timeout_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        let end = unix_now() - 3600;
        SimConfig {
            events: 10_000,
            start: end - 30 * 86_400,
            end,
            seed: 1,
            dataset: Dataset::Classic,
            burst: Vec::new(),
            token: "xoxp-sim-token".to_string(),
            max_calls_per_minute: 50,
            web_max_calls_per_minute: 20,
            error_mode: None,
            p_5xx: 0.0,
            p_reset: 0.0,
            p_truncate: 0.0,
            p_garbage: 0.0,
            slow_ms: 0,
            p_invalid_cursor: 0.0,
            cursor_ttl: None,
            gzip: true,
            gzip_level: Some(6),
            short_pages: false,
            live_rate: 0.0,
            late_fraction: 0.0,
            late_delay: 300,
            access_rows: 300,
            integration_logs: 200,
            port: 0,
            idle_timeout_ms: 5000,
        }
    }
}

impl SimConfig {
    pub(crate) fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        for (name, p) in [
            ("p_5xx", self.p_5xx),
            ("p_reset", self.p_reset),
            ("p_truncate", self.p_truncate),
            ("p_garbage", self.p_garbage),
            ("p_invalid_cursor", self.p_invalid_cursor),
            ("late_fraction", self.late_fraction),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must be within 0..=1, got {p}"));
            }
        }
        if self.start > self.end {
            return bad(format!("start ({}) is after end ({})", self.start, self.end));
        }
        if !(self.live_rate >= 0.0 && self.live_rate.is_finite()) {
            return bad(format!("live_rate must be >= 0, got {}", self.live_rate));
        }
        let total = self.events as u64 + self.burst.iter().map(|b| b.1 as u64).sum::<u64>();
        if total >= u32::MAX as u64 / 2 {
            return bad(format!("too many events: {total}"));
        }
        check_error_mode(self.error_mode.as_deref())
    }
}

pub(crate) fn check_error_mode(mode: Option<&str>) -> io::Result<()> {
    match mode {
        Some(m) if !ERROR_MODES.contains(&m) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("error_mode must be one of {}, got {m:?}", ERROR_MODES.join(", ")),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json() {
        let c: SimConfig = serde_json::from_str(r#"{"events":5,"burst":[[100,3]],"error_mode":"paid_only"}"#).unwrap();
        assert_eq!((c.events, c.burst.clone(), c.max_calls_per_minute), (5, vec![(100, 3)], 50));
        assert!(serde_json::from_str::<SimConfig>(r#"{"evnets":5}"#).is_err());
        assert!(SimConfig { p_5xx: 1.5, ..c.clone() }.validate().is_err());
        assert!(SimConfig { error_mode: Some("nope".into()), ..c }.validate().is_err());
    }
}
