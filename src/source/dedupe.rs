//! Ids already delivered near a time boundary.
//!
//! Slack's `oldest` is inclusive and the late-event guard re-reads an overlap, so the same
//! entries come back on the next poll. A [`SeenSet`] remembers the ids delivered at or after a
//! floor second; everything older than the floor can never be returned again and is pruned, so
//! the set stays as small as the events of the overlap window.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// foldhash instead of std's SipHash: every event costs a few lookups here, and the ids come
/// from Slack over an authenticated connection, so SipHash's flooding resistance buys little;
/// foldhash is still seeded per process.
type Ids = HashMap<String, i64, foldhash::fast::RandomState>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<(String, i64)>", into = "Vec<(String, i64)>")]
pub struct SeenSet {
    ids: Ids,
}

impl SeenSet {
    pub fn new() -> SeenSet {
        SeenSet::default()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// Records `id` delivered at second `date`; returns false if it was already there.
    pub fn insert(&mut self, id: &str, date: i64) -> bool {
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_string(), date);
        true
    }

    /// Forgets every id older than `floor`.
    pub fn prune_below(&mut self, floor: i64) {
        self.ids.retain(|_, d| *d >= floor);
    }

    /// Adds every id of `other`.
    pub fn extend(&mut self, other: &SeenSet) {
        for (id, d) in &other.ids {
            self.ids.entry(id.clone()).or_insert(*d);
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn clear(&mut self) {
        self.ids.clear();
    }
}

impl From<Vec<(String, i64)>> for SeenSet {
    fn from(v: Vec<(String, i64)>) -> Self {
        SeenSet { ids: v.into_iter().collect() }
    }
}

impl From<SeenSet> for Vec<(String, i64)> {
    fn from(s: SeenSet) -> Self {
        // Sorted so a state file is stable and diffable.
        let mut v: Vec<(String, i64)> = s.ids.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_reports_repeats_and_prune_keeps_the_floor_second() {
        let mut s = SeenSet::new();
        assert!(s.insert("a", 10));
        assert!(!s.insert("a", 10));
        assert!(s.insert("b", 11));
        assert!(s.insert("c", 9));
        s.prune_below(10);
        assert!(s.contains("a") && s.contains("b") && !s.contains("c"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn serializes_as_a_sorted_list() {
        let mut s = SeenSet::new();
        s.insert("b", 1);
        s.insert("a", 2);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"[["a",2],["b",1]]"#);
        let back: SeenSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
