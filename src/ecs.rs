//! `format = ecs`: each entry as an Elastic Common Schema 8.x document.
//!
//! A pure function of the entry's bytes, its source, the id the collector knows it by and its
//! event time; no I/O. The original entry is kept whole, byte for byte, under `slack.audit`,
//! `slack.access` or `slack.integration`, so nothing Slack sent is lost. The field-by-field
//! table is docs/ECS.md. Facts taken from Elastic's Slack integration (its audit ingest
//! pipeline: `user.full_name` from `actor.user.name`, `source.ip` from `context.ip_address`,
//! `user_agent.original` from `context.ua`, `related.user`/`related.ip`, and its per-action
//! categorisation) and from ECS 8.x's allowed values of `event.category`/`event.type`.
//!
//! Speed: only the fields the mapping reads are deserialized, borrowed from the page's bytes
//! (`details` and the rest are skipped unparsed), and the document is written straight from
//! small structs; the original is copied in, not re-encoded.

use crate::config::Source;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
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

/// Buffers of dropped batches, reused: a fresh multi-megabyte buffer per page costs more in
/// page faults than the encoding itself (the raw path recycles page bodies the same way).
static POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
const POOL_MAX: usize = 4;

impl Drop for Encoded {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(buf);
        }
    }
}

impl Encoded {
    pub fn with_capacity(docs: usize, bytes: usize) -> Encoded {
        let mut buf = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        buf.reserve(bytes);
        Encoded { buf, ends: Vec::with_capacity(docs) }
    }

    /// Appends the ECS document of one entry (`entry` is one JSON object, as on Slack's page).
    pub fn push(&mut self, source: Source, id: &str, time: i64, entry: &[u8]) {
        write_document(&mut self.buf, source, id, time, entry);
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

/// The ECS document of one entry as a `serde_json::Value` (for tests and callers holding a
/// parsed entry); the same code as the batch path.
pub fn document(source: Source, id: &str, time: i64, entry: Value) -> Value {
    let bytes = serde_json::to_vec(&entry).unwrap_or_default();
    let mut out = Vec::new();
    write_document(&mut out, source, id, time, &bytes);
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

/// Appends the ECS document of `entry` to `out`. `id` is Slack's `id` for audit entries and
/// the collector's stable row id for access and integration rows; `time` is the entry's event
/// time in Unix seconds (`date_create`, `date_last`, `date`). An entry whose mapped fields have
/// unexpected types still gets `@timestamp`, `event.*` and the original under `slack.*`.
pub fn write_document(out: &mut Vec<u8>, source: Source, id: &str, time: i64, entry: &[u8]) {
    // One UTF-8 check for the whole entry, so serde_json does not validate string by string
    // (entries come from pages that already parsed, so this practically never fails).
    let text = std::str::from_utf8(entry).unwrap_or("{}");
    // Serialising these structs into a Vec cannot fail (string keys only).
    match source {
        Source::Audit => {
            let e: AuditIn = serde_json::from_str(text).unwrap_or_default();
            let _ = serde_json::to_writer(&mut *out, &audit(id, time, &e));
        }
        Source::Access => {
            let e: AccessIn = serde_json::from_str(text).unwrap_or_default();
            let _ = serde_json::to_writer(&mut *out, &access(id, time, &e));
        }
        Source::Integration => {
            let e: IntegrationIn = serde_json::from_str(text).unwrap_or_default();
            let _ = serde_json::to_writer(&mut *out, &integration(id, time, &e));
        }
    }
    // Splice the original in: `…}` becomes `…,"slack":{"<source>":<entry>}}`.
    out.pop();
    out.extend_from_slice(b",\"slack\":{\"");
    out.extend_from_slice(source.name().as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(trim(entry));
    out.extend_from_slice(b"}}");
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    if start < end {
        &b[start..end]
    } else {
        b"null"
    }
}

/// Unix seconds as RFC 3339 UTC (`2024-01-31T12:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

// ---------------------------------------------------------------------------------------------
// What is read from an entry: borrowed strings, every other field skipped.

type Text<'a> = Option<Cow<'a, str>>;

/// A non-empty string field (Slack sends `""` for unknown values).
fn ne<'b>(t: &'b Text<'_>) -> Option<&'b str> {
    t.as_deref().filter(|s| !s.is_empty())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserIn<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    email: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActorIn<'a> {
    #[serde(borrow)]
    user: Option<UserIn<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FileIn<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    filetype: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EntityIn<'a> {
    #[serde(rename = "type", borrow)]
    kind: Text<'a>,
    #[serde(borrow)]
    user: Option<UserIn<'a>>,
    #[serde(borrow)]
    file: Option<FileIn<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LocationIn<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    name: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContextIn<'a> {
    #[serde(borrow)]
    location: Option<LocationIn<'a>>,
    #[serde(borrow)]
    ua: Text<'a>,
    #[serde(borrow)]
    ip_address: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuditIn<'a> {
    #[serde(borrow)]
    action: Text<'a>,
    #[serde(borrow)]
    actor: Option<ActorIn<'a>>,
    #[serde(borrow)]
    entity: Option<EntityIn<'a>>,
    #[serde(borrow)]
    context: Option<ContextIn<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccessIn<'a> {
    #[serde(borrow)]
    user_id: Text<'a>,
    #[serde(borrow)]
    username: Text<'a>,
    date_first: Option<i64>,
    date_last: Option<i64>,
    #[serde(borrow)]
    ip: Text<'a>,
    #[serde(borrow)]
    user_agent: Text<'a>,
    #[serde(borrow)]
    isp: Text<'a>,
    #[serde(borrow)]
    country: Text<'a>,
    #[serde(borrow)]
    region: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IntegrationIn<'a> {
    #[serde(borrow)]
    change_type: Text<'a>,
    #[serde(borrow)]
    user_id: Text<'a>,
    #[serde(borrow)]
    user_name: Text<'a>,
}

// ---------------------------------------------------------------------------------------------
// What is written: the ECS fields, absent when empty.

#[derive(Serialize)]
struct Doc<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    ecs: EcsVersion,
    event: Event<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<FileOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<SourceOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<UserAgent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<Named<'a>>,
    #[serde(skip_serializing_if = "Related::is_empty")]
    related: Related<'a>,
}

#[derive(Serialize)]
struct EcsVersion {
    version: &'static str,
}

#[derive(Serialize)]
struct Event<'a> {
    kind: &'static str,
    module: &'static str,
    dataset: &'static str,
    provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    category: &'static [&'static str],
    #[serde(rename = "type")]
    kind_of: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<String>,
}

impl<'a> Event<'a> {
    fn new(source: Source, id: &'a str, action: Option<Cow<'a, str>>, class: Class) -> Event<'a> {
        let (dataset, provider) = match source {
            Source::Audit => ("slack.audit", "audit"),
            Source::Access => ("slack.access", "access"),
            Source::Integration => ("slack.integration", "integration"),
        };
        Event {
            kind: "event",
            module: "slack",
            dataset,
            provider,
            id: (!id.is_empty()).then_some(id),
            action,
            category: class.category,
            kind_of: class.kind,
            outcome: class.outcome,
            start: None,
            end: None,
        }
    }
}

