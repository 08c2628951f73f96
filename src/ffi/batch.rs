//! `slack_audit_batch *`: one collected batch, its events and its encodings, from
//! `slack_audit_collect` to `slack_audit_batch_free`.

use super::boundary::{fail, ffi_boundary, Failure, FfiResult};
use super::registry::{lock, lookup, register, unregister, Registry};
use super::SlackAuditStatus;
use crate::engine::batch_encode;
use crate::engine::collector::Batch;
use crate::engine::runtime::PageReleased;
use crate::transport::bodypool::Pooled;
use std::ffi::c_char;
use std::sync::{Arc, Mutex, OnceLock};

/// An opaque batch of events, returned by `slack_audit_collect`, freed by `slack_audit_batch_free`.
///
/// Like a handle, the pointer value is an id that is never reused within the process: a freed
/// batch is `SLACK_AUDIT_INVALID_HANDLE` for `slack_audit_ack` and the batch accessors, and a
/// second `slack_audit_batch_free` does nothing; neither can reach a newer batch.
pub struct SlackAuditBatch {
    _private: [u8; 0],
}

/// One event of a batch. Every pointer is borrowed from the batch and stays valid until the
/// batch is freed.
#[repr(C)]
pub struct SlackAuditEvent {
    /// The Slack entry exactly as Slack sent it: one JSON object, not NUL-terminated.
    pub json: *const u8,
    pub json_len: usize,
    /// The entry's `date_create`, Unix seconds.
    pub time: i64,
    /// The source, NUL-terminated: "audit", "access" or "integration".
    pub source: *const c_char,
}

struct BatchBox {
    batch: Batch,
    /// The id of the handle that collected it: batch ids are per collector, so another
    /// handle's `ack` must not take this batch's id for one of its own.
    owner: usize,
    /// Fluent Bit records, encoded on first request (in the page's own buffer by
    /// `slack_audit_batch_msgpack_over_page`: then it goes back to the collector when dropped).
    msgpack: Option<Pooled>,
    /// The msgpack holds the page's buffer: the collector's next read waits for it.
    msgpack_over_page: bool,
    /// NDJSON lines, encoded on first request.
    ndjson: Option<Vec<u8>>,
    /// Several sources in one collector: tag records with their source in Fluent Bit metadata.
    tag_source: bool,
    /// What the host released early; the batch itself stays live until freed.
    released: Released,
    /// Tells the collector the page is gone (read-ahead off: its next read may start).
    page_released: PageReleased,
}

/// How much of a batch the host has released ahead of `slack_audit_batch_free`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Released {
    Nothing,
    /// `slack_audit_batch_release_page`: the page and its events are gone; the encodings made
    /// before stay (a host hands over the msgpack and needs nothing else of the page).
    Page,
    /// `slack_audit_batch_release_events`: the encodings are gone too; only what acknowledging
    /// needs is left.
    Events,
}

fn batches() -> &'static Registry<Mutex<BatchBox>> {
    static R: OnceLock<Registry<Mutex<BatchBox>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Registers a batch `owner` (a handle's id) collected; the pointer is what C receives.
pub(crate) fn register_batch(
    batch: Batch,
    owner: usize,
    tag_source: bool,
    page_released: PageReleased,
) -> *mut SlackAuditBatch {
    let boxed = BatchBox {
        batch,
        owner,
        msgpack: None,
        msgpack_over_page: false,
        ndjson: None,
        tag_source,
        released: Released::Nothing,
        page_released,
    };
    register(batches(), Mutex::new(boxed)) as *mut SlackAuditBatch
}

/// The batch's id in its collector and the id of the handle that collected it, for `ack`.
pub(crate) fn id_and_owner(b: *const SlackAuditBatch) -> Result<(u64, usize), Failure> {
    let b = live_batch(b)?;
    let g = lock(&b);
    Ok((g.batch.id, g.owner))
}

fn live_batch(b: *const SlackAuditBatch) -> Result<Arc<Mutex<BatchBox>>, Failure> {
    if b.is_null() {
        return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "the batch is NULL");
    }
    lookup(batches(), b as usize).ok_or_else(|| {
        Failure(
            SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE,
            "the batch is not live (already freed, or never created)".into(),
        )
    })
}

const RELEASED: &str =
    "the batch's events were released (slack_audit_batch_release_events); only acknowledging and freeing it remain";
const PAGE_RELEASED: &str = "the batch's page was released (slack_audit_batch_release_page); only the encodings made \
     before it, acknowledging and freeing it remain";

