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
//! Speed: an audit entry is read in one pass over its bytes that picks the mapped members
//! (strings borrowed unless escaped) and skips the rest undecoded; anything unusual goes to
//! serde_json's typed reader instead, which decides the same way. The document is written
//! straight into the batch buffer, without allocating; the original is copied in, not
//! re-encoded. tests/ecs_reference.rs holds it to a plain `serde_json::Value` mapping.

use crate::transport::jsonscan::{self, string_end, ws};
use crate::base::source_id::Source;
use serde::Deserialize;
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
    pub fn push(&mut self, mapping: Mapping, id: &str, time: i64, entry: &[u8]) {
        write_document(&mut self.buf, mapping, id, time, entry);
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
#[cfg(any(test, feature = "internals"))]
pub fn document(mapping: Mapping, id: &str, time: i64, entry: serde_json::Value) -> serde_json::Value {
    let bytes = serde_json::to_vec(&entry).unwrap_or_default();
    let mut out = Vec::new();
    write_document(&mut out, mapping, id, time, &bytes);
    serde_json::from_slice(&out).unwrap_or_default()
}

/// Appends the ECS document of `entry` to `out`, by its source's `mapping`. `id` is Slack's
/// `id` for audit entries and the collector's stable row id for access and integration rows;
/// `time` is the entry's event time in Unix seconds (`date_create`, `date_last`, `date`). An
/// entry whose mapped fields have unexpected types still gets `@timestamp`, `event.*` and the
/// original under `slack.*`.
///
/// The document is written straight into `out`, in a fixed field order (an allocation only for
/// an escaped string or an entry the fast reader declines):
/// strings that had no escape in the entry are copied as they are (they hold nothing JSON
/// must escape), the others go through serde_json's escaper.
pub fn write_document(out: &mut Vec<u8>, mapping: Mapping, id: &str, time: i64, entry: &[u8]) {
    // One UTF-8 check for the whole entry, so serde_json does not validate string by string
    // (entries come from pages that already parsed, so this practically never fails).
    let text = std::str::from_utf8(entry).unwrap_or("{}");
    (mapping.fields)(out, Str::scan(id), time, text);
    // The original, byte for byte: `…` becomes `…,"slack":{"<source>":<entry>}}`.
    out.extend_from_slice(b",\"slack\":{\"");
    out.extend_from_slice(mapping.source.name().as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(trim(entry));
    out.extend_from_slice(b"}}");
}

/// One source's mapping to ECS: the writer of the fields between a document's head and the
/// original entry. Each source names its own ([`crate::source::SourceKind::ecs`]), so this file
/// holds no list of sources to dispatch on: it holds the writer's parts (`write_head`,
/// `UserOut`, `Related`, `write_source`, ...) and the audit mapping; a source's folder holds any
/// other (src/source/access/ecs.rs, src/source/integration/ecs.rs).
#[derive(Clone, Copy)]
pub struct Mapping {
    source: Source,
    fields: fn(&mut Vec<u8>, Str<'_>, i64, &str),
}

impl Mapping {
    /// The mapping of `source`'s entries: `fields` writes the fields after the head, given the
    /// id, the event time and the entry's text.
    pub(crate) const fn new(source: Source, fields: fn(&mut Vec<u8>, Str<'_>, i64, &str)) -> Mapping {
        Mapping { source, fields }
    }

    /// The source whose entries this maps (the `slack.<source>` key holding the original).
    pub fn source(&self) -> Source {
        self.source
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ecs::Mapping({})", self.source.name())
    }
}

/// Audit entries: the fast reader, or serde_json's typed reader for an entry it declines.
pub const AUDIT: Mapping = Mapping {
    source: Source::Audit,
    fields: |out, id, time, text| {
        let e = scan_audit(text).unwrap_or_else(|| serde_json::from_str(text).unwrap_or_default());
        audit(out, id, time, &e)
    },
};

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
    // RFC 3339 (and Elasticsearch's `date`) stop at year 9999; humantime's Display fails past it,
    // and `to_string` would panic. A date_create that far out is garbage: clamp it, never panic.
    let secs = secs.clamp(0, LAST_RFC3339_SECOND);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const LAST_RFC3339_SECOND: i64 = 253_402_300_799;

/// Writes `"<rfc3339(secs)>"` without allocating (years 1970 to 9999; later ones go through
/// [`rfc3339`], which clamps them).
#[inline]
fn put_time(out: &mut Vec<u8>, secs: i64) {
    let secs = secs.max(0);
    if secs > LAST_RFC3339_SECOND {
        out.push(b'"');
        out.extend_from_slice(rfc3339(secs).as_bytes());
        out.push(b'"');
        return;
    }
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let d = |v: i64| b'0' + v as u8;
    out.extend_from_slice(&[
        b'"',
        d(year / 1000),
        d(year / 100 % 10),
        d(year / 10 % 10),
        d(year % 10),
        b'-',
        d(month / 10),
        d(month % 10),
        b'-',
        d(day / 10),
        d(day % 10),
        b'T',
        d(h / 10),
        d(h % 10),
        b':',
        d(m / 10),
        d(m % 10),
        b':',
        d(s / 10),
        d(s % 10),
        b'Z',
        b'"',
    ]);
}

// ---------------------------------------------------------------------------------------------
// What is read from an entry: borrowed strings, every other field skipped.

/// A string field (or null), borrowed from the entry unless it holds escapes. (serde's own
/// `Option<Cow<str>>` always copies: its `Cow` impl borrows only as a direct field.)
#[derive(Default)]
pub(crate) struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or null")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_none<E>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_unit<E>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Text<'de>, D::Error> {
                d.deserialize_str(V)
            }
        }
        d.deserialize_option(V)
    }
}

