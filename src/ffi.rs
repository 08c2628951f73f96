//! The C ABI. Every export reads the same way: check the arguments, look the handle up,
//! call safe code, map the error. The plumbing that makes that safe lives at the top of this
//! file: the panic boundary ([`guard`]), handle registries (a pointer from C is only a key, never
//! dereferenced unless it is live), and the error buffer.
//!
//! # API conventions (the contract, also in the README)
//! - Every function returns a [`SlackAuditStatus`]; `SLACK_AUDIT_OK` is 0.
//! - Out-parameters are written only on success.
//! - `err`/`err_len`: an optional caller-owned buffer that receives a NUL-terminated message
//!   on failure (truncated to fit). Pass NULL/0 to ignore messages. Nothing is ever allocated
//!   for the caller to free except handles and batches, freed by their own calls.
//! - NULL where a pointer is required is `SLACK_AUDIT_INVALID_ARGUMENT`, never a crash.
//!   A handle or batch that was already freed is `SLACK_AUDIT_INVALID_HANDLE`, and freeing
//!   twice is harmless: the pointers are ids that are never reused within a process.
//! - A panic inside the library becomes `SLACK_AUDIT_PANIC` and poisons the handle (every later
//!   call on it returns `SLACK_AUDIT_POISONED`; `slack_audit_shutdown` still works).
//! - The token never appears in any message.

// These functions are called from C, where every call is "unsafe"; their pointer contracts
// are documented on each one and checked (NULL, liveness) before use.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::collector::CollectError;
use crate::config::{Config, Source};
use crate::encode;
use crate::logs::LogQueue;
use crate::runtime::{AckError, Collected, Collection, Interrupter, StartError};
use crate::stats::Stats;
use std::collections::HashMap;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Bumped on any incompatible change of the functions or structs below. A host checks
/// `slack_audit_abi_version() == SLACK_AUDIT_ABI_VERSION` at start-up.
pub const SLACK_AUDIT_ABI_VERSION: u32 = 1;

/// Result codes. Stable: never renumbered; a retired code stays reserved.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum SlackAuditStatus {
    /// Success.
    SLACK_AUDIT_OK = 0,
    /// `slack_audit_collect` returned early because `slack_audit_interrupt` was called.
    SLACK_AUDIT_INTERRUPTED = 1,
    /// A required pointer was NULL, an index was out of range, or a string was not UTF-8.
    SLACK_AUDIT_INVALID_ARGUMENT = 10,
    /// The handle or batch is not live (already shut down or freed, or never created).
    SLACK_AUDIT_INVALID_HANDLE = 11,
    /// The caller's buffer is too small; `needed` says how big it must be.
    SLACK_AUDIT_BUFFER_TOO_SMALL = 12,
    /// The configuration is invalid (the message names the option), or the token is missing.
    SLACK_AUDIT_CONFIG = 20,
    /// The state directory or a state file cannot be used (the message says what to do).
    SLACK_AUDIT_STATE = 21,
    /// Slack refused for a reason retrying cannot fix: bad token, missing scope, not an
    /// Enterprise org, bad arguments. Collecting has stopped for this handle.
    SLACK_AUDIT_PERMANENT = 30,
    /// Slack or the network kept failing after `max_retries`; the worker keeps trying.
    SLACK_AUDIT_TRANSIENT = 31,
    /// Too many batches were handed over without `slack_audit_ack`.
    SLACK_AUDIT_TOO_MANY_PENDING = 32,
    /// A panic was caught inside the library; the handle is poisoned.
    SLACK_AUDIT_PANIC = 40,
    /// An earlier panic poisoned this handle; shut it down.
    SLACK_AUDIT_POISONED = 41,
}

/// An opaque collector handle, created by `slack_audit_new`, freed by `slack_audit_shutdown`.
///
/// The pointer value is an id, never dereferenced and never reused within the process: once
/// the handle is shut down, every call with it returns `SLACK_AUDIT_INVALID_HANDLE` (a second
/// `slack_audit_shutdown` does nothing), even after newer handles were created.
pub struct SlackAudit {
    _private: [u8; 0],
}

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

