//! Web API: `team.accessLogs`, `team.integrationLogs` and `auth.test`.
//!
//! Envelope as at Slack: HTTP 200 with `"ok": true|false`, 429 with `Retry-After` when over the
//! Tier 2 budget. Access-log rows are aggregates per (user, ip, user agent) whose `date_last`
//! and `count` move forward in live mode, while new rows appear.

use std::sync::Mutex;

use serde::Serialize;

use crate::cursor::{base64_decode, base64_encode};
use crate::data::{h3, World};
use crate::gate::{finish, gate, Gate};
use crate::http::{Request, Response};
use crate::router::Outcome;
use crate::shared::{Knobs, Shared};
use crate::stats::inc;
use crate::{lock, unix_now, SimConfig};

const MAX_COUNT: i64 = 1000;
const MAX_PAGE: i64 = 100;

struct AccessRow {
    user: usize,
    ip: String,
    ua: usize,
    geo: usize,
    date_first: i64,
    date_last: i64,
    count: u64,
}

#[derive(Serialize, Clone)]
struct IntegrationLog {
    #[serde(skip_serializing_if = "Option::is_none")]
    service_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_type: Option<String>,
    service_type: String,
    user_id: String,
    user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    /// A string of Unix seconds, as Slack sends it.
    date: String,
    change_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub(crate) struct WebData {
    access: Mutex<Vec<AccessRow>>,
    /// Newest first.
    integration: Mutex<Vec<(i64, IntegrationLog)>>,
    seed: u64,
}

const UAS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.36.140 Chrome/120.0.6099.291 Electron/28.2.6 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "com.tinyspeck.chatlyio/24.03.10 (iPhone; iOS 17.3.1; Scale/3.00)",
    "Slack/24.03.10.0 (Android 14; Pixel 8)",
];

/// (isp, country, region)
const GEO: &[(&str, &str, &str)] = &[
    ("Comcast Cable", "US", "CA"),
    ("Deutsche Telekom AG", "DE", "BE"),
    ("NTT Communications", "JP", "13"),
    ("Orange S.A.", "FR", "IDF"),
    ("Telef\u{f3}nica", "ES", "MD"),
    ("", "", ""),
];

const SERVICES: &[&str] = &["Google Drive", "Incoming WebHooks", "Airbrake", "RSS", "Jira Cloud", "Outgoing WebHooks"];
const CHANGES: &[&str] = &["added", "removed", "enabled", "disabled", "expanded", "updated"];

fn ip(h: u64) -> String {
    if h % 7 == 0 {
        format!("2001:db8::{:x}", (h >> 8) & 0xffff)
    } else {
        format!("{}.{}.{}.{}", 20 + (h >> 8) % 180, (h >> 16) & 0xff, (h >> 24) & 0xff, (h >> 32) & 0xff)
    }
}

impl WebData {
    pub(crate) fn new(world: &World, c: &SimConfig) -> WebData {
        let span = (c.end - c.start).max(0) as u64 + 1;
        let users = world.users.len() as u64;
        let access = (0..c.access_rows as u64)
            .map(|i| {
                let h = h3(c.seed, i, 0xACCE55);
                let first = c.start + (h % span) as i64;
                let last = first + (h3(c.seed, i, 0xACCE56) % ((c.end - first).max(0) as u64 + 1)) as i64;
                AccessRow {
                    user: (h % users) as usize,
                    ip: ip(h3(c.seed, i, 0x1B)),
                    ua: ((h >> 20) % UAS.len() as u64) as usize,
                    geo: ((h >> 28) % GEO.len() as u64) as usize,
                    date_first: first,
                    date_last: last,
                    count: 1 + (h >> 36) % 400,
                }
            })
            .collect();
        let mut integration: Vec<(i64, IntegrationLog)> = (0..c.integration_logs as u64)
            .map(|i| {
                let h = h3(c.seed, i, 0x1E6);
                let date = c.start + (h % span) as i64;
                let user = ((h >> 8) % users) as usize;
                let change = CHANGES[((h >> 20) % CHANGES.len() as u64) as usize];
                let is_app = h & (1 << 30) != 0;
                let log = if is_app {
                    let a = ((h >> 32) % world.apps.len() as u64) as usize;
                    IntegrationLog {
                        service_id: None,
                        app_id: Some(world.apps[a].id.clone()),
                        app_type: Some(world.app_names[a].clone()),
                        service_type: world.app_names[a].clone(),
                        user_id: world.users[user].id.clone(),
                        user_name: world.user_names[user].0.clone(),
                        channel: None,
                        date: date.to_string(),
                        change_type: change.to_string(),
                        scope: Some("chat:write,channels:read".to_string()),
                        reason: None,
                    }
                } else {
                    let sv = ((h >> 32) % SERVICES.len() as u64) as usize;
                    IntegrationLog {
                        service_id: Some((1_000_000_000 + sv as u64 * 7919).to_string()),
                        app_id: None,
                        app_type: None,
                        service_type: SERVICES[sv].to_string(),
                        user_id: world.users[user].id.clone(),
                        user_name: world.user_names[user].0.clone(),
                        channel: (h & (1 << 40) != 0).then(|| "#general".to_string()),
                        date: date.to_string(),
                        change_type: change.to_string(),
                        scope: Some("incoming-webhook".to_string()),
                        reason: (change == "disabled").then(|| "user".to_string()),
                    }
                };
                (date, log)
            })
            .collect();
        integration.sort_by_key(|l| std::cmp::Reverse(l.0));
        WebData { access: Mutex::new(access), integration: Mutex::new(integration), seed: c.seed }
    }
}