/// A string to write. `plain`: nothing in it needs escaping. A string serde_json borrowed from
/// the entry is plain: it had no escape sequence, and JSON text cannot hold a raw `"`, `\` or
/// control character inside a string.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Str<'a> {
    pub(crate) text: &'a str,
    pub(crate) plain: bool,
}

impl<'a> Str<'a> {
    fn scan(text: &'a str) -> Str<'a> {
        Str { text, plain: !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') }
    }
}

impl PartialEq for Str<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A non-empty string field (Slack sends `""` for unknown values).
pub(crate) fn ne<'b>(t: &'b Text<'_>) -> Option<Str<'b>> {
    match &t.0 {
        Some(Cow::Borrowed(s)) if !s.is_empty() => Some(Str { text: s, plain: true }),
        Some(Cow::Owned(s)) if !s.is_empty() => Some(Str { text: s, plain: false }),
        _ => None,
    }
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

// ---------------------------------------------------------------------------------------------
// The fast reader of audit entries: one pass over the entry's bytes that picks the mapped
// members and skips the rest without decoding them. It handles the common shape only and
// gives up (`None`) on anything else: a mapped member that is null, of another type or
// repeated, a key with an escape, nesting deeper than serde_json allows. The serde reader
// above then decides, so both give the same result. The entry is valid JSON (it comes from a
// page the scanner checked).

// The lexical primitives are the crate's one JSON scanner's, in their locating strength (the
// entry was checked when its page was read): `string_end` finds `"` or `\` 16 bytes at a time,
// `skip_value` counts brackets.

/// serde_json's recursion limit is 128: a value nesting deeper is left to it.
const MAX_SKIP_DEPTH: usize = 100;

/// The position just after the JSON value starting at `b[p]` (`None`: too deep, or not there).
#[inline]
fn skip_value(b: &[u8], p: usize) -> Option<usize> {
    jsonscan::skip_value(b, p, MAX_SKIP_DEPTH)
}

/// Walks the object at `b[p]`, calling `member(key, position of the value)` for each member;
/// `member` returns the position just after the value. Returns the position after `}`.
fn object(b: &[u8], p: usize, mut member: impl FnMut(&[u8], usize) -> Option<usize>) -> Option<usize> {
    let mut p = ws(b, p);
    if b.get(p) != Some(&b'{') {
        return None;
    }
    p = ws(b, p + 1);
    if b.get(p) == Some(&b'}') {
        return Some(p + 1);
    }
    loop {
        if b.get(p) != Some(&b'"') {
            return None;
        }
        let (end, escaped) = string_end(b, p)?;
        if escaped {
            return None;
        }
        let key = &b[p + 1..end];
        p = ws(b, end + 1);
        if b.get(p) != Some(&b':') {
            return None;
        }
        p = ws(b, member(key, ws(b, p + 1))?);
        match b.get(p) {
            Some(b',') => p = ws(b, p + 1),
            Some(b'}') => return Some(p + 1),
            _ => return None,
        }
    }
}

/// A string member, borrowed unless it has escapes (then decoded by serde_json).
fn text<'a>(t: &'a str, p: usize, slot: &mut Text<'a>) -> Option<usize> {
    let b = t.as_bytes();
    if slot.0.is_some() || b.get(p) != Some(&b'"') {
        return None;
    }
    let (end, escaped) = string_end(b, p)?;
    slot.0 = Some(if escaped {
        Cow::Owned(serde_json::from_str(t.get(p..end + 1)?).ok()?)
    } else {
        Cow::Borrowed(t.get(p + 1..end)?)
    });
    Some(end + 1)
}

/// An object member read by `read` into a fresh `T`.
fn nested<T: Default>(
    t: &str,
    p: usize,
    slot: &mut Option<T>,
    mut read: impl FnMut(&mut T, &[u8], usize) -> Option<usize>,
) -> Option<usize> {
    if slot.is_some() {
        return None;
    }
    let mut v = T::default();
    let end = object(t.as_bytes(), p, |k, p| read(&mut v, k, p))?;
    *slot = Some(v);
    Some(end)
}

fn scan_user<'a>(t: &'a str, p: usize, slot: &mut Option<UserIn<'a>>) -> Option<usize> {
    nested(t, p, slot, |u, k, p| match k {
        b"id" => text(t, p, &mut u.id),
        b"name" => text(t, p, &mut u.name),
        b"email" => text(t, p, &mut u.email),
        _ => skip_value(t.as_bytes(), p),
    })
}

/// The fields of an audit entry the mapping reads; `None`: let serde decide.
fn scan_audit(t: &str) -> Option<AuditIn<'_>> {
    let b = t.as_bytes();
    let mut e = AuditIn::default();
    let end = object(b, 0, |k, p| match k {
        b"action" => text(t, p, &mut e.action),
        b"actor" => nested(t, p, &mut e.actor, |a: &mut ActorIn, k, p| match k {
            b"user" => scan_user(t, p, &mut a.user),
            _ => skip_value(b, p),
        }),
        b"entity" => nested(t, p, &mut e.entity, |x: &mut EntityIn, k, p| match k {
            b"type" => text(t, p, &mut x.kind),
            b"user" => scan_user(t, p, &mut x.user),
            b"file" => nested(t, p, &mut x.file, |f: &mut FileIn, k, p| match k {
                b"name" => text(t, p, &mut f.name),
                b"filetype" => text(t, p, &mut f.filetype),
                _ => skip_value(b, p),
            }),
            _ => skip_value(b, p),
        }),
        b"context" => nested(t, p, &mut e.context, |c: &mut ContextIn, k, p| match k {
            b"location" => nested(t, p, &mut c.location, |l: &mut LocationIn, k, p| match k {
                b"id" => text(t, p, &mut l.id),
                b"name" => text(t, p, &mut l.name),
                _ => skip_value(b, p),
            }),
            b"ua" => text(t, p, &mut c.ua),
            b"ip_address" => text(t, p, &mut c.ip_address),
            _ => skip_value(b, p),
        }),
        _ => skip_value(b, p),
    })?;
    // serde_json refuses trailing characters.
    (ws(b, end) == b.len()).then_some(e)
}

