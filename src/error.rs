//! The one error type of the library's surface: what went wrong (the message, which names the
//! option, file or Slack error and says what to do) and what kind of failure it is (the kind,
//! which decides what a host does about it).
//!
//! Each front end turns a kind into its own answer in exactly one place: the C ABI into a
//! `SlackAuditStatus` (`src/ffi/error.rs`), the command line into an exit code
//! (`src/cli/exit.rs`). Both are exhaustive matches, so a new kind does not compile until each
//! front end has decided what it means.
//!
//! Not errors, and so not here: what Slack's answer means to the retry loop
//! ([`crate::source::slack::ApiError`]: rate limited, expired cursor, …) and an interrupted `collect`
//! ([`crate::engine::runtime::Collected::Interrupted`]).

use std::fmt;

/// Declares [`ErrorKind`] and [`ErrorKind::ALL`] from one list, so the list that tests walk
/// cannot miss a kind.
macro_rules! error_kinds {
    ($($(#[$doc:meta])* $kind:ident,)*) => {
        /// What kind of failure an [`Error`] is: what the host should do about it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $($(#[$doc])* $kind,)*
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind,)*];
        }
    };
}

error_kinds! {
    /// An option or the configuration as a whole is invalid, or the token cannot be found:
    /// fix the configuration.
    Config,
    /// The state directory or a state file cannot be used, or progress could not be made
    /// durable (the previous checkpoint is intact).
    State,
    /// Slack refused for a reason retrying cannot fix: token, scope, plan, arguments.
    Refused,
    /// Slack or the network kept failing after `max_retries`; a later attempt may succeed.
    Transient,
    /// Collecting was stopped by shutdown or interrupt.
    Stopped,
    /// The host holds too many batches without acknowledging them.
    TooManyPending,
    /// An acknowledgement of a batch that is not waiting for one (already acknowledged, or
    /// never handed over).
    NotPending,
    /// The events could not be written or encoded for the host (the command's stdout or a
    /// file; a batch the C ABI cannot encode).
    Output,
}

/// A failure of the library (or of a front end), with its kind and a message that says what
/// was wrong and what to do. The message never holds the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    pub fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub fn state(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::State, message)
    }

    pub fn refused(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Refused, message)
    }

    pub fn transient(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Transient, message)
    }

    pub fn stopped() -> Error {
        Error::new(ErrorKind::Stopped, "stopped")
    }

    pub fn too_many_pending(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::TooManyPending, message)
    }

    /// Batch `id` was acknowledged but is not waiting for an acknowledgement.
    pub fn not_pending(id: u64) -> Error {
        Error::new(
            ErrorKind::NotPending,
            format!("batch {id} is not waiting for an acknowledgement (already acknowledged, or never handed over)"),
        )
    }

    pub fn output(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Output, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What was wrong and what to do (the same text as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn into_message(self) -> String {
        self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message is the whole text: no kind prefix, so the texts users see stay as written.
    #[test]
    fn display_is_the_message_and_the_kind_is_kept() {
        let e = Error::state("state file /x.json is corrupt; move it away");
        assert_eq!(e.to_string(), "state file /x.json is corrupt; move it away");
        assert_eq!(e.message(), e.to_string());
        assert_eq!(e.kind(), ErrorKind::State);
        assert_eq!(Error::stopped().kind(), ErrorKind::Stopped);
        let e = Error::not_pending(7);
        assert_eq!(e.kind(), ErrorKind::NotPending);
        assert!(e.message().contains("batch 7"), "{e}");
        assert_eq!(e.into_message().len(), Error::not_pending(7).to_string().len());
    }

    /// `ALL` holds each kind once, in declaration order (the macro writes both from one list).
    #[test]
    fn all_holds_every_kind_once() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
    }
}
