//! The ECS writer (a one-pass scanner over the entry's bytes and a direct JSON writer, built
//! for speed) against a plain reference mapping written on `serde_json::Value`, so a shortcut
//! in the fast path cannot change a document unnoticed. Compared on every entry of every
//! action category the simulator produces (audit, access and integration rows), and on
//! hand-made entries with escapes, nulls, wrong types and odd spacing.

mod common;

use common::*;
use serde_json::{json, Map, Value};
use slack_audit::config::Source;
use slack_audit::format::ecs::{classify, document, rfc3339, ECS_VERSION};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

/// A non-empty string at `path` (Slack sends "" for unknown values).
fn s<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Whether every mapped member has a type the mapping reads (string or null; object or null;
/// integer or null). Otherwise nothing is mapped but `@timestamp`, `event.*` and `slack.*`.
fn readable(v: &Value, strings: &[&str], objects: &[&str], ints: &[&str]) -> bool {
    v.is_object()
        && strings.iter().all(|p| matches!(v.pointer(p), None | Some(Value::Null | Value::String(_))))
        && objects.iter().all(|p| matches!(v.pointer(p), None | Some(Value::Null | Value::Object(_))))
        && ints.iter().all(|p| matches!(v.pointer(p), None | Some(Value::Null)) || v.pointer(p).unwrap().is_i64())
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<&str>) {
    if let Some(v) = v {
        m.insert(k.into(), v.into());
    }
}

fn obj(m: Map<String, Value>) -> Option<Value> {
    (!m.is_empty()).then_some(Value::Object(m))
}

fn push_unique(list: &mut Vec<Value>, v: Option<&str>) {
    if let Some(v) = v {
        if !list.iter().any(|x| x == v) {
            list.push(v.into());
        }
    }
}

fn canonical_ip(text: Option<&str>) -> Option<String> {
    text.and_then(|t| t.parse::<IpAddr>().ok()).map(|a| a.to_string())
}

fn slack_user(v: &Value, at: &str, full_name: bool) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "id", s(v, &format!("{at}/id")));
    put(&mut m, "name", s(v, &format!("{at}/name")));
    if full_name {
        put(&mut m, "full_name", s(v, &format!("{at}/name")));
    }
    put(&mut m, "email", s(v, &format!("{at}/email")));
    m
}