/// The number of events in `batch`; 0 for NULL or a freed batch.
///
/// Thread safety: any thread, while the batch is live.
#[no_mangle]
pub extern "C" fn slack_audit_batch_len(batch: *const SlackAuditBatch) -> usize {
    ffi_boundary!(value, || live_batch(batch).map(|b| lock(&b).batch.len()).unwrap_or(0))
}

/// Event `index` (0-based, newest first) of `batch`.
///
/// Ownership: the pointers written to `*out` borrow from the batch and are valid until
/// `slack_audit_batch_free`.
/// Thread safety: any thread, while the batch is live.
/// Errors: `SLACK_AUDIT_INVALID_ARGUMENT` (NULL, index out of range), `SLACK_AUDIT_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn slack_audit_batch_event(
    batch: *const SlackAuditBatch,
    index: usize,
    out: *mut SlackAuditEvent,
) -> SlackAuditStatus {
    ffi_boundary!(status(), || {
        if out.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "out must not be NULL");
        }
        let b = live_batch(batch)?;
        let g = lock(&b);
        match g.released {
            Released::Nothing => {}
            Released::Page => return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, PAGE_RELEASED),
            Released::Events => return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, RELEASED),
        }
        if index >= g.batch.len() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "index out of range");
        }
        let (json, time) = g.batch.event(index);
        let ev = SlackAuditEvent {
            json: json.as_ptr(),
            json_len: json.len(),
            time,
            source: g.batch.source.c_name().as_ptr(),
        };
        // SAFETY: non-NULL and writable by contract; the bytes live in the batch's heap buffer,
        // which does not move while the batch is registered.
        unsafe { out.write(ev) };
        Ok(())
    })
}

/// The whole batch encoded as concatenated Fluent Bit records: `[EventTime, {entry}]` with
/// `date_create` as EventTime (msgpack ext type 0), or `[[EventTime, {"source": …}], {entry}]`
/// when the collector reads several sources.
///
/// Ownership: `*data` borrows from the batch, valid until `slack_audit_batch_free` or
/// `slack_audit_batch_release_events` (`slack_audit_batch_release_page` keeps it).
/// Thread safety: one thread at a time per batch.
/// Errors: `SLACK_AUDIT_PERMANENT` if an entry is not valid JSON (cannot happen for a page
/// that parsed), `SLACK_AUDIT_INVALID_ARGUMENT` once the events were released (or the page,
/// unless this encoding was made before), argument and handle errors.
#[no_mangle]
pub extern "C" fn slack_audit_batch_msgpack(
    batch: *mut SlackAuditBatch,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(status(err, err_len), || encoded(batch, data, len, Format::Msgpack))
}

/// The whole batch as NDJSON: each Slack entry unchanged on its own line.
///
/// Ownership, thread safety and errors as `slack_audit_batch_msgpack`.
#[no_mangle]
pub extern "C" fn slack_audit_batch_ndjson(
    batch: *mut SlackAuditBatch,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(status(err, err_len), || encoded(batch, data, len, Format::Ndjson))
}

/// `slack_audit_batch_msgpack`'s records, written over the batch's page instead of into a
/// buffer of their own (msgpack is shorter than the JSON it comes from): a host that hands the
/// msgpack over and needs nothing else of the page keeps one page-sized buffer per batch instead
/// of two. Afterwards the batch is as after `slack_audit_batch_release_page`, except that the
/// collector's next read (read-ahead off) waits for the buffer: it is taken back, for that read,
/// at `slack_audit_batch_release_events` or `slack_audit_batch_free`. If the msgpack was already
/// made (by either call) it is returned as it is, and the page is released.
///
/// Ownership: `*data` borrows from the batch, valid until `slack_audit_batch_free` or
/// `slack_audit_batch_release_events`. The pointers from `slack_audit_batch_event` are
/// invalidated; an NDJSON made before stays.
/// Thread safety: one thread at a time per batch.
/// Errors: `SLACK_AUDIT_INVALID_ARGUMENT` once the events or the page were released (and the
/// msgpack not made before), `SLACK_AUDIT_PERMANENT` if an entry is not valid JSON (cannot happen
/// for a page that parsed; the page is gone then), argument and handle errors.
#[no_mangle]
pub extern "C" fn slack_audit_batch_msgpack_over_page(
    batch: *mut SlackAuditBatch,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(status(err, err_len), || encoded(batch, data, len, Format::MsgpackOverPage))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Msgpack,
    Ndjson,
    /// The msgpack, written over the page's buffer (or, made before, handed out with the page
    /// released).
    MsgpackOverPage,
}

