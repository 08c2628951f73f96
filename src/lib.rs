//! slack-audit: collects Slack's audit trail into log pipelines.
//!
//! One file per concern:
//! - [`config`]: the option table shared by every front end;
//! - [`slack`]: wire types, query building, error classification;
//! - [`http`]: the transport (ureq, no hidden retries);
//! - [`inflate`]: gzip bodies inflated whole (libdeflate);
//! - [`jsonscan`]: the one-pass JSON and UTF-8 check of a page that finds its entries;
//! - [`sequence`]: the pure pagination and checkpoint state machine;
//! - [`weblogs`]: the pure paging and change detection of the access and integration logs;
//! - [`dedupe`]: ids already delivered near a boundary;
//! - [`state`]: durable, locked, atomic state files;
//! - [`governor`]: rate budget and retry policy over an injected clock;
//! - [`wallclock`]: Unix time, corrected by Slack's `Date` header;
//! - [`budget_store`]: the rate budget shared by processes through `state_dir`;
//! - [`collector`]: ties the above into pages and batches;
//! - [`runtime`]: the worker thread and the acknowledging host side;
//! - [`encode`]: NDJSON and Fluent Bit msgpack;
//! - [`ffi`]: the C ABI;
//! - [`ffi_config`]: the C ABI's key/value config builder and option list;
//! - [`sim`]: the bundled Slack simulator.

pub mod budget_store;
pub mod collector;
pub mod config;
pub mod dedupe;
pub mod ecs;
pub mod encode;
pub mod ffi;
pub mod ffi_config;
pub mod governor;
pub mod http;
pub mod inflate;
pub mod jsonscan;
pub mod logs;
pub mod probe;
pub mod runtime;
pub mod sequence;
pub mod signal;
pub mod sim;
pub mod slack;
pub mod state;
pub mod stats;
pub mod wallclock;
pub mod weblogs;