#[derive(Serialize, Default)]
struct UserOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Box<UserOut<'a>>>,
}

impl<'a> UserOut<'a> {
    /// A Slack user object: `name` is the display name (Elastic: user.full_name).
    fn of(u: &'a UserIn<'_>) -> UserOut<'a> {
        UserOut { id: ne(&u.id), name: ne(&u.name), full_name: ne(&u.name), email: ne(&u.email), target: None }
    }

    fn is_empty(&self) -> bool {
        self.id.is_none() && self.name.is_none() && self.email.is_none() && self.target.is_none()
    }
}

#[derive(Serialize)]
struct FileOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize, Default)]
struct SourceOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geo: Option<Geo<'a>>,
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    autonomous_system: Option<AsOut<'a>>,
}

#[derive(Serialize)]
struct Geo<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    country_iso_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region_name: Option<&'a str>,
}

#[derive(Serialize)]
struct AsOut<'a> {
    organization: NameOnly<'a>,
}

#[derive(Serialize)]
struct NameOnly<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct UserAgent<'a> {
    original: &'a str,
}

#[derive(Serialize)]
struct Named<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// `related.user`/`related.ip` without repeats.
#[derive(Serialize, Default)]
struct Related<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ip: Vec<String>,
}

impl<'a> Related<'a> {
    fn user(&mut self, v: Option<&'a str>) {
        if let Some(v) = v {
            if !self.user.contains(&v) {
                self.user.push(v);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.user.is_empty() && self.ip.is_empty()
    }
}

/// `source.address` keeps any non-empty text; `source.ip` only an IP address (ECS type `ip`),
/// in canonical form so one address always indexes the same way.
fn source_of<'a>(text: Option<&'a str>, related: &mut Related<'a>) -> SourceOut<'a> {
    let mut out = SourceOut { address: text, ..SourceOut::default() };
    if let Some(addr) = text.and_then(|t| t.parse::<IpAddr>().ok()) {
        let canonical = addr.to_string();
        related.ip.push(canonical.clone());
        out.ip = Some(canonical);
    }
    out
}

fn doc<'a>(time: i64, event: Event<'a>) -> Doc<'a> {
    Doc {
        timestamp: rfc3339(time),
        ecs: EcsVersion { version: ECS_VERSION },
        event,
        user: None,
        file: None,
        source: None,
        user_agent: None,
        organization: None,
        related: Related::default(),
    }
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

fn audit<'a>(id: &'a str, time: i64, e: &'a AuditIn<'a>) -> Doc<'a> {
    let action = ne(&e.action);
    let entity = e.entity.as_ref();
    let entity_type = entity.and_then(|x| ne(&x.kind));
    let class = classify(action.unwrap_or(""), entity_type);
    let mut event = Event::new(Source::Audit, id, action.map(Cow::Borrowed), class);
    if action == Some("anomaly") {
        event.kind = "alert";
    }
    let mut d = doc(time, event);
    let mut related = Related::default();
    if let Some(actor) = e.actor.as_ref().and_then(|a| a.user.as_ref()) {
        let mut user = UserOut::of(actor);
        related.user(user.id);
        related.user(user.email);
        // The account acted on: ECS user.target (IAM events).
        if let (Some("user"), Some(target)) = (entity_type, entity.and_then(|x| x.user.as_ref())) {
            let t = UserOut::of(target);
            related.user(t.id);
            related.user(t.email);
            if !t.is_empty() {
                user.target = Some(Box::new(t));
            }
        }
        if !user.is_empty() {
            d.user = Some(user);
        }
    }
    if let (Some("file"), Some(f)) = (entity_type, entity.and_then(|x| x.file.as_ref())) {
        d.file = Some(FileOut { name: ne(&f.name), extension: ne(&f.filetype), kind: "file" });
    }
    if let Some(ctx) = &e.context {
        let source = source_of(ne(&ctx.ip_address), &mut related);
        if source.address.is_some() {
            d.source = Some(source);
        }
        d.user_agent = ne(&ctx.ua).map(|ua| UserAgent { original: ua });
        // The workspace or enterprise the action happened in.
        if let Some(loc) = &ctx.location {
            let org = Named { id: ne(&loc.id), name: ne(&loc.name) };
            if org.id.is_some() || org.name.is_some() {
                d.organization = Some(org);
            }
        }
    }
    d.related = related;
    d
}

