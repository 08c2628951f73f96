//! A configuration's streams and their checkpoints, for tools that inspect or move them while no
//! collector runs (`slack-audit state show|set|reset`): which streams a [`Config`] reads, what
//! each stream's state file holds, and its locked store to rewrite it.
//!
//! Only names from the internals (`src/source/`, `src/store/state.rs`), gathered here so the Rust
//! API names them in one place; a [`StreamState`] is described through its source's
//! [`StateView`] (`state.source.view()`), never by matching on the source.
//!
//! [`Config`]: crate::config::Config

pub use crate::format::ecs::rfc3339;
pub use crate::source::{streams_for, StateView, StreamSpec, StreamState};
pub use crate::store::state::{list_streams, open_stream, peek, StreamFile, StreamStore};