// ---------------------------------------------------------------------------------------------
// What is written: the ECS fields, absent when empty, in a fixed order.

#[inline]
fn put_str(out: &mut Vec<u8>, s: Str<'_>) {
    if s.plain {
        out.push(b'"');
        out.extend_from_slice(s.text.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s.text);
    }
}

/// The members of one JSON object being written, each preceded by a comma but the first.
pub(crate) struct Obj<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut Vec<u8>) -> Obj<'o> {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Writes `"key":` and hands back the buffer for the value.
    #[inline]
    pub(crate) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !std::mem::replace(&mut self.empty, false) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    #[inline]
    fn str(&mut self, key: &str, v: Option<Str<'_>>) {
        if let Some(v) = v {
            put_str(self.key(key), v);
        }
    }

    /// A constant: none of them needs escaping.
    #[inline]
    fn lit(&mut self, key: &str, v: &str) {
        put_str(self.key(key), Str { text: v, plain: true });
    }

    fn lits(&mut self, key: &str, items: &[&str]) {
        let out = self.key(key);
        out.push(b'[');
        for (i, v) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            put_str(out, Str { text: v, plain: true });
        }
        out.push(b']');
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

#[derive(Default, Clone, Copy)]
pub(crate) struct UserOut<'a> {
    pub(crate) id: Option<Str<'a>>,
    pub(crate) name: Option<Str<'a>>,
    /// Slack user objects (actor, target) also give `full_name` (= `name`); rows do not.
    pub(crate) full_name: bool,
    pub(crate) email: Option<Str<'a>>,
}

