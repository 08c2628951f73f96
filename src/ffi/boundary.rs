//! The panic boundary and the error buffer: the only code in the C ABI that catches a panic or
//! writes a message into the caller's memory.
//!
//! Every export's whole body is one [`ffi_boundary!`], in the style of rustls-ffi's
//! `ffi_panic_boundary!` and hyper's `ffi_fn!`; tests/repo_consistency.rs refuses an export
//! whose body is anything else. The macro sits inside the body rather than around the function
//! because cbindgen reads the `#[no_mangle] pub extern "C" fn` signatures and their docs from
//! the source and does not expand macros.

use super::SlackAuditStatus;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs an export's body behind the panic boundary. One form per kind of export:
///
/// - `ffi_boundary!(handle(h, err, err_len), |handle| { … })`: a call on a live handle. A NULL,
///   dead or poisoned `h` is refused before the body runs; a panic in the body poisons the
///   handle. The body returns [`FfiResult`].
/// - `ffi_boundary!(status(err, err_len), || { … })`: any other call that returns a
///   [`SlackAuditStatus`]; the body returns [`FfiResult`].
/// - `ffi_boundary!(value, || …)`: a call that returns a plain value (a count, a flag, a
///   pointer, nothing); a panic returns the type's [`OnPanic`] value (0, NULL, nothing).
///
/// With a status, a failure's message or a panic's message goes into `err` (NULL/0 to ignore);
/// `handle(h)` and `status()` are the forms for exports without a message buffer.
macro_rules! ffi_boundary {
    (handle($h:expr, $err:expr, $err_len:expr), |$handle:ident| $body:expr) => {
        $crate::ffi::handle::with_handle($h, $err, $err_len, |$handle| $body)
    };
    (handle($h:expr), |$handle:ident| $body:expr) => {
        $crate::ffi::handle::with_handle($h, ::std::ptr::null_mut(), 0, |$handle| $body)
    };
    (status($err:expr, $err_len:expr), || $body:expr) => {
        $crate::ffi::boundary::catch_status($err, $err_len, || $body)
    };
    (status(), || $body:expr) => {
        $crate::ffi::boundary::catch_status(::std::ptr::null_mut(), 0, || $body)
    };
    (value, || $body:expr) => {
        $crate::ffi::boundary::catch_value(|| $body)
    };
}
pub(crate) use ffi_boundary;

/// A failed call: the status to return and the message for the caller's buffer.
pub(crate) struct Failure(pub(crate) SlackAuditStatus, pub(crate) String);

/// What the body of a status-returning export returns.
pub(crate) type FfiResult = Result<(), Failure>;

pub(crate) fn fail<T>(code: SlackAuditStatus, msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(code, msg.into()))
}

/// The value an export returns when its body panicked.
pub(crate) trait OnPanic {
    fn on_panic() -> Self;
}

impl OnPanic for () {
    fn on_panic() -> Self {}
}

impl OnPanic for u32 {
    fn on_panic() -> Self {
        0
    }
}

impl OnPanic for i32 {
    fn on_panic() -> Self {
        0
    }
}

impl OnPanic for usize {
    fn on_panic() -> Self {
        0
    }
}

impl<T> OnPanic for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

/// `ffi_boundary!(value, …)`: runs `f`; a panic becomes `T::on_panic()`.
pub(crate) fn catch_value<T: OnPanic>(f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| T::on_panic())
}

/// `ffi_boundary!(status(…), …)`: runs `f`, turns a failure or a panic into a status and a
/// message in the caller's buffer.
pub(crate) fn catch_status(err: *mut c_char, err_len: usize, f: impl FnOnce() -> FfiResult) -> SlackAuditStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => SlackAuditStatus::SLACK_AUDIT_OK,
        Ok(Err(Failure(code, msg))) => {
            write_message(err, err_len, &msg);
            code
        }
        Err(p) => {
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

/// Runs `f`; should it panic, sets `poisoned` on the way out to the boundary.
pub(crate) fn poison_on_panic<R>(poisoned: &AtomicBool, f: impl FnOnce() -> R) -> R {
    struct Poison<'a>(&'a AtomicBool);
    impl Drop for Poison<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.store(true, Ordering::SeqCst);
            }
        }
    }
    let _poison = Poison(poisoned);
    f()
}

/// Copies `msg` into the caller's buffer, NUL-terminated, cut at a UTF-8 boundary.
pub(crate) fn write_message(buf: *mut c_char, len: usize, msg: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn message(buf: &[c_char]) -> String {
        // SAFETY: write_message always NUL-terminates within the buffer.
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
    }

    /// A panic in a plain-value export returns the type's failure value, nothing unwinds.
    #[test]
    fn a_panicking_value_export_returns_its_failure_value() {
        let n: usize = ffi_boundary!(value, || panic!("x"));
        assert_eq!(n, 0);
        let flag: i32 = ffi_boundary!(value, || panic!("x"));
        assert_eq!(flag, 0);
        let p: *const c_char = ffi_boundary!(value, || panic!("x"));
        assert!(p.is_null());
        let (): () = ffi_boundary!(value, || panic!("x"));
        assert_eq!(ffi_boundary!(value, || 7usize), 7, "no panic: the body's value");
    }

    /// A failure's message and a panic's message go into the caller's buffer, cut to fit.
    #[test]
    fn a_status_export_reports_failures_and_panics_in_the_buffer() {
        let mut buf = [1 as c_char; 64];
        let st = ffi_boundary!(status(buf.as_mut_ptr(), buf.len()), || fail(
            SlackAuditStatus::SLACK_AUDIT_STATE,
            "state_dir is not writable"
        ));
        assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_STATE);
        assert_eq!(message(&buf), "state_dir is not writable");

        let st = ffi_boundary!(status(buf.as_mut_ptr(), buf.len()), || panic!("boom"));
        assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_PANIC);
        let m = message(&buf);
        assert!(m.starts_with("internal error in slack-audit (panic: boom)"), "{m}");
        assert_eq!(m.len(), 63, "cut to the buffer, NUL included");

        let mut small = [1 as c_char; 3];
        ffi_boundary!(status(small.as_mut_ptr(), small.len()), || fail(SlackAuditStatus::SLACK_AUDIT_CONFIG, "né?"));
        assert_eq!(message(&small), "n", "cut at a UTF-8 boundary");

        assert_eq!(ffi_boundary!(status(), || Ok(())), SlackAuditStatus::SLACK_AUDIT_OK);
        assert_eq!(ffi_boundary!(status(), || panic!("no buffer")), SlackAuditStatus::SLACK_AUDIT_PANIC);
    }

    /// The poison flag is set by a panic on its way to the boundary, and only then.
    #[test]
    fn only_a_panic_poisons() {
        let poisoned = AtomicBool::new(false);
        let st = catch_status(std::ptr::null_mut(), 0, || poison_on_panic(&poisoned, || Ok(())));
        assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_OK);
        assert!(!poisoned.load(Ordering::SeqCst));
        let st = catch_status(std::ptr::null_mut(), 0, || {
            poison_on_panic(&poisoned, || fail(SlackAuditStatus::SLACK_AUDIT_TRANSIENT, "retry"))
        });
        assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_TRANSIENT);
        assert!(!poisoned.load(Ordering::SeqCst), "a failure is not a panic");
        let st = catch_status(std::ptr::null_mut(), 0, || poison_on_panic(&poisoned, || panic!("boom")));
        assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_PANIC);
        assert!(poisoned.load(Ordering::SeqCst));
    }
}
