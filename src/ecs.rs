//! `format = ecs`: each entry as an Elastic Common Schema 8.x document.
//!
//! A pure function of the entry (a `serde_json::Value`), its source, the id the collector knows
//! it by and its event time; no I/O. The original entry is kept whole under `slack.audit`,
//! `slack.access` or `slack.integration`, so nothing Slack sent is lost. The field-by-field
//! table is docs/ECS.md. Facts taken from Elastic's Slack integration (its audit ingest
//! pipeline: `user.full_name` from `actor.user.name`, `source.ip` from `context.ip_address`,
//! `user_agent.original` from `context.ua`, `related.user`/`related.ip`, and its per-action
//! categorisation) and from ECS 8.x's allowed values of `event.category`/`event.type`.

use crate::config::Source;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.11.0";

/// Every delivered entry of a batch re-encoded, one JSON document after the other.
#[derive(Debug, Default)]
pub struct Encoded {
    buf: Vec<u8>,
    /// End offset in `buf` of document `i` (it starts where `i - 1` ends).
    ends: Vec<usize>,
}

impl Encoded {
    pub fn with_capacity(docs: usize, bytes: usize) -> Encoded {
        Encoded { buf: Vec::with_capacity(bytes), ends: Vec::with_capacity(docs) }
    }

    /// Appends the ECS document of one entry. An entry that is not valid JSON (Slack never sends
    /// one: pages are parsed before they get here) is wrapped as a string rather than lost.
    pub fn push(&mut self, source: Source, id: &str, time: i64, entry: &[u8]) {
        let original: Value =
            serde_json::from_slice(entry).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(entry).into()));
        let doc = document(source, id, time, original);
        // Serialising a Value into a Vec cannot fail (string keys only).
        let _ = serde_json::to_writer(&mut self.buf, &doc);
        self.ends.push(self.buf.len());
    }

    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// The ECS document of one entry. `id` is Slack's `id` for audit entries and the collector's
/// stable row id for access and integration rows; `time` is the entry's event time in Unix
/// seconds (`date_create`, `date_last`, `date`).
pub fn document(source: Source, id: &str, time: i64, entry: Value) -> Value {
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), Value::String(rfc3339(time)));
    doc.insert("ecs".into(), json!({ "version": ECS_VERSION }));
    match source {
        Source::Audit => audit(&mut doc, id, &entry),
        Source::Access => access(&mut doc, id, &entry),
        Source::Integration => integration(&mut doc, id, &entry),
    }
    doc.insert("slack".into(), json!({ source.name(): entry }));
    Value::Object(doc)
}

/// Unix seconds as RFC 3339 UTC (`2024-01-31T12:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.into(), Value::String(v.into()));
    }
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::String((*s).into())).collect())
}

/// `related.user`/`related.ip` without repeats or empties.
#[derive(Default)]
struct Related {
    users: Vec<String>,
    ips: Vec<String>,
}

impl Related {
    fn user(&mut self, v: Option<&str>) {
        if let Some(v) = v {
            if !self.users.iter().any(|u| u == v) {
                self.users.push(v.into());
            }
        }
    }

    fn into_value(self) -> Option<Value> {
        let mut m = Map::new();
        if !self.users.is_empty() {
            m.insert("user".into(), self.users.into());
        }
        if !self.ips.is_empty() {
            m.insert("ip".into(), self.ips.into());
        }
        (!m.is_empty()).then_some(Value::Object(m))
    }
}

/// `source.ip` only when the text is an IP address (ECS type `ip`); Slack sends `""` when it
/// does not know. `source.address` keeps whatever non-empty text was sent.
fn source_fields(doc: &mut Map<String, Value>, related: &mut Related, ip: Option<&str>, geo: Option<Value>) {
    let mut source = Map::new();
    if let Some(text) = ip {
        source.insert("address".into(), Value::String(text.into()));
        if let Ok(addr) = text.parse::<IpAddr>() {
            let canonical = addr.to_string();
            related.ips.push(canonical.clone());
            source.insert("ip".into(), Value::String(canonical));
        }
    }
    if let Some(g) = geo {
        for (k, v) in g.as_object().into_iter().flatten() {
            source.insert(k.clone(), v.clone());
        }
    }
    if !source.is_empty() {
        doc.insert("source".into(), Value::Object(source));
    }
}

fn event(kind: &str, dataset: &str, id: &str, action: Option<&str>, class: &Class) -> Value {
    let mut e = Map::new();
    e.insert("kind".into(), Value::String(kind.into()));
    e.insert("module".into(), Value::String("slack".into()));
    e.insert("dataset".into(), Value::String(dataset.into()));
    e.insert("provider".into(), Value::String(dataset.trim_start_matches("slack.").into()));
    if !id.is_empty() {
        e.insert("id".into(), Value::String(id.into()));
    }
    put(&mut e, "action", action);
    if !class.category.is_empty() {
        e.insert("category".into(), strings(class.category));
    }
    e.insert("type".into(), strings(class.kind));
    put(&mut e, "outcome", class.outcome);
    Value::Object(e)
}

