//! The access and integration logs of the Web API: paging and change detection, pure (no I/O,
//! no clock), persisted as [`WebState`] inside the stream's state file ([`crate::source::StreamState`]).
//!
//! Neither method has a time window like the audit API, so a poll is a *walk* from the newest
//! row down: `team.accessLogs` with `cursor` + `limit` and a fixed `before` (the walk's start),
//! `team.integrationLogs` with `page` numbers (the "cursor" here is the next page number).
//!
//! Both are read through one rule. Every row has a *key* and a *date*:
//!
//! * access rows: key = hash of (user_id, ip, user_agent), date = `date_last`; the row is an
//!   aggregate whose `date_last` and `count` move, so a row is delivered when its key is new or
//!   its `date_last` moved past the one delivered before;
//! * integration logs: key = hash of the whole entry, date = `date`; delivered once.
//!
//! Bounded state. `floor` is a second below which nothing is delivered any more: the first walk
//! starts at `since`; after each finished walk it rises to `high_water - margin`, where
//! `high_water` is the newest date seen and `margin` is the `overlap` option (default 600 s).
//! `known` holds key -> date only for rows dated at or after `floor`, and at most
//! [`MAX_KNOWN`] of them (beyond that the oldest go and `floor` rises to the oldest kept date,
//! which can repeat rows of that one second but never skips a newer one). So the state holds
//! the rows active within `margin` of the newest activity, whatever the history size.
//!
//! Guarantee: a row (or a change of an access row) that becomes visible within `margin` seconds
//! of its date is delivered exactly once once acknowledged (at least once across a crash).
//!
//! Early stop. Slack does not document the order of either method; the simulator (and, as far
//! as we know, Slack) answers newest date first. While every row of a walk came in
//! non-increasing date order, the walk stops after the first page that reaches below `floor`;
//! once one row is out of order the walk reads every page. A walk never reads more than
//! [`MAX_WALK_PAGES`] pages (Slack refuses page 101 with `over_pagination_limit`).

use crate::base::fnv::fnv1a;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Slack's page cap for classic paging; also the cap of a cursor walk.
pub(crate) const MAX_WALK_PAGES: u32 = 100;

/// The most row keys kept between polls.
pub(crate) const MAX_KNOWN: usize = 100_000;

/// From the config: where the first walk starts and how far below the newest date to look.
#[derive(Clone, Copy, Debug)]
pub struct WebPolicy {
    pub since: i64,
    pub margin: i64,
}

/// What the state file holds for an access or integration stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebState {
    /// Rows dated before this second are not delivered (already covered, or before `since`).
    pub floor: Option<i64>,
    /// The newest row date seen by a finished walk.
    pub high_water: Option<i64>,
    /// Row key -> newest date delivered, for rows dated at or after `floor`.
    pub known: BTreeMap<String, i64>,
    /// The `before` (Unix seconds) of the last finished walk.
    pub walked_at: Option<i64>,
    /// The walk in progress, so a restart resumes it.
    pub inflight: Option<Walk>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// The upper bound sent with every page of this walk (access logs only).
    pub before: i64,
    /// The cursor (access) or page number (integration) of the next page; `None` = first page.
    pub cursor: Option<String>,
    /// Pages read in this walk.
    pub pages: u32,
    /// The newest date seen in this walk.
    pub newest: Option<i64>,
    /// The date of the last row read, to check the order.
    pub prev: Option<i64>,
    /// Every row so far came newest first.
    pub sorted: bool,
    /// The rows per page this walk was read with, when its pages are numbered (integration
    /// logs): page N holds other rows at another page size. `None` in files that did not
    /// record it (schema 1) and for cursor walks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

/// The next page to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebRequest {
    pub before: i64,
    pub cursor: Option<String>,
}

/// What to do with one page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebVerdict {
    /// One flag per row of the page.
    pub deliver: Vec<bool>,
    /// Rows delivered before with the same date.
    pub duplicates: u64,
    /// Rows dated below the floor (covered by earlier walks, or before `since`).
    pub older: u64,
    /// The walk ended with this page.
    pub walk_done: bool,
    /// The walk ended because it hit [`MAX_WALK_PAGES`] with more pages left.
    pub page_limit_hit: bool,
}