impl<'a> UserOut<'a> {
    /// A Slack user object: `name` is the display name (Elastic: user.full_name).
    fn of(u: &'a UserIn<'_>) -> UserOut<'a> {
        UserOut { id: ne(&u.id), name: ne(&u.name), full_name: true, email: ne(&u.email) }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.id.is_none() && self.name.is_none() && self.email.is_none()
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>, target: Option<&UserOut<'_>>) {
        let mut o = Obj::open(out);
        o.str("id", self.id);
        o.str("name", self.name);
        if self.full_name {
            o.str("full_name", self.name);
        }
        o.str("email", self.email);
        if let Some(t) = target {
            t.write(o.key("target"), None);
        }
        o.close();
    }
}

/// `related.user` without repeats (at most four: actor and target id and e-mail) and
/// `related.ip` (at most one: `source.ip`).
#[derive(Default)]
pub(crate) struct Related<'a> {
    user: [Option<Str<'a>>; 4],
    users: usize,
}

impl<'a> Related<'a> {
    pub(crate) fn user(&mut self, v: Option<Str<'a>>) {
        if let Some(v) = v {
            if self.users < self.user.len() && !self.user[..self.users].contains(&Some(v)) {
                self.user[self.users] = Some(v);
                self.users += 1;
            }
        }
    }

    pub(crate) fn write(&self, o: &mut Obj<'_>, ip: Option<&Ip>) {
        if self.users == 0 && ip.is_none() {
            return;
        }
        let mut r = Obj::open(o.key("related"));
        if self.users > 0 {
            let out = r.key("user");
            out.push(b'[');
            for (i, u) in self.user[..self.users].iter().flatten().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put_str(out, *u);
            }
            out.push(b']');
        }
        if let Some(ip) = ip {
            let out = r.key("ip");
            out.push(b'[');
            put_str(out, ip.str());
            out.push(b']');
        }
        r.close();
    }
}

/// An IP address in canonical text, on the stack.
pub(crate) struct Ip {
    buf: [u8; 48],
    len: usize,
}

impl Ip {
    /// `source.ip` keeps only an IP address (ECS type `ip`), in canonical form so one address
    /// always indexes the same way.
    pub(crate) fn parse(text: Option<Str<'_>>) -> Option<Ip> {
        let addr = text?.text.parse::<IpAddr>().ok()?;
        let mut ip = Ip { buf: [0; 48], len: 0 };
        match addr {
            // What Ipv4Addr's Display writes, without the formatting machinery.
            IpAddr::V4(a) => {
                for (i, octet) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        ip.push(b'.');
                    }
                    if octet >= 100 {
                        ip.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        ip.push(b'0' + octet / 10 % 10);
                    }
                    ip.push(b'0' + octet % 10);
                }
            }
            IpAddr::V6(a) => {
                use std::io::Write;
                let mut cursor = std::io::Cursor::new(&mut ip.buf[..]);
                // At most 45 bytes ("ffff:…:255.255.255.255"): it fits.
                let _ = write!(cursor, "{a}");
                ip.len = cursor.position() as usize;
            }
        }
        Some(ip)
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn str(&self) -> Str<'_> {
        // Only digits, hex digits, '.' and ':' were written.
        Str { text: std::str::from_utf8(&self.buf[..self.len]).unwrap_or(""), plain: true }
    }
}

/// `source.address` keeps any non-empty text, `source.ip` the canonical address; `geo` and
/// `as` come from access rows. Absent when all are.
pub(crate) fn write_source(
    o: &mut Obj<'_>,
    address: Option<Str<'_>>,
    ip: Option<&Ip>,
    geo: [Option<Str<'_>>; 2],
    isp: Option<Str<'_>>,
) {
    let has_geo = geo.iter().any(Option::is_some);
    if address.is_none() && !has_geo && isp.is_none() {
        return;
    }
    let mut s = Obj::open(o.key("source"));
    s.str("address", address);
    if let Some(ip) = ip {
        put_str(s.key("ip"), ip.str());
    }
    if has_geo {
        let mut g = Obj::open(s.key("geo"));
        g.str("country_iso_code", geo[0]);
        g.str("region_name", geo[1]);
        g.close();
    }
    if let Some(name) = isp {
        let mut a = Obj::open(s.key("as"));
        let mut org = Obj::open(a.key("organization"));
        org.str("name", Some(name));
        org.close();
        a.close();
    }
    s.close();
}

pub(crate) fn write_user_agent(o: &mut Obj<'_>, ua: Option<Str<'_>>) {
    if let Some(ua) = ua {
        let mut u = Obj::open(o.key("user_agent"));
        u.str("original", Some(ua));
        u.close();
    }
}

pub(crate) enum Action<'a> {
    None,
    Is(Str<'a>),
    /// A prefix, then a string of the entry (`integration_` + the change type).
    Prefixed(&'static str, Str<'a>),
}

/// What `event` holds besides the constants.
pub(crate) struct Event<'a> {
    pub(crate) source: Source,
    pub(crate) kind: &'static str,
    pub(crate) id: Str<'a>,
    pub(crate) action: Action<'a>,
    pub(crate) class: Class,
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
}

