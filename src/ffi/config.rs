//! The C ABI's key/value configuration builder and the option list, in the style of rustls-ffi's
//! config builders: create a `slack_audit_config`, set options by name, start a collector from
//! it, free it. A host that has options as key/value pairs (the Fluent Bit plugin's properties)
//! passes them as they are, without building JSON; `slack_audit_new(json)` stays for embedders
//! that have a JSON document.
//!
//! Same conventions as src/ffi/mod.rs (and the same plumbing: every export goes through the
//! panic boundary `ffi_boundary!`; the pointer handed to C is a registry id from the same never-reused
//! counter as handles and batches, so a freed config is `SLACK_AUDIT_INVALID_HANDLE`, never a
//! dangling pointer).

// Called from C; the pointer contracts are documented on each function and checked before use.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::config::{ConfigBuilder, OPTIONS};
use crate::ffi::boundary::{fail, ffi_boundary, Failure};
use crate::ffi::handle::start;
use crate::ffi::registry::{lock, lookup, register, unregister, Registry};
use crate::ffi::{SlackAudit, SlackAuditStatus};
use std::ffi::{c_char, CStr, CString};
use std::sync::{Mutex, OnceLock};

/// An opaque configuration being built, created by `slack_audit_config_new`, freed by
/// `slack_audit_config_free`.
///
/// Like a handle, the pointer value is an id that is never reused within the process: a freed
/// config is `SLACK_AUDIT_INVALID_HANDLE` for every call, and a second `slack_audit_config_free`
/// does nothing. The token, once set, is kept where no message, log or `Debug` output shows it.
pub struct SlackAuditConfig {
    _private: [u8; 0],
}

fn configs() -> &'static Registry<Mutex<ConfigBuilder>> {
    static R: OnceLock<Registry<Mutex<ConfigBuilder>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn live_config(cfg: *const SlackAuditConfig) -> Result<std::sync::Arc<Mutex<ConfigBuilder>>, Failure> {
    if cfg.is_null() {
        return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "the config is NULL");
    }
    lookup(configs(), cfg as usize).ok_or_else(|| {
        Failure(
            SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE,
            "the config is not live (already freed, or never created)".into(),
        )
    })
}

/// A NUL-terminated UTF-8 argument; `what` names it in the error.
fn utf8<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, format!("{what} must not be NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated by contract; borrowed only for the call.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Failure(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, format!("{what} is not valid UTF-8")))
}

/// Creates a configuration with every option at its default (the README's option table).
///
/// Ownership: on success `*out` receives a config that the caller frees exactly once with
/// `slack_audit_config_free` (also after `slack_audit_new_from_config`, which only borrows it).
/// Thread safety: any thread.
/// Errors: `SLACK_AUDIT_INVALID_ARGUMENT` (`out` is NULL), `SLACK_AUDIT_CONFIG` (a default that
/// depends on the environment, such as `state_dir`, is unusable; the message says which).
#[no_mangle]
pub extern "C" fn slack_audit_config_new(
    out: *mut *mut SlackAuditConfig,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(status(err, err_len), || {
        if out.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "out must not be NULL");
        }
        let builder = ConfigBuilder::new()?;
        let key = register(configs(), Mutex::new(builder));
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { *out = key as *mut SlackAuditConfig };
        Ok(())
    })
}

/// Sets option `key` (a name from the option table, e.g. "state_dir"; `-` is accepted for `_`)
/// to `value`, as the JSON config, a Fluent Bit property or a CLI flag would: numbers, durations
/// (`90s`, `24h`), booleans and comma lists are written as text. A later call for the same key
/// replaces the value. The value is checked at once; options that depend on each other
/// (`actions` and `exclude_actions`) are checked by `slack_audit_new_from_config`.
///
/// Ownership: `key` and `value` are borrowed for the call (the library keeps its own copy).
/// Thread safety: any thread; calls on one config are serialized by the library.
/// Errors: `SLACK_AUDIT_CONFIG` (unknown key: the message lists the known ones; bad value: the
/// message names the option, the value and what it accepts; the config is left as it was),
/// `SLACK_AUDIT_INVALID_ARGUMENT` (NULL, not UTF-8), `SLACK_AUDIT_INVALID_HANDLE` (a freed config).
/// The token never appears in a message.
#[no_mangle]
pub extern "C" fn slack_audit_config_set(
    cfg: *mut SlackAuditConfig,
    key: *const c_char,
    value: *const c_char,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(status(err, err_len), || {
        let config = live_config(cfg)?;
        let key = utf8(key, "key")?;
        let value = utf8(value, &format!("the value of `{key}`"))?;
        let set = lock(&config).set(key, value);
        Ok(set?)
    })
}