impl WebState {
    /// The request to send next; starts a walk if none is in flight. `None` when a walk
    /// already finished in this second.
    pub fn plan(&mut self, now: i64) -> Option<WebRequest> {
        if self.inflight.is_none() {
            if self.walked_at.is_some_and(|w| now <= w) {
                return None;
            }
            self.inflight = Some(Walk {
                before: now,
                cursor: None,
                pages: 0,
                newest: None,
                prev: None,
                sorted: true,
                page_size: None,
            });
        }
        let w = self.inflight.as_ref()?;
        Some(WebRequest { before: w.before, cursor: w.cursor.clone() })
    }

    /// [`plan`](Self::plan) for a walk over numbered pages of `page_size` rows. A walk resumed
    /// with another page size (`limit` changed between runs), or from a file that did not record
    /// one, starts again at the first page: continuing at page N would skip or repeat rows.
    /// Rows it delivered already are known, so they are dropped, not delivered twice.
    pub fn plan_paged(&mut self, now: i64, page_size: u32) -> Option<WebRequest> {
        if let Some(w) = self.inflight.as_mut() {
            if w.cursor.is_some() && w.page_size != Some(page_size) {
                *w = Walk { cursor: None, pages: 0, prev: None, sorted: true, ..w.clone() };
            }
        }
        let req = self.plan(now)?;
        if let Some(w) = self.inflight.as_mut() {
            w.page_size = Some(page_size);
        }
        Some(req)
    }

    /// Slack's clock says it is `now`: a walk planned by a local clock running ahead gets its
    /// `before` (the next walk's start) lowered to it. No row is dated later than Slack's now.
    pub fn cap_before(&mut self, now: i64) {
        if let Some(w) = self.inflight.as_mut() {
            w.before = w.before.min(now);
        }
    }

    /// True when no walk is in flight and the last one started within `slack` seconds of `now`.
    pub fn caught_up(&self, now: i64, slack: i64) -> bool {
        self.inflight.is_none() && self.walked_at.is_some_and(|w| w >= now - slack)
    }