/// Hands out the batch's encoding in `format`, encoded by [`batch_encode`] on first request and
/// kept in the batch.
fn encoded(batch: *mut SlackAuditBatch, data: *mut *const u8, len: *mut usize, format: Format) -> FfiResult {
    if data.is_null() || len.is_null() {
        return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "data and len must not be NULL");
    }
    let b = live_batch(batch)?;
    let mut g = lock(&b);
    let bb = &mut *g;
    if bb.released == Released::Events {
        return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, RELEASED);
    }
    let made = match format {
        Format::Msgpack | Format::MsgpackOverPage => bb.msgpack.is_some(),
        Format::Ndjson => bb.ndjson.is_some(),
    };
    // What the page release frees, dropped and signalled once the lock is let go.
    let mut released = None;
    if !made {
        if bb.released == Released::Page {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, PAGE_RELEASED);
        }
        match format {
            Format::Msgpack => {
                bb.msgpack = Some(Pooled::new(batch_encode::fluent_bit(&bb.batch, bb.tag_source)?, None))
            }
            Format::Ndjson => bb.ndjson = Some(batch_encode::ndjson(&bb.batch)),
            Format::MsgpackOverPage => {
                // The page is gone whether or not the encoding succeeds.
                bb.released = Released::Page;
                bb.msgpack_over_page = true;
                bb.msgpack = Some(batch_encode::fluent_bit_over_page(&mut bb.batch, bb.tag_source)?);
            }
        }
    } else if format == Format::MsgpackOverPage {
        released = Some(release_page_locked(bb));
    }
    let bytes = match format {
        Format::Msgpack | Format::MsgpackOverPage => bb.msgpack.as_deref(),
        Format::Ndjson => bb.ndjson.as_deref(),
    }
    .unwrap_or(&[]);
    // SAFETY: both non-NULL and writable by contract; the buffer lives in the batch.
    unsafe {
        *data = bytes.as_ptr();
        *len = bytes.len();
    }
    drop(g);
    if let Some(released) = released {
        released.finish();
    }
    Ok(())
}

/// Frees the batch's events and encoded buffers now, keeping only what `slack_audit_ack` needs:
/// for a host that has copied the records (Fluent Bit copies them into its ring or a chunk)
/// and holds the batch only to acknowledge it later. A batch's page is several megabytes, so a
/// host holding batches for a while otherwise holds their pages too.
///
/// Ownership: invalidates every pointer obtained from the batch (events, msgpack, NDJSON); the
/// batch itself stays live until `slack_audit_batch_free`. Afterwards `slack_audit_batch_len`
/// still counts its events, `slack_audit_ack` works as before, and `slack_audit_batch_event`,
/// `slack_audit_batch_msgpack` and `slack_audit_batch_ndjson` fail with
/// `SLACK_AUDIT_INVALID_ARGUMENT`. Releasing twice does nothing.
/// Thread safety: not concurrently with other calls on the same batch.
/// Errors: `SLACK_AUDIT_INVALID_ARGUMENT` for NULL, `SLACK_AUDIT_INVALID_HANDLE` for a freed batch.
#[no_mangle]
pub extern "C" fn slack_audit_batch_release_events(batch: *mut SlackAuditBatch) -> SlackAuditStatus {
    ffi_boundary!(status(), || {
        let b = live_batch(batch)?;
        let (page, msgpack, ndjson, signal) = {
            let mut g = lock(&b);
            g.released = Released::Events;
            (take_page(&mut g), g.msgpack.take(), g.ndjson.take(), g.page_released.clone())
        };
        // Dropped outside the lock; the page's body goes back to the collector's pool, where
        // the next read can take it.
        drop((page, msgpack, ndjson));
        signal.signal();
        Ok(())
    })
}

/// Frees the batch's page (its events as Slack sent them) now and keeps the encodings already
/// made: for a host that has taken `slack_audit_batch_msgpack` (or `_ndjson`) and needs nothing
/// else. The page is about as large as its msgpack, so a host that hands the msgpack over and
/// keeps the batch until the copy is made otherwise holds both; released, the page's buffer
/// can take the collector's next read.
///
/// Ownership: invalidates the pointers from `slack_audit_batch_event`; those from
/// `slack_audit_batch_msgpack` and `slack_audit_batch_ndjson` stay valid until
/// `slack_audit_batch_release_events` or `slack_audit_batch_free`. Afterwards
/// `slack_audit_batch_len` and `slack_audit_ack` work as before, the encoding calls return the
/// buffers made before (an encoding not made before fails with `SLACK_AUDIT_INVALID_ARGUMENT`),
/// and `slack_audit_batch_event` fails with `SLACK_AUDIT_INVALID_ARGUMENT`. Releasing twice, or
/// after `slack_audit_batch_release_events`, does nothing.
/// Thread safety: not concurrently with other calls on the same batch.
/// Errors: `SLACK_AUDIT_INVALID_ARGUMENT` for NULL, `SLACK_AUDIT_INVALID_HANDLE` for a freed batch.
#[no_mangle]
pub extern "C" fn slack_audit_batch_release_page(batch: *mut SlackAuditBatch) -> SlackAuditStatus {
    ffi_boundary!(status(), || {
        let b = live_batch(batch)?;
        let released = release_page_locked(&mut lock(&b));
        released.finish();
        Ok(())
    })
}

