//! slack-audit: collects Slack's audit trail into log pipelines.
//!
//! One file per concern:
//! - [`config`]: the option table shared by every front end;
//! - [`source`]: one module per source (audit, access, integration) and the table of them:
//!   the per-source plan, request, parse, classify, accept and describe of the poll loop;
//! - [`slack`]: wire types, query building, error classification, one module per endpoint;
//! - [`http`]: the transport (ureq, no hidden retries);
//! - [`bodypool`]: page bodies reused between reads;
//! - [`fnv`]: the stable hash of file names and row ids;
//! - [`inflate`]: gzip bodies inflated whole (libdeflate);
//! - [`jsonscan`]: the one JSON scanner (whitespace, strings, numbers, values) that every reader
//!   of JSON bytes uses, and the one-pass JSON and UTF-8 check of a page that finds its entries;
//! - [`sequence`]: the pure pagination and checkpoint state machine;
//! - [`weblogs`]: the pure paging and change detection of the access and integration logs;
//! - [`dedupe`]: ids already delivered near a boundary;
//! - [`state`]: durable, locked, atomic state files;
//! - [`governor`]: rate budget and retry policy over an injected clock;
//! - [`wallclock`]: Unix time, corrected by Slack's `Date` header;
//! - [`budget_store`]: the rate budget shared by processes through `state_dir`;
//! - [`collector`]: ties the above into pages and batches;
//! - [`runtime`]: the worker thread and the acknowledging host side;
//! - [`encode`]: NDJSON and Fluent Bit msgpack, byte by byte;
//! - [`batch_encode`]: how a batch becomes bytes for a host, for the C ABI and the CLI alike;
//! - [`ffi`]: the C ABI, one file per C type, every export behind one panic boundary;

pub mod batch_encode;
pub mod bodypool;
pub mod budget_store;
pub mod collector;
pub mod config;
pub mod dedupe;
pub mod ecs;
pub mod encode;
pub mod ffi;
pub mod fnv;
pub mod governor;
pub mod http;
pub mod inflate;
pub mod jsonscan;
pub mod logs;
pub mod probe;
pub mod runtime;
pub mod sequence;
pub mod signal;
pub mod slack;
pub mod source;
pub mod state;
pub mod stats;
pub mod wallclock;
pub mod weblogs;