/// Test support: moves `date_last` of the rows at the given indices to `now` (and bumps their
/// `count`). Indices past the end are ignored. Returns how many rows moved.
pub(crate) fn touch_access_rows(s: &Shared, indices: &[usize], now: i64) -> usize {
    let mut rows = lock(&s.web.access);
    let mut moved = 0;
    for &i in indices {
        if let Some(row) = rows.get_mut(i) {
            row.date_last = row.date_last.max(now);
            row.count += 1;
            moved += 1;
        }
    }
    moved
}

/// Test support: `n` new rows first and last seen at `now`, each with its own address.
pub(crate) fn add_access_rows(s: &Shared, n: usize, now: i64) {
    let mut rows = lock(&s.web.access);
    let users = s.world.users.len();
    for _ in 0..n {
        let k = rows.len() as u64;
        let r = h3(s.web.seed, k, 0xADD);
        rows.push(AccessRow {
            user: (r % users as u64) as usize,
            ip: format!("198.51.{}.{}", (k >> 8) & 0xff, k & 0xff),
            ua: ((r >> 20) % UAS.len() as u64) as usize,
            geo: ((r >> 28) % GEO.len() as u64) as usize,
            date_first: now,
            date_last: now,
            count: 1,
        });
    }
}

/// Test support: `(user_id, ip, user_agent, date_last)` of every access row, as served.
pub(crate) fn access_snapshot(s: &Shared) -> Vec<(String, String, String, i64)> {
    lock(&s.web.access)
        .iter()
        .map(|r| (s.world.users[r.user].id.clone(), r.ip.clone(), UAS[r.ua].to_string(), r.date_last))
        .collect()
}

/// Test support: `n` new integration logs dated `date` (distinct: each names its own service id).
pub(crate) fn add_integration_logs(s: &Shared, n: usize, date: i64) {
    let mut logs = lock(&s.web.integration);
    for _ in 0..n {
        let k = logs.len() as u64;
        let user = (h3(s.web.seed, k, 0x1E7) % s.world.users.len() as u64) as usize;
        let log = IntegrationLog {
            service_id: Some((2_000_000_000 + k).to_string()),
            app_id: None,
            app_type: None,
            service_type: "Incoming WebHooks".to_string(),
            user_id: s.world.users[user].id.clone(),
            user_name: s.world.user_names[user].0.clone(),
            channel: Some("#alerts".to_string()),
            date: date.to_string(),
            change_type: "added".to_string(),
            scope: Some("incoming-webhook".to_string()),
            reason: None,
        };
        let pos = logs.partition_point(|l| l.0 > date);
        logs.insert(pos, (date, log));
    }
}

/// Test support: `(date, user_id, change_type, service_id or app_id)` of every integration log.
pub(crate) fn integration_snapshot(s: &Shared) -> Vec<(i64, String, String, String)> {
    lock(&s.web.integration)
        .iter()
        .map(|(d, l)| {
            let what = l.service_id.clone().or_else(|| l.app_id.clone()).unwrap_or_default();
            (*d, l.user_id.clone(), l.change_type.clone(), what)
        })
        .collect()
}

