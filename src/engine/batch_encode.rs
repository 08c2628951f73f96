//! How a collected batch becomes bytes for a host: the one place that decides it, used by the
//! C ABI (`slack_audit_batch_msgpack`, `slack_audit_batch_ndjson`) and by `slack-audit run`.
//!
//! What is encoded is [`Batch::event`]: Slack's entry as sent (`format = raw`) or its ECS
//! document (`format = ecs`), with its event time. `src/format/encode.rs` holds the byte-level
//! encoders; this module holds the per-batch decisions: one line per entry, the Fluent Bit
//! record's EventTime, the `source` tag when a collector reads several sources, and what to do
//! with an entry msgpack cannot hold.

use crate::engine::collector::Batch;
use crate::format::encode;
/// Why a document could not be encoded as msgpack (its byte offset and what was wrong).
pub use crate::format::encode::EncodeError;
use crate::error::Error;

/// Key of the Fluent Bit record metadata that names the source, when it is tagged.
const SOURCE_KEY: &str = "source";

/// Whether Fluent Bit records carry their source in the record metadata: only when one
/// collector reads several sources (a single-source collector's records stay `[time, {entry}]`).
pub fn tags_source(source_count: usize) -> bool {
    source_count > 1
}

/// Whether each NDJSON line of `batch` is its entry's bytes as they are (`batch.event(i).0`)
/// followed by one `\n`: Slack's bytes (`format = raw`) from a checked page without a raw
/// line break. A host may then write the lines straight from the page (`run` does, with writev).
pub fn ndjson_as_is(batch: &Batch) -> bool {
    batch.formatted.is_none() && !batch.page.body.may_hold_line_breaks()
}

/// Makes the page's own bytes hold the batch's NDJSON lines when they are its entries as they
/// are ([`ndjson_as_is`]): the separator after each delivered entry becomes its `\n`
/// ([`crate::transport::jsonscan::Body::end_lines_at`]). Then line `i` is
/// `batch.page.body[ndjson_line_span(batch, i)]`, and the lines of entries that follow each
/// other in the page are contiguous: a host writes them without copying. False: nothing was
/// changed (use [`ndjson_event`]). Entries' bytes never change, so [`ndjson_event`] and
/// [`Batch::event`] still give the same bytes afterwards.
pub fn ndjson_in_place(batch: &mut Batch) -> bool {
    if !ndjson_as_is(batch) {
        return false;
    }
    let page = &mut batch.page;
    let entries = &page.entries;
    page.body.end_lines_at(batch.deliver.iter().map(|&k| entries[k as usize].end))
}

/// Where delivered entry `i`'s NDJSON line lies in the page's bytes, once [`ndjson_in_place`]
/// returned true.
pub fn ndjson_line_span(batch: &Batch, i: usize) -> std::ops::Range<usize> {
    let e = &batch.page.entries[batch.deliver[i] as usize];
    e.start..e.end + 1
}

/// Appends delivered entry `i` of `batch` as one NDJSON line.
pub fn ndjson_event(out: &mut Vec<u8>, batch: &Batch, i: usize) {
    let json = batch.event(i).0;
    if ndjson_as_is(batch) {
        // Slack's bytes from a checked page without a raw line break: one line as they are.
        encode::ndjson_line_as_is(out, json);
    } else {
        encode::ndjson_line(out, json);
    }
}

/// The whole batch as NDJSON: every delivered entry on its own line, in batch order.
pub fn ndjson(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity(batch));
    for i in 0..batch.len() {
        ndjson_event(&mut out, batch, i);
    }
    out
}

/// Appends delivered entry `i` of `batch` as one Fluent Bit record (see [`fluent_bit_entry`]).
pub fn fluent_bit_event(out: &mut Vec<u8>, batch: &Batch, i: usize, tag_source: bool) -> Result<(), EncodeError> {
    let (json, time) = batch.event(i);
    fluent_bit_entry(out, json, time, tag_source.then(|| batch.source.name()))
}

/// The whole batch as concatenated Fluent Bit records, in batch order. An error names the
/// entry (its index in the batch); nothing but a broken fallback can cause one.
pub fn fluent_bit(batch: &Batch, tag_source: bool) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(capacity(batch));
    for i in 0..batch.len() {
        fluent_bit_event(&mut out, batch, i, tag_source).map_err(|e| Error::output(format!("entry {i}: {e}")))?;
    }
    Ok(out)
}