    /// Applies one page: its rows' `(key, date)` in the order received, and the next cursor
    /// (`""` on the last page).
    pub fn on_page<'a, I>(&mut self, rows: I, next_cursor: &str, policy: &WebPolicy) -> WebVerdict
    where
        I: IntoIterator<Item = (&'a str, i64)>,
    {
        let mut v = WebVerdict::default();
        // A `since` moved later than a saved floor bounds the walk too.
        let floor = self.floor.unwrap_or(policy.since).max(policy.since);
        let Some(w) = self.inflight.as_mut() else {
            return v;
        };
        for (key, date) in rows {
            if w.prev.is_some_and(|p| date > p) {
                w.sorted = false;
            }
            w.prev = Some(date);
            w.newest = w.newest.max(Some(date));
            let ok = if date < floor {
                v.older += 1;
                false
            } else {
                match self.known.get(key) {
                    Some(&d) if d >= date => {
                        v.duplicates += 1;
                        false
                    }
                    _ => {
                        self.known.insert(key.to_string(), date);
                        true
                    }
                }
            };
            v.deliver.push(ok);
        }
        w.pages += 1;
        let reached_floor = w.sorted && w.prev.is_some_and(|p| p < floor);
        let at_limit = w.pages >= MAX_WALK_PAGES;
        if next_cursor.is_empty() || reached_floor || at_limit {
            v.page_limit_hit = at_limit && !next_cursor.is_empty() && !reached_floor;
            v.walk_done = true;
            self.finish(policy);
        } else {
            w.cursor = Some(next_cursor.to_string());
        }
        v
    }

    /// The cursor expired: walk again from the top; `known` drops what was delivered already.
    /// The new chain is a new walk for Slack (its own 100 pages) and for the order check (its
    /// first row follows no row of this chain); `sorted` keeps what earlier chains showed, and
    /// `newest` the newest date seen.
    pub fn on_invalid_cursor(&mut self) {
        if let Some(w) = self.inflight.as_mut() {
            w.cursor = None;
            w.pages = 0;
            w.prev = None;
        }
    }

    fn finish(&mut self, policy: &WebPolicy) {
        let Some(w) = self.inflight.take() else {
            return;
        };
        self.walked_at = Some(w.before);
        self.high_water = self.high_water.max(w.newest);
        let mut floor = self.floor.unwrap_or(policy.since);
        if let Some(h) = self.high_water {
            floor = floor.max(h - policy.margin);
        }
        self.known.retain(|_, d| *d >= floor);
        if self.known.len() > MAX_KNOWN {
            let mut dates: Vec<i64> = self.known.values().copied().collect();
            dates.sort_unstable_by(|a, b| b.cmp(a));
            let cut = dates[MAX_KNOWN - 1];
            floor = floor.max(cut);
            self.known.retain(|_, d| *d >= cut);
        }
        self.floor = Some(floor);
    }
}

/// The key of an access row: a hash of (user_id, ip, user_agent), so the state file holds no
/// addresses or agents.
pub fn access_key(user_id: &str, ip: &str, user_agent: &str) -> String {
    format!("{:016x}", fnv1a(&format!("{user_id}\u{1f}{ip}\u{1f}{user_agent}")))
}

/// The id of one state of an access row: its key and its `date_last`.
pub fn access_id(key: &str, date_last: i64) -> String {
    format!("{key}@{date_last}")
}

/// The key of a row id made by [`access_id`] (integration ids are their own key).
pub fn key_of(id: &str) -> &str {
    id.split_once('@').map(|(k, _)| k).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: WebPolicy = WebPolicy { since: 0, margin: 100 };

    /// An in-memory accessLogs: rows (key, date) served newest first, `limit` per page, cursor =
    /// offset.
    fn serve(rows: &[(String, i64)], limit: usize, req: &WebRequest) -> (Vec<(String, i64)>, String) {
        let mut all = rows.to_vec();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        let from: usize = req.cursor.as_deref().map(|c| c.parse().unwrap()).unwrap_or(0);
        let to = (from + limit).min(all.len());
        let next = if to < all.len() { to.to_string() } else { String::new() };
        (all[from..to].to_vec(), next)
    }

    /// Walks once to the end; returns the delivered (key, date) and the pages read.
    fn walk(s: &mut WebState, rows: &[(String, i64)], limit: usize, now: i64) -> (Vec<(String, i64)>, u32) {
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(req) = s.plan(now) {
            let (page, next) = serve(rows, limit, &req);
            pages += 1;
            let v = s.on_page(page.iter().map(|(k, d)| (k.as_str(), *d)), &next, &POLICY);
            out.extend(page.iter().zip(&v.deliver).filter(|(_, d)| **d).map(|(r, _)| r.clone()));
            if v.walk_done {
                break;
            }
        }
        (out, pages)
    }

    fn rows(n: usize, base: i64) -> Vec<(String, i64)> {
        (0..n).map(|i| (format!("k{i:04}"), base + i as i64)).collect()
    }

    /// An in-memory integrationLogs: rows served newest first, `size` per page, cursor = the
    /// next page number (1-based), as Slack's `page` paging.
    fn serve_numbered(rows: &[(String, i64)], size: usize, req: &WebRequest) -> (Vec<(String, i64)>, String) {
        let page: usize = req.cursor.as_deref().map(|c| c.parse().unwrap()).unwrap_or(1);
        let mut all = rows.to_vec();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        let (from, to) = (((page - 1) * size).min(all.len()), (page * size).min(all.len()));
        let next = if to < all.len() { (page + 1).to_string() } else { String::new() };
        (all[from..to].to_vec(), next)
    }

    #[test]
    fn a_numbered_walk_resumed_with_another_page_size_starts_again_and_skips_nothing() {
        let data = rows(100, 1_000);
        let pages_read = |s: &mut WebState, size: u32, pages: usize, out: &mut Vec<(String, i64)>| {
            for _ in 0..pages {
                let Some(req) = s.plan_paged(5_000, size) else { return };
                let (page, next) = serve_numbered(&data, size as usize, &req);
                let v = s.on_page(page.iter().map(|(k, d)| (k.as_str(), *d)), &next, &POLICY);
                out.extend(page.iter().zip(&v.deliver).filter(|(_, d)| **d).map(|(r, _)| r.clone()));
                if v.walk_done {
                    return;
                }
            }
        };
        for (first, then, recorded) in [(30, 7, true), (7, 30, true), (30, 7, false)] {
            let mut s = WebState::default();
            let mut out = Vec::new();
            pages_read(&mut s, first, 2, &mut out);
            assert_eq!(out.len(), 2 * first as usize);
            // A restart that reads the saved walk (schema 1 did not record the page size).
            let mut saved: WebState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            if !recorded {
                saved.inflight.as_mut().unwrap().page_size = None;
            }
            pages_read(&mut saved, then, 1_000, &mut out);
            let mut got = out.clone();
            got.sort();
            got.dedup();
            assert_eq!(got.len(), out.len(), "{first} then {then}: a row delivered twice");
            assert_eq!(got, data, "{first} then {then} (recorded {recorded}): rows skipped");
        }
        // Same page size: the walk goes on where it was (page 3), nothing read again.
        let mut s = WebState::default();
        let mut out = Vec::new();
        pages_read(&mut s, 30, 2, &mut out);
        assert_eq!(s.plan_paged(5_000, 30).unwrap().cursor.as_deref(), Some("3"));
    }

    #[test]
    fn new_moved_and_unchanged_rows_are_delivered_once_per_change() {
        let mut data = rows(50, 1000);
        let mut s = WebState::default();
        let (first, _) = walk(&mut s, &data, 7, 2000);
        assert_eq!(first.len(), 50);
        // nothing changed: nothing delivered
        assert_eq!(walk(&mut s, &data, 7, 2001).0, vec![]);
        // two rows move, one appears
        data[3].1 = 1100;
        data[49].1 = 1101;
        data.push(("new".into(), 1102));
        let (third, _) = walk(&mut s, &data, 7, 2002);
        let mut got: Vec<_> = third.iter().map(|(k, d)| (k.as_str(), *d)).collect();
        got.sort();
        assert_eq!(got, vec![("k0003", 1100), ("k0049", 1101), ("new", 1102)]);
    }

    #[test]
    fn a_walk_stops_below_the_floor_and_state_stays_bounded() {
        let data = rows(1000, 10_000);
        let mut s = WebState::default();
        let (_, pages) = walk(&mut s, &data, 10, 20_000);
        assert_eq!(pages, 100);
        // floor = newest (10999) - margin (100); known holds only rows at or above it
        assert_eq!(s.floor, Some(10_899));
        assert_eq!(s.known.len(), 101);
        // the next walk reads only down to the floor: 11 pages of 10, not 100
        let (again, pages) = walk(&mut s, &data, 10, 20_001);
        assert!(again.is_empty());
        assert_eq!(pages, 11);
    }

    #[test]
    fn out_of_order_rows_make_the_walk_read_every_page() {
        let mut data = rows(60, 10_000);
        let mut s = WebState::default();
        walk(&mut s, &data, 10, 20_000);
        // a served page out of date order (a server that sorts by something else)
        let mut s2 = s.clone();
        s2.plan(20_001).unwrap();
        let v = s2.on_page([("x", 5), ("y", 10_059), ("w", 3)], "10", &POLICY);
        assert!(!v.walk_done, "must not stop early once the order is broken");
        data.push(("z".into(), 10_058));
        assert_eq!(walk(&mut s, &data, 10, 20_002).0, vec![("z".to_string(), 10_058)]);
    }

    #[test]
    fn since_bounds_the_first_walk_and_the_page_limit_ends_a_walk() {
        let data = rows(30, 100);
        let mut s = WebState::default();
        let policy = WebPolicy { since: 120, margin: 5 };
        s.plan(500).unwrap();
        let (page, _) = serve(&data, 100, &WebRequest { before: 500, cursor: None });
        let v = s.on_page(page.iter().map(|(k, d)| (k.as_str(), *d)), "", &policy);
        assert_eq!(v.deliver.iter().filter(|d| **d).count(), 10);
        assert_eq!(v.older, 20);
        let mut s = WebState::default();
        for p in 0..MAX_WALK_PAGES {
            s.plan(500).unwrap();
            let v = s.on_page([(&*format!("k{p}"), 1000 - p as i64)], "more", &POLICY);
            assert_eq!(v.walk_done, p + 1 == MAX_WALK_PAGES);
            assert_eq!(v.page_limit_hit, p + 1 == MAX_WALK_PAGES);
        }
    }

    #[test]
    fn a_resumed_or_restarted_walk_repeats_nothing() {
        let data = rows(40, 1000);
        let mut s = WebState::default();
        let req = s.plan(2000).unwrap();
        let (page, next) = serve(&data, 10, &req);
        let v = s.on_page(page.iter().map(|(k, d)| (k.as_str(), *d)), &next, &POLICY);
        assert_eq!(v.deliver.iter().filter(|d| **d).count(), 10);
        // the saved state round-trips through JSON, then the cursor expires
        let mut back: WebState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        back.on_invalid_cursor();
        let (rest, _) = walk(&mut back, &data, 10, 2000);
        assert_eq!(rest.len(), 30);
        assert!(back.plan(2000).is_none(), "a walk finished in this second");
        assert!(back.caught_up(2000, 0));
    }

    #[test]
    fn an_expired_cursor_restarts_the_walk_with_fresh_counters() {
        // 95 pages read, then the cursor expires: the walk from the top is a new chain for
        // Slack's 100-page cap, and its first (newest) row is not "out of order".
        let data = rows(2000, 10_000);
        let mut s = WebState::default();
        walk(&mut s, &data, 10, 20_000);
        let floor = s.floor.unwrap();
        s.plan(20_001).unwrap();
        for p in 0..95 {
            let v = s.on_page([(&*format!("x{p}"), 30_000 - p as i64)], "more", &POLICY);
            assert!(!v.walk_done);
        }
        s.on_invalid_cursor();
        let w = s.inflight.as_ref().unwrap();
        assert_eq!((w.pages, w.prev, w.sorted), (0, None, true));
        // 6 more pages of the new chain stay under the cap; the sixth reaches below the floor
        // and (the order still holding) ends the walk early, without a page-limit warning
        for p in 0..6 {
            let date = if p == 5 { floor - 1 } else { 30_000 - p as i64 };
            let v = s.on_page([(&*format!("x{p}"), date)], "more", &POLICY);
            assert_eq!(v.walk_done, p == 5, "page {p}");
            assert!(!v.page_limit_hit, "page {p}");
        }
    }

    #[test]
    fn a_later_since_bounds_a_saved_floor() {
        let mut s = WebState { floor: Some(100), ..Default::default() };
        s.plan(1000).unwrap();
        let v = s.on_page([("a", 600), ("b", 300)], "", &WebPolicy { since: 500, margin: 100 });
        assert_eq!((v.deliver, v.older), (vec![true, false], 1));
    }

    #[test]
    fn a_walk_planned_ahead_of_slacks_clock_ends_at_slacks_now() {
        let mut s = WebState::default();
        assert_eq!(s.plan(50_000).unwrap().before, 50_000);
        s.cap_before(20_000);
        s.cap_before(30_000);
        s.on_page([("a", 19_000)], "", &POLICY);
        assert_eq!(s.walked_at, Some(20_000));
        assert!(s.plan(20_001).is_some(), "the next walk starts by Slack's clock");
    }

    #[test]
    fn ids_and_keys() {
        let k = access_key("U1", "1.2.3.4", "agent");
        assert_eq!(k.len(), 16);
        assert_ne!(k, access_key("U1", "1.2.3.4", "agent2"));
        assert_eq!(key_of(&access_id(&k, 55)), k);
        assert_eq!(key_of("abc"), "abc");
    }
}
