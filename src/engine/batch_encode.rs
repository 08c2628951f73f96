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
use crate::source::slack::{EntryRef, Page};
use crate::transport::bodypool::Pooled;
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

/// The whole batch as [`fluent_bit`] encodes it, written over the page's own buffer instead of
/// a second one of about the same size: afterwards the page is gone (`batch.page` is empty, the
/// ECS documents too), and the buffer returned goes back to the page's pool when dropped, where
/// the collector's next read takes it.
///
/// A record is shorter than the JSON it comes from, apart from floats and its 11-byte header, so
/// each is written (from a one-record scratch buffer) over bytes already read: the page's head
/// and the entries before it. A record that would reach the next delivered entry's bytes, and
/// every one after it, goes to a separate buffer appended at the end instead (a copy, only for
/// such a page). With `format = ecs` the page's bytes are not read at all and are simply
/// overwritten. An error names the entry, as [`fluent_bit`]; the buffer is given back then.
pub fn fluent_bit_over_page(batch: &mut Batch, tag_source: bool) -> Result<Pooled, Error> {
    let pool = batch.page.recycle.take();
    let mut buf = std::mem::take(&mut batch.page.body).into_vec();
    let source = tag_source.then(|| batch.source.name());
    let done = match batch.formatted.take() {
        Some(docs) => {
            buf.clear();
            batch.deliver.iter().enumerate().try_for_each(|(i, &k)| {
                let time = batch.page.entries[k as usize].time;
                fluent_bit_entry(&mut buf, docs.get(i), time, source).map_err(|e| (i, e))
            })
        }
        None => records_over_entries(&mut buf, &batch.page.entries, &batch.deliver, source).map(|_| ()),
    };
    batch.page = Page::empty();
    let out = Pooled::new(buf, pool);
    done.map_err(|(i, e)| Error::output(format!("entry {i}: {e}")))?;
    Ok(out)
}