/// Log levels of `slack_audit_next_log` (the same numbers Fluent Bit uses).
pub const SLACK_AUDIT_LOG_NONE: i32 = 0;
pub const SLACK_AUDIT_LOG_ERROR: i32 = 1;
pub const SLACK_AUDIT_LOG_WARN: i32 = 2;
pub const SLACK_AUDIT_LOG_INFO: i32 = 3;
pub const SLACK_AUDIT_LOG_DEBUG: i32 = 4;

// ---------------------------------------------------------------------------------------
// Plumbing: registries, errors, the panic boundary.

pub(crate) struct Handle {
    collection: Mutex<Option<Collection>>,
    interrupter: Interrupter,
    stats: Arc<Mutex<Stats>>,
    logs: Arc<LogQueue>,
    poisoned: AtomicBool,
}

struct BatchBox {
    batch: crate::collector::Batch,
    /// The id of the handle that collected it: batch ids are per collector, so another
    /// handle's `ack` must not take this batch's id for one of its own.
    owner: usize,
    /// Fluent Bit records, encoded on first request.
    msgpack: Option<Vec<u8>>,
    /// NDJSON lines, encoded on first request.
    ndjson: Option<Vec<u8>>,
    /// Several sources in one collector: tag records with their source in Fluent Bit metadata.
    tag_source: bool,
    /// `slack_audit_batch_release_events` freed the page and the encoded buffers: only what
    /// acknowledging needs is left.
    released: bool,
}

/// Live objects by id. The pointer handed to C is the id itself, never an address: ids come
/// from one process-wide counter and are never reused, so a stale pointer (a freed batch, a
/// shut-down handle) finds nothing even when the allocator gives its memory to a newer object.
pub(crate) type Registry<T> = Mutex<HashMap<usize, Arc<T>>>;

fn handles() -> &'static Registry<Handle> {
    static R: OnceLock<Registry<Handle>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn batches() -> &'static Registry<Mutex<BatchBox>> {
    static R: OnceLock<Registry<Mutex<BatchBox>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

pub(crate) fn lookup<T>(reg: &'static Registry<T>, key: usize) -> Option<Arc<T>> {
    reg.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()
}

/// Registers `value` and returns its key: a fresh id, never zero (NULL) and never reused in
/// this process. Handles and batches share the counter, so one kind never passes for the other.
pub(crate) fn register<T>(reg: &'static Registry<T>, value: T) -> usize {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    // 2^64 registrations would take centuries; a 32-bit usize wraps after 4e9, and 0 is skipped.
    let key = loop {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) as usize;
        if id != 0 {
            break id;
        }
    };
    reg.lock().unwrap_or_else(|e| e.into_inner()).insert(key, Arc::new(value));
    key
}

pub(crate) struct Failure(pub(crate) SlackAuditStatus, pub(crate) String);

pub(crate) type FfiResult = Result<(), Failure>;

pub(crate) fn fail<T>(code: SlackAuditStatus, msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(code, msg.into()))
}

