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

    /// The message goes to the caller's buffer unchanged.
    #[test]
    fn a_failure_keeps_the_message() {
        let Failure(code, msg) = Failure::from(Error::state("state_dir /x is not writable; fix its owner"));
        assert_eq!(code, SLACK_AUDIT_STATE);
        assert_eq!(msg, "state_dir /x is not writable; fix its owner");
    }
}