/// Replaces `buf` (a page's bytes) with the records of its entries `deliver` (in page order),
/// each written once its own bytes are read and before the next delivered entry's bytes. Returns
/// how many records went to the separate buffer.
fn records_over_entries(
    buf: &mut Vec<u8>,
    entries: &[EntryRef],
    deliver: &[u32],
    source: Option<&str>,
) -> Result<usize, (usize, EncodeError)> {
    let span = |k: u32| (entries[k as usize].start, entries[k as usize].end);
    // Page order is what makes "before the next entry" mean "before every later one".
    let mut spilling = !deliver.windows(2).all(|w| span(w[0]).1 <= span(w[1]).0);
    let (mut record, mut spilled) = (Vec::new(), Vec::new());
    let (mut w, mut n_spilled) = (0, 0);
    for (i, &k) in deliver.iter().enumerate() {
        let (start, end) = span(k);
        record.clear();
        fluent_bit_entry(&mut record, &buf[start..end], entries[k as usize].time, source).map_err(|e| (i, e))?;
        let next = deliver.get(i + 1).map(|&n| span(n).0);
        if !spilling && w + record.len() <= next.unwrap_or(buf.len()) {
            buf[w..w + record.len()].copy_from_slice(&record);
            w += record.len();
        } else if !spilling && next.is_none() {
            // The last entry: nothing is left to read, the buffer may grow.
            buf.truncate(w);
            buf.extend_from_slice(&record);
            w = buf.len();
        } else {
            spilling = true;
            spilled.extend_from_slice(&record);
            n_spilled += 1;
        }
    }
    buf.truncate(w);
    buf.extend_from_slice(&spilled);
    Ok(n_spilled)
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

    /// A batch of `entries` (JSON objects with an id and a date_create) delivering `deliver`.
    fn batch_of(entries: &[String], deliver: Vec<u32>) -> Batch {
        let body = format!(r#"{{"entries":[{}],"response_metadata":{{"next_cursor":""}}}}"#, entries.join(","));
        let page = crate::source::audit::wire::parse_audit_page(body.into_bytes()).unwrap();
        Batch {
            id: 1,
            stream: 0,
            source: crate::base::source_id::Source::Audit,
            page,
            deliver,
            snapshot: Default::default(),
            caught_up: false,
            formatted: None,
        }
    }

    fn entry(i: usize, extra: &str) -> String {
        format!(r#"{{"id":"e{i}","date_create":{},"action":"user_login","actor":{{"type":"user"}}{extra}}}"#, 1_700_000_000 + i)
    }

    /// Over the page or in a buffer of its own, the same bytes; the page is gone afterwards.
    fn same_as_a_buffer_of_its_own(mut batch: Batch, tag_source: bool) -> Vec<u8> {
        let want = fluent_bit(&batch, tag_source).unwrap();
        let got = fluent_bit_over_page(&mut batch, tag_source).unwrap();
        assert_eq!(&got[..], &want[..]);
        assert_eq!(batch.page.body.len(), 0, "the page is gone");
        assert!(batch.page.entries.is_empty());
        assert_eq!(batch.len(), batch.deliver.len(), "the batch still counts its events");
        got.to_vec()
    }

    #[test]
    fn records_over_the_page_are_the_records() {
        let entries: Vec<String> = (0..50).map(|i| entry(i, r#","details":{"k":"a\u00e9b","n":[1,2,3]}"#)).collect();
        for tag in [false, true] {
            same_as_a_buffer_of_its_own(batch_of(&entries, (0..50).collect()), tag);
            same_as_a_buffer_of_its_own(batch_of(&entries, (0..50).filter(|i| i % 3 != 1).collect()), tag);
            same_as_a_buffer_of_its_own(batch_of(&entries, vec![]), tag);
        }
    }

    /// Floats grow (3 bytes of JSON, 9 of msgpack): records that would reach the next entry's
    /// bytes go to a separate buffer, in order.
    #[test]
    fn records_longer_than_their_json_are_kept_in_order() {
        let floats: String = (0..40).map(|j| format!(r#","f{j}":1.5"#)).collect();
        let entries: Vec<String> = (0..30).map(|i| entry(i, if i % 2 == 0 { &floats } else { "" })).collect();
        assert!(spilled(&batch_of(&entries, (0..30).collect()), false) > 0);
        for tag in [false, true] {
            same_as_a_buffer_of_its_own(batch_of(&entries, (0..30).collect()), tag);
            same_as_a_buffer_of_its_own(batch_of(&entries, vec![0, 1, 2]), tag);
            same_as_a_buffer_of_its_own(batch_of(&entries[..1], vec![0]), tag);
        }
    }

    /// Not in page order (no collector does this): nothing is written over the page.
    /// How many records of `batch` would not fit over the page.
    fn spilled(batch: &Batch, tag_source: bool) -> usize {
        let mut buf = batch.page.body.to_vec();
        records_over_entries(&mut buf, &batch.page.entries, &batch.deliver, tag_source.then_some("audit")).unwrap()
    }

    #[test]
    fn the_separate_buffer_is_only_for_records_that_do_not_fit() {
        // 3 bytes more per float than the 14 or so each plain entry before it saves.
        let floats: String = (0..200).map(|j| format!(r#","f{j}":1.5"#)).collect();
        let plain: Vec<String> = (0..30).map(|i| entry(i, "")).collect();
        let mixed: Vec<String> = (0..30).map(|i| entry(i, if i == 10 { &floats } else { "" })).collect();
        assert_eq!(spilled(&batch_of(&plain, (0..30).collect()), false), 0);
        assert_eq!(spilled(&batch_of(&mixed, (0..30).collect()), false), 20, "entry 10 and all after it");
        assert_eq!(spilled(&batch_of(&mixed, (0..10).collect()), false), 0);
        assert_eq!(spilled(&batch_of(&plain, vec![3, 1]), false), 2, "out of page order");
    }

    #[test]
    fn entries_out_of_page_order_are_encoded_all_the_same() {
        let entries: Vec<String> = (0..10).map(|i| entry(i, "")).collect();
        same_as_a_buffer_of_its_own(batch_of(&entries, vec![3, 1, 2, 9, 0]), false);
    }

    #[test]
    fn the_buffer_goes_back_to_the_page_pool() {
        let entries: Vec<String> = (0..2000).map(|i| entry(i, "")).collect();
        let mut batch = batch_of(&entries, (0..2000).collect());
        let pool = std::sync::Arc::new(crate::transport::bodypool::BodyPool::default());
        batch.page.recycle = Some(pool.clone());
        let (ptr, len) = (batch.page.body.as_ptr(), batch.page.body.len());
        let records = fluent_bit_over_page(&mut batch, false).unwrap();
        assert_eq!(records.as_ptr(), ptr, "written over the page's bytes");
        drop(records);
        let next_read = pool.take(len);
        assert_eq!(next_read.as_ptr(), ptr, "given back when dropped");
    }

    #[test]
    fn ecs_documents_are_written_over_the_page() {
        let entries: Vec<String> = (0..20).map(|i| entry(i, "")).collect();
        let mut batch = batch_of(&entries, (0..20).step_by(2).collect());
        batch.encode_ecs();
        same_as_a_buffer_of_its_own(batch, true);
    }

    #[test]
    fn several_sources_are_tagged_one_is_not() {
        assert!(!tags_source(1));
        assert!(tags_source(2));
        assert!(tags_source(3));
    }
}