fn access<'a>(id: &'a str, time: i64, e: &'a AccessIn<'a>) -> Doc<'a> {
    // A row aggregates a user's logins from one IP and agent between date_first and date_last.
    const CLASS: Class = Class { category: &["authentication", "session"], kind: &["info", "start"], outcome: None };
    let mut event = Event::new(Source::Access, id, Some(Cow::Borrowed("user_access")), CLASS);
    event.start = e.date_first.map(rfc3339);
    event.end = e.date_last.map(rfc3339);
    let mut d = doc(time, event);
    let mut related = Related::default();
    let user = UserOut { id: ne(&e.user_id), name: ne(&e.username), ..UserOut::default() };
    related.user(user.id);
    related.user(user.name);
    if !user.is_empty() {
        d.user = Some(user);
    }
    let mut source = source_of(ne(&e.ip), &mut related);
    if ne(&e.country).is_some() || ne(&e.region).is_some() {
        source.geo = Some(Geo { country_iso_code: ne(&e.country), region_name: ne(&e.region) });
    }
    source.autonomous_system = ne(&e.isp).map(|name| AsOut { organization: NameOnly { name } });
    if source.address.is_some() || source.geo.is_some() || source.autonomous_system.is_some() {
        d.source = Some(source);
    }
    d.user_agent = ne(&e.user_agent).map(|ua| UserAgent { original: ua });
    d.related = related;
    d
}

fn integration<'a>(id: &'a str, time: i64, e: &'a IntegrationIn<'a>) -> Doc<'a> {
    let change = ne(&e.change_type);
    let class = match change.unwrap_or("") {
        "added" => class(&["configuration", "package"], &["installation", "creation"]),
        "removed" => class(&["configuration", "package"], &["deletion"]),
        "enabled" | "disabled" | "expanded" | "updated" => class(&["configuration"], &["change"]),
        _ => class(&["configuration"], &["info"]),
    };
    let action = change.map(|c| Cow::Owned(format!("integration_{c}")));
    let mut d = doc(time, Event::new(Source::Integration, id, action, class));
    let user = UserOut { id: ne(&e.user_id), name: ne(&e.user_name), ..UserOut::default() };
    d.related.user(user.id);
    if !user.is_empty() {
        d.user = Some(user);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
