//! Issue 12, item 2: the org's rate budget holds across collectors created at different
//! times in one process, and nobody waits longer than the window needs.
//!
//! The simulator counts calls per 60 s and answers 429 over its budget, so "never over the
//! budget" is checked by Slack's own count. The test needs about one window (65 s).

mod common;

use common::*;
use slack_audit::collector::{streams_for, Collector};
use slack_audit::logs::LogQueue;
use slack_audit::sequence::StreamState;
use slack_audit::signal::StopSignal;
use slack_audit::stats::Stats;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BUDGET: u32 = 2;
/// Our window: a minute plus the governor's margin.
const WINDOW: Duration = Duration::from_millis(60_500);

fn collector(sim: &slack_audit::sim::Sim, dir: &Path) -> (Collector, Arc<Mutex<Stats>>) {
    let cfg = config(sim, dir, &[("limit", "1"), ("since", "30d"), ("max_calls_per_minute", &BUDGET.to_string())]);
    let specs = streams_for(&cfg).into_iter().map(|s| (s, StreamState::default())).collect();
    let stats = Arc::new(Mutex::new(Stats::default()));
    let c = Collector::new(cfg, specs, stats.clone(), Arc::new(StopSignal::new()), Arc::new(LogQueue::default()))
        .expect("collector");
    (c, stats)
}

/// Item 2: an older collector sees a younger one's calls at their true time. The older one is
/// created first and stays idle; the younger one, created 5 s later, spends the budget; the
/// older one's first call then waits for the younger one's calls to leave the window (not 5 s
/// less: Slack would count 3 calls in a minute), and no longer than the window needs.
#[test]
fn collectors_created_apart_in_one_process_share_one_budget() {
    let sim = sim(5, 0, |c| c.max_calls_per_minute = BUDGET);
    // Separate state dirs: only the process's budget links them (the host file is item 9).
    let (dir_old, dir_young) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut older, older_stats) = collector(&sim, dir_old.path());
    std::thread::sleep(Duration::from_secs(5));
    let (mut younger, _) = collector(&sim, dir_young.path());
    for _ in 0..BUDGET {
        assert!(younger.next_batch().expect("younger collects").is_some());
    }
    let spent = Instant::now();
    assert_eq!(sim.stats().calls, BUDGET as u64);
    assert!(older.next_batch().expect("older collects").is_some());
    let waited = spent.elapsed();
    let st = sim.stats();
    let budget_wait = Duration::from_millis(older_stats.lock().unwrap().budget_waits_ms);
    eprintln!(
        "collectors_created_apart: older waited {waited:?} (budget wait {budget_wait:?}); sim: {} calls, {} x 429, max {} in any 60 s (budget {BUDGET})",
        st.calls, st.calls_429, st.max_calls_in_any_60s
    );
    assert_eq!(st.calls_429, 0, "a call was over Slack's budget: {st:?}");
    assert!(st.max_calls_in_any_60s <= BUDGET as u64, "{st:?}");
    assert!(budget_wait <= WINDOW + Duration::from_secs(1), "waited {budget_wait:?} for a {WINDOW:?} window");
}
