//! The audit source: `/audit/v1/logs` of the Enterprise Audit Logs API, read in time windows
//! ([`crate::source::audit::window`]), one stream per filter set.

pub mod window;
pub mod wire;

use super::{Accepted, Ctx, SourceKind, SourceState, StateView, StreamSpec};
use crate::config::{Config, Source, MAX_ACTIONS_PER_REQUEST};
use crate::base::fnv::fnv1a;
use crate::transport::governor::Tier;
use crate::source::audit::window::WindowPolicy;
use crate::source::slack::{ApiError, Page};
use serde_json::{json, Value};
use std::time::Duration;

pub use crate::source::audit::window::AuditState;
pub use crate::source::audit::wire::{audit_logs_url, classify_failure, parse_audit_page, AuditFilter};

super::variant_of!(Audit, AuditState);

/// The audit source (its row in [`super::kind`]'s table).
pub struct Audit;

fn policy(cfg: &Config) -> WindowPolicy {
    WindowPolicy { since: cfg.since, lag: cfg.lag, overlap: cfg.overlap }
}

/// An audit stream is caught up when its last sequence ended within `slack` seconds of now
/// *and* covers at least up to when this collector started. The second half matters after a
/// restart that resumed an older in-flight window: finishing that window alone must not count
/// as caught up, or a `--once` run would stop short of events that existed when it began.
fn audit_caught_up(state: &AuditState, ctx: &Ctx) -> bool {
    let policy = policy(ctx.cfg);
    state.caught_up(ctx.now, &policy, ctx.slack()) && state.checkpoint.is_some_and(|c| c >= ctx.started - policy.lag)
}

impl SourceKind for Audit {
    fn tier(&self) -> Tier {
        Tier::AuditLogs
    }

    /// More than [`MAX_ACTIONS_PER_REQUEST`] `actions` become several audit streams: the names
    /// sorted, cut into groups of at most 30, each group its own stream and state file (named
    /// by a hash of its description, so the split is deterministic).
    fn streams(&self, cfg: &Config) -> Vec<StreamSpec> {
        let groups: Vec<Vec<String>> = if cfg.actions.len() > MAX_ACTIONS_PER_REQUEST {
            let mut sorted = cfg.actions.clone();
            sorted.sort();
            sorted.chunks(MAX_ACTIONS_PER_REQUEST).map(<[String]>::to_vec).collect()
        } else {
            vec![cfg.actions.clone()]
        };
        groups
            .into_iter()
            .map(|actions| {
                let filter = AuditFilter { actions, actor: cfg.actor.clone(), entity: cfg.entity.clone() };
                let description = filter.describe();
                let name = if description == "audit" {
                    "audit".to_string()
                } else {
                    format!("audit-{:016x}", fnv1a(&description))
                };
                StreamSpec { name, description, source: Source::Audit, filter }
            })
            .collect()
    }

    fn fresh(&self) -> SourceState {
        SourceState::Audit(AuditState::default())
    }

    fn plan(&self, spec: &StreamSpec, state: &mut SourceState, ctx: &Ctx) -> Option<super::Request> {
        let state = state_mut(state);
        let req = state.plan(ctx.now, &policy(ctx.cfg))?;
        let limit = state.page_limit(ctx.cfg.limit);
        Some(super::Request {
            url: audit_logs_url(&ctx.cfg.api_url, &spec.filter, limit, &req),
            expiring_cursor: req.cursor.is_some(),
            page: 1,
        })
    }