/// ECS categorisation of one action.
pub struct Class {
    pub category: &'static [&'static str],
    pub kind: &'static [&'static str],
    pub outcome: Option<&'static str>,
}

const fn class(category: &'static [&'static str], kind: &'static [&'static str]) -> Class {
    Class { category, kind, outcome: None }
}

/// Categorises an audit action: Elastic's table for the actions it knows, then rules on the
/// entity type and the verb in the action's name, so actions Slack adds later still get a
/// category. Every value is one ECS 8.x allows for `event.category`/`event.type`.
pub fn classify(action: &str, entity_type: Option<&str>) -> Class {
    let exact = match action {
        "user_login" => {
            Some(Class { category: &["authentication", "session"], kind: &["info", "start"], outcome: Some("success") })
        }
        "user_login_failed" => Some(Class { category: &["authentication"], kind: &["info"], outcome: Some("failure") }),
        "user_logout" | "user_session_invalidated" | "user_session_reset_by_admin" => {
            Some(Class { category: &["authentication", "session"], kind: &["info", "end"], outcome: Some("success") })
        }
        "user_created" | "guest_created" => Some(class(&["iam"], &["creation", "user"])),
        "user_deactivated" => Some(class(&["iam"], &["deletion", "user"])),
        "role_change_to_admin" | "role_change_to_owner" => Some(class(&["iam"], &["change", "user", "admin"])),
        "file_downloaded" => Some(class(&["file"], &["access"])),
        "file_downloaded_blocked" => Some(Class { category: &["file"], kind: &["access"], outcome: Some("failure") }),
        "file_uploaded" => Some(class(&["file"], &["creation"])),
        "file_malicious_content_detected" => Some(class(&["file", "malware"], &["info"])),
        "app_installed" => Some(class(&["package", "configuration"], &["installation", "creation"])),
        "app_uninstalled" => Some(class(&["package", "configuration"], &["deletion"])),
        "user_channel_join" | "user_channel_leave" => Some(class(&["iam"], &["change", "group"])),
        "huddle_started" => Some(class(&["session"], &["start"])),
        "huddle_ended" => Some(class(&["session"], &["end"])),
        "anomaly" => Some(class(&["intrusion_detection"], &["info"])),
        _ => None,
    };
    if let Some(c) = exact {
        return c;
    }
    let verb = verb_of(action);
    match entity_type.unwrap_or("") {
        "user" => class(&["iam"], if verb == "info" { &["info", "user"] } else { user_verb(verb) }),
        // Assigning or removing a role changes a user; it deletes nobody.
        "role" => class(&["iam"], &["change", "user"]),
        "usergroup" => class(&["iam"], if verb == "creation" { &["creation", "group"] } else { group_verb(verb) }),
        "file" => class(&["file"], plain_verb(verb)),
        "huddle" => class(&["session"], &["info"]),
        "workspace" | "enterprise" | "channel" | "app" | "workflow" | "barrier" => {
            class(&["configuration"], plain_verb(verb))
        }
        // Messages and entity types ECS has no category for: a type only.
        _ => class(&[], plain_verb(verb)),
    }
}

/// The ECS `event.type` a verb in an action's name means.
fn verb_of(action: &str) -> &'static str {
    const CREATION: &[&str] = &["_created", "_added", "_uploaded", "_published", "_enrolled", "_started"];
    const DELETION: &[&str] = &["_deleted", "_removed", "_revoked", "_tombstoned", "_uninstalled", "_archive"];
    if CREATION.iter().any(|s| action.ends_with(s)) {
        "creation"
    } else if DELETION.iter().any(|s| action.ends_with(s)) || action.contains("_deleted_") {
        "deletion"
    } else if action.contains("change")
        || action.ends_with("_updated")
        || action.ends_with("_assigned")
        || action.ends_with("_reactivated")
        || action.ends_with("_expanded")
        || action.ends_with("_approved")
        || action.ends_with("_restricted")
        || action.ends_with("_upgraded")
        || action.ends_with("_moved")
        || action.ends_with("_restored")
        || action.ends_with("_shared")
    {
        "change"
    } else {
        "info"
    }
}

fn plain_verb(verb: &str) -> &'static [&'static str] {
    match verb {
        "creation" => &["creation"],
        "deletion" => &["deletion"],
        "change" => &["change"],
        _ => &["info"],
    }
}

