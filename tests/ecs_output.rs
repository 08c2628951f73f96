//! `format = ecs`: every front end hands over ECS 8.x documents, checked the way Elasticsearch
//! would index them: every field path outside `slack.*` has a declared ECS type and every value
//! fits it (keyword: string; date: RFC 3339; ip: an IP address), `event.category`/`event.type`
//! use ECS's allowed values, and the original entry is kept under `slack.<source>`.

mod common;

use common::*;
use serde_json::Value;
use slack_audit::config::Source;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

/// The ECS fields the mapping relies on, with their ECS types.
const FIELDS: &[(&str, &str)] = &[
    ("@timestamp", "date"),
    ("ecs.version", "keyword"),
    ("event.kind", "keyword"),
    ("event.category", "keyword"),
    ("event.type", "keyword"),
    ("event.action", "keyword"),
    ("event.outcome", "keyword"),
    ("event.module", "keyword"),
    ("event.dataset", "keyword"),
    ("event.provider", "keyword"),
    ("event.id", "keyword"),
    ("event.start", "date"),
    ("event.end", "date"),
    ("user.id", "keyword"),
    ("user.name", "keyword"),
    ("user.full_name", "keyword"),
    ("user.email", "keyword"),
    ("user.target.id", "keyword"),
    ("user.target.name", "keyword"),
    ("user.target.full_name", "keyword"),
    ("user.target.email", "keyword"),
    ("source.ip", "ip"),
    ("source.address", "keyword"),
    ("source.geo.country_iso_code", "keyword"),
    ("source.geo.region_name", "keyword"),
    ("source.as.organization.name", "keyword"),
    ("user_agent.original", "keyword"),
    ("organization.id", "keyword"),
    ("organization.name", "keyword"),
    ("related.user", "keyword"),
    ("related.ip", "ip"),
    ("file.name", "keyword"),
    ("file.type", "keyword"),
    ("file.extension", "keyword"),
];

/// ECS 8.x `event.category` values and the `event.type` values each expects.
const CATEGORIES: &[(&str, &[&str])] = &[
    ("authentication", &["start", "end", "info"]),
    ("configuration", &["access", "change", "creation", "deletion", "info"]),
    ("file", &["access", "change", "creation", "deletion", "info"]),
    ("iam", &["admin", "change", "creation", "deletion", "group", "info", "user"]),
    ("intrusion_detection", &["allowed", "denied", "info"]),
    ("malware", &["allowed", "deletion", "denied", "info"]),
    ("package", &["access", "change", "deletion", "info", "installation", "start"]),
    ("session", &["start", "end", "info"]),
];
const TYPES: &[&str] = &[
    "access",
    "admin",
    "allowed",
    "change",
    "connection",
    "creation",
    "deletion",
    "denied",
    "end",
    "error",
    "group",
    "info",
    "installation",
    "protocol",
    "start",
    "user",
];

fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(&path, child, out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

fn check_type(path: &str, ty: &str, v: &Value) -> Result<(), String> {
    let values: Vec<&Value> = match v {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::Array(_) => return Err(format!("{path}: empty array")),
        _ => vec![v],
    };
    for item in values {
        let s = item.as_str().ok_or_else(|| format!("{path}: {ty} field holds non-string {item}"))?;
        if s.is_empty() {
            return Err(format!("{path}: empty string"));
        }
        match ty {
            "date" => {
                humantime::parse_rfc3339(s).map_err(|e| format!("{path}: {s:?} is not RFC 3339: {e}"))?;
            }
            "ip" => {
                s.parse::<IpAddr>().map_err(|_| format!("{path}: {s:?} is not an IP address"))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Validates one document; returns what was wrong.
fn validate(doc: &Value, source: Source, time: i64) -> Result<(), String> {
    let types: HashMap<&str, &str> = FIELDS.iter().copied().collect();
    let mut all = Vec::new();
    leaves("", doc, &mut all);
    for (path, value) in &all {
        if path.starts_with("slack.") {
            continue;
        }
        let ty = types.get(path.as_str()).ok_or_else(|| format!("{path} is not a declared ECS field"))?;
        check_type(path, ty, value)?;
    }
    let ts = humantime::parse_rfc3339(doc["@timestamp"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
    let secs = ts.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    if secs != time {
        return Err(format!("@timestamp {secs} is not the event time {time}"));
    }
    let ev = &doc["event"];
    let dataset = format!("slack.{}", source.name());
    if ev["module"] != "slack" || ev["dataset"] != dataset.as_str() {
        return Err(format!("event.module/dataset: {ev}"));
    }
    if !matches!(ev["kind"].as_str(), Some("event" | "alert")) {
        return Err(format!("event.kind {}", ev["kind"]));
    }
    if let Some(o) = ev.get("outcome") {
        if !matches!(o.as_str(), Some("success" | "failure" | "unknown")) {
            return Err(format!("event.outcome {o}"));
        }
    }
    let list = |k: &str| -> Vec<String> {
        ev.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(|x| x.as_str().map(String::from)).collect()
    };
    let (cats, tys) = (list("category"), list("type"));
    if tys.is_empty() {
        return Err("event.type missing".into());
    }
    for t in &tys {
        if !TYPES.contains(&t.as_str()) {
            return Err(format!("event.type {t} is not an ECS value"));
        }
        if !cats.is_empty()
            && !cats.iter().any(|c| CATEGORIES.iter().any(|(name, allowed)| name == c && allowed.contains(&t.as_str())))
        {
            return Err(format!("event.type {t} fits none of the categories {cats:?}"));
        }
    }
    for c in &cats {
        if !CATEGORIES.iter().any(|(name, _)| name == c) {
            return Err(format!("event.category {c} is not an ECS value"));
        }
    }
    if doc["slack"].get(source.name()).is_none() {
        return Err(format!("no slack.{}", source.name()));
    }
    Ok(())
}

fn drained(sim: &slack_audit_sim::Sim, format: &str) -> Raw {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        sim,
        dir.path(),
        &[
            ("sources", "audit,access,integration"),
            ("format", format),
            ("limit", "1000"),
            ("max_calls_per_minute", "1000"),
        ],
    );
    let d = drain_raw(cfg, None, Duration::from_secs(120));
    assert!(d.error.is_none(), "{:?}", d.error);
    d
}

#[test]
fn every_source_and_action_validates_as_ecs_and_keeps_the_original() {
    let sim = sim(4000, 0, |_| {});
    let raw = drained(&sim, "raw");
    let ecs = drained(&sim, "ecs");
    assert_eq!(raw.entries.len(), ecs.entries.len());
    let mut actions = BTreeSet::new();
    let (mut v6, mut no_ip, mut targets) = (0, 0, 0);
    for ((rs, rv, rt), (es, doc, et)) in raw.entries.iter().zip(&ecs.entries) {
        assert_eq!((rs, rt), (es, et));
        if let Err(e) = validate(doc, *es, *et) {
            panic!("{e}\n{doc:#}");
        }
        assert_eq!(&doc["slack"][es.name()], rv, "the original entry must be kept unchanged");
        match es {
            Source::Audit => {
                assert_eq!(doc["event"]["id"], rv["id"]);
                actions.insert(doc["event"]["action"].as_str().unwrap().to_string());
                assert_eq!(doc["user"]["id"], rv["actor"]["user"]["id"]);
                match doc.pointer("/source/ip").and_then(Value::as_str) {
                    Some(ip) => v6 += ip.contains(':') as usize,
                    None => {
                        assert_eq!(rv["context"]["ip_address"], "", "source.ip missing for {rv}");
                        no_ip += 1;
                    }
                }
                targets += doc.pointer("/user/target/id").is_some() as usize;
            }
            Source::Access => {
                assert_eq!(
                    doc["source"]["ip"].as_str().unwrap().parse::<IpAddr>().unwrap(),
                    rv["ip"].as_str().unwrap().parse::<IpAddr>().unwrap()
                );
                assert_eq!(doc["user"]["id"], rv["user_id"]);
            }
            Source::Integration => assert_eq!(doc["user"]["id"], rv["user_id"]),
        }
    }
    // Every action the simulator knows (its /actions catalog) was seen and validated.
    let catalog: Value = serde_json::from_str(
        &ureq::get(&format!("{}/actions", sim.audit_url())).call().unwrap().into_body().read_to_string().unwrap(),
    )
    .unwrap();
    let known: BTreeSet<String> = catalog["actions"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| v.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .collect();
    let missing: Vec<_> = known.difference(&actions).collect();
    assert!(missing.is_empty(), "actions never produced: {missing:?}");
    assert!(v6 > 0 && no_ip > 0 && targets > 0, "v6 {v6}, no ip {no_ip}, user targets {targets}");
    assert!(!ecs.of(Source::Access).is_empty() && !ecs.of(Source::Integration).is_empty());
}

/// The CLI writes one ECS document per line; raw stays Slack's bytes.
#[test]
fn cli_prints_ecs_lines_with_format_ecs() {
    let sim = sim(200, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["run", "--once", "--lag", "0", "--format", "ecs", "--api-url", &sim.audit_url()])
        .arg("--state-dir")
        .arg(dir.path())
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 200);
    for l in lines {
        let doc: Value = serde_json::from_str(l).unwrap();
        let t = doc["slack"]["audit"]["date_create"].as_i64().unwrap();
        validate(&doc, Source::Audit, t).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["validate", "--format", "elastic"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("raw or ecs"));
}

/// The C ABI's JSON and NDJSON views and the Fluent Bit msgpack records carry the same ECS
/// documents.
#[test]
fn c_abi_batches_hand_over_ecs_documents() {
    use slack_audit::ffi::*;
    use std::ffi::CString;
    let sim = sim(300, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "token": TOKEN, "api_url": sim.audit_url(), "state_dir": dir.path(), "lag": 0, "format": "ecs",
    })
    .to_string();
    let cfg = CString::new(cfg).unwrap();
    let mut err = [0 as std::os::raw::c_char; 512];
    let mut h: *mut SlackAudit = std::ptr::null_mut();
    let st = slack_audit_new(cfg.as_ptr(), &mut h, err.as_mut_ptr(), err.len());
    assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_OK);
    let mut seen = 0;
    let t0 = std::time::Instant::now();
    while seen < 300 {
        assert!(t0.elapsed() < Duration::from_secs(60), "only {seen} events");
        let mut b: *mut SlackAuditBatch = std::ptr::null_mut();
        let st = slack_audit_collect(h, 500, &mut b, err.as_mut_ptr(), err.len());
        assert!(matches!(st, SlackAuditStatus::SLACK_AUDIT_OK | SlackAuditStatus::SLACK_AUDIT_INTERRUPTED), "{st:?}");
        if b.is_null() {
            continue;
        }
        let n = slack_audit_batch_len(b);
        let (mut data, mut len) = (std::ptr::null(), 0usize);
        assert_eq!(
            slack_audit_batch_ndjson(b, &mut data, &mut len, err.as_mut_ptr(), err.len()),
            SlackAuditStatus::SLACK_AUDIT_OK
        );
        let ndjson = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
        let docs: Vec<Value> = ndjson
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(docs.len(), n);
        for d in &docs {
            validate(d, Source::Audit, d["slack"]["audit"]["date_create"].as_i64().unwrap()).unwrap();
        }
        assert_eq!(
            slack_audit_batch_msgpack(b, &mut data, &mut len, err.as_mut_ptr(), err.len()),
            SlackAuditStatus::SLACK_AUDIT_OK
        );
        let mp = unsafe { std::slice::from_raw_parts(data, len) };
        // Each record's body is the document: one `@timestamp` key and one `slack` key holding a
        // one-entry map `{audit: …}` per record (msgpack fixstr/fixmap headers).
        assert_eq!(count(mp, b"\xaa@timestamp"), n);
        assert_eq!(count(mp, b"\xa5slack\x81\xa5audit"), n);
        assert_eq!(slack_audit_ack(h, b, err.as_mut_ptr(), err.len()), SlackAuditStatus::SLACK_AUDIT_OK);
        slack_audit_batch_free(b);
        seen += n;
    }
    slack_audit_shutdown(h);
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}
