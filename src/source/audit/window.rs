//! The pagination and checkpoint state machine of one stream: pure, no I/O, no clock.
//!
//! A *sequence* walks one window `[oldest, latest]` newest first, one page at a time, resending
//! the whole query with every cursor. [`AuditState`] is what the state file of an audit stream
//! holds (inside [`crate::source::StreamState`]):
//!
//! * `checkpoint`: every entry dated at or before it was delivered and acknowledged;
//! * `seen`: ids delivered at or after `checkpoint - overlap`, dropped when re-read;
//! * `inflight`: the sequence being walked (its bounds, the cursor of the next page, the
//!   lowest second read so far and the ids read at that second), so a restart resumes
//!   where the last acknowledged page ended, and an expired cursor restarts from `lowest`.
//!
//! The collector clones the state after each page; the clone becomes durable only when the
//! host acknowledges that page.

use crate::source::dedupe::SeenSet;
use serde::{Deserialize, Serialize};

/// The window policy of a stream, from the config.
#[derive(Clone, Copy, Debug)]
pub struct WindowPolicy {
    /// The first run reads from here.
    pub since: i64,
    /// A sequence reads up to `now - lag`.
    pub lag: i64,
    /// A sequence re-reads this many seconds before the checkpoint (late-event guard).
    pub overlap: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditState {
    pub checkpoint: Option<i64>,
    pub seen: SeenSet,
    pub inflight: Option<InFlight>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub oldest: i64,
    /// Becomes the checkpoint when the sequence ends.
    pub latest: i64,
    /// The `latest` sent with the current cursor chain: `latest`, or `lowest` after an expired
    /// cursor made the sequence restart.
    pub query_latest: i64,
    /// The cursor of the next page; `None` for the first page of a chain.
    pub cursor: Option<String>,
    /// The lowest second read so far in this sequence (delivered or dropped as a duplicate).
    pub lowest: Option<i64>,
    /// Ids read at `lowest`.
    pub lowest_ids: SeenSet,
    /// Ids delivered in this sequence dated at or after `latest - overlap`: the next `seen`.
    pub carry: SeenSet,
    pub delivered: u64,
    /// How often an expired cursor restarted this sequence.
    pub restarts: u32,
    /// `(lowest, ids read there)` at the last restart, to tell whether the next one progressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_mark: Option<(i64, u64)>,
    /// Restarts of this sequence that got no further than the one before; each doubles the
    /// page size for the rest of the sequence.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stuck: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Ids of one page at one second, borrowed from the page ([`AuditState::on_page`]).
#[derive(Default)]
struct PageIds<'a> {
    ids: std::collections::HashSet<&'a str, foldhash::fast::RandomState>,
}

impl<'a> PageIds<'a> {
    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: &'a str) {
        self.ids.insert(id);
    }

    /// Empties the set. A set grown by a crowded second is dropped rather than cleared: a
    /// clear costs the table's capacity, and the next seconds usually hold one id each.
    fn clear(&mut self) {
        if self.ids.capacity() > 64 {
            self.ids = Default::default();
        } else {
            self.ids.clear();
        }
    }
}

/// Slack's largest `limit`.
const MAX_LIMIT: u32 = 9999;

/// The next request of a stream: the full query to send, with the cursor if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub oldest: i64,
    pub latest: i64,
    pub cursor: Option<String>,
}

/// What to do with one page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageVerdict {
    /// One flag per entry of the page: deliver it or not.
    pub deliver: Vec<bool>,
    /// Entries dropped because they were delivered before.
    pub duplicates: u64,
    /// Entries dropped because they lie outside the window asked for (a server bug).
    pub out_of_window: u64,
    /// The sequence ended with this page; the checkpoint moved to its `latest`.
    pub sequence_done: bool,
}

