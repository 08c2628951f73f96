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
//! - [`ffi`]: the C ABI itself, every export behind one panic boundary, one file per C type.
//!
//! The error types are those of each module (`ConfigError`, `StartError`, `CollectError`,
//! `AckError`, `StateError`); src/error.rs is to replace them with one type.
//!
//! # Internals
//! Everything else is crate-private, one file per concern (the README's Layout section has the
//! map): the table of sources and one module per source (`source/`), Slack's wire format by
//! endpoint (`slack/`), the pure state machines of paging and checkpoints (`sequence`,
//! `weblogs`, `dedupe`), the poll loop (`collector`), rate budget and retries over an injected
//! clock (`governor`, `budget_store`, `wallclock`), transport and bodies (`http`, `bodypool`,
//! `inflate`, `jsonscan`), durable state files (`state`), the encoders (`encode`, `ecs`). Pure
//! modules import nothing that does I/O. This package's tests and benches see the internals
//! through the `internals` feature (Cargo.toml); nothing else does. The only items cbindgen
//! exports are the C ABI's (src/ffi/), so the header needs no exclude list.

// The Rust API: what an embedder needs (see above).
pub mod batch_encode;
pub mod config;
pub mod ffi;
pub mod logs;
pub mod probe;
pub mod runtime;
pub mod stats;
pub mod streams;

// The internals: crate-private. The `internals` feature (enabled only for this package's tests
// and benches, by its self dev-dependency in Cargo.toml) makes them `#[doc(hidden)] pub` under
// the same paths, so a test reaches `slack_audit::encode::…` as before while the shipped API
// stays the modules above. Items that are not C ABI are `pub(crate)` where cbindgen would
// otherwise see them (its exclude list is gone).
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod bodypool;
#[cfg(not(feature = "internals"))]
mod bodypool;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod budget_store;
#[cfg(not(feature = "internals"))]
mod budget_store;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod collector;
#[cfg(not(feature = "internals"))]
mod collector;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod dedupe;
#[cfg(not(feature = "internals"))]
mod dedupe;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod ecs;
#[cfg(not(feature = "internals"))]
mod ecs;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod encode;
#[cfg(not(feature = "internals"))]
mod encode;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod fnv;
#[cfg(not(feature = "internals"))]
mod fnv;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod governor;
#[cfg(not(feature = "internals"))]
mod governor;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod http;
#[cfg(not(feature = "internals"))]
mod http;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod inflate;
#[cfg(not(feature = "internals"))]
mod inflate;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod jsonscan;
#[cfg(not(feature = "internals"))]
mod jsonscan;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod sequence;
#[cfg(not(feature = "internals"))]
mod sequence;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod signal;
#[cfg(not(feature = "internals"))]
mod signal;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod slack;
#[cfg(not(feature = "internals"))]
mod slack;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod source;
#[cfg(not(feature = "internals"))]
mod source;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod state;
#[cfg(not(feature = "internals"))]
mod state;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod wallclock;
#[cfg(not(feature = "internals"))]
mod wallclock;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod weblogs;
#[cfg(not(feature = "internals"))]
mod weblogs;