/// Appends one Fluent Bit record: `[EventTime, {entry}]`, or `[[EventTime, {"source": …}],
/// {entry}]` with a `source`. `time` (Unix seconds) is clamped to EventTime's u32 range.
///
/// JSON that msgpack cannot hold as is (nesting deeper than 128 levels, which Slack's
/// free-form `details` may reach) is handed over as its JSON text instead, in
/// `{"slack_audit_raw_json": "…", "slack_audit_encode_error": "…"}`: failing the whole batch
/// would stall the stream on that entry forever.
pub fn fluent_bit_entry(out: &mut Vec<u8>, json: &[u8], time: i64, source: Option<&str>) -> Result<(), EncodeError> {
    let secs = time.clamp(0, u32::MAX as i64) as u32;
    let tag = source.map(|s| [(SOURCE_KEY, s)]);
    let meta: &[(&str, &str)] = tag.as_ref().map_or(&[], |t| t);
    encode::fluent_bit_record(out, secs, 0, meta, json).or_else(|e| {
        let body = serde_json::json!({
            "slack_audit_raw_json": String::from_utf8_lossy(json),
            "slack_audit_encode_error": e.to_string(),
        })
        .to_string();
        encode::fluent_bit_record(out, secs, 0, meta, body.as_bytes())
    })
}

/// A first guess at the encoded size: the page's bytes plus some framing per entry.
fn capacity(batch: &Batch) -> usize {
    batch.page.body.len() + batch.len() * 16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record's bytes up to the body: fixarray 2, [fixarray 2,] EventTime (d7 00 secs nanos).
    fn event_time(secs: u32) -> Vec<u8> {
        let mut v = vec![0xd7, 0x00];
        v.extend_from_slice(&secs.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v
    }

    #[test]
    fn a_record_without_source_is_time_then_entry() {
        let mut out = Vec::new();
        fluent_bit_entry(&mut out, br#"{"a":1}"#, 1_700_000_000, None).unwrap();
        let mut want = vec![0x92];
        want.extend(event_time(1_700_000_000));
        want.extend([0x81, 0xa1, b'a', 0x01]);
        assert_eq!(out, want);
    }

    #[test]
    fn a_tagged_record_carries_its_source_in_the_metadata() {
        let mut out = Vec::new();
        fluent_bit_entry(&mut out, br#"{"a":1}"#, 5, Some("access")).unwrap();
        let mut want = vec![0x92, 0x92];
        want.extend(event_time(5));
        want.extend([0x81, 0xa6]);
        want.extend(b"source");
        want.push(0xa6);
        want.extend(b"access");
        want.extend([0x81, 0xa1, b'a', 0x01]);
        assert_eq!(out, want);
    }

    #[test]
    fn times_outside_event_time_are_clamped() {
        for (time, secs) in [(-5, 0), (i64::MAX, u32::MAX)] {
            let mut out = Vec::new();
            fluent_bit_entry(&mut out, b"{}", time, None).unwrap();
            assert_eq!(&out[1..11], &event_time(secs)[..], "time {time}");
        }
    }

    /// An entry too deep for msgpack arrives as its JSON text plus the reason, in one record.
    #[test]
    fn an_entry_too_deep_for_msgpack_is_handed_over_as_text() {
        let deep = format!(r#"{{"id":"x","details":{}{}}}"#, "[".repeat(300), "]".repeat(300));
        let mut out = Vec::new();
        fluent_bit_entry(&mut out, deep.as_bytes(), 7, Some("audit")).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("slack_audit_raw_json"), "{text}");
        assert!(text.contains("slack_audit_encode_error"), "{text}");
        assert!(text.contains(&"[".repeat(300)), "the entry's text is kept whole");
        assert!(text.contains("source") && text.contains("audit"), "the tag is kept");
    }

    /// A body that is not an object (Fluent Bit needs a map) goes the same way, appended after
    /// what the buffer already held.
    #[test]
    fn an_entry_that_is_not_an_object_is_handed_over_as_text() {
        let mut out = vec![1, 2];
        fluent_bit_entry(&mut out, b"[1]", 0, None).unwrap();
        assert_eq!(&out[..3], &[1, 2, 0x92], "the buffer's bytes are kept, one record follows");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("slack_audit_raw_json") && text.contains("expected a JSON object"), "{text}");
    }

    #[test]
    fn several_sources_are_tagged_one_is_not() {
        assert!(!tags_source(1));
        assert!(tags_source(2));
        assert!(tags_source(3));
    }
}