/// Live mode: some rows move forward, a few new ones appear.
pub(crate) fn live_tick(s: &Shared, events: usize, now: i64, tick: u64) {
    let mut rows = lock(&s.web.access);
    for k in 0..events as u64 {
        let r = h3(s.web.seed, tick.wrapping_mul(1_000_003).wrapping_add(k), 0x11FE);
        if r % 10 < 3 && !rows.is_empty() {
            let n = rows.len() as u64;
            let row = &mut rows[((r >> 8) % n) as usize];
            row.date_last = row.date_last.max(now);
            row.count += 1 + (r >> 40) % 3;
        } else if r % 100 < 35 {
            rows.push(AccessRow {
                user: ((r >> 8) % s.world.users.len() as u64) as usize,
                ip: ip(r >> 4),
                ua: ((r >> 20) % UAS.len() as u64) as usize,
                geo: ((r >> 28) % GEO.len() as u64) as usize,
                date_first: now,
                date_last: now,
                count: 1,
            });
        }
    }
}

fn ok_json(v: serde_json::Value) -> Response {
    Response::json(200, serde_json::to_vec(&v).unwrap_or_default())
}

fn err(code: &str) -> Response {
    Response::error(200, code)
}

/// Budget, faults, auth and `error_mode` for the Web API log methods.
fn front(s: &Shared, req: &Request) -> Result<(bool, Knobs), Outcome> {
    let mut rng = s.rng();
    let (truncate, knobs) = match gate(s, &mut rng, true) {
        Gate::Go { truncate, knobs } => (truncate, knobs),
        Gate::Stop(o) => return Err(o),
    };
    check_auth(s, req).map_err(|r| finish(r, truncate))?;
    if let Some(mode) = &knobs.error_mode {
        inc(&s.c.permanent_errors);
        let r = match mode.as_str() {
            "missing_scope" => Response::json(
                200,
                br#"{"ok":false,"error":"missing_scope","needed":"admin","provided":"identify"}"#.to_vec(),
            ),
            "feature_not_enabled" => err("paid_only"),
            m => err(m),
        };
        return Err(finish(r, truncate));
    }
    Ok((truncate, knobs))
}

fn check_auth(s: &Shared, req: &Request) -> Result<(), Response> {
    let token = req
        .header("authorization")
        .and_then(|h| h.trim().strip_prefix("Bearer "))
        .map(str::trim)
        .or_else(|| req.param("token"));
    match token {
        None | Some("") => {
            inc(&s.c.auth_failures);
            Err(err("not_authed"))
        }
        Some(t) if t != s.token => {
            inc(&s.c.auth_failures);
            Err(err("invalid_auth"))
        }
        Some(_) => Ok(()),
    }
}

/// An integer parameter within `range`, or its default; `Err` = invalid_arguments.
fn int_param(req: &Request, name: &str, default: i64, range: std::ops::RangeInclusive<i64>) -> Result<i64, ()> {
    match req.param(name) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(()),
        },
    }
}

fn invalid_args(s: &Shared, truncate: bool) -> Outcome {
    inc(&s.c.invalid_arguments);
    finish(err("invalid_arguments"), truncate)
}

/// Which slice of `total` items to answer, and the paging/cursor JSON.
struct Paged {
    from: usize,
    to: usize,
    paging: serde_json::Value,
    next_cursor: Option<String>,
}

fn paginate(req: &Request, total: usize) -> Result<Paged, &'static str> {
    let cursor_mode = req.param("cursor").is_some() || req.param("limit").is_some();
    if cursor_mode {
        let limit = int_param(req, "limit", 100, 1..=MAX_COUNT).map_err(|_| "invalid_arguments")? as usize;
        let offset = match req.param("cursor") {
            None => 0,
            Some(c) => base64_decode(c)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse::<usize>().ok()))
                .ok_or("invalid_cursor")?,
        };
        let from = offset.min(total);
        let to = (offset + limit).min(total);
        let next = if to < total { base64_encode(format!("offset:{to}").as_bytes()) } else { String::new() };
        Ok(Paged {
            from,
            to,
            paging: serde_json::json!({
                "count": limit, "total": total, "page": offset / limit + 1, "pages": total.div_ceil(limit).max(1)
            }),
            next_cursor: Some(next),
        })
    } else {
        let count = int_param(req, "count", 100, 1..=MAX_COUNT).map_err(|_| "invalid_arguments")? as usize;
        let page = int_param(req, "page", 1, 1..=i64::MAX).map_err(|_| "invalid_arguments")?;
        if page > MAX_PAGE {
            return Err("over_pagination_limit");
        }
        let page = page as usize;
        let from = ((page - 1) * count).min(total);
        let to = (page * count).min(total);
        Ok(Paged {
            from,
            to,
            paging: serde_json::json!({
                "count": count, "total": total, "page": page, "pages": total.div_ceil(count).max(1)
            }),
            next_cursor: None,
        })
    }
}

