//! Log messages for the host to print: the library never writes to stdout or stderr and never
//! installs a global logger. The worker queues messages here; each front end drains them on
//! its own thread (the CLI to stderr, the Fluent Bit plugin to the host's logger).

use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// A bounded queue; when full, the oldest messages go and a count of dropped ones is kept.
#[derive(Default)]
pub struct LogQueue {
    inner: Mutex<(VecDeque<(Level, String)>, u64)>,
}

const CAPACITY: usize = 1000;

impl LogQueue {
    pub fn push(&self, level: Level, msg: impl Into<String>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.len() >= CAPACITY {
            g.0.pop_front();
            g.1 += 1;
        }
        g.0.push_back((level, msg.into()));
    }

    /// The oldest queued message, if any. Reports dropped messages first.
    pub fn pop(&self) -> Option<(Level, String)> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.1 > 0 {
            let n = std::mem::take(&mut g.1);
            return Some((Level::Warn, format!("{n} log messages were dropped (the host did not read them in time)")));
        }
        g.0.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_keeps_the_newest_and_reports_the_drop() {
        let q = LogQueue::default();
        for i in 0..(CAPACITY + 5) {
            q.push(Level::Info, format!("m{i}"));
        }
        let (l, m) = q.pop().unwrap();
        assert_eq!(l, Level::Warn);
        assert!(m.starts_with("5 log messages"), "{m}");
        assert_eq!(q.pop().unwrap().1, "m5");
    }
}