    fn parse(&self, body: Vec<u8>, _req: &super::Request) -> Result<Page, ApiError> {
        parse_audit_page(body)
    }

    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
        classify_failure(status, retry_after, body)
    }

    fn observe_server_time(&self, state: &mut SourceState, server_now: i64, ctx: &Ctx) {
        state_mut(state).cap_latest(server_now - ctx.cfg.lag);
    }

    fn on_invalid_cursor(&self, state: &mut SourceState) -> &'static str {
        state_mut(state).on_invalid_cursor();
        "cursor expired (invalid_cursor); resuming the sequence from its saved bounds"
    }

    fn accept(&self, state: &mut SourceState, page: &Page, ctx: &Ctx) -> Accepted {
        let state = state_mut(state);
        let verdict = state.on_page(page.ids(), &page.next_cursor, &policy(ctx.cfg));
        let exclude = &ctx.cfg.exclude_actions;
        let mut excluded = 0u64;
        let deliver: Vec<u32> = verdict
            .deliver
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .filter(|(k, _)| {
                let drop = !exclude.is_empty()
                    && page.action(&page.entries[*k]).is_some_and(|a| exclude.iter().any(|x| x == a));
                excluded += drop as u64;
                !drop
            })
            .map(|(k, _)| k as u32)
            .collect();
        Accepted {
            deliver,
            done: verdict.sequence_done,
            caught_up: verdict.sequence_done && audit_caught_up(state, ctx),
            duplicates: verdict.duplicates,
            out_of_window: verdict.out_of_window,
            excluded,
            warning: None,
        }
    }

    fn caught_up(&self, state: &SourceState, ctx: &Ctx) -> bool {
        state_ref(state).is_some_and(|s| audit_caught_up(s, ctx))
    }

    fn with_checkpoint(&self, t: i64) -> SourceState {
        SourceState::Audit(AuditState { checkpoint: Some(t), ..Default::default() })
    }

    fn ecs(&self) -> crate::format::ecs::Mapping {
        crate::format::ecs::AUDIT
    }
}

impl StateView for AuditState {
    fn checkpoint(&self) -> Option<i64> {
        self.checkpoint
    }

    fn resumes_from(&self) -> Option<i64> {
        self.checkpoint
    }

    fn lag_behind(&self, now: i64) -> Option<i64> {
        AuditState::lag_behind(self, now)
    }

    fn window_progress(&self) -> Option<f64> {
        AuditState::window_progress(self)
    }

    fn show(&self, delivered_total: u64, _since: i64, when: &dyn Fn(i64) -> String) -> Vec<String> {
        let mut out = vec![match self.checkpoint {
            Some(c) => format!("  checkpoint: {}", when(c)),
            None => "  checkpoint: none yet (first window in progress)".to_string(),
        }];
        out.push(format!("  delivered: {} events; {} boundary ids remembered", delivered_total, self.seen.len()));
        if let Some(f) = &self.inflight {
            out.push(format!(
                "  in flight: window {} .. {}, lowest read {}, {} delivered so far, cursor {}, {} restarts",
                when(f.oldest),
                when(f.latest),
                f.lowest.map(when).unwrap_or_else(|| "none".into()),
                f.delivered,
                if f.cursor.is_some() { "saved" } else { "none" },
                f.restarts
            ));
        }
        out
    }

    fn to_json(&self, time: &dyn Fn(Option<i64>) -> Value) -> serde_json::Map<String, Value> {
        let v = json!({
            "checkpoint": time(self.checkpoint),
            "web_walked_at": Value::Null,
            "boundary_ids": self.seen.len(),
            "in_flight": self.inflight.as_ref().map(|f| json!({
                "oldest": time(Some(f.oldest)),
                "latest": time(Some(f.latest)),
                "lowest_delivered": time(f.lowest),
                "delivered": f.delivered,
                "cursor_saved": f.cursor.is_some(),
                "restarts": f.restarts,
            })),
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object literal"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::streams_for;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs_at(pairs.iter().copied(), 1_700_000_000).unwrap()
    }

    fn names(specs: &[StreamSpec]) -> Vec<String> {
        specs.iter().map(|s| s.name.clone()).collect()
    }

    #[test]
    fn more_than_30_actions_split_into_streams_named_by_their_set() {
        let actions: Vec<String> = (0..61).map(|i| format!("action_{i:02}")).collect();
        let specs = streams_for(&cfg(&[("actions", &actions.join(","))]));
        assert_eq!(specs.len(), 3);
        for s in &specs {
            assert!(s.filter.actions.len() <= MAX_ACTIONS_PER_REQUEST);
            assert!(s.name.starts_with("audit-"), "{}", s.name);
        }
        let mut reversed = actions.clone();
        reversed.reverse();
        assert_eq!(names(&streams_for(&cfg(&[("actions", &reversed.join(","))]))), names(&specs));
        // up to 30 names stay one stream, named as before this split existed
        let one = streams_for(&cfg(&[("actions", "user_login,file_downloaded")]));
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].description, "audit action=user_login,file_downloaded");
    }
}