/// The mapping of docs/ECS.md, written the obvious way.
fn reference(source: Source, id: &str, time: i64, entry: &Value) -> Value {
    let (dataset, provider) = match source {
        Source::Audit => ("slack.audit", "audit"),
        Source::Access => ("slack.access", "access"),
        Source::Integration => ("slack.integration", "integration"),
    };
    let mut event = json!({"kind": "event", "module": "slack", "dataset": dataset, "provider": provider});
    if !id.is_empty() {
        event["id"] = id.into();
    }
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), rfc3339(time).into());
    doc.insert("ecs".into(), json!({"version": ECS_VERSION}));
    let (mut users, mut ips) = (Vec::new(), Vec::new());
    let empty = Value::Null;
    let class = match source {
        Source::Audit => {
            let ok = readable(
                entry,
                &[
                    "/action",
                    "/actor/user/id",
                    "/actor/user/name",
                    "/actor/user/email",
                    "/entity/type",
                    "/entity/user/id",
                    "/entity/user/name",
                    "/entity/user/email",
                    "/entity/file/name",
                    "/entity/file/filetype",
                    "/context/ua",
                    "/context/ip_address",
                    "/context/location/id",
                    "/context/location/name",
                ],
                &["/actor", "/actor/user", "/entity", "/entity/user", "/entity/file", "/context", "/context/location"],
                &[],
            );
            let e = if ok { entry } else { &empty };
            let action = s(e, "/action");
            let entity_type = s(e, "/entity/type");
            if let Some(a) = action {
                event["action"] = a.into();
                if a == "anomaly" {
                    event["kind"] = "alert".into();
                }
            }
            if e.pointer("/actor/user").is_some_and(Value::is_object) {
                let mut user = slack_user(e, "/actor/user", true);
                push_unique(&mut users, s(e, "/actor/user/id"));
                push_unique(&mut users, s(e, "/actor/user/email"));
                if entity_type == Some("user") && e.pointer("/entity/user").is_some_and(Value::is_object) {
                    push_unique(&mut users, s(e, "/entity/user/id"));
                    push_unique(&mut users, s(e, "/entity/user/email"));
                    if let Some(t) = obj(slack_user(e, "/entity/user", true)) {
                        user.insert("target".into(), t);
                    }
                }
                if let Some(u) = obj(user) {
                    doc.insert("user".into(), u);
                }
            }
            if entity_type == Some("file") && e.pointer("/entity/file").is_some_and(Value::is_object) {
                let mut f = Map::new();
                put(&mut f, "name", s(e, "/entity/file/name"));
                put(&mut f, "extension", s(e, "/entity/file/filetype"));
                f.insert("type".into(), "file".into());
                doc.insert("file".into(), f.into());
            }
            if e.get("context").is_some_and(Value::is_object) {
                if let Some(addr) = s(e, "/context/ip_address") {
                    let mut src = json!({"address": addr});
                    if let Some(ip) = canonical_ip(Some(addr)) {
                        src["ip"] = ip.clone().into();
                        ips.push(Value::from(ip));
                    }
                    doc.insert("source".into(), src);
                }
                if let Some(ua) = s(e, "/context/ua") {
                    doc.insert("user_agent".into(), json!({"original": ua}));
                }
                if e.pointer("/context/location").is_some_and(Value::is_object) {
                    let mut org = Map::new();
                    put(&mut org, "id", s(e, "/context/location/id"));
                    put(&mut org, "name", s(e, "/context/location/name"));
                    if let Some(o) = obj(org) {
                        doc.insert("organization".into(), o);
                    }
                }
            }
            classify(action.unwrap_or(""), entity_type)
        }
        Source::Access => {
            let ok = readable(
                entry,
                &["/user_id", "/username", "/ip", "/user_agent", "/isp", "/country", "/region"],
                &[],
                &["/date_first", "/date_last"],
            );
            let e = if ok { entry } else { &empty };
            event["action"] = "user_access".into();
            let mut user = Map::new();
            put(&mut user, "id", s(e, "/user_id"));
            put(&mut user, "name", s(e, "/username"));
            push_unique(&mut users, s(e, "/user_id"));
            push_unique(&mut users, s(e, "/username"));
            if let Some(u) = obj(user) {
                doc.insert("user".into(), u);
            }
            let mut src = Map::new();
            put(&mut src, "address", s(e, "/ip"));
            if let Some(ip) = canonical_ip(s(e, "/ip")) {
                src.insert("ip".into(), ip.clone().into());
                ips.push(ip.into());
            }
            let mut geo = Map::new();
            put(&mut geo, "country_iso_code", s(e, "/country"));
            put(&mut geo, "region_name", s(e, "/region"));
            if let Some(g) = obj(geo) {
                src.insert("geo".into(), g);
            }
            if let Some(isp) = s(e, "/isp") {
                src.insert("as".into(), json!({"organization": {"name": isp}}));
            }
            if let Some(x) = obj(src) {
                doc.insert("source".into(), x);
            }
            if let Some(ua) = s(e, "/user_agent") {
                doc.insert("user_agent".into(), json!({"original": ua}));
            }
            for (k, p) in [("start", "/date_first"), ("end", "/date_last")] {
                if let Some(t) = e.pointer(p).and_then(Value::as_i64) {
                    event[k] = rfc3339(t).into();
                }
            }
            slack_audit::format::ecs::Class {
                category: &["authentication", "session"],
                kind: &["info", "start"],
                outcome: None,
            }
        }
        Source::Integration => {
            let ok = readable(entry, &["/change_type", "/user_id", "/user_name"], &[], &[]);
            let e = if ok { entry } else { &empty };
            let change = s(e, "/change_type");
            if let Some(c) = change {
                event["action"] = format!("integration_{c}").into();
            }
            let mut user = Map::new();
            put(&mut user, "id", s(e, "/user_id"));
            put(&mut user, "name", s(e, "/user_name"));
            push_unique(&mut users, s(e, "/user_id"));
            if let Some(u) = obj(user) {
                doc.insert("user".into(), u);
            }
            let (category, kind): (&[&str], &[&str]) = match change.unwrap_or("") {
                "added" => (&["configuration", "package"], &["installation", "creation"]),
                "removed" => (&["configuration", "package"], &["deletion"]),
                "enabled" | "disabled" | "expanded" | "updated" => (&["configuration"], &["change"]),
                _ => (&["configuration"], &["info"]),
            };
            slack_audit::format::ecs::Class { category, kind, outcome: None }
        }
    };
    if !class.category.is_empty() {
        event["category"] = json!(class.category);
    }
    event["type"] = json!(class.kind);
    if let Some(o) = class.outcome {
        event["outcome"] = o.into();
    }
    doc.insert("event".into(), event);
    let mut related = Map::new();
    if !users.is_empty() {
        related.insert("user".into(), users.into());
    }
    if !ips.is_empty() {
        related.insert("ip".into(), ips.into());
    }
    if let Some(r) = obj(related) {
        doc.insert("related".into(), r);
    }
    doc.insert("slack".into(), json!({ source.name(): entry }));
    Value::Object(doc)
}