fn paged_error(s: &Shared, code: &str, truncate: bool) -> Outcome {
    if code == "invalid_arguments" {
        return invalid_args(s, truncate);
    }
    if code == "invalid_cursor" {
        inc(&s.c.invalid_cursors);
    }
    finish(err(code), truncate)
}

pub(crate) fn access_logs(s: &Shared, req: &Request) -> Outcome {
    let (truncate, _) = match front(s, req) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let Ok(before) = int_param(req, "before", unix_now(), i64::MIN..=i64::MAX) else {
        return invalid_args(s, truncate);
    };
    let rows = lock(&s.web.access);
    let mut order: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].date_first <= before).collect();
    order.sort_by(|&a, &b| rows[b].date_last.cmp(&rows[a].date_last).then(b.cmp(&a)));
    let p = match paginate(req, order.len()) {
        Ok(p) => p,
        Err(code) => return paged_error(s, code, truncate),
    };
    let logins: Vec<serde_json::Value> = order[p.from..p.to]
        .iter()
        .map(|&i| {
            let r = &rows[i];
            let (isp, country, region) = GEO[r.geo];
            let username = s.world.user_names[r.user].1.split('@').next().unwrap_or("").to_string();
            serde_json::json!({
                "user_id": s.world.users[r.user].id,
                "username": username,
                "date_first": r.date_first,
                "date_last": r.date_last,
                "count": r.count,
                "ip": r.ip,
                "user_agent": UAS[r.ua],
                "isp": isp,
                "country": country,
                "region": region,
            })
        })
        .collect();
    drop(rows);
    let mut v = serde_json::json!({"ok": true, "logins": logins, "paging": p.paging});
    if let Some(c) = p.next_cursor {
        v["response_metadata"] = serde_json::json!({ "next_cursor": c });
    }
    finish(ok_json(v), truncate)
}

pub(crate) fn integration_logs(s: &Shared, req: &Request) -> Outcome {
    let (truncate, _) = match front(s, req) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let app_id = req.param("app_id");
    let service_id = req.param("service_id");
    let user = req.param("user");
    let change = req.param("change_type");
    let all = lock(&s.web.integration);
    let matching: Vec<&IntegrationLog> = all
        .iter()
        .map(|(_, l)| l)
        .filter(|l| app_id.is_none_or(|a| l.app_id.as_deref() == Some(a)))
        .filter(|l| service_id.is_none_or(|a| l.service_id.as_deref() == Some(a)))
        .filter(|l| user.is_none_or(|u| l.user_id == u))
        .filter(|l| change.is_none_or(|c| l.change_type == c))
        .collect();
    let p = match paginate(req, matching.len()) {
        Ok(p) => p,
        Err(code) => return paged_error(s, code, truncate),
    };
    let mut v = serde_json::json!({"ok": true, "logs": &matching[p.from..p.to], "paging": p.paging});
    if let Some(c) = p.next_cursor {
        v["response_metadata"] = serde_json::json!({ "next_cursor": c });
    }
    finish(ok_json(v), truncate)
}

pub(crate) fn auth_test(s: &Shared, req: &Request) -> Outcome {
    if let Err(r) = check_auth(s, req) {
        return Outcome::Send(r);
    }
    let w = &s.world;
    Outcome::Send(ok_json(serde_json::json!({
        "ok": true,
        "url": "https://acme-corp.enterprise.slack.com/",
        "team": "Acme Corp",
        "user": "sim-owner",
        "team_id": w.enterprise_id,
        "user_id": w.users[0].id,
        "enterprise_id": w.enterprise_id,
        "is_enterprise_install": true,
    })))
}