fn user_verb(verb: &str) -> &'static [&'static str] {
    match verb {
        "creation" => &["creation", "user"],
        "deletion" => &["deletion", "user"],
        _ => &["change", "user"],
    }
}

fn group_verb(verb: &str) -> &'static [&'static str] {
    match verb {
        "deletion" => &["deletion", "group"],
        "info" => &["info", "group"],
        _ => &["change", "group"],
    }
}

fn audit(doc: &mut Map<String, Value>, id: &str, e: &Value) {
    let action = text(e, &["action"]);
    let entity_type = text(e, &["entity", "type"]);
    let class = classify(action.unwrap_or(""), entity_type);
    let kind = if action == Some("anomaly") { "alert" } else { "event" };
    doc.insert("event".into(), event(kind, "slack.audit", id, action, &class));

    let mut related = Related::default();
    // The actor: Slack's `name` is the display name (Elastic: user.full_name).
    if let Some(actor) = e.pointer("/actor/user") {
        let mut user = Map::new();
        put(&mut user, "id", text(actor, &["id"]));
        put(&mut user, "name", text(actor, &["name"]));
        put(&mut user, "full_name", text(actor, &["name"]));
        put(&mut user, "email", text(actor, &["email"]));
        related.user(text(actor, &["id"]));
        related.user(text(actor, &["email"]));
        // The user acted on: ECS user.target (IAM events).
        if entity_type == Some("user") {
            if let Some(target) = e.pointer("/entity/user") {
                let mut t = Map::new();
                put(&mut t, "id", text(target, &["id"]));
                put(&mut t, "name", text(target, &["name"]));
                put(&mut t, "full_name", text(target, &["name"]));
                put(&mut t, "email", text(target, &["email"]));
                related.user(text(target, &["id"]));
                related.user(text(target, &["email"]));
                if !t.is_empty() {
                    user.insert("target".into(), Value::Object(t));
                }
            }
        }
        if !user.is_empty() {
            doc.insert("user".into(), Value::Object(user));
        }
    }
    if entity_type == Some("file") {
        if let Some(f) = e.pointer("/entity/file") {
            let mut file = Map::new();
            put(&mut file, "name", text(f, &["name"]));
            put(&mut file, "type", Some("file"));
            if let Some(ext) = text(f, &["filetype"]) {
                file.insert("extension".into(), Value::String(ext.into()));
            }
            doc.insert("file".into(), Value::Object(file));
        }
    }
    source_fields(doc, &mut related, text(e, &["context", "ip_address"]), None);
    if let Some(ua) = text(e, &["context", "ua"]) {
        doc.insert("user_agent".into(), json!({ "original": ua }));
    }
    // The workspace or enterprise the action happened in.
    if let Some(loc) = e.pointer("/context/location") {
        let mut org = Map::new();
        put(&mut org, "id", text(loc, &["id"]));
        put(&mut org, "name", text(loc, &["name"]));
        if !org.is_empty() {
            doc.insert("organization".into(), Value::Object(org));
        }
    }
    if let Some(r) = related.into_value() {
        doc.insert("related".into(), r);
    }
}

fn access(doc: &mut Map<String, Value>, id: &str, e: &Value) {
    // A row aggregates a user's logins from one IP and agent between date_first and date_last.
    const CLASS: Class = Class { category: &["authentication", "session"], kind: &["info", "start"], outcome: None };
    let mut ev = event("event", "slack.access", id, Some("user_access"), &CLASS);
    if let (Some(first), Some(m)) = (e.get("date_first").and_then(Value::as_i64), ev.as_object_mut()) {
        m.insert("start".into(), Value::String(rfc3339(first)));
    }
    if let (Some(last), Some(m)) = (e.get("date_last").and_then(Value::as_i64), ev.as_object_mut()) {
        m.insert("end".into(), Value::String(rfc3339(last)));
    }
    doc.insert("event".into(), ev);
    let mut related = Related::default();
    let mut user = Map::new();
    put(&mut user, "id", text(e, &["user_id"]));
    put(&mut user, "name", text(e, &["username"]));
    related.user(text(e, &["user_id"]));
    related.user(text(e, &["username"]));
    if !user.is_empty() {
        doc.insert("user".into(), Value::Object(user));
    }
    let mut geo = Map::new();
    put(&mut geo, "country_iso_code", text(e, &["country"]));
    put(&mut geo, "region_name", text(e, &["region"]));
    let mut extra = Map::new();
    if !geo.is_empty() {
        extra.insert("geo".into(), Value::Object(geo));
    }
    if let Some(isp) = text(e, &["isp"]) {
        extra.insert("as".into(), json!({ "organization": { "name": isp } }));
    }
    source_fields(doc, &mut related, text(e, &["ip"]), Some(Value::Object(extra)));
    if let Some(ua) = text(e, &["user_agent"]) {
        doc.insert("user_agent".into(), json!({ "original": ua }));
    }
    if let Some(r) = related.into_value() {
        doc.insert("related".into(), r);
    }
}

