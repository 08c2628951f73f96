//! Layer 6, running a collection, what the front ends (cli/, ffi/) drive: the poll loop
//! (`collector`), the collection and its batches (`runtime`), their bytes for a host
//! (`batch_encode`), stop (`signal`), counters (`stats`) and log lines (`logs`), the credential
//! check and catalogs (`probe`), the streams and their checkpoints (`streams`).

pub mod batch_encode;
pub mod collector;
pub mod logs;
pub mod probe;
pub mod runtime;
pub mod signal;
pub mod stats;
pub mod streams;
