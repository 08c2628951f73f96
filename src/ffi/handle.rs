//! `slack_audit *`: the collector handle, from `slack_audit_new` to `slack_audit_shutdown`.

use super::batch::{self, SlackAuditBatch};
use super::boundary::{catch_status, fail, ffi_boundary, poison_on_panic, write_message, Failure, FfiResult};
use super::registry::{lock, lookup, register, unregister, Registry};
use super::SlackAuditStatus;
use crate::config::Config;
use crate::engine::batch_encode;
use crate::engine::logs::LogQueue;
use crate::engine::runtime::{Collected, Collection, Interrupter};
use crate::engine::stats::Stats;
use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// An opaque collector handle, created by `slack_audit_new`, freed by `slack_audit_shutdown`.
///
/// The pointer value is an id, never dereferenced and never reused within the process: once
/// the handle is shut down, every call with it returns `SLACK_AUDIT_INVALID_HANDLE` (a second
/// `slack_audit_shutdown` does nothing), even after newer handles were created.
pub struct SlackAudit {
    _private: [u8; 0],
}

/// Log levels of `slack_audit_next_log` (the same numbers Fluent Bit uses).
pub const SLACK_AUDIT_LOG_NONE: i32 = 0;
pub const SLACK_AUDIT_LOG_ERROR: i32 = 1;
pub const SLACK_AUDIT_LOG_WARN: i32 = 2;
pub const SLACK_AUDIT_LOG_INFO: i32 = 3;
pub const SLACK_AUDIT_LOG_DEBUG: i32 = 4;

pub(crate) struct Handle {
    collection: Mutex<Option<Collection>>,
    interrupter: Interrupter,
    stats: Arc<Mutex<Stats>>,
    logs: Arc<LogQueue>,
    poisoned: AtomicBool,
}

fn handles() -> &'static Registry<Handle> {
    static R: OnceLock<Registry<Handle>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn live_handle(h: *const SlackAudit) -> Result<Arc<Handle>, Failure> {
    if h.is_null() {
        return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "the handle is NULL");
    }
    let handle = lookup(handles(), h as usize).ok_or_else(|| {
        Failure(
            SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE,
            "the handle is not live (already shut down, or never created)".into(),
        )
    })?;
    if handle.poisoned.load(Ordering::SeqCst) {
        return fail(
            SlackAuditStatus::SLACK_AUDIT_POISONED,
            "the handle was poisoned by an earlier internal error; shut it down",
        );
    }
    Ok(handle)
}

/// `ffi_boundary!(handle(…), …)`: runs `f` with a live handle, poisoning it if `f` panics.
pub(crate) fn with_handle(
    h: *const SlackAudit,
    err: *mut c_char,
    err_len: usize,
    f: impl FnOnce(&Handle) -> FfiResult,
) -> SlackAuditStatus {
    catch_status(err, err_len, || {
        let handle = live_handle(h)?;
        poison_on_panic(&handle.poisoned, || f(&handle))
    })
}

/// Creates a collector from a JSON object of options (the README's option table), opens and
/// locks its state files, resolves the token and starts its worker thread.
///
/// Ownership: `config_json` is borrowed for the call. On success `*out` receives a handle that
/// the caller frees exactly once with `slack_audit_shutdown`.
/// Thread safety: any thread.
/// Errors: `SLACK_AUDIT_CONFIG` (the message names the option and what it accepts, or says how
/// to provide the token), `SLACK_AUDIT_STATE` (state_dir unusable, corrupt or newer state
/// file, stream in use by another process), `SLACK_AUDIT_INVALID_ARGUMENT` (NULL, not UTF-8).
#[no_mangle]
pub extern "C" fn slack_audit_new(
    config_json: *const c_char,
    out: *mut *mut SlackAudit,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(status(err, err_len), || {
        if config_json.is_null() || out.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "config_json and out must not be NULL");
        }
        // SAFETY: non-NULL and NUL-terminated by contract.
        let text = unsafe { CStr::from_ptr(config_json) }.to_str().map_err(|_| {
            Failure(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "config_json is not valid UTF-8".into())
        })?;
        let cfg = Config::from_json(text, &[])?;
        start(cfg, out)
    })
}

/// Starts a collection and writes its new handle to `out` (non-NULL, checked by the caller).
pub(crate) fn start(cfg: Config, out: *mut *mut SlackAudit) -> FfiResult {
    let collection = Collection::start(cfg)?;
    let handle = Handle {
        interrupter: collection.interrupter(),
        stats: collection.stats_source(),
        logs: collection.log_source(),
        collection: Mutex::new(Some(collection)),
        poisoned: AtomicBool::new(false),
    };
    let key = register(handles(), handle);
    // SAFETY: `out` is non-NULL and writable by contract.
    unsafe { *out = key as *mut SlackAudit };
    Ok(())
}