/// Creates a collector from `cfg`, like `slack_audit_new` does from JSON: checks the options
/// together, opens and locks the state files, resolves the token and starts the worker.
///
/// Ownership: borrows `cfg`, which stays the caller's to free with `slack_audit_config_free`
/// whether this succeeds or not (and may be changed and used again, e.g. after an error). On
/// success `*out` receives a handle that the caller frees exactly once with
/// `slack_audit_shutdown`; the handle does not depend on `cfg` afterwards.
/// Thread safety: any thread.
/// Errors: as `slack_audit_new`: `SLACK_AUDIT_CONFIG` (options in conflict, or no token: the
/// message says how to provide it), `SLACK_AUDIT_STATE`, `SLACK_AUDIT_INVALID_ARGUMENT` (NULL);
/// and `SLACK_AUDIT_INVALID_HANDLE` for a freed config.
#[no_mangle]
pub extern "C" fn slack_audit_new_from_config(
    cfg: *const SlackAuditConfig,
    out: *mut *mut SlackAudit,
    err: *mut c_char,
    err_len: usize,
) -> SlackAuditStatus {
    ffi_boundary!(status(err, err_len), || {
        if out.is_null() {
            return fail(SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT, "out must not be NULL");
        }
        let config = live_config(cfg)?;
        let built = lock(&config).build()?;
        start(built, out)
    })
}

/// Frees a configuration (and the token it holds). NULL and already-freed configs are ignored.
///
/// Ownership: `cfg` is invalid afterwards; collectors created from it are not affected.
/// Thread safety: not concurrently with other calls on the same config.
#[no_mangle]
pub extern "C" fn slack_audit_config_free(cfg: *mut SlackAuditConfig) {
    ffi_boundary!(value, || {
        if !cfg.is_null() {
            unregister(configs(), cfg as usize);
        }
    })
}

/// The number of options in the option table (for `slack_audit_option_name`).
///
/// Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn slack_audit_option_count() -> usize {
    ffi_boundary!(value, || OPTIONS.len())
}

/// The name of option `index` (0-based, in the README's order), e.g. "state_dir"; NULL when
/// `index` is not below `slack_audit_option_count()`. A host that reads options by name (the
/// Fluent Bit plugin asks for each as a property) gets the list from here, so it never lags
/// behind the library it is linked with.
///
/// Ownership: a static string; do not free it. Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn slack_audit_option_name(index: usize) -> *const c_char {
    ffi_boundary!(value, || {
        static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
        let names = NAMES.get_or_init(|| OPTIONS.iter().filter_map(|o| CString::new(o.name).ok()).collect());
        match names.get(index) {
            Some(name) => name.as_ptr(),
            None => std::ptr::null(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(buf: &[c_char]) -> String {
        // SAFETY: the library NUL-terminates what it writes; the buffers start zeroed.
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn the_option_list_is_the_option_table() {
        assert_eq!(slack_audit_option_count(), OPTIONS.len());
        for (i, o) in OPTIONS.iter().enumerate() {
            // SAFETY: non-NULL static NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(slack_audit_option_name(i)) };
            assert_eq!(name.to_str().unwrap(), o.name);
        }
        assert!(slack_audit_option_name(OPTIONS.len()).is_null());
        assert!(slack_audit_option_name(usize::MAX).is_null());
    }

    #[test]
    fn set_reports_unknown_keys_bad_values_and_misuse() {
        let mut err = [0 as c_char; 512];
        let mut cfg: *mut SlackAuditConfig = std::ptr::null_mut();
        assert_eq!(slack_audit_config_new(&mut cfg, err.as_mut_ptr(), err.len()), SlackAuditStatus::SLACK_AUDIT_OK);
        let set = |k: &CStr, v: &CStr, err: &mut [c_char]| {
            slack_audit_config_set(cfg, k.as_ptr(), v.as_ptr(), err.as_mut_ptr(), err.len())
        };
        assert_eq!(set(c"limit", c"100", &mut err), SlackAuditStatus::SLACK_AUDIT_OK);
        assert_eq!(set(c"limt", c"100", &mut err), SlackAuditStatus::SLACK_AUDIT_CONFIG);
        assert!(message(&err).contains("`limt`") && message(&err).contains("state_dir"), "{}", message(&err));
        assert_eq!(set(c"limit", c"0", &mut err), SlackAuditStatus::SLACK_AUDIT_CONFIG);
        assert!(message(&err).contains("from 1 to 9999"), "{}", message(&err));
        assert_eq!(set(c"token", c"xoxp-ffi-secret", &mut err), SlackAuditStatus::SLACK_AUDIT_OK);
        let st = slack_audit_config_set(cfg, std::ptr::null(), c"1".as_ptr(), err.as_mut_ptr(), err.len());
        assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_INVALID_ARGUMENT);
        let builder = lookup(configs(), cfg as usize).unwrap();
        assert!(!format!("{:?}", lock(&builder)).contains("ffi-secret"));
        assert_eq!(lock(&builder).build().unwrap().limit, 100);
        slack_audit_config_free(cfg);
        slack_audit_config_free(cfg);
        assert_eq!(set(c"limit", c"100", &mut err), SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE);
        let mut h: *mut SlackAudit = std::ptr::null_mut();
        let st = slack_audit_new_from_config(cfg, &mut h, err.as_mut_ptr(), err.len());
        assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_INVALID_HANDLE);
        assert!(h.is_null());
    }
}