/// What releasing the page takes out of the batch: dropped, then the collector told, outside the
/// batch's lock ([`PageRelease::finish`]).
struct PageRelease {
    page: (crate::source::slack::Page, Option<crate::format::ecs::Encoded>),
    /// None while the msgpack is written over the page: its buffer is not free yet.
    signal: Option<PageReleased>,
}

impl PageRelease {
    fn finish(self) {
        drop(self.page);
        if let Some(signal) = self.signal {
            signal.signal();
        }
    }
}

/// `slack_audit_batch_release_page` under the batch's lock.
fn release_page_locked(g: &mut BatchBox) -> PageRelease {
    if g.released == Released::Nothing {
        g.released = Released::Page;
    }
    PageRelease { page: take_page(g), signal: (!g.msgpack_over_page).then(|| g.page_released.clone()) }
}

/// Takes the page and the ECS documents made from it out of the batch, for dropping.
fn take_page(g: &mut BatchBox) -> (crate::source::slack::Page, Option<crate::format::ecs::Encoded>) {
    let page = std::mem::replace(&mut g.batch.page, crate::source::slack::Page::empty());
    (page, g.batch.formatted.take())
}

/// Frees a batch. NULL and already-freed batches are ignored.
///
/// Ownership: invalidates every pointer obtained from the batch. Does not acknowledge it.
/// Thread safety: not concurrently with other calls on the same batch.
#[no_mangle]
pub extern "C" fn slack_audit_batch_free(batch: *mut SlackAuditBatch) {
    ffi_boundary!(value, || {
        if !batch.is_null() {
            if let Some(b) = unregister(batches(), batch as usize) {
                let signal = lock(&b).page_released.clone();
                // The page goes with the batch (unless a call in progress still holds it).
                drop(b);
                signal.signal();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::source_id::Source;

    /// A live batch of two entries, with a detached signal (read-ahead off, nothing asked).
    fn two_entries() -> (*mut SlackAuditBatch, PageReleased) {
        let body = br#"{"entries":[{"id":"a","date_create":5,"action":"x"},{"id":"b","date_create":6,"action":"y"}]}"#;
        let page = crate::source::audit::wire::parse_audit_page(body.to_vec()).unwrap();
        let batch = Batch {
            id: 1,
            stream: 0,
            source: Source::Audit,
            page,
            deliver: vec![0, 1],
            snapshot: Default::default(),
            caught_up: false,
            formatted: None,
        };
        let signal = PageReleased::detached();
        (register_batch(batch, 7, false, signal.clone()), signal)
    }

    fn get(b: *mut SlackAuditBatch, f: Format) -> Result<(*const u8, Vec<u8>), SlackAuditStatus> {
        let (mut data, mut len) = (std::ptr::null(), 0usize);
        let st = match f {
            Format::Msgpack => slack_audit_batch_msgpack(b, &mut data, &mut len, std::ptr::null_mut(), 0),
            Format::Ndjson => slack_audit_batch_ndjson(b, &mut data, &mut len, std::ptr::null_mut(), 0),
            Format::MsgpackOverPage => {
                slack_audit_batch_msgpack_over_page(b, &mut data, &mut len, std::ptr::null_mut(), 0)
            }
        };
        if st != SlackAuditStatus::SLACK_AUDIT_OK {
            return Err(st);
        }
        // SAFETY: the batch is live and its buffer stays until release_events or free.
        Ok((data, unsafe { std::slice::from_raw_parts(data, len) }.to_vec()))
    }

    fn event_status(b: *mut SlackAuditBatch) -> SlackAuditStatus {
        let mut ev = SlackAuditEvent { json: std::ptr::null(), json_len: 0, time: 0, source: std::ptr::null() };
        slack_audit_batch_event(b, 0, &mut ev)
    }

    #[test]
    fn releasing_the_page_keeps_the_msgpack_made_before() {
        let (b, signal) = two_entries();
        let (ptr, bytes) = get(b, Format::Msgpack).unwrap();
        assert!(!bytes.is_empty());
        assert_eq!(event_status(b), SlackAuditStatus::SLACK_AUDIT_OK);
        assert!(!signal.worker_may_read());
        assert_eq!(slack_audit_batch_release_page(b), SlackAuditStatus::SLACK_AUDIT_OK);
        assert!(signal.worker_may_read(), "the collector's next read may start");
        assert_eq!(get(b, Format::Msgpack), Ok((ptr, bytes)), "the same buffer, unchanged");
        assert_eq!(event_status(b), SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT);
        assert_eq!(get(b, Format::Ndjson).err(), Some(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT));
        assert_eq!(slack_audit_batch_len(b), 2);
        let live = live_batch(b).ok().expect("live");
        assert_eq!(lock(&live).batch.page.body.len(), 0, "the page is gone");
        assert_eq!(slack_audit_batch_release_page(b), SlackAuditStatus::SLACK_AUDIT_OK, "twice");
        assert_eq!(slack_audit_batch_release_events(b), SlackAuditStatus::SLACK_AUDIT_OK);
        assert_eq!(get(b, Format::Msgpack).err(), Some(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT));
        assert_eq!(slack_audit_batch_release_page(b), SlackAuditStatus::SLACK_AUDIT_OK, "after release_events");
        assert_eq!(get(b, Format::Msgpack).err(), Some(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT));
        slack_audit_batch_free(b);
        assert_eq!(slack_audit_batch_release_page(b), SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE);
        assert_eq!(
            slack_audit_batch_release_page(std::ptr::null_mut()),
            SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT
        );
    }

    fn over_page(b: *mut SlackAuditBatch) -> Result<(*const u8, Vec<u8>), SlackAuditStatus> {
        get(b, Format::MsgpackOverPage)
    }

    #[test]
    fn msgpack_over_the_page_holds_the_next_read_until_released() {
        let (b, signal) = two_entries();
        let (other, _) = two_entries();
        let want = get(other, Format::Msgpack).unwrap().1;
        let (ptr, bytes) = over_page(b).unwrap();
        assert_eq!(bytes, want, "the same records as slack_audit_batch_msgpack");
        assert!(!signal.worker_may_read(), "the page's buffer holds the records");
        assert_eq!(event_status(b), SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT);
        assert_eq!(get(b, Format::Ndjson).err(), Some(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT));
        assert_eq!(get(b, Format::Msgpack), Ok((ptr, want.clone())));
        assert_eq!(over_page(b), Ok((ptr, want)), "twice: the same buffer");
        assert_eq!(slack_audit_batch_release_page(b), SlackAuditStatus::SLACK_AUDIT_OK);
        assert!(!signal.worker_may_read(), "releasing the page does not free the buffer");
        assert_eq!(slack_audit_batch_len(b), 2);
        assert_eq!(slack_audit_batch_release_events(b), SlackAuditStatus::SLACK_AUDIT_OK);
        assert!(signal.worker_may_read(), "released: the next read may take the buffer");
        assert_eq!(over_page(b).err(), Some(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT));
        slack_audit_batch_free(b);
        slack_audit_batch_free(other);
        assert_eq!(over_page(b).err(), Some(SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE));
    }

    #[test]
    fn msgpack_over_the_page_after_the_msgpack_releases_the_page() {
        let (b, signal) = two_entries();
        let made = get(b, Format::Msgpack).unwrap();
        assert_eq!(over_page(b), Ok(made));
        assert!(signal.worker_may_read(), "the page went, its buffer too");
        assert_eq!(event_status(b), SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT);
        slack_audit_batch_free(b);
        let (b, _) = two_entries();
        slack_audit_batch_release_page(b);
        assert_eq!(over_page(b).err(), Some(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT), "no page left");
        slack_audit_batch_free(b);
    }

    #[test]
    fn freeing_a_batch_written_over_its_page_lets_the_next_read_start() {
        let (b, signal) = two_entries();
        over_page(b).unwrap();
        slack_audit_batch_free(b);
        assert!(signal.worker_may_read());
    }

    #[test]
    fn freeing_a_batch_lets_the_next_read_start() {
        let (b, signal) = two_entries();
        assert!(!signal.worker_may_read());
        slack_audit_batch_free(b);
        assert!(signal.worker_may_read());
    }

    #[test]
    fn releasing_the_events_lets_the_next_read_start() {
        let (b, signal) = two_entries();
        assert!(get(b, Format::Ndjson).is_ok());
        slack_audit_batch_release_events(b);
        assert!(signal.worker_may_read());
        assert_eq!(get(b, Format::Ndjson).err(), Some(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT));
        slack_audit_batch_free(b);
    }
}
