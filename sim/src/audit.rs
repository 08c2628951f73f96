//! `GET /audit/v1/logs`, `/schemas` and `/actions`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::cursor::{self, Decoded};
use crate::cursor_table::LogsQuery;
use crate::data::{World, CATEGORIES};
use crate::gate::{finish, gate, Gate};
use crate::http::{Request, Response};
use crate::lock;
use crate::router::Outcome;
use crate::shared::Shared;
use crate::stats::inc;

pub(crate) const MAX_LIMIT: u32 = 9999;
const DEFAULT_LIMIT: u32 = 100;
const MAX_ACTIONS: usize = 30;

/// Parses the query; `Err` means `invalid_arguments`.
fn parse_query(req: &Request) -> Result<LogsQuery, ()> {
    let int = |name: &str| -> Result<Option<i64>, ()> {
        match req.param(name) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| ()),
        }
    };
    let limit = match int("limit")? {
        None => None,
        Some(l) if (1..=MAX_LIMIT as i64).contains(&l) => Some(l as u32),
        Some(_) => return Err(()),
    };
    let action = match req.param("action") {
        None => None,
        Some(v) => {
            let mut names: Vec<String> =
                v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            if names.len() > MAX_ACTIONS {
                return Err(());
            }
            names.sort();
            names.dedup();
            Some(names)
        }
    };
    Ok(LogsQuery {
        oldest: int("oldest")?,
        latest: int("latest")?,
        limit,
        action,
        actor: req.param("actor").map(String::from),
        entity: req.param("entity").map(String::from),
    })
}

fn permanent_error(mode: &str) -> Response {
    match mode {
        "missing_scope" => Response::json(
            403,
            br#"{"ok":false,"error":"missing_scope","needed":"auditlogs:read","provided":"admin,identify"}"#.to_vec(),
        ),
        "invalid_auth" => Response::error(401, "invalid_auth"),
        "invalid_workspace" => Response::error(400, "invalid_workspace"),
        // `paid_only` is the Web API's word; the audit API says feature_not_enabled.
        "paid_only" => Response::error(403, "feature_not_enabled"),
        other => Response::error(403, other),
    }
}

