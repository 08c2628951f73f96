//! The C ABI. Every export reads the same way: check the arguments, look the handle up,
//! call safe code, map the error. One file per C type: `handle.rs` (`slack_audit *`, the
//! collector) and `batch.rs` (`slack_audit_batch *`, its events and encodings). The plumbing
//! that makes them safe is in small private files: `boundary.rs` (the panic boundary every
//! export goes through, and the error buffer), `error.rs` (the one mapping of the library's
//! error kinds to statuses) and `registry.rs` (a pointer from C is only a key, never
//! dereferenced unless it is live). This file holds the status codes and the version
//! exports.
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

pub(crate) mod boundary;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod registry;

// The C types, in the order cbindgen writes them into the header (after this file's items).
pub(crate) mod handle;

pub(crate) mod batch;

pub use batch::*;
use boundary::ffi_boundary;
pub use handle::*;

use std::ffi::c_char;

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

/// The ABI version this library implements; compare with `SLACK_AUDIT_ABI_VERSION`.
///
/// Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn slack_audit_abi_version() -> u32 {
    ffi_boundary!(value, || SLACK_AUDIT_ABI_VERSION)
}

/// The library version, e.g. "0.1.0".
///
/// Ownership: a static string; do not free it. Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn slack_audit_version() -> *const c_char {
    ffi_boundary!(value, || concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char)
}

/// For tests of the panic boundary only: panics inside the library while holding `h`.
/// Returns `SLACK_AUDIT_PANIC` and poisons the handle.
/// cbindgen:ignore
#[cfg(feature = "test-exports")]
#[no_mangle]
pub extern "C" fn slack_audit_test_panic(h: *mut SlackAudit) -> SlackAuditStatus {
    ffi_boundary!(handle(h), |_handle| panic!("forced by slack_audit_test_panic"))
}