impl AuditState {
    /// The request to send next, starting a new sequence if none is in flight and `now - lag`
    /// is past the checkpoint. `None` means caught up.
    pub fn plan(&mut self, now: i64, policy: &WindowPolicy) -> Option<PageRequest> {
        if self.inflight.is_none() {
            let latest = now - policy.lag;
            // The overlap re-read never reaches before `since`: nothing older is delivered.
            let oldest = match self.checkpoint {
                Some(c) if latest <= c => return None,
                Some(c) => (c - policy.overlap).max(0).max(policy.since),
                None => policy.since,
            };
            if latest < oldest {
                return None;
            }
            self.inflight = Some(InFlight {
                oldest,
                latest,
                query_latest: latest,
                cursor: None,
                lowest: None,
                lowest_ids: SeenSet::new(),
                carry: SeenSet::new(),
                delivered: 0,
                restarts: 0,
                restart_mark: None,
                stuck: 0,
            });
        }
        let f = self.inflight.as_ref()?;
        Some(PageRequest { oldest: f.oldest, latest: f.query_latest, cursor: f.cursor.clone() })
    }

    /// Slack's clock (an answer's `Date`, minus the lag) says the window in flight cannot end
    /// after `limit`: lowers its `latest` (the future checkpoint) when a local clock running
    /// ahead planned it. The pages already asked for keep their `latest`; entries they hold
    /// above the new one are remembered in `carry` and dropped when the next window re-reads them.
    pub fn cap_latest(&mut self, limit: i64) {
        if let Some(f) = self.inflight.as_mut() {
            if limit < f.latest {
                f.latest = limit.max(f.oldest);
            }
        }
    }

    /// True when nothing is in flight and the checkpoint is within `slack` seconds of `now - lag`.
    pub fn caught_up(&self, now: i64, policy: &WindowPolicy, slack: i64) -> bool {
        self.inflight.is_none() && self.checkpoint.is_some_and(|c| c >= now - policy.lag - slack)
    }

