//! The one mapping from the library's errors to C status codes, in the style of rustls-ffi's
//! `map_error`: every export that calls safe code turns its [`Error`] into a [`Failure`] here
//! (with `?`), so a kind means the same status everywhere.
//!
//! The statuses the ABI itself decides (a NULL argument, a dead handle, a small buffer, an
//! interrupted `collect`, a panic, a poisoned handle) are not library errors: the export
//! returns them where they arise, with `fail`.

use super::boundary::Failure;
use super::SlackAuditStatus;
use crate::error::{Error, ErrorKind};

/// The status of each kind. Exhaustive: a new kind does not compile until it has one.
pub(crate) fn status(kind: ErrorKind) -> SlackAuditStatus {
    use SlackAuditStatus::*;
    match kind {
        ErrorKind::Config => SLACK_AUDIT_CONFIG,
        ErrorKind::State => SLACK_AUDIT_STATE,
        ErrorKind::Refused => SLACK_AUDIT_PERMANENT,
        ErrorKind::Transient => SLACK_AUDIT_TRANSIENT,
        ErrorKind::TooManyPending => SLACK_AUDIT_TOO_MANY_PENDING,
        // Acknowledging a batch that is not waiting for it is the caller's mistake.
        ErrorKind::NotPending => SLACK_AUDIT_INVALID_ARGUMENT,
        // A handle's collection stops only when the handle is shut down.
        ErrorKind::Stopped => SLACK_AUDIT_INVALID_HANDLE,
        // The one output of the C ABI is a batch's encoding: one that fails fails again, so
        // retrying cannot help.
        ErrorKind::Output => SLACK_AUDIT_PERMANENT,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure(status(e.kind()), e.into_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SlackAuditStatus::*;

    /// The table, kind by kind, with the numbers C hosts see. The match is exhaustive, so a new
    /// kind fails to compile here until its status is pinned too.
    #[test]
    fn every_kind_has_its_status() {
        for &kind in ErrorKind::ALL {
            let (want, number) = match kind {
                ErrorKind::Config => (SLACK_AUDIT_CONFIG, 20),
                ErrorKind::State => (SLACK_AUDIT_STATE, 21),
                ErrorKind::Refused => (SLACK_AUDIT_PERMANENT, 30),
                ErrorKind::Transient => (SLACK_AUDIT_TRANSIENT, 31),
                ErrorKind::TooManyPending => (SLACK_AUDIT_TOO_MANY_PENDING, 32),
                ErrorKind::NotPending => (SLACK_AUDIT_INVALID_ARGUMENT, 10),
                ErrorKind::Stopped => (SLACK_AUDIT_INVALID_HANDLE, 11),
                ErrorKind::Output => (SLACK_AUDIT_PERMANENT, 30),
            };
            assert_eq!(status(kind), want, "{kind:?}");
            assert_eq!(status(kind) as i32, number, "{kind:?}");
        }
    }

    /// The statuses that only library errors have are returned through [`status`] alone: no
    /// export picks one itself (tests aside), so a kind cannot mean two statuses.
    #[test]
    fn no_export_maps_a_library_error_itself() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ffi");
        let mut scanned = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // mod.rs declares the statuses, this file maps them.
            if !name.ends_with(".rs") || name == "mod.rs" || name == "error.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // The code before the tests, without comments (the docs name the statuses).
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            for s in [
                SLACK_AUDIT_CONFIG,
                SLACK_AUDIT_STATE,
                SLACK_AUDIT_PERMANENT,
                SLACK_AUDIT_TRANSIENT,
                SLACK_AUDIT_TOO_MANY_PENDING,
            ] {
                let s = format!("{s:?}");
                assert!(!code.contains(&s), "src/ffi/{name} returns {s} itself; return the Error and let `?` map it");
            }
            scanned += 1;
        }
        assert!(scanned >= 4, "only {scanned} files in {dir}");
    }

    /// The message goes to the caller's buffer unchanged.
    #[test]
    fn a_failure_keeps_the_message() {
        let Failure(code, msg) = Failure::from(Error::state("state_dir /x is not writable; fix its owner"));
        assert_eq!(code, SLACK_AUDIT_STATE);
        assert_eq!(msg, "state_dir /x is not writable; fix its owner");
    }
}