/// Waits up to `timeout_ms` for the next batch of events. Network work (rate-limit waits,
/// retries, slow responses, long backfills) happens on the collector's own thread, so this
/// call never blocks much longer than `timeout_ms` (0 polls).
///
/// On `SLACK_AUDIT_OK`, `*out` is a batch (free it with `slack_audit_batch_free`, acknowledge
/// it with `slack_audit_ack` once its events are safely stored) or NULL when nothing was ready.
/// Ownership: the batch belongs to the caller until freed; it stays valid after `ack`.
/// Thread safety: calls on one handle are serialized (a second concurrent call waits).
/// Errors: `SLACK_AUDIT_INTERRUPTED`, `SLACK_AUDIT_PERMANENT` (sticky; the message says what
/// to fix), `SLACK_AUDIT_CONFIG` (sticky: a server certificate that failed verification or a
/// proxy that refused; the message names the issuer or the proxy), `SLACK_AUDIT_TRANSIENT` (reported once per failed attempt; collecting continues),
/// `SLACK_AUDIT_TOO_MANY_PENDING`, `SLACK_AUDIT_STATE`, handle errors.
#[no_mangle]
pub extern "C" fn slack_audit_collect(
    h: *mut SlackAudit,
    timeout_ms: u32,
    out: *mut *mut SlackAuditBatch,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(handle(h, err, err_len), |handle| {
        if out.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "out must not be NULL");
        }
        let mut guard = lock(&handle.collection);
        let Some(collection) = guard.as_mut() else {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE, "the handle is shut down");
        };
        let tag_source = batch_encode::tags_source(collection.source_count());
        match collection.collect(Duration::from_millis(timeout_ms as u64)) {
            Ok(Collected::Batch(b)) => {
                let key = batch::register_batch(*b, h as usize, tag_source, collection.page_released_signal());
                // SAFETY: `out` is non-NULL and writable by contract.
                unsafe { *out = key };
                Ok(())
            }
            Ok(Collected::Nothing) => {
                // SAFETY: as above.
                unsafe { *out = std::ptr::null_mut() };
                Ok(())
            }
            Ok(Collected::Interrupted) => fail(SlackAuditStatus::SLACK_AUDIT_INTERRUPTED, "interrupted"),
            Err(e) => Err(e.into()),
        }
    })
}

/// Makes the checkpoint durable up to and including `batch` (and every batch collected before
/// it): call it once the events are safely stored downstream. Events never acknowledged are
/// delivered again after a restart.
///
/// Ownership: borrows both; the batch stays valid and must still be freed.
/// Thread safety: serialized with `slack_audit_collect` on the same handle.
/// Errors: `SLACK_AUDIT_STATE` (the state file could not be written; the previous checkpoint
/// is intact), `SLACK_AUDIT_INVALID_ARGUMENT` (a batch not waiting for acknowledgement, or
/// collected by another handle), `SLACK_AUDIT_INVALID_HANDLE` (a freed batch or handle).
#[no_mangle]
pub extern "C" fn slack_audit_ack(
    h: *mut SlackAudit,
    batch: *const SlackAuditBatch,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(handle(h, err, err_len), |handle| {
        let (id, owner) = batch::id_and_owner(batch)?;
        if owner != h as usize {
            return fail(
                SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT,
                "the batch was collected by another handle; acknowledge it with that handle",
            );
        }
        let mut guard = lock(&handle.collection);
        let Some(collection) = guard.as_mut() else {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE, "the handle is shut down");
        };
        Ok(collection.ack(id)?)
    })
}

/// Makes a `slack_audit_collect` that is blocked on this handle (or the next one) return
/// `SLACK_AUDIT_INTERRUPTED` at once.
///
/// Thread safety: any thread, any time, also while another thread is inside `collect`.
#[no_mangle]
pub extern "C" fn slack_audit_interrupt(h: *const SlackAudit) -> SlackAuditStatus {
    ffi_boundary!(handle(h), |handle| {
        handle.interrupter.interrupt();
        Ok(())
    })
}

