//! Every cursor issued, with the query that issued it, so a later request carrying the cursor
//! can be compared with its origin (Slack's cursors forget the query) and expired on demand.

use std::collections::VecDeque;
use std::time::Instant;

/// The normalized query of a `/logs` request, as recorded for each cursor issued.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct LogsQuery {
    pub oldest: Option<i64>,
    pub latest: Option<i64>,
    pub limit: Option<u32>,
    /// Sorted action names.
    pub action: Option<Vec<String>>,
    pub actor: Option<String>,
    pub entity: Option<String>,
}

pub(crate) struct Issued {
    pub(crate) query: LogsQuery,
    pub(crate) at: Instant,
}

/// Every cursor issued (bounded), so requests can be compared with their origin.
pub(crate) struct CursorTable {
    pub(crate) base: u32,
    pub(crate) items: VecDeque<Issued>,
    /// Cursors with a serial below this were expired by `expire_cursors`.
    pub(crate) expired_below: u32,
}

pub(crate) const MAX_ISSUED: usize = 200_000;

impl CursorTable {
    pub(crate) fn issue(&mut self, query: LogsQuery) -> u32 {
        if self.items.len() >= MAX_ISSUED {
            self.items.drain(..MAX_ISSUED / 2);
            self.base = self.base.wrapping_add((MAX_ISSUED / 2) as u32);
        }
        self.items.push_back(Issued { query, at: Instant::now() });
        self.base.wrapping_add(self.items.len() as u32 - 1)
    }

    pub(crate) fn get(&self, serial: u32) -> Option<&Issued> {
        let off = serial.checked_sub(self.base)?;
        self.items.get(off as usize)
    }
}