/// Opens the document and writes `@timestamp`, `ecs` and `event`.
pub(crate) fn write_head<'o>(out: &'o mut Vec<u8>, time: i64, ev: &Event<'_>) -> Obj<'o> {
    let (dataset, provider) = (ev.source.ecs_dataset(), ev.source.name());
    let mut d = Obj::open(out);
    put_time(d.key("@timestamp"), time);
    let mut ecs = Obj::open(d.key("ecs"));
    ecs.lit("version", ECS_VERSION);
    ecs.close();
    let mut e = Obj::open(d.key("event"));
    e.lit("kind", ev.kind);
    e.lit("module", "slack");
    e.lit("dataset", dataset);
    e.lit("provider", provider);
    if !ev.id.text.is_empty() {
        put_str(e.key("id"), ev.id);
    }
    match ev.action {
        Action::None => {}
        Action::Is(a) => put_str(e.key("action"), a),
        Action::Prefixed(prefix, c) if c.plain => {
            let out = e.key("action");
            out.push(b'"');
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(c.text.as_bytes());
            out.push(b'"');
        }
        Action::Prefixed(prefix, c) => {
            let _ = serde_json::to_writer(&mut *e.key("action"), &format!("{prefix}{}", c.text));
        }
    }
    if !ev.class.category.is_empty() {
        e.lits("category", ev.class.category);
    }
    e.lits("type", ev.class.kind);
    if let Some(outcome) = ev.class.outcome {
        e.lit("outcome", outcome);
    }
    if let Some(t) = ev.start {
        put_time(e.key("start"), t);
    }
    if let Some(t) = ev.end {
        put_time(e.key("end"), t);
    }
    e.close();
    d
}

/// ECS categorisation of one action.
pub struct Class {
    pub category: &'static [&'static str],
    pub kind: &'static [&'static str],
    pub outcome: Option<&'static str>,
}