/// Copies `msg` into the caller's buffer, NUL-terminated, cut at a UTF-8 boundary.
fn write_message(buf: *mut c_char, len: usize, msg: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let mut n = msg.len().min(len - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the caller promises `buf` has `len` writable bytes; we write n + 1 <= len.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// The panic boundary: runs `f`, turns a failure or a panic into a status and a message.
pub(crate) fn guard(
    err: *mut c_char,
    err_len: usize,
    poison: Option<&Handle>,
    f: impl FnOnce() -> FfiResult,
) -> SlackAuditStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => SlackAuditStatus::SLACK_AUDIT_OK,
        Ok(Err(Failure(code, msg))) => {
            write_message(err, err_len, &msg);
            code
        }
        Err(p) => {
            if let Some(h) = poison {
                h.poisoned.store(true, Ordering::SeqCst);
            }
            write_message(
                err,
                err_len,
                &format!(
                    "internal error in slack-audit (panic: {}); the handle is poisoned: shut it down and create a new one, and please report this",
                    panic_message(p.as_ref())
                ),
            );
            SlackAuditStatus::SLACK_AUDIT_PANIC
        }
    }
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

/// Runs `f` with a live handle, poisoning it if `f` panics.
fn with_handle(
    h: *const SlackAudit,
    err: *mut c_char,
    err_len: usize,
    f: impl FnOnce(&Handle) -> FfiResult,
) -> SlackAuditStatus {
    let handle = match live_handle(h) {
        Ok(x) => x,
        Err(Failure(code, msg)) => {
            write_message(err, err_len, &msg);
            return code;
        }
    };
    guard(err, err_len, Some(&handle), || f(&handle))
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

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn source_cstr(s: Source) -> &'static CStr {
    match s {
        Source::Audit => c"audit",
        Source::Access => c"access",
        Source::Integration => c"integration",
    }
}

// ---------------------------------------------------------------------------------------
// Exports.

/// The ABI version this library implements; compare with `SLACK_AUDIT_ABI_VERSION`.
///
/// Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn slack_audit_abi_version() -> u32 {
    SLACK_AUDIT_ABI_VERSION
}

/// The library version, e.g. "0.1.0".
///
/// Ownership: a static string; do not free it. Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn slack_audit_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
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
    guard(err, err_len, None, || {
        if config_json.is_null() || out.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "config_json and out must not be NULL");
        }
        // SAFETY: non-NULL and NUL-terminated by contract.
        let text = unsafe { CStr::from_ptr(config_json) }.to_str().map_err(|_| {
            Failure(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "config_json is not valid UTF-8".into())
        })?;
        let cfg = Config::from_json(text, &[]).map_err(|e| Failure(SlackAuditStatus::SLACK_AUDIT_CONFIG, e.0))?;
        start(cfg, out)
    })
}

