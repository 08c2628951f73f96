//! slack-audit: collects Slack's audit trail into log pipelines.
//!
//! The product has three front ends over one core: the C ABI ([`ffi`], `include/slack_audit.h`,
//! used by the Fluent Bit plugin in `fluent-bit-plugin/`), the `slack-audit` command (`src/cli/`,
//! a separate binary crate of this package) and this Rust API.
//!
//! # The Rust API
//! What an embedder needs, and all that the command itself uses:
//! - [`config`]: [`config::Config`], built from the one option table ([`config::OPTIONS`]) by
//!   [`config::ConfigBuilder`] (`set(key, value)` then `build()`), [`config::Config::from_pairs`]
//!   or [`config::Config::from_json`]; [`config::Source`] names the sources;
//! - [`runtime`]: [`runtime::Collection::start`] (or [`runtime::Collection::start_with`] and its
//!   [`runtime::StartOptions`]), then `collect` gives [`runtime::Collected`] batches
//!   ([`runtime::Batch`]) that the host acknowledges with `ack` once it holds them durably;
//!   `shutdown` ends it;
//! - [`batch_encode`]: a batch as NDJSON lines or Fluent Bit msgpack records, as the C ABI and
//!   the command write them;
//! - [`stats`] and [`logs`]: what a collection counted and what it has to say;
//! - [`probe`]: the credential check and Slack's catalogs (`slack-audit check|actions|schemas`);
//! - [`streams`]: a configuration's streams and their checkpoints (`slack-audit state`);
//! - [`error`]: the one error type: [`error::Error`] carries a message that says what was wrong
//!   and what to do, and an [`error::ErrorKind`] that each front end maps in one place (a C
//!   status in src/ffi/error.rs, an exit code in src/cli/exit.rs);
//! - [`ffi`]: the C ABI itself, every export behind one panic boundary, one file per C type.
//!
//! # Internals
//! Everything else is crate-private, one file per concern (the README's Layout section has the
//! map): the table of sources and one module per source (`source/`), Slack's wire format by
//! endpoint (`slack/`), the pure state machines of paging and checkpoints (`sequence`,
//! `weblogs`, `dedupe`), the poll loop (`collector`), rate budget and retries over an injected
//! clock (`governor`, `budget_store`, `wallclock`), transport and bodies (`http`, `bodypool`,
//! `inflate`, and `jsonscan`: the one JSON scanner every reader of JSON bytes uses), durable state files (`state`), the encoders (`encode`, `ecs`). Pure
//! modules import nothing that does I/O. This package's tests and benches see the internals
//! through the `internals` feature (Cargo.toml); nothing else does. The only items cbindgen
//! exports are the C ABI's (src/ffi/), so the header needs no exclude list.

// The Rust API: what an embedder needs (see above).
pub mod batch_encode;
pub mod config;
pub mod error;
pub mod ffi;
pub mod logs;
pub mod probe;
pub mod runtime;
pub mod stats;
pub mod streams;

/// Declares the internal modules: crate-private, or `#[doc(hidden)] pub` under the same path
/// with the `internals` feature, which only this package's tests and benches enable (its self
/// dev-dependency in Cargo.toml). So a test reaches `slack_audit::encode::…` while the shipped
/// API stays the modules above. Items that are not C ABI are `pub(crate)` where cbindgen would
/// otherwise see them (its exclude list is gone).
macro_rules! internal_modules {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}

internal_modules!(
    bodypool,
    budget_store,
    collector,
    dedupe,
    ecs,
    encode,
    fnv,
    governor,
    http,
    inflate,
    jsonscan,
    net,
    sequence,
    signal,
    slack,
    source,
    state,
    wallclock,
    weblogs,
);