fn integration(doc: &mut Map<String, Value>, id: &str, e: &Value) {
    let change = text(e, &["change_type"]);
    let class = match change.unwrap_or("") {
        "added" => class(&["configuration", "package"], &["installation", "creation"]),
        "removed" => class(&["configuration", "package"], &["deletion"]),
        "enabled" | "disabled" | "expanded" | "updated" => class(&["configuration"], &["change"]),
        _ => class(&["configuration"], &["info"]),
    };
    let action = change.map(|c| format!("integration_{c}"));
    doc.insert("event".into(), event("event", "slack.integration", id, action.as_deref(), &class));
    let mut related = Related::default();
    let mut user = Map::new();
    put(&mut user, "id", text(e, &["user_id"]));
    put(&mut user, "name", text(e, &["user_name"]));
    related.user(text(e, &["user_id"]));
    if !user.is_empty() {
        doc.insert("user".into(), Value::Object(user));
    }
    if let Some(r) = related.into_value() {
        doc.insert("related".into(), r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit_entry() -> Value {
        json!({
            "id": "0123-abcd", "date_create": 1_700_000_000, "action": "user_login",
            "actor": {"type": "user", "user": {"id": "W1", "name": "Ana", "email": "ana@example.com", "team": "T1"}},
            "entity": {"type": "user", "user": {"id": "W1", "name": "Ana", "email": "ana@example.com", "team": "T1"}},
            "context": {"location": {"type": "workspace", "id": "T1", "name": "Acme", "domain": "acme"},
                        "ua": "Slack/4", "ip_address": "2001:db8::0001", "session_id": 123}
        })
    }

    #[test]
    fn audit_entry_maps_to_ecs_and_keeps_the_original() {
        let doc = document(Source::Audit, "0123-abcd", 1_700_000_000, audit_entry());
        assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(doc["event"]["id"], "0123-abcd");
        assert_eq!(doc["event"]["action"], "user_login");
        assert_eq!(doc["event"]["category"], json!(["authentication", "session"]));
        assert_eq!(doc["event"]["type"], json!(["info", "start"]));
        assert_eq!(doc["event"]["outcome"], "success");
        assert_eq!(doc["event"]["dataset"], "slack.audit");
        assert_eq!(doc["user"]["email"], "ana@example.com");
        assert_eq!(doc["user"]["target"]["id"], "W1");
        // Canonical IP text, so the same address always indexes the same way.
        assert_eq!(doc["source"]["ip"], "2001:db8::1");
        assert_eq!(doc["source"]["address"], "2001:db8::0001");
        assert_eq!(doc["organization"], json!({"id": "T1", "name": "Acme"}));
        assert_eq!(doc["related"]["user"], json!(["W1", "ana@example.com"]));
        assert_eq!(doc["slack"]["audit"], audit_entry());
    }

    #[test]
    fn empty_ip_gives_no_source_ip() {
        let mut e = audit_entry();
        e["context"]["ip_address"] = json!("");
        let doc = document(Source::Audit, "x", 1, e);
        assert!(doc.get("source").is_none(), "{doc}");
        assert!(doc["related"].get("ip").is_none());
    }

    #[test]
    fn unknown_actions_are_classified_by_entity_and_verb() {
        let c = classify("channel_renamed_changed", Some("channel"));
        assert_eq!((c.category, c.kind), (&["configuration"][..], &["change"][..]));
        let c = classify("usergroup_created", Some("usergroup"));
        assert_eq!((c.category, c.kind), (&["iam"][..], &["creation", "group"][..]));
        let c = classify("message_tombstoned", Some("message"));
        assert!(c.category.is_empty());
        assert_eq!(c.kind, &["deletion"]);
    }

    #[test]
    fn encoded_batch_returns_each_document() {
        let mut enc = Encoded::default();
        enc.push(Source::Audit, "a", 5, br#"{"id":"a","date_create":5,"action":"user_logout"}"#);
        enc.push(Source::Integration, "b", 6, br#"{"date":"6","change_type":"added","user_id":"U1"}"#);
        assert_eq!(enc.len(), 2);
        let a: Value = serde_json::from_slice(enc.get(0)).unwrap();
        let b: Value = serde_json::from_slice(enc.get(1)).unwrap();
        assert_eq!(a["event"]["action"], "user_logout");
        assert_eq!(b["event"]["action"], "integration_added");
        assert_eq!(b["slack"]["integration"]["user_id"], "U1");
    }
}
