//! stderr for humans and machines: log lines (text or JSON, filtered by level), a live
//! progress line on a terminal, a periodic plain progress line otherwise, a final summary.

use slack_audit::logs::Level;
use slack_audit::stats::Stats;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub struct Ui {
    format: Format,
    level: Level,
    /// stderr is a terminal: redraw one status line instead of printing progress lines.
    live: bool,
    status_shown: bool,
    started: Instant,
    last_progress: Instant,
    every: Duration,
}

pub fn parse_level(s: &str) -> Level {
    match s {
        "error" => Level::Error,
        "warn" => Level::Warn,
        "debug" => Level::Debug,
        _ => Level::Info,
    }
}

impl Ui {
    pub fn new(format: Format, level: Level, progress_every: Duration) -> Ui {
        let live = format == Format::Text && std::io::stderr().is_terminal();
        let every = if live { Duration::from_millis(250) } else { progress_every };
        Ui { format, level, live, status_shown: false, started: Instant::now(), last_progress: Instant::now(), every }
    }

    pub fn log(&mut self, level: Level, msg: &str) {
        if level > self.level {
            return;
        }
        self.clear_status();
        let mut err = std::io::stderr().lock();
        let _ = match self.format {
            Format::Text => writeln!(err, "slack-audit: {}: {msg}", level.name()),
            Format::Json => {
                writeln!(err, "{}", serde_json::json!({"ts": now_rfc3339(), "level": level.name(), "msg": msg}))
            }
        };
    }

    fn clear_status(&mut self) {
        if self.status_shown {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.status_shown = false;
        }
    }

    /// Shows progress if it is time to (every 250 ms on a terminal, else every `progress_every`).
    pub fn tick(&mut self, s: &Stats) {
        if self.every.is_zero() || self.last_progress.elapsed() < self.every || self.level < Level::Info {
            return;
        }
        self.last_progress = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = s.events_acked as f64 / secs;
        let window = s.window_progress.map(|p| format!(" · window {:.0}% covered", p * 100.0)).unwrap_or_default();
        let eta = match s.window_progress {
            Some(p) if p > 0.02 && p < 1.0 => format!(" · ETA {}", short_duration(secs * (1.0 - p) / p)),
            _ => String::new(),
        };
        match (self.live, self.format) {
            (true, _) => {
                let _ = write!(
                    std::io::stderr(),
                    "\r\x1b[2K{} events · {} pages · {} calls · {:.0} events/s{window}{eta}",
                    s.events_acked,
                    s.pages,
                    s.calls,
                    rate
                );
                self.status_shown = true;
            }
            (false, Format::Text) => {
                self.log(
                    Level::Info,
                    &format!(
                        "progress: {} events, {} pages, {} calls ({} retries, {} rate limited), {:.0} events/s{window}{eta}",
                        s.events_acked, s.pages, s.calls, s.retries, s.rate_limited, rate
                    ),
                );
            }
            (false, Format::Json) => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "{}",
                    serde_json::json!({"ts": now_rfc3339(), "level": "info", "msg": "progress",
                        "events": s.events_acked, "pages": s.pages, "calls": s.calls, "retries": s.retries,
                        "rate_limited": s.rate_limited, "events_per_s": rate.round(), "window_progress": s.window_progress})
                );
            }
        }
    }

    pub fn summary(&mut self, s: &Stats) {
        self.clear_status();
        let secs = self.started.elapsed().as_secs_f64();
        match self.format {
            Format::Text => self.log(
                Level::Info,
                &format!(
                    "done: {} events written and acknowledged, {} pages, {} calls ({} retries, {} rate limited, {} expired cursors), {} duplicates dropped, {:.1} s",
                    s.events_acked, s.pages, s.calls, s.retries, s.rate_limited, s.invalid_cursors, s.duplicates_dropped, secs
                ),
            ),
            Format::Json => {
                if self.level >= Level::Info {
                    let mut v = serde_json::to_value(s).unwrap_or_default();
                    v["ts"] = now_rfc3339().into();
                    v["level"] = "info".into();
                    v["msg"] = "done".into();
                    v["seconds"] = ((secs * 10.0).round() / 10.0).into();
                    let _ = writeln!(std::io::stderr(), "{v}");
                }
            }
        }
    }
}

fn short_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