    /// Applies one page (its entries' `(id, date_create)` in the order received, and its
    /// `next_cursor`) to the in-flight sequence and says which entries to deliver.
    pub fn on_page<'a, I>(&mut self, entries: I, next_cursor: &str, policy: &WindowPolicy) -> PageVerdict
    where
        I: IntoIterator<Item = (&'a str, i64)>,
    {
        let mut v = PageVerdict::default();
        let Some(f) = self.inflight.as_mut() else {
            return v;
        };
        let carry_floor = f.latest - policy.overlap;
        // The ids read in this page at `f.lowest`, borrowed from the page: `lowest` moves down
        // with nearly every entry of a backfill (one second each), and keeping owned ids per
        // entry cost an allocation, a free and a table clear each (about 4 % of a run's
        // instructions). `f.lowest_ids` (the ids of earlier pages) counts only while `lowest`
        // has not moved in this page; at the end it becomes this page's set.
        let mut here = PageIds::default();
        let mut moved = false;
        for (id, date) in entries {
            if date < f.oldest || date > f.query_latest {
                v.out_of_window += 1;
                v.deliver.push(false);
                continue;
            }
            let duplicate = self.seen.contains(id)
                || f.carry.contains(id)
                || (f.lowest == Some(date) && (here.contains(id) || (!moved && f.lowest_ids.contains(id))));
            // Every entry read moves `lowest`, duplicates too: a restart after an expired cursor
            // must not walk again through pages that held only duplicates (the overlap re-read).
            if f.lowest.is_none_or(|l| date < l) {
                f.lowest = Some(date);
                moved = true;
                here.clear();
            }
            if f.lowest == Some(date) {
                here.insert(id);
            }
            let ok = if duplicate {
                v.duplicates += 1;
                false
            } else {
                if date >= carry_floor {
                    f.carry.insert(id, date);
                }
                f.delivered += 1;
                true
            };
            v.deliver.push(ok);
        }
        if moved {
            f.lowest_ids.clear();
        }
        if let Some(lowest) = f.lowest {
            for id in here.ids {
                f.lowest_ids.insert(id, lowest);
            }
        }
        if next_cursor.is_empty() {
            self.finish(policy);
            v.sequence_done = true;
        } else if let Some(f) = self.inflight.as_mut() {
            f.cursor = Some(next_cursor.to_string());
        }
        v
    }

    /// The cursor expired: restart the chain from the lowest second read, keeping the ids read
    /// there so none is repeated and none of that second's other entries is lost.
    ///
    /// A restart re-reads that second from its top. When a chain expired again before getting
    /// past the ids already known there, the next chain asks for bigger pages (see
    /// [`AuditState::page_limit`]), so a second holding more pages than a cursor lives is still
    /// crossed.
    pub fn on_invalid_cursor(&mut self) {
        if let Some(f) = self.inflight.as_mut() {
            let mark = f.lowest.map(|l| (l, f.lowest_ids.len() as u64));
            if mark.is_some() && mark == f.restart_mark {
                f.stuck = f.stuck.saturating_add(1);
            }
            f.restart_mark = mark;
            f.cursor = None;
            f.query_latest = f.lowest.unwrap_or(f.latest);
            f.restarts += 1;
        }
    }

    /// The `limit` to send: the configured one, doubled for each restart of this sequence that
    /// made no progress (at most Slack's 9,999).
    pub fn page_limit(&self, configured: u32) -> u32 {
        let stuck = self.inflight.as_ref().map_or(0, |f| f.stuck.min(16));
        configured.saturating_mul(1 << stuck).clamp(configured.min(MAX_LIMIT), MAX_LIMIT)
    }

    fn finish(&mut self, policy: &WindowPolicy) {
        if let Some(f) = self.inflight.take() {
            self.checkpoint = Some(f.latest);
            self.seen.extend(&f.carry);
            self.seen.prune_below(f.latest - policy.overlap);
        }
    }

    /// Seconds of history not yet covered: how far the stream is behind `now`.
    pub fn lag_behind(&self, now: i64) -> Option<i64> {
        // Newest first: until a sequence ends, only its old checkpoint is certain.
        self.checkpoint.or(self.inflight.as_ref().map(|f| f.oldest)).map(|c| now - c)
    }

    /// The share of the in-flight window already covered, 0.0..=1.0 (newest first, so it is the
    /// part between `lowest` and `latest`).
    pub fn window_progress(&self) -> Option<f64> {
        let f = self.inflight.as_ref()?;
        let span = (f.latest - f.oldest).max(1) as f64;
        Some(f.lowest.map(|l| (f.latest - l) as f64 / span).unwrap_or(0.0).clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const POLICY: WindowPolicy = WindowPolicy { since: 100, lag: 0, overlap: 0 };

    /// An in-memory audit API: newest first, inclusive bounds, keyset cursors that keep only a
    /// position (the query comes from each request), optional expiry.
    struct FakeApi {
        entries: Vec<(String, i64)>,
        limit: usize,
    }

    impl FakeApi {
        fn page(&self, req: &PageRequest) -> (Vec<(String, i64)>, String) {
            self.page_of(req, self.limit)
        }

        fn page_of(&self, req: &PageRequest, limit: usize) -> (Vec<(String, i64)>, String) {
            let mut all: Vec<&(String, i64)> =
                self.entries.iter().filter(|(_, d)| *d >= req.oldest && *d <= req.latest).collect();
            all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
            let start = match &req.cursor {
                Some(c) => {
                    let (d, id) = c.split_once('|').unwrap();
                    let d: i64 = d.parse().unwrap();
                    all.iter().position(|(i, dd)| (*dd, i.as_str()) < (d, id)).unwrap_or(all.len())
                }
                None => 0,
            };
            let page: Vec<(String, i64)> = all[start..].iter().take(limit).map(|e| (*e).clone()).collect();
            let next = if start + page.len() < all.len() {
                let last = page.last().unwrap();
                format!("{}|{}", last.1, last.0)
            } else {
                String::new()
            };
            (page, next)
        }
    }

    fn entries(spec: &[(i64, usize)]) -> Vec<(String, i64)> {
        let mut v = Vec::new();
        for (d, n) in spec {
            for i in 0..*n {
                v.push((format!("e{d}-{i:05}"), *d));
            }
        }
        v
    }

    /// Drives one stream to the end of its sequence, returning the delivered ids.
    fn drain(
        state: &mut AuditState,
        api: &FakeApi,
        now: i64,
        policy: &WindowPolicy,
        expire_every: Option<usize>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        // Requests in the current cursor chain; every k-th one finds its cursor expired.
        let mut chain = 0;
        let mut requests = 0;
        while let Some(req) = state.plan(now, policy) {
            requests += 1;
            assert!(requests < 100_000, "the sequence makes no progress: {:?}", state.inflight);
            chain += 1;
            if req.cursor.is_some() && expire_every.is_some_and(|k| chain % k == 0) {
                state.on_invalid_cursor();
                chain = 0;
                continue;
            }
            let (page, next) = api.page_of(&req, state.page_limit(api.limit as u32) as usize);
            let v = state.on_page(page.iter().map(|(i, d)| (i.as_str(), *d)), &next, policy);
            out.extend(page.iter().zip(&v.deliver).filter(|(_, d)| **d).map(|((i, _), _)| i.clone()));
            if v.sequence_done {
                break;
            }
        }
        out
    }

    fn assert_exactly(delivered: &[String], expected: &[(String, i64)]) {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for d in delivered {
            *counts.entry(d).or_default() += 1;
        }
        let dups: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
        assert!(dups.is_empty(), "duplicates: {dups:?}");
        let missing: Vec<_> = expected.iter().filter(|(i, _)| !counts.contains_key(i.as_str())).collect();
        assert!(missing.is_empty(), "missing {} e.g. {:?}", missing.len(), missing.first());
        assert_eq!(delivered.len(), expected.len());
    }

    #[test]
    fn first_sequence_reads_since_to_now_minus_lag_and_moves_the_checkpoint() {
        let api = FakeApi { entries: entries(&[(100, 3), (150, 2), (200, 4), (250, 9)]), limit: 2 };
        let mut s = AuditState::default();
        let policy = WindowPolicy { since: 100, lag: 51, overlap: 0 };
        let got = drain(&mut s, &api, 300, &policy, None);
        assert_exactly(&got, &api.entries[..9]);
        assert_eq!(s.checkpoint, Some(249));
        assert!(s.inflight.is_none());
        assert!(s.caught_up(300, &policy, 0));
    }

    #[test]
    fn the_inclusive_boundary_second_is_re_read_without_repeats_or_losses() {
        let mut api = FakeApi { entries: entries(&[(100, 5), (200, 5)]), limit: 3 };
        let mut s = AuditState::default();
        let first = drain(&mut s, &api, 200, &POLICY, None);
        assert_eq!(first.len(), 10);
        // more events land in the checkpoint second itself and after it
        api.entries.extend(entries(&[(300, 4)]));
        api.entries.push(("late-at-200".into(), 200));
        let second = drain(&mut s, &api, 300, &POLICY, None);
        let mut all = first.clone();
        all.extend(second);
        assert_exactly(&all, &api.entries);
    }

    #[test]
    fn one_second_holding_many_pages_is_fully_delivered() {
        let api = FakeApi { entries: entries(&[(150, 1), (200, 2500), (201, 1)]), limit: 97 };
        let mut s = AuditState::default();
        let got = drain(&mut s, &api, 300, &POLICY, None);
        assert_exactly(&got, &api.entries);
    }

    #[test]
    fn expired_cursors_restart_from_the_lowest_second_without_repeats() {
        // A chain of k requests must get further than the restart re-reads: the busiest
        // second (41) is smaller than the k - 1 pages of 13 a chain reads.
        let api = FakeApi { entries: entries(&[(120, 30), (150, 40), (170, 7), (200, 41)]), limit: 13 };
        for k in [5, 6, 8] {
            let mut s = AuditState::default();
            let got = drain(&mut s, &api, 300, &POLICY, Some(k));
            assert_exactly(&got, &api.entries);
            assert!(s.inflight.is_none(), "k={k}");
        }
    }

    #[test]
    fn an_expired_cursor_in_the_overlap_re_read_makes_progress() {
        // The second poll re-reads 60 s of entries that were all delivered: every page holds
        // only duplicates, and every third request finds its cursor expired.
        let policy = WindowPolicy { since: 100, lag: 0, overlap: 1000 };
        let mut api = FakeApi { entries: entries(&[(110, 7), (130, 9), (140, 3), (150, 12), (160, 8)]), limit: 5 };
        let mut s = AuditState::default();
        let mut all = drain(&mut s, &api, 160, &policy, None);
        assert_exactly(&all, &api.entries);
        let again = drain(&mut s, &api, 170, &policy, Some(3));
        assert!(again.is_empty(), "{again:?}");
        assert_eq!(s.checkpoint, Some(170));
        // ... and it still finds what is new, under the same expiry
        api.entries.extend(entries(&[(175, 4), (180, 6)]));
        api.entries.push(("late-140".into(), 140));
        all.extend(drain(&mut s, &api, 190, &policy, Some(3)));
        assert_exactly(&all, &api.entries);
    }

    #[test]
    fn a_second_holding_more_pages_than_a_cursor_lives_is_crossed_with_bigger_pages() {
        // 300 entries in one second, pages of 10, a cursor dies on the 4th request of a chain:
        // a chain reads 30 entries, so only bigger pages get past the ones already read.
        let api = FakeApi { entries: entries(&[(150, 20), (200, 300), (250, 5)]), limit: 10 };
        let mut s = AuditState::default();
        let got = drain(&mut s, &api, 300, &POLICY, Some(4));
        assert_exactly(&got, &api.entries);
        assert!(s.inflight.is_none());
        // the page size only grows for a sequence that is stuck, and never past Slack's 9,999
        assert_eq!(s.page_limit(10), 10);
        let mut f = AuditState::default();
        f.plan(300, &POLICY).unwrap();
        f.inflight.as_mut().unwrap().stuck = 40;
        assert_eq!(f.page_limit(10), 9999);
        assert_eq!(f.page_limit(20_000), 9999);
    }

    #[test]
    fn a_restart_from_any_acknowledged_snapshot_loses_nothing() {
        let api = FakeApi { entries: entries(&[(110, 20), (130, 45), (160, 3), (190, 60)]), limit: 10 };
        // crash after each possible page: resume from the snapshot taken after page `crash_at`
        for crash_at in 0..14 {
            let mut s = AuditState::default();
            let mut delivered = Vec::new();
            let mut snapshot = (s.clone(), 0);
            let mut page_no = 0;
            while let Some(req) = s.plan(300, &POLICY) {
                let (page, next) = api.page(&req);
                let v = s.on_page(page.iter().map(|(i, d)| (i.as_str(), *d)), &next, &POLICY);
                delivered.extend(page.iter().zip(&v.deliver).filter(|(_, d)| **d).map(|((i, _), _)| i.clone()));
                page_no += 1;
                if page_no <= crash_at {
                    snapshot = (s.clone(), delivered.len()); // acknowledged
                }
                if v.sequence_done {
                    break;
                }
            }
            // everything after the snapshot was delivered but never acknowledged: re-delivered
            let acked = delivered.len().min(snapshot.1);
            let mut union: Vec<String> = delivered[..acked].to_vec();
            let mut resumed = snapshot.0;
            union.extend(drain(&mut resumed, &api, 300, &POLICY, None));
            assert_exactly(&union, &api.entries);
        }
    }

    #[test]
    fn overlap_catches_late_events_and_drops_re_read_ids() {
        let policy = WindowPolicy { since: 100, lag: 0, overlap: 60 };
        let mut api = FakeApi { entries: entries(&[(150, 5), (190, 5), (200, 5)]), limit: 4 };
        let mut s = AuditState::default();
        let mut all = drain(&mut s, &api, 200, &policy, None);
        // an event dated 170 becomes visible only now (30 s late), plus new ones
        api.entries.push(("late-170".into(), 170));
        api.entries.extend(entries(&[(230, 3)]));
        all.extend(drain(&mut s, &api, 240, &policy, None));
        assert_exactly(&all, &api.entries);
        // the seen set only holds the overlap window [180, 240]: 5 + 5 + 3 ids
        assert_eq!(s.seen.len(), 13);
    }

    /// The ids at the lowest second: repeats dropped within a page and across pages, the set
    /// kept across pages while the lowest second stays, replaced when it moves down.
    #[test]
    fn ids_at_the_lowest_second_catch_repeats_within_and_across_pages() {
        let mut s = AuditState::default();
        s.plan(300, &POLICY).unwrap();
        let ids = |s: &AuditState| {
            let mut v: Vec<(String, i64)> = s.inflight.as_ref().unwrap().lowest_ids.clone().into();
            v.sort();
            v
        };
        let v = s.on_page([("a", 200), ("b", 150), ("c", 150), ("b", 150)], "next", &POLICY);
        assert_eq!(v.deliver, [true, true, true, false]);
        assert_eq!(ids(&s), [("b".to_string(), 150), ("c".to_string(), 150)]);
        // Same lowest second: the earlier page's ids still count, and are kept.
        let v = s.on_page([("c", 150), ("d", 150)], "next", &POLICY);
        assert_eq!(v.deliver, [false, true]);
        assert_eq!(v.duplicates, 1);
        assert_eq!(ids(&s).len(), 3);
        // Lower: the set holds only the new second's ids; an id of the old second is no repeat.
        let v = s.on_page([("e", 120), ("b", 120), ("e", 120)], "next", &POLICY);
        assert_eq!(v.deliver, [true, true, false]);
        assert_eq!(ids(&s), [("b".to_string(), 120), ("e".to_string(), 120)]);
    }

    #[test]
    fn entries_outside_the_window_are_dropped_and_counted() {
        let mut s = AuditState::default();
        let policy = WindowPolicy { since: 100, lag: 0, overlap: 0 };
        s.plan(200, &policy).unwrap();
        let v = s.on_page([("a", 150), ("b", 99), ("c", 201)], "", &policy);
        assert_eq!(v.deliver, vec![true, false, false]);
        assert_eq!(v.out_of_window, 2);
    }

    #[test]
    fn the_overlap_re_read_never_reaches_before_since() {
        let policy = WindowPolicy { since: 1000, lag: 0, overlap: 600 };
        let api = FakeApi { entries: entries(&[(500, 3), (990, 2), (1000, 2), (1200, 4)]), limit: 3 };
        let mut s = AuditState::default();
        let mut got = drain(&mut s, &api, 1100, &policy, None);
        assert_eq!(s.checkpoint, Some(1100));
        got.extend(drain(&mut s, &api, 1300, &policy, None));
        assert_exactly(&got, &api.entries[5..]);
        // a `since` moved later than a saved checkpoint bounds the window too
        let mut s = AuditState { checkpoint: Some(1100), ..Default::default() };
        let r = s.plan(1300, &WindowPolicy { since: 1250, lag: 0, overlap: 600 }).unwrap();
        assert_eq!((r.oldest, r.latest), (1250, 1300));
    }

    #[test]
    fn a_window_planned_ahead_of_slacks_clock_ends_at_slacks_now() {
        // the local clock reads 5000 while Slack's says 1000: the first answer caps the window
        let policy = WindowPolicy { since: 100, lag: 5, overlap: 50 };
        let mut api = FakeApi { entries: entries(&[(900, 3), (994, 2), (995, 4)]), limit: 2 };
        let mut s = AuditState::default();
        assert_eq!(s.plan(5000, &policy).unwrap().latest, 4995);
        s.cap_latest(1000 - policy.lag);
        let mut all = drain(&mut s, &api, 5000, &policy, None);
        assert_eq!(s.checkpoint, Some(995));
        // once the clock is right, what came after is found and nothing is repeated
        api.entries.extend(entries(&[(996, 2), (1010, 3)]));
        all.extend(drain(&mut s, &api, 1020, &policy, None));
        assert_exactly(&all, &api.entries);
    }

    #[test]
    fn caught_up_streams_plan_nothing() {
        let mut s = AuditState { checkpoint: Some(500), ..Default::default() };
        assert_eq!(s.plan(500, &POLICY), None);
        let r = s.plan(510, &WindowPolicy { since: 0, lag: 5, overlap: 3 }).unwrap();
        assert_eq!((r.oldest, r.latest, r.cursor), (497, 505, None));
    }
}