pub(crate) fn logs(s: &Shared, req: &Request) -> Outcome {
    let mut rng = s.rng();
    let (truncate, knobs) = match gate(s, &mut rng, false) {
        Gate::Go { truncate, knobs } => (truncate, knobs),
        Gate::Stop(o) => return o,
    };
    let answer = |r: Response| finish(r, truncate);
    if req.method != "GET" {
        return answer(Response::error(405, "method_not_allowed"));
    }
    match req.header("authorization").map(str::trim) {
        None | Some("") => {
            inc(&s.c.auth_failures);
            return answer(Response::error(401, "missing_authentication"));
        }
        Some(h) => {
            let token = h.strip_prefix("Bearer ").map(str::trim);
            if token != Some(s.token.as_str()) {
                inc(&s.c.auth_failures);
                return answer(Response::error(401, "invalid_authentication"));
            }
        }
    }
    if let Some(mode) = &knobs.error_mode {
        inc(&s.c.permanent_errors);
        return answer(permanent_error(mode));
    }
    let Ok(query) = parse_query(req) else {
        inc(&s.c.invalid_arguments);
        return answer(Response::error(400, "invalid_arguments"));
    };

    // The cursor: a position only. The answer uses this request's own query.
    let mut position: Option<(i64, u32)> = None;
    if let Some(c) = req.param("cursor") {
        inc(&s.c.cursor_requests);
        let invalid = || {
            inc(&s.c.invalid_cursors);
            answer(Response::error(400, "invalid_cursor"))
        };
        let Some(d) = cursor::decode(s.seed, c) else {
            return invalid();
        };
        let issued = {
            let table = lock(&s.cursors);
            let mine = d.instance == s.instance;
            mine.then(|| table.get(d.serial))
                .flatten()
                .map(|i| (i.query != query, i.at.elapsed(), d.serial < table.expired_below))
        };
        if let Some((differs, _, _)) = issued {
            if differs {
                inc(&s.c.incomplete_cursor_queries);
            }
        }
        let expired = match (issued, knobs.cursor_ttl) {
            (Some((_, _, true)), _) => true,
            (Some((_, age, _)), Some(ttl)) => age > Duration::from_secs(ttl),
            // A cursor this instance cannot date (a previous run's) is stale when cursors expire.
            (None, Some(_)) => true,
            (None, None) => false,
            (Some(_), None) => false,
        };
        if expired || rng.unit() < knobs.p_invalid_cursor {
            return invalid();
        }
        position = Some((d.date, d.idx));
    }

    let limit = query.limit.unwrap_or(DEFAULT_LIMIT) as usize;
    let mut page_len = limit;
    if knobs.short_pages && rng.below(4) == 0 {
        page_len = rng.below(limit as u64) as usize;
    }
    let oldest = query.oldest.unwrap_or(i64::MIN);
    let top = (query.latest.unwrap_or(i64::MAX), u32::MAX);
    let start = position.map_or(top, |p| p.min(top));
    let filter = s.world.filter(query.action.as_deref(), query.actor.as_deref(), query.entity.as_deref());

    let (page, next) = {
        let index = s.index.read().unwrap_or_else(|e| e.into_inner());
        let keys = &index.keys;
        let hi = keys.partition_point(|k| *k <= start);
        let lo = keys.partition_point(|k| k.0 < oldest).min(hi);
        if filter.is_empty() {
            let n = page_len.min(hi - lo);
            let page: Vec<(i64, u32)> = keys[hi - n..hi].iter().rev().copied().collect();
            let next = (hi - n > lo).then(|| keys[hi - n - 1]);
            (page, next)
        } else {
            let mut page = Vec::with_capacity(page_len.min(1024));
            let mut next = None;
            for &k in keys[lo..hi].iter().rev() {
                if s.world.matches(&filter, k.1) {
                    if page.len() < page_len {
                        page.push(k);
                    } else {
                        next = Some(k);
                        break;
                    }
                }
            }
            (page, next)
        }
    };
    if page.len() < limit && next.is_some() {
        inc(&s.c.short_pages);
    }

    let next_cursor = match next {
        None => String::new(),
        Some((date, idx)) => {
            let serial = lock(&s.cursors).issue(query);
            cursor::encode(s.seed, Decoded { date, idx, serial, instance: s.instance }, rng.next_u64() as u8)
        }
    };

    let mut body = Vec::with_capacity(page.len() * 760 + 128);
    body.extend_from_slice(b"{\"entries\":[");
    for (i, &(date, idx)) in page.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        s.world.render(&mut body, idx, date);
    }
    body.extend_from_slice(b"],\"response_metadata\":{\"next_cursor\":\"");
    body.extend_from_slice(next_cursor.as_bytes());
    body.extend_from_slice(b"\"}}");
    inc(&s.c.pages_served);
    s.c.entries_served.fetch_add(page.len() as u64, Ordering::Relaxed);
    answer(Response::json(200, body))
}

pub(crate) fn schemas(world: &World) -> Response {
    let mut body = String::from("{\"schemas\":[");
    for (i, t) in world.schema_types().iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!("{{\"type\":\"{t}\",\"version\":1}}"));
    }
    body.push_str("]}");
    Response::json(200, body.into_bytes())
}

pub(crate) fn actions(world: &World) -> Response {
    let mut body = String::from("{\"actions\":{");
    for (ci, cat) in CATEGORIES.iter().enumerate() {
        if ci > 0 {
            body.push(',');
        }
        body.push_str(&format!("\"{cat}\":["));
        let names: Vec<String> =
            world.actions.iter().filter(|a| a.category == *cat).map(|a| format!("\"{}\"", a.name)).collect();
        body.push_str(&names.join(","));
        body.push(']');
    }
    body.push_str("}}");
    Response::json(200, body.into_bytes())
}