/// Writes the collector's counters as a NUL-terminated JSON object into `buf`: calls, pages,
/// events, events_acked, retries, rate_limited, invalid_cursors, duplicates_dropped,
/// last_success, last_error, lag_seconds, caught_up, ….
///
/// Ownership: `buf` is the caller's; `*needed` (optional) receives the size required,
/// including the NUL. Thread safety: any thread, also during `collect`.
/// Errors: `SLACK_AUDIT_BUFFER_TOO_SMALL` (then `*needed` says how much), handle errors.
#[no_mangle]
pub extern "C" fn slack_audit_stats(
    h: *const SlackAudit,
    buf: *mut c_char,
    buf_len: usize,
    needed: *mut usize,
) -> SlackAuditStatus {
    ffi_boundary!(handle(h), |handle| {
        let json = serde_json::to_string(&*lock(&handle.stats)).unwrap_or_else(|_| "{}".into());
        if !needed.is_null() {
            // SAFETY: non-NULL and writable by contract.
            unsafe { *needed = json.len() + 1 };
        }
        if buf.is_null() || buf_len < json.len() + 1 {
            return fail(SlackAuditStatus::SLACK_AUDIT_BUFFER_TOO_SMALL, "buffer too small for the stats");
        }
        write_message(buf, buf_len, &json);
        Ok(())
    })
}

/// Takes the oldest queued log message: `*level` receives `SLACK_AUDIT_LOG_ERROR`..`DEBUG`,
/// or `SLACK_AUDIT_LOG_NONE` when the queue is empty; the message goes into `buf` (truncated to
/// fit, NUL-terminated). The library never prints: call this from the host's thread and log
/// through the host's logger.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn slack_audit_next_log(
    h: *const SlackAudit,
    level: *mut i32,
    buf: *mut c_char,
    buf_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(handle(h), |handle| {
        if level.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "level must not be NULL");
        }
        let (lv, msg) = match handle.logs.pop() {
            Some((l, m)) => (l as i32, m),
            None => (SLACK_AUDIT_LOG_NONE, String::new()),
        };
        write_message(buf, buf_len, &msg);
        // SAFETY: non-NULL and writable by contract.
        unsafe { *level = lv };
        Ok(())
    })
}

/// Read-ahead, on by default: the collector reads the next page as soon as the host took the
/// last batch, so the read overlaps the host's work on it (two pages in memory). Off (`on` 0):
/// it reads the next page only once the host let go of the last one's page
/// (`slack_audit_batch_release_page`, `slack_audit_batch_release_events`,
/// `slack_audit_batch_free`) or waits in `slack_audit_collect` with nothing ready: one page in
/// memory, about 7 MB less at `limit` 9999. A host that releases the page as soon as it has
/// encoded it (the Fluent Bit plugin) loses almost none of the overlap.
///
/// Thread safety: serialized with `collect`; call it right after `slack_audit_new` so that
/// the second page is not read ahead already.
/// Errors: handle errors.
#[no_mangle]
pub extern "C" fn slack_audit_set_read_ahead(h: *mut SlackAudit, on: i32) -> SlackAuditStatus {
    ffi_boundary!(handle(h), |handle| {
        let guard = lock(&handle.collection);
        let Some(collection) = guard.as_ref() else {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE, "the handle is shut down");
        };
        collection.set_read_ahead(on != 0);
        Ok(())
    })
}

/// 1 when every stream has caught up with now and every handed-over batch is acknowledged,
/// else 0 (also for NULL or a dead handle). A "drain once" host stops when this turns 1 and
/// `collect` returns no batch.
///
/// Thread safety: serialized with `collect`.
#[no_mangle]
pub extern "C" fn slack_audit_caught_up(h: *const SlackAudit) -> i32 {
    ffi_boundary!(value, || {
        live_handle(h)
            .ok()
            .map(|handle| lock(&handle.collection).as_ref().is_some_and(|c| c.caught_up()) as i32)
            .unwrap_or(0)
    })
}

/// Stops the worker (a request in flight is abandoned; this returns within about half a
/// second), releases the state locks and frees the handle. Unacknowledged batches are not
/// made durable. NULL and already shut down handles are ignored.
///
/// Ownership: the handle is invalid afterwards; batches already collected stay valid until
/// freed. Thread safety: not concurrently with `collect`/`ack` on the same handle
/// (`slack_audit_interrupt` from another thread is fine).
#[no_mangle]
pub extern "C" fn slack_audit_shutdown(h: *mut SlackAudit) {
    ffi_boundary!(value, || {
        if h.is_null() {
            return;
        }
        if let Some(handle) = unregister(handles(), h as usize) {
            handle.interrupter.interrupt();
            let collection = lock(&handle.collection).take();
            if let Some(c) = collection {
                c.shutdown(Duration::from_millis(500));
            }
        }
    })
}