/// Starts a collection and writes its new handle to `out` (non-NULL, checked by the caller):
/// `slack_audit_new` and `slack_audit_new_from_config` (src/ffi_config.rs) end here.
pub(crate) fn start(cfg: Config, out: *mut *mut SlackAudit) -> FfiResult {
    let collection = Collection::start(cfg).map_err(|e| match e {
        StartError::Config(c) => Failure(SlackAuditStatus::SLACK_AUDIT_CONFIG, c.0),
        StartError::State(s) => Failure(SlackAuditStatus::SLACK_AUDIT_STATE, s.0),
    })?;
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
/// to fix), `SLACK_AUDIT_TRANSIENT` (reported once per failed attempt; collecting continues),
/// `SLACK_AUDIT_TOO_MANY_PENDING`, `SLACK_AUDIT_STATE`, handle errors.
#[no_mangle]
pub extern "C" fn slack_audit_collect(
    h: *mut SlackAudit,
    timeout_ms: u32,
    out: *mut *mut SlackAuditBatch,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    with_handle(h, err, err_len, |handle| {
        if out.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "out must not be NULL");
        }
        let mut guard = lock(&handle.collection);
        let Some(collection) = guard.as_mut() else {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE, "the handle is shut down");
        };
        let multi_source = collection.source_count() > 1;
        match collection.collect(Duration::from_millis(timeout_ms as u64)) {
            Ok(Collected::Batch(batch)) => {
                let key = register(
                    batches(),
                    Mutex::new(BatchBox {
                        batch: *batch,
                        owner: h as usize,
                        msgpack: None,
                        ndjson: None,
                        tag_source: multi_source,
                        released: false,
                    }),
                );
                // SAFETY: `out` is non-NULL and writable by contract.
                unsafe { *out = key as *mut SlackAuditBatch };
                Ok(())
            }
            Ok(Collected::Nothing) => {
                // SAFETY: as above.
                unsafe { *out = std::ptr::null_mut() };
                Ok(())
            }
            Ok(Collected::Interrupted) => fail(SlackAuditStatus::SLACK_AUDIT_INTERRUPTED, "interrupted"),
            Err(CollectError::TooManyPending(m)) => fail(SlackAuditStatus::SLACK_AUDIT_TOO_MANY_PENDING, m),
            Err(CollectError::State(m)) => fail(SlackAuditStatus::SLACK_AUDIT_STATE, m),
            Err(CollectError::Permanent(m)) => fail(SlackAuditStatus::SLACK_AUDIT_PERMANENT, m),
            Err(CollectError::Transient(m)) => fail(SlackAuditStatus::SLACK_AUDIT_TRANSIENT, m),
            Err(CollectError::Stopped) => fail(SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE, "the handle is shut down"),
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
    with_handle(h, err, err_len, |handle| {
        let b = live_batch(batch)?;
        let (id, owner) = {
            let g = lock(&b);
            (g.batch.id, g.owner)
        };
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
        collection.ack(id).map_err(|e| {
            let code = match e {
                AckError::NotPending(_) => SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT,
                AckError::State(_) => SlackAuditStatus::SLACK_AUDIT_STATE,
            };
            Failure(code, e.to_string())
        })
    })
}

/// The number of events in `batch`; 0 for NULL or a freed batch.
///
/// Thread safety: any thread, while the batch is live.
#[no_mangle]
pub extern "C" fn slack_audit_batch_len(batch: *const SlackAuditBatch) -> usize {
    catch_unwind(|| live_batch(batch).map(|b| lock(&b).batch.len()).unwrap_or(0)).unwrap_or(0)
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
    guard(std::ptr::null_mut(), 0, None, || {
        if out.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "out must not be NULL");
        }
        let b = live_batch(batch)?;
        let g = lock(&b);
        if g.released {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, RELEASED);
        }
        if index >= g.batch.len() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "index out of range");
        }
        let (json, time) = g.batch.event(index);
        let ev = SlackAuditEvent {
            json: json.as_ptr(),
            json_len: json.len(),
            time,
            source: source_cstr(g.batch.source).as_ptr(),
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
/// Ownership: `*data` borrows from the batch, valid until `slack_audit_batch_free`.
/// Thread safety: one thread at a time per batch.
/// Errors: `SLACK_AUDIT_PERMANENT` if an entry is not valid JSON (cannot happen for a page
/// that parsed), argument and handle errors.
#[no_mangle]
pub extern "C" fn slack_audit_batch_msgpack(
    batch: *mut SlackAuditBatch,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    encoded(batch, data, len, err, err_len, Format::Msgpack)
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
    encoded(batch, data, len, err, err_len, Format::Ndjson)
}

enum Format {
    Msgpack,
    Ndjson,
}

fn encoded(
    batch: *mut SlackAuditBatch,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut c_char,
    err_len: usize,
    format: Format,
) -> SlackAuditStatus {
    guard(err, err_len, None, || {
        if data.is_null() || len.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "data and len must not be NULL");
        }
        let b = live_batch(batch)?;
        let mut g = lock(&b);
        let bb = &mut *g;
        if bb.released {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, RELEASED);
        }
        let slot = match format {
            Format::Msgpack => &mut bb.msgpack,
            Format::Ndjson => &mut bb.ndjson,
        };
        if slot.is_none() {
            let mut out = Vec::with_capacity(bb.batch.page.body.len() + bb.batch.len() * 16);
            for i in 0..bb.batch.len() {
                let (json, time) = bb.batch.event(i);
                match format {
                    Format::Ndjson => encode::ndjson_line(&mut out, json),
                    Format::Msgpack => {
                        let source = bb.batch.source.name();
                        let meta: &[(&str, &str)] = if bb.tag_source { &[("source", source)] } else { &[] };
                        let secs = time.clamp(0, u32::MAX as i64) as u32;
                        if let Err(e) = encode::fluent_bit_record(&mut out, secs, 0, meta, json) {
                            // Valid JSON that msgpack cannot hold as is (nesting deeper than
                            // encode::MAX_DEPTH, which Slack's free-form `details` may reach):
                            // hand the entry over as its JSON text instead of failing the whole
                            // batch, which would stall the stream on it forever.
                            let body = serde_json::json!({
                                "slack_audit_raw_json": String::from_utf8_lossy(json),
                                "slack_audit_encode_error": e.to_string(),
                            })
                            .to_string();
                            encode::fluent_bit_record(&mut out, secs, 0, meta, body.as_bytes()).map_err(|e| {
                                Failure(SlackAuditStatus::SLACK_AUDIT_PERMANENT, format!("entry {i}: {e}"))
                            })?;
                        }
                    }
                }
            }
            *slot = Some(out);
        }
        let bytes = slot.as_deref().unwrap_or(&[]);
        // SAFETY: both non-NULL and writable by contract; the buffer lives in the batch.
        unsafe {
            *data = bytes.as_ptr();
            *len = bytes.len();
        }
        Ok(())
    })
}