#[test]
fn fast_writer_equals_the_reference_mapping_on_every_simulated_entry() {
    let sim = sim(4000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &sim,
        dir.path(),
        &[
            ("sources", "audit,access,integration"),
            ("format", "ecs"),
            ("limit", "1000"),
            ("max_calls_per_minute", "1000"),
        ],
    );
    let d = drain_raw(cfg, None, Duration::from_secs(120));
    assert!(d.error.is_none(), "{:?}", d.error);
    let mut seen = BTreeSet::new();
    let mut escaped = 0;
    for (source, doc, time) in &d.entries {
        let entry = &doc["slack"][source.name()];
        // Access and integration rows are known by the collector's row id, not the entry's.
        let id = doc["event"]["id"].as_str().unwrap_or("");
        let want = reference(*source, id, *time, entry);
        assert_eq!(doc, &want, "{source:?} entry {entry}");
        // Through the library function too (the same writer, fed serde_json's re-encoding).
        assert_eq!(document(source.ecs(), id, *time, entry.clone()), want);
        let class = match source {
            Source::Audit => doc["event"]["category"].to_string() + &doc["event"]["type"].to_string(),
            _ => source.name().to_string(),
        };
        seen.insert(class);
        escaped += entry.to_string().contains('\\') as usize;
    }
    // Audit categories of every kind the simulator makes, and rows of both Web API logs.
    assert!(seen.len() >= 12, "only {} categories: {seen:?}", seen.len());
    assert!(seen.contains("access") && seen.contains("integration"), "{seen:?}");
    assert!(escaped > 0, "no entry with an escaped string was compared");
}

#[test]
fn fast_writer_equals_the_reference_mapping_on_odd_entries() {
    let base = json!({
        "id": "e1", "date_create": 1_700_000_000, "action": "user_login",
        "actor": {"type": "user", "user": {"id": "W1", "name": "Ana", "email": "ana@example.com"}},
        "entity": {"type": "user", "user": {"id": "W2", "name": "Bo", "email": "bo@example.com"}},
        "context": {"location": {"type": "workspace", "id": "T1", "name": "Acme"}, "ua": "UA/1",
                    "ip_address": "10.0.0.1"},
        "details": {"nested": [1, {"a": "}\"]"}, [[]]], "x": null, "t": true}
    });
    let mut cases = vec![base.clone()];
    let edits: Vec<(&str, Value)> = vec![
        ("/actor/user/name", json!("Tomás \"Doc\" Brown\\ \n\t\u{1}\u{7f} /")),
        ("/action", json!("file_downloaded\u{2028}")),
        ("/context/ip_address", json!("2001:DB8:0:0::0001")),
        ("/context/ip_address", json!("not an ip")),
        ("/context/ip_address", json!("")),
        ("/context/ip_address", json!(null)),
        ("/context/ip_address", json!(17)),
        ("/actor/user", json!(null)),
        ("/actor/user", json!("W1")),
        ("/actor", json!("W1")),
        ("/entity/type", json!("file")),
        ("/context/location", json!({"id": "", "name": ""})),
        ("/context", json!(null)),
        ("/action", json!("anomaly")),
        ("/action", json!(["x"])),
        ("/action", json!("")),
    ];
    for (path, v) in edits {
        let mut e = base.clone();
        *e.pointer_mut(path).unwrap() = v;
        cases.push(e);
    }
    let mut file = base.clone();
    file["entity"] = json!({"type": "file", "file": {"id": "F1", "name": "a\"b.pdf", "filetype": "pdf"}});
    cases.push(file);
    cases.push(json!({}));
    for entry in &cases {
        let got = document(Source::Audit.ecs(), "e1", 1_700_000_000, entry.clone());
        assert_eq!(got, reference(Source::Audit, "e1", 1_700_000_000, entry), "{entry}");
    }
    // Hand-written text: spacing, an escape in a key, a repeated member (serde refuses the
    // entry: nothing is mapped), braces and quotes inside skipped strings.
    let texts = [
        (" {\n \"action\" : \"user_logout\" ,\n\t\"actor\":{ \"user\" : {\"id\":\"W1\" } } }\n", true),
        (r#"{"act\u0069on":"user_logout","actor":{"user":{"id":"W1"}}}"#, true),
        (r#"{"action":"user_logout","action":"user_login"}"#, false),
        (r#"{"action":"user_logout","x":{"action":"user_login"},"y":["\\",{"z":"\"}"}]}"#, true),
    ];
    for (text, mapped) in texts {
        let mut out = Vec::new();
        slack_audit::format::ecs::write_document(&mut out, Source::Audit.ecs(), "e1", 5, text.as_bytes());
        let got: Value =
            serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        let parsed: Value = serde_json::from_str(text).unwrap();
        let mut want = reference(Source::Audit, "e1", 5, if mapped { &parsed } else { &Value::Null });
        want["slack"]["audit"] = parsed;
        assert_eq!(got, want, "{text}");
    }
    for entry in [
        json!({"user_id": "U1", "username": "ana", "date_first": 1, "date_last": 2, "ip": "::ffff:10.0.0.1",
               "user_agent": "x\"y", "isp": "ISP", "country": "DE", "region": ""}),
        json!({"user_id": "U1", "date_first": 1.5}),
        json!({"user_id": "U1", "date_first": -3, "country": "FR"}),
    ] {
        let got = document(Source::Access.ecs(), "r1", 9, entry.clone());
        assert_eq!(got, reference(Source::Access, "r1", 9, &entry), "{entry}");
    }
    for entry in [json!({"change_type": "ad\"ded", "user_id": "U1"}), json!({"change_type": "added", "user_name": 5})] {
        let got = document(Source::Integration.ecs(), "r1", 9, entry.clone());
        assert_eq!(got, reference(Source::Integration, "r1", 9, &entry), "{entry}");
    }
}