pub(crate) const fn class(category: &'static [&'static str], kind: &'static [&'static str]) -> Class {
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

// The audit mapping (the access and integration ones are in their sources' folders). It leaves
// the document open: [`write_document`] appends `slack.*`.

fn audit(out: &mut Vec<u8>, id: Str<'_>, time: i64, e: &AuditIn<'_>) {
    let action = ne(&e.action);
    let entity = e.entity.as_ref();
    let entity_type = entity.and_then(|x| ne(&x.kind)).map(|s| s.text);
    let class = classify(action.map_or("", |a| a.text), entity_type);
    let kind = if action.is_some_and(|a| a.text == "anomaly") { "alert" } else { "event" };
    let action = action.map_or(Action::None, Action::Is);
    let mut d =
        write_head(out, time, &Event { source: Source::Audit, kind, id, action, class, start: None, end: None });
    let mut related = Related::default();
    if let Some(actor) = e.actor.as_ref().and_then(|a| a.user.as_ref()) {
        let user = UserOut::of(actor);
        related.user(user.id);
        related.user(user.email);
        // The account acted on: ECS user.target (IAM events).
        let mut target = None;
        if let (Some("user"), Some(t)) = (entity_type, entity.and_then(|x| x.user.as_ref())) {
            let t = UserOut::of(t);
            related.user(t.id);
            related.user(t.email);
            target = (!t.is_empty()).then_some(t);
        }
        if !user.is_empty() || target.is_some() {
            user.write(d.key("user"), target.as_ref());
        }
    }
    if let (Some("file"), Some(f)) = (entity_type, entity.and_then(|x| x.file.as_ref())) {
        let mut o = Obj::open(d.key("file"));
        o.str("name", ne(&f.name));
        o.str("extension", ne(&f.filetype));
        o.lit("type", "file");
        o.close();
    }
    let mut ip = None;
    if let Some(ctx) = &e.context {
        let address = ne(&ctx.ip_address);
        ip = Ip::parse(address);
        write_source(&mut d, address, ip.as_ref(), [None, None], None);
        write_user_agent(&mut d, ne(&ctx.ua));
        // The workspace or enterprise the action happened in.
        if let Some(loc) = &ctx.location {
            let (id, name) = (ne(&loc.id), ne(&loc.name));
            if id.is_some() || name.is_some() {
                let mut o = Obj::open(d.key("organization"));
                o.str("id", id);
                o.str("name", name);
                o.close();
            }
        }
    }
    related.write(&mut d, ip.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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
        let doc = document(AUDIT, "0123-abcd", 1_700_000_000, audit_entry());
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
        let doc = document(AUDIT, "x", 1, e);
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
        enc.push(AUDIT, "a", 5, br#"{"id":"a","date_create":5,"action":"user_logout"}"#);
        enc.push(crate::source::integration::ecs::INTEGRATION, "b", 6,
 br#"{"date":"6","change_type":"added","user_id":"U1"}"#);
        assert_eq!(enc.len(), 2);
        let a: Value = serde_json::from_slice(enc.get(0)).unwrap();
        let b: Value = serde_json::from_slice(enc.get(1)).unwrap();
        assert_eq!(a["event"]["action"], "user_logout");
        assert_eq!(b["event"]["action"], "integration_added");
        assert_eq!(b["slack"]["integration"]["user_id"], "U1");
    }

    #[test]
    fn timestamps_match_humantime() {
        let mut secs = vec![-5, 0, 1, 59, 86_399, 86_400, 951_782_400, 951_868_799, 4_107_542_400, 253_402_300_799];
        secs.extend((0..20_000).map(|i| i * 12_670_019 + i % 86_400));
        for s in secs {
            let mut out = Vec::new();
            put_time(&mut out, s);
            assert_eq!(out, format!("\"{}\"", rfc3339(s)).into_bytes(), "{s}");
        }
    }

    /// The fast reader takes the common shape and hands anything else to serde; where it
    /// takes an entry, the document equals the one serde's reading gives.
    #[test]
    fn fast_reader_agrees_with_serde_or_declines() {
        let doc_of = |e: &AuditIn| {
            let mut out = Vec::new();
            audit(&mut out, Str::scan("x"), 7, e);
            out
        };
        let entry = audit_entry().to_string();
        let cases: Vec<(String, bool)> = vec![
            (entry.clone(), true),
            (serde_json::to_string_pretty(&audit_entry()).unwrap(), true),
            (r#"{"action":"a\"b\u00e1\n","actor":{"user":{"name":"\\"}}}"#.into(), true),
            (r#"{"details":{"a":[{"b":"}]\""}],"c":-1.5e3,"d":[true,null]},"action":"x"}"#.into(), true),
            ("{}".into(), true),
            // Declined: serde decides (a repeated member, null, another type, an escaped key,
            // trailing bytes, nesting deeper than serde_json reads).
            (r#"{"action":"a","action":"b"}"#.into(), false),
            (r#"{"action":null}"#.into(), false),
            (r#"{"actor":{"user":null}}"#.into(), false),
            (r#"{"actor":[]}"#.into(), false),
            (r#"{"action":5}"#.into(), false),
            (r#"{"\u0061ction":"a"}"#.into(), false),
            (r#"{"action":"a"} x"#.into(), false),
            (format!(r#"{{"action":"a","details":{}{}}}"#, "[".repeat(200), "]".repeat(200)), false),
        ];
        for (text, fast) in cases {
            let scanned = scan_audit(&text);
            assert_eq!(scanned.is_some(), fast, "{text}");
            if let Some(e) = scanned {
                let serde: AuditIn = serde_json::from_str(&text).unwrap();
                assert_eq!(doc_of(&e), doc_of(&serde), "{text}");
            }
        }
    }

    #[test]
    fn dates_past_year_9999_are_clamped_not_a_panic() {
        for s in [253_402_300_800, 300_000_000_000, i64::MAX] {
            assert_eq!(rfc3339(s), "9999-12-31T23:59:59Z", "{s}");
            let mut out = Vec::new();
            put_time(&mut out, s);
            assert_eq!(out, b"\"9999-12-31T23:59:59Z\"".to_vec(), "{s}");
        }
    }
}