const RELEASED: &str =
    "the batch's events were released (slack_audit_batch_release_events); only acknowledging and freeing it remain";

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
    guard(std::ptr::null_mut(), 0, None, || {
        let b = live_batch(batch)?;
        let (page, formatted, msgpack, ndjson) = {
            let mut g = lock(&b);
            g.released = true;
            let page = std::mem::replace(&mut g.batch.page, crate::slack::AuditPage::empty());
            (page, g.batch.formatted.take(), g.msgpack.take(), g.ndjson.take())
        };
        // Dropped outside the lock; the page's body goes back to the collector's pool.
        drop((page, formatted, msgpack, ndjson));
        Ok(())
    })
}

/// Frees a batch. NULL and already-freed batches are ignored.
///
/// Ownership: invalidates every pointer obtained from the batch. Does not acknowledge it.
/// Thread safety: not concurrently with other calls on the same batch.
#[no_mangle]
pub extern "C" fn slack_audit_batch_free(batch: *mut SlackAuditBatch) {
    let _ = catch_unwind(|| {
        if !batch.is_null() {
            lock(batches()).remove(&(batch as usize));
        }
    });
}

/// Makes a `slack_audit_collect` that is blocked on this handle (or the next one) return
/// `SLACK_AUDIT_INTERRUPTED` at once.
///
/// Thread safety: any thread, any time, also while another thread is inside `collect`.
#[no_mangle]
pub extern "C" fn slack_audit_interrupt(h: *const SlackAudit) -> SlackAuditStatus {
    with_handle(h, std::ptr::null_mut(), 0, |handle| {
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
    with_handle(h, std::ptr::null_mut(), 0, |handle| {
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
    with_handle(h, std::ptr::null_mut(), 0, |handle| {
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

/// 1 when every stream has caught up with now and every handed-over batch is acknowledged,
/// else 0 (also for NULL or a dead handle). A "drain once" host stops when this turns 1 and
/// `collect` returns no batch.
///
/// Thread safety: serialized with `collect`.
#[no_mangle]
pub extern "C" fn slack_audit_caught_up(h: *const SlackAudit) -> i32 {
    catch_unwind(|| {
        live_handle(h)
            .ok()
            .map(|handle| lock(&handle.collection).as_ref().is_some_and(|c| c.caught_up()) as i32)
            .unwrap_or(0)
    })
    .unwrap_or(0)
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
    let _ = catch_unwind(|| {
        if h.is_null() {
            return;
        }
        let handle = lock(handles()).remove(&(h as usize));
        if let Some(handle) = handle {
            handle.interrupter.interrupt();
            let collection = lock(&handle.collection).take();
            if let Some(c) = collection {
                c.shutdown(Duration::from_millis(500));
            }
        }
    });
}

/// For tests of the panic boundary only: panics inside the library while holding `h`.
/// Returns `SLACK_AUDIT_PANIC` and poisons the handle.
#[no_mangle]
pub extern "C" fn slack_audit_test_panic(h: *mut SlackAudit) -> SlackAuditStatus {
    with_handle(h, std::ptr::null_mut(), 0, |_| panic!("forced by slack_audit_test_panic"))
}
