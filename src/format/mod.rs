//! Layer 3, how one entry is written for a host: NDJSON and Fluent Bit msgpack (`encode`), the
//! Elastic Common Schema (`ecs`). Pure: bytes in, bytes out.

pub mod ecs;
pub mod encode;
